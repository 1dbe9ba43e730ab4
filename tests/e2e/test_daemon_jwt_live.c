/* test_daemon_jwt_live.c - tokens on a running pdpd whose keys, revocations and clock move.
 *
 * The same set-up as test_daemon_jwt.c (jwt_util.h: keys made at test time, tokens minted
 * here, leeway 0).  Each test changes something under a running pdpd and waits, with a
 * generous deadline and no timing assertion, until the answer flips:
 *   - key rotation: a new key (file + config) verifies new tokens while the old key's cached
 *     tokens stay valid; replacing the old key's file, then removing it, then dropping it from
 *     the config refuses them (bad signature, key unavailable, unknown kid);
 *   - revocation of a CACHED token by jti and by subject with `pdpctl revoke-token` on the
 *     served source (the watch sees revocations.json, the check publishes a snapshot with a
 *     new stamp, the cached token is asked about again);
 *   - a cached token is refused once its exp passes;
 *   - a catalogue of 54 malformed or hostile tokens, one Check each on one pipelined
 *     connection and all in one BatchCheck, is refused without a crash, and pdpd keeps
 *     answering Health.
 */
#include "jwt_util.h"

TestSuite(jwt_live, .init = jw_setup, .fini = jw_teardown, .timeout = 300);

static bool is_allowed(int got, const char *msg) {
  return got == 1;
}

/* The reason the poll waits for (a static: jw_poll takes a plain predicate). */
static const char *want_reason;

static bool is_refused_for(int got, const char *msg) {
  char want[120];
  snprintf(want, sizeof(want), "token refused: %s", want_reason);
  return got == -(int)PDP__V1__STATUS__CODE__UNAUTHENTICATED &&
         strncmp(msg, want, strlen(want)) == 0;
}

static void wait_refused(const char *token, const char *reason, const char *what) {
  want_reason = reason;
  jw_poll(token, "view", is_refused_for, what);
}

static void assert_allowed(const char *token, const char *what) {
  char msg[600];
  int got = jw_decide(token, "view", msg, sizeof(msg));
  cr_assert_eq(got, 1, "%s: answer %d (%s)", what, got, msg);
}

#define RS1 "{\"kid\": \"rs-1\", \"alg\": \"RS256\", \"file\": \"rs.pem\"}"
#define RS2 "{\"kid\": \"rs-2\", \"alg\": \"RS256\", \"file\": \"rs2.pem\"}"

Test(jwt_live, key_rotation_keeps_old_tokens_until_the_old_key_goes) {
  jw_put_config("[" RS1 "]");
  jw_start(NULL);
  char *old_tok = jw_token(&jw_rs, "rs-1", "alice", "");
  assert_allowed(old_tok, "the old key's token");
  /* Rotation: the new key's file and config entry appear; issuers switch to it. */
  tkey k2 = tu_key(PA_ALG_RS256);
  jw_put_key(&k2, "rs2.pem");
  jw_put_config("[" RS1 ", " RS2 "]");
  char *new_tok = jw_token(&k2, "rs-2", "alice", "");
  jw_poll(new_tok, "view", is_allowed, "the new key's token allowed");
  assert_allowed(old_tok, "the old key's token during the rotation");
  assert_allowed(old_tok, "the old key's token, cached");
  /* The old key's file is replaced by another key: its cached token goes at once. */
  tkey k3 = tu_key(PA_ALG_RS256);
  jw_put_key(&k3, "rs.pem");
  wait_refused(old_tok, "bad signature", "the old key's cached token refused");
  assert_allowed(new_tok, "the new key's token after the old key changed");
  /* Removed: key unavailable.  Out of the config: unknown kid. */
  cr_assert_eq(unlink(jw_path("jwt/rs.pem")), 0);
  wait_refused(old_tok, "key unavailable", "the removed key's token refused");
  jw_put_config("[" RS2 "]");
  wait_refused(old_tok, "unknown kid", "the token of a key out of the config refused");
  assert_allowed(new_tok, "the new key's token at the end");
  char *log = du_read_file(jw_d.log);
  cr_assert(strstr(log, "reloaded"), "pdpd logs its reloads: %s", log);
  free(log);
  free(old_tok), free(new_tok);
  tu_key_free(&k2), tu_key_free(&k3);
}

/* pdpctl revoke-token --source BUNDLE ARGS...; it must print "changed". */
static void revoke_token(const char *a, const char *b, const char *c, const char *d) {
  const char *argv[] = {"revoke-token", "--source", jw_d.bundle, a, b, c, d, NULL};
  jw_run r = jw_pdpctl(NULL, argv);
  cr_assert_eq(r.code, 0, "revoke-token: %s%s", r.out, r.err);
  cr_assert_str_eq(r.out, "changed\n");
  jw_run_free(&r);
}

Test(jwt_live, revoking_a_cached_token_by_jti_applies_on_the_running_pdpd) {
  jw_start(NULL);
  char *t1 = jw_token(&jw_rs, "rs-1", "alice", "\"jti\":\"tok-1\"");
  char *t2 = jw_token(&jw_es, "es-1", "alice", "\"jti\":\"tok-2\"");
  assert_allowed(t1, "tok-1");
  assert_allowed(t1, "tok-1, cached");
  assert_allowed(t2, "tok-2");
  char exp[32];
  snprintf(exp, sizeof(exp), "%lld", (long long)jw_now() + 600);
  revoke_token("--jti", "tok-1", "--exp", exp);
  wait_refused(t1, "revoked", "the cached tok-1 revoked");
  assert_allowed(t2, "tok-2, not revoked");
  /* the same jti in another token (re-verified, not cached) is revoked too */
  char *t1b = jw_token(&jw_hs, "hs-1", "alice", "\"jti\":\"tok-1\"");
  jw_assert_refused(t1b, "view", "revoked");
  free(t1), free(t2), free(t1b);
}

Test(jwt_live, revoking_a_subject_refuses_its_cached_tokens_issued_before) {
  jw_start(NULL);
  int64_t now = jw_now();
  const char *fmt =
      "{\"iss\":\"" JW_ISS "\",\"aud\":\"" JW_AUD "\",\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld}";
  char *old_rs =
      tu_token(&jw_rs, "rs-1", tu_fmt(fmt, "alice", (long long)now - 60, (long long)now + 600));
  char *old_hs =
      tu_token(&jw_hs, "hs-1", tu_fmt(fmt, "alice", (long long)now - 30, (long long)now + 600));
  char *later =
      tu_token(&jw_es, "es-1", tu_fmt(fmt, "alice", (long long)now + 100, (long long)now + 600));
  char *other =
      tu_token(&jw_rs, "rs-1", tu_fmt(fmt, "alice2", (long long)now - 60, (long long)now + 600));
  for (int pass = 0; pass < 2; pass++) { /* the second pass from the cache */
    assert_allowed(old_rs, "alice's RS256 token");
    assert_allowed(old_hs, "alice's HS256 token");
  }
  char before[32];
  snprintf(before, sizeof(before), "%lld", (long long)now);
  revoke_token("--sub", "alice", "--before", before);
  wait_refused(old_rs, "revoked", "alice's cached RS256 token revoked");
  jw_assert_refused(old_hs, "view", "revoked");
  /* issued after the time: not revoked.  Another subject: not revoked. */
  char msg[600];
  cr_assert_eq(jw_decide(later, "view", msg, sizeof(msg)), 1, "%s", msg);
  cr_assert_eq(jw_decide(other, "view", msg, sizeof(msg)), 0, "alice2 is only denied: %s", msg);
  free(old_rs), free(old_hs), free(later), free(other);
}

Test(jwt_live, a_cached_token_is_refused_once_its_exp_passes) {
  jw_start(NULL);
  int64_t now = jw_now();
  char *t = tu_token(&jw_hs, "hs-1",
                     tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":\"" JW_AUD
                            "\",\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld}",
                            (long long)now, (long long)now + 4));
  assert_allowed(t, "a token valid for four seconds");
  wait_refused(t, "expired", "the cached token expired");
  free(t);
}

/* ---- the hostile catalogue -------------------------------------------------------------- */

typedef struct hostile {
  const char *name;
  char *token;
  Pdp__V1__Status__Code code; /* UNAUTHENTICATED, or BAD_REQUEST for what the wire refuses */
} hostile;

static char *b64s(const char *s) {
  return b64url((const uint8_t *)s, strlen(s));
}

/* "a.b.c" from three texts taken as they are. */
static char *join3(const char *a, const char *b, const char *c) {
  char *t = xmalloc(strlen(a) + strlen(b) + strlen(c) + 3);
  sprintf(t, "%s.%s.%s", a, b, c);
  return t;
}

/* base64url(header).base64url(payload).sig */
static char *parts(const char *header, const char *payload, const char *sig) {
  char *h = b64s(header), *p = b64s(payload);
  char *t = join3(h, p, sig);
  free(h), free(p);
  return t;
}

static char *nested(const char *open, const char *leaf, const char *close, int depth) {
  size_t lo = strlen(open), ll = strlen(leaf), lc = strlen(close);
  char *s = xmalloc(depth * (lo + lc) + ll + 1), *o = s;
  for (int i = 0; i < depth; i++) memcpy(o, open, lo), o += lo;
  memcpy(o, leaf, ll), o += ll;
  for (int i = 0; i < depth; i++) memcpy(o, close, lc), o += lc;
  *o = '\0';
  return s;
}

static char *repeat(char c, size_t n) {
  char *s = xmalloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* Valid claims for alice with `more` appended (each case adds its hostile part). */
static const char *with(const char *more) {
  int64_t now = jw_now();
  return tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":\"" JW_AUD
                "\",\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld%s}",
                (long long)now, (long long)now + 600, more);
}

/* A payload text signed with the HS256 key (its header names hs-1). */
static char *hs(const char *payload) {
  return tu_token(&jw_hs, "hs-1", payload);
}

static size_t build_catalogue(hostile *c) {
  size_t n = 0;
  char *good = hs(with(""));
  char *dot = strrchr(good, '.');
  const char *sig = dot + 1;
#define ADD(nm, tok) (c[n++] = (hostile){nm, tok, PDP__V1__STATUS__CODE__UNAUTHENTICATED})
  ADD("one dot", strdup("."));
  ADD("two dots", strdup(".."));
  ADD("three dots", strdup("..."));
  ADD("two parts", strdup("a.b"));
  ADD("four parts", strdup("a.b.c.d"));
  ADD("extra dot at the end", strdup(tu_fmt("%s.", good)));
  ADD("extra dot in front", strdup(tu_fmt(".%s", good)));
  char *t = strdup(good);
  t[strlen(t) - 10] = '\0';
  ADD("signature truncated", t);
  t = strdup(good);
  t[40] = '\0';
  ADD("truncated in the payload", t);
  ADD("no signature part", strndup(good, (size_t)(dot - good)));
  char *big = repeat('x', 7000);
  ADD("huge header", parts(tu_fmt("{\"alg\":\"HS256\",\"x\":\"%s\"}", big), with(""), sig));
  free(big);
  ADD("half a megabyte", repeat('x', 500000));
  char *bomb = nested("[", "1", "]", 2000);
  ADD("array bomb in the payload", hs(bomb));
  free(bomb);
  bomb = nested("{\"a\":", "1", "}", 300);
  ADD("object bomb in the payload", hs(bomb));
  free(bomb);
  bomb = nested("[", "0", "]", 500);
  ADD("bomb in the header",
      tu_token_raw(&jw_hs, PA_ALG_HS256,
                   tu_fmt("{\"alg\":\"HS256\",\"kid\":\"hs-1\",\"x\":%s}", bomb), with("")));
  free(bomb);
  ADD("exp a string", hs("{\"sub\":\"alice\",\"exp\":\"99999999999\"}"));
  ADD("exp an object", hs("{\"sub\":\"alice\",\"exp\":{\"t\":1}}"));
  ADD("exp a boolean", hs("{\"sub\":\"alice\",\"exp\":true}"));
  ADD("exp far past", hs("{\"sub\":\"alice\",\"exp\":-1e300}"));
  ADD("exp overflowing", hs("{\"sub\":\"alice\",\"exp\":1e400}"));
  ADD("nbf a string", hs(with(",\"nbf\":\"0\"")));
  ADD("iat an array",
      hs(tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":\"pdpd\",\"sub\":\"a\",\"iat\":[1],"
                "\"exp\":%lld}",
                (long long)jw_now() + 600)));
  ADD("aud a number", hs(tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":7,\"sub\":\"alice\",\"exp\":%lld}",
                                (long long)jw_now() + 600)));
  ADD("aud with a number",
      hs(tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":[\"pdpd\",7],\"sub\":\"alice\",\"exp\":%lld}",
                (long long)jw_now() + 600)));
  ADD("iss a number", hs(tu_fmt("{\"iss\":1,\"aud\":\"pdpd\",\"sub\":\"alice\",\"exp\":%lld}",
                                (long long)jw_now() + 600)));
  ADD("sub a number", hs(tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":\"pdpd\",\"sub\":7,\"exp\":%lld}",
                                (long long)jw_now() + 600)));
  ADD("sub empty", hs(tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":\"pdpd\",\"sub\":\"\",\"exp\":%lld}",
                             (long long)jw_now() + 600)));
  ADD("jti an object", hs(with(",\"jti\":{}")));
  ADD("non-UTF-8 in the payload", hs(with(",\"name\":\"\xff\xfe\"")));
  ADD("overlong UTF-8", hs(with(",\"name\":\"\xc0\xaf\"")));
  ADD("NUL escape in sub", hs(with(",\"x\":\"a\\u0000b\"")));
  ADD("lone surrogate", hs(with(",\"x\":\"\\ud800\"")));
  ADD("standard base64 alphabet", join3("eyJ+/w", "e30", sig));
  ADD("base64 padding", strdup(tu_fmt("%s=", good)));
  t = strdup(good);
  t[20] = ' ';
  ADD("a space inside", t);
  ADD("header an array", tu_token_raw(&jw_hs, PA_ALG_HS256, "[\"HS256\"]", with("")));
  ADD("payload null", hs("null"));
  ADD("payload true", hs("true"));
  ADD("payload a huge number", hs("1e999"));
  ADD("alg NONE", parts("{\"alg\":\"NONE\"}", with(""), ""));
  ADD("alg nOnE with a signature", parts("{\"alg\":\"nOnE\"}", with(""), sig));
  ADD("alg missing", tu_token_raw(&jw_hs, PA_ALG_HS256, "{\"kid\":\"hs-1\"}", with("")));
  ADD("alg a number",
      tu_token_raw(&jw_hs, PA_ALG_HS256, "{\"alg\":256,\"kid\":\"hs-1\"}", with("")));
  ADD("kid a number",
      tu_token_raw(&jw_hs, PA_ALG_HS256, "{\"alg\":\"HS256\",\"kid\":1}", with("")));
  ADD("crit header",
      tu_token_raw(&jw_hs, PA_ALG_HS256, "{\"alg\":\"HS256\",\"kid\":\"hs-1\",\"crit\":[\"exp\"]}",
                   with("")));
  ADD("duplicate alg",
      tu_token_raw(&jw_hs, PA_ALG_HS256, "{\"alg\":\"HS256\",\"alg\":\"HS256\",\"kid\":\"hs-1\"}",
                   with("")));
  ADD("duplicate nested claim", hs(with(",\"o\":{\"b\":1,\"b\":2}")));
  char *es_good = tu_token(&jw_es, "es-1", with(""));
  char *es_dot = strrchr(es_good, '.');
  es_dot[1 + 40] = '\0';
  ADD("ES256 signature too short", es_good);
  uint8_t zeros[64] = {0};
  char *z = b64url(zeros, sizeof(zeros));
  ADD("ES256 signature of zeros", parts("{\"alg\":\"ES256\",\"kid\":\"es-1\"}", with(""), z));
  free(z);
  ADD("RS256 empty signature", parts("{\"alg\":\"RS256\",\"kid\":\"rs-1\"}", with(""), ""));
  ADD("RS256 signature of one byte", parts("{\"alg\":\"RS256\",\"kid\":\"rs-1\"}", with(""), "AA"));
  ADD("roles nested arrays", hs(with(",\"roles\":[[[\"admin\"]]]")));
  ADD("a control character", strdup(tu_fmt("%.20s\x01%s", good, good + 20)));
  /* What the wire itself refuses: a string that is not UTF-8, and no token at all. */
  c[n++] = (hostile){"raw bytes that are not UTF-8", strdup("\xff\xfe.\xff.\xff"),
                     PDP__V1__STATUS__CODE__BAD_REQUEST};
  free(good);
#undef ADD
  return n;
}

/* One Check per token, all written at once on one connection, answered in order. */
static void send_pipelined(hostile *c, size_t n) {
  int fd = du_connect(jw_d.sock);
  cr_assert_geq(fd, 0);
  uint8_t *buf = NULL;
  size_t len = 0;
  du_check *checks = calloc(n, sizeof(*checks));
  for (size_t i = 0; i < n; i++) {
    du_check_init(&checks[i], 100 + i, "unused", "view", "d1");
    checks[i].check.principal = NULL;
    checks[i].check.token = c[i].token;
    len = du_frame(&buf, len, &checks[i].rq);
  }
  cr_assert(du_write_all(fd, buf, len));
  for (size_t i = 0; i < n; i++) {
    Pdp__V1__Response *r = du_recv(fd);
    cr_assert_not_null(r, "%s: no answer (pdpd log: %s)", c[i].name, du_read_file(jw_d.log));
    cr_assert_eq(r->id, 100 + i);
    cr_assert_eq(r->status->code, c[i].code, "%s: status %d (%s)", c[i].name, r->status->code,
                 r->status->message);
    cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET, "%s: no decision", c[i].name);
    pdp__v1__response__free_unpacked(r, NULL);
  }
  free(buf);
  free(checks);
  close(fd);
}

/* Every token that is valid UTF-8 in one BatchCheck: every item refused, none decided. */
static void send_batch(hostile *c, size_t n) {
  du_check *checks = calloc(n, sizeof(*checks));
  Pdp__V1__CheckRequest **items = calloc(n, sizeof(*items));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (c[i].code != PDP__V1__STATUS__CODE__UNAUTHENTICATED) continue;
    du_check_init(&checks[k], 0, "unused", "view", "d1");
    checks[k].check.principal = NULL;
    checks[k].check.token = c[i].token;
    items[k] = &checks[k].check;
    k++;
  }
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = items, b.n_checks = k;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 5, rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  Pdp__V1__Response *r = jw_ask(&rq);
  cr_assert_not_null(r, "no answer to the batch");
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->batch_check->n_results, k);
  for (size_t i = 0; i < k; i++) {
    cr_assert_eq(r->batch_check->results[i]->status->code, PDP__V1__STATUS__CODE__UNAUTHENTICATED,
                 "item %zu: %s", i, r->batch_check->results[i]->status->message);
    cr_assert_null(r->batch_check->results[i]->check);
  }
  pdp__v1__response__free_unpacked(r, NULL);
  free(checks);
  free(items);
}

Test(jwt_live, a_catalogue_of_hostile_tokens_is_refused_without_a_crash) {
  jw_start(NULL);
  hostile c[80];
  size_t n = build_catalogue(c);
  cr_assert_geq(n, 30);
  send_pipelined(c, n);
  send_batch(c, n);
  send_pipelined(c, n); /* again: nothing was cached */
  cr_assert(du_healthy(jw_d.sock), "pdpd answers Health after the catalogue");
  cr_assert_eq(kill(jw_d.pid, 0), 0, "pdpd still runs");
  char *good = jw_token(&jw_rs, "rs-1", "alice", "");
  assert_allowed(good, "a good token after the catalogue");
  free(good);
  for (size_t i = 0; i < n; i++) free(c[i].token);
}

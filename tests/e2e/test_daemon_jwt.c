/* test_daemon_jwt.c - a real pdpd with --jwt-config answering checks that carry a JWT.
 *
 * Keys are made at test time (RS256, ES256, HS256) and tokens minted in the test
 * (jwt_util.h).  What is checked end to end, over the socket:
 *   - a token decides like the principal it maps to, for each algorithm, and again from the
 *     verified-token cache;
 *   - every refusal reason reaches the client as UNAUTHENTICATED with the reason in the
 *     message and no decision; a BatchCheck item carries its own token's status;
 *   - principal and token together, or an own entity with the token principal's uid, are
 *     BAD_REQUEST;
 *   - the claim mapping feeds policies and grants: roles -> Role grants and role policies,
 *     scopes -> principal.scopes in a policy, tenant -> tenant grants, client_id -> C grants;
 *   - pdpctl check --token / --token-file exits 0 allow, 1 deny, 2 refused;
 *   - a bad --jwt-config makes pdpd exit 2 naming the file and the field.
 * The live behaviour (rotation, revocation, expiry, hostile tokens) is test_daemon_jwt_live.c.
 */
#include "jwt_util.h"

TestSuite(jwt, .init = jw_setup, .fini = jw_teardown, .timeout = 240);

static const tkey *key_of(int i, const char **kid) {
  static const char *kids[] = {"rs-1", "es-1", "hs-1"};
  *kid = kids[i];
  return i == 0 ? &jw_rs : i == 1 ? &jw_es : &jw_hs;
}

Test(jwt, a_token_decides_like_its_principal_for_rs256_es256_and_hs256_cached_or_not) {
  jw_start(NULL);
  for (int i = 0; i < 3; i++) {
    const char *kid;
    const tkey *k = key_of(i, &kid);
    char *alice = jw_token(k, kid, "alice", ""), *bob = jw_token(k, kid, "bob", "");
    for (int pass = 0; pass < 2; pass++) { /* the second pass is answered from the cache */
      char msg[600];
      cr_assert_eq(jw_decide(alice, "view", msg, sizeof(msg)), 1, "%s pass %d: %s",
                   pa_alg_name(k->alg), pass, msg);
      cr_assert_eq(jw_decide(bob, "view", msg, sizeof(msg)), 0, "%s pass %d: %s",
                   pa_alg_name(k->alg), pass, msg);
    }
    Pdp__V1__Response *r = jw_check(alice, "view");
    cr_assert_eq(r->check->n_reason, 1);
    cr_assert_str_eq(r->check->reason[0], "alice-views");
    pdp__v1__response__free_unpacked(r, NULL);
    free(alice), free(bob);
  }
}

/* header.payload. with no signature. */
static char *unsigned_token(const char *header, const char *payload) {
  char *h = b64url((const uint8_t *)header, strlen(header));
  char *p = b64url((const uint8_t *)payload, strlen(payload));
  char *t = xmalloc(strlen(h) + strlen(p) + 3);
  sprintf(t, "%s.%s.", h, p);
  free(h), free(p);
  return t;
}

/* A token signed with HMAC-SHA256 keyed by `secret` (the RSA public key's PEM: the
 * algorithm-confusion attack libjwt 1.10 falls for). */
static char *hmac_token(const char *header, const char *payload, const char *secret) {
  char *u = unsigned_token(header, payload);
  u[strlen(u) - 1] = '\0'; /* "h.p" */
  uint8_t sig[64];
  unsigned int n = 0;
  cr_assert_not_null(
      HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)u, strlen(u), sig, &n));
  char *s = b64url(sig, n);
  char *t = xmalloc(strlen(u) + strlen(s) + 2);
  sprintf(t, "%s.%s", u, s);
  free(u), free(s);
  return t;
}

/* Claims for sub alice with this iss, aud and exp (now + exp_delta), then `more`. */
static const char *claims(const char *iss, const char *aud, int64_t exp_delta, const char *more) {
  int64_t now = jw_now();
  return tu_fmt("{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld%s}",
                iss, aud, (long long)now, (long long)(now + exp_delta), more);
}

Test(jwt, every_refusal_reason_reaches_the_client_as_unauthenticated) {
  jw_start(NULL);
  const char *good = claims(JW_ISS, JW_AUD, 600, "");
  typedef struct {
    char *token;
    const char *reason;
  } refusal;
  refusal cases[16];
  int n = 0;
  cases[n++] = (refusal){unsigned_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", good), "alg none"};
  cases[n++] = (refusal){
      hmac_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rs-1\"}", good, jw_rs.pub_pem),
      "algorithm mismatch"};
  cases[n++] = (refusal){tu_token(&jw_rs, "rs-9", good), "unknown kid"};
  char *bad_sig = tu_token(&jw_es, "es-1", good);
  char *last = strrchr(bad_sig, '.') + 5;
  *last = *last == 'A' ? 'B' : 'A';
  cases[n++] = (refusal){bad_sig, "bad signature"};
  cases[n++] = (refusal){tu_token(&jw_rs, "rs-1", claims(JW_ISS, JW_AUD, -60, "")), "expired"};
  cases[n++] = (refusal){
      tu_token(&jw_hs, "hs-1",
               claims(JW_ISS, JW_AUD, 600, tu_fmt(",\"nbf\":%lld", (long long)jw_now() + 600))),
      "not yet valid"};
  cases[n++] =
      (refusal){tu_token(&jw_rs, "rs-1", claims("https://evil", JW_AUD, 600, "")), "wrong issuer"};
  cases[n++] =
      (refusal){tu_token(&jw_es, "es-1", claims(JW_ISS, "other", 600, "")), "wrong audience"};
  cases[n++] = (refusal){strdup("not*base64.e30.c2ln"), "malformed"};
  cases[n++] = (refusal){tu_token(&jw_hs, "hs-1", "[\"not an object\"]"), "malformed"};
  cases[n++] = (refusal){
      tu_token(&jw_rs, "rs-1", claims(JW_ISS, JW_AUD, 600, ",\"sub\":\"mallory\"")), "duplicate"};
  cases[n++] =
      (refusal){tu_token_raw(&jw_rs, PA_ALG_RS256,
                             "{\"alg\":\"RS256\",\"kid\":\"rs-1\",\"kid\":\"rs-1\"}", good),
                "duplicate"};
  char *huge = xmalloc(9001);
  memset(huge, 'a', 9000);
  huge[9000] = '\0';
  huge[100] = huge[200] = '.';
  cases[n++] = (refusal){huge, "too large"};
  cases[n++] = (refusal){tu_token(&jw_hs, "hs-1", claims(JW_ISS, JW_AUD, 600, ",\"roles\":[7]")),
                         "bad claim"};
  for (int i = 0; i < n; i++) {
    jw_assert_refused(cases[i].token, "view", cases[i].reason);
    jw_assert_refused(cases[i].token, "view", cases[i].reason); /* never cached */
    free(cases[i].token);
  }
}

Test(jwt, a_batch_item_carries_its_own_token_status) {
  jw_start(NULL);
  char *good = jw_token(&jw_rs, "rs-1", "alice", "");
  char *expired = tu_token(&jw_rs, "rs-1", claims(JW_ISS, JW_AUD, -5, ""));
  du_check c[4];
  du_check_init(&c[0], 0, "unused", "view", "d1");
  c[0].check.principal = NULL, c[0].check.token = good;
  du_check_init(&c[1], 0, "unused", "view", "d1");
  c[1].check.principal = NULL, c[1].check.token = expired;
  du_check_init(&c[2], 0, "alice", "view", "d1"); /* a principal, as before */
  du_check_init(&c[3], 0, "alice", "view", "d1");
  c[3].check.token = good; /* both: a bad request */
  Pdp__V1__CheckRequest *checks[] = {&c[0].check, &c[1].check, &c[2].check, &c[3].check};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = checks, b.n_checks = 4;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 9, rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  Pdp__V1__Response *r = jw_ask(&rq);
  cr_assert_not_null(r);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->batch_check->n_results, 4);
  Pdp__V1__BatchCheckItem **it = r->batch_check->results;
  cr_assert_eq(it[0]->status->code, PDP__V1__STATUS__CODE__OK, "%s", it[0]->status->message);
  cr_assert_eq(it[0]->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_eq(it[1]->status->code, PDP__V1__STATUS__CODE__UNAUTHENTICATED);
  cr_assert(strstr(it[1]->status->message, "token refused: expired"), "%s", it[1]->status->message);
  cr_assert_null(it[1]->check);
  cr_assert_eq(it[2]->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_eq(it[2]->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_eq(it[3]->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(it[3]->status->message, "batch_check.checks[3]: give principal or token"), "%s",
            it[3]->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  free(good), free(expired);
}

Test(jwt, an_own_entity_with_the_token_principals_uid_is_a_bad_request) {
  jw_start(NULL);
  char *t = jw_token(&jw_hs, "hs-1", "alice", "");
  du_check c;
  du_check_init(&c, 3, "unused", "edit", "d1");
  c.check.principal = NULL, c.check.token = t;
  Pdp__V1__Entity e = PDP__V1__ENTITY__INIT;
  Pdp__V1__EntityUid uid = PDP__V1__ENTITY_UID__INIT, admin = PDP__V1__ENTITY_UID__INIT;
  uid.type = "User", uid.id = "alice", admin.type = "Role", admin.id = "admin";
  Pdp__V1__EntityUid *parents[] = {&admin};
  e.uid = &uid, e.parents = parents, e.n_parents = 1; /* "I am an admin", says the client */
  Pdp__V1__Entity *es[] = {&e};
  c.check.entities = es, c.check.n_entities = 1;
  Pdp__V1__Response *r = jw_ask(&c.rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST, "%s", r->status->message);
  cr_assert(strstr(r->status->message, "check.entities[0]"), "%s", r->status->message);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET);
  pdp__v1__response__free_unpacked(r, NULL);
  free(t);
}

/* The first reason of an allowed check. */
static char *allowed_by(const char *token, const char *action) {
  Pdp__V1__Response *r = jw_check(token, action);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW, "%s is not allowed", action);
  cr_assert_geq(r->check->n_reason, 1);
  char *reason = strdup(r->check->reason[0]);
  pdp__v1__response__free_unpacked(r, NULL);
  return reason;
}

static void assert_allowed_by(const char *token, const char *action, const char *reason) {
  char *got = allowed_by(token, action);
  cr_assert_str_eq(got, reason, "%s: reason %s, want %s", action, got, reason);
  free(got);
}

static void assert_denied(const char *token, const char *action) {
  char msg[600];
  cr_assert_eq(jw_decide(token, action, msg, sizeof(msg)), 0, "%s: %s", action, msg);
}

Test(jwt, the_roles_claim_applies_role_grants_and_role_policies) {
  jw_start(NULL);
  char *roles = jw_token(&jw_rs, "rs-1", "carol", "\"roles\":[\"admin\",\"auditor\"]");
  char *groups = jw_token(&jw_es, "es-1", "carol", "\"groups\":\"auditor\"");
  char *none = jw_token(&jw_rs, "rs-1", "carol", "");
  assert_allowed_by(roles, "edit", "admins-edit");
  assert_allowed_by(roles, "audit", "grant:R/auditor/audit");
  assert_allowed_by(groups, "audit", "grant:R/auditor/audit");
  assert_denied(groups, "edit");
  assert_denied(none, "edit");
  assert_denied(none, "audit");
  free(roles), free(groups), free(none);
}

Test(jwt, the_scopes_attribute_is_usable_in_a_policy) {
  jw_start(NULL);
  char *str = jw_token(&jw_hs, "hs-1", "dave", "\"scope\":\"orders:write orders:read\"");
  char *arr = jw_token(&jw_rs, "rs-1", "dave", "\"scp\":[\"orders:read\"]");
  char *other = jw_token(&jw_es, "es-1", "dave", "\"scope\":\"orders:write\"");
  char *none = jw_token(&jw_hs, "hs-1", "dave", "");
  assert_allowed_by(str, "orders.read", "scoped-orders-read");
  assert_allowed_by(arr, "orders.read", "scoped-orders-read");
  assert_denied(other, "orders.read");
  assert_denied(none, "orders.read"); /* scopes is always there: an empty set */
  free(str), free(arr), free(other), free(none);
}

Test(jwt, the_tenant_claim_selects_tenant_grants) {
  jw_start(NULL);
  char *acme = jw_token(&jw_rs, "rs-1", "erin", "\"roles\":[\"auditor\"],\"tenant\":\"acme\"");
  char *globex = jw_token(&jw_rs, "rs-1", "erin", "\"roles\":[\"auditor\"],\"tenant\":\"globex\"");
  char *host = jw_token(&jw_rs, "rs-1", "erin", "\"roles\":[\"auditor\"]");
  assert_allowed_by(acme, "tenant-report", "grant:R/auditor/tenant-report@acme");
  assert_denied(globex, "tenant-report");
  assert_denied(host, "tenant-report");
  assert_allowed_by(host, "audit", "grant:R/auditor/audit"); /* a host grant */
  assert_denied(acme, "audit"); /* ... does not apply inside a tenant */
  free(acme), free(globex), free(host);
}

Test(jwt, the_client_id_claim_applies_client_grants) {
  jw_start(NULL);
  char *console = jw_token(&jw_es, "es-1", "frank", "\"client_id\":\"ops-console\"");
  char *azp = jw_token(&jw_hs, "hs-1", "frank", "\"azp\":\"ops-console\"");
  char *other = jw_token(&jw_es, "es-1", "frank", "\"client_id\":\"cli\"");
  assert_allowed_by(console, "console.open", "grant:C/ops-console/console.open");
  assert_allowed_by(azp, "console.open", "grant:C/ops-console/console.open");
  assert_denied(other, "console.open");
  free(console), free(azp), free(other);
}

Test(jwt, list_allowed_with_a_token_lists_what_its_checks_allow_and_refuses_a_bad_token) {
  cr_assert(du_write(&jw_d, "bundle/permissions/app.json",
                     "{\"definitions\": [{\"name\": \"audit\"}, {\"name\": \"edit\"},"
                     " {\"name\": \"view\"}, {\"name\": \"console.open\"}]}\n"));
  jw_start(NULL);
  char *carol = jw_token(&jw_rs, "rs-1", "carol", "\"roles\":[\"auditor\"]");
  char *alice = jw_token(&jw_es, "es-1", "alice", "\"client_id\":\"ops-console\"");
  char *bad = tu_token(&jw_hs, "hs-1", claims(JW_ISS, JW_AUD, -30, ""));
  const char *a1[] = {"list-allowed", "--socket", jw_d.sock,     "--token",
                      carol,          "-r",       "Doc::\"d1\"", NULL};
  jw_run r = jw_pdpctl(NULL, a1);
  cr_assert_eq(r.code, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "Action::\"audit\"\n");
  /* each listed action is one a single check with the same token allows */
  assert_allowed_by(carol, "audit", "grant:R/auditor/audit");
  assert_denied(carol, "edit");
  jw_run_free(&r);
  const char *a2[] = {"list-allowed", "--socket", jw_d.sock,     "--token",
                      alice,          "-r",       "Doc::\"d1\"", NULL};
  r = jw_pdpctl(NULL, a2);
  cr_assert_eq(r.code, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "Action::\"console.open\"\nAction::\"view\"\n");
  jw_run_free(&r);
  const char *a3[] = {"list-allowed", "--socket",    jw_d.sock, "--token", bad,
                      "-r",           "Doc::\"d1\"", NULL};
  r = jw_pdpctl(NULL, a3);
  cr_assert_eq(r.code, 2);
  cr_assert(strstr(r.err, "token refused: expired"), "%s", r.err);
  jw_run_free(&r);
  free(carol), free(alice), free(bad);
}

/* ---- pdpctl ---------------------------------------------------------------------------- */

/* $PDPCTL_BIN check --socket S ARGS... with stdin from `in` (NULL: /dev/null). */
static jw_run pdpctl_check(const char *in, const char *const *args) {
  const char *argv[32] = {"check", "--socket", jw_d.sock};
  int n = 3;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return jw_pdpctl(in, argv);
}

Test(jwt, pdpctl_check_with_a_token_exits_0_on_allow_1_on_deny_2_when_refused) {
  jw_start(NULL);
  char *alice = jw_token(&jw_rs, "rs-1", "alice", ""), *bob = jw_token(&jw_es, "es-1", "bob", "");
  char *expired = tu_token(&jw_hs, "hs-1", claims(JW_ISS, JW_AUD, -30, ""));
  const char *a1[] = {"--token", alice, "-a", "Action::\"view\"", "-r", "Doc::\"d1\"", NULL};
  jw_run r = pdpctl_check(NULL, a1);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "ALLOW") && strstr(r.out, "alice-views"), "%s", r.out);
  jw_run_free(&r);
  const char *a2[] = {"--token", bob, "-a", "Action::\"view\"", "-r", "Doc::\"d1\"", NULL};
  r = pdpctl_check(NULL, a2);
  cr_assert_eq(r.code, 1, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "DENY"), "%s", r.out);
  jw_run_free(&r);
  const char *a3[] = {"--token", expired, "-a", "Action::\"view\"", "-r", "Doc::\"d1\"", NULL};
  r = pdpctl_check(NULL, a3);
  cr_assert_eq(r.code, 2, "%s%s", r.out, r.err);
  cr_assert(strstr(r.err, "pdpd answered UNAUTHENTICATED: token refused: expired"), "%s", r.err);
  cr_assert_str_eq(r.out, "");
  jw_run_free(&r);
  /* --token-file: a file with a trailing newline, and stdin. */
  const char *text = tu_fmt("%s\n", alice);
  cr_assert(du_write(&jw_d, "alice.jwt", text));
  const char *a4[] = {"--token-file", jw_path("alice.jwt"), "-a", "Action::\"view\"",
                      "-r",           "Doc::\"d1\"",        NULL};
  r = pdpctl_check(NULL, a4);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  jw_run_free(&r);
  cr_assert(du_write(&jw_d, "bob.jwt", bob));
  const char *a5[] = {"--token-file", "-", "-a", "Action::\"view\"", "-r", "Doc::\"d1\"", NULL};
  r = pdpctl_check(jw_path("bob.jwt"), a5);
  cr_assert_eq(r.code, 1, "%s%s", r.out, r.err);
  jw_run_free(&r);
  /* usage errors: both ways of giving a token, a principal with a token, a missing file */
  const char *a6[] = {"--token",          alice, "--token-file", "-", "-a",
                      "Action::\"view\"", "-r",  "Doc::\"d1\"",  NULL};
  r = pdpctl_check(NULL, a6);
  cr_assert_eq(r.code, 2);
  cr_assert(strstr(r.err, "not both"), "%s", r.err);
  jw_run_free(&r);
  const char *a7[] = {"--token", alice,         "-p", "User::\"alice\"", "-a", "Action::\"view\"",
                      "-r",      "Doc::\"d1\"", NULL};
  r = pdpctl_check(NULL, a7);
  cr_assert_eq(r.code, 2);
  cr_assert(strstr(r.err, "give --principal or --token, not both"), "%s", r.err);
  jw_run_free(&r);
  const char *a8[] = {"--token-file", jw_path("nope.jwt"), "-a", "Action::\"view\"",
                      "-r",           "Doc::\"d1\"",       NULL};
  r = pdpctl_check(NULL, a8);
  cr_assert_eq(r.code, 2);
  cr_assert(strstr(r.err, "--token-file") && strstr(r.err, "nope.jwt"), "%s", r.err);
  jw_run_free(&r);
  free(alice), free(bob), free(expired);
}

Test(jwt, a_bad_jwt_config_makes_pdpd_exit_2_naming_the_file_and_field) {
  jw_put_config("[{\"kid\": \"rs-1\", \"alg\": \"PS256\", \"file\": \"rs.pem\"}]");
  const char *extra[] = {"--jwt-config", jw_path("jwt/jwt.json"), NULL};
  pid_t pid = du_spawn(&jw_d, extra);
  int st = du_wait_exit(pid, DU_DEADLINE_MS);
  cr_assert(st != -1 && WIFEXITED(st), "pdpd did not exit");
  char *log = du_read_file(jw_d.log);
  /* under valgrind the wrapper exits with pdpd's code too */
  cr_assert_eq(WEXITSTATUS(st), 2, "exit %d: %s", WEXITSTATUS(st), log);
  cr_assert(strstr(log, "jwt.json") && strstr(log, "keys[0].alg"), "%s", log);
  free(log);
  /* a key file that is missing names the key */
  jw_put_config("[{\"kid\": \"rs-1\", \"alg\": \"RS256\", \"file\": \"gone.pem\"}]");
  pid = du_spawn(&jw_d, extra);
  st = du_wait_exit(pid, DU_DEADLINE_MS);
  cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2);
  log = du_read_file(jw_d.log);
  cr_assert(strstr(log, "gone.pem"), "%s", log);
  free(log);
}

/* ---- pdp-bench --token-file ------------------------------------------------------------------ */

/* $PDP_BENCH_BIN --socket S ARGS (a shell word list); its exit code, output in out. */
static int bench(char *out, size_t cap, const char *args) {
  const char *bin = getenv("PDP_BENCH_BIN");
  cr_assert(bin && *bin, "PDP_BENCH_BIN is not set (run through tests/run_suite.sh)");
  char cmd[2048];
  snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s 2>&1", bin, jw_d.sock, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(jwt, pdp_bench_sends_tokens_in_place_of_principals_and_fails_on_refused_ones) {
  jw_start(NULL);
  /* The scenario's principal is bob (denied); the tokens are alice's (allowed). */
  cr_assert(du_write(&jw_d, "scen/checks.json",
                     "{\"checks\": [{\"principal\": {\"type\": \"User\", \"id\": \"bob\"},\n"
                     " \"action\": {\"type\": \"Action\", \"id\": \"view\"},\n"
                     " \"resource\": {\"type\": \"Doc\", \"id\": \"d1\"}, \"decision\": "
                     "\"deny\"}]}\n"));
  char *rs = jw_token(&jw_rs, "rs-1", "alice", ""), *hs = jw_token(&jw_hs, "hs-1", "alice", "");
  cr_assert(du_write(&jw_d, "tokens.txt", tu_fmt("%s\n\n%s\n", rs, hs)));
  static char out[1 << 16];
  char args[1024];
  snprintf(args, sizeof(args), "--scenario '%s' --token-file '%s' --requests 500 --depth 4",
           jw_path("scen"), jw_path("tokens.txt"));
  int rc = bench(out, sizeof(out), args);
  cr_assert_eq(rc, 0, "pdp-bench exited %d:\n%s", rc, out);
  cr_assert(strstr(out, "tokens of") && strstr(out, "wrong: 0"), "%s", out);
  snprintf(args, sizeof(args), "--scenario '%s' --batch 8 --token-file '%s' --requests 50",
           jw_path("scen"), jw_path("tokens.txt"));
  rc = bench(out, sizeof(out), args);
  cr_assert_eq(rc, 0, "pdp-bench --batch exited %d:\n%s", rc, out);
  /* An expired token is refused: the run reports it and fails. */
  char *expired = tu_token(&jw_hs, "hs-1", claims(JW_ISS, JW_AUD, -30, ""));
  cr_assert(du_write(&jw_d, "tokens.txt", expired));
  snprintf(args, sizeof(args), "--scenario '%s' --token-file '%s' --requests 50", jw_path("scen"),
           jw_path("tokens.txt"));
  rc = bench(out, sizeof(out), args);
  cr_assert_eq(rc, 1, "pdp-bench exited %d:\n%s", rc, out);
  cr_assert(strstr(out, "UNAUTHENTICATED") && strstr(out, "expired"), "%s", out);
  free(rs), free(hs), free(expired);
}

/* ---- scenario 1: examples/jwt/console -------------------------------------------------------- */

Test(jwt, the_console_example_answers_its_checks_and_its_scoped_tokens) {
  const char *root = getenv("PDP_SOURCE_ROOT");
  cr_assert(root && *root, "PDP_SOURCE_ROOT is not set (run through tests/run_suite.sh)");
  char cmd[1024], example[512];
  snprintf(example, sizeof(example), "%s/examples/jwt/console", root);
  snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s/console'", example, jw_d.dir);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  static char source[300];
  snprintf(source, sizeof(source), "%s/console", jw_d.dir);
  jw_d.source = source; /* a copy: the revocation below writes into it */
  jw_start(NULL);
  const char *t[] = {"test", example, "--socket", jw_d.sock, NULL};
  jw_run r = jw_pdpctl(NULL, t);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "6 passed, 0 failed"), "%s", r.out);
  jw_run_free(&r);
  /* The same answers for a real token whose scope claim carries the scopes. */
  char *tok = jw_token(&jw_rs, "rs-1", "ops-admin", "\"scope\":\"api.view data.query log.delete\"");
  du_check c;
  const struct {
    const char *action;
    int allow;
    const char *reason;
  } want[] = {{"data.query", 1, "scope:data.query"},
              {"data.delete", 0, NULL},
              {"log.delete", 0, "disabled-scope"}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    du_check_init(&c, 1, "unused", want[i].action, "users");
    c.resource.type = "Table";
    c.check.principal = NULL, c.check.token = tok;
    Pdp__V1__Response *resp = jw_ask(&c.rq);
    cr_assert_eq(resp->status->code, PDP__V1__STATUS__CODE__OK, "%s", resp->status->message);
    cr_assert_eq(resp->check->decision == PDP__V1__DECISION__ALLOW, want[i].allow, "%s",
                 want[i].action);
    if (want[i].reason) {
      cr_assert_eq(resp->check->n_reason, 1, "%s", want[i].action);
      cr_assert_str_eq(resp->check->reason[0], want[i].reason);
    }
    pdp__v1__response__free_unpacked(resp, NULL);
  }
  free(tok);
}

/* jwt_util.h - what the JWT end-to-end suites share: keys made at test time, a pdpd started
 * with --jwt-config on a small bundle, tokens minted in the test, and checks that carry a
 * token instead of a principal.
 *
 * Keys, signing and minting are tests/unit/test_authn_util.h's (OpenSSL keys, a JWS signer
 * that signs any header and payload text).  The key files pdpd reads live in DIR/jwt/ next to
 * the config, written by rename like a deployment would (so a replaced key is a new file).
 * Times are real: tokens carry iat/exp around time(NULL).
 *
 * The bundle: alice may view anything; Role::"admin" may edit; a token scope orders:read
 * reads orders; grants.json grants Role::"auditor" the action audit (host), Role::"auditor"
 * tenant-report in tenant acme only, and Client::"ops-console" console.open.
 */
#ifndef PDP_TESTS_E2E_JWT_UTIL_H
#define PDP_TESTS_E2E_JWT_UTIL_H

/* Each suite uses some of these static helpers (and of test_authn_util.h's). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../unit/test_authn_util.h"

#include "daemon_util.h"

#define JW_ISS "https://idp.test"
#define JW_AUD "pdpd"

static du_daemon jw_d;
static tkey jw_rs, jw_es, jw_hs;

#define JW_POLICIES                                                                                \
  "@id(\"alice-views\")\n"                                                                         \
  "permit (principal == User::\"alice\", action == Action::\"view\", resource);\n"                 \
  "@id(\"admins-edit\")\n"                                                                         \
  "permit (principal in Role::\"admin\", action == Action::\"edit\", resource);\n"                 \
  "@id(\"scoped-orders-read\")\n"                                                                  \
  "permit (principal, action == Action::\"orders.read\", resource)\n"                              \
  "when { principal.scopes.contains(\"orders:read\") };\n"

#define JW_GRANTS                                                                                  \
  "[{\"provider\": \"R\", \"key\": \"auditor\", \"permission\": \"audit\"},\n"                     \
  " {\"provider\": \"R\", \"key\": \"auditor\", \"permission\": \"tenant-report\", "               \
  "\"tenant\": \"acme\"},\n"                                                                       \
  " {\"provider\": \"C\", \"key\": \"ops-console\", \"permission\": \"console.open\"}]\n"

/* Write text to DIR/rel through a temp file and a rename (a new inode, like a deploy). */
static void jw_put(const char *rel, const char *text) {
  char tmp[300], path[300];
  snprintf(tmp, sizeof(tmp), "%s.tmp", rel);
  cr_assert(du_write(&jw_d, tmp, text), "cannot write %s", tmp);
  snprintf(tmp, sizeof(tmp), "%s/%s.tmp", jw_d.dir, rel);
  snprintf(path, sizeof(path), "%s/%s", jw_d.dir, rel);
  cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", path, strerror(errno));
}

static const char *jw_path(const char *rel) {
  static char buf[4][300];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 300, "%s/%s", jw_d.dir, rel);
  return p;
}

/* The verification side of k as DIR/jwt/<name>: a public PEM, or an HMAC secret in hex. */
static void jw_put_key(const tkey *k, const char *name) {
  char rel[128];
  snprintf(rel, sizeof(rel), "jwt/%s", name);
  if (k->alg > PA_ALG_HS512) {
    jw_put(rel, k->pub_pem);
    return;
  }
  char hex[2 * sizeof(k->secret) + 2];
  for (size_t i = 0; i < k->secret_len; i++) snprintf(hex + 2 * i, 3, "%02x", k->secret[i]);
  strcat(hex, "\n");
  jw_put(rel, hex);
}

/* DIR/jwt/jwt.json with `keys` (a JSON array text) and the suites' common settings. */
static void jw_put_config(const char *keys) {
  char cfg[2048];
  snprintf(cfg, sizeof(cfg),
           "{\"keys\": %s, \"issuer\": \"" JW_ISS "\", \"audience\": \"" JW_AUD "\",\n"
           " \"leeway_s\": 0}\n",
           keys);
  jw_put("jwt/jwt.json", cfg);
}

#define JW_KEYS3                                                                                   \
  "[{\"kid\": \"rs-1\", \"alg\": \"RS256\", \"file\": \"rs.pem\"},\n"                              \
  " {\"kid\": \"es-1\", \"alg\": \"ES256\", \"file\": \"es.pem\"},\n"                              \
  " {\"kid\": \"hs-1\", \"alg\": \"HS256\", \"file\": \"hs.hex\", \"encoding\": \"hex\"}]"

/* A temp dir with the bundle and three fresh keys (RS256 rs-1, ES256 es-1, HS256 hs-1) and
 * their config; pdpd is not started. */
static void jw_setup(void) {
  cr_assert(du_init(&jw_d, JW_POLICIES, "[]\n"), "cannot make the bundle");
  cr_assert(du_write(&jw_d, "bundle/grants.json", JW_GRANTS));
  jw_rs = tu_key(PA_ALG_RS256);
  jw_es = tu_key(PA_ALG_ES256);
  jw_hs = tu_key(PA_ALG_HS256);
  jw_put_key(&jw_rs, "rs.pem");
  jw_put_key(&jw_es, "es.pem");
  jw_put_key(&jw_hs, "hs.hex");
  jw_put_config(JW_KEYS3);
}

static void jw_teardown(void) {
  tu_key_free(&jw_rs);
  tu_key_free(&jw_es);
  tu_key_free(&jw_hs);
  du_finish(&jw_d); /* fails the run unless pdpd exited 0 */
}

/* Start pdpd with --jwt-config DIR/jwt/jwt.json (and `more` flags, NULL-terminated). */
static void jw_start(const char *more) {
  const char *extra[] = {"--jwt-config", jw_path("jwt/jwt.json"), more, NULL};
  if (!du_start(&jw_d, extra)) cr_assert_fail("pdpd did not start: %s", du_read_file(jw_d.log));
}

static int64_t jw_now(void) {
  return (int64_t)time(NULL);
}

/* A token of k (header alg = k's, kid as given) for sub with the usual iss/aud/iat/exp
 * (valid for ten minutes) plus `extra` claims ("" or `"roles":["admin"]` ...).  malloc'd. */
static char *jw_token(const tkey *k, const char *kid, const char *sub, const char *extra) {
  int64_t now = jw_now();
  return tu_token(k, kid,
                  tu_fmt("{\"iss\":\"" JW_ISS "\",\"aud\":\"" JW_AUD
                         "\",\"sub\":\"%s\",\"iat\":%lld,"
                         "\"exp\":%lld%s%s}",
                         sub, (long long)now, (long long)(now + 600), extra[0] ? "," : "", extra));
}

/* ---- requests ---------------------------------------------------------------------------- */

/* One request on a new connection; the answer (NULL when pdpd did not answer). */
static Pdp__V1__Response *jw_ask(const Pdp__V1__Request *rq) {
  int fd = du_connect(jw_d.sock);
  cr_assert_geq(fd, 0, "cannot connect to %s", jw_d.sock);
  cr_assert(du_send(fd, rq));
  Pdp__V1__Response *r = du_recv(fd);
  close(fd);
  return r;
}

/* Check `token` doing action on Doc::"d1"; the answer (never NULL). */
static Pdp__V1__Response *jw_check(const char *token, const char *action) {
  du_check c;
  du_check_init(&c, 7, "unused", action, "d1");
  c.check.principal = NULL;
  c.check.token = (char *)token;
  Pdp__V1__Response *r = jw_ask(&c.rq);
  cr_assert_not_null(r, "pdpd did not answer: %s", du_read_file(jw_d.log));
  cr_assert_eq(r->id, 7);
  return r;
}

/* 1 allow, 0 deny, or -(status code) when the status is not OK (its message in msg). */
static int jw_decide(const char *token, const char *action, char *msg, size_t cap) {
  Pdp__V1__Response *r = jw_check(token, action);
  int out;
  if (msg) snprintf(msg, cap, "%s", r->status->message ? r->status->message : "");
  if (r->status->code != PDP__V1__STATUS__CODE__OK) {
    cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET, "a refusal carries no body");
    out = -(int)r->status->code;
  } else {
    cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY_CHECK);
    out = r->check->decision == PDP__V1__DECISION__ALLOW ? 1 : 0;
  }
  pdp__v1__response__free_unpacked(r, NULL);
  return out;
}

/* Assert the check's answer is UNAUTHENTICATED with a message starting "token refused:
 * <reason>". */
static void jw_assert_refused(const char *token, const char *action, const char *reason) {
  char msg[600], want[120];
  int got = jw_decide(token, action, msg, sizeof(msg));
  cr_assert_eq(got, -(int)PDP__V1__STATUS__CODE__UNAUTHENTICATED, "answer %d (%s), want %s", got,
               msg, reason);
  snprintf(want, sizeof(want), "token refused: %s", reason);
  cr_assert(strncmp(msg, want, strlen(want)) == 0, "message \"%s\" does not start \"%s\"", msg,
            want);
}

/* Ask until `done(answer, msg)` holds, or fail after the deadline naming `what`. */
static void jw_poll(const char *token, const char *action, bool (*done)(int, const char *),
                    const char *what) {
  char msg[600] = "";
  int got = 0;
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  while (du_now_ms() < deadline) {
    got = jw_decide(token, action, msg, sizeof(msg));
    if (done(got, msg)) return;
    du_sleep_ms(50);
  }
  cr_assert_fail("%s never happened: last answer %d (%s)", what, got, msg);
}

/* ---- pdpctl ------------------------------------------------------------------------------ */

typedef struct jw_run {
  int code; /* exit code, or 128 + signal */
  char *out, *err;
} jw_run;

/* $PDPCTL_BIN ARGV... (NULL-terminated) with stdin from `in` (NULL: /dev/null). */
static jw_run jw_pdpctl(const char *in, const char *const *args) {
  const char *bin = getenv("PDPCTL_BIN");
  cr_assert(bin && *bin, "PDPCTL_BIN is not set (run through tests/run_suite.sh)");
  const char *argv[40] = {bin};
  int n = 1;
  for (int i = 0; args[i] && n < 39; i++) argv[n++] = args[i];
  argv[n] = NULL;
  char out[300], err[300];
  snprintf(out, sizeof(out), "%s/ctl.out", jw_d.dir);
  snprintf(err, sizeof(err), "%s/ctl.err", jw_d.dir);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    int i = open(in ? in : "/dev/null", O_RDONLY);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(i, 0), dup2(o, 1), dup2(e, 2);
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return (jw_run){WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), du_read_file(out),
                  du_read_file(err)};
}

static void jw_run_free(jw_run *r) {
  free(r->out), free(r->err);
}

#pragma GCC diagnostic pop

#endif

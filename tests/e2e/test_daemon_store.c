/* test_daemon_store.c - the real pdpd with its LMDB store under --data-dir.
 *
 * pdpd stores what it loads; restarted with the source gone or broken it serves the stored
 * snapshot (same answers, same stamp), reports DEGRADED with a reason naming the source (and
 * the error's file:line:col), and the same content has the same stamp in any data dir.
 */
#include <criterion/criterion.h>

#include "daemon_util.h"

static du_daemon d;
static char data[128];

static void setup(void) {
  cr_assert(du_init(&d, DU_POLICIES, DU_ENTITIES));
  snprintf(data, sizeof data, "%s/data", d.dir);
}

static void teardown(void) {
  du_finish(&d); /* fails the run unless pdpd exited 0 */
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 120);

static void start(du_daemon *dm, const char *data_dir) {
  const char *extra[] = {"--data-dir", data_dir, NULL};
  if (!du_start(dm, extra)) {
    char *log = du_read_file(dm->log);
    cr_assert_fail("pdpd did not start: %s", log);
  }
}

static Pdp__V1__Response *ask(const char *sock, const Pdp__V1__Request *rq) {
  int fd = du_connect(sock);
  cr_assert_geq(fd, 0);
  cr_assert(du_send(fd, rq));
  Pdp__V1__Response *r = du_recv(fd);
  close(fd);
  cr_assert_not_null(r, "no answer");
  cr_assert_not_null(r->status);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  return r;
}

/* alice may view d1; bob may not view it: the decisions and the stamp they carry. */
static void expect_answers(const char *sock, uint8_t stamp[32]) {
  du_check c;
  du_check_init(&c, 1, "alice", "view", "d1");
  Pdp__V1__Response *r = ask(sock, &c.rq);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_eq(r->check->stamp.len, 32);
  memcpy(stamp, r->check->stamp.data, 32);
  pdp__v1__response__free_unpacked(r, NULL);
  du_check_init(&c, 2, "bob", "view", "d1");
  r = ask(sock, &c.rq);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__DENY);
  pdp__v1__response__free_unpacked(r, NULL);
}

static Pdp__V1__Response *health(const char *sock) {
  Pdp__V1__HealthRequest h;
  Pdp__V1__Request rq = du_health_request(3, &h);
  Pdp__V1__Response *r = ask(sock, &rq);
  cr_assert_not_null(r->health);
  return r;
}

static Pdp__V1__Response *status(const char *sock) {
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 4, rq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, rq.server_status = &s;
  Pdp__V1__Response *r = ask(sock, &rq);
  cr_assert_not_null(r->server_status);
  return r;
}

/* The text of a degraded reason before its ages and counts ("; failing for 1.2 s ..."). */
static size_t reason_head(const char *reason) {
  const char *p = strstr(reason, "; failing for");
  return p ? (size_t)(p - reason) : strlen(reason);
}

/* Health becomes DEGRADED (once pdpd's first check of the source has failed) with a reason
 * containing `part`, and Status has the same reason and names the source. */
static void expect_degraded(const char *sock, const char *part) {
  Pdp__V1__Response *h = health(sock);
  for (int64_t end = du_now_ms() + DU_DEADLINE_MS;
       h->health->state == PDP__V1__HEALTH_RESPONSE__STATE__SERVING && du_now_ms() < end;) {
    pdp__v1__response__free_unpacked(h, NULL);
    du_sleep_ms(10);
    h = health(sock);
  }
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
  cr_assert(strstr(h->health->reason, part), "reason: %s", h->health->reason);
  Pdp__V1__Response *s = status(sock);
  size_t n = reason_head(h->health->reason);
  cr_assert_eq(reason_head(s->server_status->degraded_reason), n, "%s",
               s->server_status->degraded_reason);
  cr_assert(strncmp(s->server_status->degraded_reason, h->health->reason, n) == 0, "%s",
            s->server_status->degraded_reason);
  cr_assert(strncmp(s->server_status->source, "dir:", 4) == 0, "%s", s->server_status->source);
  pdp__v1__response__free_unpacked(h, NULL);
  pdp__v1__response__free_unpacked(s, NULL);
}

static void first_run(uint8_t stamp[32]) {
  start(&d, data);
  expect_answers(d.sock, stamp);
  Pdp__V1__Response *h = health(d.sock);
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  cr_assert_str_empty(h->health->reason);
  pdp__v1__response__free_unpacked(h, NULL);
  cr_assert_eq(du_stop(&d), 0);
}

Test(store, with_the_source_gone_the_stored_snapshot_answers_the_same) {
  uint8_t before[32], after[32];
  first_run(before);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.bundle);
  cr_assert_eq(system(cmd), 0);
  start(&d, data);
  expect_answers(d.sock, after);
  cr_assert_arr_eq(before, after, 32, "the stored snapshot keeps the stamp");
  char part[300];
  snprintf(part, sizeof part, "source %s: ", d.bundle);
  expect_degraded(d.sock, part);
  cr_assert_eq(du_stop(&d), 0);
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "serving the stored snapshot"), "%s", log);
  free(log);
}

Test(store, with_a_broken_source_the_stored_snapshot_is_served_and_the_error_named) {
  uint8_t before[32], after[32];
  first_run(before);
  cr_assert(du_write(&d, "bundle/policies/x.cedar",
                     "permit (principal, action, resource)\nwhen { principal. };\n"));
  start(&d, data);
  expect_answers(d.sock, after);
  cr_assert_arr_eq(before, after, 32);
  expect_degraded(d.sock, "x.cedar:2:");
  cr_assert_eq(du_stop(&d), 0);
}

Test(store, a_repaired_source_is_served_again_and_no_longer_degraded) {
  uint8_t before[32], after[32];
  first_run(before);
  cr_assert(du_write(&d, "bundle/policies/x.cedar", "permit (principal, action,"));
  start(&d, data);
  expect_degraded(d.sock, "x.cedar:");
  cr_assert_eq(du_stop(&d), 0);
  cr_assert(du_write(&d, "bundle/policies/x.cedar", DU_POLICIES));
  start(&d, data);
  expect_answers(d.sock, after);
  cr_assert_arr_eq(before, after, 32);
  Pdp__V1__Response *h = health(d.sock);
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  pdp__v1__response__free_unpacked(h, NULL);
}

Test(store, the_same_content_has_the_same_stamp_in_two_data_dirs) {
  uint8_t a[32], b[32];
  first_run(a);
  du_daemon d2;
  cr_assert(du_init(&d2, DU_POLICIES, DU_ENTITIES));
  char data2[128];
  snprintf(data2, sizeof data2, "%s/data", d2.dir);
  const char *extra[] = {"--data-dir", data2, NULL};
  bool ok = du_start(&d2, extra);
  if (ok) expect_answers(d2.sock, b);
  int rc = du_stop(&d2);
  du_cleanup(&d2);
  cr_assert(ok, "the second pdpd did not start");
  cr_assert_eq(rc, 0);
  cr_assert_arr_eq(a, b, 32);
}

Test(store, nothing_stored_and_no_source_exits_1) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.bundle);
  cr_assert_eq(system(cmd), 0);
  const char *extra[] = {"--data-dir", data, NULL};
  cr_assert_not(du_start(&d, extra));
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "nothing to serve"), "%s", log);
  free(log);
}

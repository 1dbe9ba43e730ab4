/* test_daemon_reload.c - the real pdpd keeping its snapshot current while it serves.
 *
 * Each test runs pdpd on a real socket with a temp source dir and a temp data dir, short
 * check intervals, and changes the source underneath it (files replaced by rename, as a
 * deployment should):
 *   - restarted with the source gone it serves the stored snapshot, DEGRADED with the reason,
 *     and recovers when the source comes back;
 *   - with the watch off the poll alone finds a change; with a 1 h interval the watch alone
 *     does, also inside a policies/ dir that was replaced;
 *   - a broken policy is rejected (the reason names file:line:col) while the old snapshot
 *     answers, and fixing it recovers;
 *   - past --max-staleness decisions are STALE, and answers come back when the source does;
 *   - 100 swaps under load: every batch is answered OK, consistently with exactly one
 *     version, and carries that version's stamp;
 *   - 50 kill -9 at random moments while large entity changes are applied: a restarted pdpd
 *     serves exactly the stamp recomputed from what the store holds, with that version's
 *     answers.
 * No assertion is on timing: every wait has a generous deadline (du_*).  Under PDPD_WRAPPER
 * (valgrind) the two stress tests run fewer rounds on less data.
 */
#include <criterion/criterion.h>

#include "../../cache/cache.h"
#include "daemon_util.h"

#include <pthread.h>
#include <stdatomic.h>

static du_daemon d;

/* Version A allows x and denies y; version B the reverse. */
#define POLICY_A "@id(\"allow-x\")\npermit (principal, action == Action::\"x\", resource);\n"
#define POLICY_B "@id(\"allow-y\")\npermit (principal, action == Action::\"y\", resource);\n"
#define ENTITIES                                                                                   \
  "[{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {}, \"parents\": []}]\n"

static void setup(void) {
  cr_assert(du_init(&d, POLICY_A, ENTITIES));
}

static void teardown(void) {
  du_finish(&d); /* fails the run unless pdpd exited 0 */
}

TestSuite(reload, .init = setup, .fini = teardown, .timeout = 240);

static bool wrapped(void) {
  const char *w = getenv("PDPD_WRAPPER");
  return w && *w;
}

/* ---- talking to pdpd ----------------------------------------------------------------- */

static void start(const char *const *extra) {
  if (!du_start(&d, extra)) cr_assert_fail("pdpd did not start: %s", du_read_file(d.log));
}

/* One request on a new connection; the answer (status not checked). */
static Pdp__V1__Response *ask(const Pdp__V1__Request *rq) {
  int fd = du_connect(d.sock);
  cr_assert_geq(fd, 0, "connect %s", d.sock);
  cr_assert(du_send(fd, rq));
  Pdp__V1__Response *r = du_recv(fd);
  close(fd);
  cr_assert_not_null(r, "no answer");
  cr_assert_not_null(r->status);
  return r;
}

static Pdp__V1__Response *health(void) {
  Pdp__V1__HealthRequest h;
  Pdp__V1__Request rq = du_health_request(3, &h);
  Pdp__V1__Response *r = ask(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_not_null(r->health);
  return r;
}

static Pdp__V1__Response *status(void) {
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 4, rq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, rq.server_status = &s;
  Pdp__V1__Response *r = ask(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_not_null(r->server_status);
  return r;
}

/* The stamp Status reports. */
static void served_stamp(uint8_t out[32]) {
  Pdp__V1__Response *r = status();
  cr_assert_eq(r->server_status->stamp.len, 32);
  memcpy(out, r->server_status->stamp.data, 32);
  pdp__v1__response__free_unpacked(r, NULL);
}

/* A check of User::"alice" doing Action::`action` on Doc::`doc`: the whole answer. */
static Pdp__V1__Response *check(const char *action, const char *doc) {
  du_check c;
  du_check_init(&c, 7, "alice", action, doc);
  return ask(&c.rq);
}

/* The decision of a check that must be answered OK; its stamp into stamp (may be NULL). */
static Pdp__V1__Decision decide(const char *action, const char *doc, uint8_t stamp[32]) {
  Pdp__V1__Response *r = check(action, doc);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  Pdp__V1__Decision dec = r->check->decision;
  if (stamp) {
    cr_assert_eq(r->check->stamp.len, 32);
    memcpy(stamp, r->check->stamp.data, 32);
  }
  pdp__v1__response__free_unpacked(r, NULL);
  return dec;
}

/* Version A's or B's answers, on the stamp `stamp` (NULL: any). */
static void expect_version(char v, const uint8_t *stamp) {
  uint8_t sx[32], sy[32];
  cr_assert_eq(decide("x", "d", sx), v == 'A' ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY);
  cr_assert_eq(decide("y", "d", sy), v == 'B' ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY);
  if (stamp) {
    cr_assert_arr_eq(sx, stamp, 32);
    cr_assert_arr_eq(sy, stamp, 32);
  }
}

/* Wait until Status reports `want` (or, with differ, anything but it). */
static bool wait_stamp(const uint8_t want[32], bool differ) {
  for (int64_t end = du_now_ms() + DU_DEADLINE_MS; du_now_ms() < end; du_sleep_ms(10)) {
    uint8_t s[32];
    served_stamp(s);
    if ((memcmp(s, want, 32) == 0) != differ) return true;
  }
  return false;
}

/* Wait until Health is in `state`; the last Health answer (caller frees). */
static Pdp__V1__Response *wait_health(Pdp__V1__HealthResponse__State state) {
  Pdp__V1__Response *h = health();
  for (int64_t end = du_now_ms() + DU_DEADLINE_MS;
       h->health->state != state && du_now_ms() < end;) {
    pdp__v1__response__free_unpacked(h, NULL);
    du_sleep_ms(10);
    h = health();
  }
  cr_assert_eq(h->health->state, state, "health %d: %s", h->health->state, h->health->reason);
  return h;
}

/* ---- changing the source ------------------------------------------------------------- */

/* Replace d.dir/rel with text by writing a temp file and renaming it over: a reader sees
 * the old file or the new one, never half of one. */
static void put(const char *rel, const char *text) {
  char tmp[300], dst[300];
  snprintf(tmp, sizeof(tmp), "%s/put.tmp", d.dir);
  snprintf(dst, sizeof(dst), "%s/%s", d.dir, rel);
  cr_assert(du_write_file(tmp, text));
  cr_assert_eq(rename(tmp, dst), 0, "rename to %s: %s", dst, strerror(errno));
}

static void move(const char *from_rel, const char *to_rel) {
  char a[300], b[300];
  snprintf(a, sizeof(a), "%s/%s", d.dir, from_rel);
  snprintf(b, sizeof(b), "%s/%s", d.dir, to_rel);
  cr_assert_eq(rename(a, b), 0, "rename %s to %s: %s", a, b, strerror(errno));
}

/* ---- restart, poll, watch, broken files, staleness ----------------------------------- */

Test(reload, a_restart_serves_the_stored_snapshot_without_the_source_then_recovers) {
  const char *extra[] = {"--check-interval", "1s", NULL};
  start(extra);
  uint8_t a[32], b[32];
  served_stamp(a);
  expect_version('A', a);
  cr_assert_eq(du_stop(&d), 0);

  move("bundle", "bundle.away");
  start(extra);
  expect_version('A', a); /* at once, from the store */
  Pdp__V1__Response *h = wait_health(PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
  char want[300];
  snprintf(want, sizeof(want), "source %s: ", d.bundle);
  cr_assert(strstr(h->health->reason, want), "%s", h->health->reason);
  cr_assert(strstr(h->health->reason, "failing for"), "%s", h->health->reason);
  cr_assert_arr_eq(h->health->stamp.data, a, 32);
  pdp__v1__response__free_unpacked(h, NULL);
  Pdp__V1__Response *s = status();
  snprintf(want, sizeof(want), "dir:%s", d.bundle);
  cr_assert_str_eq(s->server_status->source, want);
  cr_assert(strstr(s->server_status->degraded_reason, d.bundle), "%s",
            s->server_status->degraded_reason);
  cr_assert_gt(s->server_status->last_check_unix_ms, 0, "the failed check is recorded");
  cr_assert_gt(s->server_status->last_change_unix_ms, 0, "the stored snapshot was published");
  cr_assert_eq(s->server_status->policies, 1);
  cr_assert_eq(s->server_status->entities, 1);
  pdp__v1__response__free_unpacked(s, NULL);
  expect_version('A', a);

  /* the source comes back with version B: served without a restart */
  move("bundle.away", "bundle");
  put("bundle/policies/x.cedar", POLICY_B);
  cr_assert(wait_stamp(a, true), "the returned source is never served");
  served_stamp(b);
  expect_version('B', b);
  h = wait_health(PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  cr_assert_str_empty(h->health->reason);
  pdp__v1__response__free_unpacked(h, NULL);
  s = status();
  cr_assert_str_empty(s->server_status->degraded_reason);
  pdp__v1__response__free_unpacked(s, NULL);
  cr_assert_eq(du_stop(&d), 0);
}

Test(reload, with_the_watch_off_the_poll_alone_finds_a_change) {
  const char *extra[] = {"--check-interval", "200ms", "--watch", "false", NULL};
  start(extra);
  uint8_t a[32], b[32];
  served_stamp(a);
  /* the poll runs with nothing changed: last_check moves, the stamp stays */
  Pdp__V1__Response *s = status();
  int64_t first = s->server_status->last_check_unix_ms;
  pdp__v1__response__free_unpacked(s, NULL);
  int64_t later = first;
  for (int64_t end = du_now_ms() + DU_DEADLINE_MS; later <= first && du_now_ms() < end;
       du_sleep_ms(20)) {
    s = status();
    later = s->server_status->last_check_unix_ms;
    cr_assert_arr_eq(s->server_status->stamp.data, a, 32);
    pdp__v1__response__free_unpacked(s, NULL);
  }
  cr_assert_gt(later, first, "no poll ran");
  put("bundle/policies/x.cedar", POLICY_B);
  cr_assert(wait_stamp(a, true), "the poll never found the change");
  served_stamp(b);
  expect_version('B', b);
  cr_assert_eq(du_stop(&d), 0);
}

Test(reload, with_a_1h_interval_the_watch_finds_changes_also_in_a_replaced_policies_dir) {
  const char *extra[] = {"--check-interval", "1h", NULL};
  start(extra);
  uint8_t a[32], b[32];
  served_stamp(a);
  /* a file replaced inside policies/ */
  put("bundle/policies/x.cedar", POLICY_B);
  cr_assert(wait_stamp(a, true), "no change seen within the deadline, an hour before the poll");
  served_stamp(b);
  expect_version('B', b);
  /* policies/ itself replaced by another dir (version A again) */
  cr_assert(du_write(&d, "newpolicies/x.cedar", POLICY_A));
  move("bundle/policies", "oldpolicies");
  move("newpolicies", "bundle/policies");
  cr_assert(wait_stamp(a, false), "the replaced dir was not seen");
  expect_version('A', a);
  /* and the new policies/ is watched: a change inside it is seen too */
  put("bundle/policies/x.cedar", POLICY_B);
  cr_assert(wait_stamp(b, false), "a change inside the new policies/ was not seen");
  expect_version('B', b);
  cr_assert_eq(du_stop(&d), 0);
}

Test(reload, a_broken_policy_is_rejected_with_its_position_and_fixing_it_recovers) {
  const char *extra[] = {"--check-interval", "1h", NULL};
  start(extra);
  uint8_t a[32], b[32];
  served_stamp(a);
  put("bundle/policies/x.cedar", "permit (principal, action, resource)\nwhen { principal. };\n");
  Pdp__V1__Response *h = wait_health(PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
  /* ".../policies/x.cedar:2:<col>: ..." */
  const char *at = strstr(h->health->reason, "policies/x.cedar:2:");
  cr_assert_not_null(at, "%s", h->health->reason);
  at += strlen("policies/x.cedar:2:");
  cr_assert(at[0] >= '1' && at[0] <= '9', "a column follows: %s", h->health->reason);
  while (*at >= '0' && *at <= '9') at++;
  cr_assert_eq(*at, ':', "%s", h->health->reason);
  cr_assert_arr_eq(h->health->stamp.data, a, 32);
  pdp__v1__response__free_unpacked(h, NULL);
  expect_version('A', a); /* the old snapshot keeps answering */
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "policies/x.cedar:2:"), "every diagnostic is logged: %s", log);
  free(log);

  put("bundle/policies/x.cedar", POLICY_B);
  cr_assert(wait_stamp(a, true), "the fixed file is never served");
  served_stamp(b);
  expect_version('B', b);
  h = wait_health(PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  pdp__v1__response__free_unpacked(h, NULL);
  cr_assert_eq(du_stop(&d), 0);
}

Test(reload, past_max_staleness_decisions_are_stale_and_recover_with_the_source) {
  /* the limit leaves room for a slow check (valgrind) before the source goes */
  int limit_s = wrapped() ? 10 : 2;
  char limit[16], limit_text[64];
  snprintf(limit, sizeof(limit), "%ds", limit_s);
  snprintf(limit_text, sizeof(limit_text), "past max-staleness %d.0 s", limit_s);
  const char *extra[] = {"--check-interval", "100ms", "--max-staleness", limit, NULL};
  start(extra);
  uint8_t a[32];
  served_stamp(a);
  expect_version('A', a);
  move("bundle", "bundle.away");
  /* checks fail from now on; once the last confirmation is older than the limit, decisions
   * stop */
  Pdp__V1__Response *r = check("x", "d");
  for (int64_t end = du_now_ms() + DU_DEADLINE_MS;
       r->status->code == PDP__V1__STATUS__CODE__OK && du_now_ms() < end;) {
    pdp__v1__response__free_unpacked(r, NULL);
    du_sleep_ms(20);
    r = check("x", "d");
  }
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__STALE, "%s", r->status->message);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET, "a STALE answer decides nothing");
  cr_assert(strstr(r->status->message, limit_text), "%s", r->status->message);
  cr_assert(strstr(r->status->message, "snapshot is "), "%s", r->status->message);
  char want[300];
  snprintf(want, sizeof(want), "source %s: ", d.bundle);
  cr_assert(strstr(r->status->message, want), "the reason: %s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  Pdp__V1__Response *h = health();
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
  cr_assert(strstr(h->health->reason, "past max-staleness"), "%s", h->health->reason);
  cr_assert_gt(h->health->snapshot_age_ms, (uint64_t)limit_s * 1000);
  pdp__v1__response__free_unpacked(h, NULL);

  move("bundle.away", "bundle");
  r = check("x", "d");
  for (int64_t end = du_now_ms() + DU_DEADLINE_MS;
       r->status->code != PDP__V1__STATUS__CODE__OK && du_now_ms() < end;) {
    pdp__v1__response__free_unpacked(r, NULL);
    du_sleep_ms(20);
    r = check("x", "d");
  }
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  expect_version('A', a);
  h = wait_health(PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  cr_assert_lt(h->health->snapshot_age_ms, (uint64_t)limit_s * 1000);
  pdp__v1__response__free_unpacked(h, NULL);
  cr_assert_eq(du_stop(&d), 0);
}

/* ---- swaps under load ---------------------------------------------------------------- */

typedef struct load {
  const char *sock;
  uint8_t a[32], b[32]; /* the two versions' stamps */
  atomic_bool stop;
  uint64_t batches, seen_a, seen_b; /* written by the client thread, read after join */
  char error[512];                  /* the first wrong answer ("" when none) */
} load;

/* Send [x, y] batches one after another and check each answer. */
static void *load_client(void *arg) {
  load *l = arg;
  int fd = du_connect(l->sock);
  if (fd < 0) {
    snprintf(l->error, sizeof(l->error), "cannot connect");
    return NULL;
  }
  du_check cx, cy;
  du_check_init(&cx, 0, "alice", "x", "d");
  du_check_init(&cy, 0, "alice", "y", "d");
  Pdp__V1__CheckRequest *checks[] = {&cx.check, &cy.check};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = checks, b.n_checks = 2;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  while (!atomic_load(&l->stop) && !l->error[0]) {
    rq.id = ++l->batches;
    Pdp__V1__Response *r = du_send(fd, &rq) ? du_recv(fd) : NULL;
    if (!r) {
      snprintf(l->error, sizeof(l->error), "batch %llu: no answer", (unsigned long long)l->batches);
      break;
    }
    const Pdp__V1__BatchCheckResponse *br = r->batch_check;
    if (r->id != rq.id || !r->status || r->status->code != PDP__V1__STATUS__CODE__OK || !br ||
        br->n_results != 2 || br->stamp.len != 32) {
      snprintf(l->error, sizeof(l->error), "batch %llu: status %d %s",
               (unsigned long long)l->batches, r->status ? (int)r->status->code : -1,
               r->status ? r->status->message : "");
    } else {
      Pdp__V1__Decision d[2] = {PDP__V1__DECISION__DECISION_UNSPECIFIED,
                                PDP__V1__DECISION__DECISION_UNSPECIFIED};
      for (int i = 0; i < 2; i++)
        if (br->results[i]->status && br->results[i]->status->code == PDP__V1__STATUS__CODE__OK &&
            br->results[i]->check)
          d[i] = br->results[i]->check->decision;
      bool is_a = d[0] == PDP__V1__DECISION__ALLOW && d[1] == PDP__V1__DECISION__DENY &&
                  memcmp(br->stamp.data, l->a, 32) == 0;
      bool is_b = d[0] == PDP__V1__DECISION__DENY && d[1] == PDP__V1__DECISION__ALLOW &&
                  memcmp(br->stamp.data, l->b, 32) == 0;
      if (is_a) l->seen_a++;
      if (is_b) l->seen_b++;
      if (!is_a && !is_b)
        snprintf(l->error, sizeof(l->error),
                 "batch %llu: x %d, y %d on stamp %02x%02x%02x%02x: neither version",
                 (unsigned long long)l->batches, d[0], d[1], br->stamp.data[0], br->stamp.data[1],
                 br->stamp.data[2], br->stamp.data[3]);
    }
    pdp__v1__response__free_unpacked(r, NULL);
  }
  close(fd);
  return NULL;
}

Test(reload, under_load_100_swaps_answer_every_batch_with_exactly_one_version) {
  const char *extra[] = {"--check-interval", "1h", NULL};
  start(extra);
  load l;
  memset(&l, 0, sizeof(l));
  l.sock = d.sock;
  served_stamp(l.a);
  put("bundle/policies/x.cedar", POLICY_B);
  cr_assert(wait_stamp(l.a, true));
  served_stamp(l.b);
  expect_version('B', l.b);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, load_client, &l), 0);
  int swaps = wrapped() ? 20 : 100;
  bool all_served = true;
  for (int i = 0; i < swaps && all_served; i++) {
    bool to_a = i % 2 == 0;
    put("bundle/policies/x.cedar", to_a ? POLICY_A : POLICY_B);
    all_served = wait_stamp(to_a ? l.a : l.b, false);
  }
  atomic_store(&l.stop, true);
  pthread_join(t, NULL);
  cr_assert(all_served, "a swap was never served");
  cr_assert_str_empty(l.error, "%s", l.error);
  cr_assert_gt(l.seen_a, 0, "the load saw version A");
  cr_assert_gt(l.seen_b, 0, "the load saw version B");
  cr_log_info("%llu batches during %d swaps (%llu on A, %llu on B)", (unsigned long long)l.batches,
              swaps, (unsigned long long)l.seen_a, (unsigned long long)l.seen_b);
  cr_assert_eq(du_stop(&d), 0);
}

/* ---- kill -9 while large changes are applied ----------------------------------------- */

/* entities.json with n Doc entities e0..e<n-1> whose attribute v is `v`, padded so a change
 * rewrites every row. */
static char *big_entities(int n, int v) {
  size_t cap = (size_t)n * 160 + 256, len = 0;
  char *s = malloc(cap);
  cr_assert_not_null(s);
  len += (size_t)snprintf(s + len, cap - len,
                          "[{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {}, "
                          "\"parents\": []}");
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len,
                            ",\n{\"uid\": {\"type\": \"Doc\", \"id\": \"e%d\"}, \"attrs\": "
                            "{\"v\": %d, \"pad\": \"version-%d-entity-%d\"}, \"parents\": []}",
                            i, v, v, i);
  snprintf(s + len, cap - len, "]\n");
  return s;
}

#define BIG_POLICY                                                                                 \
  "@id(\"read-v1\")\npermit (principal, action == Action::\"read\", resource)\n"                   \
  "when { resource.v == 1 };\n"

/* The content stamp of a bundle dir, from a scratch store. */
static void bundle_stamp(const char *dir, const char *scratch, uint8_t out[32]) {
  cache_store *st = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_open(scratch, 0, &st, &err), 0, "%s", err.message);
  cache_diag diag;
  cache_diag_init(&diag);
  cache_sync_info info;
  cr_assert(cache_sync_from_dir(st, dir, &info, &diag), "%s", diag.n ? diag.lines[0] : "");
  memcpy(out, info.stamp, 32);
  pdpe_snapshot_unref(info.snapshot);
  cache_diag_close(&diag);
  cache_store_close(st);
}

/* Recompute the stamp of what the store under dir holds; it must equal the committed one. */
static void store_stamp(const char *dir, uint8_t out[32]) {
  cache_store *st = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_open(dir, 0, &st, &err), 0, "%s", err.message);
  uint8_t committed[32];
  cr_assert_eq(cache_store_recompute_stamp(st, out, &err), 0, "%s", err.message);
  cr_assert_eq(cache_store_stamp(st, committed, &err), 0, "%s", err.message);
  cr_assert_arr_eq(out, committed, 32, "the committed stamp describes the rows beside it");
  cache_store_close(st);
}

Test(reload, kill_9_during_large_changes_leaves_a_store_served_with_its_exact_stamp) {
  int n = wrapped() ? 2000 : 20000, rounds = wrapped() ? 4 : 50;
  char *ents[2] = {big_entities(n, 1), big_entities(n, 2)};
  unsigned seed = (unsigned)time(NULL);
  const char *env = getenv("PDP_RELOAD_SEED");
  if (env && *env) seed = (unsigned)strtoul(env, NULL, 10);
  cr_log_info("seed %u (PDP_RELOAD_SEED reproduces the kill moments)", seed);
  srand(seed);

  /* the two versions' stamps, computed apart from pdpd */
  uint8_t stamps[2][32];
  char dir[300], scratch[300], data[300];
  snprintf(data, sizeof(data), "%s/data", d.dir);
  for (int v = 0; v < 2; v++) {
    snprintf(dir, sizeof(dir), "%s/v%d", d.dir, v);
    snprintf(scratch, sizeof(scratch), "%s/scratch%d", d.dir, v);
    char rel[64];
    snprintf(rel, sizeof(rel), "v%d/policies/x.cedar", v);
    cr_assert(du_write(&d, rel, BIG_POLICY));
    snprintf(rel, sizeof(rel), "v%d/entities.json", v);
    cr_assert(du_write(&d, rel, ents[v]));
    bundle_stamp(dir, scratch, stamps[v]);
  }
  cr_assert(memcmp(stamps[0], stamps[1], 32) != 0);
  put("bundle/policies/x.cedar", BIG_POLICY);
  put("bundle/entities.json", ents[0]);

  const char *with_source[] = {"--check-interval", "1h", NULL};
  int on_disk = 0;
  /* How long pdpd takes to start and apply a change: the kill moments spread over twice it. */
  int64_t t0 = du_now_ms();
  start(with_source);
  cr_assert(wait_stamp(stamps[0], false));
  int span = (int)(du_now_ms() - t0);
  cr_assert_eq(du_stop(&d), 0);
  put("bundle/entities.json", ents[1]);
  on_disk = 1;

  int hits[2] = {0, 0};
  for (int round = 0; round < rounds; round++) {
    /* pdpd starts on the stored version and applies the other one from the source */
    d.pid = du_spawn(&d, with_source);
    cr_assert_gt(d.pid, 0);
    du_sleep_ms(rand() % (2 * span + 1));
    kill(d.pid, SIGKILL);
    waitpid(d.pid, NULL, 0);
    d.pid = 0;

    /* restarted without its source, pdpd serves the store as the kill left it */
    move("bundle", "bundle.away");
    start(with_source);
    uint8_t served[32], stored[32];
    served_stamp(served);
    int v = memcmp(served, stamps[0], 32) == 0 ? 0 : memcmp(served, stamps[1], 32) == 0 ? 1 : -1;
    cr_assert_neq(v, -1, "round %d: the served stamp is neither version's", round);
    Pdp__V1__Response *r = check("read", "e7");
    cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
    cr_assert_eq(r->check->decision, v == 0 ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY,
                 "round %d: the answer is not version %d's", round, v);
    cr_assert_arr_eq(r->check->stamp.data, served, 32);
    pdp__v1__response__free_unpacked(r, NULL);
    cr_assert_eq(du_stop(&d), 0, "round %d", round);
    store_stamp(data, stored);
    cr_assert_arr_eq(served, stored, 32, "round %d: served stamp != stamp of the store's rows",
                     round);
    hits[v == on_disk]++;
    move("bundle.away", "bundle");
    /* next round: the source holds the version the store does not */
    if (v == on_disk) {
      on_disk = 1 - on_disk;
      put("bundle/entities.json", ents[on_disk]);
    }
  }
  cr_log_info("%d rounds of %d entities: %d killed before the change committed, %d after", rounds,
              n, hits[0], hits[1]);
  free(ents[0]);
  free(ents[1]);
}

Test(reload, sigterm_while_a_large_change_is_checked_exits_0_and_keeps_a_whole_store) {
  int n = wrapped() ? 2000 : 20000;
  char *ents[2] = {big_entities(n, 1), big_entities(n, 2)};
  put("bundle/policies/x.cedar", BIG_POLICY);
  put("bundle/entities.json", ents[0]);
  const char *extra[] = {"--check-interval", "1h", NULL};
  start(extra);
  uint8_t first[32], now[32], stored[32];
  served_stamp(first);
  cr_assert_eq(du_stop(&d), 0);
  /* restarted on the stored version with the other one in the source: du_start returns
   * once the stored snapshot answers, while the first check applies 2 x n rows */
  put("bundle/entities.json", ents[1]);
  start(extra);
  cr_assert_eq(du_stop(&d), 0, "SIGTERM during the check: a clean exit (and no leak)");
  char data[300];
  snprintf(data, sizeof(data), "%s/data", d.dir);
  store_stamp(data, stored);
  /* the store holds one version whole: the old one, or the new one if the check committed */
  move("bundle", "bundle.away");
  start(extra);
  served_stamp(now);
  cr_assert_arr_eq(now, stored, 32);
  Pdp__V1__Response *r = check("read", "e1");
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->check->decision,
               memcmp(now, first, 32) == 0 ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY);
  pdp__v1__response__free_unpacked(r, NULL);
  cr_assert_eq(du_stop(&d), 0);
  free(ents[0]);
  free(ents[1]);
}

/* test_srv_handlers.c - the request path without sockets: frame bytes in, framed Response
 * out, per-request memory reset, budgets and the no-snapshot case. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static srv_config cfg;
static cache_holder holder;
static srv_ctx ctx;
static pu_arena arena;
static srv_buf out;
static char dir[64];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static void setup(void) {
  srv_config_init(&cfg);
  cache_holder_init(&holder);
  ctx = (srv_ctx){
      .cfg = &cfg, .holder = &holder, .request_budget = srv_request_budget(cfg.max_frame)};
  pu_arena_init(&arena, 16384, 0);
  srv_buf_init(&out);
  snprintf(dir, sizeof(dir), "/tmp/pdpd-hXXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
  srv_buf_close(&out);
  pu_arena_close(&arena);
  cache_holder_close(&holder);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(handlers, .init = setup, .fini = teardown);

static void load_bundle(void) {
  char p[128];
  snprintf(p, sizeof(p), "%s/policies", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof(p), "%s/policies/x.cedar", dir);
  write_file(p, "@id(\"p\") permit (principal == User::\"alice\", action, resource);\n");
  cache_diag diag;
  cache_diag_init(&diag);
  pdpe_snapshot *snap;
  cr_assert(cache_dir_load(dir, &snap, &diag), "%s", diag.n ? diag.lines[0] : "");
  cache_diag_close(&diag);
  cache_holder_swap(&holder, snap);
}

/* Run one packed request through the handlers; returns the decoded Response. */
static Pdp__V1__Response *handle(const Pdp__V1__Request *rq) {
  size_t n = pdp__v1__request__get_packed_size(rq);
  uint8_t *buf = malloc(n + 1);
  pdp__v1__request__pack(rq, buf);
  out.len = 0;
  cr_assert(srv_handle_frame(&ctx, &arena, buf, n, &out));
  free(buf);
  cr_assert_eq(arena.used, 0, "the request arena is reset after each answer");
  cr_assert_geq(out.len, 4);
  uint32_t len = srv_frame_len(out.p);
  cr_assert_eq(len + 4, out.len, "exactly one framed answer");
  Pdp__V1__Response *r = pdp__v1__response__unpack(NULL, len, out.p + 4);
  cr_assert_not_null(r);
  cr_assert_not_null(r->status, "every response has a status");
  return r;
}

static Pdp__V1__EntityUid U(const char *type, const char *id) {
  Pdp__V1__EntityUid u = PDP__V1__ENTITY_UID__INIT;
  u.type = (char *)type;
  u.id = (char *)id;
  return u;
}

Test(handlers, check_is_decided_on_the_loaded_snapshot) {
  load_bundle();
  Pdp__V1__EntityUid p = U("User", "alice"), a = U("Action", "x"), res = U("Doc", "d");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &p, c.action = &a, c.resource = &res;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 5, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &c;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->id, 5);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_str_eq(r->check->reason[0], "p");
  pdpe_snapshot *snap = cache_holder_acquire(&holder);
  cr_assert_eq(memcmp(r->check->stamp.data, snap->stamp, 32), 0);
  pdpe_snapshot_unref(snap);
  pdp__v1__response__free_unpacked(r, NULL);
  cr_assert_eq(ctx.requests_total, 1);
}

Test(handlers, without_a_snapshot_checks_get_no_policy_and_health_says_so) {
  Pdp__V1__EntityUid p = U("User", "alice"), a = U("Action", "x"), res = U("Doc", "d");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &p, c.action = &a, c.resource = &res;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 6, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &c;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__NO_POLICY);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET);
  pdp__v1__response__free_unpacked(r, NULL);
  Pdp__V1__HealthRequest h = PDP__V1__HEALTH_REQUEST__INIT;
  rq.id = 7, rq.body_case = PDP__V1__REQUEST__BODY_HEALTH, rq.health = &h;
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_eq(r->health->state, PDP__V1__HEALTH_RESPONSE__STATE__NO_POLICY);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(handlers, decoding_past_the_memory_budget_is_overloaded_not_a_crash) {
  load_bundle();
  /* 20,000 request entities decode into far more than a 64 KiB budget */
  ctx.request_budget = 65536;
  size_t n = 20000;
  Pdp__V1__Entity *items = calloc(n, sizeof(*items));
  Pdp__V1__Entity **ptrs = calloc(n, sizeof(*ptrs));
  Pdp__V1__EntityUid u = U("Doc", "d");
  for (size_t i = 0; i < n; i++) {
    pdp__v1__entity__init(&items[i]);
    items[i].uid = &u;
    ptrs[i] = &items[i];
  }
  Pdp__V1__EntityUid p = U("User", "alice"), a = U("Action", "x");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &p, c.action = &a, c.resource = &u;
  c.entities = ptrs, c.n_entities = n;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 8, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &c;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->id, 8);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OVERLOADED, "%s", r->status->message);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET);
  pdp__v1__response__free_unpacked(r, NULL);
  free(items);
  free(ptrs);
  /* and the next small request is fine again */
  ctx.request_budget = srv_request_budget(cfg.max_frame);
  c.entities = NULL, c.n_entities = 0;
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(handlers, undecodable_bytes_are_a_bad_request_with_id_0) {
  const uint8_t junk[] = {0x12, 0x03, 0xff, 0xff, 0xff}; /* check = 3 bytes of nonsense */
  out.len = 0;
  cr_assert(srv_handle_frame(&ctx, &arena, junk, sizeof(junk), &out));
  Pdp__V1__Response *r = pdp__v1__response__unpack(NULL, out.len - 4, out.p + 4);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 0);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert_str_eq(r->status->message, "request: cannot decode protobuf");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(handlers, status_counts_requests_and_connections) {
  load_bundle();
  ctx.connections = 3;
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 9, rq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, rq.server_status = &s;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->server_status->connections, 3);
  cr_assert_eq(r->server_status->requests_total, 1);
  cr_assert_eq(r->server_status->policies, 1);
  cr_assert_eq(r->server_status->entities, 0);
  cr_assert_str_eq(r->server_status->version, SRV_VERSION);
  pdp__v1__response__free_unpacked(r, NULL);
  r = handle(&rq);
  cr_assert_eq(r->server_status->requests_total, 2);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(handlers, a_valid_batch_is_overloaded_or_answered_at_every_budget_never_bad) {
  load_bundle();
  enum { N = 8 };
  Pdp__V1__Entity items[N], *ptrs[N];
  Pdp__V1__EntityUid uids[N], parent = U("Group", "g");
  Pdp__V1__EntityUid *parents[] = {&parent};
  char ids[N][8];
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof(ids[i]), "u%d", i);
    uids[i] = U("User", ids[i]);
    pdp__v1__entity__init(&items[i]);
    items[i].uid = &uids[i];
    items[i].parents = parents, items[i].n_parents = 1;
    ptrs[i] = &items[i];
  }
  Pdp__V1__EntityUid p = U("User", "alice"), a = U("Action", "x"), res = U("Doc", "d");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &p, c.action = &a, c.resource = &res;
  Pdp__V1__CheckRequest *checks[] = {&c, &c};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = checks, b.n_checks = 2, b.entities = ptrs, b.n_entities = N;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 12, rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  bool answered = false, saw_entities_overloaded = false;
  for (size_t budget = 64; budget < ((size_t)1 << 22) && !answered; budget += 32) {
    ctx.request_budget = budget;
    Pdp__V1__Response *r = handle(&rq);
    cr_assert_eq(r->id, 12);
    if (r->status->code == PDP__V1__STATUS__CODE__OK) {
      answered = true;
      for (size_t i = 0; i < r->batch_check->n_results; i++)
        cr_assert_neq(r->batch_check->results[i]->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST,
                      "%s", r->batch_check->results[i]->status->message);
    } else {
      cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OVERLOADED, "budget %zu: %s", budget,
                   r->status->message);
      if (strstr(r->status->message, "batch_check.entities")) saw_entities_overloaded = true;
    }
    pdp__v1__response__free_unpacked(r, NULL);
  }
  cr_assert(answered);
  cr_assert(saw_entities_overloaded, "some budget ran out while building the shared entities");
}

Test(handlers, parent_limits_come_from_the_options_and_name_the_field) {
  load_bundle();
  cfg.max_entity_parents = 1;
  Pdp__V1__EntityUid g1 = U("Group", "g1"), g2 = U("Group", "g2"), doc = U("Doc", "d");
  Pdp__V1__EntityUid *parents[] = {&g1, &g2};
  Pdp__V1__Entity e = PDP__V1__ENTITY__INIT;
  e.uid = &doc, e.parents = parents, e.n_parents = 2;
  Pdp__V1__Entity *es[] = {&e};
  Pdp__V1__EntityUid p = U("User", "alice"), a = U("Action", "x");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &p, c.action = &a, c.resource = &doc, c.entities = es, c.n_entities = 1;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 13, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &c;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert_str_eq(r->status->message,
                   "check.entities[0].parents: 2 parents, limit 1 (max-entity-parents)");
  pdp__v1__response__free_unpacked(r, NULL);
  cfg.max_entity_parents = 2;
  cfg.max_request_parent_links = 1;
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(r->status->message, "max-request-parent-links"), "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  cfg.max_request_parent_links = 2;
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(handlers, undecodable_bytes_after_a_readable_id_are_answered_with_that_id) {
  const uint8_t junk[] = {0x08, 0x2a, 0x12, 0x03, 0xff, 0xff, 0xff}; /* id 42, bad check */
  out.len = 0;
  cr_assert(srv_handle_frame(&ctx, &arena, junk, sizeof(junk), &out));
  Pdp__V1__Response *r = pdp__v1__response__unpack(NULL, out.len - 4, out.p + 4);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 42);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert_str_eq(r->status->message, "request: cannot decode protobuf");
  pdp__v1__response__free_unpacked(r, NULL);
}

static Pdp__V1__Response *ask_health(void) {
  Pdp__V1__HealthRequest h = PDP__V1__HEALTH_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 30, rq.body_case = PDP__V1__REQUEST__BODY_HEALTH, rq.health = &h;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_not_null(r->health);
  return r;
}

static Pdp__V1__Response *ask_status(void) {
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 31, rq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, rq.server_status = &s;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_not_null(r->server_status);
  return r;
}

/* A check, a one-item batch and a list_allowed: their status codes. */
static void decisions(Pdp__V1__Status__Code want, const char *part) {
  Pdp__V1__EntityUid p = U("User", "alice"), a = U("Action", "x"), res = U("Doc", "d");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &p, c.action = &a, c.resource = &res;
  Pdp__V1__CheckRequest *cs[] = {&c};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = cs, b.n_checks = 1;
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  la.principal = &p, la.resource = &res;
  Pdp__V1__Request rqs[3] = {PDP__V1__REQUEST__INIT, PDP__V1__REQUEST__INIT,
                             PDP__V1__REQUEST__INIT};
  rqs[0].body_case = PDP__V1__REQUEST__BODY_CHECK, rqs[0].check = &c;
  rqs[1].body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rqs[1].batch_check = &b;
  rqs[2].body_case = PDP__V1__REQUEST__BODY_LIST_ALLOWED, rqs[2].list_allowed = &la;
  for (int i = 0; i < 3; i++) {
    rqs[i].id = 40 + (uint64_t)i;
    Pdp__V1__Response *r = handle(&rqs[i]);
    cr_assert_eq(r->id, 40 + (uint64_t)i);
    cr_assert_eq(r->status->code, want, "request %d: %s", i, r->status->message);
    if (want != PDP__V1__STATUS__CODE__OK) {
      cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET, "no decision with STALE");
      cr_assert(strstr(r->status->message, part), "%s", r->status->message);
    }
    pdp__v1__response__free_unpacked(r, NULL);
  }
}

Test(handlers, past_max_staleness_decisions_are_stale_with_age_limit_and_reason) {
  load_bundle();
  cfg.max_staleness_ms = 5000;
  uint64_t now = srv_mono_ms();
  ctx.fresh.confirmed_ms = now > 1000 ? now - 1000 : 1; /* 1 s old: fresh enough */
  decisions(PDP__V1__STATUS__CODE__OK, NULL);
  Pdp__V1__Response *h = ask_health();
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  cr_assert_geq(h->health->snapshot_age_ms, 1000);
  cr_assert_lt(h->health->snapshot_age_ms, 5000);
  pdp__v1__response__free_unpacked(h, NULL);

  cr_assert_gt(now, 10000, "the monotonic clock has run long enough for this test");
  ctx.fresh.confirmed_ms = now - 10000; /* 10 s old */
  ctx.fresh.failing_since_ms = now - 9000;
  ctx.fresh.failures = 4;
  snprintf(ctx.fresh.reason, sizeof(ctx.fresh.reason), "source /b: /b/policies/x.cedar:2:7: bad");
  decisions(PDP__V1__STATUS__CODE__STALE, "past max-staleness 5.0 s");
  decisions(PDP__V1__STATUS__CODE__STALE, "/b/policies/x.cedar:2:7: bad");
  decisions(PDP__V1__STATUS__CODE__STALE, "snapshot is 10.");
  h = ask_health();
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
  cr_assert(strstr(h->health->reason, "past max-staleness"), "%s", h->health->reason);
  cr_assert(strstr(h->health->reason, "(4 failed checks)"), "%s", h->health->reason);
  cr_assert_geq(h->health->snapshot_age_ms, 10000);
  pdp__v1__response__free_unpacked(h, NULL);

  cfg.max_staleness_ms = 0; /* off: the same age answers, degraded */
  decisions(PDP__V1__STATUS__CODE__OK, NULL);
  h = ask_health();
  cr_assert_eq(h->health->state, PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
  cr_assert(strncmp(h->health->reason, "source /b: /b/policies/x.cedar:2:7: bad; failing for 9.",
                    55) == 0,
            "%s", h->health->reason);
  pdp__v1__response__free_unpacked(h, NULL);
}

Test(handlers, status_reports_the_source_times_age_and_degraded_reason) {
  load_bundle();
  uint64_t now = srv_mono_ms();
  cr_assert_gt(now, 3000);
  ctx.fresh.confirmed_ms = now - 3000;
  ctx.fresh.last_check_unix_ms = 1700000000123;
  ctx.fresh.last_change_unix_ms = 1690000000456;
  Pdp__V1__Response *r = ask_status();
  char want[128];
  snprintf(want, sizeof(want), "dir:%s", cfg.source);
  cr_assert_str_eq(r->server_status->source, want);
  cr_assert_eq(r->server_status->last_check_unix_ms, 1700000000123);
  cr_assert_eq(r->server_status->last_change_unix_ms, 1690000000456);
  cr_assert_geq(r->server_status->snapshot_age_ms, 3000);
  cr_assert_lt(r->server_status->snapshot_age_ms, 60000);
  cr_assert_str_empty(r->server_status->degraded_reason);
  cr_assert_eq(r->server_status->stamp.len, 32);
  pdp__v1__response__free_unpacked(r, NULL);
  snprintf(ctx.fresh.reason, sizeof(ctx.fresh.reason), "source x: gone");
  ctx.fresh.failures = 1;
  ctx.fresh.more_errors = 2;
  r = ask_status();
  cr_assert(strncmp(r->server_status->degraded_reason,
                    "source x: gone (+2 more in the log); failing for ", 49) == 0,
            "%s", r->server_status->degraded_reason);
  pdp__v1__response__free_unpacked(r, NULL);
}

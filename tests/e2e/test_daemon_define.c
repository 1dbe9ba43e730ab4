/* test_daemon_define.c - DefinePermissions against a real pdpd: the answer comes after the
 * definitions are written to the source and stored (its stamp serves them), an unchanged
 * define writes nothing and keeps the stamp, merging keeps what is not sent, deleted removes
 * only what is listed, refusals name the field, a broken source is reported, answers on a
 * connection keep their order, clients may hang up meanwhile, concurrent defines all land, and
 * a restart without the source still serves them.
 */
#include "pdpctl_util.h"

#include <sys/socket.h>
#include <sys/stat.h>

#define POLICIES                                                                                   \
  "@id(\"staff-ship\")\n"                                                                          \
  "permit (principal in Role::\"staff\", action in Action::\"shipping\", resource);\n"

#define ENTITIES                                                                                   \
  "[{\"uid\": {\"type\": \"Role\", \"id\": \"staff\"}, \"attrs\": {}, \"parents\": []},\n"         \
  " {\"uid\": {\"type\": \"User\", \"id\": \"sam\"}, \"attrs\": {},\n"                             \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"staff\"}]}]\n"

static char bundle_dir[128];

static void start(void) {
  char data[128];
  snprintf(data, sizeof data, "%s/data", e2e_daemon.dir);
  const char *extra[] = {"--data-dir", data, "--check-interval", "1h", NULL};
  if (!du_start(&e2e_daemon, extra)) {
    char *log = du_read_file(e2e_daemon.log);
    du_stop(&e2e_daemon);
    du_cleanup(&e2e_daemon);
    cr_assert_fail("pdpd did not start: %s", log);
  }
}

static void up(void) {
  e2e_setup();
  snprintf(bundle_dir, sizeof bundle_dir, "%s/bundle", e2e_daemon.dir);
  e2e_write("bundle/policies/ship.cedar", POLICIES);
  e2e_write("bundle/entities.json", ENTITIES);
  e2e_write("bundle/permissions/orders.json", "{\"definitions\": [{\"name\": \"orders.view\"}]}\n");
  /* a grant for an action nobody has defined yet */
  e2e_write("bundle/grants.json",
            "[{\"provider\": \"U\", \"key\": \"sam\", \"permission\": \"returns.accept\"}]\n");
  start();
}

TestSuite(define, .init = up, .fini = e2e_teardown, .timeout = 300);

static pdpc_conn *conn(void) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, DU_DEADLINE_MS, &err);
  cr_assert_not_null(c, "%s", err.message);
  return c;
}

/* A define that must be answered OK; its answer in *r. */
static void define_ok(pdpc_conn *c, const char *service, const pdpc_definition *defs, size_t n,
                      const char *const *deleted, size_t n_deleted, pdpc_define_result *r) {
  int rc = pdpc_define_permissions(c, service, defs, n, deleted, n_deleted, r);
  cr_assert_eq(rc, 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(r->status, PDPC_STATUS_OK);
  cr_assert_eq(r->stamp_len, 32);
}

/* "a,b" of sam's ListAllowed on Parcel::"p", and its stamp. */
static void allowed(pdpc_conn *c, const char *prefix, char *out, size_t cap, uint8_t stamp[32]) {
  pdpc_list_req q = {
      .principal = {"User", "sam"}, .resource = {"Parcel", "p"}, .action_prefix = prefix};
  pdpc_list_result l;
  pdpc_list_result_init(&l);
  cr_assert_eq(pdpc_list_allowed(c, &q, &l), 0, "%s", pdpc_conn_error(c)->message);
  out[0] = '\0';
  for (size_t i = 0; i < l.n_actions; i++) {
    size_t k = strlen(out);
    snprintf(out + k, cap - k, "%s%s", i ? "," : "", l.actions[i].id);
  }
  if (stamp) memcpy(stamp, l.stamp, 32);
  pdpc_list_result_close(&l);
}

static uint64_t definitions_served(pdpc_conn *c) {
  pdpc_server_status s;
  cr_assert_eq(pdpc_server_status_get(c, &s), 0, "%s", pdpc_conn_error(c)->message);
  return s.definitions;
}

static const pdpc_definition ship[] = {
    {.name = "shipping.send", .display_name = "Send a parcel", .group = "shipping"},
    {.name = "shipping.track", .group = "shipping", .tenancy = PDPC_TENANCY_BOTH},
};

Test(define, a_define_is_answered_once_served_and_list_allowed_shows_it_at_once) {
  pdpc_conn *c = conn();
  char got[256];
  uint8_t before[32], after[32];
  allowed(c, "", got, sizeof got, before);
  cr_assert_str_eq(got, "", "nothing defined is allowed to sam yet");
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  define_ok(c, "shipping", ship, 2, NULL, 0, &r);
  cr_assert(r.changed);
  cr_assert_neq(memcmp(r.stamp, before, 32), 0, "a new snapshot");
  allowed(c, "", got, sizeof got, after);
  cr_assert_str_eq(got, "shipping.send,shipping.track", "sam is staff: the policy allows both");
  cr_assert_eq(memcmp(r.stamp, after, 32), 0, "the answer's stamp is the one serving them");
  /* a grant for an action without a definition decides checks, but is listed only once the
   * action is defined */
  pdpc_definition ret = {.name = "returns.accept"};
  define_ok(c, "returns", &ret, 1, NULL, 0, &r);
  allowed(c, "returns.", got, sizeof got, NULL);
  cr_assert_str_eq(got, "returns.accept");
  cr_assert_eq(definitions_served(c), 4);
  char path[256];
  snprintf(path, sizeof path, "%s/permissions/shipping.json", bundle_dir);
  char *text = du_read_file(path);
  cr_assert(strstr(text, "\"shipping.send\"") && strstr(text, "\"Send a parcel\""), "%s", text);
  free(text);
  pdpc_define_result_close(&r);
  pdpc_close(c);
}

Test(define, the_same_define_again_is_unchanged_keeps_the_stamp_and_writes_nothing) {
  pdpc_conn *c = conn();
  pdpc_define_result r1, r2;
  pdpc_define_result_init(&r1);
  pdpc_define_result_init(&r2);
  define_ok(c, "shipping", ship, 2, NULL, 0, &r1);
  cr_assert(r1.changed);
  char path[256];
  snprintf(path, sizeof path, "%s/permissions/shipping.json", bundle_dir);
  struct stat a, b;
  cr_assert_eq(stat(path, &a), 0);
  du_sleep_ms(20); /* a rewrite would show in the mtime */
  /* the same definitions in another order */
  pdpc_definition swapped[] = {ship[1], ship[0]};
  define_ok(c, "shipping", swapped, 2, NULL, 0, &r2);
  cr_assert_not(r2.changed);
  cr_assert_eq(memcmp(r1.stamp, r2.stamp, 32), 0, "same stamp");
  cr_assert_eq(stat(path, &b), 0);
  cr_assert_eq(a.st_ino, b.st_ino, "not replaced");
  cr_assert(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec,
            "not written");
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(c, &h), 0);
  cr_assert_eq(memcmp(h.stamp, r1.stamp, 32), 0);
  pdpc_define_result_close(&r1);
  pdpc_define_result_close(&r2);
  pdpc_close(c);
}

Test(define, a_subset_keeps_the_others_and_deleted_removes_only_the_listed) {
  pdpc_conn *c = conn();
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  pdpc_definition three[] = {ship[0], ship[1], {.name = "shipping.cancel", .group = "shipping"}};
  define_ok(c, "shipping", three, 3, NULL, 0, &r);
  cr_assert_eq(definitions_served(c), 4);
  /* a newer version of the service sends one, changed: the others stay */
  pdpc_definition v2 = {.name = "shipping.send", .group = "shipping", .disabled = true};
  define_ok(c, "shipping", &v2, 1, NULL, 0, &r);
  cr_assert(r.changed);
  char got[256];
  allowed(c, "shipping.", got, sizeof got, NULL);
  cr_assert_str_eq(got, "shipping.cancel,shipping.track", "send is disabled now");
  cr_assert_eq(definitions_served(c), 4);
  const char *gone[] = {"shipping.cancel", "shipping.never-defined"};
  define_ok(c, "shipping", NULL, 0, gone, 2, &r);
  cr_assert(r.changed);
  allowed(c, "shipping.", got, sizeof got, NULL);
  cr_assert_str_eq(got, "shipping.track");
  cr_assert_eq(definitions_served(c), 3, "orders.view, shipping.send, shipping.track");
  pdpc_define_result_close(&r);
  pdpc_close(c);
}

static void expect_refused(pdpc_conn *c, const char *service, const pdpc_definition *defs, size_t n,
                           const char *const *deleted, size_t n_deleted, int status,
                           const char *words) {
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  cr_assert_eq(pdpc_define_permissions(c, service, defs, n, deleted, n_deleted, &r), PDPC_E_STATUS,
               "%s", r.message);
  cr_assert_eq(r.status, status, "%s: %s", pdpc_status_name(r.status), r.message);
  cr_assert_not(r.changed);
  cr_assert(strstr(r.message, words), "'%s' lacks '%s'", r.message, words);
  pdpc_define_result_close(&r);
}

Test(define, refusals_name_the_field_and_change_nothing) {
  pdpc_conn *c = conn();
  uint8_t before[32], after[32];
  char got[256];
  allowed(c, "", got, sizeof got, before);
  expect_refused(c, "no/slash", ship, 2, NULL, 0, PDPC_STATUS_BAD_REQUEST,
                 "define_permissions.service: \"no/slash\" is not a service name");
  pdpc_definition twice[] = {ship[0], ship[0]};
  expect_refused(c, "shipping", twice, 2, NULL, 0, PDPC_STATUS_BAD_REQUEST,
                 "define_permissions.definitions[1].name: \"shipping.send\" is sent twice");
  pdpc_definition self = {.name = "a", .parent = "a"};
  expect_refused(c, "shipping", &self, 1, NULL, 0, PDPC_STATUS_BAD_REQUEST,
                 "define_permissions.definitions[0].parent: equals the name");
  const char *del[] = {"shipping.track"};
  expect_refused(c, "shipping", ship, 2, del, 1, PDPC_STATUS_BAD_REQUEST,
                 "define_permissions.deleted[0]: \"shipping.track\" is also sent");
  /* a name belongs to one service: found under the source lock */
  pdpc_definition theirs = {.name = "orders.view"};
  expect_refused(c, "shipping", &theirs, 1, NULL, 0, PDPC_STATUS_BAD_REQUEST,
                 "define_permissions.definitions[0].name: \"orders.view\" is already defined by "
                 "service \"orders\"");
  allowed(c, "", got, sizeof got, after);
  cr_assert_eq(memcmp(before, after, 32), 0, "still the same snapshot");
  char path[256];
  snprintf(path, sizeof path, "%s/permissions/shipping.json", bundle_dir);
  cr_assert_neq(access(path, F_OK), 0, "nothing was written");
  pdpc_close(c);
}

Test(define, definitions_that_would_make_the_action_hierarchy_cyclic_are_refused_unwritten) {
  pdpc_conn *c = conn();
  uint8_t before[32], after[32];
  char got[256];
  allowed(c, "", got, sizeof got, before);
  /* each the other's parent: refused before anything is written */
  pdpc_definition cyc[] = {{.name = "shipping.a", .parent = "shipping.b"},
                           {.name = "shipping.b", .parent = "shipping.a"}};
  expect_refused(c, "shipping", cyc, 2, NULL, 0, PDPC_STATUS_BAD_REQUEST,
                 "define_permissions.definitions: the Action hierarchy would not load: ");
  expect_refused(c, "shipping", cyc, 2, NULL, 0, PDPC_STATUS_BAD_REQUEST, "cycle");
  char path[256];
  snprintf(path, sizeof path, "%s/permissions/shipping.json", bundle_dir);
  cr_assert_neq(access(path, F_OK), 0, "nothing was written");
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(c, &h), 0);
  cr_assert_eq(h.state, PDPC_HEALTH_SERVING, "%s", h.reason);
  allowed(c, "", got, sizeof got, after);
  cr_assert_eq(memcmp(before, after, 32), 0, "the same snapshot serves");
  /* one edge alone is fine */
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  define_ok(c, "shipping", cyc, 1, NULL, 0, &r);
  cr_assert(r.changed);
  allowed(c, "", got, sizeof got, after);
  cr_assert_eq(memcmp(r.stamp, after, 32), 0);
  pdpc_define_result_close(&r);
  pdpc_close(c);
}

Test(define, an_unchanged_define_is_answered_from_the_served_snapshot_even_while_the_source_fails) {
  pdpc_conn *c = conn();
  pdpc_define_result r1, r2;
  pdpc_define_result_init(&r1);
  pdpc_define_result_init(&r2);
  define_ok(c, "shipping", ship, 2, NULL, 0, &r1);
  /* a broken policy file: every later check of the source fails */
  e2e_write("bundle/policies/broken.cedar", "permit (principal, action, resource) when { 1 + };\n");
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  pdpc_health h;
  do {
    cr_assert_eq(pdpc_health_check(c, &h), 0);
    if (h.state != PDPC_HEALTH_DEGRADED) du_sleep_ms(20);
  } while (h.state != PDPC_HEALTH_DEGRADED && du_now_ms() < deadline);
  cr_assert_eq(h.state, PDPC_HEALTH_DEGRADED, "the change event was seen");
  /* no check is needed (or possible): the served snapshot already has exactly these */
  define_ok(c, "shipping", ship, 2, NULL, 0, &r2);
  cr_assert_not(r2.changed);
  cr_assert_eq(memcmp(r1.stamp, r2.stamp, 32), 0);
  /* a change is written, but cannot be served while the source fails */
  pdpc_definition more = {.name = "shipping.more", .group = "shipping"};
  expect_refused(c, "shipping", &more, 1, NULL, 0, PDPC_STATUS_INTERNAL, "broken.cedar");
  pdpc_define_result_close(&r1);
  pdpc_define_result_close(&r2);
  pdpc_close(c);
}

/* ---- the connection while a define is written ----------------------------------------------- */

static void define_request(Pdp__V1__Request *rq, Pdp__V1__DefinePermissionsRequest *dp,
                           Pdp__V1__PermissionDefinition *d, Pdp__V1__PermissionDefinition **dps,
                           uint64_t id, const char *service, const char *name) {
  pdp__v1__request__init(rq);
  pdp__v1__define_permissions_request__init(dp);
  pdp__v1__permission_definition__init(d);
  d->name = (char *)name;
  d->group = "shipping";
  dps[0] = d;
  dp->service = (char *)service;
  dp->definitions = dps;
  dp->n_definitions = 1;
  rq->id = id;
  rq->body_case = PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS;
  rq->define_permissions = dp;
}

Test(define, answers_on_a_pipelined_connection_keep_their_order) {
  int fd = du_connect(e2e_daemon.sock);
  cr_assert_geq(fd, 0);
  /* check, define, check, define, health in one write: the answers come back in this order */
  Pdp__V1__Request dr[2];
  Pdp__V1__DefinePermissionsRequest dp[2];
  Pdp__V1__PermissionDefinition d[2], *dps[2][1];
  define_request(&dr[0], &dp[0], &d[0], dps[0], 2, "shipping", "shipping.send");
  define_request(&dr[1], &dp[1], &d[1], dps[1], 4, "shipping", "shipping.track");
  du_check c1, c3;
  du_check_init(&c1, 1, "sam", "shipping.send", "p");
  du_check_init(&c3, 3, "sam", "shipping.send", "p");
  Pdp__V1__HealthRequest hr;
  Pdp__V1__Request h = du_health_request(5, &hr);
  uint8_t *buf = NULL;
  size_t len = 0;
  len = du_frame(&buf, len, &c1.rq);
  len = du_frame(&buf, len, &dr[0]);
  len = du_frame(&buf, len, &c3.rq);
  len = du_frame(&buf, len, &dr[1]);
  len = du_frame(&buf, len, &h);
  cr_assert(du_write_all(fd, buf, len));
  free(buf);
  Pdp__V1__Response *r[5];
  for (int i = 0; i < 5; i++) {
    r[i] = du_recv(fd);
    cr_assert_not_null(r[i], "answer %d", i);
    cr_assert_eq(r[i]->id, (uint64_t)i + 1, "answers in request order");
    cr_assert_eq(r[i]->status->code, PDP__V1__STATUS__CODE__OK, "%s", r[i]->status->message);
  }
  /* Doc::"p" for du_check: the policy does not care about the resource type */
  cr_assert_eq(r[0]->check->decision, PDP__V1__DECISION__DENY, "not defined yet: not in shipping");
  cr_assert(r[1]->define_permissions->changed);
  cr_assert_eq(r[2]->check->decision, PDP__V1__DECISION__ALLOW, "decided after the define");
  cr_assert_eq(memcmp(r[2]->check->stamp.data, r[1]->define_permissions->stamp.data, 32), 0);
  cr_assert(r[3]->define_permissions->changed);
  cr_assert_eq(memcmp(r[4]->health->stamp.data, r[3]->define_permissions->stamp.data, 32), 0);
  for (int i = 0; i < 5; i++) pdp__v1__response__free_unpacked(r[i], NULL);
  close(fd);
}

Test(define, a_client_that_hangs_up_during_a_define_leaves_pdpd_serving_its_definitions) {
  for (int i = 0; i < 5; i++) {
    int fd = du_connect(e2e_daemon.sock);
    cr_assert_geq(fd, 0);
    Pdp__V1__Request rq;
    Pdp__V1__DefinePermissionsRequest dp;
    Pdp__V1__PermissionDefinition d, *dps[1];
    char name[32];
    snprintf(name, sizeof name, "shipping.n%d", i);
    define_request(&rq, &dp, &d, dps, 1, "shipping", name);
    cr_assert(du_send(fd, &rq));
    if (i % 2) shutdown(fd, SHUT_WR); /* done sending: the answer is still written */
    if (i % 2) {
      Pdp__V1__Response *r = du_recv(fd);
      cr_assert_not_null(r);
      cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
      pdp__v1__response__free_unpacked(r, NULL);
    }
    close(fd);
  }
  pdpc_conn *c = conn();
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  char got[256] = "";
  const char *want = "shipping.n0,shipping.n1,shipping.n2,shipping.n3,shipping.n4";
  while (du_now_ms() < deadline) { /* the hung-up ones are served by a later check */
    allowed(c, "shipping.", got, sizeof got, NULL);
    if (strcmp(got, want) == 0) break;
    du_sleep_ms(20);
  }
  cr_assert_str_eq(got, want);
  pdpc_close(c);
}

#define CONCURRENT 6

Test(define, defines_from_many_connections_at_once_all_land) {
  int fds[CONCURRENT];
  for (int i = 0; i < CONCURRENT; i++) {
    fds[i] = du_connect(e2e_daemon.sock);
    cr_assert_geq(fds[i], 0);
  }
  for (int i = 0; i < CONCURRENT; i++) { /* every request is sent before any answer is read */
    Pdp__V1__Request rq;
    Pdp__V1__DefinePermissionsRequest dp;
    Pdp__V1__PermissionDefinition d, *dps[1];
    char name[32];
    snprintf(name, sizeof name, "shipping.c%d", i);
    define_request(&rq, &dp, &d, dps, 100 + (uint64_t)i, i % 2 ? "shipping" : "tracking", name);
    cr_assert(du_send(fds[i], &rq));
  }
  pdpc_conn *c = conn();
  for (int i = 0; i < CONCURRENT; i++) {
    Pdp__V1__Response *r = du_recv(fds[i]);
    cr_assert_not_null(r);
    cr_assert_eq(r->id, 100 + (uint64_t)i);
    cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
    cr_assert(r->define_permissions->changed);
    /* served by the time it is answered */
    char got[256], want[32];
    allowed(c, "", got, sizeof got, NULL);
    snprintf(want, sizeof want, "shipping.c%d", i);
    cr_assert(strstr(got, want), "%s lacks %s", got, want);
    pdp__v1__response__free_unpacked(r, NULL);
    close(fds[i]);
  }
  cr_assert_eq(definitions_served(c), 1 + CONCURRENT);
  pdpc_close(c);
}

Test(define, defined_permissions_survive_a_restart_without_the_source) {
  pdpc_conn *c = conn();
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  define_ok(c, "shipping", ship, 2, NULL, 0, &r);
  pdpc_define_result_close(&r);
  pdpc_close(c);
  e2e_stop_daemon();
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", bundle_dir);
  cr_assert_eq(system(cmd), 0);
  start();
  c = conn();
  char got[256];
  allowed(c, "", got, sizeof got, NULL);
  cr_assert_str_eq(got, "shipping.send,shipping.track");
  /* the source is gone: a define cannot be written */
  pdpc_definition more = {.name = "shipping.more"};
  expect_refused(c, "shipping", &more, 1, NULL, 0, PDPC_STATUS_INTERNAL, "not a source directory");
  pdpc_close(c);
}

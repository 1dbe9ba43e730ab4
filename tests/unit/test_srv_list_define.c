/* test_srv_list_define.c - ListAllowed, DefinePermissions validation, Status counts, the
 * Action entity rule and grant lookup failures, through the request path without sockets:
 * frame bytes in, framed Response out, on a snapshot built from a real store (grants and
 * definitions come from the store's view). */
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

static void write_file(const char *rel, const char *text) {
  char p[256];
  snprintf(p, sizeof(p), "%s/b/%s", dir, rel);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f, "%s", p);
  fputs(text, f);
  cr_assert_eq(fclose(f), 0);
}

/* alice (tenant acme) is a clerk; bob (host) is a clerk; clerks may view by a grant; edit is
 * permitted by a policy, delete is disabled, audit is host only, export takes users' grants
 * only. */
static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/pdpd-ldXXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char p[128];
  snprintf(p, sizeof p, "%s/b", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/b/policies", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/b/permissions", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  write_file("policies/x.cedar",
             "@id(\"edit\") permit (principal in Role::\"clerk\", action == Action::\"o.edit\", "
             "resource);\n");
  write_file(
      "entities.json",
      "[{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {\"tenant\": \"acme\"},"
      "  \"parents\": [{\"type\": \"Role\", \"id\": \"clerk\"}]},"
      " {\"uid\": {\"type\": \"User\", \"id\": \"bob\"}, \"attrs\": {},"
      "  \"parents\": [{\"type\": \"Role\", \"id\": \"clerk\"}]},"
      " {\"uid\": {\"type\": \"Role\", \"id\": \"clerk\"}, \"attrs\": {}, \"parents\": []}]");
  write_file("permissions/o.json", "{\"definitions\": [{\"name\": \"o.view\", \"group\": \"o\"},"
                                   " {\"name\": \"o.edit\", \"group\": \"o\"},"
                                   " {\"name\": \"o.delete\", \"disabled\": true},"
                                   " {\"name\": \"o.export\", \"allowed_providers\": [\"U\"]},"
                                   " {\"name\": \"audit\", \"tenancy\": \"host\"}]}");
  write_file("grants.json",
             "[{\"provider\": \"R\", \"key\": \"clerk\", \"permission\": \"o.view\"},"
             " {\"provider\": \"R\", \"key\": \"clerk\", \"permission\": \"o.view\","
             "  \"tenant\": \"acme\"},"
             " {\"provider\": \"R\", \"key\": \"clerk\", \"permission\": \"o.delete\"},"
             " {\"provider\": \"R\", \"key\": \"clerk\", \"permission\": \"o.export\"},"
             " {\"provider\": \"R\", \"key\": \"clerk\", \"permission\": \"audit\"},"
             " {\"provider\": \"R\", \"key\": \"clerk\", \"permission\": \"audit\","
             "  \"tenant\": \"acme\"}]");
  srv_config_init(&cfg);
  snprintf(cfg.source, sizeof cfg.source, "%s/b", dir);
  cache_holder_init(&holder);
  ctx = (srv_ctx){
      .cfg = &cfg, .holder = &holder, .request_budget = srv_request_budget(cfg.max_frame)};
  pu_arena_init(&arena, 16384, 0);
  srv_buf_init(&out);
  /* the snapshot pdpd serves: synced into a store and read back as a view */
  cache_store *store;
  cache_store_err err;
  snprintf(p, sizeof p, "%s/data", dir);
  cr_assert_eq(cache_store_open(p, 0, &store, &err), 0, "%s", err.message);
  cache_diag diag;
  cache_diag_init(&diag);
  cache_sync_info info;
  cr_assert(cache_sync_from_dir(store, cfg.source, &info, &diag), "%s",
            diag.n ? diag.lines[0] : "");
  cache_diag_close(&diag);
  cache_holder_swap(&holder, info.snapshot);
  cache_store_close(store); /* the view keeps it open */
}

static void teardown(void) {
  srv_buf_close(&out);
  pu_arena_close(&arena);
  cache_holder_close(&holder);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(list_define, .init = setup, .fini = teardown);

static Pdp__V1__Response *handle(const Pdp__V1__Request *rq) {
  size_t n = pdp__v1__request__get_packed_size(rq);
  uint8_t *buf = malloc(n + 1);
  pdp__v1__request__pack(rq, buf);
  out.len = 0;
  cr_assert(srv_handle_frame(&ctx, &arena, buf, n, &out));
  free(buf);
  cr_assert_eq(arena.used, 0, "the request arena is reset after each answer");
  uint32_t len = srv_frame_len(out.p);
  cr_assert_eq(len + 4, out.len, "exactly one framed answer");
  Pdp__V1__Response *r = pdp__v1__response__unpack(NULL, len, out.p + 4);
  cr_assert_not_null(r);
  cr_assert_not_null(r->status);
  cr_assert_eq(r->id, rq->id, "the answer carries the request's id");
  return r;
}

static Pdp__V1__EntityUid U(const char *type, const char *id) {
  Pdp__V1__EntityUid u = PDP__V1__ENTITY_UID__INIT;
  u.type = (char *)type;
  u.id = (char *)id;
  return u;
}

static Pdp__V1__Response *list(Pdp__V1__ListAllowedRequest *la) {
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 7, rq.body_case = PDP__V1__REQUEST__BODY_LIST_ALLOWED, rq.list_allowed = la;
  return handle(&rq);
}

/* "a,b,c" of a list answer's action ids; every action is of type Action. */
static void expect_actions(Pdp__V1__Response *r, const char *want) {
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_not_null(r->list_allowed);
  cr_assert_eq(r->list_allowed->stamp.len, 32);
  char got[256] = "";
  for (size_t i = 0; i < r->list_allowed->n_actions; i++) {
    cr_assert_str_eq(r->list_allowed->actions[i]->type, "Action");
    size_t n = strlen(got);
    snprintf(got + n, sizeof got - n, "%s%s", i ? "," : "", r->list_allowed->actions[i]->id);
  }
  cr_assert_str_eq(got, want);
}

static void expect_status(Pdp__V1__Response *r, Pdp__V1__Status__Code code, const char *words) {
  cr_assert_eq(r->status->code, code, "status %d: %s", r->status->code, r->status->message);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET, "no body without OK");
  cr_assert(strstr(r->status->message, words), "'%s' lacks '%s'", r->status->message, words);
}

Test(list_define, list_allowed_gives_the_defined_actions_a_check_would_allow_in_name_order) {
  Pdp__V1__EntityUid bob = U("User", "bob"), alice = U("User", "alice"), doc = U("Doc", "d");
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  la.principal = &bob, la.resource = &doc;
  Pdp__V1__Response *r = list(&la);
  /* view by grant, edit by policy, audit (host) by grant; delete disabled; export: users only */
  expect_actions(r, "audit,o.edit,o.view");
  pdp__v1__response__free_unpacked(r, NULL);
  la.action_prefix = "o.";
  r = list(&la);
  expect_actions(r, "o.edit,o.view");
  pdp__v1__response__free_unpacked(r, NULL);
  la.principal = &alice, la.action_prefix = "";
  r = list(&la);
  expect_actions(r, "o.edit,o.view"); /* audit is host only; alice's view grant is acme's */
  pdp__v1__response__free_unpacked(r, NULL);
  la.action_prefix = "zz";
  r = list(&la);
  expect_actions(r, "");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(list_define, list_allowed_reads_request_entities_like_a_check) {
  /* dave is sent with the request as a clerk of tenant acme */
  Pdp__V1__EntityUid dave = U("User", "dave"), doc = U("Doc", "d"), clerk = U("Role", "clerk");
  Pdp__V1__EntityUid *parents[] = {&clerk};
  Pdp__V1__Value tv = PDP__V1__VALUE__INIT;
  tv.kind_case = PDP__V1__VALUE__KIND_STRING, tv.string = "acme";
  Pdp__V1__Attribute ta = PDP__V1__ATTRIBUTE__INIT, *attrs[] = {&ta};
  ta.key = "tenant", ta.value = &tv;
  Pdp__V1__Entity e = PDP__V1__ENTITY__INIT, *es[] = {&e};
  e.uid = &dave, e.parents = parents, e.n_parents = 1, e.attrs = attrs, e.n_attrs = 1;
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  la.principal = &dave, la.resource = &doc, la.entities = es, la.n_entities = 1;
  Pdp__V1__Response *r = list(&la);
  expect_actions(r, "o.edit,o.view");
  pdp__v1__response__free_unpacked(r, NULL);
  e.n_attrs = 0; /* a host clerk */
  r = list(&la);
  expect_actions(r, "audit,o.edit,o.view");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(list_define, list_allowed_refuses_what_a_check_refuses_naming_list_allowed_fields) {
  Pdp__V1__EntityUid bob = U("User", "bob"), doc = U("Doc", "d"), empty = U("User", "");
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  la.resource = &doc;
  Pdp__V1__Response *r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "list_allowed.principal: missing");
  pdp__v1__response__free_unpacked(r, NULL);
  la.principal = &empty;
  r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "list_allowed.principal.id: empty");
  pdp__v1__response__free_unpacked(r, NULL);
  la.principal = &bob, la.resource = NULL;
  r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "list_allowed.resource: missing");
  pdp__v1__response__free_unpacked(r, NULL);
  la.resource = &doc, la.token = "a.b.c";
  r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "give principal or token, not both");
  pdp__v1__response__free_unpacked(r, NULL);
  la.token = "";
  char *prefix = malloc(SRV_MAX_ACTION_PREFIX + 2);
  memset(prefix, 'a', SRV_MAX_ACTION_PREFIX + 1);
  prefix[SRV_MAX_ACTION_PREFIX + 1] = '\0';
  la.action_prefix = prefix;
  r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "list_allowed.action_prefix: 1025 bytes");
  pdp__v1__response__free_unpacked(r, NULL);
  prefix[SRV_MAX_ACTION_PREFIX] = '\0'; /* exactly the limit: answered */
  r = list(&la);
  expect_actions(r, "");
  pdp__v1__response__free_unpacked(r, NULL);
  free(prefix);
}

Test(list_define, request_entities_of_an_action_type_are_refused_naming_the_uid) {
  Pdp__V1__EntityUid bob = U("User", "bob"), doc = U("Doc", "d"), act = U("Action", "o.view");
  Pdp__V1__EntityUid nsact = U("App::Action", "x"), notact = U("Actions", "x");
  Pdp__V1__EntityUid other = U("Doc", "e");
  Pdp__V1__Entity e0 = PDP__V1__ENTITY__INIT, e1 = PDP__V1__ENTITY__INIT;
  Pdp__V1__Entity *es[] = {&e0, &e1};
  e0.uid = &other, e1.uid = &act;
  /* check */
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &bob, c.action = &act, c.resource = &doc, c.entities = es, c.n_entities = 2;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 3, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &c;
  Pdp__V1__Response *r = handle(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST,
                "check.entities[1].uid: type Action: a "
                "request may not send actions");
  pdp__v1__response__free_unpacked(r, NULL);
  e1.uid = &nsact;
  r = handle(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "check.entities[1].uid: type App::Action");
  pdp__v1__response__free_unpacked(r, NULL);
  e1.uid = &notact; /* only Action and ...::Action are actions */
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  /* batch: shared and per check */
  e1.uid = &act;
  c.n_entities = 0;
  Pdp__V1__CheckRequest *cs[] = {&c};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = cs, b.n_checks = 1, b.entities = es, b.n_entities = 2;
  rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  r = handle(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "batch_check.entities[1].uid: type Action");
  pdp__v1__response__free_unpacked(r, NULL);
  b.n_entities = 0, c.entities = es, c.n_entities = 2;
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_eq(r->batch_check->results[0]->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(r->batch_check->results[0]->status->message,
                   "batch_check.checks[0].entities[1].uid: type Action"),
            "%s", r->batch_check->results[0]->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  /* list_allowed */
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  la.principal = &bob, la.resource = &doc, la.entities = es, la.n_entities = 2;
  r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "list_allowed.entities[1].uid: type Action");
  pdp__v1__response__free_unpacked(r, NULL);
}

/* A lookup that fails like a broken store read. */
static int failing_lookup(void *c, const pdpe_grant_key *k, char *err, size_t cap) {
  (void)c, (void)k;
  snprintf(err, cap, "MDB_CORRUPTED: the page is broken");
  return -1;
}

Test(list_define, a_failed_grant_lookup_answers_internal_with_its_message_never_allow) {
  pdpe_snapshot *snap = cache_holder_acquire(&holder);
  snap->grants.lookup = failing_lookup; /* the view (ctx, release) stays as it is */
  Pdp__V1__EntityUid bob = U("User", "bob"), doc = U("Doc", "d"), edit = U("Action", "o.edit");
  Pdp__V1__CheckRequest c = PDP__V1__CHECK_REQUEST__INIT;
  c.principal = &bob, c.action = &edit, c.resource = &doc;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 9, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &c;
  Pdp__V1__Response *r = handle(&rq); /* a policy permits, but the grants cannot be read */
  expect_status(r, PDP__V1__STATUS__CODE__INTERNAL, "check: grant lookup ");
  cr_assert(strstr(r->status->message, "MDB_CORRUPTED: the page is broken"), "%s",
            r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  la.principal = &bob, la.resource = &doc;
  r = list(&la);
  expect_status(r, PDP__V1__STATUS__CODE__INTERNAL, "list_allowed: grant lookup ");
  cr_assert(strstr(r->status->message, "MDB_CORRUPTED"), "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  /* a disabled definition looks nothing up: still decided */
  Pdp__V1__EntityUid del = U("Action", "o.delete");
  c.action = &del;
  r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__DENY);
  cr_assert_str_eq(r->check->reason[0], "definition:o.delete:disabled");
  pdp__v1__response__free_unpacked(r, NULL);
  pdpe_snapshot_unref(snap);
}

Test(list_define, status_counts_the_snapshots_grants_and_definitions) {
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 31, rq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, rq.server_status = &s;
  Pdp__V1__Response *r = handle(&rq);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_eq(r->server_status->grants, 6);
  cr_assert_eq(r->server_status->definitions, 5);
  cr_assert_eq(r->server_status->policies, 1);
  cr_assert_eq(r->server_status->entities, 3 + 5, "3 stored entities and 5 defined actions");
  pdp__v1__response__free_unpacked(r, NULL);
}

/* ---- DefinePermissions: validation ------------------------------------------------------- */

typedef struct define_rq {
  Pdp__V1__Request rq;
  Pdp__V1__DefinePermissionsRequest dp;
  Pdp__V1__PermissionDefinition d[3];
  Pdp__V1__PermissionDefinition *dps[3];
} define_rq;

static void define_init(define_rq *x, const char *service) {
  pdp__v1__request__init(&x->rq);
  pdp__v1__define_permissions_request__init(&x->dp);
  x->rq.id = 12;
  x->rq.body_case = PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS;
  x->rq.define_permissions = &x->dp;
  x->dp.service = (char *)service;
  static const char *names[] = {"v.view", "v.edit", "v.delete"};
  for (int i = 0; i < 3; i++) {
    pdp__v1__permission_definition__init(&x->d[i]);
    x->d[i].name = (char *)names[i];
    x->dps[i] = &x->d[i];
  }
  x->dp.definitions = x->dps;
  x->dp.n_definitions = 3;
}

static void expect_define_refused(define_rq *x, const char *words) {
  Pdp__V1__Response *r = handle(&x->rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, words);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(list_define, define_permissions_refuses_a_bad_request_naming_the_field) {
  define_rq x;
  define_init(&x, "bad name");
  expect_define_refused(&x, "define_permissions.service: \"bad name\" is not a service name");
  define_init(&x, ".hidden");
  expect_define_refused(&x, "define_permissions.service");
  define_init(&x, "v");
  x.d[2].name = "";
  expect_define_refused(&x, "define_permissions.definitions[2].name: empty");
  define_init(&x, "v");
  x.d[1].group = "v.edit";
  expect_define_refused(&x, "define_permissions.definitions[1].group: equals the name");
  define_init(&x, "v");
  char *longer = malloc(CACHE_DEFINITION_FIELD_MAX + 2);
  memset(longer, 'x', CACHE_DEFINITION_FIELD_MAX + 1);
  longer[CACHE_DEFINITION_FIELD_MAX + 1] = '\0';
  x.d[0].display_name = longer;
  expect_define_refused(&x, "define_permissions.definitions[0].display_name: 1025 bytes");
  free(longer);
  define_init(&x, "v");
  x.d[1].tenancy = (Pdp__V1__Tenancy)7;
  expect_define_refused(&x, "define_permissions.definitions[1].tenancy: 7 is not a tenancy");
  define_init(&x, "v");
  Pdp__V1__Provider bad[] = {PDP__V1__PROVIDER__PROVIDER_ROLE,
                             PDP__V1__PROVIDER__PROVIDER_UNSPECIFIED};
  x.d[2].allowed_providers = bad, x.d[2].n_allowed_providers = 2;
  expect_define_refused(&x, "define_permissions.definitions[2].allowed_providers[1]: 0 is not a "
                            "provider");
  Pdp__V1__Provider twice[] = {PDP__V1__PROVIDER__PROVIDER_USER, PDP__V1__PROVIDER__PROVIDER_USER};
  x.d[2].allowed_providers = twice;
  expect_define_refused(&x, "definitions[2].allowed_providers[1]: PROVIDER_USER is listed twice");
  define_init(&x, "v");
  x.d[2].name = "v.view";
  expect_define_refused(&x, "define_permissions.definitions[2].name: \"v.view\" is sent twice "
                            "(definitions[0])");
  define_init(&x, "v");
  char *del[] = {"v.gone", "v.edit"};
  x.dp.deleted = del, x.dp.n_deleted = 2;
  expect_define_refused(&x, "define_permissions.deleted[1]: \"v.edit\" is also sent "
                            "(definitions[1])");
  del[1] = "";
  expect_define_refused(&x, "define_permissions.deleted[1]: empty");
  del[1] = "v.gone";
  expect_define_refused(&x,
                        "define_permissions.deleted[1]: \"v.gone\" is listed twice (deleted[0])");
  /* properties are converted like a context */
  define_init(&x, "v");
  Pdp__V1__Value v1 = PDP__V1__VALUE__INIT, v2 = PDP__V1__VALUE__INIT;
  v1.kind_case = PDP__V1__VALUE__KIND_LONG, v1.long_ = 1;
  v2.kind_case = PDP__V1__VALUE__KIND_LONG, v2.long_ = 2;
  Pdp__V1__Attribute a1 = PDP__V1__ATTRIBUTE__INIT, a2 = PDP__V1__ATTRIBUTE__INIT;
  a1.key = "risk", a1.value = &v1, a2.key = "risk", a2.value = &v2;
  Pdp__V1__Attribute *props[] = {&a1, &a2};
  x.d[1].properties = props, x.d[1].n_properties = 2;
  expect_define_refused(&x, "define_permissions.definitions[1].properties");
}

Test(list_define, a_valid_define_without_a_daemon_is_unimplemented_and_writes_nothing) {
  define_rq x;
  define_init(&x, "v");
  Pdp__V1__Value v = PDP__V1__VALUE__INIT;
  v.kind_case = PDP__V1__VALUE__KIND_STRING, v.string = "high";
  Pdp__V1__Attribute a = PDP__V1__ATTRIBUTE__INIT, *props[] = {&a};
  a.key = "risk", a.value = &v;
  x.d[0].properties = props, x.d[0].n_properties = 1;
  Pdp__V1__Response *r = handle(&x.rq);
  expect_status(r, PDP__V1__STATUS__CODE__UNIMPLEMENTED, "no source to write to");
  pdp__v1__response__free_unpacked(r, NULL);
  char p[128];
  snprintf(p, sizeof p, "%s/b/permissions/v.json", dir);
  cr_assert_neq(access(p, F_OK), 0, "nothing was written");
}

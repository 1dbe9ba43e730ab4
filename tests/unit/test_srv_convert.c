/* test_srv_convert.c - protocol round trips: pack a Request, unpack it, convert it to the
 * engine's values, and compare with the same data given as Cedar JSON. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static pu_arena arena;
static char err[512];
static srv_convert cv;

static void setup(void) {
  pu_arena_init(&arena, 4096, 0);
  err[0] = '\0';
  cv = (srv_convert){.arena = &arena,
                     .max_value_depth = 32,
                     .max_entities = 1000,
                     .max_entity_parents = 100,
                     .max_parent_links = 10000,
                     .err = err,
                     .err_cap = sizeof(err)};
}
static void teardown(void) {
  pu_arena_close(&arena);
}

TestSuite(convert, .init = setup, .fini = teardown);

/* ---- builders for protobuf values (static storage per call site is enough here) ---- */

static Pdp__V1__Value *v_new(void) {
  Pdp__V1__Value *v = pu_arena_zalloc(&arena, sizeof(*v));
  pdp__v1__value__init(v);
  return v;
}
static Pdp__V1__Value *v_long(int64_t l) {
  Pdp__V1__Value *v = v_new();
  v->kind_case = PDP__V1__VALUE__KIND_LONG;
  v->long_ = l;
  return v;
}
static Pdp__V1__Value *v_bool(bool b) {
  Pdp__V1__Value *v = v_new();
  v->kind_case = PDP__V1__VALUE__KIND_BOOL;
  v->bool_ = b;
  return v;
}
static Pdp__V1__Value *v_str(const char *s) {
  Pdp__V1__Value *v = v_new();
  v->kind_case = PDP__V1__VALUE__KIND_STRING;
  v->string = (char *)s;
  return v;
}
static Pdp__V1__EntityUid *uid(const char *type, const char *id) {
  Pdp__V1__EntityUid *u = pu_arena_zalloc(&arena, sizeof(*u));
  pdp__v1__entity_uid__init(u);
  u->type = (char *)type;
  u->id = (char *)id;
  return u;
}
static Pdp__V1__Value *v_entity(const char *type, const char *id) {
  Pdp__V1__Value *v = v_new();
  v->kind_case = PDP__V1__VALUE__KIND_ENTITY;
  v->entity = uid(type, id);
  return v;
}
static Pdp__V1__Value *v_ext(const char *fn, const char *arg) {
  Pdp__V1__Value *v = v_new();
  Pdp__V1__ExtensionCall *x = pu_arena_zalloc(&arena, sizeof(*x));
  pdp__v1__extension_call__init(x);
  x->fn = (char *)fn;
  x->arg = (char *)arg;
  v->kind_case = PDP__V1__VALUE__KIND_EXTENSION;
  v->extension = x;
  return v;
}
static Pdp__V1__Value *v_set(size_t n, Pdp__V1__Value **items) {
  Pdp__V1__Value *v = v_new();
  Pdp__V1__ValueSet *s = pu_arena_zalloc(&arena, sizeof(*s));
  pdp__v1__value_set__init(s);
  s->items = pu_arena_alloc(&arena, n * sizeof(*items) + 1);
  memcpy(s->items, items, n * sizeof(*items));
  s->n_items = n;
  v->kind_case = PDP__V1__VALUE__KIND_SET;
  v->set = s;
  return v;
}
static Pdp__V1__Record *rec(size_t n, const char **keys, Pdp__V1__Value **vals) {
  Pdp__V1__Record *r = pu_arena_zalloc(&arena, sizeof(*r));
  pdp__v1__record__init(r);
  r->fields = pu_arena_alloc(&arena, n * sizeof(*r->fields) + 1);
  for (size_t i = 0; i < n; i++) {
    Pdp__V1__Attribute *a = pu_arena_zalloc(&arena, sizeof(*a));
    pdp__v1__attribute__init(a);
    a->key = (char *)keys[i];
    a->value = vals[i];
    r->fields[i] = a;
  }
  r->n_fields = n;
  return r;
}
static Pdp__V1__Value *v_rec(size_t n, const char **keys, Pdp__V1__Value **vals) {
  Pdp__V1__Value *v = v_new();
  v->kind_case = PDP__V1__VALUE__KIND_RECORD;
  v->record = rec(n, keys, vals);
  return v;
}

/* Pack `rq`, unpack it again (the wire round trip), and return the decoded copy. */
static Pdp__V1__Request *round_trip(const Pdp__V1__Request *rq) {
  size_t n = pdp__v1__request__get_packed_size(rq);
  uint8_t *buf = pu_arena_alloc(&arena, n + 1);
  pdp__v1__request__pack(rq, buf);
  Pdp__V1__Request *out = pdp__v1__request__unpack(NULL, n, buf);
  cr_assert_not_null(out);
  return out;
}

static Pdp__V1__CheckRequest *check_of(Pdp__V1__Record *context) {
  Pdp__V1__CheckRequest *c = pu_arena_zalloc(&arena, sizeof(*c));
  pdp__v1__check_request__init(c);
  c->principal = uid("User", "alice");
  c->action = uid("Action", "view");
  c->resource = uid("Doc", "d1");
  c->context = context;
  return c;
}

static void expect_json(const pdpe_value *got, const char *json) {
  json_error_t je;
  json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
  cr_assert_not_null(j, "bad test JSON: %s", je.text);
  pdpe_value want;
  char e[256];
  cr_assert(pdpe_value_from_json(&arena, j, "want", &want, e, sizeof(e)), "%s", e);
  json_decref(j);
  pu_str g = pdpe_value_to_json(&arena, got);
  cr_assert(pdpe_value_eq(got, &want), "got %.*s want %s", (int)g.len, g.ptr, json);
}

Test(convert, every_value_kind_survives_the_wire_and_matches_cedar_json) {
  Pdp__V1__Value *set_items[] = {v_long(1), v_long(2), v_long(1), v_str("x")};
  const char *inner_keys[] = {"k"};
  Pdp__V1__Value *inner_vals[] = {v_bool(false)};
  const char *keys[] = {"b", "l", "neg", "s", "e", "set", "r", "ip", "dec", "empty"};
  Pdp__V1__Value *vals[] = {v_bool(true),
                            v_long(42),
                            v_long(INT64_MIN),
                            v_str("héllo"),
                            v_entity("App::User", "bob"),
                            v_set(4, set_items),
                            v_rec(1, inner_keys, inner_vals),
                            v_ext("ip", "10.0.0.0/8"),
                            v_ext("decimal", "1.5"),
                            v_str("")};
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 9;
  rq.body_case = PDP__V1__REQUEST__BODY_CHECK;
  rq.check = check_of(rec(10, keys, vals));
  Pdp__V1__Request *got = round_trip(&rq);
  cr_assert_eq(got->id, 9);

  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert(srv_convert_check(&cv, got->check, "check", NULL, 0, NULL, &req, &code), "%s", err);
  cr_assert(pu_str_eq_c(req.principal.type, "User") && pu_str_eq_c(req.principal.id, "alice"));
  cr_assert(pu_str_eq_c(req.action.id, "view"));
  cr_assert(pu_str_eq_c(req.resource.type, "Doc"));
  cr_assert_null(req.entities);
  expect_json(&req.context,
              "{\"b\": true, \"l\": 42, \"neg\": -9223372036854775808, \"s\": \"h\\u00e9llo\","
              " \"e\": {\"__entity\": {\"type\": \"App::User\", \"id\": \"bob\"}},"
              " \"set\": [2, \"x\", 1], \"r\": {\"k\": false},"
              " \"ip\": {\"__extn\": {\"fn\": \"ip\", \"arg\": \"10.0.0.0/8\"}},"
              " \"dec\": {\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}, \"empty\": \"\"}");
  pdp__v1__request__free_unpacked(got, NULL);
}

Test(convert, absent_context_is_the_empty_record) {
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert(srv_convert_check(&cv, check_of(NULL), "check", NULL, 0, NULL, &req, &code), "%s", err);
  expect_json(&req.context, "{}");
}

Test(convert, duplicate_record_key_names_the_record) {
  const char *keys[] = {"a", "a"};
  Pdp__V1__Value *vals[] = {v_long(1), v_long(2)};
  const char *outer[] = {"r"};
  Pdp__V1__Value *ov[] = {v_rec(2, keys, vals)};
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(
      srv_convert_check(&cv, check_of(rec(1, outer, ov)), "check", NULL, 0, NULL, &req, &code));
  cr_assert_eq(code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(err, "check.context.r") && strstr(err, "duplicate"), "%s", err);
}

Test(convert, unknown_extension_function_names_the_field) {
  const char *keys[] = {"when"};
  Pdp__V1__Value *vals[] = {v_ext("frobnicate", "1")};
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(
      srv_convert_check(&cv, check_of(rec(1, keys, vals)), "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "check.context.when"), "%s", err);
  cr_assert(strstr(err, "frobnicate"), "%s", err);
}

Test(convert, bad_extension_argument_is_an_error) {
  const char *keys[] = {"ip"};
  Pdp__V1__Value *vals[] = {v_ext("ip", "not-an-ip")};
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(
      srv_convert_check(&cv, check_of(rec(1, keys, vals)), "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "check.context.ip"), "%s", err);
}

Test(convert, value_without_kind_is_an_error) {
  const char *keys[] = {"x"};
  Pdp__V1__Value *vals[] = {v_new()};
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(
      srv_convert_check(&cv, check_of(rec(1, keys, vals)), "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "check.context.x: value has no kind"), "%s", err);
}

/* Context {"v": [[[...[1]...]]]} with `sets` nested sets. */
static Pdp__V1__Record *nested_context(int sets) {
  Pdp__V1__Value *v = v_long(1);
  for (int i = 0; i < sets; i++) v = v_set(1, &v);
  const char *keys[] = {"v"};
  return rec(1, keys, &v);
}

Test(convert, nesting_up_to_the_limit_is_accepted_and_past_it_refused) {
  cv.max_value_depth = 5;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  /* the context record is level 1, so 4 nested sets reach level 5 */
  cr_assert(
      srv_convert_check(&cv, check_of(nested_context(4)), "check", NULL, 0, NULL, &req, &code),
      "%s", err);
  cr_assert_not(
      srv_convert_check(&cv, check_of(nested_context(5)), "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "nesting deeper than max-value-depth 5"), "%s", err);
  cr_assert(strstr(err, "check.context.v[0][0][0]"), "%s", err);
}

Test(convert, missing_or_empty_uids_name_the_field) {
  pdpe_request req;
  Pdp__V1__Status__Code code;
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->principal = NULL;
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_str_eq(err, "check.principal: missing");
  c = check_of(NULL);
  c->resource->type = "";
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_str_eq(err, "check.resource.type: empty");
  c = check_of(NULL);
  c->action->id = "";
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_str_eq(err, "check.action.id: empty");
  cr_assert_eq(code, PDP__V1__STATUS__CODE__BAD_REQUEST);
}

Test(convert, token_without_jwt_config_is_unauthenticated_and_token_with_principal_is_bad) {
  pdpe_request req;
  Pdp__V1__Status__Code code;
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->principal = NULL;
  c->token = "eyJ.x.y";
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_eq(code, PDP__V1__STATUS__CODE__UNAUTHENTICATED);
  cr_assert(strstr(err, "tokens are not configured (--jwt-config)"), "%s", err);
  c = check_of(NULL);
  c->token = "eyJ.x.y";
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_eq(code, PDP__V1__STATUS__CODE__BAD_REQUEST);
}

static Pdp__V1__Entity *entity(const char *type, const char *id, size_t n, const char **keys,
                               Pdp__V1__Value **vals) {
  Pdp__V1__Entity *e = pu_arena_zalloc(&arena, sizeof(*e));
  pdp__v1__entity__init(e);
  e->uid = uid(type, id);
  Pdp__V1__Record *r = rec(n, keys, vals);
  e->attrs = r->fields;
  e->n_attrs = r->n_fields;
  return e;
}

Test(convert, entity_attribute_errors_name_the_entity_and_attribute) {
  const char *k[] = {"owner", "owner"};
  Pdp__V1__Value *v[] = {v_long(1), v_long(2)};
  const char *k2[] = {"owner"};
  Pdp__V1__Value *v2[] = {v_new()};
  Pdp__V1__Entity *es[] = {entity("Doc", "a", 0, NULL, NULL), entity("Doc", "b", 2, k, v),
                           entity("Doc", "c", 1, k2, v2)};
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = es;
  c->n_entities = 3;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "check.entities[1].attrs"), "%s", err);
  es[1] = entity("Doc", "b", 0, NULL, NULL);
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "check.entities[2].attrs.owner"), "%s", err);
}

Test(convert, too_many_entities_is_refused_with_the_limit) {
  cv.max_entities = 2;
  Pdp__V1__Entity *es[] = {entity("D", "a", 0, NULL, NULL), entity("D", "b", 0, NULL, NULL),
                           entity("D", "c", 0, NULL, NULL)};
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = es;
  c->n_entities = 3;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert(strstr(err, "check.entities") && strstr(err, "limit 2"), "%s", err);
  c->n_entities = 2;
  cr_assert(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code), "%s", err);
  cr_assert_eq(pdpe_entities_count(req.entities), 2);
}

Test(convert, check_entities_override_shared_batch_entities) {
  const char *k[] = {"owner"};
  Pdp__V1__Value *shared_v[] = {v_str("shared")};
  Pdp__V1__Value *own_v[] = {v_str("own")};
  Pdp__V1__Entity *shared_pb[] = {entity("Doc", "d1", 1, k, shared_v),
                                  entity("Doc", "d2", 1, k, shared_v)};
  pdpe_entity *shared;
  uint32_t n_shared;
  cr_assert(srv_convert_entities(&cv, shared_pb, 2, "batch_check.entities", &shared, &n_shared),
            "%s", err);
  pdpe_entities *shared_es;
  cr_assert(pdpe_entities_build(&arena, shared, n_shared, "batch", &shared_es, err, sizeof(err)));

  Pdp__V1__Entity *own[] = {entity("Doc", "d1", 1, k, own_v)};
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = own;
  c->n_entities = 1;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert(srv_convert_check(&cv, c, "check", shared, n_shared, shared_es, &req, &code), "%s",
            err);
  cr_assert_eq(pdpe_entities_count(req.entities), 2);
  pdpe_uid d1 = {PU_STR_LIT("Doc"), PU_STR_LIT("d1")}, d2 = {PU_STR_LIT("Doc"), PU_STR_LIT("d2")};
  const pdpe_entity *e1 = pdpe_entities_find(req.entities, d1);
  cr_assert_not_null(e1);
  expect_json(&e1->attrs, "{\"owner\": \"own\"}");
  const pdpe_entity *e2 = pdpe_entities_find(req.entities, d2);
  cr_assert_not_null(e2);
  expect_json(&e2->attrs, "{\"owner\": \"shared\"}");

  /* a check without its own entities sees the shared set as is */
  c->n_entities = 0;
  cr_assert(srv_convert_check(&cv, c, "check", shared, n_shared, shared_es, &req, &code), "%s",
            err);
  cr_assert_eq(req.entities, shared_es);
}

Test(convert, running_out_of_the_request_budget_is_overloaded_never_a_bad_request) {
  /* A valid check with entities, converted into a second arena with a growing budget: every
   * budget either converts or fails OVERLOADED naming the field, never BAD_REQUEST. */
  enum { N = 12 };
  Pdp__V1__Entity *es[N];
  char ids[N][8];
  const char *k[] = {"owner", "tags"};
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof(ids[i]), "d%d", i);
    Pdp__V1__Value *items[] = {v_str("a"), v_str("b"), v_long(i)};
    Pdp__V1__Value *v[] = {v_entity("User", "bob"), v_set(3, items)};
    es[i] = entity("Doc", ids[i], 2, k, v);
  }
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = es;
  c->n_entities = N;
  pu_arena conv;
  pu_arena_init(&conv, 256, 0);
  cv.arena = &conv;
  bool converted = false, saw_overloaded = false;
  for (size_t budget = 16; budget < ((size_t)1 << 22) && !converted; budget += 16) {
    pu_arena_reset(&conv);
    conv.budget = budget;
    pdpe_request req;
    Pdp__V1__Status__Code code;
    converted = srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code);
    if (converted) {
      cr_assert_not(cv.overloaded);
      break;
    }
    cr_assert_eq(code, PDP__V1__STATUS__CODE__OVERLOADED, "budget %zu: code %d: %s", budget, code,
                 err);
    cr_assert(cv.overloaded);
    cr_assert(strncmp(err, "check", 5) == 0, "the message names the field: %s", err);
    saw_overloaded = true;
  }
  cr_assert(converted && saw_overloaded);
  pu_arena_close(&conv);
}

Test(convert, entity_set_errors_are_bad_requests_prefixed_with_the_field) {
  Pdp__V1__Entity *es[] = {entity("Doc", "a", 0, NULL, NULL), entity("Doc", "a", 0, NULL, NULL)};
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = es;
  c->n_entities = 2;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_eq(code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strncmp(err, "check.entities: ", 16) == 0 && strstr(err, "duplicate"), "%s", err);

  pdpe_entity *shared;
  uint32_t n_shared;
  cr_assert(srv_convert_entities(&cv, es, 2, "batch_check.entities", &shared, &n_shared));
  pdpe_entities *shared_es;
  cr_assert_not(
      srv_convert_build_entities(&cv, shared, n_shared, "batch_check.entities", &shared_es));
  cr_assert_not(cv.overloaded);
  cr_assert(strncmp(err, "batch_check.entities: ", 22) == 0, "%s", err);
}

/* An entity Doc::id with n parents Group::"g0".."g<n-1>". */
static Pdp__V1__Entity *entity_with_parents(const char *id, size_t n) {
  Pdp__V1__Entity *e = entity("Doc", id, 0, NULL, NULL);
  e->parents = pu_arena_alloc(&arena, n * sizeof(*e->parents) + 1);
  for (size_t i = 0; i < n; i++) {
    char *gid = pu_arena_alloc(&arena, 16);
    snprintf(gid, 16, "g%zu", i);
    e->parents[i] = uid("Group", gid);
  }
  e->n_parents = n;
  return e;
}

Test(convert, parents_per_entity_are_limited_naming_the_field) {
  Pdp__V1__Entity *es[] = {entity_with_parents("a", 3), entity_with_parents("b", 101)};
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = es;
  c->n_entities = 2;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_eq(code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert_str_eq(err, "check.entities[1].parents: 101 parents, limit 100 (max-entity-parents)");
  es[1] = entity_with_parents("b", 100);
  cv.parent_links = 0;
  cr_assert(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code), "%s", err);
  cr_assert_eq(cv.parent_links, 103);
}

Test(convert, parent_links_per_request_are_limited_and_shared_ones_count_per_check) {
  cv.max_parent_links = 10;
  Pdp__V1__Entity *es[] = {entity_with_parents("a", 4), entity_with_parents("b", 4),
                           entity_with_parents("c", 4)};
  Pdp__V1__CheckRequest *c = check_of(NULL);
  c->entities = es;
  c->n_entities = 3;
  pdpe_request req;
  Pdp__V1__Status__Code code;
  cr_assert_not(srv_convert_check(&cv, c, "check", NULL, 0, NULL, &req, &code));
  cr_assert_eq(code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(err, "check.entities[2]") && strstr(err, "max-request-parent-links"), "%s", err);

  /* shared entities with 4 links, merged into a check that brings one of its own with 2:
   * the merged set holds 6 links, plus 2 counted converting the own entity */
  pdpe_entity *shared;
  uint32_t n_shared;
  cv.parent_links = 0;
  Pdp__V1__Entity *sh[] = {entity_with_parents("s", 4)};
  cr_assert(srv_convert_entities(&cv, sh, 1, "batch_check.entities", &shared, &n_shared));
  cr_assert_eq(cv.parent_links, 4);
  pdpe_entities *shared_es;
  cr_assert(srv_convert_build_entities(&cv, shared, n_shared, "batch_check.entities", &shared_es));
  Pdp__V1__Entity *own[] = {entity_with_parents("o", 2)};
  cv.max_parent_links = 12;
  c->entities = own;
  c->n_entities = 1;
  cr_assert(
      srv_convert_check(&cv, c, "batch_check.checks[0]", shared, n_shared, shared_es, &req, &code),
      "%s", err);
  cr_assert_eq(cv.parent_links, 4 + 2 + 6);
  cv.max_parent_links = 12 + 7; /* a second such check needs 8 more */
  cr_assert_not(
      srv_convert_check(&cv, c, "batch_check.checks[1]", shared, n_shared, shared_es, &req, &code));
  cr_assert(strncmp(err, "batch_check.checks[1].entities", 30) == 0, "%s", err);
}

Test(convert, a_large_valid_request_converts_every_entity_attribute_and_parent) {
  enum { N = 200 };
  static char ids[N][16], depts[N][16];
  const char *k[] = {"dept", "level", "roles", "meta"};
  Pdp__V1__Entity *es[N];
  for (size_t i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "u%zu", i);
    snprintf(depts[i], sizeof depts[i], "dept%zu", i % 7);
    const char *mk[] = {"idx", "odd"};
    Pdp__V1__Value *mv[] = {v_long((int64_t)i), v_bool(i % 2)};
    Pdp__V1__Value *roles[] = {v_str("reader"), v_entity("Role", depts[i])};
    Pdp__V1__Value *vals[] = {v_str(depts[i]), v_long((int64_t)i * 3), v_set(2, roles),
                              v_rec(2, mk, mv)};
    es[i] = entity("User", ids[i], 4, k, vals);
    es[i]->parents = pu_arena_alloc(&arena, 2 * sizeof(*es[i]->parents));
    es[i]->parents[0] = uid("Group", depts[i]);
    es[i]->parents[1] = uid("Group", "all");
    es[i]->n_parents = 2;
  }
  const char *ck[] = {"ip"};
  Pdp__V1__Value *cvals[] = {v_ext("ip", "10.0.0.1")};
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.body_case = PDP__V1__REQUEST__BODY_CHECK;
  rq.check = check_of(rec(1, ck, cvals));
  rq.check->entities = es;
  rq.check->n_entities = N;
  Pdp__V1__Request *in = round_trip(&rq);

  pdpe_request out;
  Pdp__V1__Status__Code code;
  cr_assert(srv_convert_check(&cv, in->check, "check", NULL, 0, NULL, &out, &code), "%s", err);
  cr_assert_eq(cv.parent_links, 2 * N);
  cr_assert_not_null(out.entities);
  for (size_t i = 0; i < N; i++) {
    const pdpe_entity *e =
        pdpe_entities_find(out.entities, (pdpe_uid){pu_str_c("User"), pu_str_c(ids[i])});
    cr_assert_not_null(e, "entity %s missing", ids[i]);
    char want[256];
    snprintf(want, sizeof want,
             "{\"dept\": \"%s\", \"level\": %zu, \"roles\": [\"reader\", {\"__entity\": "
             "{\"type\": \"Role\", \"id\": \"%s\"}}], \"meta\": {\"idx\": %zu, \"odd\": %s}}",
             depts[i], i * 3, depts[i], i, i % 2 ? "true" : "false");
    expect_json(&e->attrs, want);
    cr_assert_eq(e->n_parents, 2);
    cr_assert(pu_str_eq(e->parents[0].id, pu_str_c(depts[i])));
    cr_assert(pu_str_eq(e->parents[1].id, pu_str_c("all")));
  }
  expect_json(&out.context, "{\"ip\": {\"__extn\": {\"fn\": \"ip\", \"arg\": \"10.0.0.1\"}}}");
  pdp__v1__request__free_unpacked(in, NULL);
}

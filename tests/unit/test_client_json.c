/* test_client_json.c - Cedar JSON to pdp.v1 protobuf, as pdpctl and the client do it.
 *
 * pdpctl's converter (pdp/cli/json2proto.c, compiled into this test) builds client values
 * from Cedar JSON; pdpc_encode_check turns them into a framed Request, which the test
 * decodes with protobuf-c and inspects.  Bad inputs must fail with the JSON path named.
 */
#include "../../pdp/cli/json2proto.c"

#include "pdp.pb-c.h"

#include <criterion/criterion.h>

static char err[CTL_ERR_CAP];

static json_t *parse(const char *text) {
  json_error_t je;
  json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  cr_assert_not_null(j, "test JSON: %s", je.text);
  return j;
}

/* Encode a check with this context and entities, decode it back. */
static Pdp__V1__Request *roundtrip(const pdpc_value *ctx, const ctl_entities *es) {
  pdpc_check_req req = {.principal = {"User", "alice"},
                        .action = {"Action", "view"},
                        .resource = {"Document", "d1"},
                        .context = ctx,
                        .entities = es ? (const pdpc_entity *const *)es->items : NULL,
                        .n_entities = es ? es->n : 0};
  uint8_t *frame = NULL;
  size_t len = 0;
  cr_assert_eq(pdpc_encode_check(&req, 42, &frame, &len), 0);
  cr_assert_geq(len, 4);
  uint32_t n =
      (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 | frame[3];
  cr_assert_eq(n, len - 4, "length prefix is big-endian body length");
  Pdp__V1__Request *r = pdp__v1__request__unpack(NULL, n, frame + 4);
  free(frame);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 42);
  cr_assert_eq(r->body_case, PDP__V1__REQUEST__BODY_CHECK);
  return r;
}

static const Pdp__V1__Value *field(const Pdp__V1__Record *rec, const char *key) {
  for (size_t i = 0; i < rec->n_fields; i++)
    if (strcmp(rec->fields[i]->key, key) == 0) return rec->fields[i]->value;
  cr_assert_fail("no field %s", key);
  return NULL;
}

Test(json_context, every_cedar_value_kind_becomes_its_protobuf_value) {
  json_t *j = parse("{\"b\": true, \"n\": -7, \"s\": \"hi\", \"set\": [1, 2, 3],"
                    " \"rec\": {\"inner\": false},"
                    " \"who\": {\"__entity\": {\"type\": \"User\", \"id\": \"bob\"}},"
                    " \"ip\": {\"__extn\": {\"fn\": \"ip\", \"arg\": \"10.0.0.1\"}}}");
  pdpc_value *ctx = NULL;
  cr_assert(ctl_context_from_json(j, "context", &ctx, err, sizeof err), "%s", err);
  Pdp__V1__Request *r = roundtrip(ctx, NULL);
  const Pdp__V1__CheckRequest *c = r->check;
  cr_assert_str_eq(c->principal->type, "User");
  cr_assert_str_eq(c->principal->id, "alice");
  cr_assert_str_eq(c->resource->id, "d1");
  cr_assert_eq(c->context->n_fields, 7);
  const Pdp__V1__Value *v = field(c->context, "b");
  cr_assert_eq(v->kind_case, PDP__V1__VALUE__KIND_BOOL);
  cr_assert(v->bool_);
  v = field(c->context, "n");
  cr_assert_eq(v->kind_case, PDP__V1__VALUE__KIND_LONG);
  cr_assert_eq(v->long_, -7);
  cr_assert_str_eq(field(c->context, "s")->string, "hi");
  v = field(c->context, "set");
  cr_assert_eq(v->kind_case, PDP__V1__VALUE__KIND_SET);
  cr_assert_eq(v->set->n_items, 3);
  cr_assert_eq(v->set->items[2]->long_, 3);
  v = field(c->context, "rec");
  cr_assert_eq(v->kind_case, PDP__V1__VALUE__KIND_RECORD);
  cr_assert_eq(v->record->n_fields, 1);
  v = field(c->context, "who");
  cr_assert_eq(v->kind_case, PDP__V1__VALUE__KIND_ENTITY);
  cr_assert_str_eq(v->entity->id, "bob");
  v = field(c->context, "ip");
  cr_assert_eq(v->kind_case, PDP__V1__VALUE__KIND_EXTENSION);
  cr_assert_str_eq(v->extension->fn, "ip");
  cr_assert_str_eq(v->extension->arg, "10.0.0.1");
  pdp__v1__request__free_unpacked(r, NULL);
  pdpc_value_free(ctx);
  json_decref(j);
}

Test(json_entities, entity_list_becomes_entities_with_attrs_parents_and_tags) {
  json_t *j = parse(
      "[{\"uid\": {\"type\": \"Document\", \"id\": \"d1\"},"
      "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}, \"n\": 3},"
      "  \"parents\": [{\"type\": \"Folder\", \"id\": \"f\"}, \"Folder::\\\"g\\\"\"],"
      "  \"tags\": {\"t\": \"x\"}},"
      " {\"uid\": {\"__entity\": {\"type\": \"App::User\", \"id\": \"q\\\"uote\"}}}]");
  ctl_entities es;
  cr_assert(ctl_entities_from_json(j, "entities", &es, err, sizeof err), "%s", err);
  cr_assert_eq(es.n, 2);
  Pdp__V1__Request *r = roundtrip(NULL, &es);
  const Pdp__V1__CheckRequest *c = r->check;
  cr_assert_null(c->context);
  cr_assert_eq(c->n_entities, 2);
  const Pdp__V1__Entity *e = c->entities[0];
  cr_assert_str_eq(e->uid->type, "Document");
  cr_assert_eq(e->n_attrs, 2);
  cr_assert_eq(e->n_parents, 2);
  cr_assert_str_eq(e->parents[1]->type, "Folder");
  cr_assert_str_eq(e->parents[1]->id, "g");
  cr_assert_eq(e->n_tags, 1);
  cr_assert_str_eq(e->tags[0]->value->string, "x");
  cr_assert_str_eq(c->entities[1]->uid->type, "App::User");
  cr_assert_str_eq(c->entities[1]->uid->id, "q\"uote");
  pdp__v1__request__free_unpacked(r, NULL);
  ctl_entities_close(&es);
  json_decref(j);
}

Test(json_uid, cedar_syntax_and_json_forms_give_the_same_uid) {
  ctl_uid a, b, c;
  cr_assert(ctl_uid_parse("App::User::\"al\\\"ice\"", &a, err, sizeof err), "%s", err);
  json_t *j = parse("{\"type\": \"App::User\", \"id\": \"al\\\"ice\"}");
  cr_assert(ctl_uid_from_json(j, "principal", &b, err, sizeof err), "%s", err);
  json_t *s = parse("\"App::User::\\\"al\\\\\\\"ice\\\"\"");
  cr_assert(ctl_uid_from_json(s, "principal", &c, err, sizeof err), "%s", err);
  cr_assert_str_eq(a.type, b.type);
  cr_assert_str_eq(a.id, b.id);
  cr_assert_str_eq(c.type, b.type);
  cr_assert_str_eq(c.id, b.id);
  char buf[64];
  cr_assert_str_eq(ctl_uid_format(a.type, a.id, buf, sizeof buf), "App::User::\"al\\\"ice\"");
  ctl_uid_close(&a);
  ctl_uid_close(&b);
  ctl_uid_close(&c);
  json_decref(j);
  json_decref(s);
}

/* Each bad input must fail and the message must contain the expected path and words. */
static void expect_context_error(const char *text, const char *path, const char *words) {
  json_t *j = parse(text);
  pdpc_value *v = NULL;
  cr_assert_not(ctl_context_from_json(j, "context", &v, err, sizeof err), "accepted %s", text);
  cr_assert_null(v);
  cr_assert_not_null(strstr(err, path), "'%s' does not name %s", err, path);
  cr_assert_not_null(strstr(err, words), "'%s' does not say %s", err, words);
  json_decref(j);
}

Test(json_context, bad_values_are_refused_with_their_path) {
  expect_context_error("{\"a\": {\"b\": [1, 2.5]}}", "context.a.b[1]:", "integers");
  expect_context_error("{\"a\": null}", "context.a:", "null");
  expect_context_error("[1]", "context:", "must be a JSON object");
  expect_context_error("{\"e\": {\"__entity\": {\"type\": \"User\"}}}",
                       "context.e.__entity.id:", "must be a string");
  expect_context_error("{\"e\": {\"__entity\": {\"type\": \"U\", \"id\": \"x\"}, \"more\": 1}}",
                       "context.e:", "only key");
  expect_context_error("{\"x\": {\"__extn\": {\"fn\": \"ip\"}}}",
                       "context.x.__extn.arg:", "must be a string");
  expect_context_error("{\"x\": {\"__extn\": {\"fn\": \"ip\", \"arg\": \"1\", \"z\": 1}}}",
                       "context.x.__extn:", "unexpected key");
  expect_context_error("{\"s\": \"a\\u0000b\"}", "context.s:", "NUL");
  expect_context_error("{\"e\": {\"__entity\": \"User::\\\"x\"}}",
                       "context.e.__entity:", "expected Type::");
}

Test(json_context, nesting_past_the_limit_is_refused_not_recursed) {
  char text[4096] = "{\"a\": ";
  for (int i = 0; i < 100; i++) strcat(text, "[");
  for (int i = 0; i < 100; i++) strcat(text, "]");
  strcat(text, "}");
  expect_context_error(text, "context.a[0][0]", "nested deeper");
  /* As pdpd counts: the record is level 1, each set inside adds one, the scalar nothing. */
  char ok[4096] = "{\"a\": ";
  for (int i = 0; i < PDPC_MAX_VALUE_DEPTH - 1; i++) strcat(ok, "[");
  strcat(ok, "{\"x\": 1}");
  for (int i = 0; i < PDPC_MAX_VALUE_DEPTH - 1; i++) strcat(ok, "]");
  strcat(ok, "}");
  expect_context_error(ok, "context.a[0]", "nested deeper than 32");
  strcpy(ok, "{\"a\": ");
  for (int i = 0; i < PDPC_MAX_VALUE_DEPTH - 1; i++) strcat(ok, "[");
  strcat(ok, "{\"__entity\": {\"type\": \"U\", \"id\": \"x\"}}");
  for (int i = 0; i < PDPC_MAX_VALUE_DEPTH - 1; i++) strcat(ok, "]");
  strcat(ok, "}");
  json_t *j = parse(ok);
  pdpc_value *v = NULL;
  cr_assert(ctl_context_from_json(j, "context", &v, err, sizeof err), "%s", err);
  Pdp__V1__Request *r = roundtrip(v, NULL);
  pdp__v1__request__free_unpacked(r, NULL);
  pdpc_value_free(v);
  json_decref(j);
}

/* An entity whose `field` ("attrs" or "tags") holds {"a": [[...true...]]} with `sets` sets. */
static json_t *entity_nested(const char *field, int sets) {
  char text[4096];
  int o = snprintf(text, sizeof text,
                   "[{\"uid\": {\"type\": \"A\", \"id\": \"1\"}, \"%s\": {\"a\": ", field);
  for (int i = 0; i < sets; i++) text[o++] = '[';
  o += snprintf(text + o, sizeof text - (size_t)o, "true");
  for (int i = 0; i < sets; i++) text[o++] = ']';
  snprintf(text + o, sizeof text - (size_t)o, "}}]");
  return parse(text);
}

Test(json_entities, attrs_and_tags_count_as_the_first_level_like_a_context) {
  static const char *const fields[] = {"attrs", "tags"};
  for (int f = 0; f < 2; f++) {
    json_t *j = entity_nested(fields[f], PDPC_MAX_VALUE_DEPTH - 1);
    ctl_entities es;
    cr_assert(ctl_entities_from_json(j, "entities", &es, err, sizeof err), "%s: %s", fields[f],
              err);
    Pdp__V1__Request *r = roundtrip(NULL, &es);
    pdp__v1__request__free_unpacked(r, NULL);
    ctl_entities_close(&es);
    json_decref(j);
    j = entity_nested(fields[f], PDPC_MAX_VALUE_DEPTH);
    cr_assert_not(ctl_entities_from_json(j, "entities", &es, err, sizeof err),
                  "%s: one set too many", fields[f]);
    char path[64];
    snprintf(path, sizeof path, "entities[0].%s.a", fields[f]);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cr_assert_not_null(strstr(err, "nested deeper than 32"), "%s", err);
    json_decref(j);
  }
}

static void expect_entities_error(const char *text, const char *path, const char *words) {
  json_t *j = parse(text);
  ctl_entities es;
  cr_assert_not(ctl_entities_from_json(j, "entities", &es, err, sizeof err), "accepted %s", text);
  cr_assert_eq(es.n, 0);
  cr_assert_not_null(strstr(err, path), "'%s' does not name %s", err, path);
  cr_assert_not_null(strstr(err, words), "'%s' does not say %s", err, words);
  json_decref(j);
}

Test(json_entities, bad_entities_are_refused_with_their_path) {
  expect_entities_error("{}", "entities:", "must be a JSON array");
  expect_entities_error("[{\"uid\": {\"type\": \"A\", \"id\": \"1\"}}, 3]",
                        "entities[1]:", "must be an object");
  expect_entities_error("[{\"attrs\": {}}]", "entities[0]:", "missing \"uid\"");
  expect_entities_error("[{\"uid\": {\"type\": \"A\", \"id\": \"1\"}, \"parent\": []}]",
                        "entities[0]:", "unexpected key \"parent\"");
  expect_entities_error(
      "[{\"uid\": {\"type\": \"A\", \"id\": \"1\"}, \"parents\": [{\"type\": \"B\"}]}]",
      "entities[0].parents[0].id:", "must be a string");
  expect_entities_error("[{\"uid\": {\"type\": \"A\", \"id\": \"1\"}, \"attrs\": {\"x\": [1.5]}}]",
                        "entities[0].attrs.x[0]:", "integers");
  expect_entities_error("[{\"uid\": {\"type\": \"\", \"id\": \"1\"}}]",
                        "entities[0].uid.type:", "empty");
  expect_entities_error("[{\"uid\": {\"type\": \"A\", \"id\": \"1\"}, \"tags\": [1]}]",
                        "entities[0].tags:", "must be an object");
}

Test(client_values, builder_refuses_misuse_and_frees_what_it_was_given) {
  pdpc_value *rec = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(rec, "a", pdpc_value_long(1)), 0);
  cr_assert_eq(pdpc_record_put(rec, "a", pdpc_value_long(2)), PDPC_E_INVAL, "duplicate key");
  cr_assert_eq(pdpc_record_put(rec, "b", NULL), PDPC_E_NOMEM, "a failed constructor passed in");
  cr_assert_eq(pdpc_set_add(rec, pdpc_value_long(3)), PDPC_E_INVAL, "a record is not a set");
  pdpc_value *set = pdpc_value_set();
  cr_assert_eq(pdpc_set_add(set, pdpc_value_string("x")), 0);
  cr_assert_eq(pdpc_record_put(rec, "s", set), 0);
  pdpc_value_free(rec); /* frees the set too; ASan/valgrind see no leak */

  /* Hand-built trees are measured as pdpd measures them: 31 sets in the context pass, 32
   * do not, whatever scalars sit at the bottom. */
  for (int sets = PDPC_MAX_VALUE_DEPTH - 1; sets <= PDPC_MAX_VALUE_DEPTH; sets++) {
    pdpc_value *v = pdpc_value_string("leaf");
    for (int i = 0; i < sets; i++) {
      pdpc_value *s = pdpc_value_set();
      cr_assert_eq(pdpc_set_add(s, v), 0);
      v = s;
    }
    pdpc_value *c = pdpc_value_record();
    cr_assert_eq(pdpc_record_put(c, "v", v), 0);
    pdpc_check_req q = {
        .principal = {"U", "a"}, .action = {"A", "v"}, .resource = {"D", "d"}, .context = c};
    uint8_t *f = NULL;
    size_t n = 0;
    cr_assert_eq(pdpc_encode_check(&q, 1, &f, &n), sets < PDPC_MAX_VALUE_DEPTH ? 0 : PDPC_E_INVAL,
                 "%d sets", sets);
    free(f);
    pdpc_value_free(c);
  }

  /* A tree deeper than the limit built by hand is refused when encoded. */
  pdpc_value *top = pdpc_value_set(), *cur = top;
  for (int i = 0; i < PDPC_MAX_VALUE_DEPTH + 5; i++) {
    pdpc_value *next = pdpc_value_set();
    cr_assert_eq(pdpc_set_add(cur, next), 0);
    cur = next;
  }
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "deep", top), 0);
  pdpc_check_req req = {.principal = {"User", "a"},
                        .action = {"Action", "v"},
                        .resource = {"D", "d"},
                        .context = ctx};
  uint8_t *frame = NULL;
  size_t len = 0;
  cr_assert_eq(pdpc_encode_check(&req, 1, &frame, &len), PDPC_E_INVAL);
  cr_assert_null(frame);
  req.context = pdpc_value_set() /* not a record */;
  cr_assert_eq(pdpc_encode_check(&req, 1, &frame, &len), PDPC_E_INVAL);
  pdpc_value_free((pdpc_value *)req.context);
  pdpc_value_free(ctx);
}

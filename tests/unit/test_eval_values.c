/* test_eval_values.c - values: equality, set and record invariants, Cedar JSON in and out. */
#include <criterion/criterion.h>

#include "test_eval_util.h"

TestSuite(eval_values, .init = t_setup, .fini = t_teardown);

static bool parse(const char *text, pdpe_value *v, char *err, size_t cap) {
  json_t *j = t_json(text);
  cr_assert_not_null(j, "bad test JSON: %s", text);
  bool ok = pdpe_value_from_json(&T_arena, j, "context", v, err, cap);
  json_decref(j);
  return ok;
}

Test(eval_values, sets_are_sorted_and_deduplicated) {
  pdpe_value a = t_value("[3, 1, 2, 1, 3]"), b = t_value("[1, 2, 3]");
  cr_assert_eq(a.kind, PDPE_SET);
  cr_assert_eq(a.u.set.n, 3);
  cr_assert(pdpe_value_eq(&a, &b));
  pdpe_value c = t_value("[1, 2]");
  cr_assert_not(pdpe_value_eq(&a, &c));
}

Test(eval_values, records_compare_by_key_not_by_order) {
  pdpe_value a = t_value("{\"b\": 1, \"a\": [true, false]}"),
             b = t_value("{\"a\": [false, true], \"b\": 1}");
  cr_assert(pdpe_value_eq(&a, &b));
  cr_assert(pu_str_eq_c(a.u.rec.keys[0], "a"));
  pdpe_value c = t_value("{\"a\": [false, true], \"b\": 2}");
  cr_assert_not(pdpe_value_eq(&a, &c));
}

Test(eval_values, values_of_different_kinds_are_never_equal) {
  pdpe_value a = t_value("1"), b = t_value("\"1\""), c = t_value("true");
  cr_assert_not(pdpe_value_eq(&a, &b));
  cr_assert_not(pdpe_value_eq(&a, &c));
}

Test(eval_values, make_record_refuses_duplicate_keys_naming_the_path) {
  pu_str keys[2] = {PU_STR_LIT("k"), PU_STR_LIT("k")};
  pdpe_value vals[2] = {{.kind = PDPE_LONG}, {.kind = PDPE_LONG}};
  pdpe_value out;
  char err[200];
  cr_assert_not(
      pdpe_value_make_record(&T_arena, keys, vals, 2, "context.x", &out, err, sizeof err));
  cr_assert(strstr(err, "context.x") && strstr(err, "duplicate key 'k'"), "%s", err);
}

Test(eval_values, entity_and_extension_escapes_are_understood) {
  pdpe_value v = t_value("{\"__entity\": {\"type\": \"User\", \"id\": \"a\"}}");
  cr_assert_eq(v.kind, PDPE_ENTITY);
  cr_assert(pu_str_eq_c(v.u.uid.type, "User") && pu_str_eq_c(v.u.uid.id, "a"));
  v = t_value("{\"type\": \"User\", \"id\": \"a\"}");
  cr_assert_eq(v.kind, PDPE_RECORD, "without a schema, {type, id} is a record, as in Cedar");
  v = t_value("{\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}");
  cr_assert(v.kind == PDPE_EXT && v.u.ext.kind == PDPE_EXT_DECIMAL && v.u.ext.u.decimal == 15000);
  v = t_value(
      "{\"__extn\": {\"fn\": \"offset\", \"args\": [{\"__extn\": {\"fn\": \"datetime\", \"arg\": "
      "\"1970-01-02\"}}, {\"__extn\": {\"fn\": \"duration\", \"arg\": \"-1h\"}}]}}");
  cr_assert(v.kind == PDPE_EXT && v.u.ext.kind == PDPE_EXT_DATETIME &&
            v.u.ext.u.datetime == 86400000 - 3600000);
}

Test(eval_values, json_errors_name_the_path) {
  pdpe_value v;
  char err[256];
  cr_assert_not(parse("{\"a\": {\"b\": [1, null]}}", &v, err, sizeof err));
  cr_assert(strstr(err, "context.a.b[1]"), "%s", err);
  cr_assert_not(parse("{\"ip\": {\"__extn\": {\"fn\": \"ip\", \"arg\": \"300.1.1.1\"}}}", &v, err,
                      sizeof err));
  cr_assert(strstr(err, "context.ip.__extn") && strstr(err, "IP"), "%s", err);
  cr_assert_not(parse("{\"x\": 1.5}", &v, err, sizeof err));
  cr_assert(strstr(err, "context.x"), "%s", err);
  cr_assert_not(
      parse("{\"x\": {\"__extn\": {\"fn\": \"nope\", \"arg\": \"\"}}}", &v, err, sizeof err));
  cr_assert(strstr(err, "unknown extension"), "%s", err);
}

Test(eval_values, nesting_beyond_the_depth_limit_is_refused) {
  char deep[2 * (PDPE_MAX_VALUE_DEPTH + 5) + 1], ok[2 * PDPE_MAX_VALUE_DEPTH + 1];
  int n = PDPE_MAX_VALUE_DEPTH + 5;
  for (int i = 0; i < n; i++) deep[i] = '[', deep[2 * n - 1 - i] = ']';
  deep[2 * n] = '\0';
  pdpe_value v;
  char err[256];
  cr_assert_not(parse(deep, &v, err, sizeof err));
  cr_assert(strstr(err, "nested too deeply"), "%s", err);
  n = PDPE_MAX_VALUE_DEPTH;
  for (int i = 0; i < n; i++) ok[i] = '[', ok[2 * n - 1 - i] = ']';
  ok[2 * n] = '\0';
  cr_assert(parse(ok, &v, err, sizeof err), "%s", err);
}

Test(eval_values, strings_may_hold_nul_bytes) {
  pdpe_value a = t_value("\"a\\u0000b\""), b = t_value("\"a\\u0000c\"");
  cr_assert_eq(a.u.s.len, 3);
  cr_assert_not(pdpe_value_eq(&a, &b));
}

Test(eval_values, values_render_back_to_cedar_json) {
  const char *texts[] = {
      "{\"a\":[1,2,3],\"b\":{\"__entity\":{\"type\":\"User\",\"id\":\"x\"}},\"c\":\"s\"}",
      "{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.0.0.1/24\"}}",
      "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"-12.3400\"}}",
      "{\"__extn\":{\"fn\":\"datetime\",\"arg\":\"2024-10-15T11:38:02.101Z\"}}",
      "{\"__extn\":{\"fn\":\"duration\",\"arg\":\"-90061001ms\"}}"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    pdpe_value v = t_value(texts[i]);
    pu_str s = pdpe_value_to_json(&T_arena, &v);
    cr_assert_not_null(s.ptr);
    pdpe_value back = t_value(s.ptr);
    cr_assert(pdpe_value_eq(&v, &back), "%s -> %s", texts[i], s.ptr);
  }
}

Test(eval_values, a_context_with_type_and_id_keys_is_a_record) {
  t_request("User", "a", "Action", "x", "R", "r");
  T_req.context = t_value("{\"type\": \"order\", \"id\": \"1\"}");
  cr_assert_eq(T_req.context.kind, PDPE_RECORD);
  bool b = false;
  cr_assert(t_eval_bool(E_bin(PDPL_OP_EQ, E_attr(PDPL_E_GETATTR, E_var(PDPL_VAR_CONTEXT), "type"),
                              E_str("order")),
                        &b),
            "%s", T_env.err);
  cr_assert(b, "context.type == \"order\"");
  cr_assert(t_eval_bool(
      E_bin(PDPL_OP_EQ, E_attr(PDPL_E_GETATTR, E_var(PDPL_VAR_CONTEXT), "id"), E_str("1")), &b));
  cr_assert(b);
}

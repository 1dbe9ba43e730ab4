/* test_eval_ops.c - every Cedar operator on hand-built ASTs, including its error cases. */
#include <criterion/criterion.h>

#include "test_eval_util.h"

static const char *ENTS =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"age\":30,\"name\":\"Alice\"},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"staff\"}],\"tags\":{\"level\":\"gold\"}},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"staff\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\","
    "\"id\":\"all\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"all\"},\"attrs\":{},\"parents\":[]}]";

static void setup(void) {
  t_setup();
  char err[256];
  T_stored = t_entities(ENTS, err, sizeof err);
  cr_assert_not_null(T_stored, "%s", err);
  t_request("User", "alice", "Action", "view", "Doc", "d1");
}

TestSuite(eval_ops, .init = setup, .fini = t_teardown);

static void expect_bool(pdpl_expr *e, bool want) {
  bool b;
  cr_assert(t_eval_bool(e, &b), "unexpected error: %s", T_env.err);
  cr_assert_eq(b, want);
}

static void expect_error(pdpl_expr *e, const char *needle) {
  pdpe_value v;
  cr_assert_not(t_eval(e, &v), "expected an error containing '%s'", needle);
  cr_assert(strstr(T_env.err, needle), "message '%s' lacks '%s'", T_env.err, needle);
}

static void expect_long(pdpl_expr *e, int64_t want) {
  pdpe_value v;
  cr_assert(t_eval(e, &v), "unexpected error: %s", T_env.err);
  cr_assert_eq(v.kind, PDPE_LONG);
  cr_assert_eq(v.u.l, want);
}

Test(eval_ops, arithmetic_is_checked_for_overflow) {
  expect_long(E_bin(PDPL_OP_ADD, E_long(2), E_long(3)), 5);
  expect_long(E_bin(PDPL_OP_SUB, E_long(2), E_long(3)), -1);
  expect_long(E_bin(PDPL_OP_MUL, E_long(-4), E_long(3)), -12);
  expect_error(E_bin(PDPL_OP_ADD, E_long(INT64_MAX), E_long(1)), "overflow");
  expect_error(E_bin(PDPL_OP_SUB, E_long(INT64_MIN), E_long(1)), "overflow");
  expect_error(E_bin(PDPL_OP_MUL, E_long(INT64_MAX), E_long(2)), "overflow");
  expect_error(E_un(PDPL_E_NEG, E_long(INT64_MIN)), "overflow");
  expect_long(E_un(PDPL_E_NEG, E_long(INT64_MAX)), -INT64_MAX);
}

Test(eval_ops, arithmetic_on_non_longs_is_a_type_error) {
  expect_error(E_bin(PDPL_OP_ADD, E_str("a"), E_long(1)), "type error");
  expect_error(E_un(PDPL_E_NEG, E_bool(true)), "type error");
  expect_error(E_bin(PDPL_OP_LT, E_str("a"), E_str("b")), "type error");
  expect_error(E_bin(PDPL_OP_LT, E_long(1), E_str("b")), "type error");
}

Test(eval_ops, comparisons_order_longs) {
  expect_bool(E_bin(PDPL_OP_LT, E_long(1), E_long(2)), true);
  expect_bool(E_bin(PDPL_OP_LE, E_long(2), E_long(2)), true);
  expect_bool(E_bin(PDPL_OP_GT, E_long(1), E_long(2)), false);
  expect_bool(E_bin(PDPL_OP_GE, E_long(3), E_long(2)), true);
}

Test(eval_ops, equality_across_types_is_false_not_an_error) {
  expect_bool(E_bin(PDPL_OP_EQ, E_long(1), E_str("1")), false);
  expect_bool(E_bin(PDPL_OP_NE, E_long(1), E_str("1")), true);
  expect_bool(
      E_bin(PDPL_OP_EQ, E_set(2, E_long(1), E_long(2)), E_set(3, E_long(2), E_long(1), E_long(2))),
      true);
  expect_bool(E_bin(PDPL_OP_EQ, E_rec(2, "b", E_long(1), "a", E_long(2)),
                    E_rec(2, "a", E_long(2), "b", E_long(1))),
              true);
  expect_bool(E_bin(PDPL_OP_EQ, E_uid("User", "alice"), E_var(PDPL_VAR_PRINCIPAL)), true);
}

Test(eval_ops, and_or_short_circuit_and_demand_booleans) {
  /* The right side would error; short-circuit must not evaluate it. */
  pdpl_expr *boom = E_bin(PDPL_OP_ADD, E_long(INT64_MAX), E_long(1));
  expect_bool(E_bin(PDPL_OP_AND, E_bool(false), boom), false);
  expect_bool(E_bin(PDPL_OP_OR, E_bool(true), boom), true);
  expect_error(E_bin(PDPL_OP_AND, E_bool(true), boom), "overflow");
  expect_error(E_bin(PDPL_OP_AND, E_long(1), E_bool(true)), "type error");
  expect_error(E_bin(PDPL_OP_OR, E_bool(false), E_long(1)), "type error");
  expect_error(E_un(PDPL_E_NOT, E_long(1)), "type error");
  expect_bool(E_un(PDPL_E_NOT, E_bool(false)), true);
}

Test(eval_ops, if_then_else_needs_a_boolean) {
  expect_long(E_if(E_bool(true), E_long(1), E_long(2)), 1);
  expect_long(E_if(E_bool(false), E_long(1), E_long(2)), 2);
  expect_error(E_if(E_long(1), E_long(1), E_long(2)), "type error");
}

Test(eval_ops, in_follows_the_hierarchy_transitively) {
  expect_bool(E_bin(PDPL_OP_IN, E_var(PDPL_VAR_PRINCIPAL), E_uid("Group", "all")), true);
  expect_bool(E_bin(PDPL_OP_IN, E_var(PDPL_VAR_PRINCIPAL), E_uid("User", "alice")), true);
  expect_bool(E_bin(PDPL_OP_IN, E_uid("Group", "all"), E_uid("Group", "staff")), false);
  expect_bool(E_bin(PDPL_OP_IN, E_var(PDPL_VAR_PRINCIPAL),
                    E_set(2, E_uid("X", "y"), E_uid("Group", "staff"))),
              true);
  expect_bool(E_bin(PDPL_OP_IN, E_var(PDPL_VAR_PRINCIPAL), E_set(0)), false);
  expect_bool(E_bin(PDPL_OP_IN, E_uid("Nobody", "n"), E_uid("Group", "all")), false);
  expect_error(
      E_bin(PDPL_OP_IN, E_var(PDPL_VAR_PRINCIPAL), E_set(2, E_uid("Group", "staff"), E_long(1))),
      "type error");
  expect_error(E_bin(PDPL_OP_IN, E_long(1), E_uid("Group", "all")), "type error");
  expect_error(E_bin(PDPL_OP_IN, E_var(PDPL_VAR_PRINCIPAL), E_str("x")), "type error");
}

Test(eval_ops, attributes_of_records_and_entities) {
  expect_long(E_attr(PDPL_E_GETATTR, E_var(PDPL_VAR_PRINCIPAL), "age"), 30);
  expect_long(E_attr(PDPL_E_GETATTR, E_rec(1, "x", E_long(7)), "x"), 7);
  expect_error(E_attr(PDPL_E_GETATTR, E_var(PDPL_VAR_PRINCIPAL), "owner"), "attribute 'owner'");
  expect_error(E_attr(PDPL_E_GETATTR, E_rec(1, "x", E_long(7)), "y"), "attribute 'y'");
  expect_error(E_attr(PDPL_E_GETATTR, E_uid("User", "ghost"), "age"), "does not exist");
  expect_error(E_attr(PDPL_E_GETATTR, E_long(1), "age"), "type error");
  expect_error(E_attr(PDPL_E_GETATTR, E_var(PDPL_VAR_CONTEXT), "ip"), "attribute 'ip'");
}

Test(eval_ops, has_is_false_for_missing_attributes_and_entities) {
  expect_bool(E_attr(PDPL_E_HAS, E_var(PDPL_VAR_PRINCIPAL), "age"), true);
  expect_bool(E_attr(PDPL_E_HAS, E_var(PDPL_VAR_PRINCIPAL), "owner"), false);
  expect_bool(E_attr(PDPL_E_HAS, E_uid("User", "ghost"), "age"), false);
  expect_bool(E_attr(PDPL_E_HAS, E_rec(1, "x", E_long(7)), "x"), true);
  expect_error(E_attr(PDPL_E_HAS, E_str("s"), "x"), "type error");
}

Test(eval_ops, like_matches_wildcards) {
  expect_bool(E_like(E_str("hello world"), "hello*"), true);
  expect_bool(E_like(E_str("hello world"), "*world"), true);
  expect_bool(E_like(E_str("hello world"), "h*o*d"), true);
  expect_bool(E_like(E_str("hello world"), "h*x*d"), false);
  expect_bool(E_like(E_str("abc"), "abc"), true);
  expect_bool(E_like(E_str("abcd"), "abc"), false);
  expect_bool(E_like(E_str(""), "*"), true);
  expect_bool(E_like(E_str("aaa"), "*a*a*a*"), true);
  expect_bool(E_like(E_str("aa"), "*a*a*a*"), false);
  expect_bool(E_like(E_str("ab"), ""), false);
  expect_error(E_like(E_long(1), "*"), "type error");
}

Test(eval_ops, is_checks_the_entity_type_and_optional_in) {
  expect_bool(E_is(E_var(PDPL_VAR_PRINCIPAL), "User", NULL), true);
  expect_bool(E_is(E_var(PDPL_VAR_PRINCIPAL), "Group", NULL), false);
  expect_bool(E_is(E_var(PDPL_VAR_PRINCIPAL), "User", E_uid("Group", "all")), true);
  expect_bool(E_is(E_var(PDPL_VAR_PRINCIPAL), "User", E_uid("Group", "none")), false);
  /* Type mismatch short-circuits: the `in` side would be a type error. */
  expect_bool(E_is(E_var(PDPL_VAR_PRINCIPAL), "Group", E_long(1)), false);
  expect_error(E_is(E_long(1), "User", NULL), "type error");
}

Test(eval_ops, set_methods) {
  pdpl_expr *s = E_set(3, E_long(1), E_long(2), E_str("x"));
  expect_bool(E_call(PDPL_FN_CONTAINS, 2, s, E_long(2)), true);
  expect_bool(E_call(PDPL_FN_CONTAINS, 2, s, E_long(5)), false);
  expect_bool(E_call(PDPL_FN_CONTAINS_ALL, 2, s, E_set(2, E_long(1), E_str("x"))), true);
  expect_bool(E_call(PDPL_FN_CONTAINS_ALL, 2, s, E_set(2, E_long(1), E_long(9))), false);
  expect_bool(E_call(PDPL_FN_CONTAINS_ALL, 2, s, E_set(0)), true);
  expect_bool(E_call(PDPL_FN_CONTAINS_ANY, 2, s, E_set(2, E_long(8), E_long(9))), false);
  expect_bool(E_call(PDPL_FN_CONTAINS_ANY, 2, s, E_set(2, E_long(8), E_long(1))), true);
  expect_bool(E_call(PDPL_FN_IS_EMPTY, 1, E_set(0)), true);
  expect_bool(E_call(PDPL_FN_IS_EMPTY, 1, s), false);
  expect_error(E_call(PDPL_FN_CONTAINS, 2, E_long(1), E_long(1)), "type error");
  expect_error(E_call(PDPL_FN_CONTAINS_ALL, 2, s, E_long(1)), "type error");
  expect_error(E_call(PDPL_FN_IS_EMPTY, 1, E_str("")), "type error");
}

Test(eval_ops, tags_are_read_with_get_tag_and_has_tag) {
  expect_bool(E_call(PDPL_FN_HAS_TAG, 2, E_var(PDPL_VAR_PRINCIPAL), E_str("level")), true);
  expect_bool(E_call(PDPL_FN_HAS_TAG, 2, E_var(PDPL_VAR_PRINCIPAL), E_str("age")), false);
  expect_bool(E_call(PDPL_FN_HAS_TAG, 2, E_uid("User", "ghost"), E_str("level")), false);
  pdpe_value v;
  cr_assert(t_eval(E_call(PDPL_FN_GET_TAG, 2, E_var(PDPL_VAR_PRINCIPAL), E_str("level")), &v));
  cr_assert(v.kind == PDPE_STRING && pu_str_eq_c(v.u.s, "gold"));
  expect_error(E_call(PDPL_FN_GET_TAG, 2, E_var(PDPL_VAR_PRINCIPAL), E_str("age")), "tag 'age'");
  expect_error(E_call(PDPL_FN_GET_TAG, 2, E_uid("User", "ghost"), E_str("level")),
               "does not exist");
  expect_error(E_call(PDPL_FN_GET_TAG, 2, E_var(PDPL_VAR_PRINCIPAL), E_long(1)), "type error");
}

Test(eval_ops, unlinked_template_slots_are_errors) {
  pdpl_expr *e = t_new(PDPL_E_SLOT);
  e->u.slot = PDPL_SLOT_PRINCIPAL;
  expect_error(e, "slot");
  pdpe_uid slots[2] = {U("User", "bob"), U("Doc", "x")};
  memset(&T_env, 0, sizeof T_env);
  T_env.req = &T_req, T_env.stored = T_stored, T_env.arena = &T_arena, T_env.slots = slots;
  pdpe_value v;
  cr_assert(pdpe__eval(&T_env, e, &v, 0));
  cr_assert(v.kind == PDPE_ENTITY && pu_str_eq_c(v.u.uid.id, "bob"));
}

Test(eval_ops, errors_record_the_position_of_the_failing_expression) {
  pdpl_expr *bad = E_bin(PDPL_OP_ADD, E_long(1), E_str("x"));
  bad->pos = (pdpl_pos){"p.cedar", 4, 7};
  pdpe_value v;
  cr_assert_not(t_eval(E_bin(PDPL_OP_AND, E_bool(true), bad), &v));
  cr_assert_eq(T_env.err_at, bad);
}

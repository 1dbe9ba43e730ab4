/* test_lang_errors.c - broken policies give one positioned, readable error each; the parser
 * recovers at the policy's ';'; hostile input (deep nesting, garbage, NUL bytes, huge
 * chains, allocation failure) gives errors, never a crash. */
#include "test_lang_util.h"

TestSuite(lang_errors, .init = tl_setup, .fini = tl_teardown);

Test(lang_errors, expected_and_found_tokens_are_named) {
  tl_expect_error("permit(principal, action, resource) when { (1 && 2 };", 1, 52,
                  "expected ')' but found '}'");
  tl_expect_error("permit(principal action, resource);", 1, 18, "expected ',' but found 'action'");
  tl_expect_error("permit(principal, action, resource)", 1, 36,
                  "expected 'when', 'unless' or ';' but found end of input");
  tl_expect_error("allow(principal, action, resource);", 1, 1,
                  "expected 'permit', 'forbid' or '@' but found 'allow'");
  tl_expect_error("permit(action, principal, resource);", 1, 8,
                  "expected 'principal' but found 'action'");
  tl_expect_error("permit(principal, action, resource) when { true } otherwise { false };", 1, 51,
                  "expected 'when', 'unless' or ';'");
  tl_expect_error("permit(principal, action, resource) when {};", 1, 43, "empty when clause");
  tl_expect_error("permit(principal, action, resource) when { 1 + };", 1, 48,
                  "expected an expression but found '}'");
}

Test(lang_errors, relations_cannot_be_chained) {
  tl_expect_expr_error("1 == 2 == true", 8, "'==' cannot be chained");
  tl_expect_expr_error("1 < 2 in principal", 7, "'<' cannot be chained with 'in'");
  tl_expect_expr_error("principal has a == true", 17, "'has' cannot be chained with '=='");
  tl_expect_expr_error("principal is User is User", 19, "cannot be chained");
  tl_expect_expr_error("1 = 1", 3, "did you mean '=='");
}

Test(lang_errors, unknown_functions_methods_and_variables_are_positioned) {
  tl_expect_expr_error("context.foo(1)", 9, "unknown method 'foo'");
  tl_expect_expr_error("frob(\"x\")", 1, "unknown function 'frob'");
  tl_expect_expr_error("A::ip(\"x\")", 1, "unknown function 'A::ip'");
  tl_expect_expr_error("contains([1], 1)", 1, "'contains' is a method, not a function");
  tl_expect_expr_error("context.ip()", 9, "'ip' is a function, not a method");
  tl_expect_expr_error("user.name", 1, "unknown variable 'user'");
  tl_expect_expr_error("User::Group", 1, "'User::Group' is not an expression");
}

Test(lang_errors, set_and_tag_methods_check_their_argument_count) {
  tl_expect_expr_error("[1].contains(1, 2)", 5, "'contains' takes 1 argument but 2 were given");
  tl_expect_expr_error("[1].isEmpty(1)", 5, "'isEmpty' takes 0 arguments but 1 was given");
  tl_expect_expr_error("principal.getTag()", 11, "'getTag' takes 1 argument but 0 were given");
}

Test(lang_errors, has_like_and_is_need_the_right_operand) {
  tl_expect_expr_error("principal has 1", 15, "expected an attribute name or a string after 'has'");
  tl_expect_expr_error("principal has if", 15, "'if' is a reserved word");
  tl_expect_expr_error("principal has a.in", 17, "'in' is a reserved word");
  tl_expect_expr_error("context.s like context.t", 16, "expected a string pattern after 'like'");
  tl_expect_expr_error("context.s like \"\\q\"", 17, "invalid escape \\q");
  tl_expect_expr_error("principal is \"User\"", 14, "expected an entity type after 'is'");
  tl_expect_expr_error("principal is User::\"a\"", 20, "expected an identifier after '::'");
}

Test(lang_errors, reserved_words_cannot_name_attributes_or_types) {
  tl_expect_expr_error("context.then", 9, "'then' is a reserved word");
  tl_expect_expr_error("{true: 1}", 2, "'true' is a reserved word");
  tl_expect_expr_error("A::like::\"x\"", 4, "'like' is a reserved word");
  tl_expect_expr_error("__cedar::X::\"y\" == principal", 1, "'__cedar' namespace is reserved");
  tl_expect_expr_error("then", 1, "expected an expression but found 'then'");
  tl_expect_expr_error("1 + if true then 1 else 2", 5, "wrap if-then-else in parentheses");
}

Test(lang_errors, records_index_and_unary_rules) {
  tl_expect_expr_error("{a: 1, b: 2, a: 3}", 14, "duplicate key 'a' in record literal");
  tl_expect_expr_error("{\"k\": 1, k: 2}", 10, "duplicate key 'k'");
  tl_expect_expr_error("context[context.k]", 9,
                       "expected a string literal attribute name in '[...]'");
  tl_expect_expr_error("!!!!!true", 1, "too many '!' operators in a row (at most 4)");
  tl_expect_expr_error("-----1", 1, "too many '-'");
  tl_expect_expr_error("!-1", 2, "expected an expression but found '-'");
  tl_expect_expr_error("6 / 3", 3, "Cedar has no division");
  tl_expect_expr_error("[1, 2", 7, "expected ',' or ']'");
  tl_expect_expr_error("[,]", 2, "expected an expression but found ','");
  tl_expect_expr_error("?principal == principal", 1, "may appear only in the policy scope");
}

Test(lang_errors, scope_rules_follow_cedar) {
  tl_expect_error("permit(principal == ?resource, action, resource);", 1, 21,
                  "'?resource' cannot be used in the principal scope");
  tl_expect_error("permit(principal, action, resource in ?principal);", 1, 39,
                  "cannot be used in the resource scope");
  tl_expect_error("permit(principal, action == ?principal, resource);", 1, 29,
                  "not allowed in the action scope");
  tl_expect_error("permit(principal, action is Action, resource);", 1, 26,
                  "'is' is not allowed in the action scope");
  tl_expect_error("permit(principal in [User::\"a\"], action, resource);", 1, 21,
                  "only for action");
  tl_expect_error("permit(principal, action == User::\"a\", resource);", 1, 29,
                  "expected an action uid");
  tl_expect_error("permit(principal, action in [Action::\"a\", Foo::\"b\"], resource);", 1, 43,
                  "expected an action uid");
  tl_expect_error("permit(principal is User == User::\"a\", action, resource);", 1, 26,
                  "'is' cannot be combined with '=='");
  tl_expect_error("permit(principal: User, action, resource);", 1, 17, "not supported");
  tl_expect_error("permit(principal == principal, action, resource);", 1, 30, "expected '::'");
  tl_expect_error("permit(principal == User::\"a\" && true, action, resource);", 1, 31,
                  "expected ',' but found '&&'");
  tl_expect_error("permit(principal, action, resource, context);", 1, 37,
                  "expected ')' but found 'context'");
}

Test(lang_errors, annotation_errors) {
  tl_expect_error("@id(\"a\") @id(\"b\") permit(principal, action, resource);", 1, 11,
                  "duplicate annotation '@id'");
  tl_expect_error("@id(a) permit(principal, action, resource);", 1, 5,
                  "expected a string literal but found 'a'");
  tl_expect_error("@id(\"a\") 123", 1, 10, "expected 'permit' or 'forbid' but found '123'");
  tl_expect_error("@permit permit(principal, action, resource) when { true } @id(\"x\");", 1, 59,
                  "expected 'when', 'unless' or ';' but found '@'");
  tl_expect_error("@1 permit(principal, action, resource);", 1, 2, "expected an annotation name");
}

Test(lang_errors, every_broken_policy_in_a_file_is_reported_and_good_ones_kept) {
  const char *text = "permit(principal, action, resource) when { 1 + };\n"  /* 1 */
                     "permit(principal, action, resource);\n"               /* ok */
                     "forbid(principal, action, resource) when { (((( };\n" /* 3 */
                     "permit(principal, action, resource) when { \"x;y\" == ) };\n"
                     "@id(\"ok\") forbid(principal, action, resource);\n"
                     "permit(principal, action, resource) unless { !!!!!!x };\n"
                     "permit(";
  uint32_t n = tl_parse(text);
  cr_assert_eq(n, 5, "%s", tl_all_errs());
  cr_assert_eq(tl_errs.n, 5);
  uint32_t lines[] = {1, 3, 4, 6, 7};
  for (int i = 0; i < 5; i++)
    cr_assert_eq(tl_errs.items[i].pos.line, lines[i], "%s", tl_all_errs());
  cr_assert_eq(tl_out.n, 2);
  cr_assert(tl_str_is(tl_out.items[0].id, "policy1"));
  cr_assert(tl_str_is(tl_out.items[1].id, "ok"));
}

Test(lang_errors, a_lexical_error_is_reported_once) {
  uint32_t n = tl_parse("permit(principal, action, resource) when { a # b $ c "
                        "};\npermit(principal, action, resource);");
  cr_assert_eq(n, 1, "%s", tl_all_errs());
  cr_assert(strstr(tl_errs.items[0].msg, "'#'"));
  cr_assert_eq(tl_out.n, 1);
}

Test(lang_errors, unterminated_string_at_end_of_input) {
  tl_expect_error("permit(principal, action, resource) when { context.a == \"abc", 1, 57,
                  "unterminated string");
  memset(&tl_errs, 0, sizeof tl_errs);
  cr_assert_eq(tl_parse("permit(principal, action, resource) when { x }; \"abc\\\""), 2);
  cr_assert(strstr(tl_errs.items[1].msg, "unterminated string"));
  /* A string left open while skipping a broken policy is still reported. */
  memset(&tl_errs, 0, sizeof tl_errs);
  cr_assert_eq(tl_parse("permit(principal, action, resource) when { ) \"open"), 2, "%s",
               tl_all_errs());
}

Test(lang_errors, nul_bytes_in_text_are_errors_but_allowed_via_escapes) {
  const char text[] = "permit(principal, action, resource) when { \0 };";
  memset(&tl_errs, 0, sizeof tl_errs);
  cr_assert_eq(tl_parse_n(text, sizeof text - 1), 1);
  cr_assert(strstr(tl_errs.items[0].msg, "0x00"), "%s", tl_all_errs());
  cr_assert_eq(tl_errs.items[0].pos.col, 44);
  const char text2[] = "permit(principal, action, resource) when { \"a\0b\" == \"a\\0b\" };";
  pdpl_policies before = tl_out;
  memset(&tl_errs, 0, sizeof tl_errs);
  cr_assert_eq(tl_parse_n(text2, sizeof text2 - 1), 0, "%s", tl_all_errs());
  pdpl_expr *e = tl_out.items[before.n].conditions[0].body;
  cr_assert(pu_str_eq(e->u.binary.lhs->u.lit.s, e->u.binary.rhs->u.lit.s));
  cr_assert_eq(e->u.binary.lhs->u.lit.s.len, 3);
}

Test(lang_errors, deep_parentheses_are_refused_without_overflowing_the_stack) {
  size_t depth = 100000;
  char *text = malloc(2 * depth + 200);
  size_t n = (size_t)sprintf(text, "permit(principal, action, resource) when { ");
  memset(text + n, '(', depth);
  n += depth;
  n += (size_t)sprintf(text + n, "1");
  memset(text + n, ')', depth);
  n += depth;
  n += (size_t)sprintf(text + n, " };\npermit(principal, action, resource);");
  cr_assert_eq(tl_parse_n(text, n), 1);
  cr_assert(strstr(tl_errs.items[0].msg, "expression nested too deeply"), "%s", tl_all_errs());
  cr_assert_eq(tl_out.n, 1, "the policy after the deep one still parses");
  free(text);
}

Test(lang_errors, nesting_up_to_the_limit_is_accepted) {
  char text[1000];
  size_t n = (size_t)sprintf(text, "permit(principal, action, resource) when { ");
  for (int i = 0; i < PDPL_MAX_DEPTH - 1; i++) text[n++] = '[';
  text[n++] = '1';
  for (int i = 0; i < PDPL_MAX_DEPTH - 1; i++) text[n++] = ']';
  n += (size_t)sprintf(text + n, " };");
  cr_assert_eq(tl_parse_n(text, n), 0, "%s", tl_all_errs());
}

static void long_chain(const char *first, const char *op, const char *item, size_t count,
                       const char *part) {
  size_t il = strlen(item), ol = strlen(op);
  char *text = malloc(count * (il + ol) + 200);
  size_t n = (size_t)sprintf(text, "permit(principal, action, resource) when { %s", first);
  for (size_t i = 1; i < count; i++) {
    memcpy(text + n, op, ol);
    memcpy(text + n + ol, item, il);
    n += ol + il;
  }
  n += (size_t)sprintf(text + n, " };");
  memset(&tl_errs, 0, sizeof tl_errs);
  cr_assert_eq(tl_parse_n(text, n), 1, "%s x %zu", op, count);
  cr_assert(strstr(tl_errs.items[0].msg, part), "%s", tl_all_errs());
  free(text);
}

Test(lang_errors, very_long_chains_are_refused_by_height) {
  long_chain("true", " && ", "true", 100000, "nested too deeply");
  long_chain("1", " + ", "1", 100000, "nested too deeply");
  long_chain("context", ".", "a", 100000, "nested too deeply");
  long_chain("[1]", ".", "contains(1)", 20000, "nested too deeply");
}

Test(lang_errors, long_attribute_and_has_paths_are_refused_by_height) {
  size_t count = 50000;
  char *text = malloc(count * 2 + 200);
  size_t n = (size_t)sprintf(text, "permit(principal, action, resource) when { context has a");
  for (size_t i = 1; i < count; i++) n += (size_t)sprintf(text + n, ".a");
  n += (size_t)sprintf(text + n, " };");
  cr_assert_eq(tl_parse_n(text, n), 1);
  cr_assert(strstr(tl_errs.items[0].msg, "nested too deeply"), "%s", tl_all_errs());
  free(text);
}

Test(lang_errors, a_megabyte_of_garbage_gives_errors_not_a_crash) {
  size_t len = 1 << 20;
  unsigned char *g = malloc(len);
  uint32_t x = 12345;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    g[i] = (unsigned char)(x >> 16);
  }
  uint32_t n = tl_parse_n((const char *)g, len);
  cr_assert_gt(n, 0);
  cr_assert_eq(tl_errs.n, PDPL_MAX_ERRORS);
  cr_assert_eq(n, tl_errs.n + tl_errs.dropped);
  for (uint32_t i = 0; i < tl_errs.n; i++) {
    cr_assert_geq(tl_errs.items[i].pos.line, 1);
    cr_assert_geq(tl_errs.items[i].pos.col, 1);
  }
  free(g);
}

Test(lang_errors, errors_past_the_limit_are_counted_not_recorded) {
  size_t count = PDPL_MAX_ERRORS + 50;
  char *text = malloc(count * 8 + 1);
  text[0] = '\0';
  for (size_t i = 0; i < count; i++) strcat(text, "oops;\n");
  cr_assert_eq(tl_parse(text), count);
  cr_assert_eq(tl_errs.n, PDPL_MAX_ERRORS);
  cr_assert_eq(tl_errs.dropped, 50);
  free(text);
}

Test(lang_errors, allocation_failure_is_an_error_not_a_crash) {
  const char *text = "@id(\"x\") permit(principal == User::\"u\", action in [Action::\"a\", "
                     "Action::\"b\"], resource)"
                     " when { [1, 2, {a: \"b\"}].contains(context.x) && context has a.b.c && "
                     "context.s like \"a*b\" };";
  pdpl_policies first = {0};
  pu_arena big;
  pu_arena_init(&big, 4096, 0);
  pdpl_errors errs = {0};
  cr_assert_eq(pdpl_parse(&big, "f", text, strlen(text), NULL, &first, &errs), 0);
  size_t need = big.used;
  pu_arena_close(&big);
  for (size_t budget = 16; budget < need; budget += 16) {
    pu_arena a;
    pu_arena_init(&a, 256, budget);
    pdpl_policies out = {0};
    memset(&errs, 0, sizeof errs);
    uint32_t n = pdpl_parse(&a, "f", text, strlen(text), NULL, &out, &errs);
    cr_assert_eq(n, 1, "budget %zu", budget);
    cr_assert_eq(out.n, 0);
    cr_assert(strstr(errs.items[0].msg, "out of memory"), "budget %zu: %s", budget,
              errs.items[0].msg);
    pu_arena_close(&a);
  }
}

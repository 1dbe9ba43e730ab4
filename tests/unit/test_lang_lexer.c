/* test_lang_lexer.c - strings and escapes, integer limits, comments, positions, and the
 * formatting helpers (uids, errors, function names) and pdpl_parse_uid(). */
#include "test_lang_util.h"

TestSuite(lang_lexer, .init = tl_setup, .fini = tl_teardown);

static pu_str str_of(const char *body) {
  pdpl_expr *e = tl_expr(body);
  cr_assert_eq(e->kind, PDPL_E_STRING, "%s", body);
  return e->u.lit.s;
}

Test(lang_lexer, every_cedar_escape_is_decoded) {
  pu_str s = str_of("\"\\n\\r\\t\\\\\\0\\'\\\"\\x41\\u{e9}\\u{1_0000}\"");
  const char want[] = "\n\r\t\\\0'\"A\xc3\xa9\xf0\x90\x80\x80";
  cr_assert_eq(s.len, sizeof want - 1);
  cr_assert_eq(memcmp(s.ptr, want, s.len), 0);
}

Test(lang_lexer, backslash_newline_continues_the_string) {
  pu_str s = str_of("\"ab\\\n    cd\"");
  cr_assert(tl_str_is(s, "abcd"));
}

Test(lang_lexer, raw_newlines_and_utf8_are_kept_in_strings) {
  pu_str s = str_of("\"a\nb \xe2\x9c\x93\"");
  cr_assert(tl_str_is(s, "a\nb \xe2\x9c\x93"));
}

Test(lang_lexer, invalid_escapes_are_errors_at_the_backslash) {
  tl_expect_expr_error("\"ab\\q\"", 4, "invalid escape \\q");
  tl_expect_expr_error("\"\\*\"", 2, "invalid escape \\*");
  tl_expect_expr_error("\"\\x80\"", 2, "invalid escape \\x80");
  tl_expect_expr_error("\"\\x4\"", 2, "invalid escape");
  tl_expect_expr_error("\"\\u{110000}\"", 2, "invalid escape \\u{110000}");
  tl_expect_expr_error("\"\\u{d800}\"", 2, "invalid escape");
  tl_expect_expr_error("\"\\u{}\"", 2, "invalid escape");
  tl_expect_expr_error("\"\\u{1234567}\"", 2, "invalid escape");
  tl_expect_expr_error("\"\\u41\"", 2, "invalid escape");
  tl_expect_expr_error("\"\\u{_1}\"", 2, "invalid escape");
}

Test(lang_lexer, escape_errors_inside_multiline_strings_have_the_right_line) {
  tl_expect_error("permit(principal, action, resource) when {\n\"line2\nline3 \\z\" };", 3, 7,
                  "invalid escape \\z");
}

Test(lang_lexer, bare_carriage_return_and_bad_utf8_in_strings_are_errors) {
  tl_expect_expr_error("\"a\rb\"", 3, "carriage return");
  tl_expect_expr_error("\"a\xff\"", 3, "invalid UTF-8");
  tl_expect_expr_error("\"\xc0\xaf\"", 2, "invalid UTF-8");
  tl_expect_expr_error("\"\xed\xa0\x80\"", 2, "invalid UTF-8");
}

Test(lang_lexer, integer_literals_past_int64_are_errors) {
  tl_expect_expr_error("9223372036854775808", 1, "integer literal out of range");
  tl_expect_expr_error("1 + 99999999999999999999999", 5, "integer literal out of range");
  tl_expect_expr_error("-9223372036854775809", 2, "integer literal out of range");
  tl_expect_expr_error("-(9223372036854775808)", 3, "integer literal out of range");
}

Test(lang_lexer, unexpected_bytes_are_reported_with_their_position) {
  tl_expect_error("permit(principal, action, resource)\n  when { 1 # 2 };", 2, 12,
                  "unexpected character '#'");
  tl_expect_expr_error("true | false", 6, "did you mean '||'");
  tl_expect_expr_error("a\x01", 2, "unexpected byte 0x01");
  tl_expect_expr_error("context.x == ?foo", 14, "unknown template slot '?foo'");
}

Test(lang_lexer, columns_count_bytes_not_characters) {
  tl_expect_error("permit(principal, action, resource) when { \"\xc3\xa9\xc3\xa9\" == @ };", 1, 54,
                  "expected an expression");
}

Test(lang_lexer, a_comment_at_end_of_input_without_newline_is_fine) {
  tl_policy("permit(principal, action, resource); // end");
  tl_policy("permit(principal, action, resource);//");
}

Test(lang_lexer, uid_format_escapes_the_id) {
  pdpl_uid u = {PU_STR_LIT("App::User"), {"a\"b\\c\n\0\x01z", 9}};
  pu_str s = pdpl_uid_format(&tl_arena, u);
  cr_assert_not_null(s.ptr);
  cr_assert(tl_str_is(s, "App::User::\"a\\\"b\\\\c\\n\\0\\u{1}z\""), "%.*s", (int)s.len, s.ptr);
}

Test(lang_lexer, uid_format_round_trips_through_parse_uid) {
  pdpl_uid u = {PU_STR_LIT("A::B"), {"x\"\t\0\xe2\x9c\x93", 7}};
  pu_str s = pdpl_uid_format(&tl_arena, u);
  pdpl_uid back;
  char err[200];
  cr_assert(pdpl_parse_uid(&tl_arena, s.ptr, s.len, &back, err, sizeof err), "%s", err);
  cr_assert(pu_str_eq(back.type, u.type));
  cr_assert(pu_str_eq(back.id, u.id));
}

Test(lang_lexer, parse_uid_accepts_namespaces_and_escapes) {
  pdpl_uid u;
  char err[200];
  cr_assert(pdpl_parse_uid(&tl_arena, "App::Doc::\"a\\\"b\"", 16, &u, err, sizeof err), "%s", err);
  cr_assert(tl_str_is(u.type, "App::Doc"));
  cr_assert(tl_str_is(u.id, "a\"b"));
  cr_assert(pdpl_parse_uid(&tl_arena, " User::\"alice\" ", 15, &u, err, sizeof err), "%s", err);
  cr_assert(tl_str_is(u.id, "alice"));
}

Test(lang_lexer, parse_uid_rejects_malformed_uids_with_a_message) {
  const char *bad[] = {"User",      "User::",        "\"alice\"", "User::\"a\" x", "User::\"a",
                       "if::\"a\"", "User::\"\\q\"", "",          "User:\"a\""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pdpl_uid u;
    char err[200] = "";
    cr_assert_not(pdpl_parse_uid(&tl_arena, bad[i], strlen(bad[i]), &u, err, sizeof err), "%s",
                  bad[i]);
    cr_assert_neq(err[0], '\0', "no message for %s", bad[i]);
  }
  pdpl_uid u;
  cr_assert_not(pdpl_parse_uid(&tl_arena, "x", 1, &u, NULL, 0));
}

Test(lang_lexer, error_format_is_file_line_col_message) {
  pdpl_error e = {{"dir/p.cedar", 3, 14}, "expected ')' but found '&&'"};
  char buf[300];
  cr_assert_str_eq(pdpl_error_format(&e, buf, sizeof buf),
                   "dir/p.cedar:3:14: expected ')' but found '&&'");
  char small[8];
  cr_assert_str_eq(pdpl_error_format(&e, small, sizeof small), "dir/p.c");
}

Test(lang_lexer, fn_names_are_the_cedar_spellings) {
  cr_assert_str_eq(pdpl_fn_name(PDPL_FN_CONTAINS_ALL), "containsAll");
  cr_assert_str_eq(pdpl_fn_name(PDPL_FN_IP), "ip");
  cr_assert_str_eq(pdpl_fn_name(PDPL_FN_GREATER_THAN_OR_EQUAL), "greaterThanOrEqual");
  cr_assert_str_eq(pdpl_fn_name(PDPL_FN_TO_MILLISECONDS), "toMilliseconds");
  cr_assert_str_eq(pdpl_fn_name(PDPL_FN__COUNT), "?");
  for (int f = 0; f < PDPL_FN__COUNT; f++) cr_assert_neq(pdpl_fn_name((pdpl_fn)f)[0], '?');
}

/* test_lang_util.h - helpers shared by the pdp/lang test suites: parse a text into a fresh
 * arena, fetch the first condition's body, and check an expected error's position and
 * message.  Each suite includes this once (the helpers are static). */
#ifndef TEST_LANG_UTIL_H
#define TEST_LANG_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pdp/lang/pdpl.h"

static pu_arena tl_arena;
static pdpl_errors tl_errs;
static pdpl_policies tl_out;

__attribute__((unused)) static void tl_setup(void) {
  pu_arena_init(&tl_arena, 4096, 0);
  memset(&tl_errs, 0, sizeof tl_errs);
  memset(&tl_out, 0, sizeof tl_out);
}

__attribute__((unused)) static void tl_teardown(void) {
  pu_arena_close(&tl_arena);
}

/* Parse `len` bytes into tl_out (appending); returns the number of errors. */
__attribute__((unused)) static uint32_t tl_parse_n(const char *text, size_t len) {
  return pdpl_parse(&tl_arena, "t.cedar", text, len, NULL, &tl_out, &tl_errs);
}

__attribute__((unused)) static uint32_t tl_parse(const char *text) {
  return tl_parse_n(text, strlen(text));
}

__attribute__((unused)) static const char *tl_err(uint32_t i) {
  static char buf[400];
  cr_assert_lt(i, tl_errs.n, "no error #%u (only %u)", i, tl_errs.n);
  return pdpl_error_format(&tl_errs.items[i], buf, sizeof buf);
}

/* Print every error, for failing assertions. */
__attribute__((unused)) static const char *tl_all_errs(void) {
  static char buf[4096];
  size_t n = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < tl_errs.n && n + 300 < sizeof buf; i++) {
    char one[400];
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n",
                          pdpl_error_format(&tl_errs.items[i], one, sizeof one));
  }
  return buf;
}

/* Parse one policy that must be valid and return it. */
__attribute__((unused)) static pdpl_policy *tl_policy(const char *text) {
  uint32_t before = tl_out.n;
  uint32_t n = tl_parse(text);
  cr_assert_eq(n, 0, "unexpected errors for <%s>:\n%s", text, tl_all_errs());
  cr_assert_eq(tl_out.n, before + 1);
  return &tl_out.items[before];
}

/* The body of `when { BODY }` in an otherwise trivial policy. */
__attribute__((unused)) static pdpl_expr *tl_expr(const char *body) {
  char *text = malloc(strlen(body) + 100);
  sprintf(text, "permit(principal, action, resource) when { %s };", body);
  pdpl_policy *p = tl_policy(text);
  free(text);
  cr_assert_eq(p->n_conditions, 1);
  return p->conditions[0].body;
}

/* The text must give exactly one error, at line:col, whose message contains `part`. */
__attribute__((unused)) static void tl_expect_error(const char *text, uint32_t line, uint32_t col,
                                                    const char *part) {
  memset(&tl_errs, 0, sizeof tl_errs);
  uint32_t n = tl_parse(text);
  cr_assert_eq(n, 1, "expected one error for <%s>, got %u:\n%s", text, n, tl_all_errs());
  const pdpl_error *e = &tl_errs.items[0];
  cr_assert(e->pos.line == line && e->pos.col == col, "<%s>: expected %u:%u, got %s", text, line,
            col, tl_err(0));
  cr_assert(strstr(e->msg, part) != NULL, "<%s>: expected message with \"%s\", got %s", text, part,
            tl_err(0));
}

/* Same, with the text wrapped as the body of a when clause on line 1 starting at col 44. */
#define TL_WHEN_PREFIX "permit(principal, action, resource) when { "
__attribute__((unused)) static void tl_expect_expr_error(const char *body, uint32_t col_in_body,
                                                         const char *part) {
  char *text = malloc(strlen(body) + 100);
  sprintf(text, TL_WHEN_PREFIX "%s };", body);
  tl_expect_error(text, 1, (uint32_t)strlen(TL_WHEN_PREFIX) + col_in_body, part);
  free(text);
}

__attribute__((unused)) static bool tl_str_is(pu_str s, const char *c) {
  return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

#endif

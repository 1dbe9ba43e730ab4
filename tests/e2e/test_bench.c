/* test_bench.c - pdp-bench measures a real pdpd and the echo baseline, and its numbers are
 * honest: every answer of the first pass is checked against the scenario's expectations,
 * and a scenario whose expectations are wrong makes pdp-bench fail instead of report.
 * With --batch K the checks travel K per BatchCheck request and every item is verified.
 * (No test here asserts a timing: only that the measurement ran and was verified.)
 */
#include <criterion/criterion.h>
#include <jansson.h>

#include "daemon_util.h"

static du_daemon d;

static const char *env(const char *name) {
  const char *v = getenv(name);
  cr_assert(v && *v, "%s is not set (run through zig build test)", name);
  return v;
}

static void setup(void) {
  cr_assert(du_init_dir(&d));
  char src[1024];
  snprintf(src, sizeof src, "%s/examples/quickstart", env("PDP_SOURCE_ROOT"));
  static char source[1024];
  strcpy(source, src);
  d.source = source;
  cr_assert(du_start(&d, NULL), "pdpd did not start");
}

static void teardown(void) {
  du_finish(&d);
}

/* Run pdp-bench with args; capture its output; return the exit code. */
static int bench(char *out, size_t cap, const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' --socket '%s' --echo-bin '%s' %s 2>&1", env("PDP_BENCH_BIN"),
           d.sock, env("PDP_ECHO_BIN"), args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TestSuite(bench, .init = setup, .fini = teardown, .timeout = 120);

Test(bench, pipelined_run_against_echo_is_verified_and_reports_ratios) {
  static char out[1 << 16];
  char json[200], args[2048];
  snprintf(json, sizeof json, "%s/result.json", d.dir);
  snprintf(args, sizeof args,
           "--scenario '%s' --connections 2 --depth 8 --requests 4000 --compare-echo --json '%s'",
           d.source, json);
  int rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 0, "pdp-bench exited %d:\n%s", rc, out);
  cr_assert(strstr(out, "ratio p50="), "no ratio line:\n%s", out);
  cr_assert(strstr(out, "| p99.9 (us) |"), "no p99.9 row:\n%s", out);

  json_error_t jerr;
  json_t *r = json_load_file(json, 0, &jerr);
  cr_assert_not_null(r, "%s: %s", json, jerr.text);
  cr_assert_eq(json_integer_value(json_object_get(r, "wrong")), 0);
  /* Two connections each verify the first pass of the scenario (17 checks). */
  cr_assert_gt(json_integer_value(json_object_get(r, "verified")), 0);
  json_t *p = json_object_get(r, "pdpd"), *e = json_object_get(r, "echo");
  cr_assert_not_null(p);
  cr_assert_not_null(e);
  cr_assert_eq(json_real_value(json_object_get(p, "answers")), 4000.0);
  cr_assert_eq(json_real_value(json_object_get(e, "answers")), 4000.0);
  cr_assert_gt(json_real_value(json_object_get(p, "p50_us")), 0.0);
  cr_assert(json_real_value(json_object_get(p, "p50_us")) <=
            json_real_value(json_object_get(p, "p99_us")));
  json_decref(r);
}

Test(bench, a_wrong_expectation_fails_the_run) {
  /* The same bundle, but one check expects the opposite decision. */
  cr_assert(du_write(&d, "wrong/checks.json",
                     "{\"checks\": [{\"principal\": {\"type\": \"User\", \"id\": \"alice\"},"
                     " \"action\": {\"type\": \"Action\", \"id\": \"view\"},"
                     " \"resource\": {\"type\": \"Document\", \"id\": \"design-doc\"},"
                     " \"decision\": \"deny\"}]}"));
  static char out[1 << 16];
  char args[512];
  snprintf(args, sizeof args, "--scenario '%s/wrong' --requests 100", d.dir);
  int rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 1, "pdp-bench must fail on a wrong answer (exit %d):\n%s", rc, out);
  cr_assert(strstr(out, "wrong: 1"), "wrong answer not reported:\n%s", out);
}

/* The number of checks in a checks.json, read independently of pdp-bench. */
static size_t count_checks(const char *dir) {
  char file[1024];
  snprintf(file, sizeof file, "%s/checks.json", dir);
  json_error_t jerr;
  json_t *r = json_load_file(file, 0, &jerr);
  cr_assert_not_null(r, "%s: %s", file, jerr.text);
  size_t n = json_array_size(json_object_get(r, "checks"));
  json_decref(r);
  cr_assert_gt(n, 0);
  return n;
}

Test(bench, batched_run_verifies_every_item_and_reports_checks_per_second) {
  static char out[1 << 16];
  char json[200], args[2048];
  snprintf(json, sizeof json, "%s/batch.json", d.dir);
  snprintf(args, sizeof args,
           "--scenario '%s' --batch 5 --connections 2 --depth 4 --requests 300 --compare-echo "
           "--json '%s'",
           d.source, json);
  int rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 0, "pdp-bench exited %d:\n%s", rc, out);
  cr_assert(strstr(out, "5 checks per BatchCheck request"), "%s", out);
  cr_assert(strstr(out, "| throughput (checks/s) |"), "no checks/s row:\n%s", out);
  cr_assert(strstr(out, "verified checks: "), "%s", out);

  json_error_t jerr;
  json_t *r = json_load_file(json, 0, &jerr);
  cr_assert_not_null(r, "%s: %s", json, jerr.text);
  cr_assert_eq(json_integer_value(json_object_get(r, "wrong")), 0);
  cr_assert_eq(json_integer_value(json_object_get(r, "batch")), 5);
  /* Each connection verifies one pass of ceil(n / 5) batches of 5 items each. */
  size_t n = count_checks(d.source);
  cr_assert_eq(json_integer_value(json_object_get(r, "verified")),
               (json_int_t)(2 * ((n + 4) / 5) * 5));
  json_t *p = json_object_get(r, "pdpd");
  cr_assert_eq(json_real_value(json_object_get(p, "answers")), 300.0);
  double rps = json_real_value(json_object_get(p, "throughput_rps"));
  double cps = json_real_value(json_object_get(p, "throughput_cps"));
  cr_assert_gt(rps, 0.0);
  cr_assert(cps > 4.99 * rps && cps < 5.01 * rps, "checks/s %f for %f requests/s", cps, rps);
  json_decref(r);
}

Test(bench, rounds_alternate_with_echo_and_add_up_to_the_requested_count) {
  static char out[1 << 16];
  char json[200], args[2048];
  snprintf(json, sizeof json, "%s/rounds.json", d.dir);
  snprintf(args, sizeof args,
           "--scenario '%s' --rounds 3 --connections 2 --depth 4 --requests 1000 --compare-echo "
           "--json '%s'",
           d.source, json);
  int rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 0, "pdp-bench exited %d:\n%s", rc, out);
  cr_assert(strstr(out, "3 rounds alternating with echo"), "%s", out);
  json_error_t jerr;
  json_t *r = json_load_file(json, 0, &jerr);
  cr_assert_not_null(r, "%s: %s", json, jerr.text);
  cr_assert_eq(json_integer_value(json_object_get(r, "rounds")), 3);
  cr_assert_eq(json_integer_value(json_object_get(r, "wrong")), 0);
  /* Every pdpd round verifies one pass per connection. */
  size_t n = count_checks(d.source);
  cr_assert_eq(json_integer_value(json_object_get(r, "verified")), (json_int_t)(3 * 2 * n));
  /* The rounds' shares add up to exactly the requested count on both sides. */
  cr_assert_eq(json_real_value(json_object_get(json_object_get(r, "pdpd"), "answers")), 1000.0);
  cr_assert_eq(json_real_value(json_object_get(json_object_get(r, "echo"), "answers")), 1000.0);
  json_decref(r);
}

Test(bench, a_wrong_expectation_inside_a_batch_fails_the_run) {
  /* One check expecting the opposite decision, packed 3 times into each batch. */
  cr_assert(du_write(&d, "wrongb/checks.json",
                     "{\"checks\": [{\"principal\": {\"type\": \"User\", \"id\": \"alice\"},"
                     " \"action\": {\"type\": \"Action\", \"id\": \"view\"},"
                     " \"resource\": {\"type\": \"Document\", \"id\": \"design-doc\"},"
                     " \"decision\": \"deny\"}]}"));
  static char out[1 << 16];
  char args[512];
  snprintf(args, sizeof args, "--scenario '%s/wrongb' --batch 3 --requests 20", d.dir);
  int rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 1, "pdp-bench must fail on a wrong batch item (exit %d):\n%s", rc, out);
  cr_assert(strstr(out, "wrong: 3"), "wrong items not reported:\n%s", out);
  cr_assert(strstr(out, "batch 0 item 0"), "first wrong item not named:\n%s", out);
}

Test(bench, bad_options_are_refused) {
  static char out[1 << 14];
  cr_assert_eq(bench(out, sizeof out, "--depth 0"), 2, "%s", out);
  cr_assert(strstr(out, "--depth"), "%s", out);
  cr_assert_eq(bench(out, sizeof out, "--scenario /nonexistent"), 2, "%s", out);
  cr_assert_eq(bench(out, sizeof out, "--batch 0"), 2, "%s", out);
  cr_assert(strstr(out, "--batch"), "%s", out);
  cr_assert_eq(bench(out, sizeof out, "--rounds 0"), 2, "%s", out);
  cr_assert(strstr(out, "--rounds"), "%s", out);
}

Test(bench, verify_all_checks_every_answer_not_only_the_first_pass) {
  static char out[1 << 16];
  char json[200], args[2048];
  snprintf(json, sizeof json, "%s/all.json", d.dir);
  snprintf(args, sizeof args, "--scenario '%s' --depth 4 --requests 500 --verify-all --json '%s'",
           d.source, json);
  int rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 0, "pdp-bench exited %d:\n%s", rc, out);
  json_error_t jerr;
  json_t *r = json_load_file(json, 0, &jerr);
  cr_assert_not_null(r, "%s: %s", json, jerr.text);
  cr_assert_eq(json_integer_value(json_object_get(r, "wrong")), 0);
  /* 500 answers, every one decoded and compared (the scenario has fewer checks). */
  cr_assert_gt(500, count_checks(d.source));
  cr_assert_eq(json_integer_value(json_object_get(r, "verified")), 500);
  json_decref(r);
}

Test(bench, a_wrong_expectation_in_a_later_pass_fails_only_with_verify_all) {
  /* Two checks, the second expecting the opposite decision: pass 1 verifies both either way;
   * a run of 3 passes counts the wrong answer once without --verify-all, 3 times with it. */
  cr_assert(du_write(&d, "later/checks.json",
                     "{\"checks\": [{\"principal\": {\"type\": \"User\", \"id\": \"alice\"},"
                     " \"action\": {\"type\": \"Action\", \"id\": \"view\"},"
                     " \"resource\": {\"type\": \"Document\", \"id\": \"design-doc\"},"
                     " \"decision\": \"allow\"},"
                     " {\"principal\": {\"type\": \"User\", \"id\": \"alice\"},"
                     " \"action\": {\"type\": \"Action\", \"id\": \"view\"},"
                     " \"resource\": {\"type\": \"Document\", \"id\": \"design-doc\"},"
                     " \"decision\": \"deny\"}]}"));
  static char out[1 << 16];
  char args[512];
  snprintf(args, sizeof args, "--scenario '%s/later' --requests 6", d.dir);
  cr_assert_eq(bench(out, sizeof out, args), 1, "%s", out);
  cr_assert(strstr(out, "verified answers: 2, wrong: 1"), "%s", out);
  snprintf(args, sizeof args, "--scenario '%s/later' --requests 6 --verify-all", d.dir);
  cr_assert_eq(bench(out, sizeof out, args), 1, "%s", out);
  cr_assert(strstr(out, "verified answers: 6, wrong: 3"), "%s", out);
}

/* pdpctl list-allowed's answer for alice on design-doc as a JSON array of action ids, or
 * NULL when pdpd did not answer OK (a build without ListAllowed answers UNIMPLEMENTED). */
static json_t *pdpctl_list(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' list-allowed --socket '%s' --principal 'User::\"alice\"' "
           "--resource 'Document::\"design-doc\"' --json 2>/dev/null",
           env("PDPCTL_BIN"), d.sock);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  static char buf[1 << 14];
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  int st = pclose(p);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return NULL;
  json_error_t jerr;
  json_t *o = json_loads(buf, 0, &jerr);
  cr_assert_not_null(o, "pdpctl list-allowed --json: %s: %s", jerr.text, buf);
  json_t *ids = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(o, "actions"), i, a)
      json_array_append(ids, json_object_get(a, "id"));
  json_decref(o);
  return ids;
}

static void write_lists(const char *rel, json_t *allowed) {
  json_t *root = json_pack("{s:[{s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:O}]}", "lists", "name",
                           "alice on design-doc", "principal", "type", "User", "id", "alice",
                           "resource", "type", "Document", "id", "design-doc", "allowed", allowed);
  cr_assert_not_null(root);
  char *text = json_dumps(root, 0);
  cr_assert(du_write(&d, rel, text));
  free(text);
  json_decref(root);
}

Test(bench, list_allowed_answers_are_compared_with_the_expected_actions) {
  json_t *ids = pdpctl_list();
  static char out[1 << 16];
  char args[512];
  /* The expectation pdpctl's answer gives: verified when pdpd serves ListAllowed, and a
   * wrong answer (non-OK status) when it does not. */
  json_t *want = ids ? json_incref(ids) : json_array();
  write_lists("la/list-allowed.json", want);
  json_decref(want);
  snprintf(args, sizeof args, "--scenario '%s/la' --list-allowed --requests 50 --verify-all",
           d.dir);
  int rc = bench(out, sizeof out, args);
  if (ids) {
    cr_assert_eq(rc, 0, "pdp-bench exited %d:\n%s", rc, out);
    cr_assert(strstr(out, "verified answers: 50, wrong: 0"), "%s", out);
  } else {
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "list 0: status "), "%s", out);
  }
  /* One more expected action than pdpd allows is always wrong. */
  json_t *more = ids ? json_copy(ids) : json_array();
  json_array_append_new(more, json_string("no-such-action"));
  write_lists("la2/list-allowed.json", more);
  snprintf(args, sizeof args, "--scenario '%s/la2' --list-allowed --requests 10", d.dir);
  rc = bench(out, sizeof out, args);
  cr_assert_eq(rc, 1, "pdp-bench must fail on a wrong list (exit %d):\n%s", rc, out);
  cr_assert(strstr(out, "verified answers: 1, wrong: 1"), "%s", out);
  json_decref(more);
  if (ids) json_decref(ids);
}

Test(bench, a_bad_list_allowed_file_is_refused_naming_the_item) {
  cr_assert(du_write(&d, "badl/list-allowed.json",
                     "{\"lists\": [{\"principal\": \"User::\\\"alice\\\"\","
                     " \"resource\": \"Document::\\\"d\\\"\", \"allowed\": []},"
                     " {\"principal\": \"User::\\\"alice\\\"\","
                     " \"resource\": \"Document::\\\"d\\\"\", \"allowed\": [1]}]}"));
  static char out[1 << 14];
  char args[512];
  snprintf(args, sizeof args, "--scenario '%s/badl' --list-allowed", d.dir);
  cr_assert_eq(bench(out, sizeof out, args), 2, "%s", out);
  cr_assert(strstr(out, "lists[1].allowed[0]"), "%s", out);
  snprintf(args, sizeof args, "--scenario '%s/badl' --list-allowed --batch 2", d.dir);
  cr_assert_eq(bench(out, sizeof out, args), 2, "%s", out);
}

/* test_pdpctl_test.c - `pdpctl test DIR` against a real pdpd: pass, fail, bad files. */
#include "pdpctl_util.h"

static void up(void) {
  e2e_setup();
  e2e_write_bundle();
  e2e_start_daemon();
}

TestSuite(pdpctl_test, .init = up, .fini = e2e_teardown);

/* Four true expectations; `wrong` replaces the last with a false one. */
static void write_checks(bool wrong) {
  char text[4096];
  snprintf(text, sizeof text,
           "{\"checks\": [\n"
           " {\"name\": \"owner views\", \"principal\": {\"type\": \"User\", \"id\": \"alice\"},\n"
           "  \"action\": {\"type\": \"Action\", \"id\": \"view\"}, \"resource\": {\"type\": "
           "\"Document\", \"id\": \"d1\"},\n"
           "  \"decision\": \"allow\", \"reason\": [\"view-own\"], \"errors\": []},\n"
           " {\"name\": \"not the owner\", \"principal\": \"User::\\\"alice\\\"\", \"action\": "
           "\"Action::\\\"view\\\"\",\n"
           "  \"resource\": \"Document::\\\"d2\\\"\", \"decision\": \"deny\", \"reason\": []},\n"
           " {\"principal\": \"User::\\\"bob\\\"\", \"action\": \"Action::\\\"delete\\\"\", "
           "\"resource\": \"Document::\\\"d1\\\"\",\n"
           "  \"context\": {\"net\": \"office\"}, \"decision\": \"Allow\"},\n"
           " {\"name\": \"home delete\", \"principal\": \"User::\\\"bob\\\"\", \"action\": "
           "\"Action::\\\"delete\\\"\",\n"
           "  \"resource\": \"Document::\\\"d1\\\"\", \"decision\": \"%s\"}\n"
           "]}\n",
           wrong ? "allow" : "deny");
  e2e_write("bundle/checks.json", text);
}

Test(pdpctl_test, all_true_expectations_pass_with_exit_0) {
  write_checks(false);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "--socket", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "4 passed, 0 failed\n"), "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_test, one_wrong_expectation_fails_the_run_and_is_printed) {
  write_checks(true);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "--socket", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "3 passed, 1 failed\n"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "FAIL checks[3] \"home delete\""), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "expected: allow"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "got:      deny"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "office-only"), "the determining forbid is shown: %s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_test, wrong_reason_is_a_failure_even_when_the_decision_matches) {
  e2e_write(
      "bundle/checks.json",
      "[{\"principal\": \"User::\\\"bob\\\"\", \"action\": \"Action::\\\"view\\\"\", \"resource\": "
      "\"Document::\\\"d2\\\"\", \"decision\": \"allow\", \"reason\": [\"view-own\"]}]");
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL);
  /* bob owns d2 and is an admin: both permits determine the allow. */
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "wrong reason"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "0 passed, 1 failed\n"), "%s", r.out);
  e2e_write(
      "bundle/checks.json",
      "[{\"principal\": \"User::\\\"bob\\\"\", \"action\": \"Action::\\\"view\\\"\", \"resource\": "
      "\"Document::\\\"d2\\\"\", \"decision\": \"allow\", \"reason\": [\"admins\", "
      "\"view-own\"]}]");
  e2e_run_free(&r);
  r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  e2e_run_free(&r);
}

Test(pdpctl_test, errors_in_the_file_name_the_check_and_field_and_exit_2) {
  e2e_write("bundle/checks.json", "{\"checks\": [\n"
                                  " {\"principal\": \"User::\\\"a\\\"\", \"action\": "
                                  "\"Action::\\\"v\\\"\", \"resource\": \"D::\\\"d\\\"\","
                                  "  \"decision\": \"allow\"},\n"
                                  " {\"principal\": \"User::\\\"a\\\"\", \"action\": "
                                  "\"Action::\\\"v\\\"\", \"resource\": \"D::\\\"d\\\"\"},\n"
                                  " {\"principal\": {\"type\": \"User\"}, \"action\": "
                                  "\"Action::\\\"v\\\"\", \"resource\": \"D::\\\"d\\\"\","
                                  "  \"decision\": \"deny\"},\n"
                                  " {\"principal\": \"User::\\\"a\\\"\", \"action\": "
                                  "\"Action::\\\"v\\\"\", \"resource\": \"D::\\\"d\\\"\","
                                  "  \"decision\": \"maybe\", \"decison\": 1}\n"
                                  "]}\n");
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 2, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.err, "checks[1].decision: missing"), "%s", r.err);
  cr_assert_not_null(strstr(r.err, "checks[2].principal.id"), "%s", r.err);
  cr_assert_not_null(strstr(r.err, "checks[3]: unknown field \"decison\""), "%s", r.err);
  cr_assert_null(strstr(r.out, "passed"), "nothing ran: %s", r.out);
  e2e_run_free(&r);

  e2e_write("bundle/checks.json", "{\"checks\": [\n  {\"name\": }\n]}\n");
  r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "checks.json:2:"), "JSON syntax errors have line and column: %s",
                     r.err);
  e2e_run_free(&r);
}

Test(pdpctl_test, missing_file_or_daemon_exits_2) {
  char dir[128], none[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL); /* no checks.json yet */
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "checks.json"), "%s", r.err);
  e2e_run_free(&r);
  write_checks(false);
  snprintf(none, sizeof none, "%s/none.sock", e2e_daemon.dir);
  r = e2e_pdpctl("test", dir, "-s", none, NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "is pdpd running"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("test", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "missing DIR"), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_test, many_checks_are_pipelined_and_judged_in_order) {
  /* 600 checks (more than the send window) alternating allow and deny. */
  size_t cap = 600 * 200 + 64, o = 0;
  char *text = malloc(cap);
  o += (size_t)snprintf(text + o, cap - o, "[");
  for (int i = 0; i < 600; i++)
    o += (size_t)snprintf(
        text + o, cap - o,
        "%s{\"principal\": \"User::\\\"alice\\\"\", \"action\": \"Action::\\\"view\\\"\","
        " \"resource\": \"Document::\\\"d%d\\\"\", \"decision\": \"%s\"}\n",
        i ? "," : "", i % 2 ? 2 : 1, i % 2 ? "deny" : "allow");
  snprintf(text + o, cap - o, "]");
  e2e_write("bundle/checks.json", text);
  free(text);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "stdout: %.2000s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "600 passed, 0 failed\n"), "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_test, a_checks_own_entity_replaces_the_shared_one_with_the_same_uid) {
  /* The file's shared d9 is owned by alice; the second and third checks bring their own d9
   * owned by carol, which must replace the shared one (not be sent beside it). */
  e2e_write(
      "bundle/checks.json",
      "{\"entities\": [{\"uid\": {\"type\": \"Document\", \"id\": \"d9\"},\n"
      "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}}},\n"
      "  {\"uid\": {\"type\": \"Team\", \"id\": \"t\"}}],\n"
      " \"checks\": [\n"
      " {\"principal\": \"User::\\\"alice\\\"\", \"action\": \"Action::\\\"view\\\"\",\n"
      "  \"resource\": \"Document::\\\"d9\\\"\", \"decision\": \"allow\", \"reason\": "
      "[\"view-own\"]},\n"
      " {\"principal\": \"User::\\\"alice\\\"\", \"action\": \"Action::\\\"view\\\"\",\n"
      "  \"resource\": \"Document::\\\"d9\\\"\", \"decision\": \"deny\", \"reason\": [],\n"
      "  \"entities\": [{\"uid\": {\"type\": \"Document\", \"id\": \"d9\"},\n"
      "   \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"carol\"}}}}]},\n"
      " {\"principal\": \"User::\\\"carol\\\"\", \"action\": \"Action::\\\"view\\\"\",\n"
      "  \"resource\": \"Document::\\\"d9\\\"\", \"decision\": \"allow\", \"reason\": "
      "[\"view-own\"],\n"
      "  \"entities\": [{\"uid\": {\"type\": \"Document\", \"id\": \"d9\"},\n"
      "   \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"carol\"}}}}]}\n"
      "]}\n");
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "3 passed, 0 failed\n"), "%s", r.out);
  cr_assert_null(strstr(r.out, "duplicate"), "%s", r.out);
  e2e_run_free(&r);
}

/* The shipped example: its checks.json must pass against pdpd serving it (this includes a
 * check that expects an evaluation error, and one with request entities). */
Test(pdpctl_quickstart, shipped_example_checks_all_pass, .init = e2e_setup, .fini = e2e_teardown) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/examples/quickstart", e2e_env("PDP_SOURCE_ROOT"));
  e2e_start_daemon_on(dir);
  e2e_run r = e2e_pdpctl("test", dir, "-s", e2e_daemon.sock, "--verbose", NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "ok   checks[0] "), "%s", r.out);
  cr_assert_not_null(strstr(r.out, " passed, 0 failed\n"), "%s", r.out);
  e2e_run_free(&r);
}

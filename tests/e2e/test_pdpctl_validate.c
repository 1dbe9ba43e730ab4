/* test_pdpctl_validate.c - `pdpctl validate DIR` on good and broken bundles. */
#include "pdpctl_util.h"

#include <regex.h>

TestSuite(pdpctl_validate, .init = e2e_setup, .fini = e2e_teardown);

static char *bundle_dir(void) {
  static char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  return dir;
}

Test(pdpctl_validate, good_bundle_reports_its_counts_with_exit_0) {
  e2e_write_bundle();
  e2e_run r = e2e_pdpctl("validate", bundle_dir(), NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_str_eq(r.out, "ok: 3 policies, 5 entities, 0 grants, 0 definitions, 0 revocations\n");
  e2e_run_free(&r);
}

Test(pdpctl_validate, broken_bundle_prints_every_error_with_file_line_col) {
  e2e_write_bundle();
  e2e_write("bundle/policies/bad1.cedar", "permit (principal, action, resource)\nwhen { 1 + };\n");
  e2e_write("bundle/policies/bad2.cedar",
            "@id(\"x\")\nforbid (principal == , action, resource);\n");
  e2e_run r = e2e_pdpctl("validate", bundle_dir(), NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  /* Every diagnostic line is file:line:col: message; the last line counts them. */
  regex_t re;
  cr_assert_eq(regcomp(&re, "^[^:]*bad[12]\\.cedar:[0-9]+:[0-9]+: .+$", REG_EXTENDED | REG_NOSUB),
               0);
  int lines = 0, diag = 0;
  bool saw1 = false, saw2 = false;
  char *save = NULL, *last = NULL;
  for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    lines++;
    last = line;
    if (regexec(&re, line, 0, NULL, 0) == 0) {
      diag++;
      saw1 |= strstr(line, "bad1.cedar:2:") != NULL;
      saw2 |= strstr(line, "bad2.cedar:2:") != NULL;
    }
  }
  regfree(&re);
  cr_assert(saw1 && saw2, "both broken files are reported at line 2:\n%s", r.out);
  cr_assert_eq(diag, lines - 1, "every line but the summary is a positioned diagnostic");
  char want[32];
  snprintf(want, sizeof want, "%d errors", diag);
  cr_assert_str_eq(last, want);
  e2e_run_free(&r);
}

Test(pdpctl_validate, bad_entities_json_is_reported_with_its_position) {
  e2e_write_bundle();
  e2e_write("bundle/entities.json",
            "[{\"uid\": {\"type\": \"User\", \"id\": \"a\"},\n  \"attrs\": }]\n");
  e2e_run r = e2e_pdpctl("validate", bundle_dir(), NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "entities.json:2:"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "1 error\n"), "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_validate, usage_errors_exit_2) {
  e2e_run r = e2e_pdpctl("validate", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "missing DIR"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("validate", "/nonexistent/bundle", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "not a directory"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("validate", "a", "b", NULL);
  cr_assert_eq(r.code, 2);
  e2e_run_free(&r);
}

Test(pdpctl_validate, grants_definitions_and_revocations_are_validated_as_a_sync_does) {
  e2e_write_bundle();
  e2e_write("bundle/grants.json",
            "[{\"provider\": \"R\", \"key\": \"admin\", \"permission\": \"view\"},\n"
            " {\"provider\": \"X\", \"key\": \"a\", \"permission\": \"view\"}]\n");
  e2e_write("bundle/permissions/docs.json",
            "{\"definitions\": [{\"name\": \"view\", \"tenancy\": \"sometimes\"}]}\n");
  e2e_write("bundle/revocations.json", "{\"jti\": [{\"jti\": \"t1\"}]}\n");
  e2e_run r = e2e_pdpctl("validate", bundle_dir(), NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert(strstr(r.out, "grants.json:2:15: grants[1].provider: "), "%s", r.out);
  cr_assert(strstr(r.out, "permissions/docs.json:1:"), "%s", r.out);
  cr_assert(strstr(r.out, ": definitions[0].tenancy: "), "%s", r.out);
  cr_assert(strstr(r.out, "revocations.json:1:"), "%s", r.out);
  cr_assert(strstr(r.out, ": jti[0].exp: "), "%s", r.out);
  cr_assert(strstr(r.out, "\n3 errors\n"), "%s", r.out);
  e2e_run_free(&r);
  /* definitions whose Action hierarchy is cyclic load as files but not as a snapshot */
  e2e_write("bundle/grants.json", "[]");
  e2e_write("bundle/revocations.json", "{}");
  e2e_write("bundle/permissions/docs.json",
            "{\"definitions\": [{\"name\": \"a\", \"parent\": \"b\"}, {\"name\": \"b\", \"group\": "
            "\"a\"}]}\n");
  r = e2e_pdpctl("validate", bundle_dir(), NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert(strstr(r.out, "cycle"), "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_validate, a_good_bundle_counts_its_grants_definitions_and_revocations) {
  e2e_write_bundle();
  e2e_write("bundle/grants.json",
            "[{\"provider\": \"R\", \"key\": \"admin\", \"permission\": \"view\"},\n"
            " {\"provider\": \"U\", \"key\": \"bob\", \"permission\": \"view\", \"effect\": "
            "\"PROHIBIT\"}]\n");
  e2e_write(
      "bundle/permissions/docs.json",
      "{\"definitions\": [{\"name\": \"view\"}, {\"name\": \"edit\"}, {\"name\": \"delete\"}]}");
  e2e_write("bundle/revocations.json", "{\"subjects\": [{\"sub\": \"eve\", \"before\": 1}]}");
  e2e_run r = e2e_pdpctl("validate", bundle_dir(), NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_str_eq(r.out, "ok: 3 policies, 8 entities, 2 grants, 3 definitions, 1 revocation\n");
  e2e_run_free(&r);
}

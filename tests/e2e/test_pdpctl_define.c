/* test_pdpctl_define.c - `pdpctl define` and `pdpctl revoke-token` on a real dir source.
 *
 * define prints "changed" then "unchanged" for the same definitions (and rewrites nothing),
 * keeps the definitions it is not sent, removes only --delete names, and refuses a bad file with
 * its position (exit 2).  revoke-token adds jti and subject revocations the same way.
 */
#include "pdpctl_util.h"

#include <sys/stat.h>

TestSuite(pdpctl_define, .init = e2e_setup, .fini = e2e_teardown);

static const char *path_in(const char *rel) {
  static char p[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", e2e_daemon.dir, rel);
  return p[k];
}

/* The file's text (owned), or NULL when it does not exist. */
static char *file_of(const char *rel) {
  struct stat st;
  return stat(path_in(rel), &st) == 0 ? du_read_file(path_in(rel)) : NULL;
}

static void expect(e2e_run r, int code, const char *out) {
  cr_assert_eq(r.code, code, "exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err);
  if (out) cr_assert_str_eq(r.out, out, "stderr: %s", r.err);
}

#define ORDERS                                                                                     \
  "{\"service\": \"orders\", \"definitions\": [\n"                                                 \
  "  {\"name\": \"orders.view\", \"group\": \"orders\"},\n"                                        \
  "  {\"name\": \"orders.edit\", \"tenancy\": \"tenant\", \"allowed_providers\": [\"R\"]}]}\n"

Test(pdpctl_define, defining_twice_prints_changed_then_unchanged_and_rewrites_nothing) {
  e2e_write("src/keep", "");
  e2e_write("orders.json", ORDERS);
  e2e_run r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "orders", "--file",
                         path_in("orders.json"), NULL);
  expect(r, 0, "changed\n");
  e2e_run_free(&r);
  struct stat a, b;
  cr_assert_eq(stat(path_in("src/permissions/orders.json"), &a), 0);
  /* The same definitions written differently: nothing to do. */
  e2e_write("again.json", "[{\"tenancy\": \"tenant\", \"name\": \"orders.edit\", "
                          "\"allowed_providers\": [\"R\"]}, {\"group\": \"orders\", \"name\": "
                          "\"orders.view\"}]");
  r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "orders", "--file",
                 path_in("again.json"), NULL);
  expect(r, 0, "unchanged\n");
  e2e_run_free(&r);
  cr_assert_eq(stat(path_in("src/permissions/orders.json"), &b), 0);
  cr_assert_eq(a.st_ino, b.st_ino);
  cr_assert_eq(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
  char *f = file_of("src/permissions/orders.json");
  cr_assert_not_null(strstr(f, "\"name\":\"orders.edit\""), "%s", f);
  cr_assert_not_null(strstr(f, "\"tenancy\":\"tenant\""), "%s", f);
  free(f);
}

Test(pdpctl_define, a_subset_keeps_the_rest_and_delete_removes_only_what_it_names) {
  e2e_write("src/keep", "");
  e2e_write("orders.json", ORDERS);
  e2e_run r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "orders", "--file",
                         path_in("orders.json"), NULL);
  expect(r, 0, "changed\n");
  e2e_run_free(&r);
  e2e_write("more.json", "[{\"name\": \"orders.ship\"}]");
  r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "orders", "--file",
                 path_in("more.json"), "--delete", "orders.view", NULL);
  expect(r, 0, "changed\n");
  e2e_run_free(&r);
  char *f = file_of("src/permissions/orders.json");
  cr_assert_not_null(strstr(f, "orders.edit"), "%s", f);
  cr_assert_not_null(strstr(f, "orders.ship"), "%s", f);
  cr_assert_null(strstr(f, "orders.view"), "%s", f);
  free(f);
  /* Deleting a name that is not there changes nothing. */
  r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "orders", "--delete",
                 "orders.view", NULL);
  expect(r, 0, "unchanged\n");
  e2e_run_free(&r);
}

Test(pdpctl_define, a_bad_file_exits_2_naming_the_position_and_writes_nothing) {
  e2e_write("src/keep", "");
  e2e_write("bad.json", "[{\"name\": \"a\"},\n {\"name\": \"b\", \"disabled\": \"yes\"}]");
  e2e_run r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "svc", "--file",
                         path_in("bad.json"), NULL);
  expect(r, 2, "");
  char want[300];
  snprintf(want, sizeof want, "%s:2:28: definitions[1].disabled: expected true or false",
           path_in("bad.json"));
  cr_assert_not_null(strstr(r.err, want), "%s", r.err);
  e2e_run_free(&r);
  cr_assert_null(file_of("src/permissions/svc.json"));
  /* A name of another service is refused too. */
  e2e_write("orders.json", ORDERS);
  r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "orders", "--file",
                 path_in("orders.json"), NULL);
  expect(r, 0, "changed\n");
  e2e_run_free(&r);
  e2e_write("steal.json", "[{\"name\": \"orders.view\"}]");
  r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "shop", "--file",
                 path_in("steal.json"), NULL);
  expect(r, 2, "");
  cr_assert_not_null(strstr(r.err, "already defined by service \"orders\""), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_define, usage_errors_exit_2) {
  e2e_write("src/keep", "");
  e2e_run r = e2e_pdpctl("define", "--source", path_in("src"), "--file", "x.json", NULL);
  expect(r, 2, "");
  cr_assert_not_null(strstr(r.err, "--service"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("define", "--source", path_in("src"), "--service", "a/b", "--delete", "x", NULL);
  expect(r, 2, "");
  e2e_run_free(&r);
  r = e2e_pdpctl("define", "--source", path_in("nowhere"), "--service", "a", "--delete", "x", NULL);
  expect(r, 2, "");
  cr_assert_not_null(strstr(r.err, "not a source directory"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("define", "--help", NULL);
  expect(r, 0, NULL);
  cr_assert_not_null(strstr(r.out, "usage: pdpctl define"));
  e2e_run_free(&r);
}

Test(pdpctl_define, revoke_token_records_jti_and_subject_revocations) {
  e2e_write("src/keep", "");
  e2e_run r = e2e_pdpctl("revoke-token", "--source", path_in("src"), "--jti", "tok-1", "--exp",
                         "4000000000", NULL);
  expect(r, 0, "changed\n");
  e2e_run_free(&r);
  r = e2e_pdpctl("revoke-token", "--source", path_in("src"), "--jti", "tok-1", "--exp",
                 "4000000000", NULL);
  expect(r, 0, "unchanged\n");
  e2e_run_free(&r);
  r = e2e_pdpctl("revoke-token", "--source", path_in("src"), "--sub", "alice", "--before",
                 "1700000000", NULL);
  expect(r, 0, "changed\n");
  e2e_run_free(&r);
  char *f = file_of("src/revocations.json");
  cr_assert_not_null(strstr(f, "{\"exp\":4000000000,\"jti\":\"tok-1\"}"), "%s", f);
  cr_assert_not_null(strstr(f, "{\"before\":1700000000,\"sub\":\"alice\"}"), "%s", f);
  free(f);
  r = e2e_pdpctl("revoke-token", "--source", path_in("src"), "--jti", "x", "--exp", "soon", NULL);
  expect(r, 2, "");
  e2e_run_free(&r);
  r = e2e_pdpctl("revoke-token", "--source", path_in("src"), "--jti", "x", "--exp", "1", "--sub",
                 "y", NULL);
  expect(r, 2, "");
  e2e_run_free(&r);
}

/* test_pdpctl_check.c - `pdpctl check` against a real pdpd: exit codes 0/1/2 and output. */
#include "pdpctl_util.h"

static void up(void) {
  e2e_setup();
  e2e_write_bundle();
  e2e_start_daemon();
}

TestSuite(pdpctl_check, .init = up, .fini = e2e_teardown);

Test(pdpctl_check, owner_viewing_their_document_is_allowed_with_exit_0) {
  e2e_run r = e2e_pdpctl("check", "--socket", e2e_daemon.sock, "--principal", "User::\"alice\"",
                         "--action", "Action::\"view\"", "--resource", "Document::\"d1\"", NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "ALLOW"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "reason: view-own"), "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_check, someone_elses_document_is_denied_with_exit_1) {
  e2e_run r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a",
                         "Action::\"view\"", "-r", "Document::\"d2\"", NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "DENY"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "default deny"), "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_check, context_decides_and_forbid_is_named_as_the_reason) {
  e2e_run r =
      e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"bob\"", "-a", "Action::\"delete\"",
                 "-r", "Document::\"d1\"", "--context", "{\"net\": \"home\"}", NULL);
  cr_assert_eq(r.code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "reason: office-only"), "%s", r.out);
  e2e_run_free(&r);
  r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"bob\"", "-a", "Action::\"delete\"",
                 "-r", "Document::\"d1\"", "--context", "{\"net\": \"office\"}", "--json", NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "{\"decision\":\"allow\",\"reason\":[\"admins\"],\"errors\":[]"),
                     "%s", r.out);
  e2e_run_free(&r);
}

Test(pdpctl_check, context_can_be_read_from_a_file) {
  e2e_write("ctx.json", "{\"net\": \"office\"}");
  char arg[128];
  snprintf(arg, sizeof arg, "@%s/ctx.json", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"bob\"", "-a",
                         "Action::\"delete\"", "-r", "Document::\"d1\"", "--context", arg, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"bob\"", "-a", "Action::\"delete\"",
                 "-r", "Document::\"d1\"", "--context", "@/nonexistent/ctx.json", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "/nonexistent/ctx.json"), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_check, request_entities_from_a_file_are_used) {
  e2e_write("req.json",
            "[{\"uid\": {\"type\": \"Document\", \"id\": \"new\"},"
            "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}}}]");
  char file[128];
  snprintf(file, sizeof file, "%s/req.json", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a",
                         "Action::\"view\"", "-r", "Document::\"new\"", "--entities", file, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  e2e_run_free(&r);
}

Test(pdpctl_check, bad_arguments_exit_2_with_a_message_naming_them) {
  e2e_run r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::alice", "-a",
                         "Action::\"view\"", "-r", "Document::\"d1\"", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "--principal"), "%s", r.err);
  cr_assert_str_eq(r.out, "");
  e2e_run_free(&r);

  r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-r", "Document::\"d1\"",
                 NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "--action is required"), "%s", r.err);
  e2e_run_free(&r);

  r = e2e_pdpctl("check", "--bogus", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "unknown option '--bogus'"), "%s", r.err);
  e2e_run_free(&r);

  r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a", "Action::\"view\"",
                 "-r", "Document::\"d1\"", "--context", "{\"net\": [1, 2.5]}", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "context.net[1]"), "%s", r.err);
  e2e_run_free(&r);

  r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a", "Action::\"view\"",
                 "-r", "Document::\"d1\"", "--context", "{\"net\": ", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "invalid JSON"), "%s", r.err);
  e2e_run_free(&r);

  r = e2e_pdpctl("check", "--timeout", "soon", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "--timeout"), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_check, no_daemon_on_the_socket_exits_2_with_a_clear_message) {
  char none[128];
  snprintf(none, sizeof none, "%s/none.sock", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("check", "-s", none, "-p", "User::\"alice\"", "-a", "Action::\"view\"",
                         "-r", "Document::\"d1\"", "--timeout", "500", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, none), "%s", r.err);
  cr_assert_not_null(strstr(r.err, "is pdpd running"), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_check, help_is_printed_for_the_tool_and_the_command) {
  e2e_run r = e2e_pdpctl("--help", NULL);
  cr_assert_eq(r.code, 0);
  cr_assert_not_null(strstr(r.out, "check"));
  cr_assert_not_null(strstr(r.out, "validate"));
  e2e_run_free(&r);
  r = e2e_pdpctl("check", "--help", NULL);
  cr_assert_eq(r.code, 0);
  cr_assert_not_null(strstr(r.out, "--principal"));
  e2e_run_free(&r);
  r = e2e_pdpctl("frobnicate", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "unknown command 'frobnicate'"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl(NULL);
  cr_assert_eq(r.code, 2);
  e2e_run_free(&r);
}

Test(pdpctl_check, status_reports_a_serving_daemon) {
  e2e_run r = e2e_pdpctl("status", "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "health: serving"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "policies: 3"), "%s", r.out);
  e2e_run_free(&r);
}

/* The stamp pdpctl prints (check, check --json, status) is the one pdpd answered with, in
 * lowercase hex, the same in all three. */
Test(pdpctl_check, the_printed_stamp_is_the_snapshot_stamp_in_hex) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 5000, &err);
  cr_assert_not_null(c, "%s", err.message);
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(c, &h), 0, "%s", pdpc_conn_error(c)->message);
  pdpc_close(c);
  cr_assert_eq(h.stamp_len, 32);
  char hex[65], line[80];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h.stamp[i]);
  e2e_run r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a",
                         "Action::\"view\"", "-r", "Document::\"d1\"", NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  snprintf(line, sizeof line, "\nstamp: %s\n", hex);
  cr_assert_not_null(strstr(r.out, line), "want %s in %s", hex, r.out);
  e2e_run_free(&r);
  r = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a", "Action::\"view\"",
                 "-r", "Document::\"d1\"", "--json", NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  snprintf(line, sizeof line, "\"stamp\":\"%s\"", hex);
  cr_assert_not_null(strstr(r.out, line), "want %s in %s", hex, r.out);
  e2e_run_free(&r);
  r = e2e_pdpctl("status", "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  snprintf(line, sizeof line, "stamp: %s\n", hex);
  cr_assert_not_null(strstr(r.out, line), "want %s in %s", hex, r.out);
  e2e_run_free(&r);
}

/* test_pdpctl_grant.c - `pdpctl grant | prohibit | revoke-grant` editing DIR/grants.json, and
 * `pdpctl status --source DIR`.
 *
 * The edits leave one canonical grant per line, replace the entry with the same natural key,
 * write nothing when nothing changes, refuse a broken file without touching it, work through a
 * file of 100,000 grants, and lose no update when many run at once (the flock on
 * DIR/.pdpd.lock).  status --source prints the stamp a running pdpd serves for the same folder.
 */
#include "pdpctl_util.h"

#include <sys/stat.h>

TestSuite(pdpctl_grant, .init = e2e_setup, .fini = e2e_teardown);

static const char *bundle_dir(void) {
  static char dir[128];
  snprintf(dir, sizeof dir, "%s/bundle", e2e_daemon.dir);
  return dir;
}

static char *grants_text(void) {
  char path[160];
  snprintf(path, sizeof path, "%s/grants.json", bundle_dir());
  return du_read_file(path);
}

static void expect_ok(e2e_run r, const char *out) {
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  if (out) cr_assert_str_eq(r.out, out);
  e2e_run_free(&r);
}

Test(pdpctl_grant, grant_prohibit_and_revoke_keep_one_canonical_grant_per_line) {
  e2e_write_bundle();
  const char *d = bundle_dir();
  char line[512];
  snprintf(line, sizeof line, "granted: R/admin/orders.edit@acme in %s/grants.json (1 grant)\n", d);
  expect_ok(e2e_pdpctl("grant", "--source", d, "--provider", "R", "--key", "admin", "--permission",
                       "orders.edit", "--tenant", "acme", NULL),
            line);
  expect_ok(e2e_pdpctl("grant", "--source", d, "--provider", "U", "--key", "b\"o\\b",
                       "--permission", "orders.view", NULL),
            NULL);
  snprintf(line, sizeof line, "prohibited: C/svc/orders.delete in %s/grants.json (3 grants)\n", d);
  expect_ok(e2e_pdpctl("prohibit", "-d", d, "-p", "C", "-k", "svc", "-a", "orders.delete", NULL),
            line);
  char *text = grants_text();
  cr_assert_str_eq(
      text, "[\n"
            "{\"provider\":\"R\",\"key\":\"admin\",\"permission\":\"orders.edit\",\"tenant\":"
            "\"acme\",\"effect\":\"GRANT\"},\n"
            "{\"provider\":\"U\",\"key\":\"b\\\"o\\\\b\",\"permission\":\"orders.view\","
            "\"effect\":\"GRANT\"},\n"
            "{\"provider\":\"C\",\"key\":\"svc\",\"permission\":\"orders.delete\",\"effect\":"
            "\"PROHIBIT\"}\n"
            "]\n");
  free(text);

  /* the same natural key is replaced in place; the tenant is part of it */
  expect_ok(e2e_pdpctl("prohibit", "-d", d, "-p", "R", "-k", "admin", "-a", "orders.edit", "-t",
                       "acme", NULL),
            NULL);
  expect_ok(e2e_pdpctl("grant", "-d", d, "-p", "R", "-k", "admin", "-a", "orders.edit", NULL),
            NULL);
  text = grants_text();
  cr_assert(strncmp(text,
                    "[\n{\"provider\":\"R\",\"key\":\"admin\",\"permission\":\"orders.edit\","
                    "\"tenant\":\"acme\",\"effect\":\"PROHIBIT\"},\n",
                    strlen("[\n{\"provider\":\"R\",\"key\":\"admin\",\"permission\":\"orders."
                           "edit\",\"tenant\":\"acme\",\"effect\":\"PROHIBIT\"},\n")) == 0,
            "%s", text);
  cr_assert(strstr(text, "{\"provider\":\"R\",\"key\":\"admin\",\"permission\":\"orders.edit\","
                         "\"effect\":\"GRANT\"}\n]\n"),
            "a host grant is another grant, appended: %s", text);
  free(text);

  /* nothing to change: nothing written (the file keeps its inode) */
  char path[160];
  snprintf(path, sizeof path, "%s/grants.json", d);
  struct stat before, after;
  cr_assert_eq(stat(path, &before), 0);
  snprintf(line, sizeof line, "unchanged: C/svc/orders.delete is already there in %s\n", path);
  expect_ok(e2e_pdpctl("prohibit", "-d", d, "-p", "C", "-k", "svc", "-a", "orders.delete", NULL),
            line);
  snprintf(line, sizeof line, "unchanged: U/nobody/x is not there in %s\n", path);
  expect_ok(e2e_pdpctl("revoke-grant", "-d", d, "-p", "U", "-k", "nobody", "-a", "x", NULL), line);
  cr_assert_eq(stat(path, &after), 0);
  cr_assert_eq(before.st_ino, after.st_ino);

  expect_ok(
      e2e_pdpctl("revoke-grant", "-d", d, "-p", "U", "-k", "b\"o\\b", "-a", "orders.view", NULL),
      NULL);
  expect_ok(
      e2e_pdpctl("revoke-grant", "-d", d, "-p", "C", "-k", "svc", "-a", "orders.delete", NULL),
      NULL);
  expect_ok(e2e_pdpctl("revoke-grant", "-d", d, "-p", "R", "-k", "admin", "-a", "orders.edit", "-t",
                       "acme", NULL),
            NULL);
  snprintf(line, sizeof line, "revoked: R/admin/orders.edit in %s/grants.json (0 grants)\n", d);
  expect_ok(
      e2e_pdpctl("revoke-grant", "-d", d, "-p", "R", "-k", "admin", "-a", "orders.edit", NULL),
      line);
  text = grants_text();
  cr_assert_str_eq(text, "[]\n");
  free(text);
  snprintf(path, sizeof path, "%s/.pdpd.lock", d);
  cr_assert_eq(stat(path, &after), 0, "the lock file is left for the next writer");
}

Test(pdpctl_grant, bad_arguments_exit_2_with_a_message) {
  e2e_write_bundle();
  const char *d = bundle_dir();
  struct {
    const char *args[12];
    const char *msg;
  } cases[] = {
      {{"grant", "-d", d, "-p", "X", "-k", "a", "-a", "b", NULL}, "--provider must be R"},
      {{"grant", "-d", d, "-k", "a", "-a", "b", NULL}, "--provider is required"},
      {{"grant", "-d", d, "-p", "R", "-k", "", "-a", "b", NULL}, "--key must not be empty"},
      {{"prohibit", "-p", "R", "-k", "a", "-a", "b", NULL}, "--source is required"},
      {{"revoke-grant", "-d", "/nonexistent/x", "-p", "R", "-k", "a", "-a", "b", NULL},
       "is not a directory"},
      {{"grant", "-d", d, "-p", "R", "-k", "a\xff", "-a", "b", NULL}, "must be UTF-8"},
      {{"grant", "-d", d, "-p", "R", "-k", "a", "-a", "b", "extra", NULL}, "unexpected argument"},
      {{"grant", "--bogus", NULL}, "unknown option"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char **a = cases[i].args;
    e2e_run r =
        e2e_pdpctl(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]);
    cr_assert_eq(r.code, 2, "case %zu: %s", i, r.err);
    cr_assert(strstr(r.err, cases[i].msg), "case %zu: %s", i, r.err);
    e2e_run_free(&r);
  }
  char big[600];
  memset(big, 'k', 520);
  big[520] = '\0';
  e2e_run r = e2e_pdpctl("grant", "-d", d, "-p", "R", "-k", big, "-a", "b", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert(strstr(r.err, "store key would be 524 bytes"), "%s", r.err);
  e2e_run_free(&r);
  char *text = grants_text();
  cr_assert_str_eq(text, "", "no grants.json was made");
  free(text);
}

Test(pdpctl_grant, a_broken_grants_file_is_reported_and_left_alone) {
  e2e_write_bundle();
  const char *broken = "[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"},\n"
                       " {\"provider\": \"W\", \"key\": \"b\", \"permission\": \"p\"}]\n";
  e2e_write("bundle/grants.json", broken);
  e2e_run r = e2e_pdpctl("grant", "-d", bundle_dir(), "-p", "R", "-k", "c", "-a", "p", NULL);
  cr_assert_eq(r.code, 2);
  char want[256];
  snprintf(want, sizeof want,
           "pdpctl grant: %s/grants.json:2:15: grants[1].provider: must be \"R\", \"U\" or \"C\"\n",
           bundle_dir());
  cr_assert(strstr(r.err, want), "%s", r.err);
  e2e_run_free(&r);
  char *text = grants_text();
  cr_assert_str_eq(text, broken);
  free(text);
  r = e2e_pdpctl("status", "--source", bundle_dir(), NULL);
  cr_assert_eq(r.code, 2);
  cr_assert(strstr(r.err, "grants.json:2:15: grants[1].provider"), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_grant, a_large_file_is_edited_as_a_stream) {
  e2e_write_bundle();
  char path[160];
  snprintf(path, sizeof path, "%s/grants.json", bundle_dir());
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  const int n = 100000;
  fputs("[", f);
  for (int i = 0; i < n; i++)
    fprintf(f, "%s\n  {\"key\": \"user%d\", \"provider\": \"U\", \"permission\": \"p%d\"}",
            i ? "," : "", i, i % 50);
  fputs("\n]", f);
  fclose(f);
  e2e_run r =
      e2e_pdpctl("prohibit", "-d", bundle_dir(), "-p", "U", "-k", "user77777", "-a", "p27", NULL);
  cr_assert_eq(r.code, 0, "%s", r.err);
  cr_assert(strstr(r.out, "(100000 grants)"), "%s", r.out);
  e2e_run_free(&r);
  r = e2e_pdpctl("grant", "-d", bundle_dir(), "-p", "R", "-k", "new", "-a", "p", NULL);
  cr_assert_eq(r.code, 0, "%s", r.err);
  cr_assert(strstr(r.out, "(100001 grants)"), "%s", r.out);
  e2e_run_free(&r);
  char *text = grants_text();
  cr_assert(strstr(text, "\n{\"provider\":\"U\",\"key\":\"user77777\",\"permission\":\"p27\","
                         "\"effect\":\"PROHIBIT\"},\n{\"provider\":\"U\",\"key\":\"user77778\""),
            "replaced in place, canonical");
  size_t lines = 0;
  for (const char *p = text; *p; p++) lines += *p == '\n';
  cr_assert_eq(lines, 100001 + 2, "one grant per line between [ and ]");
  free(text);
  r = e2e_pdpctl("status", "--source", bundle_dir(), NULL);
  cr_assert_eq(r.code, 0, "%s", r.err);
  cr_assert(
      strstr(r.out, "policies: 3, entities: 5, grants: 100001, definitions: 0, revocations: 0\n"),
      "%s", r.out);
  e2e_run_free(&r);
}

/* Run pdpctl with its output thrown away; its exit code. */
static int run_quiet(const char *const *argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(pdpctl_grant, concurrent_edits_lose_no_update) {
  e2e_write_bundle();
  const char *bin = e2e_env("PDPCTL_BIN");
  enum { WRITERS = 6, EACH = 15 };
  pid_t kids[WRITERS];
  for (int w = 0; w < WRITERS; w++) {
    kids[w] = fork();
    cr_assert_geq(kids[w], 0);
    if (kids[w] == 0) {
      int bad = 0;
      for (int i = 0; i < EACH; i++) {
        char key[32];
        snprintf(key, sizeof key, "w%d-%d", w, i);
        const char *argv[] = {bin,  i % 3 == 2 ? "prohibit" : "grant",
                              "-d", bundle_dir(),
                              "-p", "U",
                              "-k", key,
                              "-a", "edit",
                              NULL};
        bad += run_quiet(argv) != 0;
      }
      _exit(bad ? 1 : 0);
    }
  }
  for (int w = 0; w < WRITERS; w++) {
    int st;
    cr_assert_eq(waitpid(kids[w], &st, 0), kids[w]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed", w);
  }
  char *text = grants_text();
  for (int w = 0; w < WRITERS; w++)
    for (int i = 0; i < EACH; i++) {
      char want[160];
      snprintf(want, sizeof want,
               "{\"provider\":\"U\",\"key\":\"w%d-%d\",\"permission\":\"edit\",\"effect\":\"%s\"}",
               w, i, i % 3 == 2 ? "PROHIBIT" : "GRANT");
      cr_assert(strstr(text, want), "lost: %s", want);
    }
  free(text);
  e2e_run r = e2e_pdpctl("status", "--source", bundle_dir(), NULL);
  cr_assert_eq(r.code, 0, "%s", r.err);
  char want[64];
  snprintf(want, sizeof want, "grants: %d, ", WRITERS * EACH);
  cr_assert(strstr(r.out, want), "%s", r.out);
  e2e_run_free(&r);
  /* no temp file is left behind */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q tmp", bundle_dir());
  cr_assert_neq(system(cmd), 0);
}

Test(pdpctl_grant, status_source_prints_the_stamp_pdpd_serves) {
  e2e_write_bundle();
  const char *d = bundle_dir();
  expect_ok(e2e_pdpctl("grant", "-d", d, "-p", "R", "-k", "admin", "-a", "view", NULL), NULL);
  expect_ok(e2e_pdpctl("prohibit", "-d", d, "-p", "U", "-k", "alice", "-a", "view", NULL), NULL);
  e2e_run r = e2e_pdpctl("status", "--source", d, NULL);
  cr_assert_eq(r.code, 0, "%s", r.err);
  char *stamp = strstr(r.out, "stamp: ");
  cr_assert_not_null(stamp, "%s", r.out);
  char hex[65];
  memcpy(hex, stamp + 7, 64);
  hex[64] = '\0';
  char want[200];
  snprintf(want, sizeof want,
           "source: dir:%s\nstamp: %s\npolicies: 3, entities: 5, grants: 2, definitions: 0, "
           "revocations: 0\n",
           d, hex);
  cr_assert_str_eq(r.out, want);
  e2e_run_free(&r);

  e2e_start_daemon();
  r = e2e_pdpctl("status", "--socket", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "%s", r.err);
  char served[80];
  snprintf(served, sizeof served, "stamp: %s\n", hex);
  cr_assert(strstr(r.out, served), "pdpd serves the stamp status --source computed:\n%s\nwant %s",
            r.out, hex);
  e2e_run_free(&r);
  e2e_stop_daemon();
}

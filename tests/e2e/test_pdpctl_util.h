/* test_pdpctl_util.h - helpers for the end-to-end suites that drive the real binaries.
 *
 * A test makes a short temp directory (socket paths must stay under 108 bytes), writes a
 * bundle into it, starts the pdpd from $PDPD_BIN on a socket there, waits until it answers
 * Health, and runs $PDPCTL_BIN with captured stdout, stderr and exit code.  Every daemon
 * started is killed in e2e_teardown (the suites' .fini), and dies with the test process
 * anyway (PR_SET_PDEATHSIG).
 */
#ifndef TEST_PDPCTL_UTIL_H
#define TEST_PDPCTL_UTIL_H

#include "../../clients/c/pdpc.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char e2e_dir[64];      /* the test's temp directory */
static char e2e_sock[128];    /* e2e_dir/s.sock */
static pid_t e2e_pid = -1;    /* the running pdpd, if any */

typedef struct e2e_run {
  int code;     /* exit code, or 128 + signal */
  char *out;    /* stdout, owned */
  char *err;    /* stderr, owned */
} e2e_run;

static __attribute__((unused)) const char *e2e_env(const char *name) {
  const char *v = getenv(name);
  cr_assert(v && v[0], "%s is not set (run through tests/run_suite.sh)", name);
  return v;
}

static __attribute__((unused)) void e2e_setup(void) {
  snprintf(e2e_dir, sizeof e2e_dir, "/tmp/pdpe2e-XXXXXX");
  cr_assert_not_null(mkdtemp(e2e_dir));
  snprintf(e2e_sock, sizeof e2e_sock, "%s/s.sock", e2e_dir);
}

static __attribute__((unused)) void e2e_write(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", e2e_dir, rel);
  for (char *p = path + strlen(e2e_dir) + 1; *p; p++) { /* make parent directories */
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0755);
      *p = '/';
    }
  }
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

static __attribute__((unused)) char *e2e_slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

static __attribute__((unused)) void e2e_kill_daemon(void) {
  if (e2e_pid <= 0) return;
  kill(e2e_pid, SIGTERM);
  for (int i = 0; i < 200; i++) { /* up to 2 s, then SIGKILL */
    if (waitpid(e2e_pid, NULL, WNOHANG) == e2e_pid) {
      e2e_pid = -1;
      return;
    }
    usleep(10000);
  }
  kill(e2e_pid, SIGKILL);
  waitpid(e2e_pid, NULL, 0);
  e2e_pid = -1;
}

static __attribute__((unused)) void e2e_teardown(void) {
  e2e_kill_daemon();
  if (e2e_dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e2e_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", e2e_dir);
    e2e_dir[0] = 0;
  }
}

/* Start pdpd on e2e_sock serving `source` (NULL: e2e_dir/bundle); wait until Health answers. */
static __attribute__((unused)) void e2e_start_daemon_on(const char *source_dir) {
  const char *bin = e2e_env("PDPD_BIN");
  char source[512], data[128], log[128];
  if (source_dir) snprintf(source, sizeof source, "%s", source_dir);
  else snprintf(source, sizeof source, "%s/bundle", e2e_dir);
  snprintf(data, sizeof data, "%s/data", e2e_dir);
  snprintf(log, sizeof log, "%s/pdpd.log", e2e_dir);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(bin, bin, "--socket", e2e_sock, "--source", source, "--data-dir", data, (char *)NULL);
    _exit(127);
  }
  e2e_pid = pid;
  for (int i = 0; i < 1000; i++) { /* up to ~10 s */
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      e2e_pid = -1;
      char *l = e2e_slurp(log);
      cr_assert_fail("pdpd exited before serving: %s", l);
    }
    pdpc_conn *c = pdpc_connect(e2e_sock, 200, NULL);
    if (c) {
      pdpc_health h;
      int rc = pdpc_health_check(c, &h);
      pdpc_close(c);
      if (rc == 0) return;
    }
    usleep(10000);
  }
  cr_assert_fail("pdpd did not answer on %s", e2e_sock);
}

static __attribute__((unused)) void e2e_start_daemon(void) { e2e_start_daemon_on(NULL); }

/* Run pdpctl with the given arguments (NULL-terminated). */
static __attribute__((unused)) e2e_run e2e_pdpctl(const char *arg0, ...) {
  const char *bin = e2e_env("PDPCTL_BIN");
  const char *argv[64];
  int n = 0;
  argv[n++] = bin;
  va_list ap;
  va_start(ap, arg0);
  for (const char *a = arg0; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  char out[128], err[128];
  snprintf(out, sizeof out, "%s/pdpctl.out", e2e_dir);
  snprintf(err, sizeof err, "%s/pdpctl.err", e2e_dir);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  e2e_run r = {.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)};
  r.out = e2e_slurp(out);
  r.err = e2e_slurp(err);
  return r;
}

static __attribute__((unused)) void e2e_run_free(e2e_run *r) {
  free(r->out);
  free(r->err);
}

/* A small bundle: owners view their documents, admins do everything, deletes only from the
 * office.  alice owns d1; bob is an admin and owns d2. */
static __attribute__((unused)) void e2e_write_bundle(void) {
  e2e_write("bundle/policies/docs.cedar",
            "@id(\"view-own\")\n"
            "permit (principal, action == Action::\"view\", resource)\n"
            "when { resource.owner == principal };\n"
            "\n"
            "@id(\"admins\")\n"
            "permit (principal in Role::\"admin\", action, resource);\n");
  e2e_write("bundle/policies/guards.cedar",
            "@id(\"office-only\")\n"
            "forbid (principal, action == Action::\"delete\", resource)\n"
            "unless { context has net && context.net == \"office\" };\n");
  e2e_write("bundle/entities.json",
            "[{\"uid\": {\"type\": \"Role\", \"id\": \"admin\"}, \"attrs\": {}, \"parents\": []},\n"
            " {\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {}, \"parents\": []},\n"
            " {\"uid\": {\"type\": \"User\", \"id\": \"bob\"}, \"attrs\": {},\n"
            "  \"parents\": [{\"type\": \"Role\", \"id\": \"admin\"}]},\n"
            " {\"uid\": {\"type\": \"Document\", \"id\": \"d1\"},\n"
            "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}}, \"parents\": []},\n"
            " {\"uid\": {\"type\": \"Document\", \"id\": \"d2\"},\n"
            "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"bob\"}}}, \"parents\": []}]\n");
}

#endif

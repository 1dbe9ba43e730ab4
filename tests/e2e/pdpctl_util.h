/* pdpctl_util.h - running the real pdpctl in end-to-end suites, next to a real pdpd.
 *
 * Everything about the daemon (temp dir, bundle files, spawning under $PDPD_WRAPPER,
 * waiting until it answers Health, stopping it and checking its exit code, cleanup) is
 * daemon_util.h's.  This header adds what the pdpctl suites share: one daemon per test
 * (e2e_daemon, set up in e2e_setup and stopped and removed in e2e_teardown, the suites'
 * .init/.fini), the small documents bundle they serve, and e2e_pdpctl(), which runs
 * $PDPCTL_BIN with captured stdout, stderr and exit code.
 */
#ifndef PDP_TESTS_E2E_PDPCTL_UTIL_H
#define PDP_TESTS_E2E_PDPCTL_UTIL_H

#include "../../clients/c/pdpc.h"
#include "daemon_util.h"

#include <criterion/criterion.h>
#include <stdarg.h>

static du_daemon e2e_daemon; /* the test's temp dir, socket and pdpd */

typedef struct e2e_run {
  int code;  /* exit code, or 128 + signal */
  char *out; /* stdout, owned */
  char *err; /* stderr, owned */
} e2e_run;

static __attribute__((unused)) const char *e2e_env(const char *name) {
  const char *v = getenv(name);
  cr_assert(v && v[0], "%s is not set (run through tests/run_suite.sh)", name);
  return v;
}

static __attribute__((unused)) void e2e_setup(void) {
  cr_assert(du_init_dir(&e2e_daemon), "cannot make a temp dir: %s", strerror(errno));
}

/* Write text to e2e_daemon.dir/rel, making parent directories. */
static __attribute__((unused)) void e2e_write(const char *rel, const char *text) {
  cr_assert(du_write(&e2e_daemon, rel, text), "cannot write %s/%s", e2e_daemon.dir, rel);
}

/* Start pdpd serving `source_dir` (NULL: e2e_daemon.dir/bundle) and wait until it answers
 * Health.  On failure the temp dir is removed here, since a failed .init skips .fini. */
static __attribute__((unused)) void e2e_start_daemon_on(const char *source_dir) {
  char data[128];
  snprintf(data, sizeof data, "%s/data", e2e_daemon.dir);
  const char *extra[] = {"--data-dir", data, NULL};
  e2e_daemon.source = source_dir;
  if (!du_start(&e2e_daemon, extra)) {
    char *log = du_read_file(e2e_daemon.log);
    du_stop(&e2e_daemon);
    du_cleanup(&e2e_daemon);
    cr_assert_fail("pdpd did not start: %s", log);
  }
}

static __attribute__((unused)) void e2e_start_daemon(void) {
  e2e_start_daemon_on(NULL);
}

/* Stop the running pdpd; it must exit 0 (99 under PDPD_WRAPPER means valgrind found
 * errors). */
static __attribute__((unused)) void e2e_stop_daemon(void) {
  cr_assert_gt(e2e_daemon.pid, 0, "pdpd is not running");
  int rc = du_stop(&e2e_daemon);
  if (rc != 0) {
    char *log = du_read_file(e2e_daemon.log);
    cr_assert_fail("pdpd exit code %d: %s", rc, log);
  }
}

/* Stop pdpd if it still runs, checking its exit code, and remove the temp dir. */
static __attribute__((unused)) void e2e_teardown(void) {
  du_finish(&e2e_daemon);
}

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
  snprintf(out, sizeof out, "%s/pdpctl.out", e2e_daemon.dir);
  snprintf(err, sizeof err, "%s/pdpctl.err", e2e_daemon.dir);
  fflush(NULL);
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
  r.out = du_read_file(out);
  r.err = du_read_file(err);
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
            "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}}, "
            "\"parents\": []},\n"
            " {\"uid\": {\"type\": \"Document\", \"id\": \"d2\"},\n"
            "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"bob\"}}}, "
            "\"parents\": []}]\n");
}

#endif

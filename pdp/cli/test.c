/* test.c - `pdpctl test DIR`: run DIR/checks.json against a running pdpd.
 *
 * The whole file is read and checked first (every error names the check index and field,
 * and nothing is sent when any is wrong); then every check is pipelined over one
 * connection, at most CTL_TEST_WINDOW in flight, and each answer is compared with the
 * expectation: the decision, and when given, the reason ids and the erroring policy ids
 * (both compared as sets).  Failures are printed as they are found; the last line is
 * always "N passed, M failed" once checks ran.  Exit 0 when none failed, 1 when some did,
 * 2 when the run could not happen (bad file, no connection, broken connection).
 * Format: docs/checks.md.
 */
#include "pdpctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CTL_TEST_WINDOW 128

static const char test_usage[] =
    "usage: pdpctl test DIR [--socket PATH] [options]\n"
    "\n"
    "Send every check of DIR/checks.json (or of the file DIR itself) to a running pdpd and\n"
    "compare the answers with the expected decision, reason and errors (docs/checks.md).\n"
    "Prints each failure, then 'N passed, M failed'.\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH   pdpd's socket (default $PDPD_SOCKET or " CTL_DEFAULT_SOCKET ")\n"
    "  -t, --timeout MS    connect and answer timeout in milliseconds (default 5000)\n"
    "  -v, --verbose       also print the checks that passed\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 all passed, 1 some failed, 2 could not run\n";

/* Sets are equal when each holds the other (duplicates ignored). */
static bool same_set(char *const *a, size_t na, char *const *b, size_t nb) {
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < na; i++) {
      bool found = false;
      for (size_t k = 0; k < nb && !found; k++) found = strcmp(a[i], b[k]) == 0;
      if (!found) return false;
    }
    char *const *t = a;
    a = b, b = t;
    size_t tn = na;
    na = nb, nb = tn;
  }
  return true;
}

static void print_list(const char *label, char *const *items, size_t n) {
  printf("  %s[", label);
  for (size_t i = 0; i < n; i++) printf("%s%s", i ? ", " : "", items[i]);
  printf("]\n");
}

static void print_failure(size_t i, const ctl_check_case *c, const pdpc_result *r,
                          const char *why) {
  char p[300], a[300], s[300];
  printf("FAIL checks[%zu]%s%s%s: %s %s %s\n", i, c->name ? " \"" : "", c->name ? c->name : "",
         c->name ? "\"" : "", ctl_uid_format(c->principal.type, c->principal.id, p, sizeof p),
         ctl_uid_format(c->action.type, c->action.id, a, sizeof a),
         ctl_uid_format(c->resource.type, c->resource.id, s, sizeof s));
  printf("  %s\n", why);
  if (r->status != PDPC_STATUS_OK) {
    printf("  expected: %s\n  got:      error %s: %s\n", c->expect_allow ? "allow" : "deny",
           pdpc_status_name(r->status), r->message);
    return;
  }
  printf("  expected: %s\n  got:      %s\n", c->expect_allow ? "allow" : "deny",
         pdpc_result_allowed(r) ? "allow" : "deny");
  if (c->reason.given) print_list("expected reason: ", c->reason.items, c->reason.n);
  print_list("got reason:      ", r->reason, r->n_reason);
  if (c->errors.given) print_list("expected errors: ", c->errors.items, c->errors.n);
  for (size_t k = 0; k < r->n_errors; k++)
    printf("  error: %s: %s\n", r->errors[k].policy_id, r->errors[k].message);
}

/* Compare one answer; prints the failure; true when it passed. */
static bool judge(size_t i, const ctl_check_case *c, const pdpc_result *r, bool verbose) {
  const char *why = NULL;
  if (r->status != PDPC_STATUS_OK)
    why = "pdpd did not answer OK";
  else if (pdpc_result_allowed(r) != c->expect_allow)
    why = "wrong decision";
  else if (c->reason.given && !same_set(c->reason.items, c->reason.n, r->reason, r->n_reason))
    why = "wrong reason";
  else if (c->errors.given) {
    char **ids = calloc(r->n_errors + 1, sizeof *ids);
    for (size_t k = 0; ids && k < r->n_errors; k++) ids[k] = r->errors[k].policy_id;
    if (!ids || !same_set(c->errors.items, c->errors.n, ids, r->n_errors)) why = "wrong errors";
    free(ids);
  }
  if (why)
    print_failure(i, c, r, why);
  else if (verbose)
    printf("ok   checks[%zu]%s%s\n", i, c->name ? " " : "", c->name ? c->name : "");
  return why == NULL;
}

static int run(const char *sock, int timeout, ctl_checks *f, bool verbose) {
  pdpc_error err;
  pdpc_conn *conn = pdpc_connect(sock, timeout, &err);
  if (!conn) {
    fprintf(stderr, "pdpctl test: %s\n", err.message);
    return CTL_EXIT_ERROR;
  }
  size_t sent = 0, got = 0, passed = 0, failed = 0;
  pdpc_result r;
  pdpc_result_init(&r);
  int rc = 0;
  while (got < f->n && rc == 0) {
    while (sent < f->n && sent - got < CTL_TEST_WINDOW) {
      ctl_check_case *c = &f->cases[sent];
      pdpc_check_req req = {.principal = ctl_uid_view(&c->principal),
                            .action = ctl_uid_view(&c->action),
                            .resource = ctl_uid_view(&c->resource),
                            .context = c->context,
                            .entities = c->all,
                            .n_entities = c->n_all};
      if ((rc = pdpc_send_check(conn, &req, NULL)) != 0) break;
      sent++;
    }
    if (rc) break;
    if ((rc = pdpc_recv(conn, &r)) != 0) break;
    if (judge(got, &f->cases[got], &r, verbose))
      passed++;
    else
      failed++;
    got++;
  }
  if (rc) {
    fprintf(stderr, "pdpctl test: checks[%zu]: %s\n", got, pdpc_conn_error(conn)->message);
    printf("%zu passed, %zu failed\n", passed, failed);
  }
  pdpc_result_close(&r);
  pdpc_close(conn);
  if (rc) return CTL_EXIT_ERROR;
  printf("%zu passed, %zu failed\n", passed, failed);
  return failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

int ctl_test(int argc, char **argv) {
  static const struct option opts[] = {{"socket", required_argument, 0, 's'},
                                       {"timeout", required_argument, 0, 't'},
                                       {"verbose", no_argument, 0, 'v'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *sock = ctl_socket_default();
  int timeout = CTL_DEFAULT_TIMEOUT_MS;
  bool verbose = false;
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":s:t:vh", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      sock = optarg;
      break;
    case 't':
      if (ctl_parse_timeout("test", optarg, &timeout)) return CTL_EXIT_ERROR;
      break;
    case 'v':
      verbose = true;
      break;
    case 'h':
      fputs(test_usage, stdout);
      return CTL_EXIT_OK;
    default:
      return ctl_bad_option("test", c, argv);
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "pdpctl test: missing DIR (see pdpctl test --help)\n");
    return CTL_EXIT_ERROR;
  }
  if (argc - optind > 1) {
    fprintf(stderr, "pdpctl test: unexpected argument '%s' (one DIR only)\n", argv[optind + 1]);
    return CTL_EXIT_ERROR;
  }
  const char *dir = argv[optind];
  struct stat st;
  char file[4096];
  if (stat(dir, &st) != 0) {
    fprintf(stderr, "pdpctl test: %s: no such file or directory\n", dir);
    return CTL_EXIT_ERROR;
  }
  if (S_ISDIR(st.st_mode))
    snprintf(file, sizeof file, "%s/checks.json", dir);
  else
    snprintf(file, sizeof file, "%s", dir);
  ctl_checks f = {0};
  int rc = CTL_EXIT_ERROR;
  if (ctl_checks_load(file, "pdpctl test", &f)) {
    if (f.n == 0) {
      fprintf(stderr, "pdpctl test: %s has no checks\n", file);
    } else {
      rc = run(sock, timeout, &f, verbose);
    }
  }
  ctl_checks_close(&f);
  return rc;
}

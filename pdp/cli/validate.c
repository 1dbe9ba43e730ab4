/* validate.c - `pdpctl validate DIR`: load a bundle the way pdpd's sync would and report it.
 *
 * Uses cache_dir_summarize, which validates exactly what a sync validates (policies,
 * template links, entities.json, grants.json, the permission files, revocations.json, and that
 * the definitions make an acyclic Action hierarchy) with the same positioned diagnostics, so
 * "valid here" means "pdpd accepts it".  Prints every diagnostic (file:line:col: message) and
 * then either "ok: N policies, M entities, G grants, D definitions, R revocations" (exit 0)
 * or "N errors" (exit 1).  Usage errors exit 2.
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char validate_usage[] =
    "usage: pdpctl validate DIR\n"
    "\n"
    "Load the bundle in DIR (policies/*.cedar, template-links.json, entities.json,\n"
    "grants.json, permissions/*.json, revocations.json) as pdpd's sync would and print every\n"
    "error as file:line:col: message, then 'ok: N policies, M entities, G grants,\n"
    "D definitions, R revocations' or 'N errors'.\n"
    "\n"
    "options:\n"
    "  -h, --help   show this help\n"
    "\n"
    "exit status: 0 valid, 1 errors found, 2 usage error\n";

int ctl_validate(int argc, char **argv) {
  static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (c == 'h') {
      fputs(validate_usage, stdout);
      return CTL_EXIT_OK;
    }
    return ctl_bad_option("validate", c, argv);
  }
  if (optind >= argc) {
    fprintf(stderr, "pdpctl validate: missing DIR (see pdpctl validate --help)\n");
    return CTL_EXIT_ERROR;
  }
  if (argc - optind > 1) {
    fprintf(stderr, "pdpctl validate: unexpected argument '%s' (one DIR only)\n", argv[optind + 1]);
    return CTL_EXIT_ERROR;
  }
  const char *dir = argv[optind];
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pdpctl validate: %s is not a directory\n", dir);
    return CTL_EXIT_ERROR;
  }
  cache_diag diag;
  cache_diag_init(&diag);
  cache_dir_summary sum;
  bool ok = cache_dir_summarize(dir, &sum, &diag);
  for (uint32_t i = 0; i < diag.n; i++) printf("%s\n", diag.lines[i]);
  if (diag.dropped) printf("... and %u more errors not shown\n", diag.dropped);
  int rc;
  if (ok) {
    printf("ok: %u %s, %u %s, %" PRIu64 " %s, %u %s, %u %s\n", sum.policies,
           sum.policies == 1 ? "policy" : "policies", sum.entities,
           sum.entities == 1 ? "entity" : "entities", sum.grants,
           sum.grants == 1 ? "grant" : "grants", sum.definitions,
           sum.definitions == 1 ? "definition" : "definitions", sum.revocations,
           sum.revocations == 1 ? "revocation" : "revocations");
    rc = CTL_EXIT_OK;
  } else {
    uint32_t n = diag.n + diag.dropped;
    if (n == 0) n = 1; /* the loader failed without saying why: still an error */
    printf("%u %s\n", n, n == 1 ? "error" : "errors");
    rc = CTL_EXIT_FAIL;
  }
  cache_diag_close(&diag);
  return rc;
}

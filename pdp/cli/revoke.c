/* revoke.c - `pdpctl revoke-token`: add a revocation by jti or by subject to a dir source's
 * revocations.json (cache_revoke_token_jti / cache_revoke_subject: the source lock, an atomic
 * replace, nothing written when nothing changed).  Prints "changed" or "unchanged" and exits
 * 0; any error exits 2.  A pdpd serving DIR sees the change through its watch of DIR and
 * applies it at once, to cached tokens too (docs/jwt.md, "Revocations").
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char revoke_usage[] =
    "usage: pdpctl revoke-token --source DIR (--jti J --exp UNIX | --sub S --before UNIX)\n"
    "\n"
    "Revoke one token by its jti until its exp, or every token of subject S issued before\n"
    "UNIX, in DIR/revocations.json.  Revocations only grow: an entry already there keeps the\n"
    "later time.  Prints 'changed' or 'unchanged'.\n"
    "\n"
    "A pdpd serving DIR applies it at once, to cached tokens too: it watches DIR and syncs\n"
    "the change within a fraction of a second (a 50 ms debounce, then the check), after\n"
    "which the token is refused (UNAUTHENTICATED: revoked); with --watch false, within one\n"
    "--check-interval.\n"
    "\n"
    "options:\n"
    "  --source DIR     the bundle directory\n"
    "  --jti J          the token's jti claim ...\n"
    "  --exp UNIX       ... and its exp (Unix seconds): the entry may go after it\n"
    "  --sub S          a subject ...\n"
    "  --before UNIX    ... whose tokens issued (iat) before UNIX are revoked\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 done (changed or unchanged), 2 usage or any error\n";

/* A count of Unix seconds >= 0; -1 with a message when arg is not one. */
static int parse_unix(const char *opt, const char *arg, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (errno || end == arg || *end || v < 0) {
    fprintf(stderr, "pdpctl revoke-token: %s must be Unix seconds (an integer >= 0), not '%s'\n",
            opt, arg);
    return -1;
  }
  *out = (int64_t)v;
  return 0;
}

int ctl_revoke_token(int argc, char **argv) {
  static const struct option opts[] = {{"source", required_argument, 0, 's'},
                                       {"jti", required_argument, 0, 'j'},
                                       {"exp", required_argument, 0, 'e'},
                                       {"sub", required_argument, 0, 'u'},
                                       {"before", required_argument, 0, 'b'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *dir = NULL, *jti = NULL, *sub = NULL, *exp_s = NULL, *before_s = NULL;
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      dir = optarg;
      break;
    case 'j':
      jti = optarg;
      break;
    case 'e':
      exp_s = optarg;
      break;
    case 'u':
      sub = optarg;
      break;
    case 'b':
      before_s = optarg;
      break;
    case 'h':
      fputs(revoke_usage, stdout);
      return CTL_EXIT_OK;
    default:
      return ctl_bad_option("revoke-token", c, argv);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pdpctl revoke-token: unexpected argument '%s'\n", argv[optind]);
    return CTL_EXIT_ERROR;
  }
  bool by_jti = jti && exp_s && !sub && !before_s;
  bool by_sub = sub && before_s && !jti && !exp_s;
  if (!dir || (!by_jti && !by_sub)) {
    fprintf(stderr, "pdpctl revoke-token: give --source and either --jti with --exp or --sub "
                    "with --before (see pdpctl revoke-token --help)\n");
    return CTL_EXIT_ERROR;
  }
  int64_t t;
  if (parse_unix(by_jti ? "--exp" : "--before", by_jti ? exp_s : before_s, &t) != 0)
    return CTL_EXIT_ERROR;
  char err[CTL_ERR_CAP];
  bool changed = false;
  bool ok = by_jti ? cache_revoke_token_jti(dir, jti, t, &changed, err, sizeof err)
                   : cache_revoke_subject(dir, sub, t, &changed, err, sizeof err);
  if (!ok) {
    fprintf(stderr, "pdpctl revoke-token: %s\n", err);
    return CTL_EXIT_ERROR;
  }
  puts(changed ? "changed" : "unchanged");
  return CTL_EXIT_OK;
}

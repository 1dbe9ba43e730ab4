/* main.c - pdpctl's entry: picks the subcommand (the helpers they share are in options.c).
 *
 * Every subcommand parses its own options (getopt_long, with our own messages instead of
 * getopt's) and returns the exit code: 0 success / allow, 1 deny / failed checks /
 * invalid bundle, 2 usage or runtime errors.
 */
#include "pdpctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char main_usage[] =
    "usage: pdpctl COMMAND [options]\n"
    "\n"
    "Talk to pdpd, the policy decision point, and check policy bundles.\n"
    "\n"
    "commands:\n"
    "  check          ask a running pdpd one authorization question\n"
    "  test           run the checks of DIR/checks.json against a running pdpd\n"
    "  validate       load a bundle directory and report every error\n"
    "  status         show a running pdpd's health and status (or a folder's: --source DIR)\n"
    "  list-allowed   list the actions a principal may do on a resource\n"
    "  grant          add a grant to a dir source's grants.json\n"
    "  prohibit       add a prohibition to a dir source's grants.json\n"
    "  revoke-grant   remove a grant or prohibition from a dir source's grants.json\n"
    "  define         register a service's permission definitions in a dir source\n"
    "  revoke-token   revoke a token (by jti) or a subject's tokens in a dir source\n"
    "\n"
    "Run 'pdpctl COMMAND --help' for a command's options.\n"
    "exit status: 0 success, 1 deny / failures / invalid bundle, 2 usage or runtime error\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(main_usage, stderr);
    return CTL_EXIT_ERROR;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    if (argc > 2 && strcmp(cmd, "help") == 0) {
      char *sub[] = {argv[2], "--help", NULL};
      const char *name = argv[2];
      if (!strcmp(name, "check")) return ctl_check(2, sub);
      if (!strcmp(name, "test")) return ctl_test(2, sub);
      if (!strcmp(name, "validate")) return ctl_validate(2, sub);
      if (!strcmp(name, "status")) return ctl_status(2, sub);
      if (!strcmp(name, "grant")) return ctl_grant(2, sub);
      if (!strcmp(name, "prohibit")) return ctl_prohibit(2, sub);
      if (!strcmp(name, "revoke-grant")) return ctl_revoke_grant(2, sub);

      if (!strcmp(name, "list-allowed")) return ctl_list_allowed(2, sub);
      if (!strcmp(name, "define")) return ctl_define(2, sub);
      if (!strcmp(name, "revoke-token")) return ctl_revoke_token(2, sub);
      fprintf(stderr, "pdpctl: unknown command '%s' (see pdpctl --help)\n", name);
      return CTL_EXIT_ERROR;
    }
    fputs(main_usage, stdout);
    return CTL_EXIT_OK;
  }
  if (!strcmp(cmd, "--version")) {
    printf("pdpctl (pdpd) 0.1\n");
    return CTL_EXIT_OK;
  }
  if (!strcmp(cmd, "check")) return ctl_check(argc - 1, argv + 1);
  if (!strcmp(cmd, "test")) return ctl_test(argc - 1, argv + 1);
  if (!strcmp(cmd, "validate")) return ctl_validate(argc - 1, argv + 1);
  if (!strcmp(cmd, "status")) return ctl_status(argc - 1, argv + 1);
  if (!strcmp(cmd, "grant")) return ctl_grant(argc - 1, argv + 1);
  if (!strcmp(cmd, "prohibit")) return ctl_prohibit(argc - 1, argv + 1);
  if (!strcmp(cmd, "revoke-grant")) return ctl_revoke_grant(argc - 1, argv + 1);

  if (!strcmp(cmd, "list-allowed")) return ctl_list_allowed(argc - 1, argv + 1);
  if (!strcmp(cmd, "define")) return ctl_define(argc - 1, argv + 1);
  if (!strcmp(cmd, "revoke-token")) return ctl_revoke_token(argc - 1, argv + 1);
  fprintf(stderr, "pdpctl: unknown command '%s' (see pdpctl --help)\n", cmd);
  return CTL_EXIT_ERROR;
}

/* options.c - what every pdpctl subcommand shares: the default socket, --timeout parsing,
 * the message for a bad option (getopt's own messages are turned off), and reading the
 * --context and --entities of the commands that ask pdpd about a request (check,
 * list-allowed), and their --token-file.
 */
#include "pdpctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctl_socket_default(void) {
  const char *s = getenv("PDPD_SOCKET");
  return s && s[0] ? s : CTL_DEFAULT_SOCKET;
}

int ctl_parse_timeout(const char *cmd, const char *arg, int *out) {
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end || v <= 0 || v > 3600000) {
    fprintf(stderr, "pdpctl %s: --timeout must be milliseconds between 1 and 3600000, not '%s'\n",
            cmd, arg);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int ctl_bad_option(const char *cmd, int opt, char **argv) {
  const char *arg = argv[optind - 1];
  if (opt == ':')
    fprintf(stderr, "pdpctl %s: option '%s' needs a value (see pdpctl %s --help)\n", cmd, arg, cmd);
  else if (optopt && !(arg[0] == '-' && arg[1] == '-'))
    fprintf(stderr, "pdpctl %s: unknown option '-%c' (see pdpctl %s --help)\n", cmd, optopt, cmd);
  else
    fprintf(stderr, "pdpctl %s: unknown option '%s' (see pdpctl %s --help)\n", cmd, arg, cmd);
  return CTL_EXIT_ERROR;
}

int ctl_load_context(const char *arg, pdpc_value **out, char *err, size_t cap) {
  json_t *j;
  if (arg[0] == '@')
    j = ctl_json_load_file(arg + 1, err, cap);
  else
    j = ctl_json_load_string("--context", arg, err, cap);
  if (!j) return -1;
  bool ok = ctl_context_from_json(j, "context", out, err, cap);
  json_decref(j);
  return ok ? 0 : -1;
}

int ctl_load_entities(const char *file, ctl_entities *out, char *err, size_t cap) {
  json_t *j = ctl_json_load_file(file, err, cap);
  bool ok = j && ctl_entities_from_json(j, "entities", out, err, cap);
  json_decref(j);
  return ok ? 0 : -1;
}

int ctl_read_token(const char *file, char **out, char *err, size_t cap) {
  *out = NULL;
  bool std_in = strcmp(file, "-") == 0;
  FILE *f = std_in ? stdin : fopen(file, "rb");
  if (!f) {
    snprintf(err, cap, "%s: %s", file, strerror(errno));
    return -1;
  }
  char *buf = malloc(CTL_TOKEN_MAX + 2);
  size_t n = buf ? fread(buf, 1, CTL_TOKEN_MAX + 1, f) : 0;
  bool read_err = buf && ferror(f);
  if (!std_in) fclose(f);
  const char *why = !buf                ? "out of memory"
                    : read_err          ? "read error"
                    : n > CTL_TOKEN_MAX ? "longer than 1 MiB"
                    : memchr(buf, 0, n) ? "contains a NUL byte"
                                        : NULL;
  if (why) {
    snprintf(err, cap, "%s: %s", std_in ? "stdin" : file, why);
    free(buf);
    return -1;
  }
  size_t a = 0; /* surrounding whitespace (a trailing newline) is not part of a token */
  while (a < n && strchr(" \t\r\n", buf[a])) a++;
  while (n > a && strchr(" \t\r\n", buf[n - 1])) n--;
  if (n == a) {
    snprintf(err, cap, "%s: no token in it", std_in ? "stdin" : file);
    free(buf);
    return -1;
  }
  memmove(buf, buf + a, n - a);
  buf[n - a] = '\0';
  *out = buf;
  return 0;
}

bool ctl_subject_args_ok(const char *cmd, const ctl_subject_args *a) {
  if (a->token && a->token_file) {
    fprintf(stderr, "pdpctl %s: give --token or --token-file, not both\n", cmd);
    return false;
  }
  bool token = a->token || a->token_file;
  if (!a->principal && !token) {
    fprintf(stderr, "pdpctl %s: --principal (or --token) is required (see pdpctl %s --help)\n", cmd,
            cmd);
    return false;
  }
  if (a->principal && token) {
    fprintf(stderr, "pdpctl %s: give --principal or --token, not both\n", cmd);
    return false;
  }
  return true;
}

bool ctl_subject_load(const char *cmd, const ctl_subject_args *a, ctl_subject *out) {
  memset(out, 0, sizeof *out);
  char err[CTL_ERR_CAP];
  if (a->principal && !ctl_uid_parse(a->principal, &out->principal, err, sizeof err)) {
    fprintf(stderr, "pdpctl %s: --principal: %s\n", cmd, err);
    return false;
  }
  out->token = a->token;
  if (a->token_file) {
    if (ctl_read_token(a->token_file, &out->token_buf, err, sizeof err)) {
      fprintf(stderr, "pdpctl %s: --token-file %s\n", cmd, err);
      return false;
    }
    out->token = out->token_buf;
  }
  if (!ctl_uid_parse(a->resource, &out->resource, err, sizeof err)) {
    fprintf(stderr, "pdpctl %s: --resource: %s\n", cmd, err);
    return false;
  }
  if (a->context && ctl_load_context(a->context, &out->context, err, sizeof err)) {
    fprintf(stderr, "pdpctl %s: --context: %s\n", cmd, err);
    return false;
  }
  if (a->entities && ctl_load_entities(a->entities, &out->entities, err, sizeof err)) {
    fprintf(stderr, "pdpctl %s: --entities %s: %s\n", cmd, a->entities, err);
    return false;
  }
  return true;
}

void ctl_subject_close(ctl_subject *s) {
  free(s->token_buf);
  ctl_entities_close(&s->entities);
  pdpc_value_free(s->context);
  ctl_uid_close(&s->principal);
  ctl_uid_close(&s->resource);
  memset(s, 0, sizeof *s);
}

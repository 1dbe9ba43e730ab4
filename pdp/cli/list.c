/* list.c - `pdpctl list-allowed`: which defined actions may a principal do on a resource.
 *
 * Prints one allowed action uid per line in Cedar syntax (Action::"view"), nothing when
 * none is allowed, or one JSON object with --json.  Exit 0 when pdpd answered OK (even with
 * an empty list), 2 on any error (bad arguments, no connection, a non-OK status such as
 * UNIMPLEMENTED) with the message on stderr.  The uids come from the server, so they are
 * printed with every quote, backslash and control character escaped: one line is always
 * exactly one uid.
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char list_usage[] =
    "usage: pdpctl list-allowed (--principal UID | --token JWT | --token-file FILE)\n"
    "                           --resource UID [options]\n"
    "\n"
    "Ask a running pdpd which defined actions PRINCIPAL may do on RESOURCE, and print\n"
    "them one per line ('Action::\"view\"').  UIDs are written as in Cedar:\n"
    "'User::\"alice\"', 'Document::\"d1\"'.\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH     pdpd's socket (default $PDPD_SOCKET or " CTL_DEFAULT_SOCKET ")\n"
    "  -p, --principal UID   the principal entity\n"
    "      --token JWT       a token pdpd verifies and maps to the principal (instead of\n"
    "                        --principal; pdpd needs --jwt-config)\n"
    "      --token-file FILE the token read from FILE, or from stdin for '-' (keeps it out\n"
    "                        of the process list)\n"
    "  -r, --resource UID    the resource entity\n"
    "  -P, --prefix TEXT     only actions whose id starts with TEXT\n"
    "  -c, --context JSON    the context record as Cedar JSON, or @FILE to read it from FILE\n"
    "  -e, --entities FILE   request entities in Cedar's entity JSON format\n"
    "  -j, --json            print one JSON object instead of text\n"
    "  -t, --timeout MS      connect and answer timeout in milliseconds (default 5000)\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 answered (even when nothing is allowed), 2 error (message on stderr)\n";

/* s with Cedar's string escapes for quotes, backslashes and control characters. */
static void put_escaped(const char *s, FILE *f) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        fprintf(f, "\\u{%x}", *p);
      else
        fputc(*p, f);
    }
  }
}

static void print_human(const pdpc_list_result *r) {
  for (size_t i = 0; i < r->n_actions; i++) {
    put_escaped(r->actions[i].type, stdout); /* a type has no quotes; this keeps it on one line */
    fputs("::\"", stdout);
    put_escaped(r->actions[i].id, stdout);
    fputs("\"\n", stdout);
  }
}

/* {"actions": [{"type": T, "id": I}, ...], "stamp": HEX}: the uids in Cedar's JSON form. */
static int print_json(const pdpc_list_result *r) {
  json_t *o = json_object(), *actions = json_array();
  if (!o || !actions || json_object_set_new(o, "actions", actions)) goto nomem;
  for (size_t i = 0; i < r->n_actions; i++) {
    json_t *a = json_pack("{s:s, s:s}", "type", r->actions[i].type, "id", r->actions[i].id);
    if (!a || json_array_append_new(actions, a)) goto nomem; /* json_pack refuses bad UTF-8 */
  }
  if (r->stamp_len == 32) {
    char hex[65];
    json_object_set_new(o, "stamp", json_string(cache_stamp_hex(r->stamp, hex)));
  }
  char *s = json_dumps(o, JSON_COMPACT);
  if (!s) goto nomem;
  puts(s);
  free(s);
  json_decref(o);
  return 0;
nomem:
  json_decref(o);
  fprintf(stderr, "pdpctl list-allowed: cannot write the answer as JSON (out of memory, or an "
                  "action that is not UTF-8)\n");
  return -1;
}

int ctl_list_allowed(int argc, char **argv) {
  static const struct option opts[] = {
      {"socket", required_argument, 0, 's'},   {"principal", required_argument, 0, 'p'},
      {"token", required_argument, 0, 'T'},    {"token-file", required_argument, 0, 'F'},
      {"resource", required_argument, 0, 'r'}, {"prefix", required_argument, 0, 'P'},
      {"context", required_argument, 0, 'c'},  {"entities", required_argument, 0, 'e'},
      {"json", no_argument, 0, 'j'},           {"timeout", required_argument, 0, 't'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  const char *sock = ctl_socket_default(), *principal = NULL, *token = NULL, *resource = NULL;
  const char *prefix = NULL, *context = NULL, *entities = NULL, *token_file = NULL;
  bool json = false;
  int timeout = CTL_DEFAULT_TIMEOUT_MS;
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":s:p:r:P:c:e:jt:h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      sock = optarg;
      break;
    case 'p':
      principal = optarg;
      break;
    case 'T':
      token = optarg;
      break;
    case 'F':
      token_file = optarg;
      break;
    case 'r':
      resource = optarg;
      break;
    case 'P':
      prefix = optarg;
      break;
    case 'c':
      context = optarg;
      break;
    case 'e':
      entities = optarg;
      break;
    case 'j':
      json = true;
      break;
    case 't':
      if (ctl_parse_timeout("list-allowed", optarg, &timeout)) return CTL_EXIT_ERROR;
      break;
    case 'h':
      fputs(list_usage, stdout);
      return CTL_EXIT_OK;
    default:
      return ctl_bad_option("list-allowed", c, argv);
    }
  }
  if (optind < argc) {
    fprintf(stderr,
            "pdpctl list-allowed: unexpected argument '%s' (see pdpctl list-allowed --help)\n",
            argv[optind]);
    return CTL_EXIT_ERROR;
  }
  ctl_subject_args sa = {.principal = principal,
                         .token = token,
                         .token_file = token_file,
                         .resource = resource,
                         .context = context,
                         .entities = entities};
  if (!ctl_subject_args_ok("list-allowed", &sa)) return CTL_EXIT_ERROR;
  if (!resource) {
    fprintf(stderr,
            "pdpctl list-allowed: --resource is required (see pdpctl list-allowed --help)\n");
    return CTL_EXIT_ERROR;
  }

  int rc = CTL_EXIT_ERROR;
  ctl_subject sub;
  pdpc_conn *conn = NULL;
  pdpc_list_result res;
  pdpc_list_result_init(&res);
  if (!ctl_subject_load("list-allowed", &sa, &sub)) goto out;
  pdpc_error cerr;
  conn = pdpc_connect(sock, timeout, &cerr);
  if (!conn) {
    fprintf(stderr, "pdpctl list-allowed: %s\n", cerr.message);
    goto out;
  }
  pdpc_list_req req = {.principal = ctl_uid_view(&sub.principal),
                       .token = sub.token,
                       .resource = ctl_uid_view(&sub.resource),
                       .context = sub.context,
                       .entities = (const pdpc_entity *const *)sub.entities.items,
                       .n_entities = sub.entities.n,
                       .action_prefix = prefix};
  if (pdpc_list_allowed(conn, &req, &res) != 0) {
    /* A non-OK status reads "pdpd answered UNAUTHENTICATED: ...", as pdpctl check says it. */
    fprintf(stderr, "pdpctl list-allowed: %s\n", pdpc_conn_error(conn)->message);
    goto out;
  }
  if (json) {
    if (print_json(&res)) goto out;
  } else {
    print_human(&res);
  }
  rc = CTL_EXIT_OK;
out:
  pdpc_list_result_close(&res);
  pdpc_close(conn);
  ctl_subject_close(&sub);
  return rc;
}

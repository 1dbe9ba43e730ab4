/* check.c - `pdpctl check`: ask a running pdpd one question and print the answer.
 *
 * Exit 0 on allow, 1 on deny, 2 on any error (bad arguments, no connection, a non-OK
 * status) with the message on stderr.  The human form prints the decision, the determining
 * policy ids and the evaluation errors; --json prints one JSON object instead.
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char check_usage[] =
    "usage: pdpctl check (--principal UID | --token JWT | --token-file FILE)\n"
    "                    --action UID --resource UID [options]\n"
    "\n"
    "Ask a running pdpd whether PRINCIPAL may do ACTION on RESOURCE.\n"
    "UIDs are written as in Cedar: 'User::\"alice\"', 'Action::\"view\"'.\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH     pdpd's socket (default $PDPD_SOCKET or " CTL_DEFAULT_SOCKET ")\n"
    "  -p, --principal UID   the principal entity\n"
    "      --token JWT       a token pdpd verifies and maps to the principal (instead of\n"
    "                        --principal; pdpd needs --jwt-config)\n"
    "      --token-file FILE the token read from FILE, or from stdin for '-' (keeps it out\n"
    "                        of the process list)\n"
    "  -a, --action UID      the action entity\n"
    "  -r, --resource UID    the resource entity\n"
    "  -c, --context JSON    the context record as Cedar JSON, or @FILE to read it from FILE\n"
    "  -e, --entities FILE   request entities in Cedar's entity JSON format\n"
    "      --explain         ask pdpd for more diagnostics\n"
    "  -j, --json            print one JSON object instead of text\n"
    "  -t, --timeout MS      connect and answer timeout in milliseconds (default 5000)\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 allow, 1 deny, 2 error (message on stderr)\n";

static void print_json(const pdpc_result *r) {
  json_t *o = json_object();
  json_object_set_new(o, "decision", json_string(pdpc_result_allowed(r) ? "allow" : "deny"));
  json_t *reason = json_array();
  for (size_t i = 0; i < r->n_reason; i++) json_array_append_new(reason, json_string(r->reason[i]));
  json_object_set_new(o, "reason", reason);
  json_t *errs = json_array();
  for (size_t i = 0; i < r->n_errors; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "policy", json_string(r->errors[i].policy_id));
    json_object_set_new(e, "message", json_string(r->errors[i].message));
    json_array_append_new(errs, e);
  }
  json_object_set_new(o, "errors", errs);
  if (r->stamp_len == 32) {
    char hex[65];
    json_object_set_new(o, "stamp", json_string(cache_stamp_hex(r->stamp, hex)));
  }
  char *s = json_dumps(o, JSON_COMPACT);
  if (s) puts(s);
  free(s);
  json_decref(o);
}

static void print_human(const pdpc_result *r) {
  printf("%s\n", pdpc_result_allowed(r) ? "ALLOW" : "DENY");
  if (r->n_reason) {
    printf("reason:");
    for (size_t i = 0; i < r->n_reason; i++) printf(" %s", r->reason[i]);
    printf("\n");
  } else if (!pdpc_result_allowed(r)) {
    printf("reason: none (default deny)\n");
  }
  for (size_t i = 0; i < r->n_errors; i++)
    printf("error: %s: %s\n", r->errors[i].policy_id, r->errors[i].message);
  char hex[65];
  if (r->stamp_len == 32) printf("stamp: %s\n", cache_stamp_hex(r->stamp, hex));
}

int ctl_check(int argc, char **argv) {
  static const struct option opts[] = {{"socket", required_argument, 0, 's'},
                                       {"principal", required_argument, 0, 'p'},
                                       {"token", required_argument, 0, 'T'},
                                       {"token-file", required_argument, 0, 'F'},
                                       {"action", required_argument, 0, 'a'},
                                       {"resource", required_argument, 0, 'r'},
                                       {"context", required_argument, 0, 'c'},
                                       {"entities", required_argument, 0, 'e'},
                                       {"explain", no_argument, 0, 'x'},
                                       {"json", no_argument, 0, 'j'},
                                       {"timeout", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *sock = ctl_socket_default(), *principal = NULL, *action = NULL, *resource = NULL;
  const char *token = NULL, *token_file = NULL, *context = NULL, *entities = NULL;
  bool json = false, explain = false;
  int timeout = CTL_DEFAULT_TIMEOUT_MS;
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":s:p:a:r:c:e:jt:h", opts, NULL)) != -1) {
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
    case 'a':
      action = optarg;
      break;
    case 'r':
      resource = optarg;
      break;
    case 'c':
      context = optarg;
      break;
    case 'e':
      entities = optarg;
      break;
    case 'x':
      explain = true;
      break;
    case 'j':
      json = true;
      break;
    case 't':
      if (ctl_parse_timeout("check", optarg, &timeout)) return CTL_EXIT_ERROR;
      break;
    case 'h':
      fputs(check_usage, stdout);
      return CTL_EXIT_OK;
    default:
      return ctl_bad_option("check", c, argv);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pdpctl check: unexpected argument '%s' (see pdpctl check --help)\n",
            argv[optind]);
    return CTL_EXIT_ERROR;
  }
  ctl_subject_args sa = {.principal = principal,
                         .token = token,
                         .token_file = token_file,
                         .resource = resource,
                         .context = context,
                         .entities = entities};
  if (!ctl_subject_args_ok("check", &sa)) return CTL_EXIT_ERROR;
  if (!action || !resource) {
    fprintf(stderr, "pdpctl check: --%s is required (see pdpctl check --help)\n",
            !action ? "action" : "resource");
    return CTL_EXIT_ERROR;
  }

  int rc = CTL_EXIT_ERROR;
  char err[CTL_ERR_CAP];
  ctl_uid a = {0};
  ctl_subject sub;
  pdpc_conn *conn = NULL;
  pdpc_result res;
  pdpc_result_init(&res);
  if (!ctl_subject_load("check", &sa, &sub)) goto out;
  if (!ctl_uid_parse(action, &a, err, sizeof err)) {
    fprintf(stderr, "pdpctl check: --action: %s\n", err);
    goto out;
  }
  pdpc_error cerr;
  conn = pdpc_connect(sock, timeout, &cerr);
  if (!conn) {
    fprintf(stderr, "pdpctl check: %s\n", cerr.message);
    goto out;
  }
  pdpc_check_req req = {.principal = ctl_uid_view(&sub.principal),
                        .token = sub.token,
                        .action = ctl_uid_view(&a),
                        .resource = ctl_uid_view(&sub.resource),
                        .context = sub.context,
                        .entities = (const pdpc_entity *const *)sub.entities.items,
                        .n_entities = sub.entities.n,
                        .explain = explain};
  int crc = pdpc_check(conn, &req, &res);
  if (crc != 0) {
    fprintf(stderr, "pdpctl check: %s\n", pdpc_conn_error(conn)->message);
    goto out;
  }
  if (res.status != PDPC_STATUS_OK) {
    fprintf(stderr, "pdpctl check: pdpd answered %s: %s\n", pdpc_status_name(res.status),
            res.message);
    goto out;
  }
  if (json)
    print_json(&res);
  else
    print_human(&res);
  rc = pdpc_result_allowed(&res) ? CTL_EXIT_OK : CTL_EXIT_FAIL;
out:
  pdpc_result_close(&res);
  pdpc_close(conn);
  ctl_subject_close(&sub);
  ctl_uid_close(&a);
  return rc;
}

/* pdpctl.h - internals of pdpctl, the command-line tool (not installed).
 *
 * Each subcommand lives in its own file (check.c, validate.c, test.c, status.c, grant.c) and
 * returns the process exit code.  json2proto.c turns Cedar JSON (entity uids, values,
 * context records, entity lists) into the C client's builder values; every error names
 * the JSON path of the offending element ("context.tags[2]: ...").
 */
#ifndef PDP_CLI_PDPCTL_H
#define PDP_CLI_PDPCTL_H

#include "../../clients/c/pdpc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes of every subcommand. */
enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_ERROR = 2 };

#define CTL_DEFAULT_SOCKET "./var/pdpd.sock"
#define CTL_DEFAULT_TIMEOUT_MS 5000
#define CTL_ERR_CAP 512

int ctl_check(int argc, char **argv);
int ctl_validate(int argc, char **argv);
int ctl_test(int argc, char **argv);
int ctl_status(int argc, char **argv);
/* grant.c: edit DIR/grants.json (grant, prohibit, revoke-grant) and status --source DIR. */
int ctl_grant(int argc, char **argv);
int ctl_prohibit(int argc, char **argv);
int ctl_revoke_grant(int argc, char **argv);
int ctl_status_source(const char *dir);

int ctl_define(int argc, char **argv);       /* define.c */
int ctl_revoke_token(int argc, char **argv); /* revoke.c */

/* options.c: helpers every subcommand shares. */
const char *ctl_socket_default(void); /* $PDPD_SOCKET or CTL_DEFAULT_SOCKET */
/* Parse a --timeout value; prints the error and returns -1 when it is not a positive int. */
int ctl_parse_timeout(const char *cmd, const char *arg, int *out);
/* Print the error for getopt's '?' or ':' and return CTL_EXIT_ERROR. */
int ctl_bad_option(const char *cmd, int opt, char **argv);

/* ---- list.c ------------------------------------------------------------------------------ */

int ctl_list_allowed(int argc, char **argv);

/* ---- json2proto.c ------------------------------------------------------------------------ */

/* An owned entity uid. */
typedef struct ctl_uid {
  char *type;
  char *id;
} ctl_uid;

void ctl_uid_close(ctl_uid *u);
static inline pdpc_uid ctl_uid_view(const ctl_uid *u) {
  return (pdpc_uid){u->type, u->id};
}

/* Cedar syntax `Type::"id"` (parsed by pdpl_parse_uid).  On failure writes the reason. */
bool ctl_uid_parse(const char *text, ctl_uid *out, char *err, size_t cap);
/* A uid in JSON: {"type": T, "id": I}, {"__entity": {...}}, or the string `T::"id"`.
 * `path` names the element in messages. */
bool ctl_uid_from_json(const json_t *j, const char *path, ctl_uid *out, char *err, size_t cap);
/* `Type::"id"` with the id escaped, into buf. */
const char *ctl_uid_format(const char *type, const char *id, char *buf, size_t cap);

/* A context: a JSON object (or null / absent = NULL with no error) of Cedar JSON values
 * (bool, integer, string, array = set, object = record, {"__entity"},
 * {"__extn": {"fn", "arg"}}). */
bool ctl_context_from_json(const json_t *j, const char *path, pdpc_value **out, char *err,
                           size_t cap);

/* A list of entities in Cedar's entity JSON format:
 * [{"uid": UID, "attrs": {...}, "parents": [UID...], "tags": {...}}].  */
typedef struct ctl_entities {
  pdpc_entity **items; /* owned */
  size_t n;
} ctl_entities;

bool ctl_entities_from_json(const json_t *j, const char *path, ctl_entities *out, char *err,
                            size_t cap);
void ctl_entities_close(ctl_entities *es);

/* Parse a JSON text / file, with "file:line:col: message" on failure. */
json_t *ctl_json_load_file(const char *file, char *err, size_t cap);
json_t *ctl_json_load_string(const char *what, const char *text, char *err, size_t cap);

/* options.c: a --context argument (Cedar JSON text, or @FILE) into a record, and an
 * --entities FILE into entities; -1 with the reason in err on failure. */
int ctl_load_context(const char *arg, pdpc_value **out, char *err, size_t cap);
int ctl_load_entities(const char *file, ctl_entities *out, char *err, size_t cap);
/* options.c: a --token-file argument (a file, or "-" for stdin) into a malloc'd token
 * without its surrounding whitespace; -1 with the reason in err when it cannot be read, is
 * empty, longer than CTL_TOKEN_MAX bytes or holds a NUL byte. */
#define CTL_TOKEN_MAX (1u << 20)
int ctl_read_token(const char *file, char **out, char *err, size_t cap);

/* options.c: what check and list-allowed both ask about: who (--principal, --token or
 * --token-file: exactly one), on what (--resource) and with what (--context, --entities).
 * ctl_subject_args_ok prints "pdpctl CMD: give --principal or --token, not both" (and the
 * like) when the who is not exactly one.  ctl_subject_load parses and loads them all; on
 * failure it prints "pdpctl CMD: --FLAG: reason" and returns false (close *out either way). */
typedef struct ctl_subject_args {
  const char *principal, *token, *token_file, *resource, *context, *entities;
} ctl_subject_args;
typedef struct ctl_subject {
  ctl_uid principal, resource; /* principal empty when a token is given */
  const char *token;           /* --token, or token_buf; NULL with --principal */
  char *token_buf;             /* owned: read from --token-file */
  pdpc_value *context;         /* owned; NULL: none */
  ctl_entities entities;       /* owned */
} ctl_subject;
bool ctl_subject_args_ok(const char *cmd, const ctl_subject_args *a);
bool ctl_subject_load(const char *cmd, const ctl_subject_args *a, ctl_subject *out);
void ctl_subject_close(ctl_subject *s);

/* ---- checks.c: the checks.json format (docs/checks.md) ------------------------------ */

/* Policy ids expected as reason or errors. */
typedef struct ctl_idset {
  char **items;
  size_t n;
  bool given; /* the key was present in the file */
} ctl_idset;

/* One check of a checks.json, ready to send. */
typedef struct ctl_check_case {
  char *name; /* optional */
  ctl_uid principal, action, resource;
  pdpc_value *context;
  ctl_entities entities;
  const pdpc_entity **all; /* own entities, then the shared ones they do not replace (borrowed) */
  size_t n_all;
  bool expect_allow;
  ctl_idset reason, errors;
} ctl_check_case;

/* A whole checks.json. */
typedef struct ctl_checks {
  ctl_check_case *cases;
  size_t n;
  ctl_entities shared;
} ctl_checks;

/* Read a checks.json; print every error (one per check at most) to stderr prefixed with
 * `who`; false when there was any.  A check's own entities take precedence over the file's
 * shared ones with the same uid (each case's `all`).  Close even after a failure. */
bool ctl_checks_load(const char *file, const char *who, ctl_checks *out);
void ctl_checks_close(ctl_checks *c);

#endif

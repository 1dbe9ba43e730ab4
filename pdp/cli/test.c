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

typedef struct strset {
  char **items;
  size_t n;
  bool given; /* the key was present in the file */
} strset;

typedef struct tcase {
  char *name; /* optional */
  ctl_uid principal, action, resource;
  pdpc_value *context;
  ctl_entities entities;
  const pdpc_entity **all; /* own entities, then the shared ones they do not replace (borrowed) */
  size_t n_all;
  bool expect_allow;
  strset reason, errors;
} tcase;

typedef struct tfile {
  tcase *cases;
  size_t n;
  ctl_entities shared;
} tfile;

static void strset_close(strset *s) {
  for (size_t i = 0; i < s->n; i++) free(s->items[i]);
  free(s->items);
}

static void tfile_close(tfile *f) {
  for (size_t i = 0; i < f->n; i++) {
    tcase *c = &f->cases[i];
    free(c->name);
    ctl_uid_close(&c->principal);
    ctl_uid_close(&c->action);
    ctl_uid_close(&c->resource);
    pdpc_value_free(c->context);
    ctl_entities_close(&c->entities);
    free(c->all);
    strset_close(&c->reason);
    strset_close(&c->errors);
  }
  free(f->cases);
  ctl_entities_close(&f->shared);
}

/* A list of ids: strings, or for errors also objects naming the policy. */
static bool read_ids(const json_t *j, const char *path, bool errors, strset *out, char *err, size_t cap) {
  out->given = true;
  if (!json_is_array(j)) {
    snprintf(err, cap, "%s: must be an array of policy ids", path);
    return false;
  }
  out->items = calloc(json_array_size(j) + 1, sizeof *out->items);
  if (!out->items) return snprintf(err, cap, "%s: out of memory", path), false;
  size_t i;
  json_t *v;
  json_array_foreach(j, i, v) {
    const json_t *s = v;
    if (errors && json_is_object(v)) {
      s = json_object_get(v, "policy");
      if (!s) s = json_object_get(v, "policyId");
      if (!s) s = json_object_get(v, "policy_id");
    }
    if (!json_is_string(s)) {
      snprintf(err, cap, "%s[%zu]: must be a policy id string%s", path, i,
               errors ? " or an object with \"policy\"" : "");
      return false;
    }
    if (!(out->items[out->n] = strdup(json_string_value(s)))) return snprintf(err, cap, "%s: out of memory", path), false;
    out->n++;
  }
  return true;
}

static bool read_case(const json_t *j, const char *path, tcase *c, char *err, size_t cap) {
  char p[256];
  if (!json_is_object(j)) return snprintf(err, cap, "%s: a check must be an object", path), false;
  const char *key;
  json_t *v;
  static const char *const known[] = {"name", "description", "principal", "action", "resource", "context",
                                      "entities", "decision", "reason", "errors", "validateRequest", NULL};
  json_object_foreach((json_t *)j, key, v) {
    bool ok = false;
    for (int i = 0; known[i] && !ok; i++) ok = strcmp(key, known[i]) == 0;
    if (!ok) return snprintf(err, cap, "%s: unknown field \"%s\"", path, key), false;
  }
  const json_t *name = json_object_get(j, "name");
  if (!name) name = json_object_get(j, "description");
  if (name) {
    if (!json_is_string(name)) return snprintf(err, cap, "%s.name: must be a string", path), false;
    c->name = strdup(json_string_value(name));
  }
  static const char *const uids[] = {"principal", "action", "resource"};
  ctl_uid *dst[] = {&c->principal, &c->action, &c->resource};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s.%s", path, uids[i]);
    const json_t *u = json_object_get(j, uids[i]);
    if (!u) return snprintf(err, cap, "%s: missing", p), false;
    if (!ctl_uid_from_json(u, p, dst[i], err, cap)) return false;
  }
  snprintf(p, sizeof p, "%s.context", path);
  if (!ctl_context_from_json(json_object_get(j, "context"), p, &c->context, err, cap)) return false;
  snprintf(p, sizeof p, "%s.entities", path);
  if (!ctl_entities_from_json(json_object_get(j, "entities"), p, &c->entities, err, cap)) return false;
  const json_t *d = json_object_get(j, "decision");
  const char *ds = json_string_value(d);
  if (!d) return snprintf(err, cap, "%s.decision: missing (\"allow\" or \"deny\")", path), false;
  if (!ds || (strcasecmp(ds, "allow") && strcasecmp(ds, "deny")))
    return snprintf(err, cap, "%s.decision: must be \"allow\" or \"deny\"", path), false;
  c->expect_allow = strcasecmp(ds, "allow") == 0;
  if ((v = json_object_get(j, "reason"))) {
    snprintf(p, sizeof p, "%s.reason", path);
    if (!read_ids(v, p, false, &c->reason, err, cap)) return false;
  }
  if ((v = json_object_get(j, "errors"))) {
    snprintf(p, sizeof p, "%s.errors", path);
    if (!read_ids(v, p, true, &c->errors, err, cap)) return false;
  }
  return true;
}

/* True when `es` holds an entity with uid u. */
static bool has_uid(const ctl_entities *es, pdpc_uid u) {
  for (size_t i = 0; i < es->n; i++) {
    pdpc_uid v = pdpc_entity_uid(es->items[i]);
    if (strcmp(v.type, u.type) == 0 && strcmp(v.id, u.id) == 0) return true;
  }
  return false;
}

/* Read the whole file; print every error (one per check at most); false when any.  A
 * check's own entities take precedence over the file's shared ones with the same uid. */
static bool read_file(const char *file, tfile *f) {
  char err[CTL_ERR_CAP];
  json_t *root = ctl_json_load_file(file, err, sizeof err);
  if (!root) {
    fprintf(stderr, "pdpctl test: %s\n", err);
    return false;
  }
  const json_t *checks = root;
  bool ok = true;
  if (json_is_object(root)) {
    const char *key;
    json_t *v;
    static const char *const known[] = {"checks", "requests", "entities", "description", "policies", "schema",
                                        "shouldValidate", NULL};
    json_object_foreach(root, key, v) {
      bool k = false;
      for (int i = 0; known[i] && !k; i++) k = strcmp(key, known[i]) == 0;
      if (!k) {
        fprintf(stderr, "pdpctl test: %s: unknown top-level field \"%s\"\n", file, key);
        ok = false;
      }
    }
    checks = json_object_get(root, "checks");
    if (!checks) checks = json_object_get(root, "requests");
    if (!ctl_entities_from_json(json_object_get(root, "entities"), "entities", &f->shared, err, sizeof err)) {
      fprintf(stderr, "pdpctl test: %s: %s\n", file, err);
      ok = false;
    }
  }
  if (!json_is_array(checks)) {
    fprintf(stderr, "pdpctl test: %s: expected {\"checks\": [...]} or a top-level array of checks\n", file);
    json_decref(root);
    return false;
  }
  f->n = json_array_size(checks);
  f->cases = calloc(f->n ? f->n : 1, sizeof *f->cases);
  if (!f->cases) {
    fprintf(stderr, "pdpctl test: out of memory\n");
    f->n = 0;
    json_decref(root);
    return false;
  }
  for (size_t i = 0; i < f->n; i++) {
    char path[64];
    snprintf(path, sizeof path, "checks[%zu]", i);
    if (!read_case(json_array_get(checks, i), path, &f->cases[i], err, sizeof err)) {
      fprintf(stderr, "pdpctl test: %s: %s\n", file, err);
      ok = false;
    }
  }
  for (size_t i = 0; ok && i < f->n; i++) {
    tcase *c = &f->cases[i];
    c->all = calloc(c->entities.n + f->shared.n + 1, sizeof *c->all);
    if (!c->all) {
      fprintf(stderr, "pdpctl test: out of memory\n");
      ok = false;
      break;
    }
    for (size_t k = 0; k < c->entities.n; k++) c->all[c->n_all++] = c->entities.items[k];
    for (size_t k = 0; k < f->shared.n; k++)
      if (!has_uid(&c->entities, pdpc_entity_uid(f->shared.items[k]))) c->all[c->n_all++] = f->shared.items[k];
  }
  json_decref(root);
  return ok;
}

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

static void print_failure(size_t i, const tcase *c, const pdpc_result *r, const char *why) {
  char p[300], a[300], s[300];
  printf("FAIL checks[%zu]%s%s%s: %s %s %s\n", i, c->name ? " \"" : "", c->name ? c->name : "", c->name ? "\"" : "",
         ctl_uid_format(c->principal.type, c->principal.id, p, sizeof p),
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
  for (size_t k = 0; k < r->n_errors; k++) printf("  error: %s: %s\n", r->errors[k].policy_id, r->errors[k].message);
}

/* Compare one answer; prints the failure; true when it passed. */
static bool judge(size_t i, const tcase *c, const pdpc_result *r, bool verbose) {
  const char *why = NULL;
  if (r->status != PDPC_STATUS_OK) why = "pdpd did not answer OK";
  else if (pdpc_result_allowed(r) != c->expect_allow) why = "wrong decision";
  else if (c->reason.given && !same_set(c->reason.items, c->reason.n, r->reason, r->n_reason)) why = "wrong reason";
  else if (c->errors.given) {
    char **ids = calloc(r->n_errors + 1, sizeof *ids);
    for (size_t k = 0; ids && k < r->n_errors; k++) ids[k] = r->errors[k].policy_id;
    if (!ids || !same_set(c->errors.items, c->errors.n, ids, r->n_errors)) why = "wrong errors";
    free(ids);
  }
  if (why) print_failure(i, c, r, why);
  else if (verbose) printf("ok   checks[%zu]%s%s\n", i, c->name ? " " : "", c->name ? c->name : "");
  return why == NULL;
}

static int run(const char *sock, int timeout, tfile *f, bool verbose) {
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
      tcase *c = &f->cases[sent];
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
    if (judge(got, &f->cases[got], &r, verbose)) passed++;
    else failed++;
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
    case 's': sock = optarg; break;
    case 't':
      if (ctl_parse_timeout("test", optarg, &timeout)) return CTL_EXIT_ERROR;
      break;
    case 'v': verbose = true; break;
    case 'h': fputs(test_usage, stdout); return CTL_EXIT_OK;
    default: return ctl_bad_option("test", c, argv);
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
  if (S_ISDIR(st.st_mode)) snprintf(file, sizeof file, "%s/checks.json", dir);
  else snprintf(file, sizeof file, "%s", dir);
  tfile f = {0};
  int rc = CTL_EXIT_ERROR;
  if (read_file(file, &f)) {
    if (f.n == 0) {
      fprintf(stderr, "pdpctl test: %s has no checks\n", file);
    } else {
      rc = run(sock, timeout, &f, verbose);
    }
  }
  tfile_close(&f);
  return rc;
}

/* checks.c - the checks.json format (docs/checks.md): questions and the answers a bundle's
 * policies must give.  `pdpctl test` sends them and compares; pdp-bench replays them as a
 * request mix.  Every error names the check and the field ("checks[3].decision: ...").
 */
#include "pdpctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void idset_close(ctl_idset *s) {
  for (size_t i = 0; i < s->n; i++) free(s->items[i]);
  free(s->items);
}

void ctl_checks_close(ctl_checks *f) {
  for (size_t i = 0; i < f->n; i++) {
    ctl_check_case *c = &f->cases[i];
    free(c->name);
    ctl_uid_close(&c->principal);
    ctl_uid_close(&c->action);
    ctl_uid_close(&c->resource);
    pdpc_value_free(c->context);
    ctl_entities_close(&c->entities);
    free(c->all);
    idset_close(&c->reason);
    idset_close(&c->errors);
  }
  free(f->cases);
  ctl_entities_close(&f->shared);
}

/* A list of ids: strings, or for errors also objects naming the policy. */
static bool read_ids(const json_t *j, const char *path, bool errors, ctl_idset *out, char *err,
                     size_t cap) {
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
    if (!(out->items[out->n] = strdup(json_string_value(s))))
      return snprintf(err, cap, "%s: out of memory", path), false;
    out->n++;
  }
  return true;
}

static bool read_case(const json_t *j, const char *path, ctl_check_case *c, char *err, size_t cap) {
  char p[256];
  if (!json_is_object(j)) return snprintf(err, cap, "%s: a check must be an object", path), false;
  const char *key;
  json_t *v;
  static const char *const known[] = {"name",     "description", "principal",       "action",
                                      "resource", "context",     "entities",        "decision",
                                      "reason",   "errors",      "validateRequest", NULL};
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
  if (!ctl_entities_from_json(json_object_get(j, "entities"), p, &c->entities, err, cap))
    return false;
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
bool ctl_checks_load(const char *file, const char *who, ctl_checks *f) {
  char err[CTL_ERR_CAP];
  json_t *root = ctl_json_load_file(file, err, sizeof err);
  if (!root) {
    fprintf(stderr, "%s: %s\n", who, err);
    return false;
  }
  const json_t *checks = root;
  bool ok = true;
  if (json_is_object(root)) {
    const char *key;
    json_t *v;
    static const char *const known[] = {"checks",   "requests", "entities",       "description",
                                        "policies", "schema",   "shouldValidate", NULL};
    json_object_foreach(root, key, v) {
      bool k = false;
      for (int i = 0; known[i] && !k; i++) k = strcmp(key, known[i]) == 0;
      if (!k) {
        fprintf(stderr, "%s: %s: unknown top-level field \"%s\"\n", who, file, key);
        ok = false;
      }
    }
    checks = json_object_get(root, "checks");
    if (!checks) checks = json_object_get(root, "requests");
    if (!ctl_entities_from_json(json_object_get(root, "entities"), "entities", &f->shared, err,
                                sizeof err)) {
      fprintf(stderr, "%s: %s: %s\n", who, file, err);
      ok = false;
    }
  }
  if (!json_is_array(checks)) {
    fprintf(stderr, "%s: %s: expected {\"checks\": [...]} or a top-level array of checks\n", who,
            file);
    json_decref(root);
    return false;
  }
  f->n = json_array_size(checks);
  f->cases = calloc(f->n ? f->n : 1, sizeof *f->cases);
  if (!f->cases) {
    fprintf(stderr, "%s: out of memory\n", who);
    f->n = 0;
    json_decref(root);
    return false;
  }
  for (size_t i = 0; i < f->n; i++) {
    char path[64];
    snprintf(path, sizeof path, "checks[%zu]", i);
    if (!read_case(json_array_get(checks, i), path, &f->cases[i], err, sizeof err)) {
      fprintf(stderr, "%s: %s: %s\n", who, file, err);
      ok = false;
    }
  }
  for (size_t i = 0; ok && i < f->n; i++) {
    ctl_check_case *c = &f->cases[i];
    c->all = calloc(c->entities.n + f->shared.n + 1, sizeof *c->all);
    if (!c->all) {
      fprintf(stderr, "%s: out of memory\n", who);
      ok = false;
      break;
    }
    for (size_t k = 0; k < c->entities.n; k++) c->all[c->n_all++] = c->entities.items[k];
    for (size_t k = 0; k < f->shared.n; k++)
      if (!has_uid(&c->entities, pdpc_entity_uid(f->shared.items[k])))
        c->all[c->n_all++] = f->shared.items[k];
  }
  json_decref(root);
  return ok;
}

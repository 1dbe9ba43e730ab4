/* define.c - DefinePermissions on a dir source: ABP's algorithm, corrected (DESIGN.md §4).
 *
 * Validate what was sent (the same parser as the files, defs.c), take the source lock, read
 * every permissions/<service>.json (the service's own to merge into, the others to keep a name
 * in one service), merge: each sent definition added or replacing the one of its name, each
 * name listed as deleted removed, nothing else removed.  Compare the canonical bytes with the
 * file's: equal writes nothing at all (no temp file, no rename), different replaces the file
 * atomically.  The lock is released only after the rename and the folder's fsync.  The caller
 * syncs the store afterwards, so the store stamp changes only after the write committed (ABP
 * changed its stamp first: a node could see the new stamp with the old definitions and never
 * look again).  The hash reported is SHA-256 of the merged canonical bytes, which are exactly
 * the service's row value in table definitions.
 */
#include "defs_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool sha256(const void *p, size_t n, uint8_t out[32]) {
  unsigned int len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

static const item *find(const defs *d, pu_str name) {
  size_t lo = 0, hi = d->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = pu_str_cmp(d->items[mid].d.name, name);
    if (c == 0) return &d->items[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static bool listed(const char *const *names, size_t n, pu_str name) {
  for (size_t i = 0; i < n; i++)
    if (pu_str_eq(pu_str_c(names[i]), name)) return true;
  return false;
}

/* The file text written for a service: its canonical definitions one per line. */
static char *file_text(pu_arena *a, const char *service, const item *items, uint32_t n,
                       size_t *len) {
  json_t *arr = cache__defs_canonical_json(a, items, n);
  size_t cap = 64 + strlen(service), used = 0;
  char **parts = arr && n ? pu_arena_alloc(a, n * sizeof(char *)) : NULL;
  bool ok = arr && (n == 0 || parts);
  for (uint32_t i = 0; ok && i < n; i++) {
    char *p = json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_SORT_KEYS);
    parts[i] = p ? pu_arena_strdup(a, p) : NULL;
    free(p);
    if (!parts[i])
      ok = false;
    else
      cap += strlen(parts[i]) + 4;
  }
  json_decref(arr);
  char *out = ok ? pu_arena_alloc(a, cap) : NULL;
  if (!out) return NULL;
  used = (size_t)snprintf(out, cap, "{\"service\": \"%s\",\n \"definitions\": [", service);
  for (uint32_t i = 0; i < n; i++)
    used += (size_t)snprintf(out + used, cap - used, "%s\n  %s", i ? "," : "", parts[i]);
  used += (size_t)snprintf(out + used, cap - used, "%s]}\n", n ? "\n " : "");
  *len = used;
  return out;
}

/* Steps 2.. of a define: `sent` is validated; everything else happens under the lock. */
/* The Action hierarchy that the sync would build from entities.json and every service's
 * definitions (this service's replaced by `merged`) must load: a cycle through the new
 * definitions is refused here, before anything is written, not found by the next sync.  An
 * entities.json that does not parse is the sync's to report, not the define's. */
static bool hierarchy_loads(pu_arena *a, const char *dir, const defs *per, char **services, int ns,
                            const char *service, const defs *merged, const defs *sent,
                            cache_diag *diag) {
  size_t total = merged->n;
  for (int i = 0; i < ns; i++)
    if (strcmp(services[i], service) != 0) total += per[i].n;
  pdpe_definition *all = pu_arena_alloc(a, (total + 1) * sizeof *all);
  char *epath = pu_arena_printf(a, "%s/entities.json", dir);
  if (!all || !epath) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  size_t k = 0;
  for (int i = 0; i < ns; i++)
    if (strcmp(services[i], service) != 0)
      for (uint32_t j = 0; j < per[i].n; j++) all[k++] = per[i].items[j].d;
  for (uint32_t j = 0; j < merged->n; j++) all[k++] = merged->items[j].d;
  json_t *ents = NULL;
  struct stat st;
  if (stat(epath, &st) == 0) {
    json_error_t jerr;
    if (!(ents = json_load_file(epath, 0, &jerr))) return true;
  }
  pdpe_snapshot *probe = pdpe_snapshot_new();
  char err[400] = "";
  bool ok = probe &&
            pdpe_snapshot_set_data(probe, ents, "entities.json", all, (uint32_t)k, err, sizeof err);
  pdpe_snapshot_unref(probe);
  json_decref(ents);
  if (!ok) {
    const char *from = sent->n ? sent->items[0].from->name : "request";
    cache_diag_addf(diag, "%s: definitions: the Action hierarchy would not load: %s", from,
                    err[0] ? err : "out of memory");
  }
  return ok;
}

static bool define_locked(pu_arena *a, const char *dir, const char *service, const defs *sent,
                          const char *const *deleted, size_t n_deleted, bool *changed,
                          uint8_t hash_out[32], cache_diag *diag) {
  char err[512];
  char *pdir = pu_arena_printf(a, "%s/permissions", dir);
  char *path = pu_arena_printf(a, "%s/permissions/%s.json", dir, service);
  if (!pdir || !path) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    cache_diag_addf(diag, "%s: not a source directory", dir);
    return false;
  }
  if (mkdir(pdir, 0755) != 0 && errno != EEXIST) {
    cache_diag_addf(diag, "%s: cannot create: %s", pdir, strerror(errno));
    return false;
  }
  int lock = cache__source_lock(dir, err, sizeof err);
  if (lock < 0) {
    cache_diag_addf(diag, "%s", err);
    return false;
  }
  bool ok = false;
  /* Every service's file: ours to merge into, the others to keep names unique. */
  defs *per = NULL;
  char **services = NULL;
  int ns = cache__defs_read_services(a, dir, &per, &services, diag);
  if (ns < 0) {
    cache_diag_addf(diag, "%s: fix the permission files above before defining", pdir);
    goto out;
  }
  const defs *mine = NULL;
  for (int i = 0; i < ns; i++) {
    if (!strcmp(services[i], service)) {
      mine = &per[i];
      continue;
    }
    for (uint32_t k = 0; k < sent->n; k++) {
      const item *it = &sent->items[k];
      if (!find(&per[i], it->d.name)) continue;
      char shown[160];
      cache__defs_field_err(
          diag, it->from, it->index, "name", false,
          "\"%s\" is already defined by service \"%s\" (permissions/%s.json); a name "
          "belongs to one service",
          cache__show(it->d.name.ptr, it->d.name.len, shown, sizeof shown), services[i],
          services[i]);
    }
  }
  if (diag->n) goto out;
  defs none = {NULL, 0};
  if (!mine) mine = &none;
  /* merged = existing - replaced - deleted + sent */
  defs merged = {pu_arena_alloc(a, ((size_t)mine->n + sent->n + 1) * sizeof(item)), 0};
  if (!merged.items) {
    cache_diag_addf(diag, "%s: out of memory", path);
    goto out;
  }
  for (uint32_t i = 0; i < mine->n; i++) {
    pu_str nm = mine->items[i].d.name;
    if (!find(sent, nm) && !listed(deleted, n_deleted, nm))
      merged.items[merged.n++] = mine->items[i];
  }
  for (uint32_t i = 0; i < sent->n; i++) merged.items[merged.n++] = sent->items[i];
  if (merged.n > CACHE_DEFINITIONS_MAX) {
    cache_diag_addf(diag, "%s: more than %d definitions", path, CACHE_DEFINITIONS_MAX);
    goto out;
  }
  if (merged.n > 1) qsort(merged.items, merged.n, sizeof(item), cache__defs_cmp_items);
  size_t old_len = 0, new_len = 0;
  char *old = cache__defs_canonical_bytes(a, mine->items, mine->n, &old_len);
  char *nw = cache__defs_canonical_bytes(a, merged.items, merged.n, &new_len);
  if (!old || !nw || !sha256(nw, new_len, hash_out)) {
    cache_diag_addf(diag, "%s: cannot encode the canonical form", path);
    goto out;
  }
  /* Same bytes: nothing is written.  (No file and nothing to define is the same as an empty
   * file: neither has a row.) */
  if (old_len == new_len && memcmp(old, nw, new_len) == 0) {
    *changed = false;
    ok = true;
    goto out;
  }
  if (!hierarchy_loads(a, dir, per, services, ns, service, &merged, sent, diag)) goto out;
  size_t text_len = 0;
  char *text = file_text(a, service, merged.items, merged.n, &text_len);
  if (!text) {
    cache_diag_addf(diag, "%s: out of memory", path);
    goto out;
  }
  if (!cache__write_atomic(path, text, text_len, err, sizeof err)) {
    cache_diag_addf(diag, "%s", err);
    goto out;
  }
  *changed = true;
  ok = true;
out:
  cache__source_unlock(lock);
  return ok;
}

/* Checks shared by every define entry point, then the locked part. */
static bool define(pu_arena *a, const char *dir, const char *service, const defs *sent,
                   const char *const *deleted, size_t n_deleted, bool *changed, uint8_t hash[32],
                   cache_diag *diag) {
  for (size_t i = 0; i < n_deleted; i++) {
    char shown[160];
    if (!deleted[i] || !deleted[i][0]) {
      cache_diag_addf(diag, "deleted[%zu]: must be a non-empty name", i);
      return false;
    }
    const item *it = find(sent, pu_str_c(deleted[i]));
    if (it) {
      cache__defs_field_err(diag, it->from, it->index, "name", false,
                            "\"%s\" is both sent and listed as deleted (deleted[%zu])",
                            cache__show(deleted[i], strlen(deleted[i]), shown, sizeof shown), i);
      return false;
    }
  }
  return define_locked(a, dir, service, sent, deleted, n_deleted, changed, hash, diag);
}

static bool service_ok(const char *service, char *err, size_t err_cap) {
  if (cache_service_name_ok(service)) return true;
  char shown[160];
  snprintf(
      err, err_cap, "service \"%s\": expected 1..%d bytes of [A-Za-z0-9._-], not starting with '.'",
      service ? cache__show(service, strlen(service), shown, sizeof shown) : "", CACHE_SERVICE_MAX);
  return false;
}

/* Run a define whose input `parse` fills `sent`; reports the first diagnostic in err. */
typedef struct input {
  const json_t *json;      /* cache_define_permissions */
  const char *name, *text; /* cache_define_permissions_text */
  size_t len;
} input;

static bool run(const char *dir, const char *service, const input *in, const char *const *deleted,
                size_t n_deleted, bool *changed, uint8_t hash_out[32], char *err, size_t err_cap) {
  bool dummy_changed;
  uint8_t dummy_hash[32];
  if (!changed) changed = &dummy_changed;
  if (!hash_out) hash_out = dummy_hash;
  *changed = false;
  if (!service_ok(service, err, err_cap)) return false;
  if (!dir || (n_deleted && !deleted)) {
    snprintf(err, err_cap, "define: no source directory or no deleted list");
    return false;
  }
  pu_arena a;
  pu_arena_init(&a, 1 << 16, 0);
  cache_diag diag;
  cache_diag_init(&diag);
  src s = {in->text ? in->name : "request", in->text, in->len, false};
  defs sent;
  pu_str svc = pu_str_c(service);
  bool ok = in->text ? cache__defs_parse_file(&a, &s, service, &sent, &diag)
                     : cache__defs_parse_array(&a, in->json, &s, svc, &sent, &diag);
  ok = ok && define(&a, dir, service, &sent, deleted, n_deleted, changed, hash_out, &diag);
  if (!ok) cache__diag_first(&diag, err, err_cap);
  cache_diag_close(&diag);
  pu_arena_close(&a);
  return ok;
}

bool cache_define_permissions(const char *dir, const char *service,
                              const struct json_t *definitions, const char *const *deleted,
                              size_t n_deleted, bool *changed, uint8_t hash_out[32], char *err,
                              size_t err_cap) {
  input in = {definitions, NULL, NULL, 0};
  return run(dir, service, &in, deleted, n_deleted, changed, hash_out, err, err_cap);
}

bool cache_define_permissions_text(const char *dir, const char *service, const char *name,
                                   const char *text, size_t len, const char *const *deleted,
                                   size_t n_deleted, bool *changed, uint8_t hash_out[32], char *err,
                                   size_t err_cap) {
  if (!text) {
    snprintf(err, err_cap, "%s: no text", name ? name : "definitions");
    return false;
  }
  input in = {NULL, name ? name : "definitions", text, len};
  return run(dir, service, &in, deleted, n_deleted, changed, hash_out, err, err_cap);
}

/* A C definition as the JSON a file would hold (validated again by parse_array). */
static json_t *def_to_json(pu_arena *a, const pdpe_definition *d, size_t i, char *err,
                           size_t err_cap) {
  const pdpe_value *pv = &d->properties;
  bool zero = pv->kind == PDPE_BOOL && !pv->u.b;
  if (pv->kind != PDPE_RECORD && !zero) {
    snprintf(err, err_cap, "request: definitions[%zu].properties: expected a record", i);
    return NULL;
  }
  if ((unsigned)d->tenancy > 2) {
    snprintf(err, err_cap, "request: definitions[%zu].tenancy: unknown value %d", i,
             (int)d->tenancy);
    return NULL;
  }
  if (d->providers & ~(PDPE_PROVIDER_BIT(1) | PDPE_PROVIDER_BIT(2) | PDPE_PROVIDER_BIT(3))) {
    snprintf(err, err_cap, "request: definitions[%zu].allowed_providers: unknown provider", i);
    return NULL;
  }
  const pu_str strs[] = {d->name, d->display_name, d->group, d->parent};
  static const char *const names[] = {"name", "display_name", "group", "parent"};
  json_t *o = json_object();
  for (int f = 0; o && f < 4; f++) {
    json_t *s = json_stringn(strs[f].ptr ? strs[f].ptr : "", strs[f].len);
    if (!s) {
      snprintf(err, err_cap, "request: definitions[%zu].%s: not valid UTF-8", i, names[f]);
      json_decref(o);
      return NULL;
    }
    json_object_set_new(o, names[f], s);
  }
  json_t *prov = json_array();
  for (int p = 1; prov && p <= 3; p++)
    if (d->providers & PDPE_PROVIDER_BIT(p))
      json_array_append_new(prov, json_stringn(&cache__defs_provider_ch[p], 1));
  pu_str props = zero ? PU_STR_LIT("{}") : pdpe_value_to_json(a, pv);
  json_t *pj = props.ptr ? json_loadb(props.ptr, props.len, JSON_ALLOW_NUL, NULL) : NULL;
  if (!o || !prov || !pj) {
    snprintf(err, err_cap, "request: definitions[%zu].properties: not valid UTF-8", i);
    json_decref(o);
    json_decref(prov);
    json_decref(pj);
    return NULL;
  }
  json_object_set_new(o, "disabled", json_boolean(d->disabled));
  json_object_set_new(o, "tenancy", json_string(cache__defs_tenancy[d->tenancy]));
  json_object_set_new(o, "allowed_providers", prov);
  json_object_set_new(o, "properties", pj);
  return o;
}

bool cache_define_permissions_defs(const char *dir, const char *service,
                                   const pdpe_definition *defs_in, size_t n_defs,
                                   const char *const *deleted, size_t n_deleted, bool *changed,
                                   uint8_t hash_out[32], char *err, size_t err_cap) {
  if (n_defs > CACHE_DEFINITIONS_MAX || (n_defs && !defs_in)) {
    snprintf(err, err_cap, "request: more than %d definitions", CACHE_DEFINITIONS_MAX);
    return false;
  }
  pu_arena a;
  pu_arena_init(&a, 1 << 14, 0);
  json_t *arr = json_array();
  bool ok = arr != NULL;
  if (!ok) snprintf(err, err_cap, "request: out of memory");
  for (size_t i = 0; ok && i < n_defs; i++) {
    json_t *o = def_to_json(&a, &defs_in[i], i, err, err_cap);
    if (!o || json_array_append_new(arr, o) != 0) {
      if (o) snprintf(err, err_cap, "request: out of memory");
      ok = false;
    }
  }
  pu_arena_close(&a);
  ok = ok && cache_define_permissions(dir, service, arr, deleted, n_deleted, changed, hash_out, err,
                                      err_cap);
  json_decref(arr);
  return ok;
}

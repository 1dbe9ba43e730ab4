/* defs.c - permission definitions in a dir source: permissions/<service>.json parsed and
 * validated, their canonical form (the rows of table definitions), and the rows back into
 * pdpe_definitions for a snapshot.  Editing the files is define.c's.
 *
 * One parser (cache__defs_parse_array) validates every definitions array, whatever it came
 * from: a file (errors "permissions/<file>:LINE:COL: definitions[I].FIELD: message"), a
 * request, or a stored row.  The canonical form is built from the parsed structs, never from
 * the input, so key order, spacing, set order inside properties and the order of the
 * definitions do not matter: the array sorted by name, every field explicit, json_dumps(
 * JSON_COMPACT | JSON_SORT_KEYS).  "Same definitions" means the same canonical bytes.
 * docs/definitions.md tells the whole story. */
#include "defs_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const cache__defs_tenancy[3] = {"both", "host", "tenant"};
const char cache__defs_provider_ch[4] = {0, 'R', 'U', 'C'};

bool cache_service_name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > CACHE_SERVICE_MAX || s[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

void cache__diag_first(const cache_diag *d, char *err, size_t err_cap) {
  uint32_t more = d->n ? d->n - 1 + d->dropped : d->dropped;
  if (!d->n)
    snprintf(err, err_cap, "error");
  else if (more)
    snprintf(err, err_cap, "%s (and %u more errors)", d->lines[0], more);
  else
    snprintf(err, err_cap, "%s", d->lines[0]);
}

/* ---- messages ------------------------------------------------------------------------------ */

/* "NAME:L:C: PATH: message" (no L:C without text).  segs locate the value inside the array's
 * element (the "definitions" member is added here when the array is under it). */
static void emit(cache_diag *diag, const src *s, const cache__jseg *segs, size_t n, bool at_key,
                 const char *path, const char *msg) {
  cache__jseg all[8];
  size_t k = 0;
  if (s->under_key) all[k++] = (cache__jseg){"definitions", 0};
  for (size_t i = 0; i < n && k < 8; i++) all[k++] = segs[i];
  const char *sep = path && path[0] ? ": " : "";
  if (!path) path = "";
  if (s->text) {
    int line, col;
    cache__json_locate(s->text, s->len, all, k, at_key, &line, &col);
    cache_diag_addf(diag, "%s:%d:%d: %s%s%s", s->name, line, col, path, sep, msg);
  } else {
    cache_diag_addf(diag, "%s: %s%s%s", s->name, path, sep, msg);
  }
}

/* An error about definitions[i] (field NULL) or definitions[i].field. */
void cache__defs_field_err(cache_diag *diag, const src *s, size_t i, const char *field, bool at_key,
                           const char *fmt, ...) {
  char msg[512], path[300], shown[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cache__jseg segs[2] = {{NULL, i}, {field, 0}};
  if (field)
    snprintf(path, sizeof path, "definitions[%zu].%s", i,
             cache__show(field, strlen(field), shown, sizeof shown));
  else
    snprintf(path, sizeof path, "definitions[%zu]", i);
  emit(diag, s, segs, field ? 2 : 1, at_key, path, msg);
}

/* ---- parsing ------------------------------------------------------------------------------- */

static bool str_field(pu_arena *a, const json_t *v, const src *s, size_t i, const char *field,
                      pu_str *out, cache_diag *diag) {
  if (!json_is_string(v)) {
    cache__defs_field_err(diag, s, i, field, false, "expected a string");
    return false;
  }
  const char *p = json_string_value(v);
  size_t n = json_string_length(v);
  if (n > CACHE_DEFINITION_FIELD_MAX) {
    cache__defs_field_err(diag, s, i, field, false, "%zu bytes, at most %d", n,
                          CACHE_DEFINITION_FIELD_MAX);
    return false;
  }
  if (memchr(p, 0, n)) {
    cache__defs_field_err(diag, s, i, field, false, "must not contain NUL");
    return false;
  }
  *out = pu_arena_str(a, (pu_str){p, n});
  if (!out->ptr) {
    cache__defs_field_err(diag, s, i, field, false, "out of memory");
    return false;
  }
  return true;
}

/* True when a string or key anywhere in j holds a NUL byte. */
static bool has_nul(const json_t *j, unsigned depth) {
  if (depth > 64) return false; /* deeper values were refused by pdpe_value_from_json */
  if (json_is_string(j)) return memchr(json_string_value(j), 0, json_string_length(j)) != NULL;
  if (json_is_array(j)) {
    for (size_t i = 0; i < json_array_size(j); i++)
      if (has_nul(json_array_get(j, i), depth + 1)) return true;
  }
  if (json_is_object(j)) {
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach((json_t *)j, k, kl, v) {
      if (strlen(k) != kl || has_nul(v, depth + 1)) return true;
    }
  }
  return false;
}

static bool parse_properties(pu_arena *a, const json_t *v, const src *s, size_t i, pdpe_value *out,
                             cache_diag *diag) {
  if (!json_is_object(v)) {
    cache__defs_field_err(diag, s, i, "properties", false, "expected an object of Cedar values");
    return false;
  }
  size_t n = json_object_size(v);
  pu_str *keys = n ? pu_arena_alloc(a, n * sizeof(*keys)) : NULL;
  pdpe_value *vals = n ? pu_arena_alloc(a, n * sizeof(*vals)) : NULL;
  if (n && (!keys || !vals)) {
    cache__defs_field_err(diag, s, i, "properties", false, "out of memory");
    return false;
  }
  const char *k;
  size_t kl;
  json_t *x;
  uint32_t m = 0;
  char path[400], shown[160], err[512];
  json_object_keylen_foreach((json_t *)v, k, kl, x) {
    cache__show(k, kl, shown, sizeof shown);
    snprintf(path, sizeof path, "definitions[%zu].properties.%s", i, shown);
    cache__jseg segs[3] = {{NULL, i}, {"properties", 0}, {k, 0}};
    if (strlen(k) != kl || has_nul(x, 0)) {
      emit(diag, s, segs, 3, false, path, "must not contain NUL");
      return false;
    }
    keys[m] = pu_arena_str(a, (pu_str){k, kl});
    if (!keys[m].ptr || !pdpe_value_from_json(a, x, path, &vals[m], err, sizeof err)) {
      emit(diag, s, segs, 3, false, NULL, keys[m].ptr ? err : "out of memory");
      return false;
    }
    m++;
  }
  snprintf(path, sizeof path, "definitions[%zu].properties", i);
  if (!pdpe_value_make_record(a, keys, vals, m, path, out, err, sizeof err)) {
    cache__jseg segs[2] = {{NULL, i}, {"properties", 0}};
    emit(diag, s, segs, 2, false, NULL, err);
    return false;
  }
  return true;
}

static bool parse_providers(const json_t *v, const src *s, size_t i, uint32_t *out,
                            cache_diag *diag) {
  if (!json_is_array(v)) {
    cache__defs_field_err(diag, s, i, "allowed_providers", false,
                          "expected an array of \"R\", \"U\", \"C\"");
    return false;
  }
  *out = 0;
  for (size_t k = 0; k < json_array_size(v); k++) {
    const json_t *p = json_array_get(v, k);
    const char *t = json_is_string(p) ? json_string_value(p) : "";
    int which = json_string_length(p) != 1 ? 0
                : t[0] == 'R'              ? 1
                : t[0] == 'U'              ? 2
                : t[0] == 'C'              ? 3
                                           : 0;
    char field[48];
    snprintf(field, sizeof field, "allowed_providers[%zu]", k);
    cache__jseg segs[3] = {{NULL, i}, {"allowed_providers", 0}, {NULL, k}};
    char path[300];
    snprintf(path, sizeof path, "definitions[%zu].%s", i, field);
    if (!which) {
      emit(diag, s, segs, 3, false, path, "expected \"R\", \"U\" or \"C\"");
      return false;
    }
    if (*out & PDPE_PROVIDER_BIT(which)) {
      emit(diag, s, segs, 3, false, path, "listed twice");
      return false;
    }
    *out |= PDPE_PROVIDER_BIT(which);
  }
  return true;
}

static bool parse_one(pu_arena *a, const json_t *e, const src *s, size_t i, pu_str service,
                      pdpe_definition *d, cache_diag *diag) {
  memset(d, 0, sizeof(*d));
  d->service = service;
  d->properties.kind = PDPE_RECORD;
  if (!json_is_object(e)) {
    cache__defs_field_err(diag, s, i, NULL, false, "expected an object");
    return false;
  }
  const char *k;
  size_t kl;
  json_t *v;
  bool ok = true, named = false;
  json_object_keylen_foreach((json_t *)e, k, kl, v) {
    if (!strcmp(k, "name")) {
      named = true;
      if (!str_field(a, v, s, i, k, &d->name, diag))
        ok = false;
      else if (d->name.len == 0) {
        cache__defs_field_err(diag, s, i, k, false, "must not be empty");
        ok = false;
      }
    } else if (!strcmp(k, "display_name")) {
      ok = str_field(a, v, s, i, k, &d->display_name, diag) && ok;
    } else if (!strcmp(k, "group")) {
      ok = str_field(a, v, s, i, k, &d->group, diag) && ok;
    } else if (!strcmp(k, "parent")) {
      ok = str_field(a, v, s, i, k, &d->parent, diag) && ok;
    } else if (!strcmp(k, "disabled")) {
      if (!json_is_boolean(v)) {
        cache__defs_field_err(diag, s, i, k, false, "expected true or false");
        ok = false;
      }
      d->disabled = json_is_true(v);
    } else if (!strcmp(k, "tenancy")) {
      const char *t = json_is_string(v) ? json_string_value(v) : NULL;
      int which = -1;
      for (int x = 0; t && x < 3; x++)
        if (json_string_length(v) == strlen(cache__defs_tenancy[x]) &&
            !strcmp(t, cache__defs_tenancy[x]))
          which = x;
      if (which < 0) {
        cache__defs_field_err(diag, s, i, k, false, "expected \"both\", \"host\" or \"tenant\"");
        ok = false;
      }
      d->tenancy = which < 0 ? PDPE_TENANCY_BOTH : (pdpe_tenancy)which;
    } else if (!strcmp(k, "allowed_providers")) {
      ok = parse_providers(v, s, i, &d->providers, diag) && ok;
    } else if (!strcmp(k, "properties")) {
      ok = parse_properties(a, v, s, i, &d->properties, diag) && ok;
    } else {
      cache__defs_field_err(diag, s, i, k, true,
                            "unknown field (known: name, display_name, group, parent, "
                            "disabled, tenancy, allowed_providers, properties)");
      ok = false;
    }
    (void)kl;
  }
  if (!named) {
    cache__defs_field_err(diag, s, i, "name", false, "missing (every definition needs a name)");
    return false;
  }
  if (ok && d->group.len && pu_str_eq(d->group, d->name)) {
    cache__defs_field_err(diag, s, i, "group", false, "a definition cannot be its own group");
    ok = false;
  }
  if (ok && d->parent.len && pu_str_eq(d->parent, d->name)) {
    cache__defs_field_err(diag, s, i, "parent", false, "a definition cannot be its own parent");
    ok = false;
  }
  return ok;
}

int cache__defs_cmp_items(const void *x, const void *y) {
  const item *a = x, *b = y;
  int c = pu_str_cmp(a->d.name, b->d.name);
  if (!c) c = pu_str_cmp(a->d.service, b->d.service);
  return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* Parse and validate a definitions array of `service` into out (sorted by name). */
bool cache__defs_parse_array(pu_arena *a, const json_t *arr, const src *s, pu_str service,
                             defs *out, cache_diag *diag) {
  out->items = NULL;
  out->n = 0;
  if (!json_is_array(arr)) {
    emit(diag, s, NULL, 0, false, "definitions", "expected an array of definitions");
    return false;
  }
  size_t n = json_array_size(arr);
  if (n > CACHE_DEFINITIONS_MAX) {
    char msg[64];
    snprintf(msg, sizeof msg, "more than %d definitions", CACHE_DEFINITIONS_MAX);
    emit(diag, s, NULL, 0, false, "definitions", msg);
    return false;
  }
  item *items = n ? pu_arena_alloc(a, n * sizeof(*items)) : NULL;
  if (n && !items) {
    emit(diag, s, NULL, 0, false, "definitions", "out of memory");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    items[i].index = (uint32_t)i;
    items[i].from = s;
    ok = parse_one(a, json_array_get(arr, i), s, i, service, &items[i].d, diag) && ok;
  }
  if (!ok) return false;
  if (n > 1) qsort(items, n, sizeof(*items), cache__defs_cmp_items);
  for (size_t i = 1; i < n; i++) {
    if (pu_str_eq(items[i - 1].d.name, items[i].d.name)) {
      char shown[160];
      cache__defs_field_err(
          diag, s, items[i].index, "name", false,
          "\"%s\" is defined twice (definitions[%u] and definitions[%u])",
          cache__show(items[i].d.name.ptr, items[i].d.name.len, shown, sizeof shown),
          items[i - 1].index, items[i].index);
      ok = false;
    }
  }
  out->items = items;
  out->n = (uint32_t)n;
  return ok;
}

/* A permissions file's text: {"service": S (optional, = stem), "definitions": [...]}. */
bool cache__defs_parse_file(pu_arena *a, src *s, const char *service, defs *out, cache_diag *diag) {
  json_error_t jerr;
  out->items = NULL;
  out->n = 0;
  json_t *j = json_loadb(s->text, s->len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    cache_diag_addf(diag, "%s:%d:%d: %s", s->name, jerr.line, jerr.column, jerr.text);
    return false;
  }
  pu_str svc = pu_arena_str(a, pu_str_c(service));
  bool ok = svc.ptr != NULL;
  if (!ok) cache_diag_addf(diag, "%s: out of memory", s->name);
  if (ok && json_is_array(j)) {
    s->under_key = false; /* a bare array (accepted from pdpctl define --file) */
    ok = cache__defs_parse_array(a, j, s, svc, out, diag);
  } else if (ok && !json_is_object(j)) {
    s->under_key = false;
    emit(diag, s, NULL, 0, false, NULL,
         "expected an object {\"service\": ..., \"definitions\": [...]}");
    ok = false;
  } else if (ok) {
    s->under_key = false;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
      cache__jseg seg = {k, 0};
      char shown[160];
      if (!strcmp(k, "service")) {
        if (!json_is_string(v) || strcmp(json_string_value(v), service) != 0) {
          char msg[400];
          snprintf(msg, sizeof msg, "expected \"%s\" (the service this file is for)", service);
          emit(diag, s, &seg, 1, false, "service", msg);
          ok = false;
        }
      } else if (strcmp(k, "definitions") != 0) {
        emit(diag, s, &seg, 1, true, cache__show(k, strlen(k), shown, sizeof shown),
             "unknown field (known: service, definitions)");
        ok = false;
      }
    }
    const json_t *arr = json_object_get(j, "definitions");
    if (!arr) {
      emit(diag, s, NULL, 0, false, "definitions", "missing");
      ok = false;
    } else {
      s->under_key = true;
      ok = cache__defs_parse_array(a, arr, s, svc, out, diag) && ok;
    }
  }
  json_decref(j);
  return ok;
}

/* ---- canonical form -------------------------------------------------------------------------- */

/* The canonical JSON array of n sorted definitions; NULL when a string is not UTF-8 or memory
 * ran out.  Properties go through pdpe_value_to_json, so sets come out sorted and deduplicated
 * and extension values in their normal form. */
json_t *cache__defs_canonical_json(pu_arena *scratch, const item *items, uint32_t n) {
  json_t *arr = json_array();
  for (uint32_t i = 0; arr && i < n; i++) {
    const pdpe_definition *d = &items[i].d;
    json_t *prov = json_array();
    for (int p = 1; prov && p <= 3; p++)
      if (d->providers & PDPE_PROVIDER_BIT(p))
        json_array_append_new(prov, json_stringn(&cache__defs_provider_ch[p], 1));
    pu_str props = pdpe_value_to_json(scratch, &d->properties);
    json_t *pj = props.ptr ? json_loadb(props.ptr, props.len, 0, NULL) : NULL;
    json_t *o = json_object();
    json_t *fields[] = {
        json_stringn(d->name.ptr, d->name.len),
        json_stringn(d->display_name.ptr ? d->display_name.ptr : "", d->display_name.len),
        json_stringn(d->group.ptr ? d->group.ptr : "", d->group.len),
        json_stringn(d->parent.ptr ? d->parent.ptr : "", d->parent.len),
        json_boolean(d->disabled),
        json_string(cache__defs_tenancy[d->tenancy <= 2 ? d->tenancy : 0]),
        prov,
        pj};
    static const char *const names[] = {
        "name",    "display_name",      "group",     "parent", "disabled",
        "tenancy", "allowed_providers", "properties"};
    bool ok = o != NULL && json_is_object(pj);
    for (int f = 0; f < 8; f++) {
      if (ok && fields[f]) {
        if (json_object_set_new(o, names[f], fields[f]) != 0) ok = false; /* it took fields[f] */
      } else {
        ok = false;
        json_decref(fields[f]);
      }
    }
    if (!ok || json_array_append_new(arr, o) != 0) {
      if (ok) o = NULL; /* append_new released it */
      json_decref(o);
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* The canonical bytes of n sorted definitions (arena-owned, NUL-terminated). */
char *cache__defs_canonical_bytes(pu_arena *a, const item *items, uint32_t n, size_t *len) {
  json_t *arr = cache__defs_canonical_json(a, items, n);
  char *s = arr ? json_dumps(arr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(arr);
  char *out = s ? pu_arena_strdup(a, s) : NULL;
  free(s);
  if (out) *len = strlen(out);
  return out;
}

/* ---- rows ---------------------------------------------------------------------------------- */

static int cmp_rows(const void *x, const void *y) {
  const cache__row *a = x, *b = y;
  int c = memcmp(a->key, b->key, a->key_len < b->key_len ? a->key_len : b->key_len);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Every definition of every service, sorted by name; a name in two services is an error
 * reported at its place in the second one's source. */
static bool merge_services(pu_arena *a, const defs *per, uint32_t n_services, defs *all,
                           cache_diag *diag) {
  size_t total = 0;
  for (uint32_t i = 0; i < n_services; i++) total += per[i].n;
  all->n = 0;
  all->items = total ? pu_arena_alloc(a, total * sizeof(item)) : NULL;
  if (total && !all->items) {
    cache_diag_addf(diag, "definitions: out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n_services; i++)
    for (uint32_t k = 0; k < per[i].n; k++) all->items[all->n++] = per[i].items[k];
  if (total > 1) qsort(all->items, total, sizeof(item), cache__defs_cmp_items);
  bool ok = true;
  for (size_t i = 1; i < total; i++) {
    const item *x = &all->items[i - 1], *y = &all->items[i];
    if (!pu_str_eq(x->d.name, y->d.name)) continue;
    char shown[160];
    cache__defs_field_err(
        diag, y->from, y->index, "name", false,
        "\"%s\" is already defined by service \"%.*s\" (%s); a name belongs to one "
        "service",
        cache__show(y->d.name.ptr, y->d.name.len, shown, sizeof shown), (int)x->d.service.len,
        x->d.service.ptr, x->from->name);
    ok = false;
  }
  return ok;
}

/* Parse every permissions/<service>.json of dir into per[] (services[] are their names). */
int cache__defs_read_services(pu_arena *a, const char *dir, defs **per_out, char ***services_out,
                              cache_diag *diag) {
  char *pdir = pu_arena_printf(a, "%s/permissions", dir);
  char **names = NULL;
  int n = pdir ? cache__list_files(a, pdir, ".json", &names, diag) : -1;
  if (n <= 0) return n;
  defs *per = pu_arena_zalloc(a, (size_t)n * sizeof(defs));
  char **services = pu_arena_zalloc(a, (size_t)n * sizeof(char *));
  if (!per || !services) {
    cache_diag_addf(diag, "%s: out of memory", pdir);
    return -1;
  }
  bool ok = true;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(names[i]);
    char *stem = pu_arena_memdup(a, names[i], len - 5);
    src *s = pu_arena_zalloc(a, sizeof(src));
    char *path = pu_arena_printf(a, "%s/%s", pdir, names[i]);
    if (!stem || !s || !path) {
      cache_diag_addf(diag, "%s: out of memory", pdir);
      return -1;
    }
    services[i] = stem;
    s->name = pu_arena_printf(a, "permissions/%s", names[i]);
    if (!s->name) {
      cache_diag_addf(diag, "%s: out of memory", pdir);
      return -1;
    }
    if (!cache_service_name_ok(stem)) {
      cache_diag_addf(diag,
                      "%s: a file here must be named <service>.json, the service 1..%d bytes "
                      "of [A-Za-z0-9._-]",
                      s->name, CACHE_SERVICE_MAX);
      ok = false;
      continue;
    }
    char *text = NULL;
    if (!cache__read_file(a, path, &text, &s->len, diag)) {
      ok = false;
      continue;
    }
    s->text = text;
    ok = cache__defs_parse_file(a, s, stem, &per[i], diag) && ok;
  }
  *per_out = per;
  *services_out = services;
  return ok ? n : -1;
}

bool cache__defs_rows_from_dir(pu_arena *a, const char *dir, cache__row **rows, uint32_t *n,
                               cache_diag *diag) {
  *rows = NULL;
  *n = 0;
  defs *per = NULL;
  char **services = NULL;
  int ns = cache__defs_read_services(a, dir, &per, &services, diag);
  if (ns <= 0) return ns == 0;
  defs all;
  if (!merge_services(a, per, (uint32_t)ns, &all, diag)) return false;
  cache__row *out = pu_arena_alloc(a, (size_t)ns * sizeof(*out));
  if (!out) {
    cache_diag_addf(diag, "%s/permissions: out of memory", dir);
    return false;
  }
  uint32_t k = 0;
  for (int i = 0; i < ns; i++) {
    if (per[i].n == 0) continue; /* no definitions, no row: the same as no file */
    size_t len = 0;
    char *val = cache__defs_canonical_bytes(a, per[i].items, per[i].n, &len);
    if (!val) {
      cache_diag_addf(diag, "permissions/%s.json: cannot encode the canonical form", services[i]);
      return false;
    }
    out[k++] = (cache__row){services[i], strlen(services[i]), val, len};
  }
  if (k > 1) qsort(out, k, sizeof(*out), cmp_rows);
  *rows = out;
  *n = k;
  return true;
}

bool cache__defs_from_rows(pu_arena *a, const cache__row *rows, uint32_t n, pdpe_definition **out,
                           uint32_t *n_out, cache_diag *diag) {
  *out = NULL;
  *n_out = 0;
  if (n == 0) return true;
  defs *per = pu_arena_zalloc(a, (size_t)n * sizeof(defs));
  if (!per) {
    cache_diag_addf(diag, "definitions: out of memory");
    return false;
  }
  bool ok = true;
  for (uint32_t i = 0; i < n; i++) {
    char *service = pu_arena_memdup(a, rows[i].key, rows[i].key_len);
    src *s = pu_arena_zalloc(a, sizeof(src));
    char *name = service ? pu_arena_printf(a, "definitions row %s", service) : NULL;
    if (!s || !name) {
      cache_diag_addf(diag, "definitions: out of memory");
      return false;
    }
    if (strlen(service) != rows[i].key_len || !cache_service_name_ok(service)) {
      char shown[160];
      cache_diag_addf(diag, "definitions row \"%s\": not a service name",
                      cache__show(rows[i].key, rows[i].key_len, shown, sizeof shown));
      ok = false;
      continue;
    }
    *s = (src){name, rows[i].val, rows[i].val_len, false};
    json_error_t jerr;
    json_t *j = json_loadb(rows[i].val, rows[i].val_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
      cache_diag_addf(diag, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
      ok = false;
      continue;
    }
    ok = cache__defs_parse_array(a, j, s, (pu_str){service, rows[i].key_len}, &per[i], diag) && ok;
    json_decref(j);
  }
  defs all;
  if (!ok || !merge_services(a, per, n, &all, diag)) return false;
  pdpe_definition *d = all.n ? pu_arena_alloc(a, all.n * sizeof(*d)) : NULL;
  if (all.n && !d) {
    cache_diag_addf(diag, "definitions: out of memory");
    return false;
  }
  for (uint32_t i = 0; i < all.n; i++) d[i] = all.items[i].d;
  *out = d;
  *n_out = all.n;
  return true;
}

/* defs.c - permission definitions in the snapshot, and the snapshot's entities.
 *
 * pdpe_snapshot_set_data installs a snapshot's data in one step: it copies the definitions
 * into the snapshot arena sorted by name (so a lookup by name, and the prefix range of
 * ListAllowed, is a binary search), rejects a name defined twice (naming both services),
 * and builds the entities: entities.json's items plus one `Action::"<name>"` per definition
 * with parents `Action::"<group>"` and `Action::"<parent>"` (the non-empty ones).  When
 * entities.json already describes that Action, it keeps its attrs and tags and its parents
 * become the union (its own first).  pdpe_entities_build then checks the whole hierarchy
 * exactly as for entities alone: duplicate uids and cycles (through definitions too) are
 * errors naming an entity.  Nothing in the snapshot changes unless everything succeeded;
 * what a failed call allocated stays in the arena until the snapshot is freed.
 */
#include "pdpe_int.h"

#include <stdlib.h>
#include <string.h>

#define PROPS_MAX_DEPTH 64 /* nesting of a definition's properties (copied recursively) */

static const pdpe_uid *find_parent(const pdpe_uid *ps, uint32_t n, pdpe_uid u) {
  for (uint32_t i = 0; i < n; i++)
    if (pdpe__uid_eq(ps[i], u)) return &ps[i];
  return NULL;
}

/* Deep copy of v into the arena; false when out of memory or nested too deep. */
static bool copy_value(pu_arena *a, const pdpe_value *v, pdpe_value *out, unsigned depth) {
  if (depth > PROPS_MAX_DEPTH) return false;
  *out = *v;
  switch (v->kind) {
  case PDPE_STRING:
    out->u.s = pu_arena_str(a, v->u.s);
    return out->u.s.ptr != NULL;
  case PDPE_ENTITY:
    out->u.uid.type = pu_arena_str(a, v->u.uid.type);
    out->u.uid.id = pu_arena_str(a, v->u.uid.id);
    return out->u.uid.type.ptr && out->u.uid.id.ptr;
  case PDPE_SET:
    out->u.set.items = v->u.set.n ? pu_arena_alloc(a, sizeof(pdpe_value) * v->u.set.n) : NULL;
    if (v->u.set.n && !out->u.set.items) return false;
    for (uint32_t i = 0; i < v->u.set.n; i++)
      if (!copy_value(a, &v->u.set.items[i], &out->u.set.items[i], depth + 1)) return false;
    return true;
  case PDPE_RECORD: {
    uint32_t n = v->u.rec.n;
    out->u.rec.keys = n ? pu_arena_alloc(a, sizeof(pu_str) * n) : NULL;
    out->u.rec.values = n ? pu_arena_alloc(a, sizeof(pdpe_value) * n) : NULL;
    if (n && (!out->u.rec.keys || !out->u.rec.values)) return false;
    for (uint32_t i = 0; i < n; i++) {
      out->u.rec.keys[i] = pu_arena_str(a, v->u.rec.keys[i]);
      if (!out->u.rec.keys[i].ptr) return false;
      if (!copy_value(a, &v->u.rec.values[i], &out->u.rec.values[i], depth + 1)) return false;
    }
    return true;
  }
  default: /* bool, long, extension values hold no pointers */
    return true;
  }
}

static int cmp_def(const void *a, const void *b) {
  const pdpe_definition *x = a, *y = b;
  int c = pu_str_cmp(x->name, y->name);
  return c ? c : pu_str_cmp(x->service, y->service);
}

static int clip(pu_str s) {
  return (int)(s.len > 100 ? 100 : s.len);
}

/* Copies and checks one definition. */
static bool copy_def(pu_arena *a, const pdpe_definition *in, uint32_t i, pdpe_definition *out,
                     char *err, size_t cap) {
  const uint32_t valid = PDPE_PROVIDER_BIT(PDPE_PROVIDER_ROLE) |
                         PDPE_PROVIDER_BIT(PDPE_PROVIDER_USER) |
                         PDPE_PROVIDER_BIT(PDPE_PROVIDER_CLIENT);
  const char *what = NULL;
  if (in->name.len == 0)
    what = "name is empty";
  else if (in->tenancy != PDPE_TENANCY_BOTH && in->tenancy != PDPE_TENANCY_HOST &&
           in->tenancy != PDPE_TENANCY_TENANT)
    what = "tenancy is not both, host or tenant";
  else if (in->providers & ~valid)
    what = "allowed providers hold a provider other than R, U and C";
  else if (in->properties.kind != PDPE_RECORD &&
           !(in->properties.kind == PDPE_BOOL && !in->properties.u.b))
    what = "properties is not a record";
  if (what) {
    snprintf(err, cap, "permission definitions: definitions[%u] ('%.*s' of service '%.*s'): %s", i,
             clip(in->name), in->name.ptr ? in->name.ptr : "", clip(in->service),
             in->service.ptr ? in->service.ptr : "", what);
    return false;
  }
  *out = *in;
  pu_str *strs[5] = {&out->name, &out->display_name, &out->group, &out->parent, &out->service};
  for (int k = 0; k < 5; k++) {
    *strs[k] = pu_arena_str(a, *strs[k]);
    if (!strs[k]->ptr) goto oom;
  }
  if (in->properties.kind != PDPE_RECORD) {
    out->properties = (pdpe_value){.kind = PDPE_RECORD};
  } else if (!copy_value(a, &in->properties, &out->properties, 0)) {
    snprintf(err, cap,
             "permission definitions: definitions[%u] ('%.*s'): properties: out of memory or "
             "nested deeper than %d",
             i, clip(in->name), in->name.ptr, PROPS_MAX_DEPTH);
    return false;
  }
  return true;
oom:
  snprintf(err, cap, "permission definitions: out of memory");
  return false;
}

/* The parents a definition adds to its Action entity: group, parent (non-empty, new). */
static uint32_t def_parents(const pdpe_definition *d, const pdpe_uid *have, uint32_t n_have,
                            pdpe_uid add[2]) {
  uint32_t k = 0;
  pu_str names[2] = {d->group, d->parent};
  for (int i = 0; i < 2; i++) {
    if (names[i].len == 0) continue;
    pdpe_uid u = {PU_STR_LIT("Action"), names[i]};
    if (find_parent(have, n_have, u) || (k == 1 && pdpe__uid_eq(add[0], u))) continue;
    add[k++] = u;
  }
  return k;
}

static int64_t find_def(const pdpe_definition *defs, uint32_t n, pu_str name) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = pu_str_cmp(defs[mid].name, name);
    if (c == 0) return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* Entities.json's items with the definitions' Action entities merged in. */
static bool merge_entities(pu_arena *a, pdpe_entity *items, uint32_t n, const pdpe_definition *defs,
                           uint32_t n_defs, pdpe_entity **all_out, uint32_t *n_all, char *err,
                           size_t cap) {
  uint8_t *seen = n_defs ? calloc(n_defs, 1) : NULL;
  if (n_defs && !seen) goto oom;
  uint32_t n_seen = 0;
  for (uint32_t i = 0; i < n; i++) {
    pdpe_entity *e = &items[i];
    if (!pu_str_eq(e->uid.type, PU_STR_LIT("Action"))) continue;
    int64_t d = find_def(defs, n_defs, e->uid.id);
    if (d < 0) continue;
    if (!seen[d]) seen[d] = 1, n_seen++;
    pdpe_uid add[2];
    uint32_t k = def_parents(&defs[d], e->parents, e->n_parents, add);
    if (k == 0) continue;
    pdpe_uid *ps = pu_arena_alloc(a, sizeof(pdpe_uid) * (e->n_parents + k));
    if (!ps) goto oom;
    if (e->n_parents) memcpy(ps, e->parents, sizeof(pdpe_uid) * e->n_parents);
    memcpy(ps + e->n_parents, add, sizeof(pdpe_uid) * k);
    e->parents = ps, e->n_parents += k;
  }
  uint64_t total = (uint64_t)n + (n_defs - n_seen);
  if (total > (UINT32_MAX >> 2)) {
    free(seen);
    snprintf(err, cap, "permission definitions: too many entities");
    return false;
  }
  pdpe_entity *all = total ? pu_arena_zalloc(a, sizeof(pdpe_entity) * total) : NULL;
  if (total && !all) goto oom;
  if (n) memcpy(all, items, sizeof(pdpe_entity) * n);
  uint32_t m = n;
  for (uint32_t d = 0; d < n_defs; d++) {
    if (seen[d]) continue;
    pdpe_entity *e = &all[m++];
    e->uid = (pdpe_uid){PU_STR_LIT("Action"), defs[d].name};
    e->attrs = e->tags = (pdpe_value){.kind = PDPE_RECORD};
    pdpe_uid add[2];
    e->n_parents = def_parents(&defs[d], NULL, 0, add);
    if (e->n_parents) {
      e->parents = pu_arena_alloc(a, sizeof(pdpe_uid) * e->n_parents);
      if (!e->parents) goto oom;
      memcpy(e->parents, add, sizeof(pdpe_uid) * e->n_parents);
    }
  }
  free(seen);
  *all_out = all, *n_all = m;
  return true;
oom:
  free(seen);
  snprintf(err, cap, "permission definitions: out of memory");
  return false;
}

bool pdpe_snapshot_set_data(pdpe_snapshot *s, const struct json_t *entities_json,
                            const char *entities_name, const pdpe_definition *defs, uint32_t n_defs,
                            char *err, size_t err_cap) {
  pu_arena *a = &s->arena;
  if (!entities_name) entities_name = "entities";
  pdpe_definition *d = n_defs ? pu_arena_alloc(a, sizeof(pdpe_definition) * n_defs) : NULL;
  if (n_defs && !d) {
    snprintf(err, err_cap, "permission definitions: out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n_defs; i++)
    if (!copy_def(a, &defs[i], i, &d[i], err, err_cap)) return false;
  if (n_defs > 1) qsort(d, n_defs, sizeof *d, cmp_def);
  for (uint32_t i = 1; i < n_defs; i++) {
    if (!pu_str_eq(d[i - 1].name, d[i].name)) continue;
    if (pu_str_eq(d[i - 1].service, d[i].service))
      snprintf(err, err_cap, "permission definitions: '%.*s' is defined twice by service '%.*s'",
               clip(d[i].name), d[i].name.ptr, clip(d[i].service), d[i].service.ptr);
    else
      snprintf(err, err_cap,
               "permission definitions: '%.*s' is defined by service '%.*s' and by service "
               "'%.*s'",
               clip(d[i].name), d[i].name.ptr, clip(d[i - 1].service), d[i - 1].service.ptr,
               clip(d[i].service), d[i].service.ptr);
    return false;
  }
  pdpe_entity *items = NULL, *all = NULL;
  uint32_t n = 0, n_all = 0;
  if (entities_json &&
      !pdpe__entities_parse(a, entities_json, entities_name, &items, &n, err, err_cap))
    return false;
  if (!merge_entities(a, items, n, d, n_defs, &all, &n_all, err, err_cap)) return false;
  pdpe_entities *es;
  if (!pdpe_entities_build(a, all, n_all, entities_name, &es, err, err_cap)) return false;
  s->entities = es;
  s->definitions = d;
  s->n_definitions = n_defs;
  return true;
}

const pdpe_definition *pdpe_snapshot_definition(const pdpe_snapshot *s, pu_str name) {
  if (!s || s->n_definitions == 0) return NULL;
  int64_t i = find_def(s->definitions, s->n_definitions, name);
  return i < 0 ? NULL : &s->definitions[i];
}

/* claims.c - a verified payload -> the principal entity, and deep copies of principals.
 *
 * Mapping (names configurable, docs/jwt.md):
 *   sub                  -> uid <principal_type>::"<sub>"            (required, non-empty)
 *   roles, groups        -> parents <role_type>::"<name>"             (every claim present)
 *   client_id | azp      -> parent <client_type>::"<id>" and attribute client_id (first one)
 *   scope | scp          -> attribute scopes: a set of strings, always present (first one;
 *                           a space-separated string or an array of strings)
 *   tenant               -> attribute tenant (a string; absent = host)
 *   attributes {a: c}    -> attribute a = claim c as a Cedar value (string, long, bool,
 *                           set from an array, record from an object; null = absent)
 * A mapped claim of a type the mapping cannot use is refused (PA_ERR_CLAIM) and named.
 *
 * Copies: pa__copy_entity copies a principal into an arena (a cache hit into the caller's
 * request arena); the cache copies into one malloc'd block whose size pa__entity_size
 * computes with the same rounding, so an entry's bytes are known exactly.
 */
#include "pa_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const json_t *pa__claim(const json_t *payload, const char *name) {
  const json_t *v = json_object_get(payload, name);
  if (v) return v;
  const char *dot = strchr(name, '.');
  if (!dot || dot == name || dot[1] == '\0') return NULL;
  char head[128];
  size_t n = (size_t)(dot - name);
  if (n >= sizeof(head)) return NULL;
  memcpy(head, name, n);
  head[n] = '\0';
  const json_t *obj = json_object_get(payload, head);
  return json_is_object(obj) ? pa__claim(obj, dot + 1) : NULL;
}

typedef struct mapper {
  const pa_config *cfg;
  pu_arena *arena;
  char *err;
  size_t err_cap;
  pdpe_uid *parents;
  uint32_t n_parents, cap_parents;
} mapper;

static pa_status nomem(mapper *m) {
  return pa__refuse(m->err, m->err_cap, PA_ERR_NOMEM, "building the principal");
}

static pu_str jstr(mapper *m, const json_t *s) {
  return pu_arena_str(m->arena, (pu_str){json_string_value(s), json_string_length(s)});
}

static pa_status add_parent(mapper *m, const char *type, const json_t *id) {
  if (m->n_parents == m->cap_parents) {
    uint32_t cap = m->cap_parents ? m->cap_parents * 2 : 8;
    pdpe_uid *p = pu_arena_alloc(m->arena, sizeof(*p) * cap);
    if (!p) return nomem(m);
    if (m->n_parents) memcpy(p, m->parents, sizeof(*p) * m->n_parents);
    m->parents = p;
    m->cap_parents = cap;
  }
  pdpe_uid *u = &m->parents[m->n_parents];
  u->type = pu_arena_str(m->arena, pu_str_c(type));
  u->id = jstr(m, id);
  if (!u->type.ptr || !u->id.ptr) return nomem(m);
  m->n_parents++;
  return PA_OK;
}

static pa_status map_roles(mapper *m, const json_t *p) {
  for (uint32_t i = 0; i < m->cfg->n_role_claims; i++) {
    const char *name = m->cfg->role_claims[i];
    const json_t *v = pa__claim(p, name);
    if (!v || json_is_null(v)) continue;
    if (json_is_string(v)) {
      if (json_string_length(v) == 0) continue;
      pa_status s = add_parent(m, m->cfg->role_type, v);
      if (s != PA_OK) return s;
      continue;
    }
    if (!json_is_array(v))
      return pa__refuse(m->err, m->err_cap, PA_ERR_CLAIM, "claim %s is not a string or an array",
                        name);
    for (size_t k = 0; k < json_array_size(v); k++) {
      const json_t *r = json_array_get(v, k);
      if (!json_is_string(r))
        return pa__refuse(m->err, m->err_cap, PA_ERR_CLAIM, "claim %s[%zu] is not a string", name,
                          k);
      if (json_string_length(r) == 0) continue;
      pa_status s = add_parent(m, m->cfg->role_type, r);
      if (s != PA_OK) return s;
    }
  }
  return PA_OK;
}

/* scope / scp -> a set of strings. */
static pa_status map_scopes(mapper *m, const json_t *p, pdpe_value *out) {
  const json_t *v = NULL;
  const char *name = NULL;
  for (uint32_t i = 0; i < m->cfg->n_scope_claims && !v; i++)
    v = pa__claim(p, name = m->cfg->scope_claims[i]);
  pdpe_value *items = NULL;
  uint32_t n = 0;
  if (v && json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    items = pu_arena_alloc(m->arena, sizeof(*items) * (len / 2 + 1));
    if (!items) return nomem(m);
    for (size_t i = 0; i < len;) {
      while (i < len && s[i] == ' ') i++;
      size_t start = i;
      while (i < len && s[i] != ' ') i++;
      if (i == start) continue;
      items[n].kind = PDPE_STRING;
      items[n].u.s = pu_arena_str(m->arena, (pu_str){s + start, i - start});
      if (!items[n++].u.s.ptr) return nomem(m);
    }
  } else if (v && json_is_array(v)) {
    size_t len = json_array_size(v);
    items = pu_arena_alloc(m->arena, sizeof(*items) * (len + 1));
    if (!items) return nomem(m);
    for (size_t i = 0; i < len; i++) {
      const json_t *s = json_array_get(v, i);
      if (!json_is_string(s))
        return pa__refuse(m->err, m->err_cap, PA_ERR_CLAIM, "claim %s[%zu] is not a string", name,
                          i);
      items[n].kind = PDPE_STRING;
      items[n].u.s = jstr(m, s);
      if (!items[n++].u.s.ptr) return nomem(m);
    }
  } else if (v && !json_is_null(v)) {
    return pa__refuse(m->err, m->err_cap, PA_ERR_CLAIM, "claim %s is not a string or an array",
                      name);
  }
  pdpe_value_make_set(m->arena, items, n, out);
  return PA_OK;
}

/* A listed claim as a Cedar value; depth is bounded by max_json_depth already. */
static pa_status to_cedar(mapper *m, const json_t *j, const char *claim, pdpe_value *out) {
  switch (json_typeof(j)) {
  case JSON_STRING:
    out->kind = PDPE_STRING;
    out->u.s = jstr(m, j);
    return out->u.s.ptr ? PA_OK : nomem(m);
  case JSON_INTEGER:
    out->kind = PDPE_LONG;
    out->u.l = (int64_t)json_integer_value(j);
    return PA_OK;
  case JSON_TRUE:
  case JSON_FALSE:
    out->kind = PDPE_BOOL;
    out->u.b = json_is_true(j);
    return PA_OK;
  case JSON_ARRAY: {
    size_t n = json_array_size(j);
    pdpe_value *items = pu_arena_alloc(m->arena, sizeof(*items) * (n + 1));
    if (!items) return nomem(m);
    for (size_t i = 0; i < n; i++) {
      pa_status s = to_cedar(m, json_array_get(j, i), claim, &items[i]);
      if (s != PA_OK) return s;
    }
    pdpe_value_make_set(m->arena, items, (uint32_t)n, out);
    return PA_OK;
  }
  case JSON_OBJECT: {
    size_t n = json_object_size(j), i = 0;
    pu_str *keys = pu_arena_alloc(m->arena, sizeof(*keys) * (n + 1));
    pdpe_value *vals = pu_arena_alloc(m->arena, sizeof(*vals) * (n + 1));
    if (!keys || !vals) return nomem(m);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
      keys[i] = pu_arena_str(m->arena, pu_str_c(k));
      if (!keys[i].ptr) return nomem(m);
      pa_status s = to_cedar(m, v, claim, &vals[i++]);
      if (s != PA_OK) return s;
    }
    /* Keys are unique (the parser refuses duplicates): a failure is the arena's. */
    char e[64];
    if (!pdpe_value_make_record(m->arena, keys, vals, (uint32_t)n, claim, out, e, sizeof(e)))
      return nomem(m);
    return PA_OK;
  }
  default:
    return pa__refuse(m->err, m->err_cap, PA_ERR_CLAIM,
                      "claim %s holds %s, which has no Cedar value", claim,
                      json_is_real(j) ? "a fractional number" : "null");
  }
}

pa_status pa__map_claims(const pa_config *cfg, const json_t *payload, pu_arena *arena,
                         pdpe_entity *out, char *err, size_t err_cap) {
  mapper m = {cfg, arena, err, err_cap, NULL, 0, 0};
  memset(out, 0, sizeof(*out));
  const json_t *sub = pa__claim(payload, cfg->subject_claim);
  if (!sub || !json_is_string(sub) || json_string_length(sub) == 0)
    return pa__refuse(err, err_cap, PA_ERR_CLAIM,
                      "no %s claim (a non-empty string) names the principal", cfg->subject_claim);
  out->uid.type = pu_arena_str(arena, pu_str_c(cfg->principal_type));
  out->uid.id = jstr(&m, sub);
  if (!out->uid.type.ptr || !out->uid.id.ptr) return nomem(&m);
  pa_status s = map_roles(&m, payload);
  if (s != PA_OK) return s;

  uint32_t cap = 3 + cfg->n_attributes, n = 0;
  pu_str *keys = pu_arena_alloc(arena, sizeof(*keys) * cap);
  pdpe_value *vals = pu_arena_alloc(arena, sizeof(*vals) * cap);
  if (!keys || !vals) return nomem(&m);

  const json_t *client = NULL;
  const char *client_claim = NULL;
  for (uint32_t i = 0; i < cfg->n_client_claims && !client; i++)
    client = pa__claim(payload, client_claim = cfg->client_claims[i]);
  if (client && !json_is_null(client)) {
    if (!json_is_string(client) || json_string_length(client) == 0)
      return pa__refuse(err, err_cap, PA_ERR_CLAIM, "claim %s is not a non-empty string",
                        client_claim);
    if ((s = add_parent(&m, cfg->client_type, client)) != PA_OK) return s;
    keys[n] = PU_STR_LIT("client_id");
    vals[n].kind = PDPE_STRING;
    vals[n++].u.s = m.parents[m.n_parents - 1].id;
  }
  keys[n] = PU_STR_LIT("scopes");
  if ((s = map_scopes(&m, payload, &vals[n++])) != PA_OK) return s;
  const json_t *tenant = cfg->tenant_claim[0] ? pa__claim(payload, cfg->tenant_claim) : NULL;
  if (tenant && !json_is_null(tenant)) {
    if (!json_is_string(tenant))
      return pa__refuse(err, err_cap, PA_ERR_CLAIM, "claim %s is not a string", cfg->tenant_claim);
    keys[n] = PU_STR_LIT("tenant");
    vals[n].kind = PDPE_STRING;
    vals[n].u.s = jstr(&m, tenant);
    if (!vals[n++].u.s.ptr) return nomem(&m);
  }
  for (uint32_t i = 0; i < cfg->n_attributes; i++) {
    const json_t *v = pa__claim(payload, cfg->attributes[i].claim);
    if (!v || json_is_null(v)) continue;
    /* Copied: the principal must not borrow from a config a reload may free. */
    keys[n] = pu_arena_str(arena, pu_str_c(cfg->attributes[i].attribute));
    if (!keys[n].ptr) return nomem(&m);
    if ((s = to_cedar(&m, v, cfg->attributes[i].claim, &vals[n++])) != PA_OK) return s;
  }
  /* Keys are unique (the config refuses attribute names that clash with the built-in
   * ones): a failure is the arena's. */
  char e[128];
  if (!pdpe_value_make_record(arena, keys, vals, n, "principal", &out->attrs, e, sizeof(e)))
    return nomem(&m);
  out->tags.kind = PDPE_RECORD;
  out->parents = m.parents;
  out->n_parents = m.n_parents;
  return PA_OK;
}

/* ---- deep copies ---- */

/* Either an arena or a bump buffer of exactly the size pa__entity_size computed. */
typedef struct dst {
  pu_arena *arena;
  uint8_t *buf;
  size_t used, cap;
} dst;

static size_t round16(size_t n) {
  return (n + 15) & ~(size_t)15;
}

static void *dalloc(dst *d, size_t n) {
  if (n == 0) n = 1;
  if (d->arena) return pu_arena_alloc(d->arena, n);
  n = round16(n);
  if (d->cap - d->used < n) return NULL;
  void *p = d->buf + d->used;
  d->used += n;
  return p;
}

static bool copy_str(dst *d, pu_str s, pu_str *out) {
  char *p = dalloc(d, s.len + 1);
  if (!p) return false;
  if (s.len) memcpy(p, s.ptr, s.len);
  p[s.len] = '\0';
  *out = (pu_str){p, s.len};
  return true;
}

static size_t str_size(pu_str s) {
  return round16(s.len + 1);
}

static size_t value_size(const pdpe_value *v) {
  switch (v->kind) {
  case PDPE_STRING:
    return str_size(v->u.s);
  case PDPE_ENTITY:
    return str_size(v->u.uid.type) + str_size(v->u.uid.id);
  case PDPE_SET: {
    size_t n = round16(sizeof(pdpe_value) * (v->u.set.n ? v->u.set.n : 1));
    for (uint32_t i = 0; i < v->u.set.n; i++) n += value_size(&v->u.set.items[i]);
    return n;
  }
  case PDPE_RECORD: {
    uint32_t k = v->u.rec.n ? v->u.rec.n : 1;
    size_t n = round16(sizeof(pu_str) * k) + round16(sizeof(pdpe_value) * k);
    for (uint32_t i = 0; i < v->u.rec.n; i++)
      n += str_size(v->u.rec.keys[i]) + value_size(&v->u.rec.values[i]);
    return n;
  }
  default:
    return 0;
  }
}

static bool copy_value(dst *d, const pdpe_value *v, pdpe_value *out) {
  *out = *v;
  switch (v->kind) {
  case PDPE_STRING:
    return copy_str(d, v->u.s, &out->u.s);
  case PDPE_ENTITY:
    return copy_str(d, v->u.uid.type, &out->u.uid.type) && copy_str(d, v->u.uid.id, &out->u.uid.id);
  case PDPE_SET: {
    pdpe_value *items = dalloc(d, sizeof(pdpe_value) * (v->u.set.n ? v->u.set.n : 1));
    if (!items) return false;
    for (uint32_t i = 0; i < v->u.set.n; i++)
      if (!copy_value(d, &v->u.set.items[i], &items[i])) return false;
    out->u.set.items = items;
    return true;
  }
  case PDPE_RECORD: {
    uint32_t k = v->u.rec.n ? v->u.rec.n : 1;
    pu_str *keys = dalloc(d, sizeof(pu_str) * k);
    pdpe_value *vals = dalloc(d, sizeof(pdpe_value) * k);
    if (!keys || !vals) return false;
    for (uint32_t i = 0; i < v->u.rec.n; i++)
      if (!copy_str(d, v->u.rec.keys[i], &keys[i]) || !copy_value(d, &v->u.rec.values[i], &vals[i]))
        return false;
    out->u.rec.keys = keys;
    out->u.rec.values = vals;
    return true;
  }
  default:
    return true;
  }
}

size_t pa__entity_size(const pdpe_entity *e) {
  size_t n = str_size(e->uid.type) + str_size(e->uid.id) +
             round16(sizeof(pdpe_uid) * (e->n_parents ? e->n_parents : 1));
  for (uint32_t i = 0; i < e->n_parents; i++)
    n += str_size(e->parents[i].type) + str_size(e->parents[i].id);
  return n + value_size(&e->attrs) + value_size(&e->tags);
}

static bool copy_entity(dst *d, const pdpe_entity *src, pdpe_entity *out) {
  *out = *src;
  pdpe_uid *parents = dalloc(d, sizeof(pdpe_uid) * (src->n_parents ? src->n_parents : 1));
  if (!parents || !copy_str(d, src->uid.type, &out->uid.type) ||
      !copy_str(d, src->uid.id, &out->uid.id))
    return false;
  for (uint32_t i = 0; i < src->n_parents; i++)
    if (!copy_str(d, src->parents[i].type, &parents[i].type) ||
        !copy_str(d, src->parents[i].id, &parents[i].id))
      return false;
  out->parents = parents;
  return copy_value(d, &src->attrs, &out->attrs) && copy_value(d, &src->tags, &out->tags);
}

bool pa__copy_entity(pu_arena *arena, const pdpe_entity *src, pdpe_entity *out) {
  dst d = {.arena = arena};
  return copy_entity(&d, src, out);
}

bool pa__copy_entity_into(void *buf, size_t cap, const pdpe_entity *src, pdpe_entity *out) {
  dst d = {.buf = buf, .cap = cap};
  return copy_entity(&d, src, out);
}

/* ---- cloning a cache entry's block ---- */

/* The block pa__copy_entity_into filled is self-contained: every pointer of the entity
 * points inside it.  A hit copies it with one memcpy and shifts each pointer by the
 * distance between the blocks (unsigned arithmetic: the blocks are distinct objects). */
#define SHIFT(p, d) ((p) = (__typeof__(p))((uintptr_t)(p) + (d)))

static void shift_str(pu_str *s, uintptr_t d) {
  if (s->ptr) SHIFT(s->ptr, d);
}

static void shift_value(pdpe_value *v, uintptr_t d) {
  switch (v->kind) {
  case PDPE_STRING:
    shift_str(&v->u.s, d);
    return;
  case PDPE_ENTITY:
    shift_str(&v->u.uid.type, d);
    shift_str(&v->u.uid.id, d);
    return;
  case PDPE_SET:
    SHIFT(v->u.set.items, d);
    for (uint32_t i = 0; i < v->u.set.n; i++) shift_value(&v->u.set.items[i], d);
    return;
  case PDPE_RECORD:
    SHIFT(v->u.rec.keys, d);
    SHIFT(v->u.rec.values, d);
    for (uint32_t i = 0; i < v->u.rec.n; i++) {
      shift_str(&v->u.rec.keys[i], d);
      shift_value(&v->u.rec.values[i], d);
    }
    return;
  default:
    return;
  }
}

bool pa__clone_block(pu_arena *arena, const void *block, size_t size, const pdpe_entity *src,
                     pdpe_entity *out) {
  uint8_t *nb = pu_arena_alloc(arena, size);
  if (!nb) return false;
  memcpy(nb, block, size);
  uintptr_t d = (uintptr_t)nb - (uintptr_t)block;
  *out = *src;
  shift_str(&out->uid.type, d);
  shift_str(&out->uid.id, d);
  SHIFT(out->parents, d);
  for (uint32_t i = 0; i < out->n_parents; i++) {
    shift_str(&out->parents[i].type, d);
    shift_str(&out->parents[i].id, d);
  }
  shift_value(&out->attrs, d);
  shift_value(&out->tags, d);
  return true;
}

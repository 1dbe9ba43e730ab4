/* value.c - Cedar values: the total order, equality, set and record construction, and
 * Cedar's JSON value format in and out.
 *
 * Invariants every value in the engine keeps (and that equality and `contains` rely on):
 * a set's items are sorted by pdpe__value_cmp with no two equal; a record's keys are sorted
 * by pu_str_cmp and unique.  Everything built here lives in the caller's arena; strings
 * from JSON are copied (the json_t may die first).  An entity value is written
 * {"__entity": {"type": T, "id": I}} and an extension value {"__extn": {...}}; any other
 * object, including one with exactly the keys "type" and "id", is a record (Cedar reads
 * that shape as an entity only where a schema says so, and pdpd has no schema).  JSON
 * nesting deeper than PDPE_MAX_VALUE_DEPTH is refused, and every error names the JSON path
 * of the bad value.
 */
#include "pdpe_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- order and equality ---- */

int pdpe__uid_cmp(pdpe_uid a, pdpe_uid b) {
  int c = pu_str_cmp(a.type, b.type);
  return c ? c : pu_str_cmp(a.id, b.id);
}

bool pdpe__uid_eq(pdpe_uid a, pdpe_uid b) {
  return pu_str_eq(a.id, b.id) && pu_str_eq(a.type, b.type);
}

static int cmp_i64(int64_t a, int64_t b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

static int ext_cmp(const pdpe_value *a, const pdpe_value *b) {
  if (a->u.ext.kind != b->u.ext.kind) return a->u.ext.kind < b->u.ext.kind ? -1 : 1;
  switch (a->u.ext.kind) {
  case PDPE_EXT_IP: {
    const pdpe_ip *x = &a->u.ext.u.ip, *y = &b->u.ext.u.ip;
    if (x->v6 != y->v6) return x->v6 ? 1 : -1;
    int c = memcmp(x->addr, y->addr, 16);
    if (c) return c;
    return x->prefix < y->prefix ? -1 : x->prefix > y->prefix ? 1 : 0;
  }
  case PDPE_EXT_DECIMAL:
    return cmp_i64(a->u.ext.u.decimal, b->u.ext.u.decimal);
  case PDPE_EXT_DATETIME:
    return cmp_i64(a->u.ext.u.datetime, b->u.ext.u.datetime);
  case PDPE_EXT_DURATION:
    return cmp_i64(a->u.ext.u.duration, b->u.ext.u.duration);
  }
  return 0;
}

int pdpe__value_cmp(const pdpe_value *a, const pdpe_value *b) {
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  switch (a->kind) {
  case PDPE_BOOL:
    return (int)a->u.b - (int)b->u.b;
  case PDPE_LONG:
    return cmp_i64(a->u.l, b->u.l);
  case PDPE_STRING:
    return pu_str_cmp(a->u.s, b->u.s);
  case PDPE_ENTITY:
    return pdpe__uid_cmp(a->u.uid, b->u.uid);
  case PDPE_SET: {
    uint32_t n = a->u.set.n < b->u.set.n ? a->u.set.n : b->u.set.n;
    for (uint32_t i = 0; i < n; i++) {
      int c = pdpe__value_cmp(&a->u.set.items[i], &b->u.set.items[i]);
      if (c) return c;
    }
    return cmp_i64(a->u.set.n, b->u.set.n);
  }
  case PDPE_RECORD: {
    uint32_t n = a->u.rec.n < b->u.rec.n ? a->u.rec.n : b->u.rec.n;
    for (uint32_t i = 0; i < n; i++) {
      int c = pu_str_cmp(a->u.rec.keys[i], b->u.rec.keys[i]);
      if (c) return c;
      c = pdpe__value_cmp(&a->u.rec.values[i], &b->u.rec.values[i]);
      if (c) return c;
    }
    return cmp_i64(a->u.rec.n, b->u.rec.n);
  }
  case PDPE_EXT:
    return ext_cmp(a, b);
  }
  return 0;
}

bool pdpe_value_eq(const pdpe_value *a, const pdpe_value *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case PDPE_BOOL:
    return a->u.b == b->u.b;
  case PDPE_LONG:
    return a->u.l == b->u.l;
  case PDPE_STRING:
    return pu_str_eq(a->u.s, b->u.s);
  case PDPE_ENTITY:
    return pdpe__uid_eq(a->u.uid, b->u.uid);
  case PDPE_SET:
    if (a->u.set.n != b->u.set.n) return false;
    break;
  case PDPE_RECORD:
    if (a->u.rec.n != b->u.rec.n) return false;
    break;
  case PDPE_EXT:
    break;
  }
  return pdpe__value_cmp(a, b) == 0;
}

bool pdpe__set_has(const pdpe_value *set, const pdpe_value *v) {
  uint32_t lo = 0, hi = set->u.set.n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = pdpe__value_cmp(&set->u.set.items[mid], v);
    if (c == 0) return true;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

const pdpe_value *pdpe__record_get(const pdpe_value *rec, pu_str key) {
  if (rec->kind != PDPE_RECORD) return NULL;
  uint32_t lo = 0, hi = rec->u.rec.n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = pu_str_cmp(rec->u.rec.keys[mid], key);
    if (c == 0) return &rec->u.rec.values[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *pdpe__kind_name(const pdpe_value *v) {
  switch (v->kind) {
  case PDPE_BOOL:
    return "bool";
  case PDPE_LONG:
    return "long";
  case PDPE_STRING:
    return "string";
  case PDPE_ENTITY:
    return "entity";
  case PDPE_SET:
    return "set";
  case PDPE_RECORD:
    return "record";
  case PDPE_EXT:
    switch (v->u.ext.kind) {
    case PDPE_EXT_IP:
      return "ipaddr";
    case PDPE_EXT_DECIMAL:
      return "decimal";
    case PDPE_EXT_DATETIME:
      return "datetime";
    case PDPE_EXT_DURATION:
      return "duration";
    }
  }
  return "value";
}

/* ---- construction ---- */

static int cmp_value_qsort(const void *a, const void *b) {
  return pdpe__value_cmp(a, b);
}

bool pdpe_value_make_set(pu_arena *arena, pdpe_value *items, uint32_t n, pdpe_value *out) {
  (void)arena;
  if (n > 1) qsort(items, n, sizeof(*items), cmp_value_qsort);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (k > 0 && pdpe__value_cmp(&items[k - 1], &items[i]) == 0) continue;
    items[k++] = items[i];
  }
  out->kind = PDPE_SET;
  out->u.set.items = items;
  out->u.set.n = k;
  return true;
}

typedef struct kv {
  pu_str key;
  pdpe_value value;
} kv;

static int cmp_kv(const void *a, const void *b) {
  return pu_str_cmp(((const kv *)a)->key, ((const kv *)b)->key);
}

static void write_key(char *buf, size_t cap, pu_str key) {
  /* Keys may hold NUL or quotes; print them readably and bounded. */
  size_t o = 0;
  for (size_t i = 0; i < key.len && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)key.ptr[i];
    if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    else
      buf[o++] = (char)c;
  }
  if (cap) buf[o < cap ? o : cap - 1] = '\0';
}

bool pdpe_value_make_record(pu_arena *arena, pu_str *keys, pdpe_value *values, uint32_t n,
                            const char *path, pdpe_value *out, char *err, size_t err_cap) {
  out->kind = PDPE_RECORD;
  out->u.rec.n = 0;
  out->u.rec.keys = NULL;
  out->u.rec.values = NULL;
  if (n == 0) return true;
  kv *pairs = pu_arena_alloc(arena, sizeof(kv) * n);
  pu_str *k2 = pu_arena_alloc(arena, sizeof(pu_str) * n);
  pdpe_value *v2 = pu_arena_alloc(arena, sizeof(pdpe_value) * n);
  if (!pairs || !k2 || !v2) {
    snprintf(err, err_cap, "%s: out of memory", path ? path : "value");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) pairs[i] = (kv){keys[i], values[i]};
  qsort(pairs, n, sizeof(kv), cmp_kv);
  for (uint32_t i = 0; i < n; i++) {
    if (i > 0 && pu_str_eq(pairs[i - 1].key, pairs[i].key)) {
      char kb[128];
      write_key(kb, sizeof kb, pairs[i].key);
      snprintf(err, err_cap, "%s: duplicate key '%s'", path ? path : "record", kb);
      return false;
    }
    k2[i] = pairs[i].key;
    v2[i] = pairs[i].value;
  }
  out->u.rec.keys = k2;
  out->u.rec.values = v2;
  out->u.rec.n = n;
  return true;
}

bool pdpe_value_make_ext(pu_arena *arena, pu_str fn, pu_str arg, const char *path, pdpe_value *out,
                         char *err, size_t err_cap) {
  pdpl_fn f;
  if (!pdpe__ext_fn_by_name(fn, &f) ||
      (f != PDPL_FN_IP && f != PDPL_FN_DECIMAL && f != PDPL_FN_DATETIME && f != PDPL_FN_DURATION)) {
    char kb[64];
    write_key(kb, sizeof kb, fn);
    snprintf(err, err_cap, "%s: unknown extension constructor '%s'", path, kb);
    return false;
  }
  pdpe_value a = {.kind = PDPE_STRING, .u.s = arg};
  char msg[200];
  if (!pdpe__ext_call(f, &a, 1, out, msg, sizeof msg)) {
    snprintf(err, err_cap, "%s: %s", path, msg);
    return false;
  }
  return true;
}

/* ---- JSON in ---- */

/* A JSON path kept as a chain of segments and rendered only when an error needs it. */
typedef struct jpath {
  const struct jpath *up;
  const char *root; /* only at the top */
  const char *key;  /* object member, or NULL */
  size_t key_len;
  size_t index; /* array element when key == NULL */
} jpath;

static size_t path_render(const jpath *p, char *buf, size_t cap) {
  size_t o = 0;
  if (!p) return 0;
  if (p->up) o = path_render(p->up, buf, cap);
  if (o >= cap) return o;
  if (p->root)
    o += (size_t)snprintf(buf + o, cap - o, "%s", p->root);
  else if (p->key) {
    char kb[80];
    write_key(kb, sizeof kb, (pu_str){p->key, p->key_len});
    o += (size_t)snprintf(buf + o, cap - o, ".%s", kb);
  } else
    o += (size_t)snprintf(buf + o, cap - o, "[%zu]", p->index);
  return o;
}

static bool jfail(const jpath *p, char *err, size_t err_cap, const char *msg) {
  char pb[256];
  pb[0] = '\0';
  path_render(p, pb, sizeof pb);
  snprintf(err, err_cap, "%s: %s", pb[0] ? pb : "value", msg);
  return false;
}

static bool from_json(pu_arena *a, const json_t *j, const jpath *p, unsigned depth, pdpe_value *out,
                      char *err, size_t cap);

/* Parse {"type": T, "id": I} (or the same wrapped in "__entity") into a uid. */
bool pdpe__uid_from_json(pu_arena *a, const json_t *j, pdpe_uid *out) {
  if (!json_is_object(j)) return false;
  const json_t *inner = json_object_get(j, "__entity");
  if (inner && json_object_size(j) == 1) j = inner;
  const json_t *t = json_object_get(j, "type"), *id = json_object_get(j, "id");
  if (!json_is_string(t) || !json_is_string(id) || json_object_size(j) != 2) return false;
  out->type = pu_arena_str(a, (pu_str){json_string_value(t), json_string_length(t)});
  out->id = pu_arena_str(a, (pu_str){json_string_value(id), json_string_length(id)});
  return out->type.ptr && out->id.ptr;
}

static bool extn_from_json(pu_arena *a, const json_t *x, const jpath *p, unsigned depth,
                           pdpe_value *out, char *err, size_t cap) {
  jpath px = {.up = p, .key = "__extn", .key_len = 6};
  const json_t *fn = json_is_object(x) ? json_object_get(x, "fn") : NULL;
  if (!json_is_string(fn)) return jfail(&px, err, cap, "expected an object with fn and arg");
  pdpl_fn f;
  if (!pdpe__ext_fn_by_name((pu_str){json_string_value(fn), json_string_length(fn)}, &f))
    return jfail(&px, err, cap, "unknown extension function");
  pdpe_value args[2];
  uint32_t n = 0;
  const json_t *arg = json_object_get(x, "arg"), *list = json_object_get(x, "args");
  if (arg && !list && json_object_size(x) == 2) {
    jpath pa = {.up = &px, .key = "arg", .key_len = 3};
    if (!from_json(a, arg, &pa, depth + 1, &args[0], err, cap)) return false;
    n = 1;
  } else if (list && !arg && json_is_array(list) && json_array_size(list) <= 2 &&
             json_object_size(x) == 2) {
    for (size_t i = 0; i < json_array_size(list); i++) {
      jpath pa = {.up = &px, .key = NULL, .index = i};
      if (!from_json(a, json_array_get(list, i), &pa, depth + 1, &args[n++], err, cap))
        return false;
    }
  } else {
    return jfail(&px, err, cap, "expected an object with fn and arg");
  }
  char msg[200];
  if (!pdpe__ext_call(f, args, n, out, msg, sizeof msg)) return jfail(&px, err, cap, msg);
  return true;
}

static bool from_json(pu_arena *a, const json_t *j, const jpath *p, unsigned depth, pdpe_value *out,
                      char *err, size_t cap) {
  if (depth > PDPE_MAX_VALUE_DEPTH) return jfail(p, err, cap, "value nested too deeply");
  switch (json_typeof(j)) {
  case JSON_TRUE:
    *out = (pdpe_value){.kind = PDPE_BOOL, .u.b = true};
    return true;
  case JSON_FALSE:
    *out = (pdpe_value){.kind = PDPE_BOOL, .u.b = false};
    return true;
  case JSON_INTEGER:
    *out = (pdpe_value){.kind = PDPE_LONG, .u.l = (int64_t)json_integer_value(j)};
    return true;
  case JSON_REAL:
    return jfail(p, err, cap, "expected an integer, not a fraction or an out-of-range number");
  case JSON_NULL:
    return jfail(p, err, cap, "null is not a Cedar value");
  case JSON_STRING: {
    pu_str s = pu_arena_str(a, (pu_str){json_string_value(j), json_string_length(j)});
    if (!s.ptr) return jfail(p, err, cap, "out of memory");
    *out = (pdpe_value){.kind = PDPE_STRING, .u.s = s};
    return true;
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(j);
    if (n > UINT32_MAX / 2) return jfail(p, err, cap, "set too large");
    pdpe_value *items = n ? pu_arena_alloc(a, sizeof(pdpe_value) * n) : NULL;
    if (n && !items) return jfail(p, err, cap, "out of memory");
    for (size_t i = 0; i < n; i++) {
      jpath pi = {.up = p, .index = i};
      if (!from_json(a, json_array_get(j, i), &pi, depth + 1, &items[i], err, cap)) return false;
    }
    return pdpe_value_make_set(a, items, (uint32_t)n, out);
  }
  case JSON_OBJECT: {
    size_t n = json_object_size(j);
    if (n == 1) {
      const json_t *x = json_object_get(j, "__extn");
      if (x) return extn_from_json(a, x, p, depth, out, err, cap);
      if (json_object_get(j, "__entity")) {
        pdpe_uid uid;
        if (!pdpe__uid_from_json(a, j, &uid))
          return jfail(p, err, cap, "__entity: expected an object with type and id");
        *out = (pdpe_value){.kind = PDPE_ENTITY, .u.uid = uid};
        return true;
      }
    }
    if (n > UINT32_MAX / 2) return jfail(p, err, cap, "record too large");
    pu_str *keys = n ? pu_arena_alloc(a, sizeof(pu_str) * n) : NULL;
    pdpe_value *vals = n ? pu_arena_alloc(a, sizeof(pdpe_value) * n) : NULL;
    if (n && (!keys || !vals)) return jfail(p, err, cap, "out of memory");
    const char *key;
    size_t klen;
    json_t *v;
    uint32_t i = 0;
    json_object_keylen_foreach((json_t *)j, key, klen, v) {
      jpath pk = {.up = p, .key = key, .key_len = klen};
      keys[i] = pu_arena_str(a, (pu_str){key, klen});
      if (!keys[i].ptr) return jfail(&pk, err, cap, "out of memory");
      if (!from_json(a, v, &pk, depth + 1, &vals[i], err, cap)) return false;
      i++;
    }
    char pb[256] = "";
    path_render(p, pb, sizeof pb);
    return pdpe_value_make_record(a, keys, vals, i, pb, out, err, cap);
  }
  }
  return jfail(p, err, cap, "unsupported JSON value");
}

bool pdpe_value_from_json(pu_arena *arena, const struct json_t *json, const char *path,
                          pdpe_value *out, char *err, size_t err_cap) {
  jpath root = {.root = path ? path : "value"};
  if (!json) return jfail(&root, err, err_cap, "missing value");
  return from_json(arena, json, &root, 0, out, err, err_cap);
}

/* ---- JSON out ---- */

static json_t *to_json(const pdpe_value *v) {
  switch (v->kind) {
  case PDPE_BOOL:
    return json_boolean(v->u.b);
  case PDPE_LONG:
    return json_integer(v->u.l);
  case PDPE_STRING:
    return json_stringn_nocheck(v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len);
  case PDPE_ENTITY:
    return json_pack("{s:{s:s%,s:s%}}", "__entity", "type",
                     v->u.uid.type.ptr ? v->u.uid.type.ptr : "", v->u.uid.type.len, "id",
                     v->u.uid.id.ptr ? v->u.uid.id.ptr : "", v->u.uid.id.len);
  case PDPE_SET: {
    json_t *arr = json_array();
    for (uint32_t i = 0; arr && i < v->u.set.n; i++)
      json_array_append_new(arr, to_json(&v->u.set.items[i]));
    return arr;
  }
  case PDPE_RECORD: {
    json_t *obj = json_object();
    for (uint32_t i = 0; obj && i < v->u.rec.n; i++)
      json_object_setn_new_nocheck(obj, v->u.rec.keys[i].ptr, v->u.rec.keys[i].len,
                                   to_json(&v->u.rec.values[i]));
    return obj;
  }
  case PDPE_EXT: {
    char buf[96];
    pdpe__ext_format(v, buf, sizeof buf);
    const char *fn = v->u.ext.kind == PDPE_EXT_IP         ? "ip"
                     : v->u.ext.kind == PDPE_EXT_DECIMAL  ? "decimal"
                     : v->u.ext.kind == PDPE_EXT_DATETIME ? "datetime"
                                                          : "duration";
    return json_pack("{s:{s:s,s:s}}", "__extn", "fn", fn, "arg", buf);
  }
  }
  return json_null();
}

pu_str pdpe_value_to_json(pu_arena *arena, const pdpe_value *v) {
  json_t *j = to_json(v);
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(j);
  pu_str out = {NULL, 0};
  if (s) {
    out = pu_arena_str(arena, pu_str_c(s));
    free(s);
  }
  return out;
}

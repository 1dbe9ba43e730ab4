/* value.c - Cedar values and request entities for the C client, and their protobuf form.
 *
 * A pdpc_value is a small owned tree built by the caller (pdpc_value_* constructors,
 * pdpc_set_add, pdpc_record_put).  Adding a child transfers it: the parent frees it, and a
 * failed add frees it at once, so `pdpc_record_put(r, "k", pdpc_value_long(1))` never
 * leaks.  Invariant: the values form trees.  Each value records the parent that owns it;
 * a value that already has one, or that would contain its new parent (a cycle), is
 * refused and left with its owner, and pdpc_value_free ignores owned values, so misuse
 * cannot double free or make pdpc_value_free recurse forever.  Encoding walks the tree into
 * protobuf-c messages allocated from a pool that is freed after packing; nesting past
 * PDPC_MAX_VALUE_DEPTH is refused there, so the walk's stack use is bounded.
 */
#include "pdpc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pool ----------------------------------------------------------------------------- */

struct pdpc__chunk {
  pdpc__chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

void *pdpc__pool_alloc(pdpc__pool *p, size_t n) {
  n = (n + 15) & ~(size_t)15;
  pdpc__chunk *c = p->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->next = p->head;
    c->used = 0;
    c->cap = cap;
    p->head = c;
  }
  void *r = c->data + c->used;
  c->used += n;
  memset(r, 0, n);
  return r;
}

void *pdpc__pool_array(pdpc__pool *p, size_t count, size_t size) {
  if (count == 0) return NULL;
  if (size && count > (SIZE_MAX - 16 - sizeof(pdpc__chunk)) / size) return NULL;
  return pdpc__pool_alloc(p, count * size);
}

void pdpc__pool_free(pdpc__pool *p) {
  while (p->head) {
    pdpc__chunk *n = p->head->next;
    free(p->head);
    p->head = n;
  }
}

/* ---- values --------------------------------------------------------------------------- */

static pdpc_value *value_new(pdpc__kind kind) {
  pdpc_value *v = calloc(1, sizeof *v);
  if (v) v->kind = kind;
  return v;
}

static char *dup_or_empty(const char *s) {
  return strdup(s ? s : "");
}

pdpc_value *pdpc_value_bool(bool b) {
  pdpc_value *v = value_new(PDPC__BOOL);
  if (v) v->b = b;
  return v;
}

pdpc_value *pdpc_value_long(int64_t n) {
  pdpc_value *v = value_new(PDPC__LONG);
  if (v) v->n = n;
  return v;
}

static pdpc_value *value_two(pdpc__kind kind, const char *a, const char *b) {
  pdpc_value *v = value_new(kind);
  if (!v) return NULL;
  v->s = dup_or_empty(a);
  v->s2 = dup_or_empty(b);
  if (!v->s || !v->s2) {
    pdpc_value_free(v);
    return NULL;
  }
  return v;
}

pdpc_value *pdpc_value_string(const char *s) {
  pdpc_value *v = value_new(PDPC__STRING);
  if (!v) return NULL;
  v->s = dup_or_empty(s);
  if (!v->s) {
    free(v);
    return NULL;
  }
  return v;
}

pdpc_value *pdpc_value_entity(const char *type, const char *id) {
  return value_two(PDPC__ENTITY, type, id);
}
pdpc_value *pdpc_value_extension(const char *fn, const char *arg) {
  return value_two(PDPC__EXTENSION, fn, arg);
}
pdpc_value *pdpc_value_set(void) {
  return value_new(PDPC__SET);
}
pdpc_value *pdpc_value_record(void) {
  return value_new(PDPC__RECORD);
}

static void value_free_tree(pdpc_value *v) {
  for (size_t i = 0; i < v->len; i++) {
    value_free_tree(v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->s);
  free(v->s2);
  free(v);
}

void pdpc_value_free(pdpc_value *v) {
  if (!v || v->parent) return; /* a parent owns it and frees it */
  value_free_tree(v);
}

/* Whether `parent` may take `item` and the values stay trees: item has no owner yet and is
 * not parent itself or one of its ancestors.  The walk is as long as parent's depth. */
static bool can_adopt(const pdpc_value *parent, const pdpc_value *item) {
  if (item->parent) return false;
  for (const pdpc_value *p = parent; p; p = p->parent)
    if (p == item) return false;
  return true;
}

static int grow(pdpc_value *v) {
  if (v->len < v->cap) return 0;
  size_t cap = v->cap ? v->cap * 2 : 4;
  pdpc_value **items = realloc(v->items, cap * sizeof *items);
  if (!items) return PDPC_E_NOMEM;
  v->items = items;
  if (v->kind == PDPC__RECORD) {
    char **keys = realloc(v->keys, cap * sizeof *keys);
    if (!keys) return PDPC_E_NOMEM;
    v->keys = keys;
  }
  v->cap = cap;
  return 0;
}

int pdpc_set_add(pdpc_value *set, pdpc_value *item) {
  if (!item) return PDPC_E_NOMEM;
  if (!can_adopt(set, item)) return PDPC_E_INVAL; /* not ours to free */
  if (!set || set->kind != PDPC__SET) {
    pdpc_value_free(item);
    return PDPC_E_INVAL;
  }
  if (grow(set) != 0) {
    pdpc_value_free(item);
    return PDPC_E_NOMEM;
  }
  set->items[set->len++] = item;
  item->parent = set;
  return 0;
}

int pdpc_record_put(pdpc_value *record, const char *key, pdpc_value *item) {
  if (!item) return PDPC_E_NOMEM;
  if (!can_adopt(record, item)) return PDPC_E_INVAL; /* not ours to free */
  if (!record || record->kind != PDPC__RECORD || !key) {
    pdpc_value_free(item);
    return PDPC_E_INVAL;
  }
  for (size_t i = 0; i < record->len; i++) {
    if (strcmp(record->keys[i], key) == 0) {
      pdpc_value_free(item);
      return PDPC_E_INVAL;
    }
  }
  char *k = strdup(key);
  if (!k || grow(record) != 0) {
    free(k);
    pdpc_value_free(item);
    return PDPC_E_NOMEM;
  }
  record->keys[record->len] = k;
  record->items[record->len++] = item;
  item->parent = record;
  return 0;
}

/* ---- entities ------------------------------------------------------------------------- */

pdpc_entity *pdpc_entity_new(const char *type, const char *id) {
  if (!type || !id) return NULL;
  pdpc_entity *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->type = strdup(type);
  e->id = strdup(id);
  e->attrs = pdpc_value_record();
  e->tags = pdpc_value_record();
  if (!e->type || !e->id || !e->attrs || !e->tags) {
    pdpc_entity_free(e);
    return NULL;
  }
  return e;
}

int pdpc_entity_attr(pdpc_entity *e, const char *key, pdpc_value *item) {
  if (!e) {
    pdpc_value_free(item);
    return PDPC_E_INVAL;
  }
  return pdpc_record_put(e->attrs, key, item);
}

int pdpc_entity_tag(pdpc_entity *e, const char *key, pdpc_value *item) {
  if (!e) {
    pdpc_value_free(item);
    return PDPC_E_INVAL;
  }
  return pdpc_record_put(e->tags, key, item);
}

int pdpc_entity_parent(pdpc_entity *e, const char *type, const char *id) {
  if (!e || !type || !id) return PDPC_E_INVAL;
  if (e->n_parents == e->cap_parents) {
    size_t cap = e->cap_parents ? e->cap_parents * 2 : 4;
    char **t = realloc(e->parent_types, cap * sizeof *t);
    if (!t) return PDPC_E_NOMEM;
    e->parent_types = t;
    char **i = realloc(e->parent_ids, cap * sizeof *i);
    if (!i) return PDPC_E_NOMEM;
    e->parent_ids = i;
    e->cap_parents = cap;
  }
  char *ts = strdup(type), *is = strdup(id);
  if (!ts || !is) {
    free(ts);
    free(is);
    return PDPC_E_NOMEM;
  }
  e->parent_types[e->n_parents] = ts;
  e->parent_ids[e->n_parents++] = is;
  return 0;
}

pdpc_uid pdpc_entity_uid(const pdpc_entity *e) {
  if (!e) return (pdpc_uid){NULL, NULL};
  return (pdpc_uid){e->type, e->id};
}

void pdpc_entity_free(pdpc_entity *e) {
  if (!e) return;
  for (size_t i = 0; i < e->n_parents; i++) {
    free(e->parent_types[i]);
    free(e->parent_ids[i]);
  }
  free(e->parent_types);
  free(e->parent_ids);
  pdpc_value_free(e->attrs);
  pdpc_value_free(e->tags);
  free(e->type);
  free(e->id);
  free(e);
}

/* ---- encoding ------------------------------------------------------------------------- */

void pdpc__set_err(char *err, size_t cap, const char *fmt, ...) {
  if (!err || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

Pdp__V1__EntityUid *pdpc__build_uid(pdpc__pool *pool, const char *type, const char *id) {
  Pdp__V1__EntityUid *u = pdpc__pool_alloc(pool, sizeof *u);
  if (!u) return NULL;
  pdp__v1__entity_uid__init(u);
  u->type = (char *)type;
  u->id = (char *)id;
  return u;
}

/* Depth, counted exactly as pdpd counts it (pdp/server/convert.c): a set or record enclosed
 * by k other sets/records has depth k + 1, the context and an entity's attrs and tags are
 * the first record (depth 1), scalars do not count.  `depth` below is the number of sets
 * and records enclosing v; a set or record at depth PDPC_MAX_VALUE_DEPTH + 1 is refused. */
static Pdp__V1__Value *build_value(pdpc__pool *pool, const pdpc_value *v, int depth, int *rc);

static Pdp__V1__Record *build_record(pdpc__pool *pool, const pdpc_value *v, int depth, int *rc) {
  if (depth + 1 > PDPC_MAX_VALUE_DEPTH) {
    *rc = PDPC_E_INVAL;
    return NULL;
  }
  Pdp__V1__Record *r = pdpc__pool_alloc(pool, sizeof *r);
  if (!r) goto nomem;
  pdp__v1__record__init(r);
  if (v->len) {
    r->fields = pdpc__pool_alloc(pool, v->len * sizeof *r->fields);
    if (!r->fields) goto nomem;
  }
  for (size_t i = 0; i < v->len; i++) {
    Pdp__V1__Attribute *a = pdpc__pool_alloc(pool, sizeof *a);
    if (!a) goto nomem;
    pdp__v1__attribute__init(a);
    a->key = v->keys[i];
    a->value = build_value(pool, v->items[i], depth + 1, rc);
    if (!a->value) return NULL;
    r->fields[r->n_fields++] = a;
  }
  return r;
nomem:
  *rc = PDPC_E_NOMEM;
  return NULL;
}

static Pdp__V1__Value *build_value(pdpc__pool *pool, const pdpc_value *v, int depth, int *rc) {
  if (v->kind == PDPC__SET && depth + 1 > PDPC_MAX_VALUE_DEPTH) {
    *rc = PDPC_E_INVAL;
    return NULL;
  }
  Pdp__V1__Value *out = pdpc__pool_alloc(pool, sizeof *out);
  if (!out) goto nomem;
  pdp__v1__value__init(out);
  switch (v->kind) {
  case PDPC__BOOL:
    out->kind_case = PDP__V1__VALUE__KIND_BOOL;
    out->bool_ = v->b;
    break;
  case PDPC__LONG:
    out->kind_case = PDP__V1__VALUE__KIND_LONG;
    out->long_ = v->n;
    break;
  case PDPC__STRING:
    out->kind_case = PDP__V1__VALUE__KIND_STRING;
    out->string = v->s;
    break;
  case PDPC__ENTITY:
    out->kind_case = PDP__V1__VALUE__KIND_ENTITY;
    if (!(out->entity = pdpc__build_uid(pool, v->s, v->s2))) goto nomem;
    break;
  case PDPC__EXTENSION: {
    Pdp__V1__ExtensionCall *x = pdpc__pool_alloc(pool, sizeof *x);
    if (!x) goto nomem;
    pdp__v1__extension_call__init(x);
    x->fn = v->s;
    x->arg = v->s2;
    out->kind_case = PDP__V1__VALUE__KIND_EXTENSION;
    out->extension = x;
    break;
  }
  case PDPC__SET: {
    Pdp__V1__ValueSet *s = pdpc__pool_alloc(pool, sizeof *s);
    if (!s) goto nomem;
    pdp__v1__value_set__init(s);
    if (v->len) {
      s->items = pdpc__pool_alloc(pool, v->len * sizeof *s->items);
      if (!s->items) goto nomem;
    }
    for (size_t i = 0; i < v->len; i++) {
      s->items[i] = build_value(pool, v->items[i], depth + 1, rc);
      if (!s->items[i]) return NULL;
      s->n_items++;
    }
    out->kind_case = PDP__V1__VALUE__KIND_SET;
    out->set = s;
    break;
  }
  case PDPC__RECORD:
    out->kind_case = PDP__V1__VALUE__KIND_RECORD;
    if (!(out->record = build_record(pool, v, depth, rc))) return NULL;
    break;
  }
  return out;
nomem:
  *rc = PDPC_E_NOMEM;
  return NULL;
}

static int build_attrs(pdpc__pool *pool, const pdpc_value *rec, Pdp__V1__Attribute ***out,
                       size_t *n) {
  int rc = 0;
  Pdp__V1__Record *r = build_record(pool, rec, 0, &rc);
  if (!r) return rc;
  *out = r->fields;
  *n = r->n_fields;
  return 0;
}

Pdp__V1__Entity *pdpc__build_entity(pdpc__pool *pool, const pdpc_entity *e, char *err,
                                    size_t err_cap, int *rc) {
  Pdp__V1__Entity *pe = pdpc__pool_alloc(pool, sizeof *pe);
  if (!pe || !(pe->uid = (pdp__v1__entity__init(pe), pdpc__build_uid(pool, e->type, e->id)))) {
    *rc = PDPC_E_NOMEM;
    return NULL;
  }
  int r = build_attrs(pool, e->attrs, &pe->attrs, &pe->n_attrs);
  if (r == 0) r = build_attrs(pool, e->tags, &pe->tags, &pe->n_tags);
  if (r == 0 && e->n_parents) {
    pe->parents = pdpc__pool_alloc(pool, e->n_parents * sizeof *pe->parents);
    if (!pe->parents) r = PDPC_E_NOMEM;
    for (size_t i = 0; r == 0 && i < e->n_parents; i++) {
      if (!(pe->parents[i] = pdpc__build_uid(pool, e->parent_types[i], e->parent_ids[i])))
        r = PDPC_E_NOMEM;
      else
        pe->n_parents++;
    }
  }
  if (r != 0) {
    if (r == PDPC_E_INVAL)
      pdpc__set_err(err, err_cap, "entity %s::\"%s\": value nested deeper than %d", e->type, e->id,
                    PDPC_MAX_VALUE_DEPTH);
    *rc = r;
    return NULL;
  }
  return pe;
}

int pdpc__check_uid(const pdpc_uid *u, const char *field, char *err, size_t cap) {
  if (!u->type || !u->id || !u->type[0]) {
    pdpc__set_err(err, cap, "%s: entity uid needs a type and an id", field);
    return PDPC_E_INVAL;
  }
  return 0;
}

int pdpc__build_context(pdpc__pool *pool, const pdpc_value *v, const char *field,
                        Pdp__V1__Record **out, char *err, size_t err_cap) {
  *out = NULL;
  if (!v) return 0;
  if (v->kind != PDPC__RECORD) {
    pdpc__set_err(err, err_cap, "%s: must be a record", field);
    return PDPC_E_INVAL;
  }
  int rc = 0;
  if (!(*out = build_record(pool, v, 0, &rc)) && rc == PDPC_E_INVAL)
    pdpc__set_err(err, err_cap, "%s: value nested deeper than %d", field, PDPC_MAX_VALUE_DEPTH);
  return rc;
}

int pdpc__build_entities(pdpc__pool *pool, const pdpc_entity *const *es, size_t n,
                         Pdp__V1__Entity ***out, size_t *n_out, char *err, size_t err_cap) {
  *out = NULL;
  *n_out = 0;
  if (n == 0) return 0;
  if (!es) {
    pdpc__set_err(err, err_cap, "entities: NULL array with n_entities = %zu", n);
    return PDPC_E_INVAL;
  }
  Pdp__V1__Entity **list = pdpc__pool_array(pool, n, sizeof *list);
  if (!list) return PDPC_E_NOMEM;
  for (size_t i = 0; i < n; i++) {
    int rc = 0;
    if (!es[i]) {
      pdpc__set_err(err, err_cap, "entities[%zu]: NULL", i);
      return PDPC_E_INVAL;
    }
    if (!(list[i] = pdpc__build_entity(pool, es[i], err, err_cap, &rc))) return rc;
  }
  *out = list;
  *n_out = n;
  return 0;
}

int pdpc__build_check(pdpc__pool *pool, const pdpc_check_req *req, Pdp__V1__CheckRequest **out,
                      char *err, size_t err_cap) {
  if (!req) {
    pdpc__set_err(err, err_cap, "request is NULL");
    return PDPC_E_INVAL;
  }
  bool has_token = req->token && req->token[0];
  if (!has_token && pdpc__check_uid(&req->principal, "principal", err, err_cap))
    return PDPC_E_INVAL;
  if (pdpc__check_uid(&req->action, "action", err, err_cap)) return PDPC_E_INVAL;
  if (pdpc__check_uid(&req->resource, "resource", err, err_cap)) return PDPC_E_INVAL;
  Pdp__V1__CheckRequest *c = pdpc__pool_alloc(pool, sizeof *c);
  if (!c) return PDPC_E_NOMEM;
  pdp__v1__check_request__init(c);
  if (has_token) c->token = (char *)req->token;
  if (req->principal.type && req->principal.id &&
      !(c->principal = pdpc__build_uid(pool, req->principal.type, req->principal.id)))
    return PDPC_E_NOMEM;
  if (!(c->action = pdpc__build_uid(pool, req->action.type, req->action.id))) return PDPC_E_NOMEM;
  if (!(c->resource = pdpc__build_uid(pool, req->resource.type, req->resource.id)))
    return PDPC_E_NOMEM;
  c->explain = req->explain;
  int rc = pdpc__build_context(pool, req->context, "context", &c->context, err, err_cap);
  if (rc == 0)
    rc = pdpc__build_entities(pool, req->entities, req->n_entities, &c->entities, &c->n_entities,
                              err, err_cap);
  if (rc) return rc;
  *out = c;
  return 0;
}

int pdpc__pack_frame(const ProtobufCMessage *msg, uint8_t **frame, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > UINT32_MAX) return PDPC_E_INVAL;
  uint8_t *buf = malloc(4 + n);
  if (!buf) return PDPC_E_NOMEM;
  pdpc__put_be32(buf, (uint32_t)n);
  protobuf_c_message_pack(msg, buf + 4);
  *frame = buf;
  *len = 4 + n;
  return 0;
}

int pdpc_encode_check(const pdpc_check_req *req, uint64_t id, uint8_t **frame, size_t *len) {
  if (!frame || !len) return PDPC_E_INVAL;
  pdpc__pool pool = {0};
  Pdp__V1__CheckRequest *c = NULL;
  int rc = pdpc__build_check(&pool, req, &c, NULL, 0);
  if (rc == 0) {
    Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
    r.id = id;
    r.body_case = PDP__V1__REQUEST__BODY_CHECK;
    r.check = c;
    rc = pdpc__pack_frame(&r.base, frame, len);
  }
  pdpc__pool_free(&pool);
  return rc;
}

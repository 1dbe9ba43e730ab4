/* convert.c - protobuf messages (already unpacked) -> the engine's values and requests.
 *
 * Everything converted is allocated from the request's arena.  Every error names the field
 * path as a client wrote it ("check.entities[2].attrs.owner: duplicate key") so the
 * BAD_REQUEST message points at the problem.  Nesting: a record or set enclosed by k
 * other records/sets has depth k + 1; context, entity attributes and tags count as the
 * first record, and depth past max_value_depth is refused here (the wire walk in
 * wiredepth.c only protects the decoder's stack).
 */
#include "srv_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PATH_CAP 256 /* paths longer than this are cut short; they still name the field */

static bool convert_value(srv_convert *cv, const Pdp__V1__Value *in, const char *path,
                          uint32_t depth, pdpe_value *out);

static bool fail(srv_convert *cv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(srv_convert *cv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cv->err, cv->err_cap, fmt, ap);
  va_end(ap);
  return false;
}

static bool oom(srv_convert *cv, const char *path) {
  cv->overloaded = true;
  return fail(cv, "%s: request memory budget exceeded", path);
}

/* An error from the engine's builders: out of memory there is the request budget too. */
static bool engine_fail(srv_convert *cv, const char *err) {
  if (strstr(err, "out of memory")) cv->overloaded = true;
  return fail(cv, "%s", err);
}

/* n more parent links for the request's entity sets; refused past max-parent-links. */
static bool count_links(srv_convert *cv, uint64_t n, const char *path) {
  if (n > cv->max_parent_links || cv->parent_links > cv->max_parent_links - n)
    return fail(cv, "%s: more than %u parent links in this request (max-request-parent-links)",
                path, cv->max_parent_links);
  cv->parent_links += n;
  return true;
}

static bool convert_uid(srv_convert *cv, const Pdp__V1__EntityUid *in, const char *path,
                        pdpe_uid *out) {
  if (!in) return fail(cv, "%s: missing", path);
  if (!in->type || in->type[0] == '\0') return fail(cv, "%s.type: empty", path);
  if (!in->id || in->id[0] == '\0') return fail(cv, "%s.id: empty", path);
  out->type = pu_str_c(in->type);
  out->id = pu_str_c(in->id);
  return true;
}

static bool too_deep(srv_convert *cv, const char *path) {
  return fail(cv, "%s: nesting deeper than max-value-depth %u", path, cv->max_value_depth);
}

static bool convert_attrs(srv_convert *cv, Pdp__V1__Attribute *const *attrs, size_t n,
                          const char *path, uint32_t depth, pdpe_value *out) {
  if (depth + 1 > cv->max_value_depth) return too_deep(cv, path);
  if (n > UINT32_MAX) return fail(cv, "%s: too many fields", path);
  pu_str *keys = n ? pu_arena_alloc(cv->arena, n * sizeof(*keys)) : NULL;
  pdpe_value *values = n ? pu_arena_alloc(cv->arena, n * sizeof(*values)) : NULL;
  if (n && (!keys || !values)) return oom(cv, path);
  char sub[PATH_CAP];
  for (size_t i = 0; i < n; i++) {
    const Pdp__V1__Attribute *a = attrs[i];
    const char *key = a->key ? a->key : "";
    snprintf(sub, sizeof(sub), "%s.%.64s", path, key);
    if (!a->value) return fail(cv, "%s: missing value", sub);
    keys[i] = pu_str_c(key);
    if (!convert_value(cv, a->value, sub, depth + 1, &values[i])) return false;
  }
  char err[256];
  if (!pdpe_value_make_record(cv->arena, keys, values, (uint32_t)n, path, out, err, sizeof(err)))
    return engine_fail(cv, err);
  return true;
}

static bool convert_record(srv_convert *cv, const Pdp__V1__Record *in, const char *path,
                           uint32_t depth, pdpe_value *out) {
  if (!in) return convert_attrs(cv, NULL, 0, path, depth, out);
  return convert_attrs(cv, in->fields, in->n_fields, path, depth, out);
}

static bool convert_value(srv_convert *cv, const Pdp__V1__Value *in, const char *path,
                          uint32_t depth, pdpe_value *out) {
  memset(out, 0, sizeof(*out));
  switch (in->kind_case) {
  case PDP__V1__VALUE__KIND_BOOL:
    out->kind = PDPE_BOOL;
    out->u.b = in->bool_ != 0;
    return true;
  case PDP__V1__VALUE__KIND_LONG:
    out->kind = PDPE_LONG;
    out->u.l = in->long_;
    return true;
  case PDP__V1__VALUE__KIND_STRING:
    out->kind = PDPE_STRING;
    out->u.s = pu_str_c(in->string);
    return true;
  case PDP__V1__VALUE__KIND_ENTITY:
    out->kind = PDPE_ENTITY;
    return convert_uid(cv, in->entity, path, &out->u.uid);
  case PDP__V1__VALUE__KIND_SET: {
    if (depth + 1 > cv->max_value_depth) return too_deep(cv, path);
    size_t n = in->set ? in->set->n_items : 0;
    if (n > UINT32_MAX) return fail(cv, "%s: too many items", path);
    pdpe_value *items = n ? pu_arena_alloc(cv->arena, n * sizeof(*items)) : NULL;
    if (n && !items) return oom(cv, path);
    char sub[PATH_CAP];
    for (size_t i = 0; i < n; i++) {
      snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
      if (!convert_value(cv, in->set->items[i], sub, depth + 1, &items[i])) return false;
    }
    if (!pdpe_value_make_set(cv->arena, items, (uint32_t)n, out)) return oom(cv, path);
    return true;
  }
  case PDP__V1__VALUE__KIND_RECORD:
    return convert_record(cv, in->record, path, depth, out);
  case PDP__V1__VALUE__KIND_EXTENSION: {
    const Pdp__V1__ExtensionCall *x = in->extension;
    if (!x || !x->fn || x->fn[0] == '\0') return fail(cv, "%s.fn: empty", path);
    char err[256];
    if (!pdpe_value_make_ext(cv->arena, pu_str_c(x->fn), pu_str_c(x->arg), path, out, err,
                             sizeof(err)))
      return engine_fail(cv, err);
    return true;
  }
  default:
    return fail(cv, "%s: value has no kind", path);
  }
}

static bool convert_entity(srv_convert *cv, const Pdp__V1__Entity *in, const char *path,
                           pdpe_entity *out) {
  memset(out, 0, sizeof(*out));
  char sub[PATH_CAP];
  snprintf(sub, sizeof(sub), "%s.uid", path);
  if (!convert_uid(cv, in->uid, sub, &out->uid)) return false;
  snprintf(sub, sizeof(sub), "%s.attrs", path);
  if (!convert_attrs(cv, in->attrs, in->n_attrs, sub, 0, &out->attrs)) return false;
  snprintf(sub, sizeof(sub), "%s.tags", path);
  if (!convert_attrs(cv, in->tags, in->n_tags, sub, 0, &out->tags)) return false;
  if (in->n_parents > cv->max_entity_parents)
    return fail(cv, "%s.parents: %zu parents, limit %u (max-entity-parents)", path, in->n_parents,
                cv->max_entity_parents);
  if (!count_links(cv, in->n_parents, path)) return false;
  out->n_parents = (uint32_t)in->n_parents;
  if (in->n_parents) {
    out->parents = pu_arena_alloc(cv->arena, in->n_parents * sizeof(*out->parents));
    if (!out->parents) return oom(cv, path);
    for (size_t i = 0; i < in->n_parents; i++) {
      snprintf(sub, sizeof(sub), "%s.parents[%zu]", path, i);
      if (!convert_uid(cv, in->parents[i], sub, &out->parents[i])) return false;
    }
  }
  return true;
}

bool srv_convert_entities(srv_convert *cv, Pdp__V1__Entity *const *in, size_t n, const char *path,
                          pdpe_entity **out, uint32_t *out_n) {
  *out = NULL;
  *out_n = 0;
  if (n > cv->max_entities)
    return fail(cv, "%s: %zu entities, limit %u (max-request-entities)", path, n, cv->max_entities);
  if (n == 0) return true;
  pdpe_entity *items = pu_arena_alloc(cv->arena, n * sizeof(*items));
  if (!items) return oom(cv, path);
  char sub[PATH_CAP];
  for (size_t i = 0; i < n; i++) {
    snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
    if (!convert_entity(cv, in[i], sub, &items[i])) return false;
  }
  *out = items;
  *out_n = (uint32_t)n;
  return true;
}

bool srv_convert_build_entities(srv_convert *cv, pdpe_entity *items, uint32_t n, const char *path,
                                pdpe_entities **out) {
  char err[384];
  if (pdpe_entities_build(cv->arena, items, n, path, out, err, sizeof(err))) return true;
  size_t pl = strlen(path);
  if (strncmp(err, path, pl) == 0 && err[pl] == ':') return engine_fail(cv, err);
  char full[PATH_CAP + 400];
  snprintf(full, sizeof(full), "%s: %s", path, err); /* name the field on every error */
  return engine_fail(cv, full);
}

static bool convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const char *path,
                          const pdpe_entity *shared, uint32_t n_shared,
                          const pdpe_entities *shared_es, pdpe_request *out,
                          Pdp__V1__Status__Code *code);

bool srv_convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const char *path,
                       const pdpe_entity *shared, uint32_t n_shared, const pdpe_entities *shared_es,
                       pdpe_request *out, Pdp__V1__Status__Code *code) {
  memset(out, 0, sizeof(*out));
  *code = PDP__V1__STATUS__CODE__BAD_REQUEST;
  cv->overloaded = false;
  if (convert_check(cv, in, path, shared, n_shared, shared_es, out, code)) return true;
  if (cv->overloaded) *code = PDP__V1__STATUS__CODE__OVERLOADED;
  return false;
}

static bool convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const char *path,
                          const pdpe_entity *shared, uint32_t n_shared,
                          const pdpe_entities *shared_es, pdpe_request *out,
                          Pdp__V1__Status__Code *code) {
  char sub[PATH_CAP];
  bool has_token = in->token && in->token[0] != '\0';
  if (has_token && in->principal) return fail(cv, "%s: give principal or token, not both", path);
  if (has_token) {
    *code = PDP__V1__STATUS__CODE__UNIMPLEMENTED;
    return fail(cv, "%s.token: JWT principals arrive with a later release", path);
  }
  snprintf(sub, sizeof(sub), "%s.principal", path);
  if (!convert_uid(cv, in->principal, sub, &out->principal)) return false;
  snprintf(sub, sizeof(sub), "%s.action", path);
  if (!convert_uid(cv, in->action, sub, &out->action)) return false;
  snprintf(sub, sizeof(sub), "%s.resource", path);
  if (!convert_uid(cv, in->resource, sub, &out->resource)) return false;
  snprintf(sub, sizeof(sub), "%s.context", path);
  if (!convert_record(cv, in->context, sub, 0, &out->context)) return false;

  snprintf(sub, sizeof(sub), "%s.entities", path);
  if ((uint64_t)in->n_entities + n_shared > cv->max_entities)
    return fail(cv, "%s: %zu entities plus %u shared, limit %u (max-request-entities)", sub,
                in->n_entities, n_shared, cv->max_entities);
  pdpe_entity *own;
  uint32_t n_own;
  if (!srv_convert_entities(cv, in->entities, in->n_entities, sub, &own, &n_own)) return false;
  if (n_own == 0) {
    out->entities = shared_es;
    return true;
  }
  pdpe_entities *own_es;
  if (!srv_convert_build_entities(cv, own, n_own, sub, &own_es)) return false;
  if (n_shared == 0) {
    out->entities = own_es;
    return true;
  }
  /* Own entities first, then every shared entity the check did not override. */
  pdpe_entity *all = pu_arena_alloc(cv->arena, ((size_t)n_own + n_shared) * sizeof(*all));
  if (!all) return oom(cv, sub);
  memcpy(all, own, n_own * sizeof(*all));
  uint32_t n = n_own;
  uint64_t links = 0; /* every link of the merged set is built again */
  for (uint32_t i = 0; i < n_own; i++) links += own[i].n_parents;
  for (uint32_t i = 0; i < n_shared; i++)
    if (!pdpe_entities_find(own_es, shared[i].uid)) {
      all[n++] = shared[i];
      links += shared[i].n_parents;
    }
  if (!count_links(cv, links, sub)) return false;
  pdpe_entities *es;
  if (!srv_convert_build_entities(cv, all, n, sub, &es)) return false;
  out->entities = es;
  return true;
}

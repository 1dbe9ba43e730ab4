/* convert.c - protobuf messages (already unpacked) -> the engine's values and requests.
 *
 * Everything converted is allocated from the request's arena.  Every error names the field
 * path as a client wrote it ("check.entities[2].attrs.owner: duplicate key") so the
 * BAD_REQUEST message points at the problem.  The path is a chain of stack nodes passed down
 * the recursion and rendered into text only when a message names it (formatting it for every
 * value on the success path cost a fifth of a request's CPU).  Nesting: a record or set
 * enclosed by k other records/sets has depth k + 1; context, entity attributes and tags
 * count as the first record, and depth past max_value_depth is refused here (the wire walk
 * in wiredepth.c only protects the decoder's stack).
 */
#include "srv_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PATH_CAP 256 /* paths longer than this are cut short; they still name the field */
#define KEY_CAP 64   /* a record key names at most this many bytes of the path */

/* One step of a field path, on the stack of the function that takes it. */
typedef enum { CV_ROOT, CV_FIELD, CV_KEY, CV_INDEX } cv_path_kind;
typedef struct cv_path {
  const struct cv_path *parent; /* NULL only for the root */
  const char *name;             /* CV_ROOT: the caller's path; CV_FIELD/CV_KEY: the name */
  size_t index;                 /* CV_INDEX */
  cv_path_kind kind;
} cv_path;

static size_t path_put(char *buf, size_t o, const char *s, size_t n) {
  size_t room = PATH_CAP - 1 - o;
  if (n > room) n = room;
  memcpy(buf + o, s, n);
  return o + n;
}

static size_t path_write(const cv_path *p, char *buf) {
  size_t o = p->parent ? path_write(p->parent, buf) : 0;
  switch (p->kind) {
  case CV_ROOT:
    return path_put(buf, o, p->name, strlen(p->name));
  case CV_FIELD:
    o = path_put(buf, o, ".", 1);
    return path_put(buf, o, p->name, strlen(p->name));
  case CV_KEY:
    o = path_put(buf, o, ".", 1);
    return path_put(buf, o, p->name, strnlen(p->name, KEY_CAP));
  case CV_INDEX: {
    char t[32];
    int n = snprintf(t, sizeof t, "[%zu]", p->index);
    return path_put(buf, o, t, n > 0 ? (size_t)n : 0);
  }
  }
  return o;
}

/* The path as text: the root as the caller gave it, anything longer cut to PATH_CAP - 1
 * bytes (what formatting each level into a PATH_CAP buffer used to give). */
static const char *path_str(const cv_path *p, char buf[PATH_CAP]) {
  if (!p->parent) return p->name;
  buf[path_write(p, buf)] = '\0';
  return buf;
}

/* The named field below `up`, as an initializer. */
#define P_FIELD(up, nm)                                                                            \
  { .parent = (up), .name = (nm), .kind = CV_FIELD }

static bool convert_value(srv_convert *cv, const Pdp__V1__Value *in, const cv_path *path,
                          uint32_t depth, pdpe_value *out);

static bool fail(srv_convert *cv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(srv_convert *cv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cv->err, cv->err_cap, fmt, ap);
  va_end(ap);
  return false;
}

/* "<path>: <msg>" where msg is printf-formatted after the path. */
static bool fail_at(srv_convert *cv, const cv_path *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail_at(srv_convert *cv, const cv_path *path, const char *fmt, ...) {
  char pb[PATH_CAP];
  const char *ps = path_str(path, pb);
  int n = snprintf(cv->err, cv->err_cap, "%s", ps);
  size_t o = n < 0 ? 0 : (size_t)n;
  if (o < cv->err_cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cv->err + o, cv->err_cap - o, fmt, ap);
    va_end(ap);
  }
  return false;
}

static bool oom(srv_convert *cv, const cv_path *path) {
  cv->overloaded = true;
  return fail_at(cv, path, ": request memory budget exceeded");
}

/* An error from the engine's builders: out of memory there is the request budget too. */
static bool engine_fail(srv_convert *cv, const char *err) {
  if (strstr(err, "out of memory")) cv->overloaded = true;
  return fail(cv, "%s", err);
}

/* The engine's value builders were given "" for the path, so their message starts ": ...";
 * put the rendered path in front, cut where the engine's own 256-byte buffer cut it. */
static bool engine_fail_at(srv_convert *cv, const cv_path *path, const char *tail) {
  char pb[PATH_CAP], err[256];
  snprintf(err, sizeof err, "%s%s", path_str(path, pb), tail);
  return engine_fail(cv, err);
}

/* n more parent links for the request's entity sets; refused past max-parent-links. */
static bool count_links(srv_convert *cv, uint64_t n, const cv_path *path) {
  if (n > cv->max_parent_links || cv->parent_links > cv->max_parent_links - n)
    return fail_at(cv, path,
                   ": more than %u parent links in this request (max-request-parent-links)",
                   cv->max_parent_links);
  cv->parent_links += n;
  return true;
}

static bool convert_uid(srv_convert *cv, const Pdp__V1__EntityUid *in, const cv_path *path,
                        pdpe_uid *out) {
  if (!in) return fail_at(cv, path, ": missing");
  if (!in->type || in->type[0] == '\0') return fail_at(cv, path, ".type: empty");
  if (!in->id || in->id[0] == '\0') return fail_at(cv, path, ".id: empty");
  out->type = pu_str_c(in->type);
  out->id = pu_str_c(in->id);
  return true;
}

static bool too_deep(srv_convert *cv, const cv_path *path) {
  return fail_at(cv, path, ": nesting deeper than max-value-depth %u", cv->max_value_depth);
}

static bool convert_attrs(srv_convert *cv, Pdp__V1__Attribute *const *attrs, size_t n,
                          const cv_path *path, uint32_t depth, pdpe_value *out) {
  if (depth + 1 > cv->max_value_depth) return too_deep(cv, path);
  if (n > UINT32_MAX) return fail_at(cv, path, ": too many fields");
  pu_str *keys = n ? pu_arena_alloc(cv->arena, n * sizeof(*keys)) : NULL;
  pdpe_value *values = n ? pu_arena_alloc(cv->arena, n * sizeof(*values)) : NULL;
  if (n && (!keys || !values)) return oom(cv, path);
  for (size_t i = 0; i < n; i++) {
    const Pdp__V1__Attribute *a = attrs[i];
    const char *key = a->key ? a->key : "";
    cv_path sub = {.parent = path, .name = key, .kind = CV_KEY};
    if (!a->value) return fail_at(cv, &sub, ": missing value");
    keys[i] = pu_str_c(key);
    if (!convert_value(cv, a->value, &sub, depth + 1, &values[i])) return false;
  }
  char err[256];
  if (!pdpe_value_make_record(cv->arena, keys, values, (uint32_t)n, "", out, err, sizeof(err)))
    return engine_fail_at(cv, path, err);
  return true;
}

static bool convert_record(srv_convert *cv, const Pdp__V1__Record *in, const cv_path *path,
                           uint32_t depth, pdpe_value *out) {
  if (!in) return convert_attrs(cv, NULL, 0, path, depth, out);
  return convert_attrs(cv, in->fields, in->n_fields, path, depth, out);
}

static bool convert_value(srv_convert *cv, const Pdp__V1__Value *in, const cv_path *path,
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
    if (n > UINT32_MAX) return fail_at(cv, path, ": too many items");
    pdpe_value *items = n ? pu_arena_alloc(cv->arena, n * sizeof(*items)) : NULL;
    if (n && !items) return oom(cv, path);
    for (size_t i = 0; i < n; i++) {
      cv_path sub = {.parent = path, .index = i, .kind = CV_INDEX};
      if (!convert_value(cv, in->set->items[i], &sub, depth + 1, &items[i])) return false;
    }
    if (!pdpe_value_make_set(cv->arena, items, (uint32_t)n, out)) return oom(cv, path);
    return true;
  }
  case PDP__V1__VALUE__KIND_RECORD:
    return convert_record(cv, in->record, path, depth, out);
  case PDP__V1__VALUE__KIND_EXTENSION: {
    const Pdp__V1__ExtensionCall *x = in->extension;
    if (!x || !x->fn || x->fn[0] == '\0') return fail_at(cv, path, ".fn: empty");
    char err[256];
    if (!pdpe_value_make_ext(cv->arena, pu_str_c(x->fn), pu_str_c(x->arg), "", out, err,
                             sizeof(err)))
      return engine_fail_at(cv, path, err);
    return true;
  }
  default:
    return fail_at(cv, path, ": value has no kind");
  }
}

/* `Action` or `<namespace>::Action`: the types whose entities are actions. */
static bool is_action_type(pu_str t) {
  static const char suffix[] = "::Action";
  size_t n = sizeof(suffix) - 1;
  return pu_str_eq(t, PU_STR_LIT("Action")) ||
         (t.len > n && memcmp(t.ptr + t.len - n, suffix, n) == 0);
}

static bool convert_entity(srv_convert *cv, const Pdp__V1__Entity *in, const cv_path *path,
                           pdpe_entity *out) {
  memset(out, 0, sizeof(*out));
  cv_path uid = P_FIELD(path, "uid"), attrs = P_FIELD(path, "attrs"), tags = P_FIELD(path, "tags");
  if (!convert_uid(cv, in->uid, &uid, &out->uid)) return false;
  /* Actions and their groups come from the definitions and entities.json only: an action
   * sent without its parents would escape a forbid written for its group. */
  if (is_action_type(out->uid.type))
    return fail_at(cv, &uid,
                   ": type %.*s: a request may not send actions (they come from the permission "
                   "definitions and entities.json)",
                   (int)(out->uid.type.len > 64 ? 64 : out->uid.type.len), out->uid.type.ptr);
  if (!convert_attrs(cv, in->attrs, in->n_attrs, &attrs, 0, &out->attrs)) return false;
  if (!convert_attrs(cv, in->tags, in->n_tags, &tags, 0, &out->tags)) return false;
  if (in->n_parents > cv->max_entity_parents)
    return fail_at(cv, path, ".parents: %zu parents, limit %u (max-entity-parents)", in->n_parents,
                   cv->max_entity_parents);
  if (!count_links(cv, in->n_parents, path)) return false;
  out->n_parents = (uint32_t)in->n_parents;
  if (in->n_parents) {
    out->parents = pu_arena_alloc(cv->arena, in->n_parents * sizeof(*out->parents));
    if (!out->parents) return oom(cv, path);
    cv_path parents = P_FIELD(path, "parents");
    for (size_t i = 0; i < in->n_parents; i++) {
      cv_path sub = {.parent = &parents, .index = i, .kind = CV_INDEX};
      if (!convert_uid(cv, in->parents[i], &sub, &out->parents[i])) return false;
    }
  }
  return true;
}

static bool convert_entities(srv_convert *cv, Pdp__V1__Entity *const *in, size_t n,
                             const cv_path *path, pdpe_entity **out, uint32_t *out_n) {
  *out = NULL;
  *out_n = 0;
  if (n > cv->max_entities)
    return fail_at(cv, path, ": %zu entities, limit %u (max-request-entities)", n,
                   cv->max_entities);
  if (n == 0) return true;
  pdpe_entity *items = pu_arena_alloc(cv->arena, n * sizeof(*items));
  if (!items) return oom(cv, path);
  for (size_t i = 0; i < n; i++) {
    cv_path sub = {.parent = path, .index = i, .kind = CV_INDEX};
    if (!convert_entity(cv, in[i], &sub, &items[i])) return false;
  }
  *out = items;
  *out_n = (uint32_t)n;
  return true;
}

bool srv_convert_entities(srv_convert *cv, Pdp__V1__Entity *const *in, size_t n, const char *path,
                          pdpe_entity **out, uint32_t *out_n) {
  cv_path root = {.name = path, .kind = CV_ROOT};
  return convert_entities(cv, in, n, &root, out, out_n);
}

bool srv_convert_attrs(srv_convert *cv, Pdp__V1__Attribute *const *attrs, size_t n,
                       const char *path, pdpe_value *out) {
  cv_path root = {.name = path, .kind = CV_ROOT};
  cv->overloaded = false;
  return convert_attrs(cv, attrs, n, &root, 0, out);
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

static bool convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const cv_path *path,
                          const pdpe_entity *shared, uint32_t n_shared,
                          const pdpe_entities *shared_es, pdpe_request *out,
                          Pdp__V1__Status__Code *code);

bool srv_convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const char *path,
                       const pdpe_entity *shared, uint32_t n_shared, const pdpe_entities *shared_es,
                       pdpe_request *out, Pdp__V1__Status__Code *code) {
  memset(out, 0, sizeof(*out));
  *code = PDP__V1__STATUS__CODE__BAD_REQUEST;
  cv->overloaded = false;
  cv_path root = {.name = path, .kind = CV_ROOT};
  if (convert_check(cv, in, &root, shared, n_shared, shared_es, out, code)) return true;
  if (cv->overloaded) *code = PDP__V1__STATUS__CODE__OVERLOADED;
  return false;
}

static bool convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const cv_path *path,
                          const pdpe_entity *shared, uint32_t n_shared,
                          const pdpe_entities *shared_es, pdpe_request *out,
                          Pdp__V1__Status__Code *code) {
  bool has_token = in->token && in->token[0] != '\0';
  if (has_token && in->principal) return fail_at(cv, path, ": give principal or token, not both");
  if (has_token) {
    *code = PDP__V1__STATUS__CODE__UNIMPLEMENTED;
    return fail_at(cv, path, ".token: JWT principals arrive with a later release");
  }
  cv_path principal = P_FIELD(path, "principal"), action = P_FIELD(path, "action"),
          resource = P_FIELD(path, "resource"), context = P_FIELD(path, "context"),
          entities = P_FIELD(path, "entities");
  if (!convert_uid(cv, in->principal, &principal, &out->principal)) return false;
  if (!convert_uid(cv, in->action, &action, &out->action)) return false;
  if (!convert_uid(cv, in->resource, &resource, &out->resource)) return false;
  if (!convert_record(cv, in->context, &context, 0, &out->context)) return false;

  if ((uint64_t)in->n_entities + n_shared > cv->max_entities)
    return fail_at(cv, &entities, ": %zu entities plus %u shared, limit %u (max-request-entities)",
                   in->n_entities, n_shared, cv->max_entities);
  pdpe_entity *own;
  uint32_t n_own;
  if (!convert_entities(cv, in->entities, in->n_entities, &entities, &own, &n_own)) return false;
  if (n_own == 0) {
    out->entities = shared_es;
    return true;
  }
  char sub[PATH_CAP]; /* the entity-set builder takes its path as text */
  path_str(&entities, sub);
  pdpe_entities *own_es;
  if (!srv_convert_build_entities(cv, own, n_own, sub, &own_es)) return false;
  if (n_shared == 0) {
    out->entities = own_es;
    return true;
  }
  /* Own entities first, then every shared entity the check did not override. */
  pdpe_entity *all = pu_arena_alloc(cv->arena, ((size_t)n_own + n_shared) * sizeof(*all));
  if (!all) return oom(cv, &entities);
  memcpy(all, own, n_own * sizeof(*all));
  uint32_t n = n_own;
  uint64_t links = 0; /* every link of the merged set is built again */
  for (uint32_t i = 0; i < n_own; i++) links += own[i].n_parents;
  for (uint32_t i = 0; i < n_shared; i++)
    if (!pdpe_entities_find(own_es, shared[i].uid)) {
      all[n++] = shared[i];
      links += shared[i].n_parents;
    }
  if (!count_links(cv, links, &entities)) return false;
  pdpe_entities *es;
  if (!srv_convert_build_entities(cv, all, n, sub, &es)) return false;
  out->entities = es;
  return true;
}

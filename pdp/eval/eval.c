/* eval.c - the expression evaluator: one pdpl_expr -> one pdpe_value, Cedar semantics.
 *
 * Errors are Cedar's: type errors, missing attributes, missing entities, long overflow on
 * + - * and unary -, failed extension calls.  The first error stops the evaluation of the
 * policy; its message and the expression it happened at are kept in the pdpe_env, and the
 * authorizer reports the policy as erroring.  && and || short-circuit and demand booleans;
 * == between different types is false, never an error.  Values from the AST and from the
 * request are shared, not copied; only new sets and records allocate (from env->arena).
 * Recursion is bounded by the AST height (the parser caps it at PDPL_MAX_HEIGHT) plus a guard
 * here that never rejects what the parser accepts.
 */
#include "pdpe_int.h"

#include <stdarg.h>
#include <string.h>

/* The parser accepts condition trees up to PDPL_MAX_HEIGHT high, and one tree level is one
 * level of recursion here, so anything it accepts evaluates; the margin covers hand-built
 * ASTs and future wrappers.  Frames are small (well under 1 KiB), so this stays far below
 * the 8 MiB main-thread stack. */
#define EVAL_MAX_DEPTH (PDPL_MAX_HEIGHT + 64)

static bool fail(pdpe_env *env, const pdpl_expr *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(pdpe_env *env, const pdpl_expr *e, const char *fmt, ...) {
  if (!env->err_at) {
    env->err_at = e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->err, sizeof env->err, fmt, ap);
    va_end(ap);
  }
  return false;
}

static bool oom(pdpe_env *env, const pdpl_expr *e) {
  env->oom = true;
  return fail(env, e, "out of memory");
}

static bool type_err(pdpe_env *env, const pdpl_expr *e, const char *want, const pdpe_value *got) {
  return fail(env, e, "type error: expected %s, got %s", want, pdpe__kind_name(got));
}

/* Print at most 60 bytes of a string for a message. */
#define SHOW(s) (int)((s).len > 60 ? 60 : (s).len), ((s).ptr ? (s).ptr : "")

static void set_bool(pdpe_value *out, bool b) {
  *out = (pdpe_value){.kind = PDPE_BOOL, .u.b = b};
}

static const pdpe_entity *find_entity(pdpe_env *env, pdpe_uid uid) {
  return pdpe__entity_find2(env->req->entities, env->stored, uid);
}

/* `like`: literal runs must match in order, '*' matches any run.  Greedy with
 * backtracking to the most recent wildcard, which is complete for glob patterns.  Byte
 * matching equals character matching here because UTF-8 literals only match at character
 * boundaries of a valid UTF-8 subject. */
static bool like_match(const pdpl_pattern_elem *el, uint32_t n, pu_str s) {
  uint32_t i = 0;
  size_t p = 0;
  int64_t star_i = -1;
  size_t star_p = 0;
  for (;;) {
    if (i < n && el[i].wildcard) {
      star_i = i++;
      star_p = p;
      continue;
    }
    if (i < n) {
      pu_str lit = el[i].lit;
      if (lit.len <= s.len - p && (lit.len == 0 || memcmp(s.ptr + p, lit.ptr, lit.len) == 0)) {
        p += lit.len;
        i++;
        continue;
      }
    } else if (p == s.len) {
      return true;
    }
    if (star_i < 0 || star_p >= s.len) return false;
    p = ++star_p;
    i = (uint32_t)star_i + 1;
  }
}

static bool eval_in(pdpe_env *env, const pdpl_expr *e, const pdpe_value *l, const pdpe_value *r,
                    pdpe_value *out) {
  if (l->kind != PDPE_ENTITY) return type_err(env, e, "entity on the left of `in`", l);
  if (r->kind == PDPE_ENTITY) {
    int v = pdpe__entity_in(env->req->entities, env->stored, l->u.uid, r->u.uid, env->arena);
    if (v < 0) return oom(env, e);
    set_bool(out, v == 1);
    return true;
  }
  if (r->kind != PDPE_SET)
    return type_err(env, e, "entity or set of entities on the right of `in`", r);
  for (uint32_t i = 0; i < r->u.set.n; i++)
    if (r->u.set.items[i].kind != PDPE_ENTITY)
      return type_err(env, e, "set of entities on the right of `in`", &r->u.set.items[i]);
  for (uint32_t i = 0; i < r->u.set.n; i++) {
    int v = pdpe__entity_in(env->req->entities, env->stored, l->u.uid, r->u.set.items[i].u.uid,
                            env->arena);
    if (v < 0) return oom(env, e);
    if (v == 1) {
      set_bool(out, true);
      return true;
    }
  }
  set_bool(out, false);
  return true;
}

static bool eval_compare(pdpe_env *env, const pdpl_expr *e, pdpl_binop op, const pdpe_value *l,
                         const pdpe_value *r, pdpe_value *out) {
  int c;
  if (l->kind == PDPE_LONG && r->kind == PDPE_LONG) {
    c = l->u.l < r->u.l ? -1 : l->u.l > r->u.l;
  } else if (l->kind == PDPE_EXT && r->kind == PDPE_EXT && l->u.ext.kind == r->u.ext.kind &&
             (l->u.ext.kind == PDPE_EXT_DATETIME || l->u.ext.kind == PDPE_EXT_DURATION)) {
    c = pdpe__value_cmp(l, r);
  } else {
    const pdpe_value *bad = l->kind == PDPE_LONG ? r : l;
    return type_err(env, e, "long, datetime or duration operands of the same type", bad);
  }
  set_bool(out, op == PDPL_OP_LT   ? c < 0
                : op == PDPL_OP_LE ? c <= 0
                : op == PDPL_OP_GT ? c > 0
                                   : c >= 0);
  return true;
}

static bool eval_binary(pdpe_env *env, const pdpl_expr *e, pdpe_value *out, unsigned depth) {
  pdpl_binop op = e->u.binary.op;
  pdpe_value l, r;
  if (!pdpe__eval(env, e->u.binary.lhs, &l, depth + 1)) return false;
  if (op == PDPL_OP_AND || op == PDPL_OP_OR) {
    if (l.kind != PDPE_BOOL) return type_err(env, e->u.binary.lhs, "bool", &l);
    if (l.u.b == (op == PDPL_OP_OR)) {
      *out = l;
      return true;
    }
    if (!pdpe__eval(env, e->u.binary.rhs, &r, depth + 1)) return false;
    if (r.kind != PDPE_BOOL) return type_err(env, e->u.binary.rhs, "bool", &r);
    *out = r;
    return true;
  }
  if (!pdpe__eval(env, e->u.binary.rhs, &r, depth + 1)) return false;
  switch (op) {
  case PDPL_OP_EQ:
    set_bool(out, pdpe_value_eq(&l, &r));
    return true;
  case PDPL_OP_NE:
    set_bool(out, !pdpe_value_eq(&l, &r));
    return true;
  case PDPL_OP_LT:
  case PDPL_OP_LE:
  case PDPL_OP_GT:
  case PDPL_OP_GE:
    return eval_compare(env, e, op, &l, &r, out);
  case PDPL_OP_IN:
    return eval_in(env, e, &l, &r, out);
  case PDPL_OP_ADD:
  case PDPL_OP_SUB:
  case PDPL_OP_MUL: {
    if (l.kind != PDPE_LONG) return type_err(env, e, "long", &l);
    if (r.kind != PDPE_LONG) return type_err(env, e, "long", &r);
    int64_t v;
    bool of = op == PDPL_OP_ADD   ? __builtin_add_overflow(l.u.l, r.u.l, &v)
              : op == PDPL_OP_SUB ? __builtin_sub_overflow(l.u.l, r.u.l, &v)
                                  : __builtin_mul_overflow(l.u.l, r.u.l, &v);
    if (of)
      return fail(env, e, "integer overflow: %lld %c %lld", (long long)l.u.l,
                  op == PDPL_OP_ADD   ? '+'
                  : op == PDPL_OP_SUB ? '-'
                                      : '*',
                  (long long)r.u.l);
    *out = (pdpe_value){.kind = PDPE_LONG, .u.l = v};
    return true;
  }
  default:
    return fail(env, e, "unknown operator");
  }
}

static bool get_attr(pdpe_env *env, const pdpl_expr *e, const pdpe_value *t, pu_str name,
                     pdpe_value *out) {
  if (t->kind == PDPE_RECORD) {
    const pdpe_value *v = pdpe__record_get(t, name);
    if (!v) return fail(env, e, "record does not have the attribute '%.*s'", SHOW(name));
    *out = *v;
    return true;
  }
  if (t->kind == PDPE_ENTITY) {
    const pdpe_entity *ent = find_entity(env, t->u.uid);
    if (!ent)
      return fail(env, e, "entity %.*s::\"%.*s\" does not exist", SHOW(t->u.uid.type),
                  SHOW(t->u.uid.id));
    const pdpe_value *v = pdpe__record_get(&ent->attrs, name);
    if (!v)
      return fail(env, e, "entity %.*s::\"%.*s\" does not have the attribute '%.*s'",
                  SHOW(t->u.uid.type), SHOW(t->u.uid.id), SHOW(name));
    *out = *v;
    return true;
  }
  return type_err(env, e, "record or entity", t);
}

static bool has_attr(pdpe_env *env, const pdpl_expr *e, const pdpe_value *t, pu_str name,
                     pdpe_value *out) {
  if (t->kind == PDPE_RECORD) {
    set_bool(out, pdpe__record_get(t, name) != NULL);
    return true;
  }
  if (t->kind == PDPE_ENTITY) {
    const pdpe_entity *ent = find_entity(env, t->u.uid);
    set_bool(out, ent && pdpe__record_get(&ent->attrs, name) != NULL);
    return true;
  }
  return type_err(env, e, "record or entity", t);
}

static bool eval_call(pdpe_env *env, const pdpl_expr *e, pdpe_value *out, unsigned depth) {
  pdpe_value a[2];
  uint32_t n = e->u.call.n;
  pdpl_fn fn = e->u.call.fn;
  /* The parser leaves extension calls' argument counts to evaluation, as Cedar does. */
  uint32_t arity = pdpl_fn_arity(fn);
  if (n != arity || n > 2)
    return fail(env, e, "%s expects %u argument(s), got %u", pdpl_fn_name(fn), arity, n);
  for (uint32_t i = 0; i < n; i++)
    if (!pdpe__eval(env, e->u.call.args[i], &a[i], depth + 1)) return false;
  switch (fn) {
  case PDPL_FN_CONTAINS:
  case PDPL_FN_CONTAINS_ALL:
  case PDPL_FN_CONTAINS_ANY:
  case PDPL_FN_IS_EMPTY:
    if (a[0].kind != PDPE_SET) return type_err(env, e, "set", &a[0]);
    if (fn == PDPL_FN_IS_EMPTY) {
      set_bool(out, a[0].u.set.n == 0);
    } else if (fn == PDPL_FN_CONTAINS) {
      set_bool(out, pdpe__set_has(&a[0], &a[1]));
    } else {
      if (a[1].kind != PDPE_SET) return type_err(env, e, "set", &a[1]);
      bool all = true, any = false;
      for (uint32_t i = 0; i < a[1].u.set.n; i++) {
        bool has = pdpe__set_has(&a[0], &a[1].u.set.items[i]);
        all = all && has;
        any = any || has;
      }
      set_bool(out, fn == PDPL_FN_CONTAINS_ALL ? all : any);
    }
    return true;
  case PDPL_FN_GET_TAG:
  case PDPL_FN_HAS_TAG: {
    if (a[0].kind != PDPE_ENTITY) return type_err(env, e, "entity", &a[0]);
    if (a[1].kind != PDPE_STRING) return type_err(env, e, "string", &a[1]);
    const pdpe_entity *ent = find_entity(env, a[0].u.uid);
    const pdpe_value *v = ent ? pdpe__record_get(&ent->tags, a[1].u.s) : NULL;
    if (fn == PDPL_FN_HAS_TAG) {
      set_bool(out, v != NULL);
      return true;
    }
    if (!ent)
      return fail(env, e, "entity %.*s::\"%.*s\" does not exist", SHOW(a[0].u.uid.type),
                  SHOW(a[0].u.uid.id));
    if (!v)
      return fail(env, e, "entity %.*s::\"%.*s\" does not have the tag '%.*s'",
                  SHOW(a[0].u.uid.type), SHOW(a[0].u.uid.id), SHOW(a[1].u.s));
    *out = *v;
    return true;
  }
  default: {
    char msg[200];
    if (!pdpe__ext_call(fn, a, n, out, msg, sizeof msg))
      return fail(env, e, "%s: %s", pdpl_fn_name(fn), msg);
    return true;
  }
  }
}

bool pdpe__eval(pdpe_env *env, const pdpl_expr *e, pdpe_value *out, unsigned depth) {
  if (depth > EVAL_MAX_DEPTH) return fail(env, e, "expression nested too deeply");
  switch (e->kind) {
  case PDPL_E_BOOL:
    set_bool(out, e->u.lit.b);
    return true;
  case PDPL_E_LONG:
    *out = (pdpe_value){.kind = PDPE_LONG, .u.l = e->u.lit.l};
    return true;
  case PDPL_E_STRING:
    *out = (pdpe_value){.kind = PDPE_STRING, .u.s = e->u.lit.s};
    return true;
  case PDPL_E_ENTITY:
    *out = (pdpe_value){.kind = PDPE_ENTITY, .u.uid = e->u.lit.uid};
    return true;
  case PDPL_E_VAR:
    switch (e->u.var) {
    case PDPL_VAR_PRINCIPAL:
      *out = (pdpe_value){.kind = PDPE_ENTITY, .u.uid = env->req->principal};
      return true;
    case PDPL_VAR_ACTION:
      *out = (pdpe_value){.kind = PDPE_ENTITY, .u.uid = env->req->action};
      return true;
    case PDPL_VAR_RESOURCE:
      *out = (pdpe_value){.kind = PDPE_ENTITY, .u.uid = env->req->resource};
      return true;
    case PDPL_VAR_CONTEXT:
      if (env->req->context.kind == PDPE_RECORD)
        *out = env->req->context;
      else
        *out = (pdpe_value){.kind = PDPE_RECORD};
      return true;
    }
    return fail(env, e, "unknown variable");
  case PDPL_E_SLOT:
    /* Template hook: a linked policy supplies the slot values. */
    if (!env->slots) return fail(env, e, "template slot is not linked");
    *out = (pdpe_value){.kind = PDPE_ENTITY, .u.uid = env->slots[e->u.slot]};
    return true;
  case PDPL_E_NOT:
    if (!pdpe__eval(env, e->u.unary.arg, out, depth + 1)) return false;
    if (out->kind != PDPE_BOOL) return type_err(env, e, "bool", out);
    out->u.b = !out->u.b;
    return true;
  case PDPL_E_NEG:
    if (!pdpe__eval(env, e->u.unary.arg, out, depth + 1)) return false;
    if (out->kind != PDPE_LONG) return type_err(env, e, "long", out);
    if (out->u.l == INT64_MIN)
      return fail(env, e, "integer overflow: -(%lld)", (long long)out->u.l);
    out->u.l = -out->u.l;
    return true;
  case PDPL_E_BINARY:
    return eval_binary(env, e, out, depth);
  case PDPL_E_IF: {
    pdpe_value c;
    if (!pdpe__eval(env, e->u.cond.cond, &c, depth + 1)) return false;
    if (c.kind != PDPE_BOOL) return type_err(env, e->u.cond.cond, "bool", &c);
    return pdpe__eval(env, c.u.b ? e->u.cond.then_ : e->u.cond.else_, out, depth + 1);
  }
  case PDPL_E_GETATTR:
  case PDPL_E_HAS: {
    pdpe_value t;
    if (!pdpe__eval(env, e->u.attr.target, &t, depth + 1)) return false;
    return e->kind == PDPL_E_GETATTR ? get_attr(env, e, &t, e->u.attr.name, out)
                                     : has_attr(env, e, &t, e->u.attr.name, out);
  }
  case PDPL_E_LIKE: {
    pdpe_value t;
    if (!pdpe__eval(env, e->u.like.target, &t, depth + 1)) return false;
    if (t.kind != PDPE_STRING) return type_err(env, e, "string", &t);
    set_bool(out, like_match(e->u.like.elems, e->u.like.n, t.u.s));
    return true;
  }
  case PDPL_E_IS: {
    /* `x is T in y` is `x is T && x in y`: y is only evaluated when the type matches. */
    pdpe_value t;
    if (!pdpe__eval(env, e->u.is.target, &t, depth + 1)) return false;
    if (t.kind != PDPE_ENTITY) return type_err(env, e, "entity", &t);
    if (!pu_str_eq(t.u.uid.type, e->u.is.type) || !e->u.is.in) {
      set_bool(out, pu_str_eq(t.u.uid.type, e->u.is.type));
      return true;
    }
    pdpe_value r;
    if (!pdpe__eval(env, e->u.is.in, &r, depth + 1)) return false;
    return eval_in(env, e, &t, &r, out);
  }
  case PDPL_E_SET: {
    uint32_t n = e->u.list.n;
    pdpe_value *items = n ? pu_arena_alloc(env->arena, sizeof(pdpe_value) * n) : NULL;
    if (n && !items) return oom(env, e);
    for (uint32_t i = 0; i < n; i++)
      if (!pdpe__eval(env, e->u.list.items[i], &items[i], depth + 1)) return false;
    return pdpe_value_make_set(env->arena, items, n, out);
  }
  case PDPL_E_RECORD: {
    uint32_t n = e->u.record.n;
    pdpe_value *vals = n ? pu_arena_alloc(env->arena, sizeof(pdpe_value) * n) : NULL;
    if (n && !vals) return oom(env, e);
    for (uint32_t i = 0; i < n; i++)
      if (!pdpe__eval(env, e->u.record.values[i], &vals[i], depth + 1)) return false;
    char msg[160];
    if (!pdpe_value_make_record(env->arena, e->u.record.keys, vals, n, "record", out, msg,
                                sizeof msg)) {
      if (strstr(msg, "out of memory")) return oom(env, e);
      return fail(env, e, "%s", msg);
    }
    return true;
  }
  case PDPL_E_CALL:
    return eval_call(env, e, out, depth);
  }
  return fail(env, e, "unknown expression");
}

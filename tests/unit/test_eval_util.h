/* test_eval_util.h - helpers for the pdp/eval suites: build Cedar ASTs by hand (so the
 * evaluator is tested without the parser), evaluate them, and load entity JSON. */
#ifndef TEST_EVAL_UTIL_H
#define TEST_EVAL_UTIL_H

#include "../../pdp/eval/pdpe.h"
#include "../../pdp/eval/pdpe_int.h"

#include <jansson.h>

#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <stdarg.h>
#include <string.h>

static pu_arena T_arena;
static void t_setup(void) {
  pu_arena_init(&T_arena, 4096, 0);
}
static void t_teardown(void) {
  pu_arena_close(&T_arena);
}

static pdpl_expr *t_new(pdpl_expr_kind k) {
  pdpl_expr *e = pu_arena_zalloc(&T_arena, sizeof *e);
  e->kind = k;
  e->pos = (pdpl_pos){"t.cedar", 1, 1};
  return e;
}
static pdpl_expr *E_long(int64_t l) {
  pdpl_expr *e = t_new(PDPL_E_LONG);
  e->u.lit.l = l;
  return e;
}
static pdpl_expr *E_bool(bool b) {
  pdpl_expr *e = t_new(PDPL_E_BOOL);
  e->u.lit.b = b;
  return e;
}
static pdpl_expr *E_str(const char *s) {
  pdpl_expr *e = t_new(PDPL_E_STRING);
  e->u.lit.s = pu_str_c(s);
  return e;
}
static pdpe_uid U(const char *type, const char *id) {
  return (pdpe_uid){pu_str_c(type), pu_str_c(id)};
}
static pdpl_expr *E_uid(const char *type, const char *id) {
  pdpl_expr *e = t_new(PDPL_E_ENTITY);
  e->u.lit.uid = U(type, id);
  return e;
}
static pdpl_expr *E_var(pdpl_var v) {
  pdpl_expr *e = t_new(PDPL_E_VAR);
  e->u.var = v;
  return e;
}
static pdpl_expr *E_bin(pdpl_binop op, pdpl_expr *l, pdpl_expr *r) {
  pdpl_expr *e = t_new(PDPL_E_BINARY);
  e->u.binary.op = op, e->u.binary.lhs = l, e->u.binary.rhs = r;
  return e;
}
static pdpl_expr *E_un(pdpl_expr_kind k, pdpl_expr *a) {
  pdpl_expr *e = t_new(k);
  e->u.unary.arg = a;
  return e;
}
static pdpl_expr *E_if(pdpl_expr *c, pdpl_expr *t, pdpl_expr *f) {
  pdpl_expr *e = t_new(PDPL_E_IF);
  e->u.cond.cond = c, e->u.cond.then_ = t, e->u.cond.else_ = f;
  return e;
}
static pdpl_expr *E_attr(pdpl_expr_kind k, pdpl_expr *t, const char *name) {
  pdpl_expr *e = t_new(k);
  e->u.attr.target = t, e->u.attr.name = pu_str_c(name);
  return e;
}
/* `pattern` uses '*' as the wildcard (no escapes needed in tests). */
static pdpl_expr *E_like(pdpl_expr *t, const char *pattern) {
  pdpl_expr *e = t_new(PDPL_E_LIKE);
  e->u.like.target = t;
  e->u.like.elems = pu_arena_zalloc(&T_arena, sizeof(pdpl_pattern_elem) * (strlen(pattern) + 1));
  const char *p = pattern;
  while (*p) {
    pdpl_pattern_elem *el = &e->u.like.elems[e->u.like.n++];
    if (*p == '*') {
      el->wildcard = true;
      p++;
      continue;
    }
    const char *st = p;
    while (*p && *p != '*') p++;
    el->lit = (pu_str){st, (size_t)(p - st)};
  }
  return e;
}
static pdpl_expr *E_is(pdpl_expr *t, const char *type, pdpl_expr *in) {
  pdpl_expr *e = t_new(PDPL_E_IS);
  e->u.is.target = t, e->u.is.type = pu_str_c(type), e->u.is.in = in;
  return e;
}
static pdpl_expr *E_set(uint32_t n, ...) {
  pdpl_expr *e = t_new(PDPL_E_SET);
  e->u.list.items = pu_arena_alloc(&T_arena, sizeof(pdpl_expr *) * (n + 1));
  va_list ap;
  va_start(ap, n);
  for (uint32_t i = 0; i < n; i++) e->u.list.items[i] = va_arg(ap, pdpl_expr *);
  va_end(ap);
  e->u.list.n = n;
  return e;
}
/* E_rec(2, "a", E_long(1), "b", E_long(2)) */
static pdpl_expr *E_rec(uint32_t n, ...) {
  pdpl_expr *e = t_new(PDPL_E_RECORD);
  e->u.record.keys = pu_arena_alloc(&T_arena, sizeof(pu_str) * (n + 1));
  e->u.record.values = pu_arena_alloc(&T_arena, sizeof(pdpl_expr *) * (n + 1));
  va_list ap;
  va_start(ap, n);
  for (uint32_t i = 0; i < n; i++) {
    e->u.record.keys[i] = pu_str_c(va_arg(ap, const char *));
    e->u.record.values[i] = va_arg(ap, pdpl_expr *);
  }
  va_end(ap);
  e->u.record.n = n;
  return e;
}
static pdpl_expr *E_call(pdpl_fn fn, uint32_t n, ...) {
  pdpl_expr *e = t_new(PDPL_E_CALL);
  e->u.call.fn = fn;
  e->u.call.args = pu_arena_alloc(&T_arena, sizeof(pdpl_expr *) * (n + 1));
  va_list ap;
  va_start(ap, n);
  for (uint32_t i = 0; i < n; i++) e->u.call.args[i] = va_arg(ap, pdpl_expr *);
  va_end(ap);
  e->u.call.n = n;
  return e;
}

static json_t *t_json(const char *text) {
  json_error_t je;
  json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
  return j;
}

/* Entities from JSON text; NULL (and the message in err) on failure. */
static pdpe_entities *t_entities(const char *text, char *err, size_t cap) {
  json_t *j = t_json(text);
  pdpe_entities *es = NULL;
  if (!j) {
    snprintf(err, cap, "bad test JSON");
    return NULL;
  }
  if (!pdpe_entities_from_json(&T_arena, j, "test.json", &es, err, cap)) es = NULL;
  json_decref(j);
  return es;
}

static pdpe_request T_req;
static const pdpe_entities *T_stored;
static pdpe_env T_env;

static void t_request(const char *ptype, const char *pid, const char *atype, const char *aid,
                      const char *rtype, const char *rid) {
  memset(&T_req, 0, sizeof T_req);
  T_req.principal = U(ptype, pid), T_req.action = U(atype, aid), T_req.resource = U(rtype, rid);
  T_req.context = (pdpe_value){.kind = PDPE_RECORD};
}

/* Evaluate e against T_req / T_stored; false on an evaluation error (T_env.err). */
static bool t_eval(const pdpl_expr *e, pdpe_value *out) {
  memset(&T_env, 0, sizeof T_env);
  T_env.req = &T_req, T_env.stored = T_stored, T_env.arena = &T_arena;
  return pdpe__eval(&T_env, e, out, 0);
}

static bool t_eval_bool(const pdpl_expr *e, bool *b) {
  pdpe_value v;
  if (!t_eval(e, &v) || v.kind != PDPE_BOOL) return false;
  *b = v.u.b;
  return true;
}

static pdpe_value t_value(const char *json_text) {
  json_t *j = t_json(json_text);
  pdpe_value v = {.kind = PDPE_BOOL};
  char err[256];
  if (j && !pdpe_value_from_json(&T_arena, j, "v", &v, err, sizeof err))
    v = (pdpe_value){.kind = PDPE_BOOL};
  json_decref(j);
  return v;
}

#endif

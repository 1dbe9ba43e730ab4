/* parser.c - Cedar policies: annotations, effect, scope, conditions; error recovery; the
 * parser helpers that expr.c shares; pdpl_parse() and pdpl_parse_uid().
 *
 * A recursive-descent parser over the on-demand lexer with one token of lookahead.  Each
 * policy reports at most one error (the first); the parser then skips to the ';' that ends
 * the broken policy and goes on.  A ';' never occurs inside a Cedar policy except in
 * strings and comments (which the lexer skips as whole tokens), so the first ';' token is
 * the policy's end even when the broken text left brackets open.
 *
 * Every string in the AST is copied into the caller's arena; only pos.file is borrowed.
 * Scope rules follow Cedar: principal and resource take `== E`, `in E`, `is T` or
 * `is T in E` where E is an entity uid or the matching slot; action takes `== E`, `in E`
 * or `in [E, ...]` where each E is an action uid (type Action or Namespace::Action).
 */
#include "pdpl_int.h"

#include <stdio.h>
#include <string.h>

/* ---- helpers shared with expr.c ------------------------------------------------------ */

void pdpl_p_advance(pdpl_parser *p) {
  p->tok = pdpl_lex_next(&p->lx);
  if (p->tok.kind == PDPL_T_ERROR) p->failed = true; /* the lexer reported it */
}

void pdpl_p_fail(pdpl_parser *p, pdpl_pos pos, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = true;
  va_list ap;
  va_start(ap, fmt);
  pdpl_err_vadd(p->errs, pos, fmt, ap);
  va_end(ap);
}

bool pdpl_p_expected(pdpl_parser *p, const char *what) {
  if (p->tok.kind == PDPL_T_ERROR) {
    p->failed = true; /* already reported by the lexer */
    return false;
  }
  char found[96];
  pdpl_p_fail(p, p->tok.pos, "expected %s but found %s", what,
              pdpl_tok_describe(&p->tok, found, sizeof found));
  return false;
}

bool pdpl_p_expect(pdpl_parser *p, pdpl_tok_kind kind, const char *what) {
  if (p->tok.kind != kind) return pdpl_p_expected(p, what);
  pdpl_p_advance(p);
  return true;
}

bool pdpl_p_is_kw(const pdpl_parser *p, pdpl_kw kw) {
  return p->tok.kind == PDPL_T_IDENT && p->tok.kw == kw;
}

void *pdpl_p_alloc(pdpl_parser *p, size_t n) {
  void *m = pu_arena_zalloc(p->arena, n);
  if (!m) pdpl_p_fail(p, p->tok.pos, "out of memory");
  return m;
}

void *pdpl_p_grow(pdpl_parser *p, void *arr, uint32_t n, uint32_t *cap, size_t elem) {
  if (n < *cap) return arr;
  uint32_t ncap = *cap ? *cap * 2 : 4;
  if (ncap <= *cap || (size_t)ncap > SIZE_MAX / elem) {
    pdpl_p_fail(p, p->tok.pos, "out of memory");
    return NULL;
  }
  void *m = pdpl_p_alloc(p, (size_t)ncap * elem);
  if (!m) return NULL;
  if (n) memcpy(m, arr, (size_t)n * elem);
  *cap = ncap;
  return m;
}

pu_str pdpl_p_tok_str(pdpl_parser *p) {
  char *s = pu_arena_memdup(p->arena, p->tok.start, p->tok.len);
  if (!s) {
    pdpl_p_fail(p, p->tok.pos, "out of memory");
    return (pu_str){NULL, 0};
  }
  return (pu_str){s, p->tok.len};
}

static bool unescape_tok(pdpl_parser *p, bool pattern, pu_str *out, pdpl_pattern_elem **elems,
                         uint32_t *n) {
  if (p->tok.kind != PDPL_T_STRING) return pdpl_p_expected(p, "a string literal");
  char msg[200];
  size_t off = 0;
  const char *raw = p->tok.start + 1;
  if (!pdpl_unescape(p->arena, raw, p->tok.len - 2, pattern, out, elems, n, &off, msg,
                     sizeof msg)) {
    pdpl_pos at = pdpl_pos_advance(p->tok.pos, p->tok.start, off + 1);
    pdpl_p_fail(p, at, "%s", msg);
    return false;
  }
  pdpl_p_advance(p);
  return true;
}

bool pdpl_p_string(pdpl_parser *p, pu_str *out) {
  return unescape_tok(p, false, out, NULL, NULL);
}

bool pdpl_p_pattern(pdpl_parser *p, pdpl_pattern_elem **elems, uint32_t *n) {
  return unescape_tok(p, true, NULL, elems, n);
}

int pdpl_p_path(pdpl_parser *p, bool allow_uid, pu_str *name, uint32_t *n_comp, pdpl_uid *uid) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  uint32_t comps = 0;
  for (;;) {
    if (p->tok.kind != PDPL_T_IDENT) {
      pdpl_p_expected(p, comps ? (allow_uid ? "an identifier or a string after '::'"
                                            : "an identifier after '::'")
                               : "a name");
      return 0;
    }
    if (PDPL_KW_IS_RESERVED(p->tok.kw)) {
      pdpl_p_fail(p, p->tok.pos, "'%.*s' is a reserved word and cannot be part of a name",
                  (int)p->tok.len, p->tok.start);
      return 0;
    }
    size_t need = len + (comps ? 2 : 0) + p->tok.len + 1;
    if (need > cap) {
      size_t ncap = need * 2;
      char *nb = pu_arena_alloc(p->arena, ncap);
      if (!nb) {
        pdpl_p_fail(p, p->tok.pos, "out of memory");
        return 0;
      }
      if (len) memcpy(nb, buf, len);
      buf = nb;
      cap = ncap;
    }
    if (comps) {
      memcpy(buf + len, "::", 2);
      len += 2;
    }
    memcpy(buf + len, p->tok.start, p->tok.len);
    len += p->tok.len;
    buf[len] = '\0';
    comps++;
    pdpl_p_advance(p);
    if (p->tok.kind != PDPL_T_COLONCOLON) break;
    pdpl_p_advance(p);
    if (allow_uid && p->tok.kind == PDPL_T_STRING) {
      uid->type = (pu_str){buf, len};
      if (!pdpl_p_string(p, &uid->id)) return 0;
      if (n_comp) *n_comp = comps;
      return 2;
    }
  }
  *name = (pu_str){buf, len};
  if (n_comp) *n_comp = comps;
  return 1;
}

/* ---- scope ---------------------------------------------------------------------------- */

static bool type_is_reserved(pu_str type) {
  return (type.len >= 7 && memcmp(type.ptr, "__cedar", 7) == 0 &&
          (type.len == 7 || type.ptr[7] == ':'));
}

/* An entity uid (a full path ending in a string). */
static bool parse_uid(pdpl_parser *p, pdpl_uid *uid, const char *what) {
  if (p->tok.kind != PDPL_T_IDENT) return pdpl_p_expected(p, what);
  pdpl_pos at = p->tok.pos;
  pu_str name;
  int r = pdpl_p_path(p, true, &name, NULL, uid);
  if (r == 0) return false;
  if (r == 1) return pdpl_p_expected(p, "'::' and a quoted entity id");
  if (type_is_reserved(uid->type)) {
    pdpl_p_fail(p, at, "the '__cedar' namespace is reserved");
    return false;
  }
  return true;
}

static bool parse_type(pdpl_parser *p, pu_str *type) {
  if (p->tok.kind != PDPL_T_IDENT) return pdpl_p_expected(p, "an entity type after 'is'");
  pdpl_pos at = p->tok.pos;
  if (pdpl_p_path(p, false, type, NULL, NULL) != 1) return false;
  if (type_is_reserved(*type)) {
    pdpl_p_fail(p, at, "the '__cedar' namespace is reserved");
    return false;
  }
  return true;
}

static const char *slot_name(pdpl_slot s) {
  return s == PDPL_SLOT_PRINCIPAL ? "?principal" : "?resource";
}

/* After '==' or 'in' for principal/resource: a uid or the variable's own slot. */
static bool parse_scope_target(pdpl_parser *p, pdpl_scope *sc, pdpl_slot own, const char *var) {
  if (p->tok.kind == PDPL_T_SLOT) {
    if (p->tok.slot != own) {
      pdpl_p_fail(p, p->tok.pos, "'%s' cannot be used in the %s scope (use %s)",
                  slot_name(p->tok.slot), var, slot_name(own));
      return false;
    }
    sc->is_slot = true;
    sc->slot = own;
    pdpl_p_advance(p);
    return true;
  }
  char what[64];
  snprintf(what, sizeof what, "an entity uid or %s", slot_name(own));
  return parse_uid(p, &sc->uid, what);
}

static bool parse_var_scope(pdpl_parser *p, pdpl_scope *sc, pdpl_kw kw, const char *var,
                            pdpl_slot own) {
  sc->pos = p->tok.pos;
  if (!pdpl_p_is_kw(p, kw)) {
    char what[32];
    snprintf(what, sizeof what, "'%s'", var);
    return pdpl_p_expected(p, what);
  }
  pdpl_p_advance(p);
  if (p->tok.kind == PDPL_T_COLON) {
    pdpl_p_fail(p, p->tok.pos,
                "type constraints with ':' are not supported in the scope (use 'is')");
    return false;
  }
  if (pdpl_p_is_kw(p, PDPL_KW_IS)) {
    pdpl_p_advance(p);
    if (!parse_type(p, &sc->type)) return false;
    if (pdpl_p_is_kw(p, PDPL_KW_IN)) {
      pdpl_p_advance(p);
      sc->kind = PDPL_SCOPE_IS_IN;
      return parse_scope_target(p, sc, own, var);
    }
    if (p->tok.kind == PDPL_T_EQ) {
      pdpl_p_fail(p, p->tok.pos, "'is' cannot be combined with '==' in the scope");
      return false;
    }
    sc->kind = PDPL_SCOPE_IS;
    return true;
  }
  if (p->tok.kind == PDPL_T_EQ || pdpl_p_is_kw(p, PDPL_KW_IN)) {
    sc->kind = p->tok.kind == PDPL_T_EQ ? PDPL_SCOPE_EQ : PDPL_SCOPE_IN;
    pdpl_p_advance(p);
    if (sc->kind == PDPL_SCOPE_IN && p->tok.kind == PDPL_T_LBRACK) {
      pdpl_p_fail(p, p->tok.pos, "'in [...]' is allowed only for action in the scope");
      return false;
    }
    return parse_scope_target(p, sc, own, var);
  }
  sc->kind = PDPL_SCOPE_ANY;
  return true;
}

static bool is_action_type(pu_str t) {
  return (t.len == 6 && memcmp(t.ptr, "Action", 6) == 0) ||
         (t.len > 8 && memcmp(t.ptr + t.len - 8, "::Action", 8) == 0);
}

static bool parse_action_uid(pdpl_parser *p, pdpl_uid *uid) {
  if (p->tok.kind == PDPL_T_SLOT) {
    pdpl_p_fail(p, p->tok.pos, "template slots are not allowed in the action scope");
    return false;
  }
  pdpl_pos at = p->tok.pos;
  if (!parse_uid(p, uid, "an action entity uid")) return false;
  if (!is_action_type(uid->type)) {
    pdpl_p_fail(p, at,
                "expected an action uid (type Action or Namespace::Action) but found type '%.*s'",
                (int)(uid->type.len > 80 ? 80 : uid->type.len), uid->type.ptr);
    return false;
  }
  return true;
}

static bool parse_action_scope(pdpl_parser *p, pdpl_scope *sc) {
  sc->pos = p->tok.pos;
  if (!pdpl_p_is_kw(p, PDPL_KW_ACTION)) return pdpl_p_expected(p, "'action'");
  pdpl_p_advance(p);
  if (pdpl_p_is_kw(p, PDPL_KW_IS)) {
    pdpl_p_fail(p, p->tok.pos, "'is' is not allowed in the action scope");
    return false;
  }
  if (p->tok.kind == PDPL_T_COLON) {
    pdpl_p_fail(p, p->tok.pos, "type constraints with ':' are not supported in the scope");
    return false;
  }
  if (p->tok.kind == PDPL_T_EQ) {
    pdpl_p_advance(p);
    sc->kind = PDPL_SCOPE_EQ;
    return parse_action_uid(p, &sc->uid);
  }
  if (!pdpl_p_is_kw(p, PDPL_KW_IN)) {
    sc->kind = PDPL_SCOPE_ANY;
    return true;
  }
  pdpl_p_advance(p);
  if (p->tok.kind != PDPL_T_LBRACK) {
    sc->kind = PDPL_SCOPE_IN;
    return parse_action_uid(p, &sc->uid);
  }
  pdpl_p_advance(p);
  sc->kind = PDPL_SCOPE_IN_LIST;
  uint32_t cap = 0;
  while (p->tok.kind != PDPL_T_RBRACK) {
    pdpl_uid *l = pdpl_p_grow(p, sc->list, sc->n_list, &cap, sizeof(*l));
    if (!l) return false;
    sc->list = l;
    if (!parse_action_uid(p, &sc->list[sc->n_list])) return false;
    sc->n_list++;
    if (p->tok.kind == PDPL_T_COMMA)
      pdpl_p_advance(p);
    else if (p->tok.kind != PDPL_T_RBRACK)
      return pdpl_p_expected(p, "',' or ']'");
  }
  pdpl_p_advance(p);
  return true;
}

/* ---- policies ------------------------------------------------------------------------- */

static bool parse_annotations(pdpl_parser *p, pdpl_policy *pol) {
  uint32_t cap = 0;
  while (p->tok.kind == PDPL_T_AT) {
    pdpl_p_advance(p);
    /* Cedar 4 allows any identifier as an annotation key, reserved words included. */
    if (p->tok.kind != PDPL_T_IDENT) return pdpl_p_expected(p, "an annotation name after '@'");
    pdpl_pos at = p->tok.pos;
    pdpl_annotation a = {pdpl_p_tok_str(p), {"", 0}};
    if (!a.key.ptr) return false;
    pdpl_p_advance(p);
    if (p->tok.kind == PDPL_T_LPAREN) {
      pdpl_p_advance(p);
      if (!pdpl_p_string(p, &a.value)) return false;
      if (!pdpl_p_expect(p, PDPL_T_RPAREN, "')' after the annotation value")) return false;
    }
    for (uint32_t i = 0; i < pol->n_annotations; i++) {
      if (pu_str_eq(pol->annotations[i].key, a.key)) {
        pdpl_p_fail(p, at, "duplicate annotation '@%.*s'", (int)(a.key.len > 80 ? 80 : a.key.len),
                    a.key.ptr);
        return false;
      }
    }
    pdpl_annotation *arr = pdpl_p_grow(p, pol->annotations, pol->n_annotations, &cap, sizeof(*arr));
    if (!arr) return false;
    pol->annotations = arr;
    arr[pol->n_annotations++] = a;
    if (pu_str_eq_c(a.key, "id")) pol->id = a.value;
  }
  return true;
}

static bool parse_conditions(pdpl_parser *p, pdpl_policy *pol) {
  uint32_t cap = 0;
  while (pdpl_p_is_kw(p, PDPL_KW_WHEN) || pdpl_p_is_kw(p, PDPL_KW_UNLESS)) {
    bool is_when = p->tok.kw == PDPL_KW_WHEN;
    pdpl_p_advance(p);
    if (!pdpl_p_expect(p, PDPL_T_LBRACE, is_when ? "'{' after 'when'" : "'{' after 'unless'"))
      return false;
    if (p->tok.kind == PDPL_T_RBRACE) {
      pdpl_p_fail(p, p->tok.pos, "empty %s clause: expected an expression",
                  is_when ? "when" : "unless");
      return false;
    }
    pdpl_pos at = p->tok.pos;
    p->depth = 0;
    pdpl_expr *body = pdpl_p_expr(p);
    if (!body) return false;
    if (pdpl_expr_height(body, PDPL_MAX_HEIGHT) > PDPL_MAX_HEIGHT) {
      pdpl_p_fail(p, at, "expression nested too deeply (more than %d levels)", PDPL_MAX_HEIGHT);
      return false;
    }
    if (!pdpl_p_expect(p, PDPL_T_RBRACE, "'}'")) return false;
    pdpl_condition *c = pdpl_p_grow(p, pol->conditions, pol->n_conditions, &cap, sizeof(*c));
    if (!c) return false;
    pol->conditions = c;
    c[pol->n_conditions++] = (pdpl_condition){is_when, body};
  }
  return true;
}

static bool parse_policy(pdpl_parser *p, pdpl_policy *pol) {
  pol->pos = p->tok.pos;
  if (!parse_annotations(p, pol)) return false;
  if (pdpl_p_is_kw(p, PDPL_KW_PERMIT))
    pol->effect = PDPL_PERMIT;
  else if (pdpl_p_is_kw(p, PDPL_KW_FORBID))
    pol->effect = PDPL_FORBID;
  else
    return pdpl_p_expected(p, pol->n_annotations ? "'permit' or 'forbid'"
                                                 : "'permit', 'forbid' or '@'");
  pdpl_p_advance(p);
  if (!pdpl_p_expect(p, PDPL_T_LPAREN, "'('")) return false;
  if (!parse_var_scope(p, &pol->principal, PDPL_KW_PRINCIPAL, "principal", PDPL_SLOT_PRINCIPAL))
    return false;
  if (!pdpl_p_expect(p, PDPL_T_COMMA, "','")) return false;
  if (!parse_action_scope(p, &pol->action)) return false;
  if (!pdpl_p_expect(p, PDPL_T_COMMA, "','")) return false;
  if (!parse_var_scope(p, &pol->resource, PDPL_KW_RESOURCE, "resource", PDPL_SLOT_RESOURCE))
    return false;
  if (p->tok.kind == PDPL_T_COMMA) pdpl_p_advance(p); /* Cedar's grammar allows a trailing comma */
  if (!pdpl_p_expect(p, PDPL_T_RPAREN, "')'")) return false;
  pol->is_template = pol->principal.is_slot || pol->resource.is_slot;
  if (!parse_conditions(p, pol)) return false;
  if (p->tok.kind != PDPL_T_SEMI)
    return pdpl_p_expected(p, pol->n_conditions ? "'when', 'unless' or ';'"
                                                : "'when', 'unless' or ';'");
  pdpl_p_advance(p);
  return true;
}

/* Skip what is left of a broken policy: up to and including the next ';'. */
static void recover(pdpl_parser *p) {
  p->lx.quiet = true;
  while (p->tok.kind != PDPL_T_SEMI && p->tok.kind != PDPL_T_EOF) pdpl_p_advance(p);
  p->lx.quiet = false;
  if (p->tok.kind == PDPL_T_SEMI) pdpl_p_advance(p);
}

/* Capacity of an out->items array made by us: a power of two >= 4 (0 when empty). */
static uint32_t policies_cap(uint32_t n) {
  if (n == 0) return 0;
  uint32_t c = 4;
  while (c < n) c *= 2;
  return c;
}

static bool append_policy(pdpl_parser *p, pdpl_policies *out, const pdpl_policy *pol) {
  uint32_t cap = policies_cap(out->n);
  pdpl_policy *items = pdpl_p_grow(p, out->items, out->n, &cap, sizeof(*items));
  if (!items) return false;
  out->items = items;
  out->items[out->n++] = *pol;
  return true;
}

uint32_t pdpl_parse(pu_arena *arena, const char *file, const char *text, size_t len,
                    uint32_t *first_index, pdpl_policies *out, pdpl_errors *errs) {
  pdpl_errors local; /* when the caller passes no error list: count errors anyway */
  if (!errs) {
    memset(&local, 0, sizeof local);
    errs = &local;
  }
  uint32_t before = errs->n + errs->dropped;
  pdpl_parser p = {.arena = arena, .errs = errs};
  pdpl_lex_init(&p.lx, file, text, len, errs);
  pdpl_p_advance(&p);
  uint32_t index = first_index ? *first_index : 0;
  while (p.tok.kind != PDPL_T_EOF) {
    pdpl_policy pol;
    memset(&pol, 0, sizeof pol);
    p.failed = false;
    p.depth = 0;
    bool ok = parse_policy(&p, &pol) && !p.failed;
    if (ok && !pol.id.ptr) {
      char *id = pu_arena_printf(arena, "policy%u", (unsigned)index);
      if (id)
        pol.id = pu_str_c(id);
      else
        pdpl_p_fail(&p, pol.pos, "out of memory"), ok = false;
    }
    if (ok) ok = append_policy(&p, out, &pol);
    if (!ok) {
      if (!p.failed) pdpl_p_fail(&p, p.tok.pos, "invalid policy");
      recover(&p);
    }
    index++;
  }
  if (first_index) *first_index = index;
  return errs->n + errs->dropped - before;
}

bool pdpl_parse_uid(pu_arena *arena, const char *text, size_t len, pdpl_uid *out, char *err,
                    size_t err_cap) {
  pdpl_errors local;
  pdpl_errors *errs = &local;
  errs->n = errs->dropped = 0;
  pdpl_parser p = {.arena = arena, .errs = errs};
  pdpl_lex_init(&p.lx, "<uid>", text, len, errs);
  pdpl_p_advance(&p);
  pdpl_uid uid = {{NULL, 0}, {NULL, 0}};
  if (parse_uid(&p, &uid, "an entity uid like Type::\"id\"") && p.tok.kind != PDPL_T_EOF)
    pdpl_p_expected(&p, "the end of the entity uid");
  if (errs->n == 0 && !p.failed) {
    *out = uid;
    return true;
  }
  if (err && err_cap) {
    if (errs->n)
      snprintf(err, err_cap, "column %u: %s", (unsigned)errs->items[0].pos.col, errs->items[0].msg);
    else
      snprintf(err, err_cap, "invalid entity uid");
  }
  return false;
}

/* expr.c - Cedar expressions: recursive descent by precedence level.
 *
 *   Expr     ::= 'if' Expr 'then' Expr 'else' Expr | Or
 *   Or       ::= And {'||' And}
 *   And      ::= Relation {'&&' Relation}
 *   Relation ::= Add [RelOp Add] | Add 'has' (IDENT {'.' IDENT} | STR) | Add 'like' STR
 *              | Add 'is' Path ['in' Add]           (relations do not chain)
 *   Add      ::= Mult {('+' | '-') Mult}
 *   Mult     ::= Unary {'*' Unary}
 *   Unary    ::= ['!'{1,4} | '-'{1,4}] Member       (one kind of operator per run)
 *   Member   ::= Primary {'.' IDENT ['(' Args ')'] | '[' STR ']'}
 *   Primary  ::= INT | STR | true | false | Path '::' STR | var | Name '(' Args ')'
 *              | '(' Expr ')' | '[' [Exprs] ']' | '{' [Key ':' Expr {',' ...}] '}'
 *
 * This mirrors Cedar's grammar: `if` is an Expr, not a Primary, so it must be wrapped in
 * parentheses as an operand; lists allow a trailing comma.  A '-' applied directly to an
 * integer literal is folded into the literal, so -9223372036854775808 is representable.
 * Nesting is bounded by PDPL_MAX_DEPTH (checked on entry to every Expr).
 */
#include "pdpl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW(s) (int)((s).len > 80 ? 80 : (s).len), (s).ptr

static pdpl_expr *parse_add(pdpl_parser *p);
static pdpl_expr *parse_unary(pdpl_parser *p);

static pdpl_expr *mk(pdpl_parser *p, pdpl_expr_kind kind, pdpl_pos pos) {
  pdpl_expr *e = pdpl_p_alloc(p, sizeof *e);
  if (e) {
    e->kind = kind;
    e->pos = pos;
  }
  return e;
}

static pdpl_expr *mk_bin(pdpl_parser *p, pdpl_binop op, pdpl_expr *lhs, pdpl_expr *rhs) {
  if (!lhs || !rhs) return NULL;
  pdpl_expr *e = mk(p, PDPL_E_BINARY, lhs->pos);
  if (e) {
    e->u.binary.op = op;
    e->u.binary.lhs = lhs;
    e->u.binary.rhs = rhs;
  }
  return e;
}

static pdpl_expr *mk_attr(pdpl_parser *p, pdpl_expr_kind kind, pdpl_pos pos, pdpl_expr *target,
                          pu_str name) {
  pdpl_expr *e = mk(p, kind, pos);
  if (e) {
    e->u.attr.target = target;
    e->u.attr.name = name;
  }
  return e;
}

static pdpl_expr *mk_long(pdpl_parser *p, pdpl_pos pos, int64_t v) {
  pdpl_expr *e = mk(p, PDPL_E_LONG, pos);
  if (e) e->u.lit.l = v;
  return e;
}

/* An identifier that names an attribute or record key: reserved words are refused. */
static bool attr_ident(pdpl_parser *p, pu_str *out, const char *what) {
  if (p->tok.kind != PDPL_T_IDENT) return pdpl_p_expected(p, what);
  if (PDPL_KW_IS_RESERVED(p->tok.kw)) {
    pdpl_p_fail(p, p->tok.pos,
                "'%.*s' is a reserved word and cannot be an attribute name (write it as a string)",
                (int)p->tok.len, p->tok.start);
    return false;
  }
  *out = pdpl_p_tok_str(p);
  if (!out->ptr) return false;
  pdpl_p_advance(p);
  return true;
}

/* Arguments after '(' (already consumed) up to ')'.  `first` (a method's receiver) becomes
 * args[0] when not NULL. */
static bool parse_args(pdpl_parser *p, pdpl_expr *first, pdpl_expr ***args, uint32_t *n) {
  uint32_t cap = 0;
  *args = NULL;
  *n = 0;
  if (first) {
    pdpl_expr **a = pdpl_p_grow(p, *args, *n, &cap, sizeof(*a));
    if (!a) return false;
    *args = a;
    a[(*n)++] = first;
  }
  while (p->tok.kind != PDPL_T_RPAREN) {
    pdpl_expr *e = pdpl_p_expr(p);
    if (!e) return false;
    pdpl_expr **a = pdpl_p_grow(p, *args, *n, &cap, sizeof(*a));
    if (!a) return false;
    *args = a;
    a[(*n)++] = e;
    if (p->tok.kind == PDPL_T_COMMA)
      pdpl_p_advance(p);
    else if (p->tok.kind != PDPL_T_RPAREN)
      return pdpl_p_expected(p, "',' or ')'");
  }
  pdpl_p_advance(p);
  return true;
}

/* A call after its '(' (consumed); errors about the count point at the name (name_at). */
static pdpl_expr *mk_call(pdpl_parser *p, pdpl_pos pos, pdpl_pos name_at, const pdpl_fn_info *fi,
                          pdpl_expr *recv) {
  pdpl_expr *e = mk(p, PDPL_E_CALL, pos);
  if (!e) return NULL;
  e->u.call.fn = fi->fn;
  if (!parse_args(p, recv, &e->u.call.args, &e->u.call.n)) return NULL;
  uint32_t given = e->u.call.n - (recv ? 1 : 0);
  /* Cedar checks the count of the built-in set and tag methods when parsing; extension
   * calls with a wrong count are evaluation errors. */
  if (fi->fn <= PDPL_FN_HAS_TAG && given != fi->argc) {
    pdpl_p_fail(p, name_at, "'%s' takes %u argument%s but %u %s given", fi->name, fi->argc,
                fi->argc == 1 ? "" : "s", given, given == 1 ? "was" : "were");
    return NULL;
  }
  return e;
}

/* ---- primaries ------------------------------------------------------------------------ */

static pdpl_expr *int_literal(pdpl_parser *p) {
  pdpl_tok t = p->tok;
  if (t.num_overflow || t.num > (uint64_t)INT64_MAX) {
    pdpl_p_fail(p, t.pos, "integer literal out of range: %.*s", (int)(t.len > 40 ? 40 : t.len),
                t.start);
    return NULL;
  }
  pdpl_p_advance(p);
  return mk_long(p, t.pos, (int64_t)t.num);
}

static pdpl_expr *parse_set(pdpl_parser *p) {
  pdpl_expr *e = mk(p, PDPL_E_SET, p->tok.pos);
  if (!e) return NULL;
  pdpl_p_advance(p);
  uint32_t cap = 0;
  while (p->tok.kind != PDPL_T_RBRACK) {
    pdpl_expr *item = pdpl_p_expr(p);
    if (!item) return NULL;
    pdpl_expr **items = pdpl_p_grow(p, e->u.list.items, e->u.list.n, &cap, sizeof(*items));
    if (!items) return NULL;
    e->u.list.items = items;
    items[e->u.list.n++] = item;
    if (p->tok.kind == PDPL_T_COMMA)
      pdpl_p_advance(p);
    else if (p->tok.kind != PDPL_T_RBRACK)
      return pdpl_p_expected(p, "',' or ']'"), NULL;
  }
  pdpl_p_advance(p);
  return e;
}

typedef struct key_ref {
  pu_str key;
  pdpl_pos pos;
  uint32_t index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  int c = pu_str_cmp(x->key, y->key);
  return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}

static pdpl_expr *parse_record(pdpl_parser *p) {
  pdpl_expr *e = mk(p, PDPL_E_RECORD, p->tok.pos);
  if (!e) return NULL;
  pdpl_p_advance(p);
  uint32_t cap = 0, kcap = 0, pcap = 0;
  key_ref *refs = NULL;
  while (p->tok.kind != PDPL_T_RBRACE) {
    pdpl_pos at = p->tok.pos;
    pu_str key;
    if (p->tok.kind == PDPL_T_STRING) {
      if (!pdpl_p_string(p, &key)) return NULL;
    } else if (!attr_ident(p, &key, "a record key (an identifier or a string)")) {
      return NULL;
    }
    if (!pdpl_p_expect(p, PDPL_T_COLON, "':' after the record key")) return NULL;
    pdpl_expr *v = pdpl_p_expr(p);
    if (!v) return NULL;
    uint32_t n = e->u.record.n;
    pdpl_expr **vals = pdpl_p_grow(p, e->u.record.values, n, &cap, sizeof(*vals));
    pu_str *keys = vals ? pdpl_p_grow(p, e->u.record.keys, n, &kcap, sizeof(*keys)) : NULL;
    key_ref *r = keys ? pdpl_p_grow(p, refs, n, &pcap, sizeof(*r)) : NULL;
    if (!r) return NULL;
    e->u.record.values = vals;
    e->u.record.keys = keys;
    refs = r;
    vals[n] = v;
    keys[n] = key;
    refs[n] = (key_ref){key, at, n};
    e->u.record.n = n + 1;
    if (p->tok.kind == PDPL_T_COMMA)
      pdpl_p_advance(p);
    else if (p->tok.kind != PDPL_T_RBRACE)
      return pdpl_p_expected(p, "',' or '}'"), NULL;
  }
  pdpl_p_advance(p);
  /* Duplicate keys: sort (key, source index) and compare neighbours; report the later one. */
  if (e->u.record.n > 1) {
    qsort(refs, e->u.record.n, sizeof(*refs), key_ref_cmp);
    for (uint32_t i = 1; i < e->u.record.n; i++) {
      if (pu_str_eq(refs[i - 1].key, refs[i].key)) {
        pdpl_p_fail(p, refs[i].pos, "duplicate key '%.*s' in record literal", SHOW(refs[i].key));
        return NULL;
      }
    }
  }
  return e;
}

/* A primary that starts with an identifier: literal, variable, entity uid or call. */
static pdpl_expr *parse_name_primary(pdpl_parser *p) {
  pdpl_tok first = p->tok;
  switch (first.kw) {
  case PDPL_KW_TRUE:
  case PDPL_KW_FALSE: {
    pdpl_expr *e = mk(p, PDPL_E_BOOL, first.pos);
    if (e) e->u.lit.b = first.kw == PDPL_KW_TRUE;
    pdpl_p_advance(p);
    return e;
  }
  case PDPL_KW_IF:
    pdpl_p_fail(p, first.pos,
                "expected an operand but found 'if' (wrap if-then-else in parentheses)");
    return NULL;
  default:
    if (PDPL_KW_IS_RESERVED(first.kw)) return pdpl_p_expected(p, "an expression"), NULL;
  }
  pu_str name;
  uint32_t n_comp = 0;
  pdpl_uid uid;
  int r = pdpl_p_path(p, true, &name, &n_comp, &uid);
  if (r == 0) return NULL;
  if (r == 2) {
    if (uid.type.len >= 7 && memcmp(uid.type.ptr, "__cedar", 7) == 0 &&
        (uid.type.len == 7 || uid.type.ptr[7] == ':')) {
      pdpl_p_fail(p, first.pos, "the '__cedar' namespace is reserved");
      return NULL;
    }
    pdpl_expr *e = mk(p, PDPL_E_ENTITY, first.pos);
    if (e) e->u.lit.uid = uid;
    return e;
  }
  if (p->tok.kind == PDPL_T_LPAREN) {
    const pdpl_fn_info *fi = n_comp == 1 ? pdpl_fn_lookup(name.ptr, name.len) : NULL;
    if (!fi) {
      pdpl_p_fail(p, first.pos, "unknown function '%.*s'", SHOW(name));
      return NULL;
    }
    if (fi->method) {
      pdpl_p_fail(p, first.pos, "'%s' is a method, not a function (write x.%s(...))", fi->name,
                  fi->name);
      return NULL;
    }
    pdpl_p_advance(p);
    return mk_call(p, first.pos, first.pos, fi, NULL);
  }
  if (n_comp == 1) {
    pdpl_var v;
    switch (first.kw) {
    case PDPL_KW_PRINCIPAL:
      v = PDPL_VAR_PRINCIPAL;
      break;
    case PDPL_KW_ACTION:
      v = PDPL_VAR_ACTION;
      break;
    case PDPL_KW_RESOURCE:
      v = PDPL_VAR_RESOURCE;
      break;
    case PDPL_KW_CONTEXT:
      v = PDPL_VAR_CONTEXT;
      break;
    default:
      pdpl_p_fail(p, first.pos,
                  "unknown variable '%.*s' (expected principal, action, resource or context)",
                  SHOW(name));
      return NULL;
    }
    pdpl_expr *e = mk(p, PDPL_E_VAR, first.pos);
    if (e) e->u.var = v;
    return e;
  }
  pdpl_p_fail(p, first.pos,
              "'%.*s' is not an expression (an entity uid needs a quoted id: %.*s::\"id\")",
              SHOW(name), SHOW(name));
  return NULL;
}

static pdpl_expr *parse_primary(pdpl_parser *p) {
  switch (p->tok.kind) {
  case PDPL_T_INT:
    return int_literal(p);
  case PDPL_T_STRING: {
    pdpl_expr *e = mk(p, PDPL_E_STRING, p->tok.pos);
    if (!e || !pdpl_p_string(p, &e->u.lit.s)) return NULL;
    return e;
  }
  case PDPL_T_SLOT:
    pdpl_p_fail(p, p->tok.pos, "template slot '%s' may appear only in the policy scope",
                p->tok.slot == PDPL_SLOT_PRINCIPAL ? "?principal" : "?resource");
    return NULL;
  case PDPL_T_LPAREN: {
    pdpl_p_advance(p);
    pdpl_expr *e = pdpl_p_expr(p);
    if (!e || !pdpl_p_expect(p, PDPL_T_RPAREN, "')'")) return NULL;
    return e;
  }
  case PDPL_T_LBRACK:
    return parse_set(p);
  case PDPL_T_LBRACE:
    return parse_record(p);
  case PDPL_T_IDENT:
    return parse_name_primary(p);
  default:
    return pdpl_p_expected(p, "an expression"), NULL;
  }
}

/* Member accesses after a primary: .attr, .method(args), ["attr"]. */
static pdpl_expr *parse_access(pdpl_parser *p, pdpl_expr *e) {
  while (e) {
    if (p->tok.kind == PDPL_T_DOT) {
      pdpl_p_advance(p);
      if (p->tok.kind != PDPL_T_IDENT)
        return pdpl_p_expected(p, "an attribute or method name after '.'"), NULL;
      pdpl_tok name = p->tok;
      pdpl_p_advance(p);
      if (p->tok.kind == PDPL_T_LPAREN) {
        const pdpl_fn_info *fi = pdpl_fn_lookup(name.start, name.len);
        if (!fi || !fi->method) {
          pdpl_p_fail(p, name.pos,
                      fi ? "'%.*s' is a function, not a method" : "unknown method '%.*s'",
                      (int)(name.len > 80 ? 80 : name.len), name.start);
          return NULL;
        }
        pdpl_p_advance(p);
        e = mk_call(p, e->pos, name.pos, fi, e);
        continue;
      }
      if (PDPL_KW_IS_RESERVED(name.kw)) {
        pdpl_p_fail(p, name.pos,
                    "'%.*s' is a reserved word and cannot be an attribute name (write [\"%.*s\"])",
                    (int)name.len, name.start, (int)name.len, name.start);
        return NULL;
      }
      char *s = pu_arena_memdup(p->arena, name.start, name.len);
      if (!s) return pdpl_p_fail(p, name.pos, "out of memory"), NULL;
      e = mk_attr(p, PDPL_E_GETATTR, e->pos, e, (pu_str){s, name.len});
    } else if (p->tok.kind == PDPL_T_LBRACK) {
      pdpl_p_advance(p);
      pu_str key;
      if (p->tok.kind != PDPL_T_STRING)
        return pdpl_p_expected(p, "a string literal attribute name in '[...]'"), NULL;
      if (!pdpl_p_string(p, &key) || !pdpl_p_expect(p, PDPL_T_RBRACK, "']'")) return NULL;
      e = mk_attr(p, PDPL_E_GETATTR, e->pos, e, key);
    } else {
      return e;
    }
  }
  return NULL;
}

/* ---- operators ------------------------------------------------------------------------ */

static pdpl_expr *parse_unary(pdpl_parser *p) {
  if (p->tok.kind != PDPL_T_BANG && p->tok.kind != PDPL_T_MINUS)
    return parse_access(p, parse_primary(p));
  pdpl_tok_kind kind = p->tok.kind;
  pdpl_pos pos = p->tok.pos;
  uint32_t count = 0;
  while (p->tok.kind == kind) {
    count++;
    pdpl_p_advance(p);
  }
  if (count > 4) {
    pdpl_p_fail(p, pos, "too many '%c' operators in a row (at most 4)",
                kind == PDPL_T_BANG ? '!' : '-');
    return NULL;
  }
  pdpl_expr *e;
  if (kind == PDPL_T_MINUS && p->tok.kind == PDPL_T_INT) {
    pdpl_tok lit = p->tok;
    pdpl_p_advance(p);
    if (p->tok.kind == PDPL_T_DOT || p->tok.kind == PDPL_T_LBRACK) {
      /* `-5.attr` negates the access, as in Cedar: no folding. */
      if (lit.num_overflow || lit.num > (uint64_t)INT64_MAX) {
        pdpl_p_fail(p, lit.pos, "integer literal out of range: %.*s",
                    (int)(lit.len > 40 ? 40 : lit.len), lit.start);
        return NULL;
      }
      e = parse_access(p, mk_long(p, lit.pos, (int64_t)lit.num));
    } else {
      if (lit.num_overflow || lit.num > (uint64_t)INT64_MAX + 1) {
        pdpl_p_fail(p, lit.pos, "integer literal out of range: -%.*s",
                    (int)(lit.len > 40 ? 40 : lit.len), lit.start);
        return NULL;
      }
      int64_t v = lit.num == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)lit.num;
      e = mk_long(p, pos, v);
      count--;
    }
  } else {
    e = parse_access(p, parse_primary(p));
  }
  while (e && count-- > 0) {
    pdpl_expr *u = mk(p, kind == PDPL_T_BANG ? PDPL_E_NOT : PDPL_E_NEG, pos);
    if (u) u->u.unary.arg = e;
    e = u;
  }
  return e;
}

static pdpl_expr *parse_mul(pdpl_parser *p) {
  pdpl_expr *e = parse_unary(p);
  while (e) {
    if (p->tok.kind == PDPL_T_SLASH || p->tok.kind == PDPL_T_PERCENT) {
      pdpl_p_fail(p, p->tok.pos, "'%c' is not supported: Cedar has no division or remainder",
                  p->tok.kind == PDPL_T_SLASH ? '/' : '%');
      return NULL;
    }
    if (p->tok.kind != PDPL_T_STAR) return e;
    pdpl_p_advance(p);
    e = mk_bin(p, PDPL_OP_MUL, e, parse_unary(p));
  }
  return NULL;
}

static pdpl_expr *parse_add(pdpl_parser *p) {
  pdpl_expr *e = parse_mul(p);
  while (e && (p->tok.kind == PDPL_T_PLUS || p->tok.kind == PDPL_T_MINUS)) {
    pdpl_binop op = p->tok.kind == PDPL_T_PLUS ? PDPL_OP_ADD : PDPL_OP_SUB;
    pdpl_p_advance(p);
    e = mk_bin(p, op, e, parse_mul(p));
  }
  return e;
}

static bool rel_op(const pdpl_parser *p, pdpl_binop *op) {
  switch (p->tok.kind) {
  case PDPL_T_EQ:
    *op = PDPL_OP_EQ;
    return true;
  case PDPL_T_NE:
    *op = PDPL_OP_NE;
    return true;
  case PDPL_T_LT:
    *op = PDPL_OP_LT;
    return true;
  case PDPL_T_LE:
    *op = PDPL_OP_LE;
    return true;
  case PDPL_T_GT:
    *op = PDPL_OP_GT;
    return true;
  case PDPL_T_GE:
    *op = PDPL_OP_GE;
    return true;
  case PDPL_T_IDENT:
    if (p->tok.kw == PDPL_KW_IN) {
      *op = PDPL_OP_IN;
      return true;
    }
    return false;
  default:
    return false;
  }
}

static bool at_relation(const pdpl_parser *p) {
  pdpl_binop op;
  return rel_op(p, &op) || pdpl_p_is_kw(p, PDPL_KW_HAS) || pdpl_p_is_kw(p, PDPL_KW_LIKE) ||
         pdpl_p_is_kw(p, PDPL_KW_IS) || p->tok.kind == PDPL_T_ASSIGN;
}

/* `target has a.b.c` -> (target has a) && (target.a has b) && (target.a.b has c); the
 * access chain is shared between the conjuncts (the AST is read-only). */
static pdpl_expr *parse_has(pdpl_parser *p, pdpl_expr *target) {
  pdpl_pos pos = target->pos;
  pdpl_p_advance(p);
  pu_str name;
  if (p->tok.kind == PDPL_T_STRING) {
    if (!pdpl_p_string(p, &name)) return NULL;
    return mk_attr(p, PDPL_E_HAS, pos, target, name);
  }
  if (!attr_ident(p, &name, "an attribute name or a string after 'has'")) return NULL;
  pdpl_expr *e = mk_attr(p, PDPL_E_HAS, pos, target, name);
  pdpl_expr *cur = target;
  while (e && p->tok.kind == PDPL_T_DOT) {
    pdpl_p_advance(p);
    pu_str next;
    if (!attr_ident(p, &next, "an attribute name after '.'")) return NULL;
    cur = mk_attr(p, PDPL_E_GETATTR, pos, cur, name);
    if (!cur) return NULL;
    e = mk_bin(p, PDPL_OP_AND, e, mk_attr(p, PDPL_E_HAS, pos, cur, next));
    name = next;
  }
  return e;
}

static pdpl_expr *parse_relation(pdpl_parser *p) {
  pdpl_expr *lhs = parse_add(p);
  if (!lhs) return NULL;
  pdpl_tok op_tok = p->tok;
  pdpl_binop op;
  pdpl_expr *e;
  if (p->tok.kind == PDPL_T_ASSIGN) {
    pdpl_p_fail(p, p->tok.pos, "'=' is not an operator (did you mean '=='?)");
    return NULL;
  } else if (rel_op(p, &op)) {
    pdpl_p_advance(p);
    e = mk_bin(p, op, lhs, parse_add(p));
  } else if (pdpl_p_is_kw(p, PDPL_KW_HAS)) {
    e = parse_has(p, lhs);
  } else if (pdpl_p_is_kw(p, PDPL_KW_LIKE)) {
    pdpl_p_advance(p);
    e = mk(p, PDPL_E_LIKE, lhs->pos);
    if (!e) return NULL;
    e->u.like.target = lhs;
    if (p->tok.kind != PDPL_T_STRING)
      return pdpl_p_expected(p, "a string pattern after 'like'"), NULL;
    if (!pdpl_p_pattern(p, &e->u.like.elems, &e->u.like.n)) return NULL;
  } else if (pdpl_p_is_kw(p, PDPL_KW_IS)) {
    pdpl_p_advance(p);
    e = mk(p, PDPL_E_IS, lhs->pos);
    if (!e) return NULL;
    e->u.is.target = lhs;
    if (p->tok.kind != PDPL_T_IDENT) return pdpl_p_expected(p, "an entity type after 'is'"), NULL;
    if (pdpl_p_path(p, false, &e->u.is.type, NULL, NULL) != 1) return NULL;
    if (pdpl_p_is_kw(p, PDPL_KW_IN)) {
      pdpl_p_advance(p);
      e->u.is.in = parse_add(p);
      if (!e->u.is.in) return NULL;
    }
  } else {
    return lhs;
  }
  if (e && at_relation(p)) {
    char a[40], b[40];
    pdpl_tok_describe(&op_tok, a, sizeof a);
    pdpl_tok_describe(&p->tok, b, sizeof b);
    if (op_tok.len == p->tok.len && memcmp(op_tok.start, p->tok.start, op_tok.len) == 0)
      pdpl_p_fail(p, p->tok.pos, "%s cannot be chained: add parentheses", a);
    else
      pdpl_p_fail(p, p->tok.pos, "%s cannot be chained with %s: add parentheses", a, b);
    return NULL;
  }
  return e;
}

static pdpl_expr *parse_and(pdpl_parser *p) {
  pdpl_expr *e = parse_relation(p);
  while (e && p->tok.kind == PDPL_T_AND) {
    pdpl_p_advance(p);
    e = mk_bin(p, PDPL_OP_AND, e, parse_relation(p));
  }
  return e;
}

static pdpl_expr *parse_or(pdpl_parser *p) {
  pdpl_expr *e = parse_and(p);
  while (e && p->tok.kind == PDPL_T_OR) {
    pdpl_p_advance(p);
    e = mk_bin(p, PDPL_OP_OR, e, parse_and(p));
  }
  return e;
}

static pdpl_expr *parse_if(pdpl_parser *p) {
  pdpl_expr *e = mk(p, PDPL_E_IF, p->tok.pos);
  if (!e) return NULL;
  pdpl_p_advance(p);
  if (!(e->u.cond.cond = pdpl_p_expr(p))) return NULL;
  if (!pdpl_p_is_kw(p, PDPL_KW_THEN)) return pdpl_p_expected(p, "'then'"), NULL;
  pdpl_p_advance(p);
  if (!(e->u.cond.then_ = pdpl_p_expr(p))) return NULL;
  if (!pdpl_p_is_kw(p, PDPL_KW_ELSE)) return pdpl_p_expected(p, "'else'"), NULL;
  pdpl_p_advance(p);
  if (!(e->u.cond.else_ = pdpl_p_expr(p))) return NULL;
  return e;
}

pdpl_expr *pdpl_p_expr(pdpl_parser *p) {
  if (p->depth >= PDPL_MAX_DEPTH) {
    pdpl_p_fail(p, p->tok.pos, "expression nested too deeply (more than %d levels)",
                PDPL_MAX_DEPTH);
    return NULL;
  }
  p->depth++;
  pdpl_expr *e = pdpl_p_is_kw(p, PDPL_KW_IF) ? parse_if(p) : parse_or(p);
  p->depth--;
  if (!e && !p->failed) pdpl_p_fail(p, p->tok.pos, "invalid expression");
  return e;
}

uint32_t pdpl_expr_height(const pdpl_expr *e, uint32_t limit) {
  if (!e) return 0;
  if (limit == 0) return 1;
  uint32_t h = 0, c;
#define KID(x) (c = pdpl_expr_height((x), limit - 1), h = c > h ? c : h)
  switch (e->kind) {
  case PDPL_E_NOT:
  case PDPL_E_NEG:
    KID(e->u.unary.arg);
    break;
  case PDPL_E_BINARY:
    KID(e->u.binary.lhs);
    KID(e->u.binary.rhs);
    break;
  case PDPL_E_IF:
    KID(e->u.cond.cond);
    KID(e->u.cond.then_);
    KID(e->u.cond.else_);
    break;
  case PDPL_E_GETATTR:
  case PDPL_E_HAS:
    KID(e->u.attr.target);
    break;
  case PDPL_E_LIKE:
    KID(e->u.like.target);
    break;
  case PDPL_E_IS:
    KID(e->u.is.target);
    KID(e->u.is.in);
    break;
  case PDPL_E_SET:
    for (uint32_t i = 0; i < e->u.list.n && h < limit; i++) KID(e->u.list.items[i]);
    break;
  case PDPL_E_RECORD:
    for (uint32_t i = 0; i < e->u.record.n && h < limit; i++) KID(e->u.record.values[i]);
    break;
  case PDPL_E_CALL:
    for (uint32_t i = 0; i < e->u.call.n && h < limit; i++) KID(e->u.call.args[i]);
    break;
  default:
    break;
  }
#undef KID
  return h + 1;
}

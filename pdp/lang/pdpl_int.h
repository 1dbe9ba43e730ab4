/* pdpl_int.h - internals shared by the files of pdp/lang (lexer, parser, formatting).
 *
 * Only the .c files of pdp/lang include this.  The lexer turns bytes into tokens on demand (one
 * token at a time, no token array), tracking 1-based line and byte column.  Strings are not
 * unescaped by the lexer: the parser unescapes them according to use (a plain string, or a
 * `like` pattern where `\*` is a literal star), through pdpl_unescape().
 */
#ifndef PDP_LANG_PDPL_INT_H
#define PDP_LANG_PDPL_INT_H

#include "pdpl.h"

#include <stdarg.h>

typedef enum pdpl_tok_kind {
  PDPL_T_EOF,
  PDPL_T_ERROR,  /* a lexical error, already reported by the lexer */
  PDPL_T_IDENT,  /* identifiers and keywords (see pdpl_tok.kw) */
  PDPL_T_INT,    /* unsigned decimal literal (see num, num_overflow) */
  PDPL_T_STRING, /* "..." still escaped; start/len include the quotes */
  PDPL_T_SLOT,   /* ?principal or ?resource (other ?names are lexical errors) */
  PDPL_T_AT,
  PDPL_T_DOT,
  PDPL_T_COMMA,
  PDPL_T_SEMI,
  PDPL_T_COLON,
  PDPL_T_COLONCOLON,
  PDPL_T_LPAREN,
  PDPL_T_RPAREN,
  PDPL_T_LBRACE,
  PDPL_T_RBRACE,
  PDPL_T_LBRACK,
  PDPL_T_RBRACK,
  PDPL_T_EQ,
  PDPL_T_NE,
  PDPL_T_LT,
  PDPL_T_LE,
  PDPL_T_GT,
  PDPL_T_GE,
  PDPL_T_OR,
  PDPL_T_AND,
  PDPL_T_PLUS,
  PDPL_T_MINUS,
  PDPL_T_STAR,
  PDPL_T_SLASH,
  PDPL_T_PERCENT,
  PDPL_T_BANG,
  PDPL_T_ASSIGN, /* a lone '=': never valid, lexed to give a helpful message */
} pdpl_tok_kind;

/* Keywords recognised among identifiers.  The "reserved" ones (true .. has) cannot name
 * variables, attributes, record keys, entity types or functions. */
typedef enum pdpl_kw {
  PDPL_KW_NONE,
  PDPL_KW_TRUE,
  PDPL_KW_FALSE,
  PDPL_KW_IF,
  PDPL_KW_THEN,
  PDPL_KW_ELSE,
  PDPL_KW_IN,
  PDPL_KW_IS,
  PDPL_KW_LIKE,
  PDPL_KW_HAS, /* reserved: <= PDPL_KW_HAS */
  PDPL_KW_PERMIT,
  PDPL_KW_FORBID,
  PDPL_KW_WHEN,
  PDPL_KW_UNLESS,
  PDPL_KW_PRINCIPAL,
  PDPL_KW_ACTION,
  PDPL_KW_RESOURCE,
  PDPL_KW_CONTEXT,
} pdpl_kw;

#define PDPL_KW_IS_RESERVED(k) ((k) != PDPL_KW_NONE && (k) <= PDPL_KW_HAS)

typedef struct pdpl_tok {
  pdpl_tok_kind kind;
  pdpl_kw kw;        /* PDPL_T_IDENT only */
  pdpl_pos pos;      /* first byte of the token */
  const char *start; /* the token's bytes in the source */
  size_t len;
  uint64_t num;      /* PDPL_T_INT: the value when !num_overflow */
  bool num_overflow; /* PDPL_T_INT: does not fit in 64 bits */
  pdpl_slot slot;    /* PDPL_T_SLOT */
} pdpl_tok;

typedef struct pdpl_lexer {
  const char *file;
  const char *src;
  size_t len;
  size_t off;         /* next byte to read */
  uint32_t line, col; /* position of src[off] */
  pdpl_errors *errs;
  uint32_t n_errs; /* errors this lexer reported (recorded or dropped) */
  bool quiet;      /* while skipping a broken policy: report only errors that swallow
                      the rest of the input (unterminated strings) */
} pdpl_lexer;

void pdpl_lex_init(pdpl_lexer *lx, const char *file, const char *src, size_t len,
                   pdpl_errors *errs);
pdpl_tok pdpl_lex_next(pdpl_lexer *lx);

/* Describe a token for "found X" parts of messages: 'foo', '&&', "string \"ab...\"",
 * "end of input".  Writes into buf and returns it. */
const char *pdpl_tok_describe(const pdpl_tok *t, char *buf, size_t cap);

/* Record an error (or count it as dropped past PDPL_MAX_ERRORS). */
void pdpl_err_add(pdpl_errors *errs, pdpl_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pdpl_err_vadd(pdpl_errors *errs, pdpl_pos pos, const char *fmt, va_list ap);

/* Position of byte `off` inside the token starting at `tok_pos` with bytes `start`. */
pdpl_pos pdpl_pos_advance(pdpl_pos tok_pos, const char *start, size_t off);

/* Unescape the inside of a string literal (raw bytes between the quotes) with Cedar's
 * escapes.  With `pattern` false, fills *out (arena memory).  With `pattern` true, fills
 * *elems and *n_elems with literal runs and wildcards (unescaped '*' = wildcard, `\*` = a
 * literal star).  On error returns false with the offset (into raw) of the offending byte
 * in *err_off and a message in msg (no arena memory is needed for the message); an
 * allocation failure gives err_off = 0 and "out of memory". */
bool pdpl_unescape(pu_arena *arena, const char *raw, size_t len, bool pattern, pu_str *out,
                   pdpl_pattern_elem **elems, uint32_t *n_elems, size_t *err_off, char *msg,
                   size_t cap);

/* Built-in functions and methods: name, call style and argument count (not counting the
 * receiver of a method). */
typedef struct pdpl_fn_info {
  pdpl_fn fn;
  const char *name;
  bool method;
  uint8_t argc;
} pdpl_fn_info;

/* NULL when no built-in has that name (of either style). */
const pdpl_fn_info *pdpl_fn_lookup(const char *name, size_t len);

/* Append Cedar's escaped spelling of `s` (without quotes) to buf[*n..cap); returns false
 * when it does not fit.  Used for uids and messages. */
bool pdpl_escape_into(pu_str s, char *buf, size_t *n, size_t cap);

/* ---- the parser's state, shared by parser.c (policies) and expr.c (expressions) ---- */

typedef struct pdpl_parser {
  pu_arena *arena;
  pdpl_lexer lx;
  pdpl_tok tok; /* the current (lookahead) token */
  pdpl_errors *errs;
  uint32_t depth; /* expression nesting, checked against PDPL_MAX_DEPTH */
  bool failed;    /* the current policy has an error (only the first is reported) */
} pdpl_parser;

void pdpl_p_advance(pdpl_parser *p);
/* Report an error for the current policy (only the first one counts) and mark it failed. */
void pdpl_p_fail(pdpl_parser *p, pdpl_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "expected WHAT but found TOKEN" at the current token; silent on PDPL_T_ERROR tokens
 * (the lexer reported them). Always returns false. */
bool pdpl_p_expected(pdpl_parser *p, const char *what);
/* Consume a token of `kind` or report "expected WHAT". */
bool pdpl_p_expect(pdpl_parser *p, pdpl_tok_kind kind, const char *what);
bool pdpl_p_is_kw(const pdpl_parser *p, pdpl_kw kw);
/* Zeroed arena memory, or NULL after reporting "out of memory". */
void *pdpl_p_alloc(pdpl_parser *p, size_t n);
/* Room for one more element in an arena array of `elem`-sized items holding n (capacity
 * *cap); returns the (possibly moved) array or NULL after reporting "out of memory". */
void *pdpl_p_grow(pdpl_parser *p, void *arr, uint32_t n, uint32_t *cap, size_t elem);
/* Arena copy of the current token's bytes. */
pu_str pdpl_p_tok_str(pdpl_parser *p);
/* Unescape the current PDPL_T_STRING token into *out (or pattern elements) and advance. */
bool pdpl_p_string(pdpl_parser *p, pu_str *out);
bool pdpl_p_pattern(pdpl_parser *p, pdpl_pattern_elem **elems, uint32_t *n);

/* A path at the current IDENT: IDENT {'::' IDENT} and, when allow_uid, an optional final
 * '::' STRING making it an entity uid.  Returns 1 for a name (*name, *n_comp), 2 for a uid
 * (*uid), 0 after an error.  Reserved words are rejected as path components. */
int pdpl_p_path(pdpl_parser *p, bool allow_uid, pu_str *name, uint32_t *n_comp, pdpl_uid *uid);

/* expr.c: Expr ::= 'if' Expr 'then' Expr 'else' Expr | Or.  NULL after an error. */
pdpl_expr *pdpl_p_expr(pdpl_parser *p);
/* Height of the tree, counting at most up to limit+1 (recursion bounded by the limit). */
uint32_t pdpl_expr_height(const pdpl_expr *e, uint32_t limit);

#endif

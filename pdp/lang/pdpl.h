/* pdpl.h - pdpd's policy language: Cedar-syntax text -> AST (lexer, parser, AST).
 *
 * pdp/lang knows nothing of files, sockets or evaluation: it turns policy text into an AST
 * that pdp/eval compiles and evaluates.  Every node, string and list of a parse lives in the
 * caller's pu_arena; nothing here is freed one by one.  Strings in the AST are unescaped and
 * length-counted (Cedar strings may hold NUL).
 *
 * Errors are values: pdpl_parse() never aborts on bad input; it records each error with
 * file:line:col (1-based, columns counted in bytes) and a readable message, skips to the
 * end of the broken policy (the next ';' token: Cedar has no ';' inside a policy outside
 * strings and comments, so this is the ';' at nesting depth 0 even when the broken text
 * left brackets open) and goes on, so that one run reports every error in a file.
 */
#ifndef PDP_LANG_PDPL_H
#define PDP_LANG_PDPL_H

#include "../util/pu.h"

#include <stdbool.h>
#include <stdint.h>

/* Limits that keep hostile text from exhausting the stack (the parser is recursive). */
#define PDPL_MAX_DEPTH 200  /* nesting of expressions */
#define PDPL_MAX_ERRORS 100 /* errors recorded per parse; later ones are counted */
#define PDPL_MAX_HEIGHT                                                                            \
  1000 /* height of a condition's expression tree: long chains                                     \
          such as a && b && ... are recursed by the evaluator */

/* ---- positions and errors ---------------------------------------------------------- */

typedef struct pdpl_pos {
  const char *file; /* borrowed from the pdpl_parse() caller */
  uint32_t line;    /* 1-based */
  uint32_t col;     /* 1-based, in bytes */
} pdpl_pos;

typedef struct pdpl_error {
  pdpl_pos pos;
  char msg[240]; /* e.g. "expected ')' near '&&'" */
} pdpl_error;

typedef struct pdpl_errors {
  pdpl_error items[PDPL_MAX_ERRORS];
  uint32_t n;       /* recorded in items[] */
  uint32_t dropped; /* errors past PDPL_MAX_ERRORS, counted only */
} pdpl_errors;

/* "file:line:col: msg" into buf; returns buf. */
const char *pdpl_error_format(const pdpl_error *e, char *buf, size_t cap);

/* ---- entity uids --------------------------------------------------------------------- */

/* An entity uid: type path and id.  `type` is the full path with "::" separators exactly as
 * Cedar prints it ("Namespace::Type"), no spaces.  `id` is the unescaped id string. */
typedef struct pdpl_uid {
  pu_str type;
  pu_str id;
} pdpl_uid;

/* ---- expressions --------------------------------------------------------------------- */

typedef enum pdpl_expr_kind {
  PDPL_E_BOOL,    /* lit.b */
  PDPL_E_LONG,    /* lit.l (a literal; `-9223372036854775808` is folded here) */
  PDPL_E_STRING,  /* lit.s, unescaped */
  PDPL_E_ENTITY,  /* lit.uid: an entity uid literal */
  PDPL_E_VAR,     /* var: principal, action, resource or context */
  PDPL_E_SLOT,    /* slot: ?principal or ?resource.  Not produced today: as in Cedar, slots
                     may appear only in the scope (pdpl_scope.is_slot) */
  PDPL_E_NOT,     /* unary: !a */
  PDPL_E_NEG,     /* unary: -a */
  PDPL_E_BINARY,  /* binary: a op b (see pdpl_binop) */
  PDPL_E_IF,      /* cond: if a then b else c */
  PDPL_E_GETATTR, /* attr: a.name or a["name"] */
  PDPL_E_HAS,     /* attr: a has name, a has "name"; `a has b.c` is parsed as
                     (a has b) && (a.b has c) */
  PDPL_E_LIKE,    /* like: a like "pattern" */
  PDPL_E_IS,      /* is: a is Type, optionally `in b` */
  PDPL_E_SET,     /* list: [a, b, ...] */
  PDPL_E_RECORD,  /* record: {key: a, "key": b, ...} */
  PDPL_E_CALL,    /* call: a built-in function or method; methods get the receiver as
                     args[0] */
} pdpl_expr_kind;

typedef enum pdpl_var {
  PDPL_VAR_PRINCIPAL,
  PDPL_VAR_ACTION,
  PDPL_VAR_RESOURCE,
  PDPL_VAR_CONTEXT
} pdpl_var;
typedef enum pdpl_slot { PDPL_SLOT_PRINCIPAL, PDPL_SLOT_RESOURCE } pdpl_slot;

typedef enum pdpl_binop {
  PDPL_OP_OR,
  PDPL_OP_AND, /* short-circuit */
  PDPL_OP_EQ,
  PDPL_OP_NE,
  PDPL_OP_LT,
  PDPL_OP_LE,
  PDPL_OP_GT,
  PDPL_OP_GE,
  PDPL_OP_IN, /* hierarchy */
  PDPL_OP_ADD,
  PDPL_OP_SUB,
  PDPL_OP_MUL, /* checked i64 */
} pdpl_binop;

/* Built-in functions and methods.  The parser maps a name to one of these and rejects
 * unknown names, and a function called as a method or the reverse, with a positioned error.
 * Argument counts: as in Cedar, the parser checks them for the set and tag methods
 * (contains .. hasTag) only.  A call of an extension function or method (ip ..
 * toMilliseconds) with the wrong number of arguments parses, and Cedar reports it as an
 * evaluation error, so the evaluator must compare call.n with pdpl_fn_arity() first. */
typedef enum pdpl_fn {
  /* methods on sets (receiver is args[0]) */
  PDPL_FN_CONTAINS,
  PDPL_FN_CONTAINS_ALL,
  PDPL_FN_CONTAINS_ANY,
  PDPL_FN_IS_EMPTY,
  /* entity tags (methods on entities) */
  PDPL_FN_GET_TAG,
  PDPL_FN_HAS_TAG,
  /* extension constructors (functions, one string argument) */
  PDPL_FN_IP,
  PDPL_FN_DECIMAL,
  PDPL_FN_DATETIME,
  PDPL_FN_DURATION,
  /* ipaddr methods */
  PDPL_FN_IS_IPV4,
  PDPL_FN_IS_IPV6,
  PDPL_FN_IS_LOOPBACK,
  PDPL_FN_IS_MULTICAST,
  PDPL_FN_IS_IN_RANGE,
  /* decimal / datetime / duration comparison methods */
  PDPL_FN_LESS_THAN,
  PDPL_FN_LESS_THAN_OR_EQUAL,
  PDPL_FN_GREATER_THAN,
  PDPL_FN_GREATER_THAN_OR_EQUAL,
  /* datetime and duration methods */
  PDPL_FN_OFFSET,
  PDPL_FN_DURATION_SINCE,
  PDPL_FN_TO_DATE,
  PDPL_FN_TO_TIME,
  PDPL_FN_TO_DAYS,
  PDPL_FN_TO_HOURS,
  PDPL_FN_TO_MINUTES,
  PDPL_FN_TO_SECONDS,
  PDPL_FN_TO_MILLISECONDS,
  PDPL_FN__COUNT
} pdpl_fn;

typedef struct pdpl_expr pdpl_expr;

/* One element of a `like` pattern: a literal run of bytes or a wildcard '*'. */
typedef struct pdpl_pattern_elem {
  bool wildcard; /* true: '*' matches any run of characters (possibly empty) */
  pu_str lit;    /* literal bytes when !wildcard (a `\*` in the source is a literal '*') */
} pdpl_pattern_elem;

struct pdpl_expr {
  pdpl_expr_kind kind;
  pdpl_pos pos; /* where the expression starts */
  union {
    union {
      bool b;
      int64_t l;
      pu_str s;
      pdpl_uid uid;
    } lit;
    pdpl_var var;
    pdpl_slot slot;
    struct {
      pdpl_expr *arg;
    } unary;
    struct {
      pdpl_binop op;
      pdpl_expr *lhs, *rhs;
    } binary;
    struct {
      pdpl_expr *cond, *then_, *else_;
    } cond;
    struct {
      pdpl_expr *target;
      pu_str name; /* unescaped attribute name */
    } attr;
    struct {
      pdpl_expr *target;
      pdpl_pattern_elem *elems;
      uint32_t n;
    } like;
    struct {
      pdpl_expr *target;
      pu_str type;   /* entity type path, "A::B" */
      pdpl_expr *in; /* NULL when there is no `in` */
    } is;
    struct {
      pdpl_expr **items;
      uint32_t n;
    } list; /* PDPL_E_SET */
    struct {
      pu_str *keys;
      pdpl_expr **values;
      uint32_t n; /* keys in source order; a duplicate key is a parse error */
    } record;
    struct {
      pdpl_fn fn;
      pdpl_expr **args; /* methods: args[0] is the receiver */
      uint32_t n;
    } call;
  } u;
};

/* ---- policies ------------------------------------------------------------------------ */

typedef enum pdpl_effect { PDPL_PERMIT, PDPL_FORBID } pdpl_effect;

typedef enum pdpl_scope_kind {
  PDPL_SCOPE_ANY,     /* principal | action | resource */
  PDPL_SCOPE_EQ,      /* == uid (or == ?slot) */
  PDPL_SCOPE_IN,      /* in uid (or in ?slot) */
  PDPL_SCOPE_IS,      /* is Type */
  PDPL_SCOPE_IS_IN,   /* is Type in uid (or in ?slot) */
  PDPL_SCOPE_IN_LIST, /* action in [uid, ...] (action only) */
} pdpl_scope_kind;

typedef struct pdpl_scope {
  pdpl_scope_kind kind;
  pdpl_pos pos;
  bool is_slot;   /* EQ/IN/IS_IN name the template slot instead of `uid` */
  pdpl_slot slot; /* which slot, when is_slot */
  pdpl_uid uid;   /* EQ, IN, IS_IN */
  pu_str type;    /* IS, IS_IN */
  pdpl_uid *list; /* IN_LIST */
  uint32_t n_list;
} pdpl_scope;

typedef struct pdpl_condition {
  bool is_when; /* true: when { }, false: unless { } */
  pdpl_expr *body;
} pdpl_condition;

typedef struct pdpl_annotation {
  pu_str key;   /* identifier after '@' */
  pu_str value; /* unescaped string; empty when written without a value (`@key`) */
} pdpl_annotation;

typedef struct pdpl_policy {
  pdpl_effect effect;
  pdpl_pos pos; /* position of the first annotation or of the effect keyword */
  pu_str id;    /* @id("...") if present, else "policyN" (see pdpl_parse) */
  pdpl_annotation *annotations;
  uint32_t n_annotations;
  pdpl_scope principal, action, resource;
  pdpl_condition *conditions; /* in source order */
  uint32_t n_conditions;
  bool is_template; /* uses ?principal or ?resource anywhere */
} pdpl_policy;

typedef struct pdpl_policies {
  pdpl_policy *items; /* arena-owned array */
  uint32_t n;
} pdpl_policies;

/* Parse `len` bytes of policy text.  `file` names the text in errors (borrowed; it must
 * outlive the AST).  Policies without an @id annotation get the id "policyN" where N is
 * *first_index plus their position among all policies of this text (annotated ones count
 * too); on return *first_index has advanced by the number of policies seen, so a caller
 * parsing several files in order gets policy0, policy1, ... across them.  first_index may
 * be NULL (counting starts at 0).
 * Appends the policies parsed without error to `out` (arena-grown; `out` must start zeroed
 * and only be grown by pdpl_parse) and returns the number of errors added to `errs`
 * (recorded or dropped; 0 = success).  Allocation failure is reported as an error.
 * Expressions are at most PDPL_MAX_DEPTH deep in the source and PDPL_MAX_HEIGHT as trees. */
uint32_t pdpl_parse(pu_arena *arena, const char *file, const char *text, size_t len,
                    uint32_t *first_index, pdpl_policies *out, pdpl_errors *errs);

/* Parse one entity uid written in Cedar syntax (`Type::"id"`, `A::B::"x"`), as in pdpctl's
 * --principal.  Returns true and fills *out on success; on failure writes a message into
 * err (may be NULL). */
bool pdpl_parse_uid(pu_arena *arena, const char *text, size_t len, pdpl_uid *out, char *err,
                    size_t err_cap);

/* The number of arguments `fn` takes, counting a method's receiver (args[0]). */
uint32_t pdpl_fn_arity(pdpl_fn fn);

/* The Cedar spelling of a function name ("containsAll", "ip", ...). */
const char *pdpl_fn_name(pdpl_fn fn);

/* Write `uid` in Cedar syntax (`Type::"id"` with the id escaped) into the arena. */
pu_str pdpl_uid_format(pu_arena *arena, pdpl_uid uid);

#endif

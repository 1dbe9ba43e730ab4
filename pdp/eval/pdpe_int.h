/* pdpe_int.h - internals shared by the files of pdp/eval (never included outside it).
 *
 * value.c owns the total order on values (sets are kept sorted and deduplicated with it,
 * records keep their keys sorted), ext.c the extension types, entities.c the uid index
 * and the hierarchy, eval.c the expression evaluator, index.c the policy index and authz.c
 * the policy set and the authorizer.  Errors inside the engine are plain messages written into a
 * caller buffer.
 */
#ifndef PDP_EVAL_PDPE_INT_H
#define PDP_EVAL_PDPE_INT_H

#include "pdpe.h"

#include <stdio.h>

/* ---- values (value.c) ---- */

/* A total order on values: kind first, then content (sets and records element-wise). */
int pdpe__value_cmp(const pdpe_value *a, const pdpe_value *b);
int pdpe__uid_cmp(pdpe_uid a, pdpe_uid b);
bool pdpe__uid_eq(pdpe_uid a, pdpe_uid b);
/* Binary search of a (sorted) set. */
bool pdpe__set_has(const pdpe_value *set, const pdpe_value *v);
/* Record lookup; NULL when absent. */
const pdpe_value *pdpe__record_get(const pdpe_value *rec, pu_str key);
/* {"type": T, "id": I}, optionally wrapped in {"__entity": ...}; strings copied. */
struct json_t;
bool pdpe__uid_from_json(pu_arena *a, const struct json_t *j, pdpe_uid *out);
/* "bool", "long", ... for error messages. */
const char *pdpe__kind_name(const pdpe_value *v);

/* ---- extensions (ext.c) ---- */

/* True when `name` is an extension function callable from JSON `__extn`. */
bool pdpe__ext_fn_by_name(pu_str name, pdpl_fn *out);
/* Apply extension function `fn` (PDPL_FN_IP .. PDPL_FN_TO_MILLISECONDS) to evaluated
 * arguments (methods: receiver first).  False with a message on a type error, a bad
 * constructor string or an overflow. */
bool pdpe__ext_call(pdpl_fn fn, const pdpe_value *args, uint32_t n, pdpe_value *out, char *err,
                    size_t err_cap);
/* Cedar's text form of an extension value's constructor argument into buf. */
void pdpe__ext_format(const pdpe_value *v, char *buf, size_t cap);

/* ---- entities (entities.c) ---- */

/* Entity lookup through a request overlay: `req` (may be NULL) first, then `stored`. */
const pdpe_entity *pdpe__entity_find2(const pdpe_entities *req, const pdpe_entities *stored,
                                      pdpe_uid uid);
/* The hash of a uid used by every uid-keyed table of the engine. */
uint64_t pdpe__uid_hash(pdpe_uid u);
/* `a` and all its ancestors through the overlay (request entities first), each once, `a`
 * first: exactly the uids b for which pdpe__entity_in(req, stored, a, b) is 1.  On success
 * returns the count (>= 1) with *out in the arena; -1 when the arena ran out, -2 when there
 * are more than `cap` ancestors (the caller then does without the list). */
int64_t pdpe__entity_ancestors(const pdpe_entities *req, const pdpe_entities *stored, pdpe_uid a,
                               uint32_t cap, pu_arena *arena, const pdpe_uid **out);
/* Is `a` a descendant of (or equal to) `b` in the hierarchy formed by request entities
 * overlaid on stored ones?  -1 when the arena ran out. */
int pdpe__entity_in(const pdpe_entities *req, const pdpe_entities *stored, pdpe_uid a, pdpe_uid b,
                    pu_arena *arena);

/* ---- evaluator (eval.c) ---- */

/* What one policy evaluation reads.  `slots` hold the values a template-linked policy
 * substitutes for ?principal and ?resource (NULL for a static policy). */
typedef struct pdpe_env {
  const pdpe_request *req;
  const pdpe_entities *stored;
  pu_arena *arena;
  const pdpe_uid *slots;   /* [PDPL_SLOT_PRINCIPAL], [PDPL_SLOT_RESOURCE], or NULL */
  bool oom;                /* set when the arena ran out (the decision is then void) */
  const pdpl_expr *err_at; /* where the first error happened */
  char err[256];           /* its message */
} pdpe_env;

/* Evaluate `e`; false on an evaluation error (message in env->err). */
bool pdpe__eval(pdpe_env *env, const pdpl_expr *e, pdpe_value *out, unsigned depth);

/* ---- policy sets and the index (authz.c, index.c) ---- */

typedef struct pdpe_policy_entry {
  const pdpl_policy *ast;
  pu_str id;
  bool linked;           /* false: an unlinked template, never evaluated */
  pdpe_uid slots[2];     /* ?principal, ?resource when linked from a template */
  const pdpe_link *link; /* the link this entry comes from (NULL for a parsed policy) */
} pdpe_policy_entry;

/* Which policies can apply to a request, by scope: built once per policy set. */
typedef struct pdpe_index pdpe_index;
/* Index `items` (the policy set's entries, in policy order).  False when out of memory. */
bool pdpe__index_build(pu_arena *arena, const pdpe_policy_entry *items, uint32_t n,
                       pdpe_index **out);
/* The policies whose scope can match `req`: ascending unique policy indices (a superset of
 * those whose scope matches; every one of those is included), in *out (the arena, or the
 * index itself).  1 on success, 0 when the request's hierarchy is too large to list (the
 * caller scans every policy instead), -1 when the arena ran out. */
int pdpe__index_candidates(const pdpe_index *ix, const pdpe_request *req,
                           const pdpe_entities *stored, pu_arena *arena, const uint32_t **out,
                           uint32_t *n_out);

/* The index of a built policy set (tests inspect its candidates). */
const pdpe_index *pdpe__policy_set_index(const pdpe_policy_set *ps);

/* pdpe_authorize without the index: every policy in order (tests compare the two). */
bool pdpe_authorize_scan(const pdpe_snapshot *snap, const pdpe_request *req, pu_arena *arena,
                         pdpe_decision *out);

#endif

/* pdpe_int.h - internals shared by the files of pdp/eval (never included outside it).
 *
 * value.c owns the total order on values (sets are kept sorted and deduplicated with it,
 * records keep their keys sorted), ext.c the extension types, entities.c the uid index
 * and the hierarchy, eval.c the expression evaluator, index.c the policy index, authz.c
 * the policy set and the decision (pdpe__check), grants.c what a check knows of its
 * principal, the grant lookups and ListAllowed, defs.c the permission definitions and
 * pdpe_snapshot_set_data.  Errors inside the engine are plain messages written into a
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
/* Parse Cedar's entity JSON array into items (in the arena) without building the set:
 * the checks of pdpe_entities_from_json that concern one item. */
bool pdpe__entities_parse(pu_arena *arena, const struct json_t *json, const char *name,
                          pdpe_entity **items, uint32_t *n, char *err, size_t err_cap);
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

/* An ancestor list as pdpe__entity_ancestors gives it: n >= 1 the uids (the entity first),
 * -2 more than the cap, 0 not computed. */
typedef struct pdpe_anc {
  const pdpe_uid *uids;
  int64_t n;
} pdpe_anc;
#define PDPE__ANC_CAP 1024u /* ancestors the index looks up per request entity */
/* pdpe__index_candidates with the principal's and the resource's ancestor lists already
 * computed (pre[0], pre[1]; either n may be 0 = compute here; pre may be NULL).  A list
 * longer than PDPE__ANC_CAP counts as too many (the caller scans). */
int pdpe__index_candidates_pre(const pdpe_index *ix, const pdpe_request *req,
                               const pdpe_entities *stored, const pdpe_anc pre[2], pu_arena *arena,
                               const uint32_t **out, uint32_t *n_out);

/* The index of a built policy set (tests inspect its candidates). */
const pdpe_index *pdpe__policy_set_index(const pdpe_policy_set *ps);

/* pdpe_authorize without the index: every policy in order (tests compare the two). */
bool pdpe_authorize_scan(const pdpe_snapshot *snap, const pdpe_request *req, pu_arena *arena,
                         pdpe_decision *out);

/* ---- the decision (authz.c, grants.c) ---- */

/* A growing list of reason ids; with count_only only n is kept (no allocation). */
typedef struct pdpe_idlist {
  pu_str *items;
  uint32_t n, cap;
  bool count_only;
} pdpe_idlist;
bool pdpe__idlist_push(pu_arena *a, pdpe_idlist *l, pu_str id);

/* What a check knows of its principal and resource, computed on first use into `arena` and
 * shared by every check of one ListAllowed (they differ only in the action). */
typedef struct pdpe_facts {
  pu_arena *arena;  /* where the lists below live */
  bool have_tenant; /* tenant computed */
  pu_str tenant;    /* the principal's tenant; "" = host */
  bool anc_full;    /* anc[0] is the principal's complete ancestor list */
  pdpe_anc anc[2];  /* principal, resource (for the index; n 0 = not computed) */
} pdpe_facts;

/* The principal's tenant: its entity's string attribute `tenant` (request entities first,
 * then stored), else "". */
pu_str pdpe__facts_tenant(pdpe_facts *f, const pdpe_snapshot *snap, const pdpe_request *req);
/* Fills f->anc[0] with the principal's complete ancestor list.  False when out of memory. */
bool pdpe__facts_principal(pdpe_facts *f, const pdpe_snapshot *snap, const pdpe_request *req);

/* The providers whose grants a check consults: 0 when none (the action's type is not
 * `Action`, the snapshot has no grants, or the definition allows no provider). */
uint32_t pdpe__grant_providers(const pdpe_snapshot *snap, const pdpe_request *req,
                               const pdpe_definition *def);
/* Look up the grants of every provider in `providers` among the principal's ancestors
 * (f->anc[0], complete) for the request's action and the principal's tenant; push the ids
 * of applicable PROHIBITs and GRANTs (sorted).  With count_only lists it stops at the first
 * PROHIBIT.  False when the arena ran out or a lookup failed (message in fail). */
bool pdpe__grants_collect(const pdpe_snapshot *snap, const pdpe_request *req, pdpe_facts *f,
                          uint32_t providers, pu_arena *arena, pdpe_idlist *prohibits,
                          pdpe_idlist *grants, char *fail, size_t fail_cap);

/* One decision.  pdpe_authorize, pdpe_authorize_scan and pdpe_list_allowed are this with
 * different options. */
typedef struct pdpe_check {
  const pdpe_snapshot *snap;
  const pdpe_request *req;
  pu_arena *arena;            /* the decision and per-check work */
  pdpe_facts *facts;          /* the principal's facts (may be shared across checks) */
  bool scan;                  /* every policy in order, without the index */
  bool decision_only;         /* no reasons or errors; stop at the first deny */
  bool def_given;             /* `def` is the action's definition (skip the lookup) */
  const pdpe_definition *def; /* when def_given (may be NULL) */
  char fail[256];             /* why it returned false ("" = out of memory) */
} pdpe_check;
/* False when the arena ran out or a grant lookup failed: the decision is then void. */
bool pdpe__check(pdpe_check *c, pdpe_decision *out);

#endif

/* pdpe.h - pdpd's decision engine: values, entities and their hierarchy, compiled policy
 * sets, grants and permission definitions, the evaluator and the authorizer, and the
 * immutable snapshot they live in.
 *
 * pdp/eval knows nothing of sockets, files, LMDB or tokens.  It answers one question:
 * given a snapshot (policies, stored entities, permission definitions and a grant lookup)
 * and a request (principal, action, resource, context, request-scoped entities), what is
 * the decision, which policies, grants or definitions determined it and which policies
 * failed to evaluate.  Grants are not held by the engine: the snapshot carries a lookup
 * (pdpe_grants) that its loader provides (cache/ reads them from LMDB).
 *
 * Memory: a pdpe_snapshot owns everything it holds (one arena, freed with the last
 * reference).  Everything a request creates (its values, its decision, error messages)
 * comes from the caller's per-request pu_arena and dies at the caller's reset.
 *
 * Errors are values: functions that can fail take a `char *err, size_t err_cap` and write
 * a message naming what was wrong and where (the JSON path of a bad entity attribute, the
 * policy id and position of a failed evaluation).
 */
#ifndef PDP_EVAL_PDPE_H
#define PDP_EVAL_PDPE_H

#include "../lang/pdpl.h"
#include "../util/pu.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Limits on request-supplied data (DESIGN §8).  The daemon may lower them by config. */
#define PDPE_MAX_VALUE_DEPTH 32 /* nesting of sets/records in one value */

/* ---- values -------------------------------------------------------------------------- */

typedef pdpl_uid pdpe_uid;

typedef enum pdpe_kind {
  PDPE_BOOL,
  PDPE_LONG,
  PDPE_STRING,
  PDPE_ENTITY,
  PDPE_SET,
  PDPE_RECORD,
  PDPE_EXT, /* extension value: ipaddr, decimal, datetime, duration */
} pdpe_kind;

typedef enum pdpe_ext_kind {
  PDPE_EXT_IP,
  PDPE_EXT_DECIMAL,
  PDPE_EXT_DATETIME,
  PDPE_EXT_DURATION
} pdpe_ext_kind;

typedef struct pdpe_value pdpe_value;

typedef struct pdpe_ip {
  uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
  uint8_t prefix;   /* prefix length (32 or 128 for a single address) */
  bool v6;
} pdpe_ip;

struct pdpe_value {
  pdpe_kind kind;
  union {
    bool b;
    int64_t l;
    pu_str s;
    pdpe_uid uid;
    struct {
      pdpe_value *items; /* deduplicated; order is not significant */
      uint32_t n;
    } set;
    struct {
      pu_str *keys; /* sorted by pu_str_cmp, unique */
      pdpe_value *values;
      uint32_t n;
    } rec;
    struct {
      pdpe_ext_kind kind;
      union {
        pdpe_ip ip;
        int64_t decimal;  /* value * 10^4 */
        int64_t datetime; /* milliseconds since the Unix epoch */
        int64_t duration; /* milliseconds */
      } u;
    } ext;
  } u;
};

/* Structural equality as Cedar defines `==` (sets as sets, records by key). */
bool pdpe_value_eq(const pdpe_value *a, const pdpe_value *b);

/* Build a value from Cedar's JSON value format (jansson json_t*):  true/false, integers,
 * strings, arrays (sets), objects (records), {"__entity": {"type", "id"}} and
 * {"__extn": {"fn", "arg"}}.  `path` names the value in error messages
 * ("entities[3].attrs.owner").  Returns false with a message on bad input. */
struct json_t;
bool pdpe_value_from_json(pu_arena *arena, const struct json_t *json, const char *path,
                          pdpe_value *out, char *err, size_t err_cap);

/* Build a set or record from parts supplied by a decoder (the server's protobuf path):
 * sorts and deduplicates.  A duplicate record key is an error naming `path`. */
bool pdpe_value_make_set(pu_arena *arena, pdpe_value *items, uint32_t n, pdpe_value *out);
bool pdpe_value_make_record(pu_arena *arena, pu_str *keys, pdpe_value *values, uint32_t n,
                            const char *path, pdpe_value *out, char *err, size_t err_cap);
/* Call an extension constructor by name ("ip", "decimal", "datetime", "duration") on a
 * string, as `{"__extn": {"fn": name, "arg": arg}}` would. */
bool pdpe_value_make_ext(pu_arena *arena, pu_str fn, pu_str arg, const char *path, pdpe_value *out,
                         char *err, size_t err_cap);

/* Cedar's JSON rendering of a value into the arena (for logs, pdpctl and tests). */
pu_str pdpe_value_to_json(pu_arena *arena, const pdpe_value *v);

/* ---- entities ------------------------------------------------------------------------ */

typedef struct pdpe_entity {
  pdpe_uid uid;
  pdpe_value attrs;  /* a record (possibly empty) */
  pdpe_value tags;   /* a record (possibly empty) */
  pdpe_uid *parents; /* direct parents, as given */
  uint32_t n_parents;
} pdpe_entity;

/* An immutable set of entities with an acyclic parent hierarchy, indexed for `in`
 * (ancestor lists up to a cap, a graph walk beyond).  Built once per snapshot (or per
 * request for request-scoped entities); building is linear in entities + parents. */
typedef struct pdpe_entities pdpe_entities;

/* Parse Cedar's entity JSON format (an array of {"uid", "attrs", "parents", "tags"}) into
 * `arena`.  `name` names the source in errors ("examples/quickstart/entities.json").
 * Duplicate uids, malformed items and a cycle among the entities' parents (as Cedar:
 * the error names an entity on it) are errors.  On success *out lives in the arena. */
bool pdpe_entities_from_json(pu_arena *arena, const struct json_t *json, const char *name,
                             pdpe_entities **out, char *err, size_t err_cap);
/* From already-built entities (the server's protobuf path).  Copies nothing: `items`
 * must live in the arena too.  Same checks as pdpe_entities_from_json. */
bool pdpe_entities_build(pu_arena *arena, pdpe_entity *items, uint32_t n, const char *name,
                         pdpe_entities **out, char *err, size_t err_cap);
uint32_t pdpe_entities_count(const pdpe_entities *es);
/* Borrowed pointer into `es`, or NULL. */
const pdpe_entity *pdpe_entities_find(const pdpe_entities *es, pdpe_uid uid);

/* ---- policy sets --------------------------------------------------------------------- */

/* Compiled policies (and, later, the policy index).  Immutable once built. */
typedef struct pdpe_policy_set pdpe_policy_set;

/* Compile parsed policies.  The set keeps pointers into the AST, so `policies` must live in
 * `arena` (the snapshot's arena).  Duplicate policy ids are an error naming both positions. */
bool pdpe_policy_set_build(pu_arena *arena, const pdpl_policies *policies, pdpe_policy_set **out,
                           char *err, size_t err_cap);
uint32_t pdpe_policy_set_count(const pdpe_policy_set *ps);

/* A template-linked policy: template `template_id` (a policy of the set written with
 * ?principal and/or ?resource) with its slots filled, under the id `new_id`.  Exactly the
 * slots the template uses must be given. */
typedef struct pdpe_link {
  pu_str template_id;
  pu_str new_id;
  bool has_principal, has_resource;
  pdpe_uid principal; /* the value of ?principal, when has_principal */
  pdpe_uid resource;  /* the value of ?resource, when has_resource */
  const char *where;  /* names the link in errors ("template-links.json[2]"); may be NULL */
} pdpe_link;

/* pdpe_policy_set_build plus template links: each link adds one policy, after the parsed
 * ones, in link order.  Errors (unknown template, a static policy named as template, a
 * missing or extra slot value, a new id that is already taken) name the link's `where`.
 * `links` (the array and its strings) must live in `arena` too: entries point at them. */
bool pdpe_policy_set_build_linked(pu_arena *arena, const pdpl_policies *policies,
                                  const pdpe_link *links, uint32_t n_links, pdpe_policy_set **out,
                                  char *err, size_t err_cap);

/* ---- grants and permission definitions ------------------------------------------------ */

/* Grants (the ABP model) are rows (provider, key, permission, tenant, effect).  A GRANT is
 * exactly `permit(principal in <provider entity>, action == Action::"<permission>",
 * resource)` for principals whose tenant equals the row's tenant; a PROHIBIT is the
 * matching forbid.  The provider entity of R is `Role::"<key>"`, of U `User::"<key>"`, of C
 * `Client::"<key>"`.  A principal's tenant is the string attribute `tenant` of its entity
 * (request entities first, then stored); absent or not a string means host, "". */
typedef enum pdpe_provider {
  PDPE_PROVIDER_ROLE = 1,   /* R: Role::"<key>" */
  PDPE_PROVIDER_USER = 2,   /* U: User::"<key>" */
  PDPE_PROVIDER_CLIENT = 3, /* C: Client::"<key>" */
} pdpe_provider;            /* = proto numbers */
#define PDPE_PROVIDER_BIT(p) (1u << (p))
typedef enum pdpe_effect {
  PDPE_EFFECT_NONE = 0, /* no row with that key */
  PDPE_EFFECT_GRANT = 1,
  PDPE_EFFECT_PROHIBIT = 2
} pdpe_effect;
typedef enum pdpe_tenancy {
  PDPE_TENANCY_BOTH = 0,
  PDPE_TENANCY_HOST = 1,  /* denied to principals with a tenant */
  PDPE_TENANCY_TENANT = 2 /* denied to principals without one */
} pdpe_tenancy;           /* = proto numbers */

/* A grant's natural key (unique; the effect is the value).  tenant "" = a host grant. */
typedef struct pdpe_grant_key {
  pdpe_provider provider;
  pu_str key;
  pu_str permission;
  pu_str tenant;
} pdpe_grant_key;

/* The snapshot's grants live outside the engine: cache/ serves them from an LMDB read
 * transaction the snapshot pins.  lookup returns the effect stored for exactly that key
 * (PDPE_EFFECT_NONE when none) or -1 on a read error with a message in err.  release is
 * called once when the snapshot is freed (may be NULL). */
typedef struct pdpe_grants {
  void *ctx;
  int (*lookup)(void *ctx, const pdpe_grant_key *k, char *err, size_t err_cap);
  void (*release)(void *ctx);
  uint64_t count; /* number of grants (Status); 0 = lookups are skipped */
} pdpe_grants;

/* A permission definition, registered by a service.  Each becomes the entity
 * `Action::"<name>"` with parents `Action::"<group>"` and `Action::"<parent>"` (those that
 * are non-empty).  A check of that action: disabled -> DENY (reason
 * `definition:<name>:disabled`); tenancy HOST with a tenant principal or TENANT with a host
 * one -> DENY (`definition:<name>:tenancy`); else policies and grants, a grant of a
 * provider outside a non-empty `providers` being ignored. */
typedef struct pdpe_definition {
  pu_str name, display_name, group, parent, service;
  bool disabled;
  pdpe_tenancy tenancy;
  uint32_t providers;    /* PDPE_PROVIDER_BIT set; 0 = every provider */
  pdpe_value properties; /* a record (a zeroed value counts as the empty record) */
} pdpe_definition;

/* ---- snapshots ----------------------------------------------------------------------- */

/* Everything one decision reads, immutable and reference counted.  A snapshot is built
 * off to the side, published with one pointer store by its holder, and freed when the
 * last request using it drops its reference: requests never wait for a reload and never
 * see a mix of two snapshots. */
typedef struct pdpe_snapshot {
  atomic_uint refs; /* pdpe_snapshot_ref / _unref */
  pu_arena arena;   /* owns everything below */
  pdpe_policy_set *policies;
  pdpe_entities *entities;
  uint8_t stamp[32];            /* SHA-256 content stamp of what was loaded */
  const char *source;           /* where it came from ("dir:examples/quickstart") */
  int64_t loaded_unix_ms;       /* wall clock when it was built */
  pdpe_grants grants;           /* grant lookup (zeroed: none); released with the snapshot */
  pdpe_definition *definitions; /* sorted by name, unique names, in the arena */
  uint32_t n_definitions;       /* found by name by binary search */
} pdpe_snapshot;

/* A new empty snapshot (refs = 1, no policies, no entities). */
pdpe_snapshot *pdpe_snapshot_new(void);
pdpe_snapshot *pdpe_snapshot_ref(pdpe_snapshot *s);
/* Frees at zero (calling grants.release(grants.ctx) first when set); NULL is ignored. */
void pdpe_snapshot_unref(pdpe_snapshot *s);

/* Build s->entities from Cedar's entity JSON array (may be NULL = none) plus one Action
 * entity per definition (rules above) and install the definitions (copied into s->arena,
 * sorted by name).  When entities.json also has an Action uid of a definition, its attrs
 * and tags stay and its parents are the union.  Errors: an empty name, a duplicate
 * definition name (naming both services), a cycle (as for entities: naming an entity on
 * it), bad entity JSON (as pdpe_entities_from_json).  On failure s is unchanged.
 * Replaces the direct use of pdpe_entities_from_json by loaders. */
bool pdpe_snapshot_set_data(pdpe_snapshot *s, const struct json_t *entities_json,
                            const char *entities_name, const pdpe_definition *defs, uint32_t n_defs,
                            char *err, size_t err_cap);

/* Definition by name (borrowed from the snapshot), or NULL.  O(log n). */
const pdpe_definition *pdpe_snapshot_definition(const pdpe_snapshot *s, pu_str name);

/* ---- requests and decisions ---------------------------------------------------------- */

typedef struct pdpe_request {
  pdpe_uid principal;
  pdpe_uid action;
  pdpe_uid resource;
  pdpe_value context;            /* a record; kind != PDPE_RECORD is treated as empty */
  const pdpe_entities *entities; /* request-scoped entities, may be NULL; they take
                                    precedence over stored entities with the same uid */
} pdpe_request;

typedef struct pdpe_eval_error {
  pu_str policy_id;
  pu_str message; /* "policy2 at policies/docs.cedar:4:7: attribute 'owner' not found" */
} pdpe_eval_error;

typedef enum pdpe_decision_kind { PDPE_DENY = 0, PDPE_ALLOW = 1 } pdpe_decision_kind;

typedef struct pdpe_decision {
  pdpe_decision_kind decision;
  pu_str *reason; /* determining ids: on a deny the satisfied forbids (policy order) then
                     the applicable PROHIBIT grants; on an allow the satisfied permits then
                     the applicable GRANTs; grant ids (`grant:R/<key>/<permission>`, with
                     `@<tenant>` when the tenant is non-empty) sorted; or the one
                     `definition:<name>:disabled|tenancy`; empty on default deny */
  uint32_t n_reason;
  pdpe_eval_error *errors; /* policies skipped because their evaluation errored */
  uint32_t n_errors;
} pdpe_decision;

/* Cedar's authorizer with grants and definitions: default deny; a disabled definition or a
 * wrong tenancy side denies (nothing else evaluated); any satisfied forbid or applicable
 * PROHIBIT denies; else any satisfied permit or applicable GRANT allows; a policy whose
 * evaluation errors is skipped and reported.  Grants are looked up only when the action's
 * type is exactly `Action`, for each User, Role or Client in the principal's ancestor list
 * (the principal first).  Reasons and errors are in policy-set order.  Allocates from
 * `arena`; returns false (with a DENY) when the arena is exhausted or a grant lookup failed
 * (then, when it fits, out->errors holds one error with policy id "grants" and the lookup's
 * message); the caller answers OVERLOADED or INTERNAL, never ALLOW. */
bool pdpe_authorize(const pdpe_snapshot *snap, const pdpe_request *req, pu_arena *arena,
                    pdpe_decision *out);

/* ListAllowed: every definition (name order) whose name starts with `prefix` and for which
 * pdpe_authorize(principal, Action::"<name>", resource) would ALLOW.  req->action is
 * ignored.  *out (arena) gets the allowed Action uids in name order (pointing into the
 * snapshot).  False only when the arena ran out or a grant lookup failed (caller answers
 * INTERNAL). */
bool pdpe_list_allowed(const pdpe_snapshot *snap, const pdpe_request *req, pu_str prefix,
                       pu_arena *arena, pdpe_uid **out, uint32_t *n_out);

#endif

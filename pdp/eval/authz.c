/* authz.c - compiled policy sets and Cedar's authorizer.
 *
 * A pdpe_policy_set keeps, in policy-set order, one entry per policy (pointing into the
 * AST, which lives in the same snapshot arena) and the policy index (index.c).  A check
 * evaluates only the index's candidates for its request, in policy order, so reasons and
 * errors come out in the order Cedar gives them; pdpe_authorize_scan evaluates every
 * policy instead (tests compare the two).  A policy is: scope
 * (principal, action, resource) first, then its conditions in order, short-circuiting.
 * A policy that errors is skipped and listed with "<id> at <file:line:col>: <what went
 * wrong>".
 *
 * The decision (pdpe__check): for an action with a permission definition, disabled ->
 * DENY and a wrong tenancy side -> DENY, each with the definition's reason and nothing
 * else evaluated; then the policies and the grants (grants.c): any satisfied forbid or
 * applicable PROHIBIT -> DENY (reasons: those forbids in policy order, then those
 * prohibits); else any satisfied permit or applicable GRANT -> ALLOW (likewise); else DENY
 * with no reason.  ListAllowed runs the same check "decision only": no reasons, no errors,
 * stopping at the first deny, which changes no decision.
 *
 * Templates: an entry carries the values of ?principal and ?resource (`slots`).  Static
 * policies have none; a template itself is never evaluated (`linked` is false); each
 * template link (pdpe_policy_set_build_linked) adds an entry that points at the template's
 * AST with its own id and slot values, after the parsed policies.
 */
#include "pdpe_int.h"

#include <stdlib.h>
#include <string.h>

struct pdpe_policy_set {
  pdpe_policy_entry *items;
  uint32_t n;
  pdpe_index *index;
};

uint32_t pdpe_policy_set_count(const pdpe_policy_set *ps) {
  return ps ? ps->n : 0;
}
const pdpe_index *pdpe__policy_set_index(const pdpe_policy_set *ps) {
  return ps ? ps->index : NULL;
}

static int cmp_id(const void *a, const void *b) {
  const pdpe_policy_entry *x = a, *y = b;
  return pu_str_cmp(x->id, y->id);
}

static const char *where_of(const pdpe_link *l) {
  return l->where ? l->where : "template link";
}

/* Fill entry `pe` from link `l`; false with a message on a bad link. */
static bool link_entry(const pdpe_policy_entry *items, uint32_t n, const pdpe_link *l,
                       pdpe_policy_entry *pe, char *err, size_t err_cap) {
  const pdpe_policy_entry *t = NULL;
  for (uint32_t i = 0; i < n && !t; i++)
    if (pu_str_eq(items[i].id, l->template_id)) t = &items[i];
  if (!t) {
    snprintf(err, err_cap, "%s: no template with id '%.*s'", where_of(l),
             (int)(l->template_id.len > 80 ? 80 : l->template_id.len), l->template_id.ptr);
    return false;
  }
  if (!t->ast->is_template) {
    snprintf(err, err_cap, "%s: '%.*s' is a static policy, not a template", where_of(l),
             (int)(l->template_id.len > 80 ? 80 : l->template_id.len), l->template_id.ptr);
    return false;
  }
  const pdpl_policy *p = t->ast;
  bool uses[2] = {p->principal.is_slot, p->resource.is_slot};
  bool given[2] = {l->has_principal, l->has_resource};
  static const char *const names[2] = {"?principal", "?resource"};
  for (int s = 0; s < 2; s++) {
    if (uses[s] != given[s]) {
      snprintf(err, err_cap, "%s: template '%.*s' %s %s, but the link %s a value for it",
               where_of(l), (int)(l->template_id.len > 80 ? 80 : l->template_id.len),
               l->template_id.ptr, uses[s] ? "uses" : "does not use", names[s],
               given[s] ? "gives" : "gives no");
      return false;
    }
  }
  *pe = (pdpe_policy_entry){.ast = p, .id = l->new_id, .linked = true, .link = l};
  pe->slots[PDPL_SLOT_PRINCIPAL] = l->principal;
  pe->slots[PDPL_SLOT_RESOURCE] = l->resource;
  return true;
}

static void describe(const pdpe_policy_entry *pe, char *buf, size_t cap) {
  if (pe->link) {
    snprintf(buf, cap, "%s", where_of(pe->link));
  } else {
    const pdpl_pos *a = &pe->ast->pos;
    snprintf(buf, cap, "%s:%u:%u", a->file ? a->file : "?", a->line, a->col);
  }
}

bool pdpe_policy_set_build(pu_arena *arena, const pdpl_policies *policies, pdpe_policy_set **out,
                           char *err, size_t err_cap) {
  return pdpe_policy_set_build_linked(arena, policies, NULL, 0, out, err, err_cap);
}

bool pdpe_policy_set_build_linked(pu_arena *arena, const pdpl_policies *policies,
                                  const pdpe_link *links, uint32_t n_links, pdpe_policy_set **out,
                                  char *err, size_t err_cap) {
  pdpe_policy_set *ps = pu_arena_zalloc(arena, sizeof *ps);
  uint32_t np = policies ? policies->n : 0;
  uint32_t n = np + n_links;
  if (!ps || n < np) goto oom;
  ps->n = n;
  ps->items = n ? pu_arena_zalloc(arena, sizeof(pdpe_policy_entry) * n) : NULL;
  if (n && !ps->items) goto oom;
  for (uint32_t i = 0; i < np; i++) {
    const pdpl_policy *p = &policies->items[i];
    ps->items[i] = (pdpe_policy_entry){.ast = p, .id = p->id, .linked = !p->is_template};
  }
  for (uint32_t k = 0; k < n_links; k++)
    if (!link_entry(ps->items, np, &links[k], &ps->items[np + k], err, err_cap)) return false;
  /* Duplicate ids (policies and links alike): sort a copy by id, compare neighbours. */
  if (n > 1) {
    pdpe_policy_entry *sorted = malloc(sizeof(pdpe_policy_entry) * n);
    if (!sorted) goto oom;
    memcpy(sorted, ps->items, sizeof(pdpe_policy_entry) * n);
    qsort(sorted, n, sizeof *sorted, cmp_id);
    for (uint32_t i = 1; i < n; i++) {
      if (pu_str_eq(sorted[i - 1].id, sorted[i].id)) {
        /* Name the one that comes first in the set first. */
        const pdpe_policy_entry *a = &sorted[i - 1], *b = &sorted[i];
        bool a_first = a->link ? (b->link && a->link < b->link) : (b->link || a->ast < b->ast);
        if (!a_first) {
          const pdpe_policy_entry *t = a;
          a = b, b = t;
        }
        char wa[300], wb[300];
        describe(a, wa, sizeof wa);
        describe(b, wb, sizeof wb);
        snprintf(err, err_cap, "duplicate policy id '%.*s' at %s and %s",
                 (int)(sorted[i].id.len > 80 ? 80 : sorted[i].id.len), sorted[i].id.ptr, wa, wb);
        free(sorted);
        return false;
      }
    }
    free(sorted);
  }
  if (!pdpe__index_build(arena, ps->items, n, &ps->index)) goto oom;
  *out = ps;
  return true;
oom:
  snprintf(err, err_cap, "out of memory compiling the policy set");
  return false;
}

/* ---- one policy ---- */

/* 1: the scope matches, 0: it does not, -1: out of memory. */
static int scope_match(pdpe_env *env, const pdpl_scope *s, pdpe_uid v,
                       const pdpe_policy_entry *pe) {
  pdpe_uid target = s->uid;
  if (s->is_slot) target = pe->slots[s->slot];
  switch (s->kind) {
  case PDPL_SCOPE_ANY:
    return 1;
  case PDPL_SCOPE_EQ:
    return pdpe__uid_eq(v, target);
  case PDPL_SCOPE_IN:
    return pdpe__entity_in(env->req->entities, env->stored, v, target, env->arena);
  case PDPL_SCOPE_IS:
    return pu_str_eq(v.type, s->type);
  case PDPL_SCOPE_IS_IN:
    if (!pu_str_eq(v.type, s->type)) return 0;
    return pdpe__entity_in(env->req->entities, env->stored, v, target, env->arena);
  case PDPL_SCOPE_IN_LIST:
    for (uint32_t i = 0; i < s->n_list; i++) {
      int r = pdpe__entity_in(env->req->entities, env->stored, v, s->list[i], env->arena);
      if (r != 0) return r;
    }
    return 0;
  }
  return 0;
}

/* 1: satisfied, 0: not, -1: evaluation error (message in env), -2: out of memory. */
static int eval_policy(pdpe_env *env, const pdpe_policy_entry *pe) {
  const pdpl_policy *p = pe->ast;
  env->slots = pe->slots;
  env->err_at = NULL;
  env->err[0] = '\0';
  const pdpl_scope *sc[3] = {&p->principal, &p->action, &p->resource};
  pdpe_uid v[3] = {env->req->principal, env->req->action, env->req->resource};
  for (int i = 0; i < 3; i++) {
    int r = scope_match(env, sc[i], v[i], pe);
    if (r < 0) return -2;
    if (r == 0) return 0;
  }
  for (uint32_t i = 0; i < p->n_conditions; i++) {
    const pdpl_condition *c = &p->conditions[i];
    pdpe_value out;
    if (!pdpe__eval(env, c->body, &out, 0)) return env->oom ? -2 : -1;
    if (out.kind != PDPE_BOOL) {
      env->err_at = c->body;
      snprintf(env->err, sizeof env->err, "type error: %s condition is a %s, not a bool",
               c->is_when ? "when" : "unless", pdpe__kind_name(&out));
      return -1;
    }
    if (out.u.b != c->is_when) return 0;
  }
  return 1;
}

/* ---- the decision ---- */

bool pdpe__idlist_push(pu_arena *a, pdpe_idlist *l, pu_str id) {
  if (l->count_only) {
    l->n++;
    return true;
  }
  if (l->n == l->cap) {
    uint32_t nc = l->cap ? l->cap * 2 : 4;
    pu_str *ni = pu_arena_alloc(a, sizeof(pu_str) * nc);
    if (!ni) return false;
    if (l->n) memcpy(ni, l->items, sizeof(pu_str) * l->n);
    l->items = ni, l->cap = nc;
  }
  l->items[l->n++] = id;
  return true;
}

static bool push_error(pu_arena *a, pdpe_decision *d, uint32_t *cap, const pdpe_policy_entry *pe,
                       const pdpe_env *env) {
  if (d->n_errors == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 4;
    pdpe_eval_error *ne = pu_arena_alloc(a, sizeof(pdpe_eval_error) * nc);
    if (!ne) return false;
    if (d->n_errors) memcpy(ne, d->errors, sizeof(pdpe_eval_error) * d->n_errors);
    d->errors = ne, *cap = nc;
  }
  const pdpl_pos *pos = env->err_at ? &env->err_at->pos : &pe->ast->pos;
  char *msg = pu_arena_printf(a, "%.*s at %s:%u:%u: %s", (int)pe->id.len, pe->id.ptr,
                              pos->file ? pos->file : "<policy>", pos->line, pos->col, env->err);
  if (!msg) return false;
  d->errors[d->n_errors++] = (pdpe_eval_error){pe->id, pu_str_c(msg)};
  return true;
}

/* Evaluates policies `idx[0..n)` (all of them when idx is NULL), in that order, into the
 * two lists and out->errors.  A decision-only check stops at the first satisfied forbid
 * and records no errors.  False when the arena ran out. */
static bool eval_policies(const pdpe_check *c, const uint32_t *idx, uint32_t n,
                          pdpe_idlist *forbids, pdpe_idlist *permits, pdpe_decision *out) {
  const pdpe_policy_set *ps = c->snap->policies;
  pdpe_env env = {.req = c->req, .stored = c->snap->entities, .arena = c->arena};
  uint32_t err_cap = 0;
  for (uint32_t k = 0; k < n; k++) {
    const pdpe_policy_entry *pe = &ps->items[idx ? idx[k] : k];
    if (!pe->linked) continue;
    int r = eval_policy(&env, pe);
    if (r == -2) return false;
    if (r == -1 && !c->decision_only) {
      if (!push_error(c->arena, out, &err_cap, pe, &env)) return false;
    } else if (r == 1) {
      bool forbid = pe->ast->effect == PDPL_FORBID;
      if (!pdpe__idlist_push(c->arena, forbid ? forbids : permits, pe->id)) return false;
      if (forbid && c->decision_only) return true;
    }
  }
  return true;
}

/* out's reasons = a then b (either may be empty). */
static bool set_reasons(pu_arena *arena, const pdpe_idlist *a, const pdpe_idlist *b,
                        pdpe_decision *out) {
  if (a->count_only) return true;
  if (b->n == 0 || a->n == 0) {
    const pdpe_idlist *l = a->n ? a : b;
    out->reason = l->items, out->n_reason = l->n;
    return true;
  }
  out->reason = pu_arena_alloc(arena, sizeof(pu_str) * ((size_t)a->n + b->n));
  if (!out->reason) return false;
  memcpy(out->reason, a->items, sizeof(pu_str) * a->n);
  memcpy(out->reason + a->n, b->items, sizeof(pu_str) * b->n);
  out->n_reason = a->n + b->n;
  return true;
}

/* DENY by the definition alone: reason `definition:<name>:<why>`. */
static bool deny_by_definition(const pdpe_check *c, const pdpe_definition *def, const char *why,
                               pdpe_decision *out) {
  if (c->decision_only) return true;
  size_t wl = strlen(why);
  char *id = pu_arena_alloc(c->arena, 11 + def->name.len + 1 + wl + 1);
  out->reason = pu_arena_alloc(c->arena, sizeof(pu_str));
  if (!id || !out->reason) return false;
  memcpy(id, "definition:", 11);
  if (def->name.len) memcpy(id + 11, def->name.ptr, def->name.len);
  id[11 + def->name.len] = ':';
  memcpy(id + 12 + def->name.len, why, wl + 1);
  out->reason[0] = (pu_str){id, 12 + def->name.len + wl};
  out->n_reason = 1;
  return true;
}

bool pdpe__check(pdpe_check *c, pdpe_decision *out) {
  memset(out, 0, sizeof *out);
  out->decision = PDPE_DENY;
  c->fail[0] = '\0';
  const pdpe_snapshot *snap = c->snap;
  const pdpe_request *req = c->req;
  /* 1-2: a definition's own verdicts come first and alone. */
  const pdpe_definition *def = c->def;
  if (!c->def_given)
    def = pu_str_eq(req->action.type, PU_STR_LIT("Action"))
              ? pdpe_snapshot_definition(snap, req->action.id)
              : NULL;
  if (def && def->disabled) return deny_by_definition(c, def, "disabled", out);
  if (def && def->tenancy != PDPE_TENANCY_BOTH) {
    bool has_tenant = pdpe__facts_tenant(c->facts, snap, req).len > 0;
    if (has_tenant != (def->tenancy == PDPE_TENANCY_TENANT))
      return deny_by_definition(c, def, "tenancy", out);
  }
  /* 3: policies, then grants.  Grants need the principal's complete ancestor list; the
   * index then reuses it. */
  uint32_t providers = pdpe__grant_providers(snap, req, def);
  if (providers && !pdpe__facts_principal(c->facts, snap, req)) return false;
  pdpe_idlist forbids = {.count_only = c->decision_only}, permits = forbids;
  pdpe_idlist prohibits = forbids, grants = forbids;
  const pdpe_policy_set *ps = snap->policies;
  if (ps && ps->n > 0) {
    const uint32_t *idx = NULL;
    uint32_t n = ps->n;
    if (!c->scan) {
      int r = pdpe__index_candidates_pre(ps->index, req, snap->entities, c->facts->anc, c->arena,
                                         &idx, &n);
      if (r < 0) return false;
      if (r == 0) idx = NULL, n = ps->n;
    }
    if (!eval_policies(c, idx, n, &forbids, &permits, out)) return false;
    if (c->decision_only && forbids.n > 0) return true;
  }
  if (providers && !pdpe__grants_collect(snap, req, c->facts, providers, c->arena, &prohibits,
                                         &grants, c->fail, sizeof c->fail))
    return false;
  if (forbids.n > 0 || prohibits.n > 0) return set_reasons(c->arena, &forbids, &prohibits, out);
  if (permits.n > 0 || grants.n > 0) {
    out->decision = PDPE_ALLOW;
    return set_reasons(c->arena, &permits, &grants, out);
  }
  return true;
}

/* Runs a check; on failure the decision becomes a bare DENY (plus the grant lookup's
 * message as the one error, when there is one and it fits). */
static bool run(const pdpe_snapshot *snap, const pdpe_request *req, pu_arena *arena, bool scan,
                pdpe_decision *out) {
  pdpe_facts facts = {.arena = arena};
  pdpe_check c = {.snap = snap, .req = req, .arena = arena, .facts = &facts, .scan = scan};
  if (!snap) {
    memset(out, 0, sizeof *out);
    out->decision = PDPE_DENY;
    return true;
  }
  if (pdpe__check(&c, out)) return true;
  memset(out, 0, sizeof *out);
  out->decision = PDPE_DENY;
  if (c.fail[0]) {
    pdpe_eval_error *e = pu_arena_alloc(arena, sizeof *e);
    char *msg = pu_arena_strdup(arena, c.fail);
    if (e && msg) {
      *e = (pdpe_eval_error){PU_STR_LIT("grants"), pu_str_c(msg)};
      out->errors = e, out->n_errors = 1;
    }
  }
  return false;
}

bool pdpe_authorize(const pdpe_snapshot *snap, const pdpe_request *req, pu_arena *arena,
                    pdpe_decision *out) {
  return run(snap, req, arena, false, out);
}

bool pdpe_authorize_scan(const pdpe_snapshot *snap, const pdpe_request *req, pu_arena *arena,
                         pdpe_decision *out) {
  return run(snap, req, arena, true, out);
}

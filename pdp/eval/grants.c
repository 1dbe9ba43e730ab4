/* grants.c - what a check knows of its principal, the grant lookups, and ListAllowed.
 *
 * A grant (provider, key, permission, tenant) -> GRANT|PROHIBIT is exactly an
 * unconditional permit (or forbid) of `principal in <provider entity>` and
 * `action == Action::"<permission>"` for principals of that tenant.  So a check of
 * `Action::"<p>"` looks up, for each User, Role or Client uid in the principal's ancestor
 * list (the principal first: exactly the uids it is `in`, request entities overlaid on
 * stored ones), the one key (provider of the uid's type, its id, p, the principal's tenant).
 * The snapshot's pdpe_grants answers each lookup (cache/ from its pinned LMDB view); the
 * engine never holds grants.  The ancestor list is always complete: it is computed without
 * a cap (pdpe__entity_ancestors walks the overlay when a stored entity keeps no list), since
 * skipping an ancestor could skip a PROHIBIT.
 *
 * The principal's facts (tenant, ancestor lists) are computed once per check, or once per
 * ListAllowed for all its actions (pdpe_facts).  ListAllowed runs one decision-only check
 * per definition matching the prefix, each in a scratch arena reset between actions, so
 * its memory does not grow with the number of definitions; the scratch arena gets what is
 * left of the caller's arena budget.
 */
#include "pdpe_int.h"

#include <stdlib.h>
#include <string.h>

#define SCRATCH_BLOCK (16 * 1024)

pu_str pdpe__facts_tenant(pdpe_facts *f, const pdpe_snapshot *snap, const pdpe_request *req) {
  if (f->have_tenant) return f->tenant;
  f->have_tenant = true;
  f->tenant = (pu_str){"", 0};
  const pdpe_entity *e = pdpe__entity_find2(req->entities, snap->entities, req->principal);
  if (!e || e->attrs.kind != PDPE_RECORD) return f->tenant;
  const pdpe_value *t = pdpe__record_get(&e->attrs, PU_STR_LIT("tenant"));
  if (t && t->kind == PDPE_STRING) f->tenant = t->u.s;
  return f->tenant;
}

bool pdpe__facts_principal(pdpe_facts *f, const pdpe_snapshot *snap, const pdpe_request *req) {
  if (f->anc_full) return true;
  const pdpe_uid *l = NULL;
  /* Without a cap the list is complete or the arena ran out (-1); -2 cannot come back. */
  int64_t r = pdpe__entity_ancestors(req->entities, snap->entities, req->principal, UINT32_MAX,
                                     f->arena, &l);
  if (r < 1) return false;
  f->anc[0] = (pdpe_anc){l, r};
  f->anc_full = true;
  return true;
}

uint32_t pdpe__grant_providers(const pdpe_snapshot *snap, const pdpe_request *req,
                               const pdpe_definition *def) {
  const uint32_t all = PDPE_PROVIDER_BIT(PDPE_PROVIDER_ROLE) |
                       PDPE_PROVIDER_BIT(PDPE_PROVIDER_USER) |
                       PDPE_PROVIDER_BIT(PDPE_PROVIDER_CLIENT);
  if (!snap->grants.lookup || snap->grants.count == 0) return 0;
  if (!pu_str_eq(req->action.type, PU_STR_LIT("Action"))) return 0;
  if (def && def->providers) return def->providers & all;
  return all;
}

static bool provider_of(pu_str type, pdpe_provider *p, char *letter) {
  if (pu_str_eq(type, PU_STR_LIT("Role"))) {
    *p = PDPE_PROVIDER_ROLE, *letter = 'R';
  } else if (pu_str_eq(type, PU_STR_LIT("User"))) {
    *p = PDPE_PROVIDER_USER, *letter = 'U';
  } else if (pu_str_eq(type, PU_STR_LIT("Client"))) {
    *p = PDPE_PROVIDER_CLIENT, *letter = 'C';
  } else {
    return false;
  }
  return true;
}

/* Bytes that separate the parts of a grant id, escaped inside a part as %XX. */
static bool id_special(char c) {
  return c == '%' || c == '/' || c == '@';
}

static size_t id_part_len(pu_str s) {
  size_t n = s.len;
  for (size_t i = 0; i < s.len; i++) n += id_special(s.ptr[i]) ? 2 : 0;
  return n;
}

static char *id_part_put(char *w, pu_str s) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < s.len; i++) {
    char c = s.ptr[i];
    if (id_special(c)) {
      *w++ = '%', *w++ = hex[(unsigned char)c >> 4], *w++ = hex[(unsigned char)c & 15];
    } else {
      *w++ = c;
    }
  }
  return w;
}

/* `grant:<P>/<key>/<permission>[@<tenant>]` with '%', '/' and '@' inside key, permission and
 * tenant written as %25, %2F and %40, so that different grants never share an id. */
static pu_str grant_id(pu_arena *a, char letter, const pdpe_grant_key *k) {
  size_t n = 8 + id_part_len(k->key) + 1 + id_part_len(k->permission) +
             (k->tenant.len ? 1 + id_part_len(k->tenant) : 0);
  char *s = pu_arena_alloc(a, n + 1), *w = s;
  if (!s) return (pu_str){NULL, 0};
  memcpy(w, "grant:", 6), w += 6;
  *w++ = letter, *w++ = '/';
  w = id_part_put(w, k->key);
  *w++ = '/';
  w = id_part_put(w, k->permission);
  if (k->tenant.len) {
    *w++ = '@';
    w = id_part_put(w, k->tenant);
  }
  *w = '\0';
  return (pu_str){s, n};
}

static int cmp_str(const void *a, const void *b) {
  return pu_str_cmp(*(const pu_str *)a, *(const pu_str *)b);
}

bool pdpe__grants_collect(const pdpe_snapshot *snap, const pdpe_request *req, pdpe_facts *f,
                          uint32_t providers, pu_arena *arena, pdpe_idlist *prohibits,
                          pdpe_idlist *grants, char *fail, size_t fail_cap) {
  const pdpe_grants *g = &snap->grants;
  pdpe_grant_key k = {.permission = req->action.id, .tenant = pdpe__facts_tenant(f, snap, req)};
  const pdpe_anc *anc = &f->anc[0];
  for (int64_t i = 0; i < anc->n; i++) {
    char letter;
    if (!provider_of(anc->uids[i].type, &k.provider, &letter)) continue;
    if (!(providers & PDPE_PROVIDER_BIT(k.provider))) continue;
    k.key = anc->uids[i].id;
    char err[200] = "";
    int r = g->lookup(g->ctx, &k, err, sizeof err);
    if (r == PDPE_EFFECT_NONE) continue;
    if (r != PDPE_EFFECT_GRANT && r != PDPE_EFFECT_PROHIBIT) {
      snprintf(fail, fail_cap, "grant lookup %c/%.*s/%.*s failed: %s", letter,
               (int)(k.key.len > 60 ? 60 : k.key.len), k.key.ptr,
               (int)(k.permission.len > 60 ? 60 : k.permission.len), k.permission.ptr,
               r == -1 ? (err[0] ? err : "read error") : "bad effect");
      return false;
    }
    pdpe_idlist *l = r == PDPE_EFFECT_PROHIBIT ? prohibits : grants;
    pu_str id = {NULL, 0};
    if (!l->count_only && !(id = grant_id(arena, letter, &k)).ptr) return false;
    if (!pdpe__idlist_push(arena, l, id)) return false;
    if (prohibits->count_only && prohibits->n > 0) return true; /* decided: DENY */
  }
  if (!prohibits->count_only) {
    if (prohibits->n > 1) qsort(prohibits->items, prohibits->n, sizeof(pu_str), cmp_str);
    if (grants->n > 1) qsort(grants->items, grants->n, sizeof(pu_str), cmp_str);
  }
  return true;
}

/* ---- ListAllowed ---- */

/* First definition whose name is >= prefix. */
static uint32_t lower_bound(const pdpe_snapshot *s, pu_str prefix) {
  uint32_t lo = 0, hi = s->n_definitions;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (pu_str_cmp(s->definitions[mid].name, prefix) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static bool has_prefix(pu_str s, pu_str prefix) {
  return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

bool pdpe_list_allowed(const pdpe_snapshot *snap, const pdpe_request *req, pu_str prefix,
                       pu_arena *arena, pdpe_uid **out, uint32_t *n_out) {
  *out = NULL, *n_out = 0;
  if (!snap || snap->n_definitions == 0) return true;
  /* Names with the prefix are contiguous in name order. */
  uint32_t lo = lower_bound(snap, prefix), hi = lo;
  while (hi < snap->n_definitions && has_prefix(snap->definitions[hi].name, prefix)) hi++;
  if (hi == lo) return true;
  pdpe_uid *res = pu_arena_alloc(arena, sizeof(pdpe_uid) * (hi - lo));
  if (!res) return false;
  /* Hoisted: the principal's tenant and ancestors, the resource's ancestors. */
  pdpe_request r = *req;
  r.action = (pdpe_uid){PU_STR_LIT("Action"), snap->definitions[lo].name};
  pdpe_facts facts = {.arena = arena};
  pdpe__facts_tenant(&facts, snap, &r);
  if (pdpe__grant_providers(snap, &r, NULL) && !pdpe__facts_principal(&facts, snap, &r))
    return false;
  if (snap->policies && pdpe_policy_set_count(snap->policies) > 0) {
    for (int pos = 0; pos < 2; pos++) {
      if (facts.anc[pos].n != 0) continue;
      pdpe_uid u = pos == 0 ? r.principal : r.resource;
      int64_t n = pdpe__entity_ancestors(r.entities, snap->entities, u, PDPE__ANC_CAP, arena,
                                         &facts.anc[pos].uids);
      if (n == -1) return false;
      facts.anc[pos].n = n; /* -2: the index scans */
    }
  }
  pu_arena scratch;
  size_t left = 0;
  if (arena->budget) left = arena->budget > arena->used ? arena->budget - arena->used : 1;
  pu_arena_init(&scratch, SCRATCH_BLOCK, left);
  uint32_t k = 0;
  bool ok = true;
  for (uint32_t i = lo; i < hi && ok; i++) {
    const pdpe_definition *def = &snap->definitions[i];
    r.action.id = def->name;
    pdpe_check c = {.snap = snap,
                    .req = &r,
                    .arena = &scratch,
                    .facts = &facts,
                    .decision_only = true,
                    .def_given = true,
                    .def = def};
    pdpe_decision d;
    ok = pdpe__check(&c, &d);
    if (ok && d.decision == PDPE_ALLOW) res[k++] = r.action;
    pu_arena_reset(&scratch);
  }
  pu_arena_close(&scratch);
  if (!ok) return false;
  *out = res, *n_out = k;
  return true;
}

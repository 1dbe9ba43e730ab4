/* index.c - the policy index: which policies can apply to a request, found from its scope.
 *
 * Each (linked) policy is filed under its most selective scope constraint: its principal's
 * `== uid` / `in uid` / `is T in uid` if it has one, else its resource's, else its action's
 * (`== A`, `in A`, or each A of `in [A, ...]`), else the type of `principal is T`, else of
 * `resource is T`; a policy with none of these is "unindexed" and a candidate for every
 * request.  `action in []` can match nothing and is filed nowhere.  Keys are (position,
 * uid) in one open-addressing hash table; each key holds two ascending lists of policy
 * indices: "eq" entries (== uid, or the type of an `is`), matched by the request's own uid
 * only, and "in" entries, matched by the uid or any of its ancestors.
 *
 * A check lists the ancestors of its principal, resource and action once (through request
 * and stored entities, pdpe__entity_ancestors, at most ANC_CAP each, else the caller scans),
 * looks each up, adds the principal's and resource's type lists and the unindexed list, and
 * merges them into ascending unique policy indices.  A caller that already holds the
 * principal's or the resource's ancestor list (a check with grants, ListAllowed) passes it
 * in (pdpe__index_candidates_pre) instead of having it listed again.  The candidates are then
 * checked in full (scope and conditions) by authz.c, so the index only has to be a superset of the
 * policies whose scope matches; it is one, because a policy's filing constraint is part of
 * its scope: a policy that matches passes that constraint, and the request then reaches
 * the key it is filed under.  Everything a check allocates comes from its arena.
 */
#include "pdpe_int.h"

#include <stdlib.h>
#include <string.h>

#define ANC_CAP PDPE__ANC_CAP /* ancestors listed per request entity; more => scan */

enum { IX_PRINCIPAL, IX_RESOURCE, IX_ACTION, IX_PTYPE, IX_RTYPE, IX_NPOS };

typedef struct ix_slot {
  pdpe_uid key;      /* a type key is {type, ""} */
  uint32_t pos;      /* IX_*; UINT32_MAX = empty */
  uint32_t eq, n_eq; /* lists[eq .. eq + n_eq) */
  uint32_t in, n_in;
} ix_slot;

struct pdpe_index {
  ix_slot *slots;
  uint32_t mask;
  uint32_t n_keys[IX_NPOS];
  uint32_t *lists;
  uint32_t *unindexed; /* ascending */
  uint32_t n_unindexed;
};

typedef struct ix_entry {
  pdpe_uid key;
  uint32_t pos, in, idx;
} ix_entry;

static int cmp_entry(const void *a, const void *b) {
  const ix_entry *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  int c = pdpe__uid_cmp(x->key, y->key);
  if (c) return c;
  if (x->in != y->in) return x->in < y->in ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

static uint64_t slot_hash(uint32_t pos, pdpe_uid key) {
  return pdpe__uid_hash(key) ^ ((uint64_t)(pos + 1) * 0x9E3779B97F4A7C15ull);
}

static const ix_slot *find_slot(const pdpe_index *ix, uint32_t pos, pdpe_uid key) {
  uint64_t i = slot_hash(pos, key) & ix->mask;
  for (;; i = (i + 1) & ix->mask) {
    const ix_slot *s = &ix->slots[i];
    if (s->pos == UINT32_MAX) return NULL;
    if (s->pos == pos && pdpe__uid_eq(s->key, key)) return s;
  }
}

/* The uid of an `==`, `in` or `is .. in` scope (a slot's linked value), and whether it is
 * an `in`.  False for `_`, `is T` and `in [..]`. */
static bool scope_uid(const pdpl_scope *s, const pdpe_policy_entry *pe, pdpe_uid *uid,
                      uint32_t *in) {
  if (s->kind != PDPL_SCOPE_EQ && s->kind != PDPL_SCOPE_IN && s->kind != PDPL_SCOPE_IS_IN)
    return false;
  *uid = s->is_slot ? pe->slots[s->slot] : s->uid;
  *in = s->kind != PDPL_SCOPE_EQ;
  return true;
}

bool pdpe__index_build(pu_arena *arena, const pdpe_policy_entry *items, uint32_t n,
                       pdpe_index **out) {
  pdpe_index *ix = pu_arena_zalloc(arena, sizeof *ix);
  if (!ix) return false;
  /* Count entries: one per policy, one per action of an `in [..]` filed by action. */
  uint64_t ne = 0;
  for (uint32_t i = 0; i < n; i++) {
    const pdpl_policy *p = items[i].ast;
    ne += p->action.kind == PDPL_SCOPE_IN_LIST && p->action.n_list > 1 ? p->action.n_list : 1;
  }
  if (ne > (UINT32_MAX >> 3)) return false;
  ix_entry *es = malloc(sizeof(ix_entry) * (ne ? ne : 1));
  ix->unindexed = pu_arena_alloc(arena, sizeof(uint32_t) * (n ? n : 1));
  if (!es || !ix->unindexed) {
    free(es);
    return false;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    const pdpe_policy_entry *pe = &items[i];
    const pdpl_policy *p = pe->ast;
    if (!pe->linked) continue;
    pdpe_uid uid;
    uint32_t in;
    if (scope_uid(&p->principal, pe, &uid, &in))
      es[k++] = (ix_entry){uid, IX_PRINCIPAL, in, i};
    else if (scope_uid(&p->resource, pe, &uid, &in))
      es[k++] = (ix_entry){uid, IX_RESOURCE, in, i};
    else if (scope_uid(&p->action, pe, &uid, &in))
      es[k++] = (ix_entry){uid, IX_ACTION, in, i};
    else if (p->action.kind == PDPL_SCOPE_IN_LIST)
      for (uint32_t a = 0; a < p->action.n_list; a++)
        es[k++] = (ix_entry){p->action.list[a], IX_ACTION, 1, i};
    else if (p->principal.kind == PDPL_SCOPE_IS)
      es[k++] = (ix_entry){{p->principal.type, {"", 0}}, IX_PTYPE, 0, i};
    else if (p->resource.kind == PDPL_SCOPE_IS)
      es[k++] = (ix_entry){{p->resource.type, {"", 0}}, IX_RTYPE, 0, i};
    else
      ix->unindexed[ix->n_unindexed++] = i;
  }
  if (k > 1) qsort(es, k, sizeof *es, cmp_entry);
  /* Keys and lists: entries of one key are adjacent, eq ones before in ones. */
  uint32_t nk = 0;
  for (uint32_t e = 0; e < k; e++)
    nk += e == 0 || es[e].pos != es[e - 1].pos || !pdpe__uid_eq(es[e].key, es[e - 1].key);
  uint64_t cap = 8;
  while (cap < (uint64_t)nk * 2) cap <<= 1;
  ix->slots = pu_arena_alloc(arena, sizeof(ix_slot) * cap);
  ix->lists = pu_arena_alloc(arena, sizeof(uint32_t) * (k ? k : 1));
  if (!ix->slots || !ix->lists) {
    free(es);
    return false;
  }
  for (uint64_t s = 0; s < cap; s++) ix->slots[s] = (ix_slot){.pos = UINT32_MAX};
  ix->mask = (uint32_t)(cap - 1);
  ix_slot *cur = NULL;
  uint32_t nl = 0;
  for (uint32_t e = 0; e < k; e++) {
    if (!cur || es[e].pos != cur->pos || !pdpe__uid_eq(es[e].key, cur->key)) {
      uint64_t h = slot_hash(es[e].pos, es[e].key) & ix->mask;
      while (ix->slots[h].pos != UINT32_MAX) h = (h + 1) & ix->mask;
      cur = &ix->slots[h];
      *cur = (ix_slot){.key = es[e].key, .pos = es[e].pos, .eq = nl, .in = nl};
      ix->n_keys[es[e].pos]++;
    } else if (es[e].in == es[e - 1].in && es[e].idx == es[e - 1].idx) {
      continue; /* `action in [A, A]` */
    }
    ix->lists[nl++] = es[e].idx;
    if (es[e].in)
      cur->n_in++;
    else
      cur->n_eq++, cur->in = nl;
  }
  free(es);
  *out = ix;
  return true;
}

typedef struct part {
  const uint32_t *p;
  uint32_t n;
} part;

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int pdpe__index_candidates(const pdpe_index *ix, const pdpe_request *req,
                           const pdpe_entities *stored, pu_arena *arena, const uint32_t **out,
                           uint32_t *n_out) {
  return pdpe__index_candidates_pre(ix, req, stored, NULL, arena, out, n_out);
}

int pdpe__index_candidates_pre(const pdpe_index *ix, const pdpe_request *req,
                               const pdpe_entities *stored, const pdpe_anc pre[2], pu_arena *arena,
                               const uint32_t **out, uint32_t *n_out) {
  *out = NULL, *n_out = 0;
  if (!ix) return 1;
  const pdpe_uid vs[3] = {req->principal, req->resource, req->action};
  const pdpe_uid *anc[3] = {NULL, NULL, NULL};
  uint32_t n_anc[3] = {0, 0, 0}, max_parts = 3;
  for (uint32_t pos = 0; pos < 3; pos++) {
    if (ix->n_keys[pos] == 0) continue;
    int64_t r;
    if (pos < 2 && pre && pre[pos].n != 0) {
      r = pre[pos].n > (int64_t)ANC_CAP ? -2 : pre[pos].n;
      anc[pos] = pre[pos].uids;
    } else {
      r = pdpe__entity_ancestors(req->entities, stored, vs[pos], ANC_CAP, arena, &anc[pos]);
    }
    if (r == -2) return 0;
    if (r < 0) return -1;
    n_anc[pos] = (uint32_t)r;
    max_parts += 2 * (uint32_t)r;
  }
  part small[16], *parts = small;
  if (max_parts > 16) {
    parts = pu_arena_alloc(arena, sizeof(part) * max_parts);
    if (!parts) return -1;
  }
  uint32_t np = 0;
  uint64_t total = 0;
#define ADD(ptr, cnt)                                                                              \
  do {                                                                                             \
    if ((cnt) > 0) parts[np++] = (part){(ptr), (cnt)}, total += (cnt);                             \
  } while (0)
  for (uint32_t pos = 0; pos < 3; pos++) {
    for (uint32_t a = 0; a < n_anc[pos]; a++) {
      const ix_slot *s = find_slot(ix, pos, anc[pos][a]);
      if (!s) continue;
      if (a == 0) ADD(ix->lists + s->eq, s->n_eq);
      ADD(ix->lists + s->in, s->n_in);
    }
  }
  if (ix->n_keys[IX_PTYPE]) {
    const ix_slot *s = find_slot(ix, IX_PTYPE, (pdpe_uid){req->principal.type, {"", 0}});
    if (s) ADD(ix->lists + s->eq, s->n_eq);
  }
  if (ix->n_keys[IX_RTYPE]) {
    const ix_slot *s = find_slot(ix, IX_RTYPE, (pdpe_uid){req->resource.type, {"", 0}});
    if (s) ADD(ix->lists + s->eq, s->n_eq);
  }
  ADD(ix->unindexed, ix->n_unindexed);
#undef ADD
  if (np == 0) return 1;
  if (np == 1) {
    *out = parts[0].p, *n_out = parts[0].n;
    return 1;
  }
  uint32_t *c = pu_arena_alloc(arena, sizeof(uint32_t) * total);
  if (!c) return -1;
  uint32_t n = 0;
  for (uint32_t i = 0; i < np; i++)
    memcpy(c + n, parts[i].p, sizeof(uint32_t) * parts[i].n), n += parts[i].n;
  if (n <= 32) {
    for (uint32_t i = 1; i < n; i++) {
      uint32_t v = c[i], j = i;
      for (; j > 0 && c[j - 1] > v; j--) c[j] = c[j - 1];
      c[j] = v;
    }
  } else {
    qsort(c, n, sizeof(uint32_t), cmp_u32);
  }
  uint32_t u = 0;
  for (uint32_t i = 0; i < n; i++)
    if (u == 0 || c[u - 1] != c[i]) c[u++] = c[i];
  *out = c, *n_out = u;
  return 1;
}

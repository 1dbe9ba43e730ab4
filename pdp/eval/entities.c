/* entities.c - entity sets: Cedar's entity JSON, the uid index and the hierarchy.
 *
 * A pdpe_entities owns (in its arena) the entities, an open-addressing hash index from uid
 * to entity, and for each entity the sorted, deduplicated list of all its ancestors (the
 * transitive closure of `parents`, computed once at build with a visited mark so cycles
 * terminate).  `a in b` against one entity set is then a binary search.  A request may
 * bring its own entities; they are looked up first and win over stored ones with the same
 * uid, and `in` then walks parents through both sets (pdpe__entity_in), again cycle-safe.
 */
#include "pdpe_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct pdpe_entities {
  pdpe_entity *items;
  uint32_t n;
  uint32_t *index;     /* hash slots holding item index + 1; 0 = empty */
  uint32_t index_mask; /* slot count - 1 (a power of two) */
  pdpe_uid **anc;      /* anc[i]: ancestors of items[i], sorted by pdpe__uid_cmp */
  uint32_t *n_anc;
};

static uint64_t uid_hash(pdpe_uid u) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < u.type.len; i++) h = (h ^ (unsigned char)u.type.ptr[i]) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (size_t i = 0; i < u.id.len; i++) h = (h ^ (unsigned char)u.id.ptr[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

uint32_t pdpe_entities_count(const pdpe_entities *es) { return es ? es->n : 0; }

static int64_t find_index(const pdpe_entities *es, pdpe_uid uid) {
  if (!es || es->n == 0) return -1;
  uint64_t i = uid_hash(uid) & es->index_mask;
  for (;;) {
    uint32_t s = es->index[i];
    if (s == 0) return -1;
    if (pdpe__uid_eq(es->items[s - 1].uid, uid)) return s - 1;
    i = (i + 1) & es->index_mask;
  }
}

const pdpe_entity *pdpe_entities_find(const pdpe_entities *es, pdpe_uid uid) {
  int64_t i = find_index(es, uid);
  return i < 0 ? NULL : &es->items[i];
}

const pdpe_entity *pdpe__entity_find2(const pdpe_entities *req, const pdpe_entities *stored,
                                      pdpe_uid uid) {
  const pdpe_entity *e = pdpe_entities_find(req, uid);
  return e ? e : pdpe_entities_find(stored, uid);
}

static int cmp_uid_qsort(const void *a, const void *b) {
  return pdpe__uid_cmp(*(const pdpe_uid *)a, *(const pdpe_uid *)b);
}

/* Scratch space for the closure walk (malloc'd, freed at the end of the build). */
typedef struct scratch {
  pdpe_uid *buf;
  size_t n, cap;
  uint32_t *stack;
  size_t sn, scap;
} scratch;

static bool push_uid(scratch *s, pdpe_uid u) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    pdpe_uid *nb = realloc(s->buf, nc * sizeof *nb);
    if (!nb) return false;
    s->buf = nb, s->cap = nc;
  }
  s->buf[s->n++] = u;
  return true;
}

static bool push_idx(scratch *s, uint32_t i) {
  if (s->sn == s->scap) {
    size_t nc = s->scap ? s->scap * 2 : 64;
    uint32_t *nb = realloc(s->stack, nc * sizeof *nb);
    if (!nb) return false;
    s->stack = nb, s->scap = nc;
  }
  s->stack[s->sn++] = i;
  return true;
}

/* Ancestors of every entity: a depth-first walk from each one over `parents`, marking
 * visited entities with the walk's number so a cycle is entered at most once. */
static bool build_closure(pu_arena *arena, pdpe_entities *es, char *err, size_t cap) {
  es->anc = pu_arena_zalloc(arena, sizeof(pdpe_uid *) * es->n);
  es->n_anc = pu_arena_zalloc(arena, sizeof(uint32_t) * es->n);
  uint32_t *mark = calloc(es->n, sizeof(uint32_t));
  scratch s = {0};
  bool ok = es->anc && es->n_anc && mark;
  for (uint32_t i = 0; ok && i < es->n; i++) {
    s.n = s.sn = 0;
    mark[i] = i + 1;
    ok = push_idx(&s, i);
    while (ok && s.sn > 0) {
      const pdpe_entity *e = &es->items[s.stack[--s.sn]];
      for (uint32_t p = 0; ok && p < e->n_parents; p++) {
        int64_t pi = find_index(es, e->parents[p]);
        if (pi >= 0) {
          if (mark[pi] == i + 1) continue;
          mark[pi] = i + 1;
          ok = push_idx(&s, (uint32_t)pi);
        }
        if (ok && !(pi == (int64_t)i)) ok = push_uid(&s, e->parents[p]);
      }
    }
    if (!ok) break;
    if (s.n > 1) qsort(s.buf, s.n, sizeof(pdpe_uid), cmp_uid_qsort);
    size_t k = 0;
    for (size_t j = 0; j < s.n; j++)
      if (k == 0 || !pdpe__uid_eq(s.buf[k - 1], s.buf[j])) s.buf[k++] = s.buf[j];
    if (k > 0) {
      es->anc[i] = pu_arena_alloc(arena, k * sizeof(pdpe_uid));
      if (!es->anc[i]) ok = false;
      else memcpy(es->anc[i], s.buf, k * sizeof(pdpe_uid));
    }
    es->n_anc[i] = (uint32_t)k;
  }
  free(mark);
  free(s.buf);
  free(s.stack);
  if (!ok) snprintf(err, cap, "out of memory computing the entity hierarchy");
  return ok;
}

bool pdpe_entities_build(pu_arena *arena, pdpe_entity *items, uint32_t n, const char *name,
                         pdpe_entities **out, char *err, size_t err_cap) {
  if (!name) name = "entities";
  pdpe_entities *es = pu_arena_zalloc(arena, sizeof *es);
  if (!es) goto oom;
  es->items = items;
  es->n = n;
  if (n > (UINT32_MAX >> 2)) {
    snprintf(err, err_cap, "%s: too many entities", name);
    return false;
  }
  uint32_t slots = 8;
  while (slots < n * 2) slots <<= 1;
  es->index = pu_arena_zalloc(arena, sizeof(uint32_t) * slots);
  if (!es->index) goto oom;
  es->index_mask = slots - 1;
  for (uint32_t k = 0; k < n; k++) {
    uint64_t i = uid_hash(items[k].uid) & es->index_mask;
    while (es->index[i] != 0) {
      if (pdpe__uid_eq(items[es->index[i] - 1].uid, items[k].uid)) {
        pdpe_uid u = items[k].uid;
        snprintf(err, err_cap, "%s: entities[%u]: duplicate entity uid %.*s::\"%.*s\" (first at entities[%u])", name,
                 k, (int)(u.type.len > 100 ? 100 : u.type.len), u.type.ptr ? u.type.ptr : "",
                 (int)(u.id.len > 100 ? 100 : u.id.len), u.id.ptr ? u.id.ptr : "", es->index[i] - 1);
        return false;
      }
      i = (i + 1) & es->index_mask;
    }
    es->index[i] = k + 1;
  }
  if (!build_closure(arena, es, err, err_cap)) return false;
  *out = es;
  return true;
oom:
  snprintf(err, err_cap, "%s: out of memory", name);
  return false;
}

static bool uid_in_closure(const pdpe_entities *es, int64_t i, pdpe_uid b) {
  uint32_t lo = 0, hi = es->n_anc[i];
  const pdpe_uid *a = es->anc[i];
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = pdpe__uid_cmp(a[mid], b);
    if (c == 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/* A small growable open-addressing set of uids in the request arena. */
typedef struct uidset {
  pdpe_uid *slots;
  bool *used;
  uint32_t cap, n;
} uidset;

static int uidset_add(uidset *s, pdpe_uid u, pu_arena *arena) {
  if ((s->n + 1) * 2 > s->cap) {
    uidset ns = {.cap = s->cap ? s->cap * 2 : 32};
    ns.slots = pu_arena_alloc(arena, sizeof(pdpe_uid) * ns.cap);
    ns.used = pu_arena_zalloc(arena, ns.cap);
    if (!ns.slots || !ns.used) return -1;
    for (uint32_t i = 0; i < s->cap; i++)
      if (s->used[i]) uidset_add(&ns, s->slots[i], arena);
    *s = ns;
  }
  uint32_t i = (uint32_t)(uid_hash(u) & (s->cap - 1));
  while (s->used[i]) {
    if (pdpe__uid_eq(s->slots[i], u)) return 0;
    i = (i + 1) & (s->cap - 1);
  }
  s->used[i] = true;
  s->slots[i] = u;
  s->n++;
  return 1;
}

int pdpe__entity_in(const pdpe_entities *req, const pdpe_entities *stored, pdpe_uid a,
                    pdpe_uid b, pu_arena *arena) {
  if (pdpe__uid_eq(a, b)) return 1;
  if (!req || req->n == 0) {
    int64_t i = find_index(stored, a);
    return i >= 0 && uid_in_closure(stored, i, b);
  }
  if (!pdpe_entities_find(req, a)) {
    /* A stored entity whose closure never reaches a request entity is answered from the
     * precomputed closure; otherwise walk. */
    int64_t i = find_index(stored, a);
    if (i < 0) return 0;
    bool touches = false;
    for (uint32_t k = 0; k < stored->n_anc[i] && !touches; k++)
      touches = pdpe_entities_find(req, stored->anc[i][k]) != NULL;
    if (!touches) return uid_in_closure(stored, i, b);
  }
  /* Breadth-first over the overlay; `seen` doubles as the queue's membership test. */
  uidset seen = {0};
  size_t qcap = 32, qh = 0, qt = 0;
  pdpe_uid *q = pu_arena_alloc(arena, sizeof(pdpe_uid) * qcap);
  if (!q || uidset_add(&seen, a, arena) < 0) return -1;
  q[qt++] = a;
  while (qh < qt) {
    const pdpe_entity *e = pdpe__entity_find2(req, stored, q[qh++]);
    if (!e) continue;
    for (uint32_t p = 0; p < e->n_parents; p++) {
      if (pdpe__uid_eq(e->parents[p], b)) return 1;
      int r = uidset_add(&seen, e->parents[p], arena);
      if (r < 0) return -1;
      if (r == 0) continue;
      if (qt == qcap) {
        pdpe_uid *nq = pu_arena_alloc(arena, sizeof(pdpe_uid) * qcap * 2);
        if (!nq) return -1;
        memcpy(nq, q, sizeof(pdpe_uid) * qt);
        q = nq, qcap *= 2;
      }
      q[qt++] = e->parents[p];
    }
  }
  return 0;
}

/* ---- Cedar's entity JSON ---- */

static bool bad(char *err, size_t cap, const char *name, const char *where, const char *msg) {
  snprintf(err, cap, "%s: %s: %s", name, where, msg);
  return false;
}

static bool parse_item(pu_arena *arena, const json_t *j, uint32_t k, const char *name, pdpe_entity *e,
                       char *err, size_t cap) {
  char where[96];
  snprintf(where, sizeof where, "entities[%u]", k);
  if (!json_is_object(j)) return bad(err, cap, name, where, "expected an object with uid, attrs and parents");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    if (strcmp(key, "uid") && strcmp(key, "attrs") && strcmp(key, "parents") && strcmp(key, "tags")) {
      char m[160];
      snprintf(m, sizeof m, "unknown field '%.60s' (expected uid, attrs, parents, tags)", key);
      return bad(err, cap, name, where, m);
    }
  }
  snprintf(where, sizeof where, "entities[%u].uid", k);
  if (!pdpe__uid_from_json(arena, json_object_get(j, "uid"), &e->uid))
    return bad(err, cap, name, where, "expected an object with type and id");
  const json_t *parents = json_object_get(j, "parents");
  e->n_parents = 0;
  e->parents = NULL;
  if (parents && !json_is_array(parents)) {
    snprintf(where, sizeof where, "entities[%u].parents", k);
    return bad(err, cap, name, where, "expected an array of entity uids");
  }
  size_t np = parents ? json_array_size(parents) : 0;
  if (np) {
    e->parents = pu_arena_alloc(arena, sizeof(pdpe_uid) * np);
    if (!e->parents) return bad(err, cap, name, where, "out of memory");
  }
  for (size_t p = 0; p < np; p++) {
    snprintf(where, sizeof where, "entities[%u].parents[%zu]", k, p);
    if (!pdpe__uid_from_json(arena, json_array_get(parents, p), &e->parents[p]))
      return bad(err, cap, name, where, "expected an object with type and id");
  }
  e->n_parents = (uint32_t)np;
  static const char *fields[2] = {"attrs", "tags"};
  pdpe_value *dst[2] = {&e->attrs, &e->tags};
  for (int f = 0; f < 2; f++) {
    const json_t *r = json_object_get(j, fields[f]);
    *dst[f] = (pdpe_value){.kind = PDPE_RECORD};
    if (!r) continue;
    snprintf(where, sizeof where, "%s: entities[%u].%s", name, k, fields[f]);
    if (!json_is_object(r) || json_object_get(r, "__extn") || json_object_get(r, "__entity")) {
      snprintf(err, cap, "%s: expected an object", where);
      return false;
    }
    if (!pdpe_value_from_json(arena, r, where, dst[f], err, cap)) return false;
  }
  return true;
}

bool pdpe_entities_from_json(pu_arena *arena, const struct json_t *json, const char *name,
                             pdpe_entities **out, char *err, size_t err_cap) {
  if (!name) name = "entities";
  if (!json_is_array(json)) {
    snprintf(err, err_cap, "%s: expected an array of entities", name);
    return false;
  }
  size_t n = json_array_size(json);
  if (n > (UINT32_MAX >> 2)) {
    snprintf(err, err_cap, "%s: too many entities", name);
    return false;
  }
  pdpe_entity *items = n ? pu_arena_zalloc(arena, sizeof(pdpe_entity) * n) : NULL;
  if (n && !items) {
    snprintf(err, err_cap, "%s: out of memory", name);
    return false;
  }
  for (size_t k = 0; k < n; k++)
    if (!parse_item(arena, json_array_get(json, k), (uint32_t)k, name, &items[k], err, err_cap)) return false;
  return pdpe_entities_build(arena, items, (uint32_t)n, name, out, err, err_cap);
}

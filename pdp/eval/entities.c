/* entities.c - entity sets: Cedar's entity JSON, the uid index and the hierarchy.
 *
 * A pdpe_entities owns (in its arena) the entities and an open-addressing hash index over
 * the hierarchy's nodes: the entities themselves, then every parent uid that is not an
 * entity ("ghost" nodes: a parent may be named without being described).  Parents are
 * resolved to node numbers once.  The parent graph must be acyclic, as in Cedar ("input
 * graph has a cycle"); the build rejects a cycle naming an entity on it.  A depth-first
 * walk gives a topological order, and each entity's ancestors are then merged from its
 * parents' in that order (linear in the output, a stamp array dedups) into a sorted list of
 * node numbers, so `a in b` is a binary search.  To keep deep or wide hierarchies cheap,
 * an entity with more than CLOSURE_CAP ancestors keeps no list and `in` walks the graph
 * from it instead.  A request may bring its own entities; they are looked up first and win
 * over stored ones with the same uid, and `in` then walks parents through both sets
 * (pdpe__entity_in) with a visited guard, in a small on-stack buffer when it fits.
 */
#include "pdpe_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CLOSURE_CAP 256u      /* ancestors kept per entity; more => walk at query time */
#define NO_CLOSURE UINT32_MAX /* n_anc value of an entity without a kept list */

struct pdpe_entities {
  pdpe_entity *items;
  uint32_t n;          /* entities: nodes 0..n-1 */
  uint32_t n_nodes;    /* n + ghost parents */
  pdpe_uid *ghosts;    /* uids of nodes n..n_nodes-1 */
  uint32_t *index;     /* hash slots holding node number + 1; 0 = empty */
  uint32_t index_mask; /* slot count - 1 (a power of two) */
  uint32_t *pstart;    /* parents of entity i: pnode[pstart[i] .. pstart[i+1]) */
  uint32_t *pnode;
  uint32_t **anc;  /* anc[i]: ancestor node numbers of entity i, sorted */
  uint32_t *n_anc; /* or NO_CLOSURE */
};

uint64_t pdpe__uid_hash(pdpe_uid u) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < u.type.len; i++) h = (h ^ (unsigned char)u.type.ptr[i]) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (size_t i = 0; i < u.id.len; i++) h = (h ^ (unsigned char)u.id.ptr[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

uint32_t pdpe_entities_count(const pdpe_entities *es) {
  return es ? es->n : 0;
}

static pdpe_uid node_uid(const pdpe_entities *es, uint32_t k) {
  return k < es->n ? es->items[k].uid : es->ghosts[k - es->n];
}

/* Node number of `uid` (entity or ghost), -1 when absent. */
static int64_t find_node(const pdpe_entities *es, pdpe_uid uid) {
  if (!es || es->n == 0) return -1;
  uint64_t i = pdpe__uid_hash(uid) & es->index_mask;
  for (;;) {
    uint32_t s = es->index[i];
    if (s == 0) return -1;
    if (pdpe__uid_eq(node_uid(es, s - 1), uid)) return s - 1;
    i = (i + 1) & es->index_mask;
  }
}

static int64_t find_index(const pdpe_entities *es, pdpe_uid uid) {
  int64_t k = find_node(es, uid);
  return k >= 0 && k < (int64_t)es->n ? k : -1;
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

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static bool fail_uid(char *err, size_t cap, const char *name, const char *what, pdpe_uid u) {
  snprintf(err, cap, "%s: %s %.*s::\"%.*s\"", name, what,
           (int)(u.type.len > 100 ? 100 : u.type.len), u.type.ptr ? u.type.ptr : "",
           (int)(u.id.len > 100 ? 100 : u.id.len), u.id.ptr ? u.id.ptr : "");
  return false;
}

/* Inserts node k into the index; false when its uid is already there (*dup = that node). */
static bool index_add(pdpe_entities *es, uint32_t k, uint32_t *dup) {
  pdpe_uid u = node_uid(es, k);
  uint64_t i = pdpe__uid_hash(u) & es->index_mask;
  while (es->index[i] != 0) {
    if (pdpe__uid_eq(node_uid(es, es->index[i] - 1), u)) {
      *dup = es->index[i] - 1;
      return false;
    }
    i = (i + 1) & es->index_mask;
  }
  es->index[i] = k + 1;
  return true;
}

/* Cycle check and topological order (parents first) by an iterative depth-first walk;
 * then the capped ancestor lists in that order. */
static bool build_hierarchy(pu_arena *arena, pdpe_entities *es, const char *name, char *err,
                            size_t cap) {
  uint32_t n = es->n;
  es->anc = pu_arena_zalloc(arena, sizeof(uint32_t *) * (n ? n : 1));
  es->n_anc = pu_arena_zalloc(arena, sizeof(uint32_t) * (n ? n : 1));
  uint8_t *color = calloc(n ? n : 1, 1); /* 0 new, 1 on the walk's path, 2 done */
  uint32_t *order = malloc(sizeof(uint32_t) * (n ? n : 1)), n_order = 0;
  uint32_t *stack = malloc(sizeof(uint32_t) * (n ? n : 1)),
           *next = malloc(sizeof(uint32_t) * (n ? n : 1));
  uint32_t *stamp = calloc(es->n_nodes ? es->n_nodes : 1, sizeof(uint32_t));
  uint32_t *buf = malloc(sizeof(uint32_t) * (CLOSURE_CAP + 1));
  bool ok = es->anc && es->n_anc && color && order && stack && next && stamp && buf;
  if (!ok) snprintf(err, cap, "%s: out of memory computing the entity hierarchy", name);
  for (uint32_t r = 0; ok && r < n; r++) {
    if (color[r]) continue;
    uint32_t sp = 0;
    stack[sp] = r, next[sp] = es->pstart[r], sp++, color[r] = 1;
    while (ok && sp > 0) {
      uint32_t v = stack[sp - 1];
      if (next[sp - 1] < es->pstart[v + 1]) {
        uint32_t p = es->pnode[next[sp - 1]++];
        if (p >= n || color[p] == 2) continue;
        if (color[p] == 1) {
          ok =
              fail_uid(err, cap, name, "entity hierarchy has a cycle containing", es->items[p].uid);
          break;
        }
        color[p] = 1, stack[sp] = p, next[sp] = es->pstart[p], sp++;
      } else {
        color[v] = 2, order[n_order++] = v, sp--;
      }
    }
  }
  for (uint32_t o = 0; ok && o < n_order; o++) {
    uint32_t i = order[o], k = 0;
    bool capped = false;
    for (uint32_t q = es->pstart[i]; q < es->pstart[i + 1] && !capped; q++) {
      uint32_t p = es->pnode[q];
      if (stamp[p] != i + 1) stamp[p] = i + 1, capped = k == CLOSURE_CAP, buf[k++] = p;
      if (p >= n || capped) continue;
      if (es->n_anc[p] == NO_CLOSURE) capped = true;
      for (uint32_t a = 0; !capped && a < es->n_anc[p]; a++) {
        uint32_t x = es->anc[p][a];
        if (stamp[x] != i + 1) stamp[x] = i + 1, capped = k == CLOSURE_CAP, buf[k++] = x;
      }
    }
    if (capped) {
      es->n_anc[i] = NO_CLOSURE;
      continue;
    }
    if (k > 1) qsort(buf, k, sizeof(uint32_t), cmp_u32);
    if (k) {
      es->anc[i] = pu_arena_alloc(arena, sizeof(uint32_t) * k);
      if (!es->anc[i]) {
        ok = false;
        snprintf(err, cap, "%s: out of memory computing the entity hierarchy", name);
        break;
      }
      memcpy(es->anc[i], buf, sizeof(uint32_t) * k);
    }
    es->n_anc[i] = k;
  }
  free(color), free(order), free(stack), free(next), free(stamp), free(buf);
  return ok;
}

bool pdpe_entities_build(pu_arena *arena, pdpe_entity *items, uint32_t n, const char *name,
                         pdpe_entities **out, char *err, size_t err_cap) {
  if (!name) name = "entities";
  pdpe_entities *es = pu_arena_zalloc(arena, sizeof *es);
  if (!es) goto oom;
  es->items = items;
  es->n = n;
  uint64_t np = 0;
  for (uint32_t k = 0; k < n; k++) np += items[k].n_parents;
  if ((uint64_t)n + np > (UINT32_MAX >> 3)) { /* keeps node numbers and the slot count in 32 bits */
    snprintf(err, err_cap, "%s: too many entities or parents", name);
    return false;
  }
  uint64_t slots = 8;
  while (slots < (n + np) * 2) slots <<= 1;
  es->index = pu_arena_zalloc(arena, sizeof(uint32_t) * slots);
  es->ghosts = np ? pu_arena_alloc(arena, sizeof(pdpe_uid) * np) : NULL;
  es->pstart = pu_arena_alloc(arena, sizeof(uint32_t) * (n + 1));
  es->pnode = np ? pu_arena_alloc(arena, sizeof(uint32_t) * np) : NULL;
  if (!es->index || !es->pstart || (np && (!es->ghosts || !es->pnode))) goto oom;
  es->index_mask = (uint32_t)(slots - 1);
  es->n_nodes = n;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t dup;
    if (!index_add(es, k, &dup)) {
      char what[96];
      snprintf(what, sizeof what, "entities[%u]: duplicate entity uid", k);
      fail_uid(err, err_cap, name, what, items[k].uid);
      snprintf(err + strlen(err), err_cap > strlen(err) ? err_cap - strlen(err) : 0,
               " (first at entities[%u])", dup);
      return false;
    }
  }
  uint32_t q = 0;
  for (uint32_t k = 0; k < n; k++) {
    es->pstart[k] = q;
    for (uint32_t p = 0; p < items[k].n_parents; p++) {
      int64_t node = find_node(es, items[k].parents[p]);
      if (node < 0) {
        node = es->n_nodes;
        es->ghosts[node - n] = items[k].parents[p];
        uint32_t dup;
        index_add(es, (uint32_t)node, &dup);
        es->n_nodes++;
      }
      es->pnode[q++] = (uint32_t)node;
    }
  }
  es->pstart[n] = q;
  if (!build_hierarchy(arena, es, name, err, err_cap)) return false;
  *out = es;
  return true;
oom:
  snprintf(err, err_cap, "%s: out of memory", name);
  return false;
}

static bool in_closure(const pdpe_entities *es, uint32_t i, uint32_t b) {
  uint32_t lo = 0, hi = es->n_anc[i];
  const uint32_t *a = es->anc[i];
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (a[mid] == b) return true;
    if (a[mid] < b)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* The walk's visited set and queue: uids in a small on-stack array scanned linearly, moved
 * to an arena hash set when it outgrows that. */
#define WALK_SMALL 32

typedef struct walk {
  pdpe_uid small[WALK_SMALL];
  pdpe_uid *q; /* queue = every uid seen, in order */
  uint32_t qh, qt, qcap;
  uint32_t *slots; /* hash of q positions + 1, once q outgrows `small` */
  uint32_t mask;
  pu_arena *arena;
} walk;

static void walk_slot_put(walk *w, uint32_t pos) {
  uint64_t i = pdpe__uid_hash(w->q[pos]) & w->mask;
  while (w->slots[i]) i = (i + 1) & w->mask;
  w->slots[i] = pos + 1;
}

/* 1 when added, 0 when already seen, -1 when the arena ran out. */
static int walk_add(walk *w, pdpe_uid u) {
  if (!w->slots) {
    for (uint32_t k = 0; k < w->qt; k++)
      if (pdpe__uid_eq(w->q[k], u)) return 0;
  } else {
    uint64_t i = pdpe__uid_hash(u) & w->mask;
    for (; w->slots[i]; i = (i + 1) & w->mask)
      if (pdpe__uid_eq(w->q[w->slots[i] - 1], u)) return 0;
  }
  if (w->qt == w->qcap) {
    uint32_t nc = w->qcap * 4;
    pdpe_uid *nq = pu_arena_alloc(w->arena, sizeof(pdpe_uid) * nc);
    uint32_t *ns = pu_arena_zalloc(w->arena, sizeof(uint32_t) * nc * 2);
    if (!nq || !ns) return -1;
    memcpy(nq, w->q, sizeof(pdpe_uid) * w->qt);
    w->q = nq, w->qcap = nc, w->slots = ns, w->mask = nc * 2 - 1;
    for (uint32_t k = 0; k < w->qt; k++) walk_slot_put(w, k);
  }
  w->q[w->qt++] = u;
  if (w->slots) walk_slot_put(w, w->qt - 1);
  return 1;
}

int pdpe__entity_in(const pdpe_entities *req, const pdpe_entities *stored, pdpe_uid a, pdpe_uid b,
                    pu_arena *arena) {
  if (pdpe__uid_eq(a, b)) return 1;
  if (!pdpe_entities_find(req, a)) {
    /* A stored entity whose kept ancestors include no request entity is answered from its
     * list; otherwise (or without a list) walk. */
    int64_t i = find_index(stored, a);
    if (i < 0) return 0;
    if (stored->n_anc[i] != NO_CLOSURE) {
      bool touches = false;
      for (uint32_t k = 0; req && req->n && k < stored->n_anc[i] && !touches; k++)
        touches = pdpe_entities_find(req, node_uid(stored, stored->anc[i][k]));
      if (!touches) {
        int64_t bn = find_node(stored, b);
        return bn >= 0 && in_closure(stored, (uint32_t)i, (uint32_t)bn);
      }
    }
  }
  /* Breadth-first through the overlay; every uid is queued once (cycles end). */
  walk w = {.qcap = WALK_SMALL, .arena = arena};
  w.q = w.small;
  if (walk_add(&w, a) < 0) return -1;
  while (w.qh < w.qt) {
    const pdpe_entity *e = pdpe__entity_find2(req, stored, w.q[w.qh++]);
    if (!e) continue;
    for (uint32_t p = 0; p < e->n_parents; p++) {
      if (pdpe__uid_eq(e->parents[p], b)) return 1;
      if (walk_add(&w, e->parents[p]) < 0) return -1;
    }
  }
  return 0;
}

int64_t pdpe__entity_ancestors(const pdpe_entities *req, const pdpe_entities *stored, pdpe_uid a,
                               uint32_t cap, pu_arena *arena, const pdpe_uid **out) {
  if (!pdpe_entities_find(req, a)) {
    /* Same shortcut as pdpe__entity_in: a kept list that touches no request entity. */
    int64_t i = find_index(stored, a);
    if (i < 0 || stored->n_anc[i] == 0) {
      pdpe_uid *one = pu_arena_alloc(arena, sizeof(pdpe_uid));
      if (!one) return -1;
      one[0] = a, *out = one;
      return 1;
    }
    uint32_t n = stored->n_anc[i];
    if (n != NO_CLOSURE) {
      bool touches = false;
      for (uint32_t k = 0; req && req->n && k < n && !touches; k++)
        touches = pdpe_entities_find(req, node_uid(stored, stored->anc[i][k]));
      if (!touches) {
        if (n >= cap) return -2;
        pdpe_uid *l = pu_arena_alloc(arena, sizeof(pdpe_uid) * (n + 1));
        if (!l) return -1;
        l[0] = a;
        for (uint32_t k = 0; k < n; k++) l[k + 1] = node_uid(stored, stored->anc[i][k]);
        *out = l;
        return n + 1;
      }
    }
  }
  walk w = {.qcap = WALK_SMALL, .arena = arena};
  w.q = w.small;
  if (walk_add(&w, a) < 0) return -1;
  while (w.qh < w.qt) {
    const pdpe_entity *e = pdpe__entity_find2(req, stored, w.q[w.qh++]);
    if (!e) continue;
    for (uint32_t p = 0; p < e->n_parents; p++) {
      if (walk_add(&w, e->parents[p]) < 0) return -1;
      if (w.qt > cap) return -2;
    }
  }
  if (w.q == w.small) {
    pdpe_uid *l = pu_arena_alloc(arena, sizeof(pdpe_uid) * w.qt);
    if (!l) return -1;
    memcpy(l, w.small, sizeof(pdpe_uid) * w.qt);
    w.q = l;
  }
  *out = w.q;
  return w.qt;
}

/* ---- Cedar's entity JSON ---- */

static bool bad(char *err, size_t cap, const char *name, const char *where, const char *msg) {
  snprintf(err, cap, "%s: %s: %s", name, where, msg);
  return false;
}

static bool parse_item(pu_arena *arena, const json_t *j, uint32_t k, const char *name,
                       pdpe_entity *e, char *err, size_t cap) {
  char where[96];
  snprintf(where, sizeof where, "entities[%u]", k);
  if (!json_is_object(j))
    return bad(err, cap, name, where, "expected an object with uid, attrs and parents");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    if (strcmp(key, "uid") && strcmp(key, "attrs") && strcmp(key, "parents") &&
        strcmp(key, "tags")) {
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

bool pdpe__entities_parse(pu_arena *arena, const struct json_t *json, const char *name,
                          pdpe_entity **items_out, uint32_t *n_out, char *err, size_t err_cap) {
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
    if (!parse_item(arena, json_array_get(json, k), (uint32_t)k, name, &items[k], err, err_cap))
      return false;
  *items_out = items, *n_out = (uint32_t)n;
  return true;
}

bool pdpe_entities_from_json(pu_arena *arena, const struct json_t *json, const char *name,
                             pdpe_entities **out, char *err, size_t err_cap) {
  pdpe_entity *items;
  uint32_t n;
  if (!name) name = "entities";
  if (!pdpe__entities_parse(arena, json, name, &items, &n, err, err_cap)) return false;
  return pdpe_entities_build(arena, items, n, name, out, err, err_cap);
}

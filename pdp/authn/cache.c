/* cache.c - the verified-token cache: SHA-256 of the token -> the principal it maps to.
 *
 * An open-addressing table (linear probing, backward-shift deletion, at most half full)
 * of pointers to entries; each entry is one malloc'd block: the entry header, then the
 * principal and the token's sub/jti copied behind it, so an entry's bytes are exact and
 * freeing it is one free().  Entries are on an LRU list; inserting past max_entries or
 * max_bytes evicts from the old end.  An entry lives until valid_until (exp + leeway,
 * capped by max_cache_ttl_s; checked against the clock on every hit), a revocation (the
 * caller's callback, asked again whenever the revocation stamp changed), or the reload of
 * the key whose `gen` verified it (pa__cache_drop_gen).
 */
#include "pa_int.h"

#include <stdlib.h>
#include <string.h>

struct pa_entry {
  uint8_t hash[32];
  int64_t valid_until;
  uint64_t key_gen;
  uint8_t rev_stamp[32]; /* the revocation state this entry was last checked against */
  bool rev_checked;      /* rev_stamp is meaningful */
  pa_entry *prev, *next; /* LRU: head = most recent */
  size_t bytes;          /* the whole block */
  size_t body;           /* the principal's bytes, right after the header */
  uint32_t slot;         /* index in the table */
  pa_token_info info;    /* strings point into this block */
  pdpe_entity principal; /* likewise */
};

struct pa_cache {
  pa_entry **slots;
  uint32_t mask; /* capacity - 1 */
  uint32_t n, max_entries;
  size_t bytes, max_bytes;
  pa_entry *head, *tail;
  uint64_t hits, misses, evictions, revalidations;
};

pa_cache *pa__cache_new(uint32_t max_entries, size_t max_bytes) {
  pa_cache *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  uint32_t cap = 16;
  while (cap < 2 * (uint64_t)max_entries && cap < (1u << 31)) cap *= 2;
  c->slots = calloc(cap, sizeof(*c->slots));
  if (!c->slots) {
    free(c);
    return NULL;
  }
  c->mask = cap - 1;
  c->max_entries = max_entries;
  c->max_bytes = max_bytes;
  return c;
}

void pa__cache_free(pa_cache *c) {
  if (!c) return;
  pa__cache_clear(c);
  free(c->slots);
  free(c);
}

static uint32_t slot_of(const pa_cache *c, const uint8_t hash[32]) {
  uint32_t h;
  memcpy(&h, hash, sizeof(h));
  return h & c->mask;
}

static void lru_unlink(pa_cache *c, pa_entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(pa_cache *c, pa_entry *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

void pa__cache_remove(pa_cache *c, pa_entry *e) {
  /* Backward-shift deletion keeps every probe sequence unbroken without tombstones. */
  uint32_t i = e->slot;
  c->slots[i] = NULL;
  for (uint32_t j = (i + 1) & c->mask; c->slots[j]; j = (j + 1) & c->mask) {
    uint32_t home = slot_of(c, c->slots[j]->hash);
    /* Move j into the hole at i when its home is not in (i, j] cyclically. */
    bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    c->slots[i] = c->slots[j];
    c->slots[i]->slot = i;
    c->slots[j] = NULL;
    i = j;
  }
  lru_unlink(c, e);
  c->n--;
  c->bytes -= e->bytes;
  free(e);
}

pa_entry *pa__cache_find(pa_cache *c, const uint8_t hash[32], int64_t now) {
  for (uint32_t i = slot_of(c, hash); c->slots[i]; i = (i + 1) & c->mask) {
    pa_entry *e = c->slots[i];
    if (memcmp(e->hash, hash, 32) != 0) continue;
    if (now >= e->valid_until) {
      pa__cache_remove(c, e);
      return NULL;
    }
    if (c->head != e) {
      lru_unlink(c, e);
      lru_push(c, e);
    }
    c->hits++;
    return e;
  }
  return NULL;
}

void pa__cache_count_miss(pa_cache *c) {
  c->misses++;
}

static bool place_str(uint8_t **p, const uint8_t *end, pu_str s, pu_str *out) {
  if (!s.ptr) {
    *out = (pu_str){NULL, 0};
    return true;
  }
  if ((size_t)(end - *p) < s.len + 1) return false;
  memcpy(*p, s.ptr, s.len);
  (*p)[s.len] = '\0';
  *out = (pu_str){(const char *)*p, s.len};
  *p += s.len + 1;
  return true;
}

bool pa__cache_put(pa_cache *c, const uint8_t hash[32], int64_t valid_until, uint64_t key_gen,
                   const uint8_t *rev_stamp, const pdpe_entity *principal,
                   const pa_token_info *info) {
  if (c->max_entries == 0) return false;
  size_t head = (sizeof(pa_entry) + 15) & ~(size_t)15;
  size_t body = pa__entity_size(principal);
  size_t strs = info->sub.len + info->jti.len + info->iss.len + 3;
  size_t bytes = head + body + strs;
  if (bytes > c->max_bytes) return false;
  pa_entry *e = malloc(bytes);
  if (!e) return false;
  memset(e, 0, sizeof(*e));
  memcpy(e->hash, hash, 32);
  e->valid_until = valid_until;
  e->key_gen = key_gen;
  if (rev_stamp) memcpy(e->rev_stamp, rev_stamp, 32);
  e->rev_checked = rev_stamp != NULL;
  e->bytes = bytes;
  e->body = body;
  e->info = *info;
  e->info.cached = true;
  uint8_t *p = (uint8_t *)e + head + body, *end = (uint8_t *)e + bytes;
  if (!pa__copy_entity_into((uint8_t *)e + head, body, principal, &e->principal) ||
      !place_str(&p, end, info->sub, &e->info.sub) ||
      !place_str(&p, end, info->jti, &e->info.jti) ||
      !place_str(&p, end, info->iss, &e->info.iss)) {
    free(e);
    return false;
  }
  /* The same token again (two misses racing within one batch): keep the newer. */
  pa_entry *old = NULL;
  for (uint32_t i = slot_of(c, hash); c->slots[i] && !old; i = (i + 1) & c->mask)
    if (memcmp(c->slots[i]->hash, hash, 32) == 0) old = c->slots[i];
  if (old) pa__cache_remove(c, old);
  while (c->tail && (c->n >= c->max_entries || c->bytes + bytes > c->max_bytes)) {
    pa__cache_remove(c, c->tail);
    c->evictions++;
  }
  uint32_t i = slot_of(c, hash);
  while (c->slots[i]) i = (i + 1) & c->mask;
  c->slots[i] = e;
  e->slot = i;
  lru_push(c, e);
  c->n++;
  c->bytes += bytes;
  return true;
}

void pa__cache_drop_gen(pa_cache *c, uint64_t gen) {
  for (pa_entry *e = c->head, *next; e; e = next) {
    next = e->next;
    if (e->key_gen == gen) pa__cache_remove(c, e);
  }
}

void pa__cache_clear(pa_cache *c) {
  while (c->head) pa__cache_remove(c, c->head);
}

uint32_t pa__cache_sweep(pa_cache *c, int64_t now) {
  uint32_t n = 0;
  for (pa_entry *e = c->head, *next; e; e = next) {
    next = e->next;
    if (now >= e->valid_until) pa__cache_remove(c, e), n++;
  }
  return n;
}

void pa__cache_stats(const pa_cache *c, pa_cache_stats *out) {
  out->entries = c->n;
  out->bytes = c->bytes;
  out->hits = c->hits;
  out->misses = c->misses;
  out->evictions = c->evictions;
  out->revalidations = c->revalidations;
}

const pa_token_info *pa__entry_info(const pa_entry *e) {
  return &e->info;
}

void pa__entry_block(const pa_entry *e, const void **block, size_t *size) {
  *block = (const uint8_t *)e + ((sizeof(pa_entry) + 15) & ~(size_t)15);
  *size = e->body;
}

const pdpe_entity *pa__entry_principal(const pa_entry *e) {
  return &e->principal;
}

bool pa__entry_checked_against(const pa_entry *e, const uint8_t stamp[32]) {
  return e->rev_checked && memcmp(e->rev_stamp, stamp, 32) == 0;
}

void pa__entry_set_checked(pa_cache *c, pa_entry *e, const uint8_t stamp[32]) {
  memcpy(e->rev_stamp, stamp, 32);
  e->rev_checked = true;
  c->revalidations++;
}

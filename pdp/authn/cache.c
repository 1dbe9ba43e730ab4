/* cache.c - the verified-token cache: the token text -> the principal it maps to.
 *
 * An open-addressing table (linear probing, backward-shift deletion, at most half full)
 * of pointers to entries, placed by a 64-bit hash of the token keyed with a random seed
 * drawn when the cache is made; an entry matches only when its stored token text equals the
 * one asked about, byte for byte, so no hash collision can ever hand one token another's
 * principal (the hash spreads the table and needs no collision resistance; a SHA-256 key
 * cost 0.4 us per check, this one a few ns).  Each entry is one malloc'd block: the entry
 * header, then the principal, the token's sub/jti/iss and the token text copied behind it,
 * so an entry's bytes are exact and freeing it is one free().  Entries are on an LRU list;
 * inserting past max_entries or max_bytes evicts from the old end.  An entry lives until
 * valid_until (exp + leeway, capped by max_cache_ttl_s; checked against the clock on every hit), a
 * revocation (the caller's callback, asked again whenever the revocation stamp changed), or the
 * reload of the key whose `gen` verified it (pa__cache_drop_gen).
 */
#include "pa_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pa_entry {
  uint64_t hash;
  const char *token; /* the token text, in this block */
  size_t token_len;
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
  uint64_t seed[2]; /* keys the table hash: a client cannot aim tokens at one probe chain */
};

/* ---- the table hash -------------------------------------------------------------------- */

static uint64_t mix(uint64_t a, uint64_t b) {
  unsigned __int128 r = (unsigned __int128)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

#define K0 0xa0761d6478bd642full
#define K1 0xe7037ed1a0b428dbull
#define K2 0x8ebc6af09c88c6e3ull

/* A multiply-fold hash over 16-byte blocks (wyhash's mixing step) seeded per cache. */
uint64_t pa__cache_hash(const pa_cache *c, pu_str token) {
  const uint8_t *p = (const uint8_t *)token.ptr;
  size_t n = token.len;
  uint64_t h = mix(c->seed[0] ^ K0, (uint64_t)n ^ c->seed[1] ^ K1);
  for (; n >= 16; p += 16, n -= 16) h = mix(load64(p) ^ K1 ^ h, load64(p + 8) ^ c->seed[1]);
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load64(p), b = load64(p + n - 8);
  } else if (n) {
    memcpy(&a, p, n);
  }
  return mix(a ^ K2 ^ h, b ^ c->seed[0] ^ token.len);
}

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
  if (RAND_bytes((unsigned char *)c->seed, sizeof(c->seed)) != 1) { /* the hash still works */
    c->seed[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    c->seed[1] = (uint64_t)(uintptr_t)c;
  }
  return c;
}

void pa__cache_free(pa_cache *c) {
  if (!c) return;
  pa__cache_clear(c);
  free(c->slots);
  free(c);
}

static uint32_t slot_of(const pa_cache *c, uint64_t hash) {
  return (uint32_t)hash & c->mask;
}

static bool same_token(const pa_entry *e, uint64_t hash, pu_str token) {
  return e->hash == hash && e->token_len == token.len &&
         (token.len == 0 || memcmp(e->token, token.ptr, token.len) == 0);
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

pa_entry *pa__cache_find(pa_cache *c, uint64_t hash, pu_str token, int64_t now) {
  for (uint32_t i = slot_of(c, hash); c->slots[i]; i = (i + 1) & c->mask) {
    pa_entry *e = c->slots[i];
    if (!same_token(e, hash, token)) continue;
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

bool pa__cache_put(pa_cache *c, uint64_t hash, pu_str token, int64_t valid_until, uint64_t key_gen,
                   const uint8_t *rev_stamp, const pdpe_entity *principal,
                   const pa_token_info *info) {
  if (c->max_entries == 0) return false;
  size_t head = (sizeof(pa_entry) + 15) & ~(size_t)15;
  size_t body = pa__entity_size(principal);
  size_t strs = info->sub.len + info->jti.len + info->iss.len + 3 + token.len + 1;
  size_t bytes = head + body + strs;
  if (bytes > c->max_bytes) return false;
  pa_entry *e = malloc(bytes);
  if (!e) return false;
  memset(e, 0, sizeof(*e));
  e->hash = hash;
  e->valid_until = valid_until;
  e->key_gen = key_gen;
  if (rev_stamp) memcpy(e->rev_stamp, rev_stamp, 32);
  e->rev_checked = rev_stamp != NULL;
  e->bytes = bytes;
  e->body = body;
  e->info = *info;
  e->info.cached = true;
  uint8_t *p = (uint8_t *)e + head + body, *end = (uint8_t *)e + bytes;
  pu_str tok;
  if (!pa__copy_entity_into((uint8_t *)e + head, body, principal, &e->principal) ||
      !place_str(&p, end, info->sub, &e->info.sub) ||
      !place_str(&p, end, info->jti, &e->info.jti) ||
      !place_str(&p, end, info->iss, &e->info.iss) || !place_str(&p, end, token, &tok)) {
    free(e);
    return false;
  }
  e->token = tok.ptr;
  e->token_len = tok.len;
  /* The same token again (two misses racing within one batch): keep the newer. */
  pa_entry *old = NULL;
  for (uint32_t i = slot_of(c, hash); c->slots[i] && !old; i = (i + 1) & c->mask)
    if (same_token(c->slots[i], hash, token)) old = c->slots[i];
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

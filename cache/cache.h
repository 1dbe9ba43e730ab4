/* cache.h - where pdpd's data comes from and how it is kept: sources and snapshots.
 *
 * This first cut has the directory source only: a bundle folder with policies/<name>.cedar and
 * entities.json, loaded into a new immutable pdpe_snapshot.  Later issues add the LMDB
 * store, stamps maintained incrementally, staleness checks and the PostgreSQL source here.
 * cache/ knows nothing of the wire protocol.
 */
#ifndef PDP_CACHE_CACHE_H
#define PDP_CACHE_CACHE_H

#include "../pdp/eval/pdpe.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#define CACHE_MAX_DIAG 200

/* Diagnostics of a load: every error found, each "file:line:col: message" or
 * "file: message". */
typedef struct cache_diag {
  char *lines[CACHE_MAX_DIAG]; /* owned; cache_diag_close() frees them */
  uint32_t n;
  uint32_t dropped; /* errors past CACHE_MAX_DIAG, counted only */
} cache_diag;

void cache_diag_init(cache_diag *d);
void cache_diag_close(cache_diag *d);
void cache_diag_addf(cache_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Load the bundle in `dir`: every policies/<name>.cedar file (sorted by name; policy ids
 * policy0, policy1, ... continue across files) and entities.json (optional: absent means no
 * stored entities).  Every error of every file goes to `diag`.  On success returns true and
 * a new snapshot (refs = 1) with its stamp: SHA-256 over the canonical bundle content.
 * On any error returns false, *out untouched: a bundle is accepted whole or not at all. */
bool cache_dir_load(const char *dir, pdpe_snapshot **out, cache_diag *diag);

/* The current snapshot, published to readers.  Writers build a new snapshot off to the
 * side and install it with cache_holder_swap(); readers take a reference with
 * cache_holder_acquire() and drop it with pdpe_snapshot_unref() when their answer is
 * written.  The mutex is held only for a pointer copy and a reference increment. */
typedef struct cache_holder {
  pthread_mutex_t lock;
  pdpe_snapshot *current; /* NULL until the first load */
} cache_holder;

void cache_holder_init(cache_holder *h);
void cache_holder_close(cache_holder *h); /* drops the current snapshot */
/* A new reference to the current snapshot, or NULL when nothing is loaded. */
pdpe_snapshot *cache_holder_acquire(cache_holder *h);
/* Publish `next` (the holder takes over the caller's reference) and drop the old one. */
void cache_holder_swap(cache_holder *h, pdpe_snapshot *next);

/* Lowercase hex of a stamp into buf (at least 65 bytes); returns buf. */
const char *cache_stamp_hex(const uint8_t stamp[32], char *buf);

#endif

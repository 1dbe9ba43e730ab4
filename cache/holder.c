/* holder.c - the published snapshot pointer (see cache.h).
 *
 * Readers copy the pointer and take a reference under a mutex held for two instructions;
 * a writer swaps the pointer under the same mutex and drops the old reference outside it.
 * The old snapshot is therefore freed by whoever drops the last reference: the writer if
 * no request was using it, else the last request to finish.  Nobody ever waits for a load:
 * loads happen before cache_holder_swap(), off to the side.
 */
#include "cache.h"

#include <stdio.h>

void cache_holder_init(cache_holder *h) {
  pthread_mutex_init(&h->lock, NULL);
  h->current = NULL;
  h->degraded[0] = '\0';
}

void cache_holder_close(cache_holder *h) {
  pdpe_snapshot_unref(h->current);
  h->current = NULL;
  pthread_mutex_destroy(&h->lock);
}

pdpe_snapshot *cache_holder_acquire(cache_holder *h) {
  pthread_mutex_lock(&h->lock);
  pdpe_snapshot *s = h->current ? pdpe_snapshot_ref(h->current) : NULL;
  pthread_mutex_unlock(&h->lock);
  return s;
}

void cache_holder_swap(cache_holder *h, pdpe_snapshot *next) {
  pthread_mutex_lock(&h->lock);
  pdpe_snapshot *old = h->current;
  h->current = next;
  pthread_mutex_unlock(&h->lock);
  pdpe_snapshot_unref(old);
}

void cache_holder_set_degraded(cache_holder *h, const char *reason) {
  pthread_mutex_lock(&h->lock);
  snprintf(h->degraded, sizeof(h->degraded), "%s", reason ? reason : "");
  pthread_mutex_unlock(&h->lock);
}

bool cache_holder_degraded(cache_holder *h, char *buf, size_t cap) {
  pthread_mutex_lock(&h->lock);
  bool degraded = h->degraded[0] != '\0';
  if (cap) snprintf(buf, cap, "%s", h->degraded);
  pthread_mutex_unlock(&h->lock);
  return degraded;
}

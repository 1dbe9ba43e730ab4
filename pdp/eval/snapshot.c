/* snapshot.c - the immutable, reference-counted snapshot a decision reads.
 *
 * A snapshot owns one arena holding its policies, entities, permission definitions
 * (pdpe_snapshot_set_data, defs.c) and everything they point to; its grants are a lookup
 * into storage its loader pins (pdpe_grants), released with the snapshot.  Readers take a
 * reference (pdpe_snapshot_ref) for the length of a request; the holder publishes a new
 * snapshot with one pointer store and drops its own reference to the old one.  The last
 * pdpe_snapshot_unref calls grants.release (once: the count reaches zero once), then frees
 * the arena and the struct.  The count is atomic so worker threads may share a snapshot
 * without a lock.
 */
#include "pdpe.h"

#include <stdlib.h>

#define SNAPSHOT_BLOCK (64 * 1024)

pdpe_snapshot *pdpe_snapshot_new(void) {
  pdpe_snapshot *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  atomic_init(&s->refs, 1);
  pu_arena_init(&s->arena, SNAPSHOT_BLOCK, 0);
  s->source = "";
  return s;
}

pdpe_snapshot *pdpe_snapshot_ref(pdpe_snapshot *s) {
  if (s) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void pdpe_snapshot_unref(pdpe_snapshot *s) {
  if (!s) return;
  /* Release our writes; the thread that frees acquires everyone else's. */
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  if (s->grants.release) s->grants.release(s->grants.ctx);
  pu_arena_close(&s->arena);
  free(s);
}

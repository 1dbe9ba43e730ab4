/* snapshot.c - the immutable, reference-counted snapshot a decision reads.
 *
 * A snapshot owns one arena holding its policies, entities and everything they point to.
 * Readers take a reference (pdpe_snapshot_ref) for the length of a request; the holder
 * publishes a new snapshot with one pointer store and drops its own reference to the old
 * one.  The last pdpe_snapshot_unref frees the arena and the struct.  The count is atomic
 * so worker threads may share a snapshot without a lock.
 */
#include "pdpe.h"

#include <jansson.h>
#include <stdio.h>
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

/* PLACEHOLDER until the engine branch is merged (it owns this function): entities only, no
 * definitions.  Weak, so the engine's definition wins wherever it lives. */
__attribute__((weak)) bool pdpe_snapshot_set_data(pdpe_snapshot *s,
                                                  const struct json_t *entities_json,
                                                  const char *entities_name,
                                                  const pdpe_definition *defs, uint32_t n_defs,
                                                  char *err, size_t err_cap) {
  (void)defs;
  if (n_defs) {
    snprintf(err, err_cap, "%s: permission definitions need the engine branch", entities_name);
    return false;
  }
  return entities_json
             ? pdpe_entities_from_json(&s->arena, entities_json, entities_name, &s->entities, err,
                                       err_cap)
             : pdpe_entities_build(&s->arena, NULL, 0, entities_name, &s->entities, err, err_cap);
}

/* cache_int.h - pieces shared inside cache/ only (other modules include cache.h). */
#ifndef PDP_CACHE_CACHE_INT_H
#define PDP_CACHE_CACHE_INT_H

#include "cache.h"

#include <jansson.h>

/* Template links in Cedar's JSON form (the "templateLinks" list of a JSON policy set):
 * [{"templateId": "t", "newId": "l", "values": {"?principal": UID, "?resource": UID}}]
 * where UID is {"type": T, "id": I} or {"__entity": {"type": T, "id": I}}.  Everything is
 * copied into `arena`.  Every error goes to `diag` naming `file` and the link's index;
 * false when there was any. */
bool cache__links_from_json(pu_arena *arena, const json_t *json, const char *file, pdpe_link **out,
                            uint32_t *n_out, cache_diag *diag);

/* stamp.c: the record hash with a caller's reusable digest context (EVP_MD_CTX), so that a
 * delta or a recompute does not allocate one per row. */
struct evp_md_ctx_st;
bool cache__stamp_record_ctx(struct evp_md_ctx_st *ctx, cache_table t, const void *key,
                             size_t key_len, const void *val, size_t val_len, uint8_t out[32]);

/* dir.c: a whole file into the arena (NUL-terminated, at most 64 MiB); false with a
 * diagnostic naming `path`. */
bool cache__read_file(pu_arena *a, const char *path, char **out, size_t *len, cache_diag *diag);
/* dir.c: names of the *.cedar files in `dir`, sorted bytewise; arena-owned.  -1 with a
 * diagnostic on error. */
int cache__list_policy_files(pu_arena *a, const char *dir, char ***out, cache_diag *diag);

/* store.c: the directory the store was opened at (for messages and snapshot sources). */
const char *cache__store_dir(const cache_store *s);

/* sync.c: the rows of the policies and entities tables, sorted by key bytewise (LMDB's
 * order), borrowed from wherever they were read. */
typedef struct cache__row {
  const char *key;
  size_t key_len;
  const char *val;
  size_t val_len;
} cache__row;

#endif

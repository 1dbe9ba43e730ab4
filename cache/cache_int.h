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

/* ---- dir source files: definitions and revocations (defs.c, revocations.c, srcfile.c) ---- */

/* permissions/<service>.json of `dir` as rows of table definitions, sorted by key: key = the
 * service (the file stem), value = the canonical JSON of its definitions (the array sorted by
 * name, every default explicit, json_dumps JSON_COMPACT | JSON_SORT_KEYS).  A service with
 * no definitions has no row; no permissions/ folder = no rows.  Every error of every file goes
 * to diag ("permissions/<file>:LINE:COL: definitions[I].FIELD: message"), including a name
 * defined by two services; false when there was any.  Keys and values live in `a`. */
bool cache__defs_rows_from_dir(pu_arena *a, const char *dir, cache__row **rows, uint32_t *n,
                               cache_diag *diag);
/* Rows of table definitions back into definitions for a snapshot: every string and value
 * copied into `a` (the snapshot's arena), sorted by name, `service` = the row key.  A row that
 * does not parse or a name in two services is an error in diag. */
bool cache__defs_from_rows(pu_arena *a, const cache__row *rows, uint32_t n, pdpe_definition **out,
                           uint32_t *n_out, cache_diag *diag);
/* revocations.json of `dir` as rows of table revocations, sorted by key: `jti:<jti>` ->
 * 8-byte big-endian exp, `sub:<sub>` -> 8-byte big-endian before.  No file = no rows.
 * Errors: "revocations.json:LINE:COL: jti[I].exp: message". */
bool cache__revocations_rows_from_dir(pu_arena *a, const char *dir, cache__row **rows, uint32_t *n,
                                      cache_diag *diag);

/* srcfile.c: the source lock (a file descriptor; -1 with err on failure) and its release. */
int cache__source_lock(const char *dir, char *err, size_t err_cap);
void cache__source_unlock(int fd);
/* srcfile.c: replace `path` with the bytes: temp file beside it, fsync, rename, fsync the
 * folder.  False with err; the target is then the old file (or, only when the folder's fsync
 * failed, the new one). */
bool cache__write_atomic(const char *path, const void *data, size_t len, char *err, size_t err_cap);
/* srcfile.c: names of the files in `dir` ending in `suffix` (dot-files skipped), sorted
 * bytewise, arena-owned.  0 when the folder does not exist; -1 with a diagnostic on error. */
int cache__list_files(pu_arena *a, const char *dir, const char *suffix, char ***out,
                      cache_diag *diag);
/* srcfile.c: a whole optional file (*out NULL when it does not exist), as cache__read_file. */
bool cache__read_optional(pu_arena *a, const char *path, char **out, size_t *len, cache_diag *diag);
/* srcfile.c: one step of a JSON path: an object member (key) or an array element (index). */
typedef struct cache__jseg {
  const char *key; /* NULL: the element `index` */
  size_t index;
} cache__jseg;
/* srcfile.c: line and column (1-based) of the value at `path` in JSON text that jansson
 * accepted (of its key when at_key and the last step is a member).  When a step is not found,
 * the position of the deepest value found and false. */
bool cache__json_locate(const char *text, size_t len, const cache__jseg *path, size_t n,
                        bool at_key, int *line, int *col);
/* srcfile.c: bytes made printable for a message (quotes, backslashes and control characters
 * escaped, cut with "..." to fit cap); returns buf. */
const char *cache__show(const char *p, size_t n, char *buf, size_t cap);
/* defs.c / revocations.c: the first diagnostic (and how many more) into err. */
void cache__diag_first(const cache_diag *d, char *err, size_t err_cap);

#endif

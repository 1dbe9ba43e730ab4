/* cache_int.h - pieces shared inside cache/ only (other modules include cache.h). */
#ifndef PDP_CACHE_CACHE_INT_H
#define PDP_CACHE_CACHE_INT_H

#include "cache.h"

#include <jansson.h>
#include <sys/stat.h>

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

/* ---- grants.c ---------------------------------------------------------------------------- */

/* cache_grants_scan, also giving the fstat of the file as it was read (for the fingerprint).
 * 0 ok, 1 absent (nothing reported), -1 errors (in diag). */
int cache__grants_scan(const char *path, const char *name, size_t max_key, cache_grant_fn fn,
                       void *ctx, struct stat *st_out, cache_diag *diag);

/* One grant row of a file: the key bytes live in the rows' keys buffer. */
typedef struct cache__grant_row {
  uint64_t off;       /* key bytes at keys + off */
  uint32_t item;      /* index in the file's array */
  uint32_t line, col; /* of the item, for duplicate messages */
  uint16_t len;       /* key length (at most the store's max key) */
  char val;           /* 'G' or 'P' */
} cache__grant_row;

/* Every row of a grants.json, sorted by key bytewise (LMDB's order), no duplicates. */
typedef struct cache__grant_rows {
  char *keys; /* all key bytes, back to back (malloc) */
  size_t keys_len, keys_cap;
  cache__grant_row *rows; /* malloc */
  size_t n, cap;
} cache__grant_rows;

/* Read, sort and check a grants.json: 0 ok, 1 absent (out empty), -1 errors (every one in diag,
 * duplicate natural keys included; out empty).  *st gets the fstat of the file as read. */
int cache__grant_rows_read(const char *path, const char *name, size_t max_key,
                           cache__grant_rows *out, struct stat *st, cache_diag *diag);
void cache__grant_rows_close(cache__grant_rows *r);

/* ---- store.c: views and conditional deltas ----------------------------------------------- */

/* The environment is reference counted: cache_store_open gives the caller's reference,
 * cache_store_close drops it, and each view holds one, so a snapshot built from the store keeps
 * the environment open until it is freed.  The last reference closes it. */
void cache__store_ref(cache_store *s);

/* A view: a reader whose read txn stays open for a snapshot's life (cache_snapshot_from_store).
 * It holds a store reference and has touched every table once, so later gets write nothing
 * into the txn. */
int cache__view_open(cache_store *s, cache_reader **out, cache_store_err *err);
void cache__view_close(cache_reader *view); /* ends the txn, drops the store reference */

/* Number of rows of table t in the active read r (LMDB's count; O(1)). */
int cache__read_count(cache_reader *r, cache_table t, uint64_t *n, cache_store_err *err);

/* The store of a reader. */
cache_store *cache__reader_store(cache_reader *r);

/* cache_store_apply when the store stamp still equals `expect` (NULL: any), checked inside the
 * write txn.  CACHE__STORE_CHANGED (nothing applied) when it does not.  *stamp_out (optional)
 * gets the stamp the txn committed (or the current one when the delta is empty). */
#define CACHE__STORE_CHANGED 2
int cache__store_apply_if(cache_store *s, const cache_delta *d, const uint8_t expect[32],
                          uint8_t stamp_out[32], cache_store_err *err);

/* ---- view.c: the store into a snapshot ------------------------------------------------------ */

/* Append a row to a growing array in the arena (doubling); false when out of memory. */
bool cache__add_row(pu_arena *a, cache__row **rows, size_t *n, size_t *cap, const char *key,
                    size_t key_len, const char *val, size_t val_len);

/* Every row of table t inside the active read r, in key order (borrowed from the map; the
 * array is in the arena).  False with err on error. */
bool cache__table_rows(pu_arena *a, cache_reader *r, cache_table t, cache__row **rows, size_t *n,
                       cache_store_err *err);

/* Parse rows of the policies and entities tables (sorted like the store) into s, with the
 * permission definitions `defs` (may be NULL when n_defs is 0).  Policy rows name their file
 * `pdir/<name>` (pdir NULL: `<name>`); links and entities are named links_name and ents_name in
 * errors.  Every byte kept is copied into s's arena. */
bool cache__build_snapshot(pdpe_snapshot *s, const cache__row *policies, size_t n_policies,
                           const cache__row *entities, size_t n_entities,
                           const pdpe_definition *defs, uint32_t n_defs, const char *pdir,
                           const char *links_name, const char *ents_name, cache_diag *diag);

/* ---- sync.c ------------------------------------------------------------------------------- */

int64_t cache__now_unix_ms(void);

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

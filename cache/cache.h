/* cache.h - where pdpd's data comes from and how it is kept: sources, snapshots, the store.
 *
 * - The directory source: a bundle folder (policies/<name>.cedar, template-links.json,
 *   entities.json) loaded into a new immutable pdpe_snapshot (dir.c, links.c).
 * - The snapshot holder: the one published snapshot, swapped atomically (holder.c).
 * - The LMDB store: tables of opaque rows changed by deltas in one write transaction, with a
 *   content stamp maintained incrementally (store.c, stamp.c; docs/store.md).
 * - Sync: a bundle folder into the store as rows (one delta with only the differences; big
 *   files skipped by fingerprint when unchanged), and the store's rows back into a snapshot that
 *   pins the store state it was built from (sync.c, view.c).  pdpd serves the stored snapshot at
 *   start and keeps it when the source fails; pdp/server's checker runs the sync every
 *   --check-interval and on a change event.
 * - Grants: grants.json read one item at a time, grants as store rows (grants.c;
 *   docs/sources.md).
 * - Permission definitions and revocations: permissions/<service>.json and revocations.json
 *   as rows, DefinePermissions and token revocation on a dir source under its lock file
 *   (defs.c, define.c, revocations.c, srcfile.c; docs/definitions.md).
 * cache/ knows nothing of the wire protocol.
 */
#ifndef PDP_CACHE_CACHE_H
#define PDP_CACHE_CACHE_H

#include "../pdp/eval/pdpe.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>

#define CACHE_MAX_DIAG 200
#define CACHE_DEGRADED_MAX 512

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
  pdpe_snapshot *current;            /* NULL until the first load */
  char degraded[CACHE_DEGRADED_MAX]; /* "" when current; else why it is not (under lock) */
} cache_holder;

void cache_holder_init(cache_holder *h);
void cache_holder_close(cache_holder *h); /* drops the current snapshot */
/* A new reference to the current snapshot, or NULL when nothing is loaded. */
pdpe_snapshot *cache_holder_acquire(cache_holder *h);
/* Publish `next` (the holder takes over the caller's reference) and drop the old one. */
void cache_holder_swap(cache_holder *h, pdpe_snapshot *next);
/* Mark the published snapshot as not current (the source failed), or current again with
 * NULL or "".  The reason is cut to CACHE_DEGRADED_MAX - 1 bytes. */
void cache_holder_set_degraded(cache_holder *h, const char *reason);
/* True when degraded; the reason ("" when not) is copied into buf (cap may be 0). */
bool cache_holder_degraded(cache_holder *h, char *buf, size_t cap);

/* Lowercase hex of a stamp into buf (at least 65 bytes); returns buf. */
const char *cache_stamp_hex(const uint8_t stamp[32], char *buf);

/* ---- The LMDB store (store.c) and its stamps (stamp.c) -------------------------------------
 *
 * One LMDB environment under a data directory holds the rows pdpd builds its snapshots from.
 * A row is (table, key bytes, value bytes); values are opaque compact binary chosen by the
 * caller.  Writes arrive as a delta (puts and deletes across tables) applied in one write
 * transaction together with the new stamp, so a reader sees the old state or the new one,
 * never a mix, and a crash leaves the last committed state.  docs/store.md has the layout, the
 * stamp algorithm and the crash-safety argument.
 *
 * Every function returns 0 (CACHE_STORE_OK) or a negative CACHE_STORE_E* code, and fills the
 * optional cache_store_err with a message naming what failed.
 */

/* The store's tables, in the fixed order the store stamp folds them. */
typedef enum cache_table {
  CACHE_TABLE_POLICIES = 0,
  CACHE_TABLE_ENTITIES = 1,
  CACHE_TABLE_GRANTS = 2,
  CACHE_TABLE_DEFINITIONS = 3,
  CACHE_TABLE_REVOCATIONS = 4,
  CACHE_TABLE_META = 5, /* bookkeeping (source revision, ...); not part of the stamp */
} cache_table;
#define CACHE_TABLE_STAMPED 5 /* tables 0..4 are content and make up the stamp */
#define CACHE_TABLE_COUNT 6

/* The LMDB name of a table ("policies", ..., "meta"), or NULL for a number out of range. */
const char *cache_table_name(cache_table t);

/* Meta keys starting with this prefix belong to the store (format, sums, stamp): a delta may
 * not write them, and iterating "meta" skips them. */
#define CACHE_META_RESERVED_PREFIX "sys."

#define CACHE_STORE_DEFAULT_MAP_SIZE ((size_t)1 << 30) /* 1 GiB of address space */

enum {
  CACHE_STORE_OK = 0,
  CACHE_STORE_NOTFOUND = 1,  /* get: no such key; iterator: no more rows (not an error) */
  CACHE_STORE_EINVAL = -1,   /* bad argument: table, key length, reserved key, reader state */
  CACHE_STORE_EIO = -2,      /* the directory or LMDB failed (permissions, disk, ...) */
  CACHE_STORE_EMAPFULL = -3, /* the delta does not fit in the map; nothing was applied */
  CACHE_STORE_ENOMEM = -4,   /* out of memory */
  CACHE_STORE_ECORRUPT = -5, /* not a pdpd store, other format, or damaged meta */
  CACHE_STORE_EBUSY = -6     /* no free reader slot */
};

/* Short English name of a CACHE_STORE_* code ("map full"). */
const char *cache_store_strerror(int code);

/* An error as a value: the code and a message naming the directory, table or change. */
typedef struct cache_store_err {
  int code;          /* 0 or CACHE_STORE_E* */
  int lmdb_rc;       /* LMDB's (or errno's) code behind it, 0 when none */
  char message[256]; /* e.g. "store ./var/pdpd: map full (map size 1048576 bytes) ..." */
} cache_store_err;

typedef struct cache_store cache_store;   /* one open environment; thread-safe */
typedef struct cache_reader cache_reader; /* a reusable read txn; one thread at a time */

/* Open (creating `dir` with mode 0700 and a fresh store inside when missing) the store under
 * `dir`.  map_size_bytes 0 means CACHE_STORE_DEFAULT_MAP_SIZE.  Stale reader slots left by
 * dead processes are cleared.  On success *out is the store; on error *out is NULL. */
int cache_store_open(const char *dir, size_t map_size_bytes, cache_store **out,
                     cache_store_err *err);
/* Drop the caller's reference to the store.  Every reader of it must have been freed; snapshots
 * built from it (cache_snapshot_from_store) keep the environment open until the last of them is
 * freed.  NULL is ignored. */
void cache_store_close(cache_store *store);
/* Clear reader slots held by dead processes (call on a timer); *cleared (optional) gets how
 * many were cleared. */
int cache_store_reader_check(cache_store *store, int *cleared, cache_store_err *err);

/* One change of a delta.  key/val are borrowed: they must stay valid until apply returns. */
typedef enum cache_op { CACHE_OP_PUT = 0, CACHE_OP_DEL = 1 } cache_op;
typedef struct cache_change {
  cache_op op;
  cache_table table;
  const void *key; /* 1..cache_store_max_key_len() bytes */
  size_t key_len;
  const void *val; /* PUT only; may be NULL when val_len is 0 */
  size_t val_len;
} cache_change;

/* A delta: changes applied in order (a later change to the same key wins).  A delete of an
 * absent key and a put of the value already stored are no-ops.  The array is owned by the
 * delta (cache_delta_init/_close), the bytes it points to are not. */
typedef struct cache_delta {
  cache_change *changes;
  size_t n;
  size_t cap;
} cache_delta;

void cache_delta_init(cache_delta *d);
void cache_delta_close(cache_delta *d);
void cache_delta_clear(cache_delta *d); /* n = 0, keeps the array */
/* Append a change; false when out of memory (the delta is unchanged). */
bool cache_delta_put(cache_delta *d, cache_table t, const void *key, size_t key_len,
                     const void *val, size_t val_len);
bool cache_delta_del(cache_delta *d, cache_table t, const void *key, size_t key_len);

/* Largest key length the store accepts (LMDB's limit, 511 by default). */
size_t cache_store_max_key_len(const cache_store *store);

/* Apply the delta in ONE write transaction that also updates the per-table sums and the
 * store stamp.  All or nothing: on any error nothing of the delta is visible, ever.  Writers
 * are serialised (by LMDB's writer lock, also across processes).  An empty delta commits
 * nothing. */
int cache_store_apply(cache_store *store, const cache_delta *d, cache_store_err *err);

/* The committed store stamp (O(1): read from meta). */
int cache_store_stamp(cache_store *store, uint8_t out[32], cache_store_err *err);
/* The stamp recomputed from every row, in one read txn (O(n); verification and tests). */
int cache_store_recompute_stamp(cache_store *store, uint8_t out[32], cache_store_err *err);
/* Number of record hashes the store computed since open (apply and recompute): lets tests
 * prove that a delta of k rows hashes O(k) rows, not the table. */
uint64_t cache_store_hashed_rows(const cache_store *store);

/* Readers.  A reader owns one LMDB read txn that is reset, not freed, between uses, so
 * read_begin/read_end cost a few atomic stores.  Keep one reader per thread (the store is
 * opened MDB_NOTLS, so a reader may move between threads, but never be used by two at
 * once).  Between read_begin and read_end the reader pins the state it sees: keep that short,
 * since LMDB cannot reuse pages a pinned state still refers to. */
int cache_store_reader_new(cache_store *store, cache_reader **out, cache_store_err *err);
void cache_store_reader_free(cache_reader *r); /* ends an active read; NULL is ignored */
int cache_store_read_begin(cache_reader *r, cache_store_err *err);
void cache_store_read_end(cache_reader *r); /* every value and iterator of the read dies */

/* Bytes borrowed from the map: valid until cache_store_read_end() on their reader. */
typedef struct cache_val {
  const void *data;
  size_t len;
} cache_val;

/* Zero-copy lookup: CACHE_STORE_OK with *val, or CACHE_STORE_NOTFOUND. */
int cache_store_get(cache_reader *r, cache_table t, const void *key, size_t key_len, cache_val *val,
                    cache_store_err *err);
/* The store stamp as seen by this read (consistent with every row read in it). */
int cache_store_read_stamp(cache_reader *r, uint8_t out[32], cache_store_err *err);

/* A cursor over one table in key order (bytewise), inside an active read. */
typedef struct cache_iter {
  void *cursor; /* MDB_cursor; NULL when closed */
  cache_table table;
  bool started; /* first next() positions on the first row */
} cache_iter;

int cache_store_iter_init(cache_iter *it, cache_reader *r, cache_table t, cache_store_err *err);
/* CACHE_STORE_OK with the next row (borrowed like cache_store_get's), CACHE_STORE_NOTFOUND
 * after the last one, or an error. */
int cache_store_iter_next(cache_iter *it, cache_val *key, cache_val *val, cache_store_err *err);
void cache_store_iter_close(cache_iter *it); /* before read_end; twice is harmless */

/* The stamp algorithm, usable without a store (stamp.c; docs/store.md).
 * Record hash h = SHA-256(u64be len(name) | name | u64be len(key) | key | u64be len(val) | val),
 * name the table's name.  A table's sum is the 256-bit sum (big-endian, mod 2^256) of its
 * records' hashes; the store stamp = SHA-256("pdpd-store-stamp-1" | sum[0] | ... | sum[4]). */
bool cache_stamp_record(cache_table t, const void *key, size_t key_len, const void *val,
                        size_t val_len, uint8_t out[32]);
void cache_stamp_add(uint8_t sum[32], const uint8_t h[32]); /* sum += h mod 2^256 */
void cache_stamp_sub(uint8_t sum[32], const uint8_t h[32]); /* sum -= h mod 2^256 */
bool cache_stamp_fold(const uint8_t sums[CACHE_TABLE_STAMPED][32], uint8_t out[32]);

/* ---- Grants (grants.c; docs/sources.md) --------------------------------------------------
 *
 * grants.json is a JSON array of {"provider": "R"|"U"|"C", "key", "permission", "tenant"
 * (optional, "" = host), "effect" (optional, "GRANT" or "PROHIBIT")}.  It is read one item at a
 * time (never as one tree), so a file of millions of grants costs a window of the file and the
 * rows.  In the store (table grants) a grant is key = provider letter | key | 0x00 | permission |
 * 0x00 | tenant, value 'G' or 'P'. */

/* The largest key LMDB stores by default (cache_store_max_key_len of a default build): what
 * tools without a store (pdpctl) check grants against. */
#define CACHE_STORE_DEFAULT_MAX_KEY 511

/* One grant; the strings are borrowed (from the item being read, or from a store row). */
typedef struct cache_grant {
  pdpe_provider provider;
  pu_str key;         /* non-empty */
  pu_str permission;  /* non-empty: the action id */
  pu_str tenant;      /* "" = a host grant */
  pdpe_effect effect; /* PDPE_EFFECT_GRANT or PDPE_EFFECT_PROHIBIT */
} cache_grant;

/* 'R', 'U', 'C' for a provider, 0 for anything else. */
char cache_provider_letter(pdpe_provider p);

/* The store key of a grant into buf.  Returns its length (written only when it fits cap, like
 * snprintf), or 0 when the provider is not R/U/C or a part contains a NUL byte (such a key
 * could alias another grant's: no row has one). */
size_t cache_grant_key(pdpe_provider p, pu_str key, pu_str permission, pu_str tenant, char *buf,
                       size_t cap);
/* A store row back into a grant (strings borrowed from key); false when it is not one. */
bool cache_grant_from_row(const void *key, size_t key_len, const void *val, size_t val_len,
                          cache_grant *out);

/* The canonical text of a grant, one line without the newline:
 * {"provider":"R","key":"k","permission":"p","tenant":"t","effect":"GRANT"} (tenant left out
 * when empty).  False on a write error or a grant with no provider or effect. */
bool cache_grant_write_json(FILE *f, const cache_grant *g);

/* Called for every valid grant in file order (index = position in the array, line and col
 * of the item).  Return false to stop (reported as out of memory). */
typedef bool (*cache_grant_fn)(void *ctx, const cache_grant *g, uint64_t index, uint32_t line,
                               uint32_t col);

/* Stream the grants file at `path`, calling fn for each valid item until the first error;
 * later items are still checked so that one run reports every error, each as
 * "<name>:LINE:COL: grants[I].FIELD: message" (a syntax error stops the scan).  Keys longer than
 * max_key are errors.  Duplicates are NOT detected here (cache_sync_from_dir and
 * cache_dir_summarize sort the rows and report them).  Returns 0 when the file had no error,
 * 1 when it does not exist (fn never called, nothing reported), -1 on errors (in diag). */
int cache_grants_scan(const char *path, const char *name, size_t max_key, cache_grant_fn fn,
                      void *ctx, cache_diag *diag);

/* ---- Sources into the store, the store into snapshots (sync.c, view.c; docs/store.md) ------
 *
 * A bundle as rows: table policies holds "file:<name>.cedar" -> the file's bytes and "links"
 * -> template-links.json's bytes (no row when absent); table entities holds one row per
 * entity, key the uid in Cedar syntax (`Type::"id"`), value the entity's canonical JSON
 * (compact, keys sorted); table grants holds grants.json's rows (above); tables definitions
 * and revocations hold the permission files' and revocations.json's rows (defs.c,
 * revocations.c; docs/definitions.md).  Meta key
 * CACHE_META_SOURCE names the source last synced; meta keys CACHE_META_FILE_PREFIX<file> hold
 * the fingerprint of a source file whose rows the store holds (grants.json), and
 * CACHE_META_SOURCE_FP the fingerprint of every file of the source (docs/store.md). */
#define CACHE_META_SOURCE "source"
#define CACHE_META_FILE_PREFIX "file:"
#define CACHE_META_SOURCE_FP CACHE_META_FILE_PREFIX "*"

/* What a sync did. */
typedef struct cache_sync_info {
  uint32_t puts, dels; /* content rows written and deleted (0 and 0: already equal) */
  uint32_t table_puts[CACHE_TABLE_STAMPED]; /* the same per table */
  uint32_t table_dels[CACHE_TABLE_STAMPED];
  bool grants_read;        /* grants.json was read (false: its fingerprint was unchanged) */
  uint64_t grants;         /* grants in the store after the sync */
  uint8_t stamp[32];       /* the store stamp the sync committed (or found, when equal) */
  pdpe_snapshot *snapshot; /* the store right after the sync, as cache_snapshot_from_store
                              builds it (a view: its stamp is `stamp` unless another writer
                              committed in between); the caller unrefs.  NULL with
                              CACHE_SYNC_NO_SNAPSHOT */
} cache_sync_info;

/* Load the bundle in `dir` (every error to `diag`, as cache_dir_load, plus those of grants.json,
 * the permission files and revocations.json: a bundle with any error changes nothing), turn it into
 * rows and apply ONE delta holding only the differences from the store's rows, together with meta
 * CACHE_META_SOURCE = "dir:<dir>" and the fingerprints.  grants.json is not read at all when its
 * fingerprint (device, inode, size, mtime, ctime) equals the stored one; when read, it is merged
 * against the stored rows in key order so only changed grants are written.  The delta is applied
 * only if the store did not change since it was compared (else compared again).  An unchanged
 * bundle writes no content row.  `info` (optional) says what changed.  True on success. */
bool cache_sync_from_dir(cache_store *store, const char *dir, cache_sync_info *info,
                         cache_diag *diag);
/* Flags of cache_sync_from_dir_flags. */
#define CACHE_SYNC_NO_SNAPSHOT 1u /* info->snapshot stays NULL: the caller builds one if needed */
/* cache_sync_from_dir with flags (0: the same).  Whatever the flags, a sync first stats every
 * source file (never reading one): when the source is the one last synced and that whole-source
 * fingerprint equals meta CACHE_META_SOURCE_FP and is trusted (no mtime or ctime within 1 s of
 * when it was taken), it returns true at once with puts = dels = 0, grants_read false and
 * stamp = the store stamp. */
bool cache_sync_from_dir_flags(cache_store *store, const char *dir, unsigned flags,
                               cache_sync_info *info, cache_diag *diag);
/* True when a sync has committed a snapshot to the store (meta CACHE_META_SOURCE exists) and,
 * unless `source` is NULL, that snapshot came from `source` ("dir:<dir>"). */
bool cache_store_has_snapshot(cache_store *store, const char *source);

/* Build a snapshot from the store's rows inside ONE read txn that the snapshot keeps open for
 * its whole life (a "view": it pins the committed state the snapshot was built from, so grants
 * and other rows read later through it are of that same state).  stamp = the store stamp of
 * that txn, source = "store:<dir> (from dir:<bundle>)" ("store:<dir>" when no sync recorded its
 * source); snap->grants looks grants up in the view (count = rows of table grants).  The view
 * holds a reference on the store: cache_store_close() may be called while such snapshots live,
 * the environment closes with the last of them.  False with diagnostics when a row does not
 * parse. */
bool cache_snapshot_from_store(cache_store *store, pdpe_snapshot **out, cache_diag *diag);

/* Read a row of any table in the state `snap` was built from (zero-copy, valid while the
 * caller holds its snapshot reference).  CACHE_STORE_OK, CACHE_STORE_NOTFOUND, or an error
 * (also CACHE_STORE_EINVAL when snap was not built from a store).  One thread at a time per
 * snapshot (pdpd's loop thread). */
int cache_view_get(const pdpe_snapshot *snap, cache_table t, const void *key, size_t key_len,
                   cache_val *out);

/* What a bundle folder holds, without a store: validated like a sync (every error to diag)
 * and the content stamp a store would have after syncing it into an empty store. */
typedef struct cache_dir_summary {
  uint8_t stamp[32];
  uint32_t policies; /* policies of the policy set (links included) */
  uint32_t entities;
  uint64_t grants;
  uint32_t definitions; /* permission definitions of every service */
  uint32_t revocations; /* revocations.json's entries (jti and subjects) */
} cache_dir_summary;

bool cache_dir_summarize(const char *dir, cache_dir_summary *out, cache_diag *diag);

/* ---- Permission definitions and revocations in a dir source (defs.c, revocations.c,
 * srcfile.c; docs/definitions.md) ------------------------------------------------------------
 *
 * Files beside policies/: permissions/<service>.json (one per service) and revocations.json.
 * The sync reads them into rows of tables definitions and revocations; the functions below
 * edit them.  Every editor takes the source lock (flock LOCK_EX on DIR/CACHE_SOURCE_LOCK_FILE,
 * shared with the grants writer) for its whole read-merge-write and replaces a file only by
 * rename (temp file in the same folder, fsync, rename, fsync the folder), so readers see the
 * old file or the new one.  Editors change files only: the caller syncs the store afterwards,
 * so the store stamp changes only after the file write committed.
 *
 * Every editor returns true on success; false with a message in err (a field error names the
 * JSON path, "definitions[2].tenancy: ...", and, when there is text, "name:LINE:COL: ...").
 */
#define CACHE_SOURCE_LOCK_FILE ".pdpd.lock"
#define CACHE_SERVICE_MAX 200           /* bytes of a service name */
#define CACHE_DEFINITION_FIELD_MAX 1024 /* bytes of a name, display_name, group or parent */
#define CACHE_DEFINITIONS_MAX 100000    /* definitions of one service */
#define CACHE_REVOCATION_ID_MAX 500     /* bytes of a jti or a sub ("jti:" + 500 fits a key) */
#define CACHE_REVOCATION_KEEP_S 86400   /* a jti entry is dropped once exp is this far past */

/* A valid service name: 1..CACHE_SERVICE_MAX bytes of [A-Za-z0-9._-], not starting with '.'
 * (dot-files in permissions/ are ignored; they are the editors' temp files). */
bool cache_service_name_ok(const char *service);

/* DefinePermissions on a dir source (DESIGN.md §4, ABP's algorithm corrected).
 * `definitions` is a JSON array as in a permissions file ([{"name": ..., ...}]); `deleted`
 * lists names to remove (may be NULL when n_deleted is 0).  Validates everything first (a
 * deleted name that is also sent is an error), then under the source lock reads
 * permissions/<service>.json (absent = no definitions) and merges: each sent definition is
 * added or replaces the one of that name, each deleted name is removed, nothing else is ever
 * removed.  A sent name that another service's file defines is an error.  hash_out = SHA-256
 * of the merged definitions' canonical bytes (= the service's row value in table
 * definitions).  Equal to the file's canonical bytes: *changed = false and nothing is written
 * (no temp file, no rename; mtime and inode stay).  Else the file is replaced atomically and
 * *changed = true.  A service left with no definitions keeps a file with an empty list. */
bool cache_define_permissions(const char *dir, const char *service,
                              const struct json_t *definitions, const char *const *deleted,
                              size_t n_deleted, bool *changed, uint8_t hash_out[32], char *err,
                              size_t err_cap);
/* The same from JSON text (pdpctl define --file): either a permissions file's object
 * ({"service": S, "definitions": [...]}, service optional but equal to `service` when given)
 * or a bare definitions array.  `name` names the text in messages ("defs.json:3:7: ..."). */
bool cache_define_permissions_text(const char *dir, const char *service, const char *name,
                                   const char *text, size_t len, const char *const *deleted,
                                   size_t n_deleted, bool *changed, uint8_t hash_out[32], char *err,
                                   size_t err_cap);
/* The same from C structs (the server's DefinePermissions).  Each definition's `service` is
 * ignored; providers is a PDPE_PROVIDER_BIT set (0 = all); properties must be a record, or the
 * zero value (kind PDPE_BOOL, false) for none.  Strings must be UTF-8 without NUL. */
bool cache_define_permissions_defs(const char *dir, const char *service,
                                   const pdpe_definition *defs, size_t n_defs,
                                   const char *const *deleted, size_t n_deleted, bool *changed,
                                   uint8_t hash_out[32], char *err, size_t err_cap);

/* Revoke a token by jti until `exp` (Unix seconds; the entry may be dropped after exp), or
 * every token of `sub` issued before `before`, in DIR/revocations.json (created when absent),
 * under the source lock with an atomic replace.  An entry already there keeps the later of the
 * two times (revocations only grow).  When the file is rewritten, jti entries whose exp is more
 * than CACHE_REVOCATION_KEEP_S in the past are dropped; revoking such a jti changes nothing.
 * *changed (optional) says whether the file was rewritten.  Times must be >= 0; jti and sub
 * 1..CACHE_REVOCATION_ID_MAX bytes of UTF-8. */
bool cache_revoke_token_jti(const char *dir, const char *jti, int64_t exp, bool *changed, char *err,
                            size_t err_cap);
bool cache_revoke_subject(const char *dir, const char *sub, int64_t before, bool *changed,
                          char *err, size_t err_cap);

#endif

/* store.c - the LMDB store: one environment, six named DBs, deltas applied atomically.
 *
 * Owns the LMDB environment (cache_store) and reusable read transactions (cache_reader).
 * Layout: named DBs "policies", "entities", "grants", "definitions", "revocations" hold the
 * content rows, keyed by the caller's key bytes; "meta" holds the store's bookkeeping under
 * "sys." keys (format tag, one 32-byte sum per content table, the 32-byte store stamp) and
 * whatever else callers put there (a source revision, ...) under other keys.  docs/store.md
 * has the full layout and the stamp algorithm (stamp.c).
 *
 * Crash safety (why a crash at any point leaves the last committed state):
 *   - LMDB never overwrites a page a committed state refers to.  A write txn copies every page
 *     it changes (copy-on-write B+tree) into free pages; the committed tree stays intact on
 *     disk until a later commit no longer needs it and no reader pins it.
 *   - A commit first writes and fsyncs the new data pages, then writes the root of the new
 *     tree into one of the two meta pages (the older one, alternating) with its txn id, and
 *     fsyncs that.  Opening picks the meta page with the higher txn id.  Until the meta write
 *     reached the disk, the other meta page still names the previous, complete tree; and since
 *     the meta page is written only after the data it names is durable, a meta page that names
 *     the new tree never points at missing pages.  (Like LMDB, this relies on the meta record,
 *     well under one sector, being written by the device all or nothing.)
 *   - Everything one delta changes (rows, per-table sums, the stamp, the caller's meta keys)
 *     is in ONE write txn, so the stamp always describes exactly the rows beside it.  A killed
 *     process mid-delta leaves uncommitted pages that no meta page names: they are garbage,
 *     reused later.  A writer killed while holding the writer lock leaves a robust mutex
 *     that LMDB recovers on the next lock.
 *   - Durability choice: the environment is opened WITHOUT MDB_NOSYNC, MDB_NOMETASYNC and
 *     MDB_WRITEMAP, so a commit that returned has been fsynced: it survives a power loss, not
 *     only a process crash.  This costs two fsyncs per delta; deltas are rare (a source
 *     change), reads never sync.
 * Readers: a read txn sees the state of the last commit when it began, whatever writers do
 * afterwards (MVCC through the same two meta pages), so readers never see a mix either.
 *
 * Environment flags: MDB_NOTLS, so a read txn belongs to a cache_reader object, not to the
 * thread that began it (a reader can be reset and renewed by any one thread at a time).
 *
 * Views (view.c): a reader whose txn stays open for a snapshot's life.  The environment is
 * reference counted (the opener's reference plus one per view), so cache_store_close() by the
 * opener leaves it open until the last view ends.  cache__store_apply_if() applies a delta only
 * when the stamp is still the one its caller compared against, checked inside the write txn.
 */
#include "cache_int.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define META_FORMAT_KEY "sys.format"
#define META_FORMAT_VAL "pdpd-store-1"
#define META_STAMP_KEY "sys.stamp"
#define META_SUM_PREFIX "sys.sum."
#define RESERVED_LEN (sizeof(CACHE_META_RESERVED_PREFIX) - 1)

struct cache_store {
  MDB_env *env;
  MDB_dbi dbi[CACHE_TABLE_COUNT]; /* valid for the env's lifetime once opened and committed */
  char *dir;                      /* for messages */
  size_t map_size;                /* as asked (LMDB may round it up) */
  size_t max_key;                 /* mdb_env_get_maxkeysize() */
  _Atomic uint64_t hashed_rows;   /* record hashes computed since open */
  _Atomic int refs;               /* the opener's + one per view; the last closes */
};

struct cache_reader {
  cache_store *store;
  MDB_txn *txn; /* NULL until the first read_begin; reset (not freed) between reads */
  bool active;  /* between read_begin and read_end */
};

static const char *const table_names[CACHE_TABLE_COUNT] = {"policies",    "entities",    "grants",
                                                           "definitions", "revocations", "meta"};

const char *cache_table_name(cache_table t) {
  return (unsigned)t < CACHE_TABLE_COUNT ? table_names[t] : NULL;
}

const char *cache_store_strerror(int code) {
  switch (code) {
  case CACHE_STORE_OK:
    return "ok";
  case CACHE_STORE_NOTFOUND:
    return "not found";
  case CACHE_STORE_EINVAL:
    return "invalid argument";
  case CACHE_STORE_EIO:
    return "i/o error";
  case CACHE_STORE_EMAPFULL:
    return "map full";
  case CACHE_STORE_ENOMEM:
    return "out of memory";
  case CACHE_STORE_ECORRUPT:
    return "not a valid store";
  case CACHE_STORE_EBUSY:
    return "no free reader slot";
  default:
    return "unknown error";
  }
}

__attribute__((format(printf, 4, 5))) static int fail(cache_store_err *err, int code, int lmdb_rc,
                                                      const char *fmt, ...) {
  if (err) {
    err->code = code;
    err->lmdb_rc = lmdb_rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

static void ok(cache_store_err *err) {
  if (err) {
    err->code = 0;
    err->lmdb_rc = 0;
    err->message[0] = '\0';
  }
}

/* Our code for an LMDB (or errno) return code. */
static int code_of(int rc) {
  switch (rc) {
  case MDB_MAP_FULL:
    return CACHE_STORE_EMAPFULL;
  case ENOMEM:
    return CACHE_STORE_ENOMEM;
  case MDB_READERS_FULL:
    return CACHE_STORE_EBUSY;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
  case MDB_INCOMPATIBLE:
    return CACHE_STORE_ECORRUPT;
  case MDB_BAD_VALSIZE:
  case EINVAL:
    return CACHE_STORE_EINVAL;
  default:
    return CACHE_STORE_EIO;
  }
}

static int fail_mdb(cache_store_err *err, const cache_store *s, int rc, const char *what) {
  return fail(err, code_of(rc), rc, "store %s: %s: %s", s ? s->dir : "?", what, mdb_strerror(rc));
}

/* mkdir -p with mode 0700 for every component created. */
static int make_dirs(const char *dir, cache_store_err *err) {
  char *p = strdup(dir);
  if (!p) return fail(err, CACHE_STORE_ENOMEM, ENOMEM, "store %s: out of memory", dir);
  for (char *c = p + 1;; c++) {
    if (*c != '/' && *c != '\0') continue;
    char saved = *c;
    *c = '\0';
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
      int e = errno;
      int r = fail(err, CACHE_STORE_EIO, e, "store %s: cannot create %s: %s", dir, p, strerror(e));
      free(p);
      return r;
    }
    *c = saved;
    if (saved == '\0') break;
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) != 0) {
    int e = errno;
    return fail(err, CACHE_STORE_EIO, e, "store %s: %s", dir, strerror(e));
  }
  if (!S_ISDIR(st.st_mode))
    return fail(err, CACHE_STORE_EIO, ENOTDIR, "store %s: not a directory", dir);
  return 0;
}

static MDB_val mval(const void *p, size_t n) {
  MDB_val v = {.mv_size = n, .mv_data = (void *)p};
  return v;
}

static MDB_val meta_key(const char *k) {
  return mval(k, strlen(k));
}

/* Read a 32-byte meta value (a sum or the stamp) inside txn. */
static int read32(cache_store *s, MDB_txn *txn, const char *key, uint8_t out[32],
                  cache_store_err *err) {
  MDB_val k = meta_key(key), v;
  int rc = mdb_get(txn, s->dbi[CACHE_TABLE_META], &k, &v);
  if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != 32))
    return fail(err, CACHE_STORE_ECORRUPT, rc, "store %s: meta key %s missing or not 32 bytes",
                s->dir, key);
  if (rc != 0) return fail_mdb(err, s, rc, key);
  memcpy(out, v.mv_data, 32);
  return 0;
}

static void sum_key(char *buf, size_t n, int t) {
  snprintf(buf, n, META_SUM_PREFIX "%s", table_names[t]);
}

/* Write the sums and the stamp folded from them inside the write txn. */
static int write_sums(cache_store *s, MDB_txn *txn, uint8_t sums[CACHE_TABLE_STAMPED][32],
                      cache_store_err *err) {
  char key[64];
  for (int t = 0; t < CACHE_TABLE_STAMPED; t++) {
    sum_key(key, sizeof key, t);
    MDB_val k = meta_key(key), v = mval(sums[t], 32);
    int rc = mdb_put(txn, s->dbi[CACHE_TABLE_META], &k, &v, 0);
    if (rc != 0) return fail_mdb(err, s, rc, "write table sum");
  }
  uint8_t stamp[32];
  if (!cache_stamp_fold((const uint8_t(*)[32])sums, stamp))
    return fail(err, CACHE_STORE_ENOMEM, 0, "store %s: SHA-256 failed", s->dir);
  MDB_val k = meta_key(META_STAMP_KEY), v = mval(stamp, 32);
  int rc = mdb_put(txn, s->dbi[CACHE_TABLE_META], &k, &v, 0);
  return rc == 0 ? 0 : fail_mdb(err, s, rc, "write stamp");
}

/* Open the named DBs; initialise an empty environment; check the format of an existing one. */
static int init_dbs(cache_store *s, cache_store_err *err) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0) return fail_mdb(err, s, rc, "begin txn");
  for (int t = 0; t < CACHE_TABLE_COUNT; t++) {
    rc = mdb_dbi_open(txn, table_names[t], MDB_CREATE, &s->dbi[t]);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return fail_mdb(err, s, rc, table_names[t]);
    }
  }
  MDB_val k = meta_key(META_FORMAT_KEY), v;
  rc = mdb_get(txn, s->dbi[CACHE_TABLE_META], &k, &v);
  int r = 0;
  if (rc == 0) {
    if (v.mv_size != strlen(META_FORMAT_VAL) || memcmp(v.mv_data, META_FORMAT_VAL, v.mv_size) != 0)
      r = fail(err, CACHE_STORE_ECORRUPT, 0, "store %s: unknown format (expected %s)", s->dir,
               META_FORMAT_VAL);
    uint8_t tmp[32];
    if (r == 0) r = read32(s, txn, META_STAMP_KEY, tmp, err);
    char key[64];
    for (int t = 0; r == 0 && t < CACHE_TABLE_STAMPED; t++) {
      sum_key(key, sizeof key, t);
      r = read32(s, txn, key, tmp, err);
    }
    if (r != 0) {
      mdb_txn_abort(txn);
      return r;
    }
    /* Commit even though nothing was written: DBI handles opened in an aborted txn close. */
    rc = mdb_txn_commit(txn);
    return rc == 0 ? 0 : fail_mdb(err, s, rc, "commit");
  }
  if (rc != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return fail_mdb(err, s, rc, "read format");
  }
  /* No format key: a fresh environment, unless something is already in it. */
  for (int t = 0; t < CACHE_TABLE_COUNT; t++) {
    MDB_stat st;
    rc = mdb_stat(txn, s->dbi[t], &st);
    if (rc != 0 || st.ms_entries != 0) {
      mdb_txn_abort(txn);
      return rc != 0 ? fail_mdb(err, s, rc, "stat")
                     : fail(err, CACHE_STORE_ECORRUPT, 0,
                            "store %s: rows without a format key: not a pdpd store", s->dir);
    }
  }
  v = mval(META_FORMAT_VAL, strlen(META_FORMAT_VAL));
  rc = mdb_put(txn, s->dbi[CACHE_TABLE_META], &k, &v, 0);
  uint8_t sums[CACHE_TABLE_STAMPED][32];
  memset(sums, 0, sizeof sums);
  if (rc != 0) r = fail_mdb(err, s, rc, "write format");
  if (r == 0) r = write_sums(s, txn, sums, err);
  if (r != 0) {
    mdb_txn_abort(txn);
    return r;
  }
  rc = mdb_txn_commit(txn);
  return rc == 0 ? 0 : fail_mdb(err, s, rc, "commit");
}

int cache_store_open(const char *dir, size_t map_size_bytes, cache_store **out,
                     cache_store_err *err) {
  if (out) *out = NULL;
  if (!dir || !*dir || !out) return fail(err, CACHE_STORE_EINVAL, 0, "store: no directory given");
  int r = make_dirs(dir, err);
  if (r != 0) return r;
  cache_store *s = calloc(1, sizeof *s);
  if (s) s->dir = strdup(dir);
  if (!s || !s->dir) {
    free(s);
    return fail(err, CACHE_STORE_ENOMEM, ENOMEM, "store %s: out of memory", dir);
  }
  s->map_size = map_size_bytes ? map_size_bytes : CACHE_STORE_DEFAULT_MAP_SIZE;
  int rc = mdb_env_create(&s->env);
  if (rc != 0) {
    r = fail_mdb(err, s, rc, "create environment");
    s->env = NULL;
    goto bad;
  }
  if ((rc = mdb_env_set_maxdbs(s->env, CACHE_TABLE_COUNT)) != 0 ||
      (rc = mdb_env_set_mapsize(s->env, s->map_size)) != 0) {
    r = fail_mdb(err, s, rc, "configure environment");
    goto bad;
  }
  /* No MDB_NOSYNC / MDB_NOMETASYNC / MDB_WRITEMAP: see the crash-safety note at the top. */
  rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
  if (rc != 0) {
    r = fail_mdb(err, s, rc, "open");
    goto bad;
  }
  int dead = 0;
  rc = mdb_reader_check(s->env, &dead);
  if (rc != 0) {
    r = fail_mdb(err, s, rc, "reader check");
    goto bad;
  }
  s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
  r = init_dbs(s, err);
  if (r != 0) goto bad;
  atomic_init(&s->hashed_rows, 0);
  atomic_init(&s->refs, 1);
  *out = s;
  ok(err);
  return 0;
bad:
  if (s->env) mdb_env_close(s->env);
  free(s->dir);
  free(s);
  return r;
}

void cache__store_ref(cache_store *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void cache_store_close(cache_store *s) {
  if (!s) return;
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  mdb_env_close(s->env);
  free(s->dir);
  free(s);
}

int cache_store_reader_check(cache_store *s, int *cleared, cache_store_err *err) {
  if (!s) return fail(err, CACHE_STORE_EINVAL, 0, "store: NULL");
  int dead = 0;
  int rc = mdb_reader_check(s->env, &dead);
  if (cleared) *cleared = dead;
  if (rc != 0) return fail_mdb(err, s, rc, "reader check");
  ok(err);
  return 0;
}

size_t cache_store_max_key_len(const cache_store *s) {
  return s->max_key;
}

const char *cache__store_dir(const cache_store *s) {
  return s->dir;
}

uint64_t cache_store_hashed_rows(const cache_store *s) {
  return atomic_load_explicit(&((cache_store *)s)->hashed_rows, memory_order_relaxed);
}

/* ---- deltas ---- */

void cache_delta_init(cache_delta *d) {
  memset(d, 0, sizeof *d);
}

void cache_delta_close(cache_delta *d) {
  free(d->changes);
  memset(d, 0, sizeof *d);
}

void cache_delta_clear(cache_delta *d) {
  d->n = 0;
}

static bool delta_add(cache_delta *d, cache_change c) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 64;
    if (cap > SIZE_MAX / sizeof *d->changes) return false;
    cache_change *p = realloc(d->changes, cap * sizeof *p);
    if (!p) return false;
    d->changes = p;
    d->cap = cap;
  }
  d->changes[d->n++] = c;
  return true;
}

bool cache_delta_put(cache_delta *d, cache_table t, const void *key, size_t key_len,
                     const void *val, size_t val_len) {
  cache_change c = {CACHE_OP_PUT, t, key, key_len, val, val_len};
  return delta_add(d, c);
}

bool cache_delta_del(cache_delta *d, cache_table t, const void *key, size_t key_len) {
  cache_change c = {CACHE_OP_DEL, t, key, key_len, NULL, 0};
  return delta_add(d, c);
}

static bool reserved_key(const cache_change *c) {
  return c->table == CACHE_TABLE_META && c->key_len >= RESERVED_LEN &&
         memcmp(c->key, CACHE_META_RESERVED_PREFIX, RESERVED_LEN) == 0;
}

/* Check every change before the txn begins, so a bad delta costs nothing. */
static int check_delta(cache_store *s, const cache_delta *d, cache_store_err *err) {
  if (!d || (d->n > 0 && !d->changes))
    return fail(err, CACHE_STORE_EINVAL, 0, "store %s: no delta", s->dir);
  for (size_t i = 0; i < d->n; i++) {
    const cache_change *c = &d->changes[i];
    if ((unsigned)c->table >= CACHE_TABLE_COUNT)
      return fail(err, CACHE_STORE_EINVAL, 0, "store %s: change %zu: no table %d", s->dir, i,
                  (int)c->table);
    if (c->op != CACHE_OP_PUT && c->op != CACHE_OP_DEL)
      return fail(err, CACHE_STORE_EINVAL, 0, "store %s: change %zu: unknown op %d", s->dir, i,
                  (int)c->op);
    if (c->key_len == 0 || c->key_len > s->max_key || !c->key)
      return fail(err, CACHE_STORE_EINVAL, 0,
                  "store %s: change %zu (%s): key length %zu not in 1..%zu", s->dir, i,
                  table_names[c->table], c->key_len, s->max_key);
    if (c->op == CACHE_OP_PUT && c->val_len > 0 && !c->val)
      return fail(err, CACHE_STORE_EINVAL, 0, "store %s: change %zu (%s): NULL value", s->dir, i,
                  table_names[c->table]);
    if (reserved_key(c))
      return fail(err, CACHE_STORE_EINVAL, 0,
                  "store %s: change %zu: meta keys starting with \"%s\" are reserved", s->dir, i,
                  CACHE_META_RESERVED_PREFIX);
  }
  return 0;
}

/* Apply one change inside txn, keeping sums[] in step. */
static int apply_one(cache_store *s, MDB_txn *txn, EVP_MD_CTX *ctx, const cache_change *c, size_t i,
                     uint8_t sums[CACHE_TABLE_STAMPED][32], cache_store_err *err) {
  MDB_dbi dbi = s->dbi[c->table];
  bool stamped = c->table < CACHE_TABLE_STAMPED;
  MDB_val k = mval(c->key, c->key_len), old;
  int rc = mdb_get(txn, dbi, &k, &old);
  if (rc != 0 && rc != MDB_NOTFOUND) return fail_mdb(err, s, rc, "read old row");
  bool found = rc == 0;
  uint8_t h[32];
  if (c->op == CACHE_OP_PUT && found && old.mv_size == c->val_len &&
      (c->val_len == 0 || memcmp(old.mv_data, c->val, c->val_len) == 0))
    return 0; /* same value: nothing to write, the sum is unchanged */
  if (c->op == CACHE_OP_DEL && !found) return 0;
  /* Hash the old row before the write: its bytes live in the map and the write may move them. */
  if (found && stamped) {
    if (!cache__stamp_record_ctx(ctx, c->table, c->key, c->key_len, old.mv_data, old.mv_size, h))
      return fail(err, CACHE_STORE_ENOMEM, 0, "store %s: SHA-256 failed", s->dir);
    atomic_fetch_add_explicit(&s->hashed_rows, 1, memory_order_relaxed);
    cache_stamp_sub(sums[c->table], h);
  }
  if (c->op == CACHE_OP_DEL) {
    rc = mdb_del(txn, dbi, &k, NULL);
  } else {
    if (stamped) {
      if (!cache__stamp_record_ctx(ctx, c->table, c->key, c->key_len, c->val, c->val_len, h))
        return fail(err, CACHE_STORE_ENOMEM, 0, "store %s: SHA-256 failed", s->dir);
      atomic_fetch_add_explicit(&s->hashed_rows, 1, memory_order_relaxed);
      cache_stamp_add(sums[c->table], h);
    }
    MDB_val v = mval(c->val_len ? c->val : "", c->val_len);
    rc = mdb_put(txn, dbi, &k, &v, 0);
  }
  if (rc == MDB_MAP_FULL)
    return fail(
        err, CACHE_STORE_EMAPFULL, rc,
        "store %s: map full (map size %zu bytes) at change %zu of the delta; nothing applied, "
        "raise the map size",
        s->dir, s->map_size, i);
  if (rc != 0) return fail_mdb(err, s, rc, c->op == CACHE_OP_DEL ? "delete" : "put");
  return 0;
}

int cache_store_apply(cache_store *s, const cache_delta *d, cache_store_err *err) {
  return cache__store_apply_if(s, d, NULL, NULL, err);
}

/* The stamp is compared inside the write txn, so nothing can commit between the check and the
 * delta (writers are serialised).  An empty delta commits nothing. */
int cache__store_apply_if(cache_store *s, const cache_delta *d, const uint8_t expect[32],
                          uint8_t stamp_out[32], cache_store_err *err) {
  if (!s) return fail(err, CACHE_STORE_EINVAL, 0, "store: NULL");
  int r = check_delta(s, d, err);
  if (r != 0) return r;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return fail(err, CACHE_STORE_ENOMEM, ENOMEM, "store %s: out of memory", s->dir);
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0) {
    EVP_MD_CTX_free(ctx);
    return fail_mdb(err, s, rc, "begin write txn");
  }
  uint8_t sums[CACHE_TABLE_STAMPED][32], stamp[32];
  char key[64];
  if (expect || stamp_out) r = read32(s, txn, META_STAMP_KEY, stamp, err);
  if (r == 0 && expect && memcmp(stamp, expect, 32) != 0) {
    mdb_txn_abort(txn);
    EVP_MD_CTX_free(ctx);
    ok(err);
    return CACHE__STORE_CHANGED;
  }
  if (r == 0 && d->n == 0) { /* nothing to write: no commit, no fsync */
    mdb_txn_abort(txn);
    EVP_MD_CTX_free(ctx);
    if (stamp_out) memcpy(stamp_out, stamp, 32);
    ok(err);
    return 0;
  }
  for (int t = 0; r == 0 && t < CACHE_TABLE_STAMPED; t++) {
    sum_key(key, sizeof key, t);
    r = read32(s, txn, key, sums[t], err);
  }
  for (size_t i = 0; r == 0 && i < d->n; i++)
    r = apply_one(s, txn, ctx, &d->changes[i], i, sums, err);
  if (r == 0) r = write_sums(s, txn, sums, err);
  if (r == 0 && stamp_out) r = read32(s, txn, META_STAMP_KEY, stamp_out, err);
  EVP_MD_CTX_free(ctx);
  if (r != 0) {
    mdb_txn_abort(txn); /* the committed state was never touched */
    return r;
  }
  rc = mdb_txn_commit(txn); /* frees txn in every case */
  if (rc == MDB_MAP_FULL)
    return fail(
        err, CACHE_STORE_EMAPFULL, rc,
        "store %s: map full (map size %zu bytes) at commit; nothing applied, raise the map size",
        s->dir, s->map_size);
  if (rc != 0) return fail_mdb(err, s, rc, "commit");
  ok(err);
  return 0;
}

/* ---- stamps ---- */

int cache_store_stamp(cache_store *s, uint8_t out[32], cache_store_err *err) {
  if (!s || !out) return fail(err, CACHE_STORE_EINVAL, 0, "store: NULL");
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0) return fail_mdb(err, s, rc, "begin read txn");
  int r = read32(s, txn, META_STAMP_KEY, out, err);
  mdb_txn_abort(txn);
  if (r == 0) ok(err);
  return r;
}

int cache_store_recompute_stamp(cache_store *s, uint8_t out[32], cache_store_err *err) {
  if (!s || !out) return fail(err, CACHE_STORE_EINVAL, 0, "store: NULL");
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return fail(err, CACHE_STORE_ENOMEM, ENOMEM, "store %s: out of memory", s->dir);
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0) {
    EVP_MD_CTX_free(ctx);
    return fail_mdb(err, s, rc, "begin read txn");
  }
  uint8_t sums[CACHE_TABLE_STAMPED][32];
  memset(sums, 0, sizeof sums);
  int r = 0;
  for (int t = 0; r == 0 && t < CACHE_TABLE_STAMPED; t++) {
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->dbi[t], &cur);
    if (rc != 0) {
      r = fail_mdb(err, s, rc, "open cursor");
      break;
    }
    MDB_val k, v;
    uint8_t h[32];
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (!cache__stamp_record_ctx(ctx, (cache_table)t, k.mv_data, k.mv_size, v.mv_data, v.mv_size,
                                   h)) {
        rc = ENOMEM;
        break;
      }
      atomic_fetch_add_explicit(&s->hashed_rows, 1, memory_order_relaxed);
      cache_stamp_add(sums[t], h);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) r = fail_mdb(err, s, rc, "scan");
  }
  mdb_txn_abort(txn);
  EVP_MD_CTX_free(ctx);
  if (r == 0 && !cache_stamp_fold((const uint8_t(*)[32])sums, out))
    r = fail(err, CACHE_STORE_ENOMEM, 0, "store %s: SHA-256 failed", s->dir);
  if (r == 0) ok(err);
  return r;
}

/* ---- readers ---- */

int cache_store_reader_new(cache_store *s, cache_reader **out, cache_store_err *err) {
  if (out) *out = NULL;
  if (!s || !out) return fail(err, CACHE_STORE_EINVAL, 0, "store: NULL");
  cache_reader *r = calloc(1, sizeof *r);
  if (!r) return fail(err, CACHE_STORE_ENOMEM, ENOMEM, "store %s: out of memory", s->dir);
  r->store = s;
  *out = r;
  ok(err);
  return 0;
}

void cache_store_reader_free(cache_reader *r) {
  if (!r) return;
  if (r->txn) mdb_txn_abort(r->txn); /* valid on a reset txn too */
  free(r);
}

int cache_store_read_begin(cache_reader *r, cache_store_err *err) {
  if (!r) return fail(err, CACHE_STORE_EINVAL, 0, "store: NULL reader");
  cache_store *s = r->store;
  if (r->active)
    return fail(err, CACHE_STORE_EINVAL, 0, "store %s: read_begin on an active reader", s->dir);
  int rc;
  if (r->txn) {
    rc = mdb_txn_renew(r->txn);
    if (rc != 0) { /* a renew failure leaves the txn unusable: start over next time */
      mdb_txn_abort(r->txn);
      r->txn = NULL;
    }
  } else {
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc != 0) r->txn = NULL;
  }
  if (rc != 0) return fail_mdb(err, s, rc, "begin read txn");
  r->active = true;
  ok(err);
  return 0;
}

void cache_store_read_end(cache_reader *r) {
  if (!r || !r->active) return;
  mdb_txn_reset(r->txn);
  r->active = false;
}

static int check_read(cache_reader *r, cache_table t, cache_store_err *err) {
  if (!r || !r->active) return fail(err, CACHE_STORE_EINVAL, 0, "store: no active read");
  if ((unsigned)t >= CACHE_TABLE_COUNT)
    return fail(err, CACHE_STORE_EINVAL, 0, "store %s: no table %d", r->store->dir, (int)t);
  return 0;
}

int cache_store_get(cache_reader *r, cache_table t, const void *key, size_t key_len, cache_val *val,
                    cache_store_err *err) {
  int x = check_read(r, t, err);
  if (x != 0) return x;
  cache_store *s = r->store;
  if (!key || key_len == 0 || key_len > s->max_key || !val)
    return fail(err, CACHE_STORE_EINVAL, 0, "store %s: %s: key length %zu not in 1..%zu", s->dir,
                table_names[t], key_len, s->max_key);
  MDB_val k = mval(key, key_len), v;
  int rc = mdb_get(r->txn, s->dbi[t], &k, &v);
  if (rc == MDB_NOTFOUND) {
    ok(err);
    return CACHE_STORE_NOTFOUND;
  }
  if (rc != 0) return fail_mdb(err, s, rc, "get");
  val->data = v.mv_data;
  val->len = v.mv_size;
  ok(err);
  return 0;
}

int cache_store_read_stamp(cache_reader *r, uint8_t out[32], cache_store_err *err) {
  int x = check_read(r, CACHE_TABLE_META, err);
  if (x != 0) return x;
  x = read32(r->store, r->txn, META_STAMP_KEY, out, err);
  if (x == 0) ok(err);
  return x;
}

int cache_store_iter_init(cache_iter *it, cache_reader *r, cache_table t, cache_store_err *err) {
  memset(it, 0, sizeof *it);
  int x = check_read(r, t, err);
  if (x != 0) return x;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(r->txn, r->store->dbi[t], &cur);
  if (rc != 0) return fail_mdb(err, r->store, rc, "open cursor");
  it->cursor = cur;
  it->table = t;
  ok(err);
  return 0;
}

int cache_store_iter_next(cache_iter *it, cache_val *key, cache_val *val, cache_store_err *err) {
  if (!it || !it->cursor) return fail(err, CACHE_STORE_EINVAL, 0, "store: closed iterator");
  MDB_val k, v;
  int rc;
  for (;;) {
    rc = mdb_cursor_get(it->cursor, &k, &v, it->started ? MDB_NEXT : MDB_FIRST);
    it->started = true;
    if (rc != 0) break;
    /* The store's own bookkeeping is not the caller's meta. */
    if (it->table == CACHE_TABLE_META && k.mv_size >= RESERVED_LEN &&
        memcmp(k.mv_data, CACHE_META_RESERVED_PREFIX, RESERVED_LEN) == 0)
      continue;
    break;
  }
  if (rc == MDB_NOTFOUND) {
    ok(err);
    return CACHE_STORE_NOTFOUND;
  }
  if (rc != 0)
    return fail(err, code_of(rc), rc, "store: iterate %s: %s", table_names[it->table],
                mdb_strerror(rc));
  if (key) {
    key->data = k.mv_data;
    key->len = k.mv_size;
  }
  if (val) {
    val->data = v.mv_data;
    val->len = v.mv_size;
  }
  ok(err);
  return 0;
}

void cache_store_iter_close(cache_iter *it) {
  if (!it || !it->cursor) return;
  mdb_cursor_close(it->cursor);
  it->cursor = NULL;
}

/* ---- views: a read txn held for a snapshot's life ---- */

int cache__view_open(cache_store *s, cache_reader **out, cache_store_err *err) {
  cache_reader *r = NULL;
  int x = cache_store_reader_new(s, &r, err);
  if (x == 0) x = cache_store_read_begin(r, err);
  /* Touch every table once: the first access to a named DB in a txn refreshes its record in
   * the txn; after this, gets only read. */
  for (int t = 0; x == 0 && t < CACHE_TABLE_COUNT; t++) {
    MDB_stat st;
    int rc = mdb_stat(r->txn, s->dbi[t], &st);
    if (rc != 0) x = fail_mdb(err, s, rc, "stat");
  }
  if (x != 0) {
    cache_store_reader_free(r);
    return x;
  }
  cache__store_ref(s);
  *out = r;
  return 0;
}

void cache__view_close(cache_reader *view) {
  if (!view) return;
  cache_store *s = view->store;
  cache_store_reader_free(view);
  cache_store_close(s); /* the view's reference */
}

int cache__read_count(cache_reader *r, cache_table t, uint64_t *n, cache_store_err *err) {
  int x = check_read(r, t, err);
  if (x != 0) return x;
  MDB_stat st;
  int rc = mdb_stat(r->txn, r->store->dbi[t], &st);
  if (rc != 0) return fail_mdb(err, r->store, rc, "stat");
  *n = st.ms_entries;
  ok(err);
  return 0;
}

cache_store *cache__reader_store(cache_reader *r) {
  return r->store;
}

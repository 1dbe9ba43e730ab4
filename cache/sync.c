/* sync.c - a bundle folder into the LMDB store, as one delta holding only the differences.
 *
 * cache_sync_from_dir() validates the policies and entities with cache_dir_load() (so their
 * diagnostics are the loader's), reads them again as rows (cache.h says which), reads the
 * permission files and revocations.json as rows (defs.c, revocations.c) and parses those rows
 * into a throw-away snapshot (a file that changed in between is caught here, before anything
 * is written; so is a definition that makes the Action hierarchy cyclic).  grants.json is read one
 * item at a time into sorted rows (grants.c), unless its fingerprint says the store already holds
 * exactly its rows.  Then, inside one read txn, the rows are compared with the store's (the grants
 * by a merge walk of two sorted sequences, so a changed grant costs one put whatever the size of
 * the table) and ONE delta is applied, on condition that the store stamp is still the one compared
 * against (else compared again).  An unchanged bundle writes no content row and keeps the stamp.
 *
 * Fingerprints: meta "file:grants.json" holds (st_dev, st_ino, st_size, st_mtim, st_ctim) of
 * the file as it was read and when it was taken, written in the same delta as its rows, or
 * "absent".  A later sync that finds the same fingerprint (and the same source) neither reads,
 * parses nor compares the file.  A fingerprint whose ctime is within FP_RACY_NS of the moment it
 * was taken is not trusted (a write in the same clock tick keeps ctime; cf. git's "racily clean"
 * entries): the next sync reads the file once more and records a trusted one.
 *
 * The whole source: before reading anything, a sync stats every file it would read (the
 * fixed names, policies/ *.cedar and permissions/ *.json as listed, absent ones as "absent") into
 * one SHA-256 (source_fp_take).  Meta "file:*" holds it, written in the same delta as the
 * content (alone when the content was equal).  When the source is the same and the digest equal
 * and trusted (the same FP_RACY_NS rule over every file's mtime and ctime), the sync is done:
 * no file is read, parsed or compared and nothing is written (an unchanged check of pdpd).
 * CACHE_SYNC_NO_SNAPSHOT leaves info->snapshot NULL for callers that build one themselves.
 *
 * cache_dir_summarize() computes the same rows without a store and folds them into the stamp a
 * store would hold (pdpctl status --source).
 */
#include "cache_int.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FILE_PREFIX "file:"
#define LINKS_KEY "links"
#define GRANTS_FILE "grants.json"
#define FP_ABSENT "absent"
#define FP_LEN 64
#define FP_RACY_NS 1000000000LL /* timestamps this close to the fingerprint are not trusted */
#define SYNC_TRIES 3            /* compare again when another writer committed meanwhile */

/* The folder's rows by table, each sorted by key: policies, entities, definitions and
 * revocations (the grants, which may be millions, are in a cache__grant_rows instead). */
typedef struct rowset {
  cache__row *p[CACHE_TABLE_STAMPED];
  size_t n[CACHE_TABLE_STAMPED]; /* n[CACHE_TABLE_GRANTS] is always 0 */
} rowset;

/* The tables a rowset fills (all content tables but grants). */
static const cache_table row_tables[] = {CACHE_TABLE_POLICIES, CACHE_TABLE_ENTITIES,
                                         CACHE_TABLE_DEFINITIONS, CACHE_TABLE_REVOCATIONS};
#define N_ROW_TABLES (sizeof row_tables / sizeof *row_tables)

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  if (c) return c;
  return an < bn ? -1 : an > bn;
}

static int cmp_rows(const void *x, const void *y) {
  const cache__row *a = x, *b = y;
  return cmp_bytes(a->key, a->key_len, b->key, b->key_len);
}

/* ---- folder -> rows ---------------------------------------------------------------------- */

/* The uid of an entity element ({"uid": {"type", "id"}} or {"uid": {"__entity": ...}}). */
static bool entity_key(pu_arena *a, const json_t *e, pu_str *key) {
  const json_t *uid = json_object_get(e, "uid");
  const json_t *inner = json_object_get(uid, "__entity");
  if (inner) uid = inner;
  const json_t *t = json_object_get(uid, "type"), *i = json_object_get(uid, "id");
  if (!json_is_string(t) || !json_is_string(i)) return false;
  pdpl_uid u = {{json_string_value(t), json_string_length(t)},
                {json_string_value(i), json_string_length(i)}};
  *key = pdpl_uid_format(a, u);
  return key->ptr != NULL;
}

static bool read_rows(pu_arena *a, const char *dir, size_t max_key, rowset *rs, cache_diag *diag) {
  size_t cap[2] = {0, 0};
  memset(rs, 0, sizeof(*rs));
  char *pdir = pu_arena_printf(a, "%s/policies", dir);
  char **names = NULL;
  int n = pdir ? cache__list_policy_files(a, pdir, &names, diag) : -1;
  if (n < 0) return false;
  for (int i = 0; i < n; i++) {
    char *path = pu_arena_printf(a, "%s/%s", pdir, names[i]);
    char *key = pu_arena_printf(a, FILE_PREFIX "%s", names[i]);
    char *text = NULL;
    size_t len = 0;
    if (!path || !key || !cache__read_file(a, path, &text, &len, diag)) return false;
    if (!cache__add_row(a, &rs->p[0], &rs->n[0], &cap[0], key, strlen(key), text, len)) goto oom;
  }
  struct stat st;
  char *lpath = pu_arena_printf(a, "%s/template-links.json", dir);
  if (!lpath) goto oom;
  if (stat(lpath, &st) == 0 || errno != ENOENT) {
    char *text = NULL;
    size_t len = 0;
    if (!cache__read_file(a, lpath, &text, &len, diag)) return false;
    if (!cache__add_row(a, &rs->p[0], &rs->n[0], &cap[0], LINKS_KEY, strlen(LINKS_KEY), text, len))
      goto oom;
  }
  if (rs->n[0] > 1) qsort(rs->p[0], rs->n[0], sizeof(cache__row), cmp_rows);

  char *epath = pu_arena_printf(a, "%s/entities.json", dir);
  if (!epath) goto oom;
  if (stat(epath, &st) != 0 && errno == ENOENT) return true;
  char *text = NULL;
  size_t len = 0;
  if (!cache__read_file(a, epath, &text, &len, diag)) return false;
  json_error_t jerr;
  json_t *json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json || !json_is_array(json)) {
    cache_diag_addf(diag, "%s: not a JSON array of entities", epath);
    json_decref(json);
    return false;
  }
  bool ok = true;
  size_t i;
  json_t *e;
  json_array_foreach(json, i, e) {
    pu_str key;
    if (!entity_key(a, e, &key)) {
      cache_diag_addf(diag, "%s: entity [%zu] has no uid", epath, i);
      ok = false;
      break;
    }
    if (key.len > max_key) {
      cache_diag_addf(diag, "%s: entity [%zu]: uid is %zu bytes, the store keeps at most %zu",
                      epath, i, key.len, max_key);
      ok = false;
      break;
    }
    char *canon = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    char *val = canon ? pu_arena_strdup(a, canon) : NULL;
    free(canon);
    if (!val ||
        !cache__add_row(a, &rs->p[1], &rs->n[1], &cap[1], key.ptr, key.len, val, strlen(val))) {
      cache_diag_addf(diag, "%s: out of memory", epath);
      ok = false;
      break;
    }
  }
  json_decref(json);
  if (!ok) return false;
  if (rs->n[1] > 1) qsort(rs->p[1], rs->n[1], sizeof(cache__row), cmp_rows);
  return true;
oom:
  cache_diag_addf(diag, "%s: out of memory", dir);
  return false;
}

/* Validate the policies and entities of `dir` (cache_dir_load's diagnostics), the permission
 * files and revocations.json (defs.c, revocations.c), read them as rows and check that the rows
 * parse into a snapshot (nothing changed in between; definitions and entities make an acyclic
 * Action hierarchy).  counts (optional) gets the policy, entity and definition counts. */
static bool folder_rows(pu_arena *a, const char *dir, size_t max_key, rowset *rows,
                        uint32_t counts[3], cache_diag *diag) {
  pdpe_snapshot *check = NULL;
  bool ok = cache_dir_load(dir, &check, diag);
  pdpe_snapshot_unref(check);
  /* read even when the rest failed, so that one run reports every error */
  cache__row *defs = NULL, *revs = NULL;
  uint32_t n_defs = 0, n_revs = 0;
  ok = cache__defs_rows_from_dir(a, dir, &defs, &n_defs, diag) && ok;
  ok = cache__revocations_rows_from_dir(a, dir, &revs, &n_revs, diag) && ok;
  if (!ok) return false;
  pdpe_snapshot *s = pdpe_snapshot_new();
  if (!s) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  char *pdir = pu_arena_printf(&s->arena, "%s/policies", dir);
  char *lname = pu_arena_printf(&s->arena, "%s/template-links.json", dir);
  char *ename = pu_arena_printf(&s->arena, "%s/entities.json", dir);
  ok = pdir && lname && ename && read_rows(a, dir, max_key, rows, diag);
  if (ok) {
    rows->p[CACHE_TABLE_DEFINITIONS] = defs;
    rows->n[CACHE_TABLE_DEFINITIONS] = n_defs;
    rows->p[CACHE_TABLE_REVOCATIONS] = revs;
    rows->n[CACHE_TABLE_REVOCATIONS] = n_revs;
  }
  pdpe_definition *d = NULL;
  uint32_t nd = 0;
  if (ok && !cache__defs_from_rows(&s->arena, defs, n_defs, &d, &nd, diag)) ok = false;
  if (ok && !cache__build_snapshot(s, rows->p[0], rows->n[0], rows->p[1], rows->n[1], d, nd, pdir,
                                   lname, ename, diag)) {
    cache_diag_addf(diag,
                    "%s: the bundle does not make a snapshot (or changed while it was "
                    "loaded); nothing stored",
                    dir);
    ok = false;
  }
  if (ok && counts) {
    counts[0] = s->policies ? pdpe_policy_set_count(s->policies) : 0;
    counts[1] = s->entities ? pdpe_entities_count(s->entities) : 0;
    counts[2] = s->n_definitions;
  }
  pdpe_snapshot_unref(s);
  return ok;
}

/* ---- fingerprints ------------------------------------------------------------------------ */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* dev, ino, size, mtime s/ns, ctime s/ns, then when it was taken (ns since the epoch). */
static void fp_encode(const struct stat *st, int64_t taken_ns, uint8_t out[FP_LEN]) {
  put_u64(out + 0, (uint64_t)st->st_dev);
  put_u64(out + 8, (uint64_t)st->st_ino);
  put_u64(out + 16, (uint64_t)st->st_size);
  put_u64(out + 24, (uint64_t)st->st_mtim.tv_sec);
  put_u64(out + 32, (uint64_t)st->st_mtim.tv_nsec);
  put_u64(out + 40, (uint64_t)st->st_ctim.tv_sec);
  put_u64(out + 48, (uint64_t)st->st_ctim.tv_nsec);
  put_u64(out + 56, (uint64_t)taken_ns);
}

/* True when the stored fingerprint says the store holds exactly the rows of the file at `path`
 * as it is now. */
static bool fp_unchanged(const cache_val *stored, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    return errno == ENOENT && stored->len == strlen(FP_ABSENT) &&
           memcmp(stored->data, FP_ABSENT, stored->len) == 0;
  }
  if (stored->len != FP_LEN || !S_ISREG(st.st_mode)) return false;
  uint8_t now[FP_LEN];
  fp_encode(&st, 0, now);
  const uint8_t *fp = stored->data;
  if (memcmp(fp, now, FP_LEN - 8) != 0) return false;
  int64_t ctime_ns = (int64_t)get_u64(fp + 40) * 1000000000LL + (int64_t)get_u64(fp + 48);
  int64_t mtime_ns = (int64_t)get_u64(fp + 24) * 1000000000LL + (int64_t)get_u64(fp + 32);
  int64_t taken = (int64_t)get_u64(fp + 56);
  return ctime_ns + FP_RACY_NS <= taken && mtime_ns + FP_RACY_NS <= taken;
}

/* ---- the whole source's fingerprint ------------------------------------------------------ */

/* SHA-256 over the stats of every file the sync reads (below), then the newest mtime or ctime
 * among them (ns) and when it was taken (ns, before the first stat), each a big-endian u64. */
#define SFP_LEN 48
#define SFP_FORMAT "pdpd-source-fp-1"

typedef struct sfp_ctx {
  pu_arena *a;
  const char *dir;
  EVP_MD_CTX *md;
  int64_t newest;
  bool ok;
} sfp_ctx;

static void sfp_bytes(sfp_ctx *c, const void *p, size_t n) {
  if (c->ok && EVP_DigestUpdate(c->md, p, n) != 1) c->ok = false;
}

static void sfp_u64(sfp_ctx *c, uint64_t v) {
  uint8_t b[8];
  put_u64(b, v);
  sfp_bytes(c, b, 8);
}

/* The path `rel` (relative to the source dir, NUL-terminated in the digest), then 'A' when it
 * does not exist or 'S' and its stat.  Any other stat error: no fingerprint. */
static void sfp_file(sfp_ctx *c, const char *rel) {
  char *path = c->ok ? pu_arena_printf(c->a, "%s/%s", c->dir, rel) : NULL;
  struct stat st;
  if (!path) {
    c->ok = false;
    return;
  }
  sfp_bytes(c, rel, strlen(rel) + 1);
  if (stat(path, &st) != 0) {
    if (errno != ENOENT) c->ok = false;
    sfp_bytes(c, "A", 1);
    return;
  }
  sfp_bytes(c, "S", 1);
  sfp_u64(c, (uint64_t)st.st_dev);
  sfp_u64(c, (uint64_t)st.st_ino);
  sfp_u64(c, (uint64_t)st.st_mode);
  sfp_u64(c, (uint64_t)st.st_size);
  sfp_u64(c, (uint64_t)st.st_mtim.tv_sec);
  sfp_u64(c, (uint64_t)st.st_mtim.tv_nsec);
  sfp_u64(c, (uint64_t)st.st_ctim.tv_sec);
  sfp_u64(c, (uint64_t)st.st_ctim.tv_nsec);
  int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  int64_t t = (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
  if (m > c->newest) c->newest = m;
  if (t > c->newest) c->newest = t;
}

/* A folder the sync lists (policies/ with *.cedar, permissions/ with *.json, the same filters
 * as the readers): 'A' when absent, else 'D' and every listed file, so that a file added,
 * removed or renamed changes the digest. */
static void sfp_folder(sfp_ctx *c, const char *sub, const char *suffix) {
  char *path = c->ok ? pu_arena_printf(c->a, "%s/%s", c->dir, sub) : NULL;
  struct stat st;
  if (!path) {
    c->ok = false;
    return;
  }
  sfp_bytes(c, sub, strlen(sub) + 1);
  if (stat(path, &st) != 0) {
    if (errno != ENOENT) c->ok = false;
    sfp_bytes(c, "A", 1);
    return;
  }
  sfp_bytes(c, "D", 1);
  cache_diag scratch; /* a folder that cannot be listed: no fingerprint, the sync reports it */
  cache_diag_init(&scratch);
  char **names = NULL;
  int n = suffix ? cache__list_files(c->a, path, suffix, &names, &scratch)
                 : cache__list_policy_files(c->a, path, &names, &scratch);
  cache_diag_close(&scratch);
  if (n < 0) c->ok = false;
  sfp_u64(c, (uint64_t)(n > 0 ? n : 0));
  for (int i = 0; c->ok && i < n; i++) {
    char *rel = pu_arena_printf(c->a, "%s/%s", sub, names[i]);
    if (!rel) c->ok = false;
    sfp_file(c, rel);
  }
}

/* The fingerprint of every file a sync of `dir` reads, from stats only (no file is opened but
 * the two folders' listings).  False when some stat or listing failed: no fingerprint. */
static bool source_fp_take(pu_arena *a, const char *dir, uint8_t out[SFP_LEN]) {
  int64_t taken = now_ns(); /* before the first stat: see FP_RACY_NS */
  sfp_ctx c = {a, dir, EVP_MD_CTX_new(), 0, true};
  if (!c.md || EVP_DigestInit_ex(c.md, EVP_sha256(), NULL) != 1) c.ok = false;
  sfp_bytes(&c, SFP_FORMAT, sizeof SFP_FORMAT);
  sfp_file(&c, "entities.json");
  sfp_file(&c, GRANTS_FILE);
  sfp_folder(&c, "permissions", ".json");
  sfp_folder(&c, "policies", NULL);
  sfp_file(&c, "revocations.json");
  sfp_file(&c, "template-links.json");
  unsigned len = 0;
  if (c.ok && (EVP_DigestFinal_ex(c.md, out, &len) != 1 || len != 32)) c.ok = false;
  EVP_MD_CTX_free(c.md);
  put_u64(out + 32, (uint64_t)c.newest);
  put_u64(out + 40, (uint64_t)taken);
  return c.ok;
}

/* True when the stored fingerprint has the digest of `now` and was trusted when taken: no file
 * had a timestamp within FP_RACY_NS of that moment (a write in the same clock tick as a stat
 * may keep every stat field). */
static bool source_fp_holds(const cache_val *stored, const uint8_t now[SFP_LEN]) {
  if (stored->len != SFP_LEN || memcmp(stored->data, now, 32) != 0) return false;
  const uint8_t *fp = stored->data;
  int64_t newest = (int64_t)get_u64(fp + 32), taken = (int64_t)get_u64(fp + 40);
  return newest + FP_RACY_NS <= taken;
}

/* True when the store was synced from `source` and holds it as it is now (fingerprint `now`):
 * info gets the store stamp and the grant count.  False on any doubt (the full sync decides). */
static bool source_in_store(cache_store *store, const char *source, const uint8_t now[SFP_LEN],
                            cache_sync_info *info) {
  cache_reader *r = NULL;
  cache_store_err err;
  bool held = false;
  if (cache_store_reader_new(store, &r, &err) == 0 && cache_store_read_begin(r, &err) == 0) {
    cache_val v;
    held = cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &v,
                           &err) == CACHE_STORE_OK &&
           v.len == strlen(source) && memcmp(v.data, source, v.len) == 0 &&
           cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE_FP, strlen(CACHE_META_SOURCE_FP),
                           &v, &err) == CACHE_STORE_OK &&
           source_fp_holds(&v, now) && cache_store_read_stamp(r, info->stamp, &err) == 0 &&
           cache__read_count(r, CACHE_TABLE_GRANTS, &info->grants, &err) == 0;
  }
  cache_store_reader_free(r);
  return held;
}

/* ---- comparing with the store ---------------------------------------------------------- */

static bool same(const cache__row *a, const cache__row *b) {
  return a->val_len == b->val_len && memcmp(a->val, b->val, a->val_len) == 0;
}

/* Append to d the changes that turn `old` into `new` (both sorted); keys of deletes are
 * copied into the arena, since old's bytes die with the read. */
static bool diff(pu_arena *a, cache_table t, const cache__row *old, size_t n_old,
                 const cache__row *nw, size_t n_new, cache_delta *d, cache_sync_info *info) {
  size_t i = 0, j = 0;
  while (i < n_old || j < n_new) {
    int c = i == n_old   ? 1
            : j == n_new ? -1
                         : cmp_bytes(old[i].key, old[i].key_len, nw[j].key, nw[j].key_len);
    if (c < 0) {
      char *k = pu_arena_memdup(a, old[i].key, old[i].key_len);
      if (!k || !cache_delta_del(d, t, k, old[i].key_len)) return false;
      info->table_dels[t]++;
      i++;
    } else if (c > 0 || !same(&old[i], &nw[j])) {
      if (!cache_delta_put(d, t, nw[j].key, nw[j].key_len, nw[j].val, nw[j].val_len)) return false;
      info->table_puts[t]++;
      if (c == 0) i++;
      j++;
    } else {
      i++, j++;
    }
  }
  return true;
}

/* The grants merge walk: the table's rows in key order (a cursor in the read r) against the
 * file's sorted rows.  Never holds the table in memory. */
static bool diff_grants(pu_arena *a, cache_reader *r, const cache__grant_rows *g, cache_delta *d,
                        cache_sync_info *info, cache_store_err *err) {
  static const char vals[2] = {'G', 'P'};
  cache_iter it;
  if (cache_store_iter_init(&it, r, CACHE_TABLE_GRANTS, err) != CACHE_STORE_OK) return false;
  cache_val k, v;
  int rc = cache_store_iter_next(&it, &k, &v, err);
  size_t j = 0;
  bool ok = true;
  while (ok && (rc == CACHE_STORE_OK || j < g->n)) {
    if (rc != CACHE_STORE_OK && rc != CACHE_STORE_NOTFOUND) break;
    const cache__grant_row *nw = j < g->n ? &g->rows[j] : NULL;
    const char *nk = nw ? g->keys + nw->off : NULL;
    int c = rc != CACHE_STORE_OK ? 1 : !nw ? -1 : cmp_bytes(k.data, k.len, nk, nw->len);
    if (c < 0) {
      char *copy = pu_arena_memdup(a, k.data, k.len);
      ok = copy && cache_delta_del(d, CACHE_TABLE_GRANTS, copy, k.len);
      info->table_dels[CACHE_TABLE_GRANTS]++;
      rc = cache_store_iter_next(&it, &k, &v, err);
    } else {
      bool changed = c > 0 || v.len != 1 || *(const char *)v.data != nw->val;
      if (changed) {
        ok = cache_delta_put(d, CACHE_TABLE_GRANTS, nk, nw->len, &vals[nw->val == 'P'], 1);
        info->table_puts[CACHE_TABLE_GRANTS]++;
      }
      if (c == 0) rc = cache_store_iter_next(&it, &k, &v, err);
      j++;
    }
  }
  cache_store_iter_close(&it);
  if (!ok) {
    snprintf(err->message, sizeof err->message, "out of memory comparing the grants");
    return false;
  }
  return rc == CACHE_STORE_NOTFOUND || rc == CACHE_STORE_OK;
}

/* The grants side of a sync, kept across tries: the file is read at most once. */
typedef struct grants_side {
  const char *path;
  char fp_key[64];
  int state; /* 0 not read yet, 1 read (rows valid, maybe absent), -1 errors */
  bool absent;
  uint8_t fp[FP_LEN];
  cache__grant_rows rows;
} grants_side;

/* One comparison with the store (inside a fresh read) and the conditional apply.  Returns 1
 * applied (or nothing to apply), 0 the store changed meanwhile (try again), -1 error. */
static int sync_once(cache_store *store, const char *source, const rowset *rows, grants_side *gs,
                     const uint8_t *sfp, cache_sync_info *info, cache_diag *diag) {
  cache_reader *r = NULL;
  cache_store_err err;
  memset(&err, 0, sizeof err);
  pu_arena scratch;
  pu_arena_init(&scratch, 1 << 16, 0);
  cache_delta delta;
  cache_delta_init(&delta);
  int result = -1;
  uint8_t seen[32];
  memset(info->table_puts, 0, sizeof info->table_puts);
  memset(info->table_dels, 0, sizeof info->table_dels);
  if (cache_store_reader_new(store, &r, &err) != 0 || cache_store_read_begin(r, &err) != 0 ||
      cache_store_read_stamp(r, seen, &err) != 0)
    goto store_err;
  for (size_t i = 0; i < N_ROW_TABLES; i++) {
    cache_table t = row_tables[i];
    cache__row *old;
    size_t n_old;
    if (!cache__table_rows(&scratch, r, t, &old, &n_old, &err)) goto store_err;
    if (!diff(&scratch, t, old, n_old, rows->p[t], rows->n[t], &delta, info)) {
      cache_diag_addf(diag, "%s: out of memory", source);
      goto out;
    }
  }
  cache_val v;
  int g =
      cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &v, &err);
  if (g < 0) goto store_err;
  bool same_source =
      g == CACHE_STORE_OK && v.len == strlen(source) && memcmp(v.data, source, v.len) == 0;
  if (!same_source) {
    if (!cache_delta_put(&delta, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE),
                         source, strlen(source)))
      goto oom;
  }

  /* The whole source's fingerprint (taken before any file was read), or none. */
  g = cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE_FP, strlen(CACHE_META_SOURCE_FP), &v,
                      &err);
  if (g < 0) goto store_err;
  if (sfp && (g != CACHE_STORE_OK || v.len != SFP_LEN || memcmp(v.data, sfp, SFP_LEN) != 0)) {
    if (!cache_delta_put(&delta, CACHE_TABLE_META, CACHE_META_SOURCE_FP,
                         strlen(CACHE_META_SOURCE_FP), sfp, SFP_LEN))
      goto oom;
  } else if (!sfp && g == CACHE_STORE_OK) {
    if (!cache_delta_del(&delta, CACHE_TABLE_META, CACHE_META_SOURCE_FP,
                         strlen(CACHE_META_SOURCE_FP)))
      goto oom;
  }

  /* grants.json: skipped when the store holds exactly its rows already. */
  g = cache_store_get(r, CACHE_TABLE_META, gs->fp_key, strlen(gs->fp_key), &v, &err);
  if (g < 0) goto store_err;
  info->grants_read = !(same_source && g == CACHE_STORE_OK && fp_unchanged(&v, gs->path));
  if (info->grants_read) {
    if (gs->state == 0) {
      int64_t t0 = now_ns(); /* before the file's fstat: see FP_RACY_NS */
      struct stat st;
      int rc = cache__grant_rows_read(gs->path, GRANTS_FILE, cache_store_max_key_len(store),
                                      &gs->rows, &st, diag);
      gs->state = rc < 0 ? -1 : 1;
      gs->absent = rc == 1;
      if (rc == 0) fp_encode(&st, t0, gs->fp);
    }
    if (gs->state < 0) goto out;
    if (!diff_grants(&scratch, r, &gs->rows, &delta, info, &err)) goto store_err;
    const void *fp = gs->absent ? (const void *)FP_ABSENT : gs->fp;
    size_t fp_len = gs->absent ? strlen(FP_ABSENT) : FP_LEN;
    if (g != CACHE_STORE_OK || v.len != fp_len || memcmp(v.data, fp, fp_len) != 0) {
      if (!cache_delta_put(&delta, CACHE_TABLE_META, gs->fp_key, strlen(gs->fp_key), fp, fp_len))
        goto oom;
    }
    info->grants = gs->rows.n;
  } else if (cache__read_count(r, CACHE_TABLE_GRANTS, &info->grants, &err) != 0) {
    goto store_err;
  }
  cache_store_read_end(r);
  int rc = cache__store_apply_if(store, &delta, seen, info->stamp, &err);
  if (rc == CACHE__STORE_CHANGED) {
    result = 0;
  } else if (rc != 0) {
    goto store_err;
  } else {
    info->puts = info->dels = 0;
    for (int t = 0; t < CACHE_TABLE_STAMPED; t++) {
      info->puts += info->table_puts[t];
      info->dels += info->table_dels[t];
    }
    result = 1;
  }
  goto out;
oom:
  cache_diag_addf(diag, "%s: out of memory", source);
  goto out;
store_err:
  cache_diag_addf(diag, "%s", err.message[0] ? err.message : "store: error");
out:
  cache_store_reader_free(r); /* ends the read if still active */
  cache_delta_close(&delta);
  pu_arena_close(&scratch);
  return result;
}

/* True when the store was synced from `source` and holds grants.json's rows as the file is. */
static bool grants_in_store(cache_store *store, const char *source, const grants_side *gs) {
  cache_reader *r = NULL;
  cache_store_err err;
  bool held = false;
  if (cache_store_reader_new(store, &r, &err) == 0 && cache_store_read_begin(r, &err) == 0) {
    cache_val v;
    held = cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &v,
                           &err) == CACHE_STORE_OK &&
           v.len == strlen(source) && memcmp(v.data, source, v.len) == 0 &&
           cache_store_get(r, CACHE_TABLE_META, gs->fp_key, strlen(gs->fp_key), &v, &err) ==
               CACHE_STORE_OK &&
           fp_unchanged(&v, gs->path);
  }
  cache_store_reader_free(r);
  return held;
}

bool cache_store_has_snapshot(cache_store *store, const char *source) {
  cache_reader *r = NULL;
  cache_store_err err;
  bool has = false;
  if (cache_store_reader_new(store, &r, &err) != 0) return false;
  if (cache_store_read_begin(r, &err) == 0) {
    cache_val v;
    has = cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &v,
                          &err) == CACHE_STORE_OK;
    if (has && source) has = v.len == strlen(source) && memcmp(v.data, source, v.len) == 0;
    cache_store_read_end(r);
  }
  cache_store_reader_free(r);
  return has;
}

bool cache_sync_from_dir(cache_store *store, const char *dir, cache_sync_info *info_out,
                         cache_diag *diag) {
  return cache_sync_from_dir_flags(store, dir, 0, info_out, diag);
}

bool cache_sync_from_dir_flags(cache_store *store, const char *dir, unsigned flags,
                               cache_sync_info *info_out, cache_diag *diag) {
  cache_sync_info info;
  memset(&info, 0, sizeof(info));
  pu_arena scratch;
  pu_arena_init(&scratch, 1 << 16, 0);
  grants_side gs;
  memset(&gs, 0, sizeof gs);
  snprintf(gs.fp_key, sizeof gs.fp_key, CACHE_META_FILE_PREFIX GRANTS_FILE);
  bool ok = false;
  rowset rows;
  memset(&rows, 0, sizeof rows);
  char *source = pu_arena_printf(&scratch, "dir:%s", dir);
  gs.path = pu_arena_printf(&scratch, "%s/" GRANTS_FILE, dir);
  if (!source || !gs.path) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    goto out;
  }
  /* Nothing changed since the last sync (stats only): done, without reading a file. */
  uint8_t sfp[SFP_LEN];
  bool have_sfp = source_fp_take(&scratch, dir, sfp);
  int rc = 0;
  if (have_sfp && source_in_store(store, source, sfp, &info)) goto synced;
  if (!folder_rows(&scratch, dir, cache_store_max_key_len(store), &rows, NULL, diag)) {
    /* Report grants.json's errors in the same run, unless the store holds it already. */
    if (!grants_in_store(store, source, &gs)) {
      struct stat st;
      cache__grant_rows_read(gs.path, GRANTS_FILE, cache_store_max_key_len(store), &gs.rows, &st,
                             diag);
    }
    goto out;
  }
  for (int attempt = 0; attempt < SYNC_TRIES && rc == 0; attempt++)
    rc = sync_once(store, source, &rows, &gs, have_sfp ? sfp : NULL, &info, diag);
  if (rc == 0)
    cache_diag_addf(diag, "store %s: other writers kept changing it; nothing stored from %s",
                    cache__store_dir(store), dir);
  if (rc != 1) goto out;
synced:
  ok = true;
  if (info_out && !(flags & CACHE_SYNC_NO_SNAPSHOT) &&
      !cache_snapshot_from_store(store, &info.snapshot, diag)) {
    cache_diag_addf(diag, "%s: stored, but the store does not make a snapshot", dir);
    ok = false;
  }
out:
  cache__grant_rows_close(&gs.rows);
  pu_arena_close(&scratch);
  if (ok && info_out) *info_out = info;
  return ok;
}

/* ---- without a store ---------------------------------------------------------------------- */

static bool fold_rows(EVP_MD_CTX *ctx, cache_table t, const cache__row *rows, size_t n,
                      uint8_t sum[32]) {
  uint8_t h[32];
  for (size_t i = 0; i < n; i++) {
    if (!cache__stamp_record_ctx(ctx, t, rows[i].key, rows[i].key_len, rows[i].val, rows[i].val_len,
                                 h))
      return false;
    cache_stamp_add(sum, h);
  }
  return true;
}

bool cache_dir_summarize(const char *dir, cache_dir_summary *out, cache_diag *diag) {
  memset(out, 0, sizeof *out);
  pu_arena scratch;
  pu_arena_init(&scratch, 1 << 16, 0);
  rowset rows;
  memset(&rows, 0, sizeof rows);
  uint32_t counts[3] = {0, 0, 0};
  cache__grant_rows grants;
  memset(&grants, 0, sizeof grants);
  bool ok = folder_rows(&scratch, dir, CACHE_STORE_DEFAULT_MAX_KEY, &rows, counts, diag);
  char *path = pu_arena_printf(&scratch, "%s/" GRANTS_FILE, dir);
  struct stat st;
  /* grants.json is checked even when the rest failed, so one run reports every error */
  if (!path || cache__grant_rows_read(path, GRANTS_FILE, CACHE_STORE_DEFAULT_MAX_KEY, &grants, &st,
                                      diag) < 0)
    ok = false;
  EVP_MD_CTX *ctx = ok ? EVP_MD_CTX_new() : NULL;
  if (ok) {
    uint8_t sums[CACHE_TABLE_STAMPED][32], h[32];
    memset(sums, 0, sizeof sums);
    ok = ctx != NULL;
    for (size_t i = 0; ok && i < N_ROW_TABLES; i++) {
      cache_table t = row_tables[i];
      ok = fold_rows(ctx, t, rows.p[t], rows.n[t], sums[t]);
    }
    for (size_t i = 0; ok && i < grants.n; i++) {
      const cache__grant_row *g = &grants.rows[i];
      ok = cache__stamp_record_ctx(ctx, CACHE_TABLE_GRANTS, grants.keys + g->off, g->len, &g->val,
                                   1, h);
      cache_stamp_add(sums[CACHE_TABLE_GRANTS], h);
    }
    ok = ok && cache_stamp_fold((const uint8_t(*)[32])sums, out->stamp);
    if (!ok) cache_diag_addf(diag, "%s: cannot compute the stamp", dir);
  }
  EVP_MD_CTX_free(ctx);
  out->policies = counts[0];
  out->entities = counts[1];
  out->definitions = counts[2];
  out->revocations = (uint32_t)rows.n[CACHE_TABLE_REVOCATIONS];
  out->grants = grants.n;
  cache__grant_rows_close(&grants);
  pu_arena_close(&scratch);
  return ok;
}

/* sync.c - a bundle folder into the LMDB store, and the store into a snapshot.
 *
 * cache_sync_from_dir() validates the bundle with cache_dir_load() (so its diagnostics are the
 * loader's), reads it again as rows (cache.h says which), builds a snapshot from exactly those
 * rows (a file that changed in between is caught here, before anything is written), and then
 * compares the rows with the store's in one read and applies ONE delta holding only the
 * differences.  An unchanged bundle writes nothing and keeps the stamp.
 *
 * cache_snapshot_from_store() reads the rows back in one read txn and builds the same snapshot:
 * policy rows parsed in key order (so policy0, policy1, ... are numbered as in the folder),
 * the links row, the entity rows as one JSON array.  Both paths share build_snapshot(), so the
 * store serves exactly what the folder said.
 */
#include "cache_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FILE_PREFIX "file:"
#define FILE_PREFIX_LEN (sizeof(FILE_PREFIX) - 1)
#define LINKS_KEY "links"

/* The rows of the two tables a bundle fills. */
typedef struct rowset {
  cache__row *p[2]; /* [0] policies, [1] entities; sorted by key */
  size_t n[2];
} rowset;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  if (c) return c;
  return an < bn ? -1 : an > bn;
}

static int cmp_rows(const void *x, const void *y) {
  const cache__row *a = x, *b = y;
  return cmp_bytes(a->key, a->key_len, b->key, b->key_len);
}

static int64_t now_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- rows -> snapshot ------------------------------------------------------------------- */

/* Parse the rows into s.  Policy rows name their file as `pdir/<name>` (pdir NULL: `<name>`);
 * links and entities are named links_name and ents_name in errors. */
static bool build_snapshot(pdpe_snapshot *s, const rowset *rs, const char *pdir,
                           const char *links_name, const char *ents_name, cache_diag *diag) {
  pu_arena *a = &s->arena;
  pdpl_policies all = {0};
  uint32_t index = 0, errors = 0;
  pdpe_link *links = NULL;
  uint32_t n_links = 0;
  pdpl_errors *errs = malloc(sizeof(*errs));
  if (!errs) {
    cache_diag_addf(diag, "%s: out of memory", ents_name);
    return false;
  }
  for (size_t i = 0; i < rs->n[0]; i++) {
    const cache__row *r = &rs->p[0][i];
    if (r->key_len == strlen(LINKS_KEY) && memcmp(r->key, LINKS_KEY, r->key_len) == 0) {
      json_error_t jerr;
      json_t *json = json_loadb(r->val, r->val_len, JSON_REJECT_DUPLICATES, &jerr);
      if (!json) {
        cache_diag_addf(diag, "%s:%d:%d: %s", links_name, jerr.line, jerr.column, jerr.text);
        errors++;
        continue;
      }
      if (!cache__links_from_json(a, json, links_name, &links, &n_links, diag)) errors++;
      json_decref(json);
      continue;
    }
    if (r->key_len <= FILE_PREFIX_LEN || memcmp(r->key, FILE_PREFIX, FILE_PREFIX_LEN) != 0) {
      cache_diag_addf(diag, "policies row \"%.*s\": not a policy file or the links",
                      (int)(r->key_len > 100 ? 100 : r->key_len), r->key);
      errors++;
      continue;
    }
    int nlen = (int)(r->key_len - FILE_PREFIX_LEN);
    const char *name = r->key + FILE_PREFIX_LEN;
    char *file = pdir ? pu_arena_printf(a, "%s/%.*s", pdir, nlen, name)
                      : pu_arena_printf(a, "%.*s", nlen, name);
    char *text = pu_arena_memdup(a, r->val, r->val_len);
    if (!file || !text) {
      cache_diag_addf(diag, "%.*s: out of memory", nlen, name);
      errors++;
      continue;
    }
    memset(errs, 0, sizeof(*errs));
    uint32_t e = pdpl_parse(a, file, text, r->val_len, &index, &all, errs);
    for (uint32_t k = 0; k < errs->n; k++) {
      char line[512];
      cache_diag_addf(diag, "%s", pdpl_error_format(&errs->items[k], line, sizeof(line)));
    }
    if (errs->dropped) cache_diag_addf(diag, "%s: %u more errors not shown", file, errs->dropped);
    errors += e;
  }
  free(errs);
  char err[512];
  if (!errors &&
      !pdpe_policy_set_build_linked(a, &all, links, n_links, &s->policies, err, sizeof(err))) {
    cache_diag_addf(diag, "%s", err);
    errors++;
  }
  if (rs->n[1] == 0) {
    if (!pdpe_entities_build(a, NULL, 0, ents_name, &s->entities, err, sizeof(err))) {
      cache_diag_addf(diag, "%s", err);
      errors++;
    }
    return errors == 0;
  }
  json_t *arr = json_array();
  if (!arr) {
    cache_diag_addf(diag, "%s: out of memory", ents_name);
    return false;
  }
  for (size_t i = 0; i < rs->n[1]; i++) {
    const cache__row *r = &rs->p[1][i];
    json_error_t jerr;
    json_t *e = json_loadb(r->val, r->val_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!e || json_array_append_new(arr, e) != 0) {
      cache_diag_addf(diag, "%s: entity %.*s: %s", ents_name,
                      (int)(r->key_len > 200 ? 200 : r->key_len), r->key,
                      e ? "out of memory" : jerr.text);
      errors++;
    }
  }
  if (!errors && !pdpe_entities_from_json(a, arr, ents_name, &s->entities, err, sizeof(err))) {
    cache_diag_addf(diag, "%s", err);
    errors++;
  }
  json_decref(arr);
  return errors == 0;
}

/* The content stamp the store would hold with exactly these rows (other tables empty). */
static bool rows_stamp(const rowset *rs, uint8_t out[32]) {
  uint8_t sums[CACHE_TABLE_STAMPED][32];
  memset(sums, 0, sizeof(sums));
  for (int t = 0; t < 2; t++) {
    for (size_t i = 0; i < rs->n[t]; i++) {
      uint8_t h[32];
      const cache__row *r = &rs->p[t][i];
      if (!cache_stamp_record((cache_table)t, r->key, r->key_len, r->val, r->val_len, h))
        return false;
      cache_stamp_add(sums[t], h);
    }
  }
  return cache_stamp_fold(sums, out);
}

/* ---- folder -> rows ---------------------------------------------------------------------- */

static bool add_row(pu_arena *a, cache__row **rows, size_t *n, size_t *cap, const char *key,
                    size_t key_len, const char *val, size_t val_len) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    cache__row *p = pu_arena_alloc(a, nc * sizeof(*p));
    if (!p) return false;
    if (*n) memcpy(p, *rows, *n * sizeof(*p));
    *rows = p;
    *cap = nc;
  }
  (*rows)[(*n)++] = (cache__row){key, key_len, val, val_len};
  return true;
}

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
    if (!add_row(a, &rs->p[0], &rs->n[0], &cap[0], key, strlen(key), text, len)) goto oom;
  }
  struct stat st;
  char *lpath = pu_arena_printf(a, "%s/template-links.json", dir);
  if (!lpath) goto oom;
  if (stat(lpath, &st) == 0 || errno != ENOENT) {
    char *text = NULL;
    size_t len = 0;
    if (!cache__read_file(a, lpath, &text, &len, diag)) return false;
    if (!add_row(a, &rs->p[0], &rs->n[0], &cap[0], LINKS_KEY, strlen(LINKS_KEY), text, len))
      goto oom;
  }
  qsort(rs->p[0], rs->n[0], sizeof(cache__row), cmp_rows);

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
    if (!val || !add_row(a, &rs->p[1], &rs->n[1], &cap[1], key.ptr, key.len, val, strlen(val))) {
      cache_diag_addf(diag, "%s: out of memory", epath);
      ok = false;
      break;
    }
  }
  json_decref(json);
  if (!ok) return false;
  qsort(rs->p[1], rs->n[1], sizeof(cache__row), cmp_rows);
  return true;
oom:
  cache_diag_addf(diag, "%s: out of memory", dir);
  return false;
}

/* ---- the store's rows ------------------------------------------------------------------- */

/* Every row of the two tables inside the active read r (borrowed from the map). */
static bool store_rows(pu_arena *a, cache_reader *r, rowset *rs, cache_store_err *err) {
  memset(rs, 0, sizeof(*rs));
  for (int t = 0; t < 2; t++) {
    size_t cap = 0;
    cache_iter it;
    int rc = cache_store_iter_init(&it, r, (cache_table)t, err);
    if (rc != CACHE_STORE_OK) return false;
    cache_val k, v;
    while ((rc = cache_store_iter_next(&it, &k, &v, err)) == CACHE_STORE_OK) {
      if (!add_row(a, &rs->p[t], &rs->n[t], &cap, k.data, k.len, v.data, v.len)) {
        snprintf(err->message, sizeof(err->message), "out of memory reading the store");
        rc = CACHE_STORE_ENOMEM;
        break;
      }
    }
    cache_store_iter_close(&it);
    if (rc != CACHE_STORE_NOTFOUND) return false;
  }
  return true;
}

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
      info->dels++;
      i++;
    } else if (c > 0 || !same(&old[i], &nw[j])) {
      if (!cache_delta_put(d, t, nw[j].key, nw[j].key_len, nw[j].val, nw[j].val_len)) return false;
      info->puts++;
      if (c == 0) i++;
      j++;
    } else {
      i++, j++;
    }
  }
  return true;
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
  cache_sync_info info;
  memset(&info, 0, sizeof(info));
  pdpe_snapshot *check = NULL;
  if (!cache_dir_load(dir, &check, diag)) return false;
  pdpe_snapshot_unref(check);

  pdpe_snapshot *s = pdpe_snapshot_new();
  if (!s) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  pu_arena scratch;
  pu_arena_init(&scratch, 1 << 16, 0);
  cache_delta delta;
  cache_delta_init(&delta);
  cache_reader *r = NULL;
  cache_store_err err;
  memset(&err, 0, sizeof(err));
  bool ok = false, reading = false;
  rowset rows, old;
  char *pdir = pu_arena_printf(&s->arena, "%s/policies", dir);
  char *lname = pu_arena_printf(&s->arena, "%s/template-links.json", dir);
  char *ename = pu_arena_printf(&s->arena, "%s/entities.json", dir);
  char *source = pu_arena_printf(&scratch, "dir:%s", dir);
  if (!pdir || !lname || !ename || !source) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    goto out;
  }
  if (!read_rows(&scratch, dir, cache_store_max_key_len(store), &rows, diag)) goto out;
  /* The bytes just read must be what cache_dir_load accepted: a file may have changed since. */
  if (!build_snapshot(s, &rows, pdir, lname, ename, diag)) {
    cache_diag_addf(diag, "%s: the bundle changed while it was loaded; nothing stored", dir);
    goto out;
  }
  if (!rows_stamp(&rows, info.stamp)) {
    cache_diag_addf(diag, "%s: cannot compute the stamp", dir);
    goto out;
  }
  memcpy(s->stamp, info.stamp, 32);
  s->source = pu_arena_printf(&s->arena, "dir:%s", dir);
  s->loaded_unix_ms = now_unix_ms();

  if (cache_store_reader_new(store, &r, &err) != 0 || cache_store_read_begin(r, &err) != 0)
    goto store_err;
  reading = true;
  if (!store_rows(&scratch, r, &old, &err)) goto store_err;
  for (int t = 0; t < 2; t++) {
    if (!diff(&scratch, (cache_table)t, old.p[t], old.n[t], rows.p[t], rows.n[t], &delta, &info)) {
      cache_diag_addf(diag, "%s: out of memory", dir);
      goto out;
    }
  }
  cache_val v;
  int g =
      cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &v, &err);
  if (g < 0) goto store_err;
  if (g == CACHE_STORE_NOTFOUND || v.len != strlen(source) || memcmp(v.data, source, v.len) != 0) {
    if (!cache_delta_put(&delta, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE),
                         source, strlen(source))) {
      cache_diag_addf(diag, "%s: out of memory", dir);
      goto out;
    }
  }
  cache_store_read_end(r);
  reading = false;
  if (delta.n && cache_store_apply(store, &delta, &err) != 0) goto store_err;
  ok = true;
  goto out;
store_err:
  cache_diag_addf(diag, "%s", err.message[0] ? err.message : "store: error");
out:
  if (reading) cache_store_read_end(r);
  cache_store_reader_free(r);
  cache_delta_close(&delta);
  pu_arena_close(&scratch);
  if (ok && info_out) {
    info.snapshot = s;
    *info_out = info;
  } else {
    pdpe_snapshot_unref(s);
  }
  return ok;
}

bool cache_snapshot_from_store(cache_store *store, pdpe_snapshot **out, cache_diag *diag) {
  const char *dir = cache__store_dir(store);
  pdpe_snapshot *s = pdpe_snapshot_new();
  if (!s) {
    cache_diag_addf(diag, "store %s: out of memory", dir);
    return false;
  }
  pu_arena scratch;
  pu_arena_init(&scratch, 1 << 16, 0);
  cache_reader *r = NULL;
  cache_store_err err;
  memset(&err, 0, sizeof(err));
  bool ok = false, reading = false;
  rowset rows;
  if (cache_store_reader_new(store, &r, &err) != 0 || cache_store_read_begin(r, &err) != 0 ||
      !(reading = true) || cache_store_read_stamp(r, s->stamp, &err) != 0 ||
      !store_rows(&scratch, r, &rows, &err)) {
    cache_diag_addf(diag, "%s", err.message[0] ? err.message : "store: error");
    goto out;
  }
  /* build_snapshot copies every byte it keeps into the snapshot's arena. */
  if (!build_snapshot(s, &rows, NULL, "template-links.json", "entities.json", diag)) {
    cache_diag_addf(diag, "store %s: the stored rows do not make a snapshot", dir);
    goto out;
  }
  cache_val from;
  if (cache_store_get(r, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &from,
                      &err) == CACHE_STORE_OK &&
      from.len < 4096)
    s->source = pu_arena_printf(&s->arena, "store:%s (from %.*s)", dir, (int)from.len,
                                (const char *)from.data);
  else
    s->source = pu_arena_printf(&s->arena, "store:%s", dir);
  s->loaded_unix_ms = now_unix_ms();
  ok = s->source != NULL;
out:
  if (reading) cache_store_read_end(r);
  cache_store_reader_free(r);
  pu_arena_close(&scratch);
  if (ok) {
    *out = s;
  } else {
    pdpe_snapshot_unref(s);
  }
  return ok;
}

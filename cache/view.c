/* view.c - the store into a snapshot that pins the state it was built from.
 *
 * cache_snapshot_from_store() opens ONE LMDB read txn (a "view", cache__view_open), reads the
 * policy, entity and definition rows in it, parses them into the snapshot's arena (policy rows
 * in key order, so policy0, policy1, ... are numbered as in the folder; then the links row;
 * then the entity rows as one JSON array with the definitions, pdpe_snapshot_set_data) and keeps
 * the txn open for the snapshot's life: snap->grants.ctx is
 * the view, lookup is one mdb_get on table grants in it, release (called by the last
 * pdpe_snapshot_unref) ends the txn.  So the grants a snapshot answers with are always those of
 * the committed state its policies came from, whatever deltas commit later (LMDB MVCC), and no
 * grant is ever held in memory.  The view holds a store reference, so the environment stays
 * open while such a snapshot lives.
 *
 * Cost of pinning: LMDB cannot reuse pages the pinned state still refers to, so while an old
 * snapshot lives, deltas grow the file instead of recycling; the old snapshot is freed when the
 * last request using it finishes, and its pages are reused after that.
 *
 * cache__build_snapshot() is shared with the sync (sync.c), which parses the rows it read from
 * the folder the same way, so the store serves exactly what the folder said.
 */
#include "cache_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_PREFIX "file:"
#define FILE_PREFIX_LEN (sizeof(FILE_PREFIX) - 1)
#define LINKS_KEY "links"
#define LOOKUP_KEY_MAX 1024 /* above any LMDB max key size a store is built with */

int64_t cache__now_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cache__add_row(pu_arena *a, cache__row **rows, size_t *n, size_t *cap, const char *key,
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

bool cache__table_rows(pu_arena *a, cache_reader *r, cache_table t, cache__row **rows, size_t *n,
                       cache_store_err *err) {
  size_t cap = 0;
  *rows = NULL;
  *n = 0;
  cache_iter it;
  int rc = cache_store_iter_init(&it, r, t, err);
  if (rc != CACHE_STORE_OK) return false;
  cache_val k, v;
  while ((rc = cache_store_iter_next(&it, &k, &v, err)) == CACHE_STORE_OK) {
    if (!cache__add_row(a, rows, n, &cap, k.data, k.len, v.data, v.len)) {
      snprintf(err->message, sizeof(err->message), "out of memory reading the store");
      rc = CACHE_STORE_ENOMEM;
      break;
    }
  }
  cache_store_iter_close(&it);
  return rc == CACHE_STORE_NOTFOUND;
}

/* ---- rows -> snapshot ------------------------------------------------------------------- */

/* The policy rows (files and links) into s->policies. */
static uint32_t build_policies(pdpe_snapshot *s, const cache__row *rows, size_t n, const char *pdir,
                               const char *links_name, cache_diag *diag) {
  pu_arena *a = &s->arena;
  pdpl_policies all = {0};
  uint32_t index = 0, errors = 0;
  pdpe_link *links = NULL;
  uint32_t n_links = 0;
  pdpl_errors *errs = malloc(sizeof(*errs));
  if (!errs) {
    cache_diag_addf(diag, "%s: out of memory", links_name);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    const cache__row *r = &rows[i];
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
  return errors;
}

bool cache__build_snapshot(pdpe_snapshot *s, const cache__row *policies, size_t n_policies,
                           const cache__row *entities, size_t n_entities,
                           const pdpe_definition *defs, uint32_t n_defs, const char *pdir,
                           const char *links_name, const char *ents_name, cache_diag *diag) {
  uint32_t errors = build_policies(s, policies, n_policies, pdir, links_name, diag);
  json_t *arr = NULL;
  if (n_entities) {
    arr = json_array();
    if (!arr) {
      cache_diag_addf(diag, "%s: out of memory", ents_name);
      return false;
    }
  }
  for (size_t i = 0; i < n_entities; i++) {
    const cache__row *r = &entities[i];
    json_error_t jerr;
    json_t *e = json_loadb(r->val, r->val_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!e || json_array_append_new(arr, e) != 0) {
      cache_diag_addf(diag, "%s: entity %.*s: %s", ents_name,
                      (int)(r->key_len > 200 ? 200 : r->key_len), r->key,
                      e ? "out of memory" : jerr.text);
      errors++;
    }
  }
  char err[512];
  if (!errors && !pdpe_snapshot_set_data(s, arr, ents_name, defs, n_defs, err, sizeof(err))) {
    cache_diag_addf(diag, "%s", err);
    errors++;
  }
  json_decref(arr);
  return errors == 0;
}

/* ---- the view's grants -------------------------------------------------------------------- */

static int view_lookup(void *ctx, const pdpe_grant_key *k, char *err, size_t err_cap) {
  cache_reader *view = ctx;
  char key[LOOKUP_KEY_MAX];
  size_t n = cache_grant_key(k->provider, k->key, k->permission, k->tenant, key, sizeof key);
  /* No row has a NUL in a part, a bad provider or a key longer than the store keeps. */
  if (n == 0 || n > sizeof key || n > cache_store_max_key_len(cache__reader_store(view)))
    return PDPE_EFFECT_NONE;
  cache_val v;
  cache_store_err e;
  int rc = cache_store_get(view, CACHE_TABLE_GRANTS, key, n, &v, &e);
  if (rc == CACHE_STORE_NOTFOUND) return PDPE_EFFECT_NONE;
  if (rc != CACHE_STORE_OK) {
    snprintf(err, err_cap, "grant lookup: %s", e.message);
    return -1;
  }
  if (v.len == 1 && *(const char *)v.data == 'G') return PDPE_EFFECT_GRANT;
  if (v.len == 1 && *(const char *)v.data == 'P') return PDPE_EFFECT_PROHIBIT;
  snprintf(err, err_cap, "grant lookup: the stored row has a bad value (%zu bytes)", v.len);
  return -1;
}

static void view_release(void *ctx) {
  cache__view_close(ctx);
}

int cache_view_get(const pdpe_snapshot *snap, cache_table t, const void *key, size_t key_len,
                   cache_val *out) {
  if (!snap || snap->grants.lookup != view_lookup || !snap->grants.ctx) return CACHE_STORE_EINVAL;
  return cache_store_get(snap->grants.ctx, t, key, key_len, out, NULL);
}

/* ---- the store -> snapshot ----------------------------------------------------------------- */

bool cache_snapshot_from_store(cache_store *store, pdpe_snapshot **out, cache_diag *diag) {
  const char *dir = cache__store_dir(store);
  pdpe_snapshot *s = pdpe_snapshot_new();
  if (!s) {
    cache_diag_addf(diag, "store %s: out of memory", dir);
    return false;
  }
  pu_arena scratch;
  pu_arena_init(&scratch, 1 << 16, 0);
  cache_reader *view = NULL;
  cache_store_err err;
  memset(&err, 0, sizeof(err));
  bool ok = false;
  cache__row *pol = NULL, *ent = NULL;
  size_t n_pol = 0, n_ent = 0;
  if (cache__view_open(store, &view, &err) != 0) goto store_err;
  /* From here the snapshot owns the view: its last unref ends the txn. */
  s->grants = (pdpe_grants){view, view_lookup, view_release, 0};
  if (cache_store_read_stamp(view, s->stamp, &err) != 0 ||
      cache__read_count(view, CACHE_TABLE_GRANTS, &s->grants.count, &err) != 0 ||
      !cache__table_rows(&scratch, view, CACHE_TABLE_POLICIES, &pol, &n_pol, &err) ||
      !cache__table_rows(&scratch, view, CACHE_TABLE_ENTITIES, &ent, &n_ent, &err))
    goto store_err;

  /* The definitions rows become the snapshot's permission definitions (defs.c). */
  cache__row *def_rows = NULL;
  size_t n_def_rows = 0;
  pdpe_definition *defs = NULL;
  uint32_t n_defs = 0;
  if (!cache__table_rows(&scratch, view, CACHE_TABLE_DEFINITIONS, &def_rows, &n_def_rows, &err))
    goto store_err;
  if (!cache__defs_from_rows(&scratch, def_rows, (uint32_t)n_def_rows, &defs, &n_defs, diag)) {
    cache_diag_addf(diag, "store %s: the stored definitions do not load", dir);
    goto out;
  }

  /* cache__build_snapshot copies every byte it keeps into the snapshot's arena. */
  if (!cache__build_snapshot(s, pol, n_pol, ent, n_ent, defs, n_defs, NULL, "template-links.json",
                             "entities.json", diag)) {
    cache_diag_addf(diag, "store %s: the stored rows do not make a snapshot", dir);
    goto out;
  }
  cache_val from;
  if (cache_store_get(view, CACHE_TABLE_META, CACHE_META_SOURCE, strlen(CACHE_META_SOURCE), &from,
                      &err) == CACHE_STORE_OK &&
      from.len < 4096)
    s->source = pu_arena_printf(&s->arena, "store:%s (from %.*s)", dir, (int)from.len,
                                (const char *)from.data);
  else
    s->source = pu_arena_printf(&s->arena, "store:%s", dir);
  s->loaded_unix_ms = cache__now_unix_ms();
  ok = s->source != NULL;
  if (!ok) cache_diag_addf(diag, "store %s: out of memory", dir);
  goto out;
store_err:
  cache_diag_addf(diag, "%s", err.message[0] ? err.message : "store: error");
out:
  pu_arena_close(&scratch);
  if (ok) {
    *out = s;
  } else {
    pdpe_snapshot_unref(s); /* ends the view too */
  }
  return ok;
}

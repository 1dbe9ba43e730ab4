/* test_cache_store.c - the LMDB store: real LMDB files in temp folders.
 *
 * Rows go in and come back zero-copy; deltas are all or nothing; the stamp depends on content
 * only (not on order or history), is maintained by hashing only the rows a delta touches, and
 * always equals a recompute from every row; a full map or a bad folder is a clear error that
 * leaves the previous state intact.
 */
#include <criterion/criterion.h>

#include "../../cache/cache.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char dir2[64];

static void make_dirs(void) {
  strcpy(dir, "/tmp/pdpd-store-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  strcpy(dir2, "/tmp/pdpd-store-XXXXXX");
  cr_assert_not_null(mkdtemp(dir2));
}

static void remove_dirs(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, dir2);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(cache_store, .init = make_dirs, .fini = remove_dirs);

static cache_store *open_at(const char *d, size_t map) {
  cache_store *s = NULL;
  cache_store_err err;
  int r = cache_store_open(d, map, &s, &err);
  cr_assert_eq(r, 0, "open %s: %s", d, err.message);
  return s;
}

static void apply(cache_store *s, cache_delta *d) {
  cache_store_err err;
  cr_assert_eq(cache_store_apply(s, d, &err), 0, "apply: %s", err.message);
  cache_delta_clear(d);
}

static void put_str(cache_delta *d, cache_table t, const char *k, const char *v) {
  cr_assert(cache_delta_put(d, t, k, strlen(k), v, strlen(v)));
}

static void del_str(cache_delta *d, cache_table t, const char *k) {
  cr_assert(cache_delta_del(d, t, k, strlen(k)));
}

static void stamp_of(cache_store *s, uint8_t out[32]) {
  cache_store_err err;
  cr_assert_eq(cache_store_stamp(s, out, &err), 0, "%s", err.message);
  uint8_t re[32];
  cr_assert_eq(cache_store_recompute_stamp(s, re, &err), 0, "%s", err.message);
  cr_assert_arr_eq(out, re, 32, "the stored stamp differs from a recompute");
}

/* The value of `key` in `t` as a NUL-terminated copy in buf, or NULL when absent. */
static const char *get_str(cache_store *s, cache_table t, const char *key, char *buf, size_t n) {
  cache_reader *r;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  cr_assert_eq(cache_store_read_begin(r, &err), 0, "%s", err.message);
  cache_val v;
  int rc = cache_store_get(r, t, key, strlen(key), &v, &err);
  const char *out = NULL;
  if (rc == 0) {
    cr_assert_lt(v.len, n);
    memcpy(buf, v.data, v.len);
    buf[v.len] = '\0';
    out = buf;
  } else {
    cr_assert_eq(rc, CACHE_STORE_NOTFOUND, "%s", err.message);
  }
  cache_store_read_end(r);
  cache_store_reader_free(r);
  return out;
}

Test(cache_store, rows_are_put_read_back_deleted_and_iterated_in_key_order) {
  cache_store *s = open_at(dir, 0);
  cache_delta d;
  cache_delta_init(&d);
  put_str(&d, CACHE_TABLE_ENTITIES, "user/bob", "B");
  put_str(&d, CACHE_TABLE_ENTITIES, "user/alice", "A");
  put_str(&d, CACHE_TABLE_ENTITIES, "user/carol", "C");
  put_str(&d, CACHE_TABLE_POLICIES, "p0", "permit(principal, action, resource);");
  put_str(&d, CACHE_TABLE_META, "source.revision", "17");
  apply(s, &d);
  char buf[128];
  cr_assert_str_eq(get_str(s, CACHE_TABLE_ENTITIES, "user/alice", buf, sizeof buf), "A");
  cr_assert_str_eq(get_str(s, CACHE_TABLE_POLICIES, "p0", buf, sizeof buf),
                   "permit(principal, action, resource);");
  cr_assert_null(get_str(s, CACHE_TABLE_POLICIES, "user/alice", buf, sizeof buf),
                 "tables are separate");

  del_str(&d, CACHE_TABLE_ENTITIES, "user/bob");
  del_str(&d, CACHE_TABLE_ENTITIES, "nobody"); /* absent: a no-op */
  apply(s, &d);
  cr_assert_null(get_str(s, CACHE_TABLE_ENTITIES, "user/bob", buf, sizeof buf));

  cache_reader *r;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  for (int round = 0; round < 3; round++) { /* the read txn is reused */
    cr_assert_eq(cache_store_read_begin(r, &err), 0, "%s", err.message);
    cache_iter it;
    cr_assert_eq(cache_store_iter_init(&it, r, CACHE_TABLE_ENTITIES, &err), 0);
    cache_val k, v;
    const char *want_k[] = {"user/alice", "user/carol"}, *want_v[] = {"A", "C"};
    int n = 0;
    int rc;
    while ((rc = cache_store_iter_next(&it, &k, &v, &err)) == 0) {
      cr_assert_lt(n, 2);
      cr_assert_eq(k.len, strlen(want_k[n]));
      cr_assert_eq(memcmp(k.data, want_k[n], k.len), 0);
      cr_assert_eq(v.len, 1);
      cr_assert_eq(memcmp(v.data, want_v[n], 1), 0);
      n++;
    }
    cr_assert_eq(rc, CACHE_STORE_NOTFOUND, "%s", err.message);
    cr_assert_eq(n, 2);
    cache_store_iter_close(&it);
    cache_store_iter_close(&it);
    /* Iterating meta shows the caller's keys, not the store's own bookkeeping. */
    cr_assert_eq(cache_store_iter_init(&it, r, CACHE_TABLE_META, &err), 0);
    cr_assert_eq(cache_store_iter_next(&it, &k, &v, &err), 0);
    cr_assert_eq(k.len, strlen("source.revision"));
    cr_assert_eq(memcmp(k.data, "source.revision", k.len), 0);
    cr_assert_eq(cache_store_iter_next(&it, &k, &v, &err), CACHE_STORE_NOTFOUND);
    cache_store_iter_close(&it);
    cache_store_read_end(r);
  }
  cr_assert_eq(cache_store_get(r, CACHE_TABLE_ENTITIES, "user/alice", 10, &(cache_val){0}, &err),
               CACHE_STORE_EINVAL, "a get outside a read is refused");
  cache_store_reader_free(r);
  uint8_t st[32];
  stamp_of(s, st);
  cache_delta_close(&d);
  cache_store_close(s);
}

Test(cache_store, a_reader_keeps_seeing_the_state_it_began_with) {
  cache_store *s = open_at(dir, 0);
  cache_delta d;
  cache_delta_init(&d);
  put_str(&d, CACHE_TABLE_GRANTS, "g1", "old");
  apply(s, &d);
  uint8_t before[32];
  stamp_of(s, before);
  cache_reader *r;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  cr_assert_eq(cache_store_read_begin(r, &err), 0);
  cache_val v;
  cr_assert_eq(cache_store_get(r, CACHE_TABLE_GRANTS, "g1", 2, &v, &err), 0);
  put_str(&d, CACHE_TABLE_GRANTS, "g1", "new");
  put_str(&d, CACHE_TABLE_GRANTS, "g2", "x");
  apply(s, &d);
  /* The value read before the commit is still valid and unchanged; the read sees no part of
   * the delta, and its stamp is the old one. */
  cr_assert_eq(v.len, 3);
  cr_assert_eq(memcmp(v.data, "old", 3), 0);
  cr_assert_eq(cache_store_get(r, CACHE_TABLE_GRANTS, "g2", 2, &v, &err), CACHE_STORE_NOTFOUND);
  uint8_t seen[32];
  cr_assert_eq(cache_store_read_stamp(r, seen, &err), 0);
  cr_assert_arr_eq(seen, before, 32);
  cache_store_read_end(r);
  cr_assert_eq(cache_store_read_begin(r, &err), 0);
  cr_assert_eq(cache_store_get(r, CACHE_TABLE_GRANTS, "g2", 2, &v, &err), 0);
  cr_assert_eq(cache_store_read_stamp(r, seen, &err), 0);
  cr_assert_arr_neq(seen, before, 32);
  cache_store_reader_free(r); /* frees an active read too */
  cache_delta_close(&d);
  cache_store_close(s);
}

Test(cache_store, the_same_content_in_another_order_has_the_same_stamp) {
  cache_store *a = open_at(dir, 0), *b = open_at(dir2, 0);
  uint8_t empty_a[32], empty_b[32];
  stamp_of(a, empty_a);
  stamp_of(b, empty_b);
  cr_assert_arr_eq(empty_a, empty_b, 32);
  cache_delta d;
  cache_delta_init(&d);
  static char k[50][16], v[50][16]; /* a delta borrows its bytes until apply */
  for (int i = 0; i < 50; i++) {
    snprintf(k[i], sizeof k[i], "k%d", i);
    snprintf(v[i], sizeof v[i], "v%d", i * 7);
  }
  for (int i = 0; i < 50; i++) {
    put_str(&d, (cache_table)(i % CACHE_TABLE_STAMPED), k[i], v[i]);
    if (i % 10 == 9) apply(a, &d); /* five deltas */
  }
  for (int i = 49; i >= 0; i--)
    put_str(&d, (cache_table)(i % CACHE_TABLE_STAMPED), k[i], v[i]); /* one delta */
  apply(b, &d);
  uint8_t sa[32], sb[32];
  stamp_of(a, sa);
  stamp_of(b, sb);
  cr_assert_arr_eq(sa, sb, 32);
  cr_assert_arr_neq(sa, empty_a, 32);
  /* Caller meta is bookkeeping, not content: it leaves the stamp alone. */
  put_str(&d, CACHE_TABLE_META, "source.revision", "99");
  apply(a, &d);
  stamp_of(a, sa);
  cr_assert_arr_eq(sa, sb, 32);
  /* The same key and value in another table is other content. */
  put_str(&d, CACHE_TABLE_POLICIES, "extra", "1");
  apply(a, &d);
  put_str(&d, CACHE_TABLE_ENTITIES, "extra", "1");
  apply(b, &d);
  stamp_of(a, sa);
  stamp_of(b, sb);
  cr_assert_arr_neq(sa, sb, 32);
  cache_delta_close(&d);
  cache_store_close(a);
  cache_store_close(b);
}

Test(cache_store, inserting_then_deleting_leaves_the_stamp_of_never_inserting) {
  cache_store *a = open_at(dir, 0), *b = open_at(dir2, 0);
  cache_delta d;
  cache_delta_init(&d);
  put_str(&d, CACHE_TABLE_POLICIES, "keep", "1");
  apply(a, &d);
  put_str(&d, CACHE_TABLE_POLICIES, "keep", "1");
  apply(b, &d);
  put_str(&d, CACHE_TABLE_POLICIES, "gone", "2");
  put_str(&d, CACHE_TABLE_REVOCATIONS, "tok", "3");
  apply(a, &d);
  del_str(&d, CACHE_TABLE_POLICIES, "gone");
  put_str(&d, CACHE_TABLE_DEFINITIONS, "svc", "defs"); /* put and delete in one delta */
  del_str(&d, CACHE_TABLE_DEFINITIONS, "svc");
  del_str(&d, CACHE_TABLE_REVOCATIONS, "tok");
  apply(a, &d);
  uint8_t sa[32], sb[32];
  stamp_of(a, sa);
  stamp_of(b, sb);
  cr_assert_arr_eq(sa, sb, 32);
  cache_delta_close(&d);
  cache_store_close(a);
  cache_store_close(b);
}

Test(cache_store, an_overwrite_changes_the_stamp_and_restoring_the_value_restores_it) {
  cache_store *s = open_at(dir, 0);
  cache_delta d;
  cache_delta_init(&d);
  put_str(&d, CACHE_TABLE_ENTITIES, "e", "first");
  put_str(&d, CACHE_TABLE_ENTITIES, "f", "other");
  apply(s, &d);
  uint8_t s1[32], s2[32], s3[32];
  stamp_of(s, s1);
  put_str(&d, CACHE_TABLE_ENTITIES, "e", "second");
  apply(s, &d);
  stamp_of(s, s2);
  cr_assert_arr_neq(s1, s2, 32);
  uint64_t before = cache_store_hashed_rows(s);
  put_str(&d, CACHE_TABLE_ENTITIES, "e", "first");
  apply(s, &d);
  cr_assert_eq(cache_store_hashed_rows(s) - before, 2,
               "an overwrite hashes the old and the new row");
  stamp_of(s, s3);
  cr_assert_arr_eq(s1, s3, 32);
  before = cache_store_hashed_rows(s);
  put_str(&d, CACHE_TABLE_ENTITIES, "e", "first"); /* the value already stored */
  apply(s, &d);
  cr_assert_eq(cache_store_hashed_rows(s), before, "rewriting the same value hashes nothing");
  cache_delta_close(&d);
  cache_store_close(s);
}

Test(cache_store, a_small_delta_on_a_big_store_hashes_only_its_rows) {
  cache_store *s = open_at(dir, 0);
  cache_delta d;
  cache_delta_init(&d);
  enum { N = 100000 };
  char *keys = malloc((size_t)N * 16);
  cr_assert_not_null(keys);
  for (int i = 0; i < N; i++) {
    int n = snprintf(keys + (size_t)i * 16, 16, "row%06d", i);
    cr_assert(cache_delta_put(&d, (cache_table)(i % 3), keys + (size_t)i * 16, (size_t)n,
                              keys + (size_t)i * 16, (size_t)n));
  }
  uint64_t h0 = cache_store_hashed_rows(s);
  apply(s, &d);
  cr_assert_eq(cache_store_hashed_rows(s) - h0, N);
  /* 4 new rows, 3 overwrites, 3 deletes: 4 + 2*3 + 3 = 13 record hashes, out of 100,000 rows. */
  const char *vals = "changed";
  for (int i = 0; i < 4; i++) {
    static char extra[4][16];
    int n = snprintf(extra[i], sizeof extra[i], "new%d", i);
    cr_assert(cache_delta_put(&d, CACHE_TABLE_GRANTS, extra[i], (size_t)n, vals, 7));
  }
  for (int i = 0; i < 3; i++)
    cr_assert(cache_delta_put(&d, (cache_table)(i % 3), keys + (size_t)i * 16, 9, vals, 7));
  for (int i = 10; i < 13; i++)
    cr_assert(cache_delta_del(&d, (cache_table)(i % 3), keys + (size_t)i * 16, 9));
  uint64_t h1 = cache_store_hashed_rows(s);
  apply(s, &d);
  cr_assert_eq(cache_store_hashed_rows(s) - h1, 13);
  uint8_t st[32];
  stamp_of(s, st); /* and the incremental stamp is still exact */
  free(keys);
  cache_delta_close(&d);
  cache_store_close(s);
}

/* xorshift64*: a small seeded generator so that runs are reproducible. */
static uint64_t rng_next(uint64_t *x) {
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  return *x * 2685821657736338717ull;
}

Test(cache_store, the_incremental_stamp_equals_a_recompute_after_many_random_deltas) {
  cache_store *s = open_at(dir, 0);
  cache_delta d;
  cache_delta_init(&d);
  uint64_t rng = 0x5eed1234abcdull;
  enum { KEYS = 400, DELTAS = 60, PER = 80 };
  /* The final content, to rebuild in a second store in one go: a different history. */
  static char model[CACHE_TABLE_STAMPED][KEYS][24];
  static bool present[CACHE_TABLE_STAMPED][KEYS];
  static char kbuf[DELTAS][PER][16], vbuf[DELTAS][PER][24];
  for (int i = 0; i < DELTAS; i++) {
    for (int j = 0; j < PER; j++) {
      int t = (int)(rng_next(&rng) % CACHE_TABLE_STAMPED), k = (int)(rng_next(&rng) % KEYS);
      int kl = snprintf(kbuf[i][j], 16, "k%d", k);
      if (rng_next(&rng) % 3 == 0) {
        cr_assert(cache_delta_del(&d, (cache_table)t, kbuf[i][j], (size_t)kl));
        present[t][k] = false;
      } else {
        int vl = snprintf(vbuf[i][j], 24, "v%llu", (unsigned long long)(rng_next(&rng) % 50));
        cr_assert(
            cache_delta_put(&d, (cache_table)t, kbuf[i][j], (size_t)kl, vbuf[i][j], (size_t)vl));
        memcpy(model[t][k], vbuf[i][j], 24);
        present[t][k] = true;
      }
    }
    apply(s, &d);
    if (i % 10 == 0) {
      uint8_t st[32];
      stamp_of(s, st);
    }
  }
  uint8_t incremental[32];
  stamp_of(s, incremental);
  cache_store *fresh = open_at(dir2, 0);
  static char fk[CACHE_TABLE_STAMPED][KEYS][16];
  for (int t = CACHE_TABLE_STAMPED - 1; t >= 0; t--)
    for (int k = KEYS - 1; k >= 0; k--)
      if (present[t][k]) {
        int kl = snprintf(fk[t][k], 16, "k%d", k);
        cr_assert(cache_delta_put(&d, (cache_table)t, fk[t][k], (size_t)kl, model[t][k],
                                  strlen(model[t][k])));
      }
  apply(fresh, &d);
  uint8_t rebuilt[32];
  stamp_of(fresh, rebuilt);
  cr_assert_arr_eq(incremental, rebuilt, 32);
  cache_delta_close(&d);
  cache_store_close(s);
  cache_store_close(fresh);
}

Test(cache_store, reopening_keeps_the_rows_and_the_stamp) {
  cache_store *s = open_at(dir, 0);
  cache_delta d;
  cache_delta_init(&d);
  put_str(&d, CACHE_TABLE_DEFINITIONS, "svc-a", "hash-and-defs");
  put_str(&d, CACHE_TABLE_META, "source.revision", "41");
  apply(s, &d);
  uint8_t before[32], after[32];
  stamp_of(s, before);
  cache_store_close(s);
  s = open_at(dir, 0);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  char buf[64];
  cr_assert_str_eq(get_str(s, CACHE_TABLE_DEFINITIONS, "svc-a", buf, sizeof buf), "hash-and-defs");
  cr_assert_str_eq(get_str(s, CACHE_TABLE_META, "source.revision", buf, sizeof buf), "41");
  int cleared = -1;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_check(s, &cleared, &err), 0);
  cr_assert_eq(cleared, 0);
  cache_delta_close(&d);
  cache_store_close(s);
}

Test(cache_store, a_full_map_is_a_clear_error_and_leaves_the_previous_state) {
  cache_store *s = open_at(dir, 64 * 1024);
  cache_delta d;
  cache_delta_init(&d);
  put_str(&d, CACHE_TABLE_POLICIES, "small", "fits");
  apply(s, &d);
  uint8_t before[32], after[32];
  stamp_of(s, before);
  static char big[2000][16];
  static char val[400];
  memset(val, 'x', sizeof val);
  for (int i = 0; i < 2000; i++) {
    int n = snprintf(big[i], 16, "big%d", i);
    cr_assert(cache_delta_put(&d, CACHE_TABLE_ENTITIES, big[i], (size_t)n, val, sizeof val));
  }
  del_str(&d, CACHE_TABLE_POLICIES, "small");
  cache_store_err err;
  cr_assert_eq(cache_store_apply(s, &d, &err), CACHE_STORE_EMAPFULL);
  cr_assert_eq(err.code, CACHE_STORE_EMAPFULL);
  cr_assert_not_null(strstr(err.message, "map full"), "%s", err.message);
  cr_assert_not_null(strstr(err.message, dir), "%s", err.message);
  cr_assert_str_eq(cache_store_strerror(CACHE_STORE_EMAPFULL), "map full");
  cache_delta_clear(&d);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  char buf[16];
  cr_assert_str_eq(get_str(s, CACHE_TABLE_POLICIES, "small", buf, sizeof buf), "fits");
  cr_assert_null(get_str(s, CACHE_TABLE_ENTITIES, "big0", buf, sizeof buf));
  /* The store still takes deltas that fit. */
  put_str(&d, CACHE_TABLE_POLICIES, "next", "ok");
  apply(s, &d);
  cr_assert_str_eq(get_str(s, CACHE_TABLE_POLICIES, "next", buf, sizeof buf), "ok");
  cache_delta_close(&d);
  cache_store_close(s);
}

Test(cache_store, a_bad_directory_is_a_clear_error) {
  char file[128], under[160];
  snprintf(file, sizeof file, "%s/plain-file", dir);
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fputs("x", f);
  fclose(f);
  cache_store *s = (cache_store *)1;
  cache_store_err err;
  cr_assert_eq(cache_store_open(file, 0, &s, &err), CACHE_STORE_EIO);
  cr_assert_null(s);
  cr_assert_not_null(strstr(err.message, "not a directory"), "%s", err.message);
  cr_assert_not_null(strstr(err.message, file), "%s", err.message);
  snprintf(under, sizeof under, "%s/sub", file);
  cr_assert_eq(cache_store_open(under, 0, &s, &err), CACHE_STORE_EIO);
  cr_assert_not_null(strstr(err.message, "cannot create"), "%s", err.message);
  cr_assert_eq(cache_store_open("", 0, &s, &err), CACHE_STORE_EINVAL);
  cr_assert_eq(cache_store_open(NULL, 0, &s, &err), CACHE_STORE_EINVAL);
}

Test(cache_store, a_missing_directory_is_created_private) {
  char nested[128];
  snprintf(nested, sizeof nested, "%s/var/pdpd", dir);
  cache_store *s = open_at(nested, 0);
  struct stat st;
  cr_assert_eq(stat(nested, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0700);
  cache_store_close(s);
}

Test(cache_store, an_lmdb_of_another_format_is_refused) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  cr_assert_eq(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
  cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
  cr_assert_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
  MDB_val k = {10, "sys.format"}, v = {9, "someone-2"};
  cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
  cr_assert_eq(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  cache_store *s;
  cache_store_err err;
  cr_assert_eq(cache_store_open(dir, 0, &s, &err), CACHE_STORE_ECORRUPT);
  cr_assert_not_null(strstr(err.message, "format"), "%s", err.message);
}

Test(cache_store, a_bad_change_is_refused_and_nothing_of_its_delta_is_applied) {
  cache_store *s = open_at(dir, 0);
  uint8_t before[32], after[32];
  stamp_of(s, before);
  cache_delta d;
  cache_delta_init(&d);
  cache_store_err err;
  static char longkey[2048];
  memset(longkey, 'k', sizeof longkey);
  struct {
    cache_table t;
    const char *key;
    size_t len;
    const char *want;
  } bad[] = {
      {CACHE_TABLE_POLICIES, "", 0, "key length"},
      {CACHE_TABLE_POLICIES, longkey, sizeof longkey, "key length"},
      {CACHE_TABLE_META, "sys.stamp", 9, "reserved"},
      {(cache_table)9, "k", 1, "no table"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put_str(&d, CACHE_TABLE_POLICIES, "fine", "1");
    cr_assert(cache_delta_put(&d, bad[i].t, bad[i].key, bad[i].len, "v", 1));
    cr_assert_eq(cache_store_apply(s, &d, &err), CACHE_STORE_EINVAL, "case %zu", i);
    cr_assert_not_null(strstr(err.message, bad[i].want), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "change 1"), "%s", err.message);
    cache_delta_clear(&d);
  }
  cr_assert_eq(cache_store_max_key_len(s), 511);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  char buf[8];
  cr_assert_null(get_str(s, CACHE_TABLE_POLICIES, "fine", buf, sizeof buf));
  cache_delta_close(&d);
  cache_store_close(s);
}

/* test_cache_sync.c - a bundle folder synced into a real LMDB store, and the store back into a
 * snapshot.
 *
 * A sync writes only the rows that differ (an unchanged bundle writes nothing and keeps the
 * stamp; one changed entity is one row; a removed policy file is one delete; 2,000 changed
 * grants out of 100,000 are 2,000 rows), grants.json is not read again while its fingerprint is
 * unchanged, a broken bundle changes nothing, a delta is applied only on the state it was
 * compared with, the same content has the same stamp in any store, and the snapshot built from
 * the store decides every request exactly as the snapshot loaded from the folder.
 */
#include <criterion/criterion.h>

#include "../../cache/cache_int.h" /* cache__store_apply_if */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmp[64];
static char bundle[128], data[128];

static void make_dir(void) {
  strcpy(tmp, "/tmp/pdpd-sync-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  snprintf(bundle, sizeof bundle, "%s/bundle", tmp);
  snprintf(data, sizeof data, "%s/data", tmp);
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(cache_sync, .init = make_dir, .fini = remove_dir);

static void put(const char *base, const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/policies", base);
  mkdir(base, 0755);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s", base, rel);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

static const char *diag_all(const cache_diag *d) {
  static char buf[4096];
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->n; i++) {
    strncat(buf, d->lines[i], sizeof buf - strlen(buf) - 2);
    strncat(buf, "\n", sizeof buf - strlen(buf) - 1);
  }
  return buf;
}

#define POLICY_A                                                                                   \
  "permit (principal == User::\"alice\", action == Action::\"view\", resource);\n"                 \
  "permit (principal == ?principal, action == Action::\"edit\", resource == ?resource);\n"
#define POLICY_B "forbid (principal, action, resource) when { resource.locked };\n"
#define LINKS                                                                                      \
  "[{\"templateId\": \"policy1\", \"newId\": \"bob-edits-d1\", \"values\": {\"?principal\": "      \
  "{\"type\": \"User\", \"id\": \"bob\"}, \"?resource\": {\"type\": \"Doc\", \"id\": \"d1\"}}}]"
#define ENTITIES                                                                                   \
  "[{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {}, \"parents\": []},\n"         \
  " {\"uid\": {\"type\": \"Doc\", \"id\": \"d1\"}, \"attrs\": {\"locked\": false}, \"parents\": "  \
  "[]},\n"                                                                                         \
  " {\"uid\": {\"type\": \"Doc\", \"id\": \"d2\"}, \"attrs\": {\"locked\": true}, \"parents\": "   \
  "[]}]\n"

static void write_bundle(const char *base) {
  put(base, "policies/a.cedar", POLICY_A);
  put(base, "policies/b.cedar", POLICY_B);
  put(base, "template-links.json", LINKS);
  put(base, "entities.json", ENTITIES);
}

static cache_store *open_store(const char *d) {
  cache_store *s = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_open(d, 0, &s, &err), 0, "%s", err.message);
  return s;
}

static void sync_ok(cache_store *s, const char *dir, cache_sync_info *info) {
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache_sync_from_dir(s, dir, info, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  pdpe_snapshot_unref(info->snapshot);
  info->snapshot = NULL;
}

static void stamp_of(cache_store *s, uint8_t out[32]) {
  cache_store_err err;
  cr_assert_eq(cache_store_stamp(s, out, &err), 0, "%s", err.message);
}

static bool has_row(cache_store *s, cache_table t, const char *key) {
  cache_reader *r = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  cr_assert_eq(cache_store_read_begin(r, &err), 0);
  cache_val v;
  int rc = cache_store_get(r, t, key, strlen(key), &v, &err);
  cr_assert(rc == CACHE_STORE_OK || rc == CACHE_STORE_NOTFOUND, "%s", err.message);
  cache_store_read_end(r);
  cache_store_reader_free(r);
  return rc == CACHE_STORE_OK;
}

Test(cache_sync, a_second_sync_of_an_unchanged_bundle_writes_nothing) {
  write_bundle(bundle);
  cache_store *s = open_store(data);
  cr_assert_not(cache_store_has_snapshot(s, NULL));
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  cr_assert(cache_store_has_snapshot(s, NULL));
  char from[160];
  snprintf(from, sizeof from, "dir:%s", bundle);
  cr_assert(cache_store_has_snapshot(s, from));
  cr_assert_not(cache_store_has_snapshot(s, "dir:/elsewhere"));
  cr_assert_eq(info.puts, 6, "2 files + links + 3 entities, got %u", info.puts);
  cr_assert_eq(info.dels, 0);
  uint8_t st1[32], st2[32], re[32];
  stamp_of(s, st1);
  cr_assert_arr_eq(st1, info.stamp, 32, "the sync's stamp is the store's");
  cache_store_err err;
  cr_assert_eq(cache_store_recompute_stamp(s, re, &err), 0);
  cr_assert_arr_eq(st1, re, 32);
  cr_assert(has_row(s, CACHE_TABLE_POLICIES, "file:a.cedar"));
  cr_assert(has_row(s, CACHE_TABLE_POLICIES, "links"));
  cr_assert(has_row(s, CACHE_TABLE_ENTITIES, "Doc::\"d2\""));

  uint64_t hashed = cache_store_hashed_rows(s);
  sync_ok(s, bundle, &info);
  cr_assert_eq(info.puts, 0);
  cr_assert_eq(info.dels, 0);
  cr_assert_eq(cache_store_hashed_rows(s), hashed, "no row was hashed, so none was written");
  stamp_of(s, st2);
  cr_assert_arr_eq(st1, st2, 32);
  cache_store_close(s);
}

Test(cache_sync, one_changed_entity_is_one_changed_row_whatever_the_file_layout) {
  write_bundle(bundle);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  uint8_t before[32], after[32];
  stamp_of(s, before);
  /* d2 unlocked; entities reordered, keys reordered, spacing changed: still one row */
  put(bundle, "entities.json",
      "[{\"uid\":{\"id\":\"d2\",\"type\":\"Doc\"},\"parents\":[],\"attrs\":{\"locked\":false}},"
      "{\"parents\": [], \"attrs\": {\"locked\": false}, \"uid\": {\"type\": \"Doc\", \"id\": "
      "\"d1\"}},"
      "{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {}, \"parents\": []}]");
  uint64_t hashed = cache_store_hashed_rows(s);
  sync_ok(s, bundle, &info);
  cr_assert_eq(info.puts, 1);
  cr_assert_eq(info.dels, 0);
  cr_assert_eq(cache_store_hashed_rows(s) - hashed, 2, "old and new hash of the one row");
  stamp_of(s, after);
  cr_assert_arr_neq(before, after, 32);
  cache_store_close(s);
}

Test(cache_sync, a_removed_policy_file_deletes_its_row) {
  write_bundle(bundle);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  char path[256];
  snprintf(path, sizeof path, "%s/policies/b.cedar", bundle);
  cr_assert_eq(unlink(path), 0);
  sync_ok(s, bundle, &info);
  cr_assert_eq(info.puts, 0);
  cr_assert_eq(info.dels, 1);
  cr_assert_not(has_row(s, CACHE_TABLE_POLICIES, "file:b.cedar"));
  cr_assert(has_row(s, CACHE_TABLE_POLICIES, "file:a.cedar"));
  cache_store_close(s);
}

Test(cache_sync, a_broken_bundle_changes_nothing_and_names_the_position) {
  write_bundle(bundle);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  uint8_t before[32], after[32];
  stamp_of(s, before);
  put(bundle, "policies/b.cedar", "forbid (principal, action, resource) when { ;\n");
  put(bundle, "policies/c.cedar", POLICY_B);
  uint64_t hashed = cache_store_hashed_rows(s);
  cache_diag d;
  cache_diag_init(&d);
  cr_assert_not(cache_sync_from_dir(s, bundle, &info, &d));
  cr_assert_gt(d.n, 0);
  cr_assert(strstr(d.lines[0], "b.cedar:1:"), "%s", diag_all(&d));
  cache_diag_close(&d);
  cr_assert_eq(cache_store_hashed_rows(s), hashed);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  cr_assert_not(has_row(s, CACHE_TABLE_POLICIES, "file:c.cedar"));
  cache_store_close(s);
}

Test(cache_sync, the_same_content_has_the_same_stamp_in_any_store) {
  char b2[160], d2[160];
  snprintf(b2, sizeof b2, "%s/elsewhere", tmp);
  snprintf(d2, sizeof d2, "%s/data2", tmp);
  write_bundle(bundle);
  write_bundle(b2);
  cache_store *s1 = open_store(data), *s2 = open_store(d2);
  cache_sync_info i1, i2;
  sync_ok(s1, bundle, &i1);
  sync_ok(s2, b2, &i2);
  uint8_t a[32], b[32];
  stamp_of(s1, a);
  stamp_of(s2, b);
  cr_assert_arr_eq(a, b, 32);
  put(b2, "policies/b.cedar", "forbid (principal, action, resource);\n");
  sync_ok(s2, b2, &i2);
  stamp_of(s2, b);
  cr_assert_arr_neq(a, b, 32);
  cache_store_close(s1);
  cache_store_close(s2);
}

/* Every uid of entities.json whose type is `type` (malloc'd strings in out). */
static size_t uids_of(const char *file, const char *type, char **out, size_t cap) {
  json_error_t e;
  json_t *j = json_load_file(file, 0, &e);
  cr_assert_not_null(j, "%s: %s", file, e.text);
  size_t n = 0, i;
  json_t *it;
  json_array_foreach(j, i, it) {
    json_t *uid = json_object_get(it, "uid");
    if (strcmp(json_string_value(json_object_get(uid, "type")), type) == 0 && n < cap)
      out[n++] = strdup(json_string_value(json_object_get(uid, "id")));
  }
  json_decref(j);
  return n;
}

static pdpe_decision decide(const pdpe_snapshot *s, pu_arena *a, const char *p, const char *act,
                            const char *r) {
  pdpe_request rq;
  memset(&rq, 0, sizeof(rq));
  rq.principal = (pdpe_uid){pu_str_c("User"), pu_str_c(p)};
  rq.action = (pdpe_uid){pu_str_c("Action"), pu_str_c(act)};
  rq.resource = (pdpe_uid){pu_str_c("Document"), pu_str_c(r)};
  pdpe_decision d;
  cr_assert(pdpe_authorize(s, &rq, a, &d));
  return d;
}

Test(cache_sync, the_store_snapshot_decides_like_the_folder_snapshot) {
  const char *root = getenv("PDP_SOURCE_ROOT");
  cr_assert(root, "PDP_SOURCE_ROOT is not set");
  char src[1024], cmd[1200];
  snprintf(src, sizeof src, "%s/examples/quickstart", root);
  snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", src, bundle);
  cr_assert_eq(system(cmd), 0);
  /* the folder loader reads policies and entities only: compare those (the quickstart's
   * grants and definitions change answers, and definitions add Action entities) */
  snprintf(cmd, sizeof cmd, "rm -rf '%s/grants.json' '%s/permissions'", bundle, bundle);
  cr_assert_eq(system(cmd), 0);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);

  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *from_dir = NULL, *from_store = NULL;
  cr_assert(cache_dir_load(bundle, &from_dir, &d), "%s", diag_all(&d));
  cr_assert(cache_snapshot_from_store(s, &from_store, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  uint8_t st[32];
  stamp_of(s, st);
  cr_assert_arr_eq(from_store->stamp, st, 32);
  cr_assert(strncmp(from_store->source, "store:", 6) == 0 && strstr(from_store->source, data), "%s",
            from_store->source);
  cr_assert_eq(pdpe_policy_set_count(from_store->policies),
               pdpe_policy_set_count(from_dir->policies));
  cr_assert_eq(pdpe_entities_count(from_store->entities), pdpe_entities_count(from_dir->entities));

  char path[1200];
  snprintf(path, sizeof path, "%s/entities.json", bundle);
  char *users[64], *actions[64], *docs[64];
  size_t nu = uids_of(path, "User", users, 64), na = uids_of(path, "Action", actions, 64),
         nd = uids_of(path, "Document", docs, 64);
  cr_assert(nu && na && nd);
  pu_arena a;
  pu_arena_init(&a, 1 << 16, 0);
  unsigned allows = 0, denies = 0;
  for (size_t i = 0; i < nu; i++)
    for (size_t j = 0; j < na; j++)
      for (size_t k = 0; k < nd; k++) {
        pdpe_decision x = decide(from_dir, &a, users[i], actions[j], docs[k]);
        pdpe_decision y = decide(from_store, &a, users[i], actions[j], docs[k]);
        cr_assert_eq(x.decision, y.decision, "%s %s %s", users[i], actions[j], docs[k]);
        cr_assert_eq(x.n_reason, y.n_reason);
        for (uint32_t r = 0; r < x.n_reason; r++) cr_assert(pu_str_eq(x.reason[r], y.reason[r]));
        cr_assert_eq(x.n_errors, y.n_errors);
        x.decision == PDPE_ALLOW ? allows++ : denies++;
        pu_arena_reset(&a);
      }
  cr_assert_gt(allows, 0);
  cr_assert_gt(denies, 0);
  pu_arena_close(&a);
  for (size_t i = 0; i < nu; i++) free(users[i]);
  for (size_t i = 0; i < na; i++) free(actions[i]);
  for (size_t i = 0; i < nd; i++) free(docs[i]);
  pdpe_snapshot_unref(from_dir);
  pdpe_snapshot_unref(from_store);
  cache_store_close(s);
}

/* ---- grants.json -------------------------------------------------------------------------- */

/* n grants R/role<i % 100>/perm<i> (tenant t<i % 3>); from `flip` on, `n_flip` of them are
 * PROHIBIT; the items in [skip, skip + n_skip) are left out and n_add others appended.  Written
 * to a temp file renamed over grants.json, as an editor would. */
static void write_grants(const char *base, size_t n, size_t flip, size_t n_flip, size_t skip,
                         size_t n_skip, size_t n_add) {
  char path[256], tmpf[256];
  snprintf(path, sizeof path, "%s/grants.json", base);
  snprintf(tmpf, sizeof tmpf, "%s/.grants.tmp", base);
  FILE *f = fopen(tmpf, "w");
  cr_assert_not_null(f);
  fputs("[", f);
  const char *sep = "\n";
  for (size_t i = 0; i < n + n_add; i++) {
    if (i >= skip && i < skip + n_skip) continue;
    bool p = i >= flip && i < flip + n_flip;
    fprintf(f,
            "%s{\"provider\": \"R\", \"key\": \"role%zu\", \"permission\": \"perm%zu\", "
            "\"tenant\": \"t%zu\", \"effect\": \"%s\"}",
            sep, i % 100, i, i % 3, p ? "PROHIBIT" : "GRANT");
    sep = ",\n";
  }
  fputs("]\n", f);
  fclose(f);
  cr_assert_eq(rename(tmpf, path), 0);
}

static uint64_t grant_rows(cache_store *s) {
  cache_reader *r = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  cr_assert_eq(cache_store_read_begin(r, &err), 0);
  cache_iter it;
  cr_assert_eq(cache_store_iter_init(&it, r, CACHE_TABLE_GRANTS, &err), 0);
  uint64_t n = 0;
  cache_val k, v;
  while (cache_store_iter_next(&it, &k, &v, &err) == CACHE_STORE_OK) n++;
  cache_store_iter_close(&it);
  cache_store_read_end(r);
  cache_store_reader_free(r);
  return n;
}

Test(cache_sync, changed_grants_write_only_their_rows) {
  write_bundle(bundle);
  write_grants(bundle, 100000, 0, 0, 0, 0, 0);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  cr_assert_eq(info.table_puts[CACHE_TABLE_GRANTS], 100000);
  cr_assert_eq(info.grants, 100000);
  cr_assert(info.grants_read);

  /* 1,000 flipped to PROHIBIT, 500 removed, 500 added */
  write_grants(bundle, 100000, 40000, 1000, 70000, 500, 500);
  uint64_t hashed = cache_store_hashed_rows(s);
  sync_ok(s, bundle, &info);
  cr_assert(info.grants_read);
  cr_assert_eq(info.table_puts[CACHE_TABLE_GRANTS], 1500);
  cr_assert_eq(info.table_dels[CACHE_TABLE_GRANTS], 500);
  cr_assert_eq(info.puts, 1500, "no other table changed");
  cr_assert_eq(info.dels, 500);
  cr_assert_eq(info.grants, 100000);
  cr_assert_eq(cache_store_hashed_rows(s) - hashed, 1000 * 2 + 500 + 500,
               "old and new hash per flip, one per delete and per insert");
  cr_assert_eq(grant_rows(s), 100000);
  uint8_t st[32], re[32];
  stamp_of(s, st);
  cr_assert_arr_eq(st, info.stamp, 32);
  cache_store_err err;
  cr_assert_eq(cache_store_recompute_stamp(s, re, &err), 0);
  cr_assert_arr_eq(st, re, 32, "the incremental stamp is the stamp of the rows");
  pdpe_snapshot *snap = NULL;
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache_snapshot_from_store(s, &snap, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  pdpe_grant_key k = {PDPE_PROVIDER_ROLE, pu_str_c("role0"), pu_str_c("perm40000"), pu_str_c("t1")};
  char e[128];
  cr_assert_eq(snap->grants.lookup(snap->grants.ctx, &k, e, sizeof e), PDPE_EFFECT_PROHIBIT);
  k.key = pu_str_c("role0"), k.permission = pu_str_c("perm70000"), k.tenant = pu_str_c("t1");
  cr_assert_eq(snap->grants.lookup(snap->grants.ctx, &k, e, sizeof e), PDPE_EFFECT_NONE);
  k.key = pu_str_c("role99"), k.permission = pu_str_c("perm100499"), k.tenant = pu_str_c("t2");
  cr_assert_eq(snap->grants.lookup(snap->grants.ctx, &k, e, sizeof e), PDPE_EFFECT_GRANT);
  pdpe_snapshot_unref(snap);
  cache_store_close(s);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static size_t meta_len(cache_store *s, const char *key) {
  cache_reader *r = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  cr_assert_eq(cache_store_read_begin(r, &err), 0);
  cache_val v;
  int rc = cache_store_get(r, CACHE_TABLE_META, key, strlen(key), &v, &err);
  size_t n = rc == CACHE_STORE_OK ? v.len : 0;
  cache_store_read_end(r);
  cache_store_reader_free(r);
  return n;
}

Test(cache_sync, an_unchanged_grants_file_is_not_read_again) {
  write_bundle(bundle);
  write_grants(bundle, 1000, 0, 0, 0, 0, 0);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  cr_assert(info.grants_read);
  cr_assert_eq(meta_len(s, CACHE_META_FILE_PREFIX "grants.json"), 64, "the fingerprint is stored");
  /* written within the last second: a write in the same clock tick would keep its ctime, so
   * the fingerprint is not trusted yet and the file is read (and found equal) once more */
  sync_ok(s, bundle, &info);
  cr_assert(info.grants_read);
  cr_assert_eq(info.puts + info.dels, 0);
  sleep_ms(1100);
  sync_ok(s, bundle, &info);
  cr_assert(info.grants_read);
  cr_assert_eq(info.puts + info.dels, 0);
  uint64_t hashed = cache_store_hashed_rows(s);
  sync_ok(s, bundle, &info);
  cr_assert_not(info.grants_read, "the fingerprint is unchanged: the file is not read");
  cr_assert_eq(info.grants, 1000, "the count comes from the store");
  cr_assert_eq(info.puts + info.dels, 0);
  cr_assert_eq(cache_store_hashed_rows(s), hashed);

  /* a policy change alone does not read the grants */
  put(bundle, "policies/b.cedar", "forbid (principal, action, resource);\n");
  sync_ok(s, bundle, &info);
  cr_assert_not(info.grants_read);
  cr_assert_eq(info.table_puts[CACHE_TABLE_POLICIES], 1);
  cr_assert_eq(info.puts, 1);

  /* a touched file is read again; its rows are equal, so none is written */
  char path[256];
  snprintf(path, sizeof path, "%s/grants.json", bundle);
  struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0);
  sync_ok(s, bundle, &info);
  cr_assert(info.grants_read);
  cr_assert_eq(info.puts + info.dels, 0);

  /* an edit is read and written */
  write_grants(bundle, 1000, 10, 3, 0, 0, 0);
  sync_ok(s, bundle, &info);
  cr_assert(info.grants_read);
  cr_assert_eq(info.table_puts[CACHE_TABLE_GRANTS], 3);
  cache_store_close(s);
}

Test(cache_sync, a_removed_grants_file_removes_every_grant) {
  write_bundle(bundle);
  write_grants(bundle, 300, 0, 0, 0, 0, 0);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  cr_assert_eq(grant_rows(s), 300);
  char path[256];
  snprintf(path, sizeof path, "%s/grants.json", bundle);
  cr_assert_eq(unlink(path), 0);
  sync_ok(s, bundle, &info);
  cr_assert_eq(info.table_dels[CACHE_TABLE_GRANTS], 300);
  cr_assert_eq(info.grants, 0);
  cr_assert_eq(grant_rows(s), 0);
  cr_assert_eq(meta_len(s, CACHE_META_FILE_PREFIX "grants.json"), strlen("absent"));
  sync_ok(s, bundle, &info);
  cr_assert_not(info.grants_read, "still absent: nothing to read or compare");
  cache_store_close(s);
}

Test(cache_sync, a_bad_grants_file_changes_nothing_and_is_reported_with_policy_errors) {
  write_bundle(bundle);
  write_grants(bundle, 10, 0, 0, 0, 0, 0);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  uint8_t before[32], after[32];
  stamp_of(s, before);
  uint64_t hashed = cache_store_hashed_rows(s);
  put(bundle, "grants.json",
      "[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"},\n"
      " {\"provider\": \"R\", \"key\": \"b\", \"permission\": \"p\", \"tenant\": 7}]");
  put(bundle, "policies/c.cedar", "permit (principal, action, resource);\n");
  cache_diag d;
  cache_diag_init(&d);
  cr_assert_not(cache_sync_from_dir(s, bundle, &info, &d));
  cr_assert(d.n == 1 &&
                strcmp(d.lines[0], "grants.json:2:61: grants[1].tenant: must be a string") == 0,
            "%s", diag_all(&d));
  cache_diag_close(&d);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  cr_assert_eq(cache_store_hashed_rows(s), hashed);
  cr_assert_not(has_row(s, CACHE_TABLE_POLICIES, "file:c.cedar"));
  cr_assert_eq(grant_rows(s), 10);

  /* with a broken policy too, one run reports both */
  put(bundle, "policies/c.cedar", "permit (principal, action, resource) when {;\n");
  cache_diag_init(&d);
  cr_assert_not(cache_sync_from_dir(s, bundle, &info, &d));
  bool policy = false, grant = false;
  for (uint32_t i = 0; i < d.n; i++) {
    policy = policy || strstr(d.lines[i], "c.cedar:1:");
    grant = grant || strstr(d.lines[i], "grants[1].tenant");
  }
  cr_assert(policy && grant, "%s", diag_all(&d));
  cache_diag_close(&d);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  cache_store_close(s);
}

Test(cache_sync, a_delta_is_applied_only_on_the_state_it_was_compared_with) {
  cache_store *s = open_store(data);
  uint8_t seen[32], now[32], committed[32];
  stamp_of(s, seen);
  cache_delta d;
  cache_delta_init(&d);
  cr_assert(cache_delta_put(&d, CACHE_TABLE_GRANTS, "Ra\0p\0", 5, "G", 1));
  cache_store_err err;
  cr_assert_eq(cache_store_apply(s, &d, &err), 0, "%s", err.message); /* another writer */
  cache_delta_clear(&d);
  cr_assert(cache_delta_put(&d, CACHE_TABLE_GRANTS, "Rb\0p\0", 5, "G", 1));
  stamp_of(s, now);
  cr_assert_eq(cache__store_apply_if(s, &d, seen, committed, &err), CACHE__STORE_CHANGED);
  cr_assert_eq(grant_rows(s), 1, "nothing applied");
  cr_assert_eq(cache__store_apply_if(s, &d, now, committed, &err), 0, "%s", err.message);
  cr_assert_eq(grant_rows(s), 2);
  stamp_of(s, now);
  cr_assert_arr_eq(committed, now, 32, "the stamp the txn committed");
  cache_delta_close(&d);
  cache_store_close(s);
}

Test(cache_sync, definitions_and_revocations_are_synced_and_read_through_the_view) {
  write_bundle(bundle);
  char pdir[200];
  snprintf(pdir, sizeof pdir, "%s/permissions", bundle);
  cr_assert_eq(mkdir(pdir, 0755), 0);
  put(bundle, "permissions/orders.json",
      "{\"service\": \"orders\", \"definitions\": [{\"name\": \"orders.edit\", \"group\": "
      "\"orders\"}, {\"name\": \"orders.view\", \"disabled\": true}]}");
  put(bundle, "revocations.json",
      "{\"jti\": [{\"jti\": \"abc\", \"exp\": 1790000000}], \"subjects\": [{\"sub\": \"alice\", "
      "\"before\": 258}]}");
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_ok(s, bundle, &info);
  cr_assert_eq(info.table_puts[CACHE_TABLE_DEFINITIONS], 1, "one row per service");
  cr_assert_eq(info.table_puts[CACHE_TABLE_REVOCATIONS], 2);
  cr_assert(has_row(s, CACHE_TABLE_DEFINITIONS, "orders"));

  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *snap = NULL;
  cr_assert(cache_snapshot_from_store(s, &snap, &d), "%s", diag_all(&d));
  cr_assert_eq(snap->n_definitions, 2);
  const pdpe_definition *def = pdpe_snapshot_definition(snap, pu_str_c("orders.view"));
  cr_assert(def && def->disabled && pu_str_eq_c(def->service, "orders"));
  cache_val v;
  cr_assert_eq(cache_view_get(snap, CACHE_TABLE_REVOCATIONS, "sub:alice", 9, &v), CACHE_STORE_OK);
  cr_assert(v.len == 8 && memcmp(v.data, "\0\0\0\0\0\0\x01\x02", 8) == 0);
  cr_assert_eq(cache_view_get(snap, CACHE_TABLE_REVOCATIONS, "jti:abc", 7, &v), CACHE_STORE_OK);
  cr_assert_eq(cache_view_get(snap, CACHE_TABLE_REVOCATIONS, "jti:zzz", 7, &v),
               CACHE_STORE_NOTFOUND);

  cache_dir_summary sum;
  cr_assert(cache_dir_summarize(bundle, &sum, &d), "%s", diag_all(&d));
  cr_assert_arr_eq(sum.stamp, snap->stamp, 32, "the summary folds every table");
  cr_assert_eq(sum.definitions, 2);
  cr_assert_eq(sum.revocations, 2);
  cache_diag_close(&d);
  pdpe_snapshot_unref(snap);

  /* a bad definition stops the whole sync, with its position */
  put(bundle, "permissions/orders.json",
      "{\"definitions\": [{\"name\": \"orders.edit\", \"tenancy\": \"sometimes\"}]}");
  uint8_t before[32], after[32];
  stamp_of(s, before);
  cache_diag_init(&d);
  cr_assert_not(cache_sync_from_dir(s, bundle, &info, &d));
  cr_assert(d.n >= 1 && strstr(d.lines[0], "orders.json:1:") &&
                strstr(d.lines[0], "definitions[0].tenancy"),
            "%s", diag_all(&d));
  cache_diag_close(&d);
  stamp_of(s, after);
  cr_assert_arr_eq(before, after, 32);
  cache_store_close(s);
}

/* ---- the whole source's fingerprint ---------------------------------------------------------- */

/* An inotify watch on the bundle and its two folders: every file opened in them is an event. */
static int watch_opens(const char *base) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  cr_assert_geq(fd, 0);
  static const char *const sub[] = {"", "/policies", "/permissions"};
  for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s%s", base, sub[i]);
    struct stat st;
    if (stat(path, &st) == 0) cr_assert_geq(inotify_add_watch(fd, path, IN_OPEN | IN_ACCESS), 0);
  }
  return fd;
}

/* Files (not folders) opened or read since watch_opens; closes the watch. */
static int files_opened(int fd) {
  int n = 0;
  char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  ssize_t len;
  while ((len = read(fd, buf, sizeof buf)) > 0) {
    for (char *p = buf; p < buf + len;) {
      const struct inotify_event *e = (const struct inotify_event *)p;
      if (e->len && !(e->mask & IN_ISDIR)) n++;
      p += sizeof *e + e->len;
    }
  }
  close(fd);
  return n;
}

/* The raw meta value of `key` (64 bytes at most) into out; its length, 0 when absent. */
static size_t meta_get(cache_store *s, const char *key, uint8_t out[64]) {
  cache_reader *r = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0);
  cr_assert_eq(cache_store_read_begin(r, &err), 0);
  cache_val v;
  size_t n = 0;
  if (cache_store_get(r, CACHE_TABLE_META, key, strlen(key), &v, &err) == CACHE_STORE_OK) {
    n = v.len;
    memcpy(out, v.data, n < 64 ? n : 64);
  }
  cache_store_read_end(r);
  cache_store_reader_free(r);
  return n;
}

/* A sync that the caller asks for no snapshot; checks that none is built. */
static void sync_bare(cache_store *s, const char *dir, cache_sync_info *info) {
  cache_diag d;
  cache_diag_init(&d);
  memset(info, 0, sizeof *info);
  cr_assert(cache_sync_from_dir_flags(s, dir, CACHE_SYNC_NO_SNAPSHOT, info, &d), "%s",
            diag_all(&d));
  cr_assert_null(info->snapshot, "CACHE_SYNC_NO_SNAPSHOT builds no snapshot");
  cache_diag_close(&d);
}

/* The store holds exactly the folder: its stamp is the folder's summary stamp. */
static void assert_store_is_folder(cache_store *s, const char *what) {
  cache_dir_summary sum;
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache_dir_summarize(bundle, &sum, &d), "%s: %s", what, diag_all(&d));
  cache_diag_close(&d);
  uint8_t st[32];
  stamp_of(s, st);
  cr_assert_arr_eq(st, sum.stamp, 32, "%s: the store does not hold the folder", what);
}

#define PERMS "{\"service\": \"a\", \"definitions\": [{\"name\": \"a.x1\"}]}"
#define REVS "{\"jti\": [{\"jti\": \"j1\", \"exp\": 1790000000}]}"
#define GRANTS "[{\"provider\": \"R\", \"key\": \"r1\", \"permission\": \"p\"}]"

static void write_full_bundle(const char *base) {
  write_bundle(base);
  char pdir[200];
  snprintf(pdir, sizeof pdir, "%s/permissions", base);
  mkdir(pdir, 0755);
  put(base, "permissions/a.json", PERMS);
  put(base, "revocations.json", REVS);
  put(base, "grants.json", GRANTS);
}

Test(cache_sync, an_unchanged_source_is_not_read_again_once_its_fingerprint_is_trusted) {
  write_full_bundle(bundle);
  cache_store *s = open_store(data);
  cache_sync_info info;
  sync_bare(s, bundle, &info);
  uint8_t fp[64], fp2[64];
  cr_assert_eq(meta_get(s, CACHE_META_SOURCE_FP, fp), 48, "stored with the content");

  /* files written within the last second: not trusted yet, so everything is read again */
  int w = watch_opens(bundle);
  sync_bare(s, bundle, &info);
  cr_assert_gt(files_opened(w), 0, "the watch sees a sync that reads");
  cr_assert_eq(info.puts + info.dels, 0);

  sleep_ms(1100);
  sync_bare(s, bundle, &info); /* reads once more, records a trusted fingerprint */
  cr_assert_eq(meta_get(s, CACHE_META_SOURCE_FP, fp), 48);
  uint8_t before[32];
  stamp_of(s, before);
  uint64_t hashed = cache_store_hashed_rows(s);

  w = watch_opens(bundle);
  sync_bare(s, bundle, &info);
  cr_assert_eq(files_opened(w), 0, "no source file is opened");
  cr_assert_eq(info.puts + info.dels, 0);
  cr_assert_not(info.grants_read);
  cr_assert_eq(info.grants, 1, "the count comes from the store");
  cr_assert_arr_eq(info.stamp, before, 32, "info.stamp is the store stamp");
  cr_assert_eq(meta_get(s, CACHE_META_SOURCE_FP, fp2), 48);
  cr_assert_arr_eq(fp, fp2, 48, "nothing written, not even the fingerprint");
  cr_assert_eq(cache_store_hashed_rows(s), hashed);

  /* without the flag the same fast sync still gives the store's snapshot */
  cache_diag d;
  cache_diag_init(&d);
  memset(&info, 0, sizeof info);
  cr_assert(cache_sync_from_dir(s, bundle, &info, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  cr_assert_not_null(info.snapshot);
  cr_assert_arr_eq(info.snapshot->stamp, before, 32);
  pdpe_snapshot_unref(info.snapshot);

  /* another source in the same store is a full sync */
  char other[200];
  snprintf(other, sizeof other, "%s/other", tmp);
  write_full_bundle(other);
  put(other, "policies/b.cedar", "forbid (principal, action, resource);\n");
  sync_bare(s, other, &info);
  cr_assert_eq(info.table_puts[CACHE_TABLE_POLICIES], 1);
  cache_store_close(s);
}

/* One location of the source, and two contents of the same size for it. */
typedef struct fp_case {
  const char *rel;
  const char *a, *b;
} fp_case;

static const fp_case fp_cases[] = {
    {"policies/x.cedar", "permit (principal == User::\"x1\", action, resource);\n",
     "permit (principal == User::\"x2\", action, resource);\n"},
    {"entities.json",
     "[{\"uid\": {\"type\": \"User\", \"id\": \"x1\"}, \"attrs\": {}, \"parents\": []}]",
     "[{\"uid\": {\"type\": \"User\", \"id\": \"x2\"}, \"attrs\": {}, \"parents\": []}]"},
    {"permissions/a.json", PERMS, "{\"service\": \"a\", \"definitions\": [{\"name\": \"a.x2\"}]}"},
    {"revocations.json", REVS, "{\"jti\": [{\"jti\": \"j2\", \"exp\": 1790000000}]}"},
    {"template-links.json", LINKS, NULL}, /* b: LINKS with d2 for d1 */
    {"grants.json", GRANTS, "[{\"provider\": \"R\", \"key\": \"r2\", \"permission\": \"p\"}]"},
};

/* Sync, wait past the racy window, sync again: the stored fingerprint is then trusted, which
 * the next sync shows by opening no file. */
static void sync_trusted(cache_store *s) {
  cache_sync_info info;
  sync_bare(s, bundle, &info);
  sleep_ms(1100);
  sync_bare(s, bundle, &info);
  int w = watch_opens(bundle);
  sync_bare(s, bundle, &info);
  cr_assert_eq(files_opened(w), 0, "the fingerprint is trusted");
}

/* rel added, changed in place (same size, mtime restored: only ctime moves) and removed, each
 * after the fingerprint became trusted: every step is seen. */
static void add_change_remove(const fp_case *c) {
  char pdir[200], path[256];
  snprintf(pdir, sizeof pdir, "%s/permissions", bundle);
  write_bundle(bundle);
  mkdir(pdir, 0755);
  snprintf(path, sizeof path, "%s/template-links.json", bundle);
  cr_assert_eq(unlink(path), 0); /* every location starts absent */
  cache_store *s = open_store(data);
  sync_trusted(s);
  uint8_t st0[32], st1[32], st2[32], st3[32];
  stamp_of(s, st0);
  cache_sync_info info;

  put(bundle, c->rel, c->a);
  sync_bare(s, bundle, &info);
  assert_store_is_folder(s, "added");
  stamp_of(s, st1);
  cr_assert(memcmp(st0, st1, 32) != 0, "%s: added", c->rel);
  sync_trusted(s);

  char b[512];
  if (c->b) {
    snprintf(b, sizeof b, "%s", c->b);
  } else {
    snprintf(b, sizeof b, "%s", c->a);
    char *d1 = strstr(b, "\"d1\"");
    cr_assert_not_null(d1);
    d1[2] = '2';
  }
  cr_assert_eq(strlen(b), strlen(c->a), "the same size");
  snprintf(path, sizeof path, "%s/%s", bundle, c->rel);
  struct stat old;
  cr_assert_eq(stat(path, &old), 0);
  int fd = open(path, O_WRONLY);
  cr_assert_geq(fd, 0);
  cr_assert_eq(pwrite(fd, b, strlen(b), 0), (ssize_t)strlen(b));
  close(fd);
  struct timespec times[2] = {old.st_atim, old.st_mtim};
  cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0);
  struct stat now;
  cr_assert_eq(stat(path, &now), 0);
  cr_assert(now.st_size == old.st_size && now.st_ino == old.st_ino &&
            now.st_mtim.tv_sec == old.st_mtim.tv_sec && now.st_mtim.tv_nsec == old.st_mtim.tv_nsec);
  sync_bare(s, bundle, &info);
  assert_store_is_folder(s, "changed in place");
  stamp_of(s, st2);
  cr_assert(memcmp(st1, st2, 32) != 0, "%s: changed in place", c->rel);
  sync_trusted(s);

  cr_assert_eq(unlink(path), 0);
  sync_bare(s, bundle, &info);
  assert_store_is_folder(s, "removed");
  stamp_of(s, st3);
  cr_assert(memcmp(st2, st3, 32) != 0, "%s: removed", c->rel);
  cache_store_close(s);
}

Test(cache_sync, a_policy_file_added_changed_in_place_or_removed_is_seen) {
  add_change_remove(&fp_cases[0]);
}
Test(cache_sync, entities_json_added_changed_in_place_or_removed_is_seen) {
  add_change_remove(&fp_cases[1]);
}
Test(cache_sync, a_permission_file_added_changed_in_place_or_removed_is_seen) {
  add_change_remove(&fp_cases[2]);
}
Test(cache_sync, revocations_json_added_changed_in_place_or_removed_is_seen) {
  add_change_remove(&fp_cases[3]);
}
Test(cache_sync, template_links_added_changed_in_place_or_removed_is_seen) {
  add_change_remove(&fp_cases[4]);
}
Test(cache_sync, grants_json_added_changed_in_place_or_removed_is_seen) {
  add_change_remove(&fp_cases[5]);
}

Test(cache_sync, a_file_renamed_over_another_is_seen) {
  write_full_bundle(bundle);
  put(bundle, "policies/c.cedar", "permit (principal == User::\"c\", action, resource);\n");
  cache_store *s = open_store(data);
  sync_trusted(s);
  char from[256], to[256];
  snprintf(from, sizeof from, "%s/policies/c.cedar", bundle);
  snprintf(to, sizeof to, "%s/policies/d.cedar", bundle);
  cr_assert_eq(rename(from, to), 0); /* same inode, same times, another name */
  cache_sync_info info;
  sync_bare(s, bundle, &info);
  cr_assert_eq(info.table_puts[CACHE_TABLE_POLICIES], 1);
  cr_assert_eq(info.table_dels[CACHE_TABLE_POLICIES], 1);
  assert_store_is_folder(s, "renamed");
  cache_store_close(s);
}

/* Within the racy window a write may keep size, mtime and even ctime (the same clock tick): the
 * fingerprint taken then is not trusted, so the next sync reads again and sees it. */
Test(cache_sync, a_change_within_the_racy_window_is_never_missed) {
  write_full_bundle(bundle);
  cache_store *s = open_store(data);
  char path[256];
  snprintf(path, sizeof path, "%s/entities.json", bundle);
  for (int i = 0; i < 20; i++) {
    const fp_case *c = &fp_cases[1];
    const char *first = i % 2 ? c->b : c->a, *second = i % 2 ? c->a : c->b;
    put(bundle, "entities.json", first);
    cache_sync_info info;
    sync_bare(s, bundle, &info);
    assert_store_is_folder(s, "first write");
    struct stat old;
    cr_assert_eq(stat(path, &old), 0);
    /* nothing changed, but the fingerprint just stored is not trusted: read again */
    int w = watch_opens(bundle);
    sync_bare(s, bundle, &info);
    int opened = files_opened(w);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    double since =
        (double)(t.tv_sec - old.st_ctim.tv_sec) + (t.tv_nsec - old.st_ctim.tv_nsec) / 1e9;
    if (since < 0.9) /* still inside the window (a slow run may have left it) */
      cr_assert_gt(opened, 0, "a fingerprint taken %.3f s after a write is not trusted", since);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, second, strlen(second), 0), (ssize_t)strlen(second));
    close(fd);
    struct timespec times[2] = {old.st_atim, old.st_mtim};
    cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    sync_bare(s, bundle, &info);
    assert_store_is_folder(s, "a second write in the same second");
  }
  cache_store_close(s);
}

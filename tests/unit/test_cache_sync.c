/* test_cache_sync.c - a bundle folder synced into a real LMDB store, and the store back into a
 * snapshot.
 *
 * A sync writes only the rows that differ (an unchanged bundle writes nothing and keeps the
 * stamp; one changed entity is one row; a removed policy file is one delete; 2,000 changed
 * grants out of 100,000 are 2,000 rows), grants.json is not read again while its fingerprint is
 * unchanged, a broken bundle changes nothing, a delta is applied only on the state it was
 * compared with, the same content has the same stamp in any store, and the snapshot built from
 * the store decides every request exactly as the snapshot loaded from the folder.  The whole
 * source's fingerprint has its own suite (test_cache_fingerprint.c).
 */
#include "test_cache_sync_util.h"

TestSuite(cache_sync, .init = make_dir, .fini = remove_dir);

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

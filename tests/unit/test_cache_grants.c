/* test_cache_grants.c - grants.json read as a stream, grants in a real LMDB store, and the view a
 * snapshot pins.
 *
 * Every bad field is named with its line and column; a syntax error stops the scan at its
 * position; duplicate natural keys are found; a 200,000-grant file streams through a window much
 * smaller than itself; a snapshot keeps answering from the state it was built from while later
 * deltas commit, and outlives the store handle it came from.
 */
#include <criterion/criterion.h>

#include "../../cache/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];
static char bundle[128], data[128], gpath[160];

static void make_dir(void) {
  strcpy(tmp, "/tmp/pdpd-grants-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  snprintf(bundle, sizeof bundle, "%s/bundle", tmp);
  snprintf(data, sizeof data, "%s/data", tmp);
  snprintf(gpath, sizeof gpath, "%s/grants.json", bundle);
  char pdir[200];
  snprintf(pdir, sizeof pdir, "%s/policies", bundle);
  cr_assert_eq(mkdir(bundle, 0755), 0);
  cr_assert_eq(mkdir(pdir, 0755), 0);
  char pfile[240];
  snprintf(pfile, sizeof pfile, "%s/a.cedar", pdir);
  FILE *f = fopen(pfile, "w");
  cr_assert_not_null(f);
  fputs("permit (principal == User::\"alice\", action == Action::\"view\", resource);\n", f);
  fclose(f);
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(cache_grants, .init = make_dir, .fini = remove_dir);

static void write_grants(const char *text) {
  FILE *f = fopen(gpath, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static const char *diag_all(const cache_diag *d) {
  static char buf[8192];
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->n; i++) {
    strncat(buf, d->lines[i], sizeof buf - strlen(buf) - 2);
    strncat(buf, "\n", sizeof buf - strlen(buf) - 1);
  }
  return buf;
}

static bool has_line(const cache_diag *d, const char *line) {
  for (uint32_t i = 0; i < d->n; i++)
    if (strcmp(d->lines[i], line) == 0) return true;
  return false;
}

/* Count the grants a scan hands over. */
static bool count_fn(void *ctx, const cache_grant *g, uint64_t index, uint32_t line, uint32_t col) {
  (*(uint64_t *)ctx)++;
  return true;
}

static int scan(cache_diag *d, uint64_t *n) {
  *n = 0;
  return cache_grants_scan(gpath, "grants.json", CACHE_STORE_DEFAULT_MAX_KEY, count_fn, n, d);
}

static cache_store *open_store(void) {
  cache_store *s = NULL;
  cache_store_err err;
  cr_assert_eq(cache_store_open(data, 0, &s, &err), 0, "%s", err.message);
  return s;
}

static void sync_ok(cache_store *s, cache_sync_info *info) {
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache_sync_from_dir(s, bundle, info, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  pdpe_snapshot_unref(info->snapshot);
  info->snapshot = NULL;
}

static pdpe_snapshot *snapshot_of(cache_store *s) {
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *snap = NULL;
  cr_assert(cache_snapshot_from_store(s, &snap, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  return snap;
}

static int lookup(const pdpe_snapshot *snap, pdpe_provider p, const char *key, const char *perm,
                  const char *tenant) {
  pdpe_grant_key k = {p, pu_str_c(key), pu_str_c(perm), pu_str_c(tenant)};
  char err[256] = "";
  int e = snap->grants.lookup(snap->grants.ctx, &k, err, sizeof err);
  cr_assert_geq(e, 0, "%s", err);
  return e;
}

Test(cache_grants, a_valid_file_is_read_with_its_defaults) {
  write_grants("[{\"provider\": \"R\", \"key\": \"admin\", \"permission\": \"orders.edit\",\n"
               "  \"tenant\": \"acme\", \"effect\": \"GRANT\"},\n"
               " {\"provider\": \"U\", \"key\": \"bob\", \"permission\": \"orders.edit\"},\n"
               " {\"effect\": \"PROHIBIT\", \"permission\": \"orders.delete\", \"key\": \"svc\",\n"
               "  \"provider\": \"C\"}]\n");
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  cr_assert_eq(info.grants, 3);
  cr_assert_eq(info.table_puts[CACHE_TABLE_GRANTS], 3);
  pdpe_snapshot *snap = snapshot_of(s);
  cr_assert_eq(snap->grants.count, 3);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "admin", "orders.edit", "acme"), PDPE_EFFECT_GRANT);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "admin", "orders.edit", ""), PDPE_EFFECT_NONE,
               "a tenant grant is not a host grant");
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_USER, "bob", "orders.edit", ""), PDPE_EFFECT_GRANT,
               "tenant defaults to host, effect to GRANT");
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_CLIENT, "svc", "orders.delete", ""),
               PDPE_EFFECT_PROHIBIT);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "svc", "orders.delete", ""), PDPE_EFFECT_NONE,
               "the provider is part of the key");

  /* the row itself, read through the view */
  char key[128];
  size_t n = cache_grant_key(PDPE_PROVIDER_ROLE, pu_str_c("admin"), pu_str_c("orders.edit"),
                             pu_str_c("acme"), key, sizeof key);
  cr_assert_eq(n, 23);
  cr_assert_eq(memcmp(key, "Radmin\0orders.edit\0acme", 23), 0);
  cache_val v;
  cr_assert_eq(cache_view_get(snap, CACHE_TABLE_GRANTS, key, n, &v), CACHE_STORE_OK);
  cr_assert_eq(v.len, 1);
  cr_assert_eq(*(const char *)v.data, 'G');
  cache_grant g;
  cr_assert(cache_grant_from_row(key, n, v.data, v.len, &g));
  cr_assert(pu_str_eq_c(g.key, "admin") && pu_str_eq_c(g.permission, "orders.edit") &&
            pu_str_eq_c(g.tenant, "acme") && g.provider == PDPE_PROVIDER_ROLE);
  pdpe_snapshot_unref(snap);
  cache_store_close(s);
}

Test(cache_grants, every_bad_field_is_named_with_its_line_and_column) {
  write_grants(
      "[\n"
      " {\"provider\": \"X\", \"key\": \"a\", \"permission\": \"p\"},\n"
      " {\"provider\": \"R\", \"key\": \"\", \"permission\": \"p\"},\n"
      " {\"provider\": \"R\", \"key\": \"a\", \"permission\": 5},\n"
      " {\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\", \"color\": 1},\n"
      " {\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\", \"effect\": \"NO\"},\n"
      " {\"provider\": \"R\", \"permission\": \"p\"},\n"
      " \"text\",\n"
      " {\"provider\": \"U\", \"key\": \"b\", \"permission\": \"p\", \"tenant\": [1]},\n"
      " {\"provider\": \"U\", \"key\": \"ok\", \"permission\": \"p\"}\n"
      "]\n");
  cache_diag d;
  cache_diag_init(&d);
  uint64_t n;
  cr_assert_eq(scan(&d, &n), -1);
  const char *want[] = {
      "grants.json:2:15: grants[0].provider: must be \"R\", \"U\" or \"C\"",
      "grants.json:3:27: grants[1].key: must not be empty",
      "grants.json:4:46: grants[2].permission: must be a string",
      "grants.json:5:51: grants[3].color: unknown field (a grant has provider, key, permission, "
      "tenant, effect)",
      "grants.json:6:61: grants[4].effect: must be \"GRANT\" or \"PROHIBIT\"",
      "grants.json:7:2: grants[5].key: missing",
      "grants.json:8:2: grants[6]: must be an object {\"provider\", \"key\", \"permission\", "
      "\"tenant\", \"effect\"}",
      "grants.json:9:61: grants[7].tenant: must be a string",
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_assert(has_line(&d, want[i]), "missing: %s\ngot:\n%s", want[i], diag_all(&d));
  cr_assert_eq(d.n, sizeof want / sizeof *want, "%s", diag_all(&d));
  cache_diag_close(&d);
}

Test(cache_grants, a_syntax_error_stops_the_scan_at_its_position) {
  write_grants("[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"},\n"
               " {\"provider\": \"R\" \"key\": \"b\"},\n"
               " {\"provider\": \"Z\", \"key\": \"c\", \"permission\": \"p\"}]\n");
  cache_diag d;
  cache_diag_init(&d);
  uint64_t n;
  cr_assert_eq(scan(&d, &n), -1);
  cr_assert_eq(d.n, 1, "nothing after a syntax error: %s", diag_all(&d));
  cr_assert(strncmp(d.lines[0], "grants.json:2:23: grants[1]: ", 29) == 0, "%s", d.lines[0]);
  cache_diag_close(&d);
}

Test(cache_grants, the_array_itself_must_be_well_formed) {
  struct {
    const char *text, *want;
  } cases[] = {
      {"{\"provider\": \"R\"}", "grants.json:1:1: expected a JSON array of grants ('[')"},
      {"", "grants.json:1:1: expected a JSON array of grants ('[')"},
      {"[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"},\n]",
       "grants.json:2:1: grants[1]: expected a grant after ','"},
      {"[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"}\n  {}]",
       "grants.json:2:3: expected ',' or ']' after grants[0]"},
      {"[]\n[]", "grants.json:2:1: unexpected text after the array of grants"},
      {"[\n", "grants.json:2:1: grants[0]: the file ends inside the array"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_grants(cases[i].text);
    cache_diag d;
    cache_diag_init(&d);
    uint64_t n;
    cr_assert_eq(scan(&d, &n), -1, "case %zu", i);
    cr_assert(has_line(&d, cases[i].want), "case %zu: want %s\ngot:\n%s", i, cases[i].want,
              diag_all(&d));
    cache_diag_close(&d);
  }
  write_grants("  [ ]  \n");
  cache_diag d;
  cache_diag_init(&d);
  uint64_t n = 7;
  cr_assert_eq(scan(&d, &n), 0, "%s", diag_all(&d));
  cr_assert_eq(n, 0);
  cache_diag_close(&d);
}

Test(cache_grants, nul_bytes_and_bad_utf8_are_errors) {
  write_grants("[{\"provider\": \"R\", \"key\": \"a\\u0000b\", \"permission\": \"p\"}]");
  cache_diag d;
  cache_diag_init(&d);
  uint64_t n;
  cr_assert_eq(scan(&d, &n), -1);
  cr_assert(d.n == 1 && strncmp(d.lines[0], "grants.json:1:", 14) == 0 &&
                strstr(d.lines[0], "grants[0]"),
            "%s", diag_all(&d));
  cache_diag_close(&d);
  write_grants("[{\"provider\": \"R\", \"key\": \"a\xff\", \"permission\": \"p\"}]");
  cache_diag_init(&d);
  cr_assert_eq(scan(&d, &n), -1);
  cr_assert(d.n == 1 && strstr(d.lines[0], "grants[0]"), "%s", diag_all(&d));
  cache_diag_close(&d);
}

Test(cache_grants, a_grant_too_long_for_a_store_key_is_an_error) {
  /* provider + key + 0 + "perm.x" + 0 = 3 + k + 6 bytes: 502 fits in 511, 503 does not */
  for (int k = 502; k <= 503; k++) {
    char text[2000], key[600];
    memset(key, 'k', (size_t)k);
    key[k] = '\0';
    snprintf(text, sizeof text,
             "[{\"provider\": \"R\", \"key\": \"%s\", \"permission\": \"perm.x\"}]", key);
    write_grants(text);
    cache_diag d;
    cache_diag_init(&d);
    uint64_t n;
    if (k == 502) {
      cr_assert_eq(scan(&d, &n), 0, "%s", diag_all(&d));
      cr_assert_eq(n, 1);
    } else {
      cr_assert_eq(scan(&d, &n), -1);
      cr_assert(d.n == 1 &&
                    strstr(d.lines[0], "grants.json:1:27: grants[0].key: the grant's "
                                       "store key would be 512 bytes") &&
                    strstr(d.lines[0], "at most 511"),
                "%s", diag_all(&d));
    }
    cache_diag_close(&d);
  }
}

Test(cache_grants, a_duplicate_natural_key_names_both_items) {
  write_grants("[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"},\n"
               " {\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\", \"tenant\": \"t\"},\n"
               " {\"provider\": \"U\", \"key\": \"a\", \"permission\": \"p\"},\n"
               " {\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\", \"effect\": "
               "\"PROHIBIT\"}]\n");
  cache_store *s = open_store();
  uint8_t before[32], after[32];
  cache_store_err err;
  cr_assert_eq(cache_store_stamp(s, before, &err), 0);
  cache_diag d;
  cache_diag_init(&d);
  cache_sync_info info;
  cr_assert_not(cache_sync_from_dir(s, bundle, &info, &d));
  cr_assert(has_line(&d, "grants.json:4:2: grants[3]: duplicate of grants[0] (line 1): provider R, "
                         "key \"a\", permission \"p\", tenant \"\""),
            "%s", diag_all(&d));
  cr_assert_eq(d.n, 1, "a tenant or a provider makes another grant: %s", diag_all(&d));
  cache_diag_close(&d);
  cr_assert_eq(cache_store_stamp(s, after, &err), 0);
  cr_assert_arr_eq(before, after, 32, "nothing stored");
  cr_assert_not(cache_store_has_snapshot(s, NULL));
  cache_store_close(s);
}

/* Write n grants, one per line: R/role<i % 1000>/perm<i> for tenant t<i % 7>. */
static void write_many(size_t n, size_t bad_at) {
  FILE *f = fopen(gpath, "w");
  cr_assert_not_null(f);
  fputs("[\n", f);
  for (size_t i = 0; i < n; i++)
    fprintf(f,
            "{\"provider\": \"%s\", \"key\": \"role%zu\", \"permission\": \"perm%zu\", "
            "\"tenant\": \"t%zu\"}%s\n",
            i == bad_at ? "Q" : "R", i % 1000, i, i % 7, i + 1 < n ? "," : "");
  fputs("]\n", f);
  fclose(f);
}

Test(cache_grants, a_200k_grant_file_streams_through_a_small_window) {
  const size_t n = 200000;
  write_many(n, n - 3);
  struct stat st;
  cr_assert_eq(stat(gpath, &st), 0);
  cr_assert_gt(st.st_size, 3 * (4 << 20), "the file is larger than several windows");
  cache_diag d;
  cache_diag_init(&d);
  uint64_t count;
  cr_assert_eq(scan(&d, &count), -1);
  char want[128];
  snprintf(want, sizeof want,
           "grants.json:%zu:14: grants[%zu].provider: must be \"R\", \"U\" or \"C\"", n - 3 + 2,
           n - 3);
  cr_assert(d.n == 1 && strcmp(d.lines[0], want) == 0, "want %s got %s", want, diag_all(&d));
  cache_diag_close(&d);

  write_many(n, (size_t)-1);
  cache_diag_init(&d);
  cr_assert_eq(scan(&d, &count), 0, "%s", diag_all(&d));
  cr_assert_eq(count, n);
  cache_diag_close(&d);
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  cr_assert_eq(info.grants, n);
  cr_assert_eq(info.table_puts[CACHE_TABLE_GRANTS], n);
  pdpe_snapshot *snap = snapshot_of(s);
  cr_assert_eq(snap->grants.count, n);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "role999", "perm199999", "t2"), PDPE_EFFECT_GRANT);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "role0", "perm0", "t0"), PDPE_EFFECT_GRANT);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "role0", "perm0", "t1"), PDPE_EFFECT_NONE);
  pdpe_snapshot_unref(snap);
  cache_store_close(s);
}

Test(cache_grants, a_snapshot_answers_from_its_own_state_while_later_deltas_commit) {
  write_grants("[{\"provider\": \"R\", \"key\": \"admin\", \"permission\": \"edit\"},\n"
               " {\"provider\": \"U\", \"key\": \"bob\", \"permission\": \"view\"}]");
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  pdpe_snapshot *old = snapshot_of(s);
  uint8_t old_stamp[32];
  memcpy(old_stamp, info.stamp, 32);
  cr_assert_arr_eq(old->stamp, old_stamp, 32, "the snapshot's stamp is its txn's");

  write_grants("[{\"provider\": \"R\", \"key\": \"admin\", \"permission\": \"edit\", \"effect\": "
               "\"PROHIBIT\"},\n"
               " {\"provider\": \"C\", \"key\": \"svc\", \"permission\": \"view\"}]");
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache_sync_from_dir(s, bundle, &info, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  pdpe_snapshot *synced = info.snapshot;
  cr_assert_arr_eq(synced->stamp, info.stamp, 32, "the sync's snapshot is the state it wrote");
  cr_assert_arr_neq(synced->stamp, old_stamp, 32);
  pdpe_snapshot *now = snapshot_of(s);
  cr_assert_arr_eq(now->stamp, info.stamp, 32);

  cr_assert_eq(lookup(old, PDPE_PROVIDER_ROLE, "admin", "edit", ""), PDPE_EFFECT_GRANT);
  cr_assert_eq(lookup(old, PDPE_PROVIDER_USER, "bob", "view", ""), PDPE_EFFECT_GRANT);
  cr_assert_eq(lookup(old, PDPE_PROVIDER_CLIENT, "svc", "view", ""), PDPE_EFFECT_NONE);
  for (int i = 0; i < 2; i++) {
    pdpe_snapshot *n = i ? now : synced;
    cr_assert_eq(lookup(n, PDPE_PROVIDER_ROLE, "admin", "edit", ""), PDPE_EFFECT_PROHIBIT);
    cr_assert_eq(lookup(n, PDPE_PROVIDER_USER, "bob", "view", ""), PDPE_EFFECT_NONE);
    cr_assert_eq(lookup(n, PDPE_PROVIDER_CLIENT, "svc", "view", ""), PDPE_EFFECT_GRANT);
    cr_assert_eq(n->grants.count, 2);
  }
  cr_assert_eq(old->grants.count, 2);

  /* any table through the view, in the pinned state */
  char key[64];
  size_t n = cache_grant_key(PDPE_PROVIDER_USER, pu_str_c("bob"), pu_str_c("view"), pu_str_c(""),
                             key, sizeof key);
  cache_val v;
  cr_assert_eq(cache_view_get(old, CACHE_TABLE_GRANTS, key, n, &v), CACHE_STORE_OK);
  cr_assert_eq(cache_view_get(now, CACHE_TABLE_GRANTS, key, n, &v), CACHE_STORE_NOTFOUND);
  cr_assert_eq(cache_view_get(now, CACHE_TABLE_POLICIES, "file:a.cedar", 12, &v), CACHE_STORE_OK);
  cr_assert_eq(cache_view_get(now, CACHE_TABLE_META, CACHE_META_SOURCE, 6, &v), CACHE_STORE_OK);
  cr_assert(v.len > 4 && memcmp(v.data, "dir:", 4) == 0);
  cr_assert_eq(cache_view_get(now, (cache_table)99, "x", 1, &v), CACHE_STORE_EINVAL);
  cr_assert_eq(cache_view_get(now, CACHE_TABLE_GRANTS, "", 0, &v), CACHE_STORE_EINVAL);

  pdpe_snapshot_unref(old);
  pdpe_snapshot_unref(synced);
  pdpe_snapshot_unref(now);
  cache_store_close(s);
}

Test(cache_grants, a_snapshot_outlives_the_store_handle_it_came_from) {
  write_grants("[{\"provider\": \"R\", \"key\": \"admin\", \"permission\": \"edit\"}]");
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  pdpe_snapshot *snap = snapshot_of(s);
  pdpe_snapshot *again = snapshot_of(s);
  cache_store_close(s); /* the views keep the environment open */
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "admin", "edit", ""), PDPE_EFFECT_GRANT);
  pdpe_snapshot_unref(snap);
  cr_assert_eq(lookup(again, PDPE_PROVIDER_ROLE, "admin", "edit", ""), PDPE_EFFECT_GRANT);
  pdpe_snapshot_unref(again); /* the last one closes it */
  s = open_store();
  cache_store_close(s);
}

Test(cache_grants, lookups_that_no_row_can_match_answer_none) {
  write_grants("[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"b\", \"tenant\": \"c\"}]");
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  pdpe_snapshot *snap = snapshot_of(s);
  pdpe_grant_key k = {PDPE_PROVIDER_ROLE, {"a\0b", 3}, pu_str_c("c"), pu_str_c("")};
  char err[128];
  cr_assert_eq(snap->grants.lookup(snap->grants.ctx, &k, err, sizeof err), PDPE_EFFECT_NONE);
  k = (pdpe_grant_key){(pdpe_provider)9, pu_str_c("a"), pu_str_c("b"), pu_str_c("c")};
  cr_assert_eq(snap->grants.lookup(snap->grants.ctx, &k, err, sizeof err), PDPE_EFFECT_NONE);
  char big[2000];
  memset(big, 'x', sizeof big);
  k = (pdpe_grant_key){PDPE_PROVIDER_ROLE, {big, sizeof big}, pu_str_c("b"), pu_str_c("c")};
  cr_assert_eq(snap->grants.lookup(snap->grants.ctx, &k, err, sizeof err), PDPE_EFFECT_NONE);
  cr_assert_eq(lookup(snap, PDPE_PROVIDER_ROLE, "a", "b", "c"), PDPE_EFFECT_GRANT);
  pdpe_snapshot_unref(snap);
  cache_store_close(s);
}

Test(cache_grants, a_folder_snapshot_has_no_view) {
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *snap = NULL;
  cr_assert(cache_dir_load(bundle, &snap, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  cache_val v;
  cr_assert_eq(cache_view_get(snap, CACHE_TABLE_GRANTS, "x", 1, &v), CACHE_STORE_EINVAL);
  cr_assert_eq(snap->grants.count, 0);
  pdpe_snapshot_unref(snap);
}

Test(cache_grants, the_canonical_text_reads_back_as_the_same_grant) {
  cache_grant g = {PDPE_PROVIDER_CLIENT, pu_str_c("a \"q\" \\ \n\x01 é"), pu_str_c("p.x"),
                   pu_str_c("t"), PDPE_EFFECT_PROHIBIT};
  FILE *f = fopen(gpath, "w");
  cr_assert_not_null(f);
  fputs("[", f);
  cr_assert(cache_grant_write_json(f, &g));
  fputs(",\n", f);
  g.tenant = pu_str_c("");
  cr_assert(cache_grant_write_json(f, &g));
  fputs("]\n", f);
  fclose(f);
  char *text = NULL;
  size_t len = 0;
  f = fopen(gpath, "r");
  cr_assert_eq(getdelim(&text, &len, '\0', f) > 0, 1);
  fclose(f);
  cr_assert(strstr(text, "[{\"provider\":\"C\",\"key\":\"a \\\"q\\\" \\\\ \\n\\u0001 é\","
                         "\"permission\":\"p.x\",\"tenant\":\"t\",\"effect\":\"PROHIBIT\"},\n"
                         "{\"provider\":\"C\",\"key\":"),
            "%s", text);
  cr_assert(strstr(text, "\"permission\":\"p.x\",\"effect\":\"PROHIBIT\"}]"), "%s", text);
  free(text);
  cache_diag d;
  cache_diag_init(&d);
  uint64_t n;
  cr_assert_eq(scan(&d, &n), 0, "%s", diag_all(&d));
  cr_assert_eq(n, 2);
  cache_diag_close(&d);
}

Test(cache_grants, the_summary_stamp_is_the_stamp_a_store_gets) {
  write_many(5000, (size_t)-1);
  cache_diag d;
  cache_diag_init(&d);
  cache_dir_summary sum;
  cr_assert(cache_dir_summarize(bundle, &sum, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  cr_assert_eq(sum.grants, 5000);
  cr_assert_eq(sum.policies, 1);
  cr_assert_eq(sum.entities, 0);
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  cr_assert_arr_eq(sum.stamp, info.stamp, 32);
  uint8_t re[32];
  cache_store_err err;
  cr_assert_eq(cache_store_recompute_stamp(s, re, &err), 0);
  cr_assert_arr_eq(sum.stamp, re, 32);
  cache_store_close(s);

  write_grants("[{\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"},\n"
               " {\"provider\": \"R\", \"key\": \"a\", \"permission\": \"p\"}]");
  cache_diag_init(&d);
  cr_assert_not(cache_dir_summarize(bundle, &sum, &d));
  cr_assert(has_line(&d, "grants.json:2:2: grants[1]: duplicate of grants[0] (line 1): provider "
                         "R, key \"a\", permission \"p\", tenant \"\""),
            "%s", diag_all(&d));
  cache_diag_close(&d);
}

static pdpe_decision decide(const pdpe_snapshot *snap, pu_arena *a, const char *user,
                            const char *action) {
  pdpe_request rq;
  memset(&rq, 0, sizeof rq);
  rq.principal = (pdpe_uid){pu_str_c("User"), pu_str_c(user)};
  rq.action = (pdpe_uid){pu_str_c("Action"), pu_str_c(action)};
  rq.resource = (pdpe_uid){pu_str_c("Doc"), pu_str_c("d1")};
  pdpe_decision d;
  cr_assert(pdpe_authorize(snap, &rq, a, &d));
  return d;
}

Test(cache_grants, stored_grants_decide_checks_through_the_pinned_view) {
  char path[200];
  snprintf(path, sizeof path, "%s/entities.json", bundle);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("[{\"uid\": {\"type\": \"User\", \"id\": \"bob\"}, \"attrs\": {}, \"parents\": "
        "[{\"type\": \"Role\", \"id\": \"editor\"}]},\n"
        " {\"uid\": {\"type\": \"User\", \"id\": \"carol\"}, \"attrs\": {\"tenant\": \"acme\"}, "
        "\"parents\": [{\"type\": \"Role\", \"id\": \"editor\"}]}]\n",
        f);
  fclose(f);
  write_grants("[{\"provider\": \"R\", \"key\": \"editor\", \"permission\": \"edit\"},\n"
               " {\"provider\": \"R\", \"key\": \"editor\", \"permission\": \"edit\", \"tenant\": "
               "\"acme\"},\n"
               " {\"provider\": \"U\", \"key\": \"carol\", \"permission\": \"edit\", \"tenant\": "
               "\"acme\", \"effect\": \"PROHIBIT\"}]");
  cache_store *s = open_store();
  cache_sync_info info;
  sync_ok(s, &info);
  pdpe_snapshot *old = snapshot_of(s);
  pu_arena a;
  pu_arena_init(&a, 1 << 16, 0);
  pdpe_decision d = decide(old, &a, "bob", "edit");
  cr_assert_eq(d.decision, PDPE_ALLOW, "a host role grant allows a host principal in the role");
  cr_assert(d.n_reason == 1 && pu_str_eq_c(d.reason[0], "grant:R/editor/edit"));
  d = decide(old, &a, "carol", "edit");
  cr_assert_eq(d.decision, PDPE_DENY, "carol's tenant prohibition wins over her role's grant");
  cr_assert(d.n_reason == 1 && pu_str_eq_c(d.reason[0], "grant:U/carol/edit@acme"));
  d = decide(old, &a, "alice", "view");
  cr_assert(d.decision == PDPE_ALLOW && d.n_reason == 1 && pu_str_eq_c(d.reason[0], "policy0"),
            "the policy file's permit");
  cr_assert_eq(decide(old, &a, "bob", "view").decision, PDPE_DENY, "no grant for view");

  /* a later sync revokes the editor grant; the old snapshot still decides with it */
  write_grants("[{\"provider\": \"R\", \"key\": \"editor\", \"permission\": \"edit\", \"tenant\": "
               "\"acme\"}]");
  sync_ok(s, &info);
  pdpe_snapshot *now = snapshot_of(s);
  pu_arena_reset(&a);
  cr_assert_eq(decide(now, &a, "bob", "edit").decision, PDPE_DENY);
  cr_assert_eq(decide(now, &a, "carol", "edit").decision, PDPE_ALLOW);
  cr_assert_eq(decide(old, &a, "bob", "edit").decision, PDPE_ALLOW);
  cr_assert_eq(decide(old, &a, "carol", "edit").decision, PDPE_DENY);
  pu_arena_close(&a);
  pdpe_snapshot_unref(old);
  pdpe_snapshot_unref(now);
  cache_store_close(s);
}

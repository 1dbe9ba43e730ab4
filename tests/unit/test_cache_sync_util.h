/* test_cache_sync_util.h - what the sync suites share: a temp folder with a bundle and a data
 * dir per test, file writers, a store opened on the data dir, syncs that must succeed.  Each
 * suite uses some of these static helpers. */
#ifndef PDP_TESTS_UNIT_TEST_CACHE_SYNC_UTIL_H
#define PDP_TESTS_UNIT_TEST_CACHE_SYNC_UTIL_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
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

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

#pragma GCC diagnostic pop

#endif

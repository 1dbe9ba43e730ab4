/* test_cache_fingerprint.c - the whole source's fingerprint: an unchanged source is not read
 * again once its fingerprint is trusted (no file is even opened: watched with inotify), and
 * every location's add, in-place change (same size, mtime restored: only ctime moves) and
 * removal is seen, as is a rename and any change inside the "racily clean" window.
 */
#include "test_cache_sync_util.h"

#include <sys/inotify.h>

TestSuite(cache_sync, .init = make_dir, .fini = remove_dir);

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

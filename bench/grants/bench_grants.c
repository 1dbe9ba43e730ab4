/* bench_grants.c - pdp-bench-grants: what a million grants cost in the store, in a sync and in
 * a check.
 *
 * Generates a bundle folder with N grants (default 1,000,000) in grants.json, one policy, and
 * entities where User::"u0" has three roles that hold grants.  Grant i is
 * provider R (70%), U (20%) or C (10%) by i % 10, key "<r|u|c><i / 100>", permission
 * "svc<(i % 100) / 10>.act<i % 10>", tenant "" (i % 4 == 0) or "t<i % 3>".  Then it measures:
 *
 *   1. the first sync into an empty store (cache_sync_from_dir): wall time, and the peak RSS
 *      of the process that ran it (a child, so each phase has its own peak: wait4's ru_maxrss);
 *   2. building the snapshot from the store (cache_snapshot_from_store) and the RSS it adds;
 *   3. a sync after K (default 10,000) grants changed effect (spread over the file): time,
 *      peak RSS, rows written; then the same folder synced again once the fingerprint is
 *      trusted (grants.json not read: the cost of a policy-only change) and after a touch
 *      (read and compared, nothing written);
 *   4. the check: grants.lookup for the 4 keys of a request (the principal and its 3 roles),
 *      ns per check over M requests (default 1,000,000) cycling through permissions, about a
 *      quarter of them hits; and pdpe_authorize on the same requests with grants and with
 *      grants.count = 0 (the engine skips lookups then), ns per check.  Until the engine's
 *      grant semantics are merged both authorize figures are the policies alone.
 *
 * Usage: pdp-bench-grants [--grants N] [--changed K] [--checks M] [--dir DIR] [--keep]
 * DIR defaults to a new temp folder, removed at the end unless --keep.
 */
#include "../../cache/cache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}

static void die(const char *what) {
  fprintf(stderr, "pdp-bench-grants: %s\n", what);
  exit(2);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) die(path);
}

static const char provider_of[10] = {'R', 'R', 'R', 'R', 'R', 'R', 'R', 'U', 'U', 'C'};

static void grant_parts(size_t i, char *p, char *key, char *perm, char *tenant) {
  *p = provider_of[i % 10];
  sprintf(key, "%c%zu", *p == 'R' ? 'r' : *p == 'U' ? 'u' : 'c', i / 100);
  sprintf(perm, "svc%zu.act%zu", (i % 100) / 10, i % 10);
  if (i % 4 == 0)
    tenant[0] = '\0';
  else
    sprintf(tenant, "t%zu", i % 3);
}

/* grants.json with n grants; those with i % stride == 0 (stride 0: none) are PROHIBIT.
 * Written to a temp file and renamed, as pdpctl does. */
static void write_grants(const char *dir, size_t n, size_t stride) {
  char path[4096], tmp[4096];
  snprintf(path, sizeof path, "%s/grants.json", dir);
  snprintf(tmp, sizeof tmp, "%s/.grants.json.tmp", dir);
  FILE *f = fopen(tmp, "w");
  if (!f) die(tmp);
  static char buf[1 << 20];
  setvbuf(f, buf, _IOFBF, sizeof buf);
  fputs("[\n", f);
  for (size_t i = 0; i < n; i++) {
    char p, key[32], perm[32], tenant[16];
    grant_parts(i, &p, key, perm, tenant);
    fprintf(f, "{\"provider\":\"%c\",\"key\":\"%s\",\"permission\":\"%s\"", p, key, perm);
    if (tenant[0]) fprintf(f, ",\"tenant\":\"%s\"", tenant);
    fprintf(f, ",\"effect\":\"%s\"}%s\n", stride && i % stride == 0 ? "PROHIBIT" : "GRANT",
            i + 1 < n ? "," : "");
  }
  fputs("]\n", f);
  if (fclose(f) != 0 || rename(tmp, path) != 0) die(path);
}

/* ---- one sync in a child: its time and peak RSS ---------------------------------------- */

typedef struct sync_result {
  double seconds;
  long maxrss_kib;
  uint32_t puts, dels;
  uint64_t grants;
  bool grants_read;
} sync_result;

/* One sync of bundle into the store at data in a child process (its peak RSS is the sync's);
 * flags as cache_sync_from_dir_flags (0: with the read-back snapshot, as at start-up). */
static sync_result sync_in_child(const char *data, const char *bundle, unsigned flags) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(fds[0]);
    sync_result r = {0};
    cache_store *s = NULL;
    cache_store_err err;
    if (cache_store_open(data, 0, &s, &err) != 0) {
      fprintf(stderr, "%s\n", err.message);
      _exit(1);
    }
    cache_diag d;
    cache_diag_init(&d);
    cache_sync_info info;
    double t0 = now_s();
    if (!cache_sync_from_dir_flags(s, bundle, flags, &info, &d)) {
      for (uint32_t i = 0; i < d.n; i++) fprintf(stderr, "%s\n", d.lines[i]);
      _exit(1);
    }
    r.seconds = now_s() - t0;
    r.puts = info.puts;
    r.dels = info.dels;
    r.grants = info.grants;
    r.grants_read = info.grants_read;
    pdpe_snapshot_unref(info.snapshot);
    cache_diag_close(&d);
    cache_store_close(s);
    if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  sync_result r;
  ssize_t got = read(fds[0], &r, sizeof r);
  close(fds[0]);
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
      got != (ssize_t)sizeof r)
    die("the sync failed");
  r.maxrss_kib = ru.ru_maxrss;
  return r;
}

/* ---- checks ------------------------------------------------------------------------------ */

#define N_PERMS 100

static pdpe_request request_for(size_t i, char perms[N_PERMS][32]) {
  pdpe_request rq;
  memset(&rq, 0, sizeof rq);
  rq.principal = (pdpe_uid){pu_str_c("User"), pu_str_c("u0")};
  rq.action = (pdpe_uid){pu_str_c("Action"), pu_str_c(perms[i % N_PERMS])};
  rq.resource = (pdpe_uid){pu_str_c("Doc"), pu_str_c("d1")};
  return rq;
}

int main(int argc, char **argv) {
  size_t n = 1000000, changed = 10000, checks = 1000000;
  const char *dir_arg = NULL;
  bool keep = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--grants") && i + 1 < argc)
      n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--changed") && i + 1 < argc)
      changed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--checks") && i + 1 < argc)
      checks = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      dir_arg = argv[++i];
    else if (!strcmp(argv[i], "--keep"))
      keep = true;
    else {
      fprintf(stderr, "usage: pdp-bench-grants [--grants N] [--changed K] [--checks M] "
                      "[--dir DIR] [--keep]\n");
      return 2;
    }
  }
  if (n < 1000 || changed > n || checks == 0) die("need --grants >= 1000, --changed <= N");
  char dir[4096], bundle[4200], data[4200], path[4400];
  if (dir_arg) {
    snprintf(dir, sizeof dir, "%s", dir_arg);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die(dir);
  } else {
    snprintf(dir, sizeof dir, "%s/pdp-bench-grants.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) die("mkdtemp");
  }
  snprintf(bundle, sizeof bundle, "%s/bundle", dir);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(path, sizeof path, "%s/policies", bundle);
  mkdir(bundle, 0755);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/policies/p.cedar", bundle);
  write_text(path, "permit (principal == User::\"admin\", action, resource);\n"
                   "forbid (principal, action, resource) when { resource.locked };\n");
  snprintf(path, sizeof path, "%s/entities.json", bundle);
  /* u0's roles r0, r1, r2 hold grants for the permissions of i in 0..299 with provider R */
  write_text(path, "[{\"uid\": {\"type\": \"User\", \"id\": \"u0\"}, \"attrs\": {}, \"parents\": "
                   "[{\"type\": \"Role\", \"id\": \"r0\"}, {\"type\": \"Role\", \"id\": \"r1\"}, "
                   "{\"type\": \"Role\", \"id\": \"r2\"}]},\n"
                   " {\"uid\": {\"type\": \"Doc\", \"id\": \"d1\"}, \"attrs\": {\"locked\": "
                   "false}, \"parents\": []}]\n");

  double t0 = now_s();
  write_grants(bundle, n, 0);
  double gen = now_s() - t0;
  snprintf(path, sizeof path, "%s/grants.json", bundle);
  struct stat st;
  if (stat(path, &st) != 0) die(path);
  printf("# pdp-bench-grants: %zu grants (grants.json %.1f MiB, written in %.2f s), dir %s\n\n", n,
         st.st_size / 1048576.0, gen, dir);
  printf("| phase | time | peak RSS of the process | rows written |\n|---|---|---|---|\n");

  sync_result r = sync_in_child(data, bundle, 0);
  printf("| first sync (empty store) | %.2f s | %.1f MiB | %" PRIu32 " |\n", r.seconds,
         r.maxrss_kib / 1024.0, r.puts);

  cache_store *s = NULL;
  cache_store_err err;
  if (cache_store_open(data, 0, &s, &err) != 0) die(err.message);
  long rss0 = rss_kib();
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *snap = NULL;
  t0 = now_s();
  if (!cache_snapshot_from_store(s, &snap, &d)) die("snapshot");
  double build = now_s() - t0;
  long rss1 = rss_kib();
  printf("| snapshot from the store | %.2f ms | +%.1f MiB (this process) | - |\n", build * 1e3,
         (rss1 - rss0) / 1024.0);

  size_t stride = changed ? n / changed : 0;
  write_grants(bundle, n, stride);
  r = sync_in_child(data, bundle, 0);
  printf("| sync, %zu grants changed | %.2f s | %.1f MiB | %" PRIu32 " |\n", changed, r.seconds,
         r.maxrss_kib / 1024.0, r.puts + r.dels);
  struct timespec pause = {1, 100000000L}; /* let the fingerprint become trusted */
  nanosleep(&pause, NULL);
  r = sync_in_child(data, bundle, 0); /* re-read once: the last one was racy */
  printf("| sync, grants.json read, nothing changed | %.2f s | %.1f MiB | %" PRIu32 " |\n",
         r.seconds, r.maxrss_kib / 1024.0, r.puts + r.dels);
  r = sync_in_child(data, bundle, 0);
  printf("| sync, grants.json unchanged (fingerprint: not read) | %.2f ms | %.1f MiB | %" PRIu32
         " |\n",
         r.seconds * 1e3, r.maxrss_kib / 1024.0, r.puts + r.dels);
  if (r.grants_read) printf("(unexpected: grants.json was read)\n");
  r = sync_in_child(data, bundle, CACHE_SYNC_NO_SNAPSHOT);
  printf("| sync as pdpd's checker runs it (no read-back snapshot), source unchanged | %.3f ms | "
         "%.1f MiB | %" PRIu32 " |\n",
         r.seconds * 1e3, r.maxrss_kib / 1024.0, r.puts + r.dels);
  snprintf(path, sizeof path, "%s/data.mdb", data);
  if (stat(path, &st) == 0)
    printf("\nstore: data.mdb %.1f MiB (%" PRIu64 " grants in the pinned snapshot)\n",
           st.st_blocks * 512 / 1048576.0, snap->grants.count);

  /* ---- checks ---- */
  char perms[N_PERMS][32];
  for (size_t i = 0; i < N_PERMS; i++) snprintf(perms[i], 32, "svc%zu.act%zu", i / 10, i % 10);
  const char *roles[3] = {"r0", "r1", "r2"};
  char e[256];
  uint64_t hits = 0;
  for (int warm = 1; warm >= 0; warm--) {
    hits = 0;
    t0 = now_s();
    for (size_t i = 0; i < (warm ? checks / 10 + 1 : checks); i++) {
      pu_str perm = pu_str_c(perms[i % N_PERMS]);
      pdpe_grant_key k = {PDPE_PROVIDER_USER, pu_str_c("u0"), perm, pu_str_c("")};
      int x = snap->grants.lookup(snap->grants.ctx, &k, e, sizeof e);
      hits += x > 0;
      for (int j = 0; j < 3; j++) {
        k = (pdpe_grant_key){PDPE_PROVIDER_ROLE, pu_str_c(roles[j]), perm, pu_str_c("")};
        x = snap->grants.lookup(snap->grants.ctx, &k, e, sizeof e);
        if (x < 0) die(e);
        hits += x > 0;
      }
    }
  }
  double look = now_s() - t0;
  printf("\n| check | ns per check |\n|---|---|\n");
  printf("| grants.lookup x 4 (principal + 3 roles; %.0f%% of lookups hit) | %.0f |\n",
         100.0 * hits / (4.0 * checks), look * 1e9 / checks);

  pu_arena a;
  pu_arena_init(&a, 1 << 16, 0);
  /* four runs alternating with and without grants, after a warm-up; the faster run of each */
  double best[2] = {1e30, 1e30};
  uint64_t allows = 0;
  for (int run = -1; run < 4; run++) {
    int pass = run < 0 ? 0 : run % 2;
    uint64_t count = snap->grants.count;
    if (pass == 1) snap->grants.count = 0; /* the engine skips grant lookups */
    size_t m = run < 0 ? checks / 10 + 1 : checks;
    uint64_t ok = 0;
    t0 = now_s();
    for (size_t i = 0; i < m; i++) {
      pdpe_request rq = request_for(i, perms);
      pdpe_decision dec;
      if (!pdpe_authorize(snap, &rq, &a, &dec)) die("authorize");
      ok += dec.decision == PDPE_ALLOW;
      pu_arena_reset(&a);
    }
    double t = now_s() - t0;
    snap->grants.count = count;
    if (run < 0) continue;
    if (t < best[pass]) best[pass] = t;
    if (pass == 0) allows = ok;
  }
  double with = best[0], without = best[1];
  pu_arena_close(&a);
  printf("| pdpe_authorize, grants on (%" PRIu64 " allows) | %.0f |\n", allows,
         with * 1e9 / checks);
  printf("| pdpe_authorize, grants.count = 0 | %.0f |\n", without * 1e9 / checks);

  pdpe_snapshot_unref(snap);
  cache_diag_close(&d);
  cache_store_close(s);
  if (!keep) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "pdp-bench-grants: cannot remove %s\n", dir);
  }
  return 0;
}

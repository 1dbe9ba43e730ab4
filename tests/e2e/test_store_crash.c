/* test_store_crash.c - try to break the store's promise by killing its writer.
 *
 * A forked child applies large random deltas (5,000 changes each, seeded) to a real LMDB
 * store in a loop; every delta also writes its number into meta ("crash.n") in the same txn.
 * The parent kills the child with SIGKILL at random moments, 50 times, restarting it each
 * time (it continues from the number it finds).  While the child writes, and again after
 * every kill, the parent opens the store and checks, inside one read txn:
 *   - the committed number n never goes backwards;
 *   - the content is exactly the state after deltas 1..n, regenerated from the seed (every
 *     row present with its exact bytes, no row more);
 *   - the stored stamp is the stamp of that content (computed from the rows it read), and
 *     after a kill cache_store_recompute_stamp() agrees with cache_store_stamp().
 * A reader therefore saw the old state or the new one, never a mix, and a crash at any point
 * left the last committed state.  PDP_CRASH_SEED overrides the seed.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "../../cache/cache.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
  KEYS = 4000,         /* keys per table */
  PER_DELTA = 5000,    /* changes per delta */
  ROUNDS = 50,         /* kills */
  MAX_VAL = 256,       /* value bytes */
  LIVE_CHECK_EVERY = 5 /* rounds that also read while the child writes */
};
#define MAP_SIZE ((size_t)256 << 20)
#define N_KEY "crash.n"

static uint64_t seed = 0x9e3779b97f4a7c15ull;

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Change j of delta i: table, key number, delete or put. */
typedef struct change {
  int table, key;
  bool del;
} change;

static change change_of(uint64_t i, int j) {
  uint64_t r = mix(seed ^ mix(i * 1000003u + (uint64_t)j));
  change c = {(int)(r % CACHE_TABLE_STAMPED), (int)((r >> 8) % KEYS), ((r >> 40) & 3) == 0};
  return c;
}

/* The value written by change j of delta i (its bytes depend on both). */
static size_t value_of(uint64_t i, int j, uint8_t *out) {
  uint64_t r = mix(seed + mix(i << 20 | (uint64_t)j));
  size_t n = 1 + (size_t)(r % MAX_VAL);
  for (size_t b = 0; b < n; b++) {
    if (b % 8 == 0) r = mix(r);
    out[b] = (uint8_t)(r >> (8 * (b % 8)));
  }
  return n;
}

static int key_of(int k, char *out) {
  return snprintf(out, 16, "k%05d", k);
}

/* ---- the child: apply deltas until killed ---- */

static uint8_t child_vals[PER_DELTA][MAX_VAL];
static char child_keys[PER_DELTA][16];

static uint64_t read_n(cache_reader *r) {
  cache_val v;
  cache_store_err err;
  int rc = cache_store_get(r, CACHE_TABLE_META, N_KEY, strlen(N_KEY), &v, &err);
  if (rc == CACHE_STORE_NOTFOUND) return 0;
  if (rc != 0 || v.len != 8) return UINT64_MAX;
  uint64_t n = 0;
  for (int b = 7; b >= 0; b--) n = n << 8 | ((const uint8_t *)v.data)[b];
  return n;
}

/* Before each apply the child writes the delta's number to `progress`, so the parent can tell
 * a kill inside a write txn (started > committed) from one between deltas. */
static void child(const char *dir, int progress) {
  cache_store *s;
  cache_reader *r;
  cache_store_err err;
  if (cache_store_open(dir, MAP_SIZE, &s, &err) != 0) _exit(10);
  if (cache_store_reader_new(s, &r, &err) != 0 || cache_store_read_begin(r, &err) != 0) _exit(11);
  uint64_t n = read_n(r);
  cache_store_reader_free(r);
  if (n == UINT64_MAX) _exit(12);
  cache_delta d;
  cache_delta_init(&d);
  uint8_t nbuf[8];
  for (uint64_t i = n + 1;; i++) {
    cache_delta_clear(&d);
    for (int j = 0; j < PER_DELTA; j++) {
      change c = change_of(i, j);
      int kl = key_of(c.key, child_keys[j]);
      bool ok = c.del ? cache_delta_del(&d, (cache_table)c.table, child_keys[j], (size_t)kl)
                      : cache_delta_put(&d, (cache_table)c.table, child_keys[j], (size_t)kl,
                                        child_vals[j], value_of(i, j, child_vals[j]));
      if (!ok) _exit(13);
    }
    for (int b = 0; b < 8; b++) nbuf[b] = (uint8_t)(i >> (8 * b));
    if (!cache_delta_put(&d, CACHE_TABLE_META, N_KEY, strlen(N_KEY), nbuf, 8)) _exit(13);
    if (write(progress, &i, sizeof i) != (ssize_t)sizeof i) _exit(15);
    if (cache_store_apply(s, &d, &err) != 0) {
      fprintf(stderr, "child: %s\n", err.message);
      _exit(14);
    }
  }
}

/* ---- the parent: the expected content, replayed from the seed ---- */

static uint32_t model_delta[CACHE_TABLE_STAMPED]
                           [KEYS]; /* 0: absent; else the delta that wrote it */
static uint16_t model_change[CACHE_TABLE_STAMPED][KEYS]; /* ... and the change within it */
static uint64_t model_n;

static void advance_model(uint64_t n) {
  cr_assert_geq(n, model_n, "the committed state went back from delta %llu to %llu",
                (unsigned long long)model_n, (unsigned long long)n);
  for (uint64_t i = model_n + 1; i <= n; i++)
    for (int j = 0; j < PER_DELTA; j++) {
      change c = change_of(i, j);
      model_delta[c.table][c.key] = c.del ? 0 : (uint32_t)i;
      model_change[c.table][c.key] = (uint16_t)j;
    }
  model_n = n;
}

/* In one read txn: the content is exactly the state after delta n, and the stamp read beside
 * it is the stamp of that content.  Returns n. */
static uint64_t check_state(cache_store *s) {
  cache_reader *r;
  cache_store_err err;
  cr_assert_eq(cache_store_reader_new(s, &r, &err), 0, "%s", err.message);
  cr_assert_eq(cache_store_read_begin(r, &err), 0, "%s", err.message);
  uint64_t n = read_n(r);
  cr_assert_neq(n, UINT64_MAX, "crash.n unreadable");
  advance_model(n);
  uint8_t sums[CACHE_TABLE_STAMPED][32];
  memset(sums, 0, sizeof sums);
  static uint8_t want[MAX_VAL];
  for (int t = 0; t < CACHE_TABLE_STAMPED; t++) {
    int expected = 0, seen = 0;
    for (int k = 0; k < KEYS; k++) expected += model_delta[t][k] != 0;
    cache_iter it;
    cr_assert_eq(cache_store_iter_init(&it, r, (cache_table)t, &err), 0, "%s", err.message);
    cache_val kv, vv;
    int rc;
    while ((rc = cache_store_iter_next(&it, &kv, &vv, &err)) == 0) {
      char kbuf[16] = {0};
      cr_assert(kv.len == 6 && ((const char *)kv.data)[0] == 'k', "unexpected key in %s",
                cache_table_name(t));
      memcpy(kbuf, kv.data, kv.len);
      int k = atoi(kbuf + 1);
      cr_assert(k >= 0 && k < KEYS);
      cr_assert_neq(model_delta[t][k], 0,
                    "%s/%s present but deleted (or never written) by delta %llu",
                    cache_table_name(t), kbuf, (unsigned long long)n);
      size_t wl = value_of(model_delta[t][k], model_change[t][k], want);
      cr_assert(vv.len == wl && memcmp(vv.data, want, wl) == 0,
                "%s/%s holds another value than after delta %llu", cache_table_name(t), kbuf,
                (unsigned long long)n);
      uint8_t h[32];
      cr_assert(cache_stamp_record((cache_table)t, kv.data, kv.len, vv.data, vv.len, h));
      cache_stamp_add(sums[t], h);
      seen++;
    }
    cr_assert_eq(rc, CACHE_STORE_NOTFOUND, "%s", err.message);
    cache_store_iter_close(&it);
    cr_assert_eq(seen, expected, "%s: %d rows, expected %d after delta %llu", cache_table_name(t),
                 seen, expected, (unsigned long long)n);
  }
  uint8_t computed[32], stored[32];
  cr_assert(cache_stamp_fold((const uint8_t(*)[32])sums, computed));
  cr_assert_eq(cache_store_read_stamp(r, stored, &err), 0, "%s", err.message);
  cr_assert_arr_eq(computed, stored, 32,
                   "the stamp beside delta %llu is not the stamp of its content",
                   (unsigned long long)n);
  cache_store_read_end(r);
  cache_store_reader_free(r);
  return n;
}

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/pdpd-crash-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  const char *env = getenv("PDP_CRASH_SEED");
  if (env && *env) seed = strtoull(env, NULL, 0);
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

Test(store_crash, a_writer_killed_at_random_moments_leaves_exactly_a_committed_state,
     .init = make_dir, .fini = remove_dir, .timeout = 120) {
  cr_log_info("store_crash: seed 0x%llx", (unsigned long long)seed);
  uint64_t rng = mix(seed ^ 0xc0ffee);
  int live_checks = 0, advanced = 0, mid_write = 0;
  for (int round = 0; round < ROUNDS; round++) {
    uint64_t before = model_n;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
      close(fds[0]);
      child(dir, fds[1]);
      _exit(1);
    }
    close(fds[1]);
    rng = mix(rng);
    sleep_ms(2 + (long)(rng % 80));
    if (round % LIVE_CHECK_EVERY == 0) {
      /* Read while the child writes: a consistent committed state, never part of a delta. */
      cache_store *s;
      cache_store_err err;
      cr_assert_eq(cache_store_open(dir, MAP_SIZE, &s, &err), 0, "%s", err.message);
      check_state(s);
      cache_store_close(s);
      live_checks++;
      sleep_ms(1 + (long)(mix(rng) % 10));
    }
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "the child stopped on its own (exit %d)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    uint64_t started = 0, x;
    while (read(fds[0], &x, sizeof x) == (ssize_t)sizeof x)
      started = x; /* EOF: the child is gone */
    close(fds[0]);
    /* After the kill: open (clearing the dead child's reader slot and writer lock), check. */
    cache_store *s;
    cache_store_err err;
    cr_assert_eq(cache_store_open(dir, MAP_SIZE, &s, &err), 0, "round %d: %s", round, err.message);
    check_state(s);
    uint8_t stored[32], recomputed[32];
    cr_assert_eq(cache_store_stamp(s, stored, &err), 0, "%s", err.message);
    cr_assert_eq(cache_store_recompute_stamp(s, recomputed, &err), 0, "%s", err.message);
    cr_assert_arr_eq(stored, recomputed, 32, "round %d: stored stamp != recomputed stamp", round);
    cache_store_close(s);
    advanced += model_n > before;
    mid_write += started > model_n;
  }
  cr_log_info("store_crash: %d kills (%d inside a write txn), %d live reads, %llu deltas "
              "committed, in %d rounds",
              ROUNDS, mid_write, live_checks, (unsigned long long)model_n, advanced);
  /* The test is only worth something if the child got to commit between kills. */
  cr_assert_gt(model_n, 0, "no delta was ever committed");
  cr_assert_gt(mid_write, 0, "no kill landed inside a write txn");
}

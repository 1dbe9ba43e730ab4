/* checker.c - staleness checks: keep the published snapshot equal to the source.
 *
 * A check syncs the source into the store (cache_sync_from_dir_flags: validate, diff, one write
 * transaction with only the rows that changed; only stats when the whole source's fingerprint
 * is unchanged) and, when the content stamp differs from the published snapshot's, builds the
 * new snapshot from the store (cache_snapshot_from_store; the sync builds none).  After each
 * check the worker calls malloc_trim(0): glibc keeps a thread's freed memory in its arena.
 * Both run on the libuv threadpool (uv_queue_work), never two at once, so the loop thread
 * keeps answering from the published snapshot whatever the source does; the loop only
 * swaps the holder, records the times and logs, in the work's completion callback.
 *
 * What triggers a check: the first one at start; the poll timer (--check-interval on the
 * loop's monotonic clock, re-armed when a check ends); and, unless --watch is false, a
 * change event (inotify through uv_fs_event) on the source dir, its policies/ or its
 * permissions/, after a short debounce.  A trigger during a check marks "again": one more
 * check follows at once.  The watches are re-armed at the start of every check, before the
 * source is read, so a directory that appears, disappears or is replaced is watched again
 * and no change falls between a watch and a read.
 *
 * DefinePermissions (define.c) waits here: a define that wrote the source is answered when
 * the first check that started after its write ends (checks are numbered as they start), with
 * the stamp that check published or confirmed, or with the check's failure.
 *
 * A failed check keeps the published snapshot, marks it degraded with the first diagnostic,
 * logs every diagnostic once per distinct failure and retries after 1 s, 2 s, 4 s ... capped
 * at the interval.  With nothing published (nothing stored, first check failed) there is
 * nothing to serve: pdpd stops with exit code 1.  The snapshot's age is the time since the
 * source last confirmed it (a successful check that began then) or since it was built.
 */
#include "srv_int.h"

#include <malloc.h> /* malloc_trim (glibc) */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BACKOFF_FIRST_MS 1000

uint64_t srv_mono_ms(void) {
  return uv_hrtime() / 1000000;
}

int64_t srv_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv_log_diag(const cache_diag *diag) {
  for (uint32_t i = 0; i < diag->n; i++) fprintf(stderr, "%s\n", diag->lines[i]);
  if (diag->dropped) fprintf(stderr, "... and %u more errors\n", diag->dropped);
}

/* FNV-1a over every diagnostic: the same failure again is not logged again. */
static uint64_t diag_hash(const cache_diag *d) {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t i = 0; i < d->n; i++) {
    for (const char *p = d->lines[i]; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ '\n') * 1099511628211ull;
  }
  h = (h ^ d->dropped) * 1099511628211ull;
  return h ? h : 1; /* 0 means "no failure" */
}

/* ---- freshness, read by the handlers --------------------------------------------------- */

uint64_t srv_snapshot_age_ms(const srv_ctx *ctx, const pdpe_snapshot *snap, uint64_t now_ms) {
  if (ctx->fresh.confirmed_ms)
    return now_ms > ctx->fresh.confirmed_ms ? now_ms - ctx->fresh.confirmed_ms : 0;
  int64_t age = srv_wall_ms() - snap->loaded_unix_ms; /* never checked: since it was built */
  return age > 0 ? (uint64_t)age : 0;
}

/* "12.3 s" */
static const char *seconds(uint64_t ms, char *buf, size_t cap) {
  snprintf(buf, cap, "%llu.%llu s", (unsigned long long)(ms / 1000),
           (unsigned long long)(ms % 1000 / 100));
  return buf;
}

bool srv_fresh_reason(const srv_ctx *ctx, uint64_t age_ms, char *buf, size_t cap, bool *stale) {
  const srv_fresh *f = &ctx->fresh;
  uint64_t limit = ctx->cfg->max_staleness_ms;
  bool is_stale = limit && age_ms > limit;
  if (stale) *stale = is_stale;
  char why[CACHE_DEGRADED_MAX + 160] = "";
  if (f->reason[0]) {
    uint64_t now = srv_mono_ms();
    uint64_t failing =
        f->failing_since_ms && now > f->failing_since_ms ? now - f->failing_since_ms : 0;
    char more[64] = "", t[32];
    if (f->more_errors) snprintf(more, sizeof(more), " (+%u more in the log)", f->more_errors);
    snprintf(why, sizeof(why), "%s%s; failing for %s (%u failed checks)", f->reason, more,
             seconds(failing, t, sizeof(t)), f->failures);
  }
  if (is_stale) {
    char a[32], l[32];
    snprintf(buf, cap, "snapshot is %s old, past max-staleness %s%s%s",
             seconds(age_ms, a, sizeof(a)), seconds(limit, l, sizeof(l)), why[0] ? "; " : "", why);
  } else if (cap) {
    snprintf(buf, cap, "%s", why);
  }
  return cap && buf[0] != '\0';
}

/* ---- one check ---------------------------------------------------------------------------- */

/* On a threadpool thread: touches only the store, the diag and ck's result fields. */
static void run_check(srv_checker *ck) {
  cache_sync_info info;
  memset(&info, 0, sizeof(info));
  /* No snapshot from the sync: one is built below only when the stamp moved. */
  if (!cache_sync_from_dir_flags(ck->store, ck->srv->cfg->source, CACHE_SYNC_NO_SNAPSHOT, &info,
                                 &ck->diag))
    return;
  ck->puts = info.puts;
  ck->dels = info.dels;
  if (ck->has_current && memcmp(info.stamp, ck->current, 32) == 0) {
    ck->ok = true; /* confirmed: nothing to build */
    return;
  }
  pdpe_snapshot *snap = NULL;
  if (!cache_snapshot_from_store(ck->store, &snap, &ck->diag)) return;
  ck->other_writer = memcmp(snap->stamp, info.stamp, 32) != 0;
  ck->ok = true;
  if (ck->has_current && memcmp(snap->stamp, ck->current, 32) == 0) {
    pdpe_snapshot_unref(snap);
    return;
  }
  ck->snap = snap;
  ck->changed = true;
}

static void check_work(uv_work_t *w) {
  run_check(w->data);
  /* glibc gives each threadpool thread its own malloc arena and keeps what a check freed
   * there (a full read of a 1M-grant file: RSS 42 -> 300 MiB over 12 reads).  Hand it back
   * to the system after every check; a check that read nothing has little to trim. */
  malloc_trim(0);
  /* The stamps hash with libcrypto, which keeps per-thread state.  libuv's threads outlive
   * OpenSSL's atexit cleanup, which would lose that state (a leak valgrind reports): free it
   * now, it is rebuilt by the next check. */
  OPENSSL_thread_stop();
}

static void check_start(srv_checker *ck);

static void on_poll(uv_timer_t *t) {
  srv_checker_trigger(t->data);
}

static void publish(srv_checker *ck) {
  srv_server *srv = ck->srv;
  const pdpe_snapshot *snap = ck->snap;
  char hex[65];
  cache_stamp_hex(snap->stamp, hex);
  if (ck->other_writer)
    srv_log(SRV_LOG_WARN,
            "pdpd: another process changed the store %s during the check; serving its content "
            "(stamp %.8s)",
            srv->cfg->data_dir, hex);
  srv_log(SRV_LOG_INFO, "pdpd: serving %u policies, %u entities from %s on %s (stamp %.8s)",
          snap->policies ? pdpe_policy_set_count(snap->policies) : 0,
          snap->entities ? pdpe_entities_count(snap->entities) : 0, srv->cfg->source,
          srv->cfg->socket, hex);
  cache_holder_swap(srv->ctx.holder, ck->snap);
  ck->snap = NULL;
  srv->ctx.fresh.last_change_unix_ms = srv_wall_ms();
}

static void succeeded(srv_checker *ck) {
  srv_fresh *f = &ck->srv->ctx.fresh;
  if (ck->puts || ck->dels)
    srv_log(SRV_LOG_INFO, "pdpd: stored %u changed rows, %u deleted from %s", ck->puts, ck->dels,
            ck->srv->cfg->source);
  srv_log(SRV_LOG_DEBUG, "pdpd: checked %s: %s", ck->srv->cfg->source,
          ck->changed ? "changed" : "unchanged");
  if (ck->changed) publish(ck);
  if (f->failures)
    srv_log(SRV_LOG_INFO, "pdpd: %s loads again after %u failed checks; no longer degraded",
            ck->srv->cfg->source, f->failures);
  f->confirmed_ms = ck->started_ms; /* the source said this when the check began */
  f->failures = 0;
  f->failing_since_ms = 0;
  f->more_errors = 0;
  f->reason[0] = '\0';
  ck->backoff_ms = 0;
  ck->fail_hash = 0;
}

/* False when there is nothing to serve: the server is stopping with exit code 1. */
static bool failed(srv_checker *ck) {
  srv_server *srv = ck->srv;
  srv_fresh *f = &srv->ctx.fresh;
  const char *source = srv->cfg->source;
  if (!ck->diag.n) cache_diag_addf(&ck->diag, "%s: the check failed", source);
  uint64_t h = diag_hash(&ck->diag);
  bool fresh_failure = h != ck->fail_hash;
  if (fresh_failure || !ck->has_current) srv_log_diag(&ck->diag);
  ck->fail_hash = h;
  if (!ck->has_current) {
    fprintf(stderr, "pdpd: cannot load %s; nothing to serve\n", source);
    srv_server_stop(srv, 1);
    return false;
  }
  if (!f->failures) f->failing_since_ms = ck->started_ms;
  f->failures++;
  /* diag.n is 0 only when even the message above could not be allocated */
  snprintf(f->reason, sizeof(f->reason), "source %s: %s", source,
           ck->diag.n ? ck->diag.lines[0] : "the check failed");
  f->more_errors = (ck->diag.n ? ck->diag.n - 1 : 0) + ck->diag.dropped;
  uint64_t interval = srv->cfg->check_interval_ms;
  ck->backoff_ms = ck->backoff_ms ? ck->backoff_ms * 2 : BACKOFF_FIRST_MS;
  if (ck->backoff_ms > interval) ck->backoff_ms = interval;
  char hex[65];
  pdpe_snapshot *cur = cache_holder_acquire(srv->ctx.holder);
  cache_stamp_hex(cur->stamp, hex);
  pdpe_snapshot_unref(cur);
  srv_log(fresh_failure ? SRV_LOG_WARN : SRV_LOG_DEBUG,
          "pdpd: cannot load %s (%u failed checks); still serving %.8s, retrying in %llu ms",
          source, f->failures, hex, (unsigned long long)ck->backoff_ms);
  return true;
}

/* On the loop thread once the work ran (or was cancelled). */
static void check_done(uv_work_t *w, int status) {
  srv_checker *ck = w->data;
  ck->running = false;
  bool go_on = false;
  if (status == 0 && !ck->stopped) {
    ck->srv->ctx.fresh.last_check_unix_ms = srv_wall_ms();
    if (ck->ok) {
      succeeded(ck);
      go_on = true;
    } else {
      go_on = failed(ck);
    }
  }
  if (!ck->stopped) { /* a stop answered every waiting define already */
    char why[CACHE_DEGRADED_MAX + 64];
    snprintf(why, sizeof why, "the source check failed: %s",
             ck->diag.n ? ck->diag.lines[0] : "no diagnostic");
    srv_define_checked(ck, ck->checks_started, status == 0 && ck->ok, why, !go_on);
  }
  pdpe_snapshot_unref(ck->snap); /* set only when dropped */
  ck->snap = NULL;
  cache_diag_close(&ck->diag);
  if (!go_on || ck->stopped) return;
  if (ck->again) {
    check_start(ck);
    return;
  }
  uint64_t next = ck->backoff_ms ? ck->backoff_ms : ck->srv->cfg->check_interval_ms;
  uv_timer_start(&ck->poll, on_poll, next, 0);
}

/* ---- watching the source dir -------------------------------------------------------------- */

static void on_debounce(uv_timer_t *t) {
  srv_checker_trigger(t->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  srv_checker *ck = h->data;
  if (ck->stopped) return;
  if (status < 0)
    srv_log(SRV_LOG_DEBUG, "pdpd: watching %s: %s", ((srv_watch *)h)->path, uv_strerror(status));
  if (!uv_is_active((uv_handle_t *)&ck->debounce))
    uv_timer_start(&ck->debounce, on_debounce, SRV_WATCH_DEBOUNCE_MS, 0);
}

/* (Re)start every watch on what exists now: a dir that appeared is watched, one that went or
 * was replaced is dropped or watched anew. */
static void watch_arm(srv_checker *ck) {
  if (!ck->srv->cfg->watch) return;
  for (int i = 0; i < SRV_WATCH_DIRS; i++) {
    srv_watch *w = &ck->watch[i];
    if (w->active) uv_fs_event_stop(&w->h);
    w->active = false;
    struct stat st;
    if (stat(w->path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    int rc = uv_fs_event_start(&w->h, on_fs_event, w->path, 0);
    if (rc == 0) {
      w->active = true;
    } else if (!w->warned) {
      w->warned = true;
      srv_log(SRV_LOG_WARN, "pdpd: cannot watch %s (%s); changes are seen by the poll only",
              w->path, uv_strerror(rc));
    }
  }
}

/* ---- the checker's life ------------------------------------------------------------------- */

static void on_readers(uv_timer_t *t) {
  srv_checker *ck = t->data;
  int cleared = 0;
  cache_store_err err;
  memset(&err, 0, sizeof(err));
  if (cache_store_reader_check(ck->store, &cleared, &err) != 0)
    srv_log(SRV_LOG_WARN, "pdpd: %s", err.message);
  else if (cleared)
    srv_log(SRV_LOG_INFO, "pdpd: cleared %d reader slots left by dead processes", cleared);
}

static void check_start(srv_checker *ck) {
  srv_server *srv = ck->srv;
  watch_arm(ck);
  uv_timer_stop(&ck->poll);
  pdpe_snapshot *cur = cache_holder_acquire(srv->ctx.holder);
  ck->has_current = cur != NULL;
  if (cur) memcpy(ck->current, cur->stamp, 32);
  pdpe_snapshot_unref(cur);
  ck->ok = ck->changed = ck->other_writer = ck->again = false;
  ck->puts = ck->dels = 0;
  ck->snap = NULL;
  cache_diag_init(&ck->diag);
  ck->started_ms = srv_mono_ms();
  ck->checks_started++; /* this check's number: defines written before now wait for it */
  ck->work.data = ck;
  ck->running = true;
  int rc = uv_queue_work(srv->loop, &ck->work, check_work, check_done);
  if (rc != 0) { /* cannot happen with a valid callback; fail the check rather than hang */
    cache_diag_addf(&ck->diag, "%s: cannot queue the check: %s", srv->cfg->source, uv_strerror(rc));
    check_done(&ck->work, 0);
  }
}

void srv_checker_init(srv_checker *ck, srv_server *srv, cache_store *store) {
  memset(ck, 0, sizeof(*ck));
  ck->srv = srv;
  ck->store = store;
  uv_timer_init(srv->loop, &ck->poll);
  uv_timer_init(srv->loop, &ck->debounce);
  uv_timer_init(srv->loop, &ck->readers);
  ck->poll.data = ck->debounce.data = ck->readers.data = ck;
  static const char *const sub[SRV_WATCH_DIRS] = {"", "/policies", "/permissions"};
  for (int i = 0; i < SRV_WATCH_DIRS; i++) {
    uv_fs_event_init(srv->loop, &ck->watch[i].h);
    ck->watch[i].h.data = ck;
    snprintf(ck->watch[i].path, sizeof(ck->watch[i].path), "%s%s", srv->cfg->source, sub[i]);
  }
}

void srv_checker_start(srv_checker *ck) {
  uv_timer_start(&ck->readers, on_readers, SRV_READER_CHECK_MS, SRV_READER_CHECK_MS);
  check_start(ck);
}

void srv_checker_trigger(srv_checker *ck) {
  if (ck->stopped) return;
  if (ck->running) {
    ck->again = true;
    return;
  }
  check_start(ck);
}

void srv_checker_stop(srv_checker *ck) {
  if (!ck->srv || ck->stopped) return;
  ck->stopped = true;
  srv_define_checked(ck, UINT64_MAX, false, "pdpd is stopping", true);
  uv_close((uv_handle_t *)&ck->poll, NULL);
  uv_close((uv_handle_t *)&ck->debounce, NULL);
  uv_close((uv_handle_t *)&ck->readers, NULL);
  for (int i = 0; i < SRV_WATCH_DIRS; i++) uv_close((uv_handle_t *)&ck->watch[i].h, NULL);
  /* Queued, not started: cancelled (check_done gets UV_ECANCELED).  Running: the loop keeps
   * going until check_done, which drops the result; the store closes only after that. */
  if (ck->running) uv_cancel((uv_req_t *)&ck->work);
}

/* test_srv_checker.c - the staleness checker on a real loop, store and bundle, no socket:
 * what a check publishes and records, backoff after failures, "again" during a check, and
 * the exit when nothing can be served. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64], bundle[128], data[128];
static srv_config cfg;
static cache_holder holder;
static cache_store *store;
static uv_loop_t loop;
static srv_server srv;

static void write_file(const char *rel, const char *text) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", bundle, rel);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f, "%s", p);
  fputs(text, f);
  cr_assert_eq(fclose(f), 0);
}

#define GOOD_A "@id(\"a\") permit (principal, action == Action::\"x\", resource);\n"
#define GOOD_B "@id(\"b\") permit (principal, action == Action::\"y\", resource);\n"
#define ENTITIES "[{\"uid\": {\"type\": \"User\", \"id\": \"u\"}, \"attrs\": {}, \"parents\": []}]"

static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/pdpd-ckXXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(bundle, sizeof(bundle), "%s/b", dir);
  snprintf(data, sizeof(data), "%s/data", dir);
  char p[200];
  snprintf(p, sizeof(p), "%s/policies", bundle);
  cr_assert_eq(mkdir(bundle, 0755), 0);
  cr_assert_eq(mkdir(p, 0755), 0);
  write_file("policies/x.cedar", GOOD_A);
  write_file("entities.json", ENTITIES);

  srv_log_threshold = SRV_LOG_ERROR; /* the diagnostics still go to stderr */
  srv_config_init(&cfg);
  snprintf(cfg.source, sizeof(cfg.source), "%s", bundle);
  cfg.check_interval_ms = 5000;
  cfg.watch = false;
  cache_store_err err;
  cr_assert_eq(cache_store_open(data, 0, &store, &err), 0, "%s", err.message);
  cache_holder_init(&holder);
  cr_assert_eq(uv_loop_init(&loop), 0);
  memset(&srv, 0, sizeof(srv));
  srv.loop = &loop;
  srv.cfg = &cfg;
  srv.ctx.cfg = &cfg;
  srv.ctx.holder = &holder;
  /* the handles srv_server_stop closes */
  uv_pipe_init(&loop, &srv.listener, 0);
  uv_signal_init(&loop, &srv.sigterm);
  uv_signal_init(&loop, &srv.sigint);
  uv_timer_init(&loop, &srv.drain_timer);
  srv_checker_init(&srv.checker, &srv, store);
}

static void teardown(void) {
  srv_server_stop(&srv, 0);
  uv_close((uv_handle_t *)&srv.drain_timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0, "every handle was closed");
  cache_holder_close(&holder);
  cache_store_close(store);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(checker, .init = setup, .fini = teardown, .timeout = 60);

/* Run the loop until no check is running (a check queued by "again" included). */
static void settle(void) {
  while (srv.checker.running) uv_run(&loop, UV_RUN_ONCE);
}

static void check_now(void) {
  srv_checker_trigger(&srv.checker);
  cr_assert(srv.checker.running || srv.stopping, "a check was queued");
  settle();
}

static void current_stamp(uint8_t out[32]) {
  pdpe_snapshot *s = cache_holder_acquire(&holder);
  cr_assert_not_null(s);
  memcpy(out, s->stamp, 32);
  pdpe_snapshot_unref(s);
}

Test(checker, a_check_publishes_the_source_and_an_unchanged_one_only_confirms_it) {
  cr_assert_null(cache_holder_acquire(&holder));
  uint64_t before = srv_mono_ms();
  check_now();
  pdpe_snapshot *first = cache_holder_acquire(&holder);
  cr_assert_not_null(first, "published");
  uint8_t stored[32];
  cache_store_err err;
  cr_assert_eq(cache_store_stamp(store, stored, &err), 0);
  cr_assert_arr_eq(first->stamp, stored, 32, "what is served is what the store committed");
  srv_fresh f1 = srv.ctx.fresh;
  cr_assert_geq(f1.confirmed_ms, before);
  cr_assert_gt(f1.last_check_unix_ms, 0);
  cr_assert_gt(f1.last_change_unix_ms, 0);
  cr_assert_str_empty(f1.reason);
  cr_assert_eq(srv.checker.backoff_ms, 0);
  cr_assert(uv_is_active((uv_handle_t *)&srv.checker.poll), "the next poll is armed");

  check_now();
  pdpe_snapshot *second = cache_holder_acquire(&holder);
  cr_assert_eq(second, first, "an unchanged source swaps nothing");
  cr_assert_eq(srv.ctx.fresh.last_change_unix_ms, f1.last_change_unix_ms);
  cr_assert_geq(srv.ctx.fresh.confirmed_ms, f1.confirmed_ms, "but confirms the snapshot again");
  pdpe_snapshot_unref(first);
  pdpe_snapshot_unref(second);

  write_file("policies/x.cedar", GOOD_B);
  check_now();
  uint8_t now[32];
  current_stamp(now);
  cr_assert(memcmp(now, stored, 32) != 0, "a changed source is published");
}

Test(checker, failures_keep_the_snapshot_back_off_1_2_4_s_capped_at_the_interval_then_recover) {
  check_now();
  uint8_t good[32], now[32];
  current_stamp(good);
  write_file("policies/x.cedar", "permit (principal, action, resource)\nwhen { principal. };\n");
  const uint64_t want[] = {1000, 2000, 4000, 5000, 5000};
  for (int i = 0; i < 5; i++) {
    check_now();
    cr_assert_eq(srv.checker.backoff_ms, want[i], "failure %d", i + 1);
    cr_assert_eq(srv.ctx.fresh.failures, (uint32_t)i + 1);
    current_stamp(now);
    cr_assert_arr_eq(now, good, 32, "the last good snapshot stays");
  }
  char want_reason[200];
  snprintf(want_reason, sizeof(want_reason), "source %s: %s/policies/x.cedar:2:", bundle, bundle);
  cr_assert(strncmp(srv.ctx.fresh.reason, want_reason, strlen(want_reason)) == 0, "%s",
            srv.ctx.fresh.reason);
  cr_assert_gt(srv.ctx.fresh.failing_since_ms, 0);
  char buf[1024];
  bool stale = true;
  cr_assert(srv_fresh_reason(&srv.ctx, 0, buf, sizeof(buf), &stale));
  cr_assert_not(stale, "max-staleness is off");
  cr_assert(strstr(buf, "(5 failed checks)"), "%s", buf);

  write_file("policies/x.cedar", GOOD_B);
  check_now();
  cr_assert_eq(srv.checker.backoff_ms, 0);
  cr_assert_eq(srv.ctx.fresh.failures, 0);
  cr_assert_str_empty(srv.ctx.fresh.reason);
  cr_assert_not(srv_fresh_reason(&srv.ctx, 0, buf, sizeof(buf), NULL));
  current_stamp(now);
  cr_assert(memcmp(now, good, 32) != 0);
}

Test(checker, a_trigger_during_a_check_runs_exactly_one_more_check) {
  srv_checker_trigger(&srv.checker);
  cr_assert(srv.checker.running);
  srv_checker_trigger(&srv.checker);
  srv_checker_trigger(&srv.checker);
  cr_assert(srv.checker.again, "marked, not queued twice");
  /* the first check ends and starts the second at once */
  int64_t first_check = 0;
  while (srv.checker.running && !first_check) {
    uv_run(&loop, UV_RUN_ONCE);
    first_check = srv.ctx.fresh.last_check_unix_ms;
  }
  cr_assert_gt(first_check, 0);
  cr_assert(srv.checker.running, "the second check follows the first");
  cr_assert_not(srv.checker.again);
  settle();
  cr_assert_not(srv.checker.running);
  cr_assert_not_null(holder.current);
}

Test(checker, nothing_stored_and_a_failing_first_check_stops_the_server_with_exit_1) {
  char cmd[200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bundle);
  cr_assert_eq(system(cmd), 0);
  check_now();
  cr_assert(srv.stopping);
  cr_assert_eq(srv.exit_code, 1);
  cr_assert(srv.checker.stopped);
  cr_assert_null(cache_holder_acquire(&holder));
  srv_checker_trigger(&srv.checker);
  cr_assert_not(srv.checker.running, "a stopped checker starts nothing");
}

Test(checker, stopping_during_a_check_drops_its_result_after_it_ends) {
  srv_checker_trigger(&srv.checker);
  cr_assert(srv.checker.running);
  srv_server_stop(&srv, 0);
  settle(); /* cancelled before it started, or finished and dropped */
  cr_assert_null(cache_holder_acquire(&holder), "nothing published after the stop");
  cr_assert_eq(srv.ctx.fresh.last_check_unix_ms, 0);
}

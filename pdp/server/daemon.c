/* daemon.c - pdpd's life: open the store, serve, check the source, stop cleanly.
 *
 * srv_run() owns the loop, the store, the snapshot holder and the listener.  Start-up order:
 * open the LMDB store under --data-dir (pdpd cannot run without it: exit 1 naming the
 * directory); publish the snapshot it holds for this --source at once; listen; then queue
 * the first check of the source on the threadpool (checker.c).  Until that check ends,
 * requests are answered from the stored snapshot, or NO_POLICY when none is stored; if
 * nothing is stored and the source does not load, every diagnostic goes to stderr and pdpd
 * exits 1.  SIGTERM and SIGINT stop accepting, stop reading, let every answer to what was
 * already read be written, close the connections and the listener (libuv removes the socket
 * file when the bound pipe closes), stop the checker, and return 0 when the loop runs dry: a
 * check that is running then finishes first, so the store closes after it.  A client that
 * never reads its answers cannot hold shutdown up: after SRV_DRAIN_MS its connection is
 * closed anyway.
 */
#include "srv_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

/* How long shutdown waits for answers to drain to a client that does not read them. */
#define SRV_DRAIN_MS 10000

srv_log_level srv_log_threshold = SRV_LOG_INFO;

void srv_log(srv_log_level level, const char *fmt, ...) {
  if (level > srv_log_threshold) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void on_connection(uv_stream_t *listener, int status) {
  srv_server *srv = listener->data;
  if (status < 0) {
    srv_log(SRV_LOG_WARN, "pdpd: accept: %s", uv_strerror(status));
    return;
  }
  /* never called once stopping: srv_server_stop closes the listener first */
  srv_conn_accept(srv);
}

static void on_drain_deadline(uv_timer_t *t) {
  srv_server *srv = t->data;
  if (srv->conns) srv_log(SRV_LOG_WARN, "pdpd: closing connections whose answers did not drain");
  srv_conn_close_all(srv);
}

void srv_server_stop(srv_server *srv, int exit_code) {
  if (srv->stopping) return;
  srv->stopping = true;
  srv->exit_code = exit_code;
  uv_close((uv_handle_t *)&srv->listener, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  srv_checker_stop(&srv->checker);
  srv_conn_drain_all(srv);
  /* unref'd: the timer alone does not keep the loop running */
  uv_timer_start(&srv->drain_timer, on_drain_deadline, SRV_DRAIN_MS, 0);
  uv_unref((uv_handle_t *)&srv->drain_timer);
}

static void on_signal(uv_signal_t *h, int signum) {
  srv_server *srv = h->data;
  if (srv->stopping) return;
  srv_log(SRV_LOG_INFO, "pdpd: %s: finishing answers and stopping", strsignal(signum));
  srv_server_stop(srv, 0);
}

/* Publish the store's snapshot when it holds one of this source. */
static void serve_stored(const srv_config *cfg, cache_store *store, srv_ctx *ctx) {
  char from[SRV_PATH_MAX + 8];
  snprintf(from, sizeof(from), "dir:%s", cfg->source);
  if (!cache_store_has_snapshot(store, from)) return; /* none, or of another source */
  cache_diag diag;
  cache_diag_init(&diag);
  pdpe_snapshot *snap = NULL;
  bool ok = cache_snapshot_from_store(store, &snap, &diag);
  srv_log_diag(&diag);
  cache_diag_close(&diag);
  if (!ok) {
    srv_log(SRV_LOG_WARN, "pdpd: the stored snapshot in %s does not load; ignoring it",
            cfg->data_dir);
    return;
  }
  char hex[65];
  srv_log(SRV_LOG_INFO, "pdpd: serving the stored snapshot %.8s while checking %s",
          cache_stamp_hex(snap->stamp, hex), cfg->source);
  cache_holder_swap(ctx->holder, snap);
  ctx->fresh.confirmed_ms = srv_mono_ms(); /* built now; the source has not confirmed it */
  ctx->fresh.last_change_unix_ms = srv_wall_ms();
}

int srv_run(const srv_config *cfg) {
  srv_log_threshold = cfg->log_level;
  signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error code, not a death */

  cache_store *store = NULL;
  cache_store_err serr;
  memset(&serr, 0, sizeof(serr));
  if (cache_store_open(cfg->data_dir, (size_t)cfg->map_size, &store, &serr) != 0) {
    fprintf(stderr, "pdpd: cannot open the store (--data-dir %s): %s\n", cfg->data_dir,
            serr.message);
    return 1;
  }
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "pdpd: cannot create the event loop\n");
    cache_store_close(store);
    return 1;
  }
  cache_holder holder;
  cache_holder_init(&holder);
  srv_server srv;
  memset(&srv, 0, sizeof(srv));
  srv.loop = &loop;
  srv.cfg = cfg;
  srv.ctx.cfg = cfg;
  srv.ctx.holder = &holder;
  srv.ctx.request_budget = srv_request_budget(cfg->max_frame);
  srv.ctx.server = &srv;
  serve_stored(cfg, store, &srv.ctx);

  char err[SRV_PATH_MAX + 256];
  int rc = 0;
  if (srv_listen(&loop, &srv.listener, cfg->socket, on_connection, err, sizeof(err)) != 0) {
    fprintf(stderr, "pdpd: %s\n", err);
    rc = 1;
  } else {
    srv.listener.data = &srv;
    uv_timer_init(&loop, &srv.drain_timer);
    srv.drain_timer.data = &srv;
    uv_signal_init(&loop, &srv.sigterm);
    uv_signal_init(&loop, &srv.sigint);
    srv.sigterm.data = srv.sigint.data = &srv;
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    srv_log(SRV_LOG_INFO, "pdpd: listening on %s; checking %s every %llu ms", cfg->socket,
            cfg->source, (unsigned long long)cfg->check_interval_ms);
    srv_checker_init(&srv.checker, &srv, store);
    srv_checker_start(&srv.checker);
  }
  uv_run(&loop, UV_RUN_DEFAULT); /* also finishes closing a listener that failed */
  if (rc == 0) {
    uv_close((uv_handle_t *)&srv.drain_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = srv.exit_code;
  }
  if (uv_loop_close(&loop) != 0) srv_log(SRV_LOG_WARN, "pdpd: handles left open at exit");
  cache_holder_close(&holder); /* the snapshots go before the store they may read from */
  cache_store_close(store);
  if (rc == 0) srv_log(SRV_LOG_INFO, "pdpd: stopped");
  return rc;
}

int srv_main(int argc, char **argv) {
  srv_config cfg;
  srv_config_init(&cfg);
  char err[SRV_PATH_MAX + 256];
  switch (srv_config_parse(&cfg, argc, argv, err, sizeof(err))) {
  case SRV_CONFIG_HELP:
    fputs(srv_config_usage(), stdout);
    return 0;
  case SRV_CONFIG_VERSION:
    printf("pdpd %s\n", SRV_VERSION);
    return 0;
  case SRV_CONFIG_ERROR:
    fprintf(stderr, "pdpd: %s\n", err);
    return 2;
  case SRV_CONFIG_RUN:
    break;
  }
  return srv_run(&cfg);
}

/* daemon.c - pdpd's life: load the source, listen, serve, stop cleanly.
 *
 * srv_run() owns the loop, the snapshot holder and the listener.  At start the LMDB store
 * under --data-dir is opened; a snapshot it holds is published at once, then --source is
 * synced into the store (only the rows that differ are written) and the store's snapshot
 * published.  When the source fails but a stored snapshot is served, pdpd keeps serving it,
 * logs every diagnostic and reports DEGRADED with the reason.  With nothing stored and a
 * source that does not load there is nothing to serve: every diagnostic goes to stderr and
 * pdpd exits 1.  SIGTERM and SIGINT stop accepting, stop reading, let every answer to
 * what was already read be written, close the connections and the listener (libuv removes
 * the socket file when the bound pipe closes), and return 0 when the loop runs dry.  A client
 * that never reads its answers cannot hold shutdown up: after SRV_DRAIN_MS its connection is
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
  /* never called once stopping: on_signal closes the listener first */
  srv_conn_accept(srv);
}

static void on_drain_deadline(uv_timer_t *t) {
  srv_server *srv = t->data;
  if (srv->conns) srv_log(SRV_LOG_WARN, "pdpd: closing connections whose answers did not drain");
  srv_conn_close_all(srv);
}

static void on_signal(uv_signal_t *h, int signum) {
  srv_server *srv = h->data;
  if (srv->stopping) return;
  srv->stopping = true;
  srv_log(SRV_LOG_INFO, "pdpd: %s: finishing answers and stopping", strsignal(signum));
  uv_close((uv_handle_t *)&srv->listener, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  srv_conn_drain_all(srv);
  /* unref'd: the timer alone does not keep the loop running */
  uv_timer_start(&srv->drain_timer, on_drain_deadline, SRV_DRAIN_MS, 0);
  uv_unref((uv_handle_t *)&srv->drain_timer);
}

static void log_diag(const cache_diag *diag) {
  for (uint32_t i = 0; i < diag->n; i++) fprintf(stderr, "%s\n", diag->lines[i]);
  if (diag->dropped) fprintf(stderr, "... and %u more errors\n", diag->dropped);
}

/* No store: the bundle straight into the holder, as before the store existed. */
static bool load_dir_only(const srv_config *cfg, cache_holder *holder) {
  cache_diag diag;
  cache_diag_init(&diag);
  pdpe_snapshot *snap = NULL;
  bool ok = cache_dir_load(cfg->source, &snap, &diag);
  log_diag(&diag);
  cache_diag_close(&diag);
  if (!ok) {
    fprintf(stderr, "pdpd: cannot load %s; nothing to serve\n", cfg->source);
    return false;
  }
  cache_holder_swap(holder, snap);
  return true;
}

/* Publish the store's snapshot when it holds one; true when something is now served. */
static bool serve_stored(const srv_config *cfg, cache_store *store, cache_holder *holder) {
  char from[SRV_PATH_MAX + 8];
  snprintf(from, sizeof(from), "dir:%s", cfg->source);
  if (!cache_store_has_snapshot(store, from)) return false; /* none, or of another source */
  cache_diag diag;
  cache_diag_init(&diag);
  pdpe_snapshot *snap = NULL;
  bool ok = cache_snapshot_from_store(store, &snap, &diag);
  log_diag(&diag);
  cache_diag_close(&diag);
  if (!ok) {
    srv_log(SRV_LOG_WARN, "pdpd: the stored snapshot in %s does not load; ignoring it",
            cfg->data_dir);
    return false;
  }
  char hex[65];
  srv_log(SRV_LOG_INFO, "pdpd: serving the stored snapshot %.8s while loading %s",
          cache_stamp_hex(snap->stamp, hex), cfg->source);
  cache_holder_swap(holder, snap);
  return true;
}

/* Sync the source into the store and publish the store's snapshot.  When the source fails
 * and a stored snapshot is served, keep it and mark the holder degraded with the reason. */
static bool sync_source(const srv_config *cfg, cache_store *store, cache_holder *holder,
                        bool serving) {
  cache_diag diag;
  cache_diag_init(&diag);
  cache_sync_info info;
  if (!cache_sync_from_dir(store, cfg->source, &info, &diag)) {
    log_diag(&diag);
    if (serving) {
      char reason[CACHE_DEGRADED_MAX];
      snprintf(reason, sizeof(reason), "source %s: %s", cfg->source,
               diag.n ? diag.lines[0] : "cannot load");
      cache_holder_set_degraded(holder, reason);
      srv_log(SRV_LOG_WARN, "pdpd: cannot load %s; still serving the stored snapshot", cfg->source);
    } else {
      fprintf(stderr, "pdpd: cannot load %s; nothing to serve\n", cfg->source);
    }
    cache_diag_close(&diag);
    return serving;
  }
  log_diag(&diag);
  cache_diag_close(&diag);
  cache_diag_init(&diag);
  pdpe_snapshot *snap = NULL;
  if (cache_snapshot_from_store(store, &snap, &diag) && memcmp(snap->stamp, info.stamp, 32) == 0) {
    pdpe_snapshot_unref(info.snapshot);
  } else {
    /* another writer changed the store since the sync: serve what the source said */
    log_diag(&diag);
    srv_log(SRV_LOG_WARN, "pdpd: the store %s changed under the sync; serving %s as loaded",
            cfg->data_dir, cfg->source);
    pdpe_snapshot_unref(snap);
    snap = info.snapshot;
  }
  cache_diag_close(&diag);
  if (info.puts || info.dels)
    srv_log(SRV_LOG_INFO, "pdpd: stored %u changed rows, %u deleted from %s", info.puts, info.dels,
            cfg->source);
  cache_holder_set_degraded(holder, NULL);
  cache_holder_swap(holder, snap);
  return true;
}

/* Start-up: the stored snapshot at once, then the source through the store. */
static bool load_source(const srv_config *cfg, cache_holder *holder) {
  cache_store *store = NULL;
  cache_store_err err;
  if (cache_store_open(cfg->data_dir, 0, &store, &err) != 0) {
    srv_log(SRV_LOG_WARN, "pdpd: %s; loading %s without a store", err.message, cfg->source);
    return load_dir_only(cfg, holder);
  }
  bool serving = serve_stored(cfg, store, holder);
  bool ok = sync_source(cfg, store, holder, serving);
  cache_store_close(store);
  return ok;
}

int srv_run(const srv_config *cfg) {
  srv_log_threshold = cfg->log_level;
  signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error code, not a death */

  cache_holder holder;
  cache_holder_init(&holder);
  if (!load_source(cfg, &holder)) {
    cache_holder_close(&holder);
    return 1;
  }

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "pdpd: cannot create the event loop\n");
    cache_holder_close(&holder);
    return 1;
  }
  srv_server srv;
  memset(&srv, 0, sizeof(srv));
  srv.loop = &loop;
  srv.cfg = cfg;
  srv.ctx.cfg = cfg;
  srv.ctx.holder = &holder;
  srv.ctx.request_budget = srv_request_budget(cfg->max_frame);

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

    pdpe_snapshot *snap = cache_holder_acquire(&holder);
    char hex[65];
    cache_stamp_hex(snap->stamp, hex);
    srv_log(SRV_LOG_INFO, "pdpd: serving %u policies, %u entities from %s on %s (stamp %.8s)",
            snap->policies ? pdpe_policy_set_count(snap->policies) : 0,
            snap->entities ? pdpe_entities_count(snap->entities) : 0,
            snap->source ? snap->source : cfg->source, cfg->socket, hex);
    pdpe_snapshot_unref(snap);
  }
  uv_run(&loop, UV_RUN_DEFAULT); /* also finishes closing a listener that failed */
  if (rc == 0) {
    uv_close((uv_handle_t *)&srv.drain_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&loop) != 0) srv_log(SRV_LOG_WARN, "pdpd: handles left open at exit");
  cache_holder_close(&holder);
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

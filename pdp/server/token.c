/* token.c - a JWT in place of a principal: pdp/authn wired into pdpd's request path.
 *
 * With --jwt-config the server context owns one pa_authn (pdpd's loop is single-threaded, so
 * one verifier and its verified-token cache serve every connection).  A check, a BatchCheck
 * item or a ListAllowed that carries `token` instead of `principal` goes through
 * srv_token_principal(): pa_authn_check verifies it (or finds it in the cache) and maps its
 * claims to a principal entity, which becomes the request's principal uid and the FIRST of
 * its request entities (so it takes precedence over a stored entity with the same uid, and
 * over a batch's shared one; a check's own entity with that uid is refused, since the token
 * alone says who the principal is).
 *
 * Revocations live in the source (revocations.json, table revocations of the store).  The
 * callback reads them from the pinned store view of the snapshot that answers the request,
 * and the snapshot's stamp is the revocation state pa compares a cached token against: a
 * new snapshot (a revocation synced by the checker) re-asks once per cached token, so a
 * revocation applies to cached tokens as soon as the snapshot carrying it is served.
 *
 * Key files change under a running pdpd (rotation): a 1 s timer calls
 * pa_authn_reload_if_changed (one stat per file) and logs what changed or failed; every
 * minute it also sweeps expired tokens out of the cache.
 */
#include "srv_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define RELOAD_MS 1000
#define SWEEP_TICKS 60 /* sweep the cache every this many reloads */

/* ---- revocations ------------------------------------------------------------------------ */

/* One row of table revocations: 1 when present with time t (8 bytes big-endian), 0 when
 * absent, -1 on a read error or a row of the wrong size. */
static int revocation_row(const pdpe_snapshot *snap, const char *prefix, pu_str id, int64_t *t) {
  char key[CACHE_STORE_DEFAULT_MAX_KEY + 1];
  /* A longer key cannot be stored (the sync refuses it), so nothing revokes it. */
  if (id.len > CACHE_STORE_DEFAULT_MAX_KEY - 4) return 0;
  memcpy(key, prefix, 4);
  if (id.len) memcpy(key + 4, id.ptr, id.len);
  cache_val v;
  int rc = cache_view_get(snap, CACHE_TABLE_REVOCATIONS, key, 4 + id.len, &v);
  if (rc == CACHE_STORE_NOTFOUND) return 0;
  if (rc != CACHE_STORE_OK || v.len != 8) return -1;
  const uint8_t *p = v.data;
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u = u << 8 | p[i];
  *t = (int64_t)u;
  return 1;
}

int srv_token_revoked(void *ctx, pu_str jti, pu_str sub, int64_t iat) {
  const pdpe_snapshot *snap = ctx;
  int64_t t;
  int r;
  if (jti.len && (r = revocation_row(snap, "jti:", jti, &t)) != 0) return r;
  if ((r = revocation_row(snap, "sub:", sub, &t)) <= 0) return r;
  return iat < t ? 1 : 0; /* no iat (INT64_MIN) counts as issued before any time */
}

/* ---- the request path ------------------------------------------------------------------- */

static bool refuse(srv_convert *cv, Pdp__V1__Status__Code *code, Pdp__V1__Status__Code c,
                   const char *msg) {
  *code = c;
  snprintf(cv->err, cv->err_cap, "%s", msg);
  return false;
}

bool srv_token_principal(srv_convert *cv, const char *token, const char *path, pdpe_uid *principal,
                         pdpe_entity **items, uint32_t *n, Pdp__V1__Status__Code *code) {
  if (!cv->authn)
    return refuse(cv, code, PDP__V1__STATUS__CODE__UNAUTHENTICATED,
                  "tokens are not configured (--jwt-config)");
  if (!cv->snap) /* a caller that forgot cv->snap: no revocation state, no answer */
    return refuse(cv, code, PDP__V1__STATUS__CODE__INTERNAL, "token: no snapshot to check against");
  pa_revocations rev = {.revoked = srv_token_revoked, .ctx = (void *)cv->snap};
  memcpy(rev.stamp, cv->snap->stamp, sizeof(rev.stamp));
  pdpe_entity p;
  char err[512];
  pa_status s = pa_authn_check(cv->authn, pu_str_c(token), (int64_t)time(NULL), &rev, cv->arena, &p,
                               NULL, err, sizeof(err));
  if (s == PA_ERR_NOMEM) {
    cv->overloaded = true;
    snprintf(cv->err, cv->err_cap, "%s.token: request memory budget exceeded", path);
    *code = PDP__V1__STATUS__CODE__OVERLOADED;
    return false;
  }
  if (s != PA_OK)
    return refuse(cv, code,
                  pa_status_is_auth_failure(s) ? PDP__V1__STATUS__CODE__UNAUTHENTICATED
                                               : PDP__V1__STATUS__CODE__INTERNAL,
                  err);
  for (uint32_t i = 0; i < *n; i++) {
    const pdpe_uid *u = &(*items)[i].uid;
    if (pu_str_eq(u->type, p.uid.type) && pu_str_eq(u->id, p.uid.id)) {
      snprintf(cv->err, cv->err_cap,
               "%s.entities[%u]: has the uid of the token's principal, whose attributes and "
               "parents come from the token alone",
               path, i);
      *code = PDP__V1__STATUS__CODE__BAD_REQUEST;
      return false;
    }
  }
  /* The token's parents are links of the request's entity set, like any entity's. */
  if (p.n_parents > cv->max_parent_links || cv->parent_links > cv->max_parent_links - p.n_parents) {
    snprintf(cv->err, cv->err_cap,
             "%s.token: %u roles and clients, more than %u parent links in this request "
             "(max-request-parent-links)",
             path, p.n_parents, cv->max_parent_links);
    *code = PDP__V1__STATUS__CODE__BAD_REQUEST;
    return false;
  }
  cv->parent_links += p.n_parents;
  pdpe_entity *all = pu_arena_alloc(cv->arena, ((size_t)*n + 1) * sizeof(*all));
  if (!all) {
    cv->overloaded = true;
    snprintf(cv->err, cv->err_cap, "%s.token: request memory budget exceeded", path);
    *code = PDP__V1__STATUS__CODE__OVERLOADED;
    return false;
  }
  all[0] = p;
  if (*n) memcpy(all + 1, *items, *n * sizeof(*all));
  *items = all;
  *n += 1;
  *principal = p.uid;
  return true;
}

/* ---- reloading key files ---------------------------------------------------------------- */

static uint64_t text_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h ? h : 1;
}

static void on_authn_tick(uv_timer_t *t) {
  srv_server *srv = t->data;
  pa_authn *a = srv->ctx.authn;
  char err[512] = "";
  switch (pa_authn_reload_if_changed(a, err, sizeof(err))) {
  case PA_RELOAD_CHANGED:
    srv_log(SRV_LOG_INFO, "pdpd: --jwt-config %s: reloaded what changed (%u keys)",
            srv->cfg->jwt_config, pa_authn_config(a)->n_keys);
    srv->authn_err_hash = 0;
    break;
  case PA_RELOAD_ERROR: {
    uint64_t h = text_hash(err);
    if (h != srv->authn_err_hash) /* the same failure is logged once */
      srv_log(SRV_LOG_WARN,
              "pdpd: --jwt-config %s: %s (a bad config file leaves the last good one in force; "
              "tokens of a missing or broken key are refused)",
              srv->cfg->jwt_config, err);
    srv->authn_err_hash = h;
    break;
  }
  case PA_RELOAD_NONE:
    break;
  }
  if (++srv->authn_ticks % SWEEP_TICKS == 0) {
    uint32_t dropped = pa_authn_sweep(a, (int64_t)time(NULL));
    if (dropped) srv_log(SRV_LOG_DEBUG, "pdpd: dropped %u expired tokens from the cache", dropped);
  }
}

void srv_token_timer_start(srv_server *srv) {
  if (!srv->ctx.authn) return;
  uv_timer_init(srv->loop, &srv->authn_timer);
  srv->authn_timer.data = srv;
  uv_timer_start(&srv->authn_timer, on_authn_tick, RELOAD_MS, RELOAD_MS);
}

void srv_token_timer_stop(srv_server *srv) {
  if (!srv->authn_timer.data || uv_is_closing((uv_handle_t *)&srv->authn_timer)) return;
  uv_close((uv_handle_t *)&srv->authn_timer, NULL);
}

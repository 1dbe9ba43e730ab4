/* define.c - DefinePermissions: a service registers its permission definitions.
 *
 * A request is validated on the loop (every problem is BAD_REQUEST naming its field:
 * `define_permissions.definitions[2].name: empty`) and copied into a job that owns its
 * memory.  The connection then waits (conn.c "parks": it answers nothing more, in order,
 * until this job is answered) while:
 *
 * 1. a threadpool worker writes the source: cache_define_permissions_defs takes the source
 *    lock, merges into permissions/<service>.json and replaces the file atomically (write,
 *    fsync, rename, fsync the folder), or writes nothing when the merged definitions are
 *    the file's (changed = false);
 * 2. back on the loop: unchanged and already served (the published snapshot's row of the
 *    service hashes to the merged definitions, the hash the define returned) -> answered at
 *    once with the published stamp.  Otherwise the job waits for the checker: a check that
 *    starts after the write (srv_define_wait triggers one) syncs the source into the store
 *    and publishes; when it ends the job is answered with the stamp then published, so a
 *    client never gets a stamp from before its definitions were stored.
 *
 * Only the checker writes the store and publishes, one check at a time: a define never
 * races a check, and an older check can never replace a newer snapshot.  The loop never
 * blocks on the file write, the fsyncs or the sync (docs/DECISIONS.md, "DefinePermissions").
 * A failed check after a write is answered INTERNAL saying the definitions are written but
 * not served yet; shutdown answers a waiting job the same way.
 */
#include "srv_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP "define_permissions"
#define MSG_CAP 768

struct srv_define {
  srv_server *srv;
  srv_conn *conn;   /* waits for the answer; NULL once it went away */
  srv_define *next; /* in the checker's wait list */
  uint64_t id;      /* the request's */
  uint64_t need;    /* answered once the check with this number ended */
  pu_arena arena;   /* owns the strings and values below */
  char *service;
  pdpe_definition *defs;
  uint32_t n_defs;
  char **deleted;
  uint32_t n_deleted;
  uv_work_t work;
  uint64_t started_ms;
  /* the worker's result */
  bool ok, changed;
  uint8_t hash[32];
  /* the answer */
  Pdp__V1__Status__Code code;
  uint8_t stamp[32];
  char msg[MSG_CAP];
};

static void job_free(srv_define *j) {
  if (!j) return;
  pu_arena_close(&j->arena);
  free(j);
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool bad(srv_ctx *ctx, srv_buf *out, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool bad(srv_ctx *ctx, srv_buf *out, uint64_t id, const char *fmt, ...) {
  char msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return srv_append_status(ctx, out, id, PDP__V1__STATUS__CODE__BAD_REQUEST, msg);
}

/* At most 64 bytes of s, for messages. */
static int shown(size_t len) {
  return len > 64 ? 64 : (int)len;
}

/* "" when s is a valid field of at most CACHE_DEFINITION_FIELD_MAX bytes, else why not. */
static const char *field_problem(const char *s, bool required, char *buf, size_t cap) {
  size_t n = s ? strlen(s) : 0;
  if (required && n == 0) return "empty";
  if (n > CACHE_DEFINITION_FIELD_MAX) {
    snprintf(buf, cap, "%zu bytes, limit %d", n, CACHE_DEFINITION_FIELD_MAX);
    return buf;
  }
  return "";
}

typedef struct named {
  const char *name;
  size_t index;
} named;

static int cmp_named(const void *x, const void *y) {
  const named *a = x, *b = y;
  int c = strcmp(a->name, b->name);
  return c ? c : (a->index > b->index) - (a->index < b->index);
}

static const char *const provider_names[] = {"", "PROVIDER_ROLE", "PROVIDER_USER",
                                             "PROVIDER_CLIENT"};

/* Validate every field; the first problem is answered BAD_REQUEST (true: answered). */
static bool invalid(srv_ctx *ctx, pu_arena *a, const Pdp__V1__Request *rq, srv_buf *out, bool *ok) {
  const Pdp__V1__DefinePermissionsRequest *in = rq->define_permissions;
  uint64_t id = rq->id;
  const char *svc = in->service ? in->service : "";
  *ok = true;
  if (!cache_service_name_ok(svc)) {
    *ok = bad(ctx, out, id,
              DP ".service: \"%.*s\" is not a service name (1..%d bytes of [A-Za-z0-9._-], not "
                 "starting with '.')",
              shown(strlen(svc)), svc, CACHE_SERVICE_MAX);
    return true;
  }
  if (in->n_definitions > CACHE_DEFINITIONS_MAX || in->n_deleted > CACHE_DEFINITIONS_MAX) {
    bool defs = in->n_definitions > CACHE_DEFINITIONS_MAX;
    *ok = bad(ctx, out, id, DP ".%s: %zu items, limit %d", defs ? "definitions" : "deleted",
              defs ? in->n_definitions : in->n_deleted, CACHE_DEFINITIONS_MAX);
    return true;
  }
  char why[96];
  for (size_t i = 0; i < in->n_definitions; i++) {
    const Pdp__V1__PermissionDefinition *d = in->definitions[i];
    const char *fields[] = {d->name, d->display_name, d->group, d->parent};
    static const char *const names[] = {"name", "display_name", "group", "parent"};
    for (int f = 0; f < 4; f++) {
      const char *p = field_problem(fields[f], f == 0, why, sizeof why);
      if (p[0]) {
        *ok = bad(ctx, out, id, DP ".definitions[%zu].%s: %s", i, names[f], p);
        return true;
      }
    }
    for (int f = 2; f < 4; f++) {
      if (fields[f] && strcmp(fields[f], d->name) == 0) {
        *ok = bad(ctx, out, id, DP ".definitions[%zu].%s: equals the name \"%.*s\"", i, names[f],
                  shown(strlen(d->name)), d->name);
        return true;
      }
    }
    if ((unsigned)d->tenancy > 2) {
      *ok = bad(ctx, out, id,
                DP ".definitions[%zu].tenancy: %d is not a tenancy (TENANCY_BOTH 0, TENANCY_HOST "
                   "1, TENANCY_TENANT 2)",
                i, (int)d->tenancy);
      return true;
    }
    uint32_t seen = 0;
    for (size_t k = 0; k < d->n_allowed_providers; k++) {
      unsigned p = (unsigned)d->allowed_providers[k];
      if (p < 1 || p > 3) {
        *ok = bad(ctx, out, id,
                  DP ".definitions[%zu].allowed_providers[%zu]: %d is not a provider "
                     "(PROVIDER_ROLE 1, PROVIDER_USER 2, PROVIDER_CLIENT 3)",
                  i, k, (int)d->allowed_providers[k]);
        return true;
      }
      if (seen & PDPE_PROVIDER_BIT(p)) {
        *ok = bad(ctx, out, id, DP ".definitions[%zu].allowed_providers[%zu]: %s is listed twice",
                  i, k, provider_names[p]);
        return true;
      }
      seen |= PDPE_PROVIDER_BIT(p);
    }
  }
  for (size_t k = 0; k < in->n_deleted; k++) {
    const char *p = field_problem(in->deleted[k], true, why, sizeof why);
    if (p[0]) {
      *ok = bad(ctx, out, id, DP ".deleted[%zu]: %s", k, p);
      return true;
    }
  }
  /* A name sent twice, or sent and deleted: sort the names once. */
  size_t n = in->n_definitions + in->n_deleted;
  if (n < 2) return false;
  named *all = pu_arena_alloc(a, n * sizeof(*all));
  if (!all) {
    *ok = srv_append_status(ctx, out, id, PDP__V1__STATUS__CODE__OVERLOADED,
                            DP ": request memory budget exceeded");
    return true;
  }
  for (size_t i = 0; i < in->n_definitions; i++) all[i] = (named){in->definitions[i]->name, i};
  for (size_t k = 0; k < in->n_deleted; k++)
    all[in->n_definitions + k] = (named){in->deleted[k], in->n_definitions + k};
  qsort(all, n, sizeof(*all), cmp_named);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(all[i - 1].name, all[i].name) != 0) continue;
    size_t first = all[i - 1].index, second = all[i].index, nd = in->n_definitions;
    int len = shown(strlen(all[i].name));
    if (second < nd)
      *ok =
          bad(ctx, out, id, DP ".definitions[%zu].name: \"%.*s\" is sent twice (definitions[%zu])",
              second, len, all[i].name, first);
    else if (first < nd)
      *ok = bad(ctx, out, id,
                DP ".deleted[%zu]: \"%.*s\" is also sent (definitions[%zu]); a name is either "
                   "defined or deleted",
                second - nd, len, all[i].name, first);
    else
      *ok = bad(ctx, out, id, DP ".deleted[%zu]: \"%.*s\" is listed twice (deleted[%zu])",
                second - nd, len, all[i].name, first - nd);
    return true;
  }
  return false;
}

/* ---- the job ------------------------------------------------------------------------------- */

/* A deep copy of v into a (strings, sets, records); false when out of memory.  The depth is
 * bounded by --max-value-depth, checked when v was converted. */
static bool value_copy(pu_arena *a, const pdpe_value *v, pdpe_value *out) {
  *out = *v;
  switch (v->kind) {
  case PDPE_STRING:
    out->u.s = pu_arena_str(a, v->u.s);
    return out->u.s.ptr != NULL;
  case PDPE_ENTITY:
    out->u.uid.type = pu_arena_str(a, v->u.uid.type);
    out->u.uid.id = pu_arena_str(a, v->u.uid.id);
    return out->u.uid.type.ptr && out->u.uid.id.ptr;
  case PDPE_SET:
    if (!v->u.set.n) return true;
    out->u.set.items = pu_arena_alloc(a, v->u.set.n * sizeof(pdpe_value));
    if (!out->u.set.items) return false;
    for (uint32_t i = 0; i < v->u.set.n; i++)
      if (!value_copy(a, &v->u.set.items[i], &out->u.set.items[i])) return false;
    return true;
  case PDPE_RECORD:
    if (!v->u.rec.n) return true;
    out->u.rec.keys = pu_arena_alloc(a, v->u.rec.n * sizeof(pu_str));
    out->u.rec.values = pu_arena_alloc(a, v->u.rec.n * sizeof(pdpe_value));
    if (!out->u.rec.keys || !out->u.rec.values) return false;
    for (uint32_t i = 0; i < v->u.rec.n; i++) {
      out->u.rec.keys[i] = pu_arena_str(a, v->u.rec.keys[i]);
      if (!out->u.rec.keys[i].ptr) return false;
      if (!value_copy(a, &v->u.rec.values[i], &out->u.rec.values[i])) return false;
    }
    return true;
  default: /* bool, long, extension values hold no pointers */
    return true;
  }
}

static pu_str copy_str(pu_arena *a, const char *s, bool *ok) {
  pu_str r = pu_arena_str(a, pu_str_c(s));
  if (!r.ptr) *ok = false;
  return r;
}

/* The job of a validated request; NULL with *code and err when it cannot be built. */
static srv_define *job_new(srv_ctx *ctx, pu_arena *a, const Pdp__V1__Request *rq,
                           Pdp__V1__Status__Code *code, char *err, size_t err_cap) {
  const Pdp__V1__DefinePermissionsRequest *in = rq->define_permissions;
  *code = PDP__V1__STATUS__CODE__OVERLOADED;
  snprintf(err, err_cap, DP ": request memory budget exceeded");
  srv_define *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  pu_arena_init(&j->arena, 16384, ctx->request_budget);
  j->id = rq->id;
  j->n_defs = (uint32_t)in->n_definitions;
  j->n_deleted = (uint32_t)in->n_deleted;
  j->service = pu_arena_strdup(&j->arena, in->service);
  j->defs = j->n_defs ? pu_arena_zalloc(&j->arena, j->n_defs * sizeof(*j->defs)) : NULL;
  j->deleted = j->n_deleted ? pu_arena_alloc(&j->arena, j->n_deleted * sizeof(char *)) : NULL;
  bool ok = j->service && (!j->n_defs || j->defs) && (!j->n_deleted || j->deleted);
  for (uint32_t i = 0; ok && i < j->n_defs; i++) {
    const Pdp__V1__PermissionDefinition *d = in->definitions[i];
    pdpe_definition *o = &j->defs[i];
    o->name = copy_str(&j->arena, d->name, &ok);
    o->display_name = copy_str(&j->arena, d->display_name, &ok);
    o->group = copy_str(&j->arena, d->group, &ok);
    o->parent = copy_str(&j->arena, d->parent, &ok);
    o->disabled = d->disabled;
    o->tenancy = (pdpe_tenancy)d->tenancy;
    for (size_t k = 0; k < d->n_allowed_providers; k++)
      o->providers |= PDPE_PROVIDER_BIT((unsigned)d->allowed_providers[k]);
    /* properties: converted like a context (request arena), then copied into the job */
    char path[64];
    snprintf(path, sizeof path, DP ".definitions[%u].properties", i);
    srv_convert cv = {.arena = a,
                      .max_value_depth = ctx->cfg->max_value_depth,
                      .max_entities = 0,
                      .max_entity_parents = 0,
                      .max_parent_links = 0,
                      .err = err,
                      .err_cap = err_cap};
    pdpe_value props;
    if (!srv_convert_attrs(&cv, d->properties, d->n_properties, path, &props)) {
      if (!cv.overloaded) *code = PDP__V1__STATUS__CODE__BAD_REQUEST;
      job_free(j);
      return NULL;
    }
    ok = ok && value_copy(&j->arena, &props, &o->properties);
  }
  for (uint32_t k = 0; ok && k < j->n_deleted; k++)
    ok = (j->deleted[k] = pu_arena_strdup(&j->arena, in->deleted[k])) != NULL;
  if (!ok) {
    snprintf(err, err_cap, DP ": request memory budget exceeded");
    job_free(j);
    return NULL;
  }
  return j;
}

bool srv_define_request(srv_ctx *ctx, pu_arena *a, const Pdp__V1__Request *rq, srv_buf *out,
                        srv_define **parked) {
  bool ok;
  if (invalid(ctx, a, rq, out, &ok)) return ok;
  char err[MSG_CAP];
  Pdp__V1__Status__Code code;
  srv_define *j = job_new(ctx, a, rq, &code, err, sizeof err);
  if (!j) return srv_append_status(ctx, out, rq->id, code, err);
  if (!parked || !ctx->server) {
    job_free(j);
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__UNIMPLEMENTED,
                             DP ": this server has no source to write to");
  }
  j->srv = ctx->server;
  *parked = j;
  return true;
}

/* ---- answering ------------------------------------------------------------------------------ */

bool srv_define_answer(srv_ctx *ctx, const srv_define *j, srv_buf *out) {
  if (j->code != PDP__V1__STATUS__CODE__OK)
    return srv_append_status(ctx, out, j->id, j->code, j->msg);
  Pdp__V1__DefinePermissionsResponse dr = PDP__V1__DEFINE_PERMISSIONS_RESPONSE__INIT;
  dr.changed = j->changed;
  dr.stamp = (ProtobufCBinaryData){sizeof(j->stamp), (uint8_t *)j->stamp};
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = PDP__V1__STATUS__CODE__OK;
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = j->id;
  resp.status = &st;
  resp.body_case = PDP__V1__RESPONSE__BODY_DEFINE_PERMISSIONS;
  resp.define_permissions = &dr;
  ctx->requests_total++;
  return srv_append_response(out, &resp);
}

void srv_define_free(srv_define *job) {
  job_free(job);
}

void srv_define_detach(srv_define *job) {
  job->conn = NULL;
}

/* Answer the waiting connection (if any) and free the job. */
static void finish(srv_define *j) {
  if (j->conn) srv_conn_unpark(j->conn, j);
  job_free(j);
}

static void fail(srv_define *j, Pdp__V1__Status__Code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(srv_define *j, Pdp__V1__Status__Code code, const char *fmt, ...) {
  j->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->msg, sizeof j->msg, fmt, ap);
  va_end(ap);
}

/* Answer OK with the published snapshot's stamp. */
static void answer_published(srv_define *j) {
  pdpe_snapshot *snap = cache_holder_acquire(j->srv->ctx.holder);
  if (!snap) {
    fail(j, PDP__V1__STATUS__CODE__INTERNAL, DP ": written, but nothing is published");
    return;
  }
  j->code = PDP__V1__STATUS__CODE__OK;
  memcpy(j->stamp, snap->stamp, sizeof j->stamp);
  pdpe_snapshot_unref(snap);
}

static bool sha256(const void *p, size_t n, uint8_t out[32]) {
  unsigned len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

/* True when the published snapshot holds exactly the merged definitions of j's service (its
 * row, or no row for none, hashes to j->hash); then j is answered with its stamp. */
static bool served(srv_define *j) {
  pdpe_snapshot *snap = cache_holder_acquire(j->srv->ctx.holder);
  if (!snap) return false;
  cache_val v;
  uint8_t h[32];
  int rc = cache_view_get(snap, CACHE_TABLE_DEFINITIONS, j->service, strlen(j->service), &v);
  bool same = (rc == CACHE_STORE_OK && sha256(v.data, v.len, h)) ||
              (rc == CACHE_STORE_NOTFOUND && sha256("[]", 2, h)); /* no definitions: no row */
  same = same && memcmp(h, j->hash, 32) == 0;
  if (same) {
    j->code = PDP__V1__STATUS__CODE__OK;
    memcpy(j->stamp, snap->stamp, sizeof j->stamp);
  }
  pdpe_snapshot_unref(snap);
  return same;
}

/* ---- waiting for the checker ------------------------------------------------------------ */

/* Answer j after a check that starts after now (the next one: the running check, if any, may
 * have read the source before the write). */
static void wait_for_check(srv_checker *ck, srv_define *j) {
  j->need = ck->checks_started + 1;
  j->next = ck->waiting;
  ck->waiting = j;
  srv_checker_trigger(ck); /* starts it now, or marks "again" after the running one */
}

void srv_define_checked(srv_checker *ck, uint64_t seq, bool ok, const char *why, bool stopping) {
  srv_define *ready = NULL, **pp = &ck->waiting;
  while (*pp) {
    srv_define *j = *pp;
    if (stopping || j->need <= seq) {
      *pp = j->next;
      j->next = ready;
      ready = j;
    } else {
      pp = &j->next;
    }
  }
  while (ready) {
    srv_define *j = ready;
    ready = j->next;
    if (ok && !stopping)
      answer_published(j);
    else
      fail(j, PDP__V1__STATUS__CODE__INTERNAL,
           DP ": the definitions are written to %s/permissions/%s.json but not served yet: %s",
           ck->srv->cfg->source, j->service, why && why[0] ? why : "the source check failed");
    finish(j);
  }
}

/* ---- the write on the threadpool ----------------------------------------------------------- */

static void define_work(uv_work_t *w) {
  srv_define *j = w->data;
  j->ok = cache_define_permissions_defs(j->srv->cfg->source, j->service, j->defs, j->n_defs,
                                        (const char *const *)j->deleted, j->n_deleted, &j->changed,
                                        j->hash, j->msg, sizeof j->msg);
  OPENSSL_thread_stop(); /* as checker.c: libcrypto's per-thread state would outlive us */
}

/* The define's own errors: those naming a field of the request ("request: definitions[0].
 * name: ... is already defined by service ...") are the client's; the rest (a broken
 * permission file, I/O) are pdpd's. */
static void define_failed(srv_define *j) {
  static const char req[] = "request: ";
  char msg[MSG_CAP];
  snprintf(msg, sizeof msg, "%s", j->msg);
  if (strncmp(msg, req, sizeof req - 1) == 0)
    fail(j, PDP__V1__STATUS__CODE__BAD_REQUEST, DP ".%s", msg + sizeof req - 1);
  else
    fail(j, PDP__V1__STATUS__CODE__INTERNAL, DP ": %s", msg);
}

static void define_done(uv_work_t *w, int status) {
  srv_define *j = w->data;
  srv_server *srv = j->srv;
  uint64_t ms = srv_mono_ms() - j->started_ms;
  if (status != 0) {
    fail(j, PDP__V1__STATUS__CODE__INTERNAL, DP ": cancelled: %s", uv_strerror(status));
  } else if (!j->ok) {
    define_failed(j);
    srv_log(SRV_LOG_WARN, "pdpd: DefinePermissions of service %s refused: %s", j->service, j->msg);
  } else {
    srv_log(j->changed ? SRV_LOG_INFO : SRV_LOG_DEBUG,
            "pdpd: DefinePermissions of service %s: %s %s/permissions/%s.json in %llu ms (%u "
            "sent, %u deleted)",
            j->service, j->changed ? "wrote" : "unchanged", srv->cfg->source, j->service,
            (unsigned long long)ms, j->n_defs, j->n_deleted);
    if (!j->changed && served(j)) {
      /* answered: the published snapshot has them */
    } else if (srv->stopping || srv->checker.stopped) {
      fail(j, PDP__V1__STATUS__CODE__INTERNAL,
           DP ": pdpd is stopping; the definitions are written to %s/permissions/%s.json and "
              "served from the next start",
           srv->cfg->source, j->service);
    } else {
      wait_for_check(&srv->checker, j);
      return;
    }
  }
  finish(j);
}

bool srv_define_start(srv_server *srv, srv_define *j, srv_conn *c) {
  j->srv = srv;
  j->conn = c;
  j->work.data = j;
  j->started_ms = srv_mono_ms();
  int rc = uv_queue_work(srv->loop, &j->work, define_work, define_done);
  if (rc == 0) return true;
  j->conn = NULL;
  fail(j, PDP__V1__STATUS__CODE__INTERNAL, DP ": cannot queue the write: %s", uv_strerror(rc));
  return false;
}

/* handlers.c - one request frame in, one framed Response out.
 *
 * srv_handle_frame() is the whole request path and needs no socket: check nesting on the
 * raw bytes, unpack with an allocator on the connection's arena (a budget caps it, nothing
 * is malloc'd per request), dispatch on the body, convert, decide, pack the answer onto
 * the output buffer, reset the arena.  Every Response carries a Status; a body is set only
 * with OK, so a non-OK status can never carry an ALLOW.  The snapshot is acquired per
 * request and released after the answer is packed.
 */
#include "srv_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_CAP 512

size_t srv_request_budget(uint32_t max_frame) {
  return (size_t)16 * max_frame + ((size_t)4 << 20);
}

/* ---- protobuf-c allocator on the request arena --------------------------------------- */

typedef struct arena_alloc {
  pu_arena *arena;
  bool exhausted; /* an allocation failed: the budget (or memory) ran out */
} arena_alloc;

static void *aa_alloc(void *data, size_t size) {
  arena_alloc *aa = data;
  void *p = pu_arena_alloc(aa->arena, size ? size : 1);
  if (!p) aa->exhausted = true;
  return p;
}

static void aa_free(void *data, void *p) {
  (void)data, (void)p; /* freed by the reset */
}

/* ---- packing ------------------------------------------------------------------------- */

bool srv_append_response(srv_buf *out, const Pdp__V1__Response *resp) {
  size_t n = protobuf_c_message_get_packed_size(&resp->base);
  if (n > UINT32_MAX) return false;
  if (!srv_buf_reserve(out, SRV_FRAME_HEADER + n)) return false;
  srv_frame_put_len(out->p + out->len, (uint32_t)n);
  protobuf_c_message_pack(&resp->base, out->p + out->len + SRV_FRAME_HEADER);
  out->len += SRV_FRAME_HEADER + n;
  return true;
}

bool srv_append_status(srv_ctx *ctx, srv_buf *out, uint64_t id, Pdp__V1__Status__Code code,
                       const char *message) {
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = code;
  st.message = (char *)(message ? message : "");
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = id;
  resp.status = &st;
  if (ctx) ctx->requests_total++;
  return srv_append_response(out, &resp);
}

/* Append an answer unless it would be larger than max-frame: then the same id gets
 * OVERLOADED instead (a client's reader refuses frames above its own max-frame, and one
 * request must not multiply into an unbounded answer). */
static bool append_answer(srv_ctx *ctx, srv_buf *out, const Pdp__V1__Response *resp) {
  size_t n = protobuf_c_message_get_packed_size(&resp->base);
  if (n > ctx->cfg->max_frame) {
    char msg[128];
    snprintf(msg, sizeof(msg), "answer larger than max-frame %u; split the batch",
             ctx->cfg->max_frame);
    return srv_append_status(ctx, out, resp->id, PDP__V1__STATUS__CODE__OVERLOADED, msg);
  }
  ctx->requests_total++;
  return srv_append_response(out, resp);
}

/* ---- checks -------------------------------------------------------------------------- */

static char *arena_cstr(pu_arena *a, pu_str s) {
  return pu_arena_memdup(a, s.ptr ? s.ptr : "", s.len);
}

static ProtobufCBinaryData stamp_of(const pdpe_snapshot *snap) {
  return (ProtobufCBinaryData){sizeof(snap->stamp), (uint8_t *)snap->stamp};
}

/* Fill a CheckResponse from a decision; false when the arena is exhausted. */
static bool check_response(pu_arena *a, const pdpe_snapshot *snap, const pdpe_decision *d,
                           Pdp__V1__CheckResponse *out) {
  pdp__v1__check_response__init(out);
  out->decision = d->decision == PDPE_ALLOW ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY;
  out->stamp = stamp_of(snap);
  if (d->n_reason) {
    out->reason = pu_arena_alloc(a, d->n_reason * sizeof(char *));
    if (!out->reason) return false;
    for (uint32_t i = 0; i < d->n_reason; i++)
      if (!(out->reason[i] = arena_cstr(a, d->reason[i]))) return false;
    out->n_reason = d->n_reason;
  }
  if (d->n_errors) {
    out->errors = pu_arena_alloc(a, d->n_errors * sizeof(*out->errors));
    Pdp__V1__EvalError *errs = pu_arena_alloc(a, d->n_errors * sizeof(*errs));
    if (!out->errors || !errs) return false;
    for (uint32_t i = 0; i < d->n_errors; i++) {
      pdp__v1__eval_error__init(&errs[i]);
      errs[i].policy_id = arena_cstr(a, d->errors[i].policy_id);
      errs[i].message = arena_cstr(a, d->errors[i].message);
      if (!errs[i].policy_id || !errs[i].message) return false;
      out->errors[i] = &errs[i];
    }
    out->n_errors = d->n_errors;
  }
  return true;
}

/* The conversion limits of this server, converting into arena a, errors into err. */
static srv_convert convert_ctx(srv_ctx *ctx, pu_arena *a, char *err) {
  return (srv_convert){.arena = a,
                       .max_value_depth = ctx->cfg->max_value_depth,
                       .max_entities = ctx->cfg->max_request_entities,
                       .max_entity_parents = ctx->cfg->max_entity_parents,
                       .max_parent_links = ctx->cfg->max_request_parent_links,
                       .err = err,
                       .err_cap = ERR_CAP,
                       .authn = ctx->authn};
}

/* One check decided into *resp, or a status code with a message in err.  *links counts
 * the parent links the request's entity sets hold so far (a refused check adds none). */
static Pdp__V1__Status__Code decide(srv_ctx *ctx, pu_arena *a, const pdpe_snapshot *snap,
                                    const Pdp__V1__CheckRequest *in, const char *path,
                                    const pdpe_entity *shared, uint32_t n_shared,
                                    const pdpe_entities *shared_es, uint64_t *links,
                                    Pdp__V1__CheckResponse *resp, char *err) {
  srv_convert cv = convert_ctx(ctx, a, err);
  cv.parent_links = *links;
  cv.snap = snap; /* a token's revocations are read from it */
  pdpe_request req;
  Pdp__V1__Status__Code code;
  if (!srv_convert_check(&cv, in, path, shared, n_shared, shared_es, &req, &code)) return code;
  *links = cv.parent_links;
  pdpe_decision d;
  if (!pdpe_authorize(snap, &req, a, &d) || !check_response(a, snap, &d, resp)) {
    snprintf(err, ERR_CAP, "%s: request memory budget exceeded", path);
    return PDP__V1__STATUS__CODE__OVERLOADED;
  }
  return PDP__V1__STATUS__CODE__OK;
}

static bool handle_check(srv_ctx *ctx, pu_arena *a, const pdpe_snapshot *snap,
                         const Pdp__V1__Request *rq, srv_buf *out) {
  char err[ERR_CAP];
  Pdp__V1__CheckResponse cr;
  uint64_t links = 0;
  Pdp__V1__Status__Code code =
      decide(ctx, a, snap, rq->check, "check", NULL, 0, NULL, &links, &cr, err);
  if (code != PDP__V1__STATUS__CODE__OK) return srv_append_status(ctx, out, rq->id, code, err);
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = PDP__V1__STATUS__CODE__OK;
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = rq->id;
  resp.status = &st;
  resp.body_case = PDP__V1__RESPONSE__BODY_CHECK;
  resp.check = &cr;
  return append_answer(ctx, out, &resp);
}

static bool handle_batch(srv_ctx *ctx, pu_arena *a, const pdpe_snapshot *snap,
                         const Pdp__V1__Request *rq, srv_buf *out) {
  const Pdp__V1__BatchCheckRequest *b = rq->batch_check;
  char err[ERR_CAP];
  srv_convert cv = convert_ctx(ctx, a, err);
  pdpe_entity *shared;
  uint32_t n_shared;
  pdpe_entities *shared_es = NULL;
  if (!srv_convert_entities(&cv, b->entities, b->n_entities, "batch_check.entities", &shared,
                            &n_shared) ||
      (n_shared &&
       !srv_convert_build_entities(&cv, shared, n_shared, "batch_check.entities", &shared_es)))
    return srv_append_status(ctx, out, rq->id,
                             cv.overloaded ? PDP__V1__STATUS__CODE__OVERLOADED
                                           : PDP__V1__STATUS__CODE__BAD_REQUEST,
                             err);
  uint64_t links = cv.parent_links; /* the shared set's links, built once */

  size_t n = b->n_checks;
  Pdp__V1__BatchCheckItem **items = n ? pu_arena_alloc(a, n * sizeof(*items)) : NULL;
  Pdp__V1__BatchCheckItem *item_mem = n ? pu_arena_alloc(a, n * sizeof(*item_mem)) : NULL;
  Pdp__V1__Status *sts = n ? pu_arena_alloc(a, n * sizeof(*sts)) : NULL;
  Pdp__V1__CheckResponse *crs = n ? pu_arena_alloc(a, n * sizeof(*crs)) : NULL;
  if (n && (!items || !item_mem || !sts || !crs))
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__OVERLOADED,
                             "batch_check: request memory budget exceeded");
  for (size_t i = 0; i < n; i++) {
    char path[64];
    snprintf(path, sizeof(path), "batch_check.checks[%zu]", i);
    pdp__v1__batch_check_item__init(&item_mem[i]);
    pdp__v1__status__init(&sts[i]);
    Pdp__V1__Status__Code code =
        decide(ctx, a, snap, b->checks[i], path, shared, n_shared, shared_es, &links, &crs[i], err);
    sts[i].code = code;
    if (code == PDP__V1__STATUS__CODE__OK) {
      crs[i].stamp = (ProtobufCBinaryData){0, NULL}; /* BatchCheckResponse.stamp carries it */
      item_mem[i].check = &crs[i];
    } else {
      sts[i].message = pu_arena_strdup(a, err);
      if (!sts[i].message)
        return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__OVERLOADED,
                                 "batch_check: request memory budget exceeded");
    }
    item_mem[i].status = &sts[i];
    items[i] = &item_mem[i];
  }
  Pdp__V1__BatchCheckResponse br = PDP__V1__BATCH_CHECK_RESPONSE__INIT;
  br.results = items;
  br.n_results = n;
  br.stamp = stamp_of(snap);
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = PDP__V1__STATUS__CODE__OK;
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = rq->id;
  resp.status = &st;
  resp.body_case = PDP__V1__RESPONSE__BODY_BATCH_CHECK;
  resp.batch_check = &br;
  return append_answer(ctx, out, &resp);
}

/* ---- health and status --------------------------------------------------------------- */

/* Room for a degraded or stale reason: the first diagnostic plus ages and counts. */
#define REASON_CAP (CACHE_DEGRADED_MAX + 512)

static bool handle_health(srv_ctx *ctx, const pdpe_snapshot *snap, uint64_t id, srv_buf *out) {
  Pdp__V1__HealthResponse h = PDP__V1__HEALTH_RESPONSE__INIT;
  char reason[REASON_CAP];
  if (snap) {
    uint64_t age = srv_snapshot_age_ms(ctx, snap, srv_mono_ms());
    h.state = PDP__V1__HEALTH_RESPONSE__STATE__SERVING;
    if (srv_fresh_reason(ctx, age, reason, sizeof(reason), NULL)) {
      h.state = PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED; /* failing checks, or stale */
      h.reason = reason;
    }
    h.stamp = stamp_of(snap);
    h.snapshot_age_ms = age;
  } else {
    h.state = PDP__V1__HEALTH_RESPONSE__STATE__NO_POLICY;
    h.reason = "no policy loaded";
  }
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = PDP__V1__STATUS__CODE__OK;
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = id;
  resp.status = &st;
  resp.body_case = PDP__V1__RESPONSE__BODY_HEALTH;
  resp.health = &h;
  ctx->requests_total++;
  return srv_append_response(out, &resp);
}

static bool handle_status(srv_ctx *ctx, const pdpe_snapshot *snap, uint64_t id, srv_buf *out) {
  Pdp__V1__StatusResponse s = PDP__V1__STATUS_RESPONSE__INIT;
  char reason[REASON_CAP], source[SRV_PATH_MAX + 8];
  snprintf(source, sizeof(source), "dir:%s", ctx->cfg->source);
  s.version = SRV_VERSION;
  s.source = source;
  s.connections = ctx->connections;
  s.last_check_unix_ms = ctx->fresh.last_check_unix_ms;
  s.last_change_unix_ms = ctx->fresh.last_change_unix_ms;
  ctx->requests_total++;
  s.requests_total = ctx->requests_total;
  if (snap) {
    s.stamp = stamp_of(snap);
    s.snapshot_age_ms = srv_snapshot_age_ms(ctx, snap, srv_mono_ms());
    s.policies = snap->policies ? pdpe_policy_set_count(snap->policies) : 0;
    s.entities = snap->entities ? pdpe_entities_count(snap->entities) : 0;
    /* grants and definitions: counted from the snapshot once the grants and definitions
     * work is merged (snap->grants.count, snap->n_definitions); 0 until then. */
    if (srv_fresh_reason(ctx, s.snapshot_age_ms, reason, sizeof(reason), NULL))
      s.degraded_reason = reason;
  } else {
    s.degraded_reason = "no policy loaded";
  }
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = PDP__V1__STATUS__CODE__OK;
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = id;
  resp.status = &st;
  resp.body_case = PDP__V1__RESPONSE__BODY_SERVER_STATUS;
  resp.server_status = &s;
  return srv_append_response(out, &resp);
}

/* Past --max-staleness a decision is not made: STALE with the age, the limit and why the
 * snapshot was not refreshed.  True when answered so. */
static bool answer_stale(srv_ctx *ctx, const pdpe_snapshot *snap, uint64_t id, srv_buf *out,
                         bool *ok) {
  if (!ctx->cfg->max_staleness_ms) return false;
  uint64_t age = srv_snapshot_age_ms(ctx, snap, srv_mono_ms());
  if (age <= ctx->cfg->max_staleness_ms) return false;
  char msg[REASON_CAP];
  bool stale = false;
  srv_fresh_reason(ctx, age, msg, sizeof(msg), &stale);
  *ok = srv_append_status(ctx, out, id, PDP__V1__STATUS__CODE__STALE, msg);
  return true;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static bool dispatch(srv_ctx *ctx, pu_arena *a, const Pdp__V1__Request *rq, srv_buf *out) {
  switch (rq->body_case) {
  case PDP__V1__REQUEST__BODY__NOT_SET:
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__BAD_REQUEST,
                             "request: no body");
  case PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS:
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__UNIMPLEMENTED,
                             "define_permissions: not served by this build yet");
  default:
    break;
  }
  pdpe_snapshot *snap = cache_holder_acquire(ctx->holder);
  bool ok;
  switch (rq->body_case) {
  case PDP__V1__REQUEST__BODY_HEALTH:
    ok = handle_health(ctx, snap, rq->id, out);
    break;
  case PDP__V1__REQUEST__BODY_SERVER_STATUS:
    ok = handle_status(ctx, snap, rq->id, out);
    break;
  default:
    if (!snap) {
      ok =
          srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__NO_POLICY, "no policy loaded");
    } else if (answer_stale(ctx, snap, rq->id, out, &ok)) {
      /* answered STALE */
    } else if (rq->body_case == PDP__V1__REQUEST__BODY_LIST_ALLOWED) {
      ok = srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__UNIMPLEMENTED,
                             "list_allowed: not served by this build yet");
    } else if (rq->body_case == PDP__V1__REQUEST__BODY_CHECK) {
      ok = handle_check(ctx, a, snap, rq, out);
    } else if (rq->body_case == PDP__V1__REQUEST__BODY_BATCH_CHECK) {
      ok = handle_batch(ctx, a, snap, rq, out);
    } else {
      ok = srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__BAD_REQUEST,
                             "request: unknown body");
    }
  }
  pdpe_snapshot_unref(snap);
  return ok;
}

bool srv_handle_frame(srv_ctx *ctx, pu_arena *arena, const uint8_t *body, size_t len,
                      srv_buf *out) {
  uint32_t depth = ctx->cfg->max_value_depth;
  uint32_t levels = srv_wire_max_levels(depth);
  char werr[256];
  srv_wire_result w =
      srv_wire_scan(&pdp__v1__request__descriptor, body, len, levels, werr, sizeof(werr));
  if (w == SRV_WIRE_BAD_STRING)
    return srv_append_status(ctx, out, srv_wire_request_id(body, len),
                             PDP__V1__STATUS__CODE__BAD_REQUEST, werr);
  if (w == SRV_WIRE_TOO_DEEP) {
    char msg[160];
    snprintf(msg, sizeof(msg),
             "request: nesting deeper than %u message levels (max-value-depth %u)", levels, depth);
    return srv_append_status(ctx, out, srv_wire_request_id(body, len),
                             PDP__V1__STATUS__CODE__BAD_REQUEST, msg);
  }
  if (w == SRV_WIRE_MALFORMED) /* the id when it can still be read, else 0 */
    return srv_append_status(ctx, out, srv_wire_request_id(body, len),
                             PDP__V1__STATUS__CODE__BAD_REQUEST, "request: cannot decode protobuf");
  arena_alloc aa = {arena, false};
  ProtobufCAllocator alloc = {aa_alloc, aa_free, &aa};
  size_t saved_budget = arena->budget;
  arena->budget = ctx->request_budget;
  Pdp__V1__Request *rq = pdp__v1__request__unpack(&alloc, len, body);
  bool ok;
  if (!rq) {
    ok = aa.exhausted ? srv_append_status(ctx, out, srv_wire_request_id(body, len),
                                          PDP__V1__STATUS__CODE__OVERLOADED,
                                          "request: decoding exceeds the request memory budget")
                      : srv_append_status(ctx, out, srv_wire_request_id(body, len),
                                          PDP__V1__STATUS__CODE__BAD_REQUEST,
                                          "request: cannot decode protobuf");
  } else {
    ok = dispatch(ctx, arena, rq, out);
  }
  pu_arena_reset(arena);
  arena->budget = saved_budget;
  return ok;
}

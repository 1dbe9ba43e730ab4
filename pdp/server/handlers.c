/* handlers.c - one request frame in, one framed Response out.
 *
 * srv_handle_frame() is the whole request path and needs no socket: check nesting on the
 * raw bytes, unpack with an allocator on the connection's arena (a budget caps it, nothing
 * is malloc'd per request), dispatch on the body, convert, decide, pack the answer onto
 * the output buffer, reset the arena.  Every Response carries a Status; a body is set only
 * with OK, so a non-OK status can never carry an ALLOW.  The snapshot is acquired per
 * request and released after the answer is packed.  Check, BatchCheck and ListAllowed decide
 * with the engine (pdpe_authorize, pdpe_list_allowed); a failed grant lookup is INTERNAL with
 * its message, never a decision.  DefinePermissions is define.c's: it may leave the request
 * "parked" for the connection to answer later (srv_handle_frame_park).
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
static bool append_answer(srv_ctx *ctx, srv_buf *out, const Pdp__V1__Response *resp,
                          const char *hint) {
  size_t n = protobuf_c_message_get_packed_size(&resp->base);
  if (n > ctx->cfg->max_frame) {
    char msg[160];
    snprintf(msg, sizeof(msg), "answer larger than max-frame %u; %s", ctx->cfg->max_frame, hint);
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
                       .err_cap = ERR_CAP};
}

/* pdpe_authorize said false: a grant lookup failed (its error has policy id "grants"):
 * INTERNAL with the lookup's message, logged at most once a second; else the request's
 * memory ran out: OVERLOADED. */
static Pdp__V1__Status__Code failed_decision(const pdpe_decision *d, const char *path, char *err) {
  if (d->n_errors && pu_str_eq(d->errors[0].policy_id, PU_STR_LIT("grants"))) {
    pu_str m = d->errors[0].message;
    snprintf(err, ERR_CAP, "%s: %.*s", path, (int)(m.len > 400 ? 400 : m.len), m.ptr ? m.ptr : "");
    static uint64_t last_log_ms;
    uint64_t now = srv_mono_ms();
    if (!last_log_ms || now - last_log_ms >= 1000) {
      last_log_ms = now ? now : 1;
      srv_log(SRV_LOG_ERROR, "pdpd: %s", err);
    }
    return PDP__V1__STATUS__CODE__INTERNAL;
  }
  snprintf(err, ERR_CAP, "%s: request memory budget exceeded", path);
  return PDP__V1__STATUS__CODE__OVERLOADED;
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
  pdpe_request req;
  Pdp__V1__Status__Code code;
  if (!srv_convert_check(&cv, in, path, shared, n_shared, shared_es, &req, &code)) return code;
  *links = cv.parent_links;
  pdpe_decision d;
  if (!pdpe_authorize(snap, &req, a, &d)) return failed_decision(&d, path, err);
  if (!check_response(a, snap, &d, resp)) {
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
  return append_answer(ctx, out, &resp, "split the batch");
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
  return append_answer(ctx, out, &resp, "split the batch");
}

/* ---- ListAllowed -------------------------------------------------------------------------- */

static bool has_prefix(pu_str s, pu_str prefix) {
  return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

/* pdpe_list_allowed said false without saying why: a grant lookup failed or the memory ran
 * out.  Check the listed definitions one by one (the failure path only) to find a failed
 * lookup and its message. */
static Pdp__V1__Status__Code list_failure(srv_ctx *ctx, const pdpe_snapshot *snap,
                                          const pdpe_request *req, pu_str prefix, char *err) {
  pu_arena scratch;
  pu_arena_init(&scratch, 16384, ctx->request_budget);
  pdpe_request r = *req;
  Pdp__V1__Status__Code code = PDP__V1__STATUS__CODE__OK;
  for (uint32_t i = 0; i < snap->n_definitions && code == PDP__V1__STATUS__CODE__OK; i++) {
    if (!has_prefix(snap->definitions[i].name, prefix)) continue;
    r.action = (pdpe_uid){PU_STR_LIT("Action"), snap->definitions[i].name};
    pdpe_decision d;
    if (!pdpe_authorize(snap, &r, &scratch, &d)) code = failed_decision(&d, "list_allowed", err);
    pu_arena_reset(&scratch);
  }
  pu_arena_close(&scratch);
  if (code != PDP__V1__STATUS__CODE__OK) return code;
  snprintf(err, ERR_CAP, "list_allowed: request memory budget exceeded");
  return PDP__V1__STATUS__CODE__OVERLOADED;
}

/* Every defined action the principal may do on the resource.  The request is converted as a
 * Check of a placeholder action is (same principal, token, resource, context and entities
 * rules, field paths under "list_allowed"), so whatever a Check accepts as its principal a
 * ListAllowed accepts too. */
static bool handle_list(srv_ctx *ctx, pu_arena *a, const pdpe_snapshot *snap,
                        const Pdp__V1__Request *rq, srv_buf *out) {
  const Pdp__V1__ListAllowedRequest *in = rq->list_allowed;
  char err[ERR_CAP];
  pu_str prefix = pu_str_c(in->action_prefix);
  if (prefix.len > SRV_MAX_ACTION_PREFIX) {
    snprintf(err, ERR_CAP, "list_allowed.action_prefix: %zu bytes, limit %d (no action is longer)",
             prefix.len, SRV_MAX_ACTION_PREFIX);
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__BAD_REQUEST, err);
  }
  Pdp__V1__EntityUid any = PDP__V1__ENTITY_UID__INIT;
  any.type = "Action";
  any.id = "*"; /* never read: pdpe_list_allowed sets each definition's action */
  Pdp__V1__CheckRequest as_check = PDP__V1__CHECK_REQUEST__INIT;
  as_check.principal = in->principal;
  as_check.token = in->token;
  as_check.action = &any;
  as_check.resource = in->resource;
  as_check.context = in->context;
  as_check.n_entities = in->n_entities;
  as_check.entities = in->entities;
  srv_convert cv = convert_ctx(ctx, a, err);
  pdpe_request req;
  Pdp__V1__Status__Code code;
  if (!srv_convert_check(&cv, &as_check, "list_allowed", NULL, 0, NULL, &req, &code))
    return srv_append_status(ctx, out, rq->id, code, err);
  pdpe_uid *acts;
  uint32_t n;
  if (!pdpe_list_allowed(snap, &req, prefix, a, &acts, &n))
    return srv_append_status(ctx, out, rq->id, list_failure(ctx, snap, &req, prefix, err), err);
  Pdp__V1__EntityUid **uids = n ? pu_arena_alloc(a, n * sizeof(*uids)) : NULL;
  Pdp__V1__EntityUid *mem = n ? pu_arena_alloc(a, n * sizeof(*mem)) : NULL;
  bool ok = !n || (uids && mem);
  for (uint32_t i = 0; ok && i < n; i++) {
    pdp__v1__entity_uid__init(&mem[i]);
    mem[i].type = arena_cstr(a, acts[i].type);
    mem[i].id = arena_cstr(a, acts[i].id);
    ok = mem[i].type && mem[i].id;
    uids[i] = &mem[i];
  }
  if (!ok)
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__OVERLOADED,
                             "list_allowed: request memory budget exceeded");
  Pdp__V1__ListAllowedResponse lr = PDP__V1__LIST_ALLOWED_RESPONSE__INIT;
  lr.actions = uids;
  lr.n_actions = n;
  lr.stamp = stamp_of(snap);
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = PDP__V1__STATUS__CODE__OK;
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  resp.id = rq->id;
  resp.status = &st;
  resp.body_case = PDP__V1__RESPONSE__BODY_LIST_ALLOWED;
  resp.list_allowed = &lr;
  return append_answer(ctx, out, &resp, "ask with a longer action_prefix");
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
    s.grants = snap->grants.count;
    s.definitions = snap->n_definitions;
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

static bool dispatch(srv_ctx *ctx, pu_arena *a, const Pdp__V1__Request *rq, srv_buf *out,
                     srv_define **parked) {
  switch (rq->body_case) {
  case PDP__V1__REQUEST__BODY__NOT_SET:
    return srv_append_status(ctx, out, rq->id, PDP__V1__STATUS__CODE__BAD_REQUEST,
                             "request: no body");
  case PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS:
    /* writes the source, decides nothing: served with or without a (fresh) snapshot */
    return srv_define_request(ctx, a, rq, out, parked);
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
      ok = handle_list(ctx, a, snap, rq, out);
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
  return srv_handle_frame_park(ctx, arena, body, len, out, NULL);
}

bool srv_handle_frame_park(srv_ctx *ctx, pu_arena *arena, const uint8_t *body, size_t len,
                           srv_buf *out, srv_define **parked) {
  if (parked) *parked = NULL;
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
    ok = dispatch(ctx, arena, rq, out, parked);
  }
  pu_arena_reset(arena);
  arena->budget = saved_budget;
  return ok;
}

/* list.c - ListAllowed for the C client: build the request, read the answer, the call.
 *
 * A pdpc_list_result owns its message and its actions (the array and every type and id
 * string).  Every path that fills one closes it first and goes through list_fail() or
 * list_fill(); only list_fill() on a Response that passed pdpc__answer_check (right id,
 * status OK, a list_allowed body) lists actions, so a failed or non-OK answer never
 * carries any.  An OK answer whose actions lack a type is refused whole: a partial list
 * could hide the broken element.
 */
#include "pdpc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pdpc_list_result_init(pdpc_list_result *r) {
  if (r) memset(r, 0, sizeof *r);
}

void pdpc_list_result_close(pdpc_list_result *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_actions; i++) {
    free((char *)r->actions[i].type);
    free((char *)r->actions[i].id);
  }
  free(r->actions);
  free(r->message);
  memset(r, 0, sizeof *r);
}

/* Fill r as a failure: no actions, the status (UNSPECIFIED for client errors) and words. */
static void list_fail(pdpc_list_result *r, uint64_t id, int status, const char *message) {
  pdpc_list_result_close(r);
  r->id = id;
  r->status = status;
  r->message = strdup(message ? message : "client error");
}

/* Fill r from a Response answering expect_id; err gets the words of a failure. */
static int list_fill(pdpc_list_result *r, const Pdp__V1__Response *resp, uint64_t expect_id,
                     char *err, size_t err_cap) {
  int status;
  const char *message;
  int rc = pdpc__answer_check(resp, expect_id, PDP__V1__RESPONSE__BODY_LIST_ALLOWED, "list_allowed",
                              &status, &message, err, err_cap);
  if (rc) {
    list_fail(r, expect_id, status, rc == PDPC_E_STATUS ? message : err);
    return rc;
  }
  const Pdp__V1__ListAllowedResponse *b = resp->list_allowed;
  for (size_t i = 0; i < b->n_actions; i++) {
    const Pdp__V1__EntityUid *u = b->actions[i];
    if (!u || !u->type || !u->type[0] || !u->id) {
      snprintf(err, err_cap, "response %llu: actions[%zu] has no type",
               (unsigned long long)resp->id, i);
      list_fail(r, expect_id, PDPC_STATUS_UNSPECIFIED, err);
      return PDPC_E_PROTOCOL;
    }
  }
  pdpc_list_result_close(r);
  r->id = expect_id;
  r->status = status;
  if (!(r->message = strdup(message))) goto nomem;
  if (b->n_actions) {
    if (!(r->actions = calloc(b->n_actions, sizeof *r->actions))) goto nomem;
    for (size_t i = 0; i < b->n_actions; i++) {
      pdpc_uid *a = &r->actions[r->n_actions++];
      a->type = strdup(b->actions[i]->type);
      a->id = strdup(b->actions[i]->id);
      if (!a->type || !a->id) goto nomem;
    }
  }
  if (b->stamp.len == 32) {
    memcpy(r->stamp, b->stamp.data, 32);
    r->stamp_len = 32;
  }
  return 0;
nomem:
  snprintf(err, err_cap, "out of memory");
  list_fail(r, expect_id, PDPC_STATUS_UNSPECIFIED, err);
  return PDPC_E_NOMEM;
}

static int build_list(pdpc__pool *pool, const pdpc_list_req *req, Pdp__V1__ListAllowedRequest **out,
                      char *err, size_t err_cap) {
  if (!req) {
    pdpc__set_err(err, err_cap, "request is NULL");
    return PDPC_E_INVAL;
  }
  bool has_token = req->token && req->token[0];
  if (!has_token && pdpc__check_uid(&req->principal, "principal", err, err_cap))
    return PDPC_E_INVAL;
  if (pdpc__check_uid(&req->resource, "resource", err, err_cap)) return PDPC_E_INVAL;
  Pdp__V1__ListAllowedRequest *l = pdpc__pool_alloc(pool, sizeof *l);
  if (!l) return PDPC_E_NOMEM;
  pdp__v1__list_allowed_request__init(l);
  if (has_token) l->token = (char *)req->token;
  if (req->principal.type && req->principal.id &&
      !(l->principal = pdpc__build_uid(pool, req->principal.type, req->principal.id)))
    return PDPC_E_NOMEM;
  if (!(l->resource = pdpc__build_uid(pool, req->resource.type, req->resource.id)))
    return PDPC_E_NOMEM;
  if (req->action_prefix) l->action_prefix = (char *)req->action_prefix;
  int rc = pdpc__build_context(pool, req->context, "context", &l->context, err, err_cap);
  if (rc == 0)
    rc = pdpc__build_entities(pool, req->entities, req->n_entities, &l->entities, &l->n_entities,
                              err, err_cap);
  if (rc) return rc;
  *out = l;
  return 0;
}

void pdpc__error_fill(pdpc_error *e, int code, const char *msg) {
  if (!e) return;
  e->code = code;
  e->status = 0;
  snprintf(e->message, sizeof e->message, "%s", code == PDPC_E_NOMEM ? "out of memory" : msg);
}

int pdpc_encode_list_allowed(const pdpc_list_req *req, uint64_t id, uint8_t **frame, size_t *len,
                             pdpc_error *err) {
  if (frame) *frame = NULL;
  if (!frame || !len) {
    pdpc__error_fill(err, PDPC_E_INVAL, "frame and len must not be NULL");
    return PDPC_E_INVAL;
  }
  char msg[200] = "";
  pdpc__pool pool = {0};
  Pdp__V1__ListAllowedRequest *l = NULL;
  int rc = build_list(&pool, req, &l, msg, sizeof msg);
  if (rc == 0) {
    Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
    r.id = id;
    r.body_case = PDP__V1__REQUEST__BODY_LIST_ALLOWED;
    r.list_allowed = l;
    if ((rc = pdpc__pack_frame(&r.base, frame, len)) != 0)
      snprintf(msg, sizeof msg, "cannot encode request: %s", pdpc_strerror(rc));
  }
  pdpc__pool_free(&pool);
  if (rc)
    pdpc__error_fill(err, rc, msg);
  else if (err)
    memset(err, 0, sizeof *err);
  return rc;
}

int pdpc_decode_list_allowed(const uint8_t *body, size_t len, uint64_t expect_id,
                             pdpc_list_result *out) {
  if (!out) return PDPC_E_INVAL;
  if (!body && len) {
    list_fail(out, expect_id, PDPC_STATUS_UNSPECIFIED, "NULL body");
    return PDPC_E_INVAL;
  }
  Pdp__V1__Response *resp = pdp__v1__response__unpack(NULL, len, body);
  if (!resp) {
    list_fail(out, expect_id, PDPC_STATUS_UNSPECIFIED,
              "malformed response (protobuf decode failed)");
    return PDPC_E_PROTOCOL;
  }
  char err[200];
  int rc = list_fill(out, resp, expect_id, err, sizeof err);
  pdp__v1__response__free_unpacked(resp, NULL);
  return rc;
}

int pdpc_list_allowed(pdpc_conn *c, const pdpc_list_req *req, pdpc_list_result *out) {
  if (!c || !out) {
    if (out) list_fail(out, 0, PDPC_STATUS_UNSPECIFIED, "list_allowed: connection is NULL");
    if (c) pdpc__conn_fail(c, PDPC_E_INVAL, 0, "list_allowed: result is NULL");
    return PDPC_E_INVAL;
  }
  pdpc__conn_begin(c);
  char msg[200] = "";
  pdpc__pool pool = {0};
  Pdp__V1__ListAllowedRequest *l = NULL;
  Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
  Pdp__V1__Response *resp = NULL;
  int rc = build_list(&pool, req, &l, msg, sizeof msg);
  if (rc) {
    pdpc__conn_fail(c, rc, 0, "list_allowed: %s", rc == PDPC_E_NOMEM ? "out of memory" : msg);
  } else {
    r.body_case = PDP__V1__REQUEST__BODY_LIST_ALLOWED;
    r.list_allowed = l;
    rc = pdpc__exchange(c, &r, &resp);
  }
  pdpc__pool_free(&pool);
  if (rc) {
    list_fail(out, r.id, PDPC_STATUS_UNSPECIFIED, pdpc_conn_error(c)->message);
    return rc;
  }
  rc = list_fill(out, resp, r.id, msg, sizeof msg);
  pdp__v1__response__free_unpacked(resp, NULL);
  if (rc) pdpc__conn_fail(c, rc, out->status, "%s", msg);
  return rc;
}

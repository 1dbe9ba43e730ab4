/* result.c - check results of the C client: filling, the allow invariant, freeing.
 *
 * A pdpc_result owns its strings.  Every path that fills one goes through
 * pdpc__result_from_check() or pdpc__result_fail(); only the first may set ALLOW, and only
 * when the status is OK, a CheckResponse is present and its decision is ALLOW.  Anything
 * else (lost status, UNSPECIFIED decision, a non-OK status carrying an ALLOW body) denies.
 */
#include "pdpc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pdpc_result_init(pdpc_result *r) {
  if (r) memset(r, 0, sizeof *r);
}

void pdpc_result_close(pdpc_result *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_reason; i++) free(r->reason[i]);
  free(r->reason);
  for (size_t i = 0; i < r->n_errors; i++) {
    free(r->errors[i].policy_id);
    free(r->errors[i].message);
  }
  free(r->errors);
  free(r->message);
  memset(r, 0, sizeof *r);
}

bool pdpc_result_allowed(const pdpc_result *r) {
  return r && r->status == PDPC_STATUS_OK && r->decision == PDPC_ALLOW;
}

static const char *const status_names[] = {
    "UNSPECIFIED", "OK",    "BAD_REQUEST",   "FRAME_TOO_LARGE", "UNAUTHENTICATED",
    "NO_POLICY",   "STALE", "UNIMPLEMENTED", "OVERLOADED",      "INTERNAL"};

const char *pdpc_status_name(int status) {
  if (status < 0 || status >= (int)(sizeof status_names / sizeof *status_names)) return "UNKNOWN";
  return status_names[status];
}

void pdpc__result_fail(pdpc_result *r, uint64_t id, const char *message) {
  pdpc_result_close(r);
  r->id = id;
  r->status = PDPC_STATUS_UNSPECIFIED;
  r->decision = PDPC_DENY;
  r->message = strdup(message ? message : "client error");
}

int pdpc__result_from_check(pdpc_result *r, uint64_t id, int status, const char *message,
                            const Pdp__V1__CheckResponse *body) {
  pdpc_result_close(r);
  r->id = id;
  r->status = status;
  r->decision = PDPC_DENY;
  r->message = strdup(message ? message : "");
  if (!r->message) goto nomem;
  if (!body) return 0;
  if (body->n_reason) {
    r->reason = calloc(body->n_reason, sizeof *r->reason);
    if (!r->reason) goto nomem;
    for (size_t i = 0; i < body->n_reason; i++) {
      if (!(r->reason[i] = strdup(body->reason[i] ? body->reason[i] : ""))) goto nomem;
      r->n_reason++;
    }
  }
  if (body->n_errors) {
    r->errors = calloc(body->n_errors, sizeof *r->errors);
    if (!r->errors) goto nomem;
    for (size_t i = 0; i < body->n_errors; i++) {
      const Pdp__V1__EvalError *e = body->errors[i];
      r->errors[i].policy_id = strdup(e && e->policy_id ? e->policy_id : "");
      r->errors[i].message = strdup(e && e->message ? e->message : "");
      r->n_errors++;
      if (!r->errors[i].policy_id || !r->errors[i].message) goto nomem;
    }
  }
  if (body->stamp.len == 32) {
    memcpy(r->stamp, body->stamp.data, 32);
    r->stamp_len = 32;
  }
  /* The invariant: allow only on OK with an explicit ALLOW. */
  if (status == PDPC_STATUS_OK && body->decision == PDP__V1__DECISION__ALLOW)
    r->decision = PDPC_ALLOW;
  return 0;
nomem:
  pdpc__result_fail(r, id, "out of memory");
  return PDPC_E_NOMEM;
}

int pdpc__result_from_response(pdpc_result *r, const Pdp__V1__Response *resp, uint64_t expect_id,
                               char *err, size_t err_cap) {
  if (resp->id != expect_id) {
    /* pdpd answers id 0 when it could not read the request at all (oversize frame, too many
     * connections, undecodable bytes): keep its status and words, but the stream is lost. */
    if (resp->id == 0 && resp->status && resp->status->code != PDP__V1__STATUS__CODE__OK) {
      snprintf(err, err_cap, "pdpd answered %s: %s", pdpc_status_name((int)resp->status->code),
               resp->status->message ? resp->status->message : "");
      pdpc__result_fail(r, expect_id, err);
      r->status = (int)resp->status->code;
      return PDPC_E_PROTOCOL;
    }
    snprintf(err, err_cap, "response id %llu does not match request id %llu",
             (unsigned long long)resp->id, (unsigned long long)expect_id);
    pdpc__result_fail(r, expect_id, err);
    return PDPC_E_PROTOCOL;
  }
  int status = resp->status ? (int)resp->status->code : PDPC_STATUS_UNSPECIFIED;
  const char *msg = resp->status && resp->status->message ? resp->status->message : "";
  if (!resp->status) msg = "response without a status";
  if (status == PDPC_STATUS_OK) {
    if (resp->body_case != PDP__V1__RESPONSE__BODY_CHECK || !resp->check) {
      snprintf(err, err_cap, "response %llu has status OK but no check body",
               (unsigned long long)resp->id);
      pdpc__result_fail(r, expect_id, err);
      return PDPC_E_PROTOCOL;
    }
    if (resp->check->decision != PDP__V1__DECISION__ALLOW &&
        resp->check->decision != PDP__V1__DECISION__DENY) {
      snprintf(err, err_cap, "response %llu has an unspecified decision (%d)",
               (unsigned long long)resp->id, (int)resp->check->decision);
      pdpc__result_fail(r, expect_id, err);
      return PDPC_E_PROTOCOL;
    }
    return pdpc__result_from_check(r, expect_id, status, msg, resp->check);
  }
  /* Non-OK: keep the message, ignore any body (it must never allow). */
  return pdpc__result_from_check(r, expect_id, status, msg, NULL);
}

int pdpc__answer_check(const Pdp__V1__Response *resp, uint64_t expect_id,
                       Pdp__V1__Response__BodyCase want, const char *what, int *status,
                       const char **message, char *err, size_t err_cap) {
  *status = PDPC_STATUS_UNSPECIFIED;
  *message = "";
  if (resp->id != expect_id) {
    /* pdpd's id-0 answer to a request it could not read: its words, and the stream is lost. */
    if (resp->id == 0 && resp->status && resp->status->code != PDP__V1__STATUS__CODE__OK) {
      *status = (int)resp->status->code;
      snprintf(err, err_cap, "pdpd answered %s: %s", pdpc_status_name(*status),
               resp->status->message ? resp->status->message : "");
    } else {
      snprintf(err, err_cap, "response id %llu does not match request id %llu",
               (unsigned long long)resp->id, (unsigned long long)expect_id);
    }
    return PDPC_E_PROTOCOL;
  }
  if (!resp->status) {
    snprintf(err, err_cap, "response %llu has no status", (unsigned long long)resp->id);
    return PDPC_E_PROTOCOL;
  }
  *status = (int)resp->status->code;
  *message = resp->status->message ? resp->status->message : "";
  if (*status != PDPC_STATUS_OK) {
    snprintf(err, err_cap, "pdpd answered %s: %s", pdpc_status_name(*status), *message);
    return PDPC_E_STATUS;
  }
  bool has_body = false;
  if (resp->body_case == want) {
    switch (want) {
    case PDP__V1__RESPONSE__BODY_LIST_ALLOWED:
      has_body = resp->list_allowed != NULL;
      break;
    case PDP__V1__RESPONSE__BODY_DEFINE_PERMISSIONS:
      has_body = resp->define_permissions != NULL;
      break;
    default:
      has_body = true; /* the other bodies are checked by their own callers */
      break;
    }
  }
  if (!has_body) {
    *status = PDPC_STATUS_UNSPECIFIED;
    snprintf(err, err_cap, "response %llu has status OK but no %s body",
             (unsigned long long)resp->id, what);
    return PDPC_E_PROTOCOL;
  }
  return 0;
}

int pdpc_decode_check(const uint8_t *body, size_t len, uint64_t expect_id, pdpc_result *result) {
  if (!result) return PDPC_E_INVAL;
  if (!body && len) {
    pdpc__result_fail(result, expect_id, "NULL body");
    return PDPC_E_INVAL;
  }
  Pdp__V1__Response *resp = pdp__v1__response__unpack(NULL, len, body);
  if (!resp) {
    pdpc__result_fail(result, expect_id, "malformed response (protobuf decode failed)");
    return PDPC_E_PROTOCOL;
  }
  char err[160];
  int rc = pdpc__result_from_response(result, resp, expect_id, err, sizeof err);
  pdp__v1__response__free_unpacked(resp, NULL);
  return rc;
}

/* define.c - DefinePermissions for the C client: validate and build the request, read the
 * answer, the call.
 *
 * Everything a caller passes is checked before anything is sent, and every error names
 * the field ("definitions[2].name: ..."): the service, each definition's name, tenancy,
 * provider bits and properties (a record, depth-limited like a context), and each deleted
 * name.  Strings are borrowed into the protobuf-c messages, which live in a pool freed
 * after packing.  A pdpc_define_result owns its message; `changed` is true only on an OK
 * answer that says so.
 */
#include "pdpc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pdpc_define_result_init(pdpc_define_result *r) {
  if (r) memset(r, 0, sizeof *r);
}

void pdpc_define_result_close(pdpc_define_result *r) {
  if (!r) return;
  free(r->message);
  memset(r, 0, sizeof *r);
}

static void define_fail(pdpc_define_result *r, uint64_t id, int status, const char *message) {
  pdpc_define_result_close(r);
  r->id = id;
  r->status = status;
  r->message = strdup(message ? message : "client error");
}

/* Fill r from a Response answering expect_id; err gets the words of a failure. */
static int define_fill(pdpc_define_result *r, const Pdp__V1__Response *resp, uint64_t expect_id,
                       char *err, size_t err_cap) {
  int status;
  const char *message;
  int rc = pdpc__answer_check(resp, expect_id, PDP__V1__RESPONSE__BODY_DEFINE_PERMISSIONS,
                              "define_permissions", &status, &message, err, err_cap);
  if (rc) {
    define_fail(r, expect_id, status, rc == PDPC_E_STATUS ? message : err);
    return rc;
  }
  const Pdp__V1__DefinePermissionsResponse *b = resp->define_permissions;
  pdpc_define_result_close(r);
  r->id = expect_id;
  r->status = status;
  if (!(r->message = strdup(message))) {
    snprintf(err, err_cap, "out of memory");
    define_fail(r, expect_id, PDPC_STATUS_UNSPECIFIED, err);
    return PDPC_E_NOMEM;
  }
  r->changed = b->changed;
  if (b->stamp.len == 32) {
    memcpy(r->stamp, b->stamp.data, 32);
    r->stamp_len = 32;
  }
  return 0;
}

#define PROVIDER_BITS (PDPC_PROVIDER_ROLE | PDPC_PROVIDER_USER | PDPC_PROVIDER_CLIENT)

static int build_definition(pdpc__pool *pool, const pdpc_definition *def, size_t i,
                            Pdp__V1__PermissionDefinition **out, char *err, size_t err_cap) {
  if (!def->name || !def->name[0]) {
    pdpc__set_err(err, err_cap, "definitions[%zu].name: must not be NULL or empty", i);
    return PDPC_E_INVAL;
  }
  /* The enum's value comes from the caller and may be any int. */
  int tenancy = (int)def->tenancy;
  if (tenancy < PDPC_TENANCY_BOTH || tenancy > PDPC_TENANCY_TENANT) {
    pdpc__set_err(err, err_cap, "definitions[%zu].tenancy: %d is not a tenancy (PDPC_TENANCY_*)", i,
                  tenancy);
    return PDPC_E_INVAL;
  }
  if (def->providers & ~(unsigned)PROVIDER_BITS) {
    pdpc__set_err(err, err_cap,
                  "definitions[%zu].providers: 0x%x has bits that are not providers "
                  "(PDPC_PROVIDER_*)",
                  i, def->providers);
    return PDPC_E_INVAL;
  }
  Pdp__V1__PermissionDefinition *d = pdpc__pool_alloc(pool, sizeof *d);
  if (!d) return PDPC_E_NOMEM;
  pdp__v1__permission_definition__init(d);
  d->name = (char *)def->name;
  if (def->display_name) d->display_name = (char *)def->display_name;
  if (def->group) d->group = (char *)def->group;
  if (def->parent) d->parent = (char *)def->parent;
  d->disabled = def->disabled;
  d->tenancy = (Pdp__V1__Tenancy)tenancy;
  if (def->providers) {
    d->allowed_providers = pdpc__pool_array(pool, 3, sizeof *d->allowed_providers);
    if (!d->allowed_providers) return PDPC_E_NOMEM;
    if (def->providers & PDPC_PROVIDER_ROLE)
      d->allowed_providers[d->n_allowed_providers++] = PDP__V1__PROVIDER__PROVIDER_ROLE;
    if (def->providers & PDPC_PROVIDER_USER)
      d->allowed_providers[d->n_allowed_providers++] = PDP__V1__PROVIDER__PROVIDER_USER;
    if (def->providers & PDPC_PROVIDER_CLIENT)
      d->allowed_providers[d->n_allowed_providers++] = PDP__V1__PROVIDER__PROVIDER_CLIENT;
  }
  if (def->properties) {
    char field[48];
    snprintf(field, sizeof field, "definitions[%zu].properties", i);
    Pdp__V1__Record *rec = NULL;
    int rc = pdpc__build_context(pool, def->properties, field, &rec, err, err_cap);
    if (rc) return rc;
    d->properties = rec->fields;
    d->n_properties = rec->n_fields;
  }
  *out = d;
  return 0;
}

static int build_define(pdpc__pool *pool, const char *service, const pdpc_definition *defs,
                        size_t n, const char *const *deleted, size_t n_deleted,
                        Pdp__V1__DefinePermissionsRequest **out, char *err, size_t err_cap) {
  if (!service || !service[0]) {
    pdpc__set_err(err, err_cap, "service: must not be NULL or empty");
    return PDPC_E_INVAL;
  }
  if (n && !defs) {
    pdpc__set_err(err, err_cap, "definitions: NULL array with n = %zu", n);
    return PDPC_E_INVAL;
  }
  if (n_deleted && !deleted) {
    pdpc__set_err(err, err_cap, "deleted: NULL array with n_deleted = %zu", n_deleted);
    return PDPC_E_INVAL;
  }
  Pdp__V1__DefinePermissionsRequest *d = pdpc__pool_alloc(pool, sizeof *d);
  if (!d) return PDPC_E_NOMEM;
  pdp__v1__define_permissions_request__init(d);
  d->service = (char *)service;
  if (n) {
    if (!(d->definitions = pdpc__pool_array(pool, n, sizeof *d->definitions))) return PDPC_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
      int rc = build_definition(pool, &defs[i], i, &d->definitions[i], err, err_cap);
      if (rc) return rc;
    }
    d->n_definitions = n;
  }
  if (n_deleted) {
    if (!(d->deleted = pdpc__pool_array(pool, n_deleted, sizeof *d->deleted))) return PDPC_E_NOMEM;
    for (size_t i = 0; i < n_deleted; i++) {
      if (!deleted[i] || !deleted[i][0]) {
        pdpc__set_err(err, err_cap, "deleted[%zu]: must not be NULL or empty", i);
        return PDPC_E_INVAL;
      }
      d->deleted[i] = (char *)deleted[i];
    }
    d->n_deleted = n_deleted;
  }
  *out = d;
  return 0;
}

int pdpc_encode_define_permissions(const char *service, const pdpc_definition *defs, size_t n,
                                   const char *const *deleted, size_t n_deleted, uint64_t id,
                                   uint8_t **frame, size_t *len, pdpc_error *err) {
  if (frame) *frame = NULL;
  if (!frame || !len) {
    pdpc__error_fill(err, PDPC_E_INVAL, "frame and len must not be NULL");
    return PDPC_E_INVAL;
  }
  char msg[200] = "";
  pdpc__pool pool = {0};
  Pdp__V1__DefinePermissionsRequest *d = NULL;
  int rc = build_define(&pool, service, defs, n, deleted, n_deleted, &d, msg, sizeof msg);
  if (rc == 0) {
    Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
    r.id = id;
    r.body_case = PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS;
    r.define_permissions = d;
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

int pdpc_decode_define_permissions(const uint8_t *body, size_t len, uint64_t expect_id,
                                   pdpc_define_result *out) {
  if (!out) return PDPC_E_INVAL;
  if (!body && len) {
    define_fail(out, expect_id, PDPC_STATUS_UNSPECIFIED, "NULL body");
    return PDPC_E_INVAL;
  }
  Pdp__V1__Response *resp = pdp__v1__response__unpack(NULL, len, body);
  if (!resp) {
    define_fail(out, expect_id, PDPC_STATUS_UNSPECIFIED,
                "malformed response (protobuf decode failed)");
    return PDPC_E_PROTOCOL;
  }
  char err[200];
  int rc = define_fill(out, resp, expect_id, err, sizeof err);
  pdp__v1__response__free_unpacked(resp, NULL);
  return rc;
}

int pdpc_define_permissions(pdpc_conn *c, const char *service, const pdpc_definition *defs,
                            size_t n, const char *const *deleted, size_t n_deleted,
                            pdpc_define_result *out) {
  if (!c || !out) {
    if (out) define_fail(out, 0, PDPC_STATUS_UNSPECIFIED, "define_permissions: connection is NULL");
    if (c) pdpc__conn_fail(c, PDPC_E_INVAL, 0, "define_permissions: result is NULL");
    return PDPC_E_INVAL;
  }
  pdpc__conn_begin(c);
  char msg[200] = "";
  pdpc__pool pool = {0};
  Pdp__V1__DefinePermissionsRequest *d = NULL;
  Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
  Pdp__V1__Response *resp = NULL;
  int rc = build_define(&pool, service, defs, n, deleted, n_deleted, &d, msg, sizeof msg);
  if (rc) {
    pdpc__conn_fail(c, rc, 0, "define_permissions: %s", rc == PDPC_E_NOMEM ? "out of memory" : msg);
  } else {
    r.body_case = PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS;
    r.define_permissions = d;
    rc = pdpc__exchange(c, &r, &resp);
  }
  pdpc__pool_free(&pool);
  if (rc) {
    define_fail(out, r.id, PDPC_STATUS_UNSPECIFIED, pdpc_conn_error(c)->message);
    return rc;
  }
  rc = define_fill(out, resp, r.id, msg, sizeof msg);
  pdp__v1__response__free_unpacked(resp, NULL);
  if (rc) pdpc__conn_fail(c, rc, out->status, "%s", msg);
  return rc;
}

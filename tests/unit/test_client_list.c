/* test_client_list.c - the C client's ListAllowed and DefinePermissions: encoding, decoding
 * and the calls over a socketpair.
 *
 * Requests are encoded by the client and read back with the generated protobuf-c decoder;
 * answers are built with protobuf-c, packed, and fed to the client's decoders, including
 * hostile ones (wrong ids, missing status or body, actions without a type, truncated and
 * corrupted bytes, an oversize length prefix).  The calls run against the other end of a
 * socketpair on which the test wrote the answer beforehand (the first request on a new
 * connection has id 1), and the test reads back what the client sent.
 */
#include "../../clients/c/pdpc.h"
#include "pdp.pb-c.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* A Response in caller storage: status, a list or define body, up to 8 actions. */
typedef struct answer {
  Pdp__V1__Response resp;
  Pdp__V1__Status st;
  Pdp__V1__ListAllowedResponse list;
  Pdp__V1__DefinePermissionsResponse def;
  Pdp__V1__CheckResponse check;
  Pdp__V1__EntityUid uids[8];
  Pdp__V1__EntityUid *uidp[8];
  uint8_t stamp[32];
} answer;

static void answer_status(answer *a, uint64_t id, Pdp__V1__Status__Code code, char *message) {
  memset(a, 0, sizeof *a);
  pdp__v1__response__init(&a->resp);
  pdp__v1__status__init(&a->st);
  pdp__v1__list_allowed_response__init(&a->list);
  pdp__v1__define_permissions_response__init(&a->def);
  pdp__v1__check_response__init(&a->check);
  a->st.code = code;
  a->st.message = message;
  a->resp.id = id;
  a->resp.status = &a->st;
  for (size_t i = 0; i < 32; i++) a->stamp[i] = (uint8_t)(0xa0 + i);
}

/* OK with a list_allowed body of Action::"<id>" for each of ids (n <= 8). */
static void answer_list(answer *a, uint64_t id, char *const *ids, size_t n) {
  answer_status(a, id, PDP__V1__STATUS__CODE__OK, "");
  for (size_t i = 0; i < n; i++) {
    pdp__v1__entity_uid__init(&a->uids[i]);
    a->uids[i].type = "Action";
    a->uids[i].id = ids[i];
    a->uidp[i] = &a->uids[i];
  }
  a->list.actions = a->uidp;
  a->list.n_actions = n;
  a->list.stamp.data = a->stamp;
  a->list.stamp.len = 32;
  a->resp.body_case = PDP__V1__RESPONSE__BODY_LIST_ALLOWED;
  a->resp.list_allowed = &a->list;
}

static void answer_define(answer *a, uint64_t id, bool changed) {
  answer_status(a, id, PDP__V1__STATUS__CODE__OK, "");
  a->def.changed = changed;
  a->def.stamp.data = a->stamp;
  a->def.stamp.len = 32;
  a->resp.body_case = PDP__V1__RESPONSE__BODY_DEFINE_PERMISSIONS;
  a->resp.define_permissions = &a->def;
}

/* The packed body (no length prefix), malloc'd. */
static uint8_t *pack(const answer *a, size_t *len) {
  *len = pdp__v1__response__get_packed_size(&a->resp);
  uint8_t *b = malloc(*len ? *len : 1);
  cr_assert_not_null(b);
  pdp__v1__response__pack(&a->resp, b);
  return b;
}

static int decode_list(const answer *a, uint64_t expect, pdpc_list_result *out) {
  size_t len;
  uint8_t *b = pack(a, &len);
  int rc = pdpc_decode_list_allowed(b, len, expect, out);
  free(b);
  return rc;
}

static int decode_define(const answer *a, uint64_t expect, pdpc_define_result *out) {
  size_t len;
  uint8_t *b = pack(a, &len);
  int rc = pdpc_decode_define_permissions(b, len, expect, out);
  free(b);
  return rc;
}

/* Decode a frame made by an encoder: check its length prefix, return the Request. */
static Pdp__V1__Request *unframe(uint8_t *frame, size_t len) {
  cr_assert_geq(len, 4);
  uint32_t n =
      (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 | frame[3];
  cr_assert_eq((size_t)n, len - 4, "length prefix %u for a frame of %zu bytes", n, len);
  Pdp__V1__Request *rq = pdp__v1__request__unpack(NULL, n, frame + 4);
  cr_assert_not_null(rq, "the frame does not decode as a Request");
  free(frame);
  return rq;
}

static const Pdp__V1__Value *field(Pdp__V1__Attribute **attrs, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(attrs[i]->key, key) == 0) return attrs[i]->value;
  cr_assert_fail("no attribute '%s'", key);
  return NULL;
}

/* A record holding `levels` records nested in each other. */
static pdpc_value *nested_record(int levels) {
  pdpc_value *top = pdpc_value_record(), *at = top;
  for (int i = 1; i < levels; i++) {
    pdpc_value *r = pdpc_value_record();
    cr_assert_eq(pdpc_record_put(at, "r", r), 0);
    at = r;
  }
  return top;
}

/* ---- encoding ListAllowed ----------------------------------------------------------------- */

Test(client_list_encode, list_request_round_trips_through_the_generated_decoder) {
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "ip", pdpc_value_extension("ip", "10.0.0.1")), 0);
  cr_assert_eq(pdpc_record_put(ctx, "n", pdpc_value_long(-3)), 0);
  pdpc_entity *doc = pdpc_entity_new("Document", "d1");
  cr_assert_eq(pdpc_entity_attr(doc, "owner", pdpc_value_entity("User", "alice")), 0);
  cr_assert_eq(pdpc_entity_parent(doc, "Folder", "f"), 0);
  const pdpc_entity *es[] = {doc};
  pdpc_list_req req = {.principal = {"User", "alice"},
                       .resource = {"Document", "d1"},
                       .context = ctx,
                       .entities = es,
                       .n_entities = 1,
                       .action_prefix = "orders."};
  uint8_t *frame = NULL;
  size_t len = 0;
  pdpc_error err;
  cr_assert_eq(pdpc_encode_list_allowed(&req, 42, &frame, &len, &err), 0, "%s", err.message);
  cr_assert_eq(err.code, 0);
  Pdp__V1__Request *rq = unframe(frame, len);
  cr_assert_eq(rq->id, 42);
  cr_assert_eq(rq->body_case, PDP__V1__REQUEST__BODY_LIST_ALLOWED);
  const Pdp__V1__ListAllowedRequest *l = rq->list_allowed;
  cr_assert_str_eq(l->principal->type, "User");
  cr_assert_str_eq(l->principal->id, "alice");
  cr_assert_str_eq(l->token, "");
  cr_assert_str_eq(l->resource->type, "Document");
  cr_assert_str_eq(l->resource->id, "d1");
  cr_assert_str_eq(l->action_prefix, "orders.");
  cr_assert_eq(l->context->n_fields, 2);
  const Pdp__V1__Value *ip = field(l->context->fields, 2, "ip");
  cr_assert_eq(ip->kind_case, PDP__V1__VALUE__KIND_EXTENSION);
  cr_assert_str_eq(ip->extension->arg, "10.0.0.1");
  cr_assert_eq(field(l->context->fields, 2, "n")->long_, -3);
  cr_assert_eq(l->n_entities, 1);
  cr_assert_str_eq(l->entities[0]->uid->id, "d1");
  cr_assert_str_eq(field(l->entities[0]->attrs, l->entities[0]->n_attrs, "owner")->entity->id,
                   "alice");
  cr_assert_eq(l->entities[0]->n_parents, 1);
  cr_assert_str_eq(l->entities[0]->parents[0]->type, "Folder");
  pdp__v1__request__free_unpacked(rq, NULL);
  pdpc_entity_free(doc);
  pdpc_value_free(ctx);
}

Test(client_list_encode, a_token_stands_in_for_the_principal_and_no_prefix_means_all) {
  pdpc_list_req req = {.token = "eyJhbGciOi.x.y", .resource = {"Document", "d1"}};
  uint8_t *frame = NULL;
  size_t len = 0;
  cr_assert_eq(pdpc_encode_list_allowed(&req, 7, &frame, &len, NULL), 0);
  Pdp__V1__Request *rq = unframe(frame, len);
  cr_assert_null(rq->list_allowed->principal);
  cr_assert_str_eq(rq->list_allowed->token, "eyJhbGciOi.x.y");
  cr_assert_str_eq(rq->list_allowed->action_prefix, "");
  cr_assert_null(rq->list_allowed->context);
  cr_assert_eq(rq->list_allowed->n_entities, 0);
  pdp__v1__request__free_unpacked(rq, NULL);
}

/* Encode req and expect PDPC_E_INVAL with words naming `field`, and no frame. */
static void expect_list_refused(const pdpc_list_req *req, const char *field) {
  uint8_t *frame = (uint8_t *)"not touched";
  size_t len = 0;
  pdpc_error err;
  cr_assert_eq(pdpc_encode_list_allowed(req, 1, &frame, &len, &err), PDPC_E_INVAL,
               "expected a refusal naming %s", field);
  cr_assert_null(frame);
  cr_assert_eq(err.code, PDPC_E_INVAL);
  cr_assert_not_null(strstr(err.message, field), "'%s' does not name %s", err.message, field);
}

Test(client_list_encode, bad_list_requests_are_refused_with_the_field_named) {
  expect_list_refused(NULL, "request is NULL");
  expect_list_refused(&(pdpc_list_req){.resource = {"Document", "d1"}}, "principal");
  expect_list_refused(&(pdpc_list_req){.principal = {"User", NULL}, .resource = {"Doc", "d1"}},
                      "principal");
  expect_list_refused(&(pdpc_list_req){.principal = {"User", "a"}, .resource = {"", "d1"}},
                      "resource");
  pdpc_value *set = pdpc_value_set();
  expect_list_refused(
      &(pdpc_list_req){.principal = {"User", "a"}, .resource = {"Doc", "d1"}, .context = set},
      "context: must be a record");
  pdpc_value_free(set);
  pdpc_value *deep = nested_record(PDPC_MAX_VALUE_DEPTH + 1);
  expect_list_refused(
      &(pdpc_list_req){.principal = {"User", "a"}, .resource = {"Doc", "d1"}, .context = deep},
      "context: value nested deeper");
  pdpc_value_free(deep);
  expect_list_refused(
      &(pdpc_list_req){.principal = {"User", "a"}, .resource = {"Doc", "d1"}, .n_entities = 2},
      "entities: NULL array");
  pdpc_entity *e = pdpc_entity_new("Doc", "d1");
  const pdpc_entity *es[] = {e, NULL};
  expect_list_refused(
      &(pdpc_list_req){
          .principal = {"User", "a"}, .resource = {"Doc", "d1"}, .entities = es, .n_entities = 2},
      "entities[1]: NULL");
  pdpc_entity_free(e);

  pdpc_error err;
  size_t len;
  cr_assert_eq(pdpc_encode_list_allowed(
                   &(pdpc_list_req){.principal = {"User", "a"}, .resource = {"Doc", "d1"}}, 1, NULL,
                   &len, &err),
               PDPC_E_INVAL);
  cr_assert_not_null(strstr(err.message, "frame"));
}

Test(client_list_encode, the_deepest_allowed_context_is_sent) {
  pdpc_value *ctx = nested_record(PDPC_MAX_VALUE_DEPTH);
  pdpc_list_req req = {.principal = {"User", "a"}, .resource = {"Doc", "d1"}, .context = ctx};
  uint8_t *frame = NULL;
  size_t len = 0;
  pdpc_error err;
  cr_assert_eq(pdpc_encode_list_allowed(&req, 1, &frame, &len, &err), 0, "%s", err.message);
  pdp__v1__request__free_unpacked(unframe(frame, len), NULL);
  pdpc_value_free(ctx);
}

/* ---- encoding DefinePermissions ----------------------------------------------------------- */

Test(client_define_encode, definitions_round_trip_with_tenancy_providers_and_properties) {
  pdpc_value *props = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(props, "weight", pdpc_value_long(5)), 0);
  pdpc_value *tags = pdpc_value_set();
  cr_assert_eq(pdpc_set_add(tags, pdpc_value_string("billing")), 0);
  cr_assert_eq(pdpc_record_put(props, "tags", tags), 0);
  pdpc_definition defs[] = {
      {.name = "orders.edit",
       .display_name = "Edit orders",
       .group = "orders",
       .parent = "orders.view",
       .disabled = true,
       .tenancy = PDPC_TENANCY_TENANT,
       .providers = PDPC_PROVIDER_ROLE | PDPC_PROVIDER_CLIENT,
       .properties = props},
      {.name = "orders.view"},
  };
  const char *deleted[] = {"orders.old", "orders.older"};
  uint8_t *frame = NULL;
  size_t len = 0;
  pdpc_error err;
  cr_assert_eq(
      pdpc_encode_define_permissions("orders-svc", defs, 2, deleted, 2, 9, &frame, &len, &err), 0,
      "%s", err.message);
  Pdp__V1__Request *rq = unframe(frame, len);
  cr_assert_eq(rq->id, 9);
  cr_assert_eq(rq->body_case, PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS);
  const Pdp__V1__DefinePermissionsRequest *d = rq->define_permissions;
  cr_assert_str_eq(d->service, "orders-svc");
  cr_assert_eq(d->n_definitions, 2);
  const Pdp__V1__PermissionDefinition *a = d->definitions[0], *b = d->definitions[1];
  cr_assert_str_eq(a->name, "orders.edit");
  cr_assert_str_eq(a->display_name, "Edit orders");
  cr_assert_str_eq(a->group, "orders");
  cr_assert_str_eq(a->parent, "orders.view");
  cr_assert(a->disabled);
  cr_assert_eq(a->tenancy, PDP__V1__TENANCY__TENANCY_TENANT);
  cr_assert_eq(a->n_allowed_providers, 2);
  cr_assert_eq(a->allowed_providers[0], PDP__V1__PROVIDER__PROVIDER_ROLE);
  cr_assert_eq(a->allowed_providers[1], PDP__V1__PROVIDER__PROVIDER_CLIENT);
  cr_assert_eq(a->n_properties, 2);
  cr_assert_eq(field(a->properties, 2, "weight")->long_, 5);
  const Pdp__V1__Value *t = field(a->properties, 2, "tags");
  cr_assert_eq(t->kind_case, PDP__V1__VALUE__KIND_SET);
  cr_assert_str_eq(t->set->items[0]->string, "billing");
  cr_assert_str_eq(b->name, "orders.view");
  cr_assert_str_eq(b->display_name, "");
  cr_assert_str_eq(b->group, "");
  cr_assert_not(b->disabled);
  cr_assert_eq(b->tenancy, PDP__V1__TENANCY__TENANCY_BOTH);
  cr_assert_eq(b->n_allowed_providers, 0, "no provider bits means all providers: none listed");
  cr_assert_eq(b->n_properties, 0);
  cr_assert_eq(d->n_deleted, 2);
  cr_assert_str_eq(d->deleted[0], "orders.old");
  cr_assert_str_eq(d->deleted[1], "orders.older");
  pdp__v1__request__free_unpacked(rq, NULL);
  pdpc_value_free(props);
}

Test(client_define_encode, every_provider_bit_becomes_its_provider_in_order) {
  pdpc_definition def = {.name = "x",
                         .tenancy = PDPC_TENANCY_HOST,
                         .providers =
                             PDPC_PROVIDER_CLIENT | PDPC_PROVIDER_USER | PDPC_PROVIDER_ROLE};
  uint8_t *frame = NULL;
  size_t len = 0;
  cr_assert_eq(pdpc_encode_define_permissions("svc", &def, 1, NULL, 0, 1, &frame, &len, NULL), 0);
  Pdp__V1__Request *rq = unframe(frame, len);
  const Pdp__V1__PermissionDefinition *d = rq->define_permissions->definitions[0];
  cr_assert_eq(d->tenancy, PDP__V1__TENANCY__TENANCY_HOST);
  cr_assert_eq(d->n_allowed_providers, 3);
  cr_assert_eq(d->allowed_providers[0], PDP__V1__PROVIDER__PROVIDER_ROLE);
  cr_assert_eq(d->allowed_providers[1], PDP__V1__PROVIDER__PROVIDER_USER);
  cr_assert_eq(d->allowed_providers[2], PDP__V1__PROVIDER__PROVIDER_CLIENT);
  pdp__v1__request__free_unpacked(rq, NULL);
}

Test(client_define_encode, a_service_with_nothing_to_define_or_delete_is_a_valid_request) {
  uint8_t *frame = NULL;
  size_t len = 0;
  cr_assert_eq(pdpc_encode_define_permissions("svc", NULL, 0, NULL, 0, 3, &frame, &len, NULL), 0);
  Pdp__V1__Request *rq = unframe(frame, len);
  cr_assert_eq(rq->body_case, PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS);
  cr_assert_str_eq(rq->define_permissions->service, "svc");
  cr_assert_eq(rq->define_permissions->n_definitions, 0);
  cr_assert_eq(rq->define_permissions->n_deleted, 0);
  pdp__v1__request__free_unpacked(rq, NULL);
}

static void expect_define_refused(const char *service, const pdpc_definition *defs, size_t n,
                                  const char *const *deleted, size_t n_deleted, const char *words) {
  uint8_t *frame = (uint8_t *)"not touched";
  size_t len = 0;
  pdpc_error err;
  cr_assert_eq(
      pdpc_encode_define_permissions(service, defs, n, deleted, n_deleted, 1, &frame, &len, &err),
      PDPC_E_INVAL, "expected a refusal: %s", words);
  cr_assert_null(frame);
  cr_assert_not_null(strstr(err.message, words), "'%s' does not say '%s'", err.message, words);
}

Test(client_define_encode, bad_definitions_are_refused_with_the_field_named) {
  pdpc_definition ok = {.name = "ok"};
  expect_define_refused(NULL, &ok, 1, NULL, 0, "service: must not be NULL or empty");
  expect_define_refused("", &ok, 1, NULL, 0, "service: must not be NULL or empty");
  expect_define_refused("svc", NULL, 2, NULL, 0, "definitions: NULL array with n = 2");
  expect_define_refused("svc", &ok, 1, NULL, 3, "deleted: NULL array with n_deleted = 3");

  pdpc_definition two[2] = {{.name = "ok"}, {.name = NULL}};
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[1].name: must not be NULL or empty");
  two[1].name = "";
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[1].name");
  two[1].name = "b";
  two[1].tenancy = (pdpc_tenancy)7;
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[1].tenancy: 7 is not a tenancy");
  two[1].tenancy = (pdpc_tenancy)-1;
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[1].tenancy: -1");
  two[1].tenancy = PDPC_TENANCY_BOTH;
  two[1].providers = 0x10 | PDPC_PROVIDER_USER;
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[1].providers: 0x12");
  two[1].providers = 0;

  pdpc_value *str = pdpc_value_string("not a record");
  two[0].properties = str;
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[0].properties: must be a record");
  pdpc_value_free(str);
  pdpc_value *deep = nested_record(PDPC_MAX_VALUE_DEPTH + 1);
  two[0].properties = deep;
  expect_define_refused("svc", two, 2, NULL, 0, "definitions[0].properties: value nested deeper");
  pdpc_value_free(deep);
  two[0].properties = NULL;

  const char *deleted[] = {"gone", NULL};
  expect_define_refused("svc", two, 2, deleted, 2, "deleted[1]: must not be NULL or empty");
  const char *deleted2[] = {"", "gone"};
  expect_define_refused("svc", two, 2, deleted2, 2, "deleted[0]");
}

/* ---- decoding ListAllowed answers --------------------------------------------------------- */

Test(client_list_decode, ok_answer_lists_its_actions_and_stamp) {
  answer a;
  char *ids[] = {"doc.edit", "doc.view", "we\"ird\n"};
  answer_list(&a, 5, ids, 3);
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 5, &r), 0, "%s", r.message);
  cr_assert_eq(r.id, 5);
  cr_assert_eq(r.status, PDPC_STATUS_OK);
  cr_assert_eq(r.n_actions, 3);
  for (size_t i = 0; i < 3; i++) {
    cr_assert_str_eq(r.actions[i].type, "Action");
    cr_assert_str_eq(r.actions[i].id, ids[i]);
  }
  cr_assert_eq(r.stamp_len, 32);
  cr_assert_eq(memcmp(r.stamp, a.stamp, 32), 0);
  pdpc_list_result_close(&r);
  cr_assert_null(r.actions);
  cr_assert_eq(r.n_actions, 0);
}

Test(client_list_decode, ok_answer_without_actions_is_an_empty_list_not_an_error) {
  answer a;
  answer_list(&a, 1, NULL, 0);
  a.list.stamp.len = 31; /* a stamp of the wrong length is not a stamp */
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 1, &r), 0, "%s", r.message);
  cr_assert_eq(r.n_actions, 0);
  cr_assert_eq(r.stamp_len, 0);
  cr_assert_not_null(r.message);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, unimplemented_status_is_an_error_with_the_servers_words_and_no_actions) {
  answer a;
  char *ids[] = {"doc.edit"};
  answer_list(&a, 3, ids, 1); /* a non-OK status carrying a body: the body must be ignored */
  a.st.code = PDP__V1__STATUS__CODE__UNIMPLEMENTED;
  a.st.message = "list_allowed: not served by this build yet";
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 3, &r), PDPC_E_STATUS);
  cr_assert_eq(r.status, PDPC_STATUS_UNIMPLEMENTED);
  cr_assert_str_eq(r.message, "list_allowed: not served by this build yet");
  cr_assert_eq(r.n_actions, 0);
  cr_assert_null(r.actions);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, a_status_number_pdpd_does_not_know_is_an_error_too) {
  answer a;
  answer_status(&a, 3, (Pdp__V1__Status__Code)42, "future");
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 3, &r), PDPC_E_STATUS);
  cr_assert_eq(r.status, 42);
  cr_assert_eq(r.n_actions, 0);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, wrong_id_is_a_protocol_error) {
  answer a;
  char *ids[] = {"doc.edit"};
  answer_list(&a, 8, ids, 1);
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 7, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.status, PDPC_STATUS_UNSPECIFIED);
  cr_assert_eq(r.n_actions, 0);
  cr_assert_not_null(strstr(r.message, "response id 8 does not match request id 7"), "%s",
                     r.message);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, id_zero_error_answer_keeps_the_servers_status_and_words) {
  answer a;
  answer_status(&a, 0, PDP__V1__STATUS__CODE__FRAME_TOO_LARGE, "frame larger than max-frame");
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 4, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.status, PDPC_STATUS_FRAME_TOO_LARGE);
  cr_assert_not_null(strstr(r.message, "FRAME_TOO_LARGE: frame larger than max-frame"), "%s",
                     r.message);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, ok_without_a_list_body_is_a_protocol_error) {
  answer a;
  answer_status(&a, 2, PDP__V1__STATUS__CODE__OK, "");
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 2, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.status, PDPC_STATUS_UNSPECIFIED);
  cr_assert_not_null(strstr(r.message, "no list_allowed body"), "%s", r.message);
  /* a body for another request: a check's answer where a list was asked for */
  a.check.decision = PDP__V1__DECISION__ALLOW;
  a.resp.body_case = PDP__V1__RESPONSE__BODY_CHECK;
  a.resp.check = &a.check;
  cr_assert_eq(decode_list(&a, 2, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.n_actions, 0);
  /* and a define_permissions answer */
  answer_define(&a, 2, true);
  cr_assert_eq(decode_list(&a, 2, &r), PDPC_E_PROTOCOL);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, missing_status_is_a_protocol_error_even_with_actions) {
  answer a;
  char *ids[] = {"doc.edit"};
  answer_list(&a, 2, ids, 1);
  a.resp.status = NULL;
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 2, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.n_actions, 0);
  cr_assert_not_null(strstr(r.message, "no status"), "%s", r.message);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, an_action_without_a_type_refuses_the_whole_list) {
  answer a;
  char *ids[] = {"doc.edit", "doc.view"};
  answer_list(&a, 2, ids, 2);
  a.uids[1].type = "";
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(decode_list(&a, 2, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.n_actions, 0);
  cr_assert_not_null(strstr(r.message, "actions[1] has no type"), "%s", r.message);
  pdpc_list_result_close(&r);
}

Test(client_list_decode, undecodable_bytes_and_null_arguments_fail_cleanly) {
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  const uint8_t garbage[] = {0xff, 0xff, 0xff};
  cr_assert_eq(pdpc_decode_list_allowed(garbage, sizeof garbage, 1, &r), PDPC_E_PROTOCOL);
  cr_assert_not_null(strstr(r.message, "malformed"), "%s", r.message);
  cr_assert_eq(pdpc_decode_list_allowed(NULL, 4, 1, &r), PDPC_E_INVAL);
  cr_assert_eq(r.n_actions, 0);
  cr_assert_eq(pdpc_decode_list_allowed(garbage, sizeof garbage, 1, NULL), PDPC_E_INVAL);
  /* zero bytes decode as an empty Response: no status, a protocol error */
  cr_assert_eq(pdpc_decode_list_allowed(NULL, 0, 1, &r), PDPC_E_PROTOCOL);
  pdpc_list_result_close(&r);
  pdpc_list_result_close(NULL);
  pdpc_list_result_init(NULL);
}

/* Every prefix and every single-byte corruption of a good answer: the decoder returns a
 * code and a filled result, and only a 0 ever lists actions. */
Test(client_list_decode, truncated_and_corrupted_answers_never_crash_or_list_on_failure) {
  answer a;
  char *ids[] = {"doc.edit", "doc.view", "doc.delete"};
  answer_list(&a, 6, ids, 3);
  size_t len;
  uint8_t *good = pack(&a, &len);
  uint8_t *buf = malloc(len);
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  size_t ok = 0;
  for (size_t cut = 0; cut <= len; cut++) {
    memcpy(buf, good, cut);
    int rc = pdpc_decode_list_allowed(buf, cut, 6, &r);
    cr_assert(rc == 0 || rc == PDPC_E_PROTOCOL, "cut at %zu: %d", cut, rc);
    cr_assert_not_null(r.message);
    if (rc) cr_assert_eq(r.n_actions, 0, "cut at %zu", cut);
    ok += rc == 0;
  }
  cr_assert_geq(ok, 1, "the whole answer decodes");
  for (size_t at = 0; at < len; at++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(buf, good, len);
      buf[at] ^= (uint8_t)(1u << bit);
      int rc = pdpc_decode_list_allowed(buf, len, 6, &r);
      cr_assert(rc <= 0);
      cr_assert_not_null(r.message);
      if (rc) cr_assert_eq(r.n_actions, 0);
      for (size_t i = 0; i < r.n_actions; i++)
        cr_assert(r.actions[i].type && r.actions[i].type[0] && r.actions[i].id);
    }
  }
  pdpc_list_result_close(&r);
  free(buf);
  free(good);
}

/* ---- decoding DefinePermissions answers --------------------------------------------------- */

Test(client_define_decode, ok_answer_reads_changed_and_stamp) {
  answer a;
  answer_define(&a, 11, true);
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  cr_assert_eq(decode_define(&a, 11, &r), 0, "%s", r.message);
  cr_assert_eq(r.id, 11);
  cr_assert_eq(r.status, PDPC_STATUS_OK);
  cr_assert(r.changed);
  cr_assert_eq(r.stamp_len, 32);
  cr_assert_eq(memcmp(r.stamp, a.stamp, 32), 0);
  answer_define(&a, 12, false); /* refilled: the old contents are freed */
  cr_assert_eq(decode_define(&a, 12, &r), 0, "%s", r.message);
  cr_assert_not(r.changed);
  pdpc_define_result_close(&r);
  cr_assert_null(r.message);
}

Test(client_define_decode, non_ok_status_is_an_error_and_never_reads_as_changed) {
  answer a;
  answer_define(&a, 2, true);
  a.st.code = PDP__V1__STATUS__CODE__UNIMPLEMENTED;
  a.st.message = "define_permissions: not served by this build yet";
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  cr_assert_eq(decode_define(&a, 2, &r), PDPC_E_STATUS);
  cr_assert_eq(r.status, PDPC_STATUS_UNIMPLEMENTED);
  cr_assert_not(r.changed);
  cr_assert_eq(r.stamp_len, 0);
  cr_assert_str_eq(r.message, "define_permissions: not served by this build yet");
  pdpc_define_result_close(&r);
}

Test(client_define_decode, wrong_id_wrong_body_and_garbage_are_protocol_errors) {
  answer a;
  answer_define(&a, 3, true);
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  cr_assert_eq(decode_define(&a, 4, &r), PDPC_E_PROTOCOL);
  cr_assert_not(r.changed);
  answer_list(&a, 4, NULL, 0);
  cr_assert_eq(decode_define(&a, 4, &r), PDPC_E_PROTOCOL);
  cr_assert_not_null(strstr(r.message, "no define_permissions body"), "%s", r.message);
  const uint8_t garbage[] = {0x0a, 0x80};
  cr_assert_eq(pdpc_decode_define_permissions(garbage, sizeof garbage, 4, &r), PDPC_E_PROTOCOL);
  cr_assert_not(r.changed);
  cr_assert_eq(pdpc_decode_define_permissions(garbage, sizeof garbage, 4, NULL), PDPC_E_INVAL);
  pdpc_define_result_close(&r);
}

/* ---- the calls over a socketpair ---------------------------------------------------------- */

static int server_fd = -1;
static pdpc_conn *conn;

static void conn_up(void) {
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pdpc_error err;
  conn = pdpc_conn_from_fd(sv[0], 5000, &err);
  cr_assert_not_null(conn, "%s", err.message);
  server_fd = sv[1];
}

static void conn_down(void) {
  pdpc_close(conn);
  conn = NULL;
  if (server_fd >= 0) close(server_fd);
  server_fd = -1;
}

static void server_write(const void *p, size_t n) {
  cr_assert_eq(send(server_fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Queue a framed answer for the client to read. */
static void server_answer(const answer *a) {
  size_t len;
  uint8_t *b = pack(a, &len);
  uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  server_write(h, 4);
  server_write(b, len);
  free(b);
}

/* The next request the client wrote (already in the socket), or NULL when there is none. */
static Pdp__V1__Request *server_read(void) {
  uint8_t h[4];
  ssize_t got = recv(server_fd, h, 4, MSG_DONTWAIT);
  if (got <= 0) return NULL;
  cr_assert_eq(got, 4);
  size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  uint8_t *body = malloc(n ? n : 1);
  cr_assert_eq(recv(server_fd, body, n, MSG_WAITALL), (ssize_t)n);
  Pdp__V1__Request *rq = pdp__v1__request__unpack(NULL, n, body);
  free(body);
  cr_assert_not_null(rq);
  return rq;
}

TestSuite(client_list_call, .init = conn_up, .fini = conn_down);

Test(client_list_call, the_call_sends_a_list_request_and_reads_the_answer) {
  answer a;
  char *ids[] = {"orders.view", "orders.edit"};
  answer_list(&a, 1, ids, 2);
  server_answer(&a);
  pdpc_list_req req = {
      .principal = {"User", "alice"}, .resource = {"Order", "o1"}, .action_prefix = "orders."};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), 0, "%s", pdpc_conn_error(conn)->message);
  cr_assert_eq(pdpc_conn_error(conn)->code, 0);
  cr_assert_eq(r.n_actions, 2);
  cr_assert_str_eq(r.actions[1].id, "orders.edit");
  Pdp__V1__Request *rq = server_read();
  cr_assert_not_null(rq);
  cr_assert_eq(rq->id, 1);
  cr_assert_eq(rq->body_case, PDP__V1__REQUEST__BODY_LIST_ALLOWED);
  cr_assert_str_eq(rq->list_allowed->principal->id, "alice");
  cr_assert_str_eq(rq->list_allowed->resource->type, "Order");
  cr_assert_str_eq(rq->list_allowed->action_prefix, "orders.");
  pdp__v1__request__free_unpacked(rq, NULL);
  pdpc_list_result_close(&r);
}

Test(client_list_call, unimplemented_is_an_error_that_leaves_the_connection_usable) {
  answer a;
  answer_status(&a, 1, PDP__V1__STATUS__CODE__UNIMPLEMENTED,
                "list_allowed: not served by this build yet");
  server_answer(&a);
  answer_define(&a, 2, true);
  server_answer(&a);
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {"Order", "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_STATUS);
  const pdpc_error *e = pdpc_conn_error(conn);
  cr_assert_eq(e->code, PDPC_E_STATUS);
  cr_assert_eq(e->status, PDPC_STATUS_UNIMPLEMENTED);
  cr_assert_str_eq(e->message,
                   "pdpd answered UNIMPLEMENTED: list_allowed: not served by this build yet");
  cr_assert_eq(r.status, PDPC_STATUS_UNIMPLEMENTED);
  cr_assert_str_eq(r.message, "list_allowed: not served by this build yet");
  cr_assert_eq(r.id, 1);
  pdpc_list_result_close(&r);

  pdpc_definition def = {.name = "orders.view"};
  pdpc_define_result d;
  pdpc_define_result_init(&d);
  cr_assert_eq(pdpc_define_permissions(conn, "orders", &def, 1, NULL, 0, &d), 0, "%s",
               pdpc_conn_error(conn)->message);
  cr_assert_eq(pdpc_conn_error(conn)->code, 0);
  cr_assert_eq(pdpc_conn_error(conn)->status, 0);
  cr_assert(d.changed);
  cr_assert_eq(d.id, 2);
  pdpc_define_result_close(&d);
}

Test(client_list_call, the_define_call_sends_its_definitions) {
  answer a;
  answer_define(&a, 1, false);
  server_answer(&a);
  pdpc_definition defs[] = {{.name = "a", .tenancy = PDPC_TENANCY_HOST},
                            {.name = "b", .providers = PDPC_PROVIDER_USER}};
  const char *deleted[] = {"c"};
  pdpc_define_result d;
  pdpc_define_result_init(&d);
  cr_assert_eq(pdpc_define_permissions(conn, "svc", defs, 2, deleted, 1, &d), 0, "%s",
               pdpc_conn_error(conn)->message);
  cr_assert_not(d.changed);
  cr_assert_eq(d.stamp_len, 32);
  Pdp__V1__Request *rq = server_read();
  cr_assert_not_null(rq);
  cr_assert_eq(rq->body_case, PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS);
  cr_assert_eq(rq->define_permissions->n_definitions, 2);
  cr_assert_str_eq(rq->define_permissions->definitions[1]->name, "b");
  cr_assert_eq(rq->define_permissions->definitions[1]->allowed_providers[0],
               PDP__V1__PROVIDER__PROVIDER_USER);
  cr_assert_str_eq(rq->define_permissions->deleted[0], "c");
  pdp__v1__request__free_unpacked(rq, NULL);
  pdpc_define_result_close(&d);
}

Test(client_list_call, an_invalid_request_is_refused_before_anything_is_sent) {
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {NULL, "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_INVAL);
  cr_assert_str_eq(pdpc_conn_error(conn)->message,
                   "list_allowed: resource: entity uid needs a type and an id");
  cr_assert_str_eq(r.message, pdpc_conn_error(conn)->message);
  cr_assert_eq(r.status, PDPC_STATUS_UNSPECIFIED);
  pdpc_define_result d;
  pdpc_define_result_init(&d);
  pdpc_definition def = {.name = NULL};
  cr_assert_eq(pdpc_define_permissions(conn, "svc", &def, 1, NULL, 0, &d), PDPC_E_INVAL);
  cr_assert_not_null(strstr(d.message, "definitions[0].name"), "%s", d.message);
  cr_assert_null(server_read(), "nothing was written");
  /* and the connection still works */
  answer a;
  answer_list(&a, 1, NULL, 0);
  server_answer(&a);
  req.resource.type = "Order";
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), 0, "%s", pdpc_conn_error(conn)->message);
  pdpc_list_result_close(&r);
  pdpc_define_result_close(&d);
}

Test(client_list_call, a_wrong_id_breaks_the_connection) {
  answer a;
  answer_list(&a, 5, NULL, 0);
  server_answer(&a);
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {"Order", "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_PROTOCOL);
  cr_assert_not_null(strstr(pdpc_conn_error(conn)->message, "does not match"), "%s",
                     pdpc_conn_error(conn)->message);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_STATE);
  cr_assert_eq(r.n_actions, 0);
  pdpc_define_result d;
  pdpc_define_result_init(&d);
  cr_assert_eq(pdpc_define_permissions(conn, "svc", NULL, 0, NULL, 0, &d), PDPC_E_STATE);
  cr_assert_not_null(d.message);
  pdpc_define_result_close(&d);
  pdpc_list_result_close(&r);
}

Test(client_list_call, an_oversize_answer_is_refused_before_allocating) {
  uint8_t h[4] = {0x7f, 0xff, 0xff, 0xff};
  server_write(h, 4);
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {"Order", "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_PROTOCOL);
  cr_assert_not_null(strstr(r.message, "max_frame"), "%s", r.message);
  cr_assert_eq(r.n_actions, 0);
  pdpc_list_result_close(&r);
}

Test(client_list_call, a_list_longer_than_max_frame_is_refused) {
  pdpc_set_max_frame(conn, 64);
  answer a;
  char *ids[] = {"an.action.with.a.rather.long.name.one", "an.action.with.a.rather.long.name.two"};
  answer_list(&a, 1, ids, 2);
  server_answer(&a);
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {"Order", "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_PROTOCOL);
  cr_assert_eq(r.n_actions, 0);
  pdpc_list_result_close(&r);
}

Test(client_list_call, a_server_that_closed_without_answering_is_reported) {
  close(server_fd);
  server_fd = -1;
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {"Order", "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(conn, &req, &r), PDPC_E_CLOSED);
  cr_assert_not_null(strstr(r.message, "closed"), "%s", r.message);
  pdpc_list_result_close(&r);
}

Test(client_list_call, null_connection_or_result_is_refused) {
  pdpc_list_req req = {.principal = {"User", "alice"}, .resource = {"Order", "o1"}};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  cr_assert_eq(pdpc_list_allowed(NULL, &req, &r), PDPC_E_INVAL);
  cr_assert_not_null(r.message);
  cr_assert_eq(pdpc_list_allowed(conn, &req, NULL), PDPC_E_INVAL);
  cr_assert_eq(pdpc_conn_error(conn)->code, PDPC_E_INVAL);
  cr_assert_eq(pdpc_list_allowed(conn, NULL, &r), PDPC_E_INVAL);
  cr_assert_not_null(strstr(r.message, "request is NULL"), "%s", r.message);
  pdpc_define_result d;
  pdpc_define_result_init(&d);
  cr_assert_eq(pdpc_define_permissions(NULL, "svc", NULL, 0, NULL, 0, &d), PDPC_E_INVAL);
  cr_assert_eq(pdpc_define_permissions(conn, "svc", NULL, 0, NULL, 0, NULL), PDPC_E_INVAL);
  cr_assert_null(server_read(), "nothing was written");
  pdpc_define_result_close(&d);
  pdpc_list_result_close(&r);
}

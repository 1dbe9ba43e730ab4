/* test_daemon_check.c - the real pdpd answers checks, batches, health and status, and
 * refuses bad requests with a status naming the problem. */
#include <criterion/criterion.h>

#include "daemon_util.h"

static du_daemon d;
static int fd = -1;

static void setup(void) {
  cr_assert(du_init(&d, DU_POLICIES, DU_ENTITIES));
  if (!du_start(&d, NULL)) {
    char *log = du_read_file(d.log);
    du_stop(&d); /* a failed init may skip the teardown: clean up here */
    du_cleanup(&d);
    cr_assert_fail("pdpd did not start: %s", log);
  }
  fd = du_connect(d.sock);
  cr_assert_geq(fd, 0);
}

static void teardown(void) {
  if (fd >= 0) close(fd);
  fd = -1;
  du_finish(&d); /* fails the run unless pdpd exited 0 */
}

TestSuite(check, .init = setup, .fini = teardown, .timeout = 120);

static Pdp__V1__Response *ask(const Pdp__V1__Request *rq) {
  cr_assert(du_send(fd, rq));
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r, "no answer");
  cr_assert_not_null(r->status);
  cr_assert_eq(r->id, rq->id);
  return r;
}

static Pdp__V1__Response *ask_check(du_check *c) {
  Pdp__V1__Response *r = ask(&c->rq);
  return r;
}

static void expect_status(Pdp__V1__Response *r, Pdp__V1__Status__Code code, const char *msg_part) {
  cr_assert_eq(r->status->code, code, "code %d (%s)", r->status->code, r->status->message);
  if (msg_part) cr_assert(strstr(r->status->message, msg_part), "message: %s", r->status->message);
  if (code != PDP__V1__STATUS__CODE__OK)
    cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET,
                 "a refused request carries no body");
}

Test(check, allowed_check_names_the_permit_and_carries_the_stamp) {
  du_check c;
  du_check_init(&c, 11, "alice", "view", "d1");
  Pdp__V1__Response *r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY_CHECK);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_eq(r->check->n_reason, 1);
  cr_assert_str_eq(r->check->reason[0], "alice-views");
  cr_assert_eq(r->check->n_errors, 0);
  cr_assert_eq(r->check->stamp.len, 32);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, forbid_wins_and_is_the_reason) {
  du_check c;
  du_check_init(&c, 12, "alice", "view", "d2");
  Pdp__V1__Response *r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__DENY);
  cr_assert_eq(r->check->n_reason, 1);
  cr_assert_str_eq(r->check->reason[0], "no-locked");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, owner_may_edit_and_others_are_denied_by_default) {
  du_check c;
  du_check_init(&c, 13, "bob", "edit", "d1");
  Pdp__V1__Response *r = ask_check(&c);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_str_eq(r->check->reason[0], "owner-edits");
  pdp__v1__response__free_unpacked(r, NULL);
  du_check_init(&c, 14, "carol", "edit", "d1");
  r = ask_check(&c);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__DENY);
  cr_assert_eq(r->check->n_reason, 0, "a default deny has no reason");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, policies_that_error_are_skipped_and_reported) {
  du_check c;
  du_check_init(&c, 15, "bob", "edit", "unknown-doc");
  Pdp__V1__Response *r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__DENY);
  cr_assert_eq(r->check->n_errors, 2);
  cr_assert_str_eq(r->check->errors[0]->policy_id, "owner-edits");
  cr_assert_str_eq(r->check->errors[1]->policy_id, "no-locked");
  cr_assert_neq(r->check->errors[0]->message[0], '\0');
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, request_entities_and_context_are_used) {
  du_check c;
  du_check_init(&c, 16, "bob", "edit", "new-doc");
  Pdp__V1__EntityUid bob = PDP__V1__ENTITY_UID__INIT, doc = PDP__V1__ENTITY_UID__INIT;
  bob.type = "User", bob.id = "bob";
  doc.type = "Doc", doc.id = "new-doc";
  Pdp__V1__Value owner = PDP__V1__VALUE__INIT, locked = PDP__V1__VALUE__INIT;
  owner.kind_case = PDP__V1__VALUE__KIND_ENTITY, owner.entity = &bob;
  locked.kind_case = PDP__V1__VALUE__KIND_BOOL, locked.bool_ = 0;
  Pdp__V1__Attribute a1 = PDP__V1__ATTRIBUTE__INIT, a2 = PDP__V1__ATTRIBUTE__INIT;
  a1.key = "owner", a1.value = &owner;
  a2.key = "locked", a2.value = &locked;
  Pdp__V1__Attribute *attrs[] = {&a1, &a2};
  Pdp__V1__Entity e = PDP__V1__ENTITY__INIT;
  e.uid = &doc, e.attrs = attrs, e.n_attrs = 2;
  Pdp__V1__Entity *es[] = {&e};
  c.check.entities = es;
  c.check.n_entities = 1;
  Pdp__V1__Response *r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_str_eq(r->check->reason[0], "owner-edits");
  pdp__v1__response__free_unpacked(r, NULL);

  /* a duplicate attribute in a request entity is refused, naming it */
  a2.key = "owner";
  r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "check.entities[0].attrs");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, missing_and_empty_fields_are_bad_requests_naming_them) {
  du_check c;
  du_check_init(&c, 17, "alice", "view", "d1");
  c.check.resource = NULL;
  Pdp__V1__Response *r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "check.resource: missing");
  pdp__v1__response__free_unpacked(r, NULL);
  du_check_init(&c, 18, "alice", "view", "d1");
  c.resource.type = "";
  r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "check.resource.type: empty");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, token_is_unimplemented_and_never_allows) {
  du_check c;
  du_check_init(&c, 19, "alice", "view", "d1");
  c.check.principal = NULL;
  c.check.token = "eyJhbGciOiJub25lIn0.e30.";
  Pdp__V1__Response *r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__UNIMPLEMENTED, "check.token");
  pdp__v1__response__free_unpacked(r, NULL);
  du_check_init(&c, 20, "alice", "view", "d1");
  c.check.token = "eyJhbGciOiJub25lIn0.e30.";
  r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "not both");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, batch_answers_each_item_with_its_own_status_and_shares_entities) {
  du_check c[3];
  du_check_init(&c[0], 0, "alice", "view", "d1");
  du_check_init(&c[1], 0, "alice", "view", "");
  du_check_init(&c[2], 0, "bob", "edit", "shared-doc");
  Pdp__V1__CheckRequest *checks[] = {&c[0].check, &c[1].check, &c[2].check};
  Pdp__V1__EntityUid bob = PDP__V1__ENTITY_UID__INIT, doc = PDP__V1__ENTITY_UID__INIT;
  bob.type = "User", bob.id = "bob";
  doc.type = "Doc", doc.id = "shared-doc";
  Pdp__V1__Value owner = PDP__V1__VALUE__INIT, locked = PDP__V1__VALUE__INIT;
  owner.kind_case = PDP__V1__VALUE__KIND_ENTITY, owner.entity = &bob;
  locked.kind_case = PDP__V1__VALUE__KIND_BOOL;
  Pdp__V1__Attribute a1 = PDP__V1__ATTRIBUTE__INIT, a2 = PDP__V1__ATTRIBUTE__INIT;
  a1.key = "owner", a1.value = &owner;
  a2.key = "locked", a2.value = &locked;
  Pdp__V1__Attribute *attrs[] = {&a1, &a2};
  Pdp__V1__Entity e = PDP__V1__ENTITY__INIT;
  e.uid = &doc, e.attrs = attrs, e.n_attrs = 2;
  Pdp__V1__Entity *es[] = {&e};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = checks, b.n_checks = 3, b.entities = es, b.n_entities = 1;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 21, rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  Pdp__V1__Response *r = ask(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY_BATCH_CHECK);
  Pdp__V1__BatchCheckResponse *br = r->batch_check;
  cr_assert_eq(br->n_results, 3);
  cr_assert_eq(br->stamp.len, 32);
  cr_assert_eq(br->results[0]->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_eq(br->results[0]->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_eq(br->results[1]->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(br->results[1]->status->message, "batch_check.checks[1].resource.id: empty"),
            "%s", br->results[1]->status->message);
  cr_assert_null(br->results[1]->check, "a refused item carries no decision");
  cr_assert_eq(br->results[2]->status->code, PDP__V1__STATUS__CODE__OK);
  cr_assert_eq(br->results[2]->check->decision, PDP__V1__DECISION__ALLOW);
  cr_assert_str_eq(br->results[2]->check->reason[0], "owner-edits");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, health_and_status_describe_the_snapshot) {
  Pdp__V1__HealthRequest h;
  Pdp__V1__Request rq = du_health_request(31, &h);
  Pdp__V1__Response *r = ask(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->health->state, PDP__V1__HEALTH_RESPONSE__STATE__SERVING);
  cr_assert_eq(r->health->stamp.len, 32);
  uint8_t stamp[32];
  memcpy(stamp, r->health->stamp.data, 32);
  pdp__v1__response__free_unpacked(r, NULL);

  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request sq = PDP__V1__REQUEST__INIT;
  sq.id = 32, sq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, sq.server_status = &s;
  r = ask(&sq);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  Pdp__V1__StatusResponse *st = r->server_status;
  cr_assert_eq(st->policies, 3);
  cr_assert_eq(st->entities, 3);
  cr_assert_eq(st->connections, 1);
  cr_assert_geq(st->requests_total, 2);
  cr_assert_neq(st->version[0], '\0');
  cr_assert(strstr(st->source, d.bundle), "source %s", st->source);
  cr_assert_eq(st->stamp.len, 32);
  cr_assert_eq(memcmp(st->stamp.data, stamp, 32), 0, "health and status name the same snapshot");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, empty_request_and_missing_body_are_bad_requests) {
  uint8_t zero[4] = {0, 0, 0, 0};
  cr_assert(du_write_all(fd, zero, 4));
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "request: no body");
  pdp__v1__response__free_unpacked(r, NULL);
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 41;
  r = ask(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "request: no body");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, empty_list_allowed_and_define_permissions_are_refused_naming_the_field) {
  Pdp__V1__ListAllowedRequest la = PDP__V1__LIST_ALLOWED_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 51, rq.body_case = PDP__V1__REQUEST__BODY_LIST_ALLOWED, rq.list_allowed = &la;
  Pdp__V1__Response *r = ask(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "list_allowed.principal: missing");
  pdp__v1__response__free_unpacked(r, NULL);
  Pdp__V1__DefinePermissionsRequest dp = PDP__V1__DEFINE_PERMISSIONS_REQUEST__INIT;
  rq.id = 52, rq.body_case = PDP__V1__REQUEST__BODY_DEFINE_PERMISSIONS, rq.define_permissions = &dp;
  r = ask(&rq);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "define_permissions.service");
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, deeply_nested_context_is_refused_before_decoding) {
  /* Context {"": [[[[...]]]]} nested 5000 sets deep, built by hand on the wire. */
  size_t levels = 5000, cap = levels * 8 + 256, start = cap;
  uint8_t *buf = malloc(cap);
  size_t inner = 0;
  for (size_t i = 0; i < 2 * levels + 3; i++) {
    /* Value.set(5) / ValueSet.items(1) alternating, then Attribute.value(2), Record.fields(1),
     * CheckRequest.context(5) */
    uint8_t tag = i < 2 * levels ? (i % 2 == 0 ? 1 : 5)
                                 : (i == 2 * levels       ? 2
                                    : i == 2 * levels + 1 ? 1
                                                          : 5);
    size_t v = inner;
    uint8_t var[10];
    int vn = 0;
    do {
      var[vn++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
    start -= (size_t)vn;
    memcpy(buf + start, var, (size_t)vn);
    buf[--start] = (uint8_t)(tag << 3 | 2);
    inner = cap - start;
  }
  /* Request: id = 61 (field 1), check (field 2) = the bytes built so far */
  size_t body_len = cap - start;
  uint8_t head[32];
  size_t hn = 0;
  head[hn++] = 0x08, head[hn++] = 61, head[hn++] = 0x12;
  size_t v = body_len;
  do {
    head[hn++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  uint32_t total = (uint32_t)(hn + body_len);
  uint8_t len[4] = {(uint8_t)(total >> 24), (uint8_t)(total >> 16), (uint8_t)(total >> 8),
                    (uint8_t)total};
  cr_assert(du_write_all(fd, len, 4));
  cr_assert(du_write_all(fd, head, hn));
  cr_assert(du_write_all(fd, buf + start, body_len));
  free(buf);
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 61, "the id is read from the raw frame");
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST, "max-value-depth 32");
  pdp__v1__response__free_unpacked(r, NULL);
  /* and the connection still serves */
  du_check c;
  du_check_init(&c, 62, "alice", "view", "d1");
  r = ask_check(&c);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  pdp__v1__response__free_unpacked(r, NULL);
}

/* Pack rq, then turn every byte `mark` inside the packed body into 0 (protobuf-c cannot
 * encode a NUL in a string itself: it packs strings with strlen). */
static void send_with_nul(const Pdp__V1__Request *rq, char mark) {
  uint8_t *buf = NULL;
  size_t n = du_frame(&buf, 0, rq);
  size_t hits = 0;
  for (size_t i = 4; i < n; i++)
    if (buf[i] == (uint8_t)mark) buf[i] = 0, hits++;
  cr_assert_eq(hits, 1, "exactly one marker byte in the packed request");
  cr_assert(du_write_all(fd, buf, n));
  free(buf);
}

Test(check, a_nul_byte_inside_the_principal_id_is_refused_never_allowed) {
  /* alice may view anything: "alice\0mallory" must not be read as alice. */
  du_check c;
  du_check_init(&c, 71, "alice#mallory", "view", "d1");
  send_with_nul(&c.rq, '#');
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 71);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST,
                "request: string field 'check.principal.id' contains a NUL byte");
  pdp__v1__response__free_unpacked(r, NULL);
  /* and the same check without the NUL is still answered on this connection */
  du_check_init(&c, 72, "alice", "view", "d1");
  r = ask_check(&c);
  expect_status(r, PDP__V1__STATUS__CODE__OK, NULL);
  cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(check, a_nul_byte_in_a_batch_context_key_is_refused_naming_the_field) {
  du_check c;
  du_check_init(&c, 0, "alice", "view", "d1");
  Pdp__V1__Value v = PDP__V1__VALUE__INIT;
  v.kind_case = PDP__V1__VALUE__KIND_STRING, v.string = "x";
  Pdp__V1__Attribute a = PDP__V1__ATTRIBUTE__INIT;
  a.key = "k#", a.value = &v;
  Pdp__V1__Attribute *attrs[] = {&a};
  Pdp__V1__Record ctxr = PDP__V1__RECORD__INIT;
  ctxr.fields = attrs, ctxr.n_fields = 1;
  c.check.context = &ctxr;
  Pdp__V1__CheckRequest *checks[] = {&c.check};
  Pdp__V1__BatchCheckRequest b = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  b.checks = checks, b.n_checks = 1;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 73, rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &b;
  send_with_nul(&rq, '#');
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 73);
  expect_status(r, PDP__V1__STATUS__CODE__BAD_REQUEST,
                "'batch_check.checks.context.fields.key' contains a NUL byte");
  pdp__v1__response__free_unpacked(r, NULL);
}

/* test_srv_wiredepth.c - nesting is measured on raw bytes before protobuf-c unpacks them. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv_int.h"

#include <stdlib.h>
#include <string.h>

/* Pack a Request whose check context holds attribute "a" = a value nested `depth` sets deep
 * (depth 0: the long 7). */
static uint8_t *pack_nested(int depth, size_t *len) {
  Pdp__V1__Value *vals = calloc((size_t)depth + 1, sizeof(*vals));
  Pdp__V1__ValueSet *sets = calloc((size_t)depth + 1, sizeof(*sets));
  Pdp__V1__Value **ptrs = calloc((size_t)depth + 1, sizeof(*ptrs));
  for (int i = 0; i <= depth; i++) pdp__v1__value__init(&vals[i]);
  vals[depth].kind_case = PDP__V1__VALUE__KIND_LONG;
  vals[depth].long_ = 7;
  for (int i = depth - 1; i >= 0; i--) {
    pdp__v1__value_set__init(&sets[i]);
    ptrs[i] = &vals[i + 1];
    sets[i].items = &ptrs[i];
    sets[i].n_items = 1;
    vals[i].kind_case = PDP__V1__VALUE__KIND_SET;
    vals[i].set = &sets[i];
  }
  Pdp__V1__Attribute attr = PDP__V1__ATTRIBUTE__INIT;
  attr.key = "a";
  attr.value = &vals[0];
  Pdp__V1__Attribute *attrs[] = {&attr};
  Pdp__V1__Record ctx = PDP__V1__RECORD__INIT;
  ctx.fields = attrs;
  ctx.n_fields = 1;
  Pdp__V1__CheckRequest check = PDP__V1__CHECK_REQUEST__INIT;
  check.context = &ctx;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 77;
  rq.body_case = PDP__V1__REQUEST__BODY_CHECK;
  rq.check = &check;
  *len = pdp__v1__request__get_packed_size(&rq);
  uint8_t *buf = malloc(*len);
  pdp__v1__request__pack(&rq, buf);
  free(vals);
  free(sets);
  free(ptrs);
  return buf;
}

Test(wiredepth, shallow_request_passes) {
  size_t len;
  uint8_t *buf = pack_nested(3, &len);
  cr_assert_eq(srv_wire_check(&pdp__v1__request__descriptor, buf, len, srv_wire_max_levels(32)),
               SRV_WIRE_OK);
  free(buf);
}

Test(wiredepth, levels_are_counted_exactly) {
  /* Request(1) > Check(2) > Record(3) > Attribute(4) > Value(5), then 2 per set level. */
  size_t len;
  uint8_t *buf = pack_nested(4, &len); /* deepest Value at 5 + 8 = 13 */
  cr_assert_eq(srv_wire_check(&pdp__v1__request__descriptor, buf, len, 13), SRV_WIRE_OK);
  cr_assert_eq(srv_wire_check(&pdp__v1__request__descriptor, buf, len, 12), SRV_WIRE_TOO_DEEP);
  free(buf);
}

Test(wiredepth, value_nested_past_the_limit_is_refused) {
  size_t len;
  uint8_t *buf = pack_nested(200, &len);
  cr_assert_eq(srv_wire_check(&pdp__v1__request__descriptor, buf, len, srv_wire_max_levels(32)),
               SRV_WIRE_TOO_DEEP);
  cr_assert_eq(srv_wire_request_id(buf, len), 77);
  free(buf);
}

Test(wiredepth, a_million_nested_headers_do_not_blow_the_stack) {
  /* Built by hand from the inside out: Value{set = ValueSet{items = Value{...}}}. */
  size_t levels = 1000000, cap = levels * 12 + 64, start = cap;
  uint8_t *buf = malloc(cap);
  size_t inner = 0; /* bytes of the message being wrapped */
  for (size_t i = 0; i < levels; i++) {
    /* wrap as field `tag` (5: Value.set, 1: ValueSet.items), alternating */
    uint8_t tag = (i % 2 == 0) ? 1 : 5;
    uint8_t var[10];
    int vn = 0;
    size_t v = inner;
    do {
      var[vn++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
    start -= (size_t)vn;
    memcpy(buf + start, var, (size_t)vn);
    buf[--start] = (uint8_t)(tag << 3 | 2);
    inner = cap - start;
  }
  cr_assert_eq(srv_wire_check(&pdp__v1__value__descriptor, buf + start, cap - start, 100),
               SRV_WIRE_TOO_DEEP);
  free(buf);
}

Test(wiredepth, malformed_bytes_are_reported_not_walked) {
  const uint8_t truncated_len[] = {0x12, 0x05, 0x01}; /* field 2, length 5, 1 byte */
  const uint8_t bad_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  const uint8_t group[] = {0x0b, 0x0c}; /* start/end group */
  const uint8_t tag_zero[] = {0x00, 0x01};
  const ProtobufCMessageDescriptor *d = &pdp__v1__request__descriptor;
  cr_assert_eq(srv_wire_check(d, truncated_len, sizeof(truncated_len), 50), SRV_WIRE_MALFORMED);
  cr_assert_eq(srv_wire_check(d, bad_varint, sizeof(bad_varint), 50), SRV_WIRE_MALFORMED);
  cr_assert_eq(srv_wire_check(d, group, sizeof(group), 50), SRV_WIRE_MALFORMED);
  cr_assert_eq(srv_wire_check(d, tag_zero, sizeof(tag_zero), 50), SRV_WIRE_MALFORMED);
}

Test(wiredepth, empty_request_and_unknown_fields_pass) {
  const ProtobufCMessageDescriptor *d = &pdp__v1__request__descriptor;
  cr_assert_eq(srv_wire_check(d, (const uint8_t *)"", 0, 50), SRV_WIRE_OK);
  /* field 99 (length-delimited, unknown: not descended), fixed32 field 98, fixed64 field 97 */
  const uint8_t unknown[] = {0x9a, 0x06, 0x02, 0x12, 0x00, 0x95, 0x06, 1, 2, 3,    4,   0x89,
                             0x06, 1,    2,    3,    4,    5,    6,    7, 8, 0x08, 0x2a};
  cr_assert_eq(srv_wire_check(d, unknown, sizeof(unknown), 1), SRV_WIRE_OK);
  cr_assert_eq(srv_wire_request_id(unknown, sizeof(unknown)), 42);
}

/* Pack a check whose principal id is `id`, then turn each '#' in the packed bytes into 0. */
static uint8_t *pack_principal(const char *id, size_t *len) {
  Pdp__V1__EntityUid p = PDP__V1__ENTITY_UID__INIT;
  p.type = "User", p.id = (char *)id;
  Pdp__V1__CheckRequest check = PDP__V1__CHECK_REQUEST__INIT;
  check.principal = &p;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 9, rq.body_case = PDP__V1__REQUEST__BODY_CHECK, rq.check = &check;
  *len = pdp__v1__request__get_packed_size(&rq);
  uint8_t *buf = malloc(*len);
  pdp__v1__request__pack(&rq, buf);
  for (size_t i = 0; i < *len; i++)
    if (buf[i] == '#') buf[i] = 0;
  return buf;
}

static srv_wire_result scan_principal(const char *id, char *err, size_t cap) {
  size_t len;
  uint8_t *buf = pack_principal(id, &len);
  srv_wire_result r = srv_wire_scan(&pdp__v1__request__descriptor, buf, len, 50, err, cap);
  free(buf);
  return r;
}

Test(wiredepth, a_nul_byte_in_a_string_field_is_refused_naming_its_path) {
  char err[256];
  cr_assert_eq(scan_principal("alice#mallory", err, sizeof(err)), SRV_WIRE_BAD_STRING);
  cr_assert_str_eq(err, "request: string field 'check.principal.id' contains a NUL byte");
  cr_assert_eq(scan_principal("#", err, sizeof(err)), SRV_WIRE_BAD_STRING);
  cr_assert_eq(scan_principal("alice#", NULL, 0), SRV_WIRE_BAD_STRING, "err may be NULL");
  cr_assert_eq(scan_principal("alice", err, sizeof(err)), SRV_WIRE_OK);
  cr_assert_str_eq(err, "");
}

Test(wiredepth, strings_must_be_well_formed_utf8) {
  char err[256];
  const char *good[] = {"",
                        "plain",
                        "caf\xc3\xa9",
                        "\xe6\x97\xa5\xe6\x9c\xac",
                        "\xf0\x9f\x98\x80",
                        "\xf4\x8f\xbf\xbf" /* U+10FFFF */};
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
    cr_assert_eq(scan_principal(good[i], err, sizeof(err)), SRV_WIRE_OK, "good[%zu]", i);
  const char *bad[] = {"\xff",
                       "a\x80",
                       "\xc3",
                       "\xc0\x80" /* overlong */,
                       "\xe0\x80\xaf" /* overlong */,
                       "\xed\xa0\x80" /* surrogate */,
                       "\xf4\x90\x80\x80" /* past U+10FFFF */,
                       "\xe6\x97"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    cr_assert_eq(scan_principal(bad[i], err, sizeof(err)), SRV_WIRE_BAD_STRING, "bad[%zu]", i);
    cr_assert_str_eq(err, "request: string field 'check.principal.id' is not UTF-8");
  }
}

Test(wiredepth, bytes_fields_and_unknown_fields_may_hold_zeros) {
  /* unknown field 99 with a 0 byte is skipped; the id is a varint */
  const uint8_t unknown[] = {0x9a, 0x06, 0x02, 0x00, 0xff, 0x08, 0x01};
  cr_assert_eq(srv_wire_scan(&pdp__v1__request__descriptor, unknown, sizeof(unknown), 5, NULL, 0),
               SRV_WIRE_OK);
}

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
  const uint8_t truncated_len[] = {0x12, 0x05, 0x01};       /* field 2, length 5, 1 byte */
  const uint8_t bad_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  const uint8_t group[] = {0x0b, 0x0c};                     /* start/end group */
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
  const uint8_t unknown[] = {0x9a, 0x06, 0x02, 0x12, 0x00, 0x95, 0x06, 1, 2, 3, 4,
                             0x89, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0x08, 0x2a};
  cr_assert_eq(srv_wire_check(d, unknown, sizeof(unknown), 1), SRV_WIRE_OK);
  cr_assert_eq(srv_wire_request_id(unknown, sizeof(unknown)), 42);
}

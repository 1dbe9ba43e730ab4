/* wiredepth.c - refuse deeply nested frames before protobuf-c sees them.
 *
 * protobuf-c unpacks sub-messages recursively with no depth limit, so a frame of a few
 * hundred kilobytes of nested Value/ValueSet headers could exhaust the stack.  This walk
 * reads the raw wire format guided by the generated descriptors: for every length-delimited
 * field whose descriptor says TYPE_MESSAGE it descends one level, and it stops (TOO_DEEP) as
 * soon as a path would pass max_levels.  It allocates nothing and recurses at most
 * max_levels deep.  Unknown fields and scalars are skipped; anything that is not valid wire
 * format is MALFORMED (unpack would refuse it too).  The exact value-depth limit is
 * enforced again, by value level and with the field path, during conversion (convert.c).
 */
#include "srv_int.h"

/* Read a varint at *p (below end); false when truncated or longer than 10 bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*p >= end) return false;
    uint8_t b = *(*p)++;
    if (shift == 63 && (b & 0x7e)) return false; /* beyond 64 bits */
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

static srv_wire_result walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                            const uint8_t *end, uint32_t level, uint32_t max_levels) {
  while (p < end) {
    uint64_t key;
    if (!read_varint(&p, end, &key)) return SRV_WIRE_MALFORMED;
    uint64_t tag = key >> 3;
    if (tag == 0 || tag > 0x1fffffff) return SRV_WIRE_MALFORMED;
    uint64_t v;
    switch (key & 7) {
    case 0: /* varint */
      if (!read_varint(&p, end, &v)) return SRV_WIRE_MALFORMED;
      break;
    case 1: /* fixed64 */
      if (end - p < 8) return SRV_WIRE_MALFORMED;
      p += 8;
      break;
    case 5: /* fixed32 */
      if (end - p < 4) return SRV_WIRE_MALFORMED;
      p += 4;
      break;
    case 2: { /* length-delimited: bytes, string, packed, or a sub-message */
      if (!read_varint(&p, end, &v)) return SRV_WIRE_MALFORMED;
      if (v > (uint64_t)(end - p)) return SRV_WIRE_MALFORMED;
      const ProtobufCFieldDescriptor *fd =
          desc ? protobuf_c_message_descriptor_get_field(desc, (unsigned)tag) : NULL;
      if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (level + 1 > max_levels) return SRV_WIRE_TOO_DEEP;
        srv_wire_result r = walk(fd->descriptor, p, p + v, level + 1, max_levels);
        if (r != SRV_WIRE_OK) return r;
      }
      p += v;
      break;
    }
    default: /* groups (3, 4) and reserved wire types: not in this schema */
      return SRV_WIRE_MALFORMED;
    }
  }
  return SRV_WIRE_OK;
}

srv_wire_result srv_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len, uint32_t max_levels) {
  if (max_levels == 0) return SRV_WIRE_TOO_DEEP;
  return walk(desc, buf, buf + len, 1, max_levels);
}

uint32_t srv_wire_max_levels(uint32_t max_value_depth) {
  return SRV_ENVELOPE_DEPTH + SRV_LEVELS_PER_VALUE * max_value_depth;
}

uint64_t srv_wire_request_id(const uint8_t *buf, size_t len) {
  const uint8_t *p = buf, *end = buf + len;
  uint64_t id = 0, key, v;
  while (p < end) {
    if (!read_varint(&p, end, &key)) break;
    switch (key & 7) {
    case 0:
      if (!read_varint(&p, end, &v)) return id;
      if ((key >> 3) == 1) id = v; /* the last occurrence wins, as in unpack */
      break;
    case 1:
      if (end - p < 8) return id;
      p += 8;
      break;
    case 5:
      if (end - p < 4) return id;
      p += 4;
      break;
    case 2:
      if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return id;
      p += v;
      break;
    default:
      return id;
    }
  }
  return id;
}

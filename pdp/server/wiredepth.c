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
 *
 * The same walk refuses every string field (descriptor TYPE_STRING) holding a 0 byte or
 * bytes that are not UTF-8 (BAD_STRING): protobuf-c hands strings out as C strings, so
 * "alice\0mallory" would otherwise be read as "alice" from there on.  The message names
 * the field path by field names ("check.principal.id"; repeated fields carry no index).
 */
#include "srv_int.h"

#include <stdio.h>
#include <string.h>

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

/* Where a walk is: the dotted field path so far, and the message for a refusal. */
typedef struct wire_walk {
  uint32_t max_levels;
  char path[192]; /* cut short when longer; it still names the field */
  size_t plen;
  char *err;
  size_t err_cap;
} wire_walk;

/* Append ".name" (or "name" at the top) to the path, cut at the buffer's end; returns the
 * previous length.  Runs for every sub-message of every request: no printf. */
static size_t path_push(wire_walk *w, const char *name) {
  size_t old = w->plen, room = sizeof(w->path) - 1 - old, n = strlen(name);
  char *o = w->path + old;
  if (old && room) *o++ = '.', room--;
  if (n > room) n = room;
  memcpy(o, name, n);
  o[n] = '\0';
  w->plen = (size_t)(o + n - w->path);
  return old;
}

static void path_pop(wire_walk *w, size_t old) {
  w->plen = old;
  w->path[old] = '\0';
}

/* Well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF). */
static bool utf8_valid(const uint8_t *p, size_t n) {
  const uint8_t *end = p + n;
  while (p < end) {
    /* ASCII runs (ids, base64url tokens) 8 bytes at a time. */
    uint64_t word;
    while (end - p >= 8 && (memcpy(&word, p, 8), (word & 0x8080808080808080ull) == 0)) p += 8;
    if (p == end) break;
    uint8_t b = *p++;
    if (b < 0x80) continue;
    size_t more;
    uint32_t cp, min;
    if (b >= 0xc2 && b <= 0xdf)
      more = 1, cp = b & 0x1f, min = 0x80;
    else if (b >= 0xe0 && b <= 0xef)
      more = 2, cp = b & 0x0f, min = 0x800;
    else if (b >= 0xf0 && b <= 0xf4)
      more = 3, cp = b & 0x07, min = 0x10000;
    else
      return false;
    if ((size_t)(end - p) < more) return false;
    for (size_t i = 0; i < more; i++) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    p += more;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  }
  return true;
}

static srv_wire_result bad_string(wire_walk *w, const char *field, const char *what) {
  size_t old = path_push(w, field);
  if (w->err) snprintf(w->err, w->err_cap, "request: string field '%s' %s", w->path, what);
  path_pop(w, old);
  return SRV_WIRE_BAD_STRING;
}

static srv_wire_result walk(wire_walk *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                            const uint8_t *end, uint32_t level) {
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
        if (level + 1 > w->max_levels) return SRV_WIRE_TOO_DEEP;
        size_t old = path_push(w, fd->name);
        srv_wire_result r = walk(w, fd->descriptor, p, p + v, level + 1);
        if (r != SRV_WIRE_OK) return r;
        path_pop(w, old);
      } else if (fd && fd->type == PROTOBUF_C_TYPE_STRING) {
        if (memchr(p, 0, (size_t)v)) return bad_string(w, fd->name, "contains a NUL byte");
        if (!utf8_valid(p, (size_t)v)) return bad_string(w, fd->name, "is not UTF-8");
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

srv_wire_result srv_wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                              size_t len, uint32_t max_levels, char *err, size_t err_cap) {
  if (err && err_cap) err[0] = '\0';
  if (max_levels == 0) return SRV_WIRE_TOO_DEEP;
  wire_walk w = {.max_levels = max_levels, .err = err_cap ? err : NULL, .err_cap = err_cap};
  return walk(&w, desc, buf, buf + len, 1);
}

srv_wire_result srv_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len, uint32_t max_levels) {
  return srv_wire_scan(desc, buf, len, max_levels, NULL, 0);
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

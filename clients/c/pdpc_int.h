/* pdpc_int.h - internals shared by the C client's files (not installed).
 *
 * value.c owns the value and entity trees and turns a check request into protobuf-c
 * messages allocated from a pdpc__pool (freed all at once after packing); result.c fills
 * pdpc_result from a decoded Response; client.c owns sockets, framing and timeouts.
 */
#ifndef PDPC_INT_H
#define PDPC_INT_H

#include "pdpc.h"
#include "pdp.pb-c.h"

/* Internal functions stay out of libpdpclient.so's exported symbols. */
#pragma GCC visibility push(hidden)

typedef enum pdpc__kind {
  PDPC__BOOL,
  PDPC__LONG,
  PDPC__STRING,    /* s */
  PDPC__ENTITY,    /* s = type, s2 = id */
  PDPC__EXTENSION, /* s = fn, s2 = arg */
  PDPC__SET,       /* items[0..n) */
  PDPC__RECORD     /* keys[i] -> items[i] */
} pdpc__kind;

struct pdpc_value {
  pdpc__kind kind;
  bool b;
  int64_t n;
  char *s, *s2;
  pdpc_value *parent; /* the set or record that owns this value; NULL for a root */
  pdpc_value **items; /* set members or record values, owned */
  char **keys;        /* record keys, owned (NULL for sets) */
  size_t len, cap;
};

struct pdpc_entity {
  char *type, *id;
  pdpc_value *attrs; /* a record */
  pdpc_value *tags;  /* a record */
  char **parent_types, **parent_ids;
  size_t n_parents, cap_parents;
};

/* The frame length prefix: 4 bytes, big-endian (docs/protocol.md). */
static inline uint32_t pdpc__get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline void pdpc__put_be32(uint8_t *p, uint32_t n) {
  p[0] = (uint8_t)(n >> 24);
  p[1] = (uint8_t)(n >> 16);
  p[2] = (uint8_t)(n >> 8);
  p[3] = (uint8_t)n;
}

/* A bump pool for building one protobuf message tree; freed whole. */
typedef struct pdpc__chunk pdpc__chunk;
typedef struct pdpc__pool {
  pdpc__chunk *head;
} pdpc__pool;

void *pdpc__pool_alloc(pdpc__pool *p, size_t n); /* zeroed; NULL when out of memory */
void pdpc__pool_free(pdpc__pool *p);

/* Build a Pdp__V1__CheckRequest for `req` in `pool`.  Returns 0, PDPC_E_INVAL (with a
 * message in err naming the field) or PDPC_E_NOMEM. */
int pdpc__build_check(pdpc__pool *pool, const pdpc_check_req *req, Pdp__V1__CheckRequest **out,
                      char *err, size_t err_cap);
Pdp__V1__Entity *pdpc__build_entity(pdpc__pool *pool, const pdpc_entity *e, char *err,
                                    size_t err_cap, int *rc);

/* Pack `msg` as one frame (length prefix + body) into a new malloc'd buffer. */
int pdpc__pack_frame(const ProtobufCMessage *msg, uint8_t **frame, size_t *len);

/* Fill `r` from a decoded Response (after closing it).  Checks that the body is a check,
 * applies the allow invariant. */
int pdpc__result_from_check(pdpc_result *r, uint64_t id, int status, const char *message,
                            const Pdp__V1__CheckResponse *body);
/* Fill `r` as a client-side failure: status UNSPECIFIED, deny, message. */
void pdpc__result_fail(pdpc_result *r, uint64_t id, const char *message);
/* Fill `r` from one Response that should answer `expect_id` with a check body. */
int pdpc__result_from_response(pdpc_result *r, const Pdp__V1__Response *resp, uint64_t expect_id,
                               char *err, size_t err_cap);

#pragma GCC visibility pop

#endif

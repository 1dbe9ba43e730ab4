/* pdpc_int.h - internals shared by the C client's files (not installed).
 *
 * value.c owns the value and entity trees and turns a check request into protobuf-c
 * messages allocated from a pdpc__pool (freed all at once after packing); result.c fills
 * pdpc_result from a decoded Response; client.c owns sockets, framing and timeouts;
 * list.c and define.c build, send and read ListAllowed and DefinePermissions with the
 * helpers below.
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
/* count * size bytes, zeroed; NULL when out of memory, on overflow, or for count 0. */
void *pdpc__pool_array(pdpc__pool *p, size_t count, size_t size);
void pdpc__pool_free(pdpc__pool *p);

/* snprintf into err (NULL or cap 0: nothing). */
void pdpc__set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A uid message pointing at the given strings (not copied), or NULL when out of memory. */
Pdp__V1__EntityUid *pdpc__build_uid(pdpc__pool *pool, const char *type, const char *id);
/* PDPC_E_INVAL with "<field>: entity uid needs a type and an id" unless u has both. */
int pdpc__check_uid(const pdpc_uid *u, const char *field, char *err, size_t cap);
/* A record value (a context, a definition's properties) as a Record message, its depth
 * counted from 1 as pdpd counts a context; *out = NULL for v NULL.  Errors name `field`. */
int pdpc__build_context(pdpc__pool *pool, const pdpc_value *v, const char *field,
                        Pdp__V1__Record **out, char *err, size_t err_cap);
/* Request entities (n of them; NULL array or element refused) as Entity messages. */
int pdpc__build_entities(pdpc__pool *pool, const pdpc_entity *const *es, size_t n,
                         Pdp__V1__Entity ***out, size_t *n_out, char *err, size_t err_cap);

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

/* Check a Response that should answer `expect_id` with the body `want` (named `what` in
 * messages).  0: status OK and the body is there.  PDPC_E_STATUS: the status is not OK
 * (*status and *message are the server's; any body must be ignored).  PDPC_E_PROTOCOL with
 * the words in err: a wrong id (*status is the server's for pdpd's id-0 answers, else
 * UNSPECIFIED), a missing status, or OK without the body. */
int pdpc__answer_check(const Pdp__V1__Response *resp, uint64_t expect_id,
                       Pdp__V1__Response__BodyCase want, const char *what, int *status,
                       const char **message, char *err, size_t err_cap);

/* list.c: fill an encoder's optional *err (code, status 0, msg or "out of memory"). */
void pdpc__error_fill(pdpc_error *e, int code, const char *msg);

/* client.c, for calls built in other files. */
void pdpc__conn_begin(pdpc_conn *c); /* a new call: forget the last error */
/* Record an error on c (timeout, i/o and protocol errors break it); returns code.
 * `status` is stored for PDPC_E_STATUS only. */
int pdpc__conn_fail(pdpc_conn *c, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* One request, one answer, nothing pipelined: gives req the next id, sends it and reads the
 * next Response into *out (free with pdp__v1__response__free_unpacked) without looking at
 * its id or status.  A negative code (the words in pdpc_conn_error) leaves *out NULL. */
int pdpc__exchange(pdpc_conn *c, Pdp__V1__Request *req, Pdp__V1__Response **out);

#pragma GCC visibility pop

#endif

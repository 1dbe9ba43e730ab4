/* srv_int.h - the server module's internal pieces, shared between its files and its unit
 * tests, never included by other modules.
 *
 * framing.c   srv_framer: the pure byte-stream -> frame splitter (no sockets)
 * wiredepth.c srv_wire_check: nesting check on raw protobuf bytes before unpack
 * convert.c   protobuf messages -> pdpe values, entities and requests
 * handlers.c  one decoded frame in -> one framed Response out (srv_handle_frame)
 * listen.c    socket path checks, stale socket removal, bind with mode 0660
 * conn.c      connections: reading, pipelining, coalesced writes, back-pressure
 * daemon.c    srv_run: load, listen, signals, shutdown
 */
#ifndef PDP_SERVER_SRV_INT_H
#define PDP_SERVER_SRV_INT_H

#include "srv.h"

#include "../../cache/cache.h"
#include "../eval/pdpe.h"
#include "../util/pu.h"
#include "pdp.pb-c.h"

#include <stdarg.h>
#include <uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- logging ------------------------------------------------------------------------- */

extern srv_log_level srv_log_threshold;
void srv_log(srv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- growable byte buffer ------------------------------------------------------------ */

typedef struct srv_buf {
  uint8_t *p;
  size_t len; /* bytes in use */
  size_t cap; /* bytes allocated */
} srv_buf;

void srv_buf_init(srv_buf *b);
void srv_buf_close(srv_buf *b);
/* Make room for n more bytes; false when out of memory. */
bool srv_buf_reserve(srv_buf *b, size_t n);

/* ---- framing ------------------------------------------------------------------------- */

#define SRV_FRAME_HEADER 4
#define SRV_FRAMER_MIN_READ 65536 /* room offered to each read */

typedef enum srv_frame_result {
  SRV_FRAME_NEED_MORE, /* no complete frame buffered */
  SRV_FRAME_OK,        /* body and len describe the next frame (borrowed from the framer) */
  SRV_FRAME_TOO_LARGE, /* the next length prefix exceeds max_frame: the stream is lost */
} srv_frame_result;

/* Accumulates stream bytes and hands out complete frames in order.  Frames point into buf
 * and stay valid until the next srv_framer_space() call. */
typedef struct srv_framer {
  uint8_t *buf;       /* owned */
  size_t cap;         /* allocated bytes of buf */
  size_t start;       /* first byte not yet handed out as a frame */
  size_t end;         /* one past the last byte received */
  uint32_t max_frame; /* largest accepted body length */
} srv_framer;

void srv_framer_init(srv_framer *f, uint32_t max_frame);
void srv_framer_close(srv_framer *f);
/* Room to receive into: moves unconsumed bytes to the front and grows buf so that the
 * frame being assembled fits.  False when out of memory.  Call it only after
 * srv_framer_next() said NEED_MORE: then some room is always offered. */
bool srv_framer_space(srv_framer *f, uint8_t **p, size_t *n);
/* n bytes were written at the pointer srv_framer_space() returned. */
void srv_framer_commit(srv_framer *f, size_t n);
srv_frame_result srv_framer_next(srv_framer *f, const uint8_t **body, uint32_t *len);
/* Bytes received but not yet handed out (a partial frame). */
size_t srv_framer_pending(const srv_framer *f);
/* The big-endian length prefix at p. */
uint32_t srv_frame_len(const uint8_t *p);
void srv_frame_put_len(uint8_t *p, uint32_t len);

/* ---- wire depth check ---------------------------------------------------------------- */

/* Message levels a request may use before its first Value:
 * Request > BatchCheckRequest > CheckRequest > Entity > Attribute > Value. */
#define SRV_ENVELOPE_DEPTH 6
/* Each level of value nesting costs at most 3 message levels (Value > Record > Attribute). */
#define SRV_LEVELS_PER_VALUE 3

typedef enum srv_wire_result {
  SRV_WIRE_OK,
  SRV_WIRE_TOO_DEEP,   /* nesting past the limit: refuse before unpack */
  SRV_WIRE_MALFORMED,  /* not valid protobuf: unpack would fail too */
  SRV_WIRE_BAD_STRING, /* a string field holds a 0 byte or is not UTF-8 */
} srv_wire_result;

/* Walk buf as a message of type desc without allocating, descending into message fields,
 * and refuse nesting deeper than max_levels messages (the top message is level 1).  The
 * walk itself recurses at most max_levels deep. */
srv_wire_result srv_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len, uint32_t max_levels);
/* srv_wire_check, and also refuse string fields with a 0 byte or invalid UTF-8
 * (SRV_WIRE_BAD_STRING).  For BAD_STRING, err (may be NULL) receives
 * "request: string field 'check.principal.id' contains a NUL byte". */
srv_wire_result srv_wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                              size_t len, uint32_t max_levels, char *err, size_t err_cap);
/* The id (field 1) of a raw Request, read without decoding; 0 when absent or unreadable.
 * Lets a refused frame still be answered with its id. */
uint64_t srv_wire_request_id(const uint8_t *buf, size_t len);
/* The message-level limit for a request given --max-value-depth. */
uint32_t srv_wire_max_levels(uint32_t max_value_depth);

/* ---- conversion ---------------------------------------------------------------------- */

/* Limits and memory for converting one request.  Field paths are rendered only when an
 * error names them (convert.c, cv_path). */
typedef struct srv_convert {
  pu_arena *arena;             /* per-request arena: everything converted lives here */
  uint32_t max_value_depth;    /* deepest set/record nesting accepted */
  uint32_t max_entities;       /* entities per check (own + shared) */
  uint32_t max_entity_parents; /* parents of one entity */
  uint32_t max_parent_links;   /* parent links built for the whole request */
  uint64_t parent_links;       /* in/out: links counted so far in this request */
  char *err;                   /* message out: "check.entities[2].attrs.owner: ..." */
  size_t err_cap;
  bool overloaded; /* out: the failure was the memory budget, not the request */
} srv_convert;

/* Entities into an arena array; *out_n items.  Path names the list ("check.entities"). */
bool srv_convert_entities(srv_convert *cv, Pdp__V1__Entity *const *in, size_t n, const char *path,
                          pdpe_entity **out, uint32_t *out_n);
/* The entity set of items (an arena array from srv_convert_entities).  Errors start with
 * path ("batch_check.entities: entities[1]: duplicate entity uid ..."). */
bool srv_convert_build_entities(srv_convert *cv, pdpe_entity *items, uint32_t n, const char *path,
                                pdpe_entities **out);
/* A whole check: validates principal/action/resource/token, converts context and entities.
 * `shared` (n_shared items, may be none) are batch entities and `shared_es` the same built
 * once (NULL when none); the check's own entities override shared ones with the same uid.
 * On failure *code says BAD_REQUEST, UNIMPLEMENTED or OVERLOADED (the request memory budget
 * ran out; cv->overloaded is set too) and cv->err names the field. */
bool srv_convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const char *path,
                       const pdpe_entity *shared, uint32_t n_shared, const pdpe_entities *shared_es,
                       pdpe_request *out, Pdp__V1__Status__Code *code);

/* ---- handlers ------------------------------------------------------------------------ */

/* What the handlers read and count, shared by every connection of one server. */
typedef struct srv_ctx {
  const srv_config *cfg;
  cache_holder *holder;
  uint64_t requests_total; /* responses produced since start */
  uint64_t connections;    /* open client connections (kept by conn.c) */
  size_t request_budget;   /* per-request arena budget, bytes */
} srv_ctx;

/* The per-request arena budget for a given max_frame. */
size_t srv_request_budget(uint32_t max_frame);

/* Decode one frame body and append its framed Response to out.  `arena` is reset before
 * returning.  False only when out of memory for the output (the connection should close). */
bool srv_handle_frame(srv_ctx *ctx, pu_arena *arena, const uint8_t *body, size_t len, srv_buf *out);
/* Append a framed Response carrying only a status (and id). */
bool srv_append_status(srv_ctx *ctx, srv_buf *out, uint64_t id, Pdp__V1__Status__Code code,
                       const char *message);
/* Pack a Response with its length prefix onto out. */
bool srv_append_response(srv_buf *out, const Pdp__V1__Response *resp);

/* ---- listening ----------------------------------------------------------------------- */

/* Check the path, create its parent directory (0750), remove a stale socket or refuse a
 * live one, bind with mode 0660 and listen.  0 or -1 with a message in err. */
int srv_listen(uv_loop_t *loop, uv_pipe_t *pipe, const char *path, uv_connection_cb cb, char *err,
               size_t err_cap);

/* ---- connections and the server ----------------------------------------------------- */

typedef struct srv_conn srv_conn;

/* One running daemon: its loop, listener, signals and open connections. */
typedef struct srv_server {
  uv_loop_t *loop;
  uv_pipe_t listener;
  uv_signal_t sigterm, sigint;
  uv_timer_t drain_timer; /* after a signal: closes connections whose answers never drain */
  srv_ctx ctx;            /* shared by every connection's handlers */
  const srv_config *cfg;
  srv_conn *conns;         /* every open connection (counted or overflow), doubly linked */
  bool stopping;           /* a signal arrived: no new connections, no new reads */
  uv_pipe_t reject;        /* accepts and closes a connection pdpd has no memory for */
  bool reject_busy;        /* reject is closing */
  bool accept_pending;     /* a connection waits for reject to be free */
  uint64_t refused_log_ms; /* uv_now() of the last "refusing" warning (0: none yet) */
  uint64_t refused_quiet;  /* connections refused since that warning, not yet reported */
} srv_server;

/* How conn.c allocates a connection (tests replace it to simulate running out of memory). */
extern void *(*srv_conn_calloc)(size_t n, size_t size);

/* Accept one pending connection on srv->listener (the listen callback's work). */
void srv_conn_accept(srv_server *srv);
/* Shutdown: stop reading everywhere, let queued answers be written, then close. */
void srv_conn_drain_all(srv_server *srv);
/* Close every connection now, written or not (the drain deadline passed). */
void srv_conn_close_all(srv_server *srv);

#endif

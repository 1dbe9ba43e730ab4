/* srv_int.h - the server module's internal pieces, shared between its files and its unit
 * tests, never included by other modules.
 *
 * framing.c   srv_framer: the pure byte-stream -> frame splitter (no sockets)
 * wiredepth.c srv_wire_check: nesting check on raw protobuf bytes before unpack
 * convert.c   protobuf messages -> pdpe values, entities and requests
 * handlers.c  one decoded frame in -> one framed Response out (srv_handle_frame)
 * listen.c    socket path checks, stale socket removal, bind with mode 0660
 * conn.c      connections: reading, pipelining, coalesced writes, back-pressure
 * checker.c   staleness checks: the source synced into the store on a worker thread
 * define.c    DefinePermissions: validate, write the source on a worker, answer after a sync
 * token.c     JWTs in place of principals (pdp/authn), their revocations, key reloads
 * daemon.c    srv_run: store, listen, signals, shutdown
 */
#ifndef PDP_SERVER_SRV_INT_H
#define PDP_SERVER_SRV_INT_H

#include "srv.h"

#include "../../cache/cache.h"
#include "../authn/pa.h"
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
  bool overloaded;           /* out: the failure was the memory budget, not the request */
  pa_authn *authn;           /* verifies tokens; NULL: --jwt-config not given, tokens are refused */
  const pdpe_snapshot *snap; /* the request's snapshot: token revocations are read from it */
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
 * On failure *code says BAD_REQUEST, UNAUTHENTICATED or INTERNAL (a token: token.c) or
 * OVERLOADED (the request memory budget ran out; cv->overloaded is set too) and cv->err
 * names the field. */
bool srv_convert_check(srv_convert *cv, const Pdp__V1__CheckRequest *in, const char *path,
                       const pdpe_entity *shared, uint32_t n_shared, const pdpe_entities *shared_es,
                       pdpe_request *out, Pdp__V1__Status__Code *code);
/* A repeated Attribute as a record value (DefinePermissions' properties): the same checks as
 * a context (depth, duplicate keys); errors start with path. */
bool srv_convert_attrs(srv_convert *cv, Pdp__V1__Attribute *const *attrs, size_t n,
                       const char *path, pdpe_value *out);

/* ---- tokens (token.c) ---------------------------------------------------------------- */

/* A check's (or a ListAllowed's) token in place of its principal: verify `token` with
 * cv->authn (revocations from cv->snap's store view, its stamp as the revocation state),
 * set *principal to the token's principal uid and put its entity FIRST in the request's own
 * entities (*items, *n: the converted `entities` list, replaced by an arena array one
 * longer).  `path` names the request ("check", "batch_check.checks[2]").  On failure *code
 * and cv->err say why: UNAUTHENTICATED with pa's "token refused: <reason>: ..." (or "tokens
 * are not configured (--jwt-config)"), INTERNAL when the revocation lookup failed,
 * OVERLOADED when the request arena ran out (cv->overloaded), BAD_REQUEST when an entity of
 * `entities` has the token principal's uid (the token alone says who the principal is). */
bool srv_token_principal(srv_convert *cv, const char *token, const char *path, pdpe_uid *principal,
                         pdpe_entity **items, uint32_t *n, Pdp__V1__Status__Code *code);

/* The revocation callback pa_authn_check calls (ctx: the snapshot): 1 when table revocations
 * of the snapshot's view lists `jti:<jti>`, or `sub:<sub>` with iat < its time; 0 when not;
 * -1 when the view cannot be read. */
int srv_token_revoked(void *ctx, pu_str jti, pu_str sub, int64_t iat);

/* ---- clocks -------------------------------------------------------------------------- */

uint64_t srv_mono_ms(void); /* CLOCK_MONOTONIC: ages, intervals */
int64_t srv_wall_ms(void);  /* CLOCK_REALTIME: times reported to people */

/* ---- freshness ----------------------------------------------------------------------- */

/* How current the published snapshot is.  Written by the checker and read by the handlers,
 * both on the loop thread only (no lock).  All zero = nothing known yet (a unit test's ctx):
 * the age is then taken from the snapshot's build time. */
typedef struct srv_fresh {
  uint64_t confirmed_ms;       /* monotonic: the source last confirmed (or built) the snapshot */
  int64_t last_check_unix_ms;  /* wall: the last check finished, good or failed (0: none) */
  int64_t last_change_unix_ms; /* wall: a different snapshot was last published (0: none) */
  uint64_t failing_since_ms;   /* monotonic: the first failed check in a row (0: healthy) */
  uint32_t failures;           /* failed checks in a row */
  uint32_t more_errors;        /* diagnostics of the last failure beyond the first */
  char reason[CACHE_DEGRADED_MAX]; /* "source DIR: first diagnostic"; "" when healthy */
} srv_fresh;

/* ---- handlers ------------------------------------------------------------------------ */

/* What the handlers read and count, shared by every connection of one server. */
typedef struct srv_ctx {
  const srv_config *cfg;
  cache_holder *holder;
  uint64_t requests_total;   /* responses produced since start */
  uint64_t connections;      /* open client connections (kept by conn.c) */
  size_t request_budget;     /* per-request arena budget, bytes */
  srv_fresh fresh;           /* kept by checker.c */
  struct srv_server *server; /* the running daemon (DefinePermissions); NULL in unit tests */
  pa_authn *authn;           /* --jwt-config's verifier (NULL: none); loop thread only */
} srv_ctx;

/* Age of the published snapshot `snap` in ms at monotonic time now_ms: since the source last
 * confirmed it (or it was built). */
uint64_t srv_snapshot_age_ms(const srv_ctx *ctx, const pdpe_snapshot *snap, uint64_t now_ms);
/* Why the snapshot is not current, into buf: the degraded reason with how long checks have
 * failed, or, past --max-staleness, the stale message (age, limit, reason).  Returns false
 * (buf "") when it is current.  *stale (optional) says whether it is past max-staleness. */
bool srv_fresh_reason(const srv_ctx *ctx, uint64_t age_ms, char *buf, size_t cap, bool *stale);

/* The per-request arena budget for a given max_frame. */
size_t srv_request_budget(uint32_t max_frame);

/* Decode one frame body and append its framed Response to out.  `arena` is reset before
 * returning.  False only when out of memory for the output (the connection should close). */
bool srv_handle_frame(srv_ctx *ctx, pu_arena *arena, const uint8_t *body, size_t len, srv_buf *out);

/* A DefinePermissions waiting for its file write and the sync after it (define.c). */
typedef struct srv_define srv_define;

/* srv_handle_frame for a connection that can wait for an answer.  A valid DefinePermissions
 * is not answered here: *parked gets its job (nothing is appended to out); the caller starts
 * it with srv_define_start and answers no further frame until srv_conn_unpark.  With parked
 * NULL (or no ctx->server) a valid DefinePermissions is answered UNIMPLEMENTED. */
bool srv_handle_frame_park(srv_ctx *ctx, pu_arena *arena, const uint8_t *body, size_t len,
                           srv_buf *out, srv_define **parked);
/* The DefinePermissions handler: validates rq (BAD_REQUEST naming the field is appended to
 * out) and, when valid, builds the job into *parked as above.  False only when out of
 * memory for the output. */
bool srv_define_request(srv_ctx *ctx, pu_arena *a, const Pdp__V1__Request *rq, srv_buf *out,
                        srv_define **parked);
/* Longest ListAllowed action_prefix (a definition's name is at most this long). */
#define SRV_MAX_ACTION_PREFIX CACHE_DEFINITION_FIELD_MAX
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

/* ---- staleness checks (checker.c) --------------------------------------------------- */

typedef struct srv_server srv_server;

#define SRV_WATCH_DIRS 3         /* the source dir, its policies/ and permissions/ */
#define SRV_WATCH_DEBOUNCE_MS 50 /* a change event waits this long for its siblings */
#define SRV_READER_CHECK_MS 60000

typedef struct srv_watch {
  uv_fs_event_t h; /* first: a handle pointer is its srv_watch */
  char path[SRV_PATH_MAX + 16];
  bool active;
  bool warned; /* "cannot watch" was logged once */
} srv_watch;

/* Checks the source on the libuv threadpool, one at a time, and publishes what changed. */
typedef struct srv_checker {
  srv_server *srv;
  cache_store *store;
  uv_timer_t poll;     /* the next check: --check-interval, or the backoff after a failure */
  uv_timer_t debounce; /* a change event -> a check SRV_WATCH_DEBOUNCE_MS later */
  uv_timer_t readers;  /* cache_store_reader_check every SRV_READER_CHECK_MS */
  srv_watch watch[SRV_WATCH_DIRS];
  uv_work_t work;
  bool running;        /* work is queued or running */
  bool again;          /* a trigger arrived during the check: check once more after it */
  bool stopped;        /* srv_checker_stop ran: handles closing, no new check */
  uint64_t backoff_ms; /* the last retry delay (0: the last check succeeded) */
  uint64_t fail_hash;  /* identifies the last failure's diagnostics: logged once */
  /* one check's input (set on the loop) and output (set by the worker) */
  bool has_current;
  uint8_t current[32]; /* stamp of the published snapshot when the check began */
  uint64_t started_ms;
  bool ok, changed, other_writer;
  uint32_t puts, dels;
  pdpe_snapshot *snap; /* the new snapshot when changed */
  cache_diag diag;
  /* DefinePermissions waiting for a check that starts after their write (define.c) */
  uint64_t checks_started; /* checks started so far; the running one is number checks_started */
  srv_define *waiting;     /* answered when a check numbered >= their need ends */
} srv_checker;

/* Set up the checker's handles on srv->loop (no check yet). */
void srv_checker_init(srv_checker *ck, srv_server *srv, cache_store *store);
/* Start watching and polling; the first check is queued at once. */
void srv_checker_start(srv_checker *ck);
/* Check now, or once more right after the running check. */
void srv_checker_trigger(srv_checker *ck);
/* Close the handles; a queued check is cancelled, a running one finishes (the loop waits for
 * it) and its result is dropped.  Twice is harmless. */
void srv_checker_stop(srv_checker *ck);
/* Every diagnostic to stderr. */
void srv_log_diag(const cache_diag *diag);

/* ---- DefinePermissions jobs (define.c) ---------------------------------------------------- */

/* Queue the job's file write on the threadpool for the connection c (NULL: nobody waits);
 * the job answers c through srv_conn_unpark and frees itself.  False when it cannot be
 * queued: the caller then answers it (srv_define_answer: INTERNAL) and frees it. */
bool srv_define_start(struct srv_server *srv, srv_define *job, srv_conn *c);
void srv_define_free(srv_define *job);
/* The connection went away: the job finishes without answering. */
void srv_define_detach(srv_define *job);
/* The checker's check number `seq` ended (ok: it succeeded and published or confirmed the
 * snapshot): answer the jobs that waited for it.  With stopping set, answer every job. */
void srv_define_checked(srv_checker *ck, uint64_t seq, bool ok, const char *why, bool stopping);
/* Append the job's answer (its id, status and body) to out; false when out of memory. */
bool srv_define_answer(srv_ctx *ctx, const srv_define *job, srv_buf *out);

/* One running daemon: its loop, listener, signals and open connections. */
struct srv_server {
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
  srv_checker checker;     /* the source's staleness checks */
  uv_timer_t authn_timer;  /* --jwt-config: re-read changed key files every second */
  uint32_t authn_ticks;    /* timer ticks, for the occasional sweep of expired tokens */
  uint64_t authn_err_hash; /* the last reload error logged (0: none): logged once */
  int exit_code;           /* what srv_run returns once the loop runs dry */
};

/* Stop serving: close the listener and signals, drain the connections, stop the checker;
 * srv_run then returns exit_code.  Twice is harmless (the first code wins). */
void srv_server_stop(srv_server *srv, int exit_code);

/* Start srv->authn_timer when srv->ctx.authn is set (token.c); stop closes it. */
void srv_token_timer_start(srv_server *srv);
void srv_token_timer_stop(srv_server *srv);

/* How conn.c allocates a connection (tests replace it to simulate running out of memory). */
extern void *(*srv_conn_calloc)(size_t n, size_t size);

/* Accept one pending connection on srv->listener (the listen callback's work). */
void srv_conn_accept(srv_server *srv);
/* Shutdown: stop reading everywhere, let queued answers be written, then close. */
void srv_conn_drain_all(srv_server *srv);
/* Close every connection now, written or not (the drain deadline passed). */
void srv_conn_close_all(srv_server *srv);
/* The DefinePermissions c was waiting for is answered: append its answer and carry on with
 * the frames c has buffered. */
void srv_conn_unpark(srv_conn *c, srv_define *job);

#endif

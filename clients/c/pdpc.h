/* pdpc.h - the C client of pdpd (library libpdpclient, prefix pdpc_).
 *
 * One connection (pdpc_conn) talks to one pdpd over its Unix socket with the framing of
 * docs/protocol.md.  Calls block for at most the connection's timeout; every call returns
 * 0 or a negative PDPC_E_* code, and the connection keeps the last error's words
 * (pdpc_conn_error).  There is no global state: a connection is used by one thread at a
 * time, different connections are independent.
 *
 * Safety invariant: a pdpc_result says ALLOW only when the server's status was OK and its
 * decision was ALLOW.  Transport errors, non-OK statuses, unknown decisions and malformed
 * answers all read as DENY.  Test with pdpc_result_allowed().
 *
 * Ownership: pdpc_x_new()/pdpc_x_free() for heap objects; pdpc_result_init()/_close() (and
 * pdpc_list_result_, pdpc_define_result_) for caller-owned structs whose contents the
 * library fills.  Functions that "take" a value own it afterwards even when they fail, so
 * builder calls can be nested; the one exception is a value that already has an owner,
 * which is refused and left to it (pdpc_set_add).
 * This header does not depend on protobuf-c.
 */
#ifndef PDPC_H
#define PDPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors -------------------------------------------------------------------------- */

enum {
  PDPC_E_INVAL = -1,    /* bad argument (NULL, path too long, unset uid, value too deep) */
  PDPC_E_NOMEM = -2,    /* out of memory */
  PDPC_E_CONNECT = -3,  /* cannot connect: nothing listens, no such socket, refused */
  PDPC_E_TIMEOUT = -4,  /* the connection's timeout passed */
  PDPC_E_IO = -5,       /* read or write failed (errno in the message) */
  PDPC_E_CLOSED = -6,   /* the server closed the connection */
  PDPC_E_PROTOCOL = -7, /* malformed frame, oversize frame, id mismatch, wrong body */
  PDPC_E_STATUS = -8,   /* the server answered a non-OK status (health, status, list, define) */
  PDPC_E_STATE = -9     /* nothing to receive, or the connection is broken */
};

/* Short English name of a PDPC_E_* code ("timeout"). */
const char *pdpc_strerror(int code);

/* An error as a value: the code and a message naming what failed. */
typedef struct pdpc_error {
  int code;          /* 0 or PDPC_E_* */
  int status;        /* the server's status code when code == PDPC_E_STATUS, else 0 */
  char message[256]; /* e.g. "connect /run/pdpd/pdpd.sock: No such file or directory" */
} pdpc_error;

/* Server status codes (pdp.v1.Status.Code). */
typedef enum pdpc_status {
  PDPC_STATUS_UNSPECIFIED = 0, /* never sent by pdpd; also used for client-side failures */
  PDPC_STATUS_OK = 1,
  PDPC_STATUS_BAD_REQUEST = 2,
  PDPC_STATUS_FRAME_TOO_LARGE = 3,
  PDPC_STATUS_UNAUTHENTICATED = 4,
  PDPC_STATUS_NO_POLICY = 5,
  PDPC_STATUS_STALE = 6,
  PDPC_STATUS_UNIMPLEMENTED = 7,
  PDPC_STATUS_OVERLOADED = 8,
  PDPC_STATUS_INTERNAL = 9
} pdpc_status;

/* "OK", "BAD_REQUEST", ... ("UNKNOWN" for other numbers). */
const char *pdpc_status_name(int status);

/* ---- values and entities --------------------------------------------------------------- */

/* A Cedar value tree (bool, long, string, entity, set, record, extension call). */
typedef struct pdpc_value pdpc_value;

pdpc_value *pdpc_value_bool(bool b);
pdpc_value *pdpc_value_long(int64_t n);
pdpc_value *pdpc_value_string(const char *s); /* copies s (protobuf strings end at NUL) */
pdpc_value *pdpc_value_entity(const char *type, const char *id);
pdpc_value *pdpc_value_extension(const char *fn, const char *arg); /* ip("10.0.0.1") */
pdpc_value *pdpc_value_set(void);                                  /* empty set */
pdpc_value *pdpc_value_record(void);                               /* empty record */
/* Add to a set / record.  Both take `item` (freed on failure; NULL item fails with
 * PDPC_E_NOMEM, so a failed constructor can be passed straight in).  A record keeps its
 * keys unique: putting an existing key fails with PDPC_E_INVAL.
 * Values form trees: each value has at most one parent.  An item that was already added
 * somewhere (to a set, a record, or an entity's attrs or tags), or that is the parent
 * itself or contains it (a cycle), is refused with PDPC_E_INVAL and NOT taken: it still
 * belongs to its owner.  The same holds for pdpc_entity_attr / pdpc_entity_tag. */
int pdpc_set_add(pdpc_value *set, pdpc_value *item);
int pdpc_record_put(pdpc_value *record, const char *key, pdpc_value *item);
/* Frees v and everything in it.  NULL is ignored, and so is a value that was added to a
 * parent (the parent owns it and frees it). */
void pdpc_value_free(pdpc_value *v);

/* Nesting deeper than this is refused when a request is encoded, counted as pdpd counts
 * it: the context and an entity's attrs and tags are depth 1, a set or record inside k
 * sets/records has depth k + 1, scalars add nothing (so a context may hold 31 nested
 * sets). */
#define PDPC_MAX_VALUE_DEPTH 32

/* A request-scoped entity: uid, attributes, parents and tags. */
typedef struct pdpc_entity pdpc_entity;

pdpc_entity *pdpc_entity_new(const char *type, const char *id);
int pdpc_entity_attr(pdpc_entity *e, const char *key, pdpc_value *item); /* takes item */
int pdpc_entity_tag(pdpc_entity *e, const char *key, pdpc_value *item);  /* takes item */
int pdpc_entity_parent(pdpc_entity *e, const char *type, const char *id);
void pdpc_entity_free(pdpc_entity *e); /* NULL is ignored */

typedef struct pdpc_uid {
  const char *type; /* "User", "App::Document" */
  const char *id;   /* "alice" */
} pdpc_uid;

/* The entity's uid, borrowed from e (valid until pdpc_entity_free); {NULL, NULL} for NULL. */
pdpc_uid pdpc_entity_uid(const pdpc_entity *e);

/* ---- requests and results -------------------------------------------------------------- */

/* One check.  Everything is borrowed for the duration of the call that sends it. */
typedef struct pdpc_check_req {
  pdpc_uid principal; /* give principal or token */
  const char *token;  /* a JWT, or NULL */
  pdpc_uid action;
  pdpc_uid resource;
  const pdpc_value *context;          /* a record, or NULL for empty */
  const pdpc_entity *const *entities; /* request-scoped entities, n_entities of them */
  size_t n_entities;
  bool explain; /* ask for more diagnostics */
} pdpc_check_req;

typedef enum pdpc_decision {
  PDPC_DENY = 0, /* also every failure: zero-initialised results deny */
  PDPC_ALLOW = 1
} pdpc_decision;

typedef struct pdpc_policy_error {
  char *policy_id; /* owned by the result */
  char *message;
} pdpc_policy_error;

/* The answer to one check.  Caller-owned struct, contents owned by it: pdpc_result_init()
 * before first use, pdpc_result_close() after (a filled result may be refilled; the
 * library closes it first). */
typedef struct pdpc_result {
  uint64_t id;            /* the request id it answers */
  int status;             /* pdpc_status; UNSPECIFIED when the client failed */
  char *message;          /* status message or client error, never NULL once filled */
  pdpc_decision decision; /* ALLOW only when status == OK and pdpd said ALLOW */
  char **reason;          /* determining policy / grant ids */
  size_t n_reason;
  pdpc_policy_error *errors; /* policies skipped because their evaluation errored */
  size_t n_errors;
  uint8_t stamp[32]; /* snapshot stamp that decided */
  size_t stamp_len;  /* 32 when present, else 0 */
} pdpc_result;

void pdpc_result_init(pdpc_result *r);
void pdpc_result_close(pdpc_result *r); /* frees the contents, leaves r initialised */
/* True only when status is OK and the decision is ALLOW. */
bool pdpc_result_allowed(const pdpc_result *r);

/* ---- connections ------------------------------------------------------------------------ */

typedef struct pdpc_conn pdpc_conn;

#define PDPC_DEFAULT_MAX_FRAME (1u << 20)   /* largest response accepted: 1 MiB */
#define PDPC_DEFAULT_MAX_REQUEST (1u << 20) /* largest request sent: pdpd's default --max-frame */

/* Connect to pdpd's socket.  timeout_ms bounds the connect and, later, each call on the
 * connection as a whole (one deadline for the call, sending and receiving included; <= 0:
 * wait forever).  Returns NULL and fills *err (may be NULL) on failure;
 * paths of 108 bytes or more are refused. */
pdpc_conn *pdpc_connect(const char *path, int timeout_ms, pdpc_error *err);
/* Wrap an already connected stream socket (the connection takes ownership of fd). */
pdpc_conn *pdpc_conn_from_fd(int fd, int timeout_ms, pdpc_error *err);
void pdpc_close(pdpc_conn *c); /* closes the socket and frees c; NULL is ignored */

void pdpc_set_timeout(pdpc_conn *c, int timeout_ms);
/* The largest answer body accepted: a longer length prefix fails with PDPC_E_PROTOCOL
 * (before anything is allocated) and breaks the connection.  Applies to answers only.
 * 0 restores the default. */
void pdpc_set_max_frame(pdpc_conn *c, uint32_t max_frame);
/* The largest request body sent: a longer request fails with PDPC_E_INVAL before anything
 * is written, and the connection stays usable.  Set it to pdpd's --max-frame, above which
 * pdpd answers FRAME_TOO_LARGE and closes the connection.  0 restores the default. */
void pdpc_set_max_request(pdpc_conn *c, uint32_t max_request);
/* The last error on this connection (borrowed; code 0 when none). */
const pdpc_error *pdpc_conn_error(const pdpc_conn *c);

/* One check, one round trip.  Returns 0 when an answer arrived (its status may still be
 * non-OK: look at result->status), or a negative PDPC_E_* code; in every case *result is
 * filled and denies unless allowed.  Any transport or protocol error breaks the
 * connection (later calls fail with PDPC_E_STATE): reconnect.  When the server closes the
 * connection after answering (pdpd's FRAME_TOO_LARGE and OVERLOADED answers, id 0), that
 * answer is what the call reports (PDPC_E_PROTOCOL with result->status set to the
 * server's), not PDPC_E_CLOSED; answers buffered before a close are always delivered
 * first. */
int pdpc_check(pdpc_conn *c, const pdpc_check_req *req, pdpc_result *result);

/* Many checks in one round trip: results[i] answers reqs[i] (n of each).  `shared` entities
 * go with every check.  Returns 0 when the batch answer arrived (each result has its own
 * status), or a negative code (every result then denies with the error). */
int pdpc_batch_check(pdpc_conn *c, const pdpc_check_req *reqs, size_t n,
                     const pdpc_entity *const *shared, size_t n_shared, pdpc_result *results);

/* Pipelining: send many checks, then receive their answers in the same order.  send
 * stores the request id in *id (may be NULL); recv fills the answer to the oldest
 * unanswered check and fails with PDPC_E_PROTOCOL when its id does not match.  While a
 * send waits for the socket it also reads pending answers into a buffer, so sending many
 * before receiving cannot deadlock.  If the server closes while a send writes, the send
 * fails with PDPC_E_CLOSED, unless the server had answered that request before closing:
 * then the send returns 0 and recv delivers that answer.  Answers received before a close
 * stay receivable with pdpc_recv.  Do not mix with pdpc_check etc. while checks are
 * outstanding (those calls fail with PDPC_E_STATE). */
int pdpc_send_check(pdpc_conn *c, const pdpc_check_req *req, uint64_t *id);
int pdpc_recv(pdpc_conn *c, pdpc_result *result);
size_t pdpc_pending(const pdpc_conn *c); /* checks sent and not yet received */

typedef enum pdpc_health_state {
  PDPC_HEALTH_UNSPECIFIED = 0,
  PDPC_HEALTH_SERVING = 1,
  PDPC_HEALTH_DEGRADED = 2,
  PDPC_HEALTH_NO_POLICY = 3
} pdpc_health_state;

typedef struct pdpc_health {
  pdpc_health_state state;
  char reason[256]; /* truncated if longer */
  uint8_t stamp[32];
  size_t stamp_len;
  uint64_t snapshot_age_ms;
} pdpc_health;

typedef struct pdpc_server_status {
  char version[64];
  char source[256];
  char degraded_reason[256]; /* empty when healthy */
  uint8_t stamp[32];
  size_t stamp_len;
  int64_t last_check_unix_ms;
  int64_t last_change_unix_ms;
  uint64_t snapshot_age_ms;
  uint64_t policies, entities, grants, definitions;
  uint64_t connections;    /* open client connections */
  uint64_t requests_total; /* requests answered since start */
} pdpc_server_status;

/* Health and Status round trips: 0 with *out filled, or a negative code (PDPC_E_STATUS
 * when the server said non-OK; the message is in pdpc_conn_error). */
int pdpc_health_check(pdpc_conn *c, pdpc_health *out);
int pdpc_server_status_get(pdpc_conn *c, pdpc_server_status *out);

/* ---- allowed actions (ListAllowed) ------------------------------------------------------ */

/* Which defined actions may principal do on resource?  Everything is borrowed for the
 * duration of the call. */
typedef struct pdpc_list_req {
  pdpc_uid principal; /* give principal or token */
  const char *token;  /* a JWT, or NULL */
  pdpc_uid resource;
  const pdpc_value *context;          /* a record, or NULL for empty */
  const pdpc_entity *const *entities; /* request-scoped entities, n_entities of them */
  size_t n_entities;
  const char *action_prefix; /* only actions whose id starts with it; NULL or "": all */
} pdpc_list_req;

/* The answer to a ListAllowed.  Caller-owned struct, contents owned by it:
 * pdpc_list_result_init() before first use, pdpc_list_result_close() after (a filled result
 * may be refilled; the library closes it first).  Only an answer with status OK lists
 * actions: on every failure n_actions is 0. */
typedef struct pdpc_list_result {
  uint64_t id;       /* the request id it answers (0 when nothing was sent) */
  int status;        /* pdpc_status; UNSPECIFIED when the client failed */
  char *message;     /* status message or client error; NULL only when out of memory */
  pdpc_uid *actions; /* the allowed actions; the array and its strings owned by the result */
  size_t n_actions;
  uint8_t stamp[32]; /* snapshot stamp that decided */
  size_t stamp_len;  /* 32 when present, else 0 */
} pdpc_list_result;

void pdpc_list_result_init(pdpc_list_result *r);
void pdpc_list_result_close(pdpc_list_result *r); /* frees the contents, leaves r initialised */

/* One ListAllowed round trip.  Returns 0 when pdpd answered OK (out->actions filled), or a
 * negative code with out filled as a failure (no actions) and the words in both
 * out->message and pdpc_conn_error:
 * - PDPC_E_INVAL: a bad request (NULL req or out, a uid without type or id, a context that
 *   is not a record, nesting past PDPC_MAX_VALUE_DEPTH, a NULL entity); nothing was sent.
 * - PDPC_E_STATUS: pdpd answered a non-OK status; out->status and out->message are its
 *   (e.g. UNIMPLEMENTED from a pdpd that does not serve ListAllowed), and
 *   pdpc_conn_error(c)->status too.  Unlike pdpc_check, a non-OK answer is an error here.
 *   The connection stays usable.
 * - transport and protocol errors as for pdpc_check (wrong id, OK without a list_allowed
 *   body, an action without a type, an oversize or undecodable answer): the connection
 *   is broken; reconnect. */
int pdpc_list_allowed(pdpc_conn *c, const pdpc_list_req *req, pdpc_list_result *out);

/* ---- permission definitions (DefinePermissions) ------------------------------------------ */

/* Which side of a multi-tenant system a permission applies to (pdp.v1.Tenancy). */
typedef enum pdpc_tenancy {
  PDPC_TENANCY_BOTH = 0, /* host and tenants */
  PDPC_TENANCY_HOST = 1,
  PDPC_TENANCY_TENANT = 2
} pdpc_tenancy;

/* Grant providers that may grant a permission (pdp.v1.Provider), as bits of
 * pdpc_definition.providers; 0 (PDPC_PROVIDER_ALL) means every provider. */
enum {
  PDPC_PROVIDER_ALL = 0,
  PDPC_PROVIDER_ROLE = 1u << 0,   /* R */
  PDPC_PROVIDER_USER = 1u << 1,   /* U */
  PDPC_PROVIDER_CLIENT = 1u << 2, /* C */
};

/* One permission definition (pdp.v1.PermissionDefinition); everything is borrowed for
 * the duration of the call.  Only name is required; NULL strings are sent as "". */
typedef struct pdpc_definition {
  const char *name;         /* the action id, e.g. "orders.edit"; not NULL or empty */
  const char *display_name; /* for people */
  const char *group;        /* parent action group, or NULL */
  const char *parent;       /* parent permission, or NULL */
  bool disabled;            /* a disabled permission is denied to everyone */
  pdpc_tenancy tenancy;
  unsigned providers;           /* PDPC_PROVIDER_* bits; 0: all providers */
  const pdpc_value *properties; /* custom data: a record (depth as a context), or NULL */
} pdpc_definition;

/* The answer to a DefinePermissions; init/close like pdpc_list_result. */
typedef struct pdpc_define_result {
  uint64_t id;       /* the request id it answers (0 when nothing was sent) */
  int status;        /* pdpc_status; UNSPECIFIED when the client failed */
  char *message;     /* status message or client error; NULL only when out of memory */
  bool changed;      /* false when pdpd already had exactly these definitions; true only on OK */
  uint8_t stamp[32]; /* the snapshot stamp after the definitions were applied */
  size_t stamp_len;  /* 32 when present, else 0 */
} pdpc_define_result;

void pdpc_define_result_init(pdpc_define_result *r);
void pdpc_define_result_close(pdpc_define_result *r);

/* Register `service`'s permission definitions: defs[0..n) (n may be 0) and the names in
 * deleted[0..n_deleted) to remove (nothing else is ever removed).  Returns 0 when pdpd
 * answered OK, or a negative code exactly as pdpc_list_allowed does (PDPC_E_INVAL for a
 * NULL or empty service, a NULL array with a non-zero count, a definition without a name,
 * a tenancy or provider bit out of range, properties that are not a record or nest too
 * deep, a NULL or empty deleted name; PDPC_E_STATUS for a non-OK answer such as
 * UNIMPLEMENTED).  Errors name the field: "definitions[2].tenancy: 7 is not a tenancy". */
int pdpc_define_permissions(pdpc_conn *c, const char *service, const pdpc_definition *defs,
                            size_t n, const char *const *deleted, size_t n_deleted,
                            pdpc_define_result *out);

/* ---- advanced ------------------------------------------------------------------------- */

/* Encode a Check request with the given id as one frame (4-byte big-endian length and the
 * serialized pdp.v1.Request) into a new buffer (free() it).  For tools, tests and docs. */
int pdpc_encode_check(const pdpc_check_req *req, uint64_t id, uint8_t **frame, size_t *len);

/* Decode one Response body (no length prefix) that answers a check with id `expect_id`
 * into *result, applying every rule pdpc_recv applies. */
int pdpc_decode_check(const uint8_t *body, size_t len, uint64_t expect_id, pdpc_result *result);

/* The same for ListAllowed and DefinePermissions.  The encoders validate exactly as the
 * calls do and, on failure, put the words in *err (may be NULL); *frame is then NULL.
 * The decoders read one Response body (no length prefix) answering `expect_id` and return
 * what the calls return for it (0, PDPC_E_STATUS, PDPC_E_PROTOCOL, PDPC_E_NOMEM, or
 * PDPC_E_INVAL for NULL arguments), filling *out in every case but a NULL out. */
int pdpc_encode_list_allowed(const pdpc_list_req *req, uint64_t id, uint8_t **frame, size_t *len,
                             pdpc_error *err);
int pdpc_decode_list_allowed(const uint8_t *body, size_t len, uint64_t expect_id,
                             pdpc_list_result *out);
int pdpc_encode_define_permissions(const char *service, const pdpc_definition *defs, size_t n,
                                   const char *const *deleted, size_t n_deleted, uint64_t id,
                                   uint8_t **frame, size_t *len, pdpc_error *err);
int pdpc_decode_define_permissions(const uint8_t *body, size_t len, uint64_t expect_id,
                                   pdpc_define_result *out);

#ifdef __cplusplus
}
#endif

#endif

/* client.c - connections of the C client: connect, framing, timeouts, pipelining.
 *
 * A pdpc_conn owns one non-blocking Unix stream socket, a read buffer and a FIFO of the ids
 * of checks sent and not yet answered.  Every call computes one deadline from the
 * connection's timeout and waits with poll() until then (pdpc_check's send and receive
 * share one deadline); EINTR is retried, short reads and writes continue where they
 * stopped.  An answer's length is checked against max_frame before anything is allocated
 * for it; a request is checked against max_request before it is sent.  While a write waits for room
 * it also drains the socket into the read buffer, so a client that sends many checks before reading
 * cannot deadlock against a server that is blocked writing answers. Any transport or protocol error
 * marks the connection broken: the stream can no longer be trusted, and later calls fail with
 * PDPC_E_STATE.  A server that closes is the one exception while whole answers it sent before
 * closing are still buffered (pdpd says FRAME_TOO_LARGE or OVERLOADED, then closes): those are
 * delivered first, and the connection breaks when none is left.
 */
#include "pdpc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* While writing, stop draining answers into the buffer past this many bytes. */
#define PDPC_MAX_BUFFERED (64u << 20)

struct pdpc_conn {
  int fd;
  int timeout_ms;       /* per call; <= 0 waits forever */
  uint32_t max_frame;   /* largest response body accepted */
  uint32_t max_request; /* largest request body sent */
  bool broken;          /* the stream is out of sync; only pdpc_close is useful */
  bool eof;             /* the server closed: nothing arrives beyond what is buffered */
  uint64_t next_id;     /* last id used */
  uint64_t *pend;       /* ring of outstanding check ids */
  size_t pend_head, pend_len, pend_cap;
  uint8_t *rbuf; /* received bytes not yet consumed: [rpos, rlen) */
  size_t rpos, rlen, rcap;
  pdpc_error err;
};

static const char *const err_names[] = {"ok",
                                        "invalid argument",
                                        "out of memory",
                                        "cannot connect",
                                        "timeout",
                                        "i/o error",
                                        "connection closed by server",
                                        "protocol error",
                                        "server status not OK",
                                        "connection not usable"};

const char *pdpc_strerror(int code) {
  if (code > 0 || -code >= (int)(sizeof err_names / sizeof *err_names)) return "unknown error";
  return err_names[-code];
}

static void err_set(pdpc_error *e, int code, const char *fmt, va_list ap) {
  if (!e) return;
  e->code = code;
  e->status = 0;
  vsnprintf(e->message, sizeof e->message, fmt, ap);
}

static void err_fill(pdpc_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_fill(pdpc_error *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_set(e, code, fmt, ap);
  va_end(ap);
}

/* Record an error; transport and protocol errors also break the connection. */
static int fail(pdpc_conn *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(pdpc_conn *c, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_set(&c->err, code, fmt, ap);
  va_end(ap);
  if (code == PDPC_E_TIMEOUT || code == PDPC_E_IO || code == PDPC_E_PROTOCOL) c->broken = true;
  return code;
}

/* How many whole frames wait in the read buffer. */
static size_t frames_buffered(const pdpc_conn *c) {
  size_t k = 0;
  for (size_t at = c->rpos; c->rlen - at >= 4; k++) {
    size_t n = pdpc__get_be32(c->rbuf + at);
    if (c->rlen - at - 4 < n) break;
    at += 4 + n;
  }
  return k;
}

/* The server closed the connection (read EOF or reset, or a write found it gone).  The
 * connection breaks only when no whole answer is left in the buffer to deliver. */
static int closed(pdpc_conn *c) {
  c->eof = true;
  err_fill(&c->err, PDPC_E_CLOSED, "server closed the connection");
  if (frames_buffered(c) == 0) c->broken = true;
  return PDPC_E_CLOSED;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_of(int timeout_ms) {
  return timeout_ms > 0 ? now_ms() + timeout_ms : -1;
}

/* Milliseconds left for poll(), -1 for no deadline, 0 when it passed. */
static int remaining(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - now_ms();
  if (left <= 0) return 0;
  return left > 1000000000 ? 1000000000 : (int)left;
}

/* poll() one fd until an event or the deadline: 1 ready (revents set), 0 timeout, <0 error. */
static int wait_fd(int fd, short events, int64_t deadline, short *revents) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int left = remaining(deadline);
    if (deadline >= 0 && left == 0) return 0;
    int r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) continue; /* the loop re-checks the deadline */
    *revents = p.revents;
    return 1;
  }
}

/* ---- connect ---------------------------------------------------------------------------- */

static pdpc_conn *conn_new(int fd, int timeout_ms, pdpc_error *err) {
  pdpc_conn *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    err_fill(err, PDPC_E_NOMEM, "out of memory");
    return NULL;
  }
  c->fd = fd;
  c->timeout_ms = timeout_ms;
  c->max_frame = PDPC_DEFAULT_MAX_FRAME;
  c->max_request = PDPC_DEFAULT_MAX_REQUEST;
  if (err) memset(err, 0, sizeof *err);
  return c;
}

pdpc_conn *pdpc_connect(const char *path, int timeout_ms, pdpc_error *err) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (!path || !path[0]) {
    err_fill(err, PDPC_E_INVAL, "socket path is empty");
    return NULL;
  }
  size_t len = strlen(path);
  if (len >= sizeof addr.sun_path) {
    err_fill(err, PDPC_E_INVAL,
             "socket path too long (%zu bytes; Unix socket paths must be under %zu)", len,
             sizeof addr.sun_path);
    return NULL;
  }
  memcpy(addr.sun_path, path, len);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err_fill(err, PDPC_E_IO, "socket: %s", strerror(errno));
    return NULL;
  }
  int64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) break;
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN) { /* the listen backlog is full: try again until the deadline */
      if (deadline >= 0 && remaining(deadline) == 0) {
        close(fd);
        err_fill(err, PDPC_E_TIMEOUT, "connect %s: timed out after %d ms (server busy)", path,
                 timeout_ms);
        return NULL;
      }
      poll(NULL, 0, 5);
      continue;
    }
    if (e == EINPROGRESS) {
      short rev = 0;
      int r = wait_fd(fd, POLLOUT, deadline, &rev);
      int so = 0;
      socklen_t sl = sizeof so;
      if (r == 0) {
        close(fd);
        err_fill(err, PDPC_E_TIMEOUT, "connect %s: timed out after %d ms", path, timeout_ms);
        return NULL;
      }
      if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0) break;
      e = r < 0 ? -r : so;
    }
    close(fd);
    const char *hint = (e == ENOENT || e == ECONNREFUSED) ? " (is pdpd running?)" : "";
    err_fill(err, PDPC_E_CONNECT, "connect %s: %s%s", path, strerror(e), hint);
    return NULL;
  }
  return conn_new(fd, timeout_ms, err);
}

pdpc_conn *pdpc_conn_from_fd(int fd, int timeout_ms, pdpc_error *err) {
  if (fd < 0) {
    err_fill(err, PDPC_E_INVAL, "invalid file descriptor %d", fd);
    return NULL;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    err_fill(err, PDPC_E_IO, "fcntl: %s", strerror(errno));
    close(fd);
    return NULL;
  }
  return conn_new(fd, timeout_ms, err);
}

void pdpc_close(pdpc_conn *c) {
  if (!c) return;
  close(c->fd);
  free(c->pend);
  free(c->rbuf);
  free(c);
}

void pdpc_set_timeout(pdpc_conn *c, int timeout_ms) {
  if (c) c->timeout_ms = timeout_ms;
}

void pdpc_set_max_frame(pdpc_conn *c, uint32_t max_frame) {
  if (c) c->max_frame = max_frame ? max_frame : PDPC_DEFAULT_MAX_FRAME;
}

void pdpc_set_max_request(pdpc_conn *c, uint32_t max_request) {
  if (c) c->max_request = max_request ? max_request : PDPC_DEFAULT_MAX_REQUEST;
}

const pdpc_error *pdpc_conn_error(const pdpc_conn *c) {
  return c ? &c->err : NULL;
}

size_t pdpc_pending(const pdpc_conn *c) {
  return c ? c->pend_len : 0;
}

/* ---- reading and writing ----------------------------------------------------------------- */

/* Make room for `want` more bytes after rlen (compacting first). */
static int rbuf_reserve(pdpc_conn *c, size_t want) {
  if (c->rpos > 0) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  if (c->rcap - c->rlen >= want) return 0;
  size_t cap = c->rcap ? c->rcap : 4096;
  while (cap - c->rlen < want) cap *= 2;
  uint8_t *b = realloc(c->rbuf, cap);
  if (!b) return fail(c, PDPC_E_NOMEM, "out of memory (read buffer of %zu bytes)", cap);
  c->rbuf = b;
  c->rcap = cap;
  return 0;
}

/* One recv() into the buffer: >0 bytes, 0 nothing available now, <0 error. */
static int read_some(pdpc_conn *c) {
  if (c->eof) return closed(c);
  int rc = rbuf_reserve(c, 16384);
  if (rc) return rc;
  for (;;) {
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
    if (n > 0) {
      c->rlen += (size_t)n;
      return 1;
    }
    if (n == 0) return closed(c);
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return closed(c); /* after every byte it sent was read */
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return fail(c, PDPC_E_IO, "read: %s", strerror(errno));
  }
}

/* The server is gone while we write: keep what it sent before closing. */
static int closed_while_writing(pdpc_conn *c) {
  while (!c->eof && read_some(c) > 0) {
  }
  return closed(c);
}

static int write_all(pdpc_conn *c, const uint8_t *p, size_t len, int64_t deadline) {
  if (c->eof) return closed(c);
  while (len > 0) {
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      if (errno == EPIPE || errno == ECONNRESET) return closed_while_writing(c);
      return fail(c, PDPC_E_IO, "write: %s", strerror(errno));
    }
    short ev = POLLOUT;
    if (c->rlen - c->rpos < PDPC_MAX_BUFFERED) ev |= POLLIN;
    short rev = 0;
    int r = wait_fd(c->fd, ev, deadline, &rev);
    if (r == 0) return fail(c, PDPC_E_TIMEOUT, "write: timed out after %d ms", c->timeout_ms);
    if (r < 0) return fail(c, PDPC_E_IO, "poll: %s", strerror(-r));
    if (rev & POLLIN) {
      int rr = read_some(c);
      if (rr == PDPC_E_CLOSED) return closed_while_writing(c);
      if (rr < 0) return rr;
    }
  }
  return 0;
}

/* Next complete frame: *body points into the read buffer, valid until the next read. */
static int read_frame(pdpc_conn *c, int64_t deadline, const uint8_t **body, size_t *len) {
  for (;;) {
    size_t have = c->rlen - c->rpos;
    if (have >= 4) {
      const uint8_t *h = c->rbuf + c->rpos;
      uint32_t n = pdpc__get_be32(h);
      if (n > c->max_frame)
        return fail(c, PDPC_E_PROTOCOL, "response frame of %u bytes is larger than max_frame (%u)",
                    n, c->max_frame);
      if (have - 4 >= n) {
        *body = h + 4;
        *len = n;
        c->rpos += 4 + (size_t)n;
        return 0;
      }
      int rc = rbuf_reserve(c, 4 + (size_t)n - have);
      if (rc) return rc;
    }
    int r = read_some(c);
    if (r < 0) return r;
    if (r > 0) continue;
    short rev = 0;
    int w = wait_fd(c->fd, POLLIN, deadline, &rev);
    if (w == 0)
      return fail(c, PDPC_E_TIMEOUT, "read: timed out after %d ms waiting for an answer",
                  c->timeout_ms);
    if (w < 0) return fail(c, PDPC_E_IO, "poll: %s", strerror(-w));
  }
}

static int usable(pdpc_conn *c) {
  if (c->broken) {
    c->err.code = PDPC_E_STATE;
    return PDPC_E_STATE; /* keep the message of the error that broke it */
  }
  return 0;
}

static int send_request(pdpc_conn *c, Pdp__V1__Request *req, int64_t deadline) {
  uint8_t *frame = NULL;
  size_t len = 0;
  int rc = pdpc__pack_frame(&req->base, &frame, &len);
  if (rc) return fail(c, rc, "cannot encode request: %s", pdpc_strerror(rc));
  if (len - 4 > c->max_request) {
    free(frame);
    return fail(c, PDPC_E_INVAL, "request of %zu bytes is larger than max_request (%u)", len - 4,
                c->max_request);
  }
  rc = write_all(c, frame, len, deadline);
  free(frame);
  return rc;
}

/* Receive and decode the next frame as a Response. */
static int recv_response(pdpc_conn *c, int64_t deadline, Pdp__V1__Response **out) {
  const uint8_t *body = NULL;
  size_t len = 0;
  int rc = read_frame(c, deadline, &body, &len);
  if (rc) return rc;
  *out = pdp__v1__response__unpack(NULL, len, body);
  if (!*out) return fail(c, PDPC_E_PROTOCOL, "malformed response (%zu bytes do not decode)", len);
  return 0;
}

int pdpc__exchange(pdpc_conn *c, Pdp__V1__Request *req, Pdp__V1__Response **out) {
  *out = NULL;
  int rc = usable(c);
  if (rc) return rc;
  if (c->pend_len)
    return fail(c, PDPC_E_STATE, "%zu pipelined checks are still unanswered", c->pend_len);
  int64_t deadline = deadline_of(c->timeout_ms);
  req->id = ++c->next_id;
  rc = send_request(c, req, deadline);
  if (rc == PDPC_E_CLOSED && frames_buffered(c) > 0) rc = 0; /* it answered before closing */
  if (rc) return rc;
  return recv_response(c, deadline, out);
}

void pdpc__conn_begin(pdpc_conn *c) {
  c->err.code = 0;
  c->err.status = 0;
}

int pdpc__conn_fail(pdpc_conn *c, int code, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_set(&c->err, code, fmt, ap);
  va_end(ap);
  if (code == PDPC_E_TIMEOUT || code == PDPC_E_IO || code == PDPC_E_PROTOCOL) c->broken = true;
  if (code == PDPC_E_STATUS) c->err.status = status;
  return code;
}

/* One request, one response with the same id, nothing pipelined. */
static int roundtrip(pdpc_conn *c, Pdp__V1__Request *req, Pdp__V1__Response **out) {
  int rc = pdpc__exchange(c, req, out);
  if (rc) return rc;
  if ((*out)->id != req->id) {
    pdpc_result tmp;
    char msg[200];
    pdpc_result_init(&tmp);
    pdpc__result_from_response(&tmp, *out, req->id, msg, sizeof msg);
    pdpc_result_close(&tmp);
    pdp__v1__response__free_unpacked(*out, NULL);
    *out = NULL;
    return fail(c, PDPC_E_PROTOCOL, "%s", msg);
  }
  return 0;
}

/* ---- checks ------------------------------------------------------------------------------ */

static int build_fail(pdpc_conn *c, int rc, const char *msg) {
  if (rc == PDPC_E_NOMEM) return fail(c, rc, "out of memory");
  return fail(c, rc, "%s", msg);
}

static int send_check_until(pdpc_conn *c, const pdpc_check_req *req, uint64_t *id,
                            int64_t deadline);
static int recv_until(pdpc_conn *c, pdpc_result *result, int64_t deadline);

int pdpc_check(pdpc_conn *c, const pdpc_check_req *req, pdpc_result *result) {
  if (!c || !result) return PDPC_E_INVAL;
  c->err.code = 0;
  int64_t deadline = deadline_of(c->timeout_ms); /* one for the whole round trip */
  int rc = c->pend_len
               ? fail(c, PDPC_E_STATE, "%zu pipelined checks are still unanswered", c->pend_len)
               : send_check_until(c, req, NULL, deadline);
  if (rc) {
    pdpc__result_fail(result, 0, c->err.message);
    return rc;
  }
  return recv_until(c, result, deadline);
}

int pdpc_send_check(pdpc_conn *c, const pdpc_check_req *req, uint64_t *id) {
  if (!c) return PDPC_E_INVAL;
  c->err.code = 0;
  return send_check_until(c, req, id, deadline_of(c->timeout_ms));
}

static int send_check_until(pdpc_conn *c, const pdpc_check_req *req, uint64_t *id,
                            int64_t deadline) {
  int rc = usable(c);
  if (rc) return rc;
  char msg[200] = "";
  pdpc__pool pool = {0};
  Pdp__V1__CheckRequest *body = NULL;
  if ((rc = pdpc__build_check(&pool, req, &body, msg, sizeof msg)) != 0) {
    pdpc__pool_free(&pool);
    return build_fail(c, rc, msg);
  }
  if (c->pend_len == c->pend_cap) { /* grow the ring, unrolling it */
    size_t cap = c->pend_cap ? c->pend_cap * 2 : 16;
    uint64_t *p = malloc(cap * sizeof *p);
    if (!p) {
      pdpc__pool_free(&pool);
      return fail(c, PDPC_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->pend_len; i++) p[i] = c->pend[(c->pend_head + i) % c->pend_cap];
    free(c->pend);
    c->pend = p;
    c->pend_head = 0;
    c->pend_cap = cap;
  }
  Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
  r.id = ++c->next_id;
  r.body_case = PDP__V1__REQUEST__BODY_CHECK;
  r.check = body;
  rc = send_request(c, &r, deadline);
  pdpc__pool_free(&pool);
  /* The server closed while this request went out, but answered it first (pdpd answers an
   * oversize frame with FRAME_TOO_LARGE before it closes): the answer is there to receive. */
  if (rc == PDPC_E_CLOSED && frames_buffered(c) > c->pend_len) rc = 0;
  if (rc) return rc;
  c->pend[(c->pend_head + c->pend_len) % c->pend_cap] = r.id;
  c->pend_len++;
  if (id) *id = r.id;
  return 0;
}

int pdpc_recv(pdpc_conn *c, pdpc_result *result) {
  if (!c || !result) return PDPC_E_INVAL;
  c->err.code = 0;
  return recv_until(c, result, deadline_of(c->timeout_ms));
}

static int recv_until(pdpc_conn *c, pdpc_result *result, int64_t deadline) {
  int rc = usable(c);
  if (rc == 0 && c->pend_len == 0) rc = fail(c, PDPC_E_STATE, "no check is waiting for an answer");
  if (rc) {
    pdpc__result_fail(result, 0, c->err.message);
    return rc;
  }
  uint64_t expect = c->pend[c->pend_head];
  c->pend_head = (c->pend_head + 1) % c->pend_cap;
  c->pend_len--;
  Pdp__V1__Response *resp = NULL;
  if ((rc = recv_response(c, deadline, &resp)) != 0) {
    pdpc__result_fail(result, expect, c->err.message);
    return rc;
  }
  char msg[200];
  rc = pdpc__result_from_response(result, resp, expect, msg, sizeof msg);
  pdp__v1__response__free_unpacked(resp, NULL);
  if (rc == PDPC_E_PROTOCOL) return fail(c, rc, "%s", msg);
  if (rc) return fail(c, rc, "out of memory");
  return 0;
}

int pdpc_batch_check(pdpc_conn *c, const pdpc_check_req *reqs, size_t n,
                     const pdpc_entity *const *shared, size_t n_shared, pdpc_result *results) {
  if (!c || (n && (!reqs || !results)) || (n_shared && !shared)) return PDPC_E_INVAL;
  c->err.code = 0;
  char msg[256] = "";
  pdpc__pool pool = {0};
  Pdp__V1__BatchCheckRequest *b = pdpc__pool_alloc(&pool, sizeof *b);
  int rc = b ? 0 : PDPC_E_NOMEM;
  if (b) {
    pdp__v1__batch_check_request__init(b);
    b->checks = n ? pdpc__pool_alloc(&pool, n * sizeof *b->checks) : NULL;
    b->entities = n_shared ? pdpc__pool_alloc(&pool, n_shared * sizeof *b->entities) : NULL;
    if ((n && !b->checks) || (n_shared && !b->entities)) rc = PDPC_E_NOMEM;
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char one[180] = "";
    rc = pdpc__build_check(&pool, &reqs[i], &b->checks[i], one, sizeof one);
    if (rc)
      snprintf(msg, sizeof msg, "checks[%zu]: %s", i, one);
    else
      b->n_checks++;
  }
  for (size_t i = 0; rc == 0 && i < n_shared; i++) {
    if (!shared[i]) {
      snprintf(msg, sizeof msg, "shared entities[%zu]: NULL", i);
      rc = PDPC_E_INVAL;
    } else if ((b->entities[i] = pdpc__build_entity(&pool, shared[i], msg, sizeof msg, &rc)) !=
               NULL) {
      b->n_entities++;
    }
  }
  Pdp__V1__Response *resp = NULL;
  if (rc) {
    rc = build_fail(c, rc, msg);
  } else {
    Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
    r.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK;
    r.batch_check = b;
    rc = roundtrip(c, &r, &resp);
  }
  pdpc__pool_free(&pool);
  if (rc == 0) {
    int status = resp->status ? (int)resp->status->code : PDPC_STATUS_UNSPECIFIED;
    const char *smsg =
        resp->status && resp->status->message ? resp->status->message : "response without a status";
    const Pdp__V1__BatchCheckResponse *br = resp->batch_check;
    if (status != PDPC_STATUS_OK) {
      for (size_t i = 0; i < n; i++)
        pdpc__result_from_check(&results[i], resp->id, status, smsg, NULL);
    } else if (resp->body_case != PDP__V1__RESPONSE__BODY_BATCH_CHECK || !br ||
               br->n_results != n) {
      rc =
          fail(c, PDPC_E_PROTOCOL, "batch answer has %zu results for %zu checks",
               br && resp->body_case == PDP__V1__RESPONSE__BODY_BATCH_CHECK ? br->n_results : 0, n);
    } else {
      for (size_t i = 0; i < n && rc == 0; i++) {
        const Pdp__V1__BatchCheckItem *it = br->results[i];
        int st = it && it->status ? (int)it->status->code : PDPC_STATUS_UNSPECIFIED;
        const char *m =
            it && it->status && it->status->message ? it->status->message : "item without a status";
        const Pdp__V1__CheckResponse *ck = it && st == PDPC_STATUS_OK ? it->check : NULL;
        if (st == PDPC_STATUS_OK && (!ck || (ck->decision != PDP__V1__DECISION__ALLOW &&
                                             ck->decision != PDP__V1__DECISION__DENY))) {
          st = PDPC_STATUS_UNSPECIFIED; /* an OK item without a real decision never allows */
          m = "batch item without a decision";
          ck = NULL;
        }
        if (pdpc__result_from_check(&results[i], resp->id, st, m, ck) != 0)
          rc = fail(c, PDPC_E_NOMEM, "out of memory");
        if (rc == 0 && results[i].stamp_len == 0 && br->stamp.len == 32) {
          memcpy(results[i].stamp, br->stamp.data, 32);
          results[i].stamp_len = 32;
        }
      }
    }
  }
  if (resp) pdp__v1__response__free_unpacked(resp, NULL);
  if (rc)
    for (size_t i = 0; i < n; i++) pdpc__result_fail(&results[i], 0, c->err.message);
  return rc;
}

/* ---- health and status -------------------------------------------------------------------- */

static int status_ok(pdpc_conn *c, Pdp__V1__Response *resp, Pdp__V1__Response__BodyCase want) {
  int status = resp->status ? (int)resp->status->code : PDPC_STATUS_UNSPECIFIED;
  if (status != PDPC_STATUS_OK) {
    fail(c, PDPC_E_STATUS, "%s: %s", pdpc_status_name(status),
         resp->status && resp->status->message ? resp->status->message
                                               : "response without a status");
    c->err.status = status;
    return PDPC_E_STATUS;
  }
  if (resp->body_case != want)
    return fail(c, PDPC_E_PROTOCOL, "response has status OK but the wrong body");
  return 0;
}

static void copy_str(char *dst, size_t cap, const char *s) {
  snprintf(dst, cap, "%s", s ? s : "");
}

int pdpc_health_check(pdpc_conn *c, pdpc_health *out) {
  if (!c || !out) return PDPC_E_INVAL;
  c->err.code = 0;
  memset(out, 0, sizeof *out);
  Pdp__V1__HealthRequest h = PDP__V1__HEALTH_REQUEST__INIT;
  Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
  r.body_case = PDP__V1__REQUEST__BODY_HEALTH;
  r.health = &h;
  Pdp__V1__Response *resp = NULL;
  int rc = roundtrip(c, &r, &resp);
  if (rc == 0 && (rc = status_ok(c, resp, PDP__V1__RESPONSE__BODY_HEALTH)) == 0) {
    const Pdp__V1__HealthResponse *b = resp->health;
    out->state = (pdpc_health_state)b->state;
    copy_str(out->reason, sizeof out->reason, b->reason);
    if (b->stamp.len == 32) {
      memcpy(out->stamp, b->stamp.data, 32);
      out->stamp_len = 32;
    }
    out->snapshot_age_ms = b->snapshot_age_ms;
  }
  if (resp) pdp__v1__response__free_unpacked(resp, NULL);
  return rc;
}

int pdpc_server_status_get(pdpc_conn *c, pdpc_server_status *out) {
  if (!c || !out) return PDPC_E_INVAL;
  c->err.code = 0;
  memset(out, 0, sizeof *out);
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request r = PDP__V1__REQUEST__INIT;
  r.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS;
  r.server_status = &s;
  Pdp__V1__Response *resp = NULL;
  int rc = roundtrip(c, &r, &resp);
  if (rc == 0 && (rc = status_ok(c, resp, PDP__V1__RESPONSE__BODY_SERVER_STATUS)) == 0) {
    const Pdp__V1__StatusResponse *b = resp->server_status;
    copy_str(out->version, sizeof out->version, b->version);
    copy_str(out->source, sizeof out->source, b->source);
    copy_str(out->degraded_reason, sizeof out->degraded_reason, b->degraded_reason);
    if (b->stamp.len == 32) {
      memcpy(out->stamp, b->stamp.data, 32);
      out->stamp_len = 32;
    }
    out->last_check_unix_ms = b->last_check_unix_ms;
    out->last_change_unix_ms = b->last_change_unix_ms;
    out->snapshot_age_ms = b->snapshot_age_ms;
    out->policies = b->policies;
    out->entities = b->entities;
    out->grants = b->grants;
    out->definitions = b->definitions;
    out->connections = b->connections;
    out->requests_total = b->requests_total;
  }
  if (resp) pdp__v1__response__free_unpacked(resp, NULL);
  return rc;
}

/* conn.c - client connections: read, split, answer in order, write in one go.
 *
 * Each read callback runs the complete frames in the framer through the handlers, which
 * append framed answers to `out`; then one uv_write sends all of them.  Only one write is
 * in flight per connection: answers produced meanwhile gather in `out` and leave in the
 * next write, so order is kept and writes stay coalesced.  Back-pressure: once the pending
 * output (the write in flight plus `out`) reaches SRV_HIGH_WATER, no further buffered frame
 * is answered and the connection stops reading; the write callback answers the frames left
 * in the framer and resumes reading only when they are all answered and the output is
 * below the mark again.  So a client that sends without reading holds pdpd to at most
 * SRV_HIGH_WATER plus one answer (answers are capped at max-frame) plus what was read.
 *
 * A DefinePermissions is answered after its file write and the sync behind it (define.c):
 * meanwhile the connection is "parked": it reads nothing and answers no later frame, so
 * answers stay in request order; other connections are served as usual.
 *
 * A frame longer than max-frame means the stream can no longer be trusted: it is answered
 * FRAME_TOO_LARGE and the connection closes once that answer is written.  Past
 * max-connections a new connection gets OVERLOADED and is closed the same way.
 */
#include "srv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_HIGH_WATER ((size_t)1 << 20) /* queued answer bytes that pause reading */
#define SRV_KEEP_BUF ((size_t)4 << 20)   /* output buffers larger than this are freed when idle */

struct srv_conn {
  uv_pipe_t pipe; /* handle.data points back to this conn */
  srv_server *srv;
  srv_framer in;  /* received bytes, split into frames */
  pu_arena arena; /* per-request memory, reset after each answer */
  srv_buf out;    /* answers gathered and not yet handed to a write */
  srv_buf wbuf;   /* answers in flight in wreq (swapped with out) */
  uv_write_t wreq;
  bool counted;           /* counts against max-connections (false: overflow, refused) */
  bool writing;           /* wreq is in flight */
  bool reading;           /* uv_read_start is active */
  bool closing;           /* uv_close called; freed in on_closed */
  bool close_after_write; /* close once everything queued is written */
  bool lost;              /* an oversize length prefix: no further frame is answered */
  srv_define *parked;     /* a DefinePermissions being written: later frames wait for it */
  srv_conn *prev, *next;  /* srv->conns list */
};

static void on_closed(uv_handle_t *h) {
  srv_conn *c = h->data;
  srv_framer_close(&c->in);
  pu_arena_close(&c->arena);
  srv_buf_close(&c->out);
  srv_buf_close(&c->wbuf);
  free(c);
}

static void conn_close(srv_conn *c) {
  if (c->closing) return;
  c->closing = true;
  srv_server *srv = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->counted) srv->ctx.connections--;
  if (c->parked) srv_define_detach(c->parked); /* it finishes without us */
  c->parked = NULL;
  srv_log(SRV_LOG_DEBUG, "pdpd: connection closed (%llu open)",
          (unsigned long long)srv->ctx.connections);
  uv_close((uv_handle_t *)&c->pipe, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void read_stop(srv_conn *c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t *)&c->pipe);
  c->reading = false;
}

static void read_start(srv_conn *c) {
  if (c->reading || c->closing || c->close_after_write || c->srv->stopping) return;
  if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  c->reading = true;
}

static void flush(srv_conn *c);
static bool answer_frames(srv_conn *c);

/* Answer bytes produced and not yet written: the write in flight plus `out`. */
static size_t pending_output(const srv_conn *c) {
  return (c->writing ? c->wbuf.len : 0) + c->out.len;
}

/* Answer what is buffered, start a write, and read more only when every buffered frame is
 * answered and the output is below the mark. */
static void pump(srv_conn *c) {
  bool all = answer_frames(c);
  if (c->closing) return;
  flush(c);
  if (c->closing) return;
  if (all && pending_output(c) < SRV_HIGH_WATER)
    read_start(c);
  else
    read_stop(c);
}

static void on_write(uv_write_t *w, int status) {
  srv_conn *c = w->data;
  c->writing = false;
  if (c->closing) return;
  if (status < 0) {
    srv_log(SRV_LOG_DEBUG, "pdpd: write failed: %s", uv_strerror(status));
    conn_close(c);
    return;
  }
  c->wbuf.len = 0;
  if (c->wbuf.cap > SRV_KEEP_BUF) srv_buf_close(&c->wbuf);
  pump(c);
}

/* Start a write of everything in `out` unless one is in flight; close when asked to and
 * nothing is left. */
static void flush(srv_conn *c) {
  if (c->closing || c->writing) return;
  if (c->out.len == 0) {
    if (c->close_after_write && !c->parked) conn_close(c); /* a parked answer is still due */
    return;
  }
  srv_buf t = c->wbuf;
  c->wbuf = c->out;
  c->out = t;
  c->out.len = 0;
  uv_buf_t b = uv_buf_init((char *)c->wbuf.p, (unsigned)c->wbuf.len);
  c->wreq.data = c;
  int r = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, on_write);
  if (r != 0) {
    srv_log(SRV_LOG_DEBUG, "pdpd: write failed: %s", uv_strerror(r));
    conn_close(c);
    return;
  }
  c->writing = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  srv_conn *c = h->data;
  uint8_t *p;
  size_t n;
  if (!srv_framer_space(&c->in, &p, &n)) {
    *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
    return;
  }
  if (n > UINT32_MAX) n = UINT32_MAX;
  *buf = uv_buf_init((char *)p, (unsigned)n);
}

/* Answer the complete frames buffered until the pending output reaches the mark; stop at
 * an oversize length prefix.  True when no complete frame is left unanswered. */
static bool answer_frames(srv_conn *c) {
  srv_server *srv = c->srv;
  for (;;) {
    if (c->closing || c->lost) return true;
    if (c->parked) return false;                           /* in order: after its answer */
    if (pending_output(c) >= SRV_HIGH_WATER) return false; /* the rest after a write */
    const uint8_t *body;
    uint32_t len;
    srv_frame_result r = srv_framer_next(&c->in, &body, &len);
    if (r == SRV_FRAME_NEED_MORE) return true;
    if (r == SRV_FRAME_TOO_LARGE) {
      char msg[128];
      snprintf(msg, sizeof(msg), "frame of %u bytes exceeds max-frame %u",
               srv_frame_len(c->in.buf + c->in.start), srv->cfg->max_frame);
      srv_log(SRV_LOG_DEBUG, "pdpd: %s; closing the connection", msg);
      read_stop(c);
      c->lost = true;
      c->close_after_write = true;
      if (!srv_append_status(&srv->ctx, &c->out, 0, PDP__V1__STATUS__CODE__FRAME_TOO_LARGE, msg))
        conn_close(c);
      return true;
    }
    srv_define *job = NULL;
    if (!srv_handle_frame_park(&srv->ctx, &c->arena, body, len, &c->out, &job)) {
      srv_define_free(job);
      srv_log(SRV_LOG_WARN, "pdpd: out of memory answering a request; closing the connection");
      conn_close(c);
      return true;
    }
    if (job) {
      c->parked = job; /* before it can call back */
      if (srv_define_start(srv, job, c)) return false;
      c->parked = NULL;
      bool ok = srv_define_answer(&srv->ctx, job, &c->out);
      srv_define_free(job);
      if (!ok) {
        conn_close(c);
        return true;
      }
    }
  }
}

void srv_conn_unpark(srv_conn *c, srv_define *job) {
  c->parked = NULL;
  if (c->closing) return;
  if (!srv_define_answer(&c->srv->ctx, job, &c->out)) {
    srv_log(SRV_LOG_WARN, "pdpd: out of memory answering a request; closing the connection");
    conn_close(c);
    return;
  }
  pump(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  srv_conn *c = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    read_stop(c);
    if (nread == UV_EOF) {
      /* The client is done sending; answers already queued still go out. */
      c->close_after_write = true;
      flush(c);
    } else {
      conn_close(c);
    }
    return;
  }
  srv_framer_commit(&c->in, (size_t)nread);
  pump(c);
}

void *(*srv_conn_calloc)(size_t n, size_t size) = calloc;

/* Warn about a refused connection, at most once a second: a flood of refusals must not
 * become a flood of log lines.  The line counts the refusals since the previous one. */
static void log_refused(srv_server *srv, const char *why) {
  srv->refused_quiet++;
  uint64_t now = uv_now(srv->loop);
  if (srv->refused_log_ms != 0 && now - srv->refused_log_ms < 1000) return;
  srv_log(SRV_LOG_WARN, "pdpd: %s; refused %llu connection%s since the last report", why,
          (unsigned long long)srv->refused_quiet, srv->refused_quiet == 1 ? "" : "s");
  srv->refused_log_ms = now ? now : 1;
  srv->refused_quiet = 0;
}

static void reject_closed(uv_handle_t *h) {
  srv_server *srv = h->data;
  srv->reject_busy = false;
  if (srv->accept_pending && !srv->stopping) {
    srv->accept_pending = false;
    srv_conn_accept(srv);
  }
}

/* Take the pending connection off the listener and close it: libuv stops watching a
 * listener whose connection was not accepted, so returning without uv_accept would end
 * accepting for good.  The reject handle is the server's own (no allocation); while it is
 * still closing, the connection waits and is taken when the close completes. */
static void reject_one(srv_server *srv) {
  if (srv->reject_busy) {
    srv->accept_pending = true;
    return;
  }
  if (uv_pipe_init(srv->loop, &srv->reject, 0) != 0) return;
  srv->reject.data = srv;
  srv->reject_busy = true;
  if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&srv->reject) != 0)
    srv_log(SRV_LOG_DEBUG, "pdpd: accept failed while refusing a connection");
  uv_close((uv_handle_t *)&srv->reject, reject_closed);
}

void srv_conn_accept(srv_server *srv) {
  srv_conn *c = srv_conn_calloc(1, sizeof(*c));
  if (!c) {
    log_refused(srv, "out of memory accepting a connection");
    reject_one(srv);
    return;
  }
  c->srv = srv;
  if (uv_pipe_init(srv->loop, &c->pipe, 0) != 0) {
    free(c);
    log_refused(srv, "cannot set up a connection");
    reject_one(srv);
    return;
  }
  c->pipe.data = c;
  srv_framer_init(&c->in, srv->cfg->max_frame);
  pu_arena_init(&c->arena, 16384, 0);
  srv_buf_init(&c->out);
  srv_buf_init(&c->wbuf);
  c->next = srv->conns;
  if (c->next) c->next->prev = c;
  srv->conns = c;
  if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->pipe) != 0) {
    conn_close(c);
    return;
  }
  if (srv->ctx.connections >= srv->cfg->max_connections) {
    char msg[96];
    snprintf(msg, sizeof(msg), "server: too many connections (max-connections %u)",
             srv->cfg->max_connections);
    log_refused(srv, msg);
    c->close_after_write = true;
    if (!srv_append_status(NULL, &c->out, 0, PDP__V1__STATUS__CODE__OVERLOADED, msg))
      conn_close(c);
    else
      flush(c);
    return;
  }
  c->counted = true;
  srv->ctx.connections++;
  srv_log(SRV_LOG_DEBUG, "pdpd: connection accepted (%llu open)",
          (unsigned long long)srv->ctx.connections);
  read_start(c);
}

void srv_conn_drain_all(srv_server *srv) {
  srv_conn *c = srv->conns;
  while (c) {
    srv_conn *next = c->next; /* flush may close (and unlink) c */
    read_stop(c);
    c->close_after_write = true;
    flush(c);
    c = next;
  }
}

void srv_conn_close_all(srv_server *srv) {
  while (srv->conns) conn_close(srv->conns);
}

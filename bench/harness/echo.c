/* echo.c - pdp-echo, the physical limit pdp-bench compares pdpd against.
 *
 * A minimal libuv server on a Unix socket speaking pdpd's framing (4-byte big-endian length,
 * then the body): every complete frame is sent back unchanged, and all frames completed by
 * one read go back in one uv_write, exactly as pdpd coalesces its answers.  Reading goes on
 * while writes are in flight (libuv keeps them in order), so nothing here waits that need
 * not: it is the fastest server this framing allows on this machine.  It decodes
 * nothing and decides nothing, so pdpd's figures divided by these are the cost of pdpd's
 * own work on this machine.
 *
 * Usage: pdp-echo SOCKET_PATH   (runs until SIGTERM or SIGINT; removes the socket)
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define ECHO_MAX_FRAME (1u << 20)

typedef struct echo_conn {
  uv_pipe_t pipe;
  uint8_t *in; /* received bytes not yet echoed: [0, in_len) */
  size_t in_len, in_cap;
} echo_conn;

typedef struct echo_write {
  uv_write_t req;
  uint8_t *buf; /* the echoed frames, freed when written */
} echo_write;

static uv_pipe_t server;
static uv_signal_t sigterm, sigint;
static const char *sock_path;

static void on_closed(uv_handle_t *h) {
  echo_conn *c = h->data;
  free(c->in);
  free(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  echo_conn *c = h->data;
  if (c->in_cap - c->in_len < 65536) {
    size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
    uint8_t *p = realloc(c->in, cap);
    if (!p) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    c->in = p;
    c->in_cap = cap;
  }
  *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
  echo_write *w = (echo_write *)req;
  free(w->buf);
  free(w);
  (void)status; /* a failed write shows up as a read error next */
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  echo_conn *c = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  c->in_len += (size_t)n;
  /* Cut every complete frame off the front; they are echoed as one block. */
  size_t done = 0;
  while (c->in_len - done >= 4) {
    const uint8_t *p = c->in + done;
    uint32_t len = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    if (len > ECHO_MAX_FRAME) {
      uv_close((uv_handle_t *)s, on_closed);
      return;
    }
    if (c->in_len - done < 4 + (size_t)len) break;
    done += 4 + (size_t)len;
  }
  if (done == 0) return;
  echo_write *w = malloc(sizeof(*w));
  uint8_t *out = malloc(done);
  if (!w || !out) {
    free(w);
    free(out);
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  memcpy(out, c->in, done);
  memmove(c->in, c->in + done, c->in_len - done);
  c->in_len -= done;
  w->buf = out;
  uv_buf_t b = uv_buf_init((char *)out, (unsigned)done);
  if (uv_write(&w->req, s, &b, 1, on_written) != 0) {
    free(out);
    free(w);
    uv_close((uv_handle_t *)s, on_closed);
  }
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) return;
  echo_conn *c = calloc(1, sizeof(*c));
  if (!c) return;
  uv_pipe_init(srv->loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0) {
    uv_close((uv_handle_t *)&c->pipe, on_closed);
    return;
  }
  uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, on_read);
}

static void close_walk(uv_handle_t *h, void *arg) {
  /* Only client connections carry data (their echo_conn). */
  if (!uv_is_closing(h)) uv_close(h, h->data ? on_closed : NULL);
}

static void on_signal(uv_signal_t *sig, int signum) {
  uv_walk(sig->loop, close_walk, NULL);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: pdp-echo SOCKET_PATH\n");
    return 2;
  }
  sock_path = argv[1];
  if (strlen(sock_path) >= 108) {
    fprintf(stderr, "pdp-echo: socket path too long (108 bytes or more)\n");
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  unlink(sock_path);
  uv_pipe_init(loop, &server, 0);
  server.data = NULL;
  int r = uv_pipe_bind(&server, sock_path);
  if (r == 0) r = uv_listen((uv_stream_t *)&server, 128, on_connection);
  if (r != 0) {
    fprintf(stderr, "pdp-echo: %s: %s\n", sock_path, uv_strerror(r));
    return 1;
  }
  uv_signal_init(loop, &sigterm);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  unlink(sock_path);
  return 0;
}

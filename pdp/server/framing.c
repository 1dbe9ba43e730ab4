/* framing.c - the pure stream splitter: bytes in, length-prefixed frames out.
 *
 * A frame is a 4-byte big-endian length N then N body bytes.  The framer owns one buffer:
 * bytes in [start, end) were received but not yet handed out.  srv_framer_space() moves
 * them to the front and grows the buffer so the frame being assembled fits (never beyond
 * max_frame + 4), then offers the free tail to the reader; srv_framer_next() hands out
 * complete frames in order, pointing into the buffer.  No sockets here: the unit tests
 * feed bytes one at a time or many frames at once.  After a big frame the buffer shrinks
 * back, so an idle connection holds SRV_FRAMER_MIN_READ bytes at most.
 *
 * Also here: srv_buf, the growable output buffer, and the length prefix helpers.
 */
#include "srv_int.h"

#include <stdlib.h>
#include <string.h>

uint32_t srv_frame_len(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void srv_frame_put_len(uint8_t *p, uint32_t len) {
  p[0] = (uint8_t)(len >> 24);
  p[1] = (uint8_t)(len >> 16);
  p[2] = (uint8_t)(len >> 8);
  p[3] = (uint8_t)len;
}

void srv_framer_init(srv_framer *f, uint32_t max_frame) {
  memset(f, 0, sizeof(*f));
  f->max_frame = max_frame;
}

void srv_framer_close(srv_framer *f) {
  free(f->buf);
  memset(f, 0, sizeof(*f));
}

size_t srv_framer_pending(const srv_framer *f) {
  return f->end - f->start;
}

bool srv_framer_space(srv_framer *f, uint8_t **p, size_t *n) {
  size_t pending = f->end - f->start;
  if (f->start > 0) {
    if (pending > 0) memmove(f->buf, f->buf + f->start, pending);
    f->start = 0;
    f->end = pending;
  }
  /* Room wanted: the whole frame being assembled (when its length is known and valid),
   * and never less than one ordinary read. */
  size_t want = SRV_FRAMER_MIN_READ;
  if (pending >= SRV_FRAME_HEADER) {
    uint32_t len = srv_frame_len(f->buf);
    if (len <= f->max_frame && (size_t)len + SRV_FRAME_HEADER > want)
      want = (size_t)len + SRV_FRAME_HEADER;
  }
  if (pending == 0 && f->cap > 4 * SRV_FRAMER_MIN_READ) {
    /* A big frame has passed: give its memory back. */
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
  }
  if (f->cap < want) {
    uint8_t *nb = realloc(f->buf, want);
    if (!nb) return false;
    f->buf = nb;
    f->cap = want;
  }
  *p = f->buf + f->end;
  *n = f->cap - f->end;
  return true;
}

void srv_framer_commit(srv_framer *f, size_t n) {
  if (n > f->cap - f->end) n = f->cap - f->end; /* never past the buffer */
  f->end += n;
}

srv_frame_result srv_framer_next(srv_framer *f, const uint8_t **body, uint32_t *len) {
  size_t pending = f->end - f->start;
  if (pending < SRV_FRAME_HEADER) return SRV_FRAME_NEED_MORE;
  uint32_t n = srv_frame_len(f->buf + f->start);
  if (n > f->max_frame) return SRV_FRAME_TOO_LARGE;
  if (pending - SRV_FRAME_HEADER < n) return SRV_FRAME_NEED_MORE;
  *body = f->buf + f->start + SRV_FRAME_HEADER;
  *len = n;
  f->start += SRV_FRAME_HEADER + (size_t)n;
  return SRV_FRAME_OK;
}

/* ---- srv_buf ------------------------------------------------------------------------- */

void srv_buf_init(srv_buf *b) {
  memset(b, 0, sizeof(*b));
}

void srv_buf_close(srv_buf *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

bool srv_buf_reserve(srv_buf *b, size_t n) {
  if (b->cap - b->len >= n) return true;
  if (n > SIZE_MAX / 2 - b->len) return false;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len < n) cap *= 2;
  uint8_t *np = realloc(b->p, cap);
  if (!np) return false;
  b->p = np;
  b->cap = cap;
  return true;
}

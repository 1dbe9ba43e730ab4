/* test_srv_framing.c - the pure frame splitter: bytes in any chunking, frames out in order. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv_int.h"

#include <stdlib.h>
#include <string.h>

/* A stream of frames: frame i has i % 7 * 13 body bytes, each byte (i + j) & 0xff. */
static size_t make_stream(uint8_t *out, int frames) {
  size_t n = 0;
  for (int i = 0; i < frames; i++) {
    uint32_t len = (uint32_t)(i % 7) * 13;
    srv_frame_put_len(out + n, len);
    n += 4;
    for (uint32_t j = 0; j < len; j++) out[n++] = (uint8_t)(i + j);
  }
  return n;
}

static void check_frame(int i, const uint8_t *body, uint32_t len) {
  cr_assert_eq(len, (uint32_t)(i % 7) * 13, "frame %d length", i);
  for (uint32_t j = 0; j < len; j++) cr_assert_eq(body[j], (uint8_t)(i + j));
}

/* Feed `stream` in chunks of `chunk` bytes; returns how many frames came out. */
static int feed(srv_framer *f, const uint8_t *stream, size_t n, size_t chunk) {
  int got = 0;
  size_t off = 0;
  while (off < n) {
    uint8_t *p;
    size_t room;
    cr_assert(srv_framer_space(f, &p, &room));
    cr_assert_gt(room, 0);
    size_t k = n - off < chunk ? n - off : chunk;
    if (k > room) k = room;
    memcpy(p, stream + off, k);
    srv_framer_commit(f, k);
    off += k;
    const uint8_t *body;
    uint32_t len;
    srv_frame_result r;
    while ((r = srv_framer_next(f, &body, &len)) == SRV_FRAME_OK) check_frame(got++, body, len);
    cr_assert_eq(r, SRV_FRAME_NEED_MORE);
  }
  return got;
}

Test(framing, frames_fed_byte_by_byte_come_out_whole_and_in_order) {
  uint8_t stream[4096];
  size_t n = make_stream(stream, 40);
  srv_framer f;
  srv_framer_init(&f, 1024);
  cr_assert_eq(feed(&f, stream, n, 1), 40);
  cr_assert_eq(srv_framer_pending(&f), 0);
  srv_framer_close(&f);
}

Test(framing, many_frames_in_one_chunk_all_come_out) {
  uint8_t stream[8192];
  size_t n = make_stream(stream, 100);
  srv_framer f;
  srv_framer_init(&f, 1024);
  cr_assert_eq(feed(&f, stream, n, n), 100);
  srv_framer_close(&f);
}

Test(framing, odd_chunk_sizes_split_headers_and_bodies_anywhere) {
  uint8_t stream[8192];
  size_t n = make_stream(stream, 100);
  for (size_t chunk = 2; chunk < 17; chunk++) {
    srv_framer f;
    srv_framer_init(&f, 1024);
    cr_assert_eq(feed(&f, stream, n, chunk), 100, "chunk %zu", chunk);
    srv_framer_close(&f);
  }
}

Test(framing, zero_length_frame_is_an_empty_body) {
  uint8_t stream[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  srv_framer f;
  srv_framer_init(&f, 1024);
  uint8_t *p;
  size_t room;
  cr_assert(srv_framer_space(&f, &p, &room));
  memcpy(p, stream, 8);
  srv_framer_commit(&f, 8);
  const uint8_t *body;
  uint32_t len = 99;
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_OK);
  cr_assert_eq(len, 0);
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_OK);
  cr_assert_eq(len, 0);
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_NEED_MORE);
  srv_framer_close(&f);
}

Test(framing, length_above_max_frame_is_too_large_without_waiting_for_the_body) {
  srv_framer f;
  srv_framer_init(&f, 100);
  uint8_t *p;
  size_t room;
  cr_assert(srv_framer_space(&f, &p, &room));
  srv_frame_put_len(p, 101);
  srv_framer_commit(&f, 4);
  const uint8_t *body;
  uint32_t len;
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_TOO_LARGE);
  /* and it stays so: the stream cannot be resynchronised */
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_TOO_LARGE);
  srv_framer_close(&f);
}

Test(framing, length_of_exactly_max_frame_is_accepted) {
  srv_framer f;
  srv_framer_init(&f, 100000);
  uint8_t *stream = calloc(1, 100004);
  srv_frame_put_len(stream, 100000);
  stream[4 + 99999] = 0xab;
  size_t off = 0;
  const uint8_t *body;
  uint32_t len;
  while (off < 100004) {
    uint8_t *p;
    size_t room;
    cr_assert(srv_framer_space(&f, &p, &room));
    size_t k = 100004 - off < room ? 100004 - off : room;
    memcpy(p, stream + off, k);
    srv_framer_commit(&f, k);
    off += k;
  }
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_OK);
  cr_assert_eq(len, 100000);
  cr_assert_eq(body[99999], 0xab);
  free(stream);
  srv_framer_close(&f);
}

Test(framing, garbage_after_a_frame_is_a_length_prefix_like_any_other) {
  /* "garbage" is only recognised by the decoder; the splitter just reads lengths */
  uint8_t stream[] = {0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  srv_framer f;
  srv_framer_init(&f, 1 << 20);
  uint8_t *p;
  size_t room;
  cr_assert(srv_framer_space(&f, &p, &room));
  memcpy(p, stream, sizeof(stream));
  srv_framer_commit(&f, sizeof(stream));
  const uint8_t *body;
  uint32_t len;
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_OK);
  cr_assert_eq(len, 2);
  cr_assert_eq(body[0], 0xff);
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_TOO_LARGE);
  srv_framer_close(&f);
}

Test(framing, length_prefix_is_big_endian) {
  uint8_t b[4];
  srv_frame_put_len(b, 0x01020304);
  cr_assert_eq(b[0], 1);
  cr_assert_eq(b[3], 4);
  cr_assert_eq(srv_frame_len(b), 0x01020304u);
  srv_frame_put_len(b, 0xffffffffu);
  cr_assert_eq(srv_frame_len(b), 0xffffffffu);
}

Test(framing, buffer_shrinks_back_after_a_big_frame) {
  srv_framer f;
  srv_framer_init(&f, 1 << 20);
  uint8_t *p;
  size_t room;
  cr_assert(srv_framer_space(&f, &p, &room));
  srv_frame_put_len(p, 1 << 19);
  srv_framer_commit(&f, 4);
  cr_assert(srv_framer_space(&f, &p, &room));
  cr_assert_geq(room, (size_t)1 << 19);
  memset(p, 0, (size_t)1 << 19);
  srv_framer_commit(&f, (size_t)1 << 19);
  const uint8_t *body;
  uint32_t len;
  cr_assert_eq(srv_framer_next(&f, &body, &len), SRV_FRAME_OK);
  cr_assert(srv_framer_space(&f, &p, &room));
  cr_assert_leq(f.cap, (size_t)SRV_FRAMER_MIN_READ);
  srv_framer_close(&f);
}

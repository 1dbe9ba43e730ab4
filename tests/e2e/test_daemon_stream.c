/* test_daemon_stream.c - many requests on one connection, many connections at once, and
 * one bad connection never disturbing another. */
#include <criterion/criterion.h>

#include "daemon_util.h"

#include <pthread.h>

static du_daemon d;

static void start_with(const char *const *extra) {
  cr_assert(du_init(&d, DU_POLICIES, DU_ENTITIES));
  if (!du_start(&d, extra)) cr_assert_fail("pdpd did not start: %s", du_read_file(d.log));
}

static void teardown(void) {
  du_finish(&d); /* fails the run unless pdpd exited 0 */
}

TestSuite(stream, .fini = teardown, .timeout = 300);

/* Frames for n checks with ids first..first+n-1: even ids ask alice/view/d1 (ALLOW), odd
 * ids alice/view/d2 (DENY). */
typedef struct batch {
  uint8_t *buf;
  size_t len;
  int fd;
} batch;

static batch make_checks(uint64_t first, int n) {
  batch b = {NULL, 0, -1};
  for (int i = 0; i < n; i++) {
    uint64_t id = first + (uint64_t)i;
    du_check c;
    du_check_init(&c, id, "alice", "view", id % 2 == 0 ? "d1" : "d2");
    b.len = du_frame(&b.buf, b.len, &c.rq);
  }
  return b;
}

static void *writer(void *arg) {
  batch *b = arg;
  /* in uneven pieces, so frames straddle reads */
  size_t off = 0, piece = 1;
  while (off < b->len) {
    size_t k = b->len - off < piece ? b->len - off : piece;
    if (!du_write_all(b->fd, b->buf + off, k)) return (void *)1;
    off += k;
    piece = piece * 3 % 8191 + 1;
  }
  return NULL;
}

static void expect_answers(int fd, uint64_t first, int n) {
  for (int i = 0; i < n; i++) {
    uint64_t id = first + (uint64_t)i;
    Pdp__V1__Response *r = du_recv(fd);
    cr_assert_not_null(r, "answer %d of %d missing", i, n);
    cr_assert_eq(r->id, id, "answers come back in request order");
    cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
    cr_assert_eq(r->check->decision,
                 id % 2 == 0 ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY, "id %llu",
                 (unsigned long long)id);
    pdp__v1__response__free_unpacked(r, NULL);
  }
}

Test(stream, ten_thousand_pipelined_requests_are_answered_in_order) {
  start_with(NULL);
  int fd = du_connect(d.sock);
  cr_assert_geq(fd, 0);
  batch b = make_checks(1, 10000);
  b.fd = fd;
  pthread_t t;
  pthread_create(&t, NULL, writer, &b);
  expect_answers(fd, 1, 10000);
  void *res;
  pthread_join(t, &res);
  cr_assert_null(res, "all requests were written");
  free(b.buf);
  close(fd);
}

Test(stream, concurrent_connections_never_mix_answers) {
  start_with(NULL);
  int fa = du_connect(d.sock), fb = du_connect(d.sock);
  cr_assert(fa >= 0 && fb >= 0);
  batch a = make_checks(1000000, 3000), b = make_checks(2000001, 3000);
  a.fd = fa, b.fd = fb;
  pthread_t ta, tb;
  pthread_create(&ta, NULL, writer, &a);
  pthread_create(&tb, NULL, writer, &b);
  /* read alternately so both connections are in flight together */
  for (int i = 0; i < 3000; i += 500) {
    expect_answers(fa, 1000000 + (uint64_t)i, 500);
    expect_answers(fb, 2000001 + (uint64_t)i, 500);
  }
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  free(a.buf);
  free(b.buf);
  close(fa);
  close(fb);
}

Test(stream, garbage_frame_is_a_bad_request_and_the_connection_goes_on) {
  start_with(NULL);
  int bad = du_connect(d.sock), good = du_connect(d.sock);
  cr_assert(bad >= 0 && good >= 0);
  uint8_t garbage[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  batch g = make_checks(10, 2);
  cr_assert(du_write_all(bad, garbage, sizeof(garbage)));
  cr_assert(du_write_all(bad, g.buf, g.len));
  Pdp__V1__Response *r = du_recv(bad);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 0);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST);
  cr_assert(strstr(r->status->message, "cannot decode"), "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  expect_answers(bad, 10, 2); /* the stream stayed in sync */
  cr_assert(du_write_all(good, g.buf, g.len));
  expect_answers(good, 10, 2);
  free(g.buf);
  close(bad);
  close(good);
}

Test(stream, oversize_frame_is_answered_then_closed_and_others_go_on) {
  const char *extra[] = {"--max-frame", "1024", NULL};
  start_with(extra);
  int bad = du_connect(d.sock), good = du_connect(d.sock);
  cr_assert(bad >= 0 && good >= 0);
  batch g = make_checks(100, 4);
  /* a valid frame first, then a length above max-frame */
  cr_assert(du_write_all(bad, g.buf, g.len));
  uint8_t big[] = {0, 0, 0x04, 0x01, 1, 2, 3};
  cr_assert(du_write_all(bad, big, sizeof(big)));
  expect_answers(bad, 100, 4);
  Pdp__V1__Response *r = du_recv(bad);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 0);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__FRAME_TOO_LARGE);
  cr_assert(strstr(r->status->message, "1025") && strstr(r->status->message, "1024"), "%s",
            r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  cr_assert(du_eof(bad), "the connection is closed after FRAME_TOO_LARGE");
  cr_assert(du_write_all(good, g.buf, g.len));
  expect_answers(good, 100, 4);
  free(g.buf);
  close(bad);
  close(good);
}

Test(stream, frame_of_exactly_max_frame_is_accepted) {
  const char *extra[] = {"--max-frame", "1024", NULL};
  start_with(extra);
  int fd = du_connect(d.sock);
  /* a Health request padded with an unknown bytes field up to exactly 1024 bytes */
  uint8_t frame[4 + 1024];
  memset(frame, 'x', sizeof(frame));
  frame[0] = 0, frame[1] = 0, frame[2] = 0x04, frame[3] = 0x00;
  uint8_t *p = frame + 4;
  *p++ = 0x08, *p++ = 7;    /* id = 7 */
  *p++ = 0x32, *p++ = 0x00; /* health {} */
  *p++ = 0xfa, *p++ = 0x01; /* field 31, length-delimited */
  *p++ = 0xf8, *p++ = 0x07; /* length 1016 */
  cr_assert_eq((size_t)(p - frame - 4) + 1016, 1024);
  cr_assert(du_write_all(fd, frame, sizeof(frame)));
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 7);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY_HEALTH);
  pdp__v1__response__free_unpacked(r, NULL);
  close(fd);
}

Test(stream, connections_past_the_limit_are_refused_overloaded) {
  const char *extra[] = {"--max-connections", "2", NULL};
  start_with(extra);
  int a = du_connect(d.sock), b = du_connect(d.sock);
  cr_assert(a >= 0 && b >= 0);
  batch g = make_checks(1, 1);
  cr_assert(du_write_all(a, g.buf, g.len));
  expect_answers(a, 1, 1);
  cr_assert(du_write_all(b, g.buf, g.len));
  expect_answers(b, 1, 1);
  int c = du_connect(d.sock);
  cr_assert_geq(c, 0);
  Pdp__V1__Response *r = du_recv(c);
  cr_assert_not_null(r, "the third connection gets an answer before it is closed");
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OVERLOADED);
  cr_assert(strstr(r->status->message, "max-connections 2"), "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  cr_assert(du_eof(c));
  close(c);
  /* the first two still work; once one leaves, a newcomer is served */
  cr_assert(du_write_all(b, g.buf, g.len));
  expect_answers(b, 1, 1);
  close(a);
  bool served = false;
  for (int tries = 0; tries < 500 && !served; tries++) {
    served = du_healthy(d.sock);
    if (!served) du_sleep_ms(10);
  }
  cr_assert(served, "a slot freed by a closed connection is reused");
  close(b);
  free(g.buf);
}

Test(stream, client_that_never_reads_is_paused_not_buffered_without_bound) {
  start_with(NULL);
  int fd = du_connect(d.sock);
  /* write 60,000 requests without reading: pdpd must stop reading at some point, so our
   * writes stop making progress; then reading everything back must still give all answers
   * in order. */
  batch b = make_checks(1, 60000);
  b.fd = fd;
  pthread_t t;
  pthread_create(&t, NULL, writer, &b);
  du_sleep_ms(200); /* not asserted: only lets the buffers fill */
  expect_answers(fd, 1, 60000);
  void *res;
  pthread_join(t, &res);
  cr_assert_null(res);
  free(b.buf);
  close(fd);
}

typedef struct progress_writer {
  batch b;
  size_t off; /* bytes written so far (read by the test thread) */
  bool done;
} progress_writer;

static void *writer_progress(void *arg) {
  progress_writer *w = arg;
  while (w->off < w->b.len) {
    size_t k = w->b.len - w->off < 4096 ? w->b.len - w->off : 4096;
    if (!du_write_all(w->b.fd, w->b.buf + w->off, k)) return (void *)1;
    __atomic_store_n(&w->off, w->off + k, __ATOMIC_RELEASE);
  }
  __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
  return NULL;
}

static uint64_t requests_total(void) {
  int fd = du_connect(d.sock);
  cr_assert_geq(fd, 0);
  Pdp__V1__StatusRequest s = PDP__V1__STATUS_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 1, rq.body_case = PDP__V1__REQUEST__BODY_SERVER_STATUS, rq.server_status = &s;
  cr_assert(du_send(fd, &rq));
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r, "pdpd serves other connections while one does not read");
  uint64_t n = r->server_status->requests_total;
  pdp__v1__response__free_unpacked(r, NULL);
  close(fd);
  return n;
}

Test(stream, a_stalled_reader_gets_a_bounded_number_of_answers_then_all_in_order) {
  start_with(NULL);
  int fd = du_connect(d.sock);
  cr_assert_geq(fd, 0);
  enum { N = 120000 };
  progress_writer w = {make_checks(1, N), 0, false};
  w.b.fd = fd;
  uint64_t before = requests_total();
  pthread_t t;
  pthread_create(&t, NULL, writer_progress, &w);
  /* Wait until the writer makes no progress for a while (pdpd stopped reading) or is done;
   * the waits only pace the observation, nothing asserts on them. */
  size_t last = (size_t)-1;
  for (int still = 0, rounds = 0; still < 5 && rounds < 600; rounds++) {
    du_sleep_ms(100);
    size_t now = __atomic_load_n(&w.off, __ATOMIC_ACQUIRE);
    still = now == last ? still + 1 : 0;
    last = now;
    if (__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) break;
  }
  cr_assert_not(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE),
                "pdpd stopped reading a client that does not read its answers");
  /* Answers produced for this client are bounded by the high-water mark (1 MiB) plus what
   * the kernel holds: each answer is over 40 bytes, so far fewer than 4 MiB / 40. */
  uint64_t answered = requests_total() - before - 1;
  cr_assert_lt(answered, (uint64_t)(5u << 20) / 40, "answered %llu", (unsigned long long)answered);
  expect_answers(fd, 1, N);
  void *res;
  pthread_join(t, &res);
  cr_assert_null(res, "all requests were written once the answers were read");
  free(w.b.buf);
  close(fd);
}

Test(stream, a_batch_whose_answer_exceeds_max_frame_is_overloaded_and_the_stream_goes_on) {
  const char *extra[] = {"--max-frame", "65536", NULL};
  start_with(extra);
  int fd = du_connect(d.sock);
  cr_assert_geq(fd, 0);
  /* 5000 empty checks are 2 bytes each on the wire; each answer names the missing field
   * ("batch_check.checks[123].principal: missing"), so the answer is 20 times larger. */
  enum { N = 5000 };
  du_check *c = calloc(N, sizeof(*c));
  Pdp__V1__CheckRequest **checks = calloc(N, sizeof(*checks));
  for (int i = 0; i < N; i++) {
    du_check_init(&c[i], 0, "alice", "view", "d1");
    checks[i] = &c[i].check;
  }
  Pdp__V1__CheckRequest empty = PDP__V1__CHECK_REQUEST__INIT;
  for (int i = 10; i < N; i++) checks[i] = &empty;
  Pdp__V1__BatchCheckRequest bq = PDP__V1__BATCH_CHECK_REQUEST__INIT;
  bq.checks = checks, bq.n_checks = N;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = 5, rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK, rq.batch_check = &bq;
  cr_assert_leq(pdp__v1__request__get_packed_size(&rq), 65536);
  cr_assert(du_send(fd, &rq));
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 5);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OVERLOADED, "%s", r->status->message);
  cr_assert(strstr(r->status->message, "answer larger than max-frame"), "%s", r->status->message);
  cr_assert_eq(r->body_case, PDP__V1__RESPONSE__BODY__NOT_SET);
  pdp__v1__response__free_unpacked(r, NULL);
  /* a batch whose answer fits is answered on the same connection; item stamps are empty */
  bq.n_checks = 10, rq.id = 6;
  cr_assert(du_send(fd, &rq));
  r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  cr_assert_eq(r->batch_check->n_results, 10);
  cr_assert_eq(r->batch_check->stamp.len, 32);
  for (int i = 0; i < 10; i++) {
    cr_assert_eq(r->batch_check->results[i]->check->decision, PDP__V1__DECISION__ALLOW);
    cr_assert_eq(r->batch_check->results[i]->check->stamp.len, 0, "the batch carries the stamp");
  }
  pdp__v1__response__free_unpacked(r, NULL);
  free(c);
  free(checks);
  close(fd);
}

Test(stream, a_flood_of_refused_connections_is_logged_in_a_few_counted_lines) {
  const char *extra[] = {"--max-connections", "1", NULL};
  start_with(extra);
  int a = du_connect(d.sock);
  cr_assert_geq(a, 0);
  batch g = make_checks(1, 1);
  cr_assert(du_write_all(a, g.buf, g.len));
  expect_answers(a, 1, 1); /* a holds the only slot */
  enum { N = 100 };
  for (int i = 0; i < N; i++) {
    int c = du_connect(d.sock);
    cr_assert_geq(c, 0);
    Pdp__V1__Response *r = du_recv(c);
    cr_assert_not_null(r);
    cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OVERLOADED);
    pdp__v1__response__free_unpacked(r, NULL);
    close(c);
  }
  close(a);
  free(g.buf);
  cr_assert_eq(du_stop(&d), 0);
  char *log = du_read_file(d.log);
  int lines = 0;
  for (const char *p = log; (p = strstr(p, "max-connections 1); refused ")); p++) lines++;
  cr_assert_geq(lines, 1, "the first refusal is reported: %s", log);
  /* one line per second at most: 100 refusals in far fewer lines */
  cr_assert_lt(lines, N / 2, "%d lines: %s", lines, log);
  cr_assert(strstr(log, "refused 1 connection since the last report"), "%s", log);
  free(log);
}

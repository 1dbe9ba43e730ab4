/* test_client_conn.c - the C client against a scripted fake server on a socketpair.
 *
 * The fake server is a thread that reads real Request frames and writes Response frames
 * chosen by each test (including broken ones: wrong ids, oversize lengths, byte-by-byte
 * delivery, a status that is not OK carrying an ALLOW).  The client must keep its promise:
 * never allow unless status OK and decision ALLOW, and report every broken stream.
 */
#include "../../clients/c/pdpc.h"
#include "pdp.pb-c.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef enum {
  ANSWER_NORMAL,
  ANSWER_WRONG_ID,
  ANSWER_BAD_ALLOW,
  ANSWER_NO_STATUS,
  ANSWER_UNSPEC,
  ANSWER_HUGE,
  ANSWER_BYTEWISE,
  ANSWER_CLOSE,
  ANSWER_SILENT,
  ANSWER_GARBAGE,
  ANSWER_ID0,
  ANSWER_LATE,
  ANSWER_REFUSE,
  ANSWER_TOO_LARGE_2ND
} answer_mode;

/* ANSWER_LATE waits this long before reading a request and again before answering it. */
#define LATE_MS 300

typedef struct fake {
  int fd;
  answer_mode mode;
  int max_requests;
  pthread_t thread;
  bool joined; /* the test already waited for the thread */
} fake;

static int read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void write_full(int fd, const void *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = send(fd, (const char *)p + done, n - done, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    done += (size_t)w;
  }
}

static void send_response(int fd, const Pdp__V1__Response *resp, bool bytewise) {
  size_t n = pdp__v1__response__get_packed_size(resp);
  uint8_t *buf = malloc(4 + n);
  buf[0] = (uint8_t)(n >> 24), buf[1] = (uint8_t)(n >> 16), buf[2] = (uint8_t)(n >> 8),
  buf[3] = (uint8_t)n;
  pdp__v1__response__pack(resp, buf + 4);
  if (bytewise)
    for (size_t i = 0; i < 4 + n; i++) write_full(fd, buf + i, 1);
  else
    write_full(fd, buf, 4 + n);
  free(buf);
}

/* What pdpd says, with id 0, when it cannot read a request at all, before it closes. */
static void send_id0(int fd, Pdp__V1__Status__Code code, char *message) {
  Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
  Pdp__V1__Status st = PDP__V1__STATUS__INIT;
  st.code = code;
  st.message = message;
  resp.status = &st;
  send_response(fd, &resp, false);
}

/* Decide like a tiny policy: allow when the resource id starts with "ok". */
static void *fake_main(void *arg) {
  fake *f = arg;
  if (f->mode == ANSWER_REFUSE) { /* like pdpd at its connection limit */
    send_id0(f->fd, PDP__V1__STATUS__CODE__OVERLOADED, "server: too many connections");
    shutdown(f->fd, SHUT_RDWR);
    return NULL;
  }
  for (int served = 0; f->max_requests == 0 || served < f->max_requests; served++) {
    uint8_t hdr[4];
    if (f->mode == ANSWER_LATE)
      usleep(LATE_MS * 1000); /* before reading: the client's send waits */
    if (read_full(f->fd, hdr, 4)) break;
    if (f->mode == ANSWER_TOO_LARGE_2ND && served == 1) { /* like pdpd's --max-frame */
      send_id0(f->fd, PDP__V1__STATUS__CODE__FRAME_TOO_LARGE,
               "frame of 8388708 bytes is larger than max-frame");
      break;
    }
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    uint8_t *body = malloc(n ? n : 1);
    if (read_full(f->fd, body, n)) {
      free(body);
      break;
    }
    Pdp__V1__Request *req = pdp__v1__request__unpack(NULL, n, body);
    free(body);
    if (!req) break;
    if (f->mode == ANSWER_LATE)
      usleep(LATE_MS * 1000); /* before answering: the client's recv waits */
    Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
    Pdp__V1__Status st = PDP__V1__STATUS__INIT;
    Pdp__V1__CheckResponse ck = PDP__V1__CHECK_RESPONSE__INIT;
    Pdp__V1__BatchCheckResponse bc = PDP__V1__BATCH_CHECK_RESPONSE__INIT;
    Pdp__V1__BatchCheckItem items[8], *itemp[8];
    Pdp__V1__Status item_st[8];
    Pdp__V1__CheckResponse item_ck[8];
    Pdp__V1__HealthResponse hr = PDP__V1__HEALTH_RESPONSE__INIT;
    char *reason[] = {"policy0", "grant:7"};
    uint8_t stamp[32];
    memset(stamp, 0xab, sizeof stamp);
    resp.id = req->id;
    resp.status = &st;
    st.code = PDP__V1__STATUS__CODE__OK;
    if (req->body_case == PDP__V1__REQUEST__BODY_CHECK) {
      bool ok = strncmp(req->check->resource->id, "ok", 2) == 0;
      ck.decision = ok ? PDP__V1__DECISION__ALLOW : PDP__V1__DECISION__DENY;
      ck.n_reason = ok ? 2 : 0;
      ck.reason = reason;
      ck.stamp.data = stamp;
      ck.stamp.len = 32;
      resp.body_case = PDP__V1__RESPONSE__BODY_CHECK;
      resp.check = &ck;
    } else if (req->body_case == PDP__V1__REQUEST__BODY_BATCH_CHECK) {
      size_t k = req->batch_check->n_checks < 8 ? req->batch_check->n_checks : 8;
      for (size_t i = 0; i < k; i++) {
        pdp__v1__batch_check_item__init(&items[i]);
        pdp__v1__status__init(&item_st[i]);
        pdp__v1__check_response__init(&item_ck[i]);
        const char *rid = req->batch_check->checks[i]->resource->id;
        item_st[i].code = strncmp(rid, "bad", 3) == 0 ? PDP__V1__STATUS__CODE__BAD_REQUEST
                                                      : PDP__V1__STATUS__CODE__OK;
        item_ck[i].decision = strncmp(rid, "bad", 3) == 0 || strncmp(rid, "ok", 2) == 0
                                  ? PDP__V1__DECISION__ALLOW
                                  : PDP__V1__DECISION__DENY;
        items[i].status = &item_st[i];
        items[i].check = &item_ck[i];
        itemp[i] = &items[i];
      }
      bc.n_results = k;
      bc.results = itemp;
      bc.stamp.data = stamp;
      bc.stamp.len = 32;
      resp.body_case = PDP__V1__RESPONSE__BODY_BATCH_CHECK;
      resp.batch_check = &bc;
    } else if (req->body_case == PDP__V1__REQUEST__BODY_HEALTH) {
      hr.state = PDP__V1__HEALTH_RESPONSE__STATE__SERVING;
      hr.reason = "fine";
      resp.body_case = PDP__V1__RESPONSE__BODY_HEALTH;
      resp.health = &hr;
    } else {
      st.code = PDP__V1__STATUS__CODE__UNIMPLEMENTED;
      st.message = "not here";
    }
    switch (f->mode) {
    case ANSWER_WRONG_ID:
      resp.id += 1;
      break;
    case ANSWER_BAD_ALLOW:
      st.code = PDP__V1__STATUS__CODE__STALE;
      st.message = "snapshot too old";
      ck.decision = PDP__V1__DECISION__ALLOW;
      break;
    case ANSWER_NO_STATUS:
      resp.status = NULL;
      ck.decision = PDP__V1__DECISION__ALLOW;
      break;
    case ANSWER_UNSPEC:
      ck.decision = PDP__V1__DECISION__DECISION_UNSPECIFIED;
      break;
    case ANSWER_ID0: /* what pdpd says when it could not read the request at all */
      resp.id = 0;
      st.code = PDP__V1__STATUS__CODE__OVERLOADED;
      st.message = "server: too many connections";
      resp.body_case = PDP__V1__RESPONSE__BODY__NOT_SET;
      break;
    default:
      break;
    }
    bool stop = false;
    if (f->mode == ANSWER_HUGE) {
      uint8_t h[4] = {0x7f, 0xff, 0xff, 0xff};
      write_full(f->fd, h, 4);
    } else if (f->mode == ANSWER_GARBAGE) {
      uint8_t g[7] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
      write_full(f->fd, g, sizeof g);
    } else if (f->mode == ANSWER_CLOSE) {
      stop = true;
    } else if (f->mode != ANSWER_SILENT) {
      send_response(f->fd, &resp, f->mode == ANSWER_BYTEWISE);
    }
    pdp__v1__request__free_unpacked(req, NULL);
    if (stop) break;
  }
  if (f->mode != ANSWER_SILENT) shutdown(f->fd, SHUT_RDWR);
  return NULL;
}

static fake F;
static pdpc_conn *C;

static void start(answer_mode mode, int timeout_ms) {
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  F.fd = sv[1];
  F.mode = mode;
  F.max_requests = 0;
  F.joined = false;
  cr_assert_eq(pthread_create(&F.thread, NULL, fake_main, &F), 0);
  pdpc_error err;
  C = pdpc_conn_from_fd(sv[0], timeout_ms, &err);
  cr_assert_not_null(C, "%s", err.message);
}

static void stop(void) {
  if (C) pdpc_close(C); /* the fake sees EOF and ends */
  C = NULL;
  if (!F.joined) pthread_join(F.thread, NULL);
  close(F.fd);
}

static pdpc_check_req req_for(const char *resource_id) {
  pdpc_check_req r = {.principal = {"User", "alice"},
                      .action = {"Action", "view"},
                      .resource = {"Document", resource_id}};
  return r;
}

Test(client_check, allow_answer_reads_as_allowed_with_reasons_and_stamp) {
  start(ANSWER_NORMAL, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), 0);
  cr_assert(pdpc_result_allowed(&res));
  cr_assert_eq(res.n_reason, 2);
  cr_assert_str_eq(res.reason[0], "policy0");
  cr_assert_str_eq(res.reason[1], "grant:7");
  cr_assert_eq(res.stamp_len, 32);
  cr_assert_eq(res.stamp[0], 0xab);
  r = req_for("no");
  cr_assert_eq(pdpc_check(C, &r, &res), 0); /* refilling closes the old contents */
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_eq(res.decision, PDPC_DENY);
  cr_assert_eq(res.n_reason, 0);
  pdpc_result_close(&res);
  stop();
}

Test(client_check, non_ok_status_with_an_allow_body_denies) {
  start(ANSWER_BAD_ALLOW, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), 0);
  cr_assert_eq(res.status, PDPC_STATUS_STALE);
  cr_assert_str_eq(res.message, "snapshot too old");
  cr_assert_eq(res.decision, PDPC_DENY);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  stop();
}

Test(client_check, response_without_status_denies) {
  start(ANSWER_NO_STATUS, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), 0);
  cr_assert_eq(res.status, PDPC_STATUS_UNSPECIFIED);
  cr_assert_eq(res.decision, PDPC_DENY);
  pdpc_result_close(&res);
  stop();
}

Test(client_check, unspecified_decision_is_a_protocol_error_and_denies) {
  start(ANSWER_UNSPEC, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_PROTOCOL);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_not_null(strstr(res.message, "unspecified decision"), "%s", res.message);
  pdpc_result_close(&res);
  stop();
}

Test(client_check, id_mismatch_is_a_protocol_error_and_breaks_the_connection) {
  start(ANSWER_WRONG_ID, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_PROTOCOL);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_not_null(strstr(pdpc_conn_error(C)->message, "does not match"), "%s",
                     pdpc_conn_error(C)->message);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_STATE);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  stop();
}

Test(client_check, id_zero_error_answer_keeps_the_servers_status_and_words) {
  start(ANSWER_ID0, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_PROTOCOL);
  cr_assert_eq(res.status, PDPC_STATUS_OVERLOADED);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_str_eq(res.message, "pdpd answered OVERLOADED: server: too many connections");
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(C, &h), PDPC_E_STATE, "the stream is not trusted any more");
  pdpc_result_close(&res);
  stop();
}

Test(client_check, oversize_length_prefix_is_refused_before_allocating) {
  start(ANSWER_HUGE, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_PROTOCOL);
  cr_assert_not_null(strstr(pdpc_conn_error(C)->message, "max_frame"), "%s",
                     pdpc_conn_error(C)->message);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  stop();
}

Test(client_check, undecodable_body_is_a_protocol_error) {
  start(ANSWER_GARBAGE, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_PROTOCOL);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  stop();
}

Test(client_check, answer_split_into_single_bytes_is_reassembled) {
  start(ANSWER_BYTEWISE, 5000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(pdpc_check(C, &r, &res), 0, "%s", pdpc_conn_error(C)->message);
    cr_assert(pdpc_result_allowed(&res));
  }
  pdpc_result_close(&res);
  stop();
}

Test(client_check, server_closing_mid_request_is_reported_as_closed) {
  start(ANSWER_CLOSE, 2000);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_CLOSED);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_str_eq(pdpc_strerror(PDPC_E_CLOSED), "connection closed by server");
  pdpc_result_close(&res);
  stop();
}

Test(client_check, silent_server_times_out) {
  start(ANSWER_SILENT, 100);
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_TIMEOUT);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_not_null(strstr(res.message, "timed out"), "%s", res.message);
  pdpc_result_close(&res);
  shutdown(F.fd, SHUT_RDWR); /* wake the fake */
  stop();
}

/* A context holding one string of n bytes. */
static pdpc_value *big_context(size_t n) {
  char *s = malloc(n + 1);
  memset(s, 'x', n);
  s[n] = 0;
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "blob", pdpc_value_string(s)), 0);
  free(s);
  return ctx;
}

/* The request is far larger than the socket buffers, so sending it waits LATE_MS for the
 * server to start reading, and the answer comes LATE_MS after that: each half fits in the
 * timeout, the whole call does not, and the timeout bounds the whole call. */
Test(client_check, send_and_receive_of_one_check_share_one_deadline) {
  start(ANSWER_LATE, LATE_MS * 5 / 3);
  pdpc_set_max_request(C, 16u << 20);
  pdpc_value *ctx = big_context(8u << 20);
  pdpc_check_req r = req_for("ok1");
  r.context = ctx;
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_TIMEOUT, "%s", res.message);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_not_null(strstr(res.message, "timed out"), "%s", res.message);
  pdpc_result_close(&res);
  pdpc_value_free(ctx);
  stop();
}

Test(client_check, max_frame_limits_answers_and_max_request_limits_requests) {
  start(ANSWER_NORMAL, 5000);
  pdpc_value *ctx = big_context(4000);
  pdpc_check_req r = req_for("ok1");
  r.context = ctx;
  pdpc_result res;
  pdpc_result_init(&res);
  pdpc_set_max_frame(C, 1000); /* answers are ~100 bytes: a 4 kB request still goes out */
  cr_assert_eq(pdpc_check(C, &r, &res), 0, "%s", res.message);
  cr_assert(pdpc_result_allowed(&res));
  pdpc_set_max_request(C, 1000);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_INVAL);
  cr_assert_not_null(strstr(res.message, "larger than max_request (1000)"), "%s", res.message);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_set_max_request(C, 0); /* the default (1 MiB) again; the connection was not broken */
  cr_assert_eq(pdpc_check(C, &r, &res), 0, "%s", res.message);
  cr_assert(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  pdpc_value_free(ctx);
  stop();
}

Test(client_check, answer_sent_before_the_server_closed_is_reported_not_lost) {
  start(ANSWER_REFUSE, 5000);
  pthread_join(F.thread, NULL); /* the server has answered and closed before we send */
  F.joined = true;
  pdpc_check_req r = req_for("ok1");
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_PROTOCOL, "%s", res.message);
  cr_assert_eq(res.status, PDPC_STATUS_OVERLOADED, "%s", res.message);
  cr_assert_not_null(strstr(res.message, "too many connections"), "%s", res.message);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_STATE, "nothing more will come");
  pdpc_result_close(&res);
  stop();
}

Test(client_pipeline, frame_too_large_answer_to_a_request_cut_short_is_delivered_in_order) {
  start(ANSWER_TOO_LARGE_2ND, 5000);
  pdpc_set_max_request(C, 16u << 20);
  pdpc_value *ctx = big_context(8u << 20);
  pdpc_check_req small = req_for("ok1"), big = req_for("ok2");
  big.context = ctx;
  uint64_t id1 = 0, id2 = 0;
  cr_assert_eq(pdpc_send_check(C, &small, &id1), 0, "%s", pdpc_conn_error(C)->message);
  /* The server reads only the length of this one, answers FRAME_TOO_LARGE and closes. */
  cr_assert_eq(pdpc_send_check(C, &big, &id2), 0, "answered before the close: %s",
               pdpc_conn_error(C)->message);
  cr_assert_eq(pdpc_send_check(C, &small, NULL), PDPC_E_CLOSED,
               "nothing can be sent after the close");
  cr_assert_eq(pdpc_pending(C), 2);
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_recv(C, &res), 0, "%s", pdpc_conn_error(C)->message);
  cr_assert_eq(res.id, id1);
  cr_assert(pdpc_result_allowed(&res));
  cr_assert_eq(pdpc_recv(C, &res), PDPC_E_PROTOCOL);
  cr_assert_eq(res.id, id2);
  cr_assert_eq(res.status, PDPC_STATUS_FRAME_TOO_LARGE, "%s", res.message);
  cr_assert_not_null(strstr(res.message, "larger than max-frame"), "%s", res.message);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_eq(pdpc_recv(C, &res), PDPC_E_STATE);
  pdpc_result_close(&res);
  pdpc_value_free(ctx);
  stop();
}

Test(client_check, missing_uid_is_refused_before_sending) {
  start(ANSWER_NORMAL, 2000);
  pdpc_check_req r = req_for("ok1");
  r.action.type = NULL;
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_INVAL);
  cr_assert_not_null(strstr(res.message, "action"), "%s", res.message);
  cr_assert_not(pdpc_result_allowed(&res));
  r = req_for("ok2"); /* the connection is still usable */
  cr_assert_eq(pdpc_check(C, &r, &res), 0);
  cr_assert(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  stop();
}

Test(client_pipeline, thousand_checks_come_back_in_order) {
  start(ANSWER_NORMAL, 5000);
  enum { N = 1000 };
  static uint64_t ids[N];
  char rid[32];
  for (int i = 0; i < N; i++) {
    snprintf(rid, sizeof rid, "%s%d", i % 3 == 0 ? "ok" : "no", i);
    pdpc_check_req r = req_for(rid);
    cr_assert_eq(pdpc_send_check(C, &r, &ids[i]), 0, "%s", pdpc_conn_error(C)->message);
  }
  cr_assert_eq(pdpc_pending(C), N);
  pdpc_result res;
  pdpc_result_init(&res);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(pdpc_recv(C, &res), 0, "%s", pdpc_conn_error(C)->message);
    cr_assert_eq(res.id, ids[i]);
    cr_assert_eq(pdpc_result_allowed(&res), i % 3 == 0, "check %d", i);
  }
  cr_assert_eq(pdpc_pending(C), 0);
  cr_assert_eq(pdpc_recv(C, &res), PDPC_E_STATE);
  pdpc_result_close(&res);
  stop();
}

Test(client_pipeline, single_check_is_refused_while_pipelined_checks_are_unanswered) {
  start(ANSWER_NORMAL, 2000);
  pdpc_check_req r = req_for("ok1");
  cr_assert_eq(pdpc_send_check(C, &r, NULL), 0);
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(C, &r, &res), PDPC_E_STATE);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_eq(pdpc_recv(C, &res), 0);
  cr_assert(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  stop();
}

Test(client_batch, results_follow_their_checks_and_a_bad_item_never_allows) {
  start(ANSWER_NORMAL, 2000);
  pdpc_check_req reqs[3] = {req_for("ok1"), req_for("bad1"), req_for("no1")};
  pdpc_result res[3];
  for (int i = 0; i < 3; i++) pdpc_result_init(&res[i]);
  cr_assert_eq(pdpc_batch_check(C, reqs, 3, NULL, 0, res), 0, "%s", pdpc_conn_error(C)->message);
  cr_assert(pdpc_result_allowed(&res[0]));
  cr_assert_eq(res[1].status, PDPC_STATUS_BAD_REQUEST);
  cr_assert_not(pdpc_result_allowed(&res[1])); /* the fake put ALLOW beside BAD_REQUEST */
  cr_assert_not(pdpc_result_allowed(&res[2]));
  cr_assert_eq(res[2].status, PDPC_STATUS_OK);
  cr_assert_eq(res[0].stamp_len, 32);
  for (int i = 0; i < 3; i++) pdpc_result_close(&res[i]);
  stop();
}

Test(client_health, health_answer_is_read_and_unimplemented_status_is_an_error) {
  start(ANSWER_NORMAL, 2000);
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(C, &h), 0);
  cr_assert_eq(h.state, PDPC_HEALTH_SERVING);
  cr_assert_str_eq(h.reason, "fine");
  pdpc_server_status s;
  cr_assert_eq(pdpc_server_status_get(C, &s), PDPC_E_STATUS);
  cr_assert_eq(pdpc_conn_error(C)->status, PDPC_STATUS_UNIMPLEMENTED);
  cr_assert_not_null(strstr(pdpc_conn_error(C)->message, "UNIMPLEMENTED: not here"));
  cr_assert_eq(pdpc_health_check(C, &h), 0); /* a status error does not break the stream */
  stop();
}

Test(client_connect, nothing_listening_fails_clearly) {
  char dir[] = "/tmp/pdpc-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/none.sock", dir);
  pdpc_error err;
  cr_assert_null(pdpc_connect(path, 500, &err));
  cr_assert_eq(err.code, PDPC_E_CONNECT);
  cr_assert_not_null(strstr(err.message, path), "%s", err.message);
  cr_assert_not_null(strstr(err.message, "is pdpd running"), "%s", err.message);

  /* A stale socket file: bound, never listening. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_null(pdpc_connect(path, 500, &err));
  cr_assert_eq(err.code, PDPC_E_CONNECT);
  cr_assert_not_null(strstr(err.message, "refused"), "%s", err.message);
  close(fd);
  unlink(path);
  rmdir(dir);
}

Test(client_connect, path_of_108_bytes_is_refused) {
  char path[200];
  memset(path, 'a', 108);
  path[0] = '/';
  path[108] = 0;
  pdpc_error err;
  cr_assert_null(pdpc_connect(path, 100, &err));
  cr_assert_eq(err.code, PDPC_E_INVAL);
  cr_assert_not_null(strstr(err.message, "too long"), "%s", err.message);
  cr_assert_null(pdpc_connect("", 100, &err));
  cr_assert_eq(err.code, PDPC_E_INVAL);
}

Test(client_result, zeroed_and_failed_results_never_allow) {
  pdpc_result r;
  pdpc_result_init(&r);
  cr_assert_not(pdpc_result_allowed(&r));
  r.decision = PDPC_ALLOW; /* a caller forging ALLOW without OK still gets deny */
  cr_assert_not(pdpc_result_allowed(&r));
  cr_assert_not(pdpc_result_allowed(NULL));
  pdpc_result_close(&r);
  cr_assert_eq(pdpc_decode_check((const uint8_t *)"\xff\xff", 2, 1, &r), PDPC_E_PROTOCOL);
  cr_assert_not(pdpc_result_allowed(&r));
  pdpc_result_close(&r);
}

Test(client_result, every_status_but_ok_denies_an_allow_body) {
  for (int code = 0; code <= 10; code++) {
    Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
    Pdp__V1__Status st = PDP__V1__STATUS__INIT;
    Pdp__V1__CheckResponse ck = PDP__V1__CHECK_RESPONSE__INIT;
    st.code = (Pdp__V1__Status__Code)code;
    ck.decision = PDP__V1__DECISION__ALLOW;
    resp.id = 5;
    resp.status = &st;
    resp.body_case = PDP__V1__RESPONSE__BODY_CHECK;
    resp.check = &ck;
    uint8_t buf[64];
    size_t n = pdp__v1__response__pack(&resp, buf);
    pdpc_result r;
    pdpc_result_init(&r);
    int rc = pdpc_decode_check(buf, n, 5, &r);
    cr_assert_eq(rc, 0);
    cr_assert_eq(pdpc_result_allowed(&r), code == PDPC_STATUS_OK, "status %d", code);
    cr_assert_eq(r.decision == PDPC_ALLOW, code == PDPC_STATUS_OK, "status %d", code);
    pdpc_result_close(&r);
  }
}

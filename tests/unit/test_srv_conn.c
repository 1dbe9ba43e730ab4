/* test_srv_conn.c - the connection layer on a real loop and socket, in-process: a
 * connection pdpd cannot allocate is closed and accepting goes on. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uv_loop_t loop;
static srv_config cfg;
static cache_holder holder;
static srv_server srv;
static char dir[64], path[128];
static int fail_allocs; /* how many connection allocations fail next */

static void *failing_calloc(size_t n, size_t size) {
  if (fail_allocs > 0) {
    fail_allocs--;
    return NULL;
  }
  return calloc(n, size);
}

static void on_connection(uv_stream_t *listener, int status) {
  if (status == 0) srv_conn_accept(listener->data);
}

static void setup(void) {
  srv_config_init(&cfg);
  cfg.log_level = SRV_LOG_ERROR;
  srv_log_threshold = SRV_LOG_ERROR;
  cache_holder_init(&holder);
  cr_assert_eq(uv_loop_init(&loop), 0);
  memset(&srv, 0, sizeof(srv));
  srv.loop = &loop;
  srv.cfg = &cfg;
  srv.ctx = (srv_ctx){
      .cfg = &cfg, .holder = &holder, .request_budget = srv_request_budget(cfg.max_frame)};
  snprintf(dir, sizeof(dir), "/tmp/pdpd-cXXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/s.sock", dir);
  char err[512];
  cr_assert_eq(srv_listen(&loop, &srv.listener, path, on_connection, err, sizeof(err)), 0, "%s",
               err);
  srv.listener.data = &srv;
  srv_conn_calloc = failing_calloc;
}

static void teardown(void) {
  srv_conn_calloc = calloc;
  srv_conn_close_all(&srv);
  uv_close((uv_handle_t *)&srv.listener, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0, "every handle was closed");
  cache_holder_close(&holder);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 60);

static int client(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

/* Run the loop until fd is readable (or 20 s pass); then read up to cap bytes. */
static ssize_t pump_read(int fd, uint8_t *buf, size_t cap) {
  for (int i = 0; i < 20000; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 1) == 1) return read(fd, buf, cap);
  }
  return -2;
}

/* Send a Health request and expect its framed answer with the same id. */
static void expect_health(int fd, uint64_t id) {
  Pdp__V1__HealthRequest h = PDP__V1__HEALTH_REQUEST__INIT;
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = id, rq.body_case = PDP__V1__REQUEST__BODY_HEALTH, rq.health = &h;
  uint8_t frame[64];
  size_t n = pdp__v1__request__get_packed_size(&rq);
  srv_frame_put_len(frame, (uint32_t)n);
  pdp__v1__request__pack(&rq, frame + 4);
  cr_assert_eq(write(fd, frame, n + 4), (ssize_t)(n + 4));
  uint8_t in[256];
  ssize_t got = pump_read(fd, in, sizeof(in));
  cr_assert_gt(got, 4, "an answer arrives");
  Pdp__V1__Response *r = pdp__v1__response__unpack(NULL, srv_frame_len(in), in + 4);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, id);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  pdp__v1__response__free_unpacked(r, NULL);
}

Test(conn, a_connection_without_memory_is_closed_and_accepting_goes_on) {
  fail_allocs = 1;
  int a = client();
  uint8_t b[16];
  cr_assert_eq(pump_read(a, b, sizeof(b)), 0, "the connection pdpd could not allocate is closed");
  cr_assert_eq(srv.ctx.connections, 0);
  int c = client();
  expect_health(c, 7);
  cr_assert_eq(srv.ctx.connections, 1);
  close(a);
  close(c);
}

Test(conn, several_failed_accepts_in_a_row_do_not_stop_the_listener) {
  /* more failures than one reject handle can take at once: the rest wait for it */
  fail_allocs = 1000000;
  int a[3];
  for (int i = 0; i < 3; i++) a[i] = client();
  uint8_t b[16];
  for (int i = 0; i < 3; i++) cr_assert_eq(pump_read(a[i], b, sizeof(b)), 0, "client %d", i);
  cr_assert_eq(srv.ctx.connections, 0);
  fail_allocs = 0;
  int c = client();
  expect_health(c, 8);
  for (int i = 0; i < 3; i++) close(a[i]);
  close(c);
}

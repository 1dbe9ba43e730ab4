/* test_daemon_socket.c - the socket's life: path checks, stale and live sockets, mode,
 * clean shutdown on SIGTERM; and pdpd's exit codes for bad options and bad bundles. */
#include <criterion/criterion.h>

#include "daemon_util.h"

#include <pthread.h>

static du_daemon d, d2;

static void setup(void) {
  cr_assert(du_init(&d, DU_POLICIES, DU_ENTITIES));
  memset(&d2, 0, sizeof(d2));
}

static void teardown(void) {
  du_stop(&d2);
  du_finish(&d); /* fails the run unless pdpd exited 0 */
}

TestSuite(socket, .init = setup, .fini = teardown, .timeout = 120);

/* Run pdpd to completion (it is expected to exit by itself); returns its exit code. */
static int run_to_exit(du_daemon *dd, const char *const *extra) {
  pid_t pid = du_spawn(dd, extra);
  int st = du_wait_exit(pid, DU_DEADLINE_MS);
  if (st == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(socket, socket_is_mode_0660_in_a_new_0750_directory) {
  snprintf(d.sock, sizeof(d.sock), "%s/run/sub/pdpd.sock", d.dir);
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  struct stat st;
  cr_assert_eq(lstat(d.sock, &st), 0);
  cr_assert(S_ISSOCK(st.st_mode));
  cr_assert_eq(st.st_mode & 0777, 0660, "mode %o", st.st_mode & 0777);
  char dir[256];
  snprintf(dir, sizeof(dir), "%s/run/sub", d.dir);
  cr_assert_eq(stat(dir, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0750, "dir mode %o", st.st_mode & 0777);
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "serving 3 policies, 3 entities from"), "%s", log);
  cr_assert(strstr(log, "(stamp "), "%s", log);
  free(log);
}

Test(socket, stale_socket_file_is_replaced) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  cr_assert_lt(strlen(d.sock), sizeof(sa.sun_path));
  memcpy(sa.sun_path, d.sock, strlen(d.sock));
  cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(s); /* the file stays, nobody listens: stale */
  struct stat st;
  cr_assert_eq(lstat(d.sock, &st), 0);
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  cr_assert(du_healthy(d.sock));
}

Test(socket, live_socket_is_refused_and_keeps_serving) {
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  d2 = d;
  d2.pid = 0;
  snprintf(d2.log, sizeof(d2.log), "%s/second.log", d.dir);
  cr_assert_eq(run_to_exit(&d2, NULL), 1);
  char *log = du_read_file(d2.log);
  cr_assert(strstr(log, "another pdpd is serving"), "%s", log);
  free(log);
  cr_assert(du_healthy(d.sock), "the first pdpd still answers on its socket");
}

Test(socket, path_that_is_not_a_socket_is_left_alone) {
  cr_assert(du_write_file(d.sock, "precious"));
  cr_assert_eq(run_to_exit(&d, NULL), 1);
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "not a socket"), "%s", log);
  free(log);
  char *content = du_read_file(d.sock);
  cr_assert_str_eq(content, "precious");
  free(content);
}

/* Set d.sock to a path of exactly n bytes inside d.dir. */
static void path_of_length(size_t n) {
  size_t base = strlen(d.dir) + 1;
  cr_assert_lt(base, n);
  cr_assert_lt(n, sizeof(d.sock));
  memcpy(d.sock, d.dir, base - 1);
  d.sock[base - 1] = '/';
  memset(d.sock + base, 'p', n - base);
  d.sock[n] = '\0';
  cr_assert_eq(strlen(d.sock), n);
}

Test(socket, path_of_108_bytes_is_refused_and_107_served) {
  path_of_length(108);
  cr_assert_eq(run_to_exit(&d, NULL), 1);
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "108 bytes"), "%s", log);
  free(log);
  struct stat st;
  cr_assert_neq(lstat(d.sock, &st), 0, "nothing was created");
  path_of_length(107);
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  cr_assert_eq(lstat(d.sock, &st), 0);
}

Test(socket, sigterm_answers_what_was_read_removes_the_socket_and_exits_0) {
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  int fd = du_connect(d.sock);
  uint8_t *buf = NULL;
  size_t len = 0;
  for (uint64_t id = 1; id <= 100; id++) {
    du_check c;
    du_check_init(&c, id, "alice", "view", "d1");
    len = du_frame(&buf, len, &c.rq);
  }
  cr_assert(du_write_all(fd, buf, len));
  free(buf);
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 1);
  pdp__v1__response__free_unpacked(r, NULL);
  kill(d.pid, SIGTERM);
  for (uint64_t id = 2; id <= 100; id++) {
    r = du_recv(fd);
    cr_assert_not_null(r, "answer %llu after SIGTERM", (unsigned long long)id);
    cr_assert_eq(r->id, id);
    cr_assert_eq(r->check->decision, PDP__V1__DECISION__ALLOW);
    pdp__v1__response__free_unpacked(r, NULL);
  }
  cr_assert(du_eof(fd), "the connection is closed after the answers");
  close(fd);
  int st = du_wait_exit(d.pid, DU_DEADLINE_MS);
  d.pid = 0;
  cr_assert(st != -1 && WIFEXITED(st), "pdpd exited");
  cr_assert_eq(WEXITSTATUS(st), 0);
  struct stat sst;
  cr_assert_neq(lstat(d.sock, &sst), 0, "the socket file is removed");
}

Test(socket, idle_daemon_stops_cleanly_on_sigint) {
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  int fd = du_connect(d.sock); /* an idle open connection does not hold shutdown up */
  kill(d.pid, SIGINT);
  int st = du_wait_exit(d.pid, DU_DEADLINE_MS);
  d.pid = 0;
  cr_assert(st != -1 && WIFEXITED(st));
  cr_assert_eq(WEXITSTATUS(st), 0);
  cr_assert(du_eof(fd));
  close(fd);
}

Test(socket, bad_options_exit_2_and_help_exits_0) {
  const char *bad[] = {"--max-frame", "lots", NULL};
  cr_assert_eq(run_to_exit(&d, bad), 2);
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "max-frame"), "%s", log);
  free(log);
  const char *unknown[] = {"--frobnicate", "1", NULL};
  cr_assert_eq(run_to_exit(&d, unknown), 2);
  const char *help[] = {"--help", NULL};
  cr_assert_eq(run_to_exit(&d, help), 0);
  log = du_read_file(d.log);
  cr_assert(strstr(log, "--max-request-entities"), "%s", log);
  free(log);
  const char *version[] = {"--version", NULL};
  cr_assert_eq(run_to_exit(&d, version), 0);
}

Test(socket, config_file_options_are_used_and_unknown_keys_refused) {
  char cfg[256];
  snprintf(cfg, sizeof(cfg), "%s/pdpd.conf", d.dir);
  cr_assert(du_write_file(cfg, "# test\nmax-connections = 1\nlog-level = debug\n"));
  const char *extra[] = {"--config", cfg, NULL};
  cr_assert(du_start(&d, extra), "%s", du_read_file(d.log));
  int a = du_connect(d.sock);
  Pdp__V1__HealthRequest h;
  Pdp__V1__Request rq = du_health_request(3, &h);
  cr_assert(du_send(a, &rq));
  Pdp__V1__Response *r = du_recv(a);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK);
  pdp__v1__response__free_unpacked(r, NULL);
  int b = du_connect(d.sock);
  r = du_recv(b);
  cr_assert_not_null(r);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OVERLOADED,
               "max-connections 1 from the file");
  pdp__v1__response__free_unpacked(r, NULL);
  close(a);
  close(b);
  cr_assert_eq(du_stop(&d), 0);

  cr_assert(du_write_file(cfg, "max-connections = 1\nwidgets = 3\n"));
  cr_assert_eq(run_to_exit(&d, extra), 2);
  char *log = du_read_file(d.log);
  char want[300];
  snprintf(want, sizeof(want), "%s:2:", cfg);
  cr_assert(strstr(log, want), "%s", log);
  free(log);
}

Test(socket, bundle_that_does_not_load_exits_1_with_every_diagnostic) {
  char p[256];
  snprintf(p, sizeof(p), "%s/policies/x.cedar", d.bundle);
  cr_assert(du_write_file(p, "permit (principal, action, resource)\nwhen { 1 + };\n"
                             "forbid (principal, action resource);\n"));
  cr_assert_eq(run_to_exit(&d, NULL), 1);
  char *log = du_read_file(d.log);
  cr_assert(strstr(log, "x.cedar:2:"), "%s", log);
  cr_assert(strstr(log, "nothing to serve"), "%s", log);
  free(log);
  struct stat st;
  cr_assert_neq(lstat(d.sock, &st), 0, "no socket without a snapshot");
}

typedef struct flood {
  int fd;
  uint8_t *buf;
  size_t len;
} flood;

static void *flood_writer(void *arg) {
  flood *f = arg;
  du_write_all(f->fd, f->buf, f->len); /* fails once pdpd closes the connection: expected */
  return NULL;
}

Test(socket, client_that_never_reads_cannot_hold_shutdown_up) {
  cr_assert(du_start(&d, NULL), "%s", du_read_file(d.log));
  flood f = {du_connect(d.sock), NULL, 0};
  for (uint64_t id = 1; id <= 60000; id++) {
    du_check c;
    du_check_init(&c, id, "alice", "view", "d1");
    f.len = du_frame(&f.buf, f.len, &c.rq);
  }
  pthread_t t;
  pthread_create(&t, NULL, flood_writer, &f);
  du_sleep_ms(300); /* lets the buffers fill; nothing is asserted about time */
  kill(d.pid, SIGTERM);
  int st = du_wait_exit(d.pid, DU_DEADLINE_MS);
  d.pid = 0;
  cr_assert(st != -1 && WIFEXITED(st), "pdpd exited although its client never read");
  cr_assert_eq(WEXITSTATUS(st), 0);
  shutdown(f.fd, SHUT_RDWR);
  pthread_join(t, NULL);
  close(f.fd);
  free(f.buf);
  struct stat sst;
  cr_assert_neq(lstat(d.sock, &sst), 0, "the socket file is removed");
}

/* daemon_util.h - helpers for end-to-end tests: a temp bundle, the real pdpd binary on a
 * temp socket, framed protobuf over a plain blocking Unix socket.  Every e2e suite starts
 * and stops pdpd through these (pdpctl_util.h adds running pdpctl on top).
 *
 * PDPD_BIN names the daemon (default zig-out/bin/pdpd).  PDPD_WRAPPER, when set, is a
 * space-separated command put in front of it (for example
 * "valgrind --error-exitcode=99 --leak-check=full"); then du_stop() reports exit 99 when
 * valgrind found errors.  Every wait has a generous deadline so a broken daemon fails a test
 * instead of hanging it; no test asserts on timing.  A spawned pdpd gets SIGKILL when the
 * thread that spawned it dies (PR_SET_PDEATHSIG), so a crashed test leaves no daemon behind.
 */
#ifndef PDP_TESTS_E2E_DAEMON_UTIL_H
#define PDP_TESTS_E2E_DAEMON_UTIL_H

#include "pdp.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DU_DEADLINE_MS 60000 /* longest wait for anything (valgrind is slow) */

typedef struct du_daemon {
  pid_t pid;          /* 0 when not running */
  char dir[64];       /* mkdtemp'd directory holding everything below */
  char sock[256];     /* socket path (kept under 108 bytes by the tests) */
  char bundle[128];   /* dir/bundle: policies/x.cedar + entities.json (du_init) */
  char log[128];      /* dir/pdpd.log: the daemon's stderr */
  const char *source; /* the directory pdpd serves; NULL means bundle */
} du_daemon;

static inline int64_t du_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void du_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static inline bool du_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

/* Whole file into a malloc'd string, any size ("" when missing or unreadable). */
static inline char *du_read_file(const char *path) {
  FILE *f = fopen(path, "r");
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  if (!buf) abort();
  if (f) {
    for (;;) {
      len += fread(buf + len, 1, cap - 1 - len, f);
      if (len < cap - 1) break; /* EOF or error */
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) abort();
    }
    fclose(f);
  }
  buf[len] = '\0';
  return buf;
}

/* A fresh, empty temp dir (the paths in d point into it; nothing is written yet).
 * Returns false on any filesystem error. */
static inline bool du_init_dir(du_daemon *d) {
  memset(d, 0, sizeof(*d));
  snprintf(d->dir, sizeof(d->dir), "/tmp/pdpdXXXXXX");
  if (!mkdtemp(d->dir)) {
    d->dir[0] = '\0';
    return false;
  }
  snprintf(d->sock, sizeof(d->sock), "%s/pdpd.sock", d->dir);
  snprintf(d->bundle, sizeof(d->bundle), "%s/bundle", d->dir);
  snprintf(d->log, sizeof(d->log), "%s/pdpd.log", d->dir);
  return true;
}

/* Write text to d->dir/rel, making the parent directories; false on any error. */
static inline bool du_write(const du_daemon *d, const char *rel, const char *text) {
  char path[512];
  int n = snprintf(path, sizeof(path), "%s/%s", d->dir, rel);
  if (n < 0 || (size_t)n >= sizeof(path)) return false;
  for (char *p = path + strlen(d->dir) + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    bool ok = mkdir(path, 0755) == 0 || errno == EEXIST;
    *p = '/';
    if (!ok) return false;
  }
  return du_write_file(path, text);
}

/* A fresh temp dir with a bundle in it: bundle/policies/x.cedar and bundle/entities.json.
 * Returns false on any filesystem error. */
static inline bool du_init(du_daemon *d, const char *policies, const char *entities) {
  return du_init_dir(d) && du_write(d, "bundle/policies/x.cedar", policies) &&
         du_write(d, "bundle/entities.json", entities);
}

static inline const char *du_bin(void) {
  const char *b = getenv("PDPD_BIN");
  return b && *b ? b : "zig-out/bin/pdpd";
}

/* Start pdpd with --socket d->sock --source d->source (or d->bundle) and extra args
 * (NULL-terminated array, may be NULL).  Does not wait for readiness. */
static inline pid_t du_spawn(du_daemon *d, const char *const *extra) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 2);
    dup2(fd, 1);
    close(fd);
  }
  char *argv[64];
  int n = 0;
  static char wrapper[1024];
  const char *w = getenv("PDPD_WRAPPER");
  if (w && *w) {
    snprintf(wrapper, sizeof(wrapper), "%s", w);
    for (char *tok = strtok(wrapper, " "); tok && n < 40; tok = strtok(NULL, " ")) argv[n++] = tok;
  }
  argv[n++] = (char *)du_bin();
  argv[n++] = "--socket";
  argv[n++] = d->sock;
  argv[n++] = "--source";
  argv[n++] = (char *)(d->source ? d->source : d->bundle);
  /* Each daemon keeps its store in its own temp dir unless the test names one, so no
   * test writes into the source tree's ./var or sees another test's snapshot. */
  bool has_data_dir = false;
  for (int i = 0; extra && extra[i]; i++) has_data_dir |= strncmp(extra[i], "--data-dir", 10) == 0;
  static char data_dir[128];
  if (!has_data_dir) {
    snprintf(data_dir, sizeof(data_dir), "%s/data", d->dir);
    argv[n++] = "--data-dir";
    argv[n++] = data_dir;
  }
  for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = (char *)extra[i];
  argv[n] = NULL;
  execvp(argv[0], argv);
  _exit(127);
}

/* A blocking connection to path, or -1. */
static inline int du_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n >= sizeof(sa.sun_path)) {
    close(fd);
    return -1;
  }
  memcpy(sa.sun_path, path, n);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static inline bool du_write_all(int fd, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Read exactly n bytes; false on EOF, error or deadline. */
static inline bool du_read_all(int fd, void *buf, size_t n) {
  uint8_t *p = buf;
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  while (n > 0) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int left = (int)(deadline - du_now_ms());
    if (left <= 0 || poll(&pfd, 1, left) <= 0) return false;
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= (size_t)r;
  }
  return true;
}

/* Append a framed Request to buf (malloc'd, grown); returns the new length. */
/* Capacity of a du_frame buffer holding `len` bytes: the power of two at or above it, so
 * appending many frames reallocates O(log n) times, not once per frame (a quadratic copy
 * that makes sanitizer runs crawl). */
static inline size_t du_frame_cap(size_t len) {
  size_t cap = 64;
  while (cap < len) cap *= 2;
  return cap;
}

static inline size_t du_frame(uint8_t **buf, size_t len, const Pdp__V1__Request *rq) {
  size_t n = pdp__v1__request__get_packed_size(rq);
  if (!*buf || du_frame_cap(len) < len + 4 + n) *buf = realloc(*buf, du_frame_cap(len + 4 + n));
  uint8_t *p = *buf + len;
  p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
  pdp__v1__request__pack(rq, p + 4);
  return len + 4 + n;
}

static inline bool du_send(int fd, const Pdp__V1__Request *rq) {
  uint8_t *buf = NULL;
  size_t n = du_frame(&buf, 0, rq);
  bool ok = du_write_all(fd, buf, n);
  free(buf);
  return ok;
}

/* The next Response (free with pdp__v1__response__free_unpacked), or NULL on EOF/error. */
static inline Pdp__V1__Response *du_recv(int fd) {
  uint8_t h[4];
  if (!du_read_all(fd, h, 4)) return NULL;
  uint32_t n = ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) | h[3];
  uint8_t *body = malloc(n ? n : 1);
  if (!du_read_all(fd, body, n)) {
    free(body);
    return NULL;
  }
  Pdp__V1__Response *r = pdp__v1__response__unpack(NULL, n, body);
  free(body);
  return r;
}

/* True when the peer closed: read returns 0 (after any pending bytes were consumed). */
static inline bool du_eof(int fd) {
  uint8_t b;
  struct pollfd pfd = {fd, POLLIN, 0};
  if (poll(&pfd, 1, DU_DEADLINE_MS) <= 0) return false;
  return read(fd, &b, 1) == 0;
}

static inline Pdp__V1__Request du_health_request(uint64_t id, Pdp__V1__HealthRequest *h) {
  pdp__v1__health_request__init(h);
  Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
  rq.id = id;
  rq.body_case = PDP__V1__REQUEST__BODY_HEALTH;
  rq.health = h;
  return rq;
}

/* One Health round trip on a new connection; true when it answered OK. */
static inline bool du_healthy(const char *path) {
  int fd = du_connect(path);
  if (fd < 0) return false;
  Pdp__V1__HealthRequest h;
  Pdp__V1__Request rq = du_health_request(1, &h);
  bool ok = false;
  if (du_send(fd, &rq)) {
    Pdp__V1__Response *r = du_recv(fd);
    ok = r && r->status && r->status->code == PDP__V1__STATUS__CODE__OK;
    if (r) pdp__v1__response__free_unpacked(r, NULL);
  }
  close(fd);
  return ok;
}

/* One Health round trip on a new connection; true when pdpd serves a snapshot (SERVING or
 * DEGRADED).  Until its first check of the source ends, a pdpd with nothing stored answers
 * NO_POLICY. */
static inline bool du_serving(const char *path) {
  int fd = du_connect(path);
  if (fd < 0) return false;
  Pdp__V1__HealthRequest h;
  Pdp__V1__Request rq = du_health_request(1, &h);
  bool ok = false;
  if (du_send(fd, &rq)) {
    Pdp__V1__Response *r = du_recv(fd);
    ok = r && r->status && r->status->code == PDP__V1__STATUS__CODE__OK && r->health &&
         (r->health->state == PDP__V1__HEALTH_RESPONSE__STATE__SERVING ||
          r->health->state == PDP__V1__HEALTH_RESPONSE__STATE__DEGRADED);
    if (r) pdp__v1__response__free_unpacked(r, NULL);
  }
  close(fd);
  return ok;
}

/* Wait until pid exits or the deadline; returns its wait status or -1. */
static inline int du_wait_exit(pid_t pid, int ms) {
  int64_t deadline = du_now_ms() + ms;
  int st;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return st;
    if (r < 0 || du_now_ms() > deadline) return -1;
    du_sleep_ms(10);
  }
}

/* Spawn and wait until pdpd serves a snapshot (du_serving).  False when pdpd exited or
 * never served (its stderr is in d->log). */
static inline bool du_start(du_daemon *d, const char *const *extra) {
  d->pid = du_spawn(d, extra);
  if (d->pid < 0) return false;
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  while (du_now_ms() < deadline) {
    int st;
    if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
      d->pid = 0;
      return false;
    }
    if (du_serving(d->sock)) return true;
    du_sleep_ms(20);
  }
  return false;
}

/* SIGTERM, wait, SIGKILL if needed; returns the exit code (-1 when killed or not running).
 * Safe to call twice. */
static inline int du_stop(du_daemon *d) {
  if (d->pid <= 0) return -1;
  kill(d->pid, SIGTERM);
  int st = du_wait_exit(d->pid, DU_DEADLINE_MS);
  if (st == -1) {
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    return -1;
  }
  d->pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Remove the temp dir and everything in it (best effort). */
static inline void du_cleanup(du_daemon *d) {
  if (!d->dir[0]) return;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
  if (system(cmd) != 0) { /* nothing to do */
  }
  d->dir[0] = '\0';
}

/* The end of a test, for a suite's .fini: stop pdpd if it still runs and remove the temp
 * dir; when that pdpd exited with anything but 0 (99 under PDPD_WRAPPER: valgrind found
 * errors) print its log and abort().  Criterion 2.4 ignores a failed assertion in a .fini,
 * but a .fini that crashes makes the run fail. */
static inline void du_finish(du_daemon *d) {
  bool running = d->pid > 0;
  int rc = du_stop(d);
  char *log = running && rc != 0 ? du_read_file(d->log) : NULL;
  du_cleanup(d);
  if (!log) return;
  fprintf(stderr, "pdpd exit code %d (expected 0); its log:\n%s\n", rc, log);
  free(log);
  abort();
}

/* ---- the test bundle ----------------------------------------------------------------- */

/* alice may view anything; owners may edit; nothing locked may be touched.  Doc::"d1" is
 * owned by bob and unlocked, Doc::"d2" locked; a Doc without attributes makes owner-edits
 * and no-locked error (they are skipped and reported). */
#define DU_POLICIES                                                                                \
  "@id(\"alice-views\")\n"                                                                         \
  "permit (principal == User::\"alice\", action == Action::\"view\", resource);\n"                 \
  "@id(\"owner-edits\")\n"                                                                         \
  "permit (principal, action == Action::\"edit\", resource)\n"                                     \
  "when { resource.owner == principal };\n"                                                        \
  "@id(\"no-locked\")\n"                                                                           \
  "forbid (principal, action, resource) when { resource.locked };\n"

#define DU_ENTITIES                                                                                \
  "[{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {}, \"parents\": []},\n"         \
  " {\"uid\": {\"type\": \"Doc\", \"id\": \"d1\"}, \"parents\": [],\n"                             \
  "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"bob\"}}, \"locked\": "   \
  "false}},\n"                                                                                     \
  " {\"uid\": {\"type\": \"Doc\", \"id\": \"d2\"}, \"parents\": [],\n"                             \
  "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"bob\"}}, \"locked\": "   \
  "true}}]\n"

/* ---- request builders ---------------------------------------------------------------- */

/* A check request in caller-provided storage. */
typedef struct du_check {
  Pdp__V1__Request rq;
  Pdp__V1__CheckRequest check;
  Pdp__V1__EntityUid principal, action, resource;
} du_check;

static inline void du_check_init(du_check *c, uint64_t id, const char *principal_id,
                                 const char *action_id, const char *resource_id) {
  pdp__v1__request__init(&c->rq);
  pdp__v1__check_request__init(&c->check);
  pdp__v1__entity_uid__init(&c->principal);
  pdp__v1__entity_uid__init(&c->action);
  pdp__v1__entity_uid__init(&c->resource);
  c->principal.type = "User";
  c->principal.id = (char *)principal_id;
  c->action.type = "Action";
  c->action.id = (char *)action_id;
  c->resource.type = "Doc";
  c->resource.id = (char *)resource_id;
  c->check.principal = &c->principal;
  c->check.action = &c->action;
  c->check.resource = &c->resource;
  c->rq.id = id;
  c->rq.body_case = PDP__V1__REQUEST__BODY_CHECK;
  c->rq.check = &c->check;
}

#endif

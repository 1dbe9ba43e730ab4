/* listen.c - set up the Unix socket pdpd serves on.
 *
 * libuv 1.44 truncates a path that does not fit sun_path (108 bytes with the NUL) without
 * a word, so such paths are refused here.  A leftover socket file from a crashed pdpd is
 * removed only when nothing answers on it (ECONNREFUSED): a live pdpd is never unlinked
 * from under its clients, and a path that is not a socket is never deleted.  The socket is
 * created mode 0660 by setting the umask around bind (uv_pipe_chmod could only widen it),
 * and a missing parent directory is created 0750.
 */
#include "srv_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* mkdir -p for the directory part of path, each new directory 0750. */
static int make_parent(const char *path, char *err, size_t err_cap) {
  char dir[SRV_PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, err_cap, "cannot create directory %s: %s", dir, strerror(errno));
        return -1;
      }
      *p = c;
      if (c == '\0') break;
    }
  }
  return 0;
}

/* Remove a stale socket at path, or refuse when it is live or not a socket. */
static int clear_stale(const char *path, char *err, size_t err_cap) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return 0;
    snprintf(err, err_cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISSOCK(st.st_mode)) {
    snprintf(err, err_cap, "%s exists and is not a socket; refusing to replace it", path);
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, err_cap, "socket: %s", strerror(errno));
    return -1;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path)); /* length checked by the caller */
  int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
  int e = errno;
  close(fd);
  if (r == 0) {
    snprintf(err, err_cap, "another pdpd is serving %s", path);
    return -1;
  }
  if (e != ECONNREFUSED) {
    snprintf(err, err_cap, "%s: cannot tell whether it is in use: %s", path, strerror(e));
    return -1;
  }
  if (unlink(path) != 0 && errno != ENOENT) {
    snprintf(err, err_cap, "cannot remove stale socket %s: %s", path, strerror(errno));
    return -1;
  }
  srv_log(SRV_LOG_INFO, "pdpd: removed stale socket %s", path);
  return 0;
}

int srv_listen(uv_loop_t *loop, uv_pipe_t *pipe, const char *path, uv_connection_cb cb, char *err,
               size_t err_cap) {
  size_t n = strlen(path);
  if (n == 0) {
    snprintf(err, err_cap, "socket path is empty");
    return -1;
  }
  if (n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    snprintf(err, err_cap, "socket path %s is %zu bytes; Unix socket paths must be under %zu bytes",
             path, n, sizeof(((struct sockaddr_un *)0)->sun_path));
    return -1;
  }
  if (make_parent(path, err, err_cap) != 0) return -1;
  if (clear_stale(path, err, err_cap) != 0) return -1;
  int r = uv_pipe_init(loop, pipe, 0);
  if (r != 0) {
    snprintf(err, err_cap, "uv_pipe_init: %s", uv_strerror(r));
    return -1;
  }
  mode_t old = umask(0117); /* socket file mode 0660 */
  r = uv_pipe_bind(pipe, path);
  umask(old);
  bool bound = r == 0;
  if (r == 0) r = uv_listen((uv_stream_t *)pipe, 128, cb);
  if (r != 0) {
    if (bound) unlink(path);
    snprintf(err, err_cap, "cannot listen on %s: %s", path, uv_strerror(r));
    uv_close((uv_handle_t *)pipe, NULL);
    return -1;
  }
  return 0;
}

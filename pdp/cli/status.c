/* status.c - `pdpctl status`: a running pdpd's health and status, for people and scripts.
 *
 * Exit 0 when pdpd answers and is serving, 1 when it answers but is degraded or has no
 * policy, 2 when it cannot be asked (no connection, non-OK status).
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char status_usage[] =
    "usage: pdpctl status [--socket PATH] [--timeout MS]\n"
    "       pdpctl status --source DIR\n"
    "\n"
    "Show a running pdpd's health (serving, degraded, no policy) and status counters.\n"
    "With --source, load the bundle folder DIR instead (every error is printed) and show the\n"
    "content stamp a store would have after syncing it, and its counts.\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH   pdpd's socket (default $PDPD_SOCKET or " CTL_DEFAULT_SOCKET ")\n"
    "  -t, --timeout MS    connect and answer timeout in milliseconds (default 5000)\n"
    "  -d, --source DIR    a bundle folder instead of a running pdpd\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 serving (--source: valid), 1 degraded or no policy, 2 error\n";

static const char *state_name(pdpc_health_state s) {
  switch (s) {
  case PDPC_HEALTH_SERVING:
    return "serving";
  case PDPC_HEALTH_DEGRADED:
    return "degraded";
  case PDPC_HEALTH_NO_POLICY:
    return "no policy";
  default:
    return "unknown";
  }
}

/* A wall-clock time in ms as ISO 8601 UTC ("2025-06-01T12:00:00.123Z"), or "never" for 0. */
static const char *iso_time(int64_t unix_ms, char *buf, size_t cap) {
  if (unix_ms <= 0) return "never";
  time_t t = (time_t)(unix_ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return "?";
  size_t n = strlen(buf);
  snprintf(buf + n, cap - n, ".%03dZ", (int)(unix_ms % 1000));
  return buf;
}

static void print_stamp(const char *label, const uint8_t *stamp, size_t len) {
  char hex[65];
  if (len == 32) printf("%s%s\n", label, cache_stamp_hex(stamp, hex));
}

int ctl_status(int argc, char **argv) {
  static const struct option opts[] = {{"socket", required_argument, 0, 's'},
                                       {"timeout", required_argument, 0, 't'},
                                       {"source", required_argument, 0, 'd'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *sock = ctl_socket_default();
  int timeout = CTL_DEFAULT_TIMEOUT_MS;
  const char *source = NULL;
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":s:t:d:h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      sock = optarg;
      break;
    case 't':
      if (ctl_parse_timeout("status", optarg, &timeout)) return CTL_EXIT_ERROR;
      break;
    case 'd':
      source = optarg;
      break;
    case 'h':
      fputs(status_usage, stdout);
      return CTL_EXIT_OK;
    default:
      return ctl_bad_option("status", c, argv);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pdpctl status: unexpected argument '%s'\n", argv[optind]);
    return CTL_EXIT_ERROR;
  }
  if (source) return ctl_status_source(source);
  pdpc_error err;
  pdpc_conn *conn = pdpc_connect(sock, timeout, &err);
  if (!conn) {
    fprintf(stderr, "pdpctl status: %s\n", err.message);
    return CTL_EXIT_ERROR;
  }
  pdpc_health h;
  if (pdpc_health_check(conn, &h) != 0) {
    fprintf(stderr, "pdpctl status: health: %s\n", pdpc_conn_error(conn)->message);
    pdpc_close(conn);
    return CTL_EXIT_ERROR;
  }
  printf("health: %s%s%s\n", state_name(h.state), h.reason[0] ? " - " : "", h.reason);
  print_stamp("stamp: ", h.stamp, h.stamp_len);
  printf("snapshot age: %" PRIu64 " ms\n", h.snapshot_age_ms);
  pdpc_server_status s;
  if (pdpc_server_status_get(conn, &s) == 0) {
    printf("version: %s\nsource: %s\n", s.version, s.source);
    char t[48];
    printf("last check: %s", iso_time(s.last_check_unix_ms, t, sizeof t));
    if (s.last_check_unix_ms > 0) {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      int64_t ago = (int64_t)now.tv_sec - s.last_check_unix_ms / 1000;
      printf(" (%" PRId64 " s ago)", ago > 0 ? ago : 0);
    }
    printf("\nlast change: %s\n", iso_time(s.last_change_unix_ms, t, sizeof t));
    printf("policies: %" PRIu64 ", entities: %" PRIu64 ", grants: %" PRIu64
           ", definitions: %" PRIu64 "\n",
           s.policies, s.entities, s.grants, s.definitions);
    printf("connections: %" PRIu64 ", requests: %" PRIu64 "\n", s.connections, s.requests_total);
    if (s.degraded_reason[0]) printf("degraded: %s\n", s.degraded_reason);
  } else {
    /* Health is what matters; status may not be served by this build. */
    fprintf(stderr, "pdpctl status: status: %s\n", pdpc_conn_error(conn)->message);
  }
  pdpc_close(conn);
  return h.state == PDPC_HEALTH_SERVING ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

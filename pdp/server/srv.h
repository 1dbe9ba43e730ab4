/* srv.h - pdpd, the daemon: options, and running the server on a Unix socket.
 *
 * The server module glues the engine (pdp/eval), the snapshot holder (cache/) and the wire
 * protocol (proto/pdp.proto) together on one libuv loop.  This header is what main.c and
 * the tests use; the internal pieces (framing, wire depth check, protobuf conversion,
 * handlers, listener, connections) are declared in srv_int.h.
 */
#ifndef PDP_SERVER_SRV_H
#define PDP_SERVER_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_VERSION "0.1.0"
#define SRV_PATH_MAX 4096

typedef enum srv_log_level {
  SRV_LOG_ERROR = 0,
  SRV_LOG_WARN = 1,
  SRV_LOG_INFO = 2,
  SRV_LOG_DEBUG = 3,
} srv_log_level;

/* Every option of pdpd.  Strings are held inline so the struct is plain data: copy it,
 * compare it, no close needed. */
typedef struct srv_config {
  char socket[SRV_PATH_MAX];         /* --socket: the Unix socket path */
  char source[SRV_PATH_MAX];         /* --source: a bundle directory (policies/ + entities.json) */
  char data_dir[SRV_PATH_MAX];       /* --data-dir: the LMDB store's directory (required) */
  uint32_t max_frame;                /* --max-frame: largest request frame body, in bytes */
  uint32_t max_connections;          /* --max-connections: open client connections at once */
  uint32_t max_value_depth;          /* --max-value-depth: set/record nesting in one value */
  uint32_t max_request_entities;     /* --max-request-entities: per check (own + batch shared) */
  uint32_t max_entity_parents;       /* --max-entity-parents: parents of one request entity */
  uint32_t max_request_parent_links; /* --max-request-parent-links: parent links built for one
                                      * request (a batch counts every check's entity set) */
  srv_log_level log_level;           /* --log-level: error, warn, info or debug */
  uint64_t check_interval_ms;        /* --check-interval: source staleness poll period */
  uint64_t max_staleness_ms;         /* --max-staleness: older snapshots answer STALE; 0 = off */
  uint64_t map_size;                 /* --map-size: the store's LMDB map size, bytes */
  bool watch;                        /* --watch: check at once when the source dir changes */
  char jwt_config[SRV_PATH_MAX];     /* --jwt-config: the token (JWT) config file; "" = tokens
                                      * are refused (docs/jwt.md) */
} srv_config;

/* What srv_config_parse() asks the caller to do. */
typedef enum srv_config_action {
  SRV_CONFIG_RUN,     /* options are good: serve */
  SRV_CONFIG_HELP,    /* --help: print srv_config_usage() and exit 0 */
  SRV_CONFIG_VERSION, /* --version: print the version and exit 0 */
  SRV_CONFIG_ERROR,   /* bad options: err says why; exit 2 */
} srv_config_action;

/* The defaults documented by --help. */
void srv_config_init(srv_config *c);
/* Apply `--config FILE` (if given) then every flag of argv (flags override the file).
 * Accepts `--name VALUE` and `--name=VALUE`.  On SRV_CONFIG_ERROR, err holds a message
 * naming the flag, or FILE:LINE for a bad config file line. */
srv_config_action srv_config_parse(srv_config *c, int argc, char **argv, char *err, size_t err_cap);
/* Read `key = value` lines (`#` comments, blank lines) from path into c. */
bool srv_config_load_file(srv_config *c, const char *path, char *err, size_t err_cap);
/* Set one option by its name ("max-frame") from text; false with a message when the name
 * is unknown or the value is out of range. */
bool srv_config_set(srv_config *c, const char *key, const char *value, char *err, size_t err_cap);
/* Options that are each valid but wrong together (--max-staleness not above
 * --check-interval); srv_config_parse() calls it last.  False with a message in err. */
bool srv_config_check(const srv_config *c, char *err, size_t err_cap);
/* A duration ("30s", "500ms", "2m", "1h"; a bare number is seconds) in milliseconds; false
 * when it does not parse or overflows. */
bool srv_parse_duration(const char *text, uint64_t *ms);
/* A size in bytes ("1048576", "64K", "512M", "2G"; powers of 1024); false when it does not
 * parse or overflows. */
bool srv_parse_size(const char *text, uint64_t *bytes);
/* The --help text (a static string). */
const char *srv_config_usage(void);

/* Load --jwt-config, open the store, publish its snapshot, listen on the socket, check the
 * source on a worker thread (at once, then every --check-interval and on changes) and serve
 * until SIGTERM or SIGINT.  Returns the process exit code: 0 after a clean shutdown, 2 when
 * the --jwt-config file or one of its keys does not load, 1 when the store cannot be opened,
 * the socket cannot be set up, or nothing is stored and the source does not load (the
 * reasons are printed to stderr). */
int srv_run(const srv_config *c);

/* The whole of pdpd's main(): parse, then run.  Returns the exit code (2 on bad options). */
int srv_main(int argc, char **argv);

#endif

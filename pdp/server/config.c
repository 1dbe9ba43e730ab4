/* config.c - pdpd's options: defaults, the config file and command-line flags.
 *
 * Every option has one name used both as a flag (--max-frame) and as a config file key
 * (max-frame = 1048576).  The file is applied first, then the flags, so flags win.  Errors
 * name the flag or FILE:LINE; numbers are whole decimal values within a stated range.
 */
#include "srv_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: pdpd [options]\n"
    "\n"
    "pdpd answers authorization checks (Cedar policies) over a Unix socket.\n"
    "\n"
    "options (each may also be a `key = value` line in the --config file; flags win):\n"
    "  --config FILE               read options from FILE (lines `key = value`, # comments)\n"
    "  --socket PATH               Unix socket to serve (default ./var/pdpd.sock; under 108\n"
    "                              bytes; created mode 0660, parent directory 0750)\n"
    "  --source DIR                bundle directory with policies/*.cedar and entities.json\n"
    "                              (default examples/quickstart, relative to the cwd)\n"
    "  --data-dir DIR              the local LMDB store (default ./var/pdpd; created mode\n"
    "                              0700); pdpd serves its snapshot at start and exits 1 when\n"
    "                              it cannot be opened\n"
    "  --map-size BYTES            the store's map size, K/M/G/T suffixes are powers of 1024\n"
    "                              (default 1G; 1M..1T; address space, not memory)\n"
    "  --check-interval DURATION   how often the source is checked for changes, e.g. 30s,\n"
    "                              500ms, 2m, 1h; a bare number is seconds (default 30s;\n"
    "                              10ms..24h); failed checks retry after 1s, 2s, 4s, ...\n"
    "                              up to this interval\n"
    "  --watch BOOL                also check at once when the source directory changes\n"
    "                              (inotify; true or false, default true; the poll stays)\n"
    "  --max-staleness DURATION    answer checks STALE once the snapshot was last confirmed\n"
    "                              by the source longer ago than this (default 0 = off;\n"
    "                              must be longer than --check-interval)\n"
    "  --jwt-config FILE           accept JWTs in place of principals, verified with the keys\n"
    "                              and claim mapping of FILE (docs/jwt.md); FILE and its\n"
    "                              keys are re-read within a second of a change (default:\n"
    "                              none, and a token is answered UNAUTHENTICATED)\n"
    "  --max-frame BYTES           largest request frame (default 1048576; 64..1073741824)\n"
    "  --max-connections N         open client connections (default 256; 1..65536)\n"
    "  --max-value-depth N         set/record nesting in one value (default 32; 1..32)\n"
    "  --max-request-entities N    entities per check, own plus batch-shared\n"
    "                              (default 1000; 0..1000000)\n"
    "  --max-entity-parents N      parents of one request entity (default 100; 0..100000)\n"
    "  --max-request-parent-links N  parent links in the entity sets one request builds\n"
    "                              (batch: shared entities count again for every check that\n"
    "                              brings its own; default 10000; 0..10000000)\n"
    "  --log-level LEVEL           error, warn, info or debug (default info)\n"
    "  --help                      show this text\n"
    "  --version                   show the version\n";

const char *srv_config_usage(void) {
  return usage;
}

void srv_config_init(srv_config *c) {
  memset(c, 0, sizeof(*c));
  snprintf(c->socket, sizeof(c->socket), "%s", "./var/pdpd.sock");
  snprintf(c->source, sizeof(c->source), "%s", "examples/quickstart");
  snprintf(c->data_dir, sizeof(c->data_dir), "%s", "./var/pdpd");
  c->max_frame = 1u << 20;
  c->max_connections = 256;
  c->max_value_depth = PDPE_MAX_VALUE_DEPTH;
  c->max_request_entities = 1000;
  c->max_entity_parents = 100;
  c->max_request_parent_links = 10000;
  c->log_level = SRV_LOG_INFO;
  c->check_interval_ms = 30000;
  c->max_staleness_ms = 0;
  c->map_size = (uint64_t)1 << 30;
  c->watch = true;
}

bool srv_parse_duration(const char *text, uint64_t *ms) {
  const char *p = text;
  if (!isdigit((unsigned char)*p)) return false;
  uint64_t v = 0;
  for (; isdigit((unsigned char)*p); p++) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  uint64_t unit;
  if (*p == '\0' || strcmp(p, "s") == 0)
    unit = 1000;
  else if (strcmp(p, "ms") == 0)
    unit = 1;
  else if (strcmp(p, "m") == 0)
    unit = 60000;
  else if (strcmp(p, "h") == 0)
    unit = 3600000;
  else
    return false;
  if (v > UINT64_MAX / unit) return false;
  *ms = v * unit;
  return true;
}

bool srv_parse_size(const char *text, uint64_t *bytes) {
  const char *p = text;
  if (!isdigit((unsigned char)*p)) return false;
  uint64_t v = 0;
  for (; isdigit((unsigned char)*p); p++) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  unsigned shift = 0;
  switch (*p) {
  case '\0':
    shift = 0;
    break;
  case 'K':
  case 'k':
    shift = 10;
    break;
  case 'M':
  case 'm':
    shift = 20;
    break;
  case 'G':
  case 'g':
    shift = 30;
    break;
  case 'T':
  case 't':
    shift = 40;
    break;
  default:
    return false;
  }
  if (*p && p[1] != '\0') return false;
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *bytes = v << shift;
  return true;
}

/* A duration option within lo..hi ms (0 is always allowed when allow_zero). */
static bool set_duration(uint64_t *dst, const char *key, const char *value, uint64_t lo,
                         uint64_t hi, bool allow_zero, char *err, size_t err_cap) {
  uint64_t ms;
  if (!srv_parse_duration(value, &ms)) {
    snprintf(err, err_cap, "%s: '%s' is not a duration (e.g. 30s, 500ms, 2m, 1h)", key, value);
    return false;
  }
  if (!(allow_zero && ms == 0) && (ms < lo || ms > hi)) {
    snprintf(err, err_cap, "%s: %s is out of range %llums..%llums%s", key, value,
             (unsigned long long)lo, (unsigned long long)hi, allow_zero ? " (or 0)" : "");
    return false;
  }
  *dst = ms;
  return true;
}

bool srv_config_check(const srv_config *c, char *err, size_t err_cap) {
  if (c->max_staleness_ms && c->max_staleness_ms <= c->check_interval_ms) {
    snprintf(err, err_cap,
             "--max-staleness (%llums) must be longer than --check-interval (%llums): a "
             "snapshot is confirmed once per interval",
             (unsigned long long)c->max_staleness_ms, (unsigned long long)c->check_interval_ms);
    return false;
  }
  return true;
}

static bool set_str(char *dst, size_t cap, const char *key, const char *value, char *err,
                    size_t err_cap) {
  size_t n = strlen(value);
  if (n == 0) {
    snprintf(err, err_cap, "%s: empty value", key);
    return false;
  }
  if (n >= cap) {
    snprintf(err, err_cap, "%s: value longer than %zu bytes", key, cap - 1);
    return false;
  }
  memcpy(dst, value, n + 1);
  return true;
}

static bool set_u32(uint32_t *dst, const char *key, const char *value, uint64_t lo, uint64_t hi,
                    char *err, size_t err_cap) {
  const char *p = value;
  if (!isdigit((unsigned char)*p)) goto bad;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno != 0 || *end != '\0') goto bad;
  if (v < lo || v > hi) {
    snprintf(err, err_cap, "%s: %s is out of range %llu..%llu", key, value, (unsigned long long)lo,
             (unsigned long long)hi);
    return false;
  }
  *dst = (uint32_t)v;
  return true;
bad:
  snprintf(err, err_cap, "%s: '%s' is not a whole number", key, value);
  return false;
}

bool srv_config_set(srv_config *c, const char *key, const char *value, char *err, size_t err_cap) {
  if (strcmp(key, "socket") == 0)
    return set_str(c->socket, sizeof(c->socket), key, value, err, err_cap);
  if (strcmp(key, "source") == 0)
    return set_str(c->source, sizeof(c->source), key, value, err, err_cap);
  if (strcmp(key, "data-dir") == 0)
    return set_str(c->data_dir, sizeof(c->data_dir), key, value, err, err_cap);
  if (strcmp(key, "jwt-config") == 0)
    return set_str(c->jwt_config, sizeof(c->jwt_config), key, value, err, err_cap);
  if (strcmp(key, "max-frame") == 0)
    return set_u32(&c->max_frame, key, value, 64, 1u << 30, err, err_cap);
  if (strcmp(key, "max-connections") == 0)
    return set_u32(&c->max_connections, key, value, 1, 65536, err, err_cap);
  if (strcmp(key, "max-value-depth") == 0)
    return set_u32(&c->max_value_depth, key, value, 1, PDPE_MAX_VALUE_DEPTH, err, err_cap);
  if (strcmp(key, "max-request-entities") == 0)
    return set_u32(&c->max_request_entities, key, value, 0, 1000000, err, err_cap);
  if (strcmp(key, "max-entity-parents") == 0)
    return set_u32(&c->max_entity_parents, key, value, 0, 100000, err, err_cap);
  if (strcmp(key, "max-request-parent-links") == 0)
    return set_u32(&c->max_request_parent_links, key, value, 0, 10000000, err, err_cap);
  if (strcmp(key, "check-interval") == 0)
    return set_duration(&c->check_interval_ms, key, value, 10, 86400000, false, err, err_cap);
  if (strcmp(key, "max-staleness") == 0)
    return set_duration(&c->max_staleness_ms, key, value, 1, (uint64_t)30 * 86400000, true, err,
                        err_cap);
  if (strcmp(key, "map-size") == 0) {
    uint64_t v;
    if (!srv_parse_size(value, &v)) {
      snprintf(err, err_cap, "map-size: '%s' is not a size (e.g. 1073741824, 512M, 2G)", value);
      return false;
    }
    if (v < ((uint64_t)1 << 20) || v > ((uint64_t)1 << 40) || v > SIZE_MAX) {
      snprintf(err, err_cap, "map-size: %s is out of range 1M..1T", value);
      return false;
    }
    c->map_size = v;
    return true;
  }
  if (strcmp(key, "watch") == 0) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
      if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
        c->watch = strcmp(value, yes[i]) == 0;
        return true;
      }
    }
    snprintf(err, err_cap, "watch: '%s' is not true or false", value);
    return false;
  }
  if (strcmp(key, "log-level") == 0) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
      if (strcmp(value, names[i]) == 0) {
        c->log_level = (srv_log_level)i;
        return true;
      }
    }
    snprintf(err, err_cap, "log-level: '%s' is not one of error, warn, info, debug", value);
    return false;
  }
  snprintf(err, err_cap, "unknown option '%s'", key);
  return false;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) e--;
  *e = '\0';
  return s;
}

bool srv_config_load_file(srv_config *c, const char *path, char *err, size_t err_cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, err_cap, "%s: %s", path, strerror(errno));
    return false;
  }
  char line[SRV_PATH_MAX + 128];
  unsigned lineno = 0;
  bool ok = true;
  while (ok && fgets(line, sizeof(line), f)) {
    lineno++;
    size_t n = strlen(line);
    if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(f)) {
      snprintf(err, err_cap, "%s:%u: line too long", path, lineno);
      ok = false;
      break;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    if (*s == '\0') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(err, err_cap, "%s:%u: expected `key = value`", path, lineno);
      ok = false;
      break;
    }
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    char msg[512];
    if (!srv_config_set(c, key, value, msg, sizeof(msg))) {
      snprintf(err, err_cap, "%s:%u: %s", path, lineno, msg);
      ok = false;
    }
  }
  if (ok && ferror(f)) {
    snprintf(err, err_cap, "%s: read error", path);
    ok = false;
  }
  fclose(f);
  return ok;
}

/* Split argv[*i] into a flag name and its value (inline after '=' or the next argument).
 * Returns false with a message when the value is missing. */
static bool flag_value(int argc, char **argv, int *i, char *name, size_t name_cap,
                       const char **value, char *err, size_t err_cap) {
  const char *arg = argv[*i] + 2;
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
  if (n >= name_cap) n = name_cap - 1;
  memcpy(name, arg, n);
  name[n] = '\0';
  if (eq) {
    *value = eq + 1;
    return true;
  }
  if (*i + 1 >= argc) {
    snprintf(err, err_cap, "--%s: missing value", name);
    return false;
  }
  *value = argv[++*i];
  return true;
}

srv_config_action srv_config_parse(srv_config *c, int argc, char **argv, char *err,
                                   size_t err_cap) {
  /* First pass: --help, --version, and the config file, which flags then override. */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return SRV_CONFIG_HELP;
    if (strcmp(argv[i], "--version") == 0) return SRV_CONFIG_VERSION;
  }
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0) {
      snprintf(err, err_cap, "unexpected argument '%s' (see --help)", argv[i]);
      return SRV_CONFIG_ERROR;
    }
    char name[64];
    const char *value;
    if (!flag_value(argc, argv, &i, name, sizeof(name), &value, err, err_cap))
      return SRV_CONFIG_ERROR;
    if (strcmp(name, "config") == 0 && !srv_config_load_file(c, value, err, err_cap))
      return SRV_CONFIG_ERROR;
  }
  for (int i = 1; i < argc; i++) {
    char name[64];
    const char *value;
    if (!flag_value(argc, argv, &i, name, sizeof(name), &value, err, err_cap))
      return SRV_CONFIG_ERROR;
    if (strcmp(name, "config") == 0) continue;
    char msg[512];
    if (!srv_config_set(c, name, value, msg, sizeof(msg))) {
      if (strncmp(msg, "unknown option", 14) == 0)
        snprintf(err, err_cap, "unknown option '--%s' (see --help)", name);
      else
        snprintf(err, err_cap, "--%s", msg);
      return SRV_CONFIG_ERROR;
    }
  }
  if (!srv_config_check(c, err, err_cap)) return SRV_CONFIG_ERROR;
  return SRV_CONFIG_RUN;
}

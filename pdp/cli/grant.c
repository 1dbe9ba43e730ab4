/* grant.c - `pdpctl grant | prohibit | revoke-grant`: edit DIR/grants.json; and
 * `pdpctl status --source DIR`: what a bundle folder holds, without a daemon.
 *
 * An edit streams the current grants.json item by item (cache_grants_scan: never one JSON tree,
 * so a file of a million grants costs a window of it), copies every grant in canonical form (one
 * per line) into DIR/.grants.json.tmp-<pid>, replaces or drops the one with the same natural key
 * (provider, key, permission, tenant) and appends a new one at the end.  The copy is fsynced,
 * renamed over grants.json and the directory fsynced, so readers (pdpd's sync) see the old file
 * or the new one, never a part.  The whole read-modify-rename runs under an exclusive flock on
 * DIR/.pdpd.lock, the lock every writer of the folder takes (the definitions writer too), so two
 * concurrent edits never lose one another's change.  A file with errors is not edited (every
 * error is printed).  An edit that changes nothing writes nothing.
 *
 * Exit status: 0 done (or nothing to change), 2 usage or runtime error, bad grants.json.
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_FILE CACHE_SOURCE_LOCK_FILE /* shared with pdpctl define, revoke-token */
#define GRANTS_FILE "grants.json"
#define PATH_CAP 4096

typedef enum edit_op { OP_GRANT, OP_PROHIBIT, OP_REVOKE } edit_op;

static const char *op_name(edit_op op) {
  return op == OP_GRANT ? "grant" : op == OP_PROHIBIT ? "prohibit" : "revoke-grant";
}

static void usage(edit_op op, FILE *f) {
  fprintf(f,
          "usage: pdpctl %s --source DIR --provider R|U|C --key KEY --permission PERM "
          "[--tenant TENANT]\n"
          "\n",
          op_name(op));
  if (op == OP_REVOKE)
    fputs("Remove the grant or prohibition with this provider, key, permission and tenant\n"
          "from DIR/grants.json (nothing to do when there is none).\n",
          f);
  else
    fprintf(f,
            "Add to DIR/grants.json a %s: `%s(principal in <provider entity>, action ==\n"
            "Action::\"PERM\", resource)` (provider R = Role::\"KEY\", U = User::\"KEY\",\n"
            "C = Client::\"KEY\"), replacing the entry with the same provider, key, permission\n"
            "and tenant if there is one.\n",
            op == OP_GRANT ? "grant" : "prohibition", op == OP_GRANT ? "permit" : "forbid");
  fputs("\n"
        "The file is rewritten atomically (a temp file, fsync, rename) under an exclusive lock\n"
        "on DIR/.pdpd.lock, one grant per line; pdpd picks the change up on its next sync.\n"
        "\n"
        "options:\n"
        "  -d, --source DIR        the bundle folder holding grants.json\n"
        "  -p, --provider R|U|C    role, user or client\n"
        "  -k, --key KEY           the role, user or client id\n"
        "  -a, --permission PERM   the action id\n"
        "  -t, --tenant TENANT     the tenant (default: none, a host grant)\n"
        "  -h, --help              show this help\n"
        "\n"
        "exit status: 0 done (or nothing to change), 2 error\n",
        f);
}

/* Valid UTF-8 (what JSON can carry), no NUL. */
static bool utf8_ok(const char *s) {
  json_t *j = json_string(s);
  json_decref(j);
  return j != NULL;
}

/* ---- the streaming rewrite ------------------------------------------------------------------ */

typedef struct rewrite {
  FILE *out;
  const cache_grant *target; /* the natural key edited */
  edit_op op;
  uint64_t written, found;
  bool same;   /* the first match already had the target's effect */
  bool failed; /* a write error */
} rewrite;

static bool same_key(const cache_grant *a, const cache_grant *b) {
  return a->provider == b->provider && pu_str_eq(a->key, b->key) &&
         pu_str_eq(a->permission, b->permission) && pu_str_eq(a->tenant, b->tenant);
}

static bool emit(rewrite *w, const cache_grant *g) {
  fputs(w->written ? ",\n" : "[\n", w->out);
  w->written++;
  if (!cache_grant_write_json(w->out, g)) w->failed = true;
  return !w->failed;
}

static bool on_grant(void *ctx, const cache_grant *g, uint64_t index, uint32_t line, uint32_t col) {
  rewrite *w = ctx;
  if (!same_key(g, w->target)) return emit(w, g);
  if (w->found++ == 0) {
    w->same = g->effect == w->target->effect;
    if (w->op != OP_REVOKE) return emit(w, w->target); /* in place of the old one */
  }
  return true; /* revoked, or a duplicate of the first match */
}

static bool fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

/* Take the folder's writer lock (blocks while another writer holds it); -1 on error. */
static int lock_dir(const char *cmd, const char *dir) {
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/" LOCK_FILE, dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "pdpctl %s: cannot open the lock %s: %s\n", cmd, path, strerror(errno));
    return -1;
  }
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    fprintf(stderr, "pdpctl %s: cannot lock %s: %s\n", cmd, path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void print_diag(const char *cmd, const cache_diag *d) {
  for (uint32_t i = 0; i < d->n; i++) fprintf(stderr, "pdpctl %s: %s\n", cmd, d->lines[i]);
  if (d->dropped) fprintf(stderr, "pdpctl %s: ... and %u more errors\n", cmd, d->dropped);
}

/* Rewrite dir/grants.json with the edit, holding the lock.  Returns the exit code. */
static int edit_locked(edit_op op, const char *dir, const cache_grant *target, const char *what) {
  const char *cmd = op_name(op);
  char path[PATH_CAP], tmp[PATH_CAP];
  snprintf(path, sizeof path, "%s/" GRANTS_FILE, dir);
  snprintf(tmp, sizeof tmp, "%s/.grants.json.tmp-%ld", dir, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!out) {
    fprintf(stderr, "pdpctl %s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
    if (fd >= 0) close(fd);
    return CTL_EXIT_ERROR;
  }
  struct stat st;
  if (stat(path, &st) == 0) fchmod(fd, st.st_mode & 07777); /* keep the file's mode */
  static char buf[1 << 20];
  setvbuf(out, buf, _IOFBF, sizeof buf);
  rewrite w = {.out = out, .target = target, .op = op};
  cache_diag diag;
  cache_diag_init(&diag);
  int scanned = cache_grants_scan(path, path, CACHE_STORE_DEFAULT_MAX_KEY, on_grant, &w, &diag);
  int rc = CTL_EXIT_ERROR;
  if (scanned < 0) {
    print_diag(cmd, &diag);
    fprintf(stderr, "pdpctl %s: %s has errors; not changed\n", cmd, path);
    goto fail;
  }
  bool changed = op == OP_REVOKE ? w.found > 0 : !(w.found == 1 && w.same);
  if (!changed) {
    fclose(out);
    unlink(tmp);
    cache_diag_close(&diag);
    printf("unchanged: %s %s in %s\n", what, op == OP_REVOKE ? "is not there" : "is already there",
           path);
    return CTL_EXIT_OK;
  }
  if (op != OP_REVOKE && w.found == 0) emit(&w, target);
  fputs(w.written ? "\n]\n" : "[]\n", out);
  if (w.failed || fflush(out) != 0 || ferror(out) || fsync(fd) != 0) {
    fprintf(stderr, "pdpctl %s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
    goto fail;
  }
  if (fclose(out) != 0) {
    out = NULL;
    fprintf(stderr, "pdpctl %s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
    goto fail;
  }
  out = NULL;
  if (rename(tmp, path) != 0) {
    fprintf(stderr, "pdpctl %s: cannot replace %s: %s\n", cmd, path, strerror(errno));
    goto fail;
  }
  if (!fsync_dir(dir)) fprintf(stderr, "pdpctl %s: warning: cannot fsync %s\n", cmd, dir);
  cache_diag_close(&diag);
  printf("%s: %s in %s (%" PRIu64 " %s)\n",
         op == OP_GRANT      ? "granted"
         : op == OP_PROHIBIT ? "prohibited"
                             : "revoked",
         what, path, w.written, w.written == 1 ? "grant" : "grants");
  return CTL_EXIT_OK;
fail:
  if (out) fclose(out);
  unlink(tmp);
  cache_diag_close(&diag);
  return rc;
}

static int edit(edit_op op, int argc, char **argv) {
  static const struct option opts[] = {{"source", required_argument, 0, 'd'},
                                       {"provider", required_argument, 0, 'p'},
                                       {"key", required_argument, 0, 'k'},
                                       {"permission", required_argument, 0, 'a'},
                                       {"tenant", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *cmd = op_name(op);
  const char *dir = NULL, *prov = NULL, *key = NULL, *perm = NULL, *tenant = "";
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":d:p:k:a:t:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      dir = optarg;
      break;
    case 'p':
      prov = optarg;
      break;
    case 'k':
      key = optarg;
      break;
    case 'a':
      perm = optarg;
      break;
    case 't':
      tenant = optarg;
      break;
    case 'h':
      usage(op, stdout);
      return CTL_EXIT_OK;
    default:
      return ctl_bad_option(cmd, c, argv);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pdpctl %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return CTL_EXIT_ERROR;
  }
  const char *missing = !dir    ? "--source"
                        : !prov ? "--provider"
                        : !key  ? "--key"
                        : !perm ? "--permission"
                                : NULL;
  if (missing) {
    fprintf(stderr, "pdpctl %s: %s is required (see pdpctl %s --help)\n", cmd, missing, cmd);
    return CTL_EXIT_ERROR;
  }
  cache_grant g = {0, pu_str_c(key), pu_str_c(perm), pu_str_c(tenant),
                   op == OP_PROHIBIT ? PDPE_EFFECT_PROHIBIT : PDPE_EFFECT_GRANT};
  g.provider = !strcmp(prov, "R")   ? PDPE_PROVIDER_ROLE
               : !strcmp(prov, "U") ? PDPE_PROVIDER_USER
               : !strcmp(prov, "C") ? PDPE_PROVIDER_CLIENT
                                    : (pdpe_provider)0;
  if (!g.provider) {
    fprintf(stderr, "pdpctl %s: --provider must be R (role), U (user) or C (client), not '%s'\n",
            cmd, prov);
    return CTL_EXIT_ERROR;
  }
  if (!*key || !*perm) {
    fprintf(stderr, "pdpctl %s: --%s must not be empty\n", cmd, !*key ? "key" : "permission");
    return CTL_EXIT_ERROR;
  }
  if (!utf8_ok(key) || !utf8_ok(perm) || !utf8_ok(tenant)) {
    fprintf(stderr, "pdpctl %s: --key, --permission and --tenant must be UTF-8\n", cmd);
    return CTL_EXIT_ERROR;
  }
  size_t klen = cache_grant_key(g.provider, g.key, g.permission, g.tenant, NULL, 0);
  if (klen > CACHE_STORE_DEFAULT_MAX_KEY) {
    fprintf(stderr,
            "pdpctl %s: the grant's store key would be %zu bytes (provider, key, permission and "
            "tenant); the store keeps at most %d\n",
            cmd, klen, CACHE_STORE_DEFAULT_MAX_KEY);
    return CTL_EXIT_ERROR;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pdpctl %s: %s is not a directory\n", cmd, dir);
    return CTL_EXIT_ERROR;
  }
  if (strlen(dir) > PATH_CAP - 64) {
    fprintf(stderr, "pdpctl %s: the path %s is too long\n", cmd, dir);
    return CTL_EXIT_ERROR;
  }
  char what[1600];
  snprintf(what, sizeof what, "%s/%.400s/%.400s%s%.400s", prov, key, perm, *tenant ? "@" : "",
           tenant);
  int lock = lock_dir(cmd, dir);
  if (lock < 0) return CTL_EXIT_ERROR;
  int rc = edit_locked(op, dir, &g, what);
  close(lock); /* releases the flock */
  return rc;
}

int ctl_grant(int argc, char **argv) {
  return edit(OP_GRANT, argc, argv);
}

int ctl_prohibit(int argc, char **argv) {
  return edit(OP_PROHIBIT, argc, argv);
}

int ctl_revoke_grant(int argc, char **argv) {
  return edit(OP_REVOKE, argc, argv);
}

/* ---- status --source -------------------------------------------------------------------- */

int ctl_status_source(const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pdpctl status: %s is not a directory\n", dir);
    return CTL_EXIT_ERROR;
  }
  cache_diag diag;
  cache_diag_init(&diag);
  cache_dir_summary sum;
  if (!cache_dir_summarize(dir, &sum, &diag)) {
    print_diag("status", &diag);
    fprintf(stderr, "pdpctl status: %s does not load\n", dir);
    cache_diag_close(&diag);
    return CTL_EXIT_ERROR;
  }
  cache_diag_close(&diag);
  char hex[65];
  printf("source: dir:%s\n", dir);
  printf("stamp: %s\n", cache_stamp_hex(sum.stamp, hex));
  printf("policies: %u, entities: %u, grants: %" PRIu64 ", definitions: %u, revocations: %u\n",
         sum.policies, sum.entities, sum.grants, sum.definitions, sum.revocations);
  return CTL_EXIT_OK;
}

/* define.c - `pdpctl define`: register a service's permission definitions in a dir source the
 * way pdpd's DefinePermissions does (cache_define_permissions_text: the source lock, a merge
 * by name, an atomic replace, nothing written when nothing changed).  It edits files only: a
 * running pdpd picks the change up at its next sync.  Prints "changed" or "unchanged" and exits
 * 0; any error exits 2.
 */
#include "pdpctl.h"

#include "../../cache/cache.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEFS_FILE (64u << 20)

static const char define_usage[] =
    "usage: pdpctl define --source DIR --service S --file FILE [--delete NAME ...]\n"
    "\n"
    "Register the permission definitions of service S in the dir source DIR, as a service\n"
    "does at start: each definition of FILE is added to DIR/permissions/S.json or replaces\n"
    "the one of the same name; names given with --delete are removed; nothing else is.\n"
    "FILE holds {\"service\": S, \"definitions\": [...]} or just the array; '-' reads stdin.\n"
    "Prints 'changed', or 'unchanged' when the definitions were already there (then nothing\n"
    "is written).  docs/definitions.md has the format.\n"
    "\n"
    "options:\n"
    "  --source DIR     the bundle directory (the one pdpd --source reads)\n"
    "  --service S      the service: [A-Za-z0-9._-], at most 200 bytes\n"
    "  --file FILE      the definitions (may be left out when only deleting)\n"
    "  --delete NAME    remove the definition NAME of S (repeatable)\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 done (changed or unchanged), 2 usage or any error\n";

/* The whole file (or stdin for "-"), malloc'd; NULL with a message. */
static char *read_all(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "pdpctl define: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n == cap) {
      char *p = cap < MAX_DEFS_FILE ? realloc(buf, cap * 2) : NULL;
      if (!p) {
        fprintf(stderr, "pdpctl define: %s: larger than %u bytes\n", path, MAX_DEFS_FILE);
        free(buf);
        buf = NULL;
        break;
      }
      buf = p;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        fprintf(stderr, "pdpctl define: cannot read %s\n", path);
        free(buf);
        buf = NULL;
      }
      break;
    }
  }
  if (f != stdin) fclose(f);
  *len = n;
  return buf;
}

int ctl_define(int argc, char **argv) {
  static const struct option opts[] = {
      {"source", required_argument, 0, 's'}, {"service", required_argument, 0, 'S'},
      {"file", required_argument, 0, 'f'},   {"delete", required_argument, 0, 'd'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  const char *dir = NULL, *service = NULL, *file = NULL;
  const char **deleted = calloc((size_t)argc + 1, sizeof(char *));
  size_t n_deleted = 0;
  if (!deleted) return CTL_EXIT_ERROR;
  optind = 0;
  opterr = 0;
  int c, rc = CTL_EXIT_ERROR;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      dir = optarg;
      break;
    case 'S':
      service = optarg;
      break;
    case 'f':
      file = optarg;
      break;
    case 'd':
      deleted[n_deleted++] = optarg;
      break;
    case 'h':
      fputs(define_usage, stdout);
      free(deleted);
      return CTL_EXIT_OK;
    default:
      free(deleted);
      return ctl_bad_option("define", c, argv);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pdpctl define: unexpected argument '%s'\n", argv[optind]);
  } else if (!dir || !service || (!file && n_deleted == 0)) {
    fprintf(stderr, "pdpctl define: --source, --service and --file (or --delete) are needed "
                    "(see pdpctl define --help)\n");
  } else {
    size_t len = 2;
    char *text = file ? read_all(file, &len) : strdup("[]");
    char err[CTL_ERR_CAP];
    bool changed = false;
    uint8_t hash[32];
    if (text && cache_define_permissions_text(dir, service,
                                              !file               ? "definitions"
                                              : strcmp(file, "-") ? file
                                                                  : "stdin",
                                              text, len, deleted, n_deleted, &changed, hash, err,
                                              sizeof err)) {
      puts(changed ? "changed" : "unchanged");
      rc = CTL_EXIT_OK;
    } else if (text) {
      fprintf(stderr, "pdpctl define: %s\n", err);
    }
    free(text);
  }
  free(deleted);
  return rc;
}

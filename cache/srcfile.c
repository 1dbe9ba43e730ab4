/* srcfile.c - what editing and reading the dir source's JSON files share: the source lock,
 * atomic replacement of a file, listing a folder's files, and positions inside JSON text.
 *
 * The lock: every writer of a dir source (pdpctl define / revoke-token / grant, pdpd's
 * DefinePermissions) takes flock(LOCK_EX) on DIR/.pdpd.lock for its whole read-merge-write,
 * so two writers never lose each other's change.  flock locks belong to the open file
 * description: two processes, or two opens in one process, exclude each other.  Readers (the
 * sync) do not lock: every file is replaced by rename, so a reader sees the old file or the new
 * one, never a torn one.
 *
 * Atomic replacement: write a temp file in the same folder (a dot-name, so folder listings skip
 * it), fsync it, rename it over the target, fsync the folder.  After a crash the target is the
 * old file or the new one; a temp file left behind is ignored and never read.
 *
 * Positions: jansson gives line and column for syntax errors only.  For a field error, the text
 * (already accepted by jansson) is walked again along the JSON path to the value.  Lines and
 * columns are 1-based; a column counts characters (UTF-8 sequences), as jansson's do.
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTED_FILES 4096

/* ---- the lock and atomic writes --------------------------------------------------------- */

int cache__source_lock(const char *dir, char *err, size_t err_cap) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, CACHE_SOURCE_LOCK_FILE) >= (int)sizeof path) {
    snprintf(err, err_cap, "%s: path too long", dir);
    return -1;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, err_cap, "%s: cannot open the lock file: %s", path, strerror(errno));
    return -1;
  }
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    snprintf(err, err_cap, "%s: cannot lock: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

void cache__source_unlock(int fd) {
  if (fd < 0) return;
  flock(fd, LOCK_UN);
  close(fd);
}

static bool write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

bool cache__write_atomic(const char *path, const void *data, size_t len, char *err,
                         size_t err_cap) {
  char dir[4096], tmp[4096 + 32];
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (strlen(path) >= sizeof dir) {
    snprintf(err, err_cap, "%s: path too long", path);
    return false;
  }
  if (!slash) {
    strcpy(dir, ".");
  } else if (slash == path) {
    strcpy(dir, "/");
  } else {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
  }
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, base);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, err_cap, "%s: cannot create a temp file: %s", dir, strerror(errno));
    return false;
  }
  const char *step = "write";
  if (!write_all(fd, data, len)) goto fail;
  step = "chmod";
  if (fchmod(fd, 0644) != 0) goto fail;
  step = "fsync";
  if (fsync(fd) != 0) goto fail;
  step = "close";
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  step = "rename";
  if (rename(tmp, path) != 0) goto fail;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) {
    /* The rename happened: the new file is in place, only its durability is in doubt. */
    snprintf(err, err_cap, "%s: written, but cannot fsync the folder: %s", path, strerror(errno));
    if (dfd >= 0) close(dfd);
    return false;
  }
  close(dfd);
  return true;
fail:
  snprintf(err, err_cap, "%s: cannot %s the temp file: %s", path, step, strerror(errno));
  if (fd >= 0) close(fd);
  unlink(tmp);
  return false;
}

/* ---- listing ------------------------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cache__list_files(pu_arena *a, const char *dir, const char *suffix, char ***out,
                      cache_diag *diag) {
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    cache_diag_addf(diag, "%s: cannot open the folder: %s", dir, strerror(errno));
    return -1;
  }
  size_t slen = strlen(suffix);
  char **names = pu_arena_alloc(a, sizeof(char *) * MAX_LISTED_FILES);
  int n = 0;
  struct dirent *e;
  while (names && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (e->d_name[0] == '.' || len <= slen || strcmp(e->d_name + len - slen, suffix) != 0) continue;
    if (n == MAX_LISTED_FILES) {
      cache_diag_addf(diag, "%s: more than %d *%s files", dir, MAX_LISTED_FILES, suffix);
      closedir(d);
      return -1;
    }
    names[n++] = pu_arena_strdup(a, e->d_name);
    if (!names[n - 1]) names = NULL;
  }
  closedir(d);
  if (!names) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return -1;
  }
  qsort(names, (size_t)n, sizeof(char *), cmp_names);
  *out = names;
  return n;
}

/* ---- positions in JSON text ------------------------------------------------------------- */

typedef struct scan {
  const char *p, *end;
  int line, col; /* of the last character consumed; col 0 before the first of a line */
} scan;

static void adv(scan *s) {
  unsigned char c = (unsigned char)*s->p++;
  if (c == '\n') {
    s->line++;
    s->col = 0;
  } else if ((c & 0xC0) != 0x80) {
    s->col++;
  }
}

static void ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) adv(s);
}

static void here(const scan *s, int *line, int *col) {
  *line = s->line;
  *col = s->col + 1;
}

/* At '"': consume the string; raw and raw_len get the bytes between the quotes. */
static void skip_string(scan *s, const char **raw, size_t *raw_len) {
  adv(s);
  const char *start = s->p;
  while (s->p < s->end && *s->p != '"') {
    if (*s->p == '\\' && s->p + 1 < s->end) adv(s);
    adv(s);
  }
  if (raw) *raw = start, *raw_len = (size_t)(s->p - start);
  if (s->p < s->end) adv(s);
}

static void skip_value(scan *s) {
  if (s->p >= s->end) return;
  if (*s->p == '"') {
    skip_string(s, NULL, NULL);
    return;
  }
  if (*s->p == '{' || *s->p == '[') {
    size_t depth = 0;
    while (s->p < s->end) {
      char c = *s->p;
      if (c == '"') {
        skip_string(s, NULL, NULL);
        continue;
      }
      adv(s);
      if (c == '{' || c == '[') depth++;
      if ((c == '}' || c == ']') && --depth == 0) return;
    }
    return;
  }
  while (s->p < s->end && !strchr(",]} \t\r\n", *s->p)) adv(s);
}

bool cache__json_locate(const char *text, size_t len, const cache__jseg *path, size_t n,
                        bool at_key, int *line, int *col) {
  scan s = {text, text + len, 1, 0};
  ws(&s);
  here(&s, line, col);
  for (size_t k = 0; k < n; k++) {
    ws(&s);
    if (s.p >= s.end) return false;
    if (path[k].key) {
      if (*s.p != '{') return false;
      adv(&s);
      size_t klen = strlen(path[k].key);
      for (;;) {
        ws(&s);
        if (s.p >= s.end || *s.p != '"') return false;
        int kl, kc;
        here(&s, &kl, &kc);
        const char *raw;
        size_t raw_len;
        skip_string(&s, &raw, &raw_len);
        ws(&s);
        if (s.p >= s.end || *s.p != ':') return false;
        adv(&s);
        ws(&s);
        if (raw_len == klen && memcmp(raw, path[k].key, klen) == 0) {
          if (at_key && k + 1 == n) {
            *line = kl;
            *col = kc;
            return true;
          }
          break;
        }
        skip_value(&s);
        ws(&s);
        if (s.p >= s.end || *s.p != ',') return false;
        adv(&s);
      }
    } else {
      if (*s.p != '[') return false;
      adv(&s);
      for (size_t i = 0;; i++) {
        ws(&s);
        if (s.p >= s.end || *s.p == ']') return false;
        if (i == path[k].index) break;
        skip_value(&s);
        ws(&s);
        if (s.p >= s.end || *s.p != ',') return false;
        adv(&s);
      }
    }
    here(&s, line, col);
  }
  return true;
}

/* ---- small shared helpers ------------------------------------------------------------------ */

const char *cache__show(const char *p, size_t n, char *buf, size_t cap) {
  size_t o = 0;
  if (cap == 0) return buf;
  for (size_t i = 0; i < n && o + 8 < cap; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    } else {
      buf[o++] = (char)c;
    }
    if (i + 1 < n && o + 8 >= cap) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
  }
  buf[o] = '\0';
  return buf;
}

bool cache__read_optional(pu_arena *a, const char *path, char **out, size_t *len,
                          cache_diag *diag) {
  struct stat st;
  *out = NULL;
  *len = 0;
  if (stat(path, &st) != 0 && errno == ENOENT) return true;
  return cache__read_file(a, path, out, len, diag);
}

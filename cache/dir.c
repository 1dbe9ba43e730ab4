/* dir.c - the directory source: a bundle folder loaded into a new snapshot.
 *
 * A bundle is `policies/<name>.cedar` plus an optional `entities.json` (Cedar's entity JSON
 * format) and an optional `template-links.json` (links.c).  Loading is all or nothing: every error
 * of every file is collected into the caller's cache_diag, and a bundle with any error produces no
 * snapshot, so the daemon keeps serving what it had.  Everything the snapshot needs (file names,
 * policy text, AST, entities) is allocated in the snapshot's own arena and lives exactly as long as
 * it.
 *
 * Stamp (first cut): SHA-256 over each policy file's name and bytes in name order, then the
 * template links' and the entities file's bytes, every part length-prefixed so that no two bundles
 * share a byte stream.  Identical bundles get identical stamps on every node.  The LMDB issue
 * replaces this with a stamp over canonical, parsed content maintained incrementally.
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_BUNDLE_FILE (64u << 20) /* one policy or entities file */
#define MAX_POLICY_FILES 4096

void cache_diag_init(cache_diag *d) {
  memset(d, 0, sizeof(*d));
}

void cache_diag_close(cache_diag *d) {
  for (uint32_t i = 0; i < d->n; i++) free(d->lines[i]);
  d->n = 0;
  d->dropped = 0;
}

void cache_diag_addf(cache_diag *d, const char *fmt, ...) {
  if (d->n >= CACHE_MAX_DIAG) {
    d->dropped++;
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  char *line = NULL;
  int r = vasprintf(&line, fmt, ap);
  va_end(ap);
  if (r < 0) {
    d->dropped++;
    return;
  }
  d->lines[d->n++] = line;
}

const char *cache_stamp_hex(const uint8_t stamp[32], char *buf) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    buf[2 * i] = hex[stamp[i] >> 4];
    buf[2 * i + 1] = hex[stamp[i] & 15];
  }
  buf[64] = '\0';
  return buf;
}

bool cache__read_file(pu_arena *a, const char *path, char **out, size_t *len, cache_diag *diag) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    cache_diag_addf(diag, "%s: cannot open: %s", path, strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    cache_diag_addf(diag, "%s: not a regular file", path);
    fclose(f);
    return false;
  }
  if ((uint64_t)st.st_size > MAX_BUNDLE_FILE) {
    cache_diag_addf(diag, "%s: file too large (%lld bytes, limit %u)", path, (long long)st.st_size,
                    MAX_BUNDLE_FILE);
    fclose(f);
    return false;
  }
  size_t n = (size_t)st.st_size;
  char *buf = pu_arena_alloc(a, n + 1);
  if (!buf) {
    cache_diag_addf(diag, "%s: out of memory", path);
    fclose(f);
    return false;
  }
  size_t got = n ? fread(buf, 1, n, f) : 0;
  bool bad = got != n || ferror(f);
  fclose(f);
  if (bad) {
    cache_diag_addf(diag, "%s: read error", path);
    return false;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return true;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cache__list_policy_files(pu_arena *a, const char *dir, char ***out, cache_diag *diag) {
  DIR *d = opendir(dir);
  if (!d) {
    cache_diag_addf(diag, "%s: cannot open policy folder: %s", dir, strerror(errno));
    return -1;
  }
  char **names = pu_arena_alloc(a, sizeof(char *) * MAX_POLICY_FILES);
  int n = 0;
  struct dirent *e;
  while (names && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (e->d_name[0] == '.' || len < 7 || strcmp(e->d_name + len - 6, ".cedar") != 0) continue;
    if (n == MAX_POLICY_FILES) {
      cache_diag_addf(diag, "%s: more than %d policy files", dir, MAX_POLICY_FILES);
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

static void hash_part(EVP_MD_CTX *md, const char *tag, const void *p, size_t n) {
  uint8_t len[8];
  uint64_t v = n;
  for (int i = 7; i >= 0; i--, v >>= 8) len[i] = (uint8_t)v;
  EVP_DigestUpdate(md, tag, strlen(tag) + 1);
  EVP_DigestUpdate(md, len, sizeof(len));
  if (n) EVP_DigestUpdate(md, p, n);
}

/* Read an optional JSON file of the bundle into *json (NULL when absent), hashing its
 * bytes (or its absence) under `tag`.  False with a diagnostic when present but unreadable
 * or not JSON. */
static bool load_json(pu_arena *a, const char *path, const char *tag, EVP_MD_CTX *md, json_t **json,
                      cache_diag *diag) {
  struct stat st;
  *json = NULL;
  if (stat(path, &st) != 0 && errno == ENOENT) {
    hash_part(md, tag, "", 0);
    return true;
  }
  char *text = NULL;
  size_t len = 0;
  if (!cache__read_file(a, path, &text, &len, diag)) return false;
  hash_part(md, tag, text, len);
  json_error_t jerr;
  *json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!*json) {
    cache_diag_addf(diag, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    return false;
  }
  return true;
}

/* template-links.json (optional): the bundle's template-linked policies. */
static bool load_links(pu_arena *a, const char *dir, EVP_MD_CTX *md, pdpe_link **links, uint32_t *n,
                       cache_diag *diag) {
  char *path = pu_arena_printf(a, "%s/template-links.json", dir);
  json_t *json = NULL;
  if (!path) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  if (!load_json(a, path, "template-links", md, &json, diag)) return false;
  if (!json) return true;
  bool ok = cache__links_from_json(a, json, path, links, n, diag);
  json_decref(json);
  return ok;
}

static bool load_policies(pdpe_snapshot *s, const char *dir, EVP_MD_CTX *md, cache_diag *diag) {
  pu_arena *a = &s->arena;
  char *pdir = pu_arena_printf(a, "%s/policies", dir);
  char **names = NULL;
  int n = pdir ? cache__list_policy_files(a, pdir, &names, diag) : -1;
  if (n < 0) return false;
  pdpl_policies all = {0};
  uint32_t index = 0;
  uint32_t errors = 0;
  pdpl_errors *errs = malloc(sizeof(*errs));
  if (!errs) {
    cache_diag_addf(diag, "%s: out of memory", pdir);
    return false;
  }
  for (int i = 0; i < n; i++) {
    char *path = pu_arena_printf(a, "%s/%s", pdir, names[i]);
    char *text = NULL;
    size_t len = 0;
    if (!path || !cache__read_file(a, path, &text, &len, diag)) {
      errors++;
      continue;
    }
    hash_part(md, "policy-file", names[i], strlen(names[i]));
    hash_part(md, "policy-text", text, len);
    memset(errs, 0, sizeof(*errs));
    uint32_t e = pdpl_parse(a, path, text, len, &index, &all, errs);
    for (uint32_t k = 0; k < errs->n; k++) {
      char line[512];
      cache_diag_addf(diag, "%s", pdpl_error_format(&errs->items[k], line, sizeof(line)));
    }
    if (errs->dropped) cache_diag_addf(diag, "%s: %u more errors not shown", path, errs->dropped);
    errors += e;
  }
  free(errs);
  /* Template links are read even when a policy failed, so one run reports everything. */
  pdpe_link *links = NULL;
  uint32_t n_links = 0;
  if (!load_links(a, dir, md, &links, &n_links, diag)) errors++;
  if (errors) return false;
  char err[512];
  if (!pdpe_policy_set_build_linked(a, &all, links, n_links, &s->policies, err, sizeof(err))) {
    cache_diag_addf(diag, "%s", err);
    return false;
  }
  return true;
}

static bool load_entities(pdpe_snapshot *s, const char *dir, EVP_MD_CTX *md, cache_diag *diag) {
  pu_arena *a = &s->arena;
  char *path = pu_arena_printf(a, "%s/entities.json", dir);
  char err[512];
  json_t *json = NULL;
  if (!path) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  if (!load_json(a, path, "entities", md, &json, diag)) return false;
  bool ok = json ? pdpe_entities_from_json(a, json, path, &s->entities, err, sizeof(err))
                 : pdpe_entities_build(a, NULL, 0, path, &s->entities, err, sizeof(err)); /* none */
  json_decref(json);
  if (!ok) cache_diag_addf(diag, "%s", err);
  return ok;
}

bool cache_dir_load(const char *dir, pdpe_snapshot **out, cache_diag *diag) {
  struct stat st;
  errno = 0;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    cache_diag_addf(diag, "%s: not a bundle directory (%s)", dir,
                    errno ? strerror(errno) : "not a directory");
    return false;
  }
  pdpe_snapshot *s = pdpe_snapshot_new();
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!s || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    pdpe_snapshot_unref(s);
    EVP_MD_CTX_free(md);
    return false;
  }
  /* Both parts run even when the first fails, so one run reports every error. */
  bool ok = load_policies(s, dir, md, diag);
  ok = load_entities(s, dir, md, diag) && ok;
  unsigned int mdlen = 0;
  ok = EVP_DigestFinal_ex(md, s->stamp, &mdlen) == 1 && mdlen == 32 && ok;
  EVP_MD_CTX_free(md);
  if (!ok) {
    pdpe_snapshot_unref(s);
    return false;
  }
  s->source = pu_arena_printf(&s->arena, "dir:%s", dir);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->loaded_unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  *out = s;
  return true;
}

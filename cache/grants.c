/* grants.c - grants.json read one item at a time, and grants as store rows.
 *
 * grants.json is a JSON array that may hold millions of grants, so it is never parsed as one
 * jansson tree.  The scanner keeps a window of the file in memory (GRANTS_WINDOW bytes, refilled
 * with read(2)), walks the array's punctuation itself and hands each item to json_loadb with
 * JSON_DISABLE_EOF_CHECK, which stops after the item and says how many bytes it used.  Line and
 * column are counted from the bytes the scanner passes (columns in characters, 1-based, as
 * jansson counts them), so every error names `grants.json:LINE:COL: grants[I].FIELD: message`
 * with the position of the field's value (found by a small scan of the item's text).  Errors
 * inside an item do not stop the scan; a syntax error between or inside items does.
 *
 * Rows: key = provider letter | key | 0x00 | permission | 0x00 | tenant, value 'G' or 'P'
 * (docs/store.md).  cache__grant_rows_read() collects every row of a file into two flat arrays
 * (key bytes, fixed-size row records), sorts them bytewise and reports duplicate natural keys;
 * nothing else keeps grants in memory.  The scan also checks that the file did not change while
 * it was read (fstat before and after), and returns that stat for the sync's fingerprint.
 */
#include "cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GRANTS_WINDOW (4u << 20)  /* bytes of the file in memory at a time */
#define GRANT_ITEM_MAX (1u << 20) /* longest text of one item */
#define MAX_SHOWN 64              /* bytes of a user's string quoted in a message */

/* ---- keys ----------------------------------------------------------------------------------- */

char cache_provider_letter(pdpe_provider p) {
  switch (p) {
  case PDPE_PROVIDER_ROLE:
    return 'R';
  case PDPE_PROVIDER_USER:
    return 'U';
  case PDPE_PROVIDER_CLIENT:
    return 'C';
  default:
    return 0;
  }
}

static pdpe_provider provider_of(char c) {
  return c == 'R'   ? PDPE_PROVIDER_ROLE
         : c == 'U' ? PDPE_PROVIDER_USER
         : c == 'C' ? PDPE_PROVIDER_CLIENT
                    : (pdpe_provider)0;
}

size_t cache_grant_key(pdpe_provider p, pu_str key, pu_str permission, pu_str tenant, char *buf,
                       size_t cap) {
  char letter = cache_provider_letter(p);
  if (!letter) return 0;
  const pu_str parts[3] = {key, permission, tenant};
  for (int i = 0; i < 3; i++)
    if (parts[i].len && (!parts[i].ptr || memchr(parts[i].ptr, 0, parts[i].len))) return 0;
  size_t need = 3 + key.len + permission.len + tenant.len;
  if (need > cap) return need;
  char *w = buf;
  *w++ = letter;
  for (int i = 0; i < 3; i++) {
    if (parts[i].len) memcpy(w, parts[i].ptr, parts[i].len);
    w += parts[i].len;
    if (i < 2) *w++ = '\0';
  }
  return need;
}

bool cache_grant_from_row(const void *key, size_t key_len, const void *val, size_t val_len,
                          cache_grant *out) {
  const char *k = key, *end = k + key_len;
  if (key_len < 3 || val_len != 1) return false;
  out->provider = provider_of(k[0]);
  char v = *(const char *)val;
  out->effect = v == 'G' ? PDPE_EFFECT_GRANT : v == 'P' ? PDPE_EFFECT_PROHIBIT : PDPE_EFFECT_NONE;
  const char *a = k + 1, *z1 = memchr(a, 0, (size_t)(end - a));
  const char *b = z1 ? z1 + 1 : NULL, *z2 = b ? memchr(b, 0, (size_t)(end - b)) : NULL;
  if (!out->provider || out->effect == PDPE_EFFECT_NONE || !z2) return false;
  out->key = (pu_str){a, (size_t)(z1 - a)};
  out->permission = (pu_str){b, (size_t)(z2 - b)};
  out->tenant = (pu_str){z2 + 1, (size_t)(end - z2 - 1)};
  return out->key.len && out->permission.len && !memchr(out->tenant.ptr, 0, out->tenant.len);
}

/* ---- canonical text --------------------------------------------------------------------- */

static void put_json_string(FILE *f, pu_str s) {
  static const char hex[] = "0123456789abcdef";
  fputc('"', f);
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
    } else if (c == '\n') {
      fputs("\\n", f);
    } else if (c == '\t') {
      fputs("\\t", f);
    } else if (c == '\r') {
      fputs("\\r", f);
    } else if (c < 0x20 || c == 0x7f) {
      fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
    } else {
      fputc(c, f);
    }
  }
  fputc('"', f);
}

bool cache_grant_write_json(FILE *f, const cache_grant *g) {
  char letter[2] = {cache_provider_letter(g->provider), 0};
  if (!letter[0] || (g->effect != PDPE_EFFECT_GRANT && g->effect != PDPE_EFFECT_PROHIBIT))
    return false;
  fputs("{\"provider\":", f);
  put_json_string(f, (pu_str){letter, 1});
  fputs(",\"key\":", f);
  put_json_string(f, g->key);
  fputs(",\"permission\":", f);
  put_json_string(f, g->permission);
  if (g->tenant.len) {
    fputs(",\"tenant\":", f);
    put_json_string(f, g->tenant);
  }
  fputs(g->effect == PDPE_EFFECT_GRANT ? ",\"effect\":\"GRANT\"}" : ",\"effect\":\"PROHIBIT\"}", f);
  return !ferror(f);
}

/* A user's bytes made printable for a message (at most MAX_SHOWN, controls as '?'). */
static const char *shown(const char *s, size_t n, char *buf) {
  size_t k = n < MAX_SHOWN ? n : MAX_SHOWN;
  for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
  strcpy(buf + k, n > MAX_SHOWN ? "..." : "");
  return buf;
}

/* ---- the scanner ---------------------------------------------------------------------------- */

typedef struct scanner {
  int fd;
  const char *name;   /* names the file in messages ("grants.json") */
  char *buf;          /* GRANTS_WINDOW bytes */
  size_t pos, end;    /* unread bytes are buf[pos..end) */
  bool eof;           /* read(2) said end of file */
  uint32_t line, col; /* position of buf[pos] */
  cache_diag *diag;
  uint64_t errors;
} scanner;

/* Keep at least GRANT_ITEM_MAX unread bytes in the window unless the file ends first. */
static bool fill(scanner *sc) {
  if (sc->eof || sc->end - sc->pos >= GRANT_ITEM_MAX) return true;
  memmove(sc->buf, sc->buf + sc->pos, sc->end - sc->pos);
  sc->end -= sc->pos;
  sc->pos = 0;
  while (sc->end < GRANTS_WINDOW) {
    ssize_t n = read(sc->fd, sc->buf + sc->end, GRANTS_WINDOW - sc->end);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      cache_diag_addf(sc->diag, "%s: read error: %s", sc->name, strerror(errno));
      sc->errors++;
      return false;
    }
    if (n == 0) {
      sc->eof = true;
      break;
    }
    sc->end += (size_t)n;
  }
  return true;
}

/* Line and column after `n` more bytes starting at p, from (*line, *col). */
static void count_pos(const char *p, size_t n, uint32_t *line, uint32_t *col) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      ++*line;
      *col = 1;
    } else if (((unsigned char)p[i] & 0xC0) != 0x80) {
      ++*col;
    }
  }
}

static void advance(scanner *sc, size_t n) {
  count_pos(sc->buf + sc->pos, n, &sc->line, &sc->col);
  sc->pos += n;
}

/* Skip JSON whitespace; false on a read error.  At the end of the file pos == end. */
static bool skip_ws(scanner *sc) {
  for (;;) {
    if (sc->pos == sc->end) {
      if (!fill(sc)) return false;
      if (sc->pos == sc->end) return true;
    }
    char c = sc->buf[sc->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return true;
    advance(sc, 1);
  }
}

__attribute__((format(printf, 4, 5))) static void err_at(scanner *sc, uint32_t line, uint32_t col,
                                                         const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cache_diag_addf(sc->diag, "%s:%u:%u: %s", sc->name, line, col, msg);
  sc->errors++;
}

/* ---- positions inside one item -------------------------------------------------------- */

/* Offset of a JSON string's end (after the closing quote) starting at t[i] == '"'. */
static size_t skip_string(const char *t, size_t n, size_t i) {
  for (i++; i < n; i++) {
    if (t[i] == '\\')
      i++;
    else if (t[i] == '"')
      return i + 1;
  }
  return n;
}

static size_t skip_space(const char *t, size_t n, size_t i) {
  while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
  return i;
}

/* Where member `field` of the object text t[0..n) starts: its key (*key) and its value (return),
 * or 0 when it cannot be found (the error then names the item's start).  The object already
 * parsed, so the text is valid JSON. */
static size_t field_pos(const char *t, size_t n, const char *field, size_t *key) {
  size_t flen = strlen(field), i = skip_space(t, n, 0);
  if (i >= n || t[i] != '{') return 0;
  i++;
  for (;;) {
    i = skip_space(t, n, i);
    if (i >= n || t[i] != '"') return 0;
    size_t ks = i, ke = skip_string(t, n, i);
    i = skip_space(t, n, ke);
    if (i >= n || t[i] != ':') return 0;
    size_t v = skip_space(t, n, i + 1);
    if (ke - ks - 2 == flen && memcmp(t + ks + 1, field, flen) == 0) {
      if (key) *key = ks;
      return v;
    }
    int depth = 0;
    for (i = v; i < n; i++) {
      char c = t[i];
      if (c == '"') {
        i = skip_string(t, n, i) - 1;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        if (depth-- == 0) return 0; /* end of the object: not found */
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    if (i >= n) return 0;
    i++;
  }
}

/* ---- one item -------------------------------------------------------------------------- */

typedef struct item {
  const char *text; /* the item's bytes in the window */
  size_t len;
  uint64_t index;
  uint32_t line, col; /* of the item's first byte */
} item;

/* Report `msg` about grants[I].field at the field's value (its key when at_key). */
__attribute__((format(printf, 5, 6))) static void
field_err(scanner *sc, const item *it, const char *field, bool at_key, const char *fmt, ...) {
  size_t key = 0, off = field_pos(it->text, it->len, field, &key);
  if (at_key && off) off = key;
  uint32_t line = it->line, col = it->col;
  count_pos(it->text, off, &line, &col);
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char buf[MAX_SHOWN + 4];
  err_at(sc, line, col, "grants[%llu].%s: %s", (unsigned long long)it->index,
         shown(field, strlen(field), buf), msg);
}

/* A string member; false (after reporting) when present but bad.  *present says whether the
 * member was there. */
static bool string_field(scanner *sc, const item *it, const json_t *obj, const char *field,
                         bool required, pu_str *out) {
  const json_t *v = json_object_get(obj, field);
  *out = (pu_str){"", 0};
  if (!v) {
    if (required) field_err(sc, it, field, false, "missing");
    return !required;
  }
  if (!json_is_string(v)) {
    field_err(sc, it, field, false, "must be a string");
    return false;
  }
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (memchr(s, 0, n)) {
    field_err(sc, it, field, false, "contains a NUL byte");
    return false;
  }
  if (required && n == 0) {
    field_err(sc, it, field, false, "must not be empty");
    return false;
  }
  *out = (pu_str){s, n};
  return true;
}

static const char *const known_fields[] = {"provider", "key", "permission", "tenant", "effect"};

/* Check one parsed item; on success *g borrows from j. */
static bool check_item(scanner *sc, const item *it, const json_t *j, size_t max_key,
                       cache_grant *g) {
  if (!json_is_object(j)) {
    err_at(sc, it->line, it->col,
           "grants[%llu]: must be an object {\"provider\", \"key\", \"permission\", "
           "\"tenant\", \"effect\"}",
           (unsigned long long)it->index);
    return false;
  }
  bool ok = true;
  const char *name;
  json_t *v;
  json_object_foreach((json_t *)j, name, v) {
    bool known = false;
    for (size_t i = 0; i < sizeof known_fields / sizeof *known_fields; i++)
      known = known || strcmp(name, known_fields[i]) == 0;
    if (!known) {
      field_err(sc, it, name, true,
                "unknown field (a grant has provider, key, permission, tenant, effect)");
      ok = false;
    }
  }
  pu_str prov, eff;
  ok = string_field(sc, it, j, "provider", true, &prov) && ok;
  ok = string_field(sc, it, j, "key", true, &g->key) && ok;
  ok = string_field(sc, it, j, "permission", true, &g->permission) && ok;
  ok = string_field(sc, it, j, "tenant", false, &g->tenant) && ok;
  bool eff_ok = string_field(sc, it, j, "effect", false, &eff);
  ok = eff_ok && ok;
  g->provider = prov.len == 1 ? provider_of(prov.ptr[0]) : (pdpe_provider)0;
  if (prov.len && !g->provider) {
    field_err(sc, it, "provider", false, "must be \"R\", \"U\" or \"C\"");
    ok = false;
  }
  g->effect = PDPE_EFFECT_GRANT;
  if (eff_ok && eff.len) {
    if (pu_str_eq_c(eff, "GRANT")) {
      g->effect = PDPE_EFFECT_GRANT;
    } else if (pu_str_eq_c(eff, "PROHIBIT")) {
      g->effect = PDPE_EFFECT_PROHIBIT;
    } else {
      field_err(sc, it, "effect", false, "must be \"GRANT\" or \"PROHIBIT\"");
      ok = false;
    }
  } else if (eff_ok && json_object_get(j, "effect")) {
    field_err(sc, it, "effect", false, "must be \"GRANT\" or \"PROHIBIT\"");
    ok = false;
  }
  if (!ok) return false;
  size_t klen = 3 + g->key.len + g->permission.len + g->tenant.len;
  if (klen > max_key) {
    field_err(sc, it, "key", false,
              "the grant's store key would be %zu bytes (provider, key, permission and tenant); "
              "the store keeps at most %zu",
              klen, max_key);
    return false;
  }
  return true;
}

/* ---- the array -------------------------------------------------------------------------- */

int cache__grants_scan(const char *path, const char *name, size_t max_key, cache_grant_fn fn,
                       void *ctx, struct stat *st_out, cache_diag *diag) {
  scanner sc = {.fd = -1, .name = name, .line = 1, .col = 1, .diag = diag};
  sc.fd = open(path, O_RDONLY | O_CLOEXEC);
  if (sc.fd < 0) {
    if (errno == ENOENT) return 1;
    cache_diag_addf(diag, "%s: cannot open: %s", name, strerror(errno));
    return -1;
  }
  struct stat before, after;
  if (fstat(sc.fd, &before) != 0 || !S_ISREG(before.st_mode)) {
    cache_diag_addf(diag, "%s: not a regular file", name);
    close(sc.fd);
    return -1;
  }
  sc.buf = malloc(GRANTS_WINDOW);
  if (!sc.buf) {
    cache_diag_addf(diag, "%s: out of memory", name);
    close(sc.fd);
    return -1;
  }
  bool stop = false;
  if (!skip_ws(&sc)) goto done;
  if (sc.pos == sc.end || sc.buf[sc.pos] != '[') {
    err_at(&sc, sc.line, sc.col, "expected a JSON array of grants ('[')");
    goto done;
  }
  advance(&sc, 1);
  if (!skip_ws(&sc)) goto done;
  bool closed = sc.pos < sc.end && sc.buf[sc.pos] == ']';
  if (closed) advance(&sc, 1);
  for (uint64_t index = 0; !closed && !stop; index++) {
    if (!skip_ws(&sc) || !fill(&sc)) goto done;
    if (sc.pos == sc.end) {
      err_at(&sc, sc.line, sc.col, "grants[%llu]: the file ends inside the array",
             (unsigned long long)index);
      goto done;
    }
    item it = {sc.buf + sc.pos, 0, index, sc.line, sc.col};
    size_t avail = sc.end - sc.pos;
    json_error_t jerr;
    json_t *j = json_loadb(
        it.text, avail, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
      size_t at = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;
      if (at >= avail) at = avail ? avail - 1 : 0;
      uint32_t line = it.line, col = it.col;
      count_pos(it.text, at, &line, &col);
      if (!sc.eof && avail >= GRANT_ITEM_MAX && (size_t)jerr.position >= avail)
        err_at(&sc, it.line, it.col, "grants[%llu]: longer than %u bytes",
               (unsigned long long)index, GRANT_ITEM_MAX);
      else
        err_at(&sc, line, col, "grants[%llu]: %s", (unsigned long long)index, jerr.text);
      goto done;
    }
    it.len = (size_t)jerr.position;
    cache_grant g;
    memset(&g, 0, sizeof g);
    if (check_item(&sc, &it, j, max_key, &g) && sc.errors == 0 &&
        !fn(ctx, &g, index, it.line, it.col)) {
      cache_diag_addf(diag, "%s: out of memory at grants[%llu]", name, (unsigned long long)index);
      sc.errors++;
      stop = true;
    }
    json_decref(j);
    advance(&sc, it.len);
    if (!skip_ws(&sc)) goto done;
    char c = sc.pos < sc.end ? sc.buf[sc.pos] : '\0';
    if (c == ']') {
      advance(&sc, 1);
      closed = true;
    } else if (c == ',') {
      advance(&sc, 1);
      if (!skip_ws(&sc)) goto done;
      if (sc.pos < sc.end && sc.buf[sc.pos] == ']') {
        err_at(&sc, sc.line, sc.col, "grants[%llu]: expected a grant after ','",
               (unsigned long long)index + 1);
        goto done;
      }
    } else {
      err_at(&sc, sc.line, sc.col, "expected ',' or ']' after grants[%llu]",
             (unsigned long long)index);
      goto done;
    }
  }
  if (closed && skip_ws(&sc) && sc.pos < sc.end)
    err_at(&sc, sc.line, sc.col, "unexpected text after the array of grants");
done:
  if (!sc.errors && fstat(sc.fd, &after) == 0 &&
      (after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
       after.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
       after.st_ctim.tv_sec != before.st_ctim.tv_sec ||
       after.st_ctim.tv_nsec != before.st_ctim.tv_nsec)) {
    cache_diag_addf(diag, "%s: changed while it was read; nothing taken from it", name);
    sc.errors++;
  }
  free(sc.buf);
  close(sc.fd);
  if (sc.errors) return -1;
  if (st_out) *st_out = before;
  return 0;
}

int cache_grants_scan(const char *path, const char *name, size_t max_key, cache_grant_fn fn,
                      void *ctx, cache_diag *diag) {
  return cache__grants_scan(path, name, max_key, fn, ctx, NULL, diag);
}

/* ---- the rows of a file ------------------------------------------------------------------ */

static bool collect(void *ctx, const cache_grant *g, uint64_t index, uint32_t line, uint32_t col) {
  cache__grant_rows *r = ctx;
  size_t need = 3 + g->key.len + g->permission.len + g->tenant.len;
  if (r->keys_len + need > r->keys_cap) {
    size_t cap = r->keys_cap ? r->keys_cap : (1u << 20);
    while (cap < r->keys_len + need) cap *= 2;
    char *p = realloc(r->keys, cap);
    if (!p) return false;
    r->keys = p;
    r->keys_cap = cap;
  }
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 4096;
    cache__grant_row *p = realloc(r->rows, cap * sizeof *p);
    if (!p) return false;
    r->rows = p;
    r->cap = cap;
  }
  cache_grant_key(g->provider, g->key, g->permission, g->tenant, r->keys + r->keys_len, need);
  r->rows[r->n++] = (cache__grant_row){
      r->keys_len,    (uint32_t)(index > UINT32_MAX ? UINT32_MAX : index), line, col,
      (uint16_t)need, g->effect == PDPE_EFFECT_PROHIBIT ? 'P' : 'G'};
  r->keys_len += need;
  return true;
}

static int cmp_rows(const void *x, const void *y, void *keys) {
  const cache__grant_row *a = x, *b = y;
  const char *k = keys;
  int c = memcmp(k + a->off, k + b->off, a->len < b->len ? a->len : b->len);
  if (c) return c;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return a->item < b->item ? -1 : a->item > b->item; /* duplicates: file order */
}

void cache__grant_rows_close(cache__grant_rows *r) {
  free(r->keys);
  free(r->rows);
  memset(r, 0, sizeof *r);
}

int cache__grant_rows_read(const char *path, const char *name, size_t max_key,
                           cache__grant_rows *out, struct stat *st, cache_diag *diag) {
  memset(out, 0, sizeof *out);
  int rc = cache__grants_scan(path, name, max_key, collect, out, st, diag);
  if (rc != 0) {
    cache__grant_rows_close(out);
    return rc;
  }
  if (out->n > 1) qsort_r(out->rows, out->n, sizeof *out->rows, cmp_rows, out->keys);
  uint64_t dups = 0;
  for (size_t i = 1; i < out->n; i++) {
    const cache__grant_row *a = &out->rows[i - 1], *b = &out->rows[i];
    if (a->len != b->len || memcmp(out->keys + a->off, out->keys + b->off, a->len) != 0) continue;
    cache_grant g;
    char kb[MAX_SHOWN + 4], pb[MAX_SHOWN + 4], tb[MAX_SHOWN + 4];
    if (!cache_grant_from_row(out->keys + b->off, b->len, &b->val, 1, &g)) continue;
    /* the first of a run of equal keys is the earliest in the file (cmp_rows) */
    size_t first = i - 1;
    while (first > 0 && out->rows[first - 1].len == b->len &&
           memcmp(out->keys + out->rows[first - 1].off, out->keys + b->off, b->len) == 0)
      first--;
    cache_diag_addf(diag,
                    "%s:%u:%u: grants[%u]: duplicate of grants[%u] (line %u): provider %c, key "
                    "\"%s\", permission \"%s\", tenant \"%s\"",
                    name, b->line, b->col, b->item, out->rows[first].item, out->rows[first].line,
                    cache_provider_letter(g.provider), shown(g.key.ptr, g.key.len, kb),
                    shown(g.permission.ptr, g.permission.len, pb),
                    shown(g.tenant.ptr, g.tenant.len, tb));
    dups++;
  }
  if (dups) {
    cache__grant_rows_close(out);
    return -1;
  }
  return 0;
}

/* revocations.c - revocations.json of a dir source: token revocations by jti and by subject,
 * parsed into rows of table revocations, and edited (pdpctl revoke-token).
 *
 * File: {"jti": [{"jti": "abc", "exp": 1790000000}], "subjects": [{"sub": "alice",
 * "before": 1790000000}]}; both lists optional, nothing else allowed.  Rows: `jti:<jti>` ->
 * exp and `sub:<sub>` -> before, each an 8-byte big-endian count of Unix seconds.
 *
 * Editing takes the source lock and replaces the file atomically (srcfile.c).  Revocations only
 * grow: an entry already there keeps the later time.  A rewrite drops jti entries whose exp is
 * more than a day past (such a token is refused for its exp anyway), so the file does not grow
 * without bound; subject entries are kept (they have no end).
 */
#include "cache_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FILE_NAME "revocations.json"

/* One entry: the jti or the sub, and exp or before. */
typedef struct rev {
  pu_str id;
  int64_t t;
  uint32_t index; /* in its list in the file */
} rev;

/* The two lists of the file: [0] jti, [1] subjects; each sorted by id once parsed. */
typedef struct revs {
  rev *items[2];
  uint32_t n[2];
} revs;

static const struct {
  const char *list, *id, *time, *prefix;
} KIND[2] = {{"jti", "jti", "exp", "jti:"}, {"subjects", "sub", "before", "sub:"}};

typedef struct text {
  const char *name; /* for messages */
  const char *p;
  size_t len;
} text;

/* "revocations.json:L:C: LIST[I].FIELD: message" (field NULL: the element; index < 0: the
 * list). */
static void rev_err(cache_diag *diag, const text *t, int kind, long index, const char *field,
                    bool at_key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void rev_err(cache_diag *diag, const text *t, int kind, long index, const char *field,
                    bool at_key, const char *fmt, ...) {
  char msg[400], path[300], shown[120];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cache__jseg segs[3] = {{KIND[kind].list, 0}, {NULL, (size_t)(index < 0 ? 0 : index)}, {field, 0}};
  size_t n = index < 0 ? 1 : field ? 3 : 2;
  size_t o = (size_t)snprintf(path, sizeof path, "%s", KIND[kind].list);
  if (index >= 0) o += (size_t)snprintf(path + o, sizeof path - o, "[%ld]", index);
  if (field)
    snprintf(path + o, sizeof path - o, ".%s",
             cache__show(field, strlen(field), shown, sizeof shown));
  int line, col;
  cache__json_locate(t->p, t->len, segs, n, at_key, &line, &col);
  cache_diag_addf(diag, "%s:%d:%d: %s: %s", t->name, line, col, path, msg);
}

static int cmp_revs(const void *x, const void *y) {
  const rev *a = x, *b = y;
  int c = pu_str_cmp(a->id, b->id);
  return c ? c : (a->index > b->index) - (a->index < b->index);
}

static bool parse_entry(pu_arena *a, const json_t *e, const text *t, int kind, size_t i, rev *out,
                        cache_diag *diag) {
  if (!json_is_object(e)) {
    rev_err(diag, t, kind, (long)i, NULL, false, "expected {\"%s\": ..., \"%s\": ...}",
            KIND[kind].id, KIND[kind].time);
    return false;
  }
  bool ok = true;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)e, k, v) {
    if (strcmp(k, KIND[kind].id) != 0 && strcmp(k, KIND[kind].time) != 0) {
      rev_err(diag, t, kind, (long)i, k, true, "unknown field (known: %s, %s)", KIND[kind].id,
              KIND[kind].time);
      ok = false;
    }
  }
  const json_t *id = json_object_get(e, KIND[kind].id);
  const json_t *tm = json_object_get(e, KIND[kind].time);
  if (!id) {
    rev_err(diag, t, kind, (long)i, KIND[kind].id, false, "missing");
    ok = false;
  } else if (!json_is_string(id) || json_string_length(id) == 0 ||
             json_string_length(id) > CACHE_REVOCATION_ID_MAX ||
             memchr(json_string_value(id), 0, json_string_length(id))) {
    rev_err(diag, t, kind, (long)i, KIND[kind].id, false,
            "expected a string of 1..%d bytes without NUL", CACHE_REVOCATION_ID_MAX);
    ok = false;
  } else {
    out->id = pu_arena_str(a, (pu_str){json_string_value(id), json_string_length(id)});
    if (!out->id.ptr) {
      rev_err(diag, t, kind, (long)i, KIND[kind].id, false, "out of memory");
      ok = false;
    }
  }
  if (!tm) {
    rev_err(diag, t, kind, (long)i, KIND[kind].time, false, "missing");
    ok = false;
  } else if (!json_is_integer(tm) || json_integer_value(tm) < 0) {
    rev_err(diag, t, kind, (long)i, KIND[kind].time, false,
            "expected an integer >= 0 (Unix seconds)");
    ok = false;
  } else {
    out->t = (int64_t)json_integer_value(tm);
  }
  out->index = (uint32_t)i;
  return ok;
}

static bool parse(pu_arena *a, const text *t, revs *out, cache_diag *diag) {
  memset(out, 0, sizeof(*out));
  json_error_t jerr;
  json_t *j = json_loadb(t->p, t->len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    cache_diag_addf(diag, "%s:%d:%d: %s", t->name, jerr.line, jerr.column, jerr.text);
    return false;
  }
  bool ok = true;
  if (!json_is_object(j)) {
    cache_diag_addf(diag, "%s:1:1: expected an object {\"jti\": [...], \"subjects\": [...]}",
                    t->name);
    json_decref(j);
    return false;
  }
  const char *k;
  json_t *v;
  json_object_foreach(j, k, v) {
    if (strcmp(k, "jti") != 0 && strcmp(k, "subjects") != 0) {
      cache__jseg seg = {k, 0};
      int line, col;
      char shown[120];
      cache__json_locate(t->p, t->len, &seg, 1, true, &line, &col);
      cache_diag_addf(diag, "%s:%d:%d: %s: unknown field (known: jti, subjects)", t->name, line,
                      col, cache__show(k, strlen(k), shown, sizeof shown));
      ok = false;
    }
  }
  for (int kind = 0; kind < 2; kind++) {
    const json_t *list = json_object_get(j, KIND[kind].list);
    if (!list) continue;
    if (!json_is_array(list)) {
      rev_err(diag, t, kind, -1, NULL, false, "expected an array");
      ok = false;
      continue;
    }
    size_t n = json_array_size(list);
    if (n > UINT32_MAX / 2) {
      rev_err(diag, t, kind, -1, NULL, false, "too many entries");
      ok = false;
      continue;
    }
    rev *items = n ? pu_arena_alloc(a, n * sizeof(rev)) : NULL;
    if (n && !items) {
      rev_err(diag, t, kind, -1, NULL, false, "out of memory");
      ok = false;
      continue;
    }
    bool list_ok = true;
    for (size_t i = 0; i < n; i++)
      list_ok = parse_entry(a, json_array_get(list, i), t, kind, i, &items[i], diag) && list_ok;
    if (!list_ok) {
      ok = false;
      continue;
    }
    if (n > 1) qsort(items, n, sizeof(rev), cmp_revs);
    for (size_t i = 1; i < n; i++) {
      if (!pu_str_eq(items[i - 1].id, items[i].id)) continue;
      char shown[120];
      rev_err(diag, t, kind, items[i].index, KIND[kind].id, false,
              "\"%s\" is listed twice (%s[%u] and %s[%u])",
              cache__show(items[i].id.ptr, items[i].id.len, shown, sizeof shown), KIND[kind].list,
              items[i - 1].index, KIND[kind].list, items[i].index);
      ok = false;
    }
    out->items[kind] = items;
    out->n[kind] = (uint32_t)n;
  }
  json_decref(j);
  return ok;
}

/* Read and parse dir/revocations.json (absent = empty); *exists says whether it was there. */
static bool read_revs(pu_arena *a, const char *dir, revs *out, bool *exists, cache_diag *diag) {
  memset(out, 0, sizeof(*out));
  char *path = pu_arena_printf(a, "%s/" FILE_NAME, dir);
  char *p = NULL;
  size_t len = 0;
  if (!path) {
    cache_diag_addf(diag, "%s: out of memory", dir);
    return false;
  }
  if (!cache__read_optional(a, path, &p, &len, diag)) return false;
  if (exists) *exists = p != NULL;
  if (!p) return true;
  text t = {FILE_NAME, p, len};
  return parse(a, &t, out, diag);
}

static int cmp_rows(const void *x, const void *y) {
  const cache__row *a = x, *b = y;
  int c = memcmp(a->key, b->key, a->key_len < b->key_len ? a->key_len : b->key_len);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

bool cache__revocations_rows_from_dir(pu_arena *a, const char *dir, cache__row **rows, uint32_t *n,
                                      cache_diag *diag) {
  *rows = NULL;
  *n = 0;
  revs r;
  if (!read_revs(a, dir, &r, NULL, diag)) return false;
  size_t total = (size_t)r.n[0] + r.n[1];
  if (total == 0) return true;
  cache__row *out = pu_arena_alloc(a, total * sizeof(*out));
  if (!out) {
    cache_diag_addf(diag, FILE_NAME ": out of memory");
    return false;
  }
  uint32_t k = 0;
  for (int kind = 0; kind < 2; kind++) {
    for (uint32_t i = 0; i < r.n[kind]; i++) {
      const rev *e = &r.items[kind][i];
      char *key = pu_arena_alloc(a, 4 + e->id.len);
      uint8_t *val = pu_arena_alloc(a, 8);
      if (!key || !val) {
        cache_diag_addf(diag, FILE_NAME ": out of memory");
        return false;
      }
      memcpy(key, KIND[kind].prefix, 4);
      memcpy(key + 4, e->id.ptr, e->id.len);
      uint64_t t = (uint64_t)e->t;
      for (int b = 7; b >= 0; b--, t >>= 8) val[b] = (uint8_t)t;
      out[k++] = (cache__row){key, 4 + e->id.len, (const char *)val, 8};
    }
  }
  if (k > 1) qsort(out, k, sizeof(*out), cmp_rows);
  *rows = out;
  *n = k;
  return true;
}

/* ---- editing ------------------------------------------------------------------------------- */

static bool append(pu_arena *a, char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    size_t nc = (*cap ? *cap * 2 : 4096);
    while (nc < *len + n + 1) nc *= 2;
    char *p = pu_arena_alloc(a, nc);
    if (!p) return false;
    if (*len) memcpy(p, *buf, *len);
    *buf = p;
    *cap = nc;
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
  return true;
}

/* The file for r: one entry per line, each list sorted by id. */
static char *file_text(pu_arena *a, const revs *r, size_t *len) {
  char *buf = NULL;
  size_t cap = 0;
  *len = 0;
  bool ok = append(a, &buf, len, &cap, "{");
  for (int kind = 0; ok && kind < 2; kind++) {
    char head[32];
    snprintf(head, sizeof head, "%s\"%s\": [", kind ? ",\n " : "", KIND[kind].list);
    ok = append(a, &buf, len, &cap, head);
    for (uint32_t i = 0; ok && i < r->n[kind]; i++) {
      const rev *e = &r->items[kind][i];
      json_t *o = json_object();
      json_t *id = json_stringn(e->id.ptr, e->id.len);
      if (o && id)
        json_object_set_new(o, KIND[kind].id, id);
      else
        json_decref(id);
      if (o) json_object_set_new(o, KIND[kind].time, json_integer(e->t));
      char *s = o && id ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
      json_decref(o);
      ok = s && append(a, &buf, len, &cap, i ? ",\n  " : "\n  ") && append(a, &buf, len, &cap, s);
      free(s);
    }
    if (ok && r->n[kind]) ok = append(a, &buf, len, &cap, "\n ");
    ok = ok && append(a, &buf, len, &cap, "]");
  }
  ok = ok && append(a, &buf, len, &cap, "}\n");
  return ok ? buf : NULL;
}

/* The entry of `id` in a list sorted by id (ids unique), or NULL. */
static rev *find(rev *items, uint32_t n, pu_str id) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = pu_str_cmp(items[mid].id, id);
    if (c == 0) return &items[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Add or raise one entry of `kind` under the lock; see cache.h. */
static bool revoke(const char *dir, int kind, const char *id, int64_t t, bool *changed, char *err,
                   size_t err_cap) {
  bool dummy;
  if (!changed) changed = &dummy;
  *changed = false;
  size_t id_len = id ? strlen(id) : 0;
  json_t *probe = id ? json_string(id) : NULL; /* NULL when not UTF-8 */
  json_decref(probe);
  if (!probe || id_len == 0 || id_len > CACHE_REVOCATION_ID_MAX) {
    snprintf(err, err_cap, "%s: expected 1..%d bytes of UTF-8", KIND[kind].id,
             CACHE_REVOCATION_ID_MAX);
    return false;
  }
  if (t < 0) {
    snprintf(err, err_cap, "%s: expected Unix seconds >= 0", KIND[kind].time);
    return false;
  }
  struct stat st;
  if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, err_cap, "%s: not a source directory", dir ? dir : "(null)");
    return false;
  }
  int lock = cache__source_lock(dir, err, err_cap);
  if (lock < 0) return false;
  pu_arena a;
  pu_arena_init(&a, 1 << 14, 0);
  cache_diag diag;
  cache_diag_init(&diag);
  bool ok = false;
  revs r;
  char *path = pu_arena_printf(&a, "%s/" FILE_NAME, dir);
  if (!path || !read_revs(&a, dir, &r, NULL, &diag)) {
    if (!path) cache_diag_addf(&diag, "%s: out of memory", dir);
    cache__diag_first(&diag, err, err_cap);
    goto out;
  }
  int64_t horizon = (int64_t)time(NULL) - CACHE_REVOCATION_KEEP_S;
  if (kind == 0 && t < horizon) { /* long expired: a rewrite would drop it at once */
    ok = true;
    goto out;
  }
  rev key = {{id, id_len}, t, 0};
  rev *found = find(r.items[kind], r.n[kind], key.id);
  if (found && found->t >= t) {
    ok = true;
    goto out;
  }
  if (found) {
    found->t = t;
  } else {
    rev *items = pu_arena_alloc(&a, ((size_t)r.n[kind] + 1) * sizeof(rev));
    if (!items) {
      snprintf(err, err_cap, "%s: out of memory", path);
      goto out;
    }
    if (r.n[kind]) memcpy(items, r.items[kind], r.n[kind] * sizeof(rev));
    items[r.n[kind]] = key;
    r.items[kind] = items;
    r.n[kind]++;
    for (uint32_t i = 0; i < r.n[kind]; i++) items[i].index = i;
    qsort(items, r.n[kind], sizeof(rev), cmp_revs);
  }
  uint32_t kept = 0; /* drop long-expired jti entries */
  for (uint32_t i = 0; i < r.n[0]; i++)
    if (r.items[0][i].t >= horizon) r.items[0][kept++] = r.items[0][i];
  r.n[0] = kept;
  size_t len = 0;
  char *txt = file_text(&a, &r, &len);
  if (!txt) {
    snprintf(err, err_cap, "%s: out of memory", path);
    goto out;
  }
  if (!cache__write_atomic(path, txt, len, err, err_cap)) goto out;
  *changed = true;
  ok = true;
out:
  cache__source_unlock(lock);
  cache_diag_close(&diag);
  pu_arena_close(&a);
  return ok;
}

bool cache_revoke_token_jti(const char *dir, const char *jti, int64_t exp, bool *changed, char *err,
                            size_t err_cap) {
  return revoke(dir, 0, jti, exp, changed, err, err_cap);
}

bool cache_revoke_subject(const char *dir, const char *sub, int64_t before, bool *changed,
                          char *err, size_t err_cap) {
  return revoke(dir, 1, sub, before, changed, err, err_cap);
}

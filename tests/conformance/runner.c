/* runner.c - pdp-conformance: run Cedar's integration-test cases through pdpd's engine.
 *
 * Usage: pdp-conformance [-v] DIR...
 * Every *.json file under each DIR (recursively, in name order) that is a case file (an
 * object with "policies" and "requests") is run: its policies are parsed with pdpl_parse,
 * its entities loaded with pdpe_entities_from_json, and each request is authorized with
 * pdpe_authorize and compared with the expected decision, reason (as a set) and erroring
 * policy ids (as a set).  Paths inside a case are relative to the folder holding tests/,
 * sample-data/ and corpus-tests/; the runner finds it by walking up from the case file.
 * Schema and validation fields are ignored.  One line per failing request, then exactly
 * "N passed, N failed"; exit status 0 only when nothing failed.
 *
 * Stand-in for schema-directed parsing: Cedar's sample entities and contexts write entity
 * references as {"type": T, "id": I}, which Cedar reads as an entity only because the
 * case's schema says so.  pdpd reads no schema (and rightly takes that shape for a record),
 * so before calling the engine the runner rewrites every object with exactly the string
 * keys "type" and "id" inside entity attrs/tags and request contexts into the explicit
 * {"__entity": {...}} form.  This is the runner's doing, not the engine's.
 */
#include "../../pdp/eval/pdpe.h"
#include "../../pdp/lang/pdpl.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long n_pass, n_fail;
static bool verbose;

typedef struct strlist {
  char **v;
  size_t n, cap;
} strlist;

static void strlist_add(strlist *l, char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc(l->v, l->cap * sizeof(char *));
    if (!l->v) abort();
  }
  l->v[l->n++] = s;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_json(const char *dir, strlist *out) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "pdp-conformance: cannot open %s\n", dir);
    return;
  }
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (ent->d_name[0] == '.') continue;
    size_t n = strlen(dir) + strlen(ent->d_name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, ent->d_name);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      find_json(p, out);
      free(p);
    } else if (strlen(ent->d_name) > 5 &&
               strcmp(ent->d_name + strlen(ent->d_name) - 5, ".json") == 0 &&
               !strstr(ent->d_name, ".entities.json")) {
      strlist_add(out, p);
    } else {
      free(p);
    }
  }
  closedir(d);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)(n < 0 ? 0 : n) + 1);
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  buf[got] = '\0';
  *len = got;
  return buf;
}

/* The folder that `rel` is relative to: the nearest ancestor of the case file holding it. */
static char *resolve(const char *case_path, const char *rel) {
  char *dir = strdup(case_path);
  for (;;) {
    char *slash = strrchr(dir, '/');
    if (!slash) break;
    *slash = '\0';
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, rel);
    struct stat st;
    if (stat(p, &st) == 0) {
      free(dir);
      return p;
    }
    free(p);
  }
  free(dir);
  return strdup(rel);
}

/* jansson's parser refuses "\u0000" inside object keys, which Cedar's corpus uses.  The
 * runner loads such files by spelling the escape as U+F0000 (a private-use character the
 * corpus does not contain) and turning it back into NUL in every key and string. */
#define NUL_MARK "\xf3\xb0\x80\x80"

static json_t *unmark(json_t *j) {
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (!memmem(s, n, NUL_MARK, 4)) return json_incref(j);
    char *b = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
      if (i + 4 <= n && memcmp(s + i, NUL_MARK, 4) == 0)
        b[o++] = '\0', i += 4;
      else
        b[o++] = s[i++];
    }
    json_t *r = json_stringn_nocheck(b, o);
    free(b);
    return r;
  }
  if (json_is_array(j)) {
    json_t *r = json_array();
    for (size_t i = 0; i < json_array_size(j); i++)
      json_array_append_new(r, unmark(json_array_get(j, i)));
    return r;
  }
  if (json_is_object(j)) {
    json_t *r = json_object();
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach(j, k, kl, v) {
      json_t *raw = json_stringn_nocheck(k, kl), *ks = unmark(raw);
      json_decref(raw);
      json_object_setn_new_nocheck(r, json_string_value(ks), json_string_length(ks), unmark(v));
      json_decref(ks);
    }
    return r;
  }
  return json_incref(j);
}

/* True for an object of exactly the string keys "type" and "id". */
static bool implicit_uid(const json_t *j) {
  return json_is_object(j) && json_object_size(j) == 2 &&
         json_is_string(json_object_get(j, "type")) && json_is_string(json_object_get(j, "id"));
}

/* The schema stand-in (see the opening comment): a new reference to `j` with implicit
 * entity references rewritten as {"__entity": ...}, recursively; escapes are left alone. */
static json_t *explicit_entities(json_t *j) {
  if (implicit_uid(j)) {
    json_t *r = json_object();
    json_object_set_new(r, "__entity", json_deep_copy(j));
    return r;
  }
  if (json_is_array(j)) {
    json_t *r = json_array();
    for (size_t i = 0; i < json_array_size(j); i++)
      json_array_append_new(r, explicit_entities(json_array_get(j, i)));
    return r;
  }
  if (json_is_object(j) && !json_object_get(j, "__entity") && !json_object_get(j, "__extn")) {
    json_t *r = json_object();
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach(j, k, kl, v)
        json_object_setn_new_nocheck(r, k, kl, explicit_entities(v));
    return r;
  }
  return json_incref(j);
}

/* Applies explicit_entities to the attrs and tags of every entity in an entities array. */
static void explicit_entity_attrs(json_t *ents) {
  for (size_t i = 0; i < json_array_size(ents); i++) {
    json_t *e = json_array_get(ents, i);
    static const char *const fields[] = {"attrs", "tags"};
    for (size_t f = 0; f < 2; f++) {
      json_t *x = json_object_get(e, fields[f]);
      if (x) json_object_set_new(e, fields[f], explicit_entities(x));
    }
  }
}

static json_t *load_json(const char *path, size_t flags, json_error_t *je) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) {
    snprintf(je->text, sizeof je->text, "cannot read the file");
    return NULL;
  }
  char *fixed = malloc(len + 1), *o = fixed;
  bool marked = false;
  for (size_t i = 0; i < len;) {
    if (i + 6 <= len && memcmp(text + i, "\\u0000", 6) == 0 && (i == 0 || text[i - 1] != '\\')) {
      memcpy(o, NUL_MARK, 4), o += 4, i += 6, marked = true;
    } else {
      *o++ = text[i++];
    }
  }
  json_t *j = json_loadb(fixed, (size_t)(o - fixed), flags, je);
  free(fixed);
  free(text);
  if (j && marked) {
    json_t *u = unmark(j);
    json_decref(j);
    j = u;
  }
  return j;
}

static bool uid_of(pu_arena *a, const json_t *j, pdpe_uid *out) {
  if (json_is_object(j) && json_object_get(j, "__entity")) j = json_object_get(j, "__entity");
  const json_t *t = json_object_get(j, "type"), *id = json_object_get(j, "id");
  if (!json_is_string(t) || !json_is_string(id)) return false;
  out->type = pu_arena_str(a, (pu_str){json_string_value(t), json_string_length(t)});
  out->id = pu_arena_str(a, (pu_str){json_string_value(id), json_string_length(id)});
  return true;
}

/* Does the JSON array of strings `want` equal the id list `got`, as sets? */
static bool same_ids(const json_t *want, const pu_str *got, uint32_t n) {
  size_t nw = json_array_size(want);
  for (size_t i = 0; i < nw; i++) {
    const json_t *w = json_array_get(want, i);
    bool found = false;
    for (uint32_t k = 0; k < n && !found; k++)
      found = pu_str_eq(got[k], (pu_str){json_string_value(w), json_string_length(w)});
    if (!found) return false;
  }
  for (uint32_t k = 0; k < n; k++) {
    bool found = false;
    for (size_t i = 0; i < nw && !found; i++) {
      const json_t *w = json_array_get(want, i);
      found = pu_str_eq(got[k], (pu_str){json_string_value(w), json_string_length(w)});
    }
    if (!found) return false;
  }
  return true;
}

static void print_ids(const pu_str *ids, uint32_t n) {
  printf("[");
  for (uint32_t i = 0; i < n; i++) printf("%s%.*s", i ? "," : "", (int)ids[i].len, ids[i].ptr);
  printf("]");
}

static void print_json_ids(const json_t *a) {
  printf("[");
  for (size_t i = 0; i < json_array_size(a); i++)
    printf("%s%s", i ? "," : "", json_string_value(json_array_get(a, i)));
  printf("]");
}

static void fail_all(const char *path, const json_t *reqs, const char *why) {
  for (size_t i = 0; i < json_array_size(reqs); i++) {
    printf("FAIL %s: %s: %s\n", path,
           json_string_value(json_object_get(json_array_get(reqs, i), "description")), why);
    n_fail++;
  }
}

/* An entities file, with the schema stand-in applied. */
static json_t *load_entities(const char *path, json_error_t *je) {
  json_t *j = load_json(path, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, je);
  if (j) explicit_entity_attrs(j);
  return j;
}

static void run_case(const char *path) {
  json_error_t jerr;
  json_t *c = load_json(path, JSON_ALLOW_NUL, &jerr);
  if (!c) {
    fprintf(stderr, "pdp-conformance: %s: %s\n", path, jerr.text);
    return;
  }
  const json_t *pol = json_object_get(c, "policies"), *ent = json_object_get(c, "entities"),
               *reqs = json_object_get(c, "requests");
  if (!json_is_string(pol) || !json_is_array(reqs)) {
    json_decref(c);
    return; /* not a case file */
  }
  pdpe_snapshot *snap = pdpe_snapshot_new();
  char *ppath = resolve(path, json_string_value(pol));
  char *epath = json_is_string(ent) ? resolve(path, json_string_value(ent)) : NULL;
  char err[512] = "";
  size_t len = 0;
  char *text = read_file(ppath, &len);
  pdpl_policies pols = {0};
  pdpl_errors *perrs = calloc(1, sizeof *perrs);
  json_t *ej = NULL;
  if (!text) {
    snprintf(err, sizeof err, "cannot read %s", ppath);
  } else if (pdpl_parse(&snap->arena, ppath, text, len, NULL, &pols, perrs) != 0) {
    char buf[400];
    snprintf(err, sizeof err, "policy parse error: %s",
             pdpl_error_format(&perrs->items[0], buf, sizeof buf));
  } else if (!pdpe_policy_set_build(&snap->arena, &pols, &snap->policies, err, sizeof err)) {
    /* err set */
  } else if (epath && !(ej = load_entities(epath, &jerr))) {
    snprintf(err, sizeof err, "%s: %s", epath, jerr.text);
  } else if (ej &&
             !pdpe_entities_from_json(&snap->arena, ej, epath, &snap->entities, err, sizeof err)) {
    /* err set */
  } else {
    err[0] = '\0';
  }
  if (err[0]) {
    fail_all(path, reqs, err);
  } else {
    pu_arena ra;
    pu_arena_init(&ra, 64 * 1024, 0);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
      const json_t *r = json_array_get(reqs, i);
      const char *desc = json_string_value(json_object_get(r, "description"));
      pu_arena_reset(&ra);
      pdpe_request req = {0};
      char rerr[512] = "";
      if (!uid_of(&ra, json_object_get(r, "principal"), &req.principal) ||
          !uid_of(&ra, json_object_get(r, "action"), &req.action) ||
          !uid_of(&ra, json_object_get(r, "resource"), &req.resource)) {
        snprintf(rerr, sizeof rerr, "bad principal, action or resource");
      } else if (json_object_get(r, "context")) {
        json_t *ctx = explicit_entities(json_object_get(r, "context"));
        if (!pdpe_value_from_json(&ra, ctx, "context", &req.context, rerr, sizeof rerr) && !rerr[0])
          snprintf(rerr, sizeof rerr, "bad context");
        json_decref(ctx);
      }
      pdpe_decision d;
      if (!rerr[0] && !pdpe_authorize(snap, &req, &ra, &d))
        snprintf(rerr, sizeof rerr, "out of memory");
      if (rerr[0]) {
        printf("FAIL %s: %s: %s\n", path, desc, rerr);
        n_fail++;
        continue;
      }
      const char *want = json_string_value(json_object_get(r, "decision"));
      const char *got = d.decision == PDPE_ALLOW ? "allow" : "deny";
      pu_str *eids = d.n_errors ? pu_arena_alloc(&ra, sizeof(pu_str) * d.n_errors) : NULL;
      for (uint32_t k = 0; k < d.n_errors; k++) eids[k] = d.errors[k].policy_id;
      const json_t *wreason = json_object_get(r, "reason"), *werrors = json_object_get(r, "errors");
      if (want && strcmp(want, got) == 0 && same_ids(wreason, d.reason, d.n_reason) &&
          same_ids(werrors, eids, d.n_errors)) {
        n_pass++;
        continue;
      }
      n_fail++;
      printf("FAIL %s: %s: expected %s ", path, desc, want ? want : "?");
      print_json_ids(wreason);
      printf(" errors ");
      print_json_ids(werrors);
      printf(", got %s ", got);
      print_ids(d.reason, d.n_reason);
      printf(" errors ");
      print_ids(eids, d.n_errors);
      printf("\n");
      if (verbose)
        for (uint32_t k = 0; k < d.n_errors; k++)
          printf("  %.*s\n", (int)d.errors[k].message.len, d.errors[k].message.ptr);
    }
    pu_arena_close(&ra);
  }
  json_decref(ej);
  free(perrs);
  free(text);
  free(ppath);
  free(epath);
  pdpe_snapshot_unref(snap);
  json_decref(c);
}

int main(int argc, char **argv) {
  strlist files = {0};
  int ndirs = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      verbose = true;
      continue;
    }
    strlist dir = {0};
    find_json(argv[i], &dir);
    if (dir.n > 1) qsort(dir.v, dir.n, sizeof(char *), cmp_cstr); /* dir.v is NULL when empty */
    for (size_t k = 0; k < dir.n; k++) strlist_add(&files, dir.v[k]);
    free(dir.v);
    ndirs++;
  }
  if (ndirs == 0) {
    fprintf(stderr, "usage: pdp-conformance [-v] DIR...\n");
    return 2;
  }
  for (size_t i = 0; i < files.n; i++) {
    run_case(files.v[i]);
    free(files.v[i]);
  }
  free(files.v);
  printf("%lu passed, %lu failed\n", n_pass, n_fail);
  return n_fail == 0 && n_pass > 0 ? 0 : 1;
}

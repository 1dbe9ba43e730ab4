/* test_lang_corpus.c - every policy file of Cedar's own test corpus parses without error.
 *
 * The corpus is committed under tests/conformance/cedar (found through PDP_SOURCE_ROOT);
 * the tarball is unpacked into a fresh temp directory, never the source tree. */
#include "test_lang_util.h"

#include <dirent.h>
#include <sys/stat.h>

static const char *conf_dir(void) {
  static char path[1024];
  const char *root = getenv("PDP_SOURCE_ROOT");
  cr_assert(root && *root, "PDP_SOURCE_ROOT is not set (run through zig build test)");
  snprintf(path, sizeof path, "%s/tests/conformance/cedar", root);
  return path;
}

typedef struct corpus_run {
  uint32_t files, bad;
  char first[5][400]; /* first failures, file:line:col: msg */
} corpus_run;

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, cap);
      cr_assert_not_null(nb);
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  *len = n;
  return buf;
}

static void parse_file(corpus_run *run, const char *path) {
  size_t len;
  char *text = read_all(path, &len);
  cr_assert_not_null(text, "cannot read %s", path);
  pu_arena a;
  pu_arena_init(&a, 65536, 0);
  pdpl_policies out = {0};
  pdpl_errors *errs = calloc(1, sizeof *errs);
  uint32_t idx = 0;
  uint32_t n = pdpl_parse(&a, path, text, len, &idx, &out, errs);
  run->files++;
  if (n) {
    if (run->bad < 5)
      pdpl_error_format(&errs->items[0], run->first[run->bad], sizeof run->first[0]);
    run->bad++;
  } else {
    cr_assert_eq(out.n, idx, "%s: every policy parsed", path);
  }
  free(errs);
  pu_arena_close(&a);
  free(text);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void walk(corpus_run *run, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    if (ent->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      walk(run, path);
    else if (ends_with(ent->d_name, ".cedar"))
      parse_file(run, path);
  }
  closedir(d);
}

static void report(const corpus_run *run, const char *what) {
  char msg[2400];
  size_t n = (size_t)snprintf(msg, sizeof msg, "%s: %u of %u files failed to parse:", what,
                              run->bad, run->files);
  for (uint32_t i = 0; i < run->bad && i < 5; i++)
    n += (size_t)snprintf(msg + n, sizeof msg - n, "\n  %s", run->first[i]);
  cr_assert_eq(run->bad, 0, "%s", msg);
}

Test(lang_corpus, every_cedar_integration_test_policy_parses) {
  char tests[1100];
  snprintf(tests, sizeof tests, "%s/tests", conf_dir());
  corpus_run run = {0};
  walk(&run, tests);
  cr_assert_gt(run.files, 0, "no .cedar files under %s", tests);
  report(&run, tests);
}

Test(lang_corpus, every_cedar_corpus_test_policy_parses) {
  char dir[] = "/tmp/pdpl-corpus-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "tar -xzf '%s/corpus-tests.tar.gz' -C '%s'", conf_dir(), dir);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  corpus_run run = {0};
  walk(&run, dir);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
  cr_assert_gt(run.files, 1000, "expected the corpus to hold thousands of policy files");
  report(&run, "corpus-tests");
}

/* test_cache_defs.c - permission definitions and revocations of a dir source, on real files.
 *
 * permissions/<service>.json parses with positioned errors and explicit defaults into one
 * canonical row per service (stable under key order, spacing, definition order and set
 * order), the rows come back as pdpe_definitions, a name lives in one service only, and a
 * define merges under the source lock, writes nothing when nothing changed (same inode, same
 * mtime, no temp file) and removes only the names listed as deleted.  revocations.json parses
 * into jti:/sub: rows and revoke edits it the same way.
 */
#include <criterion/criterion.h>

#include "../../cache/cache_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[64];

static void make_dir(void) {
  strcpy(tmp, "/tmp/pdpd-defs-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(cache_defs, .init = make_dir, .fini = remove_dir);
TestSuite(cache_revocations, .init = make_dir, .fini = remove_dir);

/* Write tmp/rel (making permissions/ when needed). */
static void put(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/permissions", tmp);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s", tmp, rel);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

static char *slurp(const char *rel) {
  static char buf[1 << 16];
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, rel);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static const char *diag_all(const cache_diag *d) {
  static char buf[8192];
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->n; i++) {
    strncat(buf, d->lines[i], sizeof buf - strlen(buf) - 2);
    strncat(buf, "\n", sizeof buf - strlen(buf) - 1);
  }
  return buf;
}

/* "LINE:COL" of the first occurrence of needle in text (1-based, as the messages count). */
static const char *pos_of(const char *text, const char *needle) {
  static char buf[32];
  const char *at = strstr(text, needle);
  cr_assert_not_null(at, "'%s' not in the text", needle);
  int line = 1, col = 1;
  for (const char *p = text; p < at; p++) {
    if (*p == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  snprintf(buf, sizeof buf, "%d:%d", line, col);
  return buf;
}

/* The rows of tmp, or false with the diagnostics in *d (closed by the caller). */
static bool rows_of(pu_arena *a, cache__row **rows, uint32_t *n, cache_diag *d) {
  cache_diag_init(d);
  return cache__defs_rows_from_dir(a, tmp, rows, n, d);
}

static void rows_ok(pu_arena *a, cache__row **rows, uint32_t *n) {
  cache_diag d;
  cr_assert(rows_of(a, rows, n, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
}

/* The diagnostics of a folder that must fail. */
static const char *rows_fail(void) {
  static char buf[8192];
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  cache_diag d;
  cr_assert_not(rows_of(&a, &rows, &n, &d), "the folder was accepted");
  cr_assert_gt(d.n, 0);
  snprintf(buf, sizeof buf, "%s", diag_all(&d));
  cache_diag_close(&d);
  pu_arena_close(&a);
  return buf;
}

static void assert_has(const char *all, const char *want) {
  cr_assert_not_null(strstr(all, want), "expected \"%s\" in:\n%s", want, all);
}

/* ---- parsing ------------------------------------------------------------------------------- */

#define ORDERS_BAD_TENANCY                                                                         \
  "{\"service\": \"orders\",\n"                                                                    \
  " \"definitions\": [\n"                                                                          \
  "  {\"name\": \"orders.view\"},\n"                                                               \
  "  {\"name\": \"orders.edit\", \"tenancy\": \"sometimes\"}\n"                                    \
  " ]}\n"

Test(cache_defs, a_field_error_names_file_line_column_and_path) {
  put("permissions/orders.json", ORDERS_BAD_TENANCY);
  char want[256];
  snprintf(want, sizeof want,
           "permissions/orders.json:%s: definitions[1].tenancy: expected \"both\", \"host\" or "
           "\"tenant\"",
           pos_of(ORDERS_BAD_TENANCY, "\"sometimes\""));
  assert_has(rows_fail(), want);
}

Test(cache_defs, every_error_of_every_file_is_reported_with_its_position) {
  const char *a = "{\"definitions\": [\n"
                  "  {\"name\": \"a.one\", \"colour\": \"red\"},\n"
                  "  {\"display_name\": \"no name\"},\n"
                  "  {\"name\": \"a.two\", \"allowed_providers\": [\"R\", \"X\"]},\n"
                  "  {\"name\": \"a.three\", \"properties\": {\"risk\": null}},\n"
                  "  {\"name\": \"a.four\", \"group\": \"a.four\"},\n"
                  "  {\"name\": \"a.five\", \"disabled\": \"no\"}\n"
                  "]}";
  const char *b = "{\"service\": \"b\",\n \"definitions\": [{\"name\": \"b.x\",}]}";
  const char *c = "{\"service\": \"other\", \"definitions\": []}";
  put("permissions/a.json", a);
  put("permissions/b.json", b);
  put("permissions/c.json", c);
  put("permissions/bad name.json", "{\"definitions\": []}");
  const char *all = rows_fail();
  char want[256];
  snprintf(want, sizeof want, "permissions/a.json:%s: definitions[0].colour: unknown field",
           pos_of(a, "\"colour\""));
  assert_has(all, want);
  snprintf(want, sizeof want, "permissions/a.json:%s: definitions[1].name: missing",
           pos_of(a, "{\"display_name\""));
  assert_has(all, want);
  snprintf(want, sizeof want,
           "permissions/a.json:%s: definitions[2].allowed_providers[1]: ", pos_of(a, "\"X\""));
  assert_has(all, want);
  snprintf(want, sizeof want,
           "permissions/a.json:%s: definitions[3].properties.risk: null is not a Cedar value",
           pos_of(a, "null"));
  assert_has(all, want);
  snprintf(want, sizeof want,
           "permissions/a.json:%s: definitions[4].group: ", pos_of(a, "\"a.four\"}"));
  assert_has(all, want);
  snprintf(want, sizeof want,
           "permissions/a.json:%s: definitions[5].disabled: ", pos_of(a, "\"no\""));
  assert_has(all, want);
  assert_has(all, "permissions/b.json:2:"); /* jansson's syntax error position */
  snprintf(want, sizeof want, "permissions/c.json:%s: service: expected \"c\"",
           pos_of(c, "\"other\""));
  assert_has(all, want);
  assert_has(all, "permissions/bad name.json: a file here must be named <service>.json");
}

Test(cache_defs, a_name_twice_in_one_service_names_both_places) {
  const char *t = "{\"definitions\": [{\"name\": \"x\"}, {\"name\": \"y\"}, {\"name\": \"x\"}]}";
  put("permissions/s.json", t);
  assert_has(rows_fail(), "definitions[2].name: \"x\" is defined twice (definitions[0] and "
                          "definitions[2])");
}

Test(cache_defs, a_name_in_two_services_is_an_error_naming_both) {
  put("permissions/billing.json", "{\"definitions\": [{\"name\": \"invoices.view\"}]}");
  put("permissions/orders.json",
      "{\"definitions\": [{\"name\": \"orders.view\"}, {\"name\": \"invoices.view\"}]}");
  const char *all = rows_fail();
  assert_has(all, "permissions/orders.json:1:");
  assert_has(all, "\"invoices.view\" is already defined by service \"billing\" "
                  "(permissions/billing.json)");
}

Test(cache_defs, property_values_must_be_cedar_values) {
  put("permissions/s.json", "{\"definitions\": [{\"name\": \"x\", \"properties\": "
                            "{\"limit\": 1.5}}, {\"name\": \"y\", \"properties\": {\"ip\": "
                            "{\"__extn\": {\"fn\": \"ip\", \"arg\": \"not an ip\"}}}}]}");
  const char *all = rows_fail();
  assert_has(all, "definitions[0].properties.limit: expected an integer");
  assert_has(all, "definitions[1].properties.ip");
}

/* ---- canonical form ------------------------------------------------------------------------ */

Test(cache_defs, every_default_is_explicit_in_the_canonical_row) {
  put("permissions/orders.json", "{\"definitions\": [{\"name\": \"orders.view\"}]}");
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  rows_ok(&a, &rows, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(rows[0].key_len, 6);
  cr_assert_eq(memcmp(rows[0].key, "orders", 6), 0);
  const char *want = "[{\"allowed_providers\":[],\"disabled\":false,\"display_name\":\"\","
                     "\"group\":\"\",\"name\":\"orders.view\",\"parent\":\"\",\"properties\":{},"
                     "\"tenancy\":\"both\"}]";
  cr_assert_eq(rows[0].val_len, strlen(want));
  cr_assert_eq(memcmp(rows[0].val, want, rows[0].val_len), 0, "%.*s", (int)rows[0].val_len,
               rows[0].val);
  pu_arena_close(&a);
}

/* The two files below say the same thing in different words. */
#define SAME_A                                                                                     \
  "{\"service\": \"s\", \"definitions\": [\n"                                                      \
  "  {\"name\": \"s.b\", \"group\": \"s\", \"tenancy\": \"host\",\n"                               \
  "   \"allowed_providers\": [\"U\", \"R\"],\n"                                                    \
  "   \"properties\": {\"tags\": [\"z\", \"a\", \"z\"], \"level\": 2,\n"                           \
  "                  \"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}}},\n"      \
  "  {\"name\": \"s.a\", \"disabled\": true}]}"
#define SAME_B                                                                                     \
  "{\"definitions\":[{\"disabled\":true,\"display_name\":\"\",\"name\":\"s.a\"},"                  \
  "{\"properties\":{\"owner\":{\"__entity\":{\"id\":\"alice\",\"type\":\"User\"}},"                \
  "\"level\":2,\"tags\":[\"a\",\"z\"]},\"allowed_providers\":[\"R\",\"U\"],"                       \
  "\"tenancy\":\"host\",\"parent\":\"\",\"group\":\"s\",\"name\":\"s.b\"}],\"service\":\"s\"}"

static char *row_value(const char *text) {
  put("permissions/s.json", text);
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  rows_ok(&a, &rows, &n);
  cr_assert_eq(n, 1);
  char *v = strndup(rows[0].val, rows[0].val_len);
  pu_arena_close(&a);
  return v;
}

Test(cache_defs, the_canonical_row_ignores_key_order_spacing_and_definition_order) {
  char *a = row_value(SAME_A);
  char *b = row_value(SAME_B);
  cr_assert_str_eq(a, b);
  /* and a real difference shows */
  char *c = row_value("{\"definitions\": [{\"name\": \"s.a\", \"disabled\": true}, {\"name\": "
                      "\"s.b\", \"group\": \"s\", \"tenancy\": \"host\"}]}");
  cr_assert_str_neq(a, c);
  free(a);
  free(b);
  free(c);
}

Test(cache_defs, rows_come_back_as_definitions_sorted_by_name_with_their_service) {
  put("permissions/s.json", SAME_A);
  put("permissions/billing.json",
      "{\"definitions\": [{\"name\": \"invoices.view\", \"display_name\": \"See invoices\", "
      "\"parent\": \"s.a\", \"tenancy\": \"tenant\", \"allowed_providers\": [\"C\"]}]}");
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  rows_ok(&a, &rows, &n);
  cr_assert_eq(n, 2);
  cr_assert_eq(memcmp(rows[0].key, "billing", 7), 0, "rows sorted by key");
  pdpe_definition *d;
  uint32_t nd;
  cache_diag diag;
  cache_diag_init(&diag);
  cr_assert(cache__defs_from_rows(&a, rows, n, &d, &nd, &diag), "%s", diag_all(&diag));
  cache_diag_close(&diag);
  cr_assert_eq(nd, 3);
  cr_assert(pu_str_eq_c(d[0].name, "invoices.view"));
  cr_assert(pu_str_eq_c(d[0].service, "billing"));
  cr_assert(pu_str_eq_c(d[0].display_name, "See invoices"));
  cr_assert(pu_str_eq_c(d[0].parent, "s.a"));
  cr_assert_eq(d[0].tenancy, PDPE_TENANCY_TENANT);
  cr_assert_eq(d[0].providers, PDPE_PROVIDER_BIT(PDPE_PROVIDER_CLIENT));
  cr_assert(pu_str_eq_c(d[1].name, "s.a"));
  cr_assert(d[1].disabled);
  cr_assert_eq(d[1].providers, 0, "no list: every provider");
  cr_assert_eq(d[1].properties.kind, PDPE_RECORD);
  cr_assert_eq(d[1].properties.u.rec.n, 0);
  cr_assert(pu_str_eq_c(d[2].name, "s.b"));
  cr_assert(pu_str_eq_c(d[2].service, "s"));
  cr_assert(pu_str_eq_c(d[2].group, "s"));
  cr_assert_eq(d[2].tenancy, PDPE_TENANCY_HOST);
  cr_assert_eq(d[2].providers,
               PDPE_PROVIDER_BIT(PDPE_PROVIDER_ROLE) | PDPE_PROVIDER_BIT(PDPE_PROVIDER_USER));
  const pdpe_value *p = &d[2].properties;
  cr_assert_eq(p->kind, PDPE_RECORD);
  cr_assert_eq(p->u.rec.n, 3);
  cr_assert(pu_str_eq_c(p->u.rec.keys[0], "level"));
  cr_assert_eq(p->u.rec.values[0].u.l, 2);
  cr_assert(pu_str_eq_c(p->u.rec.keys[1], "owner"));
  cr_assert_eq(p->u.rec.values[1].kind, PDPE_ENTITY);
  cr_assert_eq(p->u.rec.values[2].kind, PDPE_SET);
  cr_assert_eq(p->u.rec.values[2].u.set.n, 2, "the set was deduplicated");
  pu_arena_close(&a);
}

Test(cache_defs, rows_from_two_services_with_one_name_are_refused) {
  const char *v = "[{\"allowed_providers\":[],\"disabled\":false,\"display_name\":\"\","
                  "\"group\":\"\",\"name\":\"x\",\"parent\":\"\",\"properties\":{},"
                  "\"tenancy\":\"both\"}]";
  cache__row rows[3] = {{"a", 1, v, strlen(v)}, {"b", 1, v, strlen(v)}, {"c", 1, "[{", 2}};
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  pdpe_definition *d;
  uint32_t nd;
  cache_diag diag;
  cache_diag_init(&diag);
  cr_assert_not(cache__defs_from_rows(&a, rows, 2, &d, &nd, &diag));
  assert_has(diag_all(&diag), "\"x\" is already defined by service \"a\"");
  cache_diag_close(&diag);
  cache_diag_init(&diag);
  cr_assert_not(cache__defs_from_rows(&a, rows + 2, 1, &d, &nd, &diag));
  assert_has(diag_all(&diag), "definitions row c:1:");
  cache_diag_close(&diag);
  pu_arena_close(&a);
}

Test(cache_defs, no_permissions_folder_is_no_rows) {
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n = 7;
  rows_ok(&a, &rows, &n);
  cr_assert_eq(n, 0);
  put("permissions/empty.json", "{\"service\": \"empty\", \"definitions\": []}");
  rows_ok(&a, &rows, &n);
  cr_assert_eq(n, 0, "a service without definitions has no row");
  pu_arena_close(&a);
}

/* ---- define -------------------------------------------------------------------------------- */

static bool define_text(const char *service, const char *text, const char *const *deleted,
                        size_t n_deleted, bool *changed, uint8_t hash[32], char *err) {
  return cache_define_permissions_text(tmp, service, "defs.json", text, strlen(text), deleted,
                                       n_deleted, changed, hash, err, 512);
}

static void define_ok(const char *service, const char *text, const char *const *deleted,
                      size_t n_deleted, bool want_changed, uint8_t hash[32]) {
  char err[512] = "";
  bool changed = !want_changed;
  uint8_t h[32];
  cr_assert(define_text(service, text, deleted, n_deleted, &changed, hash ? hash : h, err), "%s",
            err);
  cr_assert_eq(changed, want_changed, "changed = %d", changed);
}

/* Names of the definitions of `service` as stored, "a,b,c". */
static const char *names_of(const char *service) {
  static char buf[4096];
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  rows_ok(&a, &rows, &n);
  pdpe_definition *d;
  uint32_t nd;
  cache_diag diag;
  cache_diag_init(&diag);
  cr_assert(cache__defs_from_rows(&a, rows, n, &d, &nd, &diag), "%s", diag_all(&diag));
  cache_diag_close(&diag);
  buf[0] = '\0';
  for (uint32_t i = 0; i < nd; i++) {
    if (!pu_str_eq_c(d[i].service, service)) continue;
    if (buf[0]) strcat(buf, ",");
    strncat(buf, d[i].name.ptr, d[i].name.len);
  }
  pu_arena_close(&a);
  return buf;
}

static int count_entries(const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, rel);
  DIR *d = opendir(path);
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

#define DEFS3                                                                                      \
  "[{\"name\": \"orders.view\", \"group\": \"orders\"},\n"                                         \
  " {\"name\": \"orders.edit\", \"group\": \"orders\", \"properties\": {\"risk\": \"high\"}},\n"   \
  " {\"name\": \"orders.delete\", \"tenancy\": \"host\"}]"

Test(cache_defs, defining_the_same_definitions_twice_writes_nothing) {
  uint8_t h1[32], h2[32];
  define_ok("orders", DEFS3, NULL, 0, true, h1);
  char path[256];
  snprintf(path, sizeof path, "%s/permissions/orders.json", tmp);
  struct stat st1, st2;
  cr_assert_eq(stat(path, &st1), 0);
  /* The same definitions in another order and layout. */
  define_ok("orders",
            "{\"service\": \"orders\", \"definitions\": [{\"tenancy\": \"host\", \"name\": "
            "\"orders.delete\"}, {\"name\": \"orders.edit\", \"properties\": {\"risk\": "
            "\"high\"}, \"group\": \"orders\"}, {\"group\": \"orders\", \"name\": "
            "\"orders.view\", \"disabled\": false}]}",
            NULL, 0, false, h2);
  cr_assert_arr_eq(h1, h2, 32, "the same definitions have the same hash");
  cr_assert_eq(stat(path, &st2), 0);
  cr_assert_eq(st1.st_ino, st2.st_ino, "the file was not replaced");
  cr_assert_eq(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
  cr_assert_eq(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
  cr_assert_eq(count_entries("permissions"), 1, "no temp file was left");
  /* The hash is SHA-256 of the service's row value. */
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  rows_ok(&a, &rows, &n);
  cr_assert_eq(n, 1);
  uint8_t want[32];
  unsigned int len = 0;
  cr_assert_eq(EVP_Digest(rows[0].val, rows[0].val_len, want, &len, EVP_sha256(), NULL), 1);
  cr_assert_arr_eq(want, h1, 32);
  pu_arena_close(&a);
  cr_assert_str_eq(names_of("orders"), "orders.delete,orders.edit,orders.view");
}

Test(cache_defs, defining_a_subset_keeps_the_others_and_replaces_by_name) {
  define_ok("orders", DEFS3, NULL, 0, true, NULL);
  define_ok("orders", "[{\"name\": \"orders.edit\", \"display_name\": \"Edit\"}]", NULL, 0, true,
            NULL);
  cr_assert_str_eq(names_of("orders"), "orders.delete,orders.edit,orders.view");
  const char *file = slurp("permissions/orders.json");
  cr_assert_not_null(strstr(file, "\"display_name\":\"Edit\""), "%s", file);
  cr_assert_null(strstr(file, "high"), "orders.edit was replaced whole: %s", file);
  /* A subset of unchanged definitions changes nothing. */
  define_ok("orders", "[{\"name\": \"orders.view\", \"group\": \"orders\"}]", NULL, 0, false, NULL);
}

Test(cache_defs, deleted_removes_only_the_names_listed) {
  define_ok("orders", DEFS3, NULL, 0, true, NULL);
  const char *del[] = {"orders.view", "orders.never-defined"};
  define_ok("orders", "[]", del, 2, true, NULL);
  cr_assert_str_eq(names_of("orders"), "orders.delete,orders.edit");
  const char *gone[] = {"orders.never-defined"};
  define_ok("orders", "[]", gone, 1, false, NULL);
  const char *all[] = {"orders.delete", "orders.edit"};
  define_ok("orders", "[]", all, 2, true, NULL);
  cr_assert_str_eq(names_of("orders"), "");
  cr_assert_not_null(slurp("permissions/orders.json"), "the file stays, with no definitions");
}

Test(cache_defs, a_name_both_sent_and_deleted_is_refused) {
  char err[512];
  bool changed = true;
  uint8_t h[32];
  const char *del[] = {"orders.edit"};
  cr_assert_not(define_text("orders", DEFS3, del, 1, &changed, h, err));
  assert_has(err, "definitions[1].name: \"orders.edit\" is both sent and listed as deleted");
  cr_assert_not(changed);
  cr_assert_null(slurp("permissions/orders.json"), "nothing was written");
}

Test(cache_defs, a_define_error_names_the_position_in_the_text) {
  char err[512];
  bool changed;
  uint8_t h[32];
  const char *t = "[{\"name\": \"a\"},\n {\"name\": \"b\", \"tenancy\": 3}]";
  cr_assert_not(define_text("svc", t, NULL, 0, &changed, h, err));
  char want[128];
  snprintf(want, sizeof want, "defs.json:%s: definitions[1].tenancy: ", pos_of(t, "3}"));
  assert_has(err, want);
  cr_assert_not(define_text("bad/service", "[]", NULL, 0, &changed, h, err));
  assert_has(err, "service \"bad/service\"");
  cr_assert_not(define_text(".hidden", "[]", NULL, 0, &changed, h, err));
  cr_assert_not(define_text("svc", "{\"service\": \"other\", \"definitions\": []}", NULL, 0,
                            &changed, h, err));
  assert_has(err, "service: expected \"svc\"");
}

Test(cache_defs, a_define_may_not_take_a_name_of_another_service) {
  define_ok("billing", "[{\"name\": \"invoices.view\"}]", NULL, 0, true, NULL);
  char err[512];
  bool changed;
  uint8_t h[32];
  cr_assert_not(define_text("orders",
                            "[{\"name\": \"orders.view\"}, {\"name\": \"invoices.view\"}]", NULL, 0,
                            &changed, h, err));
  assert_has(err, "definitions[1].name: \"invoices.view\" is already defined by service "
                  "\"billing\"");
  cr_assert_null(slurp("permissions/orders.json"));
}

Test(cache_defs, define_from_json_and_from_structs_gives_the_same_file) {
  json_error_t jerr;
  json_t *arr = json_loads("[{\"name\": \"x.view\", \"tenancy\": \"tenant\", "
                           "\"allowed_providers\": [\"C\", \"R\"], \"properties\": {\"n\": 1}}]",
                           0, &jerr);
  cr_assert_not_null(arr);
  bool changed = false;
  uint8_t h1[32], h2[32];
  char err[512];
  cr_assert(cache_define_permissions(tmp, "x", arr, NULL, 0, &changed, h1, err, sizeof err), "%s",
            err);
  cr_assert(changed);
  json_decref(arr);

  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  json_t *props = json_loads("{\"n\": 1}", 0, &jerr);
  pdpe_definition d = {.name = PU_STR_LIT("x.view"),
                       .tenancy = PDPE_TENANCY_TENANT,
                       .providers = PDPE_PROVIDER_BIT(PDPE_PROVIDER_ROLE) |
                                    PDPE_PROVIDER_BIT(PDPE_PROVIDER_CLIENT)};
  cr_assert(pdpe_value_from_json(&a, props, "p", &d.properties, err, sizeof err), "%s", err);
  json_decref(props);
  cr_assert(cache_define_permissions_defs(tmp, "x", &d, 1, NULL, 0, &changed, h2, err, sizeof err),
            "%s", err);
  cr_assert_not(changed, "the structs say what the JSON said");
  cr_assert_arr_eq(h1, h2, 32);

  /* Zero properties mean none; NUL in a name is refused. */
  pdpe_definition z = {.name = PU_STR_LIT("x.other")};
  cr_assert(cache_define_permissions_defs(tmp, "x", &z, 1, NULL, 0, &changed, h2, err, sizeof err),
            "%s", err);
  cr_assert(changed);
  pdpe_definition nul = {.name = {"a\0b", 3}};
  cr_assert_not(
      cache_define_permissions_defs(tmp, "x", &nul, 1, NULL, 0, &changed, h2, err, sizeof err));
  assert_has(err, "definitions[0].name: must not contain NUL");
  pu_arena_close(&a);
  cr_assert_str_eq(names_of("x"), "x.other,x.view");
}

/* Each child adds its own names one define at a time; with the lock none is lost. */
Test(cache_defs, concurrent_defines_from_two_processes_all_land) {
  enum { PER_CHILD = 30 };
  pid_t kids[2];
  for (int c = 0; c < 2; c++) {
    kids[c] = fork();
    cr_assert_geq(kids[c], 0);
    if (kids[c] == 0) {
      for (int i = 0; i < PER_CHILD; i++) {
        char text[64], err[512];
        bool changed;
        uint8_t h[32];
        snprintf(text, sizeof text, "[{\"name\": \"c%d.n%02d\"}]", c, i);
        if (!cache_define_permissions_text(tmp, "shared", "t", text, strlen(text), NULL, 0,
                                           &changed, h, err, sizeof err) ||
            !changed)
          _exit(1);
      }
      _exit(0);
    }
  }
  for (int c = 0; c < 2; c++) {
    int st;
    cr_assert_eq(waitpid(kids[c], &st, 0), kids[c]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed", c);
  }
  const char *names = names_of("shared");
  int count = 1;
  for (const char *p = names; *p; p++) count += *p == ',';
  cr_assert_eq(count, 2 * PER_CHILD, "%s", names);
  cr_assert_eq(count_entries("permissions"), 1, "no temp file was left");
}

Test(cache_defs, a_define_waits_for_the_source_lock) {
  char path[256];
  snprintf(path, sizeof path, "%s/" CACHE_SOURCE_LOCK_FILE, tmp);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  cr_assert_geq(fd, 0);
  cr_assert_eq(flock(fd, LOCK_EX), 0);
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  pid_t kid = fork();
  cr_assert_geq(kid, 0);
  if (kid == 0) {
    char err[512];
    bool changed;
    uint8_t h[32];
    close(pipefd[0]);
    const char *t = "[{\"name\": \"l\"}]";
    bool ok = cache_define_permissions_text(tmp, "late", "t", t, strlen(t), NULL, 0, &changed, h,
                                            err, sizeof err);
    (void)!write(pipefd[1], "x", 1);
    _exit(ok ? 0 : 1);
  }
  close(pipefd[1]);
  /* While the lock is held the child cannot finish (its write to the pipe never comes). */
  struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  cr_assert_null(slurp("permissions/late.json"), "the define went ahead without the lock");
  flock(fd, LOCK_UN);
  close(fd);
  char c;
  cr_assert_eq(read(pipefd[0], &c, 1), 1);
  close(pipefd[0]);
  int st;
  cr_assert_eq(waitpid(kid, &st, 0), kid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  cr_assert_not_null(slurp("permissions/late.json"));
}

/* ---- revocations ----------------------------------------------------------------------------- */

static uint64_t be64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | (uint8_t)p[i];
  return v;
}

Test(cache_revocations, the_file_becomes_sorted_jti_and_sub_rows) {
  put("revocations.json", "{\"subjects\": [{\"sub\": \"zed\", \"before\": 1700000000},\n"
                          "                {\"before\": 5, \"sub\": \"alice\"}],\n"
                          " \"jti\": [{\"jti\": \"t-2\", \"exp\": 1790000000}]}");
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache__revocations_rows_from_dir(&a, tmp, &rows, &n, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  cr_assert_eq(n, 3);
  const char *keys[] = {"jti:t-2", "sub:alice", "sub:zed"};
  const uint64_t vals[] = {1790000000, 5, 1700000000};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(rows[i].key_len, strlen(keys[i]));
    cr_assert_eq(memcmp(rows[i].key, keys[i], rows[i].key_len), 0, "row %d", i);
    cr_assert_eq(rows[i].val_len, 8);
    cr_assert_eq(be64(rows[i].val), vals[i]);
  }
  pu_arena_close(&a);
}

Test(cache_revocations, no_file_is_no_rows_and_errors_have_positions) {
  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n = 9;
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache__revocations_rows_from_dir(&a, tmp, &rows, &n, &d));
  cr_assert_eq(n, 0);
  const char *t = "{\"jti\": [{\"jti\": \"a\", \"exp\": -1},\n"
                  "         {\"jti\": \"\", \"exp\": 1},\n"
                  "         {\"jti\": \"a\", \"exp\": 2, \"why\": \"x\"}],\n"
                  " \"subjects\": [{\"sub\": \"s\"}], \"extra\": 1}";
  put("revocations.json", t);
  cr_assert_not(cache__revocations_rows_from_dir(&a, tmp, &rows, &n, &d));
  const char *all = diag_all(&d);
  char want[160];
  snprintf(want, sizeof want, "revocations.json:%s: jti[0].exp: expected an integer >= 0",
           pos_of(t, "-1"));
  assert_has(all, want);
  snprintf(want, sizeof want, "revocations.json:%s: jti[1].jti: ", pos_of(t, "\"\""));
  assert_has(all, want);
  snprintf(want, sizeof want, "revocations.json:%s: jti[2].why: unknown field",
           pos_of(t, "\"why\""));
  assert_has(all, want);
  assert_has(all, "subjects[0].before: missing");
  snprintf(want, sizeof want, "revocations.json:%s: extra: unknown field", pos_of(t, "\"extra\""));
  assert_has(all, want);
  cache_diag_close(&d);
  cache_diag_init(&d);
  put("revocations.json",
      "{\"jti\": [{\"jti\": \"a\", \"exp\": 1}, {\"jti\": \"a\", \"exp\": 2}]}");
  cr_assert_not(cache__revocations_rows_from_dir(&a, tmp, &rows, &n, &d));
  assert_has(diag_all(&d), "jti[1].jti: \"a\" is listed twice (jti[0] and jti[1])");
  cache_diag_close(&d);
  pu_arena_close(&a);
}

Test(cache_revocations, revoking_adds_raises_and_never_rewrites_for_nothing) {
  char err[512];
  bool changed = false;
  int64_t later = (int64_t)time(NULL) + 3600;
  cr_assert(cache_revoke_token_jti(tmp, "tok-1", later, &changed, err, sizeof err), "%s", err);
  cr_assert(changed);
  char path[256];
  snprintf(path, sizeof path, "%s/revocations.json", tmp);
  struct stat st1, st2;
  cr_assert_eq(stat(path, &st1), 0);
  cr_assert(cache_revoke_token_jti(tmp, "tok-1", later - 10, &changed, err, sizeof err));
  cr_assert_not(changed, "an earlier exp does not shorten the revocation");
  cr_assert(cache_revoke_token_jti(tmp, "tok-1", later, &changed, err, sizeof err));
  cr_assert_not(changed);
  cr_assert_eq(stat(path, &st2), 0);
  cr_assert_eq(st1.st_ino, st2.st_ino, "nothing was rewritten");
  cr_assert(cache_revoke_token_jti(tmp, "tok-1", later + 10, &changed, err, sizeof err));
  cr_assert(changed);
  cr_assert(cache_revoke_subject(tmp, "alice", 1700000000, &changed, err, sizeof err));
  cr_assert(changed);
  cr_assert(cache_revoke_subject(tmp, "alice", 1600000000, &changed, err, sizeof err));
  cr_assert_not(changed);
  cr_assert_not(cache_revoke_subject(tmp, "", 1, &changed, err, sizeof err));
  cr_assert_not(cache_revoke_token_jti(tmp, "x", -5, &changed, err, sizeof err));
  cr_assert_not(cache_revoke_token_jti(tmp, "\xff\xfe", 5, &changed, err, sizeof err));

  pu_arena a;
  pu_arena_init(&a, 4096, 0);
  cache__row *rows;
  uint32_t n;
  cache_diag d;
  cache_diag_init(&d);
  cr_assert(cache__revocations_rows_from_dir(&a, tmp, &rows, &n, &d), "%s", diag_all(&d));
  cache_diag_close(&d);
  cr_assert_eq(n, 2);
  cr_assert_eq(be64(rows[0].val), (uint64_t)(later + 10));
  cr_assert_eq(be64(rows[1].val), 1700000000u);
  pu_arena_close(&a);
  cr_assert_eq(count_entries("."), 2, "revocations.json and the lock file, no temp file");
}

Test(cache_revocations, a_rewrite_drops_jti_entries_expired_over_a_day_ago) {
  int64_t now = (int64_t)time(NULL);
  char text[256];
  snprintf(text, sizeof text,
           "{\"jti\": [{\"jti\": \"old\", \"exp\": %lld}, {\"jti\": \"recent\", \"exp\": %lld}], "
           "\"subjects\": [{\"sub\": \"s\", \"before\": 1}]}",
           (long long)(now - 2 * 86400), (long long)(now - 3600));
  put("revocations.json", text);
  char err[512];
  bool changed = true;
  cr_assert(cache_revoke_token_jti(tmp, "ancient", now - 3 * 86400, &changed, err, sizeof err));
  cr_assert_not(changed, "a long-expired token needs no revocation");
  cr_assert(cache_revoke_token_jti(tmp, "new", now + 60, &changed, err, sizeof err), "%s", err);
  cr_assert(changed);
  const char *file = slurp("revocations.json");
  cr_assert_null(strstr(file, "\"old\""), "%s", file);
  cr_assert_not_null(strstr(file, "\"recent\""), "%s", file);
  cr_assert_not_null(strstr(file, "\"new\""), "%s", file);
  cr_assert_not_null(strstr(file, "\"sub\":\"s\""), "subjects are kept: %s", file);
}

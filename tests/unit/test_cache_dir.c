/* test_cache_dir.c - loading a bundle directory: real files in temp folders.
 *
 * A bundle is accepted whole or not at all, every error of every file is reported with its
 * position, identical content gives an identical stamp wherever it lives, and template
 * links are checked against their templates.
 */
#include <criterion/criterion.h>

#include "../../cache/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/pdpd-cache-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

/* Write `text` to dir/rel (rel may name policies/x.cedar; the folder is created). */
static void put(const char *base, const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/policies", base);
  mkdir(base, 0755);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s", base, rel);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

static bool diag_has(const cache_diag *d, const char *needle) {
  for (uint32_t i = 0; i < d->n; i++)
    if (strstr(d->lines[i], needle)) return true;
  return false;
}

static const char *diag_all(const cache_diag *d) {
  static char buf[8192];
  size_t n = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->n && n < sizeof buf - 1; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", d->lines[i]);
  return buf;
}

static const char *policy = "@id(\"p\") permit(principal == User::\"a\", action, resource);\n";

TestSuite(cache_dir, .init = make_dir, .fini = remove_dir);

Test(cache_dir, the_example_bundle_loads_with_its_policies_links_and_entities) {
  const char *root = getenv("PDP_SOURCE_ROOT");
  cr_assert(root, "PDP_SOURCE_ROOT is not set");
  char path[1024];
  snprintf(path, sizeof path, "%s/examples/quickstart", root);
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *s = NULL;
  cr_assert(cache_dir_load(path, &s, &d), "%s", diag_all(&d));
  /* 8 parsed policies (one is a template) plus one template link. */
  cr_assert_eq(pdpe_policy_set_count(s->policies), 9);
  cr_assert_gt(pdpe_entities_count(s->entities), 10);
  cr_assert(strstr(s->source, "examples/quickstart"));
  pdpe_snapshot_unref(s);
  cache_diag_close(&d);
}

Test(cache_dir, identical_content_has_an_identical_stamp_anywhere) {
  char a[128], b[128];
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(b, sizeof b, "%s/b", dir);
  put(a, "policies/x.cedar", policy);
  put(b, "policies/x.cedar", policy);
  put(a, "entities.json", "[]");
  put(b, "entities.json", "[]");
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *sa = NULL, *sb = NULL, *sc = NULL;
  cr_assert(cache_dir_load(a, &sa, &d), "%s", diag_all(&d));
  cr_assert(cache_dir_load(b, &sb, &d), "%s", diag_all(&d));
  cr_assert_arr_eq(sa->stamp, sb->stamp, 32);
  /* One byte more in a policy file: another stamp. */
  put(b, "policies/x.cedar", "@id(\"p\") permit(principal == User::\"b\", action, resource);\n");
  cr_assert(cache_dir_load(b, &sc, &d), "%s", diag_all(&d));
  cr_assert(memcmp(sa->stamp, sc->stamp, 32) != 0);
  char hex[65];
  cr_assert_eq(strlen(cache_stamp_hex(sa->stamp, hex)), 64);
  pdpe_snapshot_unref(sa);
  pdpe_snapshot_unref(sb);
  pdpe_snapshot_unref(sc);
  cache_diag_close(&d);
}

Test(cache_dir, every_error_of_every_file_is_reported_and_nothing_is_loaded) {
  put(dir, "policies/a.cedar", "permit(principal, action, resource) when { 1 + };\n");
  put(dir, "policies/b.cedar",
      "permit(principal, action, resource);\nforbid(principal, action resource);\n");
  put(dir, "entities.json", "[{\"uid\": {\"type\": \"User\"}}]");
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *s = NULL;
  cr_assert_not(cache_dir_load(dir, &s, &d));
  cr_assert_null(s);
  cr_assert(diag_has(&d, "policies/a.cedar:1:"), "%s", diag_all(&d));
  cr_assert(diag_has(&d, "policies/b.cedar:2:"), "%s", diag_all(&d));
  cr_assert(diag_has(&d, "entities.json"), "%s", diag_all(&d));
  cache_diag_close(&d);
}

Test(cache_dir, a_missing_entities_file_means_no_stored_entities) {
  put(dir, "policies/x.cedar", policy);
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *s = NULL;
  cr_assert(cache_dir_load(dir, &s, &d), "%s", diag_all(&d));
  cr_assert_eq(pdpe_entities_count(s->entities), 0);
  pdpe_snapshot_unref(s);
  cache_diag_close(&d);
}

Test(cache_dir, a_folder_that_is_not_a_bundle_is_refused) {
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *s = NULL;
  cr_assert_not(cache_dir_load("/nonexistent/bundle", &s, &d));
  cr_assert(diag_has(&d, "/nonexistent/bundle"), "%s", diag_all(&d));
  cache_diag_close(&d);
  cache_diag_init(&d);
  cr_assert_not(cache_dir_load(dir, &s, &d)); /* no policies/ folder */
  cr_assert(diag_has(&d, "policies"), "%s", diag_all(&d));
  cache_diag_close(&d);
}

static const char *tmpl =
    "@id(\"t\") permit(principal == ?principal, action, resource in ?resource);\n";

static void expect_link_error(const char *links, const char *needle) {
  put(dir, "policies/x.cedar", tmpl);
  put(dir, "template-links.json", links);
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *s = NULL;
  cr_assert_not(cache_dir_load(dir, &s, &d), "accepted %s", links);
  cr_assert(diag_has(&d, needle), "expected '%s' in:\n%s", needle, diag_all(&d));
  cr_assert(diag_has(&d, "template-links.json"), "%s", diag_all(&d));
  cache_diag_close(&d);
}

Test(cache_dir, template_links_are_checked_against_their_templates) {
  const char *p = "\"?principal\": {\"type\": \"User\", \"id\": \"a\"}";
  const char *r = "\"?resource\": {\"__entity\": {\"type\": \"Doc\", \"id\": \"d\"}}";
  char buf[1024];
  snprintf(buf, sizeof buf, "[{\"templateId\": \"nope\", \"newId\": \"l\", \"values\": {%s, %s}}]",
           p, r);
  expect_link_error(buf, "no template with id 'nope'");
  snprintf(buf, sizeof buf, "[{\"templateId\": \"t\", \"newId\": \"l\", \"values\": {%s}}]", p);
  expect_link_error(buf, "uses ?resource");
  snprintf(buf, sizeof buf, "[{\"templateId\": \"t\", \"newId\": \"t\", \"values\": {%s, %s}}]", p,
           r);
  expect_link_error(buf, "duplicate policy id 't'");
  snprintf(buf, sizeof buf,
           "[{\"templateId\": \"t\", \"newId\": \"l\", \"values\": {%s, %s, \"?x\": 1}}]", p, r);
  expect_link_error(buf, "unknown slot");
  expect_link_error("{}", "expected an array");

  /* And a good link loads: the template itself plus one linked policy. */
  snprintf(buf, sizeof buf, "[{\"templateId\": \"t\", \"newId\": \"l\", \"values\": {%s, %s}}]", p,
           r);
  put(dir, "template-links.json", buf);
  cache_diag d;
  cache_diag_init(&d);
  pdpe_snapshot *s = NULL;
  cr_assert(cache_dir_load(dir, &s, &d), "%s", diag_all(&d));
  cr_assert_eq(pdpe_policy_set_count(s->policies), 2);
  pdpe_snapshot_unref(s);
  cache_diag_close(&d);
}

Test(cache_holder, readers_keep_an_old_snapshot_alive_across_a_swap) {
  cache_holder h;
  cache_holder_init(&h);
  cr_assert_null(cache_holder_acquire(&h));
  pdpe_snapshot *first = pdpe_snapshot_new();
  cache_holder_swap(&h, first);
  pdpe_snapshot *held = cache_holder_acquire(&h);
  cr_assert_eq(held, first);
  cache_holder_swap(&h, pdpe_snapshot_new()); /* the holder drops its reference to first */
  cr_assert_eq(atomic_load(&held->refs), 1);  /* only the reader's is left */
  pdpe_snapshot *now = cache_holder_acquire(&h);
  cr_assert_neq(now, first);
  pdpe_snapshot_unref(held);
  pdpe_snapshot_unref(now);
  cache_holder_close(&h);
}

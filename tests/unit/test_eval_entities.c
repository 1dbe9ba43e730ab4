/* test_eval_entities.c - entity JSON, the uid index and the hierarchy with request overlays. */
#include <criterion/criterion.h>

#include "test_eval_util.h"

TestSuite(eval_entities, .init = t_setup, .fini = t_teardown);

#define E(type, id, parents)                                                                       \
  "{\"uid\":{\"type\":\"" type "\",\"id\":\"" id "\"},\"attrs\":{},\"parents\":[" parents "]}"
#define P(type, id) "{\"type\":\"" type "\",\"id\":\"" id "\"}"

static int in(const pdpe_entities *req, const pdpe_entities *st, pdpe_uid a, pdpe_uid b) {
  return pdpe__entity_in(req, st, a, b, &T_arena);
}

Test(eval_entities, parents_are_followed_transitively) {
  char err[256];
  pdpe_entities *es =
      t_entities("[" E("User", "a", P("Group", "g1")) "," E("Group", "g1", P("Group", "g2")) "," E(
                     "Group", "g2", P("Org", "o")) "]",
                 err, sizeof err);
  cr_assert_not_null(es, "%s", err);
  cr_assert_eq(pdpe_entities_count(es), 3);
  cr_assert_eq(in(NULL, es, U("User", "a"), U("Org", "o")), 1, "Org is not stored but is a parent");
  cr_assert_eq(in(NULL, es, U("User", "a"), U("Group", "g2")), 1);
  cr_assert_eq(in(NULL, es, U("Group", "g2"), U("User", "a")), 0);
  cr_assert_eq(in(NULL, es, U("User", "zz"), U("User", "zz")), 1, "every entity is in itself");
  cr_assert_not_null(pdpe_entities_find(es, U("Group", "g1")));
  cr_assert_null(pdpe_entities_find(es, U("Group", "g3")));
}

Test(eval_entities, a_cycle_in_the_hierarchy_is_refused_naming_an_entity_on_it) {
  char err[256];
  pdpe_entities *es =
      t_entities("[" E("G", "t", P("G", "a")) "," E("G", "a", P("G", "b")) "," E(
                     "G", "b", P("G", "c")) "," E("G", "c", P("G", "a") "," P("G", "d")) "]",
                 err, sizeof err);
  cr_assert_null(es);
  cr_assert(strstr(err, "cycle") &&
                (strstr(err, "G::\"a\"") || strstr(err, "G::\"b\"") || strstr(err, "G::\"c\"")),
            "%s", err);
  es = t_entities("[" E("G", "s", P("G", "s")) "]", err, sizeof err);
  cr_assert_null(es, "an entity that is its own parent is a cycle");
  cr_assert(strstr(err, "cycle") && strstr(err, "G::\"s\""), "%s", err);
  es = t_entities("[" E("G", "x", P("G", "y") "," P("G", "z")) "," E("G", "y", P("G", "z")) "," E(
                      "G", "z", "") "]",
                  err, sizeof err);
  cr_assert_not_null(es, "a diamond is not a cycle: %s", err);
  cr_assert_eq(in(NULL, es, U("G", "x"), U("G", "z")), 1);
}

Test(eval_entities, a_cycle_through_request_entities_still_terminates) {
  char err[256];
  pdpe_entities *es = t_entities("[" E("G", "a", P("G", "b")) "]", err, sizeof err);
  cr_assert_not_null(es, "%s", err);
  pdpe_entities *req = t_entities("[" E("G", "b", P("G", "a")) "]", err, sizeof err);
  cr_assert_not_null(req, "%s", err);
  cr_assert_eq(in(req, es, U("G", "a"), U("G", "zz")), 0);
  cr_assert_eq(in(req, es, U("G", "b"), U("G", "a")), 1);
  cr_assert_eq(in(req, es, U("G", "a"), U("G", "b")), 1);
}

static pdpe_uid num_uid(const char *type, uint32_t k) {
  char buf[24];
  snprintf(buf, sizeof buf, "%u", k);
  return (pdpe_uid){pu_str_c(type), pu_arena_str(&T_arena, pu_str_c(buf))};
}

/* n entities N::"0".. where N::"i" has parents N::"i+1" .. N::"i+fan" (those past n-1 are
 * only named as parents). */
static pdpe_entities *ladder(uint32_t n, uint32_t fan) {
  pdpe_entity *items = pu_arena_zalloc(&T_arena, sizeof(pdpe_entity) * n);
  cr_assert_not_null(items);
  for (uint32_t i = 0; i < n; i++) {
    items[i].uid = num_uid("N", i);
    items[i].parents = pu_arena_alloc(&T_arena, sizeof(pdpe_uid) * fan);
    cr_assert_not_null(items[i].parents);
    for (uint32_t p = 0; p < fan; p++) items[i].parents[p] = num_uid("N", i + 1 + p);
    items[i].n_parents = fan;
    items[i].attrs = items[i].tags = (pdpe_value){.kind = PDPE_RECORD};
  }
  pdpe_entities *es = NULL;
  char err[256];
  cr_assert(pdpe_entities_build(&T_arena, items, n, "ladder", &es, err, sizeof err), "%s", err);
  return es;
}

Test(eval_entities, a_deep_chain_builds_and_answers_in) {
  pdpe_entities *es = ladder(6000, 1);
  cr_assert_eq(in(NULL, es, num_uid("N", 0), num_uid("N", 5999)), 1);
  cr_assert_eq(in(NULL, es, num_uid("N", 0), num_uid("N", 6000)), 1,
               "the last parent is not an entity");
  cr_assert_eq(in(NULL, es, num_uid("N", 5800), num_uid("N", 5900)), 1);
  cr_assert_eq(in(NULL, es, num_uid("N", 5999), num_uid("N", 0)), 0);
  cr_assert_eq(in(NULL, es, num_uid("N", 3000), num_uid("N", 2999)), 0);
  char err[256];
  pdpe_entities *req = t_entities("[" E("R", "r", P("N", "0")) "]", err, sizeof err);
  cr_assert_not_null(req, "%s", err);
  cr_assert_eq(in(req, es, U("R", "r"), num_uid("N", 5999)), 1);
  cr_assert_eq(in(req, es, U("R", "r"), num_uid("N", 7000)), 0);
}

Test(eval_entities, many_entities_with_many_parents_build_and_answer_in) {
  pdpe_entities *es = ladder(1000, 100);
  cr_assert_eq(in(NULL, es, num_uid("N", 0), num_uid("N", 999)), 1);
  cr_assert_eq(in(NULL, es, num_uid("N", 0), num_uid("N", 1099)), 1);
  cr_assert_eq(in(NULL, es, num_uid("N", 990), num_uid("N", 1050)), 1);
  cr_assert_eq(in(NULL, es, num_uid("N", 990), num_uid("N", 1100)), 0);
  cr_assert_eq(in(NULL, es, num_uid("N", 500), num_uid("N", 400)), 0);
  cr_assert_eq(in(NULL, es, num_uid("N", 999), num_uid("N", 999)), 1);
}

Test(eval_entities, request_entities_win_and_in_walks_both_sets) {
  char err[256];
  pdpe_entities *st = t_entities(
      "[" E("Doc", "d", P("Folder", "old")) "," E(
          "Folder", "f",
          P("Folder", "root")) ","
                               "{\"uid\":" P("User", "u") ",\"attrs\":{\"n\":1},\"parents\":[]}]",
      err, sizeof err);
  pdpe_entities *req = t_entities(
      "[" E("Doc", "d",
            P("Folder", "f")) ","
                              "{\"uid\":" P("User", "u") ",\"attrs\":{\"n\":2},\"parents\":[]}]",
      err, sizeof err);
  cr_assert(st && req, "%s", err);
  cr_assert_eq(in(req, st, U("Doc", "d"), U("Folder", "root")), 1,
               "request parent, then stored grandparent");
  cr_assert_eq(in(req, st, U("Doc", "d"), U("Folder", "old")), 0,
               "the request entity replaces the stored one");
  cr_assert_eq(in(NULL, st, U("Doc", "d"), U("Folder", "old")), 1);
  const pdpe_entity *u = pdpe__entity_find2(req, st, U("User", "u"));
  cr_assert_eq(pdpe__record_get(&u->attrs, pu_str_c("n"))->u.l, 2);
  /* A stored entity whose ancestor is replaced by a request entity follows the new parents. */
  pdpe_entities *st2 =
      t_entities("[" E("A", "x", P("B", "y")) "," E("B", "y", P("C", "old")) "]", err, sizeof err);
  pdpe_entities *req2 = t_entities("[" E("B", "y", P("C", "new")) "]", err, sizeof err);
  cr_assert_eq(in(req2, st2, U("A", "x"), U("C", "new")), 1);
  cr_assert_eq(in(req2, st2, U("A", "x"), U("C", "old")), 0);
}

Test(eval_entities, duplicate_uids_are_refused) {
  char err[256];
  cr_assert_null(
      t_entities("[" E("U", "a", "") "," E("U", "b", "") "," E("U", "a", "") "]", err, sizeof err));
  cr_assert(strstr(err, "entities[2]") && strstr(err, "duplicate entity uid"), "%s", err);
}

Test(eval_entities, malformed_items_name_their_path) {
  char err[256];
  cr_assert_null(t_entities("[" E("U", "a", "") "," E("U", "b", "") "," E("U", "c", "42") "]", err,
                            sizeof err));
  cr_assert(strstr(err, "entities[2].parents[0]: expected an object with type and id"), "%s", err);
  cr_assert_null(t_entities("[{\"uid\":{\"type\":\"U\"},\"attrs\":{}}]", err, sizeof err));
  cr_assert(strstr(err, "entities[0].uid: expected an object with type and id"), "%s", err);
  cr_assert_null(t_entities("[{\"uid\":" P("U", "a") ",\"attrs\":{\"owner\":{\"x\":null}}}]", err,
                            sizeof err));
  cr_assert(strstr(err, "entities[0].attrs.owner.x"), "%s", err);
  cr_assert_null(t_entities("{}", err, sizeof err));
  cr_assert(strstr(err, "expected an array"), "%s", err);
  cr_assert_null(t_entities("[{\"uid\":" P("U", "a") ",\"color\":1}]", err, sizeof err));
  cr_assert(strstr(err, "unknown field 'color'"), "%s", err);
}

Test(eval_entities, hostile_deep_attributes_are_refused) {
  char text[512] = "[{\"uid\":" P("U", "a") ",\"attrs\":{\"x\":";
  for (int i = 0; i < PDPE_MAX_VALUE_DEPTH + 2; i++) strcat(text, "[");
  for (int i = 0; i < PDPE_MAX_VALUE_DEPTH + 2; i++) strcat(text, "]");
  strcat(text, "}}]");
  char err[256];
  cr_assert_null(t_entities(text, err, sizeof err));
  cr_assert(strstr(err, "nested too deeply"), "%s", err);
}

Test(eval_entities, tags_are_kept_apart_from_attributes) {
  char err[256];
  pdpe_entities *es = t_entities(
      "[{\"uid\":" P("U", "a") ",\"attrs\":{\"k\":1},\"parents\":[],\"tags\":{\"k\":\"t\"}}]", err,
      sizeof err);
  cr_assert_not_null(es, "%s", err);
  const pdpe_entity *e = pdpe_entities_find(es, U("U", "a"));
  cr_assert_eq(pdpe__record_get(&e->attrs, pu_str_c("k"))->kind, PDPE_LONG);
  cr_assert_eq(pdpe__record_get(&e->tags, pu_str_c("k"))->kind, PDPE_STRING);
}

/* test_eval_defs.c - permission definitions: disabled and tenancy verdicts, allowed
 * providers, the Action entities they add (groups, parents, the union with entities.json,
 * cycles), duplicate and bad definitions, copies in the snapshot, lookup by name, and the
 * release of the snapshot's grants. */
#include "test_eval_grants.h"

TestSuite(eval_defs, .init = setup, .fini = teardown);

Test(eval_defs, a_disabled_definition_denies_even_with_a_permit_and_a_grant) {
  grants("U:bob:orders.edit::G");
  pdpe_definition defs[2] = {D("orders.edit", "orders", ""), D("orders.view", "orders", "")};
  defs[0].disabled = true;
  load("@id(\"p\") permit(principal, action, resource);\n"
       "@id(\"bad\") forbid(principal, action, resource) when { principal.nope };",
       ENTS, defs, 2);
  cr_assert(denies(check("User", "bob", "orders.edit", NULL), "definition:orders.edit:disabled"));
  cr_assert_eq(check("User", "bob", "orders.edit", NULL).n_errors, 0);
  cr_assert_eq(G.lookups, 0);
  pdpe_decision d = check("User", "bob", "orders.view", NULL);
  cr_assert(allows(d, "p"));
  cr_assert_eq(d.n_errors, 1);
}

Test(eval_defs, tenancy_host_and_tenant_deny_the_wrong_side) {
  pdpe_definition defs[3] = {D("host.only", "", ""), D("tenant.only", "", ""), D("both", "", "")};
  defs[0].tenancy = PDPE_TENANCY_HOST;
  defs[1].tenancy = PDPE_TENANCY_TENANT;
  load("@id(\"p\") permit(principal, action, resource);", ENTS, defs, 3);
  cr_assert(denies(check("User", "alice", "host.only", NULL), "definition:host.only:tenancy"));
  cr_assert(allows(check("User", "bob", "host.only", NULL), "p"));
  cr_assert(allows(check("User", "carol", "host.only", NULL), "p")); /* tenant 42: host */
  cr_assert(allows(check("User", "alice", "tenant.only", NULL), "p"));
  cr_assert(denies(check("User", "bob", "tenant.only", NULL), "definition:tenant.only:tenancy"));
  cr_assert(denies(check("User", "nobody", "tenant.only", NULL), "definition:tenant.only:tenancy"));
  cr_assert(allows(check("User", "alice", "both", NULL), "p"));
  cr_assert(allows(check("User", "bob", "both", NULL), "p"));
  /* Disabled wins over tenancy. */
  pdpe_snapshot_unref(S);
  S = pdpe_snapshot_new();
  defs[0].disabled = true;
  load("@id(\"p\") permit(principal, action, resource);", ENTS, defs, 3);
  cr_assert(denies(check("User", "alice", "host.only", NULL), "definition:host.only:disabled"));
}

Test(eval_defs, allowed_providers_filter_the_grants_of_a_definition) {
  grants("U:bob:only.roles::G R:clerk:only.roles:acme:G C:app:only.roles::G "
         "U:bob:users.clients::G R:clerk:users.clients:acme:G C:suite:users.clients::G "
         "U:bob:undefined::G R:clerk:undefined:acme:G C:app:undefined::G");
  pdpe_definition defs[2] = {D("only.roles", "", ""), D("users.clients", "", "")};
  defs[0].providers = PDPE_PROVIDER_BIT(PDPE_PROVIDER_ROLE);
  defs[1].providers =
      PDPE_PROVIDER_BIT(PDPE_PROVIDER_USER) | PDPE_PROVIDER_BIT(PDPE_PROVIDER_CLIENT);
  load(NULL, ENTS, defs, 2);
  cr_assert(denies(check("User", "bob", "only.roles", NULL), ""));
  cr_assert(allows(check("User", "alice", "only.roles", NULL), "grant:R/clerk/only.roles@acme"));
  cr_assert(denies(check("Client", "app", "only.roles", NULL), ""));
  cr_assert(allows(check("User", "bob", "users.clients", NULL), "grant:U/bob/users.clients"));
  cr_assert(denies(check("User", "alice", "users.clients", NULL), ""));
  cr_assert(allows(check("Client", "app", "users.clients", NULL), "grant:C/suite/users.clients"));
  /* Actions without a definition take grants of every provider. */
  cr_assert(allows(check("User", "bob", "undefined", NULL), "grant:U/bob/undefined"));
  cr_assert(allows(check("User", "alice", "undefined", NULL), "grant:R/clerk/undefined@acme"));
  cr_assert(allows(check("Client", "app", "undefined", NULL), "grant:C/app/undefined"));
}

Test(eval_defs, definitions_become_actions_in_their_group_and_parent) {
  pdpe_definition defs[3] = {D("orders.view", "orders", ""),
                             D("orders.edit", "orders", "orders.view"),
                             D("orders.delete", "", "orders.edit")};
  load("@id(\"grp\") permit(principal == User::\"bob\", action in Action::\"orders\", resource);\n"
       "@id(\"view\") permit(principal == User::\"alice\", action in Action::\"orders.view\", "
       "resource);",
       ENTS, defs, 3);
  cr_assert(allows(check("User", "bob", "orders.view", NULL), "grp"));
  cr_assert(allows(check("User", "bob", "orders.edit", NULL), "grp"));
  cr_assert(allows(check("User", "bob", "orders.delete", NULL), "grp")); /* via its parent */
  cr_assert(allows(check("User", "alice", "orders.delete", NULL), "view"));
  cr_assert(denies(check("User", "alice", "orders.other", NULL), ""));
  const pdpe_entity *e = pdpe_entities_find(S->entities, U("Action", "orders.edit"));
  cr_assert_not_null(e);
  cr_assert_eq(e->n_parents, 2);
  cr_assert_eq(pdpe_entities_count(S->entities), 10); /* 7 from JSON + 3 */
}

Test(eval_defs, an_action_in_entities_json_keeps_its_data_and_unions_parents) {
  pdpe_definition defs[2] = {D("orders.edit", "orders", "orders.view"), D("orders.view", "", "")};
  load("@id(\"all\") permit(principal == User::\"bob\", action in Action::\"everything\", "
       "resource);\n"
       "@id(\"grp\") permit(principal == User::\"alice\", action in Action::\"orders\", resource) "
       "when { action.risk == \"high\" };",
       "[{\"uid\":{\"type\":\"Action\",\"id\":\"orders.edit\"},\"attrs\":{\"risk\":\"high\"},"
       "\"parents\":[{\"type\":\"Action\",\"id\":\"everything\"},{\"type\":\"Action\",\"id\":"
       "\"orders\"}]},{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{},\"parents\":[]}]",
       defs, 2);
  cr_assert(allows(check("User", "bob", "orders.edit", NULL), "all"));
  cr_assert(allows(check("User", "alice", "orders.edit", NULL), "grp"));
  const pdpe_entity *e = pdpe_entities_find(S->entities, U("Action", "orders.edit"));
  cr_assert_not_null(e);
  cr_assert_eq(e->n_parents, 3); /* everything, orders (given once), orders.view */
  cr_assert(pu_str_eq_c(e->parents[0].id, "everything"));
  cr_assert(pu_str_eq_c(e->parents[2].id, "orders.view"));
  cr_assert_eq(pdpe_entities_count(S->entities), 3);
}

Test(eval_defs, a_cycle_through_definitions_is_rejected) {
  char err[300];
  pdpe_definition defs[2] = {D("a", "", "b"), D("b", "", "")};
  const char *ents = "[{\"uid\":{\"type\":\"Action\",\"id\":\"b\"},\"attrs\":{},\"parents\":[{"
                     "\"type\":\"Action\",\"id\":\"a\"}]}]";
  cr_assert_not(load_into(S, NULL, ents, defs, 2, err, sizeof err));
  cr_assert(strstr(err, "entities.json: entity hierarchy has a cycle containing Action::"), "%s",
            err);
  cr_assert_null(S->entities);
  cr_assert_eq(S->n_definitions, 0);
  pdpe_definition self[1] = {D("x", "x", "")};
  cr_assert_not(load_into(S, NULL, NULL, self, 1, err, sizeof err));
  cr_assert(strstr(err, "cycle containing Action::\"x\""), "%s", err);
  pdpe_definition ring[3] = {D("p", "", "q"), D("q", "", "r"), D("r", "", "p")};
  cr_assert_not(load_into(S, NULL, NULL, ring, 3, err, sizeof err));
  cr_assert(strstr(err, "cycle"), "%s", err);
}

Test(eval_defs, a_name_defined_by_two_services_is_rejected_naming_both) {
  char err[300];
  pdpe_definition defs[3] = {D("orders.edit", "", ""), D("x", "", ""), D("orders.edit", "", "")};
  defs[0].service = PU_STR_LIT("shop");
  defs[2].service = PU_STR_LIT("billing");
  cr_assert_not(load_into(S, NULL, NULL, defs, 3, err, sizeof err));
  cr_assert(strstr(err, "'orders.edit'"), "%s", err);
  cr_assert(strstr(err, "'shop'") && strstr(err, "'billing'"), "%s", err);
  defs[2].service = PU_STR_LIT("shop");
  cr_assert_not(load_into(S, NULL, NULL, defs, 3, err, sizeof err));
  cr_assert(strstr(err, "defined twice by service 'shop'"), "%s", err);
  pdpe_definition empty[1] = {D("", "", "")};
  cr_assert_not(load_into(S, NULL, NULL, empty, 1, err, sizeof err));
  cr_assert(strstr(err, "name is empty"), "%s", err);
  pdpe_definition badp[1] = {D("y", "", "")};
  badp[0].providers = 1u;
  cr_assert_not(load_into(S, NULL, NULL, badp, 1, err, sizeof err));
  cr_assert(strstr(err, "allowed providers"), "%s", err);
  /* Bad entity JSON is reported as pdpe_entities_from_json reports it. */
  cr_assert_not(load_into(S, NULL, "{}", NULL, 0, err, sizeof err));
  cr_assert(strstr(err, "entities.json: expected an array"), "%s", err);
}

Test(eval_defs, definitions_are_copied_sorted_and_found_by_name) {
  char name[3][8] = {"c", "a", "b"};
  pdpe_value props = t_value("{\"risk\":\"high\",\"tags\":[\"x\",{\"__entity\":{\"type\":\"T\","
                             "\"id\":\"i\"}}],\"n\":{\"m\":1}}");
  pdpe_definition defs[3];
  for (int i = 0; i < 3; i++) defs[i] = D(name[i], "g", "");
  defs[1].properties = props;
  defs[1].display_name = PU_STR_LIT("The A");
  defs[2].properties = (pdpe_value){0}; /* zeroed: the empty record */
  load(NULL, NULL, defs, 3);
  memset(name, 'z', sizeof name); /* the snapshot holds copies */
  cr_assert_eq(S->n_definitions, 3);
  cr_assert(pu_str_eq_c(S->definitions[0].name, "a"));
  cr_assert(pu_str_eq_c(S->definitions[2].name, "c"));
  const pdpe_definition *a = pdpe_snapshot_definition(S, PU_STR_LIT("a"));
  cr_assert_not_null(a);
  cr_assert(pu_str_eq_c(a->display_name, "The A"));
  cr_assert(pdpe_value_eq(&a->properties, &props));
  cr_assert_neq(a->properties.u.rec.keys, props.u.rec.keys);
  cr_assert_eq(pdpe_snapshot_definition(S, PU_STR_LIT("b"))->properties.kind, PDPE_RECORD);
  cr_assert_null(pdpe_snapshot_definition(S, PU_STR_LIT("d")));
  cr_assert_null(pdpe_snapshot_definition(S, PU_STR_LIT("")));
  cr_assert_eq(pdpe_entities_count(S->entities), 3);
}

Test(eval_defs, the_last_unref_releases_the_grants_once) {
  grants("U:bob:e::G");
  load(NULL, NULL, NULL, 0);
  pdpe_snapshot *s2 = pdpe_snapshot_ref(S);
  pdpe_snapshot_unref(S);
  cr_assert_eq(G.releases, 0);
  pdpe_snapshot_unref(s2);
  cr_assert_eq(G.releases, 1);
  S = pdpe_snapshot_new(); /* for teardown; no release set */
  pdpe_snapshot_unref(S);
  cr_assert_eq(G.releases, 1);
  S = pdpe_snapshot_new();
}

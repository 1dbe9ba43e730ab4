/* test_eval_grants.c - grants in the decision: through the principal's hierarchy (stored
 * and request entities) and tenant, PROHIBIT and forbid precedence, reason ids and their
 * order, the `Action` type rule, lookups skipped or failing, principals with thousands of
 * ancestors, an exhausted arena, and ListAllowed on a fixed case. */
#include "test_eval_grants.h"

TestSuite(eval_grants, .init = setup, .fini = teardown);

/* ---- grants ---- */

Test(eval_grants, grant_ids_escape_separators_so_two_grants_never_share_an_id) {
  /* key "a/b" + permission "c" and key "a" + permission "b/c" would both read R/a/b/c */
  grants("U:a/b:c::G U:a:b/c::G U:m@x%:p::G");
  load(NULL, "[]", NULL, 0);
  cr_assert(allows(check("User", "a/b", "c", NULL), "grant:U/a%2Fb/c"));
  cr_assert(allows(check("User", "a", "b/c", NULL), "grant:U/a/b%2Fc"));
  cr_assert(allows(check("User", "m@x%", "p", NULL), "grant:U/m%40x%25/p"));
}

Test(eval_grants, user_role_and_client_grants_allow_their_principals) {
  grants("U:bob:orders.view::G R:clerk:orders.edit:acme:G C:app:orders.sync::G "
         "R:clerk:orders.host::G");
  load(NULL, ENTS, NULL, 0);
  cr_assert(allows(check("User", "bob", "orders.view", NULL), "grant:U/bob/orders.view"));
  cr_assert(allows(check("User", "alice", "orders.edit", NULL), "grant:R/clerk/orders.edit@acme"));
  cr_assert(allows(check("Client", "app", "orders.sync", NULL), "grant:C/app/orders.sync"));
  cr_assert(denies(check("User", "bob", "orders.edit", NULL), ""));
  cr_assert(denies(check("User", "alice", "orders.view", NULL), ""));
  /* A role principal is `in` its own role (and, without a tenant, is host). */
  cr_assert(allows(check("Role", "clerk", "orders.host", NULL), "grant:R/clerk/orders.host"));
  cr_assert(denies(check("Role", "clerk", "orders.edit", NULL), ""));
}

Test(eval_grants, role_grants_apply_through_a_multi_level_hierarchy) {
  grants("R:member:reports.view:acme:G C:suite:orders.sync::G U:bob:x::G");
  load(NULL, ENTS, NULL, 0);
  /* alice -> clerk -> staff -> Group everyone -> member (a non-role in the middle). */
  cr_assert(
      allows(check("User", "alice", "reports.view", NULL), "grant:R/member/reports.view@acme"));
  cr_assert(allows(check("Client", "app", "orders.sync", NULL), "grant:C/suite/orders.sync"));
  /* A user below a user gets its grants (principal in User::"bob"). */
  pdpe_entities *es = req_entities(
      "[{\"uid\":{\"type\":\"User\",\"id\":\"kid\"},\"attrs\":{},\"parents\":[{\"type\":\"User\","
      "\"id\":\"bob\"}]}]");
  cr_assert(allows(check("User", "kid", "x", es), "grant:U/bob/x"));
}

Test(eval_grants, role_grants_apply_through_request_entities) {
  grants("R:auditor:reports.view::G R:member:reports.view::P R:staff:orders.view:acme:G");
  load(NULL, ENTS, NULL, 0);
  /* A new principal with a stored role; an override of bob with a new role. */
  pdpe_entities *es = req_entities(
      "[{\"uid\":{\"type\":\"User\",\"id\":\"dave\"},\"attrs\":{},\"parents\":[{\"type\":\"Role\","
      "\"id\":\"auditor\"}]},"
      "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{\"tenant\":\"acme\"},\"parents\":[{"
      "\"type\":\"Role\",\"id\":\"clerk\"}]}]");
  cr_assert(allows(check("User", "dave", "reports.view", es), "grant:R/auditor/reports.view"));
  cr_assert(allows(check("User", "bob", "orders.view", es), "grant:R/staff/orders.view@acme"));
  cr_assert(denies(check("User", "bob", "orders.view", NULL), ""));
  /* eve (host) reaches member through stored roles: the host PROHIBIT applies; when the
   * request cuts staff off from its parents, only the auditor's grant is left. */
  pdpe_entities *es2 = req_entities(
      "[{\"uid\":{\"type\":\"User\",\"id\":\"eve\"},\"attrs\":{},\"parents\":[{\"type\":\"Role\","
      "\"id\":\"clerk\"},{\"type\":\"Role\",\"id\":\"auditor\"}]}]");
  cr_assert(denies(check("User", "eve", "reports.view", es2), "grant:R/member/reports.view"));
  pdpe_entities *es3 = req_entities(
      "[{\"uid\":{\"type\":\"User\",\"id\":\"eve\"},\"attrs\":{},\"parents\":[{\"type\":\"Role\","
      "\"id\":\"clerk\"},{\"type\":\"Role\",\"id\":\"auditor\"}]},"
      "{\"uid\":{\"type\":\"Role\",\"id\":\"staff\"},\"attrs\":{},\"parents\":[]}]");
  cr_assert(allows(check("User", "eve", "reports.view", es3), "grant:R/auditor/reports.view"));
}

Test(eval_grants, a_grant_applies_only_to_principals_of_its_tenant) {
  grants("R:clerk:a:acme:G R:clerk:b:other:G R:clerk:c::G U:bob:c::G U:carol:c::G U:bob:d:acme:G");
  load(NULL, ENTS, NULL, 0);
  cr_assert(allows(check("User", "alice", "a", NULL), "grant:R/clerk/a@acme"));
  cr_assert(denies(check("User", "alice", "b", NULL), ""));
  cr_assert(denies(check("User", "alice", "c", NULL), "")); /* host grant, tenant principal */
  cr_assert(allows(check("User", "bob", "c", NULL), "grant:U/bob/c"));
  cr_assert(denies(check("User", "bob", "d", NULL), "")); /* tenant grant, host principal */
  /* A tenant that is not a string counts as host. */
  cr_assert(allows(check("User", "carol", "c", NULL), "grant:U/carol/c"));
  /* The request's copy of the principal decides its tenant. */
  pdpe_entities *es = req_entities("[{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{"
                                   "\"tenant\":\"acme\"},\"parents\":[]}]");
  cr_assert(allows(check("User", "bob", "d", es), "grant:U/bob/d@acme"));
  cr_assert(denies(check("User", "bob", "c", es), ""));
}

Test(eval_grants, a_prohibit_beats_a_grant_and_a_permit_policy) {
  grants("R:clerk:e::G R:staff:e:acme:P U:alice:e:acme:G R:clerk:e:acme:G");
  load("@id(\"p\") permit(principal, action, resource);", ENTS, NULL, 0);
  cr_assert(denies(check("User", "alice", "e", NULL), "grant:R/staff/e@acme"));
  /* bob (host) is not prohibited: the permit allows. */
  cr_assert(allows(check("User", "bob", "e", NULL), "p"));
}

Test(eval_grants, a_forbid_policy_beats_a_grant_and_reasons_list_forbids_then_prohibits) {
  grants("U:alice:e:acme:G R:clerk:e:acme:P R:staff:e:acme:P U:bob:e::G");
  load("@id(\"f2\") forbid(principal in Role::\"staff\", action, resource);\n"
       "@id(\"p\") permit(principal, action, resource);\n"
       "@id(\"f1\") forbid(principal, action == Action::\"e\", resource) when { principal has "
       "tenant };",
       ENTS, NULL, 0);
  /* Forbids in policy order, then prohibits sorted. */
  cr_assert(
      denies(check("User", "alice", "e", NULL), "f2,f1,grant:R/clerk/e@acme,grant:R/staff/e@acme"));
  cr_assert(allows(check("User", "bob", "e", NULL), "p,grant:U/bob/e"));
  load("@id(\"f\") forbid(principal == User::\"bob\", action, resource);", ENTS, NULL, 0);
  cr_assert(denies(check("User", "bob", "e", NULL), "f"));
}

Test(eval_grants, allow_reasons_list_permits_in_policy_order_then_grants_sorted) {
  grants("U:alice:e:acme:G R:member:e:acme:G R:clerk:e:acme:G R:staff:e::G");
  load("@id(\"z\") permit(principal, action, resource);\n"
       "@id(\"a\") permit(principal in Role::\"staff\", action, resource);",
       ENTS, NULL, 0);
  cr_assert(allows(check("User", "alice", "e", NULL),
                   "z,a,grant:R/clerk/e@acme,grant:R/member/e@acme,grant:U/alice/e@acme"));
}

Test(eval_grants, actions_of_another_type_than_Action_ignore_grants) {
  grants("U:bob:e::G");
  load(NULL, ENTS, NULL, 0);
  cr_assert(denies(check_uid(U("User", "bob"), U("Verb", "e"), NULL), ""));
  cr_assert(denies(check_uid(U("User", "bob"), U("ns::Action", "e"), NULL), ""));
  cr_assert_eq(G.lookups, 0);
  cr_assert(allows(check("User", "bob", "e", NULL), "grant:U/bob/e"));
}

Test(eval_grants, a_snapshot_with_no_grants_does_no_lookups) {
  grants("U:bob:e::G");
  load("@id(\"p\") permit(principal == User::\"alice\", action, resource);", ENTS, NULL, 0);
  S->grants.count = 0;
  cr_assert(denies(check("User", "bob", "e", NULL), ""));
  cr_assert(allows(check("User", "alice", "e", NULL), "p"));
  cr_assert_eq(G.lookups, 0);
  S->grants.count = G.n;
  cr_assert(allows(check("User", "bob", "e", NULL), "grant:U/bob/e"));
  cr_assert_gt(G.lookups, 0);
}

Test(eval_grants, a_failed_lookup_never_allows_and_reports_the_error) {
  grants("U:bob:e::G");
  load("@id(\"p\") permit(principal, action, resource);", ENTS, NULL, 0);
  G.fail = true;
  pdpe_request req = {.principal = U("User", "bob"),
                      .action = U("Action", "e"),
                      .resource = U("Doc", "d1"),
                      .context = {.kind = PDPE_RECORD}};
  pdpe_decision d;
  cr_assert_not(pdpe_authorize(S, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_reason, 0);
  cr_assert_eq(d.n_errors, 1);
  cr_assert(pu_str_eq_c(d.errors[0].policy_id, "grants"));
  cr_assert(strstr(d.errors[0].message.ptr, "disk on fire"));
  cr_assert_not(pdpe_authorize_scan(S, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_DENY);
  pdpe_definition defs[1] = {D("e", "", "")};
  pdpe_snapshot_unref(S);
  S = pdpe_snapshot_new();
  load(NULL, ENTS, defs, 1);
  pdpe_uid *out;
  uint32_t n;
  cr_assert_not(pdpe_list_allowed(S, &req, (pu_str){"", 0}, &R, &out, &n));
}

Test(eval_grants, grants_reach_a_principal_with_thousands_of_ancestors) {
  /* A chain of 1500 roles: more than the stored entities keep and the index lists. */
  enum { N = 1500 };
  size_t cap = N * 120, len = 0;
  char *j = malloc(cap);
  len += (size_t)snprintf(j + len, cap - len,
                          "[{\"uid\":{\"type\":\"User\",\"id\":\"deep\"},\"attrs\":{},\"parents\":"
                          "[{\"type\":\"Role\",\"id\":\"r0\"}]}");
  for (int i = 0; i < N; i++) {
    len += (size_t)snprintf(j + len, cap - len,
                            ",{\"uid\":{\"type\":\"Role\",\"id\":\"r%d\"},"
                            "\"attrs\":{},\"parents\":[",
                            i);
    if (i + 1 < N)
      len += (size_t)snprintf(j + len, cap - len, "{\"type\":\"Role\",\"id\":\"r%d\"}", i + 1);
    len += (size_t)snprintf(j + len, cap - len, "]}");
  }
  snprintf(j + len, cap - len, "]");
  grants("R:r1499:e::G R:r1400:f::P");
  pdpe_definition defs[2] = {D("e", "", ""), D("f", "", "")};
  load("@id(\"p\") permit(principal in Role::\"r1499\", action == Action::\"f\", resource);", j,
       defs, 2);
  free(j);
  cr_assert(allows(check("User", "deep", "e", NULL), "grant:R/r1499/e"));
  cr_assert(denies(check("User", "deep", "f", NULL), "grant:R/r1400/f"));
  /* Through a request entity too. */
  pdpe_entities *es = req_entities("[{\"uid\":{\"type\":\"User\",\"id\":\"new\"},\"attrs\":{},"
                                   "\"parents\":[{\"type\":\"Role\",\"id\":\"r3\"}]}]");
  cr_assert(allows(check("User", "new", "e", es), "grant:R/r1499/e"));
  pdpe_request req = {
      .principal = U("User", "deep"), .resource = U("Doc", "d1"), .context = {.kind = PDPE_RECORD}};
  pdpe_uid *out;
  uint32_t n;
  cr_assert(pdpe_list_allowed(S, &req, (pu_str){"", 0}, &R, &out, &n));
  cr_assert_eq(n, 1);
  cr_assert(pu_str_eq_c(out[0].id, "e"));
}

Test(eval_grants, an_exhausted_arena_never_allows) {
  grants("U:bob:e::G R:clerk:e:acme:G");
  pdpe_definition defs[1] = {D("e", "", "")};
  load("@id(\"p\") permit(principal in Role::\"staff\", action, resource) when { "
       "principal.tenant == \"acme\" };",
       ENTS, defs, 1);
  pdpe_request req = {.principal = U("User", "alice"),
                      .action = U("Action", "e"),
                      .resource = U("Doc", "d1"),
                      .context = {.kind = PDPE_RECORD}};
  uint32_t failed = 0, allowed = 0;
  for (size_t budget = 1; budget < 4096; budget += 16) {
    pu_arena small;
    pu_arena_init(&small, 256, budget);
    pdpe_decision d;
    bool ok = pdpe_authorize(S, &req, &small, &d);
    if (!ok) {
      failed++;
      cr_assert_eq(d.decision, PDPE_DENY);
    } else {
      allowed += d.decision == PDPE_ALLOW;
      cr_assert(reason_is(&d, "p,grant:R/clerk/e@acme"));
    }
    pdpe_uid *out;
    uint32_t n;
    if (pdpe_list_allowed(S, &req, (pu_str){"", 0}, &small, &out, &n)) cr_assert_eq(n, 1);
    pu_arena_close(&small);
  }
  cr_assert_gt(failed, 0);
  cr_assert_gt(allowed, 0);
}

/* ---- ListAllowed ---- */

Test(eval_grants, list_allowed_gives_the_allowed_definitions_in_name_order) {
  grants("R:clerk:orders.edit:acme:G R:staff:orders.delete:acme:P U:alice:billing.pay:acme:G");
  pdpe_definition defs[6] = {D("orders.view", "orders", ""),   D("orders.edit", "orders", ""),
                             D("orders.delete", "orders", ""), D("billing.pay", "", ""),
                             D("billing.view", "", ""),        D("orders.off", "orders", "")};
  defs[4].tenancy = PDPE_TENANCY_HOST;
  defs[5].disabled = true;
  load("@id(\"p\") permit(principal, action in Action::\"orders\", resource);\n"
       "@id(\"v\") permit(principal, action == Action::\"billing.view\", resource);",
       ENTS, defs, 6);
  pdpe_request req = {.principal = U("User", "alice"),
                      .action = U("Ignored", "x"),
                      .resource = U("Doc", "d1"),
                      .context = {.kind = PDPE_RECORD}};
  pdpe_uid *out;
  uint32_t n;
  cr_assert(pdpe_list_allowed(S, &req, PU_STR_LIT(""), &R, &out, &n));
  const char *want[] = {"billing.pay", "orders.edit", "orders.view"};
  cr_assert_eq(n, 3);
  for (uint32_t i = 0; i < n; i++) {
    cr_assert(pu_str_eq_c(out[i].type, "Action"));
    cr_assert(pu_str_eq_c(out[i].id, want[i]), "%u: %.*s", i, (int)out[i].id.len, out[i].id.ptr);
  }
  cr_assert(pdpe_list_allowed(S, &req, PU_STR_LIT("orders."), &R, &out, &n));
  cr_assert_eq(n, 2);
  cr_assert(pdpe_list_allowed(S, &req, PU_STR_LIT("orders.edit"), &R, &out, &n));
  cr_assert_eq(n, 1);
  cr_assert(pdpe_list_allowed(S, &req, PU_STR_LIT("zz"), &R, &out, &n));
  cr_assert_eq(n, 0);
  req.principal = U("User", "bob");
  cr_assert(pdpe_list_allowed(S, &req, PU_STR_LIT(""), &R, &out, &n));
  cr_assert_eq(n, 4); /* billing.view, orders.delete, orders.edit, orders.view */
  cr_assert(pu_str_eq_c(out[0].id, "billing.view"));
}

/* test_eval_authz.c - the authorizer on policy text: scopes, conditions, precedence,
 * errors, the action index and snapshots. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "test_eval_util.h"

static pdpe_snapshot *S;
static pu_arena R; /* per-request arena */

static void setup(void) {
  t_setup();
  pu_arena_init(&R, 4096, 0);
  S = pdpe_snapshot_new();
}
static void teardown(void) {
  pdpe_snapshot_unref(S);
  pu_arena_close(&R);
  t_teardown();
}
TestSuite(eval_authz, .init = setup, .fini = teardown);

static const char *ENTS =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"dept\":\"eng\"},\"parents\":[{"
    "\"type\":\"Role\",\"id\":\"admin\"}]},"
    "{\"uid\":{\"type\":\"Role\",\"id\":\"admin\"},\"attrs\":{},\"parents\":[{\"type\":\"Role\","
    "\"id\":\"staff\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"view\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\","
    "\"id\":\"read\"}]},"
    "{\"uid\":{\"type\":\"Doc\",\"id\":\"d1\"},\"attrs\":{\"owner\":{\"__entity\":{\"type\":"
    "\"User\",\"id\":\"alice\"}}},"
    " \"parents\":[{\"type\":\"Folder\",\"id\":\"f\"}]}]";

static void load(const char *policies) {
  pdpl_policies pols = {0};
  static pdpl_errors errs;
  memset(&errs, 0, sizeof errs);
  uint32_t n = pdpl_parse(&S->arena, "p.cedar", policies, strlen(policies), NULL, &pols, &errs);
  char buf[300];
  cr_assert_eq(n, 0, "parse: %s", n ? pdpl_error_format(&errs.items[0], buf, sizeof buf) : "");
  char err[300];
  cr_assert(pdpe_policy_set_build(&S->arena, &pols, &S->policies, err, sizeof err), "%s", err);
  json_t *j = t_json(ENTS);
  cr_assert(pdpe_entities_from_json(&S->arena, j, "e.json", &S->entities, err, sizeof err), "%s",
            err);
  json_decref(j);
}

static pdpe_decision check(const char *pid, const char *aid, const char *rtype, const char *rid) {
  pdpe_request req = {.principal = U("User", pid),
                      .action = U("Action", aid),
                      .resource = U(rtype, rid),
                      .context = {.kind = PDPE_RECORD}};
  pdpe_decision d;
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  return d;
}

static bool reason_is(const pdpe_decision *d, const char *ids) {
  char buf[256] = "";
  for (uint32_t i = 0; i < d->n_reason; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.*s", i ? "," : "",
             (int)d->reason[i].len, d->reason[i].ptr);
  return strcmp(buf, ids) == 0;
}

Test(eval_authz, default_is_deny_with_no_reason) {
  load("permit(principal == User::\"bob\", action, resource);");
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_reason, 0);
  cr_assert_eq(d.n_errors, 0);
}

Test(eval_authz, a_satisfied_forbid_beats_any_permit) {
  load("permit(principal, action, resource);\n"
       "forbid(principal in Role::\"staff\", action, resource);\n"
       "permit(principal == User::\"alice\", action, resource);\n"
       "forbid(principal, action, resource) when { false };");
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert(reason_is(&d, "policy1"));
  d = check("bob", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert(reason_is(&d, "policy0"));
}

Test(eval_authz, scopes_follow_the_hierarchy_and_types) {
  load("@id(\"in\") permit(principal in Role::\"staff\", action in Action::\"read\", resource in "
       "Folder::\"f\");\n"
       "@id(\"is\") permit(principal is User, action in [Action::\"x\", Action::\"view\"], "
       "resource is Doc in Folder::\"f\");\n"
       "@id(\"eq\") permit(principal, action == Action::\"view\", resource == Doc::\"d1\");\n"
       "@id(\"no\") permit(principal is Role, action, resource);");
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert(reason_is(&d, "in,is,eq"));
  d = check("bob", "edit", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
}

Test(eval_authz, conditions_use_attributes_of_entities) {
  load("permit(principal, action, resource) when { resource.owner == principal } unless { "
       "principal.dept == \"ops\" };");
  cr_assert_eq(check("alice", "view", "Doc", "d1").decision, PDPE_ALLOW);
  cr_assert_eq(check("bob", "view", "Doc", "d1").decision, PDPE_DENY);
}

Test(eval_authz, an_erroring_policy_is_skipped_and_reported_with_its_position) {
  load("permit(principal, action, resource);\n"
       "forbid(principal, action, resource) when {\n  principal.missing == 1 };\n"
       "permit(principal, action, resource) when { 1 + \"a\" == 2 };");
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert(reason_is(&d, "policy0"));
  cr_assert_eq(d.n_errors, 2);
  cr_assert(pu_str_eq_c(d.errors[0].policy_id, "policy1"));
  cr_assert(pu_str_eq_c(d.errors[1].policy_id, "policy2"));
  char msg[300];
  snprintf(msg, sizeof msg, "%.*s", (int)d.errors[0].message.len, d.errors[0].message.ptr);
  cr_assert(strstr(msg, "policy1 at p.cedar:3:") && strstr(msg, "attribute 'missing'"), "%s", msg);
}

Test(eval_authz, a_non_boolean_condition_is_an_error) {
  load("permit(principal, action, resource) when { 1 };");
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_errors, 1);
}

Test(eval_authz, the_action_index_keeps_policy_order) {
  load("permit(principal, action == Action::\"view\", resource);\n"
       "permit(principal, action, resource) when { principal == User::\"alice\" };\n"
       "permit(principal, action == Action::\"edit\", resource);\n"
       "permit(principal, action == Action::\"view\", resource);\n"
       "permit(principal, action in Action::\"read\", resource);");
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert(reason_is(&d, "policy0,policy1,policy3,policy4"));
  d = check("alice", "edit", "Doc", "d1");
  cr_assert(reason_is(&d, "policy1,policy2"));
  cr_assert_eq(pdpe_policy_set_count(S->policies), 5);
}

Test(eval_authz, duplicate_policy_ids_are_refused) {
  pdpl_policies pols = {0};
  static pdpl_errors errs;
  const char *text = "@id(\"a\") permit(principal, action, resource);\n@id(\"a\") "
                     "forbid(principal, action, resource);";
  cr_assert_eq(pdpl_parse(&S->arena, "p.cedar", text, strlen(text), NULL, &pols, &errs), 0);
  pdpe_policy_set *ps;
  char err[300];
  cr_assert_not(pdpe_policy_set_build(&S->arena, &pols, &ps, err, sizeof err));
  cr_assert(strstr(err, "'a'") && strstr(err, "p.cedar:1:1") && strstr(err, "p.cedar:2:1"), "%s",
            err);
}

Test(eval_authz, request_entities_override_stored_ones) {
  load("permit(principal, action, resource) when { resource.owner == principal };");
  char err[256];
  pdpe_entities *req_es =
      t_entities("[{\"uid\":{\"type\":\"Doc\",\"id\":\"d1\"},\"attrs\":{\"owner\":"
                 "{\"__entity\":{\"type\":\"User\",\"id\":\"bob\"}}},\"parents\":[]}]",
                 err, sizeof err);
  cr_assert_not_null(req_es, "%s", err);
  pdpe_request req = {.principal = U("User", "bob"),
                      .action = U("Action", "view"),
                      .resource = U("Doc", "d1"),
                      .context = {.kind = PDPE_RECORD},
                      .entities = req_es};
  pdpe_decision d;
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_ALLOW);
}

Test(eval_authz, an_exhausted_arena_never_allows) {
  load("permit(principal, action, resource) when { [1,2,3].contains(principal.dept == \"eng\") || "
       "true };");
  pu_arena tiny;
  pu_arena_init(&tiny, 64, 16);
  pdpe_request req = {
      .principal = U("User", "alice"), .action = U("Action", "view"), .resource = U("Doc", "d1")};
  pdpe_decision d;
  cr_assert_not(pdpe_authorize(S, &req, &tiny, &d));
  cr_assert_eq(d.decision, PDPE_DENY);
  pu_arena_close(&tiny);
}

Test(eval_authz, snapshots_are_reference_counted) {
  pdpe_snapshot *s = pdpe_snapshot_new();
  cr_assert_eq(atomic_load(&s->refs), 1);
  cr_assert_eq(pdpe_snapshot_ref(s), s);
  cr_assert_eq(atomic_load(&s->refs), 2);
  pdpe_snapshot_unref(s);
  cr_assert_eq(atomic_load(&s->refs), 1);
  pdpe_snapshot_unref(s); /* frees; the sanitizer run checks for leaks */
  pdpe_snapshot_unref(NULL);
  pdpe_request req = {0};
  pdpe_decision d;
  pdpe_snapshot *empty = pdpe_snapshot_new();
  cr_assert(pdpe_authorize(empty, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_DENY);
  pdpe_snapshot_unref(empty);
}

/* A policy whose condition is `op`-chain of n terms `principal == User::"u<i>"`, the last
 * one naming `last`; malloc'd text. */
static char *chain_policy(const char *op, int n, const char *last) {
  size_t cap = (size_t)n * 48 + 128, len = 0;
  char *s = malloc(cap);
  cr_assert(s);
  len += (size_t)snprintf(s + len, cap - len, "permit(principal, action, resource) when { ");
  for (int i = 0; i < n - 1; i++)
    len += (size_t)snprintf(s + len, cap - len, "principal %s User::\"u%d\" %s ",
                            strcmp(op, "||") ? "!=" : "==", i, op);
  snprintf(s + len, cap - len, "principal == User::\"%s\" };", last);
  return s;
}

Test(eval_authz, the_evaluator_accepts_every_chain_the_parser_accepts) {
  char *p = chain_policy("||", 900, "alice");
  load(p);
  free(p);
  pdpe_decision d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert_eq(d.n_errors, 0, "%.*s", d.n_errors ? (int)d.errors[0].message.len : 0,
               d.n_errors ? d.errors[0].message.ptr : "");
  d = check("bob", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_errors, 0);
}

Test(eval_authz, a_long_and_chain_decides_on_its_last_term) {
  char *p = chain_policy("&&", 900, "bob");
  load(p);
  free(p);
  pdpe_decision d = check("bob", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert_eq(d.n_errors, 0);
  d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_errors, 0);
}

/* Parse `policies`, link them with `links`, load the shared entities. */
static void load_linked(const char *policies, const pdpe_link *links, uint32_t n) {
  pdpl_policies pols = {0};
  static pdpl_errors errs;
  memset(&errs, 0, sizeof errs);
  cr_assert_eq(pdpl_parse(&S->arena, "t.cedar", policies, strlen(policies), NULL, &pols, &errs), 0);
  char err[300];
  cr_assert(pdpe_policy_set_build_linked(&S->arena, &pols, links, n, &S->policies, err, sizeof err),
            "%s", err);
  json_t *j = t_json(ENTS);
  cr_assert(pdpe_entities_from_json(&S->arena, j, "e.json", &S->entities, err, sizeof err), "%s",
            err);
  json_decref(j);
}

Test(eval_authz, a_template_link_decides_with_its_own_id_and_slot_values) {
  static pdpe_link links[2];
  links[0] = (pdpe_link){.template_id = PU_STR_LIT("share"),
                         .new_id = PU_STR_LIT("bob-d1"),
                         .has_principal = true,
                         .principal = U("User", "bob"),
                         .has_resource = true,
                         .resource = U("Doc", "d1")};
  /* `in ?resource` follows the hierarchy: linking to the folder covers its documents. */
  links[1] = (pdpe_link){.template_id = PU_STR_LIT("share"),
                         .new_id = PU_STR_LIT("alice-f"),
                         .has_principal = true,
                         .principal = U("User", "alice"),
                         .has_resource = true,
                         .resource = U("Folder", "f")};
  load_linked("@id(\"share\") permit(principal == ?principal, action == Action::\"view\", resource "
              "in ?resource);",
              links, 2);
  pdpe_decision d = check("bob", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert(reason_is(&d, "bob-d1"));
  d = check("alice", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert(reason_is(&d, "alice-f"));
  /* The template itself never decides, and a link covers only its own values. */
  d = check("bob", "view", "Doc", "d2");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_reason, 0);
  cr_assert_eq(d.n_errors, 0);
  /* Index and full scan agree on links too. */
  pdpe_request req = {.principal = U("User", "alice"),
                      .action = U("Action", "view"),
                      .resource = U("Doc", "d1"),
                      .context = {.kind = PDPE_RECORD}};
  pdpe_decision scan;
  cr_assert(pdpe_authorize_scan(S, &req, &R, &scan));
  cr_assert_eq(scan.decision, PDPE_ALLOW);
  cr_assert(reason_is(&scan, "alice-f"));
}

Test(eval_authz, an_unlinked_template_is_never_evaluated) {
  load_linked("@id(\"share\") permit(principal == ?principal, action, resource);", NULL, 0);
  pdpe_decision d = check("bob", "view", "Doc", "d1");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_errors, 0);
}

/* test_eval_grants.c - grants and permission definitions in the decision: grants through
 * the principal's hierarchy and tenant, PROHIBIT and forbid precedence, disabled and
 * tenancy definitions, allowed providers, reason ids and order, lookup failures, the
 * Action entities definitions add (pdpe_snapshot_set_data), ListAllowed, and randomised
 * comparisons: indexed == scan, grants == the Cedar policies they stand for, ListAllowed
 * == one check per definition.
 *
 * The grants live in an in-test pdpe_grants: a sorted array searched by natural key, a
 * real (if small) implementation of the interface cache/ implements over LMDB. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "test_eval_util.h"

/* ---- an in-test grant table ---- */

typedef struct row {
  pdpe_provider provider;
  char key[32], perm[32], tenant[16];
  pdpe_effect effect;
} row;

typedef struct table {
  row rows[512];
  uint32_t n;
  uint32_t lookups;  /* calls of lookup */
  uint32_t releases; /* calls of release */
  bool fail;         /* lookup answers -1 */
} table;

static table G;

static int cmp_key(pdpe_provider p, pu_str k, pu_str perm, pu_str t, const row *r) {
  if (p != r->provider) return p < r->provider ? -1 : 1;
  int c = pu_str_cmp(k, pu_str_c(r->key));
  if (!c) c = pu_str_cmp(perm, pu_str_c(r->perm));
  if (!c) c = pu_str_cmp(t, pu_str_c(r->tenant));
  return c;
}
static int cmp_row(const void *a, const void *b) {
  const row *x = a;
  return cmp_key(x->provider, pu_str_c(x->key), pu_str_c(x->perm), pu_str_c(x->tenant), b);
}

static int g_lookup(void *ctx, const pdpe_grant_key *k, char *err, size_t cap) {
  table *t = ctx;
  t->lookups++;
  if (t->fail) {
    snprintf(err, cap, "disk on fire");
    return -1;
  }
  uint32_t lo = 0, hi = t->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = cmp_key(k->provider, k->key, k->permission, k->tenant, &t->rows[mid]);
    if (c == 0) return t->rows[mid].effect;
    if (c > 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return PDPE_EFFECT_NONE;
}
static void g_release(void *ctx) {
  ((table *)ctx)->releases++;
}

/* Adds a row unless its natural key is taken; keeps the table sorted. */
static bool g_add(char prov, const char *key, const char *perm, const char *tenant, char effect) {
  row r = {.provider = prov == 'R'   ? PDPE_PROVIDER_ROLE
                       : prov == 'U' ? PDPE_PROVIDER_USER
                                     : PDPE_PROVIDER_CLIENT,
           .effect = effect == 'G' ? PDPE_EFFECT_GRANT : PDPE_EFFECT_PROHIBIT};
  snprintf(r.key, sizeof r.key, "%s", key);
  snprintf(r.perm, sizeof r.perm, "%s", perm);
  snprintf(r.tenant, sizeof r.tenant, "%s", tenant);
  for (uint32_t i = 0; i < G.n; i++)
    if (cmp_row(&r, &G.rows[i]) == 0) return false;
  cr_assert_lt(G.n, 512);
  G.rows[G.n++] = r;
  qsort(G.rows, G.n, sizeof(row), cmp_row);
  return true;
}

/* "R:admin:orders.edit:acme:G U:bob:orders.view::P" (provider:key:perm:tenant:effect). */
static void grants(const char *spec) {
  char f[5][32];
  const char *p = spec;
  while (*p) {
    while (*p == ' ') p++;
    if (!*p) break;
    for (int i = 0; i < 5; i++) {
      size_t n = 0;
      while (*p && *p != ':' && *p != ' ') f[i][n++] = *p++;
      f[i][n] = '\0';
      if (*p == ':') p++;
    }
    cr_assert(g_add(f[0][0], f[1], f[2], f[3], f[4][0]), "duplicate test grant");
  }
}

/* ---- snapshots ---- */

static pdpe_snapshot *S;
static pu_arena R; /* per-request arena */

static void setup(void) {
  t_setup();
  pu_arena_init(&R, 4096, 0);
  memset(&G, 0, sizeof G);
  S = pdpe_snapshot_new();
}
static void teardown(void) {
  pdpe_snapshot_unref(S);
  pu_arena_close(&R);
  t_teardown();
}
TestSuite(eval_grants, .init = setup, .fini = teardown);

static pdpe_definition D(const char *name, const char *group, const char *parent) {
  return (pdpe_definition){.name = pu_str_c(name),
                           .group = pu_str_c(group),
                           .parent = pu_str_c(parent),
                           .service = PU_STR_LIT("orders"),
                           .properties = {.kind = PDPE_RECORD}};
}

/* Policies (NULL: none), entity JSON (NULL: none) and definitions into s; false with the
 * message of set_data in err. */
static bool load_into(pdpe_snapshot *s, const char *policies, const char *entities,
                      const pdpe_definition *defs, uint32_t n_defs, char *err, size_t cap) {
  if (policies) {
    pdpl_policies pols = {0};
    static pdpl_errors errs;
    memset(&errs, 0, sizeof errs);
    size_t len = strlen(policies);
    char *copy = pu_arena_memdup(&s->arena, policies, len);
    uint32_t n = pdpl_parse(&s->arena, "p.cedar", copy, len, NULL, &pols, &errs);
    char b[300];
    cr_assert_eq(n, 0, "parse: %s", n ? pdpl_error_format(&errs.items[0], b, sizeof b) : "");
    cr_assert(pdpe_policy_set_build(&s->arena, &pols, &s->policies, err, cap), "%s", err);
  }
  json_t *j = entities ? t_json(entities) : NULL;
  cr_assert(!entities || j, "bad test JSON");
  bool ok = pdpe_snapshot_set_data(s, j, "entities.json", defs, n_defs, err, cap);
  json_decref(j);
  return ok;
}

static void load(const char *policies, const char *entities, const pdpe_definition *defs,
                 uint32_t n_defs) {
  char err[300];
  cr_assert(load_into(S, policies, entities, defs, n_defs, err, sizeof err), "%s", err);
  S->grants = (pdpe_grants){&G, g_lookup, g_release, G.n};
}

static void assert_same(const pdpe_decision *a, const pdpe_decision *b, const char *what) {
  cr_assert_eq(a->decision, b->decision, "%s: decision", what);
  cr_assert_eq(a->n_reason, b->n_reason, "%s: %u reasons vs %u", what, a->n_reason, b->n_reason);
  for (uint32_t i = 0; i < a->n_reason; i++)
    cr_assert(pu_str_eq(a->reason[i], b->reason[i]), "%s: reason %u: %.*s vs %.*s", what, i,
              (int)a->reason[i].len, a->reason[i].ptr, (int)b->reason[i].len, b->reason[i].ptr);
  cr_assert_eq(a->n_errors, b->n_errors, "%s: %u errors vs %u", what, a->n_errors, b->n_errors);
  for (uint32_t i = 0; i < a->n_errors; i++)
    cr_assert(pu_str_eq(a->errors[i].message, b->errors[i].message), "%s: error %u", what, i);
}

static pdpe_entities *req_entities(const char *json) {
  char err[256];
  json_t *j = t_json(json);
  cr_assert_not_null(j);
  pdpe_entities *es = NULL;
  bool ok = pdpe_entities_from_json(&R, j, "req.json", &es, err, sizeof err);
  json_decref(j);
  cr_assert(ok, "%s", err);
  return es;
}

/* One check, through the index and by a scan (they must agree). */
static pdpe_decision check_uid(pdpe_uid p, pdpe_uid a, const pdpe_entities *es) {
  pdpe_request req = {.principal = p,
                      .action = a,
                      .resource = U("Doc", "d1"),
                      .context = {.kind = PDPE_RECORD},
                      .entities = es};
  pdpe_decision d, s;
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert(pdpe_authorize_scan(S, &req, &R, &s));
  assert_same(&d, &s, "indexed vs scan");
  return d;
}
static pdpe_decision check(const char *ptype, const char *pid, const char *aid,
                           const pdpe_entities *es) {
  return check_uid(U(ptype, pid), U("Action", aid), es);
}

static bool reason_is(const pdpe_decision *d, const char *ids) {
  char buf[512] = "";
  for (uint32_t i = 0; i < d->n_reason; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.*s", i ? "," : "",
             (int)d->reason[i].len, d->reason[i].ptr);
  if (strcmp(buf, ids) != 0) cr_log_error("reasons: %s (expected %s)", buf, ids);
  return strcmp(buf, ids) == 0;
}

static bool allows(pdpe_decision d, const char *ids) {
  return d.decision == PDPE_ALLOW && reason_is(&d, ids);
}
static bool denies(pdpe_decision d, const char *ids) {
  return d.decision == PDPE_DENY && reason_is(&d, ids);
}

static const char *ENTS =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"tenant\":\"acme\"},"
    " \"parents\":[{\"type\":\"Role\",\"id\":\"clerk\"}]},"
    "{\"uid\":{\"type\":\"Role\",\"id\":\"clerk\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Role\",\"id\":\"staff\"}]},"
    "{\"uid\":{\"type\":\"Role\",\"id\":\"staff\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"everyone\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"everyone\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Role\",\"id\":\"member\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"carol\"},\"attrs\":{\"tenant\":42},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Client\",\"id\":\"app\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Client\",\"id\":\"suite\"}]}"
    "]";

/* ---- grants ---- */

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

/* ---- definitions ---- */

Test(eval_grants, a_disabled_definition_denies_even_with_a_permit_and_a_grant) {
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

Test(eval_grants, tenancy_host_and_tenant_deny_the_wrong_side) {
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

Test(eval_grants, allowed_providers_filter_the_grants_of_a_definition) {
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

Test(eval_grants, definitions_become_actions_in_their_group_and_parent) {
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

Test(eval_grants, an_action_in_entities_json_keeps_its_data_and_unions_parents) {
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

Test(eval_grants, a_cycle_through_definitions_is_rejected) {
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

Test(eval_grants, a_name_defined_by_two_services_is_rejected_naming_both) {
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

Test(eval_grants, definitions_are_copied_sorted_and_found_by_name) {
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

Test(eval_grants, the_last_unref_releases_the_grants_once) {
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

/* ---- randomised comparisons ---- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng_state >> 33) % n);
}

typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static void put(buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    cr_assert_geq(k, 0);
    if (b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    b->cap = b->cap ? b->cap * 2 + (size_t)k : 4096 + (size_t)k;
    b->p = realloc(b->p, b->cap);
    cr_assert_not_null(b->p);
  }
}

#define NU 6 /* users */
#define NR 6 /* roles */
#define NC 3 /* clients */
static const char *TENANTS[] = {"", "t0", "t1"};
static const char *ACTS[] = {"orders.view", "orders.edit", "orders.delete", "billing.view",
                             "billing.pay", "reports",     "misc.x",        "orders"};
#define NACT 8 /* the last two have no definition */
#define NDEF 6

/* Users (tenant absent or a string) in roles, sometimes in a user group; roles in higher
 * roles; clients in higher clients; Action "orders" in "all". */
static void gen_entities(buf *b) {
  put(b, "[{\"uid\":{\"type\":\"Action\",\"id\":\"orders\"},\"attrs\":{},\"parents\":[{\"type\":"
         "\"Action\",\"id\":\"all\"}]}");
  for (uint32_t i = 0; i < NU; i++) {
    put(b, ",{\"uid\":{\"type\":\"User\",\"id\":\"u%u\"},\"attrs\":{", i);
    uint32_t t = rnd(4);
    if (t < 3) put(b, "\"tenant\":\"%s\"", TENANTS[t]);
    if (rnd(2)) put(b, "%s\"level\":%u", t < 3 ? "," : "", rnd(3));
    put(b, "},\"parents\":[");
    uint32_t np = rnd(3);
    for (uint32_t p = 0; p < np; p++)
      put(b, "%s{\"type\":\"Role\",\"id\":\"r%u\"}", p ? "," : "", rnd(NR));
    if (i > 0 && !rnd(4)) put(b, "%s{\"type\":\"User\",\"id\":\"u%u\"}", np ? "," : "", rnd(i));
    put(b, "]}");
  }
  for (uint32_t i = 0; i < NR; i++) {
    put(b, ",{\"uid\":{\"type\":\"Role\",\"id\":\"r%u\"},\"attrs\":{},\"parents\":[", i);
    if (i + 1 < NR && rnd(2)) put(b, "{\"type\":\"Role\",\"id\":\"r%u\"}", i + 1 + rnd(NR - i - 1));
    put(b, "]}");
  }
  for (uint32_t i = 0; i < NC; i++) {
    put(b, ",{\"uid\":{\"type\":\"Client\",\"id\":\"c%u\"},\"attrs\":{},\"parents\":[", i);
    if (i + 1 < NC && rnd(2)) put(b, "{\"type\":\"Client\",\"id\":\"c%u\"}", i + 1);
    put(b, "]}");
  }
  put(b, "]");
}

static void gen_defs(pdpe_definition *d) {
  static const char *grp[NDEF] = {"orders", "orders", "orders", "billing", "billing", ""};
  static const char *par[NDEF] = {"", "orders.view", "orders.edit", "", "billing.view", ""};
  for (uint32_t i = 0; i < NDEF; i++) {
    d[i] = D(ACTS[i], grp[i], par[i]);
    d[i].disabled = rnd(8) == 0;
    d[i].tenancy = rnd(3) ? PDPE_TENANCY_BOTH : 1 + rnd(2);
    d[i].providers = rnd(2) ? 0 : (1 + rnd(7)) << 1;
  }
}

static void gen_grants(void) {
  memset(&G, 0, sizeof G);
  uint32_t n = 10 + rnd(40);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t p = rnd(3);
    char key[8];
    snprintf(key, sizeof key, "%c%u", "ruc"[p], rnd(p == 0 ? NR : p == 1 ? NU : NC));
    g_add("RUC"[p], key, ACTS[rnd(NACT)], TENANTS[rnd(3)], rnd(4) ? 'G' : 'P');
  }
}

static void gen_policies(buf *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    put(b, "@id(\"p%u\") %s(", i, rnd(4) ? "permit" : "forbid");
    switch (rnd(5)) {
    case 0:
      put(b, "principal");
      break;
    case 1:
      put(b, "principal in Role::\"r%u\"", rnd(NR));
      break;
    case 2:
      put(b, "principal == User::\"u%u\"", rnd(NU));
      break;
    case 3:
      put(b, "principal is Client");
      break;
    default:
      put(b, "principal is User in Role::\"r%u\"", rnd(NR));
      break;
    }
    switch (rnd(4)) {
    case 0:
      put(b, ", action, ");
      break;
    case 1:
      put(b, ", action == Action::\"%s\", ", ACTS[rnd(NACT)]);
      break;
    case 2:
      put(b, ", action in Action::\"%s\", ", rnd(2) ? "orders" : "billing");
      break;
    default:
      put(b, ", action in [Action::\"all\", Action::\"%s\"], ", ACTS[rnd(NACT)]);
      break;
    }
    put(b, rnd(3) ? "resource)" : "resource == Doc::\"d%u\")", rnd(2));
    if (!rnd(4)) put(b, " when { principal.level > %u }", rnd(2)); /* errors without level */
    put(b, ";\n");
  }
}

/* A request principal, action, resource and (sometimes) entities overriding a user, adding
 * a user, cutting or adding a role's parent. */
static pdpe_request gen_request(void) {
  pdpe_request req = {.resource = U("Doc", pu_arena_printf(&R, "d%u", rnd(2))),
                      .context = {.kind = PDPE_RECORD}};
  uint32_t k = rnd(10);
  req.principal = k < 6   ? U("User", pu_arena_printf(&R, "u%u", rnd(NU)))
                  : k < 7 ? U("User", "new")
                  : k < 8 ? U("Role", pu_arena_printf(&R, "r%u", rnd(NR)))
                          : U("Client", pu_arena_printf(&R, "c%u", rnd(NC)));
  uint32_t a = rnd(NACT + 1);
  req.action = a < NACT ? U("Action", ACTS[a]) : U("Other", ACTS[rnd(NACT)]);
  if (rnd(3) == 0) {
    buf b = {0};
    uint32_t t = rnd(4);
    const char *who = rnd(2) ? "new" : pu_arena_printf(&R, "u%u", rnd(NU));
    put(&b, "[{\"uid\":{\"type\":\"User\",\"id\":\"%s\"},\"attrs\":{", who);
    if (t < 3) put(&b, "\"tenant\":\"%s\"", TENANTS[t]);
    put(&b, "},\"parents\":[{\"type\":\"Role\",\"id\":\"r%u\"}]}", rnd(NR));
    uint32_t r = rnd(NR);
    put(&b, ",{\"uid\":{\"type\":\"Role\",\"id\":\"r%u\"},\"attrs\":{},\"parents\":[", r);
    if (rnd(2)) put(&b, "{\"type\":\"Role\",\"id\":\"r%u\"}", (r + 1 + rnd(NR - 1)) % NR);
    put(&b, "]}]");
    req.entities = req_entities(b.p);
    free(b.p);
  }
  return req;
}

typedef struct seen {
  uint32_t grant_allow, prohibit_deny, def_deny, policy_allow, forbid_deny, errors, lists;
} seen;

static void tally(seen *c, const pdpe_decision *d) {
  bool grant = false, def = false;
  for (uint32_t i = 0; i < d->n_reason; i++) {
    grant |= d->reason[i].len > 6 && !memcmp(d->reason[i].ptr, "grant:", 6);
    def |= d->reason[i].len > 11 && !memcmp(d->reason[i].ptr, "definition:", 11);
  }
  if (d->decision == PDPE_ALLOW) {
    c->grant_allow += grant;
    c->policy_allow += d->reason[0].ptr[0] == 'p';
  } else {
    c->prohibit_deny += grant;
    c->def_deny += def;
    c->forbid_deny += d->n_reason > 0 && d->reason[0].ptr[0] == 'p';
  }
  c->errors += d->n_errors;
}

/* The definitions' verdicts as forbids (after the generated policies, so that error
 * positions stay the same). */
static void definition_policies(buf *b, const pdpe_definition *defs) {
  for (uint32_t i = 0; i < NDEF; i++) {
    if (defs[i].disabled)
      put(b,
          "@id(\"definition:%s:disabled\") forbid(principal, action == Action::\"%s\", "
          "resource);\n",
          ACTS[i], ACTS[i]);
    if (defs[i].tenancy != PDPE_TENANCY_BOTH)
      put(b,
          "@id(\"definition:%s:tenancy\") forbid(principal, action == Action::\"%s\", "
          "resource) when { (if principal has tenant then principal.tenant else \"\") %s "
          "\"\" };\n",
          ACTS[i], ACTS[i], defs[i].tenancy == PDPE_TENANCY_HOST ? "!=" : "==");
  }
}

/* The grants of G as the Cedar policies they stand for, sorted by id so that their reasons
 * come out as the engine orders grant ids; a grant of a provider its definition does not
 * allow stands for nothing. */
static void grant_policies(buf *b, const pdpe_definition *defs) {
  char ids[512][96];
  uint32_t order[512], n = 0;
  for (uint32_t i = 0; i < G.n; i++) {
    const row *r = &G.rows[i];
    char p = r->provider == PDPE_PROVIDER_ROLE   ? 'R'
             : r->provider == PDPE_PROVIDER_USER ? 'U'
                                                 : 'C';
    for (uint32_t k = 0; k < NDEF; k++)
      if (!strcmp(defs[k].name.ptr, r->perm) && defs[k].providers &&
          !(defs[k].providers & PDPE_PROVIDER_BIT(r->provider)))
        goto skip;
    snprintf(ids[i], sizeof ids[i], "grant:%c/%s/%s%s%s", p, r->key, r->perm,
             r->tenant[0] ? "@" : "", r->tenant);
    order[n++] = i;
  skip:;
  }
  for (uint32_t i = 1; i < n; i++) /* insertion sort by id */
    for (uint32_t j = i; j > 0 && strcmp(ids[order[j - 1]], ids[order[j]]) > 0; j--) {
      uint32_t t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
  for (uint32_t k = 0; k < n; k++) {
    const row *r = &G.rows[order[k]];
    const char *type = r->provider == PDPE_PROVIDER_ROLE   ? "Role"
                       : r->provider == PDPE_PROVIDER_USER ? "User"
                                                           : "Client";
    put(b,
        "@id(\"%s\") %s(principal in %s::\"%s\", action == Action::\"%s\", resource) when { (if "
        "principal has tenant then principal.tenant else \"\") == \"%s\" };\n",
        ids[order[k]], r->effect == PDPE_EFFECT_GRANT ? "permit" : "forbid", type, r->key, r->perm,
        r->tenant);
  }
}

/* The engine's answer on S against the policy-only snapshot P: a definition's verdict is
 * its reason alone; otherwise everything must be equal. */
static bool ends_with(pu_str s, const char *suffix) {
  size_t n = strlen(suffix);
  return s.len >= n && !memcmp(s.ptr + s.len - n, suffix, n);
}

static void assert_equivalent(const pdpe_decision *d, const pdpe_decision *p, const char *what) {
  static const char *const whys[2] = {":disabled", ":tenancy"};
  for (int w = 0; w < 2; w++) {
    for (uint32_t i = 0; i < p->n_reason; i++) {
      if (p->reason[i].len > 11 && !memcmp(p->reason[i].ptr, "definition:", 11) &&
          ends_with(p->reason[i], whys[w])) {
        cr_assert_eq(d->decision, PDPE_DENY, "%s", what);
        cr_assert_eq(d->n_reason, 1, "%s", what);
        cr_assert(pu_str_eq(d->reason[0], p->reason[i]), "%s", what);
        cr_assert_eq(d->n_errors, 0, "%s", what);
        return;
      }
    }
  }
  assert_same(d, p, what);
}

Test(eval_grants, grants_decide_exactly_as_the_policies_they_stand_for_and_index_equals_scan) {
  seen c = {0};
  for (uint64_t seed = 1; seed <= 40; seed++) {
    rng_state = seed * 7919;
    pdpe_snapshot_unref(S);
    S = pdpe_snapshot_new();
    pdpe_snapshot *P = pdpe_snapshot_new();
    buf ents = {0}, pols = {0}, ppols = {0};
    gen_entities(&ents);
    pdpe_definition defs[NDEF], plain[NDEF];
    gen_defs(defs);
    gen_grants();
    gen_policies(&pols, 10 + rnd(20));
    put(&ppols, "%s", pols.p);
    definition_policies(&ppols, defs);
    grant_policies(&ppols, defs);
    for (uint32_t i = 0; i < NDEF; i++) {
      plain[i] = defs[i];
      plain[i].disabled = false, plain[i].tenancy = PDPE_TENANCY_BOTH, plain[i].providers = 0;
    }
    load(pols.p, ents.p, defs, NDEF);
    char err[300];
    cr_assert(load_into(P, ppols.p, ents.p, plain, NDEF, err, sizeof err), "%s", err);
    free(ents.p), free(pols.p), free(ppols.p);
    for (uint32_t q = 0; q < 300; q++) {
      pu_arena_reset(&R);
      pdpe_request req = gen_request();
      pdpe_decision d, s, p;
      cr_assert(pdpe_authorize(S, &req, &R, &d));
      cr_assert(pdpe_authorize_scan(S, &req, &R, &s));
      cr_assert(pdpe_authorize(P, &req, &R, &p));
      char what[64];
      snprintf(what, sizeof what, "seed %llu request %u", (unsigned long long)seed, q);
      assert_same(&d, &s, what);
      assert_equivalent(&d, &p, what);
      tally(&c, &d);
    }
    pdpe_snapshot_unref(P);
  }
  /* Every outcome was exercised. */
  cr_assert_gt(c.grant_allow, 100);
  cr_assert_gt(c.prohibit_deny, 50);
  cr_assert_gt(c.def_deny, 50);
  cr_assert_gt(c.policy_allow, 100);
  cr_assert_gt(c.forbid_deny, 50);
  cr_assert_gt(c.errors, 50);
}

Test(eval_grants, list_allowed_equals_one_check_per_definition) {
  static const char *PREFIXES[] = {"",  "orders", "orders.", "orders.e", "billing.pay",
                                   "b", "zz",     "misc"};
  uint32_t nonempty = 0, total = 0;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    rng_state = seed * 104729;
    pdpe_snapshot_unref(S);
    S = pdpe_snapshot_new();
    buf ents = {0}, pols = {0};
    gen_entities(&ents);
    pdpe_definition defs[NDEF];
    gen_defs(defs);
    gen_grants();
    gen_policies(&pols, 10 + rnd(20));
    load(pols.p, ents.p, defs, NDEF);
    free(ents.p), free(pols.p);
    for (uint32_t q = 0; q < 200; q++) {
      pu_arena_reset(&R);
      pdpe_request req = gen_request();
      pu_str prefix = pu_str_c(PREFIXES[rnd(8)]);
      pdpe_uid *out;
      uint32_t n, k = 0;
      cr_assert(pdpe_list_allowed(S, &req, prefix, &R, &out, &n));
      for (uint32_t i = 0; i < S->n_definitions; i++) {
        pu_str name = S->definitions[i].name;
        if (name.len < prefix.len || memcmp(name.ptr, prefix.ptr, prefix.len)) continue;
        req.action = (pdpe_uid){PU_STR_LIT("Action"), name};
        pdpe_decision d;
        cr_assert(pdpe_authorize(S, &req, &R, &d));
        if (d.decision != PDPE_ALLOW) continue;
        cr_assert_lt(k, n, "seed %llu request %u: %.*s missing", (unsigned long long)seed, q,
                     (int)name.len, name.ptr);
        cr_assert(pu_str_eq(out[k].id, name) && pu_str_eq_c(out[k].type, "Action"),
                  "seed %llu request %u: %.*s", (unsigned long long)seed, q, (int)name.len,
                  name.ptr);
        k++;
      }
      cr_assert_eq(k, n, "seed %llu request %u: extra actions", (unsigned long long)seed, q);
      nonempty += n > 0;
      total++;
    }
  }
  cr_assert_gt(nonempty, total / 10);
  cr_assert_lt(nonempty, total);
}

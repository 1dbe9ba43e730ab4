/* test_eval_index.c - the policy index: a check through the index gives exactly the
 * decision, reasons and errors of a scan of every policy (pdpe_authorize_scan), for
 * generated policies of every scope kind over a generated hierarchy, with and without
 * request entities (overrides, new entities, cycles through the overlay); and it only
 * proposes the policies whose scope can match. */
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
TestSuite(eval_index, .init = setup, .fini = teardown);

/* ---- a seeded generator ---- */

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

#define NU 8 /* users */
#define NG 6 /* groups */
#define NA 6 /* actions */
#define ND 8 /* docs */
#define NF 5 /* folders */

static void put_uid(buf *b, const char *type, const char *prefix, uint32_t i) {
  put(b, "{\"type\":\"%s\",\"id\":\"%s%u\"}", type, prefix, i);
}

/* Stored entities: users in groups, groups in higher groups, actions in action groups,
 * docs in folders (and sometimes a group), folders in higher folders. */
static void gen_entities(buf *b) {
  put(b, "[");
  for (uint32_t i = 0; i < NU; i++) {
    put(b, "{\"uid\":");
    put_uid(b, "User", "u", i);
    put(b, ",\"attrs\":{");
    if (rnd(3)) put(b, "\"level\":%u", rnd(5));
    put(b, "},\"parents\":[");
    uint32_t np = rnd(3);
    for (uint32_t p = 0; p < np; p++) {
      if (p) put(b, ",");
      put_uid(b, "Group", "g", rnd(NG));
    }
    put(b, "]},");
  }
  for (uint32_t i = 0; i < NG; i++) {
    put(b, "{\"uid\":");
    put_uid(b, "Group", "g", i);
    put(b, ",\"attrs\":{},\"parents\":[");
    if (i + 1 < NG && rnd(2)) put_uid(b, "Group", "g", i + 1 + rnd(NG - i - 1));
    put(b, "]},");
  }
  for (uint32_t i = 0; i < NA; i++) {
    put(b, "{\"uid\":");
    put_uid(b, "Action", "a", i);
    put(b, ",\"attrs\":{},\"parents\":[");
    if (rnd(3)) put_uid(b, "Action", "ag", rnd(2));
    put(b, "]},");
  }
  for (uint32_t i = 0; i < ND; i++) {
    put(b, "{\"uid\":");
    put_uid(b, "Doc", "d", i);
    put(b, ",\"attrs\":{");
    if (rnd(2)) put(b, "\"owner\":{\"__entity\":{\"type\":\"User\",\"id\":\"u%u\"}}", rnd(NU));
    put(b, "},\"parents\":[");
    put_uid(b, "Folder", "f", rnd(NF));
    if (!rnd(4)) put(b, ","), put_uid(b, "Group", "g", rnd(NG));
    put(b, "]},");
  }
  for (uint32_t i = 0; i < NF; i++) {
    put(b, "{\"uid\":");
    put_uid(b, "Folder", "f", i);
    put(b, ",\"attrs\":{},\"parents\":[");
    if (i + 1 < NF && rnd(2)) put_uid(b, "Folder", "f", i + 1 + rnd(NF - i - 1));
    put(b, "]}%s", i + 1 < NF ? "," : "");
  }
  put(b, "]");
}

/* Request entities: an overridden user in other groups, a new user, an overridden group
 * (possibly closing a cycle through the stored groups), a new doc in a folder. */
static void gen_request_entities(buf *b) {
  put(b, "[{\"uid\":");
  put_uid(b, "User", "u", rnd(NU));
  put(b, ",\"attrs\":{\"level\":%u},\"parents\":[", rnd(5));
  put_uid(b, "Group", "g", rnd(NG));
  put(b, "]},{\"uid\":{\"type\":\"User\",\"id\":\"new\"},\"attrs\":{},\"parents\":[");
  put_uid(b, "Group", "g", rnd(NG));
  uint32_t g = rnd(NG);
  put(b, "]},{\"uid\":");
  put_uid(b, "Group", "g", g);
  put(b, ",\"attrs\":{},\"parents\":[");
  put_uid(b, "Group", "g", (g + 1 + rnd(NG - 1)) % NG);
  put(b, "]},{\"uid\":{\"type\":\"Doc\",\"id\":\"newdoc\"},\"attrs\":{},\"parents\":[");
  put_uid(b, "Folder", "f", rnd(NF));
  put(b, "]}]");
}

static void gen_principal(buf *b) {
  switch (rnd(8)) {
  case 0:
    put(b, "principal");
    break;
  case 1:
    put(b, "principal == User::\"u%u\"", rnd(NU));
    break;
  case 2:
    put(b, "principal == Group::\"g%u\"", rnd(NG));
    break;
  case 3:
    put(b, "principal in Group::\"g%u\"", rnd(NG));
    break;
  case 4:
    put(b, "principal in User::\"u%u\"", rnd(NU));
    break;
  case 5:
    put(b, "principal is User");
    break;
  case 6:
    put(b, "principal is User in Group::\"g%u\"", rnd(NG));
    break;
  default:
    put(b, "principal is Group in Group::\"g%u\"", rnd(NG));
    break;
  }
}

static void gen_action(buf *b) {
  switch (rnd(6)) {
  case 0:
    put(b, "action");
    break;
  case 1:
    put(b, "action == Action::\"a%u\"", rnd(NA));
    break;
  case 2:
    put(b, "action in Action::\"ag%u\"", rnd(2));
    break;
  case 3:
    put(b, "action in Action::\"a%u\"", rnd(NA));
    break;
  case 4:
    put(b, "action in [Action::\"a%u\", Action::\"ag%u\", Action::\"a%u\"]", rnd(NA), rnd(2),
        rnd(NA));
    break;
  default:
    put(b, rnd(4) ? "action in [Action::\"a%u\"]" : "action in []", rnd(NA));
    break;
  }
}

static void gen_resource(buf *b) {
  switch (rnd(7)) {
  case 0:
    put(b, "resource");
    break;
  case 1:
    put(b, "resource == Doc::\"d%u\"", rnd(ND));
    break;
  case 2:
    put(b, "resource in Folder::\"f%u\"", rnd(NF));
    break;
  case 3:
    put(b, "resource in Group::\"g%u\"", rnd(NG));
    break;
  case 4:
    put(b, "resource is Doc");
    break;
  case 5:
    put(b, "resource is Doc in Folder::\"f%u\"", rnd(NF));
    break;
  default:
    put(b, "resource is Folder");
    break;
  }
}

static void gen_condition(buf *b) {
  switch (rnd(6)) {
  case 0:
    put(b, " when { resource.owner == principal }");
    break; /* errors without an owner */
  case 1:
    put(b, " unless { context.flag }");
    break; /* errors without a flag */
  case 2:
    put(b, " when { principal has level && principal.level > %u }", rnd(4));
    break;
  case 3:
    put(b, " when { principal in Group::\"g%u\" }", rnd(NG));
    break;
  case 4:
    put(b, " when { principal.level >= %u }", rnd(4));
    break; /* errors on groups */
  default:
    put(b, " unless { resource in Folder::\"f%u\" }", rnd(NF));
    break;
  }
}

static void gen_policies(buf *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    put(b, "@id(\"p%u\")\n%s(", i, rnd(4) ? "permit" : "forbid");
    if (!rnd(40)) {
      put(b, "principal == ?principal, action, resource in ?resource);\n"); /* never linked */
      continue;
    }
    gen_principal(b);
    put(b, ", ");
    gen_action(b);
    put(b, ", ");
    gen_resource(b);
    put(b, ")");
    uint32_t nc = rnd(3) ? 0 : 1 + rnd(2);
    for (uint32_t c = 0; c < nc; c++) gen_condition(b);
    put(b, ";\n");
  }
}

static void load_text(const char *policies, const char *entities) {
  pdpl_policies pols = {0};
  static pdpl_errors errs;
  memset(&errs, 0, sizeof errs);
  size_t len = strlen(policies);
  char *copy = pu_arena_memdup(&S->arena, policies, len + 1);
  uint32_t n = pdpl_parse(&S->arena, "gen.cedar", copy, len, NULL, &pols, &errs);
  char b[300];
  cr_assert_eq(n, 0, "parse: %s", n ? pdpl_error_format(&errs.items[0], b, sizeof b) : "");
  char err[300];
  cr_assert(pdpe_policy_set_build(&S->arena, &pols, &S->policies, err, sizeof err), "%s", err);
  json_t *j = t_json(entities);
  cr_assert_not_null(j);
  cr_assert(pdpe_entities_from_json(&S->arena, j, "gen.json", &S->entities, err, sizeof err), "%s",
            err);
  json_decref(j);
}

static void assert_same(const pdpe_decision *a, const pdpe_decision *b, const char *what) {
  cr_assert_eq(a->decision, b->decision, "%s: decision", what);
  cr_assert_eq(a->n_reason, b->n_reason, "%s: %u reasons indexed, %u scanned", what, a->n_reason,
               b->n_reason);
  for (uint32_t i = 0; i < a->n_reason; i++)
    cr_assert(pu_str_eq(a->reason[i], b->reason[i]), "%s: reason %u", what, i);
  cr_assert_eq(a->n_errors, b->n_errors, "%s: %u errors indexed, %u scanned", what, a->n_errors,
               b->n_errors);
  for (uint32_t i = 0; i < a->n_errors; i++) {
    cr_assert(pu_str_eq(a->errors[i].policy_id, b->errors[i].policy_id), "%s: error %u id", what,
              i);
    cr_assert(pu_str_eq(a->errors[i].message, b->errors[i].message), "%s: error %u: %.*s", what, i,
              (int)a->errors[i].message.len, a->errors[i].message.ptr);
  }
}

static const char *UTYPES[] = {"User", "Group", "Doc", "Folder", "Action"};
static const char *UPFX[] = {"u", "g", "d", "f", "a"};
static const uint32_t UN[] = {NU, NG, ND, NF, NA};

/* A uid of any generated type, sometimes one that is described nowhere. */
static pdpe_uid any_uid(pu_arena *a, uint32_t bias) {
  uint32_t t = rnd(4) ? bias : rnd(5);
  uint32_t i = rnd(UN[t] + 1);
  const char *id = i == UN[t] ? (t == 0   ? "new"
                                 : t == 2 ? "newdoc"
                                          : "ghost")
                              : pu_arena_printf(a, "%s%u", UPFX[t], i);
  return U(UTYPES[t], id);
}

typedef struct counts {
  uint32_t allow, forbid_reasons, errors;
} counts;

static counts compare_many(uint64_t seed, uint32_t n_policies, uint32_t n_requests) {
  rng_state = seed;
  buf ents = {0}, pols = {0};
  gen_entities(&ents);
  gen_policies(&pols, n_policies);
  load_text(pols.p, ents.p);
  free(ents.p), free(pols.p);
  counts c = {0};
  for (uint32_t q = 0; q < n_requests; q++) {
    pu_arena_reset(&R);
    pdpe_request req = {
        .principal = any_uid(&R, 0), .resource = any_uid(&R, 2), .context = {.kind = PDPE_RECORD}};
    uint32_t a = rnd(NA + 3);
    req.action = a < NA    ? U("Action", pu_arena_printf(&R, "a%u", a))
                 : a == NA ? U("Action", "ag0")
                           : any_uid(&R, 4);
    if (rnd(2)) req.context = t_value(rnd(2) ? "{\"flag\":true}" : "{\"flag\":false}");
    if (rnd(3) == 0) {
      buf rb = {0};
      gen_request_entities(&rb);
      json_t *j = t_json(rb.p);
      free(rb.p);
      cr_assert_not_null(j);
      pdpe_entities *es = NULL;
      char err[256];
      bool ok = pdpe_entities_from_json(&R, j, "req.json", &es, err, sizeof err);
      json_decref(j);
      cr_assert(ok, "%s", err);
      req.entities = es;
    }
    pdpe_decision di, ds;
    cr_assert(pdpe_authorize(S, &req, &R, &di));
    cr_assert(pdpe_authorize_scan(S, &req, &R, &ds));
    char what[64];
    snprintf(what, sizeof what, "seed %llu request %u", (unsigned long long)seed, q);
    assert_same(&di, &ds, what);
    c.allow += di.decision == PDPE_ALLOW;
    c.forbid_reasons += di.decision == PDPE_DENY && di.n_reason > 0;
    c.errors += di.n_errors;
  }
  return c;
}

/* ---- tests ---- */

Test(eval_index, indexed_checks_match_a_full_scan_over_generated_policies_and_requests) {
  counts total = {0};
  for (uint64_t seed = 1; seed <= 12; seed++) {
    pdpe_snapshot_unref(S);
    S = pdpe_snapshot_new();
    counts c = compare_many(seed, 60 + 20 * (uint32_t)seed, 1500);
    total.allow += c.allow, total.forbid_reasons += c.forbid_reasons, total.errors += c.errors;
  }
  /* The comparison exercised every outcome. */
  cr_assert_gt(total.allow, 100);
  cr_assert_gt(total.forbid_reasons, 100);
  cr_assert_gt(total.errors, 100);
}

Test(eval_index, a_check_is_offered_only_the_policies_whose_scope_can_match) {
  buf b = {0};
  for (uint32_t i = 0; i < 1000; i++)
    put(&b,
        "permit(principal == User::\"u%u\", action, resource);\n"
        "permit(principal in Group::\"g%u\", action == Action::\"view\", resource);\n"
        "permit(principal, action == Action::\"a%u\", resource in Folder::\"f%u\");\n",
        i, i, i, i);
  put(&b, "forbid(principal, action, resource) when { context.flag };\n"); /* policy 3000 */
  load_text(b.p, "[{\"uid\":{\"type\":\"User\",\"id\":\"u7\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Group\",\"id\":\"g3\"}]},"
                 "{\"uid\":{\"type\":\"Group\",\"id\":\"g3\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Group\",\"id\":\"g9\"}]},"
                 "{\"uid\":{\"type\":\"Doc\",\"id\":\"d\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Folder\",\"id\":\"f5\"}]}]");
  free(b.p);
  pdpe_request req = {.principal = U("User", "u7"),
                      .action = U("Action", "a5"),
                      .resource = U("Doc", "d"),
                      .context = {.kind = PDPE_RECORD}};
  const uint32_t *c;
  uint32_t n;
  cr_assert_eq(
      pdpe__index_candidates(pdpe__policy_set_index(S->policies), &req, S->entities, &R, &c, &n),
      1);
  /* g3's and g9's group policies, a5 on f5, u7's own policy, the unindexed forbid. */
  const uint32_t want[] = {10, 17, 21, 28, 3000};
  cr_assert_eq(n, 5, "%u candidates", n);
  for (uint32_t i = 0; i < 5; i++) cr_assert_eq(c[i], want[i], "candidate %u is %u", i, c[i]);
  pdpe_decision d;
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert_eq(d.n_reason, 2);
  cr_assert(pu_str_eq_c(d.reason[0], "policy17") && pu_str_eq_c(d.reason[1], "policy21"));
}

Test(eval_index, a_principal_with_more_ancestors_than_the_index_lists_falls_back_to_a_scan) {
  /* A chain of 1500 groups: the principal has more ancestors than the index lists. */
  buf e = {0}, p = {0};
  put(&e, "[{\"uid\":{\"type\":\"User\",\"id\":\"deep\"},\"attrs\":{},\"parents\":"
          "[{\"type\":\"Group\",\"id\":\"c0\"}]}");
  for (uint32_t i = 0; i < 1500; i++)
    put(&e,
        ",{\"uid\":{\"type\":\"Group\",\"id\":\"c%u\"},\"attrs\":{},\"parents\":"
        "[{\"type\":\"Group\",\"id\":\"c%u\"}]}",
        i, i + 1);
  put(&e, "]");
  put(&p, "permit(principal in Group::\"c1500\", action, resource);\n"
          "forbid(principal in Group::\"c700\", action == Action::\"x\", resource);\n"
          "permit(principal == User::\"other\", action, resource);\n");
  load_text(p.p, e.p);
  free(e.p), free(p.p);
  const uint32_t *c;
  uint32_t n;
  pdpe_request req = {.principal = U("User", "deep"),
                      .action = U("Action", "y"),
                      .resource = U("Doc", "d"),
                      .context = {.kind = PDPE_RECORD}};
  cr_assert_eq(
      pdpe__index_candidates(pdpe__policy_set_index(S->policies), &req, S->entities, &R, &c, &n),
      0);
  pdpe_decision d, ds;
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert(pdpe_authorize_scan(S, &req, &R, &ds));
  assert_same(&d, &ds, "deep y");
  cr_assert_eq(d.decision, PDPE_ALLOW);
  req.action = U("Action", "x");
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert(pdpe_authorize_scan(S, &req, &R, &ds));
  assert_same(&d, &ds, "deep x");
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert(d.n_reason == 1 && pu_str_eq_c(d.reason[0], "policy1"));
}

Test(eval_index, request_entity_parents_reach_indexed_policies) {
  load_text("permit(principal in Group::\"admins\", action, resource);\n"
            "permit(principal == User::\"eve\", action in Action::\"write\", resource in "
            "Folder::\"f\");\n",
            "[{\"uid\":{\"type\":\"Group\",\"id\":\"ops\"},\"attrs\":{},\"parents\":"
            "[{\"type\":\"Group\",\"id\":\"admins\"}]}]");
  char err[256];
  /* eve exists only in the request, in ops (stored, in admins); her doc is in f via a
   * request folder. */
  pdpe_entities *es =
      t_entities("[{\"uid\":{\"type\":\"User\",\"id\":\"eve\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Group\",\"id\":\"ops\"}]},"
                 "{\"uid\":{\"type\":\"Doc\",\"id\":\"d\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Folder\",\"id\":\"sub\"}]},"
                 "{\"uid\":{\"type\":\"Folder\",\"id\":\"sub\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Folder\",\"id\":\"f\"}]},"
                 "{\"uid\":{\"type\":\"Action\",\"id\":\"edit\"},\"attrs\":{},\"parents\":"
                 "[{\"type\":\"Action\",\"id\":\"write\"}]}]",
                 err, sizeof err);
  cr_assert_not_null(es, "%s", err);
  pdpe_request req = {.principal = U("User", "eve"),
                      .action = U("Action", "edit"),
                      .resource = U("Doc", "d"),
                      .context = {.kind = PDPE_RECORD},
                      .entities = es};
  pdpe_decision d;
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_ALLOW);
  cr_assert(d.n_reason == 2 && pu_str_eq_c(d.reason[0], "policy0") &&
            pu_str_eq_c(d.reason[1], "policy1"));
  req.entities = NULL; /* without them eve is in no group and d in no folder */
  cr_assert(pdpe_authorize(S, &req, &R, &d));
  cr_assert_eq(d.decision, PDPE_DENY);
  cr_assert_eq(d.n_reason, 0);
}

Test(eval_index, an_exhausted_arena_never_allows_through_the_index) {
  load_text("permit(principal in Group::\"g\", action, resource);",
            "[{\"uid\":{\"type\":\"User\",\"id\":\"a\"},\"attrs\":{},\"parents\":"
            "[{\"type\":\"Group\",\"id\":\"g\"}]}]");
  pdpe_request req = {.principal = U("User", "a"),
                      .action = U("Action", "v"),
                      .resource = U("Doc", "d"),
                      .context = {.kind = PDPE_RECORD}};
  for (size_t budget = 0; budget < 4096; budget += 16) {
    pu_arena tiny;
    pu_arena_init(&tiny, 64, budget);
    pdpe_decision d;
    bool ok = pdpe_authorize(S, &req, &tiny, &d);
    cr_assert(ok ? d.decision == PDPE_ALLOW : d.decision == PDPE_DENY && d.n_reason == 0);
    pu_arena_close(&tiny);
  }
}

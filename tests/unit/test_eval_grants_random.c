/* test_eval_grants_random.c - randomised comparisons over generated hierarchies, tenants,
 * definitions, grants, policies and requests: a check through the index equals a scan;
 * grants decide exactly as the Cedar policies they stand for (a GRANT as `permit(principal
 * in <provider>, action == Action::"<p>", resource) when { <tenant matches> }`, with
 * definitions' verdicts as forbids); ListAllowed equals one check per definition. */
#include "test_eval_grants.h"

TestSuite(eval_grants_random, .init = setup, .fini = teardown);

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

Test(eval_grants_random,
     grants_decide_exactly_as_the_policies_they_stand_for_and_index_equals_scan) {
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

Test(eval_grants_random, list_allowed_equals_one_check_per_definition) {
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

/* test_eval_grants.h - shared by the grant and definition suites: an in-test pdpe_grants
 * (a sorted array searched by natural key: a real, if small, implementation of the
 * interface cache/ implements over LMDB, counting lookups and releases), snapshot loading
 * through pdpe_snapshot_set_data, and checks that always compare the index with a scan. */
#ifndef TEST_EVAL_GRANTS_H
#define TEST_EVAL_GRANTS_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "test_eval_util.h"

/* ---- an in-test grant table ---- */

typedef struct row {
  pdpe_provider provider;
  char key[32], perm[32], tenant[32];
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

#endif

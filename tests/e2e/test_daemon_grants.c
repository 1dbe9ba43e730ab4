/* test_daemon_grants.c - grants and permission definitions served by a real pdpd from its
 * source (grants.json, the permission files) through its store: Check, BatchCheck and
 * ListAllowed answer alike and as the decision model says (an oracle written here from
 * docs/model.md, on random grants), a `pdpctl grant` on the running source is seen at once,
 * PROHIBIT, disabled definitions, tenancy, allowed providers, request Action entities, Status
 * counts, and a restart without the source folder.  DefinePermissions: test_daemon_define.c.
 */
#include "pdpctl_util.h"

#include <stdint.h>

/* ---- the bundle ----------------------------------------------------------------------------- */

#define POLICIES                                                                                   \
  "@id(\"staff-view\")\n"                                                                          \
  "permit (principal in Role::\"staff\", action == Action::\"orders.view\", resource);\n"          \
  "@id(\"managers-refund\")\n"                                                                     \
  "permit (principal in Role::\"manager\", action == Action::\"orders.refund\", resource);\n"      \
  "@id(\"frozen\")\n"                                                                              \
  "forbid (principal, action in Action::\"orders\", resource)\n"                                   \
  "when { resource has frozen && resource.frozen };\n"

#define ENTITIES                                                                                   \
  "[{\"uid\": {\"type\": \"Role\", \"id\": \"staff\"}, \"attrs\": {}, \"parents\": []},\n"         \
  " {\"uid\": {\"type\": \"Role\", \"id\": \"clerk\"}, \"attrs\": {},\n"                           \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"staff\"}]},\n"                                   \
  " {\"uid\": {\"type\": \"Role\", \"id\": \"manager\"}, \"attrs\": {},\n"                         \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"staff\"}]},\n"                                   \
  " {\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {\"tenant\": \"acme\"},\n"       \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"clerk\"}]},\n"                                   \
  " {\"uid\": {\"type\": \"User\", \"id\": \"bob\"}, \"attrs\": {},\n"                             \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"clerk\"}]},\n"                                   \
  " {\"uid\": {\"type\": \"User\", \"id\": \"carol\"}, \"attrs\": {\"tenant\": \"acme\"},\n"       \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"manager\"}]},\n"                                 \
  " {\"uid\": {\"type\": \"User\", \"id\": \"dan\"}, \"attrs\": {\"tenant\": \"globex\"},\n"       \
  "  \"parents\": [{\"type\": \"Role\", \"id\": \"manager\"}]},\n"                                 \
  " {\"uid\": {\"type\": \"User\", \"id\": \"eve\"}, \"attrs\": {\"tenant\": 42}, \"parents\": "   \
  "[]},\n"                                                                                         \
  " {\"uid\": {\"type\": \"Client\", \"id\": \"suite\"}, \"attrs\": {}, \"parents\": []},\n"       \
  " {\"uid\": {\"type\": \"Client\", \"id\": \"app\"}, \"attrs\": {},\n"                           \
  "  \"parents\": [{\"type\": \"Client\", \"id\": \"suite\"}]},\n"                                 \
  " {\"uid\": {\"type\": \"Order\", \"id\": \"o1\"}, \"attrs\": {}, \"parents\": []},\n"           \
  " {\"uid\": {\"type\": \"Order\", \"id\": \"o2\"}, \"attrs\": {\"frozen\": true}, \"parents\": " \
  "[]}]\n"

#define DEFINITIONS                                                                                \
  "{\"service\": \"orders\", \"definitions\": [\n"                                                 \
  " {\"name\": \"orders.view\", \"group\": \"orders\"},\n"                                         \
  " {\"name\": \"orders.edit\", \"group\": \"orders\", \"parent\": \"orders.view\"},\n"            \
  " {\"name\": \"orders.delete\", \"group\": \"orders\", \"allowed_providers\": [\"R\"]},\n"       \
  " {\"name\": \"orders.export\", \"group\": \"orders\", \"disabled\": true},\n"                   \
  " {\"name\": \"orders.refund\", \"group\": \"orders\"},\n"                                       \
  " {\"name\": \"admin.audit\", \"tenancy\": \"host\"},\n"                                         \
  " {\"name\": \"tenant.billing\", \"tenancy\": \"tenant\"},\n"                                    \
  " {\"name\": \"users.invite\", \"allowed_providers\": [\"U\", \"C\"]}]}\n"

/* The same facts for the oracle. */
enum { HOST_ONLY = 1, TENANT_ONLY = 2 };
enum { PR = 1, PU = 2, PC = 4 };
typedef struct defn {
  const char *name;
  bool in_orders, disabled;
  int tenancy;
  unsigned providers; /* 0: all */
} defn;
static const defn defs[] = {
    {"admin.audit", false, false, HOST_ONLY, 0},
    {"orders.delete", true, false, 0, PR},
    {"orders.edit", true, false, 0, 0},
    {"orders.export", true, true, 0, 0},
    {"orders.refund", true, false, 0, 0},
    {"orders.view", true, false, 0, 0},
    {"tenant.billing", false, false, TENANT_ONLY, 0},
    {"users.invite", false, false, 0, PU | PC},
};
#define N_DEFS (sizeof defs / sizeof *defs)
static const char *const actions[] = {"admin.audit",    "orders.delete", "orders.edit",
                                      "orders.export",  "orders.refund", "orders.view",
                                      "tenant.billing", "users.invite",  "orders.ship"};
#define N_ACTIONS (sizeof actions / sizeof *actions)

typedef struct principal {
  const char *type, *id;
  const char *tenant;    /* "" = host (eve's tenant is 42: not a string, so host) */
  const char *anc[4];    /* "T:id" of itself and every ancestor */
  const char *send_role; /* sent as a request entity with this role (NULL: stored) */
  const char *send_tenant;
} principal;

static const principal stored[] = {
    {"User", "alice", "acme", {"U:alice", "R:clerk", "R:staff"}, NULL, NULL},
    {"User", "bob", "", {"U:bob", "R:clerk", "R:staff"}, NULL, NULL},
    {"User", "carol", "acme", {"U:carol", "R:manager", "R:staff"}, NULL, NULL},
    {"User", "dan", "globex", {"U:dan", "R:manager", "R:staff"}, NULL, NULL},
    {"User", "eve", "", {"U:eve"}, NULL, NULL},
    {"Client", "app", "", {"C:app", "C:suite"}, NULL, NULL},
};
#define N_STORED (sizeof stored / sizeof *stored)

/* ---- grants and the oracle ------------------------------------------------------------------ */

typedef struct grant {
  char p;
  const char *key, *perm, *tenant;
  bool prohibit;
} grant;

#define MAX_GRANTS 200
static grant grants[MAX_GRANTS];
static int n_grants;

static bool in_anc(const principal *p, const char *uid) {
  for (int i = 0; i < 4 && p->anc[i]; i++)
    if (strcmp(p->anc[i], uid) == 0) return true;
  return false;
}

static const defn *def_of(const char *action) {
  for (size_t i = 0; i < N_DEFS; i++)
    if (strcmp(defs[i].name, action) == 0) return &defs[i];
  return NULL;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "ALLOW [a, b]" as the decision model says (docs/model.md §4). */
static void oracle(const principal *p, const char *action, bool frozen, char *out, size_t cap) {
  const defn *d = def_of(action);
  const char *tenant = p->send_role ? p->send_tenant : p->tenant;
  if (d && d->disabled) {
    snprintf(out, cap, "DENY [definition:%s:disabled]", action);
    return;
  }
  if (d && ((d->tenancy == HOST_ONLY && tenant[0]) || (d->tenancy == TENANT_ONLY && !tenant[0]))) {
    snprintf(out, cap, "DENY [definition:%s:tenancy]", action);
    return;
  }
  bool forbid = frozen && d && d->in_orders;
  const char *permit = NULL;
  if (!strcmp(action, "orders.view") && in_anc(p, "R:staff")) permit = "staff-view";
  if (!strcmp(action, "orders.refund") && in_anc(p, "R:manager")) permit = "managers-refund";
  char *pro[16], *gra[16];
  int np = 0, ng = 0;
  static char ids[32][96];
  int nid = 0;
  for (int i = 0; i < n_grants; i++) {
    const grant *g = &grants[i];
    char uid[64];
    snprintf(uid, sizeof uid, "%c:%s", g->p, g->key);
    unsigned bit = g->p == 'R' ? PR : g->p == 'U' ? PU : PC;
    if (!in_anc(p, uid) || strcmp(g->perm, action) || strcmp(g->tenant, tenant)) continue;
    if (d && d->providers && !(d->providers & bit)) continue;
    snprintf(ids[nid], sizeof ids[nid], "grant:%c/%s/%s%s%s", g->p, g->key, g->perm,
             tenant[0] ? "@" : "", tenant);
    if (g->prohibit)
      pro[np++] = ids[nid++];
    else
      gra[ng++] = ids[nid++];
  }
  qsort(pro, np, sizeof *pro, cmp_cstr);
  qsort(gra, ng, sizeof *gra, cmp_cstr);
  size_t o = 0;
  bool deny = forbid || np;
  bool allow = !deny && (permit || ng);
  o += snprintf(out + o, cap - o, "%s [", allow ? "ALLOW" : "DENY");
  const char *sep = "";
  if (deny && forbid) o += snprintf(out + o, cap - o, "frozen"), sep = ", ";
  for (int i = 0; deny && i < np; i++)
    o += snprintf(out + o, cap - o, "%s%s", sep, pro[i]), sep = ", ";
  if (allow && permit) o += snprintf(out + o, cap - o, "%s", permit), sep = ", ";
  for (int i = 0; allow && i < ng; i++)
    o += snprintf(out + o, cap - o, "%s%s", sep, gra[i]), sep = ", ";
  snprintf(out + o, cap - o, "]");
}

/* "ALLOW [a, b]" of an answer (status OK required). */
static void shown(const pdpc_result *r, char *out, size_t cap) {
  cr_assert_eq(r->status, PDPC_STATUS_OK, "status %s: %s", pdpc_status_name(r->status), r->message);
  size_t o = snprintf(out, cap, "%s [", r->decision == PDPC_ALLOW ? "ALLOW" : "DENY");
  for (size_t i = 0; i < r->n_reason; i++)
    o += snprintf(out + o, cap - o, "%s%s", i ? ", " : "", r->reason[i]);
  snprintf(out + o, cap - o, "]");
}

static void write_grants(void) {
  char *buf = malloc(64 + (size_t)n_grants * 160);
  size_t o = sprintf(buf, "[");
  for (int i = 0; i < n_grants; i++) {
    const grant *g = &grants[i];
    o += sprintf(buf + o, "%s\n{\"provider\": \"%c\", \"key\": \"%s\", \"permission\": \"%s\"",
                 i ? "," : "", g->p, g->key, g->perm);
    if (g->tenant[0]) o += sprintf(buf + o, ", \"tenant\": \"%s\"", g->tenant);
    if (g->prohibit) o += sprintf(buf + o, ", \"effect\": \"PROHIBIT\"");
    o += sprintf(buf + o, "}");
  }
  sprintf(buf + o, "]\n");
  e2e_write("bundle/grants.json", buf);
  free(buf);
}

static void write_bundle(void) {
  e2e_write("bundle/policies/orders.cedar", POLICIES);
  e2e_write("bundle/entities.json", ENTITIES);
  e2e_write("bundle/permissions/orders.json", DEFINITIONS);
  write_grants();
}

static char bundle_dir[128];

/* Start pdpd on the bundle; the poll interval is an hour, so only a change event makes it
 * look at the source again. */
static void start(void) {
  snprintf(bundle_dir, sizeof bundle_dir, "%s/bundle", e2e_daemon.dir);
  char data[128];
  snprintf(data, sizeof data, "%s/data", e2e_daemon.dir);
  const char *extra[] = {"--data-dir", data, "--check-interval", "1h", NULL};
  e2e_daemon.source = NULL;
  if (!du_start(&e2e_daemon, extra)) {
    char *log = du_read_file(e2e_daemon.log);
    du_stop(&e2e_daemon); /* a failed .init skips .fini: clean up here */
    du_cleanup(&e2e_daemon);
    cr_assert_fail("pdpd did not start: %s", log);
  }
}

static pdpc_conn *conn(void) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, DU_DEADLINE_MS, &err);
  cr_assert_not_null(c, "%s", err.message);
  return c;
}

static void fixed_grants(void) {
  static const grant fixed[] = {
      {'R', "staff", "orders.refund", "", false},
      {'U', "bob", "orders.view", "", true},
      {'R', "clerk", "orders.export", "", false},
      {'R', "clerk", "admin.audit", "", false},
      {'R', "clerk", "admin.audit", "acme", false},
      {'R', "clerk", "tenant.billing", "", false},
      {'R', "clerk", "tenant.billing", "acme", false},
      {'U', "bob", "orders.delete", "", false},
      {'R', "clerk", "orders.delete", "", false},
      {'R', "clerk", "users.invite", "", false},
      {'C', "suite", "users.invite", "", false},
      {'R', "manager", "orders.ship", "globex", false},
  };
  n_grants = sizeof fixed / sizeof *fixed;
  memcpy(grants, fixed, sizeof fixed);
}

static void up(void) {
  e2e_setup();
  fixed_grants();
  write_bundle();
  start();
}

TestSuite(grants, .init = up, .fini = e2e_teardown, .timeout = 300);

/* One check of principal p (stored) as the C client sends it. */
static void check(pdpc_conn *c, const char *pid, const char *action, const char *resource,
                  pdpc_result *r) {
  const char *type = strcmp(pid, "app") == 0 ? "Client" : "User";
  pdpc_check_req q = {
      .principal = {type, pid}, .action = {"Action", action}, .resource = {"Order", resource}};
  cr_assert_eq(pdpc_check(c, &q, r), 0, "%s", pdpc_conn_error(c)->message);
}

static void expect(pdpc_conn *c, const char *pid, const char *action, const char *resource,
                   const char *want) {
  pdpc_result r;
  pdpc_result_init(&r);
  check(c, pid, action, resource, &r);
  char got[512];
  shown(&r, got, sizeof got);
  cr_assert_str_eq(got, want, "%s %s %s", pid, action, resource);
  pdpc_result_close(&r);
}

Test(grants, grants_from_grants_json_decide_with_the_policies) {
  pdpc_conn *c = conn();
  expect(c, "bob", "orders.refund", "o1", "ALLOW [grant:R/staff/orders.refund]");
  expect(c, "carol", "orders.refund", "o1",
         "ALLOW [managers-refund]"); /* acme: not the host grant */
  expect(c, "dan", "orders.ship", "o1", "ALLOW [grant:R/manager/orders.ship@globex]");
  expect(c, "dan", "orders.ship", "o2",
         "ALLOW [grant:R/manager/orders.ship@globex]"); /* undefined: not in the orders group */
  expect(c, "bob", "orders.refund", "o2", "DENY [frozen]");
  pdpc_close(c);
}

Test(grants, a_prohibit_beats_a_permit_policy) {
  pdpc_conn *c = conn();
  expect(c, "bob", "orders.view", "o1", "DENY [grant:U/bob/orders.view]");
  expect(c, "bob", "orders.view", "o2", "DENY [frozen, grant:U/bob/orders.view]");
  expect(c, "alice", "orders.view", "o1", "ALLOW [staff-view]"); /* the prohibit is bob's */
  pdpc_close(c);
}

Test(grants, a_disabled_definition_denies_whatever_grants_it) {
  pdpc_conn *c = conn();
  expect(c, "bob", "orders.export", "o1", "DENY [definition:orders.export:disabled]");
  pdpc_close(c);
}

Test(grants, tenancy_denies_the_wrong_side_and_grants_follow_the_principals_tenant) {
  pdpc_conn *c = conn();
  expect(c, "bob", "admin.audit", "o1", "ALLOW [grant:R/clerk/admin.audit]");
  expect(c, "alice", "admin.audit", "o1", "DENY [definition:admin.audit:tenancy]");
  expect(c, "alice", "tenant.billing", "o1", "ALLOW [grant:R/clerk/tenant.billing@acme]");
  expect(c, "bob", "tenant.billing", "o1", "DENY [definition:tenant.billing:tenancy]");
  expect(c, "eve", "admin.audit", "o1", "DENY []"); /* tenant 42 is not a string: host */
  pdpc_close(c);
}

Test(grants, allowed_providers_ignore_the_grants_of_other_providers) {
  pdpc_conn *c = conn();
  expect(c, "bob", "orders.delete", "o1", "ALLOW [grant:R/clerk/orders.delete]"); /* not U/bob */
  expect(c, "bob", "users.invite", "o1", "DENY []");                              /* not R/clerk */
  expect(c, "app", "users.invite", "o1", "ALLOW [grant:C/suite/users.invite]");
  pdpc_close(c);
}

Test(grants, list_allowed_lists_the_defined_actions_a_check_allows) {
  pdpc_conn *c = conn();
  pdpc_list_result l;
  pdpc_list_result_init(&l);
  pdpc_list_req q = {.principal = {"User", "bob"}, .resource = {"Order", "o1"}};
  cr_assert_eq(pdpc_list_allowed(c, &q, &l), 0, "%s", pdpc_conn_error(c)->message);
  char got[512] = "";
  for (size_t i = 0; i < l.n_actions; i++) {
    cr_assert_str_eq(l.actions[i].type, "Action");
    size_t n = strlen(got);
    snprintf(got + n, sizeof got - n, "%s%s", i ? "," : "", l.actions[i].id);
  }
  cr_assert_str_eq(got, "admin.audit,orders.delete,orders.refund");
  cr_assert_eq(l.stamp_len, 32);
  pdpc_list_result_close(&l);
  pdpc_close(c);
}

/* ---- Check, BatchCheck and ListAllowed agree with each other and with the model ------------- */

static const char *const pick_keys[3][6] = {
    {"staff", "clerk", "manager", "ghost", NULL, NULL},
    {"alice", "bob", "carol", "dan", "eve", "zed"},
    {"app", "suite", NULL, NULL, NULL, NULL},
};
static const char *const tenants[] = {"", "acme", "globex"};

static void random_grants(unsigned *seed, int n) {
  n_grants = 0;
  for (int tries = 0; n_grants < n && tries < 10 * n; tries++) {
    int pi = rand_r(seed) % 3;
    int nk = pi == 0 ? 4 : pi == 1 ? 6 : 2;
    grant g = {"RUC"[pi], pick_keys[pi][rand_r(seed) % nk], actions[rand_r(seed) % N_ACTIONS],
               tenants[rand_r(seed) % 3], rand_r(seed) % 4 == 0};
    bool dup = false;
    for (int i = 0; i < n_grants && !dup; i++)
      dup = grants[i].p == g.p && !strcmp(grants[i].key, g.key) &&
            !strcmp(grants[i].perm, g.perm) && !strcmp(grants[i].tenant, g.tenant);
    if (!dup) grants[n_grants++] = g;
  }
}

/* The principal's request entities: zed with a role and a tenant; none for stored ones. */
static pdpc_entity *zed_entity(const principal *p) {
  if (!p->send_role) return NULL;
  pdpc_entity *e = pdpc_entity_new("User", "zed");
  if (p->send_tenant[0])
    cr_assert_eq(pdpc_entity_attr(e, "tenant", pdpc_value_string(p->send_tenant)), 0);
  cr_assert_eq(pdpc_entity_parent(e, "Role", p->send_role), 0);
  return e;
}

static int all_three_paths(pdpc_conn *c, const principal *p, unsigned *seed, int *allows) {
  pdpc_entity *ze = zed_entity(p);
  const pdpc_entity *es[] = {ze};
  size_t nes = ze ? 1 : 0;
  static const char *const resources[] = {"o1", "o2"};
  pdpc_check_req reqs[2 * N_ACTIONS];
  pdpc_result singles[2 * N_ACTIONS], batch[2 * N_ACTIONS];
  size_t n = 0;
  for (int ri = 0; ri < 2; ri++)
    for (size_t ai = 0; ai < N_ACTIONS; ai++, n++) {
      reqs[n] = (pdpc_check_req){.principal = {p->type, p->id},
                                 .action = {"Action", actions[ai]},
                                 .resource = {"Order", resources[ri]},
                                 .entities = es,
                                 .n_entities = nes};
      pdpc_result_init(&singles[n]);
      pdpc_result_init(&batch[n]);
      cr_assert_eq(pdpc_check(c, &reqs[n], &singles[n]), 0, "%s", pdpc_conn_error(c)->message);
    }
  /* the batch shares zed instead of sending him with every check */
  for (size_t i = 0; i < n; i++) reqs[i].n_entities = 0;
  cr_assert_eq(pdpc_batch_check(c, reqs, n, es, nes, batch), 0, "%s", pdpc_conn_error(c)->message);
  for (size_t i = 0; i < n; i++) {
    char want[512], one[512], many[512];
    oracle(p, reqs[i].action.id, strcmp(reqs[i].resource.id, "o2") == 0, want, sizeof want);
    shown(&singles[i], one, sizeof one);
    shown(&batch[i], many, sizeof many);
    cr_assert_str_eq(one, want, "Check %s/%s %s %s (tenant %s, role %s)", p->type, p->id,
                     reqs[i].action.id, reqs[i].resource.id, p->send_tenant ? p->send_tenant : "-",
                     p->send_role ? p->send_role : "-");
    cr_assert_str_eq(many, one, "BatchCheck %s %s", reqs[i].action.id, reqs[i].resource.id);
    if (singles[i].decision == PDPC_ALLOW) (*allows)++;
  }
  /* ListAllowed = the defined actions the checks allowed, with the prefix, in name order */
  static const char *const prefixes[] = {"", "orders.", "orders.e", "admin", "zzz", "users.invite"};
  for (int ri = 0; ri < 2; ri++) {
    const char *prefix = prefixes[rand_r(seed) % 6];
    pdpc_list_req q = {.principal = {p->type, p->id},
                       .resource = {"Order", resources[ri]},
                       .entities = es,
                       .n_entities = nes,
                       .action_prefix = prefix};
    pdpc_list_result l;
    pdpc_list_result_init(&l);
    cr_assert_eq(pdpc_list_allowed(c, &q, &l), 0, "%s", pdpc_conn_error(c)->message);
    char want[512] = "", got[512] = "";
    for (size_t ai = 0; ai < N_DEFS; ai++) { /* actions[0..N_DEFS) are the definitions, sorted */
      const pdpc_result *s = &singles[ri * N_ACTIONS + ai];
      if (s->decision != PDPC_ALLOW || strncmp(actions[ai], prefix, strlen(prefix))) continue;
      size_t k = strlen(want);
      snprintf(want + k, sizeof want - k, "%s%s", k ? "," : "", actions[ai]);
    }
    for (size_t i = 0; i < l.n_actions; i++) {
      size_t k = strlen(got);
      snprintf(got + k, sizeof got - k, "%s%s", k ? "," : "", l.actions[i].id);
    }
    cr_assert_str_eq(got, want, "ListAllowed %s/%s %s prefix '%s'", p->type, p->id, resources[ri],
                     prefix);
    cr_assert_eq(memcmp(l.stamp, batch[0].stamp, 32), 0, "one snapshot answered all");
    pdpc_list_result_close(&l);
  }
  for (size_t i = 0; i < n; i++) {
    pdpc_result_close(&singles[i]);
    pdpc_result_close(&batch[i]);
  }
  pdpc_entity_free(ze);
  return (int)n;
}

Test(grants, check_batch_and_list_allowed_agree_with_the_model_on_random_grants) {
  unsigned seed0 = (unsigned)time(NULL), seed = seed0;
  cr_log_info("seed %u", seed0);
  e2e_stop_daemon();
  random_grants(&seed, 90);
  write_grants();
  /* a fresh store, so the random grants are what the first check stores */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/data'", e2e_daemon.dir);
  cr_assert_eq(system(cmd), 0);
  start();
  pdpc_conn *c = conn();
  int checks = 0, allows = 0;
  for (size_t i = 0; i < N_STORED; i++) checks += all_three_paths(c, &stored[i], &seed, &allows);
  static const char *const roles[] = {"staff", "clerk", "manager", "ghost"};
  for (int k = 0; k < 8; k++) {
    principal zed = {"User", "zed", "", {"U:zed", NULL, NULL, NULL}, NULL, NULL};
    zed.send_role = roles[rand_r(&seed) % 4];
    zed.send_tenant = tenants[rand_r(&seed) % 3];
    char r[32];
    snprintf(r, sizeof r, "R:%s", zed.send_role);
    zed.anc[1] = strdup(r);
    if (strcmp(zed.send_role, "clerk") == 0 || strcmp(zed.send_role, "manager") == 0)
      zed.anc[2] = "R:staff";
    checks += all_three_paths(c, &zed, &seed, &allows);
    free((char *)zed.anc[1]);
  }
  cr_log_info("%d checks, %d allowed (seed %u)", checks, allows, seed0);
  cr_assert_gt(allows, 0, "seed %u: some answers allow", seed0);
  cr_assert_lt(allows, checks, "seed %u: some answers deny", seed0);
  pdpc_close(c);
}

/* ---- the source changes while pdpd runs ------------------------------------------------------ */

/* Ask until the answer is `want` or the deadline passes; the last answer. */
static void eventually(pdpc_conn *c, const char *pid, const char *action, const char *want) {
  char got[512] = "";
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  while (du_now_ms() < deadline) {
    pdpc_result r;
    pdpc_result_init(&r);
    check(c, pid, action, "o1", &r);
    shown(&r, got, sizeof got);
    pdpc_result_close(&r);
    if (strcmp(got, want) == 0) return;
    du_sleep_ms(20);
  }
  cr_assert_str_eq(got, want, "%s %s never changed", pid, action);
}

Test(grants, pdpctl_grant_on_the_source_of_a_running_pdpd_is_served_at_once) {
  pdpc_conn *c = conn();
  expect(c, "eve", "orders.refund", "o1", "DENY []");
  e2e_run r = e2e_pdpctl("grant", "--source", bundle_dir, "--provider", "U", "--key", "eve",
                         "--permission", "orders.refund", NULL);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  e2e_run_free(&r);
  /* the poll is an hour away: only the change event can bring it */
  eventually(c, "eve", "orders.refund", "ALLOW [grant:U/eve/orders.refund]");
  r = e2e_pdpctl("prohibit", "--source", bundle_dir, "--provider", "R", "--key", "clerk",
                 "--permission", "orders.refund", NULL);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  e2e_run_free(&r);
  eventually(c, "bob", "orders.refund", "DENY [grant:R/clerk/orders.refund]");
  r = e2e_pdpctl("revoke-grant", "--source", bundle_dir, "--provider", "U", "--key", "eve",
                 "--permission", "orders.refund", NULL);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  e2e_run_free(&r);
  eventually(c, "eve", "orders.refund", "DENY []");
  pdpc_close(c);
}

/* ---- request entities, Status, restart ------------------------------------------------------- */

Test(grants, a_request_may_not_send_an_action_to_cut_it_out_of_its_group) {
  pdpc_conn *c = conn();
  /* orders.refund sent without parents would escape the forbid on Action::"orders" */
  pdpc_entity *a = pdpc_entity_new("Action", "orders.refund");
  const pdpc_entity *es[] = {a};
  pdpc_check_req q = {.principal = {"User", "bob"},
                      .action = {"Action", "orders.refund"},
                      .resource = {"Order", "o2"},
                      .entities = es,
                      .n_entities = 1};
  pdpc_result r;
  pdpc_result_init(&r);
  cr_assert_eq(pdpc_check(c, &q, &r), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(r.status, PDPC_STATUS_BAD_REQUEST, "%s", r.message);
  cr_assert_not(pdpc_result_allowed(&r));
  cr_assert(strstr(r.message, "check.entities[0].uid: type Action"), "%s", r.message);
  pdpc_list_req l = {
      .principal = {"User", "bob"}, .resource = {"Order", "o2"}, .entities = es, .n_entities = 1};
  pdpc_list_result lr;
  pdpc_list_result_init(&lr);
  cr_assert_eq(pdpc_list_allowed(c, &l, &lr), PDPC_E_STATUS);
  cr_assert_eq(lr.status, PDPC_STATUS_BAD_REQUEST);
  cr_assert(strstr(lr.message, "list_allowed.entities[0].uid: type Action"), "%s", lr.message);
  q.n_entities = 0;
  cr_assert_eq(pdpc_check(c, &q, &r), 0);
  char got[256];
  shown(&r, got, sizeof got);
  cr_assert_str_eq(got, "DENY [frozen]");
  pdpc_list_result_close(&lr);
  pdpc_result_close(&r);
  pdpc_entity_free(a);
  pdpc_close(c);
}

Test(grants, status_counts_grants_and_definitions) {
  pdpc_conn *c = conn();
  pdpc_server_status s;
  cr_assert_eq(pdpc_server_status_get(c, &s), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(s.grants, (uint64_t)n_grants);
  cr_assert_eq(s.definitions, N_DEFS);
  cr_assert_eq(s.policies, 3);
  cr_assert_gt(s.last_check_unix_ms, 0);
  e2e_run r = e2e_pdpctl("status", "-s", e2e_daemon.sock, NULL);
  cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
  char line[128];
  snprintf(line, sizeof line, "policies: 3, entities: %zu, grants: %d, definitions: %zu\n",
           12 + N_DEFS /* stored, and an action per definition */, n_grants, N_DEFS);
  cr_assert(strstr(r.out, line), "%s lacks %s", r.out, line);
  cr_assert(strstr(r.out, "\nlast check: 20"), "%s", r.out);
  cr_assert(strstr(r.out, " s ago)\nlast change: 20"), "%s", r.out);
  e2e_run_free(&r);
  pdpc_close(c);
}

Test(grants, a_restart_without_the_source_folder_serves_grants_and_definitions_from_the_store) {
  e2e_stop_daemon();
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", bundle_dir);
  cr_assert_eq(system(cmd), 0);
  start(); /* serves the stored snapshot at once; the first check of the missing source then
             fails on a worker (until it has, Health says SERVING) */
  pdpc_conn *c = conn();
  pdpc_health h;
  int64_t deadline = du_now_ms() + DU_DEADLINE_MS;
  do {
    cr_assert_eq(pdpc_health_check(c, &h), 0);
    if (h.state != PDPC_HEALTH_DEGRADED) du_sleep_ms(10);
  } while (h.state != PDPC_HEALTH_DEGRADED && du_now_ms() < deadline);
  cr_assert_eq(h.state, PDPC_HEALTH_DEGRADED, "%s", h.reason);
  expect(c, "bob", "orders.refund", "o1", "ALLOW [grant:R/staff/orders.refund]");
  expect(c, "bob", "orders.export", "o1", "DENY [definition:orders.export:disabled]");
  pdpc_list_result l;
  pdpc_list_result_init(&l);
  pdpc_list_req q = {.principal = {"Client", "app"}, .resource = {"Order", "o1"}};
  cr_assert_eq(pdpc_list_allowed(c, &q, &l), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(l.n_actions, 1);
  cr_assert_str_eq(l.actions[0].id, "users.invite");
  pdpc_list_result_close(&l);
  pdpc_server_status s;
  cr_assert_eq(pdpc_server_status_get(c, &s), 0);
  cr_assert_eq(s.grants, (uint64_t)n_grants);
  cr_assert_eq(s.definitions, N_DEFS);
  pdpc_close(c);
}

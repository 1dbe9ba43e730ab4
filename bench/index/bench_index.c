/* bench_index.c - pdp-bench-index: what a check costs against 10 policies and against
 * 10,000 policies of the same shape, through the policy index (pdp/eval/index.c).
 *
 * It generates (seeded) one entity set and two policy sets.  Entities: 5,000 users, each in
 * two of 500 groups, groups in 50 teams; 10,000 documents (owner, public) in 1,000 folders
 * in 100 top folders; 200 actions in 20 action groups.  The 10-policy set is ten "core"
 * policies covering every scope kind (==, in, is, is .. in, in [..], unconstrained) over
 * the first 16 users/documents, 5 actions; 4 of them have a when/unless condition.  The
 * 10,000-policy set is the same ten followed by 9,990 generated ones with the same mix
 * (principals, groups, teams, documents, folders, actions and action lists drawn from the
 * whole pool beyond what the requests reach, ~30% with a when/unless condition; every one
 * names at least one entity or action in its scope).  Sixteen fixed requests (user i,
 * action i mod 5, a document among the first 16, context {mfa}) each reach a few core
 * policies and, by construction, no generated one: the request shape is the same against
 * both sets, only the number of policies differs.
 *
 * For each set: build the snapshot as pdpd does (pdpl_parse, pdpe_policy_set_build,
 * pdpe_entities_from_json), check that the index and a full scan agree, warm up, then
 * RUNS timed runs of ITERS passes over the requests (the request arena reset after each
 * check, as the daemon does), alternating the two sets run by run so that other load on the
 * machine falls on both alike; the figure is the median run's nanoseconds per
 * pdpe_authorize.  pdpe_authorize_scan (every policy evaluated) is measured the same way,
 * with fewer runs and passes, as a reference.  Prints a Markdown table and `index ratio 10000/10 =
 * X`.
 *
 * --write DIR writes DIR/n10 and DIR/n10000, each with policies.cedar, entities.json (Cedar
 * JSON entity format) and requests.json ([{principal, action, resource, context}]), for
 * bench/compare/cedar-inproc.  --runs N and --iters N change the measurement.
 */
#include "../../pdp/eval/pdpe.h"
#include "../../pdp/eval/pdpe_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define N_USERS 5000
#define N_GROUPS 500
#define N_TEAMS 50
#define N_DOCS 10000
#define N_FOLDERS 1000
#define N_TOPS 100
#define N_ACTIONS 200
#define N_AGROUPS 20
#define N_REQ 16 /* requests use users/docs 0..15, actions 0..4 */
#define RESERVED 16

/* ---- growable text ---- */

typedef struct text {
  char *p;
  size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) abort();
    if (t->p && t->n + (size_t)k < t->cap) {
      t->n += (size_t)k;
      return;
    }
    size_t nc = (t->cap ? t->cap * 2 : 1 << 16) + (size_t)k;
    char *np = realloc(t->p, nc);
    if (!np) {
      fprintf(stderr, "pdp-bench-index: out of memory\n");
      exit(1);
    }
    t->p = np, t->cap = nc;
  }
}

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng >> 33) % n);
}
/* An index in [RESERVED, n): never one the requests reach. */
static uint32_t far(uint32_t n) {
  return RESERVED + rnd(n - RESERVED);
}

/* ---- generation ---- */

static void gen_entities(text *t) {
  put(t, "[\n");
  for (uint32_t i = 0; i < N_USERS; i++)
    put(t,
        "{\"uid\":{\"type\":\"User\",\"id\":\"u%u\"},\"attrs\":{\"level\":%u,\"dept\":\"d%u\"},"
        "\"parents\":[{\"type\":\"Group\",\"id\":\"g%u\"},{\"type\":\"Group\",\"id\":\"g%u\"}]},\n",
        i, i % 5, i % 7, i % N_GROUPS, (i / 10) % N_GROUPS);
  for (uint32_t i = 0; i < N_GROUPS; i++)
    put(t,
        "{\"uid\":{\"type\":\"Group\",\"id\":\"g%u\"},\"attrs\":{},\"parents\":[{\"type\":"
        "\"Group\",\"id\":\"team%u\"}]},\n",
        i, i % N_TEAMS);
  for (uint32_t i = 0; i < N_DOCS; i++)
    put(t,
        "{\"uid\":{\"type\":\"Doc\",\"id\":\"d%u\"},\"attrs\":{\"owner\":{\"__entity\":{\"type\":"
        "\"User\",\"id\":\"u%u\"}},"
        "\"public\":%s},\"parents\":[{\"type\":\"Folder\",\"id\":\"f%u\"}]},\n",
        i, (i * 7) % N_REQ + (i / N_REQ) * N_REQ % N_USERS, i % 3 == 0 ? "true" : "false",
        i % N_FOLDERS);
  for (uint32_t i = 0; i < N_FOLDERS; i++)
    put(t,
        "{\"uid\":{\"type\":\"Folder\",\"id\":\"f%u\"},\"attrs\":{},\"parents\":[{\"type\":"
        "\"Folder\",\"id\":\"top%u\"}]},\n",
        i, i % N_TOPS);
  for (uint32_t i = 0; i < N_ACTIONS; i++)
    put(t,
        "{\"uid\":{\"type\":\"Action\",\"id\":\"act%u\"},\"attrs\":{},\"parents\":[{\"type\":"
        "\"Action\",\"id\":\"all%u\"}]}%s\n",
        i, i % N_AGROUPS, i + 1 < N_ACTIONS ? "," : "");
  put(t, "]\n");
}

/* Ten policies the requests reach: every scope kind, four with conditions. */
static const char *CORE =
    "permit(principal in Group::\"team1\", action in Action::\"all0\", resource);\n"
    "permit(principal, action == Action::\"act1\", resource in Folder::\"top2\") when { "
    "resource.owner == principal };\n"
    "forbid(principal in Group::\"g3\", action, resource) unless { context.mfa };\n"
    "permit(principal is User in Group::\"g0\", action in [Action::\"act0\", Action::\"act2\", "
    "Action::\"act4\"], "
    "resource is Doc) when { principal.level >= 1 };\n"
    "permit(principal == User::\"u5\", action, resource in Folder::\"f5\");\n"
    "permit(principal, action in Action::\"all3\", resource == Doc::\"d3\");\n"
    "forbid(principal is User, action == Action::\"act4\", resource in Folder::\"top4\") when { "
    "resource.public };\n"
    "permit(principal in Group::\"team7\", action, resource is Doc in Folder::\"top7\");\n"
    "permit(principal == User::\"u2\", action == Action::\"act2\", resource == Doc::\"d2\");\n"
    "permit(principal is User, action in Action::\"all1\", resource is Doc);\n";

static const char *CONDITIONS[] = {
    "when { resource.owner == principal }",
    "when { principal.level >= 2 }",
    "unless { context.mfa }",
    "when { resource.public }",
    "when { principal.dept == \"d3\" }",
};

/* One generated policy naming only entities and actions the requests never reach. */
static void gen_policy(text *t) {
  char pr[96], ac[128], re[96];
  bool named = true;
  uint32_t k = rnd(100);
  if (k < 40)
    snprintf(pr, sizeof pr, "principal == User::\"u%u\"", far(N_USERS));
  else if (k < 55)
    snprintf(pr, sizeof pr, "principal in Group::\"g%u\"", far(N_GROUPS));
  else if (k < 65)
    snprintf(pr, sizeof pr, "principal in Group::\"team%u\"", far(N_TEAMS));
  else if (k < 75)
    snprintf(pr, sizeof pr, "principal is User in Group::\"g%u\"", far(N_GROUPS));
  else if (k < 85)
    snprintf(pr, sizeof pr, "principal is User"), named = false;
  else
    snprintf(pr, sizeof pr, "principal"), named = false;
  k = rnd(100);
  if (k < 15)
    snprintf(re, sizeof re, "resource == Doc::\"d%u\"", far(N_DOCS)), named = true;
  else if (k < 30)
    snprintf(re, sizeof re, "resource in Folder::\"f%u\"", far(N_FOLDERS)), named = true;
  else if (k < 40)
    snprintf(re, sizeof re, "resource is Doc in Folder::\"top%u\"", far(N_TOPS)), named = true;
  else if (k < 55)
    snprintf(re, sizeof re, "resource is Doc");
  else
    snprintf(re, sizeof re, "resource");
  /* Requests use act0..act4 (in all0..all4): generated actions are act5.. and all5.. */
  k = rnd(100);
  const uint32_t lo = 5;
  if (k < 50 || !named)
    snprintf(ac, sizeof ac, "action == Action::\"act%u\"", lo + rnd(N_ACTIONS - lo));
  else if (k < 70)
    snprintf(ac, sizeof ac, "action in [Action::\"act%u\", Action::\"act%u\"]",
             lo + rnd(N_ACTIONS - lo), lo + rnd(N_ACTIONS - lo));
  else if (k < 80)
    snprintf(ac, sizeof ac, "action in Action::\"all%u\"", lo + rnd(N_AGROUPS - lo));
  else
    snprintf(ac, sizeof ac, "action");
  put(t, "%s(%s, %s, %s)", rnd(5) ? "permit" : "forbid", pr, ac, re);
  if (rnd(10) < 3) put(t, " %s", CONDITIONS[rnd(5)]);
  put(t, ";\n");
}

static void gen_policies(text *t, uint32_t n) {
  put(t, "%s", CORE);
  for (uint32_t i = 10; i < n; i++) gen_policy(t);
}

static void gen_requests(text *t) {
  put(t, "[\n");
  for (uint32_t i = 0; i < N_REQ; i++)
    put(t,
        "{\"principal\":{\"type\":\"User\",\"id\":\"u%u\"},\"action\":{\"type\":\"Action\",\"id\":"
        "\"act%u\"},"
        "\"resource\":{\"type\":\"Doc\",\"id\":\"d%u\"},\"context\":{\"mfa\":%s}}%s\n",
        i, i % 5, (i * 5 + 3) % N_REQ, i % 2 ? "true" : "false", i + 1 < N_REQ ? "," : "");
  put(t, "]\n");
}

/* ---- loading, as pdpd does ---- */

static void die(const char *what, const char *msg) {
  fprintf(stderr, "pdp-bench-index: %s: %s\n", what, msg);
  exit(1);
}

static pdpe_snapshot *load(const text *pol, const text *ents) {
  pdpe_snapshot *s = pdpe_snapshot_new();
  if (!s) die("snapshot", "out of memory");
  char *copy = pu_arena_memdup(&s->arena, pol->p, pol->n + 1);
  pdpl_policies pols = {0};
  pdpl_errors *errs = calloc(1, sizeof *errs);
  char err[512];
  if (!copy || !errs) die("policies", "out of memory");
  if (pdpl_parse(&s->arena, "bench.cedar", copy, pol->n, NULL, &pols, errs) != 0)
    die("policies", pdpl_error_format(&errs->items[0], err, sizeof err));
  free(errs);
  if (!pdpe_policy_set_build(&s->arena, &pols, &s->policies, err, sizeof err)) die("policies", err);
  json_error_t je;
  json_t *j = json_loadb(ents->p, ents->n, 0, &je);
  if (!j) die("entities", je.text);
  if (!pdpe_entities_from_json(&s->arena, j, "entities.json", &s->entities, err, sizeof err))
    die("entities", err);
  json_decref(j);
  return s;
}

static pdpe_uid uid_of(pu_arena *a, const json_t *j) {
  const char *type = json_string_value(json_object_get(j, "type")),
             *id = json_string_value(json_object_get(j, "id"));
  if (!type || !id) die("requests", "bad uid");
  return (pdpe_uid){pu_str_c(pu_arena_strdup(a, type)), pu_str_c(pu_arena_strdup(a, id))};
}

static uint32_t load_requests(pu_arena *a, const text *t, pdpe_request *out) {
  json_error_t je;
  json_t *j = json_loadb(t->p, t->n, 0, &je);
  if (!j) die("requests", je.text);
  uint32_t n = (uint32_t)json_array_size(j);
  char err[256];
  for (uint32_t i = 0; i < n && i < N_REQ; i++) {
    const json_t *r = json_array_get(j, i);
    out[i] = (pdpe_request){.principal = uid_of(a, json_object_get(r, "principal")),
                            .action = uid_of(a, json_object_get(r, "action")),
                            .resource = uid_of(a, json_object_get(r, "resource"))};
    if (!pdpe_value_from_json(a, json_object_get(r, "context"), "context", &out[i].context, err,
                              sizeof err))
      die("requests", err);
  }
  json_decref(j);
  return n;
}

/* ---- measuring ---- */

typedef bool (*authorize_fn)(const pdpe_snapshot *, const pdpe_request *, pu_arena *,
                             pdpe_decision *);

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static volatile uint32_t sink;

/* ns per check of `iters` passes over the requests (the arena reset after each check). */
static double pass_ns(authorize_fn fn, const pdpe_snapshot *s, const pdpe_request *reqs, uint32_t n,
                      pu_arena *ra, uint32_t iters) {
  pdpe_decision d;
  double t0 = now_ns();
  for (uint32_t it = 0; it < iters; it++)
    for (uint32_t q = 0; q < n; q++) {
      if (!fn(s, &reqs[q], ra, &d)) die("authorize", "out of memory");
      sink += d.decision;
      pu_arena_reset(ra);
    }
  return (now_ns() - t0) / ((double)iters * n);
}

static double median(double *v, uint32_t n) {
  qsort(v, n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void write_file(const char *dir, const char *name, const text *t) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fwrite(t->p, 1, t->n, f) != t->n || fclose(f) != 0) die(path, strerror(errno));
}

static void make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die(path, strerror(errno));
}

int main(int argc, char **argv) {
  const char *write_dir = NULL;
  uint32_t runs = 15, iters = 4000;
  uint64_t seed = 42;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--write") && i + 1 < argc)
      write_dir = argv[++i];
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
      iters = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: pdp-bench-index [--write DIR] [--runs N] [--iters N] [--seed N]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > 64 || iters < 1)
    die("arguments", "--runs must be 1..64 and --iters at least 1");
  const uint32_t sizes[2] = {10, 10000};
  text ents = {0}, reqs_text = {0};
  gen_entities(&ents);
  gen_requests(&reqs_text);
  if (write_dir) make_dir(write_dir);
  pu_arena ra, qa;
  pu_arena_init(&ra, 64 * 1024, 0);
  pu_arena_init(&qa, 4096, 0);
  pdpe_snapshot *snap[2];
  pdpe_request reqs[N_REQ];
  uint32_t n = load_requests(&qa, &reqs_text, reqs), allow[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    rng = seed;
    text pol = {0};
    gen_policies(&pol, sizes[k]);
    if (write_dir) {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/n%u", write_dir, sizes[k]);
      make_dir(sub);
      write_file(sub, "policies.cedar", &pol);
      write_file(sub, "entities.json", &ents);
      write_file(sub, "requests.json", &reqs_text);
    }
    snap[k] = load(&pol, &ents);
    free(pol.p);
    if (pdpe_policy_set_count(snap[k]->policies) != sizes[k])
      die("policies", "wrong count generated");
    for (uint32_t q = 0; q < n; q++) {
      pdpe_decision a, b;
      if (!pdpe_authorize(snap[k], &reqs[q], &ra, &a) ||
          !pdpe_authorize_scan(snap[k], &reqs[q], &ra, &b))
        die("authorize", "out of memory");
      if (a.decision != b.decision || a.n_reason != b.n_reason || a.n_errors != b.n_errors)
        die("authorize", "index and scan disagree");
      allow[k] += a.decision == PDPE_ALLOW;
      pu_arena_reset(&ra);
    }
  }
  if (allow[0] != allow[1])
    die("requests", "the two sets decide differently (the request shape changed)");
  /* Warm up both, then alternate the two sets run by run so that whatever else the machine
   * does falls on both alike. */
  double idx_runs[2][64], scan_runs[2][64], idx_ns[2], scan_ns[2];
  for (int k = 0; k < 2; k++) pass_ns(pdpe_authorize, snap[k], reqs, n, &ra, iters / 4 + 1);
  for (uint32_t r = 0; r < runs; r++)
    for (int k = 0; k < 2; k++)
      idx_runs[k][r] = pass_ns(pdpe_authorize, snap[k], reqs, n, &ra, iters);
  /* The full scan, for reference: fewer passes over 10,000 policies. */
  uint32_t scan_r = runs < 5 ? runs : 5;
  for (uint32_t r = 0; r < scan_r; r++)
    for (int k = 0; k < 2; k++)
      scan_runs[k][r] = pass_ns(pdpe_authorize_scan, snap[k], reqs, n, &ra,
                                sizes[k] > 100 ? iters / 500 + 1 : iters);
  printf("| policies | entities | requests | pdpe_authorize ns/check (index) | full scan ns/check "
         "| allow/deny |\n");
  printf("|---:|---:|---:|---:|---:|---:|\n");
  for (int k = 0; k < 2; k++) {
    idx_ns[k] = median(idx_runs[k], runs), scan_ns[k] = median(scan_runs[k], scan_r);
    printf("| %u | %u | %u | %.1f | %.1f | %u/%u |\n", sizes[k],
           pdpe_entities_count(snap[k]->entities), n, idx_ns[k], scan_ns[k], allow[k],
           n - allow[k]);
    pdpe_snapshot_unref(snap[k]);
  }
  printf("\nindex ratio 10000/10 = %.2f\n", idx_ns[1] / idx_ns[0]);
  pu_arena_close(&ra);
  pu_arena_close(&qa);
  free(ents.p), free(reqs_text.p);
  return 0;
}

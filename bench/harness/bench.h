/* bench.h - internals of pdp-bench (not installed): the latency histogram and scenarios.
 *
 * hist.c      bench_hist: a log-linear histogram of nanoseconds, 1/256 relative error
 * scenario.c  bench_scenario: a request mix (a checks.json) pre-encoded as frames, one
 *             Check per frame or (bench_scenario_batch) K checks per BatchCheck frame,
 *             optionally with tokens in place of principals (bench_scenario_tokens); or
 *             (bench_scenario_load_lists) a list-allowed.json as ListAllowed frames
 */
#ifndef PDP_BENCH_HARNESS_BENCH_H
#define PDP_BENCH_HARNESS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values below 256 ns are exact; above, each power of two is split into 128 buckets, and a
 * bucket reports its midpoint: the reported value is within 1/256 (0.4%) of the true one. */
#define BENCH_HIST_SUB 128
#define BENCH_HIST_BUCKETS (256 + 56 * BENCH_HIST_SUB)

typedef struct bench_hist {
  uint64_t counts[BENCH_HIST_BUCKETS];
  uint64_t n;   /* samples */
  uint64_t max; /* exact largest sample */
} bench_hist;

void bench_hist_add(bench_hist *h, uint64_t ns);
void bench_hist_merge(bench_hist *into, const bench_hist *from);
/* The value at quantile q (0..1), in ns; 0 when empty. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

/* One request of a scenario, encoded once: a whole frame (length prefix included). */
typedef struct bench_frame {
  uint8_t *bytes;
  size_t len;
  int expect_allow;     /* Check frames: 1 allow, 0 deny, -1 not stated */
  signed char *expects; /* BatchCheck frames: n_checks expectations like expect_allow (owned) */
  size_t n_checks;      /* checks in this frame: 1 for a Check, K for a BatchCheck */
  char *expect_list;    /* ListAllowed frames: the expected action ids, each followed by '\n'
                           (owned; "" when none is allowed); NULL for other frames */
} bench_frame;

typedef struct bench_scenario {
  char name[256];
  bench_frame *frames; /* owned */
  size_t n;
  size_t batch; /* checks per BatchCheck frame; 0 when every frame is one Check */
  bool lists;   /* every frame is a ListAllowed request (bench_scenario_load_lists) */
} bench_scenario;

/* Load DIR/checks.json (the format `pdpctl test` reads; docs/checks.md) and encode every
 * check as a Check request.  false with a message naming the file and check on error. */
bool bench_scenario_load(const char *dir, bench_scenario *out, char *err, size_t cap);
void bench_scenario_close(bench_scenario *s);

/* Repack a loaded scenario's Check frames as BatchCheck frames of exactly k checks each
 * (k >= 1): frame b (id b + 1) holds checks b*k .. b*k + k - 1, taken cyclically, so there
 * are ceil(n / k) frames and the last one wraps around to the first checks.  Each frame
 * keeps its checks' expectations in order.  On error (k == 0, out of memory, a frame that
 * does not decode) s is left as it was and false comes back with a message. */
bool bench_scenario_batch(bench_scenario *s, size_t k, char *err, size_t cap);

/* Re-encode a loaded scenario's Check frames with a token in place of each principal: check
 * i carries tokens[i % n] (n >= 1; pdpd needs --jwt-config).  The principal a token maps to
 * is not the scenario's, so the expected decisions are dropped (expect_allow -1): the first
 * pass then only checks that every answer is OK, which a refused token is not.  Call it
 * before bench_scenario_batch.  On error s is left as it was and false comes back. */
bool bench_scenario_tokens(bench_scenario *s, char *const *tokens, size_t n, char *err, size_t cap);
/* Load DIR/list-allowed.json and encode every item as a ListAllowed request (id = index + 1):
 *   {"lists": [{"name": "...", "principal": UID, "resource": UID, "context": {...},
 *               "entities": [...], "prefix": "svc3.", "allowed": ["svc3.p01", ...]}]}
 * principal and resource as in checks.json (docs/checks.md); name, context, entities and
 * prefix optional; allowed (required) is the expected list of Action ids in name order, as
 * pdpd answers it.  bench/scenarios/gen.py writes one for rbac-1m.  false with a message
 * naming the file and item on error. */
bool bench_scenario_load_lists(const char *dir, bench_scenario *out, char *err, size_t cap);

#endif

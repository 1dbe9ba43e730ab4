/* hist.c - the latency histogram (see bench.h for its error bound).
 *
 * Bucket of v: v itself below 256; else with e = floor(log2 v) - 7 (so v >> e is in
 * [128, 255]) the bucket is 256 + (e - 1) * 128 + ((v >> e) - 128).  Buckets are counted,
 * never sorted, so merging the per-connection histograms is a sum.
 */
#include "bench.h"

static unsigned bucket_of(uint64_t v) {
  if (v < 256) return (unsigned)v;
  unsigned e = (unsigned)(63 - __builtin_clzll(v)) - 7;
  unsigned idx = 256 + (e - 1) * BENCH_HIST_SUB + (unsigned)((v >> e) - 128);
  return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

static uint64_t value_of(unsigned idx) {
  if (idx < 256) return idx;
  unsigned e = (idx - 256) / BENCH_HIST_SUB + 1;
  uint64_t sub = (idx - 256) % BENCH_HIST_SUB + 128;
  return (sub << e) + ((uint64_t)1 << (e - 1)); /* the bucket's midpoint */
}

void bench_hist_add(bench_hist *h, uint64_t ns) {
  h->counts[bucket_of(ns)]++;
  h->n++;
  if (ns > h->max) h->max = ns;
}

void bench_hist_merge(bench_hist *into, const bench_hist *from) {
  for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) into->counts[i] += from->counts[i];
  into->n += from->n;
  if (from->max > into->max) into->max = from->max;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q) {
  if (h->n == 0) return 0;
  if (q >= 1.0) return h->max; /* the largest sample is kept exactly */
  uint64_t rank = (uint64_t)(q * (double)h->n);
  if (rank >= h->n) rank = h->n - 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen > rank) {
      uint64_t v = value_of(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

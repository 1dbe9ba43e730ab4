/* test_bench_hist.c - pdp-bench's latency histogram keeps its promised error bound. */
#include <criterion/criterion.h>

#include "../../bench/harness/hist.c"

Test(bench_hist, every_reported_value_is_within_the_error_bound) {
  /* For many single values across the whole range, the reported quantile is within
   * 1/256 of the true value (exact below 256 ns). */
  for (uint64_t v = 1; v < ((uint64_t)1 << 40); v = v * 3 / 2 + 1) {
    bench_hist *h = calloc(1, sizeof *h);
    bench_hist_add(h, v);
    uint64_t q = bench_hist_quantile(h, 0.5);
    double rel = (double)(q > v ? q - v : v - q) / (double)v;
    if (v < 256) cr_assert_eq(q, v);
    cr_assert(rel <= 1.0 / 256, "value %llu reported as %llu (error %.5f)", (unsigned long long)v,
              (unsigned long long)q, rel);
    free(h);
  }
}

Test(bench_hist, quantiles_of_a_uniform_run) {
  bench_hist *h = calloc(1, sizeof *h);
  for (uint64_t v = 1; v <= 100000; v++) bench_hist_add(h, v * 1000);
  uint64_t p50 = bench_hist_quantile(h, 0.5), p99 = bench_hist_quantile(h, 0.99);
  cr_assert(p50 > 49500000 && p50 < 50500000, "p50 %llu", (unsigned long long)p50);
  cr_assert(p99 > 98500000 && p99 < 99500000, "p99 %llu", (unsigned long long)p99);
  cr_assert_eq(bench_hist_quantile(h, 1.0), 100000000);
  cr_assert_eq(h->max, 100000000);
  bench_hist other = {0};
  bench_hist_add(&other, 7);
  bench_hist_merge(h, &other);
  cr_assert_eq(h->n, 100001);
  cr_assert_eq(bench_hist_quantile(h, 0.0), 7);
  free(h);
}

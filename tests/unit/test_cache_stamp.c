/* test_cache_stamp.c - the stamp algorithm alone (stamp.c), without a store.
 *
 * The record hash follows the documented byte layout, length prefixes keep parts apart, the
 * 256-bit sums carry and borrow across every byte, and summing is order-independent and
 * reversible: the properties that make the store stamp identical for identical content and
 * cheap to maintain.
 */
#include <criterion/criterion.h>

#include "../../cache/cache.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static void sha256_parts(const void *const *parts, const size_t *lens, int n, uint8_t out[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  cr_assert_not_null(ctx);
  cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
  for (int i = 0; i < n; i++) cr_assert_eq(EVP_DigestUpdate(ctx, parts[i], lens[i]), 1);
  unsigned int len = 0;
  cr_assert_eq(EVP_DigestFinal_ex(ctx, out, &len), 1);
  EVP_MD_CTX_free(ctx);
}

static void be64(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

Test(cache_stamp, the_record_hash_is_sha256_of_length_prefixed_table_key_and_value) {
  uint8_t l1[8], l2[8], l3[8];
  be64(l1, 8);
  be64(l2, 3);
  be64(l3, 5);
  const void *parts[] = {l1, "entities", l2, "k\0y", l3, "value"};
  size_t lens[] = {8, 8, 8, 3, 8, 5};
  uint8_t want[32], got[32];
  sha256_parts(parts, lens, 6, want);
  cr_assert(cache_stamp_record(CACHE_TABLE_ENTITIES, "k\0y", 3, "value", 5, got));
  cr_assert_arr_eq(got, want, 32);
}

Test(cache_stamp, length_prefixes_keep_key_and_value_apart) {
  uint8_t a[32], b[32];
  cr_assert(cache_stamp_record(CACHE_TABLE_POLICIES, "ab", 2, "c", 1, a));
  cr_assert(cache_stamp_record(CACHE_TABLE_POLICIES, "a", 1, "bc", 2, b));
  cr_assert_arr_neq(a, b, 32);
}

Test(cache_stamp, the_same_row_in_another_table_hashes_differently) {
  uint8_t a[32], b[32];
  cr_assert(cache_stamp_record(CACHE_TABLE_GRANTS, "k", 1, "v", 1, a));
  cr_assert(cache_stamp_record(CACHE_TABLE_REVOCATIONS, "k", 1, "v", 1, b));
  cr_assert_arr_neq(a, b, 32);
}

Test(cache_stamp, meta_and_unknown_tables_have_no_record_hash) {
  uint8_t h[32];
  cr_assert_not(cache_stamp_record(CACHE_TABLE_META, "k", 1, "v", 1, h));
  cr_assert_not(cache_stamp_record((cache_table)42, "k", 1, "v", 1, h));
  cr_assert_null(cache_table_name((cache_table)42));
  cr_assert_str_eq(cache_table_name(CACHE_TABLE_DEFINITIONS), "definitions");
}

Test(cache_stamp, sums_carry_and_borrow_across_all_256_bits) {
  uint8_t sum[32], one[32] = {0}, zero[32] = {0}, ff[32];
  one[31] = 1;
  memset(ff, 0xff, 32);
  memcpy(sum, ff, 32);
  cache_stamp_add(sum, one); /* 2^256 - 1 + 1 wraps to 0 */
  cr_assert_arr_eq(sum, zero, 32);
  cache_stamp_sub(sum, one); /* 0 - 1 wraps to 2^256 - 1 */
  cr_assert_arr_eq(sum, ff, 32);
  uint8_t low[32] = {0}, want[32] = {0};
  memset(low + 16, 0xff, 16); /* 2^128 - 1 */
  cache_stamp_add(low, one);
  want[15] = 1; /* 2^128 */
  cr_assert_arr_eq(low, want, 32);
}

Test(cache_stamp, a_sum_is_the_same_in_any_order_and_subtraction_undoes_addition) {
  enum { N = 300 };
  static uint8_t h[N][32];
  char key[16];
  for (int i = 0; i < N; i++) {
    int n = snprintf(key, sizeof key, "k%d", i);
    cr_assert(cache_stamp_record(CACHE_TABLE_POLICIES, key, (size_t)n, &i, sizeof i, h[i]));
  }
  uint8_t forward[32] = {0}, shuffled[32] = {0};
  for (int i = 0; i < N; i++) cache_stamp_add(forward, h[i]);
  int order[N];
  for (int i = 0; i < N; i++) order[i] = i;
  srand(7);
  for (int i = N - 1; i > 0; i--) {
    int j = rand() % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < N; i++) cache_stamp_add(shuffled, h[order[i]]);
  cr_assert_arr_eq(forward, shuffled, 32);
  uint8_t partial[32] = {0};
  for (int i = 0; i < N / 2; i++) cache_stamp_add(partial, h[i]);
  for (int i = N - 1; i >= N / 2; i--) cache_stamp_sub(shuffled, h[i]); /* remove the second half */
  cr_assert_arr_eq(partial, shuffled, 32);
}

Test(cache_stamp, the_store_stamp_folds_the_sums_in_table_order_after_a_tag) {
  uint8_t sums[CACHE_TABLE_STAMPED][32];
  memset(sums, 0, sizeof sums);
  sums[1][31] = 9;
  uint8_t got[32], want[32];
  cr_assert(cache_stamp_fold((const uint8_t(*)[32])sums, got));
  const void *parts[] = {"pdpd-store-stamp-1", sums[0], sums[1], sums[2], sums[3], sums[4]};
  size_t lens[] = {18, 32, 32, 32, 32, 32};
  sha256_parts(parts, lens, 6, want);
  cr_assert_arr_eq(got, want, 32);
  /* The same sum in another table is another stamp. */
  sums[1][31] = 0;
  sums[2][31] = 9;
  uint8_t moved[32];
  cr_assert(cache_stamp_fold((const uint8_t(*)[32])sums, moved));
  cr_assert_arr_neq(got, moved, 32);
}

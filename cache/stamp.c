/* stamp.c - the content stamp of the LMDB store: record hashes folded into per-table sums.
 *
 * A record (table, key, value) hashes to h = SHA-256 of the length-prefixed parts
 * (u64 big-endian length, then the bytes, for the table's name, the key and the value), so no
 * two different records share a byte stream.  A table's sum is the sum of its records' hashes
 * read as 256-bit big-endian integers, modulo 2^256.  Addition is commutative and associative
 * and has an inverse, so:
 *   - the sum depends on the set of records only, never on the order they arrived in or on
 *     the history (insert then delete leaves exactly the sum of never inserting);
 *   - a put adds h(new) and subtracts h(old) when it overwrites, a delete subtracts h(old):
 *     a change costs one or two hashes, whatever the size of the table.
 * The store stamp is SHA-256 over a fixed tag and the five content sums in table order.
 *
 * The sums are not a cryptographic commitment against an adversary choosing records (sums of
 * hashes admit crafted collisions with enough effort); they identify content between nodes
 * that trust their source, which is what pdpd compares stamps for.
 *
 * Owns nothing: pure functions over caller memory, and an OpenSSL digest context per call
 * (or the caller's reusable one through cache__stamp_record_ctx).
 */
#include "cache_int.h"

#include <openssl/evp.h>
#include <string.h>

#define STAMP_TAG "pdpd-store-stamp-1"

static bool digest_part(EVP_MD_CTX *ctx, const void *p, size_t n) {
  uint8_t len[8];
  uint64_t v = (uint64_t)n;
  for (int i = 7; i >= 0; i--) {
    len[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
  if (EVP_DigestUpdate(ctx, len, sizeof len) != 1) return false;
  return n == 0 || EVP_DigestUpdate(ctx, p, n) == 1;
}

bool cache__stamp_record_ctx(struct evp_md_ctx_st *ctx, cache_table t, const void *key,
                             size_t key_len, const void *val, size_t val_len, uint8_t out[32]) {
  const char *name = cache_table_name(t);
  if (!name || t >= CACHE_TABLE_STAMPED) return false;
  unsigned int n = 0;
  return EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && digest_part(ctx, name, strlen(name)) &&
         digest_part(ctx, key, key_len) && digest_part(ctx, val, val_len) &&
         EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
}

bool cache_stamp_record(cache_table t, const void *key, size_t key_len, const void *val,
                        size_t val_len, uint8_t out[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  bool ok = cache__stamp_record_ctx(ctx, t, key, key_len, val, val_len, out);
  EVP_MD_CTX_free(ctx);
  return ok;
}

void cache_stamp_add(uint8_t sum[32], const uint8_t h[32]) {
  unsigned carry = 0;
  for (int i = 31; i >= 0; i--) {
    unsigned v = (unsigned)sum[i] + h[i] + carry;
    sum[i] = (uint8_t)v;
    carry = v >> 8;
  }
}

void cache_stamp_sub(uint8_t sum[32], const uint8_t h[32]) {
  unsigned borrow = 0;
  for (int i = 31; i >= 0; i--) {
    int v = (int)sum[i] - (int)h[i] - (int)borrow;
    borrow = v < 0;
    sum[i] = (uint8_t)(v + (borrow ? 256 : 0));
  }
}

bool cache_stamp_fold(const uint8_t sums[CACHE_TABLE_STAMPED][32], uint8_t out[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  unsigned int n = 0;
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
            EVP_DigestUpdate(ctx, STAMP_TAG, strlen(STAMP_TAG)) == 1;
  for (int t = 0; ok && t < CACHE_TABLE_STAMPED; t++) ok = EVP_DigestUpdate(ctx, sums[t], 32) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
  EVP_MD_CTX_free(ctx);
  return ok;
}

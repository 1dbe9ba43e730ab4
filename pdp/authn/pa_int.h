/* pa_int.h - what the files of pdp/authn share and no other module includes.
 *
 * pa_key: one configured key, parsed once.  `gen` is unique among every key this process
 * ever loaded: a cache entry remembers the gen of the key that verified it, and dropping
 * a key (a removed or replaced file) drops the entries of its gen.
 */
#ifndef PDP_AUTHN_PA_INT_H
#define PDP_AUTHN_PA_INT_H

#include "pa.h"

#include <openssl/evp.h>
#include <sys/types.h>

struct json_t;

/* A file's identity as stat sees it; equal fingerprints = same file, unchanged. */
typedef struct pa_fingerprint {
  bool present;
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns, ctime_ns;
} pa_fingerprint;

void pa__fingerprint(const char *path, pa_fingerprint *out);
bool pa__fingerprint_eq(const pa_fingerprint *a, const pa_fingerprint *b);
/* Read a whole file (at most `max` bytes) into a malloc'd buffer (NUL-terminated). */
char *pa__read_file(const char *path, size_t max, size_t *len, char *err, size_t err_cap);

typedef struct pa_key {
  const pa_key_config *cfg; /* in the pa_authn's config */
  bool usable;              /* parsed; false = file missing or bad (tokens refused) */
  char problem[400];        /* why not usable */
  uint64_t gen;
  pa_fingerprint fp;
  uint8_t content_hash[32]; /* SHA-256 of the file: a touch without change keeps the key */
  EVP_PKEY *pkey;           /* RS and ES */
  EVP_PKEY_CTX *vctx;       /* EVP_PKEY_verify_init'ed once for pkey (RS and ES) */
  EVP_MAC_CTX *mac;         /* HMAC with the secret set (HS) */
  EVP_MD *md;               /* the alg's hash, fetched once (RS and ES) */
  EVP_MD_CTX *md_ctx;       /* reused for the digest of each signing input */
  size_t sig_len;           /* expected signature bytes: RSA modulus, 2 x EC coordinate, hash */
  size_t coord_len;         /* ES: bytes per coordinate */
} pa_key;

/* Load (or reload) one key from its file; fills usable/problem.  `gen` is assigned by the
 * caller when the content changed. */
bool pa__key_load(pa_key *k, char *err, size_t err_cap);
void pa__key_unload(pa_key *k);
/* Verify `sig` over `input` with k (alg already matched).  1 good, 0 bad, -1 error. */
int pa__key_verify(pa_key *k, const uint8_t *input, size_t input_len, const uint8_t *sig,
                   size_t sig_len);

/* ---- the authenticator ---- */

typedef struct pa_cache pa_cache;
typedef struct pa_entry pa_entry;

struct pa_authn {
  char *config_path;
  char *base_dir; /* the config file's folder (key files are relative to it) */
  pa_fingerprint config_fp;
  uint8_t config_hash[32];
  pa_config cfg;
  pa_key *keys; /* cfg.n_keys, in config order */
  pa_cache *cache;
  uint64_t next_gen; /* the gen the next loaded key gets (never reused) */
};

/* Verify without cache or revocations; on PA_OK *key_out is the key that verified. */
pa_status pa__verify(pa_authn *a, pu_str token, int64_t now, pu_arena *arena,
                     pdpe_entity *principal, pa_token_info *info, pa_key **key_out, char *err,
                     size_t err_cap);

/* ---- the verified-token cache ---- */

pa_cache *pa__cache_new(uint32_t max_entries, size_t max_bytes);
void pa__cache_free(pa_cache *c);
/* The table hash of a token: 64 bits keyed with the cache's random seed (a lookup
 * compares the whole token text too, so the hash only spreads the table). */
uint64_t pa__cache_hash(const pa_cache *c, pu_str token);
/* The live entry for `token` (whose pa__cache_hash is `hash`) or NULL (an entry past
 * valid_until is dropped and NULL returned). */
pa_entry *pa__cache_find(pa_cache *c, uint64_t hash, pu_str token, int64_t now);
/* Copy a verified token, its principal and info into a new entry; false when it cannot be
 * kept (too large for the budget, out of memory) - not an error for the caller. */
bool pa__cache_put(pa_cache *c, uint64_t hash, pu_str token, int64_t valid_until, uint64_t key_gen,
                   const uint8_t *rev_stamp, const pdpe_entity *principal,
                   const pa_token_info *info);
void pa__cache_remove(pa_cache *c, pa_entry *e);
void pa__cache_drop_gen(pa_cache *c, uint64_t gen);
void pa__cache_clear(pa_cache *c);
uint32_t pa__cache_sweep(pa_cache *c, int64_t now);
void pa__cache_stats(const pa_cache *c, pa_cache_stats *out);
void pa__cache_count_miss(pa_cache *c);
/* Entry accessors. */
const pa_token_info *pa__entry_info(const pa_entry *e);
const pdpe_entity *pa__entry_principal(const pa_entry *e);
bool pa__entry_checked_against(const pa_entry *e, const uint8_t stamp[32]);
void pa__entry_set_checked(pa_cache *c, pa_entry *e, const uint8_t stamp[32]);

/* Deep copies of principals (cache in and out). */
bool pa__copy_entity(pu_arena *arena, const pdpe_entity *src, pdpe_entity *dst);
/* The bytes pa__copy_entity_into needs for src (exact). */
size_t pa__entity_size(const pdpe_entity *src);
bool pa__copy_entity_into(void *buf, size_t cap, const pdpe_entity *src, pdpe_entity *dst);
/* Copy a block pa__copy_entity_into filled (holding src) into the arena, shifting pointers. */
bool pa__clone_block(pu_arena *arena, const void *block, size_t size, const pdpe_entity *src,
                     pdpe_entity *dst);
/* A cache entry's principal as one block (for pa__clone_block). */
void pa__entry_block(const pa_entry *e, const void **block, size_t *size);

/* ---- claim mapping ---- */

/* Build the principal from a verified payload.  PA_OK, PA_ERR_CLAIM or PA_ERR_NOMEM. */
pa_status pa__map_claims(const pa_config *cfg, const struct json_t *payload, pu_arena *arena,
                         pdpe_entity *out, char *err, size_t err_cap);
/* A claim by name; "a.b" also finds b inside object a when there is no claim "a.b". */
const struct json_t *pa__claim(const struct json_t *payload, const char *name);

/* ---- errors ---- */

/* A printable copy of token text for messages: at most 64 characters, others as '?'. */
const char *pa__safe(char *buf, size_t cap, const char *s, size_t n);

pa_status pa__refuse(char *err, size_t err_cap, pa_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

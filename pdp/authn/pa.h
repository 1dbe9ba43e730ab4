/* pa.h - pdpd's token authentication: a JWT (JWS compact form) verified against configured
 * keys and mapped to a principal entity, with a cache of verified tokens.
 *
 * pdp/authn knows nothing of sockets, LMDB or the wire protocol.  It reads one JSON config
 * file (docs/jwt.md), parses every key ONCE into an OpenSSL object (or HMAC secret bytes),
 * and answers one question: given a token and the time, which principal entity does it
 * stand for, or why is it refused.
 *
 * Verification never uses libjwt (DESIGN §6, docs/DECISIONS.md): strict base64url, jansson
 * with JSON_REJECT_DUPLICATES and a nesting limit, the algorithm pinned per key, `none`
 * refused, HMAC compared in constant time, ECDSA's JWS r||s converted to DER, RSA PKCS#1
 * v1.5 through EVP; exp/nbf/iat must be numbers, iss/aud are checked, time with leeway.
 *
 * Key selection (docs/jwt.md): a token whose header names a kid uses the key with that kid
 * (none = "unknown kid"; that key's alg must equal the header's alg).  A token without a
 * kid uses the one key whose alg equals the header's alg; when no key has that alg the
 * token is refused as an algorithm mismatch, when several do it is refused as "kid
 * required" (and always when the config sets require_kid).
 *
 * Cache: verified tokens are kept by their text (a keyed 64-bit hash places them, a hit
 * compares the whole text), bounded in entries and bytes, each until its exp (+ leeway), a
 * revocation, or a change of the key that verified it (reloading a changed or removed key drops
 * every entry it verified at once).  The revocation state is identified by a caller-given 32-byte
 * stamp (the snapshot's): a hit whose entry was last checked against the same stamp costs a hash
 * and a table lookup; a new stamp re-asks the caller's revocation callback once per entry.
 *
 * Threads: a pa_authn is used by one thread at a time (pdpd's loop thread; with several
 * loop threads, one pa_authn each).  Memory: results are built in the caller's pu_arena.
 */
#ifndef PDP_AUTHN_PA_H
#define PDP_AUTHN_PA_H

#include "../eval/pdpe.h"
#include "../util/pu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- status -------------------------------------------------------------------------- */

/* Why a token was refused.  Every status but PA_OK, PA_ERR_INTERNAL and PA_ERR_NOMEM is an
 * authentication failure (the wire status UNAUTHENTICATED); the message then starts with
 * "token refused: " followed by pa_status_reason(). */
typedef enum pa_status {
  PA_OK = 0,
  PA_ERR_SIZE,          /* "too large": longer than max_token_bytes */
  PA_ERR_MALFORMED,     /* "malformed": not header.payload.signature, bad base64url or JSON,
                           JSON nested too deep, a header or claim of the wrong type */
  PA_ERR_DUPLICATE,     /* "duplicate": a header or claim name given twice */
  PA_ERR_ALG_NONE,      /* "alg none": an unsigned token */
  PA_ERR_ALG_MISMATCH,  /* "algorithm mismatch": alg unknown, or not the selected key's */
  PA_ERR_KID_UNKNOWN,   /* "unknown kid": no key with the header's kid */
  PA_ERR_KID_REQUIRED,  /* "kid required": several keys could verify the token */
  PA_ERR_KEY_UNUSABLE,  /* "key unavailable": the selected key's file is missing or bad */
  PA_ERR_SIGNATURE,     /* "bad signature" */
  PA_ERR_EXPIRED,       /* "expired": exp + leeway <= now, or exp missing when required */
  PA_ERR_NOT_YET_VALID, /* "not yet valid": nbf - leeway > now */
  PA_ERR_ISSUER,        /* "wrong issuer" */
  PA_ERR_AUDIENCE,      /* "wrong audience" */
  PA_ERR_CLAIM,         /* "bad claim": sub missing, a mapped claim of an unusable type */
  PA_ERR_REVOKED,       /* "revoked": by jti or by subject and issue time */
  PA_ERR_NOMEM,         /* the caller's arena ran out (the caller answers OVERLOADED) */
  PA_ERR_INTERNAL,      /* the revocation lookup failed, an OpenSSL error (INTERNAL) */
} pa_status;

/* Stable short words for a status ("expired", "bad signature", ...); never NULL. */
const char *pa_status_reason(pa_status s);
/* True for statuses the daemon answers with UNAUTHENTICATED. */
bool pa_status_is_auth_failure(pa_status s);

/* ---- algorithms ---------------------------------------------------------------------- */

typedef enum pa_alg {
  PA_ALG_HS256 = 1,
  PA_ALG_HS384,
  PA_ALG_HS512,
  PA_ALG_RS256,
  PA_ALG_RS384,
  PA_ALG_RS512,
  PA_ALG_ES256,
  PA_ALG_ES384,
  PA_ALG_ES512,
} pa_alg;

const char *pa_alg_name(pa_alg alg); /* "HS256", ...; "?" for an invalid value */
pa_alg pa_alg_parse(pu_str name);    /* 0 when not one of the nine (including "none") */

/* ---- configuration ------------------------------------------------------------------- */

typedef enum pa_secret_encoding {
  PA_SECRET_RAW = 0, /* the file's bytes exactly */
  PA_SECRET_BASE64,  /* standard or URL alphabet, padding and surrounding whitespace ok */
  PA_SECRET_HEX,     /* surrounding whitespace ok */
} pa_secret_encoding;

typedef struct pa_key_config {
  const char *kid;             /* NULL when the config gives none */
  pa_alg alg;                  /* the one algorithm this key verifies */
  const char *file;            /* resolved against the config file's folder */
  pa_secret_encoding encoding; /* HS* only */
} pa_key_config;

typedef struct pa_attr_config {
  const char *attribute; /* attribute name on the principal */
  const char *claim;     /* claim name; "a.b" also finds claim b inside object claim a */
} pa_attr_config;

/* The parsed config file.  Every string and array lives in `arena`. */
typedef struct pa_config {
  pu_arena arena;
  pa_key_config *keys;
  uint32_t n_keys;
  const char **issuers; /* accepted iss values; none = iss not checked */
  uint32_t n_issuers;
  const char **audiences; /* the token's aud must name one; none = aud not checked */
  uint32_t n_audiences;
  int64_t leeway_s;           /* clock leeway for exp and nbf (default 30) */
  size_t max_token_bytes;     /* default 8192 */
  uint32_t max_json_depth;    /* nesting of the header and payload JSON (default 16) */
  bool require_exp;           /* default true */
  bool require_kid;           /* default false: see key selection above */
  int64_t max_cache_ttl_s;    /* longest a verified token stays cached (default 3600) */
  uint32_t cache_max_entries; /* default 10000; 0 disables the cache */
  size_t cache_max_bytes;     /* default 16 MiB */
  /* Claim mapping (defaults in brackets). */
  const char *principal_type; /* ["User"] */
  const char *role_type;      /* ["Role"] */
  const char *client_type;    /* ["Client"] */
  const char *subject_claim;  /* ["sub"] */
  const char **role_claims;   /* ["roles", "groups"]: every one present adds parents */
  uint32_t n_role_claims;
  const char **scope_claims; /* ["scope", "scp"]: the first present is used */
  uint32_t n_scope_claims;
  const char *tenant_claim;   /* ["tenant"]; "" = no tenant mapping */
  const char **client_claims; /* ["client_id", "azp"]: the first present is used */
  uint32_t n_client_claims;
  pa_attr_config *attributes; /* extra claims -> attributes [none] */
  uint32_t n_attributes;
} pa_config;

/* Parse a config text.  `name` names it in errors ("jwt.json"); relative key files are
 * resolved against `base_dir` (NULL = as given).  Unknown fields, wrong types, an unknown
 * alg, duplicate kids, two keys without a kid of the same alg, attribute names that clash
 * with the built-in ones are errors naming the field ("jwt.json: keys[1].alg: ...").
 * On success *out is initialised; release it with pa_config_close. */
bool pa_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                     pa_config *out, char *err, size_t err_cap);
void pa_config_close(pa_config *c);

/* ---- the authenticator --------------------------------------------------------------- */

typedef struct pa_authn pa_authn;

/* Read and parse the config file and every key file.  A key file that cannot be read or
 * parsed, a weak key (RSA below 2048 bits, an HMAC secret shorter than its hash, an EC key
 * on the wrong curve) or a private key given as public key is an error naming the key. */
pa_authn *pa_authn_new(const char *config_path, char *err, size_t err_cap);
void pa_authn_free(pa_authn *a); /* NULL is ignored */
/* The config in force (borrowed; valid until the next reload). */
const pa_config *pa_authn_config(const pa_authn *a);

typedef enum pa_reload {
  PA_RELOAD_ERROR = -1,  /* err says what; what was in force stays (a bad config file) or
                            the broken key is disabled (a key file: fail closed) */
  PA_RELOAD_NONE = 0,    /* nothing changed */
  PA_RELOAD_CHANGED = 1, /* something was reloaded */
} pa_reload;

/* Stat the config file and every key file (cheap: one stat each); re-read what changed.
 * A changed config file replaces everything and empties the cache; a changed (new content)
 * or removed key file drops every cached token that key verified.  Call it on a timer or
 * a file-system event. */
pa_reload pa_authn_reload_if_changed(pa_authn *a, char *err, size_t err_cap);

/* What a verified token says besides the principal (strings in the caller's arena). */
typedef struct pa_token_info {
  pu_str sub, jti, iss; /* jti, iss empty when absent */
  int64_t exp;          /* INT64_MAX when absent */
  int64_t iat;          /* INT64_MIN when absent */
  const char *kid;      /* the key's kid (borrowed from the config), NULL when it has none */
  pa_alg alg;
  bool cached; /* answered from the cache */
} pa_token_info;

/* Revocations: 1 = revoked, 0 = not, -1 = the lookup failed (the token is refused with
 * PA_ERR_INTERNAL).  `jti` is empty when the token has none; `iat` is INT64_MIN when the
 * token has none (so any subject revocation covers it). */
typedef int (*pa_revoked_fn)(void *ctx, pu_str jti, pu_str sub, int64_t iat);

typedef struct pa_revocations {
  pa_revoked_fn revoked;
  void *ctx;
  uint8_t stamp[32]; /* identifies the revocation state (the snapshot stamp) */
} pa_revocations;

/* Verify `token` at time `now` (Unix seconds), through the cache, and build its principal
 * entity in `arena`.  `rev` may be NULL (no revocations).  On a refusal, err holds
 * "token refused: <reason>: <detail>".  `info` may be NULL. */
pa_status pa_authn_check(pa_authn *a, pu_str token, int64_t now, const pa_revocations *rev,
                         pu_arena *arena, pdpe_entity *principal, pa_token_info *info, char *err,
                         size_t err_cap);

/* The same without the cache and without revocations: what a cache miss costs (the
 * benchmark and the tests use it). */
pa_status pa_authn_verify(pa_authn *a, pu_str token, int64_t now, pu_arena *arena,
                          pdpe_entity *principal, pa_token_info *info, char *err, size_t err_cap);

/* Drop cached tokens that expired by `now`; returns how many. */
uint32_t pa_authn_sweep(pa_authn *a, int64_t now);
/* Drop every cached token (a revocation the caller cannot express as a stamp change). */
void pa_authn_cache_clear(pa_authn *a);

typedef struct pa_cache_stats {
  uint32_t entries;
  size_t bytes;
  uint64_t hits, misses, evictions, revalidations;
} pa_cache_stats;
void pa_authn_cache_stats(const pa_authn *a, pa_cache_stats *out);

#endif

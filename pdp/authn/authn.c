/* authn.c - the authenticator: config + keys + cache, loading and reloading them, and the
 * cached check path.
 *
 * A check hashes the token (a keyed 64-bit hash; the entry's token text is compared in full),
 * looks it up, and on a hit copies the principal into
 * the caller's arena; the revocation callback runs only when the entry was last checked
 * against another revocation stamp.  A miss runs pa__verify (verify.c), asks the callback,
 * and caches the result.  Reloading: a changed config file replaces config, keys and cache
 * at once (or nothing, when the new file is bad); a changed key file replaces that key and
 * drops the entries it verified; a broken or removed key file disables the key (tokens
 * naming it are refused) until the file is good again.
 */
#include "pa_int.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PA_MAX_CONFIG_FILE (1u << 20)

static const char *const reasons[] = {
    [PA_OK] = "ok",
    [PA_ERR_SIZE] = "too large",
    [PA_ERR_MALFORMED] = "malformed",
    [PA_ERR_DUPLICATE] = "duplicate",
    [PA_ERR_ALG_NONE] = "alg none",
    [PA_ERR_ALG_MISMATCH] = "algorithm mismatch",
    [PA_ERR_KID_UNKNOWN] = "unknown kid",
    [PA_ERR_KID_REQUIRED] = "kid required",
    [PA_ERR_KEY_UNUSABLE] = "key unavailable",
    [PA_ERR_SIGNATURE] = "bad signature",
    [PA_ERR_EXPIRED] = "expired",
    [PA_ERR_NOT_YET_VALID] = "not yet valid",
    [PA_ERR_ISSUER] = "wrong issuer",
    [PA_ERR_AUDIENCE] = "wrong audience",
    [PA_ERR_CLAIM] = "bad claim",
    [PA_ERR_REVOKED] = "revoked",
    [PA_ERR_NOMEM] = "out of memory",
    [PA_ERR_INTERNAL] = "internal error",
};

const char *pa_status_reason(pa_status s) {
  return s >= PA_OK && s <= PA_ERR_INTERNAL ? reasons[s] : "unknown";
}

bool pa_status_is_auth_failure(pa_status s) {
  return s != PA_OK && s != PA_ERR_NOMEM && s != PA_ERR_INTERNAL;
}

/* ---- loading ---- */

/* Everything one config file produces; swapped into a pa_authn as a whole. */
typedef struct loaded {
  pa_config cfg;
  pa_key *keys;
  pa_fingerprint fp;
  uint8_t hash[32];
} loaded;

static void unload_keys(pa_key *keys, uint32_t n) {
  for (uint32_t i = 0; keys && i < n; i++) pa__key_unload(&keys[i]);
  free(keys);
}

static bool load(pa_authn *a, loaded *out, char *err, size_t err_cap) {
  memset(out, 0, sizeof(*out));
  pa__fingerprint(a->config_path, &out->fp);
  size_t len;
  char *text = pa__read_file(a->config_path, PA_MAX_CONFIG_FILE, &len, err, err_cap);
  if (!text) return false;
  SHA256((const unsigned char *)text, len, out->hash);
  bool ok = pa_config_parse(text, len, a->config_path, a->base_dir, &out->cfg, err, err_cap);
  free(text);
  if (!ok) return false;
  out->keys = calloc(out->cfg.n_keys, sizeof(*out->keys));
  if (!out->keys) {
    snprintf(err, err_cap, "%s: out of memory", a->config_path);
    pa_config_close(&out->cfg);
    return false;
  }
  for (uint32_t i = 0; i < out->cfg.n_keys; i++) {
    pa_key *k = &out->keys[i];
    k->cfg = &out->cfg.keys[i];
    k->gen = ++a->next_gen;
    if (!pa__key_load(k, err, err_cap)) {
      unload_keys(out->keys, out->cfg.n_keys);
      pa_config_close(&out->cfg);
      return false;
    }
  }
  return true;
}

static void install(pa_authn *a, loaded *l) {
  unload_keys(a->keys, a->cfg.n_keys);
  pa_config_close(&a->cfg);
  a->cfg = l->cfg;
  a->keys = l->keys;
  /* The keys point at their configs: re-point them at the moved copy. */
  for (uint32_t i = 0; i < a->cfg.n_keys; i++) a->keys[i].cfg = &a->cfg.keys[i];
  a->config_fp = l->fp;
  memcpy(a->config_hash, l->hash, 32);
}

pa_authn *pa_authn_new(const char *config_path, char *err, size_t err_cap) {
  pa_authn *a = calloc(1, sizeof(*a));
  if (!a) {
    snprintf(err, err_cap, "out of memory");
    return NULL;
  }
  a->config_path = strdup(config_path);
  const char *slash = strrchr(config_path, '/');
  a->base_dir = slash ? strndup(config_path, (size_t)(slash - config_path + (slash == config_path)))
                      : strdup(".");
  loaded l;
  if (!a->config_path || !a->base_dir || !load(a, &l, err, err_cap)) {
    if (!a->config_path || !a->base_dir) snprintf(err, err_cap, "out of memory");
    pa_authn_free(a);
    return NULL;
  }
  install(a, &l);
  a->cache = pa__cache_new(a->cfg.cache_max_entries, a->cfg.cache_max_bytes);
  if (!a->cache) {
    snprintf(err, err_cap, "out of memory");
    pa_authn_free(a);
    return NULL;
  }
  return a;
}

void pa_authn_free(pa_authn *a) {
  if (!a) return;
  pa__cache_free(a->cache);
  unload_keys(a->keys, a->cfg.n_keys);
  pa_config_close(&a->cfg);
  free(a->config_path);
  free(a->base_dir);
  free(a);
}

const pa_config *pa_authn_config(const pa_authn *a) {
  return &a->cfg;
}

/* ---- reloading ---- */

static pa_reload reload_config(pa_authn *a, char *err, size_t err_cap) {
  pa_fingerprint fp;
  pa__fingerprint(a->config_path, &fp);
  if (pa__fingerprint_eq(&fp, &a->config_fp)) return PA_RELOAD_NONE;
  size_t len;
  char *text = pa__read_file(a->config_path, PA_MAX_CONFIG_FILE, &len, err, err_cap);
  if (!text) return PA_RELOAD_ERROR; /* keep what is in force; retried next time */
  uint8_t hash[32];
  SHA256((const unsigned char *)text, len, hash);
  free(text);
  if (memcmp(hash, a->config_hash, 32) == 0) {
    a->config_fp = fp;
    return PA_RELOAD_NONE;
  }
  loaded l;
  if (!load(a, &l, err, err_cap)) {
    a->config_fp = fp; /* report a bad file once, not on every call */
    return PA_RELOAD_ERROR;
  }
  pa_cache *cache = pa__cache_new(l.cfg.cache_max_entries, l.cfg.cache_max_bytes);
  if (!cache) {
    snprintf(err, err_cap, "%s: out of memory", a->config_path);
    unload_keys(l.keys, l.cfg.n_keys);
    pa_config_close(&l.cfg);
    return PA_RELOAD_ERROR;
  }
  pa__cache_free(a->cache);
  a->cache = cache;
  install(a, &l);
  return PA_RELOAD_CHANGED;
}

static pa_reload reload_key(pa_authn *a, pa_key *k, char *err, size_t err_cap) {
  pa_fingerprint fp;
  pa__fingerprint(k->cfg->file, &fp);
  if (pa__fingerprint_eq(&fp, &k->fp)) return PA_RELOAD_NONE;
  if (fp.present && k->usable) {
    size_t len;
    char e[200];
    char *text = pa__read_file(k->cfg->file, 1u << 20, &len, e, sizeof(e));
    if (text) {
      uint8_t hash[32];
      SHA256((const unsigned char *)text, len, hash);
      OPENSSL_cleanse(text, len);
      free(text);
      if (memcmp(hash, k->content_hash, 32) == 0) {
        k->fp = fp; /* touched, same content: the key and its entries stay */
        return PA_RELOAD_NONE;
      }
    }
  }
  /* New content, removed or unreadable: every token this key verified goes. */
  pa__cache_drop_gen(a->cache, k->gen);
  k->gen = ++a->next_gen;
  if (!pa__key_load(k, err, err_cap)) return PA_RELOAD_ERROR;
  return PA_RELOAD_CHANGED;
}

pa_reload pa_authn_reload_if_changed(pa_authn *a, char *err, size_t err_cap) {
  pa_reload r = reload_config(a, err, err_cap);
  if (r == PA_RELOAD_CHANGED) return r;
  pa_reload result = r;
  for (uint32_t i = 0; i < a->cfg.n_keys; i++) {
    char e[256] = "";
    pa_reload kr = reload_key(a, &a->keys[i], e, sizeof(e));
    if (kr == PA_RELOAD_ERROR) {
      if (result != PA_RELOAD_ERROR) snprintf(err, err_cap, "%s", e);
      result = PA_RELOAD_ERROR;
    } else if (kr == PA_RELOAD_CHANGED && result == PA_RELOAD_NONE) {
      result = PA_RELOAD_CHANGED;
    }
  }
  return result;
}

/* ---- checks ---- */

pa_status pa_authn_verify(pa_authn *a, pu_str token, int64_t now, pu_arena *arena,
                          pdpe_entity *principal, pa_token_info *info, char *err, size_t err_cap) {
  return pa__verify(a, token, now, arena, principal, info, NULL, err, err_cap);
}

static pa_status ask_revoked(const pa_revocations *rev, const pa_token_info *info, char *err,
                             size_t err_cap) {
  int r = rev->revoked(rev->ctx, info->jti, info->sub, info->iat);
  if (r < 0) return pa__refuse(err, err_cap, PA_ERR_INTERNAL, "the revocation lookup failed");
  if (r > 0) {
    char sub[80], jti[80];
    return pa__refuse(err, err_cap, PA_ERR_REVOKED,
                      "the token (sub \"%s\", jti \"%s\") was revoked",
                      pa__safe(sub, sizeof(sub), info->sub.ptr, info->sub.len),
                      pa__safe(jti, sizeof(jti), info->jti.ptr, info->jti.len));
  }
  return PA_OK;
}

static bool copy_info(pu_arena *arena, const pa_token_info *src, pa_token_info *dst) {
  *dst = *src;
  dst->sub = src->sub.ptr ? pu_arena_str(arena, src->sub) : src->sub;
  dst->jti = src->jti.ptr ? pu_arena_str(arena, src->jti) : src->jti;
  dst->iss = src->iss.ptr ? pu_arena_str(arena, src->iss) : src->iss;
  return (!src->sub.ptr || dst->sub.ptr) && (!src->jti.ptr || dst->jti.ptr) &&
         (!src->iss.ptr || dst->iss.ptr);
}

pa_status pa_authn_check(pa_authn *a, pu_str token, int64_t now, const pa_revocations *rev,
                         pu_arena *arena, pdpe_entity *principal, pa_token_info *info, char *err,
                         size_t err_cap) {
  if (token.len > a->cfg.max_token_bytes)
    return pa__verify(a, token, now, arena, principal, info, NULL, err, err_cap);
  uint64_t hash = pa__cache_hash(a->cache, token);
  pa_entry *e = pa__cache_find(a->cache, hash, token, now);
  if (e) {
    const pa_token_info *ei = pa__entry_info(e);
    if (rev && !pa__entry_checked_against(e, rev->stamp)) {
      pa_status s = ask_revoked(rev, ei, err, err_cap);
      if (s == PA_ERR_REVOKED) pa__cache_remove(a->cache, e);
      if (s != PA_OK) return s;
      pa__entry_set_checked(a->cache, e, rev->stamp);
    }
    const void *block;
    size_t size;
    pa__entry_block(e, &block, &size);
    if (!pa__clone_block(arena, block, size, pa__entry_principal(e), principal) ||
        (info && !copy_info(arena, ei, info)))
      return pa__refuse(err, err_cap, PA_ERR_NOMEM, "copying the cached principal");
    return PA_OK;
  }
  pa__cache_count_miss(a->cache);
  pa_token_info tmp;
  if (!info) info = &tmp;
  pa_key *key = NULL;
  pa_status s = pa__verify(a, token, now, arena, principal, info, &key, err, err_cap);
  if (s != PA_OK) return s;
  if (rev && (s = ask_revoked(rev, info, err, err_cap)) != PA_OK) return s;
  int64_t lw = a->cfg.leeway_s;
  int64_t until = info->exp > INT64_MAX - lw ? INT64_MAX : info->exp + lw;
  int64_t ttl_end =
      now > INT64_MAX - a->cfg.max_cache_ttl_s ? INT64_MAX : now + a->cfg.max_cache_ttl_s;
  if (ttl_end < until) until = ttl_end;
  pa__cache_put(a->cache, hash, token, until, key->gen, rev ? rev->stamp : NULL, principal, info);
  return PA_OK;
}

uint32_t pa_authn_sweep(pa_authn *a, int64_t now) {
  return pa__cache_sweep(a->cache, now);
}

void pa_authn_cache_clear(pa_authn *a) {
  pa__cache_clear(a->cache);
}

void pa_authn_cache_stats(const pa_authn *a, pa_cache_stats *out) {
  pa__cache_stats(a->cache, out);
}

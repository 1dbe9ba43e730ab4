/* verify.c - one token, uncached: structure, header, key selection, signature, claims.
 *
 * Order (each step refuses with its own status and a message naming the reason):
 * size; three base64url segments (strict: URL alphabet only, no padding, zero pad bits);
 * the header (JSON nested at most max_json_depth, no duplicate names, an object with a
 * string alg, optional string kid/typ, no crit); alg "none" (any case); the key (see pa.h);
 * the signature, before the payload is parsed, so an unauthenticated sender never reaches
 * the claim code; the payload (same JSON rules); registered claims typed (exp/nbf/iat
 * numbers, iss/sub/jti strings, aud a string or an array of strings); time with leeway;
 * issuer; audience; then the claim mapping (claims.c).
 *
 * Nothing from the token is echoed raw into a message: names are cut to 64 printable
 * ASCII characters.  Decoded segments live in the caller's arena; jansson trees are freed
 * before returning.
 */
#include "pa_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

pa_status pa__refuse(char *err, size_t err_cap, pa_status s, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (pa_status_is_auth_failure(s))
    snprintf(err, err_cap, "token refused: %s: %s", pa_status_reason(s), msg);
  else
    snprintf(err, err_cap, "%s: %s", pa_status_reason(s), msg);
  return s;
}

/* Printable, bounded copy of token-supplied text for messages. */
const char *pa__safe(char *buf, size_t cap, const char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 4 < cap && i < 64; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[o++] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
  }
  if (n > 64 && o + 4 < cap) buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
  buf[o] = '\0';
  return buf;
}

/* ---- base64url ---- */

static int8_t b64url_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return (int8_t)(c - 'A');
  if (c >= 'a' && c <= 'z') return (int8_t)(c - 'a' + 26);
  if (c >= '0' && c <= '9') return (int8_t)(c - '0' + 52);
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Checks one segment without decoding it; NULL when fine, else what is wrong. */
static const char *b64url_check(const char *s, size_t n, size_t *bad_at) {
  for (size_t i = 0; i < n; i++)
    if (b64url_val((unsigned char)s[i]) < 0) {
      *bad_at = i;
      return s[i] == '=' ? "padding '=' is not allowed" : "a character outside base64url";
    }
  if (n % 4 == 1) return "a length no base64 text has";
  /* Canonical form: the bits below the last full byte must be zero. */
  if (n % 4 == 2 && (b64url_val((unsigned char)s[n - 1]) & 0x0f)) return "non-zero pad bits";
  if (n % 4 == 3 && (b64url_val((unsigned char)s[n - 1]) & 0x03)) return "non-zero pad bits";
  return NULL;
}

/* Decodes a checked segment; out has room for n * 3 / 4 + 1 bytes. */
static size_t b64url_decode(const char *s, size_t n, uint8_t *out) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    acc = acc << 6 | (uint32_t)b64url_val((unsigned char)s[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return o;
}

/* ---- JSON ---- */

/* Deepest [ / { nesting outside strings, stopping past `max`. */
static uint32_t json_depth(const uint8_t *p, size_t n, uint32_t max) {
  uint32_t d = 0, deepest = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (++d > deepest && (deepest = d) > max) return deepest;
    } else if ((c == '}' || c == ']') && d > 0) {
      d--;
    }
  }
  return deepest;
}

static pa_status parse_segment(const pa_config *cfg, const char *what, const char *s, size_t n,
                               pu_arena *arena, json_t **out, char *err, size_t err_cap) {
  uint8_t *buf = pu_arena_alloc(arena, n * 3 / 4 + 1);
  if (!buf) return pa__refuse(err, err_cap, PA_ERR_NOMEM, "decoding the token's %s", what);
  size_t len = b64url_decode(s, n, buf);
  if (len == 0) return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "empty %s", what);
  if (json_depth(buf, len, cfg->max_json_depth) > cfg->max_json_depth)
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "%s JSON nested deeper than %u", what,
                      cfg->max_json_depth);
  json_error_t jerr;
  json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    char t[80];
    pa__safe(t, sizeof(t), jerr.text, strlen(jerr.text));
    if (strstr(jerr.text, "duplicate object key"))
      return pa__refuse(err, err_cap, PA_ERR_DUPLICATE, "%s has a name twice (%s)", what, t);
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "%s is not JSON: %s at byte %d", what, t,
                      jerr.position);
  }
  if (!json_is_object(j)) {
    json_decref(j);
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "%s is not a JSON object", what);
  }
  *out = j;
  return PA_OK;
}

/* ---- header and key ---- */

static pa_status select_key(pa_authn *a, pa_alg alg, const json_t *kid, pa_key **out, char *err,
                            size_t err_cap) {
  char t[80];
  if (kid) {
    const char *k = json_string_value(kid);
    size_t kn = json_string_length(kid);
    for (uint32_t i = 0; i < a->cfg.n_keys; i++) {
      pa_key *key = &a->keys[i];
      if (!key->cfg->kid || strlen(key->cfg->kid) != kn || memcmp(key->cfg->kid, k, kn) != 0)
        continue;
      if (key->cfg->alg != alg)
        return pa__refuse(err, err_cap, PA_ERR_ALG_MISMATCH,
                          "header alg %s, but key \"%s\" verifies only %s", pa_alg_name(alg),
                          key->cfg->kid, pa_alg_name(key->cfg->alg));
      *out = key;
      return PA_OK;
    }
    return pa__refuse(err, err_cap, PA_ERR_KID_UNKNOWN, "no key has kid \"%s\"",
                      pa__safe(t, sizeof(t), k, kn));
  }
  if (a->cfg.require_kid)
    return pa__refuse(err, err_cap, PA_ERR_KID_REQUIRED, "the header has no kid (require_kid)");
  pa_key *found = NULL;
  uint32_t n = 0;
  for (uint32_t i = 0; i < a->cfg.n_keys; i++)
    if (a->keys[i].cfg->alg == alg) found = &a->keys[i], n++;
  if (n == 0)
    return pa__refuse(err, err_cap, PA_ERR_ALG_MISMATCH, "no key verifies alg %s",
                      pa_alg_name(alg));
  if (n > 1)
    return pa__refuse(err, err_cap, PA_ERR_KID_REQUIRED,
                      "the header has no kid and %u keys verify %s", n, pa_alg_name(alg));
  *out = found;
  return PA_OK;
}

static pa_status check_header(pa_authn *a, const json_t *h, pa_key **key, pa_alg *alg_out,
                              char *err, size_t err_cap) {
  char t[80];
  const json_t *alg = json_object_get(h, "alg"), *kid = json_object_get(h, "kid"),
               *typ = json_object_get(h, "typ");
  if (!alg) return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "header has no alg");
  if (!json_is_string(alg))
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "header alg is not a string");
  if (kid && !json_is_string(kid))
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "header kid is not a string");
  if (typ && !json_is_string(typ))
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "header typ is not a string");
  pu_str name = {json_string_value(alg), json_string_length(alg)};
  if (name.len == 4 && strncasecmp(name.ptr, "none", 4) == 0)
    return pa__refuse(err, err_cap, PA_ERR_ALG_NONE,
                      "unsigned tokens (alg \"%s\") are never accepted",
                      pa__safe(t, sizeof(t), name.ptr, name.len));
  pa_alg a_ = pa_alg_parse(name);
  if (!a_)
    return pa__refuse(err, err_cap, PA_ERR_ALG_MISMATCH, "alg \"%s\" is not supported",
                      pa__safe(t, sizeof(t), name.ptr, name.len));
  /* RFC 7515 4.1.11: an extension we do not understand must be refused. */
  if (json_object_get(h, "crit"))
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED,
                      "header crit names extensions pdpd does not support");
  *alg_out = a_;
  pa_status s = select_key(a, a_, kid, key, err, err_cap);
  if (s != PA_OK) return s;
  if (!(*key)->usable) return pa__refuse(err, err_cap, PA_ERR_KEY_UNUSABLE, "%s", (*key)->problem);
  return PA_OK;
}

/* ---- claims ---- */

/* A NumericDate: an integer or a real (floored, clamped).  -1 wrong type, 0 absent, 1 ok. */
static int numeric_date(const json_t *payload, const char *name, int64_t *out) {
  const json_t *v = json_object_get(payload, name);
  if (!v) return 0;
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return 1;
  }
  if (!json_is_real(v)) return -1;
  double d = floor(json_real_value(v));
  if (!isfinite(d)) return -1;
  *out = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
  return 1;
}

static bool in_list(const char *const *list, uint32_t n, const char *s, size_t len) {
  for (uint32_t i = 0; i < n; i++)
    if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0) return true;
  return false;
}

static pa_status check_claims(const pa_config *cfg, const json_t *p, int64_t now, pu_arena *arena,
                              pa_token_info *info, char *err, size_t err_cap) {
  char t[80];
  int64_t exp = INT64_MAX, nbf = INT64_MIN, iat = INT64_MIN;
  int r;
  if ((r = numeric_date(p, "exp", &exp)) < 0)
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "claim exp is not a number");
  if (r == 0 && cfg->require_exp)
    return pa__refuse(err, err_cap, PA_ERR_EXPIRED, "the token has no exp (require_exp)");
  if (numeric_date(p, "nbf", &nbf) < 0)
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "claim nbf is not a number");
  if (numeric_date(p, "iat", &iat) < 0)
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "claim iat is not a number");
  const char *names[] = {"iss", "sub", "jti"};
  for (size_t i = 0; i < 3; i++) {
    const json_t *v = json_object_get(p, names[i]);
    if (v && !json_is_string(v))
      return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "claim %s is not a string", names[i]);
  }
  const json_t *aud = json_object_get(p, "aud");
  if (aud && !json_is_string(aud)) {
    if (!json_is_array(aud))
      return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "claim aud is not a string or an array");
    for (size_t i = 0; i < json_array_size(aud); i++)
      if (!json_is_string(json_array_get(aud, i)))
        return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "claim aud[%zu] is not a string", i);
  }
  /* Saturating: exp + leeway and nbf - leeway never overflow. */
  int64_t lw = cfg->leeway_s;
  int64_t until = exp > INT64_MAX - lw ? INT64_MAX : exp + lw;
  int64_t from = nbf < INT64_MIN + lw ? INT64_MIN : nbf - lw;
  if (exp != INT64_MAX && now >= until)
    return pa__refuse(err, err_cap, PA_ERR_EXPIRED, "exp %lld, now %lld (leeway %lld s)",
                      (long long)exp, (long long)now, (long long)lw);
  if (from > now)
    return pa__refuse(err, err_cap, PA_ERR_NOT_YET_VALID, "nbf %lld, now %lld (leeway %lld s)",
                      (long long)nbf, (long long)now, (long long)lw);
  const json_t *iss = json_object_get(p, "iss");
  if (cfg->n_issuers) {
    if (!iss) return pa__refuse(err, err_cap, PA_ERR_ISSUER, "the token has no iss");
    if (!in_list(cfg->issuers, cfg->n_issuers, json_string_value(iss), json_string_length(iss)))
      return pa__refuse(err, err_cap, PA_ERR_ISSUER, "iss \"%s\" is not an accepted issuer",
                        pa__safe(t, sizeof(t), json_string_value(iss), json_string_length(iss)));
  }
  if (cfg->n_audiences) {
    if (!aud) return pa__refuse(err, err_cap, PA_ERR_AUDIENCE, "the token has no aud");
    bool ok = false;
    size_t n = json_is_array(aud) ? json_array_size(aud) : 1;
    for (size_t i = 0; i < n && !ok; i++) {
      const json_t *s = json_is_array(aud) ? json_array_get(aud, i) : aud;
      ok = in_list(cfg->audiences, cfg->n_audiences, json_string_value(s), json_string_length(s));
    }
    if (!ok)
      return pa__refuse(err, err_cap, PA_ERR_AUDIENCE, "aud names none of the accepted audiences");
  }
  const json_t *sub = pa__claim(p, cfg->subject_claim), *jti = json_object_get(p, "jti");
  memset(info, 0, sizeof(*info));
  info->exp = exp;
  info->iat = iat;
  if (sub && json_is_string(sub))
    info->sub = pu_arena_str(arena, (pu_str){json_string_value(sub), json_string_length(sub)});
  if (jti)
    info->jti = pu_arena_str(arena, (pu_str){json_string_value(jti), json_string_length(jti)});
  if (iss)
    info->iss = pu_arena_str(arena, (pu_str){json_string_value(iss), json_string_length(iss)});
  if ((sub && !info->sub.ptr) || (jti && !info->jti.ptr) || (iss && !info->iss.ptr))
    return pa__refuse(err, err_cap, PA_ERR_NOMEM, "copying claims");
  return PA_OK;
}

/* ---- the whole token ---- */

pa_status pa__verify(pa_authn *a, pu_str token, int64_t now, pu_arena *arena,
                     pdpe_entity *principal, pa_token_info *info, pa_key **key_out, char *err,
                     size_t err_cap) {
  const pa_config *cfg = &a->cfg;
  if (token.len > cfg->max_token_bytes)
    return pa__refuse(err, err_cap, PA_ERR_SIZE, "%zu bytes, limit %zu (max_token_bytes)",
                      token.len, cfg->max_token_bytes);
  const char *s = token.ptr;
  const char *d1 = token.len ? memchr(s, '.', token.len) : NULL;
  const char *d2 = d1 ? memchr(d1 + 1, '.', token.len - (size_t)(d1 + 1 - s)) : NULL;
  const char *d3 = d2 ? memchr(d2 + 1, '.', token.len - (size_t)(d2 + 1 - s)) : NULL;
  if (!d1 || !d2 || d3)
    return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "not header.payload.signature (%s)",
                      !d1 || !d2 ? "fewer than two dots" : "more than two dots");
  struct {
    const char *name, *p;
    size_t n;
  } seg[3] = {{"header", s, (size_t)(d1 - s)},
              {"payload", d1 + 1, (size_t)(d2 - d1 - 1)},
              {"signature", d2 + 1, token.len - (size_t)(d2 + 1 - s)}};
  for (int i = 0; i < 3; i++) {
    size_t at = 0;
    const char *why = b64url_check(seg[i].p, seg[i].n, &at);
    if (why)
      return pa__refuse(err, err_cap, PA_ERR_MALFORMED, "%s is not base64url: %s (at byte %zu)",
                        seg[i].name, why, (size_t)(seg[i].p - s) + at);
  }
  json_t *header = NULL, *payload = NULL;
  pa_status st = parse_segment(cfg, "header", seg[0].p, seg[0].n, arena, &header, err, err_cap);
  if (st != PA_OK) return st;
  pa_key *key = NULL;
  pa_alg alg = 0;
  st = check_header(a, header, &key, &alg, err, err_cap);
  json_decref(header);
  if (st != PA_OK) return st;
  if (seg[2].n == 0) return pa__refuse(err, err_cap, PA_ERR_SIGNATURE, "the signature is empty");
  uint8_t *sig = pu_arena_alloc(arena, seg[2].n * 3 / 4 + 1);
  if (!sig) return pa__refuse(err, err_cap, PA_ERR_NOMEM, "decoding the signature");
  size_t sig_len = b64url_decode(seg[2].p, seg[2].n, sig);
  int v = pa__key_verify(key, (const uint8_t *)s, (size_t)(d2 - s), sig, sig_len);
  if (v < 0)
    return pa__refuse(err, err_cap, PA_ERR_INTERNAL, "OpenSSL failed to verify with key %s",
                      key->cfg->kid ? key->cfg->kid : "-");
  if (v == 0)
    return pa__refuse(err, err_cap, PA_ERR_SIGNATURE, "%s signature does not verify with key %s",
                      pa_alg_name(alg), key->cfg->kid ? key->cfg->kid : "(no kid)");
  st = parse_segment(cfg, "payload", seg[1].p, seg[1].n, arena, &payload, err, err_cap);
  if (st != PA_OK) return st;
  pa_token_info tmp;
  if (!info) info = &tmp;
  st = check_claims(cfg, payload, now, arena, info, err, err_cap);
  if (st == PA_OK) st = pa__map_claims(cfg, payload, arena, principal, err, err_cap);
  json_decref(payload);
  if (st != PA_OK) return st;
  info->kid = key->cfg->kid;
  info->alg = alg;
  info->cached = false;
  if (key_out) *key_out = key;
  return PA_OK;
}

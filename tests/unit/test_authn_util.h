/* test_authn_util.h - keys made at test time with OpenSSL, a JWS signer that signs any
 * header and payload text (so tests can send duplicates, bad types and other hostile JSON
 * with a valid signature), token minting through libjwt, and config files in a temp dir.
 * Static functions: each test file includes it once.
 */
#ifndef TEST_AUTHN_UTIL_H
#define TEST_AUTHN_UTIL_H

#include "../../pdp/authn/pa.h"

#include <criterion/criterion.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NOW ((int64_t)1800000000)

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) abort();
  return p;
}

typedef struct tkey {
  pa_alg alg;
  EVP_PKEY *priv;     /* RS/ES */
  uint8_t secret[64]; /* HS */
  size_t secret_len;
  char *pub_pem;  /* RS/ES: public key PEM text (malloc'd) */
  char *priv_pem; /* RS/ES: private key PEM text, for libjwt */
} tkey;

static char tdir[256];

static __attribute__((unused)) void tu_dir(void) {
  if (tdir[0]) return;
  snprintf(tdir, sizeof(tdir), "/tmp/pa-test-XXXXXX");
  cr_assert_not_null(mkdtemp(tdir));
}

static __attribute__((unused)) void tu_rmdir(void) {
  if (!tdir[0]) return;
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", tdir);
  tdir[0] = '\0';
}

static char *tu_path(const char *name) {
  static char buf[4][400];
  static int k;
  tu_dir();
  char *p = buf[k++ % 4];
  snprintf(p, 400, "%s/%s", tdir, name);
  return p;
}

static __attribute__((unused)) void tu_write(const char *name, const void *data, size_t n) {
  const char *p = tu_path(name);
  char tmp[420];
  snprintf(tmp, sizeof(tmp), "%s.tmp", p);
  FILE *f = fopen(tmp, "wb");
  cr_assert_not_null(f, "open %s", tmp);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
  cr_assert_eq(rename(tmp, p), 0); /* a new inode, like an atomic deploy */
}

static __attribute__((unused)) void tu_writes(const char *name, const char *text) {
  tu_write(name, text, strlen(text));
}

static char *pem_of(EVP_PKEY *k, bool priv) {
  BIO *b = BIO_new(BIO_s_mem());
  int ok =
      priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(b, k);
  cr_assert(ok);
  char *data;
  long n = BIO_get_mem_data(b, &data);
  char *out = strndup(data, (size_t)n);
  BIO_free(b);
  return out;
}

static EVP_PKEY *tu_gen_rsa(int bits) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  EVP_PKEY *k = NULL;
  cr_assert(c && EVP_PKEY_keygen_init(c) > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits) > 0 &&
            EVP_PKEY_keygen(c, &k) > 0);
  EVP_PKEY_CTX_free(c);
  return k;
}

static EVP_PKEY *tu_gen_ec(const char *curve) {
  EVP_PKEY *k = EVP_EC_gen(curve);
  cr_assert_not_null(k);
  return k;
}

static const char *curve_of(pa_alg alg) {
  return alg == PA_ALG_ES256 ? "P-256" : alg == PA_ALG_ES384 ? "P-384" : "P-521";
}

/* A fresh key for alg; RSA keys are 2048 bits. */
static __attribute__((unused)) tkey tu_key(pa_alg alg) {
  tkey k = {.alg = alg};
  if (alg <= PA_ALG_HS512) {
    k.secret_len = alg == PA_ALG_HS256 ? 32 : alg == PA_ALG_HS384 ? 48 : 64;
    cr_assert(RAND_bytes(k.secret, (int)k.secret_len) == 1);
    return k;
  }
  k.priv = alg <= PA_ALG_RS512 ? tu_gen_rsa(2048) : tu_gen_ec(curve_of(alg));
  k.pub_pem = pem_of(k.priv, false);
  k.priv_pem = pem_of(k.priv, true);
  return k;
}

static __attribute__((unused)) void tu_key_free(tkey *k) {
  EVP_PKEY_free(k->priv);
  free(k->pub_pem);
  free(k->priv_pem);
  memset(k, 0, sizeof(*k));
}

/* Write the key's verification side (secret bytes or public PEM) as `name`. */
static __attribute__((unused)) void tu_write_key(const tkey *k, const char *name) {
  if (k->alg <= PA_ALG_HS512)
    tu_write(name, k->secret, k->secret_len);
  else
    tu_writes(name, k->pub_pem);
}

/* ---- base64url and signing ---- */

static char *b64url(const uint8_t *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *out = xmalloc(n * 4 / 3 + 4), *o = out;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63], *o++ = tab[v >> 6 & 63], *o++ = tab[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63], *o++ = tab[v >> 6 & 63];
  }
  *o = '\0';
  return out;
}

static const char *md_name(pa_alg alg) {
  int r = (alg - 1) % 3;
  return r == 0 ? "SHA256" : r == 1 ? "SHA384" : "SHA512";
}

/* Sign `input` with k into a JWS signature (r||s for ECDSA).  malloc'd base64url. */
static char *tu_sign_input(const tkey *k, pa_alg alg, const char *input) {
  uint8_t sig[1024];
  size_t n = sizeof(sig);
  size_t len = strlen(input);
  if (alg <= PA_ALG_HS512) {
    unsigned int m = 0;
    cr_assert_not_null(HMAC(EVP_get_digestbyname(md_name(alg)), k->secret, (int)k->secret_len,
                            (const uint8_t *)input, len, sig, &m));
    return b64url(sig, m);
  }
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pc = NULL;
  cr_assert(EVP_DigestSignInit_ex(c, &pc, md_name(alg), NULL, NULL, k->priv, NULL) == 1);
  if (alg <= PA_ALG_RS512) EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING);
  cr_assert(EVP_DigestSign(c, sig, &n, (const uint8_t *)input, len) == 1);
  EVP_MD_CTX_free(c);
  if (alg <= PA_ALG_RS512) return b64url(sig, n);
  const uint8_t *p = sig;
  ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
  cr_assert_not_null(es);
  size_t coord = alg == PA_ALG_ES256 ? 32 : alg == PA_ALG_ES384 ? 48 : 66;
  uint8_t rs[132];
  BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, (int)coord);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + coord, (int)coord);
  ECDSA_SIG_free(es);
  return b64url(rs, 2 * coord);
}

/* header.payload.signature from raw JSON texts, signed with k as `alg`.  malloc'd. */
static char *tu_token_raw(const tkey *k, pa_alg alg, const char *header, const char *payload) {
  char *h = b64url((const uint8_t *)header, strlen(header));
  char *p = b64url((const uint8_t *)payload, strlen(payload));
  size_t n = strlen(h) + strlen(p) + 2;
  char *input = xmalloc(n);
  snprintf(input, n, "%s.%s", h, p);
  char *s = tu_sign_input(k, alg, input);
  size_t tn = n + strlen(s) + 1;
  char *tok = xmalloc(tn);
  snprintf(tok, tn, "%s.%s", input, s);
  free(h), free(p), free(input), free(s);
  return tok;
}

/* A token with header {"alg": <k's alg>, "typ": "JWT"[, "kid": kid]} and `payload`. */
static __attribute__((unused)) char *tu_token(const tkey *k, const char *kid, const char *payload) {
  char header[160];
  if (kid)
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             pa_alg_name(k->alg), kid);
  else
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", pa_alg_name(k->alg));
  return tu_token_raw(k, k->alg, header, payload);
}

/* printf into a static rotating buffer (payload texts). */
static const char *tu_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *tu_fmt(const char *fmt, ...) {
  static char buf[4][8192];
  static int k;
  char *p = buf[k++ % 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p, 8192, fmt, ap);
  va_end(ap);
  return p;
}

/* ---- libjwt ---- */

static __attribute__((unused)) jwt_alg_t tu_jwt_alg(pa_alg alg) {
  return (jwt_alg_t)(JWT_ALG_HS256 + (alg - PA_ALG_HS256));
}

/* Mint with libjwt: `grants_json` is the payload object. */
static __attribute__((unused)) char *tu_mint_libjwt(const tkey *k, const char *kid,
                                                    const char *grants_json) {
  jwt_t *j = NULL;
  cr_assert_eq(jwt_new(&j), 0);
  const unsigned char *key =
      k->alg <= PA_ALG_HS512 ? k->secret : (const unsigned char *)k->priv_pem;
  int len = k->alg <= PA_ALG_HS512 ? (int)k->secret_len : (int)strlen(k->priv_pem);
  cr_assert_eq(jwt_set_alg(j, tu_jwt_alg(k->alg), key, len), 0);
  if (kid) cr_assert_eq(jwt_add_header(j, "kid", kid), 0);
  cr_assert_eq(jwt_add_grants_json(j, grants_json), 0);
  char *s = jwt_encode_str(j);
  cr_assert_not_null(s);
  jwt_free(j);
  return s;
}

/* libjwt's verdict on a token with k's verification key: 0 = it accepts. */
static __attribute__((unused)) int tu_libjwt_decode(const tkey *k, const char *token) {
  jwt_t *j = NULL;
  const unsigned char *key = k->alg <= PA_ALG_HS512 ? k->secret : (const unsigned char *)k->pub_pem;
  int len = k->alg <= PA_ALG_HS512 ? (int)k->secret_len : (int)strlen(k->pub_pem);
  int r = jwt_decode(&j, token, key, len);
  if (r == 0 && jwt_get_alg(j) != tu_jwt_alg(k->alg)) r = -1;
  jwt_free(j);
  return r;
}

/* ---- configs and checks ---- */

static pa_authn *tu_authn(const char *config_json) {
  tu_writes("jwt.json", config_json);
  char err[512] = "";
  pa_authn *a = pa_authn_new(tu_path("jwt.json"), err, sizeof(err));
  cr_assert_not_null(a, "pa_authn_new: %s", err);
  return a;
}

typedef struct tres {
  pa_status st;
  char err[512];
  pdpe_entity p;
  pa_token_info info;
} tres;

static pu_arena tu_arena;

static __attribute__((unused)) tres tu_check_at(pa_authn *a, const char *token, int64_t now,
                                                const pa_revocations *rev) {
  tres r;
  memset(&r, 0, sizeof(r));
  if (!tu_arena.block_size) pu_arena_init(&tu_arena, 4096, 1 << 24);
  r.st =
      pa_authn_check(a, pu_str_c(token), now, rev, &tu_arena, &r.p, &r.info, r.err, sizeof(r.err));
  return r;
}

static __attribute__((unused)) tres tu_check(pa_authn *a, const char *token) {
  return tu_check_at(a, token, NOW, NULL);
}

/* Assert a refusal with status st whose message starts "token refused: <reason>". */
#define tu_assert_refused(r, want)                                                                 \
  do {                                                                                             \
    cr_assert_eq((r).st, (want), "status %s, want %s (%s)", pa_status_reason((r).st),              \
                 pa_status_reason(want), (r).err);                                                 \
    char _pre[80];                                                                                 \
    snprintf(_pre, sizeof(_pre), "token refused: %s", pa_status_reason(want));                     \
    cr_assert(strncmp((r).err, _pre, strlen(_pre)) == 0, "message \"%s\" does not name \"%s\"",    \
              (r).err, pa_status_reason(want));                                                    \
  } while (0)

static __attribute__((unused)) bool tu_has_parent(const pdpe_entity *e, const char *type,
                                                  const char *id) {
  for (uint32_t i = 0; i < e->n_parents; i++)
    if (pu_str_eq_c(e->parents[i].type, type) && pu_str_eq_c(e->parents[i].id, id)) return true;
  return false;
}

static __attribute__((unused)) const pdpe_value *tu_attr(const pdpe_entity *e, const char *name) {
  for (uint32_t i = 0; i < e->attrs.u.rec.n; i++)
    if (pu_str_eq_c(e->attrs.u.rec.keys[i], name)) return &e->attrs.u.rec.values[i];
  return NULL;
}

static __attribute__((unused)) bool tu_set_has(const pdpe_value *set, const char *s) {
  if (!set || set->kind != PDPE_SET) return false;
  for (uint32_t i = 0; i < set->u.set.n; i++)
    if (set->u.set.items[i].kind == PDPE_STRING && pu_str_eq_c(set->u.set.items[i].u.s, s))
      return true;
  return false;
}

#endif

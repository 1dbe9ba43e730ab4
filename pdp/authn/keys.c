/* keys.c - one configured key: read its file once into an OpenSSL object (an EVP_PKEY with
 * a verify context initialised for it, or an HMAC context holding the secret), and verify
 * signatures with it.
 *
 * Nothing here re-parses a PEM per token: that is the cost libjwt 1.10 pays on every
 * jwt_decode (docs/DECISIONS.md).  Each key verifies exactly one algorithm; the type of the
 * key must match it (RSA for RS*, EC on the algorithm's curve for ES*, a secret at least
 * as long as the hash for HS*).  ECDSA signatures arrive as JWS's fixed-size r||s and are
 * re-encoded as the DER SEQUENCE OpenSSL verifies.
 */
#include "pa_int.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PA_MAX_KEY_FILE (1u << 20)

static const char *const alg_names[] = {"?",     "HS256", "HS384", "HS512", "RS256",
                                        "RS384", "RS512", "ES256", "ES384", "ES512"};

const char *pa_alg_name(pa_alg alg) {
  return alg >= PA_ALG_HS256 && alg <= PA_ALG_ES512 ? alg_names[alg] : "?";
}

pa_alg pa_alg_parse(pu_str name) {
  for (int i = PA_ALG_HS256; i <= PA_ALG_ES512; i++)
    if (pu_str_eq_c(name, alg_names[i])) return (pa_alg)i;
  return 0;
}

static int alg_hash_bits(pa_alg alg) {
  switch (alg) {
  case PA_ALG_HS256:
  case PA_ALG_RS256:
  case PA_ALG_ES256:
    return 256;
  case PA_ALG_HS384:
  case PA_ALG_RS384:
  case PA_ALG_ES384:
    return 384;
  default:
    return 512;
  }
}

static const char *alg_digest(pa_alg alg) {
  int bits = alg_hash_bits(alg);
  return bits == 256 ? "SHA256" : bits == 384 ? "SHA384" : "SHA512";
}

/* ---- files ---- */

void pa__fingerprint(const char *path, pa_fingerprint *out) {
  struct stat st;
  memset(out, 0, sizeof(*out));
  if (stat(path, &st) != 0) return;
  out->present = true;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->size = st.st_size;
  out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  out->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

bool pa__fingerprint_eq(const pa_fingerprint *a, const pa_fingerprint *b) {
  return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

char *pa__read_file(const char *path, size_t max, size_t *len, char *err, size_t err_cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_cap, "%s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) break;
    if (cap >= max) {
      snprintf(err, err_cap, "%s: larger than %zu bytes", path, max);
      free(buf);
      fclose(f);
      return NULL;
    }
    cap = cap * 2 > max ? max : cap * 2;
    char *nb = realloc(buf, cap + 1);
    if (!nb) free(buf);
    buf = nb;
  }
  bool bad = !buf || ferror(f);
  fclose(f);
  if (bad) {
    snprintf(err, err_cap, "%s: %s", path, buf ? "read error" : "out of memory");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* ---- secrets ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decode a secret file in place; returns the secret length or -1. */
static long decode_secret(char *buf, size_t n, pa_secret_encoding enc) {
  if (enc == PA_SECRET_RAW) return (long)n;
  size_t s = 0, e = n;
  while (s < e && strchr(" \t\r\n", buf[s])) s++;
  while (e > s && strchr(" \t\r\n", buf[e - 1])) e--;
  size_t o = 0;
  if (enc == PA_SECRET_HEX) {
    if ((e - s) % 2) return -1;
    for (size_t i = s; i < e; i += 2) {
      int h = hexval((unsigned char)buf[i]), l = hexval((unsigned char)buf[i + 1]);
      if (h < 0 || l < 0) return -1;
      buf[o++] = (char)(h << 4 | l);
    }
    return (long)o;
  }
  while (e > s && buf[e - 1] == '=') e--;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = s; i < e; i++) {
    int v = b64val((unsigned char)buf[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (char)(acc >> bits & 0xff);
    }
  }
  return (long)o;
}

/* ---- loading ---- */

static bool fail(pa_key *k, char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail(pa_key *k, char *err, size_t err_cap, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(k->problem, sizeof(k->problem), "key %.64s (%.160s): %.160s",
           k->cfg->kid ? k->cfg->kid : "-", k->cfg->file, msg);
  snprintf(err, err_cap, "%s", k->problem);
  k->usable = false;
  ERR_clear_error();
  return false;
}

void pa__key_unload(pa_key *k) {
  EVP_PKEY_CTX_free(k->vctx);
  EVP_PKEY_free(k->pkey);
  EVP_MAC_CTX_free(k->mac);
  EVP_MD_CTX_free(k->md_ctx);
  EVP_MD_free(k->md);
  k->md_ctx = NULL;
  k->md = NULL;
  k->vctx = NULL;
  k->pkey = NULL;
  k->mac = NULL;
  k->usable = false;
}

static bool load_secret(pa_key *k, char *buf, size_t n, char *err, size_t err_cap) {
  long len = decode_secret(buf, n, k->cfg->encoding);
  if (len < 0)
    return fail(k, err, err_cap, "not valid %s",
                k->cfg->encoding == PA_SECRET_HEX ? "hex" : "base64");
  size_t need = (size_t)alg_hash_bits(k->cfg->alg) / 8;
  if ((size_t)len < need)
    return fail(k, err, err_cap, "secret of %ld bytes; %s needs at least %zu (RFC 7518 3.2)", len,
                pa_alg_name(k->cfg->alg), need);
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  k->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)alg_digest(k->cfg->alg), 0),
      OSSL_PARAM_construct_end()};
  if (!k->mac || !EVP_MAC_init(k->mac, (unsigned char *)buf, (size_t)len, params))
    return fail(k, err, err_cap, "OpenSSL could not set up HMAC");
  k->sig_len = need;
  return true;
}

static EVP_PKEY *parse_public(const char *buf, size_t n, bool *was_private) {
  *was_private = false;
  BIO *bio = BIO_new_mem_buf(buf, (int)n);
  if (!bio) return NULL;
  EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  if (!pk) {
    (void)BIO_reset(bio);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert) {
      pk = X509_get_pubkey(cert);
      X509_free(cert);
    }
  }
  if (!pk && strstr(buf, "PRIVATE KEY-----")) *was_private = true;
  BIO_free(bio);
  ERR_clear_error();
  return pk;
}

static bool load_public(pa_key *k, const char *buf, size_t n, char *err, size_t err_cap) {
  bool was_private;
  if (n > INT32_MAX) return fail(k, err, err_cap, "file too large");
  k->pkey = parse_public(buf, n, &was_private);
  if (!k->pkey)
    return fail(k, err, err_cap,
                was_private ? "a private key: give the public key (openssl pkey -pubout)"
                            : "no PEM public key or certificate");
  pa_alg alg = k->cfg->alg;
  bool rsa = alg >= PA_ALG_RS256 && alg <= PA_ALG_RS512;
  if (rsa) {
    if (!EVP_PKEY_is_a(k->pkey, "RSA"))
      return fail(k, err, err_cap, "%s needs an RSA key", pa_alg_name(alg));
    if (EVP_PKEY_get_bits(k->pkey) < 2048)
      return fail(k, err, err_cap, "RSA key of %d bits; at least 2048 needed",
                  EVP_PKEY_get_bits(k->pkey));
    k->sig_len = (size_t)EVP_PKEY_get_size(k->pkey);
  } else {
    if (!EVP_PKEY_is_a(k->pkey, "EC"))
      return fail(k, err, err_cap, "%s needs an EC key", pa_alg_name(alg));
    char curve[64] = "";
    size_t cl = 0;
    EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &cl);
    const char *want = alg == PA_ALG_ES256   ? "prime256v1"
                       : alg == PA_ALG_ES384 ? "secp384r1"
                                             : "secp521r1";
    if (strcmp(curve, want) != 0)
      return fail(k, err, err_cap, "%s needs curve %s, the key is on %s", pa_alg_name(alg), want,
                  curve[0] ? curve : "an unknown curve");
    k->coord_len = alg == PA_ALG_ES256 ? 32 : alg == PA_ALG_ES384 ? 48 : 66;
    k->sig_len = 2 * k->coord_len;
  }
  k->md = EVP_MD_fetch(NULL, alg_digest(alg), NULL);
  k->md_ctx = EVP_MD_CTX_new();
  k->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
  bool ok = k->md && k->md_ctx && k->vctx && EVP_PKEY_verify_init(k->vctx) > 0 &&
            EVP_PKEY_CTX_set_signature_md(k->vctx, k->md) > 0 &&
            (!rsa || EVP_PKEY_CTX_set_rsa_padding(k->vctx, RSA_PKCS1_PADDING) > 0);
  if (!ok) return fail(k, err, err_cap, "OpenSSL could not set up verification");
  return true;
}

bool pa__key_load(pa_key *k, char *err, size_t err_cap) {
  pa__key_unload(k);
  k->problem[0] = '\0';
  pa__fingerprint(k->cfg->file, &k->fp);
  char rerr[200];
  size_t n = 0;
  char *buf = pa__read_file(k->cfg->file, PA_MAX_KEY_FILE, &n, rerr, sizeof(rerr));
  if (!buf) {
    memset(k->content_hash, 0, sizeof(k->content_hash));
    snprintf(k->problem, sizeof(k->problem), "key %.64s: %.200s", k->cfg->kid ? k->cfg->kid : "-",
             rerr);
    snprintf(err, err_cap, "%s", k->problem);
    return false;
  }
  SHA256((const unsigned char *)buf, n, k->content_hash);
  bool ok = k->cfg->alg <= PA_ALG_HS512 ? load_secret(k, buf, n, err, err_cap)
                                        : load_public(k, buf, n, err, err_cap);
  OPENSSL_cleanse(buf, n);
  free(buf);
  if (!ok) {
    pa__key_unload(k);
    return false;
  }
  k->usable = true;
  return true;
}

/* ---- verification ---- */

/* DER INTEGER of a big-endian unsigned number. */
static size_t der_int(uint8_t *out, const uint8_t *p, size_t n) {
  while (n > 1 && p[0] == 0) p++, n--;
  bool pad = p[0] & 0x80;
  size_t o = 0;
  out[o++] = 0x02;
  out[o++] = (uint8_t)(n + pad);
  if (pad) out[o++] = 0;
  memcpy(out + o, p, n);
  return o + n;
}

/* JWS r||s -> DER ECDSA-Sig-Value.  `out` has room for 2 * (coord + 3) + 3 bytes. */
static size_t ecdsa_der(uint8_t *out, const uint8_t *sig, size_t coord) {
  uint8_t body[2 * (66 + 3)];
  size_t b = der_int(body, sig, coord);
  b += der_int(body + b, sig + coord, coord);
  size_t o = 0;
  out[o++] = 0x30;
  if (b > 127) out[o++] = 0x81;
  out[o++] = (uint8_t)b;
  memcpy(out + o, body, b);
  return o + b;
}

int pa__key_verify(pa_key *k, const uint8_t *input, size_t input_len, const uint8_t *sig,
                   size_t sig_len) {
  if (!k->usable) return -1;
  if (sig_len != k->sig_len) return 0;
  pa_alg alg = k->cfg->alg;
  if (alg <= PA_ALG_HS512) {
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t mlen = 0;
    /* A NULL key restarts HMAC with the secret set at load. */
    if (!EVP_MAC_init(k->mac, NULL, 0, NULL) || !EVP_MAC_update(k->mac, input, input_len) ||
        !EVP_MAC_final(k->mac, mac, &mlen, sizeof(mac))) {
      ERR_clear_error();
      return -1;
    }
    return mlen == sig_len && CRYPTO_memcmp(mac, sig, sig_len) == 0;
  }
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (EVP_DigestInit_ex2(k->md_ctx, k->md, NULL) != 1 ||
      EVP_DigestUpdate(k->md_ctx, input, input_len) != 1 ||
      EVP_DigestFinal_ex(k->md_ctx, digest, &dlen) != 1) {
    ERR_clear_error();
    return -1;
  }
  uint8_t der[2 * (66 + 3) + 3];
  if (alg >= PA_ALG_ES256) {
    sig_len = ecdsa_der(der, sig, k->coord_len);
    sig = der;
  }
  int r = EVP_PKEY_verify(k->vctx, sig, sig_len, digest, dlen);
  if (r != 1) ERR_clear_error();
  return r == 1 ? 1 : 0;
}

/* bench_jwt.c - pdp-bench-jwt: what verifying a JWT costs, per algorithm, four ways:
 *
 *   raw      OpenSSL alone with a key parsed once: EVP_DigestVerifyInit + EVP_DigestVerify
 *            over the signing input and an already-decoded signature (DER for ECDSA); for
 *            HS*, HMAC() + CRYPTO_memcmp.  The floor any verifier pays.
 *   libjwt   libjwt 1.10's jwt_decode(token, PEM) + jwt_free: what DESIGN §6 measured
 *            (it re-parses the PEM on every call).
 *   pa       pa_authn_verify: pdp/authn uncached - base64url, JSON with duplicate checks,
 *            the signature, claim checks and the mapping to a principal entity.
 *   cached   pa_authn_check on a cached token with an unchanged revocation stamp: SHA-256
 *            of the token, a table lookup, the principal copied into the request arena.
 *
 * Keys are made at start (RSA 2048, P-256/384/521, random HMAC secrets) and written to a
 * temporary folder with a config, as pdpd would load them.  The token is a realistic access
 * token (~500 bytes: iss, aud, exp, iat, jti, three roles, four scopes, tenant, client_id).
 * Each round runs every method of every algorithm for about --ms milliseconds (iterations
 * calibrated first), methods alternating inside the round so that other load on the machine
 * falls on all alike; the figure is the median round's nanoseconds per operation.
 * Prints a Markdown table with the ratios pa/raw (DESIGN target: at most 2 for RS256 and
 * ES256) and libjwt/pa.  Options: --rounds N (default 7), --ms N (default 40), --algs
 * LIST (comma-separated, default all nine).
 */
#include "../../pdp/authn/pa.h"

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 101
#define N_METHODS 4

static const char *method_names[N_METHODS] = {"raw", "libjwt", "pa", "cached"};

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *msg) {
  fprintf(stderr, "pdp-bench-jwt: %s\n", msg);
  exit(1);
}

static char *b64url(const uint8_t *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *out = malloc(n * 4 / 3 + 4), *o = out;
  if (!out) die("out of memory");
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

static char *pem_of(EVP_PKEY *k, bool priv) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!(priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
             : PEM_write_bio_PUBKEY(b, k)))
    die("PEM write failed");
  char *data;
  long n = BIO_get_mem_data(b, &data);
  char *out = strndup(data, (size_t)n);
  BIO_free(b);
  return out;
}

static const char *md_name(pa_alg alg) {
  int r = (alg - 1) % 3;
  return r == 0 ? "SHA256" : r == 1 ? "SHA384" : "SHA512";
}

typedef struct alg_case {
  pa_alg alg;
  EVP_PKEY *priv;
  EVP_PKEY *pub; /* parsed once from pub_pem: what raw verifies with */
  uint8_t secret[64];
  size_t secret_len;
  char *pub_pem;
  char *token;
  size_t input_len; /* header.payload */
  uint8_t sig[600]; /* decoded signature as OpenSSL verifies it (DER for ECDSA) */
  size_t sig_len;
  EVP_MD_CTX *md_ctx;
  uint64_t iters[N_METHODS];
  double rounds[N_METHODS][MAX_ROUNDS];
} alg_case;

static void make_key(alg_case *c) {
  pa_alg a = c->alg;
  if (a <= PA_ALG_HS512) {
    c->secret_len = a == PA_ALG_HS256 ? 32 : a == PA_ALG_HS384 ? 48 : 64;
    if (RAND_bytes(c->secret, (int)c->secret_len) != 1) die("RAND_bytes");
    return;
  }
  if (a <= PA_ALG_RS512) {
    EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!k || EVP_PKEY_keygen_init(k) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(k, 2048) <= 0 ||
        EVP_PKEY_keygen(k, &c->priv) <= 0)
      die("RSA keygen");
    EVP_PKEY_CTX_free(k);
  } else {
    c->priv = EVP_EC_gen(a == PA_ALG_ES256 ? "P-256" : a == PA_ALG_ES384 ? "P-384" : "P-521");
    if (!c->priv) die("EC keygen");
  }
  c->pub_pem = pem_of(c->priv, false);
  BIO *b = BIO_new_mem_buf(c->pub_pem, -1);
  c->pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  BIO_free(b);
  if (!c->pub) die("PEM read failed");
}

static void sign(alg_case *c, const char *kid, const char *payload) {
  char header[128];
  snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
           pa_alg_name(c->alg), kid);
  char *h = b64url((const uint8_t *)header, strlen(header));
  char *p = b64url((const uint8_t *)payload, strlen(payload));
  size_t n = strlen(h) + strlen(p) + 2;
  char *input = malloc(n);
  if (!input) die("out of memory");
  snprintf(input, n, "%s.%s", h, p);
  c->input_len = strlen(input);
  uint8_t sig[600];
  size_t sl = sizeof(sig);
  uint8_t jws[300];
  size_t jl;
  if (c->alg <= PA_ALG_HS512) {
    unsigned int m;
    HMAC(EVP_get_digestbyname(md_name(c->alg)), c->secret, (int)c->secret_len, (uint8_t *)input,
         c->input_len, sig, &m);
    sl = m;
    memcpy(jws, sig, sl);
    jl = sl;
  } else {
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (EVP_DigestSignInit_ex(m, NULL, md_name(c->alg), NULL, NULL, c->priv, NULL) != 1 ||
        EVP_DigestSign(m, sig, &sl, (uint8_t *)input, c->input_len) != 1)
      die("sign");
    EVP_MD_CTX_free(m);
    if (c->alg <= PA_ALG_RS512) {
      memcpy(jws, sig, sl);
      jl = sl;
    } else {
      const uint8_t *q = sig;
      ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
      size_t coord = c->alg == PA_ALG_ES256 ? 32 : c->alg == PA_ALG_ES384 ? 48 : 66;
      BN_bn2binpad(ECDSA_SIG_get0_r(es), jws, (int)coord);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), jws + coord, (int)coord);
      ECDSA_SIG_free(es);
      jl = 2 * coord;
    }
  }
  memcpy(c->sig, sig, sl);
  c->sig_len = sl;
  char *s = b64url(jws, jl);
  size_t tn = n + strlen(s) + 1;
  c->token = malloc(tn);
  if (!c->token) die("out of memory");
  snprintf(c->token, tn, "%s.%s", input, s);
  free(h), free(p), free(input), free(s);
}

/* ---- the four methods ---- */

typedef struct ctx {
  pa_authn *authn;
  pu_arena arena;
  pa_revocations rev;
  int64_t now;
} ctx;

static int no_revocations(void *c, pu_str jti, pu_str sub, int64_t iat) {
  return 0;
}

static bool run_raw(alg_case *c) {
  if (c->alg <= PA_ALG_HS512) {
    uint8_t mac[64];
    unsigned int m;
    HMAC(EVP_get_digestbyname(md_name(c->alg)), c->secret, (int)c->secret_len, (uint8_t *)c->token,
         c->input_len, mac, &m);
    return m == c->sig_len && CRYPTO_memcmp(mac, c->sig, m) == 0;
  }
  EVP_MD_CTX_reset(c->md_ctx);
  return EVP_DigestVerifyInit_ex(c->md_ctx, NULL, md_name(c->alg), NULL, NULL, c->pub, NULL) == 1 &&
         EVP_DigestVerify(c->md_ctx, c->sig, c->sig_len, (uint8_t *)c->token, c->input_len) == 1;
}

static bool run_libjwt(alg_case *c) {
  jwt_t *j = NULL;
  const unsigned char *key = c->alg <= PA_ALG_HS512 ? c->secret : (const unsigned char *)c->pub_pem;
  int len = c->alg <= PA_ALG_HS512 ? (int)c->secret_len : (int)strlen(c->pub_pem);
  int r = jwt_decode(&j, c->token, key, len);
  jwt_free(j);
  return r == 0;
}

static bool run_pa(ctx *x, alg_case *c, bool cached) {
  pdpe_entity p;
  char err[256];
  pa_status s = cached ? pa_authn_check(x->authn, pu_str_c(c->token), x->now, &x->rev, &x->arena,
                                        &p, NULL, err, sizeof(err))
                       : pa_authn_verify(x->authn, pu_str_c(c->token), x->now, &x->arena, &p, NULL,
                                         err, sizeof(err));
  pu_arena_reset(&x->arena);
  if (s != PA_OK) fprintf(stderr, "pdp-bench-jwt: %s\n", err);
  return s == PA_OK;
}

static bool run(ctx *x, alg_case *c, int m) {
  switch (m) {
  case 0:
    return run_raw(c);
  case 1:
    return run_libjwt(c);
  case 2:
    return run_pa(x, c, false);
  default:
    return run_pa(x, c, true);
  }
}

static double time_method(ctx *x, alg_case *c, int m, uint64_t iters) {
  double t0 = now_ns();
  for (uint64_t i = 0; i < iters; i++)
    if (!run(x, c, m)) die("a verification failed");
  return (now_ns() - t0) / (double)iters;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  double tmp[MAX_ROUNDS];
  memcpy(tmp, v, sizeof(double) * (size_t)n);
  qsort(tmp, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

int main(int argc, char **argv) {
  int rounds = 7, ms = 40;
  const char *algs = "HS256,HS384,HS512,RS256,RS384,RS512,ES256,ES384,ES512";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
      ms = atoi(argv[++i]);
    else if (strcmp(argv[i], "--algs") == 0 && i + 1 < argc)
      algs = argv[++i];
    else {
      fprintf(stderr, "usage: pdp-bench-jwt [--rounds N] [--ms N] [--algs HS256,RS256,...]\n");
      return 2;
    }
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || ms < 1) die("--rounds 1..101, --ms >= 1");

  alg_case cases[9];
  int n = 0;
  char list[128];
  snprintf(list, sizeof(list), "%s", algs);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    pa_alg a = pa_alg_parse(pu_str_c(tok));
    if (!a || n == 9) die("unknown alg in --algs");
    memset(&cases[n], 0, sizeof(cases[n]));
    cases[n++].alg = a;
  }

  char dir[] = "/tmp/pdp-bench-jwt.XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp");
  char cfg[4096], path[600];
  size_t o = (size_t)snprintf(cfg, sizeof(cfg), "{\"keys\": [");
  int64_t now = (int64_t)time(NULL);
  const char *payload_fmt =
      "{\"iss\":\"https://idp.example.com/realms/"
      "ops\",\"aud\":[\"pdpd\",\"console\"],\"sub\":\"a3c1f1e2-"
      "77b4-4b8e-9d0e-5f3c2a1b9d10\",\"exp\":%lld,\"iat\":%lld,\"jti\":\"6f1d2c3b-0a9e-4f8d-b7c6-"
      "1e2d3c4b5a69\","
      "\"roles\":[\"ops-admin\",\"viewer\",\"auditor\"],\"scope\":\"api.view data.view data.query "
      "log.view\","
      "\"tenant\":\"acme\",\"client_id\":\"ops-console\",\"email\":\"alice@example.com\"}";
  char payload[1024];
  snprintf(payload, sizeof(payload), payload_fmt, (long long)now + 86400, (long long)now);
  for (int i = 0; i < n; i++) {
    alg_case *c = &cases[i];
    make_key(c);
    char kid[16];
    snprintf(kid, sizeof(kid), "k%d", i);
    snprintf(path, sizeof(path), "%s/%s.key", dir, kid);
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write a key file");
    if (c->alg <= PA_ALG_HS512)
      fwrite(c->secret, 1, c->secret_len, f);
    else
      fputs(c->pub_pem, f);
    fclose(f);
    o += (size_t)snprintf(cfg + o, sizeof(cfg) - o,
                          "%s{\"kid\":\"%s\",\"alg\":\"%s\",\"file\":\"%s.key\"}", i ? "," : "",
                          kid, pa_alg_name(c->alg), kid);
    sign(c, kid, payload);
    c->md_ctx = EVP_MD_CTX_new();
  }
  snprintf(cfg + o, sizeof(cfg) - o,
           "], \"audience\": \"pdpd\", \"claims\": {\"attributes\": {\"email\": \"email\"}}}");
  snprintf(path, sizeof(path), "%s/jwt.json", dir);
  FILE *f = fopen(path, "w");
  if (!f) die("cannot write the config");
  fputs(cfg, f);
  fclose(f);

  char err[512];
  ctx x = {.now = now};
  x.authn = pa_authn_new(path, err, sizeof(err));
  if (!x.authn) die(err);
  pu_arena_init(&x.arena, 16384, 0);
  x.rev.revoked = no_revocations;

  /* Calibrate: iterations for about `ms` milliseconds per method (and warm the cache). */
  for (int i = 0; i < n; i++)
    for (int m = 0; m < N_METHODS; m++) {
      double per = time_method(&x, &cases[i], m, 20);
      per = time_method(&x, &cases[i], m, 50);
      uint64_t it = (uint64_t)((double)ms * 1e6 / per);
      cases[i].iters[m] = it < 10 ? 10 : it;
    }
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < n; i++)
      for (int m = 0; m < N_METHODS; m++)
        cases[i].rounds[m][r] = time_method(&x, &cases[i], m, cases[i].iters[m]);

  printf("pdp-bench-jwt: ns per operation, median of %d rounds (~%d ms per method per round); "
         "token %zu bytes\n\n",
         rounds, ms, strlen(cases[0].token));
  printf(
      "| alg | raw OpenSSL | libjwt jwt_decode | pa uncached | pa cached | pa/raw | libjwt/pa |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (int i = 0; i < n; i++) {
    double med[N_METHODS];
    for (int m = 0; m < N_METHODS; m++) med[m] = median(cases[i].rounds[m], rounds);
    printf("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.1f |\n", pa_alg_name(cases[i].alg), med[0],
           med[1], med[2], med[3], med[2] / med[0], med[1] / med[2]);
  }
  (void)method_names;
  pa_cache_stats st;
  pa_authn_cache_stats(x.authn, &st);
  printf("\ncache: %u entries, %zu bytes, %llu hits, %llu misses\n", st.entries, st.bytes,
         (unsigned long long)st.hits, (unsigned long long)st.misses);

  pa_authn_free(x.authn);
  pu_arena_close(&x.arena);
  for (int i = 0; i < n; i++) {
    EVP_PKEY_free(cases[i].priv);
    EVP_PKEY_free(cases[i].pub);
    EVP_MD_CTX_free(cases[i].md_ctx);
    free(cases[i].pub_pem);
    free(cases[i].token);
  }
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "pdp-bench-jwt: could not remove %s\n", dir);
  return 0;
}

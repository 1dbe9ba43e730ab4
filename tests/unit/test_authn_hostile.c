/* test_authn_hostile.c - a catalogue of malformed and hostile tokens (truncated, extra dots,
 * huge headers, nested JSON bombs, wrong types for exp/nbf/aud, non-UTF-8, ...), many of
 * them carrying a valid signature so the payload code is reached.  Every one is refused
 * with the expected status and a "token refused" message, through the cache path twice
 * and the uncached path, without a crash (the suite runs under ASan/UBSan and valgrind). */
#include "test_authn_util.h"

static tkey hs;

static void init(void) {
  hs = tu_key(PA_ALG_HS256);
  tu_write_key(&hs, "k.key");
}

static void fini(void) {
  tu_key_free(&hs);
  if (tu_arena.block_size) pu_arena_close(&tu_arena);
  tu_rmdir();
}

TestSuite(authn_hostile, .init = init, .fini = fini);

typedef struct hostile {
  const char *name;
  char *tok;
  size_t len;
  pa_status want;
} hostile;

static hostile cat[128];
static int n_cat;

static void add(const char *name, char *tok, size_t len, pa_status want) {
  cr_assert_lt(n_cat, 128);
  cat[n_cat++] = (hostile){name, tok, len, want};
}

static void add_s(const char *name, const char *tok, pa_status want) {
  add(name, strdup(tok), strlen(tok), want);
}

/* Signed with the real key: the token passes the signature, the content is hostile. */
static void add_signed(const char *name, const char *header, const char *payload, pa_status want) {
  char *t = tu_token_raw(&hs, PA_ALG_HS256, header, payload);
  add(name, t, strlen(t), want);
}

/* header.payload from raw bytes (any), with a valid HMAC over them. */
static void add_signed_bytes(const char *name, const uint8_t *h, size_t hn, const uint8_t *p,
                             size_t pn, pa_status want) {
  char *hb = b64url(h, hn), *pb = b64url(p, pn);
  size_t n = strlen(hb) + strlen(pb) + 2;
  char *input = xmalloc(n);
  snprintf(input, n, "%s.%s", hb, pb);
  char *s = tu_sign_input(&hs, PA_ALG_HS256, input);
  size_t tn = n + strlen(s) + 1;
  char *t = xmalloc(tn);
  snprintf(t, tn, "%s.%s", input, s);
  add(name, t, strlen(t), want);
  free(hb), free(pb), free(input), free(s);
}

static char *repeat(const char *unit, int n, const char *prefix, const char *suffix_unit) {
  size_t u = strlen(unit), su = strlen(suffix_unit), pl = strlen(prefix);
  char *s = xmalloc(pl + (u + su) * (size_t)n + 8);
  char *o = s;
  memcpy(o, prefix, pl), o += pl;
  for (int i = 0; i < n; i++) memcpy(o, unit, u), o += u;
  for (int i = 0; i < n; i++) memcpy(o, suffix_unit, su), o += su;
  *o++ = '}';
  *o = '\0';
  return s;
}

static const char *H = "{\"alg\":\"HS256\",\"kid\":\"k\"}";

static void build(void) {
  long long exp = NOW + 600;
  const char *ok_payload = tu_fmt("{\"sub\":\"a\",\"exp\":%lld}", exp);
  char *good = tu_token_raw(&hs, PA_ALG_HS256, H, ok_payload);
  if (!good) abort();
  size_t gl = strlen(good);
  char buf[16384];

  /* Structure. */
  add_s("empty", "", PA_ERR_MALFORMED);
  add_s("one dot", ".", PA_ERR_MALFORMED);
  add_s("two dots only", "..", PA_ERR_MALFORMED);
  add_s("three dots", "...", PA_ERR_MALFORMED);
  add_s("two parts", "eyJhbGciOiJIUzI1NiJ9.e30", PA_ERR_MALFORMED);
  snprintf(buf, sizeof(buf), "%s.", good);
  add_s("extra trailing dot", buf, PA_ERR_MALFORMED);
  snprintf(buf, sizeof(buf), "%s.%s", good, good);
  add_s("two tokens joined by a dot", buf, PA_ERR_MALFORMED);
  add("truncated to half", strndup(good, gl / 2), gl / 2,
      strchr(good + gl / 2, '.') ? PA_ERR_MALFORMED : PA_ERR_SIGNATURE);
  {
    /* Drop one signature character: the length turns 42 (mod 4 = 2) with non-zero pad
     * bits or a short signature - either way refused. */
    add("truncated by one", strndup(good, gl - 1), gl - 1, PA_OK /* checked below */);
  }
  snprintf(buf, sizeof(buf), "%.*s %s", (int)(gl / 2), good, good + gl / 2);
  add_s("a space inside", buf, PA_ERR_MALFORMED);
  {
    char *t = strdup(good);
    t[5] = '\0';
    add("a NUL byte inside", t, gl, PA_ERR_MALFORMED);
  }
  {
    char *t = strdup(good);
    t[3] = (char)0xff;
    add("a non-UTF-8 byte in the header segment", t, gl, PA_ERR_MALFORMED);
  }
  snprintf(buf, sizeof(buf), "%s", good);
  *strchr(buf, '.') = '=';
  add_s("padding in place of the first dot", buf, PA_ERR_MALFORMED);
  add_s("padding on the header", "eyJhbGciOiJIUzI1NiJ9==.e30.AAAA", PA_ERR_MALFORMED);
  add_s("standard alphabet + and /", "eyJhbGciOiJIUzI1NiJ9.e3+/.AAAA", PA_ERR_MALFORMED);
  add_s("non-canonical pad bits", "eyJhbGciOiJIUzI1NiJ9.e31.AAAA", PA_ERR_MALFORMED);
  add_s("segment length 1 mod 4", "eyJhbGciOiJIUzI1NiJ9.e30xx.AAAAA", PA_ERR_MALFORMED);
  add_s("empty header", ".e30.AAAA", PA_ERR_MALFORMED);
  add_s("header not JSON", "aGVsbG8.e30.AAAA", PA_ERR_MALFORMED);
  add_s("header a JSON array", "W10.e30.AAAA", PA_ERR_MALFORMED);
  add_s("header a JSON string", "IngiIA.e30.AAAA", PA_ERR_MALFORMED);

  /* Size and depth. */
  {
    size_t n = 100000;
    char *t = xmalloc(n + 64);
    memset(t, 'A', n);
    memcpy(t + n, ".e30.AAAA", 10);
    add("a 100 KB header", t, strlen(t), PA_ERR_SIZE);
  }
  {
    char *bomb = repeat("[", 3000, "{\"alg\":\"HS256\",\"x\":", "]");
    char *hb = b64url((const uint8_t *)bomb, strlen(bomb));
    size_t tn = strlen(hb) + 16;
    char *t = xmalloc(tn);
    snprintf(t, tn, "%s.e30.AAAA", hb);
    add("a nested array bomb in the header", t, strlen(t), PA_ERR_MALFORMED);
    free(bomb), free(hb);
  }
  {
    char *bomb = repeat("{\"a\":", 1000, "{\"sub\":\"a\",\"exp\":1,\"x\":", "}");
    add_signed("a nested object bomb in the payload (signed)", H, bomb, PA_ERR_MALFORMED);
    free(bomb);
  }
  {
    char *s = repeat("[", 17, "{\"sub\":\"a\",\"x\":", "]");
    add_signed("payload one level past max_json_depth (signed)", H, s, PA_ERR_MALFORMED);
    free(s);
  }

  /* Header fields. */
  add_signed("alg a number", "{\"alg\":256}", ok_payload, PA_ERR_MALFORMED);
  add_signed("alg null", "{\"alg\":null}", ok_payload, PA_ERR_MALFORMED);
  add_signed("no alg", "{\"kid\":\"k\"}", ok_payload, PA_ERR_MALFORMED);
  add_signed("kid a number", "{\"alg\":\"HS256\",\"kid\":7}", ok_payload, PA_ERR_MALFORMED);
  add_signed("alg with a trailing space", "{\"alg\":\"HS256 \"}", ok_payload, PA_ERR_ALG_MISMATCH);
  add_signed("alg in lower case", "{\"alg\":\"hs256\"}", ok_payload, PA_ERR_ALG_MISMATCH);
  add_signed("alg with an escaped NUL", "{\"alg\":\"HS256\\u0000\"}", ok_payload, PA_ERR_MALFORMED);
  add_signed("a lone surrogate in kid", "{\"alg\":\"HS256\",\"kid\":\"\\ud800\"}", ok_payload,
             PA_ERR_MALFORMED);
  add_signed("alg none with a signature", "{\"alg\":\"none\"}", ok_payload, PA_ERR_ALG_NONE);
  {
    const uint8_t h[] = "{\"alg\":\"HS256\",\"kid\":\"\xc3\x28\"}";
    add_signed_bytes("invalid UTF-8 inside the header JSON", h, sizeof(h) - 1,
                     (const uint8_t *)ok_payload, strlen(ok_payload), PA_ERR_MALFORMED);
  }

  /* Signatures. */
  snprintf(buf, sizeof(buf), "%.*s", (int)(strrchr(good, '.') - good + 1), good);
  add_s("empty signature", buf, PA_ERR_SIGNATURE);
  snprintf(buf, sizeof(buf), "%.*sAA", (int)(strrchr(good, '.') - good + 1), good);
  add_s("a one-byte signature", buf, PA_ERR_SIGNATURE);
  {
    char *t = strdup(good);
    char *last = strrchr(t, '.') + 1;
    last[0] = last[0] == 'A' ? 'B' : 'A';
    add("a flipped signature byte", t, gl, PA_ERR_SIGNATURE);
  }

  /* Payloads with a valid signature. */
  add_signed("payload a JSON array", H, "[1,2]", PA_ERR_MALFORMED);
  add_signed("payload null", H, "null", PA_ERR_MALFORMED);
  add_signed("payload with trailing garbage", H, "{\"sub\":\"a\"}x", PA_ERR_MALFORMED);
  add_signed("exp a string", H, "{\"sub\":\"a\",\"exp\":\"1900000000\"}", PA_ERR_MALFORMED);
  add_signed("exp a bool", H, "{\"sub\":\"a\",\"exp\":true}", PA_ERR_MALFORMED);
  add_signed("exp overflowing a double", H, "{\"sub\":\"a\",\"exp\":1e400}", PA_ERR_MALFORMED);
  add_signed("exp overflowing an integer", H, "{\"sub\":\"a\",\"exp\":99999999999999999999999}",
             PA_ERR_MALFORMED);
  add_signed("exp negative", H, "{\"sub\":\"a\",\"exp\":-1}", PA_ERR_EXPIRED);
  add_signed("nbf an array", H, tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"nbf\":[1]}", exp),
             PA_ERR_MALFORMED);
  add_signed("iat an object", H, tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"iat\":{}}", exp),
             PA_ERR_MALFORMED);
  add_signed("aud a number", H, tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"aud\":5}", exp),
             PA_ERR_MALFORMED);
  add_signed("aud an array of objects", H, tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"aud\":[{}]}", exp),
             PA_ERR_MALFORMED);
  add_signed("sub an object", H, tu_fmt("{\"sub\":{\"id\":\"a\"},\"exp\":%lld}", exp),
             PA_ERR_MALFORMED);
  add_signed("sub empty", H, tu_fmt("{\"sub\":\"\",\"exp\":%lld}", exp), PA_ERR_CLAIM);
  add_signed("sub twice", H, tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"sub\":\"root\"}", exp),
             PA_ERR_DUPLICATE);
  add_signed("a duplicate key deep inside", H,
             tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"x\":{\"y\":1,\"y\":2}}", exp), PA_ERR_DUPLICATE);
  add_signed("roles nested arrays", H,
             tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"roles\":[[\"x\"]]}", exp), PA_ERR_CLAIM);
  add_signed("scope an object", H, tu_fmt("{\"sub\":\"a\",\"exp\":%lld,\"scope\":{}}", exp),
             PA_ERR_CLAIM);
  {
    const char *p = tu_fmt("{\"sub\":\"a\xff\xfe\",\"exp\":%lld}", exp);
    add_signed_bytes("invalid UTF-8 inside the payload JSON", (const uint8_t *)H, strlen(H),
                     (const uint8_t *)p, strlen(p), PA_ERR_MALFORMED);
  }
  add_signed("an escaped NUL in sub", H, tu_fmt("{\"sub\":\"a\\u0000b\",\"exp\":%lld}", exp),
             PA_ERR_MALFORMED);
  free(good);
}

Test(authn_hostile, every_token_of_the_catalogue_is_refused_without_a_crash) {
  build();
  cr_assert_geq(n_cat, 30, "the catalogue has %d tokens", n_cat);
  cr_log_info("%d hostile tokens", n_cat);
  pa_authn *a = tu_authn("{\"keys\": [{\"kid\": \"k\", \"alg\": \"HS256\", \"file\": \"k.key\"}]}");
  for (int i = 0; i < n_cat; i++) {
    hostile *h = &cat[i];
    for (int pass = 0; pass < 3; pass++) {
      tres r;
      memset(&r, 0, sizeof(r));
      pu_str tok = {h->tok, h->len};
      r.st = pass < 2
                 ? pa_authn_check(a, tok, NOW, NULL, &tu_arena, &r.p, &r.info, r.err, sizeof(r.err))
                 : pa_authn_verify(a, tok, NOW, &tu_arena, &r.p, &r.info, r.err, sizeof(r.err));
      cr_assert_neq(r.st, PA_OK, "%s: accepted", h->name);
      cr_assert(pa_status_is_auth_failure(r.st), "%s: %s", h->name, r.err);
      cr_assert(strncmp(r.err, "token refused: ", 15) == 0, "%s: message %s", h->name, r.err);
      if (h->want != PA_OK)
        cr_assert_eq(r.st, h->want, "%s: got %s (%s), want %s", h->name, pa_status_reason(r.st),
                     r.err, pa_status_reason(h->want));
      for (const char *c = r.err; *c; c++)
        cr_assert((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "%s: unprintable message",
                  h->name);
    }
    pu_arena_reset(&tu_arena);
  }
  pa_cache_stats s;
  pa_authn_cache_stats(a, &s);
  cr_assert_eq(s.entries, 0, "nothing hostile was cached");
  for (int i = 0; i < n_cat; i++) free(cat[i].tok);
  pa_authn_free(a);
}

Test(authn_hostile, random_bytes_and_mutations_of_a_good_token_never_crash) {
  pa_authn *a = tu_authn("{\"keys\": [{\"kid\": \"k\", \"alg\": \"HS256\", \"file\": \"k.key\"}]}");
  char *good = tu_token_raw(&hs, PA_ALG_HS256, H,
                            tu_fmt("{\"sub\":\"a\",\"exp\":%lld}", (long long)NOW + 60));
  size_t gl = strlen(good);
  uint32_t seed = 12345;
  int accepted = 0;
  for (int i = 0; i < 3000; i++) {
    char t[512];
    memcpy(t, good, gl);
    int flips = 1 + i % 4;
    for (int f = 0; f < flips; f++) {
      seed = seed * 1103515245 + 12345;
      size_t at = (seed >> 8) % gl;
      seed = seed * 1103515245 + 12345;
      t[at] = (char)(seed >> 16);
    }
    tres r;
    r.st = pa_authn_check(a, (pu_str){t, gl}, NOW, NULL, &tu_arena, &r.p, &r.info, r.err,
                          sizeof(r.err));
    if (r.st == PA_OK) {
      accepted++;
      cr_assert(memcmp(t, good, gl) == 0, "a changed token was accepted: %.*s", (int)gl, t);
    }
    pu_arena_reset(&tu_arena);
  }
  /* A mutation that leaves the token valid must leave it byte-identical, so any accepted
   * one is the original (a flip to the same byte). */
  cr_log_info("%d of 3000 mutations accepted (identical tokens)", accepted);
  free(good);
  pa_authn_free(a);
}

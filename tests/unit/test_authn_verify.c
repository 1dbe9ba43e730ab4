/* test_authn_verify.c - uncached verification: every algorithm, every refusal reason with a
 * message naming it, libjwt as a cross-check, and the claim mapping. */
#include "test_authn_util.h"

static tkey keys[PA_ALG_ES512 + 1];

static tkey *key(pa_alg alg) {
  if (!keys[alg].alg) keys[alg] = tu_key(alg);
  return &keys[alg];
}

static const char *kid_of(pa_alg alg) {
  static const char *k[] = {"",      "hs256", "hs384", "hs512", "rs256",
                            "rs384", "rs512", "es256", "es384", "es512"};
  return k[alg];
}

/* A config with one key per algorithm in `algs` (kid = lower-case alg name). */
static pa_authn *authn_with(const pa_alg *algs, int n, const char *extra) {
  char cfg[4096];
  size_t o = (size_t)snprintf(cfg, sizeof(cfg), "{\"keys\": [");
  for (int i = 0; i < n; i++) {
    char file[32];
    snprintf(file, sizeof(file), "%s.key", kid_of(algs[i]));
    tu_write_key(key(algs[i]), file);
    o += (size_t)snprintf(cfg + o, sizeof(cfg) - o,
                          "%s{\"kid\": \"%s\", \"alg\": \"%s\", \"file\": \"%s\"}", i ? ", " : "",
                          kid_of(algs[i]), pa_alg_name(algs[i]), file);
  }
  snprintf(cfg + o, sizeof(cfg) - o, "]%s%s}", extra[0] ? ", " : "", extra);
  return tu_authn(cfg);
}

static const char *std_extra =
    "\"issuer\": \"https://idp.test\", \"audience\": [\"pdpd\", \"other\"]";

static const char *good_payload(void) {
  return tu_fmt(
      "{\"sub\": \"alice\", \"iss\": \"https://idp.test\", \"aud\": \"pdpd\", \"exp\": %lld, "
      "\"iat\": %lld, \"jti\": \"t-1\"}",
      (long long)NOW + 600, (long long)NOW - 10);
}

static void fini(void) {
  for (int i = 0; i <= PA_ALG_ES512; i++) tu_key_free(&keys[i]);
  if (tu_arena.block_size) pu_arena_close(&tu_arena);
  tu_rmdir();
}

TestSuite(authn_verify, .fini = fini);

static void accepts_alg(pa_alg alg) {
  pa_authn *a = authn_with(&alg, 1, std_extra);
  char *tok = tu_token(key(alg), kid_of(alg), good_payload());
  tres r = tu_check(a, tok);
  cr_assert_eq(r.st, PA_OK, "%s: %s", pa_alg_name(alg), r.err);
  cr_assert(pu_str_eq_c(r.p.uid.type, "User") && pu_str_eq_c(r.p.uid.id, "alice"));
  cr_assert_eq(r.info.alg, alg);
  cr_assert(pu_str_eq_c(r.info.jti, "t-1"));
  cr_assert_eq(r.info.exp, NOW + 600);
  /* libjwt, given the right key, accepts what we accept. */
  cr_assert_eq(tu_libjwt_decode(key(alg), tok), 0, "libjwt refuses a %s token we accept",
               pa_alg_name(alg));
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, hs256_hs384_hs512_tokens_are_accepted) {
  accepts_alg(PA_ALG_HS256), accepts_alg(PA_ALG_HS384), accepts_alg(PA_ALG_HS512);
}
Test(authn_verify, rs256_rs384_rs512_tokens_are_accepted) {
  accepts_alg(PA_ALG_RS256), accepts_alg(PA_ALG_RS384), accepts_alg(PA_ALG_RS512);
}
Test(authn_verify, es256_es384_es512_tokens_are_accepted) {
  accepts_alg(PA_ALG_ES256), accepts_alg(PA_ALG_ES384), accepts_alg(PA_ALG_ES512);
}

Test(authn_verify, tokens_minted_by_libjwt_are_accepted) {
  pa_alg algs[] = {PA_ALG_HS256, PA_ALG_RS256, PA_ALG_ES256, PA_ALG_ES512};
  pa_authn *a = authn_with(algs, 4, std_extra);
  for (int i = 0; i < 4; i++) {
    char *tok = tu_mint_libjwt(key(algs[i]), kid_of(algs[i]), good_payload());
    tres r = tu_check(a, tok);
    cr_assert_eq(r.st, PA_OK, "%s: %s", pa_alg_name(algs[i]), r.err);
    free(tok);
  }
  pa_authn_free(a);
}

Test(authn_verify, alg_none_is_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  const char *none[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\",\"kid\":\"hs256\"}",
                        "{\"alg\":\"NONE\"}"};
  for (int i = 0; i < 3; i++) {
    char *h = b64url((const uint8_t *)none[i], strlen(none[i]));
    const char *p = good_payload();
    char *pb = b64url((const uint8_t *)p, strlen(p));
    char tok[4096];
    snprintf(tok, sizeof(tok), "%s.%s.", h, pb);
    tu_assert_refused(tu_check(a, tok), PA_ERR_ALG_NONE);
    free(h), free(pb);
  }
  pa_authn_free(a);
}

Test(authn_verify, hs256_signed_with_the_rsa_public_key_is_refused_though_libjwt_accepts_it) {
  pa_alg alg = PA_ALG_RS256;
  pa_authn *a = authn_with(&alg, 1, "");
  /* The classic confusion: HMAC keyed with the public PEM text. */
  tkey fake = {.alg = PA_ALG_HS256};
  tkey *rs = key(PA_ALG_RS256);
  const char *payload = good_payload();
  char *h = b64url((const uint8_t *)"{\"alg\":\"HS256\"}", 15);
  char *p = b64url((const uint8_t *)payload, strlen(payload));
  char input[4096];
  snprintf(input, sizeof(input), "%s.%s", h, p);
  uint8_t mac[32];
  unsigned int m;
  HMAC(EVP_sha256(), rs->pub_pem, (int)strlen(rs->pub_pem), (uint8_t *)input, strlen(input), mac,
       &m);
  char *s = b64url(mac, m);
  char tok[4200];
  snprintf(tok, sizeof(tok), "%s.%s", input, s);
  jwt_t *j = NULL;
  int lib = jwt_decode(&j, tok, (const unsigned char *)rs->pub_pem, (int)strlen(rs->pub_pem));
  jwt_free(j);
  cr_log_info("libjwt jwt_decode on the confused token returns %d", lib);
  tu_assert_refused(tu_check(a, tok), PA_ERR_ALG_MISMATCH);
  free(h), free(p), free(s);
  (void)fake;
  pa_authn_free(a);
}

Test(authn_verify, a_header_alg_other_than_the_kid_keys_is_refused) {
  pa_alg algs[] = {PA_ALG_RS256, PA_ALG_ES256};
  pa_authn *a = authn_with(algs, 2, "");
  /* ES256-signed but naming the RS256 key's kid. */
  char *tok = tu_token(key(PA_ALG_ES256), "rs256", good_payload());
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_ALG_MISMATCH);
  cr_assert(strstr(r.err, "verifies only RS256"), "%s", r.err);
  free(tok);
  /* An algorithm nobody supports. */
  tok = tu_token_raw(key(PA_ALG_HS256), PA_ALG_HS256, "{\"alg\":\"PS256\"}", good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_ALG_MISMATCH);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, an_unknown_kid_is_refused) {
  pa_alg alg = PA_ALG_ES256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(key(PA_ALG_ES256), "nope", good_payload());
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_KID_UNKNOWN);
  cr_assert(strstr(r.err, "\"nope\""), "%s", r.err);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, no_kid_uses_the_one_key_of_that_alg_and_two_need_a_kid) {
  tkey k2 = tu_key(PA_ALG_HS256);
  tu_write_key(key(PA_ALG_HS256), "a.key");
  tu_write_key(&k2, "b.key");
  tu_write_key(key(PA_ALG_ES256), "c.key");
  pa_authn *a = tu_authn("{\"keys\": [{\"kid\": \"a\", \"alg\": \"HS256\", \"file\": \"a.key\"},"
                         "{\"kid\": \"b\", \"alg\": \"HS256\", \"file\": \"b.key\"},"
                         "{\"alg\": \"ES256\", \"file\": \"c.key\"}]}");
  char *tok = tu_token(key(PA_ALG_ES256), NULL, good_payload());
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  free(tok);
  tok = tu_token(&k2, NULL, good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_KID_REQUIRED);
  free(tok);
  tok = tu_token(&k2, "b", good_payload());
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  free(tok);
  /* No key verifies RS256 at all. */
  tok = tu_token(key(PA_ALG_RS256), NULL, good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_ALG_MISMATCH);
  free(tok);
  tu_key_free(&k2);
  pa_authn_free(a);
}

Test(authn_verify, require_kid_refuses_a_token_without_kid) {
  pa_alg alg = PA_ALG_HS384;
  pa_authn *a = authn_with(&alg, 1, "\"require_kid\": true");
  char *tok = tu_token(key(alg), NULL, good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_KID_REQUIRED);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, a_bad_signature_is_refused) {
  pa_alg algs[] = {PA_ALG_HS256, PA_ALG_RS256, PA_ALG_ES384};
  pa_authn *a = authn_with(algs, 3, "");
  for (int i = 0; i < 3; i++) {
    tkey other = tu_key(algs[i]);
    char *tok = tu_token(&other, kid_of(algs[i]), good_payload());
    tres r = tu_check(a, tok);
    tu_assert_refused(r, PA_ERR_SIGNATURE);
    free(tok);
    /* A valid token with one payload character changed. */
    tok = tu_token(key(algs[i]), kid_of(algs[i]), good_payload());
    char *dot = strchr(tok, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    r = tu_check(a, tok);
    cr_assert(r.st == PA_ERR_SIGNATURE || r.st == PA_ERR_MALFORMED, "%s", r.err);
    free(tok);
    tu_key_free(&other);
  }
  pa_authn_free(a);
}

Test(authn_verify, an_expired_token_is_refused_after_the_leeway) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "\"leeway_s\": 30");
  char *tok =
      tu_token(key(alg), NULL, tu_fmt("{\"sub\": \"a\", \"exp\": %lld}", (long long)NOW - 20));
  cr_assert_eq(tu_check(a, tok).st, PA_OK, "within the leeway");
  tres r = tu_check_at(a, tok, NOW + 10, NULL);
  tu_assert_refused(r, PA_ERR_EXPIRED);
  free(tok);
  tok = tu_token(key(alg), NULL, "{\"sub\": \"a\"}");
  r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_EXPIRED);
  cr_assert(strstr(r.err, "no exp"), "%s", r.err);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, a_token_not_yet_valid_is_refused) {
  pa_alg alg = PA_ALG_ES256;
  pa_authn *a = authn_with(&alg, 1, "\"leeway_s\": 5");
  char *tok = tu_token(key(alg), NULL,
                       tu_fmt("{\"sub\": \"a\", \"exp\": %lld, \"nbf\": %lld}",
                              (long long)NOW + 900, (long long)NOW + 60));
  tu_assert_refused(tu_check(a, tok), PA_ERR_NOT_YET_VALID);
  cr_assert_eq(tu_check_at(a, tok, NOW + 56, NULL).st, PA_OK, "inside the leeway");
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, a_wrong_or_missing_issuer_is_refused) {
  pa_alg alg = PA_ALG_HS512;
  pa_authn *a = authn_with(&alg, 1, std_extra);
  const char *p =
      tu_fmt("{\"sub\": \"a\", \"aud\": \"pdpd\", \"exp\": %lld, \"iss\": \"https://evil\"}",
             (long long)NOW + 60);
  char *tok = tu_token(key(alg), NULL, p);
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_ISSUER);
  cr_assert(strstr(r.err, "https://evil"));
  free(tok);
  tok = tu_token(key(alg), NULL,
                 tu_fmt("{\"sub\": \"a\", \"aud\": \"pdpd\", \"exp\": %lld}", (long long)NOW + 60));
  tu_assert_refused(tu_check(a, tok), PA_ERR_ISSUER);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, the_audience_may_be_a_string_or_an_array_and_must_match) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, std_extra);
  const char *auds[] = {"\"pdpd\"", "[\"x\", \"other\"]", "\"nope\"", "[\"x\", \"y\"]", "[]"};
  pa_status want[] = {PA_OK, PA_OK, PA_ERR_AUDIENCE, PA_ERR_AUDIENCE, PA_ERR_AUDIENCE};
  for (int i = 0; i < 5; i++) {
    char *tok = tu_token(
        key(alg), NULL,
        tu_fmt("{\"sub\": \"a\", \"iss\": \"https://idp.test\", \"exp\": %lld, \"aud\": %s}",
               (long long)NOW + 60, auds[i]));
    tres r = tu_check(a, tok);
    if (want[i] == PA_OK)
      cr_assert_eq(r.st, PA_OK, "aud %s: %s", auds[i], r.err);
    else
      tu_assert_refused(r, want[i]);
    free(tok);
  }
  char *tok = tu_token(key(alg), NULL,
                       tu_fmt("{\"sub\": \"a\", \"iss\": \"https://idp.test\", \"exp\": %lld}",
                              (long long)NOW + 60));
  tu_assert_refused(tu_check(a, tok), PA_ERR_AUDIENCE);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, malformed_base64_is_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(key(alg), NULL, good_payload());
  char bad[4096];
  snprintf(bad, sizeof(bad), "%s", tok);
  bad[3] = '+'; /* standard alphabet, not URL */
  tres r = tu_check(a, bad);
  tu_assert_refused(r, PA_ERR_MALFORMED);
  cr_assert(strstr(r.err, "base64url"), "%s", r.err);
  snprintf(bad, sizeof(bad), "%s==", tok); /* padding */
  tu_assert_refused(tu_check(a, bad), PA_ERR_MALFORMED);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, malformed_json_is_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(key(alg), NULL, "{\"sub\": \"a\", ");
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_MALFORMED);
  cr_assert(strstr(r.err, "not JSON"), "%s", r.err);
  free(tok);
  tok = tu_token_raw(key(alg), alg, "{\"alg\":\"HS256\"", good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_MALFORMED);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, duplicate_claims_or_headers_are_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(
      key(alg), NULL,
      tu_fmt("{\"sub\": \"alice\", \"exp\": %lld, \"sub\": \"admin\"}", (long long)NOW + 60));
  tu_assert_refused(tu_check(a, tok), PA_ERR_DUPLICATE);
  free(tok);
  tok = tu_token_raw(key(alg), alg, "{\"alg\":\"HS256\",\"alg\":\"none\"}", good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_DUPLICATE);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, a_token_over_the_size_limit_is_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "\"max_token_bytes\": 512");
  char big[1024];
  memset(big, 'x', 600);
  big[600] = '\0';
  char *tok = tu_token(key(alg), NULL,
                       tu_fmt("{\"sub\": \"%s\", \"exp\": %lld}", big, (long long)NOW + 60));
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_SIZE);
  cr_assert(strstr(r.err, "limit 512"), "%s", r.err);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, registered_claims_of_the_wrong_type_are_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "\"require_exp\": false");
  const char *bad[] = {"\"exp\": \"1900000000\"",
                       "\"exp\": true",
                       "\"exp\": null",
                       "\"exp\": [1]",
                       "\"nbf\": \"0\"",
                       "\"iat\": {}",
                       "\"iss\": 7",
                       "\"jti\": 1",
                       "\"aud\": 5",
                       "\"aud\": [\"pdpd\", 5]",
                       "\"sub2\": 1, \"sub\": 7"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    char *tok = tu_token(key(alg), NULL, tu_fmt("{\"sub\": \"a\", %s}", bad[i]));
    tres r = tu_check(a, tok);
    cr_assert(r.st == PA_ERR_MALFORMED || r.st == PA_ERR_DUPLICATE, "%s: %s", bad[i], r.err);
    free(tok);
  }
  /* A fractional NumericDate is a number: accepted. */
  char *tok =
      tu_token(key(alg), NULL, tu_fmt("{\"sub\": \"a\", \"exp\": %lld.5}", (long long)NOW + 60));
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, a_token_without_sub_is_refused_as_a_bad_claim) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(key(alg), NULL, tu_fmt("{\"exp\": %lld}", (long long)NOW + 60));
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_CLAIM);
  cr_assert(strstr(r.err, "sub"));
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, a_crit_header_is_refused) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token_raw(key(alg), alg, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", good_payload());
  tu_assert_refused(tu_check(a, tok), PA_ERR_MALFORMED);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, claims_map_to_the_principal_its_parents_and_attributes) {
  pa_alg alg = PA_ALG_RS256;
  pa_authn *a = authn_with(&alg, 1,
                           "\"claims\": {\"attributes\": {\"email\": \"email\", \"level\": \"lvl\","
                           " \"admin\": \"adm\", \"langs\": \"langs\", \"org\": \"org\","
                           " \"realm_roles\": \"realm_access.roles\"}}");
  const char *p = tu_fmt(
      "{\"sub\": \"alice\", \"exp\": %lld, \"roles\": [\"admin\", \"ops\"], \"groups\": \"staff\","
      " \"client_id\": \"console\", \"azp\": \"ignored\", \"scope\": \"data.query  api.view\","
      " \"tenant\": \"acme\", \"email\": \"a@x\", \"lvl\": 3, \"adm\": true, \"langs\": [\"c\", "
      "\"go\"],"
      " \"org\": {\"id\": \"o1\", \"size\": 9}, \"realm_access\": {\"roles\": [\"r1\"]}}",
      (long long)NOW + 60);
  char *tok = tu_token(key(alg), NULL, p);
  tres r = tu_check(a, tok);
  cr_assert_eq(r.st, PA_OK, "%s", r.err);
  cr_assert(tu_has_parent(&r.p, "Role", "admin") && tu_has_parent(&r.p, "Role", "ops"));
  cr_assert(tu_has_parent(&r.p, "Role", "staff"));
  cr_assert(tu_has_parent(&r.p, "Client", "console"));
  cr_assert(!tu_has_parent(&r.p, "Client", "ignored"));
  cr_assert_eq(r.p.n_parents, 4);
  const pdpe_value *v = tu_attr(&r.p, "scopes");
  cr_assert(tu_set_has(v, "data.query") && tu_set_has(v, "api.view"));
  cr_assert_eq(v->u.set.n, 2);
  cr_assert(pu_str_eq_c(tu_attr(&r.p, "tenant")->u.s, "acme"));
  cr_assert(pu_str_eq_c(tu_attr(&r.p, "client_id")->u.s, "console"));
  cr_assert(pu_str_eq_c(tu_attr(&r.p, "email")->u.s, "a@x"));
  cr_assert_eq(tu_attr(&r.p, "level")->u.l, 3);
  cr_assert_eq(tu_attr(&r.p, "admin")->u.b, true);
  cr_assert(tu_set_has(tu_attr(&r.p, "langs"), "go"));
  cr_assert_eq(tu_attr(&r.p, "org")->kind, PDPE_RECORD);
  cr_assert(tu_set_has(tu_attr(&r.p, "realm_roles"), "r1"));
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, scp_arrays_azp_and_a_missing_scope_claim) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(
      key(alg), NULL,
      tu_fmt("{\"sub\": \"svc\", \"exp\": %lld, \"scp\": [\"log.view\"], \"azp\": \"cli\"}",
             (long long)NOW + 60));
  tres r = tu_check(a, tok);
  cr_assert_eq(r.st, PA_OK, "%s", r.err);
  cr_assert(tu_set_has(tu_attr(&r.p, "scopes"), "log.view"));
  cr_assert(tu_has_parent(&r.p, "Client", "cli"));
  cr_assert_null(tu_attr(&r.p, "tenant"));
  free(tok);
  tok = tu_token(key(alg), NULL, tu_fmt("{\"sub\": \"svc\", \"exp\": %lld}", (long long)NOW + 60));
  r = tu_check(a, tok);
  cr_assert_eq(r.st, PA_OK);
  const pdpe_value *s = tu_attr(&r.p, "scopes");
  cr_assert(s && s->kind == PDPE_SET && s->u.set.n == 0, "scopes is always a set");
  cr_assert_eq(r.p.n_parents, 0);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, the_mapping_is_configurable) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a =
      authn_with(&alg, 1,
                 "\"claims\": {\"principal_type\": \"App::Admin\", \"subject\": \"oid\","
                 " \"roles\": [\"perms\"], \"role_type\": \"App::Perm\", \"tenant\": \"tid\","
                 " \"scopes\": [], \"client\": []}");
  char *tok =
      tu_token(key(alg), NULL,
               tu_fmt("{\"oid\": \"u1\", \"exp\": %lld, \"perms\": [\"p\"], \"roles\": [\"x\"],"
                      " \"tid\": \"t9\", \"client_id\": \"c\", \"scope\": \"a\"}",
                      (long long)NOW + 60));
  tres r = tu_check(a, tok);
  cr_assert_eq(r.st, PA_OK, "%s", r.err);
  cr_assert(pu_str_eq_c(r.p.uid.type, "App::Admin") && pu_str_eq_c(r.p.uid.id, "u1"));
  cr_assert(tu_has_parent(&r.p, "App::Perm", "p"));
  cr_assert_eq(r.p.n_parents, 1, "roles and client_id are not mapped");
  cr_assert(pu_str_eq_c(tu_attr(&r.p, "tenant")->u.s, "t9"));
  cr_assert_eq(tu_attr(&r.p, "scopes")->u.set.n, 0);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, mapped_claims_of_unusable_types_are_refused_and_named) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "\"claims\": {\"attributes\": {\"ratio\": \"ratio\"}}");
  const char *bad[][2] = {{"\"roles\": [\"a\", 1]", "roles[1]"},
                          {"\"roles\": 5", "roles"},
                          {"\"scope\": 5", "scope"},
                          {"\"scp\": [true]", "scp[0]"},
                          {"\"tenant\": 5", "tenant"},
                          {"\"client_id\": []", "client_id"},
                          {"\"ratio\": 0.5", "ratio"},
                          {"\"ratio\": [1, null]", "ratio"}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    char *tok =
        tu_token(key(alg), NULL,
                 tu_fmt("{\"sub\": \"a\", \"exp\": %lld, %s}", (long long)NOW + 60, bad[i][0]));
    tres r = tu_check(a, tok);
    tu_assert_refused(r, PA_ERR_CLAIM);
    cr_assert(strstr(r.err, bad[i][1]), "%s does not name %s", r.err, bad[i][1]);
    free(tok);
  }
  pa_authn_free(a);
}

Test(authn_verify, a_key_file_with_a_bad_key_refuses_its_tokens_as_key_unavailable) {
  pa_alg alg = PA_ALG_ES256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok = tu_token(key(alg), NULL, good_payload());
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  tu_writes("es256.key", "not a key\n");
  char err[256];
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_ERROR);
  cr_assert(strstr(err, "es256"), "%s", err);
  tres r = tu_check(a, tok);
  tu_assert_refused(r, PA_ERR_KEY_UNUSABLE);
  free(tok);
  pa_authn_free(a);
}

Test(authn_verify, an_exhausted_request_arena_is_out_of_memory_never_an_accept) {
  pa_alg alg = PA_ALG_HS256;
  pa_authn *a = authn_with(&alg, 1, "");
  char *tok =
      tu_token(key(alg), NULL,
               tu_fmt("{\"sub\": \"alice\", \"exp\": %lld, \"roles\": [\"a\", \"b\", \"c\"],"
                      " \"scope\": \"x y z\"}",
                      (long long)NOW + 60));
  int nomem = 0, ok = 0;
  for (size_t budget = 16; budget <= 8192; budget += 16) {
    pu_arena small;
    pu_arena_init(&small, 256, budget);
    pdpe_entity p;
    char err[256];
    pa_status s = pa_authn_check(a, pu_str_c(tok), NOW, NULL, &small, &p, NULL, err, sizeof(err));
    cr_assert(s == PA_OK || s == PA_ERR_NOMEM, "budget %zu: %s", budget, err);
    if (s == PA_ERR_NOMEM) {
      nomem++;
      cr_assert(!pa_status_is_auth_failure(s));
    } else {
      ok++;
      cr_assert(pu_str_eq_c(p.uid.id, "alice"));
    }
    pu_arena_close(&small);
  }
  cr_assert_gt(nomem, 0);
  cr_assert_gt(ok, 0);
  free(tok);
  pa_authn_free(a);
}

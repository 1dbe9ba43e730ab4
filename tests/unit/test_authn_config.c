/* test_authn_config.c - the JWT config file: defaults, every field, errors naming the
 * field, and keys that are refused at load (weak, wrong type, private, missing). */
#include "test_authn_util.h"

static void fini(void) {
  tu_rmdir();
}

TestSuite(authn_config, .fini = fini);

static bool parse(const char *text, pa_config *c, char *err, size_t cap) {
  return pa_config_parse(text, strlen(text), "jwt.json", "/etc/pdpd", c, err, cap);
}

static void refused(const char *text, const char *want) {
  pa_config c;
  char err[512] = "";
  cr_assert(!parse(text, &c, err, sizeof(err)), "accepted: %s", text);
  cr_assert(strstr(err, want), "error \"%s\" does not name \"%s\"", err, want);
  cr_assert(strncmp(err, "jwt.json", 8) == 0, "error \"%s\" does not name the file", err);
}

Test(authn_config, a_minimal_config_gets_the_documented_defaults) {
  pa_config c;
  char err[256];
  cr_assert(parse("{\"keys\": [{\"alg\": \"RS256\", \"file\": \"k.pem\"}]}", &c, err, sizeof(err)),
            "%s", err);
  cr_assert_eq(c.n_keys, 1);
  cr_assert_null(c.keys[0].kid);
  cr_assert_eq(c.keys[0].alg, PA_ALG_RS256);
  cr_assert_str_eq(c.keys[0].file, "/etc/pdpd/k.pem", "relative to the config's folder");
  cr_assert_eq(c.leeway_s, 30);
  cr_assert_eq(c.max_token_bytes, 8192);
  cr_assert_eq(c.max_json_depth, 16);
  cr_assert(c.require_exp && !c.require_kid);
  cr_assert_eq(c.n_issuers, 0);
  cr_assert_eq(c.n_audiences, 0);
  cr_assert_eq(c.cache_max_entries, 10000);
  cr_assert_eq(c.cache_max_bytes, 16u << 20);
  cr_assert_str_eq(c.principal_type, "User");
  cr_assert_str_eq(c.role_type, "Role");
  cr_assert_str_eq(c.client_type, "Client");
  cr_assert_str_eq(c.subject_claim, "sub");
  cr_assert_eq(c.n_role_claims, 2);
  cr_assert_str_eq(c.role_claims[1], "groups");
  cr_assert_str_eq(c.scope_claims[0], "scope");
  cr_assert_str_eq(c.scope_claims[1], "scp");
  cr_assert_str_eq(c.tenant_claim, "tenant");
  cr_assert_str_eq(c.client_claims[0], "client_id");
  cr_assert_str_eq(c.client_claims[1], "azp");
  pa_config_close(&c);
}

Test(authn_config, every_field_is_read) {
  pa_config c;
  char err[256];
  const char *text =
      "{\"keys\": [{\"kid\": \"a\", \"alg\": \"HS384\", \"file\": \"/abs/s\", \"encoding\": "
      "\"hex\"},"
      "            {\"kid\": \"b\", \"alg\": \"ES512\", \"file\": \"e.pem\"}],"
      " \"issuer\": [\"i1\", \"i2\"], \"audience\": \"pdpd\", \"leeway_s\": 5, "
      "\"max_token_bytes\": 4096,"
      " \"max_json_depth\": 8, \"require_exp\": false, \"require_kid\": true, \"max_cache_ttl_s\": "
      "60,"
      " \"cache\": {\"max_entries\": 7, \"max_bytes\": 70000},"
      " \"claims\": {\"principal_type\": \"Ns::User\", \"role_type\": \"Ns::Role\", "
      "\"client_type\": \"App\","
      "  \"subject\": \"oid\", \"roles\": \"wids\", \"scopes\": [\"scp\"], \"tenant\": \"tid\","
      "  \"client\": [\"appid\"], \"attributes\": {\"email\": \"email\", \"dept\": \"org.dept\"}}}";
  cr_assert(parse(text, &c, err, sizeof(err)), "%s", err);
  cr_assert_eq(c.n_keys, 2);
  cr_assert_str_eq(c.keys[0].file, "/abs/s");
  cr_assert_eq(c.keys[0].encoding, PA_SECRET_HEX);
  cr_assert_str_eq(c.keys[1].file, "/etc/pdpd/e.pem");
  cr_assert_eq(c.n_issuers, 2);
  cr_assert_str_eq(c.issuers[1], "i2");
  cr_assert_eq(c.n_audiences, 1);
  cr_assert_eq(c.leeway_s, 5);
  cr_assert_eq(c.max_token_bytes, 4096);
  cr_assert_eq(c.max_json_depth, 8);
  cr_assert(!c.require_exp && c.require_kid);
  cr_assert_eq(c.max_cache_ttl_s, 60);
  cr_assert_eq(c.cache_max_entries, 7);
  cr_assert_eq(c.cache_max_bytes, 70000);
  cr_assert_str_eq(c.principal_type, "Ns::User");
  cr_assert_str_eq(c.subject_claim, "oid");
  cr_assert_eq(c.n_role_claims, 1);
  cr_assert_str_eq(c.role_claims[0], "wids");
  cr_assert_str_eq(c.client_claims[0], "appid");
  cr_assert_eq(c.n_attributes, 2);
  pa_config_close(&c);
}

Test(authn_config, bad_configs_are_refused_naming_the_field) {
  refused("{", "jwt.json:1:");
  refused("[]", "expected an object");
  refused("{}", "keys");
  refused("{\"keys\": []}", "keys");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"leway_s\": 3}",
          "unknown field \"leway_s\"");
  refused("{\"keys\": [{\"alg\": \"none\", \"file\": \"k\"}]}", "keys[0].alg");
  refused("{\"keys\": [{\"alg\": \"PS256\", \"file\": \"k\"}]}", "keys[0].alg");
  refused("{\"keys\": [{\"file\": \"k\"}]}", "keys[0].alg");
  refused("{\"keys\": [{\"alg\": \"HS256\"}]}", "keys[0].file");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\", \"x\": 1}]}",
          "keys[0]: unknown field");
  refused("{\"keys\": [{\"kid\": \"a\", \"alg\": \"HS256\", \"file\": \"k\"},"
          " {\"kid\": \"a\", \"alg\": \"RS256\", \"file\": \"r\"}]}",
          "keys[1]: kid \"a\"");
  refused(
      "{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}, {\"alg\": \"HS256\", \"file\": \"r\"}]}",
      "keys[1]: keys[0] also has no kid");
  refused("{\"keys\": [{\"alg\": \"RS256\", \"file\": \"k\", \"encoding\": \"hex\"}]}",
          "keys[0].encoding");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\", \"encoding\": \"b32\"}]}",
          "keys[0].encoding");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"leeway_s\": -1}", "leeway_s");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"leeway_s\": \"30\"}", "leeway_s");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"max_json_depth\": 100}",
          "max_json_depth");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"issuer\": 5}", "issuer");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"audience\": [\"\"]}",
          "audience[0]");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"cache\": {\"size\": 1}}", "cache");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"require_exp\": 1}", "require_exp");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"claims\": {\"attributes\": "
          "{\"scopes\": \"s\"}}}",
          "built-in");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"claims\": {\"principal_type\": "
          "\"User x\"}}",
          "claims.principal_type");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"claims\": {\"roles\": [1]}}",
          "claims.roles[0]");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"claims\": {\"role\": \"x\"}}",
          "unknown field \"role\"");
  refused("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"k\"}], \"keys\": []}", "duplicate");
}

static void load_refused(const char *alg, const char *file, const char *want) {
  char err[512] = "";
  tu_writes("jwt.json",
            tu_fmt("{\"keys\": [{\"kid\": \"x\", \"alg\": \"%s\", \"file\": \"%s\"}]}", alg, file));
  pa_authn *a = pa_authn_new(tu_path("jwt.json"), err, sizeof(err));
  cr_assert_null(a, "%s %s accepted", alg, file);
  cr_assert(strstr(err, want), "error \"%s\" does not say \"%s\"", err, want);
  cr_assert(strstr(err, "key x"), "error \"%s\" does not name the key", err);
}

Test(authn_config, weak_wrong_private_and_missing_keys_are_refused_at_load) {
  uint8_t short_secret[31] = {1};
  tu_write("short.key", short_secret, sizeof(short_secret));
  load_refused("HS256", "short.key", "at least 32");
  uint8_t s48[40] = {1};
  tu_write("s40.key", s48, sizeof(s48));
  load_refused("HS384", "s40.key", "at least 48");
  EVP_PKEY *weak = tu_gen_rsa(1024);
  char *pem = pem_of(weak, false);
  tu_writes("rsa1024.pem", pem);
  load_refused("RS256", "rsa1024.pem", "2048");
  free(pem);
  EVP_PKEY_free(weak);
  tkey ec = tu_key(PA_ALG_ES256);
  tu_writes("p256.pem", ec.pub_pem);
  load_refused("ES384", "p256.pem", "secp384r1");
  load_refused("RS256", "p256.pem", "RSA");
  tu_writes("priv.pem", ec.priv_pem);
  load_refused("ES256", "priv.pem", "private key");
  tu_writes("junk.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  load_refused("ES256", "junk.pem", "no PEM public key");
  load_refused("ES256", "missing.pem", "No such file");
  tu_key_free(&ec);
}

Test(authn_config, hmac_secrets_may_be_raw_hex_or_base64) {
  tkey k = tu_key(PA_ALG_HS256);
  char hex[200] = "", *o = hex;
  for (size_t i = 0; i < k.secret_len; i++) o += sprintf(o, "%02x", k.secret[i]);
  strcat(hex, "\n");
  tu_writes("s.hex", hex);
  char *b = b64url(k.secret, k.secret_len);
  tu_writes("s.b64", tu_fmt("  %s==\n", b));
  free(b);
  tu_write_key(&k, "s.raw");
  const char *files[][2] = {{"s.hex", "hex"}, {"s.b64", "base64"}, {"s.raw", "raw"}};
  for (int i = 0; i < 3; i++) {
    pa_authn *a = tu_authn(
        tu_fmt("{\"keys\": [{\"alg\": \"HS256\", \"file\": \"%s\", \"encoding\": \"%s\"}]}",
               files[i][0], files[i][1]));
    char *tok = tu_token(&k, NULL, tu_fmt("{\"sub\": \"a\", \"exp\": %lld}", (long long)NOW + 60));
    tres r = tu_check(a, tok);
    cr_assert_eq(r.st, PA_OK, "%s: %s", files[i][1], r.err);
    free(tok);
    pa_authn_free(a);
  }
  tu_writes("bad.hex", "zz");
  load_refused("HS256", "bad.hex\", \"encoding\": \"hex", "hex");
  tu_key_free(&k);
  if (tu_arena.block_size) pu_arena_close(&tu_arena);
}

Test(authn_config, a_certificate_file_gives_its_public_key) {
  tkey k = tu_key(PA_ALG_RS256);
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k.priv);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             (const unsigned char *)"t", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  cr_assert(X509_sign(x, k.priv, EVP_sha256()) > 0);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  tu_write("cert.pem", data, (size_t)n);
  BIO_free(bio);
  X509_free(x);
  pa_authn *a = tu_authn("{\"keys\": [{\"alg\": \"RS256\", \"file\": \"cert.pem\"}]}");
  char *tok = tu_token(&k, NULL, tu_fmt("{\"sub\": \"a\", \"exp\": %lld}", (long long)NOW + 60));
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  free(tok);
  pa_authn_free(a);
  tu_key_free(&k);
  if (tu_arena.block_size) pu_arena_close(&tu_arena);
}

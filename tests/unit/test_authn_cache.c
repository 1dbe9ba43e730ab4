/* test_authn_cache.c - the verified-token cache: hits, expiry on the clock, revocations by
 * jti and by subject (re-asked only when the stamp changes), key rotation and removal,
 * bounds in entries and bytes, config reloads; an entry answers only its own token text. */
#include "../../pdp/authn/pa_int.h"
#include "test_authn_util.h"

static tkey hs, es;

static void init(void) {
  hs = tu_key(PA_ALG_HS256);
  es = tu_key(PA_ALG_ES256);
  tu_write_key(&hs, "hs.key");
  tu_write_key(&es, "es.key");
}

static void fini(void) {
  tu_key_free(&hs);
  tu_key_free(&es);
  if (tu_arena.block_size) pu_arena_close(&tu_arena);
  tu_rmdir();
}

TestSuite(authn_cache, .init = init, .fini = fini);

static pa_authn *std_authn(const char *extra) {
  return tu_authn(tu_fmt("{\"keys\": [{\"kid\": \"hs\", \"alg\": \"HS256\", \"file\": \"hs.key\"},"
                         " {\"kid\": \"es\", \"alg\": \"ES256\", \"file\": \"es.key\"}]%s%s}",
                         extra[0] ? ", " : "", extra));
}

static char *token_for(tkey *k, const char *kid, const char *sub, const char *jti, int64_t iat,
                       int64_t exp) {
  return tu_token(
      k, kid,
      tu_fmt("{\"sub\": \"%s\", \"jti\": \"%s\", \"iat\": %lld, \"exp\": %lld, \"roles\": [\"r\"]}",
             sub, jti, (long long)iat, (long long)exp));
}

/* A revocation source: one jti, one (sub, before) pair, counting the questions. */
typedef struct revs {
  const char *jti;
  const char *sub;
  int64_t before;
  bool fail;
  int asked;
} revs;

static int revoked(void *ctx, pu_str jti, pu_str sub, int64_t iat) {
  revs *r = ctx;
  r->asked++;
  if (r->fail) return -1;
  if (r->jti && pu_str_eq_c(jti, r->jti)) return 1;
  if (r->sub && pu_str_eq_c(sub, r->sub) && iat < r->before) return 1;
  return 0;
}

static pa_revocations rev_with(revs *r, uint8_t stamp_byte) {
  pa_revocations v = {.revoked = revoked, .ctx = r};
  memset(v.stamp, stamp_byte, sizeof(v.stamp));
  return v;
}

static pa_cache_stats stats(pa_authn *a) {
  pa_cache_stats s;
  pa_authn_cache_stats(a, &s);
  return s;
}

Test(authn_cache, a_second_check_of_the_same_token_is_a_hit_with_the_same_principal) {
  pa_authn *a = std_authn("");
  char *tok = token_for(&es, "es", "alice", "j1", NOW - 5, NOW + 600);
  tres r1 = tu_check(a, tok);
  cr_assert_eq(r1.st, PA_OK, "%s", r1.err);
  cr_assert(!r1.info.cached);
  tres r2 = tu_check(a, tok);
  cr_assert_eq(r2.st, PA_OK);
  cr_assert(r2.info.cached);
  cr_assert(pu_str_eq(r1.p.uid.id, r2.p.uid.id) && pu_str_eq(r1.p.uid.type, r2.p.uid.type));
  cr_assert(tu_has_parent(&r2.p, "Role", "r"));
  cr_assert(pu_str_eq_c(r2.info.jti, "j1") && pu_str_eq_c(r2.info.sub, "alice"));
  cr_assert(pdpe_value_eq(&r1.p.attrs, &r2.p.attrs));
  pa_cache_stats s = stats(a);
  cr_assert_eq(s.entries, 1);
  cr_assert_eq(s.hits, 1);
  cr_assert_eq(s.misses, 1);
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, an_expired_cached_token_is_refused) {
  pa_authn *a = std_authn("\"leeway_s\": 10");
  char *tok = token_for(&hs, "hs", "alice", "j1", NOW - 5, NOW + 60);
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  cr_assert(tu_check_at(a, tok, NOW + 65, NULL).info.cached,
            "inside the leeway it is still cached");
  tres r = tu_check_at(a, tok, NOW + 70, NULL);
  tu_assert_refused(r, PA_ERR_EXPIRED);
  cr_assert_eq(stats(a).entries, 0);
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, a_token_revoked_by_jti_is_refused_at_once_when_cached) {
  pa_authn *a = std_authn("");
  revs rv = {0};
  pa_revocations r1 = rev_with(&rv, 1);
  char *tok = token_for(&es, "es", "alice", "j1", NOW - 5, NOW + 600);
  cr_assert_eq(tu_check_at(a, tok, NOW, &r1).st, PA_OK);
  cr_assert_eq(rv.asked, 1);
  /* Same stamp: the hit does not ask again. */
  for (int i = 0; i < 5; i++) cr_assert(tu_check_at(a, tok, NOW, &r1).info.cached);
  cr_assert_eq(rv.asked, 1);
  /* The source revokes j1: a new snapshot stamp. */
  rv.jti = "j1";
  pa_revocations r2 = rev_with(&rv, 2);
  tres r = tu_check_at(a, tok, NOW, &r2);
  tu_assert_refused(r, PA_ERR_REVOKED);
  cr_assert(strstr(r.err, "j1"), "%s", r.err);
  cr_assert_eq(stats(a).entries, 0, "the revoked entry is gone");
  tu_assert_refused(tu_check_at(a, tok, NOW, &r2), PA_ERR_REVOKED);
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, a_subject_revocation_covers_tokens_issued_before_its_time_only) {
  pa_authn *a = std_authn("");
  revs rv = {0};
  pa_revocations r1 = rev_with(&rv, 1);
  char *old = token_for(&hs, "hs", "bob", "a", NOW - 100, NOW + 600);
  char *newer = token_for(&hs, "hs", "bob", "b", NOW - 10, NOW + 600);
  char *other = token_for(&hs, "hs", "carol", "c", NOW - 100, NOW + 600);
  char *no_iat =
      tu_token(&hs, "hs", tu_fmt("{\"sub\": \"bob\", \"exp\": %lld}", (long long)NOW + 600));
  cr_assert_eq(tu_check_at(a, old, NOW, &r1).st, PA_OK);
  cr_assert_eq(tu_check_at(a, newer, NOW, &r1).st, PA_OK);
  cr_assert_eq(tu_check_at(a, other, NOW, &r1).st, PA_OK);
  cr_assert_eq(tu_check_at(a, no_iat, NOW, &r1).st, PA_OK);
  rv.sub = "bob";
  rv.before = NOW - 50;
  pa_revocations r2 = rev_with(&rv, 2);
  tu_assert_refused(tu_check_at(a, old, NOW, &r2), PA_ERR_REVOKED);
  tu_assert_refused(tu_check_at(a, no_iat, NOW, &r2), PA_ERR_REVOKED);
  tres r = tu_check_at(a, newer, NOW, &r2);
  cr_assert_eq(r.st, PA_OK, "%s", r.err);
  cr_assert(r.info.cached);
  cr_assert_eq(tu_check_at(a, other, NOW, &r2).st, PA_OK);
  free(old), free(newer), free(other), free(no_iat);
  pa_authn_free(a);
}

Test(authn_cache, a_failing_revocation_lookup_refuses_with_an_internal_error) {
  pa_authn *a = std_authn("");
  revs rv = {.fail = true};
  pa_revocations r1 = rev_with(&rv, 1);
  char *tok = token_for(&hs, "hs", "alice", "j", NOW, NOW + 600);
  tres r = tu_check_at(a, tok, NOW, &r1);
  cr_assert_eq(r.st, PA_ERR_INTERNAL);
  cr_assert(!pa_status_is_auth_failure(r.st));
  cr_assert_eq(stats(a).entries, 0, "nothing unchecked is cached");
  rv.fail = false;
  cr_assert_eq(tu_check_at(a, tok, NOW, &r1).st, PA_OK);
  rv.fail = true;
  pa_revocations r2 = rev_with(&rv, 2);
  cr_assert_eq(tu_check_at(a, tok, NOW, &r2).st, PA_ERR_INTERNAL,
               "a hit re-checked on a new stamp");
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, rotating_a_key_drops_the_tokens_it_verified_and_keeps_the_others) {
  pa_authn *a = std_authn("");
  char *t_es = token_for(&es, "es", "alice", "1", NOW, NOW + 600);
  char *t_hs = token_for(&hs, "hs", "bob", "2", NOW, NOW + 600);
  cr_assert_eq(tu_check(a, t_es).st, PA_OK);
  cr_assert_eq(tu_check(a, t_hs).st, PA_OK);
  cr_assert_eq(stats(a).entries, 2);
  char err[256];
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_NONE);
  tkey es2 = tu_key(PA_ALG_ES256);
  tu_write_key(&es2, "es.key");
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_CHANGED, "%s", err);
  cr_assert_eq(stats(a).entries, 1, "the es entry went at once");
  tu_assert_refused(tu_check(a, t_es), PA_ERR_SIGNATURE);
  cr_assert(tu_check(a, t_hs).info.cached, "the hs entry stays");
  char *t_new = token_for(&es2, "es", "alice", "3", NOW, NOW + 600);
  cr_assert_eq(tu_check(a, t_new).st, PA_OK);
  free(t_es), free(t_hs), free(t_new);
  tu_key_free(&es2);
  pa_authn_free(a);
}

Test(authn_cache, removing_a_key_file_drops_its_tokens_and_refuses_them) {
  pa_authn *a = std_authn("");
  char *tok = token_for(&hs, "hs", "alice", "1", NOW, NOW + 600);
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  cr_assert_eq(unlink(tu_path("hs.key")), 0);
  char err[256];
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_ERROR);
  cr_assert(strstr(err, "hs.key"), "%s", err);
  cr_assert_eq(stats(a).entries, 0);
  tu_assert_refused(tu_check(a, tok), PA_ERR_KEY_UNUSABLE);
  /* The file comes back: the key works again. */
  tu_write_key(&hs, "hs.key");
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_CHANGED, "%s", err);
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, a_key_file_rewritten_with_the_same_content_keeps_its_tokens) {
  pa_authn *a = std_authn("");
  char *tok = token_for(&es, "es", "alice", "1", NOW, NOW + 600);
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  tu_write_key(&es, "es.key");
  char err[256];
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_NONE, "%s", err);
  cr_assert(tu_check(a, tok).info.cached);
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, the_cache_holds_at_most_max_entries_evicting_the_least_recent) {
  pa_authn *a = std_authn("\"cache\": {\"max_entries\": 3}");
  char *t[6];
  for (int i = 0; i < 6; i++) {
    char jti[16];
    snprintf(jti, sizeof(jti), "%d", i);
    t[i] = token_for(&hs, "hs", "u", jti, NOW, NOW + 600);
    cr_assert_eq(tu_check(a, t[i]).st, PA_OK);
    if (i == 2) cr_assert(tu_check(a, t[0]).info.cached); /* 0 becomes the most recent */
  }
  pa_cache_stats s = stats(a);
  cr_assert_eq(s.entries, 3);
  cr_assert_eq(s.evictions, 3);
  cr_assert(!tu_check(a, t[1]).info.cached, "1 was the least recent");
  cr_assert_eq(stats(a).entries, 3);
  for (int i = 0; i < 6; i++) free(t[i]);
  pa_authn_free(a);
}

Test(authn_cache, the_cache_stays_within_max_bytes) {
  pa_authn *a = std_authn("\"cache\": {\"max_bytes\": 4096}");
  for (int i = 0; i < 40; i++) {
    char jti[16];
    snprintf(jti, sizeof(jti), "%d", i);
    char *t = token_for(&hs, "hs", "a-user-with-a-longer-name", jti, NOW, NOW + 600);
    cr_assert_eq(tu_check(a, t).st, PA_OK);
    free(t);
    cr_assert_leq(stats(a).bytes, 4096);
  }
  cr_assert_gt(stats(a).entries, 0);
  cr_assert_lt(stats(a).entries, 40);
  pa_authn_free(a);
}

Test(authn_cache, a_zero_sized_cache_still_verifies) {
  pa_authn *a = std_authn("\"cache\": {\"max_entries\": 0}");
  char *tok = token_for(&hs, "hs", "a", "1", NOW, NOW + 600);
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  tres r = tu_check(a, tok);
  cr_assert_eq(r.st, PA_OK);
  cr_assert(!r.info.cached);
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, a_changed_config_empties_the_cache_and_applies_and_a_bad_one_is_refused) {
  pa_authn *a = std_authn("");
  char *tok = tu_token(
      &hs, "hs", tu_fmt("{\"sub\": \"a\", \"iss\": \"x\", \"exp\": %lld}", (long long)NOW + 600));
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  tu_writes("jwt.json", "{\"keys\": [{\"kid\": \"hs\", \"alg\": \"HS256\", \"file\": \"hs.key\"}], "
                        "\"issuer\": \"y\"}");
  char err[256];
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_CHANGED, "%s", err);
  cr_assert_eq(stats(a).entries, 0);
  tu_assert_refused(tu_check(a, tok), PA_ERR_ISSUER);
  tu_writes("jwt.json", "{\"keys\": [], \"issuer\": \"x\"}");
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_ERROR);
  cr_assert(strstr(err, "keys"), "%s", err);
  tu_assert_refused(tu_check(a, tok), PA_ERR_ISSUER); /* the old config stays */
  cr_assert_eq(pa_authn_reload_if_changed(a, err, sizeof(err)), PA_RELOAD_NONE, "reported once");
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, sweep_drops_expired_entries_and_clear_drops_all) {
  pa_authn *a = std_authn("\"leeway_s\": 0");
  char *t1 = token_for(&hs, "hs", "a", "1", NOW, NOW + 10);
  char *t2 = token_for(&hs, "hs", "a", "2", NOW, NOW + 1000);
  cr_assert_eq(tu_check(a, t1).st, PA_OK);
  cr_assert_eq(tu_check(a, t2).st, PA_OK);
  cr_assert_eq(pa_authn_sweep(a, NOW + 5), 0);
  cr_assert_eq(pa_authn_sweep(a, NOW + 10), 1);
  cr_assert_eq(stats(a).entries, 1);
  pa_authn_cache_clear(a);
  cr_assert_eq(stats(a).entries, 0);
  free(t1), free(t2);
  pa_authn_free(a);
}

Test(authn_cache, max_cache_ttl_bounds_a_long_lived_token) {
  pa_authn *a = std_authn("\"max_cache_ttl_s\": 60");
  char *tok = token_for(&hs, "hs", "a", "1", NOW, NOW + 100000);
  cr_assert_eq(tu_check(a, tok).st, PA_OK);
  cr_assert(tu_check_at(a, tok, NOW + 59, NULL).info.cached);
  tres r = tu_check_at(a, tok, NOW + 61, NULL);
  cr_assert_eq(r.st, PA_OK);
  cr_assert(!r.info.cached, "re-verified after the ttl");
  free(tok);
  pa_authn_free(a);
}

Test(authn_cache, many_tokens_in_and_out_keep_the_table_consistent) {
  pa_authn *a = std_authn("\"leeway_s\": 0, \"cache\": {\"max_entries\": 64}");
  char *t[200];
  for (int i = 0; i < 200; i++) {
    char jti[16];
    snprintf(jti, sizeof(jti), "%d", i);
    t[i] = token_for(&hs, "hs", "u", jti, NOW, NOW + 10 + i);
    cr_assert_eq(tu_check(a, t[i]).st, PA_OK);
  }
  /* The last 64 are cached and found; sweeping removes from the middle of probe runs. */
  for (int i = 136; i < 200; i++) cr_assert(tu_check(a, t[i]).info.cached, "token %d", i);
  cr_assert_eq(pa_authn_sweep(a, NOW + 10 + 168), 33);
  for (int i = 169; i < 200; i++)
    cr_assert(tu_check_at(a, t[i], NOW + 10 + 168, NULL).info.cached, "token %d", i);
  for (int i = 0; i < 200; i++) free(t[i]);
  pa_authn_free(a);
}

Test(authn_cache, an_entry_answers_only_its_own_token_even_under_the_same_hash) {
  pa_cache *c = pa__cache_new(8, 1 << 20);
  cr_assert_not_null(c);
  pdpe_entity p;
  memset(&p, 0, sizeof(p));
  p.uid = (pdpe_uid){pu_str_c("User"), pu_str_c("alice")};
  p.attrs.kind = p.tags.kind = PDPE_RECORD;
  pa_token_info info;
  memset(&info, 0, sizeof(info));
  info.sub = pu_str_c("alice");
  pu_str a = pu_str_c("aaaa.bbbb.cccc"), b = pu_str_c("aaaa.bbbb.cccd");
  uint64_t ha = pa__cache_hash(c, a);
  cr_assert_neq(ha, pa__cache_hash(c, b), "one byte changes the hash");
  cr_assert_eq(ha, pa__cache_hash(c, a), "the hash is a function of the text");
  cr_assert(pa__cache_put(c, ha, a, INT64_MAX, 1, NULL, &p, &info));
  cr_assert_not_null(pa__cache_find(c, ha, a, 0));
  /* b forced onto a's hash (a collision): still not a's entry */
  cr_assert_null(pa__cache_find(c, ha, b, 0));
  cr_assert_null(pa__cache_find(c, ha, pu_str_c("aaaa.bbbb.ccc"), 0), "a prefix is not a match");
  pa__cache_free(c);
}

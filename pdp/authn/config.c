/* config.c - the JWT config file (docs/jwt.md): JSON in, a pa_config out.
 *
 * Every field is checked for its type and range; unknown fields are errors (a typo must
 * not silently turn a check off).  Errors name the file and the field path
 * ("jwt.json: keys[1].alg: ...").  Everything the parsed config holds lives in its arena.
 */
#include "pa_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct cfg_ctx {
  pa_config *c;
  const char *name;
  const char *base_dir;
  char *err;
  size_t err_cap;
} cfg_ctx;

static bool bad(cfg_ctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool bad(cfg_ctx *x, const char *path, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(x->err, x->err_cap, "%s: %s: %s", x->name, path, msg);
  return false;
}

static bool oom(cfg_ctx *x) {
  snprintf(x->err, x->err_cap, "%s: out of memory", x->name);
  return false;
}

/* Refuse fields not in `known` (NULL-terminated). */
static bool only_known(cfg_ctx *x, const json_t *obj, const char *path, const char *const *known) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    bool ok = false;
    for (const char *const *p = known; *p && !ok; p++) ok = strcmp(*p, k) == 0;
    if (!ok) return bad(x, path, "unknown field \"%s\"", k);
  }
  return true;
}

static bool get_string(cfg_ctx *x, const json_t *obj, const char *field, const char *path,
                       bool allow_empty, const char **out) {
  const json_t *v = json_object_get(obj, field);
  if (!v) return true;
  char p[128];
  snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", field);
  if (!json_is_string(v)) return bad(x, p, "expected a string");
  if (!allow_empty && json_string_length(v) == 0) return bad(x, p, "must not be empty");
  if (strlen(json_string_value(v)) != json_string_length(v)) return bad(x, p, "NUL in string");
  *out = pu_arena_memdup(&x->c->arena, json_string_value(v), json_string_length(v));
  return *out ? true : oom(x);
}

/* A string or an array of strings -> a string array. */
static bool get_strings(cfg_ctx *x, const json_t *obj, const char *field, const char ***out,
                        uint32_t *n) {
  const json_t *v = json_object_get(obj, field);
  if (!v) return true;
  size_t m = json_is_array(v) ? json_array_size(v) : 1;
  if (!json_is_array(v) && !json_is_string(v))
    return bad(x, field, "expected a string or an array of strings");
  if (m > 1024) return bad(x, field, "more than 1024 items");
  const char **arr = pu_arena_zalloc(&x->c->arena, sizeof(*arr) * (m ? m : 1));
  if (!arr) return oom(x);
  for (size_t i = 0; i < m; i++) {
    const json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
    char p[128];
    snprintf(p, sizeof(p), "%s[%zu]", field, i);
    if (!json_is_string(s) || json_string_length(s) == 0)
      return bad(x, p, "expected a non-empty string");
    arr[i] = pu_arena_memdup(&x->c->arena, json_string_value(s), json_string_length(s));
    if (!arr[i]) return oom(x);
  }
  *out = arr;
  *n = (uint32_t)m;
  return true;
}

static bool get_int(cfg_ctx *x, const json_t *obj, const char *field, const char *path, int64_t lo,
                    int64_t hi, int64_t *out) {
  const json_t *v = json_object_get(obj, field);
  if (!v) return true;
  char p[128];
  snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", field);
  if (!json_is_integer(v)) return bad(x, p, "expected an integer");
  json_int_t i = json_integer_value(v);
  if (i < lo || i > hi)
    return bad(x, p, "%lld is outside %lld..%lld", (long long)i, (long long)lo, (long long)hi);
  *out = (int64_t)i;
  return true;
}

static bool get_bool(cfg_ctx *x, const json_t *obj, const char *field, bool *out) {
  const json_t *v = json_object_get(obj, field);
  if (!v) return true;
  if (!json_is_boolean(v)) return bad(x, field, "expected true or false");
  *out = json_is_true(v);
  return true;
}

static bool parse_key(cfg_ctx *x, const json_t *j, size_t i, pa_key_config *k) {
  char path[32];
  snprintf(path, sizeof(path), "keys[%zu]", i);
  static const char *const known[] = {"kid", "alg", "file", "encoding", NULL};
  if (!json_is_object(j)) return bad(x, path, "expected an object");
  if (!only_known(x, j, path, known)) return false;
  const char *alg = NULL, *file = NULL, *enc = NULL;
  if (!get_string(x, j, "kid", path, false, &k->kid) ||
      !get_string(x, j, "alg", path, false, &alg) ||
      !get_string(x, j, "file", path, false, &file) ||
      !get_string(x, j, "encoding", path, false, &enc))
    return false;
  char p[64];
  snprintf(p, sizeof(p), "%s.alg", path);
  if (!alg) return bad(x, p, "required (HS256/384/512, RS256/384/512, ES256/384/512)");
  k->alg = pa_alg_parse(pu_str_c(alg));
  if (!k->alg)
    return bad(x, p, "\"%s\" is not one of HS256/384/512, RS256/384/512, ES256/384/512", alg);
  snprintf(p, sizeof(p), "%s.file", path);
  if (!file) return bad(x, p, "required");
  if (file[0] != '/' && x->base_dir && x->base_dir[0])
    file = pu_arena_printf(&x->c->arena, "%s/%s", x->base_dir, file);
  if (!file) return oom(x);
  k->file = file;
  k->encoding = PA_SECRET_RAW;
  if (enc) {
    snprintf(p, sizeof(p), "%s.encoding", path);
    if (k->alg > PA_ALG_HS512) return bad(x, p, "only HMAC secrets have an encoding");
    if (strcmp(enc, "raw") == 0)
      k->encoding = PA_SECRET_RAW;
    else if (strcmp(enc, "base64") == 0)
      k->encoding = PA_SECRET_BASE64;
    else if (strcmp(enc, "hex") == 0)
      k->encoding = PA_SECRET_HEX;
    else
      return bad(x, p, "\"%s\" is not raw, base64 or hex", enc);
  }
  return true;
}

static bool parse_keys(cfg_ctx *x, const json_t *root) {
  const json_t *keys = json_object_get(root, "keys");
  if (!keys || !json_is_array(keys) || json_array_size(keys) == 0)
    return bad(x, "keys", "required: a non-empty array of keys");
  size_t n = json_array_size(keys);
  if (n > 256) return bad(x, "keys", "more than 256 keys");
  pa_config *c = x->c;
  c->keys = pu_arena_zalloc(&c->arena, sizeof(*c->keys) * n);
  if (!c->keys) return oom(x);
  for (size_t i = 0; i < n; i++) {
    if (!parse_key(x, json_array_get(keys, i), i, &c->keys[i])) return false;
    for (size_t j = 0; j < i; j++) {
      char p[32];
      snprintf(p, sizeof(p), "keys[%zu]", i);
      const pa_key_config *a = &c->keys[j], *b = &c->keys[i];
      if (a->kid && b->kid && strcmp(a->kid, b->kid) == 0)
        return bad(x, p, "kid \"%s\" is also keys[%zu]'s", b->kid, j);
      if (!a->kid && !b->kid && a->alg == b->alg)
        return bad(x, p, "keys[%zu] also has no kid and alg %s: give both a kid", j,
                   pa_alg_name(a->alg));
    }
  }
  c->n_keys = (uint32_t)n;
  return true;
}

static const char *builtin_attrs[] = {"scopes", "tenant", "client_id", NULL};

static bool parse_claims(cfg_ctx *x, const json_t *j) {
  pa_config *c = x->c;
  static const char *const known[] = {"principal_type", "role_type", "client_type", "subject",
                                      "roles",          "scopes",    "tenant",      "client",
                                      "attributes",     NULL};
  if (!json_is_object(j)) return bad(x, "claims", "expected an object");
  if (!only_known(x, j, "claims", known)) return false;
  if (!get_string(x, j, "principal_type", "claims", false, &c->principal_type) ||
      !get_string(x, j, "role_type", "claims", false, &c->role_type) ||
      !get_string(x, j, "client_type", "claims", false, &c->client_type) ||
      !get_string(x, j, "subject", "claims", false, &c->subject_claim) ||
      !get_string(x, j, "tenant", "claims", true, &c->tenant_claim))
    return false;
  /* Lists may be empty ([] turns the mapping off). */
  struct {
    const char *field;
    const char ***arr;
    uint32_t *n;
  } lists[] = {{"roles", &c->role_claims, &c->n_role_claims},
               {"scopes", &c->scope_claims, &c->n_scope_claims},
               {"client", &c->client_claims, &c->n_client_claims}};
  for (size_t i = 0; i < 3; i++) {
    const json_t *v = json_object_get(j, lists[i].field);
    if (v && json_is_array(v) && json_array_size(v) == 0) {
      *lists[i].n = 0;
      continue;
    }
    char f[32];
    snprintf(f, sizeof(f), "claims.%s", lists[i].field);
    json_t *wrap = json_object();
    if (!wrap) return oom(x);
    if (v) json_object_set(wrap, f, (json_t *)v);
    bool ok = get_strings(x, wrap, f, lists[i].arr, lists[i].n);
    json_decref(wrap);
    if (!ok) return false;
  }
  const json_t *attrs = json_object_get(j, "attributes");
  if (!attrs) return true;
  if (!json_is_object(attrs))
    return bad(x, "claims.attributes", "expected an object {attribute: claim}");
  size_t n = json_object_size(attrs);
  c->attributes = pu_arena_zalloc(&c->arena, sizeof(*c->attributes) * (n ? n : 1));
  if (!c->attributes) return oom(x);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)attrs, k, v) {
    char p[160];
    snprintf(p, sizeof(p), "claims.attributes.%.100s", k);
    if (k[0] == '\0') return bad(x, "claims.attributes", "empty attribute name");
    for (const char **b = builtin_attrs; *b; b++)
      if (strcmp(*b, k) == 0) return bad(x, p, "\"%s\" is a built-in attribute", k);
    if (!json_is_string(v) || json_string_length(v) == 0) return bad(x, p, "expected a claim name");
    pa_attr_config *a = &c->attributes[c->n_attributes++];
    a->attribute = pu_arena_strdup(&c->arena, k);
    a->claim = pu_arena_strdup(&c->arena, json_string_value(v));
    if (!a->attribute || !a->claim) return oom(x);
  }
  return true;
}

static const char *default_roles[] = {"roles", "groups"};
static const char *default_scopes[] = {"scope", "scp"};
static const char *default_clients[] = {"client_id", "azp"};

static void set_defaults(pa_config *c) {
  c->leeway_s = 30;
  c->max_token_bytes = 8192;
  c->max_json_depth = 16;
  c->require_exp = true;
  c->max_cache_ttl_s = 3600;
  c->cache_max_entries = 10000;
  c->cache_max_bytes = 16u << 20;
  c->principal_type = "User";
  c->role_type = "Role";
  c->client_type = "Client";
  c->subject_claim = "sub";
  c->role_claims = default_roles;
  c->n_role_claims = 2;
  c->scope_claims = default_scopes;
  c->n_scope_claims = 2;
  c->tenant_claim = "tenant";
  c->client_claims = default_clients;
  c->n_client_claims = 2;
}

static bool valid_type_name(const char *t) {
  /* A Cedar type path: identifiers separated by "::". */
  const char *p = t;
  for (;;) {
    if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) return false;
    while (*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
           (*p >= '0' && *p <= '9'))
      p++;
    if (*p == '\0') return true;
    if (p[0] != ':' || p[1] != ':') return false;
    p += 2;
  }
}

bool pa_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                     pa_config *out, char *err, size_t err_cap) {
  memset(out, 0, sizeof(*out));
  pu_arena_init(&out->arena, 4096, 0);
  set_defaults(out);
  cfg_ctx x = {out, name ? name : "jwt config", base_dir, err, err_cap};
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  bool ok = false;
  if (!root) {
    snprintf(err, err_cap, "%s:%d:%d: %s", x.name, jerr.line, jerr.column, jerr.text);
    goto done;
  }
  static const char *const known[] = {"keys",        "issuer",          "audience",
                                      "leeway_s",    "max_token_bytes", "max_json_depth",
                                      "require_exp", "require_kid",     "max_cache_ttl_s",
                                      "cache",       "claims",          NULL};
  if (!json_is_object(root)) {
    bad(&x, "(top)", "expected an object");
    goto done;
  }
  if (!only_known(&x, root, "(top)", known) || !parse_keys(&x, root) ||
      !get_strings(&x, root, "issuer", &out->issuers, &out->n_issuers) ||
      !get_strings(&x, root, "audience", &out->audiences, &out->n_audiences) ||
      !get_int(&x, root, "leeway_s", "", 0, 3600, &out->leeway_s) ||
      !get_int(&x, root, "max_cache_ttl_s", "", 1, 86400 * 366, &out->max_cache_ttl_s) ||
      !get_bool(&x, root, "require_exp", &out->require_exp) ||
      !get_bool(&x, root, "require_kid", &out->require_kid))
    goto done;
  int64_t v = (int64_t)out->max_token_bytes;
  if (!get_int(&x, root, "max_token_bytes", "", 64, 1 << 20, &v)) goto done;
  out->max_token_bytes = (size_t)v;
  v = out->max_json_depth;
  if (!get_int(&x, root, "max_json_depth", "", 2, PDPE_MAX_VALUE_DEPTH, &v)) goto done;
  out->max_json_depth = (uint32_t)v;
  const json_t *cache = json_object_get(root, "cache");
  if (cache) {
    static const char *const ck[] = {"max_entries", "max_bytes", NULL};
    if (!json_is_object(cache)) {
      bad(&x, "cache", "expected an object");
      goto done;
    }
    v = out->cache_max_entries;
    if (!only_known(&x, cache, "cache", ck) ||
        !get_int(&x, cache, "max_entries", "cache", 0, 10000000, &v))
      goto done;
    out->cache_max_entries = (uint32_t)v;
    v = (int64_t)out->cache_max_bytes;
    if (!get_int(&x, cache, "max_bytes", "cache", 0, (int64_t)1 << 40, &v)) goto done;
    out->cache_max_bytes = (size_t)v;
  }
  const json_t *claims = json_object_get(root, "claims");
  if (claims && !parse_claims(&x, claims)) goto done;
  const char *types[][2] = {{"claims.principal_type", out->principal_type},
                            {"claims.role_type", out->role_type},
                            {"claims.client_type", out->client_type}};
  for (size_t i = 0; i < 3; i++)
    if (!valid_type_name(types[i][1])) {
      bad(&x, types[i][0], "\"%s\" is not a Cedar type name", types[i][1]);
      goto done;
    }
  ok = true;
done:
  json_decref(root);
  if (!ok) pa_config_close(out);
  return ok;
}

void pa_config_close(pa_config *c) {
  pu_arena_close(&c->arena);
  memset(c, 0, sizeof(*c));
}

/* json2proto.c - Cedar JSON (uids, values, context, entities) to the client's request values.
 *
 * pdpctl reads requests and entities in Cedar's JSON formats and hands them to libpdpclient,
 * which encodes them as pdp.v1 protobuf messages.  Every error names the JSON path of the
 * element at fault ("entities[2].attrs.owner: ...") so a user can find it.  Nesting is
 * bounded by PDPC_MAX_VALUE_DEPTH here, before any recursion gets deep, counted as pdpd
 * and the client count it: the context and an entity's attrs and tags are depth 1, a set
 * or record inside k sets/records has depth k + 1, scalars do not count.
 */
#include "pdpctl.h"

#include "../lang/pdpl.h"
#include "../util/pu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return false;
}

static const char *json_kind(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number with a fraction";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "something else";
}

/* path + "." + key or path + "[i]" into buf. */
/* Paths are for messages only: a very long one is cut short, never overflowed. */
static const char *sub_key(char *buf, size_t cap, const char *path, const char *key) {
  if (snprintf(buf, cap, "%s%s%s", path, path[0] ? "." : "", key) >= (int)cap) buf[cap - 1] = 0;
  return buf;
}

static const char *sub_index(char *buf, size_t cap, const char *path, size_t i) {
  if (snprintf(buf, cap, "%s[%zu]", path, i) >= (int)cap) buf[cap - 1] = 0;
  return buf;
}

/* A JSON string without NUL bytes (protobuf strings end at the first NUL). */
static const char *plain_string(const json_t *j, const char *path, const char *what, char *err,
                                size_t cap) {
  if (!json_is_string(j)) {
    fail(err, cap, "%s: %s must be a string, not %s", path, what, j ? json_kind(j) : "missing");
    return NULL;
  }
  if (strlen(json_string_value(j)) != json_string_length(j)) {
    fail(err, cap, "%s: %s contains a NUL character", path, what);
    return NULL;
  }
  return json_string_value(j);
}

/* ---- uids ---------------------------------------------------------------------------------- */

void ctl_uid_close(ctl_uid *u) {
  free(u->type);
  free(u->id);
  u->type = u->id = NULL;
}

static bool uid_set(ctl_uid *out, const char *type, size_t tlen, const char *id, size_t ilen,
                    char *err, size_t cap, const char *path) {
  if (memchr(id, 0, ilen) || memchr(type, 0, tlen))
    return fail(err, cap, "%s: entity id contains a NUL character", path);
  out->type = strndup(type, tlen);
  out->id = strndup(id, ilen);
  if (!out->type || !out->id) {
    ctl_uid_close(out);
    return fail(err, cap, "%s: out of memory", path);
  }
  return true;
}

bool ctl_uid_parse(const char *text, ctl_uid *out, char *err, size_t cap) {
  memset(out, 0, sizeof *out);
  pu_arena a;
  pu_arena_init(&a, 1024, 1 << 20);
  pdpl_uid u;
  char msg[256] = "";
  bool ok = pdpl_parse_uid(&a, text, strlen(text), &u, msg, sizeof msg);
  if (!ok)
    fail(err, cap, "%s (expected Type::\"id\", for example User::\"alice\")",
         msg[0] ? msg : "not an entity uid");
  else
    ok = uid_set(out, u.type.ptr, u.type.len, u.id.ptr, u.id.len, err, cap, text);
  pu_arena_close(&a);
  return ok;
}

bool ctl_uid_from_json(const json_t *j, const char *path, ctl_uid *out, char *err, size_t cap) {
  memset(out, 0, sizeof *out);
  char p[512];
  if (json_is_string(j)) {
    char msg[CTL_ERR_CAP];
    if (!ctl_uid_parse(json_string_value(j), out, msg, sizeof msg))
      return fail(err, cap, "%s: %s", path, msg);
    return true;
  }
  if (!json_is_object(j))
    return fail(
        err, cap,
        "%s: entity uid must be {\"type\": ..., \"id\": ...} or \"Type::\\\"id\\\"\", not %s", path,
        j ? json_kind(j) : "missing");
  const json_t *inner = json_object_get(j, "__entity");
  if (inner) {
    if (json_object_size(j) != 1)
      return fail(err, cap, "%s: \"__entity\" must be the only key", path);
    return ctl_uid_from_json(inner, sub_key(p, sizeof p, path, "__entity"), out, err, cap);
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    if (strcmp(key, "type") != 0 && strcmp(key, "id") != 0)
      return fail(err, cap, "%s: unexpected key \"%s\" in an entity uid (only \"type\" and \"id\")",
                  path, key);
  }
  const char *type = plain_string(json_object_get(j, "type"), sub_key(p, sizeof p, path, "type"),
                                  "type", err, cap);
  if (!type) return false;
  if (!type[0]) return fail(err, cap, "%s: type must not be empty", p);
  const char *id =
      plain_string(json_object_get(j, "id"), sub_key(p, sizeof p, path, "id"), "id", err, cap);
  if (!id) return false;
  return uid_set(out, type, strlen(type), id, strlen(id), err, cap, path);
}

const char *ctl_uid_format(const char *type, const char *id, char *buf, size_t cap) {
  size_t o = (size_t)snprintf(buf, cap, "%s::\"", type ? type : "?");
  for (const char *s = id ? id : ""; *s && o + 3 < cap; s++) {
    if (*s == '"' || *s == '\\') buf[o++] = '\\';
    buf[o++] = *s;
  }
  if (o + 2 <= cap) {
    buf[o++] = '"';
    buf[o] = 0;
  } else if (cap) {
    buf[cap - 1] = 0;
  }
  return buf;
}

/* ---- values -------------------------------------------------------------------------------- */

/* `depth` is the number of sets and records enclosing the value at j. */
static pdpc_value *value_at(const json_t *j, const char *path, int depth, char *err, size_t cap);

static pdpc_value *too_deep(const char *path, char *err, size_t cap) {
  fail(err, cap, "%s: value nested deeper than %d levels", path, PDPC_MAX_VALUE_DEPTH);
  return NULL;
}

static pdpc_value *record_at(const json_t *j, const char *path, int depth, char *err, size_t cap) {
  if (depth + 1 > PDPC_MAX_VALUE_DEPTH) return too_deep(path, err, cap);
  pdpc_value *rec = pdpc_value_record();
  if (!rec) return fail(err, cap, "%s: out of memory", path), NULL;
  const char *key;
  json_t *v;
  char p[512];
  json_object_foreach((json_t *)j, key, v) {
    sub_key(p, sizeof p, path, key);
    pdpc_value *item = value_at(v, p, depth + 1, err, cap);
    if (!item || pdpc_record_put(rec, key, item) != 0) {
      if (item) fail(err, cap, "%s: out of memory", p);
      pdpc_value_free(rec);
      return NULL;
    }
  }
  return rec;
}

static pdpc_value *value_at(const json_t *j, const char *path, int depth, char *err, size_t cap) {
  char p[512];
  pdpc_value *v = NULL;
  switch (json_typeof(j)) {
  case JSON_TRUE:
    v = pdpc_value_bool(true);
    break;
  case JSON_FALSE:
    v = pdpc_value_bool(false);
    break;
  case JSON_INTEGER:
    v = pdpc_value_long(json_integer_value(j));
    break;
  case JSON_REAL:
    fail(err, cap,
         "%s: %g is not a Cedar value (Cedar longs are integers; use {\"__extn\": {\"fn\": "
         "\"decimal\", "
         "\"arg\": \"...\"}} for decimals)",
         path, json_real_value(j));
    return NULL;
  case JSON_NULL:
    fail(err, cap, "%s: null is not a Cedar value", path);
    return NULL;
  case JSON_STRING: {
    const char *s = plain_string(j, path, "string", err, cap);
    if (!s) return NULL;
    v = pdpc_value_string(s);
    break;
  }
  case JSON_ARRAY: {
    if (depth + 1 > PDPC_MAX_VALUE_DEPTH) return too_deep(path, err, cap);
    v = pdpc_value_set();
    if (!v) break;
    size_t i;
    json_t *item;
    json_array_foreach(j, i, item) {
      pdpc_value *x = value_at(item, sub_index(p, sizeof p, path, i), depth + 1, err, cap);
      if (!x || pdpc_set_add(v, x) != 0) {
        if (x) fail(err, cap, "%s: out of memory", p);
        pdpc_value_free(v);
        return NULL;
      }
    }
    return v;
  }
  case JSON_OBJECT: {
    const json_t *ent = json_object_get(j, "__entity");
    const json_t *ext = json_object_get(j, "__extn");
    if (ent || ext) {
      if (json_object_size(j) != 1)
        return fail(err, cap, "%s: \"%s\" must be the only key of its object", path,
                    ent ? "__entity" : "__extn"),
               NULL;
    }
    if (ent) {
      ctl_uid u;
      if (!ctl_uid_from_json(ent, sub_key(p, sizeof p, path, "__entity"), &u, err, cap))
        return NULL;
      v = pdpc_value_entity(u.type, u.id);
      ctl_uid_close(&u);
      break;
    }
    if (ext) {
      sub_key(p, sizeof p, path, "__extn");
      if (!json_is_object(ext))
        return fail(err, cap, "%s: must be {\"fn\": ..., \"arg\": ...}", p), NULL;
      const char *key;
      json_t *x;
      json_object_foreach((json_t *)ext, key, x) {
        if (strcmp(key, "fn") != 0 && strcmp(key, "arg") != 0)
          return fail(err, cap, "%s: unexpected key \"%s\" (only \"fn\" and \"arg\")", p, key),
                 NULL;
      }
      char q[512];
      const char *fn =
          plain_string(json_object_get(ext, "fn"), sub_key(q, sizeof q, p, "fn"), "fn", err, cap);
      if (!fn) return NULL;
      const char *arg = plain_string(json_object_get(ext, "arg"), sub_key(q, sizeof q, p, "arg"),
                                     "arg", err, cap);
      if (!arg) return NULL;
      v = pdpc_value_extension(fn, arg);
      break;
    }
    return record_at(j, path, depth, err, cap);
  }
  }
  if (!v) fail(err, cap, "%s: out of memory", path);
  return v;
}

bool ctl_context_from_json(const json_t *j, const char *path, pdpc_value **out, char *err,
                           size_t cap) {
  *out = NULL;
  if (!j || json_is_null(j)) return true;
  if (!json_is_object(j))
    return fail(err, cap, "%s: context must be a JSON object, not %s", path, json_kind(j));
  *out = record_at(j, path, 0, err, cap);
  return *out != NULL;
}

/* ---- entities ------------------------------------------------------------------------------ */

static bool entity_records(pdpc_entity *e, const json_t *obj, const char *path, bool tags,
                           char *err, size_t cap) {
  if (!obj || json_is_null(obj)) return true;
  if (!json_is_object(obj))
    return fail(err, cap, "%s: must be an object, not %s", path, json_kind(obj));
  const char *key;
  json_t *v;
  char p[512];
  json_object_foreach((json_t *)obj, key, v) {
    sub_key(p, sizeof p, path, key);
    pdpc_value *x = value_at(v, p, 1, err, cap);
    if (!x) return false;
    if ((tags ? pdpc_entity_tag(e, key, x) : pdpc_entity_attr(e, key, x)) != 0)
      return fail(err, cap, "%s: out of memory", p);
  }
  return true;
}

static pdpc_entity *entity_at(const json_t *j, const char *path, char *err, size_t cap) {
  char p[512];
  if (!json_is_object(j))
    return fail(err, cap, "%s: an entity must be an object, not %s", path, json_kind(j)), NULL;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    if (strcmp(key, "uid") && strcmp(key, "attrs") && strcmp(key, "parents") && strcmp(key, "tags"))
      return fail(err, cap, "%s: unexpected key \"%s\" (an entity has uid, attrs, parents, tags)",
                  path, key),
             NULL;
  }
  const json_t *juid = json_object_get(j, "uid");
  if (!juid) return fail(err, cap, "%s: missing \"uid\"", path), NULL;
  ctl_uid u;
  if (!ctl_uid_from_json(juid, sub_key(p, sizeof p, path, "uid"), &u, err, cap)) return NULL;
  pdpc_entity *e = pdpc_entity_new(u.type, u.id);
  ctl_uid_close(&u);
  if (!e) return fail(err, cap, "%s: out of memory", path), NULL;
  if (!entity_records(e, json_object_get(j, "attrs"), sub_key(p, sizeof p, path, "attrs"), false,
                      err, cap) ||
      !entity_records(e, json_object_get(j, "tags"), sub_key(p, sizeof p, path, "tags"), true, err,
                      cap))
    goto bad;
  const json_t *parents = json_object_get(j, "parents");
  if (parents && !json_is_null(parents)) {
    sub_key(p, sizeof p, path, "parents");
    if (!json_is_array(parents)) {
      fail(err, cap, "%s: must be an array of entity uids, not %s", p, json_kind(parents));
      goto bad;
    }
    size_t i;
    json_t *pj;
    char q[512];
    json_array_foreach(parents, i, pj) {
      ctl_uid pu;
      if (!ctl_uid_from_json(pj, sub_index(q, sizeof q, p, i), &pu, err, cap)) goto bad;
      int rc = pdpc_entity_parent(e, pu.type, pu.id);
      ctl_uid_close(&pu);
      if (rc) {
        fail(err, cap, "%s: out of memory", q);
        goto bad;
      }
    }
  }
  return e;
bad:
  pdpc_entity_free(e);
  return NULL;
}

bool ctl_entities_from_json(const json_t *j, const char *path, ctl_entities *out, char *err,
                            size_t cap) {
  memset(out, 0, sizeof *out);
  if (!j || json_is_null(j)) return true;
  if (!json_is_array(j))
    return fail(err, cap, "%s: entities must be a JSON array, not %s", path, json_kind(j));
  size_t n = json_array_size(j);
  if (n == 0) return true;
  out->items = calloc(n, sizeof *out->items);
  if (!out->items) return fail(err, cap, "%s: out of memory", path);
  size_t i;
  json_t *e;
  char p[512];
  json_array_foreach(j, i, e) {
    out->items[i] = entity_at(e, sub_index(p, sizeof p, path, i), err, cap);
    if (!out->items[i]) {
      ctl_entities_close(out);
      return false;
    }
    out->n++;
  }
  return true;
}

void ctl_entities_close(ctl_entities *es) {
  for (size_t i = 0; i < es->n; i++) pdpc_entity_free(es->items[i]);
  free(es->items);
  es->items = NULL;
  es->n = 0;
}

/* ---- loading ------------------------------------------------------------------------------- */

json_t *ctl_json_load_file(const char *file, char *err, size_t cap) {
  json_error_t je;
  json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    if (je.line <= 0)
      fail(err, cap, "%s: %s", file, je.text);
    else
      fail(err, cap, "%s:%d:%d: %s", file, je.line, je.column, je.text);
  }
  return j;
}

json_t *ctl_json_load_string(const char *what, const char *text, char *err, size_t cap) {
  json_error_t je;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!j)
    fail(err, cap, "%s: invalid JSON at line %d column %d: %s", what, je.line, je.column, je.text);
  return j;
}

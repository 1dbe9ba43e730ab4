/* links.c - a bundle's template-links.json: which templates are linked, under which ids,
 * with which values for ?principal and ?resource (see cache_int.h for the format).  The
 * engine checks the links against the templates (pdpe_policy_set_build_linked); this file
 * only reads the JSON and names the link in every error.
 */
#include "cache_int.h"

#include <stdio.h>
#include <string.h>

static bool str_field(pu_arena *a, const json_t *obj, const char *key, pu_str *out,
                      const char *where, cache_diag *diag) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_string(v) || json_string_length(v) == 0) {
    cache_diag_addf(diag, "%s.%s: expected a non-empty string", where, key);
    return false;
  }
  *out = pu_arena_str(a, (pu_str){json_string_value(v), json_string_length(v)});
  if (!out->ptr) {
    cache_diag_addf(diag, "%s: out of memory", where);
    return false;
  }
  return true;
}

static bool uid_field(pu_arena *a, const json_t *v, pdpe_uid *out, const char *where,
                      cache_diag *diag) {
  const json_t *inner = json_object_get(v, "__entity");
  if (inner) v = inner;
  const json_t *t = json_object_get(v, "type"), *i = json_object_get(v, "id");
  if (!json_is_object(v) || json_object_size(v) != 2 || !json_is_string(t) || !json_is_string(i) ||
      json_string_length(t) == 0) {
    cache_diag_addf(diag, "%s: expected an entity uid {\"type\": ..., \"id\": ...}", where);
    return false;
  }
  out->type = pu_arena_str(a, (pu_str){json_string_value(t), json_string_length(t)});
  out->id = pu_arena_str(a, (pu_str){json_string_value(i), json_string_length(i)});
  if (!out->type.ptr || !out->id.ptr) {
    cache_diag_addf(diag, "%s: out of memory", where);
    return false;
  }
  return true;
}

static bool read_link(pu_arena *a, const json_t *j, const char *where, pdpe_link *l,
                      cache_diag *diag) {
  if (!json_is_object(j)) {
    cache_diag_addf(diag, "%s: expected an object with templateId, newId and values", where);
    return false;
  }
  const char *key;
  json_t *v;
  bool ok = true;
  json_object_foreach((json_t *)j, key, v) {
    if (strcmp(key, "templateId") && strcmp(key, "newId") && strcmp(key, "values")) {
      cache_diag_addf(diag, "%s: unknown field \"%s\"", where, key);
      ok = false;
    }
  }
  ok = str_field(a, j, "templateId", &l->template_id, where, diag) && ok;
  ok = str_field(a, j, "newId", &l->new_id, where, diag) && ok;
  const json_t *values = json_object_get(j, "values");
  if (!json_is_object(values)) {
    cache_diag_addf(diag, "%s.values: expected an object with \"?principal\" and/or \"?resource\"",
                    where);
    return false;
  }
  json_object_foreach((json_t *)values, key, v) {
    char path[300];
    snprintf(path, sizeof path, "%s.values[\"%.40s\"]", where, key);
    if (strcmp(key, "?principal") == 0) {
      l->has_principal = uid_field(a, v, &l->principal, path, diag);
      ok = l->has_principal && ok;
    } else if (strcmp(key, "?resource") == 0) {
      l->has_resource = uid_field(a, v, &l->resource, path, diag);
      ok = l->has_resource && ok;
    } else {
      cache_diag_addf(diag, "%s: unknown slot (only ?principal and ?resource exist)", path);
      ok = false;
    }
  }
  return ok;
}

bool cache__links_from_json(pu_arena *arena, const json_t *json, const char *file, pdpe_link **out,
                            uint32_t *n_out, cache_diag *diag) {
  if (!json_is_array(json)) {
    cache_diag_addf(diag, "%s: expected an array of template links", file);
    return false;
  }
  size_t n = json_array_size(json);
  pdpe_link *links = n ? pu_arena_zalloc(arena, sizeof(pdpe_link) * n) : NULL;
  if (n && !links) {
    cache_diag_addf(diag, "%s: out of memory", file);
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    char *where = pu_arena_printf(arena, "%s[%zu]", file, i);
    if (!where) {
      cache_diag_addf(diag, "%s: out of memory", file);
      return false;
    }
    links[i].where = where;
    ok = read_link(arena, json_array_get(json, i), where, &links[i], diag) && ok;
  }
  *out = links;
  *n_out = (uint32_t)n;
  return ok;
}

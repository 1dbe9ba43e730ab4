/* scenario.c - a request mix for pdp-bench: a bundle's checks.json, pre-encoded.
 *
 * The file is read by the same loader `pdpctl test` uses (pdp/cli/checks.c), so any
 * checks.json users write for their policy tests is a valid benchmark scenario.  Each check
 * is encoded once as a whole frame with id = its index + 1; pdp-bench replays the frames
 * and, for the first pass, checks each answer against the expected decision.
 *
 * bench_scenario_batch repacks those frames as BatchCheck requests: it decodes each Check
 * frame back into its protobuf-c message (so the checks are byte for byte what
 * pdpc_encode_check produced) and packs K of them per pdp.v1.BatchCheckRequest; the C
 * client has no batch encoder of its own.  bench_scenario_tokens decodes them the same way to
 * put a token (a JWT) in place of each principal.
 *
 * bench_scenario_load_lists reads a list-allowed.json instead (the format is in bench.h) and
 * encodes each item with pdpc_encode_list_allowed, keeping the expected actions.
 */
#include "bench.h"

#include "../../pdp/cli/pdpctl.h"
#include "pdp.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool bench_scenario_load(const char *dir, bench_scenario *out, char *err, size_t cap) {
  memset(out, 0, sizeof(*out));
  snprintf(out->name, sizeof(out->name), "%s", dir);
  char file[4096];
  snprintf(file, sizeof(file), "%s/checks.json", dir);
  ctl_checks checks;
  if (!ctl_checks_load(file, "pdp-bench", &checks)) {
    snprintf(err, cap, "%s: cannot load the scenario (errors above)", file);
    return false;
  }
  if (checks.n == 0) {
    snprintf(err, cap, "%s: no checks", file);
    ctl_checks_close(&checks);
    return false;
  }
  out->frames = calloc(checks.n, sizeof(bench_frame));
  if (!out->frames) {
    snprintf(err, cap, "out of memory");
    ctl_checks_close(&checks);
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < checks.n && ok; i++) {
    const ctl_check_case *c = &checks.cases[i];
    pdpc_check_req req = {
        .principal = ctl_uid_view(&c->principal),
        .action = ctl_uid_view(&c->action),
        .resource = ctl_uid_view(&c->resource),
        .context = c->context,
        .entities = c->all,
        .n_entities = c->n_all,
    };
    bench_frame *f = &out->frames[i];
    int rc = pdpc_encode_check(&req, (uint64_t)i + 1, &f->bytes, &f->len);
    if (rc != 0) {
      snprintf(err, cap, "%s: checks[%zu]: cannot encode: %s", file, i, pdpc_strerror(rc));
      ok = false;
      break;
    }
    f->expect_allow = c->expect_allow ? 1 : 0;
    f->n_checks = 1;
    out->n++;
  }
  ctl_checks_close(&checks);
  if (!ok) bench_scenario_close(out);
  return ok;
}

void bench_scenario_close(bench_scenario *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->frames[i].bytes);
    free(s->frames[i].expects);
    free(s->frames[i].expect_list);
  }
  free(s->frames);
  s->frames = NULL;
  s->n = 0;
  s->batch = 0;
  s->lists = false;
}

static void free_frames(bench_frame *fs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(fs[i].bytes);
    free(fs[i].expects);
  }
  free(fs);
}

bool bench_scenario_batch(bench_scenario *s, size_t k, char *err, size_t cap) {
  if (k == 0 || s->n == 0 || s->batch || s->lists) {
    snprintf(err, cap, "batch: need k >= 1 and a loaded scenario of single checks");
    return false;
  }
  size_t n = s->n, nb = (n + k - 1) / k;
  Pdp__V1__Request **reqs = calloc(n, sizeof(*reqs));
  Pdp__V1__CheckRequest **checks = calloc(k, sizeof(*checks));
  bench_frame *out = calloc(nb, sizeof(*out));
  bool ok = reqs && checks && out;
  if (!ok) snprintf(err, cap, "out of memory");
  for (size_t i = 0; i < n && ok; i++) {
    const bench_frame *f = &s->frames[i];
    reqs[i] = f->len >= 4 ? pdp__v1__request__unpack(NULL, f->len - 4, f->bytes + 4) : NULL;
    if (!reqs[i] || reqs[i]->body_case != PDP__V1__REQUEST__BODY_CHECK) {
      snprintf(err, cap, "checks[%zu]: the encoded check does not decode", i);
      ok = false;
    }
  }
  for (size_t b = 0; b < nb && ok; b++) {
    bench_frame *f = &out[b];
    f->expects = malloc(k);
    if (!f->expects) {
      snprintf(err, cap, "out of memory");
      ok = false;
      break;
    }
    for (size_t j = 0; j < k; j++) {
      size_t i = (b * k + j) % n;
      checks[j] = reqs[i]->check;
      f->expects[j] = (signed char)s->frames[i].expect_allow;
    }
    Pdp__V1__BatchCheckRequest batch = PDP__V1__BATCH_CHECK_REQUEST__INIT;
    batch.n_checks = k;
    batch.checks = checks;
    Pdp__V1__Request rq = PDP__V1__REQUEST__INIT;
    rq.id = (uint64_t)b + 1;
    rq.body_case = PDP__V1__REQUEST__BODY_BATCH_CHECK;
    rq.batch_check = &batch;
    size_t len = pdp__v1__request__get_packed_size(&rq);
    if (len > UINT32_MAX - 4 || !(f->bytes = malloc(4 + len))) {
      snprintf(err, cap, "batch %zu: out of memory (%zu bytes)", b, len);
      ok = false;
      break;
    }
    f->bytes[0] = (uint8_t)(len >> 24);
    f->bytes[1] = (uint8_t)(len >> 16);
    f->bytes[2] = (uint8_t)(len >> 8);
    f->bytes[3] = (uint8_t)len;
    pdp__v1__request__pack(&rq, f->bytes + 4);
    f->len = 4 + len;
    f->expect_allow = -1;
    f->n_checks = k;
  }
  if (reqs)
    for (size_t i = 0; i < n; i++)
      if (reqs[i]) pdp__v1__request__free_unpacked(reqs[i], NULL);
  free(reqs);
  free(checks);
  if (!ok) {
    if (out) free_frames(out, nb);
    return false;
  }
  free_frames(s->frames, s->n);
  s->frames = out;
  s->n = nb;
  s->batch = k;
  return true;
}

bool bench_scenario_tokens(bench_scenario *s, char *const *tokens, size_t n, char *err,
                           size_t cap) {
  if (n == 0 || s->n == 0 || s->batch) {
    snprintf(err, cap, "tokens: need a token and a loaded scenario of single checks");
    return false;
  }
  bench_frame *out = calloc(s->n, sizeof(*out));
  if (!out) {
    snprintf(err, cap, "out of memory");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < s->n && ok; i++) {
    const bench_frame *f = &s->frames[i];
    Pdp__V1__Request *rq =
        f->len >= 4 ? pdp__v1__request__unpack(NULL, f->len - 4, f->bytes + 4) : NULL;
    if (!rq || rq->body_case != PDP__V1__REQUEST__BODY_CHECK) {
      snprintf(err, cap, "checks[%zu]: the encoded check does not decode", i);
      ok = false;
    } else {
      Pdp__V1__EntityUid *principal = rq->check->principal;
      char *empty = rq->check->token; /* protobuf-c's default "" or a string it owns */
      rq->check->principal = NULL;
      rq->check->token = tokens[i % n];
      size_t len = pdp__v1__request__get_packed_size(rq);
      if (len > UINT32_MAX - 4 || !(out[i].bytes = malloc(4 + len))) {
        snprintf(err, cap, "checks[%zu]: out of memory", i);
        ok = false;
      } else {
        out[i].bytes[0] = (uint8_t)(len >> 24);
        out[i].bytes[1] = (uint8_t)(len >> 16);
        out[i].bytes[2] = (uint8_t)(len >> 8);
        out[i].bytes[3] = (uint8_t)len;
        pdp__v1__request__pack(rq, out[i].bytes + 4);
        out[i].len = 4 + len;
        out[i].expect_allow = -1;
        out[i].n_checks = 1;
      }
      rq->check->principal = principal; /* give back what the unpack owns */
      rq->check->token = empty;
    }
    if (rq) pdp__v1__request__free_unpacked(rq, NULL);
  }
  if (!ok) {
    free_frames(out, s->n);
    return false;
  }
  free_frames(s->frames, s->n);
  s->frames = out;
  return true;
}

/* ---- ListAllowed scenarios ---- */

/* The expected ids of item `path`'s "allowed" joined with '\n' after each, into a new string. */
static char *expected_list(const json_t *allowed, const char *path, char *err, size_t cap) {
  if (!json_is_array(allowed)) {
    snprintf(err, cap, "%s.allowed: expected an array of action ids", path);
    return NULL;
  }
  size_t total = 1, i;
  const json_t *v;
  json_array_foreach(allowed, i, v) {
    if (!json_is_string(v) || strchr(json_string_value(v), '\n')) {
      snprintf(err, cap, "%s.allowed[%zu]: expected an action id (a string without newlines)", path,
               i);
      return NULL;
    }
    total += json_string_length(v) + 1;
  }
  char *out = malloc(total), *w = out;
  if (!out) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  json_array_foreach(allowed, i, v) {
    size_t n = json_string_length(v);
    memcpy(w, json_string_value(v), n);
    w += n;
    *w++ = '\n';
  }
  *w = '\0';
  return out;
}

static bool load_list_item(const json_t *item, const char *path, size_t idx, bench_frame *f,
                           char *err, size_t cap) {
  static const char *const known[] = {"name",     "principal", "resource", "context",
                                      "entities", "prefix",    "allowed"};
  if (!json_is_object(item)) {
    snprintf(err, cap, "%s: expected an object", path);
    return false;
  }
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)item, key, v) {
    bool ok = false;
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) ok |= strcmp(key, known[k]) == 0;
    if (!ok) {
      snprintf(err, cap, "%s: unknown field \"%s\"", path, key);
      return false;
    }
  }
  const json_t *prefix = json_object_get(item, "prefix");
  if (prefix && !json_is_string(prefix)) {
    snprintf(err, cap, "%s.prefix: expected a string", path);
    return false;
  }
  char sub[128];
  ctl_uid principal = {0}, resource = {0};
  pdpc_value *context = NULL;
  ctl_entities ents = {0};
  bool ok = false;
  snprintf(sub, sizeof(sub), "%s.principal", path);
  if (!ctl_uid_from_json(json_object_get(item, "principal"), sub, &principal, err, cap)) goto out;
  snprintf(sub, sizeof(sub), "%s.resource", path);
  if (!ctl_uid_from_json(json_object_get(item, "resource"), sub, &resource, err, cap)) goto out;
  snprintf(sub, sizeof(sub), "%s.context", path);
  if (!ctl_context_from_json(json_object_get(item, "context"), sub, &context, err, cap)) goto out;
  const json_t *ej = json_object_get(item, "entities");
  snprintf(sub, sizeof(sub), "%s.entities", path);
  if (ej && !ctl_entities_from_json(ej, sub, &ents, err, cap)) goto out;
  if (!(f->expect_list = expected_list(json_object_get(item, "allowed"), path, err, cap))) goto out;
  pdpc_list_req req = {
      .principal = ctl_uid_view(&principal),
      .resource = ctl_uid_view(&resource),
      .context = context,
      .entities = (const pdpc_entity *const *)ents.items,
      .n_entities = ents.n,
      .action_prefix = prefix ? json_string_value(prefix) : NULL,
  };
  pdpc_error perr;
  if (pdpc_encode_list_allowed(&req, (uint64_t)idx + 1, &f->bytes, &f->len, &perr) != 0) {
    snprintf(err, cap, "%s: cannot encode: %s", path, perr.message);
    goto out;
  }
  f->expect_allow = -1;
  f->n_checks = 1;
  ok = true;
out:
  ctl_uid_close(&principal);
  ctl_uid_close(&resource);
  pdpc_value_free(context);
  ctl_entities_close(&ents);
  return ok;
}

bool bench_scenario_load_lists(const char *dir, bench_scenario *out, char *err, size_t cap) {
  memset(out, 0, sizeof(*out));
  snprintf(out->name, sizeof(out->name), "%s (ListAllowed)", dir);
  out->lists = true;
  char file[4096], jerr[512];
  snprintf(file, sizeof(file), "%s/list-allowed.json", dir);
  json_t *root = ctl_json_load_file(file, jerr, sizeof(jerr));
  if (!root) {
    snprintf(err, cap, "%s", jerr);
    return false;
  }
  const json_t *lists = json_object_get(root, "lists");
  if (!json_is_array(lists) || json_array_size(lists) == 0) {
    snprintf(err, cap, "%s: expected {\"lists\": [...]} with at least one item", file);
    json_decref(root);
    return false;
  }
  size_t n = json_array_size(lists);
  out->frames = calloc(n, sizeof(bench_frame));
  if (!out->frames) {
    snprintf(err, cap, "out of memory");
    json_decref(root);
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) {
    char path[64], why[400];
    snprintf(path, sizeof(path), "lists[%zu]", i);
    out->n++; /* the frame is owned (and freed on failure) from here on */
    if (!load_list_item(json_array_get(lists, i), path, i, &out->frames[i], why, sizeof(why))) {
      snprintf(err, cap, "%s: %s", file, why);
      ok = false;
    }
  }
  json_decref(root);
  if (!ok) bench_scenario_close(out);
  return ok;
}

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
 */
#include "bench.h"

#include "../../pdp/cli/pdpctl.h"
#include "pdp.pb-c.h"

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
  }
  free(s->frames);
  s->frames = NULL;
  s->n = 0;
  s->batch = 0;
}

static void free_frames(bench_frame *fs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(fs[i].bytes);
    free(fs[i].expects);
  }
  free(fs);
}

bool bench_scenario_batch(bench_scenario *s, size_t k, char *err, size_t cap) {
  if (k == 0 || s->n == 0 || s->batch) {
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

/* scenario.c - a request mix for pdp-bench: a bundle's checks.json, pre-encoded.
 *
 * The file is read by the same loader `pdpctl test` uses (pdp/cli/checks.c), so any
 * checks.json users write for their policy tests is a valid benchmark scenario.  Each check
 * is encoded once as a whole frame with id = its index + 1; pdp-bench replays the frames
 * and, for the first pass, checks each answer against the expected decision.
 */
#include "bench.h"

#include "../../pdp/cli/pdpctl.h"

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
    out->n++;
  }
  ctl_checks_close(&checks);
  if (!ok) bench_scenario_close(out);
  return ok;
}

void bench_scenario_close(bench_scenario *s) {
  for (size_t i = 0; i < s->n; i++) free(s->frames[i].bytes);
  free(s->frames);
  s->frames = NULL;
  s->n = 0;
}

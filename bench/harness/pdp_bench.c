/* pdp_bench.c - pdp-bench, the load generator: how fast does pdpd answer, and how close is
 * that to the physical limit of the socket on this machine?
 *
 * N connections (one thread each, blocking I/O) keep D requests in flight each: they send
 * D frames, then for every answer read send one more, writing all new frames of one read
 * with one write().  Latency is measured per request from just before its write to the
 * read that completed its answer.  Requests cycle through the scenario's pre-encoded frames
 * (a checks.json).  The first pass of answers on each connection is decoded and checked
 * (status OK, expected decision) so a fast wrong answer cannot pass for a good figure;
 * later answers are only framed, like the echo server's.
 *
 * --compare-echo runs the identical load (same N, D, frames) against pdp-echo, a minimal
 * server speaking the same framing, and prints every pdpd figure with its ratio to echo.
 *
 * --rounds R alternates the two: R rounds of pdpd then echo, each a 1/R share of the duration
 * (or of --requests), merged into one histogram per side, so a change of machine load
 * during the run falls on both sides alike instead of skewing the ratio.
 *
 * --batch K sends K consecutive checks of the scenario per BatchCheck request instead of
 * one Check each: latency is then per batch, throughput is reported both as requests/s and
 * as checks/s (K times that), and verification checks every item of the first pass.
 *
 * --token-file FILE sends the tokens of FILE (one per line, cycled over the checks) in place
 * of the scenario's principals, to a pdpd started with --jwt-config: the same checks with a
 * principal uid and with a (cached) token differ by what a token costs.  The first pass then
 * verifies that every answer is OK, not the decisions (the token's principal is not the
 * scenario's).
 *
 * --list-allowed sends the scenario's list-allowed.json as ListAllowed requests instead (one
 * per frame); verification compares each answer's actions with the expected list.
 *
 * --verify-all decodes and verifies every answer, not only the first pass (the cost falls
 * on the client): used while the server swaps snapshots under load (bench/grants/daemon.sh).
 */
#include "bench.h"

#include "../../clients/c/pdpc.h"
#include "pdp.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_opts {
  const char *socket;
  const char *scenario;
  const char *json_out;
  const char *echo_bin;
  const char *token_file; /* tokens in place of principals, one per line */
  int connections;
  int depth;
  double duration_s; /* measured phase, when requests == 0 */
  double warmup_s;
  uint64_t requests; /* total across connections; 0 = run for duration_s */
  size_t batch;      /* checks per BatchCheck request; 0 = one Check per request */
  int rounds;        /* alternations of pdpd and echo (--compare-echo); 1 = one run each */
  bool compare_echo;
  bool list_allowed; /* the scenario's list-allowed.json as ListAllowed requests */
  bool verify_all;   /* verify every answer, not only the first pass */
} bench_opts;

typedef struct bench_result {
  bench_hist hist;
  uint64_t answers;
  uint64_t verified;   /* checks decoded and verified (K per answer with --batch K) */
  uint64_t bad;        /* checks with a non-OK status or an unexpected decision */
  double seconds;      /* measured phase */
  char first_bad[256]; /* what the first bad answer was */
  long rss_rest_kb, rss_load_kb, rss_private_kb; /* pdpd's memory (pdpd runs only) */
} bench_result;

typedef struct worker {
  pthread_t thread;
  const bench_opts *o;
  const bench_scenario *sc;
  bool verify;    /* decode the first pass of answers */
  uint64_t quota; /* answers to measure (requests mode) */
  bench_result r; /* this connection's share */
  char err[256];
  volatile int *stop; /* set by the main thread at the end of the duration */
  volatile int *measuring;
  int fd;
} worker;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int connect_unix(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) return -1;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

static void check_answer(worker *w, const uint8_t *body, uint32_t len, size_t frame_idx) {
  pdpc_result res;
  pdpc_result_init(&res);
  /* Ids were encoded as frame index + 1 (see scenario.c). */
  int rc = pdpc_decode_check(body, len, frame_idx + 1, &res);
  const bench_frame *f = &w->sc->frames[frame_idx];
  bool ok = rc == 0 && res.status == 1 /* OK */ &&
            (f->expect_allow < 0 || (f->expect_allow == 1) == pdpc_result_allowed(&res));
  w->r.verified++;
  if (!ok) {
    if (w->r.bad == 0)
      snprintf(w->r.first_bad, sizeof(w->r.first_bad), "check %zu: status %s (%s), %s", frame_idx,
               pdpc_status_name(res.status), res.message ? res.message : "",
               pdpc_result_allowed(&res) ? "allow" : "deny");
    w->r.bad++;
  }
  pdpc_result_close(&res);
}

/* A BatchCheck answer: the id, the batch status, one OK item per check, each decision as
 * expected.  Every check of the batch counts as verified; each wrong one as bad. */
static void check_batch_answer(worker *w, const uint8_t *body, uint32_t len, size_t frame_idx) {
  const bench_frame *f = &w->sc->frames[frame_idx];
  Pdp__V1__Response *resp = pdp__v1__response__unpack(NULL, len, body);
  char why[200] = "";
  size_t bad = 0;
  if (!resp)
    snprintf(why, sizeof(why), "batch %zu: the answer does not decode", frame_idx);
  else if (resp->id != (uint64_t)frame_idx + 1)
    snprintf(why, sizeof(why), "batch %zu: answer id %llu", frame_idx,
             (unsigned long long)resp->id);
  else if (!resp->status || resp->status->code != PDP__V1__STATUS__CODE__OK)
    snprintf(why, sizeof(why), "batch %zu: status %s (%s)", frame_idx,
             pdpc_status_name(resp->status ? (int)resp->status->code : 0),
             resp->status && resp->status->message ? resp->status->message : "");
  else if (resp->body_case != PDP__V1__RESPONSE__BODY_BATCH_CHECK ||
           resp->batch_check->n_results != f->n_checks)
    snprintf(why, sizeof(why), "batch %zu: not a batch answer of %zu results", frame_idx,
             f->n_checks);
  if (why[0]) {
    bad = f->n_checks;
  } else {
    for (size_t j = 0; j < f->n_checks; j++) {
      const Pdp__V1__BatchCheckItem *it = resp->batch_check->results[j];
      bool ok = it->status && it->status->code == PDP__V1__STATUS__CODE__OK && it->check;
      bool allow = ok && it->check->decision == PDP__V1__DECISION__ALLOW;
      if (ok && f->expects[j] >= 0) ok = (f->expects[j] == 1) == allow;
      if (!ok) {
        if (!why[0])
          snprintf(why, sizeof(why), "batch %zu item %zu: status %s (%s), %s", frame_idx, j,
                   pdpc_status_name(it->status ? (int)it->status->code : 0),
                   it->status && it->status->message ? it->status->message : "",
                   allow ? "allow" : "deny");
        bad++;
      }
    }
  }
  if (bad && w->r.bad == 0) snprintf(w->r.first_bad, sizeof(w->r.first_bad), "%s", why);
  w->r.verified += f->n_checks;
  w->r.bad += bad;
  if (resp) pdp__v1__response__free_unpacked(resp, NULL);
}

/* A ListAllowed answer: the id, status OK, exactly the expected actions in order. */
static void check_list_answer(worker *w, const uint8_t *body, uint32_t len, size_t frame_idx) {
  const bench_frame *f = &w->sc->frames[frame_idx];
  pdpc_list_result res;
  pdpc_list_result_init(&res);
  int rc = pdpc_decode_list_allowed(body, len, frame_idx + 1, &res);
  const char *want = f->expect_list ? f->expect_list : "";
  bool ok = rc == 0 && res.status == 1 /* OK */;
  size_t at = 0;
  for (size_t i = 0; ok && i < res.n_actions; i++) {
    const pdpc_uid *u = &res.actions[i];
    size_t idl = strlen(u->id);
    ok = strcmp(u->type, "Action") == 0 && strncmp(want + at, u->id, idl) == 0 &&
         want[at + idl] == '\n';
    at += idl + 1;
  }
  ok = ok && want[at] == '\0';
  w->r.verified++;
  if (!ok) {
    if (w->r.bad == 0)
      snprintf(w->r.first_bad, sizeof(w->r.first_bad), "list %zu: status %s (%s), %zu actions%s",
               frame_idx, pdpc_status_name(res.status), res.message ? res.message : "",
               res.n_actions, res.status == 1 ? " (not the expected ones)" : "");
    w->r.bad++;
  }
  pdpc_list_result_close(&res);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  const bench_opts *o = w->o;
  const bench_scenario *sc = w->sc;
  int depth = o->depth;
  uint64_t *sent_at = calloc((size_t)depth, sizeof(uint64_t)); /* ring of send times */
  size_t *sent_idx = calloc((size_t)depth, sizeof(size_t));    /* ring of frame indexes */
  size_t cap = (1u << 20) + 4 + 65536, have = 0; /* any answer up to pdpd's max frame */
  size_t biggest = 0;
  for (size_t i = 0; i < sc->n; i++)
    if (sc->frames[i].len > biggest) biggest = sc->frames[i].len;
  size_t out_cap = (size_t)depth * biggest;
  uint8_t *in = malloc(cap);
  uint8_t *out = malloc(out_cap);
  if (!sent_at || !sent_idx || !in || !out) {
    snprintf(w->err, sizeof(w->err), "out of memory");
    goto done;
  }
  size_t next = 0, head = 0, inflight = 0;
  uint64_t measured = 0, answered = 0;
  uint64_t t_start = 0;
  bool counting = false;
  for (;;) {
    /* Fill the pipeline. */
    size_t olen = 0;
    uint64_t t = now_ns();
    while (inflight < (size_t)depth && !*w->stop &&
           (o->requests == 0 || measured + inflight < w->quota)) {
      const bench_frame *f = &sc->frames[next];
      if (olen + f->len > out_cap) break;
      memcpy(out + olen, f->bytes, f->len);
      olen += f->len;
      size_t slot = (head + inflight) % (size_t)depth;
      sent_at[slot] = t;
      sent_idx[slot] = next;
      next = (next + 1) % sc->n;
      inflight++;
    }
    if (olen && !write_all(w->fd, out, olen)) {
      snprintf(w->err, sizeof(w->err), "write: %s", strerror(errno));
      break;
    }
    if (inflight == 0) break;
    /* Read whatever has arrived; account for every complete answer. */
    ssize_t r = read(w->fd, in + have, cap - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      snprintf(w->err, sizeof(w->err), "read: %s", r == 0 ? "server closed" : strerror(errno));
      break;
    }
    uint64_t t_read = now_ns();
    have += (size_t)r;
    if (!counting && *w->measuring) {
      counting = true;
      t_start = t_read;
    }
    size_t off = 0;
    while (have - off >= 4) {
      const uint8_t *p = in + off;
      uint32_t len = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
      if (len > cap - 4) {
        snprintf(w->err, sizeof(w->err), "answer of %u bytes is too large", len);
        goto done;
      }
      if (have - off < 4 + (size_t)len) break;
      size_t slot = head;
      if (w->verify && (answered < sc->n || o->verify_all)) {
        if (sc->lists)
          check_list_answer(w, p + 4, len, sent_idx[slot]);
        else if (sc->batch)
          check_batch_answer(w, p + 4, len, sent_idx[slot]);
        else
          check_answer(w, p + 4, len, sent_idx[slot]);
      }
      answered++;
      if (counting) {
        bench_hist_add(&w->r.hist, t_read - sent_at[slot]);
        measured++;
      }
      head = (head + 1) % (size_t)depth;
      inflight--;
      off += 4 + (size_t)len;
    }
    memmove(in, in + off, have - off);
    have -= off;
    if (o->requests && measured >= w->quota && inflight == 0) break;
  }
  w->r.answers = measured;
  w->r.seconds = counting ? (double)(now_ns() - t_start) / 1e9 : 0;
done:
  free(sent_at);
  free(sent_idx);
  free(in);
  free(out);
  return NULL;
}

/* pdpd's resident memory from /proc (kB); private = Private_Clean + Private_Dirty. */
static void read_rss(pid_t pid, long *rss, long *priv) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
  FILE *f = fopen(path, "r");
  *rss = *priv = -1;
  if (!f) return;
  long pc = 0, pd = 0;
  while (fgets(line, sizeof(line), f)) {
    sscanf(line, "Rss: %ld", rss);
    sscanf(line, "Private_Clean: %ld", &pc);
    sscanf(line, "Private_Dirty: %ld", &pd);
  }
  *priv = pc + pd;
  fclose(f);
}

static pid_t peer_pid(int fd) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return cred.pid;
}

/* Run the load against `path`; false with a message when it could not run. */
static bool run_load(const bench_opts *o, const bench_scenario *sc, const char *path, bool verify,
                     bench_result *out, char *err, size_t cap) {
  memset(out, 0, sizeof(*out));
  int n = o->connections;
  worker *ws = calloc((size_t)n, sizeof(worker));
  if (!ws) {
    snprintf(err, cap, "out of memory");
    return false;
  }
  volatile int stop = 0, measuring = o->warmup_s <= 0 || o->requests > 0;
  pid_t pid = -1;
  bool ok = true;
  for (int i = 0; i < n; i++) {
    ws[i].fd = connect_unix(path);
    if (ws[i].fd < 0) {
      snprintf(err, cap, "cannot connect to %s: %s", path, strerror(errno));
      for (int k = 0; k < i; k++) close(ws[k].fd);
      free(ws);
      return false;
    }
    if (i == 0) pid = peer_pid(ws[0].fd);
  }
  if (verify && pid > 0) {
    long priv;
    read_rss(pid, &out->rss_rest_kb, &priv);
  }
  for (int i = 0; i < n; i++) {
    ws[i].o = o;
    ws[i].sc = sc;
    ws[i].verify = verify;
    ws[i].quota = o->requests / (uint64_t)n + ((uint64_t)i < o->requests % (uint64_t)n);
    ws[i].stop = &stop;
    ws[i].measuring = &measuring;
    pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
  }
  if (o->requests == 0) {
    if (o->warmup_s > 0) {
      usleep((useconds_t)(o->warmup_s * 1e6));
      measuring = 1;
    }
    usleep((useconds_t)(o->duration_s * 1e6));
    if (verify && pid > 0) read_rss(pid, &out->rss_load_kb, &out->rss_private_kb);
    stop = 1;
  }
  double secs = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(ws[i].thread, NULL);
    if (ws[i].err[0] && ok) {
      snprintf(err, cap, "connection %d: %s", i, ws[i].err);
      ok = false;
    }
    bench_hist_merge(&out->hist, &ws[i].r.hist);
    out->answers += ws[i].r.answers;
    out->verified += ws[i].r.verified;
    if (ws[i].r.bad && !out->bad) memcpy(out->first_bad, ws[i].r.first_bad, sizeof(out->first_bad));
    out->bad += ws[i].r.bad;
    if (ws[i].r.seconds > secs) secs = ws[i].r.seconds;
    close(ws[i].fd);
  }
  if (o->requests && verify && pid > 0) read_rss(pid, &out->rss_load_kb, &out->rss_private_kb);
  out->seconds = secs;
  free(ws);
  return ok;
}

/* Add one round's result into the run's (first: copy it). */
static void merge_result(bench_result *into, const bench_result *r, bool first) {
  if (first) {
    *into = *r;
    return;
  }
  bench_hist_merge(&into->hist, &r->hist);
  into->answers += r->answers;
  into->verified += r->verified;
  if (r->bad && !into->bad) memcpy(into->first_bad, r->first_bad, sizeof(into->first_bad));
  into->bad += r->bad;
  into->seconds += r->seconds;
  if (r->rss_load_kb > into->rss_load_kb) {
    into->rss_load_kb = r->rss_load_kb;
    into->rss_private_kb = r->rss_private_kb;
  }
}

static const char usage[] =
    "usage: pdp-bench [options]\n"
    "\n"
    "Load a running pdpd with checks and report throughput and latency.\n"
    "\n"
    "  --socket PATH        pdpd's socket (default ./var/pdpd.sock)\n"
    "  --scenario DIR       request mix: DIR/checks.json (default examples/quickstart)\n"
    "  --connections N      concurrent connections, one thread each (default 1)\n"
    "  --depth D            requests in flight per connection (default 1: ping-pong)\n"
    "  --duration SECONDS   length of the measured phase (default 5)\n"
    "  --warmup SECONDS     unmeasured phase before it (default 1)\n"
    "  --requests COUNT     measure exactly COUNT answers instead of a duration\n"
    "  --rounds R           with --compare-echo: alternate pdpd and echo R times, each\n"
    "                       round a 1/R share of the duration or requests (default 1)\n"
    "  --batch K            send K checks per BatchCheck request (latency per batch;\n"
    "                       throughput as requests/s and checks/s)\n"
    "  --token-file FILE    send the tokens of FILE (one per line, cycled) in place of\n"
    "                       the principals (pdpd needs --jwt-config; answers are verified\n"
    "                       to be OK, decisions are not)\n"
    "  --list-allowed       send DIR/list-allowed.json as ListAllowed requests instead\n"
    "                       (each answer's actions verified against the expected list)\n"
    "  --verify-all         decode and verify every answer, not only the first pass\n"
    "  --compare-echo       run the identical load against pdp-echo too, print ratios\n"
    "  --echo-bin PATH      pdp-echo to start (default: next to pdp-bench)\n"
    "  --json FILE          also write the results as JSON\n"
    "\n"
    "Latency percentiles come from a histogram with at most 0.4% relative error.\n";

static double us(uint64_t ns) {
  return (double)ns / 1000.0;
}

typedef struct row {
  const char *name;
  double pdpd, echo;
  bool lower_is_better;
} row;

static void fill_rows(const bench_result *p, const bench_result *e, row rows[7]) {
  double tp = p->seconds > 0 ? (double)p->answers / p->seconds : 0;
  double te = e && e->seconds > 0 ? (double)e->answers / e->seconds : 0;
  const double qs[5] = {0.5, 0.9, 0.99, 0.999, 1.0};
  const char *names[5] = {"p50 (us)", "p90 (us)", "p99 (us)", "p99.9 (us)", "max (us)"};
  rows[0] = (row){"throughput (req/s)", tp, te, false};
  for (int i = 0; i < 5; i++) {
    double a = qs[i] < 1.0 ? us(bench_hist_quantile(&p->hist, qs[i])) : us(p->hist.max);
    double b = e ? (qs[i] < 1.0 ? us(bench_hist_quantile(&e->hist, qs[i])) : us(e->hist.max)) : 0;
    rows[1 + i] = (row){names[i], a, b, true};
  }
  rows[6] = (row){"answers", (double)p->answers, e ? (double)e->answers : 0, false};
}

static size_t per_request(const bench_scenario *sc) {
  return sc->batch ? sc->batch : 1;
}

static void print_table(const bench_opts *o, const bench_scenario *sc, const bench_result *p,
                        const bench_result *e) {
  row rows[7];
  fill_rows(p, e, rows);
  printf("\n## pdp-bench: %s, %d connection(s), depth %d", sc->name, o->connections, o->depth);
  if (sc->batch) printf(", %zu checks per BatchCheck request", sc->batch);
  if (o->token_file) printf(", tokens of %s in place of principals", o->token_file);
  if (e && o->rounds > 1) printf(", %d rounds alternating with echo", o->rounds);
  printf("\n\n");
  if (e) {
    printf("| metric | pdpd | echo | pdpd / echo |\n|---|---:|---:|---:|\n");
    for (int i = 0; i < 7; i++)
      printf("| %s | %.1f | %.1f | %.2f |\n", rows[i].name, rows[i].pdpd, rows[i].echo,
             rows[i].echo > 0 ? rows[i].pdpd / rows[i].echo : 0);
    if (sc->batch)
      printf("| throughput (checks/s) | %.1f | %.1f | %.2f |\n", rows[0].pdpd * (double)sc->batch,
             rows[0].echo * (double)sc->batch, rows[0].echo > 0 ? rows[0].pdpd / rows[0].echo : 0);
  } else {
    printf("| metric | pdpd |\n|---|---:|\n");
    for (int i = 0; i < 7; i++) printf("| %s | %.1f |\n", rows[i].name, rows[i].pdpd);
    if (sc->batch) printf("| throughput (checks/s) | %.1f |\n", rows[0].pdpd * (double)sc->batch);
  }
  printf("\nverified %s: %llu, wrong: %llu%s%s\n", sc->batch ? "checks" : "answers",
         (unsigned long long)p->verified, (unsigned long long)p->bad, p->bad ? " -- first: " : "",
         p->bad ? p->first_bad : "");
  if (p->rss_rest_kb >= 0 && p->rss_load_kb > 0)
    printf("pdpd memory: RSS %ld kB at rest, %ld kB under load (%ld kB private, %ld kB shared)\n",
           p->rss_rest_kb, p->rss_load_kb, p->rss_private_kb, p->rss_load_kb - p->rss_private_kb);
  if (e)
    printf("\nratio p50=%.2f p99=%.2f throughput=%.2f\n",
           rows[1].echo > 0 ? rows[1].pdpd / rows[1].echo : 0,
           rows[3].echo > 0 ? rows[3].pdpd / rows[3].echo : 0,
           rows[0].echo > 0 ? rows[0].pdpd / rows[0].echo : 0);
}

static bool write_json(const char *file, const bench_opts *o, const bench_scenario *sc,
                       const bench_result *p, const bench_result *e) {
  FILE *f = fopen(file, "w");
  if (!f) return false;
  row rows[7];
  fill_rows(p, e, rows);
  const char *keys[7] = {"throughput_rps", "p50_us", "p90_us", "p99_us",
                         "p999_us",        "max_us", "answers"};
  fputs("{\n  \"scenario\": \"", f);
  for (const char *c = sc->name; *c; c++) /* a path: escape what JSON must */
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if ((unsigned char)*c < 0x20)
      fprintf(f, "\\u%04x", (unsigned)(unsigned char)*c);
    else
      fputc(*c, f);
  fprintf(f, "\",\n  \"connections\": %d,\n  \"depth\": %d,\n", o->connections, o->depth);
  fprintf(f, "  \"tokens\": %s,\n", o->token_file ? "true" : "false");
  fprintf(f, "  \"batch\": %zu,\n  \"checks_per_request\": %zu,\n  \"rounds\": %d,\n", sc->batch,
          per_request(sc), o->compare_echo ? o->rounds : 1);
  fprintf(f, "  \"verified\": %llu,\n  \"wrong\": %llu,\n", (unsigned long long)p->verified,
          (unsigned long long)p->bad);
  fprintf(f,
          "  \"rss_rest_kb\": %ld,\n  \"rss_load_kb\": %ld,\n  \"rss_private_kb\": %ld,\n"
          "  \"rss_shared_kb\": %ld,\n",
          p->rss_rest_kb, p->rss_load_kb, p->rss_private_kb, p->rss_load_kb - p->rss_private_kb);
  for (int side = 0; side < (e ? 2 : 1); side++) {
    fprintf(f, "  \"%s\": {", side == 0 ? "pdpd" : "echo");
    for (int i = 0; i < 7; i++)
      fprintf(f, "%s\"%s\": %.3f", i ? ", " : "", keys[i], side == 0 ? rows[i].pdpd : rows[i].echo);
    fprintf(f, ", \"throughput_cps\": %.3f",
            (side == 0 ? rows[0].pdpd : rows[0].echo) * (double)per_request(sc));
    fprintf(f, "}%s\n", side == 0 && e ? "," : "");
  }
  fprintf(f, "}\n");
  return fclose(f) == 0;
}

/* Start pdp-echo on a temp socket; returns its pid (or -1) and fills path. */
static pid_t start_echo(const char *bin, char *path, size_t cap, char *err, size_t errcap) {
  char dir[] = "/tmp/pdp-echo-XXXXXX";
  if (!mkdtemp(dir)) {
    snprintf(err, errcap, "mkdtemp: %s", strerror(errno));
    return -1;
  }
  snprintf(path, cap, "%s/echo.sock", dir);
  pid_t pid = fork();
  if (pid == 0) {
    execl(bin, bin, path, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    int fd = connect_unix(path);
    if (fd >= 0) {
      close(fd);
      return pid;
    }
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  snprintf(err, errcap, "%s did not start serving %s", bin, path);
  return -1;
}

static void stop_echo(pid_t pid, const char *path) {
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  char dir[256];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    rmdir(dir);
  }
}

static bool parse_num(const char *opt, const char *arg, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end || v < lo || v > hi) {
    fprintf(stderr, "pdp-bench: --%s: expected a number in %g..%g, got '%s'\n", opt, lo, hi, arg);
    return false;
  }
  *out = v;
  return true;
}

/* The tokens of `file` (one per line, blank lines skipped) in place of sc's principals. */
static bool use_tokens(const char *file, bench_scenario *sc, char *err, size_t cap) {
  FILE *f = fopen(file, "r");
  if (!f) {
    snprintf(err, cap, "%s: %s", file, strerror(errno));
    return false;
  }
  char **tokens = NULL, *line = NULL;
  size_t n = 0, line_cap = 0;
  ssize_t len;
  bool ok = true;
  while (ok && (len = getline(&line, &line_cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
      line[--len] = '\0';
    if (len == 0) continue;
    char **grown = realloc(tokens, (n + 1) * sizeof(*tokens));
    if (!grown || !(grown[n] = strdup(line))) {
      if (grown) tokens = grown;
      snprintf(err, cap, "%s: out of memory", file);
      ok = false;
      break;
    }
    tokens = grown;
    n++;
  }
  free(line);
  fclose(f);
  if (ok && n == 0) {
    snprintf(err, cap, "%s: no token in it", file);
    ok = false;
  }
  if (ok) {
    char why[256];
    ok = bench_scenario_tokens(sc, tokens, n, why, sizeof(why));
    if (!ok) snprintf(err, cap, "%s: %s", file, why);
  }
  for (size_t i = 0; i < n; i++) free(tokens[i]);
  free(tokens);
  return ok;
}

int main(int argc, char **argv) {
  bench_opts o = {.socket = "./var/pdpd.sock",
                  .scenario = "examples/quickstart",
                  .connections = 1,
                  .depth = 1,
                  .duration_s = 5,
                  .warmup_s = 1,
                  .rounds = 1};
  static const struct option longs[] = {{"socket", required_argument, 0, 's'},
                                        {"scenario", required_argument, 0, 'S'},
                                        {"connections", required_argument, 0, 'c'},
                                        {"depth", required_argument, 0, 'd'},
                                        {"duration", required_argument, 0, 't'},
                                        {"warmup", required_argument, 0, 'w'},
                                        {"requests", required_argument, 0, 'n'},
                                        {"batch", required_argument, 0, 'b'},
                                        {"rounds", required_argument, 0, 'r'},
                                        {"compare-echo", no_argument, 0, 'e'},
                                        {"echo-bin", required_argument, 0, 'E'},
                                        {"json", required_argument, 0, 'j'},
                                        {"token-file", required_argument, 0, 'T'},
                                        {"list-allowed", no_argument, 0, 'L'},
                                        {"verify-all", no_argument, 0, 'V'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  int opt;
  double v;
  while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (opt) {
    case 's':
      o.socket = optarg;
      break;
    case 'S':
      o.scenario = optarg;
      break;
    case 'c':
      if (!parse_num("connections", optarg, 1, 1024, &v)) return 2;
      o.connections = (int)v;
      break;
    case 'd':
      if (!parse_num("depth", optarg, 1, 4096, &v)) return 2;
      o.depth = (int)v;
      break;
    case 't':
      if (!parse_num("duration", optarg, 0.1, 86400, &o.duration_s)) return 2;
      break;
    case 'w':
      if (!parse_num("warmup", optarg, 0, 3600, &o.warmup_s)) return 2;
      break;
    case 'n':
      if (!parse_num("requests", optarg, 1, 1e12, &v)) return 2;
      o.requests = (uint64_t)v;
      break;
    case 'b':
      if (!parse_num("batch", optarg, 1, 100000, &v)) return 2;
      o.batch = (size_t)v;
      break;
    case 'r':
      if (!parse_num("rounds", optarg, 1, 1000, &v)) return 2;
      o.rounds = (int)v;
      break;
    case 'e':
      o.compare_echo = true;
      break;
    case 'E':
      o.echo_bin = optarg;
      break;
    case 'j':
      o.json_out = optarg;
      break;
    case 'T':
      o.token_file = optarg;
      break;
    case 'L':
      o.list_allowed = true;
      break;
    case 'V':
      o.verify_all = true;
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    default:
      fputs(usage, stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pdp-bench: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (o.requests && o.requests < (uint64_t)o.connections) o.requests = (uint64_t)o.connections;
  signal(SIGPIPE, SIG_IGN);

  char err[512];
  bench_scenario sc;
  if (o.list_allowed && (o.batch || o.token_file)) {
    fprintf(stderr, "pdp-bench: --list-allowed combines with neither --batch nor --token-file\n");
    return 2;
  }
  if (o.list_allowed ? !bench_scenario_load_lists(o.scenario, &sc, err, sizeof(err))
                     : !bench_scenario_load(o.scenario, &sc, err, sizeof(err))) {
    fprintf(stderr, "pdp-bench: %s\n", err);
    return 2;
  }
  if (o.token_file && !use_tokens(o.token_file, &sc, err, sizeof(err))) {
    fprintf(stderr, "pdp-bench: --token-file %s\n", err);
    bench_scenario_close(&sc);
    return 2;
  }
  if (o.batch && !bench_scenario_batch(&sc, o.batch, err, sizeof(err))) {
    fprintf(stderr, "pdp-bench: %s: %s\n", o.scenario, err);
    bench_scenario_close(&sc);
    return 2;
  }
  static bench_result pdpd_r, echo_r, round_r; /* large (histograms): not on the stack */
  bool have_echo = false;
  pid_t echo_pid = -1;
  char echo_path[128] = "";
  if (o.compare_echo) {
    char bin[4096];
    if (o.echo_bin) {
      snprintf(bin, sizeof(bin), "%s", o.echo_bin);
    } else {
      ssize_t n = readlink("/proc/self/exe", bin, sizeof(bin) - 16);
      bin[n > 0 ? n : 0] = '\0';
      char *slash = strrchr(bin, '/');
      strcpy(slash ? slash + 1 : bin, "pdp-echo");
    }
    echo_pid = start_echo(bin, echo_path, sizeof(echo_path), err, sizeof(err));
    if (echo_pid < 0) {
      fprintf(stderr, "pdp-bench: echo: %s\n", err);
      bench_scenario_close(&sc);
      return 2;
    }
    have_echo = true;
  }
  int rounds = o.compare_echo ? o.rounds : 1;
  if (o.requests && (uint64_t)rounds * (uint64_t)o.connections > o.requests)
    rounds = (int)(o.requests / (uint64_t)o.connections);
  if (rounds < 1) rounds = 1;
  bool ok = true;
  const char *who = "pdpd";
  for (int r = 0; r < rounds && ok; r++) {
    bench_opts ro = o; /* this round's share */
    ro.duration_s = o.duration_s / rounds;
    if (r > 0 && ro.warmup_s > 0.2) ro.warmup_s = 0.2; /* the first round warmed both up */
    if (o.requests)
      ro.requests = o.requests / (uint64_t)rounds + ((uint64_t)r < o.requests % (uint64_t)rounds);
    for (int side = 0; side < (have_echo ? 2 : 1) && ok; side++) {
      who = side ? "echo" : "pdpd";
      ok = run_load(&ro, &sc, side ? echo_path : o.socket, side == 0, &round_r, err, sizeof(err));
      if (ok) merge_result(side ? &echo_r : &pdpd_r, &round_r, r == 0);
    }
  }
  if (echo_pid > 0) stop_echo(echo_pid, echo_path);
  if (!ok) {
    fprintf(stderr, "pdp-bench: %s: %s\n", who, err);
    bench_scenario_close(&sc);
    return 2;
  }
  print_table(&o, &sc, &pdpd_r, have_echo ? &echo_r : NULL);
  if (o.json_out && !write_json(o.json_out, &o, &sc, &pdpd_r, have_echo ? &echo_r : NULL)) {
    fprintf(stderr, "pdp-bench: cannot write %s\n", o.json_out);
    bench_scenario_close(&sc);
    return 2;
  }
  int rc = pdpd_r.bad ? 1 : 0;
  bench_scenario_close(&sc);
  return rc;
}

/* test_pdpctl_pipeline.c - the C client against a real pdpd: pipelining, batch, health,
 * and a clear error when nothing listens. */
#include "pdpctl_util.h"

static void up(void) {
  e2e_setup();
  e2e_write_bundle();
  e2e_start_daemon();
}

TestSuite(client_e2e, .init = up, .fini = e2e_teardown);

Test(client_e2e, thousand_pipelined_checks_come_back_in_order_with_their_answers) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 10000, &err);
  cr_assert_not_null(c, "%s", err.message);
  enum { N = 1000 };
  static uint64_t ids[N];
  for (int i = 0; i < N; i++) {
    /* alice owns d1, not d2: i % 3 == 0 allows. */
    pdpc_check_req r = {.principal = {"User", "alice"},
                        .action = {"Action", "view"},
                        .resource = {"Document", i % 3 == 0 ? "d1" : "d2"}};
    cr_assert_eq(pdpc_send_check(c, &r, &ids[i]), 0, "%s", pdpc_conn_error(c)->message);
  }
  pdpc_result res;
  pdpc_result_init(&res);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(pdpc_recv(c, &res), 0, "check %d: %s", i, pdpc_conn_error(c)->message);
    cr_assert_eq(res.id, ids[i]);
    cr_assert_eq(res.status, PDPC_STATUS_OK, "%s", res.message);
    cr_assert_eq(pdpc_result_allowed(&res), i % 3 == 0, "check %d", i);
    if (i % 3 == 0) {
      cr_assert_eq(res.n_reason, 1);
      cr_assert_str_eq(res.reason[0], "view-own");
    }
    cr_assert_eq(res.stamp_len, 32);
  }
  pdpc_result_close(&res);
  pdpc_close(c);
}

Test(client_e2e, batch_answers_each_check_like_a_single_check) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 5000, &err);
  cr_assert_not_null(c, "%s", err.message);
  pdpc_value *office = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(office, "net", pdpc_value_string("office")), 0);
  pdpc_check_req reqs[3] = {
      {.principal = {"User", "alice"},
       .action = {"Action", "view"},
       .resource = {"Document", "d1"}},
      {.principal = {"User", "alice"},
       .action = {"Action", "delete"},
       .resource = {"Document", "d1"}},
      {.principal = {"User", "bob"},
       .action = {"Action", "delete"},
       .resource = {"Document", "d1"},
       .context = office},
  };
  pdpc_result batch[3], single;
  pdpc_result_init(&single);
  for (int i = 0; i < 3; i++) pdpc_result_init(&batch[i]);
  cr_assert_eq(pdpc_batch_check(c, reqs, 3, NULL, 0, batch), 0, "%s", pdpc_conn_error(c)->message);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(pdpc_check(c, &reqs[i], &single), 0);
    cr_assert_eq(batch[i].status, PDPC_STATUS_OK, "%s", batch[i].message);
    cr_assert_eq(pdpc_result_allowed(&batch[i]), pdpc_result_allowed(&single), "check %d", i);
  }
  cr_assert(pdpc_result_allowed(&batch[0]));
  cr_assert_not(pdpc_result_allowed(&batch[1]));
  cr_assert(pdpc_result_allowed(&batch[2]));
  for (int i = 0; i < 3; i++) pdpc_result_close(&batch[i]);
  pdpc_result_close(&single);
  pdpc_value_free(office);
  pdpc_close(c);
}

Test(client_e2e, health_says_serving_and_unknown_principal_is_denied) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 5000, &err);
  cr_assert_not_null(c, "%s", err.message);
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(c, &h), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(h.state, PDPC_HEALTH_SERVING);
  cr_assert_eq(h.stamp_len, 32);
  pdpc_check_req r = {.principal = {"User", "mallory"},
                      .action = {"Action", "view"},
                      .resource = {"Document", "d1"}};
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(c, &r, &res), 0);
  cr_assert_not(pdpc_result_allowed(&res));
  cr_assert_eq(res.status, PDPC_STATUS_OK);
  cr_assert_eq(memcmp(res.stamp, h.stamp, 32), 0, "the same snapshot decided");
  pdpc_result_close(&res);
  pdpc_close(c);
}

/* A context {"a": [[...[1]...]]} holding `sets` nested sets. */
static pdpc_value *nested_context(int sets) {
  pdpc_value *inner = pdpc_value_long(1);
  for (int i = 0; i < sets; i++) {
    pdpc_value *s = pdpc_value_set();
    cr_assert_eq(pdpc_set_add(s, inner), 0);
    inner = s;
  }
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "a", inner), 0);
  return ctx;
}

static char *nested_json(int sets) {
  char *t = malloc((size_t)sets * 2 + 32);
  strcpy(t, "{\"a\": ");
  for (int i = 0; i < sets; i++) strcat(t, "[");
  strcat(t, "1");
  for (int i = 0; i < sets; i++) strcat(t, "]");
  strcat(t, "}");
  return t;
}

/* The context record is level 1, so 31 nested sets reach the limit of 32 and 32 pass it:
 * the client, pdpctl and pdpd must all draw the line at the same place. */
Test(client_e2e, client_pdpctl_and_pdpd_agree_on_the_value_depth_limit) {
  cr_assert_eq(PDPC_MAX_VALUE_DEPTH, 32);
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 5000, &err);
  cr_assert_not_null(c, "%s", err.message);
  pdpc_value *ok = nested_context(PDPC_MAX_VALUE_DEPTH - 1),
             *deep = nested_context(PDPC_MAX_VALUE_DEPTH);
  pdpc_check_req req = {.principal = {"User", "alice"},
                        .action = {"Action", "view"},
                        .resource = {"Document", "d1"},
                        .context = ok};
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(c, &req, &res), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(res.status, PDPC_STATUS_OK, "pdpd accepts depth 32: %s", res.message);
  cr_assert(pdpc_result_allowed(&res));
  req.context = deep;
  uint8_t *frame = NULL;
  size_t len = 0;
  cr_assert_eq(pdpc_encode_check(&req, 7, &frame, &len), PDPC_E_INVAL,
               "the client refuses depth 33");
  cr_assert_eq(pdpc_check(c, &req, &res), PDPC_E_INVAL);
  cr_assert_not_null(strstr(res.message, "deeper than 32"), "%s", res.message);
  pdpc_result_close(&res);
  pdpc_close(c);

  /* pdpd refuses depth 33 too: wrap the accepted context's set in one more set by hand. */
  req.context = ok;
  cr_assert_eq(pdpc_encode_check(&req, 8, &frame, &len), 0);
  Pdp__V1__Request *rq = pdp__v1__request__unpack(NULL, len - 4, frame + 4);
  free(frame);
  cr_assert_not_null(rq);
  Pdp__V1__Attribute *a = rq->check->context->fields[0];
  Pdp__V1__Value *outer = a->value, wrap = PDP__V1__VALUE__INIT;
  Pdp__V1__ValueSet set = PDP__V1__VALUE_SET__INIT;
  set.n_items = 1;
  set.items = &outer;
  wrap.kind_case = PDP__V1__VALUE__KIND_SET;
  wrap.set = &set;
  int fd = du_connect(e2e_daemon.sock);
  cr_assert_geq(fd, 0);
  cr_assert(du_send(fd, rq), "depth 32 by hand");
  Pdp__V1__Response *r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__OK, "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  a->value = &wrap;
  rq->id = 9;
  cr_assert(du_send(fd, rq), "depth 33 by hand");
  a->value = outer;
  r = du_recv(fd);
  cr_assert_not_null(r);
  cr_assert_eq(r->id, 9);
  cr_assert_eq(r->status->code, PDP__V1__STATUS__CODE__BAD_REQUEST, "%s", r->status->message);
  cr_assert_not_null(strstr(r->status->message, "max-value-depth 32"), "%s", r->status->message);
  pdp__v1__response__free_unpacked(r, NULL);
  close(fd);
  pdp__v1__request__free_unpacked(rq, NULL);
  pdpc_value_free(ok);
  pdpc_value_free(deep);

  /* pdpctl: the same two contexts as JSON. */
  char *j = nested_json(PDPC_MAX_VALUE_DEPTH - 1);
  e2e_run run = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a",
                           "Action::\"view\"", "-r", "Document::\"d1\"", "--context", j, NULL);
  free(j);
  cr_assert_eq(run.code, 0, "stdout: %s\nstderr: %s", run.out, run.err);
  e2e_run_free(&run);
  j = nested_json(PDPC_MAX_VALUE_DEPTH);
  run = e2e_pdpctl("check", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-a",
                   "Action::\"view\"", "-r", "Document::\"d1\"", "--context", j, NULL);
  free(j);
  cr_assert_eq(run.code, 2, "stdout: %s\nstderr: %s", run.out, run.err);
  cr_assert_not_null(strstr(run.err, "nested deeper than 32"), "%s", run.err);
  e2e_run_free(&run);
}

Test(client_e2e, pdpds_frame_too_large_answer_reaches_the_caller) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 10000, &err);
  cr_assert_not_null(c, "%s", err.message);
  pdpc_set_max_request(c, 8u << 20); /* let it go out: pdpd's --max-frame is 1 MiB */
  size_t n = 4u << 20;
  char *blob = malloc(n + 1);
  memset(blob, 'x', n);
  blob[n] = 0;
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "blob", pdpc_value_string(blob)), 0);
  free(blob);
  pdpc_check_req req = {.principal = {"User", "alice"},
                        .action = {"Action", "view"},
                        .resource = {"Document", "d1"},
                        .context = ctx};
  pdpc_result res;
  pdpc_result_init(&res);
  cr_assert_eq(pdpc_check(c, &req, &res), PDPC_E_PROTOCOL, "%s", res.message);
  cr_assert_eq(res.status, PDPC_STATUS_FRAME_TOO_LARGE, "pdpd's answer, not 'closed': %s",
               res.message);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
  pdpc_value_free(ctx);
  pdpc_close(c);
}

/* .timeout only guards against a hang; the assertions are about behaviour. */
Test(client_e2e, connecting_where_nothing_listens_fails_within_the_timeout, .timeout = 30) {
  char none[128];
  snprintf(none, sizeof none, "%s/none.sock", e2e_daemon.dir);
  pdpc_error err;
  cr_assert_null(pdpc_connect(none, 1000, &err));
  cr_assert_eq(err.code, PDPC_E_CONNECT);
  cr_assert_not_null(strstr(err.message, "is pdpd running"), "%s", err.message);
  e2e_stop_daemon(); /* and once the daemon is gone, the socket refuses as well */
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 1000, &err);
  cr_assert_null(c);
  cr_assert_eq(err.code, PDPC_E_CONNECT, "%s", err.message);
}

/* test_client_list.c - the C client's ListAllowed and DefinePermissions, and `pdpctl
 * list-allowed`, against a real pdpd.
 *
 * The bundle defines the actions view, edit and delete (service "docs"); alice owns d1, so
 * the one action she may do on it is view.  What pdpd answers is checked in one place per
 * body, the expect_* functions under "pdpd's answers"; the tests around them check what stays
 * true whatever the answer: it is read cleanly, the connection stays in sync (a check on it
 * still gets its own answer), and invalid requests never reach pdpd.  pdpctl's output for
 * ids that need escaping is checked against a fake server that lists them.
 */
#include "pdpctl_util.h"

#include <pthread.h>

static void up(void) {
  e2e_setup();
  e2e_write_bundle();
  e2e_write("bundle/permissions/docs.json",
            "{\"definitions\": [{\"name\": \"view\"}, {\"name\": \"edit\"},"
            " {\"name\": \"delete\"}]}\n");
  e2e_start_daemon();
}

TestSuite(client_list, .init = up, .fini = e2e_teardown);
TestSuite(pdpctl_list, .init = up, .fini = e2e_teardown);

/* ---- pdpd's answers ------------------------------------------------------------------------- */

/* pdpd's answer to a ListAllowed of alice on her document: view, the one defined action the
 * policies allow her. */
static void expect_list_answer(int rc, const pdpc_list_result *r, pdpc_conn *c) {
  cr_assert_eq(rc, 0, "rc %d: %s", rc, pdpc_conn_error(c)->message);
  cr_assert_eq(r->status, PDPC_STATUS_OK);
  cr_assert_eq(r->n_actions, 1);
  cr_assert_str_eq(r->actions[0].type, "Action");
  cr_assert_str_eq(r->actions[0].id, "view");
  cr_assert_eq(r->stamp_len, 32);
}

/* pdpd's answer to a DefinePermissions of the service "docs": stored and served (the stamp is
 * the one Health reports). */
static void expect_define_answer(int rc, const pdpc_define_result *r, pdpc_conn *c) {
  cr_assert_eq(rc, 0, "rc %d: %s", rc, pdpc_conn_error(c)->message);
  cr_assert_eq(r->status, PDPC_STATUS_OK);
  cr_assert_eq(r->stamp_len, 32);
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(c, &h), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(memcmp(h.stamp, r->stamp, 32), 0, "the define's stamp is served");
}

/* `pdpctl list-allowed` of alice on Document::"d1": view, as text or JSON. */
static void expect_pdpctl_list(const e2e_run *r) {
  cr_assert_eq(r->code, 0, "stdout: %s\nstderr: %s", r->out, r->err);
  cr_assert_str_eq(r->err, "");
  if (r->out[0] == '{')
    cr_assert(strncmp(r->out, "{\"actions\":[{\"type\":\"Action\",\"id\":\"view\"}],\"stamp\":\"",
                      52) == 0,
              "%s", r->out);
  else
    cr_assert_str_eq(r->out, "Action::\"view\"\n");
}

/* ---- the C client ------------------------------------------------------------------------- */

static pdpc_conn *connect_or_fail(void) {
  pdpc_error err;
  pdpc_conn *c = pdpc_connect(e2e_daemon.sock, 10000, &err);
  cr_assert_not_null(c, "%s", err.message);
  return c;
}

/* A check on c answers for itself: alice may view her own d1 and not bob's d2. */
static void expect_checks_still_answer(pdpc_conn *c) {
  pdpc_result res;
  pdpc_result_init(&res);
  pdpc_check_req q = {
      .principal = {"User", "alice"}, .action = {"Action", "view"}, .resource = {"Document", "d1"}};
  cr_assert_eq(pdpc_check(c, &q, &res), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert(pdpc_result_allowed(&res), "%s", res.message);
  q.resource.id = "d2";
  cr_assert_eq(pdpc_check(c, &q, &res), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_not(pdpc_result_allowed(&res));
  pdpc_result_close(&res);
}

static const pdpc_list_req alice_on_d1 = {.principal = {"User", "alice"},
                                          .resource = {"Document", "d1"}};

Test(client_list, list_allowed_is_answered_cleanly_and_the_connection_stays_in_sync) {
  pdpc_conn *c = connect_or_fail();
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  int rc = pdpc_list_allowed(c, &alice_on_d1, &r);
  expect_list_answer(rc, &r, c);
  cr_assert_gt(r.id, 0, "the request was sent");
  expect_checks_still_answer(c);
  pdpc_list_result_close(&r);
  pdpc_close(c);
}

Test(client_list, list_allowed_with_context_entities_and_prefix_is_answered_cleanly) {
  pdpc_conn *c = connect_or_fail();
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "net", pdpc_value_string("office")), 0);
  pdpc_entity *doc = pdpc_entity_new("Document", "new");
  cr_assert_eq(pdpc_entity_attr(doc, "owner", pdpc_value_entity("User", "alice")), 0);
  const pdpc_entity *es[] = {doc};
  pdpc_list_req q = {.principal = {"User", "alice"},
                     .resource = {"Document", "new"},
                     .context = ctx,
                     .entities = es,
                     .n_entities = 1,
                     .action_prefix = "vi"};
  pdpc_list_result r;
  pdpc_list_result_init(&r);
  expect_list_answer(pdpc_list_allowed(c, &q, &r), &r, c);
  expect_checks_still_answer(c);
  pdpc_list_result_close(&r);
  pdpc_entity_free(doc);
  pdpc_value_free(ctx);
  pdpc_close(c);
}

Test(client_list, define_permissions_is_answered_cleanly_and_the_connection_stays_in_sync) {
  pdpc_conn *c = connect_or_fail();
  pdpc_value *props = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(props, "ui", pdpc_value_string("toolbar")), 0);
  pdpc_definition defs[] = {
      {.name = "view", .display_name = "View documents", .group = "docs"},
      {.name = "edit",
       .parent = "view",
       .tenancy = PDPC_TENANCY_TENANT,
       .providers = PDPC_PROVIDER_ROLE | PDPC_PROVIDER_USER,
       .properties = props},
  };
  const char *deleted[] = {"print"};
  pdpc_define_result r;
  pdpc_define_result_init(&r);
  int rc = pdpc_define_permissions(c, "docs", defs, 2, deleted, 1, &r);
  expect_define_answer(rc, &r, c);
  pdpc_health h;
  cr_assert_eq(pdpc_health_check(c, &h), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(h.state, PDPC_HEALTH_SERVING);
  expect_checks_still_answer(c);
  pdpc_define_result_close(&r);
  pdpc_value_free(props);
  pdpc_close(c);
}

Test(client_list, many_list_and_define_calls_between_checks_keep_their_answers_apart) {
  pdpc_conn *c = connect_or_fail();
  pdpc_list_result l;
  pdpc_define_result d;
  pdpc_list_result_init(&l);
  pdpc_define_result_init(&d);
  pdpc_definition def = {.name = "view"};
  for (int i = 0; i < 50; i++) {
    expect_list_answer(pdpc_list_allowed(c, &alice_on_d1, &l), &l, c);
    expect_define_answer(pdpc_define_permissions(c, "docs", &def, 1, NULL, 0, &d), &d, c);
    cr_assert_eq(d.id, l.id + 1, "one id per request, in order");
    expect_checks_still_answer(c);
  }
  pdpc_list_result_close(&l);
  pdpc_define_result_close(&d);
  pdpc_close(c);
}

Test(client_list, invalid_requests_are_refused_by_the_client_and_never_reach_pdpd) {
  pdpc_conn *c = connect_or_fail();
  pdpc_server_status before, after;
  cr_assert_eq(pdpc_server_status_get(c, &before), 0, "%s", pdpc_conn_error(c)->message);
  pdpc_list_result l;
  pdpc_list_result_init(&l);
  pdpc_list_req q = {.principal = {"User", "alice"}};
  cr_assert_eq(pdpc_list_allowed(c, &q, &l), PDPC_E_INVAL);
  cr_assert_not_null(strstr(l.message, "resource"), "%s", l.message);
  cr_assert_eq(l.id, 0, "nothing was sent");
  pdpc_define_result d;
  pdpc_define_result_init(&d);
  pdpc_definition def = {.name = "view", .tenancy = (pdpc_tenancy)9};
  cr_assert_eq(pdpc_define_permissions(c, "docs", &def, 1, NULL, 0, &d), PDPC_E_INVAL);
  cr_assert_not_null(strstr(d.message, "definitions[0].tenancy"), "%s", d.message);
  cr_assert_eq(d.id, 0, "nothing was sent");
  cr_assert_eq(pdpc_server_status_get(c, &after), 0, "%s", pdpc_conn_error(c)->message);
  cr_assert_eq(after.requests_total - before.requests_total, 1,
               "pdpd saw the status requests only");
  expect_checks_still_answer(c);
  pdpc_list_result_close(&l);
  pdpc_define_result_close(&d);
  pdpc_close(c);
}

/* ---- pdpctl list-allowed ------------------------------------------------------------------ */

Test(pdpctl_list, list_allowed_prints_pdpds_answer) {
  e2e_run r = e2e_pdpctl("list-allowed", "--socket", e2e_daemon.sock, "--principal",
                         "User::\"alice\"", "--resource", "Document::\"d1\"", NULL);
  expect_pdpctl_list(&r);
  e2e_run_free(&r);
  r = e2e_pdpctl("list-allowed", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-r",
                 "Document::\"d1\"", "--prefix", "vi", "--json", NULL);
  expect_pdpctl_list(&r);
  e2e_run_free(&r);
}

Test(pdpctl_list, context_and_entities_are_read_like_checks_reads_them) {
  e2e_write("req.json",
            "[{\"uid\": {\"type\": \"Document\", \"id\": \"new\"},"
            "  \"attrs\": {\"owner\": {\"__entity\": {\"type\": \"User\", \"id\": \"alice\"}}}}]");
  char file[128];
  snprintf(file, sizeof file, "%s/req.json", e2e_daemon.dir);
  e2e_run r = e2e_pdpctl("list-allowed", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-r",
                         "Document::\"new\"", "--entities", file, "--context",
                         "{\"net\": \"office\"}", NULL);
  expect_pdpctl_list(&r);
  e2e_run_free(&r);
  r = e2e_pdpctl("list-allowed", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-r",
                 "Document::\"new\"", "--context", "{\"n\": 2.5}", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "pdpctl list-allowed: --context: context.n"), "%s", r.err);
  e2e_run_free(&r);
  r = e2e_pdpctl("list-allowed", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-r",
                 "Document::\"new\"", "--entities", "/nonexistent/req.json", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, "--entities /nonexistent/req.json"), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_list, bad_arguments_exit_2_with_a_message_naming_them) {
  struct {
    const char *args[8];
    const char *words;
  } cases[] = {
      {{"-p", "User::\"alice\"", NULL}, "--resource is required"},
      {{"-r", "Document::\"d1\"", NULL}, "--principal (or --token) is required"},
      {{"-p", "User::alice", "-r", "Document::\"d1\"", NULL}, "--principal:"},
      {{"-p", "User::\"alice\"", "-r", "d1", NULL}, "--resource:"},
      {{"-p", "User::\"alice\"", "--token", "t", "-r", "Document::\"d1\"", NULL},
       "give --principal or --token, not both"},
      {{"-p", "User::\"alice\"", "-r", "Document::\"d1\"", "--bogus", NULL},
       "unknown option '--bogus'"},
      {{"-p", "User::\"alice\"", "-r", "Document::\"d1\"", "extra", NULL},
       "unexpected argument 'extra'"},
      {{"-p", "User::\"alice\"", "-r", "Document::\"d1\"", "-t", "0", NULL}, "--timeout"},
      {{"-p", "User::\"alice\"", "-r", "Document::\"d1\"", "--prefix", NULL}, "needs a value"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char **a = cases[i].args;
    e2e_run r = e2e_pdpctl("list-allowed", "-s", e2e_daemon.sock, a[0], a[1], a[2], a[3], a[4],
                           a[5], a[6], NULL);
    cr_assert_eq(r.code, 2, "case %zu: stdout %s stderr %s", i, r.out, r.err);
    cr_assert_str_eq(r.out, "", "case %zu", i);
    cr_assert_not_null(strstr(r.err, cases[i].words), "case %zu: '%s' lacks '%s'", i, r.err,
                       cases[i].words);
    e2e_run_free(&r);
  }
}

Test(pdpctl_list, no_daemon_is_an_error_naming_the_socket) {
  e2e_stop_daemon();
  e2e_run r = e2e_pdpctl("list-allowed", "-s", e2e_daemon.sock, "-p", "User::\"alice\"", "-r",
                         "Document::\"d1\"", NULL);
  cr_assert_eq(r.code, 2);
  cr_assert_not_null(strstr(r.err, e2e_daemon.sock), "%s", r.err);
  e2e_run_free(&r);
}

Test(pdpctl_list, help_is_shown_by_the_command_and_by_pdpctl_help) {
  e2e_run r = e2e_pdpctl("list-allowed", "--help", NULL);
  cr_assert_eq(r.code, 0);
  cr_assert_not_null(strstr(r.out, "usage: pdpctl list-allowed"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "--prefix"), "%s", r.out);
  e2e_run_free(&r);
  r = e2e_pdpctl("help", "list-allowed", NULL);
  cr_assert_eq(r.code, 0);
  cr_assert_not_null(strstr(r.out, "usage: pdpctl list-allowed"), "%s", r.out);
  e2e_run_free(&r);
  r = e2e_pdpctl("--help", NULL);
  cr_assert_not_null(strstr(r.out, "list-allowed"), "%s", r.out);
  e2e_run_free(&r);
}

/* ---- pdpctl list-allowed and an answer with actions ---------------------------------------- */

/* A fake server on a socket in the test's temp dir answers one ListAllowed with the ids it is
 * given (ids a bundle would not hold, to check escaping), and remembers the prefix it was
 * asked for. */
typedef struct fake_list {
  int listen_fd;
  pthread_t thread;
  char prefix[64];  /* the request's action_prefix */
  int body_case;    /* the request's body */
  char *const *ids; /* Action ids to answer with */
  size_t n_ids;
} fake_list;

static void *fake_list_main(void *arg) {
  fake_list *f = arg;
  int fd = accept(f->listen_fd, NULL, NULL);
  if (fd < 0) return NULL;
  uint8_t h[4];
  if (du_read_all(fd, h, 4)) {
    uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    uint8_t *body = malloc(n ? n : 1);
    Pdp__V1__Request *rq =
        body && du_read_all(fd, body, n) ? pdp__v1__request__unpack(NULL, n, body) : NULL;
    free(body);
    if (rq) {
      f->body_case = (int)rq->body_case;
      if (rq->body_case == PDP__V1__REQUEST__BODY_LIST_ALLOWED)
        snprintf(f->prefix, sizeof f->prefix, "%s", rq->list_allowed->action_prefix);
      Pdp__V1__Response resp = PDP__V1__RESPONSE__INIT;
      Pdp__V1__Status st = PDP__V1__STATUS__INIT;
      Pdp__V1__ListAllowedResponse list = PDP__V1__LIST_ALLOWED_RESPONSE__INIT;
      Pdp__V1__EntityUid uids[8], *uidp[8];
      uint8_t stamp[32];
      for (size_t i = 0; i < f->n_ids && i < 8; i++) {
        pdp__v1__entity_uid__init(&uids[i]);
        uids[i].type = "Action";
        uids[i].id = f->ids[i];
        uidp[i] = &uids[i];
      }
      memset(stamp, 0xab, sizeof stamp);
      list.actions = uidp;
      list.n_actions = f->n_ids;
      list.stamp.data = stamp;
      list.stamp.len = 32;
      st.code = PDP__V1__STATUS__CODE__OK;
      resp.id = rq->id;
      resp.status = &st;
      resp.body_case = PDP__V1__RESPONSE__BODY_LIST_ALLOWED;
      resp.list_allowed = &list;
      size_t len = pdp__v1__response__get_packed_size(&resp);
      uint8_t *out = malloc(4 + len);
      if (out) {
        out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16), out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        pdp__v1__response__pack(&resp, out + 4);
        du_write_all(fd, out, 4 + len);
      }
      free(out);
      pdp__v1__request__free_unpacked(rq, NULL);
    }
  }
  close(fd);
  return NULL;
}

/* Start the fake on e2e_daemon.dir/fake.sock; its path goes to sock. */
static void fake_list_start(fake_list *f, char *const *ids, size_t n, char *sock, size_t cap) {
  memset(f, 0, sizeof *f);
  f->ids = ids;
  f->n_ids = n;
  f->body_case = -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sock, cap, "%s/fake.sock", e2e_daemon.dir);
  cr_assert_lt(strlen(sock), sizeof sa.sun_path);
  memcpy(sa.sun_path, sock, strlen(sock));
  f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert_geq(f->listen_fd, 0);
  cr_assert_eq(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
  cr_assert_eq(listen(f->listen_fd, 4), 0);
  cr_assert_eq(pthread_create(&f->thread, NULL, fake_list_main, f), 0);
}

static void fake_list_join(fake_list *f) {
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
}

static void fake_setup(void) {
  e2e_setup();
}

TestSuite(pdpctl_list_answer, .init = fake_setup, .fini = e2e_teardown);

Test(pdpctl_list_answer, each_action_is_printed_on_its_own_line_with_its_id_escaped) {
  char *ids[] = {"doc.view", "doc.edit", "we\"ird\nid\\"};
  char sock[128];
  fake_list f;
  fake_list_start(&f, ids, 3, sock, sizeof sock);
  e2e_run r = e2e_pdpctl("list-allowed", "-s", sock, "-p", "User::\"alice\"", "-r",
                         "Document::\"d1\"", "--prefix", "doc.", NULL);
  fake_list_join(&f);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_str_eq(r.out, "Action::\"doc.view\"\n"
                          "Action::\"doc.edit\"\n"
                          "Action::\"we\\\"ird\\nid\\\\\"\n");
  cr_assert_str_eq(r.err, "");
  cr_assert_eq(f.body_case, PDP__V1__REQUEST__BODY_LIST_ALLOWED);
  cr_assert_str_eq(f.prefix, "doc.");
  e2e_run_free(&r);
}

Test(pdpctl_list_answer, json_output_has_the_uids_in_cedar_json_and_the_stamp) {
  char *ids[] = {"doc.view", "we\"ird"};
  char sock[128];
  fake_list f;
  fake_list_start(&f, ids, 2, sock, sizeof sock);
  e2e_run r = e2e_pdpctl("list-allowed", "-s", sock, "-p", "User::\"alice\"", "-r",
                         "Document::\"d1\"", "--json", NULL);
  fake_list_join(&f);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  char want[512];
  char stamp[65];
  memset(stamp, 0, sizeof stamp);
  for (int i = 0; i < 32; i++) memcpy(stamp + 2 * i, "ab", 2);
  snprintf(want, sizeof want,
           "{\"actions\":[{\"type\":\"Action\",\"id\":\"doc.view\"},"
           "{\"type\":\"Action\",\"id\":\"we\\\"ird\"}],\"stamp\":\"%s\"}\n",
           stamp);
  cr_assert_str_eq(r.out, want);
  cr_assert_str_eq(f.prefix, "", "no --prefix asks for every action");
  e2e_run_free(&r);
}

Test(pdpctl_list_answer, an_empty_list_prints_nothing_and_exits_0) {
  char sock[128];
  fake_list f;
  fake_list_start(&f, NULL, 0, sock, sizeof sock);
  e2e_run r = e2e_pdpctl("list-allowed", "-s", sock, "-p", "User::\"alice\"", "-r",
                         "Document::\"d1\"", NULL);
  fake_list_join(&f);
  cr_assert_eq(r.code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
  cr_assert_str_eq(r.out, "");
  e2e_run_free(&r);
}

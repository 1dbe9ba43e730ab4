/* test_eval_ext.c - ipaddr, decimal, datetime and duration, as Cedar defines them. */
#include <criterion/criterion.h>

#include "test_eval_util.h"

TestSuite(eval_ext, .init = t_setup, .fini = t_teardown);

static bool call1(pdpl_fn fn, const char *arg, pdpe_value *out, char *err) {
  pdpe_value a = {.kind = PDPE_STRING, .u.s = pu_str_c(arg)};
  return pdpe__ext_call(fn, &a, 1, out, err, 200);
}

static pdpe_value mk(pdpl_fn fn, const char *arg) {
  pdpe_value v;
  char err[200];
  cr_assert(call1(fn, arg, &v, err), "%s(\"%s\"): %s", pdpl_fn_name(fn), arg, err);
  return v;
}

static bool bad(pdpl_fn fn, const char *arg) {
  pdpe_value v;
  char err[200];
  return !call1(fn, arg, &v, err);
}

static bool b2(pdpl_fn fn, pdpe_value a, pdpe_value b) {
  pdpe_value args[2] = {a, b}, out;
  char err[200];
  cr_assert(pdpe__ext_call(fn, args, 2, &out, err, sizeof err), "%s", err);
  cr_assert_eq(out.kind, PDPE_BOOL);
  return out.u.b;
}

static bool b1(pdpl_fn fn, pdpe_value a) {
  pdpe_value out;
  char err[200];
  cr_assert(pdpe__ext_call(fn, &a, 1, &out, err, sizeof err), "%s", err);
  return out.u.b;
}

Test(eval_ext, ip_addresses_parse_like_cedar) {
  mk(PDPL_FN_IP, "10.0.0.1");
  mk(PDPL_FN_IP, "10.0.0.0/8");
  mk(PDPL_FN_IP, "::1");
  mk(PDPL_FN_IP, "2001:db8::/32");
  mk(PDPL_FN_IP, "1:2:3:4:5:6:7:8");
  cr_assert(bad(PDPL_FN_IP, "256.0.0.1"));
  cr_assert(bad(PDPL_FN_IP, "01.0.0.1"), "leading zeros are refused");
  cr_assert(bad(PDPL_FN_IP, "1.2.3"));
  cr_assert(bad(PDPL_FN_IP, "10.0.0.0/33"));
  cr_assert(bad(PDPL_FN_IP, "10.0.0.0/08"));
  cr_assert(bad(PDPL_FN_IP, "10.0.0.0/"));
  cr_assert(bad(PDPL_FN_IP, "::ffff:127.0.0.1"), "IPv4 embedded in IPv6 is refused");
  cr_assert(bad(PDPL_FN_IP, "1:2:3:4:5:6:7:8::"));
  cr_assert(bad(PDPL_FN_IP, "1::2::3"));
  cr_assert(bad(PDPL_FN_IP, "::/129"));
}

Test(eval_ext, ip_methods) {
  cr_assert(b1(PDPL_FN_IS_IPV4, mk(PDPL_FN_IP, "1.2.3.4")));
  cr_assert(b1(PDPL_FN_IS_IPV6, mk(PDPL_FN_IP, "::")));
  cr_assert(b1(PDPL_FN_IS_LOOPBACK, mk(PDPL_FN_IP, "127.1.2.3")));
  cr_assert_not(b1(PDPL_FN_IS_LOOPBACK, mk(PDPL_FN_IP, "127.0.0.0/7")));
  cr_assert(b1(PDPL_FN_IS_LOOPBACK, mk(PDPL_FN_IP, "::1")));
  cr_assert(b1(PDPL_FN_IS_MULTICAST, mk(PDPL_FN_IP, "224.0.0.1")));
  cr_assert(b1(PDPL_FN_IS_MULTICAST, mk(PDPL_FN_IP, "ff02::1")));
  cr_assert_not(b1(PDPL_FN_IS_MULTICAST, mk(PDPL_FN_IP, "10.0.0.1")));
  cr_assert(b2(PDPL_FN_IS_IN_RANGE, mk(PDPL_FN_IP, "10.1.2.3"), mk(PDPL_FN_IP, "10.0.0.0/8")));
  cr_assert(b2(PDPL_FN_IS_IN_RANGE, mk(PDPL_FN_IP, "10.1.0.0/16"), mk(PDPL_FN_IP, "10.0.0.0/8")));
  cr_assert_not(
      b2(PDPL_FN_IS_IN_RANGE, mk(PDPL_FN_IP, "10.0.0.0/8"), mk(PDPL_FN_IP, "10.1.0.0/16")));
  cr_assert_not(b2(PDPL_FN_IS_IN_RANGE, mk(PDPL_FN_IP, "::1"), mk(PDPL_FN_IP, "0.0.0.0/0")));
  pdpe_value a = mk(PDPL_FN_IP, "10.0.0.1/24"), b = mk(PDPL_FN_IP, "10.0.0.0/24");
  cr_assert_not(pdpe_value_eq(&a, &b), "host bits are kept");
  pdpe_value args[1] = {{.kind = PDPE_STRING, .u.s = PU_STR_LIT("1.2.3.4")}}, out;
  char err[200];
  cr_assert_not(pdpe__ext_call(PDPL_FN_IS_IPV4, args, 1, &out, err, sizeof err));
  cr_assert(strstr(err, "type error"), "%s", err);
}

Test(eval_ext, decimals_have_four_digits_and_i64_range) {
  cr_assert_eq(mk(PDPL_FN_DECIMAL, "1.23").u.ext.u.decimal, 12300);
  cr_assert_eq(mk(PDPL_FN_DECIMAL, "-1.2345").u.ext.u.decimal, -12345);
  cr_assert_eq(mk(PDPL_FN_DECIMAL, "922337203685477.5807").u.ext.u.decimal, INT64_MAX);
  cr_assert_eq(mk(PDPL_FN_DECIMAL, "-922337203685477.5808").u.ext.u.decimal, INT64_MIN);
  cr_assert(bad(PDPL_FN_DECIMAL, "922337203685477.5808"));
  cr_assert(bad(PDPL_FN_DECIMAL, "1.23456"));
  cr_assert(bad(PDPL_FN_DECIMAL, "1"));
  cr_assert(bad(PDPL_FN_DECIMAL, ".5"));
  cr_assert(bad(PDPL_FN_DECIMAL, "1."));
  cr_assert(bad(PDPL_FN_DECIMAL, "+1.0"));
  cr_assert(b2(PDPL_FN_LESS_THAN, mk(PDPL_FN_DECIMAL, "1.1"), mk(PDPL_FN_DECIMAL, "1.2")));
  cr_assert(
      b2(PDPL_FN_GREATER_THAN_OR_EQUAL, mk(PDPL_FN_DECIMAL, "1.2"), mk(PDPL_FN_DECIMAL, "1.20")));
  cr_assert_not(b2(PDPL_FN_GREATER_THAN, mk(PDPL_FN_DECIMAL, "1.2"), mk(PDPL_FN_DECIMAL, "1.20")));
}

Test(eval_ext, a_negative_decimal_below_one_keeps_its_sign) {
  pdpe_value m = mk(PDPL_FN_DECIMAL, "-0.5"), p = mk(PDPL_FN_DECIMAL, "0.5");
  cr_assert_eq(m.u.ext.u.decimal, -5000);
  cr_assert_not(pdpe_value_eq(&m, &p), "decimal(\"-0.5\") != decimal(\"0.5\")");
  cr_assert(b2(PDPL_FN_LESS_THAN, m, mk(PDPL_FN_DECIMAL, "0.0")));
  cr_assert(b2(PDPL_FN_LESS_THAN, mk(PDPL_FN_DECIMAL, "-1.0"), m));
  cr_assert_eq(mk(PDPL_FN_DECIMAL, "-0.0").u.ext.u.decimal, 0);
}

Test(eval_ext, datetimes_accept_cedar_formats) {
  cr_assert_eq(mk(PDPL_FN_DATETIME, "1970-01-01").u.ext.u.datetime, 0);
  cr_assert_eq(mk(PDPL_FN_DATETIME, "1970-01-02T00:00:01Z").u.ext.u.datetime, 86401000);
  cr_assert_eq(mk(PDPL_FN_DATETIME, "1970-01-01T00:00:00.123Z").u.ext.u.datetime, 123);
  cr_assert_eq(mk(PDPL_FN_DATETIME, "1970-01-01T01:00:00+0100").u.ext.u.datetime, 0);
  cr_assert_eq(mk(PDPL_FN_DATETIME, "1970-01-01T00:00:00.001-0001").u.ext.u.datetime, 60001);
  cr_assert_eq(mk(PDPL_FN_DATETIME, "1969-12-31").u.ext.u.datetime, -86400000);
  cr_assert_eq(mk(PDPL_FN_DATETIME, "2024-02-29").u.ext.u.datetime, INT64_C(1709164800000));
  const char *bads[] = {"2023-02-29",
                        "2024-13-01",
                        "2024-01-32",
                        "24-01-01",
                        "2024-01-01T",
                        "2024-01-01T00:00:00",
                        "2024-01-01T24:00:00Z",
                        "2024-01-01T00:00:60Z",
                        "2024-01-01T00:00:00+2400",
                        "2024-01-01T00:00:00.12Z",
                        "2024-01-01Z",
                        "2024-01-01T00:00:00ZZ",
                        "10000-01-01"};
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
    cr_assert(bad(PDPL_FN_DATETIME, bads[i]), "%s", bads[i]);
}

Test(eval_ext, durations_parse_units_in_order_and_check_overflow) {
  cr_assert_eq(mk(PDPL_FN_DURATION, "1d2h3m4s5ms").u.ext.u.duration, 93784005);
  cr_assert_eq(mk(PDPL_FN_DURATION, "-1h").u.ext.u.duration, -3600000);
  cr_assert_eq(mk(PDPL_FN_DURATION, "90m").u.ext.u.duration, 5400000);
  cr_assert_eq(mk(PDPL_FN_DURATION, "-9223372036854775808ms").u.ext.u.duration, INT64_MIN);
  cr_assert(bad(PDPL_FN_DURATION, "9223372036854775808ms"));
  cr_assert(bad(PDPL_FN_DURATION, "106751991168d"));
  cr_assert_eq(mk(PDPL_FN_DURATION, "106751991167d").u.ext.u.duration,
               INT64_C(106751991167) * 86400000);
  cr_assert(bad(PDPL_FN_DURATION, ""));
  cr_assert(bad(PDPL_FN_DURATION, "-"));
  cr_assert(bad(PDPL_FN_DURATION, "1h1d"));
  cr_assert(bad(PDPL_FN_DURATION, "1h1h"));
  cr_assert(bad(PDPL_FN_DURATION, "1"));
  cr_assert(bad(PDPL_FN_DURATION, "1y"));
}

Test(eval_ext, datetime_and_duration_methods) {
  pdpe_value t = mk(PDPL_FN_DATETIME, "2024-10-15T11:38:02.101Z"), out;
  char err[200];
  cr_assert(pdpe__ext_call(PDPL_FN_TO_DATE, &t, 1, &out, err, sizeof err));
  pdpe_value d = mk(PDPL_FN_DATETIME, "2024-10-15");
  cr_assert(pdpe_value_eq(&out, &d));
  cr_assert(pdpe__ext_call(PDPL_FN_TO_TIME, &t, 1, &out, err, sizeof err));
  cr_assert_eq(out.u.ext.u.duration, ((11 * 60 + 38) * 60 + 2) * 1000 + 101);
  pdpe_value neg = mk(PDPL_FN_DATETIME, "1969-12-31T23:00:00Z");
  cr_assert(pdpe__ext_call(PDPL_FN_TO_TIME, &neg, 1, &out, err, sizeof err));
  cr_assert_eq(out.u.ext.u.duration, 23 * 3600000);
  cr_assert(pdpe__ext_call(PDPL_FN_TO_DATE, &neg, 1, &out, err, sizeof err));
  cr_assert_eq(out.u.ext.u.datetime, -86400000);
  pdpe_value args[2] = {d, mk(PDPL_FN_DURATION, "1d")};
  cr_assert(pdpe__ext_call(PDPL_FN_OFFSET, args, 2, &out, err, sizeof err));
  cr_assert_eq(out.u.ext.u.datetime, d.u.ext.u.datetime + 86400000);
  args[0] = out, args[1] = d;
  cr_assert(pdpe__ext_call(PDPL_FN_DURATION_SINCE, args, 2, &out, err, sizeof err));
  cr_assert_eq(out.u.ext.u.duration, 86400000);
  pdpe_value dur = mk(PDPL_FN_DURATION, "-1d23h59m");
  cr_assert(pdpe__ext_call(PDPL_FN_TO_DAYS, &dur, 1, &out, err, sizeof err));
  cr_assert_eq(out.u.l, -1, "division truncates toward zero");
  cr_assert(pdpe__ext_call(PDPL_FN_TO_HOURS, &dur, 1, &out, err, sizeof err));
  cr_assert_eq(out.u.l, -47);
  args[0] = mk(PDPL_FN_DATETIME, "1970-01-01"),
  args[1] = mk(PDPL_FN_DURATION, "-9223372036854775808ms");
  cr_assert(pdpe__ext_call(PDPL_FN_OFFSET, args, 2, &out, err, sizeof err));
  args[0] = out, args[1] = mk(PDPL_FN_DURATION, "-1ms");
  cr_assert_not(pdpe__ext_call(PDPL_FN_OFFSET, args, 2, &out, err, sizeof err),
                "offset overflow is an error");
  cr_assert_not(pdpe__ext_call(PDPL_FN_TO_DATE, &args[0], 1, &out, err, sizeof err),
                "toDate overflow is an error");
}

Test(eval_ext, datetimes_and_durations_compare_with_operators) {
  t_request("U", "u", "A", "a", "R", "r");
  pdpl_expr *lt = E_bin(PDPL_OP_LT, E_call(PDPL_FN_DATETIME, 1, E_str("2024-01-01")),
                        E_call(PDPL_FN_DATETIME, 1, E_str("2024-01-02")));
  bool b;
  cr_assert(t_eval_bool(lt, &b) && b, "%s", T_env.err);
  pdpl_expr *mixed = E_bin(PDPL_OP_LT, E_call(PDPL_FN_DATETIME, 1, E_str("2024-01-01")),
                           E_call(PDPL_FN_DURATION, 1, E_str("1d")));
  pdpe_value v;
  cr_assert_not(t_eval(mixed, &v));
  pdpl_expr *dec = E_bin(PDPL_OP_LT, E_call(PDPL_FN_DECIMAL, 1, E_str("1.0")),
                         E_call(PDPL_FN_DECIMAL, 1, E_str("2.0")));
  cr_assert_not(t_eval(dec, &v), "decimal has no operator overloading in Cedar");
}

Test(eval_ext, argument_counts_come_from_the_language_table) {
  t_request("User", "a", "Action", "x", "R", "r");
  pdpe_value v;
  for (int f = PDPL_FN_CONTAINS; f < PDPL_FN__COUNT; f++) {
    uint32_t want = pdpl_fn_arity((pdpl_fn)f);
    cr_assert(want >= 1 && want <= 2, "%s", pdpl_fn_name((pdpl_fn)f));
    /* One argument too many or too few is an evaluation error naming the function. */
    pdpl_expr *call = want == 1 ? E_call((pdpl_fn)f, 2, E_str("1.0"), E_str("1.0"))
                                : E_call((pdpl_fn)f, 1, E_str("1.0"));
    cr_assert_not(t_eval(call, &v), "%s", pdpl_fn_name((pdpl_fn)f));
    cr_assert(strstr(T_env.err, pdpl_fn_name((pdpl_fn)f)) && strstr(T_env.err, "argument"), "%s",
              T_env.err);
  }
  cr_assert(t_eval(E_call(PDPL_FN_DECIMAL, 1, E_str("1.5")), &v), "%s", T_env.err);
}

Test(eval_ext, extn_json_evaluates_methods_as_cedar_does) {
  /* The cedar CLI accepts {"__extn": {"fn": "lessThan", "args": [...]}} in a context. */
  pdpe_value v = t_value(
      "{\"__extn\": {\"fn\": \"lessThan\", \"args\": [{\"__extn\": {\"fn\": \"decimal\", \"arg\": "
      "\"1.0\"}}, {\"__extn\": {\"fn\": \"decimal\", \"arg\": \"2.0\"}}]}}");
  cr_assert(v.kind == PDPE_BOOL && v.u.b);
  pdpe_value out;
  char err[256];
  json_t *j = t_json("{\"__extn\": {\"fn\": \"decimal\", \"args\": [\"1.0\", \"2.0\"]}}");
  cr_assert_not(pdpe_value_from_json(&T_arena, j, "context.x", &out, err, sizeof err));
  json_decref(j);
  cr_assert(strstr(err, "context.x") && strstr(err, "argument"), "%s", err);
  j = t_json("{\"__extn\": {\"fn\": \"contains\", \"arg\": \"1.0\"}}");
  cr_assert_not(pdpe_value_from_json(&T_arena, j, "context.x", &out, err, sizeof err),
                "not an extension function");
  json_decref(j);
}

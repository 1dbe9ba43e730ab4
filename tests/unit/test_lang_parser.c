/* test_lang_parser.c - valid Cedar policies build the AST we expect: scope forms,
 * annotations and ids, templates, precedence, literals, calls, has-paths, like patterns. */
#include "test_lang_util.h"

TestSuite(lang_parser, .init = tl_setup, .fini = tl_teardown);

#define ASSERT_BIN(e, o)                                                                           \
  do {                                                                                             \
    cr_assert_eq((e)->kind, PDPL_E_BINARY);                                                        \
    cr_assert_eq((e)->u.binary.op, (o));                                                           \
  } while (0)
#define ASSERT_LONG(e, v)                                                                          \
  do {                                                                                             \
    cr_assert_eq((e)->kind, PDPL_E_LONG);                                                          \
    cr_assert_eq((e)->u.lit.l, (int64_t)(v));                                                      \
  } while (0)

Test(lang_parser, trivial_policy_has_any_scopes_and_no_conditions) {
  pdpl_policy *p = tl_policy("permit(principal, action, resource);");
  cr_assert_eq(p->effect, PDPL_PERMIT);
  cr_assert_eq(p->principal.kind, PDPL_SCOPE_ANY);
  cr_assert_eq(p->action.kind, PDPL_SCOPE_ANY);
  cr_assert_eq(p->resource.kind, PDPL_SCOPE_ANY);
  cr_assert_eq(p->n_conditions, 0);
  cr_assert_not(p->is_template);
  cr_assert(tl_str_is(p->id, "policy0"));
  cr_assert_eq(p->pos.line, 1);
  cr_assert_eq(p->pos.col, 1);
}

Test(lang_parser, scope_eq_in_is_and_is_in_carry_uids_and_types) {
  pdpl_policy *p =
      tl_policy("forbid(principal == App::User::\"al\\\"ice\", action in Action::\"read\","
                " resource is Photo in Album::\"a\");");
  cr_assert_eq(p->effect, PDPL_FORBID);
  cr_assert_eq(p->principal.kind, PDPL_SCOPE_EQ);
  cr_assert(tl_str_is(p->principal.uid.type, "App::User"));
  cr_assert(tl_str_is(p->principal.uid.id, "al\"ice"));
  cr_assert_eq(p->action.kind, PDPL_SCOPE_IN);
  cr_assert(tl_str_is(p->action.uid.type, "Action"));
  cr_assert_eq(p->resource.kind, PDPL_SCOPE_IS_IN);
  cr_assert(tl_str_is(p->resource.type, "Photo"));
  cr_assert(tl_str_is(p->resource.uid.type, "Album"));
  cr_assert(tl_str_is(p->resource.uid.id, "a"));

  p = tl_policy(
      "permit(principal is NS::User, action == NS::Action::\"x\", resource in Folder::\"f\");");
  cr_assert_eq(p->principal.kind, PDPL_SCOPE_IS);
  cr_assert(tl_str_is(p->principal.type, "NS::User"));
  cr_assert_eq(p->action.kind, PDPL_SCOPE_EQ);
  cr_assert(tl_str_is(p->action.uid.type, "NS::Action"));
  cr_assert_eq(p->resource.kind, PDPL_SCOPE_IN);
}

Test(lang_parser, action_in_list_keeps_every_uid_in_order) {
  pdpl_policy *p = tl_policy(
      "permit(principal, action in [Action::\"a\", Action::\"b\", X::Action::\"c\",], resource);");
  cr_assert_eq(p->action.kind, PDPL_SCOPE_IN_LIST);
  cr_assert_eq(p->action.n_list, 3);
  cr_assert(tl_str_is(p->action.list[0].id, "a"));
  cr_assert(tl_str_is(p->action.list[2].type, "X::Action"));
  p = tl_policy("permit(principal, action in [], resource);");
  cr_assert_eq(p->action.kind, PDPL_SCOPE_IN_LIST);
  cr_assert_eq(p->action.n_list, 0);
}

Test(lang_parser, templates_use_slots_in_principal_and_resource) {
  pdpl_policy *p =
      tl_policy("permit(principal == ?principal, action, resource is Doc in ?resource);");
  cr_assert(p->is_template);
  cr_assert_eq(p->principal.kind, PDPL_SCOPE_EQ);
  cr_assert(p->principal.is_slot);
  cr_assert_eq(p->principal.slot, PDPL_SLOT_PRINCIPAL);
  cr_assert_eq(p->resource.kind, PDPL_SCOPE_IS_IN);
  cr_assert(p->resource.is_slot);
  cr_assert_eq(p->resource.slot, PDPL_SLOT_RESOURCE);
  p = tl_policy("permit(principal in ?principal, action, resource);");
  cr_assert(p->is_template);
  cr_assert_eq(p->principal.kind, PDPL_SCOPE_IN);
  cr_assert_not(p->resource.is_slot);
}

Test(lang_parser, annotations_are_kept_and_id_names_the_policy) {
  pdpl_policy *p =
      tl_policy("@id(\"p-1\") @advice(\"a\\nb\") @flag\npermit(principal, action, resource);");
  cr_assert_eq(p->n_annotations, 3);
  cr_assert(tl_str_is(p->annotations[0].key, "id"));
  cr_assert(tl_str_is(p->annotations[1].value, "a\nb"));
  cr_assert(tl_str_is(p->annotations[2].key, "flag"));
  cr_assert_eq(p->annotations[2].value.len, 0);
  cr_assert(tl_str_is(p->id, "p-1"));
  cr_assert_eq(p->pos.col, 1, "the policy starts at its first annotation");
}

Test(lang_parser, generated_ids_count_every_policy_and_continue_across_calls) {
  const char *text = "permit(principal, action, resource);\n"
                     "@id(\"named\") forbid(principal, action, resource);\n"
                     "permit(principal, action, resource);\n";
  uint32_t idx = 5;
  cr_assert_eq(pdpl_parse(&tl_arena, "a", text, strlen(text), &idx, &tl_out, &tl_errs), 0);
  cr_assert_eq(idx, 8);
  cr_assert(tl_str_is(tl_out.items[0].id, "policy5"));
  cr_assert(tl_str_is(tl_out.items[1].id, "named"));
  cr_assert(tl_str_is(tl_out.items[2].id, "policy7"));
  /* A broken policy still takes its number. */
  const char *more = "permit(oops);\npermit(principal, action, resource);";
  cr_assert_eq(pdpl_parse(&tl_arena, "b", more, strlen(more), &idx, &tl_out, &tl_errs), 1);
  cr_assert_eq(idx, 10);
  cr_assert_eq(tl_out.n, 4);
  cr_assert(tl_str_is(tl_out.items[3].id, "policy9"));
}

Test(lang_parser, many_policies_grow_the_output_array) {
  char *text = malloc(40 * 1000 + 1);
  text[0] = '\0';
  for (int i = 0; i < 1000; i++) strcat(text, "forbid(principal,action,resource);\n");
  cr_assert_eq(tl_parse(text), 0);
  cr_assert_eq(tl_out.n, 1000);
  cr_assert(tl_str_is(tl_out.items[999].id, "policy999"));
  cr_assert_eq(tl_out.items[999].pos.line, 1000);
  free(text);
}

Test(lang_parser, conditions_keep_source_order_and_kind) {
  pdpl_policy *p = tl_policy(
      "permit(principal, action, resource) when { true } unless { false } when { 1 == 1 };");
  cr_assert_eq(p->n_conditions, 3);
  cr_assert(p->conditions[0].is_when);
  cr_assert_not(p->conditions[1].is_when);
  cr_assert_eq(p->conditions[1].body->kind, PDPL_E_BOOL);
  cr_assert_not(p->conditions[1].body->u.lit.b);
  ASSERT_BIN(p->conditions[2].body, PDPL_OP_EQ);
}

Test(lang_parser, precedence_builds_the_expected_tree) {
  /* ((1 + (2 * 3)) == 7) && (!(a.b)) */
  pdpl_expr *e = tl_expr("1 + 2 * 3 == 7 && !context.b");
  ASSERT_BIN(e, PDPL_OP_AND);
  pdpl_expr *eq = e->u.binary.lhs;
  ASSERT_BIN(eq, PDPL_OP_EQ);
  ASSERT_LONG(eq->u.binary.rhs, 7);
  pdpl_expr *add = eq->u.binary.lhs;
  ASSERT_BIN(add, PDPL_OP_ADD);
  ASSERT_LONG(add->u.binary.lhs, 1);
  ASSERT_BIN(add->u.binary.rhs, PDPL_OP_MUL);
  ASSERT_LONG(add->u.binary.rhs->u.binary.lhs, 2);
  pdpl_expr *neg = e->u.binary.rhs;
  cr_assert_eq(neg->kind, PDPL_E_NOT);
  cr_assert_eq(neg->u.unary.arg->kind, PDPL_E_GETATTR);
  cr_assert(tl_str_is(neg->u.unary.arg->u.attr.name, "b"));
  cr_assert_eq(neg->u.unary.arg->u.attr.target->kind, PDPL_E_VAR);
  cr_assert_eq(neg->u.unary.arg->u.attr.target->u.var, PDPL_VAR_CONTEXT);
}

Test(lang_parser, or_binds_looser_than_and_and_arithmetic_is_left_associative) {
  pdpl_expr *e = tl_expr("true || false && true");
  ASSERT_BIN(e, PDPL_OP_OR);
  ASSERT_BIN(e->u.binary.rhs, PDPL_OP_AND);
  e = tl_expr("10 - 2 - 3 < 6");
  ASSERT_BIN(e, PDPL_OP_LT);
  ASSERT_BIN(e->u.binary.lhs, PDPL_OP_SUB);
  ASSERT_BIN(e->u.binary.lhs->u.binary.lhs, PDPL_OP_SUB);
  ASSERT_LONG(e->u.binary.lhs->u.binary.rhs, 3);
}

Test(lang_parser, every_relational_operator_maps_to_its_op) {
  const char *src[] = {
      "1 == 2", "1 != 2", "1 < 2", "1 <= 2", "1 > 2", "1 >= 2", "principal in resource"};
  pdpl_binop ops[] = {PDPL_OP_EQ, PDPL_OP_NE, PDPL_OP_LT, PDPL_OP_LE,
                      PDPL_OP_GT, PDPL_OP_GE, PDPL_OP_IN};
  for (int i = 0; i < 7; i++) ASSERT_BIN(tl_expr(src[i]), ops[i]);
}

Test(lang_parser, if_then_else_takes_whole_expressions) {
  pdpl_expr *e = tl_expr("if principal has a then 1 else 2 || 3");
  cr_assert_eq(e->kind, PDPL_E_IF);
  cr_assert_eq(e->u.cond.cond->kind, PDPL_E_HAS);
  ASSERT_LONG(e->u.cond.then_, 1);
  ASSERT_BIN(e->u.cond.else_, PDPL_OP_OR);
  e = tl_expr("1 + (if true then 2 else 3) == 3");
  ASSERT_BIN(e, PDPL_OP_EQ);
  cr_assert_eq(e->u.binary.lhs->u.binary.rhs->kind, PDPL_E_IF);
}

Test(lang_parser, negative_literals_fold_including_the_minimum) {
  ASSERT_LONG(tl_expr("-9223372036854775808"), INT64_MIN);
  ASSERT_LONG(tl_expr("9223372036854775807"), INT64_MAX);
  ASSERT_LONG(tl_expr("-  5"), -5);
  pdpl_expr *e = tl_expr("--5");
  cr_assert_eq(e->kind, PDPL_E_NEG);
  ASSERT_LONG(e->u.unary.arg, -5);
  e = tl_expr("-(5)");
  cr_assert_eq(e->kind, PDPL_E_NEG);
  ASSERT_LONG(e->u.unary.arg, 5);
  e = tl_expr("!!!!true");
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(e->kind, PDPL_E_NOT);
    e = e->u.unary.arg;
  }
  cr_assert_eq(e->kind, PDPL_E_BOOL);
}

Test(lang_parser, entity_literals_variables_and_strings) {
  pdpl_expr *e = tl_expr("A::B::C::\"x\\u{1F600}\\0y\" == resource");
  pdpl_expr *u = e->u.binary.lhs;
  cr_assert_eq(u->kind, PDPL_E_ENTITY);
  cr_assert(tl_str_is(u->u.lit.uid.type, "A::B::C"));
  cr_assert_eq(u->u.lit.uid.id.len, 7);
  cr_assert_eq(memcmp(u->u.lit.uid.id.ptr, "x\xF0\x9F\x98\x80\0y", 7), 0);
  cr_assert_eq(e->u.binary.rhs->u.var, PDPL_VAR_RESOURCE);
  e = tl_expr("A :: B :: \"spaced\" == action");
  cr_assert(tl_str_is(e->u.binary.lhs->u.lit.uid.type, "A::B"));
  cr_assert_eq(e->u.binary.rhs->u.var, PDPL_VAR_ACTION);
  e = tl_expr("principal::\"p\" == principal");
  cr_assert_eq(e->u.binary.lhs->kind, PDPL_E_ENTITY);
  cr_assert(tl_str_is(e->u.binary.lhs->u.lit.uid.type, "principal"));
}

Test(lang_parser, sets_and_records_keep_items_in_order) {
  pdpl_expr *e = tl_expr("[1, \"two\", [3], {a: 1, \"b c\": [], permit: 2,}].isEmpty()");
  cr_assert_eq(e->kind, PDPL_E_CALL);
  cr_assert_eq(e->u.call.fn, PDPL_FN_IS_EMPTY);
  cr_assert_eq(e->u.call.n, 1);
  pdpl_expr *s = e->u.call.args[0];
  cr_assert_eq(s->kind, PDPL_E_SET);
  cr_assert_eq(s->u.list.n, 4);
  cr_assert_eq(s->u.list.items[1]->kind, PDPL_E_STRING);
  cr_assert_eq(s->u.list.items[2]->kind, PDPL_E_SET);
  pdpl_expr *r = s->u.list.items[3];
  cr_assert_eq(r->kind, PDPL_E_RECORD);
  cr_assert_eq(r->u.record.n, 3);
  cr_assert(tl_str_is(r->u.record.keys[0], "a"));
  cr_assert(tl_str_is(r->u.record.keys[1], "b c"));
  cr_assert(tl_str_is(r->u.record.keys[2], "permit"));
  cr_assert_eq(r->u.record.values[1]->kind, PDPL_E_SET);
  cr_assert_eq(tl_expr("{}")->u.record.n, 0);
  cr_assert_eq(tl_expr("[]")->u.list.n, 0);
}

Test(lang_parser, functions_and_methods_map_to_pdpl_fn_with_receiver_first) {
  pdpl_expr *e = tl_expr("ip(\"10.0.0.1\").isInRange(ip(\"10.0.0.0/8\"))");
  cr_assert_eq(e->kind, PDPL_E_CALL);
  cr_assert_eq(e->u.call.fn, PDPL_FN_IS_IN_RANGE);
  cr_assert_eq(e->u.call.n, 2);
  cr_assert_eq(e->u.call.args[0]->u.call.fn, PDPL_FN_IP);
  cr_assert_eq(e->u.call.args[0]->u.call.args[0]->kind, PDPL_E_STRING);
  const struct {
    const char *src;
    pdpl_fn fn;
    uint32_t n;
  } cases[] = {
      {"[1].contains(1)", PDPL_FN_CONTAINS, 2},
      {"[1].containsAll([1])", PDPL_FN_CONTAINS_ALL, 2},
      {"[1].containsAny([1])", PDPL_FN_CONTAINS_ANY, 2},
      {"principal.getTag(\"t\")", PDPL_FN_GET_TAG, 2},
      {"principal.hasTag(\"t\")", PDPL_FN_HAS_TAG, 2},
      {"decimal(\"1.0\").lessThanOrEqual(decimal(\"2.0\"))", PDPL_FN_LESS_THAN_OR_EQUAL, 2},
      {"datetime(\"2024-01-01\").offset(duration(\"1h\")).toDate()", PDPL_FN_TO_DATE, 1},
      {"duration(\"1h\").toMilliseconds()", PDPL_FN_TO_MILLISECONDS, 1},
      {"context.t.durationSince(context.u)", PDPL_FN_DURATION_SINCE, 2},
      {"ip(\"::1\").isLoopback()", PDPL_FN_IS_LOOPBACK, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pdpl_expr *c = tl_expr(cases[i].src);
    cr_assert_eq(c->kind, PDPL_E_CALL, "%s", cases[i].src);
    cr_assert_eq(c->u.call.fn, cases[i].fn, "%s", cases[i].src);
    cr_assert_eq(c->u.call.n, cases[i].n, "%s", cases[i].src);
    cr_assert_eq(pdpl_fn_arity(cases[i].fn), cases[i].n, "%s", cases[i].src);
  }
}

Test(lang_parser, extension_calls_with_a_wrong_count_parse_as_cedar_does) {
  pdpl_expr *e = tl_expr("ip(\"a\", \"b\").isMulticast(1)");
  cr_assert_eq(e->u.call.fn, PDPL_FN_IS_MULTICAST);
  cr_assert_eq(e->u.call.n, 2);
  cr_assert_neq(e->u.call.n, pdpl_fn_arity(PDPL_FN_IS_MULTICAST));
  cr_assert_eq(e->u.call.args[0]->u.call.n, 2);
}

Test(lang_parser, member_access_by_dot_and_index) {
  pdpl_expr *e = tl_expr("principal[\"a b\"].c[\"\\u{41}\"]");
  cr_assert_eq(e->kind, PDPL_E_GETATTR);
  cr_assert(tl_str_is(e->u.attr.name, "A"));
  cr_assert(tl_str_is(e->u.attr.target->u.attr.name, "c"));
  cr_assert(tl_str_is(e->u.attr.target->u.attr.target->u.attr.name, "a b"));
  e = tl_expr("context.contains");
  cr_assert_eq(e->kind, PDPL_E_GETATTR, "a method name without parentheses is an attribute");
}

Test(lang_parser, has_takes_a_name_a_string_or_a_dotted_path) {
  pdpl_expr *e = tl_expr("principal has name");
  cr_assert_eq(e->kind, PDPL_E_HAS);
  cr_assert(tl_str_is(e->u.attr.name, "name"));
  e = tl_expr("principal has \"the name\"");
  cr_assert(tl_str_is(e->u.attr.name, "the name"));
  /* (r has a) && (r.a has b)) && (r.a.b has c) */
  e = tl_expr("resource has a.b.c");
  ASSERT_BIN(e, PDPL_OP_AND);
  pdpl_expr *last = e->u.binary.rhs;
  cr_assert_eq(last->kind, PDPL_E_HAS);
  cr_assert(tl_str_is(last->u.attr.name, "c"));
  cr_assert_eq(last->u.attr.target->kind, PDPL_E_GETATTR);
  cr_assert(tl_str_is(last->u.attr.target->u.attr.name, "b"));
  cr_assert(tl_str_is(last->u.attr.target->u.attr.target->u.attr.name, "a"));
  cr_assert_eq(last->u.attr.target->u.attr.target->u.attr.target->u.var, PDPL_VAR_RESOURCE);
  ASSERT_BIN(e->u.binary.lhs, PDPL_OP_AND);
  pdpl_expr *first = e->u.binary.lhs->u.binary.lhs;
  cr_assert_eq(first->kind, PDPL_E_HAS);
  cr_assert(tl_str_is(first->u.attr.name, "a"));
  cr_assert_eq(first->u.attr.target->kind, PDPL_E_VAR);
  pdpl_expr *mid = e->u.binary.lhs->u.binary.rhs;
  cr_assert(tl_str_is(mid->u.attr.name, "b"));
  cr_assert(tl_str_is(mid->u.attr.target->u.attr.name, "a"));
  e = tl_expr("context has principal && true");
  ASSERT_BIN(e, PDPL_OP_AND);
  cr_assert(tl_str_is(e->u.binary.lhs->u.attr.name, "principal"));
}

Test(lang_parser, like_patterns_split_into_runs_and_wildcards) {
  pdpl_expr *e = tl_expr("context.s like \"a*b\\*c**\"");
  cr_assert_eq(e->kind, PDPL_E_LIKE);
  cr_assert_eq(e->u.like.n, 4);
  cr_assert(tl_str_is(e->u.like.elems[0].lit, "a"));
  cr_assert(e->u.like.elems[1].wildcard);
  cr_assert_not(e->u.like.elems[2].wildcard);
  cr_assert(tl_str_is(e->u.like.elems[2].lit, "b*c"));
  cr_assert(e->u.like.elems[3].wildcard, "adjacent stars are one wildcard");
  e = tl_expr("\"\" like \"\"");
  cr_assert_eq(e->u.like.n, 0);
  e = tl_expr("\"x\" like \"*\\t\"");
  cr_assert_eq(e->u.like.n, 2);
  cr_assert(tl_str_is(e->u.like.elems[1].lit, "\t"));
}

Test(lang_parser, is_takes_a_type_path_and_an_optional_in) {
  pdpl_expr *e = tl_expr("principal is A::User");
  cr_assert_eq(e->kind, PDPL_E_IS);
  cr_assert(tl_str_is(e->u.is.type, "A::User"));
  cr_assert_null(e->u.is.in);
  e = tl_expr("principal is User in Group::\"g\" && true");
  ASSERT_BIN(e, PDPL_OP_AND);
  pdpl_expr *is = e->u.binary.lhs;
  cr_assert_eq(is->kind, PDPL_E_IS);
  cr_assert_eq(is->u.is.in->kind, PDPL_E_ENTITY);
}

Test(lang_parser, comments_and_whitespace_are_ignored_anywhere) {
  pdpl_policy *p = tl_policy(
      "// leading\n@id // c\n(\"x\")\npermit // c\n(\tprincipal // c\n,action,resource\r\n)"
      " when // c\n{ // c\n1 // c\n+ 2 == 3 } // c\n; // trailing");
  cr_assert(tl_str_is(p->id, "x"));
  ASSERT_BIN(p->conditions[0].body, PDPL_OP_EQ);
  cr_assert_eq(p->pos.line, 2);
}

Test(lang_parser, expression_positions_point_at_their_start) {
  pdpl_policy *p =
      tl_policy("permit(principal, action, resource)\nwhen {\n  context.a &&\n    !resource.b };");
  pdpl_expr *e = p->conditions[0].body;
  cr_assert_eq(e->pos.line, 3);
  cr_assert_eq(e->pos.col, 3);
  cr_assert_eq(e->u.binary.rhs->pos.line, 4);
  cr_assert_eq(e->u.binary.rhs->pos.col, 5);
  cr_assert_str_eq(e->pos.file, "t.cedar");
  cr_assert_eq(p->action.pos.col, 19);
}

Test(lang_parser, strings_in_the_ast_are_copies_in_the_arena) {
  char *text = strdup(
      "@k(\"v\") permit(principal == U::\"u\", action, resource) when { context.attr == \"s\" };");
  pdpl_policy *p = tl_policy(text);
  memset(text, 'X', strlen(text));
  free(text);
  cr_assert(tl_str_is(p->annotations[0].key, "k"));
  cr_assert(tl_str_is(p->principal.uid.type, "U"));
  cr_assert(tl_str_is(p->conditions[0].body->u.binary.lhs->u.attr.name, "attr"));
  cr_assert(tl_str_is(p->conditions[0].body->u.binary.rhs->u.lit.s, "s"));
}

Test(lang_parser, reserved_words_are_fine_where_cedar_allows_them) {
  /* Annotation keys may be any identifier; permit/when/... are not reserved. */
  pdpl_policy *p =
      tl_policy("@if(\"x\") @permit permit(principal, action, resource) when { context.when && "
                "{unless: 1}.unless == 1 && permit::\"x\" == principal };");
  cr_assert(tl_str_is(p->annotations[0].key, "if"));
}

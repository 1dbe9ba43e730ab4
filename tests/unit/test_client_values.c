/* test_client_values.c - ownership in the C client's value builder.
 *
 * Values form trees: adding a value to a second parent, or adding a value into itself or
 * into something it contains, must be refused without taking the value, so that freeing
 * each root once frees everything once (ASan / valgrind prove no double free or leak) and
 * encoding never walks a cycle.
 */
#include "../../clients/c/pdpc.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static int encode_with_context(const pdpc_value *ctx) {
  pdpc_check_req req = {.principal = {"User", "a"},
                        .action = {"Action", "v"},
                        .resource = {"D", "d"},
                        .context = ctx};
  uint8_t *frame = NULL;
  size_t len = 0;
  int rc = pdpc_encode_check(&req, 1, &frame, &len);
  free(frame);
  return rc;
}

Test(client_values, a_value_added_once_cannot_be_added_to_a_second_parent) {
  pdpc_value *first = pdpc_value_set(), *second = pdpc_value_set(), *rec = pdpc_value_record();
  pdpc_value *x = pdpc_value_long(7);
  pdpc_entity *e = pdpc_entity_new("User", "u");
  cr_assert_eq(pdpc_set_add(first, x), 0);
  cr_assert_eq(pdpc_set_add(second, x), PDPC_E_INVAL);
  cr_assert_eq(pdpc_set_add(first, x), PDPC_E_INVAL, "not even twice into the same set");
  cr_assert_eq(pdpc_record_put(rec, "x", x), PDPC_E_INVAL);
  cr_assert_eq(pdpc_entity_attr(e, "x", x), PDPC_E_INVAL);
  cr_assert_eq(pdpc_entity_tag(e, "x", x), PDPC_E_INVAL);
  cr_assert_eq(pdpc_entity_attr(NULL, "x", x), PDPC_E_INVAL,
               "a bad entity does not free an owned value");
  /* the refused parents are still fine, and x still belongs to `first` */
  cr_assert_eq(pdpc_set_add(second, pdpc_value_long(8)), 0);
  cr_assert_eq(pdpc_record_put(rec, "x", pdpc_value_long(9)), 0);
  cr_assert_eq(pdpc_record_put(rec, "first", first), 0);
  cr_assert_eq(encode_with_context(rec), 0);
  /* an entity's attribute is owned as well */
  pdpc_value *y = pdpc_value_string("y");
  cr_assert_eq(pdpc_entity_attr(e, "y", y), 0);
  cr_assert_eq(pdpc_set_add(second, y), PDPC_E_INVAL);
  cr_assert_eq(pdpc_entity_tag(e, "y", y), PDPC_E_INVAL);
  pdpc_entity_free(e);
  pdpc_value_free(second);
  pdpc_value_free(rec); /* frees first and x, once */
}

Test(client_values, a_value_cannot_be_put_inside_itself_directly_or_through_others) {
  pdpc_value *a = pdpc_value_set(), *b = pdpc_value_record(), *c = pdpc_value_set();
  cr_assert_eq(pdpc_set_add(a, a), PDPC_E_INVAL, "directly");
  cr_assert_eq(pdpc_record_put(b, "self", b), PDPC_E_INVAL);
  cr_assert_eq(pdpc_record_put(b, "c", c), 0);
  cr_assert_eq(pdpc_set_add(a, b), 0); /* a > b > c */
  cr_assert_eq(pdpc_set_add(c, a), PDPC_E_INVAL, "through two others");
  cr_assert_eq(pdpc_set_add(c, b), PDPC_E_INVAL, "through one");
  cr_assert_eq(pdpc_set_add(c, pdpc_value_bool(true)), 0,
               "a refused insert leaves the parent usable");
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "a", a), 0);
  cr_assert_eq(encode_with_context(ctx), 0, "the tree encodes: no cycle was made");
  cr_assert_eq(pdpc_record_put(b, "ctx", ctx), PDPC_E_INVAL, "the root is an ancestor too");
  pdpc_value_free(ctx);
}

Test(client_values, freeing_a_value_that_a_parent_owns_leaves_it_to_the_parent) {
  pdpc_value *set = pdpc_value_set(), *inner = pdpc_value_set();
  cr_assert_eq(pdpc_set_add(inner, pdpc_value_string("s")), 0);
  cr_assert_eq(pdpc_set_add(set, inner), 0);
  pdpc_value_free(inner); /* ignored: set owns it */
  cr_assert_eq(pdpc_set_add(inner, pdpc_value_long(1)), 0, "inner is still alive");
  pdpc_value *ctx = pdpc_value_record();
  cr_assert_eq(pdpc_record_put(ctx, "set", set), 0);
  cr_assert_eq(encode_with_context(ctx), 0);
  pdpc_value_free(ctx);
  pdpc_value_free(NULL);
}

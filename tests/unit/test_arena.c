#include <criterion/criterion.h>
#include "../../pdp/util/pu.h"
Test(arena, allocations_are_aligned_and_reset_reuses) {
  pu_arena a;
  pu_arena_init(&a, 256, 0);
  for (int i = 0; i < 100; i++) {
    void *p = pu_arena_alloc(&a, 7);
    cr_assert_not_null(p);
    cr_assert_eq(((uintptr_t)p) % 16, 0);
  }
  pu_arena_reset(&a);
  cr_assert_eq(a.used, 0);
  pu_arena_close(&a);
}

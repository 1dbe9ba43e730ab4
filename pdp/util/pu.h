/* pu.h - small shared utilities for pdpd: a bump arena and length-counted strings.
 *
 * The arena hands out memory that lives until pu_arena_reset() or pu_arena_close();
 * nothing allocated from it is freed one by one.  Requests use one arena each (reset after
 * the answer is written), snapshots own one arena for their whole life.  An optional budget
 * makes pu_arena_alloc() fail (return NULL) instead of growing without bound, which is how
 * untrusted input (a decoded frame, a request's entities) is kept small.
 */
#ifndef PDP_UTIL_PU_H
#define PDP_UTIL_PU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed, length-counted byte string.  Cedar strings may hold NUL (via \0 or \u{0}),
 * so every string in the engine carries its length; `ptr` need not be NUL-terminated. */
typedef struct pu_str {
  const char *ptr;
  size_t len;
} pu_str;

#define PU_STR_LIT(s) ((pu_str){(s), sizeof(s) - 1})
pu_str pu_str_c(const char *cstr); /* borrows cstr; NULL gives the empty string */
bool pu_str_eq(pu_str a, pu_str b);
int pu_str_cmp(pu_str a, pu_str b); /* memcmp order, shorter first on a tie */
bool pu_str_eq_c(pu_str a, const char *cstr);

typedef struct pu_block pu_block;

typedef struct pu_arena {
  pu_block *head;    /* newest block; blocks are chained to older ones */
  size_t block_size; /* size of each ordinary block */
  size_t budget;     /* maximum bytes handed out before alloc fails; 0 = unlimited */
  size_t used;       /* bytes handed out since init or the last reset */
} pu_arena;

void pu_arena_init(pu_arena *a, size_t block_size, size_t budget);
/* 16-byte aligned memory, or NULL when out of memory or past the budget. */
void *pu_arena_alloc(pu_arena *a, size_t n);
void *pu_arena_zalloc(pu_arena *a, size_t n);
/* Copies n bytes and appends a NUL (not counted in n).  NULL on failure. */
char *pu_arena_memdup(pu_arena *a, const void *p, size_t n);
char *pu_arena_strdup(pu_arena *a, const char *s);
pu_str pu_arena_str(pu_arena *a, pu_str s); /* copy; .ptr NULL on failure */
/* printf into the arena; NULL on failure. */
char *pu_arena_printf(pu_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget every allocation but keep the first block for reuse (no free on the hot path). */
void pu_arena_reset(pu_arena *a);
void pu_arena_close(pu_arena *a);

#endif

/* arena.c - the bump allocator behind every request and every snapshot (see pu.h).
 *
 * Blocks are malloc'd and chained newest-first.  An allocation larger than a quarter of the
 * block size gets a block of its own so large values do not waste the tail of a block.
 * Reset keeps the oldest block (the one made by the first allocation) so that a warm
 * connection arena does not touch malloc again.
 */
#include "pu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pu_block {
  pu_block *next; /* older block */
  size_t size;    /* usable bytes in data[] */
  size_t off;     /* bytes used in data[] */
  _Alignas(16) unsigned char data[];
};

pu_str pu_str_c(const char *cstr) {
  return (pu_str){cstr ? cstr : "", cstr ? strlen(cstr) : 0};
}

bool pu_str_eq(pu_str a, pu_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int pu_str_cmp(pu_str a, pu_str b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
  if (c != 0) return c;
  return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool pu_str_eq_c(pu_str a, const char *cstr) {
  return pu_str_eq(a, pu_str_c(cstr));
}

void pu_arena_init(pu_arena *a, size_t block_size, size_t budget) {
  a->head = NULL;
  a->block_size = block_size ? block_size : 4096;
  a->budget = budget;
  a->used = 0;
}

static pu_block *block_new(size_t size, pu_block *next) {
  pu_block *b = malloc(sizeof(*b) + size);
  if (!b) return NULL;
  b->next = next;
  b->size = size;
  b->off = 0;
  return b;
}

void *pu_arena_alloc(pu_arena *a, size_t n) {
  size_t need = (n + 15) & ~(size_t)15;
  if (need < n) return NULL; /* overflow */
  if (a->budget && (need > a->budget || a->used > a->budget - need)) return NULL;
  pu_block *b = a->head;
  if (!b || b->size - b->off < need) {
    if (need > a->block_size / 4) {
      /* Big allocation: its own block, slotted behind the current head so the head's
       * free tail stays usable. */
      pu_block *big = block_new(need, b ? b->next : NULL);
      if (!big) return NULL;
      big->off = need;
      if (b)
        b->next = big;
      else
        a->head = big;
      a->used += need;
      return big->data;
    }
    b = block_new(a->block_size, a->head);
    if (!b) return NULL;
    a->head = b;
  }
  void *p = b->data + b->off;
  b->off += need;
  a->used += need;
  return p;
}

void *pu_arena_zalloc(pu_arena *a, size_t n) {
  void *p = pu_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

char *pu_arena_memdup(pu_arena *a, const void *p, size_t n) {
  char *d = pu_arena_alloc(a, n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

char *pu_arena_strdup(pu_arena *a, const char *s) {
  return pu_arena_memdup(a, s, strlen(s));
}

pu_str pu_arena_str(pu_arena *a, pu_str s) {
  return (pu_str){pu_arena_memdup(a, s.ptr, s.len), s.len};
}

char *pu_arena_printf(pu_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return NULL;
  char *d = pu_arena_alloc(a, (size_t)n + 1);
  if (!d) return NULL;
  va_start(ap, fmt);
  vsnprintf(d, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return d;
}

void pu_arena_reset(pu_arena *a) {
  pu_block *keep = NULL;
  pu_block *b = a->head;
  while (b) {
    pu_block *next = b->next;
    if (!next && b->size == a->block_size) {
      keep = b; /* the oldest ordinary block survives */
    } else {
      free(b);
    }
    b = next;
  }
  if (keep) {
    keep->off = 0;
    keep->next = NULL;
  }
  a->head = keep;
  a->used = 0;
}

void pu_arena_close(pu_arena *a) {
  pu_block *b = a->head;
  while (b) {
    pu_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->used = 0;
}

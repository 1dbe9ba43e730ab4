/* format.c - the text pdp/lang writes: error lines, entity uids in Cedar syntax, and the
 * table of built-in function and method names (with call style and argument count).
 *
 * The escaping of ids follows Cedar's printing of strings: \" \\ \n \r \t \0 and other
 * control bytes as \u{X}; everything else (including UTF-8) is written as is.
 */
#include "pdpl_int.h"

#include <stdio.h>
#include <string.h>

static const pdpl_fn_info fn_table[PDPL_FN__COUNT] = {
    {PDPL_FN_CONTAINS, "contains", true, 1},
    {PDPL_FN_CONTAINS_ALL, "containsAll", true, 1},
    {PDPL_FN_CONTAINS_ANY, "containsAny", true, 1},
    {PDPL_FN_IS_EMPTY, "isEmpty", true, 0},
    {PDPL_FN_GET_TAG, "getTag", true, 1},
    {PDPL_FN_HAS_TAG, "hasTag", true, 1},
    {PDPL_FN_IP, "ip", false, 1},
    {PDPL_FN_DECIMAL, "decimal", false, 1},
    {PDPL_FN_DATETIME, "datetime", false, 1},
    {PDPL_FN_DURATION, "duration", false, 1},
    {PDPL_FN_IS_IPV4, "isIpv4", true, 0},
    {PDPL_FN_IS_IPV6, "isIpv6", true, 0},
    {PDPL_FN_IS_LOOPBACK, "isLoopback", true, 0},
    {PDPL_FN_IS_MULTICAST, "isMulticast", true, 0},
    {PDPL_FN_IS_IN_RANGE, "isInRange", true, 1},
    {PDPL_FN_LESS_THAN, "lessThan", true, 1},
    {PDPL_FN_LESS_THAN_OR_EQUAL, "lessThanOrEqual", true, 1},
    {PDPL_FN_GREATER_THAN, "greaterThan", true, 1},
    {PDPL_FN_GREATER_THAN_OR_EQUAL, "greaterThanOrEqual", true, 1},
    {PDPL_FN_OFFSET, "offset", true, 1},
    {PDPL_FN_DURATION_SINCE, "durationSince", true, 1},
    {PDPL_FN_TO_DATE, "toDate", true, 0},
    {PDPL_FN_TO_TIME, "toTime", true, 0},
    {PDPL_FN_TO_DAYS, "toDays", true, 0},
    {PDPL_FN_TO_HOURS, "toHours", true, 0},
    {PDPL_FN_TO_MINUTES, "toMinutes", true, 0},
    {PDPL_FN_TO_SECONDS, "toSeconds", true, 0},
    {PDPL_FN_TO_MILLISECONDS, "toMilliseconds", true, 0},
};

const char *pdpl_fn_name(pdpl_fn fn) {
  if ((unsigned)fn >= PDPL_FN__COUNT) return "?";
  return fn_table[fn].name;
}

uint32_t pdpl_fn_arity(pdpl_fn fn) {
  if ((unsigned)fn >= PDPL_FN__COUNT) return 0;
  return fn_table[fn].argc + (fn_table[fn].method ? 1u : 0u);
}

const pdpl_fn_info *pdpl_fn_lookup(const char *name, size_t len) {
  for (size_t i = 0; i < PDPL_FN__COUNT; i++) {
    if (strlen(fn_table[i].name) == len && memcmp(fn_table[i].name, name, len) == 0)
      return &fn_table[i];
  }
  return NULL;
}

const char *pdpl_error_format(const pdpl_error *e, char *buf, size_t cap) {
  if (!buf || cap == 0) return buf;
  snprintf(buf, cap, "%s:%u:%u: %s", e->pos.file ? e->pos.file : "<input>", (unsigned)e->pos.line,
           (unsigned)e->pos.col, e->msg);
  return buf;
}

bool pdpl_escape_into(pu_str s, char *buf, size_t *n, size_t cap) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    char tmp[16];
    const char *w = tmp;
    size_t k;
    switch (c) {
    case '"':
      w = "\\\"";
      break;
    case '\\':
      w = "\\\\";
      break;
    case '\n':
      w = "\\n";
      break;
    case '\r':
      w = "\\r";
      break;
    case '\t':
      w = "\\t";
      break;
    case '\0':
      w = "\\0";
      break;
    default:
      if (c < 0x20 || c == 0x7f)
        snprintf(tmp, sizeof tmp, "\\u{%x}", c);
      else
        tmp[0] = (char)c, tmp[1] = '\0';
    }
    k = strlen(w);
    if (*n + k >= cap) return false;
    memcpy(buf + *n, w, k);
    *n += k;
  }
  if (*n < cap) buf[*n] = '\0';
  return true;
}

pu_str pdpl_uid_format(pu_arena *arena, pdpl_uid uid) {
  /* Worst case: every id byte becomes \u{1f} (6 bytes). */
  if (uid.id.len > (SIZE_MAX - uid.type.len - 8) / 6) return (pu_str){NULL, 0};
  size_t cap = uid.type.len + 4 + uid.id.len * 6 + 1;
  char *buf = pu_arena_alloc(arena, cap);
  if (!buf) return (pu_str){NULL, 0};
  size_t n = 0;
  if (uid.type.len) memcpy(buf, uid.type.ptr, uid.type.len);
  n = uid.type.len;
  memcpy(buf + n, "::\"", 3);
  n += 3;
  if (!pdpl_escape_into(uid.id, buf, &n, cap - 1)) return (pu_str){NULL, 0};
  buf[n++] = '"';
  buf[n] = '\0';
  return (pu_str){buf, n};
}

/* ext.c - Cedar's extension types: ipaddr, decimal, datetime and duration.
 *
 * Each constructor follows cedar-policy-core's extensions/ exactly: which strings parse,
 * which overflow, and what each method answers (ip: IPv4 embedded in IPv6 text is refused,
 * a prefix has no leading zeros, the address keeps its host bits; decimal: at most four
 * fractional digits, i64 range; datetime: "YYYY-MM-DD" optionally followed by
 * "Thh:mm:ss", optional ".SSS", then "Z" or "+hhmm"/"-hhmm"; duration: "1d2h3m4s5ms" with
 * units in that order, each at most once, optionally negative, every step checked for
 * overflow).  Values are plain integers and bytes; nothing here allocates.
 */
#include "pdpe_int.h"

#include <string.h>

#define DAY_MS INT64_C(86400000)

static bool fail(char *err, size_t cap, const char *msg, pu_str s) {
  int n = (int)(s.len > 64 ? 64 : s.len);
  if (s.ptr)
    snprintf(err, cap, "%s: \"%.*s\"", msg, n, s.ptr);
  else
    snprintf(err, cap, "%s", msg);
  return false;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* ---- ipaddr ---- */

/* Rust's Ipv4Addr grammar: four decimal octets, no leading zeros, each <= 255. */
static bool parse_v4(const char *s, size_t len, uint8_t out[4]) {
  size_t i = 0;
  for (int k = 0; k < 4; k++) {
    if (k > 0) {
      if (i >= len || s[i] != '.') return false;
      i++;
    }
    size_t st = i;
    unsigned v = 0;
    while (i < len && is_digit(s[i]) && i - st < 3) v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) return false;
    out[k] = (uint8_t)v;
  }
  return i == len;
}

/* Rust's Ipv6Addr grammar without embedded IPv4 (Cedar refuses that form anyway). */
static size_t read_groups(const char *s, size_t len, size_t *pos, uint16_t *g, size_t limit) {
  size_t i = 0;
  for (; i < limit; i++) {
    size_t p = *pos;
    if (i > 0) {
      if (p >= len || s[p] != ':') return i;
      p++;
    }
    size_t st = p;
    unsigned v = 0;
    while (p < len && p - st < 4 && hexval(s[p]) >= 0) v = v * 16 + (unsigned)hexval(s[p++]);
    if (p == st) return i;
    g[i] = (uint16_t)v;
    *pos = p;
  }
  return i;
}

static bool parse_v6(const char *s, size_t len, uint8_t out[16]) {
  uint16_t head[8] = {0}, tail[7] = {0};
  size_t pos = 0;
  size_t nh = read_groups(s, len, &pos, head, 8);
  if (nh < 8) {
    if (pos + 1 >= len || s[pos] != ':' || s[pos + 1] != ':') return false;
    pos += 2;
    size_t nt = read_groups(s, len, &pos, tail, 8 - (nh + 1));
    memmove(head + 8 - nt, tail, nt * sizeof(uint16_t));
  }
  if (pos != len) return false;
  for (int k = 0; k < 8; k++) {
    out[2 * k] = (uint8_t)(head[k] >> 8);
    out[2 * k + 1] = (uint8_t)head[k];
  }
  return true;
}

static size_t count_char(pu_str s, char c) {
  size_t n = 0;
  for (size_t i = 0; i < s.len; i++) n += s.ptr[i] == c;
  return n;
}

static bool parse_ip(pu_str s, pdpe_ip *ip, char *err, size_t cap) {
  memset(ip, 0, sizeof *ip);
  if (s.len > 43) return fail(err, cap, "invalid IP address (too long)", s);
  if (count_char(s, ':') >= 2 && count_char(s, '.') >= 2)
    return fail(err, cap, "IPv4 embedded in IPv6 is not accepted", s);
  const char *slash = memchr(s.ptr, '/', s.len);
  size_t alen = slash ? (size_t)(slash - s.ptr) : s.len;
  if (parse_v4(s.ptr, alen, ip->addr)) {
    ip->v6 = false;
    ip->prefix = 32;
  } else if (parse_v6(s.ptr, alen, ip->addr)) {
    ip->v6 = true;
    ip->prefix = 128;
  } else {
    return fail(err, cap, "invalid IP address", s);
  }
  if (slash) {
    const char *p = slash + 1;
    size_t plen = s.len - alen - 1;
    unsigned max = ip->v6 ? 128 : 32, v = 0;
    if (plen == 0 || plen > (ip->v6 ? 3u : 2u) || (plen > 1 && p[0] == '0'))
      return fail(err, cap, "invalid IP prefix", s);
    for (size_t i = 0; i < plen; i++) {
      if (!is_digit(p[i])) return fail(err, cap, "invalid IP prefix", s);
      v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > max) return fail(err, cap, "IP prefix out of range", s);
    ip->prefix = (uint8_t)v;
  }
  return true;
}

/* Network (host bits cleared) and broadcast (host bits set) of a range. */
static void ip_bounds(const pdpe_ip *ip, uint8_t lo[16], uint8_t hi[16]) {
  int bits = ip->v6 ? 128 : 32, bytes = bits / 8;
  memset(lo, 0, 16);
  memset(hi, 0, 16);
  for (int i = 0; i < bytes; i++) {
    int keep = ip->prefix - i * 8; /* network bits in this byte */
    uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    lo[i] = ip->addr[i] & mask;
    hi[i] = ip->addr[i] | (uint8_t)~mask;
  }
}

static bool ip_in_range(const pdpe_ip *a, const pdpe_ip *b) {
  if (a->v6 != b->v6) return false;
  uint8_t alo[16], ahi[16], blo[16], bhi[16];
  ip_bounds(a, alo, ahi);
  ip_bounds(b, blo, bhi);
  return memcmp(blo, alo, 16) <= 0 && memcmp(ahi, bhi, 16) <= 0;
}

static bool ip_loopback(const pdpe_ip *ip) {
  if (!ip->v6) return ip->addr[0] == 127 && ip->prefix >= 8;
  static const uint8_t one[16] = {[15] = 1};
  return memcmp(ip->addr, one, 16) == 0 && ip->prefix >= 128;
}

static bool ip_multicast(const pdpe_ip *ip) {
  if (!ip->v6) return (ip->addr[0] & 0xf0) == 0xe0 && ip->prefix >= 4;
  return ip->addr[0] == 0xff && ip->prefix >= 8;
}

/* ---- decimal ---- */

static bool parse_decimal(pu_str s, int64_t *out, char *err, size_t cap) {
  size_t i = 0;
  bool neg = i < s.len && s.ptr[i] == '-';
  if (neg) i++;
  size_t st = i;
  int64_t l = 0;
  bool over = false;
  while (i < s.len && is_digit(s.ptr[i])) {
    int d = s.ptr[i++] - '0';
    if (__builtin_mul_overflow(l, 10, &l) || __builtin_add_overflow(l, neg ? -d : d, &l))
      over = true;
  }
  if (i == st || i >= s.len || s.ptr[i] != '.')
    return fail(err, cap, "not a well-formed decimal", s);
  i++;
  size_t fs = i;
  int64_t r = 0;
  while (i < s.len && is_digit(s.ptr[i])) {
    if (i - fs < 18) r = r * 10 + (s.ptr[i] - '0');
    i++;
  }
  size_t nf = i - fs;
  if (nf == 0 || i != s.len) return fail(err, cap, "not a well-formed decimal", s);
  if (over || __builtin_mul_overflow(l, 10000, &l)) return fail(err, cap, "decimal overflow", s);
  if (nf > 4) return fail(err, cap, "too many digits after the decimal point", s);
  for (size_t k = nf; k < 4; k++) r *= 10;
  /* The written sign applies to the whole number, so "-0.5" is -0.5 (as in Cedar). */
  int64_t v;
  if (!neg ? __builtin_add_overflow(l, r, &v) : __builtin_sub_overflow(l, r, &v))
    return fail(err, cap, "decimal overflow", s);
  *out = v;
  return true;
}

/* ---- datetime and duration ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(pu_str s, size_t at, size_t n, unsigned *out) {
  if (at + n > s.len) return false;
  unsigned v = 0;
  for (size_t i = at; i < at + n; i++) {
    if (!is_digit(s.ptr[i])) return false;
    v = v * 10 + (unsigned)(s.ptr[i] - '0');
  }
  *out = v;
  return true;
}

static bool parse_datetime(pu_str s, int64_t *out, char *err, size_t cap) {
  unsigned y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, oh = 0, om = 0;
  int osign = 0;
  if (!digits(s, 0, 4, &y) || s.len < 10 || s.ptr[4] != '-' || !digits(s, 5, 2, &mo) ||
      s.ptr[7] != '-' || !digits(s, 8, 2, &d))
    return fail(err, cap, "invalid datetime (expected YYYY-MM-DD)", s);
  size_t i = 10;
  if (i < s.len) {
    if (s.ptr[i] != 'T' || !digits(s, i + 1, 2, &h) || i + 3 >= s.len || s.ptr[i + 3] != ':' ||
        !digits(s, i + 4, 2, &mi) || i + 6 >= s.len || s.ptr[i + 6] != ':' ||
        !digits(s, i + 7, 2, &sec))
      return fail(err, cap, "invalid datetime (expected Thh:mm:ss after the date)", s);
    i += 9;
    if (i < s.len && s.ptr[i] == '.') {
      if (!digits(s, i + 1, 3, &ms)) return fail(err, cap, "invalid datetime milliseconds", s);
      i += 4;
    }
    if (i < s.len && s.ptr[i] == 'Z') {
      i++;
    } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
      osign = s.ptr[i] == '+' ? 1 : -1;
      if (!digits(s, i + 1, 2, &oh) || !digits(s, i + 3, 2, &om))
        return fail(err, cap, "invalid datetime offset", s);
      i += 5;
    } else {
      return fail(err, cap, "invalid datetime (expected Z or an offset)", s);
    }
    if (i != s.len) return fail(err, cap, "invalid datetime (trailing characters)", s);
  }
  static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
    return fail(err, cap, "invalid date", s);
  if (h > 23 || mi > 59 || sec > 59) return fail(err, cap, "invalid time of day", s);
  if (oh > 23 || om > 59) return fail(err, cap, "invalid UTC offset", s);
  int64_t t = days_from_civil(y, mo, d) * DAY_MS + (int64_t)h * 3600000 + (int64_t)mi * 60000 +
              (int64_t)sec * 1000 + ms;
  t -= (int64_t)osign * ((int64_t)oh * 3600 + (int64_t)om * 60) * 1000;
  *out = t;
  return true;
}

static bool parse_duration(pu_str s, int64_t *out, char *err, size_t cap) {
  static const int64_t unit_ms[5] = {DAY_MS, 3600000, 60000, 1000, 1};
  uint64_t qty[5] = {0};
  bool seen[5] = {false}, over[5] = {false};
  size_t i = 0;
  bool neg = s.len > 0 && s.ptr[0] == '-';
  if (neg) i++;
  if (i == s.len) return fail(err, cap, "invalid duration", s);
  int last = -1;
  while (i < s.len) {
    size_t st = i;
    uint64_t v = 0;
    bool ov = false;
    while (i < s.len && is_digit(s.ptr[i])) {
      if (__builtin_mul_overflow(v, 10, &v) ||
          __builtin_add_overflow(v, (uint64_t)(s.ptr[i] - '0'), &v))
        ov = true;
      i++;
    }
    if (i == st || i == s.len) return fail(err, cap, "invalid duration", s);
    int u;
    char c = s.ptr[i];
    if (c == 'd')
      u = 0;
    else if (c == 'h')
      u = 1;
    else if (c == 'm' && i + 1 < s.len && s.ptr[i + 1] == 's')
      u = 4, i++;
    else if (c == 'm')
      u = 2;
    else if (c == 's')
      u = 3;
    else
      return fail(err, cap, "invalid duration", s);
    i++;
    if (u <= last) return fail(err, cap, "invalid duration (units out of order)", s);
    last = u;
    seen[u] = true;
    qty[u] = v;
    over[u] = ov;
  }
  for (int u = 0; u < 5; u++)
    if (over[u]) return fail(err, cap, "duration overflow", s);
  int64_t ms;
  if (qty[4] > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return fail(err, cap, "duration overflow", s);
  ms = neg ? (int64_t)(0 - qty[4]) : (int64_t)qty[4];
  for (int u = 3; u >= 0; u--) {
    if (!seen[u]) continue;
    int64_t part;
    if (qty[u] > (uint64_t)INT64_MAX ||
        __builtin_mul_overflow((int64_t)qty[u], unit_ms[u], &part) ||
        (neg ? __builtin_sub_overflow(ms, part, &ms) : __builtin_add_overflow(ms, part, &ms)))
      return fail(err, cap, "duration overflow", s);
  }
  *out = ms;
  return true;
}

/* ---- dispatch ---- */

/* Names and argument counts come from pdp/lang (pdpl_fn_name, pdpl_fn_arity), so the two
 * modules cannot disagree. */
bool pdpe__ext_fn_by_name(pu_str name, pdpl_fn *out) {
  for (int f = PDPL_FN_IP; f < PDPL_FN__COUNT; f++)
    if (pu_str_eq_c(name, pdpl_fn_name((pdpl_fn)f))) {
      *out = (pdpl_fn)f;
      return true;
    }
  return false;
}

static bool want(const pdpe_value *v, pdpe_ext_kind k, char *err, size_t cap) {
  if (v->kind == PDPE_EXT && v->u.ext.kind == k) return true;
  static const char *names[] = {"ipaddr", "decimal", "datetime", "duration"};
  snprintf(err, cap, "type error: expected %s, got %s%s", names[k], pdpe__kind_name(v),
           v->kind == PDPE_STRING ? " (maybe you forgot to apply the constructor?)" : "");
  return false;
}

static void set_ext(pdpe_value *out, pdpe_ext_kind k) {
  memset(out, 0, sizeof *out);
  out->kind = PDPE_EXT;
  out->u.ext.kind = k;
}

static void set_bool(pdpe_value *out, bool b) {
  *out = (pdpe_value){.kind = PDPE_BOOL, .u.b = b};
}
static void set_long(pdpe_value *out, int64_t l) {
  *out = (pdpe_value){.kind = PDPE_LONG, .u.l = l};
}

bool pdpe__ext_call(pdpl_fn fn, const pdpe_value *a, uint32_t n, pdpe_value *out, char *err,
                    size_t cap) {
  uint32_t arity = pdpl_fn_arity(fn);
  if (n != arity) {
    snprintf(err, cap, "%s expects %u argument(s), got %u", pdpl_fn_name(fn), arity, n);
    return false;
  }
  switch (fn) {
  case PDPL_FN_IP:
  case PDPL_FN_DECIMAL:
  case PDPL_FN_DATETIME:
  case PDPL_FN_DURATION:
    if (a[0].kind != PDPE_STRING) {
      snprintf(err, cap, "type error: %s expects a string, got %s", pdpl_fn_name(fn),
               pdpe__kind_name(&a[0]));
      return false;
    }
    if (fn == PDPL_FN_IP) {
      set_ext(out, PDPE_EXT_IP);
      return parse_ip(a[0].u.s, &out->u.ext.u.ip, err, cap);
    }
    if (fn == PDPL_FN_DECIMAL) {
      set_ext(out, PDPE_EXT_DECIMAL);
      return parse_decimal(a[0].u.s, &out->u.ext.u.decimal, err, cap);
    }
    if (fn == PDPL_FN_DATETIME) {
      set_ext(out, PDPE_EXT_DATETIME);
      return parse_datetime(a[0].u.s, &out->u.ext.u.datetime, err, cap);
    }
    set_ext(out, PDPE_EXT_DURATION);
    return parse_duration(a[0].u.s, &out->u.ext.u.duration, err, cap);
  case PDPL_FN_IS_IPV4:
  case PDPL_FN_IS_IPV6:
  case PDPL_FN_IS_LOOPBACK:
  case PDPL_FN_IS_MULTICAST:
    if (!want(&a[0], PDPE_EXT_IP, err, cap)) return false;
    {
      const pdpe_ip *ip = &a[0].u.ext.u.ip;
      set_bool(out, fn == PDPL_FN_IS_IPV4       ? !ip->v6
                    : fn == PDPL_FN_IS_IPV6     ? ip->v6
                    : fn == PDPL_FN_IS_LOOPBACK ? ip_loopback(ip)
                                                : ip_multicast(ip));
    }
    return true;
  case PDPL_FN_IS_IN_RANGE:
    if (!want(&a[0], PDPE_EXT_IP, err, cap) || !want(&a[1], PDPE_EXT_IP, err, cap)) return false;
    set_bool(out, ip_in_range(&a[0].u.ext.u.ip, &a[1].u.ext.u.ip));
    return true;
  case PDPL_FN_LESS_THAN:
  case PDPL_FN_LESS_THAN_OR_EQUAL:
  case PDPL_FN_GREATER_THAN:
  case PDPL_FN_GREATER_THAN_OR_EQUAL:
    if (!want(&a[0], PDPE_EXT_DECIMAL, err, cap) || !want(&a[1], PDPE_EXT_DECIMAL, err, cap))
      return false;
    {
      int64_t x = a[0].u.ext.u.decimal, y = a[1].u.ext.u.decimal;
      set_bool(out, fn == PDPL_FN_LESS_THAN            ? x < y
                    : fn == PDPL_FN_LESS_THAN_OR_EQUAL ? x <= y
                    : fn == PDPL_FN_GREATER_THAN       ? x > y
                                                       : x >= y);
    }
    return true;
  case PDPL_FN_OFFSET:
    if (!want(&a[0], PDPE_EXT_DATETIME, err, cap) || !want(&a[1], PDPE_EXT_DURATION, err, cap))
      return false;
    set_ext(out, PDPE_EXT_DATETIME);
    if (__builtin_add_overflow(a[0].u.ext.u.datetime, a[1].u.ext.u.duration,
                               &out->u.ext.u.datetime)) {
      snprintf(err, cap, "overflow when adding an offset to a datetime");
      return false;
    }
    return true;
  case PDPL_FN_DURATION_SINCE:
    if (!want(&a[0], PDPE_EXT_DATETIME, err, cap) || !want(&a[1], PDPE_EXT_DATETIME, err, cap))
      return false;
    set_ext(out, PDPE_EXT_DURATION);
    if (__builtin_sub_overflow(a[0].u.ext.u.datetime, a[1].u.ext.u.datetime,
                               &out->u.ext.u.duration)) {
      snprintf(err, cap, "overflow when computing the duration between two datetimes");
      return false;
    }
    return true;
  case PDPL_FN_TO_DATE: {
    if (!want(&a[0], PDPE_EXT_DATETIME, err, cap)) return false;
    int64_t t = a[0].u.ext.u.datetime, r = t % DAY_MS;
    if (r < 0) r += DAY_MS;
    set_ext(out, PDPE_EXT_DATETIME);
    if (__builtin_sub_overflow(t, r, &out->u.ext.u.datetime)) {
      snprintf(err, cap, "overflow when computing the date of a datetime");
      return false;
    }
    return true;
  }
  case PDPL_FN_TO_TIME: {
    if (!want(&a[0], PDPE_EXT_DATETIME, err, cap)) return false;
    int64_t r = a[0].u.ext.u.datetime % DAY_MS;
    if (r < 0) r += DAY_MS;
    set_ext(out, PDPE_EXT_DURATION);
    out->u.ext.u.duration = r;
    return true;
  }
  case PDPL_FN_TO_DAYS:
  case PDPL_FN_TO_HOURS:
  case PDPL_FN_TO_MINUTES:
  case PDPL_FN_TO_SECONDS:
  case PDPL_FN_TO_MILLISECONDS: {
    if (!want(&a[0], PDPE_EXT_DURATION, err, cap)) return false;
    static const int64_t div[] = {DAY_MS, 3600000, 60000, 1000, 1};
    set_long(out, a[0].u.ext.u.duration / div[fn - PDPL_FN_TO_DAYS]);
    return true;
  }
  default:
    snprintf(err, cap, "%s is not an extension function", pdpl_fn_name(fn));
    return false;
  }
}

void pdpe__ext_format(const pdpe_value *v, char *buf, size_t cap) {
  switch (v->u.ext.kind) {
  case PDPE_EXT_IP: {
    const pdpe_ip *ip = &v->u.ext.u.ip;
    size_t o = 0;
    if (!ip->v6) {
      o = (size_t)snprintf(buf, cap, "%u.%u.%u.%u", ip->addr[0], ip->addr[1], ip->addr[2],
                           ip->addr[3]);
    } else {
      for (int k = 0; k < 8 && o < cap; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%x", k ? ":" : "",
                              (ip->addr[2 * k] << 8) | ip->addr[2 * k + 1]);
    }
    if (o < cap) snprintf(buf + o, cap - o, "/%u", ip->prefix);
    return;
  }
  case PDPE_EXT_DECIMAL: {
    int64_t d = v->u.ext.u.decimal;
    uint64_t m = d < 0 ? 0 - (uint64_t)d : (uint64_t)d;
    snprintf(buf, cap, "%s%llu.%04llu", d < 0 ? "-" : "", (unsigned long long)(m / 10000),
             (unsigned long long)(m % 10000));
    return;
  }
  case PDPE_EXT_DATETIME: {
    int64_t t = v->u.ext.u.datetime, days = t / DAY_MS, r = t % DAY_MS;
    if (r < 0) r += DAY_MS, days--;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    snprintf(buf, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mo, d,
             (unsigned)(r / 3600000), (unsigned)(r / 60000 % 60), (unsigned)(r / 1000 % 60),
             (unsigned)(r % 1000));
    return;
  }
  case PDPE_EXT_DURATION:
    snprintf(buf, cap, "%lldms", (long long)v->u.ext.u.duration);
    return;
  }
}

/* lexer.c - Cedar policy text -> tokens, with positions; string unescaping; error records.
 *
 * The lexer reads the source in place (nothing is copied) and produces one token per call.
 * Lines and columns are 1-based and count bytes; a '\n' ends a line.  Whitespace is any of
 * space, tab, CR, LF, VT, FF; `//` starts a comment that runs to the end of the line.
 * Lexical errors (an unexpected byte, an unterminated string, an unknown ?slot) are
 * reported here and returned as PDPL_T_ERROR so the parser does not report them again.
 *
 * Unescaping follows the rules Cedar inherits from Rust string literals: \n \r \t \\ \0
 * \' \" \xHH (at most \x7f) \u{H..HHHHHH} (a Unicode scalar value, '_' allowed after the
 * first digit), and a backslash before a newline skips the newline and the whitespace after
 * it.  A bare CR inside a string is an error, as is invalid UTF-8.
 */
#include "pdpl_int.h"

#include <stdio.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------- */

void pdpl_err_vadd(pdpl_errors *errs, pdpl_pos pos, const char *fmt, va_list ap) {
  if (!errs) return;
  if (errs->n >= PDPL_MAX_ERRORS) {
    errs->dropped++;
    return;
  }
  pdpl_error *e = &errs->items[errs->n++];
  e->pos = pos;
  vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

void pdpl_err_add(pdpl_errors *errs, pdpl_pos pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pdpl_err_vadd(errs, pos, fmt, ap);
  va_end(ap);
}

static void lex_error(pdpl_lexer *lx, pdpl_pos pos, bool always, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void lex_error(pdpl_lexer *lx, pdpl_pos pos, bool always, const char *fmt, ...) {
  if (lx->quiet && !always) return;
  va_list ap;
  va_start(ap, fmt);
  pdpl_err_vadd(lx->errs, pos, fmt, ap);
  va_end(ap);
  lx->n_errs++;
}

pdpl_pos pdpl_pos_advance(pdpl_pos p, const char *start, size_t off) {
  for (size_t i = 0; i < off; i++) {
    if (start[i] == '\n') {
      p.line++;
      p.col = 1;
    } else {
      p.col++;
    }
  }
  return p;
}

/* ---- tokens ------------------------------------------------------------------------- */

void pdpl_lex_init(pdpl_lexer *lx, const char *file, const char *src, size_t len,
                   pdpl_errors *errs) {
  memset(lx, 0, sizeof(*lx));
  lx->file = file;
  lx->src = src ? src : "";
  lx->len = src ? len : 0;
  lx->line = 1;
  lx->col = 1;
  lx->errs = errs;
}

static pdpl_pos lex_pos(const pdpl_lexer *lx) {
  return (pdpl_pos){lx->file, lx->line, lx->col};
}

static void bump(pdpl_lexer *lx, size_t n) {
  for (size_t i = 0; i < n && lx->off < lx->len; i++) {
    if (lx->src[lx->off++] == '\n') {
      lx->line++;
      lx->col = 1;
    } else {
      lx->col++;
    }
  }
}

static int peekc(const pdpl_lexer *lx, size_t ahead) {
  return lx->off + ahead < lx->len ? (unsigned char)lx->src[lx->off + ahead] : -1;
}

static bool is_ident_start(int c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_ident_char(int c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

static void skip_space(pdpl_lexer *lx) {
  for (;;) {
    int c = peekc(lx, 0);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      bump(lx, 1);
    } else if (c == '/' && peekc(lx, 1) == '/') {
      while (lx->off < lx->len && lx->src[lx->off] != '\n') {
        lx->off++;
        lx->col++;
      }
    } else {
      return;
    }
  }
}

static const struct {
  const char *word;
  pdpl_kw kw;
} keywords[] = {
    {"true", PDPL_KW_TRUE},       {"false", PDPL_KW_FALSE},
    {"if", PDPL_KW_IF},           {"then", PDPL_KW_THEN},
    {"else", PDPL_KW_ELSE},       {"in", PDPL_KW_IN},
    {"is", PDPL_KW_IS},           {"like", PDPL_KW_LIKE},
    {"has", PDPL_KW_HAS},         {"permit", PDPL_KW_PERMIT},
    {"forbid", PDPL_KW_FORBID},   {"when", PDPL_KW_WHEN},
    {"unless", PDPL_KW_UNLESS},   {"principal", PDPL_KW_PRINCIPAL},
    {"action", PDPL_KW_ACTION},   {"resource", PDPL_KW_RESOURCE},
    {"context", PDPL_KW_CONTEXT},
};

static pdpl_kw keyword_of(const char *s, size_t n) {
  for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
    if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, s, n) == 0) return keywords[i].kw;
  }
  return PDPL_KW_NONE;
}

/* A string token: scans to the closing quote, skipping escaped bytes.  Newlines are allowed
 * inside strings (Cedar's lexer accepts them). */
static void lex_string(pdpl_lexer *lx, pdpl_tok *t) {
  size_t i = lx->off + 1;
  while (i < lx->len && lx->src[i] != '"') {
    if (lx->src[i] == '\\' && i + 1 < lx->len) i++;
    i++;
  }
  if (i >= lx->len) {
    lex_error(lx, t->pos, true, "unterminated string");
    bump(lx, lx->len - lx->off);
    t->kind = PDPL_T_ERROR;
    return;
  }
  bump(lx, i + 1 - lx->off);
  t->kind = PDPL_T_STRING;
}

static void lex_number(pdpl_lexer *lx, pdpl_tok *t) {
  uint64_t v = 0;
  bool over = false;
  while (peekc(lx, 0) >= '0' && peekc(lx, 0) <= '9') {
    unsigned d = (unsigned)(peekc(lx, 0) - '0');
    if (v > (UINT64_MAX - d) / 10)
      over = true;
    else
      v = v * 10 + d;
    bump(lx, 1);
  }
  t->kind = PDPL_T_INT;
  t->num = v;
  t->num_overflow = over;
}

/* Two-byte punctuation first, then one-byte. */
static const struct {
  char s[3];
  pdpl_tok_kind kind;
} puncts[] = {
    {"::", PDPL_T_COLONCOLON}, {"==", PDPL_T_EQ},    {"!=", PDPL_T_NE},    {"<=", PDPL_T_LE},
    {">=", PDPL_T_GE},         {"||", PDPL_T_OR},    {"&&", PDPL_T_AND},   {"@", PDPL_T_AT},
    {".", PDPL_T_DOT},         {",", PDPL_T_COMMA},  {";", PDPL_T_SEMI},   {":", PDPL_T_COLON},
    {"(", PDPL_T_LPAREN},      {")", PDPL_T_RPAREN}, {"{", PDPL_T_LBRACE}, {"}", PDPL_T_RBRACE},
    {"[", PDPL_T_LBRACK},      {"]", PDPL_T_RBRACK}, {"<", PDPL_T_LT},     {">", PDPL_T_GT},
    {"+", PDPL_T_PLUS},        {"-", PDPL_T_MINUS},  {"*", PDPL_T_STAR},   {"/", PDPL_T_SLASH},
    {"%", PDPL_T_PERCENT},     {"!", PDPL_T_BANG},   {"=", PDPL_T_ASSIGN},
};

pdpl_tok pdpl_lex_next(pdpl_lexer *lx) {
  for (;;) {
    skip_space(lx);
    pdpl_tok t = {0};
    t.pos = lex_pos(lx);
    t.start = lx->src + lx->off;
    if (lx->off >= lx->len) {
      t.kind = PDPL_T_EOF;
      return t;
    }
    int c = peekc(lx, 0);
    if (is_ident_start(c)) {
      size_t n = 1;
      while (is_ident_char(peekc(lx, n))) n++;
      bump(lx, n);
      t.kind = PDPL_T_IDENT;
      t.kw = keyword_of(t.start, n);
    } else if (c >= '0' && c <= '9') {
      lex_number(lx, &t);
    } else if (c == '"') {
      lex_string(lx, &t);
    } else if (c == '?' && is_ident_start(peekc(lx, 1))) {
      size_t n = 2;
      while (is_ident_char(peekc(lx, n))) n++;
      bump(lx, n);
      t.len = n;
      if (n == 10 && memcmp(t.start, "?principal", 10) == 0) {
        t.kind = PDPL_T_SLOT;
        t.slot = PDPL_SLOT_PRINCIPAL;
      } else if (n == 9 && memcmp(t.start, "?resource", 9) == 0) {
        t.kind = PDPL_T_SLOT;
        t.slot = PDPL_SLOT_RESOURCE;
      } else {
        lex_error(lx, t.pos, false,
                  "unknown template slot '%.*s' (only ?principal and ?resource exist)",
                  (int)(n > 60 ? 60 : n), t.start);
        t.kind = PDPL_T_ERROR;
      }
      return t;
    } else {
      t.kind = PDPL_T_ERROR;
      for (size_t i = 0; i < sizeof(puncts) / sizeof(puncts[0]); i++) {
        size_t n = puncts[i].s[1] ? 2 : 1;
        if (lx->off + n <= lx->len && memcmp(t.start, puncts[i].s, n) == 0) {
          t.kind = puncts[i].kind;
          bump(lx, n);
          break;
        }
      }
      if (t.kind == PDPL_T_ERROR) {
        if (c == '|' || c == '&')
          lex_error(lx, t.pos, false, "unexpected character '%c' (did you mean '%c%c'?)", c, c, c);
        else if (c > 0x20 && c < 0x7f)
          lex_error(lx, t.pos, false, "unexpected character '%c'", c);
        else
          lex_error(lx, t.pos, false, "unexpected byte 0x%02x", (unsigned)c);
        bump(lx, 1);
      }
    }
    t.len = (size_t)(lx->src + lx->off - t.start);
    return t;
  }
}

const char *pdpl_tok_describe(const pdpl_tok *t, char *buf, size_t cap) {
  if (cap == 0) return buf;
  switch (t->kind) {
  case PDPL_T_EOF:
    snprintf(buf, cap, "end of input");
    return buf;
  case PDPL_T_ERROR:
    snprintf(buf, cap, "an invalid token");
    return buf;
  default:
    break;
  }
  /* Quote the source bytes, shortened, with non-printable bytes as \xNN. */
  size_t n = 0, max = t->len > 24 ? 24 : t->len;
  buf[n++] = '\'';
  for (size_t i = 0; i < max && n + 6 < cap; i++) {
    unsigned char c = (unsigned char)t->start[i];
    if (c >= 0x20 && c < 0x7f)
      buf[n++] = (char)c;
    else
      n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
  }
  if (max < t->len && n + 4 < cap) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  if (n + 1 < cap) buf[n++] = '\'';
  buf[n < cap ? n : cap - 1] = '\0';
  return buf;
}

/* ---- unescaping --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t k;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf)
    k = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    k = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    k = 4, cp = c & 0x07;
  else
    return 0;
  if (n < k) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return k;
}

static size_t utf8_put(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Shows the escape starting at raw[i] (the backslash) in msg-friendly form. */
static void show_escape(const char *raw, size_t len, size_t i, char *out, size_t cap) {
  size_t n = 0;
  for (size_t j = i; j < len && j < i + 12 && n + 5 < cap; j++) {
    unsigned char c = (unsigned char)raw[j];
    if (j > i && (c == '"' || c == '\\')) break;
    if (c >= 0x20 && c < 0x7f)
      out[n++] = (char)c;
    else
      n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
    if (j > i && raw[i + 1] != 'u' && raw[i + 1] != 'x') break;
    if (c == '}') break;
  }
  out[n] = '\0';
}

bool pdpl_unescape(pu_arena *arena, const char *raw, size_t len, bool pattern, pu_str *out,
                   pdpl_pattern_elem **elems, uint32_t *n_elems, size_t *err_off, char *msg,
                   size_t cap) {
  char shown[64];
  /* Unescaped text is never longer than the raw text; a pattern has at most 2*stars+1
   * elements. */
  char *buf = pu_arena_alloc(arena, len + 1);
  size_t stars = 0;
  for (size_t i = 0; i < len; i++) stars += raw[i] == '*';
  if (len > UINT32_MAX / 2) goto oom;
  pdpl_pattern_elem *el = pattern ? pu_arena_alloc(arena, sizeof(*el) * (2 * stars + 1)) : NULL;
  if (!buf || (pattern && !el)) goto oom;
  size_t n = 0, run_start = 0;
  uint32_t ne = 0;
  size_t i = 0;
  while (i < len) {
    unsigned char c = (unsigned char)raw[i];
    if (c == '\\') {
      if (i + 1 >= len) {
        *err_off = i;
        snprintf(msg, cap, "invalid escape at end of string");
        return false;
      }
      unsigned char e = (unsigned char)raw[i + 1];
      switch (e) {
      case 'n':
        buf[n++] = '\n';
        i += 2;
        continue;
      case 'r':
        buf[n++] = '\r';
        i += 2;
        continue;
      case 't':
        buf[n++] = '\t';
        i += 2;
        continue;
      case '0':
        buf[n++] = '\0';
        i += 2;
        continue;
      case '\\':
      case '\'':
      case '"':
        buf[n++] = (char)e;
        i += 2;
        continue;
      case '\n':
        /* Line continuation: skip the newline and the whitespace that follows. */
        i += 2;
        while (i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r'))
          i++;
        continue;
      case 'x': {
        int h1 = i + 2 < len ? hexval((unsigned char)raw[i + 2]) : -1;
        int h2 = i + 3 < len ? hexval((unsigned char)raw[i + 3]) : -1;
        if (h1 < 0 || h2 < 0 || h1 * 16 + h2 > 0x7f) {
          show_escape(raw, len, i, shown, sizeof shown);
          *err_off = i;
          snprintf(msg, cap, "invalid escape %s (\\x takes two hex digits up to 7f)", shown);
          return false;
        }
        buf[n++] = (char)(h1 * 16 + h2);
        i += 4;
        continue;
      }
      case 'u': {
        size_t j = i + 2;
        uint32_t cp = 0;
        int digits = 0;
        bool ok = j < len && raw[j] == '{';
        if (ok) {
          for (j++; j < len && raw[j] != '}'; j++) {
            int h = hexval((unsigned char)raw[j]);
            if (raw[j] == '_' && digits > 0) continue;
            if (h < 0 || ++digits > 6) {
              ok = false;
              break;
            }
            cp = cp * 16 + (uint32_t)h;
          }
          ok = ok && j < len && digits > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (!ok) {
          show_escape(raw, len, i, shown, sizeof shown);
          *err_off = i;
          snprintf(
              msg, cap,
              "invalid escape %s (expected \\u{1 to 6 hex digits} naming a Unicode scalar value)",
              shown);
          return false;
        }
        n += utf8_put(buf + n, cp);
        i = j + 1;
        continue;
      }
      case '*':
        if (pattern) {
          buf[n++] = '*';
          i += 2;
          continue;
        }
        /* fallthrough */
      default:
        show_escape(raw, len, i, shown, sizeof shown);
        *err_off = i;
        snprintf(msg, cap, "invalid escape %s", shown);
        return false;
      }
    }
    if (c == '\r') {
      *err_off = i;
      snprintf(msg, cap, "bare carriage return in string (write \\r)");
      return false;
    }
    if (c == '*' && pattern) {
      if (n > run_start) el[ne++] = (pdpl_pattern_elem){false, {buf + run_start, n - run_start}};
      if (ne == 0 || !el[ne - 1].wildcard) el[ne++] = (pdpl_pattern_elem){true, {NULL, 0}};
      run_start = n;
      i++;
      continue;
    }
    size_t k = utf8_len((const unsigned char *)raw + i, len - i);
    if (k == 0) {
      *err_off = i;
      snprintf(msg, cap, "invalid UTF-8 in string");
      return false;
    }
    memcpy(buf + n, raw + i, k);
    n += k;
    i += k;
  }
  buf[n] = '\0';
  if (pattern) {
    if (n > run_start) el[ne++] = (pdpl_pattern_elem){false, {buf + run_start, n - run_start}};
    *elems = el;
    *n_elems = ne;
  } else {
    *out = (pu_str){buf, n};
  }
  return true;
oom:
  *err_off = 0;
  snprintf(msg, cap, "out of memory");
  return false;
}

/* defs_int.h - what defs.c (parsing, canonical form, rows) shares with define.c (editing the
 * permission files).  Only those two include it. */
#ifndef PDP_CACHE_DEFS_INT_H
#define PDP_CACHE_DEFS_INT_H

#include "cache_int.h"

#include <jansson.h>

/* Where a definitions array came from, for messages. */
typedef struct src {
  const char *name; /* "permissions/orders.json", "request", "definitions row orders" */
  const char *text; /* the JSON text for positions, or NULL */
  size_t len;
  bool under_key; /* the array is the "definitions" member of the top-level object */
} src;

/* A parsed definition and its index in the array it came from. */
typedef struct item {
  pdpe_definition d;
  uint32_t index;
  const src *from;
} item;

typedef struct defs {
  item *items; /* sorted by name once parsed */
  uint32_t n;
} defs;

extern const char *const cache__defs_tenancy[3]; /* "both", "host", "tenant" by pdpe_tenancy */
extern const char cache__defs_provider_ch[4];    /* 'R', 'U', 'C' by pdpe_provider */

/* An error about definitions[i] (field NULL) or definitions[i].field of s: "NAME:L:C: PATH:
 * message" (without L:C when s has no text).  at_key: point at the member's key. */
void cache__defs_field_err(cache_diag *diag, const src *s, size_t i, const char *field, bool at_key,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Items by name, then service, then index. */
int cache__defs_cmp_items(const void *x, const void *y);
/* Validate a definitions array of `service` into out (sorted by name; strings and values in
 * a).  Every error to diag. */
bool cache__defs_parse_array(pu_arena *a, const json_t *arr, const src *s, pu_str service,
                             defs *out, cache_diag *diag);
/* The text s->text: a permissions file's object ({"service": S, "definitions": [...]},
 * service optional and equal to `service`) or a bare definitions array. */
bool cache__defs_parse_file(pu_arena *a, src *s, const char *service, defs *out, cache_diag *diag);
/* The canonical JSON array of n sorted items (NULL when a string is not UTF-8 or out of
 * memory), and its bytes (json_dumps JSON_COMPACT | JSON_SORT_KEYS, copied into a). */
json_t *cache__defs_canonical_json(pu_arena *scratch, const item *items, uint32_t n);
char *cache__defs_canonical_bytes(pu_arena *a, const item *items, uint32_t n, size_t *len);
/* Parse every permissions/<service>.json of dir: *per_out[i] is the file's definitions,
 * *services_out[i] its service.  Returns how many, or -1 after errors (all in diag). */
int cache__defs_read_services(pu_arena *a, const char *dir, defs **per_out, char ***services_out,
                              cache_diag *diag);

#endif

/* cache_int.h - pieces shared inside cache/ only (other modules include cache.h). */
#ifndef PDP_CACHE_CACHE_INT_H
#define PDP_CACHE_CACHE_INT_H

#include "cache.h"

#include <jansson.h>

/* Template links in Cedar's JSON form (the "templateLinks" list of a JSON policy set):
 * [{"templateId": "t", "newId": "l", "values": {"?principal": UID, "?resource": UID}}]
 * where UID is {"type": T, "id": I} or {"__entity": {"type": T, "id": I}}.  Everything is
 * copied into `arena`.  Every error goes to `diag` naming `file` and the link's index;
 * false when there was any. */
bool cache__links_from_json(pu_arena *arena, const json_t *json, const char *file, pdpe_link **out,
                            uint32_t *n_out, cache_diag *diag);

#endif

/* idmap.h: a map from 64-bit ids to pointers (open addressing, linear probing, backward
 * shift deletion), for per-request registries on hot paths: no allocation per insert
 * except when the table grows, none per removal.
 * Id 0 is reserved (it marks an empty slot). Owner: embedded in its owner; values are
 * borrowed. Thread: owner's. */
#ifndef TT_IDMAP_H
#define TT_IDMAP_H

#include "core/common.h"

struct tt_idmap {
    uint64_t *keys;
    void **values;
    size_t cap; /* power of two, or 0 */
    size_t size;
};

void tt_idmap_init(struct tt_idmap *m);
void tt_idmap_deinit(struct tt_idmap *m);
/* Insert or replace (id != 0). */
void tt_idmap_put(struct tt_idmap *m, uint64_t id, void *value);
void *tt_idmap_get(const struct tt_idmap *m, uint64_t id);
/* Remove; returns the old value or NULL. */
void *tt_idmap_remove(struct tt_idmap *m, uint64_t id);

#endif

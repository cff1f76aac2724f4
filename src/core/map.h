/* map.h: string-keyed hash map (open chaining, power-of-two buckets, grows at load 1).
 *
 * The map owns a copy of each key; values are borrowed pointers the caller manages.
 * Thread: owner's. */
#ifndef TT_MAP_H
#define TT_MAP_H

#include "core/common.h"

struct tt_map_entry {
    struct tt_map_entry *next;
    uint64_t hash;
    void *value;
    size_t key_len;
    char key[]; /* NUL-terminated copy */
};

struct tt_map {
    struct tt_map_entry **buckets;
    size_t num_buckets;
    size_t size;
};

void tt_map_init(struct tt_map *m);
/* Frees the entries (not the values). */
void tt_map_deinit(struct tt_map *m);
void *tt_map_get(const struct tt_map *m, const char *key, size_t len);
/* Insert or replace; returns the entry (whose key stays valid until removal). */
struct tt_map_entry *tt_map_put(struct tt_map *m, const char *key, size_t len, void *value);
/* Remove; returns the old value or NULL. */
void *tt_map_remove(struct tt_map *m, const char *key, size_t len);
uint64_t tt_hash(const char *s, size_t len);

/* Iterate: for (e = tt_map_first(m, &i); e; e = tt_map_next(m, e, &i)) -- removal of the
 * current entry during iteration is not allowed. */
struct tt_map_entry *tt_map_first(const struct tt_map *m, size_t *iter);
struct tt_map_entry *tt_map_next(const struct tt_map *m, struct tt_map_entry *e, size_t *iter);

#endif

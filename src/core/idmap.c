/* idmap.c: see idmap.h. */
#include "core/idmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t id, size_t cap)
{
    /* Fibonacci hashing: ids are often sequential. */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

void tt_idmap_init(struct tt_idmap *m)
{
    memset(m, 0, sizeof(*m));
}

void tt_idmap_deinit(struct tt_idmap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

static void grow(struct tt_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = tt_calloc(cap, sizeof(*keys));
    void **values = tt_calloc(cap, sizeof(*values));
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t s = slot_of(m->keys[i], cap);
        while (keys[s])
            s = (s + 1) & (cap - 1);
        keys[s] = m->keys[i];
        values[s] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
}

void tt_idmap_put(struct tt_idmap *m, uint64_t id, void *value)
{
    if ((m->size + 1) * 4 > m->cap * 3)
        grow(m);
    size_t s = slot_of(id, m->cap);
    while (m->keys[s] && m->keys[s] != id)
        s = (s + 1) & (m->cap - 1);
    if (!m->keys[s])
        m->size++;
    m->keys[s] = id;
    m->values[s] = value;
}

void *tt_idmap_get(const struct tt_idmap *m, uint64_t id)
{
    if (!m->cap || !id)
        return NULL;
    size_t s = slot_of(id, m->cap);
    while (m->keys[s]) {
        if (m->keys[s] == id)
            return m->values[s];
        s = (s + 1) & (m->cap - 1);
    }
    return NULL;
}

void *tt_idmap_remove(struct tt_idmap *m, uint64_t id)
{
    if (!m->cap || !id)
        return NULL;
    size_t mask = m->cap - 1, s = slot_of(id, m->cap);
    while (m->keys[s] && m->keys[s] != id)
        s = (s + 1) & mask;
    if (!m->keys[s])
        return NULL;
    void *old = m->values[s];
    /* Backward shift: move later members of the run into the hole when their home slot
     * allows it, so lookups never need tombstones. */
    size_t hole = s, j = s;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j])
            break;
        size_t home = slot_of(m->keys[j], m->cap);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->keys[hole] = m->keys[j];
            m->values[hole] = m->values[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->values[hole] = NULL;
    m->size--;
    return old;
}

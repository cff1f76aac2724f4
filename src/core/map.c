#include "core/map.h"

#include <stdlib.h>

uint64_t tt_hash(const char *s, size_t len)
{
    /* FNV-1a: channel names are short; adequate spread, trivially cheap. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void tt_map_init(struct tt_map *m)
{
    m->num_buckets = 16;
    m->buckets = tt_calloc(m->num_buckets, sizeof(*m->buckets));
    m->size = 0;
}

void tt_map_deinit(struct tt_map *m)
{
    for (size_t i = 0; i < m->num_buckets; i++) {
        struct tt_map_entry *e = m->buckets[i];
        while (e) {
            struct tt_map_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->num_buckets = m->size = 0;
}

static struct tt_map_entry **find(const struct tt_map *m, const char *key, size_t len,
                                  uint64_t h)
{
    struct tt_map_entry **pe = &m->buckets[h & (m->num_buckets - 1)];
    while (*pe) {
        if ((*pe)->hash == h && (*pe)->key_len == len && memcmp((*pe)->key, key, len) == 0)
            return pe;
        pe = &(*pe)->next;
    }
    return pe;
}

void *tt_map_get(const struct tt_map *m, const char *key, size_t len)
{
    struct tt_map_entry *e = *find(m, key, len, tt_hash(key, len));
    return e ? e->value : NULL;
}

static void grow(struct tt_map *m)
{
    size_t n = m->num_buckets * 2;
    struct tt_map_entry **b = tt_calloc(n, sizeof(*b));
    for (size_t i = 0; i < m->num_buckets; i++) {
        struct tt_map_entry *e = m->buckets[i];
        while (e) {
            struct tt_map_entry *next = e->next;
            size_t k = e->hash & (n - 1);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->num_buckets = n;
}

struct tt_map_entry *tt_map_put(struct tt_map *m, const char *key, size_t len, void *value)
{
    uint64_t h = tt_hash(key, len);
    struct tt_map_entry **pe = find(m, key, len, h);
    if (*pe) {
        (*pe)->value = value;
        return *pe;
    }
    if (m->size >= m->num_buckets) {
        grow(m);
        pe = find(m, key, len, h);
    }
    struct tt_map_entry *e = tt_malloc(sizeof(*e) + len + 1);
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    *pe = e;
    m->size++;
    return e;
}

void *tt_map_remove(struct tt_map *m, const char *key, size_t len)
{
    struct tt_map_entry **pe = find(m, key, len, tt_hash(key, len));
    struct tt_map_entry *e = *pe;
    if (!e)
        return NULL;
    void *v = e->value;
    *pe = e->next;
    free(e);
    m->size--;
    return v;
}

struct tt_map_entry *tt_map_first(const struct tt_map *m, size_t *iter)
{
    for (size_t i = 0; i < m->num_buckets; i++) {
        if (m->buckets[i]) {
            *iter = i;
            return m->buckets[i];
        }
    }
    return NULL;
}

struct tt_map_entry *tt_map_next(const struct tt_map *m, struct tt_map_entry *e, size_t *iter)
{
    if (e->next)
        return e->next;
    for (size_t i = *iter + 1; i < m->num_buckets; i++) {
        if (m->buckets[i]) {
            *iter = i;
            return m->buckets[i];
        }
    }
    return NULL;
}

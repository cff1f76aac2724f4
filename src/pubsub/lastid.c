/* lastid.c: see lastid.h. */
#include "pubsub/lastid.h"

#include <stdlib.h>

void tt_lastids_init(struct tt_lastids *l)
{
    uv_mutex_init(&l->lock);
    tt_map_init(&l->ids);
}

static void free_values(struct tt_map *m)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(m, &it); e; e = tt_map_next(m, e, &it))
        free(e->value);
}

void tt_lastids_deinit(struct tt_lastids *l)
{
    free_values(&l->ids);
    tt_map_deinit(&l->ids);
    uv_mutex_destroy(&l->lock);
}

char *tt_lastids_get(struct tt_lastids *l, const char *channel)
{
    uv_mutex_lock(&l->lock);
    const char *v = tt_map_get(&l->ids, channel, strlen(channel));
    char *r = v ? tt_strdup(v) : NULL;
    uv_mutex_unlock(&l->lock);
    return r;
}

bool tt_lastids_is(struct tt_lastids *l, const char *channel, const char *id)
{
    uv_mutex_lock(&l->lock);
    const char *v = tt_map_get(&l->ids, channel, strlen(channel));
    bool same = v && id && strcmp(v, id) == 0;
    uv_mutex_unlock(&l->lock);
    return same;
}

void tt_lastids_set(struct tt_lastids *l, const char *channel, const char *id)
{
    size_t n = strlen(channel);
    uv_mutex_lock(&l->lock);
    free(tt_map_remove(&l->ids, channel, n));
    if (id)
        tt_map_put(&l->ids, channel, n, tt_strdup(id));
    uv_mutex_unlock(&l->lock);
}

void tt_lastids_clear(struct tt_lastids *l)
{
    uv_mutex_lock(&l->lock);
    free_values(&l->ids);
    tt_map_deinit(&l->ids);
    tt_map_init(&l->ids);
    uv_mutex_unlock(&l->lock);
}

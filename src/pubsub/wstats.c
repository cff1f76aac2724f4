/* wstats.c: see wstats.h. */
#include "pubsub/wstats.h"

#include <stdio.h>
#include <stdlib.h>

const double tt_lat_bounds_ms[TT_LAT_BUCKETS - 1] = {0.25, 0.5, 1,   2.5, 5,    10,   25,
                                                     50,   100, 250, 500, 1000, 2500, 5000};

const char *const tt_err_kind_names[TT_ERR_KINDS] = {
    "bad_request", "no_route", "backend_connect", "backend_timeout", "backend", "grip",
};

/* Per route, per worker. Never freed before the worker ends: connections point to it. */
struct tt_route_acc {
    char *route;
    uint64_t activity;
    int64_t current;
    uint64_t minutes;
    bool dirty;
    struct tt_route_acc *next_dirty;
};

/* Subscriptions of one (mode, channel) on this worker. */
struct tt_sub_acc {
    int32_t count, reported;
    bool dirty;
    uint8_t mode;
    const char *key; /* the map's copy: mode byte, then the channel */
    size_t key_len;
};

void tt_wstats_batch_free(struct tt_wstats_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->num_routes; i++)
        free(b->routes[i].route);
    for (size_t i = 0; i < b->num_subs; i++)
        free(b->subs[i].channel);
    free(b->routes);
    free(b->conns);
    free(b->subs);
    free(b);
}

static struct tt_route_acc *acc_new(const char *route)
{
    struct tt_route_acc *a = tt_calloc(1, sizeof(*a));
    a->route = tt_strdup(route);
    return a;
}

void tt_wstats_init(struct tt_wstats *s, const char *instance, const int *conns_wanted, int ttl_s,
                    void (*kick)(void *ctx), void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->instance = instance;
    s->conns_wanted = conns_wanted;
    s->kick = kick;
    s->kick_ctx = ctx;
    tt_map_init(&s->routes);
    tt_map_init(&s->subs);
    s->def = acc_new("");
    s->num_buckets = ttl_s > 1 ? (size_t)ttl_s * 3 / 4 : 1;
    s->buckets = tt_calloc(s->num_buckets, sizeof(*s->buckets));
    for (size_t i = 0; i < s->num_buckets; i++)
        tt_list_init(&s->buckets[i]);
}

void tt_wstats_deinit(struct tt_wstats *s)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&s->routes, &it); e;
         e = tt_map_next(&s->routes, e, &it)) {
        struct tt_route_acc *a = e->value;
        free(a->route);
        free(a);
    }
    tt_map_deinit(&s->routes);
    for (struct tt_map_entry *e = tt_map_first(&s->subs, &it); e; e = tt_map_next(&s->subs, e, &it))
        free(e->value);
    tt_map_deinit(&s->subs);
    free(s->dirty_subs);
    free(s->def->route);
    free(s->def);
    free(s->buckets);
    for (size_t i = 0; i < s->cur.num_subs; i++)
        free(s->cur.subs[i].channel);
    free(s->cur.subs);
    free(s->cur.conns);
    free(s->dirty_accs);
    memset(s, 0, sizeof(*s));
}

static void acc_dirty(struct tt_wstats *s, struct tt_route_acc *a)
{
    if (!a->dirty) {
        a->dirty = true;
        if (s->num_dirty == s->alloc_dirty) {
            s->alloc_dirty = s->alloc_dirty ? s->alloc_dirty * 2 : 8;
            s->dirty_accs = tt_realloc(s->dirty_accs, s->alloc_dirty * sizeof(*s->dirty_accs));
        }
        s->dirty_accs[s->num_dirty++] = a;
    }
    tt_wstats_touch(s);
}

void tt_wstats_http_cid(const struct tt_wstats *s, uint64_t rid, char *out, size_t size)
{
    snprintf(out, size, "%s:%llx", s->instance ? s->instance : "", (unsigned long long)rid);
}

static bool wanted(const struct tt_wstats *s)
{
    return s->conns_wanted && __atomic_load_n(s->conns_wanted, __ATOMIC_RELAXED);
}

static void event(struct tt_wstats *s, struct tt_wstats_conn *c, enum tt_conn_op op)
{
    struct tt_wstats_batch *b = &s->cur;
    if (b->num_conns == b->alloc_conns) {
        b->alloc_conns = b->alloc_conns ? b->alloc_conns * 2 : 16;
        b->conns = tt_realloc(b->conns, b->alloc_conns * sizeof(*b->conns));
    }
    struct tt_conn_event *e = &b->conns[b->num_conns++];
    e->op = (uint8_t)op;
    e->type = c->type;
    e->ssl = c->ssl;
    if (c->cid)
        snprintf(e->id, sizeof(e->id), "%s", c->cid);
    else
        tt_wstats_http_cid(s, c->rid, e->id, sizeof(e->id));
    snprintf(e->peer, sizeof(e->peer), "%s", c->peer ? c->peer : "");
    snprintf(e->route, sizeof(e->route), "%s", c->acc->route);
    tt_wstats_touch(s);
}

/* Minutes are rounded up: one as soon as a connection opens, one per full minute after. */
static void count_minutes(struct tt_wstats *s, struct tt_wstats_conn *c, uint64_t now)
{
    uint32_t m = (uint32_t)((now - c->opened_ms) / 60000) + 1;
    if (m > c->minutes) {
        c->acc->minutes += m - c->minutes;
        c->minutes = m;
        acc_dirty(s, c->acc);
    }
}

void tt_wstats_conn_open(struct tt_wstats *s, struct tt_wstats_conn *c, enum tt_conn_type type,
                         uint64_t rid, const char *cid, const char *peer, bool ssl,
                         const char *route)
{
    struct tt_route_acc *a = s->def;
    if (route && route[0]) {
        size_t n = strlen(route);
        a = tt_map_get(&s->routes, route, n);
        if (!a) {
            a = acc_new(route);
            tt_map_put(&s->routes, route, n, a);
        }
    }
    c->acc = a;
    c->opened_ms = tt_now_ms();
    c->rid = rid;
    c->cid = cid;
    c->peer = peer;
    c->type = (uint8_t)type;
    c->ssl = ssl;
    c->minutes = 0;
    a->activity++;
    a->current++;
    s->cur.requests++;
    count_minutes(s, c, c->opened_ms);
    /* Into the bucket visited last, so its first refresh is a full period away. */
    size_t b = (s->bucket + s->num_buckets - 1) % s->num_buckets;
    tt_list_insert_tail(&s->buckets[b], &c->link);
    c->announced = wanted(s);
    if (c->announced)
        event(s, c, TT_CONN_OPEN);
}

void tt_wstats_conn_close(struct tt_wstats *s, struct tt_wstats_conn *c)
{
    if (!c->acc)
        return;
    count_minutes(s, c, tt_now_ms());
    c->acc->current--;
    acc_dirty(s, c->acc);
    if (c->announced || wanted(s))
        event(s, c, TT_CONN_CLOSE);
    tt_list_remove(&c->link);
    c->acc = NULL;
}

void tt_wstats_conn_move(struct tt_wstats_conn *dst, struct tt_wstats_conn *src, const char *peer)
{
    *dst = *src;
    dst->peer = peer;
    if (tt_list_empty(&src->link)) {
        tt_list_init(&dst->link);
    } else {
        dst->link.prev->next = &dst->link;
        dst->link.next->prev = &dst->link;
    }
    tt_list_init(&src->link);
    src->acc = NULL;
}

void tt_wstats_tick(struct tt_wstats *s, uint64_t now)
{
    s->bucket = (s->bucket + 1) % s->num_buckets;
    bool want = wanted(s);
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &s->buckets[s->bucket])
    {
        struct tt_wstats_conn *c = TT_CONTAINER_OF(p, struct tt_wstats_conn, link);
        count_minutes(s, c, now);
        if (want) {
            event(s, c, c->announced ? TT_CONN_REFRESH : TT_CONN_OPEN);
            c->announced = true;
        }
    }
}

void tt_wstats_sub(struct tt_wstats *s, enum tt_sub_mode mode, const char *channel, int delta)
{
    size_t cl = strlen(channel);
    char stack[256];
    char *key = cl + 1 <= sizeof(stack) ? stack : tt_malloc(cl + 1);
    key[0] = (char)('0' + mode);
    memcpy(key + 1, channel, cl);
    struct tt_sub_acc *a = tt_map_get(&s->subs, key, cl + 1);
    if (!a) {
        a = tt_calloc(1, sizeof(*a));
        a->mode = (uint8_t)mode;
        struct tt_map_entry *e = tt_map_put(&s->subs, key, cl + 1, a);
        a->key = e->key;
        a->key_len = cl + 1;
    }
    if (key != stack)
        free(key);
    a->count += delta;
    if (!a->dirty) {
        a->dirty = true;
        if (s->num_dirty_subs == s->alloc_dirty_subs) {
            s->alloc_dirty_subs = s->alloc_dirty_subs ? s->alloc_dirty_subs * 2 : 16;
            s->dirty_subs = tt_realloc(s->dirty_subs, s->alloc_dirty_subs * sizeof(void *));
        }
        s->dirty_subs[s->num_dirty_subs++] = a;
    }
    tt_wstats_touch(s);
}

/* The net changes into the batch; pairs back at zero leave the map. */
static void take_subs(struct tt_wstats *s, struct tt_wstats_batch *b)
{
    for (size_t i = 0; i < s->num_dirty_subs; i++) {
        struct tt_sub_acc *a = s->dirty_subs[i];
        a->dirty = false;
        int32_t d = a->count - a->reported;
        if (d) {
            if (b->num_subs == b->alloc_subs) {
                b->alloc_subs = b->alloc_subs ? b->alloc_subs * 2 : 16;
                b->subs = tt_realloc(b->subs, b->alloc_subs * sizeof(*b->subs));
            }
            struct tt_sub_delta *sd = &b->subs[b->num_subs++];
            sd->mode = a->mode;
            sd->delta = d;
            sd->channel = tt_strndup(a->key + 1, a->key_len - 1);
            a->reported = a->count;
        }
        if (a->count == 0) {
            free(tt_map_remove(&s->subs, a->key, a->key_len));
        }
    }
    s->num_dirty_subs = 0;
}

void tt_wstats_latency(struct tt_wstats *s, double ms, uint64_t n)
{
    size_t i = 0;
    while (i < TT_LAT_BUCKETS - 1 && ms > tt_lat_bounds_ms[i])
        i++;
    s->cur.lat_count[i] += n;
    s->cur.lat_sum_ms += ms * (double)n;
    tt_wstats_touch(s);
}

struct tt_wstats_batch *tt_wstats_take(struct tt_wstats *s, int worker)
{
    if (!s->dirty)
        return NULL;
    s->dirty = false;
    struct tt_wstats_batch *b = tt_malloc(sizeof(*b));
    *b = s->cur;
    b->worker = worker;
    /* The changed routes become records (current is a gauge, the rest deltas). */
    b->num_routes = s->num_dirty;
    b->routes = b->num_routes ? tt_calloc(b->num_routes, sizeof(*b->routes)) : NULL;
    for (size_t i = 0; i < b->num_routes; i++) {
        struct tt_route_acc *a = s->dirty_accs[i];
        b->routes[i].route = tt_strdup(a->route);
        b->routes[i].activity = a->activity;
        b->routes[i].current = a->current;
        b->routes[i].minutes = a->minutes;
        a->activity = a->minutes = 0;
        a->dirty = false;
    }
    s->num_dirty = 0;
    take_subs(s, b);
    memset(&s->cur, 0, sizeof(s->cur));
    return b;
}

/* ---- connection queries ---- */

struct tt_connq *tt_connq_new(enum tt_connq_kind kind, const char *const *ids, const size_t *lens,
                              size_t n)
{
    struct tt_connq *q = tt_calloc(1, sizeof(*q));
    q->refs = 1;
    q->kind = kind;
    q->n = n;
    q->ids = tt_calloc(n ? n : 1, sizeof(char *));
    q->lens = tt_calloc(n ? n : 1, sizeof(size_t));
    q->found = tt_calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++) {
        q->ids[i] = tt_strndup(ids[i], lens[i]);
        q->lens[i] = lens[i];
    }
    tt_list_init(&q->link);
    return q;
}

struct tt_connq *tt_connq_ref(struct tt_connq *q)
{
    __atomic_add_fetch(&q->refs, 1, __ATOMIC_RELAXED);
    return q;
}

void tt_connq_unref(struct tt_connq *q)
{
    if (!q || __atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < q->n; i++)
        free(q->ids[i]);
    free(q->ids);
    free(q->lens);
    free(q->found);
    free(q);
}

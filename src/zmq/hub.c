/* hub.c: the zhttp client sockets and their thread (see hub.h).
 *
 * Socket options are Pushpin's ZhttpManager client side with bind on (ZRoutes): DEALER
 * (zhttpreq) and PUSH with a high-water mark of 100 and no linger; ROUTER with our
 * identity, ZMQ_IMMEDIATE and a mark of 101000; SUB with a mark of 101000, subscribed to
 * "<instance id> ". */
#include "zmq/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "core/log.h"
#include "core/map.h"
#include "zmq/sock.h"

#define OUT_HWM 100
#define IN_HWM 101000
#define MAX_MSG ((int64_t)16 << 20)
#define IDLE_CLOSE_MS 70000
#define TICK_MS 5000
#define WARN_PER_TICK 10

enum { HUB_OUT = TT_INBOX_LOCAL, HUB_TARGETS, HUB_STOP };

/* A packet from a worker; the strings and bytes follow the struct. */
struct out_pkt {
    enum tt_zhub_route route;
    char *key;
    char *to;
    size_t to_len;
    char *id;
    size_t id_len;
    char *data;
    size_t len;
};

struct targets_msg {
    size_t n;
    char **keys;
};

/* The sockets of one target. */
struct zset {
    struct tt_zhub *hub;
    char *key;
    uint64_t hash;
    bool req;
    bool failed;  /* could not be set up: every request is unavailable */
    bool dropped; /* no snapshot names it any more */
    uint64_t last_used;
    struct tt_zmq_sock *dealer, *push, *router, *sub;
};

struct tt_zhub {
    char *instance_id;
    size_t instance_len;
    struct tt_inbox *const *workers;
    int num_workers;
    int inbox_kind;
    uv_loop_t loop;
    struct tt_inbox inbox;
    uv_timer_t tick;
    uv_thread_t thread;
    bool running, stopping;
    struct tt_map sets; /* key -> struct zset */
    uint64_t malformed, warned;
};

void tt_zhub_in_unref(struct tt_zhub_in *in)
{
    if (in && __atomic_sub_fetch(&in->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        tt_zhttp_packet_deinit(&in->pkt);
        free(in);
    }
}

size_t tt_zhub_key(bool req, const char *spec, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", req ? "zhttpreq" : "zhttp", spec ? spec : "");
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

static void bad_packet(struct tt_zhub *h, const char *what, const char *why)
{
    h->malformed++;
    if (h->warned++ < WARN_PER_TICK)
        tt_warn("zhttp client: received message with %s%s%s, skipping", what, why ? ": " : "",
                why ? why : "");
}

/* ---- incoming ---- */

/* The worker index at the front of a request id "<worker>-<n>", or -1. */
static int id_worker(const struct tt_zhttp_str *id, int num_workers)
{
    int w = 0;
    size_t i = 0;
    for (; i < id->len && i < 3 && id->p[i] >= '0' && id->p[i] <= '9'; i++)
        w = w * 10 + (id->p[i] - '0');
    if (i == 0 || i >= id->len || id->p[i] != '-' || w >= num_workers)
        return -1;
    return w;
}

static void route_packet(struct zset *z, const char *data, size_t len)
{
    struct tt_zhub *h = z->hub;
    struct tt_zhub_in *in = tt_calloc(1, sizeof(*in));
    char err[256];
    if (tt_zhttp_decode(data, len, TT_ZHTTP_RESPONSE, NULL, &in->pkt, err, sizeof(err)) < 0) {
        free(in);
        bad_packet(h, err, NULL);
        return;
    }
    uint64_t mask = 0;
    for (size_t i = 0; i < in->pkt.num_ids; i++) {
        int w = id_worker(&in->pkt.ids[i].id, h->num_workers);
        if (w < 0) {
            tt_debug("zhttp client: received message for unknown request id, skipping");
            continue;
        }
        mask |= (uint64_t)1 << w;
    }
    if (!mask) {
        tt_zhttp_packet_deinit(&in->pkt);
        free(in);
        return;
    }
    z->last_used = uv_now(&h->loop);
    in->target = z->hash;
    in->refs = __builtin_popcountll(mask);
    for (int w = 0; w < h->num_workers; w++)
        if (mask & ((uint64_t)1 << w))
            tt_inbox_post(h->workers[w], h->inbox_kind, in);
}

static void report_unavailable(struct tt_zhub *h, struct zset *z, const struct out_pkt *o)
{
    struct tt_zhttp_str id = {o->id, o->id_len};
    int w = id_worker(&id, h->num_workers);
    if (w < 0 || o->id_len >= sizeof(((struct tt_zhub_in *)0)->id))
        return;
    struct tt_zhub_in *in = tt_calloc(1, sizeof(*in));
    tt_zhttp_packet_init(&in->pkt);
    in->refs = 1;
    in->status = TT_ZHUB_UNAVAILABLE;
    in->target = z ? z->hash : tt_hash(o->key, strlen(o->key));
    memcpy(in->id, o->id, o->id_len);
    tt_inbox_post(h->workers[w], h->inbox_kind, in);
}

static void on_dealer(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct zset *z = ctx;
    if (n != 2) {
        bad_packet(z->hub, "parts != 2", NULL);
        return;
    }
    route_packet(z, parts[1].data, parts[1].len);
}

static void on_router(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct zset *z = ctx;
    if (n != 3) {
        bad_packet(z->hub, "parts != 3", NULL);
        return;
    }
    if (parts[2].len == 9 && memcmp(parts[2].data, "probe-ack", 9) == 0)
        return;
    route_packet(z, parts[2].data, parts[2].len);
}

static void on_sub(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct zset *z = ctx;
    struct tt_zhttp_str addr, pkt;
    if (n != 1) {
        bad_packet(z->hub, "parts != 1", NULL);
        return;
    }
    if (tt_zhttp_split_addressed(parts[0].data, parts[0].len, &addr, &pkt) < 0) {
        bad_packet(z->hub, "invalid format", NULL);
        return;
    }
    route_packet(z, pkt.p, pkt.len);
}

/* ---- sets ---- */

static void set_close(struct zset *z)
{
    tt_zmq_sock_close(z->dealer);
    tt_zmq_sock_close(z->push);
    tt_zmq_sock_close(z->router);
    tt_zmq_sock_close(z->sub);
    z->dealer = z->push = z->router = z->sub = NULL;
}

static void set_free(struct zset *z)
{
    set_close(z);
    free(z->key);
    free(z);
}

static int open_one(struct zset *z, const struct tt_zmq_sock_opts *o, tt_zmq_recv_fn fn,
                    const char *spec, struct tt_zmq_sock **out)
{
    struct tt_zhub *h = z->hub;
    int r = tt_zmq_sock_new(&h->loop, o, fn, z, out);
    if (r == 0) {
        r = tt_zmq_sock_bind(*out, spec);
        if (r < 0)
            tt_err("zhttp: target %s: unable to bind to %s: %s", z->key, spec, zmq_strerror(-r));
    } else {
        tt_err("zhttp: target %s: cannot create a socket: %s", z->key, zmq_strerror(-r));
    }
    if (r == 0)
        r = tt_zmq_sock_start(*out);
    return r;
}

static struct zset *set_open(struct tt_zhub *h, const char *key)
{
    struct zset *z = tt_calloc(1, sizeof(*z));
    z->hub = h;
    z->key = tt_strdup(key);
    z->hash = tt_hash(key, strlen(key));
    z->last_used = uv_now(&h->loop);
    tt_map_put(&h->sets, key, strlen(key), z);
    int r;
    if (strncmp(key, "zhttpreq/", 9) == 0) {
        z->req = true;
        struct tt_zmq_sock_opts o = {.type = ZMQ_DEALER,
                                     .sndhwm = OUT_HWM,
                                     .rcvhwm = OUT_HWM,
                                     .maxmsgsize = MAX_MSG,
                                     .max_parts = 4};
        r = open_one(z, &o, on_dealer, key + 9, &z->dealer);
    } else {
        char *specs[3] = {NULL, NULL, NULL};
        r = strncmp(key, "zhttp/", 6) == 0 ? tt_zhttp_stream_specs(key + 6, specs) : TT_EPARSE;
        if (r < 0) {
            tt_err("zhttp: target %s: not a valid zhttp spec", key);
        } else {
            struct tt_zmq_sock_opts push = {
                .type = ZMQ_PUSH, .sndhwm = OUT_HWM, .maxmsgsize = MAX_MSG};
            struct tt_zmq_sock_opts router = {.type = ZMQ_ROUTER,
                                              .sndhwm = IN_HWM,
                                              .rcvhwm = IN_HWM,
                                              .maxmsgsize = MAX_MSG,
                                              .max_parts = 4,
                                              .identity = h->instance_id,
                                              .identity_len = h->instance_len,
                                              .immediate = true};
            struct tt_zmq_sock_opts sub = {
                .type = ZMQ_SUB, .rcvhwm = IN_HWM, .maxmsgsize = MAX_MSG, .max_parts = 2};
            r = open_one(z, &push, NULL, specs[0], &z->push);
            if (r == 0)
                r = open_one(z, &router, on_router, specs[1], &z->router);
            if (r == 0)
                r = open_one(z, &sub, on_sub, specs[2], &z->sub);
            if (r == 0) {
                char topic[300];
                int tn = snprintf(topic, sizeof(topic), "%s ", h->instance_id);
                r = tt_zmq_sock_subscribe(z->sub, topic, (size_t)tn, true);
            }
        }
        for (int i = 0; i < 3; i++)
            free(specs[i]);
    }
    if (r < 0) {
        set_close(z);
        z->failed = true;
    } else {
        tt_info("zhttp: target %s ready", key);
    }
    return z;
}

static void apply_targets(struct tt_zhub *h, struct targets_msg *m)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&h->sets, &it); e; e = tt_map_next(&h->sets, e, &it))
        ((struct zset *)e->value)->dropped = true;
    for (size_t i = 0; i < m->n; i++) {
        struct zset *z = tt_map_get(&h->sets, m->keys[i], strlen(m->keys[i]));
        if (!z)
            z = set_open(h, m->keys[i]);
        else if (z->failed) {
            /* Named again (a reload): try to set it up afresh. */
            tt_map_remove(&h->sets, z->key, strlen(z->key));
            set_free(z);
            z = set_open(h, m->keys[i]);
        }
        z->dropped = false;
    }
}

static void send_out(struct tt_zhub *h, struct out_pkt *o)
{
    struct zset *z = tt_map_get(&h->sets, o->key, strlen(o->key));
    if (!z)
        z = set_open(h, o->key);
    z->last_used = uv_now(&h->loop);
    if (z->failed) {
        report_unavailable(h, z, o);
        return;
    }
    int r;
    if (o->route == TT_ZHUB_REQ) {
        if (!z->dealer)
            return;
        struct tt_zmq_part parts[2] = {{"", 0}, {o->data, o->len}};
        r = tt_zmq_sock_send(z->dealer, parts, 2);
    } else if (o->route == TT_ZHUB_FIRST) {
        /* As Pushpin: a stream request that cannot leave at once is unavailable. */
        if (!z->push || !tt_zmq_sock_writable(z->push)) {
            report_unavailable(h, z, o);
            return;
        }
        struct tt_zmq_part part = {o->data, o->len};
        r = tt_zmq_sock_send(z->push, &part, 1);
    } else {
        if (!z->router)
            return;
        struct tt_zmq_part parts[3] = {{o->to, o->to_len}, {"", 0}, {o->data, o->len}};
        r = tt_zmq_sock_send(z->router, parts, 3);
    }
    if (r < 0)
        tt_debug("zhttp: target %s: packet dropped: %s", z->key,
                 r == TT_ETOOBIG ? "queue full" : zmq_strerror(-r));
}

static void on_tick(uv_timer_t *t)
{
    struct tt_zhub *h = t->data;
    if (h->warned > WARN_PER_TICK)
        tt_warn("zhttp client: %llu more malformed messages not logged",
                (unsigned long long)(h->warned - WARN_PER_TICK));
    h->warned = 0;
    uint64_t now = uv_now(&h->loop);
    for (;;) {
        size_t it;
        struct zset *victim = NULL;
        for (struct tt_map_entry *e = tt_map_first(&h->sets, &it); e;
             e = tt_map_next(&h->sets, e, &it)) {
            struct zset *z = e->value;
            if (z->dropped && now - z->last_used >= IDLE_CLOSE_MS) {
                victim = z;
                break;
            }
        }
        if (!victim)
            break;
        tt_info("zhttp: target %s no longer routed; closed", victim->key);
        tt_map_remove(&h->sets, victim->key, strlen(victim->key));
        set_free(victim);
    }
}

static void free_targets_msg(struct targets_msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m);
}

static void shut_down(struct tt_zhub *h)
{
    h->stopping = true;
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&h->sets, &it); e; e = tt_map_next(&h->sets, e, &it))
        set_close(e->value);
    uv_close((uv_handle_t *)&h->tick, NULL);
    tt_inbox_close(&h->inbox);
}

static void on_item(void *ctx, int kind, void *ptr)
{
    struct tt_zhub *h = ctx;
    if (kind == HUB_OUT) {
        if (!h->stopping)
            send_out(h, ptr);
        free(ptr);
    } else if (kind == HUB_TARGETS) {
        if (!h->stopping)
            apply_targets(h, ptr);
        free_targets_msg(ptr);
    } else if (kind == HUB_STOP) {
        if (!h->stopping)
            shut_down(h);
    }
}

static void discard_item(int kind, void *ptr)
{
    if (kind == HUB_TARGETS)
        free_targets_msg(ptr);
    else
        free(ptr);
}

static const struct tt_inbox_ops hub_ops = {
    .item = on_item,
    .discard = discard_item,
};

static void hub_main(void *arg)
{
    struct tt_zhub *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

struct tt_zhub *tt_zhub_new(const char *instance_id, struct tt_inbox *const *workers, int n,
                            int inbox_kind)
{
    struct tt_zhub *h = tt_calloc(1, sizeof(*h));
    h->instance_id = tt_strdup(instance_id);
    h->instance_len = strlen(instance_id);
    h->workers = workers;
    h->num_workers = n;
    h->inbox_kind = inbox_kind;
    uv_loop_init(&h->loop);
    tt_inbox_init(&h->inbox, &h->loop, &hub_ops, h);
    uv_timer_init(&h->loop, &h->tick);
    h->tick.data = h;
    tt_map_init(&h->sets);
    return h;
}

int tt_zhub_start(struct tt_zhub *h)
{
    uv_timer_start(&h->tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&h->tick);
    if (uv_thread_create(&h->thread, hub_main, h) != 0)
        return -EAGAIN;
    h->running = true;
    return 0;
}

const char *tt_zhub_instance_id(const struct tt_zhub *h)
{
    return h->instance_id;
}

void tt_zhub_set_targets(struct tt_zhub *h, char *const *keys, size_t n)
{
    struct targets_msg *m = tt_calloc(1, sizeof(*m));
    m->n = n;
    m->keys = tt_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        m->keys[i] = tt_strdup(keys[i]);
    tt_inbox_post(&h->inbox, HUB_TARGETS, m);
}

void tt_zhub_send(struct tt_zhub *h, const char *key, enum tt_zhub_route route, const char *to,
                  size_t to_len, const char *id, size_t id_len, const char *data, size_t len)
{
    size_t key_len = strlen(key);
    struct out_pkt *o = tt_malloc(sizeof(*o) + key_len + 1 + to_len + id_len + len);
    char *p = (char *)(o + 1);
    o->route = route;
    o->key = p;
    memcpy(p, key, key_len + 1);
    p += key_len + 1;
    o->to = p;
    o->to_len = to_len;
    if (to_len)
        memcpy(p, to, to_len);
    p += to_len;
    o->id = p;
    o->id_len = id_len;
    if (id_len)
        memcpy(p, id, id_len);
    p += id_len;
    o->data = p;
    o->len = len;
    memcpy(p, data, len);
    tt_inbox_post(&h->inbox, HUB_OUT, o);
}

void tt_zhub_stop(struct tt_zhub *h)
{
    if (!h || !h->running)
        return;
    tt_inbox_post(&h->inbox, HUB_STOP, NULL);
    uv_thread_join(&h->thread);
    h->running = false;
}

void tt_zhub_free(struct tt_zhub *h)
{
    if (!h)
        return;
    tt_zhub_stop(h);
    if (!h->stopping)
        shut_down(h);
    /* Let the sockets' and the inbox's close callbacks run. */
    uv_run(&h->loop, UV_RUN_DEFAULT);
    uv_loop_close(&h->loop);
    tt_inbox_deinit(&h->inbox);
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&h->sets, &it); e;
         e = tt_map_next(&h->sets, e, &it)) {
        struct zset *z = e->value;
        free(z->key);
        free(z);
    }
    tt_map_deinit(&h->sets);
    free(h->instance_id);
    free(h);
}

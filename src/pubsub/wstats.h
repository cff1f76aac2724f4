/* wstats.h: what a worker tells the control thread's stats (stats/stats.h), batched, and
 * the connection queries (conncheck, refresh) the control thread puts to the workers.
 *
 * A worker accumulates into its struct tt_wstats: counters (requests, deliveries by
 * format, drops, errors by kind, a publish-to-write latency histogram), per stats route
 * (the route's id, "" for routes without one) its activity, open connections and
 * connection minutes, the net subscription count change per (mode, channel), and, only while
 * someone subscribes to the stats socket's "conn" messages, one event per connection
 * opened, refreshed or closed. tt_wstats_take hands all of it over as one batch (the
 * worker posts it to the stats inbox about every 100 ms while anything changes), so a
 * request costs a few increments and no allocation, and a delivery one increment.
 *
 * A connection here is what Pushpin counts: an HTTP request from its start to its end
 * (a hold included), or a WebSocket session. Each embeds a struct tt_wstats_conn, which
 * sits in one of N refresh buckets (N = stats_connection_ttl * 3/4 seconds): once a
 * second the worker visits one bucket, so every connection is refreshed (and its
 * connection minutes counted, one at the start and one per full minute after) every
 * ttl*3/4 seconds, as Pushpin's stats manager does, at a constant cost per second.
 *
 * Owner: struct tt_wstats is embedded in a worker; a batch belongs to the inbox until the
 * stats module frees it (tt_wstats_batch_free). Thread: the worker's, except the batch
 * and query functions marked otherwise. */
#ifndef TT_WSTATS_H
#define TT_WSTATS_H

#include "core/list.h"
#include "core/map.h"
#include "pubsub/inbox.h"

/* Kinds of the stats module's inbox (workers post to it). */
enum tt_wstats_inbox_kind {
    TT_WSTATS_BATCH = TT_INBOX_LOCAL, /* ptr: a struct tt_wstats_batch * */
    TT_WSTATS_CONNQ,                  /* ptr: a struct tt_connq * (the worker's reference) */
};

/* Latency buckets (upper bounds in ms; one more bucket for +Inf). */
#define TT_LAT_BUCKETS 15
extern const double tt_lat_bounds_ms[TT_LAT_BUCKETS - 1];

enum tt_conn_type { TT_CONN_HTTP = 0, TT_CONN_WS };
enum tt_conn_op { TT_CONN_OPEN = 0, TT_CONN_REFRESH, TT_CONN_CLOSE };
/* Subscription modes, in the fan-out engine's format order. */
enum tt_sub_mode { TT_MODE_RESPONSE = 0, TT_MODE_STREAM, TT_MODE_WS, TT_MODES };

enum tt_err_kind {
    TT_ERR_BAD_REQUEST = 0, /* a client request refused as malformed (400, 501, 505) */
    TT_ERR_NO_ROUTE,        /* 502 Route not found */
    TT_ERR_BACKEND_CONNECT, /* no target could be connected to */
    TT_ERR_BACKEND_TIMEOUT, /* backend or zhttp handler timed out */
    TT_ERR_BACKEND,         /* any other backend failure (502 or truncated response) */
    TT_ERR_GRIP,            /* invalid GRIP instructions from a backend */
    TT_ERR_KINDS,
};
extern const char *const tt_err_kind_names[TT_ERR_KINDS];

struct tt_conn_event {
    uint8_t op;   /* enum tt_conn_op */
    uint8_t type; /* enum tt_conn_type */
    bool ssl;
    char id[72];
    char peer[48];
    char route[64];
};

struct tt_route_stats {
    char *route; /* "" = routes without an id */
    uint64_t activity;
    int64_t current; /* open connections on this worker */
    uint64_t minutes;
};

struct tt_sub_delta {
    uint8_t mode;
    int32_t delta;
    char *channel;
};

struct tt_wstats_batch {
    int worker;
    uint64_t requests;
    uint64_t deliveries[TT_MODES];
    uint64_t drops;
    uint64_t errors[TT_ERR_KINDS];
    uint64_t lat_count[TT_LAT_BUCKETS];
    double lat_sum_ms;
    int64_t subscribers[TT_MODES]; /* gauges: holds and sessions now */
    int64_t subscriptions;         /* gauge: channel subscriptions now */
    struct tt_route_stats *routes; /* every route this worker has seen (current gauges) */
    size_t num_routes;
    struct tt_conn_event *conns;
    size_t num_conns, alloc_conns;
    struct tt_sub_delta *subs;
    size_t num_subs, alloc_subs;
};
/* Any thread. */
void tt_wstats_batch_free(struct tt_wstats_batch *b);

/* Embedded in a connection (HTTP request, WebSocket session). */
struct tt_wstats_conn {
    struct tt_list link; /* refresh bucket; self-linked when not counted */
    struct tt_route_acc *acc;
    uint64_t opened_ms;
    uint64_t rid;    /* HTTP: the request id (cid "<instance>:<rid hex>") */
    const char *cid; /* WebSocket: its cid (owner's storage) */
    const char *peer;
    uint32_t minutes;
    uint8_t type;
    bool ssl;
    bool announced; /* an open event went out */
};

struct tt_route_acc;
struct tt_sub_acc;

struct tt_wstats {
    const char *instance;    /* HTTP cid prefix (borrowed) */
    const int *conns_wanted; /* atomic flag owned by the server: someone reads conn events */
    void (*kick)(void *ctx); /* something changed: a batch is due */
    void *kick_ctx;
    bool dirty;
    struct tt_map routes;             /* route id -> struct tt_route_acc */
    struct tt_route_acc *def;         /* routes without an id */
    struct tt_route_acc **dirty_accs; /* routes changed since the last take */
    size_t num_dirty, alloc_dirty;
    struct tt_map subs;             /* mode byte + channel -> struct tt_sub_acc */
    struct tt_sub_acc **dirty_subs; /* changed since the last take */
    size_t num_dirty_subs, alloc_dirty_subs;
    struct tt_list *buckets;
    size_t num_buckets, bucket;
    struct tt_wstats_batch cur;
};

/* ttl_s: stats_connection_ttl. */
void tt_wstats_init(struct tt_wstats *s, const char *instance, const int *conns_wanted, int ttl_s,
                    void (*kick)(void *ctx), void *ctx);
void tt_wstats_deinit(struct tt_wstats *s);
/* Mark a change (counters updated directly in s->cur by their owners). */
static inline void tt_wstats_touch(struct tt_wstats *s)
{
    if (!s->dirty) {
        s->dirty = true;
        if (s->kick)
            s->kick(s->kick_ctx);
    }
}
/* A connection opens on route `route` (NULL or "" = no id): counted, announced when
 * someone listens. rid for HTTP, cid for WebSocket; peer borrowed for the connection's
 * life. */
void tt_wstats_conn_open(struct tt_wstats *s, struct tt_wstats_conn *c, enum tt_conn_type type,
                         uint64_t rid, const char *cid, const char *peer, bool ssl,
                         const char *route);
/* It ends (no-op if it never opened). */
void tt_wstats_conn_close(struct tt_wstats *s, struct tt_wstats_conn *c);
/* The connection's record moves (its owner is replaced): dst takes src's place, with
 * peer (text that outlives dst) for its events; src is left closed. */
void tt_wstats_conn_move(struct tt_wstats_conn *dst, struct tt_wstats_conn *src, const char *peer);
/* Once a second: refresh one bucket. */
void tt_wstats_tick(struct tt_wstats *s, uint64_t now_ms);
/* A subscription count change for (mode, channel). The batch carries the net change since
 * the last take (a subscribe and unsubscribe within one batch cancel out): a hash lookup
 * per change, no allocation unless the pair is new to this worker. */
void tt_wstats_sub(struct tt_wstats *s, enum tt_sub_mode mode, const char *channel, int delta);
/* One message delivered to n subscribers, latency_ms after it was published. */
void tt_wstats_latency(struct tt_wstats *s, double latency_ms, uint64_t n);
/* The HTTP cid of request rid into out (size >= 72). */
void tt_wstats_http_cid(const struct tt_wstats *s, uint64_t rid, char *out, size_t size);
/* Everything since the last take (gauges filled by the caller before posting). NULL
 * when nothing changed. */
struct tt_wstats_batch *tt_wstats_take(struct tt_wstats *s, int worker);

/* ---- connection queries ---- */

enum tt_connq_kind { TT_CONNQ_CHECK, TT_CONNQ_REFRESH_CID, TT_CONNQ_REFRESH_CHANNEL };

/* Posted by the stats module to every worker (TT_WORKER_CONNQ) and back to the stats inbox
 * by each worker when done. found[i] is written only by the worker that owns ids[i] (so
 * no two threads write the same byte); the inbox hand-offs order the writes before the
 * stats module reads them. Freed when the last reference goes. */
struct tt_connq {
    int refs; /* atomic */
    enum tt_connq_kind kind;
    size_t n;
    char **ids; /* NUL-terminated copies; a channel for TT_CONNQ_REFRESH_CHANNEL */
    size_t *lens;
    uint8_t *found;
    int answers;         /* stats side: workers that answered */
    void *owner;         /* stats side: the command it answers, or NULL once abandoned */
    struct tt_list link; /* stats side: pending queries */
};
/* ids copied. One reference. Any thread. */
struct tt_connq *tt_connq_new(enum tt_connq_kind kind, const char *const *ids, const size_t *lens,
                              size_t n);
struct tt_connq *tt_connq_ref(struct tt_connq *q);
void tt_connq_unref(struct tt_connq *q);

#endif

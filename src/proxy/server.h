/* server.h: the process-wide server and its shared-nothing workers.
 *
 * struct tt_server is built by main before any thread starts and is read-only afterwards,
 * except the fields marked otherwise. Each worker owns a libuv loop, its listeners, its
 * client and backend connections and its fan-out engine; other threads reach a worker
 * only through its inbox (pubsub/inbox.h). Thread: as marked per function. */
#ifndef TT_SERVER_H
#define TT_SERVER_H

#include <uv.h>

#include "core/config.h"
#include "core/idmap.h"
#include "core/list.h"
#include "core/map.h"
#include "core/wheel.h"
#include "grip/jwt.h"
#include "routes/routes.h"
#include "net/poller.h"
#include "pubsub/fanout.h"
#include "pubsub/inbox.h"
#include "pubsub/lastid.h"
#include "pubsub/wstats.h"

struct tt_server;
struct tt_control;
struct tt_client;
struct tt_grip;
struct tt_resp;
struct tt_h1_request;
struct tt_ws_inflater;
struct tt_tls_server;
struct tt_ws_server_hs;
struct tt_zhub;

/* A worker's own inbox kinds (beside TT_INBOX_MSG and TT_INBOX_RECOVER). */
enum tt_worker_inbox_kind {
    TT_WORKER_ROUTES = TT_INBOX_LOCAL, /* ptr: a struct tt_routes * (one reference) */
    TT_WORKER_STOP,                    /* drain and stop */
    TT_WORKER_RESUME,                  /* resume accepting (below client_maxconn again) */
    TT_WORKER_ZHTTP,                   /* ptr: a struct tt_zhub_in * (one reference) */
    TT_WORKER_CONNQ,                   /* ptr: a struct tt_connq * (one reference) */
};

struct tt_worker_stats {
    uint64_t requests, held;
    uint64_t drops_logged; /* fan-out drops already reported in the log */
    uint64_t h2_conns, h2_streams; /* HTTP/2 connections and streams taken */
    uint64_t h2_limits;            /* HTTP/2 connections cut by an abuse limit (h2/h2.h) */
};

/* A worker's listening socket for one port, in its own epoll set: a socket of its own
 * (plain ports), or its dup of the process's one socket for the port, shared by the
 * workers (TLS ports; exclusive: one waiting worker is woken per connection). */
struct tt_listener {
    struct tt_pollfd pfd; /* fd -1 once closed */
    struct tt_worker *w;
    uint16_t tls_port; /* its port when it is a TLS listener, else 0 */
    bool shared;
};

struct tt_worker {
    int index;
    struct tt_server *srv;
    uv_thread_t thread;
    uv_loop_t loop;
    struct tt_poller poller; /* every socket of the worker but its listeners */
    struct tt_wheel wheel;   /* the clients' timers */
    uv_timer_t wheel_timer;  /* drives the wheel while anything is armed */
    struct tt_inbox inbox;
    struct tt_routes *routes; /* this worker's ref */
    char *scratch;            /* read buffer shared by all connections of the worker */
    size_t scratch_size;
    struct tt_listener *listeners; /* this worker's entries for the process's listeners */
    int num_listeners;
    int accept_paused; /* atomic: listeners out of the epoll set at client_maxconn */
    struct tt_list clients; /* every tt_client of this worker */
    int num_clients; /* this worker's */
    struct tt_map pool;     /* "host:port/ssl" -> struct tt_list of idle backends */
    struct tt_fanout fanout; /* channel index and delivery */
    struct tt_client **dirty; /* clients with output queued by this inbox batch */
    size_t num_dirty, dirty_alloc;
    uv_timer_t tick;        /* 1 s housekeeping */
    bool stopping;
    uint64_t stop_deadline;
    uint64_t next_conn_id;
    /* Compact records made (tt_client_compact) since the allocator was last trimmed, and
     * the count at the last tick (see on_tick). */
    uint64_t compacted, compacted_seen;
    char sig_cache[1024]; /* Grip-Sig token for the global key, re-signed each second */
    int64_t sig_cache_time;
    struct tt_worker_stats stats;
    struct tt_ws_inflater *ws_inflater; /* shared by WebSockets with deflate; lazily made */
    /* zhttp exchanges (proxy/zhttpup.c) */
    struct tt_map zhttp_ids;    /* request id -> exchange */
    struct tt_list zhttp_all;   /* every exchange under way (keep-alives, expiry) */
    struct tt_list zhttp_dirty; /* exchanges with packets to send before the loop sleeps */
    uint64_t next_zhttp_id;
    /* stats and connection registries */
    struct tt_wstats wstats;
    uv_timer_t stats_timer;       /* a batch for the stats module is due */
    struct tt_idmap requests;     /* request id -> tt_client or tt_held (conncheck) */
    uint64_t next_rid;
    struct tt_map ws_sessions;    /* cid -> websocket/registry.c entry */
    uint64_t last_delivered[3], last_drops;
    struct {
        uint64_t created_ms, n;
    } *lat;                       /* messages of this inbox batch: latency after the flush */
    size_t num_lat, alloc_lat;
};

struct tt_server {
    struct tt_config cfg;
    char *config_path;
    struct tt_key *sig_key;      /* NULL = no Grip-Sig */
    struct tt_key *upstream_key; /* NULL = no trusted clients */
    struct tt_tls_server *tls;   /* https_ports certificates, or NULL */
    char **route_lines;          /* --route lines, or NULL to use the routes file */
    size_t num_route_lines;
    uv_mutex_t routes_lock;
    struct tt_routes *routes; /* current snapshot (under routes_lock) */
    int num_workers;
    struct tt_worker *workers;
    struct tt_control *control;
    struct tt_inbox *control_inbox; /* subscription reports go here */
    const char *grip_feature;
    /* Act on a complete GRIP response for the client's request (hold/ registers
     * tt_hold_start here: the proxy layer does not call up by name). */
    int (*grip_start)(struct tt_client *c, struct tt_grip *g, struct tt_resp *resp);
    /* Take a client's valid WebSocket upgrade over (websocket/ registers
     * tt_ws_session_start). */
    void (*ws_start)(struct tt_client *c, const struct tt_h1_request *h,
                     const struct tt_route *route, const struct tt_ws_server_hs *hs);
    /* Take a connection over as HTTP/2 (h2/ registers tt_h2_start when [runner] http2 is
     * on; NULL otherwise): after ALPN "h2", or on the connection preface with data/len
     * the bytes read so far. */
    void (*h2_start)(struct tt_client *c, const char *data, size_t len);
    int stop_requested; /* atomic */
    int num_clients;    /* atomic: client connections of every worker (client_maxconn) */
    struct tt_lastids last_ids; /* known last id per channel (prev-id checks) */
    struct tt_zhub *zhub;       /* zhttp target sockets (zmq/hub.h); set before workers start */
    char instance_id[64];       /* our zhttp address, stats "from", HTTP cid prefix */
    struct tt_inbox *stats_inbox; /* the stats module's (stats/stats.h); NULL = none */
    const int *stats_conns_wanted; /* atomic flag: someone reads conn events */
    /* Connection queries the WebSocket layer answers (websocket/registry.h). */
    bool (*ws_alive)(struct tt_worker *w, const char *cid, size_t len);
    bool (*ws_refresh)(struct tt_worker *w, const char *cid, size_t len);
    void (*ws_refresh_channel)(struct tt_worker *w, const char *channel);
};

/* The worker whose fan-out engine fo is (embedded in it). */
static inline struct tt_worker *tt_worker_of_fanout(struct tt_fanout *fo)
{
    return TT_CONTAINER_OF(fo, struct tt_worker, fanout);
}
/* A timer was armed on the worker's wheel: make sure it turns. Worker thread. */
void tt_worker_wheel_armed(struct tt_worker *w);
/* Start every worker thread with its listeners. Main thread. */
int tt_workers_start(struct tt_server *srv);
/* Post to a worker's inbox (the kind says what ptr is; its reference passes). Any thread. */
void tt_worker_post(struct tt_worker *w, int kind, void *ptr);
/* A client connection closed on worker w: count it and wake workers whose listeners were
 * paused at client_maxconn. Worker thread. */
void tt_worker_client_closed(struct tt_worker *w);
/* The worker that owns request id rid (HTTP cid "<instance>:<rid hex>"). */
#define TT_RID_WORKER(rid) ((int)((rid)&63))
/* Ask every worker to drain and stop, then join them. Main thread. */
void tt_workers_stop(struct tt_server *srv);
/* Free the workers (after tt_workers_stop, once no other thread posts to their inboxes any
 * more: the zhttp hub is stopped in between). Main thread. */
void tt_workers_free(struct tt_server *srv);

#endif

/* server.h: the process-wide server and its shared-nothing workers.
 *
 * struct tt_server is built by main before any thread starts and is read-only afterwards,
 * except the fields marked otherwise. Each worker owns a libuv loop, its listeners, its
 * client and backend connections and its channel index; the control thread reaches a
 * worker only through tt_worker_post. Thread: as marked per function. */
#ifndef TT_SERVER_H
#define TT_SERVER_H

#include <uv.h>

#include "core/config.h"
#include "core/list.h"
#include "core/map.h"
#include "proxy/jwt.h"
#include "proxy/routes.h"
#include "pubsub/msg.h"

struct tt_server;
struct tt_control;

enum tt_inbox_kind { TT_INBOX_MSG, TT_INBOX_ROUTES, TT_INBOX_STOP, TT_INBOX_RECOVER, TT_INBOX_RESUME };

struct tt_inbox_item {
    struct tt_inbox_item *next;
    enum tt_inbox_kind kind;
    void *ptr; /* tt_msg* (one ref) or tt_routes* (one ref) */
};

struct tt_worker_stats {
    uint64_t requests, deliveries, drops, held;
    uint64_t drops_logged; /* drops already reported in the log */
};

struct tt_worker {
    int index;
    struct tt_server *srv;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t inbox_async;
    uv_mutex_t inbox_lock;
    struct tt_inbox_item *inbox_head, *inbox_tail;
    struct tt_routes *routes; /* this worker's ref */
    char *scratch;            /* read buffer shared by all connections of the worker */
    size_t scratch_size;
    uv_poll_t *listeners;
    int *listen_fds;
    int num_listeners;
    int accept_paused; /* atomic: listeners stopped at client_maxconn */
    struct tt_list clients; /* every tt_client of this worker */
    int num_clients; /* this worker's */
    struct tt_map pool;     /* "host:port/ssl" -> struct tt_list of idle backends */
    struct tt_map chans;    /* channel name -> struct tt_chan */
    struct tt_client **dirty; /* clients with output queued by this inbox batch */
    size_t num_dirty, dirty_alloc;
    uv_timer_t tick;        /* 1 s housekeeping */
    uv_check_t flush_check; /* writes queued this iteration go out before the loop sleeps */
    bool stopping;
    uint64_t stop_deadline;
    uint64_t next_conn_id;
    char sig_cache[1024]; /* Grip-Sig token for the global key, re-signed each second */
    int64_t sig_cache_time;
    struct tt_worker_stats stats;
};

struct tt_server {
    struct tt_config cfg;
    char *config_path;
    struct tt_key *sig_key;      /* NULL = no Grip-Sig */
    struct tt_key *upstream_key; /* NULL = no trusted clients */
    char **route_lines;          /* --route lines, or NULL to use the routes file */
    size_t num_route_lines;
    uv_mutex_t routes_lock;
    struct tt_routes *routes; /* current snapshot (under routes_lock) */
    int num_workers;
    struct tt_worker *workers;
    struct tt_control *control;
    const char *grip_feature;
    int stop_requested; /* atomic */
    int num_clients;    /* atomic: client connections of every worker (client_maxconn) */
    /* Known last id per channel for prev-id checks at hold accept (under lastid_lock). */
    uv_mutex_t lastid_lock;
    struct tt_map last_ids; /* channel -> char* id */
};

/* Start every worker thread with its listeners. Main thread. */
int tt_workers_start(struct tt_server *srv);
/* Post an item to a worker's inbox (takes ownership of ptr's reference). Any thread. */
void tt_worker_post(struct tt_worker *w, enum tt_inbox_kind kind, void *ptr);
/* A client connection closed on worker w: count it and wake workers whose listeners were
 * paused at client_maxconn. Worker thread. */
void tt_worker_client_closed(struct tt_worker *w);
/* Ask every worker to drain and stop, then join them. Main thread. */
void tt_workers_stop(struct tt_server *srv);

/* Known last id of a channel (copy, caller frees) or NULL. Any thread. */
char *tt_server_last_id(struct tt_server *srv, const char *channel);
void tt_server_set_last_id(struct tt_server *srv, const char *channel, const char *id);
void tt_server_clear_last_ids(struct tt_server *srv);

#endif

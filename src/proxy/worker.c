/* worker.c: a worker thread: its loop, the listeners it shares with the other workers,
 * accept with the client_maxconn pause, its inbox, the 1 s housekeeping tick and the
 * drain on stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/client.h"
#include "proxy/server.h"
#include "proxy/upstream.h"
#include "proxy/zhttpup.h"
#include "ws/deflate.h"

#define SCRATCH_SIZE 65536
/* Listeners. A plain port has one listening socket per worker (SO_REUSEPORT: the kernel
 * hashes each connection to one worker's queue): accepting is cheap, and a busy worker
 * takes its queue in batches without being woken for each connection. A TLS port has
 * one socket for the process, shared by the workers (each waits on it in its own epoll
 * set with EPOLLEXCLUSIVE): a handshake costs a few hundred microseconds of CPU, and a
 * connection hashed to a busy worker would wait while another worker idles. A worker
 * takes one connection per wake-up from a shared queue, leaving the next to whichever
 * worker waits first. Measured in README "Benchmarks": the shared queue brought TLS
 * handshakes to nginx's rate; on a plain port it cost 10% of the new-connection rate in
 * wake-ups. */
#define ACCEPT_BATCH_OWN 64
#define ACCEPT_BATCH_SHARED 1
#define DRAIN_TIMEOUT_MS 10000
#define HOLD_QUEUE_ITEMS 100 /* Pushpin's per-session queue */
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

/* Hand-over (README "Restarting without dropping requests"): a successor binds the same
 * ports (SO_REUSEPORT) and the kernel spreads new connections over both processes'
 * listeners. A connection that lands in a listener's queue between its last accept and
 * its close would be reset. So a stopping process first steers the port's new
 * connections to the successor: a classic BPF program on the port's group returning the
 * index of the first listener after its own (a group lists its listeners in joining
 * order, closed ones' slots refilled from the end, so the older process's come first:
 * one per worker on a plain port, one on a TLS port); an index past the end (no
 * successor) means the usual hash. A starting process removes a program left by an
 * earlier hand-over, so that it never pins a port's traffic to one listener. */
static void steer_new_connections(int fd, unsigned first_other)
{
    struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, first_other}};
    struct sock_fprog prog = {.len = 1, .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
        tt_debug("listener: cannot steer new connections to a successor: %s", strerror(errno));
}

static void unsteer(int fd)
{
    int zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero)); /* ENOENT: none */
}

static int listen_socket(const struct tt_listen_addr *a, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    const char *addr = a->addr[0] ? a->addr : "0.0.0.0";
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        len = sizeof(*s6);
    } else {
        snprintf(err, errlen, "invalid listen address %s", addr);
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* accepted sockets inherit it */
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
        int e = errno;
        snprintf(err, errlen, "bind/listen %s:%u: %s", addr, a->port, strerror(e));
        close(fd);
        return -e;
    }
    unsteer(fd);
    return fd;
}

static void on_accept(struct tt_pollfd *f, int events)
{
    (void)events;
    struct tt_listener *l = TT_CONTAINER_OF(f, struct tt_listener, pfd);
    struct tt_worker *w = l->w;
    if (w->stopping)
        return;
    int lfd = f->fd;
    struct tt_server *srv = w->srv;
    int batch = l->shared ? ACCEPT_BATCH_SHARED : ACCEPT_BATCH_OWN;
    for (int i = 0; i < batch; i++) {
        if (__atomic_load_n(&srv->num_clients, __ATOMIC_ACQUIRE) >= srv->cfg.client_maxconn) {
            /* At the cap new connections wait in the kernel's backlog: no CPU spin. */
            if (!__atomic_exchange_n(&w->accept_paused, 1, __ATOMIC_ACQ_REL)) {
                tt_warn("worker %d: client_maxconn reached (%d), pausing accept", w->index,
                        srv->cfg.client_maxconn);
                for (int k = 0; k < w->num_listeners; k++)
                    tt_poller_set(&w->poller, &w->listeners[k].pfd, 0);
            }
            return;
        }
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(lfd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                tt_warn("worker %d: accept: %s", w->index, strerror(errno));
            return;
        }
        /* TCP_NODELAY is inherited from the listening socket. */
        __atomic_add_fetch(&srv->num_clients, 1, __ATOMIC_ACQ_REL);
        tt_client_accept(w, fd, (struct sockaddr *)&peer, l->tls_port);
    }
}

static void resume_accept(struct tt_worker *w)
{
    if (w->stopping || !__atomic_exchange_n(&w->accept_paused, 0, __ATOMIC_ACQ_REL))
        return;
    for (int k = 0; k < w->num_listeners; k++)
        tt_poller_set(&w->poller, &w->listeners[k].pfd, UV_READABLE);
    tt_info("worker %d: accepting again", w->index);
}

void tt_worker_client_closed(struct tt_worker *w)
{
    struct tt_server *srv = w->srv;
    int n = __atomic_sub_fetch(&srv->num_clients, 1, __ATOMIC_ACQ_REL);
    if (n >= srv->cfg.client_maxconn)
        return;
    for (int i = 0; i < srv->num_workers; i++) {
        struct tt_worker *o = &srv->workers[i];
        if (!__atomic_load_n(&o->accept_paused, __ATOMIC_ACQUIRE))
            continue;
        if (o == w)
            resume_accept(w);
        else
            tt_worker_post(o, TT_WORKER_RESUME, NULL);
    }
}

void tt_worker_post(struct tt_worker *w, int kind, void *ptr)
{
    tt_inbox_post(&w->inbox, kind, ptr);
}

static void close_listeners(struct tt_worker *w)
{
    for (int i = 0; i < w->num_listeners; i++) {
        struct tt_pollfd *f = &w->listeners[i].pfd;
        if (f->fd < 0)
            continue;
        /* Out of the set before the close: the other workers' dups keep the socket open,
         * and with it this set's entry. */
        tt_poller_set(&w->poller, f, 0);
        close(f->fd);
        tt_pollfd_closed(&w->poller, f);
        tt_poller_remove(&w->poller, f, NULL);
    }
}

/* Connections the kernel completed but we have not accepted yet would be reset when the
 * listener closes: take them in first, so that they are read and answered (with
 * Connection: close) like the others at shutdown. Bounded by the listen backlog. */
static void accept_backlog(struct tt_worker *w)
{
    for (int k = 0; k < w->num_listeners; k++) {
        struct tt_listener *l = &w->listeners[k];
        for (int i = 0; i < 4096 && l->pfd.fd >= 0; i++) {
            struct sockaddr_storage peer;
            socklen_t peer_len = sizeof(peer);
            int fd = accept4(l->pfd.fd, (struct sockaddr *)&peer, &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            __atomic_add_fetch(&w->srv->num_clients, 1, __ATOMIC_ACQ_REL);
            tt_client_accept(w, fd, (struct sockaddr *)&peer, l->tls_port);
        }
    }
}

/* Writes queued by this turn's callbacks go out before the thread waits again. */
static void flush_queued(void *ctx)
{
    tt__zx_flush(ctx);
    tt_client_flush_dirty(ctx);
}

static void finish_stop(struct tt_worker *w)
{
    tt_upstream_pool_drain(w);
    uv_close((uv_handle_t *)&w->stats_timer, NULL);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->wheel_timer, NULL);
    tt_inbox_close(&w->inbox);
}

static void begin_stop(struct tt_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->stop_deadline = tt_now_ms() + DRAIN_TIMEOUT_MS;
    for (int k = 0; k < w->num_listeners; k++) {
        struct tt_listener *l = &w->listeners[k];
        if (l->pfd.fd >= 0)
            steer_new_connections(l->pfd.fd, l->shared ? 1 : (unsigned)w->srv->num_workers);
    }
    accept_backlog(w);
    close_listeners(w);
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &w->clients)
    {
        tt_client_shutdown(TT_CONTAINER_OF(p, struct tt_client, link));
    }
}

/* ---- stats ---- */

/* Latency is taken after the batch's writes: publish to write, as a client sees it. */
static void lat_note(struct tt_worker *w, uint64_t created_ms, uint64_t n)
{
    if (w->num_lat == w->alloc_lat) {
        w->alloc_lat = w->alloc_lat ? w->alloc_lat * 2 : 16;
        w->lat = tt_realloc(w->lat, w->alloc_lat * sizeof(*w->lat));
    }
    w->lat[w->num_lat].created_ms = created_ms;
    w->lat[w->num_lat].n = n;
    w->num_lat++;
}

static void lat_flush(struct tt_worker *w)
{
    if (!w->num_lat)
        return;
    uint64_t now = tt_now_ms();
    for (size_t i = 0; i < w->num_lat; i++)
        tt_wstats_latency(&w->wstats,
                          now > w->lat[i].created_ms ? (double)(now - w->lat[i].created_ms) : 0,
                          w->lat[i].n);
    w->num_lat = 0;
}

static void post_stats(struct tt_worker *w)
{
    struct tt_wstats_batch *b = tt_wstats_take(&w->wstats, w->index);
    if (!b)
        return;
    const struct tt_fanout_stats *fs = &w->fanout.stats;
    for (int m = 0; m < TT_MODES; m++) {
        b->deliveries[m] = fs->delivered[m] - w->last_delivered[m];
        w->last_delivered[m] = fs->delivered[m];
        b->subscribers[m] = fs->subscribers[m];
    }
    b->drops = fs->drops - w->last_drops;
    w->last_drops = fs->drops;
    b->subscriptions = fs->subscriptions;
    if (w->srv->stats_inbox)
        tt_inbox_post(w->srv->stats_inbox, TT_WSTATS_BATCH, b);
    else
        tt_wstats_batch_free(b);
}

static void on_stats_timer(uv_timer_t *t)
{
    post_stats(t->data);
}

static void stats_kick(void *ctx)
{
    struct tt_worker *w = ctx;
    if (!w->stopping && !uv_is_active((uv_handle_t *)&w->stats_timer))
        uv_timer_start(&w->stats_timer, on_stats_timer, 100, 0);
}

static void count_sub(void *ctx, const char *channel, enum tt_sub_format format, int delta)
{
    struct tt_worker *w = ctx;
    tt_wstats_sub(&w->wstats, (enum tt_sub_mode)format, channel, delta);
}

/* "<instance>:<hex rid>": the request id, or 0 when the cid is not one of ours. */
static uint64_t http_rid(const struct tt_server *srv, const char *id, size_t len)
{
    size_t il = strlen(srv->instance_id);
    if (len <= il + 1 || len > il + 17 || memcmp(id, srv->instance_id, il) != 0 || id[il] != ':')
        return 0;
    uint64_t rid = 0;
    for (size_t i = il + 1; i < len; i++) {
        int v = tt_hexval(id[i]);
        if (v < 0)
            return 0;
        rid = rid << 4 | (uint64_t)v;
    }
    return rid;
}

/* A conncheck or refresh from the stats module: answer for what this worker owns. */
static void connq(struct tt_worker *w, struct tt_connq *q)
{
    struct tt_server *srv = w->srv;
    for (size_t i = 0; i < q->n; i++) {
        const char *id = q->ids[i];
        size_t len = q->lens[i];
        if (q->kind == TT_CONNQ_CHECK) {
            uint64_t rid = http_rid(srv, id, len);
            if (rid) {
                if (TT_RID_WORKER(rid) == w->index && tt_idmap_get(&w->requests, rid))
                    q->found[i] = 1;
            } else if (srv->ws_alive && srv->ws_alive(w, id, len)) {
                q->found[i] = 1;
            }
        } else if (q->kind == TT_CONNQ_REFRESH_CID) {
            if (srv->ws_refresh && srv->ws_refresh(w, id, len))
                q->found[i] = 1;
        } else if (srv->ws_refresh_channel) {
            srv->ws_refresh_channel(w, id);
        }
    }
    tt_client_flush_dirty(w);
    if (srv->stats_inbox)
        tt_inbox_post(srv->stats_inbox, TT_WSTATS_CONNQ, q);
    else
        tt_connq_unref(q);
}

static void deliver(struct tt_worker *w, struct tt_msg *m)
{
    uint64_t before = w->fanout.stats.deliveries;
    tt_fanout_deliver(&w->fanout, m);
    uint64_t n = w->fanout.stats.deliveries - before;
    if (n)
        lat_note(w, m->created_ms, n);
    tt_wstats_touch(&w->wstats);
}

static void on_inbox_item(void *ctx, int kind, void *ptr)
{
    struct tt_worker *w = ctx;
    switch (kind) {
    case TT_INBOX_MSG:
        deliver(w, ptr);
        tt_msg_unref(ptr);
        break;
    case TT_INBOX_MSGS: {
        struct tt_msg_batch *b = ptr;
        for (size_t i = 0; i < b->n; i++)
            deliver(w, b->msgs[i]);
        tt_msg_batch_free(b);
        break;
    }
    case TT_INBOX_RECOVER:
        tt_fanout_update_all(&w->fanout);
        break;
    case TT_WORKER_ROUTES:
        tt_routes_unref(w->routes);
        w->routes = ptr;
        break;
    case TT_WORKER_STOP:
        begin_stop(w);
        break;
    case TT_WORKER_RESUME:
        resume_accept(w);
        break;
    case TT_WORKER_ZHTTP:
        tt__zx_packet(w, ptr);
        tt_zhub_in_unref(ptr);
        break;
    case TT_WORKER_CONNQ:
        connq(w, ptr);
        break;
    default:
        tt_warn("worker %d: unknown inbox item %d", w->index, kind);
        break;
    }
}

static void on_inbox_done(void *ctx)
{
    struct tt_worker *w = ctx;
    tt__zx_flush(w);
    tt_client_flush_dirty(w);
    lat_flush(w);
    if (w->stopping && w->num_clients == 0 && !uv_is_closing((uv_handle_t *)&w->tick))
        finish_stop(w);
}

/* Items the worker will never handle (posted after it stopped): release them. */
static void drop_inbox_item(int kind, void *ptr)
{
    if (kind == TT_INBOX_MSG)
        tt_msg_unref(ptr);
    else if (kind == TT_INBOX_MSGS)
        tt_msg_batch_free(ptr);
    else if (kind == TT_WORKER_ROUTES)
        tt_routes_unref(ptr);
    else if (kind == TT_WORKER_ZHTTP)
        tt_zhub_in_unref(ptr);
    else if (kind == TT_WORKER_CONNQ)
        tt_connq_unref(ptr);
}

static const struct tt_inbox_ops inbox_ops = {
    .item = on_inbox_item,
    .batch_done = on_inbox_done,
    .discard = drop_inbox_item,
};

/* The fan-out engine's channel transitions go to the control thread's inbox. */
static void report_sub(void *ctx, const char *channel, bool subscribed, bool linger)
{
    struct tt_worker *w = ctx;
    if (w->srv->control_inbox)
        tt_inbox_post(w->srv->control_inbox, TT_INBOX_SUB,
                      tt_sub_report_new(channel, subscribed, linger));
}

/* A burst of held HTTP/2 streams leaves, once each became a compact record, the memory of
 * its clients, requests and backend exchanges free in runs of whole pages among the
 * records and holds; glibc returns the top of a heap by itself, but such pages only to
 * malloc_trim. Once a burst of at least this many is over (a second without one), they
 * go back to the system. */
#define TRIM_AFTER_COMPACTED 1000

static void trim_after_burst(struct tt_worker *w)
{
    if (w->compacted >= TRIM_AFTER_COMPACTED && w->compacted == w->compacted_seen) {
        malloc_trim(0);
        w->compacted = 0;
    }
    w->compacted_seen = w->compacted;
}

static void on_tick(uv_timer_t *t)
{
    struct tt_worker *w = t->data;
    trim_after_burst(w);
    tt__zx_tick(w, tt_now_ms());
    tt_wstats_tick(&w->wstats, tt_now_ms());
    if (!w->stopping) {
        tt_fanout_tick(&w->fanout, tt_now_ms());
        uint64_t drops = w->fanout.stats.drops;
        if (drops != w->stats.drops_logged) {
            /* Slow-subscriber drops are counted per delivery and reported once a second. */
            tt_warn("worker %d: %llu message(s) dropped for slow subscribers in the last "
                    "second (%llu in all)",
                    w->index, (unsigned long long)(drops - w->stats.drops_logged),
                    (unsigned long long)drops);
            w->stats.drops_logged = drops;
        }
        /* A pause that raced with a close elsewhere is lifted here at the latest. */
        if (__atomic_load_n(&w->accept_paused, __ATOMIC_ACQUIRE) &&
            __atomic_load_n(&w->srv->num_clients, __ATOMIC_ACQUIRE) < w->srv->cfg.client_maxconn)
            resume_accept(w);
        return;
    }
    if (w->num_clients > 0 && tt_now_ms() >= w->stop_deadline) {
        tt_warn("worker %d: %d connections still open at shutdown deadline; closing them",
                w->index, w->num_clients);
        /* One at a time from the front: closing an HTTP/2 connection closes its stream
         * clients too, which a saved next pointer could be. */
        while (!tt_list_empty(&w->clients))
            tt_client_close(TT_CONTAINER_OF(w->clients.next, struct tt_client, link));
    }
    if (w->num_clients == 0)
        finish_stop(w);
}

static void on_wheel(uv_timer_t *t)
{
    struct tt_worker *w = t->data;
    tt_wheel_run(&w->wheel, uv_now(&w->loop));
    if (!w->wheel.armed)
        uv_timer_stop(t); /* nothing to wait for: no wake-ups while idle */
}

void tt_worker_wheel_armed(struct tt_worker *w)
{
    if (!uv_is_active((uv_handle_t *)&w->wheel_timer))
        uv_timer_start(&w->wheel_timer, on_wheel, TT_WHEEL_TICK_MS, TT_WHEEL_TICK_MS);
}

static void worker_main(void *arg)
{
    struct tt_worker *w = arg;
    /* Runs until nothing is left: the poller keeps the loop while any socket is open, so
     * requests that outlive their client (gone links, a WebSocket-over-HTTP backend's last
     * request) finish first. */
    tt_poller_run(&w->poller, flush_queued, w);
    tt_poller_close(&w->poller);
    /* Close whatever is left (closing callbacks), then the loop. */
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        tt_debug("worker %d: loop closed with handles open", w->index);
}

/* Plain listeners first, then TLS ones (their port picks default_<port>). */
static const struct tt_listen_addr *listen_addr(const struct tt_config *cfg, int k)
{
    return k < cfg->num_http_ports ? &cfg->http_ports[k]
                                   : &cfg->https_ports[k - cfg->num_http_ports];
}

static void close_fds(int *fds, int n)
{
    for (int k = 0; k < n; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    free(fds);
}

int tt_workers_start(struct tt_server *srv)
{
    const struct tt_config *cfg = &srv->cfg;
    int n = srv->num_workers;
    /* The TLS ports' sockets, one each for the process, shared by the workers (see
     * ACCEPT_BATCH_SHARED); plain ports get a socket per worker below. */
    int num_listeners = cfg->num_http_ports + (srv->tls ? cfg->num_https_ports : 0);
    int *lfds = tt_malloc((size_t)(num_listeners ? num_listeners : 1) * sizeof(int));
    for (int k = 0; k < num_listeners; k++)
        lfds[k] = -1;
    for (int k = cfg->num_http_ports; k < num_listeners; k++) {
        char err[256];
        int fd = listen_socket(listen_addr(cfg, k), err, sizeof(err));
        if (fd < 0) {
            tt_err("cannot listen: %s", err);
            close_fds(lfds, num_listeners);
            return fd;
        }
        lfds[k] = fd;
    }
    srv->workers = tt_calloc((size_t)n, sizeof(*srv->workers));
    for (int i = 0; i < n; i++) {
        struct tt_worker *w = &srv->workers[i];
        w->index = i;
        w->srv = srv;
        uv_loop_init(&w->loop);
        if (tt_poller_init(&w->poller, &w->loop) != 0) {
            tt_err("worker %d: cannot create its epoll set", i);
            close_fds(lfds, num_listeners);
            return -EMFILE;
        }
        tt_inbox_init(&w->inbox, &w->loop, &inbox_ops, w);
        tt_wheel_init(&w->wheel, uv_now(&w->loop));
        uv_timer_init(&w->loop, &w->wheel_timer);
        w->wheel_timer.data = w;
        uv_unref((uv_handle_t *)&w->wheel_timer); /* the sockets keep the loop, not timers */
        uv_timer_init(&w->loop, &w->tick);
        w->tick.data = w;
        uv_timer_start(&w->tick, on_tick, 1000, 1000);
        uv_unref((uv_handle_t *)&w->tick);
        w->scratch_size = SCRATCH_SIZE;
        w->scratch = tt_malloc(SCRATCH_SIZE);
        tt_list_init(&w->clients);
        tt_map_init(&w->pool);
        tt__zx_worker_init(w);
        tt_fanout_init(&w->fanout, HOLD_QUEUE_ITEMS, cfg->subscriber_queue_max,
                       cfg->update_on_first_subscription ? 1000 : 0, report_sub, w);
        w->fanout.count = count_sub;
        tt_wstats_init(&w->wstats, srv->instance_id, srv->stats_conns_wanted,
                       cfg->stats_connection_ttl, stats_kick, w);
        uv_timer_init(&w->loop, &w->stats_timer);
        w->stats_timer.data = w;
        uv_unref((uv_handle_t *)&w->stats_timer);
        tt_idmap_init(&w->requests);
        tt_map_init(&w->ws_sessions);
        uv_mutex_lock(&srv->routes_lock);
        w->routes = srv->routes;
        tt_routes_ref(w->routes);
        uv_mutex_unlock(&srv->routes_lock);
        w->num_listeners = num_listeners;
        w->listeners = tt_calloc((size_t)num_listeners, sizeof(*w->listeners));
        for (int k = 0; k < num_listeners; k++) {
            struct tt_listener *l = &w->listeners[k];
            l->shared = lfds[k] >= 0;
            char err[256];
            int fd;
            if (l->shared) {
                fd = fcntl(lfds[k], F_DUPFD_CLOEXEC, 0);
                if (fd < 0) {
                    fd = -errno;
                    snprintf(err, sizeof(err), "dup: %s", strerror(errno));
                }
            } else {
                fd = listen_socket(listen_addr(cfg, k), err, sizeof(err));
            }
            if (fd < 0) {
                tt_err("cannot listen: %s", err);
                close_fds(lfds, num_listeners);
                return fd;
            }
            l->w = w;
            l->tls_port = k >= cfg->num_http_ports ? listen_addr(cfg, k)->port : 0;
            tt_pollfd_init(&w->poller, &l->pfd, fd, on_accept);
            l->pfd.exclusive = l->shared;
            tt_poller_set(&w->poller, &l->pfd, UV_READABLE);
        }
    }
    close_fds(lfds, num_listeners); /* every worker holds a dup of the shared ones */
    for (int i = 0; i < n; i++)
        uv_thread_create(&srv->workers[i].thread, worker_main, &srv->workers[i]);
    return 0;
}

void tt_workers_stop(struct tt_server *srv)
{
    for (int i = 0; i < srv->num_workers; i++)
        tt_worker_post(&srv->workers[i], TT_WORKER_STOP, NULL);
    for (int i = 0; i < srv->num_workers; i++)
        uv_thread_join(&srv->workers[i].thread);
}

void tt_workers_free(struct tt_server *srv)
{
    if (!srv->workers)
        return;
    for (int i = 0; i < srv->num_workers; i++) {
        struct tt_worker *w = &srv->workers[i];
        tt_inbox_deinit(&w->inbox);
        tt_routes_unref(w->routes);
        free(w->scratch);
        free(w->listeners);
        size_t iter;
        for (struct tt_map_entry *e = tt_map_first(&w->pool, &iter); e;
             e = tt_map_next(&w->pool, e, &iter))
            free(e->value);
        tt_map_deinit(&w->pool);
        tt_fanout_deinit(&w->fanout);
        tt__zx_worker_deinit(w);
        tt_wstats_deinit(&w->wstats);
        tt_idmap_deinit(&w->requests);
        tt_map_deinit(&w->ws_sessions);
        free(w->lat);
        if (w->ws_inflater) {
            tt_ws_inflater_deinit(w->ws_inflater);
            free(w->ws_inflater);
        }
        free(w->dirty);
    }
    free(srv->workers);
    srv->workers = NULL;
}

/* sock.c: ZeroMQ sockets on libuv (see sock.h). */
#include "zmq/sock.h"

#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

#include "core/log.h"

/* Messages received per socket per loop iteration, so one busy socket cannot starve the
 * loop's other handles. */
#define RECV_BUDGET 256
#define DEFAULT_MAX_PARTS 16
#define DEFAULT_QUEUE_MAX 1000
#define DEFAULT_QUEUE_BYTES ((size_t)16 << 20)

/* ---- the process-wide context ---- */

static uv_once_t ctx_once = UV_ONCE_INIT;
static uv_mutex_t ctx_lock;
static void *ctx_ptr;
static int ctx_refs;

static void ctx_init_lock(void)
{
    uv_mutex_init(&ctx_lock);
}

static void *ctx_ref(void)
{
    uv_once(&ctx_once, ctx_init_lock);
    uv_mutex_lock(&ctx_lock);
    if (!ctx_ptr) {
        ctx_ptr = zmq_ctx_new();
        if (ctx_ptr) {
            /* Sockets default to linger 0, so terminating never hangs on a dead peer. */
            zmq_ctx_set(ctx_ptr, ZMQ_BLOCKY, 0);
        }
    }
    void *c = ctx_ptr;
    if (c)
        ctx_refs++;
    uv_mutex_unlock(&ctx_lock);
    return c;
}

static void ctx_unref(void)
{
    uv_mutex_lock(&ctx_lock);
    void *term = NULL;
    if (--ctx_refs == 0) {
        term = ctx_ptr;
        ctx_ptr = NULL;
    }
    uv_mutex_unlock(&ctx_lock);
    if (term)
        zmq_ctx_term(term);
}

/* ---- sockets ---- */

/* A message waiting for libzmq to take it; parts [next_part, num_parts) still to send. */
struct queued {
    struct queued *next;
    size_t num_parts;
    size_t next_part;
    size_t bytes;
    struct tt_zmq_part parts[]; /* data follows the array */
};

struct tt_zmq_sock {
    uv_loop_t *loop;
    void *zs;
    uv_poll_t poll;
    uv_idle_t idle;
    int open_handles;
    bool started;
    bool closing;
    bool reading;
    bool in_process;
    bool again;
    int type;
    tt_zmq_recv_fn on_recv;
    void *ctx;
    size_t max_parts;
    zmq_msg_t *msgs;           /* max_parts + 1 receive slots */
    struct tt_zmq_part *parts; /* max_parts views into msgs */
    struct queued *q_head, *q_tail;
    size_t q_len, q_bytes, q_max, q_max_bytes;
    struct tt_zmq_sock_stats stats;
};

static void process(struct tt_zmq_sock *s);

static void on_idle(uv_idle_t *h)
{
    struct tt_zmq_sock *s = h->data;
    uv_idle_stop(h);
    process(s);
}

static int set_int(void *zs, int opt, int v)
{
    return zmq_setsockopt(zs, opt, &v, sizeof(v)) == 0 ? 0 : -errno;
}

int tt_zmq_sock_new(uv_loop_t *loop, const struct tt_zmq_sock_opts *o, tt_zmq_recv_fn on_recv,
                    void *ctx, struct tt_zmq_sock **out)
{
    *out = NULL;
    void *zctx = ctx_ref();
    if (!zctx)
        return -errno ? -errno : -ENOMEM;
    void *zs = zmq_socket(zctx, o->type);
    if (!zs) {
        int r = -errno;
        ctx_unref();
        return r;
    }
    int r = set_int(zs, ZMQ_LINGER, o->linger_ms);
    if (!r && o->sndhwm)
        r = set_int(zs, ZMQ_SNDHWM, o->sndhwm < 0 ? 0 : o->sndhwm);
    if (!r && o->rcvhwm)
        r = set_int(zs, ZMQ_RCVHWM, o->rcvhwm < 0 ? 0 : o->rcvhwm);
    if (!r && o->maxmsgsize >= 0) {
        int64_t m = o->maxmsgsize;
        r = zmq_setsockopt(zs, ZMQ_MAXMSGSIZE, &m, sizeof(m)) == 0 ? 0 : -errno;
    }
    if (!r && o->identity)
        r = zmq_setsockopt(zs, ZMQ_ROUTING_ID, o->identity, o->identity_len) == 0 ? 0 : -errno;
    if (!r && o->tcp_keepalive) {
        r = set_int(zs, ZMQ_TCP_KEEPALIVE, 1);
        if (!r)
            r = set_int(zs, ZMQ_TCP_KEEPALIVE_IDLE, 30);
        if (!r)
            r = set_int(zs, ZMQ_TCP_KEEPALIVE_CNT, 6);
        if (!r)
            r = set_int(zs, ZMQ_TCP_KEEPALIVE_INTVL, 5);
    }
    if (!r && o->immediate)
        r = set_int(zs, ZMQ_IMMEDIATE, 1);
    if (r) {
        zmq_close(zs);
        ctx_unref();
        return r;
    }
    struct tt_zmq_sock *s = tt_calloc(1, sizeof(*s));
    s->loop = loop;
    s->zs = zs;
    s->type = o->type;
    s->on_recv = on_recv;
    s->ctx = ctx;
    s->reading = true;
    s->max_parts = o->max_parts ? o->max_parts : DEFAULT_MAX_PARTS;
    s->q_max = o->queue_max ? o->queue_max : DEFAULT_QUEUE_MAX;
    s->q_max_bytes = o->queue_bytes ? o->queue_bytes : DEFAULT_QUEUE_BYTES;
    s->msgs = tt_calloc(s->max_parts + 1, sizeof(zmq_msg_t));
    s->parts = tt_calloc(s->max_parts, sizeof(struct tt_zmq_part));
    *out = s;
    return 0;
}

int tt_zmq_sock_bind(struct tt_zmq_sock *s, const char *endpoint)
{
    return zmq_bind(s->zs, endpoint) == 0 ? 0 : -errno;
}

int tt_zmq_sock_connect(struct tt_zmq_sock *s, const char *endpoint)
{
    return zmq_connect(s->zs, endpoint) == 0 ? 0 : -errno;
}

/* Have ZMQ_EVENTS looked at before the loop sleeps again. */
static void schedule(struct tt_zmq_sock *s)
{
    if (s->in_process) {
        s->again = true;
        return;
    }
    if (s->started && !s->closing)
        uv_idle_start(&s->idle, on_idle);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct tt_zmq_sock *s = h->data;
    if (status < 0) {
        tt_warn("zmq: poll error on socket: %s", uv_strerror(status));
        return;
    }
    process(s);
}

int tt_zmq_sock_start(struct tt_zmq_sock *s)
{
    int fd;
    size_t len = sizeof(fd);
    if (zmq_getsockopt(s->zs, ZMQ_FD, &fd, &len) != 0)
        return -errno;
    int r = uv_poll_init(s->loop, &s->poll, fd);
    if (r)
        return r;
    s->poll.data = s;
    uv_idle_init(s->loop, &s->idle);
    s->idle.data = s;
    s->open_handles = 2;
    s->started = true;
    r = uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (r)
        return r;
    /* Messages may already be waiting; the descriptor may not signal them. */
    uv_idle_start(&s->idle, on_idle);
    return 0;
}

static void queue_free(struct tt_zmq_sock *s)
{
    while (s->q_head) {
        struct queued *q = s->q_head;
        s->q_head = q->next;
        free(q);
    }
    s->q_tail = NULL;
    s->q_len = s->q_bytes = 0;
}

/* Send parts [*next, n) without blocking. Returns 0 when all went, TT_EAGAIN when libzmq
 * is at its high-water mark (*next says where to resume), or a negative errno. */
static int send_parts(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n,
                      size_t *next)
{
    for (; *next < n; (*next)++) {
        int flags = ZMQ_DONTWAIT | (*next + 1 < n ? ZMQ_SNDMORE : 0);
        const struct tt_zmq_part *p = &parts[*next];
        if (zmq_send(s->zs, p->len ? p->data : "", p->len, flags) < 0) {
            if (errno == EAGAIN)
                return TT_EAGAIN;
            if (errno == EINTR) {
                (*next)--;
                continue;
            }
            return -errno;
        }
    }
    return 0;
}

/* Hand queued messages to libzmq while it takes them. Returns how many left the queue. */
static int flush_queue(struct tt_zmq_sock *s)
{
    int done = 0;
    while (s->q_head) {
        struct queued *q = s->q_head;
        int r = send_parts(s, q->parts, q->num_parts, &q->next_part);
        if (r == TT_EAGAIN)
            return done;
        done++;
        if (r < 0) {
            uint64_t d = ++s->stats.send_dropped;
            if ((d & (d - 1)) == 0)
                tt_warn("zmq: queued message dropped: %s (%llu so far)", zmq_strerror(-r),
                        (unsigned long long)d);
        } else {
            s->stats.sent++;
        }
        s->q_head = q->next;
        if (!s->q_head)
            s->q_tail = NULL;
        s->q_len--;
        s->q_bytes -= q->bytes;
        free(q);
    }
    return done;
}

static void enqueue(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, size_t next)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += parts[i].len;
    struct queued *q = tt_malloc(sizeof(*q) + n * sizeof(struct tt_zmq_part) + bytes);
    char *data = (char *)(q->parts + n);
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len)
            memcpy(data, parts[i].data, parts[i].len);
        q->parts[i].data = data;
        q->parts[i].len = parts[i].len;
        data += parts[i].len;
    }
    q->next = NULL;
    q->num_parts = n;
    q->next_part = next;
    q->bytes = bytes;
    if (s->q_tail)
        s->q_tail->next = q;
    else
        s->q_head = q;
    s->q_tail = q;
    s->q_len++;
    s->q_bytes += bytes;
    s->stats.queued++;
}

int tt_zmq_sock_send(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n)
{
    if (s->closing || n == 0)
        return -EINVAL;
    size_t next = 0;
    int r = TT_EAGAIN;
    /* Keep order: nothing overtakes a queued message. */
    if (!s->q_head)
        r = send_parts(s, parts, n, &next);
    schedule(s);
    if (r == 0) {
        s->stats.sent++;
        return 0;
    }
    if (r != TT_EAGAIN) {
        s->stats.send_dropped++;
        return r;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += parts[i].len;
    /* A message already partly taken by libzmq must be finished, whatever the bound. */
    if (next == 0 && (s->q_len >= s->q_max || s->q_bytes + bytes > s->q_max_bytes)) {
        s->stats.send_dropped++;
        return TT_ETOOBIG;
    }
    enqueue(s, parts, n, next);
    return 0;
}

int tt_zmq_sock_subscribe(struct tt_zmq_sock *s, const void *topic, size_t len, bool subscribe)
{
    int r = zmq_setsockopt(s->zs, subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic, len);
    r = r == 0 ? 0 : -errno;
    schedule(s);
    return r;
}

void tt_zmq_sock_set_reading(struct tt_zmq_sock *s, bool reading)
{
    if (s->reading == reading)
        return;
    s->reading = reading;
    if (reading)
        schedule(s);
}

bool tt_zmq_sock_writable(struct tt_zmq_sock *s)
{
    if (s->closing || s->q_head)
        return false;
    int events = 0;
    size_t len = sizeof(events);
    if (zmq_getsockopt(s->zs, ZMQ_EVENTS, &events, &len) != 0)
        return false;
    /* Reading ZMQ_EVENTS consumes the descriptor's edge: look again before sleeping. */
    schedule(s);
    return (events & ZMQ_POLLOUT) != 0;
}

size_t tt_zmq_sock_queued(const struct tt_zmq_sock *s)
{
    return s->q_len;
}

const struct tt_zmq_sock_stats *tt_zmq_sock_stats(const struct tt_zmq_sock *s)
{
    return &s->stats;
}

/* Receive one whole message into s->msgs. Returns the part count, 0 when nothing is
 * waiting, or -1 when it had too many parts (dropped). */
static int recv_message(struct tt_zmq_sock *s)
{
    size_t n = 0;
    bool too_many = false;
    for (;;) {
        zmq_msg_t *m = &s->msgs[n < s->max_parts ? n : s->max_parts];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s->zs, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(m);
            if (e == EINTR)
                continue;
            /* Parts of one message arrive together, so EAGAIN can only come first. */
            for (size_t i = 0; i < TT_MIN(n, s->max_parts); i++)
                zmq_msg_close(&s->msgs[i]);
            if (e != EAGAIN)
                tt_warn("zmq: receive failed: %s", zmq_strerror(e));
            return 0;
        }
        bool more = zmq_msg_more(m);
        if (n < s->max_parts) {
            s->parts[n].data = zmq_msg_data(m);
            s->parts[n].len = zmq_msg_size(m);
        } else {
            too_many = true;
            zmq_msg_close(m);
        }
        n++;
        if (!more)
            break;
    }
    if (too_many) {
        for (size_t i = 0; i < s->max_parts; i++)
            zmq_msg_close(&s->msgs[i]);
        return -1;
    }
    return (int)n;
}

static void on_closed(uv_handle_t *h)
{
    struct tt_zmq_sock *s = h->data;
    if (--s->open_handles > 0)
        return;
    zmq_close(s->zs);
    free(s->msgs);
    free(s->parts);
    free(s);
    ctx_unref();
}

static void finish_close(struct tt_zmq_sock *s)
{
    queue_free(s);
    if (!s->started) {
        zmq_close(s->zs);
        free(s->msgs);
        free(s->parts);
        free(s);
        ctx_unref();
        return;
    }
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->idle, on_closed);
}

static void process(struct tt_zmq_sock *s)
{
    if (s->in_process) {
        s->again = true;
        return;
    }
    if (s->closing)
        return;
    s->in_process = true;
    int budget = RECV_BUDGET;
    bool more_later = false;
    do {
        s->again = false;
        int events = 0;
        size_t len = sizeof(events);
        if (zmq_getsockopt(s->zs, ZMQ_EVENTS, &events, &len) != 0) {
            tt_warn("zmq: ZMQ_EVENTS: %s", zmq_strerror(errno));
            break;
        }
        /* Only progress loops again: libzmq may say POLLOUT and still refuse. */
        if ((events & ZMQ_POLLOUT) && s->q_head && flush_queue(s) > 0)
            s->again = true;
        if ((events & ZMQ_POLLIN) && s->reading && s->on_recv) {
            if (budget <= 0) {
                more_later = true;
                break;
            }
            budget--;
            int n = recv_message(s);
            if (n < 0) {
                /* Logged at 1, 2, 4, 8... so a flood cannot flood the log. */
                uint64_t d = ++s->stats.recv_dropped;
                if ((d & (d - 1)) == 0)
                    tt_warn("zmq: message with more than %zu parts dropped (%llu so far)",
                            s->max_parts, (unsigned long long)d);
            } else if (n > 0) {
                s->stats.received++;
                s->on_recv(s, s->parts, (size_t)n, s->ctx);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&s->msgs[i]);
            }
            s->again = true;
        }
    } while (s->again && !s->closing);
    s->in_process = false;
    if (s->closing) {
        finish_close(s);
        return;
    }
    if (more_later)
        uv_idle_start(&s->idle, on_idle);
}

void tt_zmq_sock_close(struct tt_zmq_sock *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    if (!s->in_process)
        finish_close(s);
}

#include "proxy/upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/log.h"
#include "net/conn.h"
#include "proxy/zhttpup.h"

#define UP_HEAD_MAX 65536
#define UP_KEY_HOST_MAX 284 /* a DNS name is at most 253; route hosts are capped anyway */
#define UP_CONNECT_TIMEOUT_MS 10000
#define UP_DRAIN_MARK 262144
#define UP_POOL_MAX 1024 /* idle connections kept per target and worker: a burst of
                            re-polls then finds them open instead of connecting anew */

enum up_state { UP_RESOLVING, UP_CONNECTING, UP_TLS, UP_ACTIVE, UP_IDLE, UP_DEAD };

struct tt_upstream {
    struct tt_conn *c; /* current connection (owned; closed and freed on its own) */
    struct tt_worker *w;
    const struct tt_upstream_cbs *cbs;
    void *ctx;
    const struct tt_route_target *targets;
    size_t num_targets, ti;
    enum up_state state;
    bool aborted;
    bool is_head;
    bool head_done;
    bool paused;
    bool resp_keepalive;
    bool upgrade;           /* TT_UP_UPGRADE: a 101 hands the socket over */
    const char *take_data;  /* during on_head of a 101: bytes after the head */
    size_t take_len;
    bool got_bytes;
    bool from_pool;  /* the connection was reused from the pool */
    bool body_sent;  /* body bytes went to the socket: the request cannot be replayed */
    bool no_pool;    /* a reused connection was stale: connect afresh */
    bool with_body;  /* the request has a body (see TT_UP_WITH_BODY) */
    bool req_ended;  /* no body, or the owner called tt_upstream_send_end */
    bool out_lost;   /* request bytes were dropped after a write error */
    bool starting;   /* inside tt_upstream_start: callbacks must wait (see fail_with) */
    enum tt_up_error pending_err;
    int64_t remaining;   /* Content-Length left, -1 none */
    bool chunked;
    bool until_close;
    struct tt_h1_chunked ch;
    struct tt_buf in;
    char *head;
    size_t head_len;
    struct tt_buf body; /* request body queued before the connection is up */
    size_t tried_from; /* targets[tried_from..ti] were tried (for the error text) */
    /* "host:port/<ssl><insecure>" (the pool map's key): in key_inline when it fits, as
     * nearly every one does, else on the heap. */
    char *pool_key;
    char key_inline[48];
    struct tt_list pool_link;
    struct up_pool *pool; /* the pool it idles in, while it does */
    uv_getaddrinfo_t *gai;
    uv_timer_t timer; /* connect timeout, then the exchange's (see arm_exchange_timer) */
    bool timer_open;
    uint64_t last_io; /* loop time of the last byte either way (exchange timeouts) */
    struct tt__zx *zx; /* the exchange with a zhttp/zhttpreq target (instead of c) */
};

static SSL_CTX *ssl_ctx_verify, *ssl_ctx_insecure;
static uv_once_t ssl_once = UV_ONCE_INIT;

static void ssl_init(void)
{
    ssl_ctx_verify = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(ssl_ctx_verify);
    SSL_CTX_set_verify(ssl_ctx_verify, SSL_VERIFY_PEER, NULL);
    ssl_ctx_insecure = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ssl_ctx_insecure, SSL_VERIFY_NONE, NULL);
}

static void up_free(struct tt_upstream *u)
{
    tt__zx_free(u->zx);
    tt_buf_deinit(&u->in);
    tt_buf_deinit(&u->body);
    free(u->head);
    if (u->pool_key != u->key_inline)
        free(u->pool_key);
    free(u);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tt_upstream *u = h->data;
    u->timer_open = false;
    if (!u->gai)
        up_free(u);
}

static void on_conn_closed(struct tt_conn *c)
{
    free(c);
}

static void close_conn(struct tt_upstream *u)
{
    if (u->c) {
        u->c->data = NULL;
        tt_conn_close(u->c, on_conn_closed);
        u->c = NULL;
    }
}

/* The idle connections to one target (the worker's pool map holds one per key). */
struct up_pool {
    struct tt_list idle; /* struct tt_upstream by pool_link, oldest first */
    size_t count;
};

static void unpool(struct tt_upstream *u)
{
    if (!u->pool)
        return;
    tt_list_remove(&u->pool_link);
    u->pool->count--;
    u->pool = NULL;
}

/* Tear down for good; frees once every handle has closed. */
static void up_destroy(struct tt_upstream *u)
{
    u->state = UP_DEAD;
    u->cbs = NULL;
    unpool(u);
    tt__zx_abort(u->zx);
    close_conn(u);
    /* The timer's close callback frees u, unless getaddrinfo is still out: then its
     * callback does. */
    if (u->timer_open && !uv_is_closing((uv_handle_t *)&u->timer))
        uv_close((uv_handle_t *)&u->timer, on_timer_closed);
}

static void try_target(struct tt_upstream *u);
static void on_io(struct tt_conn *c, int status, int events);
static bool stale_retry(struct tt_upstream *u);

static void fail_with(struct tt_upstream *u, enum tt_up_error err);

static void on_pending_error(uv_timer_t *t)
{
    struct tt_upstream *u = t->data;
    fail_with(u, u->pending_err);
}

static void fail_with(struct tt_upstream *u, enum tt_up_error err)
{
    if (u->starting) {
        /* The owner is still inside tt_upstream_start and holds no pointer to us yet:
         * report on the next loop turn, never from within the call. */
        u->pending_err = err;
        u->state = UP_RESOLVING; /* inert until then */
        close_conn(u);
        uv_timer_start(&u->timer, on_pending_error, 0, 0);
        return;
    }
    const struct tt_upstream_cbs *cbs = u->cbs;
    void *ctx = u->ctx;
    char tried[512];
    size_t tl = 0;
    tried[0] = '\0';
    for (size_t i = u->tried_from; i <= u->ti && i < u->num_targets; i++) {
        const struct tt_route_target *t = &u->targets[i];
        int n = t->zhttp_spec ? snprintf(tried + tl, sizeof(tried) - tl, "%s%s", tl ? ", " : "",
                                         t->zhttp_spec)
                              : snprintf(tried + tl, sizeof(tried) - tl, "%s%s:%u", tl ? ", " : "",
                                         t->host ? t->host : "?", t->port);
        if (n < 0 || (size_t)n >= sizeof(tried) - tl)
            break; /* truncated: the list is long enough */
        tl += (size_t)n;
    }
    up_destroy(u);
    if (cbs && cbs->on_error)
        cbs->on_error(ctx, err, tried);
}

static void fail(struct tt_upstream *u, bool connect_failed, bool truncated)
{
    fail_with(u, connect_failed ? TT_UP_ERR_CONNECT
                 : truncated    ? TT_UP_ERR_TRUNCATED
                                : TT_UP_ERR_FAILED);
}

/* Addresses an `untrusted` target may not reach: loopback, private, shared, link-local,
 * unspecified, multicast/reserved (and IPv4-mapped forms of them). */
static bool internal_address(const struct sockaddr *sa)
{
    uint32_t a;
    if (sa->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) != 0) {
            static const uint8_t zero[15] = {0};
            if (memcmp(b, zero, 15) == 0)
                return true;                    /* :: and ::1 */
            return (b[0] & 0xfe) == 0xfc ||     /* fc00::/7 unique local */
                   (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
                   b[0] == 0xff;                /* multicast */
        }
        a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
    } else {
        a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    }
    return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
           (a & 0xffc00000) == 0x64400000 || /* 100.64/10 */
           (a & 0xffff0000) == 0xa9fe0000 || /* 169.254/16 */
           (a & 0xfff00000) == 0xac100000 || /* 172.16/12 */
           (a & 0xffff0000) == 0xc0a80000 || /* 192.168/16 */
           (a >> 28) >= 14;                  /* multicast and reserved */
}

static void next_target(struct tt_upstream *u)
{
    close_conn(u);
    if (u->zx) {
        /* Called from the exchange's own failure path, which touches it no more. */
        tt__zx_free(u->zx);
        u->zx = NULL;
    }
    u->ti++;
    if (u->ti >= u->num_targets) {
        fail(u, true, false);
        return;
    }
    try_target(u);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct tt_upstream *u = t->data;
    if (u->state == UP_CONNECTING || u->state == UP_TLS || u->state == UP_RESOLVING) {
        tt_debug("upstream: connect to target %zu timed out", u->ti);
        next_target(u);
    }
}

static void start_connect(struct tt_upstream *u, const struct sockaddr *sa, socklen_t len)
{
    const struct tt_route_target *t = &u->targets[u->ti];
    if (t->untrusted && internal_address(sa)) {
        tt_warn("upstream: untrusted target %s:%u resolves to an internal address; blocked",
                t->host, t->port);
        fail_with(u, TT_UP_ERR_BLOCKED);
        return;
    }
    int fd = tt_socket_connect(sa, len);
    if (fd < 0) {
        tt_debug("upstream: connect %s:%u: %s", t->host, t->port, tt_strerror(fd));
        next_target(u);
        return;
    }
    u->c = tt_malloc(sizeof(*u->c));
    if (tt_conn_init(&u->w->poller, u->c, fd, on_io) != 0) {
        close(fd);
        free(u->c);
        u->c = NULL;
        next_target(u);
        return;
    }
    u->c->data = u;
    u->state = UP_CONNECTING;
    /* writable = connected (or failed) */
    u->c->ssl_want_write = true;
    tt_conn_set_read(u->c, false);
    uv_timer_start(&u->timer, on_connect_timeout, UP_CONNECT_TIMEOUT_MS, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tt_upstream *u = req->data;
    free(req);
    u->gai = NULL;
    if (u->state == UP_DEAD) {
        if (res)
            uv_freeaddrinfo(res);
        if (!u->timer_open)
            up_free(u);
        return;
    }
    if (status != 0 || !res) {
        tt_debug("upstream: resolve %s: %s", u->targets[u->ti].host, uv_strerror(status));
        if (res)
            uv_freeaddrinfo(res);
        next_target(u);
        return;
    }
    start_connect(u, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
}

static struct tt_upstream *pool_take(struct tt_worker *w, const char *key, bool probe)
{
    struct up_pool *pool = tt_map_get(&w->pool, key, strlen(key));
    while (pool && !tt_list_empty(&pool->idle)) {
        /* The most recently used: the likeliest to be alive and warm. */
        struct tt_upstream *p = TT_CONTAINER_OF(pool->idle.prev, struct tt_upstream, pool_link);
        unpool(p);
        /* Without a body a stale connection is caught on use and the request replayed
         * (stale_retry), which saves a syscall per request; with one, probe first. */
        if (!probe)
            return p;
        char b;
        ssize_t n = recv(tt_conn_fd(p->c), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return p;
        up_destroy(p); /* closed, or sent junk while idle */
    }
    return NULL;
}

/* The exchange's timer: the longest silence allowed now, 0 for none. */
static uint64_t exchange_limit(const struct tt_upstream *u)
{
    const struct tt_config *cfg = &u->w->srv->cfg;
    int ms = u->head_done ? cfg->backend_idle_timeout_ms : cfg->backend_response_timeout_ms;
    return ms > 0 ? (uint64_t)ms : 0;
}

static void on_exchange_timer(uv_timer_t *t);

/* Arm the exchange timer for the current phase, counting from the last activity. Bytes
 * only record the time (touch); the timer re-arms itself for what is left when it fires
 * early, which keeps a timer restart off the per-read path. */
static void arm_exchange_timer(struct tt_upstream *u)
{
    uint64_t limit = exchange_limit(u);
    if (!limit || u->paused || u->state != UP_ACTIVE) {
        uv_timer_stop(&u->timer);
        return;
    }
    uint64_t now = uv_now(&u->w->loop);
    uint64_t elapsed = now > u->last_io ? now - u->last_io : 0;
    uv_timer_start(&u->timer, on_exchange_timer, elapsed < limit ? limit - elapsed : 0, 0);
}

static void touch(struct tt_upstream *u)
{
    u->last_io = uv_now(&u->w->loop);
}

static void on_exchange_timer(uv_timer_t *t)
{
    struct tt_upstream *u = t->data;
    if (u->state != UP_ACTIVE || u->paused)
        return;
    uint64_t limit = exchange_limit(u);
    if (!limit)
        return;
    if (uv_now(&u->w->loop) < u->last_io + limit) {
        arm_exchange_timer(u);
        return;
    }
    if (u->head_done)
        tt_warn("upstream: %s sent nothing for %llu ms mid-response; giving up", u->pool_key,
                (unsigned long long)limit);
    else
        tt_warn("upstream: %s did not answer within %llu ms; giving up", u->pool_key,
                (unsigned long long)limit);
    fail_with(u, TT_UP_ERR_TIMEOUT);
}

static void send_request(struct tt_upstream *u)
{
    u->state = UP_ACTIVE;
    touch(u);
    arm_exchange_timer(u);
    /* Read interest first: with nothing queued yet it changes no poll registration. */
    tt_conn_set_read(u->c, !u->paused);
    tt_conn_write(u->c, u->head, u->head_len);
    if (u->body.len) {
        size_t len;
        char *b = tt_buf_steal(&u->body, &len);
        tt_conn_write_owned(u->c, b, b, len);
        u->body_sent = true;
    }
    int r = tt_conn_flush(u->c);
    if (r < 0 && r != TT_EAGAIN) {
        if (!stale_retry(u))
            fail(u, false, false);
        return;
    }
    if (u->starting)
        return; /* a reused connection: the owner has not even got the pointer yet */
    if (u->cbs && u->cbs->on_connected)
        u->cbs->on_connected(u->ctx);
    /* The owner may have paused its body while we were connecting. */
    if (u->state == UP_ACTIVE && u->c->out_bytes < UP_DRAIN_MARK / 2 && u->cbs &&
        u->cbs->on_drain)
        u->cbs->on_drain(u->ctx);
}

/* "host:port/<ssl><insecure>", built without printf: this runs for every request. */
static void set_pool_key(struct tt_upstream *u, const struct tt_route_target *t)
{
    size_t hl = TT_MIN(strlen(t->host), (size_t)UP_KEY_HOST_MAX);
    size_t need = hl + 10; /* ':', 5 digits, '/', 2 flags, NUL */
    if (u->pool_key != u->key_inline)
        free(u->pool_key);
    u->pool_key = need <= sizeof(u->key_inline) ? u->key_inline : tt_malloc(need);
    char *p = u->pool_key;
    memcpy(p, t->host, hl);
    p += hl;
    *p++ = ':';
    char digits[8];
    int n = 0;
    unsigned port = t->port;
    do {
        digits[n++] = (char)('0' + port % 10);
        port /= 10;
    } while (port);
    while (n)
        *p++ = digits[--n];
    *p++ = '/';
    *p++ = t->ssl ? '1' : '0';
    *p++ = t->insecure ? '1' : '0';
    *p = '\0';
}

static void try_target(struct tt_upstream *u)
{
    const struct tt_route_target *t = &u->targets[u->ti];
    if (t->type == TT_TARGET_ZHTTP || t->type == TT_TARGET_ZHTTPREQ) {
        u->zx = tt__zx_start(u, u->w, t, u->head, u->head_len, u->with_body, u->is_head);
        if (!u->zx) {
            fail_with(u, TT_UP_ERR_FAILED);
            return;
        }
        u->state = UP_ACTIVE;
        if (u->body.len) {
            size_t len;
            char *b = tt_buf_steal(&u->body, &len);
            tt__zx_send(u->zx, b, len);
            free(b);
        }
        if (u->req_ended)
            tt__zx_send_end(u->zx);
        return;
    }
    if (t->type != TT_TARGET_HTTP || !t->host) {
        next_target(u);
        return;
    }
    set_pool_key(u, t);
    struct tt_upstream *p = u->no_pool ? NULL : pool_take(u->w, u->pool_key, u->with_body);
    if (p) {
        u->from_pool = true;
        /* Adopt the pooled connection. */
        u->c = p->c;
        p->c = NULL;
        u->c->data = u;
        up_destroy(p);
        send_request(u);
        return;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, t->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(t->port);
        start_connect(u, (struct sockaddr *)s4, sizeof(*s4));
        return;
    }
    if (inet_pton(AF_INET6, t->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(t->port);
        start_connect(u, (struct sockaddr *)s6, sizeof(*s6));
        return;
    }
    u->state = UP_RESOLVING;
    u->gai = tt_malloc(sizeof(*u->gai));
    u->gai->data = u;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[8];
    snprintf(port, sizeof(port), "%u", t->port);
    if (uv_getaddrinfo(&u->w->loop, u->gai, on_resolved, t->host, port, &hints) != 0) {
        free(u->gai);
        u->gai = NULL;
        next_target(u);
        return;
    }
    uv_timer_start(&u->timer, on_connect_timeout, UP_CONNECT_TIMEOUT_MS, 0);
}

struct tt_upstream *tt_upstream_start(struct tt_worker *w, const struct tt_route_target *targets,
                                      size_t num_targets, const char *head, size_t head_len,
                                      unsigned flags, const struct tt_upstream_cbs *cbs, void *ctx)
{
    if (num_targets == 0)
        return NULL;
    uv_once(&ssl_once, ssl_init);
    struct tt_upstream *u = tt_calloc(1, sizeof(*u));
    u->pool_key = u->key_inline;
    u->w = w;
    u->cbs = cbs;
    u->ctx = ctx;
    u->targets = targets;
    u->num_targets = num_targets;
    u->is_head = flags & TT_UP_HEAD_REQUEST;
    u->upgrade = flags & TT_UP_UPGRADE;
    u->with_body = flags & TT_UP_WITH_BODY;
    u->req_ended = !u->with_body;
    u->remaining = -1;
    u->head = tt_malloc(head_len);
    memcpy(u->head, head, head_len);
    u->head_len = head_len;
    /* The head cap is the parser's (UP_HEAD_MAX); the buffer also takes the body bytes
     * that may arrive in the read that completes a head of exactly that size. */
    tt_buf_init(&u->in, UP_HEAD_MAX + w->scratch_size);
    tt_buf_init(&u->body, 0);
    tt_list_init(&u->pool_link);
    uv_timer_init(&w->loop, &u->timer);
    u->timer.data = u;
    u->timer_open = true;
    u->starting = true;
    try_target(u);
    u->starting = false;
    return u;
}

void tt_upstream_send(struct tt_upstream *u, const char *data, size_t len)
{
    if (u->state == UP_DEAD || len == 0)
        return;
    if (u->req_ended) {
        /* Bytes after the request's end would reach the backend as the start of another
         * request: never send them, whoever asks. */
        tt_warn("upstream: %zu request bytes after the end of the request dropped", len);
        return;
    }
    if (u->zx) {
        tt__zx_send(u->zx, data, len);
        return;
    }
    if (u->state != UP_ACTIVE) {
        tt_buf_append(&u->body, data, len);
        return;
    }
    u->body_sent = true;
    touch(u);
    tt_conn_write(u->c, data, len);
    int r = tt_conn_flush(u->c);
    if (r < 0 && r != TT_EAGAIN) {
        u->out_lost = true;
        tt_debug("upstream: write failed: %s", tt_strerror(r));
    }
}

void tt_upstream_send_end(struct tt_upstream *u)
{
    u->req_ended = true;
    if (u->zx)
        tt__zx_send_end(u->zx);
}

const struct tt_route_target *tt_upstream_target(const struct tt_upstream *u)
{
    return &u->targets[TT_MIN(u->ti, u->num_targets - 1)];
}

size_t tt_upstream_pending(const struct tt_upstream *u)
{
    if (u->zx)
        return tt__zx_pending(u->zx);
    return u->c ? u->c->out_bytes + u->body.len : u->body.len;
}

void tt_upstream_pause(struct tt_upstream *u, bool paused)
{
    bool was = u->paused;
    u->paused = paused;
    if (u->zx) {
        tt__zx_pause(u->zx, paused);
        return;
    }
    if (u->state == UP_ACTIVE && u->c)
        tt_conn_set_read(u->c, !paused);
    if (was && !paused)
        touch(u); /* the silence while paused was ours, not the backend's */
    if (was != paused)
        arm_exchange_timer(u);
}

bool tt_upstream_paused(const struct tt_upstream *u)
{
    return u->paused;
}

void tt_upstream_abort(struct tt_upstream *u)
{
    if (u)
        up_destroy(u);
}

static void to_pool(struct tt_upstream *u)
{
    struct tt_worker *w = u->w;
    struct up_pool *pool = tt_map_get(&w->pool, u->pool_key, strlen(u->pool_key));
    if (!pool) {
        pool = tt_malloc(sizeof(*pool));
        tt_list_init(&pool->idle);
        pool->count = 0;
        tt_map_put(&w->pool, u->pool_key, strlen(u->pool_key), pool);
    }
    if (pool->count >= UP_POOL_MAX || w->stopping) {
        up_destroy(u);
        return;
    }
    u->state = UP_IDLE;
    uv_timer_stop(&u->timer);
    u->cbs = NULL;
    u->ctx = NULL;
    tt_buf_deinit(&u->in);
    /* An idle connection keeps nothing of the request it carried. */
    free(u->head);
    u->head = NULL;
    u->head_len = 0;
    tt_buf_deinit(&u->body);
    tt_list_insert_tail(&pool->idle, &u->pool_link);
    pool->count++;
    u->pool = pool;
    tt_conn_set_read(u->c, true); /* EOF or junk while idle closes it */
}

/* A connection may carry another request only when this exchange is complete in both
 * directions (RFC 9112 9.3, 9.6). A backend may answer before it has read the request
 * body; reusing the connection then would make the next request the tail of this one's
 * body (request smuggling), so such a connection is closed instead. */
static bool reusable(const struct tt_upstream *u)
{
    if (!u->resp_keepalive || u->until_close || !u->c || u->c->eof)
        return false;
    if (!u->req_ended || u->body.len || u->c->out_count || u->out_lost) {
        tt_debug("upstream: %s answered before the whole request was sent; not reused",
                 u->pool_key);
        return false;
    }
    return true;
}

static void finish(struct tt_upstream *u)
{
    const struct tt_upstream_cbs *cbs = u->cbs;
    void *ctx = u->ctx;
    if (reusable(u))
        to_pool(u);
    else
        up_destroy(u);
    if (cbs && cbs->on_end)
        cbs->on_end(ctx);
}

/* Feed body bytes; returns false when the upstream is finished or gone. */
static bool body_bytes(struct tt_upstream *u, const char *p, size_t n)
{
    while (n > 0 || (u->chunked && u->ch.done)) {
        if (u->chunked) {
            if (u->ch.done) {
                finish(u);
                return false;
            }
            const char *d;
            size_t dl;
            ssize_t used = tt_h1_chunked_step(&u->ch, p, n, &d, &dl);
            if (used < 0) {
                tt_warn("upstream: invalid chunked body from backend");
                fail(u, false, true);
                return false;
            }
            p += used;
            n -= (size_t)used;
            if (dl && u->cbs) {
                u->cbs->on_data(u->ctx, d, dl);
                if (u->aborted || u->state == UP_DEAD)
                    return false;
            }
            if (u->ch.done) {
                finish(u);
                return false;
            }
            if (used == 0)
                break;
        } else if (u->until_close) {
            u->cbs->on_data(u->ctx, p, n);
            return u->state != UP_DEAD;
        } else {
            size_t take = (size_t)TT_MIN((int64_t)n, u->remaining);
            if (take) {
                u->remaining -= (int64_t)take;
                u->cbs->on_data(u->ctx, p, take);
                if (u->state == UP_DEAD)
                    return false;
            }
            p += take;
            n -= take;
            if (u->remaining == 0) {
                if (n)
                    u->resp_keepalive = false; /* junk after the body */
                finish(u);
                return false;
            }
        }
    }
    return true;
}

/* Parse the response head from buf[0..len) (the worker's scratch buffer, or u->in when the
 * head came in pieces). Returns false when the upstream is finished or gone. */
static bool got_head(struct tt_upstream *u, const char *buf, size_t len)
{
    struct tt_h1_response resp;
    struct tt_h1_error err;
    int r;
    bool from_in = u->in.len && buf == u->in.data;
    for (;;) {
        r = tt_h1_parse_response(buf, len, UP_HEAD_MAX, &resp, &err);
        if (r == TT_EAGAIN) {
            if (from_in) {
                tt_buf_consume(&u->in, (size_t)(buf - u->in.data)); /* interim heads */
                return true;
            }
            if (tt_buf_append(&u->in, buf, len) != 0) {
                tt_warn("upstream: response head from backend too large");
                fail(u, false, false);
                return false;
            }
            return true;
        }
        if (r < 0) {
            tt_warn("upstream: invalid response head from backend: %s", err.reason);
            fail(u, false, false);
            return false;
        }
        if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
            buf += r; /* skip interim responses */
            len -= (size_t)r;
            continue;
        }
        break;
    }
    if (resp.status == 101 && u->upgrade) {
        /* The owner takes the socket (tt_upstream_take) and the bytes behind the head;
         * whatever it answers, this exchange is over. */
        uv_timer_stop(&u->timer);
        u->take_data = buf + r;
        u->take_len = len - (size_t)r;
        u->cbs->on_head(u->ctx, &resp);
        u->take_data = NULL;
        u->take_len = 0;
        if (u->state != UP_DEAD)
            up_destroy(u);
        return false;
    }
    if (resp.status == 101) {
        /* Only a request that asked for an upgrade (TT_UP_UPGRADE) may get one (Upgrade
         * and Connection are never forwarded otherwise): a switch of protocols here is a
         * broken answer, not a response to relay: what followed would be another
         * protocol's bytes. */
        tt_warn("upstream: %s answered 101 to a request without Upgrade", u->pool_key);
        fail(u, false, false);
        return false;
    }
    u->head_done = true;
    arm_exchange_timer(u); /* from now on the idle limit applies */
    u->resp_keepalive = resp.framing.keep_alive;
    bool no_body = u->is_head || resp.status == 204 || resp.status == 304;
    if (no_body) {
        u->remaining = 0;
    } else if (resp.framing.chunked) {
        u->chunked = true;
        tt_h1_chunked_init(&u->ch);
    } else if (resp.framing.content_length >= 0) {
        u->remaining = resp.framing.content_length;
    } else {
        u->until_close = true;
        u->resp_keepalive = false;
    }
    if (u->cbs->on_head(u->ctx, &resp) != 0 || u->state == UP_DEAD) {
        if (u->state != UP_DEAD)
            up_destroy(u);
        return false;
    }
    size_t rest = len - (size_t)r;
    if (no_body) {
        if (rest)
            u->resp_keepalive = false;
        finish(u);
        return false;
    }
    if (rest && !from_in) {
        /* Straight from the scratch buffer, which nothing else uses during this call. */
        return body_bytes(u, buf + r, rest);
    }
    if (rest) {
        /* From u->in, which finishing would free under us: copy. */
        char *tmp = tt_malloc(rest);
        memcpy(tmp, buf + r, rest);
        tt_buf_deinit(&u->in);
        bool alive = body_bytes(u, tmp, rest);
        free(tmp);
        return alive;
    }
    tt_buf_deinit(&u->in);
    if (u->remaining == 0 && !u->chunked && !u->until_close) {
        finish(u);
        return false;
    }
    return true;
}

/* A pooled connection that the backend had closed fails before any response byte: if the
 * request can be sent again (no body bytes gone), send it on a fresh connection. */
static bool stale_retry(struct tt_upstream *u)
{
    if (!u->from_pool || u->got_bytes || u->body_sent)
        return false;
    tt_debug("upstream: reused connection to %s was closed by the backend; reconnecting",
             u->pool_key);
    close_conn(u);
    u->from_pool = false;
    u->no_pool = true;
    u->tried_from = u->ti;
    try_target(u);
    return true;
}

static void on_readable(struct tt_upstream *u)
{
    struct tt_worker *w = u->w;
    size_t last_n = 0;
    for (int rounds = 0; rounds < 16 && !u->paused; rounds++) {
        if (rounds && !u->c->ssl && last_n < w->scratch_size)
            return; /* drained: level-triggered polling calls again if more comes */
        ssize_t n = tt_conn_read(u->c, w->scratch, w->scratch_size);
        if (n == TT_EAGAIN)
            return;
        last_n = (size_t)(n > 0 ? n : 0);
        if (n <= 0) {
            if (!u->head_done) {
                if (!stale_retry(u))
                    fail(u, false, u->got_bytes);
                return;
            }
            if (u->until_close) {
                finish(u);
                return;
            }
            tt_debug("upstream: backend closed mid-response");
            fail(u, false, true);
            return;
        }
        u->got_bytes = true;
        touch(u);
        if (!u->head_done) {
            bool alive;
            if (u->in.len == 0) {
                alive = got_head(u, w->scratch, (size_t)n);
            } else if (tt_buf_append(&u->in, w->scratch, (size_t)n) != 0) {
                tt_warn("upstream: response head from backend too large");
                fail(u, false, false);
                return;
            } else {
                alive = got_head(u, u->in.data, u->in.len);
            }
            if (!alive)
                return;
        } else if (!body_bytes(u, w->scratch, (size_t)n)) {
            return;
        }
        if (u->state != UP_ACTIVE)
            return;
    }
}

static void tls_step(struct tt_upstream *u)
{
    ERR_clear_error();
    int r = SSL_do_handshake(u->c->ssl);
    if (r == 1) {
        u->c->ssl_want_write = false;
        uv_timer_stop(&u->timer);
        send_request(u);
        return;
    }
    int e = SSL_get_error(u->c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        u->c->ssl_want_write = false;
        tt_conn_set_read(u->c, true);
    } else if (e == SSL_ERROR_WANT_WRITE) {
        u->c->ssl_want_write = true;
        tt_conn_set_read(u->c, true);
    } else {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        tt_warn("upstream: TLS handshake with %s:%u failed: %s", u->targets[u->ti].host,
                u->targets[u->ti].port, buf);
        next_target(u);
    }
}

static void on_io(struct tt_conn *c, int status, int events)
{
    struct tt_upstream *u = c->data;
    if (!u)
        return;
    if (u->state == UP_IDLE) {
        up_destroy(u);
        return;
    }
    if (u->state == UP_CONNECTING) {
        /* libuv reports a socket error as UV_EBADF: SO_ERROR says what it was. */
        int r = tt_conn_connect_result(c);
        if (r == 0 && status < 0)
            r = status;
        if (r != 0) {
            tt_debug("upstream: connect %s:%u failed: %s", u->targets[u->ti].host,
                     u->targets[u->ti].port, tt_strerror(r));
            next_target(u);
            return;
        }
        c->ssl_want_write = false;
        const struct tt_route_target *t = &u->targets[u->ti];
        if (t->ssl) {
            u->state = UP_TLS;
            SSL *ssl = SSL_new(t->insecure ? ssl_ctx_insecure : ssl_ctx_verify);
            const char *name = t->host_header ? t->host_header : t->host;
            char sni[256];
            snprintf(sni, sizeof(sni), "%s", name);
            char *colon = strrchr(sni, ':');
            if (colon && sni[0] != '[')
                *colon = '\0';
            SSL_set_tlsext_host_name(ssl, sni);
            if (!t->insecure)
                SSL_set1_host(ssl, t->trust_connect_host ? t->host : sni);
            SSL_set_fd(ssl, tt_conn_fd(c));
            SSL_set_connect_state(ssl);
            c->ssl = ssl;
            tls_step(u);
            return;
        }
        uv_timer_stop(&u->timer);
        send_request(u);
        return;
    }
    if (u->state == UP_TLS) {
        tls_step(u);
        return;
    }
    if (status < 0) {
        if (!stale_retry(u))
            fail(u, false, u->head_done);
        return;
    }
    if (events & UV_WRITABLE) {
        size_t before = c->out_bytes;
        int r = tt_conn_flush(c);
        if (c->out_bytes < before)
            touch(u);
        if (r < 0 && r != TT_EAGAIN) {
            if (stale_retry(u))
                return;
            /* The backend may have answered early and closed: read what it said. */
            tt_conn_discard_output(c);
            u->out_lost = true;
        } else if (before >= UP_DRAIN_MARK / 2 && c->out_bytes < UP_DRAIN_MARK / 2 && u->cbs &&
                   u->cbs->on_drain) {
            u->cbs->on_drain(u->ctx);
            if (u->state != UP_ACTIVE)
                return;
        }
    }
    if (events & UV_READABLE)
        on_readable(u);
}

/* ---- the zhttp exchange's reports (proxy/zhttpup.h) ---- */

int tt__up_zx_head(struct tt_upstream *u, const struct tt_h1_response *resp)
{
    if (u->state == UP_DEAD || !u->cbs)
        return 1;
    u->head_done = true;
    if (u->cbs->on_head(u->ctx, resp) != 0 || u->state == UP_DEAD) {
        if (u->state != UP_DEAD)
            up_destroy(u);
        return 1;
    }
    return 0;
}

bool tt__up_zx_data(struct tt_upstream *u, const char *data, size_t len)
{
    if (u->state == UP_DEAD || !u->cbs)
        return false;
    u->cbs->on_data(u->ctx, data, len);
    return u->state != UP_DEAD;
}

void tt__up_zx_end(struct tt_upstream *u)
{
    if (u->state == UP_DEAD)
        return;
    const struct tt_upstream_cbs *cbs = u->cbs;
    void *ctx = u->ctx;
    up_destroy(u);
    if (cbs && cbs->on_end)
        cbs->on_end(ctx);
}

void tt__up_zx_fail(struct tt_upstream *u, enum tt_up_error err, bool try_next)
{
    if (u->state == UP_DEAD)
        return;
    if (try_next) {
        next_target(u);
        return;
    }
    fail_with(u, err);
}

void tt__up_zx_drain(struct tt_upstream *u)
{
    if (u->state == UP_ACTIVE && u->cbs && u->cbs->on_drain)
        u->cbs->on_drain(u->ctx);
}

struct tt_conn *tt_upstream_take(struct tt_upstream *u, struct tt_buf *rest)
{
    struct tt_conn *c = u->c;
    u->c = NULL;
    if (!c)
        return NULL;
    c->data = NULL;
    if (u->take_len)
        tt_buf_append(rest, u->take_data, u->take_len);
    return c;
}

void tt_upstream_pool_drain(struct tt_worker *w)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&w->pool, &it); e; e = tt_map_next(&w->pool, e, &it)) {
        struct up_pool *pool = e->value;
        while (!tt_list_empty(&pool->idle))
            up_destroy(TT_CONTAINER_OF(pool->idle.next, struct tt_upstream, pool_link));
    }
}

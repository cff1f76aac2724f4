/* conn.c: see conn.h. */
#include "net/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"

static void on_poll(struct tt_pollfd *f, int events)
{
    struct tt_conn *c = TT_CONTAINER_OF(f, struct tt_conn, pfd);
    if (c->closing)
        return;
    c->on_io(c, 0, events);
}

/* OpenSSL's error queue must be empty before an I/O call for SSL_get_error to be right;
 * it nearly always is, and looking is cheaper than clearing. */
static void ssl_errors_clear(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* TLS reads ahead (SSL_CTX_set_read_ahead): bytes it holds are not in the socket, so epoll
 * does not report them; while the owner wants input they are handed over on the next loop
 * turn. */
static void kick_if_pending(struct tt_conn *c)
{
    if (c->ssl && c->want_read && !c->closing && SSL_has_pending(c->ssl))
        tt_poller_kick(c->poller, &c->pfd);
}

static void rearm(struct tt_conn *c)
{
    if (c->closing || c->vops)
        return;
    uint8_t ev = 0;
    if (c->want_read && !c->eof)
        ev |= UV_READABLE;
    if (c->out_count || c->ssl_want_write)
        ev |= UV_WRITABLE;
    if (ev == c->pfd.interest && (ev != 0) == c->pfd.in_set)
        return;
    if (tt_poller_set(c->poller, &c->pfd, ev) < 0 && ev)
        c->eof = true; /* cannot be watched: the owner sees it as gone on its next read */
}

int tt_conn_init(struct tt_poller *p, struct tt_conn *c, int fd, tt_conn_io_fn on_io)
{
    memset(c, 0, sizeof(*c));
    c->on_io = on_io;
    c->poller = p;
    tt_pollfd_init(p, &c->pfd, fd, on_poll);
    return 0;
}

void tt_conn_init_virtual(struct tt_poller *p, struct tt_conn *c, const struct tt_conn_vops *vops,
                          void *vctx, tt_conn_io_fn on_io)
{
    memset(c, 0, sizeof(*c));
    c->on_io = on_io;
    c->vops = vops;
    c->vctx = vctx;
    c->poller = p;
    /* Never in the epoll set: only for the deferred close callback. */
    tt_pollfd_init(p, &c->pfd, -1, on_poll);
}

void tt_conn_set_read(struct tt_conn *c, bool on)
{
    c->want_read = on;
    if (c->vops) {
        if (!c->closing)
            c->vops->set_read(c, on);
        return;
    }
    rearm(c);
    kick_if_pending(c);
}

ssize_t tt_conn_read(struct tt_conn *c, char *buf, size_t len)
{
    if (c->vops)
        return c->closing ? TT_EAGAIN : c->vops->read(c, buf, len);
    if (c->ssl) {
        ssl_errors_clear();
        int n = SSL_read(c->ssl, buf, (int)TT_MIN(len, (size_t)INT32_MAX));
        if (n > 0) {
            c->ssl_want_write = false;
            kick_if_pending(c);
            return n;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) {
            c->ssl_want_write = false;
            return TT_EAGAIN;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            c->ssl_want_write = true;
            rearm(c);
            return TT_EAGAIN;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->eof = true;
            return 0;
        }
        return -EPROTO;
    }
    for (;;) {
        ssize_t n = read(c->pfd.fd, buf, len);
        if (n > 0)
            return n;
        if (n == 0) {
            c->eof = true;
            rearm(c);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return TT_EAGAIN;
        return -errno;
    }
}

static void release(struct tt_slice *s)
{
    tt_shared_unref(s->shared);
    free(s->owned);
    s->shared = NULL;
    s->owned = NULL;
}

/* The i-th queued slice from the front. */
static struct tt_slice *slot(struct tt_conn *c, uint32_t i)
{
    return c->out ? &c->out[(c->out_head + i) % c->out_alloc] : &c->one;
}

static struct tt_slice *push_slice(struct tt_conn *c)
{
    if (c->out_count == 0 && !c->out) {
        c->out_count = 1;
        return &c->one;
    }
    uint32_t cap = c->out ? c->out_alloc : 1;
    if (c->out_count == cap) {
        uint32_t n = cap < 4 ? 4 : cap * 2;
        struct tt_slice *s = tt_malloc(n * sizeof(*s));
        for (uint32_t i = 0; i < c->out_count; i++)
            s[i] = *slot(c, i);
        free(c->out);
        c->out = s;
        c->out_alloc = n;
        c->out_head = 0;
    }
    struct tt_slice *s = &c->out[(c->out_head + c->out_count) % c->out_alloc];
    c->out_count++;
    return s;
}

/* The queue drained: back to the inline slot. */
static void drained(struct tt_conn *c)
{
    free(c->out);
    c->out = NULL;
    c->out_alloc = 0;
    c->out_head = 0;
}

/* Drop the front slice (released). */
static void pop_front(struct tt_conn *c)
{
    release(slot(c, 0));
    c->out_count--;
    if (c->out)
        c->out_head = (c->out_head + 1) % c->out_alloc;
    if (!c->out_count)
        drained(c);
}

void tt_conn_write_owned(struct tt_conn *c, char *block, const char *data, size_t len)
{
    if (len == 0) {
        free(block);
        return;
    }
    struct tt_slice *s = push_slice(c);
    s->data = data;
    s->len = len;
    s->shared = NULL;
    s->owned = block;
    c->out_bytes += len;
}

void tt_conn_write(struct tt_conn *c, const void *data, size_t len)
{
    if (len == 0)
        return;
    char *b = tt_malloc(len);
    memcpy(b, data, len);
    tt_conn_write_owned(c, b, b, len);
}

void tt_conn_write_shared(struct tt_conn *c, struct tt_shared *sh, const char *data, size_t len)
{
    if (len == 0)
        return;
    struct tt_slice *s = push_slice(c);
    s->data = data;
    s->len = len;
    s->shared = tt_shared_ref(sh);
    s->owned = NULL;
    c->out_bytes += len;
}

struct tt_slice *tt_conn_out_at(struct tt_conn *c, uint32_t i)
{
    return slot(c, i);
}

void tt_conn_consume(struct tt_conn *c, size_t n)
{
    c->out_bytes -= n;
    while (n && c->out_count) {
        struct tt_slice *s = slot(c, 0);
        if (n < s->len) {
            s->data += n;
            s->len -= n;
            return;
        }
        n -= s->len;
        pop_front(c);
    }
}

/* One TLS record can carry several queued slices (a response head and its body): they
 * are gathered into one record of up to 16 KiB, so that a small response is one record
 * and one write instead of one per slice. A retry after WANT_WRITE gathers the same front
 * bytes again (nothing left the queue meanwhile; it may have grown, which OpenSSL allows
 * with SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
static ssize_t ssl_write_some(struct tt_conn *c)
{
    struct tt_slice *s = slot(c, 0);
    char stage[16384];
    const char *p = s->data;
    size_t len = s->len;
    if (len < sizeof(stage) && c->out_count > 1) {
        len = 0;
        for (uint32_t i = 0; i < c->out_count && len < sizeof(stage); i++) {
            struct tt_slice *x = slot(c, i);
            size_t k = TT_MIN(x->len, sizeof(stage) - len);
            memcpy(stage + len, x->data, k);
            len += k;
        }
        p = stage;
    }
    ssl_errors_clear();
    int n = SSL_write(c->ssl, p, (int)TT_MIN(len, (size_t)INT32_MAX));
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
        return TT_EAGAIN;
    return -EPIPE;
}

void tt_conn_move_output(struct tt_conn *dst, struct tt_conn *src)
{
    dst->out = src->out;
    dst->out_head = src->out_head;
    dst->out_count = src->out_count;
    dst->out_alloc = src->out_alloc;
    dst->out_bytes = src->out_bytes;
    dst->one = src->one;
    src->out = NULL;
    src->out_head = src->out_count = src->out_alloc = 0;
    src->out_bytes = 0;
}

void tt_conn_free_output(struct tt_conn *c)
{
    while (c->out_count)
        pop_front(c);
    c->out_bytes = 0;
    drained(c);
}

int tt_conn_flush(struct tt_conn *c)
{
    if (c->vops)
        return c->out_count && !c->closing ? c->vops->flush(c) : 0;
    while (c->out_count) {
        ssize_t n;
        if (c->ssl) {
            n = ssl_write_some(c);
        } else {
            struct iovec iov[64];
            int cnt = 0;
            for (uint32_t i = 0; i < c->out_count && cnt < 64; i++, cnt++) {
                struct tt_slice *s = slot(c, i);
                iov[cnt].iov_base = (void *)s->data;
                iov[cnt].iov_len = s->len;
            }
            /* One slice (a delivery to a held stream, most often): send() skips
             * writev's iovec import and file position lock. */
            n = cnt == 1 ? send(c->pfd.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                         : writev(c->pfd.fd, iov, cnt);
            if (n < 0)
                n = (errno == EAGAIN || errno == EWOULDBLOCK) ? TT_EAGAIN : -errno;
            if (n == -EINTR)
                continue;
        }
        if (n == TT_EAGAIN) {
            rearm(c);
            return TT_EAGAIN;
        }
        if (n < 0)
            return (int)n;
        tt_conn_consume(c, (size_t)n);
    }
    rearm(c);
    return 0;
}

void tt_conn_discard_output(struct tt_conn *c)
{
    tt_conn_free_output(c);
    rearm(c);
}

static void on_closed(struct tt_pollfd *f)
{
    struct tt_conn *c = TT_CONTAINER_OF(f, struct tt_conn, pfd);
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    tt_conn_discard_output(c); /* the socket was closed by tt_conn_close */
    if (c->on_close)
        c->on_close(c);
}

void tt_conn_close(struct tt_conn *c, tt_conn_close_fn on_close)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->vops) {
        c->vops->close(c);
        tt_conn_discard_output(c);
    } else if (c->pfd.fd >= 0) {
        /* Closed now: the peer sees the end at once, and closing takes the socket out of
         * the epoll set, which saves an epoll_ctl per connection. */
        close(c->pfd.fd);
        tt_pollfd_closed(c->poller, &c->pfd); /* fd -1 */
    }
    c->on_close = on_close;
    tt_poller_remove(c->poller, &c->pfd, on_closed);
}

void tt_conn_close_detached(struct tt_conn *c, tt_conn_close_fn on_close)
{
    if (c->closing)
        return;
    c->closing = true;
    tt_conn_discard_output(c);
    c->on_close = on_close;
    tt_poller_remove(c->poller, &c->pfd, on_closed);
}

int tt_socket_connect(const struct sockaddr *addr, socklen_t len)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, addr, len) < 0 && errno != EINPROGRESS) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int tt_conn_connect_result(struct tt_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->pfd.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

/*
 * bench/backend.c: the fast backend every benchmarked system proxies to.
 *
 * One epoll loop per thread (SO_REUSEPORT listeners), HTTP/1.1 keep-alive and
 * pipelining, answers from constant buffers so that the backend costs as little
 * as possible and the same for every proxy:
 *   /stream?channel=C    200 text/plain, Grip-Hold: stream,   Grip-Channel: C, "[stream opened]\n"
 *   /response?channel=C  200 text/plain, Grip-Hold: response, Grip-Channel: C, "nothing for now\n"
 *   /woh...              WebSocket-over-HTTP: a POST of application/websocket-events is
 *                        answered 200 application/websocket-events, "OPEN\r\n" for an OPEN,
 *                        else empty; its TEXT events are counted
 *   /woh-count           200 text/plain, the number of TEXT events received so far
 *   anything else        200 text/plain "ok\n"
 * Request bodies (Content-Length only) are read and discarded. No chunked
 * request bodies: nothing in the bench sends them.
 *
 * usage: backend PORT [THREADS]     (listens on 127.0.0.1 only)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CAP 16384
#define MAX_EVENTS 512

struct bconn {
    int fd;
    size_t in_len;
    long long body_left; /* request body bytes still to discard (or to keep, woh) */
    char *woh;           /* a WebSocket-over-HTTP request's body, being collected */
    size_t woh_len;
    char *out;           /* pending output when a write was partial */
    size_t out_len, out_off;
    int close_after;
    char in[IN_CAP];
};

static int g_port;
static long long g_woh_texts; /* atomic */

static const char RESP_OK[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

static int listen_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_free(int ep, struct bconn *c)
{
    free(c->woh);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    free(c);
}

/* Queue bytes: write straight away, keep what the socket did not take. */
static int conn_send(int ep, struct bconn *c, const char *p, size_t n)
{
    if (c->out_len == c->out_off) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno != EAGAIN)
            return -1;
        if (w < 0)
            w = 0;
        p += w;
        n -= (size_t)w;
        if (n == 0)
            return 0;
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }
    char *nb = realloc(c->out, c->out_len + n);
    if (!nb)
        return -1;
    memcpy(nb + c->out_len, p, n);
    c->out = nb;
    c->out_len += n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
}

/* Header value lookup in a raw head; returns pointer to value or NULL. */
static const char *find_header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', len);
    const char *end = head + len;
    while (p && p + 1 < end) {
        p++;
        if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = v;
            while (e < end && *e != '\r' && *e != '\n')
                e++;
            *vlen = (size_t)(e - v);
            return v;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return NULL;
}

/* Copy a safe channel name out of "channel=" in the query; "test" if absent. */
static void channel_of(const char *target, size_t tlen, char *out, size_t cap)
{
    const char *q = memchr(target, '?', tlen);
    size_t n = 0;
    if (q) {
        const char *end = target + tlen;
        const char *p = q + 1;
        while (p < end) {
            if ((size_t)(end - p) >= 8 && memcmp(p, "channel=", 8) == 0) {
                p += 8;
                while (p < end && *p != '&' && n + 1 < cap) {
                    char ch = *p++;
                    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')
                        out[n++] = ch;
                }
                break;
            }
            const char *amp = memchr(p, '&', (size_t)(end - p));
            if (!amp)
                break;
            p = amp + 1;
        }
    }
    if (n == 0) {
        memcpy(out, "test", 5);
        return;
    }
    out[n] = '\0';
}

/* A complete WebSocket-over-HTTP request body: count its TEXT events and answer. */
static int woh_answer(int ep, struct bconn *c)
{
    static const char OPEN_RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: application/websocket-events\r\n"
                                    "Content-Length: 6\r\n\r\nOPEN\r\n";
    static const char EMPTY_RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: application/websocket-events\r\n"
                                     "Content-Length: 0\r\n\r\n";
    const char *p = c->woh, *end = c->woh + c->woh_len;
    int open = c->woh_len >= 6 && memcmp(p, "OPEN\r\n", 6) == 0;
    long long texts = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        const char *sp = memchr(p, ' ', (size_t)(nl - p));
        if ((size_t)(nl - p) >= 4 && memcmp(p, "TEXT", 4) == 0)
            texts++;
        size_t clen = sp ? (size_t)strtoul(sp + 1, NULL, 16) : 0;
        p = nl + 1;
        if (sp)
            p += clen + 2;
    }
    __atomic_add_fetch(&g_woh_texts, texts, __ATOMIC_RELAXED);
    free(c->woh);
    c->woh = NULL;
    if (open)
        return conn_send(ep, c, OPEN_RESP, sizeof OPEN_RESP - 1);
    return conn_send(ep, c, EMPTY_RESP, sizeof EMPTY_RESP - 1);
}

/* Answer one complete request head; returns 0 or -1 to drop the connection. */
static int handle_request(int ep, struct bconn *c, const char *head, size_t hlen)
{
    const char *sp1 = memchr(head, ' ', hlen);
    if (!sp1)
        return -1;
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', hlen - (size_t)(t - head));
    if (!sp2)
        return -1;
    size_t tlen = (size_t)(sp2 - t);
    int http10 = (size_t)(head + hlen - sp2) > 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    size_t vlen;
    const char *v = find_header(head, hlen, "Connection", &vlen);
    if (v && vlen >= 5 && strncasecmp(v, "close", 5) == 0)
        c->close_after = 1;
    else if (http10 && !(v && vlen >= 10 && strncasecmp(v, "keep-alive", 10) == 0))
        c->close_after = 1;
    v = find_header(head, hlen, "Content-Length", &vlen);
    c->body_left = v ? atoll(v) : 0;

    char buf[512];
    char ch[80];
    int n;
    if (tlen >= 10 && memcmp(t, "/woh-count", 10) == 0) {
        char num[32];
        int nl = snprintf(num, sizeof num, "%lld\n", __atomic_load_n(&g_woh_texts, __ATOMIC_RELAXED));
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%s", nl, num);
        return conn_send(ep, c, buf, (size_t)n);
    }
    if (tlen >= 4 && memcmp(t, "/woh", 4) == 0) {
        /* answered once its body is in (see process_input) */
        c->woh = malloc((size_t)c->body_left + 1);
        c->woh_len = 0;
        if (!c->woh)
            return -1;
        if (c->body_left == 0)
            return woh_answer(ep, c);
        return 0;
    }
    if (tlen >= 7 && memcmp(t, "/stream", 7) == 0) {
        channel_of(t, tlen, ch, sizeof ch);
        n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nGrip-Hold: stream\r\n"
                     "Grip-Channel: %s\r\nContent-Length: 16\r\n%s\r\n[stream opened]\n",
                     ch, c->close_after ? "Connection: close\r\n" : "");
    } else if (tlen >= 9 && memcmp(t, "/response", 9) == 0) {
        channel_of(t, tlen, ch, sizeof ch);
        n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nGrip-Hold: response\r\n"
                     "Grip-Channel: %s\r\nGrip-Timeout: 120\r\nContent-Length: 16\r\n%s\r\n"
                     "nothing for now\n",
                     ch, c->close_after ? "Connection: close\r\n" : "");
    } else if (c->close_after) {
        n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                     "Connection: close\r\n\r\nok\n");
    } else {
        return conn_send(ep, c, RESP_OK, sizeof RESP_OK - 1);
    }
    return conn_send(ep, c, buf, (size_t)n);
}

/* Consume buffered input: discard body bytes, answer every complete head. */
static int process_input(int ep, struct bconn *c)
{
    size_t off = 0;
    for (;;) {
        if (c->body_left > 0) {
            size_t take = c->in_len - off;
            if ((long long)take > c->body_left)
                take = (size_t)c->body_left;
            if (c->woh) {
                memcpy(c->woh + c->woh_len, c->in + off, take);
                c->woh_len += take;
            }
            c->body_left -= (long long)take;
            off += take;
            if (c->body_left > 0)
                break;
            if (c->woh && woh_answer(ep, c) < 0)
                return -1;
        }
        if (c->close_after)
            break;
        const char *start = c->in + off;
        size_t avail = c->in_len - off;
        const char *end = avail >= 4 ? memmem(start, avail, "\r\n\r\n", 4) : NULL;
        if (!end)
            break;
        size_t hlen = (size_t)(end - start) + 4;
        if (handle_request(ep, c, start, hlen) < 0)
            return -1;
        off += hlen;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->in_len == IN_CAP)
        return -1; /* a head bigger than our buffer: not something the bench sends */
    return 0;
}

static void *serve(void *arg)
{
    (void)arg;
    int lfd = listen_socket();
    if (lfd < 0) {
        perror("backend: listen");
        exit(1);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            struct bconn *c = evs[i].data.ptr;
            if (!c) {
                for (int k = 0; k < 64; k++) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct bconn *nc = calloc(1, sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                while (c->out_off < c->out_len) {
                    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                    if (w <= 0)
                        break;
                    c->out_off += (size_t)w;
                }
                if (c->out_off == c->out_len) {
                    free(c->out);
                    c->out = NULL;
                    c->out_len = c->out_off = 0;
                    if (c->close_after) {
                        conn_free(ep, c);
                        continue;
                    }
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    conn_free(ep, c);
                    continue;
                }
                if (r > 0) {
                    c->in_len += (size_t)r;
                    if (process_input(ep, c) < 0) {
                        conn_free(ep, c);
                        continue;
                    }
                }
                if (c->close_after && c->out_off == c->out_len) {
                    conn_free(ep, c);
                    continue;
                }
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
        return 2;
    }
    g_port = atoi(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1 || threads > 16)
        threads = 1;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    pthread_t th[16];
    for (int i = 1; i < threads; i++)
        pthread_create(&th[i], NULL, serve, NULL);
    serve(NULL);
    return 0;
}

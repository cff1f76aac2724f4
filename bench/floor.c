/*
 * bench/floor.c: the least a publish-subscribe server can do for the held-stream steps,
 * as a floor to read the other systems' numbers against (make bench: the "floor" system).
 *
 * What it does is what the work needs and nothing else: worker threads with their own
 * epoll set and SO_REUSEPORT listener hold GET /stream?channel=C as chunked responses; a
 * publish thread takes POST /publish/ exactly as the GRIP systems get it from loadc (one
 * request per connection, Connection: close, up to 100 items per body), pulls channel and
 * content out of each item with a plain scan (no JSON parser, no validation), answers, and
 * hands each worker the request's messages in one batch; a worker, once woken, writes what
 * is queued for a channel to each of its subscribers with one write(2) (so a burst into one
 * channel is coalesced, as in thumbtack). No queues for slow readers (a write that would
 * block is counted and dropped), no timers, no filters, no ids, no stats.
 *
 * It is a bench tool, not a server: it trusts its input (loadc's own bodies) and caps
 * sizes only so that a stray client cannot crash it.
 *
 * usage: floor PORT PUB_PORT [WORKERS]     (127.0.0.1 only; WORKERS defaults to the CPUs)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HEAD_CAP 4096
#define BODY_CAP (4 << 20)
#define MAX_EVENTS 512
#define MAX_WORKERS 64
#define BUCKETS 65536

static const char stream_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n";
static const char pub_answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 "Connection: close\r\nContent-Length: 10\r\n\r\nPublished\n";

/* ---- a worker: subscribers by channel ---- */

struct sub_conn {
    int fd;
    size_t in_len;
    char *in;          /* the request head while it is read (HEAD_CAP), then NULL */
    struct chan *chan; /* NULL until the head was read */
    size_t pos;        /* index in chan->fds */
};

struct chan {
    struct chan *next;
    uint64_t hash;
    uint64_t mark;     /* the wake-up that last touched it */
    size_t first, last; /* its messages in that wake-up: a list through next_same[] */
    struct sub_conn **subs;
    size_t n, alloc;
    char name[];
};

struct msg {
    char *chan;   /* owned by the batch */
    char *chunk;  /* "<hex>\r\n<content>\r\n" */
    size_t chunk_len;
};

/* One publish request's messages, shared by every worker. */
struct batch {
    struct msg *msgs;
    size_t n;
    int refs; /* one per worker, atomic */
};

struct node {
    struct node *next;
    struct batch *b;
};

struct worker {
    pthread_t thread;
    int ep, listen_fd, wake_fd;
    struct chan *buckets[BUCKETS];
    pthread_mutex_t lock;
    struct node *head, *tail; /* under lock */
    unsigned long long writes, blocked;
    uint64_t wakes;
};

static int port, pub_port, num_workers;
static struct worker workers[MAX_WORKERS];

static uint64_t hash_of(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct chan *chan_find(struct worker *w, const char *name, size_t n, int create)
{
    uint64_t h = hash_of(name, n);
    struct chan **pp = &w->buckets[h % BUCKETS];
    for (struct chan *c = *pp; c; c = c->next)
        if (c->hash == h && strlen(c->name) == n && memcmp(c->name, name, n) == 0)
            return c;
    if (!create)
        return NULL;
    struct chan *c = calloc(1, sizeof(*c) + n + 1);
    if (!c)
        abort();
    c->hash = h;
    memcpy(c->name, name, n);
    c->next = *pp;
    *pp = c;
    return c;
}

static int listen_on(int p, int reuseport)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
        perror("floor: bind/listen");
        exit(1);
    }
    return fd;
}

static void sub_close(struct worker *w, struct sub_conn *c)
{
    (void)w;
    struct chan *ch = c->chan;
    if (ch) {
        ch->subs[c->pos] = ch->subs[--ch->n];
        ch->subs[c->pos]->pos = c->pos;
    }
    close(c->fd);
    free(c->in);
    free(c);
}

/* The request head is in: "GET /stream?channel=NAME HTTP/1.1". */
static int sub_head(struct worker *w, struct sub_conn *c)
{
    c->in[c->in_len] = '\0';
    const char *p = strstr(c->in, "channel=");
    if (!p)
        return -1;
    p += 8;
    size_t n = strcspn(p, " &\r\n");
    if (write(c->fd, stream_head, sizeof(stream_head) - 1) != (ssize_t)sizeof(stream_head) - 1)
        return -1;
    struct chan *ch = chan_find(w, p, n, 1);
    if (ch->n == ch->alloc) {
        ch->alloc = ch->alloc ? ch->alloc * 2 : 4;
        ch->subs = realloc(ch->subs, ch->alloc * sizeof(*ch->subs));
        if (!ch->subs)
            abort();
    }
    c->chan = ch;
    c->pos = ch->n;
    ch->subs[ch->n++] = c;
    free(c->in);
    c->in = NULL;
    return 0;
}

static void sub_readable(struct worker *w, struct sub_conn *c)
{
    char buf[4096];
    for (;;) {
        char *dst = c->chan ? buf : c->in + c->in_len;
        size_t room = c->chan ? sizeof(buf) : HEAD_CAP - 1 - c->in_len;
        if (room == 0) {
            sub_close(w, c);
            return;
        }
        ssize_t r = read(c->fd, dst, room);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            sub_close(w, c);
            return;
        }
        if (c->chan)
            continue; /* a held stream's client has nothing more to say */
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        if (strstr(c->in, "\r\n\r\n") && sub_head(w, c) < 0) {
            sub_close(w, c);
            return;
        }
    }
}

static void batch_unref(struct batch *b)
{
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->msgs[i].chan);
        free(b->msgs[i].chunk);
    }
    free(b->msgs);
    free(b);
}

/* Everything queued since the last wake-up goes out together: every message for one
 * channel to a subscriber in one write, in order (a burst into one channel costs one
 * syscall per subscriber, as thumbtack's coalescing does). */
static void deliver(struct worker *w)
{
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&w->lock);
    struct node *q = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    size_t n = 0;
    for (struct node *x = q; x; x = x->next)
        n += x->b->n;
    struct msg **all = malloc((n ? n : 1) * sizeof(*all));
    size_t *next_same = malloc((n ? n : 1) * sizeof(*next_same));
    struct chan **touched = malloc((n ? n : 1) * sizeof(*touched));
    struct iovec *iov = malloc((n ? n : 1) * sizeof(*iov));
    if (!all || !next_same || !touched || !iov)
        abort();
    uint64_t gen = ++w->wakes;
    size_t k = 0, nt = 0;
    for (struct node *x = q; x; x = x->next) {
        for (size_t i = 0; i < x->b->n; i++, k++) {
            all[k] = &x->b->msgs[i];
            next_same[k] = SIZE_MAX;
            struct chan *ch = chan_find(w, all[k]->chan, strlen(all[k]->chan), 0);
            if (!ch || !ch->n)
                continue;
            if (ch->mark != gen) {
                ch->mark = gen;
                ch->first = k;
                touched[nt++] = ch;
            } else {
                next_same[ch->last] = k;
            }
            ch->last = k;
        }
    }
    for (size_t t = 0; t < nt; t++) {
        struct chan *ch = touched[t];
        /* IOV_MAX messages per write at most (the bench sends up to 500). */
        for (size_t j = ch->first; j != SIZE_MAX;) {
            int cnt = 0;
            size_t total = 0;
            for (; j != SIZE_MAX && cnt < IOV_MAX; j = next_same[j]) {
                iov[cnt].iov_base = all[j]->chunk;
                iov[cnt].iov_len = all[j]->chunk_len;
                total += all[j]->chunk_len;
                cnt++;
            }
            for (size_t s = 0; s < ch->n; s++) {
                ssize_t r = cnt == 1 ? write(ch->subs[s]->fd, iov[0].iov_base, iov[0].iov_len)
                                     : writev(ch->subs[s]->fd, iov, cnt);
                if (r == (ssize_t)total)
                    w->writes++;
                else
                    w->blocked++;
            }
        }
    }
    free(all);
    free(next_same);
    free(touched);
    free(iov);
    while (q) {
        struct node *next = q->next;
        batch_unref(q->b);
        free(q);
        q = next;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[MAX_EVENTS];
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->listen_fd, &ev);
    ev.data.ptr = &w->wake_fd;
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &ev);
    for (;;) {
        int k = epoll_wait(w->ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < k; i++) {
            void *p = evs[i].data.ptr;
            if (p == &w->wake_fd) {
                deliver(w);
            } else if (!p) {
                for (;;) {
                    int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    struct sub_conn *c = calloc(1, sizeof(*c));
                    if (!c)
                        abort();
                    c->fd = fd;
                    if (!(c->in = malloc(HEAD_CAP)))
                        abort();
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &cev);
                }
            } else {
                sub_readable(w, p);
            }
        }
    }
    return NULL;
}

/* ---- the publish thread ---- */

struct pub_conn {
    int fd;
    char *buf;
    size_t len;
    size_t need; /* head + body, once the head is in */
};

/* A JSON string starting after its opening quote: decoded into a new buffer. */
static char *json_str(const char *p, const char *end, size_t *out_len, const char **after)
{
    char *s = malloc((size_t)(end - p) + 1);
    if (!s)
        abort();
    size_t n = 0;
    while (p < end && *p != '"') {
        char c = *p++;
        if (c == '\\' && p < end) {
            c = *p++;
            c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        }
        s[n++] = c;
    }
    s[n] = '\0';
    *out_len = n;
    *after = p < end ? p + 1 : end;
    return s;
}

static void publish(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    struct msg *msgs = NULL;
    size_t n = 0, alloc = 0;
    for (;;) {
        const char *c = memmem(p, (size_t)(end - p), "\"channel\":\"", 11);
        if (!c)
            break;
        size_t cl, tl;
        const char *after;
        char *chan = json_str(c + 11, end, &cl, &after);
        const char *t = memmem(after, (size_t)(end - after), "\"content\":\"", 11);
        if (!t) {
            free(chan);
            break;
        }
        char *text = json_str(t + 11, end, &tl, &p);
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 128;
            msgs = realloc(msgs, alloc * sizeof(*msgs));
            if (!msgs)
                abort();
        }
        char *chunk = malloc(tl + 24);
        if (!chunk)
            abort();
        int hl = snprintf(chunk, 24, "%zx\r\n", tl);
        memcpy(chunk + hl, text, tl);
        memcpy(chunk + hl + tl, "\r\n", 2);
        free(text);
        msgs[n].chan = chan;
        msgs[n].chunk = chunk;
        msgs[n].chunk_len = (size_t)hl + tl + 2;
        n++;
    }
    if (!n)
        return;
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    b->msgs = msgs;
    b->n = n;
    b->refs = num_workers;
    for (int i = 0; i < num_workers; i++) {
        struct worker *w = &workers[i];
        struct node *q = calloc(1, sizeof(*q));
        if (!q)
            abort();
        q->b = b;
        pthread_mutex_lock(&w->lock);
        if (w->tail)
            w->tail->next = q;
        else
            w->head = q;
        w->tail = q;
        pthread_mutex_unlock(&w->lock);
        uint64_t one = 1;
        if (write(w->wake_fd, &one, sizeof(one)) < 0)
            perror("floor: eventfd");
    }
}

static void pub_close(int ep, struct pub_conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void pub_readable(int ep, struct pub_conn *c)
{
    for (;;) {
        if (c->len == BODY_CAP) {
            pub_close(ep, c);
            return;
        }
        ssize_t r = read(c->fd, c->buf + c->len, BODY_CAP - c->len);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            pub_close(ep, c);
            return;
        }
        c->len += (size_t)r;
        if (!c->need) {
            char *h = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (!h)
                continue;
            size_t head = (size_t)(h - c->buf) + 4;
            char *cl = memmem(c->buf, head, "Content-Length:", 15);
            c->need = head + (cl ? strtoul(cl + 15, NULL, 10) : 0);
            if (c->need > BODY_CAP) {
                pub_close(ep, c);
                return;
            }
        }
        if (c->len >= c->need) {
            char *h = memmem(c->buf, c->len, "\r\n\r\n", 4);
            size_t head = (size_t)(h - c->buf) + 4;
            /* Answer first, as the GRIP systems do, then hand the items over. */
            if (write(c->fd, pub_answer, sizeof(pub_answer) - 1) < 0)
                perror("floor: publish answer");
            publish(c->buf + head, c->need - head);
            shutdown(c->fd, SHUT_WR);
            pub_close(ep, c);
            return;
        }
    }
}

static void *pub_main(void *arg)
{
    (void)arg;
    int lfd = listen_on(pub_port, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[64];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int k = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr) {
                pub_readable(ep, evs[i].data.ptr);
                continue;
            }
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                struct pub_conn *c = calloc(1, sizeof(*c));
                if (!c || !(c->buf = malloc(BODY_CAP)))
                    abort();
                c->fd = fd;
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
            }
        }
    }
    return NULL;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT PUB_PORT [WORKERS]\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    pub_port = atoi(argv[2]);
    num_workers = argc > 3 ? atoi(argv[3]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (num_workers < 1)
        num_workers = 1;
    if (num_workers > MAX_WORKERS)
        num_workers = MAX_WORKERS;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    for (int i = 0; i < num_workers; i++) {
        struct worker *w = &workers[i];
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->listen_fd = listen_on(port, 1);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        pthread_mutex_init(&w->lock, NULL);
        pthread_create(&w->thread, NULL, worker_main, w);
    }
    pthread_t pt;
    pthread_create(&pt, NULL, pub_main, NULL);
    while (!stop)
        pause();
    unsigned long long writes = 0, blocked = 0;
    for (int i = 0; i < num_workers; i++) {
        writes += __atomic_load_n(&workers[i].writes, __ATOMIC_RELAXED);
        blocked += __atomic_load_n(&workers[i].blocked, __ATOMIC_RELAXED);
    }
    fprintf(stderr, "floor: %llu writes, %llu short or failed (dropped)\n", writes, blocked);
    return 0;
}

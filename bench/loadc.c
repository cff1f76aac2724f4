/*
 * bench/loadc.c: the load client for the held-connection benchmarks.
 *
 * One epoll loop, non-blocking sockets to 127.0.0.1 only. Modes (args are key=value):
 *
 *   sub      port= n= path= [base=0] [inflight=100] [tries=4] [maxtime=600]
 *            Opens n held GET connections ("{i}" in path becomes base+i), prints
 *            "ready ok=.. fail=.. secs=.." once every connection got its response
 *            head (or failed), then counts the messages that arrive. A message is
 *            "@<CLOCK_REALTIME ns>\n" anywhere in a response body (after chunked
 *            decoding); its latency is receipt time minus that stamp.
 *            stdin commands: "stats" (one JSON line), "reset", "quit" (or EOF).
 *            ws=1: each connection is a WebSocket (upgrade GET, 101 counts as ready);
 *            the markers are looked for in the payloads of the frames that arrive.
 *            send=R secs=S (with ws=1): once every connection is ready, the clients
 *            send R small text messages per second in all (round robin) for S
 *            seconds, then print "sent n=.. closed=.. secs=.." (client-to-backend
 *            message rate through WebSocket-over-HTTP).
 *   pub      port= kind=grip|nchan [fmt=stream|response|ws] chan= [nchan=1] [count=1]
 *            [interval_ms=0] [batch=100] [conns=1] [path=/publish/] [maxtime=120]
 *            Publishes count rounds; a round is one message to each of the nchan
 *            channels ("{i}" in chan becomes 0..nchan-1). grip: POST path with
 *            {"items":[...]} holding up to batch items; nchan: one POST
 *            path?channel=NAME per message. Rounds start interval_ms apart (0:
 *            back to back). Every POST carries its own send-time stamp. Prints JSON.
 *   lp       port= n= path= pubport= kind= [pubpath=] [batch=100] [conns=2]
 *            [duration=10] [warmup=1] [gap_ms=2] [maxtime=120]
 *            n long-pollers on their own channel each ("{i}" in path is the index;
 *            the channel published to is "lp{i}"), re-requesting on the same
 *            keep-alive connection as soon as a response completes, and a publisher
 *            that sends an http-response to every channel whose poller is waiting.
 *            Prints JSON with completed cycles per second.
 *            rate=R: instead, every poller waits on the one channel "lp" (use a path
 *            without {i}) and R messages per second are published to it, whoever
 *            waits: each publish can complete n cycles (at most n*R cycles/s).
 *   connrate port= path= [conc=50] [duration=10] [maxtime=60]
 *            conc loops of: connect, GET path, read the response head, close with
 *            RST (no TIME_WAIT, so ephemeral ports never run out). Prints JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------- small helpers ---------- */

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadc: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int g_argc;
static char **g_argv;

static const char *arg_str(const char *key, const char *def)
{
    size_t kl = strlen(key);
    for (int i = 2; i < g_argc; i++)
        if (strncmp(g_argv[i], key, kl) == 0 && g_argv[i][kl] == '=')
            return g_argv[i] + kl + 1;
    return def;
}

static long arg_int(const char *key, long def)
{
    const char *v = arg_str(key, NULL);
    return v ? strtol(v, NULL, 10) : def;
}

/* Expand "{i}" in a template. */
static void expand(char *out, size_t cap, const char *tmpl, long i)
{
    const char *p = strstr(tmpl, "{i}");
    if (!p) {
        snprintf(out, cap, "%s", tmpl);
        return;
    }
    snprintf(out, cap, "%.*s%ld%s", (int)(p - tmpl), tmpl, i, p + 3);
}

/* ---------- latency histogram: exact below 1024 us, then 128 steps per octave ---------- */

#define H_LIN 1024
#define H_N (H_LIN + 128 * 30)
static uint64_t g_hist[H_N];

static int h_index(uint64_t us)
{
    if (us < H_LIN)
        return (int)us;
    int e = 63 - __builtin_clzll(us);
    int idx = H_LIN + (e - 10) * 128 + (int)((us >> (e - 7)) & 127);
    return idx < H_N ? idx : H_N - 1;
}

static uint64_t h_value(int idx)
{
    if (idx < H_LIN)
        return (uint64_t)idx;
    int e = (idx - H_LIN) / 128 + 10;
    uint64_t m = (uint64_t)((idx - H_LIN) % 128);
    return (128 + m) << (e - 7);
}

static uint64_t h_pct(const uint64_t *h, double q)
{
    uint64_t total = 0;
    for (int i = 0; i < H_N; i++)
        total += h[i];
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t acc = 0;
    for (int i = 0; i < H_N; i++) {
        acc += h[i];
        if (acc > want)
            return h_value(i);
    }
    return 0;
}

static void h_print(const uint64_t *h)
{
    printf("\"hist\":[");
    int first = 1;
    for (int i = 0; i < H_N; i++)
        if (h[i]) {
            printf("%s[%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", h_value(i), h[i]);
            first = 0;
        }
    printf("]");
}

/* ---------- HTTP response parser (sans I/O) ---------- */

enum { P_HEAD, P_CL, P_CSIZE, P_CDATA, P_CCRLF, P_TRAILER, P_CLOSE, P_WS, P_DONE };

struct resp {
    int phase;
    char head[4096];
    size_t hlen;
    int status;
    int close;
    int64_t remain;
    uint64_t csize;
    int csize_state; /* 0 digits, 1 skipping extension */
    int tline;       /* bytes in the current trailer line */
    int mstate;      /* marker scanner: 0 idle, 1 in digits */
    uint64_t mval;
    int markers;     /* markers seen in this response */
    /* P_WS: WebSocket frames after a 101 */
    unsigned char wh[14];
    int whl;           /* header bytes so far */
    int wop;           /* opcode of the frame being read */
    uint64_t wremain;  /* its payload bytes still to come */
};

struct stats {
    uint64_t recv, first_ns, last_ns, bytes;
};
static struct stats g_st;

static void marker(uint64_t stamp, uint64_t now)
{
    uint64_t lat_us = now > stamp ? (now - stamp) / 1000 : 0;
    g_hist[h_index(lat_us)]++;
    if (!g_st.recv)
        g_st.first_ns = now;
    g_st.last_ns = now;
    g_st.recv++;
}

/* Scan body bytes for "@<digits>\n". */
static void scan_body(struct resp *r, const char *p, size_t n, uint64_t now)
{
    const char *end = p + n;
    g_st.bytes += n;
    while (p < end) {
        if (r->mstate == 0) {
            const char *at = memchr(p, '@', (size_t)(end - p));
            if (!at)
                return;
            p = at + 1;
            r->mstate = 1;
            r->mval = 0;
            continue;
        }
        char ch = *p++;
        if (ch >= '0' && ch <= '9') {
            r->mval = r->mval * 10 + (uint64_t)(ch - '0');
        } else {
            if (ch == '\n' && r->mval) {
                marker(r->mval, now);
                r->markers++;
            }
            r->mstate = 0;
        }
    }
}

static void resp_reset(struct resp *r)
{
    r->phase = P_HEAD;
    r->hlen = 0;
    r->status = 0;
    r->close = 0;
    r->remain = 0;
    r->mstate = 0;
    r->markers = 0;
    r->whl = 0;
    r->wremain = 0;
}

/* Length of a server frame's header from its first bytes (unmasked), 0 if unknown yet. */
static int ws_hlen(const struct resp *r)
{
    if (r->whl < 2)
        return 0;
    int n = r->wh[1] & 0x7f;
    return n == 126 ? 4 : n == 127 ? 10 : 2;
}

/* WebSocket frames: text/binary payloads are scanned for markers; a close frame ends it. */
static size_t ws_feed(struct resp *r, const char *p, size_t n, uint64_t now)
{
    size_t i = 0;
    while (i < n && r->phase == P_WS) {
        if (r->wremain == 0 && (r->whl < 2 || r->whl < ws_hlen(r))) {
            r->wh[r->whl++] = (unsigned char)p[i++];
            int hl = ws_hlen(r);
            if (hl && r->whl == hl) {
                uint64_t len = r->wh[1] & 0x7f;
                if (len == 126)
                    len = (uint64_t)r->wh[2] << 8 | r->wh[3];
                else if (len == 127) {
                    len = 0;
                    for (int k = 0; k < 8; k++)
                        len = len << 8 | r->wh[2 + k];
                }
                r->wop = r->wh[0] & 0x0f;
                r->wremain = len;
                r->whl = 0;
                if (r->wop == 8) {
                    r->phase = P_DONE;
                    return i;
                }
            }
            continue;
        }
        size_t take = n - i;
        if (take > r->wremain)
            take = (size_t)r->wremain;
        if (r->wop < 8)
            scan_body(r, p + i, take, now);
        i += take;
        r->wremain -= take;
    }
    return i;
}

static int hdr_has(const char *head, size_t len, const char *name, const char *needle, long long *num)
{
    size_t nl = strlen(name);
    const char *end = head + len;
    const char *p = memchr(head, '\n', len);
    while (p && p + 1 < end) {
        p++;
        if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            const char *e = memchr(v, '\n', (size_t)(end - v));
            if (!e)
                e = end;
            if (num) {
                *num = atoll(v);
                return 1;
            }
            for (const char *q = v; q + strlen(needle) <= e; q++)
                if (strncasecmp(q, needle, strlen(needle)) == 0)
                    return 1;
            return 0;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return 0;
}

/* Head complete: decide how the body is framed. */
static void resp_head_done(struct resp *r)
{
    r->status = 0;
    if (r->hlen > 12 && memcmp(r->head, "HTTP/1.", 7) == 0)
        r->status = atoi(r->head + 9);
    long long cl = -1;
    int has_cl = hdr_has(r->head, r->hlen, "Content-Length", NULL, &cl);
    r->close = hdr_has(r->head, r->hlen, "Connection", "close", NULL) ||
               memcmp(r->head, "HTTP/1.0", 8) == 0;
    if (r->status == 101) {
        r->phase = P_WS;
        r->whl = 0;
        r->wremain = 0;
    } else if (r->status < 200 || r->status == 204 || r->status == 304) {
        r->phase = P_DONE;
    } else if (hdr_has(r->head, r->hlen, "Transfer-Encoding", "chunked", NULL)) {
        r->phase = P_CSIZE;
        r->csize = 0;
        r->csize_state = 0;
    } else if (has_cl) {
        r->remain = cl;
        r->phase = cl > 0 ? P_CL : P_DONE;
    } else {
        r->phase = P_CLOSE;
        r->close = 1;
    }
}

/*
 * Feed bytes; returns bytes consumed (stops right after a complete response so
 * the caller can start the next one), -1 on a malformed response.
 * *head_done is set when the head completes during this call.
 */
static ssize_t resp_feed(struct resp *r, const char *p, size_t n, uint64_t now, int *head_done)
{
    size_t i = 0;
    while (i < n && r->phase != P_DONE) {
        switch (r->phase) {
        case P_HEAD:
            if (r->hlen >= sizeof r->head)
                return -1;
            r->head[r->hlen++] = p[i++];
            if (r->hlen >= 4 && memcmp(r->head + r->hlen - 4, "\r\n\r\n", 4) == 0) {
                resp_head_done(r);
                *head_done = 1;
            }
            break;
        case P_CL: {
            size_t take = n - i;
            if ((int64_t)take > r->remain)
                take = (size_t)r->remain;
            scan_body(r, p + i, take, now);
            i += take;
            r->remain -= (int64_t)take;
            if (r->remain == 0)
                r->phase = P_DONE;
            break;
        }
        case P_CSIZE: {
            char ch = p[i++];
            if (ch == '\n') {
                if (r->csize == 0) {
                    r->phase = P_TRAILER;
                    r->tline = 0;
                } else {
                    r->phase = P_CDATA;
                    r->remain = (int64_t)r->csize;
                }
                r->csize = 0;
                r->csize_state = 0;
            } else if (r->csize_state == 0) {
                int d = (ch >= '0' && ch <= '9')   ? ch - '0'
                        : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                        : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                                   : -1;
                if (d >= 0)
                    r->csize = r->csize * 16 + (uint64_t)d;
                else
                    r->csize_state = 1;
            }
            break;
        }
        case P_CDATA: {
            size_t take = n - i;
            if ((int64_t)take > r->remain)
                take = (size_t)r->remain;
            scan_body(r, p + i, take, now);
            i += take;
            r->remain -= (int64_t)take;
            if (r->remain == 0)
                r->phase = P_CCRLF;
            break;
        }
        case P_CCRLF:
            if (p[i++] == '\n')
                r->phase = P_CSIZE;
            break;
        case P_TRAILER: {
            char ch = p[i++];
            if (ch == '\n') {
                if (r->tline == 0)
                    r->phase = P_DONE;
                r->tline = 0;
            } else if (ch != '\r') {
                r->tline++;
            }
            break;
        }
        case P_CLOSE:
            scan_body(r, p + i, n - i, now);
            i = n;
            break;
        case P_WS:
            i += ws_feed(r, p + i, n - i, now);
            break;
        }
    }
    return (ssize_t)i;
}

/* ---------- connections ---------- */

enum { C_IDLE, C_CONNECTING, C_ACTIVE, C_DEAD };

struct conn {
    int fd;
    int state;
    int role; /* mode specific */
    long idx;
    int ready; /* response head seen */
    int waiting; /* lp: request sent, response not complete */
    uint64_t t_start, t_req, last_pub;
    int tries; /* sub: connection attempts so far */
    char *out;
    size_t out_len, out_off, out_cap;
    struct resp r;
};

static int g_ep;
static int g_port;
static long g_closed_by_peer;

static int sock_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_watch(struct conn *c, int op, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g_ep, op, c->fd, &ev);
}

static int conn_open(struct conn *c, int port)
{
    c->fd = sock_connect(port);
    if (c->fd < 0)
        return -1;
    c->state = C_CONNECTING;
    c->ready = 0;
    c->waiting = 0;
    c->out_len = c->out_off = 0;
    c->t_start = mono_ns();
    resp_reset(&c->r);
    conn_watch(c, EPOLL_CTL_ADD, 1);
    return 0;
}

static void conn_close(struct conn *c, int rst)
{
    if (c->fd >= 0) {
        if (rst) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_DEAD;
}

static void out_append(struct conn *c, const char *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out)
            die("out of memory");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* Write what can be written; keep EPOLLOUT only while output is pending. */
static int conn_flush(struct conn *c)
{
    if (c->state == C_CONNECTING)
        return 0;
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN)
                break;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    conn_watch(c, EPOLL_CTL_MOD, c->out_off < c->out_len);
    return 0;
}

/* Connect completion; returns 0 when connected, -1 on failure. */
static int conn_connected(struct conn *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err)
        return -1;
    c->state = C_ACTIVE;
    return conn_flush(c);
}

static int g_ws; /* sub: WebSocket subscribers */

static void send_get(struct conn *c, const char *path)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadc\r\n%s\r\n",
                     path,
                     g_ws ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          : "");
    out_append(c, req, (size_t)n);
    c->t_req = mono_ns();
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---------- mode: sub ---------- */

static void print_stats(void)
{
    printf("{\"recv\":%" PRIu64 ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"closed\":%ld,\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64 ",",
           g_st.recv, g_st.first_ns, g_st.last_ns, g_st.bytes, g_closed_by_peer, h_pct(g_hist, 0.5),
           h_pct(g_hist, 0.99));
    h_print(g_hist);
    printf("}\n");
    fflush(stdout);
}

static int mode_sub(void)
{
    long n = arg_int("n", 1);
    long base = arg_int("base", 0);
    long inflight_max = arg_int("inflight", 100);
    long maxtime = arg_int("maxtime", 600);
    const char *path = arg_str("path", "/stream");
    g_ws = arg_int("ws", 0) != 0;
    if (n < 1 || n > 19000)
        die("n must be 1..19000 (per-process fd limit)");
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    for (long i = 0; i < n; i++) {
        cs[i].fd = -1;
        cs[i].idx = base + i;
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, 0, &sev);

    uint64_t t0 = mono_ns();
    uint64_t deadline = t0 + (uint64_t)maxtime * 1000000000ull;
    long next = 0, inflight = 0, ok = 0, fail = 0, retries = 0;
    long max_tries = arg_int("tries", 4);
    /* Failed attempts (Pushpin answers 500/502 when too many connections arrive at
     * once) go back on a queue and are retried 100 ms later, up to max_tries. */
    long *rq = calloc((size_t)n, sizeof *rq);
    uint64_t *rq_at = calloc((size_t)n, sizeof *rq_at);
    long rq_head = 0, rq_tail = 0;
    int announced = 0;
#define SUB_FAILED(c)                                                                              \
    do {                                                                                           \
        if ((c)->tries < max_tries) {                                                              \
            rq[rq_tail % n] = (c) - cs;                                                            \
            rq_at[rq_tail % n] = mono_ns() + 100000000ull;                                         \
            rq_tail++;                                                                             \
            retries++;                                                                             \
        } else {                                                                                   \
            fail++;                                                                                \
        }                                                                                          \
    } while (0)
    char line[256];
    size_t line_len = 0;
    struct epoll_event evs[1024];
    char buf[65536];
    char pbuf[1024];
    /* send=R: one masked 16-byte text frame, the same bytes every time */
    double send_rate = (double)arg_int("send", 0);
    double send_secs = (double)arg_int("secs", 10);
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    unsigned char frame[2 + 4 + 16] = {0x81, 0x80 | 16, 0x12, 0x34, 0x56, 0x78};
    for (int i = 0; i < 16; i++)
        frame[6 + i] = (unsigned char)("woh bench msg 0\n"[i] ^ mask[i % 4]);
    uint64_t send_t0 = 0, send_last = 0;
    double tokens = 0;
    long sent = 0, rr = 0, send_done = 0;

    while (mono_ns() < deadline) {
        while (inflight < inflight_max && (next < n || (rq_head < rq_tail && rq_at[rq_head % n] <= mono_ns()))) {
            struct conn *c = next < n ? &cs[next++] : &cs[rq[rq_head++ % n]];
            c->tries++;
            if (conn_open(c, g_port) < 0) {
                SUB_FAILED(c);
                continue;
            }
            expand(pbuf, sizeof pbuf, path, c->idx);
            send_get(c, pbuf);
            inflight++;
        }
        if (!announced && ok + fail == n) {
            printf("ready ok=%ld fail=%ld retries=%ld secs=%.3f\n", ok, fail, retries,
                   (double)(mono_ns() - t0) / 1e9);
            fflush(stdout);
            announced = 1;
        }
        if (announced && send_rate > 0 && !send_done) {
            uint64_t t = mono_ns();
            if (!send_t0)
                send_t0 = send_last = t;
            tokens += (double)(t - send_last) / 1e9 * send_rate;
            send_last = t;
            for (long tries = 0; tokens >= 1 && tries < n; tries++) {
                struct conn *c = &cs[rr++ % n];
                if (c->state != C_ACTIVE || !c->ready)
                    continue;
                out_append(c, (const char *)frame, sizeof frame);
                if (conn_flush(c) == 0) {
                    sent++;
                    tokens -= 1;
                    tries = -1;
                }
            }
            if (tokens > send_rate)
                tokens = send_rate; /* never more than a second of backlog */
            if ((double)(t - send_t0) / 1e9 >= send_secs) {
                printf("sent n=%ld closed=%ld secs=%.3f\n", sent, g_closed_by_peer,
                       (double)(t - send_t0) / 1e9);
                fflush(stdout);
                send_done = 1;
            }
        }
        int k = epoll_wait(g_ep, evs, 1024, send_rate > 0 && announced && !send_done ? 2 : 200);
        uint64_t now = real_ns();
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            if (!c) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r <= 0)
                    goto out;
                line_len += (size_t)r;
                char *nl;
                while ((nl = memchr(line, '\n', line_len))) {
                    *nl = '\0';
                    if (strcmp(line, "stats") == 0)
                        print_stats();
                    else if (strcmp(line, "reset") == 0) {
                        memset(g_hist, 0, sizeof g_hist);
                        memset(&g_st, 0, sizeof g_st);
                    } else if (strcmp(line, "quit") == 0)
                        goto out;
                    size_t used = (size_t)(nl - line) + 1;
                    memmove(line, nl + 1, line_len - used);
                    line_len -= used;
                }
                if (line_len == sizeof line - 1)
                    line_len = 0;
                continue;
            }
            if (c->state == C_CONNECTING) {
                if (conn_connected(c) < 0) {
                    conn_close(c, 0);
                    SUB_FAILED(c);
                    if (fail + retries <= 5)
                        fprintf(stderr, "loadc: %ld: connect failed\n", c->idx);
                    inflight--;
                }
                continue;
            }
            if (c->state != C_ACTIVE)
                continue;
            if (evs[e].events & EPOLLOUT) {
                if (conn_flush(c) < 0)
                    goto dead;
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            for (int rounds = 0; rounds < 4; rounds++) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0)
                    goto dead;
                size_t off = 0;
                while (off < (size_t)r) {
                    int hd = 0;
                    ssize_t used = resp_feed(&c->r, buf + off, (size_t)r - off, now, &hd);
                    if (used < 0)
                        goto dead;
                    off += (size_t)used;
                    if (hd && !c->ready) {
                        c->ready = 1;
                        inflight--;
                        if (c->r.status == (g_ws ? 101 : 200)) {
                            ok++;
                        } else {
                            SUB_FAILED(c);
                            if (fail + retries <= 5)
                                fprintf(stderr, "loadc: %ld: answered %.*s\n", c->idx,
                                        (int)(memchr(c->r.head, '\r', c->r.hlen) ? (char *)memchr(c->r.head, '\r', c->r.hlen) - c->r.head : 0),
                                        c->r.head);
                            c->ready = 0;
                            conn_close(c, 0);
                            break;
                        }
                    }
                    if (c->r.phase == P_DONE) {
                        /* a held stream should never end; ignore any extra bytes */
                        g_closed_by_peer++;
                        conn_close(c, 0);
                        break;
                    }
                }
                if (c->state != C_ACTIVE || (size_t)r < sizeof buf)
                    break;
            }
            continue;
        dead:
            if (!c->ready) {
                SUB_FAILED(c);
                if (fail + retries <= 5)
                    fprintf(stderr, "loadc: %ld: closed before the response head (%s)\n", c->idx,
                            strerror(errno));
                inflight--;
            } else {
                g_closed_by_peer++;
            }
            conn_close(c, 0);
        }
    }
out:
    for (long i = 0; i < n; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    return 0;
}

/* ---------- publishing (shared by pub and lp) ---------- */

static const char *g_kind;     /* "grip" or "nchan" */
static const char *g_fmt;      /* "stream" or "response" */
static const char *g_pubpath;  /* "/publish/" or "/pub" */
static long g_pub_posts, g_pub_items, g_pub_errors;
static uint64_t g_pub_first_ns, g_pub_last_ns, g_pub_last_resp_ns;

/* Append one POST carrying the given channel names to c's output. */
static void build_publish(struct conn *c, char **names, int count)
{
    static char body[4 << 20];
    char stamp[32];
    uint64_t ts = real_ns();
    snprintf(stamp, sizeof stamp, "%" PRIu64, ts);
    char head[512];
    size_t blen = 0;
    if (strcmp(g_kind, "nchan") == 0) {
        blen = (size_t)snprintf(body, sizeof body, "@%s\n", stamp);
        int hl = snprintf(head, sizeof head,
                          "POST %s?channel=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          g_pubpath, names[0], blen);
        out_append(c, head, (size_t)hl);
    } else {
        int resp = strcmp(g_fmt, "response") == 0;
        int ws = strcmp(g_fmt, "ws") == 0;
        blen = (size_t)snprintf(body, sizeof body, "{\"items\":[");
        for (int i = 0; i < count && blen + 256 < sizeof body; i++)
            blen += (size_t)snprintf(body + blen, sizeof body - blen,
                                     "%s{\"channel\":\"%s\",\"formats\":{%s\"@%s\\n\"}}}", i ? "," : "",
                                     names[i],
                                     resp ? "\"http-response\":{\"body\":"
                                     : ws ? "\"ws-message\":{\"content\":"
                                          : "\"http-stream\":{\"content\":",
                                     stamp);
        blen += (size_t)snprintf(body + blen, sizeof body - blen, "]}");
        int hl = snprintf(head, sizeof head,
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          g_pubpath, blen);
        out_append(c, head, (size_t)hl);
    }
    out_append(c, body, blen);
    if (!g_pub_first_ns)
        g_pub_first_ns = ts;
    g_pub_last_ns = ts;
    g_pub_posts++;
    g_pub_items += count;
}

/* Read a publish response; returns 1 when complete, 2 when complete and the
 * server closes (nginx's keepalive_requests), 0 if more needed, -1 dead. */
static int read_pub_response(struct conn *c)
{
    char buf[8192];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r < 0 && errno == EAGAIN)
            return 0;
        if (r <= 0)
            return -1;
        int hd = 0;
        struct stats keep = g_st; /* publish responses carry no markers worth counting */
        ssize_t used = resp_feed(&c->r, buf, (size_t)r, 0, &hd);
        g_st = keep;
        if (used < 0)
            return -1;
        if (c->r.phase == P_DONE) {
            g_pub_last_resp_ns = real_ns();
            if (c->r.status < 200 || c->r.status > 299) {
                if (g_pub_errors++ < 3)
                    fprintf(stderr, "loadc: publish answered %d\n", c->r.status);
            }
            int cl = c->r.close;
            resp_reset(&c->r);
            return cl ? 2 : 1;
        }
    }
}

/* ---------- mode: pub ---------- */

static int mode_pub(void)
{
    long nch = arg_int("nchan", 1);
    long count = arg_int("count", 1);
    long interval_ms = arg_int("interval_ms", 0);
    long batch = arg_int("batch", 100);
    long nconns = arg_int("conns", 1);
    long maxtime = arg_int("maxtime", 120);
    const char *chan = arg_str("chan", "test");
    if (strcmp(g_kind, "nchan") == 0)
        batch = 1;
    if (batch < 1)
        batch = 1;
    if (nconns < 1 || nconns > 64)
        nconns = 1;
    char **names = calloc((size_t)nch, sizeof *names);
    for (long i = 0; i < nch; i++) {
        char tmp[256];
        expand(tmp, sizeof tmp, chan, i);
        names[i] = strdup(tmp);
    }
    struct conn *cs = calloc((size_t)nconns, sizeof *cs);
    for (long i = 0; i < nconns; i++)
        if (conn_open(&cs[i], g_port) < 0)
            die("cannot connect to publish port");

    uint64_t t0 = mono_ns();
    uint64_t deadline = t0 + (uint64_t)maxtime * 1000000000ull;
    long round = 0, pos = 0; /* next message: round, channel position */
    long outstanding = 0;
    struct epoll_event evs[64];
    int failed = 0;
    while (mono_ns() < deadline) {
        /* hand the next POST to every idle connection, if its round may start */
        for (long i = 0; i < nconns && round < count; i++) {
            struct conn *c = &cs[i];
            if (c->state != C_ACTIVE || c->waiting)
                continue;
            uint64_t start = t0 + (uint64_t)(round * interval_ms) * 1000000ull;
            if (mono_ns() < start)
                break;
            long take = nch - pos < batch ? nch - pos : batch;
            build_publish(c, names + pos, (int)take);
            c->waiting = 1;
            outstanding++;
            if (conn_flush(c) < 0) {
                failed = 1;
                break;
            }
            pos += take;
            if (pos == nch) {
                pos = 0;
                round++;
            }
        }
        if (failed || (round >= count && outstanding == 0))
            break;
        int timeout = 50;
        if (round < count && interval_ms > 0) {
            uint64_t start = t0 + (uint64_t)(round * interval_ms) * 1000000ull;
            uint64_t now = mono_ns();
            timeout = start > now ? (int)((start - now) / 1000000) : 0;
            if (timeout > 50)
                timeout = 50;
        }
        int k = epoll_wait(g_ep, evs, 64, timeout);
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            if (c->state == C_CONNECTING) {
                if (conn_connected(c) < 0)
                    die("publish connect failed");
                continue;
            }
            if ((evs[e].events & EPOLLOUT) && conn_flush(c) < 0)
                die("publish write failed");
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                int r = read_pub_response(c);
                if (r < 0)
                    die("publish connection closed by server");
                if (r >= 1) {
                    c->waiting = 0;
                    outstanding--;
                }
                if (r == 2) {
                    conn_close(c, 0);
                    if (conn_open(c, g_port) < 0)
                        die("publish reconnect failed");
                }
            }
        }
    }
    printf("{\"posts\":%ld,\"items\":%ld,\"errors\":%ld,\"rounds\":%ld,\"first_ns\":%" PRIu64
           ",\"last_ns\":%" PRIu64 ",\"last_resp_ns\":%" PRIu64 ",\"complete\":%s}\n",
           g_pub_posts, g_pub_items, g_pub_errors, round, g_pub_first_ns, g_pub_last_ns,
           g_pub_last_resp_ns, (round >= count && outstanding == 0) ? "true" : "false");
    return 0;
}

/* ---------- mode: lp ---------- */

static int mode_lp(void)
{
    long n = arg_int("n", 100);
    long pubport = arg_int("pubport", 0);
    long batch = arg_int("batch", 100);
    long nconns = arg_int("conns", 2);
    double duration = (double)arg_int("duration", 10);
    double warmup = (double)arg_int("warmup", 1);
    long gap_ms = arg_int("gap_ms", 2);
    long rate = arg_int("rate", 0);
    long maxtime = arg_int("maxtime", 120);
    uint64_t next_pub = 0;
    char *shared_chan[1] = {"lp"};
    const char *path = arg_str("path", "/response?channel=lp{i}");
    if (n < 1 || n > 10000)
        die("n must be 1..10000");
    if (strcmp(g_kind, "nchan") == 0)
        batch = 1;
    if (nconns < 1 || nconns > 64)
        nconns = 2;
    struct conn *cl = calloc((size_t)n, sizeof *cl);
    struct conn *pc = calloc((size_t)nconns, sizeof *pc);
    char **names = calloc((size_t)n, sizeof *names);
    char **sel = calloc((size_t)n, sizeof *sel);
    char pbuf[1024];
    for (long i = 0; i < n; i++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "lp%ld", i);
        names[i] = strdup(tmp);
        cl[i].idx = i;
        cl[i].role = 0;
        if (conn_open(&cl[i], g_port) < 0)
            die("cannot connect");
        expand(pbuf, sizeof pbuf, path, i);
        send_get(&cl[i], pbuf);
        cl[i].waiting = 1;
    }
    for (long i = 0; i < nconns; i++) {
        pc[i].role = 1;
        if (conn_open(&pc[i], (int)pubport) < 0)
            die("cannot connect to publish port");
    }
    uint64_t t0 = mono_ns();
    uint64_t t_meas = t0 + (uint64_t)(warmup * 1e9);
    uint64_t t_end = t_meas + (uint64_t)(duration * 1e9);
    uint64_t deadline = t0 + (uint64_t)maxtime * 1000000000ull;
    if (t_end > deadline)
        t_end = deadline;
    long cycles = 0, other = 0, reconnects = 0, cursor = 0;
    struct epoll_event evs[1024];
    char buf[65536];
    while (mono_ns() < t_end) {
        uint64_t mnow = mono_ns();
        /* publisher: each idle publish connection takes the waiting channels not
         * published to in the last gap_ms (their poller may still be subscribing) */
        for (long i = 0; rate > 0 && i < nconns; i++) {
            struct conn *c = &pc[i];
            if (c->state != C_ACTIVE || c->waiting || mnow < next_pub)
                continue;
            next_pub = (next_pub ? next_pub : mnow) + 1000000000ull / (uint64_t)rate;
            build_publish(c, shared_chan, 1);
            c->waiting = 1;
            if (conn_flush(c) < 0)
                die("publish write failed");
        }
        for (long i = 0; rate == 0 && i < nconns; i++) {
            struct conn *c = &pc[i];
            if (c->state != C_ACTIVE || c->waiting)
                continue;
            int cnt = 0;
            for (long s = 0; s < n && cnt < batch; s++) {
                long j = (cursor + s) % n;
                struct conn *q = &cl[j];
                if (q->state == C_ACTIVE && q->waiting && q->r.phase == P_HEAD &&
                    mnow - q->last_pub >= (uint64_t)gap_ms * 1000000ull) {
                    sel[cnt++] = names[j];
                    q->last_pub = mnow;
                }
            }
            if (!cnt)
                break;
            cursor = (cursor + 1) % n;
            build_publish(c, sel, cnt);
            c->waiting = 1;
            if (conn_flush(c) < 0)
                die("publish write failed");
        }
        int k = epoll_wait(g_ep, evs, 1024, 1);
        uint64_t now = real_ns();
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            if (c->state == C_CONNECTING) {
                if (conn_connected(c) < 0)
                    die("connect failed");
                continue;
            }
            if (c->state != C_ACTIVE)
                continue;
            if ((evs[e].events & EPOLLOUT) && conn_flush(c) < 0)
                die("write failed");
            if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            if (c->role == 1) {
                int r = read_pub_response(c);
                if (r < 0 && !c->waiting) {
                    /* an idle publish connection timed out on the server: open another */
                    conn_close(c, 0);
                    if (conn_open(c, (int)pubport) < 0)
                        die("publish reconnect failed");
                    continue;
                }
                if (r < 0)
                    die("publish connection closed by server");
                if (r >= 1)
                    c->waiting = 0;
                if (r == 2) {
                    conn_close(c, 0);
                    if (conn_open(c, (int)pubport) < 0)
                        die("publish reconnect failed");
                }
                continue;
            }
            /* a long-poller */
            int reopen = 0;
            for (;;) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    reopen = 1;
                    break;
                }
                int hd = 0;
                ssize_t used = resp_feed(&c->r, buf, (size_t)r, now, &hd);
                if (used < 0) {
                    reopen = 1;
                    break;
                }
                if (c->r.phase == P_DONE) {
                    if (mono_ns() >= t_meas) {
                        if (c->r.status == 200 && c->r.markers > 0)
                            cycles++;
                        else
                            other++;
                    }
                    int close_it = c->r.close;
                    resp_reset(&c->r);
                    c->last_pub = 0;
                    if (close_it) {
                        reopen = 1;
                        break;
                    }
                    expand(pbuf, sizeof pbuf, path, c->idx);
                    send_get(c, pbuf);
                    if (conn_flush(c) < 0)
                        reopen = 1;
                    break;
                }
            }
            if (reopen) {
                conn_close(c, 0);
                reconnects++;
                if (conn_open(c, g_port) < 0)
                    die("reconnect failed");
                expand(pbuf, sizeof pbuf, path, c->idx);
                send_get(c, pbuf);
                c->waiting = 1;
            }
        }
    }
    double secs = (double)(mono_ns() - t_meas) / 1e9;
    printf("{\"cycles\":%ld,\"secs\":%.3f,\"cycles_per_s\":%.1f,\"other\":%ld,\"reconnects\":%ld,"
           "\"posts\":%ld,\"items\":%ld,\"errors\":%ld,\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64 "}\n",
           cycles, secs, secs > 0 ? (double)cycles / secs : 0.0, other, reconnects, g_pub_posts,
           g_pub_items, g_pub_errors, h_pct(g_hist, 0.5), h_pct(g_hist, 0.99));
    return 0;
}

/* ---------- mode: connrate ---------- */

static int mode_connrate(void)
{
    long conc = arg_int("conc", 50);
    double duration = (double)arg_int("duration", 10);
    long maxtime = arg_int("maxtime", 60);
    const char *path = arg_str("path", "/stream");
    if (conc < 1 || conc > 5000)
        die("conc must be 1..5000");
    struct conn *cs = calloc((size_t)conc, sizeof *cs);
    uint64_t t0 = mono_ns();
    uint64_t t_end = t0 + (uint64_t)(duration * 1e9);
    if (duration > (double)maxtime)
        t_end = t0 + (uint64_t)maxtime * 1000000000ull;
    long done = 0, fail = 0;
    static uint64_t lat[H_N];
    for (long i = 0; i < conc; i++) {
        cs[i].fd = -1;
        if (conn_open(&cs[i], g_port) < 0)
            fail++;
        else
            send_get(&cs[i], path);
    }
    struct epoll_event evs[1024];
    char buf[16384];
    while (mono_ns() < t_end) {
        int k = epoll_wait(g_ep, evs, 1024, 50);
        uint64_t now = real_ns();
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            int finished = 0, ok = 0;
            if (c->state == C_CONNECTING) {
                if (conn_connected(c) < 0)
                    finished = 1;
            } else if (c->state == C_ACTIVE) {
                if ((evs[e].events & EPOLLOUT) && conn_flush(c) < 0)
                    finished = 1;
                if (!finished && (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                    ssize_t r = read(c->fd, buf, sizeof buf);
                    if (r == 0 || (r < 0 && errno != EAGAIN)) {
                        finished = 1;
                    } else if (r > 0) {
                        int hd = 0;
                        if (resp_feed(&c->r, buf, (size_t)r, now, &hd) < 0 || c->r.phase == P_DONE)
                            finished = 1;
                        if (hd) {
                            finished = 1;
                            ok = c->r.status == 200;
                        }
                    }
                }
            }
            if (!finished)
                continue;
            if (ok) {
                done++;
                lat[h_index((mono_ns() - c->t_start) / 1000)]++;
            } else {
                fail++;
            }
            conn_close(c, 1);
            if (fail > 1000 && done == 0)
                die("server refuses every connection");
            if (conn_open(c, g_port) < 0) {
                fail++;
                c->state = C_DEAD;
                continue;
            }
            send_get(c, path);
        }
        /* slots whose socket() failed: retry */
        for (long i = 0; i < conc; i++)
            if (cs[i].state == C_DEAD || cs[i].fd < 0) {
                if (conn_open(&cs[i], g_port) == 0)
                    send_get(&cs[i], path);
            }
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    printf("{\"conns\":%ld,\"fail\":%ld,\"secs\":%.3f,\"conns_per_s\":%.1f,\"p50_us\":%" PRIu64
           ",\"p99_us\":%" PRIu64 "}\n",
           done, fail, secs, (double)done / secs, h_pct(lat, 0.5), h_pct(lat, 0.99));
    for (long i = 0; i < conc; i++)
        if (cs[i].fd >= 0)
            conn_close(&cs[i], 1);
    return 0;
}

int main(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    if (argc < 2)
        die("usage: loadc sub|pub|lp|connrate key=value...");
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    g_port = (int)arg_int("port", 7999);
    g_kind = arg_str("kind", "grip");
    g_fmt = arg_str("fmt", "stream");
    g_pubpath = arg_str("pubpath", strcmp(g_kind, "nchan") == 0 ? "/pub" : "/publish/");
    const char *mode = argv[1];
    if (strcmp(mode, "sub") == 0)
        return mode_sub();
    if (strcmp(mode, "pub") == 0) {
        g_pubpath = arg_str("path", g_pubpath);
        return mode_pub();
    }
    if (strcmp(mode, "lp") == 0) {
        g_fmt = "response";
        return mode_lp();
    }
    if (strcmp(mode, "connrate") == 0)
        return mode_connrate();
    die("unknown mode %s", mode);
    return 1;
}

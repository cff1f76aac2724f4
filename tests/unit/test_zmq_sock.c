/* Unit tests for zmq/sock: real libzmq peers over ipc:// talking to sockets driven by a
 * libuv loop. They show that bursts larger than the per-iteration budget are drained
 * (the ZMQ_FD edge is not lost), replies sent from inside a receive callback go out and
 * the socket keeps reading, the send queue holds messages at the high-water mark and
 * flushes them in order, oversize messages are dropped and counted, reading can be
 * paused, subscriptions reach an XPUB, and a socket may close itself in its callback. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include "tt_test.h"
#include "zmq/sock.h"

static void *peer_ctx;
static char endpoint[128];
static int endpoint_seq;

static const char *new_endpoint(void)
{
    snprintf(endpoint, sizeof(endpoint), "ipc:///tmp/tt-zmq-sock-%d-%d", (int)getpid(),
             endpoint_seq++);
    return endpoint;
}

static void *peer(int type, const char *ep, bool bind)
{
    void *s = zmq_socket(peer_ctx, type);
    int linger = 0, timeo = 2000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeo, sizeof(timeo));
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeo, sizeof(timeo));
    int r = bind ? zmq_bind(s, ep) : zmq_connect(s, ep);
    CHECK_INT(r, 0);
    return s;
}

/* Run the loop without blocking until cond() holds or ms pass. */
static bool pump(uv_loop_t *loop, bool (*cond)(void), int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (cond && cond())
            return true;
        usleep(1000);
    }
    return cond ? cond() : true;
}

/* ---- receive side ---- */

static int got;
static size_t got_parts;
static char last[64];

static void count_recv(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    (void)ctx;
    got++;
    got_parts = n;
    size_t l = TT_MIN(parts[n - 1].len, sizeof(last) - 1);
    memcpy(last, parts[n - 1].data, l);
    last[l] = '\0';
}

static int want;
static bool got_enough(void)
{
    return got >= want;
}

static void test_burst(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_zmq_sock_opts o = {.type = ZMQ_PULL, .maxmsgsize = -1, .rcvhwm = -1};
    struct tt_zmq_sock *s;
    CHECK_INT(tt_zmq_sock_new(&loop, &o, count_recv, NULL, &s), 0);
    const char *ep = new_endpoint();
    CHECK_INT(tt_zmq_sock_bind(s, ep), 0);
    CHECK_INT(tt_zmq_sock_start(s), 0);
    void *push = peer(ZMQ_PUSH, ep, false);
    got = 0;
    want = 3000;
    char buf[32];
    for (int i = 0; i < want; i++) {
        int n = snprintf(buf, sizeof(buf), "m%d", i);
        zmq_send(push, buf, (size_t)n, 0);
    }
    CHECK(pump(&loop, got_enough, 5000));
    CHECK_INT(got, 3000);
    CHECK_STR(last, "m2999");
    CHECK_INT(tt_zmq_sock_stats(s)->received, 3000);
    /* Still reading after the burst. */
    zmq_send(push, "again", 5, 0);
    want = 3001;
    CHECK(pump(&loop, got_enough, 2000));
    CHECK_STR(last, "again");
    zmq_close(push);
    tt_zmq_sock_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

/* ---- replies from the callback (a ROUTER serving REQ clients) ---- */

static void echo_recv(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)ctx;
    got++;
    struct tt_zmq_part out[8];
    size_t k = TT_MIN(n, 7);
    memcpy(out, parts, k * sizeof(*out));
    out[k - 1].data = "pong";
    out[k - 1].len = 4;
    CHECK_INT(tt_zmq_sock_send(s, out, k), 0);
}

static void test_reply_in_callback(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_zmq_sock_opts o = {.type = ZMQ_ROUTER, .maxmsgsize = -1};
    struct tt_zmq_sock *s;
    CHECK_INT(tt_zmq_sock_new(&loop, &o, echo_recv, NULL, &s), 0);
    const char *ep = new_endpoint();
    CHECK_INT(tt_zmq_sock_bind(s, ep), 0);
    CHECK_INT(tt_zmq_sock_start(s), 0);
    void *req = peer(ZMQ_REQ, ep, false);
    got = 0;
    int answered = 0;
    for (int i = 0; i < 50; i++) {
        zmq_send(req, "ping", 4, 0);
        char buf[16];
        int n = -1;
        for (int t = 0; t < 2000 && n < 0; t++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            n = zmq_recv(req, buf, sizeof(buf), ZMQ_DONTWAIT);
            if (n < 0)
                usleep(1000);
        }
        if (n == 4 && memcmp(buf, "pong", 4) == 0)
            answered++;
    }
    CHECK_INT(answered, 50);
    CHECK_INT(tt_zmq_sock_stats(s)->sent, 50);
    zmq_close(req);
    tt_zmq_sock_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* ---- send queue at the high-water mark ---- */

static void test_send_queue(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_zmq_sock_opts o = {.type = ZMQ_DEALER, .sndhwm = 2, .maxmsgsize = -1, .queue_max = 5};
    struct tt_zmq_sock *s;
    CHECK_INT(tt_zmq_sock_new(&loop, &o, NULL, NULL, &s), 0);
    const char *ep = new_endpoint();
    /* Nobody listens yet: libzmq takes sndhwm messages, our queue five, the rest drop. */
    CHECK_INT(tt_zmq_sock_connect(s, ep), 0);
    CHECK_INT(tt_zmq_sock_start(s), 0);
    int dropped = 0;
    for (int i = 0; i < 10; i++) {
        char buf[8];
        int n = snprintf(buf, sizeof(buf), "q%d", i);
        struct tt_zmq_part p[2] = {{"", 0}, {buf, (size_t)n}};
        int r = tt_zmq_sock_send(s, p, 2);
        if (r == TT_ETOOBIG)
            dropped++;
        else
            CHECK_INT(r, 0);
    }
    CHECK_INT(dropped, 3);
    CHECK_INT(tt_zmq_sock_queued(s), 5);
    CHECK_INT(tt_zmq_sock_stats(s)->send_dropped, 3);
    /* A peer appears: everything that was accepted arrives, in order. */
    void *router = peer(ZMQ_ROUTER, ep, true);
    char expect[7][8] = {"q0", "q1", "q2", "q3", "q4", "q5", "q6"};
    for (int i = 0; i < 7; i++) {
        char id[256], empty[8], body[16];
        int n = -1;
        for (int t = 0; t < 3000 && n < 0; t++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            n = zmq_recv(router, id, sizeof(id), ZMQ_DONTWAIT);
            if (n < 0)
                usleep(1000);
        }
        CHECK(n > 0);
        CHECK_INT(zmq_recv(router, empty, sizeof(empty), 0), 0);
        n = zmq_recv(router, body, sizeof(body) - 1, 0);
        CHECK(n == 2 && memcmp(body, expect[i], 2) == 0);
    }
    CHECK_INT(tt_zmq_sock_queued(s), 0);
    CHECK_INT(tt_zmq_sock_stats(s)->sent, 7);
    zmq_close(router);
    tt_zmq_sock_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* ---- too many parts, pausing, closing in the callback ---- */

static struct tt_zmq_sock *closer;

static void close_recv(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    count_recv(s, parts, n, ctx);
    if (n >= 2 && parts[n - 1].len == 5 && memcmp(parts[n - 1].data, "close", 5) == 0) {
        tt_zmq_sock_close(s);
        closer = NULL;
    }
}

static void test_parts_pause_close(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_zmq_sock_opts o = {.type = ZMQ_ROUTER, .maxmsgsize = -1, .max_parts = 3};
    CHECK_INT(tt_zmq_sock_new(&loop, &o, close_recv, NULL, &closer), 0);
    const char *ep = new_endpoint();
    CHECK_INT(tt_zmq_sock_bind(closer, ep), 0);
    CHECK_INT(tt_zmq_sock_start(closer), 0);
    void *dealer = peer(ZMQ_DEALER, ep, false);
    got = 0;
    /* [identity, a, b, c] is four parts at the ROUTER: dropped and counted. */
    zmq_send(dealer, "a", 1, ZMQ_SNDMORE);
    zmq_send(dealer, "b", 1, ZMQ_SNDMORE);
    zmq_send(dealer, "c", 1, 0);
    zmq_send(dealer, "", 0, ZMQ_SNDMORE);
    zmq_send(dealer, "ok", 2, 0);
    want = 1;
    CHECK(pump(&loop, got_enough, 2000));
    CHECK_INT(got, 1);
    CHECK_INT(got_parts, 3);
    CHECK_STR(last, "ok");
    CHECK_INT(tt_zmq_sock_stats(closer)->recv_dropped, 1);

    /* Paused: nothing is delivered; resumed: it arrives. */
    tt_zmq_sock_set_reading(closer, false);
    zmq_send(dealer, "later", 5, 0);
    pump(&loop, NULL, 100);
    CHECK_INT(got, 1);
    tt_zmq_sock_set_reading(closer, true);
    want = 2;
    CHECK(pump(&loop, got_enough, 2000));
    CHECK_STR(last, "later");

    /* The callback closes the socket; the loop then ends with nothing left open. */
    zmq_send(dealer, "", 0, ZMQ_SNDMORE);
    zmq_send(dealer, "close", 5, 0);
    zmq_send(dealer, "never", 5, 0);
    want = 3;
    CHECK(pump(&loop, got_enough, 2000));
    CHECK(closer == NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(got, 3);
    zmq_close(dealer);
    CHECK_INT(uv_loop_close(&loop), 0);
}

/* ---- subscriptions seen by an XPUB ---- */

static void test_subscribe(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_zmq_sock_opts o = {.type = ZMQ_SUB, .maxmsgsize = -1, .sndhwm = -1};
    struct tt_zmq_sock *s;
    CHECK_INT(tt_zmq_sock_new(&loop, &o, count_recv, NULL, &s), 0);
    const char *ep = new_endpoint();
    CHECK_INT(tt_zmq_sock_bind(s, ep), 0);
    CHECK_INT(tt_zmq_sock_start(s), 0);
    void *xpub = peer(ZMQ_XPUB, ep, false);
    pump(&loop, NULL, 50);
    CHECK_INT(tt_zmq_sock_subscribe(s, "chan", 4, true), 0);
    char buf[32];
    int n = -1;
    for (int t = 0; t < 2000 && n < 0; t++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        n = zmq_recv(xpub, buf, sizeof(buf), ZMQ_DONTWAIT);
        if (n < 0)
            usleep(1000);
    }
    CHECK(n == 5 && buf[0] == 1 && memcmp(buf + 1, "chan", 4) == 0);
    /* A published message on the topic reaches the callback. */
    got = 0;
    zmq_send(xpub, "chan", 4, ZMQ_SNDMORE);
    zmq_send(xpub, "item", 4, 0);
    want = 1;
    CHECK(pump(&loop, got_enough, 2000));
    CHECK(got_parts == 2);
    CHECK_STR(last, "item");
    CHECK_INT(tt_zmq_sock_subscribe(s, "chan", 4, false), 0);
    n = -1;
    for (int t = 0; t < 2000 && n < 0; t++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        n = zmq_recv(xpub, buf, sizeof(buf), ZMQ_DONTWAIT);
        if (n < 0)
            usleep(1000);
    }
    CHECK(n == 5 && buf[0] == 0 && memcmp(buf + 1, "chan", 4) == 0);
    zmq_close(xpub);
    tt_zmq_sock_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void test_errors(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_zmq_sock *s;
    struct tt_zmq_sock_opts bad = {.type = 12345, .maxmsgsize = -1};
    CHECK_INT(tt_zmq_sock_new(&loop, &bad, NULL, NULL, &s), -EINVAL);
    struct tt_zmq_sock_opts o = {.type = ZMQ_PULL, .maxmsgsize = -1};
    CHECK_INT(tt_zmq_sock_new(&loop, &o, count_recv, NULL, &s), 0);
    CHECK_INT(tt_zmq_sock_bind(s, "nope://x"), -EPROTONOSUPPORT);
    CHECK_INT(tt_zmq_sock_bind(s, "tcp://127.0.0.1:notaport"), -EINVAL);
    CHECK_INT(tt_zmq_sock_bind(s, "ipc:///nonexistent-dir-tt/x"), -ENOENT);
    const char *ep = new_endpoint();
    CHECK_INT(tt_zmq_sock_bind(s, ep), 0);
    struct tt_zmq_sock *s2;
    CHECK_INT(tt_zmq_sock_new(&loop, &o, count_recv, NULL, &s2), 0);
    CHECK_INT(tt_zmq_sock_bind(s2, "tcp://127.0.0.1:0"), 0);
    /* Closing sockets that never started frees them at once. */
    tt_zmq_sock_close(s2);
    tt_zmq_sock_close(s);
    tt_zmq_sock_close(NULL);
    CHECK_INT(uv_loop_close(&loop), 0);
}

static void setup(void)
{
    peer_ctx = zmq_ctx_new();
}

static void teardown(void)
{
    zmq_ctx_term(peer_ctx);
}

TT_TEST_MAIN(setup, test_burst, test_reply_in_callback, test_send_queue, test_parts_pause_close,
             test_subscribe, test_errors, teardown)

/* Unit tests for a connection's output queue (net/conn.c) over a real socketpair: one
 * queued slice stays inline (no ring on the heap), more move to a ring that is freed
 * once drained, bytes leave in order whatever the mix of copied, owned and shared
 * slices, a socket that fills up keeps the rest queued, shared blocks are released, and
 * a queue moves whole to another connection. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "tt_test.h"

struct block {
    struct tt_shared sh;
    char text[32];
    int released;
};

static void on_release(struct tt_shared *s)
{
    TT_CONTAINER_OF(s, struct block, sh)->released++;
}

static void noop_io(struct tt_conn *c, int status, int events)
{
    (void)c, (void)status, (void)events;
}

struct pair {
    uv_loop_t loop;
    struct tt_poller poller;
    struct tt_conn c;
    int peer;
};

static void pair_open(struct pair *p, int sndbuf)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    if (sndbuf)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    uv_loop_init(&p->loop);
    CHECK_INT(tt_poller_init(&p->poller, &p->loop), 0);
    tt_conn_init(&p->poller, &p->c, sv[0], noop_io);
    p->peer = sv[1];
}

static void closed(struct tt_conn *c)
{
    (void)c;
}

static void pair_close(struct pair *p)
{
    tt_conn_close(&p->c, closed);
    tt_poller_close(&p->poller);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&p->loop), 0);
    close(p->peer);
}

static size_t drain_peer(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
        got += (size_t)n;
    return got;
}

static void test_one_slice_stays_inline(void)
{
    struct pair p;
    pair_open(&p, 0);
    struct block b = {.sh = {1, on_release}, .text = "data: hello\n\n"};
    tt_conn_write_shared(&p.c, &b.sh, b.text, strlen(b.text));
    CHECK(p.c.out == NULL); /* in the inline slot */
    CHECK_INT(p.c.out_count, 1);
    CHECK_INT(b.sh.refs, 2);
    CHECK_INT(tt_conn_flush(&p.c), 0);
    CHECK_INT(p.c.out_count, 0);
    CHECK(p.c.out == NULL);
    CHECK_INT(b.sh.refs, 1); /* the queue's reference was dropped */
    char buf[64];
    size_t n = drain_peer(p.peer, buf, sizeof(buf));
    CHECK_INT(n, strlen(b.text));
    CHECK(memcmp(buf, b.text, n) == 0);
    pair_close(&p);
}

static void test_ring_grows_and_is_freed_when_drained(void)
{
    struct pair p;
    pair_open(&p, 0);
    char want[256];
    size_t wlen = 0;
    for (int i = 0; i < 20; i++) {
        char s[16];
        int k = snprintf(s, sizeof(s), "[%d]", i);
        if (i % 2) {
            tt_conn_write(&p.c, s, (size_t)k);
        } else {
            char *d = strdup(s);
            tt_conn_write_owned(&p.c, d, d, (size_t)k);
        }
        memcpy(want + wlen, s, (size_t)k);
        wlen += (size_t)k;
    }
    CHECK(p.c.out != NULL);
    CHECK(p.c.out_alloc >= 20);
    CHECK_INT(p.c.out_bytes, wlen);
    CHECK_INT(tt_conn_flush(&p.c), 0);
    CHECK(p.c.out == NULL);
    CHECK_INT(p.c.out_alloc, 0);
    char buf[256];
    size_t n = drain_peer(p.peer, buf, sizeof(buf));
    CHECK_INT(n, wlen);
    CHECK(memcmp(buf, want, wlen) == 0);
    pair_close(&p);
}

static void test_full_socket_keeps_rest_in_order(void)
{
    struct pair p;
    pair_open(&p, 4096);
    enum { CHUNK = 1000, COUNT = 600 };
    static char all[CHUNK * COUNT];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (char)('a' + (i * 7 + i / CHUNK) % 26);
    for (int i = 0; i < COUNT; i++)
        tt_conn_write(&p.c, all + (size_t)i * CHUNK, CHUNK);
    static char got[CHUNK * COUNT];
    size_t have = 0;
    int rounds = 0;
    int r;
    while ((r = tt_conn_flush(&p.c)) == TT_EAGAIN && rounds++ < 100000) {
        CHECK(p.c.out_count > 0);
        have += drain_peer(p.peer, got + have, sizeof(got) - have);
    }
    CHECK_INT(r, 0);
    have += drain_peer(p.peer, got + have, sizeof(got) - have);
    CHECK_INT(have, sizeof(all));
    CHECK(memcmp(got, all, sizeof(all)) == 0);
    CHECK(p.c.out == NULL);
    pair_close(&p);
}

static void test_partial_consume_and_move(void)
{
    struct pair p;
    pair_open(&p, 0);
    struct block b = {.sh = {1, on_release}, .text = "0123456789"};
    tt_conn_write_shared(&p.c, &b.sh, b.text, 10);
    tt_conn_consume(&p.c, 4);
    CHECK_INT(p.c.out_count, 1);
    CHECK_INT(p.c.out_bytes, 6);
    CHECK(tt_conn_out_at(&p.c, 0)->data == b.text + 4);
    tt_conn_write(&p.c, "ab", 2);
    struct tt_conn q;
    memset(&q, 0, sizeof(q));
    tt_conn_move_output(&q, &p.c);
    CHECK_INT(p.c.out_count, 0);
    CHECK(p.c.out == NULL);
    CHECK_INT(q.out_count, 2);
    CHECK_INT(q.out_bytes, 8);
    CHECK(memcmp(tt_conn_out_at(&q, 0)->data, "456789", 6) == 0);
    CHECK(memcmp(tt_conn_out_at(&q, 1)->data, "ab", 2) == 0);
    /* one slice moved inline */
    tt_conn_consume(&q, 6);
    CHECK_INT(q.out_count, 1);
    CHECK_INT(b.sh.refs, 1);
    struct tt_conn r;
    memset(&r, 0, sizeof(r));
    tt_conn_move_output(&r, &q);
    CHECK(memcmp(tt_conn_out_at(&r, 0)->data, "ab", 2) == 0);
    tt_conn_free_output(&r);
    CHECK_INT(r.out_count, 0);
    CHECK(r.out == NULL);
    tt_conn_write_shared(&p.c, &b.sh, b.text, 10);
    tt_conn_discard_output(&p.c);
    CHECK_INT(b.sh.refs, 1);
    CHECK_INT(b.released, 0);
    pair_close(&p);
}

TT_TEST_MAIN(test_one_slice_stays_inline, test_ring_grows_and_is_freed_when_drained,
             test_full_socket_keeps_rest_in_order, test_partial_consume_and_move)

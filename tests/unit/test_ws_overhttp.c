/* test_ws_overhttp.c: the WebSocket-over-HTTP client logic (ws/overhttp.h): batching with
 * the content and event caps, CLOSE placement, Content-Bytes-Accepted / -Replayed (the
 * cases of Pushpin's own websocketoverhttptest.cpp and the errors), the fixed request
 * head, meta with its caps, and the reading of response headers. */
#include "ws/overhttp.h"
#include "tt_test.h"

#include <stdlib.h>

#include "ws/frame.h"

#define S(lit) lit, sizeof(lit) - 1

static bool body_is(const struct tt_buf *b, const char *want, size_t len)
{
    if (b->len != len || memcmp(b->data ? b->data : "", want, len) != 0) {
        fprintf(stderr, "body: [%.*s]\n", (int)b->len, b->data ? b->data : "");
        return false;
    }
    return true;
}

static size_t build(struct tt_woh_out *q, size_t max_events, const struct tt_woh_close *c,
                    struct tt_buf *b)
{
    tt_buf_reset(b);
    return tt_woh_out_build(q, max_events, c, b);
}

static void test_batch_and_ack_all(void)
{
    struct tt_woh_out q;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_woh_out_init(&q);
    CHECK(!tt_woh_out_has_new(&q));
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("hello"));
    tt_woh_out_push(&q, TT_WS_OP_BINARY, S("\x00\x01"));
    tt_woh_out_push(&q, TT_WS_OP_PING, NULL, 0);
    tt_woh_out_push(&q, TT_WS_OP_PONG, S("p"));
    tt_woh_out_push(&q, TT_WS_OP_TEXT, NULL, 0);
    CHECK_INT(q.count, 5);
    CHECK_INT(q.content, 8);
    CHECK(tt_woh_out_has_new(&q));
    CHECK_INT(build(&q, 0, NULL, &b), 5);
    /* Empty pings and pongs go without content, as Pushpin writes them; data always with. */
    CHECK(body_is(&b, S("TEXT 5\r\nhello\r\nBINARY 2\r\n\x00\x01\r\nPING\r\nPONG 1\r\np\r\n"
                        "TEXT 0\r\n\r\n")));
    CHECK(!q.req_maxed && !q.req_close);
    bool closed;
    const char *why = NULL;
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK(!closed);
    CHECK_INT(q.count, 0);
    CHECK_INT(q.content, 0);
    CHECK(q.head == NULL && q.tail == NULL);
    CHECK_INT(q.replay_content, 0);
    CHECK(!tt_woh_out_has_new(&q));
    /* An explicit Content-Bytes-Accepted equal to the content is the same. */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("abc"));
    build(&q, 0, NULL, &b);
    CHECK_INT(tt_woh_out_ack(&q, 3, &closed, &why), 0);
    CHECK_INT(q.count, 0);
    tt_woh_out_clear(&q);
    tt_buf_deinit(&b);
}

static void test_content_cap_and_one_event(void)
{
    struct tt_woh_out q;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_woh_out_init(&q);
    char *big = calloc(1, TT_WOH_MAX_CONTENT);
    tt_woh_out_push(&q, TT_WS_OP_BINARY, big, 120000);
    tt_woh_out_push(&q, TT_WS_OP_BINARY, big, 80000);
    tt_woh_out_push(&q, TT_WS_OP_BINARY, big, 1);
    /* 120000 + 80000 = the cap exactly: the third waits. */
    CHECK_INT(build(&q, 0, NULL, &b), 2);
    CHECK_INT(q.req_content, TT_WOH_MAX_CONTENT);
    CHECK(q.req_maxed);
    bool closed;
    const char *why;
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK_INT(q.count, 1);
    CHECK_INT(build(&q, 0, NULL, &b), 1);
    CHECK(!q.req_maxed);
    tt_woh_out_clear(&q);
    /* A single message of the cap goes alone. */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, big, TT_WOH_MAX_CONTENT);
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("x"));
    CHECK_INT(build(&q, 0, NULL, &b), 1);
    CHECK(q.req_maxed);
    tt_woh_out_clear(&q);
    /* one_event: one message per request, and CLOSE only in a request of its own. */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("a"));
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("b"));
    struct tt_woh_close c = {1000, (const uint8_t *)"bye", 3};
    CHECK_INT(build(&q, 1, &c, &b), 1);
    CHECK(body_is(&b, S("TEXT 1\r\na\r\n")));
    CHECK(q.req_maxed && !q.req_close);
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK_INT(build(&q, 1, &c, &b), 1);
    CHECK(body_is(&b, S("TEXT 1\r\nb\r\n")));
    CHECK(!q.req_close);
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK(!closed);
    CHECK_INT(build(&q, 1, &c, &b), 1);
    CHECK(body_is(&b, S("CLOSE 5\r\n\x03\xe8"
                        "bye\r\n")));
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK(closed);
    free(big);
    tt_woh_out_clear(&q);
    tt_buf_deinit(&b);
}

static void test_close(void)
{
    struct tt_woh_out q;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_woh_out_init(&q);
    bool closed;
    const char *why;
    /* CLOSE without a code, alone. */
    struct tt_woh_close none = {-1, NULL, 0};
    CHECK_INT(build(&q, 0, &none, &b), 1);
    CHECK(body_is(&b, S("CLOSE\r\n")));
    CHECK_INT(q.req_close_len, 0);
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK(closed);
    /* After messages; the code counts as content for Content-Bytes-Accepted. */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("last"));
    struct tt_woh_close c = {4000, (const uint8_t *)"x", 1};
    CHECK_INT(build(&q, 0, &c, &b), 2);
    CHECK(body_is(&b, S("TEXT 4\r\nlast\r\nCLOSE 3\r\n\x0f\xa0x\r\n")));
    CHECK_INT(q.req_close_len, 3);
    /* Accepting more than the messages and the close is an error. */
    CHECK_INT(tt_woh_out_ack(&q, 8, &closed, &why), TT_EPARSE);
    CHECK(why != NULL);
    tt_woh_out_clear(&q);
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("last"));
    build(&q, 0, &c, &b);
    /* The messages but not the close: an error (no more data will come). */
    CHECK_INT(tt_woh_out_ack(&q, 4, &closed, &why), TT_EPARSE);
    tt_woh_out_clear(&q);
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("last"));
    build(&q, 0, &c, &b);
    /* Part of the messages: the close waits for a later request, no error. */
    CHECK_INT(tt_woh_out_ack(&q, 2, &closed, &why), 0);
    CHECK(!closed);
    CHECK_INT(q.content, 2);
    CHECK_INT(q.replay_content, 2);
    CHECK_INT(build(&q, 0, &c, &b), 2);
    CHECK(body_is(&b, S("TEXT 2\r\nst\r\nCLOSE 3\r\n\x0f\xa0x\r\n")));
    CHECK_INT(tt_woh_out_ack(&q, 5, &closed, &why), 0);
    CHECK(closed);
    CHECK_INT(q.count, 0);
    CHECK_INT(q.replay_content, 0);
    /* A CLOSE is never put behind messages that did not fit. */
    char *big = calloc(1, TT_WOH_MAX_CONTENT);
    tt_woh_out_push(&q, TT_WS_OP_BINARY, big, TT_WOH_MAX_CONTENT);
    tt_woh_out_push(&q, TT_WS_OP_BINARY, big, 1);
    CHECK_INT(build(&q, 0, &c, &b), 1);
    CHECK(!q.req_close);
    free(big);
    tt_woh_out_clear(&q);
    tt_buf_deinit(&b);
}

/* Pushpin's replay test: "[foo][hello" with 5 accepted, then " world]" queued. */
static void test_accepted_and_replayed(void)
{
    struct tt_woh_out q;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_woh_out_init(&q);
    bool closed;
    const char *why;
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("[foo][hello"));
    build(&q, 0, NULL, &b);
    CHECK(body_is(&b, S("TEXT b\r\n[foo][hello\r\n")));
    CHECK_INT(tt_woh_out_ack(&q, 5, &closed, &why), 0);
    CHECK_INT(q.count, 1);
    CHECK_INT(q.content, 6);
    CHECK_INT(q.replay_msgs, 1);
    CHECK_INT(q.replay_content, 6);
    /* Nothing new: Pushpin does not send the kept-back data again on its own. */
    CHECK(!tt_woh_out_has_new(&q));
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S(" world]"));
    CHECK(tt_woh_out_has_new(&q));
    build(&q, 0, NULL, &b);
    CHECK(body_is(&b, S("TEXT 6\r\n[hello\r\nTEXT 7\r\n world]\r\n")));
    CHECK_INT(q.replay_content, 6); /* Content-Bytes-Replayed of this request */
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK_INT(q.count, 0);
    CHECK_INT(q.content, 0);
    CHECK_INT(q.replay_content, 0);
    /* Accepting nothing of a request that held everything is fine (wait for more). */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("abc"));
    build(&q, 0, NULL, &b);
    CHECK_INT(tt_woh_out_ack(&q, 0, &closed, &why), 0);
    CHECK_INT(q.replay_content, 3);
    CHECK_INT(q.replay_msgs, 1);
    /* ... but not of one that could not carry everything: no progress is possible. */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("def"));
    build(&q, 1, NULL, &b);
    CHECK(q.req_maxed);
    CHECK_INT(tt_woh_out_ack(&q, 0, &closed, &why), TT_EPARSE);
    tt_woh_out_clear(&q);
    /* A partial acceptance spanning messages. */
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("ab"));
    tt_woh_out_push(&q, TT_WS_OP_BINARY, S("cdef"));
    build(&q, 0, NULL, &b);
    CHECK_INT(tt_woh_out_ack(&q, 3, &closed, &why), 0);
    CHECK_INT(q.count, 1);
    CHECK_INT(q.replay_msgs, 1);
    CHECK_INT(q.replay_content, 3);
    build(&q, 0, NULL, &b);
    CHECK(body_is(&b, S("BINARY 3\r\ndef\r\n")));
    tt_woh_out_clear(&q);
    tt_buf_deinit(&b);
}

/* Messages queued while a request is in flight are not touched by its answer, even empty
 * ones (which Pushpin would drop without sending). */
static void test_ack_spares_later_messages(void)
{
    struct tt_woh_out q;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_woh_out_init(&q);
    bool closed;
    const char *why;
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("abc"));
    build(&q, 0, NULL, &b);
    tt_woh_out_push(&q, TT_WS_OP_PING, NULL, 0);
    tt_woh_out_push(&q, TT_WS_OP_TEXT, S("later"));
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK_INT(q.count, 2);
    CHECK_INT(q.content, 5);
    CHECK_INT(q.replay_msgs, 0);
    CHECK(tt_woh_out_has_new(&q));
    build(&q, 0, NULL, &b);
    CHECK(body_is(&b, S("PING\r\nTEXT 5\r\nlater\r\n")));
    /* A retry after the backend may have seen the request: all of it is replayed. */
    tt_woh_out_replayed(&q);
    CHECK_INT(q.replay_content, 5);
    CHECK_INT(q.replay_msgs, 2);
    CHECK_INT(tt_woh_out_ack(&q, -1, &closed, &why), 0);
    CHECK_INT(q.count, 0);
    CHECK_INT(q.replay_content, 0);
    tt_woh_out_clear(&q);
    tt_buf_deinit(&b);
}

static void test_base_head(void)
{
    static const char head[] = "POST /ws?x=1 HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "accept: text/html\r\n"
                               "Accept-Language: en\r\n"
                               "Connection-Id: forged\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 12\r\n"
                               "Content-Bytes-Replayed: 3\r\n"
                               "Upgrade: websocket\r\n"
                               "META-User: mallory\r\n"
                               "Metadata: kept\r\n"
                               "Grip-Sig: old\r\n"
                               "Grip-Feature: status\r\n"
                               "Sec-WebSocket-Key: k\r\n";
    struct tt_buf out;
    tt_buf_init(&out, 0);
    tt_woh_base_head(head, sizeof(head) - 1, true, "0f0e0d0c-0b0a-4908-8706-050403020100", true,
                     &out);
    static const char want[] = "POST /ws?x=1 HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "Accept-Language: en\r\n"
                               "Metadata: kept\r\n"
                               "Grip-Feature: status\r\n"
                               "Sec-WebSocket-Key: k\r\n"
                               "Accept: application/websocket-events\r\n"
                               "Connection-Id: 0f0e0d0c-0b0a-4908-8706-050403020100\r\n"
                               "Content-Type: application/websocket-events\r\n"
                               "Sec-WebSocket-Extensions: grip\r\n";
    CHECK(body_is(&out, want, sizeof(want) - 1));
    /* Without signing and grip: the client's trusted Grip-Sig stays, no extension. */
    tt_buf_reset(&out);
    tt_woh_base_head(head, sizeof(head) - 1, false, "c", false, &out);
    CHECK(strstr(out.data, "Grip-Sig: old\r\n") != NULL);
    CHECK(strstr(out.data, "Sec-WebSocket-Extensions") == NULL);
    /* The whole head. */
    struct tt_buf meta, full;
    tt_buf_init(&meta, 0);
    tt_buf_init(&full, 0);
    CHECK_INT(tt_woh_meta_set(&meta, S("User"), S("alice")), 0);
    tt_woh_request_head(S("POST / HTTP/1.1\r\nHost: h\r\n"), S("Grip-Sig: new\r\n"), 12, 5, &meta,
                        &full);
    static const char want2[] = "POST / HTTP/1.1\r\nHost: h\r\nGrip-Sig: new\r\n"
                                "Content-Length: 12\r\nContent-Bytes-Replayed: 5\r\n"
                                "Meta-User: alice\r\n\r\n";
    CHECK(body_is(&full, want2, sizeof(want2) - 1));
    tt_buf_reset(&full);
    tt_woh_request_head(S("POST / HTTP/1.1\r\n"), NULL, 0, 0, 0, NULL, &full);
    CHECK(body_is(&full, S("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")));
    tt_buf_deinit(&meta);
    tt_buf_deinit(&full);
    tt_buf_deinit(&out);
}

static void test_meta(void)
{
    struct tt_buf m;
    tt_buf_init(&m, 0);
    CHECK_INT(tt_woh_meta_set(&m, S("User"), S("alice")), 0);
    CHECK_INT(tt_woh_meta_set(&m, S("Room"), S(" r1 ")), 0);
    CHECK(body_is(&m, S("Meta-User: alice\r\nMeta-Room: r1\r\n")));
    /* The same name in another case replaces; an empty value deletes. */
    CHECK_INT(tt_woh_meta_set(&m, S("user"), S("bob")), 0);
    CHECK(body_is(&m, S("Meta-Room: r1\r\nMeta-user: bob\r\n")));
    CHECK_INT(tt_woh_meta_set(&m, S("ROOM"), S("")), 0);
    CHECK(body_is(&m, S("Meta-user: bob\r\n")));
    CHECK_INT(tt_woh_meta_set(&m, S("Nothing"), S("")), 0);
    CHECK_INT(tt_woh_meta_set(&m, S("User"), S("")), 0);
    CHECK(m.len == 0 && m.data == NULL); /* nothing kept once nothing is set */
    /* Names must be tokens, values without control bytes. */
    CHECK_INT(tt_woh_meta_set(&m, S(""), S("x")), TT_EPARSE);
    CHECK_INT(tt_woh_meta_set(&m, S("a b"), S("x")), TT_EPARSE);
    CHECK_INT(tt_woh_meta_set(&m, S("a"), S("x\r\nEvil: 1")), TT_EPARSE);
    CHECK_INT(tt_woh_meta_set(&m, S("a"), S("x\x01")), TT_EPARSE);
    CHECK_INT(m.len, 0);
    /* The item cap at N and N+1; replacing an item at the cap is fine. */
    char name[16];
    for (int i = 0; i < TT_WOH_META_MAX_ITEMS; i++) {
        int n = snprintf(name, sizeof(name), "k%d", i);
        CHECK_INT(tt_woh_meta_set(&m, name, (size_t)n, S("v")), 0);
    }
    CHECK_INT(tt_woh_meta_set(&m, S("one-more"), S("v")), TT_ETOOBIG);
    CHECK_INT(tt_woh_meta_set(&m, S("k0"), S("changed")), 0);
    CHECK_INT(tt_woh_meta_set(&m, S("k1"), S("")), 0);
    CHECK_INT(tt_woh_meta_set(&m, S("one-more"), S("v")), 0);
    tt_buf_deinit(&m);
    /* The byte cap: a value that would pass it is refused, the rest kept. */
    char *v = malloc(TT_WOH_META_MAX_BYTES);
    memset(v, 'x', TT_WOH_META_MAX_BYTES);
    size_t fit = TT_WOH_META_MAX_BYTES - strlen("Meta-A: \r\n");
    CHECK_INT(tt_woh_meta_set(&m, S("A"), v, fit), 0);
    CHECK_INT(m.len, TT_WOH_META_MAX_BYTES);
    CHECK_INT(tt_woh_meta_set(&m, S("B"), S("y")), TT_ETOOBIG);
    CHECK_INT(tt_woh_meta_set(&m, S("A"), v, fit + 1), TT_ETOOBIG);
    CHECK_INT(m.len, TT_WOH_META_MAX_BYTES);
    CHECK_INT(tt_woh_meta_set(&m, S("A"), S("short")), 0);
    CHECK_INT(tt_woh_meta_set(&m, S("B"), S("y")), 0);
    free(v);
    tt_buf_deinit(&m);
}

static void test_response_headers(void)
{
    CHECK(tt_woh_is_events_type(S("application/websocket-events")));
    CHECK(!tt_woh_is_events_type(S("application/websocket-events; charset=utf-8")));
    CHECK(!tt_woh_is_events_type(S("Application/WebSocket-Events")));
    CHECK(!tt_woh_is_events_type(S("")));
    CHECK_INT(tt_woh_keepalive_interval(S("30")), 30);
    CHECK_INT(tt_woh_keepalive_interval(S(" 25 ")), 25);
    CHECK_INT(tt_woh_keepalive_interval(S("1")), TT_WOH_MIN_KEEPALIVE);
    CHECK_INT(tt_woh_keepalive_interval(S("20")), 20);
    CHECK_INT(tt_woh_keepalive_interval(S("0")), -1);
    CHECK_INT(tt_woh_keepalive_interval(S("-5")), -1);
    CHECK_INT(tt_woh_keepalive_interval(S("abc")), -1);
    CHECK_INT(tt_woh_keepalive_interval(S("")), -1);
    CHECK_INT(tt_woh_keepalive_interval(S("9999999")), TT_WOH_MAX_KEEPALIVE);
    CHECK_INT(tt_woh_keepalive_interval(S("99999999999999999999")), -1);
    CHECK_INT(tt_woh_accepted(S("0")), 0);
    CHECK_INT(tt_woh_accepted(S("200000")), 200000);
    CHECK_INT(tt_woh_accepted(S("-1")), -1);
    CHECK_INT(tt_woh_accepted(S("x")), -1);
    CHECK(tt_woh_forward_header(S("X-Custom")));
    CHECK(tt_woh_forward_header(S("Sec-WebSocket-Protocol")));
    CHECK(tt_woh_forward_header(S("Set-Cookie")));
    CHECK(!tt_woh_forward_header(S("content-type")));
    CHECK(!tt_woh_forward_header(S("Content-Length")));
    CHECK(!tt_woh_forward_header(S("Keep-Alive-Interval")));
    CHECK(!tt_woh_forward_header(S("Set-Meta-User")));
    CHECK(!tt_woh_forward_header(S("Content-Bytes-Accepted")));
    CHECK(!tt_woh_forward_header(S("Sec-WebSocket-Extensions")));
    CHECK(!tt_woh_forward_header(S("Sec-WebSocket-Accept")));
    CHECK(!tt_woh_forward_header(S("Connection")));
    CHECK(!tt_woh_forward_header(S("Transfer-Encoding")));
    CHECK(!tt_woh_forward_header(S("Upgrade")));
}

TT_TEST_MAIN(test_batch_and_ack_all, test_content_cap_and_one_event, test_close,
             test_accepted_and_replayed, test_ack_spares_later_messages, test_base_head, test_meta,
             test_response_headers)

/* Unit tests for the in-memory response (resp.c), auto cross-origin (cors.c), the test
 * handler (testhandler.c) and the shared message rendering (msg.c). */
#include <stdlib.h>

#include "proxy/cors.h"
#include "http/h1.h"
#include "http/resp.h"
#include "proxy/testhandler.h"
#include "pubsub/msg.h"
#include "tt_test.h"

static char *render(const struct tt_resp *r, int minor, bool ka, bool head_only)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_resp_render(r, minor, ka, head_only, &b);
    return tt_buf_steal(&b, NULL);
}

static void test_render(void)
{
    struct tt_resp r;
    tt_resp_text(&r, 404, "no such test resource\n");
    char *s = render(&r, 1, true, false);
    CHECK_STR(s, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\n"
                 "no such test resource\n");
    free(s);
    s = render(&r, 0, true, true); /* HTTP/1.0 keep-alive, HEAD */
    CHECK_STR(s, "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
                 "Connection: keep-alive\r\n\r\n");
    free(s);
    r.status = 204;
    r.reason = tt_strdup("Nothing");
    s = render(&r, 1, false, false); /* no body and no length for 204; close */
    CHECK_STR(s, "HTTP/1.1 204 Nothing\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
    free(s);
    tt_resp_deinit(&r);
}

/* Second line of defence: whatever slipped past the input checks is never written. */
static void test_render_refuses_splitting(void)
{
    struct tt_resp r;
    tt_resp_init(&r, 200);
    r.reason = tt_strdup("OK\r\nX-Injected: 1");
    tt_resp_add_header(&r, "X-A", "1\r\n\r\nHTTP/1.1 200 OK");
    tt_resp_add_header(&r, "X-B\r\nX-Injected", "1");
    tt_resp_add_header(&r, "X C", "1");
    tt_resp_add_header(&r, "Content-Length", "1");
    tt_resp_add_header(&r, "Transfer-Encoding", "chunked");
    tt_resp_add_header(&r, "Connection", "close");
    tt_resp_add_header(&r, "X-Ok", "a\tb");
    tt_buf_appends(&r.body, "body");
    char *s = render(&r, 1, true, false);
    CHECK_STR(s, "HTTP/1.1 200 OK\r\nX-Ok: a\tb\r\nContent-Length: 4\r\n\r\nbody");
    free(s);
    /* CORS echoes come from request headers the parser already checked; were one to hold
     * a CRLF, the echo would still never be written. */
    struct tt_resp cr;
    tt_resp_init(&cr, 200);
    tt_cors_apply(&cr, "http://a\r\nX-Injected: 1", "GET\r\nX-Injected: 2", NULL);
    s = render(&cr, 1, true, false);
    CHECK(strstr(s, "X-Injected") == NULL);
    CHECK(strstr(s, "Access-Control-Allow-Origin") == NULL);
    CHECK(strstr(s, "Access-Control-Max-Age: 3600\r\n") != NULL);
    free(s);
    tt_resp_deinit(&cr);
    CHECK(!tt_resp_header_renderable("X", "a\x7f"));
    CHECK(!tt_resp_header_renderable("", "a"));
    CHECK(!tt_resp_header_renderable("Keep-Alive", "a"));
    CHECK(tt_resp_header_renderable("X", "\xc3\xa9"));
    tt_resp_deinit(&r);
}

static void test_headers(void)
{
    struct tt_resp r;
    tt_resp_init(&r, 200);
    tt_resp_add_header(&r, "X-A", "1");
    tt_resp_add_header(&r, "x-a", "2");
    tt_resp_add_header(&r, "X-B", "3");
    tt_resp_set_header(&r, "X-a", "9"); /* replaces both, case-insensitively */
    CHECK_INT(r.num_headers, 2);
    CHECK_STR(tt_resp_get_header(&r, "X-A"), "9");
    tt_resp_set_header(&r, "X-B", NULL);
    CHECK(tt_resp_get_header(&r, "x-b") == NULL);
    struct tt_resp c;
    tt_buf_appends(&r.body, "body");
    tt_resp_copy(&c, &r);
    CHECK_STR(tt_resp_get_header(&c, "x-a"), "9");
    CHECK_STR(tt_buf_cstr(&c.body), "body");
    tt_resp_deinit(&c);
    tt_resp_deinit(&r);
}

/* The kept copies of parsed heads hold every header in use and outlive their input;
 * they are allocated only as far as their headers (ASan, in make asan, checks that
 * nothing reads past that). */
static void test_head_dups(void)
{
    char in[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nGrip-Hold: stream\r\n"
                "Grip-Channel: a, b\r\n\r\n";
    struct tt_h1_response r;
    struct tt_h1_error err;
    CHECK(tt_h1_parse_response(in, sizeof(in) - 1, 4096, &r, &err) > 0);
    char *raw;
    struct tt_h1_response *c = tt_h1_response_dup(&r, &raw);
    memset(in, 'x', sizeof(in) - 1); /* the copy does not point into its input */
    CHECK_INT(c->status, 200);
    CHECK_INT(c->num_headers, 3);
    CHECK(c->reason_len == 2 && memcmp(c->reason, "OK", 2) == 0);
    CHECK(c->headers[2].name_len == 12 && memcmp(c->headers[2].name, "Grip-Channel", 12) == 0);
    CHECK(c->headers[2].value_len == 4 && memcmp(c->headers[2].value, "a, b", 4) == 0);
    CHECK(c->framing.content_length == r.framing.content_length);
    free(c);
    free(raw);

    char req[] = "GET /ws?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\r\n";
    struct tt_h1_request q;
    CHECK(tt_h1_parse_request(req, sizeof(req) - 1, 4096, &q, &err) > 0);
    struct tt_h1_request *d = tt_h1_request_dup(&q, &raw);
    memset(req, 'x', sizeof(req) - 1);
    CHECK(d->target_len == 7 && memcmp(d->target, "/ws?x=1", 7) == 0);
    CHECK_INT(d->num_headers, 2);
    CHECK(d->host && d->host_len == 11 && memcmp(d->host, "example.com", 11) == 0);
    CHECK(d->headers[1].value_len == 9 && memcmp(d->headers[1].value, "websocket", 9) == 0);
    free(d);
    free(raw);
}

static void test_cors(void)
{
    struct tt_resp r;
    tt_resp_text(&r, 200, "x");
    tt_resp_add_header(&r, "X-Custom", "1");
    tt_resp_add_header(&r, "Grip-Hold", "stream");
    tt_cors_apply(&r, "http://a.example", NULL, "X-Req");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Allow-Origin"), "http://a.example");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Allow-Methods"),
              "OPTIONS, HEAD, GET, POST, PUT, DELETE");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Allow-Headers"), "X-Req");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Expose-Headers"), "X-Custom");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Allow-Credentials"), "true");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Max-Age"), "3600");
    tt_resp_deinit(&r);
    /* present headers are kept; no Origin -> * ; the request method is echoed */
    tt_resp_text(&r, 200, "x");
    tt_resp_add_header(&r, "Access-Control-Max-Age", "10");
    tt_cors_apply(&r, NULL, "PATCH", NULL);
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Allow-Origin"), "*");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Allow-Methods"), "PATCH");
    CHECK_STR(tt_resp_get_header(&r, "Access-Control-Max-Age"), "10");
    CHECK(tt_resp_get_header(&r, "Access-Control-Allow-Headers") == NULL);
    CHECK(tt_resp_get_header(&r, "Access-Control-Expose-Headers") == NULL);
    tt_resp_deinit(&r);
}

static void test_testhandler(void)
{
    struct tt_route route;
    memset(&route, 0, sizeof(route));
    struct tt_resp r;
    tt_testhandler_respond(&route, "GET", "/", NULL, 0, false, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(tt_buf_cstr(&r.body), "Hello from the Pushpin test handler!\n");
    tt_resp_deinit(&r);
    tt_testhandler_respond(&route, "GET", "/stream/?channel=a%20b&channel=c", NULL, 0, false,
                           &r);
    CHECK_STR(tt_resp_get_header(&r, "Grip-Hold"), "stream");
    CHECK_STR(tt_resp_get_header(&r, "Grip-Channel"), "a b, c");
    CHECK_STR(tt_buf_cstr(&r.body), "[stream opened]\n");
    tt_resp_deinit(&r);
    tt_testhandler_respond(&route, "POST", "/response", NULL, 0, false, &r);
    CHECK_STR(tt_resp_get_header(&r, "Grip-Hold"), "response");
    CHECK_STR(tt_resp_get_header(&r, "Grip-Channel"), "test");
    CHECK_STR(tt_buf_cstr(&r.body), "nothing for now\n");
    tt_resp_deinit(&r);
    tt_testhandler_respond(&route, "GET", "/nope", NULL, 0, false, &r);
    CHECK_INT(r.status, 404);
    tt_resp_deinit(&r);
    tt_testhandler_respond(&route, "POST", "/", NULL, 0, true, &r);
    CHECK_INT(r.status, 400);
    CHECK_STR(tt_buf_cstr(&r.body), "request too large\n");
    tt_resp_deinit(&r);
    route.path_beg = "/t/";
    tt_testhandler_respond(&route, "GET", "/t/stream", NULL, 0, false, &r);
    CHECK_STR(tt_resp_get_header(&r, "Grip-Hold"), "stream");
    tt_resp_deinit(&r);
}

static void test_msg(void)
{
    struct tt_pub_item it;
    memset(&it, 0, sizeof(it));
    it.channel = tt_strdup("c");
    it.has_http_stream = true;
    it.http_stream.content = tt_strdup("hello world\n");
    it.http_stream.content_len = 12;
    struct tt_msg *m = tt_msg_new(&it);
    CHECK(it.channel == NULL); /* moved into the message */
    CHECK_INT(m->stream_chunk_len, 3 + 12 + 2);
    CHECK(memcmp(m->stream_chunk, "c\r\nhello world\n\r\n", m->stream_chunk_len) == 0);
    CHECK(memcmp(m->stream_chunk + m->stream_raw_off, "hello world\n", 12) == 0);
    tt_msg_ref(m);
    CHECK_INT(m->shared.refs, 2);
    tt_msg_unref(m);
    tt_msg_unref(m); /* freed: ASan/valgrind would report a leak or a double free */
}

TT_TEST_MAIN(test_render_refuses_splitting, test_render, test_head_dups, test_headers, test_cors, test_testhandler, test_msg)

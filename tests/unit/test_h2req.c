/* Unit tests for the HTTP/2 request fields -> HTTP/1.1 head codec (http/h2req.c). */
#include <stdlib.h>

#include "http/h1.h"
#include "http/h2req.h"
#include "tt_test.h"

static int add(struct tt_h2req *r, const char *n, const char *v)
{
    return tt_h2req_field(r, n, strlen(n), v, strlen(v));
}

static void req4(struct tt_h2req *r, const char *method, const char *path)
{
    tt_h2req_init(r, 8192);
    add(r, ":method", method);
    add(r, ":scheme", "https");
    add(r, ":authority", "example.com:8443");
    add(r, ":path", path);
}

static char *head(struct tt_h2req *r, bool body, bool *chunked, int *rc)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    *rc = tt_h2req_head(r, body, &b, chunked);
    return tt_buf_steal(&b, NULL);
}

static void test_basic(void)
{
    struct tt_h2req r;
    req4(&r, "GET", "/a?b=c");
    add(&r, "accept", "*/*");
    add(&r, "cookie", "a=1");
    add(&r, "user-agent", "t");
    add(&r, "cookie", "b=2");
    add(&r, "te", "trailers");
    bool ch;
    int rc;
    char *s = head(&r, false, &ch, &rc);
    CHECK_INT(rc, 0);
    CHECK(!ch);
    CHECK_STR(s, "GET /a?b=c HTTP/1.1\r\nHost: example.com:8443\r\naccept: */*\r\n"
                 "user-agent: t\r\ncookie: a=1; b=2\r\nConnection: close\r\n\r\n");
    /* the HTTP/1 parser takes it as it is */
    struct tt_h1_request *h = malloc(sizeof(*h));
    struct tt_h1_error e;
    CHECK_INT(tt_h1_parse_request(s, strlen(s), 8192, h, &e), (long long)strlen(s));
    CHECK_INT(h->num_headers, 5);
    free(h);
    free(s);
    tt_h2req_deinit(&r);
}

static void test_framing(void)
{
    struct tt_h2req r;
    req4(&r, "POST", "/up");
    add(&r, "content-length", "12");
    add(&r, "content-length", "12"); /* the same twice: one is kept */
    bool ch;
    int rc;
    char *s = head(&r, true, &ch, &rc);
    CHECK_INT(rc, 0);
    CHECK(!ch);
    CHECK(strstr(s, "content-length: 12\r\n") && !strstr(s, "Transfer-Encoding"));
    CHECK(strstr(s, "content-length: 12\r\ncontent-length") == NULL);
    free(s);
    tt_h2req_deinit(&r);

    req4(&r, "POST", "/up");
    s = head(&r, true, &ch, &rc);
    CHECK(ch && strstr(s, "Transfer-Encoding: chunked\r\n"));
    free(s);
    tt_h2req_deinit(&r);

    req4(&r, "POST", "/up");
    CHECK(add(&r, "content-length", "12") == 0);
    CHECK(add(&r, "content-length", "13") < 0);
    CHECK_INT(r.status, 400);
    CHECK_STR(r.error, "invalid content length");
    tt_h2req_deinit(&r);
}

static void test_host_rules(void)
{
    struct tt_h2req r;
    bool ch;
    int rc;
    /* host field when there is no :authority */
    tt_h2req_init(&r, 8192);
    add(&r, ":method", "GET");
    add(&r, ":path", "/");
    add(&r, "host", "h.example");
    char *s = head(&r, false, &ch, &rc);
    CHECK_INT(rc, 0);
    CHECK(strncmp(s, "GET / HTTP/1.1\r\nHost: h.example\r\n", 33) == 0);
    free(s);
    tt_h2req_deinit(&r);
    /* :authority wins over host */
    req4(&r, "GET", "/");
    add(&r, "host", "other.example");
    s = head(&r, false, &ch, &rc);
    CHECK(strstr(s, "Host: example.com:8443\r\n") && !strstr(s, "other.example"));
    free(s);
    tt_h2req_deinit(&r);
    /* neither */
    tt_h2req_init(&r, 8192);
    add(&r, ":method", "GET");
    add(&r, ":path", "/");
    s = head(&r, false, &ch, &rc);
    CHECK(rc < 0 && r.status == 400);
    CHECK_STR(r.error, "missing host");
    free(s);
    tt_h2req_deinit(&r);
    /* userinfo is no Host */
    tt_h2req_init(&r, 8192);
    CHECK(add(&r, ":authority", "u@example.com") < 0);
    CHECK_STR(r.error, "invalid host");
    tt_h2req_deinit(&r);
}

static void test_rejections(void)
{
    struct tt_h2req r;
    bool ch;
    int rc;
    static const struct {
        const char *name, *value;
        int status;
        const char *error;
    } bad[] = {
        {":method", "GE T", 400, "invalid method"},
        {":path", "/a b", 400, "invalid request target"},
        {":path", "/a\x7f", 400, "invalid request target"},
        {":protocol", "web socket", 400, "invalid :protocol"},
        {":status", "200", 400, "unknown pseudo-header"},
        {"x bad", "v", 400, "invalid header"},
        {"x-ok", "a\r\nb", 400, "invalid header"},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        tt_h2req_init(&r, 8192);
        CHECK(add(&r, bad[i].name, bad[i].value) < 0);
        CHECK_INT(r.status, bad[i].status);
        CHECK_STR(r.error, bad[i].error);
        /* the first error sticks */
        CHECK(add(&r, ":method", "GET") < 0);
        CHECK_STR(r.error, bad[i].error);
        tt_h2req_deinit(&r);
    }
    req4(&r, "GET", "/");
    CHECK(add(&r, ":path", "/again") < 0);
    CHECK_STR(r.error, "duplicate pseudo-header");
    tt_h2req_deinit(&r);
    /* CONNECT and targets that are not origin-form */
    tt_h2req_init(&r, 8192);
    add(&r, ":method", "CONNECT");
    add(&r, ":authority", "example.com:443");
    CHECK(tt_h2req_check(&r) < 0);
    CHECK_INT(r.status, 501);
    tt_h2req_deinit(&r);
    req4(&r, "GET", "*");
    free(head(&r, false, &ch, &rc));
    CHECK(rc < 0 && r.status == 400);
    tt_h2req_deinit(&r);
    req4(&r, "OPTIONS", "*");
    free(head(&r, false, &ch, &rc));
    CHECK_INT(rc, 0);
    tt_h2req_deinit(&r);
}

/* The cap counts the head exactly as rendered: N bytes pass, N+1 do not. */
static void test_cap(void)
{
    for (int extra = 0; extra <= 1; extra++) {
        struct tt_h2req r;
        tt_h2req_init(&r, 200);
        size_t base = strlen("GET /p HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        size_t pad = 200 - base - strlen("x-pad: \r\n") + (size_t)extra;
        char *v = malloc(pad + 1);
        memset(v, 'p', pad);
        v[pad] = '\0';
        add(&r, ":method", "GET");
        add(&r, ":path", "/p");
        add(&r, ":authority", "h");
        int f = add(&r, "x-pad", v);
        bool ch;
        int rc;
        char *s = head(&r, false, &ch, &rc);
        if (extra) {
            CHECK(f < 0 && rc < 0 && r.status == 400 && r.error == NULL);
        } else {
            CHECK(f == 0 && rc == 0);
            CHECK_INT(strlen(s), 200);
        }
        free(s);
        free(v);
        tt_h2req_deinit(&r);
    }
    /* a chunked body's Transfer-Encoding line counts too */
    struct tt_h2req r;
    tt_h2req_init(&r, 60);
    add(&r, ":method", "GET");
    add(&r, ":path", "/p");
    add(&r, ":authority", "h");
    bool ch;
    int rc;
    free(head(&r, false, &ch, &rc));
    CHECK_INT(rc, 0);
    tt_h2req_deinit(&r);
    tt_h2req_init(&r, 60);
    add(&r, ":method", "GET");
    add(&r, ":path", "/p");
    add(&r, ":authority", "h");
    free(head(&r, true, &ch, &rc));
    CHECK(rc < 0 && r.status == 400);
    tt_h2req_deinit(&r);
}

static void connect4(struct tt_h2req *r, const char *protocol)
{
    tt_h2req_init(r, 8192);
    add(r, ":method", "CONNECT");
    add(r, ":protocol", protocol);
    add(r, ":scheme", "https");
    add(r, ":path", "/ws?c=1");
    add(r, ":authority", "example.com");
}

/* RFC 8441: an extended CONNECT for a WebSocket is the HTTP/1.1 upgrade it stands for. */
static void test_websocket(void)
{
    struct tt_h2req r;
    connect4(&r, "websocket");
    add(&r, "sec-websocket-protocol", "chat");
    add(&r, "sec-websocket-key", "c2hvdWxkIG5vdCBiZSB1c2Vk"); /* not used over HTTP/2 */
    memcpy(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ==", 25);
    bool ch;
    int rc;
    char *s = head(&r, true, &ch, &rc); /* the stream stays open: the WebSocket's bytes */
    CHECK_INT(rc, 0);
    CHECK(!ch && r.websocket);
    CHECK_STR(s, "GET /ws?c=1 HTTP/1.1\r\nHost: example.com\r\nsec-websocket-protocol: chat\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade, close\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    struct tt_h1_request *h = malloc(sizeof(*h));
    struct tt_h1_error e;
    CHECK_INT(tt_h1_parse_request(s, strlen(s), 8192, h, &e), (long long)strlen(s));
    CHECK(h->websocket && h->framing.upgrade && !h->framing.keep_alive);
    free(h);
    free(s);
    tt_h2req_deinit(&r);
    /* the client's own version goes through (the handshake judges it) */
    connect4(&r, "WebSocket");
    add(&r, "sec-websocket-version", "8");
    memcpy(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ==", 25);
    s = head(&r, true, &ch, &rc);
    CHECK_INT(rc, 0);
    CHECK(strstr(s, "sec-websocket-version: 8\r\n") && !strstr(s, "Sec-WebSocket-Version"));
    free(s);
    tt_h2req_deinit(&r);
    /* another protocol: 501; :protocol without CONNECT, or without :scheme: 400 */
    connect4(&r, "connect-udp");
    CHECK(tt_h2req_check(&r) < 0);
    CHECK_INT(r.status, 501);
    CHECK_STR(r.error, "extended CONNECT protocol not supported");
    tt_h2req_deinit(&r);
    req4(&r, "GET", "/ws");
    add(&r, ":protocol", "websocket");
    CHECK(tt_h2req_check(&r) < 0);
    CHECK_INT(r.status, 400);
    tt_h2req_deinit(&r);
    tt_h2req_init(&r, 8192);
    add(&r, ":method", "CONNECT");
    add(&r, ":protocol", "websocket");
    add(&r, ":path", "/ws");
    add(&r, ":authority", "example.com");
    CHECK(tt_h2req_check(&r) < 0);
    CHECK_INT(r.status, 400);
    tt_h2req_deinit(&r);
}

TT_TEST_MAIN(test_basic, test_framing, test_host_rules, test_rejections, test_cap,
             test_websocket)

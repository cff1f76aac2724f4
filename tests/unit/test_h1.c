/* test_h1.c: HTTP/1.x head parsers, chunked decoder, reason phrases, hop-by-hop names.
 *
 * Every input is copied into a heap block of exactly its length, so that under ASan any
 * read past len is reported. */
#include "http/h1.h"
#include "tt_test.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_HEAD 8192

static struct tt_h1_request rq;
static struct tt_h1_response rs;
static struct tt_h1_error er;

static char *dup_exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    memcpy(p, s, len);
    return p;
}

/* Parses s[0..len) as a request; header pointers stay valid because the copy is kept
 * until the next call. */
static char *held;

static int req_n(const char *s, size_t len, size_t max_head)
{
    free(held);
    held = dup_exact(s, len);
    er.status = 0;
    er.reason = NULL;
    return tt_h1_parse_request(held, len, max_head, &rq, &er);
}

static int req(const char *s)
{
    return req_n(s, strlen(s), MAX_HEAD);
}

static int resp_n(const char *s, size_t len, size_t max_head)
{
    free(held);
    held = dup_exact(s, len);
    er.status = 0;
    er.reason = NULL;
    return tt_h1_parse_response(held, len, max_head, &rs, &er);
}

static int resp(const char *s)
{
    return resp_n(s, strlen(s), MAX_HEAD);
}

static bool span_is(const char *p, size_t len, const char *want)
{
    return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

#define CHECK_REQ_ERR(input, st, why)                                                              \
    do {                                                                                           \
        CHECK_INT(req(input), TT_EPARSE);                                                          \
        CHECK_INT(er.status, st);                                                                  \
        CHECK_STR(er.reason, why);                                                                 \
    } while (0)

#define CHECK_RESP_ERR(input, st, why)                                                             \
    do {                                                                                           \
        CHECK_INT(resp(input), TT_EPARSE);                                                         \
        CHECK_INT(er.status, st);                                                                  \
        CHECK_STR(er.reason, why);                                                                 \
    } while (0)

static void test_simple_get(void)
{
    const char *s = "GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8 \t\r\n"
                    "Accept: */*\r\n\r\n";
    CHECK_INT(req(s), strlen(s));
    CHECK(span_is(rq.method, rq.method_len, "GET"));
    CHECK(span_is(rq.target, rq.target_len, "/path?q=1"));
    CHECK_INT(rq.minor_version, 1);
    CHECK_INT(rq.num_headers, 3);
    CHECK(span_is(rq.headers[0].name, rq.headers[0].name_len, "Host"));
    CHECK(span_is(rq.headers[1].value, rq.headers[1].value_len, "curl/8"));
    CHECK(span_is(rq.headers[2].value, rq.headers[2].value_len, "*/*"));
    CHECK(span_is(rq.host, rq.host_len, "example.com"));
    CHECK_INT(rq.framing.content_length, -1);
    CHECK(!rq.framing.chunked);
    CHECK(rq.framing.keep_alive);
    CHECK(!rq.framing.conn_close);
    CHECK(!rq.framing.upgrade);
    CHECK(!rq.expect_continue);
    CHECK(!rq.websocket);

    /* Values may be empty, contain HTAB, obs-text and inner spaces. */
    s = "POST / HTTP/1.1\r\nX-Empty:\r\nX-Tab: a\tb c\r\nX-Utf8: \xc3\xa9t\xc3\xa9\r\n"
        "Content-Length: 12\r\n\r\n";
    CHECK_INT(req(s), strlen(s));
    CHECK_INT(rq.headers[0].value_len, 0);
    CHECK(span_is(rq.headers[1].value, rq.headers[1].value_len, "a\tb c"));
    CHECK(span_is(rq.headers[2].value, rq.headers[2].value_len, "\xc3\xa9t\xc3\xa9"));
    CHECK_INT(rq.framing.content_length, 12);
    CHECK(rq.host == NULL);

    /* Absolute-form and asterisk-form targets, odd but valid methods. */
    CHECK(req("OPTIONS * HTTP/1.1\r\n\r\n") > 0);
    CHECK(span_is(rq.target, rq.target_len, "*"));
    CHECK(req("M-SEARCH~ http://a/b HTTP/1.0\r\n\r\n") > 0);
    CHECK(span_is(rq.method, rq.method_len, "M-SEARCH~"));
    CHECK(span_is(rq.target, rq.target_len, "http://a/b"));
    CHECK_INT(rq.minor_version, 0);
}

static void test_pipelined_and_leading_crlf(void)
{
    const char *a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    char two[256];
    snprintf(two, sizeof(two), "%sGET /b HTTP/1.1\r\nHost: y\r\n\r\n", a);
    CHECK_INT(req(two), strlen(a));
    CHECK(span_is(rq.target, rq.target_len, "/a"));
    /* Body bytes after the head are not part of the return. */
    CHECK_INT(req("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 38);

    /* Empty lines before the request line are skipped and counted. */
    CHECK_INT(req("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 22);
    CHECK(span_is(rq.method, rq.method_len, "GET"));
    CHECK_INT(req("\r\n"), TT_EAGAIN);
    CHECK_INT(req("\r"), TT_EAGAIN);
    CHECK_INT(req("\nGET / HTTP/1.1\r\n\r\n"), 19); /* a bare LF is an empty line too */
    CHECK_REQ_ERR("\r\rGET / HTTP/1.1\r\n\r\n", 400, "invalid request line");
}

static void test_request_line_errors(void)
{
    CHECK_REQ_ERR("GET  / HTTP/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET /  HTTP/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1.1 \r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR(" GET / HTTP/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET\t/ HTTP/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("G(T / HTTP/1.1\r\n\r\n", 400, "invalid token");
    CHECK_REQ_ERR("GET /\x01 HTTP/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET /\x7f HTTP/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1.1x\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / http/1.1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET /\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1.1\rX: a\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\r\n\r\n", 400, "invalid request line");
    CHECK_REQ_ERR("GET / HTTP/1.2\r\n\r\n", 505, "unsupported version");
    CHECK_REQ_ERR("GET / HTTP/2.0\r\n\r\n", 505, "unsupported version");
    CHECK_REQ_ERR("GET / HTTP/0.9\r\n\r\n", 505, "unsupported version");
    /* Garbage is refused before the head would be complete. */
    CHECK_REQ_ERR("GET / FTP", 400, "invalid request line");
    CHECK_REQ_ERR("\x16\x03\x01", 400, "invalid request line");
    CHECK_REQ_ERR("GE\x16", 400, "invalid token");
    CHECK_INT(req("GET / HTT"), TT_EAGAIN);
}

static void test_header_errors(void)
{
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\n folded: a\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n\r\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX\n: a\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX(y): a\r\n\r\n", 400, "invalid token");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX\x80: a\r\n\r\n", 400, "invalid token");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400, "invalid header");
    /* A NUL in a value (the length is passed explicitly, so it is seen). */
    CHECK_INT(req_n("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27, MAX_HEAD), TT_EPARSE);
    CHECK_STR(er.reason, "invalid header");
}

/* RFC 9112 2.2: a recipient may take a bare LF as a line end; Pushpin and nginx do. A
 * bare CR stays an error wherever it is, and responses stay strict. */
static void test_bare_lf(void)
{
    const char *s = "GET /lf HTTP/1.1\nHost: a.example\nX-A: 1 \nX-B:2\n\n";
    CHECK_INT(req(s), strlen(s));
    CHECK(span_is(rq.target, rq.target_len, "/lf"));
    CHECK_INT(rq.num_headers, 3);
    CHECK(span_is(rq.headers[1].value, rq.headers[1].value_len, "1"));
    CHECK(span_is(rq.headers[2].value, rq.headers[2].value_len, "2"));
    CHECK(span_is(rq.host, rq.host_len, "a.example"));
    /* Mixed endings. */
    s = "POST / HTTP/1.1\r\nHost: a\nContent-Length: 2\r\n\nok";
    CHECK_INT(req(s), strlen(s) - 2);
    CHECK_INT(rq.framing.content_length, 2);
    CHECK_INT(req("GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n"), 29);
    CHECK_INT(rq.num_headers, 2);
    CHECK_INT(req("GET / HTTP/1.1\r\nX: a\r\n\n"), 23);
    CHECK_INT(req("GET / HTTP/1.1\n\r\n"), 17);
    /* Incomplete heads wait for more. */
    CHECK_INT(req("GET / HTTP/1.1\nHost: a\n"), TT_EAGAIN);
    CHECK_INT(req("GET / HTTP/1.1\n"), TT_EAGAIN);
    /* A bare CR is an error wherever it is. */
    CHECK_REQ_ERR("GET / HTTP/1.1\nX: a\rb\n\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\nX: a\r\n\r\r\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\n\r\r", 400, "invalid header");
    /* obs-fold stays an error with LF endings too. */
    CHECK_REQ_ERR("GET / HTTP/1.1\nX: a\n b\n\n", 400, "invalid header");
    CHECK_REQ_ERR("GET / HTTP/1.1\nX: a\n\tb\n\n", 400, "invalid header");
    /* Framing rules apply whatever the line ends. */
    CHECK_REQ_ERR("POST / HTTP/1.1\nContent-Length: 1\nTransfer-Encoding: chunked\n\n", 400,
                  "invalid framing");
    CHECK_REQ_ERR("POST / HTTP/1.1\nContent-Length: 1\nContent-Length: 2\n\n", 400,
                  "invalid content length");
    /* Responses from backends stay strict. */
    CHECK_RESP_ERR("HTTP/1.1 200 OK\nContent-Length: 0\n\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", 502, "invalid header");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", 502, "invalid header");
}

/* Values and targets are scanned a word at a time: a bad or unusual byte must be seen at
 * every position of a long span, not only in the tail. */
static void test_every_position(void)
{
    static const char good_value[] = {'\t', ' ', (char)0x80, (char)0xff, '~', '!'};
    static const char bad_value[] = {0x00, 0x01, 0x1f, 0x7f, '\n', '\r'};
    static const char bad_target[] = {0x00, 0x1f, ' ', 0x7f, '\t', '\n'};
    char buf[128];
    int wrong = 0;
    for (size_t pos = 0; pos < 40; pos++) {
        for (size_t k = 0; k < sizeof(good_value); k++) {
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: a%040da\r\n\r\n", 0);
            buf[20 + pos] = good_value[k];
            if (req_n(buf, (size_t)n, MAX_HEAD) != n || rq.headers[0].value_len != 42)
                wrong++;
        }
        for (size_t k = 0; k < sizeof(bad_value); k++) {
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: a%040da\r\n\r\n", 0);
            buf[20 + pos] = bad_value[k];
            if (req_n(buf, (size_t)n, MAX_HEAD) != TT_EPARSE)
                wrong++;
        }
        for (size_t k = 0; k < sizeof(bad_target); k++) {
            int n = snprintf(buf, sizeof(buf), "GET /%040d HTTP/1.1\r\n\r\n", 0);
            buf[5 + pos] = bad_target[k];
            if (req_n(buf, (size_t)n, MAX_HEAD) != TT_EPARSE)
                wrong++;
        }
        int n = snprintf(buf, sizeof(buf), "GET /%040d HTTP/1.1\r\n\r\n", 0);
        buf[5 + pos] = (char)0xc3;
        if (req_n(buf, (size_t)n, MAX_HEAD) != n || rq.target_len != 41)
            wrong++;
    }
    CHECK_INT(wrong, 0);
}

static void test_content_length(void)
{
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n") > 0);
    CHECK_INT(rq.framing.content_length, 0);
    CHECK(req("POST / HTTP/1.1\r\ncontent-length: 007\r\n\r\n") > 0);
    CHECK_INT(rq.framing.content_length, 7);
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 9007199254740992\r\n\r\n") > 0);
    CHECK_INT(rq.framing.content_length, INT64_C(9007199254740992));
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n") > 0);
    CHECK_INT(rq.framing.content_length, 5);
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") > 0);
    CHECK_INT(rq.framing.content_length, 5);

    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 9007199254740993\r\n\r\n", 400,
                  "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
                  "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400, "invalid content length");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
                  "invalid content length");
}

static void test_transfer_encoding(void)
{
    CHECK(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    CHECK(rq.framing.chunked);
    CHECK_INT(rq.framing.content_length, -1);
    CHECK(req("POST / HTTP/1.1\r\ntransfer-encoding:  CHUNKED \r\n\r\n") > 0);
    CHECK(rq.framing.chunked);

    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
                  "unsupported transfer encoding");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
                  "unsupported transfer encoding");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501,
                  "unsupported transfer encoding");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  501, "unsupported transfer encoding");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501,
                  "unsupported transfer encoding");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 501,
                  "unsupported transfer encoding");
    /* CL with TE is the classic smuggling vector, in either order. */
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                  "invalid framing");
    CHECK_REQ_ERR("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
                  "invalid framing");
    CHECK_REQ_ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                  "unsupported transfer encoding");
}

static void test_connection_rules(void)
{
    CHECK(req("GET / HTTP/1.1\r\n\r\n") > 0);
    CHECK(rq.framing.keep_alive);
    CHECK(req("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") > 0);
    CHECK(!rq.framing.keep_alive);
    CHECK(rq.framing.conn_close);
    CHECK(req("GET / HTTP/1.1\r\nConnection: foo, CLOSE\r\n\r\n") > 0);
    CHECK(!rq.framing.keep_alive);
    CHECK(req("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n") > 0);
    CHECK(rq.framing.keep_alive);
    CHECK(!rq.framing.conn_close);

    CHECK(req("GET / HTTP/1.0\r\n\r\n") > 0);
    CHECK(!rq.framing.keep_alive);
    CHECK(!rq.framing.conn_close);
    CHECK(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
    CHECK(rq.framing.keep_alive);
    CHECK(req("GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive\r\n\r\n") > 0);
    CHECK(rq.framing.keep_alive);
    CHECK(req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") > 0);
    CHECK(!rq.framing.keep_alive);
    CHECK(rq.framing.conn_close);
    /* A Keep-Alive header is not a Connection token. */
    CHECK(req("GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n") > 0);
    CHECK(!rq.framing.keep_alive);

    CHECK(req("GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
              "\r\n") > 0);
    CHECK(rq.framing.upgrade);
    CHECK(rq.framing.keep_alive);
    CHECK(rq.websocket);
    CHECK(req("GET / HTTP/1.1\r\nUpgrade: h2c, websocket/13\r\n\r\n") > 0);
    CHECK(rq.websocket);
    CHECK(!rq.framing.upgrade);
    CHECK(req("GET / HTTP/1.1\r\nUpgrade: websockets\r\n\r\n") > 0);
    CHECK(!rq.websocket);
}

static void test_expect_and_host(void)
{
    CHECK(req("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n") > 0);
    CHECK(rq.expect_continue);
    CHECK(req("PUT / HTTP/1.1\r\nExpect: 100-continues\r\n\r\n") > 0);
    CHECK(!rq.expect_continue);

    CHECK(req("GET / HTTP/1.1\r\nhOsT: a.b:80 \r\n\r\n") > 0);
    CHECK(span_is(rq.host, rq.host_len, "a.b:80"));
    CHECK(req("GET / HTTP/1.1\r\nHost:\r\n\r\n") > 0);
    CHECK(rq.host != NULL);
    CHECK_INT(rq.host_len, 0);
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "invalid host");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: b\r\n\r\n", 400, "invalid host");
    /* RFC 9112 3.2: a Host that is not a valid uri-host [":" port] is a 400. */
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost: a b/c@d\r\n\r\n", 400, "invalid host");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid host");
    CHECK_REQ_ERR("GET / HTTP/1.1\r\nHost: user@good\r\n\r\n", 400, "invalid host");
    CHECK(req("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n") > 0);
    CHECK(span_is(rq.host, rq.host_len, "[::1]:8080"));
}

static void test_valid_host(void)
{
    static const char *const good[] = {
        "", "a", "example.com", "EXAMPLE.com:80", "a.b:", "127.0.0.1:65535", "[::1]",
        "[::1]:80", "[2001:db8::1]", "[::ffff:10.0.0.1]:443", "[v1.fe80::a+en1]", "%41b.c",
        "a-b_c~d!$&'()*+,;=", ":80", "xn--bcher-kva.example", "[::1]:",
    };
    static const char *const bad[] = {
        "a b", "a b/c@d", "[::1", "::1]", "[]", "[::1]x", "[fe80::1%25eth0]",
        "a/b", "u@h", "h:123456", "h:8a", "h:80:80", "%4", "%zz", "a\tb", "\"x\"", "a?b",
        "a#b", "[1.2.3.4]", "h\x7f", "h\xc3\xa9",
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(good); i++) {
        if (!tt_h1_valid_host(good[i], strlen(good[i])))
            fprintf(stderr, "rejected good host '%s'\n", good[i]);
        CHECK(tt_h1_valid_host(good[i], strlen(good[i])));
    }
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        if (tt_h1_valid_host(bad[i], strlen(bad[i])))
            fprintf(stderr, "accepted bad host '%s'\n", bad[i]);
        CHECK(!tt_h1_valid_host(bad[i], strlen(bad[i])));
    }
}

static void test_token_and_field_value(void)
{
    CHECK(tt_h1_is_token("X-Foo", 5));
    CHECK(tt_h1_is_token("!#$%&'*+-.^_`|~09azAZ", 21));
    CHECK(!tt_h1_is_token("", 0));
    CHECK(!tt_h1_is_token("X Foo", 5));
    CHECK(!tt_h1_is_token("X:Foo", 5));
    CHECK(!tt_h1_is_token("X\r\nY", 4));
    CHECK(!tt_h1_is_token("X\0", 2));
    CHECK(tt_h1_is_field_value("", 0));
    CHECK(tt_h1_is_field_value("a b\tc \x80\xff", 8));
    /* long spans take the 8-bytes-at-a-time path: a bad byte at every position */
    char v[40];
    for (size_t k = 0; k < sizeof(v); k++) {
        static const char bads[] = {'\r', '\n', '\0', '\x01', '\x1f', '\x7f'};
        for (size_t b = 0; b < sizeof(bads); b++) {
            memset(v, 'a', sizeof(v));
            v[k] = bads[b];
            CHECK(!tt_h1_is_field_value(v, sizeof(v)));
        }
    }
    memset(v, 'a', sizeof(v));
    CHECK(tt_h1_is_field_value(v, sizeof(v)));
}

/* Every proper prefix of a valid head is TT_EAGAIN, the whole is its length. */
static void check_prefixes_req(const char *s)
{
    size_t len = strlen(s);
    int bad = 0;
    for (size_t k = 0; k < len; k++)
        if (req_n(s, k, MAX_HEAD) != TT_EAGAIN)
            bad++;
    CHECK_INT(bad, 0);
    CHECK_INT(req_n(s, len, MAX_HEAD), len);
}

static void check_prefixes_resp(const char *s)
{
    size_t len = strlen(s);
    int bad = 0;
    for (size_t k = 0; k < len; k++)
        if (resp_n(s, k, MAX_HEAD) != TT_EAGAIN)
            bad++;
    CHECK_INT(bad, 0);
    CHECK_INT(resp_n(s, len, MAX_HEAD), len);
}

static void test_split_input(void)
{
    check_prefixes_req("\r\nPOST /upload?x=%20 HTTP/1.1\r\nHost: h\r\nContent-Length: 10, 10\r\n"
                       "Connection: keep-alive\r\nX-Empty:\r\nX-Sp:   v  \r\n\r\n");
    CHECK_INT(rq.framing.content_length, 10);
    CHECK_INT(rq.num_headers, 5);
    check_prefixes_req("GET / HTTP/1.0\r\n\r\n");
    check_prefixes_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n");
    CHECK(rs.framing.chunked);
    check_prefixes_resp("HTTP/1.1 204\r\n\r\n");
    /* An error shows up as soon as the bad byte is there, complete head or not. */
    CHECK_INT(req("GET / HTTP/1.1\r\nBad Name"), TT_EPARSE);
    CHECK_INT(req("GET / HTTP/1.1\r\nX: a\x01"), TT_EPARSE);
    CHECK_INT(req("GET / HTTP/1.1\r\nContent-Length: x\r\n"), TT_EPARSE);
}

static void test_oversize_head(void)
{
    const char *s = "GET / HTTP/1.1\r\nHost: example\r\n\r\n"; /* 33 bytes */
    size_t len = strlen(s);
    CHECK_INT(req_n(s, len, len), len);            /* exactly max_head: fine */
    CHECK_INT(req_n(s, len, len - 1), TT_ETOOBIG); /* complete but one over */
    CHECK_INT(er.status, 400);
    CHECK_STR(er.reason, "header size exceeded");
    CHECK_INT(req_n(s, len - 1, len - 1), TT_ETOOBIG); /* incomplete, filled the cap */
    CHECK_INT(req_n(s, len - 2, len - 1), TT_EAGAIN);  /* incomplete, still room */
    CHECK_INT(req_n(s, len - 1, len), TT_EAGAIN);

    /* A head that never ends is cut off at the cap, not waited on forever. */
    static char big[3 * MAX_HEAD];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\n");
    while (n + 220 < sizeof(big))
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Filler: %0200d\r\n", 7);
    CHECK_INT(req_n(big, MAX_HEAD - 1, MAX_HEAD), TT_EAGAIN);
    CHECK_INT(req_n(big, MAX_HEAD, MAX_HEAD), TT_ETOOBIG);
    CHECK_INT(req_n(big, n, MAX_HEAD), TT_ETOOBIG);
    CHECK_STR(er.reason, "header size exceeded");
    /* One long value, no header count involved. */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    CHECK_INT(req_n(big, sizeof(big), MAX_HEAD), TT_ETOOBIG);
    CHECK_INT(resp_n(big, sizeof(big), MAX_HEAD), TT_EPARSE); /* not a status line */
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    CHECK_INT(resp_n(big, sizeof(big), MAX_HEAD), TT_ETOOBIG);
    CHECK_INT(er.status, 502);
    CHECK_INT(req_n("", 0, MAX_HEAD), TT_EAGAIN);
}

static size_t build_headers(char *buf, size_t cap, const char *start, int count)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", start);
    for (int i = 0; i < count; i++)
        n += (size_t)snprintf(buf + n, cap - n, "X-H%d: %d\r\n", i, i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    return n;
}

static void test_header_count(void)
{
    char buf[4096];
    size_t n = build_headers(buf, sizeof(buf), "GET / HTTP/1.1\r\n", TT_H1_MAX_HEADERS);
    CHECK_INT(req_n(buf, n, MAX_HEAD), n);
    CHECK_INT(rq.num_headers, TT_H1_MAX_HEADERS);
    CHECK(span_is(rq.headers[63].name, rq.headers[63].name_len, "X-H63"));
    n = build_headers(buf, sizeof(buf), "GET / HTTP/1.1\r\n", TT_H1_MAX_HEADERS + 1);
    CHECK_INT(req_n(buf, n, MAX_HEAD), TT_EPARSE);
    CHECK_INT(er.status, 400);
    CHECK_STR(er.reason, "too many headers");
    /* The 65th line is refused as soon as it starts. */
    CHECK_INT(req_n(buf, n - 10, MAX_HEAD), TT_EPARSE);

    n = build_headers(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n", TT_H1_MAX_HEADERS);
    CHECK_INT(resp_n(buf, n, MAX_HEAD), n);
    n = build_headers(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n", TT_H1_MAX_HEADERS + 1);
    CHECK_INT(resp_n(buf, n, MAX_HEAD), TT_EPARSE);
    CHECK_INT(er.status, 500);
    CHECK_STR(er.reason, "too many headers");
}

static void test_response(void)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    CHECK_INT(resp(s), strlen(s) - 5);
    CHECK_INT(rs.minor_version, 1);
    CHECK_INT(rs.status, 200);
    CHECK(span_is(rs.reason, rs.reason_len, "OK"));
    CHECK_INT(rs.num_headers, 2);
    CHECK_INT(rs.framing.content_length, 5);
    CHECK(rs.framing.keep_alive);

    CHECK(resp("HTTP/1.1 404 Not \tFound\xff\r\n\r\n") > 0);
    CHECK(span_is(rs.reason, rs.reason_len, "Not \tFound\xff"));
    CHECK(resp("HTTP/1.1 204\r\n\r\n") > 0);
    CHECK_INT(rs.status, 204);
    CHECK_INT(rs.reason_len, 0);
    CHECK(resp("HTTP/1.1 999 \r\n\r\n") > 0);
    CHECK_INT(rs.status, 999);
    CHECK_INT(rs.reason_len, 0);
    CHECK(resp("HTTP/1.0 200 OK\r\n\r\n") > 0);
    CHECK(!rs.framing.keep_alive);
    CHECK(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n") > 0);
    CHECK(rs.framing.keep_alive);
    CHECK(resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
               "Upgrade: websocket\r\n\r\n") > 0);
    CHECK(rs.framing.upgrade);
    /* Host means nothing in a response: duplicates are not an error there. */
    CHECK(resp("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n") > 0);
    CHECK(resp("\r\nHTTP/1.1 200 OK\r\n\r\n") > 0);

    CHECK_RESP_ERR("HTTP/1.1 20 OK\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 099 OK\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 2000 OK\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1  200 OK\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 200 O\x01K\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 200\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/2 200 OK\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/2.0 200 OK\r\n\r\n", 502, "unsupported version");
    CHECK_RESP_ERR("ICY 200 OK\r\n\r\n", 502, "invalid status line");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", 502, "invalid header");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 502,
                   "invalid content length");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                   502, "invalid framing");
    CHECK_RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502,
                   "unsupported transfer encoding");
    CHECK_RESP_ERR("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502,
                   "unsupported transfer encoding");
}

static void test_find_header(void)
{
    CHECK(req("GET / HTTP/1.1\r\nA: 1\r\nCookie: x\r\nB: 2\r\ncookie: y\r\n\r\n") > 0);
    CHECK_INT(tt_h1_find_header(rq.headers, rq.num_headers, "COOKIE", 0), 1);
    CHECK_INT(tt_h1_find_header(rq.headers, rq.num_headers, "cookie", 2), 3);
    CHECK_INT(tt_h1_find_header(rq.headers, rq.num_headers, "cookie", 4), -1);
    CHECK_INT(tt_h1_find_header(rq.headers, rq.num_headers, "cooki", 0), -1);
    CHECK_INT(tt_h1_find_header(rq.headers, rq.num_headers, "b", 0), 2);
}

static void test_hop_by_hop_and_reason(void)
{
    static const char *hop[] = {
        "Connection",       "keep-alive",         "TRANSFER-ENCODING",  "te", "Trailer", "upgrade",
        "Proxy-Connection", "Proxy-Authenticate", "proxy-authorization"};
    for (size_t i = 0; i < TT_ARRAY_LEN(hop); i++)
        CHECK(tt_h1_is_hop_by_hop(hop[i], strlen(hop[i])));
    CHECK(!tt_h1_is_hop_by_hop("Content-Length", 14));
    CHECK(!tt_h1_is_hop_by_hop("Trailers", 8));
    CHECK(!tt_h1_is_hop_by_hop("Connection", 9));
    CHECK(!tt_h1_is_hop_by_hop("", 0));

    /* Fields named in Connection (RFC 9110 7.6.1). */
    const char *s = "HTTP/1.1 200 OK\r\nConnection: X-Hop ,keep-alive\r\nX-Hop: 1\r\n"
                    "connection: x-other\r\nX-Keep: 2\r\n\r\n";
    CHECK_INT(resp(s), strlen(s));
    CHECK(tt_h1_named_in_connection(rs.headers, rs.num_headers, "x-hop", 5));
    CHECK(tt_h1_named_in_connection(rs.headers, rs.num_headers, "X-OTHER", 7));
    CHECK(tt_h1_named_in_connection(rs.headers, rs.num_headers, "Keep-Alive", 10));
    CHECK(!tt_h1_named_in_connection(rs.headers, rs.num_headers, "X-Keep", 6));
    CHECK(!tt_h1_named_in_connection(rs.headers, rs.num_headers, "X-Ho", 4));
    CHECK(!tt_h1_named_in_connection(rs.headers, 1, "x-other", 7));

    CHECK_STR(tt_h1_reason(200), "OK");
    CHECK_STR(tt_h1_reason(101), "Switching Protocols");
    CHECK_STR(tt_h1_reason(304), "Not Modified");
    CHECK_STR(tt_h1_reason(400), "Bad Request");
    CHECK_STR(tt_h1_reason(418), "I'm a teapot");
    CHECK_STR(tt_h1_reason(429), "Too Many Requests");
    CHECK_STR(tt_h1_reason(502), "Bad Gateway");
    CHECK_STR(tt_h1_reason(505), "HTTP Version Not Supported");
    CHECK_STR(tt_h1_reason(511), "Network Authentication Required");
    CHECK_STR(tt_h1_reason(299), "Undefined Reason");
    CHECK_STR(tt_h1_reason(306), "Undefined Reason");
    CHECK_STR(tt_h1_reason(-1), "Undefined Reason");
}

/* Chunked: feed `in` in pieces (split > 0: fixed size; split == 0: all at once; split <
 * 0: pseudo-random sizes seeded by -split), each piece in its own exact-size heap block.
 * Collects data into out; returns the bytes consumed, or TT_EPARSE. */
static ssize_t dechunk(const char *in, size_t len, int split, char *out, size_t out_cap,
                       size_t *out_len, bool *done)
{
    struct tt_h1_chunked c;
    tt_h1_chunked_init(&c);
    uint32_t rnd = (uint32_t)-split;
    size_t off = 0;
    *out_len = 0;
    while (off < len && !c.done) {
        size_t piece = len - off;
        if (split > 0)
            piece = TT_MIN(piece, (size_t)split);
        else if (split < 0) {
            rnd = rnd * 1103515245u + 12345u;
            piece = TT_MIN(piece, 1 + (rnd >> 16) % 9);
        }
        char *blk = dup_exact(in + off, piece);
        size_t used = 0;
        while (used < piece && !c.done) {
            const char *d;
            size_t dl;
            ssize_t r = tt_h1_chunked_step(&c, blk + used, piece - used, &d, &dl);
            if (r < 0) {
                free(blk);
                return r;
            }
            if (r == 0) { /* no progress on non-empty input would loop forever */
                free(blk);
                return -999;
            }
            if (dl) {
                if (d < blk + used || d + dl > blk + used + (size_t)r || *out_len + dl > out_cap) {
                    free(blk);
                    return -998;
                }
                memcpy(out + *out_len, d, dl);
                *out_len += dl;
            }
            used += (size_t)r;
        }
        free(blk);
        off += used;
    }
    *done = c.done;
    return (ssize_t)off;
}

static void check_dechunk(const char *in, size_t len, const char *want, size_t want_consumed)
{
    static const int splits[] = {0, 1, 2, 3, 5, 7, 64, -1, -7, -42};
    char out[8192];
    for (size_t i = 0; i < TT_ARRAY_LEN(splits); i++) {
        size_t out_len;
        bool done = false;
        ssize_t r = dechunk(in, len, splits[i], out, sizeof(out), &out_len, &done);
        CHECK_INT(r, want_consumed);
        CHECK(done);
        CHECK(out_len == strlen(want) && memcmp(out, want, out_len) == 0);
    }
}

static void check_dechunk_err(const char *in, size_t len)
{
    static const int splits[] = {0, 1, 3, -5};
    char out[8192];
    for (size_t i = 0; i < TT_ARRAY_LEN(splits); i++) {
        size_t out_len;
        bool done = false;
        CHECK_INT(dechunk(in, len, splits[i], out, sizeof(out), &out_len, &done), TT_EPARSE);
    }
}

#define DECHUNK(s, want) check_dechunk((s), strlen(s), (want), strlen(s))
#define DECHUNK_ERR(s) check_dechunk_err((s), strlen(s))

static void test_chunked(void)
{
    DECHUNK("5\r\nhello\r\n0\r\n\r\n", "hello");
    DECHUNK("0\r\n\r\n", "");
    DECHUNK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    DECHUNK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0000\r\n\r\n", "0123456789abcdefghij");
    DECHUNK("0005\r\nhello\r\n0\r\n\r\n", "hello");
    DECHUNK("5;name=value;q=\"a b\"\r\nhello\r\n0;last\r\n\r\n", "hello");
    DECHUNK("5 ;x\r\nhello\r\n0\t; y\r\n\r\n", "hello");
    DECHUNK("3\r\n\r\n\r\r\n0\r\nExpires: never\r\nX-Sum: a b\tc\r\n\r\n", "\r\n\r");

    /* Bytes after the end of the body belong to the next message: not consumed. */
    const char *s = "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    check_dechunk(s, strlen(s), "hi", 12);

    /* Stops after one data span, reports exactly that span, then refuses work when done. */
    struct tt_h1_chunked c;
    tt_h1_chunked_init(&c);
    const char *d;
    size_t dl;
    const char *in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    ssize_t r = tt_h1_chunked_step(&c, in, strlen(in), &d, &dl);
    CHECK_INT(r, 6);
    CHECK(d == in + 3 && dl == 3);
    CHECK(!c.done);
    r = tt_h1_chunked_step(&c, in + 6, strlen(in) - 6, &d, &dl);
    CHECK_INT(r, 7);
    CHECK(d == in + 11 && dl == 2);
    r = tt_h1_chunked_step(&c, in + 13, strlen(in) - 13, &d, &dl);
    CHECK_INT(r, 7);
    CHECK_INT(dl, 0);
    CHECK(c.done);
    CHECK_INT(tt_h1_chunked_step(&c, "5\r\n", 3, &d, &dl), 0);
    CHECK_INT(dl, 0);
    /* Partial framing is consumed and remembered. */
    tt_h1_chunked_init(&c);
    CHECK_INT(tt_h1_chunked_step(&c, "1", 1, &d, &dl), 1);
    CHECK_INT(dl, 0);
    CHECK_INT(tt_h1_chunked_step(&c, "0\r", 2, &d, &dl), 2);
    CHECK_INT(tt_h1_chunked_step(&c, "\n", 1, &d, &dl), 1);
    CHECK_INT(c.remaining, 16);
    CHECK_INT(tt_h1_chunked_step(&c, "", 0, &d, &dl), 0);

    /* The largest size allowed, 2^62, is accepted; one more is not. */
    tt_h1_chunked_init(&c);
    CHECK_INT(tt_h1_chunked_step(&c, "4000000000000000\r\nxy", 20, &d, &dl), 20);
    CHECK_INT(dl, 2);
    CHECK(c.remaining == (UINT64_C(1) << 62) - 2);
}

static void test_chunked_errors(void)
{
    DECHUNK_ERR("g\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR(";ext\r\n\r\n");
    DECHUNK_ERR("-5\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("0x5\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("5\r\nhelloX\r\n0\r\n\r\n");
    DECHUNK_ERR("5\r\nhello\n0\r\n\r\n");
    DECHUNK_ERR("5\r\nhello\r0\r\n\r\n");
    DECHUNK_ERR("5\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("5\r\rhello\r\n0\r\n\r\n");
    DECHUNK_ERR("5 \r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("5 6\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("5;a\nb\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("5;a\x01\r\nhello\r\n0\r\n\r\n");
    DECHUNK_ERR("4000000000000001\r\n");
    DECHUNK_ERR("10000000000000000\r\n");
    DECHUNK_ERR("ffffffffffffffffffff\r\n");
    DECHUNK_ERR("0\r\n\n");
    DECHUNK_ERR("0\r\n\r\r");
    DECHUNK_ERR("0\r\nX: y\n\r\n");
    DECHUNK_ERR("0\r\nX: y\r\n folded\r\n\r\n");
    DECHUNK_ERR("0\r\nX: \x7f\r\n\r\n");
    /* A trailer line is a field: name, colon, value. */
    DECHUNK_ERR("0\r\nGET /SMUGGLED HTTP/1.1\r\n\r\n");
    DECHUNK_ERR("0\r\nX y: z\r\n\r\n");
    DECHUNK_ERR("0\r\nX\r\n\r\n");
    DECHUNK_ERR("0\r\nX(: z\r\n\r\n");
    DECHUNK("0\r\nX:\r\nY:z\r\n\r\n", "");

    /* Line caps: 4096 bytes of size line (before CRLF) pass, 4097 fail. */
    static char line[4200];
    memset(line, '0', 4095);
    memcpy(line + 4095, "1\r\nx\r\n0\r\n\r\n", 12);
    check_dechunk(line, strlen(line), "x", strlen(line));
    memset(line, '0', 4096);
    memcpy(line + 4096, "1\r\nx\r\n0\r\n\r\n", 12);
    check_dechunk_err(line, strlen(line));
    memcpy(line, "1;", 2);
    memset(line + 2, 'e', 4094);
    memcpy(line + 4096, "\r\nx\r\n0\r\n\r\n", 11);
    check_dechunk(line, strlen(line), "x", strlen(line));
    memcpy(line, "1;", 2);
    memset(line + 2, 'e', 4095);
    memcpy(line + 4097, "\r\nx\r\n0\r\n\r\n", 11);
    check_dechunk_err(line, strlen(line));
    memcpy(line, "0\r\nX:", 5);
    memset(line + 5, 'v', 4094);
    memcpy(line + 4099, "\r\n\r\n", 5);
    check_dechunk(line, strlen(line), "", strlen(line));
    memset(line + 5, 'v', 4095);
    memcpy(line + 4100, "\r\n\r\n", 5);
    check_dechunk_err(line, strlen(line));

    /* Endless short trailers are cut off too. */
    size_t n = 80000 / 6 * 6 + 3;
    char *many = malloc(n + 3);
    memcpy(many, "0\r\n", 3);
    for (size_t i = 3; i + 6 <= n; i += 6)
        memcpy(many + i, "X: y\r\n", 6);
    memcpy(many + n - 0, "\r\n", 2);
    check_dechunk_err(many, n + 2);
    free(many);
}

static void cleanup(void)
{
    free(held);
    held = NULL;
}

TT_TEST_MAIN(test_simple_get, test_pipelined_and_leading_crlf, test_request_line_errors,
             test_header_errors, test_bare_lf, test_every_position, test_content_length,
             test_transfer_encoding, test_connection_rules, test_expect_and_host, test_split_input,
             test_oversize_head, test_header_count, test_response, test_find_header,
             test_hop_by_hop_and_reason, test_chunked, test_chunked_errors, test_valid_host,
             test_token_and_field_value, cleanup)

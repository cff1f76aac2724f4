/* test_ws_handshake.c: the opening handshake (ws/handshake.h) on heads parsed by http/h1:
 * server-side validation case by case, the 101 header lines, and the client side (key,
 * request lines, validation of a backend's 101). */
#include "ws/deflate.h"
#include "ws/handshake.h"
#include "tt_test.h"

#include <stdio.h>
#include <stdlib.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 1.3 */

static struct tt_h1_request rq;
static struct tt_h1_response rs;
static char head[4096];

static int server(const char *extra_head, bool allow_compression, struct tt_ws_server_hs *hs)
{
    snprintf(head, sizeof(head), "%s\r\n", extra_head);
    struct tt_h1_error err;
    int n = tt_h1_parse_request(head, strlen(head), sizeof(head), &rq, &err);
    if (n <= 0)
        return -999;
    return tt_ws_server_handshake(&rq, allow_compression, hs);
}

#define GOOD_LINES                                                                             \
    "Host: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                       \
    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"

static void test_accept_value(void)
{
    char out[TT_WS_ACCEPT_LEN + 1];
    tt_ws_accept_value(KEY, strlen(KEY), out);
    CHECK_STR(out, ACCEPT);
}

static void test_server_valid(void)
{
    struct tt_ws_server_hs hs;
    CHECK_INT(server("GET /ws HTTP/1.1\r\n" GOOD_LINES, false, &hs), 1);
    CHECK_STR(hs.accept, ACCEPT);
    CHECK(!hs.deflate);
    /* token lists and case */
    CHECK_INT(server("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n"
                     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n",
                     false, &hs),
              1);
    CHECK_INT(server("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\n"
                     "Connection: upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n",
                     false, &hs),
              1);
    /* deflate only with allow_compression */
    CHECK_INT(server("GET / HTTP/1.1\r\n" GOOD_LINES
                     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
                     false, &hs),
              1);
    CHECK(!hs.deflate);
    CHECK_INT(server("GET / HTTP/1.1\r\n" GOOD_LINES
                     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
                     true, &hs),
              1);
    CHECK(hs.deflate);
    CHECK_INT(server("GET / HTTP/1.1\r\n" GOOD_LINES "Sec-WebSocket-Extensions: x-foo\r\n"
                     "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9, "
                     "permessage-deflate\r\n",
                     true, &hs),
              1);
    CHECK(hs.deflate);
    CHECK_INT(server("GET / HTTP/1.1\r\n" GOOD_LINES
                     "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n",
                     true, &hs),
              1);
    CHECK(!hs.deflate);
    /* not WebSocket at all */
    CHECK_INT(server("GET / HTTP/1.1\r\nHost: a\r\n", false, &hs), 0);
    CHECK_INT(server("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n", false,
                     &hs),
              0);

    struct tt_buf b;
    tt_buf_init(&b, 0);
    server("GET / HTTP/1.1\r\n" GOOD_LINES, false, &hs);
    CHECK_INT(tt_ws_server_response_headers(&b, &hs), 0);
    CHECK_STR(tt_buf_cstr(&b), "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " ACCEPT "\r\n");
    tt_buf_reset(&b);
    hs.deflate = true;
    CHECK_INT(tt_ws_server_response_headers(&b, &hs), 0);
    CHECK(strstr(tt_buf_cstr(&b), "Sec-WebSocket-Extensions: " TT_WS_DEFLATE_RESPONSE "\r\n"));
    tt_buf_deinit(&b);
    tt_buf_init(&b, 10);
    CHECK_INT(tt_ws_server_response_headers(&b, &hs), TT_ETOOBIG);
    CHECK_INT(b.len, 0);
    tt_buf_deinit(&b);
}

static void test_server_invalid(void)
{
    static const struct {
        const char *head;
        bool bad_version;
    } cases[] = {
        {"POST /ws HTTP/1.1\r\n" GOOD_LINES, false},
        {"get /ws HTTP/1.1\r\n" GOOD_LINES, false},
        {"GET /ws HTTP/1.0\r\n" GOOD_LINES, false},
        {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
         "\r\nSec-WebSocket-Version: 13\r\n",
         false}, /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " KEY
         "\r\nSec-WebSocket-Version: 13\r\n",
         false}, /* no Connection */
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
         "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " KEY "\r\n",
         true}, /* no version */
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 8\r\n",
         true},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         true},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         false}, /* no key */
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: abcde\r\nSec-WebSocket-Version: 13\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Version: 13\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==x\r\nSec-WebSocket-Version: 13\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\nSec-WebSocket-Version: 13\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Key: " KEY
         "\r\nSec-WebSocket-Version: 13\r\n",
         false},
        {"GET / HTTP/1.1\r\n" GOOD_LINES "Content-Length: 5\r\n", false},
        {"GET / HTTP/1.1\r\n" GOOD_LINES "Transfer-Encoding: chunked\r\n", false},
        {"GET / HTTP/1.1\r\n" GOOD_LINES "Sec-WebSocket-Extensions: permessage-deflate; =\r\n",
         false},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        struct tt_ws_server_hs hs;
        int rc = server(cases[i].head, true, &hs);
        if (rc != TT_EPARSE)
            fprintf(stderr, "handshake case %zu: rc %d\n", i, rc);
        CHECK_INT(rc, TT_EPARSE);
        CHECK(hs.why != NULL);
        CHECK_INT(hs.bad_version, cases[i].bad_version);
    }
    CHECK_STR(TT_WS_HS_BAD_REQUEST_BODY, "Request contained an Upgrade header with value "
                                         "\"websocket\" but the request was not a valid "
                                         "WebSocket request.\n");
}

/* ---- client role ---- */

static int rng(unsigned char *buf, int num)
{
    for (int i = 0; i < num; i++)
        buf[i] = (unsigned char)(i * 17 + 3);
    return 1;
}

static int rng_fail(unsigned char *buf, int num)
{
    (void)buf, (void)num;
    return -1;
}

static int client(const char *resp_head, bool grip, bool deflate, const char *protocols,
                  struct tt_ws_client_hs *hs)
{
    snprintf(head, sizeof(head), "%s\r\n", resp_head);
    struct tt_h1_error err;
    int n = tt_h1_parse_response(head, strlen(head), sizeof(head), &rs, &err);
    if (n <= 0)
        return -999;
    return tt_ws_client_check_response(&rs, KEY, grip, deflate, protocols,
                                       protocols ? strlen(protocols) : 0, hs);
}

#define OK101                                                                                  \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"        \
    "Sec-WebSocket-Accept: " ACCEPT "\r\n"

static void test_client(void)
{
    char key[TT_WS_KEY_LEN + 1];
    CHECK_INT(tt_ws_client_key(rng, key), 0);
    CHECK_INT(strlen(key), 24);
    CHECK(key[22] == '=' && key[23] == '=');
    CHECK(tt_ws_client_key(rng_fail, key) < 0);

    struct tt_buf b;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_ws_client_request_headers(&b, KEY, false, false), 0);
    CHECK_STR(tt_buf_cstr(&b), "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n");
    tt_buf_reset(&b);
    CHECK_INT(tt_ws_client_request_headers(&b, KEY, true, true), 0);
    CHECK(strstr(tt_buf_cstr(&b),
                 "Sec-WebSocket-Extensions: grip, " TT_WS_DEFLATE_OFFER "\r\n") != NULL);
    tt_buf_reset(&b);
    CHECK_INT(tt_ws_client_request_headers(&b, KEY, true, false), 0);
    CHECK(strstr(tt_buf_cstr(&b), "Sec-WebSocket-Extensions: grip\r\n") != NULL);
    tt_buf_deinit(&b);

    struct tt_ws_client_hs hs;
    CHECK_INT(client(OK101, false, false, NULL, &hs), 1);
    CHECK(!hs.grip.present && !hs.deflate && !hs.protocol);
    CHECK_INT(client("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n", true, true, NULL, &hs),
              0);
    CHECK_INT(client(OK101 "Sec-WebSocket-Extensions: grip; message-prefix=\"\"\r\n", true, false,
                     NULL, &hs),
              1);
    CHECK(hs.grip.present);
    CHECK_INT(hs.grip.prefix_len, 0);
    CHECK_INT(client(OK101 "Sec-WebSocket-Extensions: grip\r\nSec-WebSocket-Extensions: "
                           "permessage-deflate; server_no_context_takeover\r\n",
                     true, true, NULL, &hs),
              1);
    CHECK(hs.grip.present && hs.deflate);
    CHECK_STR(hs.grip.prefix, "m:");
    /* a bad grip parameter: GRIP off, the connection still fine (as Pushpin) */
    char longp[300];
    snprintf(longp, sizeof(longp), OK101 "Sec-WebSocket-Extensions: grip; message-prefix=%070d\r\n",
             0);
    CHECK_INT(client(longp, true, false, NULL, &hs), 1);
    CHECK(!hs.grip.present);
    /* ... but a header that does not parse fails */
    CHECK_INT(client(OK101 "Sec-WebSocket-Extensions: grip; message-prefix=\"m:\"; x=\"\r\n",
                     true, false, NULL, &hs),
              TT_EPARSE);
    CHECK_INT(client(OK101 "Sec-WebSocket-Protocol: chat\r\n", false, false, "superchat, chat",
                     &hs),
              1);
    CHECK(hs.protocol_len == 4 && memcmp(hs.protocol, "chat", 4) == 0);

    static const struct {
        const char *head;
        bool grip, deflate;
        const char *protocols;
    } bad[] = {
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT
         "\r\n",
         false, false, NULL},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " ACCEPT "\r\n",
         false, false, NULL},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " ACCEPT
         "\r\n",
         false, false, NULL},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
         false, false, NULL},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOa=\r\n",
         false, false, NULL},
        {OK101 "Sec-WebSocket-Accept: " ACCEPT "\r\n", false, false, NULL},
        {OK101 "Sec-WebSocket-Extensions: grip\r\n", false, false, NULL},
        {OK101 "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
         true, false, NULL},
        {OK101 "Sec-WebSocket-Extensions: permessage-deflate\r\n", false, true, NULL},
        {OK101 "Sec-WebSocket-Extensions: x-custom\r\n", true, true, NULL},
        {OK101 "Sec-WebSocket-Extensions: grip, grip\r\n", true, true, NULL},
        {OK101 "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover, "
               "permessage-deflate; server_no_context_takeover\r\n",
         true, true, NULL},
        {OK101 "Sec-WebSocket-Protocol: chat\r\n", false, false, NULL},
        {OK101 "Sec-WebSocket-Protocol: chat\r\n", false, false, "superchat"},
        {OK101 "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n", false, false,
         "chat"},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        int rc = client(bad[i].head, bad[i].grip, bad[i].deflate, bad[i].protocols, &hs);
        if (rc != TT_EPARSE)
            fprintf(stderr, "client case %zu: rc %d\n", i, rc);
        CHECK_INT(rc, TT_EPARSE);
        CHECK(hs.why != NULL);
    }
}

TT_TEST_MAIN(test_accept_value, test_server_valid, test_server_invalid, test_client)

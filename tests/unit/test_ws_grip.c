/* test_ws_grip.c: GRIP over WebSocket (ws/grip.h): the grip extension and its
 * message-prefix, message classification, and every control message type with its
 * defaults, invalid forms (ignored by the caller) and the filter cap at 5 and 6. */
#include "ws/frame.h"
#include "ws/grip.h"
#include "tt_test.h"

#include <stdlib.h>

static int ext(const char *v, struct tt_ws_grip_ext *g)
{
    memset(g, 0, sizeof(*g));
    return tt_ws_grip_ext_scan(v, strlen(v), g);
}

static void test_grip_ext(void)
{
    struct tt_ws_grip_ext g;
    CHECK_INT(ext("grip", &g), 1);
    CHECK_STR(g.prefix, "m:");
    CHECK_INT(g.prefix_len, 2);
    CHECK_INT(ext("grip; message-prefix=\"\"", &g), 1);
    CHECK_INT(g.prefix_len, 0);
    CHECK_INT(ext("grip; message-prefix", &g), 1); /* no value: empty, as Pushpin */
    CHECK_INT(g.prefix_len, 0);
    CHECK_INT(ext("grip; message-prefix=\"data:\"", &g), 1);
    CHECK_STR(g.prefix, "data:");
    CHECK_INT(ext("grip; message-prefix=d:", &g), 1);
    CHECK_STR(g.prefix, "d:");
    CHECK_INT(ext("grip; message-prefix=\"a\\\\b\\\"\"", &g), 1);
    CHECK_STR(g.prefix, "a\\b\"");
    CHECK_INT(ext("permessage-deflate, GRIP; other=1", &g), 1);
    CHECK_STR(g.prefix, "m:");
    CHECK_INT(ext("permessage-deflate", &g), 0);
    CHECK(!g.present);
    CHECK_INT(ext("grip; message-prefix=", &g), 0); /* Pushpin: invalid, no GRIP */
    CHECK(!g.present);
    CHECK_INT(ext("grip; message-prefix=\"open", &g), 0);
    CHECK_INT(ext("gripx", &g), 0);
    /* cap: 64 bytes pass, 65 do not */
    char v[200];
    snprintf(v, sizeof(v), "grip; message-prefix=\"%064d\"", 0);
    CHECK_INT(ext(v, &g), 1);
    CHECK_INT(g.prefix_len, 64);
    snprintf(v, sizeof(v), "grip; message-prefix=\"%065d\"", 0);
    CHECK_INT(ext(v, &g), 0);
    CHECK(!g.present);
    /* the first header with grip wins */
    memset(&g, 0, sizeof(g));
    CHECK_INT(tt_ws_grip_ext_scan("grip; message-prefix=a", 22, &g), 1);
    CHECK_INT(tt_ws_grip_ext_scan("grip; message-prefix=b", 22, &g), 0);
    CHECK_STR(g.prefix, "a");
}

static void test_classify(void)
{
    struct tt_ws_grip_ext g;
    ext("grip", &g);
    const uint8_t *c = (const uint8_t *)"c:{\"type\":\"detach\"}";
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, c, 19, &g), TT_WS_GRIP_CONTROL);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_BINARY, c, 19, &g), TT_WS_GRIP_DROP);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"m:hi", 4, &g),
              TT_WS_GRIP_DATA);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_BINARY, (const uint8_t *)"m:\x01", 3, &g),
              TT_WS_GRIP_DATA);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"hi", 2, &g), TT_WS_GRIP_DROP);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"m", 1, &g), TT_WS_GRIP_DROP);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"c", 1, &g), TT_WS_GRIP_DROP);
    ext("grip; message-prefix=\"\"", &g);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"hi", 2, &g), TT_WS_GRIP_DATA);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"", 0, &g), TT_WS_GRIP_DATA);
    CHECK_INT(tt_ws_grip_classify(TT_WS_OP_TEXT, (const uint8_t *)"c:x", 3, &g),
              TT_WS_GRIP_CONTROL);
}

static struct tt_ws_ctl C;
static char E[200];

static int parse(const char *json)
{
    tt_ws_ctl_free(&C);
    return tt_ws_ctl_parse(json, strlen(json), &C, E, sizeof(E));
}

static void test_ctl_subscribe(void)
{
    CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"news\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_SUBSCRIBE);
    CHECK_STR(C.channel, "news");
    CHECK_INT(C.num_filters, 0);
    CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\",\"filters\":[\"skip-self\","
                    "\"f2\",\"f3\",\"f4\",\"f5\"]}"),
              0);
    CHECK_INT(C.num_filters, 5);
    CHECK_STR(C.filters[0], "skip-self");
    CHECK_STR(C.filters[4], "f5");
    /* 6 filters: the caller closes with 1011, so the channel is kept */
    CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\",\"filters\":[\"1\",\"2\",\"3\","
                    "\"4\",\"5\",\"6\"]}"),
              TT_ETOOBIG);
    CHECK_INT(C.type, TT_WS_CTL_SUBSCRIBE);
    CHECK_STR(C.channel, "a");
    CHECK_INT(C.num_filters, 0);
    CHECK_STR(E, "too many filters for channel 'a'");
    CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\",\"filters\":null}"), 0);
    CHECK_INT(parse("{\"type\":\"unsubscribe\",\"channel\":\"a\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_UNSUBSCRIBE);
    /* invalid: ignored by the caller */
    static const char *bad[] = {
        "{\"type\":\"subscribe\"}",
        "{\"type\":\"subscribe\",\"channel\":\"\"}",
        "{\"type\":\"subscribe\",\"channel\":5}",
        "{\"type\":\"subscribe\",\"channel\":null}",
        "{\"type\":\"subscribe\",\"channel\":\"a\\u0000b\"}",
        "{\"type\":\"subscribe\",\"channel\":\"a\",\"filters\":\"skip-self\"}",
        "{\"type\":\"subscribe\",\"channel\":\"a\",\"filters\":[1]}",
        "{\"type\":\"subscribe\",\"channel\":\"a\",\"filters\":[\"1\",2,\"3\",\"4\",\"5\",\"6\"]}",
        "{\"type\":\"unsubscribe\"}",
        "{\"type\":\"Subscribe\",\"channel\":\"a\"}",
        "{\"type\":\"close\"}",
        "{\"type\":5}",
        "{}",
        "[]",
        "[{\"type\":\"detach\"}]",
        "\"detach\"",
        "{\"type\":\"detach\"",
        "",
        "{\"type\":\"detach\"} x",
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        int rc = parse(bad[i]);
        if (rc != TT_EPARSE)
            fprintf(stderr, "bad control %zu accepted: %s\n", i, bad[i]);
        CHECK_INT(rc, TT_EPARSE);
        CHECK(E[0] != 0);
        CHECK(C.channel == NULL && C.num_filters == 0);
    }
}

static void test_ctl_simple(void)
{
    CHECK_INT(parse("{\"type\":\"detach\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_DETACH);
    CHECK_INT(parse("{\"type\":\"flush-delayed\",\"extra\":[1,2]}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_FLUSH_DELAYED);
    CHECK_INT(parse("{\"type\":\"session\",\"id\":\"s1\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_SESSION);
    CHECK_STR(C.session_id, "s1");
    CHECK_INT(parse("{\"type\":\"session\"}"), 0);
    CHECK(C.session_id == NULL);
    CHECK_INT(parse("{\"type\":\"session\",\"id\":1}"), TT_EPARSE);
    CHECK_INT(parse("{\"type\":\"set-meta\",\"name\":\"user\",\"value\":\"alice\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_SET_META);
    CHECK_STR(C.meta_name, "user");
    CHECK_STR(C.meta_value, "alice");
    CHECK_INT(parse("{\"type\":\"set-meta\",\"name\":\"user\"}"), 0);
    CHECK(C.meta_value == NULL); /* delete */
    CHECK_INT(parse("{\"type\":\"set-meta\",\"name\":\"user\",\"value\":null}"), 0);
    CHECK(C.meta_value == NULL);
    CHECK_INT(parse("{\"type\":\"set-meta\",\"name\":\"user\",\"value\":\"\"}"), 0);
    CHECK_STR(C.meta_value, "");
    CHECK_INT(parse("{\"type\":\"set-meta\",\"name\":\"\"}"), TT_EPARSE);
    CHECK_INT(parse("{\"type\":\"set-meta\",\"value\":\"v\"}"), TT_EPARSE);
    CHECK_INT(parse("{\"type\":\"set-meta\",\"name\":\"n\",\"value\":3}"), TT_EPARSE);
    /* duplicate keys: the last wins, as Qt's JSON */
    CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\",\"channel\":\"b\"}"), 0);
    CHECK_STR(C.channel, "b");
}

static void test_ctl_keep_alive(void)
{
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content\":\"{}\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_KEEP_ALIVE);
    CHECK(C.content_len == 2 && memcmp(C.content, "{}", 2) == 0);
    CHECK_INT(C.opcode, TT_WS_OP_TEXT);
    CHECK_INT(C.timeout, 55);
    CHECK(!C.interval);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content\":\"x\",\"timeout\":30,\"mode\":"
                    "\"interval\",\"message-type\":\"ping\"}"),
              0);
    CHECK_INT(C.timeout, 30);
    CHECK(C.interval);
    CHECK_INT(C.opcode, TT_WS_OP_PING);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content\":\"x\",\"timeout\":0,\"mode\":\"idle\"}"),
              0);
    CHECK_INT(C.timeout, 55); /* 0 means the default */
    CHECK(!C.interval);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content\":\"x\",\"mode\":\"weird\"}"), 0);
    CHECK(!C.interval);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content\":\"x\",\"timeout\":1e12}"), 0);
    CHECK_INT(C.timeout, TT_WS_GRIP_MAX_TIMEOUT);
    /* no content: keep-alives off (timeout not even looked at, as Pushpin) */
    CHECK_INT(parse("{\"type\":\"keep-alive\"}"), 0);
    CHECK(C.content == NULL);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"timeout\":\"x\"}"), 0);
    CHECK(C.content == NULL);
    /* content-bin: base64, wins over content; text by default as Pushpin, binary when the
     * bytes are not UTF-8 */
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content-bin\":\"aGk=\",\"content\":\"no\"}"), 0);
    CHECK(C.content_len == 2 && memcmp(C.content, "hi", 2) == 0);
    CHECK_INT(C.opcode, TT_WS_OP_TEXT);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content-bin\":\"AP8=\"}"), 0);
    CHECK(C.content_len == 2 && C.content[0] == 0 && C.content[1] == 0xff);
    CHECK_INT(C.opcode, TT_WS_OP_BINARY);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content-bin\":\"AP8\",\"message-type\":"
                    "\"binary\"}"),
              0); /* padding optional */
    CHECK_INT(C.content_len, 2);
    CHECK_INT(parse("{\"type\":\"keep-alive\",\"content-bin\":\"\"}"), 0);
    CHECK(C.content != NULL && C.content_len == 0);
    static const char *bad[] = {
        "{\"type\":\"keep-alive\",\"content\":\"x\",\"timeout\":-1}",
        "{\"type\":\"keep-alive\",\"content\":\"x\",\"timeout\":\"5\"}",
        "{\"type\":\"keep-alive\",\"content\":5}",
        "{\"type\":\"keep-alive\",\"content-bin\":5}",
        "{\"type\":\"keep-alive\",\"content-bin\":\"a b=\"}",
        "{\"type\":\"keep-alive\",\"content-bin\":\"a\"}",
        "{\"type\":\"keep-alive\",\"content-bin\":\"aG=k\"}",
        "{\"type\":\"keep-alive\",\"content\":\"x\",\"message-type\":\"close\"}",
        "{\"type\":\"keep-alive\",\"content\":\"x\",\"message-type\":5}",
        "{\"type\":\"keep-alive\",\"content-bin\":\"AP8=\",\"message-type\":\"text\"}",
        "{\"type\":\"keep-alive\",\"content\":\"x\",\"mode\":5}",
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        int rc = parse(bad[i]);
        if (rc != TT_EPARSE)
            fprintf(stderr, "bad keep-alive %zu accepted: %s\n", i, bad[i]);
        CHECK_INT(rc, TT_EPARSE);
        CHECK(C.content == NULL);
    }
    /* a ping keep-alive must fit a control frame: 125 bytes pass, 126 do not */
    char j[400];
    snprintf(j, sizeof(j), "{\"type\":\"keep-alive\",\"message-type\":\"ping\",\"content\":\"%0125d\"}",
             0);
    CHECK_INT(parse(j), 0);
    snprintf(j, sizeof(j), "{\"type\":\"keep-alive\",\"message-type\":\"pong\",\"content\":\"%0126d\"}",
             0);
    CHECK_INT(parse(j), TT_EPARSE);
}

static void test_ctl_send_delayed(void)
{
    CHECK_INT(parse("{\"type\":\"send-delayed\",\"content\":\"later\"}"), 0);
    CHECK_INT(C.type, TT_WS_CTL_SEND_DELAYED);
    CHECK_INT(C.timeout, 1);
    CHECK_INT(C.opcode, TT_WS_OP_TEXT);
    CHECK(C.content_len == 5);
    CHECK_INT(parse("{\"type\":\"send-delayed\",\"content\":\"later\",\"timeout\":7,"
                    "\"message-type\":\"binary\"}"),
              0);
    CHECK_INT(C.timeout, 7);
    CHECK_INT(C.opcode, TT_WS_OP_BINARY);
    CHECK_INT(parse("{\"type\":\"send-delayed\"}"), 0);
    CHECK(C.content == NULL);
    CHECK_INT(C.timeout, 1);
    CHECK_INT(parse("{\"type\":\"send-delayed\",\"content\":\"x\",\"timeout\":2.9}"), 0);
    CHECK_INT(C.timeout, 2);
}

static void cleanup(void)
{
    tt_ws_ctl_free(&C);
}

TT_TEST_MAIN(test_grip_ext, test_classify, test_ctl_subscribe, test_ctl_simple,
             test_ctl_keep_alive, test_ctl_send_delayed, cleanup)

/* test_item.c: publish item parsing and JSON Patch. Expected error texts were taken from
 * real Pushpin 1.36 answering the same bodies on its /publish/ endpoint. */
#include <stdlib.h>

#include "pubsub/item.h"
#include "pubsub/pubfast.h"
#include "tt_test.h"

/* Parse a body; returns "OK" or the error text (static buffer). */
static const char *perr(const char *body)
{
    static char err[512];
    struct tt_pub_item *items = NULL;
    size_t n = 0;
    err[0] = '\0';
    int r = tt_pub_parse_body(body, strlen(body), &items, &n, err, sizeof(err));
    if (r == 0) {
        tt_pub_items_free(items, n);
        return "OK";
    }
    if (r != TT_EPARSE || items != NULL || n != 0)
        return "BAD RETURN CONTRACT";
    return err;
}

/* Parse a body expected to hold exactly one valid item. */
static struct tt_pub_item *one(const char *body)
{
    char err[512] = "";
    struct tt_pub_item *items = NULL;
    size_t n = 0;
    int r = tt_pub_parse_body(body, strlen(body), &items, &n, err, sizeof(err));
    if (r != 0 || n != 1) {
        fprintf(stderr, "unexpected failure for %s: %s\n", body, err);
        tt_pub_items_free(items, n);
        return NULL;
    }
    return items;
}

#define ITEM(fmt) "{\"items\":[{\"channel\":\"a\"," fmt "}]}"

static void test_body_errors(void)
{
    CHECK_STR(perr(""), "Body is not valid JSON.");
    CHECK_STR(perr("1"), "Body is not valid JSON.");
    CHECK_STR(perr("\"x\""), "Body is not valid JSON.");
    CHECK_STR(perr("null"), "Body is not valid JSON.");
    CHECK_STR(perr("{\"items\":[]} x"), "Body is not valid JSON.");
    CHECK_STR(perr("{\"items\":["), "Body is not valid JSON.");
    CHECK_STR(perr("[1]"), "Invalid format.");
    CHECK_STR(perr("{}"), "Invalid format: object does not contain 'items'");
    CHECK_STR(perr("{\"items\":1}"), "Invalid format: object contains 'items' with wrong type");
    CHECK_STR(perr("{\"items\":{}}"), "Invalid format: object contains 'items' with wrong type");
    CHECK_STR(perr("{\"items\":null}"), "Invalid format: object contains 'items' with wrong type");
    CHECK_STR(perr("{\"items\":[]}"), "OK");
    CHECK_STR(perr("  {\"items\":[]}\n"), "OK");
}

static void test_item_errors(void)
{
    CHECK_STR(perr("{\"items\":[1]}"), "Invalid format: publish item object is not an object");
    CHECK_STR(perr("{\"items\":[{}]}"),
              "Invalid format: publish item object does not contain 'channel'");
    CHECK_STR(perr("{\"items\":[{\"channel\":1}]}"),
              "Invalid format: publish item object contains 'channel' with wrong type");
    CHECK_STR(perr("{\"items\":[{\"channel\":null}]}"),
              "Invalid format: publish item object contains 'channel' with wrong type");
    CHECK_STR(perr(ITEM("\"id\":5,\"http-stream\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'id' with wrong type");
    CHECK_STR(perr(ITEM("\"id\":null,\"http-stream\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'id' with wrong type");
    CHECK_STR(perr(ITEM("\"prev-id\":1,\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'prev-id' with wrong type");
    CHECK_STR(perr("{\"items\":[{\"channel\":\"a\"}]}"), "Invalid format: no formats specified");
    CHECK_STR(perr(ITEM("\"formats\":{}")), "Invalid format: no formats specified");
    CHECK_STR(perr(ITEM("\"foo\":{}")), "Invalid format: no formats specified");
    CHECK_STR(perr(ITEM("\"formats\":1")),
              "Invalid format: publish item object contains 'formats' with wrong type");
    CHECK_STR(perr(ITEM("\"formats\":null")),
              "Invalid format: publish item object contains 'formats' with wrong type");
    /* A non-empty formats object without known keys passes, as in Pushpin. */
    CHECK_STR(perr(ITEM("\"formats\":{\"foo\":1}")), "OK");
    /* "formats" wins over format keys placed in the item. */
    CHECK_STR(perr(ITEM("\"formats\":{\"ws-message\":{\"content\":\"x\"}},\"http-stream\":1")),
              "OK");
    CHECK_STR(perr(ITEM("\"http-response\":1,\"http-stream\":1")),
              "Invalid format: 'http-response' is not an object");
    CHECK_STR(perr(ITEM("\"http-stream\":null")), "Invalid format: 'http-stream' is not an object");
    CHECK_STR(perr(ITEM("\"meta\":1,\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'meta' with wrong type");
    CHECK_STR(perr(ITEM("\"meta\":{\"b\":\"x\",\"a\":1},\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: 'meta' contains 'a' with wrong type");
    /* Formats are checked before meta. */
    CHECK_STR(perr(ITEM("\"meta\":{\"a\":1},\"ws-message\":{\"content\":1}")),
              "Invalid format: 'ws-message' contains 'content' with wrong type");
    CHECK_STR(perr(ITEM("\"no-seq\":1,\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'no-seq' with wrong type");
    CHECK_STR(perr(ITEM("\"no-seq\":1,\"meta\":{\"a\":1},\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: 'meta' contains 'a' with wrong type");
    CHECK_STR(perr(ITEM("\"size\":-1,\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'size' with invalid value");
    CHECK_STR(perr(ITEM("\"size\":null,\"ws-message\":{\"content\":\"x\"}")),
              "Invalid format: publish item object contains 'size' with wrong type");
    CHECK_STR(perr(ITEM("\"size\":\"x\",\"ws-message\":{\"content\":\"x\"}")), "OK");
    /* One bad item rejects the whole request. */
    CHECK_STR(perr("{\"items\":[{\"channel\":\"a\",\"http-stream\":{\"content\":\"x\"}},"
                   "{\"channel\":1}]}"),
              "Invalid format: publish item object contains 'channel' with wrong type");
    CHECK_STR(perr("{\"items\":[{\"channel\":\"\",\"http-stream\":{\"content\":\"x\"}}]}"), "OK");
}

static void test_http_response_errors(void)
{
    CHECK_STR(perr(ITEM("\"http-response\":{}")),
              "Invalid format: 'http-response' does not contain 'body', 'body-bin', or "
              "'body-patch'");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":1}")),
              "Invalid format: 'http-response' contains 'body' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":null}")),
              "Invalid format: 'http-response' contains 'code' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":[1]}")),
              "Invalid format: 'http-response' contains 'code' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":1000}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":-1}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":999.5}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    /* Pushpin takes these (0..999 after Qt's rounding); thumbtack refuses a code that is
     * not a final status a client can parse (200..599). */
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":999.49}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":-0.5}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":101}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":600}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":599.4}")), "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":\"204\"}")), "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":200}")), "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":-0.6}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":\"1000\"}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":\" +1000 \"}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    /* Qt reads these as 0 and 1: valid for Pushpin, not a status for thumbtack. */
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":\"abc\"}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":true}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"code\":2147483648}")),
              "Invalid format: 'http-response' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"reason\":1}")),
              "Invalid format: 'http-response' contains 'reason' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"reason\":null}")),
              "Invalid format: 'http-response' contains 'reason' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":1}")),
              "Invalid format: 'http-response' contains 'headers' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":null}")),
              "Invalid format: 'http-response' contains 'headers' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[1]}")),
              "Invalid format: headers contains element with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"a\"]]}")),
              "Invalid format: headers contains list with wrong number of elements");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[1,\"a\"]]}")),
              "Invalid format: header contains name element with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"a\",1]]}")),
              "Invalid format: header contains value element with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":{\"a\":1}}")),
              "Invalid format: headers contains 'a' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[1],\"code\":\"x\"}")),
              "Invalid format: headers contains element with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body-bin\":1}")),
              "Invalid format: 'http-response' contains 'body-bin' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body-bin\":1,\"body\":\"x\"}")),
              "Invalid format: 'http-response' contains 'body-bin' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":1,\"body-patch\":[]}")),
              "Invalid format: 'http-response' contains 'body' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body-patch\":{}}")),
              "Invalid format: 'http-response' contains 'body-patch' with wrong type");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body-patch\":[1]}")), "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"content-filters\":1}")),
              "Invalid format: 'http-response' contains 'content-filters' with wrong type");
    /* Non-send actions skip every other check. */
    CHECK_STR(perr(ITEM("\"http-response\":{\"action\":\"hint\",\"body\":5}")), "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"action\":\"close\"}")), "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"action\":\"refresh\"}")), "Invalid format: ");
    CHECK_STR(perr(ITEM("\"http-response\":{\"action\":\"bogus\"}")), "Invalid format: ");
}

static void test_http_stream_errors(void)
{
    CHECK_STR(perr(ITEM("\"http-stream\":{}")),
              "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"action\":\"bogus\"}")), "Invalid format: ");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"action\":\"refresh\"}")), "Invalid format: ");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"action\":1}")),
              "Invalid format: 'http-stream' contains 'action' with wrong type");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"action\":null,\"content\":\"x\"}")),
              "Invalid format: 'http-stream' contains 'action' with wrong type");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"action\":\"close\"}")), "OK");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"action\":\"hint\"}")), "OK");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"content\":1}")),
              "Invalid format: 'http-stream' contains 'content' with wrong type");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"content\":null}")),
              "Invalid format: 'http-stream' contains 'content' with wrong type");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"content-bin\":1}")),
              "Invalid format: 'http-stream' contains 'content-bin' with wrong type");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"content-bin\":\"!!!\"}")), "OK");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"content\":\"x\",\"content-filters\":\"a\"}")),
              "Invalid format: 'http-stream' contains 'content-filters' with wrong type");
    CHECK_STR(perr(ITEM("\"http-stream\":{\"content\":\"x\",\"content-filters\":[1]}")),
              "Invalid format: content-filters contains element with wrong type");
}

static void test_ws_message_errors(void)
{
    CHECK_STR(perr(ITEM("\"ws-message\":{}")),
              "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"type\":\"text\"}")),
              "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"type\":\"binary\"}")),
              "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"type\":\"ping\"}")), "OK");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"type\":\"pong\"}")), "OK");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"type\":\"bogus\",\"content\":\"x\"}")),
              "Invalid format: 'ws-message' contains 'type' with unknown value");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"type\":1,\"content\":\"x\"}")),
              "Invalid format: 'ws-message' contains 'type' with wrong type");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"content-bin\":1}")),
              "Invalid format: 'ws-message' contains 'content-bin' with wrong type");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"content\":1}")),
              "Invalid format: 'ws-message' contains 'content' with wrong type");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"content\":\"x\",\"content-filters\":{}}")),
              "Invalid format: 'ws-message' contains 'content-filters' with wrong type");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"close\",\"code\":-1}")),
              "Invalid format: 'ws-message' contains 'code' with invalid value");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"close\",\"code\":null}")),
              "Invalid format: 'ws-message' contains 'code' with wrong type");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"close\",\"code\":70000}")), "OK");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"close\",\"reason\":1}")),
              "Invalid format: 'ws-message' contains 'reason' with wrong type");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"hint\"}")), "OK");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"refresh\"}")), "OK");
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"nope\"}")), "Invalid format: ");
}

static void test_http_response_fields(void)
{
    struct tt_pub_item *it =
        one("{\"items\":[{\"channel\":\"ch\",\"id\":\"i1\",\"prev-id\":\"i0\",\"no-seq\":true,"
            "\"meta\":{\"z\":\"1\",\"a\":\"2\"},\"formats\":{\"http-response\":{\"code\":404,"
            "\"reason\":\"Nope\",\"headers\":[[\"X-A\",\"1\"],[\"X-B\",\"2\"]],\"body\":\"hi\\n\","
            "\"content-filters\":[\"build-id\",\"var-subst\"]}}}]}");
    CHECK(it != NULL);
    if (!it)
        return;
    CHECK_STR(it->channel, "ch");
    CHECK_STR(it->id, "i1");
    CHECK_STR(it->prev_id, "i0");
    CHECK(it->no_seq);
    CHECK_INT(it->size, -1);
    CHECK_INT(it->num_meta, 2);
    CHECK_STR(it->meta[0].name, "a"); /* sorted as Pushpin's QVariantMap */
    CHECK_STR(it->meta[0].value, "2");
    CHECK_STR(it->meta[1].name, "z");
    CHECK(it->has_http_response);
    CHECK(!it->has_http_stream);
    CHECK(!it->has_ws_message);
    CHECK_INT(it->http_response.action, TT_ACT_SEND);
    CHECK_INT(it->http_response.code, 404);
    CHECK_STR(it->http_response.reason, "Nope");
    CHECK_INT(it->http_response.num_headers, 2);
    CHECK_STR(it->http_response.headers[0].name, "X-A");
    CHECK_STR(it->http_response.headers[1].value, "2");
    CHECK_INT(it->http_response.body_len, 3);
    CHECK_STR(it->http_response.body, "hi\n");
    CHECK(it->http_response.body_patch == NULL);
    CHECK_INT(it->http_response.num_content_filters, 2);
    CHECK_STR(it->http_response.content_filters[1], "var-subst");
    tt_pub_items_free(it, 1);

    it = one(ITEM("\"http-response\":{\"body\":\"x\",\"reason\":\"\",\"headers\":{\"b\":\"2\","
                  "\"a\":\"1\"},\"code\":\"201\"}"));
    CHECK(it != NULL);
    if (!it)
        return;
    CHECK_INT(it->http_response.code, 201);
    CHECK(it->http_response.reason == NULL); /* empty means the standard phrase */
    CHECK_INT(it->http_response.num_headers, 2);
    CHECK_STR(it->http_response.headers[0].name, "a");
    CHECK_STR(it->http_response.headers[1].name, "b");
    CHECK(it->id == NULL && it->prev_id == NULL && !it->no_seq);
    tt_pub_items_free(it, 1);

    it = one(ITEM("\"http-response\":{\"body\":\"x\"}"));
    CHECK(it && it->http_response.code == 200 && it->http_response.num_headers == 0);
    tt_pub_items_free(it, 1);

    it = one(ITEM("\"http-response\":{\"body-patch\":[{\"op\":\"add\",\"path\":\"/a\","
                  "\"value\":1}],\"size\":3}"));
    CHECK(it && it->http_response.body == NULL && json_is_array(it->http_response.body_patch));
    tt_pub_items_free(it, 1);

    it = one(ITEM("\"http-response\":{\"action\":\"close\"}"));
    CHECK(it && it->http_response.action == TT_ACT_CLOSE);
    tt_pub_items_free(it, 1);
}

static void test_base64(void)
{
    struct tt_pub_item *it2;
    struct tt_pub_item *it = one(ITEM("\"http-response\":{\"body-bin\":\"AAEC/w==\"}"));
    CHECK(it != NULL);
    if (it) {
        CHECK_INT(it->http_response.body_len, 4);
        CHECK(memcmp(it->http_response.body, "\x00\x01\x02\xff", 4) == 0);
        tt_pub_items_free(it, 1);
    }
    /* body-bin wins over body. */
    it = one(ITEM("\"http-response\":{\"body\":\"text\",\"body-bin\":\"aGk=\"}"));
    CHECK(it && it->http_response.body_len == 2 && memcmp(it->http_response.body, "hi", 2) == 0);
    tt_pub_items_free(it, 1);
    /* Unpadded, and with junk between characters (Qt skips it). */
    it = one(ITEM("\"http-stream\":{\"content-bin\":\"aGV s\\nbG8\"}"));
    CHECK(it && it->http_stream.content_len == 5 &&
          memcmp(it->http_stream.content, "hello", 5) == 0);
    tt_pub_items_free(it, 1);
    /* '=' is skipped like any other junk; a lone leftover character yields no byte. */
    it = one(ITEM("\"http-stream\":{\"content-bin\":\"aGk=aGk=\"}"));
    CHECK(it && it->http_stream.content_len == 4 &&
          memcmp(it->http_stream.content, "hi\x1a\x1a", 4) == 0);
    it2 = one(ITEM("\"http-stream\":{\"content-bin\":\"aGkxa\"}"));
    CHECK(it2 && it2->http_stream.content_len == 3 &&
          memcmp(it2->http_stream.content, "hi1", 3) == 0);
    tt_pub_items_free(it2, 1);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"http-stream\":{\"content-bin\":\"\"}"));
    CHECK(it && it->http_stream.content_len == 0 && it->http_stream.content != NULL);
    tt_pub_items_free(it, 1);
    /* Garbage decodes to nothing rather than failing. */
    it = one(ITEM("\"http-stream\":{\"content-bin\":\"!!!\"}"));
    CHECK(it && it->http_stream.content_len == 0);
    tt_pub_items_free(it, 1);
    /* Trailing bits that do not make a byte are dropped: "aGl" -> "hi". */
    it = one(ITEM("\"http-stream\":{\"content-bin\":\"aGl\"}"));
    CHECK(it && it->http_stream.content_len == 2 && memcmp(it->http_stream.content, "hi", 2) == 0);
    tt_pub_items_free(it, 1);
}

static void test_stream_and_ws_fields(void)
{
    struct tt_pub_item *it = one(ITEM("\"http-stream\":{\"content\":\"a\\u0000b\"},"
                                      "\"ws-message\":{\"content-bin\":\"AAE=\"}"));
    CHECK(it != NULL);
    if (!it)
        return;
    CHECK(it->has_http_stream && it->has_ws_message && !it->has_http_response);
    CHECK_INT(it->http_stream.action, TT_ACT_SEND);
    CHECK_INT(it->http_stream.content_len, 3);
    CHECK(memcmp(it->http_stream.content, "a\0b", 3) == 0);
    CHECK_INT(it->ws_message.type, TT_WS_BINARY);
    CHECK_INT(it->ws_message.content_len, 2);
    CHECK_INT(it->ws_message.code, -1);
    tt_pub_items_free(it, 1);

    it = one(ITEM("\"ws-message\":{\"content\":\"hey\"}"));
    CHECK(it && it->ws_message.type == TT_WS_TEXT && it->ws_message.content_len == 3);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"ws-message\":{\"type\":\"binary\",\"content\":\"hey\"}"));
    CHECK(it && it->ws_message.type == TT_WS_BINARY);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"ws-message\":{\"type\":\"ping\"}"));
    CHECK(it && it->ws_message.type == TT_WS_PING && it->ws_message.content == NULL);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"ws-message\":{\"action\":\"close\",\"code\":1001,\"reason\":\"bye\"}"));
    CHECK(it && it->ws_message.action == TT_ACT_CLOSE && it->ws_message.code == 1001);
    CHECK(it && it->ws_message.reason && strcmp(it->ws_message.reason, "bye") == 0);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"ws-message\":{\"action\":\"close\"}"));
    CHECK(it && it->ws_message.code == -1 && it->ws_message.reason == NULL);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"ws-message\":{\"action\":\"refresh\"}"));
    CHECK(it && it->ws_message.action == TT_ACT_REFRESH);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"http-stream\":{\"action\":\"close\"}"));
    CHECK(it && it->http_stream.action == TT_ACT_CLOSE && it->http_stream.content == NULL);
    tt_pub_items_free(it, 1);
    it = one(ITEM("\"http-stream\":{\"action\":\"hint\"}"));
    CHECK(it && it->http_stream.action == TT_ACT_HINT);
    tt_pub_items_free(it, 1);
}

static void test_multiple_items(void)
{
    const char *body = "{\"items\":[{\"channel\":\"a\",\"http-stream\":{\"content\":\"1\"}},"
                       "{\"channel\":\"b\",\"ws-message\":{\"content\":\"2\"}}]}";
    struct tt_pub_item *items = NULL;
    size_t n = 0;
    char err[256];
    CHECK_INT(tt_pub_parse_body(body, strlen(body), &items, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(items[0].channel, "a");
        CHECK_STR(items[1].channel, "b");
        CHECK(items[1].has_ws_message && !items[1].has_http_stream);
    }
    tt_pub_items_free(items, n);
}

static void test_item_from_json_direct(void)
{
    json_error_t jerr;
    json_t *obj = json_loads("{\"http-stream\":{\"content\":\"x\"}}", 0, &jerr);
    struct tt_pub_item it;
    char err[256] = "";
    /* ZMQ SUB input: the topic is the channel, so "channel" is optional. */
    CHECK_INT(tt_pub_item_from_json(obj, false, &it, err, sizeof(err)), 0);
    CHECK(it.channel == NULL);
    tt_pub_item_deinit(&it);
    CHECK_INT(tt_pub_item_from_json(obj, true, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "publish item object does not contain 'channel'");
    CHECK(it.channel == NULL && !it.has_http_stream && it.http_stream.content == NULL);
    json_decref(obj);

    obj = json_loads("{\"channel\":5,\"http-stream\":{\"content\":\"x\"}}", 0, &jerr);
    CHECK_INT(tt_pub_item_from_json(obj, false, &it, err, sizeof(err)), 0);
    CHECK(it.channel == NULL);
    tt_pub_item_deinit(&it);
    json_decref(obj);

    /* A small err buffer is truncated, not overrun. */
    obj = json_loads("{\"channel\":\"c\"}", 0, &jerr);
    char small[6];
    CHECK_INT(tt_pub_item_from_json(obj, true, &it, small, sizeof(small)), TT_EPARSE);
    CHECK_STR(small, "no fo");
    json_decref(obj);
}

/* Apply a patch given as JSON text to doc; returns the result or "FAIL" (static). */
static const char *patch(const char *doc, const char *ops)
{
    static char out[1024];
    json_error_t jerr;
    json_t *p = json_loads(ops, 0, &jerr);
    if (!p)
        return "BAD TEST PATCH";
    size_t len = 0;
    char *r = tt_json_patch_apply(doc, strlen(doc), p, &len);
    json_decref(p);
    if (!r)
        return "FAIL";
    snprintf(out, sizeof(out), "%s", r);
    if (strlen(out) != len)
        snprintf(out, sizeof(out), "LENGTH MISMATCH");
    free(r);
    return out;
}

static void test_json_patch(void)
{
    /* add */
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\",\"value\":[1,2]}]"),
              "{\"a\":1,\"b\":[1,2]}");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":2}]"), "{\"a\":2}");
    CHECK_STR(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/1\",\"value\":9}]"), "[1,9,2]");
    CHECK_STR(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/2\",\"value\":9}]"), "[1,2,9]");
    CHECK_STR(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":9}]"), "[1,2,9]");
    CHECK_STR(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":9}]"), "FAIL");
    CHECK_STR(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/01\",\"value\":9}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/x/y\",\"value\":9}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[3]}]"), "[3]");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\"}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"b\",\"value\":1}]"), "FAIL");
    /* ~0 and ~1 escapes */
    CHECK_STR(patch("{}", "[{\"op\":\"add\",\"path\":\"/a~1b~0c\",\"value\":1}]"), "{\"a/b~c\":1}");
    CHECK_STR(patch("{\"a/b\":{\"~\":1}}", "[{\"op\":\"replace\",\"path\":\"/a~1b/~0\","
                                           "\"value\":2}]"),
              "{\"a/b\":{\"~\":2}}");
    CHECK_STR(patch("{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]"), "FAIL");
    CHECK_STR(patch("{}", "[{\"op\":\"add\",\"path\":\"/a~\",\"value\":1}]"), "FAIL");
    /* remove */
    CHECK_STR(patch("{\"a\":1,\"b\":2}", "[{\"op\":\"remove\",\"path\":\"/a\"}]"), "{\"b\":2}");
    CHECK_STR(patch("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/1\"}]"), "[1,3]");
    CHECK_STR(patch("[1]", "[{\"op\":\"remove\",\"path\":\"/1\"}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]"), "FAIL");
    /* replace keeps member position */
    CHECK_STR(patch("{\"a\":1,\"b\":2}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":\"x\"}]"),
              "{\"a\":\"x\",\"b\":2}");
    CHECK_STR(patch("[1,2]", "[{\"op\":\"replace\",\"path\":\"/0\",\"value\":0}]"), "[0,2]");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":0}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":0}]"), "0");
    /* move */
    CHECK_STR(patch("{\"a\":{\"b\":1},\"c\":[]}",
                    "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/c/0\"}]"),
              "{\"a\":{},\"c\":[1]}");
    CHECK_STR(patch("[1,2,3]", "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/-\"}]"), "[2,3,1]");
    CHECK_STR(patch("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]"),
              "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/y\"}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"move\",\"path\":\"/y\"}]"), "FAIL");
    /* copy */
    CHECK_STR(patch("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/c\"}]"),
              "{\"a\":{\"b\":1,\"c\":{\"b\":1}}}");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/z\",\"path\":\"/b\"}]"), "FAIL");
    /* test */
    CHECK_STR(patch("{\"a\":[1,{\"b\":\"c\"}]}",
                    "[{\"op\":\"test\",\"path\":\"/a\",\"value\":[1.0,{\"b\":\"c\"}]}]"),
              "{\"a\":[1,{\"b\":\"c\"}]}");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]"), "FAIL");
    CHECK_STR(patch("{\"a\":null}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":false}]"), "FAIL");
    CHECK_STR(patch("{\"a\":{\"x\":1,\"y\":2}}",
                    "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"y\":2,\"x\":1}}]"),
              "{\"a\":{\"x\":1,\"y\":2}}");
    /* a failing op discards the whole patch */
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\",\"value\":1},"
                                 "{\"op\":\"test\",\"path\":\"/a\",\"value\":5}]"),
              "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[{\"op\":\"frob\",\"path\":\"/a\"}]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[1]"), "FAIL");
    CHECK_STR(patch("{\"a\":1}", "[]"), "{\"a\":1}");
    /* document problems */
    CHECK_STR(patch("", "[]"), "FAIL");
    CHECK_STR(patch("not json", "[]"), "FAIL");
    /* trailing newline kept; reals printed short */
    CHECK_STR(patch("{\"a\": 0.1}\n", "[{\"op\":\"add\",\"path\":\"/b\",\"value\":\"x\"}]"),
              "{\"a\":0.1,\"b\":\"x\"}\n");
    CHECK_STR(patch("{\"a\":1}\r\n", "[]"), "{\"a\":1}\r\n");
    /* non-object patch argument */
    size_t len;
    json_t *obj = json_object();
    CHECK(tt_json_patch_apply("{}", 2, obj, &len) == NULL);
    json_decref(obj);
}

/* Values that end up in a held client's response head (issue 11: response splitting). */
static void test_head_values(void)
{
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"reason\":\"OK\\r\\nX-Injected: 1\"}")),
              "Invalid format: 'http-response' contains 'reason' with a control character");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"reason\":\"O\\u0000K\"}")),
              "Invalid format: 'http-response' contains 'reason' with a control character");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":{\"X\":\"a\\u0000b\"}}")),
              "Invalid format: 'http-response' contains a header with a control character");
    /* jansson refuses a NUL in an object key outright */
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":{\"X\\u0000Y\":\"a\"}}")),
              "Body is not valid JSON.");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"X\\u0000\",\"a\"]]}")),
              "Invalid format: 'http-response' contains a header with a control character");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"reason\":\"Fine\\tThanks \u00e9\"}")),
              "OK");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":{\"X-A\":\"1\\r\\n\\r\\n"
                        "HTTP/1.1 200 OK\"}}")),
              "Invalid format: 'http-response' contains header 'X-A' with a control character");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"X-A\",\"a\\nb\"]]}")),
              "Invalid format: 'http-response' contains header 'X-A' with a control character");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"X-A\",\"a\\u007fb\"]]}")),
              "Invalid format: 'http-response' contains header 'X-A' with a control character");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"X A\\r\\n\",\"1\"]]}")),
              "Invalid format: 'http-response' contains header name 'X A\\x0d\\x0a' that is not "
              "a token");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":[[\"\",\"1\"]]}")),
              "Invalid format: 'http-response' contains header name '' that is not a token");
    CHECK_STR(perr(ITEM("\"http-response\":{\"body\":\"x\",\"headers\":{\"X:Y\":\"1\"}}")),
              "Invalid format: 'http-response' contains header name 'X:Y' that is not a token");
    /* Pushpin's own errors come first. */
    CHECK_STR(perr(ITEM("\"http-response\":{\"reason\":\"a\\nb\"}")),
              "Invalid format: 'http-response' does not contain 'body', 'body-bin', or "
              "'body-patch'");

    /* framing and hop-by-hop headers are dropped, the rest kept in order */
    struct tt_pub_item *it = one(ITEM(
        "\"http-response\":{\"body\":\"x\",\"headers\":[[\"Content-Length\",\"99\"],"
        "[\"X-A\",\"1\\t2\"],[\"transfer-encoding\",\"chunked\"],[\"Connection\",\"close\"],"
        "[\"Keep-Alive\",\"x\"],[\"Upgrade\",\"h2c\"],[\"Proxy-Connection\",\"x\"],[\"TE\",\"x\"],"
        "[\"Trailer\",\"x\"],[\"Content-Type\",\"text/plain\"]]}"));
    CHECK(it != NULL);
    if (it) {
        CHECK_INT(it->http_response.num_headers, 2);
        CHECK_STR(it->http_response.headers[0].name, "X-A");
        CHECK_STR(it->http_response.headers[0].value, "1\t2");
        CHECK_STR(it->http_response.headers[1].name, "Content-Type");
        tt_pub_items_free(it, 1);
    }

    /* ids go back to the backend in Grip-Last lines */
    CHECK_STR(perr("{\"items\":[{\"channel\":\"a\",\"id\":\"1\\r\\nX: y\",\"http-stream\":"
                   "{\"content\":\"x\"}}]}"),
              "Invalid format: publish item object contains 'id' with a control character");
    CHECK_STR(perr("{\"items\":[{\"channel\":\"a\",\"prev-id\":\"\\n\",\"http-stream\":"
                   "{\"content\":\"x\"}}]}"),
              "Invalid format: publish item object contains 'prev-id' with a control character");

    /* ws-message close reason */
    CHECK_STR(perr(ITEM("\"ws-message\":{\"action\":\"close\",\"reason\":\"a\\r\\nb\"}")),
              "Invalid format: 'ws-message' contains 'reason' with a control character");
    char body[400];
    snprintf(body, sizeof(body), ITEM("\"ws-message\":{\"action\":\"close\",\"reason\":\"%0124d\"}"),
             0);
    CHECK_STR(perr(body), "Invalid format: 'ws-message' contains 'reason' longer than 123 bytes");
    snprintf(body, sizeof(body), ITEM("\"ws-message\":{\"action\":\"close\",\"reason\":\"%0123d\"}"),
             0);
    CHECK_STR(perr(body), "OK");
}

/* A patch that doubles the document with every op is refused once it would pass the
 * growth budget (16 MiB), instead of asking for gigabytes (found by fuzz_publish). */
static void test_json_patch_growth_cap(void)
{
    char patch_text[8192];
    size_t n = 0;
    n += (size_t)snprintf(patch_text + n, sizeof(patch_text) - n,
                          "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[\"%0100d\"]}", 0);
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(patch_text + n, sizeof(patch_text) - n,
                              ",{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/-\"}");
    snprintf(patch_text + n, sizeof(patch_text) - n, "]");
    CHECK_STR(patch("{}", patch_text), "FAIL");
    /* Ten doublings (about 1000 strings of 100 bytes) are well within it. */
    n = (size_t)snprintf(patch_text, sizeof(patch_text),
                         "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[\"%0100d\"]}", 0);
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(patch_text + n, sizeof(patch_text) - n,
                              ",{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/-\"}");
    snprintf(patch_text + n, sizeof(patch_text) - n,
             ",{\"op\":\"replace\",\"path\":\"/a\",\"value\":1}]");
    CHECK_STR(patch("{}", patch_text), "{\"a\":1}");
}


/* Is the body taken by the fast path? When it is, its items must match the tree's
 * (the fields the fast shape can set; fuzz_publish compares every field). */
static bool fast(const char *body)
{
    struct tt_pub_item *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    char err[256];
    if (!tt__pub_parse_fast(body, strlen(body), &a, &na)) {
        CHECK(a == NULL && na == 0);
        return false;
    }
    CHECK_INT(tt_pub_parse_body_tree(body, strlen(body), &b, &nb, err, sizeof(err)), 0);
    CHECK_INT(na, nb);
    for (size_t i = 0; i < na && i < nb; i++) {
        CHECK_STR(a[i].channel, b[i].channel);
        CHECK(!a[i].id == !b[i].id && (!a[i].id || strcmp(a[i].id, b[i].id) == 0));
        CHECK(!a[i].prev_id == !b[i].prev_id &&
              (!a[i].prev_id || strcmp(a[i].prev_id, b[i].prev_id) == 0));
        CHECK_INT(a[i].size, b[i].size);
        CHECK(a[i].has_http_stream == b[i].has_http_stream);
        CHECK_INT(a[i].http_stream.content_len, b[i].http_stream.content_len);
        if (a[i].has_http_stream && b[i].has_http_stream)
            CHECK(memcmp(a[i].http_stream.content, b[i].http_stream.content,
                         a[i].http_stream.content_len) == 0);
        CHECK(a[i].has_ws_message == b[i].has_ws_message);
        CHECK_INT(a[i].ws_message.type, b[i].ws_message.type);
        CHECK_INT(a[i].ws_message.code, b[i].ws_message.code);
        CHECK_INT(a[i].ws_message.content_len, b[i].ws_message.content_len);
        CHECK(a[i].has_http_response == b[i].has_http_response);
        CHECK_INT(a[i].http_response.code, b[i].http_response.code);
        CHECK_INT(a[i].http_response.body_len, b[i].http_response.body_len);
    }
    tt_pub_items_free(a, na);
    tt_pub_items_free(b, nb);
    return true;
}

static void test_fast_path(void)
{
    CHECK(fast("{\"items\":[]}"));
    CHECK(fast(" {\"items\" : [ ] }\r\n"));
    CHECK(fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"@1\\n\"}}")));
    CHECK(fast("{\"items\":[{\"formats\":{\"ws-message\":{\"content\":\"x\"},"
               "\"http-response\":{\"body\":\"y\"},\"http-stream\":{\"content\":\"\"}},"
               "\"prev-id\":\"p\",\"id\":\"i\",\"channel\":\"a\"},"
               "{\"channel\":\"b\",\"formats\":{\"http-stream\":{\"content\":\"q\\\"\\\\\\/\\b\\f\\r\\t\"}}}]}"));
    CHECK(fast(ITEM("\"id\":\"a\\tb\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}")));
    CHECK(fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}}")));

    /* Everything else goes through jansson. */
    CHECK(!fast(""));
    CHECK(!fast("{\"items\":[]} x"));
    CHECK(!fast("{\"items\":[],\"items\":[]}"));
    CHECK(!fast("{\"items\":[{\"channel\":\"a\"}]}")); /* no formats: jansson's error */
    CHECK(!fast(ITEM("\"formats\":{}")));
    CHECK(!fast(ITEM("\"channel\":\"b\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}")));
    CHECK(!fast(ITEM("\"http-stream\":{\"content\":\"x\"}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"\\u0041\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"\\x\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"a\tb\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"\xed\xa0\x80\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"\xc0\xaf\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"x\",\"action\":\"send\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content-bin\":\"eA==\"}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":1}}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"x\"}},\"meta\":{}")));
    CHECK(!fast(ITEM("\"formats\":{\"http-stream\":{\"content\":\"x\"}},\"no-seq\":true")));
    CHECK(!fast(ITEM("\"id\":\"a\\rb\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}")));
    CHECK(!fast(ITEM("\"prev-id\":\"a\\nb\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}")));
    CHECK(!fast("{\"items\":[{\"channel\":\"a\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}},]}"));
    CHECK(!fast("{\"items\":[{\"channel\":\"a\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}}"));
    /* The same errors as before, from the jansson path. */
    CHECK_STR(perr(ITEM("\"id\":\"a\\rb\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}")),
              "Invalid format: publish item object contains 'id' with a control character");
    CHECK_STR(perr(ITEM("\"formats\":{\"http-stream\":{\"content\":\"\xed\xa0\x80\"}}")),
              "Body is not valid JSON.");
    CHECK_STR(perr(ITEM("\"formats\":{}")), "Invalid format: no formats specified");
}

TT_TEST_MAIN(test_fast_path, test_body_errors, test_item_errors, test_http_response_errors, test_http_stream_errors,
             test_ws_message_errors, test_http_response_fields, test_base64,
             test_stream_and_ws_fields, test_multiple_items, test_item_from_json_direct,
             test_json_patch, test_json_patch_growth_cap, test_head_values)

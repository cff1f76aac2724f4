/* Unit tests for zmq/zpub: PULL and SUB publish messages in every encoding Pushpin takes
 * (J + JSON, tnetstring, T + tnetstring), the tnetstring-only body/content rules, the SUB
 * topic as channel, the publish command's items, and hostile messages. */
#include <stdlib.h>

#include "tt_test.h"
#include "zmq/zpub.h"

#define LIT(s) s, sizeof(s) - 1

static const char stream_tnet[] = "64:7:channel,1:c,7:formats,36:11:http-stream,17:7:content,"
                                  "4:hi\0\n,}}}";

static void test_pull_encodings(void)
{
    struct tt_pub_item it;
    char err[256];
    /* Plain tnetstring: content is raw bytes (NUL included). */
    CHECK_INT(tt_zpub_decode_pull(LIT(stream_tnet), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.channel, "c");
    CHECK(it.has_http_stream && it.http_stream.content_len == 4 &&
          memcmp(it.http_stream.content, "hi\0\n", 4) == 0);
    tt_pub_item_deinit(&it);

    /* "T" prefix. */
    char t[sizeof(stream_tnet) + 1];
    t[0] = 'T';
    memcpy(t + 1, stream_tnet, sizeof(stream_tnet));
    CHECK_INT(tt_zpub_decode_pull(t, sizeof(t) - 1, NULL, &it, err, sizeof(err)), 0);
    CHECK(it.http_stream.content_len == 4);
    tt_pub_item_deinit(&it);

    /* "J" + JSON, with content-bin as base64. */
    static const char j[] = "J{\"channel\":\"c\",\"id\":\"i1\",\"formats\":{\"http-stream\":{"
                            "\"content-bin\":\"aGk=\"}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(j), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.id, "i1");
    CHECK(it.http_stream.content_len == 2 && memcmp(it.http_stream.content, "hi", 2) == 0);
    tt_pub_item_deinit(&it);

    /* Every item field from a tnetstring: code as a digit string, headers, meta, no-seq. */
    static const char full[] =
        "141:7:channel,1:c,2:id,1:1,7:prev-id,1:0,6:no-seq,4:true!4:meta,8:1:k,1:v,}"
        "13:http-response,49:4:code,3:201,4:body,1:B,7:headers,11:8:1:X,1:y,]]}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(full), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.prev_id, "0");
    CHECK(it.no_seq);
    CHECK_INT(it.num_meta, 1);
    CHECK_STR(it.meta[0].value, "v");
    CHECK_INT(it.http_response.code, 201);
    CHECK_INT(it.http_response.num_headers, 1);
    CHECK_STR(it.http_response.headers[0].name, "X");
    CHECK(it.http_response.body_len == 1 && it.http_response.body[0] == 'B');
    tt_pub_item_deinit(&it);
}

static void test_tnet_bin_rules(void)
{
    struct tt_pub_item it;
    char err[256];
    /* body-bin / content-bin of http formats are JSON-only in Pushpin. */
    static const char rbin[] = "67:7:channel,1:c,7:formats,39:13:http-response,18:8:body-bin,"
                               "4:aGk=,}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(rbin), NULL, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "received message with invalid format: 'http-response' does not contain "
                   "'body' or 'body-patch'");
    static const char sbin[] = "69:7:channel,1:c,7:formats,41:11:http-stream,22:11:content-bin,"
                               "4:aGk=,}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(sbin), NULL, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err,
              "received message with invalid format: 'http-stream' does not contain 'content'");
    /* ws-message content-bin is raw bytes, and makes a binary message. */
    static const char wbin[] = "66:7:channel,1:c,7:formats,38:10:ws-message,20:11:content-bin,"
                               "2:\0\x01,}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(wbin), NULL, &it, err, sizeof(err)), 0);
    CHECK(it.has_ws_message && it.ws_message.type == TT_WS_BINARY);
    CHECK(it.ws_message.content_len == 2 && it.ws_message.content[1] == 1);
    tt_pub_item_deinit(&it);
    /* The same JSON item through J: body-bin is base64. */
    static const char jbin[] =
        "J{\"channel\":\"c\",\"formats\":{\"http-response\":{\"body-bin\":\"aGk=\"}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(jbin), NULL, &it, err, sizeof(err)), 0);
    CHECK(it.http_response.body_len == 2);
    tt_pub_item_deinit(&it);
    static const char jnone[] = "J{\"channel\":\"c\",\"formats\":{\"http-response\":{}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(jnone), NULL, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "received message with invalid format: 'http-response' does not contain "
                   "'body', 'body-bin', or 'body-patch'");
}

static void test_sub(void)
{
    struct tt_pub_item it;
    char err[256];
    /* The topic is the channel; an item channel is ignored, even one of the wrong type. */
    static const char named[] = "67:7:channel,7:ignored,7:formats,33:11:http-stream,14:7:content,"
                                "1:x,}}}";
    CHECK_INT(tt_zpub_decode_sub(LIT("topic"), LIT(named), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.channel, "topic");
    tt_pub_item_deinit(&it);
    static const char wrong[] = "61:7:channel,1:1#7:formats,33:11:http-stream,14:7:content,"
                                "1:x,}}}";
    CHECK_INT(tt_zpub_decode_sub(LIT("topic"), LIT(wrong), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.channel, "topic");
    tt_pub_item_deinit(&it);
    static const char none[] = "47:7:formats,33:11:http-stream,14:7:content,1:x,}}}";
    CHECK_INT(tt_zpub_decode_sub(LIT("t2"), LIT(none), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.channel, "t2");
    tt_pub_item_deinit(&it);
    /* An empty topic: the item must name its channel. */
    CHECK_INT(tt_zpub_decode_sub("", 0, LIT(none), NULL, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "received message with invalid format: publish item object does not contain "
                   "'channel'");
    CHECK_INT(tt_zpub_decode_sub("", 0, LIT(named), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.channel, "ignored");
    tt_pub_item_deinit(&it);
    /* J on SUB too. */
    static const char j[] = "J{\"http-stream\":{\"content\":\"x\"}}";
    CHECK_INT(tt_zpub_decode_sub(LIT("jt"), LIT(j), NULL, &it, err, sizeof(err)), 0);
    CHECK_STR(it.channel, "jt");
    tt_pub_item_deinit(&it);
    /* NUL bytes in a channel (topic or item) are refused. */
    CHECK_INT(tt_zpub_decode_sub(LIT("a\0b"), LIT(none), NULL, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "received message with invalid format: channel contains a NUL byte");
    static const char nul[] = "63:7:channel,3:a\0b,7:formats,33:11:http-stream,14:7:content,"
                              "1:x,}}}";
    CHECK_INT(tt_zpub_decode_pull(LIT(nul), NULL, &it, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "received message with invalid format: channel contains a NUL byte");
    CHECK_INT(tt_zpub_decode_sub("", 0, LIT(nul), NULL, &it, err, sizeof(err)), TT_EPARSE);
}

struct bad {
    const char *in;
    size_t len;
    int rc;
    const char *err;
};

#define BAD(lit, rc, e)                                                                            \
    {                                                                                              \
        lit, sizeof(lit) - 1, rc, e                                                                \
    }

static void test_hostile(void)
{
    static const struct bad cases[] = {
        BAD("", TT_EPARSE,
            "received message with invalid format (tnetstring parse failed: truncated input at "
            "offset 0)"),
        BAD("T", TT_EPARSE,
            "received message with invalid format (tnetstring parse failed: truncated input at "
            "offset 1)"),
        BAD("J", TT_EPARSE, "received message with invalid format (json parse failed)"),
        BAD("J{\"channel\":", TT_EPARSE,
            "received message with invalid format (json parse failed)"),
        BAD("J[1,2]", TT_EPARSE, "received message with invalid format (not a valid json object)"),
        BAD("J5", TT_EPARSE, "received message with invalid format (json parse failed)"),
        BAD("64:7:channel,1:c,7:formats,36:11:http-stream,17:7:content,4:hi", TT_EPARSE,
            "received message with invalid format (tnetstring parse failed: truncated input at "
            "offset 0)"),
        BAD("T99999999:", TT_ETOOBIG,
            "received message with invalid format (tnetstring parse failed: length above the "
            "size limit at offset 1)"),
        BAD("9999999999999:", TT_EPARSE,
            "received message with invalid format (tnetstring parse failed: bad length prefix at "
            "offset 0)"),
        BAD("{\"channel\":\"c\"}", TT_EPARSE,
            "received message with invalid format (tnetstring parse failed: bad length prefix at "
            "offset 0)"),
        BAD("5:hello,", TT_EPARSE,
            "received message with invalid format: publish item object is not an object"),
        BAD("0:]", TT_EPARSE,
            "received message with invalid format: publish item object is not an object"),
        BAD("0:}", TT_EPARSE,
            "received message with invalid format: publish item object does not contain "
            "'channel'"),
        BAD("14:7:channel,1:c,}", TT_EPARSE,
            "received message with invalid format: no formats specified"),
        BAD("14:7:channel,1:1#}", TT_EPARSE,
            "received message with invalid format: publish item object contains 'channel' with "
            "wrong type"),
    };
    struct tt_tnet_limits lim = tt_tnet_default_limits;
    lim.max_size = 1000;
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        struct tt_pub_item it;
        char err[256] = "";
        int r = tt_zpub_decode_pull(cases[i].in, cases[i].len, &lim, &it, err, sizeof(err));
        if (r != cases[i].rc || strcmp(err, cases[i].err) != 0)
            fprintf(stderr, "case %zu: %d %s\n", i, r, err);
        CHECK_INT(r, cases[i].rc);
        CHECK_STR(err, cases[i].err);
        CHECK(it.channel == NULL);
    }
}

static void test_command_items(void)
{
    struct tt_pub_item *items;
    size_t n;
    char err[256];
    json_t *args;
    static const char two[] =
        "129:5:items,116:61:7:channel,1:a,7:formats,33:11:http-stream,14:7:content,1:x,}}}"
        "47:7:channel,1:b,11:http-stream,14:7:content,1:y,}}]}";
    CHECK_INT(tt_tnet_parse(LIT(two), NULL, &args, NULL), (int)sizeof(two) - 1);
    CHECK_INT(tt_zpub_items_from_args(args, &items, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 2);
    CHECK_STR(items[1].channel, "b");
    CHECK(items[1].http_stream.content_len == 1);
    tt_pub_items_free(items, n);
    json_decref(args);

    static const char bad[] = "43:5:items,31:27:7:channel,1:a,7:formats,0:}}]}";
    CHECK_INT(tt_tnet_parse(LIT(bad), NULL, &args, NULL), (int)sizeof(bad) - 1);
    CHECK_INT(tt_zpub_items_from_args(args, &items, &n, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "Invalid format: no formats specified");
    CHECK(items == NULL && n == 0);
    json_decref(args);

    args = json_object();
    CHECK_INT(tt_zpub_items_from_args(args, &items, &n, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "Invalid format: object does not contain 'items'");
    json_object_set_new(args, "items", json_string("x"));
    CHECK_INT(tt_zpub_items_from_args(args, &items, &n, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "Invalid format: object contains 'items' with wrong type");
    json_object_set_new(args, "items", json_array());
    CHECK_INT(tt_zpub_items_from_args(args, &items, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 0);
    tt_pub_items_free(items, n);
    json_decref(args);
}

TT_TEST_MAIN(test_pull_encodings, test_tnet_bin_rules, test_sub, test_hostile, test_command_items)

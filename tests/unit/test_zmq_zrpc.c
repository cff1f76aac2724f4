/* Unit tests for zmq/zrpc: the ROUTER envelope rules of Pushpin's ZmqReqMessage, command
 * requests as Pushpin's tools/command.py sends them, answers byte for byte, and hostile
 * requests. */
#include <stdlib.h>

#include "tt_test.h"
#include "zmq/zrpc.h"

#define LIT(s) s, sizeof(s) - 1
#define PART(s)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

static void test_envelope(void)
{
    size_t nh;
    const struct tt_zmq_part *c;
    /* A REQ client through a ROUTER: [identity, "", body]. */
    struct tt_zmq_part m1[] = {PART("\x00k\x8b\x45\x67"), PART(""), PART("body")};
    CHECK_INT(tt_zrpc_envelope(m1, 3, &nh, &c), 0);
    CHECK_INT(nh, 1);
    CHECK(c == &m1[2]);
    /* Through a proxy: two identities. Empty parts after the delimiter are dropped. */
    struct tt_zmq_part m2[] = {PART("a"), PART("b"), PART(""), PART(""), PART("x"), PART("")};
    CHECK_INT(tt_zrpc_envelope(m2, 6, &nh, &c), 0);
    CHECK_INT(nh, 2);
    CHECK(c == &m2[4]);
    /* No delimiter, no content, two contents: skipped. */
    struct tt_zmq_part m3[] = {PART("a"), PART("x")};
    CHECK_INT(tt_zrpc_envelope(m3, 2, &nh, &c), TT_EPARSE);
    struct tt_zmq_part m4[] = {PART("a"), PART("")};
    CHECK_INT(tt_zrpc_envelope(m4, 2, &nh, &c), TT_EPARSE);
    struct tt_zmq_part m5[] = {PART("a"), PART(""), PART("x"), PART("y")};
    CHECK_INT(tt_zrpc_envelope(m5, 4, &nh, &c), TT_EPARSE);
    /* A DEALER without identity frames: ["", body]. */
    struct tt_zmq_part m6[] = {PART(""), PART("x")};
    CHECK_INT(tt_zrpc_envelope(m6, 2, &nh, &c), 0);
    CHECK_INT(nh, 0);
}

static void test_request(void)
{
    struct tt_zrpc_request r;
    char err[200];
    static const char conncheck[] =
        "58:2:id,1:9,6:method,9:conncheck,4:args,17:3:ids,8:1:a,1:b,]}}";
    CHECK_INT(tt_zrpc_request_decode(LIT(conncheck), NULL, &r, err, sizeof(err)), 0);
    CHECK(r.id_len == 1 && r.id[0] == '9');
    CHECK(r.method_len == 9 && memcmp(r.method, "conncheck", 9) == 0);
    CHECK(json_array_size(json_object_get(r.args, "ids")) == 2);
    CHECK(r.from == NULL);
    tt_zrpc_request_deinit(&r);

    /* No args: an empty object. */
    static const char uris[] = "35:2:id,2:42,6:method,12:get-zmq-uris,}";
    CHECK_INT(tt_zrpc_request_decode(LIT(uris), NULL, &r, err, sizeof(err)), 0);
    CHECK(json_is_object(r.args) && json_object_size(r.args) == 0);
    tt_zrpc_request_deinit(&r);

    static const char pub[] = "63:4:from,3:cli,2:id,1:7,6:method,7:publish,4:args,11:5:items,0:]}}";
    CHECK_INT(tt_zrpc_request_decode(LIT(pub), NULL, &r, err, sizeof(err)), 0);
    CHECK(r.from_len == 3);
    tt_zrpc_request_deinit(&r);

    /* Round trip through the client encoder. */
    struct tt_buf b;
    tt_buf_init(&b, 0);
    json_t *args = json_pack("{s:[s]}", "ids", "x");
    CHECK_INT(tt_zrpc_request_encode("5", 1, "conncheck", args, &b), 0);
    json_decref(args);
    static const char enc[] = "54:2:id,1:5,6:method,9:conncheck,4:args,13:3:ids,4:1:x,]}}";
    CHECK(b.len == sizeof(enc) - 1 && memcmp(b.data, enc, b.len) == 0);
    tt_buf_deinit(&b);
}

struct bad {
    const char *in;
    size_t len;
    const char *err;
};

#define BAD(lit, e)                                                                                \
    {                                                                                              \
        lit, sizeof(lit) - 1, e                                                                    \
    }

static void test_bad_requests(void)
{
    static const struct bad cases[] = {
        BAD("", "invalid format (tnetstring parse failed: truncated input at offset 0)"),
        BAD("Tgarbage", "invalid format (tnetstring parse failed: bad length prefix at offset 0)"),
        BAD("35:2:id,2:42,6:method,12:get-zmq-uris,",
            "invalid format (tnetstring parse failed: truncated input at offset 0)"),
        BAD("0:]", "invalid format (parse failed: not a dict)"),
        BAD("0:}", "invalid format (parse failed: method)"),
        BAD("13:6:method,1:1#}", "invalid format (parse failed: method)"),
        BAD("22:2:id,1:1#6:method,1:x,}", "invalid format (parse failed: id)"),
        BAD("23:4:from,0:~6:method,1:x,}", "invalid format (parse failed: from)"),
        BAD("23:6:method,1:x,4:args,0:]}", "invalid format (parse failed: args)"),
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        struct tt_zrpc_request r;
        char err[200] = "";
        int rc = tt_zrpc_request_decode(cases[i].in, cases[i].len, NULL, &r, err, sizeof(err));
        if (rc != TT_EPARSE || strcmp(err, cases[i].err) != 0)
            fprintf(stderr, "case %zu: %d %s\n", i, rc, err);
        CHECK_INT(rc, TT_EPARSE);
        CHECK_STR(err, cases[i].err);
        CHECK(r.root == NULL);
    }
}

static void test_response(void)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    /* respond() with no value: "value" is null. */
    CHECK_INT(tt_zrpc_response_encode("42", 2, NULL, NULL, &b), 0);
    static const char ok[] = "38:2:id,2:42,7:success,4:true!5:value,0:~}";
    CHECK(b.len == sizeof(ok) - 1 && memcmp(b.data, ok, b.len) == 0);
    tt_buf_reset(&b);
    json_t *msg = json_string("Invalid format: x");
    CHECK_INT(tt_zrpc_response_encode("42", 2, "bad-request", msg, &b), 0);
    json_decref(msg);
    static const char bad[] =
        "84:2:id,2:42,7:success,5:false!9:condition,11:bad-request,5:value,17:Invalid format: x,}";
    CHECK(b.len == sizeof(bad) - 1 && memcmp(b.data, bad, b.len) == 0);
    tt_buf_reset(&b);
    /* No id: none written; a failure without value has no "value". */
    CHECK_INT(tt_zrpc_response_encode(NULL, 0, "method-not-found", NULL, &b), 0);
    static const char nf[] = "50:7:success,5:false!9:condition,16:method-not-found,}";
    CHECK(b.len == sizeof(nf) - 1 && memcmp(b.data, nf, b.len) == 0);

    struct tt_zrpc_response r;
    char err[200];
    CHECK_INT(tt_zrpc_response_decode(b.data, b.len, NULL, &r, err, sizeof(err)), 0);
    CHECK(!r.success && r.condition_len == 16 && r.value == NULL && r.id == NULL);
    tt_zrpc_response_deinit(&r);
    CHECK_INT(tt_zrpc_response_decode(LIT(ok), NULL, &r, err, sizeof(err)), 0);
    CHECK(r.success && json_is_null(r.value) && r.id_len == 2);
    tt_zrpc_response_deinit(&r);
    CHECK_INT(tt_zrpc_response_decode(LIT("17:7:success,4:true!}"), NULL, &r, err, sizeof(err)),
              TT_EPARSE);
    CHECK_STR(err, "invalid format (parse failed: value)");
    CHECK_INT(tt_zrpc_response_decode(LIT("18:7:success,5:false!}"), NULL, &r, err, sizeof(err)),
              TT_EPARSE);
    CHECK_STR(err, "invalid format (parse failed: condition)");
    CHECK_INT(tt_zrpc_response_decode(LIT("14:7:success,1:1#}"), NULL, &r, err, sizeof(err)),
              TT_EPARSE);
    CHECK_STR(err, "invalid format (parse failed: success)");
    tt_buf_deinit(&b);
}

TT_TEST_MAIN(test_envelope, test_request, test_bad_requests, test_response)

/* Unit tests for zmq/zhttp: packets as Pushpin's proxy and handlers write them, decoding
 * every field, encoding byte for byte, the response-only reason/headers rule, hostile
 * packets, the PUB/SUB address split and zhttp target specs. */
#include <stdlib.h>

#include "tt_test.h"
#include "zmq/zhttp.h"

#define LIT(s) s, sizeof(s) - 1

static bool str_is(struct tt_zhttp_str s, const char *want, size_t n)
{
    return s.p && s.len == n && memcmp(s.p, want, n) == 0;
}

#define STR_IS(s, lit) str_is(s, lit, sizeof(lit) - 1)

static const char pushpin_req[] =
    "T296:4:from,17:pushpin-proxy_123,2:id,2:r1,3:seq,1:0#7:credits,6:200000#6:stream,4:true!"
    "6:method,4:POST,3:uri,27:http://example.com/path?x=1,7:headers,60:22:4:Host,11:example.com,"
    "]30:12:Content-Type,10:text/plain,]]4:body,3:a\0b,12:peer-address,9:127.0.0.1,9:peer-port,"
    "5:40000,3:ext,15:5:multi,4:true!}}";

static const char handler_resp[] =
    "T146:4:from,7:handler,2:id,2:r1,3:seq,1:0#7:credits,4:1024#4:more,4:true!4:code,3:200#"
    "6:reason,2:OK,7:headers,25:21:9:Grip-Hold,6:stream,]]4:body,2:hi,}";

static void test_decode_request(void)
{
    struct tt_zhttp_packet p;
    char err[128];
    CHECK_INT(tt_zhttp_decode(LIT(pushpin_req), TT_ZHTTP_REQUEST, NULL, &p, err, sizeof(err)), 0);
    CHECK(STR_IS(p.from, "pushpin-proxy_123"));
    CHECK_INT(p.num_ids, 1);
    CHECK(STR_IS(p.ids[0].id, "r1"));
    CHECK_INT(p.ids[0].seq, 0);
    CHECK_INT(p.type, TT_ZHTTP_DATA);
    CHECK_INT(p.credits, 200000);
    CHECK(p.stream && !p.more && !p.router_resp);
    CHECK(STR_IS(p.method, "POST"));
    CHECK(STR_IS(p.uri, "http://example.com/path?x=1"));
    CHECK_INT(p.num_headers, 2);
    CHECK(STR_IS(p.headers[1].name, "Content-Type") && STR_IS(p.headers[1].value, "text/plain"));
    CHECK(STR_IS(p.body, "a\0b"));
    CHECK(STR_IS(p.peer_address, "127.0.0.1"));
    CHECK_INT(p.peer_port, 40000);
    CHECK(p.multi && !p.quiet);
    CHECK_INT(p.code, -1);
    CHECK_INT(p.max_size, -1);
    CHECK(p.content_type.p == NULL && p.user_data == NULL);

    /* Encoding gives back the same bytes (peer-port written as a string). */
    struct tt_buf b;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_REQUEST, &b), 0);
    CHECK(b.len == sizeof(pushpin_req) - 1 && memcmp(b.data, pushpin_req, b.len) == 0);
    tt_buf_deinit(&b);
    tt_zhttp_packet_deinit(&p);
}

static void test_decode_response(void)
{
    struct tt_zhttp_packet p;
    char err[128];
    CHECK_INT(tt_zhttp_decode(LIT(handler_resp), TT_ZHTTP_RESPONSE, NULL, &p, err, sizeof(err)), 0);
    CHECK(STR_IS(p.from, "handler"));
    CHECK_INT(p.credits, 1024);
    CHECK(p.more);
    CHECK_INT(p.code, 200);
    CHECK(STR_IS(p.reason, "OK"));
    CHECK_INT(p.num_headers, 1);
    CHECK(STR_IS(p.headers[0].value, "stream"));
    CHECK(STR_IS(p.body, "hi"));
    struct tt_buf b;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_RESPONSE, &b), 0);
    CHECK(b.len == sizeof(handler_resp) - 1 && memcmp(b.data, handler_resp, b.len) == 0);
    tt_buf_deinit(&b);
    tt_zhttp_packet_deinit(&p);

    /* The seed's REP handler answer: id, code, reason, headers, body, nothing else. */
    static const char rep[] = "T108:2:id,2:r1,4:code,3:200#6:reason,2:OK,7:headers,34:30:"
                              "12:Content-Type,10:text/plain,]]4:body,12:hello there\n,}";
    CHECK_INT(tt_zhttp_decode(LIT(rep), TT_ZHTTP_RESPONSE, NULL, &p, err, sizeof(err)), 0);
    CHECK(STR_IS(p.body, "hello there\n"));
    CHECK(p.from.p == NULL);
    CHECK_INT(p.ids[0].seq, -1);
    tt_zhttp_packet_deinit(&p);

    /* A response decoder does not look at request keys; a request decoder does. */
    static const char odd[] = "T22:2:id,1:x,6:method,1:5#}";
    CHECK_INT(tt_zhttp_decode(LIT(odd), TT_ZHTTP_RESPONSE, NULL, &p, err, sizeof(err)), 0);
    tt_zhttp_packet_deinit(&p);
    CHECK_INT(tt_zhttp_decode(LIT(odd), TT_ZHTTP_REQUEST, NULL, &p, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "invalid format (parse failed: method)");
}

static void test_encode_response_rules(void)
{
    struct tt_zhttp_packet p;
    struct tt_buf b;
    struct tt_zhttp_id id = {{"r1", 2}, -1};
    tt_zhttp_packet_init(&p);
    p.ids = &id;
    p.num_ids = 1;
    p.type = TT_ZHTTP_CANCEL;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_RESPONSE, &b), 0);
    CHECK(b.len == 31 && memcmp(b.data, "T26:2:id,2:r1,4:type,6:cancel,}", 31) == 0);
    tt_buf_reset(&b);

    /* Rejected error: code, empty reason and an empty headers list are written. */
    p.type = TT_ZHTTP_ERROR;
    p.condition = (struct tt_zhttp_str){"rejected", 8};
    p.code = 403;
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_RESPONSE, &b), 0);
    static const char rej[] =
        "T86:2:id,2:r1,4:type,5:error,9:condition,8:rejected,4:code,3:403#6:reason,0:,"
        "7:headers,0:]}";
    CHECK(b.len == sizeof(rej) - 1 && memcmp(b.data, rej, b.len) == 0);
    tt_buf_reset(&b);

    /* Other errors with a code carry no reason/headers. */
    p.condition = (struct tt_zhttp_str){"remote-connection-failed", 24};
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_RESPONSE, &b), 0);
    CHECK(memmem(b.data, b.len, "reason", 6) == NULL);
    CHECK(memmem(b.data, b.len, "3:403#", 6) != NULL);
    tt_buf_reset(&b);

    /* Several ids: a list of dicts. */
    struct tt_zhttp_id ids[2] = {{{"a", 1}, 1}, {{"b", 1}, -1}};
    tt_zhttp_packet_init(&p);
    p.ids = ids;
    p.num_ids = 2;
    p.type = TT_ZHTTP_KEEP_ALIVE;
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_REQUEST, &b), 0);
    static const char ka[] =
        "T65:2:id,35:19:2:id,1:a,3:seq,1:1#}9:2:id,1:b,}]4:type,10:keep-alive,}";
    CHECK(b.len == sizeof(ka) - 1 && memcmp(b.data, ka, b.len) == 0);
    struct tt_zhttp_packet d;
    char err[128];
    CHECK_INT(tt_zhttp_decode(b.data, b.len, TT_ZHTTP_REQUEST, NULL, &d, err, sizeof(err)), 0);
    CHECK_INT(d.num_ids, 2);
    CHECK(STR_IS(d.ids[1].id, "b") && d.ids[1].seq == -1 && d.ids[0].seq == 1);
    CHECK_INT(d.type, TT_ZHTTP_KEEP_ALIVE);
    tt_zhttp_packet_deinit(&d);
    tt_buf_deinit(&b);

    /* user-data and passthrough are copied as given; quiet only on requests. */
    tt_zhttp_packet_init(&p);
    p.user_data = json_pack("{s:i}", "n", 1);
    p.quiet = true;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_RESPONSE, &b), 0);
    CHECK(b.len == 28 && memcmp(b.data, "T23:9:user-data,8:1:n,1:1#}}", 28) == 0);
    tt_buf_reset(&b);
    CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_REQUEST, &b), 0);
    CHECK(memmem(b.data, b.len, "5:quiet,4:true!", 15) != NULL);
    json_decref(p.user_data);
    tt_buf_deinit(&b);
}

static void test_seq_without_id(void)
{
    struct tt_zhttp_packet p;
    char err[128];
    CHECK_INT(
        tt_zhttp_decode(LIT("T10:3:seq,1:4#}"), TT_ZHTTP_RESPONSE, NULL, &p, err, sizeof(err)), 0);
    CHECK_INT(p.num_ids, 1);
    CHECK(p.ids[0].id.p == NULL && p.ids[0].seq == 4);
    tt_zhttp_packet_deinit(&p);
    /* seq as a digit string is read as a number; the ext flags are read only as bools. */
    CHECK_INT(tt_zhttp_decode(LIT("T35:3:seq,2:12,3:ext,14:5:multi,3:yes,}}"), TT_ZHTTP_RESPONSE,
                              NULL, &p, err, sizeof(err)),
              0);
    CHECK_INT(p.ids[0].seq, 12);
    CHECK(!p.multi);
    tt_zhttp_packet_deinit(&p);
}

struct bad {
    const char *in;
    size_t len;
    enum tt_zhttp_kind kind;
    const char *err;
};

#define BAD(lit, kind, e)                                                                          \
    {                                                                                              \
        lit, sizeof(lit) - 1, kind, e                                                              \
    }

static void test_bad_packets(void)
{
    static const struct bad cases[] = {
        BAD("", TT_ZHTTP_REQUEST, "invalid format (missing type)"),
        BAD("J{}", TT_ZHTTP_REQUEST, "invalid format (missing type)"),
        BAD("0:}", TT_ZHTTP_REQUEST, "invalid format (missing type)"),
        BAD("T", TT_ZHTTP_REQUEST,
            "invalid format (tnetstring parse failed: truncated input at offset 1)"),
        BAD("T20:4:from,", TT_ZHTTP_REQUEST,
            "invalid format (tnetstring parse failed: truncated input at offset 1)"),
        BAD("T4:1:0#}", TT_ZHTTP_REQUEST,
            "invalid format (tnetstring parse failed: dict key is not a string at offset 3)"),
        BAD("T0:]", TT_ZHTTP_REQUEST, "invalid format (parse failed: not a dict)"),
        BAD("T5:hello,", TT_ZHTTP_RESPONSE, "invalid format (parse failed: not a dict)"),
        BAD("T11:4:from,1:1#}", TT_ZHTTP_REQUEST, "invalid format (parse failed: from)"),
        BAD("T9:2:id,1:1#}", TT_ZHTTP_REQUEST, "invalid format (parse failed: id)"),
        BAD("T12:2:id,4:1:x,]}", TT_ZHTTP_REQUEST, "invalid format (parse failed: id)"),
        BAD("T20:2:id,11:8:2:id,0:~}]}", TT_ZHTTP_REQUEST, "invalid format (parse failed: id)"),
        BAD("T21:2:id,12:9:3:seq,0:,}]}", TT_ZHTTP_REQUEST, "invalid format (parse failed: seq)"),
        BAD("T10:3:seq,1:x,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: seq)"),
        BAD("T21:3:seq,11:99999999999,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: seq)"),
        BAD("T16:3:seq,7:4:true!]}", TT_ZHTTP_REQUEST, "invalid format (parse failed: seq)"),
        BAD("T17:4:type,7:unknown,}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: type)"),
        BAD("T14:4:type,4:data,}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: type)"),
        BAD("T30:4:type,5:error,9:condition,0:~}", TT_ZHTTP_RESPONSE,
            "invalid format (parse failed: condition)"),
        BAD("T16:7:credits,3:1.5^}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: credits)"),
        BAD("T11:4:more,1:1#}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: more)"),
        BAD("T15:6:stream,3:yes,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: stream)"),
        BAD("T19:11:router-resp,1:1#}", TT_ZHTTP_REQUEST,
            "invalid format (parse failed: router-resp)"),
        BAD("T15:8:max-size,1:x,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: max-size)"),
        BAD("T14:7:timeout,1:-,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: timeout)"),
        BAD("T10:3:uri,1:1#}", TT_ZHTTP_REQUEST, "invalid format (parse failed: uri)"),
        BAD("T14:7:headers,1:x,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: headers)"),
        BAD("T16:7:headers,3:0:]]}", TT_ZHTTP_REQUEST, "invalid format (parse failed: headers)"),
        BAD("T20:7:headers,7:4:1:a,]]}", TT_ZHTTP_RESPONSE,
            "invalid format (parse failed: headers)"),
        BAD("T25:7:headers,11:8:1:a,1:1#]]}", TT_ZHTTP_REQUEST,
            "invalid format (parse failed: headers)"),
        BAD("T11:4:body,1:1#}", TT_ZHTTP_REQUEST, "invalid format (parse failed: body)"),
        BAD("T19:12:content-type,0:~}", TT_ZHTTP_RESPONSE,
            "invalid format (parse failed: content-type)"),
        BAD("T12:4:code,2:ab,}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: code)"),
        BAD("T12:4:code,2:ab,}", TT_ZHTTP_REQUEST, "invalid format (parse failed: code)"),
        BAD("T13:6:reason,1:1#}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: reason)"),
        BAD("T19:12:peer-address,0:]}", TT_ZHTTP_REQUEST,
            "invalid format (parse failed: peer-address)"),
        BAD("T18:9:peer-port,3:1.0,}", TT_ZHTTP_REQUEST,
            "invalid format (parse failed: peer-port)"),
        BAD("T22:15:ignore-policies,0:,}", TT_ZHTTP_REQUEST,
            "invalid format (parse failed: ignore-policies)"),
        BAD("T13:3:ext,4:true!}", TT_ZHTTP_RESPONSE, "invalid format (parse failed: ext)"),
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        struct tt_zhttp_packet p;
        char err[160] = "";
        int r =
            tt_zhttp_decode(cases[i].in, cases[i].len, cases[i].kind, NULL, &p, err, sizeof(err));
        if (r != TT_EPARSE || strcmp(err, cases[i].err) != 0)
            fprintf(stderr, "case %zu: %d %s\n", i, r, err);
        CHECK_INT(r, TT_EPARSE);
        CHECK_STR(err, cases[i].err);
        CHECK(p.root == NULL && p.ids == NULL && p.headers == NULL);
    }
    /* A length over the limits is TT_ETOOBIG. */
    struct tt_zhttp_packet p;
    char err[160];
    struct tt_tnet_limits lim = {.max_size = 10, .max_depth = 4, .max_elements = 100};
    CHECK_INT(
        tt_zhttp_decode(LIT("T11:4:from,1:x,}"), TT_ZHTTP_REQUEST, &lim, &p, err, sizeof(err)),
        TT_ETOOBIG);
}

static void test_caps(void)
{
    /* TT_ZHTTP_MAX_HEADERS headers pass, one more does not. */
    for (int extra = 0; extra <= 1; extra++) {
        struct tt_zhttp_packet p;
        tt_zhttp_packet_init(&p);
        size_t n = TT_ZHTTP_MAX_HEADERS + (size_t)extra;
        struct tt_zhttp_header *h = tt_calloc(n, sizeof(*h));
        for (size_t i = 0; i < n; i++) {
            h[i].name = (struct tt_zhttp_str){"X", 1};
            h[i].value = (struct tt_zhttp_str){"y", 1};
        }
        p.headers = h;
        p.num_headers = n;
        struct tt_buf b;
        tt_buf_init(&b, 0);
        CHECK_INT(tt_zhttp_encode(&p, TT_ZHTTP_REQUEST, &b), 0);
        struct tt_zhttp_packet d;
        char err[128];
        int r = tt_zhttp_decode(b.data, b.len, TT_ZHTTP_REQUEST, NULL, &d, err, sizeof(err));
        if (extra) {
            CHECK_INT(r, TT_EPARSE);
            CHECK_STR(err, "invalid format (parse failed: too many headers)");
        } else {
            CHECK_INT(r, 0);
            CHECK_INT(d.num_headers, n);
            tt_zhttp_packet_deinit(&d);
        }
        tt_buf_deinit(&b);
        free(h);
    }
}

static void test_split_addressed(void)
{
    struct tt_zhttp_str a, p;
    static const char m[] = "pushpin-proxy_1 T12:4:from,1:x,}";
    CHECK_INT(tt_zhttp_split_addressed(LIT(m), &a, &p), 0);
    CHECK(STR_IS(a, "pushpin-proxy_1"));
    CHECK(STR_IS(p, "T12:4:from,1:x,}"));
    CHECK_INT(tt_zhttp_split_addressed(LIT("noaddress"), &a, &p), TT_EPARSE);
    CHECK_INT(tt_zhttp_split_addressed(LIT(" T"), &a, &p), 0);
    CHECK(a.len == 0 && STR_IS(p, "T"));
}

static void test_stream_specs(void)
{
    char *s[3];
    CHECK_INT(tt_zhttp_stream_specs("tcp://127.0.0.1:10000", s), 0);
    CHECK_STR(s[0], "tcp://127.0.0.1:10000");
    CHECK_STR(s[1], "tcp://127.0.0.1:10001");
    CHECK_STR(s[2], "tcp://127.0.0.1:10002");
    for (int i = 0; i < 3; i++)
        free(s[i]);
    CHECK_INT(tt_zhttp_stream_specs("ipc:///tmp/handler", s), 0);
    CHECK_STR(s[0], "ipc:///tmp/handler-out");
    CHECK_STR(s[1], "ipc:///tmp/handler-out-stream");
    CHECK_STR(s[2], "ipc:///tmp/handler-in");
    for (int i = 0; i < 3; i++)
        free(s[i]);
    CHECK_INT(tt_zhttp_stream_specs("tcp://[::1]:7000", s), 0);
    CHECK_STR(s[2], "tcp://[::1]:7002");
    for (int i = 0; i < 3; i++)
        free(s[i]);
    CHECK_INT(tt_zhttp_stream_specs("tcp://127.0.0.1:65534", s), TT_EPARSE);
    CHECK_INT(tt_zhttp_stream_specs("tcp://127.0.0.1:x", s), TT_EPARSE);
    CHECK_INT(tt_zhttp_stream_specs("nothing", s), TT_EPARSE);
    CHECK(s[0] == NULL);
}

static void test_type_names(void)
{
    CHECK_STR(tt_zhttp_type_name(TT_ZHTTP_HANDOFF_PROCEED), "handoff-proceed");
    CHECK_STR(tt_zhttp_type_name(TT_ZHTTP_PONG), "pong");
    CHECK_STR(tt_zhttp_type_name((enum tt_zhttp_type)99), "unknown");
}

TT_TEST_MAIN(test_decode_request, test_decode_response, test_encode_response_rules,
             test_seq_without_id, test_bad_packets, test_caps, test_split_addressed,
             test_stream_specs, test_type_names)

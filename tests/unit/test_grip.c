/* test_grip.c: GRIP instruction parsing (Grip-* headers, application/grip-instruct). */
#include "grip/grip.h"

#include <stdarg.h>
#include <stdlib.h>

#include "tt_test.h"

static struct tt_h1_response R;

/* Build R by hand: status, then name/value pairs, NULL-terminated. */
static const struct tt_h1_response *resp(int status, ...)
{
    memset(&R, 0, sizeof(R));
    R.minor_version = 1;
    R.status = status;
    R.reason = "OK";
    R.reason_len = 2;
    va_list ap;
    va_start(ap, status);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL && R.num_headers < TT_H1_MAX_HEADERS) {
        const char *value = va_arg(ap, const char *);
        struct tt_h1_header *h = &R.headers[R.num_headers++];
        h->name = name;
        h->name_len = strlen(name);
        h->value = value;
        h->value_len = strlen(value);
    }
    va_end(ap);
    R.framing.content_length = -1;
    return &R;
}

static char err[256];

static int parse(const struct tt_h1_response *r, const char *body, struct tt_grip *g)
{
    return tt_grip_parse(r, body, body ? strlen(body) : 0, NULL, 20, g, err, sizeof(err));
}

/* Expect a parse failure with exactly this reason, and a zeroed struct afterwards. */
static void expect_error(const struct tt_h1_response *r, const char *body, const char *reason)
{
    struct tt_grip g, zero;
    memset(&zero, 0, sizeof(zero));
    err[0] = '\0';
    CHECK_INT(parse(r, body, &g), TT_EPARSE);
    CHECK_STR(err, reason);
    CHECK(memcmp(&g, &zero, sizeof(g)) == 0);
}

static void test_detect(void)
{
    CHECK(tt_grip_detect(resp(200, "Grip-Hold", "response", NULL)));
    CHECK(tt_grip_detect(resp(200, "X-A", "1", "grip-anything", "", NULL)));
    CHECK(tt_grip_detect(
        resp(200, "Content-Type", "Application/Grip-Instruct ; charset=utf-8", NULL)));
    CHECK(!tt_grip_detect(resp(200, "Content-Type", "application/grip-instructions", NULL)));
    CHECK(!tt_grip_detect(resp(200, "Content-Type", "application/json", NULL)));
    CHECK(!tt_grip_detect(resp(200, "X-Grip-Hold", "response", "Gripe", "x", NULL)));
    CHECK(!tt_grip_detect(resp(200, NULL)));

    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Content-Type", "text/plain", NULL), "x", &g), 0);
    CHECK(!g.is_grip);
    CHECK_INT(g.hold, TT_HOLD_NONE);
    CHECK_INT(g.num_channels, 0);
    tt_grip_deinit(&g);
}

/* Records split_header callbacks as "value|name=value|name|..." lines. */
struct rec {
    char text[512];
    int items;
    int stop_at;
};

static int rec_item(void *ctx, const char *value, size_t value_len, struct tt_grip_param *params,
                    size_t num_params)
{
    struct rec *r = ctx;
    size_t n = strlen(r->text);
    n += (size_t)snprintf(r->text + n, sizeof(r->text) - n, "[%.*s]", (int)value_len, value);
    for (size_t i = 0; i < num_params && n < sizeof(r->text); i++) {
        if (params[i].value)
            n += (size_t)snprintf(r->text + n, sizeof(r->text) - n, "{%.*s=%s}",
                                  (int)params[i].name_len, params[i].name, params[i].value);
        else
            n += (size_t)snprintf(r->text + n, sizeof(r->text) - n, "{%.*s}",
                                  (int)params[i].name_len, params[i].name);
    }
    if (n < sizeof(r->text))
        snprintf(r->text + n, sizeof(r->text) - n, "\n");
    r->items++;
    return r->items == r->stop_at ? -1 : 0;
}

static void check_split(const char *in, int rc, const char *expect)
{
    struct rec r = {"", 0, 0};
    CHECK_INT(tt_grip_split_header(in, strlen(in), rec_item, &r), rc);
    if (rc == 0)
        CHECK_STR(r.text, expect);
}

static void test_split(void)
{
    check_split("a", 0, "[a]\n");
    check_split("", 0, "");
    check_split("  a ;  p1 = v1 ;p2=\"quoted \\\" value\" , b", 0,
                "[a]{p1=v1}{p2=quoted \" value}\n[b]\n");
    /* commas inside quotes do not split; the item value itself is not unquoted */
    check_split("\"c,d\"; q=\"e,f\", g", 0, "[\"c,d\"]{q=e,f}\n[g]\n");
    /* a parameter without '=' has no value; an empty value is "" */
    check_split("x; flag; e=; f=\"\"", 0, "[x]{flag}{e=}{f=}\n");
    /* a quote only counts right after '=' (as Pushpin) */
    check_split("x; f= \"a\"", 0, "[x]{f=\"a\"}\n");
    /* stray separators */
    check_split("x;; ;y=1;", 0, "[x]{y=1}\n");
    check_split("a,", 0, "[a]\n");
    check_split(",a", 0, "[]\n[a]\n");
    /* text after a closing quote up to ';' is ignored (as Pushpin) */
    check_split("x; a=\"1\"junk; b=2", 0, "[x]{a=1}{b=2}\n");
    /* an unquoted value ends at ';' even with quotes inside */
    check_split("x; a=b\"c", 0, "[x]{a=b\"c}\n");
    /* the first value stops at the first ';' even inside quotes */
    check_split("\"a;b\"", 0, "[\"a]{b\"}\n");
    /* unterminated quotes and a dangling escape are errors */
    check_split("x; a=\"open", TT_EPARSE, NULL);
    check_split("x; a=\"open\\", TT_EPARSE, NULL);
    check_split("x; a=\"1, y", TT_EPARSE, NULL);
    /* a callback error stops the walk */
    struct rec r = {"", 0, 1};
    CHECK_INT(tt_grip_split_header("a, b, c", 7, rec_item, &r), TT_EPARSE);
    CHECK_INT(r.items, 1);
    /* too many params */
    char many[512] = "x";
    for (int i = 0; i < 40; i++)
        strcat(many, "; p=1");
    check_split(many, TT_EPARSE, NULL);
}

static void test_hold(void)
{
    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Grip-Hold", "response", NULL), NULL, &g), 0);
    CHECK(g.is_grip);
    CHECK_INT(g.hold, TT_HOLD_RESPONSE);
    CHECK_INT(g.timeout, -1);
    CHECK_INT(tt_grip_hold_timeout(&g), 55);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "grip-hold", "stream", NULL), NULL, &g), 0);
    CHECK_INT(g.hold, TT_HOLD_STREAM);
    tt_grip_deinit(&g);
    /* only the first Grip-Hold counts */
    CHECK_INT(parse(resp(200, "Grip-Hold", "stream", "Grip-Hold", "bogus", NULL), NULL, &g), 0);
    CHECK_INT(g.hold, TT_HOLD_STREAM);
    tt_grip_deinit(&g);
    /* a Grip-* header without a hold is still GRIP */
    CHECK_INT(parse(resp(200, "Grip-Status", "201", NULL), NULL, &g), 0);
    CHECK(g.is_grip);
    CHECK_INT(g.hold, TT_HOLD_NONE);
    tt_grip_deinit(&g);
    const char *msg = "Grip-Hold must be set to either 'response' or 'stream'";
    expect_error(resp(200, "Grip-Hold", "Stream", NULL), NULL, msg);
    expect_error(resp(200, "Grip-Hold", "", NULL), NULL, msg);
    expect_error(resp(200, "Grip-Hold", "response, stream", NULL), NULL, msg);
}

static void test_channels(void)
{
    struct tt_grip g;
    CHECK_INT(tt_grip_parse(resp(200, "Grip-Hold", "response", "Grip-Channel",
                                 "a, b; prev-id=7; filter=skip-self; filter=\"x y\"", "X-Other",
                                 "1", "grip-channel", "c; Prev-Id=\"q;r\"", NULL),
                            NULL, 0, "pre.", 20, &g, err, sizeof(err)),
              0);
    CHECK_INT(g.num_channels, 3);
    if (g.num_channels == 3) {
        CHECK_STR(g.channels[0].name, "pre.a");
        CHECK(g.channels[0].prev_id == NULL);
        CHECK_INT(g.channels[0].num_filters, 0);
        CHECK_STR(g.channels[1].name, "pre.b");
        CHECK_STR(g.channels[1].prev_id, "7");
        CHECK_INT(g.channels[1].num_filters, 2);
        CHECK_STR(g.channels[1].filters[0], "skip-self");
        CHECK_STR(g.channels[1].filters[1], "x y");
        CHECK_STR(g.channels[2].name, "pre.c");
        CHECK_STR(g.channels[2].prev_id, "q;r");
    }
    tt_grip_deinit(&g);

    /* five filters pass, six fail */
    const char *five = "c; filter=a; filter=b; filter=c; filter=d; filter=e";
    CHECK_INT(parse(resp(200, "Grip-Channel", five, NULL), NULL, &g), 0);
    CHECK_INT(g.num_channels, 1);
    CHECK_INT(g.channels[0].num_filters, 5);
    CHECK_STR(g.channels[0].filters[4], "e");
    tt_grip_deinit(&g);
    expect_error(resp(200, "Grip-Channel",
                      "ok, c; filter=a; filter=b; filter=c; filter=d; "
                      "filter=e; filter=f",
                      NULL),
                 NULL, "too many filters for channel 'c'");

    /* channels beyond max_channels are ignored, not an error */
    CHECK_INT(tt_grip_parse(resp(200, "Grip-Channel", "a, b", "Grip-Channel", "c", NULL), NULL, 0,
                            NULL, 2, &g, err, sizeof(err)),
              0);
    CHECK_INT(g.num_channels, 2);
    CHECK_STR(g.channels[1].name, "b");
    tt_grip_deinit(&g);

    expect_error(resp(200, "Grip-Channel", "a, , b", NULL), NULL,
                 "Grip-Channel contains an empty channel name");
    expect_error(resp(200, "Grip-Channel", "; prev-id=1", NULL), NULL,
                 "Grip-Channel contains an empty channel name");
    expect_error(resp(200, "Grip-Channel", "a; prev-id=\"1", NULL), NULL,
                 "failed to parse Grip-Channel");
    /* a NUL in any Grip-* value is refused rather than cutting a C string short */
    static const char nul_value[] = "a\0b";
    resp(200, "Grip-Channel", "x", NULL);
    R.headers[0].value = nul_value;
    R.headers[0].value_len = 3;
    expect_error(&R, NULL, "Grip-Channel contains a NUL byte");
    /* channel names in errors are escaped */
    expect_error(resp(200, "Grip-Channel",
                      "\x01; filter=a; filter=b; filter=c; filter=d; "
                      "filter=e; filter=f",
                      NULL),
                 NULL, "too many filters for channel '\\x01'");
}

static void test_timeout(void)
{
    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Grip-Hold", "response", "Grip-Timeout", "30", NULL), NULL, &g), 0);
    CHECK_INT(g.timeout, 30);
    CHECK_INT(tt_grip_hold_timeout(&g), 30);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "Grip-Timeout", "2", NULL), NULL, &g), 0);
    CHECK_INT(g.timeout, 2);
    CHECK_INT(tt_grip_hold_timeout(&g), 5);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "Grip-Timeout", "0", NULL), NULL, &g), 0);
    CHECK_INT(tt_grip_hold_timeout(&g), 5);
    tt_grip_deinit(&g);
    expect_error(resp(200, "Grip-Timeout", "-1", NULL), NULL, "Grip-Timeout has invalid value");
    expect_error(resp(200, "Grip-Timeout", "abc", NULL), NULL, "failed to parse Grip-Timeout");
    expect_error(resp(200, "Grip-Timeout", "", NULL), NULL, "failed to parse Grip-Timeout");
    expect_error(resp(200, "Grip-Timeout", "1.5", NULL), NULL, "failed to parse Grip-Timeout");
    expect_error(resp(200, "Grip-Timeout", "99999999999", NULL), NULL,
                 "failed to parse Grip-Timeout");
}

static void check_ka(const char *hv, const char *data, size_t len, int timeout,
                     enum tt_ka_mode mode)
{
    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Grip-Hold", "stream", "Grip-Keep-Alive", hv, NULL), NULL, &g), 0);
    CHECK(g.ka_data != NULL);
    CHECK_INT(g.ka_len, len);
    if (g.ka_data && g.ka_len == len)
        CHECK(memcmp(g.ka_data, data, len) == 0);
    CHECK_INT(g.ka_timeout, timeout);
    CHECK_INT(g.ka_mode, mode);
    tt_grip_deinit(&g);
}

static void test_keep_alive(void)
{
    /* DATA is everything before the first ';', commas included */
    check_ka("a, b", "a, b", 4, 55, TT_KA_IDLE);
    check_ka("  ping  ; timeout=20", "ping", 4, 20, TT_KA_IDLE);
    check_ka("x; format=raw; mode=interval; timeout=0", "x", 1, 1, TT_KA_INTERVAL);
    check_ka("x; mode=idle", "x", 1, 55, TT_KA_IDLE);
    check_ka(":\\n\\n; format=cstring; timeout=20", ":\n\n", 3, 20, TT_KA_IDLE);
    check_ka("\\x41\\x7a\\\\\\r\\q!; format=cstring", "Az\\\r!", 5, 55, TT_KA_IDLE);
    check_ka("\\x00; format=cstring", "\0", 1, 55, TT_KA_IDLE);
    check_ka("aGVsbG8=; format=base64", "hello", 5, 55, TT_KA_IDLE);
    check_ka("aGVsbG8; format=\"base64\"", "hello", 5, 55, TT_KA_IDLE);

    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Grip-Hold", "stream", NULL), NULL, &g), 0);
    CHECK(g.ka_data == NULL);
    tt_grip_deinit(&g);

    expect_error(resp(200, "Grip-Keep-Alive", "", NULL), NULL, "Grip-Keep-Alive cannot be empty");
    expect_error(resp(200, "Grip-Keep-Alive", " ; format=raw", NULL), NULL,
                 "Grip-Keep-Alive cannot be empty");
    expect_error(resp(200, "Grip-Keep-Alive", "x; mode=sometimes", NULL), NULL,
                 "no such Grip-Keep-Alive mode 'sometimes'");
    expect_error(resp(200, "Grip-Keep-Alive", "x; format=hex", NULL), NULL,
                 "no such Grip-Keep-Alive format 'hex'");
    expect_error(resp(200, "Grip-Keep-Alive", "x; timeout=-1", NULL), NULL,
                 "Grip-Keep-Alive timeout has invalid value");
    expect_error(resp(200, "Grip-Keep-Alive", "x; timeout=soon", NULL), NULL,
                 "failed to parse Grip-Keep-Alive timeout value");
    expect_error(resp(200, "Grip-Keep-Alive", "x; timeout", NULL), NULL,
                 "failed to parse Grip-Keep-Alive timeout value");
    expect_error(resp(200, "Grip-Keep-Alive", "\\x4; format=cstring", NULL), NULL,
                 "failed to parse Grip-Keep-Alive cstring format");
    expect_error(resp(200, "Grip-Keep-Alive", "\\xZZ; format=cstring", NULL), NULL,
                 "failed to parse Grip-Keep-Alive cstring format");
    expect_error(resp(200, "Grip-Keep-Alive", "ab\\; format=cstring", NULL), NULL,
                 "failed to parse Grip-Keep-Alive cstring format");
    expect_error(resp(200, "Grip-Keep-Alive", "!!; format=base64", NULL), NULL,
                 "failed to parse Grip-Keep-Alive base64 format");
    expect_error(resp(200, "Grip-Keep-Alive", "x; format=\"raw", NULL), NULL,
                 "failed to parse Grip-Keep-Alive");
}

static const char *meta(const struct tt_grip *g, const char *name)
{
    for (size_t i = 0; i < g->num_meta; i++)
        if (strcmp(g->meta[i].name, name) == 0)
            return g->meta[i].value;
    return NULL;
}

static void test_meta_status_expose(void)
{
    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Grip-Set-Meta", "user=alice, id_format=\"a;b,c\"", "Grip-Set-Meta",
                         "user=bob; ignored=1, flag", NULL),
                    NULL, &g),
              0);
    CHECK_INT(g.num_meta, 3);
    CHECK_STR(meta(&g, "user"), "bob");
    CHECK_STR(meta(&g, "id_format"), "a;b,c");
    CHECK_STR(meta(&g, "flag"), "");
    CHECK(meta(&g, "ignored") == NULL);
    tt_grip_deinit(&g);
    expect_error(resp(200, "Grip-Set-Meta", "a=1,,b=2", NULL), NULL,
                 "Grip-Set-Meta cannot be empty");
    expect_error(resp(200, "Grip-Set-Meta", "a b=1", NULL), NULL,
                 "Grip-Set-Meta contains invalid value");
    expect_error(resp(200, "Grip-Set-Meta", "\"a\"=1", NULL), NULL,
                 "Grip-Set-Meta contains invalid value");

    CHECK_INT(parse(resp(200, "Grip-Status", "404", NULL), NULL, &g), 0);
    CHECK(g.has_status);
    CHECK_INT(g.status, 404);
    CHECK(g.status_reason == NULL);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "Grip-Status", "299 Custom  Thing", NULL), NULL, &g), 0);
    CHECK_INT(g.status, 299);
    CHECK_STR(g.status_reason, "Custom  Thing");
    const char *reason;
    size_t rlen;
    CHECK_INT(tt_grip_status_line(&g, 200, "OK", 2, &reason, &rlen), 299);
    CHECK(reason && rlen == 13 && memcmp(reason, "Custom  Thing", 13) == 0);
    tt_grip_deinit(&g);
    /* Pushpin writes "HTTP/1.1 0 Undefined Reason"; a status that is not a final one a
     * client can parse (200..599) is a backend error here (502). */
    for (int k = 0; k < 6; k++) {
        static const char *const codes[] = {"0", "99", "100", "101", "199", "600"};
        expect_error(resp(200, "Grip-Status", codes[k], NULL), NULL,
                     "Grip-Status contains invalid status code");
    }
    CHECK_INT(parse(resp(200, "Grip-Status", "599", NULL), NULL, &g), 0);
    CHECK_INT(g.status, 599);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "Grip-Status", "200", NULL), NULL, &g), 0);
    CHECK_INT(g.status, 200);
    tt_grip_deinit(&g);
    /* an empty Grip-Status is ignored, as in Pushpin */
    CHECK_INT(parse(resp(200, "Grip-Status", "", NULL), NULL, &g), 0);
    CHECK(!g.has_status);
    CHECK_INT(tt_grip_status_line(&g, 201, "Made", 4, &reason, &rlen), 201);
    CHECK(reason && rlen == 4);
    tt_grip_deinit(&g);
    const char *bad = "Grip-Status contains invalid status code";
    expect_error(resp(200, "Grip-Status", "1000", NULL), NULL, bad);
    expect_error(resp(200, "Grip-Status", "-1", NULL), NULL, bad);
    expect_error(resp(200, "Grip-Status", "OK", NULL), NULL, bad);
    expect_error(resp(200, "Grip-Status", "200 a\rb", NULL), NULL,
                 "Grip-Status contains invalid reason");

    CHECK_INT(parse(resp(200, "Grip-Expose-Headers", "Content-Type, X-Foo", "X-Foo", "1",
                         "grip-expose-headers", "X-BAR,,", NULL),
                    NULL, &g),
              0);
    CHECK_INT(g.num_expose, 3);
    if (g.num_expose == 3) {
        CHECK_STR(g.expose[0], "content-type");
        CHECK_STR(g.expose[1], "x-foo");
        CHECK_STR(g.expose[2], "x-bar");
    }
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "Grip-Hold", "stream", NULL), NULL, &g), 0);
    CHECK(g.expose == NULL && g.num_expose == 0);
    tt_grip_deinit(&g);
}

static void test_links(void)
{
    struct tt_grip g;
    CHECK_INT(parse(resp(200, "Grip-Link", "</next?x=1>; rel=next; timeout=30", "Grip-Link",
                         "<https://h.example/gone>; rel=gone, </p>; rel=prev, </q>", NULL),
                    NULL, &g),
              0);
    CHECK_STR(g.next_link, "/next?x=1");
    CHECK_INT(g.next_link_timeout, 30);
    CHECK_STR(g.gone_link, "https://h.example/gone");
    tt_grip_deinit(&g);
    /* an unquoted comma splits a link (as in Pushpin), leaving "2>" as a broken item */
    expect_error(resp(200, "Grip-Link", "</a?x=1,2>; rel=next", NULL), NULL,
                 "failed to parse Grip-Link value");
    /* quoting keeps the comma but the quotes stay part of the value */
    expect_error(resp(200, "Grip-Link", "\"</a,b>\"; rel=next", NULL), NULL,
                 "failed to parse Grip-Link value");
    /* later next links win; no timeout given = 0 */
    CHECK_INT(parse(resp(200, "Grip-Link", "</1>; rel=next; timeout=5, </2>; rel=\"next\"", NULL),
                    NULL, &g),
              0);
    CHECK_STR(g.next_link, "/2");
    CHECK_INT(g.next_link_timeout, 0);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, "Grip-Link", "</x>", NULL), NULL, &g), 0);
    CHECK(g.next_link == NULL && g.gone_link == NULL);
    tt_grip_deinit(&g);
    expect_error(resp(200, "Grip-Link", "/x; rel=next", NULL), NULL,
                 "failed to parse Grip-Link value");
    expect_error(resp(200, "Grip-Link", "<>; rel=next", NULL), NULL,
                 "failed to parse Grip-Link value");
    expect_error(resp(200, "Grip-Link", "</x; rel=next", NULL), NULL,
                 "failed to parse Grip-Link value");
    expect_error(resp(200, "Grip-Link", "</x>; rel=next; timeout=x", NULL), NULL,
                 "failed to parse Grip-Link timeout value");
    expect_error(resp(200, "Grip-Link", "</x>; rel=next; timeout=-5", NULL), NULL,
                 "Grip-Link timeout has invalid value");
    expect_error(resp(200, "Grip-Link", "</a\x01>; rel=next", NULL), NULL,
                 "Grip-Link contains invalid link");
    /* the URL becomes an internal request's request line and Host */
    expect_error(resp(200, "Grip-Link", "</a b>; rel=next", NULL), NULL,
                 "Grip-Link contains invalid link");
    expect_error(resp(200, "Grip-Link", "</a\tb>; rel=next", NULL), NULL,
                 "Grip-Link contains invalid link");
    expect_error(resp(200, "Grip-Link", "<http://u@evil/x>; rel=gone", NULL), NULL,
                 "Grip-Link contains invalid link");
    expect_error(resp(200, "Grip-Link", "<https:///x>; rel=next", NULL), NULL,
                 "Grip-Link contains invalid link");
    CHECK_INT(parse(resp(200, "Grip-Link", "<HTTP://h.example:8080?a=b>; rel=next", NULL), NULL,
                    &g),
              0);
    CHECK_STR(g.next_link, "HTTP://h.example:8080?a=b");
    tt_grip_deinit(&g);
    expect_error(resp(200, "Grip-Link", "</x>; rel=\"next", NULL), NULL,
                 "failed to parse Grip-Link");
}

#define CT_INSTRUCT "Content-Type", "application/grip-instruct"

static const char *rh(const struct tt_grip *g, size_t i, const char *what)
{
    if (i >= g->num_resp_headers)
        return NULL;
    return what[0] == 'n' ? g->resp_headers[i].name : g->resp_headers[i].value;
}

static void test_json(void)
{
    struct tt_grip g;
    const char *full =
        "{\"hold\": {\"mode\": \"stream\", \"channels\": [{\"name\": \"a\"}, "
        "{\"name\": \"b\", \"prev-id\": \"3\", \"filters\": [\"skip-self\"]}], "
        "\"timeout\": 30, \"keep-alive\": {\"content\": \"ka\\n\", \"timeout\": 20}, "
        "\"meta\": {\"user\": \"u1\"}}, "
        "\"response\": {\"code\": 202, \"reason\": \"Yes\", "
        "\"headers\": [[\"X-A\", \"1\"], [\"Content-Length\", \"9\"], "
        "[\"Transfer-Encoding\", \"chunked\"], [\"connection\", \"close\"], [\"X-A\", \"2\"]], "
        "\"body\": \"hi\\u0000!\"}}";
    CHECK_INT(tt_grip_parse(resp(200, CT_INSTRUCT, "X-Orig", "1", NULL), full, strlen(full),
                            "p:", 20, &g, err, sizeof(err)),
              0);
    CHECK(g.is_grip);
    CHECK_INT(g.hold, TT_HOLD_STREAM);
    CHECK_INT(g.num_channels, 2);
    if (g.num_channels == 2) {
        CHECK_STR(g.channels[0].name, "p:a");
        CHECK(g.channels[0].prev_id == NULL);
        CHECK_STR(g.channels[1].name, "p:b");
        CHECK_STR(g.channels[1].prev_id, "3");
        CHECK_INT(g.channels[1].num_filters, 1);
        CHECK_STR(g.channels[1].filters[0], "skip-self");
    }
    CHECK_INT(g.timeout, 30);
    CHECK_INT(g.ka_len, 3);
    CHECK(g.ka_data && memcmp(g.ka_data, "ka\n", 3) == 0);
    CHECK_INT(g.ka_timeout, 20);
    CHECK_INT(g.ka_mode, TT_KA_INTERVAL);
    CHECK_STR(meta(&g, "user"), "u1");
    CHECK(g.has_response);
    CHECK_INT(g.resp_code, 202);
    CHECK_STR(g.resp_reason, "Yes");
    CHECK_INT(g.num_resp_headers, 2);
    CHECK_STR(rh(&g, 0, "n"), "X-A");
    CHECK_STR(rh(&g, 1, "v"), "2");
    CHECK_INT(g.resp_body_len, 4);
    CHECK(g.resp_body && memcmp(g.resp_body, "hi\0!", 4) == 0);
    tt_grip_deinit(&g);

    /* object headers, body-bin, content-bin, default mode/timeouts; code without reason */
    const char *alt =
        "{\"hold\": {\"channels\": []}, \"response\": {\"code\": 404, "
        "\"headers\": {\"X-B\": \"v\"}, \"body-bin\": \"aGVsbG8=\", \"body\": \"no\"}}";
    CHECK_INT(parse(resp(200, CT_INSTRUCT, "Grip-Status", "299 Foo", NULL), alt, &g), 0);
    CHECK_INT(g.hold, TT_HOLD_RESPONSE);
    CHECK_INT(g.num_channels, 0);
    CHECK_INT(g.timeout, -1);
    CHECK(g.ka_data == NULL);
    CHECK_INT(g.resp_code, 404);
    CHECK(g.resp_reason == NULL);
    CHECK_STR(rh(&g, 0, "n"), "X-B");
    CHECK_STR(rh(&g, 0, "v"), "v");
    CHECK_INT(g.resp_body_len, 5);
    CHECK_STR(g.resp_body, "hello");
    /* JSON code resets Grip-Status' reason to the standard phrase */
    const char *reason;
    size_t rlen;
    CHECK_INT(tt_grip_status_line(&g, 200, "OK", 2, &reason, &rlen), 404);
    CHECK(reason == NULL);
    tt_grip_deinit(&g);

    const char *ka_bin = "{\"hold\": {\"mode\": \"stream\", \"channels\": [], "
                         "\"keep-alive\": {\"content-bin\": \"AAE=\", \"content\": \"x\"}}}";
    CHECK_INT(parse(resp(200, CT_INSTRUCT, NULL), ka_bin, &g), 0);
    CHECK_INT(g.ka_len, 2);
    CHECK(g.ka_data && g.ka_data[0] == 0 && g.ka_data[1] == 1);
    CHECK_INT(g.ka_timeout, 55);
    CHECK_INT(g.ka_mode, TT_KA_INTERVAL);
    /* no "response": the real headers and body are still replaced (by nothing) */
    CHECK(g.has_response);
    CHECK_INT(g.resp_code, 0);
    CHECK_INT(g.num_resp_headers, 0);
    CHECK(g.resp_body == NULL && g.resp_body_len == 0);
    tt_grip_deinit(&g);

    /* response only, no hold: Grip-Status reason survives when JSON gives no code */
    CHECK_INT(parse(resp(200, "content-type", "Application/Grip-Instruct; charset=utf-8",
                         "Grip-Status", "299 Foo", NULL),
                    "{\"response\": {\"body\": \"b\"}}", &g),
              0);
    CHECK_INT(g.hold, TT_HOLD_NONE);
    CHECK(g.has_response);
    CHECK_INT(tt_grip_status_line(&g, 200, "OK", 2, &reason, &rlen), 299);
    CHECK(reason && rlen == 3 && memcmp(reason, "Foo", 3) == 0);
    tt_grip_deinit(&g);
    CHECK_INT(parse(resp(200, CT_INSTRUCT, NULL), "{\"response\": {\"reason\": \"Fine\"}}", &g), 0);
    CHECK_INT(tt_grip_status_line(&g, 200, "OK", 2, &reason, &rlen), 200);
    CHECK(reason && rlen == 4 && memcmp(reason, "Fine", 4) == 0);
    tt_grip_deinit(&g);

    /* headers and JSON merge: header channels first, JSON's hold mode wins, meta merges */
    const char *merge = "{\"hold\": {\"channels\": [{\"name\": \"j\"}], \"timeout\": 10, "
                        "\"meta\": {\"b\": \"2\"}}}";
    CHECK_INT(parse(resp(200, CT_INSTRUCT, "Grip-Hold", "stream", "Grip-Channel", "h",
                         "Grip-Timeout", "99", "Grip-Set-Meta", "a=1", NULL),
                    merge, &g),
              0);
    CHECK_INT(g.hold, TT_HOLD_RESPONSE);
    CHECK_INT(g.num_channels, 2);
    if (g.num_channels == 2) {
        CHECK_STR(g.channels[0].name, "h");
        CHECK_STR(g.channels[1].name, "j");
    }
    CHECK_INT(g.timeout, 10);
    CHECK_STR(meta(&g, "a"), "1");
    CHECK_STR(meta(&g, "b"), "2");
    tt_grip_deinit(&g);
    /* the channel cap counts both sources */
    CHECK_INT(tt_grip_parse(resp(200, CT_INSTRUCT, "Grip-Channel", "h", NULL), merge, strlen(merge),
                            NULL, 1, &g, err, sizeof(err)),
              0);
    CHECK_INT(g.num_channels, 1);
    CHECK_STR(g.channels[0].name, "h");
    tt_grip_deinit(&g);
    /* reals are truncated like Qt's toInt */
    CHECK_INT(
        parse(resp(200, CT_INSTRUCT, NULL), "{\"hold\":{\"channels\":[],\"timeout\":7.9}}", &g), 0);
    CHECK_INT(g.timeout, 7);
    tt_grip_deinit(&g);
}

static void test_json_errors(void)
{
    const struct tt_h1_response *ok = resp(200, CT_INSTRUCT, NULL);
    struct {
        const char *body, *reason;
    } cases[] = {
        {"", "failed to parse application/grip-instruct content as JSON"},
        {"{\"hold\": ", "failed to parse application/grip-instruct content as JSON"},
        {"{} x", "failed to parse application/grip-instruct content as JSON"},
        {"[1]", "instruct must be an object"},
        {"{\"hold\": 1}", "instruct contains 'hold' with wrong type"},
        {"{\"hold\": {\"mode\": 1, \"channels\": []}}", "hold contains 'mode' with wrong type"},
        {"{\"hold\": {\"mode\": \"poll\", \"channels\": []}}",
         "hold 'mode' must be set to either 'response' or 'stream'"},
        {"{\"hold\": {}}", "hold does not contain 'channels'"},
        {"{\"hold\": {\"channels\": {}}}", "hold contains 'channels' with wrong type"},
        {"{\"hold\": {\"channels\": [\"a\"]}}", "channel is not an object"},
        {"{\"hold\": {\"channels\": [{}]}}", "channel does not contain 'name'"},
        {"{\"hold\": {\"channels\": [{\"name\": 5}]}}", "channel contains 'name' with wrong type"},
        {"{\"hold\": {\"channels\": [{\"name\": \"\"}]}}", "channel contains an empty 'name'"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\\u0000b\"}]}}",
         "channel contains 'name' with invalid value"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\", \"prev-id\": 1}]}}",
         "channel contains 'prev-id' with wrong type"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\", \"filters\": \"x\"}]}}",
         "channel contains 'filters' with wrong type"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\", \"filters\": [\"x\", 2]}]}}",
         "filters contains value with wrong type"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\", \"filters\": "
         "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"]}]}}",
         "too many filters for channel 'a'"},
        {"{\"hold\": {\"channels\": [], \"timeout\": \"5\"}}",
         "hold contains 'timeout' with wrong type"},
        {"{\"hold\": {\"channels\": [], \"timeout\": -1}}",
         "hold contains 'timeout' with invalid value"},
        {"{\"hold\": {\"channels\": [], \"timeout\": 1e300}}",
         "hold contains 'timeout' with invalid value"},
        {"{\"hold\": {\"channels\": [], \"keep-alive\": []}}",
         "hold contains 'keep-alive' with wrong type"},
        {"{\"hold\": {\"channels\": [], \"keep-alive\": {\"content\": 1}}}",
         "keep-alive contains 'content' with wrong type"},
        {"{\"hold\": {\"channels\": [], \"keep-alive\": {\"content-bin\": \"!!\"}}}",
         "keep-alive contains 'content-bin' with invalid value"},
        {"{\"hold\": {\"channels\": [], \"keep-alive\": {\"content\": \"x\", \"timeout\": -2}}}",
         "keep-alive contains 'timeout' with invalid value"},
        {"{\"hold\": {\"channels\": [], \"meta\": []}}", "hold contains 'meta' with wrong type"},
        {"{\"hold\": {\"channels\": [], \"meta\": {\"k\": 1}}}",
         "'meta' contains 'k' with wrong type"},
        {"{\"response\": 1}", "instruct contains 'response' with wrong type"},
        {"{\"response\": {\"code\": \"200\"}}", "response contains 'code' with wrong type"},
        {"{\"response\": {\"code\": 1000}}", "response contains 'code' with invalid value"},
        {"{\"response\": {\"code\": 0}}", "response contains 'code' with invalid value"},
        {"{\"response\": {\"code\": 101}}", "response contains 'code' with invalid value"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\\r\\nX: y\"}]}}",
         "channel contains 'name' with invalid value"},
        {"{\"hold\": {\"channels\": [{\"name\": \"a\", \"prev-id\": \"1\\nX: y\"}]}}",
         "channel contains 'prev-id' with invalid value"},
        {"{\"hold\": {\"channels\": [], \"meta\": {\"k\": \"a\\r\\nb\"}}}",
         "'meta' contains 'k' with invalid value"},
        {"{\"hold\": {\"channels\": [], \"meta\": {\"k k\": \"v\"}}}",
         "'meta' contains 'k k' with invalid value"},
        {"{\"response\": {\"reason\": 1}}", "response contains 'reason' with wrong type"},
        {"{\"response\": {\"reason\": \"a\\r\\nX: y\"}}",
         "response contains 'reason' with invalid value"},
        {"{\"response\": {\"headers\": \"x\"}}", "response contains 'headers' with wrong type"},
        {"{\"response\": {\"headers\": [\"x\"]}}", "headers contains element with wrong type"},
        {"{\"response\": {\"headers\": [[\"x\"]]}}",
         "headers contains list with wrong number of elements"},
        {"{\"response\": {\"headers\": [[1, \"v\"]]}}",
         "header contains name element with wrong type"},
        {"{\"response\": {\"headers\": [[\"n\", 1]]}}",
         "header contains value element with wrong type"},
        {"{\"response\": {\"headers\": {\"n\": 1}}}", "headers contains 'n' with wrong type"},
        {"{\"response\": {\"headers\": [[\"X\", \"a\\r\\nSet-Cookie: x\"]]}}",
         "headers contains invalid header 'X'"},
        {"{\"response\": {\"headers\": {\"Bad Name\": \"v\"}}}",
         "headers contains invalid header 'Bad Name'"},
        {"{\"response\": {\"headers\": [[\"\", \"v\"]]}}", "headers contains invalid header ''"},
        {"{\"response\": {\"body\": 1}}", "response contains 'body' with wrong type"},
        {"{\"response\": {\"body-bin\": \"***\"}}",
         "response contains 'body-bin' with invalid value"},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++)
        expect_error(ok, cases[i].body, cases[i].reason);

    expect_error(resp(404, CT_INSTRUCT, NULL), "{}",
                 "response code for application/grip-instruct content must be 200");
    /* header errors are reported before the body is looked at */
    expect_error(resp(200, CT_INSTRUCT, "Grip-Hold", "x", NULL), "{",
                 "Grip-Hold must be set to either 'response' or 'stream'");
    /* body cap: N passes, N+1 fails */
    ok = resp(200, CT_INSTRUCT, NULL); /* R was rebuilt above */
    size_t n = TT_GRIP_MAX_BODY;
    char *big = malloc(n + 2);
    memset(big, ' ', n + 1);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = ' ';
    big[n + 1] = '\0';
    struct tt_grip g;
    CHECK_INT(tt_grip_parse(ok, big, n, NULL, 20, &g, err, sizeof(err)), 0);
    tt_grip_deinit(&g);
    CHECK_INT(tt_grip_parse(ok, big, n + 1, NULL, 20, &g, err, sizeof(err)), TT_EPARSE);
    CHECK_STR(err, "application/grip-instruct content too large");
    free(big);
    /* a NULL body with the instruct type is a JSON error, not a crash */
    CHECK_INT(tt_grip_parse(ok, NULL, 0, NULL, 20, &g, err, sizeof(err)), TT_EPARSE);
    /* err may be NULL */
    CHECK_INT(tt_grip_parse(resp(200, "Grip-Hold", "x", NULL), NULL, 0, NULL, 20, &g, NULL, 0),
              TT_EPARSE);
}

static void test_deinit(void)
{
    struct tt_grip g, zero;
    memset(&zero, 0, sizeof(zero));
    const char *body = "{\"hold\": {\"channels\": [{\"name\": \"a\", \"filters\": [\"f\"]}], "
                       "\"meta\": {\"m\": \"v\"}, \"keep-alive\": {\"content\": \"k\"}}, "
                       "\"response\": {\"reason\": \"R\", \"headers\": {\"A\": \"b\"}, "
                       "\"body\": \"x\"}}";
    CHECK_INT(
        parse(resp(200, CT_INSTRUCT, "Grip-Channel", "c; prev-id=1", "Grip-Status", "201 X",
                   "Grip-Link", "</n>; rel=next, </g>; rel=gone", "Grip-Expose-Headers", "A", NULL),
              body, &g),
        0);
    CHECK_INT(g.num_channels, 2);
    CHECK(g.next_link && g.gone_link && g.status_reason && g.resp_reason && g.expose);
    tt_grip_deinit(&g);
    CHECK(memcmp(&g, &zero, sizeof(g)) == 0);
    tt_grip_deinit(&g); /* twice is fine */
    CHECK(memcmp(&g, &zero, sizeof(g)) == 0);
}

TT_TEST_MAIN(test_detect, test_split, test_hold, test_channels, test_timeout, test_keep_alive,
             test_meta_status_expose, test_links, test_json, test_json_errors, test_deinit)

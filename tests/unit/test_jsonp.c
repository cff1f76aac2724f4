/* test_jsonp.c: JSON-P request rewrite and response wrapping (SPEC.md 8). Expected wrapper
 * texts were taken from real Pushpin 1.36 answers to the same backend responses. */
#include "proxy/jsonp.h"

#include <stdlib.h>

#include "tt_test.h"

static struct tt_route ext_route(void)
{
    struct tt_route r;
    memset(&r, 0, sizeof(r));
    r.aco = true;
    r.jsonp_cb = "callback";
    r.jsonp_defmethod = "GET";
    return r;
}

/* *,aco,jsonp_mode=basic,jsonp_body=bparam,jsonp_defcb=jpcb */
static struct tt_route basic_route(void)
{
    struct tt_route r = ext_route();
    r.jsonp_mode = 1;
    r.jsonp_body = "bparam";
    r.jsonp_defcb = "jpcb";
    r.jsonp_defmethod = "POST";
    return r;
}

static int req(const struct tt_route *r, const char *method, const char *target, struct tt_jsonp *j,
               const char **err)
{
    return tt_jsonp_request(r, true, method, target, strlen(target), j, err);
}

/* Expect an error with this text. */
static void expect_err(const struct tt_route *r, const char *target, const char *text)
{
    struct tt_jsonp j;
    const char *err = "unset";
    int rc = req(r, "GET", target, &j, &err);
    CHECK_INT(rc, TT_EPARSE);
    CHECK_STR(err, text);
    CHECK(!j.active && !j.callback && !j.target && !j.headers && !j.body);
    if (rc != TT_EPARSE)
        fprintf(stderr, "  target: %s\n", target);
    tt_jsonp_deinit(&j);
}

static void expect_inactive(const struct tt_route *r, bool aco, const char *method,
                            const char *target)
{
    struct tt_jsonp j;
    const char *err = "unset";
    int rc = tt_jsonp_request(r, aco, method, target, strlen(target), &j, &err);
    CHECK_INT(rc, 0);
    CHECK(!j.active);
    CHECK(err == NULL);
    if (j.active)
        fprintf(stderr, "  target: %s\n", target);
    tt_jsonp_deinit(&j);
}

/* Expect success; returns the rewritten target's comparison result. */
static void expect_target(const struct tt_route *r, const char *target, const char *cb,
                          const char *want_target)
{
    struct tt_jsonp j;
    const char *err = NULL;
    CHECK_INT(req(r, "GET", target, &j, &err), 0);
    CHECK(j.active);
    CHECK_STR(j.callback, cb);
    CHECK_STR(j.target, want_target);
    tt_jsonp_deinit(&j);
}

static void test_inactive(void)
{
    struct tt_route r = ext_route();
    expect_inactive(&r, false, "GET", "/jp?callback=cb");
    expect_inactive(&r, true, "POST", "/jp?callback=cb");
    expect_inactive(&r, true, "get", "/jp?callback=cb");
    expect_inactive(&r, true, "GET", "/jp");
    expect_inactive(&r, true, "GET", "/jp?");
    expect_inactive(&r, true, "GET", "/jp?a=1&b=2");
    expect_inactive(&r, true, "GET", "/jp?CALLBACK=a");
    expect_inactive(&r, true, "GET", "/jp?z=1;callback=a");
    expect_inactive(&r, true, "GET", "/jp#x?callback=a");
    expect_inactive(&r, true, "GET", "/jp?x=callback");
    /* the body param alone needs a default callback */
    struct tt_route nb = ext_route();
    nb.jsonp_body = "bp";
    expect_inactive(&nb, true, "GET", "/jp?bp=x");
    nb.jsonp_defcb = "";
    expect_inactive(&nb, true, "GET", "/jp?bp=x");
    /* default callback without a body param name configured */
    struct tt_route nd = ext_route();
    nd.jsonp_defcb = "d";
    expect_inactive(&nd, true, "GET", "/jp?bparam=x&_body=y");
    /* a NULL route is not an error */
    struct tt_jsonp j;
    CHECK_INT(tt_jsonp_request(NULL, true, "GET", "/?callback=a", 12, &j, NULL), 0);
    CHECK(!j.active);
}

static void test_extended_basic_request(void)
{
    struct tt_route r = ext_route();
    struct tt_jsonp j;
    const char *err = "unset";
    CHECK_INT(req(&r, "GET", "/jp?a=1&callback=myCb&b=2", &j, &err), 0);
    CHECK(err == NULL);
    CHECK(j.active);
    CHECK(!j.basic);
    CHECK_STR(j.callback, "myCb");
    CHECK_STR(j.method, "GET");
    CHECK_STR(j.target, "/jp?a=1&b=2");
    CHECK_INT(j.num_headers, 0);
    CHECK(!j.has_body && !j.body && !j.body_is_json);
    tt_jsonp_deinit(&j);
    CHECK(j.callback == NULL && !j.active);
    tt_jsonp_deinit(&j); /* twice is harmless */

    /* target is not NUL-terminated: only target_len counts */
    const char *t = "/jp?callback=ab&zzz";
    CHECK_INT(tt_jsonp_request(&r, true, "GET", t, 15, &j, NULL), 0);
    CHECK_STR(j.callback, "ab");
    CHECK_STR(j.target, "/jp");
    tt_jsonp_deinit(&j);
}

static void test_callback(void)
{
    struct tt_route r = ext_route();
    expect_target(&r, "/x?callback=%6Ay", "jy", "/x");
    expect_target(&r, "/x?callbac%6B=a&z=1", "a", "/x?z=1");
    expect_target(&r, "/x?callback=a&callback=b&z=1", "a", "/x?z=1");
    expect_target(&r, "/x?callback=cb%5B0%5D", "cb[0]", "/x");
    expect_target(&r, "/x?callback=angular.callbacks._0", "angular.callbacks._0", "/x");
    expect_target(&r, "/x?callback=jQuery1_2$", "jQuery1_2$", "/x");
    expect_target(&r, "/x?callback=a#frag", "a", "/x");
    expect_target(&r, "/x?callback=a&z=%7e%41&y#f", "a", "/x?z=%7e%41&y");

    expect_err(&r, "/x?callback=", "Invalid callback parameter.");
    expect_err(&r, "/x?callback", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=a%3Cscript%3E", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=alert(1);x", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=a+b", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=a%20b", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=a%2", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=a%00", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=a=b", "Invalid callback parameter.");
    expect_err(&r, "/x?callback=%C3%A9", "Invalid callback parameter.");
    /* the callback is checked before the other params */
    expect_err(&r, "/x?_method=&callback=", "Invalid callback parameter.");

    /* a route's own callback param name; "callback" is then an ordinary param */
    struct tt_route c = ext_route();
    c.jsonp_cb = "cbx";
    expect_target(&c, "/jcb/a?cbx=foo&callback=bar", "foo", "/jcb/a?callback=bar");
    expect_inactive(&c, true, "GET", "/jcb/a?callback=bar");
    /* an empty param name means the default */
    c.jsonp_cb = "";
    expect_target(&c, "/a?callback=foo", "foo", "/a");
    c.jsonp_cb = NULL;
    expect_target(&c, "/a?callback=foo", "foo", "/a");
}

static void test_query_rebuild(void)
{
    struct tt_route r = ext_route();
    expect_target(&r, "/x?&callback=a&z=1", "a", "/x?z=1");
    expect_target(&r, "/x?z=1&&w=2&callback=a", "a", "/x?z=1&&w=2");
    expect_target(&r, "/x?callback=a&z=1&", "a", "/x?z=1");
    expect_target(&r, "/x?&&callback=a&&", "a", "/x?");
    expect_target(&r, "/x?&callback=a", "a", "/x?");
    expect_target(&r, "/x?callback=a&&", "a", "/x?");
    expect_target(&r, "/x?&&&callback=a&z=1", "a", "/x?z=1");
    expect_target(&r, "/x?z=1&callback=a&&", "a", "/x?z=1&");
    expect_target(&r, "/x?&z&callback=a", "a", "/x?z");
    expect_target(&r, "/x?a&&callback=a&&b", "a", "/x?a&&&b");
    expect_target(&r, "/x?callback=a&", "a", "/x");
    expect_target(&r, "/x?=&callback=a", "a", "/x?=");
    expect_target(&r, "/x?z=1&&callback=a", "a", "/x?z=1&");
    expect_target(&r, "/x?z=1&callback=a&w=2", "a", "/x?z=1&w=2");
    expect_target(&r, "/x?z=%zz&callback=a&w=%", "a", "/x?z=%zz&w=%");
    expect_target(&r, "/?callback=a", "a", "/");
    expect_target(&r, "http://h/p?callback=a&q", "a", "http://h/p?q");
}

static void test_method(void)
{
    struct tt_route r = ext_route();
    struct tt_jsonp j;
    CHECK_INT(req(&r, "GET", "/jpm?callback=cb&_method=DELETE", &j, NULL), 0);
    CHECK_STR(j.method, "DELETE");
    CHECK_STR(j.target, "/jpm");
    tt_jsonp_deinit(&j);
    CHECK_INT(req(&r, "GET", "/jpm?callback=cb&%5Fmethod=PUT&_method=X", &j, NULL), 0);
    CHECK_STR(j.method, "PUT");
    tt_jsonp_deinit(&j);
    CHECK_INT(req(&r, "GET", "/jpm?callback=cb&_method=ABCDEFGHIJKLMNO", &j, NULL), 0);
    CHECK_STR(j.method, "ABCDEFGHIJKLMNO");
    tt_jsonp_deinit(&j);
    CHECK_INT(req(&r, "GET", "/jpm?callback=cb&_method=M-S!%23", &j, NULL), 0);
    CHECK_STR(j.method, "M-S!#");
    tt_jsonp_deinit(&j);

    expect_err(&r, "/x?callback=cb&_method=", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=DEL%20ETE", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=P%0aX", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=G(T", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=G%7fT", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=G%C3%A9T", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=ABCDEFGHIJKLMNOP", "Invalid _method parameter.");
    expect_err(&r, "/x?callback=cb&_method=GET%00", "Invalid _method parameter.");

    /* defaults: the route's jsonp_defmethod, else the mode's */
    struct tt_route d = ext_route();
    d.jsonp_defmethod = "PUT";
    CHECK_INT(req(&d, "GET", "/jdm/a?callback=cb", &j, NULL), 0);
    CHECK_STR(j.method, "PUT");
    tt_jsonp_deinit(&j);
    d.jsonp_defmethod = NULL;
    CHECK_INT(req(&d, "GET", "/a?callback=cb", &j, NULL), 0);
    CHECK_STR(j.method, "GET");
    tt_jsonp_deinit(&j);
    d.jsonp_mode = 1;
    CHECK_INT(req(&d, "GET", "/a?callback=cb", &j, NULL), 0);
    CHECK_STR(j.method, "POST");
    CHECK(j.basic);
    tt_jsonp_deinit(&j);
}

static void test_headers_param(void)
{
    struct tt_route r = ext_route();
    struct tt_jsonp j;
    /* {"X-B":"1","X-A":"2","host":"evil","ACCEPT":"x","x-c":"\t v\u00e9"} */
    CHECK_INT(req(&r, "GET",
                  "/x?callback=cb&_headers=%7B%22X-B%22%3A%221%22%2C%22X-A%22%3A%222%22%2C"
                  "%22host%22%3A%22evil%22%2C%22ACCEPT%22%3A%22x%22%2C"
                  "%22x-c%22%3A%22%5Ct%20v%5Cu00e9%22%7D&q=1",
                  &j, NULL),
              0);
    CHECK_STR(j.target, "/x?q=1");
    CHECK_INT(j.num_headers, 3);
    if (j.num_headers == 3) {
        CHECK_STR(j.headers[0].name, "X-A");
        CHECK_STR(j.headers[0].value, "2");
        CHECK_STR(j.headers[1].name, "X-B");
        CHECK_STR(j.headers[1].value, "1");
        CHECK_STR(j.headers[2].name, "x-c");
        CHECK_STR(j.headers[2].value, "\t v\xc3\xa9");
    }
    tt_jsonp_deinit(&j);

    /* duplicate keys: the last value wins; unencoded JSON in the query works too */
    CHECK_INT(req(&r, "GET", "/x?callback=cb&_headers={\"X-A\":\"1\",\"X-A\":\"2\"}", &j, NULL), 0);
    CHECK_INT(j.num_headers, 1);
    if (j.num_headers == 1)
        CHECK_STR(j.headers[0].value, "2");
    tt_jsonp_deinit(&j);

    /* framing and connection headers are dropped like Host and Accept */
    CHECK_INT(req(&r, "GET",
                  "/x?callback=cb&_headers={\"Content-Length\":\"5\",\"transfer-encoding\":"
                  "\"chunked\",\"Connection\":\"close\",\"Keep-Alive\":\"1\","
                  "\"Proxy-Connection\":\"x\",\"TE\":\"trailers\"}",
                  &j, NULL),
              0);
    CHECK_INT(j.num_headers, 1);
    if (j.num_headers == 1)
        CHECK_STR(j.headers[0].name, "TE");
    tt_jsonp_deinit(&j);

    CHECK_INT(req(&r, "GET", "/x?callback=cb&_headers=%7B%7D", &j, NULL), 0);
    CHECK_INT(j.num_headers, 0);
    CHECK_STR(j.target, "/x");
    tt_jsonp_deinit(&j);

    const char *bad[] = {
        "/x?callback=cb&_headers=",
        "/x?callback=cb&_headers",
        "/x?callback=cb&_headers=%5B%5D",                           /* [] */
        "/x?callback=cb&_headers=%22s%22",                          /* "s" */
        "/x?callback=cb&_headers=%7B%22X-A%22%3A1%7D",              /* {"X-A":1} */
        "/x?callback=cb&_headers=%7B%22X-A%22%3Anull%7D",           /* {"X-A":null} */
        "/x?callback=cb&_headers=%7B%22X-A%22%3A%22%22",            /* unterminated */
        "/x?callback=cb&_headers=%7B%7D%7B%7D",                     /* {}{} */
        "/x?callback=cb&_headers=%7B%22X%20A%22%3A%22v%22%7D",      /* name with a space */
        "/x?callback=cb&_headers=%7B%22%22%3A%22v%22%7D",           /* empty name */
        "/x?callback=cb&_headers=%7B%22X%22%3A%22a%5Cr%5Cnb%22%7D", /* CRLF in the value */
        "/x?callback=cb&_headers=%7B%22X%22%3A%22a%5Cu0000b%22%7D", /* NUL in the value */
        "/x?callback=cb&_headers=%7B%22X%22%3A%22a%5Cu007fb%22%7D", /* DEL in the value */
        "/x?callback=cb&_headers=%7B%22X%22%3A%22%FF%22%7D",        /* not UTF-8 */
        /* a bad value is refused even for a header that would be ignored */
        "/x?callback=cb&_headers=%7B%22Host%22%3A1%7D",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_err(&r, bad[i], "Invalid _headers parameter.");
}

static void test_body_params(void)
{
    struct tt_route b = basic_route();
    struct tt_jsonp j;
    const char *err = NULL;

    /* the default callback with the body param activates JSON-P */
    CHECK_INT(req(&b, "GET", "/jsonp-basic/a?bparam=%7B%22a%22%3A1%7D", &j, &err), 0);
    CHECK(j.active && j.basic);
    CHECK_STR(j.callback, "jpcb");
    CHECK_STR(j.method, "POST");
    CHECK_STR(j.target, "/jsonp-basic/a");
    CHECK(j.has_body && j.body_is_json);
    CHECK_INT(j.body_len, 7);
    CHECK(j.body && memcmp(j.body, "{\"a\":1}", 7) == 0);
    tt_jsonp_deinit(&j);

    /* body param with a callback; _body stays in the query; _headers Content-Type goes */
    CHECK_INT(req(&b, "GET",
                  "/jsonp-basic/a?callback=cb&_body=zz&bparam=x%00y&_headers=%7B%22content-type"
                  "%22%3A%22text/plain%22%2C%22X-Z%22%3A%22z%22%7D",
                  &j, &err),
              0);
    CHECK_STR(j.callback, "cb");
    CHECK_STR(j.target, "/jsonp-basic/a?_body=zz");
    CHECK(j.has_body && j.body_is_json);
    CHECK_INT(j.body_len, 3);
    CHECK(j.body && memcmp(j.body, "x\0y", 3) == 0);
    CHECK_INT(j.num_headers, 1);
    if (j.num_headers == 1)
        CHECK_STR(j.headers[0].name, "X-Z");
    tt_jsonp_deinit(&j);

    /* callback without a body */
    CHECK_INT(req(&b, "GET", "/jsonp-basic/a?callback=cb", &j, &err), 0);
    CHECK(!j.has_body && !j.body && !j.body_is_json);
    CHECK_STR(j.method, "POST");
    tt_jsonp_deinit(&j);

    expect_err(&b, "/jsonp-basic/a?bparam=", "Invalid body parameter.");
    expect_err(&b, "/jsonp-basic/a?callback=cb&bparam", "Invalid body parameter.");

    /* _body when no body param is configured */
    struct tt_route r = ext_route();
    CHECK_INT(req(&r, "GET", "/x?callback=cb&_body=hello%20w+x&_body=2", &j, &err), 0);
    CHECK(j.has_body && !j.body_is_json);
    CHECK_INT(j.body_len, 9);
    CHECK(j.body && memcmp(j.body, "hello w+x", 9) == 0);
    CHECK_STR(j.target, "/x");
    CHECK_STR(j.method, "GET");
    tt_jsonp_deinit(&j);
    CHECK_INT(req(&r, "GET", "/x?callback=cb&_body=%2541&_body=c=d", &j, &err), 0);
    CHECK_INT(j.body_len, 3);
    CHECK(j.body && memcmp(j.body, "%41", 3) == 0);
    tt_jsonp_deinit(&j);
    CHECK_INT(req(&r, "GET", "/x?callback=cb&_body=c=d", &j, &err), 0);
    CHECK(j.body && j.body_len == 3 && memcmp(j.body, "c=d", 3) == 0);
    tt_jsonp_deinit(&j);
    expect_err(&r, "/x?callback=cb&_body=", "Invalid _body parameter.");
    expect_err(&r, "/x?callback=cb&_body", "Invalid _body parameter.");
    /* headers are checked before the body */
    expect_err(&r, "/x?callback=cb&_body=&_headers=1", "Invalid _headers parameter.");

    /* extended route with a body param but no default callback */
    struct tt_route e = ext_route();
    e.jsonp_body = "bp";
    CHECK_INT(req(&e, "GET", "/jb2/a?callback=cb&bp=x&_body=zz", &j, &err), 0);
    CHECK(!j.basic && j.body_is_json);
    CHECK_STR(j.method, "GET");
    CHECK_STR(j.target, "/jb2/a?_body=zz");
    tt_jsonp_deinit(&j);
}

/* ---- wrapping ---- */

static void mkresp(struct tt_resp *r, int status, const char *reason, const char *const *hdrs,
                   const char *body, size_t body_len)
{
    tt_resp_init(r, status);
    if (reason)
        r->reason = strdup(reason);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        tt_resp_add_header(r, hdrs[i], hdrs[i + 1]);
    tt_buf_append(&r->body, body, body_len);
}

static struct tt_jsonp mkj(const char *cb, bool basic)
{
    struct tt_jsonp j;
    memset(&j, 0, sizeof(j));
    j.active = true;
    j.basic = basic;
    j.callback = strdup(cb);
    return j;
}

static bool body_is(const struct tt_resp *r, const char *want, size_t want_len)
{
    bool ok = r->body.len == want_len && memcmp(r->body.data, want, want_len) == 0;
    if (!ok)
        fprintf(stderr, "  got  [%.*s]\n  want [%.*s]\n", (int)r->body.len, r->body.data,
                (int)want_len, want);
    return ok;
}
#define BODY_IS(r, lit) CHECK(body_is((r), lit, sizeof(lit) - 1))

static void check_header_list(const struct tt_resp *r, const char *const *want)
{
    size_t n = 0;
    while (want[n * 2])
        n++;
    CHECK_INT(r->num_headers, n);
    for (size_t i = 0; i < n && i < r->num_headers; i++) {
        CHECK_STR(r->headers[i].name, want[i * 2]);
        CHECK_STR(r->headers[i].value, want[i * 2 + 1]);
    }
}

static void test_wrap_extended_escaping(void)
{
    struct tt_jsonp j = mkj("cb", false);
    struct tt_resp in, out;
    static const char body[] =
        "a\"b\\c/d\x01\x1f\x7f\t\n\r\x08\x0c\x0b"
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80</script>\xe2\x80\xa8\xef\xbb\xbf";
    const char *h[] = {"Content-Length", "40", "Content-Type", "text/plain", "X-U",
                       "\x01\"\\",       NULL};
    mkresp(&in, 200, NULL, h, body, sizeof(body) - 1);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    CHECK_INT(out.status, 200);
    CHECK(out.reason == NULL);
    BODY_IS(&out,
            "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {\"Content-Length\":\"40\","
            "\"Content-Type\":\"text/plain\",\"X-U\":\"\\u0001\\\"\\\\\"}, \"body\": "
            "\"a\\\"b\\\\c/d\\u0001\\u001f\x7f\\t\\n\\r\\b\\f\\u000b\xc3\xa9\xe2\x82\xac\xf0"
            "\x9f\x98\x80</script>\xe2\x80\xa8\xef\xbb\xbf\"});\n");
    const char *want_h[] = {"Content-Type", "application/javascript", NULL};
    check_header_list(&out, want_h);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* invalid UTF-8: one U+FFFD per byte that does not start a valid sequence */
    static const char bad[] = "ab\xff"
                              "cd\xc3(\xe2\x82\xed\xa0\x80\xf0\x9f\x98";
    mkresp(&in, 200, NULL, NULL, bad, sizeof(bad) - 1);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out,
            "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {}, \"body\": \"ab\xef\xbf\xbd"
            "cd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef"
            "\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* a leading BOM is dropped; overlong and out-of-range forms are replaced bytewise */
    static const char bom[] = "\xef\xbb\xbfhi\xc0\x80\xf4\x90\x80\x80\xe0\x80\x80";
    mkresp(&in, 200, NULL, NULL, bom, sizeof(bom) - 1);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {}, \"body\": \"hi"
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
                  "\xbd\xef\xbf\xbd\xef\xbf\xbd\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* noncharacters, U+10FFFF, 5-byte forms, surrogates, interior BOMs */
    static const char odd[] = "\xef\xbf\xbe|\xef\xbf\xbf|\xf4\x8f\xbf\xbf|\xf8\x88\x80\x80\x80|"
                              "\xed\xbf\xbf|\xee\x80\x80|\xef\xbb\xbf\xef\xbb\xbf|\xc2\x80";
    mkresp(&in, 200, NULL, NULL, odd, sizeof(odd) - 1);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out,
            "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {}, \"body\": \"\xef\xbf\xbe|"
            "\xef\xbf\xbf|\xf4\x8f\xbf\xbf|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef"
            "\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xee\x80\x80|\xef\xbb\xbf\xef\xbb"
            "\xbf|\xc2\x80\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* NUL: Pushpin cuts the string there; we escape it */
    mkresp(&in, 200, NULL, NULL, "a\0b", 3);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {}, \"body\": "
                  "\"a\\u0000b\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);
    tt_jsonp_deinit(&j);
}

static void test_wrap_extended_headers(void)
{
    struct tt_jsonp j = mkj("cb", false);
    struct tt_resp in, out;
    const char *h[] = {
        "X-B",           "1",        "x-b",           "2", "X-A",          "3",          "X-B", "4",
        "Cache-Control", "no-cache", "cache-control", "x", "Content-Type", "text/plain", NULL};
    mkresp(&in, 200, "Ok \"q\" \xe9\\", h, "", 0);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out,
            "/**/cb({\"code\": 200, \"reason\": \"Ok \\\"q\\\" \xef\xbf\xbd\\\\\", \"headers\": "
            "{\"Cache-Control\":\"no-cache\",\"Content-Type\":\"text/plain\",\"X-A\":\"3\","
            "\"X-B\":\"1\",\"cache-control\":\"x\",\"x-b\":\"2\"}, \"body\": \"\"});\n");
    const char *want_h[] = {"Content-Type",
                            "application/javascript",
                            "Cache-Control",
                            "no-cache",
                            "cache-control",
                            "x",
                            NULL};
    check_header_list(&out, want_h);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* error status: still 200 outside; the standard phrase when the reason is unset */
    const char *h2[] = {"Content-Type", "text/plain", NULL};
    mkresp(&in, 404, NULL, h2, "missing\n", 8);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    CHECK_INT(out.status, 200);
    BODY_IS(&out, "/**/cb({\"code\": 404, \"reason\": \"Not Found\", \"headers\": "
                  "{\"Content-Type\":\"text/plain\"}, \"body\": \"missing\\n\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* an empty reason stays empty */
    mkresp(&in, 201, "", NULL, "ab", 2);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out,
            "/**/cb({\"code\": 201, \"reason\": \"\", \"headers\": {}, \"body\": \"ab\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);
    tt_jsonp_deinit(&j);
}

static void test_wrap_handler_style(void)
{
    struct tt_jsonp j = mkj("cb", false);
    struct tt_resp in, out;
    const char *h[] = {"Content-Type", "text/plain",     "X-H", "a",   "x-h",  "b", "Cache-Control",
                       "no-store",     "Content-Length", "12",  "X-A", "\xe9", NULL};
    mkresp(&in, 202, "Acc", h, "time\"out\n\x01\xff", 11);
    CHECK_INT(tt_jsonp_wrap(&j, &in, true, &out), 0);
    CHECK_INT(out.status, 200);
    BODY_IS(&out,
            "/**/cb({\"body\":\"time\\\"out\\n\\u0001\xef\xbf\xbd\",\"code\":202,\"headers\":"
            "{\"Cache-Control\":\"no-store\",\"Content-Type\":\"text/plain\",\"X-A\":\"\xef\xbf"
            "\xbd\",\"X-H\":\"a, b\"},\"reason\":\"Acc\"});\n");
    const char *want_h[] = {"X-H",
                            "a",
                            "x-h",
                            "b",
                            "Cache-Control",
                            "no-store",
                            "X-A",
                            "\xe9",
                            "Content-Type",
                            "application/javascript",
                            NULL};
    check_header_list(&out, want_h);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* published delivery: standard phrase, compact escaping, U+2028 raw */
    const char *h2[] = {"Cache-Control", "no-store", "Content-Type", "text/plain", "X-A", "\xe9",
                        "X-H",           "z",        "X-P",          "p",          NULL};
    mkresp(&in, 201, NULL, h2, "pub\n\xe2\x80\xa8", 7);
    CHECK_INT(tt_jsonp_wrap(&j, &in, true, &out), 0);
    BODY_IS(&out,
            "/**/cb({\"body\":\"pub\\n\xe2\x80\xa8\",\"code\":201,\"headers\":{\"Cache-Control\":"
            "\"no-store\",\"Content-Type\":\"text/plain\",\"X-A\":\"\xef\xbf\xbd\",\"X-H\":\"z\","
            "\"X-P\":\"p\"},\"reason\":\"Created\"});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* no headers at all */
    mkresp(&in, 200, NULL, NULL, "", 0);
    CHECK_INT(tt_jsonp_wrap(&j, &in, true, &out), 0);
    BODY_IS(&out, "/**/cb({\"body\":\"\",\"code\":200,\"headers\":{},\"reason\":\"OK\"});\n");
    const char *want_h3[] = {"Content-Type", "application/javascript", NULL};
    check_header_list(&out, want_h3);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);
    tt_jsonp_deinit(&j);
}

static void test_wrap_basic(void)
{
    struct tt_jsonp j = mkj("cb", true);
    struct tt_resp in, out;
    const char *h[] = {
        "Content-Type", "application/json", "Cache-Control", "max-age=1", "X-Q", "q", NULL};

    mkresp(&in, 200, NULL, h, "{\"a\":1}\r\n\n", 10);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb({\"a\":1}\r\n);\n");
    const char *want_h[] = {"Content-Type", "application/javascript", "Cache-Control", "max-age=1",
                            NULL};
    check_header_list(&out, want_h);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    mkresp(&in, 500, NULL, NULL, "{\"a\":1}\r\n", 9);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    CHECK_INT(out.status, 200);
    BODY_IS(&out, "/**/cb({\"a\":1});\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* raw bytes, no JSON encoding in basic mode */
    mkresp(&in, 200, NULL, NULL, "x\xff\"", 3);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb(x\xff\");\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    mkresp(&in, 200, NULL, NULL, "", 0);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb();\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    mkresp(&in, 200, NULL, NULL, "\r", 1);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb(\r);\n");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);

    /* handler style in basic mode keeps the held response's headers */
    const char *h2[] = {
        "X-H",      "a", "Content-Type", "text/plain", "Content-Length", "5", "Cache-Control",
        "no-store", NULL};
    mkresp(&in, 200, NULL, h2, "{\"x\":1}\r\n", 9);
    CHECK_INT(tt_jsonp_wrap(&j, &in, true, &out), 0);
    BODY_IS(&out, "/**/cb({\"x\":1});\n");
    const char *want_h2[] = {
        "X-H", "a", "Cache-Control", "no-store", "Content-Type", "application/javascript", NULL};
    check_header_list(&out, want_h2);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);
    tt_jsonp_deinit(&j);
}

/* The request and wrap halves together, as the proxy uses them. */
static void test_round_trip(void)
{
    struct tt_route r = basic_route();
    struct tt_jsonp j;
    CHECK_INT(req(&r, "GET", "/jsonp-basic/x?callback=cb", &j, NULL), 0);
    struct tt_resp in, out;
    const char *h[] = {"Content-Type", "application/json", NULL};
    mkresp(&in, 200, NULL, h, "{\"a\":1}\n", 8);
    CHECK_INT(tt_jsonp_wrap(&j, &in, false, &out), 0);
    BODY_IS(&out, "/**/cb({\"a\":1});\n");
    CHECK_STR(tt_resp_get_header(&out, "content-type"), "application/javascript");
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);
    tt_jsonp_deinit(&j);
}

TT_TEST_MAIN(test_inactive, test_extended_basic_request, test_callback, test_query_rebuild,
             test_method, test_headers_param, test_body_params, test_wrap_extended_escaping,
             test_wrap_extended_headers, test_wrap_handler_style, test_wrap_basic, test_round_trip)

/* test_routes.c: routes file grammar, props, errors and route selection (SPEC.md 2). */
#include "routes/routes.h"

#include <stdlib.h>

#include "tt_test.h"

struct warns {
    int n;
    int lines[32];
    char msgs[32][128];
};

static void on_warn(void *ctx, int line, const char *msg)
{
    struct warns *w = ctx;
    if (w->n < 32) {
        w->lines[w->n] = line;
        snprintf(w->msgs[w->n], sizeof(w->msgs[0]), "%s", msg);
    }
    w->n++;
}

static struct tt_routes *parse(const char *text, struct warns *w, int *errors)
{
    memset(w, 0, sizeof(*w));
    return tt_routes_parse(text, strlen(text), on_warn, w, errors);
}

/* Parse a single line that must produce exactly one route. */
static struct tt_routes *one(const char *text)
{
    struct warns w;
    int errors = -1;
    struct tt_routes *r = parse(text, &w, &errors);
    CHECK_INT(errors, 0);
    CHECK_INT(r->num_routes, 1);
    if (r->num_routes != 1) {
        fprintf(stderr, "  line [%s]: %s\n", text, w.n ? w.msgs[0] : "");
        exit(1); /* the caller would dereference routes[0] */
    }
    return r;
}

/* Parse a single line that must be rejected; returns the warning text. */
static void bad(const char *text, const char *expect_msg)
{
    struct warns w;
    int errors = -1;
    struct tt_routes *r = parse(text, &w, &errors);
    CHECK_INT(errors, 1);
    CHECK_INT(r->num_routes, 0);
    CHECK_INT(w.n, 1);
    if (expect_msg) {
        CHECK(w.n > 0 && strstr(w.msgs[0], expect_msg) != NULL);
        if (!(w.n > 0 && strstr(w.msgs[0], expect_msg)))
            fprintf(stderr, "  line [%s] gave [%s]\n", text, w.n ? w.msgs[0] : "");
    }
    tt_routes_unref(r);
}

static void test_basic(void)
{
    struct tt_routes *r = one("* test\n");
    CHECK(r->routes[0].domain == NULL);
    CHECK_INT(r->routes[0].line, 1);
    CHECK_INT(r->routes[0].num_targets, 1);
    CHECK_INT(r->routes[0].targets[0].type, TT_TARGET_TEST);
    CHECK(r->routes[0].targets[0].host == NULL);
    CHECK_INT(r->routes[0].proto, TT_PROTO_ANY);
    CHECK_INT(r->routes[0].ssl, -1);
    CHECK_INT(r->routes[0].path_rem, -1);
    CHECK_INT(r->routes[0].log_level, -1);
    CHECK_STR(r->routes[0].jsonp_cb, "callback");
    CHECK_STR(r->routes[0].jsonp_defmethod, "GET");
    CHECK_INT(r->routes[0].jsonp_mode, 0);
    CHECK_INT(r->refs, 1);
    tt_routes_ref(r);
    CHECK_INT(r->refs, 2);
    tt_routes_unref(r);
    CHECK_INT(r->refs, 1);
    tt_routes_unref(r);
    tt_routes_unref(NULL);
}

static void test_blank_and_comments(void)
{
    struct warns w;
    int errors = -1;
    const char *text = "# comment\n"
                       "\n"
                       "   \t \n"
                       "  # indented comment\r\n"
                       "example.com localhost:80 # trailing comment\r\n"
                       "*,debug origin:80#no space before comment\n";
    struct tt_routes *r = parse(text, &w, &errors);
    CHECK_INT(errors, 0);
    CHECK_INT(w.n, 0);
    CHECK_INT(r->num_routes, 2);
    CHECK_STR(r->routes[0].domain, "example.com");
    CHECK_INT(r->routes[0].line, 5);
    CHECK_INT(r->routes[0].num_targets, 1);
    CHECK_STR(r->routes[0].targets[0].host, "localhost");
    CHECK_INT(r->routes[0].targets[0].port, 80);
    CHECK_INT(r->routes[1].line, 6);
    CHECK(r->routes[1].debug);
    CHECK_STR(r->routes[1].targets[0].host, "origin");
    tt_routes_unref(r);

    /* no trailing newline on the last line */
    r = one("* test");
    tt_routes_unref(r);
}

static void test_quotes(void)
{
    struct tt_routes *r = one("*,path_beg=\"/a b,c#d\",header=\"X-A: one, two\" test\n");
    CHECK_STR(r->routes[0].path_beg, "/a b,c#d");
    CHECK_INT(r->routes[0].num_headers, 1);
    CHECK_STR(r->routes[0].headers[0].name, "X-A");
    CHECK_STR(r->routes[0].headers[0].value, "one, two");
    tt_routes_unref(r);

    /* escapes, and quoted parts glued to unquoted text */
    r = one("*,prefix=a\"\\\"q\\\\\"z test");
    CHECK_STR(r->routes[0].prefix, "a\"q\\z");
    tt_routes_unref(r);

    /* a quoted target value */
    r = one("* \"localhost:8000\",sub=\"x y\"");
    CHECK_STR(r->routes[0].targets[0].host, "localhost");
    CHECK_INT(r->routes[0].targets[0].num_subs, 1);
    CHECK_STR(r->routes[0].targets[0].subs[0], "x y");
    tt_routes_unref(r);

    bad("*,path_beg=\"/abc test", "unterminated quote");
    bad("*,path_beg=\"/a\\bc\" test", "escape");
    bad("*,path_beg=\"/abc\\", "escape");
}

static void test_syntax_errors(void)
{
    bad("*, test", "expecting prop");
    bad("*,debug, test", "expecting prop");
    bad("*,,debug test", "expecting prop");
    bad("*,=x test", "empty prop name");
    bad("* test,=1", "empty prop name");
    bad("*", "at least one target");
    bad("*,debug # no target", "at least one target");
    bad("example.com", "at least one target");

    /* bad lines are counted and skipped, good lines around them kept */
    struct warns w;
    int errors = -1;
    struct tt_routes *r =
        parse("a.com test\n*,proto=tcp test\nb.com test\n*,ssl=maybe test\n", &w, &errors);
    CHECK_INT(errors, 2);
    CHECK_INT(r->num_routes, 2);
    CHECK_INT(w.n, 2);
    CHECK_INT(w.lines[0], 2);
    CHECK_INT(w.lines[1], 4);
    CHECK_STR(r->routes[1].domain, "b.com");
    CHECK_INT(r->routes[1].line, 3);
    tt_routes_unref(r);

    /* a NULL warn callback and NULL num_errors are fine */
    r = tt_routes_parse("* x\n", 4, NULL, NULL, NULL);
    CHECK_INT(r->num_routes, 0);
    tt_routes_unref(r);

    /* embedded NUL */
    r = tt_routes_parse("* test\0x\n* test\n", 16, on_warn, &w, &errors);
    CHECK_INT(errors, 1);
    CHECK_INT(r->num_routes, 1);
    CHECK_INT(r->routes[0].line, 2);
    tt_routes_unref(r);
}

static void test_condition_props(void)
{
    struct tt_routes *r =
        one("Example.COM,proto=ws,ssl=yes,path_beg=/api/,id=main,sig_iss=iss,sig_key=base64:YWJj,"
            "prefix=p-,orig_headers,as_host=other:81,path_rem=4,replace_beg=/v2/,debug,aco,"
            "jsonp_mode=basic,jsonp_cb=cb,jsonp_body=bparam,jsonp_defcb=jpcb,session,"
            "sockjs=/sockjs,sockjs_as_path=/ws,header=X-One:1,header=\"X-Two:  two\",header=X-Del:,"
            "no_grip,log_level=3,unknown_prop=1 localhost:8000");
    const struct tt_route *x = &r->routes[0];
    CHECK_STR(x->domain, "example.com");
    CHECK_INT(x->proto, TT_PROTO_WS);
    CHECK_INT(x->ssl, 1);
    CHECK_STR(x->path_beg, "/api/");
    CHECK_STR(x->id, "main");
    CHECK_STR(x->sig_iss, "iss");
    CHECK_STR(x->sig_key, "base64:YWJj");
    CHECK_STR(x->prefix, "p-");
    CHECK(x->orig_headers);
    CHECK_STR(x->as_host, "other:81");
    CHECK_INT(x->path_rem, 4);
    CHECK_STR(x->replace_beg, "/v2/");
    CHECK(x->debug);
    CHECK(x->aco);
    CHECK_INT(x->jsonp_mode, 1);
    CHECK_STR(x->jsonp_cb, "cb");
    CHECK_STR(x->jsonp_body, "bparam");
    CHECK_STR(x->jsonp_defcb, "jpcb");
    CHECK_STR(x->jsonp_defmethod, "POST");
    CHECK(x->session);
    CHECK_STR(x->sockjs, "/sockjs");
    CHECK_STR(x->sockjs_as_path, "/ws");
    CHECK_INT(x->num_headers, 3);
    CHECK_STR(x->headers[0].name, "X-One");
    CHECK_STR(x->headers[0].value, "1");
    CHECK_STR(x->headers[1].name, "X-Two");
    CHECK_STR(x->headers[1].value, "two");
    CHECK_STR(x->headers[2].name, "X-Del");
    CHECK_STR(x->headers[2].value, "");
    CHECK(x->no_grip);
    CHECK_INT(x->log_level, 3);
    tt_routes_unref(r);

    /* defaults when props are absent */
    r = one("example.com localhost:8000");
    x = &r->routes[0];
    CHECK(x->path_beg == NULL && x->id == NULL && x->sig_iss == NULL && x->sig_key == NULL);
    CHECK(x->prefix == NULL && x->as_host == NULL && x->replace_beg == NULL);
    CHECK(!x->orig_headers && !x->debug && !x->aco && !x->session && !x->no_grip);
    CHECK_INT(x->num_headers, 0);
    tt_routes_unref(r);

    r = one("*,proto=http,ssl=no,jsonp_mode=extended,jsonp_defmethod=PUT test");
    CHECK_INT(r->routes[0].proto, TT_PROTO_HTTP);
    CHECK_INT(r->routes[0].ssl, 0);
    CHECK_INT(r->routes[0].jsonp_mode, 0);
    CHECK_STR(r->routes[0].jsonp_defmethod, "PUT");
    tt_routes_unref(r);

    /* a repeated single-valued prop: the last one counts (Pushpin's QMultiHash::value) */
    r = one("*,prefix=a,prefix=b test");
    CHECK_STR(r->routes[0].prefix, "b");
    tt_routes_unref(r);

    bad("*,proto=HTTP test", "proto");
    bad("*,ssl=true test", "ssl");
    bad("*,path_beg= test", "path_beg cannot be empty");
    bad("*,path_beg test", "path_beg cannot be empty");
    bad("*,jsonp_mode=fancy test", "jsonp_mode");
    bad("*,header=NoColon test", "header");
    bad("*,header=:v test", "header");
    bad("*,path_rem=x test", "path_rem");
    bad("*,log_level=high test", "log_level");
}

static void test_id_only(void)
{
    struct tt_routes *r = one(",id=ext localhost:9000");
    CHECK_STR(r->routes[0].domain, "");
    CHECK_STR(r->routes[0].id, "ext");
    /* an id-only route is never matched by host, even an empty one */
    CHECK(tt_routes_match(r, "", 0, "/", 1, false, false) == NULL);
    CHECK(tt_routes_match(r, "x", 1, "/", 1, false, false) == NULL);
    CHECK(tt_routes_find_id(r, "ext", 3, "/", 1) == &r->routes[0]);
    tt_routes_unref(r);

    /* "id=x" as the first section means an empty condition value too */
    r = one("id=ext2,path_beg=/p localhost:9000");
    CHECK_STR(r->routes[0].domain, "");
    CHECK_STR(r->routes[0].id, "ext2");
    CHECK_STR(r->routes[0].path_beg, "/p");
    tt_routes_unref(r);

    bad(",debug localhost:9000", "no domain or id");
    bad(",id= localhost:9000", "no domain or id");

    /* two id-only routes with the same condition are not duplicates */
    struct warns w;
    int errors = -1;
    r = parse(",id=a test\n,id=b test\n", &w, &errors);
    CHECK_INT(errors, 0);
    CHECK_INT(r->num_routes, 2);
    tt_routes_unref(r);
}

static void test_targets(void)
{
    struct tt_routes *r =
        one("* a.example:80,ssl,untrusted,trust_connect_host,insecure,host=h.example:8443,"
            "sub=one,sub=,sub=two,over_http,one_event,client_cert=c.pem,client_key=k.pem,"
            "ipc_file_mode=777 [::1]:8080 test zhttp/tcp://127.0.0.1:10000 "
            "zhttpreq/ipc:///tmp/x 10.0.0.1:65535");
    const struct tt_route *x = &r->routes[0];
    CHECK_INT(x->num_targets, 6);
    const struct tt_route_target *t = &x->targets[0];
    CHECK_INT(t->type, TT_TARGET_HTTP);
    CHECK_STR(t->host, "a.example");
    CHECK_INT(t->port, 80);
    CHECK(t->ssl && t->untrusted && t->trust_connect_host && t->insecure);
    CHECK(t->over_http && t->one_event);
    CHECK_STR(t->host_header, "h.example:8443");
    CHECK_INT(t->num_subs, 2);
    CHECK_STR(t->subs[0], "one");
    CHECK_STR(t->subs[1], "two");
    CHECK_STR(t->client_cert, "c.pem");
    CHECK_STR(t->client_key, "k.pem");
    /* failover order is the listed order */
    t = &x->targets[1];
    CHECK_INT(t->type, TT_TARGET_HTTP);
    CHECK_STR(t->host, "::1");
    CHECK_INT(t->port, 8080);
    CHECK(!t->ssl && !t->untrusted && !t->insecure && !t->over_http);
    CHECK(t->host_header == NULL && t->num_subs == 0);
    CHECK_INT(x->targets[2].type, TT_TARGET_TEST);
    CHECK_INT(x->targets[3].type, TT_TARGET_ZHTTP);
    CHECK_STR(x->targets[3].zhttp_spec, "tcp://127.0.0.1:10000");
    CHECK_INT(x->targets[4].type, TT_TARGET_ZHTTPREQ);
    CHECK_STR(x->targets[4].zhttp_spec, "ipc:///tmp/x");
    CHECK_STR(x->targets[5].host, "10.0.0.1");
    CHECK_INT(x->targets[5].port, 65535);
    tt_routes_unref(r);

    bad("* localhost", "target bad format");
    bad("* localhost:0", "invalid port");
    bad("* localhost:65536", "invalid port");
    bad("* localhost:8x", "invalid port");
    bad("* localhost:", "invalid port");
    bad("* :80", "bad format");
    bad("* ::1:80", "bad format");
    bad("* [::1]80", "bad format");
    bad("* [::1", "bad format");
    bad("* []:80", "bad format");
    bad("* test localhost", "bad format"); /* one bad target spoils the line */
    bad("* ,ssl", "bad format");
}

static void test_duplicates(void)
{
    struct warns w;
    int errors = -1;
    struct tt_routes *r = parse("a.com,path_beg=/x one:1\n"
                                "A.com,path_beg=/x two:2\n" /* same domain, case folded */
                                "a.com,path_beg=/x,ssl=no three:3\n"
                                "a.com,path_beg=/x,proto=http four:4\n"
                                "b.com,path_beg=/x five:5\n"
                                "* six:6\n"
                                "* seven:7\n",
                                &w, &errors);
    CHECK_INT(errors, 2);
    CHECK_INT(w.n, 2);
    CHECK_INT(w.lines[0], 2);
    CHECK_INT(w.lines[1], 7);
    CHECK(strstr(w.msgs[0], "duplicate condition") != NULL);
    CHECK_INT(r->num_routes, 5);
    CHECK_STR(r->routes[0].targets[0].host, "one");
    CHECK_STR(r->routes[4].targets[0].host, "six");
    tt_routes_unref(r);
}

static const char *match_host(const struct tt_routes *r, const char *host, const char *path,
                              bool ws, bool ssl)
{
    const struct tt_route *m =
        tt_routes_match(r, host, host ? strlen(host) : 0, path, strlen(path), ws, ssl);
    if (!m)
        return "(none)";
    return m->targets[0].host ? m->targets[0].host : "test";
}

static void test_match_domains(void)
{
    struct warns w;
    int errors;
    struct tt_routes *r = parse("example.com,path_beg=/api ex-api:1\n"
                                "* star:1\n"
                                "other.com other:1\n",
                                &w, &errors);
    CHECK_INT(errors, 0);
    CHECK_STR(match_host(r, "example.com", "/api/x", false, false), "ex-api");
    CHECK_STR(match_host(r, "EXAMPLE.com", "/api", false, false), "ex-api");
    /* exact-domain rules exist, none match: no fallback to "*" */
    CHECK_STR(match_host(r, "example.com", "/other", false, false), "(none)");
    CHECK_STR(match_host(r, "unknown.com", "/other", false, false), "star");
    CHECK_STR(match_host(r, "other.com", "/", true, true), "other");
    CHECK_STR(match_host(r, NULL, "/", false, false), "star");
    /* no partial wildcards or suffix matches */
    CHECK_STR(match_host(r, "www.example.com", "/api", false, false), "star");
    CHECK_STR(match_host(r, "example.co", "/api", false, false), "star");
    tt_routes_unref(r);

    /* no "*" rule and no domain rule: nothing */
    r = parse("example.com test\n", &w, &errors);
    CHECK_STR(match_host(r, "other.com", "/", false, false), "(none)");
    tt_routes_unref(r);
    r = parse("", &w, &errors);
    CHECK_INT(r->num_routes, 0);
    CHECK_STR(match_host(r, "other.com", "/", false, false), "(none)");
    tt_routes_unref(r);
    CHECK(tt_routes_match(NULL, "a", 1, "/", 1, false, false) == NULL);
}

static void test_match_selection(void)
{
    struct warns w;
    int errors;
    /* proto-specific beats a longer path_beg without proto */
    struct tt_routes *r = parse("*,path_beg=/long/path plain-long:1\n"
                                "*,proto=ws ws-any:1\n"
                                "*,proto=http,path_beg=/l http-l:1\n"
                                "* fallback:1\n",
                                &w, &errors);
    CHECK_INT(errors, 0);
    CHECK_STR(match_host(r, "h", "/long/path/x", true, false), "ws-any");
    CHECK_STR(match_host(r, "h", "/long/path/x", false, false), "http-l");
    CHECK_STR(match_host(r, "h", "/x", false, false), "fallback");
    CHECK_STR(match_host(r, "h", "/x", true, false), "ws-any");
    tt_routes_unref(r);

    /* longest path_beg wins regardless of file order; path_beg is case-sensitive */
    r = parse("*,path_beg=/a/b/c abc:1\n*,path_beg=/a a:1\n*,path_beg=/a/b ab:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/a/b/c/d", false, false), "abc");
    CHECK_STR(match_host(r, "h", "/a/b/x", false, false), "ab");
    CHECK_STR(match_host(r, "h", "/a", false, false), "a");
    CHECK_STR(match_host(r, "h", "/A/b", false, false), "(none)");
    CHECK_STR(match_host(r, "h", "/", false, false), "(none)");
    /* path matched raw: no percent-decoding */
    CHECK_STR(match_host(r, "h", "/%61/b", false, false), "(none)");
    tt_routes_unref(r);

    /* proto and ssl filters */
    r = parse("*,proto=http http:1\n*,proto=ws,ssl=yes wss:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/", false, false), "http");
    CHECK_STR(match_host(r, "h", "/", false, true), "http");
    CHECK_STR(match_host(r, "h", "/", true, true), "wss");
    CHECK_STR(match_host(r, "h", "/", true, false), "(none)");
    tt_routes_unref(r);

    r = parse("*,ssl=no plain:1\n*,ssl=yes secure:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/", false, false), "plain");
    CHECK_STR(match_host(r, "h", "/", false, true), "secure");
    tt_routes_unref(r);

    /* ssl-set beats ssl-unset at equal path_beg, in either file order */
    r = parse("* any:1\n*,ssl=yes secure:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/", false, true), "secure");
    CHECK_STR(match_host(r, "h", "/", false, false), "any");
    tt_routes_unref(r);
    r = parse("*,ssl=yes secure:1\n* any:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/", false, true), "secure");
    tt_routes_unref(r);
}

static void test_match_ssl_quirk(void)
{
    struct warns w;
    int errors;
    /* Pushpin quirk: the ssl test is not tie-only, so a later ssl rule with a shorter
     * path_beg displaces an earlier longer path_beg rule... */
    struct tt_routes *r = parse("*,path_beg=/api/v1 long:1\n*,ssl=yes short-ssl:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/api/v1/x", false, true), "short-ssl");
    CHECK_STR(match_host(r, "h", "/api/v1/x", false, false), "long");
    tt_routes_unref(r);

    /* ...while in the other file order the longer path_beg wins over the ssl rule */
    r = parse("*,ssl=yes short-ssl:1\n*,path_beg=/api/v1 long:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/api/v1/x", false, true), "long");
    tt_routes_unref(r);

    /* the quirk does not cross proto-ness: a proto rule is kept */
    r = parse("*,proto=http,path_beg=/a p:1\n*,ssl=yes s:1\n", &w, &errors);
    CHECK_STR(match_host(r, "h", "/a", false, true), "p");
    tt_routes_unref(r);
}

static void test_find_id(void)
{
    struct warns w;
    int errors;
    struct tt_routes *r = parse("a.com,id=one one:1\n"
                                ",id=two,path_beg=/p two:1\n"
                                "b.com,id=dup dup1:1\n"
                                "c.com,id=dup dup2:1\n"
                                "d.com,id=dup dup3:1\n",
                                &w, &errors);
    CHECK_INT(errors, 0);
    CHECK_INT(r->num_routes, 5);
    const struct tt_route *m = tt_routes_find_id(r, "one", 3, "/x", 2);
    CHECK(m == &r->routes[0]);
    CHECK(tt_routes_find_id(r, "onex", 3, "/x", 2) == &r->routes[0]); /* length-delimited */
    CHECK(tt_routes_find_id(r, "two", 3, "/p/q", 4) == &r->routes[1]);
    CHECK(tt_routes_find_id(r, "two", 3, "/q", 2) == NULL); /* path_beg still applies */
    CHECK(tt_routes_find_id(r, "dup", 3, "/", 1) == NULL);
    CHECK(tt_routes_find_id(r, "nope", 4, "/", 1) == NULL);
    CHECK(tt_routes_find_id(r, "", 0, "/", 1) == NULL);
    CHECK(tt_routes_find_id(r, "on", 2, "/", 1) == NULL);
    /* a route with an id still matches by host */
    CHECK_STR(match_host(r, "a.com", "/", false, false), "one");
    tt_routes_unref(r);
}

static void test_from_lines(void)
{
    struct warns w = {0};
    int errors = -1;
    char *lines[] = {"*,path_beg=/x x:1", "* test", "*,proto=bad test", "* test"};
    struct tt_routes *r = tt_routes_from_lines(lines, 4, on_warn, &w, &errors);
    CHECK_INT(errors, 2);
    CHECK_INT(w.n, 2);
    CHECK_INT(w.lines[0], 3);
    CHECK_INT(w.lines[1], 4); /* duplicate of the second */
    CHECK_INT(r->num_routes, 2);
    CHECK_INT(r->routes[0].line, 0);
    CHECK_STR(match_host(r, "h", "/x", false, false), "x");
    CHECK_STR(match_host(r, "h", "/y", false, false), "test");
    tt_routes_unref(r);
}

static void test_pushpin_examples(void)
{
    struct warns w;
    int errors;
    struct tt_routes *r =
        parse("* test\n"
              "*,debug origin:80\n"
              "*,path_beg=/jsonp,aco,debug origin:80\n"
              "*,path_beg=/jsonp-basic,aco,jsonp_mode=basic,jsonp_body=bparam,jsonp_defcb=jpcb,"
              "debug origin:80\n"
              "example.com,ssl=yes 10.0.0.1:443,ssl,host=example.com\n"
              "*,proto=ws localhost:8000,over_http\n"
              "*,path_beg=/api/,replace_beg=/ localhost:8000\n"
              ",id=ext localhost:9000\n",
              &w, &errors);
    /* line 2 duplicates line 1's condition */
    CHECK_INT(errors, 1);
    CHECK_INT(w.lines[0], 2);
    CHECK_INT(r->num_routes, 7);
    CHECK_STR(match_host(r, "x", "/jsonp-basic?x", false, false), "origin");
    const struct tt_route *m = tt_routes_match(r, "x", 1, "/jsonp-basic", 12, false, false);
    CHECK(m && m->jsonp_mode == 1 && m->aco && m->debug);
    CHECK(m && strcmp(m->jsonp_defcb, "jpcb") == 0);
    m = tt_routes_match(r, "x", 1, "/", 1, true, false);
    CHECK(m && m->targets[0].over_http);
    CHECK_STR(match_host(r, "example.com", "/", false, true), "10.0.0.1");
    CHECK_STR(match_host(r, "example.com", "/", false, false), "(none)");
    tt_routes_unref(r);
}

TT_TEST_MAIN(test_basic, test_blank_and_comments, test_quotes, test_syntax_errors,
             test_condition_props, test_id_only, test_targets, test_duplicates, test_match_domains,
             test_match_selection, test_match_ssl_quirk, test_find_id, test_from_lines,
             test_pushpin_examples)

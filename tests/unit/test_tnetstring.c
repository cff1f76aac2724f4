/* Unit tests for zmq/tnetstring: Pushpin's own encodings (from its tnetstring tests and
 * packets as it writes them), binary strings, every error code, the caps, and
 * deterministic serialization with round trips. */
#include <math.h>
#include <stdlib.h>

#include "tt_test.h"
#include "zmq/tnetstring.h"

/* Parse a literal (sizeof - 1 so NUL bytes inside count); returns the result code. */
static int parse_lit(const char *s, size_t n, json_t **out, struct tt_tnet_error *err)
{
    return tt_tnet_parse(s, n, NULL, out, err);
}

#define PARSE(lit, out, err) parse_lit(lit, sizeof(lit) - 1, out, err)

static char *ser(json_t *v, size_t *len)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    int r = tt_tnet_serialize(v, &b);
    CHECK_INT(r, 0);
    return tt_buf_steal(&b, len);
}

static bool ser_is(json_t *v, const char *want, size_t want_len)
{
    size_t n;
    char *s = ser(v, &n);
    bool ok = n == want_len && memcmp(s, want, n) == 0;
    if (!ok)
        fprintf(stderr, "serialized: %.*s\n", (int)n, s);
    free(s);
    return ok;
}

#define SER_IS(v, lit) ser_is(v, lit, sizeof(lit) - 1)

static void test_scalars(void)
{
    json_t *v;
    struct tt_tnet_error e;
    CHECK_INT(PARSE("0:~", &v, &e), 3);
    CHECK(json_is_null(v));
    CHECK_INT(e.code, TT_TNET_OK);
    json_decref(v);
    CHECK_INT(PARSE("4:true!", &v, &e), 7);
    CHECK(json_is_true(v));
    json_decref(v);
    CHECK_INT(PARSE("5:false!", &v, &e), 8);
    CHECK(json_is_false(v));
    json_decref(v);
    CHECK_INT(PARSE("3:-42#", &v, &e), 6);
    CHECK(json_is_integer(v) && json_integer_value(v) == -42);
    json_decref(v);
    CHECK_INT(PARSE("19:9223372036854775807#", &v, &e), 23);
    CHECK(json_integer_value(v) == INT64_MAX);
    json_decref(v);
    CHECK_INT(PARSE("20:-9223372036854775808#", &v, &e), 24);
    CHECK(json_integer_value(v) == INT64_MIN);
    json_decref(v);
    CHECK_INT(PARSE("4:-0.5^", &v, &e), 7);
    CHECK(json_is_real(v) && json_real_value(v) == -0.5);
    json_decref(v);
    CHECK_INT(PARSE("6:1.5e10^", &v, &e), 9);
    CHECK(json_real_value(v) == 1.5e10);
    json_decref(v);
    CHECK_INT(PARSE("5:hello,", &v, &e), 8);
    CHECK(json_is_string(v) && json_string_length(v) == 5 &&
          memcmp(json_string_value(v), "hello", 5) == 0);
    json_decref(v);
    CHECK_INT(PARSE("0:,", &v, &e), 3);
    CHECK(json_is_string(v) && json_string_length(v) == 0);
    json_decref(v);
    /* Leading zeros in the length are read as decimal, as Pushpin does. */
    CHECK_INT(PARSE("02:ab,", &v, &e), 6);
    CHECK(json_string_length(v) == 2);
    json_decref(v);
}

static void test_binary(void)
{
    json_t *v;
    CHECK_INT(PARSE("6:a\0b\xff\xfe\x80,", &v, NULL), 9);
    CHECK(json_string_length(v) == 6 && memcmp(json_string_value(v), "a\0b\xff\xfe\x80", 6) == 0);
    CHECK(SER_IS(v, "6:a\0b\xff\xfe\x80,"));
    json_decref(v);
    /* Keys with NUL bytes and invalid UTF-8 survive both ways. */
    CHECK_INT(PARSE("13:3:k\0\xff,4:true!}", &v, NULL), 17);
    CHECK(json_object_size(v) == 1);
    CHECK(json_object_getn(v, "k\0\xff", 3) == json_true());
    CHECK(json_object_get(v, "k") == NULL);
    CHECK(SER_IS(v, "13:3:k\0\xff,4:true!}"));
    json_decref(v);
}

/* Examples in the exact form Pushpin writes them. */
static void test_pushpin_examples(void)
{
    json_t *v;
    /* From Pushpin's tnetstring.rs tests. */
    CHECK_INT(PARSE("12:3:foo,3:bar,]", &v, NULL), 16);
    CHECK(json_is_array(v) && json_array_size(v) == 2);
    CHECK(SER_IS(v, "12:3:foo,3:bar,]"));
    json_decref(v);
    CHECK_INT(PARSE("15:4:name,5:alice,}", &v, NULL), 19);
    CHECK(json_is_object(v) && strcmp(json_string_value(json_object_get(v, "name")), "alice") == 0);
    json_decref(v);
    CHECK_INT(PARSE("8:5:hello,]", &v, NULL), 11);
    json_decref(v);

    /* A zhttp request Pushpin's proxy sends to a zhttpreq handler (after the "T"). */
    static const char zreq[] =
        "162:4:from,13:pushpin-proxy,2:id,5:abc-1,3:seq,1:0#6:method,3:GET,3:uri,"
        "22:http://example.com/foo,7:headers,26:22:4:Host,11:example.com,]]4:body,0:,"
        "7:credits,5:10000#}";
    CHECK_INT(PARSE(zreq, &v, NULL), (int)sizeof(zreq) - 1);
    CHECK(json_integer_value(json_object_get(v, "seq")) == 0);
    CHECK(json_integer_value(json_object_get(v, "credits")) == 10000);
    json_t *h = json_array_get(json_array_get(json_object_get(v, "headers"), 0), 1);
    CHECK(json_string_length(h) == 11);
    CHECK(SER_IS(v, zreq));
    json_decref(v);

    /* A ZRPC reply to get-zmq-uris and an error reply. */
    static const char zrep[] = "91:2:id,1:1,7:success,4:true!5:value,53:7:command,"
                               "20:tcp://127.0.0.1:5563,12:publish-pull,0:,}}";
    CHECK_INT(PARSE(zrep, &v, NULL), (int)sizeof(zrep) - 1);
    CHECK(json_is_true(json_object_get(v, "success")));
    CHECK(json_is_object(json_object_get(v, "value")));
    json_decref(v);
    static const char zerr[] = "50:7:success,5:false!9:condition,16:method-not-found,}";
    CHECK_INT(PARSE(zerr, &v, NULL), (int)sizeof(zerr) - 1);
    CHECK(json_is_false(json_object_get(v, "success")));
    json_decref(v);
}

struct bad {
    const char *in;
    size_t len;
    int rc;
    enum tt_tnet_err code;
    size_t offset;
};

#define BAD(lit, rc, code, off)                                                                    \
    {                                                                                              \
        lit, sizeof(lit) - 1, rc, code, off                                                        \
    }

static void test_errors(void)
{
    static const struct bad cases[] = {
        BAD("", TT_EAGAIN, TT_TNET_TRUNCATED, 0),
        BAD("5", TT_EAGAIN, TT_TNET_TRUNCATED, 0),
        BAD("5:hel", TT_EAGAIN, TT_TNET_TRUNCATED, 0),
        BAD("5:hello", TT_EAGAIN, TT_TNET_TRUNCATED, 0),
        BAD("20:4:name,5:alice,}", TT_EAGAIN, TT_TNET_TRUNCATED, 0),
        BAD("5:hello;", TT_EPARSE, TT_TNET_BAD_TAG, 7),
        BAD("abc", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD(":,", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD("-1:a,", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD(" 1:a,", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD("+1:a,", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD("1 :a,", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD("12345678901:", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD("99999999999999999999999:x,", TT_EPARSE, TT_TNET_BAD_LENGTH, 0),
        BAD("999999999:", TT_ETOOBIG, TT_TNET_TOO_BIG, 0),
        BAD("16777217:", TT_ETOOBIG, TT_TNET_TOO_BIG, 0),
        BAD("3:abc#", TT_EPARSE, TT_TNET_BAD_INT, 0),
        BAD("0:#", TT_EPARSE, TT_TNET_BAD_INT, 0),
        BAD("1:-#", TT_EPARSE, TT_TNET_BAD_INT, 0),
        BAD("2:+1#", TT_EPARSE, TT_TNET_BAD_INT, 0),
        BAD("20:99999999999999999999#", TT_EPARSE, TT_TNET_BAD_INT, 0),
        BAD("19:9223372036854775808#", TT_EPARSE, TT_TNET_BAD_INT, 0),
        BAD("3:nan^", TT_EPARSE, TT_TNET_BAD_FLOAT, 0),
        BAD("3:inf^", TT_EPARSE, TT_TNET_BAD_FLOAT, 0),
        BAD("4:0x10^", TT_EPARSE, TT_TNET_BAD_FLOAT, 0),
        BAD("5:1e999^", TT_EPARSE, TT_TNET_BAD_FLOAT, 0),
        BAD("1:.^", TT_EPARSE, TT_TNET_BAD_FLOAT, 0),
        BAD("0:^", TT_EPARSE, TT_TNET_BAD_FLOAT, 0),
        BAD("3:yes!", TT_EPARSE, TT_TNET_BAD_BOOL, 0),
        BAD("4:TRUE!", TT_EPARSE, TT_TNET_BAD_BOOL, 0),
        BAD("1:x~", TT_EPARSE, TT_TNET_BAD_NULL, 0),
        /* Pushpin's own map tests: non-string key, key without value, junk. */
        BAD("4:1:0#}", TT_EPARSE, TT_TNET_BAD_KEY, 2),
        BAD("7:4:name,}", TT_EPARSE, TT_TNET_MISSING_VALUE, 9),
        BAD("4:1:\x80,}", TT_EPARSE, TT_TNET_MISSING_VALUE, 6),
        BAD("8:4:name,X}", TT_EPARSE, TT_TNET_BAD_LENGTH, 9),
        BAD("6:0:~0:~}", TT_EPARSE, TT_TNET_BAD_KEY, 2),
        /* A child whose length runs past its container (Pushpin reads on). */
        BAD("7:5:hello]", TT_EPARSE, TT_TNET_OVERRUN, 2),
        BAD("3:99:]", TT_EPARSE, TT_TNET_OVERRUN, 2),
        BAD("2:12]", TT_EPARSE, TT_TNET_OVERRUN, 2),
        BAD("8:5:hello,;", TT_EPARSE, TT_TNET_BAD_TAG, 10),
        BAD("4:0:~,]", TT_EPARSE, TT_TNET_BAD_LENGTH, 5),
        /* Error inside a nested element reports its offset. */
        BAD("11:8:1:x,1:?~}]", TT_EPARSE, TT_TNET_BAD_NULL, 9),
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        json_t *v = (json_t *)1;
        struct tt_tnet_error e;
        int r = tt_tnet_parse(cases[i].in, cases[i].len, NULL, &v, &e);
        if (r != cases[i].rc || e.code != cases[i].code || e.offset != cases[i].offset)
            fprintf(stderr, "case %zu (%.*s): rc %d code %d (%s) offset %zu\n", i,
                    (int)cases[i].len, cases[i].in, r, e.code, tt_tnet_strerror(e.code), e.offset);
        CHECK_INT(r, cases[i].rc);
        CHECK_INT(e.code, cases[i].code);
        CHECK_INT(e.offset, cases[i].offset);
        CHECK(v == NULL);
    }
    /* err may be NULL. */
    json_t *v;
    CHECK_INT(tt_tnet_parse("x", 1, NULL, &v, NULL), TT_EPARSE);
    CHECK(strcmp(tt_tnet_strerror(TT_TNET_TRUNCATED), "truncated input") == 0);
    CHECK(strcmp(tt_tnet_strerror(TT_TNET_BAD_KEY), "dict key is not a string") == 0);
}

static void test_trailing(void)
{
    json_t *v;
    /* Bytes after the element are not looked at (Pushpin ignores them too). */
    CHECK_INT(PARSE("0:~garbage", &v, NULL), 3);
    CHECK(json_is_null(v));
    json_decref(v);
}

static char *nested_lists(int depth, size_t *len)
{
    /* Build "N:N:...0:]...]" from the inside out. */
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_buf_appends(&b, "0:]");
    for (int i = 1; i < depth; i++) {
        struct tt_buf n;
        tt_buf_init(&n, 0);
        tt_buf_appendf(&n, "%zu:", b.len);
        tt_buf_append(&n, b.data, b.len);
        tt_buf_append(&n, "]", 1);
        tt_buf_deinit(&b);
        b = n;
    }
    return tt_buf_steal(&b, len);
}

static void test_limits(void)
{
    json_t *v;
    struct tt_tnet_error e;
    size_t n;
    char *s = nested_lists(64, &n);
    CHECK_INT(tt_tnet_parse(s, n, NULL, &v, &e), (int)n);
    json_decref(v);
    free(s);
    s = nested_lists(65, &n);
    CHECK_INT(tt_tnet_parse(s, n, NULL, &v, &e), TT_ETOOBIG);
    CHECK_INT(e.code, TT_TNET_TOO_DEEP);
    free(s);

    struct tt_tnet_limits lim = {.max_size = 100, .max_depth = 2, .max_elements = 5};
    CHECK_INT(tt_tnet_parse("9:0:]0:]0:]]", 12, &lim, &v, &e), 12); /* 4 elements, depth 2 */
    json_decref(v);
    CHECK_INT(tt_tnet_parse("6:3:0:]]]", 9, &lim, &v, &e), TT_ETOOBIG);
    CHECK_INT(e.code, TT_TNET_TOO_DEEP);
    CHECK_INT(tt_tnet_parse("15:0:~0:~0:~0:~0:~]", 19, &lim, &v, &e), TT_ETOOBIG);
    CHECK_INT(e.code, TT_TNET_TOO_MANY);
    CHECK_INT(e.offset, 15);
    /* Dict keys count as elements. */
    CHECK_INT(tt_tnet_parse("14:1:a,0:~1:b,0:~}", 18, &lim, &v, &e), 18);
    json_decref(v);
    CHECK_INT(tt_tnet_parse("18:1:a,0:~1:b,0:~1:c,}", 22, &lim, &v, &e), TT_ETOOBIG);
    CHECK_INT(e.code, TT_TNET_TOO_MANY);
    /* max_size: N passes, N + 1 does not. */
    char big[200];
    memset(big, 'x', sizeof(big));
    memcpy(big, "100:", 4);
    big[104] = ',';
    CHECK_INT(tt_tnet_parse(big, 105, &lim, &v, &e), 105);
    json_decref(v);
    memcpy(big, "101:", 4);
    big[105] = ',';
    CHECK_INT(tt_tnet_parse(big, 106, &lim, &v, &e), TT_ETOOBIG);
    CHECK_INT(e.code, TT_TNET_TOO_BIG);
    /* A huge declared length with little data is refused for its length, not waited for. */
    CHECK_INT(tt_tnet_parse("1000:x", 6, &lim, &v, &e), TT_ETOOBIG);
}

static void test_serialize(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "z", json_integer(-7));
    json_object_set_new(o, "a", json_real(0.1));
    json_object_set_new(o, "m", json_pack("[bbn]", 1, 0));
    json_object_set_new(o, "s", json_stringn_nocheck("x\0y", 3));
    json_object_set_new(o, "e", json_object());
    /* Insertion order, shortest float text. */
    CHECK(SER_IS(o, "62:1:z,2:-7#1:a,3:0.1^1:m,18:4:true!5:false!0:~]1:s,3:x\0y,1:e,0:}}"));
    json_decref(o);
    json_t *v = json_real(2.0);
    CHECK(SER_IS(v, "1:2^"));
    json_decref(v);
    v = json_real(1e300);
    CHECK(SER_IS(v, "6:1e+300^"));
    json_decref(v);
    v = json_real(0.30000000000000004);
    CHECK(SER_IS(v, "19:0.30000000000000004^"));
    json_decref(v);
    v = json_integer(INT64_MIN);
    CHECK(SER_IS(v, "20:-9223372036854775808#"));
    json_decref(v);
    /* Deeper than 64 levels is refused; a capped buffer reports TT_ETOOBIG. */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 70; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    struct tt_buf b;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_tnet_serialize(root, &b), TT_ETOOBIG);
    tt_buf_deinit(&b);
    json_decref(root);
    v = json_string("0123456789");
    tt_buf_init(&b, 8);
    CHECK_INT(tt_tnet_serialize(v, &b), TT_ETOOBIG);
    tt_buf_deinit(&b);
    json_decref(v);
    CHECK_INT(tt_tnet_serialize(NULL, &b), TT_EPARSE);
}

/* parse(serialize(parse(x))) equals parse(x), and serialize is a fixed point. */
static void test_round_trip(void)
{
    static const char in[] = "57:1:a,13:1:1#3:1.5^0:,]1:b,0:~1:b,4:true!1:c,10:3:k\0v,1:\xff,}}";
    json_t *v1, *v2;
    CHECK_INT(PARSE(in, &v1, NULL), (int)sizeof(in) - 1);
    CHECK(json_object_size(v1) == 3); /* repeated key "b": last value wins */
    CHECK(json_is_true(json_object_get(v1, "b")));
    size_t n1, n2;
    char *s1 = ser(v1, &n1);
    CHECK_INT(tt_tnet_parse(s1, n1, NULL, &v2, NULL), (int)n1);
    /* json_equal looks keys up as C strings, so compare the binary key by hand. */
    json_t *c2 = json_object_get(v2, "c");
    CHECK(json_object_size(c2) == 1);
    json_t *kv = json_object_getn(c2, "k\0v", 3);
    CHECK(kv && json_string_length(kv) == 1 && json_string_value(kv)[0] == '\xff');
    CHECK(json_equal(json_object_get(v1, "a"), json_object_get(v2, "a")));
    char *s2 = ser(v2, &n2);
    CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0);
    free(s1);
    free(s2);
    json_decref(v1);
    json_decref(v2);
}

TT_TEST_MAIN(test_scalars, test_binary, test_pushpin_examples, test_errors, test_trailing,
             test_limits, test_serialize, test_round_trip)

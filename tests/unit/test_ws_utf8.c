/* test_ws_utf8.c: the incremental UTF-8 validator (ws/utf8.h), with the sequences of the
 * Autobahn testsuite's case group 6 (Markus Kuhn's stress test): every case checked at
 * once and byte by byte, with the offset of the first bad byte (the fail-fast position);
 * then every code point encoded by hand. */
#include "ws/utf8.h"
#include "tt_test.h"

#include <stdio.h>

struct utf8_case {
    const char *s; /* hex-free: C string with \x escapes */
    size_t len;
    int bad_at; /* -1 valid; -2 valid so far but incomplete at the end; else bad offset */
};

#define CASE_6_3_1_ "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"

#define U(str, bad) {str, sizeof(str) - 1, bad}

static const struct utf8_case utf8_cases[] = {
    U("", -1),
    U("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", -1),
    U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1), /* 6.2: kosme */
    /* 6.5-6.7: first and last sequences of each length */
    U("\x00", -1), U("\xc2\x80", -1), U("\xe0\xa0\x80", -1), U("\xf0\x90\x80\x80", -1),
    U("\x7f", -1), U("\xdf\xbf", -1), U("\xef\xbf\xbf", -1), U("\xf4\x8f\xbf\xbf", -1),
    U("\xed\x9f\xbf", -1), U("\xee\x80\x80", -1), U("\xef\xbf\xbd", -1),
    /* noncharacters are valid UTF-8 (6.23) */
    U("\xef\xbf\xbe", -1), U("\xf0\x9f\xbf\xbf", -1), U("\xf4\x8f\xbf\xbe", -1),
    /* beyond U+10FFFF, 5 and 6 byte forms (6.6, 6.8) */
    U("\xf4\x90\x80\x80", 1), U("\xf7\xbf\xbf\xbf", 0), U("\xf8\x88\x80\x80\x80", 0),
    U("\xfc\x84\x80\x80\x80\x80", 0), U("\xfb\xbf\xbf\xbf\xbf", 0),
    /* lone continuation bytes (6.9, 6.10) */
    U("\x80", 0), U("\xbf", 0), U("\x80\xbf", 0), U("a\x80\xbf\x80", 1),
    /* lonely start bytes followed by a space (6.11) */
    U("\xc0\x20", 0), U("\xc2\x20", 1), U("\xe0\x20", 1), U("\xf0\x20", 1), U("\xf8\x20", 0),
    U("\xfc\x20", 0),
    /* sequences with the last byte missing (6.12, 6.13): valid so far, incomplete */
    U("\xc2", -2), U("\xe0\xa0", -2), U("\xf0\x90\x80", -2), U("\xdf", -2),
    U("\xef\xbf", -2), U("\xf4\x8f\xbf", -2),
    U("\xc2\xe0\xa0", 1), /* concatenated incomplete sequences fail at the second lead */
    /* impossible bytes (6.14) */
    U("\xfe", 0), U("\xff", 0), U("\xfe\xfe\xff\xff", 0),
    /* overlong forms (6.15-6.17) */
    U("\xc0\xaf", 0), U("\xe0\x80\xaf", 1), U("\xf0\x80\x80\xaf", 1), U("\xc1\xbf", 0),
    U("\xe0\x9f\xbf", 1), U("\xf0\x8f\xbf\xbf", 1), U("\xc0\x80", 0), U("\xe0\x80\x80", 1),
    /* surrogates (6.18, 6.19) */
    U("\xed\xa0\x80", 1), U("\xed\xad\xbf", 1), U("\xed\xae\x80", 1), U("\xed\xaf\xbf", 1),
    U("\xed\xb0\x80", 1), U("\xed\xbe\x80", 1), U("\xed\xbf\xbf", 1),
    U("\xed\xa0\x80\xed\xb0\x80", 1),
    /* 6.3.1: kosme then a surrogate then "edited": fails at the byte after ED */
    U(CASE_6_3_1_, 12),
    /* long ASCII run then a bad byte: the word-at-a-time path must find the exact place */
    U("abcdefghijklmnopqrstuvwxyz0123\xff", 30), U("abcdefgh\xc2\x80ijklmnop\xc0", 18),
};

static void test_utf8_table(void)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(utf8_cases); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        struct tt_ws_utf8 u;
        tt_ws_utf8_init(&u);
        size_t bad = 999;
        int rc = tt_ws_utf8_feed(&u, (const uint8_t *)c->s, c->len, &bad);
        if (c->bad_at >= 0) {
            CHECK_INT(rc, TT_EPARSE);
            CHECK_INT(bad, c->bad_at);
        } else {
            CHECK_INT(rc, 0);
            CHECK_INT(tt_ws_utf8_complete(&u), c->bad_at == -1);
        }
        CHECK_INT(tt_ws_utf8_valid(c->s, c->len), c->bad_at == -1);
        /* byte by byte: same verdict, failing at the same byte */
        tt_ws_utf8_init(&u);
        int fail_at = -1;
        for (size_t j = 0; j < c->len; j++) {
            if (tt_ws_utf8_feed(&u, (const uint8_t *)c->s + j, 1, NULL) < 0) {
                fail_at = (int)j;
                break;
            }
        }
        CHECK_INT(fail_at, c->bad_at >= 0 ? c->bad_at : -1);
    }
}

/* Every code point encoded by hand must validate; every encoding of a surrogate must not. */
static void test_utf8_exhaustive(void)
{
    int wrong = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (uint8_t)cp, n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xE0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 4;
        }
        bool want = !(cp >= 0xD800 && cp <= 0xDFFF);
        if (tt_ws_utf8_valid(b, n) != want)
            wrong++;
    }
    CHECK_INT(wrong, 0);
}

static void test_utf8_cut(void)
{
    CHECK_INT(tt_ws_utf8_cut("abc", 3), 3);
    CHECK_INT(tt_ws_utf8_cut("ab\xc3\xa9", 4), 4);
    CHECK_INT(tt_ws_utf8_cut("ab\xc3", 3), 2);
    CHECK_INT(tt_ws_utf8_cut("ab\xe2\x82", 4), 2);
    CHECK_INT(tt_ws_utf8_cut("\xf0\x9f\x98\x80", 4), 4);
    CHECK_INT(tt_ws_utf8_cut("\xf0\x9f\x98", 3), 0);
    CHECK_INT(tt_ws_utf8_cut("", 0), 0);
}

TT_TEST_MAIN(test_utf8_table, test_utf8_exhaustive, test_utf8_cut)

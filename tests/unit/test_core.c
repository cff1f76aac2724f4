/* Unit tests for core/: strings, lists of items, percent decoding, buffers, the map. */
#include <stdlib.h>

#include "core/buf.h"
#include "core/common.h"
#include "core/map.h"
#include "tt_test.h"

static void test_next_item(void)
{
    const char *s = " a , b,,c ,";
    const char *it;
    size_t n, pos = 0;
    const char *want[] = {"a", "b", "", "c", ""};
    size_t k = 0;
    while (tt_next_item(s, strlen(s), &pos, &it, &n)) {
        CHECK(k < 5);
        if (k < 5)
            CHECK(n == strlen(want[k]) && memcmp(it, want[k], n) == 0);
        k++;
    }
    CHECK_INT(k, 5);
    pos = 0;
    CHECK(!tt_next_item("", 0, &pos, &it, &n));
    pos = 0;
    CHECK(tt_next_item("x", 1, &pos, &it, &n) && n == 1 && it[0] == 'x');
    CHECK(!tt_next_item("x", 1, &pos, &it, &n));
}

static void test_next_line(void)
{
    const char *t = "a\r\nbb\n\nlast";
    const char *l;
    size_t n, pos = 0;
    CHECK(tt_next_line(t, strlen(t), &pos, &l, &n) && n == 1 && l[0] == 'a');
    CHECK(tt_next_line(t, strlen(t), &pos, &l, &n) && n == 2 && memcmp(l, "bb", 2) == 0);
    CHECK(tt_next_line(t, strlen(t), &pos, &l, &n) && n == 0);
    CHECK(tt_next_line(t, strlen(t), &pos, &l, &n) && n == 4 && memcmp(l, "last", 4) == 0);
    CHECK(!tt_next_line(t, strlen(t), &pos, &l, &n));
    pos = 0;
    CHECK(!tt_next_line("", 0, &pos, &l, &n));
}

static void test_strings(void)
{
    CHECK(tt_strieqn("Keep-Alive", 10, "keep-alive", 10));
    CHECK(!tt_strieqn("Keep-Alive", 10, "keep-aliv", 9));
    CHECK(tt_strieq("GRIP-Hold", 9, "grip-hold"));
    CHECK(tt_strihas_prefix("Grip-Sig", 8, "grip-"));
    CHECK(!tt_strihas_prefix("Gri", 3, "grip-"));
    CHECK_INT(tt_parse_uint("12345", 5, 100000), 12345);
    CHECK_INT(tt_parse_uint("12345", 5, 1000), -1);
    CHECK_INT(tt_parse_uint("12a", 3, 1000), -1);
    CHECK_INT(tt_parse_uint("", 0, 1000), -1);
    /* Near the top of int64_t: refused without overflowing (found by fuzz_h2req). */
    CHECK(tt_parse_uint("9223372036854775807", 19, INT64_MAX) == INT64_MAX);
    CHECK_INT(tt_parse_uint("9223372036854775808", 19, INT64_MAX), -1);
    CHECK_INT(tt_parse_uint("10000000000001000000000000", 26, INT64_MAX / 2), -1);
    CHECK_INT(tt_parse_uint("4611686018427387904", 19, INT64_MAX / 2), -1);
    CHECK(tt_parse_uint("4611686018427387903", 19, INT64_MAX / 2) == INT64_MAX / 2);
    CHECK_INT(tt_parse_uint("5", 1, 0), -1);
    CHECK_INT(tt_parse_uint("0", 1, 0), 0);
    CHECK_INT(tt_parse_uint("16", 2, 15), -1);
    CHECK_INT(tt_parse_uint("15", 2, 15), 15);
    CHECK_INT(tt_hexval('f'), 15);
    CHECK_INT(tt_hexval('A'), 10);
    CHECK_INT(tt_hexval('g'), -1);
}

static void test_percent_decode(void)
{
    size_t n;
    char *s = tt_percent_decode("a%20b%2Cc%zz%4", 14, &n);
    CHECK_INT(n, 10);
    CHECK(memcmp(s, "a b,c%zz%4", 10) == 0);
    free(s);
    s = tt_percent_decode("%00x+", 5, &n);
    CHECK_INT(n, 3);
    CHECK(s[0] == '\0' && s[1] == 'x' && s[2] == '+');
    free(s);
}

static void test_buf(void)
{
    struct tt_buf b;
    tt_buf_init(&b, 8);
    CHECK_INT(tt_buf_append(&b, "12345678", 8), 0);
    CHECK_INT(tt_buf_append(&b, "9", 1), TT_ETOOBIG); /* the cap holds, nothing added */
    CHECK_INT(b.len, 8);
    tt_buf_consume(&b, 3);
    CHECK_STR(tt_buf_cstr(&b), "45678");
    tt_buf_deinit(&b);
    tt_buf_init(&b, 0);
    tt_buf_append_uint(&b, 0, 10);
    tt_buf_appends(&b, " ");
    tt_buf_append_uint(&b, 18446744073709551615ULL, 10);
    tt_buf_appends(&b, " ");
    tt_buf_append_uint(&b, 255, 16);
    CHECK_STR(tt_buf_cstr(&b), "0 18446744073709551615 ff");
    tt_buf_deinit(&b);
}

static void test_map(void)
{
    struct tt_map m;
    tt_map_init(&m);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        int len = snprintf(key, sizeof(key), "chan-%d", i);
        tt_map_put(&m, key, (size_t)len, (void *)(intptr_t)(i + 1));
    }
    CHECK_INT(m.size, 1000);
    CHECK((intptr_t)tt_map_get(&m, "chan-500", 8) == 501);
    CHECK(tt_map_get(&m, "chan-1000", 9) == NULL);
    CHECK((intptr_t)tt_map_remove(&m, "chan-7", 6) == 8);
    CHECK(tt_map_get(&m, "chan-7", 6) == NULL);
    size_t it, count = 0;
    for (struct tt_map_entry *e = tt_map_first(&m, &it); e; e = tt_map_next(&m, e, &it))
        count++;
    CHECK_INT(count, 999);
    tt_map_deinit(&m);
}

TT_TEST_MAIN(test_next_item, test_next_line, test_strings, test_percent_decode, test_buf, test_map)

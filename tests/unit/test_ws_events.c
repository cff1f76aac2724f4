/* test_ws_events.c: the application/websocket-events codec (ws/events.h).
 *
 * Bodies as Pushpin writes them and as backends answer, every malformed form we refuse
 * (Pushpin's own parser is laxer; see events.h), the caps at N and N+1, and writer output
 * byte for byte. Inputs are copied to blocks of their exact length so ASan catches any
 * read past the end. */
#include "ws/events.h"
#include "tt_test.h"

#include <stdlib.h>

static char *exact;

static const char *hold(const char *s, size_t len)
{
    free(exact);
    exact = malloc(len ? len : 1);
    memcpy(exact, s, len);
    return exact;
}

#define B(lit) hold(lit, sizeof(lit) - 1), sizeof(lit) - 1

static void test_parse_pushpin_bodies(void)
{
    const char *body;
    size_t len;
    static const char body0[] = "OPEN\r\nTEXT 5\r\nhello\r\nBINARY 3\r\n\x00\x01\x02\r\nPING\r\n"
                                "PONG 0\r\n\r\nCLOSE 7\r\n\x03\xe8"
                                "bye!!\r\nDISCONNECT\r\n";
    len = sizeof(body0) - 1;
    body = hold(body0, len);
    CHECK_INT(tt_ws_events_count(body, len, 100), 7);
    size_t pos = 0;
    struct tt_ws_event ev;
    static const enum tt_ws_event_type want[] = {
        TT_WS_EV_OPEN, TT_WS_EV_TEXT,  TT_WS_EV_BINARY,    TT_WS_EV_PING,
        TT_WS_EV_PONG, TT_WS_EV_CLOSE, TT_WS_EV_DISCONNECT};
    for (size_t i = 0; i < TT_ARRAY_LEN(want); i++) {
        CHECK_INT(tt_ws_events_next(body, len, &pos, &ev), 1);
        CHECK_INT(ev.type, want[i]);
        if (i == 1)
            CHECK(ev.has_content && ev.content_len == 5 && memcmp(ev.content, "hello", 5) == 0);
        if (i == 2)
            CHECK(ev.content_len == 3 && ev.content[2] == 2);
        if (i == 3)
            CHECK(!ev.has_content);
        if (i == 4)
            CHECK(ev.has_content && ev.content_len == 0);
        if (i == 5) {
            int code;
            const uint8_t *r;
            size_t rl;
            tt_ws_events_close_parse(&ev, &code, &r, &rl);
            CHECK_INT(code, 1000);
            CHECK(rl == 5 && memcmp(r, "bye!!", 5) == 0);
        }
    }
    CHECK_INT(tt_ws_events_next(body, len, &pos, &ev), 0);
    CHECK_INT(pos, len);
    /* an empty body (keep-alive request) holds no events */
    CHECK_INT(tt_ws_events_count("", 0, 10), 0);
}

static void test_parse_hex_and_unknown(void)
{
    /* upper-case hex and leading zeros */
    CHECK_INT(tt_ws_events_count(B("TEXT 0A\r\n0123456789\r\nTEXT 000a\r\n0123456789\r\n"), 10), 2);
    size_t pos = 0;
    struct tt_ws_event ev;
    const char *b = hold("TEXT 1f\r\n0123456789012345678901234567890\r\n", 42);
    CHECK_INT(tt_ws_events_next(b, 42, &pos, &ev), 1);
    CHECK_INT(ev.content_len, 31);
    /* an unknown type is returned as such; lower-case names are not ours */
    pos = 0;
    b = hold("text 1\r\nx\r\nX-NEW\r\n", 18);
    CHECK_INT(tt_ws_events_next(b, 18, &pos, &ev), 1);
    CHECK_INT(ev.type, TT_WS_EV_UNKNOWN);
    CHECK(ev.name_len == 4 && memcmp(ev.name, "text", 4) == 0);
    CHECK_INT(tt_ws_events_next(b, 18, &pos, &ev), 1);
    CHECK_INT(ev.type, TT_WS_EV_UNKNOWN);
    CHECK_INT(tt_ws_events_next(b, 18, &pos, &ev), 0);
    /* content may hold CRLF and NUL */
    CHECK_INT(tt_ws_events_count(B("TEXT 4\r\n\r\n\r\n\r\nBINARY 1\r\n\x00\r\n"), 10), 2);
    /* 16 hex digits of zero are fine; the 17th is not */
    CHECK_INT(tt_ws_events_count(B("TEXT 0000000000000000\r\n\r\n"), 10), 1);
    CHECK_INT(tt_ws_events_count(B("TEXT 00000000000000000\r\n\r\n"), 10), TT_EPARSE);
}

static void test_parse_malformed(void)
{
    static const char *const bad[] = {
        "TEXT",                   /* no CRLF */
        "TEXT\r",                 /* half a CRLF */
        "TEXT\n",                 /* bare LF */
        "TEXT 5\r\nhell",         /* content cut */
        "TEXT 5\r\nhello",        /* content without CRLF */
        "TEXT 5\r\nhello\r",      /* half */
        "TEXT 5\r\nhelloXX",      /* not CRLF after content */
        "TEXT 4\r\nhello\r\n",    /* length too short: 'o' then no CRLF */
        "TEXT 6\r\nhello\r\n",    /* too long */
        "TEXT \r\n\r\n",          /* empty length */
        "TEXT  5\r\nhello\r\n",   /* two spaces */
        "TEXT 5 \r\nhello\r\n",   /* trailing space */
        "TEXT 0x5\r\nhello\r\n",  /* 0x prefix */
        "TEXT +5\r\nhello\r\n",   /* sign */
        "TEXT -1\r\n\r\n",        /* negative */
        "TEXT g\r\n\r\n",         /* not hex */
        "TEXT ffffffffffffffff\r\n\r\n", /* huge */
        " TEXT\r\n",              /* leading space */
        "\r\n",                   /* empty type */
        "TE XT\r\n",
        "TEXT\tfoo\r\n",
        "OPEN\r\nTEXT",           /* good event then a cut one */
        "T\x80XT\r\n",            /* not a token */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n", /* 65 */
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        const char *b = hold(bad[i], strlen(bad[i]));
        int rc = tt_ws_events_count(b, strlen(bad[i]), 100);
        if (rc != TT_EPARSE)
            fprintf(stderr, "malformed case %zu accepted\n", i);
        CHECK_INT(rc, TT_EPARSE);
    }
    /* 64-character type is the limit */
    char t64[70];
    memset(t64, 'A', 64);
    memcpy(t64 + 64, "\r\n", 2);
    CHECK_INT(tt_ws_events_count(hold(t64, 66), 66, 10), 1);
}

static void test_count_cap(void)
{
    char body[1000];
    size_t n = 0;
    for (int i = 0; i < 10; i++) {
        memcpy(body + n, "PING\r\n", 6);
        n += 6;
    }
    CHECK_INT(tt_ws_events_count(hold(body, n), n, 10), 10);
    CHECK_INT(tt_ws_events_count(hold(body, n), n, 9), TT_ETOOBIG);
}

static void test_write(void)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_OPEN, false, NULL, 0), 0);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_TEXT, true, "hello world, this is 31 bytes!!", 31),
              0);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_PING, false, NULL, 0), 0);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_PONG, true, "", 0), 0);
    CHECK_INT(tt_ws_events_append_close(&b, 1001, "gone", 4), 0);
    CHECK_INT(tt_ws_events_append_close(&b, -1, NULL, 0), 0);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_DISCONNECT, false, NULL, 0), 0);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_UNKNOWN, false, NULL, 0), TT_EPARSE);
    const char want[] = "OPEN\r\nTEXT 1f\r\nhello world, this is 31 bytes!!\r\nPING\r\nPONG 0\r\n"
                        "\r\nCLOSE 6\r\n\x03\xe9gone\r\nCLOSE\r\nDISCONNECT\r\n";
    CHECK_INT(b.len, sizeof(want) - 1);
    CHECK(memcmp(b.data, want, sizeof(want) - 1) == 0);
    /* what we write, we read back */
    CHECK_INT(tt_ws_events_count(b.data, b.len, 100), 7);
    tt_buf_deinit(&b);
    /* a capped buffer is left unchanged when the event does not fit */
    tt_buf_init(&b, 20);
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_TEXT, true, "12345", 5), 0);
    size_t before = b.len;
    CHECK_INT(tt_ws_events_append(&b, TT_WS_EV_TEXT, true, "12345", 5), TT_ETOOBIG);
    CHECK_INT(b.len, before);
    CHECK_INT(tt_ws_events_append_close(&b, 1000, "0123456789", 10), TT_ETOOBIG);
    CHECK_INT(b.len, before);
    tt_buf_deinit(&b);
}

static void test_close_content(void)
{
    struct tt_ws_event ev = {.type = TT_WS_EV_CLOSE};
    int code;
    const uint8_t *r;
    size_t rl;
    tt_ws_events_close_parse(&ev, &code, &r, &rl);
    CHECK_INT(code, -1);
    ev.content = (const uint8_t *)"\x03";
    ev.content_len = 1;
    tt_ws_events_close_parse(&ev, &code, &r, &rl);
    CHECK_INT(code, -1); /* one byte: no code, as Pushpin */
    ev.content = (const uint8_t *)"\x0f\xa0\xff\xfe";
    ev.content_len = 4;
    tt_ws_events_close_parse(&ev, &code, &r, &rl);
    CHECK_INT(code, 4000);
    CHECK_INT(rl, 0); /* reason not UTF-8: dropped */
}

static void cleanup(void)
{
    free(exact);
    exact = NULL;
}

TT_TEST_MAIN(test_parse_pushpin_bodies, test_parse_hex_and_unknown, test_parse_malformed,
             test_count_cap, test_write, test_close_content, cleanup)

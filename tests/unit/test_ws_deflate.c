/* test_ws_deflate.c: permessage-deflate (ws/deflate.h) and the extension header syntax
 * (ws/ext.h).
 *
 * Autobahn groups 12 and 13 at codec level: messages of many sizes compressed and inflated
 * back, one compressor and one decompressor serving several "connections" in turn (no
 * context takeover), offers with every parameter combination; plus the inflate cap at N
 * and N+1, corrupt input, and interoperability with plain zlib streams as other
 * implementations produce them (BFINAL blocks, no stripped tail). */
#include "ws/deflate.h"
#include "ws/frame.h"
#include "tt_test.h"

#include <stdio.h>
#include <stdlib.h>

static struct tt_ws_inflater inf;
static struct tt_ws_deflater def;

/* ---- ext.h ---- */

static void test_ext_syntax(void)
{
    const char *v = "permessage-deflate; client_max_window_bits, grip; message-prefix=\"a\\\"b,c\""
                    " , , x-foo;a=1;b=\"\";c";
    size_t pos = 0;
    struct tt_ws_ext e;
    CHECK_INT(tt_ws_ext_next(v, strlen(v), &pos, &e), 1);
    CHECK(tt_strieq(e.name, e.name_len, "permessage-deflate"));
    CHECK_INT(e.num_params, 1);
    CHECK(e.params[0].value == NULL);
    CHECK_INT(tt_ws_ext_next(v, strlen(v), &pos, &e), 1);
    CHECK(tt_strieq(e.name, e.name_len, "grip"));
    char out[32];
    CHECK_INT(tt_ws_ext_value(tt_ws_ext_param(&e, "MESSAGE-prefix"), out, sizeof(out)), 5);
    CHECK_STR(out, "a\"b,c");
    CHECK_INT(tt_ws_ext_next(v, strlen(v), &pos, &e), 1);
    CHECK(tt_strieq(e.name, e.name_len, "x-foo"));
    CHECK_INT(e.num_params, 3);
    CHECK(e.params[1].quoted && e.params[1].value_len == 0);
    CHECK_INT(tt_ws_ext_value(&e.params[1], out, sizeof(out)), 0);
    CHECK(tt_ws_ext_param(&e, "nope") == NULL);
    CHECK_INT(tt_ws_ext_next(v, strlen(v), &pos, &e), 0);
    CHECK_INT(tt_ws_ext_value(&e.params[0], out, 1), TT_ETOOBIG);

    static const char *bad[] = {
        "a; b=",          "a; =1",     "a; b=\"open",      "a b",       ";a",
        "a; b=\"x\\",     "a;;b",      "\"q\"",            "a; b=\"x\" y",
        "a;p;p;p;p;p;p;p;p;p;p;p;p;p;p;p;p;p", /* 17 params */
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        pos = 0;
        int rc;
        while ((rc = tt_ws_ext_next(bad[i], strlen(bad[i]), &pos, &e)) == 1)
            ;
        CHECK_INT(rc, TT_EPARSE);
    }
    static const char *good[] = {"", " ", ",", "a", "a;b", "a ; b = 1 ", "a,b,c", "a;b=m:"};
    for (size_t i = 0; i < TT_ARRAY_LEN(good); i++) {
        pos = 0;
        int rc;
        while ((rc = tt_ws_ext_next(good[i], strlen(good[i]), &pos, &e)) == 1)
            ;
        CHECK_INT(rc, 0);
    }
}

/* ---- negotiation ---- */

static int scan(const char *v, bool *accept)
{
    *accept = false;
    return tt_ws_deflate_server_scan(v, strlen(v), accept);
}

static void test_server_offers(void)
{
    static const struct {
        const char *value;
        int rc;
        bool accept;
    } cases[] = {
        {"permessage-deflate", 0, true},
        {"permessage-deflate; client_max_window_bits", 0, true}, /* browsers */
        {"permessage-deflate; client_max_window_bits=10", 0, true},
        {"permessage-deflate; server_no_context_takeover", 0, true},
        {"permessage-deflate; client_no_context_takeover", 0, true},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 0, true},
        {"permessage-deflate; server_max_window_bits=15", 0, true},
        {"permessage-deflate; server_max_window_bits=\"15\"", 0, true},
        {"PerMessage-Deflate", 0, true},
        /* declined: a smaller server window */
        {"permessage-deflate; server_max_window_bits=10", 0, false},
        /* ... but the next offer is taken (13.x "several offers") */
        {"permessage-deflate; server_max_window_bits=10, permessage-deflate", 0, true},
        /* invalid offers are skipped, not errors */
        {"permessage-deflate; server_max_window_bits", 0, false},
        {"permessage-deflate; client_max_window_bits=7", 0, false},
        {"permessage-deflate; client_max_window_bits=16", 0, false},
        {"permessage-deflate; client_max_window_bits=010", 0, false},
        {"permessage-deflate; client_max_window_bits=x", 0, false},
        {"permessage-deflate; server_no_context_takeover=1", 0, false},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0, false},
        {"permessage-deflate; client_max_window_bits; client_max_window_bits", 0, false},
        {"permessage-deflate; unknown_param", 0, false},
        {"permessage-deflate; unknown_param, permessage-deflate", 0, true},
        {"x-webkit-deflate-frame", 0, false},
        {"grip, permessage-deflate", 0, true},
        /* syntax errors make the handshake invalid (as Pushpin) */
        {"permessage-deflate; =", TT_EPARSE, false},
        {"permessage-deflate; a=\"", TT_EPARSE, false},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        bool accept;
        int rc = scan(cases[i].value, &accept);
        if (rc != cases[i].rc || accept != cases[i].accept)
            fprintf(stderr, "offer case %zu: %s\n", i, cases[i].value);
        CHECK_INT(rc, cases[i].rc);
        CHECK_INT(accept, cases[i].accept);
    }
}

static int check_resp(const char *v)
{
    size_t pos = 0;
    struct tt_ws_ext e;
    if (tt_ws_ext_next(v, strlen(v), &pos, &e) != 1)
        return -1;
    return tt_ws_deflate_check_response(&e);
}

static void test_client_responses(void)
{
    CHECK_INT(check_resp(TT_WS_DEFLATE_RESPONSE), 0);
    CHECK_INT(check_resp("permessage-deflate; server_no_context_takeover"), 0);
    CHECK_INT(check_resp("permessage-deflate; server_no_context_takeover; "
                         "server_max_window_bits=9"),
              0);
    CHECK_INT(check_resp("permessage-deflate"), TT_EPARSE); /* must echo no_context */
    CHECK_INT(check_resp("permessage-deflate; server_no_context_takeover; "
                         "client_max_window_bits=12"),
              TT_EPARSE); /* not offered */
    CHECK_INT(check_resp("permessage-deflate; server_no_context_takeover; "
                         "client_max_window_bits"),
              TT_EPARSE);
    CHECK_INT(check_resp("permessage-deflate; server_no_context_takeover; foo"), TT_EPARSE);
}

/* ---- compression ---- */

static uint8_t *fill(size_t n, int kind)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        if (kind == 0)
            p[i] = (uint8_t)('a' + i % 7); /* compressible */
        else if (kind == 1)
            p[i] = (uint8_t)(x >> 16); /* random */
        else
            p[i] = "Hello, world! "[i % 14];
    }
    return p;
}

/* 12.x: sizes from 0 to 256 KiB, three kinds of content, round trip through one shared
 * deflater and inflater, the inflate cap exactly at the size. */
static void test_round_trips(void)
{
    static const size_t sizes[] = {0, 1, 16, 64, 125, 126, 256, 1024, 4096, 8191, 16384,
                                   16385, 32768, 65535, 65536, 131072, 262144};
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < TT_ARRAY_LEN(sizes); i++) {
            size_t n = sizes[i];
            uint8_t *msg = fill(n, kind);
            struct tt_buf c, d;
            tt_buf_init(&c, 0);
            tt_buf_init(&d, 0);
            CHECK_INT(tt_ws_deflate(&def, msg, n, &c), 0);
            CHECK(c.len < 4 || memcmp(c.data + c.len - 4, "\x00\x00\xff\xff", 4) != 0);
            if (n == 0) {
                CHECK_INT(c.len, 1);
                CHECK_INT((uint8_t)c.data[0], 0);
            }
            CHECK_INT(tt_ws_inflate(&inf, (uint8_t *)c.data, c.len, n, &d), 0);
            CHECK_INT(d.len, n);
            CHECK(n == 0 || memcmp(d.data, msg, n) == 0);
            /* N+1: one byte under the cap is 1009 */
            if (n > 0) {
                tt_buf_reset(&d);
                CHECK_INT(tt_ws_inflate(&inf, (uint8_t *)c.data, c.len, n - 1, &d), TT_ETOOBIG);
            }
            tt_buf_deinit(&c);
            tt_buf_deinit(&d);
            free(msg);
        }
    }
}

/* A bomb: 10 MB of zeros compresses to ~10 KB; the cap stops the inflate early. */
static void test_bomb(void)
{
    size_t n = 10 * 1000 * 1000;
    uint8_t *zeros = calloc(1, n);
    struct tt_buf c, d;
    tt_buf_init(&c, 0);
    tt_buf_init(&d, 0);
    CHECK_INT(tt_ws_deflate(&def, zeros, n, &c), 0);
    CHECK(c.len < 20000);
    CHECK_INT(tt_ws_inflate(&inf, (uint8_t *)c.data, c.len, 1 << 20, &d), TT_ETOOBIG);
    CHECK(d.len <= (1 << 20) + 16384 + 1);
    /* the inflater is still usable afterwards */
    tt_buf_reset(&d);
    tt_buf_reset(&c);
    CHECK_INT(tt_ws_deflate(&def, "abc", 3, &c), 0);
    CHECK_INT(tt_ws_inflate(&inf, (uint8_t *)c.data, c.len, 3, &d), 0);
    CHECK(d.len == 3 && memcmp(d.data, "abc", 3) == 0);
    /* an output buffer with its own smaller cap */
    struct tt_buf small;
    tt_buf_init(&small, 2);
    CHECK_INT(tt_ws_inflate(&inf, (uint8_t *)c.data, c.len, 100, &small), TT_ETOOBIG);
    tt_buf_deinit(&small);
    tt_buf_deinit(&c);
    tt_buf_deinit(&d);
    free(zeros);
}

/* Streams as other peers make them: raw deflate with a final block (BFINAL), with the
 * 00 00 FF FF tail left in, with several flushes inside one message. */
static void test_foreign_streams(void)
{
    const char *text = "The quick brown fox jumps over the lazy dog. The quick brown fox.";
    size_t n = strlen(text);
    z_stream z;
    uint8_t out[512];
    struct tt_buf d;
    tt_buf_init(&d, 0);
    /* Z_FINISH: ends with a final block; nothing after it */
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)text, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = sizeof(out);
    CHECK_INT(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t clen = sizeof(out) - z.avail_out;
    deflateEnd(&z);
    CHECK_INT(tt_ws_inflate(&inf, out, clen, 1000, &d), 0);
    CHECK(d.len == n && memcmp(d.data, text, n) == 0);
    /* bytes after the final block are corrupt input */
    out[clen] = 0x42;
    tt_buf_reset(&d);
    CHECK_INT(tt_ws_inflate(&inf, out, clen + 1, 1000, &d), TT_EPARSE);
    /* sync flush with the tail kept, and two flushes in one message */
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)text, z.avail_in = 20, z.next_out = out, z.avail_out = sizeof(out);
    deflate(&z, Z_SYNC_FLUSH);
    z.avail_in = (uInt)(n - 20);
    deflate(&z, Z_SYNC_FLUSH);
    clen = sizeof(out) - z.avail_out;
    deflateEnd(&z);
    tt_buf_reset(&d);
    CHECK_INT(tt_ws_inflate(&inf, out, clen, 1000, &d), 0);
    CHECK(d.len == n && memcmp(d.data, text, n) == 0);
    tt_buf_reset(&d);
    CHECK_INT(tt_ws_inflate(&inf, out, clen - 4, 1000, &d), 0);
    CHECK(d.len == n && memcmp(d.data, text, n) == 0);
    /* corrupt: an invalid block type, and random bytes */
    static const uint8_t bad1[] = {0x07, 0x00};
    tt_buf_reset(&d);
    CHECK_INT(tt_ws_inflate(&inf, bad1, sizeof(bad1), 1000, &d), TT_EPARSE);
    static const uint8_t bad2[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    tt_buf_reset(&d);
    CHECK_INT(tt_ws_inflate(&inf, bad2, sizeof(bad2), 1000, &d), TT_EPARSE);
    /* a reference to data before the message start (context takeover by a peer that was
     * told not to): corrupt for us, never a read out of bounds */
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    uint8_t first[512], second[512];
    z.next_in = (Bytef *)text, z.avail_in = (uInt)n, z.next_out = first, z.avail_out = 512;
    deflate(&z, Z_SYNC_FLUSH);
    z.next_in = (Bytef *)text, z.avail_in = (uInt)n, z.next_out = second, z.avail_out = 512;
    deflate(&z, Z_SYNC_FLUSH);
    size_t slen = 512 - z.avail_out;
    deflateEnd(&z);
    tt_buf_reset(&d);
    CHECK_INT(tt_ws_inflate(&inf, second, slen - 4, 1000, &d), TT_EPARSE);
    tt_buf_deinit(&d);
}

/* 13.x: several connections taking turns on one deflater and one inflater give the same
 * bytes as fresh streams would: nothing carries over between messages. */
static void test_no_context_takeover(void)
{
    const char *msgs[] = {"Hello, world!", "Hello, world!", "", "x", "Hello, world! again"};
    struct tt_buf first;
    tt_buf_init(&first, 0);
    CHECK_INT(tt_ws_deflate(&def, msgs[0], strlen(msgs[0]), &first), 0);
    for (size_t i = 0; i < TT_ARRAY_LEN(msgs); i++) {
        struct tt_buf c, d;
        tt_buf_init(&c, 0);
        tt_buf_init(&d, 0);
        CHECK_INT(tt_ws_deflate(&def, msgs[i], strlen(msgs[i]), &c), 0);
        if (i == 1) /* the same message compresses to the same bytes every time */
            CHECK(c.len == first.len && memcmp(c.data, first.data, c.len) == 0);
        struct tt_ws_inflater fresh;
        tt_ws_inflater_init(&fresh);
        CHECK_INT(tt_ws_inflate(&fresh, (uint8_t *)c.data, c.len, 100, &d), 0);
        CHECK(d.len == strlen(msgs[i]) && memcmp(d.data ? d.data : "", msgs[i], d.len) == 0);
        tt_ws_inflater_deinit(&fresh);
        tt_buf_deinit(&c);
        tt_buf_deinit(&d);
    }
    tt_buf_deinit(&first);
}

/* The frame for publishing: RSV1, unmasked, parsed by a client-role parser with deflate. */
static void test_deflate_frame(void)
{
    static const size_t sizes[] = {0, 10, 200, 70000};
    for (size_t i = 0; i < TT_ARRAY_LEN(sizes); i++) {
        uint8_t *msg = fill(sizes[i], 1);
        size_t len;
        uint8_t *f = tt_ws_deflate_frame(&def, TT_WS_OP_BINARY, msg, sizes[i], &len);
        struct tt_ws_parser p;
        tt_ws_parser_init(&p, TT_WS_ROLE_CLIENT, 1 << 20, 1 << 20);
        tt_ws_parser_set_deflate(&p, true);
        struct tt_ws_frame fr;
        struct tt_ws_error e;
        CHECK_INT(tt_ws_parser_next(&p, f, len, &fr, &e), len);
        CHECK(fr.rsv1 && fr.compressed && fr.fin);
        CHECK_INT(fr.opcode, TT_WS_OP_BINARY);
        struct tt_buf d;
        tt_buf_init(&d, 0);
        CHECK_INT(tt_ws_inflate(&inf, fr.payload, fr.payload_len, sizes[i], &d), 0);
        CHECK(d.len == sizes[i] && (sizes[i] == 0 || memcmp(d.data, msg, sizes[i]) == 0));
        tt_buf_deinit(&d);
        free(f);
        free(msg);
    }
}

static void setup(void)
{
    CHECK_INT(tt_ws_inflater_init(&inf), 0);
    CHECK_INT(tt_ws_deflater_init(&def, -1), 0);
}

static void teardown(void)
{
    tt_ws_inflater_deinit(&inf);
    tt_ws_deflater_deinit(&def);
}

TT_TEST_MAIN(setup, test_ext_syntax, test_server_offers, test_client_responses,
             test_round_trips, test_bomb, test_foreign_streams, test_no_context_takeover,
             test_deflate_frame, teardown)

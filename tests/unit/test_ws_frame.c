/* test_ws_frame.c: RFC 6455 framing (ws/frame.h).
 *
 * Organised by the case groups of the Autobahn testsuite, at codec level: 1 framing,
 * 2 pings, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8 inside frames (the
 * validator's own table is in test_ws_utf8.c), 7 close payloads and codes, 9 limits; then
 * the writers and the assembler.
 * A "wire" of frames is built, then fed to the parser the way the I/O layer will: in
 * chunks of every size from 1 byte up, keeping only the unparsed tail. Every chunk size
 * must give the same frames and the same error. */
#include "ws/frame.h"
#include "tt_test.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- building wires ---- */

struct wire {
    uint8_t b[300000];
    size_t n;
};

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Append a raw frame. b0 is FIN|RSV|opcode as on the wire; masked adds MASK. */
static void put(struct wire *w, uint8_t b0, const void *payload, size_t len, bool masked)
{
    uint8_t hdr[TT_WS_MAX_HEADER];
    size_t h = tt_ws_frame_header(hdr, b0 & 0x0F, b0 & 0x80, b0 & 0x40, len, masked ? MASK : NULL);
    hdr[0] = b0; /* keeps RSV2/RSV3 as given */
    memcpy(w->b + w->n, hdr, h);
    w->n += h;
    if (masked)
        tt_ws_mask_copy(w->b + w->n, payload, len, MASK, 0);
    else if (len)
        memcpy(w->b + w->n, payload, len);
    w->n += len;
}

/* Client frames (masked) as a server receives them. */
static void cput(struct wire *w, uint8_t b0, const char *s)
{
    put(w, b0, s, strlen(s), true);
}

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

/* ---- feeding ---- */

struct got {
    int nframes;
    uint8_t op[64];
    uint8_t msg_op[64];
    bool fin[64];
    bool compressed[64];
    size_t len[64];
    uint8_t data[64][512]; /* first bytes of each payload */
    uint16_t close_code;
    char close_reason[126];
    int rc; /* 0 when the wire parsed to its end, else the error */
    struct tt_ws_error err;
    size_t left; /* unparsed bytes at the end */
};

static struct got G;

/* Feed w in chunks of `chunk` bytes (0 = all at once) to a fresh parser. */
static int feed(const struct wire *w, enum tt_ws_role role, size_t chunk, uint64_t max_frame,
                uint64_t max_msg, bool deflate)
{
    struct tt_ws_parser p;
    tt_ws_parser_init(&p, role, max_frame, max_msg);
    tt_ws_parser_set_deflate(&p, deflate);
    memset(&G, 0, sizeof(G));
    uint8_t *buf = malloc(w->n + 1);
    size_t have = 0, sent = 0;
    if (chunk == 0)
        chunk = w->n ? w->n : 1;
    while (sent < w->n || have) {
        size_t add = TT_MIN(chunk, w->n - sent);
        memcpy(buf + have, w->b + sent, add);
        have += add;
        sent += add;
        for (;;) {
            struct tt_ws_frame f;
            ssize_t r = tt_ws_parser_next(&p, buf, have, &f, &G.err);
            if (r == TT_EAGAIN)
                break;
            if (r < 0) {
                G.rc = (int)r;
                G.left = have;
                free(buf);
                return G.rc;
            }
            int i = G.nframes++;
            if (i < 64) {
                G.op[i] = f.opcode;
                G.msg_op[i] = f.msg_opcode;
                G.fin[i] = f.fin;
                G.compressed[i] = f.compressed;
                G.len[i] = f.payload_len;
                memcpy(G.data[i], f.payload, TT_MIN(f.payload_len, sizeof(G.data[i])));
            }
            if (f.opcode == TT_WS_OP_CLOSE) {
                G.close_code = f.close_code;
                if (f.close_reason_len)
                    memcpy(G.close_reason, f.close_reason, f.close_reason_len);
                G.close_reason[f.close_reason_len] = 0;
            }
            memmove(buf, buf + r, have - (size_t)r);
            have -= (size_t)r;
        }
        if (sent == w->n)
            break;
    }
    G.left = have;
    free(buf);
    return 0;
}

/* Feed at several chunk sizes; all must agree on the frame count and the error. Returns
 * the result of the all-at-once run (left in G). */
static int feed_all(const struct wire *w, enum tt_ws_role role, uint64_t max_msg, bool deflate)
{
    static const size_t chunks[] = {1, 2, 3, 7, 64, 0};
    int rc0 = 0, n0 = 0;
    uint16_t code0 = 0;
    for (size_t i = TT_ARRAY_LEN(chunks); i-- > 0;) {
        int rc = feed(w, role, chunks[i], max_msg, max_msg, deflate);
        if (chunks[i] == 0) {
            rc0 = rc, n0 = G.nframes, code0 = G.err.close_code;
        } else {
            CHECK_INT(rc, rc0);
            CHECK_INT(G.nframes, n0);
            CHECK_INT(G.err.close_code, code0);
        }
    }
    /* leave the all-at-once result in G */
    return feed(w, role, 0, max_msg, max_msg, deflate);
}

static int srv(const struct wire *w)
{
    return feed_all(w, TT_WS_ROLE_SERVER, 1 << 20, false);
}

/* ---- 1: framing ---- */

static void test_framing_lengths(void)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 128, 65535, 65536, 200000};
    static uint8_t payload[200000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < TT_ARRAY_LEN(lens); i++) {
        for (int op = TT_WS_OP_TEXT; op <= TT_WS_OP_BINARY; op++) {
            static struct wire w;
            w.n = 0;
            put(&w, (uint8_t)(FIN | op), payload, lens[i], true);
            CHECK_INT(feed(&w, TT_WS_ROLE_SERVER, lens[i] > 1000 ? 997 : 1, 1 << 20, 1 << 20,
                           false),
                      0);
            CHECK_INT(G.nframes, 1);
            CHECK_INT(G.len[0], lens[i]);
            CHECK_INT(G.op[0], op);
            CHECK(memcmp(G.data[0], payload, TT_MIN(lens[i], 512)) == 0);
            CHECK_INT(G.left, 0);
            /* client role: the same frame unmasked */
            w.n = 0;
            put(&w, (uint8_t)(FIN | op), payload, lens[i], false);
            CHECK_INT(feed(&w, TT_WS_ROLE_CLIENT, 0, 1 << 20, 1 << 20, false), 0);
            CHECK_INT(G.nframes, 1);
            CHECK_INT(G.len[0], lens[i]);
            CHECK(memcmp(G.data[0], payload, TT_MIN(lens[i], 512)) == 0);
        }
    }
}

static void test_framing_masking_rules(void)
{
    static struct wire w;
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, "hi", 2, false);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    CHECK_INT(G.nframes, 0);
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, "hi", 2, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_CLIENT, 1000, false), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    /* an unmasked control frame from a client too */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_PING, "", 0, false);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
}

/* Several frames back to back in one buffer come out one at a time, in order. */
static void test_framing_pipelined(void)
{
    static struct wire w;
    w.n = 0;
    cput(&w, FIN | TT_WS_OP_TEXT, "one");
    cput(&w, FIN | TT_WS_OP_BINARY, "two");
    cput(&w, FIN | TT_WS_OP_PING, "three");
    cput(&w, FIN | TT_WS_OP_TEXT, "");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 4);
    CHECK(memcmp(G.data[0], "one", 3) == 0);
    CHECK(memcmp(G.data[2], "three", 5) == 0);
    CHECK_INT(G.op[3], TT_WS_OP_TEXT);
    CHECK_INT(G.len[3], 0);
}

/* Non-minimal length encodings are legal on receipt. */
static void test_framing_nonminimal_length(void)
{
    static struct wire w;
    w.n = 0;
    uint8_t f1[] = {FIN | TT_WS_OP_BINARY, 0x80 | 126, 0, 3, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3};
    memcpy(w.b, f1, sizeof(f1));
    w.n = sizeof(f1);
    uint8_t f2[] = {FIN | TT_WS_OP_BINARY, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 'z'};
    memcpy(w.b + w.n, f2, sizeof(f2));
    w.n += sizeof(f2);
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 2);
    CHECK(memcmp(G.data[0], "abc", 3) == 0);
    CHECK_INT(G.len[1], 1);
    CHECK_INT(G.data[1][0], 'z');
}

/* ---- 2: pings and pongs ---- */

static void test_pings(void)
{
    static uint8_t p125[125], p126[126];
    memset(p125, 0xfe, sizeof(p125));
    memset(p126, 0xfe, sizeof(p126));
    static struct wire w;
    w.n = 0;
    cput(&w, FIN | TT_WS_OP_PING, "");
    cput(&w, FIN | TT_WS_OP_PING, "Hello, world!");
    put(&w, FIN | TT_WS_OP_PING, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8, true);
    put(&w, FIN | TT_WS_OP_PING, p125, 125, true);
    cput(&w, FIN | TT_WS_OP_PONG, "unsolicited");
    for (int i = 0; i < 10; i++)
        cput(&w, FIN | TT_WS_OP_PING, "again");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 15);
    CHECK_INT(G.len[3], 125);
    CHECK_INT(G.op[4], TT_WS_OP_PONG);
    CHECK_INT(G.data[2][1], 0xff);

    /* 2.5: ping of 126 bytes: the length alone is refused before any payload arrives */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_PING, p126, 126, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    struct tt_ws_parser p;
    tt_ws_parser_init(&p, TT_WS_ROLE_SERVER, 1000, 1000);
    uint8_t two[2] = {FIN | TT_WS_OP_PING, 0x80 | 126};
    struct tt_ws_frame f;
    struct tt_ws_error e;
    CHECK_INT(tt_ws_parser_next(&p, two, 2, &f, &e), TT_EPARSE);
    CHECK_INT(e.close_code, 1002);
    /* a pong of 126 too */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_PONG, p126, 126, true);
    CHECK_INT(srv(&w), TT_EPARSE);
}

/* ---- 3: reserved bits ---- */

static void test_reserved_bits(void)
{
    static const struct {
        uint8_t b0;
        bool deflate;
        int rc;
    } cases[] = {
        {FIN | RSV2 | TT_WS_OP_TEXT, false, TT_EPARSE},                /* 3.1 */
        {FIN | RSV1 | TT_WS_OP_TEXT, false, TT_EPARSE},                /* RSV1 without deflate */
        {FIN | RSV1 | RSV2 | TT_WS_OP_TEXT, false, TT_EPARSE},         /* 3.3 */
        {FIN | RSV3 | TT_WS_OP_TEXT, false, TT_EPARSE},                /* 3.4 */
        {FIN | RSV1 | RSV3 | TT_WS_OP_BINARY, false, TT_EPARSE},       /* 3.5 */
        {FIN | RSV2 | RSV3 | TT_WS_OP_PING, false, TT_EPARSE},         /* 3.6 */
        {FIN | RSV1 | RSV2 | RSV3 | TT_WS_OP_CLOSE, false, TT_EPARSE}, /* 3.7 */
        {FIN | RSV1 | TT_WS_OP_TEXT, true, 0},                         /* deflate */
        {FIN | RSV1 | TT_WS_OP_BINARY, true, 0},
        {FIN | RSV1 | TT_WS_OP_PING, true, TT_EPARSE}, /* never on control frames */
        {FIN | RSV2 | TT_WS_OP_TEXT, true, TT_EPARSE},
        {FIN | RSV3 | TT_WS_OP_TEXT, true, TT_EPARSE},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(cases); i++) {
        static struct wire w;
        w.n = 0;
        /* 3.2: a good frame first, then the bad one, then a ping that must not be seen */
        cput(&w, FIN | TT_WS_OP_TEXT, "small");
        put(&w, cases[i].b0, "xyz", 3, true);
        cput(&w, FIN | TT_WS_OP_PING, "");
        int rc = feed_all(&w, TT_WS_ROLE_SERVER, 1000, cases[i].deflate);
        CHECK_INT(rc, cases[i].rc);
        if (cases[i].rc) {
            CHECK_INT(G.nframes, 1);
            CHECK_INT(G.err.close_code, 1002);
        } else {
            CHECK_INT(G.nframes, 3);
            CHECK(G.compressed[1]);
            CHECK(!G.compressed[0]);
        }
    }
    /* RSV1 only on the first frame of a compressed message */
    static struct wire w;
    w.n = 0;
    put(&w, RSV1 | TT_WS_OP_TEXT, "a", 1, true);
    put(&w, FIN | TT_WS_OP_CONT, "b", 1, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, true), 0);
    CHECK_INT(G.nframes, 2);
    CHECK(G.compressed[0] && G.compressed[1]);
    w.n = 0;
    put(&w, RSV1 | TT_WS_OP_TEXT, "a", 1, true);
    put(&w, FIN | RSV1 | TT_WS_OP_CONT, "b", 1, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, true), TT_EPARSE);
    CHECK_INT(G.nframes, 1);
    CHECK_INT(G.err.close_code, 1002);
}

/* ---- 4: opcodes ---- */

static void test_opcodes(void)
{
    for (int op = 0; op < 16; op++) {
        bool known = op <= 2 || (op >= 8 && op <= 10);
        for (int with_payload = 0; with_payload < 2; with_payload++) {
            static struct wire w;
            w.n = 0;
            cput(&w, FIN | TT_WS_OP_TEXT, "before");
            if (op == TT_WS_OP_CLOSE)
                put(&w, (uint8_t)(FIN | op), "\x03\xe8", with_payload ? 2 : 0, true);
            else
                put(&w, (uint8_t)(FIN | op), "reserved", with_payload ? 8 : 0, true);
            int rc = srv(&w);
            if (known && op != TT_WS_OP_CONT) {
                CHECK_INT(rc, 0);
                CHECK_INT(G.nframes, 2);
            } else {
                CHECK_INT(rc, TT_EPARSE); /* 4.1.x / 4.2.x; CONT: no open message */
                CHECK_INT(G.nframes, 1);
                CHECK_INT(G.err.close_code, 1002);
            }
        }
    }
}

/* ---- 5: fragmentation ---- */

static void test_fragmentation(void)
{
    static struct wire w;
    /* 5.1 / 5.2: fragmented ping and pong */
    w.n = 0;
    cput(&w, TT_WS_OP_PING, "frag1");
    cput(&w, FIN | TT_WS_OP_CONT, "frag2");
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    w.n = 0;
    cput(&w, TT_WS_OP_PONG, "frag1");
    CHECK_INT(srv(&w), TT_EPARSE);
    /* 5.3-5.5: text in two fragments */
    w.n = 0;
    cput(&w, TT_WS_OP_TEXT, "frag1");
    cput(&w, FIN | TT_WS_OP_CONT, "frag2");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 2);
    CHECK_INT(G.msg_op[1], TT_WS_OP_TEXT);
    CHECK(!G.fin[0] && G.fin[1]);
    /* 5.6-5.8: a ping between the fragments */
    w.n = 0;
    cput(&w, TT_WS_OP_TEXT, "frag1");
    cput(&w, FIN | TT_WS_OP_PING, "ping payload");
    cput(&w, FIN | TT_WS_OP_CONT, "frag2");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 3);
    CHECK_INT(G.op[1], TT_WS_OP_PING);
    CHECK_INT(G.msg_op[2], TT_WS_OP_TEXT);
    /* 5.9-5.11: continuation without a start */
    w.n = 0;
    cput(&w, FIN | TT_WS_OP_CONT, "non-continuation payload");
    cput(&w, FIN | TT_WS_OP_TEXT, "Hello, world!");
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.nframes, 0);
    CHECK_INT(G.err.close_code, 1002);
    w.n = 0;
    cput(&w, TT_WS_OP_CONT, "fragment1");
    CHECK_INT(srv(&w), TT_EPARSE);
    /* 5.12-5.14: continuation after a finished message */
    w.n = 0;
    cput(&w, FIN | TT_WS_OP_TEXT, "done");
    cput(&w, FIN | TT_WS_OP_CONT, "late");
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.nframes, 1);
    /* 5.15: text, text without a continuation */
    w.n = 0;
    cput(&w, TT_WS_OP_TEXT, "fragment1");
    cput(&w, FIN | TT_WS_OP_CONT, "fragment2");
    cput(&w, TT_WS_OP_CONT, "fragment3");
    cput(&w, FIN | TT_WS_OP_TEXT, "fragment4");
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.nframes, 2); /* the third continues nothing */
    CHECK_INT(G.err.close_code, 1002);
    /* 5.16-5.18: binary started, text inside */
    w.n = 0;
    cput(&w, TT_WS_OP_BINARY, "a");
    cput(&w, TT_WS_OP_TEXT, "b");
    CHECK_INT(srv(&w), TT_EPARSE);
    /* 5.19/5.20: many fragments with pings between; assembled by the assembler */
    w.n = 0;
    cput(&w, TT_WS_OP_TEXT, "fragment1");
    cput(&w, TT_WS_OP_CONT, "fragment2");
    cput(&w, FIN | TT_WS_OP_PING, "pongme 1!");
    cput(&w, TT_WS_OP_CONT, "fragment3");
    cput(&w, FIN | TT_WS_OP_PING, "pongme 2!");
    cput(&w, TT_WS_OP_CONT, "fragment4");
    cput(&w, FIN | TT_WS_OP_CONT, "fragment5");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 7);
    /* empty fragments are fine */
    w.n = 0;
    cput(&w, TT_WS_OP_TEXT, "");
    cput(&w, TT_WS_OP_CONT, "");
    cput(&w, FIN | TT_WS_OP_CONT, "");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 3);
}

/* ---- 6: UTF-8 ---- */

/* kosme, a surrogate, "edited" (Autobahn 6.3.1) */
#define CASE_6_3_1 "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"

/* Text frames: invalid UTF-8 fails with 1007 as soon as the bad byte is in, also inside a
 * frame that is not complete yet (6.4.3/6.4.4 "fail fast"). */
static void test_utf8_frames(void)
{
    static struct wire w;
    /* 6.2.3/6.2.4: a valid text split inside a character, in many fragments */
    const char *kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    w.n = 0;
    put(&w, TT_WS_OP_TEXT, kosme, 1, true);
    for (size_t i = 1; i + 1 < strlen(kosme); i++)
        put(&w, TT_WS_OP_CONT, kosme + i, 1, true);
    put(&w, FIN | TT_WS_OP_CONT, kosme + strlen(kosme) - 1, 1, true);
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, (int)strlen(kosme));
    /* 6.3.1 in one frame */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, CASE_6_3_1, sizeof(CASE_6_3_1) - 1, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1007);
    /* 6.4.1: three fragments, the second invalid: fails with the second, third unseen */
    w.n = 0;
    put(&w, TT_WS_OP_TEXT, kosme, strlen(kosme), true);
    put(&w, TT_WS_OP_CONT, "\xf4\x90\x80\x80", 4, true);
    put(&w, FIN | TT_WS_OP_CONT, "edited", 6, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.nframes, 1);
    CHECK_INT(G.err.close_code, 1007);
    /* 6.4.3: one frame delivered in pieces: the error comes as soon as F4 90 is there */
    w.n = 0;
    char text[64];
    memcpy(text, kosme, 11);
    memcpy(text + 11, "\xf4\x90\x80\x80", 4);
    memcpy(text + 15, "edited", 6);
    put(&w, FIN | TT_WS_OP_TEXT, text, 21, true);
    struct tt_ws_parser p;
    tt_ws_parser_init(&p, TT_WS_ROLE_SERVER, 1000, 1000);
    uint8_t buf[64];
    size_t hdr = 6; /* 2 + mask */
    int failed_with = -1;
    for (size_t have = 1; have <= w.n; have++) {
        memcpy(buf + have - 1, w.b + have - 1, 1);
        struct tt_ws_frame f;
        struct tt_ws_error e;
        ssize_t r = tt_ws_parser_next(&p, buf, have, &f, &e);
        if (r != TT_EAGAIN) {
            CHECK_INT(r, TT_EPARSE);
            CHECK_INT(e.close_code, 1007);
            failed_with = (int)(have - hdr);
            break;
        }
    }
    CHECK_INT(failed_with, 13); /* payload bytes present when F4 90 became known */
    /* a message ending inside a character */
    w.n = 0;
    put(&w, TT_WS_OP_TEXT, "ab\xe2\x82", 4, true);
    put(&w, FIN | TT_WS_OP_CONT, "", 0, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1007);
    CHECK_INT(G.nframes, 1);
    /* binary and compressed payloads are not checked here */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_BINARY, "\xff\xfe", 2, true);
    put(&w, FIN | RSV1 | TT_WS_OP_TEXT, "\xff\xfe", 2, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, true), 0);
    CHECK_INT(G.nframes, 2);
    /* the validator restarts with each message */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, "\xce", 1, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    w.n = 0;
    put(&w, TT_WS_OP_TEXT, "\xce", 1, true);
    put(&w, FIN | TT_WS_OP_CONT, "\xba", 1, true);
    put(&w, FIN | TT_WS_OP_TEXT, "ok", 2, true);
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 3);
}

/* ---- 7: close ---- */

static void test_close_codes(void)
{
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0,    999,  1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < TT_ARRAY_LEN(valid); i++) {
        CHECK(tt_ws_close_code_valid(valid[i]));
        static struct wire w;
        w.n = 0;
        uint8_t pl[2] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
        put(&w, FIN | TT_WS_OP_CLOSE, pl, 2, true);
        CHECK_INT(srv(&w), 0);
        CHECK_INT(G.close_code, valid[i]);
    }
    for (size_t i = 0; i < TT_ARRAY_LEN(invalid); i++) {
        CHECK(!tt_ws_close_code_valid(invalid[i]));
        static struct wire w;
        w.n = 0;
        uint8_t pl[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
        put(&w, FIN | TT_WS_OP_CLOSE, pl, 2, true);
        CHECK_INT(srv(&w), TT_EPARSE);
        CHECK_INT(G.err.close_code, 1002);
    }
    int nvalid = 0;
    for (unsigned c = 0; c < 65536; c++)
        nvalid += tt_ws_close_code_valid(c);
    CHECK_INT(nvalid, 4 + 8 + 2000);
}

static void test_close_payloads(void)
{
    static struct wire w;
    /* 7.3.1: empty close */
    w.n = 0;
    cput(&w, FIN | TT_WS_OP_CLOSE, "");
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.close_code, TT_WS_CLOSE_NO_STATUS);
    /* 7.3.2: one byte */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_CLOSE, "\x03", 1, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    /* 7.3.3/7.3.4: code with and without reason */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_CLOSE, "\x03\xe8", 2, true);
    put(&w, FIN | TT_WS_OP_CLOSE, "\x03\xe8Hello World!", 14, true);
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.close_code, 1000);
    CHECK_STR(G.close_reason, "Hello World!");
    /* 7.3.5: 123-byte reason (125 payload); 7.3.6: 126-byte payload */
    uint8_t pl[130];
    pl[0] = 0x03, pl[1] = 0xe8;
    memset(pl + 2, '*', sizeof(pl) - 2);
    w.n = 0;
    put(&w, FIN | TT_WS_OP_CLOSE, pl, 125, true);
    CHECK_INT(srv(&w), 0);
    CHECK_INT(strlen(G.close_reason), 123);
    w.n = 0;
    put(&w, FIN | TT_WS_OP_CLOSE, pl, 126, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    /* 7.5.1: reason not UTF-8 */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_CLOSE, "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
        16, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1007);
    /* fragmented close */
    w.n = 0;
    put(&w, TT_WS_OP_CLOSE, "\x03\xe8", 2, true);
    CHECK_INT(srv(&w), TT_EPARSE);
    CHECK_INT(G.err.close_code, 1002);
    /* a close between fragments of a message is legal framing */
    w.n = 0;
    cput(&w, TT_WS_OP_TEXT, "a");
    put(&w, FIN | TT_WS_OP_CLOSE, "\x03\xe8", 2, true);
    CHECK_INT(srv(&w), 0);
    CHECK_INT(G.nframes, 2);

    /* writer side */
    uint8_t out[TT_WS_MAX_CONTROL];
    CHECK_INT(tt_ws_close_payload(out, -1, "ignored", 7), 0);
    CHECK_INT(tt_ws_close_payload(out, 1000, NULL, 0), 2);
    CHECK(out[0] == 0x03 && out[1] == 0xe8);
    CHECK_INT(tt_ws_close_payload(out, 4001, "bye", 3), 5);
    CHECK(memcmp(out, "\x0f\xa1" "bye", 5) == 0);
    /* a long reason is cut at a character boundary: 61 two-byte characters = 122 bytes */
    char reason[200];
    for (int i = 0; i < 100; i++)
        memcpy(reason + 2 * i, "\xc3\xa9", 2);
    size_t n = tt_ws_close_payload(out, 1000, reason, 200);
    CHECK_INT(n, 2 + 122);
    CHECK(tt_ws_utf8_valid(out + 2, n - 2));
    memset(reason, 'x', sizeof(reason));
    CHECK_INT(tt_ws_close_payload(out, 1000, reason, 200), 125);
    /* 3-byte characters: 41 of them fill 123 exactly */
    for (int i = 0; i < 60; i++)
        memcpy(reason + 3 * i, "\xe2\x82\xac", 3);
    CHECK_INT(tt_ws_close_payload(out, 1000, reason, 180), 125);
    memmove(reason + 1, reason, 179);
    reason[0] = 'x';
    n = tt_ws_close_payload(out, 1000, reason, 180);
    CHECK_INT(n, 2 + 121);
    CHECK(tt_ws_utf8_valid(out + 2, n - 2));
    uint16_t code;
    const uint8_t *r;
    size_t rlen;
    struct tt_ws_error e;
    CHECK_INT(tt_ws_close_parse(out, n, &code, &r, &rlen, &e), 0);
    CHECK_INT(code, 1000);
    CHECK_INT(rlen, 121);
}

/* ---- 9: limits ---- */

static void test_limits(void)
{
    static uint8_t big[70000];
    memset(big, 'x', sizeof(big));
    static struct wire w;
    /* exactly at the message cap passes, one more is 1009 */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, big, 1000, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, false), 0);
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, big, 1001, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, false), TT_ETOOBIG);
    CHECK_INT(G.err.close_code, 1009);
    /* the cap is checked from the header, before the payload arrives */
    uint8_t hdr[10] = {FIN | TT_WS_OP_BINARY, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0};
    struct tt_ws_parser p;
    struct tt_ws_frame f;
    struct tt_ws_error e;
    tt_ws_parser_init(&p, TT_WS_ROLE_SERVER, 1 << 20, 1 << 20);
    CHECK_INT(tt_ws_parser_next(&p, hdr, sizeof(hdr), &f, &e), TT_ETOOBIG);
    CHECK_INT(e.close_code, 1009);
    /* once failed, the parser stays failed */
    CHECK(tt_ws_parser_next(&p, hdr, sizeof(hdr), &f, &e) < 0);
    /* fragments add up: 3 x 400 over a 1000 cap */
    w.n = 0;
    put(&w, TT_WS_OP_BINARY, big, 400, true);
    put(&w, TT_WS_OP_CONT, big, 400, true);
    put(&w, FIN | TT_WS_OP_CONT, big, 200, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, false), 0);
    w.n = 0;
    put(&w, TT_WS_OP_BINARY, big, 400, true);
    put(&w, TT_WS_OP_CONT, big, 400, true);
    put(&w, FIN | TT_WS_OP_CONT, big, 201, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, false), TT_ETOOBIG);
    CHECK_INT(G.nframes, 2);
    /* control frames do not count toward the message */
    w.n = 0;
    put(&w, TT_WS_OP_BINARY, big, 900, true);
    put(&w, FIN | TT_WS_OP_PING, big, 125, true);
    put(&w, FIN | TT_WS_OP_CONT, big, 100, true);
    CHECK_INT(feed_all(&w, TT_WS_ROLE_SERVER, 1000, false), 0);
    /* a frame cap below the message cap */
    w.n = 0;
    put(&w, TT_WS_OP_BINARY, big, 100, true);
    put(&w, FIN | TT_WS_OP_CONT, big, 101, true);
    CHECK_INT(feed(&w, TT_WS_ROLE_SERVER, 0, 100, 1000, false), TT_ETOOBIG);
    CHECK_INT(G.nframes, 1);
    /* 64-bit length with the top bit set */
    uint8_t msb[10] = {FIN | TT_WS_OP_BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    tt_ws_parser_init(&p, TT_WS_ROLE_SERVER, UINT64_MAX, UINT64_MAX);
    CHECK_INT(tt_ws_parser_next(&p, msb, sizeof(msb), &f, &e), TT_EPARSE);
    CHECK_INT(e.close_code, 1002);
    /* 9.x sizes: 64 KiB text and binary at a 1 MiB cap */
    w.n = 0;
    put(&w, FIN | TT_WS_OP_TEXT, big, 65536, true);
    put(&w, FIN | TT_WS_OP_BINARY, big, 65536, true);
    CHECK_INT(feed(&w, TT_WS_ROLE_SERVER, 4096, 1 << 20, 1 << 20, false), 0);
    CHECK_INT(G.nframes, 2);
    CHECK_INT(G.len[1], 65536);
}

/* ---- writers ---- */

static int rng_calls;
static int rng_ok(unsigned char *buf, int num)
{
    rng_calls++;
    for (int i = 0; i < num; i++)
        buf[i] = (unsigned char)(0xA0 + i);
    return 1;
}
static int rng_fail(unsigned char *buf, int num)
{
    (void)buf, (void)num;
    return 0;
}

static void test_writers(void)
{
    uint8_t h[TT_WS_MAX_HEADER];
    CHECK_INT(tt_ws_frame_header(h, TT_WS_OP_TEXT, true, false, 0, NULL), 2);
    CHECK(h[0] == 0x81 && h[1] == 0);
    CHECK_INT(tt_ws_frame_header(h, TT_WS_OP_BINARY, false, true, 125, NULL), 2);
    CHECK(h[0] == 0x42 && h[1] == 125);
    CHECK_INT(tt_ws_frame_header(h, TT_WS_OP_TEXT, true, false, 126, NULL), 4);
    CHECK(h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_INT(tt_ws_frame_header(h, TT_WS_OP_TEXT, true, false, 65535, NULL), 4);
    CHECK_INT(tt_ws_frame_header(h, TT_WS_OP_TEXT, true, false, 65536, NULL), 10);
    CHECK(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
    uint8_t mask[4];
    CHECK_INT(tt_ws_mask_key(rng_ok, mask), 0);
    CHECK_INT(rng_calls, 1);
    CHECK_INT(mask[3], 0xA3);
    CHECK(tt_ws_mask_key(rng_fail, mask) < 0);
    CHECK_INT(tt_ws_frame_header(h, TT_WS_OP_PING, true, false, 5, mask), 6);
    CHECK(h[1] == (0x80 | 5) && memcmp(h + 2, mask, 4) == 0);

    /* masking in pieces equals masking at once, for every split point and offset */
    uint8_t src[37], a[37], b[37];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7);
    tt_ws_mask_copy(a, src, sizeof(src), MASK, 0);
    for (size_t i = 0; i < sizeof(src); i++)
        CHECK_INT(a[i], src[i] ^ MASK[i & 3]);
    int diff = 0;
    for (size_t cut = 0; cut <= sizeof(src); cut++) {
        memcpy(b, src, sizeof(src));
        tt_ws_mask(b, cut, MASK, 0);
        tt_ws_mask(b + cut, sizeof(src) - cut, MASK, cut);
        diff += memcmp(a, b, sizeof(src)) != 0;
    }
    CHECK_INT(diff, 0);

    /* render: server frame read back by a client-role parser, masked by a server-role one */
    static uint8_t payload[70000], out[70100];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    static const size_t lens[] = {0, 5, 125, 126, 65535, 65536, 70000};
    for (size_t i = 0; i < TT_ARRAY_LEN(lens); i++) {
        for (int masked = 0; masked < 2; masked++) {
            ssize_t n = tt_ws_frame_render(out, sizeof(out), TT_WS_OP_BINARY, false, payload,
                                           lens[i], masked ? MASK : NULL);
            CHECK(n > 0);
            struct tt_ws_parser p;
            tt_ws_parser_init(&p, masked ? TT_WS_ROLE_SERVER : TT_WS_ROLE_CLIENT, 1 << 20,
                              1 << 20);
            struct tt_ws_frame f;
            struct tt_ws_error e;
            CHECK_INT(tt_ws_parser_next(&p, out, (size_t)n, &f, &e), n);
            CHECK_INT(f.payload_len, lens[i]);
            CHECK(lens[i] == 0 || memcmp(f.payload, payload, lens[i]) == 0);
            CHECK(f.fin);
        }
    }
    CHECK_INT(tt_ws_frame_render(out, 10, TT_WS_OP_TEXT, false, payload, 9, NULL), TT_ETOOBIG);
    CHECK_INT(tt_ws_frame_render(out, 11, TT_WS_OP_TEXT, false, payload, 9, NULL), 11);
    size_t len;
    uint8_t *blk = tt_ws_frame_render_alloc(TT_WS_OP_TEXT, true, "hello", 5, &len);
    CHECK_INT(len, 7);
    CHECK(blk[0] == 0xC1 && blk[1] == 5 && memcmp(blk + 2, "hello", 5) == 0);
    free(blk);
    blk = tt_ws_frame_render_alloc(TT_WS_OP_PONG, false, NULL, 0, &len);
    CHECK_INT(len, 2);
    CHECK(blk[0] == 0x8A && blk[1] == 0);
    free(blk);
}

/* ---- assembler ---- */

static void test_assembler(void)
{
    static struct wire w;
    w.n = 0;
    cput(&w, FIN | TT_WS_OP_BINARY, "single");
    cput(&w, TT_WS_OP_TEXT, "frag1-");
    cput(&w, FIN | TT_WS_OP_PING, "ping");
    cput(&w, TT_WS_OP_CONT, "frag2-");
    cput(&w, FIN | TT_WS_OP_CONT, "frag3");
    cput(&w, FIN | TT_WS_OP_TEXT, "");
    struct tt_ws_parser p;
    tt_ws_parser_init(&p, TT_WS_ROLE_SERVER, 1000, 1000);
    struct tt_ws_assembler a;
    tt_ws_assembler_init(&a, 1000);
    size_t off = 0;
    int messages = 0, controls = 0;
    while (off < w.n) {
        struct tt_ws_frame f;
        struct tt_ws_error e;
        ssize_t r = tt_ws_parser_next(&p, w.b + off, w.n - off, &f, &e);
        CHECK(r > 0);
        if (r <= 0)
            break;
        off += (size_t)r;
        if (f.opcode & 8) {
            controls++;
            continue;
        }
        const uint8_t *m;
        size_t len;
        uint8_t op;
        bool comp;
        int rc = tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp);
        if (rc == 1) {
            messages++;
            if (messages == 1) {
                CHECK(m == f.payload); /* no copy */
                CHECK_INT(op, TT_WS_OP_BINARY);
            } else if (messages == 2) {
                CHECK_INT(len, 17);
                CHECK(memcmp(m, "frag1-frag2-frag3", 17) == 0);
                CHECK_INT(op, TT_WS_OP_TEXT);
                CHECK(!comp);
                CHECK(a.buf.alloc > 0);
                tt_ws_assembler_release(&a);
                CHECK_INT(a.buf.alloc, 0);
            } else {
                CHECK_INT(len, 0);
            }
        } else {
            CHECK_INT(rc, 0);
        }
    }
    CHECK_INT(messages, 3);
    CHECK_INT(controls, 1);
    /* cap and misuse */
    tt_ws_assembler_init(&a, 10);
    struct tt_ws_frame f = {0};
    uint8_t data[8] = "abcdefg";
    f.opcode = TT_WS_OP_TEXT, f.payload = data, f.payload_len = 6;
    const uint8_t *m;
    size_t len;
    uint8_t op;
    bool comp;
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), 0);
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), TT_EPARSE); /* TEXT again */
    f.opcode = TT_WS_OP_CONT;
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), TT_ETOOBIG);
    CHECK_INT(a.buf.alloc, 0);
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), TT_EPARSE); /* no start */
    f.opcode = TT_WS_OP_PING;
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), TT_EPARSE);
    /* compressed flag from the first frame */
    f.opcode = TT_WS_OP_BINARY, f.rsv1 = true, f.fin = false, f.payload_len = 2;
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), 0);
    f.opcode = TT_WS_OP_CONT, f.rsv1 = false, f.fin = true;
    CHECK_INT(tt_ws_assembler_feed(&a, &f, &m, &len, &op, &comp), 1);
    CHECK(comp);
    CHECK_INT(len, 4);
    CHECK(memcmp(m, "abab", 4) == 0);
    tt_ws_assembler_release(&a);
}

/* ---- a size check for the idle-connection budget ---- */

static void test_sizes(void)
{
    CHECK(sizeof(struct tt_ws_parser) <= 48);
}

TT_TEST_MAIN(test_framing_lengths, test_framing_masking_rules, test_framing_pipelined,
             test_framing_nonminimal_length, test_pings, test_reserved_bits, test_opcodes,
             test_fragmentation, test_utf8_frames,
             test_close_codes, test_close_payloads, test_limits, test_writers, test_assembler,
             test_sizes)

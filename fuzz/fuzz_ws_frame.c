/* fuzz_ws_frame.c: the RFC 6455 frame parser, both roles, must give the same frames and the
 * same error however the bytes are split, and every frame must obey the protocol rules it
 * claims to enforce. Byte 0 picks the role, deflate and small caps; bytes 1-4 seed the
 * split sizes. Each parse call gets its own exact-size copy of the pending bytes so ASan
 * sees any overread. Complete messages go through the assembler and, when compressed, the
 * capped inflater; text must then be UTF-8. */
#include "fuzz.h"
#include "ws/deflate.h"
#include "ws/frame.h"

#include <stdlib.h>
#include <string.h>

struct outcome {
    int rc;
    uint16_t code;
    size_t frames;
    uint64_t hash;
};

static struct tt_ws_inflater inf;
static bool inf_ready;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void check_frame(const struct tt_ws_frame *f, const uint8_t *blk, size_t have, ssize_t r,
                        struct tt_ws_assembler *a)
{
    ENSURE(r >= 2 && (size_t)r <= have);
    ENSURE(f->payload >= blk && f->payload + f->payload_len == blk + r);
    if (f->opcode & 8) {
        ENSURE(f->fin && f->payload_len <= 125 && !f->rsv1);
        if (f->opcode == TT_WS_OP_CLOSE && f->payload_len)
            ENSURE(tt_ws_close_code_valid(f->close_code) &&
                   tt_ws_utf8_valid(f->close_reason, f->close_reason_len));
        return;
    }
    const uint8_t *m;
    size_t len;
    uint8_t op;
    bool comp;
    int rc = tt_ws_assembler_feed(a, f, &m, &len, &op, &comp);
    ENSURE(rc == 0 || rc == 1 || rc == TT_ETOOBIG);
    if (rc != 1)
        return;
    ENSURE(op == TT_WS_OP_TEXT || op == TT_WS_OP_BINARY);
    if (!comp) {
        if (op == TT_WS_OP_TEXT)
            ENSURE(tt_ws_utf8_valid(m, len));
    } else {
        struct tt_buf out;
        tt_buf_init(&out, 0);
        int ir = tt_ws_inflate(&inf, m, len, 4096, &out);
        ENSURE(ir == 0 || ir == TT_EPARSE || ir == TT_ETOOBIG);
        if (ir == 0)
            ENSURE(out.len <= 4096);
        tt_buf_deinit(&out);
    }
    tt_ws_assembler_release(a);
}

static struct outcome run(const uint8_t *in, size_t len, uint8_t flags, uint32_t seed, bool split)
{
    struct tt_ws_parser p;
    enum tt_ws_role role = flags & 1 ? TT_WS_ROLE_CLIENT : TT_WS_ROLE_SERVER;
    uint64_t cap = flags & 4 ? 300 : 1 << 20;
    tt_ws_parser_init(&p, role, flags & 8 ? 100 : cap, cap);
    tt_ws_parser_set_deflate(&p, flags & 2);
    struct tt_ws_assembler a;
    tt_ws_assembler_init(&a, (size_t)cap);
    struct outcome o = {0, 0, 0, 14695981039346656037ull};
    uint8_t *buf = malloc(len + 1);
    size_t have = 0, off = 0;
    while (off < len) {
        size_t piece = len - off;
        if (split) {
            seed = seed * 1103515245u + 12345u;
            size_t pick = (seed >> 16) & 0xff;
            size_t want = pick < 200 ? 1 + pick % 5 : 1 + pick * 8;
            if (want < piece)
                piece = want;
        }
        memcpy(buf + have, in + off, piece);
        have += piece;
        off += piece;
        for (;;) {
            uint8_t *blk = malloc(have ? have : 1);
            memcpy(blk, buf, have);
            struct tt_ws_frame f;
            struct tt_ws_error e;
            ssize_t r = tt_ws_parser_next(&p, blk, have, &f, &e);
            memcpy(buf, blk, have); /* keep what was unmasked in place */
            if (r == TT_EAGAIN) {
                free(blk);
                break;
            }
            if (r < 0) {
                ENSURE(r == TT_EPARSE || r == TT_ETOOBIG);
                ENSURE(e.reason != NULL);
                ENSURE(r == TT_ETOOBIG ? e.close_code == 1009
                                       : (e.close_code == 1002 || e.close_code == 1007));
                o.rc = (int)r;
                o.code = e.close_code;
                free(blk);
                goto out;
            }
            check_frame(&f, blk, have, r, &a);
            o.frames++;
            uint8_t meta[3] = {f.opcode, f.fin, f.compressed};
            o.hash = mix(o.hash, meta, 3);
            o.hash = mix(o.hash, f.payload, f.payload_len);
            free(blk);
            memmove(buf, buf + r, have - (size_t)r);
            have -= (size_t)r;
        }
    }
out:
    tt_ws_assembler_release(&a);
    free(buf);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    if (!inf_ready) {
        tt_ws_inflater_init(&inf);
        inf_ready = true;
    }
    uint8_t flags = data[0];
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                    (uint32_t)data[4] << 24;
    struct outcome whole = run(data + 5, size - 5, flags, seed, false);
    struct outcome parts = run(data + 5, size - 5, flags, seed, true);
    ENSURE(whole.rc == parts.rc && whole.code == parts.code);
    ENSURE(whole.frames == parts.frames && whole.hash == parts.hash);
    return 0;
}

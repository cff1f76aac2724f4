/* frame.c: RFC 6455 frame parser, message assembler and writers; see frame.h.
 *
 * The parser re-reads the header on every call instead of keeping a header state machine:
 * a header is at most 14 bytes, and this keeps the per-connection state to a few counters
 * that are meaningful between frames. The only state about a partial frame is how much of
 * its payload was already unmasked and validated (part_done). */
#include "ws/frame.h"

#include <errno.h>
#include <stdlib.h>

void tt_ws_parser_init(struct tt_ws_parser *p, enum tt_ws_role role, uint64_t max_frame,
                       uint64_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->role = (uint8_t)role;
    p->max_frame = max_frame;
    p->max_message = max_message;
    tt_ws_utf8_init(&p->utf8);
}

void tt_ws_parser_set_deflate(struct tt_ws_parser *p, bool on)
{
    p->deflate = on;
}

bool tt_ws_parser_in_message(const struct tt_ws_parser *p)
{
    return p->in_message;
}

static int fail(struct tt_ws_parser *p, struct tt_ws_error *err, uint16_t code,
                const char *reason)
{
    p->failed = true;
    if (err) {
        err->close_code = code;
        err->reason = reason;
    }
    return code == TT_WS_CLOSE_TOO_BIG ? TT_ETOOBIG : TT_EPARSE;
}

static bool is_control(unsigned op)
{
    return op & 0x8;
}

static bool known_opcode(unsigned op)
{
    return op <= TT_WS_OP_BINARY || (op >= TT_WS_OP_CLOSE && op <= TT_WS_OP_PONG);
}

/* Header checks that need only the first two bytes, in the order a peer's mistakes are
 * most usefully reported. */
static int check_start(struct tt_ws_parser *p, uint8_t b0, uint8_t b1, struct tt_ws_error *err)
{
    unsigned op = b0 & 0x0F;
    bool fin = b0 & 0x80, rsv1 = b0 & 0x40, masked = b1 & 0x80;
    if (b0 & 0x30)
        return fail(p, err, TT_WS_CLOSE_PROTOCOL, "reserved bits RSV2/RSV3 set");
    if (!known_opcode(op))
        return fail(p, err, TT_WS_CLOSE_PROTOCOL, "unknown opcode");
    if (is_control(op)) {
        if (!fin)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "fragmented control frame");
        if ((b1 & 0x7F) > TT_WS_MAX_CONTROL)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "control frame payload over 125 bytes");
        if (rsv1)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "RSV1 set on a control frame");
    } else if (op == TT_WS_OP_CONT) {
        if (!p->in_message)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "continuation frame without a message");
        if (rsv1)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "RSV1 set on a continuation frame");
    } else {
        if (p->in_message)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "new data frame inside a fragmented message");
        if (rsv1 && !p->deflate)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "RSV1 set without permessage-deflate");
    }
    if (p->role == TT_WS_ROLE_SERVER && !masked)
        return fail(p, err, TT_WS_CLOSE_PROTOCOL, "unmasked frame from a client");
    if (p->role == TT_WS_ROLE_CLIENT && masked)
        return fail(p, err, TT_WS_CLOSE_PROTOCOL, "masked frame from a server");
    return 0;
}

/* Unmask (and for uncompressed text, validate) payload bytes [from, to). */
static int process_payload(struct tt_ws_parser *p, uint8_t *payload, const uint8_t *mask,
                           uint64_t from, uint64_t to, bool text, struct tt_ws_error *err)
{
    if (to <= from)
        return 0;
    if (mask)
        tt_ws_mask(payload + from, (size_t)(to - from), mask, from);
    if (text && tt_ws_utf8_feed(&p->utf8, payload + from, (size_t)(to - from), NULL) < 0)
        return fail(p, err, TT_WS_CLOSE_BAD_DATA, "invalid UTF-8 in text message");
    return 0;
}

ssize_t tt_ws_parser_next(struct tt_ws_parser *p, uint8_t *buf, size_t len,
                          struct tt_ws_frame *f, struct tt_ws_error *err)
{
    if (p->failed)
        return fail(p, err, TT_WS_CLOSE_PROTOCOL, "parser used after an error");
    if (len < 2)
        return TT_EAGAIN;
    uint8_t b0 = buf[0], b1 = buf[1];
    int rc = check_start(p, b0, b1, err);
    if (rc < 0)
        return rc;
    unsigned op = b0 & 0x0F;
    bool masked = b1 & 0x80;
    size_t hlen = 2;
    uint64_t plen = b1 & 0x7F;
    if (plen == 126) {
        if (len < 4)
            return TT_EAGAIN;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        hlen = 4;
    } else if (plen == 127) {
        if (len < 10)
            return TT_EAGAIN;
        if (buf[2] & 0x80)
            return fail(p, err, TT_WS_CLOSE_PROTOCOL, "64-bit payload length with top bit set");
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        hlen = 10;
    }
    bool data = !is_control(op);
    if (plen > p->max_frame)
        return fail(p, err, TT_WS_CLOSE_TOO_BIG, "frame over the size limit");
    if (data && plen > p->max_message - (op == TT_WS_OP_CONT ? p->msg_len : 0))
        return fail(p, err, TT_WS_CLOSE_TOO_BIG, "message over the size limit");
    const uint8_t *mask = NULL;
    if (masked) {
        if (len < hlen + 4)
            return TT_EAGAIN;
        mask = buf + hlen;
        hlen += 4;
    }
    bool compressed = op == TT_WS_OP_CONT ? p->msg_compressed : (b0 & 0x40) != 0;
    uint8_t msg_op = op == TT_WS_OP_CONT ? p->msg_opcode : (uint8_t)op;
    /* Text checked here only when uncompressed: a compressed payload is checked after it
     * is inflated. A new text message starts a new validation. */
    bool text = data && msg_op == TT_WS_OP_TEXT && !compressed;
    if (p->part_done == 0 && text && op == TT_WS_OP_TEXT)
        tt_ws_utf8_init(&p->utf8);
    uint8_t *payload = buf + hlen;
    size_t avail = len - hlen;
    if ((uint64_t)avail < plen) {
        /* Partial frame: unmask what is there, so bad text fails fast. */
        rc = process_payload(p, payload, mask, p->part_done, avail, text, err);
        if (rc < 0)
            return rc;
        if (avail > p->part_done)
            p->part_done = avail;
        return TT_EAGAIN;
    }
    rc = process_payload(p, payload, mask, p->part_done, plen, text, err);
    if (rc < 0)
        return rc;
    p->part_done = 0;

    memset(f, 0, sizeof(*f));
    f->opcode = (uint8_t)op;
    f->msg_opcode = msg_op;
    f->fin = b0 & 0x80;
    f->rsv1 = b0 & 0x40;
    f->compressed = data && compressed;
    f->first = op == TT_WS_OP_TEXT || op == TT_WS_OP_BINARY;
    f->payload = payload;
    f->payload_len = (size_t)plen;
    if (data) {
        if (text && f->fin && !tt_ws_utf8_complete(&p->utf8))
            return fail(p, err, TT_WS_CLOSE_BAD_DATA, "text message ends inside a character");
        if (f->fin) {
            p->in_message = false;
            p->msg_len = 0;
        } else {
            p->in_message = true;
            p->msg_opcode = msg_op;
            p->msg_compressed = compressed;
            p->msg_len += plen;
        }
    } else if (op == TT_WS_OP_CLOSE) {
        rc = tt_ws_close_parse(payload, (size_t)plen, &f->close_code, &f->close_reason,
                               &f->close_reason_len, err);
        if (rc < 0) {
            p->failed = true;
            return rc;
        }
    }
    return (ssize_t)(hlen + (size_t)plen);
}

/* ---- assembler ---- */

void tt_ws_assembler_init(struct tt_ws_assembler *a, size_t max_message)
{
    memset(a, 0, sizeof(*a));
    tt_buf_init(&a->buf, max_message);
}

void tt_ws_assembler_release(struct tt_ws_assembler *a)
{
    size_t cap = a->buf.cap;
    tt_buf_deinit(&a->buf);
    tt_buf_init(&a->buf, cap);
    a->active = false;
}

int tt_ws_assembler_feed(struct tt_ws_assembler *a, const struct tt_ws_frame *f,
                         const uint8_t **msg, size_t *len, uint8_t *opcode, bool *compressed)
{
    if (is_control(f->opcode))
        return TT_EPARSE;
    if (f->opcode != TT_WS_OP_CONT) {
        if (a->active)
            return TT_EPARSE;
        if (f->fin) {
            /* The common case: one frame, no copy. A leftover buffer is dropped. */
            if (a->buf.alloc)
                tt_ws_assembler_release(a);
            *msg = f->payload;
            *len = f->payload_len;
            *opcode = f->opcode;
            *compressed = f->rsv1;
            return 1;
        }
        tt_buf_reset(&a->buf);
        a->active = true;
        a->opcode = f->opcode;
        a->compressed = f->rsv1;
    } else if (!a->active) {
        return TT_EPARSE;
    }
    if (f->payload_len && tt_buf_append(&a->buf, f->payload, f->payload_len) < 0) {
        tt_ws_assembler_release(a);
        return TT_ETOOBIG;
    }
    if (!f->fin)
        return 0;
    a->active = false;
    *msg = (const uint8_t *)a->buf.data;
    *len = a->buf.len;
    *opcode = a->opcode;
    *compressed = a->compressed;
    if (!*msg)
        *msg = (const uint8_t *)"";
    return 1;
}

/* ---- writers ---- */

size_t tt_ws_frame_header(uint8_t *out, unsigned opcode, bool fin, bool rsv1,
                          uint64_t payload_len, const uint8_t *mask)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
    uint8_t m = mask ? 0x80 : 0;
    if (payload_len < 126) {
        out[n++] = m | (uint8_t)payload_len;
    } else if (payload_len <= 0xFFFF) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(payload_len >> 8);
        out[n++] = (uint8_t)payload_len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(payload_len >> (i * 8));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

int tt_ws_mask_key(tt_ws_rng_fn rng, uint8_t mask[4])
{
    return rng(mask, 4) == 1 ? 0 : -EIO;
}

void tt_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                     uint64_t offset)
{
    size_t i = 0;
    /* Word at a time once aligned to the mask period; the key rotated to the offset. */
    uint8_t k[8];
    for (int j = 0; j < 8; j++)
        k[j] = mask[(offset + (uint64_t)j) & 3];
    uint64_t kw;
    memcpy(&kw, k, 8);
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= kw;
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ k[i & 7];
}

void tt_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
    tt_ws_mask_copy(data, data, len, mask, offset);
}

ssize_t tt_ws_frame_render(uint8_t *out, size_t cap, unsigned opcode, bool rsv1,
                           const void *payload, size_t len, const uint8_t *mask)
{
    uint8_t hdr[TT_WS_MAX_HEADER];
    size_t h = tt_ws_frame_header(hdr, opcode, true, rsv1, len, mask);
    if (cap < h || cap - h < len)
        return TT_ETOOBIG;
    memcpy(out, hdr, h);
    if (len) {
        if (mask)
            tt_ws_mask_copy(out + h, payload, len, mask, 0);
        else
            memcpy(out + h, payload, len);
    }
    return (ssize_t)(h + len);
}

uint8_t *tt_ws_frame_render_alloc(unsigned opcode, bool rsv1, const void *payload, size_t len,
                                  size_t *out_len)
{
    size_t cap = TT_WS_MAX_HEADER + len;
    uint8_t *out = tt_malloc(cap ? cap : 1);
    ssize_t n = tt_ws_frame_render(out, cap, opcode, rsv1, payload, len, NULL);
    *out_len = (size_t)n;
    return out;
}

/* ---- close payloads ---- */

bool tt_ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

size_t tt_ws_close_payload(uint8_t *out, int code, const void *reason, size_t reason_len)
{
    if (code < 0)
        return 0;
    out[0] = (uint8_t)((unsigned)code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason_len;
    if (n > TT_WS_MAX_CLOSE_REASON)
        n = tt_ws_utf8_cut(reason, TT_WS_MAX_CLOSE_REASON);
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

int tt_ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                      size_t *reason_len, struct tt_ws_error *err)
{
    *reason = NULL;
    *reason_len = 0;
    if (len == 0) {
        *code = TT_WS_CLOSE_NO_STATUS;
        return 0;
    }
    const char *why = NULL;
    uint16_t cc = TT_WS_CLOSE_PROTOCOL;
    if (len == 1) {
        why = "close payload of one byte";
    } else if (len > TT_WS_MAX_CONTROL) {
        why = "close payload over 125 bytes";
    } else {
        unsigned c = (unsigned)payload[0] << 8 | payload[1];
        if (!tt_ws_close_code_valid(c)) {
            why = "invalid close code";
        } else if (!tt_ws_utf8_valid(payload + 2, len - 2)) {
            why = "close reason is not UTF-8";
            cc = TT_WS_CLOSE_BAD_DATA;
        } else {
            *code = (uint16_t)c;
            *reason = payload + 2;
            *reason_len = len - 2;
            return 0;
        }
    }
    if (err) {
        err->close_code = cc;
        err->reason = why;
    }
    return TT_EPARSE;
}

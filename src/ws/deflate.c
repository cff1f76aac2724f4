/* deflate.c: permessage-deflate negotiation and whole-message zlib; see deflate.h. */
#include "ws/deflate.h"

#include <errno.h>
#include <stdlib.h>

#include "ws/frame.h"

#define WINDOW_BITS 15
/* zlib's output is produced in steps of this size: large enough that small messages take
 * one step, small enough that a capped inflate never overshoots the cap by much. */
#define STEP 16384

static const uint8_t TAIL[4] = {0x00, 0x00, 0xff, 0xff};

static int parse_bits(const struct tt_ws_ext_param *p, bool allow_empty, uint8_t *out)
{
    if (*out)
        return TT_EPARSE; /* repeated */
    if (!p->value) {
        if (!allow_empty)
            return TT_EPARSE;
        *out = 15;
        return 0;
    }
    char buf[8];
    int n = tt_ws_ext_value(p, buf, sizeof(buf));
    if (n <= 0)
        return TT_EPARSE;
    /* RFC 7692 7.1.2.1: 1*DIGIT without leading zeros, 8..15 */
    if (buf[0] == '0')
        return TT_EPARSE;
    int64_t v = tt_parse_uint(buf, (size_t)n, 15);
    if (v < 8)
        return TT_EPARSE;
    *out = (uint8_t)v;
    return 0;
}

int tt_ws_deflate_parse(const struct tt_ws_ext *e, bool offer, struct tt_ws_deflate_params *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < e->num_params; i++) {
        const struct tt_ws_ext_param *p = &e->params[i];
        bool *flag = NULL;
        if (tt_strieq(p->name, p->name_len, "server_no_context_takeover"))
            flag = &out->server_no_context_takeover;
        else if (tt_strieq(p->name, p->name_len, "client_no_context_takeover"))
            flag = &out->client_no_context_takeover;
        if (flag) {
            if (*flag || p->value)
                return TT_EPARSE;
            *flag = true;
        } else if (tt_strieq(p->name, p->name_len, "server_max_window_bits")) {
            if (parse_bits(p, false, &out->server_max_window_bits) < 0)
                return TT_EPARSE;
        } else if (tt_strieq(p->name, p->name_len, "client_max_window_bits")) {
            if (parse_bits(p, offer, &out->client_max_window_bits) < 0)
                return TT_EPARSE;
        } else {
            return TT_EPARSE;
        }
    }
    return 0;
}

bool tt_ws_deflate_offer_acceptable(const struct tt_ws_deflate_params *offer)
{
    return offer->server_max_window_bits == 0 || offer->server_max_window_bits == WINDOW_BITS;
}

int tt_ws_deflate_server_scan(const char *value, size_t len, bool *accept)
{
    size_t pos = 0;
    struct tt_ws_ext e;
    int rc;
    while ((rc = tt_ws_ext_next(value, len, &pos, &e)) == 1) {
        if (*accept || !tt_strieq(e.name, e.name_len, TT_WS_DEFLATE_NAME))
            continue;
        struct tt_ws_deflate_params p;
        if (tt_ws_deflate_parse(&e, true, &p) == 0 && tt_ws_deflate_offer_acceptable(&p))
            *accept = true;
    }
    return rc < 0 ? TT_EPARSE : 0;
}

int tt_ws_deflate_check_response(const struct tt_ws_ext *e)
{
    struct tt_ws_deflate_params p;
    if (tt_ws_deflate_parse(e, false, &p) < 0)
        return TT_EPARSE;
    /* We offered server_no_context_takeover: an accepting server must echo it. We did not
     * offer client_max_window_bits, so it must not come back. */
    if (!p.server_no_context_takeover || p.client_max_window_bits)
        return TT_EPARSE;
    return 0;
}

/* ---- zlib ---- */

static void *zalloc(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    return tt_calloc(items, size);
}

static void zfree(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

int tt_ws_inflater_init(struct tt_ws_inflater *in)
{
    memset(in, 0, sizeof(*in));
    in->z.zalloc = zalloc;
    in->z.zfree = zfree;
    return inflateInit2(&in->z, -WINDOW_BITS) == Z_OK ? 0 : -ENOMEM;
}

void tt_ws_inflater_deinit(struct tt_ws_inflater *in)
{
    inflateEnd(&in->z);
}

/* Make room for at least `want` more bytes in out; false when the buffer cap forbids. */
static bool reserve(struct tt_buf *out, size_t want)
{
    if (out->cap && want > out->cap - out->len)
        want = out->cap - out->len;
    if (want == 0)
        return false;
    if (out->alloc - out->len < want) {
        size_t n = out->len + want;
        out->data = tt_realloc(out->data, n + 1);
        out->alloc = n;
    }
    return true;
}

int tt_ws_inflate(struct tt_ws_inflater *in, const uint8_t *data, size_t len, size_t max_out,
                  struct tt_buf *out)
{
    z_stream *z = &in->z;
    inflateReset(z);
    size_t start = out->len;
    /* Two inputs: the message, then the tail the sender removed. */
    bool tail = false;
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)len;
    for (;;) {
        if (z->avail_in == 0 && !tail) {
            tail = true;
            z->next_in = (Bytef *)TAIL;
            z->avail_in = sizeof(TAIL);
        }
        /* One byte more than the cap is asked for, so that "exactly at the cap" and "over
         * the cap" can be told apart. */
        size_t room = max_out - (out->len - start);
        if (!reserve(out, TT_MIN((size_t)STEP, room + 1)))
            return TT_ETOOBIG;
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)TT_MIN((size_t)STEP, out->alloc - out->len);
        uInt out_before = z->avail_out, in_before = z->avail_in;
        int rc = inflate(z, Z_SYNC_FLUSH);
        out->len += out_before - z->avail_out;
        if (out->len - start > max_out)
            return TT_ETOOBIG;
        if (rc == Z_STREAM_END) {
            /* A final block: fine at the very end of the message, not before. */
            if (!tail && z->avail_in > 0)
                return TT_EPARSE;
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return TT_EPARSE;
        if (tail && z->avail_in == 0 && z->avail_out > 0)
            break; /* all input taken and zlib had room left: nothing is pending */
        if (z->avail_in == in_before && z->avail_out == out_before)
            return TT_EPARSE; /* no progress */
    }
    if (out->data)
        out->data[out->len] = 0;
    return 0;
}

int tt_ws_deflater_init(struct tt_ws_deflater *d, int level)
{
    memset(d, 0, sizeof(*d));
    d->z.zalloc = zalloc;
    d->z.zfree = zfree;
    return deflateInit2(&d->z, level, Z_DEFLATED, -WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) == Z_OK
               ? 0
               : -ENOMEM;
}

void tt_ws_deflater_deinit(struct tt_ws_deflater *d)
{
    deflateEnd(&d->z);
}

int tt_ws_deflate(struct tt_ws_deflater *d, const void *data, size_t len, struct tt_buf *out)
{
    z_stream *z = &d->z;
    deflateReset(z);
    size_t start = out->len;
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)len;
    for (;;) {
        size_t want = deflateBound(z, z->avail_in) + 16;
        if (!reserve(out, want))
            return TT_ETOOBIG;
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)(out->alloc - out->len);
        uInt before = z->avail_out;
        int rc = deflate(z, Z_SYNC_FLUSH);
        out->len += before - z->avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return TT_EPARSE;
        if (z->avail_in == 0 && z->avail_out > 0)
            break;
    }
    /* A sync flush always ends with an empty stored block: 00 00 FF FF. */
    if (out->len - start >= 4 && memcmp(out->data + out->len - 4, TAIL, 4) == 0)
        out->len -= 4;
    return 0;
}

uint8_t *tt_ws_deflate_frame(struct tt_ws_deflater *d, unsigned opcode, const void *data,
                             size_t len, size_t *out_len)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    /* Room for the largest header in front, so the payload is compressed in place. */
    tt_buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0", TT_WS_MAX_HEADER);
    tt_ws_deflate(d, data, len, &b);
    size_t plen = b.len - TT_WS_MAX_HEADER;
    uint8_t hdr[TT_WS_MAX_HEADER];
    size_t h = tt_ws_frame_header(hdr, opcode, true, true, plen, NULL);
    uint8_t *blk = (uint8_t *)b.data;
    memmove(blk + TT_WS_MAX_HEADER - h, hdr, h);
    memmove(blk, blk + TT_WS_MAX_HEADER - h, h + plen);
    *out_len = h + plen;
    return blk;
}

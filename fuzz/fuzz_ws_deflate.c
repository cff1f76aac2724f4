/* fuzz_ws_deflate.c: permessage-deflate. Byte 0 picks the mode:
 *  - even: inflate the rest with a cap (byte 1 picks it); output never exceeds the cap;
 *    what inflates, deflated again and inflated, gives the same bytes;
 *  - odd: the rest is a Sec-WebSocket-Extensions value: server scan and client response
 *    check must not crash and must agree with the syntax iterator. */
#include "fuzz.h"
#include "ws/deflate.h"

#include <stdlib.h>
#include <string.h>

static struct tt_ws_inflater inf;
static struct tt_ws_deflater def;
static bool ready;

static void inflate_mode(const uint8_t *in, size_t len, size_t cap)
{
    uint8_t *blk = malloc(len ? len : 1);
    memcpy(blk, in, len);
    struct tt_buf out;
    tt_buf_init(&out, 0);
    int rc = tt_ws_inflate(&inf, blk, len, cap, &out);
    ENSURE(rc == 0 || rc == TT_EPARSE || rc == TT_ETOOBIG);
    if (rc == 0) {
        ENSURE(out.len <= cap);
        struct tt_buf c, d;
        tt_buf_init(&c, 0);
        tt_buf_init(&d, 0);
        ENSURE(tt_ws_deflate(&def, out.data, out.len, &c) == 0);
        ENSURE(tt_ws_inflate(&inf, (uint8_t *)c.data, c.len, cap, &d) == 0);
        ENSURE(d.len == out.len && (d.len == 0 || memcmp(d.data, out.data, d.len) == 0));
        tt_buf_deinit(&c);
        tt_buf_deinit(&d);
    }
    tt_buf_deinit(&out);
    free(blk);
}

static void header_mode(const uint8_t *in, size_t len)
{
    char *v = malloc(len ? len : 1);
    memcpy(v, in, len);
    bool accept = false;
    int rc = tt_ws_deflate_server_scan(v, len, &accept);
    size_t pos = 0;
    struct tt_ws_ext e;
    int r;
    while ((r = tt_ws_ext_next(v, len, &pos, &e)) == 1) {
        ENSURE(pos <= len && e.name_len > 0 && e.num_params <= TT_WS_EXT_MAX_PARAMS);
        for (size_t i = 0; i < e.num_params; i++) {
            char buf[64];
            int n = tt_ws_ext_value(&e.params[i], buf, sizeof(buf));
            ENSURE(n == TT_ETOOBIG || (n >= 0 && (size_t)n < sizeof(buf)));
        }
        struct tt_ws_deflate_params p;
        if (tt_ws_deflate_parse(&e, true, &p) == 0) {
            ENSURE(p.server_max_window_bits == 0 ||
                   (p.server_max_window_bits >= 8 && p.server_max_window_bits <= 15));
            ENSURE(p.client_max_window_bits == 0 ||
                   (p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15));
        }
        tt_ws_deflate_check_response(&e);
    }
    ENSURE((r < 0) == (rc < 0));
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (!ready) {
        tt_ws_inflater_init(&inf);
        tt_ws_deflater_init(&def, 1);
        ready = true;
    }
    if (data[0] & 1)
        header_mode(data + 1, size - 1);
    else
        inflate_mode(data + 2, size - 2, (size_t)data[1] * 257);
    return 0;
}

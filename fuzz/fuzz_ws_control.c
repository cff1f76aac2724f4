/* fuzz_ws_control.c: GRIP over WebSocket control messages (the JSON after "c:") and the
 * grip extension. Whatever the input, the parser returns a documented code, and a parsed
 * message holds only what its type allows, within the caps. Byte 0 picks the mode. */
#include "fuzz.h"
#include "ws/frame.h"
#include "ws/grip.h"

#include <stdlib.h>
#include <string.h>

static void control_mode(const char *json, size_t len)
{
    struct tt_ws_ctl c;
    char err[256];
    int rc = tt_ws_ctl_parse(json, len, &c, err, sizeof(err));
    ENSURE(rc == 0 || rc == TT_EPARSE || rc == TT_ETOOBIG);
    if (rc == TT_EPARSE) {
        ENSURE(err[0] != 0);
        ENSURE(!c.channel && !c.content && !c.meta_name && c.num_filters == 0);
    }
    if (rc == TT_ETOOBIG)
        ENSURE(c.type == TT_WS_CTL_SUBSCRIBE && c.channel && c.num_filters == 0);
    if (rc == 0) {
        ENSURE(c.num_filters <= TT_WS_GRIP_MAX_FILTERS);
        switch (c.type) {
        case TT_WS_CTL_SUBSCRIBE:
        case TT_WS_CTL_UNSUBSCRIBE:
            ENSURE(c.channel && c.channel[0]);
            break;
        case TT_WS_CTL_SET_META:
            ENSURE(c.meta_name && c.meta_name[0]);
            break;
        case TT_WS_CTL_KEEP_ALIVE:
        case TT_WS_CTL_SEND_DELAYED:
            ENSURE(c.timeout >= 1 && c.timeout <= TT_WS_GRIP_MAX_TIMEOUT);
            ENSURE(c.opcode == TT_WS_OP_TEXT || c.opcode == TT_WS_OP_BINARY ||
                   c.opcode == TT_WS_OP_PING || c.opcode == TT_WS_OP_PONG);
            if (c.content && c.opcode == TT_WS_OP_TEXT)
                ENSURE(tt_ws_utf8_valid(c.content, c.content_len));
            if (c.opcode == TT_WS_OP_PING || c.opcode == TT_WS_OP_PONG)
                ENSURE(c.content_len <= TT_WS_MAX_CONTROL);
            break;
        default:
            break;
        }
    }
    tt_ws_ctl_free(&c);
}

static void ext_mode(const char *v, size_t len)
{
    struct tt_ws_grip_ext g;
    memset(&g, 0, sizeof(g));
    int rc = tt_ws_grip_ext_scan(v, len, &g);
    ENSURE(rc == 0 || rc == 1);
    ENSURE(rc == (int)g.present);
    if (g.present) {
        ENSURE(g.prefix_len <= TT_WS_GRIP_MAX_PREFIX && g.prefix[g.prefix_len] == 0);
        uint8_t msg[80];
        memcpy(msg, g.prefix, g.prefix_len);
        msg[g.prefix_len] = 'x';
        enum tt_ws_grip_kind k = tt_ws_grip_classify(TT_WS_OP_BINARY, msg, g.prefix_len + 1, &g);
        ENSURE(k == TT_WS_GRIP_DATA);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *blk = malloc(size);
    memcpy(blk, data + 1, size - 1);
    if (data[0] == 'e')
        ext_mode(blk, size - 1);
    else
        control_mode(blk, size - 1);
    free(blk);
    return 0;
}

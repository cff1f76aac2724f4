/* woh.c: WebSocket-over-HTTP backends (over_http targets). Being written: until then an
 * over_http target answers the client 502 with a log line saying so. */
#include <stdlib.h>

#include "core/log.h"
#include "websocket/backends.h"

struct woh_be {
    struct tt_ws_backend b;
};

static void woh_start(struct tt_ws_backend *b)
{
    tt_warn("websocket: over_http targets are not supported yet");
    tt_ws_session_failed(b->s, false, "WebSocket-over-HTTP is not supported yet.");
}

static void woh_message(struct tt_ws_backend *b, unsigned opcode, const uint8_t *data, size_t len)
{
    (void)b;
    (void)opcode;
    (void)data;
    (void)len;
}

static void woh_close(struct tt_ws_backend *b, int code, const uint8_t *reason, size_t len)
{
    (void)code;
    (void)reason;
    (void)len;
    tt_ws_session_backend_closed(b->s, code, reason, len);
}

static void woh_free(struct tt_ws_backend *b, bool disconnect)
{
    (void)disconnect;
    free(b);
}

static const struct tt_ws_backend_ops woh_ops = {
    .start = woh_start,
    .message = woh_message,
    .close = woh_close,
    .free = woh_free,
};

struct tt_ws_backend *tt_ws_woh_new(struct tt_ws_session *s, const struct tt_route_target *t)
{
    (void)t;
    struct woh_be *w = tt_calloc(1, sizeof(*w));
    w->b.ops = &woh_ops;
    w->b.s = s;
    return &w->b;
}

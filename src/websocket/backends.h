/* backends.h: the kinds of backend a WebSocket session can have (see session.h):
 * passthrough to a ws/wss backend, WebSocket-over-HTTP, and the built-in test handler.
 * Each returns a backend whose start op the session calls next.
 * Thread: the worker's. */
#ifndef TT_WS_BACKENDS_H
#define TT_WS_BACKENDS_H

#include "websocket/session.h"

/* A WebSocket to target t (Pushpin's passthrough): frames relayed both ways. */
struct tt_ws_backend *tt_ws_passthrough_new(struct tt_ws_session *s,
                                            const struct tt_route_target *t);
/* WebSocket-over-HTTP to target t (over_http): events POSTed as
 * application/websocket-events. */
struct tt_ws_backend *tt_ws_woh_new(struct tt_ws_session *s, const struct tt_route_target *t);
/* The test target's /ws: an echo, subscribed (GRIP) to the channel query params. */
struct tt_ws_backend *tt_ws_test_new(struct tt_ws_session *s);

#endif

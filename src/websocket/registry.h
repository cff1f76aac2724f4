/* registry.h: the worker's WebSocket sessions by connection id (the cid a
 * WebSocket-over-HTTP backend sees as Connection-Id, and the stats socket's "conn" id),
 * for the command socket's conncheck and refresh; and the session's entry in the stats
 * (a WebSocket connection).
 *
 * Owner: entries are the registry's; a session registers when it starts and leaves when
 * it is freed. Thread: the worker's. */
#ifndef TT_WS_REGISTRY_H
#define TT_WS_REGISTRY_H

#include "websocket/session.h"

void tt_ws_registry_add(struct tt_ws_session *s);
void tt_ws_registry_remove(struct tt_ws_session *s);

/* The hooks the worker calls for connection queries (set in struct tt_server by main). */
bool tt_ws_registry_alive(struct tt_worker *w, const char *cid, size_t len);
/* Refresh the session's backend now (WebSocket-over-HTTP sends a request); true when the
 * cid is known (whatever its backend). */
bool tt_ws_registry_refresh(struct tt_worker *w, const char *cid, size_t len);
/* Refresh every session subscribed to channel. */
void tt_ws_registry_refresh_channel(struct tt_worker *w, const char *channel);

#endif

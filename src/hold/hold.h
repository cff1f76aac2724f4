/* hold.h: GRIP holds (response / stream) on a client connection. A hold is one kind of
 * subscriber of the worker's fan-out engine (pubsub/fanout.h): it subscribes there and
 * the engine calls its ops to deliver, to update it (first-subscription update,
 * recover) and to judge its backlog.
 *
 * A hold is the client's session (c->sink.session) while it lasts: the client frees it
 * when it closes and asks it to end cleanly when the worker stops. A stream hold writes
 * through a sink (proxy/sink.h): its client's, or once an idle HTTP/2 stream's client was
 * replaced (session op compact), the compact record's (proxy/held.h), which then owns
 * the hold the same way. The proxy layer reaches
 * tt_hold_start only through the server's grip_start hook, set by main.
 * Owner: the client; tt_hold_free unsubscribes and stops its timers. Thread: the worker's. */
#ifndef TT_HOLD_H
#define TT_HOLD_H

#include "grip/grip.h"
#include "proxy/client.h"

struct tt_hold;

/* Act on a GRIP response for the client's current request. g and resp are moved into
 * the hold (left empty). Sends whatever the instructions say (non-hold response, stream
 * start) or holds. Returns 0, or a negative code with an error response already sent. */
int tt_hold_start(struct tt_client *c, struct tt_grip *g, struct tt_resp *resp);
void tt_hold_free(struct tt_hold *h);

#endif

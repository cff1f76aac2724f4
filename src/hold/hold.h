/* hold.h: GRIP holds (response / stream) on a client connection. A hold is one kind of
 * subscriber of the worker's fan-out engine (pubsub/fanout.h): it subscribes there and
 * the engine calls its ops to deliver, to update it (first-subscription update,
 * recover) and to judge its backlog.
 *
 * Owner: a hold belongs to its client (c->hold); tt_hold_free unsubscribes and stops
 * its timers. Thread: the worker's. */
#ifndef TT_HOLD_H
#define TT_HOLD_H

#include "proxy/client.h"
#include "grip/grip.h"

/* Act on a GRIP response for the client's current request. g and resp are moved into
 * the hold (left empty). Sends whatever the instructions say (non-hold response, stream
 * start) or holds. Returns 0, or a negative code with an error response already sent. */
int tt_hold_start(struct tt_client *c, struct tt_grip *g, struct tt_resp *resp);
void tt_hold_free(struct tt_hold *h);
/* A stream hold whose initial body is over the GRIP buffer limit: send the head and the
 * body so far now (the caller streams the rest, then calls tt_hold_start). */
void tt_hold_stream_begin(struct tt_client *c, const struct tt_grip *g, struct tt_resp *resp);
/* POST the request's gone link (Grip-Link rel=gone), if any: the session ended. */
void tt_hold_post_gone(struct tt_client *c);
/* Worker shutdown: end the hold cleanly (streams get their terminal chunk). */
void tt_hold_shutdown(struct tt_hold *h);

#endif

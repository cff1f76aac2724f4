/* hold.h: GRIP holds (response / stream) and the per-worker channel index they subscribe
 * in, plus the fan-out of a published tt_msg to the worker's subscribers.
 *
 * Owner: a hold belongs to its client (c->hold); tt_hold_free unsubscribes and stops
 * its timers. A subscription is a small struct in the channel's intrusive list; the
 * channel index knows nothing of HTTP beyond the hold it points to.
 * Thread: the worker's. */
#ifndef TT_HOLD_H
#define TT_HOLD_H

#include "proxy/client.h"
#include "proxy/grip.h"

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
/* Deliver a published message to every subscriber of its channel on this worker. */
void tt_hold_fanout(struct tt_worker *w, struct tt_msg *m);
/* Worker shutdown: end the hold cleanly (streams get their terminal chunk). */
void tt_hold_shutdown(struct tt_hold *h);
/* Once a second: first-subscription updates that are due. */
void tt_hold_tick(struct tt_worker *w);
/* Recover: forget known ids and re-request every response hold. */
void tt_hold_recover_all(struct tt_worker *w);

#endif

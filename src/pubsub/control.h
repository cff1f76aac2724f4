/* control.h: the control thread. It owns the publish inputs (HTTP publish API; ZeroMQ
 * PULL/SUB and the command socket, zmq/inputs.h), turns each accepted item into one shared
 * tt_msg, applies Pushpin's delivery rules that need a global view (id dedup, prev-id
 * sequencing with message_wait, rate limit, known last ids), and hands one reference per
 * worker through the workers' inboxes. Workers tell it when a channel gains its first or
 * loses its last subscriber.
 * Thread: tt_control_start/stop from main; tt_control_report_sub from workers. */
#ifndef TT_CONTROL_H
#define TT_CONTROL_H

#include "core/common.h"

struct tt_server;
struct tt_control;

int tt_control_start(struct tt_server *srv, struct tt_control **out);
void tt_control_stop(struct tt_control *ctl);
/* A worker's channel gained its first (subscribed=true) or lost its last subscriber. */
void tt_control_report_sub(struct tt_control *ctl, const char *channel, bool subscribed);

#endif

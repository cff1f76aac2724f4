/* control.h: the control thread. Publish inputs (the HTTP publish API, ZeroMQ) run on
 * its loop and hand it items; it turns each item into one shared tt_msg, applies Pushpin's delivery
 * rules that need a global view (id dedup, prev-id sequencing with message_wait, rate
 * limit, known last ids), and posts one reference per worker to the workers' inboxes.
 * Workers report channels gaining their first or losing their last subscriber to the
 * control thread's own inbox (TT_INBOX_SUB). It knows workers only as inboxes.
 *
 * Life: tt_control_new (its inbox exists from then on, so workers can report), the
 * workers start, main starts the inputs on tt_control_loop and registers each with
 * tt_control_add_input, tt_control_start (the thread), ..., tt_control_stop (the inputs
 * are stopped, the thread ends; later reports are discarded), the workers stop,
 * tt_control_free. Thread: the life calls from main; tt_control_inbox's result from any
 * thread; tt_control_publish/recover from the control thread (the inputs' callbacks). */
#ifndef TT_CONTROL_H
#define TT_CONTROL_H

#include "core/config.h"
#include "pubsub/inbox.h"
#include "pubsub/item.h"
#include "pubsub/lastid.h"
#include "pubsub/msg.h"

struct tt_control;

/* cfg and ids are borrowed for the control's life. */
struct tt_control *tt_control_new(const struct tt_config *cfg, struct tt_lastids *ids);
struct tt_inbox *tt_control_inbox(struct tt_control *ctl);
/* The loop the control thread will run: inputs are started on it before tt_control_start. */
uv_loop_t *tt_control_loop(struct tt_control *ctl);
/* An input on the control loop; stop(obj) runs on the control thread when it stops (or in
 * tt_control_free if it never started). At most 8. */
void tt_control_add_input(struct tt_control *ctl, void (*stop)(void *obj), void *obj);
/* Called on the control thread when a channel gains its first subscriber on any worker,
 * or loses its last on every worker (linger: that last one was a long-poll). Set before
 * tt_control_start. */
void tt_control_set_channel_hook(struct tt_control *ctl,
                                 void (*fn)(void *ctx, const char *channel, bool subscribed,
                                            bool linger),
                                 void *ctx);
/* Called on the control thread for every message as it goes to the workers (after
 * dedup, sequencing and the rate limit): the stats' "message" and report counts. Set
 * before tt_control_start. */
void tt_control_set_publish_hook(struct tt_control *ctl,
                                 void (*fn)(void *ctx, const struct tt_msg *m), void *ctx);
struct tt_control_stats {
    uint64_t published;  /* messages handed to the workers */
    uint64_t rate_drops; /* items dropped over message_hwm */
    size_t waiting;      /* items waiting for the rate limit */
};
/* Control thread. */
void tt_control_get_stats(const struct tt_control *ctl, struct tt_control_stats *out);
/* Start the thread; publishes go to the n worker inboxes (borrowed until tt_control_stop
 * returns). Returns 0 or a negative code. */
int tt_control_start(struct tt_control *ctl, struct tt_inbox *const *workers, int n);
/* Publish items (taken over; every one of them valid). Control thread. */
void tt_control_publish(struct tt_control *ctl, struct tt_pub_item *items, size_t n);
/* Forget every known last id and update every session of every worker. Control thread. */
void tt_control_recover(struct tt_control *ctl);
void tt_control_stop(struct tt_control *ctl);
void tt_control_free(struct tt_control *ctl);

#endif

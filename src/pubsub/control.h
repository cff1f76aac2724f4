/* control.h: the control thread. It owns the publish inputs (HTTP publish API now; ZeroMQ
 * later), turns each accepted item into one shared tt_msg, applies Pushpin's delivery
 * rules that need a global view (id dedup, prev-id sequencing with message_wait, rate
 * limit, known last ids), and posts one reference per worker to the workers' inboxes.
 * Workers report channels gaining their first or losing their last subscriber to the
 * control thread's own inbox (TT_INBOX_SUB). It knows workers only as inboxes.
 *
 * Life: tt_control_new (its inbox exists from then on, so workers can report), the
 * workers start, tt_control_start (the thread and the inputs), ..., tt_control_stop (the
 * thread ends; later reports are discarded), the workers stop, tt_control_free.
 * Thread: all of these from main; tt_control_inbox's result from any thread. */
#ifndef TT_CONTROL_H
#define TT_CONTROL_H

#include "core/config.h"
#include "pubsub/inbox.h"
#include "pubsub/lastid.h"

struct tt_control;

/* cfg and ids are borrowed for the control's life. */
struct tt_control *tt_control_new(const struct tt_config *cfg, struct tt_lastids *ids);
struct tt_inbox *tt_control_inbox(struct tt_control *ctl);
/* Start the thread and the publish inputs; publishes go to the n worker inboxes (borrowed
 * until tt_control_stop returns). Returns 0 or a negative code (the inputs could not
 * start; then the thread is not running). */
int tt_control_start(struct tt_control *ctl, struct tt_inbox *const *workers, int n);
void tt_control_stop(struct tt_control *ctl);
void tt_control_free(struct tt_control *ctl);

#endif

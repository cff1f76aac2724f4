/* inbox.h: a multi-producer queue owned by one libuv loop, with a wake-up.
 *
 * Threads talk only through inboxes: the control thread posts published messages to each
 * worker's inbox, workers post subscription changes to the control thread's inbox, main
 * posts route snapshots and stop requests. Any thread may post; the owner's loop runs
 * ops->item for each item in posting order, then ops->batch_done once per wake-up (a
 * worker flushes the writes the batch queued there). The inbox never owns what an item
 * points at: the kind says what ptr is, and the handler takes it over.
 * Owner: embedded in its owner; tt_inbox_close on the owner's thread (items posted
 * after it are released with ops->discard at once), tt_inbox_deinit once the owner's loop
 * has ended (it discards what is still queued). Thread: as marked. */
#ifndef TT_INBOX_H
#define TT_INBOX_H

#include <uv.h>

#include "core/common.h"

/* Kinds the pubsub layer posts. Owners number their own kinds from TT_INBOX_LOCAL. */
enum tt_inbox_kind {
    TT_INBOX_MSG = 1, /* worker: a struct tt_msg * (one reference) to fan out */
    TT_INBOX_MSGS,    /* worker: a struct tt_msg_batch * (one reference per message) */
    TT_INBOX_RECOVER, /* worker: forget known ids, update every session (ptr NULL) */
    TT_INBOX_SUB,     /* control: a struct tt_sub_report * (see fanout.h) */
    TT_INBOX_LOCAL = 32,
};

struct tt_inbox_item {
    struct tt_inbox_item *next;
    int kind;
    void *ptr;
};

struct tt_inbox_ops {
    void (*item)(void *ctx, int kind, void *ptr);
    void (*batch_done)(void *ctx); /* may be NULL */
    /* Release an item that will never be handled (posted after close, or left at
     * deinit). May be NULL when no kind carries anything to release. Any thread. */
    void (*discard)(int kind, void *ptr);
};

struct tt_inbox {
    uv_async_t async;
    uv_mutex_t lock;
    struct tt_inbox_item *head, *tail;
    const struct tt_inbox_ops *ops;
    void *ctx;
    bool closed; /* under lock */
};

/* Owner's thread, before any post. Returns 0 or a negative libuv code. */
int tt_inbox_init(struct tt_inbox *in, uv_loop_t *loop, const struct tt_inbox_ops *ops, void *ctx);
/* Any thread. */
void tt_inbox_post(struct tt_inbox *in, int kind, void *ptr);
/* Owner's thread: stop waking up (the handle closes with the loop's next turn). */
void tt_inbox_close(struct tt_inbox *in);
/* After the owner's loop has ended: discard every item still queued, free the lock. */
void tt_inbox_deinit(struct tt_inbox *in);

#endif

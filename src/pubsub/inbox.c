/* inbox.c: see inbox.h. A mutex-protected singly linked list plus uv_async_send; the owner
 * swaps the whole list out under the lock and runs it without holding it. */
#include "pubsub/inbox.h"

#include <stdlib.h>

static void on_async(uv_async_t *a)
{
    struct tt_inbox *in = a->data;
    uv_mutex_lock(&in->lock);
    struct tt_inbox_item *it = in->head;
    in->head = in->tail = NULL;
    uv_mutex_unlock(&in->lock);
    while (it) {
        struct tt_inbox_item *next = it->next;
        in->ops->item(in->ctx, it->kind, it->ptr);
        free(it);
        it = next;
    }
    if (in->ops->batch_done)
        in->ops->batch_done(in->ctx);
}

int tt_inbox_init(struct tt_inbox *in, uv_loop_t *loop, const struct tt_inbox_ops *ops, void *ctx)
{
    memset(in, 0, sizeof(*in));
    in->ops = ops;
    in->ctx = ctx;
    int r = uv_mutex_init(&in->lock);
    if (r != 0)
        return r;
    r = uv_async_init(loop, &in->async, on_async);
    if (r != 0) {
        uv_mutex_destroy(&in->lock);
        return r;
    }
    in->async.data = in;
    return 0;
}

void tt_inbox_post(struct tt_inbox *in, int kind, void *ptr)
{
    struct tt_inbox_item *it = tt_malloc(sizeof(*it));
    it->next = NULL;
    it->kind = kind;
    it->ptr = ptr;
    uv_mutex_lock(&in->lock);
    if (in->closed) {
        /* Nobody will read it (the owner is stopping). The async handle may be closed
         * already, so it must not be signalled either. */
        uv_mutex_unlock(&in->lock);
        if (in->ops->discard)
            in->ops->discard(kind, ptr);
        free(it);
        return;
    }
    if (in->tail)
        in->tail->next = it;
    else
        in->head = it;
    in->tail = it;
    /* Signalled under the lock, so that close cannot slip in between. */
    uv_async_send(&in->async);
    uv_mutex_unlock(&in->lock);
}

void tt_inbox_close(struct tt_inbox *in)
{
    uv_mutex_lock(&in->lock);
    bool was = in->closed;
    in->closed = true;
    uv_mutex_unlock(&in->lock);
    if (!was)
        uv_close((uv_handle_t *)&in->async, NULL);
}

void tt_inbox_deinit(struct tt_inbox *in)
{
    struct tt_inbox_item *it = in->head;
    in->head = in->tail = NULL;
    while (it) {
        struct tt_inbox_item *next = it->next;
        if (in->ops->discard)
            in->ops->discard(it->kind, it->ptr);
        free(it);
        it = next;
    }
    uv_mutex_destroy(&in->lock);
}

/* msg.h: tt_msg, one published item rendered once and shared by reference.
 *
 * The control thread builds a message from a parsed item, renders the wire bytes that are
 * the same for every subscriber (the http-stream chunk with its chunked framing, whose
 * middle is also the raw content for close-delimited HTTP/1.0 streams), and hands one
 * reference to each worker. Subscribers queue slices that point into the message and hold
 * a reference until written; the last unref frees it. A ws-message is rendered the same
 * way: one WebSocket frame (send: text/binary/ping/pong; close: a close frame) for every
 * WebSocket subscriber. Immutable after tt_msg_new.
 * Thread: any (refcount is atomic). */
#ifndef TT_MSG_H
#define TT_MSG_H

#include "core/shared.h"
#include "pubsub/item.h"

struct tt_msg {
    struct tt_shared shared; /* the reference count; output queues hold it */
    struct tt_pub_item item; /* owned; channel, id, prev-id, meta, formats */
    uint64_t seq;            /* control-thread sequence number, for logs */
    uint64_t created_ms;     /* tt_now_ms() at publish, for latency stats */
    /* http-stream send: "<hex>\r\n<content>\r\n" (in bytes[], not freed on its own) */
    char *stream_chunk;
    size_t stream_chunk_len;
    size_t stream_raw_off; /* content inside stream_chunk */
    /* ws-message send or close: the complete unmasked frame a WebSocket client is sent */
    uint8_t *ws_frame;
    size_t ws_frame_len;
    char bytes[]; /* storage of stream_chunk */
};

/* Messages handed to a worker in one inbox item (the control thread gathers every
 * message of one loop iteration: the publish requests, ZeroMQ messages and commands read
 * in it, so a worker wakes once for the lot). The batch and one reference per message
 * belong to the receiver. */
struct tt_msg_batch {
    size_t n, cap;
    struct tt_msg *msgs[];
};
/* Append a reference to m to *b (made or grown as needed). */
void tt_msg_batch_add(struct tt_msg_batch **b, struct tt_msg *m);
/* Make room for `more` further messages (one allocation for a request's items). */
void tt_msg_batch_reserve(struct tt_msg_batch **b, size_t more);
/* Drop every reference and the batch. */
void tt_msg_batch_free(struct tt_msg_batch *b);

/* Takes the item's contents (the item is left zeroed). One reference. */
struct tt_msg *tt_msg_new(struct tt_pub_item *item);
struct tt_msg *tt_msg_ref(struct tt_msg *m);
void tt_msg_unref(struct tt_msg *m);

/* Get the meta value for name from the message, or NULL. */
const char *tt_msg_meta(const struct tt_msg *m, const char *name);

#endif

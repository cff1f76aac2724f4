/* overhttp.h: the client side of WebSocket-over-HTTP as pure logic (SPEC.md section 6):
 * the queue of client messages waiting for the backend and what each request carries of
 * it, Content-Bytes-Accepted / Content-Bytes-Replayed accounting, the fixed part of the
 * request head, the meta echoed as Meta-* headers, and the reading of the backend's
 * response headers. No I/O and no timers: websocket/woh.c drives it.
 *
 * The queue follows Pushpin's websocketoverhttp.cpp, with whole messages (the client side
 * reassembles fragments before they get here):
 *  - a request carries the messages at the front of the queue, at most
 *    TT_WOH_MAX_CONTENT content bytes (always at least one message: a bigger message is
 *    refused by the caller before it is queued) and at most max_events events (one_event:
 *    1), then CLOSE when the client has closed and every queued message fit;
 *  - the backend may accept only the first N content bytes (Content-Bytes-Accepted): they
 *    leave the queue (a message may be cut: its rest is sent later as a message of the
 *    same type), the rest is sent again first in a later request, which then says how many
 *    of its content bytes are such a replay (Content-Bytes-Replayed);
 *  - errors, as Pushpin: accepting more than was offered, no progress at all when the
 *    request could not carry everything queued, and accepting every message but not the
 *    CLOSE behind them.
 * Only messages the request carried are ever removed (Pushpin also drops empty messages
 * queued meanwhile, which the backend never saw).
 *
 * Owner: struct tt_woh_out owns its messages (tt_woh_out_clear frees them); a meta buffer
 * is a tt_buf of "Meta-<Name>: <value>\r\n" lines owned by the caller. Thread: any. */
#ifndef TT_WS_OVERHTTP_H
#define TT_WS_OVERHTTP_H

#include "core/buf.h"
#include "core/common.h"

#define TT_WOH_CONTENT_TYPE "application/websocket-events"
#define TT_WOH_MAX_CONTENT 200000     /* content bytes per request; also the queue's mark */
#define TT_WOH_MAX_RESPONSE 1000000   /* a response body */
#define TT_WOH_MAX_REJECT_BODY 100000 /* the body of a rejected OPEN relayed to the client */
#define TT_WOH_MIN_KEEPALIVE 20       /* seconds: smaller Keep-Alive-Interval values rise */
#define TT_WOH_MAX_KEEPALIVE 86400    /* seconds: larger ones are cut (a day is plenty) */
#define TT_WOH_META_MAX_ITEMS 32      /* Set-Meta names kept per connection */
#define TT_WOH_META_MAX_BYTES 8192    /* their Meta-* lines, in all */

/* One client message (TEXT, BINARY, PING or PONG). */
struct tt_woh_msg {
    struct tt_woh_msg *next;
    size_t len;     /* content length */
    size_t off;     /* bytes the backend accepted already (a partial acceptance) */
    uint8_t opcode; /* TT_WS_OP_* */
    uint8_t data[];
};

struct tt_woh_out {
    struct tt_woh_msg *head, *tail;
    size_t count;   /* messages queued */
    size_t content; /* content bytes queued and not accepted */
    /* of the front of the queue: what the last request carried and the backend kept back */
    size_t replay_msgs, replay_content;
    /* the request in flight: what it carries */
    size_t req_msgs, req_content, req_close_len;
    bool req_close; /* it ends with CLOSE */
    bool req_maxed; /* it could not carry every queued message */
};

/* A CLOSE to send: code < 0 sends none (then the reason is ignored). */
struct tt_woh_close {
    int code;
    const uint8_t *reason;
    size_t len;
};

void tt_woh_out_init(struct tt_woh_out *q);
/* Free every queued message; the queue is empty (and reusable) afterwards. */
void tt_woh_out_clear(struct tt_woh_out *q);
/* Queue a copy of a message. The caller keeps len <= TT_WOH_MAX_CONTENT. */
void tt_woh_out_push(struct tt_woh_out *q, unsigned opcode, const void *data, size_t len);
/* True when the queue holds something the last request did not carry (Pushpin waits for
 * new data before sending kept-back content again). */
bool tt_woh_out_has_new(const struct tt_woh_out *q);
/* Append the events of the next request to body (from the front of the queue, see above)
 * and remember what it carries; close: append a CLOSE after the messages when they all
 * fit (and max_events allows). max_events 0 = no limit. Returns the number of events. */
size_t tt_woh_out_build(struct tt_woh_out *q, size_t max_events, const struct tt_woh_close *close,
                        struct tt_buf *body);
/* The backend answered the request built last: accepted is its Content-Bytes-Accepted, or
 * -1 for everything. Removes what was accepted and sets what is replayed next. Sets
 * *close_sent when the request's CLOSE was accepted (the queue is then emptied). Returns 0,
 * or TT_EPARSE with *why set (a static text for the log). */
int tt_woh_out_ack(struct tt_woh_out *q, int64_t accepted, bool *close_sent, const char **why);
/* The request built last is sent again after a failure that the backend may have seen
 * part of: all of its content counts as replayed. */
void tt_woh_out_replayed(struct tt_woh_out *q);

/* ---- the request head ---- */

/* The part of every request's head that does not change, from the head the session built
 * for the backend (request line and header lines, each ending CRLF, no final empty line):
 * minus Accept, Connection-Id, Content-Length, Content-Type, Content-Bytes-Replayed,
 * Upgrade and any Meta-* (the client may not forge what we send), minus Grip-Sig when
 * strip_sig (the caller adds a fresh one per request); plus Accept and Content-Type
 * application/websocket-events, Connection-Id: cid, and Sec-WebSocket-Extensions: grip
 * when grip. Appended to out, in the same form (no final empty line). */
void tt_woh_base_head(const char *head, size_t len, bool strip_sig, const char *cid, bool grip,
                      struct tt_buf *out);
/* A whole request head: base, the sig line(s) (each ending CRLF; may be empty),
 * Content-Length, Content-Bytes-Replayed when replayed > 0, the meta lines, the final
 * CRLF. */
void tt_woh_request_head(const char *base, size_t base_len, const char *sig, size_t sig_len,
                         size_t content_length, size_t replayed, const struct tt_buf *meta,
                         struct tt_buf *out);

/* ---- meta (Set-Meta-<Name> in responses, Meta-<Name> in requests) ---- */

/* Set (or, with an empty value, delete) one meta value; names compare case-insensitively.
 * Returns 0; TT_EPARSE for a name that is not a token or a value with control bytes;
 * TT_ETOOBIG over TT_WOH_META_MAX_ITEMS or TT_WOH_META_MAX_BYTES (meta unchanged). */
int tt_woh_meta_set(struct tt_buf *meta, const char *name, size_t name_len, const char *value,
                    size_t value_len);

/* ---- the response ---- */

/* Content-Type exactly application/websocket-events (no parameters, as Pushpin). */
bool tt_woh_is_events_type(const char *v, size_t len);
/* Keep-Alive-Interval: seconds (raised to TT_WOH_MIN_KEEPALIVE, cut to
 * TT_WOH_MAX_KEEPALIVE), or -1 when it is not a positive number (keep-alives off). */
int tt_woh_keepalive_interval(const char *v, size_t len);
/* Content-Bytes-Accepted: the number, or -1 when it is not a non-negative number (then
 * everything counts as accepted, as Pushpin). */
int64_t tt_woh_accepted(const char *v, size_t len);
/* Whether a header of the OPEN response goes into the client's 101: not the protocol's
 * own (Content-Length, Content-Type, Keep-Alive-Interval, Set-Meta-*, Content-Bytes-Accepted),
 * not the handshake's (Sec-WebSocket-Extensions, whose grip element is consumed;
 * Sec-WebSocket-Accept) and not hop-by-hop. */
bool tt_woh_forward_header(const char *name, size_t len);

#endif

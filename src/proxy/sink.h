/* sink.h: the end a held stream's response goes to, as its session (a hold, hold/) sees
 * it. Two kinds: a client connection (proxy/client.h: HTTP/1.1, or an HTTP/2 stream still
 * served by a client of its own), and the compact record that replaces an idle held
 * HTTP/2 stream's client (proxy/held.h, ops given by h2/). The session writes, flushes and
 * ends through the ops and never needs to know which kind it has.
 *
 * A sink also carries the session that drives it (owned: freed when the sink's
 * connection or stream goes) and one timer on the worker's wheel for that session (a
 * stream hold's keep-alives): a timer callback finds its sink with tt_sink_of_timer and
 * the session from there, whichever kind the sink is.
 *
 * Owner: embedded in its connection (struct tt_client) or record (struct tt_held).
 * Thread: the worker's. */
#ifndef TT_SINK_H
#define TT_SINK_H

#include "core/wheel.h"
#include "pubsub/msg.h"

struct tt_sink;
struct tt_worker;
struct tt_client_session;

struct tt_sink_ops {
    /* Queue response body bytes, with the chunk framing when chunked() says so: borrowed
     * from msg (a reference taken) when msg is not NULL, else copied. Nothing leaves
     * before a flush. */
    void (*write)(struct tt_sink *k, struct tt_msg *msg, const char *data, size_t len);
    /* Whether the body is written with HTTP/1.1 chunk framing. */
    bool (*chunked)(const struct tt_sink *k);
    /* Write what is queued once the current inbox batch is done (several deliveries go
     * out together). */
    void (*flush_later)(struct tt_sink *k);
    /* Write what is queued now. Returns false if the sink closed (and its session with
     * it). */
    bool (*flush)(struct tt_sink *k);
    /* Write now what flush_later left queued (the fan-out judges a backlog after it).
     * Returns false if the sink closed. */
    bool (*flush_pending)(struct tt_sink *k);
    /* Output queued and not written yet. */
    void (*backlog)(const struct tt_sink *k, size_t *items, size_t *bytes);
    /* The response ends: cleanly (the terminal chunk, or the close of a close-delimited
     * body) or not (the peer sees an unclean end). The session has let go of the sink
     * first (session NULL); the sink may be gone after the call. */
    void (*end)(struct tt_sink *k, bool clean);
};

struct tt_sink {
    const struct tt_sink_ops *ops;
    struct tt_client_session *session; /* what drives the connection (owned), or NULL */
    struct tt_wtimer timer;            /* the client's or the session's (one at a time) */
};

static inline struct tt_sink *tt_sink_of_timer(struct tt_wtimer *t)
{
    return TT_CONTAINER_OF(t, struct tt_sink, timer);
}

/* Arm the sink's timer on w's wheel (replacing what was armed), or stop it. */
void tt_sink_timer_start(struct tt_sink *k, struct tt_worker *w, tt_wtimer_fn cb, uint64_t ms);
void tt_sink_timer_stop(struct tt_sink *k, struct tt_worker *w);

#endif

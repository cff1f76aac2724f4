/* held.h: the compact form of an idle held HTTP/2 stream: what is left of its client once
 * the request is a stream hold whose head is out and whose request body is complete.
 *
 * A stream client costs a whole struct tt_client (its virtual connection, input buffer,
 * parsing state) and struct tt_req (route, exchange, body state) for as long as it is
 * held, which can be days. tt_client_compact (client.h) replaces both by this record:
 * the sink its hold writes to (ops given by the transport, h2/, which writes straight into
 * the stream), the timer of the hold's keep-alives, the request as a stats connection
 * (moved, so the stats socket and conncheck see no change), the access line's fixed parts
 * rendered at conversion, and the counts a client holds (client_maxconn, the worker's
 * clients for the drain).
 *
 * Owner: the transport's stream, which frees it with tt_held_free when the stream goes
 * (reset, connection closed) or after sink.ops->end. The record owns its session (the
 * hold). Thread: the worker's. */
#ifndef TT_HELD_H
#define TT_HELD_H

#include "proxy/server.h"
#include "proxy/sink.h"

/* 136 bytes, and the access line's text when the log takes it. */
struct tt_held {
    struct tt_sink sink;        /* ops: the transport's; session: the hold (owned) */
    void *vctx;                 /* the transport's stream (it owns this record) */
    /* The request as a stats connection (rid in it; its opened_ms is the request's start,
     * for the access line's time). */
    struct tt_wstats_conn sconn;
    uint64_t bytes_out;
    uint16_t log_tail; /* log[] holds the access line's head, NUL, tail, NUL; 0: no line */
    char log[];
};

/* The stream is over: the session (if still there) is freed, the access line written
 * (bytes and time from the record), the stats connection closed, the client count
 * given back to w; k is freed. */
void tt_held_free(struct tt_held *k, struct tt_worker *w);
/* Worker shutdown: the session ends the stream cleanly (sink.ops->end). */
void tt_held_shutdown(struct tt_held *k);

/* The access line: head ("c<id> <peer> <method> <path> -> <route> status=<n>"), the
 * bytes and time, tail (" from=..", " ua=..", or ""). Shared with client.c. */
void tt__access_line(const char *head, uint64_t bytes_out, uint64_t start_ms, const char *tail);

#endif

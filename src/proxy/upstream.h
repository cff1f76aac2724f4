/* upstream.h: one HTTP/1.1 request to a backend, with ordered failover over a route's
 * targets, keep-alive pooling per worker, TLS for ssl targets, and a streamed response.
 *
 * The owner (a client request, or a hold session's internal request) gets callbacks, never
 * from within tt_upstream_start itself (an immediate failure is reported on the next loop
 * turn), so the owner can store the returned pointer first; the
 * response head passed to on_head points into the upstream's buffer and is valid only
 * during the call. on_data delivers de-chunked body bytes. Exactly one of on_end or
 * on_error ends the exchange; after it the upstream is gone (returned to the pool or
 * closed) and must not be touched. tt_upstream_abort ends it from the owner's side
 * without any further callback.
 * Every exchange is bounded: the connect (10 s per target), the wait for the response head
 * ([proxy] backend_response_timeout) and any silence once under way, in either direction
 * ([proxy] backend_idle_timeout); a wait ends with TT_UP_ERR_TIMEOUT. Time spent paused by
 * the owner (tt_upstream_pause) does not count. Thread: the worker's. */
#ifndef TT_UPSTREAM_H
#define TT_UPSTREAM_H

#include "core/buf.h"
#include "http/h1.h"
#include "net/conn.h"
#include "proxy/server.h"

struct tt_upstream;

enum tt_up_error {
    TT_UP_ERR_CONNECT,   /* no target could be connected to */
    TT_UP_ERR_FAILED,    /* the exchange failed before a response head */
    TT_UP_ERR_TRUNCATED, /* the backend vanished mid-response */
    TT_UP_ERR_BLOCKED,   /* an `untrusted` target resolved to an internal address */
    TT_UP_ERR_TIMEOUT,   /* no response head within backend_response_timeout, or no byte
                            for backend_idle_timeout once under way */
    TT_UP_ERR_UNREACHABLE,     /* zhttp: nothing heard from the handler for 60 s */
    TT_UP_ERR_LENGTH_REQUIRED, /* zhttp: the handler wants a Content-Length (411) */
};

struct tt_upstream_cbs {
    /* Connected (after failover); the request head is on its way. */
    void (*on_connected)(void *ctx);
    /* Response head. Return 0 to go on, non-zero to abort (no further callbacks). */
    int (*on_head)(void *ctx, const struct tt_h1_response *resp);
    void (*on_data)(void *ctx, const char *data, size_t len);
    /* Whole response received (clean end). */
    void (*on_end)(void *ctx);
    /* Why it failed; tried lists the targets attempted ("h:p, h:p"). */
    void (*on_error)(void *ctx, enum tt_up_error err, const char *tried);
    /* Request body queue drained below the high-water mark. */
    void (*on_drain)(void *ctx);
};

/* Flags for tt_upstream_start. */
#define TT_UP_HEAD_REQUEST 1 /* HEAD request: no body in the response */
#define TT_UP_WITH_BODY 2    /* body bytes will follow (tt_upstream_send, then _send_end) */
#define TT_UP_UPGRADE 4      /* asks for an upgrade: a 101 goes to on_head, which takes the
                                socket with tt_upstream_take; any other answer is a normal
                                response */

/* Start a request. head is the complete request head including the final CRLF (copied).
 * targets/num_targets from the route: HTTP targets, and zhttp/zhttpreq targets, which
 * proxy/zhttpup.c serves with the same callbacks (TT_UP_UPGRADE is HTTP only). An
 * `untrusted` target may not resolve to a loopback, private, link-local or otherwise
 * internal address (Pushpin's outbound policy): such a request fails with
 * TT_UP_ERR_BLOCKED. A request without a body that meets a pooled connection the backend
 * has closed is sent again on a new connection; one with a body only gets pooled
 * connections that pass a liveness probe.
 * Returns NULL only if no target is usable (then nothing is called). */
struct tt_upstream *tt_upstream_start(struct tt_worker *w, const struct tt_route_target *targets,
                                      size_t num_targets, const char *head, size_t head_len,
                                      unsigned flags, const struct tt_upstream_cbs *cbs,
                                      void *ctx);
/* Queue request body bytes (already framed for the backend). Bytes given after
 * tt_upstream_send_end, or to a request started without TT_UP_WITH_BODY, are dropped with a
 * warning: on the wire they would be a second request. */
void tt_upstream_send(struct tt_upstream *u, const char *data, size_t len);
/* The whole body of a TT_UP_WITH_BODY request has been given to tt_upstream_send. Until
 * then (and until every byte is written) the connection is never reused: a backend that
 * answers early would otherwise read the next request as the rest of this body. */
void tt_upstream_send_end(struct tt_upstream *u);
/* The target that is being (or was last) tried. */
const struct tt_route_target *tt_upstream_target(const struct tt_upstream *u);
/* Bytes of request body queued and not yet written. */
size_t tt_upstream_pending(const struct tt_upstream *u);
/* Stop/resume reading the response (client backpressure). */
void tt_upstream_pause(struct tt_upstream *u, bool paused);
bool tt_upstream_paused(const struct tt_upstream *u);
void tt_upstream_abort(struct tt_upstream *u);

/* Inside on_head of a 101 to a TT_UP_UPGRADE request: take the socket (with its TLS
 * state; its data is cleared, set your own io callback) and append the bytes that
 * came behind the head to rest. The exchange ends when on_head returns, with no other
 * callback. The caller closes the connection with tt_conn_close (it is heap-allocated:
 * free it in the close callback). */
struct tt_conn *tt_upstream_take(struct tt_upstream *u, struct tt_buf *rest);
/* Close every pooled idle connection of the worker. */
void tt_upstream_pool_drain(struct tt_worker *w);

#endif

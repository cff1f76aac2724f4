/* zhttpup.h: a backend exchange over zhttp, for zhttpreq/ and zhttp/ route targets (SPEC.md
 * section 2 "Targets"; Pushpin's ZhttpRequest client side). It is the zhttp face of
 * tt_upstream: upstream.c picks it by target type, forwards its public calls here
 * (send, send_end, pending, pause, abort) and this file reports back through the
 * tt__up_zx_* calls, so owners (client requests, holds' link fetches) see the same
 * callback contract whatever the target.
 *
 * The request head tt_upstream was given is parsed back into method, URI
 * (http[s]://<Host><path>) and headers; a chunked body is de-chunked (zhttp carries bytes).
 *  - zhttpreq: the whole request (body up to 1000000 bytes) goes in one packet on the
 *    DEALER; the one answer must be a complete data packet.
 *  - zhttp: the first packet (stream, router-resp, 200000 credits, ext multi) goes on the
 *    PUSH socket before the loop sleeps, with the body that has arrived by then; the
 *    handler's first answer gives its address, and later packets (more body within the
 *    credits it grants, credits for response bytes passed on, keep-alives every 45 s,
 *    cancel when the owner aborts) go to that address on the ROUTER, numbered by seq.
 *    Answers must come in seq order, else the exchange is cancelled. While the owner is
 *    paused no credits are granted, which holds the handler back.
 * Any exchange that hears nothing for 60 s fails as unreachable (Pushpin's session
 * expiry). A handler's error "remote-connection-failed", "connection-timeout" or
 * "tls-error" before any response lets the next target be tried; "policy-violation" is
 * blocked, "length-required" is a 411. A response head must have a status 100..999 other
 * than 101, at most 64 headers, token names and field values without CR/LF/NUL (else the
 * exchange fails: a handler cannot split the client's response). A response that says
 * Content-Length and sends a different amount fails as truncated.
 *
 * Owner: the tt_upstream (u->zx); tt__zx_abort ends it from the owner's side (a cancel
 * goes out if the handler is mid-exchange) and tt__zx_free frees it when the upstream is
 * freed. Thread: the worker's. */
#ifndef TT_PROXY_ZHTTPUP_H
#define TT_PROXY_ZHTTPUP_H

#include "proxy/server.h"
#include "proxy/upstream.h"
#include "zmq/hub.h"

struct tt__zx;

/* Start an exchange with target t (zhttp or zhttpreq). head is the request head
 * tt_upstream_start got (borrowed: the upstream keeps it for its whole life). Returns NULL
 * when the head cannot be read back or no hub is running (nothing is called then). */
struct tt__zx *tt__zx_start(struct tt_upstream *u, struct tt_worker *w,
                            const struct tt_route_target *t, const char *head, size_t head_len,
                            bool with_body, bool is_head);
/* Request body bytes, framed as the head says (chunked or not). */
void tt__zx_send(struct tt__zx *x, const char *data, size_t len);
void tt__zx_send_end(struct tt__zx *x);
/* True once request body bytes have been taken (the request can no longer go elsewhere). */
bool tt__zx_body_taken(const struct tt__zx *x);
size_t tt__zx_pending(const struct tt__zx *x);
void tt__zx_pause(struct tt__zx *x, bool paused);
void tt__zx_abort(struct tt__zx *x);
void tt__zx_free(struct tt__zx *x);

/* The worker's side: its exchanges by id, their keep-alives and expiry. */
void tt__zx_worker_init(struct tt_worker *w);
void tt__zx_worker_deinit(struct tt_worker *w);
/* A packet the hub posted (the reference is the caller's). */
void tt__zx_packet(struct tt_worker *w, struct tt_zhub_in *in);
/* Once a second: keep-alives and expiry. */
void tt__zx_tick(struct tt_worker *w, uint64_t now_ms);
/* Before the loop sleeps: send what exchanges have queued (first packets, body, credits). */
void tt__zx_flush(struct tt_worker *w);

/* Implemented by upstream.c for this file. head: returns non-zero when the upstream is
 * gone (the owner aborted or refused the response). data: false when gone. */
int tt__up_zx_head(struct tt_upstream *u, const struct tt_h1_response *resp);
bool tt__up_zx_data(struct tt_upstream *u, const char *data, size_t len);
void tt__up_zx_end(struct tt_upstream *u);
/* try_next: a connect-type failure, so the next target may be tried. */
void tt__up_zx_fail(struct tt_upstream *u, enum tt_up_error err, bool try_next);
void tt__up_zx_drain(struct tt_upstream *u);

#endif

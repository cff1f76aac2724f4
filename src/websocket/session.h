/* session.h: a client WebSocket connection and its backend (SPEC.md sections 6, 7, 10).
 *
 * The client's upgrade request reaches tt_ws_session_start (through the server's ws_start
 * hook: the proxy layer does not call up by name). The session takes the connection over
 * (c->session, state TT_C_WS) and opens a backend of the route's target kind: a WebSocket
 * to the backend (passthrough.c), WebSocket-over-HTTP (woh.c), or the built-in test
 * handler (testws.c). Until the backend accepts, the client is not read. On accept the
 * client gets its 101 and frames flow; a rejection is relayed as an HTTP response.
 *
 * GRIP over WebSocket lives here, the same for every backend kind: with the backend's
 * `grip` extension (and an untrusted client) backend TEXT messages starting "c:" are
 * control messages (subscribe, unsubscribe, detach, set-meta, session, keep-alive,
 * send-delayed, flush-delayed), data messages must carry the message prefix (removed) and
 * others are dropped. A target's sub= channels are implicit subscriptions. The session is
 * then a subscriber of the worker's fan-out engine: published ws-message frames (rendered
 * once) are queued on the client socket, with the engine's drop policy.
 *
 * Backends see the session through struct tt_ws_backend and the tt_ws_session_backend_*
 * calls below; they never touch the client socket.
 * Owner: the client (c->session); freed a loop turn after the client closes, so that
 * callbacks in progress can see `closing`. Thread: the worker's. */
#ifndef TT_WS_SESSION_H
#define TT_WS_SESSION_H

#include "http/h1.h"
#include "http/resp.h"
#include "proxy/client.h"
#include "pubsub/fanout.h"
#include "websocket/wsconn.h"
#include "ws/grip.h"
#include "ws/handshake.h"

struct tt_ws_session;
struct tt_ws_backend;

struct tt_ws_backend_ops {
    /* Open the exchange for target t (connect, handshake or OPEN request). Answer later
     * with accepted / rejected / failed, never from within this call. */
    void (*start)(struct tt_ws_backend *b);
    /* A client message for the backend: TEXT, BINARY (whole), PING or PONG. */
    void (*message)(struct tt_ws_backend *b, unsigned opcode, const uint8_t *data, size_t len);
    /* The client sent its close (code < 0: it had none). */
    void (*close)(struct tt_ws_backend *b, int code, const uint8_t *reason, size_t len);
    /* True while too much waits for the backend (the client is then not read). May be
     * NULL. Call tt_ws_session_backend_drained when it clears. */
    bool (*congested)(struct tt_ws_backend *b);
    /* The client's output drained after tt_ws_session_client_congested said true: read
     * the backend again. May be NULL. */
    void (*client_drained)(struct tt_ws_backend *b);
    /* Send a request now (WebSocket-over-HTTP refresh). May be NULL. */
    void (*refresh)(struct tt_ws_backend *b);
    /* The end: free everything. disconnect: the client vanished without a close (WOH
     * sends DISCONNECT); else the session ended normally or the backend was detached. */
    void (*free)(struct tt_ws_backend *b, bool disconnect);
};

struct tt_ws_backend {
    const struct tt_ws_backend_ops *ops;
    struct tt_ws_session *s;
};

struct tt_ws_session {
    struct tt_client_session cs; /* c->session */
    struct tt_subscriber sub;    /* GRIP subscriptions (when control is on) */
    struct tt_client *c;
    struct tt_wsconn ws;               /* the client side, after the 101 */
    struct tt_h1_request *req;         /* the client's handshake request (a copy) */
    char *req_raw;                     /* its storage */
    const struct tt_route *route;      /* in c->req->routes */
    const struct tt_route_target *target; /* being tried / in use */
    size_t next_target;                /* failover: index of the next target */
    struct tt_ws_server_hs hs;
    struct tt_ws_backend *be;
    char cid[37];                      /* connection id (a UUID), WOH Connection-Id */
    uint64_t id;
    bool trusted;    /* the client is trusted (upstream_key): GRIP passes through */
    bool grip_route; /* route GRIP-enabled and client untrusted: offer `grip` */
    bool accepted;   /* the client has its 101 */
    bool grip;       /* backend messages follow the grip extension (prefix, c:) */
    bool control;    /* control messages and subscriptions are on (grip or sub=) */
    bool detached;   /* the backend was let go; the client stays */
    bool closing;    /* torn down: memory freed on a later loop turn */
    bool client_closed;  /* the client's close frame arrived */
    bool finishing;      /* both closes done: close the socket once flushed */
    bool backend_closing; /* the backend is ending; the client's close waits for it */
    bool backend_waits;   /* the backend stopped reading: client output over the mark */
    bool stopping;        /* the worker stops: close with 1001 once accepted */
    char prefix[TT_WS_GRIP_MAX_PREFIX + 1];
    size_t prefix_len;
    /* keep-alive (GRIP control): on the client's timer */
    uint8_t *ka_content;
    size_t ka_len;
    uint8_t ka_opcode;
    uint64_t ka_ms;
    bool ka_interval;
    uint64_t last_send_ms;
    /* send-delayed */
    uint8_t *delayed;
    size_t delayed_len;
    uint8_t delayed_opcode;
    uv_timer_t timer; /* send-delayed, close timeouts; its close callback frees us */
};

/* The hook the proxy layer calls for a valid WebSocket upgrade (srv->ws_start): takes
 * the client over. c->req is set up (route, access log); h is valid during the call. */
void tt_ws_session_start(struct tt_client *c, const struct tt_h1_request *h,
                         const struct tt_route *route, const struct tt_ws_server_hs *hs);

/* ---- for backends ---- */
/* The backend accepted: headers (already filtered by the backend) go into the client's
 * 101; grip is the backend's grip extension (present or not). */
void tt_ws_session_accepted(struct tt_ws_session *s, const struct tt_kv *headers, size_t n,
                            const struct tt_ws_grip_ext *grip);
/* The backend refused the handshake: its response goes to the client (and ends it). */
void tt_ws_session_rejected(struct tt_ws_session *s, const struct tt_resp *resp);
/* The backend could not be reached. connect: a connect/TLS failure, so the next target
 * may be tried; tried names the targets for the debug text. */
void tt_ws_session_failed(struct tt_ws_session *s, bool connect, const char *why);
/* A backend message (TEXT/BINARY whole, PING, PONG) for the client. */
void tt_ws_session_backend_message(struct tt_ws_session *s, unsigned opcode,
                                   const uint8_t *data, size_t len);
/* The backend closed (its code; < 0 none): the client gets the same close. */
void tt_ws_session_backend_closed(struct tt_ws_session *s, int code, const uint8_t *reason,
                                  size_t len);
/* The backend is gone without a close: drop the client. */
void tt_ws_session_backend_gone(struct tt_ws_session *s, const char *why);
/* True while too much waits to be written to the client: stop reading the backend until
 * the client_drained op is called (it is, once the client's socket takes the rest). May
 * write to the client, and so close it: check s->closing afterwards. */
bool tt_ws_session_client_congested(struct tt_ws_session *s);
/* What was queued for the backend drained: read the client again. */
void tt_ws_session_backend_drained(struct tt_ws_session *s);
/* The request head the backend is to get for target t: request line and headers after
 * the usual manipulation (SPEC.md 3), minus the WebSocket handshake headers and
 * extensions, without the final CRLF. skip_ws: also leave out Sec-WebSocket-Key/-Version
 * (a backend WebSocket handshake adds its own). */
void tt_ws_session_backend_head(struct tt_ws_session *s, const struct tt_route_target *t,
                                const char *method, bool skip_ws, struct tt_buf *out);
struct tt_worker *tt_ws_session_worker(const struct tt_ws_session *s);

#endif

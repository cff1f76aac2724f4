/* client.h: one client connection on a worker: request parsing, routing, forwarding to
 * the backend (or the test handler), pass-through responses, and the hand-off of GRIP
 * responses to a hold (proxy/hold.h).
 *
 * Owner: the worker (clients list); freed in the conn close callback, never inside a
 * callback. A client serves one request at a time; pipelined requests wait in `in` and
 * are parsed after the current response ends, so answers keep their order.
 * Thread: the worker's. */
#ifndef TT_CLIENT_H
#define TT_CLIENT_H

#include <netinet/in.h>

#include "core/buf.h"
#include "core/wheel.h"
#include "net/conn.h"
#include "http/resp.h"
#include "proxy/server.h"
#include "proxy/sink.h"

struct tt_upstream;
struct tt_held;

/* What takes a connection over after its request: a GRIP hold (hold/), a WebSocket
 * session, an HTTP/2 connection. Embedded in that object, which sets c->sink.session; the
 * client (or the compact record that replaced it, proxy/held.h) calls free when it closes
 * and shutdown when the worker stops (end cleanly, e.g. a stream's last chunk). */
struct tt_client_session;
struct tt_client_session_ops {
    void (*free)(struct tt_client_session *s);
    void (*shutdown)(struct tt_client_session *s);
    /* The socket's events while the client is in state TT_C_WS (the session reads and
     * writes it itself). NULL for sessions that leave the socket to the client. */
    void (*io)(struct tt_client_session *s, int events);
    /* tt_client_flush of a client in state TT_C_H2 (the session writes the socket itself).
     * Returns false if the client was closed. NULL for the other sessions. */
    bool (*flush)(struct tt_client_session *s);
    /* The client is about to be replaced by a compact record (tt_client_compact): return
     * true and write to `to` from now on, or false to keep the client; with `to` NULL,
     * only say whether it would. NULL: never. */
    bool (*compact)(struct tt_client_session *s, struct tt_sink *to);
};
struct tt_client_session {
    const struct tt_client_session_ops *ops;
};

enum tt_client_state {
    TT_C_HEAD,    /* waiting for a request head */
    TT_C_BODY,    /* request in progress (body to backend / waiting for the response) */
    TT_C_RESP,    /* pass-through response streaming */
    TT_C_HOLD,    /* held by GRIP */
    TT_C_WS,      /* upgraded to WebSocket: the session drives the socket */
    TT_C_H2,      /* an HTTP/2 connection: the session (h2/) drives the socket */
    TT_C_CLOSING,
};

/* Everything about the request in progress that outlives the input buffer. */
/* What only the exchange with the backend needs: the request as it would be replayed
 * (hint, recover, update), the CORS request values for response heads, and a GRIP
 * response being collected. A stream drops it once its head is out
 * (tt_client_trim_for_stream); a long-poll keeps it for its replays. */
struct tt_req_exchange {
    char *bk_head; /* head sent to the backend, without the final CRLF */
    size_t bk_head_len;
    char *origin, *acr_method, *acr_headers; /* for auto cross-origin */
    struct tt_buf body_copy; /* up to 100000 bytes for replay */
    struct tt_h1_response *grip_head; /* copied GRIP response head (owned) */
    char *grip_head_raw;
    struct tt_buf grip_body;
    bool body_too_big; /* did not fit body_copy */
    bool body_wait;    /* chunked body being collected: the backend request starts when it
                          ends (Content-Length) or outgrows body_copy */
    bool cl_zero;      /* the client sent Content-Length: 0 (forwarded as such) */
    bool buffering;    /* collecting a GRIP response */
    bool jsonp_plain;  /* buffering a non-GRIP response to wrap it */
};

struct tt_req {
    struct tt_routes *routes; /* ref held for the request's life */
    const struct tt_route *route;
    char method[16];
    char *path;     /* path+query as received (in text) */
    char *host;     /* Host header value, with port (in text) */
    char *from; /* log_from: the first X-Forwarded-For entry */
    char *ua;   /* log_user_agent */
    struct tt_req_exchange *ex; /* NULL once the request became a stream */
    int minor_version;
    int status;
    /* flags (bit-fields: a held stream keeps this struct) */
    bool keep_alive : 1;
    bool is_head : 1;
    bool trusted : 1;
    bool grip : 1; /* route GRIP-enabled and client untrusted */
    bool updated : 1; /* re-requested by a first-subscription update already */
    bool body_done : 1;
    /* response */
    bool head_sent : 1;
    bool resp_chunked : 1;  /* client response framed chunked */
    bool resp_close : 1;    /* close-delimited client response */
    bool jsonp_handler_style : 1;   /* long-poll delivery/timeout: the handler's JSON style */
    bool logged : 1;
    /* request body */
    int64_t body_left; /* Content-Length bytes still to read, -1 chunked, 0 none */
    struct tt_h1_chunked ch;
    struct tt_upstream *up;
    const struct tt_route_target *target; /* the target that answered (in routes) */
    struct tt_grip *early_grip; /* stream hold whose large initial body is streaming */
    char *gone_link;            /* Grip-Link rel=gone: POSTed when the request ends */
    struct tt_jsonp *jsonp;     /* JSON-P request: complete responses are wrapped */
    uint64_t start_ms;
    uint64_t bytes_out;
    const char *route_name;
    uint64_t rid;                /* request id (conncheck, stats cid); 0 = not registered */
    struct tt_wstats_conn sconn; /* the request as a stats connection */
    char text[]; /* path and host, each NUL-terminated */
};

/* An IPv6 address as text, with its NUL (inet_ntop). */
#define TT_PEER_MAX INET6_ADDRSTRLEN

struct tt_client {
    struct tt_conn conn;
    struct tt_worker *w;
    struct tt_list link;
    /* What a session writes to (ops: this client's), the session (a hold in TT_C_HOLD, a
     * WebSocket in TT_C_WS, the HTTP/2 connection in TT_C_H2, or NULL) and the timer: head
     * timeout, hold timeout, keep-alives (the worker's wheel). */
    struct tt_sink sink;
    struct tt_buf in; /* unparsed input, kept only while a request is partial or waiting */
    uint64_t id;
    struct tt_req *req;
    uint8_t state; /* enum tt_client_state */
    /* flags (bit-fields: a held connection keeps this struct) */
    bool read_paused : 1;
    bool in_process : 1; /* inside process_input: do not re-enter from end_request */
    bool dirty : 1;      /* on the worker's dirty list: flushed once the inbox batch is done */
    bool tls : 1;         /* accepted on an https port */
    bool handshaking : 1; /* its TLS handshake is not done yet */
    bool close_after_flush : 1; /* response done, connection not reusable */
    bool served : 1;            /* a request was dispatched on this connection */
    bool clean_end : 1; /* its session ended its protocol properly (a WebSocket's closing
                       handshake): an HTTP/2 stream carrying it ends with END_STREAM, not
                       a reset (the TCP connection dropped) */
    char peer[]; /* the peer's address as text, allocated to its length (at most
                    TT_PEER_MAX with the NUL): most are far shorter than an IPv6 one */
};

/* The client's timer, on the worker's timing wheel (TT_WHEEL_TICK_MS resolution): one
 * at a time; starting replaces what was armed. */
void tt_client_timer_start(struct tt_client *c, tt_wtimer_fn cb, uint64_t ms);
void tt_client_timer_stop(struct tt_client *c);
static inline struct tt_client *tt_client_of_timer(struct tt_wtimer *t)
{
    return TT_CONTAINER_OF(t, struct tt_client, sink.timer);
}
/* The client whose sink k is, or NULL when k is another kind (a compact record). */
struct tt_client *tt_client_of_sink(struct tt_sink *k);

/* Accept a new connection on a worker (takes the fd; peer is the accepted address). */
/* tls_port: the TLS listener's port for a connection to an https port (the TLS handshake
 * comes first), or 0. */
void tt_client_accept(struct tt_worker *w, int fd, const struct sockaddr *peer,
                      uint16_t tls_port);

/* Used by holds (proxy/hold.c). */
/* Send a complete response and end the request (keep-alive goes on). Takes nothing.
 * A JSON-P request's response is wrapped (proxy style, or the handler's style when
 * c->req->jsonp_handler_style is set). */
void tt_client_send_resp(struct tt_client *c, const struct tt_resp *r);
/* Start a stream: head with chunked (1.1) or close-delimited (1.0) framing and the body
 * so far. */
void tt_client_stream_start(struct tt_client *c, const struct tt_resp *r);
/* Queue stream bytes; data borrowed from msg (ref taken) when msg is not NULL, else
 * copied. Chunk framing is the caller's (see tt_client_stream_chunked). */
void tt_client_stream_write(struct tt_client *c, struct tt_msg *msg, const char *data,
                            size_t len);
bool tt_client_stream_chunked(const struct tt_client *c);
/* End the stream cleanly (terminal chunk or close). */
void tt_client_stream_end(struct tt_client *c);
/* Flush later, once per inbox batch: several deliveries go out in one writev. */
void tt_client_flush_later(struct tt_client *c);
/* Flush every client marked by tt_client_flush_later. */
void tt_client_flush_dirty(struct tt_worker *w);
/* Flush output; on error the client is closed. Returns false if closed. */
bool tt_client_flush(struct tt_client *c);
void tt_client_close(struct tt_client *c);
/* Re-send the original request to the backend (hint, prev-id recovery, first-subscription
 * update), with extra header lines (each ending CRLF) added. The response goes through
 * GRIP processing again. Returns false if the request cannot be replayed. */
bool tt_client_retry(struct tt_client *c, const char *extra_headers);
/* Worker shutdown: end holds cleanly; requests in flight finish with Connection: close;
 * a connection waiting for a head reads what has already arrived and answers it; a fresh
 * connection with nothing yet gets a short grace (SHUTDOWN_GRACE_MS); an idle keep-alive
 * connection is closed. */
void tt_client_shutdown(struct tt_client *c);
/* The request became a stream whose head is out: drop what only a replay or a response
 * head would need (the backend head, the body copy, the CORS request values), so that a
 * held stream keeps little. A stream is never replayed (its recoveries go through next
 * links). */
void tt_client_trim_for_stream(struct tt_client *c);

/* HTTP/2 (h2/). An HTTP/2 connection is a client in state TT_C_H2 whose session owns the
 * socket; each of its streams is served by a client of its own on a virtual connection
 * (net/conn.h), which reads the stream's request as HTTP/1.1 bytes and writes its HTTP/1.1 response into that connection's queue, so every request takes
 * the same path whatever the protocol. */
/* A client for one stream of the HTTP/2 connection `conn` (peer and TLS copied from it):
 * counted against client_maxconn like a connection, freed as any client. Returns NULL
 * (nothing made) at client_maxconn. Its input is read through vops (the stream calls
 * c->conn.on_io with UV_READABLE when there is some), its output leaves through them. */
struct tt_client *tt_client_new_stream(struct tt_client *conn, const struct tt_conn_vops *vops,
                                       void *vctx);

/* Replace the stream client c by a compact record (proxy/held.h) once it is an idle held
 * stream: state TT_C_HOLD, its session agrees (ops->compact), the response head is out,
 * the request body complete, nothing queued, and nothing more to do on the request's
 * side (a backend, replay state, JSON-P, a gone link). ops and vctx become the record's
 * sink ops and transport; peer is the peer text its stats events borrow (the HTTP/2
 * connection's: it outlives the record). On success c is closed quietly (no access line,
 * no stats change: both move to the record, and so does its place in client_maxconn; its
 * virtual connection's vtable is not told) and the record is returned, owned by the
 * caller; NULL leaves c as it was. */
struct tt_held *tt_client_compact(struct tt_client *c, const struct tt_sink_ops *ops, void *vctx,
                                  const char *peer);

#endif

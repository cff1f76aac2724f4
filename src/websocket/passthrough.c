/* passthrough.c: a WebSocket to a ws/wss backend (SPEC.md section 7): the handshake goes
 * through the upstream module (connect, TLS, the response head), which hands the socket
 * over on a valid 101; from then on messages are relayed both ways, with backpressure.
 * A non-101 answer is a rejection, relayed to the client with its body (capped); a 101
 * that is not a valid handshake is a 502. A connect failure lets the session try the
 * route's next target. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "proxy/upstream.h"
#include "websocket/backends.h"

#define PT_OUT_HIGH (256 * 1024)  /* queued for the backend above this: stop reading the client */
#define PT_REJECT_BODY_MAX 100000 /* a rejection's body, as Pushpin's */

struct pt_be {
    struct tt_ws_backend b;
    const struct tt_route_target *t;
    struct tt_upstream *up; /* during the handshake */
    struct tt_conn *conn;   /* after it (heap; freed in its close callback) */
    struct tt_wsconn ws;    /* client role */
    char key[TT_WS_KEY_LEN + 1];
    bool offer_grip;
    bool accepted;
    bool dead;
    /* a rejection being collected */
    struct tt_h1_response *rej_head;
    char *rej_raw;
    struct tt_buf rej_body;
};

static void pt_release(struct pt_be *p)
{
    free(p->rej_head);
    free(p->rej_raw);
    tt_buf_deinit(&p->rej_body);
    free(p);
}

/* The backend socket's close callback: the connection and, after a handshake, its owner
 * go together, a loop turn after pt_free (whose caller may be inside our own read loop). */
static void conn_freed(struct tt_conn *c)
{
    struct pt_be *p = c->data;
    free(c);
    if (p)
        pt_release(p);
}

static void close_conn(struct pt_be *p)
{
    if (!p->conn)
        return;
    tt_conn_flush(p->conn); /* a close frame, when there is one, goes if it can */
    tt_conn_close(p->conn, conn_freed);
    p->conn = NULL;
}

/* ---- the relay, after the handshake ---- */

static void be_message(void *ctx, unsigned opcode, const uint8_t *data, size_t len)
{
    struct pt_be *p = ctx;
    tt_ws_session_backend_message(p->b.s, opcode, data, len);
}

static void be_closed(void *ctx, unsigned code, const uint8_t *reason, size_t len)
{
    struct pt_be *p = ctx;
    /* The session relays it to the client and frees us; our reply (if the close was the
     * backend's idea) goes out from free. */
    tt_ws_session_backend_closed(p->b.s, code == TT_WS_CLOSE_NO_STATUS ? -1 : (int)code, reason,
                                 len);
}

static void be_failed(void *ctx, int close_code, const char *why)
{
    struct pt_be *p = ctx;
    (void)close_code;
    tt_ws_session_backend_gone(p->b.s, why);
}

static bool be_congested(void *ctx)
{
    struct pt_be *p = ctx;
    return tt_ws_session_client_congested(p->b.s);
}

static const struct tt_wsconn_ops be_ws_ops = {
    .message = be_message,
    .closed = be_closed,
    .failed = be_failed,
    .congested = be_congested,
};

static void on_io(struct tt_conn *c, int status, int events)
{
    struct pt_be *p = c->data;
    if (!p || p->dead)
        return;
    struct tt_worker *w = tt_ws_session_worker(p->b.s);
    if (status < 0) {
        tt_ws_session_backend_gone(p->b.s, "socket error");
        return;
    }
    if (events & UV_WRITABLE) {
        bool was = c->out_bytes > PT_OUT_HIGH;
        int r = tt_conn_flush(c);
        if (r < 0 && r != TT_EAGAIN) {
            tt_ws_session_backend_gone(p->b.s, "write failed");
            return;
        }
        if (was && c->out_bytes <= PT_OUT_HIGH) {
            tt_ws_session_backend_drained(p->b.s);
            if (p->dead)
                return;
        }
    }
    if (events & UV_READABLE)
        tt_wsconn_read(&p->ws, w->scratch, w->scratch_size);
}

static void flush_out(struct pt_be *p)
{
    int r = tt_conn_flush(p->conn);
    if (r < 0 && r != TT_EAGAIN)
        tt_ws_session_backend_gone(p->b.s, "write failed");
}

/* ---- the handshake ---- */

/* The backend's 101 headers that the client's 101 carries: not the handshake's own. */
static bool forwarded(const struct tt_h1_header *h)
{
    static const char *const skip[] = {"Upgrade", "Connection", "Sec-WebSocket-Accept",
                                       "Sec-WebSocket-Extensions", "Content-Length",
                                       "Transfer-Encoding", "Keep-Alive"};
    for (size_t i = 0; i < TT_ARRAY_LEN(skip); i++)
        if (tt_strieq(h->name, h->name_len, skip[i]))
            return false;
    return !tt_h1_is_hop_by_hop(h->name, h->name_len);
}

static void accept_101(struct pt_be *p, const struct tt_h1_response *resp,
                       const struct tt_ws_client_hs *hs)
{
    struct tt_buf rest;
    tt_buf_init(&rest, 0);
    p->conn = tt_upstream_take(p->up, &rest);
    p->up = NULL;
    p->conn->data = p;
    p->conn->on_io = on_io;
    tt_wsconn_init(&p->ws, p->conn, true, TT_WS_DEFAULT_MAX_MESSAGE, NULL, &be_ws_ops, p);
    p->accepted = true;
    struct tt_kv *kv = tt_calloc(resp->num_headers ? resp->num_headers : 1, sizeof(*kv));
    size_t n = 0;
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct tt_h1_header *h = &resp->headers[i];
        if (!forwarded(h))
            continue;
        kv[n].name = tt_strndup(h->name, h->name_len);
        kv[n].value = tt_strndup(h->value, h->value_len);
        n++;
    }
    struct tt_ws_session *s = p->b.s;
    tt_ws_session_accepted(s, kv, n, &hs->grip);
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
    if (!p->dead && rest.len)
        tt_wsconn_feed(&p->ws, rest.data, rest.len);
    tt_buf_deinit(&rest);
    if (!p->dead)
        tt_conn_set_read(p->conn, true);
}

static int up_on_head(void *ctx, const struct tt_h1_response *resp)
{
    struct pt_be *p = ctx;
    const char *proto = NULL;
    size_t proto_len = 0;
    int i = tt_h1_find_header(p->b.s->req->headers, p->b.s->req->num_headers,
                              "Sec-WebSocket-Protocol", 0);
    if (i >= 0) {
        proto = p->b.s->req->headers[i].value;
        proto_len = p->b.s->req->headers[i].value_len;
    }
    struct tt_ws_client_hs hs;
    int r = tt_ws_client_check_response(resp, p->key, p->offer_grip, false, proto, proto_len, &hs);
    if (r == 1) {
        accept_101(p, resp, &hs);
        return 1; /* the upstream is done: we have its socket */
    }
    if (r < 0) {
        tt_warn("websocket: backend %s:%u: invalid handshake answer: %s", p->t->host, p->t->port,
                hs.why ? hs.why : "?");
        p->up = NULL;
        tt_ws_session_failed(p->b.s, false, "Invalid WebSocket handshake from origin.");
        return 1;
    }
    /* A rejection: collect it and relay it whole. */
    p->rej_head = tt_h1_response_dup(resp, &p->rej_raw);
    tt_buf_init(&p->rej_body, PT_REJECT_BODY_MAX);
    return 0;
}

static void up_on_data(void *ctx, const char *data, size_t len)
{
    struct pt_be *p = ctx;
    if (tt_buf_append(&p->rej_body, data, len) != 0) {
        tt_upstream_abort(p->up);
        p->up = NULL;
        tt_ws_session_failed(p->b.s, false, "WebSocket rejection body too large.");
    }
}

static void up_on_end(void *ctx)
{
    struct pt_be *p = ctx;
    p->up = NULL;
    struct tt_resp r;
    tt_resp_init(&r, p->rej_head->status);
    tt_resp_from_h1(&r, p->rej_head);
    tt_buf_append(&r.body, p->rej_body.data, p->rej_body.len);
    tt_ws_session_rejected(p->b.s, &r); /* frees us */
    tt_resp_deinit(&r);
}

static void up_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    struct pt_be *p = ctx;
    p->up = NULL;
    char why[300];
    if (err == TT_UP_ERR_BLOCKED)
        snprintf(why, sizeof(why), "Error: Origin host/IP blocked.");
    else
        snprintf(why, sizeof(why), "Error while proxying to origin (%s).", tried);
    tt_ws_session_failed(p->b.s, err == TT_UP_ERR_CONNECT, why);
}

static const struct tt_upstream_cbs up_cbs = {
    .on_head = up_on_head,
    .on_data = up_on_data,
    .on_end = up_on_end,
    .on_error = up_on_error,
};

static void pt_start(struct tt_ws_backend *b)
{
    struct pt_be *p = (struct pt_be *)b;
    struct tt_ws_session *s = b->s;
    if (tt_ws_client_key(RAND_bytes, p->key) != 0) {
        tt_ws_session_failed(s, false, "no random bytes for a WebSocket key");
        return;
    }
    /* Extensions are not relayed (we may not know them); a GRIP route offers `grip`. */
    p->offer_grip = !s->route->no_grip;
    struct tt_buf head;
    tt_buf_init(&head, 0);
    tt_ws_session_backend_head(s, p->t, "GET", true, &head);
    tt_ws_client_request_headers(&head, p->key, p->offer_grip, false);
    tt_buf_appends(&head, "\r\n");
    p->up = tt_upstream_start(tt_ws_session_worker(s), p->t, 1, head.data, head.len,
                              TT_UP_UPGRADE, &up_cbs, p);
    tt_buf_deinit(&head);
    if (!p->up)
        tt_ws_session_failed(s, true, "no usable target");
}

/* ---- client to backend ---- */

static void pt_message(struct tt_ws_backend *b, unsigned opcode, const uint8_t *data, size_t len)
{
    struct pt_be *p = (struct pt_be *)b;
    if (!p->accepted)
        return;
    tt_wsconn_send(&p->ws, opcode, data, len);
    flush_out(p);
}

static void pt_close(struct tt_ws_backend *b, int code, const uint8_t *reason, size_t len)
{
    struct pt_be *p = (struct pt_be *)b;
    if (!p->accepted)
        return;
    /* The backend's close in reply reaches the client (be_closed). */
    tt_wsconn_close(&p->ws, code, reason, len);
    flush_out(p);
}

static bool pt_congested(struct tt_ws_backend *b)
{
    struct pt_be *p = (struct pt_be *)b;
    return p->conn && p->conn->out_bytes > PT_OUT_HIGH;
}

static void pt_client_drained(struct tt_ws_backend *b)
{
    struct pt_be *p = (struct pt_be *)b;
    if (p->accepted)
        tt_wsconn_resume(&p->ws);
}

static void pt_free(struct tt_ws_backend *b, bool disconnect)
{
    struct pt_be *p = (struct pt_be *)b;
    p->dead = true;
    if (p->up)
        tt_upstream_abort(p->up);
    p->up = NULL;
    if (!p->accepted) {
        /* Called from an upstream callback or by the session: nothing of ours runs after. */
        pt_release(p);
        return;
    }
    p->ws.dead = true;
    /* A backend left normally (or detached) gets our close; one whose client vanished is
     * dropped as its client was (Pushpin does the same). */
    if (!disconnect && !p->ws.close_sent)
        tt_wsconn_close(&p->ws, p->ws.close_received ? TT_WS_CLOSE_NORMAL : -1, NULL, 0);
    tt_wsconn_deinit(&p->ws);
    close_conn(p); /* frees p once the socket is closed */
}

static const struct tt_ws_backend_ops pt_ops = {
    .start = pt_start,
    .message = pt_message,
    .close = pt_close,
    .congested = pt_congested,
    .client_drained = pt_client_drained,
    .free = pt_free,
};

struct tt_ws_backend *tt_ws_passthrough_new(struct tt_ws_session *s,
                                            const struct tt_route_target *t)
{
    struct pt_be *p = tt_calloc(1, sizeof(*p));
    p->b.ops = &pt_ops;
    p->b.s = s;
    p->t = t;
    tt_buf_init(&p->rej_body, PT_REJECT_BODY_MAX);
    return &p->b;
}

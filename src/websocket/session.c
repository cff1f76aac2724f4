/* session.c: see session.h. */
#include "websocket/session.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "proxy/forward.h"
#include "websocket/backends.h"
#include "websocket/registry.h"

#define WS_OUT_HIGH (256 * 1024)   /* client output above this pauses the backend */
#define WS_CLOSE_WAIT_MS 5000      /* how long a close handshake may take */
#define WS_QUEUE_ITEMS 100         /* Pushpin's per-connection queue of sends */

static const struct tt_client_session_ops session_ops;
static const struct tt_wsconn_ops client_ops;
static const struct tt_subscriber_ops sub_ops;

static struct tt_ws_session *of_cs(struct tt_client_session *cs)
{
    return TT_CONTAINER_OF(cs, struct tt_ws_session, cs);
}

struct tt_worker *tt_ws_session_worker(const struct tt_ws_session *s)
{
    return s->c->w;
}

static bool debug_on(const struct tt_ws_session *s)
{
    return s->c->w->srv->cfg.debug || (s->route && s->route->debug);
}

static void free_backend(struct tt_ws_session *s, bool disconnect)
{
    struct tt_ws_backend *be = s->be;
    if (!be)
        return;
    s->be = NULL;
    be->ops->free(be, disconnect);
}

static void free_request(struct tt_ws_session *s)
{
    free(s->req);
    free(s->req_raw);
    s->req = NULL;
    s->req_raw = NULL;
}

/* ---- the end ------------------------------------------------------------------------ */

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The client is closing (tt_client_close): let go of everything; memory goes once the
 * timer handle has closed, after whatever callback we are in has returned. */
static void session_free(struct tt_client_session *cs)
{
    struct tt_ws_session *s = of_cs(cs);
    if (s->closing)
        return;
    s->closing = true;
    s->ws.dead = true;
    tt_ws_registry_remove(s);
    tt_subscriber_deinit(&s->sub);
    free_backend(s, !s->client_closed && s->accepted);
    free_request(s);
    free(s->ka_content);
    free(s->delayed);
    s->ka_content = s->delayed = NULL;
    if (s->accepted)
        tt_wsconn_deinit(&s->ws);
    tt_client_timer_stop(s->c);
    if (s->c->sink.session == cs)
        s->c->sink.session = NULL;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

/* Close the client's socket once what is queued is written. */
static void finish(struct tt_ws_session *s)
{
    if (s->closing)
        return;
    s->finishing = true;
    s->c->clean_end = true;
    if (s->c->conn.out_count == 0 || !tt_client_flush(s->c)) {
        if (!s->closing && s->c->state != TT_C_CLOSING)
            tt_client_close(s->c);
        return;
    }
    if (s->c->conn.out_count == 0)
        tt_client_close(s->c);
}

static void on_close_wait(uv_timer_t *t)
{
    struct tt_ws_session *s = t->data;
    if (s->closing)
        return;
    if (s->ws.close_sent && !s->client_closed) {
        tt_debug("c%llu: websocket: no close reply from the client; closing",
                 (unsigned long long)s->c->id);
        finish(s);
        return;
    }
    if (s->client_closed && !s->ws.close_sent) {
        /* The backend never answered the client's close: answer it ourselves. */
        tt_wsconn_close(&s->ws, TT_WS_CLOSE_NORMAL, NULL, 0);
        free_backend(s, false);
        finish(s);
    }
}

static void arm_close_wait(struct tt_ws_session *s)
{
    uv_timer_start(&s->timer, on_close_wait, WS_CLOSE_WAIT_MS, 0);
}

/* Send our close to the client (once) and wait for its reply, or finish if it came. */
static void close_client(struct tt_ws_session *s, int code, const void *reason, size_t len)
{
    if (!s->ws.close_sent)
        tt_wsconn_close(&s->ws, code, reason, len);
    if (s->client_closed) {
        finish(s);
        return;
    }
    tt_client_flush_later(s->c);
    arm_close_wait(s);
}

/* ---- sending to the client ---------------------------------------------------------- */

static void arm_keepalive(struct tt_ws_session *s);

static void sent_to_client(struct tt_ws_session *s)
{
    s->last_send_ms = tt_now_ms();
    tt_client_flush_later(s->c);
}

static void send_client(struct tt_ws_session *s, unsigned opcode, const void *data, size_t len)
{
    tt_wsconn_send(&s->ws, opcode, data, len);
    sent_to_client(s);
}

static bool client_congested(const struct tt_ws_session *s)
{
    return s->c->conn.out_bytes > WS_OUT_HIGH;
}

/* ---- GRIP control messages ------------------------------------------------------------ */

static void on_keepalive(struct tt_wtimer *t)
{
    struct tt_client *c = tt_client_of_timer(t);
    if (!c->sink.session || c->sink.session->ops != &session_ops)
        return;
    struct tt_ws_session *s = of_cs(c->sink.session);
    if (!s->ka_content && !s->ka_opcode)
        return;
    uint64_t now = tt_now_ms();
    if (!s->ka_interval && now - s->last_send_ms + 5 < s->ka_ms) {
        tt_client_timer_start(c, on_keepalive, s->ka_ms - (now - s->last_send_ms));
        return;
    }
    send_client(s, s->ka_opcode, s->ka_content, s->ka_len);
    arm_keepalive(s);
}

static void arm_keepalive(struct tt_ws_session *s)
{
    if (!s->ka_opcode) {
        tt_client_timer_stop(s->c);
        return;
    }
    /* Shortened by up to a second, as Pushpin, so that many do not fire together. */
    uint64_t jitter = s->ka_ms > 2000 ? (uint64_t)(rand() % 1000) : 0;
    tt_client_timer_start(s->c, on_keepalive, s->ka_ms - jitter);
}

static void on_delayed(uv_timer_t *t)
{
    struct tt_ws_session *s = t->data;
    if (s->closing || !s->delayed_opcode)
        return;
    unsigned op = s->delayed_opcode;
    s->delayed_opcode = 0;
    send_client(s, op, s->delayed, s->delayed_len);
    free(s->delayed);
    s->delayed = NULL;
}

static void subscribe(struct tt_ws_session *s, const char *name, char *const *filters,
                      int num_filters, bool implicit)
{
    const char *prefix = s->route->prefix ? s->route->prefix : "";
    size_t pl = strlen(prefix), nl = strlen(name);
    char *full = tt_malloc(pl + nl + 1);
    memcpy(full, prefix, pl);
    memcpy(full + pl, name, nl + 1);
    if (!implicit && s->sub.num_subs >= (size_t)s->c->w->srv->cfg.connection_subscription_max) {
        tt_debug("c%llu: websocket: subscription limit reached; %s ignored",
                 (unsigned long long)s->c->id, full);
    } else {
        tt_subscriber_add(&s->sub, full, NULL, filters, num_filters, implicit, true);
    }
    free(full);
}

static void control_message(struct tt_ws_session *s, const uint8_t *json, size_t len)
{
    struct tt_ws_ctl m;
    char err[128];
    int r = tt_ws_ctl_parse((const char *)json, len, &m, err, sizeof(err));
    if (r == TT_ETOOBIG) {
        char reason[TT_WS_MAX_CLOSE_REASON + 1];
        snprintf(reason, sizeof(reason), "too many filters for channel '%s'",
                 m.channel ? m.channel : "");
        tt_ws_ctl_free(&m);
        if (s->sub.num_subs >= (size_t)s->c->w->srv->cfg.connection_subscription_max) {
            /* At the limit the subscribe is ignored before its filters are looked at, as
             * Pushpin's handler does. */
            tt_debug("c%llu: websocket: subscription limit reached; subscribe ignored",
                     (unsigned long long)s->c->id);
            return;
        }
        tt_info("c%llu: websocket: %s", (unsigned long long)s->c->id, reason);
        free_backend(s, false);
        /* The reason names a channel: only debug routes tell the client (as Pushpin). */
        size_t rl = debug_on(s) ? tt_ws_utf8_cut(reason, strlen(reason)) : 0;
        close_client(s, TT_WS_CLOSE_INTERNAL, reason, rl);
        return;
    }
    if (r != 0) {
        tt_debug("c%llu: websocket: invalid control message ignored: %s",
                 (unsigned long long)s->c->id, err);
        return;
    }
    const char *prefix = s->route->prefix ? s->route->prefix : "";
    switch (m.type) {
    case TT_WS_CTL_SUBSCRIBE:
        subscribe(s, m.channel, m.filters, (int)m.num_filters, false);
        break;
    case TT_WS_CTL_UNSUBSCRIBE: {
        size_t pl = strlen(prefix), nl = strlen(m.channel);
        char *full = tt_malloc(pl + nl + 1);
        memcpy(full, prefix, pl);
        memcpy(full + pl, m.channel, nl + 1);
        tt_subscriber_remove(&s->sub, full, false);
        free(full);
        break;
    }
    case TT_WS_CTL_DETACH:
        if (!s->detached) {
            s->detached = true;
            free_backend(s, false);
        }
        break;
    case TT_WS_CTL_SET_META:
        tt_subscriber_set_meta(&s->sub, m.meta_name, m.meta_value);
        break;
    case TT_WS_CTL_SESSION:
        /* Sessions need Pushpin's external state store (state_spec), which thumbtack
         * does not have: inert, as in a Pushpin without one. */
        break;
    case TT_WS_CTL_KEEP_ALIVE:
        free(s->ka_content);
        s->ka_content = NULL;
        s->ka_opcode = 0;
        if (m.content || m.opcode == TT_WS_OP_PING || m.opcode == TT_WS_OP_PONG) {
            s->ka_content = m.content;
            s->ka_len = m.content_len;
            m.content = NULL;
            s->ka_opcode = m.opcode ? m.opcode : TT_WS_OP_TEXT;
            s->ka_ms = (uint64_t)TT_MAX(m.timeout, 1) * 1000;
            s->ka_interval = m.interval;
        }
        arm_keepalive(s);
        break;
    case TT_WS_CTL_SEND_DELAYED:
        if (s->client_closed)
            break; /* the closing handshake owns the timer now: nothing is sent later */
        free(s->delayed);
        s->delayed = m.content;
        s->delayed_len = m.content_len;
        m.content = NULL;
        s->delayed_opcode = m.opcode ? m.opcode : TT_WS_OP_TEXT;
        uv_timer_start(&s->timer, on_delayed, (uint64_t)TT_MAX(m.timeout, 1) * 1000, 0);
        break;
    case TT_WS_CTL_FLUSH_DELAYED:
        if (s->delayed_opcode) {
            uv_timer_stop(&s->timer);
            on_delayed(&s->timer);
        }
        break;
    }
    tt_ws_ctl_free(&m);
}

/* ---- from the backend ---------------------------------------------------------------- */

void tt_ws_session_backend_message(struct tt_ws_session *s, unsigned opcode, const uint8_t *data,
                                   size_t len)
{
    if (s->closing || !s->accepted || s->ws.close_sent)
        return;
    if (s->grip && (opcode == TT_WS_OP_TEXT || opcode == TT_WS_OP_BINARY)) {
        struct tt_ws_grip_ext ext;
        memcpy(ext.prefix, s->prefix, s->prefix_len + 1);
        ext.prefix_len = s->prefix_len;
        ext.present = true;
        switch (tt_ws_grip_classify(opcode, data, len, &ext)) {
        case TT_WS_GRIP_CONTROL:
            control_message(s, data + 2, len - 2);
            return;
        case TT_WS_GRIP_DATA:
            send_client(s, opcode, data + s->prefix_len, len - s->prefix_len);
            return;
        case TT_WS_GRIP_DROP:
            tt_debug("c%llu: websocket: unprefixed backend message dropped",
                     (unsigned long long)s->c->id);
            return;
        }
    }
    send_client(s, opcode, data, len);
}

void tt_ws_session_backend_closed(struct tt_ws_session *s, int code, const uint8_t *reason,
                                  size_t len)
{
    if (s->closing)
        return;
    free_backend(s, false);
    if (!s->accepted)
        return;
    /* The client gets the backend's close; a code that may not go on the wire (1005,
     * 1006, 1015) becomes no code. */
    if (code >= 0 && !tt_ws_close_code_valid((unsigned)code))
        code = -1;
    close_client(s, code, reason, len);
}

void tt_ws_session_backend_gone(struct tt_ws_session *s, const char *why)
{
    if (s->closing)
        return;
    tt_info("c%llu: websocket backend gone (%s); dropping the client", (unsigned long long)s->c->id,
            why);
    free_backend(s, false);
    tt_client_close(s->c);
}

void tt_ws_session_backend_drained(struct tt_ws_session *s)
{
    if (!s->closing && s->accepted)
        tt_wsconn_resume(&s->ws);
}

/* ---- from the client ------------------------------------------------------------------ */

static void client_message(void *ctx, unsigned opcode, const uint8_t *data, size_t len)
{
    struct tt_ws_session *s = ctx;
    if (s->detached || !s->be)
        return; /* detached: the client's messages go nowhere, as Pushpin */
    s->be->ops->message(s->be, opcode, data, len);
}

static void client_closed(void *ctx, unsigned code, const uint8_t *reason, size_t len)
{
    struct tt_ws_session *s = ctx;
    s->client_closed = true;
    int c = code == TT_WS_CLOSE_NO_STATUS ? -1 : (int)code;
    if (s->ws.close_sent) {
        finish(s); /* the reply to our close */
        return;
    }
    if (!s->be) {
        close_client(s, c, reason, len);
        return;
    }
    /* The backend answers first (Pushpin relays its close back to the client). */
    s->be->ops->close(s->be, c, reason, len);
    if (!s->closing && !s->ws.close_sent)
        arm_close_wait(s);
}

static void client_failed(void *ctx, int close_code, const char *why)
{
    struct tt_ws_session *s = ctx;
    tt_debug("c%llu: websocket client: %s", (unsigned long long)s->c->id, why);
    if (close_code > 0) {
        /* Our close is queued: the backend hears of it as a close too. */
        s->c->clean_end = true; /* our close frame ends it (an HTTP/2 stream sends it) */
        if (s->be)
            s->be->ops->close(s->be, close_code, (const uint8_t *)why, strlen(why));
        free_backend(s, false);
        tt_client_flush(s->c);
        if (!s->closing)
            tt_client_close(s->c);
        return;
    }
    /* The client vanished: the backend is told it disconnected. */
    free_backend(s, true);
    tt_client_close(s->c);
}

static bool client_backpressure(void *ctx)
{
    struct tt_ws_session *s = ctx;
    return s->be && s->be->ops->congested && s->be->ops->congested(s->be);
}

static const struct tt_wsconn_ops client_ops = {
    .message = client_message,
    .closed = client_closed,
    .failed = client_failed,
    .congested = client_backpressure,
};

/* ---- publishing (the fan-out engine's subscriber ops) ---------------------------------- */

static bool ws_deliver(struct tt_subscriber *who, struct tt_sub *sub, struct tt_msg *m,
                       const char *content, size_t len)
{
    (void)sub;
    struct tt_ws_session *s = TT_CONTAINER_OF(who, struct tt_ws_session, sub);
    const struct tt_pub_item *it = &m->item;
    if (!s->accepted || s->ws.close_sent)
        return false;
    switch (it->ws_message.action) {
    case TT_ACT_CLOSE:
        if (m->ws_frame)
            tt_wsconn_send_shared(&s->ws, &m->shared, m->ws_frame, m->ws_frame_len);
        s->ws.close_sent = true;
        free_backend(s, false);
        if (s->client_closed)
            finish(s);
        else {
            tt_client_flush_later(s->c);
            arm_close_wait(s);
        }
        return true;
    case TT_ACT_REFRESH:
        if (s->be && s->be->ops->refresh)
            s->be->ops->refresh(s->be);
        return false;
    case TT_ACT_SEND:
        break;
    default:
        return false; /* hint: nothing for WebSockets */
    }
    if (!m->ws_frame)
        return false;
    if (content) {
        /* Content filters made it this connection's own. */
        static const unsigned ops[] = {[TT_WS_TEXT] = TT_WS_OP_TEXT,
                                       [TT_WS_BINARY] = TT_WS_OP_BINARY,
                                       [TT_WS_PING] = TT_WS_OP_PING,
                                       [TT_WS_PONG] = TT_WS_OP_PONG};
        tt_wsconn_send(&s->ws, ops[it->ws_message.type], content, len);
    } else {
        tt_wsconn_send_shared(&s->ws, &m->shared, m->ws_frame, m->ws_frame_len);
    }
    sent_to_client(s);
    return true;
}

static void ws_backlog(const struct tt_subscriber *who, size_t *items, size_t *bytes)
{
    const struct tt_ws_session *s = TT_CONTAINER_OF(who, struct tt_ws_session, sub);
    *items = s->c->conn.out_count;
    *bytes = s->c->conn.out_bytes;
}

static bool ws_flush(struct tt_subscriber *who)
{
    struct tt_ws_session *s = TT_CONTAINER_OF(who, struct tt_ws_session, sub);
    return !s->c->dirty || tt_client_flush(s->c);
}

static void ws_update(struct tt_subscriber *who)
{
    /* A first-subscription update or a recover asks WebSocket-over-HTTP backends for a
     * request (Pushpin's refresh); a passthrough backend has nothing to re-fetch. */
    struct tt_ws_session *s = TT_CONTAINER_OF(who, struct tt_ws_session, sub);
    if (s->be && s->be->ops->refresh)
        s->be->ops->refresh(s->be);
}

static const struct tt_subscriber_ops sub_ops = {
    .format = TT_SUB_WS_MESSAGE,
    .deliver = ws_deliver,
    .backlog = ws_backlog,
    .flush = ws_flush,
    .update = ws_update,
};

/* ---- opening ---------------------------------------------------------------------------- */

static void reply_error(struct tt_ws_session *s, int status, const char *body)
{
    struct tt_resp r;
    tt_resp_text(&r, status, body);
    tt_ws_session_rejected(s, &r);
    tt_resp_deinit(&r);
}

static void try_next_target(struct tt_ws_session *s)
{
    const struct tt_route *route = s->route;
    while (s->next_target < route->num_targets) {
        const struct tt_route_target *t = &route->targets[s->next_target++];
        s->target = t;
        if (t->type == TT_TARGET_TEST) {
            s->be = tt_ws_test_new(s);
        } else if (t->type == TT_TARGET_ZHTTPREQ) {
            reply_error(s, 502, debug_on(s) ? "WebSockets cannot be used with zhttpreq target\n"
                                            : "Error while proxying to origin.\n");
            return;
        } else if (t->type != TT_TARGET_HTTP) {
            tt_warn("c%llu: route line %d: zhttp targets are not supported yet",
                    (unsigned long long)s->c->id, route->line);
            reply_error(s, 502, debug_on(s) ? "Error: zhttp service for route is unreachable.\n"
                                            : "Error while proxying to origin.\n");
            return;
        } else if (t->over_http) {
            s->be = tt_ws_woh_new(s, t);
        } else {
            s->be = tt_ws_passthrough_new(s, t);
        }
        s->be->ops->start(s->be);
        return;
    }
    /* Every target failed to connect. */
    char msg[600];
    if (debug_on(s)) {
        size_t o = (size_t)snprintf(msg, sizeof(msg), "Unable to connect to any targets. Tried: ");
        for (size_t i = 0; i < route->num_targets && o < sizeof(msg) - 80; i++) {
            const struct tt_route_target *t = &route->targets[i];
            o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s%s:%u", i ? ", " : "",
                                  t->host ? t->host : "test", t->port);
        }
        snprintf(msg + o, sizeof(msg) - o, "\n");
    } else {
        snprintf(msg, sizeof(msg), "Error while proxying to origin.\n");
    }
    tt_warn("c%llu: websocket: unable to connect to any targets", (unsigned long long)s->c->id);
    reply_error(s, 502, msg);
}

void tt_ws_session_failed(struct tt_ws_session *s, bool connect, const char *why)
{
    if (s->closing)
        return;
    free_backend(s, false);
    if (s->accepted) {
        tt_ws_session_backend_gone(s, why);
        return;
    }
    if (connect) {
        tt_debug("c%llu: websocket: target failed (%s); trying the next",
                 (unsigned long long)s->c->id, why);
        try_next_target(s);
        return;
    }
    tt_warn("c%llu: websocket: error while proxying to origin: %s", (unsigned long long)s->c->id,
            why);
    char msg[300];
    snprintf(msg, sizeof(msg), "%s\n", debug_on(s) ? why : "Error while proxying to origin.");
    reply_error(s, 502, msg);
}

void tt_ws_session_rejected(struct tt_ws_session *s, const struct tt_resp *resp)
{
    if (s->closing)
        return;
    struct tt_client *c = s->c;
    free_backend(s, false);
    /* The session is over before it began: the client gets an HTTP answer and the
     * connection closes after it (its request had an Upgrade: nothing follows). */
    session_free(&s->cs);
    c->state = TT_C_BODY;
    if (c->req)
        c->req->keep_alive = false;
    tt_client_send_resp(c, resp);
}

void tt_ws_session_accepted(struct tt_ws_session *s, const struct tt_kv *headers, size_t n,
                            const struct tt_ws_grip_ext *grip)
{
    if (s->closing)
        return;
    struct tt_client *c = s->c;
    struct tt_buf out;
    tt_buf_init(&out, 0);
    tt_buf_appends(&out, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; i < n; i++)
        tt_buf_appendf(&out, "%s: %s\r\n", headers[i].name, headers[i].value);
    if (grip && grip->present && s->trusted) {
        /* A trusted client (another GRIP proxy) does the GRIP work itself. */
        tt_buf_appends(&out, "Sec-WebSocket-Extensions: grip; message-prefix=\"");
        for (size_t i = 0; i < grip->prefix_len; i++) {
            if (grip->prefix[i] == '"' || grip->prefix[i] == '\\')
                tt_buf_append(&out, "\\", 1);
            tt_buf_append(&out, &grip->prefix[i], 1);
        }
        tt_buf_appends(&out, "\"\r\n");
    }
    tt_ws_server_response_headers(&out, &s->hs);
    tt_buf_appends(&out, "\r\n");
    size_t len;
    char *b = tt_buf_steal(&out, &len);
    if (c->req) {
        c->req->status = 101;
        c->req->head_sent = true;
        c->req->bytes_out += len;
    }
    tt_conn_write_owned(&c->conn, b, b, len);
    s->accepted = true;
    s->last_send_ms = tt_now_ms();
    free_request(s);
    struct tt_ws_inflater *inf = NULL;
    if (s->hs.deflate) {
        struct tt_worker *w = c->w;
        if (!w->ws_inflater) {
            w->ws_inflater = tt_malloc(sizeof(*w->ws_inflater));
            tt_ws_inflater_init(w->ws_inflater);
        }
        inf = w->ws_inflater;
    }
    tt_wsconn_init(&s->ws, &c->conn, false, TT_WS_DEFAULT_MAX_MESSAGE, inf, &client_ops, s);
    if (grip && grip->present && !s->trusted) {
        s->grip = true;
        memcpy(s->prefix, grip->prefix, grip->prefix_len + 1);
        s->prefix_len = grip->prefix_len;
    }
    const struct tt_route_target *t = s->target;
    s->control = s->grip || (t && t->num_subs);
    for (size_t i = 0; s->control && t && i < t->num_subs; i++)
        subscribe(s, t->subs[i], NULL, 0, true);
    if (!tt_client_flush(c))
        return;
    tt_conn_set_read(&c->conn, true);
    if (s->stopping || c->w->stopping) {
        /* Accepted while the worker stops: the client learns at once. */
        free_backend(s, false);
        close_client(s, TT_WS_CLOSE_GOING_AWAY, "server shutting down", 20);
        return;
    }
    /* Bytes the client sent right behind its handshake; then the client's input buffer
     * (it held the handshake head) goes: the WebSocket reads into the worker's scratch
     * buffer, and an idle connection keeps nothing. */
    if (c->in.len)
        tt_wsconn_feed(&s->ws, c->in.data, c->in.len);
    if (!s->closing && c->state != TT_C_CLOSING) {
        size_t cap = c->in.cap;
        tt_buf_deinit(&c->in);
        tt_buf_init(&c->in, cap);
    }
}

void tt_ws_session_backend_head(struct tt_ws_session *s, const struct tt_route_target *t,
                                const char *method, bool skip_ws, struct tt_buf *out)
{
    struct tt_h1_request *x = tt_malloc(sizeof(*x));
    /* s->req is a compact copy (tt_h1_request_dup): only its headers in use are there. */
    memcpy(x, s->req, tt_h1_request_used(s->req));
    x->method = method;
    x->method_len = strlen(method);
    /* The path after the route's rewrites, as for HTTP requests. */
    const char *path = x->target;
    size_t path_len = x->target_len;
    struct tt_buf head;
    tt_buf_init(&head, 0);
    tt_forward_build_head(s->c->w->srv, s->c, x, s->route, t, path, path_len, s->trusted, &head);
    free(x);
    /* Drop what belongs to the client's own handshake. */
    size_t pos = 0;
    const char *line;
    size_t ll;
    bool first = true;
    while (tt_next_line(head.data, head.len, &pos, &line, &ll)) {
        if (first) {
            first = false;
        } else if (tt_strihas_prefix(line, ll, "Sec-WebSocket-Extensions:") ||
                   (skip_ws && (tt_strihas_prefix(line, ll, "Sec-WebSocket-Key:") ||
                                tt_strihas_prefix(line, ll, "Sec-WebSocket-Version:") ||
                                tt_strihas_prefix(line, ll, "Sec-WebSocket-Accept:")))) {
            continue;
        }
        tt_buf_append(out, line, ll);
        tt_buf_append(out, "\r\n", 2);
    }
    tt_buf_deinit(&head);
}

/* ---- the client connection's I/O -------------------------------------------------------- */

static void session_io(struct tt_client_session *cs, int events)
{
    struct tt_ws_session *s = of_cs(cs);
    struct tt_client *c = s->c;
    if (events & UV_WRITABLE) {
        if (!tt_client_flush(c) || s->closing)
            return;
        if (s->finishing && c->conn.out_count == 0) {
            tt_client_close(c);
            return;
        }
        if (s->backend_waits && !client_congested(s)) {
            s->backend_waits = false;
            if (s->be && s->be->ops->client_drained)
                s->be->ops->client_drained(s->be);
        }
    }
    if ((events & UV_READABLE) && s->accepted && !s->closing)
        tt_wsconn_read(&s->ws, c->w->scratch, c->w->scratch_size);
}

/* The worker is stopping: close with 1001 (going away), as a server shutting down does. */
static void session_shutdown(struct tt_client_session *cs)
{
    struct tt_ws_session *s = of_cs(cs);
    if (!s->accepted) {
        /* The handshake is in flight: it ends as it would (a rejection is relayed), and
         * an accepted WebSocket is closed with 1001 right after its 101 (accepted). The
         * worker's drain deadline bounds the wait. */
        s->stopping = true;
        return;
    }
    free_backend(s, false);
    close_client(s, TT_WS_CLOSE_GOING_AWAY, "server shutting down", 20);
}

static const struct tt_client_session_ops session_ops = {
    .free = session_free,
    .shutdown = session_shutdown,
    .io = session_io,
};

bool tt_ws_session_client_congested(struct tt_ws_session *s)
{
    if (!client_congested(s))
        return false;
    /* Write now: whatever stays queued then waits for the socket with UV_WRITABLE armed,
     * and that event resumes the backend (session_io). Without this, a batch flush that
     * emptied the queue would leave the backend paused with no event to come. */
    if (!tt_client_flush(s->c) || s->closing)
        return true;
    if (!client_congested(s))
        return false;
    s->backend_waits = true;
    return true;
}

void tt_ws_session_start(struct tt_client *c, const struct tt_h1_request *h,
                         const struct tt_route *route, const struct tt_ws_server_hs *hs)
{
    struct tt_ws_session *s = tt_calloc(1, sizeof(*s));
    s->cs.ops = &session_ops;
    s->c = c;
    s->id = c->id;
    s->route = route;
    s->hs = *hs;
    s->req = tt_h1_request_dup(h, &s->req_raw);
    s->trusted = c->req && c->req->trusted;
    s->grip_route = !route->no_grip && !s->trusted;
    tt_subscriber_init(&s->sub, &c->w->fanout, &sub_ops);
    uv_timer_init(&c->w->loop, &s->timer);
    s->timer.data = s;
    unsigned char u[16];
    if (RAND_bytes(u, sizeof(u)) != 1)
        memset(u, 0, sizeof(u));
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant */
    snprintf(s->cid, sizeof(s->cid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    tt_ws_registry_add(s);
    c->sink.session = &s->cs;
    c->state = TT_C_WS;
    c->read_paused = true;
    tt_conn_set_read(&c->conn, false);
    try_next_target(s);
}

/* woh.c: WebSocket-over-HTTP backends (over_http targets, SPEC.md section 6).
 *
 * The backend is an ordinary HTTP server: every exchange is a POST of
 * application/websocket-events (ws/events.h) through the upstream module, one request in
 * flight per connection. The first carries OPEN alone and decides the client's handshake;
 * then client messages are queued (ws/overhttp.h) and batched into requests (one_event:
 * one per request), the backend's answers carry messages, CLOSE or DISCONNECT back.
 * Keep-Alive-Interval makes us POST after that long without a request; Set-Meta-* comes
 * back as Meta-*; Content-Bytes-Accepted keeps data back to be replayed.
 *
 * Failures after the open are retried (up to 5 times, 1 s * 2^n + up to 1 s) when the
 * backend could not be reached or failed before answering anything, so a backend restart
 * loses no client and no client message; a request the backend may have seen whole is then
 * sent again with all its content marked replayed (Content-Bytes-Replayed), where Pushpin
 * drops the client. Any other bad answer after the open drops the client (no close frame),
 * as Pushpin.
 *
 * The end: when the session lets go of an open backend, the object outlives it ("orphan",
 * holding a reference on the routes snapshot) to finish the request in flight and send a
 * last one: DISCONNECT when the client vanished, else the queued messages and a CLOSE
 * (detach, a published close, a protocol error), as Pushpin's own clean-up does. Memory
 * goes in the timer's close callback, so a session callback that frees us can return
 * into code that still reads our flags.
 *
 * Idle cost: this struct, the fixed part of the request head and the meta lines; queues,
 * bodies and response buffers exist only while something is under way. */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "proxy/forward.h"
#include "proxy/upstream.h"
#include "websocket/backends.h"
#include "ws/events.h"
#include "ws/overhttp.h"
#include "ws/utf8.h"

#define WOH_RETRY_MAX 5
#define WOH_RETRY_BASE_MS 1000
#define WOH_RETRY_RAND_MS 1000

enum woh_state {
    WOH_OPENING, /* the OPEN exchange decides the client's handshake */
    WOH_OPEN,
    WOH_DONE, /* closed or failed: nothing more goes to the backend */
};

enum woh_timer {
    WOH_T_NONE,
    WOH_T_KICK,      /* send what is queued once this loop turn's input is read */
    WOH_T_KEEPALIVE, /* Keep-Alive-Interval without a request */
    WOH_T_RETRY,     /* send the failed request again */
    WOH_T_FAIL,      /* report a start failure outside the start call */
};

struct woh_be {
    struct tt_ws_backend b; /* b.s is the session until free, then NULL */
    struct tt_worker *w;
    const struct tt_route_target *t; /* in the routes the session holds, then `routes` */
    struct tt_routes *routes;        /* a reference taken when orphaned */
    uint64_t id;                     /* the client connection's, for log lines */
    char *base;                      /* the fixed part of every request head */
    size_t base_len;
    struct tt_buf meta;    /* Meta-* lines to send (Set-Meta-* from responses) */
    struct tt_woh_out out; /* client messages waiting */
    struct tt_upstream *up;           /* the request in flight */
    struct tt_buf body;               /* its body, kept for a retry */
    size_t replayed;                  /* its Content-Bytes-Replayed */
    struct tt_h1_response *resp_head; /* the response being read */
    char *resp_raw;
    struct tt_buf resp_body;
    size_t resp_total; /* body bytes received (a rejection's body is cut, not refused) */
    uint8_t *close_reason;
    size_t close_len;
    int close_code;
    int keepalive; /* seconds; -1 none */
    uv_timer_t timer;
    uint8_t timer_mode;
    uint8_t state;
    uint8_t retries;
    bool sign;             /* each request gets a fresh Grip-Sig */
    bool busy;             /* a request is in flight or waits for its retry */
    bool queue_req;        /* that request carries what is queued (not OPEN/DISCONNECT) */
    bool rejecting;        /* the OPEN was refused: its answer goes to the client */
    bool close_pending;    /* a CLOSE is to be sent */
    bool close_sent;       /* the backend accepted our CLOSE */
    bool disconnecting;    /* DISCONNECT is to be sent */
    bool disconnect_sent;
    bool refresh;          /* send a request as soon as possible */
    bool orphan;           /* the session let go; finishing on our own */
    bool freed;            /* memory goes once the timer has closed */
};

static const struct tt_upstream_cbs up_cbs;

static struct woh_be *of(struct tt_ws_backend *b)
{
    return (struct woh_be *)b;
}

/* After a call into the session: true when it let go of us meanwhile. */
static bool let_go(const struct woh_be *w)
{
    return w->freed || w->orphan;
}

/* ---- the end of the object ---- */

static void timer_closed(uv_handle_t *h)
{
    struct woh_be *w = h->data;
    tt_woh_out_clear(&w->out);
    tt_buf_deinit(&w->meta);
    tt_buf_deinit(&w->body);
    tt_buf_deinit(&w->resp_body);
    free(w->resp_head);
    free(w->resp_raw);
    free(w->base);
    free(w->close_reason);
    if (w->routes)
        tt_routes_unref(w->routes);
    free(w);
}

/* Stop everything; the memory goes a loop turn later. */
static void release(struct woh_be *w)
{
    if (w->freed)
        return;
    w->freed = true;
    w->state = WOH_DONE;
    w->b.s = NULL;
    if (w->up) {
        tt_upstream_abort(w->up);
        w->up = NULL;
    }
    uv_close((uv_handle_t *)&w->timer, timer_closed);
}

static void clear_response(struct woh_be *w)
{
    free(w->resp_head);
    free(w->resp_raw);
    w->resp_head = NULL;
    w->resp_raw = NULL;
    tt_buf_deinit(&w->resp_body);
    w->resp_total = 0;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void set_timer(struct woh_be *w, enum woh_timer mode, uint64_t ms)
{
    w->timer_mode = (uint8_t)mode;
    uv_timer_start(&w->timer, on_timer, ms, 0);
}

static void stop_timer(struct woh_be *w)
{
    w->timer_mode = WOH_T_NONE;
    uv_timer_stop(&w->timer);
}

/* ---- requests ---- */

/* Whether a request should go now (Pushpin's needUpdate). */
static bool want_request(const struct woh_be *w)
{
    if (w->busy || w->freed || w->state != WOH_OPEN)
        return false;
    if (w->disconnecting)
        return !w->disconnect_sent;
    bool close_due = w->close_pending && !w->close_sent;
    if (w->orphan)
        return close_due;
    /* Answers would pile up on a client that does not read. */
    if (tt_ws_session_client_congested(w->b.s))
        return false;
    if (w->refresh || tt_woh_out_has_new(&w->out))
        return true;
    return close_due && w->out.count == 0;
}

/* The fresh Grip-Sig line for the session's route (as every internal request gets it). */
static void sig_line(struct tt_ws_session *s, struct tt_buf *out)
{
    struct tt_buf h;
    tt_buf_init(&h, 0);
    tt_forward_build_internal(s->c->w->srv, s->c, s->route, "POST", "/", "-", NULL, &h);
    size_t pos = 0;
    const char *line;
    size_t ll;
    while (tt_next_line(h.data, h.len, &pos, &line, &ll)) {
        if (tt_strihas_prefix(line, ll, "Grip-Sig:")) {
            tt_buf_append(out, line, ll);
            tt_buf_append(out, "\r\n", 2);
        }
    }
    tt_buf_deinit(&h);
}

static void send_body(struct woh_be *w)
{
    struct tt_buf head;
    tt_buf_init(&head, 0);
    struct tt_buf sig;
    tt_buf_init(&sig, 0);
    if (w->sign && w->b.s)
        sig_line(w->b.s, &sig);
    tt_woh_request_head(w->base, w->base_len, sig.data, sig.len, w->body.len, w->replayed,
                        &w->meta, &head);
    tt_buf_deinit(&sig);
    w->up = tt_upstream_start(w->w, w->t, 1, head.data, head.len, TT_UP_WITH_BODY, &up_cbs, w);
    tt_buf_deinit(&head);
    if (!w->up) {
        set_timer(w, WOH_T_FAIL, 0);
        return;
    }
    tt_upstream_send(w->up, w->body.data, w->body.len);
    tt_upstream_send_end(w->up);
}

/* Build the next request (OPEN, DISCONNECT, or what is queued with a CLOSE when due)
 * and send it (Pushpin's update). */
static void start_request(struct woh_be *w)
{
    stop_timer(w);
    w->busy = true;
    w->refresh = false;
    tt_buf_deinit(&w->body);
    w->replayed = 0;
    w->queue_req = false;
    if (w->state == WOH_OPENING) {
        tt_ws_events_append(&w->body, TT_WS_EV_OPEN, false, NULL, 0);
    } else if (w->disconnecting && !w->disconnect_sent) {
        tt_ws_events_append(&w->body, TT_WS_EV_DISCONNECT, false, NULL, 0);
        w->disconnect_sent = true;
    } else {
        struct tt_woh_close close = {w->close_code, w->close_reason, w->close_len};
        w->queue_req = true;
        w->replayed = w->out.replay_content;
        tt_woh_out_build(&w->out, w->t->one_event ? 1 : 0,
                         w->close_pending && !w->close_sent ? &close : NULL, &w->body);
        w->replayed = TT_MIN(w->replayed, w->out.req_content);
    }
    send_body(w);
}

/* Send when due, a loop turn from now: messages read together go in one request. */
static void kick(struct woh_be *w)
{
    if (w->freed || w->busy || w->timer_mode == WOH_T_KICK || !want_request(w))
        return;
    set_timer(w, WOH_T_KICK, 0);
}

/* The exchange is over and nothing else is under way: send more, or wait. */
static void idle(struct woh_be *w)
{
    w->busy = false;
    tt_buf_deinit(&w->body); /* no buffer while nothing is under way */
    if (w->freed)
        return;
    if (w->orphan) {
        if (want_request(w))
            start_request(w);
        else
            release(w);
        return;
    }
    if (want_request(w))
        start_request(w);
    else if (w->keepalive > 0 && (w->state == WOH_OPEN || w->state == WOH_OPENING))
        set_timer(w, WOH_T_KEEPALIVE, (uint64_t)w->keepalive * 1000);
}

/* ---- failures ---- */

/* A failure the client cannot survive (after the open): drop it, no close frame. */
static void drop_client(struct woh_be *w, const char *why)
{
    w->state = WOH_DONE;
    if (w->orphan || !w->b.s) {
        release(w);
        return;
    }
    tt_ws_session_backend_gone(w->b.s, why); /* frees us */
}

/* The OPEN exchange failed: the client gets a 502 (or the next target is tried). */
static void open_failed(struct woh_be *w, bool connect, const char *why)
{
    w->state = WOH_DONE;
    tt_ws_session_failed(w->b.s, connect, why); /* frees us */
}

/* ---- responses ---- */

static int up_on_head(void *ctx, const struct tt_h1_response *resp)
{
    struct woh_be *w = ctx;
    if (w->orphan)
        return 0; /* read to the end and ignored: only its completion matters */
    int i = tt_h1_find_header(resp->headers, resp->num_headers, "Content-Type", 0);
    bool ok = resp->status == 200 && i >= 0 &&
              tt_woh_is_events_type(resp->headers[i].value, resp->headers[i].value_len);
    if (!ok && w->state != WOH_OPENING) {
        tt_info("c%llu: websocket-over-http: backend %s:%u answered %d%s; dropping the client",
                (unsigned long long)w->id, w->t->host, w->t->port, resp->status,
                resp->status == 200 ? " without Content-Type application/websocket-events" : "");
        w->up = NULL;
        drop_client(w, "bad response from the backend");
        return 1;
    }
    w->resp_head = tt_h1_response_dup(resp, &w->resp_raw);
    /* A rejection's body is relayed cut to 100000 bytes; an events body over 1000000 is an
     * error. */
    w->rejecting = !ok;
    tt_buf_init(&w->resp_body, ok ? TT_WOH_MAX_RESPONSE : TT_WOH_MAX_REJECT_BODY);
    return 0;
}

static void up_on_data(void *ctx, const char *data, size_t len)
{
    struct woh_be *w = ctx;
    w->resp_total += len;
    if (w->orphan) {
        if (w->resp_total > TT_WOH_MAX_RESPONSE)
            release(w); /* an answer nobody reads is not read forever either */
        return;
    }
    if (w->resp_total > TT_WOH_MAX_RESPONSE) {
        tt_warn("c%llu: websocket-over-http: response body from %s:%u over %d bytes",
                (unsigned long long)w->id, w->t->host, w->t->port, TT_WOH_MAX_RESPONSE);
        tt_upstream_abort(w->up);
        w->up = NULL;
        if (w->state == WOH_OPENING)
            open_failed(w, false, "WebSocket-over-HTTP response too large from origin.");
        else
            drop_client(w, "response too large");
        return;
    }
    size_t room = w->resp_body.cap - w->resp_body.len;
    tt_buf_append(&w->resp_body, data, TT_MIN(len, room));
}

static void reject(struct woh_be *w)
{
    struct tt_resp r;
    tt_resp_init(&r, w->resp_head->status);
    tt_resp_from_h1(&r, w->resp_head);
    tt_buf_append(&r.body, w->resp_body.data, w->resp_body.len);
    clear_response(w);
    w->state = WOH_DONE;
    tt_ws_session_rejected(w->b.s, &r); /* frees us */
    tt_resp_deinit(&r);
}

/* Apply Keep-Alive-Interval and Set-Meta-* of the response. */
static void take_headers(struct woh_be *w, const struct tt_h1_response *h)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tt_h1_header *x = &h->headers[i];
        if (tt_strieq(x->name, x->name_len, "Keep-Alive-Interval")) {
            w->keepalive = tt_woh_keepalive_interval(x->value, x->value_len);
        } else if (x->name_len > 9 && tt_strihas_prefix(x->name, x->name_len, "Set-Meta-")) {
            int r = tt_woh_meta_set(&w->meta, x->name + 9, x->name_len - 9, x->value,
                                    x->value_len);
            if (r == TT_ETOOBIG)
                tt_warn("c%llu: websocket-over-http: %.*s ignored: over %d meta values or %d "
                        "bytes",
                        (unsigned long long)w->id, (int)TT_MIN(x->name_len, 100), x->name,
                        TT_WOH_META_MAX_ITEMS, TT_WOH_META_MAX_BYTES);
            else if (r < 0)
                tt_warn("c%llu: websocket-over-http: invalid %.*s ignored",
                        (unsigned long long)w->id, (int)TT_MIN(x->name_len, 100), x->name);
        }
    }
}

/* The client's 101: the OPEN response's headers minus the protocol's own. */
static void accept_client(struct woh_be *w, const struct tt_h1_response *h)
{
    struct tt_kv *kv = tt_calloc(h->num_headers ? h->num_headers : 1, sizeof(*kv));
    size_t n = 0;
    struct tt_ws_grip_ext grip = {0};
    bool offer_grip = !w->b.s->route->no_grip;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tt_h1_header *x = &h->headers[i];
        if (offer_grip && tt_strieq(x->name, x->name_len, "Sec-WebSocket-Extensions"))
            tt_ws_grip_ext_scan(x->value, x->value_len, &grip);
        if (!tt_woh_forward_header(x->name, x->name_len))
            continue;
        kv[n].name = tt_strndup(x->name, x->name_len);
        kv[n].value = tt_strndup(x->value, x->value_len);
        n++;
    }
    w->state = WOH_OPEN;
    tt_ws_session_accepted(w->b.s, kv, n, &grip);
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

static int ws_opcode(enum tt_ws_event_type t)
{
    switch (t) {
    case TT_WS_EV_TEXT:
        return TT_WS_OP_TEXT;
    case TT_WS_EV_BINARY:
        return TT_WS_OP_BINARY;
    case TT_WS_EV_PING:
        return TT_WS_OP_PING;
    case TT_WS_EV_PONG:
        return TT_WS_OP_PONG;
    default:
        return -1;
    }
}

/* The session let go of us while we were delivering: finish as an orphan. */
static void orphaned_midway(struct woh_be *w)
{
    if (w->freed)
        return;
    clear_response(w);
    idle(w);
}

/* A whole 200 application/websocket-events answer (Pushpin's req_readyRead). */
static void handle_events(struct woh_be *w)
{
    const struct tt_h1_response *h = w->resp_head;
    const char *body = w->resp_body.data ? w->resp_body.data : "";
    size_t len = w->resp_body.len;
    bool opening = w->state == WOH_OPENING;
    take_headers(w, h);
    int i = tt_h1_find_header(h->headers, h->num_headers, "Content-Bytes-Accepted", 0);
    int64_t accepted = i >= 0 ? tt_woh_accepted(h->headers[i].value, h->headers[i].value_len) : -1;
    bool was_full = w->out.content >= TT_WOH_MAX_CONTENT;
    if (!opening) {
        bool close_sent = false;
        const char *why = NULL;
        if (tt_woh_out_ack(&w->out, accepted, &close_sent, &why) < 0) {
            tt_info("c%llu: websocket-over-http: %s; dropping the client",
                    (unsigned long long)w->id, why);
            drop_client(w, why);
            return;
        }
        w->close_sent = w->close_sent || close_sent;
    }
    int nev = tt_ws_events_count(body, len, TT_WOH_MAX_RESPONSE);
    if (nev < 0) {
        tt_info("c%llu: websocket-over-http: undecodable events from %s:%u; %s",
                (unsigned long long)w->id, w->t->host, w->t->port,
                opening ? "answering 502" : "dropping the client");
        if (opening)
            open_failed(w, false, "Invalid WebSocket-over-HTTP response from origin.");
        else
            drop_client(w, "undecodable events");
        return;
    }
    size_t pos = 0;
    struct tt_ws_event ev;
    if (opening) {
        if (nev == 0 && w->keepalive < 0) {
            tt_info("c%llu: websocket-over-http: OPEN answered with no events and no "
                    "Keep-Alive-Interval; answering 502",
                    (unsigned long long)w->id);
            open_failed(w, false, "WebSocket-over-HTTP origin did not open.");
            return;
        }
        if (nev == 0) {
            /* Not decided yet: OPEN is asked again after the keep-alive interval. */
            clear_response(w);
            idle(w);
            return;
        }
        tt_ws_events_next(body, len, &pos, &ev);
        if (ev.type != TT_WS_EV_OPEN) {
            tt_info("c%llu: websocket-over-http: answer to OPEN starts with %.*s; answering 502",
                    (unsigned long long)w->id, (int)TT_MIN(ev.name_len, 64), ev.name);
            open_failed(w, false, "WebSocket-over-HTTP origin did not open.");
            return;
        }
        accept_client(w, h);
        if (let_go(w)) {
            orphaned_midway(w);
            return;
        }
    }
    bool closed = false, gone = false;
    int code = -1;
    const uint8_t *reason = NULL;
    size_t reason_len = 0;
    const char *gone_why = NULL;
    while (!closed && !gone && tt_ws_events_next(body, len, &pos, &ev) == 1) {
        int op = ws_opcode(ev.type);
        if (op >= 0) {
            tt_ws_session_backend_message(w->b.s, (unsigned)op, ev.content, ev.content_len);
            if (let_go(w)) {
                orphaned_midway(w);
                return;
            }
        } else if (ev.type == TT_WS_EV_CLOSE) {
            tt_ws_events_close_parse(&ev, &code, &reason, &reason_len);
            closed = true;
        } else if (ev.type == TT_WS_EV_DISCONNECT) {
            gone = true;
            gone_why = "the backend sent DISCONNECT";
        } else if (ev.type == TT_WS_EV_OPEN) {
            gone = true;
            gone_why = "the backend sent OPEN again";
        } else {
            tt_debug("c%llu: websocket-over-http: unknown event %.*s ignored",
                     (unsigned long long)w->id, (int)TT_MIN(ev.name_len, 64), ev.name);
        }
    }
    if (was_full && w->out.content < TT_WOH_MAX_CONTENT) {
        tt_ws_session_backend_drained(w->b.s);
        if (let_go(w)) {
            orphaned_midway(w);
            return;
        }
    }
    if (closed) {
        if (!w->close_sent) {
            /* The backend closed first: the session closes the client and lets go of us;
             * our CLOSE in answer (with its code) goes from the orphan. */
            w->close_pending = true;
            w->close_code = code;
            free(w->close_reason);
            w->close_reason = NULL;
            w->close_len = 0;
            if (code >= 0 && reason_len) {
                w->close_reason = tt_malloc(reason_len);
                memcpy(w->close_reason, reason, reason_len);
                w->close_len = reason_len;
            }
        } else {
            w->state = WOH_DONE;
        }
        /* reason points into the body: copy it out before the body goes. */
        uint8_t why[TT_WS_MAX_CONTROL];
        size_t wl = tt_ws_utf8_cut((const char *)reason, reason_len);
        if (wl)
            memcpy(why, reason, wl);
        clear_response(w);
        tt_ws_session_backend_closed(w->b.s, code, why, wl);
        if (w->orphan && !w->freed)
            orphaned_midway(w);
        return;
    }
    if (!gone && w->close_sent && w->keepalive < 0) {
        /* Without keep-alives the backend had one chance to answer our CLOSE. */
        gone = true;
        gone_why = "no CLOSE in answer to ours";
    }
    if (gone) {
        tt_info("c%llu: websocket-over-http: %s; dropping the client", (unsigned long long)w->id,
                gone_why);
        drop_client(w, gone_why);
        return;
    }
    w->retries = 0;
    clear_response(w);
    idle(w);
}

static void up_on_end(void *ctx)
{
    struct woh_be *w = ctx;
    w->up = NULL;
    if (w->orphan) {
        /* Its answer no longer matters: what the request carried counts as delivered. */
        clear_response(w);
        if (w->queue_req) {
            bool close_sent = false;
            const char *why;
            tt_woh_out_ack(&w->out, -1, &close_sent, &why);
            w->close_sent = w->close_sent || close_sent;
        }
        idle(w);
        return;
    }
    if (w->rejecting) {
        w->rejecting = false;
        reject(w);
        return;
    }
    handle_events(w);
}

static void up_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    struct woh_be *w = ctx;
    w->up = NULL;
    clear_response(w);
    if (w->state == WOH_OPENING && !w->orphan) {
        if (err == TT_UP_ERR_CONNECT)
            open_failed(w, true, "connect failed");
        else if (err == TT_UP_ERR_BLOCKED)
            open_failed(w, false, "Error: Origin host/IP blocked.");
        else
            open_failed(w, false, "Error while proxying to origin.");
        return;
    }
    /* Not reached, or failed before any answer: the exchange can be tried again. A request
     * that may have arrived whole is marked replayed. Timeouts, truncated answers and
     * blocked targets are final. */
    bool retry = err == TT_UP_ERR_CONNECT || err == TT_UP_ERR_FAILED;
    if (retry && w->retries < WOH_RETRY_MAX && !w->w->stopping) {
        if (err == TT_UP_ERR_FAILED && w->queue_req) {
            tt_woh_out_replayed(&w->out);
            w->replayed = w->out.req_content;
        }
        uint64_t delay = ((uint64_t)WOH_RETRY_BASE_MS << w->retries) +
                         (uint64_t)(rand() % WOH_RETRY_RAND_MS);
        w->retries++;
        /* Debug only: a backend restart makes every connection say this. */
        tt_debug("c%llu: websocket-over-http: request to %s failed (%s); retry %d of %d in %llu ms",
                (unsigned long long)w->id, tried,
                err == TT_UP_ERR_CONNECT ? "connect" : "no answer", w->retries, WOH_RETRY_MAX,
                (unsigned long long)delay);
        set_timer(w, WOH_T_RETRY, delay);
        return;
    }
    tt_warn("c%llu: websocket-over-http: request to %s failed for good (%s)%s",
            (unsigned long long)w->id, tried,
            err == TT_UP_ERR_TIMEOUT     ? "timeout"
            : err == TT_UP_ERR_TRUNCATED ? "answer cut short"
            : err == TT_UP_ERR_BLOCKED   ? "blocked"
                                         : "unreachable",
            w->orphan ? "" : "; dropping the client");
    w->busy = false;
    drop_client(w, "backend unreachable");
}

static const struct tt_upstream_cbs up_cbs = {
    .on_head = up_on_head,
    .on_data = up_on_data,
    .on_end = up_on_end,
    .on_error = up_on_error,
};

static void on_timer(uv_timer_t *t)
{
    struct woh_be *w = t->data;
    enum woh_timer mode = (enum woh_timer)w->timer_mode;
    w->timer_mode = WOH_T_NONE;
    if (w->freed)
        return;
    switch (mode) {
    case WOH_T_KICK:
        if (want_request(w))
            start_request(w);
        else if (!w->busy && w->keepalive > 0)
            set_timer(w, WOH_T_KEEPALIVE, (uint64_t)w->keepalive * 1000);
        break;
    case WOH_T_KEEPALIVE:
        if (!w->busy && (w->state == WOH_OPEN || w->state == WOH_OPENING))
            start_request(w); /* a keep-alive goes even to a congested client, as Pushpin */
        break;
    case WOH_T_RETRY:
        send_body(w);
        break;
    case WOH_T_FAIL:
        w->busy = false;
        if (w->state == WOH_OPENING && !w->orphan)
            open_failed(w, false, "no usable target");
        else
            drop_client(w, "no usable target");
        break;
    case WOH_T_NONE:
        break;
    }
}

/* ---- the session's ops ---- */

static void woh_start(struct tt_ws_backend *b)
{
    struct woh_be *w = of(b);
    struct tt_ws_session *s = b->s;
    w->sign = !s->trusted && !s->route->no_grip;
    struct tt_buf head, base;
    tt_buf_init(&head, 0);
    tt_buf_init(&base, 0);
    tt_ws_session_backend_head(s, w->t, "POST", false, &head);
    tt_woh_base_head(head.data, head.len, w->sign, s->cid, !s->route->no_grip, &base);
    tt_buf_deinit(&head);
    /* Kept for the connection's life: exactly its size. */
    char *b0 = tt_buf_steal(&base, &w->base_len);
    w->base = tt_realloc(b0, w->base_len + 1);
    start_request(w);
}

static void woh_message(struct tt_ws_backend *b, unsigned opcode, const uint8_t *data, size_t len)
{
    struct woh_be *w = of(b);
    if (w->state != WOH_OPEN || w->close_pending || w->orphan)
        return;
    if (len > TT_WOH_MAX_CONTENT) {
        /* It could never fit in a request (Pushpin fails the connection). */
        tt_info("c%llu: websocket-over-http: client message of %zu bytes is over %d; closing "
                "with 1009",
                (unsigned long long)w->id, len, TT_WOH_MAX_CONTENT);
        static const char why[] = "message too big";
        w->close_pending = true;
        w->close_code = 1009;
        tt_ws_session_backend_closed(b->s, 1009, (const uint8_t *)why, sizeof(why) - 1);
        return;
    }
    tt_woh_out_push(&w->out, opcode, data, len);
    kick(w);
}

static void woh_close(struct tt_ws_backend *b, int code, const uint8_t *reason, size_t len)
{
    struct woh_be *w = of(b);
    if (w->state != WOH_OPEN || w->close_pending || w->orphan)
        return;
    w->close_pending = true;
    w->close_code = code;
    if (code >= 0 && len) {
        w->close_reason = tt_malloc(len);
        memcpy(w->close_reason, reason, len);
        w->close_len = len;
    }
    kick(w);
}

static bool woh_congested(struct tt_ws_backend *b)
{
    struct woh_be *w = of(b);
    return w->state == WOH_OPEN && w->out.content >= TT_WOH_MAX_CONTENT;
}

static void woh_client_drained(struct tt_ws_backend *b)
{
    kick(of(b));
}

static void woh_refresh(struct tt_ws_backend *b)
{
    struct woh_be *w = of(b);
    if (w->state != WOH_OPEN || w->disconnecting || w->orphan)
        return;
    w->refresh = true;
    kick(w);
}

/* The session lets go. An open backend is told (DISCONNECT when the client vanished, else a
 * CLOSE unless ours went already) on our own time; a request in flight ends first. */
static void woh_free(struct tt_ws_backend *b, bool disconnect)
{
    struct woh_be *w = of(b);
    struct tt_ws_session *s = b->s;
    if (w->freed || w->orphan)
        return;
    /* At shutdown nothing may outlive the worker's loop for long: no last request. */
    bool can = w->state == WOH_OPEN && s && s->c->req && s->c->req->routes && !w->w->stopping;
    bool tell = disconnect || !w->close_sent;
    if (!can || (!tell && !w->busy)) {
        release(w);
        return;
    }
    w->orphan = true;
    w->routes = s->c->req->routes;
    tt_routes_ref(w->routes);
    if (w->sign) {
        /* Signed now: a token lasts an hour, far longer than this will take. */
        struct tt_buf base;
        tt_buf_init(&base, 0);
        tt_buf_append(&base, w->base, w->base_len);
        sig_line(s, &base);
        free(w->base);
        w->base = tt_buf_steal(&base, &w->base_len);
        w->sign = false;
    }
    b->s = NULL;
    if (disconnect) {
        w->disconnecting = true;
        tt_woh_out_clear(&w->out);
    } else if (!w->close_pending && !w->close_sent) {
        w->close_pending = true;
        w->close_code = -1;
    }
    if (w->timer_mode != WOH_T_RETRY)
        stop_timer(w);
    if (!w->busy)
        idle(w);
}

static const struct tt_ws_backend_ops woh_ops = {
    .start = woh_start,
    .message = woh_message,
    .close = woh_close,
    .congested = woh_congested,
    .client_drained = woh_client_drained,
    .refresh = woh_refresh,
    .free = woh_free,
};

struct tt_ws_backend *tt_ws_woh_new(struct tt_ws_session *s, const struct tt_route_target *t)
{
    struct woh_be *w = tt_calloc(1, sizeof(*w));
    w->b.ops = &woh_ops;
    w->b.s = s;
    w->w = tt_ws_session_worker(s);
    w->t = t;
    w->id = s->id;
    w->keepalive = -1;
    w->close_code = -1;
    w->state = WOH_OPENING;
    tt_buf_init(&w->meta, 0);
    tt_buf_init(&w->body, 0);
    tt_buf_init(&w->resp_body, 0);
    tt_woh_out_init(&w->out);
    uv_timer_init(&w->w->loop, &w->timer);
    w->timer.data = w;
    return &w->b;
}

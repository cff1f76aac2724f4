#include "proxy/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/log.h"
#include "grip/grip.h"
#include "net/tls.h"
#include "ws/handshake.h"
#include "proxy/cors.h"
#include "proxy/forward.h"
#include "proxy/held.h"
#include "proxy/jsonp.h"
#include "proxy/links.h"
#include "proxy/testhandler.h"
#include "proxy/upstream.h"

#define CLIENT_OUT_HIGH (256 * 1024) /* pause the backend above this much queued output */
#define BODY_COPY_MAX 100000
/* At shutdown, how long a connection that was accepted but has sent nothing yet may take
 * to deliver its request head (its client has just connected, so it is on its way). */
#define SHUTDOWN_GRACE_MS 1000

static void process_input(struct tt_client *c);
static void process_input_loop(struct tt_client *c);
static void tls_step(struct tt_client *c);
static void h2_take_over(struct tt_client *c);
static bool h2_preface(struct tt_client *c);

static void count_error(struct tt_client *c, enum tt_err_kind kind)
{
    c->w->wstats.cur.errors[kind]++;
    tt_wstats_touch(&c->w->wstats);
}

static void on_conn_closed(struct tt_conn *conn)
{
    struct tt_client *c = TT_CONTAINER_OF(conn, struct tt_client, conn);
    tt_buf_deinit(&c->in);
    free(c);
}

static void exchange_free(struct tt_req_exchange *x)
{
    if (!x)
        return;
    free(x->bk_head);
    free(x->origin);
    free(x->acr_method);
    free(x->acr_headers);
    tt_buf_deinit(&x->body_copy);
    free(x->grip_head);
    free(x->grip_head_raw);
    tt_buf_deinit(&x->grip_body);
    free(x);
}

/* Auto cross-origin is on for the request's route (route `aco` or the config key). */
static bool cors_on(const struct tt_client *c, const struct tt_req *q)
{
    return q->route && (q->route->aco || c->w->srv->cfg.auto_cross_origin);
}

/* Auto cross-origin headers on r, from the request's CORS values (none once the request
 * became a stream: its head is out). */
static void cors_apply(const struct tt_req *q, struct tt_resp *r)
{
    const struct tt_req_exchange *x = q->ex;
    tt_cors_apply(r, x ? x->origin : NULL, x ? x->acr_method : NULL, x ? x->acr_headers : NULL);
}

static void req_free(struct tt_client *c, struct tt_req *r)
{
    if (!r)
        return;
    if (r->rid) {
        tt_idmap_remove(&c->w->requests, r->rid);
        tt_wstats_conn_close(&c->w->wstats, &r->sconn);
    }
    if (r->jsonp) {
        tt_jsonp_deinit(r->jsonp);
        free(r->jsonp);
    }
    free(r->gone_link);
    if (r->early_grip) {
        tt_grip_deinit(r->early_grip);
        free(r->early_grip);
    }
    if (r->up)
        tt_upstream_abort(r->up);
    if (r->routes)
        tt_routes_unref(r->routes);
    exchange_free(r->ex);
    free(r->from);
    free(r->ua);
    free(r);
}

/* The access line's parts around its bytes and time (see tt__access_line). */
static void log_head(const struct tt_client *c, const struct tt_req *r, char *out, size_t size)
{
    char path[512];
    tt_log_escape(r->path ? r->path : "", r->path ? strlen(r->path) : 0, path, sizeof(path));
    snprintf(out, size, "c%llu %s %s %s -> %s status=%d", (unsigned long long)c->id, c->peer,
             r->method, path, r->route_name ? r->route_name : "-", r->status);
}

static void log_tail(const struct tt_req *r, char *out, size_t size)
{
    char from[96] = "", ua[300] = "";
    if (r->from) {
        char esc[80];
        snprintf(from, sizeof(from), " from=%s",
                 tt_log_escape(r->from, strlen(r->from), esc, sizeof(esc)));
    }
    if (r->ua) {
        char esc[280];
        snprintf(ua, sizeof(ua), " ua=\"%s\"", tt_log_escape(r->ua, strlen(r->ua), esc, sizeof(esc)));
    }
    snprintf(out, size, "%s%s", from, ua);
}

#define LOG_HEAD_MAX 900
#define LOG_TAIL_MAX 400

static void access_log(struct tt_client *c)
{
    struct tt_req *r = c->req;
    if (!r || r->logged || !TT_LOG_ON(TT_LOG_INFO))
        return;
    r->logged = true;
    char head[LOG_HEAD_MAX], tail[LOG_TAIL_MAX];
    log_head(c, r, head, sizeof(head));
    log_tail(r, tail, sizeof(tail));
    tt__access_line(head, r->bytes_out, r->start_ms, tail);
}

void tt_client_close(struct tt_client *c)
{
    if (c->state == TT_C_CLOSING)
        return;
    access_log(c);
    c->state = TT_C_CLOSING;
    if (c->sink.session) {
        struct tt_client_session *s = c->sink.session;
        c->sink.session = NULL;
        s->ops->free(s);
    }
    tt_links_post_gone(c);
    req_free(c, c->req);
    c->req = NULL;
    tt_list_remove(&c->link);
    struct tt_worker *w = c->w;
    w->num_clients--;
    tt_worker_client_closed(w);
    tt_client_timer_stop(c);
    tt_conn_close(&c->conn, on_conn_closed);
}

bool tt_client_flush(struct tt_client *c)
{
    if (c->state == TT_C_CLOSING)
        return false;
    if (c->state == TT_C_H2)
        return c->sink.session->ops->flush(c->sink.session);
    int r = tt_conn_flush(&c->conn);
    if (r < 0 && r != TT_EAGAIN) {
        tt_debug("c%llu: write failed: %s", (unsigned long long)c->id, tt_strerror(r));
        tt_client_close(c);
        return false;
    }
    /* Whichever flush brings the queue down resumes a backend paused for it. Not only the
     * writable event's: the flush of the turn's dirty clients can drain a queue that was
     * over the mark moments before, and then no writable event ever comes. */
    if (c->req && c->req->up && c->conn.out_bytes < CLIENT_OUT_HIGH / 2 &&
        tt_upstream_paused(c->req->up))
        tt_upstream_pause(c->req->up, false);
    return true;
}

void tt_client_flush_later(struct tt_client *c)
{
    struct tt_worker *w = c->w;
    if (c->dirty)
        return;
    if (w->num_dirty == w->dirty_alloc) {
        w->dirty_alloc = w->dirty_alloc ? w->dirty_alloc * 2 : 64;
        w->dirty = tt_realloc(w->dirty, w->dirty_alloc * sizeof(*w->dirty));
    }
    c->dirty = true;
    w->dirty[w->num_dirty++] = c;
}

void tt_client_flush_dirty(struct tt_worker *w)
{
    /* Clients closed meanwhile are still allocated: they are freed by close callbacks,
     * which run after this batch. */
    for (size_t i = 0; i < w->num_dirty; i++) {
        struct tt_client *c = w->dirty[i];
        c->dirty = false;
        tt_client_flush(c);
    }
    w->num_dirty = 0;
}

static void on_head_timeout(struct tt_wtimer *t)
{
    struct tt_client *c = tt_client_of_timer(t);
    if (c->state == TT_C_HEAD) {
        tt_debug("c%llu: request head timeout, closing", (unsigned long long)c->id);
        tt_client_close(c);
    }
}

static void arm_head_timer(struct tt_client *c)
{
    tt_client_timer_start(c, on_head_timeout, (uint64_t)c->w->srv->cfg.head_timeout_ms);
}

/* The current request is complete on our side: log, reset, go on with the next. */
static void end_request(struct tt_client *c, bool keep_alive)
{
    access_log(c);
    bool ka = keep_alive && c->req && c->req->keep_alive && c->req->body_done;
    tt_links_post_gone(c);
    req_free(c, c->req);
    c->req = NULL;
    if (!ka) {
        /* Let queued output go out, then close (see on_io). */
        if (tt_conn_flush(&c->conn) == TT_EAGAIN) {
            c->state = TT_C_RESP;
            c->close_after_flush = true;
            c->read_paused = true;
            tt_conn_set_read(&c->conn, false);
            return;
        }
        tt_client_close(c);
        return;
    }
    c->state = TT_C_HEAD;
    arm_head_timer(c);
    c->read_paused = false;
    tt_conn_set_read(&c->conn, true);
    if (c->in.len && !c->in_process)
        process_input(c);
}

static void queue_out(struct tt_client *c, const char *data, size_t len)
{
    if (c->req)
        c->req->bytes_out += len;
    tt_conn_write(&c->conn, data, len);
}

static void send_resp_raw(struct tt_client *c, const struct tt_resp *r);

void tt_client_send_resp(struct tt_client *c, const struct tt_resp *r)
{
    struct tt_req *q = c->req;
    if (!q || !q->jsonp) {
        send_resp_raw(c, r);
        return;
    }
    struct tt_resp in, out;
    tt_resp_copy(&in, r);
    if (!q->jsonp_handler_style && !tt_resp_get_header(&in, "Content-Length")) {
        /* The proxy's wrapper lists the backend's Content-Length among the headers. */
        char n[24];
        snprintf(n, sizeof(n), "%zu", in.body.len);
        tt_resp_add_header(&in, "Content-Length", n);
    }
    if (tt_jsonp_wrap(q->jsonp, &in, q->jsonp_handler_style, &out) != 0) {
        tt_resp_deinit(&in);
        tt_resp_text(&out, 500, "Upstream response could not be JSON-P encoded.\n");
        send_resp_raw(c, &out);
        tt_resp_deinit(&out);
        return;
    }
    tt_resp_deinit(&in);
    send_resp_raw(c, &out);
    tt_resp_deinit(&out);
}

static void send_resp_raw(struct tt_client *c, const struct tt_resp *r)
{
    struct tt_req *q = c->req;
    struct tt_buf out;
    tt_buf_init(&out, 0);
    bool ka = q && q->keep_alive && q->body_done;
    struct tt_resp tmp;
    const struct tt_resp *send = r;
    if (q && !(q->jsonp && r->status == 200) && cors_on(c, q)) {
        tt_resp_copy(&tmp, r);
        cors_apply(q, &tmp);
        send = &tmp;
    }
    tt_resp_render(send, q ? q->minor_version : 1, ka, q && q->is_head, &out);
    if (send == &tmp)
        tt_resp_deinit(&tmp);
    if (q) {
        q->status = r->status;
        q->head_sent = true;
    }
    size_t len;
    char *b = tt_buf_steal(&out, &len);
    if (q)
        q->bytes_out += len;
    tt_conn_write_owned(&c->conn, b, b, len);
    if (!tt_client_flush(c))
        return;
    end_request(c, ka);
}

static void send_error(struct tt_client *c, int status, const char *body, bool close_after)
{
    struct tt_resp r;
    tt_resp_text(&r, status, body);
    if (close_after && c->req)
        c->req->keep_alive = false;
    if (!c->req) {
        struct tt_buf out;
        tt_buf_init(&out, 0);
        tt_resp_render(&r, 1, false, false, &out);
        size_t len;
        char *b = tt_buf_steal(&out, &len);
        tt_conn_write_owned(&c->conn, b, b, len);
        tt_resp_deinit(&r);
        if (tt_client_flush(c)) {
            c->state = TT_C_RESP;
            end_request(c, false);
        }
        return;
    }
    send_resp_raw(c, &r);
    tt_resp_deinit(&r);
}

bool tt_client_stream_chunked(const struct tt_client *c)
{
    return c->req && c->req->resp_chunked;
}

/* A response head to render: borrowed views of the status line and headers, from a
 * parsed backend response or from a tt_resp, so the hot pass-through path copies nothing
 * before it writes. */
#define HEAD_VIEW_MAX (TT_H1_MAX_HEADERS + 16)
struct head_view {
    int status;
    const char *reason;
    size_t reason_len;
    size_t n;
    struct tt_h1_header h[HEAD_VIEW_MAX];
};

static void view_from_h1(struct head_view *v, const struct tt_h1_response *r)
{
    v->status = r->status;
    v->reason = r->reason;
    v->reason_len = r->reason_len;
    v->n = 0;
    /* Fields the backend names in Connection are for its hop only (RFC 9110 7.6.1). */
    bool conn = tt_h1_find_header(r->headers, r->num_headers, "Connection", 0) >= 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct tt_h1_header *x = &r->headers[i];
        if (tt_h1_is_hop_by_hop(x->name, x->name_len) ||
            tt_strieq(x->name, x->name_len, "Content-Length") ||
            (conn && tt_h1_named_in_connection(r->headers, r->num_headers, x->name, x->name_len)))
            continue;
        v->h[v->n++] = *x;
    }
}

static void view_from_resp(struct head_view *v, const struct tt_resp *r)
{
    v->status = r->status;
    v->reason = tt_resp_reason(r);
    v->reason_len = strlen(v->reason);
    v->n = 0;
    for (size_t i = 0; i < r->num_headers && v->n < HEAD_VIEW_MAX; i++) {
        if (!tt_resp_header_renderable(r->headers[i].name, r->headers[i].value))
            continue;
        v->h[v->n].name = r->headers[i].name;
        v->h[v->n].name_len = strlen(r->headers[i].name);
        v->h[v->n].value = r->headers[i].value;
        v->h[v->n].value_len = strlen(r->headers[i].value);
        v->n++;
    }
}

/* Status line and headers, without the final empty line. */
static void render_view(struct tt_buf *out, int minor, const struct head_view *v)
{
    tt_buf_append(out, minor ? "HTTP/1.1 " : "HTTP/1.0 ", 9);
    tt_buf_append_uint(out, (uint64_t)v->status, 10);
    tt_buf_append(out, " ", 1);
    if (v->reason_len)
        tt_buf_append(out, v->reason, v->reason_len);
    else
        tt_buf_appends(out, tt_h1_reason(v->status));
    tt_buf_append(out, "\r\n", 2);
    for (size_t i = 0; i < v->n; i++) {
        tt_buf_append(out, v->h[i].name, v->h[i].name_len);
        tt_buf_append(out, ": ", 2);
        tt_buf_append(out, v->h[i].value, v->h[i].value_len);
        tt_buf_append(out, "\r\n", 2);
    }
}

/* A streamed response head: chunked to HTTP/1.1 clients, close-delimited to 1.0. */
static void render_stream_view(struct tt_client *c, const struct head_view *v,
                               struct tt_buf *out)
{
    struct tt_req *q = c->req;
    q->resp_chunked = q->minor_version >= 1;
    q->resp_close = !q->resp_chunked;
    if (q->resp_close)
        q->keep_alive = false;
    render_view(out, q->minor_version, v);
    if (q->resp_chunked)
        tt_buf_appends(out, "Transfer-Encoding: chunked\r\n");
    if (!q->keep_alive)
        tt_buf_appends(out, "Connection: close\r\n");
    tt_buf_append(out, "\r\n", 2);
    q->status = v->status;
    q->head_sent = true;
}

static void render_stream_head(struct tt_client *c, const struct tt_resp *r, struct tt_buf *out,
                               bool with_body)
{
    struct tt_req *q = c->req;
    struct head_view v;
    view_from_resp(&v, r);
    render_stream_view(c, &v, out);
    if (with_body && r->body.len && !q->is_head) {
        if (q->resp_chunked) {
            tt_buf_append_uint(out, r->body.len, 16);
            tt_buf_append(out, "\r\n", 2);
        }
        tt_buf_append(out, r->body.data, r->body.len);
        if (q->resp_chunked)
            tt_buf_append(out, "\r\n", 2);
    }
}

void tt_client_stream_start(struct tt_client *c, const struct tt_resp *r)
{
    struct tt_req *q = c->req;
    struct tt_resp tmp;
    const struct tt_resp *send = r;
    if (cors_on(c, q)) {
        tt_resp_copy(&tmp, r);
        cors_apply(q, &tmp);
        send = &tmp;
    }
    struct tt_buf out;
    tt_buf_init(&out, 0);
    render_stream_head(c, send, &out, true);
    if (send == &tmp)
        tt_resp_deinit(&tmp);
    size_t len;
    char *b = tt_buf_steal(&out, &len);
    q->bytes_out += len;
    tt_conn_write_owned(&c->conn, b, b, len);
    tt_client_flush(c);
}

void tt_client_stream_write(struct tt_client *c, struct tt_msg *msg, const char *data,
                            size_t len)
{
    if (c->req)
        c->req->bytes_out += len;
    if (msg)
        tt_conn_write_shared(&c->conn, &msg->shared, data, len);
    else
        tt_conn_write(&c->conn, data, len);
}

void tt_client_stream_end(struct tt_client *c)
{
    struct tt_req *q = c->req;
    if (q && q->resp_chunked)
        queue_out(c, "0\r\n\r\n", 5);
    if (!tt_client_flush(c))
        return;
    end_request(c, q && !q->resp_close);
}

/* ---- the client as a held stream's sink (sink.h) ------------------------------------ */

static struct tt_client *of_sink(struct tt_sink *k)
{
    return TT_CONTAINER_OF(k, struct tt_client, sink);
}

static void sink_write(struct tt_sink *k, struct tt_msg *msg, const char *data, size_t len)
{
    tt_client_stream_write(of_sink(k), msg, data, len);
}

static bool sink_chunked(const struct tt_sink *k)
{
    return tt_client_stream_chunked(TT_CONTAINER_OF(k, const struct tt_client, sink));
}

static void sink_flush_later(struct tt_sink *k)
{
    tt_client_flush_later(of_sink(k));
}

static bool sink_flush(struct tt_sink *k)
{
    return tt_client_flush(of_sink(k));
}

static bool sink_flush_pending(struct tt_sink *k)
{
    struct tt_client *c = of_sink(k);
    return !c->dirty || tt_client_flush(c);
}

static void sink_backlog(const struct tt_sink *k, size_t *items, size_t *bytes)
{
    const struct tt_client *c = TT_CONTAINER_OF(k, const struct tt_client, sink);
    *items = c->conn.out_count;
    *bytes = c->conn.out_bytes;
}

static void sink_end(struct tt_sink *k, bool clean)
{
    struct tt_client *c = of_sink(k);
    if (!clean) {
        tt_client_close(c); /* no terminal chunk: the client sees an unclean end */
        return;
    }
    c->state = TT_C_BODY;
    tt_client_stream_end(c);
}

static const struct tt_sink_ops client_sink_ops = {
    .write = sink_write,
    .chunked = sink_chunked,
    .flush_later = sink_flush_later,
    .flush = sink_flush,
    .flush_pending = sink_flush_pending,
    .backlog = sink_backlog,
    .end = sink_end,
};

struct tt_client *tt_client_of_sink(struct tt_sink *k)
{
    return k->ops == &client_sink_ops ? of_sink(k) : NULL;
}

/* ---- pass-through responses ------------------------------------------------------- */

static int up_on_head(void *ctx, const struct tt_h1_response *resp);
static void up_on_data(void *ctx, const char *data, size_t len);
static void up_on_end(void *ctx);
static void up_on_error(void *ctx, enum tt_up_error err, const char *tried);
static void up_on_drain(void *ctx);

static const struct tt_upstream_cbs up_cbs = {
    .on_head = up_on_head,
    .on_data = up_on_data,
    .on_end = up_on_end,
    .on_error = up_on_error,
    .on_drain = up_on_drain,
};

/* The client's response from a GRIP response: Grip-* headers never reach the client. */
static void grip_resp_from(const struct tt_h1_response *head, const char *body, size_t len,
                           struct tt_resp *resp)
{
    tt_resp_init(resp, 200);
    tt_resp_from_h1(resp, head);
    size_t o = 0;
    for (size_t i = 0; i < resp->num_headers; i++) {
        if (tt_strihas_prefix(resp->headers[i].name, strlen(resp->headers[i].name), "Grip-")) {
            free(resp->headers[i].name);
            free(resp->headers[i].value);
        } else {
            resp->headers[o++] = resp->headers[i];
        }
    }
    resp->num_headers = o;
    tt_buf_append(&resp->body, body, len);
}

/* The same from the buffered response, whose head and body are released. */
static void grip_resp(struct tt_req *q, struct tt_resp *resp)
{
    grip_resp_from(q->ex->grip_head, q->ex->grip_body.data, q->ex->grip_body.len, resp);
    free(q->ex->grip_head);
    q->ex->grip_head = NULL;
    free(q->ex->grip_head_raw);
    q->ex->grip_head_raw = NULL;
    tt_buf_deinit(&q->ex->grip_body);
}

/* A GRIP response body went over the buffer limit. A stream hold (not grip-instruct)
 * streams it: head and body so far now, the rest as it comes, then the hold. */
static bool grip_stream_early(struct tt_client *c)
{
    struct tt_req *q = c->req;
    struct tt_grip *g = tt_calloc(1, sizeof(*g));
    char err[256];
    int r = tt_grip_parse(q->ex->grip_head, NULL, 0, q->route ? q->route->prefix : NULL,
                          (size_t)c->w->srv->cfg.connection_subscription_max, g, err,
                          sizeof(err));
    if (r != 0 || g->hold != TT_HOLD_STREAM || g->has_response) {
        tt_grip_deinit(g);
        free(g);
        return false;
    }
    struct tt_resp resp;
    grip_resp(q, &resp);
    q->ex->buffering = false;
    q->early_grip = g;
    tt_grip_apply(g, &resp);
    tt_client_stream_start(c, &resp);
    tt_resp_deinit(&resp);
    return c->state != TT_C_CLOSING;
}

/* Act on a complete GRIP response (from a backend, or the test handler). */
static void grip_process(struct tt_client *c, const struct tt_h1_response *head,
                         const char *body, size_t len)
{
    struct tt_req *q = c->req;
    struct tt_grip g;
    char err[256];
    memset(&g, 0, sizeof(g));
    const char *prefix = q->route ? q->route->prefix : NULL;
    int r = tt_grip_parse(head, body, len, prefix,
                          (size_t)c->w->srv->cfg.connection_subscription_max, &g, err,
                          sizeof(err));
    if (r != 0) {
        count_error(c, TT_ERR_GRIP);
        tt_warn("c%llu: failed to parse accept instructions: %s", (unsigned long long)c->id,
                err);
        char msg[400];
        bool debug = c->w->srv->cfg.debug || (q->route && q->route->debug);
        if (debug)
            snprintf(msg, sizeof(msg), "Failed to parse accept instructions: %s\n", err);
        else
            snprintf(msg, sizeof(msg), "Error while proxying to origin.\n");
        tt_grip_deinit(&g);
        send_error(c, 502, msg, false);
        return;
    }
    struct tt_resp resp;
    grip_resp_from(head, body, len, &resp);
    c->w->srv->grip_start(c, &g, &resp);
    tt_grip_deinit(&g);
    tt_resp_deinit(&resp);
}

static void grip_complete(struct tt_client *c)
{
    struct tt_req *q = c->req;
    struct tt_h1_response *head = q->ex->grip_head;
    char *raw = q->ex->grip_head_raw;
    struct tt_buf body = q->ex->grip_body;
    q->ex->grip_head = NULL;
    q->ex->grip_head_raw = NULL;
    tt_buf_init(&q->ex->grip_body, 0);
    grip_process(c, head, body.data, body.len);
    free(head);
    free(raw);
    tt_buf_deinit(&body);
}

/* A parsed-response view of an in-memory response (borrowed pointers). */
static void h1_view_of(const struct tt_resp *r, struct tt_h1_response *h)
{
    memset(h, 0, sizeof(*h));
    h->minor_version = 1;
    h->status = r->status;
    h->reason = r->reason ? r->reason : tt_h1_reason(r->status);
    h->reason_len = strlen(h->reason);
    for (size_t i = 0; i < r->num_headers && h->num_headers < TT_H1_MAX_HEADERS; i++) {
        struct tt_h1_header *x = &h->headers[h->num_headers++];
        x->name = r->headers[i].name;
        x->name_len = strlen(r->headers[i].name);
        x->value = r->headers[i].value;
        x->value_len = strlen(r->headers[i].value);
    }
    h->framing.content_length = (int64_t)r->body.len;
    h->framing.keep_alive = true;
}

static int up_on_head(void *ctx, const struct tt_h1_response *resp)
{
    struct tt_client *c = ctx;
    struct tt_req *q = c->req;
    if (c->state == TT_C_HOLD && c->sink.session) {
        /* The answer to a held request asked again (hint, update, recover) replaces the
         * hold it was asked for. */
        struct tt_client_session *s = c->sink.session;
        c->sink.session = NULL;
        c->state = TT_C_BODY;
        s->ops->free(s);
    }
    q->target = tt_upstream_target(q->up);
    if (q->jsonp && !(q->grip && tt_grip_detect(resp))) {
        /* A JSON-P answer is wrapped whole. */
        q->ex->buffering = true;
        q->ex->jsonp_plain = true;
        q->ex->grip_head = tt_h1_response_dup(resp, &q->ex->grip_head_raw);
        tt_buf_init(&q->ex->grip_body, 1000000);
        return 0;
    }
    if (q->grip && tt_grip_detect(resp)) {
        if (q->ex->body_too_big) {
            q->up = NULL;
            send_error(c, 400, "Request too large to accept GRIP instruct.\n", true);
            return 1;
        }
        q->ex->buffering = true;
        q->ex->grip_head = tt_h1_response_dup(resp, &q->ex->grip_head_raw);
        tt_buf_init(&q->ex->grip_body, TT_GRIP_MAX_BODY);
        return 0;
    }
    /* Pass-through. */
    c->state = TT_C_RESP;
    struct head_view view, *v = &view;
    struct tt_resp r;
    bool cors = cors_on(c, q);
    if (cors) {
        tt_resp_init(&r, resp->status);
        tt_resp_from_h1(&r, resp);
        cors_apply(q, &r);
        view_from_resp(v, &r);
    } else {
        view_from_h1(v, resp);
    }
    struct tt_buf out;
    tt_buf_init(&out, 0);
    bool bodyless = q->is_head || resp->status == 204 || resp->status == 304;
    bool length = resp->framing.content_length >= 0 && !resp->framing.chunked;
    if (bodyless || length) {
        render_view(&out, q->minor_version, v);
        if (length && (!bodyless || q->is_head)) {
            /* Known length: keep it. */
            tt_buf_append(&out, "Content-Length: ", 16);
            tt_buf_append_uint(&out, (uint64_t)resp->framing.content_length, 10);
            tt_buf_append(&out, "\r\n", 2);
        }
        if (!q->keep_alive || !q->body_done)
            tt_buf_appends(&out, "Connection: close\r\n");
        else if (q->minor_version == 0)
            tt_buf_appends(&out, "Connection: keep-alive\r\n");
        tt_buf_append(&out, "\r\n", 2);
        q->status = resp->status;
        q->head_sent = true;
    } else {
        if (!q->body_done)
            q->keep_alive = false;
        render_stream_view(c, v, &out);
    }
    if (cors)
        tt_resp_deinit(&r);
    size_t len;
    char *b = tt_buf_steal(&out, &len);
    q->bytes_out += len;
    tt_conn_write_owned(&c->conn, b, b, len);
    /* Written with the first body bytes, or before the loop sleeps. */
    tt_client_flush_later(c);
    return 0;
}

static void up_on_data(void *ctx, const char *data, size_t len)
{
    struct tt_client *c = ctx;
    struct tt_req *q = c->req;
    if (q->ex && q->ex->buffering) {
        if (tt_buf_append(&q->ex->grip_body, data, len) != 0) {
            if (!q->ex->jsonp_plain && grip_stream_early(c)) {
                up_on_data(ctx, data, len);
                return;
            }
            if (c->state == TT_C_CLOSING)
                return;
            tt_warn("c%llu: GRIP instruct response too large", (unsigned long long)c->id);
            tt_upstream_abort(q->up);
            q->up = NULL;
            bool debug = c->w->srv->cfg.debug || (q->route && q->route->debug);
            send_error(c, 502,
                       debug ? "GRIP instruct response too large.\n"
                             : "Error while proxying to origin.\n",
                       false);
        }
        return;
    }
    if (q->resp_chunked) {
        char hex[24];
        int n = snprintf(hex, sizeof(hex), "%zx\r\n", len);
        char *b = tt_malloc((size_t)n + len + 2);
        memcpy(b, hex, (size_t)n);
        memcpy(b + n, data, len);
        memcpy(b + n + len, "\r\n", 2);
        tt_conn_write_owned(&c->conn, b, b, (size_t)n + len + 2);
        q->bytes_out += (size_t)n + len + 2;
    } else {
        queue_out(c, data, len);
    }
    if (c->conn.out_bytes > CLIENT_OUT_HIGH) {
        if (!tt_client_flush(c))
            return;
        if (c->conn.out_bytes > CLIENT_OUT_HIGH && q->up)
            tt_upstream_pause(q->up, true);
    } else {
        tt_client_flush_later(c);
    }
}

static void up_on_end(void *ctx)
{
    struct tt_client *c = ctx;
    struct tt_req *q = c->req;
    q->up = NULL;
    if (q->ex && q->ex->buffering) {
        q->ex->buffering = false;
        if (q->ex->jsonp_plain) {
            struct tt_resp resp;
            grip_resp(q, &resp);
            tt_client_send_resp(c, &resp);
            tt_resp_deinit(&resp);
            return;
        }
        grip_complete(c);
        return;
    }
    if (q->early_grip) {
        struct tt_grip *g = q->early_grip;
        struct tt_resp empty;
        q->early_grip = NULL;
        tt_resp_init(&empty, 200);
        c->w->srv->grip_start(c, g, &empty);
        tt_resp_deinit(&empty);
        tt_grip_deinit(g);
        free(g);
        return;
    }
    if (q->resp_chunked)
        queue_out(c, "0\r\n\r\n", 5);
    if (!tt_client_flush(c))
        return;
    end_request(c, !q->resp_close);
}

static void up_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    struct tt_client *c = ctx;
    struct tt_req *q = c->req;
    q->up = NULL;
    if (c->state == TT_C_HOLD) {
        /* A held request asked again could not be: it stays held as it was (a backend
         * restart must not cost a held client its place). */
        tt_warn("c%llu: could not ask %s again (%s); the client stays held",
                (unsigned long long)c->id, tried,
                err == TT_UP_ERR_CONNECT   ? "unreachable"
                : err == TT_UP_ERR_TIMEOUT ? "timeout"
                                           : "failed");
        return;
    }
    bool debug = c->w->srv->cfg.debug || (q->route && q->route->debug);
    if (q->head_sent && !(q->ex && q->ex->buffering)) {
        count_error(c, TT_ERR_BACKEND);
        tt_info("c%llu: backend failed mid-response; closing client without clean end",
                (unsigned long long)c->id);
        q->status = q->status ? q->status : 502;
        tt_client_close(c);
        return;
    }
    char msg[700];
    snprintf(msg, sizeof(msg), "Error while proxying to origin.\n");
    count_error(c, err == TT_UP_ERR_CONNECT ? TT_ERR_BACKEND_CONNECT
                   : err == TT_UP_ERR_TIMEOUT || err == TT_UP_ERR_UNREACHABLE
                       ? TT_ERR_BACKEND_TIMEOUT
                       : TT_ERR_BACKEND);
    if (err == TT_UP_ERR_CONNECT) {
        tt_warn("c%llu: unable to connect to any targets. Tried: %s", (unsigned long long)c->id,
                tried);
        if (debug)
            snprintf(msg, sizeof(msg), "Unable to connect to any targets. Tried: %s\n", tried);
    } else if (err == TT_UP_ERR_BLOCKED) {
        if (debug)
            snprintf(msg, sizeof(msg), "Error: Origin host/IP blocked.\n");
    } else if (err == TT_UP_ERR_LENGTH_REQUIRED) {
        q->ex->buffering = false;
        send_error(c, 411, "Must provide Content-Length header.\n", !q->body_done);
        return;
    } else if (err == TT_UP_ERR_UNREACHABLE) {
        if (debug)
            snprintf(msg, sizeof(msg), "Error: zhttp service for route is unreachable.\n");
    } else if (err == TT_UP_ERR_TIMEOUT) {
        /* 502 with the usual text, as Pushpin answers its own backend timeouts (it never
         * generates a 504); the upstream logged which limit was hit. */
        if (debug)
            snprintf(msg, sizeof(msg), "Error: timed out waiting for the origin. Tried: %s\n",
                     tried);
    } else {
        tt_warn("c%llu: error while proxying to origin %s", (unsigned long long)c->id, tried);
    }
    q->ex->buffering = false;
    send_error(c, 502, msg, !q->body_done);
}

static void resume_client_read(struct tt_client *c)
{
    if (c->read_paused && c->state == TT_C_BODY) {
        c->read_paused = false;
        tt_conn_set_read(&c->conn, true);
        if (c->in.len)
            process_input(c);
    }
}

static void up_on_drain(void *ctx)
{
    resume_client_read(ctx);
}

/* ---- request body ------------------------------------------------------------------ */

static void start_backend(struct tt_client *c, bool chunked);

static void on_body_timeout(struct tt_wtimer *t)
{
    struct tt_client *c = tt_client_of_timer(t);
    if (c->state == TT_C_BODY && c->req && c->req->ex && c->req->ex->body_wait) {
        tt_info("c%llu: request body stalled for %d ms; closing", (unsigned long long)c->id,
                c->w->srv->cfg.head_timeout_ms);
        tt_client_close(c);
    }
}

static void send_chunk(struct tt_upstream *up, const char *p, size_t n)
{
    char hex[24];
    int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
    tt_upstream_send(up, hex, (size_t)hl);
    tt_upstream_send(up, p, n);
    tt_upstream_send(up, "\r\n", 2);
}

static void body_data(struct tt_client *c, const char *p, size_t n)
{
    struct tt_req *q = c->req;
    /* NULL for a stream whose head is out: nothing is replayed or collected any more. */
    struct tt_req_exchange *x = q->ex;
    if (x && !x->body_too_big) {
        if (x->body_copy.len + n <= BODY_COPY_MAX)
            tt_buf_append(&x->body_copy, p, n);
        else
            x->body_too_big = true;
    }
    if (q->jsonp)
        return; /* a JSON-P request's body comes from its query; the client's is dropped */
    if (x && x->body_wait) {
        /* While thumbtack reads the body itself, the client's silence is bounded like a
         * head's: the timer restarts with every piece. */
        if (!x->body_too_big) {
            tt_client_timer_start(c, on_body_timeout, (uint64_t)c->w->srv->cfg.head_timeout_ms);
            return;
        }
        /* Larger than the replay buffer: stream it chunked after all, starting with what
         * was collected. */
        start_backend(c, true);
        if (c->state == TT_C_CLOSING || !q->up)
            return;
        if (x->body_copy.len)
            send_chunk(q->up, x->body_copy.data, x->body_copy.len);
        tt_buf_deinit(&x->body_copy);
    }
    if (q->up) {
        if (q->body_left < 0) {
            send_chunk(q->up, p, n);
        } else {
            tt_upstream_send(q->up, p, n);
        }
    }
}

/* The test target answers the request in place; its answers go through the same GRIP
 * processing as a backend's. */
static void test_answer(struct tt_client *c)
{
    struct tt_req *q = c->req;
    struct tt_resp r;
    tt_testhandler_respond(q->route, q->method, q->path, q->ex->body_copy.data, q->ex->body_copy.len,
                           q->ex->body_too_big, &r);
    struct tt_h1_response *h = tt_malloc(sizeof(*h));
    h1_view_of(&r, h);
    if (q->grip && tt_grip_detect(h))
        grip_process(c, h, r.body.data, r.body.len);
    else
        tt_client_send_resp(c, &r);
    free(h);
    tt_resp_deinit(&r);
}

static void body_finished(struct tt_client *c)
{
    struct tt_req *q = c->req;
    q->body_done = true;
    if (q->ex && q->ex->body_wait) {
        /* The whole chunked body fitted: the backend gets it de-chunked, with a
         * Content-Length, as from Pushpin (many backends refuse chunked requests). */
        start_backend(c, false);
        if (c->state == TT_C_CLOSING || !q->up)
            return;
        tt_upstream_send(q->up, q->ex->body_copy.data, q->ex->body_copy.len);
        tt_upstream_send_end(q->up);
        return;
    }
    if (q->up) {
        if (q->body_left < 0)
            tt_upstream_send(q->up, "0\r\n\r\n", 5);
        tt_upstream_send_end(q->up);
    }
    if (!q->up && q->route && q->route->num_targets &&
        q->route->targets[0].type == TT_TARGET_TEST && !q->head_sent)
        test_answer(c);
}

/* Consume body bytes from [p, p+n); returns bytes used, or -1 if the client was closed. */
static ssize_t consume_body(struct tt_client *c, const char *p, size_t n)
{
    struct tt_req *q = c->req;
    size_t used = 0;
    while (used < n && !q->body_done) {
        if (q->up && tt_upstream_pending(q->up) > CLIENT_OUT_HIGH) {
            c->read_paused = true;
            tt_conn_set_read(&c->conn, false);
            break;
        }
        if (q->body_left > 0) {
            size_t take = (size_t)TT_MIN((int64_t)(n - used), q->body_left);
            body_data(c, p + used, take);
            used += take;
            q->body_left -= (int64_t)take;
            if (q->body_left == 0) {
                body_finished(c);
                if (c->state == TT_C_CLOSING)
                    return -1;
            }
        } else {
            const char *d;
            size_t dl;
            ssize_t k = tt_h1_chunked_step(&q->ch, p + used, n - used, &d, &dl);
            if (k < 0) {
                tt_info("c%llu: invalid chunked request body", (unsigned long long)c->id);
                if (q->up) {
                    tt_upstream_abort(q->up);
                    q->up = NULL;
                }
                if (!q->head_sent) {
                    q->keep_alive = false;
                    send_error(c, 400, "Failed to parse request: invalid chunked body\n", true);
                } else {
                    tt_client_close(c);
                }
                return -1;
            }
            used += (size_t)k;
            if (dl)
                body_data(c, d, dl);
            if (q->ch.done) {
                body_finished(c);
                if (c->state == TT_C_CLOSING)
                    return -1;
            }
            if (k == 0)
                break;
        }
    }
    return (ssize_t)used;
}

/* ---- request head ------------------------------------------------------------------ */

/* absolute-form (RFC 9112 3.2.2), "http[s]://authority[/path][?query]": the authority
 * replaces Host, for routing and for the Host the backend gets, and the target becomes
 * origin-form. Pushpin 1.36 glues the target onto the Host value instead (so no
 * Pushpin client can depend on it). fixed holds "/?query" when the target had no path.
 * Returns false when the authority is not a valid host (userinfo included). */
static bool absolute_form(struct tt_h1_request *h, char *fixed, size_t fixed_size)
{
    const char *t = h->target;
    size_t n = h->target_len, skip;
    if (tt_strihas_prefix(t, n, "http://"))
        skip = 7;
    else if (tt_strihas_prefix(t, n, "https://"))
        skip = 8;
    else
        return true;
    const char *auth = t + skip;
    size_t alen = 0;
    while (alen < n - skip && auth[alen] != '/' && auth[alen] != '?')
        alen++;
    if (alen == 0 || !tt_h1_valid_host(auth, alen))
        return false;
    h->host = auth;
    h->host_len = alen;
    const char *rest = auth + alen;
    size_t rlen = n - skip - alen;
    if (rlen == 0 || rest[0] == '?') {
        int k = snprintf(fixed, fixed_size, "/%.*s", (int)rlen, rest);
        if (k < 0 || (size_t)k >= fixed_size)
            return false;
        h->target = fixed;
        h->target_len = (size_t)k;
    } else {
        h->target = rest;
        h->target_len = rlen;
    }
    return true;
}

static void reject(struct tt_client *c, int status, const char *body)
{
    count_error(c, TT_ERR_BAD_REQUEST);
    tt_info("c%llu %s rejected request: %d %.*s", (unsigned long long)c->id, c->peer, status,
            (int)strcspn(body, "\n"), body);
    tt_buf_reset(&c->in);
    c->read_paused = true;
    tt_conn_set_read(&c->conn, false);
    send_error(c, status, body, true);
}

/* The backend head for a JSON-P request: its method and target, then (as Pushpin) the
 * _headers, Content-Type for a JSON body param, Accept: * / *, and the client's headers but
 * Host and Accept; all through the normal header rules. */
static void build_jsonp_head(struct tt_client *c, const struct tt_h1_request *h,
                             const struct tt_route *route, const struct tt_route_target *t,
                             struct tt_buf *out)
{
    struct tt_req *q = c->req;
    struct tt_jsonp *j = q->jsonp;
    struct tt_h1_request *x = tt_malloc(sizeof(*x));
    *x = *h;
    x->method = j->method;
    x->method_len = strlen(j->method);
    x->target = j->target;
    x->target_len = strlen(j->target);
    size_t n = 0;
    for (size_t i = 0; i < j->num_headers && n < TT_H1_MAX_HEADERS; i++) {
        x->headers[n].name = j->headers[i].name;
        x->headers[n].name_len = strlen(j->headers[i].name);
        x->headers[n].value = j->headers[i].value;
        x->headers[n].value_len = strlen(j->headers[i].value);
        n++;
    }
    if (j->body_is_json && n < TT_H1_MAX_HEADERS)
        x->headers[n++] = (struct tt_h1_header){"Content-Type", 12, "application/json", 16};
    if (n < TT_H1_MAX_HEADERS)
        x->headers[n++] = (struct tt_h1_header){"Accept", 6, "*/*", 3};
    for (size_t i = 0; i < h->num_headers && n < TT_H1_MAX_HEADERS; i++) {
        const struct tt_h1_header *y = &h->headers[i];
        if (tt_strieq(y->name, y->name_len, "Host") || tt_strieq(y->name, y->name_len, "Accept"))
            continue;
        x->headers[n++] = *y;
    }
    x->num_headers = n;
    const char *path = x->target;
    size_t path_len = x->target_len;
    tt_forward_build_head(c->w->srv, c, x, route, t, path, path_len, q->trusted, out);
    free(x);
}

static void dispatch(struct tt_client *c, const struct tt_h1_request *h)
{
    struct tt_worker *w = c->w;
    struct tt_server *srv = w->srv;
    /* The target and the Host value live after the struct (path and host point there). */
    const char *hv = h->host ? h->host : "localhost";
    size_t hl = h->host ? h->host_len : 9;
    struct tt_req *q = tt_calloc(1, sizeof(*q) + h->target_len + hl + 2);
    q->path = q->text;
    memcpy(q->path, h->target, h->target_len);
    q->host = q->path + h->target_len + 1;
    memcpy(q->host, hv, hl);
    q->ex = tt_calloc(1, sizeof(*q->ex));
    c->req = q;
    c->state = TT_C_BODY;
    c->served = true;
    tt_client_timer_stop(c);
    q->start_ms = tt_now_ms();
    q->routes = w->routes;
    tt_routes_ref(q->routes);
    snprintf(q->method, sizeof(q->method), "%.*s", (int)TT_MIN(h->method_len, 15), h->method);
    q->minor_version = h->minor_version;
    q->keep_alive = h->framing.keep_alive && !w->stopping;
    q->is_head = tt_strieq(h->method, h->method_len, "HEAD");
    tt_buf_init(&q->ex->body_copy, 0);
    q->body_left = h->framing.chunked ? -1 : TT_MAX(h->framing.content_length, 0);
    if (h->framing.chunked)
        tt_h1_chunked_init(&q->ch);
    q->body_done = q->body_left == 0;
    w->stats.requests++;

    int i;
    if ((i = tt_h1_find_header(h->headers, h->num_headers, "Origin", 0)) >= 0)
        q->ex->origin = tt_strndup(h->headers[i].value, h->headers[i].value_len);
    if ((i = tt_h1_find_header(h->headers, h->num_headers, "Access-Control-Request-Method", 0)) >= 0)
        q->ex->acr_method = tt_strndup(h->headers[i].value, h->headers[i].value_len);
    if ((i = tt_h1_find_header(h->headers, h->num_headers, "Access-Control-Request-Headers", 0)) >= 0)
        q->ex->acr_headers = tt_strndup(h->headers[i].value, h->headers[i].value_len);

    if (srv->cfg.log_user_agent &&
        (i = tt_h1_find_header(h->headers, h->num_headers, "User-Agent", 0)) >= 0)
        q->ua = tt_strndup(h->headers[i].value, h->headers[i].value_len);
    if (srv->cfg.log_from &&
        (i = tt_h1_find_header(h->headers, h->num_headers, "X-Forwarded-For", 0)) >= 0) {
        const char *v = h->headers[i].value;
        const char *comma = memchr(v, ',', h->headers[i].value_len);
        size_t n = comma ? (size_t)(comma - v) : h->headers[i].value_len;
        tt_trim(&v, &n);
        q->from = tt_strndup(v, n);
    }
    const char *path = h->target;
    size_t path_len = h->target_len;
    const char *host = hv;
    size_t hn = hl;
    if (hn && host[0] == '[') {
        const char *e = memchr(host, ']', hn);
        hn = e ? (size_t)(e - host) + 1 : hn;
    } else {
        const char *colon = memchr(host, ':', hn);
        if (colon)
            hn = (size_t)(colon - host);
    }
    bool ssl = tt_forward_is_secure(srv, c, h);
    /* A WebSocket upgrade is routed as proto ws and taken over by the WebSocket layer. */
    struct tt_ws_server_hs hs;
    int ws = srv->ws_start ? tt_ws_server_handshake(h, srv->cfg.allow_compression, &hs) : 0;
    if (ws < 0) {
        tt_info("c%llu: invalid WebSocket request: %s", (unsigned long long)c->id,
                hs.why ? hs.why : "?");
        struct tt_resp r;
        tt_resp_text(&r, 400, TT_WS_HS_BAD_REQUEST_BODY);
        if (hs.bad_version)
            tt_resp_add_header(&r, "Sec-WebSocket-Version", "13");
        q->keep_alive = false;
        tt_client_send_resp(c, &r);
        tt_resp_deinit(&r);
        return;
    }
    const struct tt_route *route = NULL;
    int pr = -1;
    if (srv->cfg.accept_pushpin_route &&
        (pr = tt_h1_find_header(h->headers, h->num_headers, "Pushpin-Route", 0)) >= 0)
        route = tt_routes_find_id(q->routes, h->headers[pr].value, h->headers[pr].value_len,
                                  path, path_len);
    else
        route = tt_routes_match(q->routes, host, hn, path, path_len, ws == 1, ssl);
    q->route = route;
    if (!route) {
        count_error(c, TT_ERR_NO_ROUTE);
        q->route_name = NULL;
        tt_info("c%llu: no route for host %.*s", (unsigned long long)c->id, (int)TT_MIN(hn, 200),
                host);
        send_error(c, 502, "Route not found\n", !q->body_done);
        return;
    }
    q->route_name = route->id ? route->id : route->num_targets ? "-" : "";
    if (route->num_targets == 0) {
        send_error(c, 502, "Route not found\n", !q->body_done);
        return;
    }
    const struct tt_route_target *t = &route->targets[0];
    if (h->expect_continue && !q->body_done && h->minor_version >= 1) {
        tt_conn_write(&c->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        if (!tt_client_flush(c))
            return;
    }
    q->trusted = tt_forward_is_trusted(srv, h);
    q->grip = !route->no_grip && !q->trusted;
    if (ws == 1) {
        if (t->type == TT_TARGET_TEST)
            q->route_name = route->id ? route->id : "test";
        srv->ws_start(c, h, route, &hs);
        return;
    }
    /* From here on the request is a connection for the stats and conncheck (a WebSocket
     * session registers itself). */
    q->rid = (++w->next_rid << 6) | (uint64_t)w->index;
    tt_idmap_put(&w->requests, q->rid, c);
    tt_wstats_conn_open(&w->wstats, &q->sconn, TT_CONN_HTTP, q->rid, NULL, c->peer, ssl,
                        route->id);
    if (t->type == TT_TARGET_TEST) {
        q->route_name = route->id ? route->id : "test";
        if (q->body_done)
            body_finished(c);
        return;
    }
    if (route->aco || srv->cfg.auto_cross_origin) {
        struct tt_jsonp j;
        const char *err = NULL;
        if (tt_jsonp_request(route, true, q->method, h->target, h->target_len, &j, &err) != 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "%s\n", err ? err : "Invalid callback parameter.");
            send_error(c, 400, msg, !q->body_done);
            return;
        }
        if (j.active) {
            q->jsonp = tt_malloc(sizeof(*q->jsonp));
            *q->jsonp = j;
        }
    }
    struct tt_buf head;
    tt_buf_init(&head, 0);
    if (q->jsonp)
        build_jsonp_head(c, h, route, t, &head);
    else
        tt_forward_build_head(srv, c, h, route, t, path, path_len, q->trusted, &head);
    q->ex->bk_head = tt_buf_steal(&head, &q->ex->bk_head_len);
    if (q->jsonp) {
        /* The body comes from the query, not from the client. */
        struct tt_jsonp *j = q->jsonp;
        struct tt_buf full;
        tt_buf_init(&full, 0);
        tt_buf_append(&full, q->ex->bk_head, q->ex->bk_head_len);
        if (j->has_body || strcmp(j->method, "GET") != 0)
            tt_buf_appendf(&full, "Content-Length: %zu\r\n", j->has_body ? j->body_len : 0);
        tt_buf_appends(&full, "\r\n");
        q->up = tt_upstream_start(w, route->targets, route->num_targets, full.data, full.len,
                                  (strcmp(j->method, "HEAD") == 0 ? TT_UP_HEAD_REQUEST : 0) |
                                      (j->has_body && j->body_len ? TT_UP_WITH_BODY : 0),
                                  &up_cbs, c);
        tt_buf_deinit(&full);
        if (q->up && j->has_body && j->body_len) {
            tt_upstream_send(q->up, j->body, j->body_len);
            tt_upstream_send_end(q->up);
        }
        return;
    }
    if (q->body_left < 0) {
        /* A chunked body is collected first (see body_finished and body_data). */
        q->ex->body_wait = true;
        tt_client_timer_start(c, on_body_timeout, (uint64_t)srv->cfg.head_timeout_ms);
        return;
    }
    q->ex->cl_zero = h->framing.content_length == 0;
    start_backend(c, false);
}

/* Send the request head to the backend. The body follows: q->body_left bytes as they come
 * (Content-Length from the client), the collected chunked body (its length), or chunked
 * pieces when `chunked` (a chunked body larger than the replay buffer). */
static void start_backend(struct tt_client *c, bool chunked)
{
    struct tt_req *q = c->req;
    const struct tt_route *route = q->route;
    bool waited = q->ex->body_wait;
    if (waited) {
        q->ex->body_wait = false;
        tt_client_timer_stop(c);
    }
    uint64_t length = waited ? q->ex->body_copy.len : (uint64_t)TT_MAX(q->body_left, 0);
    struct tt_buf full;
    tt_buf_init(&full, 0);
    tt_buf_append(&full, q->ex->bk_head, q->ex->bk_head_len);
    if (chunked) {
        tt_buf_appends(&full, "Transfer-Encoding: chunked\r\n");
    } else if (length > 0 || q->ex->cl_zero || waited) {
        tt_buf_append(&full, "Content-Length: ", 16);
        tt_buf_append_uint(&full, length, 10);
        tt_buf_append(&full, "\r\n", 2);
    }
    tt_buf_appends(&full, "\r\n");
    q->up = tt_upstream_start(c->w, route->targets, route->num_targets, full.data, full.len,
                              (q->is_head ? TT_UP_HEAD_REQUEST : 0) |
                                  (chunked || length > 0 ? TT_UP_WITH_BODY : 0),
                              &up_cbs, c);
    tt_buf_deinit(&full);
}

bool tt_client_retry(struct tt_client *c, const char *extra_headers)
{
    struct tt_req *q = c->req;
    if (!q || !q->ex)
        return false; /* a stream is never replayed (its head is out) */
    if (q->route && q->route->num_targets && q->route->targets[0].type == TT_TARGET_TEST &&
        !q->ex->body_too_big) {
        /* The test target is asked again like a backend (hint, update, recover). */
        q->head_sent = false;
        test_answer(c);
        return true;
    }
    if (!q->ex->bk_head || q->ex->body_too_big || !q->route)
        return false;
    struct tt_buf full;
    tt_buf_init(&full, 0);
    tt_buf_append(&full, q->ex->bk_head, q->ex->bk_head_len);
    if (extra_headers)
        tt_buf_appends(&full, extra_headers);
    if (q->ex->body_copy.len)
        tt_buf_appendf(&full, "Content-Length: %zu\r\n", q->ex->body_copy.len);
    tt_buf_appends(&full, "\r\n");
    q->ex->buffering = false;
    q->head_sent = false;
    q->up = tt_upstream_start(c->w, q->route->targets, q->route->num_targets, full.data, full.len,
                              (q->is_head ? TT_UP_HEAD_REQUEST : 0) |
                                  (q->ex->body_copy.len ? TT_UP_WITH_BODY : 0),
                              &up_cbs, c);
    tt_buf_deinit(&full);
    if (q->up && q->ex->body_copy.len) {
        tt_upstream_send(q->up, q->ex->body_copy.data, q->ex->body_copy.len);
        tt_upstream_send_end(q->up);
    }
    return q->up != NULL;
}

static void process_input(struct tt_client *c)
{
    c->in_process = true;
    process_input_loop(c);
    if (c->state != TT_C_CLOSING) {
        c->in_process = false;
        if (!c->in.len && c->in.data) {
            tt_buf_deinit(&c->in); /* a held connection keeps no input buffer */
            tt_buf_init(&c->in, 0);
        }
    }
}

static void process_input_loop(struct tt_client *c)
{
    while (c->state == TT_C_HEAD || (c->state == TT_C_BODY && c->req && !c->req->body_done)) {
        if (c->in.len == 0)
            return;
        if (c->state == TT_C_BODY) {
            if (c->read_paused)
                return;
            ssize_t used = consume_body(c, c->in.data, c->in.len);
            if (used < 0)
                return;
            tt_buf_consume(&c->in, (size_t)used);
            if (used == 0)
                return;
            continue;
        }
        if (!c->served && c->w->srv->h2_start && h2_preface(c))
            return;
        struct tt_h1_request h;
        struct tt_h1_error err;
        size_t max = c->w->srv->cfg.client_buffer_size;
        int r = tt_h1_parse_request(c->in.data, c->in.len, max, &h, &err);
        if (r == TT_EAGAIN)
            return;
        if (r == TT_ETOOBIG) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Request header size exceeded limit of %zu bytes.\n", max);
            reject(c, 400, msg);
            return;
        }
        if (r < 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "Failed to parse request: %s\n",
                     err.reason ? err.reason : "invalid request");
            reject(c, err.status >= 400 ? err.status : 400, msg);
            return;
        }
        if (!h.host && h.minor_version >= 1) {
            reject(c, 400, "Failed to parse request: missing host\n");
            return;
        }
        if (h.target_len > 4096) {
            reject(c, 500, "Failed to process request.\n");
            return;
        }
        char fixed[4100];
        if (!absolute_form(&h, fixed, sizeof(fixed))) {
            reject(c, 400, "Failed to parse request: invalid host\n");
            return;
        }
        /* A gateway tunnels nothing: CONNECT (whose authority-form target would make the
         * backend switch the connection to a tunnel) is not a method it serves. */
        if (tt_strieq(h.method, h.method_len, "CONNECT")) {
            reject(c, 501, "Failed to parse request: unsupported method\n");
            return;
        }
        /* Otherwise origin-form, or asterisk-form for OPTIONS (RFC 9112 3.2): anything
         * else ("example.com:80", "v/x") is not a path a backend can be asked for. */
        if (h.target[0] != '/' && !(h.target_len == 1 && h.target[0] == '*' &&
                                    tt_strieq(h.method, h.method_len, "OPTIONS"))) {
            reject(c, 400, "Failed to parse request: invalid request target\n");
            return;
        }
        /* The parsed head points into c->in: dispatch before consuming it. */
        dispatch(c, &h);
        if (c->state == TT_C_CLOSING)
            return;
        tt_buf_consume(&c->in, (size_t)r);
        if (c->req == NULL)
            continue; /* answered at once; next pipelined request */
        if (c->state == TT_C_BODY && c->req->body_done)
            return;
    }
}

static void on_readable(struct tt_client *c)
{
    struct tt_worker *w = c->w;
    size_t last_n = 0;
    for (int rounds = 0; rounds < 8; rounds++) {
        if (c->read_paused || c->state == TT_C_CLOSING || c->state == TT_C_H2)
            return;
        if (rounds && last_n < w->scratch_size && !(c->conn.ssl && SSL_has_pending(c->conn.ssl)))
            return; /* drained: level-triggered polling calls again if more comes */
        ssize_t n = tt_conn_read(&c->conn, w->scratch, w->scratch_size);
        if (n == TT_EAGAIN)
            return;
        last_n = (size_t)(n > 0 ? n : 0);
        if (n <= 0) {
            /* Client gone, or half-closed: a request in flight (waiting for the backend or
             * streaming its response), a hold or a partial head dies with it, and the
             * backend connection is closed rather than pooled (req_free aborts the
             * upstream). Pushpin's connmgr and nginx treat a client's EOF as an abort
             * too; waiting on would pin both sockets for as long as the backend takes. */
            if (c->req && !c->req->logged && n == 0)
                tt_debug("c%llu: client closed while its request was in flight",
                         (unsigned long long)c->id);
            tt_client_close(c);
            return;
        }
        if (c->state == TT_C_HOLD || c->state == TT_C_RESP ||
            (c->state == TT_C_BODY && c->req && c->req->body_done)) {
            /* Pipelined bytes behind the current request: keep them for later, capped. */
            if (tt_buf_append(&c->in, w->scratch, (size_t)n) != 0) {
                tt_client_close(c);
                return;
            }
            if (c->in.len > w->srv->cfg.client_buffer_size) {
                c->read_paused = true;
                tt_conn_set_read(&c->conn, false);
            }
            continue;
        }
        if (c->in.len == 0 && c->state == TT_C_BODY) {
            /* Body bytes go straight from the scratch buffer to the backend. */
            ssize_t used = consume_body(c, w->scratch, (size_t)n);
            if (used < 0)
                return;
            if ((size_t)used < (size_t)n)
                tt_buf_append(&c->in, w->scratch + used, (size_t)n - (size_t)used);
        } else {
            tt_buf_append(&c->in, w->scratch, (size_t)n);
        }
        process_input(c);
    }
}

static void on_io(struct tt_conn *conn, int status, int events)
{
    struct tt_client *c = TT_CONTAINER_OF(conn, struct tt_client, conn);
    if (status < 0) {
        tt_client_close(c);
        return;
    }
    if (c->handshaking) {
        tls_step(c);
        return;
    }
    if (c->state == TT_C_H2) {
        c->sink.session->ops->io(c->sink.session, events);
        return;
    }
    if (c->state == TT_C_WS && c->sink.session && c->sink.session->ops->io) {
        c->sink.session->ops->io(c->sink.session, events);
        return;
    }
    if (events & UV_WRITABLE) {
        if (!tt_client_flush(c))
            return;
        if (c->conn.out_count == 0 && c->close_after_flush) {
            tt_client_close(c); /* response done, connection not reusable */
            return;
        }
    }
    if ((events & UV_READABLE) && c->state != TT_C_CLOSING)
        on_readable(c);
}

/* The server side of the TLS handshake, driven by the socket's events. The head timer
 * (client_head_timeout) bounds it, so a stalled handshake costs a slowloris nothing more. */
static void tls_step(struct tt_client *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->conn.ssl);
    if (r == 1) {
        c->handshaking = false;
        c->conn.ssl_want_write = false;
        tt_conn_set_read(&c->conn, true);
        const char *alpn = tt_tls_alpn(c->conn.ssl);
        if (alpn && strcmp(alpn, "h2") == 0 && c->w->srv->h2_start) {
            h2_take_over(c);
            return;
        }
        on_readable(c); /* the first request may have come with the handshake's end */
        return;
    }
    int e = SSL_get_error(c->conn.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->conn.ssl_want_write = e == SSL_ERROR_WANT_WRITE;
        tt_conn_set_read(&c->conn, true);
        return;
    }
    if (TT_LOG_ON(TT_LOG_DEBUG)) {
        char buf[200];
        ERR_error_string_n(ERR_peek_last_error(), buf, sizeof(buf));
        tt_debug("c%llu %s: TLS handshake failed: %s", (unsigned long long)c->id, c->peer, buf);
    }
    ERR_clear_error();
    tt_client_close(c);
}

void tt_client_timer_start(struct tt_client *c, tt_wtimer_fn cb, uint64_t ms)
{
    struct tt_worker *w = c->w;
    tt_wheel_start(&w->wheel, &c->sink.timer, cb, uv_now(&w->loop), ms);
    tt_worker_wheel_armed(w);
}

void tt_client_timer_stop(struct tt_client *c)
{
    tt_wheel_stop(&c->w->wheel, &c->sink.timer);
}

/* A zeroed client whose peer text is a copy of peer (sized to it). */
static struct tt_client *client_alloc(const char *peer)
{
    size_t n = strnlen(peer, TT_PEER_MAX - 1);
    struct tt_client *c = tt_calloc(1, offsetof(struct tt_client, peer) + n + 1);
    memcpy(c->peer, peer, n);
    c->sink.ops = &client_sink_ops;
    tt_wtimer_init(&c->sink.timer);
    return c;
}

void tt_client_accept(struct tt_worker *w, int fd, const struct sockaddr *peer,
                      uint16_t tls_port)
{
    char text[TT_PEER_MAX] = "";
    if (peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, text, sizeof(text));
    else if (peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, text,
                  sizeof(text));
    struct tt_client *c = client_alloc(text);
    c->w = w;
    c->id = ++w->next_conn_id * 64 + (uint64_t)w->index;
    tt_buf_init(&c->in, 0);
    if (tt_conn_init(&w->poller, &c->conn, fd, on_io) != 0) {
        close(fd);
        free(c);
        tt_worker_client_closed(w);
        return;
    }
    tt_list_insert_tail(&w->clients, &c->link);
    w->num_clients++;
    c->state = TT_C_HEAD;
    arm_head_timer(c);
    if (tls_port) {
        c->conn.ssl = tt_tls_server_ssl(w->srv->tls, fd, tls_port);
        if (!c->conn.ssl) {
            tt_client_close(c);
            return;
        }
        c->tls = true;
        c->handshaking = true;
    }
    tt_conn_set_read(&c->conn, true);
}

void tt_client_trim_for_stream(struct tt_client *c)
{
    struct tt_req *q = c->req;
    if (!q)
        return;
    exchange_free(q->ex);
    q->ex = NULL;
}

void tt_client_shutdown(struct tt_client *c)
{
    if (c->sink.session) {
        c->sink.session->ops->shutdown(c->sink.session);
        return;
    }
    if (c->req) {
        c->req->keep_alive = false;
        return;
    }
    if (c->state != TT_C_HEAD || c->in.len)
        return; /* a partial head keeps its head timer; the answer will close */
    /* Bytes may already be in the socket (accepted this loop turn, or a keep-alive
     * client's next request): read and answer them now, with Connection: close. */
    on_readable(c);
    if (c->state != TT_C_HEAD || c->in.len)
        return;
    if (c->served) {
        tt_client_close(c); /* idle keep-alive: nothing was asked */
        return;
    }
    uint64_t grace = TT_MIN((uint64_t)c->w->srv->cfg.head_timeout_ms, SHUTDOWN_GRACE_MS);
    tt_client_timer_start(c, on_head_timeout, grace);
}

/* ---- HTTP/2 (see client.h) --------------------------------------------------------- */

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* The connection becomes an HTTP/2 one: bytes already read (the preface and what came
 * with it) go to the HTTP/2 layer first. */
static void h2_take_over(struct tt_client *c)
{
    struct tt_buf in = c->in;
    tt_buf_init(&c->in, 0);
    tt_client_timer_stop(c);
    c->served = true;
    c->w->srv->h2_start(c, in.data, in.len);
    tt_buf_deinit(&in);
}

/* HTTP/2 with prior knowledge (h2c, or h2 over TLS without ALPN): the connection preface
 * instead of a first request. True when the client was handed over, or must wait for the
 * rest of the preface (a request line cannot start like it: "PRI" is no method we serve). */
static bool h2_preface(struct tt_client *c)
{
    size_t n = TT_MIN(c->in.len, (size_t)H2_PREFACE_LEN);
    if (memcmp(c->in.data, H2_PREFACE, n) != 0)
        return false;
    if (n == H2_PREFACE_LEN)
        h2_take_over(c);
    return true;
}

struct tt_client *tt_client_new_stream(struct tt_client *conn, const struct tt_conn_vops *vops,
                                       void *vctx)
{
    struct tt_worker *w = conn->w;
    struct tt_server *srv = w->srv;
    if (__atomic_load_n(&srv->num_clients, __ATOMIC_ACQUIRE) >= srv->cfg.client_maxconn)
        return NULL;
    __atomic_add_fetch(&srv->num_clients, 1, __ATOMIC_ACQ_REL);
    struct tt_client *c = client_alloc(conn->peer);
    c->w = w;
    c->id = ++w->next_conn_id * 64 + (uint64_t)w->index;
    tt_buf_init(&c->in, 0);
    tt_conn_init_virtual(&w->poller, &c->conn, vops, vctx, on_io);
    c->tls = conn->tls;
    tt_list_insert_tail(&w->clients, &c->link);
    w->num_clients++;
    c->state = TT_C_HEAD;
    arm_head_timer(c);
    c->conn.want_read = true;
    return c;
}

struct tt_held *tt_client_compact(struct tt_client *c, const struct tt_sink_ops *ops, void *vctx,
                                  const char *peer)
{
    struct tt_req *q = c->req;
    struct tt_client_session *sess = c->sink.session;
    /* A stream hold whose head is out and whose request is over, with nothing still to
     * happen on the request's side: no backend, no replay state, no JSON-P wrapping, no
     * gone link to post at its end, no input waiting. */
    if (c->state != TT_C_HOLD || !sess || !sess->ops->compact || !q || !q->head_sent ||
        !q->body_done || !q->resp_chunked || q->resp_close || q->up || q->ex || q->jsonp ||
        q->gone_link || q->early_grip || q->logged || !q->rid || c->in.len || c->conn.out_count ||
        !sess->ops->compact(sess, NULL))
        return NULL;
    char head[LOG_HEAD_MAX], tail[LOG_TAIL_MAX];
    size_t hl = 0, tl = 0;
    bool log = TT_LOG_ON(TT_LOG_INFO);
    if (log) {
        log_head(c, q, head, sizeof(head));
        log_tail(q, tail, sizeof(tail));
        hl = strlen(head);
        tl = strlen(tail);
    }
    struct tt_worker *w = c->w;
    struct tt_held *k = tt_calloc(1, sizeof(*k) + (log ? hl + tl + 2 : 0));
    k->sink.ops = ops;
    tt_wtimer_init(&k->sink.timer);
    k->vctx = vctx;
    /* The session writes to k from here on; its timer (the keep-alives) moves along. */
    sess->ops->compact(sess, &k->sink);
    k->sink.session = sess;
    c->sink.session = NULL;
    struct tt_wtimer *t = &c->sink.timer;
    if (tt_wtimer_active(t)) {
        uint64_t now = uv_now(&w->loop);
        tt_sink_timer_start(&k->sink, w, t->cb, t->due_ms > now ? t->due_ms - now : 0);
        tt_client_timer_stop(c);
    }
    if (log) {
        memcpy(k->log, head, hl);
        memcpy(k->log + hl + 1, tail, tl);
        k->log_tail = (uint16_t)(hl + 1);
    }
    q->logged = true;
    k->bytes_out = q->bytes_out;
    tt_wstats_conn_move(&k->sconn, &q->sconn, peer);
    tt_idmap_put(&w->requests, q->rid, k);
    q->rid = 0;
    w->compacted++;
    /* c goes quietly: its count (client_maxconn, the worker's clients) passes to k. */
    c->state = TT_C_CLOSING;
    req_free(c, q);
    c->req = NULL;
    tt_list_remove(&c->link);
    tt_conn_close_detached(&c->conn, on_conn_closed);
    return k;
}

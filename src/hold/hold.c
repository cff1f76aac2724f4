/* hold.c: GRIP holds on a client connection: long-poll (response) and stream holds,
 * their timers and keep-alives, next and gone links, and the subscriber ops through
 * which the fan-out engine (pubsub/fanout.h) delivers to them. */
#include "hold/hold.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/log.h"
#include "proxy/forward.h"
#include "proxy/links.h"
#include "proxy/upstream.h"

/* Next-link state (Grip-Link rel=next): allocated only for holds that have a next link,
 * so that the many plain streams do not carry it. */
struct hold_link {
    char *url;           /* as the backend gave it, or NULL once the links ran out */
    uint64_t timeout_ms; /* poll period, 0 = only on hint, gap or no-hold */
    bool only;           /* no hold: the stream ends when the links run out */
    struct tt_upstream *up;
    struct tt_h1_response *head;
    char *head_raw;
    struct tt_buf body;
    char *extra; /* Grip-Last lines for the fetch in flight / retried */
    int retries;
    uv_timer_t *timer;            /* heap; closed with free */
    struct tt_route_target target; /* for a link to another host */
};
#define HOLD_STREAM_SNDBUF 65536 /* the kernel doubles it */

struct tt_hold {
    struct tt_client_session session; /* out->session while held */
    struct tt_subscriber sub;         /* in the worker's fan-out engine */
    /* Where the response goes: the client (tt_client_of_sink), or for an idle stream on
     * HTTP/2 the compact record that replaced it (session_compact). Only a stream hold
     * without next links is ever moved: long-polls and links always have their client. */
    struct tt_sink *out;
    struct tt_resp *resp; /* response hold: the timeout response (a stream has none) */
    char *ka_chunk;      /* keep-alive bytes as written (chunk-framed when chunked) */
    uint64_t ka_ms;
    uint64_t last_write_ms;
    uint32_t ka_len;     /* under the response head cap */
    uint8_t mode;        /* enum tt_hold_mode */
    uint8_t ka_mode;     /* enum tt_ka_mode */
    struct hold_link *ln; /* next-link state, only when the backend gave a next link */
};

static const struct tt_subscriber_ops response_ops, stream_ops;
static const struct tt_client_session_ops session_ops;

/* The session's hold, or NULL when it is none (or another kind of session). */
static struct tt_hold *hold_of_session(struct tt_client_session *s)
{
    if (!s || s->ops != &session_ops)
        return NULL;
    return TT_CONTAINER_OF(s, struct tt_hold, session);
}

static struct tt_hold *hold_of_client(struct tt_client *c)
{
    return hold_of_session(c->sink.session);
}

/* The hold's client: always there for long-polls and next links (see out). */
static struct tt_client *hold_client(const struct tt_hold *h)
{
    return tt_client_of_sink(h->out);
}

static struct tt_worker *hold_worker(struct tt_hold *h)
{
    return tt_worker_of_fanout(h->sub.fo);
}

/* Subscribe to the instruction's channels (at most connection_subscription_max), then to
 * the target's sub= channels, which are implicit and not counted. */
static void subscribe_all(struct tt_hold *h, const struct tt_grip *g)
{
    struct tt_client *c = hold_client(h);
    /* A session re-requested by a first-subscription update does not start another one. */
    bool update = !(c && c->req && c->req->updated);
    size_t n = TT_MIN(g->num_channels,
                      (size_t)hold_worker(h)->srv->cfg.connection_subscription_max);
    for (size_t i = 0; i < n; i++) {
        const struct tt_grip_channel *gc = &g->channels[i];
        tt_subscriber_add(&h->sub, gc->name, gc->prev_id, gc->filters, gc->num_filters, false,
                          update);
    }
    const struct tt_route_target *t = c && c->req ? c->req->target : NULL;
    for (size_t i = 0; t && i < t->num_subs; i++)
        tt_subscriber_add(&h->sub, t->subs[i], NULL, NULL, 0, true, update);
}

static void free_timer(uv_handle_t *t)
{
    free(t);
}

static const char *link_url(const struct tt_hold *h)
{
    return h->ln ? h->ln->url : NULL;
}

static void link_reset(struct tt_hold *h)
{
    if (!h->ln)
        return;
    if (h->ln->up) {
        tt_upstream_abort(h->ln->up);
        h->ln->up = NULL;
    }
    free(h->ln->head);
    free(h->ln->head_raw);
    h->ln->head = NULL;
    h->ln->head_raw = NULL;
    tt_buf_deinit(&h->ln->body);
}

void tt_hold_free(struct tt_hold *h)
{
    if (!h)
        return;
    struct tt_worker *w = hold_worker(h);
    tt_subscriber_deinit(&h->sub);
    link_reset(h);
    if (h->ln) {
        free(h->ln->url);
        free(h->ln->extra);
        free(h->ln->target.host);
        if (h->ln->timer)
            uv_close((uv_handle_t *)h->ln->timer, free_timer);
        free(h->ln);
    }
    if (h->resp) {
        tt_resp_deinit(h->resp);
        free(h->resp);
    }
    free(h->ka_chunk);
    tt_sink_timer_stop(h->out, w);
    if (h->out->session == &h->session)
        h->out->session = NULL;
    w->stats.held--;
    free(h);
}

static bool debug_on(const struct tt_client *c)
{
    return c->w->srv->cfg.debug || (c->req && c->req->route && c->req->route->debug);
}

static void fail_502(struct tt_client *c, const char *debug_msg)
{
    struct tt_resp r;
    char body[512];
    snprintf(body, sizeof(body), "%s\n",
             debug_on(c) ? debug_msg : "Error while proxying to origin.");
    tt_resp_text(&r, 502, body);
    tt_client_send_resp(c, &r);
    tt_resp_deinit(&r);
}

/* ---- timers ------------------------------------------------------------------------ */

static void on_response_timeout(struct tt_wtimer *t)
{
    struct tt_client *c = tt_client_of_timer(t);
    struct tt_hold *h = hold_of_client(c);
    if (!h || h->mode != TT_HOLD_RESPONSE)
        return;
    struct tt_resp r = *h->resp;
    memset(h->resp, 0, sizeof(*h->resp));
    tt_hold_free(h);
    c->state = TT_C_BODY;
    if (c->req)
        c->req->jsonp_handler_style = true;
    tt_client_send_resp(c, &r);
    tt_resp_deinit(&r);
}

static void arm_keepalive(struct tt_hold *h);

/* The stream's keep-alive timer (on its sink: the client's, or the compact record's). */
static void on_keepalive(struct tt_wtimer *t)
{
    struct tt_sink *k = tt_sink_of_timer(t);
    struct tt_hold *h = hold_of_session(k->session);
    if (!h || h->mode != TT_HOLD_STREAM || !h->ka_chunk)
        return;
    uint64_t now = tt_now_ms();
    if (h->ka_mode == TT_KA_IDLE && now - h->last_write_ms + 5 < h->ka_ms) {
        tt_sink_timer_start(k, hold_worker(h), on_keepalive, h->ka_ms - (now - h->last_write_ms));
        return;
    }
    k->ops->write(k, NULL, h->ka_chunk, h->ka_len);
    h->last_write_ms = now;
    if (!k->ops->flush(k))
        return;
    arm_keepalive(h);
}

static void arm_keepalive(struct tt_hold *h)
{
    if (!h->ka_chunk)
        return;
    /* Pushpin shortens each period by up to a second so that many streams opened
     * together do not all wake at once. */
    uint64_t jitter = h->ka_ms > 2000 ? (uint64_t)(rand() % 1000) : 0;
    tt_sink_timer_start(h->out, hold_worker(h), on_keepalive, h->ka_ms - jitter);
}


/* ---- next links -------------------------------------------------------------------- */

#define LINK_MAX_RETRIES 5

static void link_fetch(struct tt_hold *h, const char *extra);
static void stream_finish(struct tt_hold *h, bool clean);

static void link_on_timer(uv_timer_t *t)
{
    struct tt_hold *h = t->data;
    if (h->ln->retries > 0 && !h->ln->up) {
        link_fetch(h, h->ln->extra);
        return;
    }
    if (!link_url(h) || h->ln->up || !h->ln->timeout_ms)
        return;
    /* Poll when some channel went quiet for a whole period. */
    bool all = h->sub.num_subs > 0;
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &h->sub.subs)
    {
        struct tt_sub *s = TT_CONTAINER_OF(p, struct tt_sub, owner_link);
        all = all && s->got;
        s->got = false;
    }
    if (!all)
        link_fetch(h, NULL);
}

static void link_timer_start(struct tt_hold *h, uint64_t ms, bool repeat)
{
    if (!h->ln->timer) {
        h->ln->timer = tt_malloc(sizeof(*h->ln->timer));
        uv_timer_init(&hold_worker(h)->loop, h->ln->timer);
        h->ln->timer->data = h;
    }
    uv_timer_start(h->ln->timer, link_on_timer, ms, repeat ? ms : 0);
}

static void link_poll_arm(struct tt_hold *h)
{
    if (!h->ln)
        return;
    if (link_url(h) && h->ln->timeout_ms && !h->ln->only)
        link_timer_start(h, h->ln->timeout_ms, true);
    else if (h->ln->timer)
        uv_timer_stop(h->ln->timer);
}

static void link_failed(struct tt_hold *h, const char *why)
{
    tt_warn("c%llu: next link %s: %s", (unsigned long long)hold_client(h)->id,
            link_url(h) ? link_url(h) : "-", why);
    link_reset(h);
    if (h->ln->retries < LINK_MAX_RETRIES) {
        uint64_t ms = 1000ULL << h->ln->retries;
        h->ln->retries++;
        link_timer_start(h, ms + (uint64_t)(rand() % 1000), false);
        return;
    }
    stream_finish(h, false);
}

static void link_write_body(struct tt_hold *h, const char *data, size_t len)
{
    if (!len)
        return;
    struct tt_sink *k = h->out;
    if (k->ops->chunked(k)) {
        char hex[24];
        int hl = snprintf(hex, sizeof(hex), "%zx\r\n", len);
        k->ops->write(k, NULL, hex, (size_t)hl);
        k->ops->write(k, NULL, data, len);
        k->ops->write(k, NULL, "\r\n", 2);
    } else {
        k->ops->write(k, NULL, data, len);
    }
    h->last_write_ms = tt_now_ms();
}

static int link_on_head(void *ctx, const struct tt_h1_response *resp)
{
    struct tt_hold *h = ctx;
    h->ln->head = tt_h1_response_dup(resp, &h->ln->head_raw);
    tt_buf_init(&h->ln->body, TT_GRIP_MAX_BODY);
    return 0;
}

static void link_on_data(void *ctx, const char *data, size_t len)
{
    struct tt_hold *h = ctx;
    if (tt_buf_append(&h->ln->body, data, len) != 0)
        link_failed(h, "response too large"); /* aborts the fetch: no more callbacks */
}

static void link_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    (void)err;
    (void)tried;
    struct tt_hold *h = ctx;
    h->ln->up = NULL;
    link_failed(h, "request failed");
}

static void link_on_end(void *ctx)
{
    struct tt_hold *h = ctx;
    struct tt_client *c = hold_client(h);
    h->ln->up = NULL;
    if (h->ln->head->status < 200 || h->ln->head->status >= 300) {
        link_failed(h, "non-2xx response");
        return;
    }
    struct tt_grip g;
    char err[256];
    memset(&g, 0, sizeof(g));
    const char *prefix = c->req && c->req->route ? c->req->route->prefix : NULL;
    int r = tt_grip_parse(h->ln->head, h->ln->body.data, h->ln->body.len, prefix,
                          (size_t)c->w->srv->cfg.connection_subscription_max, &g, err,
                          sizeof(err));
    if (r == 0 && g.hold == TT_HOLD_RESPONSE) {
        snprintf(err, sizeof(err), "Next link returned non-stream hold.");
        r = TT_EPARSE;
    }
    if (r != 0) {
        tt_warn("c%llu: next link: %s", (unsigned long long)c->id, err);
        tt_grip_deinit(&g);
        link_reset(h);
        stream_finish(h, false);
        return;
    }
    h->ln->retries = 0;
    free(h->ln->extra);
    h->ln->extra = NULL;
    const char *body = g.has_response ? g.resp_body : h->ln->body.data;
    size_t body_len = g.has_response ? g.resp_body_len : h->ln->body.len;
    link_write_body(h, body, body_len);
    free(h->ln->url);
    h->ln->url = g.next_link ? tt_strdup(g.next_link) : NULL;
    if (g.next_link_timeout > 0)
        h->ln->timeout_ms = (uint64_t)g.next_link_timeout * 1000;
    link_reset(h);
    if (g.hold == TT_HOLD_STREAM) {
        tt_subscriber_clear(&h->sub);
        subscribe_all(h, &g);
        h->ln->only = false;
        link_poll_arm(h);
        tt_grip_deinit(&g);
        tt_client_flush(c);
        return;
    }
    tt_grip_deinit(&g);
    if (link_url(h)) {
        if (!tt_client_flush(c))
            return;
        link_fetch(h, NULL);
        return;
    }
    stream_finish(h, true);
}

static const struct tt_upstream_cbs link_cbs = {
    .on_head = link_on_head,
    .on_data = link_on_data,
    .on_end = link_on_end,
    .on_error = link_on_error,
};

/* GET the next link, through the route when it points at the same host (so it gets
 * Grip-Sig), else straight to that host. */
static void link_fetch(struct tt_hold *h, const char *extra)
{
    if (!link_url(h) || h->ln->up)
        return; /* a stream without next links (a compact one among them) has no client */
    struct tt_client *c = hold_client(h);
    struct tt_req *q = c->req;
    if (!q || !q->route)
        return;
    if (extra != h->ln->extra) {
        free(h->ln->extra);
        h->ln->extra = extra ? tt_strdup(extra) : NULL;
    }
    char host[300], path[4200];
    const struct tt_route_target *targets;
    size_t num_targets;
    if (!tt_links_resolve(c, link_url(h), path, sizeof(path), host, sizeof(host), &h->ln->target,
                      &targets, &num_targets)) {
        link_failed(h, "route has no HTTP target");
        return;
    }
    struct tt_buf head;
    tt_buf_init(&head, 0);
    tt_forward_build_internal(c->w->srv, c, q->route, "GET", path, host, h->ln->extra, &head);
    h->ln->up = tt_upstream_start(c->w, targets, num_targets, head.data, head.len, 0,
                                   &link_cbs, h);
    tt_buf_deinit(&head);
}

/* The stream ends (unclean: no terminal chunk, the client sees a broken end). */
static void stream_finish(struct tt_hold *h, bool clean)
{
    struct tt_sink *k = h->out;
    tt_hold_free(h);
    k->ops->end(k, clean);
}

/* ---- start ------------------------------------------------------------------------- */

static struct tt_hold *hold_new(struct tt_client *c, const struct tt_grip *g)
{
    struct tt_hold *h = tt_calloc(1, sizeof(*h));
    h->session.ops = &session_ops;
    h->out = &c->sink;
    h->mode = g->hold;
    if (h->mode == TT_HOLD_RESPONSE)
        h->resp = tt_calloc(1, sizeof(*h->resp));
    c->w->stats.held++;
    tt_subscriber_init(&h->sub, &c->w->fanout,
                       g->hold == TT_HOLD_RESPONSE ? &response_ops : &stream_ops);
    for (size_t i = 0; i < g->num_meta; i++)
        tt_subscriber_set_meta(&h->sub, g->meta[i].name, g->meta[i].value ? g->meta[i].value : "");
    subscribe_all(h, g);
    return h;
}

/* prev-id check at accept: a channel whose prev-id differs from the id we know was
 * published last means the client missed something: ask the backend again, telling it
 * what we have (Grip-Last), and forget the known id so this cannot loop. */
static bool needs_recovery(struct tt_client *c, const struct tt_grip *g, struct tt_buf *extra)
{
    bool any = false;
    for (size_t i = 0; i < g->num_channels; i++) {
        const struct tt_grip_channel *gc = &g->channels[i];
        if (!gc->prev_id)
            continue;
        char *known = tt_lastids_get(&c->w->srv->last_ids, gc->name);
        if (known && strcmp(known, gc->prev_id) != 0) {
            tt_buf_appendf(extra, "Grip-Last: %s; last-id=%s\r\n", gc->name, gc->prev_id);
            tt_lastids_set(&c->w->srv->last_ids, gc->name, NULL);
            any = true;
        }
        free(known);
    }
    return any;
}

/* A stream hold that cannot be held (prev-id without a next link): as Pushpin, the
 * client gets the stream's initial response, the error text after it in debug mode, and
 * a clean end. Nothing is subscribed. */
static void stream_refused(struct tt_client *c, const struct tt_resp *resp, const char *why)
{
    if (!c->req->head_sent) /* else the head went out while a large body streamed */
        tt_client_stream_start(c, resp);
    if (c->state == TT_C_CLOSING)
        return;
    if (debug_on(c)) {
        struct tt_buf b;
        tt_buf_init(&b, 0);
        size_t n = strlen(why) + 3;
        if (tt_client_stream_chunked(c))
            tt_buf_appendf(&b, "%zx\r\n", n);
        tt_buf_appendf(&b, "\n\n%s\n", why);
        if (tt_client_stream_chunked(c))
            tt_buf_appends(&b, "\r\n");
        tt_client_stream_write(c, NULL, b.data, b.len);
        tt_buf_deinit(&b);
    }
    tt_client_stream_end(c);
}

int tt_hold_start(struct tt_client *c, struct tt_grip *g, struct tt_resp *resp)
{
    tt_grip_apply(g, resp);
    if (g->hold == TT_HOLD_NONE && !g->next_link) {
        tt_client_send_resp(c, resp);
        return 0;
    }
    if (g->hold == TT_HOLD_STREAM && !g->next_link) {
        for (size_t i = 0; i < g->num_channels; i++) {
            if (g->channels[i].prev_id) {
                char msg[300];
                snprintf(msg, sizeof(msg), "channel '%s' specifies prev-id, but no next link found",
                         g->channels[i].name);
                tt_warn("c%llu: %s", (unsigned long long)c->id, msg);
                stream_refused(c, resp, msg);
                return TT_EPARSE;
            }
        }
    }
    if (g->hold == TT_HOLD_RESPONSE) {
        struct tt_buf extra;
        tt_buf_init(&extra, 0);
        bool retry = needs_recovery(c, g, &extra);
        if (retry && tt_client_retry(c, extra.data)) {
            tt_buf_deinit(&extra);
            return 0;
        }
        tt_buf_deinit(&extra);
    }
    struct tt_hold *h = hold_new(c, g);
    c->sink.session = &h->session;
    c->state = TT_C_HOLD;
    if (g->gone_link && c->req) {
        free(c->req->gone_link);
        c->req->gone_link = tt_strdup(g->gone_link);
    }
    if (g->next_link) {
        h->ln = tt_calloc(1, sizeof(*h->ln));
        h->ln->url = tt_strdup(g->next_link);
        h->ln->timeout_ms = (uint64_t)g->next_link_timeout * 1000;
        h->ln->only = g->hold == TT_HOLD_NONE;
    }
    if (g->hold == TT_HOLD_RESPONSE) {
        *h->resp = *resp;
        memset(resp, 0, sizeof(*resp));
        tt_buf_init(&resp->body, 0);
        tt_client_timer_start(c, on_response_timeout, (uint64_t)tt_grip_hold_timeout(g) * 1000);
        return 0;
    }
    /* A held stream's kernel send buffer is capped: Linux grows it up to tcp_wmem's
     * maximum (4 MB) for a client that has stopped reading, so a thousand such clients
     * would park gigabytes in the kernel before the slow-subscriber policy (queue cap,
     * drops) ever saw them. Streams carry published messages, not bulk downloads. */
    int sndbuf = HOLD_STREAM_SNDBUF;
    setsockopt(tt_conn_fd(&c->conn), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (!c->req->head_sent) /* else the head went out while a large body streamed */
        tt_client_stream_start(c, resp);
    if (c->state == TT_C_CLOSING)
        return 0;
    tt_client_trim_for_stream(c);
    h->last_write_ms = tt_now_ms();
    if (h->ln && h->ln->only) {
        link_fetch(h, NULL);
        return 0;
    }
    link_poll_arm(h);
    {
        /* A channel whose prev-id is not the last id we know missed something: fetch the
         * next link now, telling the backend where the client is. */
        struct tt_buf extra;
        tt_buf_init(&extra, 0);
        if (link_url(h) && needs_recovery(c, g, &extra))
            link_fetch(h, extra.data);
        tt_buf_deinit(&extra);
    }
    if (g->ka_data && g->ka_len) {
        bool chunked = tt_client_stream_chunked(c);
        struct tt_buf b;
        tt_buf_init(&b, 0);
        if (chunked)
            tt_buf_appendf(&b, "%zx\r\n", g->ka_len);
        tt_buf_append(&b, g->ka_data, g->ka_len);
        if (chunked)
            tt_buf_appends(&b, "\r\n");
        size_t n;
        h->ka_chunk = tt_buf_steal(&b, &n);
        h->ka_len = (uint32_t)n; /* the data came from a capped response head */
        h->ka_ms = (uint64_t)TT_MAX(g->ka_timeout, 1) * 1000;
        h->ka_mode = g->ka_mode;
        arm_keepalive(h);
    }
    return 0;
}

/* ---- delivery (the fan-out engine's subscriber ops) ------------------------------ */

static struct tt_hold *hold_of(struct tt_subscriber *who)
{
    return TT_CONTAINER_OF(who, struct tt_hold, sub);
}

/* Ask the backend again for the client's request (hint, gap, update, recover). The hold
 * stays until the backend answers: its answer replaces the hold (client.c), but when the
 * backend cannot be reached (down, restarting) the client stays held on the instructions
 * it had, instead of losing its place. */
static void hold_retry(struct tt_hold *h, const char *extra)
{
    struct tt_client *c = hold_client(h);
    if (c->req && c->req->up)
        return; /* a retry is under way already */
    if (!tt_client_retry(c, extra)) {
        tt_hold_free(h);
        c->state = TT_C_BODY;
        fail_502(c, "Unable to retry request.");
    }
}

static bool deliver_response(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m,
                             const char *content, size_t len)
{
    struct tt_hold *h = hold_of(who);
    struct tt_client *c = hold_client(h);
    const struct tt_pub_item *it = &m->item;
    (void)s;
    if (it->http_response.action == TT_ACT_CLOSE)
        return false; /* unsupported for long-polls, as Pushpin */
    if (it->http_response.action == TT_ACT_HINT) {
        hold_retry(h, NULL);
        return false;
    }
    struct tt_resp r;
    tt_resp_copy(&r, h->resp);
    r.status = it->http_response.code;
    free(r.reason);
    r.reason = it->http_response.reason ? tt_strdup(it->http_response.reason) : NULL;
    for (size_t i = 0; i < it->http_response.num_headers; i++) {
        const struct tt_kv *kv = &it->http_response.headers[i];
        if (tt_strihas_prefix(kv->name, strlen(kv->name), "Grip-") ||
            tt_strieq(kv->name, strlen(kv->name), "Content-Length"))
            continue;
        tt_resp_set_header(&r, kv->name, kv->value);
    }
    tt_buf_reset(&r.body);
    if (it->http_response.body_patch) {
        size_t n;
        char *patched = tt_json_patch_apply(h->resp->body.data ? h->resp->body.data : "",
                                            h->resp->body.len, it->http_response.body_patch, &n);
        if (!patched) {
            tt_warn("c%llu: body-patch could not be applied; item skipped",
                    (unsigned long long)c->id);
            tt_resp_deinit(&r);
            return false;
        }
        tt_buf_append(&r.body, patched, n);
        free(patched);
    } else if (content) {
        tt_buf_append(&r.body, content, len);
    } else {
        tt_buf_append(&r.body, it->http_response.body, it->http_response.body_len);
    }
    tt_hold_free(h);
    c->state = TT_C_BODY;
    tt_client_send_resp(c, &r);
    tt_resp_deinit(&r);
    return true;
}

static bool deliver_stream(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m,
                           const char *content, size_t len)
{
    struct tt_hold *h = hold_of(who);
    struct tt_sink *k = h->out;
    const struct tt_pub_item *it = &m->item;
    if (it->http_stream.action == TT_ACT_CLOSE) {
        stream_finish(h, true);
        return false;
    }
    if (it->http_stream.action == TT_ACT_HINT) {
        link_fetch(h, NULL);
        return false;
    }
    if (it->http_stream.action != TT_ACT_SEND)
        return false;
    s->got = true;
    bool chunked = k->ops->chunked(k);
    if (content) {
        if (chunked) {
            char hex[24];
            int hl = snprintf(hex, sizeof(hex), "%zx\r\n", len);
            k->ops->write(k, NULL, hex, (size_t)hl);
        }
        k->ops->write(k, NULL, content, len);
        if (chunked)
            k->ops->write(k, NULL, "\r\n", 2);
    } else if (chunked) {
        k->ops->write(k, m, m->stream_chunk, m->stream_chunk_len);
    } else {
        k->ops->write(k, m, m->stream_chunk + m->stream_raw_off, it->http_stream.content_len);
    }
    h->last_write_ms = tt_now_ms();
    k->ops->flush_later(k);
    return true;
}

/* A gap before a long-poll's delivery: ask the backend again, saying where the client is. */
static bool response_gap(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m)
{
    (void)m;
    char extra[600];
    snprintf(extra, sizeof(extra), "Grip-Last: %s; last-id=%s\r\n", tt_subscriber_channel(s),
             s->prev_id);
    hold_retry(hold_of(who), extra);
    return true;
}

/* A gap in a stream: with a next link, fetch it (Grip-Last); without, deliver anyway. */
static bool stream_gap(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m)
{
    (void)m;
    struct tt_hold *h = hold_of(who);
    if (!link_url(h))
        return false;
    char extra[600];
    snprintf(extra, sizeof(extra), "Grip-Last: %s; last-id=%s\r\n", tt_subscriber_channel(s),
             s->prev_id);
    link_fetch(h, extra);
    return true;
}

static void stream_backlog(const struct tt_subscriber *who, size_t *items, size_t *bytes)
{
    const struct tt_sink *k = TT_CONTAINER_OF(who, struct tt_hold, sub)->out;
    k->ops->backlog(k, items, bytes);
}

static bool stream_flush(struct tt_subscriber *who)
{
    struct tt_sink *k = hold_of(who)->out;
    return k->ops->flush_pending(k);
}

/* update_on_first_subscription and recover: a long-poll is re-requested, a stream with a
 * next link fetches it, so that nothing published while the hold was set up is missed. */
static void hold_update(struct tt_subscriber *who)
{
    struct tt_hold *h = hold_of(who);
    struct tt_client *c = hold_client(h);
    if (c && c->state != TT_C_HOLD)
        return;
    if (h->mode == TT_HOLD_RESPONSE) {
        if (c->req)
            c->req->updated = true;
        hold_retry(h, NULL);
    } else if (link_url(h)) {
        link_fetch(h, NULL);
    }
}

static const struct tt_subscriber_ops response_ops = {
    .format = TT_SUB_HTTP_RESPONSE,
    .deliver = deliver_response,
    .gap = response_gap,
    .update = hold_update,
};

static const struct tt_subscriber_ops stream_ops = {
    .format = TT_SUB_HTTP_STREAM,
    .deliver = deliver_stream,
    .gap = stream_gap,
    .backlog = stream_backlog,
    .flush = stream_flush,
    .update = hold_update,
};

static void hold_shutdown(struct tt_client_session *sess)
{
    struct tt_hold *h = TT_CONTAINER_OF(sess, struct tt_hold, session);
    struct tt_client *c = hold_client(h);
    enum tt_hold_mode mode = h->mode;
    if (mode == TT_HOLD_STREAM) {
        struct tt_sink *k = h->out;
        tt_hold_free(h);
        if (c && c->req)
            c->req->keep_alive = false;
        k->ops->end(k, true);
    } else {
        /* The timeout response now, and the connection closes after it (as for streams):
         * otherwise the client would sit on it until the drain deadline. */
        if (c->req)
            c->req->keep_alive = false;
        on_response_timeout(&c->sink.timer);
    }
}

static void hold_free_session(struct tt_client_session *sess)
{
    tt_hold_free(TT_CONTAINER_OF(sess, struct tt_hold, session));
}

/* An idle HTTP/2 stream's client is being replaced by a compact record (client.h,
 * tt_client_compact): a stream hold without next links needs nothing of its client but
 * the output, so it writes to the record from now on. */
static bool hold_compact(struct tt_client_session *sess, struct tt_sink *to)
{
    struct tt_hold *h = TT_CONTAINER_OF(sess, struct tt_hold, session);
    if (h->mode != TT_HOLD_STREAM || h->ln || h->resp)
        return false;
    if (to)
        h->out = to;
    return true;
}

static const struct tt_client_session_ops session_ops = {
    .free = hold_free_session,
    .shutdown = hold_shutdown,
    .compact = hold_compact,
};

#include "proxy/hold.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "proxy/forward.h"
#include "proxy/upstream.h"
#include "pubsub/control.h"

#define HOLD_QUEUE_ITEMS 100 /* Pushpin's per-session queue */

struct tt_chan {
    struct tt_list subs;
    size_t count;
    int iterating;
    char *name; /* the map entry's key */
    uint64_t update_at; /* first-subscription update due (0 = none) */
};

struct tt_sub {
    struct tt_list link;
    struct tt_hold *hold;
    struct tt_chan *chan;
    char *prev_id;
    char *filters[TT_GRIP_MAX_FILTERS];
    int num_filters;
    bool got; /* received a message since the last next-link poll */
};

struct tt_hold {
    struct tt_client *c;
    enum tt_hold_mode mode;
    struct tt_sub *subs;
    size_t num_subs;
    struct tt_resp resp; /* response hold: the timeout response; stream: unused */
    char *ka_chunk;      /* keep-alive bytes as written (chunk-framed when chunked) */
    size_t ka_len;
    uint64_t ka_ms;
    enum tt_ka_mode ka_mode;
    uint64_t last_write_ms;
    struct tt_grip_kv *meta;
    size_t num_meta;
    /* next link (Grip-Link rel=next) */
    char *link;               /* URL as the backend gave it, or NULL */
    uint64_t link_timeout_ms; /* poll period, 0 = only on hint, gap or no-hold */
    bool link_only;           /* no hold: the stream ends when the links run out */
    struct tt_upstream *link_up;
    struct tt_h1_response *link_head;
    char *link_head_raw;
    struct tt_buf link_body;
    char *link_extra; /* Grip-Last lines for the fetch in flight / retried */
    int link_retries;
    uv_timer_t *link_timer; /* heap; closed with free */
    struct tt_route_target link_target; /* for a link to another host */
};

static void chan_release(struct tt_worker *w, struct tt_chan *ch)
{
    if (ch->count || ch->iterating)
        return;
    tt_control_report_sub(w->srv->control, ch->name, false);
    tt_map_remove(&w->chans, ch->name, strlen(ch->name));
    free(ch);
}

static void subscribe(struct tt_hold *h, const struct tt_grip_channel *gc, struct tt_sub *s)
{
    struct tt_worker *w = h->c->w;
    size_t len = strlen(gc->name);
    struct tt_chan *ch = tt_map_get(&w->chans, gc->name, len);
    if (!ch) {
        ch = tt_calloc(1, sizeof(*ch));
        tt_list_init(&ch->subs);
        struct tt_map_entry *e = tt_map_put(&w->chans, gc->name, len, ch);
        ch->name = e->key;
        /* A session re-requested by such an update does not start another one. */
        if (w->srv->cfg.update_on_first_subscription && !(h->c->req && h->c->req->updated))
            ch->update_at = tt_now_ms() + 1000;
        tt_control_report_sub(w->srv->control, ch->name, true);
    }
    s->hold = h;
    s->chan = ch;
    s->prev_id = gc->prev_id ? tt_strdup(gc->prev_id) : NULL;
    for (int i = 0; i < gc->num_filters; i++)
        s->filters[i] = tt_strdup(gc->filters[i]);
    s->num_filters = gc->num_filters;
    tt_list_insert_tail(&ch->subs, &s->link);
    ch->count++;
}

static void unsubscribe_all(struct tt_hold *h)
{
    struct tt_worker *w = h->c->w;
    for (size_t i = 0; i < h->num_subs; i++) {
        struct tt_sub *s = &h->subs[i];
        if (!s->chan)
            continue;
        tt_list_remove(&s->link);
        s->chan->count--;
        chan_release(w, s->chan);
        free(s->prev_id);
        for (int k = 0; k < s->num_filters; k++)
            free(s->filters[k]);
    }
    free(h->subs);
    h->subs = NULL;
    h->num_subs = 0;
}

static void subscribe_all(struct tt_hold *h, const struct tt_grip *g)
{
    size_t n = TT_MIN(g->num_channels, (size_t)h->c->w->srv->cfg.connection_subscription_max);
    h->subs = tt_calloc(n ? n : 1, sizeof(*h->subs));
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(g->channels[k].name, g->channels[i].name) == 0;
        if (!dup)
            subscribe(h, &g->channels[i], &h->subs[h->num_subs++]);
    }
}

static void free_timer(uv_handle_t *t)
{
    free(t);
}

static void link_reset(struct tt_hold *h)
{
    if (h->link_up) {
        tt_upstream_abort(h->link_up);
        h->link_up = NULL;
    }
    free(h->link_head);
    free(h->link_head_raw);
    h->link_head = NULL;
    h->link_head_raw = NULL;
    tt_buf_deinit(&h->link_body);
}

void tt_hold_free(struct tt_hold *h)
{
    if (!h)
        return;
    struct tt_worker *w = h->c->w;
    unsubscribe_all(h);
    link_reset(h);
    free(h->link);
    free(h->link_extra);
    free(h->link_target.host);
    if (h->link_timer)
        uv_close((uv_handle_t *)h->link_timer, free_timer);
    tt_resp_deinit(&h->resp);
    free(h->ka_chunk);
    for (size_t i = 0; i < h->num_meta; i++) {
        free(h->meta[i].name);
        free(h->meta[i].value);
    }
    free(h->meta);
    uv_timer_stop(&h->c->timer);
    if (h->c->hold == h)
        h->c->hold = NULL;
    w->stats.held--;
    free(h);
}

static const char *meta_get(const struct tt_hold *h, const char *name)
{
    for (size_t i = 0; i < h->num_meta; i++)
        if (strcmp(h->meta[i].name, name) == 0)
            return h->meta[i].value;
    return NULL;
}


static void apply_instructions(const struct tt_grip *g, struct tt_resp *resp)
{
    /* Grip-Expose-Headers filters the real response's headers only. */
    if (g->expose) {
        size_t o = 0;
        for (size_t i = 0; i < resp->num_headers; i++) {
            bool keep = false;
            for (size_t k = 0; k < g->num_expose && !keep; k++)
                keep = tt_strieq(resp->headers[i].name, strlen(resp->headers[i].name),
                                 g->expose[k]);
            if (keep) {
                resp->headers[o++] = resp->headers[i];
            } else {
                free(resp->headers[i].name);
                free(resp->headers[i].value);
            }
        }
        resp->num_headers = o;
    }
    const char *reason;
    size_t reason_len;
    int code = tt_grip_status_line(g, resp->status, resp->reason,
                                   resp->reason ? strlen(resp->reason) : 0, &reason, &reason_len);
    char *new_reason = reason ? tt_strndup(reason, reason_len) : NULL;
    free(resp->reason);
    resp->reason = new_reason;
    resp->status = code;
    if (g->has_response) {
        /* grip-instruct replaces the real headers and body. */
        for (size_t i = 0; i < resp->num_headers; i++) {
            free(resp->headers[i].name);
            free(resp->headers[i].value);
        }
        resp->num_headers = 0;
        for (size_t i = 0; i < g->num_resp_headers; i++)
            tt_resp_add_header(resp, g->resp_headers[i].name, g->resp_headers[i].value);
        tt_buf_reset(&resp->body);
        if (g->resp_body_len)
            tt_buf_append(&resp->body, g->resp_body, g->resp_body_len);
    }
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

static void on_response_timeout(uv_timer_t *t)
{
    struct tt_client *c = t->data;
    struct tt_hold *h = c->hold;
    if (!h || h->mode != TT_HOLD_RESPONSE)
        return;
    struct tt_resp r = h->resp;
    memset(&h->resp, 0, sizeof(h->resp));
    tt_hold_free(h);
    c->state = TT_C_BODY;
    if (c->req)
        c->req->jsonp_handler_style = true;
    tt_client_send_resp(c, &r);
    tt_resp_deinit(&r);
}

static void arm_keepalive(struct tt_hold *h);

static void on_keepalive(uv_timer_t *t)
{
    struct tt_client *c = t->data;
    struct tt_hold *h = c->hold;
    if (!h || h->mode != TT_HOLD_STREAM || !h->ka_chunk)
        return;
    uint64_t now = tt_now_ms();
    if (h->ka_mode == TT_KA_IDLE && now - h->last_write_ms + 5 < h->ka_ms) {
        uv_timer_start(&c->timer, on_keepalive, h->ka_ms - (now - h->last_write_ms), 0);
        return;
    }
    tt_client_stream_write(c, NULL, h->ka_chunk, h->ka_len);
    h->last_write_ms = now;
    if (!tt_client_flush(c))
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
    uv_timer_start(&h->c->timer, on_keepalive, h->ka_ms - jitter, 0);
}


/* ---- next links -------------------------------------------------------------------- */

#define LINK_MAX_RETRIES 5

static void link_fetch(struct tt_hold *h, const char *extra);
static void stream_finish(struct tt_hold *h, bool clean);

static void link_on_timer(uv_timer_t *t)
{
    struct tt_hold *h = t->data;
    if (h->link_retries > 0 && !h->link_up) {
        link_fetch(h, h->link_extra);
        return;
    }
    if (!h->link || h->link_up || !h->link_timeout_ms)
        return;
    /* Poll when some channel went quiet for a whole period. */
    bool all = h->num_subs > 0;
    for (size_t i = 0; i < h->num_subs; i++) {
        all = all && h->subs[i].got;
        h->subs[i].got = false;
    }
    if (!all)
        link_fetch(h, NULL);
}

static void link_timer_start(struct tt_hold *h, uint64_t ms, bool repeat)
{
    if (!h->link_timer) {
        h->link_timer = tt_malloc(sizeof(*h->link_timer));
        uv_timer_init(&h->c->w->loop, h->link_timer);
        h->link_timer->data = h;
    }
    uv_timer_start(h->link_timer, link_on_timer, ms, repeat ? ms : 0);
}

static void link_poll_arm(struct tt_hold *h)
{
    if (h->link && h->link_timeout_ms && !h->link_only)
        link_timer_start(h, h->link_timeout_ms, true);
    else if (h->link_timer)
        uv_timer_stop(h->link_timer);
}

static void link_failed(struct tt_hold *h, const char *why)
{
    tt_warn("c%llu: next link %s: %s", (unsigned long long)h->c->id, h->link ? h->link : "-", why);
    link_reset(h);
    if (h->link_retries < LINK_MAX_RETRIES) {
        uint64_t ms = 1000ULL << h->link_retries;
        h->link_retries++;
        link_timer_start(h, ms + (uint64_t)(rand() % 1000), false);
        return;
    }
    stream_finish(h, false);
}

static void link_write_body(struct tt_hold *h, const char *data, size_t len)
{
    if (!len)
        return;
    struct tt_client *c = h->c;
    if (tt_client_stream_chunked(c)) {
        char hex[24];
        int hl = snprintf(hex, sizeof(hex), "%zx\r\n", len);
        tt_client_stream_write(c, NULL, hex, (size_t)hl);
        tt_client_stream_write(c, NULL, data, len);
        tt_client_stream_write(c, NULL, "\r\n", 2);
    } else {
        tt_client_stream_write(c, NULL, data, len);
    }
    h->last_write_ms = tt_now_ms();
}

static int link_on_head(void *ctx, const struct tt_h1_response *resp)
{
    struct tt_hold *h = ctx;
    h->link_head = tt_h1_response_dup(resp, &h->link_head_raw);
    tt_buf_init(&h->link_body, TT_GRIP_MAX_BODY);
    return 0;
}

static void link_on_data(void *ctx, const char *data, size_t len)
{
    struct tt_hold *h = ctx;
    if (tt_buf_append(&h->link_body, data, len) != 0)
        link_failed(h, "response too large"); /* aborts the fetch: no more callbacks */
}

static void link_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    (void)err;
    (void)tried;
    struct tt_hold *h = ctx;
    h->link_up = NULL;
    link_failed(h, "request failed");
}

static void link_on_end(void *ctx)
{
    struct tt_hold *h = ctx;
    struct tt_client *c = h->c;
    h->link_up = NULL;
    if (h->link_head->status < 200 || h->link_head->status >= 300) {
        link_failed(h, "non-2xx response");
        return;
    }
    struct tt_grip g;
    char err[256];
    memset(&g, 0, sizeof(g));
    const char *prefix = c->req && c->req->route ? c->req->route->prefix : NULL;
    int r = tt_grip_parse(h->link_head, h->link_body.data, h->link_body.len, prefix,
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
    h->link_retries = 0;
    free(h->link_extra);
    h->link_extra = NULL;
    const char *body = g.has_response ? g.resp_body : h->link_body.data;
    size_t body_len = g.has_response ? g.resp_body_len : h->link_body.len;
    link_write_body(h, body, body_len);
    free(h->link);
    h->link = g.next_link ? tt_strdup(g.next_link) : NULL;
    if (g.next_link_timeout > 0)
        h->link_timeout_ms = (uint64_t)g.next_link_timeout * 1000;
    link_reset(h);
    if (g.hold == TT_HOLD_STREAM) {
        unsubscribe_all(h);
        subscribe_all(h, &g);
        h->link_only = false;
        link_poll_arm(h);
        tt_grip_deinit(&g);
        tt_client_flush(c);
        return;
    }
    tt_grip_deinit(&g);
    if (h->link) {
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

/* Resolve a link URL against the client's request: same host (or relative) goes through
 * the route's targets, another host straight there (adhoc is filled for that case; its
 * host is malloc'd). Returns false if there is no HTTP target to use. */
static bool resolve_link(struct tt_client *c, const char *url, char *path, size_t pathsz,
                         char *host, size_t hostsz, struct tt_route_target *adhoc,
                         const struct tt_route_target **targets, size_t *num_targets)
{
    struct tt_req *q = c->req;
    *targets = q->route->targets;
    *num_targets = q->route->num_targets;
    snprintf(host, hostsz, "%s", q->host ? q->host : "localhost");
    bool https = strncmp(url, "https://", 8) == 0;
    if (strncmp(url, "http://", 7) == 0 || https) {
        const char *hp = url + (https ? 8 : 7);
        const char *slash = strchr(hp, '/');
        size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
        snprintf(host, hostsz, "%.*s", (int)TT_MIN(hl, hostsz - 1), hp);
        snprintf(path, pathsz, "%s", slash ? slash : "/");
        if (!q->host || strcasecmp(host, q->host) != 0) {
            free(adhoc->host);
            memset(adhoc, 0, sizeof(*adhoc));
            char *colon = strrchr(host, ':');
            adhoc->type = TT_TARGET_HTTP;
            adhoc->ssl = https;
            adhoc->port = https ? 443 : 80;
            if (colon && !strchr(colon, ']')) {
                adhoc->host = tt_strndup(host, (size_t)(colon - host));
                int64_t port = tt_parse_uint(colon + 1, strlen(colon + 1), 65535);
                adhoc->port = (uint16_t)(port > 0 ? port : 80);
            } else {
                adhoc->host = tt_strdup(host);
            }
            *targets = adhoc;
            *num_targets = 1;
        }
    } else if (url[0] == '/') {
        snprintf(path, pathsz, "%s", url);
    } else {
        /* relative to the directory of the request path */
        const char *rp = q->path ? q->path : "/";
        size_t dl = strcspn(rp, "?");
        while (dl > 0 && rp[dl - 1] != '/')
            dl--;
        snprintf(path, pathsz, "%.*s%s", (int)dl, rp, url);
    }
    return *num_targets > 0 && (*targets)[0].type == TT_TARGET_HTTP;
}

/* GET the next link, through the route when it points at the same host (so it gets
 * Grip-Sig), else straight to that host. */
static void link_fetch(struct tt_hold *h, const char *extra)
{
    struct tt_client *c = h->c;
    struct tt_req *q = c->req;
    if (!h->link || h->link_up || !q || !q->route)
        return;
    if (extra != h->link_extra) {
        free(h->link_extra);
        h->link_extra = extra ? tt_strdup(extra) : NULL;
    }
    char host[300], path[4200];
    const struct tt_route_target *targets;
    size_t num_targets;
    if (!resolve_link(c, h->link, path, sizeof(path), host, sizeof(host), &h->link_target,
                      &targets, &num_targets)) {
        link_failed(h, "route has no HTTP target");
        return;
    }
    struct tt_buf head;
    tt_buf_init(&head, 0);
    tt_forward_build_internal(c->w->srv, c, q->route, "GET", path, host, h->link_extra, &head);
    h->link_up = tt_upstream_start(c->w, targets, num_targets, head.data, head.len, 0,
                                   &link_cbs, h);
    tt_buf_deinit(&head);
}

/* ---- gone links ---------------------------------------------------------------------- */

/* A fire-and-forget POST that outlives the client: it owns what it points at. */
struct gone_req {
    struct tt_routes *routes;
    struct tt_route_target adhoc;
};

static void gone_done(struct gone_req *g)
{
    tt_routes_unref(g->routes);
    free(g->adhoc.host);
    free(g);
}

static int gone_on_head(void *ctx, const struct tt_h1_response *resp)
{
    (void)ctx;
    (void)resp;
    return 0;
}

static void gone_on_data(void *ctx, const char *d, size_t n)
{
    (void)ctx;
    (void)d;
    (void)n;
}

static void gone_on_end(void *ctx)
{
    gone_done(ctx);
}

static void gone_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    (void)err;
    tt_debug("gone link request failed (%s)", tried);
    gone_done(ctx);
}

static const struct tt_upstream_cbs gone_cbs = {
    .on_head = gone_on_head,
    .on_data = gone_on_data,
    .on_end = gone_on_end,
    .on_error = gone_on_error,
};

void tt_hold_post_gone(struct tt_client *c)
{
    struct tt_req *q = c->req;
    if (!q || !q->gone_link || !q->route)
        return;
    struct gone_req *g = tt_calloc(1, sizeof(*g));
    g->routes = q->routes;
    tt_routes_ref(g->routes);
    char host[300], path[4200];
    const struct tt_route_target *targets;
    size_t num_targets;
    if (!resolve_link(c, q->gone_link, path, sizeof(path), host, sizeof(host), &g->adhoc,
                      &targets, &num_targets)) {
        gone_done(g);
        return;
    }
    struct tt_buf head;
    tt_buf_init(&head, 0);
    tt_forward_build_internal(c->w->srv, c, q->route, "POST", path, host,
                              "Content-Length: 0\r\n", &head);
    if (!tt_upstream_start(c->w, targets, num_targets, head.data, head.len, 0, &gone_cbs, g))
        gone_done(g);
    tt_buf_deinit(&head);
}

static void stream_finish(struct tt_hold *h, bool clean)
{
    struct tt_client *c = h->c;
    tt_hold_free(h);
    if (!clean) {
        tt_client_close(c); /* no terminal chunk: the client sees an unclean end */
        return;
    }
    c->state = TT_C_BODY;
    tt_client_stream_end(c);
}

/* ---- start ------------------------------------------------------------------------- */

static struct tt_hold *hold_new(struct tt_client *c, const struct tt_grip *g)
{
    struct tt_hold *h = tt_calloc(1, sizeof(*h));
    h->c = c;
    h->mode = g->hold;
    c->w->stats.held++;
    if (g->num_meta) {
        h->meta = tt_calloc(g->num_meta, sizeof(*h->meta));
        for (size_t i = 0; i < g->num_meta; i++) {
            h->meta[i].name = tt_strdup(g->meta[i].name);
            h->meta[i].value = tt_strdup(g->meta[i].value ? g->meta[i].value : "");
        }
        h->num_meta = g->num_meta;
    }
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
        char *known = tt_server_last_id(c->w->srv, gc->name);
        if (known && strcmp(known, gc->prev_id) != 0) {
            tt_buf_appendf(extra, "Grip-Last: %s; last-id=%s\r\n", gc->name, gc->prev_id);
            tt_server_set_last_id(c->w->srv, gc->name, NULL);
            any = true;
        }
        free(known);
    }
    return any;
}

void tt_hold_stream_begin(struct tt_client *c, const struct tt_grip *g, struct tt_resp *resp)
{
    apply_instructions(g, resp);
    tt_client_stream_start(c, resp);
}

int tt_hold_start(struct tt_client *c, struct tt_grip *g, struct tt_resp *resp)
{
    apply_instructions(g, resp);
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
                fail_502(c, msg);
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
    /* A target's sub= channels are implicit subscriptions of every hold through it. */
    const struct tt_route_target *t = c->req ? c->req->target : NULL;
    for (size_t i = 0; t && i < t->num_subs; i++) {
        g->channels = tt_realloc(g->channels, (g->num_channels + 1) * sizeof(*g->channels));
        struct tt_grip_channel *gc = &g->channels[g->num_channels++];
        memset(gc, 0, sizeof(*gc));
        gc->name = tt_strdup(t->subs[i]);
    }
    struct tt_hold *h = hold_new(c, g);
    c->hold = h;
    c->state = TT_C_HOLD;
    if (g->gone_link && c->req) {
        free(c->req->gone_link);
        c->req->gone_link = tt_strdup(g->gone_link);
    }
    if (g->next_link) {
        h->link = tt_strdup(g->next_link);
        h->link_timeout_ms = (uint64_t)g->next_link_timeout * 1000;
        h->link_only = g->hold == TT_HOLD_NONE;
    }
    if (g->hold == TT_HOLD_RESPONSE) {
        h->resp = *resp;
        memset(resp, 0, sizeof(*resp));
        tt_buf_init(&resp->body, 0);
        uv_timer_start(&c->timer, on_response_timeout, (uint64_t)tt_grip_hold_timeout(g) * 1000,
                       0);
        return 0;
    }
    if (!c->req->head_sent) /* else the head went out while a large body streamed */
        tt_client_stream_start(c, resp);
    if (c->state == TT_C_CLOSING)
        return 0;
    h->last_write_ms = tt_now_ms();
    if (h->link_only) {
        link_fetch(h, NULL);
        return 0;
    }
    link_poll_arm(h);
    {
        /* A channel whose prev-id is not the last id we know missed something: fetch the
         * next link now, telling the backend where the client is. */
        struct tt_buf extra;
        tt_buf_init(&extra, 0);
        if (h->link && needs_recovery(c, g, &extra))
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
        h->ka_chunk = tt_buf_steal(&b, &h->ka_len);
        h->ka_ms = (uint64_t)TT_MAX(g->ka_timeout, 1) * 1000;
        h->ka_mode = g->ka_mode;
        arm_keepalive(h);
    }
    return 0;
}

/* ---- delivery ---------------------------------------------------------------------- */

static bool in_list(const char *list, const char *v)
{
    const char *item;
    size_t n, pos = 0, vl = strlen(v);
    while (tt_next_item(list, strlen(list), &pos, &item, &n))
        if (n == vl && memcmp(item, v, n) == 0)
            return true;
    return false;
}

static bool subscribed_to(const struct tt_hold *h, const char *channel)
{
    for (size_t i = 0; i < h->num_subs; i++)
        if (h->subs[i].chan && strcmp(h->subs[i].chan->name, channel) == 0)
            return true;
    return false;
}

/* Filters that decide whether this subscriber gets the message at all. */
static bool filtered_out(const struct tt_sub *s, const struct tt_msg *m)
{
    const struct tt_hold *h = s->hold;
    for (int i = 0; i < s->num_filters; i++) {
        const char *f = s->filters[i];
        if (strcmp(f, "skip-self") == 0) {
            const char *user = meta_get(h, "user"), *sender = tt_msg_meta(m, "sender");
            if (user && sender && strcmp(user, sender) == 0)
                return true;
        } else if (strcmp(f, "skip-users") == 0) {
            const char *user = meta_get(h, "user"), *skip = tt_msg_meta(m, "skip_users");
            if (user && skip && in_list(skip, user))
                return true;
        } else if (strcmp(f, "require-sub") == 0) {
            const char *req = tt_msg_meta(m, "require_sub");
            if (req && !subscribed_to(h, req))
                return true;
        }
    }
    return false;
}

/* var-subst: "%(name)s" -> subscription meta value; "%%" -> "%". NULL = no change. */
static char *var_subst(const struct tt_sub *s, const char *in, size_t len, size_t *out_len)
{
    bool on = false;
    for (int i = 0; i < s->num_filters; i++)
        on = on || strcmp(s->filters[i], "var-subst") == 0;
    if (!on)
        return NULL;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && i + 1 < len && in[i + 1] == '%') {
            tt_buf_append(&b, "%", 1);
            i++;
        } else if (in[i] == '%' && i + 1 < len && in[i + 1] == '(') {
            const char *end = memchr(in + i + 2, ')', len - i - 2);
            if (end && end + 1 < in + len && end[1] == 's') {
                char name[128];
                size_t nl = (size_t)(end - (in + i + 2));
                snprintf(name, sizeof(name), "%.*s", (int)TT_MIN(nl, sizeof(name) - 1),
                         in + i + 2);
                const char *v = meta_get(s->hold, name);
                if (v)
                    tt_buf_appends(&b, v);
                i = (size_t)(end - in) + 1;
            } else {
                tt_buf_append(&b, in + i, 1);
            }
        } else {
            tt_buf_append(&b, in + i, 1);
        }
    }
    return tt_buf_steal(&b, out_len);
}

static bool has_filter(const struct tt_sub *s, const char *name)
{
    for (int i = 0; i < s->num_filters; i++)
        if (strcmp(s->filters[i], name) == 0)
            return true;
    return false;
}

/* build-id: "%I" -> the subscription's id_format with "%(channel)s" replaced by that
 * channel's current prev-id ("%%" -> "%"), hex-encoded with id_encoding=hex. */
static char *build_id(const struct tt_hold *h)
{
    const char *fmt = meta_get(h, "id_format");
    struct tt_buf b;
    tt_buf_init(&b, 0);
    for (const char *p = fmt ? fmt : ""; *p; p++) {
        if (p[0] == '%' && p[1] == '%') {
            tt_buf_append(&b, "%", 1);
            p++;
        } else if (p[0] == '%' && p[1] == '(') {
            const char *end = strstr(p + 2, ")s");
            if (!end) {
                tt_buf_appends(&b, p);
                break;
            }
            for (size_t i = 0; i < h->num_subs; i++) {
                const struct tt_sub *x = &h->subs[i];
                if (x->chan && strlen(x->chan->name) == (size_t)(end - p - 2) &&
                    memcmp(x->chan->name, p + 2, (size_t)(end - p - 2)) == 0 && x->prev_id)
                    tt_buf_appends(&b, x->prev_id);
            }
            p = end + 1;
        } else {
            tt_buf_append(&b, p, 1);
        }
    }
    const char *enc = meta_get(h, "id_encoding");
    if (enc && strcmp(enc, "hex") == 0) {
        struct tt_buf x;
        tt_buf_init(&x, 0);
        for (size_t i = 0; i < b.len; i++)
            tt_buf_appendf(&x, "%02x", (unsigned char)b.data[i]);
        tt_buf_deinit(&b);
        b = x;
    }
    return tt_buf_steal(&b, NULL);
}

/* Content-changing filters (build-id, var-subst) for one subscriber. NULL = unchanged, so
 * the shared bytes can be used. */
static char *content_filters(const struct tt_sub *s, const char *in, size_t len,
                             size_t *out_len)
{
    char *cur = NULL;
    if (has_filter(s, "build-id")) {
        char *id = build_id(s->hold);
        struct tt_buf b;
        tt_buf_init(&b, 0);
        for (size_t i = 0; i < len; i++) {
            if (in[i] == '%' && i + 1 < len && in[i + 1] == 'I') {
                tt_buf_appends(&b, id);
                i++;
            } else if (in[i] == '%' && i + 1 < len && in[i + 1] == '%') {
                tt_buf_append(&b, "%", 1);
                i++;
            } else {
                tt_buf_append(&b, in + i, 1);
            }
        }
        free(id);
        cur = tt_buf_steal(&b, &len);
        in = cur;
    }
    char *v = var_subst(s, in, len, out_len);
    if (v) {
        free(cur);
        return v;
    }
    if (cur)
        *out_len = len;
    return cur;
}

static void deliver_response(struct tt_sub *s, struct tt_msg *m)
{
    struct tt_hold *h = s->hold;
    struct tt_client *c = h->c;
    const struct tt_pub_item *it = &m->item;
    if (!it->has_http_response)
        return;
    if (it->http_response.action == TT_ACT_CLOSE)
        return; /* unsupported for long-polls, as Pushpin */
    if (s->prev_id && it->prev_id && strcmp(s->prev_id, it->prev_id) != 0) {
        char extra[600];
        snprintf(extra, sizeof(extra), "Grip-Last: %s; last-id=%s\r\n", s->chan->name,
                 s->prev_id);
        tt_hold_free(h);
        c->state = TT_C_BODY;
        if (!tt_client_retry(c, extra))
            fail_502(c, "Unable to retry request.");
        return;
    }
    if (it->http_response.action == TT_ACT_HINT) {
        tt_hold_free(h);
        c->state = TT_C_BODY;
        if (!tt_client_retry(c, NULL))
            fail_502(c, "Unable to retry request.");
        return;
    }
    struct tt_resp r;
    tt_resp_copy(&r, &h->resp);
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
        char *patched = tt_json_patch_apply(h->resp.body.data ? h->resp.body.data : "",
                                            h->resp.body.len, it->http_response.body_patch, &n);
        if (!patched) {
            tt_warn("c%llu: body-patch could not be applied; item skipped",
                    (unsigned long long)c->id);
            tt_resp_deinit(&r);
            return;
        }
        tt_buf_append(&r.body, patched, n);
        free(patched);
    } else {
        size_t n;
        char *sub = content_filters(s, it->http_response.body, it->http_response.body_len, &n);
        if (sub) {
            tt_buf_append(&r.body, sub, n);
            free(sub);
        } else {
            tt_buf_append(&r.body, it->http_response.body, it->http_response.body_len);
        }
    }
    tt_hold_free(h);
    c->state = TT_C_BODY;
    c->w->stats.deliveries++;
    tt_client_send_resp(c, &r);
    tt_resp_deinit(&r);
}

static void deliver_stream(struct tt_sub *s, struct tt_msg *m)
{
    struct tt_hold *h = s->hold;
    struct tt_client *c = h->c;
    const struct tt_pub_item *it = &m->item;
    if (!it->has_http_stream)
        return;
    if (it->http_stream.action == TT_ACT_CLOSE) {
        tt_hold_free(h);
        c->state = TT_C_BODY;
        tt_client_stream_end(c);
        return;
    }
    if (it->http_stream.action == TT_ACT_HINT) {
        link_fetch(h, NULL);
        return;
    }
    if (it->http_stream.action != TT_ACT_SEND)
        return;
    if (s->prev_id && it->prev_id && strcmp(s->prev_id, it->prev_id) != 0 && h->link) {
        char extra[600];
        snprintf(extra, sizeof(extra), "Grip-Last: %s; last-id=%s\r\n", s->chan->name,
                 s->prev_id);
        link_fetch(h, extra);
        return;
    }
    s->got = true;
    /* Slow subscriber: over its queue caps the message is dropped for it (Pushpin's
     * policy), counted, and the others are not held back. */
    bool full = c->conn.out_count >= HOLD_QUEUE_ITEMS ||
                c->conn.out_bytes >= c->w->srv->cfg.subscriber_queue_max;
    if (full && c->dirty) {
        /* Queued by this batch and not written yet: try the socket before judging. */
        if (!tt_client_flush(c))
            return;
        full = c->conn.out_count >= HOLD_QUEUE_ITEMS ||
               c->conn.out_bytes >= c->w->srv->cfg.subscriber_queue_max;
    }
    if (full) {
        c->w->stats.drops++;
        tt_debug("c%llu: slow subscriber, message dropped", (unsigned long long)c->id);
        return;
    }
    if (it->id) {
        free(s->prev_id);
        s->prev_id = tt_strdup(it->id);
    }
    size_t n;
    char *sub = content_filters(s, it->http_stream.content, it->http_stream.content_len, &n);
    bool chunked = tt_client_stream_chunked(c);
    if (sub) {
        if (chunked) {
            char hex[24];
            int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
            tt_client_stream_write(c, NULL, hex, (size_t)hl);
        }
        tt_client_stream_write(c, NULL, sub, n);
        if (chunked)
            tt_client_stream_write(c, NULL, "\r\n", 2);
        free(sub);
    } else if (chunked) {
        tt_client_stream_write(c, m, m->stream_chunk, m->stream_chunk_len);
    } else {
        tt_client_stream_write(c, m, m->stream_chunk + m->stream_raw_off,
                               it->http_stream.content_len);
    }
    h->last_write_ms = tt_now_ms();
    c->w->stats.deliveries++;
    tt_client_flush_later(c);
}

void tt_hold_fanout(struct tt_worker *w, struct tt_msg *m)
{
    if (!m->item.channel)
        return;
    struct tt_chan *ch = tt_map_get(&w->chans, m->item.channel, strlen(m->item.channel));
    if (!ch)
        return;
    ch->iterating++;
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &ch->subs)
    {
        struct tt_sub *s = TT_CONTAINER_OF(p, struct tt_sub, link);
        if (s->hold->c->state == TT_C_CLOSING || filtered_out(s, m))
            continue;
        if (s->hold->mode == TT_HOLD_RESPONSE)
            deliver_response(s, m);
        else
            deliver_stream(s, m);
    }
    ch->iterating--;
    chan_release(w, ch);
}

void tt_hold_shutdown(struct tt_hold *h)
{
    struct tt_client *c = h->c;
    enum tt_hold_mode mode = h->mode;
    if (mode == TT_HOLD_STREAM) {
        tt_hold_free(h);
        c->state = TT_C_BODY;
        if (c->req)
            c->req->keep_alive = false;
        tt_client_stream_end(c);
    } else {
        /* The timeout response now, and the connection closes after it (as for streams):
         * otherwise the client would sit on it until the drain deadline. */
        if (c->req)
            c->req->keep_alive = false;
        on_response_timeout(&c->timer);
    }
}

void tt_hold_recover_all(struct tt_worker *w)
{
    /* Collect first: a retry frees the hold and changes the channel lists. */
    struct tt_client **list = NULL;
    size_t n = 0;
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &w->clients)
    {
        struct tt_client *c = TT_CONTAINER_OF(p, struct tt_client, link);
        if (c->hold && c->hold->mode == TT_HOLD_RESPONSE) {
            list = tt_realloc(list, (n + 1) * sizeof(*list));
            list[n++] = c;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct tt_client *c = list[i];
        tt_hold_free(c->hold);
        c->state = TT_C_BODY;
        if (!tt_client_retry(c, NULL))
            fail_502(c, "Unable to retry request.");
    }
    free(list);
}

/* update_on_first_subscription: a second after a channel got its first subscriber, ask the
 * backend again for each of its sessions (a long-poll is re-requested, a stream with a next
 * link fetches it), so that nothing published while the hold was being set up is missed. */
void tt_hold_tick(struct tt_worker *w)
{
    uint64_t now = tt_now_ms();
    struct tt_client **list = NULL;
    size_t n = 0;
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&w->chans, &it); e;
         e = tt_map_next(&w->chans, e, &it)) {
        struct tt_chan *ch = e->value;
        if (!ch->update_at || ch->update_at > now)
            continue;
        ch->update_at = 0;
        struct tt_list *p, *tmp;
        tt_list_for_each_safe(p, tmp, &ch->subs)
        {
            struct tt_sub *s = TT_CONTAINER_OF(p, struct tt_sub, link);
            list = tt_realloc(list, (n + 1) * sizeof(*list));
            list[n++] = s->hold->c;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct tt_client *c = list[i];
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = list[k] == c;
        struct tt_hold *h = c->hold;
        if (seen || !h || c->state != TT_C_HOLD)
            continue;
        if (h->mode == TT_HOLD_RESPONSE) {
            tt_hold_free(h);
            c->state = TT_C_BODY;
            c->req->updated = true;
            if (!tt_client_retry(c, NULL))
                fail_502(c, "Unable to retry request.");
        } else if (h->link) {
            link_fetch(h, NULL);
        }
    }
    free(list);
}

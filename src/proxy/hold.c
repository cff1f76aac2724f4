#include "proxy/hold.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "pubsub/control.h"

#define HOLD_QUEUE_ITEMS 100 /* Pushpin's per-session queue */

struct tt_chan {
    struct tt_list subs;
    size_t count;
    int iterating;
    char *name; /* the map entry's key */
};

struct tt_sub {
    struct tt_list link;
    struct tt_hold *hold;
    struct tt_chan *chan;
    char *prev_id;
    char *filters[TT_GRIP_MAX_FILTERS];
    int num_filters;
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

void tt_hold_free(struct tt_hold *h)
{
    if (!h)
        return;
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
    size_t n = TT_MIN(g->num_channels, (size_t)c->w->srv->cfg.connection_subscription_max);
    h->subs = tt_calloc(n ? n : 1, sizeof(*h->subs));
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(g->channels[k].name, g->channels[i].name) == 0;
        if (dup)
            continue;
        subscribe(h, &g->channels[i], &h->subs[h->num_subs++]);
    }
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

int tt_hold_start(struct tt_client *c, struct tt_grip *g, struct tt_resp *resp)
{
    apply_instructions(g, resp);
    if (g->hold == TT_HOLD_NONE) {
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
    struct tt_hold *h = hold_new(c, g);
    c->hold = h;
    c->state = TT_C_HOLD;
    if (g->hold == TT_HOLD_RESPONSE) {
        h->resp = *resp;
        memset(resp, 0, sizeof(*resp));
        tt_buf_init(&resp->body, 0);
        uv_timer_start(&c->timer, on_response_timeout, (uint64_t)tt_grip_hold_timeout(g) * 1000,
                       0);
        return 0;
    }
    tt_client_stream_start(c, resp);
    if (c->state == TT_C_CLOSING)
        return 0;
    h->last_write_ms = tt_now_ms();
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
    size_t vl = strlen(v);
    for (const char *s = list; s && *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        const char *t = s;
        tt_trim(&t, &n);
        if (n == vl && memcmp(t, v, n) == 0)
            return true;
        s = e ? e + 1 : NULL;
    }
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
        char *sub = var_subst(s, it->http_response.body, it->http_response.body_len, &n);
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
    if (it->http_stream.action != TT_ACT_SEND)
        return; /* hint: only meaningful with next links */
    /* Slow subscriber: over its queue caps the message is dropped for it (Pushpin's
     * policy), counted, and the others are not held back. */
    if (c->conn.out_count >= HOLD_QUEUE_ITEMS ||
        c->conn.out_bytes >= c->w->srv->cfg.subscriber_queue_max) {
        c->w->stats.drops++;
        tt_debug("c%llu: slow subscriber, message dropped", (unsigned long long)c->id);
        return;
    }
    size_t n;
    char *sub = var_subst(s, it->http_stream.content, it->http_stream.content_len, &n);
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
    if (it->id) {
        free(s->prev_id);
        s->prev_id = tt_strdup(it->id);
    }
    h->last_write_ms = tt_now_ms();
    c->w->stats.deliveries++;
    tt_client_flush(c);
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

void tt_hold_on_drain(struct tt_hold *h)
{
    (void)h; /* deliveries are written at once; nothing is parked per hold */
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
        on_response_timeout(&c->timer);
    }
}

size_t tt_hold_channels(struct tt_worker *w)
{
    return w->chans.size;
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

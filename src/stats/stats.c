/* stats.c: the control thread's stats and metrics (see stats.h). */
#include "stats/stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "core/log.h"
#include "core/map.h"
#include "stats/prom.h"
#include "zmq/sock.h"
#include "zmq/tnetstring.h"

/* PUB is lossy: a big mark, as Pushpin. */
#define OUT_HWM 200000
#define ACTIVITY_MS 100
#define TICK_MS 1000

static const char *const mode_names[TT_MODES] = {"response", "stream", "ws"};
static const char *const transport_names[TT_MODES] = {"http-response", "http-stream", "ws-message"};

/* One (mode, channel). */
struct sub_entry {
    int64_t count;
    uint64_t linger_until; /* count 0 and lingering until then */
    uint64_t next_refresh;
    bool send_soon;
};

/* One stats route ("" = routes without an id). */
struct route_entry {
    char *route;
    int64_t *current;  /* per worker */
    uint64_t activity; /* pending for the next activity message */
    /* the report under way */
    int64_t conn_max;
    bool conn_max_stale; /* start the max from the current value */
    uint64_t minutes, received, sent, response_sent;
    uint64_t report_start;
    bool in_report; /* has something to report (kept until an empty report) */
};

struct tt_stats {
    uv_loop_t *loop;
    char *instance;
    int num_workers;
    struct tt_inbox inbox;
    bool inbox_ready;
    struct tt_inbox *const *workers;
    int connq_kind;
    struct tt_control *ctl;
    struct tt_zmq_inputs *zin;
    bool json;
    int report_interval_s, conn_ttl_s, sub_ttl_s, linger_s;
    bool conn_send;
    char *prom_port, *prom_prefix;
    struct tt_zmq_sock *pub;
    struct tt_prom *prom;
    uv_timer_t activity, tick;
    bool timers_open, stopping;
    int conns_wanted;             /* atomic, read by workers */
    struct tt_map prefixes;       /* subscribed prefixes of the XPUB (value unused) */
    struct tt_map subs[TT_MODES]; /* channel -> struct sub_entry */
    struct tt_map routes;         /* route -> struct route_entry */
    uint64_t last_report;
    uint64_t requests_pending;
    struct tt_list queries; /* struct tt_connq waiting for workers */
    /* totals for Prometheus */
    uint64_t requests, minutes, received, sent, delivered[TT_MODES], drops;
    uint64_t errors[TT_ERR_KINDS];
    uint64_t lat_count[TT_LAT_BUCKETS];
    double lat_sum_ms;
    int64_t *w_subscribers; /* per worker x mode */
    int64_t *w_subscriptions;
    uint64_t stats_sent, stats_skipped;
};

/* ---- writing messages ---- */

/* Someone subscribed to a prefix of "<type> ". */
static bool wanted(struct tt_stats *st, const char *type)
{
    if (!st->pub || !st->prefixes.size)
        return false;
    char full[32];
    int n = snprintf(full, sizeof(full), "%s ", type);
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&st->prefixes, &it); e;
         e = tt_map_next(&st->prefixes, e, &it))
        if (e->key_len <= (size_t)n && memcmp(e->key, full, e->key_len) == 0)
            return true;
    return false;
}

static json_t *packet_new(struct tt_stats *st, const char *route)
{
    json_t *o = json_object();
    json_object_set_new(o, "from", json_string(st->instance));
    if (route && route[0])
        json_object_set_new(o, "route", json_stringn_nocheck(route, strlen(route)));
    return o;
}

static void put_str(json_t *o, const char *k, const char *v, size_t len)
{
    json_object_set_new(o, k, json_stringn_nocheck(v, len));
}

/* Takes o. */
static void write_packet(struct tt_stats *st, const char *type, json_t *o)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_buf_appendf(&b, "%s ", type);
    int r = 0;
    if (st->json) {
        char *j = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (j) {
            tt_buf_append(&b, "J", 1);
            tt_buf_appends(&b, j);
            free(j);
        } else {
            r = TT_EPARSE;
        }
    } else {
        tt_buf_append(&b, "T", 1);
        r = tt_tnet_serialize(o, &b);
    }
    json_decref(o);
    if (r == 0) {
        struct tt_zmq_part part = {b.data, b.len};
        if (tt_zmq_sock_send(st->pub, &part, 1) == 0)
            st->stats_sent++;
    }
    tt_buf_deinit(&b);
}

/* ---- routes and reports ---- */

static struct route_entry *route_get(struct tt_stats *st, const char *route)
{
    size_t n = strlen(route);
    struct route_entry *r = tt_map_get(&st->routes, route, n);
    if (!r) {
        r = tt_calloc(1, sizeof(*r));
        r->route = tt_strdup(route);
        r->current = tt_calloc((size_t)st->num_workers, sizeof(int64_t));
        r->conn_max_stale = true;
        r->report_start = tt_now_ms();
        tt_map_put(&st->routes, route, n, r);
    }
    return r;
}

static int64_t route_current(const struct tt_stats *st, const struct route_entry *r)
{
    int64_t sum = 0;
    for (int i = 0; i < st->num_workers; i++)
        sum += r->current[i];
    return sum;
}

static void update_max(struct tt_stats *st, struct route_entry *r)
{
    int64_t cur = route_current(st, r);
    if (r->conn_max_stale) {
        r->conn_max = cur;
        r->conn_max_stale = false;
    } else if (cur > r->conn_max) {
        r->conn_max = cur;
    }
    r->in_report = true;
}

static void send_reports(struct tt_stats *st)
{
    uint64_t now = tt_now_ms();
    bool want = wanted(st, "report");
    /* Report every route that had something, then drop the ones left empty (collected
     * first: the map cannot change while it is walked). */
    char **victims = NULL;
    size_t nv = 0;
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&st->routes, &it); e;
         e = tt_map_next(&st->routes, e, &it)) {
        struct route_entry *r = e->value;
        if (!r->in_report)
            continue;
        if (r->conn_max_stale)
            update_max(st, r);
        if (want) {
            json_t *o = packet_new(st, r->route);
            json_object_set_new(o, "connections", json_integer(r->conn_max));
            json_object_set_new(o, "minutes", json_integer((json_int_t)r->minutes));
            json_object_set_new(o, "received", json_integer((json_int_t)r->received));
            json_object_set_new(o, "sent", json_integer((json_int_t)r->sent));
            json_object_set_new(o, "http-response-sent",
                                json_integer((json_int_t)r->response_sent));
            json_object_set_new(o, "duration", json_integer((json_int_t)(now - r->report_start)));
            write_packet(st, "report", o);
        }
        bool empty = r->conn_max == 0 && !r->minutes && !r->received && !r->sent &&
                     !r->response_sent && route_current(st, r) == 0;
        r->report_start = now;
        r->conn_max_stale = true;
        r->minutes = r->received = r->sent = r->response_sent = 0;
        if (empty) {
            r->in_report = false;
            if (!r->activity) {
                victims = tt_realloc(victims, (nv + 1) * sizeof(*victims));
                victims[nv++] = r->route;
            }
        }
    }
    for (size_t i = 0; i < nv; i++) {
        struct route_entry *r = tt_map_remove(&st->routes, victims[i], strlen(victims[i]));
        if (r) {
            free(r->route);
            free(r->current);
            free(r);
        }
    }
    free(victims);
}

/* ---- subscriptions ---- */

static void send_sub(struct tt_stats *st, int mode, const char *channel, struct sub_entry *e)
{
    if (!wanted(st, "sub"))
        return;
    json_t *o = packet_new(st, NULL);
    json_object_set_new(o, "mode", json_string(mode_names[mode]));
    put_str(o, "channel", channel, strlen(channel));
    if (e) {
        json_object_set_new(o, "ttl", json_integer(st->sub_ttl_s));
        json_object_set_new(o, "subscribers", json_integer(e->count));
    } else {
        json_object_set_new(o, "unavailable", json_true());
    }
    write_packet(st, "sub", o);
}

static uint64_t sub_refresh_ms(const struct tt_stats *st)
{
    return (uint64_t)st->sub_ttl_s * 750;
}

static void sub_delta(struct tt_stats *st, int mode, const char *channel, int32_t delta)
{
    if (mode < 0 || mode >= TT_MODES || !delta)
        return;
    size_t n = strlen(channel);
    struct sub_entry *e = tt_map_get(&st->subs[mode], channel, n);
    uint64_t now = tt_now_ms();
    if (!e) {
        if (delta < 0)
            return;
        e = tt_calloc(1, sizeof(*e));
        e->count = delta;
        e->next_refresh = now + sub_refresh_ms(st);
        tt_map_put(&st->subs[mode], channel, n, e);
        send_sub(st, mode, channel, e);
        return;
    }
    bool was_lingering = e->count == 0;
    e->count += delta;
    if (e->count < 0)
        e->count = 0;
    if (e->count > 0) {
        if (was_lingering) {
            e->linger_until = 0;
            e->next_refresh = now + sub_refresh_ms(st);
            send_sub(st, mode, channel, e);
        } else {
            e->send_soon = true;
        }
        return;
    }
    /* The last subscriber left: a long-poll channel lingers (its client may poll again). */
    if (mode == TT_MODE_RESPONSE && st->linger_s > 0) {
        e->linger_until = now + (uint64_t)st->linger_s * 1000;
        e->send_soon = false;
        return;
    }
    send_sub(st, mode, channel, NULL);
    free(tt_map_remove(&st->subs[mode], channel, n));
}

static void subs_tick(struct tt_stats *st, uint64_t now)
{
    for (int mode = 0; mode < TT_MODES; mode++) {
        /* Lingering entries that expired are collected, then removed: the map cannot
         * change while it is walked. */
        char **victims = NULL;
        size_t nv = 0, it;
        for (struct tt_map_entry *e = tt_map_first(&st->subs[mode], &it); e;
             e = tt_map_next(&st->subs[mode], e, &it)) {
            struct sub_entry *s = e->value;
            if (s->count == 0) {
                if (s->linger_until <= now) {
                    victims = tt_realloc(victims, (nv + 1) * sizeof(*victims));
                    victims[nv++] = tt_strdup(e->key);
                }
                continue;
            }
            if (s->send_soon || now >= s->next_refresh) {
                s->send_soon = false;
                s->next_refresh = now + sub_refresh_ms(st);
                send_sub(st, mode, e->key, s);
            }
        }
        for (size_t i = 0; i < nv; i++) {
            send_sub(st, mode, victims[i], NULL);
            free(tt_map_remove(&st->subs[mode], victims[i], strlen(victims[i])));
            free(victims[i]);
        }
        free(victims);
    }
}

static int64_t sub_count(struct tt_stats *st, int mode, const char *channel)
{
    struct sub_entry *e = tt_map_get(&st->subs[mode], channel, strlen(channel));
    return e ? e->count : 0;
}

/* ---- from the control thread ---- */

void tt_stats_on_publish(void *ctx, const struct tt_msg *m)
{
    struct tt_stats *st = ctx;
    const struct tt_pub_item *it = &m->item;
    st->received++;
    struct route_entry *r = route_get(st, "");
    r->received++;
    if (!r->in_report)
        update_max(st, r);
    if (!wanted(st, "message"))
        return;
    bool has[TT_MODES] = {it->has_http_response, it->has_http_stream, it->has_ws_message};
    for (int mode = 0; mode < TT_MODES; mode++) {
        if (!has[mode])
            continue;
        int64_t n = sub_count(st, mode, it->channel);
        if (n <= 0)
            continue;
        json_t *o = packet_new(st, NULL);
        put_str(o, "channel", it->channel, strlen(it->channel));
        if (it->id)
            put_str(o, "item-id", it->id, strlen(it->id));
        json_object_set_new(o, "count", json_integer(n));
        json_object_set_new(o, "transport", json_string(transport_names[mode]));
        write_packet(st, "message", o);
    }
}

/* ---- from the workers ---- */

static void conn_event(struct tt_stats *st, const struct tt_conn_event *ev)
{
    if (!st->conn_send || !wanted(st, "conn"))
        return;
    json_t *o = packet_new(st, ev->route);
    put_str(o, "id", ev->id, strlen(ev->id));
    if (ev->op == TT_CONN_CLOSE) {
        json_object_set_new(o, "unavailable", json_true());
    } else {
        json_object_set_new(o, "type", json_string(ev->type == TT_CONN_WS ? "ws" : "http"));
        if (ev->peer[0])
            put_str(o, "peer-address", ev->peer, strlen(ev->peer));
        if (ev->ssl)
            json_object_set_new(o, "ssl", json_true());
        json_object_set_new(o, "ttl", json_integer(st->conn_ttl_s));
    }
    write_packet(st, "conn", o);
}

static void on_activity(uv_timer_t *t);

static void apply_batch(struct tt_stats *st, struct tt_wstats_batch *b)
{
    int w = b->worker;
    if (w < 0 || w >= st->num_workers)
        return;
    st->requests += b->requests;
    st->requests_pending += b->requests;
    uint64_t sent = 0;
    for (int m = 0; m < TT_MODES; m++) {
        st->delivered[m] += b->deliveries[m];
        sent += b->deliveries[m];
        st->w_subscribers[w * TT_MODES + m] = b->subscribers[m];
    }
    st->w_subscriptions[w] = b->subscriptions;
    st->sent += sent;
    st->drops += b->drops;
    for (int k = 0; k < TT_ERR_KINDS; k++)
        st->errors[k] += b->errors[k];
    for (int i = 0; i < TT_LAT_BUCKETS; i++)
        st->lat_count[i] += b->lat_count[i];
    st->lat_sum_ms += b->lat_sum_ms;
    if (sent) {
        /* Deliveries are not told apart by route: they count for routes without an id. */
        struct route_entry *r = route_get(st, "");
        r->sent += sent;
        r->response_sent += b->deliveries[TT_MODE_RESPONSE];
        if (!r->in_report)
            update_max(st, r);
    }
    for (size_t i = 0; i < b->num_routes; i++) {
        const struct tt_route_stats *rs = &b->routes[i];
        struct route_entry *r = route_get(st, rs->route);
        r->current[w] = rs->current;
        r->activity += rs->activity;
        r->minutes += rs->minutes;
        st->minutes += rs->minutes;
        update_max(st, r);
    }
    for (size_t i = 0; i < b->num_conns; i++)
        conn_event(st, &b->conns[i]);
    for (size_t i = 0; i < b->num_subs; i++)
        sub_delta(st, b->subs[i].mode, b->subs[i].channel, b->subs[i].delta);
    if (st->timers_open && !st->stopping && !uv_is_active((uv_handle_t *)&st->activity))
        uv_timer_start(&st->activity, on_activity, ACTIVITY_MS, 0);
}

static void on_activity(uv_timer_t *t)
{
    struct tt_stats *st = t->data;
    bool want = wanted(st, "activity");
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&st->routes, &it); e;
         e = tt_map_next(&st->routes, e, &it)) {
        struct route_entry *r = e->value;
        if (!r->activity)
            continue;
        if (want) {
            json_t *o = packet_new(st, r->route);
            json_object_set_new(o, "count", json_integer((json_int_t)r->activity));
            write_packet(st, "activity", o);
        }
        r->activity = 0;
    }
    if (st->requests_pending) {
        if (wanted(st, "counts")) {
            json_t *o = packet_new(st, NULL);
            json_object_set_new(o, "requests-received",
                                json_integer((json_int_t)st->requests_pending));
            write_packet(st, "counts", o);
        }
        st->requests_pending = 0;
    }
}

/* ---- connection queries ---- */

static void query_post(struct tt_stats *st, struct tt_connq *q, struct tt_zmq_cmd *cmd)
{
    q->owner = cmd;
    tt_list_insert_tail(&st->queries, &q->link);
    for (int i = 0; i < st->num_workers; i++)
        tt_inbox_post(st->workers[i], st->connq_kind, tt_connq_ref(q));
}

static void query_finish(struct tt_stats *st, struct tt_connq *q)
{
    (void)st;
    struct tt_zmq_cmd *cmd = q->owner;
    tt_list_remove(&q->link);
    if (cmd) {
        if (q->kind == TT_CONNQ_CHECK) {
            json_t *list = json_array();
            for (size_t i = 0; i < q->n; i++)
                if (q->found[i])
                    json_array_append_new(list, json_stringn_nocheck(q->ids[i], q->lens[i]));
            tt_zmq_cmd_respond(cmd, list);
            json_decref(list);
        } else if (q->kind == TT_CONNQ_REFRESH_CID && !q->found[0]) {
            tt_zmq_cmd_fail(cmd, "item-not-found", NULL);
        } else {
            tt_zmq_cmd_respond(cmd, NULL);
        }
    }
    tt_connq_unref(q);
}

void tt_stats_conncheck(void *ctx, struct tt_zmq_cmd *cmd, const char *const *ids,
                        const size_t *lens, size_t n)
{
    struct tt_stats *st = ctx;
    struct tt_connq *q = tt_connq_new(TT_CONNQ_CHECK, ids, lens, n);
    if (n == 0 || !st->workers || st->num_workers == 0) {
        tt_list_insert_tail(&st->queries, &q->link);
        q->owner = cmd;
        query_finish(st, q);
        return;
    }
    query_post(st, q, cmd);
}

void tt_stats_refresh(void *ctx, struct tt_zmq_cmd *cmd, const char *cid, size_t cid_len,
                      const char *channel, size_t channel_len)
{
    struct tt_stats *st = ctx;
    const char *id = cid ? cid : channel;
    size_t len = cid ? cid_len : channel_len;
    struct tt_connq *q =
        tt_connq_new(cid ? TT_CONNQ_REFRESH_CID : TT_CONNQ_REFRESH_CHANNEL, &id, &len, 1);
    if (!st->workers || st->num_workers == 0) {
        tt_list_insert_tail(&st->queries, &q->link);
        q->owner = cmd;
        query_finish(st, q);
        return;
    }
    query_post(st, q, cmd);
}

/* ---- inbox ---- */

static void on_item(void *ctx, int kind, void *ptr)
{
    struct tt_stats *st = ctx;
    if (kind == TT_WSTATS_BATCH) {
        apply_batch(st, ptr);
        tt_wstats_batch_free(ptr);
    } else if (kind == TT_WSTATS_CONNQ) {
        struct tt_connq *q = ptr;
        if (++q->answers == st->num_workers)
            query_finish(st, q); /* takes the list's reference */
        tt_connq_unref(q);       /* the worker's */
    }
}

static void discard_item(int kind, void *ptr)
{
    if (kind == TT_WSTATS_BATCH)
        tt_wstats_batch_free(ptr);
    else if (kind == TT_WSTATS_CONNQ)
        tt_connq_unref(ptr);
}

static const struct tt_inbox_ops inbox_ops = {
    .item = on_item,
    .discard = discard_item,
};

/* ---- the XPUB's subscriptions ---- */

static void on_xpub(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct tt_stats *st = ctx;
    if (n != 1 || parts[0].len < 1)
        return;
    const char *d = parts[0].data;
    const char *prefix = d + 1;
    size_t len = parts[0].len - 1;
    if (d[0] == 1)
        tt_map_put(&st->prefixes, prefix, len, st);
    else if (d[0] == 0)
        tt_map_remove(&st->prefixes, prefix, len);
    bool want = st->conn_send && wanted(st, "conn");
    __atomic_store_n(&st->conns_wanted, want ? 1 : 0, __ATOMIC_RELAXED);
}

/* ---- ticks ---- */

static void on_tick(uv_timer_t *t)
{
    struct tt_stats *st = t->data;
    uint64_t now = tt_now_ms();
    subs_tick(st, now);
    if (st->report_interval_s > 0 &&
        now - st->last_report >= (uint64_t)st->report_interval_s * 1000) {
        st->last_report = now;
        send_reports(st);
    }
}

/* ---- Prometheus ---- */

static void metric(struct tt_buf *b, const char *prefix, const char *name, const char *type,
                   const char *help)
{
    tt_buf_appendf(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", prefix, name, help, prefix, name, type);
}

void tt_stats_render_prometheus(struct tt_stats *st, struct tt_buf *b)
{
    const char *p = st->prom_prefix ? st->prom_prefix : "";
    int64_t conns = 0;
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&st->routes, &it); e;
         e = tt_map_next(&st->routes, e, &it))
        conns += route_current(st, e->value);
    /* Pushpin's five. */
    metric(b, p, "request_received", "counter", "Number of requests received");
    tt_buf_appendf(b, "%srequest_received %llu\n", p, (unsigned long long)st->requests);
    metric(b, p, "connection_connected", "gauge", "Number of concurrent connections");
    tt_buf_appendf(b, "%sconnection_connected %lld\n", p, (long long)conns);
    metric(b, p, "connection_minute", "counter", "Number of minutes clients have been connected");
    tt_buf_appendf(b, "%sconnection_minute %llu\n", p, (unsigned long long)st->minutes);
    metric(b, p, "message_received", "counter", "Number of messages received by the publish API");
    tt_buf_appendf(b, "%smessage_received %llu\n", p, (unsigned long long)st->received);
    metric(b, p, "message_sent", "counter", "Number of messages sent to clients");
    tt_buf_appendf(b, "%smessage_sent %llu\n", p, (unsigned long long)st->sent);
    /* Ours. */
    int64_t kinds[TT_MODES] = {0, 0, 0}, subscriptions = 0;
    for (int w = 0; w < st->num_workers; w++) {
        for (int m = 0; m < TT_MODES; m++)
            kinds[m] += st->w_subscribers[w * TT_MODES + m];
        subscriptions += st->w_subscriptions[w];
    }
    static const char *const kind_names[TT_MODES] = {"long-poll", "http-stream", "websocket"};
    metric(b, p, "connections", "gauge", "Held connections by kind");
    for (int m = 0; m < TT_MODES; m++)
        tt_buf_appendf(b, "%sconnections{kind=\"%s\"} %lld\n", p, kind_names[m],
                       (long long)kinds[m]);
    metric(b, p, "subscriptions", "gauge", "Channel subscriptions of held connections");
    tt_buf_appendf(b, "%ssubscriptions %lld\n", p, (long long)subscriptions);
    metric(b, p, "subscribed_channels", "gauge",
           "Channels with subscribers, by mode (lingering long-poll channels included)");
    for (int m = 0; m < TT_MODES; m++)
        tt_buf_appendf(b, "%ssubscribed_channels{mode=\"%s\"} %zu\n", p, mode_names[m],
                       st->subs[m].size);
    struct tt_control_stats cs = {0, 0, 0};
    if (st->ctl)
        tt_control_get_stats(st->ctl, &cs);
    metric(b, p, "messages_in", "counter", "Published items handed to the workers");
    tt_buf_appendf(b, "%smessages_in %llu\n", p, (unsigned long long)cs.published);
    metric(b, p, "messages_delivered", "counter", "Deliveries to subscribers, by transport");
    for (int m = 0; m < TT_MODES; m++)
        tt_buf_appendf(b, "%smessages_delivered{transport=\"%s\"} %llu\n", p, transport_names[m],
                       (unsigned long long)st->delivered[m]);
    metric(b, p, "slow_subscriber_drops", "counter",
           "Messages dropped for subscribers over their queue caps");
    tt_buf_appendf(b, "%sslow_subscriber_drops %llu\n", p, (unsigned long long)st->drops);
    metric(b, p, "rate_limit_drops", "counter", "Published items dropped over message_hwm");
    tt_buf_appendf(b, "%srate_limit_drops %llu\n", p, (unsigned long long)cs.rate_drops);
    metric(b, p, "errors", "counter", "Errors by kind");
    for (int k = 0; k < TT_ERR_KINDS; k++)
        tt_buf_appendf(b, "%serrors{kind=\"%s\"} %llu\n", p, tt_err_kind_names[k],
                       (unsigned long long)st->errors[k]);
    if (st->zin) {
        struct tt_zmq_inputs_stats zs;
        tt_zmq_inputs_get_stats(st->zin, &zs);
        tt_buf_appendf(
            b, "%serrors{kind=\"zmq_malformed\"} %llu\n", p,
            (unsigned long long)(zs.pull_malformed + zs.sub_malformed + zs.command_malformed));
    }
    metric(b, p, "publish_to_write_seconds", "histogram",
           "Time from a publish reaching the control thread to its write to a subscriber");
    uint64_t cum = 0;
    for (int i = 0; i < TT_LAT_BUCKETS; i++) {
        cum += st->lat_count[i];
        if (i < TT_LAT_BUCKETS - 1)
            tt_buf_appendf(b, "%spublish_to_write_seconds_bucket{le=\"%g\"} %llu\n", p,
                           tt_lat_bounds_ms[i] / 1000.0, (unsigned long long)cum);
        else
            tt_buf_appendf(b, "%spublish_to_write_seconds_bucket{le=\"+Inf\"} %llu\n", p,
                           (unsigned long long)cum);
    }
    tt_buf_appendf(b, "%spublish_to_write_seconds_sum %.6f\n", p, st->lat_sum_ms / 1000.0);
    tt_buf_appendf(b, "%spublish_to_write_seconds_count %llu\n", p, (unsigned long long)cum);
}

static void render(void *ctx, struct tt_buf *out)
{
    tt_stats_render_prometheus(ctx, out);
}

/* ---- life ---- */

struct tt_stats *tt_stats_new(uv_loop_t *loop, const struct tt_config *cfg, const char *instance,
                              int num_workers)
{
    struct tt_stats *st = tt_calloc(1, sizeof(*st));
    st->loop = loop;
    st->instance = tt_strdup(instance);
    st->num_workers = num_workers;
    st->json = cfg->stats_format && strcmp(cfg->stats_format, "json") == 0;
    st->report_interval_s = cfg->stats_report_interval;
    st->conn_ttl_s = cfg->stats_connection_ttl;
    st->sub_ttl_s = cfg->stats_subscription_ttl > 0 ? cfg->stats_subscription_ttl : 60;
    st->linger_s = cfg->subscription_linger;
    st->conn_send = cfg->stats_connection_send;
    st->prom_prefix = cfg->prometheus_prefix ? tt_strdup(cfg->prometheus_prefix) : NULL;
    tt_map_init(&st->prefixes);
    for (int m = 0; m < TT_MODES; m++)
        tt_map_init(&st->subs[m]);
    tt_map_init(&st->routes);
    tt_list_init(&st->queries);
    st->w_subscribers = tt_calloc((size_t)num_workers * TT_MODES, sizeof(int64_t));
    st->w_subscriptions = tt_calloc((size_t)num_workers, sizeof(int64_t));
    tt_inbox_init(&st->inbox, loop, &inbox_ops, st);
    st->inbox_ready = true;
    uv_timer_init(loop, &st->activity);
    st->activity.data = st;
    uv_timer_init(loop, &st->tick);
    st->tick.data = st;
    st->timers_open = true;
    st->last_report = tt_now_ms();
    return st;
}

struct tt_inbox *tt_stats_inbox(struct tt_stats *st)
{
    return &st->inbox;
}

const int *tt_stats_conns_wanted(const struct tt_stats *st)
{
    return &st->conns_wanted;
}

void tt_stats_set_workers(struct tt_stats *st, struct tt_inbox *const *workers, int n,
                          int connq_kind)
{
    st->workers = workers;
    st->num_workers = n;
    st->connq_kind = connq_kind;
}

void tt_stats_set_sources(struct tt_stats *st, struct tt_control *ctl, struct tt_zmq_inputs *zin)
{
    st->ctl = ctl;
    st->zin = zin;
}

int tt_stats_start(struct tt_stats *st, const struct tt_config *cfg)
{
    char *spec = tt_config_stats_spec(cfg);
    if (spec) {
        struct tt_zmq_sock_opts o = {.type = ZMQ_XPUB,
                                     .sndhwm = OUT_HWM,
                                     .maxmsgsize = 65536,
                                     .max_parts = 2,
                                     .queue_max = 1};
        int r = tt_zmq_sock_new(st->loop, &o, on_xpub, st, &st->pub);
        if (r == 0) {
            r = tt_zmq_sock_bind(st->pub, spec);
            if (r < 0)
                tt_err("stats: stats_spec: unable to bind to %s: %s", spec, zmq_strerror(-r));
        }
        if (r == 0)
            r = tt_zmq_sock_start(st->pub);
        if (r < 0) {
            free(spec);
            tt_zmq_sock_close(st->pub);
            st->pub = NULL;
            return r;
        }
        tt_info("stats: %s (%s)", spec, st->json ? "json" : "tnetstring");
        free(spec);
    }
    if (cfg->prometheus_port && cfg->prometheus_port[0]) {
        int r = tt_prom_start(st->loop, cfg->prometheus_port, render, st, &st->prom);
        if (r < 0) {
            tt_err("stats: prometheus_port: unable to listen on %s: %s", cfg->prometheus_port,
                   tt_strerror(r));
            return r;
        }
        tt_info("stats: prometheus metrics on %s", cfg->prometheus_port);
    }
    uv_timer_start(&st->tick, on_tick, TICK_MS, TICK_MS);
    return 0;
}

void tt_stats_stop(void *ctx)
{
    struct tt_stats *st = ctx;
    if (st->stopping)
        return;
    st->stopping = true;
    /* Commands die with the command socket: forget them. */
    while (!tt_list_empty(&st->queries)) {
        struct tt_connq *q = TT_CONTAINER_OF(st->queries.next, struct tt_connq, link);
        tt_list_remove(&q->link);
        q->owner = NULL;
        tt_connq_unref(q);
    }
    tt_zmq_sock_close(st->pub);
    st->pub = NULL;
    tt_prom_stop(st->prom);
    st->prom = NULL;
    uv_close((uv_handle_t *)&st->activity, NULL);
    uv_close((uv_handle_t *)&st->tick, NULL);
    st->timers_open = false;
    tt_inbox_close(&st->inbox);
}

void tt_stats_free(struct tt_stats *st)
{
    if (!st)
        return;
    if (st->inbox_ready)
        tt_inbox_deinit(&st->inbox);
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&st->routes, &it); e;
         e = tt_map_next(&st->routes, e, &it)) {
        struct route_entry *r = e->value;
        free(r->route);
        free(r->current);
        free(r);
    }
    tt_map_deinit(&st->routes);
    for (int m = 0; m < TT_MODES; m++) {
        for (struct tt_map_entry *e = tt_map_first(&st->subs[m], &it); e;
             e = tt_map_next(&st->subs[m], e, &it))
            free(e->value);
        tt_map_deinit(&st->subs[m]);
    }
    tt_map_deinit(&st->prefixes);
    free(st->w_subscribers);
    free(st->w_subscriptions);
    free(st->instance);
    free(st->prom_prefix);
    free(st);
}

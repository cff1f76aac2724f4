/* inputs.c: ZeroMQ publish inputs and the command socket (see inputs.h).
 *
 * Socket options follow Pushpin's handler: PULL with a receive high-water mark of 101000,
 * SUB with no send limit (subscriptions are never dropped), the command ROUTER with a
 * receive mark of 100. Commands are answered in the order they complete; a REQ client
 * only ever has one in flight. */
#include "zmq/inputs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "core/list.h"
#include "core/log.h"
#include "core/map.h"
#include "zmq/sock.h"
#include "zmq/zpub.h"
#include "zmq/zrpc.h"

#define PULL_RCVHWM 101000
#define CMD_RCVHWM 100
#define CMD_PENDING_MAX 100
#define MAX_PARTS 8
#define WARN_PER_SECOND 10
/* Pushpin gives a command reply this long to leave at shutdown. */
#define CMD_LINGER_MS 500

struct sub_topic {
    uint64_t unsub_at; /* 0 = subscribed; else unsubscribe at this time (linger) */
};

/* At most WARN_PER_SECOND warnings a second per socket; the rest are counted. */
struct warn_limit {
    uint64_t second;
    int count;
    uint64_t suppressed;
};

struct tt_zmq_inputs {
    uv_loop_t *loop;
    struct tt_zmq_sock *pull, *sub, *cmd;
    uv_timer_t tick;
    bool stopping;
    tt_pub_items_fn on_items;
    tt_pub_recover_fn on_recover;
    void *ctx;
    tt_zmq_conncheck_fn conncheck;
    tt_zmq_refresh_fn refresh;
    int linger_s;
    /* get-zmq-uris */
    char *uri_command, *uri_pull, *uri_sub;
    struct tt_map topics;   /* channel -> struct sub_topic */
    struct tt_list pending; /* struct tt_zmq_cmd waiting for a hook */
    size_t num_pending;
    struct tt_zmq_inputs_stats stats;
    struct warn_limit warn_pull, warn_sub, warn_cmd;
};

struct tt_zmq_cmd {
    struct tt_list link;
    struct tt_zmq_inputs *in;
    size_t num_headers;
    struct tt_zmq_part *headers; /* copies, in one allocation with the struct */
    char *id;                    /* NULL when the request had none */
    size_t id_len;
};

static void warn_limited(struct warn_limit *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_limited(struct warn_limit *w, const char *fmt, ...)
{
    uint64_t sec = tt_now_ms() / 1000;
    if (sec != w->second) {
        w->second = sec;
        w->count = 0;
    }
    if (w->count >= WARN_PER_SECOND) {
        w->suppressed++;
        return;
    }
    w->count++;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    tt_warn("%s", line);
}

/* ---- publish inputs ---- */

static void publish_one(struct tt_zmq_inputs *in, struct tt_pub_item *it)
{
    struct tt_pub_item *arr = tt_malloc(sizeof(*arr));
    *arr = *it;
    in->on_items(in->ctx, arr, 1);
}

static void on_pull(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct tt_zmq_inputs *in = ctx;
    if (n != 1) {
        in->stats.pull_malformed++;
        warn_limited(&in->warn_pull, "IN pull: received message with parts != 1 (%zu), skipping",
                     n);
        return;
    }
    struct tt_pub_item it;
    char err[512];
    if (tt_zpub_decode_pull(parts[0].data, parts[0].len, NULL, &it, err, sizeof(err)) < 0) {
        in->stats.pull_malformed++;
        char esc[600];
        warn_limited(&in->warn_pull, "IN pull: %s, skipping (%zu bytes)",
                     tt_log_escape(err, strlen(err), esc, sizeof(esc)), parts[0].len);
        return;
    }
    in->stats.pull_items++;
    publish_one(in, &it);
}

static void on_sub(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct tt_zmq_inputs *in = ctx;
    if (n != 2) {
        in->stats.sub_malformed++;
        warn_limited(&in->warn_sub, "IN sub: received message with parts != 2 (%zu), skipping", n);
        return;
    }
    struct tt_pub_item it;
    char err[512];
    if (tt_zpub_decode_sub(parts[0].data, parts[0].len, parts[1].data, parts[1].len, NULL, &it, err,
                           sizeof(err)) < 0) {
        in->stats.sub_malformed++;
        char esc[600], topic[80];
        warn_limited(&in->warn_sub, "IN sub: %s, skipping (channel %s, %zu bytes)",
                     tt_log_escape(err, strlen(err), esc, sizeof(esc)),
                     tt_log_escape(parts[0].data, parts[0].len, topic, sizeof(topic)),
                     parts[1].len);
        return;
    }
    in->stats.sub_items++;
    publish_one(in, &it);
}

/* ---- SUB topics ---- */

static void topic_set(struct tt_zmq_inputs *in, const char *channel, size_t len, bool on)
{
    int r = tt_zmq_sock_subscribe(in->sub, channel, len, on);
    if (r < 0) {
        tt_warn("IN sub: %s %s failed: %s", on ? "subscribe" : "unsubscribe", channel,
                zmq_strerror(-r));
        return;
    }
    tt_debug("SUB socket %s: %s", on ? "subscribe" : "unsubscribe", channel);
    if (on)
        in->stats.subscribed_channels++;
    else
        in->stats.subscribed_channels--;
}

void tt_zmq_inputs_set_subscribed(struct tt_zmq_inputs *in, const char *channel, bool subscribed,
                                  bool linger)
{
    if (!in || !in->sub || in->stopping)
        return;
    size_t len = strlen(channel);
    struct sub_topic *t = tt_map_get(&in->topics, channel, len);
    if (subscribed) {
        if (t) {
            t->unsub_at = 0; /* back before the linger ran out: keep it */
            return;
        }
        t = tt_calloc(1, sizeof(*t));
        tt_map_put(&in->topics, channel, len, t);
        topic_set(in, channel, len, true);
        return;
    }
    if (!t)
        return;
    if (linger && in->linger_s > 0) {
        if (!t->unsub_at)
            t->unsub_at = tt_now_ms() + (uint64_t)in->linger_s * 1000;
        return;
    }
    tt_map_remove(&in->topics, channel, len);
    free(t);
    topic_set(in, channel, len, false);
}

static void on_tick(uv_timer_t *h)
{
    struct tt_zmq_inputs *in = h->data;
    struct warn_limit *ws[] = {&in->warn_pull, &in->warn_sub, &in->warn_cmd};
    static const char *const names[] = {"IN pull", "IN sub", "zrpc server"};
    for (size_t i = 0; i < TT_ARRAY_LEN(ws); i++) {
        if (ws[i]->suppressed) {
            tt_warn("%s: %llu more malformed messages not logged", names[i],
                    (unsigned long long)ws[i]->suppressed);
            ws[i]->suppressed = 0;
        }
    }
    uint64_t now = tt_now_ms();
    for (;;) {
        /* Removal during iteration is not allowed: take one expired topic at a time. */
        size_t it;
        char *victim = NULL;
        size_t vlen = 0;
        for (struct tt_map_entry *e = tt_map_first(&in->topics, &it); e;
             e = tt_map_next(&in->topics, e, &it)) {
            struct sub_topic *t = e->value;
            if (t->unsub_at && t->unsub_at <= now) {
                victim = tt_strndup(e->key, e->key_len);
                vlen = e->key_len;
                break;
            }
        }
        if (!victim)
            break;
        free(tt_map_remove(&in->topics, victim, vlen));
        topic_set(in, victim, vlen, false);
        free(victim);
    }
}

/* ---- commands ---- */

static void cmd_send(struct tt_zmq_cmd *cmd, const char *condition, json_t *value)
{
    struct tt_zmq_inputs *in = cmd->in;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    int r = tt_zrpc_response_encode(cmd->id, cmd->id_len, condition, value, &b);
    if (r < 0) {
        tt_warn("command: cannot encode the answer: %s", tt_strerror(r));
        tt_buf_reset(&b);
        tt_zrpc_response_encode(cmd->id, cmd->id_len, "internal-error", NULL, &b);
    }
    size_t n = cmd->num_headers + 2;
    struct tt_zmq_part *parts = tt_calloc(n, sizeof(*parts));
    memcpy(parts, cmd->headers, cmd->num_headers * sizeof(*parts));
    parts[cmd->num_headers].data = "";
    parts[cmd->num_headers].len = 0;
    parts[n - 1].data = b.data;
    parts[n - 1].len = b.len;
    if (in->cmd && (r = tt_zmq_sock_send(in->cmd, parts, n)) < 0)
        tt_warn("command: answer dropped: %s", r == TT_ETOOBIG ? "queue full" : zmq_strerror(-r));
    free(parts);
    tt_buf_deinit(&b);
    in->stats.commands++;
}

static void cmd_free(struct tt_zmq_cmd *cmd)
{
    struct tt_zmq_inputs *in = cmd->in;
    if (cmd->link.next) {
        tt_list_remove(&cmd->link);
        if (in->num_pending-- == CMD_PENDING_MAX && in->cmd)
            tt_zmq_sock_set_reading(in->cmd, true);
    }
    free(cmd);
}

void tt_zmq_cmd_respond(struct tt_zmq_cmd *cmd, json_t *value)
{
    cmd_send(cmd, NULL, value);
    cmd_free(cmd);
}

void tt_zmq_cmd_fail(struct tt_zmq_cmd *cmd, const char *condition, json_t *value)
{
    cmd_send(cmd, condition, value);
    cmd_free(cmd);
}

/* Keep a command around for a hook's later answer. */
static void cmd_defer(struct tt_zmq_cmd *cmd)
{
    struct tt_zmq_inputs *in = cmd->in;
    tt_list_insert_tail(&in->pending, &cmd->link);
    if (++in->num_pending == CMD_PENDING_MAX)
        tt_zmq_sock_set_reading(in->cmd, false);
}

static bool method_is(const struct tt_zrpc_request *r, const char *m)
{
    size_t n = strlen(m);
    return r->method_len == n && memcmp(r->method, m, n) == 0;
}

static void do_conncheck(struct tt_zmq_inputs *in, struct tt_zmq_cmd *cmd, json_t *args)
{
    json_t *ids = json_object_get(args, "ids");
    if (!json_is_array(ids)) {
        tt_zmq_cmd_fail(cmd, "bad-request", NULL);
        return;
    }
    size_t n = json_array_size(ids);
    for (size_t i = 0; i < n; i++) {
        if (!json_is_string(json_array_get(ids, i))) {
            tt_zmq_cmd_fail(cmd, "bad-request", NULL);
            return;
        }
    }
    if (!in->conncheck) {
        json_t *none = json_array();
        tt_zmq_cmd_respond(cmd, none);
        json_decref(none);
        return;
    }
    const char **p = tt_calloc(n ? n : 1, sizeof(*p));
    size_t *lens = tt_calloc(n ? n : 1, sizeof(*lens));
    for (size_t i = 0; i < n; i++) {
        p[i] = json_string_value(json_array_get(ids, i));
        lens[i] = json_string_length(json_array_get(ids, i));
    }
    cmd_defer(cmd);
    in->conncheck(in->ctx, cmd, p, lens, n);
    free(p);
    free(lens);
}

static void do_refresh(struct tt_zmq_inputs *in, struct tt_zmq_cmd *cmd, json_t *args)
{
    json_t *cid = json_object_get(args, "cid");
    json_t *channel = cid ? NULL : json_object_get(args, "channel");
    if ((cid && !json_is_string(cid)) || (!cid && !json_is_string(channel))) {
        tt_zmq_cmd_fail(cmd, "bad-request", NULL);
        return;
    }
    if (!in->refresh) {
        if (cid)
            tt_zmq_cmd_fail(cmd, "item-not-found", NULL);
        else
            tt_zmq_cmd_respond(cmd, NULL);
        return;
    }
    cmd_defer(cmd);
    if (cid)
        in->refresh(in->ctx, cmd, json_string_value(cid), json_string_length(cid), NULL, 0);
    else
        in->refresh(in->ctx, cmd, NULL, 0, json_string_value(channel), json_string_length(channel));
}

static void do_uris(struct tt_zmq_inputs *in, struct tt_zmq_cmd *cmd)
{
    json_t *out = json_object();
    if (in->uri_command)
        json_object_set_new(out, "command", json_string(in->uri_command));
    if (in->uri_pull)
        json_object_set_new(out, "publish-pull", json_string(in->uri_pull));
    if (in->uri_sub)
        json_object_set_new(out, "publish-sub", json_string(in->uri_sub));
    tt_zmq_cmd_respond(cmd, out);
    json_decref(out);
}

static void do_publish(struct tt_zmq_inputs *in, struct tt_zmq_cmd *cmd, json_t *args)
{
    struct tt_pub_item *items;
    size_t n;
    char err[512];
    if (tt_zpub_items_from_args(args, &items, &n, err, sizeof(err)) < 0) {
        json_t *msg = json_stringn_nocheck(err, strlen(err));
        tt_zmq_cmd_fail(cmd, "bad-request", msg);
        json_decref(msg);
        return;
    }
    /* Answer first, then publish, as Pushpin does. */
    tt_zmq_cmd_respond(cmd, NULL);
    if (n > 0)
        in->on_items(in->ctx, items, n);
    else
        tt_pub_items_free(items, n);
}

static struct tt_zmq_cmd *cmd_new(struct tt_zmq_inputs *in, const struct tt_zmq_part *headers,
                                  size_t num_headers, const struct tt_zrpc_request *req)
{
    size_t bytes = req->id ? req->id_len : 0;
    for (size_t i = 0; i < num_headers; i++)
        bytes += headers[i].len;
    struct tt_zmq_cmd *cmd =
        tt_calloc(1, sizeof(*cmd) + num_headers * sizeof(struct tt_zmq_part) + bytes);
    cmd->in = in;
    cmd->num_headers = num_headers;
    cmd->headers = (struct tt_zmq_part *)(cmd + 1);
    char *data = (char *)(cmd->headers + num_headers);
    for (size_t i = 0; i < num_headers; i++) {
        memcpy(data, headers[i].data, headers[i].len);
        cmd->headers[i].data = data;
        cmd->headers[i].len = headers[i].len;
        data += headers[i].len;
    }
    if (req->id) {
        memcpy(data, req->id, req->id_len);
        cmd->id = data;
        cmd->id_len = req->id_len;
    }
    return cmd;
}

static void on_cmd(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n, void *ctx)
{
    (void)s;
    struct tt_zmq_inputs *in = ctx;
    size_t num_headers;
    const struct tt_zmq_part *content;
    if (tt_zrpc_envelope(parts, n, &num_headers, &content) < 0) {
        in->stats.command_malformed++;
        warn_limited(&in->warn_cmd, "zrpc server: received message with parts != 1, skipping");
        return;
    }
    struct tt_zrpc_request req;
    char err[256];
    if (tt_zrpc_request_decode(content->data, content->len, NULL, &req, err, sizeof(err)) < 0) {
        in->stats.command_malformed++;
        char esc[300];
        warn_limited(&in->warn_cmd, "zrpc server: received message with %s, skipping (%zu bytes)",
                     tt_log_escape(err, strlen(err), esc, sizeof(esc)), content->len);
        return;
    }
    if (TT_LOG_ON(TT_LOG_DEBUG)) {
        char m[80];
        tt_debug("IN command: %s", tt_log_escape(req.method, req.method_len, m, sizeof(m)));
    }
    struct tt_zmq_cmd *cmd = cmd_new(in, parts, num_headers, &req);
    if (method_is(&req, "conncheck")) {
        do_conncheck(in, cmd, req.args);
    } else if (method_is(&req, "get-zmq-uris")) {
        do_uris(in, cmd);
    } else if (method_is(&req, "recover")) {
        tt_zmq_cmd_respond(cmd, NULL);
        if (in->on_recover)
            in->on_recover(in->ctx);
    } else if (method_is(&req, "refresh")) {
        do_refresh(in, cmd, req.args);
    } else if (method_is(&req, "publish")) {
        do_publish(in, cmd, req.args);
    } else {
        tt_zmq_cmd_fail(cmd, "method-not-found", NULL);
    }
    tt_zrpc_request_deinit(&req);
}

/* ---- start / stop ---- */

/* The first item of a comma list, trimmed; NULL when the list is empty. */
static char *first_spec(const char *list)
{
    if (!list)
        return NULL;
    size_t pos = 0;
    const char *item;
    size_t len;
    while (tt_next_item(list, strlen(list), &pos, &item, &len))
        if (len)
            return tt_strndup(item, len);
    return NULL;
}

static int open_socket(struct tt_zmq_inputs *in, const char *key, const char *specs, bool bind,
                       const struct tt_zmq_sock_opts *o, tt_zmq_recv_fn fn,
                       struct tt_zmq_sock **out)
{
    int r = tt_zmq_sock_new(in->loop, o, fn, in, out);
    if (r < 0) {
        tt_err("zmq: %s: cannot create socket: %s", key, zmq_strerror(-r));
        return r;
    }
    size_t pos = 0;
    const char *item;
    size_t len;
    bool any = false;
    while (tt_next_item(specs, strlen(specs), &pos, &item, &len)) {
        if (!len)
            continue;
        char *spec = tt_strndup(item, len);
        r = bind ? tt_zmq_sock_bind(*out, spec) : tt_zmq_sock_connect(*out, spec);
        if (r < 0)
            tt_err("zmq: %s: unable to %s %s: %s", key, bind ? "bind to" : "connect to", spec,
                   zmq_strerror(-r));
        free(spec);
        any = true;
        /* Pushpin binds only the first spec of a list (and connects to all of them). */
        if (r < 0 || bind)
            break;
    }
    if (!any) {
        tt_err("zmq: %s: no endpoint", key);
        r = TT_ECONFIG;
    }
    return r;
}

static bool spec_set(const char *s)
{
    char *f = first_spec(s);
    bool set = f != NULL;
    free(f);
    return set;
}

static void inputs_free(struct tt_zmq_inputs *in)
{
    tt_map_deinit(&in->topics);
    free(in->uri_command);
    free(in->uri_pull);
    free(in->uri_sub);
    free(in);
}

static void free_topics(struct tt_zmq_inputs *in)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&in->topics, &it); e;
         e = tt_map_next(&in->topics, e, &it))
        free(e->value);
}

int tt_zmq_inputs_start(uv_loop_t *loop, const struct tt_config *cfg, tt_pub_items_fn on_items,
                        tt_pub_recover_fn on_recover, void *ctx, struct tt_zmq_inputs **out)
{
    *out = NULL;
    struct tt_zmq_inputs *in = tt_calloc(1, sizeof(*in));
    in->loop = loop;
    in->on_items = on_items;
    in->on_recover = on_recover;
    in->ctx = ctx;
    in->linger_s = cfg->subscription_linger;
    tt_map_init(&in->topics);
    tt_list_init(&in->pending);
    int r = 0;
    if (spec_set(cfg->command_spec)) {
        struct tt_zmq_sock_opts o = {.type = ZMQ_ROUTER,
                                     .rcvhwm = CMD_RCVHWM,
                                     .maxmsgsize = TT_ZMQ_INPUT_MAX_MSG,
                                     .linger_ms = CMD_LINGER_MS,
                                     .max_parts = MAX_PARTS};
        r = open_socket(in, "command_spec", cfg->command_spec, true, &o, on_cmd, &in->cmd);
        in->uri_command = first_spec(cfg->command_spec);
    }
    if (r == 0 && spec_set(cfg->push_in_spec)) {
        struct tt_zmq_sock_opts o = {.type = ZMQ_PULL,
                                     .rcvhwm = PULL_RCVHWM,
                                     .maxmsgsize = TT_ZMQ_INPUT_MAX_MSG,
                                     .max_parts = MAX_PARTS};
        r = open_socket(in, "push_in_spec", cfg->push_in_spec, true, &o, on_pull, &in->pull);
        in->uri_pull = first_spec(cfg->push_in_spec);
    }
    if (r == 0 && spec_set(cfg->push_in_sub_specs)) {
        struct tt_zmq_sock_opts o = {.type = ZMQ_SUB,
                                     .sndhwm = -1,
                                     .maxmsgsize = TT_ZMQ_INPUT_MAX_MSG,
                                     .max_parts = MAX_PARTS,
                                     .tcp_keepalive = cfg->push_in_sub_connect};
        r = open_socket(in, "push_in_sub_specs", cfg->push_in_sub_specs, !cfg->push_in_sub_connect,
                        &o, on_sub, &in->sub);
        if (!cfg->push_in_sub_connect)
            in->uri_sub = first_spec(cfg->push_in_sub_specs);
    }
    if (r == 0 && in->cmd)
        r = tt_zmq_sock_start(in->cmd);
    if (r == 0 && in->pull)
        r = tt_zmq_sock_start(in->pull);
    if (r == 0 && in->sub)
        r = tt_zmq_sock_start(in->sub);
    if (r < 0) {
        /* Sockets that never started free at once; started ones close their handles. */
        tt_zmq_sock_close(in->cmd);
        tt_zmq_sock_close(in->pull);
        tt_zmq_sock_close(in->sub);
        inputs_free(in);
        return r;
    }
    uv_timer_init(loop, &in->tick);
    in->tick.data = in;
    uv_timer_start(&in->tick, on_tick, 1000, 1000);
    if (in->pull)
        tt_info("zmq: publish PULL on %s", in->uri_pull);
    if (in->sub)
        tt_info("zmq: publish SUB %s %s", cfg->push_in_sub_connect ? "connected to" : "bound on",
                cfg->push_in_sub_specs);
    if (in->cmd)
        tt_info("zmq: command socket on %s", in->uri_command);
    *out = in;
    return 0;
}

void tt_zmq_inputs_set_conn_hooks(struct tt_zmq_inputs *in, tt_zmq_conncheck_fn conncheck,
                                  tt_zmq_refresh_fn refresh)
{
    in->conncheck = conncheck;
    in->refresh = refresh;
}

void tt_zmq_inputs_get_stats(const struct tt_zmq_inputs *in, struct tt_zmq_inputs_stats *out)
{
    *out = in->stats;
    /* Messages the socket layer dropped for their part count never reached us. */
    if (in->pull)
        out->pull_malformed += tt_zmq_sock_stats(in->pull)->recv_dropped;
    if (in->sub)
        out->sub_malformed += tt_zmq_sock_stats(in->sub)->recv_dropped;
    if (in->cmd)
        out->command_malformed += tt_zmq_sock_stats(in->cmd)->recv_dropped;
}

static void tick_closed(uv_handle_t *h)
{
    inputs_free(h->data);
}

void tt_zmq_inputs_stop(struct tt_zmq_inputs *in)
{
    if (!in || in->stopping)
        return;
    in->stopping = true;
    while (!tt_list_empty(&in->pending)) {
        struct tt_zmq_cmd *cmd = TT_CONTAINER_OF(in->pending.next, struct tt_zmq_cmd, link);
        tt_list_remove(&cmd->link);
        free(cmd);
    }
    tt_zmq_sock_close(in->cmd);
    tt_zmq_sock_close(in->pull);
    tt_zmq_sock_close(in->sub);
    in->cmd = in->pull = in->sub = NULL;
    free_topics(in);
    uv_close((uv_handle_t *)&in->tick, tick_closed);
}

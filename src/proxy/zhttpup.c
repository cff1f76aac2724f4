/* zhttpup.c: backend exchanges over zhttp (see zhttpup.h). */
#include "proxy/zhttpup.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

#define IDEAL_CREDITS 200000
#define REQ_BODY_MAX 1000000
#define SESSION_EXPIRE_MS 60000
#define KEEPALIVE_MS 45000
#define DRAIN_MARK 262144
#define HEAD_MAX 65536

enum zx_state {
    ZX_START,       /* the first packet has not gone out */
    ZX_ACK_WAIT,    /* zhttp: first packet sent, more body to send, no handler address yet */
    ZX_REQUESTING,  /* zhttp: sending the rest of the body within the handler's credits */
    ZX_FINISH_WAIT, /* the whole request went out; no answer yet */
    ZX_RECEIVING,   /* answered at least once */
    ZX_DONE,
};

struct tt__zx {
    struct tt_upstream *u;
    struct tt_worker *w;
    struct tt_list link;  /* w->zhttp_all */
    struct tt_list dirty; /* w->zhttp_dirty */
    enum zx_state state;
    bool req; /* zhttpreq */
    bool is_head;
    bool dead; /* finished or aborted: no more callbacks, nothing more sent */
    bool paused;
    bool got_head;
    bool body_end;             /* the owner gave the whole body */
    bool body_taken;           /* the owner gave body bytes */
    bool bodyless;             /* the response has no body (HEAD, 204, 304) */
    bool last_sent;            /* zhttp: the packet with more=false went out */
    enum tt_up_error fail_err; /* with fail_pending */
    bool fail_pending;
    char key[300];
    uint64_t key_hash;
    char id[32];
    size_t id_len;
    char *to; /* the handler's address (zhttp) */
    size_t to_len;
    int out_seq, in_seq;
    /* the request, until the first packet has gone */
    char *method, *uri;
    size_t method_len, uri_len;
    struct tt_zhttp_header *headers;
    size_t num_headers;
    /* request body */
    bool chunked;
    struct tt_h1_chunked ch;
    struct tt_buf body;
    int credits_out;     /* request body bytes the handler takes */
    int pending_credits; /* response bytes passed on and not yet granted back */
    int64_t resp_left;   /* Content-Length still due, -1 none */
    uint64_t last_in, next_ka;
};

/* ---- worker state ---- */

void tt__zx_worker_init(struct tt_worker *w)
{
    tt_map_init(&w->zhttp_ids);
    tt_list_init(&w->zhttp_all);
    tt_list_init(&w->zhttp_dirty);
}

void tt__zx_worker_deinit(struct tt_worker *w)
{
    tt_map_deinit(&w->zhttp_ids);
}

static void mark_dirty(struct tt__zx *x)
{
    if (!x->dead && tt_list_empty(&x->dirty))
        tt_list_insert_tail(&x->w->zhttp_dirty, &x->dirty);
}

/* Out of the worker's tables: nothing reaches it any more. */
static void release(struct tt__zx *x)
{
    if (x->dead)
        return;
    x->dead = true;
    x->state = ZX_DONE;
    tt_map_remove(&x->w->zhttp_ids, x->id, x->id_len);
    tt_list_remove(&x->link);
    tt_list_remove(&x->dirty);
    free(x->headers);
    x->headers = NULL;
    tt_buf_deinit(&x->body);
}

/* ---- sending ---- */

static void send_packet(struct tt__zx *x, struct tt_zhttp_packet *p, enum tt_zhub_route route)
{
    struct tt_zhttp_id id = {{x->id, x->id_len}, x->req ? -1 : x->out_seq++};
    const char *from = tt_zhub_instance_id(x->w->srv->zhub);
    p->from.p = from;
    p->from.len = strlen(from);
    p->ids = &id;
    p->num_ids = 1;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    if (tt_zhttp_encode(p, TT_ZHTTP_REQUEST, &b) == 0)
        tt_zhub_send(x->w->srv->zhub, x->key, route, x->to, x->to_len, x->id, x->id_len, b.data,
                     b.len);
    else
        tt_warn("zhttp: cannot encode a packet for %s", x->key);
    tt_buf_deinit(&b);
}

static void send_simple(struct tt__zx *x, enum tt_zhttp_type type, int credits)
{
    struct tt_zhttp_packet p;
    tt_zhttp_packet_init(&p);
    p.type = type;
    p.credits = credits;
    send_packet(x, &p, TT_ZHUB_TO);
}

static void send_first(struct tt__zx *x)
{
    struct tt_zhttp_packet p;
    tt_zhttp_packet_init(&p);
    p.method.p = x->method;
    p.method.len = x->method_len;
    p.uri.p = x->uri;
    p.uri.len = x->uri_len;
    p.headers = x->headers;
    p.num_headers = x->num_headers;
    size_t take = x->body.len;
    if (x->req) {
        p.max_size = REQ_BODY_MAX;
        x->state = ZX_FINISH_WAIT;
    } else {
        /* Pushpin acts as if it had credits for the first packet, within a cap. */
        if (take > IDEAL_CREDITS)
            take = IDEAL_CREDITS;
        p.more = !(x->body_end && take == x->body.len);
        p.stream = true;
        p.router_resp = true;
        p.credits = IDEAL_CREDITS;
        p.multi = true;
        x->state = p.more ? ZX_ACK_WAIT : ZX_FINISH_WAIT;
        x->last_sent = !p.more;
    }
    p.body.p = take ? x->body.data : "";
    p.body.len = take;
    if (!take)
        p.body.p = NULL;
    send_packet(x, &p, x->req ? TT_ZHUB_REQ : TT_ZHUB_FIRST);
    tt_buf_consume(&x->body, take);
    free(x->headers);
    x->headers = NULL;
}

/* zhttp: more body within the credits, or the final empty packet. */
static void send_body(struct tt__zx *x)
{
    size_t before = x->body.len;
    while (!x->last_sent && (x->body.len ? x->credits_out > 0 : x->body_end)) {
        size_t take = TT_MIN(x->body.len, (size_t)x->credits_out);
        struct tt_zhttp_packet p;
        tt_zhttp_packet_init(&p);
        p.body.p = take ? x->body.data : NULL;
        p.body.len = take;
        p.more = !(x->body_end && take == x->body.len);
        if (x->pending_credits > 0 && !x->paused) {
            p.credits = x->pending_credits;
            x->pending_credits = 0;
        }
        send_packet(x, &p, TT_ZHUB_TO);
        x->credits_out -= (int)take;
        tt_buf_consume(&x->body, take);
        if (!p.more) {
            x->last_sent = true;
            x->state = ZX_RECEIVING;
        }
        if (!take && p.more)
            break;
    }
    if (before >= DRAIN_MARK / 2 && x->body.len < DRAIN_MARK / 2)
        tt__up_zx_drain(x->u);
}

static void fail(struct tt__zx *x, enum tt_up_error err, bool try_next)
{
    if (x->dead)
        return;
    release(x);
    tt__up_zx_fail(x->u, err, try_next);
}

static void flush_one(struct tt__zx *x)
{
    if (x->fail_pending) {
        fail(x, x->fail_err, false);
        return;
    }
    if (x->state == ZX_START) {
        if (x->req && !x->body_end)
            return; /* zhttpreq: the request goes whole */
        send_first(x);
        return;
    }
    if (x->state == ZX_REQUESTING)
        send_body(x);
    if (x->dead)
        return;
    if (!x->req && x->to && x->pending_credits > 0 && !x->paused &&
        (x->state == ZX_RECEIVING || x->state == ZX_REQUESTING)) {
        send_simple(x, TT_ZHTTP_CREDIT, x->pending_credits);
        x->pending_credits = 0;
    }
}

void tt__zx_flush(struct tt_worker *w)
{
    while (!tt_list_empty(&w->zhttp_dirty)) {
        struct tt__zx *x = TT_CONTAINER_OF(w->zhttp_dirty.next, struct tt__zx, dirty);
        tt_list_remove(&x->dirty);
        flush_one(x);
    }
}

/* ---- start ---- */

static char *dup_n(const char *s, size_t n)
{
    char *d = tt_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

struct tt__zx *tt__zx_start(struct tt_upstream *u, struct tt_worker *w,
                            const struct tt_route_target *t, const char *head, size_t head_len,
                            bool with_body, bool is_head)
{
    struct tt_server *srv = w->srv;
    if (!srv->zhub || !t->zhttp_spec)
        return NULL;
    struct tt_h1_request *h = tt_malloc(sizeof(*h));
    struct tt_h1_error err;
    if (tt_h1_parse_request(head, head_len, HEAD_MAX, h, &err) <= 0) {
        tt_warn("zhttp: cannot read back the request head: %s", err.reason ? err.reason : "?");
        free(h);
        return NULL;
    }
    struct tt__zx *x = tt_calloc(1, sizeof(*x));
    x->u = u;
    x->w = w;
    x->req = t->type == TT_TARGET_ZHTTPREQ;
    x->is_head = is_head;
    tt_list_init(&x->dirty);
    tt_buf_init(&x->body, 0);
    x->resp_left = -1;
    tt_zhub_key(x->req, t->zhttp_spec, x->key, sizeof(x->key));
    x->key_hash = tt_hash(x->key, strlen(x->key));
    int n =
        snprintf(x->id, sizeof(x->id), "%d-%llx", w->index, (unsigned long long)++w->next_zhttp_id);
    x->id_len = (size_t)n;
    x->method = dup_n(h->method, h->method_len);
    x->method_len = h->method_len;
    const char *host = h->host ? h->host : "localhost";
    size_t host_len = h->host ? h->host_len : 9;
    struct tt_buf uri;
    tt_buf_init(&uri, 0);
    tt_buf_appends(&uri, t->ssl ? "https://" : "http://");
    tt_buf_append(&uri, host, host_len);
    tt_buf_append(&uri, h->target, h->target_len);
    x->uri = tt_buf_steal(&uri, &x->uri_len);
    /* Headers point into head, which the upstream keeps. Transfer-Encoding describes the
     * HTTP framing, which zhttp does not have. */
    x->headers = tt_calloc(h->num_headers ? h->num_headers : 1, sizeof(*x->headers));
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tt_h1_header *hd = &h->headers[i];
        if (tt_strieq(hd->name, hd->name_len, "Transfer-Encoding"))
            continue;
        struct tt_zhttp_header *zh = &x->headers[x->num_headers++];
        zh->name.p = hd->name;
        zh->name.len = hd->name_len;
        zh->value.p = hd->value;
        zh->value.len = hd->value_len;
    }
    x->chunked = h->framing.chunked;
    if (x->chunked)
        tt_h1_chunked_init(&x->ch);
    x->body_end = !with_body;
    free(h);
    x->last_in = uv_now(&w->loop);
    tt_map_put(&w->zhttp_ids, x->id, x->id_len, x);
    tt_list_insert_tail(&w->zhttp_all, &x->link);
    /* The first packet leaves before the loop sleeps, with whatever body came with the
     * head by then. */
    mark_dirty(x);
    return x;
}

/* ---- the owner's calls ---- */

void tt__zx_send(struct tt__zx *x, const char *data, size_t len)
{
    if (x->dead || x->body_end || !len)
        return;
    x->body_taken = true;
    if (!x->chunked) {
        tt_buf_append(&x->body, data, len);
    } else {
        while (len) {
            const char *d;
            size_t dl;
            ssize_t used = tt_h1_chunked_step(&x->ch, data, len, &d, &dl);
            if (used < 0)
                break; /* the client side checked the framing already */
            if (dl)
                tt_buf_append(&x->body, d, dl);
            data += used;
            len -= (size_t)used;
            if (used == 0 || x->ch.done)
                break;
        }
    }
    if (x->req && x->body.len > REQ_BODY_MAX) {
        tt_warn("zhttp: request body for %s over %d bytes", x->key, REQ_BODY_MAX);
        x->fail_pending = true;
        x->fail_err = TT_UP_ERR_FAILED;
    }
    if (x->state == ZX_REQUESTING || x->fail_pending)
        mark_dirty(x);
}

void tt__zx_send_end(struct tt__zx *x)
{
    if (x->dead || x->body_end)
        return;
    x->body_end = true;
    if (x->state == ZX_START || x->state == ZX_REQUESTING)
        mark_dirty(x);
}

bool tt__zx_body_taken(const struct tt__zx *x)
{
    return x->body_taken;
}

size_t tt__zx_pending(const struct tt__zx *x)
{
    return x->req ? 0 : x->body.len;
}

void tt__zx_pause(struct tt__zx *x, bool paused)
{
    x->paused = paused;
    if (!paused && x->pending_credits > 0)
        mark_dirty(x);
}

void tt__zx_abort(struct tt__zx *x)
{
    if (!x || x->dead)
        return;
    /* Pushpin cancels only once it knows the handler's address. */
    bool cancel =
        !x->req && x->to &&
        (x->state == ZX_REQUESTING || x->state == ZX_RECEIVING || x->state == ZX_FINISH_WAIT);
    if (cancel)
        send_simple(x, TT_ZHTTP_CANCEL, -1);
    release(x);
}

void tt__zx_free(struct tt__zx *x)
{
    if (!x)
        return;
    release(x);
    free(x->method);
    free(x->uri);
    free(x->to);
    free(x);
}

/* ---- incoming ---- */

static bool str_is(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

static enum tt_up_error error_kind(const struct tt_zhttp_str *cond, bool *try_next)
{
    *try_next = false;
    if (!cond->p)
        return TT_UP_ERR_FAILED;
    if (str_is(cond->p, cond->len, "remote-connection-failed") ||
        str_is(cond->p, cond->len, "connection-timeout") ||
        str_is(cond->p, cond->len, "tls-error")) {
        *try_next = true;
        return TT_UP_ERR_CONNECT;
    }
    if (str_is(cond->p, cond->len, "policy-violation"))
        return TT_UP_ERR_BLOCKED;
    if (str_is(cond->p, cond->len, "length-required"))
        return TT_UP_ERR_LENGTH_REQUIRED;
    return TT_UP_ERR_FAILED;
}

static int64_t parse_length(const char *s, size_t n)
{
    return tt_parse_uint(s, n, INT64_MAX / 2);
}

/* The response head; false when it is not one we can pass on (logged). */
static bool build_head(struct tt__zx *x, const struct tt_zhttp_packet *p, struct tt_h1_response *r)
{
    memset(r, 0, sizeof(*r));
    r->minor_version = 1;
    if (p->code < 100 || p->code > 999 || p->code == 101) {
        tt_warn("zhttp: %s answered with status %d", x->key, p->code);
        return false;
    }
    r->status = p->code;
    if (p->reason.p && p->reason.len) {
        if (!tt_h1_is_field_value(p->reason.p, p->reason.len)) {
            tt_warn("zhttp: %s answered with an invalid reason phrase", x->key);
            return false;
        }
        r->reason = p->reason.p;
        r->reason_len = p->reason.len;
    }
    if (p->num_headers > TT_H1_MAX_HEADERS) {
        tt_warn("zhttp: %s answered with %zu headers (limit %d)", x->key, p->num_headers,
                TT_H1_MAX_HEADERS);
        return false;
    }
    int64_t declared = -1;
    for (size_t i = 0; i < p->num_headers; i++) {
        const struct tt_zhttp_header *h = &p->headers[i];
        if (!h->name.p || !tt_h1_is_token(h->name.p, h->name.len) ||
            (h->value.len && !tt_h1_is_field_value(h->value.p, h->value.len))) {
            tt_warn("zhttp: %s answered with an invalid header", x->key);
            return false;
        }
        r->headers[i].name = h->name.p;
        r->headers[i].name_len = h->name.len;
        r->headers[i].value = h->value.p ? h->value.p : "";
        r->headers[i].value_len = h->value.len;
        if (tt_strieq(h->name.p, h->name.len, "Content-Length"))
            declared = parse_length(h->value.p ? h->value.p : "", h->value.len);
    }
    r->num_headers = p->num_headers;
    x->bodyless = x->is_head || p->code == 204 || p->code == 304 || p->code < 200;
    r->framing.keep_alive = true;
    if (!p->more && !x->bodyless)
        r->framing.content_length = (int64_t)p->body.len; /* the whole body is here */
    else
        r->framing.content_length = declared;
    x->resp_left = (p->more && !x->bodyless) ? declared : -1;
    return true;
}

/* Pass body bytes on; false when the exchange ended. */
static bool body(struct tt__zx *x, const struct tt_zhttp_packet *p)
{
    size_t len = p->body.len;
    if (!len || x->bodyless)
        return true;
    if (x->resp_left >= 0) {
        if ((int64_t)len > x->resp_left) {
            tt_warn("zhttp: %s sent more body than its Content-Length", x->key);
            fail(x, TT_UP_ERR_TRUNCATED, false);
            return false;
        }
        x->resp_left -= (int64_t)len;
    }
    if (!x->req) {
        x->pending_credits += (int)len;
        mark_dirty(x);
    }
    if (!tt__up_zx_data(x->u, p->body.p, len)) {
        release(x);
        return false;
    }
    return !x->dead;
}

static void handle(struct tt__zx *x, const struct tt_zhttp_packet *p, int seq)
{
    bool try_next;
    if (x->state == ZX_ACK_WAIT || x->state == ZX_FINISH_WAIT) {
        if (p->from.p && p->from.len) {
            free(x->to);
            x->to = dup_n(p->from.p, p->from.len);
            x->to_len = p->from.len;
        } else if (x->state == ZX_ACK_WAIT) {
            tt_warn("zhttp: %s: the first answer to a streamed request has no from", x->key);
            fail(x, TT_UP_ERR_FAILED, false);
            return;
        }
        x->state = x->state == ZX_ACK_WAIT ? ZX_REQUESTING : ZX_RECEIVING;
        x->next_ka = uv_now(&x->w->loop) + KEEPALIVE_MS;
    }
    if (p->type == TT_ZHTTP_ERROR) {
        char c[64];
        tt_debug(
            "zhttp: %s: error %s", x->key,
            tt_log_escape(p->condition.p ? p->condition.p : "", p->condition.len, c, sizeof(c)));
        enum tt_up_error e = error_kind(&p->condition, &try_next);
        if (x->got_head) {
            e = TT_UP_ERR_TRUNCATED;
            try_next = false;
        }
        fail(x, e, try_next && !x->body_taken);
        return;
    }
    if (p->type == TT_ZHTTP_CANCEL) {
        fail(x, x->got_head ? TT_UP_ERR_TRUNCATED : TT_UP_ERR_FAILED, false);
        return;
    }
    if (!x->req) {
        if (seq != x->in_seq) {
            tt_warn("zhttp: %s: received message out of sequence (expected %d, got %d), "
                    "canceling",
                    x->key, x->in_seq, seq);
            send_simple(x, TT_ZHTTP_CANCEL, -1);
            fail(x, x->got_head ? TT_UP_ERR_TRUNCATED : TT_UP_ERR_FAILED, false);
            return;
        }
        x->in_seq++;
    }
    x->last_in = uv_now(&x->w->loop);
    if (x->req && (p->type != TT_ZHTTP_DATA || p->more)) {
        tt_warn("zhttp: %s: received invalid req response", x->key);
        fail(x, TT_UP_ERR_FAILED, false);
        return;
    }
    if (p->credits > 0 && !x->req) {
        x->credits_out += p->credits;
        if (x->state == ZX_REQUESTING)
            mark_dirty(x);
    }
    if (p->type != TT_ZHTTP_DATA)
        return; /* credit, keep-alive, and types a client ignores */
    if (!x->got_head) {
        struct tt_h1_response r;
        if (!build_head(x, p, &r)) {
            if (!x->req)
                send_simple(x, TT_ZHTTP_CANCEL, -1);
            fail(x, TT_UP_ERR_FAILED, false);
            return;
        }
        x->got_head = true;
        if (tt__up_zx_head(x->u, &r) != 0) {
            release(x);
            return;
        }
        if (x->dead)
            return;
    }
    if (!body(x, p))
        return;
    if (!p->more) {
        if (x->resp_left > 0) {
            tt_warn("zhttp: %s ended before its Content-Length", x->key);
            fail(x, TT_UP_ERR_TRUNCATED, false);
            return;
        }
        release(x);
        tt__up_zx_end(x->u);
    }
}

void tt__zx_packet(struct tt_worker *w, struct tt_zhub_in *in)
{
    if (in->status) {
        struct tt__zx *x = tt_map_get(&w->zhttp_ids, in->id, strlen(in->id));
        if (x && x->key_hash == in->target) {
            tt_warn("zhttp: %s is unavailable (no handler connected?)", x->key);
            fail(x, TT_UP_ERR_FAILED, false);
        }
        return;
    }
    for (size_t i = 0; i < in->pkt.num_ids; i++) {
        const struct tt_zhttp_id *id = &in->pkt.ids[i];
        struct tt__zx *x = tt_map_get(&w->zhttp_ids, id->id.p, id->id.len);
        if (!x || x->dead) {
            tt_debug("zhttp: received message for unknown request id, skipping");
            continue;
        }
        if (x->key_hash != in->target) {
            tt_warn("zhttp: a message for %s came through another target; skipped", x->key);
            continue;
        }
        handle(x, &in->pkt, id->seq);
    }
}

void tt__zx_tick(struct tt_worker *w, uint64_t now)
{
    (void)now;
    uint64_t t = uv_now(&w->loop);
    /* Failing an exchange calls its owner, which may end other exchanges of this list:
     * collect first (their memory lives until their upstream is freed, a loop turn on). */
    struct tt__zx **expired = NULL;
    size_t n = 0, cap = 0;
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &w->zhttp_all)
    {
        struct tt__zx *x = TT_CONTAINER_OF(p, struct tt__zx, link);
        if (t >= x->last_in + SESSION_EXPIRE_MS) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                expired = tt_realloc(expired, cap * sizeof(*expired));
            }
            expired[n++] = x;
            continue;
        }
        if (!x->req && x->to && t >= x->next_ka &&
            (x->state == ZX_REQUESTING || x->state == ZX_RECEIVING)) {
            send_simple(x, TT_ZHTTP_KEEP_ALIVE, -1);
            x->next_ka = t + KEEPALIVE_MS;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (expired[i]->dead)
            continue;
        tt_warn("zhttp: %s: nothing heard for %d s; giving up", expired[i]->key,
                SESSION_EXPIRE_MS / 1000);
        fail(expired[i], TT_UP_ERR_UNREACHABLE, false);
    }
    free(expired);
}

/* h2.c: HTTP/2 connections and streams (see h2.h).
 *
 * Life of a connection: tt_h2_start makes the session; socket events come to h2_io, which
 * reads into the worker's scratch buffer and feeds nghttp2. nghttp2's callbacks only
 * record what happened on each stream (struct h2s) and put it on the connection's work
 * list; h2_run, at the end of every event of the connection and once per loop iteration
 * when one of its streams wrote (tt_client_flush_later of the connection), then acts:
 * makes a client for each new stream, wakes clients that have input, turns their output
 * into frames, sends, and tells the clients whose output left. Clients are never closed
 * from inside nghttp2, and a stream client's own calls (flush, set_read, close) never
 * close another client: only h2_run and the connection's events do.
 *
 * Ownership: struct tt_h2 is the connection client's session, freed by tt_client_close
 * of that client (which closes every stream client first). A struct h2s lives while
 * nghttp2 knows the stream or its client is open, whichever is longer. */
#include "h2/h2.h"

#include <nghttp2/nghttp2.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/base64.h"
#include "core/log.h"
#include "http/h1.h"
#include "http/h2req.h"
#include "http/resp.h"
#include "proxy/held.h"

/* Frames queued on the socket above which no more DATA is pulled and the socket is not
 * read (a peer that does not read cannot make us queue without end). */
#define H2_OUT_HIGH (128 * 1024)
/* Cleartext payloads at least this big are queued by reference to the client's bytes
 * (a published message is then shared, not copied); smaller ones are copied, so that a
 * burst of small messages to many streams is one buffer and one write. */
#define H2_REF_MIN 1024
/* The stream window we advertise, and the request bytes a stream may have waiting. */
#define H2_STREAM_WINDOW 65535
#define H2_INPUT_MAX (2 * H2_STREAM_WINDOW)
/* CONTINUATION frames allowed after one HEADERS (a head of client_buffer_size fits in
 * the first frame; nghttp2's own cap, 16, is the backstop). */
#define H2_MAX_CONTINUATIONS 8
#define H2_RUN_ROUNDS 8
#define H2_HEAD_MAX (64 * 1024 + 1024) /* response heads: a backend's are capped at 64 KiB */

/* Token buckets of the cheap-frame limits: burst, then per second. */
enum h2_limit {
    L_RESET,
    L_SETTINGS,
    L_PING,
    L_EMPTY,
    L_OTHER,
    L_STREAMS,
    L_BUCKETS, /* the ones below are not buckets */
    L_CONTINUATION = L_BUCKETS,
    L_FLOOD,
    L_COUNT
};

static const struct {
    const char *what;
    uint32_t burst, per_s;
} limits[L_COUNT] = {
    [L_RESET] = {"rapid reset (streams reset by the client)", 100, 10},
    [L_SETTINGS] = {"SETTINGS flood", 20, 2},
    [L_PING] = {"PING flood", 50, 10},
    [L_EMPTY] = {"empty DATA frame flood", 100, 10},
    [L_OTHER] = {"PRIORITY/unknown frame flood", 1000, 100},
    [L_STREAMS] = {"streams opened beyond SETTINGS_MAX_CONCURRENT_STREAMS", 100, 10},
    [L_CONTINUATION] = {"CONTINUATION flood", 0, 0},
    [L_FLOOD] = {"control frames it does not read the answers to", 0, 0},
};

struct h2_bucket {
    uint64_t milli; /* tokens x 1000 */
    uint64_t last_ms;
};

/* RD_TUNNEL: a WebSocket (RFC 8441) after its 200: raw bytes until the client closes. */
enum rd_state { RD_HEAD, RD_LENGTH, RD_CHUNKED, RD_CLOSE, RD_TUNNEL, RD_DONE };
enum h2_timer { T_NONE, T_IDLE, T_LINGER };

struct tt_h2;

/* What a stream needs only while bytes pass: its request coming in, a direct answer going
 * out, a response body whose framing is mid-way. Made on demand and freed once nothing is
 * left in it (x_trim), so that a held idle stream keeps only its struct h2s. */
struct h2s_x {
    struct tt_h2req *req;  /* while the HEADERS are decoded */
    struct tt_buf in;      /* head (head_left bytes), then body payload, not read yet */
    size_t head_left;
    struct tt_conn *reply; /* a direct answer's queue when there is no client (heap) */
    union {
        uint64_t left;          /* RD_LENGTH: body bytes to go */
        struct tt_h1_chunked ch; /* RD_CHUNKED: the de-chunker, when not between chunks */
    } body;
};

/* Pending events of a stream (h2s.ev), acted on by h2_run. */
/* EV_IDLE: the queue of a held stream's client ran dry: it may become compact. */
enum { EV_NEW = 1, EV_INPUT = 2, EV_OUTPUT = 4, EV_WRITABLE = 8, EV_CLOSED = 16, EV_IDLE = 32 };

/* One stream: 56 bytes, all that a held idle stream costs here (nghttp2 keeps its own
 * stream object and map entry, and no data item: see data_read). */
struct h2s {
    struct tt_h2 *h;
    /* Who answers the stream: its client, or once it idles as a held stream the compact
     * record that replaced the client (held; see compact()). NULL before the client is
     * made and once it or the record is gone. A test of c alone asks "has an owner";
     * client_of() gives the client. */
    union {
        struct tt_client *c;
        struct tt_held *k;
    };
    struct h2s_x *x;      /* NULL when idle */
    struct tt_list link;  /* h->streams */
    struct h2s *work_next; /* h->work_head.. while on_work */
    int32_t id;
    uint8_t ev; /* EV_* */
    /* request */
    bool head_ready : 1;  /* the head is in x->in */
    bool chunked : 1;     /* the body goes to the client chunked */
    bool req_end : 1;     /* END_STREAM received */
    bool end_given : 1;   /* chunked: the last chunk was read */
    bool head_method : 1; /* HEAD: the response has no body */
    bool tunnel : 1;      /* extended CONNECT (WebSocket): after the head, DATA are raw bytes */
    bool eof_given : 1;   /* tunnel: the client was told of END_STREAM (a read of 0) */
    /* response */
    unsigned rd : 3;      /* enum rd_state */
    bool submitted : 1;   /* HEADERS submitted */
    bool item : 1;        /* nghttp2 holds a data item (provider) for the stream */
    bool end_out : 1;     /* END_STREAM handed to nghttp2 */
    bool blocked : 1;     /* the data item is deferred: the socket is backed up */
    bool ng_closed : 1;   /* nghttp2 closed the stream */
    bool reset_sent : 1;
    bool on_work : 1;
    bool held : 1;        /* k, not c: a compact held stream */
};

struct tt_h2 {
    struct tt_client_session session;
    struct tt_client *c; /* the connection (state TT_C_H2) */
    nghttp2_session *ng;
    struct tt_list streams;
    struct h2s *work_head, *work_tail; /* streams with pending events, in order */
    uint32_t open; /* streams nghttp2 has open */
    struct tt_buf acc; /* frames gathered for the socket */
    struct h2_bucket buckets[L_BUCKETS];
    uint32_t block_frames; /* CONTINUATIONs of the header block in progress */
    size_t block_bytes;
    int32_t last_stream; /* highest stream id seen */
    enum h2_timer timer;
    bool in_run, in_send, read_paused, any_blocked, dead, closing, shutting_down, tripped;
    bool freeing; /* session_free: its streams go, none is queued */
};

static const struct tt_conn_vops stream_vops;
static void held_gone(struct h2s *s);
static void compact(struct h2s *s);
static const struct tt_client_session_ops session_ops;
static void h2_run(struct tt_h2 *h);
static void close_conn(struct tt_h2 *h);

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t now_ms(struct tt_h2 *h)
{
    return uv_now(&h->c->w->loop);
}

static void later(struct tt_h2 *h)
{
    if (h->c->state != TT_C_CLOSING)
        tt_client_flush_later(h->c);
}

static void want(struct h2s *s, uint8_t ev)
{
    s->ev |= ev;
    if (!s->on_work && !s->h->freeing) {
        struct tt_h2 *h = s->h;
        s->on_work = true;
        s->work_next = NULL;
        if (h->work_tail)
            h->work_tail->work_next = s;
        else
            h->work_head = s;
        h->work_tail = s;
    }
}

static struct h2s_x *x_get(struct h2s *s)
{
    if (!s->x) {
        s->x = tt_calloc(1, sizeof(*s->x));
        tt_buf_init(&s->x->in, 0);
        if (s->rd == RD_CHUNKED)
            tt_h1_chunked_init(&s->x->body.ch); /* x is only freed between chunks */
    }
    return s->x;
}

static struct tt_h2req *req_of(const struct h2s *s)
{
    return s->x ? s->x->req : NULL;
}

static struct tt_conn *reply_of(const struct h2s *s)
{
    return s->x ? s->x->reply : NULL;
}

static size_t in_len(const struct h2s *s)
{
    return s->x ? s->x->in.len : 0;
}

static struct tt_client *client_of(const struct h2s *s)
{
    return s->held ? NULL : s->c;
}

/* The stream's response queue: its client's; a held record's (made while bytes wait) or a
 * direct answer's are x->reply. */
static struct tt_conn *outq(struct h2s *s)
{
    return client_of(s) ? &s->c->conn : reply_of(s);
}

static void free_queue(struct tt_conn *q)
{
    if (!q)
        return;
    tt_conn_free_output(q);
    free(q);
}

static bool between_chunks(const struct tt_h1_chunked *ch)
{
    struct tt_h1_chunked rest;
    tt_h1_chunked_init(&rest);
    return ch->state == rest.state && ch->remaining == rest.remaining &&
           ch->line_len == rest.line_len && ch->done == rest.done;
}

/* Free s->x once it holds nothing: no request being decoded, no input, no direct answer,
 * no body length to count, the de-chunker between chunks. */
static void x_trim(struct h2s *s)
{
    struct h2s_x *x = s->x;
    if (x && x->reply && s->held && !x->reply->out_count) {
        free_queue(x->reply); /* a held stream keeps a queue only while bytes wait */
        x->reply = NULL;
    }
    if (!x || x->req || x->in.len || x->head_left || x->reply || s->rd == RD_LENGTH ||
        (s->rd == RD_CHUNKED && !between_chunks(&x->body.ch)))
        return;
    tt_buf_deinit(&x->in);
    free(x);
    s->x = NULL;
}

/* Never while s is queued (on_work), but in session_free, whose queue goes with it. */
static void stream_free(struct h2s *s)
{
    tt_list_remove(&s->link);
    struct h2s_x *x = s->x;
    if (x) {
        if (x->req) {
            tt_h2req_deinit(x->req);
            free(x->req);
        }
        tt_buf_deinit(&x->in);
        free_queue(x->reply);
        free(x);
    }
    if (!s->ng_closed && s->h->ng)
        nghttp2_session_set_stream_user_data(s->h->ng, s->id, NULL);
    free(s);
}

static void reset(struct h2s *s, uint32_t code)
{
    if (s->ng_closed || s->reset_sent)
        return;
    s->reset_sent = true;
    nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, code);
    later(s->h);
}

static bool bucket_take(struct tt_h2 *h, enum h2_limit k)
{
    struct h2_bucket *b = &h->buckets[k];
    uint64_t now = now_ms(h), cap = (uint64_t)limits[k].burst * 1000;
    b->milli = TT_MIN(cap, b->milli + (now - b->last_ms) * limits[k].per_s);
    b->last_ms = now;
    if (b->milli < 1000)
        return false;
    b->milli -= 1000;
    return true;
}

/* An abuse limit was hit: count, log, GOAWAY ENHANCE_YOUR_CALM, close once it is sent. */
static void trip(struct tt_h2 *h, enum h2_limit k)
{
    if (h->tripped)
        return;
    h->tripped = true;
    struct tt_worker *w = h->c->w;
    w->stats.h2_limits++;
    tt_warn("c%llu %s: HTTP/2 %s: GOAWAY ENHANCE_YOUR_CALM (%llu HTTP/2 limit hits in worker %d)",
            (unsigned long long)h->c->id, h->c->peer, limits[k].what,
            (unsigned long long)w->stats.h2_limits, w->index);
    nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    h->closing = true;
    later(h);
}

/* ---- requests: header fields in, HTTP/1.1 bytes out to the stream's client --------- */

/* Answer a stream that gets no client (a request the HTTP/1 head cannot express). */
static void reply(struct h2s *s, int status, const char *body)
{
    if (reply_of(s) || s->c)
        return;
    struct tt_resp r;
    struct tt_buf out;
    tt_resp_text(&r, status, body);
    tt_buf_init(&out, 0);
    tt_resp_render(&r, 1, false, s->head_method, &out);
    tt_resp_deinit(&r);
    struct tt_conn *q = tt_calloc(1, sizeof(*q));
    x_get(s)->reply = q;
    size_t len;
    char *b = tt_buf_steal(&out, &len);
    tt_conn_write_owned(q, b, b, len);
    want(s, EV_OUTPUT);
}

static void reject(struct h2s *s, struct tt_h2req *q)
{
    char msg[160];
    if (q->status == 400 && !q->error)
        snprintf(msg, sizeof(msg), "Request header size exceeded limit of %zu bytes.\n", q->cap);
    else if (q->status == 501)
        snprintf(msg, sizeof(msg), "%s.\n", q->error ? q->error : "Not implemented");
    else
        snprintf(msg, sizeof(msg), "Failed to parse request: %s\n",
                 q->error ? q->error : "invalid request");
    tt_info("c%llu %s rejected request on HTTP/2 stream %d: %d %.*s",
            (unsigned long long)s->h->c->id, s->h->c->peer, s->id, q->status,
            (int)strcspn(msg, "\n"), msg);
    reply(s, q->status ? q->status : 400, msg);
}

/* The head can be written once the body's framing is known: at END_STREAM, with a
 * content-length, or at the first DATA byte (then chunked). */
static void head_ready(struct h2s *s, bool body_follows)
{
    struct tt_h2req *q = req_of(s);
    if (s->head_ready || !q)
        return;
    s->head_ready = true;
    struct h2s_x *x = s->x;
    x->req = NULL; /* q is freed below, whatever happens */
    s->head_method = q->method && strcmp(q->method, "HEAD") == 0;
    if (q->status == 0 && tt_h2req_check(q) == 0 && q->websocket) {
        s->tunnel = true;
        /* Only the session sees this key (a passthrough backend gets one of its own), but
         * a WebSocket-over-HTTP backend is shown the client's headers: random, as a
         * client's would be. */
        unsigned char raw[16];
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            tt_err("websocket: no random bytes for a Sec-WebSocket-Key");
            abort(); /* as for a frame mask: nothing safe to do without randomness */
        }
        tt_base64_encode(raw, sizeof(raw), q->ws_key, sizeof(q->ws_key), false);
    }
    bool chunked = false;
    if (q->status == 0) {
        size_t before = x->in.len;
        if (tt_h2req_head(q, body_follows, &x->in, &chunked) == 0) {
            s->chunked = chunked;
            x->head_left = x->in.len - before;
            tt_h2req_deinit(q);
            free(q);
            want(s, EV_INPUT);
            return;
        }
    }
    reject(s, q);
    tt_h2req_deinit(q);
    free(q);
}

static ssize_t stream_read(struct tt_conn *conn, char *buf, size_t len)
{
    struct h2s *s = conn->vctx;
    if (!s)
        return TT_EAGAIN;
    struct h2s_x *x = s->x;
    size_t n = 0, credit = 0;
    if (x && x->head_left) {
        size_t k = TT_MIN(len, x->head_left);
        memcpy(buf, x->in.data, k);
        tt_buf_consume(&x->in, k);
        x->head_left -= k;
        n = k;
        /* A WebSocket's first bytes wait here until its session reads them (after the
         * 200), rather than in the client's buffer of pipelined input. */
        if (s->tunnel)
            return (ssize_t)n;
    }
    if (s->tunnel && s->req_end && !in_len(s)) {
        s->eof_given = true;
        return 0; /* the peer's END_STREAM: the WebSocket's TCP FIN */
    }
    if (x && !x->head_left && x->in.len) {
        size_t room = len - n;
        if (s->chunked && room > 32) {
            size_t take = TT_MIN(x->in.len, room - 32);
            int hl = snprintf(buf + n, 24, "%zx\r\n", take);
            memcpy(buf + n + hl, x->in.data, take);
            memcpy(buf + n + hl + take, "\r\n", 2);
            n += (size_t)hl + take + 2;
            credit = take;
        } else if (!s->chunked) {
            credit = TT_MIN(x->in.len, room);
            memcpy(buf + n, x->in.data, credit);
            n += credit;
        }
        tt_buf_consume(&x->in, credit);
    }
    if (s->chunked && s->req_end && !in_len(s) && !s->end_given && len - n >= 5) {
        memcpy(buf + n, "0\r\n\r\n", 5);
        n += 5;
        s->end_given = true;
    }
    if (credit && !s->ng_closed) {
        nghttp2_session_consume_stream(s->h->ng, s->id, credit);
        later(s->h); /* the WINDOW_UPDATE */
    }
    if (x && !x->in.len) {
        tt_buf_deinit(&x->in); /* a held stream keeps no input buffer */
        x_trim(s);
    }
    return n ? (ssize_t)n : TT_EAGAIN;
}

static bool input_pending(const struct h2s *s)
{
    return in_len(s) || (s->chunked && s->req_end && !s->end_given && s->head_ready) ||
           (s->tunnel && s->req_end && !s->eof_given && s->head_ready);
}

/* ---- responses: the client's HTTP/1.1 bytes to HEADERS and DATA --------------------- */

/* Copy up to max bytes from the front of q into out (without consuming them). */
static void peek(struct tt_conn *q, size_t max, struct tt_buf *out)
{
    for (uint32_t i = 0; i < q->out_count && out->len < max; i++) {
        struct tt_slice *sl = tt_conn_out_at(q, i);
        tt_buf_append(out, sl->data, TT_MIN(sl->len, max - out->len));
    }
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user);

/* Submit the response head at the front of the queue. Returns false if it is not all
 * there yet. 1xx heads go out as informational HEADERS and the next head is read. */
static bool submit_head(struct h2s *s)
{
    struct tt_conn *q = outq(s);
    while (q && q->out_count) {
        struct tt_buf raw;
        tt_buf_init(&raw, 0);
        struct tt_h1_response *r = tt_malloc(sizeof(*r));
        struct tt_h1_error err;
        /* The head is normally whole in the first slice: parse it there. */
        struct tt_slice *first = tt_conn_out_at(q, 0);
        int n = tt_h1_parse_response(first->data, first->len, H2_HEAD_MAX, r, &err);
        if (n == TT_EAGAIN && q->out_count > 1) {
            peek(q, H2_HEAD_MAX, &raw);
            n = tt_h1_parse_response(raw.data, raw.len, H2_HEAD_MAX, r, &err);
        }
        if (n == TT_EAGAIN) {
            free(r);
            tt_buf_deinit(&raw);
            return false;
        }
        bool tunnel_ok = s->tunnel && r->status == 101;
        if (n < 0 || (r->status == 101 && !tunnel_ok)) {
            tt_warn("c%llu: HTTP/2 stream %d: unusable response head from the HTTP/1 side",
                    (unsigned long long)s->h->c->id, s->id);
            free(r);
            tt_buf_deinit(&raw);
            reset(s, NGHTTP2_INTERNAL_ERROR);
            return false;
        }
        nghttp2_nv nv[TT_H1_MAX_HEADERS + 1];
        char status[8];
        char *names = tt_malloc((size_t)n); /* lower-case copies: the bytes may be shared */
        /* RFC 8441 5: the WebSocket's 101 is a 200 without Sec-WebSocket-Accept (the
         * HTTP/2 side has no key); Upgrade and Connection are hop-by-hop anyway. */
        snprintf(status, sizeof(status), "%03d",
                 tunnel_ok ? 200 : (r->status % 1000 + 1000) % 1000);
        size_t k = 0, used = 0;
        nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
        for (size_t i = 0; i < r->num_headers; i++) {
            struct tt_h1_header *x = &r->headers[i];
            if (tt_h1_is_hop_by_hop(x->name, x->name_len) ||
                (tunnel_ok && tt_strieq(x->name, x->name_len, "sec-websocket-accept")))
                continue;
            char *name = names + used;
            for (size_t j = 0; j < x->name_len; j++)
                name[j] = (char)(x->name[j] >= 'A' && x->name[j] <= 'Z' ? x->name[j] + 32
                                                                       : x->name[j]);
            used += x->name_len;
            nv[k++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)x->value, x->name_len,
                                   x->value_len, NGHTTP2_NV_FLAG_NONE};
        }
        int status_code = tunnel_ok ? 200 : r->status;
        bool bodyless = s->head_method || status_code == 204 || status_code == 304 ||
                        (!r->framing.chunked && r->framing.content_length == 0);
        int rv = 0;
        if (status_code < 200) {
            rv = nghttp2_submit_headers(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NULL, nv, k, NULL);
        } else {
            if (tunnel_ok) {
                bodyless = false;
                s->rd = RD_TUNNEL; /* the WebSocket's bytes follow the head as they are */
            } else if (bodyless) {
                s->rd = RD_DONE;
            } else if (r->framing.chunked) {
                s->rd = RD_CHUNKED;
                tt_h1_chunked_init(&x_get(s)->body.ch);
            } else if (r->framing.content_length > 0) {
                s->rd = RD_LENGTH;
                x_get(s)->body.left = (uint64_t)r->framing.content_length;
            } else {
                s->rd = RD_CLOSE;
            }
            nghttp2_data_provider prd = {.source.ptr = s, .read_callback = data_read};
            rv = nghttp2_submit_response(s->h->ng, s->id, nv, k, bodyless ? NULL : &prd);
            s->submitted = true;
            s->item = !bodyless;
            s->end_out = bodyless;
        }
        if (rv != 0) {
            tt_debug("c%llu: HTTP/2 stream %d: response head not sent: %s",
                     (unsigned long long)s->h->c->id, s->id, nghttp2_strerror(rv));
            reset(s, NGHTTP2_INTERNAL_ERROR);
        }
        /* nghttp2 copied the fields: the head's bytes may go now. */
        free(names);
        free(r);
        tt_buf_deinit(&raw);
        tt_conn_consume(q, (size_t)n);
        if (status_code < 200)
            continue;
        if (bodyless && q->out_bytes)
            tt_conn_consume(q, q->out_bytes); /* nothing may follow such a head */
        later(s->h);
        return true;
    }
    return false;
}

/* The response is over: the client closed after a close-delimited body or a tunnel. */
static bool close_delimited_end(struct h2s *s)
{
    return (s->rd == RD_CLOSE || s->rd == RD_TUNNEL) && !s->c;
}

/* The stream's data provider: the next DATA payload from its queue, de-framed.
 *
 * When the queue is empty the provider ends (EOF without END_STREAM, which nghttp2 turns
 * into no frame at all) rather than deferring: nghttp2 then frees its data item, so an
 * idle held stream costs it nothing but its stream object. kick() submits a new provider
 * when bytes come. Only a backed-up socket defers (s->blocked; send_frames resumes). */
static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)ng;
    (void)id;
    (void)buf;
    struct h2s *s = src->ptr;
    struct tt_h2 *h = user;
    if (h->c->conn.out_bytes + h->acc.len >= H2_OUT_HIGH) {
        s->blocked = true;
        h->any_blocked = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    struct tt_conn *q = outq(s);
    for (;;) {
        if (s->rd == RD_DONE || (close_delimited_end(s) && (!q || !q->out_count))) {
            s->rd = RD_DONE;
            s->item = false;
            s->end_out = true;
            x_trim(s);
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        if (!q || !q->out_count) {
            s->item = false;
            if (!s->c && !reply_of(s))
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* closed mid-response */
            x_trim(s);
            struct tt_client *c = client_of(s);
            if (c && c->state == TT_C_HOLD && s->req_end) {
                want(s, EV_IDLE);
                later(h);
            }
            *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
            return 0;
        }
        struct tt_slice *sl = tt_conn_out_at(q, 0);
        size_t n = TT_MIN(sl->len, length);
        if (s->rd == RD_LENGTH) {
            uint64_t *left = &s->x->body.left;
            n = (size_t)TT_MIN((uint64_t)n, *left);
            *left -= n;
            if (*left == 0) {
                s->rd = RD_DONE;
                s->item = false;
                s->end_out = true;
                *flags |= NGHTTP2_DATA_FLAG_EOF;
            }
            *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
            return (ssize_t)n;
        }
        if (s->rd == RD_CLOSE || s->rd == RD_TUNNEL) {
            *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
            return (ssize_t)n;
        }
        struct tt_h1_chunked *ch = &x_get(s)->body.ch;
        const char *d;
        size_t dl;
        ssize_t k = tt_h1_chunked_step(ch, sl->data, n, &d, &dl);
        if (k < 0 || (k == 0 && !ch->done)) {
            tt_warn("c%llu: HTTP/2 stream %d: bad chunked framing from the HTTP/1 side",
                    (unsigned long long)h->c->id, s->id);
            s->item = false;
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        if (dl) {
            tt_conn_consume(q, (size_t)(d - sl->data)); /* the framing before the data */
            *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
            return (ssize_t)dl;
        }
        tt_conn_consume(q, (size_t)k);
        if (ch->done) {
            s->rd = RD_DONE;
            if (q->out_bytes)
                tt_conn_consume(q, q->out_bytes);
        }
    }
}

/* Have nghttp2 call data_read again: a new data item when the last one ended (the stream
 * was idle) and there is something to send: bytes, or the end. A blocked item is resumed
 * by send_frames. */
static void kick(struct h2s *s)
{
    if (!s->submitted || s->item || s->end_out || s->ng_closed || s->reset_sent)
        return;
    struct tt_conn *q = outq(s);
    if (!(q && q->out_count) && s->rd != RD_DONE && !close_delimited_end(s) &&
        (s->c || reply_of(s)))
        return;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = data_read};
    int rv = nghttp2_submit_data(s->h->ng, NGHTTP2_FLAG_END_STREAM, s->id, &prd);
    if (rv != 0) {
        tt_debug("c%llu: HTTP/2 stream %d: DATA not submitted: %s",
                 (unsigned long long)s->h->c->id, s->id, nghttp2_strerror(rv));
        reset(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    s->item = true;
    later(s->h);
}

/* Frames (all but DATA payloads) are gathered into h->acc. */
static ssize_t on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)ng;
    (void)flags;
    struct tt_h2 *h = user;
    if (h->acc.len && h->c->conn.out_bytes + h->acc.len >= H2_OUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    tt_buf_append(&h->acc, data, len);
    return (ssize_t)len;
}

static void acc_flush(struct tt_h2 *h)
{
    if (!h->acc.len)
        return;
    size_t len;
    char *b = tt_buf_steal(&h->acc, &len);
    tt_conn_write_owned(&h->c->conn, b, b, len);
}

static int on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *user)
{
    (void)ng;
    struct tt_h2 *h = user;
    struct h2s *s = src->ptr;
    struct tt_conn *q = outq(s);
    size_t pad = frame->data.padlen;
    tt_buf_append(&h->acc, framehd, 9);
    if (pad) {
        uint8_t p = (uint8_t)(pad - 1);
        tt_buf_append(&h->acc, &p, 1);
    }
    bool by_ref = !h->c->conn.ssl;
    while (length && q && q->out_count) {
        struct tt_slice *sl = tt_conn_out_at(q, 0);
        size_t n = TT_MIN(sl->len, length);
        if (by_ref && sl->shared && n >= H2_REF_MIN) {
            acc_flush(h);
            tt_conn_write_shared(&h->c->conn, sl->shared, sl->data, n);
        } else {
            tt_buf_append(&h->acc, sl->data, n);
        }
        tt_conn_consume(q, n);
        length -= n;
    }
    if (length)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* reserved bytes vanished: a bug */
    if (pad > 1) {
        static const char zeros[256];
        tt_buf_append(&h->acc, zeros, pad - 1);
    }
    if (client_of(s))
        want(s, EV_WRITABLE);
    return 0;
}

/* ---- nghttp2 callbacks (receive side) ----------------------------------------------- */

static struct h2s *stream_of(struct tt_h2 *h, int32_t id)
{
    return id ? nghttp2_session_get_stream_user_data(h->ng, id) : NULL;
}

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *user)
{
    (void)ng;
    struct tt_h2 *h = user;
    if (h->tripped)
        return 0;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        h->block_frames = 0;
        h->block_bytes = hd->length;
        if (hd->stream_id > h->last_stream) {
            h->last_stream = hd->stream_id;
            /* nghttp2 refuses such a stream (or fails the connection once our SETTINGS
             * are acknowledged); a client that keeps trying is cut. */
            if (h->open >= (uint32_t)h->c->w->srv->cfg.http2_max_streams &&
                !bucket_take(h, L_STREAMS))
                trip(h, L_STREAMS);
        }
        break;
    case NGHTTP2_CONTINUATION:
        h->block_bytes += hd->length;
        if (++h->block_frames > H2_MAX_CONTINUATIONS ||
            h->block_bytes > 2 * h->c->w->srv->cfg.client_buffer_size + 16384)
            trip(h, L_CONTINUATION);
        break;
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) && !bucket_take(h, L_EMPTY))
            trip(h, L_EMPTY);
        break;
    case NGHTTP2_SETTINGS:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && !bucket_take(h, L_SETTINGS))
            trip(h, L_SETTINGS);
        break;
    case NGHTTP2_PING:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && !bucket_take(h, L_PING))
            trip(h, L_PING);
        break;
    case NGHTTP2_RST_STREAM:
        if (!bucket_take(h, L_RESET))
            trip(h, L_RESET);
        break;
    case NGHTTP2_WINDOW_UPDATE:
    case NGHTTP2_GOAWAY:
        break;
    default: /* PRIORITY, PUSH_PROMISE (an error anyway), extensions */
        if (!bucket_take(h, L_OTHER))
            trip(h, L_OTHER);
        break;
    }
    return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct tt_h2 *h = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
        h->tripped)
        return 0;
    struct h2s *s = tt_calloc(1, sizeof(*s));
    s->h = h;
    s->id = frame->hd.stream_id;
    tt_list_insert_tail(&h->streams, &s->link);
    struct tt_h2req *q = tt_malloc(sizeof(*q));
    tt_h2req_init(q, h->c->w->srv->cfg.client_buffer_size);
    x_get(s)->req = q;
    nghttp2_session_set_stream_user_data(ng, s->id, s);
    h->open++;
    h->c->w->stats.h2_streams++;
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)ng;
    (void)flags;
    struct tt_h2 *h = user;
    struct h2s *s = stream_of(h, frame->hd.stream_id);
    struct tt_h2req *q = s ? req_of(s) : NULL;
    if (!q || s->head_ready || h->tripped)
        return 0; /* trailers, or a stream we gave up on */
    tt_h2req_field(q, (const char *)name, namelen, (const char *)value, valuelen);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    (void)ng;
    struct tt_h2 *h = user;
    struct h2s *s = stream_of(h, frame->hd.stream_id);
    if (!s || h->tripped)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        want(s, EV_NEW);
        struct tt_h2req *q = req_of(s);
        if (q && tt_h2req_check(q) != 0)
            head_ready(s, false); /* answered at once, whatever the body */
        else if (end || (q && (q->content_length >= 0 || q->websocket)))
            head_ready(s, !end); /* a WebSocket's head goes at once: its DATA are its bytes */
    }
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end) {
        s->req_end = true;
        head_ready(s, false);
        want(s, EV_INPUT);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    (void)flags;
    struct tt_h2 *h = user;
    struct h2s *s = stream_of(h, id);
    /* The connection window is credited at once: a stream's own window bounds what waits
     * for its client, so a slow one never stalls the others. */
    nghttp2_session_consume_connection(ng, len);
    if (!s || h->tripped || (s->head_ready && (reply_of(s) || (!s->c && !(s->ev & EV_NEW))))) {
        nghttp2_session_consume_stream(ng, id, len); /* nobody will read it */
        return 0;
    }
    if (!s->head_ready)
        head_ready(s, true);
    if (in_len(s) + len > H2_INPUT_MAX) {
        reset(s, NGHTTP2_FLOW_CONTROL_ERROR);
        return 0;
    }
    tt_buf_append(&x_get(s)->in, data, len);
    want(s, EV_INPUT);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    (void)code;
    struct tt_h2 *h = user;
    struct h2s *s = stream_of(h, id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    s->ng_closed = true;
    h->open--;
    want(s, EV_CLOSED); /* freed, or its client told, by h2_run */
    later(h);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct tt_h2 *h = user;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS))
        return 0;
    struct h2s *s = stream_of(h, frame->hd.stream_id);
    /* The response is complete but the request is not: RFC 9113 8.1 lets the server ask
     * the client to stop sending, without error. */
    if (s && !s->req_end && !s->c)
        reset(s, NGHTTP2_NO_ERROR);
    (void)ng;
    return 0;
}

static int on_error(nghttp2_session *ng, int code, const char *msg, size_t len, void *user)
{
    (void)ng;
    struct tt_h2 *h = user;
    char esc[200];
    tt_debug("c%llu %s: HTTP/2: %s (%d)", (unsigned long long)h->c->id, h->c->peer,
             tt_log_escape(msg, len, esc, sizeof(esc)), code);
    return 0;
}

/* New bytes in the stream's queue: the head, or more of the body. */
static void output(struct h2s *s)
{
    if (!s->submitted)
        submit_head(s);
    else
        kick(s);
}

static void send_frames(struct tt_h2 *h);

/* ---- the stream clients' virtual connections ---------------------------------------- */

/* Output was queued on q, the stream's queue. */
static void queue_flush(struct h2s *s, const struct tt_conn *q)
{
    want(s, EV_OUTPUT);
    struct tt_h2 *h = s->h;
    later(h);
    /* A burst (many published messages to one stream) goes out before the fan-out judges
     * the stream's backlog; other streams join at the end of the loop iteration. */
    if ((q->out_count >= 32 || q->out_bytes >= 65536) && !h->in_run && !h->in_send &&
        !h->dead) {
        /* Frames only: no other client is called from here (this may be the fan-out's
         * delivery loop). */
        s->ev &= (uint8_t)~EV_OUTPUT;
        output(s);
        send_frames(h);
    }
}

static int stream_flush(struct tt_conn *conn)
{
    struct h2s *s = conn->vctx;
    if (!s)
        return 0;
    queue_flush(s, conn);
    return conn->out_count ? TT_EAGAIN : 0;
}

static void stream_set_read(struct tt_conn *conn, bool on)
{
    struct h2s *s = conn->vctx;
    if (s && on && input_pending(s)) {
        want(s, EV_INPUT);
        later(s->h);
    }
}

/* A WebSocket stream's client closed. After a closing handshake (or the peer's own
 * END_STREAM) what is still queued (a close frame) is sent, then END_STREAM; any other end
 * is the TCP connection dropped: RST_STREAM CANCEL. */
static void tunnel_end(struct h2s *s, struct tt_conn *conn, bool clean)
{
    struct tt_h2 *h = s->h;
    if (!clean && !s->req_end) {
        reset(s, NGHTTP2_CANCEL);
        return;
    }
    if (conn->out_count) {
        struct tt_conn *q = tt_calloc(1, sizeof(*q));
        tt_conn_move_output(q, conn);
        x_get(s)->reply = q;
    }
    kick(s);
    later(h);
}

static void stream_close(struct tt_conn *conn)
{
    struct h2s *s = conn->vctx;
    conn->vctx = NULL;
    if (!s)
        return;
    struct tt_h2 *h = s->h;
    bool clean_end = s->c && s->c->clean_end;
    /* A WebSocket that ends in the loop iteration of its 101 (a protocol error in the
     * client's first frames): its 200 and our close frame still go out. */
    if (s->tunnel && !s->submitted && !s->ng_closed && conn->out_count)
        submit_head(s);
    s->c = NULL;
    if (s->ng_closed) {
        want(s, EV_CLOSED); /* freed by h2_run, never under a caller's feet */
        later(h);
        return;
    }
    if (s->rd == RD_TUNNEL) {
        tunnel_end(s, conn, clean_end);
        return;
    }
    bool complete = s->rd == RD_DONE && !conn->out_count;
    if (s->rd == RD_CLOSE && s->submitted && !conn->out_count) {
        s->rd = RD_DONE; /* close-delimited: the close is the end */
        complete = true;
    }
    if (!complete) {
        reset(s, NGHTTP2_INTERNAL_ERROR);
    } else if (!s->req_end) {
        reset(s, NGHTTP2_NO_ERROR); /* answered: the rest of the request is not needed */
    }
    kick(s); /* END_STREAM, if the provider had ended while the stream idled */
    later(h);
}

static const struct tt_conn_vops stream_vops = {
    .flush = stream_flush,
    .set_read = stream_set_read,
    .close = stream_close,
    .read = stream_read,
};

/* ---- compact held streams ------------------------------------------------------------ */

/* An idle held stream (a stream hold, its head out and its request read to the end, its
 * queue empty) does not need its client: tt_client_compact replaces it by a record
 * (proxy/held.h) whose sink ops below write straight into the stream. Its queue is
 * x->reply, made while bytes wait and freed when they have left (x_trim), so an idle one
 * costs the record, its hold and subscriptions, and struct h2s. */

static struct tt_held *held_of(const struct tt_sink *k)
{
    return TT_CONTAINER_OF(k, struct tt_held, sink);
}

static struct h2s *held_stream(const struct tt_sink *k)
{
    return held_of(k)->vctx;
}

static void held_write(struct tt_sink *k, struct tt_msg *msg, const char *data, size_t len)
{
    struct h2s *s = held_stream(k);
    struct h2s_x *x = x_get(s);
    if (!x->reply)
        x->reply = tt_calloc(1, sizeof(*x->reply));
    held_of(k)->bytes_out += len;
    if (msg)
        tt_conn_write_shared(x->reply, &msg->shared, data, len);
    else
        tt_conn_write(x->reply, data, len);
}

static bool held_chunked(const struct tt_sink *k)
{
    (void)k;
    return true; /* only chunked responses are made compact: the de-chunker reads them */
}

static void held_flush_later(struct tt_sink *k)
{
    struct h2s *s = held_stream(k);
    want(s, EV_OUTPUT);
    later(s->h);
}

static bool held_flush(struct tt_sink *k)
{
    struct h2s *s = held_stream(k);
    struct tt_conn *q = reply_of(s);
    if (q && q->out_count)
        queue_flush(s, q);
    return true;
}

static void held_backlog(const struct tt_sink *k, size_t *items, size_t *bytes)
{
    const struct tt_conn *q = reply_of(held_stream(k));
    *items = q ? q->out_count : 0;
    *bytes = q ? q->out_bytes : 0;
}

/* The hold ended the stream (a close published, the worker stopping): the terminal
 * chunk goes after what is queued, then END_STREAM; or a reset. The stream keeps its
 * queue as a direct answer's, and the record goes. */
static void held_end(struct tt_sink *k, bool clean)
{
    struct tt_held *r = held_of(k);
    struct h2s *s = r->vctx;
    if (clean)
        held_write(k, NULL, "0\r\n\r\n", 5);
    s->k = NULL;
    s->held = false;
    if (clean)
        kick(s);
    else
        reset(s, NGHTTP2_INTERNAL_ERROR);
    later(s->h);
    tt_held_free(r, s->h->c->w);
}

static const struct tt_sink_ops held_ops = {
    .write = held_write,
    .chunked = held_chunked,
    .flush_later = held_flush_later,
    .flush = held_flush,
    .flush_pending = held_flush,
    .backlog = held_backlog,
    .end = held_end,
};

/* The stream went (reset by the peer, or the connection is closing): so does its record,
 * and with it the hold. */
static void held_gone(struct h2s *s)
{
    struct tt_held *k = s->k;
    s->k = NULL;
    s->held = false;
    tt_held_free(k, s->h->c->w);
}

static void compact(struct h2s *s)
{
    struct tt_client *c = client_of(s);
    struct tt_h2 *h = s->h;
    if (!c || s->tunnel || s->rd != RD_CHUNKED || s->x || !s->req_end || s->ng_closed ||
        s->reset_sent || s->end_out || h->shutting_down || h->closing)
        return;
    unsigned long long id = c->id;
    struct tt_held *k = tt_client_compact(c, &held_ops, s, h->c->peer);
    if (!k)
        return;
    s->k = k;
    s->held = true;
    tt_debug("c%llu: HTTP/2 stream %d of c%llu held in compact form", id, s->id,
             (unsigned long long)h->c->id);
}

/* ---- the connection ----------------------------------------------------------------- */

static void close_conn(struct tt_h2 *h)
{
    tt_client_close(h->c); /* frees h through session_free */
}

/* Make a new stream's client (after the read that opened it, so that a stream reset in
 * the same read costs nothing beyond its HEADERS). */
static void dispatch(struct h2s *s)
{
    struct tt_h2 *h = s->h;
    if (s->ng_closed || reply_of(s) || s->c)
        return;
    if (h->shutting_down || h->closing) {
        reset(s, NGHTTP2_REFUSED_STREAM);
        return;
    }
    struct tt_client *c = tt_client_new_stream(h->c, &stream_vops, s);
    if (!c) {
        reset(s, NGHTTP2_REFUSED_STREAM);
        return;
    }
    s->c = c;
    tt_debug("c%llu: HTTP/2 stream %d of c%llu", (unsigned long long)c->id, s->id,
             (unsigned long long)h->c->id);
    if (s->head_ready)
        want(s, EV_INPUT);
}

/* Whether ev was pending on s (and clear it). */
static bool took(struct h2s *s, uint8_t ev)
{
    if (!(s->ev & ev))
        return false;
    s->ev &= (uint8_t)~ev;
    return true;
}

static void work_one(struct h2s *s)
{
    if (took(s, EV_NEW))
        dispatch(s);
    if (took(s, EV_CLOSED)) {
        if (s->held)
            held_gone(s); /* reset by the client, or the connection failed it */
        if (!s->c) {
            if (s->on_work)
                s->ev |= EV_CLOSED; /* queued again meanwhile: freed when it comes up */
            else
                stream_free(s);
            return;
        }
        if (s->rd != RD_DONE) {
            /* Reset by the client, or the connection failed it: the request dies (s is
             * freed in a later round). */
            tt_client_close(s->c);
            return;
        }
        s->ev |= EV_WRITABLE; /* done: let the client finish and close */
    }
    if (took(s, EV_INPUT) && client_of(s) && s->c->conn.want_read && input_pending(s))
        s->c->conn.on_io(&s->c->conn, 0, UV_READABLE);
    if (took(s, EV_OUTPUT))
        output(s);
    if (took(s, EV_WRITABLE) && client_of(s))
        s->c->conn.on_io(&s->c->conn, 0, UV_WRITABLE);
    if (took(s, EV_IDLE))
        compact(s);
}

/* Take the work list, so that work added meanwhile waits for the next round. A stream
 * stays on_work until its turn, so it is never queued twice. */
static struct h2s *take_work(struct tt_h2 *h)
{
    struct h2s *todo = h->work_head;
    h->work_head = h->work_tail = NULL;
    return todo;
}

/* Frames out: nghttp2 pulls the streams' bytes, everything goes into one write. */
static void send_frames(struct tt_h2 *h)
{
    struct tt_conn *conn = &h->c->conn;
    /* Until the socket is full or nothing is left: frames held back at the output cap
     * go on once what was queued before them has been written. */
    for (int i = 0; i < 16 && !h->dead; i++) {
        if (h->any_blocked && conn->out_bytes < H2_OUT_HIGH / 2) {
            h->any_blocked = false;
            struct tt_list *p;
            for (p = h->streams.next; p != &h->streams; p = p->next) {
                struct h2s *s = TT_CONTAINER_OF(p, struct h2s, link);
                if (s->blocked) {
                    s->blocked = false;
                    nghttp2_session_resume_data(h->ng, s->id);
                }
            }
        }
        h->in_send = true;
        int r = nghttp2_session_send(h->ng);
        h->in_send = false;
        acc_flush(h);
        if (r != 0) {
            if (r == NGHTTP2_ERR_FLOODED)
                trip(h, L_FLOOD);
            tt_debug("c%llu: HTTP/2 send: %s", (unsigned long long)h->c->id, nghttp2_strerror(r));
            h->dead = true;
        }
        int f = tt_conn_flush(conn);
        if (f < 0 && f != TT_EAGAIN) {
            tt_debug("c%llu: write failed: %s", (unsigned long long)h->c->id, tt_strerror(f));
            h->dead = true;
        }
        if (f == TT_EAGAIN || conn->out_count ||
            (!nghttp2_session_want_write(h->ng) && !h->any_blocked))
            break;
    }
}

static void on_timer(struct tt_wtimer *t)
{
    struct tt_client *c = tt_client_of_timer(t);
    if (c->state != TT_C_H2)
        return;
    struct tt_h2 *h = TT_CONTAINER_OF(c->sink.session, struct tt_h2, session);
    if (h->timer == T_LINGER) {
        /* Its GOAWAY could not be written in client_head_timeout: the peer does not
         * read. */
        tt_debug("c%llu: HTTP/2 connection closing: peer not reading", (unsigned long long)c->id);
        close_conn(h);
        return;
    }
    h->timer = T_NONE;
    tt_debug("c%llu: HTTP/2 connection idle, closing", (unsigned long long)c->id);
    nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
    h->closing = true;
    h2_run(h);
}

/* The connection's timer (the client's): idle (no stream) for client_head_timeout, then
 * GOAWAY; closing, GOAWAY written or not within client_head_timeout. */
static void set_timer(struct tt_h2 *h)
{
    struct tt_client *c = h->c;
    enum h2_timer want = T_NONE;
    if (h->closing)
        want = T_LINGER;
    else if (h->open == 0 && tt_list_empty(&h->streams))
        want = T_IDLE;
    if (want == h->timer)
        return;
    h->timer = want;
    if (want == T_NONE)
        tt_client_timer_stop(c);
    else
        tt_client_timer_start(c, on_timer, (uint64_t)c->w->srv->cfg.head_timeout_ms);
}

static void h2_run(struct tt_h2 *h)
{
    if (h->in_run)
        return;
    h->in_run = true;
    struct tt_client *c = h->c;
    for (int round = 0; round < H2_RUN_ROUNDS && c->state == TT_C_H2; round++) {
        struct h2s *todo = take_work(h);
        if (todo) {
            while (todo && c->state == TT_C_H2) {
                struct h2s *s = todo;
                todo = s->work_next;
                s->work_next = NULL;
                s->on_work = false;
                work_one(s);
            }
            if (c->state != TT_C_H2)
                break;
        }
        send_frames(h);
        if (h->dead || !h->work_head)
            break;
    }
    h->in_run = false;
    if (c->state != TT_C_H2)
        return;
    if (h->work_head)
        later(h);
    bool over = !nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng);
    if (h->dead || ((over || h->closing) && c->conn.out_count == 0 && !nghttp2_session_want_write(h->ng))) {
        close_conn(h);
        return;
    }
    /* A peer that does not read what we write is not read either. */
    bool backed_up = c->conn.out_bytes > H2_OUT_HIGH || h->closing;
    if (backed_up != h->read_paused) {
        h->read_paused = backed_up;
        tt_conn_set_read(&c->conn, !backed_up);
    }
    set_timer(h);
}

/* Read what the socket has (TLS may hold more than the socket shows) and feed it. */
static void h2_read(struct tt_h2 *h)
{
    struct tt_client *c = h->c;
    struct tt_worker *w = c->w;
    for (int rounds = 0; rounds < 8 && !h->read_paused && !h->dead; rounds++) {
        ssize_t n = tt_conn_read(&c->conn, w->scratch, w->scratch_size);
        if (n == TT_EAGAIN)
            return;
        if (n <= 0) {
            h->dead = true; /* the client went away: every stream dies with it */
            return;
        }
        ssize_t r = nghttp2_session_mem_recv(h->ng, (const uint8_t *)w->scratch, (size_t)n);
        if (r < 0) {
            if (r == NGHTTP2_ERR_FLOODED)
                trip(h, L_FLOOD);
            tt_debug("c%llu %s: HTTP/2: %s", (unsigned long long)c->id, c->peer,
                     nghttp2_strerror((int)r));
            if (r == NGHTTP2_ERR_BAD_CLIENT_MAGIC || !h->tripped)
                h->dead = true;
            return;
        }
        if (h->tripped)
            return;
        if ((size_t)n < w->scratch_size && !c->conn.ssl)
            return;
    }
}

static void session_io(struct tt_client_session *sess, int events)
{
    struct tt_h2 *h = TT_CONTAINER_OF(sess, struct tt_h2, session);
    if ((events & UV_READABLE) && !h->closing)
        h2_read(h);
    h2_run(h);
}

static bool session_flush(struct tt_client_session *sess)
{
    struct tt_h2 *h = TT_CONTAINER_OF(sess, struct tt_h2, session);
    struct tt_client *c = h->c;
    h2_run(h);
    return c->state != TT_C_CLOSING;
}

/* Worker stop: no new streams (GOAWAY with the last stream taken); the streams' own
 * clients end their requests and holds (tt_client_shutdown of each). */
static void session_shutdown(struct tt_client_session *sess)
{
    struct tt_h2 *h = TT_CONTAINER_OF(sess, struct tt_h2, session);
    if (h->shutting_down)
        return;
    h->shutting_down = true;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    /* Compact held streams are in no worker list: their holds end here (a stream whose
     * hold ends leaves the list only in a later h2_run). */
    struct tt_list *p;
    for (p = h->streams.next; p != &h->streams; p = p->next) {
        struct h2s *s = TT_CONTAINER_OF(p, struct h2s, link);
        if (s->held)
            tt_held_shutdown(s->k);
    }
    later(h);
}

static void session_free(struct tt_client_session *sess)
{
    struct tt_h2 *h = TT_CONTAINER_OF(sess, struct tt_h2, session);
    h->freeing = true;
    while (!tt_list_empty(&h->streams)) {
        struct h2s *s = TT_CONTAINER_OF(h->streams.next, struct h2s, link);
        s->ng_closed = true; /* the session goes: nothing more to say on the stream */
        if (s->held)
            held_gone(s);
        if (s->c)
            tt_client_close(s->c); /* frees s through stream_close */
        else
            stream_free(s);
    }
    nghttp2_session_del(h->ng);
    h->ng = NULL;
    tt_buf_deinit(&h->acc);
    free(h);
}

static const struct tt_client_session_ops session_ops = {
    .free = session_free,
    .shutdown = session_shutdown,
    .io = session_io,
    .flush = session_flush,
};

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static uv_once_t setup_once = UV_ONCE_INIT;

static void setup(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    callbacks = cb;
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* Backstops behind our own limits (on_begin_frame), which trip first and say why. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 2 * limits[L_RESET].burst,
                                               2 * limits[L_RESET].per_s);
    nghttp2_option_set_max_continuations(opt, 2 * H2_MAX_CONTINUATIONS);
    nghttp2_option_set_max_outbound_ack(opt, 100);
    options = opt;
}

void tt_h2_start(struct tt_client *c, const char *data, size_t len)
{
    uv_once(&setup_once, setup);
    struct tt_h2 *h = tt_calloc(1, sizeof(*h));
    h->c = c;
    h->session.ops = &session_ops;
    tt_list_init(&h->streams);
    tt_buf_init(&h->acc, 0);
    uint64_t now = uv_now(&c->w->loop);
    for (int k = 0; k < L_BUCKETS; k++) {
        h->buckets[k].milli = (uint64_t)limits[k].burst * 1000;
        h->buckets[k].last_ms = now;
    }
    if (nghttp2_session_server_new2(&h->ng, callbacks, h, options) != 0) {
        free(h);
        tt_client_close(c);
        return;
    }
    c->sink.session = &h->session;
    c->state = TT_C_H2;
    c->w->stats.h2_conns++;
    tt_debug("c%llu %s: HTTP/2 connection (%s)", (unsigned long long)c->id, c->peer,
             c->conn.ssl ? "TLS, ALPN h2" : "prior knowledge");
    const struct tt_config *cfg = &c->w->srv->cfg;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)TT_MAX(cfg->http2_max_streams, 1)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)TT_MIN(cfg->client_buffer_size, UINT32_MAX)},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
        /* RFC 8441: WebSockets as extended CONNECT streams. */
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, TT_ARRAY_LEN(iv));
    if (len) {
        ssize_t r = nghttp2_session_mem_recv(h->ng, (const uint8_t *)data, len);
        if (r < 0)
            h->dead = true;
    }
    if (!h->dead)
        h2_read(h);
    h2_run(h);
}

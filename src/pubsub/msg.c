/* msg.c: see msg.h. */
#include "pubsub/msg.h"

#include <stdlib.h>

#include "ws/frame.h"

static void msg_release(struct tt_shared *s)
{
    struct tt_msg *m = TT_CONTAINER_OF(s, struct tt_msg, shared);
    tt_pub_item_deinit(&m->item);
    free(m->ws_frame); /* the stream chunk lives in the same block as m */
    free(m);
}

/* The frame of a ws-message, rendered once for every WebSocket subscriber. */
static void render_ws(struct tt_msg *m)
{
    const struct tt_pub_item *it = &m->item;
    if (it->ws_message.action == TT_ACT_CLOSE) {
        uint8_t payload[TT_WS_MAX_CONTROL];
        size_t n = 0;
        if (it->ws_message.code >= 0 && tt_ws_close_code_valid((unsigned)it->ws_message.code)) {
            const char *r = it->ws_message.reason ? it->ws_message.reason : "";
            size_t rl = strlen(r);
            if (!tt_ws_utf8_valid(r, rl))
                rl = 0; /* a close reason must be UTF-8, or the client fails the connection */
            n = tt_ws_close_payload(payload, it->ws_message.code, r, rl);
        }
        m->ws_frame = tt_ws_frame_render_alloc(TT_WS_OP_CLOSE, false, payload, n, &m->ws_frame_len);
        return;
    }
    if (it->ws_message.action != TT_ACT_SEND)
        return;
    static const unsigned ops[] = {[TT_WS_TEXT] = TT_WS_OP_TEXT, [TT_WS_BINARY] = TT_WS_OP_BINARY,
                                   [TT_WS_PING] = TT_WS_OP_PING, [TT_WS_PONG] = TT_WS_OP_PONG};
    unsigned op = ops[it->ws_message.type];
    size_t len = it->ws_message.content ? it->ws_message.content_len : 0;
    if ((op == TT_WS_OP_PING || op == TT_WS_OP_PONG) && len > TT_WS_MAX_CONTROL)
        len = TT_WS_MAX_CONTROL; /* a control frame cannot carry more */
    m->ws_frame = tt_ws_frame_render_alloc(op, false, it->ws_message.content, len, &m->ws_frame_len);
}

/* "<hex>\r\n" for n into out (at least 19 bytes); returns its length. */
static size_t chunk_head(size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    char rev[16];
    size_t k = 0;
    do {
        rev[k++] = digits[n & 15];
        n >>= 4;
    } while (n);
    for (size_t i = 0; i < k; i++)
        out[i] = rev[k - 1 - i];
    out[k] = '\r';
    out[k + 1] = '\n';
    return k + 2;
}

struct tt_msg *tt_msg_new(struct tt_pub_item *item)
{
    /* One block for the message and its stream chunk: this runs once per published item,
     * and the last reference may be dropped on another thread. */
    bool stream = item->has_http_stream && item->http_stream.action == TT_ACT_SEND;
    size_t n = stream ? item->http_stream.content_len : 0;
    char head[20];
    size_t hl = stream ? chunk_head(n, head) : 0;
    size_t extra = stream ? hl + n + 2 : 0;
    struct tt_msg *m = tt_malloc(sizeof(*m) + extra);
    memset(m, 0, sizeof(*m));
    tt_shared_init(&m->shared, msg_release);
    m->item = *item;
    memset(item, 0, sizeof(*item));
    m->created_ms = tt_now_ms();
    if (stream) {
        m->stream_chunk = m->bytes;
        m->stream_chunk_len = extra;
        memcpy(m->stream_chunk, head, hl);
        if (n)
            memcpy(m->stream_chunk + hl, m->item.http_stream.content, n);
        memcpy(m->stream_chunk + hl + n, "\r\n", 2);
        m->stream_raw_off = hl;
    }
    if (m->item.has_ws_message)
        render_ws(m);
    return m;
}

struct tt_msg *tt_msg_ref(struct tt_msg *m)
{
    tt_shared_ref(&m->shared);
    return m;
}

void tt_msg_unref(struct tt_msg *m)
{
    if (m)
        tt_shared_unref(&m->shared);
}

const char *tt_msg_meta(const struct tt_msg *m, const char *name)
{
    for (size_t i = 0; i < m->item.num_meta; i++)
        if (strcmp(m->item.meta[i].name, name) == 0)
            return m->item.meta[i].value;
    return NULL;
}

void tt_msg_batch_add(struct tt_msg_batch **b, struct tt_msg *m)
{
    struct tt_msg_batch *x = *b;
    if (!x || x->n == x->cap) {
        size_t cap = x ? x->cap * 2 : 16;
        x = tt_realloc(x, sizeof(*x) + cap * sizeof(x->msgs[0]));
        if (!*b)
            x->n = 0;
        x->cap = cap;
        *b = x;
    }
    x->msgs[x->n++] = tt_msg_ref(m);
}

void tt_msg_batch_reserve(struct tt_msg_batch **b, size_t more)
{
    struct tt_msg_batch *x = *b;
    size_t have = x ? x->n : 0;
    if (x && x->cap >= have + more)
        return;
    size_t cap = have + more < 16 ? 16 : have + more;
    x = tt_realloc(x, sizeof(*x) + cap * sizeof(x->msgs[0]));
    if (!*b)
        x->n = 0;
    x->cap = cap;
    *b = x;
}

void tt_msg_batch_free(struct tt_msg_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        tt_msg_unref(b->msgs[i]);
    free(b);
}

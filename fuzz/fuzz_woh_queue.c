/* fuzz_woh_queue.c: the WebSocket-over-HTTP request queue and meta store (ws/overhttp.h)
 * driven by a script of operations (push, build, ack with any Content-Bytes-Accepted,
 * replay, meta set, clear). After every step the accounting must match the messages
 * actually queued, a built body must parse as events (as many as reported) within the
 * content cap, and the meta lines must stay well-formed and within their caps. */
#include "fuzz.h"
#include "ws/events.h"
#include "ws/frame.h"
#include "ws/overhttp.h"

#include <string.h>

struct script {
    const uint8_t *p;
    size_t n;
};

static unsigned take(struct script *s, unsigned bytes)
{
    unsigned v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | (s->n ? *s->p : 0);
        if (s->n) {
            s->p++;
            s->n--;
        }
    }
    return v;
}

static void check_queue(const struct tt_woh_out *q)
{
    size_t count = 0, content = 0;
    const struct tt_woh_msg *last = NULL;
    for (const struct tt_woh_msg *m = q->head; m; m = m->next) {
        ENSURE(m->off <= m->len);
        count++;
        content += m->len - m->off;
        last = m;
    }
    ENSURE(last == q->tail);
    ENSURE(count == q->count && content == q->content);
    ENSURE(q->replay_msgs <= q->count && q->replay_content <= q->content);
}

static void check_meta(const struct tt_buf *m)
{
    ENSURE(m->len <= TT_WOH_META_MAX_BYTES);
    size_t pos = 0, items = 0;
    while (pos < m->len) {
        const char *line = m->data + pos;
        const char *nl = memchr(line, '\n', m->len - pos);
        ENSURE(nl && nl > line && nl[-1] == '\r');
        ENSURE((size_t)(nl - line) > 7 && memcmp(line, "Meta-", 5) == 0);
        ENSURE(memchr(line, ':', (size_t)(nl - line)) != NULL);
        pos += (size_t)(nl - line) + 1;
        items++;
    }
    ENSURE(items <= TT_WOH_META_MAX_ITEMS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t payload[TT_WOH_MAX_CONTENT];
    static const unsigned ops[] = {TT_WS_OP_TEXT, TT_WS_OP_BINARY, TT_WS_OP_PING, TT_WS_OP_PONG};
    struct script s = {data, size};
    struct tt_woh_out q;
    struct tt_buf meta, body;
    tt_woh_out_init(&q);
    tt_buf_init(&meta, 0);
    tt_buf_init(&body, 0);
    bool built = false;
    for (int step = 0; step < 200 && s.n; step++) {
        switch (take(&s, 1) % 6) {
        case 0: { /* push: small lengths mostly, the cap sometimes */
            unsigned len = take(&s, 1);
            if (len == 255)
                len = TT_WOH_MAX_CONTENT - take(&s, 1);
            else if (len > 200)
                len = (len - 200) * 4000;
            tt_woh_out_push(&q, ops[take(&s, 1) % 4], payload, TT_MIN(len, TT_WOH_MAX_CONTENT));
            break;
        }
        case 1: { /* build */
            unsigned flags = take(&s, 1);
            struct tt_woh_close c = {(flags & 2) ? 1000 + (int)(flags >> 2) : -1,
                                     (const uint8_t *)"why", (flags & 4) ? 3 : 0};
            tt_buf_reset(&body);
            size_t max_events = (flags & 8) ? 1 : 0;
            size_t n = tt_woh_out_build(&q, max_events, (flags & 1) ? &c : NULL, &body);
            ENSURE(tt_ws_events_count(body.data ? body.data : "", body.len, 1000000) == (int)n);
            ENSURE(!max_events || n <= 1);
            ENSURE(q.req_msgs <= 1 || q.req_content <= TT_WOH_MAX_CONTENT);
            ENSURE(q.req_msgs <= q.count);
            built = true;
            break;
        }
        case 2: { /* ack */
            if (!built)
                break;
            unsigned v = take(&s, 3);
            int64_t accepted = (v & 1) ? -1 : (int64_t)(v >> 1);
            size_t before = q.content, offered = q.req_content + q.req_close_len;
            size_t req = q.req_content;
            bool closed;
            const char *why = NULL;
            int r = tt_woh_out_ack(&q, accepted, &closed, &why);
            if (r == 0 && !closed) {
                size_t acc = accepted < 0 ? offered : (size_t)accepted;
                ENSURE(before - q.content == TT_MIN(acc, req));
            }
            if (r == 0 && closed)
                ENSURE(q.count == 0 && q.content == 0);
            ENSURE(r == 0 || (r == TT_EPARSE && why));
            if (accepted >= 0 && (size_t)accepted > offered)
                ENSURE(r == TT_EPARSE);
            built = false;
            break;
        }
        case 3:
            tt_woh_out_replayed(&q);
            break;
        case 4: { /* meta */
            unsigned nl = take(&s, 1) % 12, vl = take(&s, 1) % 64;
            nl = (unsigned)TT_MIN(nl, s.n);
            const char *name = (const char *)s.p;
            s.p += nl;
            s.n -= nl;
            vl = (unsigned)TT_MIN(vl, s.n);
            const char *value = (const char *)s.p;
            s.p += vl;
            s.n -= vl;
            int r = tt_woh_meta_set(&meta, name, nl, value, vl);
            ENSURE(r == 0 || r == TT_EPARSE || r == TT_ETOOBIG);
            break;
        }
        case 5:
            tt_woh_out_clear(&q);
            built = false;
            break;
        }
        check_queue(&q);
        check_meta(&meta);
    }
    tt_woh_out_clear(&q);
    tt_buf_deinit(&meta);
    tt_buf_deinit(&body);
    return 0;
}

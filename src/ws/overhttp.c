/* overhttp.c: WebSocket-over-HTTP client logic without I/O; see overhttp.h. */
#include "ws/overhttp.h"

#include <stdlib.h>

#include "http/h1.h"
#include "ws/events.h"
#include "ws/frame.h"

void tt_woh_out_init(struct tt_woh_out *q)
{
    memset(q, 0, sizeof(*q));
}

void tt_woh_out_clear(struct tt_woh_out *q)
{
    struct tt_woh_msg *m = q->head;
    while (m) {
        struct tt_woh_msg *next = m->next;
        free(m);
        m = next;
    }
    tt_woh_out_init(q);
}

void tt_woh_out_push(struct tt_woh_out *q, unsigned opcode, const void *data, size_t len)
{
    struct tt_woh_msg *m = tt_malloc(sizeof(*m) + len);
    m->next = NULL;
    m->len = len;
    m->off = 0;
    m->opcode = (uint8_t)opcode;
    if (len)
        memcpy(m->data, data, len);
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->count++;
    q->content += len;
}

bool tt_woh_out_has_new(const struct tt_woh_out *q)
{
    return q->count > q->replay_msgs || q->content > q->replay_content;
}

static enum tt_ws_event_type event_of(unsigned opcode)
{
    switch (opcode) {
    case TT_WS_OP_BINARY:
        return TT_WS_EV_BINARY;
    case TT_WS_OP_PING:
        return TT_WS_EV_PING;
    case TT_WS_OP_PONG:
        return TT_WS_EV_PONG;
    default:
        return TT_WS_EV_TEXT;
    }
}

size_t tt_woh_out_build(struct tt_woh_out *q, size_t max_events, const struct tt_woh_close *close,
                        struct tt_buf *body)
{
    size_t events = 0;
    q->req_msgs = 0;
    q->req_content = 0;
    q->req_close = false;
    q->req_close_len = 0;
    for (const struct tt_woh_msg *m = q->head; m; m = m->next) {
        size_t n = m->len - m->off;
        if (max_events && events >= max_events)
            break;
        if (q->req_msgs && q->req_content + n > TT_WOH_MAX_CONTENT)
            break;
        /* Pings and pongs carry content only when they have some (Pushpin's compact form);
         * data messages always do, even when empty. */
        bool has = n > 0 || (m->opcode != TT_WS_OP_PING && m->opcode != TT_WS_OP_PONG);
        tt_ws_events_append(body, event_of(m->opcode), has, m->data + m->off, n);
        events++;
        q->req_msgs++;
        q->req_content += n;
    }
    q->req_maxed = q->req_msgs < q->count;
    if (close && !q->req_maxed && (!max_events || events < max_events)) {
        tt_ws_events_append_close(body, close->code, close->reason, close->len);
        events++;
        q->req_close = true;
        q->req_close_len = close->code >= 0 ? 2 + close->len : 0;
    }
    return events;
}

/* Remove up to n content bytes from the front, within the first `limit` messages (those
 * the request carried). A message whose content is all gone leaves the queue; one cut
 * short keeps its rest. Returns the bytes removed; *msgs_removed counts whole messages. */
static size_t remove_content(struct tt_woh_out *q, size_t n, size_t limit, size_t *msgs_removed)
{
    size_t removed = 0;
    *msgs_removed = 0;
    while (q->head && *msgs_removed < limit) {
        struct tt_woh_msg *m = q->head;
        size_t left = m->len - m->off;
        if (n - removed < left) {
            m->off += n - removed;
            removed = n;
            break;
        }
        removed += left;
        q->head = m->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
        free(m);
        (*msgs_removed)++;
    }
    q->content -= removed;
    return removed;
}

int tt_woh_out_ack(struct tt_woh_out *q, int64_t accepted, bool *close_sent, const char **why)
{
    /* The request is over whatever the answer says. */
    size_t req_msgs = q->req_msgs, req_content = q->req_content;
    size_t offered = req_content + q->req_close_len;
    bool req_close = q->req_close, req_maxed = q->req_maxed;
    q->req_msgs = q->req_content = q->req_close_len = 0;
    q->req_close = q->req_maxed = false;
    *close_sent = false;
    size_t acc = offered;
    if (accepted >= 0) {
        if ((uint64_t)accepted > offered) {
            *why = "Content-Bytes-Accepted is more than the request offered";
            return TT_EPARSE;
        }
        acc = (size_t)accepted;
    }
    size_t content_acc = TT_MIN(acc, req_content);
    size_t msgs_removed;
    size_t removed = remove_content(q, content_acc, req_msgs, &msgs_removed);
    q->replay_msgs = req_msgs - msgs_removed;
    q->replay_content = req_content - removed;
    if (req_maxed && msgs_removed == 0 && removed == 0) {
        /* The request was full and the backend took nothing: it would never move on. */
        *why = "the backend accepted nothing of a full request";
        return TT_EPARSE;
    }
    if (req_close && content_acc == req_content) {
        /* All the data went: from here on there is none, so the close must go too (a
         * partial acceptance means "wait for more", and no more will come). */
        if (acc < offered) {
            *why = "the backend accepted the messages but not the CLOSE after them";
            return TT_EPARSE;
        }
        *close_sent = true;
        tt_woh_out_clear(q);
    }
    return 0;
}

void tt_woh_out_replayed(struct tt_woh_out *q)
{
    q->replay_msgs = q->req_msgs;
    q->replay_content = q->req_content;
}

/* ---- the request head ---- */

static bool drop_line(const char *line, size_t len, bool strip_sig)
{
    static const char *const names[] = {"Accept:",       "Connection-Id:",
                                        "Content-Length:", "Content-Type:",
                                        "Content-Bytes-Replayed:", "Upgrade:"};
    for (size_t i = 0; i < TT_ARRAY_LEN(names); i++)
        if (tt_strihas_prefix(line, len, names[i]))
            return true;
    if (tt_strihas_prefix(line, len, "Meta-"))
        return true;
    return strip_sig && tt_strihas_prefix(line, len, "Grip-Sig:");
}

void tt_woh_base_head(const char *head, size_t len, bool strip_sig, const char *cid, bool grip,
                      struct tt_buf *out)
{
    size_t pos = 0;
    const char *line;
    size_t ll;
    bool first = true;
    while (tt_next_line(head, len, &pos, &line, &ll)) {
        if (ll == 0)
            continue;
        if (!first && drop_line(line, ll, strip_sig))
            continue;
        first = false;
        tt_buf_append(out, line, ll);
        tt_buf_append(out, "\r\n", 2);
    }
    tt_buf_appends(out, "Accept: " TT_WOH_CONTENT_TYPE "\r\nConnection-Id: ");
    tt_buf_appends(out, cid);
    tt_buf_appends(out, "\r\nContent-Type: " TT_WOH_CONTENT_TYPE "\r\n");
    if (grip)
        tt_buf_appends(out, "Sec-WebSocket-Extensions: grip\r\n");
}

void tt_woh_request_head(const char *base, size_t base_len, const char *sig, size_t sig_len,
                         size_t content_length, size_t replayed, const struct tt_buf *meta,
                         struct tt_buf *out)
{
    tt_buf_append(out, base, base_len);
    if (sig_len)
        tt_buf_append(out, sig, sig_len);
    tt_buf_appends(out, "Content-Length: ");
    tt_buf_append_uint(out, content_length, 10);
    tt_buf_appends(out, "\r\n");
    if (replayed) {
        tt_buf_appends(out, "Content-Bytes-Replayed: ");
        tt_buf_append_uint(out, replayed, 10);
        tt_buf_appends(out, "\r\n");
    }
    if (meta && meta->len)
        tt_buf_append(out, meta->data, meta->len);
    tt_buf_appends(out, "\r\n");
}

/* ---- meta ---- */

/* Find the line "Meta-<name>: ..." in meta: its start and length (with CRLF). */
static bool meta_find(const struct tt_buf *meta, const char *name, size_t name_len, size_t *at,
                      size_t *len)
{
    size_t pos = 0;
    while (pos < meta->len) {
        const char *line = meta->data + pos;
        const char *end = memchr(line, '\n', meta->len - pos);
        size_t ll = end ? (size_t)(end - line) + 1 : meta->len - pos;
        const char *colon = memchr(line, ':', ll);
        if (colon && (size_t)(colon - line) == 5 + name_len &&
            tt_strieqn(line + 5, name_len, name, name_len)) {
            *at = pos;
            *len = ll;
            return true;
        }
        pos += ll;
    }
    return false;
}

static size_t meta_items(const struct tt_buf *meta)
{
    size_t n = 0;
    for (size_t i = 0; i < meta->len; i++)
        n += meta->data[i] == '\n';
    return n;
}

int tt_woh_meta_set(struct tt_buf *meta, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    if (!name_len || !tt_h1_is_token(name, name_len) || !tt_h1_is_field_value(value, value_len))
        return TT_EPARSE;
    /* Values are written as they came, without the spaces around them. */
    tt_trim(&value, &value_len);
    size_t at, len, items = meta_items(meta);
    bool found = meta_find(meta, name, name_len, &at, &len);
    size_t line_len = 5 + name_len + 2 + value_len + 2;
    if (value_len) {
        if (!found && items >= TT_WOH_META_MAX_ITEMS)
            return TT_ETOOBIG;
        if (meta->len - (found ? len : 0) + line_len > TT_WOH_META_MAX_BYTES)
            return TT_ETOOBIG;
    }
    if (found) {
        memmove(meta->data + at, meta->data + at + len, meta->len - at - len);
        meta->len -= len;
    }
    if (value_len) {
        tt_buf_appends(meta, "Meta-");
        tt_buf_append(meta, name, name_len);
        tt_buf_appends(meta, ": ");
        tt_buf_append(meta, value, value_len);
        tt_buf_appends(meta, "\r\n");
    }
    if (meta->len == 0)
        tt_buf_deinit(meta); /* nothing kept while nothing is set */
    return 0;
}

/* ---- the response ---- */

bool tt_woh_is_events_type(const char *v, size_t len)
{
    return len == sizeof(TT_WOH_CONTENT_TYPE) - 1 && memcmp(v, TT_WOH_CONTENT_TYPE, len) == 0;
}

int tt_woh_keepalive_interval(const char *v, size_t len)
{
    tt_trim(&v, &len);
    int64_t x = tt_parse_uint(v, len, INT32_MAX);
    if (x <= 0)
        return -1;
    if (x < TT_WOH_MIN_KEEPALIVE)
        return TT_WOH_MIN_KEEPALIVE;
    return (int)TT_MIN(x, TT_WOH_MAX_KEEPALIVE);
}

int64_t tt_woh_accepted(const char *v, size_t len)
{
    tt_trim(&v, &len);
    return tt_parse_uint(v, len, INT32_MAX);
}

bool tt_woh_forward_header(const char *name, size_t len)
{
    static const char *const own[] = {
        "Content-Length",       "Content-Type",           "Keep-Alive-Interval",
        "Content-Bytes-Accepted", "Sec-WebSocket-Extensions", "Sec-WebSocket-Accept",
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(own); i++)
        if (tt_strieq(name, len, own[i]))
            return false;
    if (tt_strihas_prefix(name, len, "Set-Meta-"))
        return false;
    return !tt_h1_is_hop_by_hop(name, len);
}

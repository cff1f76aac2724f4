/* events.c: application/websocket-events parser and writer; see events.h. */
#include "ws/events.h"

#include "ws/utf8.h"

static const char *const names[] = {"OPEN", "TEXT",  "BINARY",    "PING",
                                    "PONG", "CLOSE", "DISCONNECT"};

const char *tt_ws_event_name(enum tt_ws_event_type type)
{
    return (size_t)type < TT_ARRAY_LEN(names) ? names[type] : NULL;
}

static bool tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int tt_ws_events_next(const char *body, size_t len, size_t *pos, struct tt_ws_event *ev)
{
    size_t i = *pos;
    if (i >= len)
        return 0;
    size_t s = i;
    while (i < len && tchar(body[i]) && i - s <= TT_WS_EVENTS_MAX_TYPE)
        i++;
    size_t nlen = i - s;
    if (nlen == 0 || nlen > TT_WS_EVENTS_MAX_TYPE)
        return TT_EPARSE;
    memset(ev, 0, sizeof(*ev));
    ev->name = body + s;
    ev->name_len = nlen;
    ev->type = TT_WS_EV_UNKNOWN;
    for (size_t t = 0; t < TT_ARRAY_LEN(names); t++) {
        if (strlen(names[t]) == nlen && memcmp(names[t], ev->name, nlen) == 0) {
            ev->type = (enum tt_ws_event_type)t;
            break;
        }
    }
    if (i < len && body[i] == ' ') {
        i++;
        uint64_t clen = 0;
        size_t d = i;
        while (i < len && tt_hexval(body[i]) >= 0 && i - d < 16)
            clen = clen << 4 | (uint64_t)tt_hexval(body[i++]);
        if (i == d)
            return TT_EPARSE;
        if (len - i < 2 || body[i] != '\r' || body[i + 1] != '\n')
            return TT_EPARSE;
        i += 2;
        if (clen > len - i || len - i - clen < 2)
            return TT_EPARSE; /* content or its CRLF missing */
        ev->has_content = true;
        ev->content = (const uint8_t *)body + i;
        ev->content_len = (size_t)clen;
        i += (size_t)clen;
        if (body[i] != '\r' || body[i + 1] != '\n')
            return TT_EPARSE;
        i += 2;
    } else {
        if (len - i < 2 || body[i] != '\r' || body[i + 1] != '\n')
            return TT_EPARSE;
        i += 2;
    }
    *pos = i;
    return 1;
}

int tt_ws_events_count(const char *body, size_t len, size_t max_events)
{
    size_t pos = 0, n = 0;
    struct tt_ws_event ev;
    int rc;
    while ((rc = tt_ws_events_next(body, len, &pos, &ev)) == 1) {
        if (++n > max_events)
            return TT_ETOOBIG;
    }
    if (rc < 0)
        return rc;
    return n > (size_t)INT32_MAX ? TT_ETOOBIG : (int)n;
}

int tt_ws_events_append(struct tt_buf *out, enum tt_ws_event_type type, bool has_content,
                        const void *content, size_t len)
{
    const char *name = tt_ws_event_name(type);
    if (!name)
        return TT_EPARSE;
    size_t mark = out->len;
    int rc = tt_buf_appends(out, name);
    if (rc == 0 && has_content) {
        rc = tt_buf_append(out, " ", 1);
        if (rc == 0)
            rc = tt_buf_append_uint(out, len, 16);
        if (rc == 0)
            rc = tt_buf_append(out, "\r\n", 2);
        if (rc == 0 && len)
            rc = tt_buf_append(out, content, len);
    }
    if (rc == 0)
        rc = tt_buf_append(out, "\r\n", 2);
    if (rc < 0)
        out->len = mark;
    return rc;
}

int tt_ws_events_append_close(struct tt_buf *out, int code, const void *reason, size_t len)
{
    if (code < 0)
        return tt_ws_events_append(out, TT_WS_EV_CLOSE, false, NULL, 0);
    size_t mark = out->len;
    uint8_t c[2] = {(uint8_t)((unsigned)code >> 8), (uint8_t)code};
    int rc = tt_buf_appends(out, "CLOSE ");
    if (rc == 0)
        rc = tt_buf_append_uint(out, 2 + len, 16);
    if (rc == 0)
        rc = tt_buf_append(out, "\r\n", 2);
    if (rc == 0)
        rc = tt_buf_append(out, c, 2);
    if (rc == 0 && len)
        rc = tt_buf_append(out, reason, len);
    if (rc == 0)
        rc = tt_buf_append(out, "\r\n", 2);
    if (rc < 0)
        out->len = mark;
    return rc;
}

void tt_ws_events_close_parse(const struct tt_ws_event *ev, int *code, const uint8_t **reason,
                              size_t *reason_len)
{
    *code = -1;
    *reason = NULL;
    *reason_len = 0;
    if (ev->content_len < 2)
        return;
    *code = ev->content[0] << 8 | ev->content[1];
    if (tt_ws_utf8_valid(ev->content + 2, ev->content_len - 2)) {
        *reason = ev->content + 2;
        *reason_len = ev->content_len - 2;
    }
}

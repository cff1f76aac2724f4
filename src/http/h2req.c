/* h2req.c: see h2req.h. */
#include "http/h2req.h"

#include <stdlib.h>

#include "http/h1.h"

void tt_h2req_init(struct tt_h2req *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->cap = cap;
    r->size = 21; /* "Connection: close\r\n\r\n" */
    r->content_length = -1;
    tt_buf_init(&r->fields, 0);
    tt_buf_init(&r->cookie, 0);
}

void tt_h2req_deinit(struct tt_h2req *r)
{
    free(r->method);
    free(r->path);
    free(r->authority);
    free(r->host);
    free(r->protocol);
    tt_buf_deinit(&r->fields);
    tt_buf_deinit(&r->cookie);
    memset(r, 0, sizeof(*r));
}

static int fail(struct tt_h2req *r, int status, const char *error)
{
    if (!r->status) {
        r->status = status;
        r->error = error;
    }
    return TT_EPARSE;
}

/* A request-target byte as the HTTP/1 parser takes it: no control byte, space or DEL. */
static bool valid_target(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch == 0x7f)
            return false;
    }
    return n > 0;
}

static int pseudo(struct tt_h2req *r, const char *name, size_t nl, const char *v, size_t vl)
{
    char **slot = NULL;
    if (tt_strieqn(name, nl, ":method", 7)) {
        if (!tt_h1_is_token(v, vl))
            return fail(r, 400, "invalid method");
        slot = &r->method;
        r->connect = vl == 7 && memcmp(v, "CONNECT", 7) == 0;
    } else if (tt_strieqn(name, nl, ":path", 5)) {
        if (!valid_target(v, vl))
            return fail(r, 400, "invalid request target");
        slot = &r->path;
    } else if (tt_strieqn(name, nl, ":authority", 10)) {
        if (!tt_h1_valid_host(v, vl))
            return fail(r, 400, "invalid host");
        slot = &r->authority;
    } else if (tt_strieqn(name, nl, ":scheme", 7)) {
        if (r->scheme)
            return fail(r, 400, "duplicate pseudo-header");
        r->scheme = true; /* http or https: the listener says which it was */
        return 0;
    } else if (tt_strieqn(name, nl, ":protocol", 9)) {
        /* Extended CONNECT (RFC 8441); tt_h2req_check says which protocols are served. */
        if (!tt_h1_is_token(v, vl))
            return fail(r, 400, "invalid :protocol");
        slot = &r->protocol;
    } else {
        return fail(r, 400, "unknown pseudo-header");
    }
    if (*slot)
        return fail(r, 400, "duplicate pseudo-header");
    *slot = tt_strndup(v, vl);
    return 0;
}

int tt_h2req_field(struct tt_h2req *r, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    if (r->status)
        return TT_EPARSE;
    /* What the HTTP/1 head spends on it: "name: value\r\n"; the request line holds
     * ":method :path HTTP/1.1\r\n", Host ":authority". The cap is checked here, so that
     * a header list that decodes to far more than it weighs on the wire (an HPACK bomb)
     * is cut off at once, and again on the whole head. */
    bool ps = name_len && name[0] == ':';
    if (!ps)
        r->size += name_len + value_len + 4;
    else if (tt_strieqn(name, name_len, ":method", 7))
        r->size += value_len + 1;
    else if (tt_strieqn(name, name_len, ":path", 5))
        r->size += value_len + 11;
    else if (tt_strieqn(name, name_len, ":authority", 10))
        r->size += value_len + 8;
    if (r->size > r->cap)
        return fail(r, 400, NULL);
    if (ps)
        return pseudo(r, name, name_len, value, value_len);
    if (!tt_h1_is_token(name, name_len) || !tt_h1_is_field_value(value, value_len))
        return fail(r, 400, "invalid header");
    if (tt_strieqn(name, name_len, "host", 4)) {
        if (r->host)
            return fail(r, 400, "duplicate host");
        if (!tt_h1_valid_host(value, value_len))
            return fail(r, 400, "invalid host");
        r->host = tt_strndup(value, value_len);
        return 0;
    }
    if (r->protocol && tt_strieqn(name, name_len, "sec-websocket-key", 17))
        return 0; /* RFC 8441 section 5: not used over HTTP/2; the head gets ws_key */
    if (tt_strieqn(name, name_len, "sec-websocket-version", 21))
        r->ws_version = true;
    if (tt_strieqn(name, name_len, "cookie", 6)) {
        if (r->cookie.len)
            tt_buf_append(&r->cookie, "; ", 2);
        tt_buf_append(&r->cookie, value, value_len);
        return 0;
    }
    if (tt_strieqn(name, name_len, "content-length", 14)) {
        int64_t n = tt_parse_uint(value, value_len, INT64_MAX / 2);
        if (n < 0 || (r->content_length >= 0 && n != r->content_length))
            return fail(r, 400, "invalid content length");
        if (r->content_length >= 0)
            return 0; /* the same value twice: one is enough */
        r->content_length = n;
    } else if (tt_h1_is_hop_by_hop(name, name_len)) {
        return 0; /* te: trailers (the only one HTTP/2 allows) means nothing here */
    }
    tt_buf_append(&r->fields, name, name_len);
    tt_buf_append(&r->fields, ": ", 2);
    tt_buf_append(&r->fields, value, value_len);
    tt_buf_append(&r->fields, "\r\n", 2);
    return 0;
}

int tt_h2req_check(struct tt_h2req *r)
{
    if (r->status)
        return TT_EPARSE;
    if (!r->method)
        return fail(r, 400, "missing :method");
    if (r->protocol && !r->connect)
        return fail(r, 400, ":protocol without CONNECT");
    if (r->protocol) {
        /* RFC 8441 4: :scheme and :path are required, as for any request. */
        if (!tt_strieq(r->protocol, strlen(r->protocol), "websocket"))
            return fail(r, 501, "extended CONNECT protocol not supported");
        if (!r->scheme || !r->path || !r->authority)
            return fail(r, 400, "extended CONNECT without :scheme, :path or :authority");
        r->websocket = true;
    } else if (r->connect) {
        return fail(r, 501, "CONNECT is not supported");
    }
    if (!r->path)
        return fail(r, 400, "missing :path");
    if (r->path[0] != '/' && !(strcmp(r->path, "*") == 0 && strcmp(r->method, "OPTIONS") == 0))
        return fail(r, 400, "invalid request target");
    if (!r->authority && !r->host)
        return fail(r, 400, "missing host");
    return 0;
}

int tt_h2req_head(struct tt_h2req *r, bool body_follows, struct tt_buf *out, bool *chunked)
{
    *chunked = false;
    if (tt_h2req_check(r) != 0)
        return TT_EPARSE;
    const char *host = r->authority ? r->authority : r->host;
    size_t start = out->len;
    tt_buf_appendf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", r->websocket ? "GET" : r->method,
                   r->path, host);
    tt_buf_append(out, r->fields.data, r->fields.len);
    if (r->cookie.len) {
        tt_buf_append(out, "cookie: ", 8);
        tt_buf_append(out, r->cookie.data, r->cookie.len);
        tt_buf_append(out, "\r\n", 2);
    }
    if (r->websocket) {
        /* The upgrade the CONNECT stands for; "close": nothing follows it on the stream. */
        tt_buf_appends(out, "Upgrade: websocket\r\nConnection: Upgrade, close\r\n");
        if (!r->ws_version)
            tt_buf_appends(out, "Sec-WebSocket-Version: 13\r\n");
        tt_buf_appendf(out, "Sec-WebSocket-Key: %s\r\n\r\n", r->ws_key);
    } else {
        if (body_follows && r->content_length < 0) {
            tt_buf_appends(out, "Transfer-Encoding: chunked\r\n");
            *chunked = true;
        }
        tt_buf_appends(out, "Connection: close\r\n\r\n");
    }
    if (out->len - start > r->cap)
        return fail(r, 400, NULL);
    return 0;
}

/* resp.c: in-memory responses and their rendering (see resp.h). */
#include "http/resp.h"

#include <stdlib.h>

#include "core/log.h"

void tt_resp_init(struct tt_resp *r, int status)
{
    memset(r, 0, sizeof(*r));
    r->status = status;
    tt_buf_init(&r->body, 0);
}

void tt_resp_deinit(struct tt_resp *r)
{
    free(r->reason);
    for (size_t i = 0; i < r->num_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    tt_buf_deinit(&r->body);
    memset(r, 0, sizeof(*r));
}

static void add_n(struct tt_resp *r, const char *n, size_t nl, const char *v, size_t vl)
{
    r->headers = tt_realloc(r->headers, (r->num_headers + 1) * sizeof(*r->headers));
    r->headers[r->num_headers].name = tt_strndup(n, nl);
    r->headers[r->num_headers].value = tt_strndup(v, vl);
    r->num_headers++;
}

void tt_resp_add_header(struct tt_resp *r, const char *name, const char *value)
{
    add_n(r, name, strlen(name), value, strlen(value));
}

void tt_resp_set_header(struct tt_resp *r, const char *name, const char *value)
{
    size_t o = 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        if (tt_strieq(r->headers[i].name, strlen(r->headers[i].name), name)) {
            free(r->headers[i].name);
            free(r->headers[i].value);
        } else {
            r->headers[o++] = r->headers[i];
        }
    }
    r->num_headers = o;
    if (value)
        tt_resp_add_header(r, name, value);
}

const char *tt_resp_get_header(const struct tt_resp *r, const char *name)
{
    for (size_t i = 0; i < r->num_headers; i++)
        if (tt_strieq(r->headers[i].name, strlen(r->headers[i].name), name))
            return r->headers[i].value;
    return NULL;
}

void tt_resp_from_h1(struct tt_resp *r, const struct tt_h1_response *h)
{
    r->status = h->status;
    free(r->reason);
    r->reason = tt_strndup(h->reason, h->reason_len);
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tt_h1_header *x = &h->headers[i];
        if (tt_h1_is_hop_by_hop(x->name, x->name_len) ||
            tt_strieq(x->name, x->name_len, "Content-Length") ||
            tt_h1_named_in_connection(h->headers, h->num_headers, x->name, x->name_len))
            continue;
        add_n(r, x->name, x->name_len, x->value, x->value_len);
    }
}

void tt_resp_copy(struct tt_resp *dst, const struct tt_resp *src)
{
    tt_resp_init(dst, src->status);
    dst->reason = src->reason ? tt_strdup(src->reason) : NULL;
    for (size_t i = 0; i < src->num_headers; i++)
        tt_resp_add_header(dst, src->headers[i].name, src->headers[i].value);
    tt_buf_append(&dst->body, src->body.data, src->body.len);
}

bool tt_resp_header_renderable(const char *name, const char *value)
{
    size_t nl = strlen(name);
    if (tt_h1_is_token(name, nl) && tt_h1_is_field_value(value, strlen(value)))
        return !tt_h1_is_hop_by_hop(name, nl) && !tt_strieq(name, nl, "Content-Length");
    char esc[96];
    tt_warn("response header '%s' with control bytes or a bad name not written",
            tt_log_escape(name, nl, esc, sizeof(esc)));
    return false;
}

const char *tt_resp_reason(const struct tt_resp *r)
{
    if (!r->reason)
        return tt_h1_reason(r->status);
    if (tt_h1_is_field_value(r->reason, strlen(r->reason)))
        return r->reason;
    tt_warn("response reason with control bytes replaced by the standard phrase");
    return tt_h1_reason(r->status);
}

void tt_resp_render(const struct tt_resp *r, int minor_version, bool keep_alive, bool head_only,
                    struct tt_buf *out)
{
    tt_buf_appendf(out, "HTTP/1.%d %d %s\r\n", minor_version, r->status, tt_resp_reason(r));
    for (size_t i = 0; i < r->num_headers; i++)
        if (tt_resp_header_renderable(r->headers[i].name, r->headers[i].value))
            tt_buf_appendf(out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
    bool bodyless = r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200);
    if (!bodyless)
        tt_buf_appendf(out, "Content-Length: %zu\r\n", r->body.len);
    if (!keep_alive)
        tt_buf_appends(out, "Connection: close\r\n");
    else if (minor_version == 0)
        tt_buf_appends(out, "Connection: keep-alive\r\n");
    tt_buf_appends(out, "\r\n");
    if (!head_only && !bodyless)
        tt_buf_append(out, r->body.data, r->body.len);
}

void tt_resp_text(struct tt_resp *r, int status, const char *body)
{
    tt_resp_init(r, status);
    tt_resp_add_header(r, "Content-Type", "text/plain");
    tt_buf_appends(&r->body, body);
}

struct tt_h1_response *tt_h1_response_dup(const struct tt_h1_response *h, char **raw_out)
{
    size_t total = h->reason_len;
    for (size_t i = 0; i < h->num_headers; i++)
        total += h->headers[i].name_len + h->headers[i].value_len;
    char *raw = tt_malloc(total + 1);
    /* Only the headers in use: a GRIP response is kept for every request in flight, and
     * the whole table is 2 KB where a few entries are used. */
    struct tt_h1_response *c = tt_malloc(tt_h1_response_used(h));
    memcpy(c, h, tt_h1_response_used(h));
    size_t off = 0;
    memcpy(raw + off, h->reason, h->reason_len);
    c->reason = raw + off;
    off += h->reason_len;
    for (size_t i = 0; i < h->num_headers; i++) {
        memcpy(raw + off, h->headers[i].name, h->headers[i].name_len);
        c->headers[i].name = raw + off;
        off += h->headers[i].name_len;
        memcpy(raw + off, h->headers[i].value, h->headers[i].value_len);
        c->headers[i].value = raw + off;
        off += h->headers[i].value_len;
    }
    *raw_out = raw;
    return c;
}

struct tt_h1_request *tt_h1_request_dup(const struct tt_h1_request *h, char **raw_out)
{
    size_t total = h->method_len + h->target_len;
    bool host_in_headers = false;
    for (size_t i = 0; i < h->num_headers; i++) {
        total += h->headers[i].name_len + h->headers[i].value_len;
        host_in_headers = host_in_headers || h->host == h->headers[i].value;
    }
    /* A host taken from elsewhere (an absolute-form target) gets its own copy. */
    if (h->host && !host_in_headers)
        total += h->host_len;
    char *raw = tt_malloc(total + 1);
    struct tt_h1_request *c = tt_malloc(tt_h1_request_used(h));
    memcpy(c, h, tt_h1_request_used(h));
    size_t off = 0;
    memcpy(raw + off, h->method, h->method_len);
    c->method = raw + off;
    off += h->method_len;
    memcpy(raw + off, h->target, h->target_len);
    c->target = raw + off;
    off += h->target_len;
    c->host = NULL;
    for (size_t i = 0; i < h->num_headers; i++) {
        memcpy(raw + off, h->headers[i].name, h->headers[i].name_len);
        c->headers[i].name = raw + off;
        off += h->headers[i].name_len;
        memcpy(raw + off, h->headers[i].value, h->headers[i].value_len);
        c->headers[i].value = raw + off;
        off += h->headers[i].value_len;
        if (h->host == h->headers[i].value)
            c->host = c->headers[i].value;
    }
    if (h->host && !host_in_headers) {
        memcpy(raw + off, h->host, h->host_len);
        c->host = raw + off;
    }
    *raw_out = raw;
    return c;
}

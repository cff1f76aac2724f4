/* fuzz_resp_render.c: whatever an in-memory response holds (published items, GRIP
 * instructions, CORS echoes of request values), what thumbtack writes must read back as
 * exactly one response with the same status and body: no response splitting, no framing
 * a client could read differently. Layout of the input: byte 0 picks the status, byte 1
 * the rendering flags; the rest is NUL-separated fields: reason, CORS origin, CORS
 * request method, CORS request headers, then name/value pairs; the last field is the body.
 * Fields stay as given (controls and all): the renderer is the second line of defence. */
#include "fuzz.h"
#include "http/h1.h"
#include "http/resp.h"
#include "proxy/cors.h"

#include <string.h>

static char *field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
    size_t n = z ? (size_t)(z - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += n + (z ? 1 : 0);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    int status = 100 + data[0] * 2; /* 100..610: the renderer must cope with any */
    unsigned flags = data[1];
    const uint8_t *p = data + 2, *end = data + size;
    struct tt_resp r;
    tt_resp_init(&r, status);
    char *reason = field(&p, end);
    if (reason[0])
        r.reason = reason;
    else
        free(reason);
    char *origin = field(&p, end), *method = field(&p, end), *hdrs = field(&p, end);
    char *body = NULL;
    while (p < end) {
        char *name = field(&p, end);
        if (p >= end) {
            body = name;
            break;
        }
        char *value = field(&p, end);
        /* The parser reading it back takes 64 headers (CORS and framing add up to 8). */
        if (r.num_headers < 50)
            tt_resp_add_header(&r, name, value);
        free(name);
        free(value);
    }
    if (body) {
        tt_buf_append(&r.body, body, strlen(body));
        free(body);
    }
    if (flags & 8)
        tt_cors_apply(&r, origin[0] ? origin : NULL, method[0] ? method : NULL,
                      hdrs[0] ? hdrs : NULL);
    free(origin);
    free(method);
    free(hdrs);

    int minor = flags & 1;
    bool keep_alive = flags & 2, head_only = flags & 4;
    struct tt_buf out;
    tt_buf_init(&out, 0);
    tt_resp_render(&r, minor, keep_alive, head_only, &out);
    char *copy = malloc(out.len ? out.len : 1); /* exact size: ASan sees any overread */
    memcpy(copy, out.data, out.len);
    struct tt_h1_response h;
    struct tt_h1_error err;
    int n = tt_h1_parse_response(copy, out.len, 1 << 20, &h, &err);
    ENSURE(n > 0);
    ENSURE(h.status == status);
    ENSURE(h.minor_version == minor);
    ENSURE(!h.framing.chunked);
    bool bodyless = status == 204 || status == 304 || status < 200;
    ENSURE(h.framing.content_length == (bodyless ? -1 : (int64_t)r.body.len));
    size_t want = (size_t)n + (head_only || bodyless ? 0 : r.body.len);
    ENSURE(out.len == want); /* nothing after the body: no second response */
    if (!head_only && !bodyless && r.body.len)
        ENSURE(memcmp(copy + n, r.body.data, r.body.len) == 0);
    for (size_t i = 0; i < h.num_headers; i++)
        ENSURE(tt_h1_is_token(h.headers[i].name, h.headers[i].name_len));
    free(copy);
    tt_buf_deinit(&out);
    tt_resp_deinit(&r);
    return 0;
}

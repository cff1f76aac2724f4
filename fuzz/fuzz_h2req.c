/* fuzz_h2req.c: HTTP/2 request fields -> HTTP/1.1 head. Whatever fields come (the input
 * is cut into name/value pairs at NUL bytes; the first byte picks the cap and whether a
 * body follows), a head that is rendered must be one the HTTP/1 parser accepts whole, of
 * at most cap bytes, with the same method and target; errors carry a status. */
#include "fuzz.h"
#include "http/h1.h"
#include "http/h2req.h"

#include <stdlib.h>
#include <string.h>

static struct tt_h1_request req;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    static const size_t caps[] = {8192, 64, 256, 1024};
    size_t cap = caps[data[0] & 3];
    bool body = data[0] & 4;
    struct tt_h2req r;
    tt_h2req_init(&r, cap);
    memcpy(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ==", 25);
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p < end) {
        const char *n = p, *nz = memchr(p, 0, (size_t)(end - p));
        if (!nz)
            break;
        const char *v = nz + 1, *vz = v < end ? memchr(v, 0, (size_t)(end - v)) : NULL;
        if (!vz)
            vz = end;
        int rc = tt_h2req_field(&r, n, (size_t)(nz - n), v, (size_t)(vz - v));
        ENSURE(rc == 0 || (rc < 0 && r.status >= 400));
        p = vz + 1;
    }
    struct tt_buf out;
    tt_buf_init(&out, 0);
    bool chunked;
    int rc = tt_h2req_head(&r, body, &out, &chunked);
    if (rc == 0) {
        ENSURE(out.len <= cap);
        struct tt_h1_error err;
        int n = tt_h1_parse_request(out.data, out.len, cap, &req, &err);
        /* more than 64 fields is the HTTP/1 parser's own 400, as over HTTP/1.1 */
        ENSURE(n == (int)out.len || (n == TT_EPARSE && err.status == 400));
        if (n > 0) {
            /* an extended CONNECT for a WebSocket is a GET upgrade */
            const char *m = r.websocket ? "GET" : r.method;
            ENSURE(req.method_len == strlen(m) && memcmp(req.method, m, req.method_len) == 0);
            ENSURE(req.websocket == r.websocket);
            ENSURE(req.target_len == strlen(r.path) && memcmp(req.target, r.path, req.target_len) == 0);
            ENSURE(req.minor_version == 1 && req.host);
            ENSURE(req.framing.chunked == chunked && !(chunked && r.websocket));
            ENSURE(!req.framing.keep_alive);
        }
    } else {
        ENSURE(r.status == 400 || r.status == 501);
    }
    tt_buf_deinit(&out);
    tt_h2req_deinit(&r);
    return 0;
}

/* fuzz_ws_handshake.c: the WebSocket opening handshake on parsed heads, both roles.
 * Byte 0: bit 0 allows compression, bits 1-2 pick what we offered a backend. The rest is
 * a request head, then (after the first "\r\n\r\n") a backend's response head. The server
 * side must classify every request as not-WebSocket, valid or invalid, and a valid one's
 * accept value and answer lines must be right; the client side must refuse any 101 whose
 * accept value is not the one for our key. */
#include "fuzz.h"
#include "http/h1.h"
#include "ws/handshake.h"

#include <string.h>

static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";

static void server_side(const char *buf, size_t len, bool allow_compression)
{
    static struct tt_h1_request req;
    struct tt_h1_error err;
    if (tt_h1_parse_request(buf, len, 8192, &req, &err) <= 0)
        return;
    struct tt_ws_server_hs hs;
    memset(&hs, 0, sizeof(hs));
    int r = tt_ws_server_handshake(&req, allow_compression, &hs);
    ENSURE(r == 0 || r == 1 || r == TT_EPARSE);
    if (r == TT_EPARSE)
        ENSURE(hs.why != NULL);
    if (r != 1)
        return;
    ENSURE(req.websocket && !hs.bad_version);
    ENSURE(strlen(hs.accept) == TT_WS_ACCEPT_LEN);
    ENSURE(!hs.deflate || allow_compression);
    int k = tt_h1_find_header(req.headers, req.num_headers, "Sec-WebSocket-Key", 0);
    ENSURE(k >= 0);
    char want[TT_WS_ACCEPT_LEN + 1];
    tt_ws_accept_value(req.headers[k].value, req.headers[k].value_len, want);
    ENSURE(strcmp(want, hs.accept) == 0);
    /* Our answer's lines make a well-formed head carrying that accept value. */
    struct tt_buf out;
    tt_buf_init(&out, 0);
    tt_buf_appends(&out, "HTTP/1.1 101 Switching Protocols\r\n");
    ENSURE(tt_ws_server_response_headers(&out, &hs) == 0);
    tt_buf_appends(&out, "\r\n");
    static struct tt_h1_response resp;
    ENSURE(tt_h1_parse_response(out.data, out.len, 65536, &resp, &err) == (int)out.len);
    int a = tt_h1_find_header(resp.headers, resp.num_headers, "Sec-WebSocket-Accept", 0);
    ENSURE(a >= 0 && resp.headers[a].value_len == TT_WS_ACCEPT_LEN &&
           memcmp(resp.headers[a].value, hs.accept, TT_WS_ACCEPT_LEN) == 0);
    tt_buf_deinit(&out);
}

static void client_side(const char *buf, size_t len, unsigned offer)
{
    static struct tt_h1_response resp;
    struct tt_h1_error err;
    if (tt_h1_parse_response(buf, len, 65536, &resp, &err) <= 0)
        return;
    struct tt_ws_client_hs hs;
    memset(&hs, 0, sizeof(hs));
    int r = tt_ws_client_check_response(&resp, KEY, offer & 1, offer & 2, NULL, 0, &hs);
    ENSURE(r == 0 || r == 1 || r == TT_EPARSE);
    if (r == 0)
        ENSURE(resp.status != 101);
    if (r != 1)
        return;
    ENSURE(resp.status == 101);
    ENSURE(!hs.grip.present || (offer & 1));
    ENSURE(!hs.deflate || (offer & 2));
    int k = tt_h1_find_header(resp.headers, resp.num_headers, "Sec-WebSocket-Accept", 0);
    ENSURE(k >= 0);
    char want[TT_WS_ACCEPT_LEN + 1];
    tt_ws_accept_value(KEY, sizeof(KEY) - 1, want);
    ENSURE(resp.headers[k].value_len == TT_WS_ACCEPT_LEN &&
           memcmp(resp.headers[k].value, want, TT_WS_ACCEPT_LEN) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32768)
        return 0;
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);
    const char *sep = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
    size_t first = sep ? (size_t)(sep - buf) + 4 : len;
    server_side(buf, first, data[0] & 1);
    if (first < len) {
        /* exact-size copy of the second part, so ASan sees any overread */
        char *second = malloc(len - first);
        memcpy(second, buf + first, len - first);
        client_side(second, len - first, (data[0] >> 1) & 3);
        free(second);
    }
    free(buf);
    return 0;
}

/* fuzz_h1_response.c: the response head parser, with the same self-consistency checks
 * as the request one. The first byte picks max_head. */
#include "fuzz.h"
#include "http/h1.h"

#include <stdlib.h>
#include <string.h>

static struct tt_h1_response resp;

static bool within(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && p + n <= buf + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    static const size_t caps[] = {8192, 64, 256, 1024};
    size_t max_head = caps[data[0] & 3];
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    struct tt_h1_error err = {0, NULL};
    int rc = tt_h1_parse_response(buf, len, max_head, &resp, &err);
    if (rc > 0) {
        size_t head = (size_t)rc;
        ENSURE(head <= len && head <= max_head);
        ENSURE(buf[head - 1] == '\n' && buf[head - 2] == '\r');
        ENSURE(resp.status >= 100 && resp.status <= 999);
        ENSURE(resp.minor_version == 0 || resp.minor_version == 1);
        ENSURE(within(resp.reason, resp.reason_len, buf, head));
        ENSURE(resp.num_headers <= TT_H1_MAX_HEADERS);
        for (size_t i = 0; i < resp.num_headers; i++) {
            const struct tt_h1_header *h = &resp.headers[i];
            ENSURE(h->name_len > 0 && within(h->name, h->name_len, buf, head));
            ENSURE(within(h->value, h->value_len, buf, head));
        }
        ENSURE(!(resp.framing.chunked && resp.framing.content_length >= 0));
        struct tt_h1_error e2;
        ENSURE(tt_h1_parse_response(buf, head, max_head, &resp, &e2) == rc);
        if (head <= 512)
            for (size_t k = 0; k < head; k++)
                ENSURE(tt_h1_parse_response(buf, k, max_head, &resp, &e2) == TT_EAGAIN);
    } else if (rc == TT_EPARSE) {
        ENSURE(err.reason != NULL);
        ENSURE(err.status == 502 || err.status == 500);
    } else if (rc == TT_ETOOBIG) {
        ENSURE(err.status == 502 && err.reason != NULL);
        ENSURE(len >= max_head);
    } else {
        ENSURE(rc == TT_EAGAIN);
        ENSURE(len < max_head);
    }
    free(buf);
    return 0;
}

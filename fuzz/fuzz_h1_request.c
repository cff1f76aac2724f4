/* fuzz_h1_request.c: the request head parser must never read past len, must agree with
 * itself when the input is cut short or extended, and must only return documented
 * results. The first byte picks max_head so that the size cap is exercised too. */
#include "fuzz.h"
#include "http/h1.h"

#include <stdlib.h>
#include <string.h>

static struct tt_h1_request req;

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
    char *buf = malloc(len ? len : 1); /* exact size: ASan catches any overread */
    memcpy(buf, data + 1, len);

    struct tt_h1_error err = {0, NULL};
    int rc = tt_h1_parse_request(buf, len, max_head, &req, &err);
    if (rc > 0) {
        size_t head = (size_t)rc;
        ENSURE(head <= len && head <= max_head);
        ENSURE(buf[head - 1] == '\n'); /* CRLF or a bare LF ends the head */
        ENSURE(req.num_headers <= TT_H1_MAX_HEADERS);
        ENSURE(req.minor_version == 0 || req.minor_version == 1);
        ENSURE(req.method_len > 0 && within(req.method, req.method_len, buf, head));
        ENSURE(req.target_len > 0 && within(req.target, req.target_len, buf, head));
        for (size_t i = 0; i < req.num_headers; i++) {
            const struct tt_h1_header *h = &req.headers[i];
            ENSURE(h->name_len > 0 && within(h->name, h->name_len, buf, head));
            ENSURE(within(h->value, h->value_len, buf, head));
        }
        ENSURE(!req.host || within(req.host, req.host_len, buf, head));
        ENSURE(!(req.framing.chunked && req.framing.content_length >= 0));
        ENSURE(req.framing.content_length <= (INT64_C(1) << 53));
        ENSURE(!(req.framing.keep_alive && req.framing.conn_close));

        /* The head delimits itself: parsing just it gives the same answer. */
        struct tt_h1_error e2;
        ENSURE(tt_h1_parse_request(buf, head, max_head, &req, &e2) == rc);
        /* Every proper prefix is "need more"; checked on small heads (quadratic). */
        if (head <= 512)
            for (size_t k = 0; k < head; k++)
                ENSURE(tt_h1_parse_request(buf, k, max_head, &req, &e2) == TT_EAGAIN);
    } else if (rc == TT_EPARSE) {
        ENSURE(err.reason != NULL);
        ENSURE(err.status == 400 || err.status == 501 || err.status == 505);
        /* An error never turns into success when more bytes arrive. */
        if (len < 2048) {
            char *more = malloc(len + 4);
            memcpy(more, buf, len);
            memcpy(more + len, "\r\n\r\n", 4);
            struct tt_h1_error e2;
            ENSURE(tt_h1_parse_request(more, len + 4, max_head, &req, &e2) < 0);
            free(more);
        }
    } else if (rc == TT_ETOOBIG) {
        ENSURE(err.status == 400 && err.reason != NULL);
        ENSURE(len >= max_head);
    } else {
        ENSURE(rc == TT_EAGAIN);
        ENSURE(len < max_head);
    }
    free(buf);
    return 0;
}

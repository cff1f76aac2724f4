/* fuzz_zhttp.c: tt_zhttp_decode on arbitrary bytes, as a request and as a response
 * packet. A decoded packet must encode, and that encoding must decode and encode to the same bytes
 * again (encoding normalizes once: absent and empty fields are the same thing on the wire). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "zmq/zhttp.h"

static void check_kind(const uint8_t *data, size_t size, enum tt_zhttp_kind kind)
{
    struct tt_zhttp_packet p;
    char err[256];
    err[0] = '\0';
    int r = tt_zhttp_decode((const char *)data, size, kind, NULL, &p, err, sizeof(err));
    if (r < 0) {
        ENSURE(r == TT_EPARSE || r == TT_ETOOBIG);
        ENSURE(strncmp(err, "invalid format (", 16) == 0);
        ENSURE(p.root == NULL && p.ids == NULL && p.headers == NULL);
        return;
    }
    ENSURE(r == 0);
    for (size_t i = 0; i < p.num_headers; i++)
        ENSURE(p.headers[i].name.p && p.headers[i].value.p);
    struct tt_buf e1, e2;
    tt_buf_init(&e1, 0);
    tt_buf_init(&e2, 0);
    ENSURE(tt_zhttp_encode(&p, kind, &e1) == 0);
    struct tt_zhttp_packet q;
    ENSURE(tt_zhttp_decode(e1.data, e1.len, kind, NULL, &q, err, sizeof(err)) == 0);
    ENSURE(q.type == p.type && q.credits == p.credits && q.more == p.more);
    ENSURE(tt_zhttp_encode(&q, kind, &e2) == 0);
    ENSURE(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
    tt_buf_deinit(&e1);
    tt_buf_deinit(&e2);
    tt_zhttp_packet_deinit(&p);
    tt_zhttp_packet_deinit(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_kind(data, size, TT_ZHTTP_REQUEST);
    check_kind(data, size, TT_ZHTTP_RESPONSE);
    struct tt_zhttp_str a, p;
    if (tt_zhttp_split_addressed((const char *)data, size, &a, &p) == 0)
        ENSURE(a.len + 1 + p.len == size);
    return 0;
}

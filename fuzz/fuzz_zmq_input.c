/* fuzz_zmq_input.c: what arrives on the ZeroMQ publish and command sockets. The input is
 * tried as a PULL message, as a SUB message (the first byte gives the topic length), and
 * as a ZRPC request whose args go to the publish command's item parser. Errors must be
 * clean and carry a message; successes must hand back consistent items. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "zmq/zpub.h"
#include "zmq/zrpc.h"

static void check_item(int r, struct tt_pub_item *it, const char *err)
{
    if (r < 0) {
        ENSURE(r == TT_EPARSE || r == TT_ETOOBIG);
        ENSURE(err[0] != '\0');
        ENSURE(it->channel == NULL);
        return;
    }
    /* No known format is fine: Pushpin accepts {"formats": {"unknown": ..}} too. */
    ENSURE(it->channel != NULL);
    tt_pub_item_deinit(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct tt_pub_item it;
    char err[512];

    err[0] = '\0';
    check_item(tt_zpub_decode_pull(s, size, NULL, &it, err, sizeof(err)), &it, err);

    if (size > 0) {
        size_t tlen = TT_MIN((size_t)data[0] % 16, size - 1);
        err[0] = '\0';
        int r = tt_zpub_decode_sub(s + 1, tlen, s + 1 + tlen, size - 1 - tlen, NULL, &it, err,
                                   sizeof(err));
        if (r == 0 && tlen > 0)
            ENSURE(strlen(it.channel) == tlen && memcmp(it.channel, s + 1, tlen) == 0);
        check_item(r, &it, err);
    }

    struct tt_zrpc_request req;
    err[0] = '\0';
    if (tt_zrpc_request_decode(s, size, NULL, &req, err, sizeof(err)) == 0) {
        ENSURE(req.method && json_is_object(req.args));
        struct tt_pub_item *items;
        size_t n;
        if (tt_zpub_items_from_args(req.args, &items, &n, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < n; i++)
                ENSURE(items[i].channel != NULL);
            tt_pub_items_free(items, n);
        } else {
            ENSURE(strncmp(err, "Invalid format", 14) == 0);
        }
        struct tt_buf b;
        tt_buf_init(&b, 0);
        ENSURE(tt_zrpc_response_encode(req.id, req.id_len, NULL, req.args, &b) == 0);
        struct tt_zrpc_response resp;
        ENSURE(tt_zrpc_response_decode(b.data, b.len, NULL, &resp, err, sizeof(err)) == 0);
        ENSURE(resp.success && json_is_object(resp.value));
        tt_zrpc_response_deinit(&resp);
        tt_buf_deinit(&b);
        tt_zrpc_request_deinit(&req);
    } else {
        ENSURE(strncmp(err, "invalid format (", 16) == 0);
    }
    return 0;
}

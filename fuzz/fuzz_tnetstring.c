/* fuzz_tnetstring.c: tt_tnet_parse on arbitrary bytes. The error code must agree with the
 * return value; whatever parses must serialize, parse back to a tree that serializes to
 * the same bytes (parse(serialize(parse(x))) is stable), and consume exactly what was
 * serialized. Small limits are tried as well so the caps are exercised. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "zmq/tnetstring.h"

static void check_error(int r, const struct tt_tnet_error *e, size_t size)
{
    switch (e->code) {
    case TT_TNET_OK:
        ENSURE(r > 0 && (size_t)r <= size);
        break;
    case TT_TNET_TRUNCATED:
        ENSURE(r == TT_EAGAIN);
        break;
    case TT_TNET_TOO_BIG:
    case TT_TNET_TOO_DEEP:
    case TT_TNET_TOO_MANY:
        ENSURE(r == TT_ETOOBIG);
        break;
    default:
        ENSURE(r == TT_EPARSE);
    }
    if (r < 0)
        ENSURE(e->offset <= size);
}

static void round_trip(json_t *v)
{
    struct tt_buf b1, b2;
    tt_buf_init(&b1, 0);
    tt_buf_init(&b2, 0);
    ENSURE(tt_tnet_serialize(v, &b1) == 0);
    json_t *v2 = NULL;
    struct tt_tnet_error e;
    int r = tt_tnet_parse(b1.data, b1.len, NULL, &v2, &e);
    ENSURE(r >= 0 && (size_t)r == b1.len && v2);
    ENSURE(json_typeof(v2) == json_typeof(v));
    ENSURE(tt_tnet_serialize(v2, &b2) == 0);
    ENSURE(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    json_decref(v2);
    tt_buf_deinit(&b1);
    tt_buf_deinit(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = NULL;
    struct tt_tnet_error e;
    int r = tt_tnet_parse((const char *)data, size, NULL, &v, &e);
    check_error(r, &e, size);
    if (r > 0) {
        ENSURE(v != NULL);
        round_trip(v);
        json_decref(v);
    } else {
        ENSURE(v == NULL);
    }
    struct tt_tnet_limits small = {.max_size = 64, .max_depth = 3, .max_elements = 8};
    r = tt_tnet_parse((const char *)data, size, &small, &v, &e);
    check_error(r, &e, size);
    if (r > 0) {
        round_trip(v);
        json_decref(v);
    }
    return 0;
}

/* fuzz_ws_utf8.c: the incremental UTF-8 validator agrees with the one-shot check however
 * the text is split (byte 0 seeds the split points), reports the first bad byte, and
 * tt_ws_utf8_cut never splits a character of valid text. */
#include "fuzz.h"
#include "ws/utf8.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned seed = data[0];
    const uint8_t *text = data + 1;
    size_t len = size - 1;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    bool valid = tt_ws_utf8_valid(copy, len);

    struct tt_ws_utf8 u;
    tt_ws_utf8_init(&u);
    size_t off = 0;
    bool ok = true;
    size_t bad = 0;
    while (off < len) {
        size_t step = 1 + (seed = seed * 1103515245u + 12345u) % 7;
        if (step > len - off)
            step = len - off;
        size_t at = 0;
        if (tt_ws_utf8_feed(&u, copy + off, step, &at) < 0) {
            ENSURE(at < step);
            bad = off + at;
            ok = false;
            break;
        }
        off += step;
    }
    if (ok)
        ENSURE(valid == tt_ws_utf8_complete(&u));
    else {
        ENSURE(!valid);
        /* Everything before the bad byte was acceptable so far. */
        struct tt_ws_utf8 v;
        tt_ws_utf8_init(&v);
        ENSURE(tt_ws_utf8_feed(&v, copy, bad, NULL) == 0);
    }
    if (valid) {
        for (size_t cap = 0; cap <= len && cap < 200; cap++) {
            size_t n = tt_ws_utf8_cut(copy, cap);
            ENSURE(n <= cap);
            ENSURE(tt_ws_utf8_valid(copy, n));
            ENSURE(cap - n < 4);
        }
    }
    free(copy);
    return 0;
}

/* fuzz_h1_chunked.c: the chunked decoder must give the same result (bytes consumed, data,
 * done, or error) however the input is split. The first 4 bytes seed the split sizes;
 * every piece is copied into its own exact-size block so ASan sees any overread. */
#include "fuzz.h"
#include "http/h1.h"

#include <stdlib.h>
#include <string.h>

struct outcome {
    ssize_t consumed; /* or TT_EPARSE */
    bool done;
    size_t out_len;
};

/* split 0: whole input per call; otherwise pseudo-random piece sizes from the seed. */
static struct outcome run(const char *in, size_t len, uint32_t seed, bool split, char *out)
{
    struct tt_h1_chunked c;
    tt_h1_chunked_init(&c);
    struct outcome o = {0, false, 0};
    size_t off = 0;
    while (off < len && !c.done) {
        size_t piece = len - off;
        if (split) {
            seed = seed * 1103515245u + 12345u;
            size_t pick = (seed >> 16) & 0xff;
            /* Mostly tiny pieces, sometimes larger ones. */
            size_t want = pick < 200 ? 1 + pick % 4 : 1 + pick * 4;
            if (want < piece)
                piece = want;
        }
        char *blk = malloc(piece);
        memcpy(blk, in + off, piece);
        size_t used = 0;
        while (used < piece && !c.done) {
            const char *d = NULL;
            size_t dl = 0;
            ssize_t r = tt_h1_chunked_step(&c, blk + used, piece - used, &d, &dl);
            if (r < 0) {
                ENSURE(r == TT_EPARSE);
                free(blk);
                o.consumed = r;
                return o;
            }
            ENSURE(r > 0); /* progress on non-empty input until done */
            ENSURE((size_t)r <= piece - used);
            if (dl) {
                ENSURE(d >= blk + used && d + dl <= blk + used + (size_t)r);
                memcpy(out + o.out_len, d, dl);
                o.out_len += dl;
            }
            used += (size_t)r;
        }
        free(blk);
        off += used;
    }
    if (c.done) {
        const char *d;
        size_t dl;
        ENSURE(tt_h1_chunked_step(&c, "0\r\n", 3, &d, &dl) == 0 && dl == 0);
    }
    o.consumed = (ssize_t)off;
    o.done = c.done;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > 262144)
        return 0;
    uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                    (uint32_t)data[3] << 24;
    const char *in = (const char *)data + 4;
    size_t len = size - 4;
    char *out1 = malloc(len + 1), *out2 = malloc(len + 1);
    struct outcome a = run(in, len, seed, false, out1);
    struct outcome b = run(in, len, seed, true, out2);
    /* Data is a subset of the input, so never longer than what was consumed. */
    ENSURE(a.consumed == b.consumed && a.done == b.done);
    if (a.consumed >= 0) {
        ENSURE(a.out_len == b.out_len && memcmp(out1, out2, a.out_len) == 0);
        ENSURE(a.out_len <= (size_t)a.consumed);
    }
    free(out1);
    free(out2);
    return 0;
}

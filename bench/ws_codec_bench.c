/* ws_codec_bench.c: the cost of the WebSocket codec on its hot paths, in ns per operation:
 * parsing client frames (masked, unmasked in place, text validated), rendering a published
 * frame once, compressing a published message once, inflating a client message, and
 * the UTF-8 check alone. Built and run by `make bench-ws-codec` (not by `make check`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws/deflate.h"
#include "ws/frame.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const uint8_t MASK[4] = {1, 2, 3, 4};
static volatile size_t sink;

/* A buffer of n masked text frames of `size` bytes each, parsed again and again. */
static void bench_parse(size_t size, size_t n, int rounds)
{
    uint8_t *payload = malloc(size);
    for (size_t i = 0; i < size; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    size_t flen = TT_WS_MAX_HEADER + size;
    uint8_t *wire = malloc(flen * n), *work = malloc(flen * n);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)tt_ws_frame_render(wire + len, flen, TT_WS_OP_TEXT, false, payload, size,
                                          MASK);
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        memcpy(work, wire, len); /* parsing unmasks in place */
        struct tt_ws_parser p;
        tt_ws_parser_init(&p, TT_WS_ROLE_SERVER, 1 << 24, 1 << 24);
        double t0 = now_ns();
        size_t off = 0;
        while (off < len) {
            struct tt_ws_frame f;
            struct tt_ws_error e;
            ssize_t k = tt_ws_parser_next(&p, work + off, len - off, &f, &e);
            if (k <= 0)
                abort();
            sink += f.payload_len;
            off += (size_t)k;
        }
        double dt = (now_ns() - t0) / (double)n;
        if (dt < best)
            best = dt;
    }
    printf("parse masked text frame %6zu B: %9.1f ns/frame  %6.2f GB/s\n", size, best,
           (double)size / best);
    free(payload);
    free(wire);
    free(work);
}

static void bench_render(size_t size, int n)
{
    uint8_t *payload = calloc(1, size);
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *f = tt_ws_frame_render_alloc(TT_WS_OP_TEXT, false, payload, size, &len);
        sink += len;
        free(f);
    }
    printf("render published frame  %6zu B: %9.1f ns/message (once, shared by all)\n", size,
           (now_ns() - t0) / n);
    free(payload);
}

static void bench_deflate(size_t size, int n)
{
    char *msg = malloc(size);
    for (size_t i = 0; i < size; i++)
        msg[i] = "{\"user\":\"alice\",\"text\":\"hello there\",\"n\":12345}"[i % 48];
    struct tt_ws_deflater d;
    struct tt_ws_inflater in;
    tt_ws_deflater_init(&d, -1);
    tt_ws_inflater_init(&in);
    size_t flen = 0;
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        uint8_t *f = tt_ws_deflate_frame(&d, TT_WS_OP_TEXT, msg, size, &flen);
        sink += flen;
        free(f);
    }
    double dt = (now_ns() - t0) / n;
    struct tt_buf c;
    tt_buf_init(&c, 0);
    tt_ws_deflate(&d, msg, size, &c);
    struct tt_buf out;
    tt_buf_init(&out, 0);
    double t1 = now_ns();
    for (int i = 0; i < n; i++) {
        out.len = 0;
        if (tt_ws_inflate(&in, (uint8_t *)c.data, c.len, size, &out) != 0)
            abort();
    }
    double it = (now_ns() - t1) / n;
    printf("deflate frame once      %6zu B: %9.1f ns/message (%zu B on the wire); "
           "inflate: %.1f ns\n",
           size, dt, flen, it);
    tt_buf_deinit(&c);
    tt_buf_deinit(&out);
    tt_ws_deflater_deinit(&d);
    tt_ws_inflater_deinit(&in);
    free(msg);
}

static void bench_utf8(void)
{
    size_t n = 1 << 20;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    double t0 = now_ns();
    for (int i = 0; i < 50; i++)
        sink += tt_ws_utf8_valid(s, n);
    double ascii = (double)n * 50 / (now_ns() - t0);
    for (size_t i = 0; i + 2 <= n; i += 2)
        memcpy(s + i, "\xc3\xa9", 2);
    t0 = now_ns();
    for (int i = 0; i < 50; i++)
        sink += tt_ws_utf8_valid(s, n);
    double multi = (double)n * 50 / (now_ns() - t0);
    printf("utf-8 validation: %.2f GB/s ASCII, %.2f GB/s two-byte text\n", ascii, multi);
    free(s);
}

int main(void)
{
    bench_parse(16, 100000, 20);
    bench_parse(125, 100000, 20);
    bench_parse(1024, 20000, 20);
    bench_parse(65536, 200, 20);
    bench_render(16, 1000000);
    bench_render(1024, 1000000);
    bench_deflate(256, 20000);
    bench_deflate(4096, 5000);
    bench_utf8();
    return sink == 42;
}

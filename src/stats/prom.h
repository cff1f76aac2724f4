/* prom.h: the Prometheus endpoint: a minimal HTTP/1.x server that answers any request
 * with the text exposition a callback renders (as Pushpin's SimpleHttpServer does for
 * prometheus_port: any path, Content-Type text/plain, Connection: close).
 *
 * Listens on "[addr:]port" (no addr: all interfaces, as Pushpin) or "ipc://<path>" (a
 * Unix socket, replaced if it exists). A request head must arrive within 10 s and fit in
 * 8192 bytes; at most 64 connections are open at once (more are closed at accept).
 * Owner: the caller until tt_prom_stop, which frees once the handles have closed.
 * Thread: the loop's. */
#ifndef TT_STATS_PROM_H
#define TT_STATS_PROM_H

#include <uv.h>

#include "core/buf.h"

struct tt_prom;

typedef void (*tt_prom_render_fn)(void *ctx, struct tt_buf *out);

/* Returns 0, or a negative code (-EADDRINUSE, -EINVAL for a bad spec...). */
int tt_prom_start(uv_loop_t *loop, const char *spec, tt_prom_render_fn render, void *ctx,
                  struct tt_prom **out);
void tt_prom_stop(struct tt_prom *p);

#endif

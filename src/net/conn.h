/* conn.h: a non-blocking socket in the worker's poller (net/poller.h), with an output
 * queue of slices.
 *
 * Reads go into a caller buffer (the worker's scratch buffer), so an idle connection holds
 * no input buffer. Writes are attempted at once with writev; only on EAGAIN is the rest kept
 * and UV_WRITABLE armed; the owner's io callback then calls tt_conn_flush. A slice may
 * reference a shared block (one reference held until written) or own a malloc'd block.
 * Owner: the struct is embedded in its owner (client or backend connection); tt_conn_close
 * closes the fd and calls close_cb on a later loop turn -- free the owner there, never
 * inside an io callback. Thread: the worker that created it.
 *
 * Virtual mode (tt_conn_init_virtual): no socket. The owner writes into the same queue of
 * slices, but flush, set_read and close go to a vtable (an HTTP/2 stream carries the bytes,
 * src/h2/), and so do reads. The real-socket path pays one pointer test for it. */
#ifndef TT_CONN_H
#define TT_CONN_H

#include <openssl/ssl.h>
#include <uv.h>

#include "core/common.h"
#include "core/shared.h"
#include "net/poller.h"

struct tt_slice {
    const char *data;
    size_t len;
    struct tt_shared *shared; /* reference held, or NULL */
    char *owned;        /* freed after write, or NULL */
};

struct tt_conn;
/* What a virtual connection does instead of a socket. */
struct tt_conn_vops {
    /* Output was queued (tt_conn_flush with a non-empty queue). Returns 0 if the queue is
     * empty, else TT_EAGAIN: the bytes leave when they can, and the owner's on_io gets
     * UV_WRITABLE after some have left (as for a socket that was not writable). */
    int (*flush)(struct tt_conn *c);
    /* The owner wants input (on) or not (off): flow control towards the peer. */
    void (*set_read)(struct tt_conn *c, bool on);
    /* The owner closes. The callee may take the queued slices (tt_conn_move_output);
     * whatever is left is released after the call. close_cb comes on a later loop turn,
     * as for a socket. */
    void (*close)(struct tt_conn *c);
    /* Input for the owner (tt_conn_read): bytes, or TT_EAGAIN. 0 only for a tunnel (an
     * HTTP/2 WebSocket whose peer ended its side); otherwise the stream's end is in the
     * bytes themselves (HTTP framing), and an abort closes the owner. */
    ssize_t (*read)(struct tt_conn *c, char *buf, size_t len);
};

/* events: UV_READABLE / UV_WRITABLE bits; status < 0 on a poll error. */
typedef void (*tt_conn_io_fn)(struct tt_conn *c, int status, int events);
typedef void (*tt_conn_close_fn)(struct tt_conn *c);

struct tt_conn {
    struct tt_pollfd pfd;     /* pfd.fd: the socket, -1 once closed and in virtual mode */
    struct tt_poller *poller; /* the worker's (NULL in virtual mode) */
    void *data;               /* free for the owner */
    SSL *ssl;                 /* TLS when not NULL (owned) */
    tt_conn_io_fn on_io;
    tt_conn_close_fn on_close;
    /* Output queue: a ring of slices. One slice lives in `one` (out == NULL): a held
     * connection's delivery is usually a single shared slice written at once, so an idle
     * connection keeps no ring and a delivery allocates none. More slices move the ring to
     * the heap (out, out_alloc), which is freed again when the queue drains. */
    struct tt_slice *out;
    uint32_t out_head, out_count, out_alloc;
    /* Beside the ring's counters, where they cost no padding (every connection has one). */
    bool want_read;      /* owner wants UV_READABLE */
    bool closing;
    bool eof;            /* read side saw EOF */
    bool ssl_want_write; /* TLS handshake/read needs writability */
    size_t out_bytes;
    struct tt_slice one;
    const struct tt_conn_vops *vops; /* virtual mode when not NULL */
    void *vctx;                      /* the vtable's (borrowed) */
};

/* The socket, or -1 (closed, or a virtual connection). */
static inline int tt_conn_fd(const struct tt_conn *c)
{
    return c->pfd.fd;
}

int tt_conn_init(struct tt_poller *p, struct tt_conn *c, int fd, tt_conn_io_fn on_io);
/* A virtual connection (see above); on_io is called by the vtable's side. Its close
 * callback comes on a later loop turn too (through the poller). */
void tt_conn_init_virtual(struct tt_poller *p, struct tt_conn *c, const struct tt_conn_vops *vops,
                          void *vctx, tt_conn_io_fn on_io);
/* Arm or disarm reading. */
void tt_conn_set_read(struct tt_conn *c, bool on);
/* read() into buf. Returns bytes (>0), 0 at EOF, TT_EAGAIN, or -errno. */
ssize_t tt_conn_read(struct tt_conn *c, char *buf, size_t len);
/* Queue bytes: copied (tt_conn_write), borrowed from a shared block (ref taken), or a malloc'd
 * block whose ownership passes to the queue. Nothing is written until tt_conn_flush. */
void tt_conn_write(struct tt_conn *c, const void *data, size_t len);
void tt_conn_write_shared(struct tt_conn *c, struct tt_shared *sh, const char *data, size_t len);
void tt_conn_write_owned(struct tt_conn *c, char *block, const char *data, size_t len);
/* Write as much as the socket takes. 0 = queue empty; TT_EAGAIN = data left and
 * UV_WRITABLE armed; -errno on a write error (queue left for close to free). */
int tt_conn_flush(struct tt_conn *c);
/* Drop every queued slice (e.g. a stalled subscriber being cut). */
void tt_conn_discard_output(struct tt_conn *c);
/* The i-th queued slice from the front (i < out_count), for a vtable that writes the
 * queue itself; tt_conn_consume drops n bytes from the front (releasing slices). */
struct tt_slice *tt_conn_out_at(struct tt_conn *c, uint32_t i);
void tt_conn_consume(struct tt_conn *c, size_t n);
/* Move every queued slice of src to dst (whose queue is empty), leaving src's empty. */
void tt_conn_move_output(struct tt_conn *dst, struct tt_conn *src);
/* Release every queued slice and the ring (a connection that is not closed through
 * tt_conn_close, such as a queue kept after its owner left). */
void tt_conn_free_output(struct tt_conn *c);
void tt_conn_close(struct tt_conn *c, tt_conn_close_fn on_close);
/* A virtual connection whose stream has been handed to another owner: closed as by
 * tt_conn_close (queued slices released, close_cb on a later loop turn) without telling
 * the vtable. */
void tt_conn_close_detached(struct tt_conn *c, tt_conn_close_fn on_close);

/* Create a non-blocking, close-on-exec TCP socket and start connect(). Returns fd or
 * -errno; the connect completes (or fails) when the socket becomes writable: then call
 * tt_conn_connect_result. */
int tt_socket_connect(const struct sockaddr *addr, socklen_t len);
int tt_conn_connect_result(struct tt_conn *c);

#endif

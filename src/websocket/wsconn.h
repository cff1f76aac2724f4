/* wsconn.h: WebSocket messages over one socket, either role: frames in, whole messages out.
 *
 * The socket (struct tt_conn) belongs to someone else: the client connection for the
 * client side, a backend connection for passthrough. When it is readable its owner calls
 * tt_wsconn_read, which reads into the worker's scratch buffer and parses frames; only a
 * partial frame (or a fragmented message in progress) is kept between reads, so an idle
 * connection holds no buffer. Data messages are assembled and, with permessage-deflate,
 * inflated (with the worker's shared inflater) before ops->message sees them; pings and
 * pongs are handed up too (Pushpin relays them rather than answering). Protocol errors send
 * the close frame the codec names (1002, 1007, 1009) and report failed.
 *
 * Callbacks may tear the owner down: the owner then sets w->dead (its memory must stay
 * valid until the current callback returns; owners free on a later loop turn) and
 * tt_wsconn_read returns at once.
 * Writes are queued on the socket: the owner flushes (the client side once per loop
 * iteration, a backend side at once). Thread: the worker's. */
#ifndef TT_WSCONN_H
#define TT_WSCONN_H

#include "core/buf.h"
#include "core/shared.h"
#include "net/conn.h"
#include "ws/deflate.h"
#include "ws/frame.h"

struct tt_wsconn_ops {
    /* A whole TEXT or BINARY message (inflated), or a PING or PONG. Valid during the call. */
    void (*message)(void *ctx, unsigned opcode, const uint8_t *data, size_t len);
    /* The peer's close frame; code TT_WS_CLOSE_NO_STATUS when it had none. */
    void (*closed)(void *ctx, unsigned code, const uint8_t *reason, size_t len);
    /* The connection is unusable: a protocol error (close_code > 0: we sent that close),
     * the peer vanished (EOF without a close frame) or a socket error (close_code 0). */
    void (*failed)(void *ctx, int close_code, const char *why);
    /* Asked before each frame: true stops reading until tt_wsconn_resume (backpressure). */
    bool (*congested)(void *ctx);
};

struct tt_wsconn {
    struct tt_conn *conn; /* borrowed */
    const struct tt_wsconn_ops *ops;
    void *ctx;
    struct tt_ws_parser parser;
    struct tt_ws_assembler assembler;
    struct tt_ws_inflater *inflater; /* the worker's, or NULL without deflate */
    struct tt_buf in;                /* unparsed bytes of a partial frame; empty when idle */
    size_t max_message;
    bool client_role;    /* we opened it: our frames are masked */
    bool deflate;        /* permessage-deflate negotiated */
    bool close_sent;     /* our close frame is queued */
    bool close_received; /* theirs arrived */
    bool paused;         /* stopped by congestion */
    bool dead;           /* set by the owner when it tears down inside a callback */
    uint64_t frames_in, frames_out;
};

/* inflater: the worker's shared one when deflate was negotiated, else NULL. */
void tt_wsconn_init(struct tt_wsconn *w, struct tt_conn *conn, bool client_role,
                    size_t max_message, struct tt_ws_inflater *inflater,
                    const struct tt_wsconn_ops *ops, void *ctx);
void tt_wsconn_deinit(struct tt_wsconn *w);
/* Bytes that arrived with the handshake (after its head): parse them first. */
void tt_wsconn_feed(struct tt_wsconn *w, const char *data, size_t len);
/* The socket is readable: read and dispatch (into scratch, the worker's buffer). */
void tt_wsconn_read(struct tt_wsconn *w, char *scratch, size_t scratch_size);
/* Go on after congestion cleared: dispatch what is buffered, then read again. */
void tt_wsconn_resume(struct tt_wsconn *w);
/* Queue a whole message as one frame (copied; masked in the client role). Control frames
 * are cut to 125 bytes. Nothing is sent after our close frame. */
void tt_wsconn_send(struct tt_wsconn *w, unsigned opcode, const void *data, size_t len);
/* Queue a frame rendered once for many connections (server role only; a reference on sh
 * is held until it is written). */
void tt_wsconn_send_shared(struct tt_wsconn *w, struct tt_shared *sh, const uint8_t *frame,
                           size_t len);
/* Queue our close frame (once): code < 0 sends none. */
void tt_wsconn_close(struct tt_wsconn *w, int code, const void *reason, size_t len);

#endif

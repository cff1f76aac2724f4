/* wsconn.c: see wsconn.h. */
#include "websocket/wsconn.h"

#include <openssl/rand.h>
#include <stdlib.h>

#include "core/log.h"

#define READ_ROUNDS 8

static void reset_in(struct tt_wsconn *w)
{
    size_t cap = w->in.cap;
    tt_buf_deinit(&w->in);
    tt_buf_init(&w->in, cap);
}

void tt_wsconn_init(struct tt_wsconn *w, struct tt_conn *conn, bool client_role,
                    size_t max_message, struct tt_ws_inflater *inflater,
                    const struct tt_wsconn_ops *ops, void *ctx)
{
    memset(w, 0, sizeof(*w));
    w->conn = conn;
    w->ops = ops;
    w->ctx = ctx;
    w->client_role = client_role;
    w->max_message = max_message;
    w->inflater = inflater;
    w->deflate = inflater != NULL;
    tt_ws_parser_init(&w->parser, client_role ? TT_WS_ROLE_CLIENT : TT_WS_ROLE_SERVER,
                      max_message, max_message);
    tt_ws_parser_set_deflate(&w->parser, w->deflate);
    tt_ws_assembler_init(&w->assembler, max_message);
    /* A partial frame is at most one header and one frame's payload. */
    tt_buf_init(&w->in, max_message + TT_WS_MAX_HEADER);
}

void tt_wsconn_deinit(struct tt_wsconn *w)
{
    tt_ws_assembler_release(&w->assembler);
    tt_buf_deinit(&w->in);
}

/* Render one frame into a malloc'd block and queue it. */
static void queue_frame(struct tt_wsconn *w, unsigned opcode, const void *data, size_t len)
{
    uint8_t mask[4], *mp = NULL;
    if (w->client_role) {
        if (tt_ws_mask_key(RAND_bytes, mask) != 0) {
            /* Without randomness a client frame cannot be masked safely. */
            tt_err("websocket: no random bytes for a frame mask");
            abort();
        }
        mp = mask;
    }
    size_t cap = len + TT_WS_MAX_HEADER;
    uint8_t *b = tt_malloc(cap);
    ssize_t n = tt_ws_frame_render(b, cap, opcode, false, data, len, mp);
    tt_conn_write_owned(w->conn, (char *)b, (const char *)b, (size_t)n);
    w->frames_out++;
}

void tt_wsconn_send(struct tt_wsconn *w, unsigned opcode, const void *data, size_t len)
{
    if (w->close_sent)
        return;
    if (opcode >= TT_WS_OP_CLOSE && len > TT_WS_MAX_CONTROL)
        len = TT_WS_MAX_CONTROL;
    queue_frame(w, opcode, data, len);
}

void tt_wsconn_send_shared(struct tt_wsconn *w, struct tt_shared *sh, const uint8_t *frame,
                           size_t len)
{
    if (w->close_sent || w->client_role)
        return;
    tt_conn_write_shared(w->conn, sh, (const char *)frame, len);
    w->frames_out++;
}

void tt_wsconn_close(struct tt_wsconn *w, int code, const void *reason, size_t len)
{
    if (w->close_sent)
        return;
    uint8_t payload[TT_WS_MAX_CONTROL];
    size_t n = 0;
    if (code >= 0)
        n = tt_ws_close_payload(payload, code, reason, len);
    queue_frame(w, TT_WS_OP_CLOSE, payload, n);
    w->close_sent = true;
}

static void fail(struct tt_wsconn *w, const struct tt_ws_error *err)
{
    tt_debug("websocket: protocol error from %s: %s (close %u)",
             w->client_role ? "backend" : "client", err->reason, err->close_code);
    tt_wsconn_close(w, err->close_code, err->reason, strlen(err->reason));
    w->ops->failed(w->ctx, err->close_code, err->reason);
}

/* A complete data message: inflate when it was compressed, check UTF-8 of text that was,
 * and hand it up. */
static void deliver(struct tt_wsconn *w, unsigned opcode, const uint8_t *data, size_t len,
                    bool compressed)
{
    if (!compressed) {
        w->ops->message(w->ctx, opcode, data, len);
        return;
    }
    struct tt_buf out;
    tt_buf_init(&out, 0);
    int r = w->inflater ? tt_ws_inflate(w->inflater, data, len, w->max_message, &out) : TT_EPARSE;
    struct tt_ws_error err = {0};
    if (r == TT_ETOOBIG)
        err = (struct tt_ws_error){TT_WS_CLOSE_TOO_BIG, "message too big"};
    else if (r != 0)
        err = (struct tt_ws_error){TT_WS_CLOSE_BAD_DATA, "bad compressed data"};
    else if (opcode == TT_WS_OP_TEXT && !tt_ws_utf8_valid(out.data, out.len))
        err = (struct tt_ws_error){TT_WS_CLOSE_BAD_DATA, "invalid UTF-8 in text"};
    if (err.close_code)
        fail(w, &err);
    else
        w->ops->message(w->ctx, opcode, (const uint8_t *)out.data, out.len);
    tt_buf_deinit(&out);
}

/* Dispatch every complete frame of buf[0..len); returns bytes consumed, or -1 when the
 * connection failed or the owner went away. */
static ssize_t dispatch(struct tt_wsconn *w, uint8_t *buf, size_t len)
{
    size_t used = 0;
    while (used < len && !w->dead) {
        if (w->ops->congested && w->ops->congested(w->ctx)) {
            w->paused = true;
            tt_conn_set_read(w->conn, false);
            break;
        }
        struct tt_ws_frame f;
        struct tt_ws_error err;
        ssize_t n = tt_ws_parser_next(&w->parser, buf + used, len - used, &f, &err);
        if (n == TT_EAGAIN)
            break;
        if (n < 0) {
            fail(w, &err);
            return -1;
        }
        used += (size_t)n;
        w->frames_in++;
        if (w->close_received)
            continue; /* nothing counts after the peer's close */
        if (f.opcode == TT_WS_OP_CLOSE) {
            w->close_received = true;
            w->ops->closed(w->ctx, f.close_code, f.close_reason, f.close_reason_len);
            continue;
        }
        if (f.opcode == TT_WS_OP_PING || f.opcode == TT_WS_OP_PONG) {
            w->ops->message(w->ctx, f.opcode, f.payload, f.payload_len);
            continue;
        }
        const uint8_t *msg;
        size_t mlen;
        uint8_t op;
        bool compressed;
        int r = tt_ws_assembler_feed(&w->assembler, &f, &msg, &mlen, &op, &compressed);
        if (r < 0) {
            struct tt_ws_error e = {r == TT_ETOOBIG ? TT_WS_CLOSE_TOO_BIG : TT_WS_CLOSE_PROTOCOL,
                                    r == TT_ETOOBIG ? "message too big" : "bad fragmentation"};
            fail(w, &e);
            return -1;
        }
        if (r == 1) {
            deliver(w, op, msg, mlen, compressed);
            tt_ws_assembler_release(&w->assembler);
        }
    }
    return w->dead ? -1 : (ssize_t)used;
}

/* Parse what is buffered in w->in; keep the rest. Returns false if gone. */
static bool dispatch_buffered(struct tt_wsconn *w)
{
    if (!w->in.len)
        return true;
    ssize_t used = dispatch(w, (uint8_t *)w->in.data, w->in.len);
    if (used < 0)
        return false;
    tt_buf_consume(&w->in, (size_t)used);
    if (!w->in.len)
        reset_in(w);
    return true;
}

void tt_wsconn_feed(struct tt_wsconn *w, const char *data, size_t len)
{
    if (!len)
        return;
    if (tt_buf_append(&w->in, data, len) != 0) {
        struct tt_ws_error e = {TT_WS_CLOSE_TOO_BIG, "frame too big"};
        fail(w, &e);
        return;
    }
    dispatch_buffered(w);
}

void tt_wsconn_read(struct tt_wsconn *w, char *scratch, size_t scratch_size)
{
    /* TLS: plaintext OpenSSL already holds (a record read in part) raises no poll event,
     * so it is always taken before returning. */
    for (int round = 0;
         (round < READ_ROUNDS || (w->conn->ssl && SSL_pending(w->conn->ssl) > 0)) && !w->paused &&
         !w->dead;
         round++) {
        /* Behind a partial frame, read no more than its buffer has room for: the frame
         * fits (the parser refused larger ones at their header), and the bytes of the
         * frames after it wait in the socket instead of overflowing the cap. */
        size_t want = scratch_size;
        if (w->in.len && w->in.cap - w->in.len < want)
            want = w->in.cap - w->in.len;
        if (want == 0) {
            struct tt_ws_error e = {TT_WS_CLOSE_TOO_BIG, "frame too big"};
            fail(w, &e);
            return;
        }
        ssize_t n = tt_conn_read(w->conn, scratch, want);
        if (n == TT_EAGAIN)
            return;
        if (n <= 0) {
            w->ops->failed(w->ctx, 0, n == 0 ? "peer closed the connection" : tt_strerror((int)n));
            return;
        }
        if (w->in.len) {
            /* Behind a partial frame: join it there (the parser needs the frame whole). */
            if (tt_buf_append(&w->in, scratch, (size_t)n) != 0) {
                struct tt_ws_error e = {TT_WS_CLOSE_TOO_BIG, "frame too big"};
                fail(w, &e);
                return;
            }
            if (!dispatch_buffered(w))
                return;
        } else {
            ssize_t used = dispatch(w, (uint8_t *)scratch, (size_t)n);
            if (used < 0)
                return;
            if ((size_t)used < (size_t)n &&
                tt_buf_append(&w->in, scratch + used, (size_t)n - (size_t)used) != 0) {
                struct tt_ws_error e = {TT_WS_CLOSE_TOO_BIG, "frame too big"};
                fail(w, &e);
                return;
            }
        }
        if ((size_t)n < want && !w->conn->ssl)
            return; /* drained: level-triggered polling calls again */
    }
}

void tt_wsconn_resume(struct tt_wsconn *w)
{
    if (!w->paused || w->dead)
        return;
    w->paused = false;
    if (!dispatch_buffered(w) || w->paused)
        return;
    tt_conn_set_read(w->conn, true);
}

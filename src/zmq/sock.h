/* sock.h: ZeroMQ sockets driven by a libuv loop.
 *
 * Each socket is watched with a uv_poll on its ZMQ_FD. That descriptor only signals a
 * change of state, and the signal is consumed by any operation on the socket, so the
 * socket is processed until ZMQ_EVENTS shows nothing left to do: every readable message
 * is received (up to a budget per loop iteration; the rest is picked up on the next one
 * through an idle handle, because the descriptor will not signal again), and after every
 * send, subscription change or resume, ZMQ_EVENTS is read again before the loop sleeps.
 *
 * Sends never block. A message libzmq refuses at its high-water mark (EAGAIN) waits in
 * the socket's own queue, bounded by message count and bytes; over the bound it is
 * dropped and counted. Received messages with more parts than max_parts are dropped and
 * counted without reaching the callback. Callbacks may send on any socket, pause, or
 * close the socket they were called for.
 *
 * Every socket holds a reference on one process-wide ZeroMQ context, which is terminated
 * when the last socket has been freed.
 * Owner: the caller owns a socket until tt_zmq_sock_close; the socket frees itself once
 * its handles have closed (the loop must keep running until then). Thread: the thread
 * that runs the loop given to tt_zmq_sock_new, only. */
#ifndef TT_ZMQ_SOCK_H
#define TT_ZMQ_SOCK_H

#include <uv.h>

#include "core/common.h"
#include "zmq/part.h"

struct tt_zmq_sock;

/* One received message; parts are valid until the callback returns. */
typedef void (*tt_zmq_recv_fn)(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n,
                               void *ctx);

struct tt_zmq_sock_opts {
    int type;             /* ZMQ_PULL, ZMQ_SUB, ZMQ_ROUTER, ZMQ_DEALER, ZMQ_PUSH, ZMQ_PUB... */
    int sndhwm;           /* 0 = libzmq's default (1000); -1 = no limit */
    int rcvhwm;           /* same */
    int64_t maxmsgsize;   /* ZMQ_MAXMSGSIZE: a peer sending more is disconnected; -1 = none */
    int linger_ms;        /* time pending output may take at close */
    size_t max_parts;     /* 0 = 16 */
    size_t queue_max;     /* our send queue, messages; 0 = 1000 */
    size_t queue_bytes;   /* our send queue, bytes; 0 = 16 MiB */
    const char *identity; /* ZMQ_ROUTING_ID or NULL */
    size_t identity_len;
    bool tcp_keepalive; /* idle 30 s, 6 probes 5 s apart (as Pushpin's connect-mode SUB) */
    bool immediate;     /* ZMQ_IMMEDIATE: queue only to completed connections */
};

struct tt_zmq_sock_stats {
    uint64_t received;     /* messages given to the callback */
    uint64_t sent;         /* messages handed to libzmq */
    uint64_t queued;       /* messages that had to wait in our queue */
    uint64_t send_dropped; /* messages dropped: our queue full, or libzmq refused them */
    uint64_t recv_dropped; /* messages dropped for too many parts */
};

/* Create a socket (not yet bound, connected or polled). Returns 0 or a negative errno
 * (from zmq_socket/zmq_setsockopt; e.g. -EINVAL for a bad type). on_recv may be NULL for
 * send-only sockets. */
int tt_zmq_sock_new(uv_loop_t *loop, const struct tt_zmq_sock_opts *opts, tt_zmq_recv_fn on_recv,
                    void *ctx, struct tt_zmq_sock **out);

/* Bind or connect to one endpoint. Returns 0 or a negative errno (-EADDRINUSE,
 * -EPROTONOSUPPORT for an unknown transport, -EINVAL for a malformed endpoint, -ENOENT
 * for an ipc path whose directory does not exist...). Before or after start. */
int tt_zmq_sock_bind(struct tt_zmq_sock *s, const char *endpoint);
int tt_zmq_sock_connect(struct tt_zmq_sock *s, const char *endpoint);

/* Start polling. Returns 0 or a negative errno. */
int tt_zmq_sock_start(struct tt_zmq_sock *s);

/* Send one message of n parts (n >= 1; parts are copied if they must wait). Returns 0
 * when handed to libzmq or queued, TT_ETOOBIG when dropped because the queue is full, or
 * a negative errno libzmq gave (the message is dropped). */
int tt_zmq_sock_send(struct tt_zmq_sock *s, const struct tt_zmq_part *parts, size_t n);

/* ZMQ_SUBSCRIBE / ZMQ_UNSUBSCRIBE on a SUB socket. Returns 0 or a negative errno. */
int tt_zmq_sock_subscribe(struct tt_zmq_sock *s, const void *topic, size_t len, bool subscribe);

/* Stop or resume handing received messages to the callback (they wait in libzmq, whose
 * receive high-water mark then pushes back on the peers). */
void tt_zmq_sock_set_reading(struct tt_zmq_sock *s, bool reading);

/* True when a message sent now would go straight to libzmq: nothing waits in our queue
 * and ZMQ_EVENTS reports POLLOUT (a PUSH or DEALER without any connected peer does not). */
bool tt_zmq_sock_writable(struct tt_zmq_sock *s);

/* Messages waiting in our send queue. */
size_t tt_zmq_sock_queued(const struct tt_zmq_sock *s);
const struct tt_zmq_sock_stats *tt_zmq_sock_stats(const struct tt_zmq_sock *s);

/* Close: drop queued output, stop the callbacks, close the ZeroMQ socket (with its
 * linger) and free once the libuv handles have closed. NULL is fine. */
void tt_zmq_sock_close(struct tt_zmq_sock *s);

#endif

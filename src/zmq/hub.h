/* hub.h: the client side of zhttp route targets (zhttpreq/<spec> and zhttp/<base>): their
 * ZeroMQ sockets, bound exactly as Pushpin's proxy binds them (zhttp.h describes the
 * socket roles), driven by a thread of their own.
 *
 * A ZeroMQ endpoint can be bound once per process, so the sockets cannot be per worker.
 * Workers encode their packets themselves and post them to the hub (tt_zhub_send); the
 * hub decodes every packet that comes back and posts it to the inbox of the worker that
 * owns the exchange: request ids are "<worker index>-<n>", so the id says which worker.
 * A packet naming exchanges of several workers (a handler's batched keep-alive) is posted
 * once to each of them, with a reference each.
 *
 * The sockets of a target are set up when a routes snapshot names it (tt_zhub_set_targets,
 * at start and after every reload), so handlers can connect before the first request; a
 * target that a request names and no snapshot did is set up on first use. A target that
 * a reload dropped is closed once nothing went through it for 70 s (zhttp sessions expire
 * after 60 s of silence, so no exchange is left on it then).
 *
 * Malformed packets from handlers (not "T" + a tnetstring, bad fields, unknown worker in
 * the id) are counted and skipped with a rate-limited warning; none is fatal. Caps: a
 * message above 16 MiB makes libzmq drop the handler's connection; tnetstrings parse with
 * tt_tnet_default_limits.
 *
 * Owner: main creates, starts, stops and frees the hub; it must outlive the workers (they
 * post to it until they have stopped). A posted tt_zhub_in belongs to the worker inbox
 * until handled or discarded (tt_zhub_in_unref). Thread: tt_zhub_send and
 * tt_zhub_in_unref from any thread; the rest from main. */
#ifndef TT_ZMQ_HUB_H
#define TT_ZMQ_HUB_H

#include "pubsub/inbox.h"
#include "zmq/zhttp.h"

struct tt_zhub;

/* Which socket of a target a packet leaves on. */
enum tt_zhub_route {
    TT_ZHUB_REQ,   /* zhttpreq: the DEALER */
    TT_ZHUB_FIRST, /* zhttp: the first packet of a request, on the PUSH socket */
    TT_ZHUB_TO,    /* zhttp: a later packet, on the ROUTER, to the handler address `to` */
};

/* TT_ZHUB_FIRST could not be sent at once (no handler connected to the PUSH socket: Pushpin
 * then fails the request as unavailable), or the target's sockets could not be set up. */
#define TT_ZHUB_UNAVAILABLE (-1)

/* What the hub posts to a worker. */
struct tt_zhub_in {
    int refs;        /* atomic */
    int status;      /* 0: pkt is a response packet; else TT_ZHUB_UNAVAILABLE for id */
    uint64_t target; /* tt_hash of the target key the packet came through */
    struct tt_zhttp_packet pkt;
    char id[64]; /* status != 0: the request that could not be sent */
};

void tt_zhub_in_unref(struct tt_zhub_in *in);

/* The key of a target, as used by tt_zhub_send and tt_zhub_set_targets: "zhttp/<base>" or
 * "zhttpreq/<spec>". Returns the length written (truncated to size-1). */
size_t tt_zhub_key(bool req, const char *spec, char *out, size_t size);

/* instance_id: our zhttp address (the "from" of every packet, the ROUTER identity and the
 * SUB topic). workers: the n worker inboxes (borrowed until tt_zhub_stop returns); each
 * incoming packet is posted with kind inbox_kind and a struct tt_zhub_in *. */
struct tt_zhub *tt_zhub_new(const char *instance_id, struct tt_inbox *const *workers, int n,
                            int inbox_kind);
/* Start the thread. Returns 0 or a negative code. */
int tt_zhub_start(struct tt_zhub *h);
const char *tt_zhub_instance_id(const struct tt_zhub *h);
/* The zhttp targets a routes snapshot names (keys copied). Main thread. */
void tt_zhub_set_targets(struct tt_zhub *h, char *const *keys, size_t n);
/* Post one encoded packet ("T" + tnetstring) for target `key`. to: the handler address for
 * TT_ZHUB_TO. id: the request id (for an unavailability report). Any thread. */
void tt_zhub_send(struct tt_zhub *h, const char *key, enum tt_zhub_route route, const char *to,
                  size_t to_len, const char *id, size_t id_len, const char *data, size_t len);
/* Stop the thread (sockets closed, later posts dropped) and wait for it. */
void tt_zhub_stop(struct tt_zhub *h);
void tt_zhub_free(struct tt_zhub *h);

#endif

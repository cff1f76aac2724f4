/* inputs.h: the control thread's ZeroMQ inputs (SPEC.md section 5): publishing over PULL
 * and SUB, and the command socket.
 *
 * - PULL bound on [handler] push_in_spec (default tcp://127.0.0.1:5560): one-part
 *   messages, each one item ("J" + JSON, tnetstring, or "T" + tnetstring).
 * - SUB on push_in_sub_specs (default tcp://127.0.0.1:5562): bound to the first spec, or
 *   connected to every spec when push_in_sub_connect=true (then with TCP keep-alives, as
 *   Pushpin). Messages are [channel, item]. The socket subscribes to exactly the channels
 *   that have subscribers here (tt_zmq_inputs_set_subscribed), so an XPUB publisher sees
 *   "\x01channel" when one gains its first subscriber and "\x00channel" when it loses its
 *   last (after subscription_linger seconds when asked to linger).
 * - Command socket on command_spec (default tcp://127.0.0.1:5563): a ROUTER, so REQ
 *   clients see a REP. Methods conncheck, get-zmq-uris, recover, refresh, publish; the
 *   request id is echoed; an unknown method gets "method-not-found", bad arguments
 *   "bad-request" (publish: with Pushpin's "Invalid format: ..." text). A request that is
 *   not a tnetstring dict with a string "method", or is not one part after the envelope,
 *   is skipped without an answer, as Pushpin does.
 * An empty spec turns that socket off. Items from PULL, SUB and the publish command go to
 * on_items, exactly like HTTP publishes; recover calls on_recover.
 *
 * Every malformed message is counted (tt_zmq_inputs_get_stats) and skipped with a warning
 * (at most 10 lines a second per socket, then a count of the suppressed ones); none is
 * fatal. Caps:
 * a message above TT_ZMQ_INPUT_MAX_MSG bytes makes libzmq drop the sending peer's
 * connection; tnetstrings are parsed with tt_tnet_default_limits; a message with more
 * than 8 parts is dropped; at most 100 commands wait for an answer (more wait in libzmq).
 *
 * Owner: the caller owns the inputs until tt_zmq_inputs_stop, which frees them once the
 * handles have closed (the loop must keep running until then). Thread: the control
 * thread (the loop given to start) only. */
#ifndef TT_ZMQ_INPUTS_H
#define TT_ZMQ_INPUTS_H

#include <jansson.h>
#include <uv.h>

#include "core/config.h"
#include "publish/api.h"

#define TT_ZMQ_INPUT_MAX_MSG ((int64_t)16 << 20)

struct tt_zmq_inputs;
/* A command waiting for its answer; answer it exactly once with tt_zmq_cmd_respond or
 * tt_zmq_cmd_fail (which free it), on the control thread, before tt_zmq_inputs_stop. */
struct tt_zmq_cmd;

/* conncheck {ids:[...]}: the hook answers with the list of the given ids that are still
 * connected (a json array of strings). ids[i] has lens[i] bytes and is valid only during
 * the call. Without a hook no connection is known by id, so the answer is []. */
typedef void (*tt_zmq_conncheck_fn)(void *ctx, struct tt_zmq_cmd *cmd, const char *const *ids,
                                    const size_t *lens, size_t n);
/* refresh {cid} or {channel}: exactly one of cid / channel is non-NULL (valid during the
 * call). Pushpin answers null, or fails with "item-not-found" for an unknown cid; for a
 * channel it refreshes every WebSocket-over-HTTP connection on it, ignoring errors.
 * Without a hook: "item-not-found" for a cid, null for a channel (no such connections). */
typedef void (*tt_zmq_refresh_fn)(void *ctx, struct tt_zmq_cmd *cmd, const char *cid,
                                  size_t cid_len, const char *channel, size_t channel_len);

struct tt_zmq_inputs_stats {
    uint64_t pull_items, pull_malformed;
    uint64_t sub_items, sub_malformed;
    uint64_t commands, command_malformed; /* answered / skipped without an answer */
    uint64_t subscribed_channels;         /* topics currently subscribed on SUB */
};

/* Create, bind/connect and start the sockets configured in cfg (read during the call
 * only). Returns 0, or a negative errno / TT_ECONFIG when a socket cannot be set up (the
 * error is logged naming the key and spec); then nothing is left open. */
int tt_zmq_inputs_start(uv_loop_t *loop, const struct tt_config *cfg, tt_pub_items_fn on_items,
                        tt_pub_recover_fn on_recover, void *ctx, struct tt_zmq_inputs **out);

/* Install the connection hooks (either may be NULL). */
void tt_zmq_inputs_set_conn_hooks(struct tt_zmq_inputs *in, tt_zmq_conncheck_fn conncheck,
                                  tt_zmq_refresh_fn refresh);

/* A channel gained its first subscriber here (subscribed) or lost its last one. With
 * linger (Pushpin does it when the last subscriber was a long-poll), the SUB topic is
 * kept subscription_linger seconds and kept on if the channel is subscribed again
 * meanwhile. No-op without a SUB socket. */
void tt_zmq_inputs_set_subscribed(struct tt_zmq_inputs *in, const char *channel, bool subscribed,
                                  bool linger);

/* Answer a command: value is borrowed (NULL = null). */
void tt_zmq_cmd_respond(struct tt_zmq_cmd *cmd, json_t *value);
/* Fail a command with a condition ("item-not-found", ...) and optional value (borrowed). */
void tt_zmq_cmd_fail(struct tt_zmq_cmd *cmd, const char *condition, json_t *value);

void tt_zmq_inputs_get_stats(const struct tt_zmq_inputs *in, struct tt_zmq_inputs_stats *out);

/* Close every socket; commands still waiting are dropped unanswered. NULL is fine. */
void tt_zmq_inputs_stop(struct tt_zmq_inputs *in);

#endif

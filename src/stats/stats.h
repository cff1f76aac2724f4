/* stats.h: the control thread's stats and metrics (SPEC.md section 5 "Stats and
 * metrics"): the stats socket, the Prometheus endpoint, and the answers to conncheck and
 * refresh, which need every worker.
 *
 * Workers post what they counted (pubsub/wstats.h batches, about every 100 ms while
 * anything changes) to this module's inbox, on the control loop; the control thread adds
 * what it sees itself (every message handed to the workers, rate-limit drops, malformed
 * ZeroMQ input). From that, on stats_spec (default ipc://{rundir}/{ipc_prefix}stats),
 * messages "<type> T<tnetstring>" (or "J<json>" with stats_format=json) as Pushpin's
 * handler writes them, each with "from" (our instance id) and "route" when the route has
 * an id:
 *   activity {count}            requests per route, every 100 ms while there are some
 *   counts {requests-received}  every 100 ms while there are some
 *   conn {id, type, peer-address, ssl, ttl} / {id, unavailable}
 *                               a connection (HTTP request or WebSocket session) opened,
 *                               refreshed every stats_connection_ttl*3/4 s, closed
 *                               (only with stats_connection_send, the default)
 *   sub {mode, channel, ttl, subscribers} / {mode, channel, unavailable}
 *                               a (mode, channel) gained subscribers, changed count
 *                               (sent within a second), is refreshed every
 *                               stats_subscription_ttl*3/4 s, lost its last one (a
 *                               response-mode one after subscription_linger)
 *   message {channel, item-id, count, transport}
 *                               a published item and how many subscribers of that
 *                               transport the channel had
 *   report {connections, minutes, received, sent, http-response-sent, duration}
 *                               per route every stats_report_interval s
 * The socket is an XPUB (subscribers see a PUB): a message type nobody subscribed to is
 * not even encoded, and workers produce connection events only while someone listens.
 * Prometheus (prometheus_port, "[addr:]port" or "ipc://path"; any path answers) shows
 * Pushpin's metrics and ours, under prometheus_prefix (see tt_stats_render_prometheus).
 *
 * Owner: main creates it (tt_stats_new, before the workers, which post to its inbox),
 * starts it on the control loop, registers tt_stats_stop as a control input, and frees it
 * after the workers and the control thread have stopped. Thread: tt_stats_new/start/free
 * from main; the rest on the control thread. */
#ifndef TT_STATS_H
#define TT_STATS_H

#include "core/buf.h"
#include "core/config.h"
#include "pubsub/control.h"
#include "pubsub/inbox.h"
#include "pubsub/msg.h"
#include "pubsub/wstats.h"
#include "zmq/inputs.h"

struct tt_stats;

/* cfg is read during the calls only. instance: our id ("from", HTTP cids). The inbox is
 * ready when this returns (workers may post before the control thread runs). */
struct tt_stats *tt_stats_new(uv_loop_t *control_loop, const struct tt_config *cfg,
                              const char *instance, int num_workers);
struct tt_inbox *tt_stats_inbox(struct tt_stats *st);
/* The flag workers read: someone subscribed to "conn" messages. */
const int *tt_stats_conns_wanted(const struct tt_stats *st);
/* Where queries go: the worker inboxes (borrowed until stop) and their kind for a
 * struct tt_connq *. */
void tt_stats_set_workers(struct tt_stats *st, struct tt_inbox *const *workers, int n,
                          int connq_kind);
/* Sources read when rendering metrics (either may be NULL). */
void tt_stats_set_sources(struct tt_stats *st, struct tt_control *ctl, struct tt_zmq_inputs *zin);
/* Bind the stats socket and the Prometheus listener. Returns 0, or a negative code when
 * one cannot be set up (logged with the key and spec). Main thread, before the control
 * thread starts. */
int tt_stats_start(struct tt_stats *st, const struct tt_config *cfg);

/* Control thread. */
void tt_stats_on_publish(void *st, const struct tt_msg *m);
void tt_stats_conncheck(void *st, struct tt_zmq_cmd *cmd, const char *const *ids,
                        const size_t *lens, size_t n);
void tt_stats_refresh(void *st, struct tt_zmq_cmd *cmd, const char *cid, size_t cid_len,
                      const char *channel, size_t channel_len);
/* The Prometheus text exposition (format 0.0.4) of the current values. */
void tt_stats_render_prometheus(struct tt_stats *st, struct tt_buf *out);
/* Close the sockets and the inbox; pending queries are abandoned. */
void tt_stats_stop(void *st);
/* After the control loop has ended. NULL is fine. */
void tt_stats_free(struct tt_stats *st);

#endif

/* zpub.h: publish items arriving over ZeroMQ (SPEC.md section 5 "ZeroMQ inputs").
 * Sans-I/O.
 *
 * A PULL message is one part; a SUB message is two, [topic, item]. The item is "J" +
 * a JSON object, or a tnetstring dict optionally prefixed by "T". JSON items are read
 * exactly like the HTTP API's (tt_pub_item_from_json); tnetstring items with
 * tt_pub_item_from_tnet (strings are raw bytes; no base64 for body/content). On SUB a
 * non-empty topic is the channel (an item "channel" is then ignored); an empty topic
 * means the item must name its channel. A channel holding a NUL byte is refused (no
 * subscriber can name it, and C strings would cut it short).
 * Error texts follow Pushpin's log lines: "received message with invalid format (json
 * parse failed)", "... (not a valid json object)", "... (tnetstring parse failed: <why>)",
 * "received message with invalid format: <item error>".
 * Owner: on success *out owns its strings (tt_pub_item_deinit). Thread: any. */
#ifndef TT_ZMQ_ZPUB_H
#define TT_ZMQ_ZPUB_H

#include <jansson.h>

#include "pubsub/item.h"
#include "zmq/tnetstring.h"

/* One PULL message. Returns 0, or TT_EPARSE / TT_ETOOBIG with err set; on error *out is
 * zeroed (nothing to free). lim NULL = tt_tnet_default_limits. */
int tt_zpub_decode_pull(const char *msg, size_t len, const struct tt_tnet_limits *lim,
                        struct tt_pub_item *out, char *err, size_t errlen);

/* One SUB message: topic part and item part. Same contract. */
int tt_zpub_decode_sub(const char *topic, size_t topic_len, const char *msg, size_t len,
                       const struct tt_tnet_limits *lim, struct tt_pub_item *out, char *err,
                       size_t errlen);

/* The "items" member of a publish command's args (a tnetstring dict). On success *items
 * (n entries, n may be 0) is a new array the caller frees with tt_pub_items_free.
 * Errors (TT_EPARSE), worded as Pushpin answers them: "Invalid format: object does not
 * contain 'items'", "Invalid format: object contains 'items' with wrong type",
 * "Invalid format: <item error>". All or nothing. */
int tt_zpub_items_from_args(json_t *args, struct tt_pub_item **items, size_t *n, char *err,
                            size_t errlen);

#endif

/* deflate.h: permessage-deflate (RFC 7692) with zlib: negotiation in both roles, and
 * whole-message inflate/deflate.
 *
 * Policy: we always run without context takeover in both directions. As server we answer
 * an acceptable offer with "permessage-deflate; server_no_context_takeover;
 * client_no_context_takeover" (RFC 7692 7.1.1.1 and 7.1.1.2 let a server add both even when
 * the client did not offer them); as client we offer the same and require the backend to
 * accept server_no_context_takeover. Why: then every message is compressed independently,
 * so
 *   - an idle connection keeps no zlib state (a zlib stream is ~300 KB to deflate and
 *     ~40 KB to inflate); one inflater and one deflater per worker thread serve every
 *     connection, reset between messages;
 *   - a published message is compressed once and the same bytes go to every subscriber
 *     that negotiated the extension (tt_ws_deflate_frame).
 * An offer with server_max_window_bits below 15 is declined (the next offer is tried):
 * shared compressed bytes are made with a 32 KB window. client_max_window_bits is never
 * sent back: we inflate with the largest window, so any client window works.
 *
 * Inflating is done on a whole message (the assembled payload), with the 00 00 FF FF tail
 * that the sender stripped put back, and a hard cap on the inflated size (1009 beyond).
 * Thread: a tt_ws_inflater / tt_ws_deflater belongs to one thread; the rest is pure. */
#ifndef TT_WS_DEFLATE_H
#define TT_WS_DEFLATE_H

#include <zlib.h>

#include "core/buf.h"
#include "core/common.h"
#include "ws/ext.h"

#define TT_WS_DEFLATE_NAME "permessage-deflate"
/* What we answer as server and what we offer as client. */
#define TT_WS_DEFLATE_RESPONSE                                                                 \
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
#define TT_WS_DEFLATE_OFFER TT_WS_DEFLATE_RESPONSE

struct tt_ws_deflate_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits; /* 8..15; 0 when absent */
    uint8_t client_max_window_bits; /* 8..15; 0 when absent; 15 for the valueless form */
};

/* Parse the parameters of one permessage-deflate element (e must be named so). In an
 * offer client_max_window_bits may come without a value; in a response it may not.
 * Unknown parameters, repeated ones, values on the *_no_context_takeover ones and window
 * bits outside 8..15 are TT_EPARSE (RFC 7692 7.1). */
int tt_ws_deflate_parse(const struct tt_ws_ext *e, bool offer, struct tt_ws_deflate_params *out);

/* Server role: whether we accept this (already parsed) offer, by the policy above. */
bool tt_ws_deflate_offer_acceptable(const struct tt_ws_deflate_params *offer);

/* Server role over a whole Sec-WebSocket-Extensions value: sets *accept when an offer in it
 * is acceptable (the first acceptable one wins; later headers need not be looked at once
 * *accept is set). Returns 0, or TT_EPARSE for a header that is not valid syntax (Pushpin
 * refuses such a handshake). An invalid permessage-deflate offer is skipped, not an
 * error (RFC 7692 5: the server declines it). */
int tt_ws_deflate_server_scan(const char *value, size_t len, bool *accept);

/* Client role: check the backend's permessage-deflate element against our offer. Returns 0
 * when usable, TT_EPARSE otherwise (the connection must then fail). */
int tt_ws_deflate_check_response(const struct tt_ws_ext *e);

/* ---- compression ---- */

struct tt_ws_inflater {
    z_stream z;
};

/* Returns 0 or -ENOMEM. */
int tt_ws_inflater_init(struct tt_ws_inflater *in);
void tt_ws_inflater_deinit(struct tt_ws_inflater *in);

/* Inflate one whole compressed message in[0..len), appending to out. Over max_out bytes of
 * output: TT_ETOOBIG (close 1009), output possibly partial. Corrupt data (or bytes after a
 * final block): TT_EPARSE (close 1007). Returns 0 on success. The inflater is reset first,
 * so it can serve any number of connections in turn. */
int tt_ws_inflate(struct tt_ws_inflater *in, const uint8_t *data, size_t len, size_t max_out,
                  struct tt_buf *out);

struct tt_ws_deflater {
    z_stream z;
};

/* level: zlib level (-1 default, 1 fastest). Returns 0 or -ENOMEM. */
int tt_ws_deflater_init(struct tt_ws_deflater *d, int level);
void tt_ws_deflater_deinit(struct tt_ws_deflater *d);

/* Compress one message into out (appended), with the 00 00 FF FF tail removed as RFC 7692
 * 7.2.1 asks. An empty message gives the single byte 00. Returns 0 or TT_ETOOBIG (out's
 * cap). */
int tt_ws_deflate(struct tt_ws_deflater *d, const void *data, size_t len, struct tt_buf *out);

/* Compress a message once and render it as a complete unmasked final frame with RSV1 set,
 * in one new tt_malloc'd block (free with free): the bytes every deflate subscriber of a
 * published message is sent. */
uint8_t *tt_ws_deflate_frame(struct tt_ws_deflater *d, unsigned opcode, const void *data,
                             size_t len, size_t *out_len);

#endif

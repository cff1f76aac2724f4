/* handshake.h: the RFC 6455 opening handshake, both roles, on thumbtack's parsed heads.
 *
 * Server role (a client upgrades to us): tt_ws_server_handshake decides whether a request
 * is a WebSocket request (an Upgrade header with the token "websocket", as h1 reports it)
 * and whether it is a valid one: GET, HTTP/1.1, a Host, Connection with the token
 * "upgrade", exactly one Sec-WebSocket-Version "13", exactly one Sec-WebSocket-Key that is
 * base64 of 16 bytes, no body (Content-Length 0 is allowed, chunked is not), and
 * Sec-WebSocket-Extensions headers that parse. An invalid one gets 400 with Pushpin's text
 * (TT_WS_HS_BAD_REQUEST_BODY; Pushpin's connmgr answers every invalid upgrade, a wrong
 * version included, with it). For a wrong version RFC 6455 4.4 also asks for a
 * "Sec-WebSocket-Version: 13" header in the answer: out->bad_version says when.
 * Pushpin is laxer (it checks neither Connection nor the key's form); clients that follow
 * the RFC send both.
 *
 * Client role (we connect to a ws backend): key generation, the handshake header lines,
 * and validation of the backend's answer (101, Upgrade/Connection tokens, the accept
 * value, extensions only among those offered, subprotocol among those sent).
 *
 * No allocation; results point into the parsed heads. Thread: any. */
#ifndef TT_WS_HANDSHAKE_H
#define TT_WS_HANDSHAKE_H

#include "core/buf.h"
#include "core/common.h"
#include "http/h1.h"
#include "ws/frame.h"
#include "ws/grip.h"

#define TT_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define TT_WS_KEY_LEN 24    /* base64 of 16 bytes */
#define TT_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define TT_WS_HS_BAD_REQUEST_BODY                                                              \
    "Request contained an Upgrade header with value \"websocket\" but the request was not a "  \
    "valid WebSocket request.\n"

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), NUL-terminated. */
void tt_ws_accept_value(const char *key, size_t key_len, char out[TT_WS_ACCEPT_LEN + 1]);

struct tt_ws_server_hs {
    char accept[TT_WS_ACCEPT_LEN + 1];
    bool deflate;     /* permessage-deflate offered, acceptable, and allowed */
    bool bad_version; /* invalid because of Sec-WebSocket-Version */
    const char *why;  /* invalid: a short static reason for the log */
};

/* Returns 0 when req is not a WebSocket request, 1 when it is a valid one (out filled),
 * TT_EPARSE when it is an invalid one (answer 400 TT_WS_HS_BAD_REQUEST_BODY). Deflate is
 * negotiated only with allow_compression (Pushpin's allow_compression). */
int tt_ws_server_handshake(const struct tt_h1_request *req, bool allow_compression,
                           struct tt_ws_server_hs *out);

/* Append the header lines of our 101 answer: Upgrade, Connection, Sec-WebSocket-Accept and,
 * when negotiated, Sec-WebSocket-Extensions (TT_WS_DEFLATE_RESPONSE). The status line and
 * the other headers are the caller's. Returns 0 or TT_ETOOBIG (out's cap). */
int tt_ws_server_response_headers(struct tt_buf *out, const struct tt_ws_server_hs *hs);

/* ---- client role ---- */

/* A fresh key: base64 of 16 bytes from rng, NUL-terminated. Returns 0 or -EIO. */
int tt_ws_client_key(tt_ws_rng_fn rng, char key[TT_WS_KEY_LEN + 1]);

/* Append Upgrade, Connection, Sec-WebSocket-Version, Sec-WebSocket-Key and, when anything is
 * offered, Sec-WebSocket-Extensions ("grip" and/or TT_WS_DEFLATE_OFFER). */
int tt_ws_client_request_headers(struct tt_buf *out, const char *key, bool offer_grip,
                                 bool offer_deflate);

struct tt_ws_client_hs {
    struct tt_ws_grip_ext grip; /* grip.present when the backend enabled GRIP */
    bool deflate;               /* the backend accepted permessage-deflate */
    const char *protocol;       /* Sec-WebSocket-Protocol chosen, or NULL */
    size_t protocol_len;
    const char *why; /* invalid: a short static reason for the log */
};

/* Check the backend's answer to our handshake. key is the one we sent; offer_* what we
 * offered; protocols the Sec-WebSocket-Protocol value we sent (NULL if none). Returns 1
 * for a valid 101, 0 for another status (a rejection the caller relays to its client),
 * TT_EPARSE for a 101 that is not valid (the connection fails: a 502 to the client). */
int tt_ws_client_check_response(const struct tt_h1_response *resp, const char *key,
                                bool offer_grip, bool offer_deflate, const char *protocols,
                                size_t protocols_len, struct tt_ws_client_hs *out);

#endif

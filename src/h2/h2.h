/* h2.h: HTTP/2 to clients (RFC 9113), over TLS (ALPN "h2") and cleartext with prior
 * knowledge (h2c), with nghttp2. Backends stay HTTP/1.1.
 *
 * One GRIP code path: an HTTP/2 connection is a client (proxy/client.h) in state TT_C_H2
 * whose session, defined here, owns the socket and the nghttp2 session. Each stream is
 * served by a client of its own on a virtual connection (net/conn.h): its HEADERS become
 * an HTTP/1.1 request head (http/h2req.h) and its DATA the body, which that client reads
 * as from a socket; the HTTP/1.1 response it writes into its queue is read back here (the
 * head with the HTTP/1 parser, the body de-chunked) into HEADERS and DATA frames. Holds,
 * SSE, long-polls, JSON-P, CORS and forwarding never know the difference. An idle held
 * stream (a stream hold whose head is out and whose request is over) gives its client up
 * for a compact record (proxy/held.h) whose hold writes straight into the stream.
 *
 * Writes: every frame of one run of the connection (all its streams) goes out in one
 * write; published bytes of a cleartext connection are queued by reference. Flow
 * control: a stream's DATA is pulled from its client's queue only as its window allows,
 * so a stalled stream shows a backlog there (the fan-out drop policy and the backend
 * backpressure see it) without holding the others back; request DATA is credited back
 * (WINDOW_UPDATE) only as the stream's client reads it.
 *
 * Abuse limits (per connection, each counted in the worker's stats and logged, then
 * GOAWAY ENHANCE_YOUR_CALM and close): streams reset by the client (rapid reset,
 * CVE-2023-44487), SETTINGS, PING, empty DATA and other cheap frames (token buckets),
 * CONTINUATION floods, streams opened beyond the concurrency limit. A header list over
 * client_buffer_size is answered 400 on its stream, as for HTTP/1. Streams that a client
 * opens and resets within one read are never dispatched.
 *
 * WebSockets (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL is advertised; an extended
 * CONNECT with :protocol websocket is read by its client as the HTTP/1.1 upgrade it
 * stands for (http/h2req.h), so every WebSocket feature runs on it unchanged. Its 101 goes
 * out as a 200 without Sec-WebSocket-Accept; from then on the stream is a tunnel: DATA
 * both ways are the WebSocket's bytes as they are (no chunk framing), under the same flow
 * control and backpressure as any stream. The peer's END_STREAM is the client's EOF, its
 * RST_STREAM closes the client; when the client closes, the stream ends with END_STREAM
 * after what was queued if the session ended cleanly (client->clean_end: a closing
 * handshake) or the peer had ended its side, else with RST_STREAM CANCEL (the TCP
 * connection dropped). Other :protocol values are answered 501.
 *
 * Not offered: CONNECT (501), server push, the h2c Upgrade from HTTP/1.1 (such a request
 * is served over HTTP/1.1, as RFC 9113 allows).
 * Thread: the worker's. */
#ifndef TT_H2_H
#define TT_H2_H

#include "proxy/client.h"

/* Take the connection c over (srv->h2_start): data/len are bytes already read from it
 * (the client preface and what followed), or none after ALPN. On failure c is closed. */
void tt_h2_start(struct tt_client *c, const char *data, size_t len);

#endif

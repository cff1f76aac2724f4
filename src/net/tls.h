/* tls.h: TLS for client listeners (https_ports), with Pushpin's certificate layout.
 *
 * Certificates live in one directory (Pushpin: <dir of pushpin.conf>/runner/certs) as
 * <name>.crt and <name>.key (PEM; the .crt may hold the chain). SNI picks one: the exact
 * server name, then the wildcard at the same level (www.example.com -> _.example.com),
 * then default_<port> for the listener's port, then "default" (thumbtack's own fallback);
 * with none of them the handshake fails. Names are matched lower-case.
 *
 * Protocols: TLS 1.2 and 1.3 only; ECDHE key exchange with AES-GCM or ChaCha20-Poly1305
 * (TLS 1.3's defaults); session tickets for resumption; ALPN "http/1.1" (and "h2" when
 * the caller says it speaks it). Buffers are released while a connection is idle
 * (SSL_MODE_RELEASE_BUFFERS).
 *
 * Reload: tt_tls_server_reload re-reads the directory into a new certificate set and
 * swaps it in; handshakes in progress keep the set they started with (OpenSSL reference
 * counts the contexts), established connections are untouched.
 * Thread: new/reload/free on the main thread; tt_tls_server_ssl from any worker. */
#ifndef TT_TLS_H
#define TT_TLS_H

#include <openssl/ssl.h>

#include "core/common.h"

struct tt_tls_server;

/* Load every <name>.crt/<name>.key pair in dir. A pair that does not load is skipped with
 * a warning; an unreadable or empty directory is an error (err says why). alpn_h2: offer
 * "h2" in ALPN besides "http/1.1". */
int tt_tls_server_new(const char *dir, bool alpn_h2, struct tt_tls_server **out, char *err,
                      size_t errlen);
/* Re-read the directory. On error the old set stays (err says why). */
int tt_tls_server_reload(struct tt_tls_server *ts, char *err, size_t errlen);
void tt_tls_server_free(struct tt_tls_server *ts);
/* Number of certificates loaded. */
size_t tt_tls_server_count(struct tt_tls_server *ts);
/* A server-side SSL for a socket accepted on a listener of port `port` (for the
 * default_<port> certificate), in accept state. The caller owns it. */
SSL *tt_tls_server_ssl(struct tt_tls_server *ts, int fd, uint16_t port);
/* The ALPN protocol negotiated on ssl ("h2", "http/1.1") or NULL. */
const char *tt_tls_alpn(const SSL *ssl);

#endif

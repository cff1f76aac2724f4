/* forward.h: the request head a backend receives (SPEC.md section 3 "Request to
 * backend"): path rewrites, Host, hop-by-hop and Grip-* stripping, route header= rules,
 * X-Forwarded-For / -Proto, Grip-Sig and Grip-Feature.
 * Thread: the worker's. */
#ifndef TT_FORWARD_H
#define TT_FORWARD_H

#include "core/buf.h"
#include "http/h1.h"
#include "proxy/client.h"

#define TT_GRIP_FEATURE                                                                        \
    "status, session, link:next, filter:skip-self, filter:skip-users, filter:require-sub, "    \
    "filter:build-id, filter:var-subst"

/* True when upstream_key is set and the request's Grip-Sig verifies with it (unexpired). */
bool tt_forward_is_trusted(struct tt_server *srv, const struct tt_h1_request *h);

/* Whether the request came over TLS: a TLS listener, or (accept_x_forwarded_protocol) an
 * X-Forwarded-Proto / -Protocol of https or wss. Routes match it as ssl=yes. */
bool tt_forward_is_secure(struct tt_server *srv, const struct tt_client *c,
                          const struct tt_h1_request *h);

/* Append the request line and headers (each ending CRLF, without the final empty line and
 * without framing headers) for target t to out. */
void tt_forward_build_head(struct tt_server *srv, struct tt_client *c,
                           const struct tt_h1_request *h, const struct tt_route *route,
                           const struct tt_route_target *t, const char *path, size_t path_len,
                           bool trusted, struct tt_buf *out);

/* Head of an internal request (next links, gone links): request line, Host, Grip-Sig / Grip-Feature as for
 * the route, the extra lines (each ending CRLF, may be NULL) and the final CRLF. */
void tt_forward_build_internal(struct tt_server *srv, struct tt_client *c,
                               const struct tt_route *route, const char *method,
                               const char *path, const char *host, const char *extra,
                               struct tt_buf *out);

#endif

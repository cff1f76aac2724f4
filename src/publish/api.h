/* api.h: the HTTP publish API (Pushpin's handler HTTP control server, SPEC.md section 5
 * "HTTP control server"), default 127.0.0.1:5561.
 *
 * Runs on the control thread's libuv loop. Every response carries Connection: close.
 * POST /publish/ parses the items (all-or-nothing), answers 200 before delivering, then
 * hands the items to on_items. POST /recover/ calls on_recover. Optional auth: when
 * cfg->publish_key is set, requests need "Authorization: Bearer <JWT signed with that
 * key, exp in the future>" or "Basic <b64(user:key)>" (the plain key string as password),
 * else 401 with "WWW-Authenticate: Bearer" and body "Unauthorized.\n".
 * Owner: the api object is owned by the caller of start, freed by stop (after its handles
 * close). Thread: the control thread only. */
#ifndef TT_PUBLISH_API_H
#define TT_PUBLISH_API_H

#include <uv.h>

#include "core/config.h"
#include "pubsub/item.h"

/* Takes ownership of items (free with tt_pub_items_free). Called only with n > 0 (an empty
 * items list is answered 200 and dropped), right after the 200 answer is queued. */
typedef void (*tt_pub_items_fn)(void *ctx, struct tt_pub_item *items, size_t n);
typedef void (*tt_pub_recover_fn)(void *ctx);

struct tt_pub_api;

/* Bind and listen on cfg->push_in_http_addr:cfg->push_in_http_port (port_offset already
 * applied by config). Returns 0 or a negative errno (e.g. -EADDRINUSE, -EINVAL for an
 * address that is not a numeric IPv4/IPv6 address), or TT_ECONFIG when publish_key does not
 * parse; on failure nothing is left to clean up. Limits: head push_in_http_max_headers_size,
 * body push_in_http_max_body_size, cfg->head_timeout_ms (default 10 s) to receive the whole
 * request, at most 1024 connections (more are accepted and closed at once). cfg is only
 * read during the call. */
int tt_pub_api_start(uv_loop_t *loop, const struct tt_config *cfg, tt_pub_items_fn on_items,
                     tt_pub_recover_fn on_recover, void *ctx, struct tt_pub_api **out);

/* Stop listening and close open connections; the object frees itself once every handle
 * has closed (the loop must keep running until then). */
void tt_pub_api_stop(struct tt_pub_api *api);

#endif

/* links.h: GRIP links (Grip-Link) as internal requests of a client's session.
 *
 * A link URL is resolved against the client's request: a relative URL, or an absolute
 * one to the same host, goes through the request's route (so it gets Grip-Sig like the
 * request itself); another host is reached directly. Next links are fetched by holds
 * (hold/); the gone link (rel=gone) is POSTed here, fire and forget, when the request
 * ends for any reason. Thread: the worker's. */
#ifndef TT_LINKS_H
#define TT_LINKS_H

#include "proxy/client.h"

/* Resolve url for the client's current request into path and Host value, and the
 * targets to use: the route's, or *adhoc (filled; its host malloc'd, freed by the caller)
 * for another host. Returns false if there is no HTTP target to use. */
bool tt_links_resolve(struct tt_client *c, const char *url, char *path, size_t pathsz,
                      char *host, size_t hostsz, struct tt_route_target *adhoc,
                      const struct tt_route_target **targets, size_t *num_targets);
/* POST the request's gone link, if it has one (best effort; the POST outlives the
 * client). */
void tt_links_post_gone(struct tt_client *c);

#endif

/* pubfast.h: the fast path of tt_pub_parse_body (see pubfast.c for the shape it takes).
 *
 * Returns true with *items (*n entries, owned by the caller: tt_pub_items_free) when the
 * body has the common shape and is valid; false, with nothing allocated, when the body must
 * go through the jansson parse (any other shape, any error). Thread: any. */
#ifndef TT_PUBFAST_H
#define TT_PUBFAST_H

#include "pubsub/item.h"

bool tt__pub_parse_fast(const char *body, size_t len, struct tt_pub_item **items, size_t *n);

#endif

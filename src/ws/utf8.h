/* utf8.h: incremental UTF-8 validator (RFC 3629) for WebSocket text (RFC 6455 8.1).
 *
 * Fails fast: feed() reports the first byte that can no longer start or continue a valid
 * sequence, even when the message (or the frame) is not complete yet, so a client that
 * sends bad text is closed with 1007 at once. Rejected: overlong forms (C0, C1, E0 80..9F,
 * F0 80..8F), UTF-16 surrogates (ED A0..BF), code points above U+10FFFF (F4 90.., F5..FF),
 * stray continuation bytes. A sequence may be split across any number of feed() calls.
 * The state is 4 bytes, embedded by the caller; no allocation. Thread: owner's. */
#ifndef TT_WS_UTF8_H
#define TT_WS_UTF8_H

#include "core/common.h"

struct tt_ws_utf8 {
    uint8_t need; /* continuation bytes still expected */
    uint8_t lo;   /* allowed range of the next continuation byte */
    uint8_t hi;
};

void tt_ws_utf8_init(struct tt_ws_utf8 *u);

/* Validate p[0..len) as the continuation of what was fed before. Returns 0 when every byte
 * is acceptable so far, TT_EPARSE at the first bad byte (its offset in p goes to *bad_at
 * when bad_at is not NULL). After an error the state is undefined: start again with init. */
int tt_ws_utf8_feed(struct tt_ws_utf8 *u, const uint8_t *p, size_t len, size_t *bad_at);

/* True when no sequence is left open: the text fed so far ends on a character boundary. */
bool tt_ws_utf8_complete(const struct tt_ws_utf8 *u);

/* One-shot check of a whole text. */
bool tt_ws_utf8_valid(const void *p, size_t len);

/* Largest n <= len such that p[0..n) does not end inside a multi-byte sequence, assuming
 * p is valid UTF-8 (used to truncate a close reason without splitting a character). */
size_t tt_ws_utf8_cut(const void *p, size_t len);

#endif

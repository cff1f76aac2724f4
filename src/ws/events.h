/* events.h: the application/websocket-events codec of WebSocket-over-HTTP (SPEC.md 6).
 *
 * A body is a sequence of events, each "TYPE\r\n" or "TYPE <hex-length>\r\n<bytes>\r\n".
 * Types: OPEN, TEXT, BINARY, PING, PONG, CLOSE, DISCONNECT (case-sensitive, as Pushpin).
 * CLOSE content is an optional 2-byte big-endian code followed by a UTF-8 reason.
 *
 * Parsing is zero-copy (events point into the body) and strict where Pushpin is lax: the
 * length is 1-16 hex digits of either case and nothing else (no sign, no "0x", no spaces
 * around), the content must be all there and be followed by CRLF, lines end in CRLF, the
 * type is a non-empty token. A syntactically fine event of another type is returned as
 * TT_WS_EV_UNKNOWN for the caller to skip (Pushpin ignores such events). Validate a whole
 * body with tt_ws_events_count before acting on any event: Pushpin drops the connection on
 * an undecodable body without processing part of it. Caps: the caller caps the body
 * (1000000 bytes from a backend, as Pushpin); max_events caps the count.
 *
 * Writing appends to a tt_buf (whose cap bounds a request body) in Pushpin's form, with
 * lowercase hex. Thread: any. */
#ifndef TT_WS_EVENTS_H
#define TT_WS_EVENTS_H

#include "core/buf.h"
#include "core/common.h"

enum tt_ws_event_type {
    TT_WS_EV_OPEN,
    TT_WS_EV_TEXT,
    TT_WS_EV_BINARY,
    TT_WS_EV_PING,
    TT_WS_EV_PONG,
    TT_WS_EV_CLOSE,
    TT_WS_EV_DISCONNECT,
    TT_WS_EV_UNKNOWN,
};

#define TT_WS_EVENTS_MAX_TYPE 64 /* longest type name accepted */

struct tt_ws_event {
    enum tt_ws_event_type type;
    const char *name; /* the type as written */
    size_t name_len;
    bool has_content; /* the "TYPE <len>" form, even with length 0 */
    const uint8_t *content;
    size_t content_len;
};

/* Next event of body[0..len): start with *pos = 0. Returns 1 with *ev filled, 0 at the end
 * of the body, TT_EPARSE on malformed input. */
int tt_ws_events_next(const char *body, size_t len, size_t *pos, struct tt_ws_event *ev);

/* Validate a whole body: the number of events, TT_EPARSE when malformed, TT_ETOOBIG when
 * there are more than max_events. */
int tt_ws_events_count(const char *body, size_t len, size_t max_events);

/* Name of a known type ("TEXT"...); NULL for TT_WS_EV_UNKNOWN. */
const char *tt_ws_event_name(enum tt_ws_event_type type);

/* Append an event. has_content false writes "TYPE\r\n" (content ignored). Returns 0 or
 * TT_ETOOBIG (out's cap; out is then unchanged). */
int tt_ws_events_append(struct tt_buf *out, enum tt_ws_event_type type, bool has_content,
                        const void *content, size_t len);

/* Append a CLOSE event: code < 0 writes "CLOSE\r\n", else the code and the reason. */
int tt_ws_events_append_close(struct tt_buf *out, int code, const void *reason, size_t len);

/* Read a CLOSE event's content: *code is -1 when it has fewer than 2 bytes (Pushpin then
 * takes no code); the reason follows the code, and is dropped (length 0) when it is not
 * UTF-8 so that it can be put in a close frame as is. */
void tt_ws_events_close_parse(const struct tt_ws_event *ev, int *code, const uint8_t **reason,
                              size_t *reason_len);

#endif

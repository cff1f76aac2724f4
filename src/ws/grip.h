/* grip.h: GRIP over WebSocket (SPEC.md section 7): the backend's `grip` extension, the
 * classification of backend messages (control "c:", prefixed data, dropped), and the
 * parser of control messages.
 *
 * Control messages follow Pushpin's handler (wscontrolmessage.cpp, handlerengine.cpp):
 * a JSON object with "type" one of subscribe, unsubscribe, detach, session, set-meta,
 * keep-alive, send-delayed, flush-delayed. An invalid message is ignored by the caller
 * (Pushpin logs it at debug level); JSON null counts as an absent field. Defaults already
 * applied here: keep-alive timeout 55 s, send-delayed timeout 1 s (a timeout of 0 means the
 * default, a negative one makes the message invalid), keep-alive mode idle unless
 * "interval". Where we differ on purpose:
 *  - "content-bin" must be valid base64 (Pushpin's decoder skips junk characters);
 *  - without "message-type" the content goes as text, as Pushpin does, except content that
 *    is not UTF-8, which goes as binary (a text frame with it would make the client fail
 *    the connection); an explicit "text" with such content makes the message invalid.
 * Owner: tt_ws_ctl owns its strings; tt_ws_ctl_free frees them. Thread: any. */
#ifndef TT_WS_GRIP_H
#define TT_WS_GRIP_H

#include "core/common.h"
#include "ws/ext.h"

#define TT_WS_GRIP_DEFAULT_PREFIX "m:"
#define TT_WS_GRIP_MAX_PREFIX 64 /* a longer message-prefix makes the extension invalid */
#define TT_WS_GRIP_MAX_FILTERS 5
#define TT_WS_GRIP_KEEP_ALIVE_TIMEOUT 55
#define TT_WS_GRIP_SEND_DELAYED_TIMEOUT 1
#define TT_WS_GRIP_MAX_TIMEOUT 2147483 /* seconds; larger values are clamped */

struct tt_ws_grip_ext {
    bool present;
    char prefix[TT_WS_GRIP_MAX_PREFIX + 1]; /* NUL-terminated; may be empty */
    size_t prefix_len;
};

/* Look for the grip extension in one Sec-WebSocket-Extensions header value (call once per
 * header; the first grip wins). Name match is case-insensitive. The message-prefix
 * parameter may be quoted (backslash escapes honoured) or a bare value; present without a
 * value it means an empty prefix; absent, "m:". A grip element with a bad parameter, or a
 * header value that does not parse, leaves *out unchanged (as Pushpin, which then runs
 * without GRIP). Returns 1 when this value had a valid grip element, else 0. */
int tt_ws_grip_ext_scan(const char *value, size_t len, struct tt_ws_grip_ext *out);

/* The same for one already parsed element named grip. Returns 0 with *out set, or
 * TT_EPARSE (prefix over TT_WS_GRIP_MAX_PREFIX) leaving *out unchanged. */
int tt_ws_grip_ext_parse(const struct tt_ws_ext *e, struct tt_ws_grip_ext *out);

enum tt_ws_grip_kind {
    TT_WS_GRIP_CONTROL, /* text starting "c:": the rest is a control message */
    TT_WS_GRIP_DATA,    /* starts with the prefix: deliver without it */
    TT_WS_GRIP_DROP,    /* neither: Pushpin drops it */
};

/* Classify the first frame of a backend data message in GRIP mode. opcode is TEXT or
 * BINARY. A control message must be a single frame: the caller ignores a fragmented one. */
enum tt_ws_grip_kind tt_ws_grip_classify(unsigned opcode, const uint8_t *data, size_t len,
                                         const struct tt_ws_grip_ext *ext);

enum tt_ws_ctl_type {
    TT_WS_CTL_SUBSCRIBE,
    TT_WS_CTL_UNSUBSCRIBE,
    TT_WS_CTL_DETACH,
    TT_WS_CTL_SESSION,
    TT_WS_CTL_SET_META,
    TT_WS_CTL_KEEP_ALIVE,
    TT_WS_CTL_SEND_DELAYED,
    TT_WS_CTL_FLUSH_DELAYED,
};

struct tt_ws_ctl {
    enum tt_ws_ctl_type type;
    char *channel; /* subscribe, unsubscribe: non-empty */
    char *filters[TT_WS_GRIP_MAX_FILTERS];
    size_t num_filters;
    char *session_id; /* session: NULL or "" = clear the session */
    char *meta_name;  /* set-meta: non-empty */
    char *meta_value; /* set-meta: NULL = delete */
    /* keep-alive, send-delayed: content (NULL for a keep-alive = disable; a send-delayed
     * without content sends an empty message, as Pushpin) */
    uint8_t *content;
    size_t content_len;
    uint8_t opcode; /* TT_WS_OP_TEXT/BINARY/PING/PONG for the content */
    int timeout;    /* seconds, default applied */
    bool interval;  /* keep-alive mode "interval" (else idle) */
};

/* Parse a control message (the text after "c:"). Returns 0 with *out filled; TT_EPARSE for
 * an invalid message (err gets a short reason for a debug log; *out is empty); TT_ETOOBIG
 * for a subscribe with more than TT_WS_GRIP_MAX_FILTERS filters: then *out holds the type
 * and the channel (no filters), so the caller can close with 1011 "too many filters for
 * channel '<c>'" (Pushpin checks this only while under connection_subscription_max). */
int tt_ws_ctl_parse(const char *json, size_t len, struct tt_ws_ctl *out, char *err,
                    size_t errlen);
void tt_ws_ctl_free(struct tt_ws_ctl *c);

#endif

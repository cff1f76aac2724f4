/* item.h: publish items (SPEC.md section 5 "Item schema"), parsed from JSON.
 *
 * Parsing is sans-I/O and all-or-nothing: any invalid item rejects the whole request, and
 * the error text is exactly Pushpin's ("Invalid format: ..." is added by the API layer).
 * Owner: struct tt_pub_item owns its strings and json; tt_pub_items_free frees an array.
 * Thread: any (the control thread in practice). */
#ifndef TT_ITEM_H
#define TT_ITEM_H

#include <jansson.h>

#include "core/common.h"

enum tt_pub_action { TT_ACT_SEND = 0, TT_ACT_HINT, TT_ACT_CLOSE, TT_ACT_REFRESH };
enum tt_ws_type { TT_WS_TEXT = 0, TT_WS_BINARY, TT_WS_PING, TT_WS_PONG };

struct tt_pub_item {
    char *channel;
    char *id;      /* NULL if absent */
    char *prev_id; /* NULL if absent */
    bool no_seq;
    int size;           /* "size" (only validated, as Pushpin), -1 when absent */
    struct tt_kv *meta; /* sorted by name */
    size_t num_meta;

    bool has_http_response;
    struct {
        enum tt_pub_action action;
        int code;              /* default 200 */
        char *reason;          /* NULL = standard phrase */
        struct tt_kv *headers; /* in list order, or sorted by name for the {n:v} form */
        size_t num_headers;
        char *body; /* body or decoded body-bin; NULL when body-patch */
        size_t body_len;
        json_t *body_patch; /* JSON Patch array or NULL (owned ref) */
        char **content_filters;
        size_t num_content_filters;
    } http_response;

    bool has_http_stream;
    struct {
        enum tt_pub_action action;
        char *content; /* content or decoded content-bin */
        size_t content_len;
        char **content_filters;
        size_t num_content_filters;
    } http_stream;

    bool has_ws_message;
    struct {
        enum tt_pub_action action;
        enum tt_ws_type type;
        char *content; /* NULL when absent (ping/pong without content) */
        size_t content_len;
        int code; /* close code, -1 = none */
        char *reason;
        char **content_filters;
        size_t num_content_filters;
    } ws_message;
};

/* Parse one item object. On error returns TT_EPARSE with Pushpin's message in err (e.g.
 * "publish item object does not contain 'channel'", "publish item object contains 'id'
 * with wrong type", "no formats specified", "'http-response' does not contain 'body',
 * 'body-bin', or 'body-patch'"; an unknown action gives an empty message, as Pushpin).
 * require_channel is false for ZMQ SUB input: then "channel" is optional and only kept when
 * it is a string (the caller sets the topic). Lenient like Pushpin's QVariant reading:
 * "code"/"size" accept numbers, bools and numeric strings; body-bin/content-bin skip
 * characters outside the base64 alphabet. "refresh" is accepted for ws-message only.
 * On error *out is left zeroed (nothing to free). */
int tt_pub_item_from_json(json_t *obj, bool require_channel, struct tt_pub_item *out, char *err,
                          size_t errlen);

/* The same for an item decoded from a tnetstring (ZeroMQ inputs, the publish command),
 * whose strings are raw bytes: as in Pushpin, http-response "body-bin" and http-stream
 * "content-bin" are not looked at (the errors then read "'http-response' does not contain
 * 'body' or 'body-patch'" and "'http-stream' does not contain 'content'"), and ws-message
 * "content-bin" is taken as raw bytes, not base64. */
int tt_pub_item_from_tnet(json_t *obj, bool require_channel, struct tt_pub_item *out, char *err,
                          size_t errlen);

/* Parse a /publish/ body: {"items":[...]}. On success *items (with *n entries) is a new array
 * owned by the caller (tt_pub_items_free).
 * Errors (TT_EPARSE, err set exactly as the HTTP API answers after the status line):
 * "Body is not valid JSON.", "Invalid format.", "Invalid format: object does not contain
 * 'items'", "Invalid format: object contains 'items' with wrong type",
 * "Invalid format: <item error>".
 * Bodies of the common shape (items with channel, id, prev-id and one content or body per
 * format) are read without a JSON tree (pubsub/pubfast.c); every other body, and every
 * error, goes through tt_pub_parse_body_tree. The result is the same either way. */
int tt_pub_parse_body(const char *body, size_t len, struct tt_pub_item **items, size_t *n,
                      char *err, size_t errlen);
/* The same through a jansson tree for every body: the reference the fast path is checked
 * against (fuzz_publish, test_item). */
int tt_pub_parse_body_tree(const char *body, size_t len, struct tt_pub_item **items, size_t *n,
                           char *err, size_t errlen);

void tt_pub_item_deinit(struct tt_pub_item *it);
void tt_pub_items_free(struct tt_pub_item *items, size_t n);

/* Apply a JSON Patch (RFC 6902) to a JSON document given as text (the held response's
 * body). Returns a new malloc'd text (compact, keys in insertion order, with a trailing
 * newline if the original had one) or NULL on any error, including a patch that would
 * grow the document by more than 16 MiB (counted per value and string byte added). */
char *tt_json_patch_apply(const char *doc, size_t doc_len, json_t *patch, size_t *out_len);

#endif

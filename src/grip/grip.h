/* grip.h: GRIP instruction parser (SPEC.md section 4): Grip-* response headers and the
 * application/grip-instruct JSON body, into one struct.
 *
 * Sans-I/O. Owner: struct tt_grip owns all its strings; tt_grip_deinit frees them.
 * Errors fill err with Pushpin's reason text (used after "Failed to parse accept
 * instructions: "). Thread: any. */
#ifndef TT_GRIP_H
#define TT_GRIP_H

#include "core/common.h"
#include "http/h1.h"
#include "http/resp.h"

#define TT_GRIP_MAX_FILTERS 5
#define TT_GRIP_MAX_BODY 100000

enum tt_hold_mode { TT_HOLD_NONE = 0, TT_HOLD_RESPONSE, TT_HOLD_STREAM };
enum tt_ka_mode { TT_KA_IDLE = 0, TT_KA_INTERVAL };

struct tt_grip_channel {
    char *name; /* route prefix already prepended */
    char *prev_id; /* NULL if none */
    char *filters[TT_GRIP_MAX_FILTERS];
    int num_filters;
};

struct tt_grip_kv {
    char *name;
    char *value;
};

struct tt_grip {
    bool is_grip; /* any Grip-* header or grip-instruct content type */
    enum tt_hold_mode hold;
    struct tt_grip_channel *channels;
    size_t num_channels;
    int timeout; /* Grip-Timeout seconds; -1 = not given (default 55, min 5 applied by
                    tt_grip_hold_timeout) */
    /* keep-alive (stream only) */
    char *ka_data; /* decoded bytes, NULL = none */
    size_t ka_len;
    int ka_timeout; /* seconds, default 55, min 1 */
    enum tt_ka_mode ka_mode;
    /* Grip-Set-Meta / hold.meta */
    struct tt_grip_kv *meta;
    size_t num_meta;
    /* Grip-Status */
    int status; /* 0 = not given */
    char *status_reason; /* NULL = standard phrase */
    /* Grip-Link */
    char *next_link; /* URL as given (caller resolves relative to the request URI) */
    int next_link_timeout; /* seconds, 0 = none given (caller applies 120 if needed) */
    char *gone_link;
    /* Grip-Expose-Headers: lowercase names; NULL = keep all */
    char **expose;
    size_t num_expose;
    /* application/grip-instruct "response" replacement */
    bool has_response;
    int resp_code; /* 0 = keep the actual code */
    char *resp_reason; /* NULL = standard phrase for resp_code */
    struct tt_grip_kv *resp_headers;
    size_t num_resp_headers;
    char *resp_body;
    size_t resp_body_len;
    /* Additions (after the original fields so that nothing above moves). */
    bool has_status; /* Grip-Status given; needed because "Grip-Status: 0" is legal */
};

/* Parse instructions from a backend response. prefix (may be NULL) is the route's channel
 * prefix. max_channels caps channels (extras ignored, as Pushpin). body is the complete
 * response body (only read when the content type is application/grip-instruct; then the
 * status must be 200). Returns 0, or TT_EPARSE with err set (and *out zeroed). A response
 * with no GRIP at all returns 0 with is_grip false.
 * Merging: Grip-* headers are read first, then the JSON body adds to them (channels
 * appended, meta merged; JSON hold mode, timeout and keep-alive override the headers').
 * For application/grip-instruct, has_response is always true: the real response's
 * non-Grip headers and body are replaced by resp_* even when the JSON has no "response"
 * (Pushpin). Use tt_grip_status_line for the resulting status line.
 * Stricter than Pushpin on purpose: bad quoting in a Grip-Channel/Link/Set-Meta/Keep-Alive
 * value, an empty channel name, control bytes in a Grip-Status reason, Grip-Link URL or
 * JSON header, and invalid base64 are errors rather than silently dropped. */
int tt_grip_parse(const struct tt_h1_response *resp, const char *body, size_t body_len,
                  const char *prefix, size_t max_channels, struct tt_grip *out, char *err,
                  size_t errlen);

/* True if the response carries GRIP (any Grip-* header or grip-instruct content type). */
bool tt_grip_detect(const struct tt_h1_response *resp);

/* Effective response-hold timeout in seconds: 55 if not given, at least 5. */
int tt_grip_hold_timeout(const struct tt_grip *g);

/* The status line the client gets for a non-hold response, a stream start or a
 * response-hold timeout: the backend's (actual_code, actual_reason), then Grip-Status, then
 * the grip-instruct "response" code and reason, applied in Pushpin's order (a JSON "code"
 * resets the reason to the standard phrase; an empty reason means the standard phrase).
 * Returns the code. *reason is NULL when the standard phrase for that code is to be used,
 * else it points into g or actual_reason (borrowed, valid while they are). */
int tt_grip_status_line(const struct tt_grip *g, int actual_code, const char *actual_reason,
                        size_t actual_reason_len, const char **reason, size_t *reason_len);

/* Frees every string and array and zeroes *g. Safe on a zeroed struct and after a failed
 * tt_grip_parse (which already leaves *g zeroed). */
void tt_grip_deinit(struct tt_grip *g);

/* Split a header value on unquoted commas and each item on unquoted ';' into
 * value + params (Pushpin's parser). Calls fn for each item; params unquoted. Exposed for
 * reuse (Grip-Channel, Grip-Link, Grip-Keep-Alive). Returns 0 or TT_EPARSE.
 * Details (as Pushpin): items and names are trimmed; the item value is the raw text before
 * its first ';' (not unquoted, NOT NUL-terminated: use value_len); a param value is quoted
 * only when '"' directly follows '=' (backslash escapes inside); text after the closing
 * quote up to the next ';' is ignored. Unterminated quotes or more than 32 params in an
 * item are TT_EPARSE; a negative return from fn stops the walk with TT_EPARSE. Param
 * values are freed after fn returns. */
struct tt_grip_param {
    const char *name;
    size_t name_len;
    char *value; /* unquoted copy, NUL-terminated; NULL if the param had no '=' */
};
typedef int (*tt_grip_item_fn)(void *ctx, const char *value, size_t value_len,
                               struct tt_grip_param *params, size_t num_params);
int tt_grip_split_header(const char *v, size_t len, tt_grip_item_fn fn, void *ctx);

/* Apply the instructions that shape the client's response: Grip-Expose-Headers (keep
 * only the listed headers), Grip-Status, and a grip-instruct "response" (replaces the
 * headers and body). */
void tt_grip_apply(const struct tt_grip *g, struct tt_resp *resp);

#endif

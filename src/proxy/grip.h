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
};

/* Parse instructions from a backend response. prefix (may be NULL) is the route's channel
 * prefix. max_channels caps channels (extras ignored, as Pushpin). body is the complete
 * response body (only read when the content type is application/grip-instruct; then the
 * status must be 200). Returns 0, or TT_EPARSE with err set. A response with no GRIP at
 * all returns 0 with is_grip false. */
int tt_grip_parse(const struct tt_h1_response *resp, const char *body, size_t body_len,
                  const char *prefix, size_t max_channels, struct tt_grip *out, char *err,
                  size_t errlen);

/* True if the response carries GRIP (any Grip-* header or grip-instruct content type). */
bool tt_grip_detect(const struct tt_h1_response *resp);

/* Effective response-hold timeout in seconds: 55 if not given, at least 5. */
int tt_grip_hold_timeout(const struct tt_grip *g);

void tt_grip_deinit(struct tt_grip *g);

/* Split a header value on unquoted commas and each item on unquoted ';' into
 * value + params (Pushpin's parser). Calls fn for each item; params unquoted. Exposed for
 * reuse (Grip-Channel, Grip-Link, Grip-Keep-Alive). Returns 0 or TT_EPARSE. */
struct tt_grip_param {
    const char *name;
    size_t name_len;
    char *value; /* unquoted copy, NUL-terminated; NULL if the param had no '=' */
};
typedef int (*tt_grip_item_fn)(void *ctx, const char *value, size_t value_len,
                               struct tt_grip_param *params, size_t num_params);
int tt_grip_split_header(const char *v, size_t len, tt_grip_item_fn fn, void *ctx);

#endif

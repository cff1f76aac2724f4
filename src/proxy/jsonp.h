/* jsonp.h: Pushpin's JSON-P support (SPEC.md section 8), as a sans-I/O module: the request
 * rewrite (callback, _method, _headers, body params) and the response wrapping.
 *
 * Active only on routes with auto cross-origin (route `aco` or [proxy] auto_cross_origin)
 * and only for GET requests whose query has the callback param (route jsonp_cb, default
 * "callback"), or jsonp_defcb set and the jsonp_body param present.
 * Owner: struct tt_jsonp owns its strings; tt_jsonp_deinit frees them. Thread: any. */
#ifndef TT_JSONP_H
#define TT_JSONP_H

#include "http/resp.h"
#include "routes/routes.h"

struct tt_jsonp {
    bool active;
    bool basic;          /* route jsonp_mode=basic */
    char *callback;      /* percent-decoded callback name */
    char method[16];     /* method for the backend (_method, or the mode's default) */
    char *target;        /* path + query with the JSON-P params removed ("?" dropped if empty) */
    struct tt_kv *headers; /* from _headers (Host and Accept ignored), sorted by name */
    size_t num_headers;
    bool has_body;
    char *body; /* from the jsonp_body param (then body_is_json) or _body */
    size_t body_len;
    bool body_is_json; /* backend gets Content-Type: application/json */
};

/* Inspect a request. aco: auto cross-origin is on for this request's route. Returns 0 with
 * out->active false when JSON-P does not apply, 0 with active true when it does, or
 * TT_EPARSE with *err set to Pushpin's 400 body text without the newline ("Invalid callback
 * parameter.", "Invalid _method parameter.", "Invalid _headers parameter.", "Invalid body
 * parameter.", "Invalid _body parameter."). */
int tt_jsonp_request(const struct tt_route *route, bool aco, const char *method,
                     const char *target, size_t target_len, struct tt_jsonp *out,
                     const char **err);

/* Wrap a complete response into out (initialised here): always 200 OK, Content-Type
 * application/javascript (plus the original Cache-Control, if any, for proxied responses).
 * Extended mode: `/<star><star>/cb({"code": C, "reason": "R", "headers": {...first value
 * per name...}, "body": "..."});\n` in the proxy's hand-built style; handler_style (long-
 * poll deliveries and timeouts): compact JSON with sorted keys and headers joined
 * `{name:"v1, v2"}`: `/<star><star>/cb({"body":"..","code":C,"headers":{..},"reason":"R"});\n`.
 * Basic mode: `/<star><star>/cb(<body without one trailing newline>);\n`.
 * Invalid UTF-8 in the body becomes U+FFFD (as Pushpin 1.36), so this returns 0; a
 * TT_EPARSE would make the caller answer 500 "Upstream response could not be JSON-P
 * encoded.". */
int tt_jsonp_wrap(const struct tt_jsonp *j, const struct tt_resp *in, bool handler_style,
                  struct tt_resp *out);

void tt_jsonp_deinit(struct tt_jsonp *j);

#endif

/* zrpc.h: ZRPC, the request/response codec of Pushpin's command socket (SPEC.md section
 * 5 "Command socket"; ZrpcRequestPacket, ZrpcResponsePacket, ZrpcManager). Sans-I/O.
 *
 * A request is a tnetstring dict {"from":opt, "id":opt, "method":str, "args":opt dict}
 * (no "T" prefix). The answer is {"id":<echoed when non-empty>, "success":true,
 * "value":<value, null if none>} or {"id":.., "success":false, "condition":<str>,
 * "value":<opt>}. Pushpin serves it on a ROUTER socket (REQ clients see a REP): the parts
 * before the first empty part are the return envelope, and exactly one non-empty part
 * must follow; anything else is skipped without an answer.
 * Owner: a decoded request/response owns its tree (root) and points into it; deinit
 * frees it. Encoders append to the caller's buffer. Thread: any. */
#ifndef TT_ZMQ_ZRPC_H
#define TT_ZMQ_ZRPC_H

#include <jansson.h>

#include "core/buf.h"
#include "core/common.h"
#include "zmq/part.h"
#include "zmq/tnetstring.h"

struct tt_zrpc_request {
    json_t *root;
    const char *from; /* NULL when absent */
    size_t from_len;
    const char *id; /* NULL when absent */
    size_t id_len;
    const char *method;
    size_t method_len;
    json_t *args; /* borrowed from root: an object, empty when absent */
};

struct tt_zrpc_response {
    json_t *root;
    const char *id; /* NULL when absent */
    size_t id_len;
    bool success;
    const char *condition; /* failures */
    size_t condition_len;
    json_t *value; /* borrowed; NULL when absent (failures only) */
};

/* Split a ROUTER message: *num_headers parts of envelope, then the one content part.
 * Returns 0, or TT_EPARSE when there is no empty delimiter part or the non-empty parts
 * after it are not exactly one (Pushpin: "received message with parts != 1"). */
int tt_zrpc_envelope(const struct tt_zmq_part *parts, size_t n, size_t *num_headers,
                     const struct tt_zmq_part **content);

/* Decode a request. Returns 0, or TT_EPARSE / TT_ETOOBIG with err "invalid format
 * (tnetstring parse failed: <why>)" or "invalid format (parse failed: <field>)". On error
 * out holds nothing to free. lim NULL = tt_tnet_default_limits. */
int tt_zrpc_request_decode(const char *buf, size_t len, const struct tt_tnet_limits *lim,
                           struct tt_zrpc_request *out, char *err, size_t errlen);
void tt_zrpc_request_deinit(struct tt_zrpc_request *r);

/* Encode a request (client side). id may be NULL; args NULL = none. Returns 0 or the
 * serializer's error. */
int tt_zrpc_request_encode(const char *id, size_t id_len, const char *method, json_t *args,
                           struct tt_buf *out);

/* Encode an answer. Success: condition NULL, value NULL means null. Failure: condition
 * set, value NULL means absent. id NULL or empty is not written. */
int tt_zrpc_response_encode(const char *id, size_t id_len, const char *condition, json_t *value,
                            struct tt_buf *out);

/* Decode an answer (client side), same error contract as the request decoder. */
int tt_zrpc_response_decode(const char *buf, size_t len, const struct tt_tnet_limits *lim,
                            struct tt_zrpc_response *out, char *err, size_t errlen);
void tt_zrpc_response_deinit(struct tt_zrpc_response *r);

#endif

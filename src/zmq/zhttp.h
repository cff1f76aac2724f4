/* zhttp.h: the zhttp packet model and its wire form (SPEC.md sections 1, 2; Pushpin's
 * ZhttpRequestPacket / ZhttpResponsePacket and ZhttpManager framing). Sans-I/O.
 *
 * A packet travels as "T" + tnetstring of a dict. Request packets go from the HTTP client
 * side (the proxy) to a handler, response packets back. Both carry from, id (one id, or a
 * list of {id, seq} dicts), seq, type (absent = data; error, credit, keep-alive, cancel,
 * handoff-start, handoff-proceed, close, ping, pong), condition (error), credits, more,
 * body, content-type, code, user-data and ext ({multi, quiet}). Requests add stream,
 * router-resp, max-size, timeout, method, uri, headers ([[name, value], ...]), peer-address,
 * peer-port (written as a string, as Pushpin does; read as int or digit string),
 * connect-host, connect-port, ignore-policies, trust-connect-host, ignore-tls-errors,
 * client-cert, client-key, follow-redirects, passthrough. Responses add reason and
 * headers, which Pushpin writes only when code is set and the packet is data (or an error
 * with condition "rejected"), and then always (reason may be empty).
 *
 * Socket framing, as Pushpin's proxy uses it toward a route target (all bound by the
 * proxy; the handler connects):
 *   zhttpreq/<spec>  DEALER on <spec>. Sends ["", T...]; receives ["", T...] (two parts;
 *                    a REP handler sees just T... and replies T...). One response per
 *                    request; ids must be unique per instance.
 *   zhttp/<base>     three sockets (tt_zhttp_stream_specs): PUSH on "out" carries the first
 *                    packet of each request as one part T...; ROUTER on "out-stream" with
 *                    identity = our instance id carries later packets (credits, cancel,
 *                    keep-alive, more body) to the handler address learned from the
 *                    response's "from" as [address, "", T...] and receives [address, "",
 *                    T...] (or [address, "", "probe-ack"]); SUB on "in", subscribed to
 *                    "<instance id> ", receives one part "<instance id> T..." (split with
 *                    tt_zhttp_split_addressed). Responses carry our instance id in "from"
 *                    of the request they answer.
 * The handler side mirrors it: PULL (T...), ROUTER ([address, "", T...]) and PUB
 * ("<address> T...").
 *
 * Owner: a decoded packet points into its own jansson tree (root) and owns the ids and
 * headers arrays; tt_zhttp_packet_deinit frees all of it. For encoding the caller fills a
 * packet (after tt_zhttp_packet_init) with borrowed pointers. Thread: any. */
#ifndef TT_ZMQ_ZHTTP_H
#define TT_ZMQ_ZHTTP_H

#include <jansson.h>

#include "core/buf.h"
#include "core/common.h"
#include "zmq/tnetstring.h"

/* Caps on a decoded packet, beyond the tnetstring limits. */
#define TT_ZHTTP_MAX_IDS 1024
#define TT_ZHTTP_MAX_HEADERS 1024

enum tt_zhttp_kind { TT_ZHTTP_REQUEST, TT_ZHTTP_RESPONSE };

enum tt_zhttp_type {
    TT_ZHTTP_DATA = 0,
    TT_ZHTTP_ERROR,
    TT_ZHTTP_CREDIT,
    TT_ZHTTP_KEEP_ALIVE,
    TT_ZHTTP_CANCEL,
    TT_ZHTTP_HANDOFF_START,
    TT_ZHTTP_HANDOFF_PROCEED,
    TT_ZHTTP_CLOSE,
    TT_ZHTTP_PING,
    TT_ZHTTP_PONG,
};

/* A byte string; p == NULL means absent (distinct from present and empty). */
struct tt_zhttp_str {
    const char *p;
    size_t len;
};

struct tt_zhttp_id {
    struct tt_zhttp_str id;
    int seq; /* -1 = none */
};

struct tt_zhttp_header {
    struct tt_zhttp_str name;
    struct tt_zhttp_str value;
};

struct tt_zhttp_packet {
    struct tt_zhttp_str from;
    struct tt_zhttp_id *ids;
    size_t num_ids;
    enum tt_zhttp_type type;
    struct tt_zhttp_str condition; /* error packets */
    int credits;                   /* -1 = none */
    bool more;
    struct tt_zhttp_str body; /* p == NULL: no body key */
    struct tt_zhttp_str content_type;
    int code;          /* -1 = none (HTTP status, or WebSocket close code) */
    json_t *user_data; /* borrowed; NULL = none */
    bool multi, quiet; /* ext */

    /* request packets */
    bool stream;
    bool router_resp;
    int max_size; /* -1 = none */
    int timeout;  /* -1 = none */
    struct tt_zhttp_str method;
    struct tt_zhttp_str uri;
    struct tt_zhttp_header *headers; /* also response packets */
    size_t num_headers;
    struct tt_zhttp_str peer_address;
    int peer_port; /* -1 = none */
    struct tt_zhttp_str connect_host;
    int connect_port; /* -1 = none */
    bool ignore_policies, trust_connect_host, ignore_tls_errors, follow_redirects;
    struct tt_zhttp_str client_cert, client_key;
    json_t *passthrough; /* borrowed; NULL = none */

    /* response packets */
    struct tt_zhttp_str reason;

    /* set by decode: the tree the strings point into (owned) */
    json_t *root;
    bool owns_arrays;
};

/* Defaults: every int -1, everything else empty/absent. */
void tt_zhttp_packet_init(struct tt_zhttp_packet *p);
void tt_zhttp_packet_deinit(struct tt_zhttp_packet *p);

/* Name of a type as on the wire ("data" for TT_ZHTTP_DATA, which is never written). */
const char *tt_zhttp_type_name(enum tt_zhttp_type t);

/* Append "T" + tnetstring of p, as Pushpin writes a packet of that kind. Returns 0 or
 * TT_ETOOBIG (out's cap) or TT_EPARSE (user_data/passthrough hold a non-finite real). */
int tt_zhttp_encode(const struct tt_zhttp_packet *p, enum tt_zhttp_kind kind, struct tt_buf *out);

/* Decode one part "T<tnetstring>" (the T included) into out (tt_zhttp_packet_init is not
 * needed first). Returns 0, or TT_EPARSE / TT_ETOOBIG with err set to a message in
 * Pushpin's words: "invalid format (missing type)", "invalid format (tnetstring parse
 * failed: <detail>)", "invalid format (parse failed: <which field>)". Bytes after the
 * tnetstring are ignored, as Pushpin does. Keys of the other kind are not looked at (a
 * response decoder ignores "method"). On error out is left deinitialized (nothing to
 * free). lim NULL = tt_tnet_default_limits. */
int tt_zhttp_decode(const char *buf, size_t len, enum tt_zhttp_kind kind,
                    const struct tt_tnet_limits *lim, struct tt_zhttp_packet *out, char *err,
                    size_t errlen);

/* Split a PUB/SUB part "<address> T..." at its first space. Returns 0, or TT_EPARSE when
 * there is no space. The halves point into msg. */
int tt_zhttp_split_addressed(const char *msg, size_t len, struct tt_zhttp_str *address,
                             struct tt_zhttp_str *packet);

/* The specs of a zhttp/<base> route target, as Pushpin derives them: a base ending in
 * ":<port>" (tcp) gives ports port, port+1, port+2; any other base gives base + "-out",
 * "-out-stream", "-in". out[0] = out (PUSH), out[1] = out-stream (ROUTER), out[2] = in
 * (SUB); each a new string the caller frees. Returns 0, or TT_EPARSE for a base without
 * "://" or a port that is not a number or leaves 1..65535. */
int tt_zhttp_stream_specs(const char *base, char *out[3]);

#endif

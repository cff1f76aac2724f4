/* zhttp.c: zhttp packet encode/decode (see zhttp.h).
 *
 * Decoding follows the checks of Pushpin's fromVariant in its order, so a packet Pushpin
 * refuses is refused here, with two deliberate differences: an integer field must hold an
 * integer or a string of digits that fits an int (Qt turns any string into 0), and the
 * number of ids and headers is capped. Encoding writes the keys Pushpin writes, under
 * the same conditions; key order is fixed (Pushpin's follows its hash table). */
#include "zmq/zhttp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const type_names[] = {
    [TT_ZHTTP_DATA] = "data",
    [TT_ZHTTP_ERROR] = "error",
    [TT_ZHTTP_CREDIT] = "credit",
    [TT_ZHTTP_KEEP_ALIVE] = "keep-alive",
    [TT_ZHTTP_CANCEL] = "cancel",
    [TT_ZHTTP_HANDOFF_START] = "handoff-start",
    [TT_ZHTTP_HANDOFF_PROCEED] = "handoff-proceed",
    [TT_ZHTTP_CLOSE] = "close",
    [TT_ZHTTP_PING] = "ping",
    [TT_ZHTTP_PONG] = "pong",
};

const char *tt_zhttp_type_name(enum tt_zhttp_type t)
{
    if ((size_t)t < TT_ARRAY_LEN(type_names))
        return type_names[t];
    return "unknown";
}

void tt_zhttp_packet_init(struct tt_zhttp_packet *p)
{
    memset(p, 0, sizeof(*p));
    p->credits = -1;
    p->max_size = -1;
    p->timeout = -1;
    p->code = -1;
    p->peer_port = -1;
    p->connect_port = -1;
}

void tt_zhttp_packet_deinit(struct tt_zhttp_packet *p)
{
    if (!p)
        return;
    if (p->owns_arrays) {
        free(p->ids);
        free(p->headers);
    }
    if (p->root)
        json_decref(p->root);
    tt_zhttp_packet_init(p);
}

/* ---- encode ---- */

static void put_str(json_t *o, const char *key, struct tt_zhttp_str s)
{
    json_object_set_new_nocheck(o, key, json_stringn_nocheck(s.p ? s.p : "", s.len));
}

static void put_nonempty(json_t *o, const char *key, struct tt_zhttp_str s)
{
    if (s.p && s.len)
        put_str(o, key, s);
}

static void put_int(json_t *o, const char *key, int v)
{
    if (v != -1)
        json_object_set_new_nocheck(o, key, json_integer(v));
}

static void put_true(json_t *o, const char *key, bool v)
{
    if (v)
        json_object_set_new_nocheck(o, key, json_true());
}

static json_t *headers_json(const struct tt_zhttp_packet *p)
{
    json_t *list = json_array();
    for (size_t i = 0; i < p->num_headers; i++) {
        const struct tt_zhttp_header *h = &p->headers[i];
        json_t *pair = json_array();
        json_array_append_new(pair, json_stringn_nocheck(h->name.p ? h->name.p : "", h->name.len));
        json_array_append_new(pair,
                              json_stringn_nocheck(h->value.p ? h->value.p : "", h->value.len));
        json_array_append_new(list, pair);
    }
    return list;
}

static void put_ids(json_t *o, const struct tt_zhttp_packet *p)
{
    if (p->num_ids == 1) {
        put_nonempty(o, "id", p->ids[0].id);
        put_int(o, "seq", p->ids[0].seq);
    } else if (p->num_ids > 1) {
        json_t *list = json_array();
        for (size_t i = 0; i < p->num_ids; i++) {
            json_t *d = json_object();
            put_nonempty(d, "id", p->ids[i].id);
            put_int(d, "seq", p->ids[i].seq);
            json_array_append_new(list, d);
        }
        json_object_set_new_nocheck(o, "id", list);
    }
}

static json_t *packet_json(const struct tt_zhttp_packet *p, enum tt_zhttp_kind kind)
{
    json_t *o = json_object();
    bool req = kind == TT_ZHTTP_REQUEST;
    put_nonempty(o, "from", p->from);
    put_ids(o, p);
    if (p->type != TT_ZHTTP_DATA)
        json_object_set_new_nocheck(o, "type", json_string(tt_zhttp_type_name(p->type)));
    if (p->type == TT_ZHTTP_ERROR)
        put_nonempty(o, "condition", p->condition);
    put_int(o, "credits", p->credits);
    put_true(o, "more", p->more);
    if (req) {
        put_true(o, "stream", p->stream);
        put_true(o, "router-resp", p->router_resp);
        put_int(o, "max-size", p->max_size);
        put_int(o, "timeout", p->timeout);
        put_nonempty(o, "method", p->method);
        put_nonempty(o, "uri", p->uri);
        if (p->num_headers)
            json_object_set_new_nocheck(o, "headers", headers_json(p));
    } else if (p->code != -1) {
        put_int(o, "code", p->code);
        bool rejected = p->type == TT_ZHTTP_ERROR && p->condition.p && p->condition.len == 8 &&
                        memcmp(p->condition.p, "rejected", 8) == 0;
        if (p->type == TT_ZHTTP_DATA || rejected) {
            put_str(o, "reason", p->reason);
            json_object_set_new_nocheck(o, "headers", headers_json(p));
        }
    }
    if (p->body.p)
        put_str(o, "body", p->body);
    put_nonempty(o, "content-type", p->content_type);
    if (req)
        put_int(o, "code", p->code);
    if (p->user_data)
        json_object_set_nocheck(o, "user-data", p->user_data);
    if (req) {
        put_nonempty(o, "peer-address", p->peer_address);
        if (p->peer_port != -1) {
            char port[16];
            int n = snprintf(port, sizeof(port), "%d", p->peer_port);
            json_object_set_new_nocheck(o, "peer-port", json_stringn(port, (size_t)n));
        }
        put_nonempty(o, "connect-host", p->connect_host);
        put_int(o, "connect-port", p->connect_port);
        put_true(o, "ignore-policies", p->ignore_policies);
        put_true(o, "trust-connect-host", p->trust_connect_host);
        put_true(o, "ignore-tls-errors", p->ignore_tls_errors);
        put_nonempty(o, "client-cert", p->client_cert);
        put_nonempty(o, "client-key", p->client_key);
        put_true(o, "follow-redirects", p->follow_redirects);
        if (p->passthrough)
            json_object_set_nocheck(o, "passthrough", p->passthrough);
    }
    if (p->multi || (req && p->quiet)) {
        json_t *ext = json_object();
        put_true(ext, "multi", p->multi);
        if (req)
            put_true(ext, "quiet", p->quiet);
        json_object_set_new_nocheck(o, "ext", ext);
    }
    return o;
}

int tt_zhttp_encode(const struct tt_zhttp_packet *p, enum tt_zhttp_kind kind, struct tt_buf *out)
{
    json_t *o = packet_json(p, kind);
    int r = tt_buf_append(out, "T", 1);
    if (r == 0)
        r = tt_tnet_serialize(o, out);
    json_decref(o);
    return r;
}

/* ---- decode ---- */

static int set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TT_EPARSE;
}

#define BAD_FIELD(what) set_err(err, errlen, "invalid format (parse failed: %s)", what)

static struct tt_zhttp_str str_of(json_t *v)
{
    struct tt_zhttp_str s = {json_string_value(v), json_string_length(v)};
    return s;
}

/* Optional string member: 0 when absent or a string, -1 on another type. */
static int get_str(json_t *o, const char *key, struct tt_zhttp_str *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = str_of(v);
    return 0;
}

/* An int field: a JSON integer or a string of digits (optionally '-') within int range. */
static int to_int(json_t *v, int *out)
{
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), i = 0;
        bool neg = n > 0 && s[0] == '-';
        i = neg ? 1 : 0;
        if (i == n || n - i > 10)
            return -1;
        x = 0;
        for (; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            x = x * 10 + (s[i] - '0');
        }
        if (neg)
            x = -x;
    } else {
        return -1;
    }
    if (x < INT32_MIN || x > INT32_MAX)
        return -1;
    *out = (int)x;
    return 0;
}

static int get_int(json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    return v ? to_int(v, out) : 0;
}

static int get_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int decode_ids(json_t *o, struct tt_zhttp_packet *p, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, "id");
    if (v) {
        if (json_is_string(v)) {
            p->ids = tt_calloc(1, sizeof(*p->ids));
            p->ids[0].id = str_of(v);
            p->ids[0].seq = -1;
            p->num_ids = 1;
        } else if (json_is_array(v)) {
            size_t n = json_array_size(v);
            if (n > TT_ZHTTP_MAX_IDS)
                return BAD_FIELD("too many ids");
            p->ids = tt_calloc(n ? n : 1, sizeof(*p->ids));
            for (size_t i = 0; i < n; i++) {
                json_t *d = json_array_get(v, i);
                struct tt_zhttp_id *id = &p->ids[p->num_ids++];
                id->seq = -1;
                if (!json_is_object(d))
                    return BAD_FIELD("id");
                if (get_str(d, "id", &id->id) < 0)
                    return BAD_FIELD("id");
                if (get_int(d, "seq", &id->seq) < 0)
                    return BAD_FIELD("seq");
            }
        } else {
            return BAD_FIELD("id");
        }
    }
    v = json_object_get(o, "seq");
    if (v) {
        int seq;
        if (to_int(v, &seq) < 0)
            return BAD_FIELD("seq");
        if (p->num_ids == 0) {
            p->ids = tt_calloc(1, sizeof(*p->ids));
            p->num_ids = 1;
        }
        p->ids[0].seq = seq;
    }
    return 0;
}

static int decode_headers(json_t *o, struct tt_zhttp_packet *p, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, "headers");
    if (!v)
        return 0;
    if (!json_is_array(v))
        return BAD_FIELD("headers");
    size_t n = json_array_size(v);
    if (n > TT_ZHTTP_MAX_HEADERS)
        return BAD_FIELD("too many headers");
    p->headers = tt_calloc(n ? n : 1, sizeof(*p->headers));
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(v, i);
        if (!json_is_array(h) || json_array_size(h) != 2 || !json_is_string(json_array_get(h, 0)) ||
            !json_is_string(json_array_get(h, 1)))
            return BAD_FIELD("headers");
        p->headers[i].name = str_of(json_array_get(h, 0));
        p->headers[i].value = str_of(json_array_get(h, 1));
        p->num_headers++;
    }
    return 0;
}

static int decode_type(json_t *o, struct tt_zhttp_packet *p, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, "type");
    p->type = TT_ZHTTP_DATA;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return BAD_FIELD("type");
    for (size_t t = TT_ZHTTP_ERROR; t < TT_ARRAY_LEN(type_names); t++) {
        size_t n = strlen(type_names[t]);
        if (json_string_length(v) == n && memcmp(json_string_value(v), type_names[t], n) == 0) {
            p->type = (enum tt_zhttp_type)t;
            return 0;
        }
    }
    return BAD_FIELD("type");
}

/* The request-only fields, in Pushpin's order. */
static int decode_request_fields(json_t *o, struct tt_zhttp_packet *p, char *err, size_t errlen)
{
    if (get_bool(o, "stream", &p->stream) < 0)
        return BAD_FIELD("stream");
    if (get_bool(o, "router-resp", &p->router_resp) < 0)
        return BAD_FIELD("router-resp");
    if (get_int(o, "max-size", &p->max_size) < 0)
        return BAD_FIELD("max-size");
    if (get_int(o, "timeout", &p->timeout) < 0)
        return BAD_FIELD("timeout");
    if (get_str(o, "method", &p->method) < 0)
        return BAD_FIELD("method");
    if (get_str(o, "uri", &p->uri) < 0)
        return BAD_FIELD("uri");
    return decode_headers(o, p, err, errlen);
}

static int decode_tail_request(json_t *o, struct tt_zhttp_packet *p, char *err, size_t errlen)
{
    if (get_str(o, "peer-address", &p->peer_address) < 0)
        return BAD_FIELD("peer-address");
    if (get_int(o, "peer-port", &p->peer_port) < 0)
        return BAD_FIELD("peer-port");
    if (get_str(o, "connect-host", &p->connect_host) < 0)
        return BAD_FIELD("connect-host");
    if (get_int(o, "connect-port", &p->connect_port) < 0)
        return BAD_FIELD("connect-port");
    if (get_bool(o, "ignore-policies", &p->ignore_policies) < 0)
        return BAD_FIELD("ignore-policies");
    if (get_bool(o, "trust-connect-host", &p->trust_connect_host) < 0)
        return BAD_FIELD("trust-connect-host");
    if (get_bool(o, "ignore-tls-errors", &p->ignore_tls_errors) < 0)
        return BAD_FIELD("ignore-tls-errors");
    if (get_str(o, "client-cert", &p->client_cert) < 0)
        return BAD_FIELD("client-cert");
    if (get_str(o, "client-key", &p->client_key) < 0)
        return BAD_FIELD("client-key");
    if (get_bool(o, "follow-redirects", &p->follow_redirects) < 0)
        return BAD_FIELD("follow-redirects");
    p->passthrough = json_object_get(o, "passthrough");
    return 0;
}

static int decode_fields(json_t *o, enum tt_zhttp_kind kind, struct tt_zhttp_packet *p, char *err,
                         size_t errlen)
{
    bool req = kind == TT_ZHTTP_REQUEST;
    int r;
    if (!json_is_object(o))
        return BAD_FIELD("not a dict");
    if (get_str(o, "from", &p->from) < 0)
        return BAD_FIELD("from");
    if ((r = decode_ids(o, p, err, errlen)) < 0)
        return r;
    if ((r = decode_type(o, p, err, errlen)) < 0)
        return r;
    if (p->type == TT_ZHTTP_ERROR && get_str(o, "condition", &p->condition) < 0)
        return BAD_FIELD("condition");
    if (get_int(o, "credits", &p->credits) < 0)
        return BAD_FIELD("credits");
    if (get_bool(o, "more", &p->more) < 0)
        return BAD_FIELD("more");
    if (req && (r = decode_request_fields(o, p, err, errlen)) < 0)
        return r;
    if (!req) {
        if (get_int(o, "code", &p->code) < 0)
            return BAD_FIELD("code");
        if (get_str(o, "reason", &p->reason) < 0)
            return BAD_FIELD("reason");
        if ((r = decode_headers(o, p, err, errlen)) < 0)
            return r;
    }
    if (get_str(o, "body", &p->body) < 0)
        return BAD_FIELD("body");
    if (get_str(o, "content-type", &p->content_type) < 0)
        return BAD_FIELD("content-type");
    if (req && get_int(o, "code", &p->code) < 0)
        return BAD_FIELD("code");
    p->user_data = json_object_get(o, "user-data");
    if (req && (r = decode_tail_request(o, p, err, errlen)) < 0)
        return r;
    json_t *ext = json_object_get(o, "ext");
    if (ext) {
        if (!json_is_object(ext))
            return BAD_FIELD("ext");
        /* Pushpin reads the ext flags only when they are bools, ignoring anything else. */
        json_t *v = json_object_get(ext, "multi");
        if (json_is_boolean(v))
            p->multi = json_is_true(v);
        v = json_object_get(ext, "quiet");
        if (req && json_is_boolean(v))
            p->quiet = json_is_true(v);
    }
    return 0;
}

int tt_zhttp_decode(const char *buf, size_t len, enum tt_zhttp_kind kind,
                    const struct tt_tnet_limits *lim, struct tt_zhttp_packet *out, char *err,
                    size_t errlen)
{
    tt_zhttp_packet_init(out);
    if (len < 1 || buf[0] != 'T')
        return set_err(err, errlen, "invalid format (missing type)");
    json_t *root = NULL;
    struct tt_tnet_error te;
    int r = tt_tnet_parse(buf + 1, len - 1, lim, &root, &te);
    if (r < 0) {
        set_err(err, errlen, "invalid format (tnetstring parse failed: %s at offset %zu)",
                tt_tnet_strerror(te.code), te.offset + 1);
        return r == TT_ETOOBIG ? TT_ETOOBIG : TT_EPARSE;
    }
    out->root = root;
    out->owns_arrays = true;
    r = decode_fields(root, kind, out, err, errlen);
    if (r < 0)
        tt_zhttp_packet_deinit(out);
    return r;
}

int tt_zhttp_split_addressed(const char *msg, size_t len, struct tt_zhttp_str *address,
                             struct tt_zhttp_str *packet)
{
    const char *sp = memchr(msg, ' ', len);
    if (!sp)
        return TT_EPARSE;
    address->p = msg;
    address->len = (size_t)(sp - msg);
    packet->p = sp + 1;
    packet->len = len - address->len - 1;
    return 0;
}

int tt_zhttp_stream_specs(const char *base, char *out[3])
{
    out[0] = out[1] = out[2] = NULL;
    const char *scheme_end = strstr(base, "://");
    if (!scheme_end)
        return TT_EPARSE;
    const char *rest = scheme_end + 3;
    const char *colon = strrchr(rest, ':');
    /* A colon inside [v6] brackets is not a port separator. */
    if (colon && strchr(colon, ']'))
        colon = NULL;
    size_t n = strlen(base);
    if (!colon) {
        static const char *const sfx[] = {"-out", "-out-stream", "-in"};
        for (int i = 0; i < 3; i++) {
            size_t m = n + strlen(sfx[i]) + 1;
            out[i] = tt_malloc(m);
            snprintf(out[i], m, "%s%s", base, sfx[i]);
        }
        return 0;
    }
    int64_t port = tt_parse_uint(colon + 1, strlen(colon + 1), 65535);
    if (port < 1 || port + 2 > 65535)
        return TT_EPARSE;
    size_t prefix = (size_t)(colon + 1 - base);
    for (int i = 0; i < 3; i++) {
        size_t m = prefix + 8;
        out[i] = tt_malloc(m);
        snprintf(out[i], m, "%.*s%d", (int)prefix, base, (int)port + i);
    }
    return 0;
}

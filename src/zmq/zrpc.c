/* zrpc.c: ZRPC request/response codec (see zrpc.h). Field checks follow Pushpin's
 * ZrpcRequestPacket/ZrpcResponsePacket::fromVariant in order. */
#include "zmq/zrpc.h"

#include <stdarg.h>
#include <stdio.h>

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

int tt_zrpc_envelope(const struct tt_zmq_part *parts, size_t n, size_t *num_headers,
                     const struct tt_zmq_part **content)
{
    size_t i = 0;
    while (i < n && parts[i].len > 0)
        i++;
    if (i == n)
        return TT_EPARSE;
    *num_headers = i;
    *content = NULL;
    size_t count = 0;
    /* Empty parts after the delimiter are dropped, as Pushpin's ZmqReqMessage does. */
    for (i++; i < n; i++) {
        if (parts[i].len == 0)
            continue;
        if (count++ == 0)
            *content = &parts[i];
    }
    return count == 1 ? 0 : TT_EPARSE;
}

static json_t *parse_root(const char *buf, size_t len, const struct tt_tnet_limits *lim, int *rc,
                          char *err, size_t errlen)
{
    json_t *root = NULL;
    struct tt_tnet_error te;
    int r = tt_tnet_parse(buf, len, lim, &root, &te);
    if (r < 0) {
        set_err(err, errlen, "invalid format (tnetstring parse failed: %s at offset %zu)",
                tt_tnet_strerror(te.code), te.offset);
        *rc = r == TT_ETOOBIG ? TT_ETOOBIG : TT_EPARSE;
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = BAD_FIELD("not a dict");
        return NULL;
    }
    *rc = 0;
    return root;
}

/* Optional string member: 0 absent or string, -1 otherwise. */
static int opt_str(json_t *o, const char *key, const char **p, size_t *len)
{
    json_t *v = json_object_get(o, key);
    *p = NULL;
    *len = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -1;
    *p = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

int tt_zrpc_request_decode(const char *buf, size_t len, const struct tt_tnet_limits *lim,
                           struct tt_zrpc_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc;
    json_t *root = parse_root(buf, len, lim, &rc, err, errlen);
    if (!root)
        return rc;
    if (opt_str(root, "from", &out->from, &out->from_len) < 0) {
        rc = BAD_FIELD("from");
        goto fail;
    }
    if (opt_str(root, "id", &out->id, &out->id_len) < 0) {
        rc = BAD_FIELD("id");
        goto fail;
    }
    if (opt_str(root, "method", &out->method, &out->method_len) < 0 || !out->method) {
        rc = BAD_FIELD("method");
        goto fail;
    }
    json_t *args = json_object_get(root, "args");
    if (args && !json_is_object(args)) {
        rc = BAD_FIELD("args");
        goto fail;
    }
    if (!args) {
        args = json_object();
        json_object_set_new_nocheck(root, "args", args);
    }
    out->args = args;
    out->root = root;
    return 0;
fail:
    json_decref(root);
    memset(out, 0, sizeof(*out));
    return rc;
}

void tt_zrpc_request_deinit(struct tt_zrpc_request *r)
{
    if (!r)
        return;
    if (r->root)
        json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

int tt_zrpc_request_encode(const char *id, size_t id_len, const char *method, json_t *args,
                           struct tt_buf *out)
{
    json_t *o = json_object();
    if (id && id_len)
        json_object_set_new_nocheck(o, "id", json_stringn_nocheck(id, id_len));
    json_object_set_new_nocheck(o, "method", json_stringn_nocheck(method, strlen(method)));
    if (args && json_object_size(args))
        json_object_set_nocheck(o, "args", args);
    int r = tt_tnet_serialize(o, out);
    json_decref(o);
    return r;
}

int tt_zrpc_response_encode(const char *id, size_t id_len, const char *condition, json_t *value,
                            struct tt_buf *out)
{
    json_t *o = json_object();
    if (id && id_len)
        json_object_set_new_nocheck(o, "id", json_stringn_nocheck(id, id_len));
    json_object_set_new_nocheck(o, "success", json_boolean(condition == NULL));
    if (condition)
        json_object_set_new_nocheck(o, "condition",
                                    json_stringn_nocheck(condition, strlen(condition)));
    if (value)
        json_object_set_nocheck(o, "value", value);
    else if (!condition)
        json_object_set_new_nocheck(o, "value", json_null());
    int r = tt_tnet_serialize(o, out);
    json_decref(o);
    return r;
}

int tt_zrpc_response_decode(const char *buf, size_t len, const struct tt_tnet_limits *lim,
                            struct tt_zrpc_response *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc;
    json_t *root = parse_root(buf, len, lim, &rc, err, errlen);
    if (!root)
        return rc;
    json_t *v;
    if (opt_str(root, "id", &out->id, &out->id_len) < 0) {
        rc = BAD_FIELD("id");
        goto fail;
    }
    v = json_object_get(root, "success");
    if (!json_is_boolean(v)) {
        rc = BAD_FIELD("success");
        goto fail;
    }
    out->success = json_is_true(v);
    out->value = json_object_get(root, "value");
    if (out->success && !out->value) {
        rc = BAD_FIELD("value");
        goto fail;
    }
    if (!out->success &&
        (opt_str(root, "condition", &out->condition, &out->condition_len) < 0 || !out->condition)) {
        rc = BAD_FIELD("condition");
        goto fail;
    }
    out->root = root;
    return 0;
fail:
    json_decref(root);
    memset(out, 0, sizeof(*out));
    return rc;
}

void tt_zrpc_response_deinit(struct tt_zrpc_response *r)
{
    if (!r)
        return;
    if (r->root)
        json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

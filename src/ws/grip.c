/* grip.c: GRIP over WebSocket: grip extension, message classification, control messages;
 * see grip.h. Field names, defaults and the order of checks follow Pushpin's handler so
 * that the same messages are accepted and ignored. */
#include "ws/grip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "ws/ext.h"
#include "ws/frame.h"
#include "ws/utf8.h"

int tt_ws_grip_ext_parse(const struct tt_ws_ext *e, struct tt_ws_grip_ext *out)
{
    struct tt_ws_grip_ext g = {.present = true};
    const struct tt_ws_ext_param *p = tt_ws_ext_param(e, "message-prefix");
    int n;
    if (!p) {
        memcpy(g.prefix, TT_WS_GRIP_DEFAULT_PREFIX, sizeof(TT_WS_GRIP_DEFAULT_PREFIX));
        n = (int)strlen(TT_WS_GRIP_DEFAULT_PREFIX);
    } else {
        n = tt_ws_ext_value(p, g.prefix, sizeof(g.prefix));
        if (n < 0)
            return TT_EPARSE;
    }
    g.prefix_len = (size_t)n;
    *out = g;
    return 0;
}

int tt_ws_grip_ext_scan(const char *value, size_t len, struct tt_ws_grip_ext *out)
{
    if (out->present)
        return 0;
    size_t pos = 0;
    struct tt_ws_ext e;
    while (tt_ws_ext_next(value, len, &pos, &e) == 1) {
        if (tt_strieq(e.name, e.name_len, "grip"))
            return tt_ws_grip_ext_parse(&e, out) == 0 ? 1 : 0;
    }
    return 0;
}

enum tt_ws_grip_kind tt_ws_grip_classify(unsigned opcode, const uint8_t *data, size_t len,
                                         const struct tt_ws_grip_ext *ext)
{
    if (opcode == TT_WS_OP_TEXT && len >= 2 && data[0] == 'c' && data[1] == ':')
        return TT_WS_GRIP_CONTROL;
    if (len >= ext->prefix_len &&
        (ext->prefix_len == 0 || memcmp(data, ext->prefix, ext->prefix_len) == 0))
        return TT_WS_GRIP_DATA;
    return TT_WS_GRIP_DROP;
}

/* ---- control messages ---- */

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TT_EPARSE;
}

/* An optional string member: absent or null gives *out NULL; another type is an error. */
static int opt_string(json_t *obj, const char *key, char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(err, errlen, "grip control object contains '%s' with wrong type", key);
    /* A NUL inside would cut the name short where it is used as a C string. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(err, errlen, "grip control object contains '%s' with invalid value", key);
    *out = tt_strndup(json_string_value(v), json_string_length(v));
    return 0;
}

static int req_string(json_t *obj, const char *key, char **out, char *err, size_t errlen)
{
    if (opt_string(obj, key, out, err, errlen) < 0)
        return TT_EPARSE;
    if (!*out)
        return bad(err, errlen, "grip control object does not contain '%s'", key);
    if (!**out)
        return bad(err, errlen, "grip control object contains '%s' with invalid value", key);
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict base64 (standard alphabet; padding optional but, when present, correct). */
static uint8_t *b64_decode(const char *s, size_t len, size_t *out_len)
{
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2)
        len--, pad++;
    if (pad && (len + pad) % 4)
        return NULL;
    if (len % 4 == 1)
        return NULL;
    uint8_t *out = tt_malloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = n;
    return out;
}

static int parse_opcode(json_t *obj, uint8_t *op, bool *given, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, "message-type");
    *given = false;
    *op = TT_WS_OP_TEXT;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(err, errlen, "grip control object contains 'message-type' with wrong type");
    static const struct {
        const char *name;
        uint8_t op;
    } types[] = {{"text", TT_WS_OP_TEXT},
                 {"binary", TT_WS_OP_BINARY},
                 {"ping", TT_WS_OP_PING},
                 {"pong", TT_WS_OP_PONG}};
    for (size_t i = 0; i < TT_ARRAY_LEN(types); i++) {
        if (strcmp(json_string_value(v), types[i].name) == 0) {
            *op = types[i].op;
            *given = true;
            return 0;
        }
    }
    return bad(err, errlen, "grip control object contains 'message-type' with unknown value");
}

/* keep-alive and send-delayed: message-type, content / content-bin, timeout, mode. */
static int parse_content(json_t *obj, struct tt_ws_ctl *c, char *err, size_t errlen)
{
    bool typed;
    if (parse_opcode(obj, &c->opcode, &typed, err, errlen) < 0)
        return TT_EPARSE;
    json_t *bin = json_object_get(obj, "content-bin");
    json_t *txt = json_object_get(obj, "content");
    if (bin && !json_is_null(bin)) {
        if (!json_is_string(bin))
            return bad(err, errlen, "grip control object contains 'content-bin' with wrong type");
        c->content = b64_decode(json_string_value(bin), json_string_length(bin), &c->content_len);
        if (!c->content)
            return bad(err, errlen, "grip control object contains 'content-bin' with invalid value");
    } else if (txt && !json_is_null(txt)) {
        if (!json_is_string(txt))
            return bad(err, errlen, "grip control object contains 'content' with wrong type");
        c->content_len = json_string_length(txt);
        c->content = tt_malloc(c->content_len + 1);
        memcpy(c->content, json_string_value(txt), c->content_len + 1);
    }
    if (c->content && c->opcode == TT_WS_OP_TEXT &&
        !tt_ws_utf8_valid(c->content, c->content_len)) {
        if (typed)
            return bad(err, errlen, "grip control object has text content that is not UTF-8");
        c->opcode = TT_WS_OP_BINARY;
    }
    if ((c->opcode == TT_WS_OP_PING || c->opcode == TT_WS_OP_PONG) &&
        c->content_len > TT_WS_MAX_CONTROL)
        return bad(err, errlen, "grip control object has %s content over 125 bytes",
                   c->opcode == TT_WS_OP_PING ? "ping" : "pong");
    c->timeout = 0;
    json_t *t = json_object_get(obj, "timeout");
    if (c->content && t && !json_is_null(t)) {
        if (!json_is_number(t))
            return bad(err, errlen, "grip control object contains 'timeout' with wrong type");
        double v = json_number_value(t);
        if (v < 0)
            return bad(err, errlen, "grip control object contains 'timeout' with invalid value");
        c->timeout = v > TT_WS_GRIP_MAX_TIMEOUT ? TT_WS_GRIP_MAX_TIMEOUT : (int)v;
    }
    if (c->timeout <= 0)
        c->timeout = c->type == TT_WS_CTL_KEEP_ALIVE ? TT_WS_GRIP_KEEP_ALIVE_TIMEOUT
                                                     : TT_WS_GRIP_SEND_DELAYED_TIMEOUT;
    if (c->type == TT_WS_CTL_KEEP_ALIVE) {
        char *mode;
        if (opt_string(obj, "mode", &mode, err, errlen) < 0)
            return TT_EPARSE;
        c->interval = mode && strcmp(mode, "interval") == 0;
        free(mode);
    }
    return 0;
}

static int parse_filters(json_t *obj, struct tt_ws_ctl *c, char *err, size_t errlen)
{
    json_t *fs = json_object_get(obj, "filters");
    if (!fs || json_is_null(fs))
        return 0;
    if (!json_is_array(fs))
        return bad(err, errlen, "grip control object contains 'filters' with wrong type");
    size_t i;
    json_t *f;
    json_array_foreach(fs, i, f)
    {
        if (!json_is_string(f))
            return bad(err, errlen, "filters contains value with wrong type");
        if (strlen(json_string_value(f)) != json_string_length(f))
            return bad(err, errlen, "filters contains value with invalid value");
    }
    if (json_array_size(fs) > TT_WS_GRIP_MAX_FILTERS) {
        bad(err, errlen, "too many filters for channel '%s'", c->channel);
        return TT_ETOOBIG;
    }
    json_array_foreach(fs, i, f)
    {
        c->filters[c->num_filters++] = tt_strndup(json_string_value(f), json_string_length(f));
    }
    return 0;
}

static const struct {
    const char *name;
    enum tt_ws_ctl_type type;
} ctl_types[] = {
    {"subscribe", TT_WS_CTL_SUBSCRIBE},       {"unsubscribe", TT_WS_CTL_UNSUBSCRIBE},
    {"detach", TT_WS_CTL_DETACH},             {"session", TT_WS_CTL_SESSION},
    {"set-meta", TT_WS_CTL_SET_META},         {"keep-alive", TT_WS_CTL_KEEP_ALIVE},
    {"send-delayed", TT_WS_CTL_SEND_DELAYED}, {"flush-delayed", TT_WS_CTL_FLUSH_DELAYED},
};

static int parse_object(json_t *obj, struct tt_ws_ctl *c, char *err, size_t errlen)
{
    json_t *t = json_object_get(obj, "type");
    if (!t || json_is_null(t))
        return bad(err, errlen, "grip control object does not contain 'type'");
    if (!json_is_string(t))
        return bad(err, errlen, "grip control object contains 'type' with wrong type");
    size_t i;
    for (i = 0; i < TT_ARRAY_LEN(ctl_types); i++)
        if (strcmp(json_string_value(t), ctl_types[i].name) == 0)
            break;
    if (i == TT_ARRAY_LEN(ctl_types))
        return bad(err, errlen, "'type' contains unknown value");
    c->type = ctl_types[i].type;
    switch (c->type) {
    case TT_WS_CTL_SUBSCRIBE:
        if (req_string(obj, "channel", &c->channel, err, errlen) < 0)
            return TT_EPARSE;
        return parse_filters(obj, c, err, errlen);
    case TT_WS_CTL_UNSUBSCRIBE:
        return req_string(obj, "channel", &c->channel, err, errlen);
    case TT_WS_CTL_SESSION:
        return opt_string(obj, "id", &c->session_id, err, errlen);
    case TT_WS_CTL_SET_META:
        if (req_string(obj, "name", &c->meta_name, err, errlen) < 0)
            return TT_EPARSE;
        return opt_string(obj, "value", &c->meta_value, err, errlen);
    case TT_WS_CTL_KEEP_ALIVE:
    case TT_WS_CTL_SEND_DELAYED:
        return parse_content(obj, c, err, errlen);
    case TT_WS_CTL_DETACH:
    case TT_WS_CTL_FLUSH_DELAYED:
        return 0;
    }
    return 0;
}

int tt_ws_ctl_parse(const char *json, size_t len, struct tt_ws_ctl *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = 0;
    json_error_t jerr;
    json_t *obj = json_loadb(json, len, 0, &jerr);
    if (!obj)
        return bad(err, errlen, "grip control message is not valid json");
    int rc;
    if (!json_is_object(obj))
        rc = bad(err, errlen, "grip control packet is not an object");
    else
        rc = parse_object(obj, out, err, errlen);
    json_decref(obj);
    if (rc == TT_ETOOBIG) {
        char *channel = out->channel;
        enum tt_ws_ctl_type type = out->type;
        out->channel = NULL;
        tt_ws_ctl_free(out);
        out->type = type;
        out->channel = channel;
    } else if (rc < 0) {
        tt_ws_ctl_free(out);
    }
    return rc;
}

void tt_ws_ctl_free(struct tt_ws_ctl *c)
{
    free(c->channel);
    for (size_t i = 0; i < c->num_filters; i++)
        free(c->filters[i]);
    free(c->session_id);
    free(c->meta_name);
    free(c->meta_value);
    free(c->content);
    memset(c, 0, sizeof(*c));
}

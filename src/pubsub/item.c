/* item.c: publish item parsing (SPEC.md section 5) and JSON Patch (RFC 6902).
 *
 * The checks run in the same order as Pushpin's PublishItem/PublishFormat::fromVariant so
 * that the first error reported for a bad item is the one Pushpin reports. Pushpin reads
 * JSON through QVariant, which explains a few lenient spots kept here on purpose: an
 * integer field accepts any number, bool or string (converted as Qt does), base64 skips
 * characters outside the alphabet, and an unknown action fails with an empty message.
 *
 * Stricter than Pushpin where a value ends up in an HTTP head (see check_head_values):
 * a reason, header name or header value that could split the held client's response is
 * refused, framing and hop-by-hop headers are dropped (the proxy frames the response),
 * and ids that go back to the backend in Grip-Last headers may not hold control bytes. */
#include "pubsub/item.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/base64.h"
#include "core/log.h"
#include "http/h1.h"
#include "pubsub/pubfast.h"

#define PN_ITEM "publish item object"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *dup_json_string(json_t *v, size_t *len)
{
    size_t n = json_string_length(v);
    if (len)
        *len = n;
    return tt_strndup(json_string_value(v), n);
}

/* Optional (or required) string member. *out stays NULL when absent. */
static int get_string(json_t *obj, const char *pn, const char *key, bool required, json_t **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) {
            set_err(err, errlen, "%s does not contain '%s'", pn, key);
            return TT_EPARSE;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        set_err(err, errlen, "%s contains '%s' with wrong type", pn, key);
        return TT_EPARSE;
    }
    *out = v;
    return 0;
}

/* Qt's qRound64, including what x86 yields for doubles out of int64 range. */
static int64_t qt_round64(double d)
{
    if (!(d > -9.2e18 && d < 9.2e18))
        return INT64_MIN;
    if (d >= 0.0)
        return (int64_t)(d + 0.5);
    int64_t t = (int64_t)(d - 1);
    return (int64_t)(d - (double)t + 0.5) + t;
}

/* QString::toLongLong: optional surrounding whitespace and sign, base 10; 0 on failure. */
static int64_t qt_string_to_int64(const char *s, size_t len)
{
    while (len && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || (s[len - 1] >= '\t' && s[len - 1] <= '\r')))
        len--;
    bool neg = false;
    if (len && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
        len--;
    }
    if (len == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    if (neg)
        return v > (uint64_t)INT64_MAX + 1 ? 0 : (int64_t)(0 - v);
    return v > (uint64_t)INT64_MAX ? 0 : (int64_t)v;
}

/* QVariant::canConvert(Int) + toInt(): numbers, bools and strings convert (a string that
 * is not a number becomes 0, a value beyond 32 bits wraps as Qt's int cast does); null,
 * arrays and objects do not. */
static bool qt_to_int(json_t *v, int *out)
{
    int64_t x;
    if (json_is_integer(v))
        x = (int64_t)json_integer_value(v);
    else if (json_is_real(v))
        x = qt_round64(json_real_value(v));
    else if (json_is_boolean(v))
        x = json_is_true(v) ? 1 : 0;
    else if (json_is_string(v))
        x = qt_string_to_int64(json_string_value(v), json_string_length(v));
    else
        return false;
    *out = (int32_t)(uint32_t)(uint64_t)x;
    return true;
}

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decode as QByteArray::fromBase64 without strict mode: characters outside the alphabet
 * (including '=') are skipped, and leftover bits that do not make a byte are dropped. The
 * cleaned input is made canonical so that tt_base64_decode accepts it. */
static char *b64_decode_lenient(const char *in, size_t len, size_t *out_len)
{
    char *clean = tt_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (is_b64_char(in[i]))
            clean[n++] = in[i];
    if (n % 4 == 1)
        n--;
    if (n % 4 == 2)
        clean[n - 1] = b64_alphabet[b64_value(clean[n - 1]) & 0x30];
    else if (n % 4 == 3)
        clean[n - 1] = b64_alphabet[b64_value(clean[n - 1]) & 0x3c];
    size_t cap = n / 4 * 3 + 3;
    char *out = tt_malloc(cap + 1);
    int r = n ? tt_base64_decode(clean, n, out, cap, false) : 0;
    free(clean);
    if (r < 0) {
        /* Cannot happen for canonical input; treat as empty like Qt would for garbage. */
        r = 0;
    }
    out[r] = '\0';
    *out_len = (size_t)r;
    return out;
}

static int parse_filters(json_t *obj, const char *pn, char ***out, size_t *n, char *err,
                         size_t errlen)
{
    json_t *v = json_object_get(obj, "content-filters");
    if (!v)
        return 0;
    if (!json_is_array(v)) {
        set_err(err, errlen, "%s contains 'content-filters' with wrong type", pn);
        return TT_EPARSE;
    }
    size_t count = json_array_size(v);
    for (size_t i = 0; i < count; i++) {
        if (!json_is_string(json_array_get(v, i))) {
            set_err(err, errlen, "content-filters contains element with wrong type");
            return TT_EPARSE;
        }
    }
    *out = tt_calloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++)
        (*out)[i] = dup_json_string(json_array_get(v, i), NULL);
    *n = count;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of an object in Qt's QVariantMap order (sorted), for error order and output. */
static const char **sorted_keys(json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    const char **keys = tt_calloc(*n ? *n : 1, sizeof(char *));
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        (void)v;
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof(char *), cmp_key);
    return keys;
}

/* A {name: string} object into sorted kv pairs; `what` names the object in errors. */
static int parse_string_map(json_t *obj, const char *what, struct tt_kv **out, size_t *num,
                            char *err, size_t errlen)
{
    size_t n;
    const char **keys = sorted_keys(obj, &n);
    for (size_t i = 0; i < n; i++) {
        if (!json_is_string(json_object_get(obj, keys[i]))) {
            set_err(err, errlen, "%s contains '%s' with wrong type", what, keys[i]);
            free(keys);
            return TT_EPARSE;
        }
    }
    *out = tt_calloc(n ? n : 1, sizeof(struct tt_kv));
    for (size_t i = 0; i < n; i++) {
        (*out)[i].name = tt_strdup(keys[i]);
        (*out)[i].value = dup_json_string(json_object_get(obj, keys[i]), NULL);
    }
    *num = n;
    free(keys);
    return 0;
}

static int parse_headers(json_t *v, const char *pn, struct tt_pub_item *it, char *err,
                         size_t errlen)
{
    if (json_is_object(v)) {
        return parse_string_map(v, "headers", &it->http_response.headers,
                                &it->http_response.num_headers, err, errlen);
    }
    if (!json_is_array(v)) {
        set_err(err, errlen, "%s contains 'headers' with wrong type", pn);
        return TT_EPARSE;
    }
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(v, i);
        if (!json_is_array(h)) {
            set_err(err, errlen, "headers contains element with wrong type");
            return TT_EPARSE;
        }
        if (json_array_size(h) != 2) {
            set_err(err, errlen, "headers contains list with wrong number of elements");
            return TT_EPARSE;
        }
        if (!json_is_string(json_array_get(h, 0))) {
            set_err(err, errlen, "header contains name element with wrong type");
            return TT_EPARSE;
        }
        if (!json_is_string(json_array_get(h, 1))) {
            set_err(err, errlen, "header contains value element with wrong type");
            return TT_EPARSE;
        }
    }
    it->http_response.headers = tt_calloc(n ? n : 1, sizeof(struct tt_kv));
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(v, i);
        it->http_response.headers[i].name = dup_json_string(json_array_get(h, 0), NULL);
        it->http_response.headers[i].value = dup_json_string(json_array_get(h, 1), NULL);
    }
    it->http_response.num_headers = n;
    return 0;
}

/* A published response is written into a held client's response head: a CR or LF in the
 * reason or a header would let a publisher write arbitrary headers or a whole second
 * response, and a Content-Length or Transfer-Encoding next to the one the proxy computes
 * makes the framing ambiguous (RFC 9112 6.1). Controls are refused (400). Framing and
 * hop-by-hop headers are dropped, as Pushpin drops Content-Length, Transfer-Encoding and
 * Connection before writing: they describe the connection, which is the proxy's. */
static int check_head_values(struct tt_pub_item *it, const char *nul_in, char *err,
                             size_t errlen)
{
    const char *pn = "'http-response'";
    char esc[96];
    /* Pushpin takes 0..999; a held client must get a final status that clients can parse
     * (a 1xx would be read as interim and the body as the next response). */
    if (it->http_response.code < 200 || it->http_response.code > 599) {
        set_err(err, errlen, "%s contains 'code' with invalid value", pn);
        return TT_EPARSE;
    }
    if (nul_in) {
        /* A NUL would have cut the C copy short: refuse it like any other control. */
        set_err(err, errlen, "%s contains %s with a control character", pn, nul_in);
        return TT_EPARSE;
    }
    const char *reason = it->http_response.reason;
    if (reason && !tt_h1_is_field_value(reason, strlen(reason))) {
        set_err(err, errlen, "%s contains 'reason' with a control character", pn);
        return TT_EPARSE;
    }
    size_t o = 0;
    for (size_t i = 0; i < it->http_response.num_headers; i++) {
        struct tt_kv *kv = &it->http_response.headers[i];
        size_t nl = strlen(kv->name);
        if (!tt_h1_is_token(kv->name, nl)) {
            set_err(err, errlen, "%s contains header name '%s' that is not a token", pn,
                    tt_log_escape(kv->name, nl, esc, sizeof(esc)));
            return TT_EPARSE;
        }
        if (!tt_h1_is_field_value(kv->value, strlen(kv->value))) {
            set_err(err, errlen, "%s contains header '%s' with a control character", pn,
                    kv->name);
            return TT_EPARSE;
        }
        if (tt_h1_is_hop_by_hop(kv->name, nl) || tt_strieq(kv->name, nl, "Content-Length")) {
            tt_debug("publish: '%s' header of an http-response item dropped (framing is the "
                     "proxy's)", kv->name);
            free(kv->name);
            free(kv->value);
            continue;
        }
        it->http_response.headers[o++] = *kv;
    }
    it->http_response.num_headers = o;
    return 0;
}

/* Ids come back to the backend in Grip-Last header lines. */
static int check_id(json_t *v, const char *key, char *err, size_t errlen)
{
    if (v && !tt_h1_is_field_value(json_string_value(v), json_string_length(v))) {
        set_err(err, errlen, PN_ITEM " contains '%s' with a control character", key);
        return TT_EPARSE;
    }
    return 0;
}

enum fmt_type { FMT_HTTP_RESPONSE, FMT_HTTP_STREAM, FMT_WS_MESSAGE };

static int parse_action(json_t *obj, const char *pn, enum fmt_type type, enum tt_pub_action *action,
                        char *err, size_t errlen)
{
    json_t *v;
    int r = get_string(obj, pn, "action", false, &v, err, errlen);
    if (r < 0)
        return r;
    const char *s = v ? json_string_value(v) : NULL;
    if (!s || strcmp(s, "send") == 0)
        *action = TT_ACT_SEND;
    else if (strcmp(s, "hint") == 0)
        *action = TT_ACT_HINT;
    else if (strcmp(s, "close") == 0)
        *action = TT_ACT_CLOSE;
    else if (strcmp(s, "refresh") == 0 && type == FMT_WS_MESSAGE)
        *action = TT_ACT_REFRESH;
    else {
        /* Pushpin rejects an unknown action without any message. */
        set_err(err, errlen, "%s", "");
        return TT_EPARSE;
    }
    return 0;
}

static bool has_nul(json_t *str)
{
    return strlen(json_string_value(str)) != json_string_length(str);
}

/* Which head value of an http-response holds a NUL ("'reason'", "a header"), or NULL. */
static const char *nul_in_head(json_t *reason, json_t *headers)
{
    if (reason && has_nul(reason))
        return "'reason'";
    if (json_is_object(headers)) {
        const char *k;
        size_t kl;
        json_t *x;
        json_object_keylen_foreach(headers, k, kl, x)
        {
            if (strlen(k) != kl || has_nul(x))
                return "a header";
        }
    } else if (json_is_array(headers)) {
        size_t i;
        json_t *h;
        json_array_foreach(headers, i, h)
        {
            if (has_nul(json_array_get(h, 0)) || has_nul(json_array_get(h, 1)))
                return "a header";
        }
    }
    return NULL;
}

static int parse_http_response(json_t *obj, struct tt_pub_item *it, bool tnet, char *err,
                               size_t errlen)
{
    const char *pn = "'http-response'";
    it->has_http_response = true;
    it->http_response.code = 200;
    int r = parse_action(obj, pn, FMT_HTTP_RESPONSE, &it->http_response.action, err, errlen);
    if (r < 0 || it->http_response.action != TT_ACT_SEND)
        return r;

    json_t *v = json_object_get(obj, "code");
    if (v) {
        int code;
        if (!qt_to_int(v, &code)) {
            set_err(err, errlen, "%s contains 'code' with wrong type", pn);
            return TT_EPARSE;
        }
        if (code < 0 || code > 999) {
            set_err(err, errlen, "%s contains 'code' with invalid value", pn);
            return TT_EPARSE;
        }
        it->http_response.code = code;
    }
    if ((r = get_string(obj, pn, "reason", false, &v, err, errlen)) < 0)
        return r;
    json_t *reason = v;
    if (v && json_string_length(v) > 0)
        it->http_response.reason = dup_json_string(v, NULL);
    if ((v = json_object_get(obj, "headers")) && (r = parse_headers(v, pn, it, err, errlen)) < 0)
        return r;
    const char *nul_in = nul_in_head(reason, v);
    if ((r = parse_filters(obj, pn, &it->http_response.content_filters,
                           &it->http_response.num_content_filters, err, errlen)) < 0)
        return r;

    if (!tnet && (v = json_object_get(obj, "body-bin"))) {
        if (!json_is_string(v)) {
            set_err(err, errlen, "%s contains 'body-bin' with wrong type", pn);
            return TT_EPARSE;
        }
        it->http_response.body = b64_decode_lenient(json_string_value(v), json_string_length(v),
                                                    &it->http_response.body_len);
    } else if ((v = json_object_get(obj, "body"))) {
        if (!json_is_string(v)) {
            set_err(err, errlen, "%s contains 'body' with wrong type", pn);
            return TT_EPARSE;
        }
        it->http_response.body = dup_json_string(v, &it->http_response.body_len);
    } else if ((v = json_object_get(obj, "body-patch"))) {
        if (!json_is_array(v)) {
            set_err(err, errlen, "%s contains 'body-patch' with wrong type", pn);
            return TT_EPARSE;
        }
        it->http_response.body_patch = json_incref(v);
    } else if (tnet) {
        set_err(err, errlen, "%s does not contain 'body' or 'body-patch'", pn);
        return TT_EPARSE;
    } else {
        set_err(err, errlen, "%s does not contain 'body', 'body-bin', or 'body-patch'", pn);
        return TT_EPARSE;
    }
    /* Last, so that an item Pushpin refuses gets Pushpin's error. */
    return check_head_values(it, nul_in, err, errlen);
}

/* content-bin / content shared by http-stream and ws-message. Returns 1 for content, 2
 * for content-bin, 0 if neither. From a tnetstring (bin: TNET_BIN_*) content-bin is raw
 * bytes (ws-message) or not looked at (http-stream), as Pushpin does. */
enum { JSON_BIN_B64 = 0, TNET_BIN_RAW, TNET_BIN_IGNORED };

static int parse_content(json_t *obj, const char *pn, int bin, char **content, size_t *len,
                         char *err, size_t errlen)
{
    json_t *v;
    if (bin != TNET_BIN_IGNORED && (v = json_object_get(obj, "content-bin"))) {
        if (!json_is_string(v)) {
            set_err(err, errlen, "%s contains 'content-bin' with wrong type", pn);
            return TT_EPARSE;
        }
        if (bin == TNET_BIN_RAW)
            *content = dup_json_string(v, len);
        else
            *content = b64_decode_lenient(json_string_value(v), json_string_length(v), len);
        return 2;
    }
    if ((v = json_object_get(obj, "content"))) {
        if (!json_is_string(v)) {
            set_err(err, errlen, "%s contains 'content' with wrong type", pn);
            return TT_EPARSE;
        }
        *content = dup_json_string(v, len);
        return 1;
    }
    return 0;
}

static int parse_http_stream(json_t *obj, struct tt_pub_item *it, bool tnet, char *err,
                             size_t errlen)
{
    const char *pn = "'http-stream'";
    it->has_http_stream = true;
    int r = parse_action(obj, pn, FMT_HTTP_STREAM, &it->http_stream.action, err, errlen);
    if (r < 0 || it->http_stream.action != TT_ACT_SEND)
        return r;
    if ((r = parse_filters(obj, pn, &it->http_stream.content_filters,
                           &it->http_stream.num_content_filters, err, errlen)) < 0)
        return r;
    r = parse_content(obj, pn, tnet ? TNET_BIN_IGNORED : JSON_BIN_B64, &it->http_stream.content,
                      &it->http_stream.content_len, err, errlen);
    if (r < 0)
        return r;
    if (r == 0) {
        set_err(err, errlen,
                tnet ? "%s does not contain 'content'"
                     : "%s does not contain 'content' or 'content-bin'",
                pn);
        return TT_EPARSE;
    }
    return 0;
}

static int parse_ws_message(json_t *obj, struct tt_pub_item *it, bool tnet, char *err,
                            size_t errlen)
{
    const char *pn = "'ws-message'";
    it->has_ws_message = true;
    it->ws_message.code = -1;
    int r = parse_action(obj, pn, FMT_WS_MESSAGE, &it->ws_message.action, err, errlen);
    if (r < 0)
        return r;
    json_t *v;
    if (it->ws_message.action == TT_ACT_SEND) {
        if ((r = get_string(obj, pn, "type", false, &v, err, errlen)) < 0)
            return r;
        int type = -1;
        if (v) {
            const char *s = json_string_value(v);
            if (strcmp(s, "text") == 0)
                type = TT_WS_TEXT;
            else if (strcmp(s, "binary") == 0)
                type = TT_WS_BINARY;
            else if (strcmp(s, "ping") == 0)
                type = TT_WS_PING;
            else if (strcmp(s, "pong") == 0)
                type = TT_WS_PONG;
            else {
                set_err(err, errlen, "%s contains 'type' with unknown value", pn);
                return TT_EPARSE;
            }
        }
        if ((r = parse_filters(obj, pn, &it->ws_message.content_filters,
                               &it->ws_message.num_content_filters, err, errlen)) < 0)
            return r;
        r = parse_content(obj, pn, tnet ? TNET_BIN_RAW : JSON_BIN_B64, &it->ws_message.content,
                          &it->ws_message.content_len, err, errlen);
        if (r < 0)
            return r;
        if (r == 0 && (type == -1 || type == TT_WS_TEXT || type == TT_WS_BINARY)) {
            set_err(err, errlen, "%s does not contain 'content' or 'content-bin'", pn);
            return TT_EPARSE;
        }
        if (type == -1)
            type = r == 2 ? TT_WS_BINARY : TT_WS_TEXT;
        it->ws_message.type = (enum tt_ws_type)type;
    } else if (it->ws_message.action == TT_ACT_CLOSE) {
        if ((v = json_object_get(obj, "code"))) {
            int code;
            if (!qt_to_int(v, &code)) {
                set_err(err, errlen, "%s contains 'code' with wrong type", pn);
                return TT_EPARSE;
            }
            if (code < 0) {
                set_err(err, errlen, "%s contains 'code' with invalid value", pn);
                return TT_EPARSE;
            }
            it->ws_message.code = code;
        }
        if ((r = get_string(obj, pn, "reason", false, &v, err, errlen)) < 0)
            return r;
        /* A close reason rides in a control frame (125 bytes with the code) and may be
         * relayed into an HTTP head (WebSocket-over-HTTP): no controls, and it must fit. */
        if (v && !tt_h1_is_field_value(json_string_value(v), json_string_length(v))) {
            set_err(err, errlen, "%s contains 'reason' with a control character", pn);
            return TT_EPARSE;
        }
        if (v && json_string_length(v) > 123) {
            set_err(err, errlen, "%s contains 'reason' longer than 123 bytes", pn);
            return TT_EPARSE;
        }
        if (v && json_string_length(v) > 0)
            it->ws_message.reason = dup_json_string(v, NULL);
    }
    return 0;
}

static int parse_formats(json_t *item, struct tt_pub_item *out, bool tnet, char *err, size_t errlen)
{
    static const char *const names[] = {"http-response", "http-stream", "ws-message"};
    json_t *formats = json_object_get(item, "formats");
    if (formats && !json_is_object(formats)) {
        set_err(err, errlen, PN_ITEM " contains 'formats' with wrong type");
        return TT_EPARSE;
    }
    /* Without "formats", the format keys may sit directly in the item. */
    json_t *src = formats ? formats : item;
    bool any = formats ? json_object_size(formats) > 0 : false;
    for (size_t i = 0; i < TT_ARRAY_LEN(names) && !formats; i++)
        if (json_object_get(item, names[i]))
            any = true;
    if (!any) {
        set_err(err, errlen, "no formats specified");
        return TT_EPARSE;
    }
    for (size_t i = 0; i < TT_ARRAY_LEN(names); i++) {
        json_t *f = json_object_get(src, names[i]);
        if (!f)
            continue;
        if (!json_is_object(f)) {
            set_err(err, errlen, "'%s' is not an object", names[i]);
            return TT_EPARSE;
        }
        int r = i == 0   ? parse_http_response(f, out, tnet, err, errlen)
                : i == 1 ? parse_http_stream(f, out, tnet, err, errlen)
                         : parse_ws_message(f, out, tnet, err, errlen);
        if (r < 0)
            return r;
    }
    return 0;
}

static int item_from_json(json_t *obj, bool require_channel, bool tnet, struct tt_pub_item *out,
                          char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        set_err(err, errlen, PN_ITEM " is not an object");
        return TT_EPARSE;
    }
    json_t *v;
    int r;
    if (require_channel) {
        if ((r = get_string(obj, PN_ITEM, "channel", true, &v, err, errlen)) < 0)
            return r;
        out->channel = dup_json_string(v, NULL);
    } else if ((v = json_object_get(obj, "channel")) && json_is_string(v)) {
        /* The SUB topic supplies the channel; a string here is kept as a hint only. */
        out->channel = dup_json_string(v, NULL);
    }
    if ((r = get_string(obj, PN_ITEM, "id", false, &v, err, errlen)) < 0 ||
        (r = check_id(v, "id", err, errlen)) < 0)
        return r;
    if (v)
        out->id = dup_json_string(v, NULL);
    if ((r = get_string(obj, PN_ITEM, "prev-id", false, &v, err, errlen)) < 0 ||
        (r = check_id(v, "prev-id", err, errlen)) < 0)
        return r;
    if (v)
        out->prev_id = dup_json_string(v, NULL);
    if ((r = parse_formats(obj, out, tnet, err, errlen)) < 0)
        return r;
    if ((v = json_object_get(obj, "meta"))) {
        if (!json_is_object(v)) {
            set_err(err, errlen, PN_ITEM " contains 'meta' with wrong type");
            return TT_EPARSE;
        }
        if ((r = parse_string_map(v, "'meta'", &out->meta, &out->num_meta, err, errlen)) < 0)
            return r;
    }
    if ((v = json_object_get(obj, "size"))) {
        int size;
        if (!qt_to_int(v, &size)) {
            set_err(err, errlen, PN_ITEM " contains 'size' with wrong type");
            return TT_EPARSE;
        }
        if (size < 0) {
            set_err(err, errlen, PN_ITEM " contains 'size' with invalid value");
            return TT_EPARSE;
        }
        out->size = size;
    }
    if ((v = json_object_get(obj, "no-seq"))) {
        if (!json_is_boolean(v)) {
            set_err(err, errlen, PN_ITEM " contains 'no-seq' with wrong type");
            return TT_EPARSE;
        }
        out->no_seq = json_is_true(v);
    }
    return 0;
}

static int item_parse(json_t *obj, bool require_channel, bool tnet, struct tt_pub_item *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->size = -1;
    out->ws_message.code = -1;
    int r = item_from_json(obj, require_channel, tnet, out, err, errlen);
    if (r < 0) {
        tt_pub_item_deinit(out);
        memset(out, 0, sizeof(*out));
        out->size = -1;
        out->ws_message.code = -1;
    }
    return r;
}

int tt_pub_item_from_json(json_t *obj, bool require_channel, struct tt_pub_item *out, char *err,
                          size_t errlen)
{
    return item_parse(obj, require_channel, false, out, err, errlen);
}

int tt_pub_item_from_tnet(json_t *obj, bool require_channel, struct tt_pub_item *out, char *err,
                          size_t errlen)
{
    return item_parse(obj, require_channel, true, out, err, errlen);
}

int tt_pub_parse_body(const char *body, size_t len, struct tt_pub_item **items, size_t *n,
                      char *err, size_t errlen)
{
    if (tt__pub_parse_fast(body, len, items, n))
        return 0;
    return tt_pub_parse_body_tree(body, len, items, n, err, errlen);
}

int tt_pub_parse_body_tree(const char *body, size_t len, struct tt_pub_item **items, size_t *n,
                           char *err, size_t errlen)
{
    *items = NULL;
    *n = 0;
    json_error_t jerr;
    /* Without JSON_DECODE_ANY a bare scalar is rejected, as Qt 5's fromJson does. */
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        set_err(err, errlen, "Body is not valid JSON.");
        return TT_EPARSE;
    }
    int r = TT_EPARSE;
    if (!json_is_object(root)) {
        set_err(err, errlen, "Invalid format.");
        goto out;
    }
    json_t *vitems = json_object_get(root, "items");
    if (!vitems) {
        set_err(err, errlen, "Invalid format: object does not contain 'items'");
        goto out;
    }
    if (!json_is_array(vitems)) {
        set_err(err, errlen, "Invalid format: object contains 'items' with wrong type");
        goto out;
    }
    size_t count = json_array_size(vitems);
    struct tt_pub_item *arr = tt_calloc(count ? count : 1, sizeof(*arr));
    for (size_t i = 0; i < count; i++) {
        char ierr[512];
        ierr[0] = '\0';
        if (tt_pub_item_from_json(json_array_get(vitems, i), true, &arr[i], ierr, sizeof(ierr)) <
            0) {
            set_err(err, errlen, "Invalid format: %s", ierr);
            tt_pub_items_free(arr, i);
            goto out;
        }
    }
    *items = arr;
    *n = count;
    r = 0;
out:
    json_decref(root);
    return r;
}

static void free_filters(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i]);
    free(f);
}

static void free_kvs(struct tt_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

void tt_pub_item_deinit(struct tt_pub_item *it)
{
    if (!it)
        return;
    free(it->channel);
    free(it->id);
    free(it->prev_id);
    free_kvs(it->meta, it->num_meta);
    free(it->http_response.reason);
    free_kvs(it->http_response.headers, it->http_response.num_headers);
    free(it->http_response.body);
    if (it->http_response.body_patch)
        json_decref(it->http_response.body_patch);
    free_filters(it->http_response.content_filters, it->http_response.num_content_filters);
    free(it->http_stream.content);
    free_filters(it->http_stream.content_filters, it->http_stream.num_content_filters);
    free(it->ws_message.content);
    free(it->ws_message.reason);
    free_filters(it->ws_message.content_filters, it->ws_message.num_content_filters);
    memset(it, 0, sizeof(*it));
}

void tt_pub_items_free(struct tt_pub_item *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        tt_pub_item_deinit(&items[i]);
    free(items);
}

/* ---- JSON Patch (RFC 6902) ---------------------------------------------------------- */

#define PATCH_MAX_DEPTH 512
/* What the document may grow to while a patch is applied, counted as 16 bytes per value
 * plus the bytes of every string and key added. Without it, "copy" of the root into itself
 * doubles the document with each op: a 4 KB patch would ask for gigabytes. */
#ifndef PATCH_MAX_WEIGHT
#define PATCH_MAX_WEIGHT ((size_t)16 << 20)
#endif
/* (The libFuzzer build sets it to 64 KiB: the same code path at the cap, without each
 * execution that reaches it building 16 MiB documents.) */

/* The weight of v as counted against PATCH_MAX_WEIGHT; stops counting past limit. */
static size_t json_weight(json_t *v, size_t limit, int depth)
{
    size_t w = 16;
    if (depth > PATCH_MAX_DEPTH)
        return limit + 1;
    if (json_is_string(v)) {
        w += json_string_length(v);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && w <= limit; i++)
            w += json_weight(json_array_get(v, i), limit - w, depth + 1);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            if (w > limit)
                break;
            w += strlen(k) + json_weight(c, limit - w, depth + 1);
        }
    }
    return w;
}

/* Decode one JSON Pointer reference token (RFC 6901: ~1 is '/', ~0 is '~'). */
static char *pointer_token(const char *s, size_t len)
{
    char *t = tt_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '~') {
            if (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')) {
                free(t);
                return NULL;
            }
            t[n++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            t[n++] = s[i];
        }
    }
    t[n] = '\0';
    return t;
}

/* Array index token: "0" or digits without a leading zero. -1 when invalid. */
static int64_t array_index(const char *tok)
{
    size_t len = strlen(tok);
    if (len == 0 || (len > 1 && tok[0] == '0'))
        return -1;
    return tt_parse_uint(tok, len, INT32_MAX);
}

/* Resolve a pointer to its parent container and last token. The whole document is the
 * target when *last is NULL (pointer ""). Returns 0 or -1 if the path is invalid or the
 * parent does not exist. */
static int resolve_parent(json_t *root, const char *ptr, json_t **parent, char **last)
{
    *parent = NULL;
    *last = NULL;
    if (*ptr == '\0')
        return 0;
    if (*ptr != '/')
        return -1;
    json_t *cur = root;
    const char *p = ptr + 1;
    for (int depth = 0;; depth++) {
        if (depth > PATCH_MAX_DEPTH)
            return -1;
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char *tok = pointer_token(p, len);
        if (!tok)
            return -1;
        if (!slash) {
            *parent = cur;
            *last = tok;
            return 0;
        }
        json_t *next = NULL;
        if (json_is_object(cur)) {
            next = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            int64_t idx = array_index(tok);
            if (idx >= 0)
                next = json_array_get(cur, (size_t)idx);
        }
        free(tok);
        if (!next)
            return -1;
        cur = next;
        p = slash + 1;
    }
}

/* Borrowed reference to the value at ptr, or NULL. */
static json_t *pointer_get(json_t *root, const char *ptr)
{
    json_t *parent;
    char *last;
    if (resolve_parent(root, ptr, &parent, &last) < 0)
        return NULL;
    if (!last)
        return root;
    json_t *v = NULL;
    if (json_is_object(parent)) {
        v = json_object_get(parent, last);
    } else if (json_is_array(parent)) {
        int64_t idx = array_index(last);
        if (idx >= 0)
            v = json_array_get(parent, (size_t)idx);
    }
    free(last);
    return v;
}

/* Add (steals value). *root may be replaced. */
static int patch_add(json_t **root, const char *ptr, json_t *value)
{
    json_t *parent;
    char *last;
    if (resolve_parent(*root, ptr, &parent, &last) < 0) {
        json_decref(value);
        return -1;
    }
    if (!last) {
        json_decref(*root);
        *root = value;
        return 0;
    }
    int r = -1;
    if (json_is_object(parent)) {
        r = json_object_set_new(parent, last, value);
    } else if (json_is_array(parent)) {
        if (strcmp(last, "-") == 0) {
            r = json_array_append_new(parent, value);
        } else {
            int64_t idx = array_index(last);
            if (idx >= 0 && (size_t)idx <= json_array_size(parent))
                r = json_array_insert_new(parent, (size_t)idx, value);
            else
                json_decref(value);
        }
    } else {
        json_decref(value);
    }
    free(last);
    return r == 0 ? 0 : -1;
}

/* Remove; when taken is not NULL the removed value is handed back (new reference). */
static int patch_remove(json_t *root, const char *ptr, json_t **taken)
{
    json_t *parent;
    char *last;
    if (resolve_parent(root, ptr, &parent, &last) < 0 || !last) {
        /* Removing the whole document is not allowed. */
        return -1;
    }
    int r = -1;
    if (json_is_object(parent)) {
        json_t *v = json_object_get(parent, last);
        if (v) {
            if (taken)
                *taken = json_incref(v);
            r = json_object_del(parent, last);
        }
    } else if (json_is_array(parent)) {
        int64_t idx = array_index(last);
        if (idx >= 0 && (size_t)idx < json_array_size(parent)) {
            if (taken)
                *taken = json_incref(json_array_get(parent, (size_t)idx));
            r = json_array_remove(parent, (size_t)idx);
        }
    }
    free(last);
    return r == 0 ? 0 : -1;
}

/* Replace an existing member or element in place (steals value). */
static int patch_replace(json_t *root, const char *ptr, json_t *value)
{
    json_t *parent;
    char *last;
    if (resolve_parent(root, ptr, &parent, &last) < 0 || !last) {
        json_decref(value);
        return -1;
    }
    int r = -1;
    if (json_is_object(parent)) {
        if (json_object_get(parent, last))
            r = json_object_set_new(parent, last, value);
        else
            json_decref(value);
    } else if (json_is_array(parent)) {
        int64_t idx = array_index(last);
        if (idx >= 0 && (size_t)idx < json_array_size(parent))
            r = json_array_set_new(parent, (size_t)idx, value);
        else
            json_decref(value);
    } else {
        json_decref(value);
    }
    free(last);
    return r == 0 ? 0 : -1;
}

/* RFC 6902 test equality: numbers compare by value, objects ignore member order. */
static bool json_values_equal(json_t *a, json_t *b, int depth)
{
    if (depth > PATCH_MAX_DEPTH)
        return false;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (!w || !json_values_equal(v, w, depth + 1))
                return false;
        }
        return true;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_values_equal(json_array_get(a, i), json_array_get(b, i), depth + 1))
                return false;
        return true;
    }
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default:
        return true; /* true, false, null: same type is enough */
    }
}

/* budget: what the document may still grow by (PATCH_MAX_WEIGHT in all). */
static int apply_op(json_t **root, json_t *op, size_t *budget)
{
    if (!json_is_object(op))
        return -1;
    const char *name = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    if (!name || !path)
        return -1;
    json_t *value = json_object_get(op, "value");
    const char *from = json_string_value(json_object_get(op, "from"));

    /* Every value an op adds is charged to the budget before it is copied. */
    json_t *added = strcmp(name, "copy") == 0 && from ? pointer_get(*root, from) : value;
    if (added && strcmp(name, "remove") != 0 && strcmp(name, "move") != 0 &&
        strcmp(name, "test") != 0) {
        size_t w = json_weight(added, *budget, 0);
        if (w > *budget)
            return -1;
        *budget -= w;
    }
    if (strcmp(name, "add") == 0) {
        if (!value)
            return -1;
        return patch_add(root, path, json_deep_copy(value));
    }
    if (strcmp(name, "remove") == 0)
        return patch_remove(*root, path, NULL);
    if (strcmp(name, "replace") == 0) {
        if (!value || !pointer_get(*root, path))
            return -1;
        if (*path == '\0') {
            json_decref(*root);
            *root = json_deep_copy(value);
            return 0;
        }
        return patch_replace(*root, path, json_deep_copy(value));
    }
    if (strcmp(name, "move") == 0) {
        if (!from)
            return -1;
        size_t flen = strlen(from);
        if (strcmp(from, path) == 0)
            return pointer_get(*root, from) ? 0 : -1;
        /* A value cannot be moved into one of its own children. */
        if (strncmp(path, from, flen) == 0 && path[flen] == '/')
            return -1;
        json_t *taken = NULL;
        if (*from == '\0' || patch_remove(*root, from, &taken) < 0)
            return -1;
        return patch_add(root, path, taken);
    }
    if (strcmp(name, "copy") == 0) {
        if (!from)
            return -1;
        json_t *src = pointer_get(*root, from);
        if (!src)
            return -1;
        return patch_add(root, path, json_deep_copy(src));
    }
    if (strcmp(name, "test") == 0) {
        json_t *cur = pointer_get(*root, path);
        if (!value || !cur)
            return -1;
        return json_values_equal(cur, value, 0) ? 0 : -1;
    }
    return -1;
}

/* True when every real in the tree prints back exactly with 15 significant digits; the
 * output then avoids 17-digit noise such as 0.10000000000000001. */
static bool reals_short(json_t *v, int depth)
{
    if (depth > PATCH_MAX_DEPTH)
        return false;
    if (json_is_real(v)) {
        char buf[64];
        double d = json_real_value(v);
        snprintf(buf, sizeof(buf), "%.15g", d);
        return strtod(buf, NULL) == d;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!reals_short(json_array_get(v, i), depth + 1))
                return false;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            (void)k;
            if (!reals_short(c, depth + 1))
                return false;
        }
    }
    return true;
}

char *tt_json_patch_apply(const char *doc, size_t doc_len, json_t *patch, size_t *out_len)
{
    if (!doc || doc_len == 0 || !json_is_array(patch))
        return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(doc, doc_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return NULL;
    size_t n = json_array_size(patch);
    size_t budget = PATCH_MAX_WEIGHT;
    for (size_t i = 0; i < n; i++) {
        if (apply_op(&root, json_array_get(patch, i), &budget) < 0) {
            json_decref(root);
            return NULL;
        }
    }
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;
    flags |= reals_short(root, 0) ? JSON_REAL_PRECISION(15) : JSON_REAL_PRECISION(17);
    size_t need = json_dumpb(root, NULL, 0, flags);
    if (need == 0) {
        json_decref(root);
        return NULL;
    }
    const char *nl = "";
    if (doc_len >= 2 && doc[doc_len - 2] == '\r' && doc[doc_len - 1] == '\n')
        nl = "\r\n";
    else if (doc[doc_len - 1] == '\n')
        nl = "\n";
    size_t nl_len = strlen(nl);
    char *out = tt_malloc(need + nl_len + 1);
    json_dumpb(root, out, need, flags);
    memcpy(out + need, nl, nl_len);
    out[need + nl_len] = '\0';
    json_decref(root);
    if (out_len)
        *out_len = need + nl_len;
    return out;
}

/* zpub.c: publish items from ZeroMQ messages (see zpub.h). */
#include "zmq/zpub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

#define INVALID "received message with invalid format"

/* "J" + JSON object, or [T]tnetstring. *tnet says which, for the item parser. */
static int decode_value(const char *msg, size_t len, const struct tt_tnet_limits *lim, json_t **out,
                        bool *tnet, char *err, size_t errlen)
{
    *out = NULL;
    if (len > 0 && msg[0] == 'J') {
        *tnet = false;
        json_error_t jerr;
        json_t *v = json_loadb(msg + 1, len - 1, JSON_ALLOW_NUL, &jerr);
        if (!v)
            return set_err(err, errlen, INVALID " (json parse failed)");
        if (!json_is_object(v)) {
            json_decref(v);
            return set_err(err, errlen, INVALID " (not a valid json object)");
        }
        *out = v;
        return 0;
    }
    *tnet = true;
    size_t off = len > 0 && msg[0] == 'T' ? 1 : 0;
    struct tt_tnet_error te;
    int r = tt_tnet_parse(msg + off, len - off, lim, out, &te);
    if (r < 0) {
        set_err(err, errlen, INVALID " (tnetstring parse failed: %s at offset %zu)",
                tt_tnet_strerror(te.code), te.offset + off);
        return r == TT_ETOOBIG ? TT_ETOOBIG : TT_EPARSE;
    }
    return 0;
}

static bool has_nul(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

static int parse_item(json_t *v, bool tnet, bool require_channel, struct tt_pub_item *out,
                      char *err, size_t errlen)
{
    char ierr[384];
    ierr[0] = '\0';
    int r = tnet ? tt_pub_item_from_tnet(v, require_channel, out, ierr, sizeof(ierr))
                 : tt_pub_item_from_json(v, require_channel, out, ierr, sizeof(ierr));
    if (r < 0)
        return set_err(err, errlen, INVALID ": %s", ierr);
    json_t *ch = json_object_get(v, "channel");
    if (require_channel && ch && has_nul(json_string_value(ch), json_string_length(ch))) {
        tt_pub_item_deinit(out);
        return set_err(err, errlen, INVALID ": channel contains a NUL byte");
    }
    return 0;
}

int tt_zpub_decode_pull(const char *msg, size_t len, const struct tt_tnet_limits *lim,
                        struct tt_pub_item *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *v;
    bool tnet;
    int r = decode_value(msg, len, lim, &v, &tnet, err, errlen);
    if (r < 0)
        return r;
    r = parse_item(v, tnet, true, out, err, errlen);
    json_decref(v);
    return r;
}

int tt_zpub_decode_sub(const char *topic, size_t topic_len, const char *msg, size_t len,
                       const struct tt_tnet_limits *lim, struct tt_pub_item *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *v;
    bool tnet;
    int r = decode_value(msg, len, lim, &v, &tnet, err, errlen);
    if (r < 0)
        return r;
    if (topic_len > 0 && has_nul(topic, topic_len)) {
        json_decref(v);
        return set_err(err, errlen, INVALID ": channel contains a NUL byte");
    }
    r = parse_item(v, tnet, topic_len == 0, out, err, errlen);
    json_decref(v);
    if (r == 0 && topic_len > 0) {
        free(out->channel);
        out->channel = tt_strndup(topic, topic_len);
    }
    return r;
}

int tt_zpub_items_from_args(json_t *args, struct tt_pub_item **items, size_t *n, char *err,
                            size_t errlen)
{
    *items = NULL;
    *n = 0;
    json_t *v = json_is_object(args) ? json_object_get(args, "items") : NULL;
    if (!v)
        return set_err(err, errlen, "Invalid format: object does not contain 'items'");
    if (!json_is_array(v))
        return set_err(err, errlen, "Invalid format: object contains 'items' with wrong type");
    size_t count = json_array_size(v);
    struct tt_pub_item *arr = tt_calloc(count ? count : 1, sizeof(*arr));
    for (size_t i = 0; i < count; i++) {
        char ierr[384];
        ierr[0] = '\0';
        json_t *it = json_array_get(v, i);
        int r = tt_pub_item_from_tnet(it, true, &arr[i], ierr, sizeof(ierr));
        json_t *ch = r == 0 ? json_object_get(it, "channel") : NULL;
        if (r == 0 && has_nul(json_string_value(ch), json_string_length(ch))) {
            tt_pub_item_deinit(&arr[i]);
            snprintf(ierr, sizeof(ierr), "channel contains a NUL byte");
            r = TT_EPARSE;
        }
        if (r < 0) {
            tt_pub_items_free(arr, i);
            return set_err(err, errlen, "Invalid format: %s", ierr);
        }
    }
    *items = arr;
    *n = count;
    return 0;
}

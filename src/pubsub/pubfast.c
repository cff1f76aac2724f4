/* pubfast.c: the common shape of a /publish/ body read straight into items, without a JSON
 * tree.
 *
 * A publisher that sends many items per request mostly sends one shape:
 * {"items":[{"channel":"c","id":"i","prev-id":"p","formats":{"http-stream":{"content":"x"}}}]}.
 * Through jansson every item costs a tree of three objects with their hash tables and a copy
 * of every key and string, then a walk of that tree, then freeing it: most of the control
 * thread's time when 10,000 channels get one message each. Here each string is decoded once,
 * into the buffer the item keeps.
 *
 * The accepted shape is narrow on purpose, and anything else (numbers, true/false/null, \u
 * escapes, a key outside the shape or given twice, meta, actions, filters, an id with a
 * control character, bytes jansson would refuse) answers "not mine": the caller then parses
 * the whole body with jansson, so errors and every unusual item come out exactly as before.
 * For a body it accepts, the items are the ones the jansson path builds, field for field
 * (fuzz_publish checks this on every input). */
#include "pubsub/pubfast.h"

#include <stdlib.h>

#include "http/h1.h"
#include "ws/utf8.h"

struct rd {
    const char *p, *end;
};

static void skip_ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* The next non-blank byte is c: consume it. */
static bool eat(struct rd *r, char c)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

/* A string whose only escapes are the one-letter ones. The decoded bytes go to a new
 * NUL-terminated buffer (*out, *len). false: not a string we take (nothing allocated). */
static bool read_string(struct rd *r, char **out, size_t *len)
{
    if (!eat(r, '"'))
        return false;
    const char *s = r->p;
    bool escapes = false, high = false;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20)
            return false; /* jansson refuses control characters in strings */
        if (c >= 0x80)
            high = true;
        if (c == '\\') {
            escapes = true;
            if (r->p + 1 >= r->end)
                return false;
            r->p++;
        }
        r->p++;
    }
    if (r->p >= r->end)
        return false;
    size_t raw = (size_t)(r->p - s);
    r->p++; /* the closing quote */
    /* Escapes are ASCII, so checking the raw bytes checks the decoded ones. */
    if (high && !tt_ws_utf8_valid(s, raw))
        return false;
    char *buf = tt_malloc(raw + 1);
    size_t n = 0;
    if (!escapes) {
        memcpy(buf, s, raw);
        n = raw;
    } else {
        for (size_t i = 0; i < raw; i++) {
            if (s[i] != '\\') {
                buf[n++] = s[i];
                continue;
            }
            char e = s[++i], d;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                d = e;
                break;
            case 'b':
                d = '\b';
                break;
            case 'f':
                d = '\f';
                break;
            case 'n':
                d = '\n';
                break;
            case 'r':
                d = '\r';
                break;
            case 't':
                d = '\t';
                break;
            default: /* \u (jansson's, with its surrogate and NUL rules) or invalid */
                free(buf);
                return false;
            }
            buf[n++] = d;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return true;
}

/* A member name from the given list; returns its index, or -1. */
static int read_key(struct rd *r, const char *const *names, int count)
{
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"')
        return -1;
    const char *s = r->p + 1;
    const char *q = memchr(s, '"', (size_t)(r->end - s));
    if (!q)
        return -1;
    size_t n = (size_t)(q - s);
    for (int i = 0; i < count; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
            r->p = q + 1;
            return eat(r, ':') ? i : -1;
        }
    }
    return -1; /* also any key with an escape: it never matches a plain name */
}

/* {"<key>": string}, exactly one member. */
static bool read_single(struct rd *r, const char *key, char **out, size_t *len)
{
    const char *const names[] = {key};
    if (!eat(r, '{') || read_key(r, names, 1) != 0 || !read_string(r, out, len))
        return false;
    if (eat(r, '}'))
        return true;
    free(*out);
    *out = NULL;
    return false;
}

enum { F_RESPONSE, F_STREAM, F_WS };

static bool read_formats(struct rd *r, struct tt_pub_item *it)
{
    static const char *const names[] = {"http-response", "http-stream", "ws-message"};
    bool seen[3] = {false, false, false};
    if (!eat(r, '{'))
        return false;
    do {
        int k = read_key(r, names, 3);
        if (k < 0 || seen[k])
            return false;
        seen[k] = true;
        if (k == F_RESPONSE) {
            it->has_http_response = true;
            it->http_response.code = 200;
            if (!read_single(r, "body", &it->http_response.body, &it->http_response.body_len))
                return false;
        } else if (k == F_STREAM) {
            it->has_http_stream = true;
            if (!read_single(r, "content", &it->http_stream.content,
                             &it->http_stream.content_len))
                return false;
        } else {
            it->has_ws_message = true;
            it->ws_message.type = TT_WS_TEXT; /* content without a type is text */
            if (!read_single(r, "content", &it->ws_message.content,
                             &it->ws_message.content_len))
                return false;
        }
    } while (eat(r, ','));
    return eat(r, '}');
}

enum { K_CHANNEL, K_ID, K_PREV_ID, K_FORMATS };

static bool read_item(struct rd *r, struct tt_pub_item *it)
{
    static const char *const names[] = {"channel", "id", "prev-id", "formats"};
    bool seen[4] = {false, false, false, false};
    if (!eat(r, '{'))
        return false;
    do {
        int k = read_key(r, names, 4);
        if (k < 0 || seen[k])
            return false;
        seen[k] = true;
        size_t len;
        bool ok;
        if (k == K_CHANNEL)
            ok = read_string(r, &it->channel, &len) && strlen(it->channel) == len;
        else if (k == K_ID)
            ok = read_string(r, &it->id, &len) && tt_h1_is_field_value(it->id, len);
        else if (k == K_PREV_ID)
            ok = read_string(r, &it->prev_id, &len) && tt_h1_is_field_value(it->prev_id, len);
        else
            ok = read_formats(r, it);
        if (!ok)
            return false;
    } while (eat(r, ','));
    return eat(r, '}') && seen[K_CHANNEL] && seen[K_FORMATS];
}

static void item_reset(struct tt_pub_item *it)
{
    memset(it, 0, sizeof(*it));
    it->size = -1;
    it->ws_message.code = -1;
}

bool tt__pub_parse_fast(const char *body, size_t len, struct tt_pub_item **items, size_t *n)
{
    static const char *const root_names[] = {"items"};
    struct rd r = {body, body + len};
    *items = NULL;
    *n = 0;
    if (!eat(&r, '{') || read_key(&r, root_names, 1) != 0 || !eat(&r, '['))
        return false;
    struct tt_pub_item *arr = NULL;
    size_t count = 0, alloc = 0;
    bool ok = true;
    if (!eat(&r, ']')) {
        do {
            if (count == alloc) {
                alloc = alloc ? alloc * 2 : 16;
                arr = tt_realloc(arr, alloc * sizeof(*arr));
            }
            item_reset(&arr[count]);
            count++;
            ok = read_item(&r, &arr[count - 1]);
        } while (ok && eat(&r, ','));
        ok = ok && eat(&r, ']');
    }
    ok = ok && eat(&r, '}');
    skip_ws(&r);
    if (!ok || r.p != r.end) {
        tt_pub_items_free(arr, count);
        return false;
    }
    if (!arr)
        arr = tt_calloc(1, sizeof(*arr));
    *items = arr;
    *n = count;
    return true;
}

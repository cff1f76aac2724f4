/* grip.c: GRIP instruction parser (Grip-* headers and application/grip-instruct bodies).
 *
 * Pushpin is the reference: its header-parameter syntax, its order of checks and its
 * error texts are kept, so that a backend sees the same "Failed to parse accept
 * instructions: ..." reason from either server. Where Pushpin silently accepts nonsense
 * that would reach the wire (CR/LF in a header, an empty channel name) we refuse it. */
#include "grip/grip.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/log.h"
#include "core/base64.h"

/* Parameters per header item. Legit items carry a handful (prev-id, five filters); the
 * cap bounds the work a hostile backend can cause per item. */
#define MAX_PARAMS 32
#define DEFAULT_TIMEOUT 55
#define MIN_TIMEOUT 5

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TT_EPARSE;
}

/* Peer text quoted in an error message is escaped: the message reaches logs and, in debug
 * mode, a client. */
static const char *esc(const char *s, size_t len, char *buf, size_t buflen)
{
    return tt_log_escape(s, len, buf, buflen);
}

static void trim(const char **s, size_t *len)
{
    tt_trim(s, len);
}

/* ---- header value syntax ---- */

/* Index of the next comma outside double quotes at or after pos, or len. Inside quotes a
 * backslash escapes the next byte. An unterminated quote runs to the end (Pushpin takes
 * the rest of the value as one item). */
static size_t next_comma(const char *v, size_t pos, size_t len)
{
    bool quoted = false;
    for (size_t i = pos; i < len; i++) {
        if (quoted) {
            if (v[i] == '\\')
                i++;
            else if (v[i] == '"')
                quoted = false;
        } else if (v[i] == '"') {
            quoted = true;
        } else if (v[i] == ',') {
            return i;
        }
    }
    return len;
}

typedef int (*raw_item_fn)(void *ctx, const char *item, size_t len);

static int for_each_item(const char *v, size_t len, raw_item_fn fn, void *ctx)
{
    size_t pos = 0;
    while (pos < len) {
        size_t end = next_comma(v, pos, len);
        const char *item = v + pos;
        size_t ilen = end - pos;
        trim(&item, &ilen);
        int rc = fn(ctx, item, ilen);
        if (rc < 0)
            return rc;
        pos = end + 1;
    }
    return 0;
}

static void free_params(struct tt_grip_param *params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(params[i].value);
}

static const char *find_byte(const char *s, size_t from, size_t len, char a, char b)
{
    for (size_t i = from; i < len; i++)
        if (s[i] == a || s[i] == b)
            return s + i;
    return NULL;
}

/* Parse one item `value; p1=v1; p2="q \" v"`. With first_value the text before the first
 * ';' is the item's value (not unquoted, as in Pushpin); without it every ';' part is a
 * parameter (Grip-Set-Meta). On success the caller owns the params' values. */
static int parse_item(const char *s, size_t len, bool first_value, const char **value,
                      size_t *value_len, struct tt_grip_param *params, size_t *num_params)
{
    size_t np = 0, start = 0;
    *value = s;
    *value_len = 0;
    if (first_value) {
        const char *semi = memchr(s, ';', len);
        size_t vlen = semi ? (size_t)(semi - s) : len;
        const char *v = s;
        trim(&v, &vlen);
        *value = v;
        *value_len = vlen;
        start = semi ? (size_t)(semi - s) + 1 : len;
    }
    while (start < len) {
        const char *at = find_byte(s, start, len, '=', ';');
        const char *name = s + start;
        size_t name_len = (at ? (size_t)(at - s) : len) - start;
        trim(&name, &name_len);
        char *val = NULL;
        if (!at) {
            start = len;
        } else if (*at == ';') {
            start = (size_t)(at - s) + 1;
        } else {
            size_t i = (size_t)(at - s) + 1;
            if (i < len && s[i] == '"') {
                char *q = tt_malloc(len - i);
                size_t qn = 0;
                bool complete = false;
                for (i++; i < len; i++) {
                    if (s[i] == '\\') {
                        if (++i >= len)
                            break;
                        q[qn++] = s[i];
                    } else if (s[i] == '"') {
                        complete = true;
                        i++;
                        break;
                    } else {
                        q[qn++] = s[i];
                    }
                }
                if (!complete) {
                    free(q);
                    free_params(params, np);
                    return TT_EPARSE;
                }
                q[qn] = '\0';
                val = q;
                /* Anything between the closing quote and the next ';' is ignored. */
                const char *semi = memchr(s + i, ';', len - i);
                start = semi ? (size_t)(semi - s) + 1 : len;
            } else {
                const char *semi = memchr(s + i, ';', len - i);
                size_t vend = semi ? (size_t)(semi - s) : len;
                const char *v = s + i;
                size_t vlen = vend - i;
                trim(&v, &vlen);
                val = tt_strndup(v, vlen);
                start = semi ? vend + 1 : len;
            }
        }
        if (name_len == 0 && !val)
            continue; /* stray ';' */
        if (np == MAX_PARAMS) {
            free(val);
            free_params(params, np);
            return TT_EPARSE;
        }
        params[np].name = name;
        params[np].name_len = name_len;
        params[np].value = val;
        np++;
    }
    *num_params = np;
    return 0;
}

struct split_ctx {
    bool first_value;
    tt_grip_item_fn fn;
    void *ctx;
};

static int split_item(void *ctx, const char *item, size_t len)
{
    struct split_ctx *sc = ctx;
    struct tt_grip_param params[MAX_PARAMS];
    size_t np = 0;
    const char *value;
    size_t value_len;
    int rc = parse_item(item, len, sc->first_value, &value, &value_len, params, &np);
    if (rc < 0)
        return rc;
    rc = sc->fn(sc->ctx, value, value_len, params, np);
    free_params(params, np);
    return rc;
}

static int split(const char *v, size_t len, bool first_value, tt_grip_item_fn fn, void *ctx)
{
    struct split_ctx sc = {first_value, fn, ctx};
    return for_each_item(v, len, split_item, &sc);
}

int tt_grip_split_header(const char *v, size_t len, tt_grip_item_fn fn, void *ctx)
{
    int rc = split(v, len, true, fn, ctx);
    return rc < 0 ? TT_EPARSE : 0;
}

static const struct tt_grip_param *find_param(const struct tt_grip_param *params, size_t n,
                                              const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (tt_strieq(params[i].name, params[i].name_len, name))
            return &params[i];
    return NULL;
}

/* An int the way Qt's toInt reads one: optional sign, decimal digits, surrounding
 * whitespace allowed, must fit in int. */
static bool parse_int(const char *s, size_t len, int *out)
{
    if (!s)
        return false;
    trim(&s, &len);
    bool neg = false;
    if (len && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
        len--;
    }
    int64_t v = tt_parse_uint(s, len, (int64_t)INT_MAX + 1);
    if (v < 0 || (!neg && v > INT_MAX))
        return false;
    *out = (int)(neg ? -v : v);
    return true;
}

static bool has_ctl(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return true;
    }
    return false;
}

/* ---- building the result ---- */

struct parse_ctx {
    struct tt_grip *g;
    const char *prefix;
    size_t prefix_len;
    size_t max_channels;
    char *err;
    size_t errlen;
};

/* Takes ownership of prev_id and filters. Channels past the cap are dropped, as Pushpin
 * drops subscriptions beyond connection_subscription_max. */
static void add_channel(struct parse_ctx *pc, const char *name, size_t name_len, char *prev_id,
                        char **filters, int num_filters)
{
    struct tt_grip *g = pc->g;
    if (g->num_channels >= pc->max_channels) {
        free(prev_id);
        for (int i = 0; i < num_filters; i++)
            free(filters[i]);
        return;
    }
    g->channels = tt_realloc(g->channels, (g->num_channels + 1) * sizeof(*g->channels));
    struct tt_grip_channel *c = &g->channels[g->num_channels++];
    memset(c, 0, sizeof(*c));
    c->name = tt_malloc(pc->prefix_len + name_len + 1);
    memcpy(c->name, pc->prefix, pc->prefix_len);
    memcpy(c->name + pc->prefix_len, name, name_len);
    c->name[pc->prefix_len + name_len] = '\0';
    c->prev_id = prev_id;
    for (int i = 0; i < num_filters; i++)
        c->filters[i] = filters[i];
    c->num_filters = num_filters;
}

static void set_kv(struct tt_grip_kv **arr, size_t *n, const char *name, size_t name_len,
                   const char *value, size_t value_len, bool replace)
{
    if (replace) {
        for (size_t i = 0; i < *n; i++) {
            if (strlen((*arr)[i].name) == name_len && memcmp((*arr)[i].name, name, name_len) == 0) {
                free((*arr)[i].value);
                (*arr)[i].value = tt_strndup(value, value_len);
                return;
            }
        }
    }
    *arr = tt_realloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[*n].name = tt_strndup(name, name_len);
    (*arr)[*n].value = tt_strndup(value, value_len);
    (*n)++;
}

static int channel_item(void *ctx, const char *value, size_t value_len,
                        struct tt_grip_param *params, size_t num_params)
{
    struct parse_ctx *pc = ctx;
    char ebuf[128];
    if (value_len == 0)
        return fail(pc->err, pc->errlen, "Grip-Channel contains an empty channel name");
    int nf = 0;
    for (size_t i = 0; i < num_params; i++) {
        /* Pushpin matches "filter" case-sensitively; others are ignored. */
        if (params[i].name_len == 6 && memcmp(params[i].name, "filter", 6) == 0)
            nf++;
    }
    if (nf > TT_GRIP_MAX_FILTERS)
        return fail(pc->err, pc->errlen, "too many filters for channel '%s'",
                    esc(value, value_len, ebuf, sizeof(ebuf)));
    char *filters[TT_GRIP_MAX_FILTERS];
    nf = 0;
    for (size_t i = 0; i < num_params; i++) {
        if (params[i].name_len == 6 && memcmp(params[i].name, "filter", 6) == 0)
            filters[nf++] = tt_strdup(params[i].value ? params[i].value : "");
    }
    const struct tt_grip_param *p = find_param(params, num_params, "prev-id");
    char *prev_id = p && p->value ? tt_strdup(p->value) : NULL;
    add_channel(pc, value, value_len, prev_id, filters, nf);
    return 0;
}

/* A link URL becomes the request line (and, for another host, the Host and the address)
 * of an internal request: no controls, spaces or DEL, and a valid authority when it is
 * absolute. */
static bool valid_link_url(const char *url, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    size_t skip = tt_strihas_prefix(url, len, "http://")    ? 7
                  : tt_strihas_prefix(url, len, "https://") ? 8
                                                            : 0;
    if (!skip)
        return true;
    size_t alen = 0;
    while (skip + alen < len && url[skip + alen] != '/' && url[skip + alen] != '?')
        alen++;
    return alen > 0 && tt_h1_valid_host(url + skip, alen);
}

static int link_item(void *ctx, const char *value, size_t value_len, struct tt_grip_param *params,
                     size_t num_params)
{
    struct parse_ctx *pc = ctx;
    struct tt_grip *g = pc->g;
    if (num_params == 0)
        return 0; /* no rel: nothing for us (Pushpin skips it too) */
    if (value_len <= 2 || value[0] != '<' || value[value_len - 1] != '>')
        return fail(pc->err, pc->errlen, "failed to parse Grip-Link value");
    const char *url = value + 1;
    size_t url_len = value_len - 2;
    if (!valid_link_url(url, url_len))
        return fail(pc->err, pc->errlen, "Grip-Link contains invalid link");
    const struct tt_grip_param *rel = find_param(params, num_params, "rel");
    if (!rel || !rel->value)
        return 0;
    if (strcmp(rel->value, "next") == 0) {
        int timeout = 0;
        const struct tt_grip_param *t = find_param(params, num_params, "timeout");
        if (t) {
            if (!parse_int(t->value, t->value ? strlen(t->value) : 0, &timeout))
                return fail(pc->err, pc->errlen, "failed to parse Grip-Link timeout value");
            if (timeout < 0)
                return fail(pc->err, pc->errlen, "Grip-Link timeout has invalid value");
        }
        free(g->next_link);
        g->next_link = tt_strndup(url, url_len);
        g->next_link_timeout = timeout;
    } else if (strcmp(rel->value, "gone") == 0) {
        free(g->gone_link);
        g->gone_link = tt_strndup(url, url_len);
    }
    return 0;
}

static int meta_item(void *ctx, const char *value, size_t value_len, struct tt_grip_param *params,
                     size_t num_params)
{
    struct parse_ctx *pc = ctx;
    (void)value;
    (void)value_len;
    if (num_params == 0)
        return fail(pc->err, pc->errlen, "Grip-Set-Meta cannot be empty");
    const char *v = params[0].value ? params[0].value : "";
    /* Meta travels on in headers (WebSocket-over-HTTP Meta-*): token names, clean values. */
    if (!tt_h1_is_token(params[0].name, params[0].name_len) ||
        !tt_h1_is_field_value(v, strlen(v)))
        return fail(pc->err, pc->errlen, "Grip-Set-Meta contains invalid value");
    set_kv(&pc->g->meta, &pc->g->num_meta, params[0].name, params[0].name_len, v, strlen(v), true);
    return 0;
}

static int expose_item(void *ctx, const char *item, size_t len)
{
    struct tt_grip *g = ctx;
    if (len == 0)
        return 0;
    char *name = tt_strndup(item, len);
    for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] - 'A' + 'a');
    g->expose = tt_realloc(g->expose, (g->num_expose + 1) * sizeof(*g->expose));
    g->expose[g->num_expose++] = name;
    return 0;
}

/* Pushpin's cstring format: \\ \r \n \xHH; any other escape is dropped whole. */
static char *unescape_cstring(const char *s, size_t len, size_t *out_len)
{
    char *out = tt_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        if (++i >= len)
            goto bad;
        if (s[i] == '\\') {
            out[n++] = '\\';
        } else if (s[i] == 'r') {
            out[n++] = '\r';
        } else if (s[i] == 'n') {
            out[n++] = '\n';
        } else if (s[i] == 'x') {
            if (i + 2 >= len)
                goto bad;
            int hi = tt_hexval(s[i + 1]), lo = tt_hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
bad:
    free(out);
    return NULL;
}

static char *decode_b64(const char *s, size_t len, size_t *out_len)
{
    size_t cap = len / 4 * 3 + 3;
    char *out = tt_malloc(cap + 1);
    int n = tt_base64_decode(s, len, out, cap, false);
    if (n < 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    *out_len = (size_t)n;
    return out;
}

static int parse_keep_alive(struct parse_ctx *pc, const char *hv, size_t hlen)
{
    struct tt_grip *g = pc->g;
    struct tt_grip_param params[MAX_PARAMS];
    size_t np = 0;
    const char *data;
    size_t data_len;
    /* The whole header is one item: DATA may contain commas. */
    if (parse_item(hv, hlen, true, &data, &data_len, params, &np) < 0)
        return fail(pc->err, pc->errlen, "failed to parse Grip-Keep-Alive");
    int rc = 0;
    char ebuf[64];
    if (data_len == 0) {
        rc = fail(pc->err, pc->errlen, "Grip-Keep-Alive cannot be empty");
        goto out;
    }
    const struct tt_grip_param *p = find_param(params, np, "mode");
    if (!p || !p->value || !*p->value || strcmp(p->value, "idle") == 0) {
        g->ka_mode = TT_KA_IDLE;
    } else if (strcmp(p->value, "interval") == 0) {
        g->ka_mode = TT_KA_INTERVAL;
    } else {
        rc = fail(pc->err, pc->errlen, "no such Grip-Keep-Alive mode '%s'",
                  esc(p->value, strlen(p->value), ebuf, sizeof(ebuf)));
        goto out;
    }
    p = find_param(params, np, "timeout");
    if (p) {
        int t;
        if (!parse_int(p->value, p->value ? strlen(p->value) : 0, &t)) {
            rc = fail(pc->err, pc->errlen, "failed to parse Grip-Keep-Alive timeout value");
            goto out;
        }
        if (t < 0) {
            rc = fail(pc->err, pc->errlen, "Grip-Keep-Alive timeout has invalid value");
            goto out;
        }
        g->ka_timeout = t < 1 ? 1 : t;
    } else {
        g->ka_timeout = DEFAULT_TIMEOUT;
    }
    p = find_param(params, np, "format");
    char *bytes;
    size_t n = 0;
    if (!p || !p->value || !*p->value || strcmp(p->value, "raw") == 0) {
        bytes = tt_strndup(data, data_len);
        n = data_len;
    } else if (strcmp(p->value, "cstring") == 0) {
        bytes = unescape_cstring(data, data_len, &n);
        if (!bytes) {
            rc = fail(pc->err, pc->errlen, "failed to parse Grip-Keep-Alive cstring format");
            goto out;
        }
    } else if (strcmp(p->value, "base64") == 0) {
        bytes = decode_b64(data, data_len, &n);
        if (!bytes) {
            rc = fail(pc->err, pc->errlen, "failed to parse Grip-Keep-Alive base64 format");
            goto out;
        }
    } else {
        rc = fail(pc->err, pc->errlen, "no such Grip-Keep-Alive format '%s'",
                  esc(p->value, strlen(p->value), ebuf, sizeof(ebuf)));
        goto out;
    }
    free(g->ka_data);
    g->ka_data = bytes;
    g->ka_len = n;
out:
    free_params(params, np);
    return rc;
}

static int parse_status(struct parse_ctx *pc, const char *v, size_t len)
{
    struct tt_grip *g = pc->g;
    const char *sp = memchr(v, ' ', len);
    size_t code_len = sp ? (size_t)(sp - v) : len;
    int code;
    /* Pushpin takes 0..999 and writes "HTTP/1.1 0 Undefined Reason"; a status the client
     * cannot take as final (below 200, above 599) is a backend error here. */
    if (!parse_int(v, code_len, &code) || code < 200 || code > 599)
        return fail(pc->err, pc->errlen, "Grip-Status contains invalid status code");
    g->status = code;
    g->has_status = true;
    if (sp && (size_t)(sp - v) + 1 < len) {
        const char *r = sp + 1;
        size_t rlen = len - (size_t)(r - v);
        /* The reason goes into our status line verbatim. */
        if (has_ctl(r, rlen))
            return fail(pc->err, pc->errlen, "Grip-Status contains invalid reason");
        g->status_reason = tt_strndup(r, rlen);
    }
    return 0;
}

/* ---- application/grip-instruct ---- */

static bool is_instruct_type(const struct tt_h1_response *resp)
{
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct tt_h1_header *h = &resp->headers[i];
        if (!tt_strieq(h->name, h->name_len, "Content-Type"))
            continue;
        const char *semi = memchr(h->value, ';', h->value_len);
        const char *t = h->value;
        size_t tlen = semi ? (size_t)(semi - h->value) : h->value_len;
        trim(&t, &tlen);
        return tt_strieq(t, tlen, "application/grip-instruct");
    }
    return false;
}

/* A JSON string member. Absent: 0 with *out NULL (or an error when required). Strings
 * that end up in C strings may not contain NUL unless allow_nul. */
static int jstr(struct parse_ctx *pc, json_t *obj, const char *parent, const char *key,
                bool required, bool allow_nul, const char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            return fail(pc->err, pc->errlen, "%s does not contain '%s'", parent, key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(pc->err, pc->errlen, "%s contains '%s' with wrong type", parent, key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (!allow_nul && strlen(s) != n)
        return fail(pc->err, pc->errlen, "%s contains '%s' with invalid value", parent, key);
    *out = s;
    if (out_len)
        *out_len = n;
    return 0;
}

/* A JSON number member as a non-negative int (reals truncated, as Qt's toInt). 1 when
 * present, 0 when absent. */
static int jint(struct parse_ctx *pc, json_t *obj, const char *parent, const char *key, int max,
                int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else
        return fail(pc->err, pc->errlen, "%s contains '%s' with wrong type", parent, key);
    if (!(d >= 0 && d < (double)max + 1))
        return fail(pc->err, pc->errlen, "%s contains '%s' with invalid value", parent, key);
    *out = (int)d;
    return 1;
}

static int json_channels(struct parse_ctx *pc, json_t *hold)
{
    json_t *arr = json_object_get(hold, "channels");
    if (!arr)
        return fail(pc->err, pc->errlen, "hold does not contain 'channels'");
    if (!json_is_array(arr))
        return fail(pc->err, pc->errlen, "hold contains 'channels' with wrong type");
    size_t i;
    json_t *ch;
    json_array_foreach(arr, i, ch)
    {
        if (!json_is_object(ch))
            return fail(pc->err, pc->errlen, "channel is not an object");
        const char *name, *prev_id;
        size_t name_len;
        if (jstr(pc, ch, "channel", "name", true, false, &name, &name_len) < 0 ||
            jstr(pc, ch, "channel", "prev-id", false, false, &prev_id, NULL) < 0)
            return TT_EPARSE;
        if (name_len == 0)
            return fail(pc->err, pc->errlen, "channel contains an empty 'name'");
        /* Both come back to the backend in Grip-Last header lines. */
        if (!tt_h1_is_field_value(name, name_len))
            return fail(pc->err, pc->errlen, "channel contains 'name' with invalid value");
        if (prev_id && !tt_h1_is_field_value(prev_id, strlen(prev_id)))
            return fail(pc->err, pc->errlen, "channel contains 'prev-id' with invalid value");
        json_t *jf = json_object_get(ch, "filters");
        char *filters[TT_GRIP_MAX_FILTERS];
        int nf = 0;
        if (jf) {
            char ebuf[128];
            if (!json_is_array(jf))
                return fail(pc->err, pc->errlen, "channel contains 'filters' with wrong type");
            if (json_array_size(jf) > TT_GRIP_MAX_FILTERS)
                return fail(pc->err, pc->errlen, "too many filters for channel '%s'",
                            esc(name, name_len, ebuf, sizeof(ebuf)));
            size_t j;
            json_t *f;
            json_array_foreach(jf, j, f)
            {
                if (!json_is_string(f) || strlen(json_string_value(f)) != json_string_length(f))
                    break;
                filters[nf++] = tt_strdup(json_string_value(f));
            }
            if ((size_t)nf != json_array_size(jf)) {
                for (int k = 0; k < nf; k++)
                    free(filters[k]);
                return fail(pc->err, pc->errlen, "filters contains value with wrong type");
            }
        }
        add_channel(pc, name, name_len, prev_id ? tt_strdup(prev_id) : NULL, filters, nf);
    }
    return 0;
}

static int json_hold(struct parse_ctx *pc, json_t *hold)
{
    struct tt_grip *g = pc->g;
    if (!json_is_object(hold))
        return fail(pc->err, pc->errlen, "instruct contains 'hold' with wrong type");
    const char *mode;
    if (jstr(pc, hold, "hold", "mode", false, false, &mode, NULL) < 0)
        return TT_EPARSE;
    if (!mode || strcmp(mode, "response") == 0)
        g->hold = TT_HOLD_RESPONSE;
    else if (strcmp(mode, "stream") == 0)
        g->hold = TT_HOLD_STREAM;
    else
        return fail(pc->err, pc->errlen,
                    "hold 'mode' must be set to either 'response' or 'stream'");
    if (json_channels(pc, hold) < 0)
        return TT_EPARSE;
    int t;
    int rc = jint(pc, hold, "hold", "timeout", INT_MAX, &t);
    if (rc < 0)
        return rc;
    if (rc)
        g->timeout = t;

    json_t *ka = json_object_get(hold, "keep-alive");
    if (ka) {
        if (!json_is_object(ka))
            return fail(pc->err, pc->errlen, "hold contains 'keep-alive' with wrong type");
        const char *s;
        size_t n;
        char *bytes = NULL;
        size_t blen = 0;
        if (json_object_get(ka, "content-bin")) {
            if (jstr(pc, ka, "keep-alive", "content-bin", false, true, &s, &n) < 0)
                return TT_EPARSE;
            bytes = decode_b64(s, n, &blen);
            if (!bytes)
                return fail(pc->err, pc->errlen,
                            "keep-alive contains 'content-bin' with invalid value");
        } else if (json_object_get(ka, "content")) {
            if (jstr(pc, ka, "keep-alive", "content", false, true, &s, &n) < 0)
                return TT_EPARSE;
            bytes = tt_malloc(n + 1);
            memcpy(bytes, s, n);
            bytes[n] = '\0';
            blen = n;
        }
        rc = jint(pc, ka, "keep-alive", "timeout", INT_MAX, &t);
        if (rc < 0) {
            free(bytes);
            return rc;
        }
        g->ka_timeout = rc ? (t < 1 ? 1 : t) : DEFAULT_TIMEOUT;
        if (bytes) {
            free(g->ka_data);
            g->ka_data = bytes;
            g->ka_len = blen;
            /* Pushpin's JSON keep-alive has no mode and behaves as interval. */
            g->ka_mode = TT_KA_INTERVAL;
        }
    }

    json_t *meta = json_object_get(hold, "meta");
    if (meta) {
        if (!json_is_object(meta))
            return fail(pc->err, pc->errlen, "hold contains 'meta' with wrong type");
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v)
        {
            char ebuf[128];
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return fail(pc->err, pc->errlen, "'meta' contains '%s' with wrong type",
                            esc(k, strlen(k), ebuf, sizeof(ebuf)));
            if (!tt_h1_is_token(k, strlen(k)) ||
                !tt_h1_is_field_value(json_string_value(v), json_string_length(v)))
                return fail(pc->err, pc->errlen, "'meta' contains '%s' with invalid value",
                            esc(k, strlen(k), ebuf, sizeof(ebuf)));
            set_kv(&g->meta, &g->num_meta, k, strlen(k), json_string_value(v),
                   json_string_length(v), true);
        }
    }
    return 0;
}

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Headers from JSON go onto the wire: a name must be a token and a value must not break
 * the header block. */
static int add_resp_header(struct parse_ctx *pc, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
    char ebuf[128];
    bool ok = name_len > 0;
    for (size_t i = 0; ok && i < name_len; i++)
        ok = is_tchar((unsigned char)name[i]);
    if (!ok || has_ctl(value, value_len))
        return fail(pc->err, pc->errlen, "headers contains invalid header '%s'",
                    esc(name, name_len, ebuf, sizeof(ebuf)));
    /* The proxy frames the response: dropped as Pushpin drops them before writing. */
    if (tt_h1_is_hop_by_hop(name, name_len) || tt_strieq(name, name_len, "Content-Length"))
        return 0;
    set_kv(&pc->g->resp_headers, &pc->g->num_resp_headers, name, name_len, value, value_len, false);
    return 0;
}

static int json_response(struct parse_ctx *pc, json_t *r)
{
    struct tt_grip *g = pc->g;
    if (!json_is_object(r))
        return fail(pc->err, pc->errlen, "instruct contains 'response' with wrong type");
    int code;
    int rc = jint(pc, r, "response", "code", 999, &code);
    if (rc < 0)
        return rc;
    if (rc && (code < 200 || code > 599)) /* not a final status (see parse_status) */
        return fail(pc->err, pc->errlen, "response contains 'code' with invalid value");
    if (rc)
        g->resp_code = code;
    const char *s;
    size_t n;
    if (jstr(pc, r, "response", "reason", false, false, &s, &n) < 0)
        return TT_EPARSE;
    if (s && n) {
        if (has_ctl(s, n))
            return fail(pc->err, pc->errlen, "response contains 'reason' with invalid value");
        g->resp_reason = tt_strndup(s, n);
    }

    json_t *hs = json_object_get(r, "headers");
    if (json_is_array(hs)) {
        size_t i;
        json_t *h;
        json_array_foreach(hs, i, h)
        {
            if (!json_is_array(h))
                return fail(pc->err, pc->errlen, "headers contains element with wrong type");
            if (json_array_size(h) != 2)
                return fail(pc->err, pc->errlen,
                            "headers contains list with wrong number of elements");
            json_t *hn = json_array_get(h, 0), *hv = json_array_get(h, 1);
            if (!json_is_string(hn))
                return fail(pc->err, pc->errlen, "header contains name element with wrong type");
            if (!json_is_string(hv))
                return fail(pc->err, pc->errlen, "header contains value element with wrong type");
            if (add_resp_header(pc, json_string_value(hn), json_string_length(hn),
                                json_string_value(hv), json_string_length(hv)) < 0)
                return TT_EPARSE;
        }
    } else if (json_is_object(hs)) {
        const char *k;
        json_t *v;
        json_object_foreach(hs, k, v)
        {
            char ebuf[128];
            if (!json_is_string(v))
                return fail(pc->err, pc->errlen, "headers contains '%s' with wrong type",
                            esc(k, strlen(k), ebuf, sizeof(ebuf)));
            if (add_resp_header(pc, k, strlen(k), json_string_value(v), json_string_length(v)) < 0)
                return TT_EPARSE;
        }
    } else if (hs) {
        return fail(pc->err, pc->errlen, "response contains 'headers' with wrong type");
    }

    if (json_object_get(r, "body-bin")) {
        if (jstr(pc, r, "response", "body-bin", false, true, &s, &n) < 0)
            return TT_EPARSE;
        g->resp_body = decode_b64(s, n, &g->resp_body_len);
        if (!g->resp_body)
            return fail(pc->err, pc->errlen, "response contains 'body-bin' with invalid value");
    } else if (json_object_get(r, "body")) {
        if (jstr(pc, r, "response", "body", false, true, &s, &n) < 0)
            return TT_EPARSE;
        g->resp_body = tt_malloc(n + 1);
        memcpy(g->resp_body, s, n);
        g->resp_body[n] = '\0';
        g->resp_body_len = n;
    }
    return 0;
}

static int parse_instruct(struct parse_ctx *pc, int status, const char *body, size_t body_len)
{
    if (status != 200)
        return fail(pc->err, pc->errlen,
                    "response code for application/grip-instruct content must be 200");
    if (body_len > TT_GRIP_MAX_BODY)
        return fail(pc->err, pc->errlen, "application/grip-instruct content too large");
    json_error_t jerr;
    /* NUL is legal inside JSON strings and a body may carry it; names are checked
     * separately. */
    json_t *root = body ? json_loadb(body, body_len, JSON_ALLOW_NUL, &jerr) : NULL;
    if (!root)
        return fail(pc->err, pc->errlen,
                    "failed to parse application/grip-instruct content as JSON");
    int rc = 0;
    if (!json_is_object(root)) {
        rc = fail(pc->err, pc->errlen, "instruct must be an object");
        goto out;
    }
    json_t *hold = json_object_get(root, "hold");
    if (hold && (rc = json_hold(pc, hold)) < 0)
        goto out;
    /* The real response's headers and body are replaced even without "response". */
    pc->g->has_response = true;
    json_t *r = json_object_get(root, "response");
    if (r)
        rc = json_response(pc, r);
out:
    json_decref(root);
    return rc;
}

/* ---- entry points ---- */

bool tt_grip_detect(const struct tt_h1_response *resp)
{
    for (size_t i = 0; i < resp->num_headers; i++)
        if (tt_strihas_prefix(resp->headers[i].name, resp->headers[i].name_len, "Grip-"))
            return true;
    return is_instruct_type(resp);
}

static const struct tt_h1_header *first_header(const struct tt_h1_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->num_headers; i++)
        if (tt_strieq(resp->headers[i].name, resp->headers[i].name_len, name))
            return &resp->headers[i];
    return NULL;
}

static int each_header(struct parse_ctx *pc, const struct tt_h1_response *resp, const char *name,
                       bool first_value, tt_grip_item_fn fn, const char *errtext)
{
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct tt_h1_header *h = &resp->headers[i];
        if (!tt_strieq(h->name, h->name_len, name))
            continue;
        if (pc->err && pc->errlen)
            pc->err[0] = '\0';
        int rc = split(h->value, h->value_len, first_value, fn, pc);
        if (rc < 0) {
            /* fn filled err; a syntax error (bad quoting) did not */
            if (pc->err && pc->errlen && !pc->err[0])
                fail(pc->err, pc->errlen, "%s", errtext);
            return TT_EPARSE;
        }
    }
    return 0;
}

static int parse_headers(struct parse_ctx *pc, const struct tt_h1_response *resp)
{
    struct tt_grip *g = pc->g;
    /* Names and values become C strings; a NUL would silently cut them. The HTTP parser
     * already refuses NUL in a field value, so this only guards other callers. */
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct tt_h1_header *hh = &resp->headers[i];
        if (tt_strihas_prefix(hh->name, hh->name_len, "Grip-") &&
            memchr(hh->value, '\0', hh->value_len)) {
            char ebuf[64];
            return fail(pc->err, pc->errlen, "%s contains a NUL byte",
                        esc(hh->name, hh->name_len, ebuf, sizeof(ebuf)));
        }
    }
    const struct tt_h1_header *h = first_header(resp, "Grip-Hold");
    if (h) {
        if (h->value_len == 8 && memcmp(h->value, "response", 8) == 0)
            g->hold = TT_HOLD_RESPONSE;
        else if (h->value_len == 6 && memcmp(h->value, "stream", 6) == 0)
            g->hold = TT_HOLD_STREAM;
        else
            return fail(pc->err, pc->errlen,
                        "Grip-Hold must be set to either 'response' or 'stream'");
    }
    if (each_header(pc, resp, "Grip-Channel", true, channel_item, "failed to parse Grip-Channel") <
        0)
        return TT_EPARSE;
    h = first_header(resp, "Grip-Timeout");
    if (h) {
        if (!parse_int(h->value, h->value_len, &g->timeout))
            return fail(pc->err, pc->errlen, "failed to parse Grip-Timeout");
        if (g->timeout < 0)
            return fail(pc->err, pc->errlen, "Grip-Timeout has invalid value");
    }
    for (size_t i = 0; i < resp->num_headers; i++) {
        h = &resp->headers[i];
        if (tt_strieq(h->name, h->name_len, "Grip-Expose-Headers"))
            for_each_item(h->value, h->value_len, expose_item, g);
    }
    h = first_header(resp, "Grip-Keep-Alive");
    if (h && parse_keep_alive(pc, h->value, h->value_len) < 0)
        return TT_EPARSE;
    if (each_header(pc, resp, "Grip-Set-Meta", false, meta_item, "failed to parse Grip-Set-Meta") <
        0)
        return TT_EPARSE;
    h = first_header(resp, "Grip-Status");
    if (h && h->value_len && parse_status(pc, h->value, h->value_len) < 0)
        return TT_EPARSE;
    if (each_header(pc, resp, "Grip-Link", true, link_item, "failed to parse Grip-Link") < 0)
        return TT_EPARSE;
    return 0;
}

int tt_grip_parse(const struct tt_h1_response *resp, const char *body, size_t body_len,
                  const char *prefix, size_t max_channels, struct tt_grip *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->timeout = -1;
    out->ka_timeout = DEFAULT_TIMEOUT;
    if (err && errlen)
        err[0] = '\0';
    out->is_grip = tt_grip_detect(resp);
    if (!out->is_grip)
        return 0;
    struct parse_ctx pc = {
        out, prefix ? prefix : "", prefix ? strlen(prefix) : 0, max_channels, err, errlen};
    int rc = parse_headers(&pc, resp);
    if (rc == 0 && is_instruct_type(resp))
        rc = parse_instruct(&pc, resp->status, body, body_len);
    if (rc < 0) {
        tt_grip_deinit(out);
        return TT_EPARSE;
    }
    return 0;
}

int tt_grip_hold_timeout(const struct tt_grip *g)
{
    int t = g->timeout < 0 ? DEFAULT_TIMEOUT : g->timeout;
    return t < MIN_TIMEOUT ? MIN_TIMEOUT : t;
}

int tt_grip_status_line(const struct tt_grip *g, int actual_code, const char *actual_reason,
                        size_t actual_reason_len, const char **reason, size_t *reason_len)
{
    int code = actual_code;
    const char *r = actual_reason;
    size_t rlen = actual_reason ? actual_reason_len : 0;
    if (g->has_status) {
        code = g->status;
        r = g->status_reason;
        rlen = r ? strlen(r) : 0;
    }
    if (g->has_response && g->resp_code) {
        code = g->resp_code;
        r = NULL;
        rlen = 0;
    }
    if (g->has_response && g->resp_reason) {
        r = g->resp_reason;
        rlen = strlen(r);
    }
    if (rlen == 0)
        r = NULL;
    *reason = r;
    *reason_len = rlen;
    return code;
}

void tt_grip_deinit(struct tt_grip *g)
{
    for (size_t i = 0; i < g->num_channels; i++) {
        free(g->channels[i].name);
        free(g->channels[i].prev_id);
        for (int j = 0; j < g->channels[i].num_filters; j++)
            free(g->channels[i].filters[j]);
    }
    free(g->channels);
    free(g->ka_data);
    for (size_t i = 0; i < g->num_meta; i++) {
        free(g->meta[i].name);
        free(g->meta[i].value);
    }
    free(g->meta);
    free(g->status_reason);
    free(g->next_link);
    free(g->gone_link);
    for (size_t i = 0; i < g->num_expose; i++)
        free(g->expose[i]);
    free(g->expose);
    free(g->resp_reason);
    for (size_t i = 0; i < g->num_resp_headers; i++) {
        free(g->resp_headers[i].name);
        free(g->resp_headers[i].value);
    }
    free(g->resp_headers);
    free(g->resp_body);
    memset(g, 0, sizeof(*g));
}

void tt_grip_apply(const struct tt_grip *g, struct tt_resp *resp)
{
    /* Grip-Expose-Headers filters the real response's headers only. */
    if (g->expose) {
        size_t o = 0;
        for (size_t i = 0; i < resp->num_headers; i++) {
            bool keep = false;
            for (size_t k = 0; k < g->num_expose && !keep; k++)
                keep = tt_strieq(resp->headers[i].name, strlen(resp->headers[i].name),
                                 g->expose[k]);
            if (keep) {
                resp->headers[o++] = resp->headers[i];
            } else {
                free(resp->headers[i].name);
                free(resp->headers[i].value);
            }
        }
        resp->num_headers = o;
    }
    const char *reason;
    size_t reason_len;
    int code = tt_grip_status_line(g, resp->status, resp->reason,
                                   resp->reason ? strlen(resp->reason) : 0, &reason, &reason_len);
    char *new_reason = reason ? tt_strndup(reason, reason_len) : NULL;
    free(resp->reason);
    resp->reason = new_reason;
    resp->status = code;
    if (g->has_response) {
        /* grip-instruct replaces the real headers and body. */
        for (size_t i = 0; i < resp->num_headers; i++) {
            free(resp->headers[i].name);
            free(resp->headers[i].value);
        }
        resp->num_headers = 0;
        for (size_t i = 0; i < g->num_resp_headers; i++)
            tt_resp_add_header(resp, g->resp_headers[i].name, g->resp_headers[i].value);
        tt_buf_reset(&resp->body);
        if (g->resp_body_len)
            tt_buf_append(&resp->body, g->resp_body, g->resp_body_len);
    }
}

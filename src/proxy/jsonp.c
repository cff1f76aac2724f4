/* jsonp.c: JSON-P request rewrite and response wrapping (SPEC.md section 8), matching what
 * Pushpin 1.36 does on the wire, checked against the real server.
 *
 * Query handling. The query is split on '&' only (';' is not a separator) and each item on
 * its first '='. Names and values are percent-decoded for comparison and use; a '%' not
 * followed by two hex digits stays literal (Pushpin's URL layer turns a stray '%' into %25
 * before decoding) and '+' stays '+' (the query is not form-encoded). The first occurrence
 * of a param is used and every occurrence is removed. The items that are left are kept
 * byte for byte (Pushpin re-normalises their escapes, e.g. %7e -> ~, which changes nothing
 * a backend can rely on) and joined as Pushpin joins them (see build_target). A fragment
 * in the target is dropped, as Pushpin does.
 *
 * Deliberate restrictions where Pushpin takes whatever it is given, because the values
 * end up in places where they could inject content:
 * - The callback must match [A-Za-z0-9_$.[\]]+. Pushpin accepts any non-empty text and
 *   writes it verbatim before "(", so a crafted link could make the response any script
 *   (or markup, for a browser that sniffs); the restricted set still covers the names that
 *   JSON-P clients generate (jQuery123_456, angular.callbacks._0, cb[3]).
 * - _method must be an HTTP token (RFC 9110 tchar) shorter than 16 bytes. Pushpin only
 *   refuses bytes <= 0x20 and 0x7f, so "G(T" or bytes above 0x7f would reach the request line.
 * - _headers names must be tokens and values must not hold control characters other than
 *   HTAB, so a header can never split the backend request.
 * Each failing case answers the same 400 text as any other bad value of that param.
 *
 * The caller, not this module, puts together the backend request: Pushpin sends the
 * _headers entries first (sorted by name, as here), then the body param's
 * Content-Type: application/json, then Host and an Accept of star-slash-star (replacing
 * any client Accept), then the client's other headers except Host and Accept, and a
 * Content-Length for the body. The _headers entries then go through the same rules as
 * the client's headers (Grip-* removed, and so on), as in Pushpin.
 *
 * Response wrapping follows Pushpin's two writers: the proxy's hand-built extended object
 * (spaces after ':' and ',' at the top level, compact headers object with the first value
 * of each exact name, names sorted bytewise) and the handler's Qt-serialised object (all
 * compact, keys sorted, values of case-insensitively equal names joined with ", ").
 * Strings are converted the way Qt's QString::fromUtf8 + QJsonDocument do it: a leading
 * UTF-8 BOM is dropped, every byte that does not start a valid UTF-8 sequence becomes
 * U+FFFD, '"' '\\' \b \f \n \r \t are escaped, other controls become \u00xx (lowercase
 * hex) and everything else (0x7f, U+2028, non-ASCII) is written raw. One divergence: Qt
 * stops a string at its first NUL byte (the rest of the body is lost); we write \u0000
 * and keep going. Invalid UTF-8 is therefore never an error, as in Pushpin 1.36: the
 * "could not be JSON-P encoded" 500 cannot happen for a complete response. */
#include "proxy/jsonp.h"

#include <jansson.h>
#include <stdlib.h>
#include <strings.h>

#include "core/buf.h"
#include "http/h1.h"

static const char ERR_CALLBACK[] = "Invalid callback parameter.";
static const char ERR_METHOD[] = "Invalid _method parameter.";
static const char ERR_HEADERS[] = "Invalid _headers parameter.";
static const char ERR_BODY[] = "Invalid body parameter.";
static const char ERR_UBODY[] = "Invalid _body parameter.";

/* ---- query items ---- */

struct qitem {
    const char *raw; /* the whole item as it appeared */
    size_t raw_len;
    char *name; /* decoded */
    size_t name_len;
    const char *value; /* raw value after the first '=' ("" when there is none) */
    size_t value_len;
    bool removed;
};

struct query {
    struct qitem *items;
    size_t n;
};

static void query_parse(const char *q, size_t len, struct query *out)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        if (q[i] == '&')
            n++;
    out->items = tt_calloc(n, sizeof(*out->items));
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && q[i] != '&')
            continue;
        struct qitem *it = &out->items[out->n++];
        it->raw = q + start;
        it->raw_len = i - start;
        const char *eq = memchr(it->raw, '=', it->raw_len);
        size_t name_raw_len = eq ? (size_t)(eq - it->raw) : it->raw_len;
        it->name = tt_percent_decode(it->raw, name_raw_len, &it->name_len);
        it->value = eq ? eq + 1 : it->raw + it->raw_len;
        it->value_len = eq ? it->raw_len - name_raw_len - 1 : 0;
        start = i + 1;
    }
    /* A '&' at the very end does not open another item (nor does an empty query). */
    if (out->n > 0 && out->items[out->n - 1].raw_len == 0) {
        free(out->items[out->n - 1].name);
        out->n--;
    }
}

static void query_free(struct query *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->items[i].name);
    free(q->items);
}

/* First item with this decoded name, or NULL. Empty items never match: Pushpin does not
 * see them as params. */
static struct qitem *query_find(struct query *q, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < q->n; i++) {
        struct qitem *it = &q->items[i];
        if (!it->removed && it->raw_len > 0 && it->name_len == len &&
            memcmp(it->name, name, len) == 0)
            return it;
    }
    return NULL;
}

static void query_remove_all(struct query *q, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < q->n; i++) {
        struct qitem *it = &q->items[i];
        if (it->raw_len > 0 && it->name_len == len && memcmp(it->name, name, len) == 0)
            it->removed = true;
    }
}

/* Decoded value of the first item named name (NULL when absent); removes every item of
 * that name. */
static char *query_take(struct query *q, const char *name, size_t *len)
{
    struct qitem *it = query_find(q, name);
    if (!it)
        return NULL;
    char *v = tt_percent_decode(it->value, it->value_len, len);
    query_remove_all(q, name);
    return v;
}

/* ---- validation ---- */

static bool is_callback_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c == '.' || c == '[' || c == ']';
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool all_chars(const char *s, size_t len, bool (*ok)(unsigned char))
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!ok((unsigned char)s[i]))
            return false;
    return true;
}

static bool header_value_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static int cmp_kv_name(const void *a, const void *b)
{
    return strcmp(((const struct tt_kv *)a)->name, ((const struct tt_kv *)b)->name);
}

/* Headers a _headers object may not set. Host and Accept: the proxy sets them (Pushpin
 * skips them here too). Framing and connection headers: Pushpin drops them later along
 * with the client's own; dropping them here means the backend request's framing can never
 * come from a query string, whatever the caller does with the list. */
static bool ignored_header(const char *name)
{
    static const char *const names[] = {
        "host",       "accept",          "content-length", "connection", "transfer-encoding",
        "keep-alive", "proxy-connection"};
    for (size_t i = 0; i < TT_ARRAY_LEN(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* _headers: a JSON object whose values are all strings, kept sorted by name as Pushpin's
 * map iteration gives them. */
static int parse_headers(const char *text, size_t len, struct tt_jsonp *out)
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    int ret = TT_EPARSE;
    if (!obj || !json_is_object(obj))
        goto out;
    out->headers = tt_calloc(json_object_size(obj) + 1, sizeof(*out->headers));
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        if (!json_is_string(val))
            goto out;
        if (ignored_header(key))
            continue;
        const char *v = json_string_value(val);
        if (!all_chars(key, strlen(key), is_tchar) || strlen(v) != json_string_length(val) ||
            !header_value_ok(v))
            goto out;
        out->headers[out->num_headers].name = tt_strdup(key);
        out->headers[out->num_headers].value = tt_strdup(v);
        out->num_headers++;
    }
    qsort(out->headers, out->num_headers, sizeof(*out->headers), cmp_kv_name);
    ret = 0;
out:
    json_decref(obj);
    return ret;
}

static void drop_header(struct tt_jsonp *j, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < j->num_headers; i++) {
        if (strcasecmp(j->headers[i].name, name) == 0) {
            free(j->headers[i].name);
            free(j->headers[i].value);
        } else {
            j->headers[o++] = j->headers[i];
        }
    }
    j->num_headers = o;
}

/* path + the items still in the query, joined the way Pushpin's QUrlQuery renders them:
 * an empty item only yields a '&' once something has been written, so empty items at the
 * front vanish while later ones stay ("a&&b"). The '?' goes only when no item at all is
 * left; a query left with nothing but empty items becomes a bare "?", as in Pushpin. */
static char *build_target(const char *path, size_t path_len, const struct query *q)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_buf_append(&b, path, path_len);
    size_t start = b.len;
    bool any = false;
    for (size_t i = 0; i < q->n; i++) {
        if (q->items[i].removed)
            continue;
        if (!any)
            tt_buf_append(&b, "?", 1);
        else if (b.len > start + 1)
            tt_buf_append(&b, "&", 1);
        tt_buf_append(&b, q->items[i].raw, q->items[i].raw_len);
        any = true;
    }
    return tt_buf_steal(&b, NULL);
}

int tt_jsonp_request(const struct tt_route *route, bool aco, const char *method, const char *target,
                     size_t target_len, struct tt_jsonp *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    if (err)
        *err = NULL;
    if (!route || !aco || !method || strcmp(method, "GET") != 0)
        return 0;

    const char *hash = memchr(target, '#', target_len);
    const char *qend = hash ? hash : target + target_len;
    const char *qmark = memchr(target, '?', (size_t)(qend - target));
    if (!qmark)
        return 0;

    const char *cb_name = route->jsonp_cb && route->jsonp_cb[0] ? route->jsonp_cb : "callback";
    const char *body_name = route->jsonp_body && route->jsonp_body[0] ? route->jsonp_body : NULL;
    const char *defcb = route->jsonp_defcb && route->jsonp_defcb[0] ? route->jsonp_defcb : NULL;

    struct query q;
    query_parse(qmark + 1, (size_t)(qend - qmark - 1), &q);
    const char *e = NULL;
    char *v = NULL;
    size_t vlen;

    if (!query_find(&q, cb_name) && !(defcb && body_name && query_find(&q, body_name))) {
        query_free(&q);
        return 0;
    }

    if ((v = query_take(&q, cb_name, &vlen))) {
        if (!all_chars(v, vlen, is_callback_char)) {
            e = ERR_CALLBACK;
            goto fail;
        }
        out->callback = v;
        v = NULL;
    } else {
        out->callback = tt_strdup(defcb);
    }

    if ((v = query_take(&q, "_method", &vlen))) {
        if (vlen >= sizeof(out->method) || !all_chars(v, vlen, is_tchar)) {
            e = ERR_METHOD;
            goto fail;
        }
        memcpy(out->method, v, vlen + 1);
        free(v);
        v = NULL;
    } else {
        const char *m = route->jsonp_defmethod   ? route->jsonp_defmethod
                        : route->jsonp_mode == 1 ? "POST"
                                                 : "GET";
        snprintf(out->method, sizeof(out->method), "%s", m);
    }

    if ((v = query_take(&q, "_headers", &vlen))) {
        if (parse_headers(v, vlen, out) != 0) {
            e = ERR_HEADERS;
            goto fail;
        }
        free(v);
        v = NULL;
    }

    /* Pushpin reads an empty value as "no body" and refuses it; so do we. */
    if (body_name) {
        if ((v = query_take(&q, body_name, &vlen))) {
            if (vlen == 0) {
                e = ERR_BODY;
                goto fail;
            }
            drop_header(out, "Content-Type");
            out->body_is_json = true;
        }
    } else if ((v = query_take(&q, "_body", &vlen))) {
        if (vlen == 0) {
            e = ERR_UBODY;
            goto fail;
        }
    }
    if (v) {
        out->has_body = true;
        out->body = v;
        out->body_len = vlen;
        v = NULL;
    }

    out->target = build_target(target, (size_t)(qmark - target), &q);
    out->basic = route->jsonp_mode == 1;
    out->active = true;
    query_free(&q);
    return 0;

fail:
    free(v);
    query_free(&q);
    tt_jsonp_deinit(out);
    if (err)
        *err = e;
    return TT_EPARSE;
}

/* ---- response wrapping ---- */

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates, at most
 * U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* The inside of a JSON string (no quotes), as Qt writes it; see the top comment. */
static void json_chars(struct tt_buf *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    if (len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
        i = 3;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n) {
                tt_buf_append(b, s + i, n);
                i += n;
            } else {
                tt_buf_append(b, "\xef\xbf\xbd", 3);
                i++;
            }
            continue;
        }
        size_t run = i;
        while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            tt_buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        switch (c) {
        case '"':
            tt_buf_appends(b, "\\\"");
            break;
        case '\\':
            tt_buf_appends(b, "\\\\");
            break;
        case '\b':
            tt_buf_appends(b, "\\b");
            break;
        case '\f':
            tt_buf_appends(b, "\\f");
            break;
        case '\n':
            tt_buf_appends(b, "\\n");
            break;
        case '\r':
            tt_buf_appends(b, "\\r");
            break;
        case '\t':
            tt_buf_appends(b, "\\t");
            break;
        default:
            tt_buf_appendf(b, "\\u%04x", c);
            break;
        }
        i++;
    }
}

static void json_str(struct tt_buf *b, const char *s, size_t len)
{
    tt_buf_append(b, "\"", 1);
    json_chars(b, s, len);
    tt_buf_append(b, "\"", 1);
}

static int cmp_kvp_name(const void *a, const void *b)
{
    const struct tt_kv *x = *(const struct tt_kv *const *)a;
    const struct tt_kv *y = *(const struct tt_kv *const *)b;
    return strcmp(x->name, y->name);
}

/* Proxy style: first value of each exact name, names sorted. */
static void headers_first(struct tt_buf *b, const struct tt_resp *in)
{
    const struct tt_kv **pick = tt_calloc(in->num_headers + 1, sizeof(*pick));
    size_t n = 0;
    for (size_t i = 0; i < in->num_headers; i++) {
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(pick[k]->name, in->headers[i].name) == 0;
        if (!seen)
            pick[n++] = &in->headers[i];
    }
    qsort(pick, n, sizeof(*pick), cmp_kvp_name);
    tt_buf_append(b, "{", 1);
    for (size_t k = 0; k < n; k++) {
        if (k)
            tt_buf_append(b, ",", 1);
        json_str(b, pick[k]->name, strlen(pick[k]->name));
        tt_buf_append(b, ":", 1);
        json_str(b, pick[k]->value, strlen(pick[k]->value));
    }
    tt_buf_append(b, "}", 1);
    free(pick);
}

/* Handler style: names compared case-insensitively, the first spelling kept, all values
 * joined with ", "; Content-Length left out; names sorted. */
static void headers_merged(struct tt_buf *b, const struct tt_resp *in)
{
    const struct tt_kv **pick = tt_calloc(in->num_headers + 1, sizeof(*pick));
    size_t n = 0;
    for (size_t i = 0; i < in->num_headers; i++) {
        const char *name = in->headers[i].name;
        if (strcasecmp(name, "Content-Length") == 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcasecmp(pick[k]->name, name) == 0;
        if (!seen)
            pick[n++] = &in->headers[i];
    }
    qsort(pick, n, sizeof(*pick), cmp_kvp_name);
    tt_buf_append(b, "{", 1);
    for (size_t k = 0; k < n; k++) {
        if (k)
            tt_buf_append(b, ",", 1);
        json_str(b, pick[k]->name, strlen(pick[k]->name));
        tt_buf_append(b, ":\"", 2);
        bool first = true;
        for (size_t i = 0; i < in->num_headers; i++) {
            if (strcasecmp(in->headers[i].name, pick[k]->name) != 0)
                continue;
            if (!first)
                tt_buf_append(b, ", ", 2);
            json_chars(b, in->headers[i].value, strlen(in->headers[i].value));
            first = false;
        }
        tt_buf_append(b, "\"", 1);
    }
    tt_buf_append(b, "}", 1);
    free(pick);
}

int tt_jsonp_wrap(const struct tt_jsonp *j, const struct tt_resp *in, bool handler_style,
                  struct tt_resp *out)
{
    tt_resp_init(out, 200);
    struct tt_buf *b = &out->body;
    const char *reason = in->reason ? in->reason : tt_h1_reason(in->status);

    tt_buf_appends(b, "/**/");
    tt_buf_appends(b, j->callback ? j->callback : "");
    tt_buf_append(b, "(", 1);
    if (j->basic) {
        size_t len = in->body.len;
        if (len >= 2 && in->body.data[len - 2] == '\r' && in->body.data[len - 1] == '\n')
            len -= 2;
        else if (len >= 1 && in->body.data[len - 1] == '\n')
            len -= 1;
        tt_buf_append(b, in->body.data, len);
    } else if (handler_style) {
        tt_buf_appends(b, "{\"body\":");
        json_str(b, in->body.data, in->body.len);
        tt_buf_appendf(b, ",\"code\":%d,\"headers\":", in->status);
        headers_merged(b, in);
        tt_buf_appends(b, ",\"reason\":");
        json_str(b, reason, strlen(reason));
        tt_buf_append(b, "}", 1);
    } else {
        tt_buf_appendf(b, "{\"code\": %d, \"reason\": ", in->status);
        json_str(b, reason, strlen(reason));
        tt_buf_appends(b, ", \"headers\": ");
        headers_first(b, in);
        tt_buf_appends(b, ", \"body\": ");
        json_str(b, in->body.data, in->body.len);
        tt_buf_append(b, "}", 1);
    }
    tt_buf_appends(b, ");\n");

    if (handler_style) {
        /* The handler keeps the held response's headers on the wrapper. */
        for (size_t i = 0; i < in->num_headers; i++) {
            const char *name = in->headers[i].name;
            if (strcasecmp(name, "Content-Type") != 0 && strcasecmp(name, "Content-Length") != 0)
                tt_resp_add_header(out, name, in->headers[i].value);
        }
        tt_resp_add_header(out, "Content-Type", "application/javascript");
    } else {
        tt_resp_add_header(out, "Content-Type", "application/javascript");
        for (size_t i = 0; i < in->num_headers; i++)
            if (strcasecmp(in->headers[i].name, "Cache-Control") == 0)
                tt_resp_add_header(out, in->headers[i].name, in->headers[i].value);
    }
    return 0;
}

void tt_jsonp_deinit(struct tt_jsonp *j)
{
    free(j->callback);
    free(j->target);
    for (size_t i = 0; i < j->num_headers; i++) {
        free(j->headers[i].name);
        free(j->headers[i].value);
    }
    free(j->headers);
    free(j->body);
    memset(j, 0, sizeof(*j));
}

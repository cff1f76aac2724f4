/* tnetstring.c: tnetstring parser and serializer (see tnetstring.h).
 *
 * The parser is a recursive descent bounded by max_depth. Each element is checked
 * against the end of whatever encloses it (the input or the container), so a length that
 * points past its container is an error rather than a read of the neighbour's bytes. */
#include "zmq/tnetstring.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A length prefix longer than this is refused before converting it (1 GiB has 10). */
#define LEN_MAX_DIGITS 10
#define SERIALIZE_MAX_DEPTH 64

const struct tt_tnet_limits tt_tnet_default_limits = {
    .max_size = (size_t)16 << 20,
    .max_depth = 64,
    .max_elements = 100000,
};

const char *tt_tnet_strerror(enum tt_tnet_err code)
{
    switch (code) {
    case TT_TNET_OK:
        return "ok";
    case TT_TNET_TRUNCATED:
        return "truncated input";
    case TT_TNET_BAD_LENGTH:
        return "bad length prefix";
    case TT_TNET_TOO_BIG:
        return "length above the size limit";
    case TT_TNET_BAD_TAG:
        return "unknown type tag";
    case TT_TNET_OVERRUN:
        return "element runs past its container";
    case TT_TNET_BAD_INT:
        return "bad integer";
    case TT_TNET_BAD_FLOAT:
        return "bad float";
    case TT_TNET_BAD_BOOL:
        return "bad bool";
    case TT_TNET_BAD_NULL:
        return "null with a payload";
    case TT_TNET_BAD_KEY:
        return "dict key is not a string";
    case TT_TNET_MISSING_VALUE:
        return "dict key without a value";
    case TT_TNET_TOO_DEEP:
        return "nesting too deep";
    case TT_TNET_TOO_MANY:
        return "too many elements";
    }
    return "unknown error";
}

struct parser {
    const char *buf;
    struct tt_tnet_limits lim;
    size_t elements;
    struct tt_tnet_error err;
};

static int fail(struct parser *p, enum tt_tnet_err code, size_t offset)
{
    p->err.code = code;
    p->err.offset = offset;
    switch (code) {
    case TT_TNET_TRUNCATED:
        return TT_EAGAIN;
    case TT_TNET_TOO_BIG:
    case TT_TNET_TOO_DEEP:
    case TT_TNET_TOO_MANY:
        return TT_ETOOBIG;
    default:
        return TT_EPARSE;
    }
}

static int parse_int(const char *s, size_t n, json_int_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (json_int_t)v;
    }
    return 0;
}

/* Decimal floats only: digits, sign, '.', exponent. No hex, inf or nan (JSON cannot
 * hold them, and no Pushpin component writes them). */
static int parse_float(const char *s, size_t n, double *out)
{
    char tmp[128];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E')
            return -1;
    }
    if (!digit)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int parse_element(struct parser *p, size_t at, size_t end, int depth, json_t **out);

/* Dict or list payload [start, stop). */
static int parse_container(struct parser *p, bool dict, size_t start, size_t stop, int depth,
                           json_t **out)
{
    if (depth > p->lim.max_depth)
        return fail(p, TT_TNET_TOO_DEEP, start);
    json_t *c = dict ? json_object() : json_array();
    size_t at = start;
    while (at < stop) {
        json_t *v = NULL;
        size_t elem_at = at;
        int r = parse_element(p, at, stop, depth, &v);
        if (r < 0)
            goto fail;
        at += (size_t)r;
        if (!dict) {
            json_array_append_new(c, v);
            continue;
        }
        if (!json_is_string(v)) {
            json_decref(v);
            r = fail(p, TT_TNET_BAD_KEY, elem_at);
            goto fail;
        }
        if (at >= stop) {
            json_decref(v);
            r = fail(p, TT_TNET_MISSING_VALUE, at);
            goto fail;
        }
        json_t *val = NULL;
        r = parse_element(p, at, stop, depth, &val);
        if (r < 0) {
            json_decref(v);
            goto fail;
        }
        at += (size_t)r;
        json_object_setn_new_nocheck(c, json_string_value(v), json_string_length(v), val);
        json_decref(v);
        continue;
    fail:
        json_decref(c);
        return r;
    }
    *out = c;
    return 0;
}

/* One element at `at`, which must end by `end` (the input end at top level, else the
 * enclosing container's end). Returns its total size. */
static int parse_element(struct parser *p, size_t at, size_t end, int depth, json_t **out)
{
    const char *b = p->buf;
    bool top = depth == 0;
    if (++p->elements > p->lim.max_elements)
        return fail(p, TT_TNET_TOO_MANY, at);
    size_t i = at;
    size_t size = 0;
    while (i < end && b[i] >= '0' && b[i] <= '9') {
        if (i - at >= LEN_MAX_DIGITS)
            return fail(p, TT_TNET_BAD_LENGTH, at);
        size = size * 10 + (size_t)(b[i] - '0');
        i++;
    }
    if (i == end)
        return fail(p, top ? TT_TNET_TRUNCATED : TT_TNET_OVERRUN, at);
    if (b[i] != ':' || i == at)
        return fail(p, TT_TNET_BAD_LENGTH, at);
    if (size > p->lim.max_size)
        return fail(p, TT_TNET_TOO_BIG, at);
    size_t data = i + 1;
    /* data + size + 1 cannot overflow: size <= 1 GiB and data <= len. */
    if (data + size + 1 > end)
        return fail(p, top ? TT_TNET_TRUNCATED : TT_TNET_OVERRUN, at);
    const char *d = b + data;
    char tag = b[data + size];
    json_t *v = NULL;
    int r;
    switch (tag) {
    case ',':
        v = json_stringn_nocheck(d, size);
        break;
    case '#': {
        json_int_t x;
        if (parse_int(d, size, &x) < 0)
            return fail(p, TT_TNET_BAD_INT, at);
        v = json_integer(x);
        break;
    }
    case '^': {
        double x;
        if (parse_float(d, size, &x) < 0)
            return fail(p, TT_TNET_BAD_FLOAT, at);
        v = json_real(x);
        break;
    }
    case '!':
        if (size == 4 && memcmp(d, "true", 4) == 0)
            v = json_true();
        else if (size == 5 && memcmp(d, "false", 5) == 0)
            v = json_false();
        else
            return fail(p, TT_TNET_BAD_BOOL, at);
        break;
    case '~':
        if (size != 0)
            return fail(p, TT_TNET_BAD_NULL, at);
        v = json_null();
        break;
    case '}':
    case ']':
        r = parse_container(p, tag == '}', data, data + size, depth + 1, &v);
        if (r < 0)
            return r;
        break;
    default:
        return fail(p, TT_TNET_BAD_TAG, data + size);
    }
    if (!v) /* jansson failed to allocate */
        abort();
    *out = v;
    return (int)(data + size + 1 - at);
}

int tt_tnet_parse(const char *buf, size_t len, const struct tt_tnet_limits *lim, json_t **out,
                  struct tt_tnet_error *err)
{
    struct parser p = {.buf = buf, .lim = lim ? *lim : tt_tnet_default_limits};
    if (p.lim.max_size > TT_TNET_HARD_MAX_SIZE)
        p.lim.max_size = TT_TNET_HARD_MAX_SIZE;
    *out = NULL;
    int r = parse_element(&p, 0, len, 0, out);
    if (r < 0) {
        *out = NULL;
    } else {
        p.err.code = TT_TNET_OK;
        p.err.offset = 0;
    }
    if (err)
        *err = p.err;
    return r;
}

/* ---- serializer ---- */

static size_t digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Shortest %g text that reads back as the same double. */
static int format_real(double d, char *out, size_t outlen)
{
    if (!isfinite(d))
        return -1;
    for (int prec = 1; prec <= 17; prec++) {
        int n = snprintf(out, outlen, "%.*g", prec, d);
        if (n < 0 || (size_t)n >= outlen)
            return -1;
        if (strtod(out, NULL) == d)
            return n;
    }
    return -1;
}

static int64_t payload_size(json_t *v, int depth);

static int64_t element_size(json_t *v, int depth)
{
    int64_t p = payload_size(v, depth);
    if (p < 0)
        return p;
    return (int64_t)digits((size_t)p) + 2 + p;
}

static int64_t payload_size(json_t *v, int depth)
{
    char tmp[64];
    int64_t total = 0;
    int n;
    if (depth > SERIALIZE_MAX_DEPTH)
        return TT_ETOOBIG;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return (int64_t)json_string_length(v);
    case JSON_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return n;
    case JSON_REAL:
        n = format_real(json_real_value(v), tmp, sizeof(tmp));
        return n < 0 ? TT_EPARSE : n;
    case JSON_TRUE:
        return 4;
    case JSON_FALSE:
        return 5;
    case JSON_NULL:
        return 0;
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            int64_t s = element_size(e, depth + 1);
            if (s < 0)
                return s;
            total += s;
        }
        return total;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        size_t klen;
        json_object_keylen_foreach(v, k, klen, e)
        {
            int64_t s = element_size(e, depth + 1);
            if (s < 0)
                return s;
            total += (int64_t)(digits(klen) + 2 + klen) + s;
        }
        return total;
    }
    }
    return TT_EPARSE;
}

static int put_prefix(struct tt_buf *out, int64_t size)
{
    int r = tt_buf_append_uint(out, (uint64_t)size, 10);
    return r ? r : tt_buf_append(out, ":", 1);
}

static int put_string(struct tt_buf *out, const char *s, size_t n)
{
    int r = put_prefix(out, (int64_t)n);
    if (!r)
        r = tt_buf_append(out, s, n);
    return r ? r : tt_buf_append(out, ",", 1);
}

static int serialize(json_t *v, struct tt_buf *out, int depth)
{
    char tmp[64];
    int n, r;
    if (depth > SERIALIZE_MAX_DEPTH)
        return TT_ETOOBIG;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return put_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        r = put_prefix(out, n);
        if (!r)
            r = tt_buf_append(out, tmp, (size_t)n);
        return r ? r : tt_buf_append(out, "#", 1);
    case JSON_REAL:
        n = format_real(json_real_value(v), tmp, sizeof(tmp));
        if (n < 0)
            return TT_EPARSE;
        r = put_prefix(out, n);
        if (!r)
            r = tt_buf_append(out, tmp, (size_t)n);
        return r ? r : tt_buf_append(out, "^", 1);
    case JSON_TRUE:
        return tt_buf_append(out, "4:true!", 7);
    case JSON_FALSE:
        return tt_buf_append(out, "5:false!", 8);
    case JSON_NULL:
        return tt_buf_append(out, "0:~", 3);
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    }
    int64_t size = payload_size(v, depth);
    if (size < 0)
        return (int)size;
    if ((r = put_prefix(out, size)) != 0)
        return r;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if ((r = serialize(e, out, depth + 1)) != 0)
                return r;
        }
        return tt_buf_append(out, "]", 1);
    }
    const char *k;
    size_t klen;
    json_t *e;
    json_object_keylen_foreach(v, k, klen, e)
    {
        if ((r = put_string(out, k, klen)) != 0 || (r = serialize(e, out, depth + 1)) != 0)
            return r;
    }
    return tt_buf_append(out, "}", 1);
}

int tt_tnet_serialize(json_t *v, struct tt_buf *out)
{
    if (!v)
        return TT_EPARSE;
    return serialize(v, out, 0);
}

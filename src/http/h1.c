/* h1.c: sans-I/O HTTP/1.x codec (see h1.h for the contract).
 *
 * The head parsers are stateless: each call re-scans the buffer from the start, as
 * picohttpparser does. Heads are small and capped by max_head, so the rescan on a
 * partial head costs little, and it keeps the parser free of saved state. Every line is
 * validated as soon as it is complete enough to judge, so garbage is rejected at once
 * instead of waiting for max_head bytes. */
#include "http/h1.h"

#include <limits.h>

/* Character classes, one table lookup per byte. Bit 1: tchar (RFC 9110 token). Bit 2:
 * field-value byte (VCHAR, obs-text, SP, HTAB). Bit 4: request-target byte (VCHAR and
 * obs-text: no CTL, no space). */
enum { TK = 7, VC = 6, WS = 2 };

static const unsigned char char_class[256] = {
    /* 00 */ 0,  0,  0,  0,  0,  0,  0,  0,  0,  WS, 0,  0,  0,  0,  0,  0,
    /* 10 */ 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    /* 20 */ WS, TK, VC, TK, TK, TK, TK, TK, VC, VC, TK, TK, VC, TK, TK, VC,
    /* 30 */ TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, VC, VC, VC, VC, VC, VC,
    /* 40 */ VC, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK,
    /* 50 */ TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, VC, VC, VC, TK, TK,
    /* 60 */ TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK,
    /* 70 */ TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, TK, VC, TK, VC, TK, 0,
    /* 80 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* 90 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* a0 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* b0 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* c0 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* d0 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* e0 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
    /* f0 */ VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC, VC,
};

#define IS_TOKEN(c) (char_class[(unsigned char)(c)] & 1)
#define IS_VALUE(c) (char_class[(unsigned char)(c)] & 2)
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

/* Field values and targets are the long spans of a head, so they are scanned 8 bytes
 * at a time: a word passes when it has no byte below `low` (CTLs, and SP for targets) and
 * no DEL. Bytes >= 0x80 (obs-text) pass. A word that fails, or the tail, is finished with
 * the table, so the answer is exactly the table's. See "Bit Twiddling Hacks", hasless. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
#define HAS_LESS(x, n) (((x)-ONES * (n)) & ~(x)&HIGHS)

static inline bool word_plain(const char *p, uint64_t low)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return !(HAS_LESS(x, low) | HAS_LESS(x ^ (ONES * 0x7f), 1));
}

/* Returns the first byte in [p, end) without `bit` in its class, or end. `low` must be
 * what makes word_plain() agree with the table for the common bytes. */
static inline const char *scan_class(const char *p, const char *end, unsigned char bit,
                                     uint64_t low)
{
    for (;;) {
        while (end - p >= 8 && word_plain(p, low))
            p += 8;
        const char *stop = end - p > 8 ? p + 8 : end;
        while (p < stop && (char_class[(unsigned char)*p] & bit))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

/* Reasons are compared by pointer in tt_h1_parse_response, hence named constants. */
static const char R_TOO_MANY[] = "too many headers";
static const char R_TOO_BIG[] = "header size exceeded";
static const char R_LINE[] = "invalid request line";
static const char R_STATUS[] = "invalid status line";
static const char R_TOKEN[] = "invalid token";
static const char R_HEADER[] = "invalid header";
static const char R_CL[] = "invalid content length";
static const char R_TE[] = "unsupported transfer encoding";
static const char R_FRAMING[] = "invalid framing";
static const char R_HOST[] = "invalid host";
static const char R_VERSION[] = "unsupported version";

/* Content-Length is capped at 2^53 so it survives a trip through a JSON number. */
#define MAX_CONTENT_LENGTH (INT64_C(1) << 53)

static int fail(struct tt_h1_error *err, int status, const char *reason)
{
    if (err) {
        err->status = status;
        err->reason = reason;
    }
    return TT_EPARSE;
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* Case-insensitive equality against a lowercase literal of known length. */
static bool ieq(const char *s, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

#define IEQ(s, len, lit) ieq((s), (len), (lit), sizeof(lit) - 1)

/* Walks a comma-separated field value (RFC 9110 5.6.1), yielding trimmed elements,
 * empty ones included so that callers can decide whether those are an error. */
struct list_iter {
    const char *p;
    const char *end;
    bool done;
};

static bool list_next(struct list_iter *it, const char **elem, size_t *elem_len)
{
    if (it->done)
        return false;
    const char *comma = memchr(it->p, ',', (size_t)(it->end - it->p));
    const char *stop = comma ? comma : it->end;
    *elem = it->p;
    *elem_len = (size_t)(stop - it->p);
    tt_trim(elem, elem_len);
    if (comma)
        it->p = comma + 1;
    else
        it->done = true;
    return true;
}

/* What the header loop learns while it goes; req is NULL for a response. */
struct head_state {
    struct tt_h1_framing *framing;
    struct tt_h1_request *req;
    bool keep_alive_token;
    /* A bare LF ends a line (request heads only, RFC 9112 2.2). Responses from backends
     * stay strict: they are not re-read by anyone after us, so nothing is gained. */
    bool lf_ok;
};

static int apply_content_length(struct head_state *st, const char *v, size_t len,
                                struct tt_h1_error *err)
{
    /* A list such as "5, 5" comes from a proxy that merged duplicates; it is only
     * unambiguous when every member is the same (RFC 9110 8.6). */
    struct list_iter it = {v, v + len, false};
    const char *e;
    size_t n;
    while (list_next(&it, &e, &n)) {
        int64_t cl = tt_parse_uint(e, n, MAX_CONTENT_LENGTH);
        if (cl < 0)
            return fail(err, 400, R_CL);
        if (st->framing->content_length >= 0 && st->framing->content_length != cl)
            return fail(err, 400, R_CL);
        st->framing->content_length = cl;
    }
    return 0;
}

static void apply_connection(struct head_state *st, const char *v, size_t len)
{
    struct list_iter it = {v, v + len, false};
    const char *e;
    size_t n;
    while (list_next(&it, &e, &n)) {
        if (IEQ(e, n, "close"))
            st->framing->conn_close = true;
        else if (IEQ(e, n, "keep-alive"))
            st->keep_alive_token = true;
        else if (IEQ(e, n, "upgrade"))
            st->framing->upgrade = true;
    }
}

static void apply_upgrade(struct head_state *st, const char *v, size_t len)
{
    struct list_iter it = {v, v + len, false};
    const char *e;
    size_t n;
    while (list_next(&it, &e, &n)) {
        /* protocol-name ["/" protocol-version] */
        const char *slash = memchr(e, '/', n);
        if (slash)
            n = (size_t)(slash - e);
        if (IEQ(e, n, "websocket"))
            st->req->websocket = true;
    }
}

/* Applies the meaning of one header. Names are dispatched on length first so that the
 * common case (a header we do not care about) costs one switch. */
static int apply_header(struct head_state *st, const struct tt_h1_header *h,
                        struct tt_h1_error *err)
{
    const char *v = h->value;
    size_t vlen = h->value_len;
    switch (h->name_len) {
    case 4:
        if (st->req && IEQ(h->name, 4, "host")) {
            /* Two Host headers make the authority ambiguous (RFC 9112 3.2). */
            if (st->req->host || !tt_h1_valid_host(v, vlen))
                return fail(err, 400, R_HOST);
            st->req->host = v;
            st->req->host_len = vlen;
        }
        break;
    case 6:
        if (st->req && IEQ(h->name, 6, "expect") && IEQ(v, vlen, "100-continue"))
            st->req->expect_continue = true;
        break;
    case 7:
        if (st->req && IEQ(h->name, 7, "upgrade"))
            apply_upgrade(st, v, vlen);
        break;
    case 10:
        if (IEQ(h->name, 10, "connection"))
            apply_connection(st, v, vlen);
        break;
    case 14:
        if (IEQ(h->name, 14, "content-length"))
            return apply_content_length(st, v, vlen, err);
        break;
    case 17:
        if (IEQ(h->name, 17, "transfer-encoding")) {
            /* Only a single "chunked" is accepted: a second TE header would mean
             * "chunked, chunked", and any other coding we cannot frame. */
            if (st->framing->chunked || !IEQ(v, vlen, "chunked"))
                return fail(err, 501, R_TE);
            st->framing->chunked = true;
        }
        break;
    default:
        break;
    }
    return 0;
}

/* The line terminator at p (which must be < end): its length (2 for CRLF, 1 for a bare
 * LF when lf_ok), 0 when more bytes are needed, (size_t)-1 when p is not a terminator.
 * A bare CR is never one: some parsers take it as a line end and others do not, which is
 * exactly the disagreement request smuggling feeds on. */
static size_t line_end(const char *p, const char *end, bool lf_ok)
{
    if (*p == '\n')
        return lf_ok ? 1 : (size_t)-1;
    if (*p != '\r')
        return (size_t)-1;
    if (end - p < 2)
        return 0;
    return p[1] == '\n' ? 2 : (size_t)-1;
}

/* Parses header lines from *pp up to and including the empty line. Returns 0 with *pp
 * past the final CRLF, TT_EAGAIN when `end` comes first, or TT_EPARSE. */
static int parse_headers(const char **pp, const char *end, struct tt_h1_header *hs, size_t *num,
                         struct head_state *st, struct tt_h1_error *err)
{
    const char *p = *pp;
    size_t n = 0;
    int rc;
    for (;;) {
        *num = n;
        if (p == end)
            return TT_EAGAIN;
        if (*p == '\n' && st->lf_ok) {
            *pp = p + 1;
            return 0;
        }
        if (*p == '\r') {
            if (end - p < 2)
                return TT_EAGAIN;
            if (p[1] != '\n')
                return fail(err, 400, R_HEADER);
            *pp = p + 2;
            return 0;
        }
        if (n == TT_H1_MAX_HEADERS)
            return fail(err, 400, R_TOO_MANY);

        const char *name = p;
        while (p < end && IS_TOKEN(*p))
            p++;
        if (p == end)
            return TT_EAGAIN;
        if (*p != ':' || p == name) {
            /* Whitespace before the colon, obs-fold (a line starting with SP/HTAB), a
             * bare CR/LF or an empty name are structural; anything else is a bad byte
             * in the name. */
            bool structural = p == name || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
            return fail(err, 400, structural ? R_HEADER : R_TOKEN);
        }
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        p = scan_class(p, end, 2, 0x20);
        if (p == end)
            return TT_EAGAIN;
        const char *vend = p;
        size_t eol = line_end(p, end, st->lf_ok);
        if (eol == 0)
            return TT_EAGAIN;
        if (eol == (size_t)-1)
            return fail(err, 400, R_HEADER);
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        p += eol;

        struct tt_h1_header *h = &hs[n];
        h->name = name;
        h->name_len = name_len;
        h->value = value;
        h->value_len = (size_t)(vend - value);
        if ((rc = apply_header(st, h, err)) < 0)
            return rc;
        n++;
    }
}

/* Skips the empty lines RFC 9112 2.2 lets a recipient ignore before a start line. */
static int skip_empty_lines(const char **pp, const char *end, bool lf_ok, struct tt_h1_error *err,
                            const char *reason)
{
    const char *p = *pp;
    while (p < end && (*p == '\r' || *p == '\n')) {
        size_t eol = line_end(p, end, lf_ok);
        if (eol == 0)
            return TT_EAGAIN;
        if (eol == (size_t)-1)
            return fail(err, 400, reason);
        p += eol;
    }
    *pp = p;
    return 0;
}

/* Parses "HTTP/d.d" at *pp (at least 8 bytes available); sets *minor to 0 or 1. A
 * well-formed version other than 1.0/1.1 is 505; the caller checks it only once the line
 * is otherwise valid so that garbage stays a 400. */
static int parse_version(const char *p, int *major, int *minor)
{
    if (memcmp(p, "HTTP/", 5) != 0 || !IS_DIGIT(p[5]) || p[6] != '.' || !IS_DIGIT(p[7]))
        return -1;
    *major = p[5] - '0';
    *minor = p[7] - '0';
    return 0;
}

/* With fewer than 8 bytes of version available, rejects early what can never become
 * "HTTP/d.d". */
static bool version_prefix_ok(const char *p, size_t n)
{
    static const char pat[] = "HTTP/0.0";
    for (size_t i = 0; i < n; i++) {
        if (pat[i] == '0' ? !IS_DIGIT(p[i]) : p[i] != pat[i])
            return false;
    }
    return true;
}

static void finish_keep_alive(struct head_state *st, int minor)
{
    struct tt_h1_framing *f = st->framing;
    if (f->conn_close)
        f->keep_alive = false;
    else
        f->keep_alive = minor >= 1 || st->keep_alive_token;
}

/* Framing checks that need the whole head (RFC 9112 6.1, 6.3). */
static int finish_framing(struct head_state *st, int minor, struct tt_h1_error *err)
{
    struct tt_h1_framing *f = st->framing;
    if (f->chunked && f->content_length >= 0)
        return fail(err, 400, R_FRAMING);
    /* An HTTP/1.0 message with Transfer-Encoding must be treated as badly framed. */
    if (f->chunked && minor == 0)
        return fail(err, 400, R_TE);
    finish_keep_alive(st, minor);
    return 0;
}

static void framing_init(struct tt_h1_framing *f)
{
    f->content_length = -1;
    f->chunked = false;
    f->keep_alive = false;
    f->conn_close = false;
    f->upgrade = false;
}

static int parse_request_head(const char *buf, const char *end, struct tt_h1_request *req,
                              struct tt_h1_error *err)
{
    const char *p = buf;
    int rc = skip_empty_lines(&p, end, true, err, R_LINE);
    if (rc < 0)
        return rc;

    const char *method = p;
    while (p < end && IS_TOKEN(*p))
        p++;
    if (p == end)
        return TT_EAGAIN;
    if (*p != ' ')
        return fail(err, 400,
                    p == method || *p == '\t' || *p == '\r' || *p == '\n' ? R_LINE : R_TOKEN);
    if (p == method)
        return fail(err, 400, R_LINE);
    req->method = method;
    req->method_len = (size_t)(p - method);
    p++;

    const char *target = p;
    p = scan_class(p, end, 4, 0x21);
    if (p == end)
        return TT_EAGAIN;
    if (*p != ' ' || p == target)
        return fail(err, 400, R_LINE);
    req->target = target;
    req->target_len = (size_t)(p - target);
    p++;

    if (end - p < 8)
        return version_prefix_ok(p, (size_t)(end - p)) ? TT_EAGAIN : fail(err, 400, R_LINE);
    int major, minor;
    if (parse_version(p, &major, &minor) < 0)
        return fail(err, 400, R_LINE);
    p += 8;
    if (p == end)
        return TT_EAGAIN;
    size_t eol = line_end(p, end, true);
    if (eol == 0)
        return TT_EAGAIN;
    if (eol == (size_t)-1)
        return fail(err, 400, R_LINE);
    p += eol;
    if (major != 1 || minor > 1)
        return fail(err, 505, R_VERSION);
    req->minor_version = minor;

    struct head_state st = {&req->framing, req, false, true};
    if ((rc = parse_headers(&p, end, req->headers, &req->num_headers, &st, err)) < 0)
        return rc;
    if ((rc = finish_framing(&st, minor, err)) < 0)
        return rc;
    return (int)(p - buf);
}

int tt_h1_parse_request(const char *buf, size_t len, size_t max_head, struct tt_h1_request *req,
                        struct tt_h1_error *err)
{
    req->method = NULL;
    req->method_len = 0;
    req->target = NULL;
    req->target_len = 0;
    req->minor_version = 0;
    req->num_headers = 0;
    framing_init(&req->framing);
    req->expect_continue = false;
    req->websocket = false;
    req->host = NULL;
    req->host_len = 0;

    /* The return type is int, so no head may be longer than INT_MAX. */
    size_t cap = max_head < (size_t)INT_MAX ? max_head : (size_t)INT_MAX;
    size_t limit = len < cap ? len : cap;
    int rc = limit ? parse_request_head(buf, buf + limit, req, err) : TT_EAGAIN;
    if (rc == TT_EAGAIN && len >= cap) {
        /* A head that fits would have been complete within the first cap bytes. */
        fail(err, 400, R_TOO_BIG);
        return TT_ETOOBIG;
    }
    return rc;
}

static int parse_response_head(const char *buf, const char *end, struct tt_h1_response *resp,
                               struct tt_h1_error *err)
{
    const char *p = buf;
    int rc = skip_empty_lines(&p, end, false, err, R_STATUS);
    if (rc < 0)
        return rc;

    if (end - p < 8)
        return version_prefix_ok(p, (size_t)(end - p)) ? TT_EAGAIN : fail(err, 400, R_STATUS);
    int major, minor;
    if (parse_version(p, &major, &minor) < 0)
        return fail(err, 400, R_STATUS);
    if (major != 1 || minor > 1)
        return fail(err, 505, R_VERSION);
    resp->minor_version = minor;
    p += 8;

    /* SP 3DIGIT (100..999), each byte checked as it arrives. */
    if (p == end)
        return TT_EAGAIN;
    if (*p++ != ' ')
        return fail(err, 400, R_STATUS);
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return TT_EAGAIN;
        if (!IS_DIGIT(*p) || (i == 0 && *p == '0'))
            return fail(err, 400, R_STATUS);
        status = status * 10 + (*p - '0');
    }
    resp->status = status;

    /* [SP reason] CRLF; a missing reason (even without its SP) is tolerated. */
    if (p == end)
        return TT_EAGAIN;
    const char *reason = p;
    if (*p == ' ') {
        p++;
        reason = p;
        while (p < end && IS_VALUE(*p))
            p++;
        if (p == end)
            return TT_EAGAIN;
    }
    if (*p != '\r')
        return fail(err, 400, R_STATUS);
    if (end - p < 2)
        return TT_EAGAIN;
    if (p[1] != '\n')
        return fail(err, 400, R_STATUS);
    resp->reason = reason;
    resp->reason_len = (size_t)(p - reason);
    p += 2;

    struct head_state st = {&resp->framing, NULL, false, false};
    if ((rc = parse_headers(&p, end, resp->headers, &resp->num_headers, &st, err)) < 0)
        return rc;
    if ((rc = finish_framing(&st, minor, err)) < 0)
        return rc;
    return (int)(p - buf);
}

int tt_h1_parse_response(const char *buf, size_t len, size_t max_head, struct tt_h1_response *resp,
                         struct tt_h1_error *err)
{
    resp->minor_version = 0;
    resp->status = 0;
    resp->reason = NULL;
    resp->reason_len = 0;
    resp->num_headers = 0;
    framing_init(&resp->framing);

    size_t cap = max_head < (size_t)INT_MAX ? max_head : (size_t)INT_MAX;
    size_t limit = len < cap ? len : cap;
    int rc = limit ? parse_response_head(buf, buf + limit, resp, err) : TT_EAGAIN;
    if (rc == TT_EAGAIN && len >= cap)
        rc = TT_ETOOBIG;
    if (rc == TT_EPARSE || rc == TT_ETOOBIG) {
        /* A bad backend response is answered to the client with 502, except too many
         * headers, for which Pushpin answers 500 (SPEC.md section 9). */
        if (rc == TT_ETOOBIG)
            fail(err, 502, R_TOO_BIG);
        else if (err)
            err->status = err->reason == R_TOO_MANY ? 500 : 502;
    }
    return rc;
}

int tt_h1_find_header(const struct tt_h1_header *hs, size_t n, const char *name, size_t from)
{
    size_t len = strlen(name);
    for (size_t i = from; i < n; i++) {
        if (hs[i].name_len != len)
            continue;
        size_t k = 0;
        while (k < len && lower((unsigned char)hs[i].name[k]) == lower((unsigned char)name[k]))
            k++;
        if (k == len)
            return (int)i;
    }
    return -1;
}

/* Chunked decoder states (RFC 9112 7.1). */
enum {
    CS_SIZE_FIRST, /* expecting the first hex digit of a chunk size */
    CS_SIZE,       /* more hex digits, or what ends the size */
    CS_SIZE_WS,    /* BWS after the size: only ";" may follow */
    CS_EXT,        /* chunk extension, skipped */
    CS_SIZE_LF,    /* CR of the size line seen */
    CS_DATA,       /* chunk data, `remaining` bytes left */
    CS_DATA_CR,    /* CRLF after the data */
    CS_DATA_LF,
    CS_TRAILER_START, /* start of a trailer line, or the final CRLF */
    CS_TRAILER_NAME,  /* the field name of a trailer line, up to its colon */
    CS_TRAILER,       /* inside a trailer line's value */
    CS_TRAILER_LF,    /* CR of a trailer line seen */
    CS_FINAL_LF,      /* CR of the last empty line seen */
};

#define CHUNK_MAX_LINE 4096
#define CHUNK_MAX_SIZE (UINT64_C(1) << 62)
/* The trailer section as a whole is capped too, or a peer could stream trailer lines
 * forever without a single data byte. `remaining` counts it (no chunk is open then). */
#define CHUNK_MAX_TRAILERS 65536

void tt_h1_chunked_init(struct tt_h1_chunked *c)
{
    c->state = CS_SIZE_FIRST;
    c->remaining = 0;
    c->line_len = 0;
    c->done = false;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = lower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Counts one byte of a size or trailer line (the CRLF is not counted). */
static int line_byte(struct tt_h1_chunked *c)
{
    return ++c->line_len > CHUNK_MAX_LINE ? TT_EPARSE : 0;
}

/* Consumes one framing byte; returns 0 or TT_EPARSE. */
static int chunked_byte(struct tt_h1_chunked *c, unsigned char ch)
{
    int d;
    switch (c->state) {
    case CS_SIZE_FIRST:
    case CS_SIZE:
        if ((d = hex_value(ch)) >= 0) {
            if (line_byte(c) < 0 || c->remaining > (CHUNK_MAX_SIZE >> 4))
                return TT_EPARSE;
            c->remaining = c->remaining * 16 + (uint64_t)d;
            if (c->remaining > CHUNK_MAX_SIZE)
                return TT_EPARSE;
            c->state = CS_SIZE;
            return 0;
        }
        if (c->state == CS_SIZE_FIRST)
            return TT_EPARSE;
        if (ch == '\r') {
            c->state = CS_SIZE_LF;
            return 0;
        }
        if (line_byte(c) < 0)
            return TT_EPARSE;
        if (ch == ';')
            c->state = CS_EXT;
        else if (ch == ' ' || ch == '\t')
            c->state = CS_SIZE_WS;
        else
            return TT_EPARSE;
        return 0;
    case CS_SIZE_WS:
        /* BWS is only allowed before an extension (RFC 9112 7.1.1). */
        if (line_byte(c) < 0)
            return TT_EPARSE;
        if (ch == ';')
            c->state = CS_EXT;
        else if (ch != ' ' && ch != '\t')
            return TT_EPARSE;
        return 0;
    case CS_EXT:
        if (ch == '\r') {
            c->state = CS_SIZE_LF;
            return 0;
        }
        if (line_byte(c) < 0 || !IS_VALUE(ch))
            return TT_EPARSE;
        return 0;
    case CS_SIZE_LF:
        if (ch != '\n')
            return TT_EPARSE;
        c->line_len = 0;
        c->state = c->remaining ? CS_DATA : CS_TRAILER_START;
        return 0;
    case CS_DATA_CR:
        if (ch != '\r')
            return TT_EPARSE;
        c->state = CS_DATA_LF;
        return 0;
    case CS_DATA_LF:
        if (ch != '\n')
            return TT_EPARSE;
        c->state = CS_SIZE_FIRST;
        c->line_len = 0;
        return 0;
    case CS_TRAILER_START:
        if (++c->remaining > CHUNK_MAX_TRAILERS)
            return TT_EPARSE;
        if (ch == '\r') {
            c->state = CS_FINAL_LF;
            return 0;
        }
        /* A trailer field starts with its name: this also rejects obs-fold. */
        if (!IS_TOKEN(ch))
            return TT_EPARSE;
        c->line_len = 1;
        c->state = CS_TRAILER_NAME;
        return 0;
    case CS_TRAILER_NAME:
        /* field-name ":" like a header: a line that is not a field (a request line, say)
         * is not skipped as if it were one. */
        if (++c->remaining > CHUNK_MAX_TRAILERS || line_byte(c) < 0)
            return TT_EPARSE;
        if (ch == ':')
            c->state = CS_TRAILER;
        else if (!IS_TOKEN(ch))
            return TT_EPARSE;
        return 0;
    case CS_TRAILER:
        if (++c->remaining > CHUNK_MAX_TRAILERS)
            return TT_EPARSE;
        if (ch == '\r') {
            c->state = CS_TRAILER_LF;
            return 0;
        }
        if (line_byte(c) < 0 || !IS_VALUE(ch))
            return TT_EPARSE;
        return 0;
    case CS_TRAILER_LF:
        if (ch != '\n' || ++c->remaining > CHUNK_MAX_TRAILERS)
            return TT_EPARSE;
        c->line_len = 0;
        c->state = CS_TRAILER_START;
        return 0;
    case CS_FINAL_LF:
        if (ch != '\n')
            return TT_EPARSE;
        c->done = true;
        c->remaining = 0;
        c->line_len = 0;
        return 0;
    default:
        return TT_EPARSE;
    }
}

ssize_t tt_h1_chunked_step(struct tt_h1_chunked *c, const char *in, size_t len, const char **data,
                           size_t *data_len)
{
    *data = NULL;
    *data_len = 0;
    if (c->done)
        return 0;
    if (len > (size_t)SSIZE_MAX)
        len = (size_t)SSIZE_MAX;
    size_t i = 0;
    while (i < len) {
        if (c->state == CS_DATA) {
            size_t n = len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            *data = in + i;
            *data_len = n;
            c->remaining -= n;
            i += n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            return (ssize_t)i;
        }
        if (chunked_byte(c, (unsigned char)in[i]) < 0)
            return TT_EPARSE;
        i++;
        if (c->done)
            break;
    }
    return (ssize_t)i;
}

/* One line per code reads better than clang-format's layout here. */
/* clang-format off */
const char *tt_h1_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 511: return "Network Authentication Required";
    default: return "Undefined Reason";
    }
}
/* clang-format on */

bool tt_h1_is_hop_by_hop(const char *name, size_t len)
{
    switch (len) {
    case 2:
        return IEQ(name, len, "te");
    case 7:
        return IEQ(name, len, "trailer") || IEQ(name, len, "upgrade");
    case 10:
        return IEQ(name, len, "connection") || IEQ(name, len, "keep-alive");
    case 16:
        return IEQ(name, len, "proxy-connection");
    case 17:
        return IEQ(name, len, "transfer-encoding");
    case 18:
        return IEQ(name, len, "proxy-authenticate");
    case 19:
        return IEQ(name, len, "proxy-authorization");
    default:
        return false;
    }
}

bool tt_h1_named_in_connection(const struct tt_h1_header *hs, size_t n, const char *name,
                               size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (!IEQ(hs[i].name, hs[i].name_len, "connection"))
            continue;
        struct list_iter it = {hs[i].value, hs[i].value + hs[i].value_len, false};
        const char *e;
        size_t el;
        while (list_next(&it, &e, &el)) {
            if (el != len)
                continue;
            size_t k = 0;
            while (k < len && lower((unsigned char)e[k]) == lower((unsigned char)name[k]))
                k++;
            if (k == len)
                return true;
        }
    }
    return false;
}

bool tt_h1_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!IS_TOKEN(s[i]))
            return false;
    return true;
}

bool tt_h1_is_field_value(const char *s, size_t len)
{
    return scan_class(s, s + len, 2, 0x20) == s + len;
}

static bool is_hex(char c)
{
    return IS_DIGIT(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 reg-name byte: unreserved or sub-delims ('%' is checked by the caller). */
static bool reg_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IS_DIGIT(c) ||
           (c && strchr("-._~!$&'()*+,;=", c) != NULL);
}

bool tt_h1_valid_host(const char *s, size_t len)
{
    size_t i = 0;
    if (len && s[0] == '[') {
        /* IPv6address or IPvFuture: hex digits, ':' and '.' (IPv4 tail), or "v" HEX "."
         * followed by unreserved / sub-delims / ':'. A zone id is not allowed in a URI
         * authority (RFC 6874 is not part of HTTP). */
        const char *end = memchr(s, ']', len);
        if (!end || end == s + 1)
            return false;
        bool future = s[1] == 'v' || s[1] == 'V';
        for (const char *p = s + 1; p < end; p++) {
            if (future ? !(reg_name_char(*p) || *p == ':') : !(is_hex(*p) || *p == ':' || *p == '.'))
                return false;
        }
        if (!future && !memchr(s + 1, ':', (size_t)(end - s - 1)))
            return false;
        i = (size_t)(end - s) + 1;
    } else {
        while (i < len && s[i] != ':') {
            if (s[i] == '%') {
                if (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                    return false;
                i += 3;
                continue;
            }
            if (!reg_name_char(s[i]))
                return false;
            i++;
        }
    }
    if (i == len)
        return true;
    if (s[i] != ':' || len - i - 1 > 5)
        return false;
    for (i++; i < len; i++)
        if (!IS_DIGIT(s[i]))
            return false;
    return true;
}

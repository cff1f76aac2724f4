/* h1.h: sans-I/O HTTP/1.x codec: request heads, response heads, chunked bodies.
 *
 * No I/O and no allocation: the parsers point into the caller's buffer, which must stay
 * unchanged while the parsed struct is used. Strict per RFC 9112 (see QUALITY.md):
 * a bare CR anywhere in the head, obs-fold, whitespace before the colon, invalid token
 * characters, CL together with TE, differing duplicate Content-Length, Transfer-Encoding
 * other than exactly "chunked", bad chunk sizes are errors. A bare LF ends a line of a
 * request head (RFC 9112 2.2 lets a recipient accept it; Pushpin and nginx do, and the
 * proxy writes every head it forwards anew with CRLF); in a response head, chunk-size and
 * trailer lines it is an error. Thread: any. */
#ifndef TT_HTTP_H1_H
#define TT_HTTP_H1_H

#include <stddef.h>

#include "core/common.h"

#define TT_H1_MAX_HEADERS 64

struct tt_h1_header {
    const char *name;
    size_t name_len;
    const char *value; /* trimmed of surrounding space/tab */
    size_t value_len;
};

/* Framing and connection facts derived from the headers, common to both directions. */
struct tt_h1_framing {
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* persistent per version + Connection header */
    bool conn_close;        /* Connection: close present */
    bool upgrade;           /* Connection: upgrade present */
};

struct tt_h1_request {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent */
    size_t target_len;
    int minor_version; /* HTTP/1.<minor>: 0 or 1 */
    size_t num_headers;
    struct tt_h1_framing framing;
    bool expect_continue;    /* Expect: 100-continue */
    bool websocket;          /* Upgrade: websocket present (validation is the caller's) */
    const char *host;        /* Host header value or NULL */
    size_t host_len;
    /* Last, so that a kept copy (tt_h1_request_dup) is allocated only as far as its
     * num_headers: every other member comes before it. */
    struct tt_h1_header headers[TT_H1_MAX_HEADERS];
};

struct tt_h1_response {
    int minor_version;
    int status; /* 100..999 */
    const char *reason;
    size_t reason_len;
    size_t num_headers;
    struct tt_h1_framing framing;
    /* Last: a kept copy (tt_h1_response_dup) is allocated only as far as num_headers. */
    struct tt_h1_header headers[TT_H1_MAX_HEADERS];
};

/* The bytes of a parsed head that are in use: every member up to its num_headers entries
 * of headers[] (what a kept copy holds, and all that may be copied from one). */
static inline size_t tt_h1_request_used(const struct tt_h1_request *h)
{
    return offsetof(struct tt_h1_request, headers) + h->num_headers * sizeof(h->headers[0]);
}
static inline size_t tt_h1_response_used(const struct tt_h1_response *h)
{
    return offsetof(struct tt_h1_response, headers) + h->num_headers * sizeof(h->headers[0]);
}

/* Parse error details. `status` is the HTTP status the caller should answer with (400,
 * 431 is not used: Pushpin answers 400 for an oversize head; 501 for an unknown
 * Transfer-Encoding), `reason` a short static text such as "too many headers",
 * "invalid token", "invalid content length", "unsupported transfer encoding",
 * "header size exceeded". */
struct tt_h1_error {
    int status;
    const char *reason;
};

/* Parse a request head from buf[0..len). max_head caps the head size (request line +
 * headers + final CRLF): if no complete head is found within max_head bytes, returns
 * TT_ETOOBIG. Returns the head length (>0) on success, TT_EAGAIN if the head is not
 * complete yet, or TT_EPARSE / TT_ETOOBIG with *err filled. Leading empty lines (CRLF or
 * LF) before the request line are tolerated, as RFC 9112 allows, and counted in the
 * return.
 * More than TT_H1_MAX_HEADERS headers is TT_EPARSE "too many headers". */
int tt_h1_parse_request(const char *buf, size_t len, size_t max_head, struct tt_h1_request *req,
                        struct tt_h1_error *err);

/* Parse a response head the same way. For 1xx, 204 and 304 the caller decides that no
 * body follows; framing still reports what the headers said. On error err->status is what
 * the proxy answers its client: 502, or 500 for "too many headers" (as Pushpin). */
int tt_h1_parse_response(const char *buf, size_t len, size_t max_head,
                         struct tt_h1_response *resp, struct tt_h1_error *err);

/* Find a header (case-insensitive); returns index or -1. Starts searching at `from`. */
int tt_h1_find_header(const struct tt_h1_header *hs, size_t n, const char *name, size_t from);

/* Incremental chunked-body decoder. */
struct tt_h1_chunked {
    uint64_t remaining; /* bytes left in the current chunk */
    uint32_t line_len;  /* bytes of the current size/trailer line seen (capped) */
    uint8_t state;      /* internal */
    bool done;          /* terminal chunk and trailers consumed */
};

void tt_h1_chunked_init(struct tt_h1_chunked *c);

/* Feed in[0..len). Returns the number of input bytes consumed (>=0), or TT_EPARSE.
 * When a data span is available, *data and *data_len point at it inside `in` (and those bytes
 * are part of the consumed count); the call stops after one span so the caller can apply
 * backpressure. *data_len is 0 when the call only consumed framing. Chunk extensions are
 * skipped; trailers are consumed and discarded. A size line or trailer line longer than
 * 4096 bytes, a chunk size over 2^62, or a non-hex size is TT_EPARSE. After done is set,
 * returns 0 and consumes nothing. The trailer section as a whole is capped at 64 KiB
 * (TT_EPARSE beyond). Bytes after the final CRLF are not consumed: they are the next
 * message. */
ssize_t tt_h1_chunked_step(struct tt_h1_chunked *c, const char *in, size_t len, const char **data,
                           size_t *data_len);

/* Standard reason phrase for a status code, "Undefined Reason" if unknown (as Pushpin). */
const char *tt_h1_reason(int status);

/* A header name: one or more tchar (RFC 9110 5.6.2). */
bool tt_h1_is_token(const char *s, size_t len);

/* Bytes that may stand in a field value or a reason phrase: anything but CTLs (NUL, CR,
 * LF, ...) and DEL, except HTAB (RFC 9110 5.5, RFC 9112 4). Every value that comes from a
 * peer and is written into a head goes through this (or through the parsers, which apply
 * the same rule). */
bool tt_h1_is_field_value(const char *s, size_t len);

/* The value of a Host header or the authority of an absolute-form target (RFC 9112 3.2,
 * RFC 3986 3.2.2): uri-host [ ":" port ], where uri-host is a reg-name (unreserved,
 * pct-encoded, sub-delims), an IPv4 address or a bracketed IPv6 / IPvFuture literal, and
 * port is at most five digits. Userinfo ('@'), spaces, '/' and unbalanced brackets are
 * invalid. The empty value is valid (RFC 9112 3.2 allows an empty Host). */
bool tt_h1_valid_host(const char *s, size_t len);

/* True when name (len bytes) is one of the connection options listed in the Connection
 * header(s) among hs[0..n) (case-insensitive). RFC 9110 7.6.1: such fields describe this
 * hop only, so a proxy removes them before forwarding, in either direction. */
bool tt_h1_named_in_connection(const struct tt_h1_header *hs, size_t n, const char *name,
                               size_t len);

/* True when the name is a hop-by-hop header (Connection, Keep-Alive, Transfer-Encoding,
 * TE, Trailer, Upgrade, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization). */
bool tt_h1_is_hop_by_hop(const char *name, size_t len);

#endif

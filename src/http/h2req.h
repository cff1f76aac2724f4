/* h2req.h: an HTTP/2 request's header fields (RFC 9113 8.3) as an HTTP/1.1 request head.
 *
 * thumbtack serves every HTTP/2 stream through its HTTP/1 code path (src/h2/): the fields
 * of a stream's HEADERS become "METHOD path HTTP/1.1", Host from :authority (else the
 * host field), the regular fields as they came, cookie fields joined with "; " (RFC 9113
 * 8.2.3), and the body framing the HTTP/2 side knows: the client's content-length, or
 * chunked when a body of unknown length follows, or none. "Connection: close" ends the
 * head, since a stream carries exactly one request.
 *
 * An extended CONNECT (RFC 8441) with :protocol websocket becomes the HTTP/1.1 WebSocket
 * upgrade it stands for: "GET :path HTTP/1.1", Upgrade: websocket, "Connection: Upgrade,
 * close", Sec-WebSocket-Version 13 unless the client sent its own, and a Sec-WebSocket-Key
 * the caller chose (RFC 8441 section 5: HTTP/2 has no key; the answer's Accept is dropped
 * on the way back). The stream's DATA are then the WebSocket's bytes, without framing.
 * Another :protocol is 501; :protocol on anything but CONNECT is 400.
 *
 * Sans-I/O, no nghttp2 types. The HTTP/2 library has already checked what RFC 9113 makes
 * it check (lower-case names, no connection-specific fields, pseudo-fields first and
 * once, no CR/LF/NUL in values); this module checks what the HTTP/1 head needs: a token
 * method, a request-target without spaces or control bytes, a valid authority, and the
 * size cap. The HTTP/1 parser checks the result once more, as for any request.
 * Thread: any. */
#ifndef TT_HTTP_H2REQ_H
#define TT_HTTP_H2REQ_H

#include "core/buf.h"

struct tt_h2req {
    size_t cap;      /* client_buffer_size: bytes of head allowed */
    size_t size;     /* head bytes so far (as the HTTP/1 head would count them) */
    char *method, *path, *authority, *host; /* owned, NUL-terminated, or NULL */
    struct tt_buf fields; /* "name: value\r\n" lines of the regular fields */
    struct tt_buf cookie; /* values of the cookie fields, joined with "; " */
    int64_t content_length; /* -1 when absent */
    bool connect;           /* :method CONNECT */
    char *protocol;         /* :protocol (owned), or NULL */
    bool scheme;            /* :scheme was given */
    bool ws_version;        /* the client sent sec-websocket-version */
    bool websocket;         /* an extended CONNECT for a WebSocket (set by tt_h2req_check) */
    /* For a WebSocket: the Sec-WebSocket-Key its head carries (24 base64 characters),
     * filled by the caller before tt_h2req_head. */
    char ws_key[25];
    int status;             /* 0, or the HTTP status of the first error */
    const char *error;      /* its reason ("Failed to parse request: <error>") */
};

void tt_h2req_init(struct tt_h2req *r, size_t cap);
void tt_h2req_deinit(struct tt_h2req *r);

/* One field as received, pseudo-fields included. Returns 0, or a negative code once the
 * request is invalid: status and error say why (400, or 501 for CONNECT),
 * and later fields are ignored. A head over cap is status 400 with error NULL (the caller
 * answers "Request header size exceeded limit of N bytes.", as for HTTP/1). */
int tt_h2req_field(struct tt_h2req *r, const char *name, size_t name_len, const char *value,
                   size_t value_len);

/* Whether the fields so far make a request we can serve (the checks of tt_h2req_head
 * that need no framing): 0, or a negative code with status/error set (501 for a CONNECT
 * other than RFC 8441's websocket). Sets websocket. */
int tt_h2req_check(struct tt_h2req *r);

/* Render the head (through the final empty line) into out. body_follows: the stream is
 * still open after its HEADERS, so a body comes; without a content-length it is sent
 * chunked (*chunked set); a WebSocket's bytes never are. Returns 0, or a negative code
 * with status/error set. */
int tt_h2req_head(struct tt_h2req *r, bool body_follows, struct tt_buf *out, bool *chunked);

#endif

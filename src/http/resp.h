/* resp.h: a complete HTTP response held in memory (test handler answers, error answers,
 * GRIP responses kept as a long-poll's timeout response, published http-response items),
 * and its rendering for a client.
 *
 * Owner: the struct owns its strings and body; tt_resp_deinit frees them. Thread: any. */
#ifndef TT_RESP_H
#define TT_RESP_H

#include "core/buf.h"
#include "http/h1.h"

struct tt_resp {
    int status;
    char *reason; /* NULL = standard phrase */
    struct tt_kv *headers;
    size_t num_headers;
    struct tt_buf body;
};

void tt_resp_init(struct tt_resp *r, int status);
void tt_resp_deinit(struct tt_resp *r);
void tt_resp_add_header(struct tt_resp *r, const char *name, const char *value);
/* Replace every header of that name (case-insensitive) with one value; NULL removes. */
void tt_resp_set_header(struct tt_resp *r, const char *name, const char *value);
const char *tt_resp_get_header(const struct tt_resp *r, const char *name);
/* Copy status, reason and headers from a parsed response, minus hop-by-hop headers, the
 * fields its Connection header names, Content-Length and Transfer-Encoding (the body is
 * framed again when rendered). */
void tt_resp_from_h1(struct tt_resp *r, const struct tt_h1_response *h);
void tt_resp_copy(struct tt_resp *dst, const struct tt_resp *src);
/* Whether a header of an in-memory response may be written into a head: a token name, a
 * value without control bytes (HTAB aside), and not a framing or hop-by-hop header (the
 * renderers write Content-Length, Transfer-Encoding and Connection themselves). Peer
 * values are checked where they come in (request parser, publish items, GRIP
 * instructions); this is the second line: a header that fails is skipped and logged. */
bool tt_resp_header_renderable(const char *name, const char *value);
/* The reason phrase to write: r's own when it has no control bytes, else (logged) the
 * standard phrase for the status. */
const char *tt_resp_reason(const struct tt_resp *r);
/* Render head + body for a client: "HTTP/1.<minor> ..." with Content-Length and
 * Connection: close when !keep_alive (or keep-alive for HTTP/1.0 keep-alive clients).
 * Headers and reason go through tt_resp_header_renderable / tt_resp_reason.
 * head_only omits the body (HEAD requests). Appends to out. */
void tt_resp_render(const struct tt_resp *r, int minor_version, bool keep_alive, bool head_only,
                    struct tt_buf *out);
/* A plain text answer (Pushpin's error style): Content-Type text/plain, body given. */
void tt_resp_text(struct tt_resp *r, int status, const char *body);
/* Deep-copy a parsed response head so it outlives the buffer it points into. Free the
 * result and *raw_out with free(). The copy is allocated only up to its num_headers
 * entries of headers[]: read it through its pointer, never copy it whole. */
struct tt_h1_response *tt_h1_response_dup(const struct tt_h1_response *h, char **raw_out);
/* The same for a parsed request head (a WebSocket session keeps its handshake request
 * while it connects). */
struct tt_h1_request *tt_h1_request_dup(const struct tt_h1_request *h, char **raw_out);

#endif

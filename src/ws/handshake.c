/* handshake.c: RFC 6455 opening handshake checks and header lines; see handshake.h. */
#include "ws/handshake.h"

#include <errno.h>

#include <openssl/evp.h>

#include "ws/deflate.h"
#include "ws/ext.h"

void tt_ws_accept_value(const char *key, size_t key_len, char out[TT_WS_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, key, key_len) ||
        !EVP_DigestUpdate(ctx, TT_WS_GUID, sizeof(TT_WS_GUID) - 1) ||
        !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 20) {
        /* Only an OpenSSL without SHA-1 gets here; an empty accept fails every client. */
        EVP_MD_CTX_free(ctx);
        out[0] = 0;
        return;
    }
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    out[TT_WS_ACCEPT_LEN] = 0;
}

static bool b64char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* base64 of exactly 16 bytes: 22 alphabet characters and "==". */
static bool valid_key(const char *k, size_t len)
{
    if (len != TT_WS_KEY_LEN || k[22] != '=' || k[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!b64char(k[i]))
            return false;
    return true;
}

/* The only header of that name, or NULL when absent or repeated. */
static const struct tt_h1_header *single(const struct tt_h1_header *hs, size_t n,
                                         const char *name, bool *repeated)
{
    int i = tt_h1_find_header(hs, n, name, 0);
    *repeated = false;
    if (i < 0)
        return NULL;
    if (tt_h1_find_header(hs, n, name, (size_t)i + 1) >= 0) {
        *repeated = true;
        return NULL;
    }
    return &hs[i];
}

static bool has_token(const char *v, size_t len, const char *token)
{
    size_t pos = 0;
    const char *item;
    size_t ilen;
    while (tt_next_item(v, len, &pos, &item, &ilen))
        if (tt_strieq(item, ilen, token))
            return true;
    return false;
}

static int invalid(struct tt_ws_server_hs *out, const char *why)
{
    out->why = why;
    return TT_EPARSE;
}

int tt_ws_server_handshake(const struct tt_h1_request *req, bool allow_compression,
                           struct tt_ws_server_hs *out)
{
    memset(out, 0, sizeof(*out));
    if (!req->websocket)
        return 0;
    const struct tt_h1_header *hs = req->headers;
    size_t n = req->num_headers;
    bool rep;
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
        return invalid(out, "method is not GET");
    if (req->minor_version < 1)
        return invalid(out, "HTTP/1.0 request");
    if (!req->host)
        return invalid(out, "no Host header");
    if (!req->framing.upgrade)
        return invalid(out, "Connection header without the upgrade token");
    const struct tt_h1_header *ver = single(hs, n, "sec-websocket-version", &rep);
    if (!ver || !tt_strieq(ver->value, ver->value_len, "13")) {
        out->bad_version = true;
        return invalid(out, "Sec-WebSocket-Version is not 13");
    }
    const struct tt_h1_header *key = single(hs, n, "sec-websocket-key", &rep);
    if (!key || !valid_key(key->value, key->value_len))
        return invalid(out, "missing or invalid Sec-WebSocket-Key");
    if (req->framing.chunked || req->framing.content_length > 0)
        return invalid(out, "upgrade request with a body");
    for (int i = -1; (i = tt_h1_find_header(hs, n, "sec-websocket-extensions",
                                            (size_t)(i + 1))) >= 0;) {
        bool accept = false;
        if (tt_ws_deflate_server_scan(hs[i].value, hs[i].value_len, &accept) < 0)
            return invalid(out, "malformed Sec-WebSocket-Extensions");
        if (accept && allow_compression)
            out->deflate = true;
    }
    tt_ws_accept_value(key->value, key->value_len, out->accept);
    return 1;
}

int tt_ws_server_response_headers(struct tt_buf *out, const struct tt_ws_server_hs *hs)
{
    size_t mark = out->len;
    int rc = tt_buf_appends(out, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: ");
    if (rc == 0)
        rc = tt_buf_appends(out, hs->accept);
    if (rc == 0)
        rc = tt_buf_append(out, "\r\n", 2);
    if (rc == 0 && hs->deflate)
        rc = tt_buf_appends(out, "Sec-WebSocket-Extensions: " TT_WS_DEFLATE_RESPONSE "\r\n");
    if (rc < 0)
        out->len = mark;
    return rc;
}

/* ---- client role ---- */

int tt_ws_client_key(tt_ws_rng_fn rng, char key[TT_WS_KEY_LEN + 1])
{
    unsigned char raw[16];
    if (rng(raw, sizeof(raw)) != 1)
        return -EIO;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    key[TT_WS_KEY_LEN] = 0;
    return 0;
}

int tt_ws_client_request_headers(struct tt_buf *out, const char *key, bool offer_grip,
                                 bool offer_deflate)
{
    size_t mark = out->len;
    int rc = tt_buf_appends(out, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
    if (rc == 0)
        rc = tt_buf_appends(out, key);
    if (rc == 0)
        rc = tt_buf_append(out, "\r\n", 2);
    if (rc == 0 && (offer_grip || offer_deflate)) {
        rc = tt_buf_appendf(out, "Sec-WebSocket-Extensions: %s%s%s\r\n", offer_grip ? "grip" : "",
                            offer_grip && offer_deflate ? ", " : "",
                            offer_deflate ? TT_WS_DEFLATE_OFFER : "");
    }
    if (rc < 0)
        out->len = mark;
    return rc;
}

static int client_invalid(struct tt_ws_client_hs *out, const char *why)
{
    out->why = why;
    return TT_EPARSE;
}

/* Walk every Sec-WebSocket-Extensions header of the answer. */
static int check_extensions(const struct tt_h1_response *resp, bool offer_grip,
                            bool offer_deflate, struct tt_ws_client_hs *out)
{
    const struct tt_h1_header *hs = resp->headers;
    for (int i = -1; (i = tt_h1_find_header(hs, resp->num_headers, "sec-websocket-extensions",
                                            (size_t)(i + 1))) >= 0;) {
        size_t pos = 0;
        struct tt_ws_ext e;
        int rc;
        while ((rc = tt_ws_ext_next(hs[i].value, hs[i].value_len, &pos, &e)) == 1) {
            if (tt_strieq(e.name, e.name_len, "grip")) {
                if (!offer_grip)
                    return client_invalid(out, "grip extension not offered");
                if (out->grip.present)
                    return client_invalid(out, "grip extension twice");
                /* A bad parameter means no GRIP, as Pushpin. */
                if (tt_ws_grip_ext_parse(&e, &out->grip) < 0)
                    out->grip.present = false;
            } else if (tt_strieq(e.name, e.name_len, TT_WS_DEFLATE_NAME)) {
                if (!offer_deflate)
                    return client_invalid(out, "permessage-deflate not offered");
                if (out->deflate)
                    return client_invalid(out, "permessage-deflate twice");
                if (tt_ws_deflate_check_response(&e) < 0)
                    return client_invalid(out, "unusable permessage-deflate parameters");
                out->deflate = true;
            } else {
                return client_invalid(out, "extension not offered");
            }
        }
        if (rc < 0)
            return client_invalid(out, "malformed Sec-WebSocket-Extensions");
    }
    return 0;
}

int tt_ws_client_check_response(const struct tt_h1_response *resp, const char *key,
                                bool offer_grip, bool offer_deflate, const char *protocols,
                                size_t protocols_len, struct tt_ws_client_hs *out)
{
    memset(out, 0, sizeof(*out));
    if (resp->status != 101)
        return 0;
    const struct tt_h1_header *hs = resp->headers;
    size_t n = resp->num_headers;
    bool rep;
    const struct tt_h1_header *up = single(hs, n, "upgrade", &rep);
    if (!up || !has_token(up->value, up->value_len, "websocket"))
        return client_invalid(out, "101 without Upgrade: websocket");
    if (!resp->framing.upgrade)
        return client_invalid(out, "101 without Connection: upgrade");
    const struct tt_h1_header *acc = single(hs, n, "sec-websocket-accept", &rep);
    char want[TT_WS_ACCEPT_LEN + 1];
    tt_ws_accept_value(key, strlen(key), want);
    if (!acc || acc->value_len != TT_WS_ACCEPT_LEN ||
        memcmp(acc->value, want, TT_WS_ACCEPT_LEN) != 0)
        return client_invalid(out, "wrong Sec-WebSocket-Accept");
    if (check_extensions(resp, offer_grip, offer_deflate, out) < 0)
        return TT_EPARSE;
    const struct tt_h1_header *proto = single(hs, n, "sec-websocket-protocol", &rep);
    if (rep)
        return client_invalid(out, "Sec-WebSocket-Protocol twice");
    if (proto) {
        bool found = false;
        size_t pos = 0;
        const char *item;
        size_t ilen;
        while (protocols && tt_next_item(protocols, protocols_len, &pos, &item, &ilen))
            if (ilen && ilen == proto->value_len && memcmp(item, proto->value, ilen) == 0)
                found = true;
        if (!found)
            return client_invalid(out, "Sec-WebSocket-Protocol not among those sent");
        out->protocol = proto->value;
        out->protocol_len = proto->value_len;
    }
    return 1;
}

/* thumbtack-publish: publish one item to thumbtack (or Pushpin) instances, over the HTTP
 * publish API or a ZeroMQ PULL input (as pushpin-publish), to one instance or several.
 *
 * Written in C against libthumbtack (tnetstring writer, base64, buffers) with jansson,
 * libzmq and OpenSSL, the libraries thumbtack itself links: one small binary installed
 * beside thumbtack, no interpreter or module to install on the hosts that publish.
 *
 * Exit status: 0 when every target accepted the item, 1 when any did not (its error is
 * printed), 2 for a usage error. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "core/base64.h"
#include "core/buf.h"
#include "zmq/tnetstring.h"

#define DEFAULT_SPEC "http://localhost:5561"
#define MAX_SPECS 64
#define MAX_LIST 64
#define RESP_MAX (1 << 20)

enum { F_RESPONSE = 1, F_STREAM = 2, F_WS = 4 };

struct opts {
    const char *channel;
    const char *content;
    const char *id, *prev_id, *sender;
    int code;
    const char *headers[MAX_LIST];
    int num_headers;
    const char *meta[MAX_LIST];
    int num_meta;
    bool hint, close, patch, no_seq, no_eol;
    int formats;
    const char *ws_type;
    int close_code;
    const char *close_reason;
    const char *specs[MAX_SPECS];
    int num_specs;
    const char *user, *bearer;
    int timeout_ms;
    bool quiet;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: thumbtack-publish [options] <channel> [content]\n"
            "Publish one item to thumbtack (or Pushpin), over the HTTP publish API or a\n"
            "ZeroMQ PULL input, to one or several instances.\n"
            "\n"
            "  <channel>              channel to publish to\n"
            "  [content]              body of the http-response, content of the http-stream\n"
            "                         and of the ws-message; @FILE reads it from FILE (bytes\n"
            "                         as they are, no newline added). Required unless --hint\n"
            "                         or --close.\n"
            "\n"
            "Where:\n"
            "  --spec SPEC            a target, repeatable (each instance gets the item):\n"
            "                         http[s]://host[:port][/base] posts to <base>/publish/;\n"
            "                         tcp://host:port or ipc://path pushes to a PULL input\n"
            "                         (push_in_spec). Default: $GRIP_URL, else\n"
            "                         " DEFAULT_SPEC "\n"
            "  -u, --user USER:PASS   HTTP Basic auth (thumbtack's publish_key: any user,\n"
            "                         the key as password)\n"
            "  -B, --bearer TOKEN     HTTP Bearer auth (a JWT signed with publish_key)\n"
            "  --timeout SECONDS      give up on a target after this long (default 10)\n"
            "\n"
            "What:\n"
            "  --format LIST          formats to include, comma list of response, stream, ws\n"
            "                         (http-response, http-stream, ws-message); default all\n"
            "  --id ID                item id\n"
            "  --prev-id ID           previous item id (sequencing)\n"
            "  --no-seq               bypass the sequencing buffer (\"no-seq\": true)\n"
            "  --sender SENDER        meta value \"sender\" (for the skip-self filter)\n"
            "  -M, --meta K=V         add a meta value, repeatable\n"
            "  --code CODE            http-response status code, 0..999 (default 200)\n"
            "  -H, --header \"K: V\"    add an http-response header, repeatable\n"
            "  --patch                content is a JSON Patch array applied to the held\n"
            "                         response's body (http-response body-patch)\n"
            "  --no-eol               do not add a newline to HTTP content (WebSocket\n"
            "                         messages never get one)\n"
            "  --ws-type TYPE         ws-message type: text (default), binary, ping, pong\n"
            "\n"
            "Actions other than send:\n"
            "  --hint                 send a hint: held responses and streams ask the backend\n"
            "  --close                close streams and WebSocket connections\n"
            "  --close-code CODE      with --close: the WebSocket close code\n"
            "  --close-reason TEXT    with --close: the WebSocket close reason\n"
            "\n"
            "  -q, --quiet            print nothing on success\n"
            "  -h, --help             this text\n"
            "  -V, --version          the version\n"
            "\n"
            "Exit status: 0 when every target accepted the item, 1 otherwise, 2 on a usage\n"
            "error.\n");
}

static int parse_formats(const char *s)
{
    int f = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (!strcmp(t, "response") || !strcmp(t, "http-response"))
            f |= F_RESPONSE;
        else if (!strcmp(t, "stream") || !strcmp(t, "http-stream"))
            f |= F_STREAM;
        else if (!strcmp(t, "ws") || !strcmp(t, "ws-message"))
            f |= F_WS;
        else
            return -1;
    }
    return f;
}

static bool valid_utf8(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

/* A byte string for the JSON item: as text when it is UTF-8, else as key-bin base64. */
static void put_bytes(json_t *o, const char *key, const char *s, size_t n, bool json)
{
    if (!json || valid_utf8(s, n)) {
        json_object_set_new(o, key, json_stringn_nocheck(s, n));
        return;
    }
    size_t cap = (n + 2) / 3 * 4 + 1;
    char *b = malloc(cap);
    tt_base64_encode(s, n, b, cap, false);
    char k[64];
    snprintf(k, sizeof(k), "%s-bin", key);
    json_object_set_new(o, k, json_string(b));
    free(b);
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tt_buf_append(&b, chunk, n);
    int e = ferror(f) ? -EIO : 0;
    fclose(f);
    if (e) {
        tt_buf_deinit(&b);
        return e;
    }
    *out = tt_buf_steal(&b, len);
    if (!*out)
        *out = calloc(1, 1);
    return 0;
}

/* The item. json: for the HTTP API (binary content as -bin base64); else for a tnetstring
 * (raw bytes). Returns NULL with a message on stderr. */
static json_t *build_item(const struct opts *o, const char *content, size_t clen, bool from_file,
                          bool json)
{
    json_t *item = json_object();
    json_object_set_new(item, "channel", json_string(o->channel));
    if (o->id)
        json_object_set_new(item, "id", json_string(o->id));
    if (o->prev_id)
        json_object_set_new(item, "prev-id", json_string(o->prev_id));
    if (o->no_seq)
        json_object_set_new(item, "no-seq", json_true());
    json_t *formats = json_object();
    json_t *meta = json_object();
    if (o->sender)
        json_object_set_new(meta, "sender", json_string(o->sender));
    for (int i = 0; i < o->num_meta; i++) {
        const char *eq = strchr(o->meta[i], '=');
        if (!eq) {
            fprintf(stderr, "Error: meta must be in the form \"name=value\"\n");
            goto fail;
        }
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - o->meta[i]), o->meta[i]);
        json_object_set_new(meta, name, json_string(v));
    }
    if (json_object_size(meta))
        json_object_set(item, "meta", meta);
    if (o->hint || o->close) {
        const char *action = o->hint ? "hint" : "close";
        if (o->hint && (o->formats & F_RESPONSE))
            json_object_set_new(formats, "http-response", json_pack("{ss}", "action", action));
        if (o->formats & F_STREAM)
            json_object_set_new(formats, "http-stream", json_pack("{ss}", "action", action));
        if (o->formats & F_WS) {
            json_t *ws = json_pack("{ss}", "action", action);
            if (o->close && o->close_code >= 0)
                json_object_set_new(ws, "code", json_integer(o->close_code));
            if (o->close && o->close_reason)
                json_object_set_new(ws, "reason", json_string(o->close_reason));
            json_object_set_new(formats, "ws-message", ws);
        }
    } else {
        /* HTTP content gets a newline (unless --no-eol or from a file), WebSocket none. */
        struct tt_buf http;
        tt_buf_init(&http, 0);
        tt_buf_append(&http, content, clen);
        if (!o->no_eol && !from_file)
            tt_buf_append(&http, "\n", 1);
        if (o->formats & F_RESPONSE) {
            json_t *r = json_object();
            json_object_set_new(r, "code", json_integer(o->code));
            if (o->patch) {
                json_error_t jerr;
                json_t *patch = json_loadb(content, clen, 0, &jerr);
                if (!json_is_array(patch)) {
                    json_decref(patch);
                    json_decref(r);
                    tt_buf_deinit(&http);
                    fprintf(stderr, "Error: patch content must be a JSON array\n");
                    goto fail;
                }
                json_object_set_new(r, "body-patch", patch);
            } else {
                put_bytes(r, "body", http.data ? http.data : "", http.len, json);
            }
            if (o->num_headers) {
                json_t *hs = json_array();
                for (int i = 0; i < o->num_headers; i++) {
                    const char *colon = strchr(o->headers[i], ':');
                    if (!colon) {
                        json_decref(hs);
                        json_decref(r);
                        tt_buf_deinit(&http);
                        fprintf(stderr, "Error: header must be in the form \"name: value\"\n");
                        goto fail;
                    }
                    const char *v = colon + 1;
                    while (*v == ' ' || *v == '\t')
                        v++;
                    json_array_append_new(
                        hs, json_pack("[s#s]", o->headers[i], (int)(colon - o->headers[i]), v));
                }
                json_object_set_new(r, "headers", hs);
            }
            json_object_set_new(formats, "http-response", r);
        }
        if ((o->formats & F_STREAM) && !o->patch) {
            json_t *st = json_object();
            put_bytes(st, "content", http.data ? http.data : "", http.len, json);
            json_object_set_new(formats, "http-stream", st);
        }
        if ((o->formats & F_WS) && !o->patch) {
            json_t *ws = json_object();
            bool binary = o->ws_type && !strcmp(o->ws_type, "binary");
            if (o->ws_type && strcmp(o->ws_type, "text") != 0)
                json_object_set_new(ws, "type", json_string(o->ws_type));
            if (binary && json) {
                size_t cap = (clen + 2) / 3 * 4 + 1;
                char *b = malloc(cap);
                tt_base64_encode(content, clen, b, cap, false);
                json_object_set_new(ws, "content-bin", json_string(b));
                free(b);
            } else if (binary) {
                json_object_set_new(ws, "content-bin", json_stringn_nocheck(content, clen));
            } else {
                put_bytes(ws, "content", content, clen, json);
            }
            json_object_set_new(formats, "ws-message", ws);
        }
        tt_buf_deinit(&http);
    }
    if (!json_object_size(formats)) {
        fprintf(stderr, "Error: no format left to publish (see --format)\n");
        goto fail;
    }
    json_object_set_new(item, "formats", formats);
    json_decref(meta);
    return item;
fail:
    json_decref(formats);
    json_decref(meta);
    json_decref(item);
    return NULL;
}

/* ---- HTTP ---- */

struct url {
    bool https;
    char host[256]; /* as in the URL (Host header) */
    char connect[256];
    char port[8];
    char path[1024];
};

static int parse_url(const char *spec, struct url *u)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (!strncmp(spec, "http://", 7)) {
        p = spec + 7;
    } else if (!strncmp(spec, "https://", 8)) {
        p = spec + 8;
        u->https = true;
    } else {
        return -1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= sizeof(u->host))
        return -1;
    memcpy(u->host, p, hl);
    snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "");
    size_t pl = strlen(u->path);
    while (pl && u->path[pl - 1] == '/')
        u->path[--pl] = '\0';
    const char *h = u->host, *colon;
    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        if (!end)
            return -1;
        snprintf(u->connect, sizeof(u->connect), "%.*s", (int)(end - h - 1), h + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(h, ':');
        snprintf(u->connect, sizeof(u->connect), "%.*s",
                 (int)(colon ? (size_t)(colon - h) : strlen(h)), h);
    }
    snprintf(u->port, sizeof(u->port), "%s", colon ? colon + 1 : (u->https ? "443" : "80"));
    return u->port[0] ? 0 : -1;
}

static int dial(const struct url *u, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int r = getaddrinfo(u->connect, u->port, &hints, &res);
    if (r != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", u->connect, gai_strerror(r));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        snprintf(err, errlen, "cannot connect to %s:%s: %s", u->connect, u->port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

struct stream {
    int fd;
    SSL *ssl;
};

static int s_write(struct stream *s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = s->ssl ? SSL_write(s->ssl, p, (int)n) : send(s->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t s_read(struct stream *s, char *p, size_t n)
{
    if (s->ssl) {
        int r = SSL_read(s->ssl, p, (int)n);
        return r > 0 ? r : 0;
    }
    return recv(s->fd, p, n, 0);
}

static int publish_http(const char *spec, const struct opts *o, const char *body, size_t blen,
                        char *err, size_t errlen)
{
    struct url u;
    if (parse_url(spec, &u) < 0) {
        snprintf(err, errlen, "invalid URL");
        return -1;
    }
    int fd = dial(&u, o->timeout_ms, err, errlen);
    if (fd < 0)
        return -1;
    struct stream s = {fd, NULL};
    SSL_CTX *ctx = NULL;
    int rc = -1;
    if (u.https) {
        ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_default_verify_paths(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        s.ssl = SSL_new(ctx);
        SSL_set_tlsext_host_name(s.ssl, u.connect);
        SSL_set1_host(s.ssl, u.connect);
        SSL_set_fd(s.ssl, fd);
        if (SSL_connect(s.ssl) != 1) {
            char e[256];
            ERR_error_string_n(ERR_get_error(), e, sizeof(e));
            snprintf(err, errlen, "TLS with %s failed: %s", u.host, e);
            goto out;
        }
    }
    struct tt_buf req;
    tt_buf_init(&req, 0);
    tt_buf_appendf(&req,
                   "POST %s/publish/ HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n",
                   u.path, u.host, blen);
    if (o->user) {
        size_t cap = (strlen(o->user) + 2) / 3 * 4 + 1;
        char *b64 = malloc(cap);
        tt_base64_encode(o->user, strlen(o->user), b64, cap, false);
        tt_buf_appendf(&req, "Authorization: Basic %s\r\n", b64);
        free(b64);
    } else if (o->bearer) {
        tt_buf_appendf(&req, "Authorization: Bearer %s\r\n", o->bearer);
    }
    tt_buf_appends(&req, "\r\n");
    tt_buf_append(&req, body, blen);
    int w = s_write(&s, req.data, req.len);
    tt_buf_deinit(&req);
    if (w < 0) {
        snprintf(err, errlen, "cannot send to %s: %s", u.host, strerror(errno));
        goto out;
    }
    struct tt_buf resp;
    tt_buf_init(&resp, RESP_MAX);
    char chunk[16384];
    ssize_t n;
    while ((n = s_read(&s, chunk, sizeof(chunk))) > 0)
        if (tt_buf_append(&resp, chunk, (size_t)n) != 0)
            break;
    tt_buf_cstr(&resp);
    int code = 0;
    if (resp.len < 12 || sscanf(resp.data, "HTTP/%*d.%*d %d", &code) != 1) {
        snprintf(err, errlen, "no valid answer from %s", u.host);
    } else if (code == 200) {
        rc = 0;
    } else {
        const char *b = strstr(resp.data, "\r\n\r\n");
        b = b ? b + 4 : "";
        size_t bl = strlen(b);
        while (bl && (b[bl - 1] == '\n' || b[bl - 1] == '\r'))
            bl--;
        snprintf(err, errlen, "%d %.*s", code, (int)TT_MIN(bl, 400), b);
    }
    tt_buf_deinit(&resp);
out:
    if (s.ssl)
        SSL_free(s.ssl);
    if (ctx)
        SSL_CTX_free(ctx);
    close(fd);
    return rc;
}

/* ---- ZeroMQ ---- */

static int publish_zmq(void *zctx, const char *spec, const struct opts *o, const char *msg,
                       size_t len, char *err, size_t errlen)
{
    void *s = zmq_socket(zctx, ZMQ_PUSH);
    int one = 1, linger = o->timeout_ms;
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    int rc = -1;
    if (zmq_connect(s, spec) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", spec, zmq_strerror(errno));
        goto out;
    }
    /* With ZMQ_IMMEDIATE the socket is writable only once the PULL side is connected: a
     * target that is not there is an error, not a message lost in a queue. */
    zmq_pollitem_t pi = {s, 0, ZMQ_POLLOUT, 0};
    if (zmq_poll(&pi, 1, o->timeout_ms) <= 0 || !(pi.revents & ZMQ_POLLOUT)) {
        snprintf(err, errlen, "no PULL input reachable at %s within %d ms", spec, o->timeout_ms);
        goto out;
    }
    if (zmq_send(s, msg, len, ZMQ_DONTWAIT) < 0) {
        snprintf(err, errlen, "cannot send to %s: %s", spec, zmq_strerror(errno));
        goto out;
    }
    rc = 0;
out:
    zmq_close(s); /* waits (up to the timeout) for the message to leave */
    return rc;
}

int main(int argc, char **argv)
{
    enum {
        O_ID = 256, O_PREV, O_SENDER, O_CODE, O_HINT, O_CLOSE, O_PATCH, O_NOSEQ, O_NOEOL, O_SPEC,
        O_FORMAT, O_WSTYPE, O_CCODE, O_CREASON, O_TIMEOUT,
    };
    static const struct option lopts[] = {
        {"id", required_argument, NULL, O_ID},
        {"prev-id", required_argument, NULL, O_PREV},
        {"sender", required_argument, NULL, O_SENDER},
        {"code", required_argument, NULL, O_CODE},
        {"header", required_argument, NULL, 'H'},
        {"meta", required_argument, NULL, 'M'},
        {"hint", no_argument, NULL, O_HINT},
        {"close", no_argument, NULL, O_CLOSE},
        {"patch", no_argument, NULL, O_PATCH},
        {"no-seq", no_argument, NULL, O_NOSEQ},
        {"no-eol", no_argument, NULL, O_NOEOL},
        {"spec", required_argument, NULL, O_SPEC},
        {"format", required_argument, NULL, O_FORMAT},
        {"ws-type", required_argument, NULL, O_WSTYPE},
        {"close-code", required_argument, NULL, O_CCODE},
        {"close-reason", required_argument, NULL, O_CREASON},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"user", required_argument, NULL, 'u'},
        {"bearer", required_argument, NULL, 'B'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct opts o;
    memset(&o, 0, sizeof(o));
    o.code = 200;
    o.formats = F_RESPONSE | F_STREAM | F_WS;
    o.close_code = -1;
    o.timeout_ms = 10000;
    int c;
    while ((c = getopt_long(argc, argv, "H:M:u:B:qhV", lopts, NULL)) != -1) {
        char *end;
        long v;
        switch (c) {
        case O_ID:
            o.id = optarg;
            break;
        case O_PREV:
            o.prev_id = optarg;
            break;
        case O_SENDER:
            o.sender = optarg;
            break;
        case O_CODE:
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 999) {
                fprintf(stderr, "Error: code must be an integer between 0 and 999\n");
                return 2;
            }
            o.code = (int)v;
            break;
        case 'H':
        case 'M':
            if ((c == 'H' ? o.num_headers : o.num_meta) == MAX_LIST) {
                fprintf(stderr, "Error: at most %d of -%c\n", MAX_LIST, c);
                return 2;
            }
            if (c == 'H')
                o.headers[o.num_headers++] = optarg;
            else
                o.meta[o.num_meta++] = optarg;
            break;
        case O_HINT:
            o.hint = true;
            break;
        case O_CLOSE:
            o.close = true;
            break;
        case O_PATCH:
            o.patch = true;
            break;
        case O_NOSEQ:
            o.no_seq = true;
            break;
        case O_NOEOL:
            o.no_eol = true;
            break;
        case O_SPEC:
            if (o.num_specs == MAX_SPECS) {
                fprintf(stderr, "Error: at most %d --spec\n", MAX_SPECS);
                return 2;
            }
            o.specs[o.num_specs++] = optarg;
            break;
        case O_FORMAT:
            o.formats = parse_formats(optarg);
            if (o.formats <= 0) {
                fprintf(stderr, "Error: --format takes a comma list of response, stream, ws\n");
                return 2;
            }
            break;
        case O_WSTYPE:
            if (strcmp(optarg, "text") && strcmp(optarg, "binary") && strcmp(optarg, "ping") &&
                strcmp(optarg, "pong")) {
                fprintf(stderr, "Error: --ws-type is text, binary, ping or pong\n");
                return 2;
            }
            o.ws_type = optarg;
            break;
        case O_CCODE:
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 65535) {
                fprintf(stderr, "Error: --close-code must be an integer between 0 and 65535\n");
                return 2;
            }
            o.close_code = (int)v;
            break;
        case O_CREASON:
            o.close_reason = optarg;
            break;
        case O_TIMEOUT:
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > 3600) {
                fprintf(stderr, "Error: --timeout takes seconds, 1 to 3600\n");
                return 2;
            }
            o.timeout_ms = (int)v * 1000;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'B':
            o.bearer = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("thumbtack-publish 0.1.0\n");
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        usage(stderr);
        return 2;
    }
    o.channel = argv[optind];
    o.content = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (o.user && o.bearer) {
        fprintf(stderr, "Error: only one authentication method can be specified\n");
        return 2;
    }
    if (o.hint && o.close) {
        fprintf(stderr, "Error: --hint and --close cannot be combined\n");
        return 2;
    }
    if (!o.hint && !o.close && !o.content) {
        fprintf(stderr, "Error: must specify content\n");
        return 2;
    }
    if (!o.num_specs) {
        const char *env = getenv("GRIP_URL");
        o.specs[o.num_specs++] = env && env[0] ? env : DEFAULT_SPEC;
    }
    char *content = NULL;
    size_t clen = 0;
    bool from_file = false;
    if (o.content && o.content[0] == '@') {
        int r = read_file(o.content + 1, &content, &clen);
        if (r < 0) {
            fprintf(stderr, "Error: can't read file %s: %s\n", o.content + 1, strerror(-r));
            return 1;
        }
        from_file = true;
    } else if (o.content) {
        content = strdup(o.content);
        clen = strlen(content);
    }
    json_t *jitem = build_item(&o, content ? content : "", clen, from_file, true);
    json_t *titem = jitem ? build_item(&o, content ? content : "", clen, from_file, false) : NULL;
    free(content);
    if (!jitem || !titem) {
        json_decref(jitem);
        return 2;
    }
    json_t *doc = json_pack("{s[O]}", "items", jitem);
    char *body = json_dumps(doc, JSON_COMPACT);
    struct tt_buf tnet;
    tt_buf_init(&tnet, 0);
    tt_tnet_serialize(titem, &tnet);
    void *zctx = NULL;
    int failed = 0;
    for (int i = 0; i < o.num_specs; i++) {
        const char *spec = o.specs[i];
        char err[600] = "";
        int r;
        if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8)) {
            r = publish_http(spec, &o, body, strlen(body), err, sizeof(err));
        } else if (!strncmp(spec, "tcp://", 6) || !strncmp(spec, "ipc://", 6)) {
            if (!zctx)
                zctx = zmq_ctx_new();
            r = publish_zmq(zctx, spec, &o, tnet.data, tnet.len, err, sizeof(err));
        } else {
            snprintf(err, sizeof(err), "unknown spec (http://, https://, tcp:// or ipc://)");
            r = -1;
        }
        if (r < 0) {
            failed++;
            if (o.num_specs > 1)
                fprintf(stderr, "%s: Error: %s\n", spec, err);
            else
                fprintf(stderr, "Error: %s\n", err);
        } else if (!o.quiet) {
            if (o.num_specs > 1)
                printf("%s: Published\n", spec);
            else
                printf("Published\n");
        }
    }
    if (zctx)
        zmq_ctx_term(zctx);
    tt_buf_deinit(&tnet);
    free(body);
    json_decref(doc);
    json_decref(jitem);
    json_decref(titem);
    return failed ? 1 : 0;
}

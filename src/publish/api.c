/* api.c: the HTTP publish API (SPEC.md section 5 "HTTP control server") on libuv.
 *
 * One request per connection, as Pushpin's SimpleHttpServer: read the head and a
 * Content-Length body, answer with Connection: close, then shut the socket down and drain
 * what the client still sends for a moment (so an early error answer is not lost to a TCP
 * reset) before closing. A connection that sends nothing for [runner] client_head_timeout
 * (10 s) is closed; the timer restarts with every byte, so a slow publisher of a large
 * body is bounded by push_in_http_max_body_size, not by a total time. The number of
 * connections is capped. Status lines, bodies and header order copy Pushpin 1.36. */
#include "publish/api.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "http/h1.h"
#include "grip/jwt.h"

#define API_MAX_CONNS 1024
#define API_DEFAULT_TIMEOUT_MS 10000
/* Time left to a client to read our answer and close after we shut down our side. */
#define API_LINGER_MS 2000
#define API_BACKLOG 511

enum api_conn_state { ST_HEAD, ST_BODY, ST_RESPONDED, ST_LINGER, ST_CLOSING };
enum api_accept { ACCEPT_TEXT, ACCEPT_JSON, ACCEPT_NONE };

struct tt_pub_api {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_open;
    bool stopping;
    size_t max_head;
    size_t max_body;
    uint64_t timeout_ms;
    struct tt_key *key;   /* Bearer verification; NULL when auth is off */
    char *basic_password; /* the publish_key string, for Basic auth */
    tt_pub_items_fn on_items;
    tt_pub_recover_fn on_recover;
    void *ctx;
    struct tt_list conns;
    size_t num_conns;
    uint64_t last_full_warn_ms;
    char scratch[65536]; /* read buffer shared by all connections (one thread) */
};

/* Owned by the api (linked in api->conns); freed once both handles have closed. */
struct api_conn {
    struct tt_list link;
    struct tt_pub_api *api;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int open_handles;
    uv_write_t continue_req;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    enum api_conn_state state;
    struct tt_buf in;
    char *out; /* response bytes while the write is in flight */
    size_t head_len;
    int64_t content_length; /* -1 = none */
    int minor_version;
    char *method; /* copied from the head, so the input buffer may grow */
    char *target;
    enum api_accept accept;
    bool authorized;
    bool peer_eof; /* the client finished sending (or went away) */
};

static void conn_close(struct api_conn *c);

static void api_maybe_free(struct tt_pub_api *api)
{
    if (!api->stopping || api->listener_open || !tt_list_empty(&api->conns))
        return;
    tt_key_free(api->key);
    free(api->basic_password);
    free(api);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct api_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct tt_pub_api *api = c->api;
    tt_list_remove(&c->link);
    api->num_conns--;
    tt_buf_deinit(&c->in);
    free(c->out);
    free(c->method);
    free(c->target);
    free(c);
    api_maybe_free(api);
}

static void conn_close(struct api_conn *c)
{
    if (c->state == ST_CLOSING)
        return;
    c->state = ST_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static const char *log_str(const char *s, char *buf, size_t buflen)
{
    if (!s)
        return "-";
    return tt_log_escape(s, strlen(s), buf, buflen);
}

static void on_timeout(uv_timer_t *t)
{
    struct api_conn *c = t->data;
    if (c->state == ST_HEAD || c->state == ST_BODY)
        tt_info("control: nothing received for %llu ms (%s); closing",
                (unsigned long long)c->api->timeout_ms, c->state == ST_HEAD ? "head" : "body");
    conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct api_conn *c = req->data;
    if (c->state == ST_CLOSING)
        return;
    if (status < 0 || c->peer_eof) {
        conn_close(c);
        return;
    }
    c->state = ST_LINGER;
    uv_timer_start(&c->timer, on_timeout, API_LINGER_MS, 0);
}

static void on_written(uv_write_t *req, int status)
{
    struct api_conn *c = req->data;
    free(c->out);
    c->out = NULL;
    if (c->state == ST_CLOSING)
        return;
    if (status < 0 || uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        conn_close(c);
}

static void on_continue_written(uv_write_t *req, int status)
{
    struct api_conn *c = req->data;
    if (status < 0 && c->state != ST_CLOSING)
        conn_close(c);
}

/* Queue the whole answer. extra_headers, if any, come first as in Pushpin (each line ends
 * with CRLF). The socket keeps being read (and the input dropped) until the client goes
 * away or the linger time ends. */
static void respond(struct api_conn *c, int code, const char *reason, const char *extra_headers,
                    const char *content_type, const char *body, size_t body_len)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_buf_appendf(&b,
                   "HTTP/1.%d %d %s\r\n%sContent-Type: %s\r\nConnection: close\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   c->minor_version == 0 ? 0 : 1, code, reason, extra_headers ? extra_headers : "",
                   content_type, body_len);
    tt_buf_append(&b, body, body_len);
    size_t len;
    c->out = tt_buf_steal(&b, &len);
    c->state = ST_RESPONDED;
    tt_buf_deinit(&c->in);
    tt_buf_init(&c->in, 0);
    uv_buf_t buf = uv_buf_init(c->out, (unsigned)len);
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0) {
        free(c->out);
        c->out = NULL;
        conn_close(c);
    }
}

static void respond_text(struct api_conn *c, int code, const char *reason, const char *body)
{
    char m[128], t[256];
    tt_info("control: %s %s code=%d %zu", log_str(c->method, m, sizeof(m)),
            log_str(c->target, t, sizeof(t)), code, strlen(body));
    respond(c, code, reason, NULL, "text/plain", body, strlen(body));
}

/* An answer before the request could be read whole (head or framing problems). */
static void respond_bad_input(struct api_conn *c, int code, const char *reason, const char *body,
                              const char *why)
{
    char m[128], t[256];
    tt_info("control: bad request %s %s: %s", log_str(c->method, m, sizeof(m)),
            log_str(c->target, t, sizeof(t)), why);
    respond(c, code, reason, NULL, "text/plain", body, strlen(body));
}

/* Pushpin accepts a listed type anywhere; the last recognized one wins. */
static enum api_accept negotiate_accept(const struct tt_h1_request *req)
{
    bool present = false;
    enum api_accept result = ACCEPT_NONE;
    for (int i = tt_h1_find_header(req->headers, req->num_headers, "Accept", 0); i >= 0;
         i = tt_h1_find_header(req->headers, req->num_headers, "Accept", (size_t)i + 1)) {
        present = true;
        const char *v = req->headers[i].value;
        size_t vlen = req->headers[i].value_len;
        size_t start = 0;
        while (start <= vlen) {
            size_t end = start;
            while (end < vlen && v[end] != ',')
                end++;
            const char *p = v + start;
            size_t plen = end - start;
            const char *semi = memchr(p, ';', plen);
            if (semi)
                plen = (size_t)(semi - p);
            tt_trim(&p, &plen);
#define IS(s) (plen == sizeof(s) - 1 && memcmp(p, s, plen) == 0)
            if (IS("text/plain") || IS("text/*") || IS("*/*") || IS("*"))
                result = ACCEPT_TEXT;
            else if (IS("application/json") || IS("application/*"))
                result = ACCEPT_JSON;
#undef IS
            start = end + 1;
        }
    }
    return present ? result : ACCEPT_TEXT;
}

static bool check_auth(struct tt_pub_api *api, const struct tt_h1_request *req)
{
    if (!api->key && !api->basic_password)
        return true;
    int i = tt_h1_find_header(req->headers, req->num_headers, "Authorization", 0);
    if (i < 0)
        return false;
    const char *v = req->headers[i].value;
    size_t vlen = req->headers[i].value_len;
    const char *sp = memchr(v, ' ', vlen);
    if (!sp)
        return false;
    size_t scheme_len = (size_t)(sp - v);
    const char *cred = sp + 1;
    size_t cred_len = vlen - scheme_len - 1;
    tt_trim(&cred, &cred_len);
    if (tt_strieq(v, scheme_len, "Bearer"))
        return api->key && tt_jwt_verify(api->key, cred, cred_len, tt_unix_now(), true) == 0;
    if (!tt_strieq(v, scheme_len, "Basic") || !api->basic_password)
        return false;
    size_t cap = cred_len / 4 * 3 + 3;
    char *dec = tt_malloc(cap + 1);
    int n = tt_base64_decode(cred, cred_len, dec, cap, false);
    bool ok = false;
    if (n > 0) {
        const char *colon = memchr(dec, ':', (size_t)n);
        if (colon) {
            const char *pw = colon + 1;
            size_t pw_len = (size_t)n - (size_t)(pw - dec);
            size_t want = strlen(api->basic_password);
            ok = pw_len == want && CRYPTO_memcmp(pw, api->basic_password, want) == 0;
        }
    }
    OPENSSL_cleanse(dec, cap + 1);
    free(dec);
    return ok;
}

static void respond_message(struct api_conn *c, const char *message, size_t items)
{
    char body[64];
    const char *type;
    if (c->accept == ACCEPT_JSON) {
        snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", message);
        type = "application/json";
    } else {
        snprintf(body, sizeof(body), "%s\n", message);
        type = "text/plain";
    }
    char m[128], t[256];
    if (items != (size_t)-1)
        tt_info("control: %s %s code=200 %zu items=%zu", log_str(c->method, m, sizeof(m)),
                log_str(c->target, t, sizeof(t)), strlen(body), items);
    else
        tt_info("control: %s %s code=200 %zu", log_str(c->method, m, sizeof(m)),
                log_str(c->target, t, sizeof(t)), strlen(body));
    respond(c, 200, "OK", NULL, type, body, strlen(body));
}

static void respond_method_not_allowed(struct api_conn *c)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_buf_appendf(&b, "Method not allowed: %s.\n", c->method);
    char m[128], t[256];
    tt_info("control: %s %s code=405 %zu", log_str(c->method, m, sizeof(m)),
            log_str(c->target, t, sizeof(t)), b.len);
    respond(c, 405, "Method Not Allowed", "Allow: POST\r\n", "text/plain", b.data, b.len);
    tt_buf_deinit(&b);
}

static void handle_publish(struct api_conn *c, const char *body, size_t body_len)
{
    struct tt_pub_api *api = c->api;
    struct tt_pub_item *items = NULL;
    size_t n = 0;
    char err[600];
    if (tt_pub_parse_body(body, body_len, &items, &n, err, sizeof(err)) < 0) {
        char m[128], t[256], e[300];
        tt_info("control: %s %s code=400 (%s)", log_str(c->method, m, sizeof(m)),
                log_str(c->target, t, sizeof(t)), log_str(err, e, sizeof(e)));
        size_t len = strlen(err);
        err[len] = '\n';
        respond(c, 400, "Bad Request", NULL, "text/plain", err, len + 1);
        return;
    }
    /* Pushpin answers before delivering; the write is queued, delivery happens now. */
    respond_message(c, "Published", n);
    if (n > 0 && api->on_items)
        api->on_items(api->ctx, items, n);
    else
        tt_pub_items_free(items, n);
}

static void dispatch(struct api_conn *c)
{
    struct tt_pub_api *api = c->api;
    if (!c->authorized) {
        char m[128], t[256];
        tt_info("control: %s %s code=401 (not authorized)", log_str(c->method, m, sizeof(m)),
                log_str(c->target, t, sizeof(t)));
        respond(c, 401, "Unauthorized", "WWW-Authenticate: Bearer\r\n", "text/plain",
                "Unauthorized.\n", 14);
        return;
    }
    if (c->accept == ACCEPT_NONE) {
        respond_text(c, 406, "Not Acceptable",
                     "Not Acceptable. Supported formats are text/plain and application/json.\n");
        return;
    }
    size_t plen = strlen(c->target);
    if (plen > 1 && c->target[plen - 1] == '/')
        plen--;
    bool post = strcmp(c->method, "POST") == 0;
#define PATH_IS(s) (plen == sizeof(s) - 1 && memcmp(c->target, s, plen) == 0)
    if (PATH_IS("/")) {
        respond_text(c, 200, "OK", "Pushpin API\n");
    } else if (PATH_IS("/publish")) {
        if (post)
            handle_publish(c, c->in.data + c->head_len,
                           c->content_length > 0 ? (size_t)c->content_length : 0);
        else
            respond_method_not_allowed(c);
    } else if (PATH_IS("/recover")) {
        if (post) {
            respond_message(c, "Updated", (size_t)-1);
            if (api->on_recover)
                api->on_recover(api->ctx);
        } else {
            respond_method_not_allowed(c);
        }
    } else {
        respond_text(c, 404, "Not Found", "Not Found\n");
    }
#undef PATH_IS
}

/* Body bytes so far against Content-Length: dispatch when complete. */
static void check_body(struct api_conn *c)
{
    size_t have = c->in.len - c->head_len;
    size_t want = (size_t)c->content_length;
    if (have > want)
        respond_bad_input(c, 400, "Bad Request", "Request body exceeded Content-Length.\n",
                          "body exceeded Content-Length");
    else if (have == want)
        dispatch(c);
}

static void parse_head(struct api_conn *c)
{
    struct tt_pub_api *api = c->api;
    struct tt_h1_request req;
    struct tt_h1_error err = {400, "invalid request"};
    int r = tt_h1_parse_request(c->in.data, c->in.len, api->max_head, &req, &err);
    if (r == TT_EAGAIN)
        return;
    if (r == TT_ETOOBIG) {
        respond_bad_input(c, 400, "Bad Request", "Request header too large.\n", "header too large");
        return;
    }
    if (r < 0) {
        const char *why = err.reason ? err.reason : "invalid request";
        /* Pushpin wants a Content-Length whenever a Transfer-Encoding is sent. */
        if (err.status == 501 || strcmp(why, "unsupported transfer encoding") == 0)
            respond_bad_input(c, 411, "Length Required", "Request requires Content-Length.\n", why);
        else if (strcmp(why, "invalid content length") == 0)
            respond_bad_input(c, 400, "Bad Request", "Bad Content-Length.\n", why);
        else
            respond_bad_input(c, 400, "Bad Request", "Failed to parse request header.\n", why);
        return;
    }
    c->head_len = (size_t)r;
    c->minor_version = req.minor_version;
    c->method = tt_strndup(req.method, req.method_len);
    c->target = tt_strndup(req.target, req.target_len);
    c->accept = negotiate_accept(&req);
    c->authorized = check_auth(api, &req);
    c->content_length = req.framing.content_length;

    /* Method names are case-sensitive, as in Pushpin: "get" is assumed to carry a body. */
    bool assumes_body = strcmp(c->method, "HEAD") != 0 && strcmp(c->method, "GET") != 0 &&
                        strcmp(c->method, "DELETE") != 0;
    bool has_te = tt_h1_find_header(req.headers, req.num_headers, "Transfer-Encoding", 0) >= 0;
    if (c->content_length < 0) {
        if (has_te || assumes_body) {
            respond_bad_input(c, 411, "Length Required", "Request requires Content-Length.\n",
                              "no Content-Length");
            return;
        }
        /* Anything after a body-less head is ignored, as Pushpin does. */
        c->content_length = 0;
        c->in.len = c->head_len;
        dispatch(c);
        return;
    }
    if ((uint64_t)c->content_length > api->max_body) {
        respond_bad_input(c, 400, "Bad Request", "Request body too large.\n", "body too large");
        return;
    }
    c->state = ST_BODY;
    if (req.expect_continue) {
        static char cont0[] = "HTTP/1.0 100 Continue\r\n\r\n";
        static char cont1[] = "HTTP/1.1 100 Continue\r\n\r\n";
        char *s = c->minor_version == 0 ? cont0 : cont1;
        uv_buf_t buf = uv_buf_init(s, (unsigned)strlen(s));
        if (uv_write(&c->continue_req, (uv_stream_t *)&c->tcp, &buf, 1, on_continue_written) < 0) {
            conn_close(c);
            return;
        }
    }
    check_body(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct api_conn *c = h->data;
    *buf = uv_buf_init(c->api->scratch, sizeof(c->api->scratch));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct api_conn *c = s->data;
    if (nread == 0 || c->state == ST_CLOSING)
        return;
    if (nread < 0) {
        if (c->state == ST_HEAD && c->in.len > 0)
            tt_debug("control: client closed before a full request");
        /* While the answer is still being written, let the write finish or fail. */
        c->peer_eof = true;
        if (c->state != ST_RESPONDED)
            conn_close(c);
        else
            uv_read_stop(s);
        return;
    }
    if (c->state != ST_HEAD && c->state != ST_BODY)
        return; /* draining after our answer */
    /* An idle timeout: a publisher that keeps sending is never cut (the size caps bound
     * it), one that goes quiet is. */
    uv_timer_start(&c->timer, on_timeout, c->api->timeout_ms, 0);
    size_t n = (size_t)nread;
    if (c->state == ST_BODY) {
        /* Keep at most one byte past the body, enough to tell "exceeded" apart. */
        size_t want = c->head_len + (size_t)c->content_length + 1;
        if (c->in.len + n > want)
            n = want - c->in.len;
    }
    if (tt_buf_append(&c->in, buf->base, n) < 0) {
        conn_close(c);
        return;
    }
    if (c->state == ST_HEAD)
        parse_head(c);
    else
        check_body(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tt_pub_api *api = server->data;
    if (status < 0) {
        tt_warn("control: accept failed: %s", uv_strerror(status));
        return;
    }
    struct api_conn *c = tt_calloc(1, sizeof(*c));
    c->api = api;
    c->state = ST_HEAD;
    c->content_length = -1;
    c->minor_version = 1;
    tt_buf_init(&c->in, api->max_head + api->max_body + 1 + sizeof(api->scratch));
    uv_tcp_init(api->loop, &c->tcp);
    uv_timer_init(api->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->continue_req.data = c->write_req.data = c->shutdown_req.data = c;
    c->open_handles = 2;
    tt_list_insert_tail(&api->conns, &c->link);
    api->num_conns++;
    int r = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (r < 0) {
        tt_warn("control: accept failed: %s", uv_strerror(r));
        conn_close(c);
        return;
    }
    if (api->num_conns > API_MAX_CONNS) {
        /* Accept-and-close keeps the backlog from spinning the loop. */
        uint64_t now = tt_now_ms();
        if (now - api->last_full_warn_ms > 10000) {
            tt_warn("control: connection limit (%d) reached, closing new connections",
                    API_MAX_CONNS);
            api->last_full_warn_ms = now;
        }
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_timeout, api->timeout_ms, 0);
    r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0)
        conn_close(c);
}

static void listener_closed(uv_handle_t *h)
{
    struct tt_pub_api *api = h->data;
    api->listener_open = false;
    api_maybe_free(api);
}

int tt_pub_api_start(uv_loop_t *loop, const struct tt_config *cfg, tt_pub_items_fn on_items,
                     tt_pub_recover_fn on_recover, void *ctx, struct tt_pub_api **out)
{
    *out = NULL;
    const char *addr = cfg->push_in_http_addr ? cfg->push_in_http_addr : "127.0.0.1";
    int port = cfg->push_in_http_port;
    if (port < 0 || port > 65535)
        return -EINVAL;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss) != 0) {
        tt_err("control: push_in_http_addr '%s' is not an IP address", addr);
        return -EINVAL;
    }

    struct tt_pub_api *api = tt_calloc(1, sizeof(*api));
    api->loop = loop;
    api->max_head = cfg->push_in_http_max_headers_size ? cfg->push_in_http_max_headers_size : 10000;
    api->max_body = cfg->push_in_http_max_body_size;
    api->timeout_ms =
        cfg->head_timeout_ms > 0 ? (uint64_t)cfg->head_timeout_ms : API_DEFAULT_TIMEOUT_MS;
    api->on_items = on_items;
    api->on_recover = on_recover;
    api->ctx = ctx;
    tt_list_init(&api->conns);
    if (cfg->publish_key && cfg->publish_key[0]) {
        char err[256];
        if (tt_key_parse(cfg->publish_key, cfg->basedir, &api->key, err, sizeof(err)) < 0) {
            tt_err("control: publish_key: %s", err);
            free(api);
            return TT_ECONFIG;
        }
        api->basic_password = tt_strdup(cfg->publish_key);
    }

    /* Bind and listen on a plain socket first, so that a failure leaves no libuv handle
     * behind (nothing to close, no loop run needed to free). */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int r = -errno;
        tt_err("control: socket: %s", strerror(errno));
        tt_key_free(api->key);
        free(api->basic_password);
        free(api);
        return r;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t sslen =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, API_BACKLOG) < 0) {
        int r = -errno;
        tt_err("control: cannot listen on %s:%d: %s", addr, port, strerror(errno));
        close(fd);
        tt_key_free(api->key);
        free(api->basic_password);
        free(api);
        return r;
    }
    uv_tcp_init(loop, &api->listener);
    api->listener.data = api;
    api->listener_open = true;
    int r = uv_tcp_open(&api->listener, fd);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&api->listener, API_BACKLOG, on_connection);
    if (r < 0) {
        /* Not expected once listen(2) worked; the handle must still be closed. */
        tt_err("control: cannot listen on %s:%d: %s", addr, port, uv_strerror(r));
        api->stopping = true;
        uv_close((uv_handle_t *)&api->listener, listener_closed);
        return r;
    }
    tt_info("control: publish API on %s:%d", addr, port);
    *out = api;
    return 0;
}

void tt_pub_api_stop(struct tt_pub_api *api)
{
    if (!api || api->stopping)
        return;
    api->stopping = true;
    uv_close((uv_handle_t *)&api->listener, listener_closed);
    struct tt_list *pos, *tmp;
    tt_list_for_each_safe(pos, tmp, &api->conns)
    {
        conn_close(TT_CONTAINER_OF(pos, struct api_conn, link));
    }
}

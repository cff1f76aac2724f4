#include "proxy/forward.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

bool tt_forward_is_trusted(struct tt_server *srv, const struct tt_h1_request *h)
{
    if (!srv->upstream_key)
        return false;
    int i = tt_h1_find_header(h->headers, h->num_headers, "Grip-Sig", 0);
    if (i < 0)
        return false;
    return tt_jwt_verify(srv->upstream_key, h->headers[i].value, h->headers[i].value_len,
                         tt_unix_now(), true) == 0;
}

bool tt_forward_is_secure(struct tt_server *srv, const struct tt_client *c,
                          const struct tt_h1_request *h)
{
    if (c->tls)
        return true;
    if (!srv->cfg.accept_x_forwarded_protocol)
        return false;
    int k = tt_h1_find_header(h->headers, h->num_headers, "X-Forwarded-Proto", 0);
    if (k < 0)
        k = tt_h1_find_header(h->headers, h->num_headers, "X-Forwarded-Protocol", 0);
    return k >= 0 && (tt_strieq(h->headers[k].value, h->headers[k].value_len, "https") ||
                      tt_strieq(h->headers[k].value, h->headers[k].value_len, "wss"));
}

/* Is name one of the tokens of the request's Connection header(s)? */
static bool named_in_connection(const struct tt_h1_request *h, const char *name, size_t len)
{
    for (int i = tt_h1_find_header(h->headers, h->num_headers, "Connection", 0); i >= 0;
         i = tt_h1_find_header(h->headers, h->num_headers, "Connection", (size_t)i + 1)) {
        const char *tok;
        size_t tl, pos = 0;
        while (tt_next_item(h->headers[i].value, h->headers[i].value_len, &pos, &tok, &tl))
            if (tt_strieqn(tok, tl, name, len))
                return true;
    }
    return false;
}

/* "Content_Length", "transfer_encoding": some servers and CGI gateways fold '_' into '-',
 * so such a name could mean framing to a backend while meaning nothing to us (request
 * smuggling). Such twins of the framing and hop-by-hop headers are never forwarded, as
 * nginx and Apache drop them. */
static bool underscore_twin(const char *name, size_t len)
{
    static const char *const framing[] = {"content-length", "transfer-encoding",
                                          "connection",     "host",
                                          "upgrade",        "te",
                                          "trailer",        "keep-alive",
                                          "expect",         "proxy-connection"};
    char norm[32];
    if (len >= sizeof(norm))
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i] == '_' ? '-' : name[i];
        norm[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
    }
    for (size_t i = 0; i < TT_ARRAY_LEN(framing); i++)
        if (strlen(framing[i]) == len && memcmp(norm, framing[i], len) == 0)
            return true;
    return false;
}

static bool dropped(const struct tt_h1_request *h, const struct tt_h1_header *x, bool trusted,
                    const struct tt_route *route, bool xff_rewrite, bool xfp_rewrite,
                    bool cdn_loop)
{
#define NAME(s) {s, sizeof(s) - 1}
    static const struct {
        const char *name;
        size_t len;
    } always[] = {
        NAME("Connection"), NAME("Keep-Alive"),     NAME("Accept-Encoding"),
        NAME("Content-Encoding"), NAME("Transfer-Encoding"), NAME("Expect"),
        NAME("Content-Length"),   NAME("Host"),     NAME("TE"),
        NAME("Upgrade"),          NAME("Proxy-Connection"), NAME("Trailer"),
        NAME("Pushpin-Route"),
    };
#undef NAME
    for (size_t i = 0; i < TT_ARRAY_LEN(always); i++)
        if (x->name_len == always[i].len && tt_strieqn(x->name, x->name_len, always[i].name,
                                                       always[i].len))
            return true;
    if (!trusted && tt_strihas_prefix(x->name, x->name_len, "Grip-"))
        return true;
    if (memchr(x->name, '_', x->name_len) && underscore_twin(x->name, x->name_len))
        return true;
    if (!route->orig_headers && tt_strihas_prefix(x->name, x->name_len, "eb9bf0f5-"))
        return true;
    if (xff_rewrite && tt_strieq(x->name, x->name_len, "X-Forwarded-For"))
        return true;
    if (cdn_loop && tt_strieq(x->name, x->name_len, "CDN-Loop"))
        return true;
    if (xfp_rewrite && (tt_strieq(x->name, x->name_len, "X-Forwarded-Proto") ||
                        tt_strieq(x->name, x->name_len, "X-Forwarded-Protocol")))
        return true;
    for (size_t i = 0; i < route->num_headers; i++)
        if (tt_strieq(x->name, x->name_len, route->headers[i].name))
            return true;
    return named_in_connection(h, x->name, x->name_len);
}

static void build_xff(const struct tt_h1_request *h, const struct tt_xff_rule *rule,
                      const char *peer, struct tt_buf *out)
{
    /* Collect every value, split on commas. */
    const char *items[128];
    size_t lens[128];
    size_t n = 0;
    for (int i = tt_h1_find_header(h->headers, h->num_headers, "X-Forwarded-For", 0); i >= 0;
         i = tt_h1_find_header(h->headers, h->num_headers, "X-Forwarded-For", (size_t)i + 1)) {
        const char *tok;
        size_t tl, pos = 0;
        while (n < TT_ARRAY_LEN(items) &&
               tt_next_item(h->headers[i].value, h->headers[i].value_len, &pos, &tok, &tl)) {
            if (tl) {
                items[n] = tok;
                lens[n] = tl;
                n++;
            }
        }
    }
    size_t first = 0;
    if (rule->truncate >= 0 && n > (size_t)rule->truncate)
        first = n - (size_t)rule->truncate;
    struct tt_buf v;
    tt_buf_init(&v, 0);
    for (size_t i = first; i < n; i++) {
        if (v.len)
            tt_buf_appends(&v, ", ");
        tt_buf_append(&v, items[i], lens[i]);
    }
    if (rule->append && peer[0]) {
        if (v.len)
            tt_buf_appends(&v, ", ");
        tt_buf_appends(&v, peer);
    }
    if (v.len)
        tt_buf_appendf(out, "X-Forwarded-For: %s\r\n", v.data);
    tt_buf_deinit(&v);
}

static void add_grip_sig(struct tt_server *srv, struct tt_client *c, const struct tt_route *route,
                         struct tt_buf *out)
{
    const char *iss = route->sig_iss ? route->sig_iss : srv->cfg.sig_iss;
    char token[2048];
    int n = -1;
    if (route->sig_key) {
        struct tt_key *k = NULL;
        char err[128];
        if (tt_key_parse(route->sig_key, srv->cfg.basedir, &k, err, sizeof(err)) == 0) {
            n = tt_jwt_sign_grip(k, iss ? iss : "pushpin", tt_unix_now() + 3600, token,
                                 sizeof(token));
            tt_key_free(k);
        } else {
            tt_warn("route line %d: bad sig_key: %s", route->line, err);
        }
    } else if (srv->sig_key) {
        /* The global token is the same for every request: sign it once a second. */
        struct tt_worker *w = c->w;
        int64_t now = tt_unix_now();
        if (!w->sig_cache[0] || now != w->sig_cache_time || route->sig_iss) {
            n = tt_jwt_sign_grip(srv->sig_key, iss ? iss : "pushpin", now + 3600, token,
                                 sizeof(token));
            if (n > 0 && !route->sig_iss && (size_t)n < sizeof(w->sig_cache)) {
                memcpy(w->sig_cache, token, (size_t)n + 1);
                w->sig_cache_time = now;
            }
        } else {
            n = (int)strlen(w->sig_cache);
            memcpy(token, w->sig_cache, (size_t)n + 1);
        }
    }
    if (n > 0) {
        tt_buf_append(out, "Grip-Sig: ", 10);
        tt_buf_append(out, token, (size_t)n);
        tt_buf_append(out, "\r\n", 2);
    }
}

void tt_forward_build_head(struct tt_server *srv, struct tt_client *c,
                           const struct tt_h1_request *h, const struct tt_route *route,
                           const struct tt_route_target *t, const char *path, size_t path_len,
                           bool trusted, struct tt_buf *out)
{
    const struct tt_config *cfg = &srv->cfg;
    tt_buf_append(out, h->method, h->method_len);
    tt_buf_appends(out, " ");
    /* Path rewrites: path_rem drops leading chars; replace_beg swaps the path_beg prefix. */
    if (route->path_rem > 0) {
        size_t k = TT_MIN((size_t)route->path_rem, path_len);
        path += k;
        path_len -= k;
        if (path_len == 0 || path[0] != '/')
            tt_buf_appends(out, "/");
        tt_buf_append(out, path, path_len);
    } else if (route->replace_beg && route->path_beg &&
               path_len >= strlen(route->path_beg) &&
               memcmp(path, route->path_beg, strlen(route->path_beg)) == 0) {
        tt_buf_appends(out, route->replace_beg);
        size_t k = strlen(route->path_beg);
        tt_buf_append(out, path + k, path_len - k);
    } else {
        tt_buf_append(out, path, path_len);
    }
    tt_buf_appends(out, " HTTP/1.1\r\n");

    const char *hosthdr = route->as_host ? route->as_host : t->host_header;
    if (hosthdr) {
        tt_buf_append(out, "Host: ", 6);
        tt_buf_appends(out, hosthdr);
        tt_buf_append(out, "\r\n", 2);
    } else if (h->host) {
        tt_buf_append(out, "Host: ", 6);
        tt_buf_append(out, h->host, h->host_len);
        tt_buf_append(out, "\r\n", 2);
    } else {
        tt_buf_appendf(out, "Host: %s:%u\r\n", t->host, t->port);
    }

    const struct tt_xff_rule *rule = trusted ? &cfg->xff_trusted : &cfg->xff;
    bool xff_rewrite = rule->truncate >= 0 || rule->append;
    bool xfp_rewrite = cfg->set_x_forwarded_protocol != TT_XFP_OFF;
    /* Incoming X-Forwarded-Proto/-Protocol go whenever any of the three options is on. */
    bool xfp_drop = xfp_rewrite || cfg->accept_x_forwarded_protocol;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tt_h1_header *x = &h->headers[i];
        if (dropped(h, x, trusted, route, xff_rewrite, xfp_drop, cfg->cdn_loop != NULL))
            continue;
        tt_buf_append(out, x->name, x->name_len);
        tt_buf_appends(out, ": ");
        tt_buf_append(out, x->value, x->value_len);
        tt_buf_appends(out, "\r\n");
    }
    for (size_t i = 0; i < route->num_headers; i++)
        if (route->headers[i].value && route->headers[i].value[0])
            tt_buf_appendf(out, "%s: %s\r\n", route->headers[i].name, route->headers[i].value);
    if (xff_rewrite)
        build_xff(h, rule, c->peer, out);
    if (cfg->cdn_loop) {
        /* cdn_loop: the existing CDN-Loop values, then ours, as one header. */
        tt_buf_appends(out, "CDN-Loop: ");
        for (int i = tt_h1_find_header(h->headers, h->num_headers, "CDN-Loop", 0); i >= 0;
             i = tt_h1_find_header(h->headers, h->num_headers, "CDN-Loop", (size_t)i + 1)) {
            tt_buf_append(out, h->headers[i].value, h->headers[i].value_len);
            tt_buf_appends(out, ", ");
        }
        tt_buf_appends(out, cfg->cdn_loop);
        tt_buf_appends(out, "\r\n");
    }
    /* A secure request (a TLS listener, or a trusted front saying so) tells the backend its
     * scheme: https, or wss for a WebSocket. */
    if (xfp_rewrite && tt_forward_is_secure(srv, c, h)) {
        const char *scheme = h->websocket ? "wss" : "https";
        tt_buf_appendf(out, "X-Forwarded-Proto: %s\r\n", scheme);
        if (cfg->set_x_forwarded_protocol == TT_XFP_TRUE)
            tt_buf_appendf(out, "X-Forwarded-Protocol: %s\r\n", scheme);
    }
    if (!trusted && !route->no_grip) {
        add_grip_sig(srv, c, route, out);
        tt_buf_appends(out, "Grip-Feature: " TT_GRIP_FEATURE "\r\n");
    }
}

void tt_forward_build_internal(struct tt_server *srv, struct tt_client *c,
                               const struct tt_route *route, const char *method,
                               const char *path, const char *host, const char *extra,
                               struct tt_buf *out)
{
    tt_buf_appendf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host);
    if (!route->no_grip) {
        add_grip_sig(srv, c, route, out);
        tt_buf_appends(out, "Grip-Feature: " TT_GRIP_FEATURE "\r\n");
    }
    if (extra)
        tt_buf_appends(out, extra);
    tt_buf_appends(out, "\r\n");
}

/* links.c: see links.h. */
#include "proxy/links.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/log.h"
#include "proxy/forward.h"
#include "proxy/upstream.h"

bool tt_links_resolve(struct tt_client *c, const char *url, char *path, size_t pathsz,
                      char *host, size_t hostsz, struct tt_route_target *adhoc,
                      const struct tt_route_target **targets, size_t *num_targets)
{
    struct tt_req *q = c->req;
    *targets = q->route->targets;
    *num_targets = q->route->num_targets;
    snprintf(host, hostsz, "%s", q->host ? q->host : "localhost");
    bool https = strncmp(url, "https://", 8) == 0;
    if (strncmp(url, "http://", 7) == 0 || https) {
        const char *hp = url + (https ? 8 : 7);
        const char *slash = strchr(hp, '/');
        size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
        snprintf(host, hostsz, "%.*s", (int)TT_MIN(hl, hostsz - 1), hp);
        snprintf(path, pathsz, "%s", slash ? slash : "/");
        if (!q->host || strcasecmp(host, q->host) != 0) {
            free(adhoc->host);
            memset(adhoc, 0, sizeof(*adhoc));
            char *colon = strrchr(host, ':');
            adhoc->type = TT_TARGET_HTTP;
            adhoc->ssl = https;
            adhoc->port = https ? 443 : 80;
            if (colon && !strchr(colon, ']')) {
                adhoc->host = tt_strndup(host, (size_t)(colon - host));
                int64_t port = tt_parse_uint(colon + 1, strlen(colon + 1), 65535);
                adhoc->port = (uint16_t)(port > 0 ? port : 80);
            } else {
                adhoc->host = tt_strdup(host);
            }
            *targets = adhoc;
            *num_targets = 1;
        }
    } else if (url[0] == '/') {
        snprintf(path, pathsz, "%s", url);
    } else {
        /* relative to the directory of the request path */
        const char *rp = q->path ? q->path : "/";
        size_t dl = strcspn(rp, "?");
        while (dl > 0 && rp[dl - 1] != '/')
            dl--;
        snprintf(path, pathsz, "%.*s%s", (int)dl, rp, url);
    }
    return *num_targets > 0 && (*targets)[0].type == TT_TARGET_HTTP;
}

/* ---- gone links ---------------------------------------------------------------------- */

/* A fire-and-forget POST that outlives the client: it owns what it points at. */
struct gone_req {
    struct tt_routes *routes;
    struct tt_route_target adhoc;
};

static void gone_done(struct gone_req *g)
{
    tt_routes_unref(g->routes);
    free(g->adhoc.host);
    free(g);
}

static int gone_on_head(void *ctx, const struct tt_h1_response *resp)
{
    (void)ctx;
    (void)resp;
    return 0;
}

static void gone_on_data(void *ctx, const char *d, size_t n)
{
    (void)ctx;
    (void)d;
    (void)n;
}

static void gone_on_end(void *ctx)
{
    gone_done(ctx);
}

static void gone_on_error(void *ctx, enum tt_up_error err, const char *tried)
{
    (void)err;
    tt_debug("gone link request failed (%s)", tried);
    gone_done(ctx);
}

static const struct tt_upstream_cbs gone_cbs = {
    .on_head = gone_on_head,
    .on_data = gone_on_data,
    .on_end = gone_on_end,
    .on_error = gone_on_error,
};

void tt_links_post_gone(struct tt_client *c)
{
    struct tt_req *q = c->req;
    if (!q || !q->gone_link || !q->route)
        return;
    struct gone_req *g = tt_calloc(1, sizeof(*g));
    g->routes = q->routes;
    tt_routes_ref(g->routes);
    char host[300], path[4200];
    const struct tt_route_target *targets;
    size_t num_targets;
    if (!tt_links_resolve(c, q->gone_link, path, sizeof(path), host, sizeof(host), &g->adhoc,
                      &targets, &num_targets)) {
        gone_done(g);
        return;
    }
    struct tt_buf head;
    tt_buf_init(&head, 0);
    tt_forward_build_internal(c->w->srv, c, q->route, "POST", path, host,
                              "Content-Length: 0\r\n", &head);
    if (!tt_upstream_start(c->w, targets, num_targets, head.data, head.len, 0, &gone_cbs, g))
        gone_done(g);
    tt_buf_deinit(&head);
}

#include "proxy/testhandler.h"

#include <stdio.h>

#include <stdlib.h>

void tt_testhandler_respond(const struct tt_route *route, const char *method, const char *path,
                            const char *body, size_t body_len, bool body_too_big,
                            struct tt_resp *out)
{
    (void)method;
    (void)body;
    (void)body_len;
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    char p[1024];
    snprintf(p, sizeof(p), "%.*s", (int)TT_MIN(plen, sizeof(p) - 1), path);
    if (route && route->path_beg) {
        size_t bl = strlen(route->path_beg);
        if (bl && route->path_beg[bl - 1] == '/')
            bl--;
        if (strncmp(p, route->path_beg, bl) == 0)
            memmove(p, p + bl, strlen(p + bl) + 1);
    }
    size_t l = strlen(p);
    if (l > 0 && p[l - 1] == '/')
        p[--l] = '\0';
    if (body_too_big) {
        tt_resp_text(out, 400, "request too large\n");
        return;
    }
    if (l == 0) {
        tt_resp_text(out, 200, "Hello from the Pushpin test handler!\n");
        return;
    }
    bool response = strcmp(p, "/response") == 0, stream = strcmp(p, "/stream") == 0;
    if (!response && !stream) {
        tt_resp_text(out, 404, "no such test resource\n");
        return;
    }
    struct tt_buf chans;
    tt_buf_init(&chans, 0);
    for (const char *s = q ? q + 1 : NULL; s && *s;) {
        const char *e = strchr(s, '&');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n > 8 && memcmp(s, "channel=", 8) == 0) {
            char *v = tt_percent_decode(s + 8, n - 8, NULL);
            if (v[0] && !strchr(v, ',')) {
                if (chans.len)
                    tt_buf_appends(&chans, ", ");
                tt_buf_appends(&chans, v);
            }
            free(v);
        }
        s = e ? e + 1 : NULL;
    }
    if (!chans.len)
        tt_buf_appends(&chans, "test");
    if (response) {
        tt_resp_text(out, 200, "nothing for now\n");
        tt_resp_add_header(out, "Grip-Hold", "response");
    } else {
        tt_resp_text(out, 200, "[stream opened]\n");
        tt_resp_add_header(out, "Grip-Hold", "stream");
    }
    tt_resp_add_header(out, "Grip-Channel", chans.data);
    tt_buf_deinit(&chans);
}

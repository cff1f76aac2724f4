#include "proxy/cors.h"

#include <stdlib.h>

static bool is_simple(const char *name)
{
    static const char *const simple[] = {"Cache-Control", "Content-Language", "Content-Length",
                                         "Content-Type",  "Expires",          "Last-Modified",
                                         "Pragma"};
    size_t n = strlen(name);
    for (size_t i = 0; i < TT_ARRAY_LEN(simple); i++)
        if (tt_strieq(name, n, simple[i]))
            return true;
    return tt_strihas_prefix(name, n, "Access-Control-") || tt_strihas_prefix(name, n, "Grip-");
}

void tt_cors_apply(struct tt_resp *r, const char *origin, const char *req_method,
                   const char *req_headers)
{
    if (!tt_resp_get_header(r, "Access-Control-Allow-Methods"))
        tt_resp_add_header(r, "Access-Control-Allow-Methods",
                           req_method ? req_method : "OPTIONS, HEAD, GET, POST, PUT, DELETE");
    if (!tt_resp_get_header(r, "Access-Control-Allow-Headers") && req_headers)
        tt_resp_add_header(r, "Access-Control-Allow-Headers", req_headers);
    if (!tt_resp_get_header(r, "Access-Control-Expose-Headers")) {
        struct tt_buf b;
        tt_buf_init(&b, 0);
        for (size_t i = 0; i < r->num_headers; i++) {
            if (is_simple(r->headers[i].name))
                continue;
            if (b.len)
                tt_buf_appends(&b, ", ");
            tt_buf_appends(&b, r->headers[i].name);
        }
        if (b.len)
            tt_resp_add_header(r, "Access-Control-Expose-Headers", b.data);
        tt_buf_deinit(&b);
    }
    if (!tt_resp_get_header(r, "Access-Control-Allow-Credentials"))
        tt_resp_add_header(r, "Access-Control-Allow-Credentials", "true");
    if (!tt_resp_get_header(r, "Access-Control-Allow-Origin"))
        tt_resp_add_header(r, "Access-Control-Allow-Origin", origin ? origin : "*");
    if (!tt_resp_get_header(r, "Access-Control-Max-Age"))
        tt_resp_add_header(r, "Access-Control-Max-Age", "3600");
}

/* fuzz_jsonp.c: JSON-P request rewrite and response wrapping. The first byte picks the
 * route's JSON-P settings and the wrap style, the rest is the request target. When JSON-P
 * applies, a response whose body, reason and a header value are the target bytes is
 * wrapped, and the wrapper must hold valid JSON (extended mode) with the right values. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "proxy/jsonp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool callback_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$.[]", *s))
            return false;
    return true;
}

static void check_wrap(const struct tt_jsonp *j, const char *text, size_t len, bool handler)
{
    struct tt_resp in, out;
    tt_resp_init(&in, 200 + (int)(len % 400));
    char *v = malloc(len + 1);
    memcpy(v, text, len);
    v[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (v[i] == '\0')
            v[i] = ' '; /* header strings are C strings */
    in.reason = strdup(v);
    tt_resp_add_header(&in, "X-F", v);
    tt_resp_add_header(&in, "x-f", "2");
    tt_resp_add_header(&in, "Cache-Control", "none");
    tt_resp_add_header(&in, "Content-Length", "1");
    tt_buf_append(&in.body, text, len);
    if (tt_jsonp_wrap(j, &in, handler, &out) != 0)
        abort();
    size_t cbl = strlen(j->callback);
    const char *b = out.body.data;
    size_t bl = out.body.len;
    if (out.status != 200 || bl < cbl + 8 || memcmp(b, "/**/", 4) != 0 ||
        memcmp(b + 4, j->callback, cbl) != 0 || b[4 + cbl] != '(' ||
        memcmp(b + bl - 3, ");\n", 3) != 0)
        abort();
    if (!j->basic) {
        json_error_t e;
        json_t *o = json_loadb(b + 5 + cbl, bl - 8 - cbl, JSON_ALLOW_NUL, &e);
        if (!o || json_integer_value(json_object_get(o, "code")) != in.status)
            abort();
        json_t *h = json_object_get(o, "headers");
        if (!json_is_object(h) || !json_is_string(json_object_get(o, "body")) ||
            !json_is_string(json_object_get(o, "reason")))
            abort();
        /* ASCII text without controls or quotes comes through unchanged */
        bool plain = true;
        for (size_t i = 0; i < len && plain; i++)
            plain = text[i] >= 0x20 && text[i] < 0x7f && text[i] != '"' && text[i] != '\\';
        if (plain && (json_string_length(json_object_get(o, "body")) != len ||
                      memcmp(json_string_value(json_object_get(o, "body")), text, len) != 0))
            abort();
        json_decref(o);
    }
    if (!tt_resp_get_header(&out, "Content-Type") ||
        strcmp(tt_resp_get_header(&out, "Content-Type"), "application/javascript") != 0)
        abort();
    free(v);
    tt_resp_deinit(&in);
    tt_resp_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const char *target = (const char *)data + 1;
    size_t len = size - 1;

    struct tt_route r;
    memset(&r, 0, sizeof(r));
    r.aco = true;
    r.jsonp_mode = sel & 1;
    r.jsonp_cb = (sel & 2) ? "cbx" : "callback";
    r.jsonp_body = (sel & 4) ? "bparam" : NULL;
    r.jsonp_defcb = (sel & 8) ? "jpcb" : NULL;
    r.jsonp_defmethod = (sel & 16) ? NULL : r.jsonp_mode ? "POST" : "GET";
    bool handler = sel & 32;

    struct tt_jsonp j;
    const char *err = NULL;
    int rc = tt_jsonp_request(&r, !(sel & 64), "GET", target, len, &j, &err);
    if (rc == TT_EPARSE) {
        static const char *const texts[] = {
            "Invalid callback parameter.", "Invalid _method parameter.",
            "Invalid _headers parameter.", "Invalid body parameter.", "Invalid _body parameter."};
        bool known = false;
        for (size_t i = 0; i < 5; i++)
            known |= err && strcmp(err, texts[i]) == 0;
        if (!known || j.active || j.callback || j.target)
            abort();
        return 0;
    }
    if (rc != 0 || err)
        abort();
    if (!j.active) {
        if (j.callback || j.target || j.headers || j.body)
            abort();
        return 0;
    }
    if ((sel & 64) || !callback_ok(j.callback) || !j.method[0] || !j.target ||
        strlen(j.target) > len || strchr(j.target, '#') || (j.has_body != (j.body != NULL)) ||
        (j.body_is_json && !j.has_body) || (j.basic != (r.jsonp_mode == 1)))
        abort();
    for (size_t i = 0; i < j.num_headers; i++) {
        if (!j.headers[i].name[0] || strpbrk(j.headers[i].value, "\r\n") ||
            (i && strcmp(j.headers[i - 1].name, j.headers[i].name) >= 0))
            abort();
    }
    check_wrap(&j, target, len, handler);
    tt_jsonp_deinit(&j);
    return 0;
}

/* testws.c: the test target's WebSocket handler (SPEC.md section 10): /ws echoes every
 * message; on a GRIP route it answers with the grip extension, subscribes the connection
 * to the `channel` query params (default "test") with c: control messages and wraps its
 * echoes in "m:", so the client still sees plain echoes and published ws-messages reach
 * it. It speaks to the session exactly as a real backend does, so the GRIP path it takes
 * is the real one. Other paths are rejected with 404 "no such test resource". */
#include <jansson.h>
#include <stdlib.h>

#include "core/log.h"
#include "websocket/backends.h"

struct test_be {
    struct tt_ws_backend b;
    uv_timer_t *timer; /* the accept runs on the next loop turn, as a real backend's would */
    bool grip;
};

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

/* The request path as the test handler sees it: without the route's path_beg (minus a
 * trailing '/'), the query, and one trailing '/'. */
static void test_path(const struct tt_ws_session *s, const char **path, size_t *len)
{
    const char *p = s->req->target;
    /* The target is a span of the copied head, not a C string. */
    const char *q = memchr(p, '?', s->req->target_len);
    size_t n = q ? (size_t)(q - p) : s->req->target_len;
    const char *beg = s->route->path_beg;
    if (beg) {
        size_t bl = strlen(beg);
        if (bl && beg[bl - 1] == '/')
            bl--;
        if (bl <= n && memcmp(p, beg, bl) == 0) {
            p += bl;
            n -= bl;
        }
    }
    if (n >= 2 && p[n - 1] == '/')
        n--;
    *path = p;
    *len = n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The channel query params (percent-decoded, duplicates dropped), "test" when none. */
static char **query_channels(const struct tt_ws_session *s, size_t *count)
{
    const char *q = memchr(s->req->target, '?', s->req->target_len);
    size_t qlen = q ? s->req->target_len - (size_t)(q + 1 - s->req->target) : 0;
    const char *item;
    size_t il, pos = 0;
    char **names = NULL;
    size_t num = 0;
    while (q) {
        /* query items are separated by '&' */
        if (pos >= qlen)
            break;
        item = q + 1 + pos;
        const char *amp = memchr(item, '&', qlen - pos);
        il = amp ? (size_t)(amp - item) : qlen - pos;
        pos += il + 1;
        if (il > 8 && memcmp(item, "channel=", 8) == 0) {
            size_t dl;
            names = tt_realloc(names, (num + 1) * sizeof(*names));
            names[num++] = tt_percent_decode(item + 8, il - 8, &dl);
        }
    }
    if (!num) {
        names = tt_malloc(sizeof(*names));
        names[num++] = tt_strdup("test");
    }
    *count = num;
    return names;
}

/* Subscribe the way a GRIP backend does: c: control messages. Frees names. */
static void subscribe_channels(struct test_be *t, char **names, size_t num)
{
    struct tt_ws_session *s = t->b.s;
    for (size_t i = 0; i < num && !s->closing; i++) {
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup = dup || strcmp(names[k], names[i]) == 0;
        if (dup)
            continue;
        json_t *o = json_pack("{s:s,s:s}", "type", "subscribe", "channel", names[i]);
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (js) {
            size_t jl = strlen(js);
            char *m = tt_malloc(jl + 2);
            memcpy(m, "c:", 2);
            memcpy(m + 2, js, jl);
            tt_ws_session_backend_message(s, TT_WS_OP_TEXT, (const uint8_t *)m, jl + 2);
            free(m);
            free(js);
        }
    }
    free_names(names, num);
}

static void on_accept(uv_timer_t *tm)
{
    struct test_be *t = tm->data;
    struct tt_ws_session *s = t->b.s;
    const char *path;
    size_t len;
    test_path(s, &path, &len);
    if (len != 3 || memcmp(path, "/ws", 3) != 0) {
        struct tt_resp r;
        tt_resp_text(&r, 404, "no such test resource\n");
        tt_ws_session_rejected(s, &r); /* frees us */
        tt_resp_deinit(&r);
        return;
    }
    /* The proxy offers the test handler the grip extension on GRIP routes. */
    t->grip = !s->route->no_grip;
    size_t num;
    char **names = query_channels(s, &num); /* the request is gone once accepted */
    struct tt_ws_grip_ext ext = {.present = t->grip, .prefix = "m:", .prefix_len = 2};
    tt_ws_session_accepted(s, NULL, 0, &ext);
    if (t->grip && !s->closing)
        subscribe_channels(t, names, num);
    else
        free_names(names, num);
}

static void test_start(struct tt_ws_backend *b)
{
    struct test_be *t = (struct test_be *)b;
    t->timer = tt_malloc(sizeof(*t->timer));
    uv_timer_init(&tt_ws_session_worker(b->s)->loop, t->timer);
    t->timer->data = t;
    uv_timer_start(t->timer, on_accept, 0, 0);
}

static void test_message(struct tt_ws_backend *b, unsigned opcode, const uint8_t *data,
                         size_t len)
{
    struct test_be *t = (struct test_be *)b;
    if (t->grip && (opcode == TT_WS_OP_TEXT || opcode == TT_WS_OP_BINARY)) {
        uint8_t *m = tt_malloc(len + 2);
        memcpy(m, "m:", 2);
        if (len)
            memcpy(m + 2, data, len);
        tt_ws_session_backend_message(b->s, opcode, m, len + 2);
        free(m);
        return;
    }
    tt_ws_session_backend_message(b->s, opcode, data, len);
}

static void test_close(struct tt_ws_backend *b, int code, const uint8_t *reason, size_t len)
{
    /* Closes back with the client's code and reason (this frees us). */
    tt_ws_session_backend_closed(b->s, code, reason, len);
}

static void test_free(struct tt_ws_backend *b, bool disconnect)
{
    (void)disconnect;
    struct test_be *t = (struct test_be *)b;
    if (t->timer)
        uv_close((uv_handle_t *)t->timer, timer_closed);
    free(t);
}

static const struct tt_ws_backend_ops test_ops = {
    .start = test_start,
    .message = test_message,
    .close = test_close,
    .free = test_free,
};

struct tt_ws_backend *tt_ws_test_new(struct tt_ws_session *s)
{
    struct test_be *t = tt_calloc(1, sizeof(*t));
    t->b.ops = &test_ops;
    t->b.s = s;
    return &t->b;
}

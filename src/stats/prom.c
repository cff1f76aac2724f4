/* prom.c: the Prometheus endpoint (see prom.h). */
#include "stats/prom.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/list.h"
#include "core/log.h"

#define PROM_MAX_CONNS 64
#define PROM_HEAD_MAX 8192
#define PROM_TIMEOUT_MS 10000

struct tt_prom {
    uv_loop_t *loop;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } listener;
    bool is_pipe;
    bool listening;
    bool stopping;
    tt_prom_render_fn render;
    void *ctx;
    struct tt_list conns;
    size_t num_conns;
};

struct prom_conn {
    struct tt_list link;
    struct tt_prom *p;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
    } s;
    uv_timer_t timer;
    int handles;
    bool answered;
    uv_write_t wr;
    char *out;
    char head[PROM_HEAD_MAX];
    size_t head_len;
};

static void maybe_free(struct tt_prom *p)
{
    if (p->stopping && !p->listening && p->num_conns == 0)
        free(p);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct prom_conn *c = h->data;
    if (--c->handles > 0)
        return;
    struct tt_prom *p = c->p;
    tt_list_remove(&c->link);
    p->num_conns--;
    free(c->out);
    free(c);
    maybe_free(p);
}

static void conn_close(struct prom_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->s.stream))
        uv_close((uv_handle_t *)&c->s.stream, conn_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    conn_close(w->data);
}

static void respond(struct prom_conn *c)
{
    c->answered = true;
    uv_read_stop(&c->s.stream);
    struct tt_buf body, all;
    tt_buf_init(&body, 0);
    c->p->render(c->p->ctx, &body);
    tt_buf_init(&all, 0);
    tt_buf_appendf(&all,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                   body.len);
    tt_buf_append(&all, body.data, body.len);
    tt_buf_deinit(&body);
    size_t len;
    c->out = tt_buf_steal(&all, &len);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)len);
    c->wr.data = c;
    if (uv_write(&c->wr, &c->s.stream, &b, 1, on_written) != 0)
        conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct prom_conn *c = h->data;
    buf->base = c->head + c->head_len;
    buf->len = sizeof(c->head) - c->head_len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct prom_conn *c = s->data;
    if (c->answered)
        return;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->head_len += (size_t)n;
    if (memmem(c->head, c->head_len, "\r\n\r\n", 4) || memmem(c->head, c->head_len, "\n\n", 2)) {
        respond(c);
        return;
    }
    if (c->head_len == sizeof(c->head))
        conn_close(c); /* no head within the cap: not a scraper */
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tt_prom *p = server->data;
    if (status < 0 || p->stopping)
        return;
    struct prom_conn *c = tt_calloc(1, sizeof(*c));
    c->p = p;
    if (p->is_pipe)
        uv_pipe_init(p->loop, &c->s.pipe, 0);
    else
        uv_tcp_init(p->loop, &c->s.tcp);
    c->s.stream.data = c;
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->handles = 2;
    tt_list_insert_tail(&p->conns, &c->link);
    p->num_conns++;
    if (uv_accept(server, &c->s.stream) != 0 || p->num_conns > PROM_MAX_CONNS) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, PROM_TIMEOUT_MS, 0);
    uv_read_start(&c->s.stream, on_alloc, on_read);
}

static int listen_tcp(struct tt_prom *p, const char *spec)
{
    char addr[64] = "0.0.0.0";
    const char *port_s = spec;
    const char *colon = strrchr(spec, ':');
    if (colon) {
        size_t n = (size_t)(colon - spec);
        if (n >= sizeof(addr))
            return -EINVAL;
        if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
            memcpy(addr, spec + 1, n - 2);
            addr[n - 2] = '\0';
        } else {
            memcpy(addr, spec, n);
            addr[n] = '\0';
        }
        port_s = colon + 1;
    }
    int64_t port = tt_parse_uint(port_s, strlen(port_s), 65535);
    if (port < 1)
        return -EINVAL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&ss) != 0)
        return -EINVAL;
    uv_tcp_init(p->loop, &p->listener.tcp);
    p->listener.tcp.data = p;
    p->listening = true;
    int r = uv_tcp_bind(&p->listener.tcp, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&p->listener.tcp, 128, on_connection);
    return r;
}

static int listen_pipe(struct tt_prom *p, const char *path)
{
    uv_pipe_init(p->loop, &p->listener.pipe, 0);
    p->listener.pipe.data = p;
    p->is_pipe = true;
    p->listening = true;
    unlink(path); /* a stale socket file from a previous run */
    int r = uv_pipe_bind(&p->listener.pipe, path);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&p->listener.pipe, 128, on_connection);
    return r;
}

static void listener_closed(uv_handle_t *h)
{
    struct tt_prom *p = h->data;
    p->listening = false;
    maybe_free(p);
}

int tt_prom_start(uv_loop_t *loop, const char *spec, tt_prom_render_fn render, void *ctx,
                  struct tt_prom **out)
{
    *out = NULL;
    struct tt_prom *p = tt_calloc(1, sizeof(*p));
    p->loop = loop;
    p->render = render;
    p->ctx = ctx;
    tt_list_init(&p->conns);
    int r = strncmp(spec, "ipc://", 6) == 0 ? listen_pipe(p, spec + 6) : listen_tcp(p, spec);
    if (r < 0) {
        p->stopping = true;
        if (p->listening)
            uv_close((uv_handle_t *)&p->listener, listener_closed);
        else
            free(p);
        return r;
    }
    *out = p;
    return 0;
}

void tt_prom_stop(struct tt_prom *p)
{
    if (!p || p->stopping)
        return;
    p->stopping = true;
    struct tt_list *it, *tmp;
    tt_list_for_each_safe(it, tmp, &p->conns)
    {
        conn_close(TT_CONTAINER_OF(it, struct prom_conn, link));
    }
    uv_close((uv_handle_t *)&p->listener, listener_closed);
}

/* test_pub_api.c: the publish API server on a real loop, driven by a blocking socket
 * client in a second thread. Expected bytes are what Pushpin 1.36 answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "publish/api.h"
#include "tt_test.h"

#define MAX_CASES 32

struct result {
    const char *name;
    char *got;
    const char *want;
    bool prefix; /* compare only the start */
};

static struct result results[MAX_CASES];
static int num_results;
static int port_open, port_auth;
static uv_async_t done_async;
static struct tt_pub_api *api_open, *api_auth;
static int items_calls, recover_calls;
static char last_channel[64];

static void on_items(void *ctx, struct tt_pub_item *items, size_t n)
{
    (void)ctx;
    items_calls++;
    snprintf(last_channel, sizeof(last_channel), "%s", n ? items[0].channel : "");
    tt_pub_items_free(items, n);
}

static void on_recover(void *ctx)
{
    (void)ctx;
    recover_calls++;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Everything the server sends until it closes (or "TIMEOUT" is appended). */
static char *read_all(int fd)
{
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    for (;;) {
        if (len + 1024 > cap)
            out = realloc(out, cap *= 2);
        ssize_t n = recv(fd, out + len, cap - len - 1, 0);
        if (n == 0)
            break;
        if (n < 0) {
            memcpy(out + len, "TIMEOUT", 7);
            len += 7;
            break;
        }
        len += (size_t)n;
    }
    out[len] = '\0';
    return out;
}

static char *exchange(int port, const char *data, size_t len)
{
    int fd = connect_to(port);
    if (fd < 0)
        return strdup("CONNECT FAILED");
    send(fd, data, len, MSG_NOSIGNAL);
    char *r = read_all(fd);
    close(fd);
    return r;
}

static void add(const char *name, char *got, const char *want, bool prefix)
{
    if (num_results < MAX_CASES)
        results[num_results++] = (struct result){name, got, want, prefix};
    else
        free(got);
}

#define CASE(name, port, req, want) add(name, exchange(port, req, strlen(req)), want, false)

static void *client_main(void *arg)
{
    (void)arg;
    CASE("root", port_open, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 12\r\n\r\nPushpin API\n");
    CASE("publish", port_open,
         "POST /publish/ HTTP/1.1\r\nContent-Length: 75\r\n\r\n"
         "{\"items\":[{\"channel\":\"test\",\"formats\":{\"http-stream\":{\"content\":\"hi\\n\"}}}]"
         "}",
         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 10\r\n\r\nPublished\n");
    CASE("publish json", port_open,
         "POST /publish HTTP/1.1\r\nAccept: text/plain, application/json\r\n"
         "Content-Length: 12\r\n\r\n{\"items\":[]}",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
         "Content-Length: 24\r\n\r\n{\"message\":\"Published\"}\n");
    CASE("publish invalid", port_open,
         "POST /publish HTTP/1.1\r\nAccept: application/json\r\nContent-Length: 2\r\n\r\n{}",
         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 48\r\n\r\nInvalid format: object does not contain 'items'\n");
    CASE("publish get", port_open, "GET /publish HTTP/1.1\r\n\r\n",
         "HTTP/1.1 405 Method Not Allowed\r\nAllow: POST\r\nContent-Type: text/plain\r\n"
         "Connection: close\r\nContent-Length: 25\r\n\r\nMethod not allowed: GET.\n");
    CASE("no length", port_open,
         "POST /publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "HTTP/1.1 411 Length Required\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 33\r\n\r\nRequest requires Content-Length.\n");
    CASE("bad length", port_open, "POST /publish HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 20\r\n\r\nBad Content-Length.\n");
    CASE("body too large", port_open, "POST /publish HTTP/1.1\r\nContent-Length: 101\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 24\r\n\r\nRequest body too large.\n");
    CASE("body exceeded", port_open, "POST /publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}xx",
         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 38\r\n\r\nRequest body exceeded Content-Length.\n");
    CASE("100-continue 1.0", port_open,
         "POST /recover HTTP/1.0\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
         "HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
         "Connection: close\r\nContent-Length: 8\r\n\r\nUpdated\n");
    CASE("not acceptable", port_open, "GET / HTTP/1.1\r\nAccept: image/png\r\n\r\n",
         "HTTP/1.1 406 Not Acceptable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 71\r\n\r\n"
         "Not Acceptable. Supported formats are text/plain and application/json.\n");
    CASE("query not stripped", port_open, "POST /publish?x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 10\r\n\r\nNot Found\n");

    char big[200];
    memset(big, 'a', sizeof(big));
    char head[400];
    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nX: %.*s\r\n\r\n", (int)sizeof(big), big);
    CASE("head too large", port_open, head,
         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 26\r\n\r\nRequest header too large.\n");
    /* An incomplete head is dropped at the deadline, without an answer. */
    CASE("head timeout", port_open, "GET / HTTP/1.1\r\n", "");

    CASE("auth missing", port_auth, "GET / HTTP/1.1\r\n\r\n",
         "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\n"
         "Connection: close\r\nContent-Length: 14\r\n\r\nUnauthorized.\n");
    /* dTpzM2NyZXQ= is "u:s3cret" */
    CASE("auth basic", port_auth, "GET / HTTP/1.1\r\nAuthorization: Basic dTpzM2NyZXQ=\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 12\r\n\r\nPushpin API\n");
    /* dTpzM2NyZXU= is "u:s3creu" */
    CASE("auth basic wrong", port_auth,
         "GET / HTTP/1.1\r\nAuthorization: Basic dTpzM2NyZXU=\r\n\r\n",
         "HTTP/1.1 401 Unauthorized\r\n");
    results[num_results - 1].prefix = true;
    CASE("auth bearer junk", port_auth, "GET / HTTP/1.1\r\nAuthorization: Bearer a.b.c\r\n\r\n",
         "HTTP/1.1 401 Unauthorized\r\n");
    results[num_results - 1].prefix = true;

    uv_async_send(&done_async);
    return NULL;
}

static void on_done(uv_async_t *a)
{
    tt_pub_api_stop(api_open);
    tt_pub_api_stop(api_auth);
    uv_close((uv_handle_t *)a, NULL);
}

static void test_api_server(void)
{
    tt_log_level = TT_LOG_WARN;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tt_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.push_in_http_addr = "127.0.0.1";
    cfg.push_in_http_max_headers_size = 100;
    cfg.push_in_http_max_body_size = 100;
    cfg.head_timeout_ms = 300;
    cfg.basedir = ".";
    port_open = cfg.push_in_http_port = free_port();
    CHECK_INT(tt_pub_api_start(&loop, &cfg, on_items, on_recover, NULL, &api_open), 0);

    /* The same port again cannot be bound. */
    struct tt_pub_api *dup = NULL;
    CHECK_INT(tt_pub_api_start(&loop, &cfg, on_items, on_recover, NULL, &dup), -EADDRINUSE);
    CHECK(dup == NULL);

    cfg.publish_key = "s3cret";
    port_auth = cfg.push_in_http_port = free_port();
    CHECK_INT(tt_pub_api_start(&loop, &cfg, on_items, on_recover, NULL, &api_auth), 0);

    uv_async_init(&loop, &done_async, on_done);
    pthread_t th;
    pthread_create(&th, NULL, client_main, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_INT(uv_loop_close(&loop), 0); /* every handle was closed: the api freed itself */

    for (int i = 0; i < num_results; i++) {
        struct result *r = &results[i];
        bool ok = r->prefix ? strncmp(r->got, r->want, strlen(r->want)) == 0
                            : strcmp(r->got, r->want) == 0;
        if (!ok)
            fprintf(stderr, "case %s: got \"%s\"\n", r->name, r->got);
        CHECK(ok);
        free(r->got);
    }
    CHECK_INT(num_results, 18);
    CHECK_INT(items_calls, 1); /* an empty items list is not handed on */
    CHECK_STR(last_channel, "test");
    CHECK_INT(recover_calls, 1);
}

TT_TEST_MAIN(test_api_server)

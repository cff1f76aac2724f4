/* Unit tests for zmq/inputs with real peers over ipc://: the connection hooks answering
 * commands later (what the control thread will wire to the workers), the cap on commands
 * waiting for an answer, SUB topic bookkeeping with linger as an XPUB sees it, counters of
 * malformed input, a bind failure that leaves nothing open, and stop with commands still
 * waiting. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include "tt_test.h"
#include "zmq/inputs.h"
#include "zmq/tnetstring.h"

static void *peer_ctx;
static uv_loop_t loop;
static char ep_pull[96], ep_sub[96], ep_cmd[96];

static void pump(int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static bool pump_until(bool (*cond)(void), int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (cond())
            return true;
        usleep(1000);
    }
    return cond();
}

static void *peer(int type, const char *ep)
{
    void *s = zmq_socket(peer_ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    CHECK_INT(zmq_connect(s, ep), 0);
    return s;
}

static int items_seen;
static char last_channel[64];
static int recovers;

static void on_items(void *ctx, struct tt_pub_item *items, size_t n)
{
    (void)ctx;
    items_seen += (int)n;
    snprintf(last_channel, sizeof(last_channel), "%s", items[n - 1].channel);
    tt_pub_items_free(items, n);
}

static void on_recover(void *ctx)
{
    (void)ctx;
    recovers++;
}

/* conncheck hook: keeps the commands to answer them later. */
static struct tt_zmq_cmd *waiting[200];
static int num_waiting;

static void conncheck(void *ctx, struct tt_zmq_cmd *cmd, const char *const *ids, const size_t *lens,
                      size_t n)
{
    (void)ctx;
    (void)ids;
    (void)lens;
    CHECK_INT(n, 2);
    waiting[num_waiting++] = cmd;
}

static void refresh(void *ctx, struct tt_zmq_cmd *cmd, const char *cid, size_t cid_len,
                    const char *channel, size_t channel_len)
{
    (void)ctx;
    (void)channel_len;
    if (cid && cid_len == 5 && memcmp(cid, "known", 5) == 0)
        tt_zmq_cmd_respond(cmd, NULL);
    else if (cid)
        tt_zmq_cmd_fail(cmd, "item-not-found", NULL);
    else
        tt_zmq_cmd_respond(cmd, channel ? json_true() : NULL);
}

static struct tt_zmq_inputs *start_inputs(struct tt_config *cfg)
{
    struct tt_zmq_inputs *in = NULL;
    int pid = (int)getpid();
    snprintf(ep_pull, sizeof(ep_pull), "ipc:///tmp/tt-zin-%d-pull", pid);
    snprintf(ep_sub, sizeof(ep_sub), "ipc:///tmp/tt-zin-%d-sub", pid);
    snprintf(ep_cmd, sizeof(ep_cmd), "ipc:///tmp/tt-zin-%d-cmd", pid);
    tt_config_defaults(cfg);
    free(cfg->push_in_spec);
    free(cfg->push_in_sub_specs);
    free(cfg->command_spec);
    cfg->push_in_spec = tt_strdup(ep_pull);
    cfg->push_in_sub_specs = tt_strdup(ep_sub);
    cfg->command_spec = tt_strdup(ep_cmd);
    cfg->subscription_linger = 1;
    CHECK_INT(tt_zmq_inputs_start(&loop, cfg, on_items, on_recover, NULL, &in), 0);
    return in;
}

static size_t request(char *buf, size_t cap, const char *id, const char *method, json_t *args)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "method", json_string(method));
    if (args)
        json_object_set_new(o, "args", args);
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_tnet_serialize(o, &b);
    json_decref(o);
    size_t n = TT_MIN(b.len, cap);
    memcpy(buf, b.data, n);
    tt_buf_deinit(&b);
    return n;
}

/* Receive one answer on a DEALER: ["", tnetstring]. */
static json_t *answer(void *dealer, int ms)
{
    for (int i = 0; i < ms; i++) {
        char empty[8], body[4096];
        int n = zmq_recv(dealer, empty, sizeof(empty), ZMQ_DONTWAIT);
        if (n >= 0) {
            CHECK_INT(n, 0);
            n = zmq_recv(dealer, body, sizeof(body), 0);
            json_t *v = NULL;
            CHECK(n > 0 && tt_tnet_parse(body, (size_t)n, NULL, &v, NULL) == n);
            return v;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return NULL;
}

static void send_req(void *dealer, const char *id, const char *method, json_t *args)
{
    char buf[1024];
    size_t n = request(buf, sizeof(buf), id, method, args);
    zmq_send(dealer, "", 0, ZMQ_SNDMORE);
    zmq_send(dealer, buf, n, 0);
}

static bool hundred_waiting(void)
{
    return num_waiting >= 100;
}

static bool hundred_one_waiting(void)
{
    return num_waiting >= 101;
}

static void test_hooks_and_pending_cap(void)
{
    struct tt_config cfg;
    struct tt_zmq_inputs *in = start_inputs(&cfg);
    tt_zmq_inputs_set_conn_hooks(in, conncheck, refresh);
    void *d = peer(ZMQ_DEALER, ep_cmd);

    /* refresh through the hook. */
    send_req(d, "r1", "refresh", json_pack("{s:s}", "cid", "known"));
    json_t *v = answer(d, 2000);
    CHECK(v && json_is_true(json_object_get(v, "success")) &&
          json_is_null(json_object_get(v, "value")));
    json_decref(v);
    send_req(d, "r2", "refresh", json_pack("{s:s}", "cid", "other"));
    v = answer(d, 2000);
    CHECK(v && strcmp(json_string_value(json_object_get(v, "condition")), "item-not-found") == 0);
    CHECK(v && strcmp(json_string_value(json_object_get(v, "id")), "r2") == 0);
    json_decref(v);
    send_req(d, "r3", "refresh", json_pack("{s:s}", "channel", "c"));
    v = answer(d, 2000);
    CHECK(v && json_is_true(json_object_get(v, "value")));
    json_decref(v);

    /* 101 conncheck requests: 100 reach the hook, then reading pauses. */
    num_waiting = 0;
    for (int i = 0; i < 101; i++) {
        char id[16];
        snprintf(id, sizeof(id), "c%d", i);
        send_req(d, id, "conncheck", json_pack("{s:[ss]}", "ids", "a", "b"));
    }
    CHECK(pump_until(hundred_waiting, 3000));
    pump(100);
    CHECK_INT(num_waiting, 100);
    /* One answer frees a slot: the last request comes in. */
    json_t *list = json_pack("[s]", "a");
    tt_zmq_cmd_respond(waiting[0], list);
    CHECK(pump_until(hundred_one_waiting, 3000));
    v = answer(d, 2000);
    CHECK(v && strcmp(json_string_value(json_object_get(v, "id")), "c0") == 0);
    CHECK(v && json_equal(json_object_get(v, "value"), list));
    json_decref(v);
    json_decref(list);
    /* Answer all but five; stop drops those unanswered. */
    for (int i = 1; i < 96; i++)
        tt_zmq_cmd_fail(waiting[i], "proxy-request-failed", NULL);
    int answered = 0;
    while ((v = answer(d, 500)) != NULL) {
        answered++;
        json_decref(v);
    }
    CHECK_INT(answered, 95);

    struct tt_zmq_inputs_stats st;
    tt_zmq_inputs_get_stats(in, &st);
    CHECK_INT(st.commands, 99);
    tt_zmq_inputs_stop(in);
    uv_run(&loop, UV_RUN_DEFAULT);
    zmq_close(d);
    tt_config_deinit(&cfg);
}

static int xpub_event(void *x, char *out, int ms)
{
    for (int i = 0; i < ms; i++) {
        int n = zmq_recv(x, out, 64, ZMQ_DONTWAIT);
        if (n >= 0)
            return n;
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return -1;
}

static bool one_item(void)
{
    return items_seen >= 1;
}

static void test_topics_and_counters(void)
{
    struct tt_config cfg;
    struct tt_zmq_inputs *in = start_inputs(&cfg);
    void *x = peer(ZMQ_XPUB, ep_sub);
    int verbose = 1;
    zmq_setsockopt(x, ZMQ_XPUB_VERBOSE, &verbose, sizeof(verbose));
    pump(50);
    char ev[64];
    tt_zmq_inputs_set_subscribed(in, "a", true, false);
    CHECK_INT(xpub_event(x, ev, 2000), 2);
    CHECK(memcmp(ev,
                 "\x01"
                 "a",
                 2) == 0);
    /* Already subscribed: nothing new upstream. */
    tt_zmq_inputs_set_subscribed(in, "a", true, false);
    CHECK_INT(xpub_event(x, ev, 100), -1);
    /* Linger, then back in time: the topic is never dropped. */
    tt_zmq_inputs_set_subscribed(in, "a", false, true);
    CHECK_INT(xpub_event(x, ev, 300), -1);
    tt_zmq_inputs_set_subscribed(in, "a", true, false);
    CHECK_INT(xpub_event(x, ev, 2500), -1);
    struct tt_zmq_inputs_stats st;
    tt_zmq_inputs_get_stats(in, &st);
    CHECK_INT(st.subscribed_channels, 1);
    /* Linger that runs out: dropped within a tick or two. */
    tt_zmq_inputs_set_subscribed(in, "a", false, true);
    CHECK_INT(xpub_event(x, ev, 3500), 2);
    CHECK(memcmp(ev,
                 "\x00"
                 "a",
                 2) == 0);
    /* No linger: dropped at once. Unknown channels are ignored. */
    tt_zmq_inputs_set_subscribed(in, "b", true, false);
    CHECK_INT(xpub_event(x, ev, 2000), 2);
    tt_zmq_inputs_set_subscribed(in, "b", false, false);
    CHECK_INT(xpub_event(x, ev, 2000), 2);
    CHECK(memcmp(ev,
                 "\x00"
                 "b",
                 2) == 0);
    tt_zmq_inputs_set_subscribed(in, "never", false, false);
    tt_zmq_inputs_get_stats(in, &st);
    CHECK_INT(st.subscribed_channels, 0);

    /* PULL: good, bad and many-part messages are counted. */
    void *p = peer(ZMQ_PUSH, ep_pull);
    items_seen = 0;
    zmq_send(p, "T3:abc", 6, 0);
    zmq_send(p, "J{}", 3, 0);
    for (int i = 0; i < 9; i++)
        zmq_send(p, "x", 1, ZMQ_SNDMORE);
    zmq_send(p, "x", 1, 0);
    static const char item[] = "J{\"channel\":\"pc\",\"http-stream\":{\"content\":\"x\"}}";
    zmq_send(p, item, sizeof(item) - 1, 0);
    CHECK(pump_until(one_item, 2000));
    CHECK_STR(last_channel, "pc");
    /* get-zmq-uris and recover without hooks. */
    void *d = peer(ZMQ_DEALER, ep_cmd);
    send_req(d, "u", "get-zmq-uris", NULL);
    json_t *v = answer(d, 2000);
    json_t *val = v ? json_object_get(v, "value") : NULL;
    CHECK(val && strcmp(json_string_value(json_object_get(val, "publish-pull")), ep_pull) == 0);
    CHECK(val && strcmp(json_string_value(json_object_get(val, "publish-sub")), ep_sub) == 0);
    CHECK(val && strcmp(json_string_value(json_object_get(val, "command")), ep_cmd) == 0);
    json_decref(v);
    recovers = 0;
    send_req(d, "rc", "recover", NULL);
    v = answer(d, 2000);
    CHECK(v && json_is_true(json_object_get(v, "success")));
    json_decref(v);
    CHECK_INT(recovers, 1);
    tt_zmq_inputs_get_stats(in, &st);
    CHECK_INT(st.pull_items, 1);
    CHECK_INT(st.pull_malformed, 3);
    CHECK_INT(st.commands, 2);
    tt_zmq_inputs_stop(in);
    uv_run(&loop, UV_RUN_DEFAULT);
    zmq_close(p);
    zmq_close(d);
    zmq_close(x);
    tt_config_deinit(&cfg);
}

static void test_bind_failure(void)
{
    void *blocker = zmq_socket(peer_ctx, ZMQ_PULL);
    CHECK_INT(zmq_bind(blocker, "tcp://127.0.0.1:*"), 0);
    char ep[64];
    size_t len = sizeof(ep);
    zmq_getsockopt(blocker, ZMQ_LAST_ENDPOINT, ep, &len);
    struct tt_config cfg;
    tt_config_defaults(&cfg);
    free(cfg.push_in_spec);
    free(cfg.command_spec);
    free(cfg.push_in_sub_specs);
    cfg.command_spec = tt_strdup("ipc:///tmp/tt-zin-bindfail");
    cfg.push_in_spec = tt_strdup(ep);
    cfg.push_in_sub_specs = NULL; /* disabled */
    struct tt_zmq_inputs *in = (struct tt_zmq_inputs *)1;
    CHECK_INT(tt_zmq_inputs_start(&loop, &cfg, on_items, on_recover, NULL, &in), -EADDRINUSE);
    CHECK(in == NULL);
    free(cfg.command_spec);
    cfg.command_spec = tt_strdup("nope://x");
    CHECK_INT(tt_zmq_inputs_start(&loop, &cfg, on_items, on_recover, NULL, &in), -EPROTONOSUPPORT);
    /* Nothing was left on the loop. */
    uv_run(&loop, UV_RUN_DEFAULT);
    tt_config_deinit(&cfg);
    zmq_close(blocker);
}

static void setup(void)
{
    peer_ctx = zmq_ctx_new();
    uv_loop_init(&loop);
}

static void teardown(void)
{
    CHECK_INT(uv_loop_close(&loop), 0);
    zmq_ctx_term(peer_ctx);
}

TT_TEST_MAIN(setup, test_hooks_and_pending_cap, test_topics_and_counters, test_bind_failure,
             teardown)

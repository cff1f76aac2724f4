/* test_wstats.c: a worker's stats accumulator: connections and their routes, minutes
 * (one at once, one per full minute), refresh buckets, connection events only while
 * wanted, subscription deltas coalesced, latency buckets, and what a take hands over. */
#include <stdlib.h>

#include "pubsub/wstats.h"
#include "tt_test.h"

static int kicks;

static void kick(void *ctx)
{
    (void)ctx;
    kicks++;
}

static const struct tt_route_stats *route_of(const struct tt_wstats_batch *b, const char *r)
{
    for (size_t i = 0; i < b->num_routes; i++)
        if (strcmp(b->routes[i].route, r) == 0)
            return &b->routes[i];
    return NULL;
}

int main(void)
{
    struct tt_wstats s;
    int wanted = 0;
    tt_wstats_init(&s, "inst_1", &wanted, 8, kick, NULL); /* 6 refresh buckets */
    CHECK(tt_wstats_take(&s, 0) == NULL);                 /* nothing yet */

    struct tt_wstats_conn a, b, ws;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&ws, 0, sizeof(ws));
    tt_wstats_conn_open(&s, &a, TT_CONN_HTTP, 0x41, NULL, "127.0.0.1", false, NULL);
    tt_wstats_conn_open(&s, &b, TT_CONN_HTTP, 0x81, NULL, "10.0.0.1", true, "r1");
    CHECK_INT(kicks, 1); /* one kick per batch, not per event */
    struct tt_wstats_batch *bt = tt_wstats_take(&s, 3);
    CHECK(bt != NULL);
    CHECK_INT(bt->worker, 3);
    CHECK_INT(bt->requests, 2);
    CHECK_INT(bt->num_conns, 0); /* nobody listens: no events */
    const struct tt_route_stats *def = route_of(bt, ""), *r1 = route_of(bt, "r1");
    CHECK(def && r1);
    if (def && r1) {
        CHECK_INT(def->current, 1);
        CHECK_INT(def->activity, 1);
        CHECK_INT(def->minutes, 1); /* rounded up: counted at once */
        CHECK_INT(r1->current, 1);
    }
    tt_wstats_batch_free(bt);

    /* Events while wanted: open, then a refresh when the bucket comes round, then close. */
    wanted = 1;
    tt_wstats_conn_open(&s, &ws, TT_CONN_WS, 0, "0a1b2c3d-0000-4000-8000-000000000000",
                        "::1", false, "r1");
    bt = tt_wstats_take(&s, 0);
    CHECK_INT(bt->num_conns, 1);
    CHECK_INT(bt->conns[0].op, TT_CONN_OPEN);
    CHECK_INT(bt->conns[0].type, TT_CONN_WS);
    CHECK_STR(bt->conns[0].id, "0a1b2c3d-0000-4000-8000-000000000000");
    CHECK_STR(bt->conns[0].route, "r1");
    r1 = route_of(bt, "r1");
    CHECK(r1 && r1->current == 2);
    tt_wstats_batch_free(bt);
    uint64_t now = tt_now_ms();
    size_t refreshed = 0, opened = 0;
    for (int i = 0; i < 6; i++) {
        tt_wstats_tick(&s, now);
        bt = tt_wstats_take(&s, 0);
        for (size_t k = 0; bt && k < bt->num_conns; k++) {
            refreshed += bt->conns[k].op == TT_CONN_REFRESH;
            opened += bt->conns[k].op == TT_CONN_OPEN; /* a and b, announced late */
        }
        tt_wstats_batch_free(bt);
    }
    CHECK_INT(refreshed, 1); /* ws: once per round of buckets */
    CHECK_INT(opened, 2);
    /* A minute later the next visit counts one more minute. */
    for (int i = 0; i < 6; i++)
        tt_wstats_tick(&s, now + 61000);
    bt = tt_wstats_take(&s, 0);
    uint64_t minutes = 0;
    for (size_t k = 0; bt && k < bt->num_routes; k++)
        minutes += bt->routes[k].minutes;
    CHECK_INT(minutes, 3);
    tt_wstats_batch_free(bt);

    tt_wstats_conn_close(&s, &a);
    tt_wstats_conn_close(&s, &a); /* once only */
    bt = tt_wstats_take(&s, 0);
    CHECK_INT(bt->num_conns, 1);
    CHECK_INT(bt->conns[0].op, TT_CONN_CLOSE);
    CHECK_STR(bt->conns[0].id, "inst_1:41");
    def = route_of(bt, "");
    CHECK(def && def->current == 0);
    tt_wstats_batch_free(bt);
    tt_wstats_conn_close(&s, &b);
    tt_wstats_conn_close(&s, &ws);

    /* Subscription changes of one (mode, channel) coalesce; latency lands in buckets. */
    tt_wstats_sub(&s, TT_MODE_STREAM, "c", 1);
    tt_wstats_sub(&s, TT_MODE_STREAM, "c", 1);
    tt_wstats_sub(&s, TT_MODE_RESPONSE, "c", 1);
    tt_wstats_sub(&s, TT_MODE_STREAM, "c", -1);
    tt_wstats_latency(&s, 0.1, 10);
    tt_wstats_latency(&s, 3, 5);
    tt_wstats_latency(&s, 1e9, 1);
    bt = tt_wstats_take(&s, 0);
    CHECK_INT(bt->num_subs, 2);
    CHECK_INT(bt->subs[0].mode, TT_MODE_STREAM);
    CHECK_INT(bt->subs[0].delta, 1);
    CHECK_INT(bt->subs[1].mode, TT_MODE_RESPONSE);
    CHECK_INT(bt->lat_count[0], 10);
    CHECK_INT(bt->lat_count[4], 5); /* (2.5, 5] */
    CHECK_INT(bt->lat_count[TT_LAT_BUCKETS - 1], 1);
    tt_wstats_batch_free(bt);

    /* Connection queries: ids copied, references counted. */
    const char *ids[] = {"x:1", "y"};
    size_t lens[] = {3, 1};
    struct tt_connq *q = tt_connq_new(TT_CONNQ_CHECK, ids, lens, 2);
    tt_connq_ref(q);
    CHECK_STR(q->ids[0], "x:1");
    CHECK_INT(q->lens[1], 1);
    tt_connq_unref(q);
    tt_connq_unref(q);

    tt_wstats_deinit(&s);
    printf("%d passed, %d failed\n", tt_test_pass, tt_test_fail);
    return tt_test_fail ? 1 : 0;
}

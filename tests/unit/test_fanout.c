/* Unit tests for the fan-out engine (pubsub/fanout.c) with fake subscribers: delivery by
 * format, filters, the content-filters check, the prev-id gap hook, the drop policy,
 * subscriptions added during a delivery, channel reports, updates and teardown during
 * delivery. */
#include <stdlib.h>

#include "pubsub/fanout.h"
#include "tt_test.h"

struct fake {
    struct tt_subscriber sub;
    int delivered, gaps, updates;
    char last[256];
    size_t backlog_items, backlog_bytes;
    bool gap_handles;
    bool free_on_deliver; /* tear itself down when delivered to */
    struct fake *add_on_deliver; /* subscribe this one to the same channel meanwhile */
};

static bool fake_deliver(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m,
                         const char *content, size_t len)
{
    struct fake *f = TT_CONTAINER_OF(who, struct fake, sub);
    const struct tt_pub_item *it = &m->item;
    if (!content) {
        if (f->sub.ops->format == TT_SUB_HTTP_STREAM) {
            content = it->http_stream.content;
            len = it->http_stream.content_len;
        } else if (f->sub.ops->format == TT_SUB_HTTP_RESPONSE) {
            content = it->http_response.body;
            len = it->http_response.body_len;
        } else {
            content = it->ws_message.content;
            len = it->ws_message.content_len;
        }
    }
    snprintf(f->last, sizeof(f->last), "%.*s", (int)len, content ? content : "");
    f->delivered++;
    if (f->add_on_deliver)
        tt_subscriber_add(&f->add_on_deliver->sub, tt_subscriber_channel(s), NULL, NULL, 0, false,
                          false);
    if (f->free_on_deliver)
        tt_subscriber_deinit(&f->sub);
    return true;
}

static bool fake_gap(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m)
{
    (void)s;
    (void)m;
    struct fake *f = TT_CONTAINER_OF(who, struct fake, sub);
    f->gaps++;
    return f->gap_handles;
}

static void fake_backlog(const struct tt_subscriber *who, size_t *items, size_t *bytes)
{
    const struct fake *f = TT_CONTAINER_OF(who, struct fake, sub);
    *items = f->backlog_items;
    *bytes = f->backlog_bytes;
}

static void fake_update(struct tt_subscriber *who)
{
    TT_CONTAINER_OF(who, struct fake, sub)->updates++;
}

static const struct tt_subscriber_ops stream_ops = {
    .format = TT_SUB_HTTP_STREAM,
    .deliver = fake_deliver,
    .gap = fake_gap,
    .backlog = fake_backlog,
    .update = fake_update,
};

static const struct tt_subscriber_ops response_ops = {
    .format = TT_SUB_HTTP_RESPONSE,
    .deliver = fake_deliver,
    .update = fake_update,
};

static const struct tt_subscriber_ops ws_ops = {
    .format = TT_SUB_WS_MESSAGE,
    .deliver = fake_deliver,
    .backlog = fake_backlog,
};

static int reports_on, reports_off;
static char last_report[64];

static void on_report(void *ctx, const char *channel, bool subscribed, bool linger)
{
    (void)ctx;
    (void)linger;
    if (subscribed)
        reports_on++;
    else
        reports_off++;
    snprintf(last_report, sizeof(last_report), "%s", channel);
}

static struct tt_msg *msg(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    struct tt_pub_item it;
    char err[256];
    int r = tt_pub_item_from_json(j, true, &it, err, sizeof(err));
    json_decref(j);
    if (r != 0) {
        fprintf(stderr, "bad test item: %s\n", err);
        abort();
    }
    return tt_msg_new(&it);
}

static void deliver(struct tt_fanout *fo, const char *json)
{
    struct tt_msg *m = msg(json);
    tt_fanout_deliver(fo, m);
    tt_msg_unref(m);
}

static void test_formats_and_reports(void)
{
    struct tt_fanout fo;
    reports_on = reports_off = 0;
    tt_fanout_init(&fo, 100, 1000000, 0, on_report, NULL);
    struct fake s = {0}, r = {0}, w = {0};
    tt_subscriber_init(&s.sub, &fo, &stream_ops);
    tt_subscriber_init(&r.sub, &fo, &response_ops);
    tt_subscriber_init(&w.sub, &fo, &ws_ops);
    CHECK(tt_subscriber_add(&s.sub, "a", NULL, NULL, 0, false, false) != NULL);
    CHECK(tt_subscriber_add(&s.sub, "a", NULL, NULL, 0, false, false) == NULL); /* dup */
    tt_subscriber_add(&r.sub, "a", NULL, NULL, 0, false, false);
    tt_subscriber_add(&w.sub, "a", NULL, NULL, 0, false, false);
    CHECK_INT(reports_on, 1);
    CHECK_STR(last_report, "a");
    CHECK_INT(tt_fanout_channels(&fo), 1);
    deliver(&fo, "{\"channel\":\"a\",\"formats\":{\"http-stream\":{\"content\":\"s1\"}}}");
    CHECK_INT(s.delivered, 1);
    CHECK_INT(r.delivered, 0);
    CHECK_INT(w.delivered, 0);
    CHECK_STR(s.last, "s1");
    deliver(&fo, "{\"channel\":\"a\",\"formats\":{\"http-response\":{\"body\":\"r1\"},"
                 "\"ws-message\":{\"content\":\"w1\"}}}");
    CHECK_INT(s.delivered, 1);
    CHECK_INT(r.delivered, 1);
    CHECK_STR(r.last, "r1");
    CHECK_INT(w.delivered, 1);
    CHECK_STR(w.last, "w1");
    deliver(&fo, "{\"channel\":\"b\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}}");
    CHECK_INT(s.delivered, 1);
    CHECK_INT(fo.stats.deliveries, 3);
    tt_subscriber_deinit(&s.sub);
    tt_subscriber_deinit(&r.sub);
    CHECK_INT(reports_off, 0);
    tt_subscriber_deinit(&w.sub);
    CHECK_INT(reports_off, 1);
    CHECK_INT(tt_fanout_channels(&fo), 0);
    tt_fanout_deinit(&fo);
}

static void test_filters(void)
{
    struct tt_fanout fo;
    tt_fanout_init(&fo, 100, 1000000, 0, NULL, NULL);
    struct fake a = {0}, b = {0}, c = {0};
    tt_subscriber_init(&a.sub, &fo, &stream_ops);
    tt_subscriber_init(&b.sub, &fo, &stream_ops);
    tt_subscriber_init(&c.sub, &fo, &stream_ops);
    char *skip[] = {"skip-self", "no-such-filter", "skip-users"};
    tt_subscriber_add(&a.sub, "ch", NULL, skip, 3, false, false);
    tt_subscriber_set_meta(&a.sub, "user", "alice");
    char *req[] = {"require-sub"};
    tt_subscriber_add(&b.sub, "ch", NULL, req, 1, false, false);
    tt_subscriber_add(&b.sub, "other", NULL, NULL, 0, false, false);
    char *vs[] = {"var-subst"};
    tt_subscriber_add(&c.sub, "ch", NULL, vs, 1, false, false);
    tt_subscriber_set_meta(&c.sub, "name", "Bob");
    deliver(&fo, "{\"channel\":\"ch\",\"meta\":{\"sender\":\"alice\"},"
                 "\"formats\":{\"http-stream\":{\"content\":\"1\"}}}");
    CHECK_INT(a.delivered, 0);
    CHECK_INT(b.delivered, 1);
    deliver(&fo, "{\"channel\":\"ch\",\"meta\":{\"skip_users\":\"x, alice\"},"
                 "\"formats\":{\"http-stream\":{\"content\":\"2\"}}}");
    CHECK_INT(a.delivered, 0);
    deliver(&fo, "{\"channel\":\"ch\",\"meta\":{\"require_sub\":\"nope\"},"
                 "\"formats\":{\"http-stream\":{\"content\":\"3\"}}}");
    CHECK_INT(a.delivered, 1);
    CHECK_INT(b.delivered, 2);
    deliver(&fo, "{\"channel\":\"ch\",\"meta\":{\"require_sub\":\"other\"},"
                 "\"formats\":{\"http-stream\":{\"content\":\"hi %(name)s 100%%\"}}}");
    CHECK_INT(b.delivered, 3);
    CHECK_STR(c.last, "hi Bob 100%");
    CHECK_STR(b.last, "hi %(name)s 100%%");
    /* content-filters: only for subscriptions whose content filters are exactly these */
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-stream\":{\"content\":\"cf\","
                 "\"content-filters\":[\"var-subst\"]}}}");
    CHECK_STR(c.last, "cf");
    CHECK_STR(b.last, "hi %(name)s 100%%");
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-stream\":{\"content\":\"none\","
                 "\"content-filters\":[]}}}");
    CHECK_STR(c.last, "cf");
    CHECK_STR(b.last, "none");
    CHECK(fo.stats.filtered >= 4);
    tt_subscriber_deinit(&a.sub);
    tt_subscriber_deinit(&b.sub);
    tt_subscriber_deinit(&c.sub);
    tt_fanout_deinit(&fo);
}

static void test_build_id_and_prev_id(void)
{
    struct tt_fanout fo;
    tt_fanout_init(&fo, 100, 1000000, 0, NULL, NULL);
    struct fake a = {0};
    tt_subscriber_init(&a.sub, &fo, &stream_ops);
    char *bi[] = {"build-id"};
    struct tt_sub *s = tt_subscriber_add(&a.sub, "ch", "p0", bi, 1, false, false);
    tt_subscriber_set_meta(&a.sub, "id_format", "%(ch)s");
    /* in sequence: delivered, rendered with the new id, prev-id moved on */
    deliver(&fo, "{\"channel\":\"ch\",\"id\":\"p1\",\"prev-id\":\"p0\","
                 "\"formats\":{\"http-stream\":{\"content\":\"id=%I\"}}}");
    CHECK_STR(a.last, "id=p1");
    CHECK_STR(s->prev_id, "p1");
    CHECK_INT(a.gaps, 0);
    /* a gap the subscriber does not handle: delivered anyway */
    deliver(&fo, "{\"channel\":\"ch\",\"id\":\"p3\",\"prev-id\":\"p2\","
                 "\"formats\":{\"http-stream\":{\"content\":\"x\"}}}");
    CHECK_INT(a.gaps, 1);
    CHECK_INT(a.delivered, 2);
    CHECK_STR(s->prev_id, "p3");
    /* a gap it handles: not delivered, prev-id kept */
    a.gap_handles = true;
    deliver(&fo, "{\"channel\":\"ch\",\"id\":\"p9\",\"prev-id\":\"p8\","
                 "\"formats\":{\"http-stream\":{\"content\":\"y\"}}}");
    CHECK_INT(a.gaps, 2);
    CHECK_INT(a.delivered, 2);
    CHECK_STR(s->prev_id, "p3");
    /* hex id encoding */
    tt_subscriber_set_meta(&a.sub, "id_encoding", "hex");
    deliver(&fo, "{\"channel\":\"ch\",\"id\":\"AB\",\"prev-id\":\"p3\","
                 "\"formats\":{\"http-stream\":{\"content\":\"%I\"}}}");
    CHECK_STR(a.last, "4142");
    tt_subscriber_deinit(&a.sub);
    tt_fanout_deinit(&fo);
}

static void test_drop_policy(void)
{
    struct tt_fanout fo;
    tt_fanout_init(&fo, 100, 1000, 0, NULL, NULL);
    struct fake slow = {0}, fast = {0};
    tt_subscriber_init(&slow.sub, &fo, &stream_ops);
    tt_subscriber_init(&fast.sub, &fo, &stream_ops);
    tt_subscriber_add(&slow.sub, "ch", NULL, NULL, 0, false, false);
    tt_subscriber_add(&fast.sub, "ch", NULL, NULL, 0, false, false);
    slow.backlog_items = 99;
    slow.backlog_bytes = 999;
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-stream\":{\"content\":\"1\"}}}");
    CHECK_INT(slow.delivered, 1); /* N-1: passes */
    slow.backlog_items = 100;
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-stream\":{\"content\":\"2\"}}}");
    CHECK_INT(slow.delivered, 1); /* at the item cap: dropped */
    slow.backlog_items = 0;
    slow.backlog_bytes = 1000;
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-stream\":{\"content\":\"3\"}}}");
    CHECK_INT(slow.delivered, 1); /* at the byte cap: dropped */
    CHECK_INT(fast.delivered, 3);
    CHECK_INT(fo.stats.drops, 2);
    /* a close is never dropped */
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-stream\":{\"action\":\"close\"}}}");
    CHECK_INT(slow.delivered, 2);
    tt_subscriber_deinit(&slow.sub);
    tt_subscriber_deinit(&fast.sub);
    tt_fanout_deinit(&fo);
}

static void test_changes_during_delivery(void)
{
    struct tt_fanout fo;
    reports_on = reports_off = 0;
    tt_fanout_init(&fo, 100, 1000000, 0, on_report, NULL);
    struct fake a = {0}, b = {0}, late = {0};
    tt_subscriber_init(&a.sub, &fo, &response_ops);
    tt_subscriber_init(&b.sub, &fo, &response_ops);
    tt_subscriber_init(&late.sub, &fo, &response_ops);
    tt_subscriber_add(&a.sub, "ch", NULL, NULL, 0, false, false);
    tt_subscriber_add(&b.sub, "ch", NULL, NULL, 0, false, false);
    a.free_on_deliver = true;
    a.add_on_deliver = &late;
    b.free_on_deliver = true;
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-response\":{\"body\":\"x\"}}}");
    CHECK_INT(a.delivered, 1);
    CHECK_INT(b.delivered, 1);
    CHECK_INT(late.delivered, 0); /* added during that delivery */
    CHECK_INT(reports_off, 0);   /* late keeps the channel */
    deliver(&fo, "{\"channel\":\"ch\",\"formats\":{\"http-response\":{\"body\":\"y\"}}}");
    CHECK_INT(late.delivered, 1);
    CHECK_INT(a.delivered, 1);
    tt_subscriber_deinit(&late.sub);
    CHECK_INT(reports_off, 1);
    /* the last subscriber leaving during delivery releases the channel afterwards */
    tt_subscriber_init(&a.sub, &fo, &response_ops);
    tt_subscriber_add(&a.sub, "c2", NULL, NULL, 0, false, false);
    a.add_on_deliver = NULL;
    deliver(&fo, "{\"channel\":\"c2\",\"formats\":{\"http-response\":{\"body\":\"z\"}}}");
    CHECK_INT(tt_fanout_channels(&fo), 0);
    CHECK_INT(reports_off, 2);
    tt_fanout_deinit(&fo);
}

static void test_updates_and_implicit(void)
{
    struct tt_fanout fo;
    tt_fanout_init(&fo, 100, 1000000, 1000, NULL, NULL);
    struct fake a = {0}, b = {0};
    tt_subscriber_init(&a.sub, &fo, &stream_ops);
    tt_subscriber_init(&b.sub, &fo, &stream_ops);
    tt_subscriber_add(&a.sub, "x", NULL, NULL, 0, false, true);
    tt_subscriber_add(&a.sub, "y", NULL, NULL, 0, true, true);
    tt_subscriber_add(&b.sub, "y", NULL, NULL, 0, false, true);
    tt_fanout_tick(&fo, tt_now_ms());
    CHECK_INT(a.updates, 0); /* not due yet */
    tt_fanout_tick(&fo, tt_now_ms() + 2000);
    CHECK_INT(a.updates, 1); /* once, though on two due channels */
    CHECK_INT(b.updates, 1);
    tt_fanout_tick(&fo, tt_now_ms() + 4000);
    CHECK_INT(a.updates, 1); /* only the first subscription triggers it */
    tt_fanout_update_all(&fo);
    CHECK_INT(a.updates, 2);
    CHECK_INT(b.updates, 2);
    CHECK_INT(tt_subscriber_remove(&a.sub, "y", false), -1); /* implicit */
    CHECK_INT(tt_subscriber_remove(&a.sub, "x", false), 0);
    CHECK_INT(tt_subscriber_remove(&a.sub, "x", false), -1);
    CHECK_INT(tt_subscriber_remove(&a.sub, "y", true), 0);
    CHECK_INT(a.sub.num_subs, 0);
    tt_subscriber_set_meta(&a.sub, "k", "v");
    tt_subscriber_set_meta(&a.sub, "k", "w");
    CHECK_STR(tt_subscriber_meta(&a.sub, "k"), "w");
    tt_subscriber_set_meta(&a.sub, "k", NULL);
    CHECK(tt_subscriber_meta(&a.sub, "k") == NULL);
    tt_subscriber_deinit(&a.sub);
    tt_subscriber_deinit(&b.sub);
    tt_fanout_deinit(&fo);
}

TT_TEST_MAIN(test_formats_and_reports, test_filters, test_build_id_and_prev_id, test_drop_policy,
             test_changes_during_delivery, test_updates_and_implicit)

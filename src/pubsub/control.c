/* control.c: see control.h. */
#include "pubsub/control.h"

#include <stdlib.h>
#include <uv.h>

#include "core/list.h"
#include "core/log.h"
#include "core/map.h"
#include "pubsub/fanout.h"
#include "pubsub/msg.h"

#define SEQ_MAX_PENDING 100

enum { CONTROL_STOP = TT_INBOX_LOCAL };

struct pending {
    struct pending *next;
    struct tt_msg *msg;
    uint64_t arrived_ms;
};

/* Per-channel state the sequencer needs. */
struct chan_state {
    int subscribers;       /* workers with at least one subscriber */
    uint64_t linger_until; /* keep the last id until then after the last one left */
    struct pending *pending;
    int num_pending;
};

/* message_rate / message_hwm: items wait here when over the rate. */
struct rate_item {
    struct rate_item *next;
    struct tt_msg *msg;
};

struct tt_control {
    const struct tt_config *cfg;
    struct tt_lastids *ids;
    struct tt_inbox *const *workers;
    struct tt_msg_batch **batches; /* per worker: messages gathered this turn */
    int num_workers;
    double tokens;
    uint64_t refill_ms;
    struct rate_item *rq_head, *rq_tail;
    size_t rq_len;
    uint64_t rate_drops;
    uv_timer_t drain;
    uv_check_t flush; /* hands the batches over once per loop iteration */
    uv_thread_t thread;
    uv_loop_t loop;
    struct tt_inbox inbox;
    uv_timer_t tick;
    bool running;
    struct input {
        void (*stop)(void *obj);
        void *obj;
    } inputs[8];
    int num_inputs;
    void (*channel_hook)(void *ctx, const char *channel, bool subscribed, bool linger);
    void *channel_ctx;
    void (*publish_hook)(void *ctx, const struct tt_msg *m);
    void *publish_ctx;
    uint64_t published;
    struct tt_map chans;    /* channel -> chan_state */
    struct tt_map id_cache; /* "channel\nid" -> expiry ms (stored in the pointer) */
    uint64_t seq;
};

static struct chan_state *chan_get(struct tt_control *ctl, const char *name, bool create)
{
    struct chan_state *cs = tt_map_get(&ctl->chans, name, strlen(name));
    if (!cs && create) {
        cs = tt_calloc(1, sizeof(*cs));
        tt_map_put(&ctl->chans, name, strlen(name), cs);
    }
    return cs;
}

static void post_all(struct tt_control *ctl, struct tt_msg *m)
{
    m->seq = ++ctl->seq;
    ctl->published++;
    if (ctl->publish_hook)
        ctl->publish_hook(ctl->publish_ctx, m);
    for (int i = 0; i < ctl->num_workers; i++)
        tt_msg_batch_add(&ctl->batches[i], m);
}

/* Hand each worker what this turn gathered, in one inbox item. Runs after the I/O of
 * every loop iteration (so the requests, ZeroMQ messages and commands read in one
 * iteration wake each worker once), and at the end of the timers that publish. */
static void flush_batches(struct tt_control *ctl)
{
    for (int i = 0; i < ctl->num_workers; i++) {
        if (!ctl->batches[i])
            continue;
        tt_inbox_post(ctl->workers[i], TT_INBOX_MSGS, ctl->batches[i]);
        ctl->batches[i] = NULL;
    }
}

static void refill(struct tt_control *ctl)
{
    int rate = ctl->cfg->message_rate;
    uint64_t now = tt_now_ms();
    ctl->tokens += (double)(now - ctl->refill_ms) * rate / 1000.0;
    if (ctl->tokens > rate)
        ctl->tokens = rate; /* at most one second of burst */
    ctl->refill_ms = now;
}

static void on_drain(uv_timer_t *t)
{
    struct tt_control *ctl = t->data;
    refill(ctl);
    while (ctl->rq_head && ctl->tokens >= 1) {
        struct rate_item *r = ctl->rq_head;
        ctl->rq_head = r->next;
        if (!ctl->rq_head)
            ctl->rq_tail = NULL;
        ctl->rq_len--;
        ctl->tokens -= 1;
        post_all(ctl, r->msg);
        tt_msg_unref(r->msg);
        free(r);
    }
    if (!ctl->rq_head)
        uv_timer_stop(&ctl->drain);
    flush_batches(ctl);
}

/* Hand a message to every worker, within message_rate (items per second); over
 * message_hwm items waiting, it is dropped with a warning, as Pushpin does. Takes no
 * reference: the caller keeps its own. */
static void fan_out(struct tt_control *ctl, struct tt_msg *m)
{
    const struct tt_config *cfg = ctl->cfg;
    if (cfg->message_rate <= 0) {
        post_all(ctl, m);
        return;
    }
    refill(ctl);
    if (!ctl->rq_head && ctl->tokens >= 1) {
        ctl->tokens -= 1;
        post_all(ctl, m);
        return;
    }
    if (cfg->message_hwm > 0 && ctl->rq_len >= (size_t)cfg->message_hwm) {
        ctl->rate_drops++;
        tt_warn("publish: message_hwm (%d) reached; item for channel %s dropped (%llu so far)",
                cfg->message_hwm, m->item.channel, (unsigned long long)ctl->rate_drops);
        return;
    }
    struct rate_item *r = tt_malloc(sizeof(*r));
    r->next = NULL;
    r->msg = tt_msg_ref(m);
    if (ctl->rq_tail)
        ctl->rq_tail->next = r;
    else
        ctl->rq_head = r;
    ctl->rq_tail = r;
    ctl->rq_len++;
    if (!uv_is_active((uv_handle_t *)&ctl->drain))
        uv_timer_start(&ctl->drain, on_drain, 10, 10);
}

static void deliver(struct tt_control *ctl, struct tt_msg *m, struct chan_state *cs);

/* After a delivery changed the last id, release a pending item that follows it. */
static void release_followers(struct tt_control *ctl, const char *channel, struct chan_state *cs)
{
    for (;;) {
        char *last = tt_lastids_get(ctl->ids, channel);
        if (!last)
            return;
        struct pending **pp = &cs->pending, *found = NULL;
        for (; *pp; pp = &(*pp)->next) {
            if ((*pp)->msg->item.prev_id && strcmp((*pp)->msg->item.prev_id, last) == 0) {
                found = *pp;
                *pp = found->next;
                cs->num_pending--;
                break;
            }
        }
        free(last);
        if (!found)
            return;
        struct tt_msg *m = found->msg;
        free(found);
        deliver(ctl, m, cs);
    }
}

/* Deliver now and move the channel's last id on (only while it has subscribers). */
static void deliver(struct tt_control *ctl, struct tt_msg *m, struct chan_state *cs)
{
    const struct tt_pub_item *it = &m->item;
    bool tracked = cs && (cs->subscribers > 0 || cs->linger_until > tt_now_ms());
    if (tracked && !it->no_seq)
        tt_lastids_set(ctl->ids, it->channel, it->id);
    fan_out(ctl, m);
    /* Our reference keeps `it` alive here: workers may already have dropped theirs. */
    if (tracked && !it->no_seq && it->id)
        release_followers(ctl, it->channel, cs);
    tt_msg_unref(m);
}

static bool seen_before(struct tt_control *ctl, const struct tt_pub_item *it)
{
    int ttl = ctl->cfg->id_cache_ttl;
    if (ttl <= 0 || !it->id)
        return false;
    char key[1024];
    int n = snprintf(key, sizeof(key), "%s\n%s", it->channel, it->id);
    if (n < 0 || (size_t)n >= sizeof(key))
        return false;
    uint64_t now = tt_now_ms();
    uintptr_t exp = (uintptr_t)tt_map_get(&ctl->id_cache, key, (size_t)n);
    if (exp && exp > now)
        return true;
    tt_map_put(&ctl->id_cache, key, (size_t)n, (void *)(uintptr_t)(now + (uint64_t)ttl * 1000));
    return false;
}

static void publish_item(struct tt_control *ctl, struct tt_pub_item *it)
{
    if (seen_before(ctl, it)) {
        tt_debug("publish: duplicate id %s on channel %s dropped", it->id, it->channel);
        tt_pub_item_deinit(it);
        return;
    }
    struct chan_state *cs = chan_get(ctl, it->channel, false);
    bool has_subs = cs && cs->subscribers > 0;
    struct tt_msg *m = tt_msg_new(it);
    if (has_subs && !m->item.no_seq && m->item.prev_id) {
        char *last = tt_lastids_get(ctl->ids, m->item.channel);
        bool gap = last && strcmp(last, m->item.prev_id) != 0;
        free(last);
        if (gap) {
            /* Hold until its predecessor arrives or message_wait passes. */
            for (struct pending *p = cs->pending; p; p = p->next) {
                if (p->msg->item.prev_id && strcmp(p->msg->item.prev_id, m->item.prev_id) == 0) {
                    tt_debug("publish: duplicate prev-id on channel %s dropped", m->item.channel);
                    tt_msg_unref(m);
                    return;
                }
            }
            if (cs->num_pending >= SEQ_MAX_PENDING) {
                tt_warn("publish: channel %s has %d items waiting; delivering out of order",
                        m->item.channel, cs->num_pending);
            } else {
                struct pending *p = tt_calloc(1, sizeof(*p));
                p->msg = m;
                p->arrived_ms = tt_now_ms();
                struct pending **pp = &cs->pending;
                while (*pp)
                    pp = &(*pp)->next;
                *pp = p;
                cs->num_pending++;
                return;
            }
        }
    }
    deliver(ctl, m, cs);
}

void tt_control_publish(struct tt_control *ctl, struct tt_pub_item *items, size_t n)
{
    for (int i = 0; i < ctl->num_workers; i++)
        tt_msg_batch_reserve(&ctl->batches[i], n);
    for (size_t i = 0; i < n; i++)
        publish_item(ctl, &items[i]);
    tt_pub_items_free(items, n);
    /* The batches go out when this loop iteration's I/O is done (on_flush). */
}

static void on_flush(uv_check_t *h)
{
    flush_batches(h->data);
}

void tt_control_recover(struct tt_control *ctl)
{
    tt_lastids_clear(ctl->ids);
    flush_batches(ctl); /* what was published before the recover goes first */
    for (int i = 0; i < ctl->num_workers; i++)
        tt_inbox_post(ctl->workers[i], TT_INBOX_RECOVER, NULL);
}

static void on_tick(uv_timer_t *t)
{
    struct tt_control *ctl = t->data;
    uint64_t now = tt_now_ms();
    uint64_t wait = (uint64_t)ctl->cfg->message_wait;
    size_t it;
    /* Expired waits: deliver in arrival order. Collect channel names first because
     * delivery may add or remove map entries. */
    char **names = NULL;
    size_t nn = 0;
    for (struct tt_map_entry *e = tt_map_first(&ctl->chans, &it); e;
         e = tt_map_next(&ctl->chans, e, &it)) {
        struct chan_state *cs = e->value;
        if ((cs->pending && now - cs->pending->arrived_ms >= wait) ||
            (!cs->pending && cs->subscribers == 0 && cs->linger_until <= now)) {
            names = tt_realloc(names, (nn + 1) * sizeof(*names));
            names[nn++] = tt_strdup(e->key);
        }
    }
    for (size_t i = 0; i < nn; i++) {
        struct chan_state *cs = tt_map_get(&ctl->chans, names[i], strlen(names[i]));
        while (cs && cs->pending && now - cs->pending->arrived_ms >= wait) {
            struct pending *p = cs->pending;
            cs->pending = p->next;
            cs->num_pending--;
            struct tt_msg *m = p->msg;
            free(p);
            deliver(ctl, m, cs);
        }
        if (cs && !cs->pending && cs->subscribers == 0 && cs->linger_until <= now) {
            tt_lastids_set(ctl->ids, names[i], NULL);
            tt_map_remove(&ctl->chans, names[i], strlen(names[i]));
            free(cs);
        }
        free(names[i]);
    }
    free(names);
    /* Drop expired id-cache entries. */
    for (;;) {
        char *victim = NULL;
        for (struct tt_map_entry *e = tt_map_first(&ctl->id_cache, &it); e;
             e = tt_map_next(&ctl->id_cache, e, &it)) {
            if ((uintptr_t)e->value <= now) {
                victim = tt_strdup(e->key);
                break;
            }
        }
        if (!victim)
            break;
        tt_map_remove(&ctl->id_cache, victim, strlen(victim));
        free(victim);
    }
    flush_batches(ctl);
}

static void apply_report(struct tt_control *ctl, const struct tt_sub_report *r)
{
    struct chan_state *cs = chan_get(ctl, r->channel, true);
    if (r->subscribed) {
        if (cs->subscribers++ == 0 && ctl->channel_hook)
            ctl->channel_hook(ctl->channel_ctx, r->channel, true, false);
    } else if (cs->subscribers > 0 && --cs->subscribers == 0) {
        cs->linger_until = tt_now_ms() + (uint64_t)ctl->cfg->subscription_linger * 1000;
        if (ctl->channel_hook)
            ctl->channel_hook(ctl->channel_ctx, r->channel, false, r->linger);
    }
}

static void shut_down(struct tt_control *ctl)
{
    for (int i = 0; i < ctl->num_inputs; i++)
        ctl->inputs[i].stop(ctl->inputs[i].obj);
    ctl->num_inputs = 0;
    uv_close((uv_handle_t *)&ctl->tick, NULL);
    uv_close((uv_handle_t *)&ctl->drain, NULL);
    flush_batches(ctl); /* what was published before the stop */
    uv_close((uv_handle_t *)&ctl->flush, NULL);
    tt_inbox_close(&ctl->inbox);
    while (ctl->rq_head) {
        struct rate_item *ri = ctl->rq_head;
        ctl->rq_head = ri->next;
        tt_msg_unref(ri->msg);
        free(ri);
    }
    ctl->rq_tail = NULL;
}

static void on_inbox_item(void *ctx, int kind, void *ptr)
{
    struct tt_control *ctl = ctx;
    if (kind == TT_INBOX_SUB) {
        apply_report(ctl, ptr);
        free(ptr);
    } else if (kind == CONTROL_STOP) {
        shut_down(ctl);
    }
}

static void discard_item(int kind, void *ptr)
{
    if (kind == TT_INBOX_SUB)
        free(ptr);
}

static const struct tt_inbox_ops inbox_ops = {
    .item = on_inbox_item,
    .discard = discard_item,
};

static void control_main(void *arg)
{
    struct tt_control *ctl = arg;
    uv_run(&ctl->loop, UV_RUN_DEFAULT);
}

struct tt_control *tt_control_new(const struct tt_config *cfg, struct tt_lastids *ids)
{
    struct tt_control *ctl = tt_calloc(1, sizeof(*ctl));
    ctl->cfg = cfg;
    ctl->ids = ids;
    uv_loop_init(&ctl->loop);
    tt_inbox_init(&ctl->inbox, &ctl->loop, &inbox_ops, ctl);
    uv_timer_init(&ctl->loop, &ctl->tick);
    ctl->tick.data = ctl;
    uv_timer_init(&ctl->loop, &ctl->drain);
    ctl->drain.data = ctl;
    uv_check_init(&ctl->loop, &ctl->flush);
    ctl->flush.data = ctl;
    ctl->refill_ms = tt_now_ms();
    ctl->tokens = cfg->message_rate;
    tt_map_init(&ctl->chans);
    tt_map_init(&ctl->id_cache);
    return ctl;
}

struct tt_inbox *tt_control_inbox(struct tt_control *ctl)
{
    return &ctl->inbox;
}

void tt_control_set_channel_hook(struct tt_control *ctl,
                                 void (*fn)(void *ctx, const char *channel, bool subscribed,
                                            bool linger),
                                 void *ctx)
{
    ctl->channel_hook = fn;
    ctl->channel_ctx = ctx;
}

void tt_control_set_publish_hook(struct tt_control *ctl,
                                 void (*fn)(void *ctx, const struct tt_msg *m), void *ctx)
{
    ctl->publish_hook = fn;
    ctl->publish_ctx = ctx;
}

void tt_control_get_stats(const struct tt_control *ctl, struct tt_control_stats *out)
{
    out->published = ctl->published;
    out->rate_drops = ctl->rate_drops;
    out->waiting = ctl->rq_len;
}

uv_loop_t *tt_control_loop(struct tt_control *ctl)
{
    return &ctl->loop;
}

void tt_control_add_input(struct tt_control *ctl, void (*stop)(void *obj), void *obj)
{
    if (ctl->num_inputs == (int)TT_ARRAY_LEN(ctl->inputs))
        abort(); /* a fixed set wired by main: more is a programming error */
    ctl->inputs[ctl->num_inputs].stop = stop;
    ctl->inputs[ctl->num_inputs].obj = obj;
    ctl->num_inputs++;
}

int tt_control_start(struct tt_control *ctl, struct tt_inbox *const *workers, int n)
{
    ctl->workers = workers;
    ctl->batches = tt_calloc((size_t)n, sizeof(*ctl->batches));
    ctl->num_workers = n;
    uv_timer_start(&ctl->tick, on_tick, 1000, 1000);
    uv_check_start(&ctl->flush, on_flush);
    if (uv_thread_create(&ctl->thread, control_main, ctl) != 0)
        return -EAGAIN;
    ctl->running = true;
    return 0;
}

void tt_control_stop(struct tt_control *ctl)
{
    if (!ctl->running)
        return;
    tt_inbox_post(&ctl->inbox, CONTROL_STOP, NULL);
    uv_thread_join(&ctl->thread);
    ctl->running = false;
}

void tt_control_free(struct tt_control *ctl)
{
    if (!ctl)
        return;
    tt_control_stop(ctl);
    /* Close what never ran (a failed start), then let every close callback run. */
    for (int i = 0; i < ctl->num_inputs; i++)
        ctl->inputs[i].stop(ctl->inputs[i].obj);
    ctl->num_inputs = 0;
    tt_inbox_close(&ctl->inbox);
    if (!uv_is_closing((uv_handle_t *)&ctl->tick))
        uv_close((uv_handle_t *)&ctl->tick, NULL);
    if (!uv_is_closing((uv_handle_t *)&ctl->drain))
        uv_close((uv_handle_t *)&ctl->drain, NULL);
    if (!uv_is_closing((uv_handle_t *)&ctl->flush))
        uv_close((uv_handle_t *)&ctl->flush, NULL);
    uv_run(&ctl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ctl->loop);
    tt_inbox_deinit(&ctl->inbox);
    while (ctl->rq_head) {
        struct rate_item *ri = ctl->rq_head;
        ctl->rq_head = ri->next;
        tt_msg_unref(ri->msg);
        free(ri);
    }
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&ctl->chans, &it); e;
         e = tt_map_next(&ctl->chans, e, &it)) {
        struct chan_state *cs = e->value;
        while (cs->pending) {
            struct pending *p = cs->pending;
            cs->pending = p->next;
            tt_msg_unref(p->msg);
            free(p);
        }
        free(cs);
    }
    for (int i = 0; ctl->batches && i < ctl->num_workers; i++)
        tt_msg_batch_free(ctl->batches[i]);
    free(ctl->batches);
    tt_map_deinit(&ctl->chans);
    tt_map_deinit(&ctl->id_cache);
    free(ctl);
}

/* fanout.h: the fan-out engine: a worker's channel index, the subscriptions in it, the
 * filters, the slow-subscriber policy and the delivery loop.
 *
 * A subscriber (an HTTP stream hold, a long-poll hold, a WebSocket session) embeds a
 * struct tt_subscriber and gives it ops; the engine calls ops->deliver and never knows
 * what transport is behind it. Every kind of subscriber therefore gets the same filters
 * (skip-self, skip-users, require-sub, build-id, var-subst, the content-filters check),
 * the same drop policy (over its queue caps a send is dropped for it and counted) and the
 * same counters.
 *
 * Order of a delivery, per subscription: the kind's format present; filters; for a send:
 * the prev-id check (ops->gap), the drop policy, the subscription's prev-id moved to the
 * item's id, the content filters; then ops->deliver.
 *
 * Rules of delivery (tt_fanout_deliver): a subscriber whose ops run may tear itself down
 * (unsubscribe, free) but no other subscriber; subscriptions added while a message is
 * being delivered do not receive that message.
 *
 * Owner: struct tt_fanout is embedded in a worker; a tt_subscriber in its owner, which
 * calls tt_subscriber_deinit before freeing it. Channel names are copied.
 * Thread: the owning worker's only. */
#ifndef TT_FANOUT_H
#define TT_FANOUT_H

#include "core/list.h"
#include "core/map.h"
#include "pubsub/item.h"
#include "pubsub/msg.h"

#define TT_SUB_MAX_FILTERS 5

/* The filters Pushpin knows (SPEC.md 5 "Filters"); unknown names are ignored. */
enum tt_filter {
    TT_FILTER_SKIP_SELF = 1,
    TT_FILTER_SKIP_USERS,
    TT_FILTER_REQUIRE_SUB,
    TT_FILTER_BUILD_ID,
    TT_FILTER_VAR_SUBST,
};

/* The publish format a kind of subscriber takes. */
enum tt_sub_format { TT_SUB_HTTP_RESPONSE, TT_SUB_HTTP_STREAM, TT_SUB_WS_MESSAGE };

struct tt_chan;
struct tt_subscriber;

/* One channel subscription of a subscriber. */
struct tt_sub {
    struct tt_list chan_link;  /* in the channel's list */
    struct tt_list owner_link; /* in the subscriber's list */
    struct tt_subscriber *owner;
    struct tt_chan *chan;
    char *prev_id; /* the last id this subscriber has for the channel, or NULL */
    uint64_t epoch; /* the delivery during which it was added (skipped by that one) */
    uint8_t filters[TT_SUB_MAX_FILTERS];
    uint8_t num_filters;
    bool implicit; /* a route sub= channel: cannot be unsubscribed by the backend */
    bool got;      /* for the subscriber: received something since it last looked */
};

struct tt_subscriber_ops {
    enum tt_sub_format format;
    /* Deliver m through subscription s. content/len is the format's content after this
     * subscription's content-changing filters when they changed it (valid during the
     * call), else NULL: use the message's shared bytes. Return true if something was
     * delivered (counted). */
    bool (*deliver)(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m,
                    const char *content, size_t len);
    /* A send whose prev-id is not the subscription's: the subscriber missed something.
     * Return true if it recovers by itself (the message is then not delivered); false
     * delivers it anyway. NULL: always delivered. */
    bool (*gap)(struct tt_subscriber *who, struct tt_sub *s, struct tt_msg *m);
    /* Output queued and not yet written. NULL: never subject to the drop policy. */
    void (*backlog)(const struct tt_subscriber *who, size_t *items, size_t *bytes);
    /* Write what is queued now, before a full backlog is judged (the batch may have
     * queued it). Returns false if the subscriber went away. */
    bool (*flush)(struct tt_subscriber *who);
    /* Ask the backend again: a first-subscription update or a recover. May tear the
     * subscriber down. */
    void (*update)(struct tt_subscriber *who);
};

struct tt_subscriber {
    const struct tt_subscriber_ops *ops;
    struct tt_fanout *fo;
    struct tt_list subs; /* struct tt_sub, in subscription order */
    size_t num_subs;
    struct tt_kv *meta; /* Grip-Set-Meta / set-meta values */
    size_t num_meta;
    uint64_t mark; /* tt_fanout's visit mark (dedup when collecting) */
    bool gone;     /* being torn down: receives nothing more */
    bool counted;  /* in fo->stats.subscribers */
};

struct tt_fanout_stats {
    uint64_t deliveries, drops, filtered;
    uint64_t delivered[3];   /* deliveries by subscriber format */
    int64_t subscribers[3];  /* subscribers now, by format (holds, WebSocket sessions) */
    int64_t subscriptions;   /* channel subscriptions now */
};

struct tt_fanout {
    struct tt_map chans;       /* name -> struct tt_chan */
    struct tt_list updates;    /* channels with a first-subscription update due */
    size_t queue_items;        /* drop policy: queued items per subscriber */
    size_t queue_bytes;        /* and bytes */
    uint64_t update_delay_ms;  /* first-subscription update delay; 0 = off */
    uint64_t epoch, mark;
    /* A channel gained its first (true) or lost its last (false) subscriber here; linger
     * says the last one was a long-poll (Pushpin keeps such channels a while). */
    void (*report)(void *ctx, const char *channel, bool subscribed, bool linger);
    void *report_ctx;
    /* Every subscription added (+1) or removed (-1), by the subscriber's format: the
     * per-(mode, channel) counts of the stats socket's "sub" messages. May be NULL. */
    void (*count)(void *ctx, const char *channel, enum tt_sub_format format, int delta);
    struct tt_fanout_stats stats;
};

/* A subscription change as posted to the control thread's inbox (TT_INBOX_SUB): the
 * worker's channel gained its first or lost its last subscriber. Free with free(). */
struct tt_sub_report {
    bool subscribed;
    bool linger; /* the last subscriber was a long-poll */
    char channel[];
};
struct tt_sub_report *tt_sub_report_new(const char *channel, bool subscribed, bool linger);

void tt_fanout_init(struct tt_fanout *fo, size_t queue_items, size_t queue_bytes,
                    uint64_t update_delay_ms,
                    void (*report)(void *ctx, const char *channel, bool subscribed, bool linger),
                    void *ctx);
/* Every subscriber must have been deinitialized first. */
void tt_fanout_deinit(struct tt_fanout *fo);
/* Deliver a published message to every subscriber of its channel. */
void tt_fanout_deliver(struct tt_fanout *fo, struct tt_msg *m);
/* Run the first-subscription updates that are due (call about once a second). */
void tt_fanout_tick(struct tt_fanout *fo, uint64_t now_ms);
/* Update every subscriber once (recover). */
void tt_fanout_update_all(struct tt_fanout *fo);
/* Number of channels with subscribers here. */
size_t tt_fanout_channels(const struct tt_fanout *fo);
/* The subscribers of channel with the given format, each once; *out is a new array the
 * caller frees (NULL when none). Returns the count. Collect first, act after: acting may
 * tear subscribers down. */
size_t tt_fanout_collect(struct tt_fanout *fo, const char *channel, enum tt_sub_format format,
                         struct tt_subscriber ***out);

void tt_subscriber_init(struct tt_subscriber *s, struct tt_fanout *fo,
                        const struct tt_subscriber_ops *ops);
/* Unsubscribe from everything and free the meta. */
void tt_subscriber_deinit(struct tt_subscriber *s);
/* Subscribe. filters are names (unknown ones ignored, at most TT_SUB_MAX_FILTERS used).
 * update: a channel new to this worker schedules a first-subscription update. Returns the
 * subscription, or NULL if the subscriber already has the channel. */
struct tt_sub *tt_subscriber_add(struct tt_subscriber *s, const char *channel, const char *prev_id,
                                 char *const *filters, int num_filters, bool implicit, bool update);
/* Unsubscribe one channel (implicit ones too when force). Returns 0, or -1 if absent or
 * implicit. */
int tt_subscriber_remove(struct tt_subscriber *s, const char *channel, bool force);
/* Unsubscribe from every channel (the meta stays). */
void tt_subscriber_clear(struct tt_subscriber *s);
struct tt_sub *tt_subscriber_find(const struct tt_subscriber *s, const char *channel);
const char *tt_subscriber_channel(const struct tt_sub *sub);
/* Set meta (value NULL removes); copies. */
void tt_subscriber_set_meta(struct tt_subscriber *s, const char *name, const char *value);
const char *tt_subscriber_meta(const struct tt_subscriber *s, const char *name);
/* Move the subscription's prev-id on (NULL forgets it). */
void tt_sub_set_prev_id(struct tt_sub *sub, const char *id);

/* The filter named name[0..len), or 0 when it is not one thumbtack knows. */
int tt_filter_from_name(const char *name, size_t len);
/* Apply the content-changing filters (build-id, var-subst) of sub to in[0..len): a new
 * string (caller frees, *out_len set), or NULL when they change nothing. Also used for
 * initial and next-link bodies. */
char *tt_sub_filter_content(const struct tt_sub *sub, const char *in, size_t len,
                            size_t *out_len);

#endif

/* fanout.c: see fanout.h. */
#include "pubsub/fanout.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/log.h"

struct tt_chan {
    struct tt_list subs; /* struct tt_sub by chan_link */
    size_t count;
    bool last_was_response; /* the last subscriber to leave was a long-poll */
    int iterating;
    char *name;               /* the map entry's key */
    struct tt_list update_link; /* in fo->updates while an update is due */
    uint64_t update_at;
};

struct tt_sub_report *tt_sub_report_new(const char *channel, bool subscribed, bool linger)
{
    size_t n = strlen(channel);
    struct tt_sub_report *r = tt_malloc(sizeof(*r) + n + 1);
    r->subscribed = subscribed;
    r->linger = linger;
    memcpy(r->channel, channel, n + 1);
    return r;
}

void tt_fanout_init(struct tt_fanout *fo, size_t queue_items, size_t queue_bytes,
                    uint64_t update_delay_ms,
                    void (*report)(void *ctx, const char *channel, bool subscribed, bool linger),
                    void *ctx)
{
    memset(fo, 0, sizeof(*fo));
    tt_map_init(&fo->chans);
    tt_list_init(&fo->updates);
    fo->queue_items = queue_items;
    fo->queue_bytes = queue_bytes;
    fo->update_delay_ms = update_delay_ms;
    fo->report = report;
    fo->report_ctx = ctx;
}

void tt_fanout_deinit(struct tt_fanout *fo)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&fo->chans, &it); e;
         e = tt_map_next(&fo->chans, e, &it))
        free(e->value); /* only if a subscriber was leaked; lists are empty otherwise */
    tt_map_deinit(&fo->chans);
}

size_t tt_fanout_channels(const struct tt_fanout *fo)
{
    return fo->chans.size;
}

static void chan_release(struct tt_fanout *fo, struct tt_chan *ch)
{
    if (ch->count || ch->iterating)
        return;
    if (fo->report)
        fo->report(fo->report_ctx, ch->name, false, ch->last_was_response);
    tt_list_remove(&ch->update_link);
    tt_map_remove(&fo->chans, ch->name, strlen(ch->name));
    free(ch);
}

/* ---- subscribers -------------------------------------------------------------------- */

void tt_subscriber_init(struct tt_subscriber *s, struct tt_fanout *fo,
                        const struct tt_subscriber_ops *ops)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    s->fo = fo;
    tt_list_init(&s->subs);
    s->counted = true;
    fo->stats.subscribers[ops->format]++;
}

int tt_filter_from_name(const char *name, size_t len)
{
    static const struct {
        const char *name;
        int filter;
    } known[] = {
        {"skip-self", TT_FILTER_SKIP_SELF},     {"skip-users", TT_FILTER_SKIP_USERS},
        {"require-sub", TT_FILTER_REQUIRE_SUB}, {"build-id", TT_FILTER_BUILD_ID},
        {"var-subst", TT_FILTER_VAR_SUBST},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(known); i++)
        if (strlen(known[i].name) == len && memcmp(known[i].name, name, len) == 0)
            return known[i].filter;
    return 0;
}

struct tt_sub *tt_subscriber_find(const struct tt_subscriber *s, const char *channel)
{
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &s->subs)
    {
        struct tt_sub *sub = TT_CONTAINER_OF(p, struct tt_sub, owner_link);
        if (strcmp(sub->chan->name, channel) == 0)
            return sub;
    }
    return NULL;
}

const char *tt_subscriber_channel(const struct tt_sub *sub)
{
    return sub->chan->name;
}

struct tt_sub *tt_subscriber_add(struct tt_subscriber *s, const char *channel, const char *prev_id,
                                 char *const *filters, int num_filters, bool implicit, bool update)
{
    if (tt_subscriber_find(s, channel))
        return NULL;
    struct tt_fanout *fo = s->fo;
    size_t len = strlen(channel);
    struct tt_chan *ch = tt_map_get(&fo->chans, channel, len);
    if (!ch) {
        ch = tt_calloc(1, sizeof(*ch));
        tt_list_init(&ch->subs);
        tt_list_init(&ch->update_link);
        ch->name = tt_map_put(&fo->chans, channel, len, ch)->key;
        if (update && fo->update_delay_ms) {
            ch->update_at = tt_now_ms() + fo->update_delay_ms;
            tt_list_insert_tail(&fo->updates, &ch->update_link);
        }
        if (fo->report)
            fo->report(fo->report_ctx, ch->name, true, false);
    }
    struct tt_sub *sub = tt_calloc(1, sizeof(*sub));
    sub->owner = s;
    sub->chan = ch;
    sub->prev_id = prev_id ? tt_strdup(prev_id) : NULL;
    sub->epoch = fo->epoch;
    sub->implicit = implicit;
    for (int i = 0; i < num_filters && sub->num_filters < TT_SUB_MAX_FILTERS; i++) {
        int f = tt_filter_from_name(filters[i], strlen(filters[i]));
        if (f)
            sub->filters[sub->num_filters++] = (uint8_t)f;
    }
    tt_list_insert_tail(&ch->subs, &sub->chan_link);
    ch->count++;
    tt_list_insert_tail(&s->subs, &sub->owner_link);
    s->num_subs++;
    fo->stats.subscriptions++;
    if (fo->count)
        fo->count(fo->report_ctx, ch->name, s->ops->format, 1);
    return sub;
}

static void sub_free(struct tt_subscriber *s, struct tt_sub *sub)
{
    tt_list_remove(&sub->chan_link);
    tt_list_remove(&sub->owner_link);
    s->num_subs--;
    struct tt_chan *ch = sub->chan;
    ch->count--;
    ch->last_was_response = s->ops->format == TT_SUB_HTTP_RESPONSE;
    s->fo->stats.subscriptions--;
    if (s->fo->count)
        s->fo->count(s->fo->report_ctx, ch->name, s->ops->format, -1);
    free(sub->prev_id);
    free(sub);
    chan_release(s->fo, ch);
}

int tt_subscriber_remove(struct tt_subscriber *s, const char *channel, bool force)
{
    struct tt_sub *sub = tt_subscriber_find(s, channel);
    if (!sub || (sub->implicit && !force))
        return -1;
    sub_free(s, sub);
    return 0;
}

void tt_subscriber_clear(struct tt_subscriber *s)
{
    while (!tt_list_empty(&s->subs))
        sub_free(s, TT_CONTAINER_OF(s->subs.next, struct tt_sub, owner_link));
}

void tt_subscriber_deinit(struct tt_subscriber *s)
{
    s->gone = true;
    tt_subscriber_clear(s);
    if (s->counted) {
        s->counted = false;
        s->fo->stats.subscribers[s->ops->format]--;
    }
    for (size_t i = 0; i < s->num_meta; i++) {
        free(s->meta[i].name);
        free(s->meta[i].value);
    }
    free(s->meta);
    s->meta = NULL;
    s->num_meta = 0;
}

void tt_subscriber_set_meta(struct tt_subscriber *s, const char *name, const char *value)
{
    for (size_t i = 0; i < s->num_meta; i++) {
        if (strcmp(s->meta[i].name, name) != 0)
            continue;
        free(s->meta[i].value);
        if (value) {
            s->meta[i].value = tt_strdup(value);
        } else {
            free(s->meta[i].name);
            s->meta[i] = s->meta[--s->num_meta];
        }
        return;
    }
    if (!value)
        return;
    s->meta = tt_realloc(s->meta, (s->num_meta + 1) * sizeof(*s->meta));
    s->meta[s->num_meta].name = tt_strdup(name);
    s->meta[s->num_meta].value = tt_strdup(value);
    s->num_meta++;
}

const char *tt_subscriber_meta(const struct tt_subscriber *s, const char *name)
{
    for (size_t i = 0; i < s->num_meta; i++)
        if (strcmp(s->meta[i].name, name) == 0)
            return s->meta[i].value;
    return NULL;
}

void tt_sub_set_prev_id(struct tt_sub *sub, const char *id)
{
    char *v = id ? tt_strdup(id) : NULL;
    free(sub->prev_id);
    sub->prev_id = v;
}

/* ---- filters ----------------------------------------------------------------------- */

static bool in_list(const char *list, const char *v)
{
    const char *item;
    size_t n, pos = 0, vl = strlen(v), ll = strlen(list);
    while (tt_next_item(list, ll, &pos, &item, &n))
        if (n == vl && memcmp(item, v, n) == 0)
            return true;
    return false;
}

/* Filters that decide whether this subscription gets the message at all. */
static bool filtered_out(const struct tt_sub *sub, const struct tt_msg *m)
{
    const struct tt_subscriber *s = sub->owner;
    for (int i = 0; i < sub->num_filters; i++) {
        switch (sub->filters[i]) {
        case TT_FILTER_SKIP_SELF: {
            const char *user = tt_subscriber_meta(s, "user"), *sender = tt_msg_meta(m, "sender");
            if (user && sender && strcmp(user, sender) == 0)
                return true;
            break;
        }
        case TT_FILTER_SKIP_USERS: {
            const char *user = tt_subscriber_meta(s, "user");
            const char *skip = tt_msg_meta(m, "skip_users");
            if (user && skip && in_list(skip, user))
                return true;
            break;
        }
        case TT_FILTER_REQUIRE_SUB: {
            const char *req = tt_msg_meta(m, "require_sub");
            if (req && !tt_subscriber_find(s, req))
                return true;
            break;
        }
        default:
            break;
        }
    }
    return false;
}

/* A format that names its content filters is for subscriptions whose content-changing
 * filters are exactly those, in that order (Pushpin skips the item for the others). */
static bool content_filters_match(const struct tt_sub *sub, char *const *names, size_t n)
{
    if (!names)
        return true;
    size_t k = 0;
    for (int i = 0; i < sub->num_filters; i++) {
        int f = sub->filters[i];
        if (f != TT_FILTER_BUILD_ID && f != TT_FILTER_VAR_SUBST)
            continue;
        if (k >= n || tt_filter_from_name(names[k], strlen(names[k])) != f)
            return false;
        k++;
    }
    return k == n;
}

/* build-id: the subscription's id_format with "%(channel)s" replaced by that channel's
 * prev-id ("%%" -> "%"), hex-encoded when id_encoding=hex. */
static char *build_id(const struct tt_subscriber *s)
{
    const char *fmt = tt_subscriber_meta(s, "id_format");
    struct tt_buf b;
    tt_buf_init(&b, 0);
    for (const char *p = fmt ? fmt : ""; *p; p++) {
        if (p[0] == '%' && p[1] == '%') {
            tt_buf_append(&b, "%", 1);
            p++;
        } else if (p[0] == '%' && p[1] == '(') {
            const char *end = strstr(p + 2, ")s");
            if (!end) {
                tt_buf_appends(&b, p);
                break;
            }
            size_t nl = (size_t)(end - p - 2);
            struct tt_list *q, *tmp;
            tt_list_for_each_safe(q, tmp, &s->subs)
            {
                const struct tt_sub *x = TT_CONTAINER_OF(q, struct tt_sub, owner_link);
                if (x->prev_id && strlen(x->chan->name) == nl &&
                    memcmp(x->chan->name, p + 2, nl) == 0)
                    tt_buf_appends(&b, x->prev_id);
            }
            p = end + 1;
        } else {
            tt_buf_append(&b, p, 1);
        }
    }
    const char *enc = tt_subscriber_meta(s, "id_encoding");
    if (enc && strcmp(enc, "hex") == 0) {
        static const char hex[] = "0123456789abcdef";
        struct tt_buf x;
        tt_buf_init(&x, 0);
        for (size_t i = 0; i < b.len; i++) {
            char two[2] = {hex[(unsigned char)b.data[i] >> 4], hex[(unsigned char)b.data[i] & 15]};
            tt_buf_append(&x, two, 2);
        }
        tt_buf_deinit(&b);
        b = x;
    }
    return tt_buf_steal(&b, NULL);
}

static char *apply_build_id(const struct tt_subscriber *s, const char *in, size_t len,
                            size_t *out_len)
{
    char *id = build_id(s);
    struct tt_buf b;
    tt_buf_init(&b, 0);
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && i + 1 < len && in[i + 1] == 'I') {
            tt_buf_appends(&b, id);
            i++;
        } else if (in[i] == '%' && i + 1 < len && in[i + 1] == '%') {
            tt_buf_append(&b, "%", 1);
            i++;
        } else {
            tt_buf_append(&b, in + i, 1);
        }
    }
    free(id);
    return tt_buf_steal(&b, out_len);
}

/* var-subst: "%(name)s" -> the subscription meta value; "%%" -> "%". */
static char *apply_var_subst(const struct tt_subscriber *s, const char *in, size_t len,
                             size_t *out_len)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && i + 1 < len && in[i + 1] == '%') {
            tt_buf_append(&b, "%", 1);
            i++;
        } else if (in[i] == '%' && i + 1 < len && in[i + 1] == '(') {
            const char *end = memchr(in + i + 2, ')', len - i - 2);
            if (end && end + 1 < in + len && end[1] == 's') {
                char name[128];
                size_t nl = (size_t)(end - (in + i + 2));
                snprintf(name, sizeof(name), "%.*s", (int)TT_MIN(nl, sizeof(name) - 1),
                         in + i + 2);
                const char *v = tt_subscriber_meta(s, name);
                if (v)
                    tt_buf_appends(&b, v);
                i = (size_t)(end - in) + 1;
            } else {
                tt_buf_append(&b, in + i, 1);
            }
        } else {
            tt_buf_append(&b, in + i, 1);
        }
    }
    return tt_buf_steal(&b, out_len);
}

char *tt_sub_filter_content(const struct tt_sub *sub, const char *in, size_t len,
                            size_t *out_len)
{
    char *cur = NULL;
    for (int i = 0; i < sub->num_filters; i++) {
        char *next;
        if (sub->filters[i] == TT_FILTER_BUILD_ID)
            next = apply_build_id(sub->owner, in, len, &len);
        else if (sub->filters[i] == TT_FILTER_VAR_SUBST)
            next = apply_var_subst(sub->owner, in, len, &len);
        else
            continue;
        free(cur);
        cur = next;
        in = cur;
    }
    if (cur)
        *out_len = len;
    return cur;
}

/* ---- delivery ---------------------------------------------------------------------- */

/* The format's content and send-ness for a kind of subscriber; false if the message has
 * nothing for it. */
static bool format_of(const struct tt_pub_item *it, enum tt_sub_format f, const char **content,
                      size_t *len, bool *is_send, char *const **cf, size_t *ncf)
{
    switch (f) {
    case TT_SUB_HTTP_RESPONSE:
        if (!it->has_http_response)
            return false;
        *content = it->http_response.body_patch ? NULL : it->http_response.body;
        *len = it->http_response.body_len;
        *is_send = it->http_response.action == TT_ACT_SEND;
        *cf = it->http_response.content_filters;
        *ncf = it->http_response.num_content_filters;
        return true;
    case TT_SUB_HTTP_STREAM:
        if (!it->has_http_stream)
            return false;
        *content = it->http_stream.content;
        *len = it->http_stream.content_len;
        *is_send = it->http_stream.action == TT_ACT_SEND;
        *cf = it->http_stream.content_filters;
        *ncf = it->http_stream.num_content_filters;
        return true;
    case TT_SUB_WS_MESSAGE:
        if (!it->has_ws_message)
            return false;
        *content = it->ws_message.content;
        *len = it->ws_message.content_len;
        *is_send = it->ws_message.action == TT_ACT_SEND;
        *cf = it->ws_message.content_filters;
        *ncf = it->ws_message.num_content_filters;
        return true;
    }
    return false;
}

static bool over_caps(struct tt_fanout *fo, const struct tt_subscriber *s)
{
    size_t items = 0, bytes = 0;
    s->ops->backlog(s, &items, &bytes);
    return items >= fo->queue_items || bytes >= fo->queue_bytes;
}

static void deliver_one(struct tt_fanout *fo, struct tt_sub *sub, struct tt_msg *m)
{
    struct tt_subscriber *s = sub->owner;
    const char *content;
    size_t len;
    bool is_send;
    char *const *cf;
    size_t ncf;
    if (!format_of(&m->item, s->ops->format, &content, &len, &is_send, &cf, &ncf))
        return;
    if (filtered_out(sub, m) || (is_send && !content_filters_match(sub, cf, ncf))) {
        fo->stats.filtered++;
        return;
    }
    const struct tt_pub_item *it = &m->item;
    if (is_send) {
        if (sub->prev_id && it->prev_id && strcmp(sub->prev_id, it->prev_id) != 0 &&
            s->ops->gap && s->ops->gap(s, sub, m))
            return;
        /* Slow subscriber: over its caps a send is dropped for it (Pushpin's policy),
         * counted, and nobody else waits. */
        if (s->ops->backlog && over_caps(fo, s)) {
            if (s->ops->flush && !s->ops->flush(s))
                return;
            if (s->gone || over_caps(fo, s)) {
                fo->stats.drops++;
                return;
            }
        }
        /* Before the content filters: build-id renders the id being delivered. */
        if (it->id)
            tt_sub_set_prev_id(sub, it->id);
    }
    size_t flen = 0;
    char *filtered = is_send && content ? tt_sub_filter_content(sub, content, len, &flen) : NULL;
    /* deliver may free the subscriber (a long-poll answers once). */
    enum tt_sub_format format = s->ops->format;
    if (s->ops->deliver(s, sub, m, filtered, flen)) {
        fo->stats.deliveries++;
        fo->stats.delivered[format]++;
    }
    free(filtered);
}

void tt_fanout_deliver(struct tt_fanout *fo, struct tt_msg *m)
{
    if (!m->item.channel)
        return;
    struct tt_chan *ch = tt_map_get(&fo->chans, m->item.channel, strlen(m->item.channel));
    if (!ch)
        return;
    uint64_t epoch = ++fo->epoch;
    ch->iterating++;
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &ch->subs)
    {
        struct tt_sub *sub = TT_CONTAINER_OF(p, struct tt_sub, chan_link);
        if (sub->epoch == epoch || sub->owner->gone)
            continue;
        deliver_one(fo, sub, m);
    }
    ch->iterating--;
    chan_release(fo, ch);
}

/* Collect each subscriber of the given channels once, then update them: an update may
 * tear its subscriber down, and with it its subscriptions. */
static void update_collected(struct tt_fanout *fo, struct tt_subscriber **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!list[i]->gone && list[i]->ops->update)
            list[i]->ops->update(list[i]);
    free(list);
    (void)fo;
}

static void collect(struct tt_fanout *fo, struct tt_chan *ch, struct tt_subscriber ***list,
                    size_t *n, size_t *alloc)
{
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &ch->subs)
    {
        struct tt_subscriber *s = TT_CONTAINER_OF(p, struct tt_sub, chan_link)->owner;
        if (s->mark == fo->mark)
            continue;
        s->mark = fo->mark;
        if (*n == *alloc) {
            *alloc = *alloc ? *alloc * 2 : 16;
            *list = tt_realloc(*list, *alloc * sizeof(**list));
        }
        (*list)[(*n)++] = s;
    }
}

void tt_fanout_tick(struct tt_fanout *fo, uint64_t now_ms)
{
    if (tt_list_empty(&fo->updates))
        return;
    struct tt_subscriber **list = NULL;
    size_t n = 0, alloc = 0;
    fo->mark++;
    struct tt_list *p, *tmp;
    tt_list_for_each_safe(p, tmp, &fo->updates)
    {
        struct tt_chan *ch = TT_CONTAINER_OF(p, struct tt_chan, update_link);
        if (ch->update_at > now_ms)
            continue; /* due times are not sorted: delays are equal but clocks are coarse */
        tt_list_remove(&ch->update_link);
        collect(fo, ch, &list, &n, &alloc);
    }
    update_collected(fo, list, n);
}

size_t tt_fanout_collect(struct tt_fanout *fo, const char *channel, enum tt_sub_format format,
                         struct tt_subscriber ***out)
{
    *out = NULL;
    struct tt_chan *ch = tt_map_get(&fo->chans, channel, strlen(channel));
    if (!ch)
        return 0;
    size_t n = 0, alloc = 0;
    fo->mark++;
    collect(fo, ch, out, &n, &alloc);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((*out)[i]->ops->format == format && !(*out)[i]->gone)
            (*out)[k++] = (*out)[i];
    return k;
}

void tt_fanout_update_all(struct tt_fanout *fo)
{
    struct tt_subscriber **list = NULL;
    size_t n = 0, alloc = 0, it;
    fo->mark++;
    for (struct tt_map_entry *e = tt_map_first(&fo->chans, &it); e;
         e = tt_map_next(&fo->chans, e, &it))
        collect(fo, e->value, &list, &n, &alloc);
    update_collected(fo, list, n);
}

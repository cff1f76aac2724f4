#include "pubsub/msg.h"

#include <stdio.h>
#include <stdlib.h>

static void msg_release(struct tt_shared *s)
{
    struct tt_msg *m = TT_CONTAINER_OF(s, struct tt_msg, shared);
    tt_pub_item_deinit(&m->item);
    free(m->stream_chunk);
    free(m);
}

struct tt_msg *tt_msg_new(struct tt_pub_item *item)
{
    struct tt_msg *m = tt_calloc(1, sizeof(*m));
    tt_shared_init(&m->shared, msg_release);
    m->item = *item;
    memset(item, 0, sizeof(*item));
    m->created_ms = tt_now_ms();
    if (m->item.has_http_stream && m->item.http_stream.action == TT_ACT_SEND) {
        size_t n = m->item.http_stream.content_len;
        char hex[24];
        int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
        m->stream_chunk_len = (size_t)hl + n + 2;
        m->stream_chunk = tt_malloc(m->stream_chunk_len);
        memcpy(m->stream_chunk, hex, (size_t)hl);
        if (n)
            memcpy(m->stream_chunk + hl, m->item.http_stream.content, n);
        memcpy(m->stream_chunk + hl + n, "\r\n", 2);
        m->stream_raw_off = (size_t)hl;
    }
    return m;
}

struct tt_msg *tt_msg_ref(struct tt_msg *m)
{
    tt_shared_ref(&m->shared);
    return m;
}

void tt_msg_unref(struct tt_msg *m)
{
    if (m)
        tt_shared_unref(&m->shared);
}

const char *tt_msg_meta(const struct tt_msg *m, const char *name)
{
    for (size_t i = 0; i < m->item.num_meta; i++)
        if (strcmp(m->item.meta[i].name, name) == 0)
            return m->item.meta[i].value;
    return NULL;
}

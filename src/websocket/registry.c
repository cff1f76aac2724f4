/* registry.c: the worker's WebSocket sessions by cid (see registry.h). */
#include "websocket/registry.h"

#include <stdio.h>
#include <stdlib.h>

#include "pubsub/wstats.h"

struct entry {
    struct tt_ws_session *s;
    struct tt_wstats_conn conn;
};

void tt_ws_registry_add(struct tt_ws_session *s)
{
    struct tt_worker *w = s->c->w;
    struct entry *e = tt_calloc(1, sizeof(*e));
    e->s = s;
    tt_list_init(&e->conn.link);
    tt_map_put(&w->ws_sessions, s->cid, strlen(s->cid), e);
    const struct tt_route *r = s->route;
    tt_wstats_conn_open(&w->wstats, &e->conn, TT_CONN_WS, 0, s->cid, s->c->peer, false,
                        r ? r->id : NULL);
}

void tt_ws_registry_remove(struct tt_ws_session *s)
{
    struct tt_worker *w = s->c->w;
    struct entry *e = tt_map_remove(&w->ws_sessions, s->cid, strlen(s->cid));
    if (!e)
        return;
    tt_wstats_conn_close(&w->wstats, &e->conn);
    free(e);
}

static struct tt_ws_session *find(struct tt_worker *w, const char *cid, size_t len)
{
    struct entry *e = tt_map_get(&w->ws_sessions, cid, len);
    return e && !e->s->closing ? e->s : NULL;
}

bool tt_ws_registry_alive(struct tt_worker *w, const char *cid, size_t len)
{
    return find(w, cid, len) != NULL;
}

bool tt_ws_registry_refresh(struct tt_worker *w, const char *cid, size_t len)
{
    struct tt_ws_session *s = find(w, cid, len);
    if (!s)
        return false;
    if (s->be && s->be->ops->refresh)
        s->be->ops->refresh(s->be);
    return true;
}

void tt_ws_registry_refresh_channel(struct tt_worker *w, const char *channel)
{
    struct tt_subscriber **list;
    size_t n = tt_fanout_collect(&w->fanout, channel, TT_SUB_WS_MESSAGE, &list);
    /* Refreshing may end a session: the list holds pointers, re-checked by cid. */
    char(*cids)[40] = n ? tt_calloc(n, sizeof(*cids)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct tt_ws_session *s = TT_CONTAINER_OF(list[i], struct tt_ws_session, sub);
        snprintf(cids[i], sizeof(cids[i]), "%s", s->cid);
    }
    free(list);
    for (size_t i = 0; i < n; i++)
        tt_ws_registry_refresh(w, cids[i], strlen(cids[i]));
    free(cids);
}

/* held.c: the compact record of an idle held HTTP/2 stream (see held.h), and the timer of
 * a sink (sink.h). */
#include "proxy/held.h"

#include <stdlib.h>

#include "core/log.h"
#include "proxy/client.h"

void tt_sink_timer_start(struct tt_sink *k, struct tt_worker *w, tt_wtimer_fn cb, uint64_t ms)
{
    tt_wheel_start(&w->wheel, &k->timer, cb, uv_now(&w->loop), ms);
    tt_worker_wheel_armed(w);
}

void tt_sink_timer_stop(struct tt_sink *k, struct tt_worker *w)
{
    tt_wheel_stop(&w->wheel, &k->timer);
}

void tt__access_line(const char *head, uint64_t bytes_out, uint64_t start_ms, const char *tail)
{
    tt_info("%s bytes=%llu time=%llums%s", head, (unsigned long long)bytes_out,
            (unsigned long long)(tt_now_ms() - start_ms), tail);
}

void tt_held_free(struct tt_held *k, struct tt_worker *w)
{
    struct tt_client_session *s = k->sink.session;
    if (s) {
        k->sink.session = NULL;
        s->ops->free(s);
    }
    tt_sink_timer_stop(&k->sink, w);
    if (k->log_tail)
        tt__access_line(k->log, k->bytes_out, k->sconn.opened_ms, k->log + k->log_tail);
    tt_idmap_remove(&w->requests, k->sconn.rid);
    tt_wstats_conn_close(&w->wstats, &k->sconn);
    w->num_clients--;
    tt_worker_client_closed(w);
    free(k);
}

void tt_held_shutdown(struct tt_held *k)
{
    struct tt_client_session *s = k->sink.session;
    if (s)
        s->ops->shutdown(s);
}

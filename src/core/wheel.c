/* wheel.c: see wheel.h. */
#include "core/wheel.h"

void tt_wheel_init(struct tt_wheel *w, uint64_t now_ms)
{
    for (size_t i = 0; i < TT_WHEEL_SLOTS; i++)
        tt_list_init(&w->slots[i]);
    w->now_tick = now_ms / TT_WHEEL_TICK_MS;
    w->armed = 0;
}

void tt_wheel_stop(struct tt_wheel *w, struct tt_wtimer *t)
{
    if (!tt_wtimer_active(t))
        return;
    tt_list_remove(&t->link);
    w->armed--;
}

void tt_wheel_start(struct tt_wheel *w, struct tt_wtimer *t, tt_wtimer_fn cb, uint64_t now_ms,
                    uint64_t ms)
{
    tt_wheel_stop(w, t);
    t->cb = cb;
    t->due_ms = now_ms + ms;
    /* The tick at or after the due time, and always a later one than the last run, so
     * that a timer never fires early and a callback cannot re-arm into the running slot. */
    uint64_t tick = (t->due_ms + TT_WHEEL_TICK_MS - 1) / TT_WHEEL_TICK_MS;
    if (tick <= w->now_tick)
        tick = w->now_tick + 1;
    tt_list_insert_tail(&w->slots[tick % TT_WHEEL_SLOTS], &t->link);
    w->armed++;
}

/* Fire what is due in one slot; timers of later turns stay. */
static size_t run_slot(struct tt_wheel *w, struct tt_list *slot, uint64_t now_ms)
{
    if (tt_list_empty(slot))
        return 0;
    /* Take the slot's list over, so that callbacks may arm and stop freely. */
    struct tt_list pending;
    tt_list_move(&pending, slot);
    size_t fired = 0;
    while (!tt_list_empty(&pending)) {
        struct tt_wtimer *t = TT_CONTAINER_OF(pending.next, struct tt_wtimer, link);
        tt_list_remove(&t->link);
        if (t->due_ms > now_ms) {
            tt_list_insert_tail(slot, &t->link); /* a later turn of the wheel */
            continue;
        }
        w->armed--;
        fired++;
        t->cb(t);
    }
    return fired;
}

size_t tt_wheel_run(struct tt_wheel *w, uint64_t now_ms)
{
    uint64_t target = now_ms / TT_WHEEL_TICK_MS;
    size_t fired = 0;
    if (target <= w->now_tick)
        return 0;
    /* Behind by more than a turn (a stalled loop): every slot once is enough. */
    if (target - w->now_tick > TT_WHEEL_SLOTS)
        w->now_tick = target - TT_WHEEL_SLOTS;
    while (w->now_tick < target) {
        w->now_tick++;
        fired += run_slot(w, &w->slots[w->now_tick % TT_WHEEL_SLOTS], now_ms);
    }
    return fired;
}

int64_t tt_wheel_next_ms(const struct tt_wheel *w, uint64_t now_ms)
{
    if (!w->armed)
        return -1;
    uint64_t next = (w->now_tick + 1) * TT_WHEEL_TICK_MS;
    return next > now_ms ? (int64_t)(next - now_ms) : 0;
}

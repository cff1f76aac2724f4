/* wheel.h: a hashed timing wheel for the coarse timeouts of many connections (request
 * head, hold timeout, keep-alives, close waits): arming, re-arming and cancelling cost O(1)
 * and a few pointer writes, and an idle connection costs nothing per tick: only the slot
 * whose time has come is looked at.
 *
 * Resolution TT_WHEEL_TICK_MS: a timer fires between its due time and one tick later (never
 * early). Timers further away than one turn of the wheel wait in their slot for the
 * rounds to pass. The owner drives it: tt_wheel_next_ms says when the next tick is due
 * (the owner arms one real timer for that), tt_wheel_run fires what is due.
 *
 * Owner: struct tt_wheel is embedded in its owner (a worker); a struct tt_wtimer is
 * embedded in whatever it times and must be stopped before that is freed. A callback may
 * start or stop any timer, its own included. Thread: the owner's only. */
#ifndef TT_WHEEL_H
#define TT_WHEEL_H

#include "core/list.h"
#include "core/common.h"

#define TT_WHEEL_TICK_MS 50
#define TT_WHEEL_SLOTS 512 /* one turn: 25.6 s */

struct tt_wtimer;
typedef void (*tt_wtimer_fn)(struct tt_wtimer *t);

struct tt_wtimer {
    struct tt_list link; /* in its slot while armed; self-linked when not */
    uint64_t due_ms;
    tt_wtimer_fn cb;
};

struct tt_wheel {
    struct tt_list slots[TT_WHEEL_SLOTS];
    uint64_t now_tick; /* the last tick run */
    size_t armed;
};

void tt_wheel_init(struct tt_wheel *w, uint64_t now_ms);
static inline void tt_wtimer_init(struct tt_wtimer *t)
{
    tt_list_init(&t->link);
    t->due_ms = 0;
    t->cb = NULL;
}
static inline bool tt_wtimer_active(const struct tt_wtimer *t)
{
    return !tt_list_empty(&t->link);
}
/* Arm (or re-arm) t to call cb after ms milliseconds from now_ms. */
void tt_wheel_start(struct tt_wheel *w, struct tt_wtimer *t, tt_wtimer_fn cb, uint64_t now_ms,
                    uint64_t ms);
void tt_wheel_stop(struct tt_wheel *w, struct tt_wtimer *t);
/* Fire every timer due by now_ms. Returns how many fired. */
size_t tt_wheel_run(struct tt_wheel *w, uint64_t now_ms);
/* Milliseconds until the next tick that has work, or -1 when nothing is armed. */
int64_t tt_wheel_next_ms(const struct tt_wheel *w, uint64_t now_ms);

#endif

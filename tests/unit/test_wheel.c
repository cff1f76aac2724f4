/* Unit tests for the timing wheel (core/wheel.c): never early, at most one tick late,
 * long timeouts over several turns, re-arming and stopping from callbacks, a stalled
 * owner catching up. */
#include "core/wheel.h"
#include "tt_test.h"

struct rec {
    struct tt_wtimer t;
    int fired;
    uint64_t at;
    struct tt_wheel *w;
    uint64_t *now;
    int rearm_ms;          /* re-arm itself this far ahead when fired, if > 0 */
    struct tt_wtimer *stop; /* stop this one when fired */
};

static void on_fire(struct tt_wtimer *t)
{
    struct rec *r = TT_CONTAINER_OF(t, struct rec, t);
    r->fired++;
    r->at = *r->now;
    if (r->rearm_ms > 0)
        tt_wheel_start(r->w, &r->t, on_fire, *r->now, (uint64_t)r->rearm_ms);
    if (r->stop)
        tt_wheel_stop(r->w, r->stop);
}

static void advance(struct tt_wheel *w, uint64_t *now, uint64_t to, uint64_t step)
{
    while (*now < to) {
        *now += step;
        tt_wheel_run(w, *now);
    }
}

static void test_never_early_at_most_a_tick_late(void)
{
    struct tt_wheel w;
    uint64_t now = 1000003;
    tt_wheel_init(&w, now);
    uint64_t delays[] = {1, 49, 50, 51, 99, 1000, 10000, 25599, 25600, 25601, 55000, 120000};
    struct rec r[12];
    for (int i = 0; i < 12; i++) {
        r[i] = (struct rec){.w = &w, .now = &now};
        tt_wtimer_init(&r[i].t);
        tt_wheel_start(&w, &r[i].t, on_fire, now, delays[i]);
    }
    uint64_t t0 = now;
    CHECK_INT(w.armed, 12);
    CHECK(tt_wheel_next_ms(&w, now) > 0);
    advance(&w, &now, t0 + 130000, 7);
    for (int i = 0; i < 12; i++) {
        CHECK_INT(r[i].fired, 1);
        CHECK(r[i].at >= t0 + delays[i]);
        CHECK(r[i].at <= t0 + delays[i] + TT_WHEEL_TICK_MS + 7);
    }
    CHECK_INT(w.armed, 0);
    CHECK_INT(tt_wheel_next_ms(&w, now), -1);
}

static void test_rearm_and_stop(void)
{
    struct tt_wheel w;
    uint64_t now = 5000;
    tt_wheel_init(&w, now);
    struct rec a = {.w = &w, .now = &now, .rearm_ms = 100};
    struct rec b = {.w = &w, .now = &now};
    struct rec c = {.w = &w, .now = &now};
    tt_wtimer_init(&a.t);
    tt_wtimer_init(&b.t);
    tt_wtimer_init(&c.t);
    tt_wheel_start(&w, &a.t, on_fire, now, 100);
    tt_wheel_start(&w, &b.t, on_fire, now, 300);
    tt_wheel_start(&w, &c.t, on_fire, now, 100);
    c.stop = &b.t; /* c stops b before b is due */
    /* re-arming moves a timer: only the last start counts */
    tt_wheel_start(&w, &c.t, on_fire, now, 150);
    CHECK_INT(w.armed, 3);
    advance(&w, &now, 5000 + 1000, 10);
    CHECK(a.fired >= 8 && a.fired <= 10); /* every ~100 ms, by itself */
    CHECK_INT(c.fired, 1);
    CHECK_INT(b.fired, 0);
    CHECK(!tt_wtimer_active(&b.t));
    tt_wheel_stop(&w, &a.t);
    tt_wheel_stop(&w, &a.t); /* twice is fine */
    CHECK_INT(w.armed, 0);
}

static void test_stalled_owner(void)
{
    struct tt_wheel w;
    uint64_t now = 0;
    tt_wheel_init(&w, now);
    struct rec r[3];
    uint64_t d[3] = {10, 20000, 90000};
    for (int i = 0; i < 3; i++) {
        r[i] = (struct rec){.w = &w, .now = &now};
        tt_wtimer_init(&r[i].t);
        tt_wheel_start(&w, &r[i].t, on_fire, now, d[i]);
    }
    now = 60000; /* the loop was stuck for a minute */
    tt_wheel_run(&w, now);
    CHECK_INT(r[0].fired, 1);
    CHECK_INT(r[1].fired, 1);
    CHECK_INT(r[2].fired, 0); /* not due yet: still waits */
    advance(&w, &now, 91000, 50);
    CHECK_INT(r[2].fired, 1);
    CHECK(r[2].at >= 90000);
}

TT_TEST_MAIN(test_never_early_at_most_a_tick_late, test_rearm_and_stop, test_stalled_owner)

/* shared.h: a reference-counted block that several owners read at once: a published
 * message whose rendered bytes sit in the output queues of many connections. Whoever
 * embeds it supplies release, called by the last unref. The count is atomic, so
 * references may be taken and dropped on any thread. */
#ifndef TT_SHARED_H
#define TT_SHARED_H

struct tt_shared {
    int refs;
    void (*release)(struct tt_shared *s);
};

static inline void tt_shared_init(struct tt_shared *s, void (*release)(struct tt_shared *))
{
    s->refs = 1;
    s->release = release;
}

static inline struct tt_shared *tt_shared_ref(struct tt_shared *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

static inline void tt_shared_unref(struct tt_shared *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        s->release(s);
}

#endif

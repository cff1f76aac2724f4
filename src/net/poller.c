/* poller.c: see poller.h. */
#include "net/poller.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"

#define POLL_BATCH 256

/* Run the callbacks of one batch of events; returns whether libuv's fd was among them. */
static bool dispatch(struct epoll_event *evs, int n)
{
    bool uv_ready = false;
    for (int i = 0; i < n; i++) {
        struct tt_pollfd *f = evs[i].data.ptr;
        if (!f) {
            uv_ready = true; /* libuv's backend fd */
            continue;
        }
        if (f->removed)
            continue; /* removed by an earlier callback of this batch */
        uint32_t e = evs[i].events;
        int uv = 0;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
            uv |= UV_READABLE;
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            uv |= UV_WRITABLE;
        uv &= f->interest;
        if (uv)
            f->cb(f, uv);
    }
    return uv_ready;
}

static void on_keep(uv_prepare_t *h)
{
    (void)h;
}

static void run_kicks(struct tt_poller *p)
{
    /* One pass over what is kicked now; a callback may kick again (for the next turn). */
    struct tt_list list;
    tt_list_move(&list, &p->kicked);
    while (!tt_list_empty(&list)) {
        struct tt_pollfd *f = TT_CONTAINER_OF(list.next, struct tt_pollfd, link);
        tt_list_remove(&f->link);
        f->kicked = false;
        if (f->interest & UV_READABLE)
            f->cb(f, UV_READABLE);
    }
}

/* The done callbacks of removed pollfds: last in a turn, after every callback and flush
 * of the turn that may still name them. */
static void run_dones(struct tt_poller *p)
{
    /* Take the list over: done callbacks may remove more (reaped on the next turn). */
    struct tt_list list;
    tt_list_move(&list, &p->removed);
    while (!tt_list_empty(&list)) {
        struct tt_pollfd *f = TT_CONTAINER_OF(list.next, struct tt_pollfd, link);
        tt_list_remove(&f->link);
        if (f->done)
            f->done(f);
    }
}

void tt_poller_run(struct tt_poller *p, tt_poller_after_fn after, void *ctx)
{
    uv_loop_t *loop = p->loop;
    struct epoll_event evs[POLL_BATCH];
    while (uv_loop_alive(loop)) {
        /* Until libuv's next timer (0 while it has closing handles), or at once when
         * kicks or removals wait. */
        bool owed = !tt_list_empty(&p->kicked) || !tt_list_empty(&p->removed);
        int n = epoll_wait(p->epfd, evs, POLL_BATCH, owed ? 0 : uv_backend_timeout(loop));
        uv_update_time(loop); /* timers started by the callbacks count from now */
        bool uv_ready = n > 0 && dispatch(evs, n);
        /* libuv's turn only when its fd is ready or a timer is due: each turn costs an
         * epoll_wait of its own. */
        if (uv_ready || uv_backend_timeout(loop) == 0)
            uv_run(loop, UV_RUN_NOWAIT);
        /* Writes queued by the turn go out before anything is freed: the owner's list of
         * connections to flush may name one that closed meanwhile. */
        after(ctx);
        if (!tt_list_empty(&p->kicked)) {
            run_kicks(p);
            after(ctx);
        }
        run_dones(p);
    }
}

int tt_poller_init(struct tt_poller *p, uv_loop_t *loop)
{
    memset(p, 0, sizeof(*p));
    tt_list_init(&p->removed);
    tt_list_init(&p->kicked);
    p->loop = loop;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0)
        return -errno;
    /* libuv's epoll fd is a member: the thread waits here, and runs a libuv turn when
     * libuv has something (tt_poller_run). */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, uv_backend_fd(loop), &ev) < 0) {
        int e = errno;
        close(p->epfd);
        return -e;
    }
    uv_prepare_init(loop, &p->keep);
    uv_prepare_start(&p->keep, on_keep);
    /* The set alone keeps no loop alive: its owner's other handles decide that. */
    uv_unref((uv_handle_t *)&p->keep);
    return 0;
}

void tt_poller_close(struct tt_poller *p)
{
    if (p->closing)
        return;
    p->closing = true;
    /* done callbacks still owed run now: nothing else will call them */
    while (!tt_list_empty(&p->removed)) {
        struct tt_pollfd *f = TT_CONTAINER_OF(p->removed.next, struct tt_pollfd, link);
        tt_list_remove(&f->link);
        if (f->done)
            f->done(f);
    }
    close(p->epfd);
    p->epfd = -1;
    uv_close((uv_handle_t *)&p->keep, NULL);
}

void tt_pollfd_init(struct tt_poller *p, struct tt_pollfd *f, int fd, tt_pollfd_fn cb)
{
    memset(f, 0, sizeof(*f));
    f->fd = fd;
    f->cb = cb;
    tt_list_init(&f->link);
    if (p->members++ == 0)
        uv_ref((uv_handle_t *)&p->keep); /* open sockets keep the loop running */
}

int tt_poller_set(struct tt_poller *p, struct tt_pollfd *f, int events)
{
    if (f->removed)
        return 0;
    events &= UV_READABLE | UV_WRITABLE;
    if (events == f->interest && (events != 0) == f->in_set)
        return 0;
    if (!events) {
        /* Out of the set: a level-triggered hang-up would otherwise be reported forever. */
        if (f->in_set && epoll_ctl(p->epfd, EPOLL_CTL_DEL, f->fd, NULL) == 0)
            p->count--;
        f->in_set = false;
        f->interest = 0;
        return 0;
    }
    struct epoll_event ev = {.data.ptr = f};
    if (events & UV_READABLE)
        ev.events |= EPOLLIN;
    if (events & UV_WRITABLE)
        ev.events |= EPOLLOUT;
    if (f->exclusive) {
        if (f->in_set) /* the kernel refuses EPOLL_CTL_MOD on an exclusive entry */
            tt_poller_set(p, f, 0);
        ev.events |= EPOLLEXCLUSIVE;
    }
    int op = f->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(p->epfd, op, f->fd, &ev) < 0) {
        int e = errno;
        tt_debug("poller: epoll_ctl(%s, fd %d): %s", op == EPOLL_CTL_ADD ? "add" : "mod", f->fd,
                 strerror(e));
        return -e;
    }
    if (!f->in_set)
        p->count++;
    f->in_set = true;
    f->interest = (uint8_t)events;
    return 0;
}

void tt_pollfd_closed(struct tt_poller *p, struct tt_pollfd *f)
{
    if (f->in_set)
        p->count--;
    f->in_set = false;
    f->interest = 0;
    f->fd = -1;
}

void tt_poller_kick(struct tt_poller *p, struct tt_pollfd *f)
{
    if (f->removed || f->kicked || p->closing)
        return;
    f->kicked = true;
    tt_list_insert_tail(&p->kicked, &f->link);
}

void tt_poller_remove(struct tt_poller *p, struct tt_pollfd *f, tt_pollfd_done_fn done)
{
    if (f->removed)
        return;
    if (f->kicked) {
        tt_list_remove(&f->link);
        f->kicked = false;
    }
    tt_poller_set(p, f, 0);
    f->removed = true;
    if (--p->members == 0)
        uv_unref((uv_handle_t *)&p->keep);
    f->done = done;
    tt_list_insert_tail(&p->removed, &f->link);
}

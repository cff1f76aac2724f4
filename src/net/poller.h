/* poller.h: many sockets behind one libuv handle.
 *
 * Each worker keeps an epoll set of its own, watched by a single uv_poll_t; a socket in
 * it costs a few bytes in its owner (struct tt_pollfd) instead of a 160-byte uv_poll_t
 * and libuv's watcher bookkeeping, and a change of interest is one epoll_ctl. Events are
 * level-triggered, as uv_poll's: whatever is not consumed is reported again.
 *
 * A pollfd can also be kicked: it gets a readable callback on the next loop turn although
 * the socket may have nothing, for bytes its owner's TLS layer read ahead and holds (which
 * epoll cannot see).
 *
 * Removal is safe at any time, also from inside a callback of the same batch: a removed
 * pollfd gets no further callback, and its done callback (where the owner frees it) runs
 * on a later turn of the loop, after the batch that may still name it.
 * Owner: struct tt_poller is embedded in a worker; struct tt_pollfd in a connection.
 * Thread: the loop's. */
#ifndef TT_POLLER_H
#define TT_POLLER_H

#include <uv.h>

#include "core/common.h"
#include "core/list.h"

struct tt_pollfd;
/* events: UV_READABLE / UV_WRITABLE (an error or hang-up shows as both, within the
 * interest, so that the read or write reports it). */
typedef void (*tt_pollfd_fn)(struct tt_pollfd *p, int events);
typedef void (*tt_pollfd_done_fn)(struct tt_pollfd *p);

struct tt_pollfd {
    int fd;
    uint8_t interest; /* UV_READABLE | UV_WRITABLE currently in the epoll set */
    bool in_set;
    bool removed;
    bool kicked; /* on the kicked list */
    tt_pollfd_fn cb;
    tt_pollfd_done_fn done;
    struct tt_list link; /* on the kicked list, or the removed list until done runs */
};

struct tt_poller {
    uv_poll_t handle; /* on epfd */
    uv_idle_t reaper; /* runs kicks and the done callbacks of removed pollfds */
    int epfd;
    struct tt_list removed;
    struct tt_list kicked;
    size_t count;   /* pollfds in the epoll set */
    size_t members; /* pollfds not removed: while there are any, the handle keeps the loop */
    bool closing;
};

int tt_poller_init(struct tt_poller *p, uv_loop_t *loop);
/* Close the handles (the loop must run once more); every pollfd must be removed first. */
void tt_poller_close(struct tt_poller *p);
void tt_pollfd_init(struct tt_poller *p, struct tt_pollfd *f, int fd, tt_pollfd_fn cb);
/* Watch for events (UV_READABLE | UV_WRITABLE; 0 takes the fd out of the set). Returns 0
 * or -errno. */
int tt_poller_set(struct tt_poller *p, struct tt_pollfd *f, int events);
/* A readable callback on the next loop turn (if reading is in its interest then). */
void tt_poller_kick(struct tt_poller *p, struct tt_pollfd *f);
/* The fd was closed: closing took it out of the epoll set (no epoll_ctl needed). Call
 * right after close(), before tt_poller_remove. */
void tt_pollfd_closed(struct tt_poller *p, struct tt_pollfd *f);
/* Stop watching for good; done(f) runs on a later loop turn. The fd is not closed. */
void tt_poller_remove(struct tt_poller *p, struct tt_pollfd *f, tt_pollfd_done_fn done);

#endif

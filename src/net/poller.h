/* poller.h: many sockets in one epoll set, and the loop that waits on it.
 *
 * Each worker keeps an epoll set of its own; a socket in it costs a few bytes in its
 * owner (struct tt_pollfd) instead of a 160-byte uv_poll_t and libuv's watcher
 * bookkeeping, and a change of interest is one epoll_ctl. Events are level-triggered, as
 * uv_poll's: whatever is not consumed is reported again.
 *
 * The set is the outermost wait of its thread (tt_poller_run): libuv's own epoll fd is a
 * member, and the libuv loop runs a non-blocking turn only when that fd is ready or a
 * timer is due (or libuv has closing handles). So a socket event costs one epoll_wait,
 * and a listener shared by several workers can be in each set with EPOLLEXCLUSIVE,
 * which wakes one waiter per connection only when the waiting is done on that set
 * directly.
 *
 * A pollfd can also be kicked: it gets a readable callback at the end of the loop turn
 * (after the batch and libuv's turn) although the socket may have nothing, for bytes its
 * owner's TLS layer read ahead and holds (which epoll cannot see).
 *
 * Removal is safe at any time, also from inside a callback of the same batch: a removed
 * pollfd gets no further callback, and its done callback (where the owner frees it) runs
 * at the end of the turn, after the batch and the libuv callbacks that may still name it
 * (or from tt_poller_close).
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
    /* Bit-fields: the pollfd is in every connection, and a fifth bool would cost 8 bytes
     * of padding. */
    bool in_set : 1;
    bool removed : 1;
    bool kicked : 1;    /* on the kicked list */
    bool exclusive : 1; /* added with EPOLLEXCLUSIVE (a listener shared by several sets) */
    tt_pollfd_fn cb;
    tt_pollfd_done_fn done;
    struct tt_list link; /* on the kicked list, or the removed list until done runs */
};

struct tt_poller {
    uv_loop_t *loop;
    uv_prepare_t keep; /* does nothing; referenced while there are members (loop alive) */
    int epfd;
    struct tt_list removed;
    struct tt_list kicked;
    size_t count;   /* pollfds in the epoll set */
    size_t members; /* pollfds not removed: while there are any, the loop stays alive */
    bool closing;
};

/* Called at the end of every turn (the batch of socket events and libuv's turn), again
 * after kicked callbacks, and always before the done callbacks of the turn's removals:
 * write out what was queued. */
typedef void (*tt_poller_after_fn)(void *ctx);

int tt_poller_init(struct tt_poller *p, uv_loop_t *loop);
/* Wait on the set and run the loop's turns until the loop is no longer alive (no
 * referenced handle, request or member left): the thread's whole life. */
void tt_poller_run(struct tt_poller *p, tt_poller_after_fn after, void *ctx);
/* Close the handles (the loop must run once more); every pollfd must be removed first. */
void tt_poller_close(struct tt_poller *p);
void tt_pollfd_init(struct tt_poller *p, struct tt_pollfd *f, int fd, tt_pollfd_fn cb);
/* Watch for events (UV_READABLE | UV_WRITABLE; 0 takes the fd out of the set). Returns 0
 * or -errno. An exclusive pollfd (f->exclusive set before its first add) may only go
 * between 0 and one interest: the kernel refuses to modify such an entry. */
int tt_poller_set(struct tt_poller *p, struct tt_pollfd *f, int events);
/* A readable callback on the next loop turn (if reading is in its interest then). */
void tt_poller_kick(struct tt_poller *p, struct tt_pollfd *f);
/* The fd was closed: closing took it out of the epoll set (no epoll_ctl needed). Call
 * right after close(), before tt_poller_remove. */
void tt_pollfd_closed(struct tt_poller *p, struct tt_pollfd *f);
/* Stop watching for good; done(f) runs on a later loop turn. The fd is not closed. */
void tt_poller_remove(struct tt_poller *p, struct tt_pollfd *f, tt_pollfd_done_fn done);

#endif

/* list.h: intrusive circular doubly-linked list. A node is embedded in its owner; the
 * list never owns anything. Thread: owner's. */
#ifndef TT_LIST_H
#define TT_LIST_H

#include <stddef.h>

struct tt_list {
    struct tt_list *prev, *next;
};

static inline void tt_list_init(struct tt_list *l)
{
    l->prev = l->next = l;
}

static inline int tt_list_empty(const struct tt_list *l)
{
    return l->next == l;
}

static inline void tt_list_insert_tail(struct tt_list *head, struct tt_list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Unlink n and leave it self-linked, so a second remove is harmless. */
static inline void tt_list_remove(struct tt_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Take every node of `from` over into `to` (its previous content is dropped) and leave
 * `from` empty: a caller walks `to` while callbacks add to `from` freely. */
static inline void tt_list_move(struct tt_list *to, struct tt_list *from)
{
    if (tt_list_empty(from)) {
        tt_list_init(to);
        return;
    }
    *to = *from;
    to->next->prev = to;
    to->prev->next = to;
    tt_list_init(from);
}

#define tt_list_for_each_safe(pos, tmp, head)                                                  \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                           \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif

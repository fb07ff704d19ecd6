/* A bounded multi-producer single-consumer mailbox.
 *
 * The queue is the runtime's MPSC queue (ds/mpscq.h, Vyukov's intrusive
 * list, as in Pony's messageq.c): a push is one atomic exchange, a pop
 * touches only consumer-owned fields, no locks.
 * The bound is a count of reservations made before each push; what happens
 * when the count reaches the capacity is the caller's overflow policy
 * (actors/send.c), so this file only counts and queues.
 *
 * The mailbox is two structs so that its owner can keep them on different
 * cache lines: the tail (tr_mailbox_tail), which every producer writes, and
 * the head (tr_mailbox_head), which only the consumer writes. The count is
 * pushed - popped: producers add to `pushed` (tail), the consumer stores
 * `popped` (head) with a plain store per pop, no read-modify-write on a line
 * the producers write. A producer reads `popped` only when the count it can
 * compute from the last value it saw (popped_seen, on the tail) nears the
 * capacity; that old value is never above `popped`, so the estimate errs
 * high and a refresh makes it exact. In the common case (far from full) a
 * send thus never touches the consumer's line, and a pop never touches the
 * producers' line except when the queue runs empty. */
#ifndef TROUPE_MAILBOX_H
#define TROUPE_MAILBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "mailbox/msg.h"

/* Producer side. */
typedef struct tr_mailbox_tail {
    _Atomic(tr_mlink *) in;        /* producers exchange here */
    _Atomic uint32_t pushed;       /* reservations made (pushes plus pending ones) */
    _Atomic uint32_t popped_seen;  /* a past value of head.popped, for estimates */
} tr_mailbox_tail;

/* Consumer side. */
typedef struct tr_mailbox_head {
    tr_mlink *out;              /* consumer only */
    tr_mlink stub;              /* keeps the list non-empty */
    _Atomic uint32_t popped;    /* nodes taken; written by the consumer only */
} tr_mailbox_head;

/* Initialises an empty mailbox in place. */
void tr_mailbox_init(tr_mailbox_tail *t, tr_mailbox_head *h);

/* Messages queued (or reserved) right now: exact for the consumer, a
 * snapshot for anyone else. Reads `popped` first, so concurrent pushes and
 * pops can make it high, never wrap below zero. */
static inline uint32_t tr_mailbox_count(const tr_mailbox_tail *t, const tr_mailbox_head *h)
{
    uint32_t popped = atomic_load_explicit(&h->popped, memory_order_seq_cst);
    uint32_t pushed = atomic_load_explicit(&t->pushed, memory_order_seq_cst);
    int32_t n = (int32_t)(pushed - popped);
    return n > 0 ? (uint32_t)n : 0;
}

/* Reserves room for one message and returns the count before the
 * reservation, for the caller to compare with `capacity`. The result may be
 * high while it is below capacity - 1 (then there is room either way);
 * from capacity - 1 up it is read fresh, as tr_mailbox_count. */
static inline uint32_t tr_mailbox_reserve(tr_mailbox_tail *t, const tr_mailbox_head *h,
                                          uint32_t capacity)
{
    uint32_t before = atomic_fetch_add_explicit(&t->pushed, 1, memory_order_seq_cst);
    uint32_t seen = atomic_load_explicit(&t->popped_seen, memory_order_relaxed);
    int32_t n = (int32_t)(before - seen);
    uint32_t estimate = n > 0 ? (uint32_t)n : 0;
    if (estimate + 1 < capacity)
        return estimate;
    uint32_t popped = atomic_load_explicit(&h->popped, memory_order_seq_cst);
    /* racing producers may store an older value: it only makes the next
     * estimate higher, hence refreshed sooner */
    atomic_store_explicit(&t->popped_seen, popped, memory_order_relaxed);
    n = (int32_t)(before - popped);
    return n > 0 ? (uint32_t)n : 0;
}

/* Gives back a reservation that will not be pushed. */
static inline void tr_mailbox_unreserve(tr_mailbox_tail *t)
{
    atomic_fetch_sub_explicit(&t->pushed, 1, memory_order_seq_cst);
}

/* Appends a node whose slot was reserved. Any thread. */
static inline void tr_mailbox_push(tr_mailbox_tail *t, tr_mnode *node)
{
    tr_mpscq_push(&t->in, &node->link);
}

/* Removes the oldest node, or returns NULL when the queue is empty or a
 * producer is half-way through a push (the count then stays positive, so the
 * consumer will look again). Consumer thread only. The new `popped` is
 * stored with release order only: a consumer that must order it before a
 * later load (a Dekker-style handshake) issues a seq_cst fence itself. */
tr_mnode *tr_mailbox_pop(tr_mailbox_tail *t, tr_mailbox_head *h);

#endif

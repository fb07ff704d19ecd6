/* A bounded multi-producer single-consumer mailbox.
 *
 * The queue is Vyukov's intrusive MPSC list (as in Pony's messageq.c): a push
 * is one atomic exchange, a pop touches only consumer-owned fields, no locks.
 * The bound is an atomic count reserved before each push; what happens when
 * the count reaches the capacity is the caller's overflow policy (actors/send.c),
 * so this file only counts and queues. */
#ifndef TROUPE_MAILBOX_H
#define TROUPE_MAILBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "mailbox/msg.h"

typedef struct tr_mailbox {
    _Atomic(tr_mlink *) in;  /* producers exchange here */
    _Atomic uint32_t count;  /* messages pushed or reserved and not yet popped */
    uint32_t pad;
    tr_mlink *out;           /* consumer only */
    tr_mlink stub;           /* keeps the list non-empty */
} tr_mailbox;

/* Initialises an empty mailbox in place. */
void tr_mailbox_init(tr_mailbox *mb);

/* Reserves room for one message; returns the count before the reservation
 * so the caller can compare it with the capacity. */
static inline uint32_t tr_mailbox_reserve(tr_mailbox *mb)
{
    return atomic_fetch_add_explicit(&mb->count, 1, memory_order_seq_cst);
}

/* Gives back a reservation that will not be pushed. */
static inline void tr_mailbox_unreserve(tr_mailbox *mb)
{
    atomic_fetch_sub_explicit(&mb->count, 1, memory_order_seq_cst);
}

/* Messages queued (or reserved) right now. */
static inline uint32_t tr_mailbox_count(tr_mailbox *mb)
{
    return atomic_load_explicit(&mb->count, memory_order_seq_cst);
}

/* Appends a node whose slot was reserved. Any thread. */
void tr_mailbox_push(tr_mailbox *mb, tr_mnode *node);

/* Removes the oldest node, or returns NULL when the queue is empty or a
 * producer is half-way through a push (the count then stays positive, so the
 * consumer will look again). Consumer thread only. */
tr_mnode *tr_mailbox_pop(tr_mailbox *mb);

#endif

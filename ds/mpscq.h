/* The runtime's one multi-producer single-consumer queue: Vyukov's intrusive
 * MPSC list with a stub node (as in Pony's actor/messageq.c), used by every
 * mailbox (mailbox/mailbox.c) and by the scheduler's injection list
 * (actors/sched.c).
 *
 * Producers: link->next = NULL; prev = exchange(in, link); prev->next = link:
 * a push is one atomic exchange, wait-free, no lock. Between the exchange
 * and the store the chain is briefly broken; the consumer then sees "empty"
 * and looks again later (its owner keeps a count that says there is more).
 * Only one thread pops at a time.
 *
 * The queue is three pieces the owner places itself, so that it can keep
 * them on different cache lines: `in` (what producers exchange), `out` (the
 * consumer's cursor) and `stub` (a link owned by the queue that keeps the
 * list non-empty). The functions are inline: a push is on the path of every
 * send. */
#ifndef TROUPE_DS_MPSCQ_H
#define TROUPE_DS_MPSCQ_H

#include <stdatomic.h>
#include <stddef.h>

/* The intrusive link: a member of whatever is queued (a message node, an
 * actor). */
typedef struct tr_mlink {
    _Atomic(struct tr_mlink *) next;
} tr_mlink;

/* Makes an empty queue of the three pieces. Not concurrent with anything. */
static inline void tr_mpscq_init(_Atomic(tr_mlink *) *in, tr_mlink **out, tr_mlink *stub)
{
    atomic_store_explicit(&stub->next, NULL, memory_order_relaxed);
    atomic_store_explicit(in, stub, memory_order_relaxed);
    *out = stub;
}

/* Appends `link`. Any thread. */
static inline void tr_mpscq_push(_Atomic(tr_mlink *) *in, tr_mlink *link)
{
    atomic_store_explicit(&link->next, NULL, memory_order_relaxed);
    tr_mlink *prev = atomic_exchange_explicit(in, link, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, link, memory_order_release);
}

/* Removes the oldest link, or returns NULL when the queue is empty or a
 * producer is half-way through a push. The consumer only (one at a time). */
static inline tr_mlink *tr_mpscq_pop(_Atomic(tr_mlink *) *in, tr_mlink **out, tr_mlink *stub)
{
    tr_mlink *first = *out;
    tr_mlink *next = atomic_load_explicit(&first->next, memory_order_acquire);
    if (first == stub) {
        if (next == NULL)
            return NULL;
        *out = first = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next == NULL) {
        if (first != atomic_load_explicit(in, memory_order_acquire))
            return NULL; /* a producer is mid-push */
        tr_mpscq_push(in, stub); /* the last link can leave: the stub takes its place */
        next = atomic_load_explicit(&first->next, memory_order_acquire);
        if (next == NULL)
            return NULL;
    }
    *out = next;
    return first;
}

#endif

/* A worker's local run queue: a bounded FIFO ring of runnable actors.
 *
 * Only the owning worker pushes (at the tail). The owner pops and thieves
 * steal at the head, both by CAS on the head counter, so stealing half of a
 * victim's queue is one CAS (Tokio's local queue, without its packed
 * "stealer in progress" half). FIFO rather than Chase-Lev's LIFO owner end:
 * an actor that used up its batch goes to the back, so one busy actor cannot
 * starve the others on the same worker. Counters are 64-bit and never wrap. */
#ifndef TROUPE_ACTORS_RUNQ_H
#define TROUPE_ACTORS_RUNQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_actor;

#define TR_RUNQ_CAP 256u

typedef struct tr_runq {
    _Atomic uint64_t head; /* next to pop; CAS by owner and thieves */
    char pad1[56];
    _Atomic uint64_t tail; /* next free; written by the owner only */
    char pad2[56];
    _Atomic(struct tr_actor *) ring[TR_RUNQ_CAP];
} tr_runq;

/* Initialises an empty queue. */
void tr_runq_init(tr_runq *q);

/* Owner only: appends `a`. Returns false when the queue is full. */
bool tr_runq_push(tr_runq *q, struct tr_actor *a);

/* Owner only: appends as[0..n) with one publication (one seq_cst store
 * instead of one per actor). Returns how many fitted (a prefix of as). */
size_t tr_runq_push_many(tr_runq *q, struct tr_actor *const *as, size_t n);

/* Owner only: removes the oldest actor, or NULL when empty. */
struct tr_actor *tr_runq_pop(tr_runq *q);

/* Thief: moves half (rounded up) of `victim`'s actors into `dst`, which must
 * be the thief's own queue and empty. Returns how many moved. */
size_t tr_runq_steal_half(tr_runq *victim, tr_runq *dst);

/* Number of queued actors (a snapshot; any thread). */
size_t tr_runq_len(tr_runq *q);

#endif

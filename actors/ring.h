/* A bounded multi-producer, single-consumer FIFO ring of pointers: the front
 * of the scheduler's injection queue (sched.c), so that a worker taking
 * outside work reads the actor pointers from consecutive cells (four to a
 * cache line, and the next lines prefetched by the hardware) instead of
 * following one pointer per actor through lines the submitter wrote.
 *
 * Dmitry Vyukov's bounded MPMC queue with one consumer: every cell carries
 * a sequence number. A producer claims position p with one CAS on `tail`
 * when cell p's sequence is p (free), stores the pointer and publishes it by
 * storing p + 1; the consumer takes cell p when its sequence is p + 1 and
 * frees it for position p + TR_RING_CAP. A producer that claimed a cell and
 * has not yet published it holds up the consumer at that cell (pop reports
 * empty) until it does. Positions are 64-bit and never wrap.
 *
 * Consumers: one at a time (the caller excludes others, e.g. with a flag
 * taken with acquire and dropped with release, as sched.c does). */
#ifndef TROUPE_ACTORS_RING_H
#define TROUPE_ACTORS_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_RING_CAP 4096u /* cells: a power of two */

typedef struct tr_ring_cell {
    _Atomic uint64_t seq;
    void *item; /* written before seq is published, read after */
} tr_ring_cell;

typedef struct tr_ring {
    _Alignas(64) _Atomic uint64_t tail; /* next position to claim: producers */
    _Alignas(64) _Atomic uint64_t head; /* next position to take: the consumer */
    _Alignas(64) tr_ring_cell cells[TR_RING_CAP];
} tr_ring;

/* Initialises an empty ring. */
void tr_ring_init(tr_ring *r);

/* Appends `item` (not NULL). Any thread. Returns false, changing nothing,
 * when the ring is full. The claim is a seq_cst read-modify-write of
 * `tail`, so a later seq_cst load (or fence) on this thread is ordered
 * after it, as the readers of tr_ring_len need. */
bool tr_ring_push(tr_ring *r, void *item);

/* Consumer: takes up to `max` items, oldest first, into out[]. Returns how
 * many (0 when empty or the oldest claimed cell is not published yet). */
size_t tr_ring_pop_many(tr_ring *r, void **out, size_t max);

/* Positions claimed and not yet taken (published or not): a snapshot. Any
 * thread; seq_cst loads of tail, then head, so a claim that precedes the
 * call in the seq_cst order is counted unless already taken. */
size_t tr_ring_len(tr_ring *r);

#endif

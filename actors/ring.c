/* Bounded MPSC ring; see ring.h for the protocol. */
#include "actors/ring.h"

#define RING_MASK (TR_RING_CAP - 1)
_Static_assert((TR_RING_CAP & RING_MASK) == 0, "TR_RING_CAP must be a power of two");

void tr_ring_init(tr_ring *r)
{
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    for (uint64_t i = 0; i < TR_RING_CAP; i++) {
        atomic_init(&r->cells[i].seq, i);
        r->cells[i].item = NULL;
    }
}

bool tr_ring_push(tr_ring *r, void *item)
{
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        tr_ring_cell *c = &r->cells[pos & RING_MASK];
        /* acquire: the consumer read the cell's previous item before it
         * freed the cell */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                c->item = item;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
            /* pos now holds the tail another producer moved */
        } else if (dif < 0) {
            /* the cell still holds position pos - TR_RING_CAP (untaken, or
             * claimed and not yet published): full. A stale pos cannot get
             * here: a claimed position's cell has a sequence >= it. */
            return false;
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
}

size_t tr_ring_pop_many(tr_ring *r, void **out, size_t max)
{
    /* one consumer at a time, ordered by the caller's exclusion */
    uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t n = 0;
    while (n < max) {
        tr_ring_cell *c = &r->cells[(pos + n) & RING_MASK];
        if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + n + 1)
            break; /* empty, or its producer has not published it yet */
        out[n] = c->item;
        atomic_store_explicit(&c->seq, pos + n + TR_RING_CAP, memory_order_release);
        n++;
    }
    if (n > 0)
        atomic_store_explicit(&r->head, pos + n, memory_order_release);
    return n;
}

size_t tr_ring_len(tr_ring *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_seq_cst);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_seq_cst);
    return (int64_t)(t - h) > 0 ? (size_t)(t - h) : 0; /* head may have passed the tail read */
}

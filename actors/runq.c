/* Local run queue; see runq.h. The parking protocol (sched.c) relies on
 * "push, then look for sleepers" and "announce sleep, then look for work"
 * being totally ordered: the loads here are seq_cst, and a pusher that then
 * looks for sleepers issues a seq_cst fence first (notify_one), so the push
 * itself is a release store (no locked instruction on the owner's path). */
#include "actors/runq.h"

#define RUNQ_MASK (TR_RUNQ_CAP - 1)

void tr_runq_init(tr_runq *q)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    for (size_t i = 0; i < TR_RUNQ_CAP; i++)
        atomic_init(&q->ring[i], NULL);
}

bool tr_runq_push(tr_runq *q, struct tr_actor *a)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    if (t - h >= TR_RUNQ_CAP)
        return false;
    atomic_store_explicit(&q->ring[t & RUNQ_MASK], a, memory_order_relaxed);
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return true;
}

size_t tr_runq_push_many(tr_runq *q, struct tr_actor *const *as, size_t n)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    size_t room = TR_RUNQ_CAP - (size_t)(t - h);
    if (n > room)
        n = room;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&q->ring[(t + i) & RUNQ_MASK], as[i], memory_order_relaxed);
    atomic_store_explicit(&q->tail, t + n, memory_order_seq_cst);
    return n;
}

struct tr_actor *tr_runq_pop(tr_runq *q)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    for (;;) {
        uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (h == t)
            return NULL;
        struct tr_actor *a = atomic_load_explicit(&q->ring[h & RUNQ_MASK], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return a;
    }
}

size_t tr_runq_steal_half(tr_runq *victim, tr_runq *dst)
{
    struct tr_actor *taken[TR_RUNQ_CAP];
    uint64_t h = atomic_load_explicit(&victim->head, memory_order_acquire);
    size_t n;
    for (;;) {
        uint64_t t = atomic_load_explicit(&victim->tail, memory_order_acquire);
        uint64_t avail = t - h;
        if (avail == 0 || avail > TR_RUNQ_CAP) {
            if (avail == 0)
                return 0;
            h = atomic_load_explicit(&victim->head, memory_order_acquire);
            continue; /* torn snapshot: head moved past our tail read */
        }
        n = (size_t)(avail - avail / 2);
        for (size_t i = 0; i < n; i++)
            taken[i] = atomic_load_explicit(&victim->ring[(h + i) & RUNQ_MASK], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&victim->head, &h, h + n, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    uint64_t dt = atomic_load_explicit(&dst->tail, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&dst->ring[(dt + i) & RUNQ_MASK], taken[i], memory_order_relaxed);
    atomic_store_explicit(&dst->tail, dt + n, memory_order_seq_cst);
    return n;
}

size_t tr_runq_len(tr_runq *q)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_seq_cst);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_seq_cst);
    return t > h ? (size_t)(t - h) : 0;
}

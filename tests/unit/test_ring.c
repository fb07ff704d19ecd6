/* The bounded MPSC ring in front of the injection queue (actors/ring.h):
 * FIFO order, a full ring refuses without changing anything, positions wrap
 * around the cells, and concurrent producers lose and duplicate nothing,
 * each producer's items coming out in the order it pushed them. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "actors/ring.h"

/* Items are never dereferenced: small integers made into pointers (not 0,
 * which is NULL). */
static void *item(uintptr_t v) { return (void *)(v + 1); }
static uintptr_t value(void *p) { return (uintptr_t)p - 1; }

static tr_ring *new_ring(void)
{
    tr_ring *r = aligned_alloc(64, sizeof(tr_ring));
    cr_assert_not_null(r);
    tr_ring_init(r);
    return r;
}

Test(ring, fifo_full_refuses_and_wraps)
{
    tr_ring *r = new_ring();
    void *out[TR_RING_CAP];
    cr_assert_eq(tr_ring_len(r), 0);
    cr_assert_eq(tr_ring_pop_many(r, out, 4), 0);
    uintptr_t next_in = 0, next_out = 0;
    /* several laps: fill up, check the refusal, drain in uneven steps */
    for (int lap = 0; lap < 5; lap++) {
        while (tr_ring_push(r, item(next_in)))
            next_in++;
        cr_assert_eq(next_in - next_out, TR_RING_CAP, "full at exactly the capacity");
        cr_assert_eq(tr_ring_len(r), TR_RING_CAP);
        size_t step = 1 + (size_t)lap * 7;
        uintptr_t refill_at = next_out + TR_RING_CAP / 2;
        while (next_out < next_in) {
            size_t n = tr_ring_pop_many(r, out, step);
            cr_assert_gt(n, 0);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(value(out[i]), next_out++, "oldest first");
            if (next_out >= refill_at) { /* room again mid-drain */
                cr_assert(tr_ring_push(r, item(next_in++)));
                refill_at = UINTPTR_MAX;
            }
        }
        cr_assert_eq(tr_ring_len(r), 0);
        cr_assert_eq(tr_ring_pop_many(r, out, 4), 0);
    }
    free(r);
}

#define PRODUCERS 4
#define PER_PRODUCER 200000u

typedef struct producer_job {
    tr_ring *r;
    uintptr_t id;
} producer_job;

/* Pushes PER_PRODUCER items tagged with its id, retrying while full. */
static void *producer(void *arg)
{
    producer_job *j = arg;
    for (uintptr_t k = 0; k < PER_PRODUCER; k++) {
        while (!tr_ring_push(j->r, item(j->id * PER_PRODUCER + k)))
            sched_yield(); /* full: the consumer is behind */
    }
    return NULL;
}

Test(ring, concurrent_producers_lose_and_duplicate_nothing)
{
    tr_ring *r = new_ring();
    pthread_t t[PRODUCERS];
    producer_job jobs[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++) {
        jobs[i] = (producer_job){r, i};
        cr_assert_eq(pthread_create(&t[i], NULL, producer, &jobs[i]), 0);
    }
    uintptr_t expect[PRODUCERS] = {0}; /* next item of each producer */
    uint64_t got = 0;
    void *out[64];
    while (got < (uint64_t)PRODUCERS * PER_PRODUCER) {
        size_t n = tr_ring_pop_many(r, out, 1 + got % 64);
        if (n == 0)
            sched_yield();
        for (size_t i = 0; i < n; i++) {
            uintptr_t v = value(out[i]);
            uintptr_t p = v / PER_PRODUCER;
            cr_assert_lt(p, PRODUCERS);
            cr_assert_eq(v % PER_PRODUCER, expect[p], "a producer's items come out in its order");
            expect[p]++;
        }
        got += n;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(tr_ring_len(r), 0);
    cr_assert_eq(tr_ring_pop_many(r, out, 64), 0);
    free(r);
}

/* The fixed-size object pool (mem/pool.h): reuse on one thread, objects
 * handed between threads keep their contents, a thread's cache goes back to
 * the depot when the thread exits, the depot stays bounded, and a trim gives
 * back what it holds beyond its idle bound. No runtime is started here, so
 * nothing else touches the pool while a test counts. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/msg.h"
#include "mem/pool.h"

#define SIZE sizeof(tr_mnode)
static tr_pool test_pool = TR_POOL_INIT(SIZE);
#define ID (&test_pool)

/* A small depot (64 magazines idle, 256 at most) keeps the bound tests
 * quick. The TSan build runs every test in one process, so the depot may
 * hold what earlier tests left: trimmed first, it is below both bounds. */
static void small_depot(void)
{
    tr_pool_free(ID, tr_pool_alloc(ID)); /* registered from here on */
    tr_pool_set_depot_bytes(ID, 64 * TR_POOL_BATCH * SIZE, 256 * TR_POOL_BATCH * SIZE);
    while (tr_pool_trim())
        ;
}

Test(objpool, same_thread_reuses_the_last_freed_object)
{
    void *a = tr_pool_alloc(ID);
    cr_assert_not_null(a);
    memset(a, 0xab, SIZE);
    tr_pool_free(ID, a);
    void *b = tr_pool_alloc(ID);
    cr_assert_eq(b, a, "the cache hands back the object just freed");
    memset(b, 0, SIZE);
    tr_pool_free(ID, b);
    tr_pool_free(ID, NULL); /* ignored */
}

typedef struct churn_result {
    size_t depot_after_allocs;
} churn_result;

/* Allocates two batches, notes the depot, frees them all, exits. */
static void *churn_two_batches(void *arg)
{
    churn_result *r = arg;
    void *objs[2 * TR_POOL_BATCH];
    for (int i = 0; i < 2 * TR_POOL_BATCH; i++) {
        objs[i] = tr_pool_alloc(ID);
        cr_assert_not_null(objs[i]);
    }
    r->depot_after_allocs = tr_pool_depot_batches(ID);
    for (int i = 0; i < 2 * TR_POOL_BATCH; i++)
        tr_pool_free(ID, objs[i]);
    return NULL;
}

Test(objpool, thread_exit_returns_its_cache_to_the_depot)
{
    churn_result r = {0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, churn_two_batches, &r), 0);
    pthread_join(t, NULL);
    cr_assert_gt(tr_pool_depot_max(ID), 2);
    cr_assert_eq(tr_pool_depot_batches(ID), r.depot_after_allocs + 2,
                 "both full magazines of the exited thread are in the depot");
}

/* A hand-off stack between a producer and a consumer thread. */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    uint64_t *items[256];
    int n;
    int done;
} handoff;

#define HANDOFF_OBJS 100000

static void *produce(void *arg)
{
    handoff *h = arg;
    for (uint64_t i = 0; i < HANDOFF_OBJS; i++) {
        uint64_t *o = tr_pool_alloc(ID);
        cr_assert_not_null(o);
        for (size_t k = 0; k < SIZE / sizeof(uint64_t); k++)
            o[k] = i * 31 + k;
        pthread_mutex_lock(&h->lock);
        while (h->n == 256)
            pthread_cond_wait(&h->cv, &h->lock);
        h->items[h->n++] = o;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->lock);
    }
    pthread_mutex_lock(&h->lock);
    h->done = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

Test(objpool, objects_freed_on_another_thread_keep_their_contents)
{
    handoff h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, produce, &h), 0);
    uint64_t got = 0;
    for (;;) {
        pthread_mutex_lock(&h.lock);
        while (h.n == 0 && !h.done)
            pthread_cond_wait(&h.cv, &h.lock);
        if (h.n == 0) {
            pthread_mutex_unlock(&h.lock);
            break;
        }
        uint64_t *o = h.items[--h.n];
        pthread_cond_broadcast(&h.cv);
        pthread_mutex_unlock(&h.lock);
        uint64_t i = (o[0]) / 31;
        for (size_t k = 0; k < SIZE / sizeof(uint64_t); k++)
            cr_assert_eq(o[k], i * 31 + k, "object %llu word %zu", (unsigned long long)i, k);
        tr_pool_free(ID, o); /* freed here, allocated there */
        got++;
    }
    pthread_join(t, NULL);
    cr_assert_eq(got, HANDOFF_OBJS);
    cr_assert_leq(tr_pool_depot_batches(ID), tr_pool_depot_max(ID));
}

typedef struct free_all_arg {
    void **objs;
    size_t n;
} free_all_arg;

static void *free_all(void *arg)
{
    free_all_arg *a = arg;
    for (size_t i = 0; i < a->n; i++)
        tr_pool_free(ID, a->objs[i]);
    return NULL;
}

/* Allocates n objects on this thread and frees them all on another, which
 * then exits: its magazines go to the depot. */
static void alloc_here_free_there(size_t n)
{
    free_all_arg a = {.n = n};
    a.objs = malloc(a.n * sizeof(*a.objs));
    cr_assert_not_null(a.objs);
    for (size_t i = 0; i < a.n; i++) {
        a.objs[i] = tr_pool_alloc(ID);
        cr_assert_not_null(a.objs[i]);
    }
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_all, &a), 0);
    pthread_join(t, NULL);
    free(a.objs);
}

Test(objpool, the_depot_stays_bounded)
{
    small_depot();
    size_t max = tr_pool_depot_max(ID);
    cr_assert_gt(max, 0);
    alloc_here_free_there((max + 8) * TR_POOL_BATCH);
    cr_assert_eq(tr_pool_depot_batches(ID), max, "full, and the rest went back to malloc");
}

Test(objpool, a_trim_gives_back_down_to_the_idle_bound)
{
    small_depot();
    size_t max = tr_pool_depot_max(ID), idle = tr_pool_depot_idle_max(ID);
    cr_assert_gt(idle, 0);
    cr_assert_gt(max, idle + 32, "room for more than two trim steps above the idle bound");
    alloc_here_free_there(max * TR_POOL_BATCH);
    cr_assert_geq(tr_pool_depot_batches(ID), max - 2, "busy: the depot kept them");
    unsigned calls = 0;
    while (tr_pool_trim())
        calls++;
    cr_assert_gt(calls, 0, "more than one step's worth to give back");
    cr_assert_eq(tr_pool_depot_batches(ID), idle, "trimmed to the idle bound, no further");
    cr_assert(!tr_pool_trim(), "nothing left to trim");
    void *o = tr_pool_alloc(ID);
    cr_assert_not_null(o, "the pool still serves allocations after a trim");
    tr_pool_free(ID, o);
}

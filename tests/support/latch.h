/* Test support: a counter that actors bump and the test thread waits on.
 * Tests synchronise on this (or on tr_await_exit / tr_ask_wait), never on
 * sleeps. The timeout only turns a hang into a failed assertion. */
#ifndef TROUPE_TEST_LATCH_H
#define TROUPE_TEST_LATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

typedef struct latch {
    pthread_mutex_t m;
    pthread_cond_t c;
    long count;
} latch;

static inline void latch_init(latch *l)
{
    pthread_mutex_init(&l->m, NULL);
    pthread_cond_init(&l->c, NULL);
    l->count = 0;
}

static inline void latch_fini(latch *l)
{
    pthread_cond_destroy(&l->c);
    pthread_mutex_destroy(&l->m);
}

static inline void latch_add(latch *l, long n)
{
    pthread_mutex_lock(&l->m);
    l->count += n;
    pthread_cond_broadcast(&l->c);
    pthread_mutex_unlock(&l->m);
}

static inline long latch_get(latch *l)
{
    pthread_mutex_lock(&l->m);
    long n = l->count;
    pthread_mutex_unlock(&l->m);
    return n;
}

/* Waits until count >= target; false after timeout_ms (a generous bound). */
static inline bool latch_wait(latch *l, long target, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    bool ok = true;
    pthread_mutex_lock(&l->m);
    while (l->count < target)
        if (pthread_cond_timedwait(&l->c, &l->m, &ts) != 0) {
            ok = l->count >= target;
            break;
        }
    pthread_mutex_unlock(&l->m);
    return ok;
}

#endif

/* Test support: a thread-safe log of one character per event (a child
 * starting, a child ending), so a test can assert the order things happened
 * in. Actors append from worker threads; the test thread reads a copy. */
#ifndef TROUPE_TEST_ORDER_LOG_H
#define TROUPE_TEST_ORDER_LOG_H

#include <pthread.h>
#include <string.h>

#define ORDER_LOG_MAX 256

typedef struct order_log {
    pthread_mutex_t m;
    char buf[ORDER_LOG_MAX];
    int n;
} order_log;

#define ORDER_LOG_INIT {PTHREAD_MUTEX_INITIALIZER, {0}, 0}

static inline void order_log_clear(order_log *l)
{
    pthread_mutex_lock(&l->m);
    l->n = 0;
    l->buf[0] = '\0';
    pthread_mutex_unlock(&l->m);
}

/* Appends c; a full log keeps its first ORDER_LOG_MAX - 1 events. */
static inline void order_log_add(order_log *l, char c)
{
    pthread_mutex_lock(&l->m);
    if (l->n < ORDER_LOG_MAX - 1) {
        l->buf[l->n++] = c;
        l->buf[l->n] = '\0';
    }
    pthread_mutex_unlock(&l->m);
}

/* Copies the log so far into out (a string). */
static inline void order_log_get(order_log *l, char out[ORDER_LOG_MAX])
{
    pthread_mutex_lock(&l->m);
    memcpy(out, l->buf, (size_t)l->n + 1);
    pthread_mutex_unlock(&l->m);
}

#endif

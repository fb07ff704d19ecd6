/* The runtime's one monotonic clock and its deadline helpers (clock.h). */
#include "actors/clock.h"

uint64_t tr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tr_now_ms(void) { return tr_now_ns() / 1000000u; }

struct timespec tr_deadline_after(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (timeout_ms <= 0)
        return ts;
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

bool tr_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, int timeout_ms,
                        const struct timespec *deadline)
{
    if (timeout_ms < 0) {
        pthread_cond_wait(cv, m);
        return true;
    }
    return pthread_cond_timedwait(cv, m, deadline) == 0;
}

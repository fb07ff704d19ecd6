/* Time inside the runtime: the one monotonic clock (tr_now_ms and tr_now_ns,
 * public in troupe/timer.h) and the deadline helpers every blocking wait
 * uses. */
#ifndef TROUPE_ACTORS_CLOCK_H
#define TROUPE_ACTORS_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "troupe/timer.h"

/* The CLOCK_REALTIME instant timeout_ms from now (now when timeout_ms <= 0),
 * for tr_cond_wait_until (pthread_cond_timedwait wants the realtime clock). */
struct timespec tr_deadline_after(int timeout_ms);

/* One wait on cv (m held): forever when timeout_ms < 0, else until
 * `deadline`. Returns false once the deadline has passed. */
bool tr_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, int timeout_ms,
                        const struct timespec *deadline);

#endif

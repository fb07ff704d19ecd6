/* Timers: messages delivered after a delay or periodically.
 *
 * Backed by a hierarchical timing wheel (actors/wheel.c, 1 ms ticks) driven
 * by one timer thread: insert and cancel are O(1), so thousands of timers
 * cost the same each. A timer created inside a callback belongs to that
 * actor and is cancelled when it dies. Timer messages respect the target's
 * mailbox bound: a tick that finds the mailbox full becomes a dead letter. */
#ifndef TROUPE_TIMER_H
#define TROUPE_TIMER_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Handle of a pending timer; a plain value, safe after the timer ended. */
typedef struct tr_timer {
    uint64_t id;
} tr_timer;

/* Sends a copy of the payload to `to` once, delay_ms from now. Writes the
 * handle to *out (may be NULL). Returns TR_OK, TR_EINVAL, TR_ENOMEM or
 * TR_ECLOSED. */
TR_API int tr_send_after(tr_system *sys, tr_ref to, uint32_t type, const void *data,
                         size_t size, uint32_t delay_ms, tr_timer *out);

/* Sends a copy of the payload to `to` every period_ms (period_ms > 0) until
 * cancelled, or until the target dies. Returns as tr_send_after. */
TR_API int tr_send_interval(tr_system *sys, tr_ref to, uint32_t type, const void *data,
                            size_t size, uint32_t period_ms, tr_timer *out);

/* Cancels a timer. Returns TR_OK if it was pending (a one-shot will not fire,
 * a periodic one stops), TR_ENOTFOUND if it already fired or was cancelled. */
TR_API int tr_timer_cancel(tr_system *sys, tr_timer timer);

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC: never goes back,
 * unaffected by changes of the wall clock), like Erlang's
 * erlang:monotonic_time(millisecond). The runtime's timers, deadlines and
 * heartbeats read this clock. Any thread; no allocation. */
TR_API uint64_t tr_now_ms(void);

/* Nanoseconds on the same monotonic clock as tr_now_ms (CLOCK_MONOTONIC),
 * like erlang:monotonic_time(nanosecond): for spans shorter than a
 * millisecond (spin budgets, timing a render). Any thread; no allocation. */
TR_API uint64_t tr_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif

/* The runtime's side of metrics (actors/metrics.c): the counters that only
 * tr_metrics_get reads, and the functions the parts call to move them. */
#ifndef TROUPE_ACTORS_METRICS_H
#define TROUPE_ACTORS_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "actors/actor_impl.h"

/* tr_system.counters: zeroed memory is all zero. */
typedef struct tr_metric_counters {
    _Atomic uint64_t deadline_overruns;  /* handlers past their deadline (watchdog.c) */
    _Atomic uint64_t mailbox_high_water; /* the highest mailbox_peak of any actor */
    /* supervisors' restart decisions and intensity failures (supervisor.c) */
    _Atomic uint64_t supervisor_restarts, supervisor_escalations;
} tr_metric_counters;

/* Counts a supervisor's decision to restart (a group restart counts once)
 * in the system's total and in the supervisor's own count (tr_actor_info.
 * restarts); called by the supervisor `self` in its callback. */
void tr_metrics_supervisor_restart(struct tr_actor *self);
/* Counts a supervisor that exceeded its restart intensity. Any thread. */
void tr_metrics_supervisor_escalation(tr_system *sys);

/* Counts a handler that ran past its per-message deadline. Any thread. */
void tr_metrics_deadline_overrun(tr_system *sys);

/* Raises `a`'s mailbox_peak to `count` (its owner, when a turn saw more
 * than the peak: rare, hence out of line) and the system's high-water mark
 * with it. */
void tr_metrics_mailbox_peak(struct tr_actor *a, uint32_t count);

/* Notes `count` messages seen in `a`'s mailbox by its owner (a turn). */
static inline void tr_metrics_mailbox_seen(struct tr_actor *a, uint32_t count)
{
    if (count > atomic_load_explicit(&a->mailbox_peak, memory_order_relaxed))
        tr_metrics_mailbox_peak(a, count);
}

#endif

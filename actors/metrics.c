/* Metrics: the snapshot (troupe/metrics.h) and the counters only it reads
 * (actors/metrics.h). */
#include <string.h>

#include "actors/metrics.h"

#include "actors/blocking.h"
#include "actors/census.h"
#include "actors/ext.h"
#include "actors/sched.h"
#include "actors/send.h"
#include "actors/system_impl.h"

tr_end_kind tr_end_kind_of(int reason)
{
    switch (reason) {
    case TR_OK: return TR_END_NORMAL;
    case TR_ESHUTDOWN: return TR_END_SHUTDOWN;
    case TR_EKILLED: return TR_END_KILLED;
    case TR_ECANCELLED: return TR_END_CANCELLED;
    default: return TR_END_CRASHED;
    }
}

void tr_metrics_supervisor_restart(struct tr_actor *self)
{
    atomic_fetch_add_explicit(&self->sys->counters.supervisor_restarts, 1, memory_order_relaxed);
    tr_actor_ext *ext = tr_actor_ext_get(self); /* a supervisor has one (its monitors) */
    if (ext != NULL) /* only its owner writes: a plain store */
        atomic_store_explicit(&ext->restarts,
                              atomic_load_explicit(&ext->restarts, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

void tr_metrics_supervisor_escalation(tr_system *sys)
{
    atomic_fetch_add_explicit(&sys->counters.supervisor_escalations, 1, memory_order_relaxed);
}

void tr_metrics_deadline_overrun(tr_system *sys)
{
    atomic_fetch_add_explicit(&sys->counters.deadline_overruns, 1, memory_order_relaxed);
}

void tr_metrics_mailbox_peak(struct tr_actor *a, uint32_t count)
{
    atomic_store_explicit(&a->mailbox_peak, count, memory_order_relaxed);
    _Atomic uint64_t *top = &a->sys->counters.mailbox_high_water;
    uint64_t seen = atomic_load_explicit(top, memory_order_relaxed);
    while (count > seen && !atomic_compare_exchange_weak_explicit(
                               top, &seen, count, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void tr_metrics_get(tr_system *sys, tr_metrics *out)
{
    if (sys == NULL || out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    uint32_t n = sys->sched.nworkers;
    if (n > TR_METRICS_MAX_WORKERS)
        n = TR_METRICS_MAX_WORKERS;
    out->workers = n;
    for (uint32_t i = 0; i < n; i++) {
        tr_worker *w = &sys->sched.workers[i];
        out->worker[i] = (tr_worker_metrics){
            .queue_depth = tr_runq_len(&w->runq),
            .steals = atomic_load_explicit(&w->steals, memory_order_relaxed),
            .parks = atomic_load_explicit(&w->parks, memory_order_relaxed),
            .messages = atomic_load_explicit(&w->messages, memory_order_relaxed),
            .turns = atomic_load_explicit(&w->turns, memory_order_relaxed),
        };
    }
    out->injection_depth = tr_ring_len(&sys->sched.inject_ring) +
                          atomic_load_explicit(&sys->sched.inject_len, memory_order_relaxed);
    out->actors_alive = tr_census_alive(sys);
    out->actors_spawned = tr_census_spawned(sys);
    out->dead_letters = atomic_load_explicit(&sys->dead_letters.count, memory_order_relaxed);
    out->mutes = atomic_load_explicit(&sys->mutes, memory_order_relaxed);
    const tr_metric_counters *c = &sys->counters;
    out->deadline_overruns = atomic_load_explicit(&c->deadline_overruns, memory_order_relaxed);
    for (size_t i = 0; i < TR_METRICS_REASONS; i++)
        out->dead_letters_by_reason[i] =
            atomic_load_explicit(&sys->dead_letters.by_reason[i], memory_order_relaxed);
    tr_blocking_pool_metrics(sys, &out->blocking_threads, &out->blocking_idle,
                             &out->blocking_queued, &out->blocking_calls);
    tr_census_ended(sys, out->actors_ended);
    out->mailbox_high_water = atomic_load_explicit(&c->mailbox_high_water, memory_order_relaxed);
    out->supervisor_restarts = atomic_load_explicit(&c->supervisor_restarts, memory_order_relaxed);
    out->supervisor_escalations =
        atomic_load_explicit(&c->supervisor_escalations, memory_order_relaxed);
}

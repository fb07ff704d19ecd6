/* Inspecting a running system: a read-only list of its live actors with
 * their place in the tree, state and mailbox depth, like Erlang's
 * observer application tab. For tools and dashboards (include/troupe/observe.h
 * serves it as JSON), not for program logic: it is a snapshot taken while
 * the actors keep running. */
#ifndef TROUPE_INSPECT_H
#define TROUPE_INSPECT_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_INSPECT_NAME 32

/* One live actor, as tr_actors_list saw it. */
typedef struct tr_actor_info {
    tr_ref ref;
    tr_ref parent;          /* TR_REF_NONE for a top-level actor (or a parent not listed) */
    tr_actor_state state;   /* as tr_actor_state_of */
    uint32_t queued;        /* messages in its mailbox now */
    uint32_t capacity;      /* its mailbox bound */
    uint32_t mailbox_peak;  /* the most messages its mailbox has held (see
                             * tr_metrics.mailbox_high_water for how it is sampled) */
    uint32_t children;      /* its children now */
    uint32_t restarts;      /* a supervisor's child restarts since it started (a
                             * group restart counts once); 0 for other actors */
    bool supervisor;        /* runs tr_supervisor_behaviour */
    char name[TR_INSPECT_NAME]; /* its name (tr_spawn_opts.name), truncated; "" if none */
    char behaviour[TR_INSPECT_NAME]; /* its behaviour's name (tr_behaviour.name); "" if none */
} tr_actor_info;

/* Fills out[0..max) with the live actors of `sys` (at most max of them,
 * lowest table slots first) and returns how many are live in all, which
 * may be more than max. Parents are resolved among the listed actors: a
 * child listed without its parent gets TR_REF_NONE. Costs one pass over the
 * actor table plus a lock per listed actor; safe from any thread that is
 * not a worker running an actor of `sys` (it allocates and may block
 * briefly). Returns 0 for a NULL sys or out. */
TR_API size_t tr_actors_list(tr_system *sys, tr_actor_info *out, size_t max);

/* As tr_actors_list, for the supervisors only: fills out[0..max) with live
 * supervisors and returns how many are live in all. A parent is resolved
 * only when it is a listed supervisor. The pass over the table looks at
 * each other actor's behaviour only (no lock), so it costs less than a
 * full listing: /metrics uses it for the per-supervisor restart counts. */
TR_API size_t tr_supervisors_list(tr_system *sys, tr_actor_info *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif

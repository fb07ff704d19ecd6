/* Deterministic fault injection for testing supervision.
 *
 * A plan wraps behaviours so that actors fail on purpose: in init, at their
 * Nth message, at random with probability p per message, or run slowly.
 * Every decision is a hash of (seed, wrapped behaviour, start number of that
 * behaviour's actors, message number), not a shared random stream, so the
 * same seed injects the same faults however the workers interleave. Each
 * injected fault is logged; tr_fault_log_print prints the log with the seed
 * so a failing run can be replayed exactly. Killing a subtree is tr_kill;
 * a mailbox flood is a loop of tr_post. */
#ifndef TROUPE_FAULT_H
#define TROUPE_FAULT_H

#include <stdio.h>

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_fault_plan tr_fault_plan;

/* What to inject into actors of one wrapped behaviour. Zero = nothing. */
typedef struct tr_fault_rule {
    uint32_t fail_init_first; /* the first N starts fail in init */
    uint64_t fail_at_message; /* fail on the Nth message of every start (1-based) */
    double fail_probability;  /* each message fails with this probability */
    double slow_probability;  /* each message is delayed by slow_ms ... */
    uint32_t slow_ms;         /* ... of busy work (a "blocked handler") */
    int reason;               /* failure reason; 0 = TR_EUSER + 666 */
} tr_fault_rule;

/* Creates an empty plan. The caller owns *out. Returns TR_OK, TR_ENOMEM. */
TR_API int tr_fault_plan_create(uint64_t seed, tr_fault_plan **out);

/* Frees the plan; every actor using its behaviours must have ended. */
TR_API void tr_fault_plan_destroy(tr_fault_plan *plan);

/* Returns a behaviour that runs `inner` under `rule` (a copy), labelled
 * `label` (copied) in the log. Owned by the plan; NULL on ENOMEM or NULL
 * arguments. */
TR_API const tr_behaviour *tr_fault_wrap(tr_fault_plan *plan, const char *label,
                                         const tr_behaviour *inner, const tr_fault_rule *rule);

/* Faults injected so far, and how many of them were failures (the rest
 * are slow handlers). */
TR_API uint64_t tr_fault_count(tr_fault_plan *plan);
TR_API uint64_t tr_fault_failures(tr_fault_plan *plan);

/* Prints the seed and every injected fault (label, start, message, kind). */
TR_API void tr_fault_log_print(tr_fault_plan *plan, FILE *out);

#ifdef __cplusplus
}
#endif
#endif

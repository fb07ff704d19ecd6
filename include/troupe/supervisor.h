/* Supervisors: actors that start children from specs, watch them, and
 * restart them by strategy within a restart-intensity budget (Erlang/OTP's
 * supervisor semantics where they apply).
 *
 * Children start in list order as children of the supervisor (stopping the
 * supervisor stops them first). When a child ends:
 *  - TR_PERMANENT children are always restarted, TR_TRANSIENT ones only after
 *    an abnormal exit (not TR_OK or TR_ESHUTDOWN), TR_TEMPORARY never (and
 *    are forgotten);
 *  - TR_ONE_FOR_ONE restarts that child; TR_ONE_FOR_ALL stops all others and
 *    restarts all; TR_REST_FOR_ONE stops the children started after it and
 *    restarts those and it, in list order;
 *  - more than `intensity` restarts within `period_ms` ends the supervisor
 *    with TR_EINTENSITY (its children are stopped first), which its own
 *    parent or monitors see as a failure: escalation. */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_restart { TR_PERMANENT = 0, TR_TRANSIENT = 1, TR_TEMPORARY = 2 } tr_restart;

typedef enum tr_strategy {
    TR_ONE_FOR_ONE = 0,
    TR_ONE_FOR_ALL = 1,
    TR_REST_FOR_ONE = 2,
    /* A pool: exactly one child spec, used as a template; no child starts
     * with the supervisor. tr_supervisor_start_child starts one more (same
     * spec, its own arg) at run time; each is restarted alone, with the same
     * arg, by its restart type, within the intensity budget. A graceful stop
     * ends the children one by one, last started first (Erlang stops a
     * simple_one_for_one pool concurrently; the order here is stricter). */
    TR_SIMPLE_ONE_FOR_ONE = 3
} tr_strategy;

#define TR_SHUTDOWN_BRUTAL 0u           /* kill at once */
#define TR_SHUTDOWN_INFINITY UINT32_MAX /* wait for the child however long */

/* How to start and treat one child. Copied by tr_supervisor_start (id
 * included); `beh` and `arg` must stay valid while the supervisor runs,
 * since every restart calls init(arg) again with fresh state. */
typedef struct tr_child_spec {
    const char *id;           /* name, unique within the supervisor */
    const tr_behaviour *beh;
    void *arg;
    tr_spawn_opts opts;       /* parent and name are ignored: the supervisor, the id */
    tr_restart restart;
    uint32_t shutdown_ms;     /* 0 = default: 5000 for workers, infinity for supervisors;
                               * TR_SHUTDOWN_BRUTAL is spelled with .brutal_kill */
    bool brutal_kill;         /* stop this child with tr_kill */
    bool is_supervisor;
    /* Optional exponential backoff between one-for-one restarts of this
     * child: the nth quick restart waits min(max, initial * 2^(n-1)) ms,
     * scaled by a random jitter in [50%, 100%]; 0 = restart at once. The
     * count resets once the child has run longer than backoff_max_ms. */
    uint32_t backoff_initial_ms;
    uint32_t backoff_max_ms;
} tr_child_spec;

typedef struct tr_sup_flags {
    tr_strategy strategy;
    uint32_t intensity; /* restarts allowed per period; 0 with period 0 = default 1 */
    uint32_t period_ms; /* 0 = default 5000 */
} tr_sup_flags;

/* A reusable supervisor description (flags plus copied child specs), for
 * supervisors that are themselves children: use
 *   {.beh = &tr_supervisor_behaviour, .arg = spec, .is_supervisor = true}
 * in the parent's child spec. The caller owns *out and destroys it after
 * every supervisor started from it has ended. */
typedef struct tr_sup_spec tr_sup_spec;
TR_API int tr_sup_spec_create(const tr_sup_flags *flags, const tr_child_spec *specs, size_t n,
                              tr_sup_spec **out);
TR_API void tr_sup_spec_destroy(tr_sup_spec *spec);

/* The behaviour of every supervisor; its spawn arg is a tr_sup_spec. */
TR_API extern const tr_behaviour tr_supervisor_behaviour;

/* Spawns a supervisor running `n` children from `specs` (copied). opts may
 * be NULL (opts->parent makes it a child of another supervisor or actor).
 * Returns TR_OK, TR_EINVAL (bad spec, duplicate id), TR_ENOMEM or a spawn
 * error. A child failing to start ends the supervisor with that reason. */
TR_API int tr_supervisor_start(tr_system *sys, const tr_sup_flags *flags, const tr_child_spec *specs,
                               size_t n, const tr_spawn_opts *opts, tr_ref *out);

/* Asks the supervisor for the current reference of child `id` (blocks the
 * calling outside thread up to timeout_ms). Returns TR_OK, TR_ENOTFOUND
 * (no such child, or not running right now), TR_ETIMEDOUT or TR_EDEAD. */
TR_API int tr_supervisor_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms,
                               tr_ref *child);

/* ---- run-time children (pools) ---- */

/* The reply to tr_supervisor_start_child_async (data of TR_MSG_REPLY). */
typedef struct tr_sup_started {
    int rc;       /* TR_OK, or why no child was started */
    tr_ref child; /* the new child when rc is TR_OK */
} tr_sup_started;

/* Starts one more child of a TR_SIMPLE_ONE_FOR_ONE supervisor from its
 * template, with init(arg); a restart calls init(arg) again, so `arg` (owned
 * by the caller) must stay valid while the child may restart. Blocks the
 * calling outside thread up to timeout_ms. The child's init runs afterwards
 * on a worker: a failing init counts as a crash. Writes the child to *out
 * (may be NULL). Returns TR_OK, TR_EINVAL (not a pool), TR_ETIMEDOUT,
 * TR_EDEAD/TR_ESTOPPING (supervisor gone or stopping), TR_ECONTEXT (called
 * on a worker: use the async form) or a spawn error. */
TR_API int tr_supervisor_start_child(tr_system *sys, tr_ref sup, void *arg, int timeout_ms,
                                     tr_ref *out);

/* From a callback: the same request without blocking. Exactly one message
 * later reaches the caller with msg->corr == *corr: TR_MSG_REPLY carrying a
 * tr_sup_started, or TR_MSG_ASK_TIMEOUT. Returns as tr_ask. */
TR_API int tr_supervisor_start_child_async(tr_ctx *self, tr_ref sup, void *arg,
                                           uint32_t timeout_ms, uint64_t *corr);

/* Stops child `child` of `sup` (gracefully within its shutdown_ms, or
 * brutally) so that it is not restarted, and waits until it has ended. A
 * pool forgets it; a static child stays stopped. Blocks the calling outside
 * thread up to timeout_ms in all. Returns TR_OK, TR_ENOTFOUND (not a running
 * child of sup), TR_ETIMEDOUT, TR_EDEAD or TR_ECONTEXT. */
TR_API int tr_supervisor_terminate_child(tr_system *sys, tr_ref sup, tr_ref child, int timeout_ms);

/* Copies up to `max` running children of `sup`, in start order, to out[]
 * and their total number to *count (either may be 0/NULL). Blocks the
 * calling outside thread up to timeout_ms. Returns TR_OK, TR_ETIMEDOUT,
 * TR_EDEAD or TR_ECONTEXT. */
TR_API int tr_supervisor_children(tr_system *sys, tr_ref sup, int timeout_ms, tr_ref *out,
                                  size_t max, size_t *count);

#ifdef __cplusplus
}
#endif
#endif

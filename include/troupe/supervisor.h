/* Supervisors: actors that start children from specs, watch them, and
 * restart them by strategy within a restart-intensity budget (Erlang/OTP's
 * supervisor semantics; README's "Supervisors" section lists each rule and
 * each deliberate difference).
 *
 * Children start one at a time in list order: a child is spawned only after
 * the previous child's init has returned (for a child supervisor: after its
 * own children have started). When a child ends:
 *  - TR_PERMANENT children are always restarted, TR_TRANSIENT ones only after
 *    an abnormal exit (any reason but TR_OK, TR_ESHUTDOWN and TR_ECANCELLED:
 *    a cancelled token is an ordered shutdown), TR_TEMPORARY never (and are
 *    forgotten);
 *  - TR_ONE_FOR_ONE restarts that child; TR_ONE_FOR_ALL stops all others and
 *    restarts all; TR_REST_FOR_ONE stops the children started after it and
 *    restarts those and it. Stops go one child at a time, last started
 *    first, each within its shutdown time (then it is killed); restarts go
 *    one at a time in list order. A restart whose init fails counts as one
 *    more restart and is tried again;
 *  - more than `intensity` restarts within `period_ms` ends the supervisor
 *    with TR_EINTENSITY once it has stopped its children (one at a time,
 *    last first, each within its shutdown), which its own parent or
 *    monitors see as a failure: escalation.
 * A supervisor's own graceful stop stops its children the same way and, by
 * default, waits for them however long their shutdowns take. */
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
#define TR_SUP_ID_MAX 64 /* bytes of a child id, NUL included */

typedef struct tr_child_spec {
    const char *id;           /* unique within the supervisor, at most 63 bytes */
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
    /* Optional: a local name (registry.h) for the running child. The
     * supervisor registers each incarnation under it before its init runs,
     * so tr_whereis / tr_lookup always give the current one. A name taken by
     * another live actor fails the start with TR_EEXIST. Not for pools. */
    const char *name;
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

/* Starts a supervisor running `n` children from `specs` (copied) and waits
 * until every child's init has returned, like OTP's start_link. opts may be
 * NULL (opts->parent makes it a child of another supervisor or actor);
 * opts->drain_timeout_ms 0 means no deadline of its own (it waits for its
 * children's shutdowns). Returns TR_OK (*out set), TR_EINVAL (bad spec,
 * duplicate or too long id), TR_ENOMEM, a spawn error, or the first failing
 * child's init reason: then no child after it was started, the ones before
 * it were stopped (last first) and the supervisor has ended with that
 * reason. Called from an actor callback, where it cannot wait, it returns
 * TR_OK once the supervisor is spawned: use tr_supervisor_start_async to
 * learn how its start went. */
TR_API int tr_supervisor_start(tr_system *sys, const tr_sup_flags *flags, const tr_child_spec *specs,
                               size_t n, const tr_spawn_opts *opts, tr_ref *out);

/* From a callback: spawns the supervisor (written to *out) and returns at
 * once. Exactly one message later reaches the caller with msg->corr ==
 * *corr: TR_MSG_REPLY carrying an int (TR_OK once every child has started,
 * or the first init's reason), or TR_MSG_ASK_FAILED (the timeout passed,
 * or the supervisor was killed first: tr_ask_failure). Returns TR_OK or an
 * error of tr_supervisor_start / tr_ask (then nothing was started). */
TR_API int tr_supervisor_start_async(tr_ctx *self, const tr_sup_flags *flags,
                                     const tr_child_spec *specs, size_t n,
                                     const tr_spawn_opts *opts, uint32_t timeout_ms, tr_ref *out,
                                     uint64_t *corr);

/* Asks the supervisor for the current reference of child `id` (blocks the
 * calling outside thread up to timeout_ms). Returns TR_OK, TR_ENOTFOUND
 * (no such child, or not running right now), TR_ETIMEDOUT or TR_EDEAD.
 * From an actor, name the child (tr_child_spec.name) and use tr_whereis. */
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
 * calling outside thread up to timeout_ms, until the child's init has
 * returned. Writes the child to *out (may be NULL). Returns TR_OK,
 * TR_EINVAL (not a pool), TR_ETIMEDOUT, TR_EDEAD/TR_ESTOPPING (supervisor
 * gone or stopping), TR_ECONTEXT (called on a worker: use the async form),
 * a spawn error, or the init's failure reason (the child is then not kept
 * and not restarted, as in OTP). */
TR_API int tr_supervisor_start_child(tr_system *sys, tr_ref sup, void *arg, int timeout_ms,
                                     tr_ref *out);

/* From a callback: the same request without blocking. Exactly one message
 * later reaches the caller with msg->corr == *corr: TR_MSG_REPLY carrying a
 * tr_sup_started, or TR_MSG_ASK_FAILED. Returns as tr_ask. */
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

/* ---- static children by id (OTP's restart_child / delete_child) ---- */

/* Starts static child `id` again after tr_supervisor_terminate_child (or a
 * transient child's normal end), waiting for its init. Writes it to *out
 * (may be NULL). Returns TR_OK, TR_ENOTFOUND, TR_EEXIST (it is running or
 * about to restart), TR_EINVAL (a pool), the init's failure reason, or an
 * error of the wait (TR_ETIMEDOUT, TR_EDEAD, TR_ECONTEXT). */
TR_API int tr_supervisor_restart_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms,
                                       tr_ref *out);

/* Removes the spec of static child `id`, which must not be running. Returns
 * TR_OK, TR_ENOTFOUND, TR_EEXIST (running or restarting), TR_EINVAL (a pool)
 * or an error of the wait. */
TR_API int tr_supervisor_delete_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms);

/* From a callback: the same two requests. The TR_MSG_REPLY carries a
 * tr_sup_started (restart) or an int (delete). Return as tr_ask. */
TR_API int tr_supervisor_restart_child_async(tr_ctx *self, tr_ref sup, const char *id,
                                             uint32_t timeout_ms, uint64_t *corr);
TR_API int tr_supervisor_delete_child_async(tr_ctx *self, tr_ref sup, const char *id,
                                            uint32_t timeout_ms, uint64_t *corr);

/* ---- looking at a supervisor (OTP's which_children / count_children) ---- */

typedef enum tr_child_status {
    TR_CHILD_RUNNING = 0,    /* init returned; ref is the current incarnation */
    TR_CHILD_STARTING = 1,   /* spawned, init not returned yet (ref set) */
    TR_CHILD_RESTARTING = 2, /* ended, a restart is due (queued or backing off) */
    TR_CHILD_STOPPING = 3,   /* being stopped by the supervisor (ref set) */
    TR_CHILD_STOPPED = 4     /* not running, not to be restarted (terminated) */
} tr_child_status;

/* One child, as tr_supervisor_which_children reports it. */
typedef struct tr_sup_child_info {
    char id[TR_SUP_ID_MAX];  /* the spec's id (a pool's children share it) */
    tr_ref ref;              /* current incarnation; TR_REF_NONE when it has none */
    tr_child_status status;
    bool is_supervisor;
    uint32_t restarts;       /* times this child was restarted */
} tr_sup_child_info;

/* OTP's count_children. */
typedef struct tr_sup_counts {
    uint32_t specs;       /* children known (static specs, pool children) */
    uint32_t active;      /* with a live incarnation */
    uint32_t supervisors; /* specs that are supervisors */
    uint32_t workers;     /* specs that are not */
} tr_sup_counts;

/* Copies up to `max` children (start order, stopped ones included) to
 * out[] and their number to *count (either may be 0/NULL). Blocks the
 * calling outside thread up to timeout_ms. Returns TR_OK, TR_ETIMEDOUT,
 * TR_EDEAD, TR_ENOMEM or TR_ECONTEXT. */
TR_API int tr_supervisor_which_children(tr_system *sys, tr_ref sup, int timeout_ms,
                                        tr_sup_child_info *out, size_t max, size_t *count);

/* Writes `sup`'s counts to *out. Blocks the calling outside thread up to
 * timeout_ms. Returns as tr_supervisor_which_children. */
TR_API int tr_supervisor_count_children(tr_system *sys, tr_ref sup, int timeout_ms,
                                        tr_sup_counts *out);

/* From a callback: the same requests. The TR_MSG_REPLY (msg->corr == *corr)
 * carries tr_sup_child_info[] (size / sizeof each) or one tr_sup_counts.
 * Return as tr_ask. */
TR_API int tr_supervisor_which_children_async(tr_ctx *self, tr_ref sup, uint32_t timeout_ms,
                                              uint64_t *corr);
TR_API int tr_supervisor_count_children_async(tr_ctx *self, tr_ref sup, uint32_t timeout_ms,
                                              uint64_t *corr);

#ifdef __cplusplus
}
#endif
#endif

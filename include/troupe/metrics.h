/* Runtime metrics and dead letters: what the scheduler did, what was lost. */
#ifndef TROUPE_METRICS_H
#define TROUPE_METRICS_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_METRICS_MAX_WORKERS 64
#define TR_METRICS_REASONS 32 /* dead_letters_by_reason[]: error codes below this */

/* How an actor ended: the class of its exit reason, as Erlang tells them
 * apart (normal, shutdown, killed; anything else is a crash). Indexes
 * tr_metrics.actors_ended[]. */
typedef enum tr_end_kind {
    TR_END_NORMAL = 0, /* TR_OK: it stopped itself (tr_stop_self) */
    TR_END_SHUTDOWN,   /* TR_ESHUTDOWN: tr_stop, its parent, or the system's shutdown */
    TR_END_KILLED,     /* TR_EKILLED: tr_kill, or its drain deadline passed */
    TR_END_CANCELLED,  /* TR_ECANCELLED: its cancellation token was cancelled */
    TR_END_CRASHED,    /* any other reason: a handler's error, tr_fail, a handler
                        * deadline, a linked actor's crash, a supervisor's intensity */
    TR_END_KINDS
} tr_end_kind;

/* The class of exit reason `reason` (TR_OK, TR_ESHUTDOWN, ...). */
TR_API tr_end_kind tr_end_kind_of(int reason);

typedef struct tr_worker_metrics {
    uint64_t queue_depth; /* actors waiting in its local run queue now */
    uint64_t steals;      /* actors stolen from other workers */
    uint64_t parks;       /* times it went to sleep for lack of work */
    uint64_t messages;    /* messages handled by actors on this worker */
    uint64_t turns;       /* actor turns run */
} tr_worker_metrics;

typedef struct tr_metrics {
    uint32_t workers;         /* entries used in worker[] */
    tr_worker_metrics worker[TR_METRICS_MAX_WORKERS];
    uint64_t injection_depth; /* actors waiting in the global injection queue */
    uint64_t actors_alive;    /* spawned and not yet dead */
    uint64_t actors_spawned;  /* total since start */
    uint64_t dead_letters;    /* messages that could not be delivered */
    uint64_t mutes;           /* times a sender was muted by backpressure */
    uint64_t deadline_overruns; /* handlers that ran past handler_deadline_ms */
    /* dead letters by reason (an error code: TR_EDEAD, TR_EFULL, TR_EDROPPED,
     * TR_ENOTCONN...); index 0 counts reasons >= TR_METRICS_REASONS */
    uint64_t dead_letters_by_reason[TR_METRICS_REASONS];
    /* the blocking pool (blocking.h) */
    uint64_t blocking_threads; /* threads alive now (bounded by blocking_threads_max) */
    uint64_t blocking_idle;    /* of which waiting for work */
    uint64_t blocking_queued;  /* calls and blocking-actor turns waiting for a thread */
    uint64_t blocking_calls;   /* tr_blocking_run calls run so far */
    /* actors ended since the start, by the class of their exit reason */
    uint64_t actors_ended[TR_END_KINDS];
    /* the most messages any actor's mailbox has held since the start,
     * sampled as each turn begins and ends. Between turns a mailbox only
     * grows, so this is exact unless the peak fell inside a turn; then it
     * is at most one turn's batch (tr_config.batch) low. */
    uint64_t mailbox_high_water;
    /* supervisors (supervisor.h) */
    uint64_t supervisor_restarts;    /* restarts decided; a group restart counts once */
    uint64_t supervisor_escalations; /* supervisors that exceeded their restart intensity */
} tr_metrics;

/* Fills *out with a snapshot (counters are read without stopping the
 * workers, so they are each exact but not mutually atomic). */
TR_API void tr_metrics_get(tr_system *sys, tr_metrics *out);

/* One undelivered message, as kept in the dead-letter log. */
typedef struct tr_dead_letter {
    tr_ref to;      /* intended receiver */
    tr_ref sender;  /* TR_REF_NONE if posted from outside */
    uint32_t type;  /* its type tag */
    int reason;     /* TR_EDEAD, TR_ESTOPPING, TR_EDROPPED, TR_EFULL, TR_EKILLED... */
} tr_dead_letter;

#define TR_DEAD_LETTER_LOG 128

/* Copies up to `max` of the most recent dead letters (oldest first; the log
 * keeps the last TR_DEAD_LETTER_LOG). Returns how many were copied. */
TR_API size_t tr_dead_letters_recent(tr_system *sys, tr_dead_letter *out, size_t max);

/* Makes `watcher` receive a TR_MSG_DEAD_LETTER (data: tr_dead_letter) for
 * every dead letter from now on, like Akka's dead-letter listener; pass
 * TR_REF_NONE to stop. Notices respect the watcher's mailbox bound: give it
 * a large one; a notice that does not fit is only counted. Returns TR_OK or
 * TR_EINVAL. */
TR_API int tr_dead_letter_watch(tr_system *sys, tr_ref watcher);

#ifdef __cplusplus
}
#endif
#endif

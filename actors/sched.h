/* The work-stealing scheduler: one worker thread per core.
 *
 * Worker loop: local run queue -> global injection queue (a bounded ring,
 * with a list behind it for the overflow) -> steal half of a random victim's
 * queue -> (after running work: yield the core once and look again) -> park.
 * Every 61st pick looks at the injection queue first so outside work is not
 * starved by a busy local queue. A victim's lone queued actor is not stolen:
 * its worker is awake (only a worker queues on its own queue, and it parks
 * only when that is empty) and runs it next, which keeps a sender and its
 * receiver on one core. A worker parks only after announcing itself as a
 * sleeper and re-checking every queue; whoever queues work afterwards sees
 * the sleeper and hands out a wake token, so no wake-up is lost and idle
 * workers use no CPU. */
#ifndef TROUPE_ACTORS_SCHED_H
#define TROUPE_ACTORS_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/ring.h"
#include "actors/runq.h"
#include "ds/mpscq.h"
#include "troupe/actor.h"

struct tr_actor;

#define TR_WORKER_FLUSH_MAX 8 /* peers a turn may leave to write at its end */

/* One worker thread and its local run queue. */
typedef struct tr_worker {
    tr_runq runq;
    tr_system *sys;
    pthread_t thread;
    uint32_t index;
    uint32_t tick;
    bool searching; /* woken by a token and has not found work yet (sched.c) */
    bool patient;   /* waited out a park beside queued work: may steal a lone actor */
    uint64_t rng; /* victim choice (ds/rng.h) */
    _Atomic uint64_t steals, parks, messages, turns;
    /* peers (net/) whose write waits for the end of the running turn, so
     * that a turn's remote sends leave in one frame (actors/remote.h) */
    uint32_t nflush;
    uint32_t flush[TR_WORKER_FLUSH_MAX];
    uint64_t remote_until_ns; /* spin for an answer until then (sched.c) */
    /* the watch of the connection an answer comes on (actors/remote.h) */
    uint32_t remote_peer; /* the last peer a turn wrote to, or 0 */
    void *watch;          /* NULL: none */
    uint32_t watch_peer;
    uint64_t watch_epoch; /* the attachment of the node it belongs to */
    uint32_t watch_idle;  /* polls between turns that found nothing, in a row */
} tr_worker;

/* The scheduler's part of the runtime object (tr_system.sched). */
typedef struct tr_sched {
    tr_worker *workers;
    uint32_t nworkers;

    /* global injection queue: sends from outside threads, local overflow.
     * A bounded ring (actors/ring.h) in front; when it is full, the MPSC
     * queue (ds/mpscq.h) through the actors' inject_link, so that
     * submitting never fails. One worker at a time pops from both, the one
     * that sets inject_popping. */
    tr_ring inject_ring;
    _Alignas(64) _Atomic(tr_mlink *) inject_in;
    _Atomic size_t inject_len; /* on the list (or being linked) and not yet popped */
    _Alignas(64) tr_mlink *inject_out;
    tr_mlink inject_stub;
    _Atomic bool inject_popping;

    /* parking: idle workers sleep here; wake_tokens avoids lost wake-ups */
    pthread_mutex_t park_lock;
    pthread_cond_t park_cv;
    _Atomic uint32_t sleepers;
    uint32_t wake_tokens;
    /* workers woken by a token that have not yet found work: while one is
     * searching, new work wakes nobody else (sched.c, notify_one) */
    _Atomic uint32_t searching;
    _Atomic bool workers_exit;
} tr_sched;

/* Starts the worker threads. Returns TR_OK or TR_ENOMEM. */
int tr_sched_start(tr_system *sys);

/* Tells workers to exit once idle and joins them. */
void tr_sched_stop(tr_system *sys);

/* Queues a runnable actor: on the calling worker's local queue when called
 * from a worker of `sys`, else on the injection queue; wakes a parked worker
 * if there is one. An outside thread that finds the injection queue backed
 * up past its ring yields its core once (sched.c), but never waits. */
void tr_sched_submit(tr_system *sys, struct tr_actor *a);

/* Queues an actor whose turn just ended on this worker with work left (the
 * end of a turn, worker threads only): like tr_sched_submit, but wakes
 * nobody, since it is the same work this worker was already doing. */
void tr_sched_requeue(tr_system *sys, struct tr_actor *a);

/* Worker w's turn wrote to another node: once out of work, w looks for
 * work a little longer before it parks, expecting the answer (sched.c,
 * REMOTE_SPIN_NS). */
void tr_sched_expect_remote(tr_worker *w);

/* The worker running on this thread, or NULL for outside threads. */
tr_worker *tr_sched_current_worker(void);

#endif

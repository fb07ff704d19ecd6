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

#include "actors/system_impl.h"

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

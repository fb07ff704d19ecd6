/* The blocking pool (see include/troupe/blocking.h): runtime side.
 *
 * Two kinds of work share its threads through two FIFO queues under one
 * lock: turns of actors spawned with tr_spawn_opts.blocking (queued by
 * tr_sched_submit instead of a worker's run queue; linked through their
 * inject_link, unused while they are SCHEDULED here), and tr_blocking_run
 * calls. Nothing here is on the path of an ordinary actor: the scheduler
 * only tests the actor's `blocking` bit. */
#ifndef TROUPE_ACTORS_BLOCKING_H
#define TROUPE_ACTORS_BLOCKING_H

#include <stdint.h>
#include <time.h>

struct tr_actor;
struct tr_system;
typedef struct tr_blocking_pool tr_blocking_pool;

/* Creates the (empty) pool of `sys` from its configuration. Returns TR_OK
 * or TR_ENOMEM. */
int tr_blocking_pool_start(struct tr_system *sys);

/* At system shutdown, once every actor has ended: drops queued calls, waits
 * for running ones until `deadline` (CLOCK_REALTIME), abandons those still
 * running then (their threads exit on their own, touching nothing of the
 * system) and joins the others. Frees the pool unless a thread is left. */
void tr_blocking_pool_stop(struct tr_system *sys, const struct timespec *deadline);

/* Queues a turn of a claimed blocking actor (tr_sched_submit). */
void tr_blocking_submit_actor(struct tr_system *sys, struct tr_actor *a);

/* The pool's figures for tr_metrics. */
void tr_blocking_pool_metrics(struct tr_system *sys, uint64_t *threads, uint64_t *idle,
                              uint64_t *queued, uint64_t *calls_run);

#endif

/* Counts of spawned and ended actors, sharded so that spawns and ends on
 * different threads do not write one shared cache line.
 *
 * Each shard (a cache line) holds counters that only grow (a failed spawn
 * takes its count back): `spawned`, and `ended` by the class of the exit
 * reason (tr_end_kind), so that counting ends by reason costs an end no
 * more than counting them did: one read-modify-write on the same line. A
 * worker uses the shard of its index, outside threads share the remaining
 * shards by a per-thread number. An actor spawned on one thread often ends
 * on another, so only sums mean something. Every change is a seq_cst
 * read-modify-write. The live count reads every `ended` first and every
 * `spawned` after: an end it counts happened after its spawn, so the spawn
 * is counted too, whatever shards they are on, and the result is never
 * below the true count (a per-shard live counter read in shard order could
 * count an end whose spawn landed on a shard already read, and report 0
 * while an actor lives). */
#ifndef TROUPE_ACTORS_CENSUS_H
#define TROUPE_ACTORS_CENSUS_H

#include <stdatomic.h>
#include <stdint.h>

#include "troupe/metrics.h"

#define TR_CENSUS_SHARDS 16
#define TR_CENSUS_WORKER_SHARDS 8 /* the first ones, for workers; the rest for outside threads */

typedef struct tr_census_shard {
    _Alignas(64) _Atomic uint64_t spawned;
    _Atomic uint64_t ended[TR_END_KINDS];
} tr_census_shard;
_Static_assert(sizeof(tr_census_shard) == 64, "a shard is one cache line");

typedef struct tr_census {
    tr_census_shard shard[TR_CENSUS_SHARDS];
} tr_census;

struct tr_system;

/* Counts one spawned (and live) actor. Any thread. */
void tr_census_spawn(struct tr_system *sys);

/* Undoes tr_census_spawn for a spawn that failed after it (the actor never
 * ran). Any thread. */
void tr_census_unspawn(struct tr_system *sys);

/* Counts the end of a live actor, of that kind. Any thread. */
void tr_census_end(struct tr_system *sys, tr_end_kind kind);

/* Live actors now: never below the number of actors spawned before the call
 * and not ended when it returns. Reads every shard twice. */
uint64_t tr_census_alive(struct tr_system *sys);

/* Actors spawned so far. Reads every shard. */
uint64_t tr_census_spawned(struct tr_system *sys);

/* Adds the actors ended so far, by kind, to out[]. Reads every shard. */
void tr_census_ended(struct tr_system *sys, uint64_t out[TR_END_KINDS]);

#endif

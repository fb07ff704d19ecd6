/* Counts of live and spawned actors, sharded so that spawns and ends on
 * different threads do not write one shared cache line.
 *
 * Each shard (a cache line) holds two counters. A worker uses the shard of
 * its index, outside threads share the remaining shards by a per-thread
 * number. An actor spawned on one thread often ends on another, so single
 * shards wrap around; only the sum over all shards means something. Every
 * change is a seq_cst read-modify-write and every sum reads the shards with
 * seq_cst loads: a thread that sees an actor's end (its decrement, or
 * anything after it) therefore also sees its spawn (the increment, which
 * happens before the end), so a sum never counts an end without its spawn. */
#ifndef TROUPE_ACTORS_CENSUS_H
#define TROUPE_ACTORS_CENSUS_H

#include <stdatomic.h>
#include <stdint.h>

#define TR_CENSUS_SHARDS 16
#define TR_CENSUS_WORKER_SHARDS 8 /* the first ones, for workers; the rest for outside threads */

typedef struct tr_census_shard {
    _Alignas(64) _Atomic uint64_t alive;
    _Atomic uint64_t spawned;
} tr_census_shard;

typedef struct tr_census {
    tr_census_shard shard[TR_CENSUS_SHARDS];
} tr_census;

struct tr_system;

/* Counts one spawned (and live) actor. Any thread. */
void tr_census_spawn(struct tr_system *sys);

/* Undoes tr_census_spawn for a spawn that failed after it (the actor never
 * ran): live goes down, spawned too. Any thread. */
void tr_census_unspawn(struct tr_system *sys);

/* Counts the end of a live actor. Any thread. */
void tr_census_end(struct tr_system *sys);

/* Live actors now (0 if the sum is momentarily negative, which it is not
 * for a caller ordered after the ends it counts). Reads every shard. */
uint64_t tr_census_alive(struct tr_system *sys);

/* Actors spawned so far. Reads every shard. */
uint64_t tr_census_spawned(struct tr_system *sys);

#endif

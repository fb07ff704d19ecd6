/* The actor table: turns a tr_ref into a live actor pointer, safely.
 *
 * A reference is (generation << 25 | slot index + 1), node bits 0. Each slot holds one atomic
 * word: generation, a LIVE bit (the actor exists), an OPEN bit (it accepts
 * user messages) and a count of threads currently holding the actor pointer.
 * Acquiring bumps that count with a CAS only if the generation matches and
 * the actor is LIVE, so a stale reference can never reach freed memory: the
 * actor is destroyed by whichever thread drops the last hold after LIVE is
 * cleared, and only then is the slot's generation advanced for reuse.
 * Slots live in fixed 4096-entry pages that are never moved or freed before
 * the table itself, so lookups need no lock. Free slots form a lock-free
 * stack (Treiber's, with an ABA tag) of chains linked through their actor
 * field: a batch of slots freed together is pushed and popped in one CAS.
 *
 * Every thread keeps a cache of free slots for one table: a worker for its
 * system's table (tr_table_bind_thread), any other thread for the last
 * table it inserted into. An outside thread's cache goes back to its table
 * when the thread inserts into another table or exits, and is forgotten
 * (with the slots) by tr_table_fini; so at most TR_TABLE_CACHE slots per
 * live thread are out of the shared stack. */
#ifndef TROUPE_ACTORS_TABLE_H
#define TROUPE_ACTORS_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "troupe/actor.h"

struct tr_actor;

#define TR_TABLE_PAGE_BITS 12
#define TR_TABLE_PAGE_SLOTS (1u << TR_TABLE_PAGE_BITS)
#define TR_TABLE_MAX_PAGES 8191 /* 32M actors: index + 1 fits the 25 bits of a tr_ref */
#define TR_TABLE_CACHE 64      /* free slot indices a bound thread keeps */

typedef struct tr_slot {
    _Atomic uint64_t word;
    _Atomic(struct tr_actor *) actor;
} tr_slot;

typedef struct tr_table {
    _Atomic(tr_slot *) pages[TR_TABLE_MAX_PAGES];
    pthread_mutex_t lock;            /* page allocation only */
    _Atomic uint64_t free_head;      /* free-slot stack: tag << 32 | (index + 1), 0 = empty */
    _Atomic uint32_t next_unused;    /* first index never handed out */
    void (*destroy)(struct tr_actor *); /* frees an actor after its last hold */
} tr_table;

/* Binds the calling thread's slot cache to `t` (a worker of the table's
 * system calls it when it starts): freed slot indices then collect in the
 * cache and go to the shared free stack TR_TABLE_CACHE / 2 at a time, and
 * inserts take them back from there a chain at a time, so spawns and exits
 * on workers rarely touch the shared stack. */
void tr_table_bind_thread(tr_table *t);

/* Returns the cached indices to `t` and unbinds the thread (worker exit). */
void tr_table_unbind_thread(tr_table *t);

/* Returns the cached indices to `t`, keeping the binding (a worker about to
 * park, so that idle workers strand no free slots). */
void tr_table_flush_thread(tr_table *t);

/* Initialises an empty table; `destroy` is called for each actor whose last
 * hold is dropped after tr_table_kill. Returns TR_OK or TR_ENOMEM. */
int tr_table_init(tr_table *t, void (*destroy)(struct tr_actor *));

/* Frees the pages (the actors must all be gone) and unbinds the caches of
 * outside threads bound to `t`. No thread may use `t` meanwhile. */
void tr_table_fini(tr_table *t);

/* Slots on the shared free stack plus those in the calling thread's cache
 * (tests: call it with no other thread using the table). */
uint32_t tr_table_count_free(tr_table *t);

/* Slots ever handed out (free or not). */
uint32_t tr_table_count_used(tr_table *t);

/* Gives `actor` a slot, LIVE and OPEN, and writes its reference to *out.
 * Returns TR_OK, TR_ENOMEM or TR_ETOOBIG (table full). */
int tr_table_insert(tr_table *t, struct tr_actor *actor, tr_ref *out);

/* Acquires a hold on the actor behind `ref`. With need_open, an actor that
 * no longer accepts messages gives TR_ESTOPPING. Returns TR_OK (then
 * *out is valid until tr_table_release), TR_EDEAD or TR_ESTOPPING. */
int tr_table_acquire(tr_table *t, tr_ref ref, bool need_open, struct tr_actor **out);

/* Takes a hold on an actor known to be LIVE (it is scheduled and about to
 * run): its memory then outlives its end until tr_table_release. */
void tr_table_hold(tr_table *t, tr_ref ref);

/* Re-checks, with a plain load, a reference the caller already holds (so
 * its slot cannot be reused): TR_OK while it is LIVE (and OPEN, with
 * need_open), else TR_EDEAD or TR_ESTOPPING as tr_table_acquire would. */
int tr_table_check(tr_table *t, tr_ref ref, bool need_open);

/* Prefetches, for writing, the slot of a LIVE actor about to be run. */
void tr_table_prefetch(tr_table *t, tr_ref ref);

/* Drops a hold taken by tr_table_acquire or tr_table_hold. */
void tr_table_release(tr_table *t, tr_ref ref);

/* Clears OPEN: the actor takes no more user messages. */
void tr_table_close(tr_table *t, tr_ref ref);

/* Clears LIVE: the actor is destroyed now, or by the last holder. */
void tr_table_kill(tr_table *t, tr_ref ref);

/* Retires the slot of an ending actor: clears LIVE and OPEN in one seq_cst
 * operation; `held`: the caller holds the actor. Returns true when nobody
 * else holds it: the slot is left with no hold and the actor is the
 * caller's to free, with tr_table_reclaim, when done with it (nobody can
 * take a hold any more). Otherwise the caller is left with exactly one hold
 * (taken now if it had none), to drop with tr_table_release when done. */
bool tr_table_retire(tr_table *t, tr_ref ref, bool held);

/* Frees the actor of a slot tr_table_retire left to the caller, and
 * recycles the slot under the next generation. */
void tr_table_reclaim(tr_table *t, tr_ref ref);

/* Whether `ref`'s actor is retired (tr_table_retire or tr_table_kill), by a
 * seq_cst load. The caller holds it (so its slot is not reused). */
bool tr_table_retired(tr_table *t, tr_ref ref);

/* The actor table of `sys` (actors/system.c), for a file that needs
 * nothing else of tr_system. */
tr_table *tr_system_table(tr_system *sys);

/* Calls fn(actor, ctx) for every actor LIVE when its slot is visited, with a
 * hold taken around the call (fn may signal the actor, not wait for it).
 * Slots are read with seq_cst loads: an actor inserted before a seq_cst
 * store that precedes this walk is visited. Any thread; the table lock is
 * not held during the calls. */
void tr_table_foreach_live(tr_table *t, void (*fn)(struct tr_actor *, void *), void *ctx);

#endif

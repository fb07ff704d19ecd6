/* Fixed-size object pools with per-thread caches, so that the hot paths
 * (a message node per send, an actor per spawn) do not call malloc.
 *
 * Objects are typically allocated on one thread and freed on another (a node
 * is freed by the receiver's worker, an actor by whoever drops its last
 * hold). glibc then moves memory between per-thread arenas under a lock and
 * grows and trims its heaps (sysmalloc, madvise, page faults) all the time.
 * Here each thread keeps, per pool, two magazines (arrays) of up to
 * TR_POOL_BATCH free objects; a full magazine goes to a process-wide depot
 * and an empty one is refilled from there (one mutex operation per
 * TR_POOL_BATCH objects), so a producer/consumer pair of threads costs no
 * malloc and no system call in the steady state. While busy, the depot keeps
 * up to TR_POOL_DEPOT_BUSY_BYTES of free objects per pool (beyond that they
 * go back to malloc), so that ending a million actors does not cost a
 * million calls to free; workers idle for a while trim it back to
 * TR_POOL_DEPOT_BYTES (tr_pool_trim). A thread's magazines are returned to
 * the depot when it exits.
 *
 * Under AddressSanitizer a free object is poisoned while it is cached, so a
 * use after free is still reported. */
#ifndef TROUPE_MAILBOX_POOL_H
#define TROUPE_MAILBOX_POOL_H

#include <stdbool.h>
#include <stddef.h>

#define TR_POOL_BATCH 64
#define TR_POOL_DEPOT_BYTES (16u << 20)        /* kept when idle */
#define TR_POOL_DEPOT_BUSY_BYTES (256u << 20)  /* kept at most */

/* The pools. Each has one fixed object size, given by its users. */
typedef enum tr_pool_id {
    TR_POOL_MNODE = 0, /* message nodes (mailbox/msg.c) */
    TR_POOL_ACTOR = 1, /* small actors (actors/actor.c) */
    TR_POOL_COUNT
} tr_pool_id;

/* Returns an uninitialised object of `size` bytes from pool `id`, or NULL on
 * ENOMEM. `size` must be the same on every call for a given pool. Any thread. */
void *tr_pool_alloc(tr_pool_id id, size_t size);

/* Gives back an object from tr_pool_alloc(id, ...) (NULL is ignored). Any
 * thread, not necessarily the allocating one. */
void tr_pool_free(tr_pool_id id, void *obj);

/* Gives back to malloc a few of the full magazines kept beyond the idle
 * bound (TR_POOL_DEPOT_BYTES) in any pool. Returns true while more remain
 * (call it again if still idle). Any thread; a worker calls it when it has
 * been parked for a while (actors/sched.c, TRIM_AFTER_MS). */
bool tr_pool_trim(void);

/* Whether some pool holds more full magazines than its idle bound (a cheap
 * check: tr_pool_trim has work). Any thread. */
bool tr_pool_over_idle(void);

/* Sets pool `id`'s bounds (bytes of free objects kept idle and at most),
 * replacing the defaults above (tests keep the depot small with it). A
 * depot already above the new bounds shrinks by tr_pool_trim and use. */
void tr_pool_set_depot_bytes(tr_pool_id id, size_t idle_bytes, size_t busy_bytes);

/* Full magazines the depot of pool `id` holds right now (tests, diagnostics). */
size_t tr_pool_depot_batches(tr_pool_id id);

/* The most full magazines the depot of pool `id` keeps (0 before its first
 * allocation). */
size_t tr_pool_depot_max(tr_pool_id id);

/* The full magazines the depot of pool `id` keeps after tr_pool_trim (0
 * before its first allocation). */
size_t tr_pool_depot_idle_max(tr_pool_id id);

#endif

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
#ifndef TROUPE_MEM_POOL_H
#define TROUPE_MEM_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_POOL_BATCH 64
#define TR_POOL_DEPOT_BYTES (16u << 20)        /* kept when idle */
#define TR_POOL_DEPOT_BUSY_BYTES (256u << 20)  /* kept at most */
/* Pools that can be in use at once: each thread keeps two magazine pointers
 * per pool. A pool defined beyond these hands out plain malloc. */
#define TR_POOL_MAX 8

struct tr_pool_magazine;

/* A pool of objects of one size and its depot. Any part of the runtime
 * defines its own at file scope, with TR_POOL_INIT:
 *
 *   static tr_pool node_pool = TR_POOL_INIT(sizeof(tr_mnode));
 *
 * It registers itself on its first use. The fields are pool.c's. */
typedef struct tr_pool {
    /* read on every allocation and free: a line of their own, apart from
     * the depot's, which threads visiting the depot write */
    size_t size;           /* object size, fixed */
    _Atomic uint32_t slot; /* 1 + its index in the thread caches; 0 = not registered */
    _Alignas(64) pthread_mutex_t lock;
    size_t idle_bytes, busy_bytes; /* bounds; 0 = the defaults above */
    size_t max_full;               /* full magazines kept at most: busy_bytes worth */
    size_t idle_full;              /* full magazines kept after a trim: idle_bytes worth */
    _Atomic bool over_idle;        /* nfull > idle_full: tr_pool_trim has work */
    struct tr_pool_magazine *full, *empty;
    size_t nfull, nempty;
} tr_pool;

/* Two workers ending actors visit a depot every TR_POOL_BATCH frees each,
 * for a few instructions: a lock that spins briefly before it sleeps keeps
 * a collision from costing a futex sleep and wake (glibc's adaptive mutex). */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define TR_POOL_LOCK_INIT PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#else
#define TR_POOL_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
#endif

/* The static initialiser of a pool of objects of `object_size` bytes. */
#define TR_POOL_INIT(object_size) {.lock = TR_POOL_LOCK_INIT, .size = (object_size)}

/* Returns an uninitialised object of the pool's size, or NULL on ENOMEM.
 * Any thread. */
void *tr_pool_alloc(tr_pool *pool);

/* Gives back an object from tr_pool_alloc(pool) (NULL is ignored). Any
 * thread, not necessarily the allocating one. */
void tr_pool_free(tr_pool *pool, void *obj);

/* Gives back to malloc a few of the full magazines kept beyond the idle
 * bound (TR_POOL_DEPOT_BYTES) in any pool. Returns true while more remain
 * (call it again if still idle). Any thread; a worker calls it when it has
 * been parked for a while (actors/sched.c, TRIM_AFTER_MS). */
bool tr_pool_trim(void);

/* Whether some pool holds more full magazines than its idle bound (a cheap
 * check: tr_pool_trim has work). Any thread. */
bool tr_pool_over_idle(void);

/* Sets the pool's bounds (bytes of free objects kept idle and at most),
 * replacing the defaults above (tests keep the depot small with it). A
 * depot already above the new bounds shrinks by tr_pool_trim and use. */
void tr_pool_set_depot_bytes(tr_pool *pool, size_t idle_bytes, size_t busy_bytes);

/* Full magazines the pool's depot holds right now (tests, diagnostics). */
size_t tr_pool_depot_batches(tr_pool *pool);

/* The most full magazines the pool's depot keeps (0 before its first use
 * or tr_pool_set_depot_bytes). */
size_t tr_pool_depot_max(tr_pool *pool);

/* The full magazines the pool's depot keeps after tr_pool_trim (0 before
 * its first use or tr_pool_set_depot_bytes). */
size_t tr_pool_depot_idle_max(tr_pool *pool);

#endif

/* The runtime object. Internal: users only see the opaque tr_system.
 *
 * It holds one of each part's state, defined by its owner: the actor table
 * (table.h), the scheduler (sched.h), the census (census.h), dead letters
 * (dead_letters.h), recent exit reasons (exit_cache.h), the metric counters
 * (metrics.h), names (registry.h), the seam to the node (remote.h), open
 * inboxes (inbox_impl.h); here are only what the parts share: the stripe
 * locks of the actor tree and the lifecycle notifications (shutdown,
 * tr_await_exit, blocked posts). */
#ifndef TROUPE_ACTORS_SYSTEM_IMPL_H
#define TROUPE_ACTORS_SYSTEM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "actors/actor_impl.h"
#include "actors/clock.h"
#include "actors/census.h"
#include "actors/dead_letters.h"
#include "actors/exit_cache.h"
#include "actors/inbox_impl.h"
#include "actors/metrics.h"
#include "actors/registry.h"
#include "actors/remote.h"
#include "actors/sched.h"
#include "actors/table.h"
#include "troupe/metrics.h"

#define TR_STRIPES 64

struct tr_timers;
struct tr_blocking_pool;

/* One stripe lock per cache line: two workers locking neighbouring stripes
 * (every actor start, end and child link does) must not share a line. */
typedef struct tr_stripe {
    _Alignas(64) pthread_mutex_t m;
} tr_stripe;

/* A thread blocked in tr_await_exit. */
typedef struct tr_exit_waiter {
    struct tr_exit_waiter *next;
    tr_ref ref;
    int reason;
    bool done;
} tr_exit_waiter;

struct tr_system {
    tr_config cfg;
    tr_table table;
    tr_sched sched; /* workers, injection queue, parking (sched.h) */

    /* actor tree: stripe locks guard children lists and extensions; top-level
     * actors are in no list (shutdown walks the table) */
    tr_stripe stripes[TR_STRIPES];
    pthread_mutex_t root_lock;
    _Atomic bool closing;

    /* lifecycle notifications: shutdown, tr_await_exit, blocked tr_post */
    pthread_mutex_t event_lock;
    pthread_cond_t event_cv;
    tr_exit_waiter *exit_waiters;
    _Atomic uint32_t event_waiters; /* threads blocked on event_cv */
    _Atomic uint32_t post_waiters;  /* of which: tr_post waiting for mailbox room */
    _Atomic uint32_t dead_waiters;  /* of which: shutdown waiting for the last end */
    _Atomic uint64_t exit_waiter_mask; /* tr_exit_waiter_bit of every awaited ref */

    /* live and spawned counts, changed by every spawn and end: sharded */
    tr_census census;
    _Alignas(64) _Atomic uint64_t mutes;
    _Atomic uint64_t monitor_seq;

    tr_exit_cache exits; /* why recent ends ended (actors/exit_cache.h) */

    tr_dead_letters dead_letters; /* actors/dead_letters.h */

    struct tr_timers *timers;
    struct tr_blocking_pool *blocking; /* actors/blocking.c */
    tr_metric_counters counters; /* read by tr_metrics_get only (actors/metrics.h) */

    /* the node (net/) that carries remote references; see actors/remote.h */
    tr_remote_seam remote;

    /* what a layer above attached (actors/attachment.h): the HTTP observer
     * started by tr_config.observe_url or TROUPE_OBSERVE */
    void *attached;
    void (*detach)(void *attached);

    tr_names names; /* actors/registry.h */

    tr_inbox_list inboxes; /* the open ones (actors/inbox_impl.h) */
};

/* A seq_cst fence (Dekker-style handshakes: store, fence, load). GCC
 * refuses atomic_thread_fence under -fsanitize=thread in some inlining
 * contexts, and ThreadSanitizer does not model fences anyway (it checks
 * races on plain data, which these handshakes do not guard); there a
 * seq_cst read-modify-write of a dummy takes its place, which is a full
 * barrier on x86 as well. */
static inline void tr_fence_seq_cst(void)
{
#ifdef TROUPE_TSAN
    static _Atomic int dummy;
    atomic_fetch_add_explicit(&dummy, 0, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* The bit of exit_waiter_mask that stands for `ref`: an ending actor whose
 * bit is clear has no tr_await_exit waiter and need not take event_lock. */
static inline uint64_t tr_exit_waiter_bit(tr_ref ref)
{
    return 1ull << ((ref.id & 0xffffffffu) % 64);
}

/* Wakes every thread blocked on the event condition. Any thread. */
void tr_system_broadcast(tr_system *sys);

#endif

/* The actor object and the runtime-internal operations on it.
 *
 * Layout: the fields every sender writes or reads (mailbox tail, schedule
 * state, pressure, bound) come first; those written by other threads now
 * and then (signals, mute count) and the fixed ones follow; the fields the
 * running worker writes per message (mailbox head) come last, next to the
 * behaviour's state, which is allocated right after the struct. Actors are
 * not cache-line aligned (that would cost memory per actor), so the middle
 * part keeps the first and last parts more than a line apart.
 * Rarely used data (name, muted senders, pending asks, owned timers, group,
 * monitors, links) lives in a lazily allocated extension whose parts each
 * feature defines (actors/ext.h), keeping a plain actor small. */
#ifndef TROUPE_ACTORS_ACTOR_IMPL_H
#define TROUPE_ACTORS_ACTOR_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/children.h"
#include "ds/container.h"
#include "ds/vec.h"
#include "mailbox/mailbox.h"
#include "troupe/actor.h"

struct tr_group;

/* A growable array of references (ds/vec.h). */
typedef TR_VEC(tr_ref) tr_ref_vec;

/* An actor's extension: the parts features keep for some actors only
 * (actors/ext.h). */
typedef struct tr_actor_ext tr_actor_ext;

/* Schedule state (tr_actor.sched). */
enum {
    TR_SCHED_IDLE = 0,      /* not queued, not running */
    TR_SCHED_SCHEDULED = 1, /* in a run queue or running: owned by one worker */
    TR_SCHED_MUTED = 2,     /* has work but held back by backpressure */
    TR_SCHED_DEAD = 3       /* finished: never scheduled again */
};

/* Requests from other threads (tr_actor.signals). */
enum {
    TR_SIG_STOP = 1u << 0,        /* graceful stop with TR_ESHUTDOWN */
    TR_SIG_KILL = 1u << 1,        /* immediate stop with TR_EKILLED */
    TR_SIG_FROM_PARENT = 1u << 2, /* the stop comes from an ancestor that owns the deadline */
    TR_SIG_CHILD = 1u << 3,       /* a child ended: a stopping parent re-checks */
    TR_SIG_EXIT = 1u << 4,        /* exit signals from links are pending (actors/link.c) */
    TR_SIG_CANCEL = 1u << 5,      /* graceful stop with TR_ECANCELLED (supervisor/token.c) */
};

/* How the actor is stopping (tr_actor.stop_mode), in increasing force. */
enum {
    TR_STOP_NONE = 0,
    TR_STOP_DRAIN = 1, /* handle queued messages, stop children gracefully */
    TR_STOP_ABORT = 2, /* failed: drop queued messages, stop children gracefully */
    TR_STOP_KILL = 3   /* drop queued messages, kill children */
};

/* Owner-thread flags (tr_actor.flags). */
enum {
    TR_AF_INITIALIZED = 1u << 0,
    TR_AF_STOP_SELF = 1u << 1, /* tr_stop_self called during this callback */
    TR_AF_TERMINATED = 1u << 2,
    TR_AF_TRAP_EXITS = 1u << 3, /* exit signals from links become TR_MSG_EXIT messages */
    TR_AF_CLOSE_PENDING = 1u << 4, /* stopping, OPEN not yet cleared (tr_lifecycle_try_finish) */
};

struct tr_actor {
    /* --- [0, 32): what a sender touches: the mailbox tail, the schedule
     * state and pressure it may change, the bound it reads. The running
     * worker writes here once per turn at most (sched, pressure), so a
     * burst of sends keeps this line on the sender's core. --- */
    tr_mailbox_tail mtail;
    uint32_t capacity;
    uint32_t low_watermark;
    _Atomic uint8_t sched;    /* TR_SCHED_* */
    _Atomic uint8_t pressure; /* 1 from reaching capacity until drained to the low watermark */
    uint8_t overflow : 2; /* tr_overflow */
    /* runs on the blocking pool (tr_spawn_opts.blocking): tr_sched_submit
     * tests it, on the line the claim just wrote */
    uint8_t blocking : 1;
    uint8_t watch_closed;     /* ended: new monitors fire at once (stripe lock; see tr_actor_ended) */
    uint32_t drain_timeout_ms;
    /* --- [32, 80): touched by neither side per message. Actors are not
     * cache-line aligned (that would cost memory per actor), so this gap is
     * what keeps the fields above and below on different lines. --- */
    tr_mlink inject_link; /* injection queue link (sched.c) */
    void *arg;
    struct tr_actor *parent; /* NULL for top-level actors */
    /* this actor's children (children.h), under its stripe lock */
    tr_children children;
    /* its place in parent->children.at, under the parent's stripe lock */
    uint32_t child_index;
    /* the most messages its turns have seen queued (tr_metrics_mailbox_seen);
     * written by the owner, read by tr_actors_list */
    _Atomic uint32_t mailbox_peak;
    /* --- [80, 160): what the running worker reads or writes per message,
     * next to the behaviour's state --- */
    tr_system *sys;
    const tr_behaviour *beh;
    tr_ref self;
    _Atomic(tr_actor_ext *) ext;
    _Atomic uint32_t signals;    /* TR_SIG_*, set by other threads */
    _Atomic uint32_t mute_count; /* receivers this actor is muted on */
    uint32_t handler_deadline_ms; /* per-message watchdog (watchdog.c); 0 = none */
    int exit_reason;
    int fail_reason; /* set by tr_fail during a callback */
    _Atomic uint8_t lifecycle; /* tr_actor_state, for observers */
    /* TR_STOP_*: written by the owner (seq_cst, see tr_lifecycle_begin), read
     * by spawn_link under the stripe lock */
    _Atomic uint8_t stop_mode;
    uint8_t flags;
    tr_mailbox_head mhead;
    _Alignas(16) unsigned char state[];
};
/* Moving fields changes these: see the layout notes above and the
 * bytes_per_actor figure of the cancel bench. */
_Static_assert(offsetof(struct tr_actor, inject_link) <= 32 &&
                   offsetof(struct tr_actor, sys) >= 80,
               "sender fields and per-message fields must stay a line apart");
_Static_assert(sizeof(struct tr_actor) <= 160, "a plain actor must stay small");

/* The actor whose inject_link is `link`: the link queues an actor on the
 * injection list (sched.c), the blocking pool (blocking.c) and a stopping
 * parent's list of claimed children (lifecycle.c). */
static inline struct tr_actor *tr_actor_of_link(tr_mlink *link)
{
    return TR_CONTAINER_OF(link, struct tr_actor, inject_link);
}

/* Messages in `a`'s mailbox (see tr_mailbox_count). */
static inline uint32_t tr_actor_queued(const struct tr_actor *a)
{
    return tr_mailbox_count(&a->mtail, &a->mhead);
}

/* Whether `a` has ended for monitors and links: its lists are closed
 * (watch_closed, under its stripe lock) or its table slot is retired, after
 * which its end takes the lists only if it finds an extension. Call with the
 * stripe lock held and a hold on `a`, after tr_actor_ext_get and
 * tr_actor_ext_publish (see finish in lifecycle.c). */
bool tr_actor_ended(struct tr_actor *a);

/* Orders a later tr_actor_ended test after `ext` (a's extension, non-NULL)
 * exists: a seq_cst read-modify-write of the pointer, which writes it back
 * unchanged (a fence in effect; TSan does not take real fences). */
static inline void tr_actor_ext_publish(struct tr_actor *a, tr_actor_ext *ext)
{
    atomic_compare_exchange_strong_explicit(&a->ext, &ext, ext, memory_order_seq_cst,
                                            memory_order_seq_cst);
}

/* The actor's TR_STOP_* mode, read by its owner (or by spawn_link under the
 * stripe lock). */
static inline uint8_t tr_actor_stop_mode(const struct tr_actor *a)
{
    return atomic_load_explicit(&a->stop_mode, memory_order_relaxed);
}

/* Starts fetching, for writing, every cache line of a plain actor (one about
 * to be claimed and ended: a stop touches all of them). */
static inline void tr_actor_prefetch(struct tr_actor *a)
{
    for (size_t off = 0; off < sizeof(*a); off += 64)
        __builtin_prefetch((char *)a + off, 1);
    __builtin_prefetch((char *)a + sizeof(*a) - 1, 1);
}

/* Returns the extension, creating it; NULL on ENOMEM. */
tr_actor_ext *tr_actor_ext_get(struct tr_actor *a);

/* Moves `a` IDLE->SCHEDULED (or MUTED->SCHEDULED when `unmute`). Returns
 * true when this thread did so: it then owns the actor (which cannot run,
 * end or be freed meanwhile) and must hand it to tr_sched_submit. */
bool tr_actor_claim(struct tr_actor *a, bool unmute);

/* Runs a turn of a claimed actor (see tr_actor_claim) on this worker, now,
 * nested in the current turn, without handling any message: it takes its
 * signals, plus the TR_SIG_* bits in `signals`, and ends if it can
 * (terminate included); otherwise the turn ends as usual and queues it if
 * it has work. Returns false, having done nothing, off a worker of its
 * system or when nested too deep: the caller then submits it (with
 * `signals` set on it). */
bool tr_actor_run_inline(struct tr_actor *a, uint32_t signals);

/* Makes a runnable actor owned by a worker: IDLE -> SCHEDULED (or, with
 * force, MUTED -> SCHEDULED) and queues it. Any thread. */
void tr_actor_wake(struct tr_actor *a, bool unmute);

/* Sets signal bits and wakes the actor so it acts on them. Any thread. */
void tr_actor_signal(struct tr_actor *a, uint32_t bits);

/* Runs one turn of `a` on the calling worker (sched.c calls it). */
void tr_actor_run(struct tr_actor *a, uint32_t batch, uint64_t *handled);

/* Frees an actor after its last table hold (table destroy callback). */
void tr_actor_destroy(struct tr_actor *a);

/* The actor whose callback is running on this thread, or NULL. */
struct tr_actor *tr_actor_current(void);

/* Mutex guarding `a`'s children list and extension (NULL a = top level). */
pthread_mutex_t *tr_actor_stripe(tr_system *sys, struct tr_actor *a);

/* Turns every queued message into a dead letter with `reason`. Owner only. */
void tr_actor_drop_mailbox(struct tr_actor *a, int reason);

/* Unmutes every sender muted on `a` (it drained, or it died). */
void tr_actor_release_muted(struct tr_actor *a);

/* The pool of small actors (mem/pool.h; actor.c), which idle workers trim. */
extern struct tr_pool tr_actor_pool;

/* Internal spawn used by tr_spawn and spawn groups. */
int tr_actor_spawn(tr_system *sys, const tr_behaviour *beh, void *arg, const tr_spawn_opts *opts,
                   struct tr_group *group, tr_ref *out);

#endif

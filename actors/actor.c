/* Actor objects: spawning, one turn on a worker, scheduling state, freeing.
 *
 * The schedule state machine (tr_actor.sched) guarantees an actor runs on at
 * most one worker: only the thread that moves it IDLE->SCHEDULED (or
 * MUTED->SCHEDULED) queues it, and only its worker moves it back at the end
 * of a turn, re-checking the mailbox afterwards so a message pushed in
 * between is never stranded. */
#include "actors/actor_impl.h"
#include "actors/census.h"
#include "actors/dead_letters.h"
#include "actors/metrics.h"
#include "actors/send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/ask.h"
#include "actors/crash.h"
#include "actors/ext.h"
#include "actors/lifecycle.h"
#include "actors/probe.h"
#include "actors/sched.h"
#include "actors/system_impl.h"
#include "actors/table.h"
#include "actors/watchdog.h"
#include "mem/pool.h"

static _Thread_local struct tr_actor *tls_actor;

struct tr_actor *tr_actor_current(void) { return tls_actor; }

tr_ref tr_self(const tr_ctx *self) { return self->self; }

tr_system *tr_ctx_system(const tr_ctx *self) { return self->sys; }

const tr_behaviour *tr_ctx_behaviour(const tr_ctx *self) { return self->beh; }

pthread_mutex_t *tr_actor_stripe(tr_system *sys, struct tr_actor *a)
{
    if (a == NULL)
        return &sys->root_lock;
    return &sys->stripes[(a->self.id & 0xffffffffu) % TR_STRIPES].m;
}

bool tr_actor_ended(struct tr_actor *a)
{
    return a->watch_closed || tr_table_retired(&a->sys->table, a->self);
}

tr_actor_ext *tr_actor_ext_get(struct tr_actor *a)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext != NULL)
        return ext;
    pthread_mutex_t *m = tr_actor_stripe(a->sys, a);
    pthread_mutex_lock(m);
    ext = atomic_load_explicit(&a->ext, memory_order_relaxed);
    if (ext == NULL) {
        ext = tr_actor_ext_new();
        atomic_store_explicit(&a->ext, ext, memory_order_release);
    }
    pthread_mutex_unlock(m);
    return ext;
}

bool tr_actor_claim(struct tr_actor *a, bool unmute)
{
    uint8_t s = atomic_load_explicit(&a->sched, memory_order_seq_cst);
    while (s == TR_SCHED_IDLE || (unmute && s == TR_SCHED_MUTED)) {
        if (atomic_compare_exchange_weak_explicit(&a->sched, &s, TR_SCHED_SCHEDULED,
                                                  memory_order_seq_cst, memory_order_seq_cst))
            return true;
    }
    return false;
}

void tr_actor_wake(struct tr_actor *a, bool unmute)
{
    if (tr_actor_claim(a, unmute))
        tr_sched_submit(a->sys, a);
}

void tr_actor_signal(struct tr_actor *a, uint32_t bits)
{
    atomic_fetch_or_explicit(&a->signals, bits, memory_order_seq_cst);
    /* a child's exit must not un-mute its parent: a muted actor is not
     * stopping, so it has nobody waiting on that exit */
    tr_actor_wake(a, (bits & ~TR_SIG_CHILD) != 0);
}

/* ---- spawning ---- */

static int spawn_check_opts(tr_system *sys, const tr_behaviour *beh, tr_spawn_opts *o)
{
    if (beh == NULL || beh->handle == NULL)
        return TR_EINVAL;
    if (o->mailbox_capacity == 0)
        o->mailbox_capacity = sys->cfg.mailbox_capacity;
    if (o->mailbox_capacity > (1u << 30))
        return TR_EINVAL;
    if (o->low_watermark == 0)
        o->low_watermark = o->mailbox_capacity / 2;
    if (o->low_watermark >= o->mailbox_capacity && o->mailbox_capacity > 1)
        return TR_EINVAL;
    if ((unsigned)o->overflow > TR_OVERFLOW_DROP)
        return TR_EINVAL;
    if (o->drain_timeout_ms == 0)
        o->drain_timeout_ms = 5000;
    return TR_OK;
}

/* Actors with at most this much behaviour state come from the actor pool
 * (mem/pool.h): they are usually spawned on one thread and freed on
 * another, which costs glibc an arena lock per actor. 8 bytes makes the
 * pool object 168 bytes, a 176-byte malloc chunk: the same memory a
 * stateless actor took from malloc before. */
#define ACTOR_POOL_STATE 8u
#define ACTOR_POOL_SIZE (sizeof(struct tr_actor) + ACTOR_POOL_STATE)

tr_pool tr_actor_pool = TR_POOL_INIT(ACTOR_POOL_SIZE);

static bool actor_pooled(const tr_behaviour *beh) { return beh->state_size <= ACTOR_POOL_STATE; }

static void actor_free_mem(struct tr_actor *a)
{
    if (actor_pooled(a->beh))
        tr_pool_free(&tr_actor_pool, a);
    else
        free(a);
}

static struct tr_actor *actor_alloc(tr_system *sys, const tr_behaviour *beh, void *arg,
                                    const tr_spawn_opts *o, struct tr_actor *parent)
{
    struct tr_actor *a = actor_pooled(beh) ? tr_pool_alloc(&tr_actor_pool)
                                           : malloc(sizeof(*a) + beh->state_size);
    if (a == NULL)
        return NULL;
    memset(a, 0, sizeof(*a) + beh->state_size);
    tr_mailbox_init(&a->mtail, &a->mhead);
    atomic_init(&a->sched, TR_SCHED_SCHEDULED); /* queued by spawn itself */
    atomic_init(&a->signals, 0);
    atomic_init(&a->mute_count, 0);
    atomic_init(&a->pressure, 0);
    atomic_init(&a->lifecycle, TR_STATE_CREATED);
    atomic_init(&a->ext, NULL);
    atomic_init(&a->children.n, 0);
    a->overflow = (uint8_t)o->overflow;
    a->blocking = o->blocking;
    a->sys = sys;
    a->beh = beh;
    a->arg = arg;
    a->parent = parent;
    a->capacity = o->mailbox_capacity;
    a->low_watermark = o->low_watermark;
    a->drain_timeout_ms = o->drain_timeout_ms;
    a->handler_deadline_ms = o->handler_deadline_ms;
    return a;
}

/* Links `a` under its parent unless that is stopping. Top-level actors are
 * in no list (shutdown finds them by walking the table): for them this only
 * checks that the system is not closing, after the table insert, so that
 * either this check sees `closing` or the shutdown walk sees the actor.
 * A childless parent begins stopping without the lock (tr_lifecycle_begin):
 * it stores stop_mode, then reads its child count; we store the count, then
 * read stop_mode (all seq_cst), so either it sees the child or we see the
 * mode and back out. Backing out signals the parent, which may have seen
 * the child and be waiting for it to go. */
static int spawn_link(tr_system *sys, struct tr_actor *a)
{
    struct tr_actor *p = a->parent;
    if (p == NULL)
        return atomic_load_explicit(&sys->closing, memory_order_seq_cst) ? TR_ECLOSED : TR_OK;
    pthread_mutex_t *m = tr_actor_stripe(sys, p);
    int rc = TR_OK;
    bool backed_out = false;
    pthread_mutex_lock(m);
    if (tr_actor_stop_mode(p) != TR_STOP_NONE) {
        rc = TR_ESTOPPING;
    } else if ((rc = tr_children_add(p, a)) == TR_OK &&
               atomic_load_explicit(&p->stop_mode, memory_order_seq_cst) != TR_STOP_NONE) {
        tr_children_remove(p, a);
        rc = TR_ESTOPPING;
        backed_out = true;
    }
    pthread_mutex_unlock(m);
    if (backed_out)
        tr_actor_signal(p, TR_SIG_CHILD); /* held by tr_actor_spawn */
    return rc;
}

int tr_actor_spawn(tr_system *sys, const tr_behaviour *beh, void *arg, const tr_spawn_opts *opts,
                   struct tr_group *group, tr_ref *out)
{
    if (sys == NULL)
        return TR_EINVAL;
    tr_spawn_opts o = opts != NULL ? *opts : (tr_spawn_opts){0};
    int rc = spawn_check_opts(sys, beh, &o);
    if (rc != TR_OK)
        return rc;
    if (atomic_load_explicit(&sys->closing, memory_order_acquire))
        return TR_ECLOSED;
    struct tr_actor *parent = NULL;
    if (!tr_ref_is_none(o.parent) &&
        (rc = tr_table_acquire(&sys->table, o.parent, false, &parent)) != TR_OK)
        return rc;
    struct tr_actor *a = actor_alloc(sys, beh, arg, &o, parent);
    if (a == NULL) {
        rc = TR_ENOMEM;
        goto out;
    }
    if (o.name != NULL || group != NULL) {
        tr_actor_ext *ext = tr_actor_ext_new();
        char *name = o.name != NULL ? strdup(o.name) : NULL;
        if (ext == NULL || (o.name != NULL && name == NULL)) {
            free(ext);
            free(name);
            actor_free_mem(a);
            rc = TR_ENOMEM;
            goto out;
        }
        ext->name = name;
        ext->group.of = group;
        atomic_init(&a->ext, ext);
    }
    if ((rc = tr_table_insert(&sys->table, a, &a->self)) != TR_OK) {
        tr_actor_destroy(a);
        goto out;
    }
    tr_census_spawn(sys); /* before spawn_link's closing check: see wait_all_dead */
    if ((rc = spawn_link(sys, a)) != TR_OK) {
        atomic_store_explicit(&a->sched, TR_SCHED_DEAD, memory_order_relaxed);
        tr_census_unspawn(sys);
        tr_table_kill(&sys->table, a->self); /* nobody else knows the ref: destroyed here */
        goto out;
    }
    if (out != NULL)
        *out = a->self;
    tr_sched_submit(sys, a);
out:
    if (parent != NULL)
        tr_table_release(&sys->table, o.parent);
    return rc;
}

int tr_spawn(tr_system *sys, const tr_behaviour *beh, void *arg, const tr_spawn_opts *opts,
             tr_ref *out)
{
    return tr_actor_spawn(sys, beh, arg, opts, NULL, out);
}

/* ---- one turn ---- */

/* After a callback returned rc (init when msg is NULL, else handle(msg)): a
 * failure (reported, crash.c) or tr_stop_self starts stopping. */
static void after_callback(struct tr_actor *a, int rc, const tr_msg *msg)
{
    if (rc == TR_OK && a->fail_reason != TR_OK) {
        rc = a->fail_reason;
        a->fail_reason = TR_OK;
    }
    if (rc != TR_OK) {
        tr_crash_report(a, msg, rc);
        tr_lifecycle_begin(a, rc, TR_STOP_ABORT, false);
    } else if (a->flags & TR_AF_STOP_SELF) {
        a->flags &= (uint8_t)~TR_AF_STOP_SELF;
        tr_lifecycle_begin(a, TR_OK, TR_STOP_DRAIN, false);
    }
}

static void dispatch(struct tr_actor *a, tr_mnode *m)
{
    if (m->kind != TR_MNODE_USER) {
        tr_mnode_free(m);
        return;
    }
    if (tr_actor_stop_mode(a) >= TR_STOP_ABORT) {
        tr_dead_letter_record(a->sys, a->self, m->msg.sender, m->msg.type, TR_EDEAD);
        tr_ask_lost(a->sys, a->self, &m->msg, a->exit_reason);
        tr_mnode_free(m);
        return;
    }
    /* replies, failures and DOWNs (types 1..4) may complete an ask */
    if (m->msg.type <= TR_MSG_DOWN && (m = tr_ask_accept(a, m)) == NULL)
        return;
    if (m->msg.type >= TR_MSG_RUNTIME_FIRST) { /* inspect, ping (probe.c) */
        tr_runtime_answer(a, m);
        tr_mnode_free(m);
        return;
    }
    bool ask = m->msg.corr != 0 && m->msg.type >= TR_MSG_USER; /* tr_msg_is_ask, but a
                                                                 * sender is checked later */
    if (ask)
        tr_ask_handling(&m->msg);
    /* the per-message watchdog (watchdog.c), only for actors that asked */
    uint64_t watchdog = a->handler_deadline_ms != 0 ? tr_watchdog_arm(a) : 0;
    int rc = a->beh->handle(a, a->state, &m->msg);
    if (watchdog != 0 && tr_watchdog_disarm(a, watchdog))
        rc = TR_EDEADLINE; /* it overran: fail, so a supervisor restarts it fresh */
    if (ask)
        tr_ask_handled(a, &m->msg); /* owed when not replied to */
    after_callback(a, rc, &m->msg);
    tr_mnode_free(m);
}

/* Pressure hysteresis: set at capacity, cleared at the low watermark. */
static bool update_pressure(struct tr_actor *a, uint32_t count)
{
    /* stores only on a change: senders read this on every send */
    uint8_t p = atomic_load_explicit(&a->pressure, memory_order_relaxed);
    if (count >= a->capacity) {
        if (!p)
            atomic_store_explicit(&a->pressure, 1, memory_order_relaxed);
        return true;
    }
    if (count <= a->low_watermark) {
        if (p)
            atomic_store_explicit(&a->pressure, 0, memory_order_relaxed);
        return false;
    }
    return p != 0;
}

/* Ends a turn: the actor becomes MUTED, IDLE, or stays SCHEDULED and is
 * queued again. The new state is a release store (the next claimer's
 * acquire CAS makes this turn happen before the next one, on whatever
 * worker). One seq_cst fence, after it, serves
 * every handshake here (each is Dekker's: we store, then load what the other
 * side stores before loading ours):
 *   - the state against a sender's push, then claim (tr_actor_wake): after
 *     storing IDLE or MUTED we re-read the count;
 *   - our pops (`popped`, stored with release order by tr_mailbox_pop)
 *     against a sender that stores has_muted (mute_sender) or an outside
 *     thread that raises post_waiters (wait_for_room), then reads our count.
 * Once IDLE or MUTED is stored another worker may run the actor, so after
 * that only atomics, fixed fields and stripe-locked data are touched. */
static void end_turn(struct tr_actor *a)
{
    uint32_t count = tr_actor_queued(a); /* may be low: re-read after the fence */
    tr_metrics_mailbox_seen(a, count);
    bool pressured = update_pressure(a, count);
    bool stopping = tr_actor_stop_mode(a) != TR_STOP_NONE;
    atomic_store_explicit(&a->lifecycle, stopping ? TR_STATE_STOPPING : TR_STATE_WAITING,
                          memory_order_relaxed);
    bool mute = !stopping && !pressured &&
                atomic_load_explicit(&a->mute_count, memory_order_relaxed) > 0;
    bool idle = !mute && count == 0;
    /* release: whoever claims the actor next (tr_actor_claim) sees this
     * turn's writes; on x86 still a plain store */
    if (mute)
        atomic_store_explicit(&a->sched, TR_SCHED_MUTED, memory_order_release);
    else if (idle)
        atomic_store_explicit(&a->sched, TR_SCHED_IDLE, memory_order_release);
    tr_fence_seq_cst();
    tr_system *sys = a->sys;
    uint32_t capacity = a->capacity;
    count = tr_actor_queued(a);
    if (count <= a->low_watermark)
        tr_actor_release_muted(a);
    if (atomic_load_explicit(&sys->post_waiters, memory_order_seq_cst) > 0 && count < capacity)
        tr_system_broadcast(sys); /* outside threads blocked on a full mailbox */
    if (mute) {
        /* the last receiver may have drained, or we filled up, or someone
         * signalled us, between the test above and the store */
        if (atomic_load_explicit(&a->mute_count, memory_order_seq_cst) == 0 || count >= capacity ||
            atomic_load_explicit(&a->signals, memory_order_seq_cst) != 0)
            tr_actor_wake(a, true);
        return;
    }
    if (!idle) {
        tr_sched_requeue(sys, a); /* more work: back of the queue, still SCHEDULED */
        return;
    }
    if (count > 0 || atomic_load_explicit(&a->signals, memory_order_seq_cst) != 0)
        tr_actor_wake(a, false);
}

/* One turn; `pending` are signal bits handed over by a stopping parent
 * that claimed the actor (stop_claimed in lifecycle.c), taken with those
 * in `signals`.
 *
 * The worker holds the actor across end_turn: once that publishes IDLE,
 * another worker may run the actor to its end, and without the hold its
 * memory could go while end_turn still re-checks the mailbox. Until then
 * the actor is ours (SCHEDULED) and only its own turn can end it, so the
 * hold is taken late, if the previous turn's sends did not leave one to
 * adopt (send.c); an ending turn passes whether it holds one to
 * tr_lifecycle_try_finish, which consumes it. */
static void actor_turn(struct tr_actor *a, uint32_t batch, uint64_t *handled, uint32_t pending)
{
    uint64_t n = 0;
    tr_table *table = &a->sys->table;
    tr_ref self = a->self;
    bool held = tr_deliver_adopt_hold(table, self);
    /* the mailbox's high-water mark: between turns it only grows, so it
     * peaks as a turn begins (the first pop reads this line anyway) */
    tr_metrics_mailbox_seen(a, tr_actor_queued(a));
    tls_actor = a;
    bool stopping = tr_actor_stop_mode(a) != TR_STOP_NONE;
    atomic_store_explicit(&a->lifecycle, stopping ? TR_STATE_STOPPING : TR_STATE_RUNNING,
                          memory_order_relaxed);
    if (!(a->flags & TR_AF_INITIALIZED)) {
        a->flags |= TR_AF_INITIALIZED;
        int rc = a->beh->init != NULL ? a->beh->init(a, a->state, a->arg) : TR_OK;
        after_callback(a, rc, NULL);
    }
    for (;;) {
        if ((pending | atomic_load_explicit(&a->signals, memory_order_relaxed)) != 0) {
            tr_lifecycle_take_signals(a, pending);
            pending = 0;
        }
        if (tr_actor_stop_mode(a) != TR_STOP_NONE &&
            tr_lifecycle_try_finish(a, held)) {
            tls_actor = NULL;
            *handled = n;
            return; /* dead, and maybe freed */
        }
        if (n >= batch)
            break;
        tr_mnode *m = tr_mailbox_pop(&a->mtail, &a->mhead);
        if (m == NULL)
            break;
        n++;
        dispatch(a, m);
        if (atomic_load_explicit(&a->mute_count, memory_order_relaxed) > 0 &&
            tr_actor_stop_mode(a) == TR_STOP_NONE)
            break; /* muted by backpressure: no further message until released */
    }
    tls_actor = NULL;
    *handled = n;
    if (!held)
        tr_table_hold(table, self);
    end_turn(a);
    /* the hold on the last receiver stays, and this turn's own hold is kept
     * rather than released: in a pair on one worker, the next turn adopts
     * the one and sends to us use the other (send.c) */
    tr_deliver_keep_hold(table, self, a);
}

void tr_actor_run(struct tr_actor *a, uint32_t batch, uint64_t *handled)
{
    actor_turn(a, batch, handled, 0);
}

/* ---- queries ---- */

tr_actor_state tr_actor_state_of(tr_system *sys, tr_ref ref)
{
    struct tr_actor *a;
    if (sys == NULL || tr_table_acquire(&sys->table, ref, false, &a) != TR_OK)
        return TR_STATE_DEAD;
    tr_actor_state s = (tr_actor_state)atomic_load_explicit(&a->lifecycle, memory_order_relaxed);
    tr_table_release(&sys->table, ref);
    return s;
}

int tr_actor_name(tr_system *sys, tr_ref ref, char *buf, size_t len)
{
    if (sys == NULL || buf == NULL || len == 0)
        return TR_EINVAL;
    struct tr_actor *a;
    int rc = tr_table_acquire(&sys->table, ref, false, &a);
    if (rc != TR_OK)
        return rc;
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    const char *name = ext != NULL && ext->name != NULL ? ext->name : "";
    size_t n = strlen(name);
    if (n >= len)
        n = len - 1;
    memcpy(buf, name, n);
    buf[n] = '\0';
    tr_table_release(&sys->table, ref);
    return TR_OK;
}

/* Nesting of tr_actor_run_inline on this thread: each level is a few
 * frames of stack, so a deep tree falls back to the run queues. */
#define INLINE_DEPTH_MAX 8
static _Thread_local unsigned tls_inline_depth;

bool tr_actor_run_inline(struct tr_actor *a, uint32_t signals)
{
    tr_worker *w = tr_sched_current_worker();
    /* a blocking actor's callbacks (terminate included) run on its pool */
    if (w == NULL || w->sys != a->sys || tls_inline_depth >= INLINE_DEPTH_MAX || a->blocking)
        return false;
    /* From a plain turn, a child with children of its own is queued: its
     * subtree is a unit of work another worker can steal. Below that, and
     * for leaves, the stop stays on this core. (A hint: read unlocked.) */
    if (tls_inline_depth == 0 && tr_children_count(&a->children, memory_order_relaxed) != 0)
        return false;
    struct tr_actor *outer = tls_actor;
    tls_inline_depth++;
    uint64_t handled;
    actor_turn(a, 0, &handled, signals);
    tls_inline_depth--;
    tls_actor = outer;
    return true;
}

/* ---- freeing ---- */

static void drain_to_dead_letters(struct tr_actor *a, int reason)
{
    /* an ask fails with why the actor ended, when it says more */
    int why = a->exit_reason != TR_OK ? a->exit_reason : reason;
    tr_mnode *m;
    while ((m = tr_mailbox_pop(&a->mtail, &a->mhead)) != NULL) {
        if (m->kind == TR_MNODE_USER) {
            tr_dead_letter_record(a->sys, a->self, m->msg.sender, m->msg.type, reason);
            tr_ask_lost(a->sys, a->self, &m->msg, why);
        }
        tr_mnode_free(m);
    }
}

void tr_actor_drop_mailbox(struct tr_actor *a, int reason) { drain_to_dead_letters(a, reason); }

void tr_actor_name_fini(void *part)
{
    char **name = part;
    free(*name);
}

void tr_actor_destroy(struct tr_actor *a)
{
    drain_to_dead_letters(a, TR_EDEAD); /* sends that raced with the end */
    tr_children_free(&a->children);
    tr_actor_ext_free(atomic_load_explicit(&a->ext, memory_order_relaxed));
    actor_free_mem(a);
}

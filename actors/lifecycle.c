/* Stopping, finishing and the end-of-life notifications; see lifecycle.h. */
#include "actors/lifecycle.h"

#include <stddef.h>
#include <stdlib.h>

#include "actors/ask.h"
#include "actors/census.h"
#include "actors/exit_cache.h"
#include "actors/ext.h"
#include "actors/group_impl.h"
#include "actors/sched.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/table.h"
#include "actors/timers.h"
#include "actors/link_impl.h"
#include "actors/monitor_impl.h"

/* The actor whose tr_lifecycle_begin runs its children inline on this
 * thread, innermost (see unlink_from_parent). */
static _Thread_local struct tr_actor *tls_looper;

static void arm_deadline(struct tr_actor *a)
{
    tr_actor_ext *ext = tr_actor_ext_get(a);
    if (ext == NULL)
        return; /* no memory for the deadline: the stop stays graceful */
    tr_timer_spec spec = {.action = TR_TIMER_KILL, .target = a->self, .delay_ms = a->drain_timeout_ms};
    if (tr_timers_add(a->sys, &spec, &ext->timers.deadline) != TR_OK)
        ext->timers.deadline = 0;
}

/* Puts claimed child `c` back among a's children (a's stripe lock held).
 * Cannot fail: `c` was among them when claim_children took it out, and
 * the array never shrinks. */
static void relink_locked(struct tr_actor *a, struct tr_actor *c)
{
    (void)tr_children_add(a, c); /* TR_OK: room was left by the claim */
}

/* How far ahead of its claims claim_children prefetches: each child's lines
 * are cold, and a claim (a locked instruction) holds up later loads. */
#define CLAIM_AHEAD 8

/* a's stripe lock held, a stopping: claims the idle children and signals
 * the others with `bits`. A claimed child cannot run, end or be freed until
 * we let it, so it needs no signal: stop_claimed hands it `bits` directly.
 * A child we fail to claim is signalled and then tried once more, in case
 * it went idle before it could see the signal. A claimed child leaves the
 * children array here (detached), and the chain returned reuses its
 * injection link, unused while the child is ours. A detached child that
 * ends nested in our turn (stop_claimed) so takes no lock to unlink itself;
 * one that does not end there goes back in the array before anyone else can
 * run it (stop_claimed, tr_lifecycle_try_finish). The array is only ours to
 * rebuild because `a` is stopping: no child is added, and those left in it
 * remove themselves under this lock. */
static tr_mlink *claim_children(struct tr_actor *a, uint32_t bits)
{
    tr_children *cs = &a->children;
    uint32_t n = tr_children_count(cs, memory_order_relaxed), kept = 0;
    for (uint32_t i = 0; i < n && i < CLAIM_AHEAD; i++)
        tr_actor_prefetch(cs->at[i]);
    tr_mlink *claimed = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (i + CLAIM_AHEAD < n)
            tr_actor_prefetch(cs->at[i + CLAIM_AHEAD]);
        struct tr_actor *k = cs->at[i];
        bool mine = tr_actor_claim(k, true);
        if (!mine) {
            atomic_fetch_or_explicit(&k->signals, bits, memory_order_seq_cst);
            mine = tr_actor_claim(k, true);
        }
        if (mine) {
            atomic_store_explicit(&k->inject_link.next, claimed, memory_order_relaxed);
            claimed = &k->inject_link;
            continue;
        }
        cs->at[kept] = k; /* busy: stays */
        k->child_index = kept++;
    }
    atomic_store_explicit(&cs->n, kept, memory_order_release);
    return claimed;
}

/* Runs the claimed (detached) children's stops nested in a's turn, on this
 * worker: a subtree of idle actors ends on one core, with no run-queue trip,
 * no wake-up and no lock per actor, and no cache lines bouncing between the
 * workers. The claim happened under the lock, the stops after it, so our
 * other children, ending on other workers meanwhile, do not wait on it. A
 * child that cannot end yet (queued messages to drain, busy children) is
 * queued as usual; one that tr_actor_run_inline declines goes back among
 * the children first (one lock for them all), while we still own it, with
 * `bits` among its signals. */
static void stop_claimed(struct tr_actor *a, tr_mlink *claimed, uint32_t bits)
{
    struct tr_actor *outer = tls_looper;
    tr_mlink *declined = NULL;
    while (claimed != NULL) {
        struct tr_actor *c = tr_actor_of_link(claimed);
        claimed = atomic_load_explicit(&claimed->next, memory_order_relaxed);
        if (claimed != NULL)
            tr_actor_prefetch(tr_actor_of_link(claimed));
        tls_looper = a; /* (again: a child that went back among the children cleared it) */
        if (!tr_actor_run_inline(c, bits)) {
            atomic_fetch_or_explicit(&c->signals, bits, memory_order_seq_cst);
            atomic_store_explicit(&c->inject_link.next, declined, memory_order_relaxed);
            declined = &c->inject_link;
        }
    }
    tls_looper = outer;
    if (declined != NULL) {
        pthread_mutex_t *m = tr_actor_stripe(a->sys, a);
        pthread_mutex_lock(m);
        for (tr_mlink *l = declined; l != NULL; l = atomic_load_explicit(&l->next, memory_order_relaxed))
            relink_locked(a, tr_actor_of_link(l));
        pthread_mutex_unlock(m);
        while (declined != NULL) {
            struct tr_actor *c = tr_actor_of_link(declined);
            declined = atomic_load_explicit(&declined->next, memory_order_relaxed);
            tr_sched_submit(a->sys, c); /* may reuse the link */
        }
    }
}

/* Clears a's OPEN bit if its stop has not yet (TR_AF_CLOSE_PENDING). */
static void close_now(struct tr_actor *a)
{
    if (a->flags & TR_AF_CLOSE_PENDING) {
        a->flags &= (uint8_t)~TR_AF_CLOSE_PENDING;
        tr_table_close(&a->sys->table, a->self);
    }
}

/* Publishes a's stop mode and claims its children. spawn_link must see the
 * mode or have its child seen: a childless actor stores the mode and then
 * re-reads its child count, without the lock (see spawn_link for the other
 * half); one with children claims them under the lock. A graceful stop
 * clears the OPEN bit later (TR_AF_CLOSE_PENDING), in
 * tr_lifecycle_try_finish, which the caller's turn runs next: an actor that
 * ends there retires its slot with one table operation (a message accepted
 * meanwhile becomes a dead letter, as one that raced with the close
 * would). An abort or kill clears it at once. */
void tr_lifecycle_begin(struct tr_actor *a, int reason, int mode, bool from_parent)
{
    uint8_t old = tr_actor_stop_mode(a);
    if (mode <= old)
        return;
    bool first = old == TR_STOP_NONE;
    if (first || (reason != TR_OK && (a->exit_reason == TR_OK || a->exit_reason == TR_ESHUTDOWN)))
        a->exit_reason = reason;

    bool self_managed = mode == TR_STOP_DRAIN && a->beh->stopping != NULL;
    atomic_store_explicit(&a->stop_mode, (uint8_t)mode, memory_order_seq_cst);
    bool has_children = tr_children_count(&a->children, memory_order_seq_cst) != 0;
    if (has_children && !self_managed) {
        uint32_t bits = (mode == TR_STOP_KILL ? TR_SIG_KILL : TR_SIG_STOP) | TR_SIG_FROM_PARENT;
        pthread_mutex_t *m = tr_actor_stripe(a->sys, a);
        pthread_mutex_lock(m);
        /* the count is re-read under the lock: a spawn_link that saw our
         * mode has backed out */
        tr_mlink *claimed = claim_children(a, bits);
        pthread_mutex_unlock(m);
        if (claimed != NULL)
            stop_claimed(a, claimed, bits);
    }
    if (self_managed)
        a->beh->stopping(a, a->state); /* the actor stops its children itself */

    if (first) {
        a->flags |= TR_AF_CLOSE_PENDING;
        atomic_store_explicit(&a->lifecycle, TR_STATE_STOPPING, memory_order_relaxed);
    }
    if (mode >= TR_STOP_ABORT) {
        /* a failed or killed actor refuses new messages at once: they would
         * only be dropped with the queued ones */
        close_now(a);
        tr_actor_drop_mailbox(a, mode == TR_STOP_KILL ? TR_EKILLED : TR_EDEAD);
    }
    if (first && !from_parent && mode != TR_STOP_KILL &&
        (has_children || tr_actor_queued(a) > 0))
        arm_deadline(a);
}

void tr_lifecycle_take_signals(struct tr_actor *a, uint32_t pending)
{
    uint32_t s = pending;
    if (atomic_load_explicit(&a->signals, memory_order_relaxed) != 0)
        s |= atomic_exchange_explicit(&a->signals, 0, memory_order_seq_cst);
    if (s & TR_SIG_KILL)
        tr_lifecycle_begin(a, TR_EKILLED, TR_STOP_KILL, true);
    else if (s & TR_SIG_STOP)
        tr_lifecycle_begin(a, TR_ESHUTDOWN, TR_STOP_DRAIN, (s & TR_SIG_FROM_PARENT) != 0);
    /* a cancelled token (supervisor/token.c): a graceful stop with its own reason */
    if (s & TR_SIG_CANCEL)
        tr_lifecycle_begin(a, TR_ECANCELLED, TR_STOP_DRAIN, false);
    /* exit signals from links (actors/link.c): trap them or fail */
    if (s & TR_SIG_EXIT)
        tr_link_take_exits(a);
}

/* Only for a stopping actor, on its own worker: spawn_link adds no child
 * once stop_mode is set (one that linked as the mode was stored backs out
 * and signals TR_SIG_CHILD, see spawn_link), and the children
 * claim_children detaches are back among the children or ended before its
 * turn looks (stop_claimed), so for this test a count of zero is final.
 * The acquire pairs with the last child's removal, made after it queued
 * its DOWN and exit signals. */
static bool has_children(struct tr_actor *a)
{
    return tr_children_count(&a->children, memory_order_acquire) != 0;
}

/* Whether `a` runs nested in its parent's stop_claimed on this thread: it
 * was detached from the parent's children by claim_children (a child runs on
 * this thread during that loop only through it). */
static bool detached(struct tr_actor *a) { return a->parent != NULL && a->parent == tls_looper; }

/* Removes `a` from its parent's children and wakes the parent. Top-level
 * actors are among no one's children (see spawn_link in actor.c). A child
 * stopped nested in its parent's turn (detached) is not among them either,
 * and does not signal the parent: that turn checks its children right after
 * stop_claimed (every caller of tr_lifecycle_begin runs in tr_actor_run's
 * loop, which calls tr_lifecycle_try_finish next). */
static void unlink_from_parent(struct tr_actor *a)
{
    tr_system *sys = a->sys;
    struct tr_actor *p = a->parent;
    if (p == NULL || detached(a))
        return;
    pthread_mutex_t *m = tr_actor_stripe(sys, p);
    pthread_mutex_lock(m);
    /* p cannot end while we are linked, but it can as soon as we are not,
     * and be freed while tr_actor_signal still reads it: hold it across */
    tr_ref parent = p->self;
    tr_table_hold(&sys->table, parent);
    tr_children_remove(p, a);
    tr_actor_signal(p, TR_SIG_CHILD);
    pthread_mutex_unlock(m);
    tr_table_release(&sys->table, parent); /* this may free p */
}

/* Tells outside threads blocked in tr_await_exit or shutdown. Only an end
 * that someone can be waiting for takes the lock: an awaited ref (its bit in
 * exit_waiter_mask, set before the awaiter looks at the table), the last
 * live actor (shutdown), or any end while a tr_post waits for room (its
 * target may be the one ending). Every load is seq_cst, after the slot was
 * retired and the census decremented, so a waiter that registered too late for
 * us to see it sees the end itself. */
static void notify_waiters(tr_system *sys, tr_ref self, int reason)
{
    if (atomic_load_explicit(&sys->event_waiters, memory_order_seq_cst) == 0)
        return;
    /* the census sum reads every shard: only while shutdown waits for it,
     * not for every end while some thread awaits one actor */
    bool last = atomic_load_explicit(&sys->dead_waiters, memory_order_seq_cst) > 0 &&
                tr_census_alive(sys) == 0;
    if (!last && atomic_load_explicit(&sys->post_waiters, memory_order_seq_cst) == 0 &&
        !(atomic_load_explicit(&sys->exit_waiter_mask, memory_order_seq_cst) &
          tr_exit_waiter_bit(self)))
        return;
    pthread_mutex_lock(&sys->event_lock);
    bool wake = last || atomic_load_explicit(&sys->post_waiters, memory_order_seq_cst) > 0;
    for (tr_exit_waiter *w = sys->exit_waiters; w != NULL; w = w->next) {
        if (tr_ref_equal(w->ref, self)) {
            w->done = true;
            w->reason = reason;
            wake = true;
        }
    }
    /* a mask bit shared with another ref is no reason to wake anyone */
    if (wake)
        pthread_cond_broadcast(&sys->event_cv);
    pthread_mutex_unlock(&sys->event_lock);
}

static void cancel_owned_timers(struct tr_actor *a)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext == NULL)
        return;
    for (uint32_t i = 0; i < ext->timers.ids.len; i++)
        tr_timers_cancel(a->sys, ext->timers.ids.at[i]);
    ext->timers.ids.len = 0;
    if (ext->timers.deadline != 0)
        tr_timers_cancel(a->sys, ext->timers.deadline);
    ext->timers.deadline = 0;
}

/* Ends `a`; `held`: the turn holds it in the table, a hold this consumes.
 *
 * The slot is retired first (one seq_cst operation, which also drops our
 * hold), then we look for an extension. tr_monitor and tr_link create the
 * extension first and then (after a tr_actor_ext_publish) test whether the
 * slot is retired (tr_actor_ended): either they see it and fire at once, or
 * we see the extension and take their monitors and links under the lock. A
 * plain actor that never had an extension ends without taking its lock.
 * Nobody can take a new hold on a retired slot, so when nobody else holds
 * `a` it is ours to free after the last step; otherwise we keep one hold
 * to the end and the last holder frees it. Everyone we tell sees the
 * reference dead, since the slot is retired before anyone is told. */
static void finish(struct tr_actor *a, bool held)
{
    tr_system *sys = a->sys;
    tr_table *table = &sys->table;
    tr_ref self = a->self;
    int reason = a->exit_reason;
    a->flags |= TR_AF_TERMINATED;
    if (a->beh->terminate != NULL)
        a->beh->terminate(a, a->state, reason);
    tr_ask_cancel_all(a);
    cancel_owned_timers(a);
    tr_exit_cache_put(&sys->exits, self, reason);
    atomic_store_explicit(&a->lifecycle, TR_STATE_DEAD, memory_order_relaxed);
    atomic_store_explicit(&a->sched, TR_SCHED_DEAD, memory_order_release);
    tr_actor_release_muted(a);
    tr_actor_drop_mailbox(a, TR_EDEAD);
    tr_deliver_forget(table, self); /* holds this thread kept on us for earlier turns */
    a->flags &= (uint8_t)~TR_AF_CLOSE_PENDING; /* the retire clears OPEN too */
    bool ours = tr_table_retire(table, self, held);
    tr_watch_list down = {0};
    tr_link_list links = {0};
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_seq_cst);
    if (ext != NULL) {
        pthread_mutex_t *m = tr_actor_stripe(sys, a);
        pthread_mutex_lock(m);
        down = tr_monitor_close_locked(a);
        links = tr_link_close_locked(a); /* after the close: new links signal at once */
        pthread_mutex_unlock(m);
    }
    tr_census_end(sys, tr_end_kind_of(reason));
    notify_waiters(sys, self, reason);
    if (ext != NULL) {
        /* exit signals are queued before any DOWN: a watcher that gets our
         * DOWN knows every linked partner already has its signal */
        tr_link_fire(sys, self, reason, &links);
        tr_monitor_fire(sys, self, reason, &down);
        tr_ask_fail_owed(a, reason); /* after the DOWNs: a supervisor hears first */
        tr_group_ext *g = &ext->group;
        if (g->of != NULL)
            tr_group_member_done(g->of, self, reason, g->result, g->result_ptr, g->result_free);
        else if (g->result_ptr != NULL && g->result_free != NULL)
            g->result_free(g->result_ptr);
    }
    /* last: the parent may end as soon as we leave its children, and must find
     * our DOWN (if it watches us) already in its mailbox */
    unlink_from_parent(a);
    if (ours)
        tr_table_reclaim(table, self); /* frees `a` */
    else
        tr_table_release(table, self); /* the last holder frees `a` */
}

/* A detached child that cannot end in this nested turn goes back among its
 * parent's children before the turn ends and others may run it. */
static void relink_if_detached(struct tr_actor *a)
{
    if (detached(a)) {
        pthread_mutex_t *m = tr_actor_stripe(a->sys, a->parent);
        pthread_mutex_lock(m);
        relink_locked(a->parent, a);
        pthread_mutex_unlock(m);
        /* relinked: the rest of this turn must not take it for detached */
        tls_looper = NULL;
    }
}

bool tr_lifecycle_try_finish(struct tr_actor *a, bool held)
{
    if ((tr_actor_stop_mode(a) == TR_STOP_DRAIN && tr_actor_queued(a) > 0) || has_children(a)) {
        close_now(a);
        relink_if_detached(a);
        return false;
    }
    finish(a, held);
    return true;
}

static void signal_if_top_level(struct tr_actor *a, void *bits)
{
    if (a->parent == NULL)
        tr_actor_signal(a, *(uint32_t *)bits);
}

void tr_lifecycle_signal_top_level(tr_system *sys, uint32_t bits)
{
    tr_table_foreach_live(&sys->table, signal_if_top_level, &bits);
}

/* ---- public stop API ---- */

static int signal_ref(tr_system *sys, tr_ref ref, uint32_t bits)
{
    struct tr_actor *a;
    if (sys == NULL)
        return TR_EINVAL;
    int rc = tr_table_acquire(&sys->table, ref, false, &a);
    if (rc != TR_OK)
        return rc;
    tr_actor_signal(a, bits);
    tr_table_release(&sys->table, ref);
    return TR_OK;
}

int tr_stop(tr_system *sys, tr_ref ref) { return signal_ref(sys, ref, TR_SIG_STOP); }

int tr_kill(tr_system *sys, tr_ref ref) { return signal_ref(sys, ref, TR_SIG_KILL); }

int tr_lifecycle_cancel(tr_system *sys, tr_ref ref) { return signal_ref(sys, ref, TR_SIG_CANCEL); }

void tr_fail(tr_ctx *self, int reason)
{
    if (self != NULL && reason != TR_OK && self->fail_reason == TR_OK)
        self->fail_reason = reason;
}

void tr_stop_self(tr_ctx *self)
{
    if (self != NULL)
        self->flags |= TR_AF_STOP_SELF;
}

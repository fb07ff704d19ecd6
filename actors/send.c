/* Sending: resolve the reference, apply the receiver's overflow policy, push,
 * wake. Backpressure mutes the sending actor (Pony's rule, made
 * deadlock-free by hysteresis):
 *
 *   A sender is muted only if it is not itself under pressure. An actor is
 *   under pressure from the moment its mailbox reaches capacity until it has
 *   drained to its low watermark; while under pressure it is never muted.
 *
 * A sender is muted on a receiver only when that receiver is at capacity,
 * i.e. under pressure, so the receiver keeps running until it drains to its
 * low watermark, and that drain releases the sender. Every wait therefore
 * points at an actor that is running, and floods in a cycle (A<->B, rings)
 * keep moving: each member is under pressure and keeps sending. */
#include <stdlib.h>
#include <string.h>

#include "actors/actor_impl.h"
#include "actors/ask.h"
#include "actors/dead_letters.h"
#include "actors/exit_cache.h"
#include "actors/ext.h"
#include "actors/remote.h"
#include "actors/sched.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/table.h"

void tr_muted_senders_fini(void *part)
{
    tr_muted_senders *muted = part;
    tr_muteset_free(&muted->set);
}

/* Whether `sender` may be muted at all: never an actor under pressure (that
 * is what avoids deadlock) nor one that is stopping. */
static bool may_mute(struct tr_actor *sender)
{
    return tr_actor_stop_mode(sender) == TR_STOP_NONE &&
           !atomic_load_explicit(&sender->pressure, memory_order_relaxed) &&
           tr_actor_queued(sender) < sender->capacity;
}

bool tr_actor_mute(struct tr_actor *sender)
{
    if (!may_mute(sender))
        return false;
    atomic_fetch_add_explicit(&sender->mute_count, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&sender->sys->mutes, 1, memory_order_relaxed);
    return true;
}

void tr_actor_unmute(tr_system *sys, tr_ref ref)
{
    struct tr_actor *s;
    if (tr_table_acquire(&sys->table, ref, false, &s) != TR_OK)
        return;
    if (atomic_fetch_sub_explicit(&s->mute_count, 1, memory_order_seq_cst) == 1)
        tr_actor_wake(s, true);
    tr_table_release(&sys->table, ref);
}

/* The receiver the running actor of this thread was last muted on: a turn
 * that floods a full receiver records the mute once, not once per send. */
static _Thread_local struct {
    struct tr_actor *sender;
    tr_ref to;
} tls_muted_on;

/* Records that `sender` waits for `r` to drain; it mutes after this turn. */
static void mute_sender(struct tr_actor *sender, struct tr_actor *r)
{
    if (sender == r || !may_mute(sender))
        return;
    /* still muted on r from an earlier send of this turn (a released mute
     * drops mute_count to 0, and a muted actor runs no turn) */
    if (tls_muted_on.sender == sender && tr_ref_equal(tls_muted_on.to, r->self) &&
        atomic_load_explicit(&sender->mute_count, memory_order_relaxed) > 0)
        return;
    tr_actor_ext *ext = tr_actor_ext_get(r);
    if (ext == NULL)
        return; /* out of memory: the message is kept, only the mute is skipped */
    atomic_fetch_add_explicit(&sender->mute_count, 1, memory_order_seq_cst);
    bool added = false;
    pthread_mutex_t *m = tr_actor_stripe(r->sys, r);
    pthread_mutex_lock(m);
    if (tr_muteset_add(&ext->muted.set, sender->self) == TR_OK) {
        atomic_store_explicit(&ext->muted.any, 1, memory_order_seq_cst);
        added = true;
    }
    pthread_mutex_unlock(m);
    if (!added) {
        atomic_fetch_sub_explicit(&sender->mute_count, 1, memory_order_seq_cst);
        return;
    }
    tls_muted_on.sender = sender;
    tls_muted_on.to = r->self;
    atomic_fetch_add_explicit(&r->sys->mutes, 1, memory_order_relaxed);
    /* the receiver may have drained before it could see us in its list */
    if (tr_actor_queued(r) <= r->low_watermark)
        tr_actor_release_muted(r);
}

void tr_actor_release_muted(struct tr_actor *a)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext == NULL || !atomic_load_explicit(&ext->muted.any, memory_order_seq_cst))
        return;
    pthread_mutex_t *m = tr_actor_stripe(a->sys, a);
    pthread_mutex_lock(m);
    tr_muteset taken = tr_muteset_take(&ext->muted.set);
    atomic_store_explicit(&ext->muted.any, 0, memory_order_seq_cst);
    pthread_mutex_unlock(m);
    tr_muteset_release(a->sys, &taken);
}

typedef struct room_wait {
    tr_system *sys;
    tr_ref to;
} room_wait;

/* Whether `to` has room (tr_wait_for_room's test): TR_OK, TR_EFULL, or why
 * waiting is over (it died, the system is closing). */
static int mailbox_has_room(void *arg)
{
    room_wait *w = arg;
    struct tr_actor *r;
    int rc = tr_table_acquire(&w->sys->table, w->to, true, &r);
    if (rc != TR_OK)
        return rc;
    bool room = tr_actor_queued(r) < r->capacity;
    tr_table_release(&w->sys->table, w->to);
    if (room)
        return TR_OK;
    return atomic_load_explicit(&w->sys->closing, memory_order_acquire) ? TR_ECLOSED : TR_EFULL;
}

/* Waits (outside thread) until `to` has room, dies, or the deadline passes. */
static int wait_for_room(tr_system *sys, tr_ref to, int timeout_ms)
{
    room_wait w = {.sys = sys, .to = to};
    pthread_mutex_lock(&sys->event_lock);
    atomic_fetch_add_explicit(&sys->event_waiters, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&sys->post_waiters, 1, memory_order_seq_cst);
    int rc = tr_wait_for_room(&sys->event_cv, &sys->event_lock, timeout_ms, mailbox_has_room, &w);
    atomic_fetch_sub_explicit(&sys->post_waiters, 1, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&sys->event_waiters, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->event_lock);
    return rc;
}

/* Holds this worker thread keeps between uses, so that the traffic of a
 * pair of actors on one worker, or a turn that sends to many actors, costs
 * no read-modify-write on their table slots per send (each slot is on a
 * cache line other workers' holds write too):
 *   held: the receivers of a running actor's sends, a small direct-mapped
 *         set (by slot index). A burst to a receiver, or a fan-out over up
 *         to HELD_SETS receivers, costs one acquire per receiver; while
 *         held, a plain load re-checks that it is still LIVE and OPEN. An
 *         entry is replaced when another receiver maps to it, and kept
 *         across turns, so actors on one worker that talk to a group of
 *         others (a mall and its customers, a ring) acquire each receiver
 *         once, not once per turn. All are dropped when the worker parks.
 *   kept: the hold of the last turn that ended on this thread (see
 *         tr_deliver_keep_hold), dropped when the next turn ends.
 * A turn of an actor found in either adopts that hold as its own; a send to
 * an actor found in `kept` moves it to `held`. So a ping-pong pair on one
 * worker never touches its slots, and a ring hop costs one acquire and one
 * release instead of two each. A worker drops both before it parks. */
typedef struct held_ref {
    tr_table *table; /* NULL: nothing held */
    tr_ref ref;
    struct tr_actor *actor;
} held_ref;

#define HELD_SETS 256u
#define HELD_WORDS (HELD_SETS / 64u)

static _Thread_local held_ref tls_held[HELD_SETS], tls_kept;
static _Thread_local uint64_t tls_held_mask[HELD_WORDS]; /* bit i: tls_held[i] is in use */

static void held_mark(unsigned i) { tls_held_mask[i / 64] |= 1ull << (i % 64); }
static void held_unmark(unsigned i) { tls_held_mask[i / 64] &= ~(1ull << (i % 64)); }

static void held_drop(held_ref *h)
{
    if (h->table != NULL) {
        tr_table *t = h->table;
        h->table = NULL;
        tr_table_release(t, h->ref);
    }
}

static bool held_is(const held_ref *h, tr_table *t, tr_ref ref)
{
    return h->table == t && tr_ref_equal(h->ref, ref);
}

static unsigned held_set(tr_ref ref) { return (unsigned)(ref.id % HELD_SETS); }

static void held_drop_all(void)
{
    for (unsigned w = 0; w < HELD_WORDS; w++) {
        uint64_t m = tls_held_mask[w];
        tls_held_mask[w] = 0;
        while (m != 0) {
            unsigned i = (unsigned)__builtin_ctzll(m);
            m &= m - 1;
            held_drop(&tls_held[w * 64 + i]);
        }
    }
}

bool tr_deliver_adopt_hold(tr_table *t, tr_ref self)
{
    unsigned i = held_set(self);
    if (held_is(&tls_held[i], t, self)) {
        tls_held[i].table = NULL; /* the turn owns this hold now */
        held_unmark(i);
        return true;
    }
    if (held_is(&tls_kept, t, self)) {
        tls_kept.table = NULL;
        return true;
    }
    return false;
}

void tr_deliver_forget(tr_table *t, tr_ref self)
{
    unsigned i = held_set(self);
    if (held_is(&tls_held[i], t, self)) {
        held_unmark(i);
        held_drop(&tls_held[i]);
    }
    if (held_is(&tls_kept, t, self))
        held_drop(&tls_kept);
}

void tr_deliver_keep_hold(tr_table *t, tr_ref self, struct tr_actor *a)
{
    held_drop(&tls_kept);
    tls_kept = (held_ref){.table = t, .ref = self, .actor = a};
}

void tr_deliver_turn_end(void)
{
    held_drop_all();
    held_drop(&tls_kept);
}

/* tr_table_acquire, through a hold this thread keeps when there is one on
 * `to`. The hold stays (tr_table_release is not to be called) when *kept
 * is set. */
static int deliver_acquire(tr_system *sys, struct tr_actor *sender, tr_ref to, bool need_open,
                           struct tr_actor **r, bool *kept)
{
    *kept = false;
    tr_table *t = &sys->table;
    if (sender == NULL || sender != tr_actor_current())
        return tr_table_acquire(t, to, need_open, r);
    unsigned i = held_set(to);
    held_ref *h = &tls_held[i];
    if (held_is(h, t, to) || held_is(&tls_kept, t, to)) {
        int rc = tr_table_check(t, to, need_open);
        if (rc != TR_OK)
            return rc;
        if (!held_is(h, t, to)) { /* from kept to held */
            held_drop(h);
            *h = tls_kept;
            tls_kept.table = NULL;
            held_mark(i);
        }
        *r = h->actor;
        *kept = true;
        return TR_OK;
    }
    int rc = tr_table_acquire(t, to, need_open, r);
    if (rc != TR_OK)
        return rc;
    held_drop(h); /* one receiver per set */
    *h = (held_ref){.table = t, .ref = to, .actor = *r};
    held_mark(i);
    *kept = true;
    return TR_OK;
}

/* Why a message to `to` could not be delivered (rc): its exit reason when
 * it is dead and that is still remembered. */
static int lost_reason(tr_system *sys, tr_ref to, int rc)
{
    int reason = rc;
    if (rc == TR_EDEAD)
        tr_exit_cache_get(&sys->exits, to, &reason);
    return reason;
}

int tr_deliver(tr_system *sys, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
               int timeout_ms)
{
    if (tr_ref_is_remote(to))
        return tr_remote_deliver(sys, sender, to, n, forced, timeout_ms);
    for (;;) {
        struct tr_actor *r;
        bool kept;
        int rc = deliver_acquire(sys, sender, to, !forced, &r, &kept);
        if (rc != TR_OK) {
            tr_dead_letter_record(sys, to, n->msg.sender, n->msg.type, rc);
            if (tr_ref_is_remote(n->msg.sender)) /* a local asker learns it from rc */
                tr_ask_lost(sys, to, &n->msg, lost_reason(sys, to, rc));
            tr_mnode_free(n);
            return rc;
        }
        uint32_t before = tr_mailbox_reserve(&r->mtail, &r->mhead, r->capacity);
        if (before >= r->capacity && !forced) {
            if (r->overflow == TR_OVERFLOW_BACKPRESSURE && sender != NULL) {
                mute_sender(sender, r); /* keep the message, hold the sender back */
            } else {
                tr_mailbox_unreserve(&r->mtail);
                if (!kept)
                    tr_table_release(&sys->table, to);
                if (r->overflow == TR_OVERFLOW_DROP) {
                    tr_dead_letter_record(sys, to, n->msg.sender, n->msg.type, TR_EDROPPED);
                    tr_ask_lost(sys, to, &n->msg, TR_EDROPPED);
                    tr_mnode_free(n);
                    return TR_OK;
                }
                if (r->overflow == TR_OVERFLOW_FAIL || timeout_ms == 0 ||
                    tr_sched_current_worker() != NULL) {
                    tr_mnode_free(n);
                    return TR_EFULL;
                }
                rc = wait_for_room(sys, to, timeout_ms);
                if (rc != TR_OK) {
                    if (rc != TR_EFULL)
                        tr_dead_letter_record(sys, to, n->msg.sender, n->msg.type, rc);
                    tr_mnode_free(n);
                    return rc;
                }
                continue; /* room appeared: try again */
            }
        }
        tr_mailbox_push(&r->mtail, n);
        if (before + 1 >= r->capacity && !atomic_load_explicit(&r->pressure, memory_order_relaxed))
            atomic_store_explicit(&r->pressure, 1, memory_order_relaxed);
        tr_actor_wake(r, before + 1 >= r->capacity);
        if (!kept)
            tr_table_release(&sys->table, to);
        return TR_OK;
    }
}

static int check_user_type(uint32_t type)
{
    return type >= TR_MSG_USER ? TR_OK : TR_EINVAL;
}

/* The node of a user payload sent by copy. For a remote receiver it
 * borrows the caller's bytes: the node packs them into its send buffer
 * before tr_remote_deliver returns (actors/remote.h), so a copy here
 * would be a second one, with a malloc and a free per message. */
static tr_mnode *copied_node(tr_ref to, uint32_t type, const void *data, size_t size)
{
    if (size > TR_MSG_INLINE && tr_ref_is_remote(to))
        return tr_mnode_move(type, (void *)data, size, NULL);
    return tr_mnode_copy(type, data, size);
}

int tr_send(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size)
{
    if (self == NULL || (data == NULL && size > 0) || check_user_type(type) != TR_OK)
        return TR_EINVAL;
    tr_mnode *n = copied_node(to, type, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    n->msg.sender = self->self;
    return tr_deliver(self->sys, self, to, n, false, 0);
}

/* The node of a user message whose payload moves in (tr_send_move,
 * tr_post_move): TR_OK, else TR_EINVAL (also when !valid, the caller's own
 * check) or TR_ENOMEM, buf being freed then. */
static int user_move_node(bool valid, uint32_t type, void *buf, size_t size,
                          void (*free_fn)(void *), tr_mnode **out)
{
    if (!valid || check_user_type(type) != TR_OK || (buf != NULL && free_fn == NULL)) {
        if (buf != NULL && free_fn != NULL)
            free_fn(buf);
        return TR_EINVAL;
    }
    *out = tr_mnode_move(type, buf, size, free_fn);
    return *out != NULL ? TR_OK : TR_ENOMEM;
}

int tr_send_move(tr_ctx *self, tr_ref to, uint32_t type, void *buf, size_t size,
                 void (*free_fn)(void *))
{
    tr_mnode *n = NULL;
    int rc = user_move_node(self != NULL, type, buf, size, free_fn, &n);
    if (rc != TR_OK)
        return rc;
    n->msg.sender = self->self;
    return tr_deliver(self->sys, self, to, n, false, 0);
}

/* An outside thread posting is anonymous; a callback that calls tr_post by
 * mistake is treated as the actor it is (so it is muted, never blocked). */
static struct tr_actor *post_sender(tr_system *sys)
{
    struct tr_actor *cur = tr_actor_current();
    return cur != NULL && cur->sys == sys ? cur : NULL;
}

int tr_post(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size, int timeout_ms)
{
    if (sys == NULL || (data == NULL && size > 0) || check_user_type(type) != TR_OK)
        return TR_EINVAL;
    tr_mnode *n = copied_node(to, type, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    struct tr_actor *sender = post_sender(sys);
    n->msg.sender = sender != NULL ? sender->self : TR_REF_NONE;
    return tr_deliver(sys, sender, to, n, false, timeout_ms);
}

int tr_post_move(tr_system *sys, tr_ref to, uint32_t type, void *buf, size_t size,
                 void (*free_fn)(void *), int timeout_ms)
{
    tr_mnode *n = NULL;
    int rc = user_move_node(sys != NULL, type, buf, size, free_fn, &n);
    if (rc != TR_OK)
        return rc;
    struct tr_actor *sender = post_sender(sys);
    n->msg.sender = sender != NULL ? sender->self : TR_REF_NONE;
    return tr_deliver(sys, sender, to, n, false, timeout_ms);
}

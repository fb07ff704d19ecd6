/* Links. Each actor keeps its partners in its extension under its stripe
 * lock. A link is one entry on each side; whoever removes the entry from the
 * partner's side (the ending actor, or tr_unlink) owns it, so an exit signal
 * travels at most once and never after an unlink.
 *
 * The ending actor takes its list after it is marked ended (watch_closed,
 * set by tr_monitor_close_locked), then, once its reference is retired, removes
 * itself from each partner and queues an exit signal there. The partner
 * judges the signal on its own thread (trap or fail) at its next signal
 * check, before its next message. A tr_link that finds a side already ended
 * signals the other side at once with that side's final reason. */
#include <stdlib.h>

#include "actors/dead_letters.h"
#include "actors/exit_cache.h"
#include "actors/ext.h"
#include "actors/lifecycle.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/link_impl.h"
#include "actors/table.h"

static tr_link_set *set_get(tr_actor_ext *ext) /* stripe lock held */
{
    if (ext->links == NULL)
        ext->links = calloc(1, sizeof(*ext->links));
    return ext->links;
}

static bool peers_find(const tr_link_set *s, tr_ref r, uint32_t *at)
{
    for (uint32_t i = 0; s != NULL && i < s->peers.len; i++) {
        if (tr_ref_equal(s->peers.at[i], r)) {
            *at = i;
            return true;
        }
    }
    return false;
}

static bool peers_remove(tr_link_set *s, tr_ref r)
{
    uint32_t i;
    if (!peers_find(s, r, &i))
        return false;
    tr_vec_remove_swap(&s->peers, i); /* order does not matter */
    return true;
}

static int peers_add(tr_link_set *s, tr_ref r)
{
    uint32_t i;
    if (peers_find(s, r, &i))
        return TR_OK; /* already linked: links are idempotent */
    return tr_vec_push(&s->peers, r) == 0 ? TR_OK : TR_ENOMEM;
}

/* Whether `a` has ended (its links taken or about to be); see
 * tr_actor_ended. */
static bool closed(struct tr_actor *a) { return tr_actor_ended(a); }

/* Queues an exit signal for live actor `p` (its stripe lock held) and wakes it. */
static void exit_to_locked(struct tr_actor *p, tr_actor_ext *ext, tr_ref from, int reason)
{
    if (closed(p))
        return; /* p is ending itself: nothing left to signal */
    tr_link_set *s = set_get(ext);
    if (s == NULL ||
        tr_vec_push(&s->pending, (tr_exit_signal){.from = from, .reason = reason}) != 0) {
        tr_dead_letter_record(p->sys, p->self, from, TR_MSG_EXIT, TR_ENOMEM);
        return;
    }
    tr_actor_signal(p, TR_SIG_EXIT);
}

/* unless_linked: skip when p still lists `from` (its end is being
 * signalled along that existing link). */
static void exit_to(struct tr_actor *p, tr_ref from, int reason, bool unless_linked)
{
    tr_actor_ext *ext = tr_actor_ext_get(p);
    if (ext == NULL) {
        tr_dead_letter_record(p->sys, p->self, from, TR_MSG_EXIT, TR_ENOMEM);
        return;
    }
    pthread_mutex_t *m = tr_actor_stripe(p->sys, p);
    uint32_t at;
    tr_actor_ext_publish(p, ext); /* see closed() */
    pthread_mutex_lock(m);
    if (!unless_linked || !peers_find(ext->links, from, &at))
        exit_to_locked(p, ext, from, reason);
    pthread_mutex_unlock(m);
}

/* Locks the stripes of two actors in a fixed order (once if shared). */
static void lock_pair(pthread_mutex_t *ma, pthread_mutex_t *mb)
{
    if (ma == mb) {
        pthread_mutex_lock(ma);
    } else if (ma < mb) {
        pthread_mutex_lock(ma);
        pthread_mutex_lock(mb);
    } else {
        pthread_mutex_lock(mb);
        pthread_mutex_lock(ma);
    }
}

static void unlock_pair(pthread_mutex_t *ma, pthread_mutex_t *mb)
{
    pthread_mutex_unlock(ma);
    if (mb != ma)
        pthread_mutex_unlock(mb);
}

/* Both live: record the link on both sides, or signal the side that
 * survives an already ended one. */
static int link_live(tr_system *sys, struct tr_actor *pa, struct tr_actor *pb)
{
    tr_actor_ext *ea = tr_actor_ext_get(pa), *eb = tr_actor_ext_get(pb);
    if (ea == NULL || eb == NULL)
        return TR_ENOMEM;
    pthread_mutex_t *ma = tr_actor_stripe(sys, pa), *mb = tr_actor_stripe(sys, pb);
    int rc = TR_OK;
    tr_actor_ext_publish(pa, ea); /* see closed() */
    tr_actor_ext_publish(pb, eb);
    lock_pair(ma, mb);
    uint32_t at;
    if (closed(pa) || closed(pb)) {
        /* one side is ending: signal the other, unless they are linked
         * already (then the ending side's own signal is on its way) */
        if (!closed(pb) && !peers_find(eb->links, pa->self, &at))
            exit_to_locked(pb, eb, pa->self, pa->exit_reason); /* final once ended */
        else if (!closed(pa) && !peers_find(ea->links, pb->self, &at))
            exit_to_locked(pa, ea, pb->self, pb->exit_reason);
    } else {
        tr_link_set *sa = set_get(ea), *sb = set_get(eb);
        if (sa == NULL || sb == NULL || (rc = peers_add(sa, pb->self)) != TR_OK)
            rc = TR_ENOMEM;
        else if ((rc = peers_add(sb, pa->self)) != TR_OK)
            peers_remove(sa, pb->self);
    }
    unlock_pair(ma, mb);
    return rc;
}

int tr_link(tr_system *sys, tr_ref a, tr_ref b)
{
    if (sys == NULL || tr_ref_is_none(a) || tr_ref_is_none(b) || tr_ref_equal(a, b))
        return TR_EINVAL;
    struct tr_actor *pa = NULL, *pb = NULL;
    bool la = tr_table_acquire(&sys->table, a, false, &pa) == TR_OK;
    bool lb = tr_table_acquire(&sys->table, b, false, &pb) == TR_OK;
    int rc = TR_OK;
    if (la && lb) {
        rc = link_live(sys, pa, pb);
    } else if (la || lb) { /* linking to the dead: it "just died" */
        tr_ref dead = la ? b : a;
        int reason = TR_EDEAD;
        tr_exit_cache_get(&sys->exits, dead, &reason);
        exit_to(la ? pa : pb, dead, reason, true);
    } else {
        rc = TR_EDEAD;
    }
    if (la)
        tr_table_release(&sys->table, a);
    if (lb)
        tr_table_release(&sys->table, b);
    return rc;
}

/* Removes `other` from live actor `p`'s links; true if it was there. */
static bool unlink_side(tr_system *sys, struct tr_actor *p, tr_ref other)
{
    tr_actor_ext *ext = atomic_load_explicit(&p->ext, memory_order_acquire);
    if (ext == NULL)
        return false;
    pthread_mutex_t *m = tr_actor_stripe(sys, p);
    pthread_mutex_lock(m);
    bool found = peers_remove(ext->links, other);
    pthread_mutex_unlock(m);
    return found;
}

int tr_unlink(tr_system *sys, tr_ref a, tr_ref b)
{
    if (sys == NULL || tr_ref_is_none(a) || tr_ref_is_none(b) || tr_ref_equal(a, b))
        return TR_EINVAL;
    bool found = false;
    tr_ref side[2] = {a, b}, other[2] = {b, a};
    for (int i = 0; i < 2; i++) {
        struct tr_actor *p;
        if (tr_table_acquire(&sys->table, side[i], false, &p) != TR_OK)
            continue; /* ended: its links are gone, or about to be removed from the other side */
        found |= unlink_side(sys, p, other[i]);
        tr_table_release(&sys->table, side[i]);
    }
    return found ? TR_OK : TR_ENOTFOUND;
}

void tr_trap_exits(tr_ctx *self, bool on)
{
    if (self == NULL)
        return;
    if (on)
        self->flags |= TR_AF_TRAP_EXITS;
    else
        self->flags &= (uint8_t)~TR_AF_TRAP_EXITS;
}

/* ---- the lifecycle side ---- */

tr_link_list tr_link_close_locked(struct tr_actor *a)
{
    tr_link_list list = {0};
    a->watch_closed = 1; /* normally set already by tr_monitor_close_locked */
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext != NULL && ext->links != NULL) {
        list = ext->links->peers;
        ext->links->peers = (tr_ref_vec){0};
    }
    return list;
}

void tr_link_fire(tr_system *sys, tr_ref dead, int reason, tr_link_list *list)
{
    for (uint32_t i = 0; i < list->len; i++) {
        struct tr_actor *p;
        if (tr_table_acquire(&sys->table, list->at[i], false, &p) != TR_OK)
            continue; /* ended too: it took its side of the link */
        tr_actor_ext *ext = atomic_load_explicit(&p->ext, memory_order_acquire);
        if (ext != NULL) {
            pthread_mutex_t *m = tr_actor_stripe(sys, p);
            pthread_mutex_lock(m);
            if (peers_remove(ext->links, dead)) /* still linked: this signal is ours to send */
                exit_to_locked(p, ext, dead, reason);
            pthread_mutex_unlock(m);
        }
        tr_table_release(&sys->table, list->at[i]);
    }
    tr_vec_free(list);
}

void tr_link_take_exits(struct tr_actor *a)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext == NULL)
        return;
    pthread_mutex_t *m = tr_actor_stripe(a->sys, a);
    pthread_mutex_lock(m);
    tr_exit_signal_vec pending = {0};
    if (ext->links != NULL) {
        pending = ext->links->pending;
        ext->links->pending = (tr_exit_signal_vec){0};
    }
    pthread_mutex_unlock(m);
    for (uint32_t i = 0; i < pending.len; i++) {
        const tr_exit_signal *x = &pending.at[i];
        if (a->flags & TR_AF_TRAP_EXITS) {
            tr_mnode *node = tr_mnode_copy(TR_MSG_EXIT, x, sizeof(*x));
            if (node == NULL) {
                tr_dead_letter_record(a->sys, a->self, x->from, TR_MSG_EXIT, TR_ENOMEM);
                continue;
            }
            node->msg.sender = x->from;
            tr_deliver(a->sys, NULL, a->self, node, true, 0); /* one per link: may pass the bound */
        } else if (x->reason != TR_OK) {
            tr_lifecycle_begin(a, x->reason, TR_STOP_ABORT, false);
        }
    }
    tr_vec_free(&pending);
}

void tr_link_ext_fini(void *part)
{
    tr_link_set **links = part;
    tr_link_set *set = *links;
    if (set == NULL)
        return;
    tr_vec_free(&set->peers);
    tr_vec_free(&set->pending);
    free(set);
    *links = NULL;
}

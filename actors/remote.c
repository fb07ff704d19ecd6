/* Routing of remote references to the attached node; see remote.h. */
#include "actors/remote.h"

#include <sched.h>
#include <string.h>

#include "actors/dead_letters.h"
#include "actors/sched.h"
#include "actors/system_impl.h"

int tr_remote_attach(tr_system *sys, const tr_remote_ops *ops, void *node)
{
    pthread_mutex_lock(&sys->remote.lock);
    int rc = TR_EINVAL;
    if (atomic_load_explicit(&sys->remote.node, memory_order_acquire) == NULL) {
        sys->remote.ops = ops;
        atomic_fetch_add_explicit(&sys->remote.epoch, 1, memory_order_relaxed); /* before the node */
        atomic_store_explicit(&sys->remote.node, node, memory_order_release);
        rc = TR_OK;
    }
    pthread_mutex_unlock(&sys->remote.lock);
    return rc;
}

void tr_remote_detach(tr_system *sys)
{
    pthread_mutex_lock(&sys->remote.lock);
    atomic_store_explicit(&sys->remote.node, NULL, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->remote.lock);
    while (atomic_load_explicit(&sys->remote.users, memory_order_seq_cst) > 0)
        sched_yield(); /* a hook call in progress finishes quickly */
}

void *tr_remote_node(tr_system *sys)
{
    return atomic_load_explicit(&sys->remote.node, memory_order_acquire);
}

void tr_remote_stop(tr_system *sys)
{
    void *node = tr_remote_node(sys);
    if (node != NULL)
        sys->remote.ops->stop(node); /* detaches it first (tr_node_stop) */
}

/* Enters a hook: the node cannot be detached until node_leave. */
static void *node_enter(tr_system *sys)
{
    atomic_fetch_add_explicit(&sys->remote.users, 1, memory_order_seq_cst);
    void *node = atomic_load_explicit(&sys->remote.node, memory_order_seq_cst);
    if (node == NULL)
        atomic_fetch_sub_explicit(&sys->remote.users, 1, memory_order_seq_cst);
    return node;
}

static void node_leave(tr_system *sys)
{
    atomic_fetch_sub_explicit(&sys->remote.users, 1, memory_order_seq_cst);
}

void *tr_remote_enter(tr_system *sys) { return node_enter(sys); }

void tr_remote_leave(tr_system *sys) { node_leave(sys); }

int tr_remote_deliver(tr_system *sys, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
                      int timeout_ms)
{
    void *node = node_enter(sys);
    if (node == NULL) {
        tr_dead_letter_record(sys, to, n->msg.sender, n->msg.type, TR_ENOTCONN);
        tr_mnode_free(n);
        return TR_ENOTCONN;
    }
    int rc = sys->remote.ops->deliver(node, sender, to, n, forced, timeout_ms);
    node_leave(sys);
    return rc;
}

void tr_remote_monitor(tr_system *sys, tr_ref watcher, tr_ref target, uint64_t id)
{
    void *node = node_enter(sys);
    if (node == NULL) {
        tr_monitor_send_down(sys, watcher, target, id, TR_ENODEDOWN);
        return;
    }
    sys->remote.ops->monitor(node, watcher, target, id);
    node_leave(sys);
}

int tr_remote_demonitor(tr_system *sys, tr_ref target, uint64_t id)
{
    void *node = node_enter(sys);
    if (node == NULL)
        return TR_ENOTFOUND;
    int rc = sys->remote.ops->demonitor(node, target, id);
    node_leave(sys);
    return rc;
}

int tr_remote_peer_agent(tr_system *sys, const char *node_name, tr_ref *out)
{
    void *node = node_enter(sys);
    if (node == NULL)
        return TR_ENOTCONN;
    int rc = strcmp(sys->remote.ops->name(node), node_name) == 0
                 ? TR_ENOTFOUND
                 : sys->remote.ops->peer_agent(node, node_name, out);
    node_leave(sys);
    return rc;
}

bool tr_remote_flush_later(tr_system *sys, uint32_t peer)
{
    tr_worker *w = tr_sched_current_worker();
    if (w == NULL || w->sys != sys)
        return false;
    for (uint32_t i = 0; i < w->nflush; i++)
        if (w->flush[i] == peer)
            return true;
    if (w->nflush == TR_WORKER_FLUSH_MAX)
        return false;
    w->flush[w->nflush++] = peer;
    return true;
}

void tr_remote_turn_end(tr_worker *w)
{
    tr_system *sys = w->sys;
    uint32_t n = w->nflush;
    w->nflush = 0;
    void *node = node_enter(sys);
    if (node == NULL)
        return; /* detached: the node dropped its queues */
    for (uint32_t i = 0; i < n; i++)
        sys->remote.ops->flush(node, w->flush[i]);
    node_leave(sys);
    if (n > 0)
        w->remote_peer = w->flush[n - 1]; /* the answer to watch for (await_remote) */
    tr_sched_expect_remote(w);
}

/* Enters a hook for the node of w's watch; NULL, the watch forgotten,
 * when that node was detached since (its connections may be freed). */
static void *watch_enter(tr_worker *w)
{
    tr_system *sys = w->sys;
    void *node = node_enter(sys);
    /* attach counts the epoch before it publishes the node, and a node
     * stays attached while we are inside */
    if (node != NULL && atomic_load_explicit(&sys->remote.epoch, memory_order_acquire) == w->watch_epoch)
        return node;
    if (node != NULL)
        node_leave(sys);
    w->watch = NULL;
    return NULL;
}

void tr_remote_unwatch(tr_worker *w)
{
    if (w->watch == NULL)
        return;
    void *node = watch_enter(w);
    if (node == NULL)
        return;
    w->sys->remote.ops->unwatch(node, w->watch, w);
    w->watch = NULL;
    node_leave(w->sys);
    if (w->nflush > 0) /* what the read taken back made this thread send */
        tr_remote_turn_end(w);
}

void tr_remote_watch(tr_worker *w)
{
    uint32_t peer = w->remote_peer;
    if (peer == 0 || (w->watch != NULL && w->watch_peer == peer))
        return;
    tr_remote_unwatch(w);
    tr_system *sys = w->sys;
    void *node = node_enter(sys);
    if (node == NULL)
        return;
    w->watch_epoch = atomic_load_explicit(&sys->remote.epoch, memory_order_acquire);
    w->watch = sys->remote.ops->watch(node, peer, w);
    w->watch_peer = peer;
    node_leave(sys);
}

bool tr_remote_poll(tr_worker *w)
{
    if (w->watch == NULL)
        return false;
    void *node = watch_enter(w);
    if (node == NULL)
        return false;
    int rc = w->sys->remote.ops->poll(node, w->watch, w);
    node_leave(w->sys);
    if (rc < 0)
        w->watch = NULL;
    if (w->nflush > 0) /* answers the node sent while it processed (a pong) */
        tr_remote_turn_end(w);
    return rc > 0;
}

bool tr_actor_backpressures(tr_system *sys, tr_ref to)
{
    struct tr_actor *a;
    if (tr_table_acquire(&sys->table, to, false, &a) != TR_OK)
        return false;
    bool backpressure = a->overflow == TR_OVERFLOW_BACKPRESSURE;
    tr_table_release(&sys->table, to);
    return backpressure;
}

/* The remote hooks (actors/remote.h): how the runtime hands a message,
 * monitor or lookup for a remote reference to the node. */
#include <string.h>

#include "net/node_impl.h"

static int hook_deliver(void *vnode, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
                        int timeout_ms)
{
    struct tr_node *node = vnode;
    tr_peer *p = tr_peer_pin(node, tr_ref_node(to));
    int rc = TR_ENOTCONN;
    if (p != NULL) {
        tr_ref src = n->msg.sender;
        tr_envelope e = {.kind = forced ? TR_ENV_FORCED : TR_ENV_SEND,
                         .dst = to.id & REF_LOCAL_MASK,
                         .src = tr_ref_is_remote(src) ? 0 : src.id, /* forwarded: anonymous */
                         .value = n->msg.type,
                         .corr = n->msg.corr,
                         .payload = n->msg.data,
                         .size = (uint32_t)n->msg.size};
        rc = n->msg.size > node->opts.max_frame_bytes / 2 ? TR_ETOOBIG
                                                          : tr_peer_enqueue(p, sender, &e, forced, timeout_ms, n);
        tr_peer_unpin(p);
    } else {
        atomic_fetch_add_explicit(&node->not_connected, 1, memory_order_relaxed);
    }
    if (rc == TR_EDROPPED) {
        tr_dead_letter_record(node->sys, to, n->msg.sender, n->msg.type, TR_EDROPPED);
        rc = TR_OK;
    } else if (rc != TR_OK && rc != TR_EFULL) {
        tr_dead_letter_record(node->sys, to, n->msg.sender, n->msg.type, rc);
    }
    tr_mnode_free(n);
    return rc;
}

static int hook_peer_agent(void *vnode, const char *name, tr_ref *out)
{
    struct tr_node *node = vnode;
    tr_peer *p = tr_node_peer_by_name(node, name, strlen(name));
    if (p == NULL)
        return TR_ENOTCONN;
    pthread_mutex_lock(&p->lock); /* up and agent are written by the session */
    bool up = p->up;
    *out = tr_ref_make(p->index, p->agent);
    pthread_mutex_unlock(&p->lock);
    tr_peer_unpin(p);
    return up ? TR_OK : TR_ENOTCONN;
}

static void hook_flush(void *vnode, uint32_t peer)
{
    tr_peer *p = tr_peer_pin(vnode, peer);
    if (p != NULL)
        tr_peer_flush(p);
    tr_peer_unpin(p);
}

static void *hook_watch(void *vnode, uint32_t peer, const void *token)
{
    return tr_conn_watch(vnode, peer, token);
}

static int hook_poll(void *vnode, void *watch, const void *token)
{
    (void)vnode;
    return tr_conn_poll(watch, token);
}

static void hook_unwatch(void *vnode, void *watch, const void *token)
{
    (void)vnode;
    tr_conn_unwatch(watch, token);
}

static const char *hook_name(void *vnode) { return ((struct tr_node *)vnode)->name; }

static void hook_stop(void *vnode) { tr_node_stop(vnode); }

const tr_remote_ops tr_node_ops = {
    .deliver = hook_deliver,
    .monitor = tr_node_monitor,
    .demonitor = tr_node_demonitor,
    .peer_agent = hook_peer_agent,
    .name = hook_name,
    .flush = hook_flush,
    .watch = hook_watch,
    .poll = hook_poll,
    .unwatch = hook_unwatch,
    .stop = hook_stop,
};

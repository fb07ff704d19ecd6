/* Monitors across nodes, and the node agent.
 *
 * Watcher side: a monitor of a remote actor is a tr_rmon record here plus a
 * MONITOR envelope to the target's node. It fires exactly once, from
 * whichever comes first: the DOWN envelope, or the peer going down (reason
 * TR_ENODEDOWN). Removing the record under the node lock decides who fires.
 *
 * Target side: the node's agent (a local actor) monitors the target on the
 * remote watcher's behalf (a tr_proxy_mon) and forwards the DOWN it gets. */
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "net/node_impl.h"
#include "troupe/monitor.h"
#include "troupe/registry.h"
#include "troupe/wire.h"

static tr_rmon *rmon_take(struct tr_node *node, uint64_t id, uint32_t peer)
{
    pthread_mutex_lock(&node->lock);
    tr_rmon *found = NULL;
    for (tr_rmon **pp = &node->rmons; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id && (peer == 0 || (*pp)->peer == peer)) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&node->lock);
    return found;
}

void tr_node_monitor(void *vnode, tr_ref watcher, tr_ref target, uint64_t id)
{
    struct tr_node *node = vnode;
    tr_peer *p = tr_peer_pin(node, tr_ref_node(target));
    tr_rmon *m = p != NULL ? calloc(1, sizeof(*m)) : NULL;
    if (m == NULL) {
        tr_peer_unpin(p);
        tr_monitor_send_down(node->sys, watcher, target, id, TR_ENODEDOWN);
        return;
    }
    *m = (tr_rmon){.id = id, .watcher = watcher, .target = target, .peer = p->index};
    pthread_mutex_lock(&node->lock);
    m->next = node->rmons;
    node->rmons = m;
    pthread_mutex_unlock(&node->lock);
    tr_envelope e = {.kind = TR_ENV_MONITOR, .dst = target.id & REF_LOCAL_MASK, .src = watcher.id, .corr = id};
    if (tr_peer_enqueue(p, NULL, &e, true, 0, NULL) != TR_OK && (m = rmon_take(node, id, 0)) != NULL) {
        tr_monitor_send_down(node->sys, watcher, target, id, TR_ENODEDOWN);
        free(m);
    }
    tr_peer_unpin(p);
}

int tr_node_demonitor(void *vnode, tr_ref target, uint64_t id)
{
    struct tr_node *node = vnode;
    tr_rmon *m = rmon_take(node, id, 0);
    if (m == NULL)
        return TR_ENOTFOUND;
    tr_peer *p = tr_peer_pin(node, m->peer);
    tr_envelope e = {.kind = TR_ENV_DEMONITOR, .dst = target.id & REF_LOCAL_MASK, .corr = id};
    if (p != NULL)
        tr_peer_enqueue(p, NULL, &e, true, 0, NULL); /* a lost DEMONITOR only costs a stray DOWN envelope */
    tr_peer_unpin(p);
    free(m);
    return TR_OK;
}

void tr_node_on_down(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    tr_rmon *m = rmon_take(node, e->corr, p->index);
    if (m == NULL)
        return; /* demonitored meanwhile */
    int reason = e->value < INT32_MIN || e->value > INT32_MAX ? TR_EFAILED : (int)e->value;
    tr_monitor_send_down(node->sys, m->watcher, m->target, m->id, reason);
    free(m);
}

void tr_node_on_monitor(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    tr_proxy_mon *pm = calloc(1, sizeof(*pm));
    if (pm == NULL)
        return;
    *pm = (tr_proxy_mon){.remote_id = e->corr, .watcher = e->src, .target = e->dst, .peer = p->index};
    /* the lock is held across tr_monitor so that a DOWN for an already
     * dead target cannot reach the agent before the proxy is listed */
    pthread_mutex_lock(&node->lock);
    if (tr_monitor(node->sys, node->agent, (tr_ref){e->dst & REF_LOCAL_MASK}, &pm->local_id) == TR_OK) {
        pm->next = node->proxies;
        node->proxies = pm;
        pm = NULL;
    }
    pthread_mutex_unlock(&node->lock);
    free(pm);
}

void tr_node_on_demonitor(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    pthread_mutex_lock(&node->lock);
    tr_proxy_mon *found = NULL;
    for (tr_proxy_mon **pp = &node->proxies; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->peer == p->index && (*pp)->remote_id == e->corr) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&node->lock);
    if (found != NULL)
        tr_demonitor(node->sys, (tr_ref){found->target}, found->local_id);
    free(found);
}

void tr_node_peer_down_monitors(struct tr_node *node, uint32_t peer)
{
    tr_rmon *fire = NULL;
    tr_proxy_mon *drop = NULL;
    pthread_mutex_lock(&node->lock);
    for (tr_rmon **pp = &node->rmons; *pp != NULL;) {
        tr_rmon *m = *pp;
        if (peer == 0 || m->peer == peer) {
            *pp = m->next;
            m->next = fire;
            fire = m;
        } else {
            pp = &m->next;
        }
    }
    for (tr_proxy_mon **pp = &node->proxies; *pp != NULL;) {
        tr_proxy_mon *m = *pp;
        if (peer == 0 || m->peer == peer) {
            *pp = m->next;
            m->next = drop;
            drop = m;
        } else {
            pp = &m->next;
        }
    }
    pthread_mutex_unlock(&node->lock);
    while (fire != NULL) {
        tr_rmon *m = fire;
        fire = m->next;
        tr_monitor_send_down(node->sys, m->watcher, m->target, m->id, TR_ENODEDOWN);
        free(m);
    }
    while (drop != NULL) {
        tr_proxy_mon *m = drop;
        drop = m->next;
        tr_demonitor(node->sys, (tr_ref){m->target}, m->local_id);
        free(m);
    }
}

/* ---- the agent ---- */

static void agent_forward_down(struct tr_node *node, const tr_down *d)
{
    pthread_mutex_lock(&node->lock);
    tr_proxy_mon *found = NULL;
    for (tr_proxy_mon **pp = &node->proxies; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->local_id == d->monitor) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&node->lock);
    if (found == NULL)
        return;
    tr_peer *p = tr_peer_pin(node, found->peer);
    tr_envelope e = {.kind = TR_ENV_DOWN, .dst = found->watcher, .src = found->target,
                     .value = d->reason, .corr = found->remote_id};
    if (p != NULL)
        tr_peer_enqueue(p, NULL, &e, true, 0, NULL); /* if the peer is down it fires node-down itself */
    tr_peer_unpin(p);
    free(found);
}

/* A lookup: payload is the name; the reply is msgpack [rc, ref or nil]. */
static void agent_lookup(tr_ctx *self, const tr_msg *msg)
{
    tr_system *sys = tr_ctx_system(self);
    char name[TR_NAME_MAX];
    tr_ref ref = TR_REF_NONE;
    int rc = TR_ENOTFOUND;
    if (msg->size > 0 && msg->size < sizeof(name)) {
        memcpy(name, msg->data, msg->size);
        name[msg->size] = '\0';
        rc = tr_whereis(sys, name, &ref);
    }
    tr_wire w;
    tr_wire_init(&w);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_int(&w.pk, rc);
    if (rc == TR_OK)
        tr_pack_ref(sys, &w.pk, ref);
    else
        msgpack_pack_nil(&w.pk);
    tr_reply(self, msg, w.buf.data, w.buf.size);
    tr_wire_destroy(&w);
}

static int agent_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    struct tr_node *node = *(struct tr_node **)state;
    if (msg->type == TR_MSG_DOWN && msg->size == sizeof(tr_down))
        agent_forward_down(node, msg->data);
    else if (msg->type == TR_MSG_LOOKUP)
        agent_lookup(self, msg);
    return TR_OK;
}

static int agent_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(struct tr_node **)state = arg;
    return TR_OK;
}

static const tr_behaviour agent_behaviour = {
    .init = agent_init, .handle = agent_handle, .state_size = sizeof(struct tr_node *)};

int tr_node_agent_start(struct tr_node *node)
{
    tr_spawn_opts opts = {.name = "$node", .mailbox_capacity = 1u << 16};
    int rc = tr_spawn(node->sys, &agent_behaviour, node, &opts, &node->agent);
    if (rc == TR_OK)
        tr_register(node->sys, "$node", node->agent); /* answers local tr_lookup_async */
    return rc;
}

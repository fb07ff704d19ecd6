/* Peers and their sessions: which connection carries a node pair's
 * session, up and down, and the reset exchange that makes a node-down seen
 * by both sides (docs/wire.md).
 *
 * One connection per node pair. When both nodes dial each other at once,
 * the connection initiated by the node with the smaller name wins; each
 * side decides when it verifies the other's PROOF, against its own
 * committed dial (PROOF sent) to that node, so both decide the same way.
 * A name that is up stays taken: a connection claiming it under another
 * incarnation is refused (TR_ENAMETAKEN) until that node is down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"

/* Pins and frees meet as in Dekker's protocol (both sequentially
 * consistent): a pinner counts itself, then reads the table; member.c
 * takes a record out of the table, then frees it only if it reads no pin.
 * Either the pinner's count is seen, or the pinner reads the table after
 * the record left it. */
tr_peer *tr_peer_pin(struct tr_node *node, uint32_t index)
{
    if (index == 0 || index > TR_NODE_MAX_PEERS || atomic_load_explicit(&node->peers[index], memory_order_relaxed) == NULL)
        return NULL;
    atomic_fetch_add(&node->peer_pins[index], 1);
    tr_peer *p = atomic_load(&node->peers[index]);
    if (p == NULL)
        atomic_fetch_sub(&node->peer_pins[index], 1);
    return p;
}

void tr_peer_pin_locked(tr_peer *p) { atomic_fetch_add(&p->node->peer_pins[p->index], 1); }

void tr_peer_unpin(tr_peer *p)
{
    if (p != NULL)
        atomic_fetch_sub(&p->node->peer_pins[p->index], 1);
}

static tr_peer *by_name_locked(struct tr_node *node, const char *name, size_t len)
{
    for (uint32_t i = node->npeers; i >= 1; i--) {
        tr_peer *p = node->peers[i];
        if (p != NULL && !p->retired && strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            return p;
    }
    return NULL;
}

tr_peer *tr_node_peer_by_name_locked(struct tr_node *node, const char *name, size_t len)
{
    return by_name_locked(node, name, len);
}

tr_peer *tr_node_peer_by_name(struct tr_node *node, const char *name, size_t len)
{
    pthread_mutex_lock(&node->lock);
    tr_peer *found = by_name_locked(node, name, len);
    if (found != NULL)
        tr_peer_pin_locked(found);
    pthread_mutex_unlock(&node->lock);
    return found;
}

static bool peer_up(tr_peer *p)
{
    pthread_mutex_lock(&p->lock);
    bool up = p->up;
    pthread_mutex_unlock(&p->lock);
    return up;
}

/* Whether p left (LEAVE) in incarnation inc: that node never comes back
 * as it was; only a new incarnation of the name rejoins (README, "Clustering"). */
static bool peer_left(tr_peer *p, uint64_t inc)
{
    pthread_mutex_lock(&p->lock);
    bool left = p->left && p->incarnation == inc;
    pthread_mutex_unlock(&p->lock);
    return left;
}

int tr_session_admit_locked(struct tr_node *node, tr_conn *c)
{
    if (strcmp(c->peer_name, node->name) == 0)
        return TR_ENAMETAKEN;
    if (atomic_load(&node->stopping) || atomic_load(&node->leaving))
        return TR_ESHUTDOWN; /* a connection made before: no new session */
    tr_peer *p = by_name_locked(node, c->peer_name, strlen(c->peer_name));
    if (p != NULL && peer_up(p))
        return p->incarnation != c->peer_inc ? TR_ENAMETAKEN : TR_EEXIST;
    if (p != NULL && peer_left(p, c->peer_inc))
        return TR_ESHUTDOWN; /* a handshake begun before its LEAVE */
    for (tr_conn *o = node->conns; o != NULL; o = o->next) {
        if (o == c || o->state != TR_CONN_PROOF_SENT || strcmp(o->peer_name, c->peer_name) != 0)
            continue;
        /* o: our own dial to that node, committed */
        if (c->initiator)
            return TR_EEXIST;
        if (strcmp(c->peer_name, node->name) > 0)
            return TR_EEXIST; /* ours was initiated by the smaller name: it wins */
        tr_conn_close_locked(o, TR_EEXIST); /* theirs wins; o's dial waits for the peer */
    }
    return TR_OK;
}

/* The peer for an authenticated name and incarnation (node lock held):
 * the member of that name, a new one, or, when the node restarted, a new
 * one that takes over the old one's URLs. */
static tr_peer *peer_for(struct tr_node *node, tr_conn *c)
{
    tr_peer *old = by_name_locked(node, c->peer_name, strlen(c->peer_name));
    if (old != NULL && old->incarnation == c->peer_inc)
        return old;
    if (old != NULL && old->incarnation == 0) {
        pthread_mutex_lock(&old->lock); /* events read it under the peer lock */
        old->incarnation = c->peer_inc; /* known by name (gossip) until now */
        pthread_mutex_unlock(&old->lock);
        return old;
    }
    tr_peer *p = tr_member_new_peer_locked(node, c->peer_name, c->peer_inc);
    if (p == NULL)
        return NULL;
    if (old != NULL) {
        atomic_store(&old->retired, true); /* it restarted (it was down: admit checked): its actors are gone */
        p->nurls = old->nurls;
        memcpy(p->urls, old->urls, sizeof(p->urls));
    }
    return p;
}

bool tr_session_up_locked(struct tr_node *node, tr_conn *c, const tr_frame_out *first)
{
    if (atomic_load(&node->stopping) || atomic_load(&node->leaving))
        return false; /* admitted, then this node began to stop or leave: no new session */
    tr_peer *p = peer_for(node, c);
    if (p == NULL) {
        tr_conn_close_locked(c, TR_ENOMEM);
        return true;
    }
    pthread_mutex_lock(&p->lock);
    if (p->left) { /* admitted, then its LEAVE arrived on the other connection */
        pthread_mutex_unlock(&p->lock);
        return false;
    }
    tr_conn *old = p->conn;
    if (p->up && old != NULL && old != c) {
        /* The old connection carries a live session again: its reset
         * exchange ended after c was admitted (an initiator is admitted at
         * CHALLENGE, up at ACCEPT, a round trip later). Replacing it here
         * would drop what is queued and in flight on it with no node-down,
         * so no monitor would report the loss: c loses instead. */
        pthread_mutex_unlock(&p->lock);
        return false;
    }
    tr_peer_drop_queue_locked(p, TR_ENODEDOWN); /* an old session's leftovers */
    p->conn = c;
    p->up = true;
    p->reset_owed = false;
    p->reset_seen = 0;
    p->agent = c->peer_agent;
    p->caps = c->peer_caps;
    p->hidden = (c->peer_caps & TR_HS_CAP_HIDDEN) != 0;
    if (p->nurls == 0 && c->dial != NULL) { /* where we reached it, until it says more (gossip) */
        snprintf(p->urls[0], sizeof(p->urls[0]), "%s", c->dial->url);
        p->nurls = 1;
    }
    tr_member_set_locked(p, TR_MEMBER_UP, 0);
    p->last_rx_ms = p->last_tx_ms = tr_now_ms();
    tr_phi_start(&p->phi, p->last_rx_ms, node->opts.heartbeat_ms);
    p->sending = c->tx_busy; /* a handshake write completes through tr_peer_written */
    c->peer = p;
    c->state = TR_CONN_UP;
    if (first != NULL) {
        if (p->sending)
            tr_peer_push_front_locked(p, *first);
        else {
            p->sending = true;
            tr_conn_write(c, *first);
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (old != NULL && old != c)
        tr_conn_close_locked(old, TR_EEXIST); /* a down peer's old link: the new session replaces it */
    tr_conn_handshake_over_locked(c, TR_OK);
    tr_net_log_peer(node, TR_LOG_INFO, "peer %s up (%s)", p->name, c->initiator ? "we dialled" : "it dialled");
    pthread_cond_broadcast(&node->cv);
    return true;
}

void tr_session_conn_lost(struct tr_node *node, tr_conn *c)
{
    tr_peer *p = c->peer;
    pthread_mutex_lock(&p->lock);
    bool current = p->conn == c, was_up = current && p->up;
    if (current) {
        p->conn = NULL;
        p->sending = false; /* c's frame in flight is c's (tr_peer_written) */
        p->reset_owed = false; /* a new connection is a new session */
    }
    pthread_mutex_unlock(&p->lock);
    if (!current)
        return;
    bool ours = atomic_load(&node->stopping) || atomic_load(&node->leaving);
    if (was_up && ours)
        tr_net_log_peer(node, TR_LOG_INFO, "peer %s down: this node %s", p->name,
                        atomic_load(&node->stopping) ? "stops" : "leaves");
    else if (was_up)
        tr_net_log_peer(node, TR_LOG_WARN, "peer %s down: connection lost (%s)", p->name,
                        tr_strerror(c->close_reason));
    tr_peer_down(node, p, false, ours ? TR_ESHUTDOWN : TR_ENODEDOWN);
    pthread_mutex_lock(&node->lock);
    pthread_cond_broadcast(&node->cv);
    pthread_mutex_unlock(&node->lock);
}

void tr_peer_down(struct tr_node *node, tr_peer *p, bool owe_reset, int reason)
{
    pthread_mutex_lock(&p->lock);
    bool was_up = p->up;
    p->up = false;
    if (was_up || p->left)
        tr_member_set_locked(p, p->left ? TR_MEMBER_LEFT : TR_MEMBER_DOWN, reason);
    if (was_up)
        tr_peer_drop_queue_locked(p, TR_ENODEDOWN);
    if (was_up && owe_reset && p->conn != NULL) {
        p->reset_owed = true;
        p->reset_id++;
        tr_envelope e = {.kind = TR_ENV_RESET, .corr = p->reset_id};
        tr_peer_control_locked(p, &e);
    }
    pthread_mutex_unlock(&p->lock);
    if (!was_up)
        return;
    atomic_fetch_add_explicit(&node->node_downs, 1, memory_order_relaxed);
    tr_node_peer_down_monitors(node, p->index);
    tr_peer_release_muted(p);
    tr_member_dispatch(node);
}

bool tr_session_refusing(tr_peer *p)
{
    pthread_mutex_lock(&p->lock);
    bool refusing = p->reset_owed;
    pthread_mutex_unlock(&p->lock);
    return refusing;
}

void tr_session_on_control(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    if (e->kind == TR_ENV_RESET_ACK) {
        pthread_mutex_lock(&p->lock);
        bool acked = p->reset_owed && e->corr == p->reset_id;
        if (acked)
            p->reset_owed = false;
        bool done = acked && !p->left; /* a node that left stays LEFT */
        if (done) { /* it has ended the old session too: a new one starts */
            p->up = true;
            tr_member_set_locked(p, TR_MEMBER_UP, 0);
            p->last_rx_ms = tr_now_ms();
            tr_phi_start(&p->phi, p->last_rx_ms, node->opts.heartbeat_ms);
            tr_peer_control_locked(p, NULL); /* tells it we are here */
        }
        pthread_mutex_unlock(&p->lock);
        if (done) {
            tr_net_log_peer(node, TR_LOG_INFO, "peer %s up again after a reset", p->name);
            pthread_mutex_lock(&node->lock);
            pthread_cond_broadcast(&node->cv);
            pthread_mutex_unlock(&node->lock);
            tr_member_dispatch(node);
            tr_gossip_peer_up(node, p);
        }
        return;
    }
    /* RESET: the peer declared us down. Unless we have done so already for
     * this reset or on our own, we declare it down too, then acknowledge.
     * It stays down here until its first frame of the new session. */
    pthread_mutex_lock(&p->lock);
    bool fresh = e->corr != p->reset_seen;
    if (p->reset_owed && fresh)
        p->reset_owed = false; /* both declared down: its RESET ended its session */
    p->reset_seen = e->corr;
    bool was_up = p->up;
    pthread_mutex_unlock(&p->lock);
    if (was_up && fresh) {
        tr_net_log_peer(node, TR_LOG_WARN, "peer %s declared us down: ending the session", p->name);
        tr_peer_down(node, p, false, TR_ECANCELLED);
    }
    pthread_mutex_lock(&p->lock);
    tr_envelope ack = {.kind = TR_ENV_RESET_ACK, .corr = e->corr};
    tr_peer_control_locked(p, &ack); /* lost: the next RESET asks again */
    pthread_mutex_unlock(&p->lock);
}

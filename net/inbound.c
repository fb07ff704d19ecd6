/* Frames from an authenticated peer, decoded on the connection's receive
 * callback and delivered straight into local mailboxes (no thread hop).
 * A full backpressure mailbox stops the frame where it is: the connection
 * reads nothing more until a retry gets the envelope in, so the TCP stream
 * fills and the sender's queue pushes back (end-to-end backpressure). */
#include <string.h>

#include "actors/remote.h"
#include "net/node_impl.h"
#include "net/pg.h"
#include "troupe/registry.h"

enum deliver_result { DELIVERED, STALLED };

/* The message node of a received envelope: a payload of TR_RX_SHARE_MIN
 * bytes or more stays in the connection's receive block (the node holds a
 * reference to it); a smaller one, or one read outside a block, is copied. */
static tr_mnode *payload_node(tr_conn *c, uint32_t type, const tr_envelope *e)
{
    if (e->size < TR_RX_SHARE_MIN || c->blocks.cur == NULL)
        return tr_mnode_copy(type, e->payload, e->size);
    tr_rx_block_give(&c->blocks);
    return tr_mnode_share(type, e->payload, e->size, tr_rx_block_release);
}

/* Delivers one message envelope to a local actor. */
static enum deliver_result deliver_in(struct tr_node *node, tr_conn *c, const tr_envelope *e)
{
    tr_peer *p = c->peer;
    tr_system *sys = node->sys;
    uint32_t type = e->value < 0 || e->value > UINT32_MAX ? 0 : (uint32_t)e->value;
    bool forced = e->kind == TR_ENV_FORCED;
    tr_ref to = {e->dst};
    if (e->dst_name.len > 0) {
        char name[TR_WIRE_NAME_MAX + 1];
        memcpy(name, e->dst_name.ptr, e->dst_name.len);
        name[e->dst_name.len] = '\0';
        if (tr_whereis(sys, name, &to) != TR_OK)
            to = TR_REF_NONE;
    }
    tr_ref sender = tr_ref_make(p->index, e->src);
    bool type_ok = forced ? (type == TR_MSG_REPLY || type == TR_MSG_ASK_TIMEOUT) : type >= TR_MSG_USER;
    if (!type_ok || tr_ref_is_remote(to)) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        tr_dead_letter_record(sys, to, sender, type, TR_EPROTO);
        return DELIVERED;
    }
    tr_mnode *n = payload_node(c, type, e);
    if (n == NULL) {
        tr_dead_letter_record(sys, to, sender, type, TR_ENOMEM);
        return DELIVERED;
    }
    n->msg.sender = sender;
    n->msg.corr = e->corr;
    if (tr_deliver(sys, NULL, to, n, forced, 0) != TR_EFULL)
        return DELIVERED;
    if (!tr_actor_backpressures(sys, to) || atomic_load(&node->stopping)) {
        tr_dead_letter_record(sys, to, sender, type, TR_EFULL);
        return DELIVERED;
    }
    return STALLED;
}

/* A message of the old session while we wait for the peer's RESET_ACK:
 * counted as a dead letter (the peer's monitors report the loss when it
 * processes our RESET); monitor requests and DOWNs are dropped (the peer
 * fires its monitors on reset, ours fired already). */
static void refuse_old_session(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    if (e->kind != TR_ENV_SEND && e->kind != TR_ENV_FORCED)
        return;
    tr_ref to = {e->dst_name.len > 0 || tr_ref_is_remote((tr_ref){e->dst}) ? 0 : e->dst};
    uint32_t type = e->value < 0 || e->value > UINT32_MAX ? 0 : (uint32_t)e->value;
    tr_dead_letter_record(node->sys, to, tr_ref_make(p->index, e->src), type, TR_ENODEDOWN);
}

/* True for a frame holding one RESET or RESET_ACK (they travel alone). */
static bool control_frame(const tr_frame_reader *r)
{
    return r->count == 1 && r->size - r->off >= 2 && (unsigned char)r->data[r->off] == 0x96 &&
           (r->data[r->off + 1] == TR_ENV_RESET || r->data[r->off + 1] == TR_ENV_RESET_ACK);
}

/* Per frame: the peer is alive, and a frame other than a reset exchange
 * after RESET_ACK starts the new session here. Returns false when the
 * frame is refused (we owe the peer a reset) or the connection is stale. */
static bool frame_admitted(struct tr_node *node, tr_conn *c, bool control, bool *refusing)
{
    tr_peer *p = c->peer;
    pthread_mutex_lock(&p->lock);
    bool current = p->conn == c, came_up = false;
    *refusing = p->reset_owed;
    if (current) {
        p->last_rx_ms = tr_now_ms();
        tr_phi_arrival(&p->phi, p->last_rx_ms);
        if (!p->up && !p->reset_owed && !control && !p->left) { /* frames behind a LEAVE revive nothing */
            p->up = true;
            tr_member_set_locked(p, TR_MEMBER_UP, 0);
            came_up = true;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (came_up) {
        pthread_mutex_lock(&node->lock);
        pthread_cond_broadcast(&node->cv);
        pthread_mutex_unlock(&node->lock);
        tr_member_dispatch(node);
        tr_gossip_peer_up(node, c->peer);
    }
    return current;
}

bool tr_inbound_frame(tr_conn *c, const uint8_t *data, size_t len)
{
    struct tr_node *node = c->node;
    tr_peer *p = c->peer;
    tr_frame_reader *r = &c->reader;
    if (!c->in_frame) {
        atomic_fetch_add_explicit(&node->frames_in, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->frames_in, 1, memory_order_relaxed);
        if (tr_frame_open(r, data, len) != TR_OK) {
            atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
            tr_net_log(node, "%s sent a malformed frame (%zu bytes): dropped", p->name, len);
            return true;
        }
        c->in_frame = true;
    }
    bool refusing;
    if (!frame_admitted(node, c, control_frame(r), &refusing)) {
        c->in_frame = false; /* a replaced connection: its frames are the old session's */
        return true;
    }
    tr_envelope e;
    int rc;
    uint64_t n = 0;
    while ((rc = c->stalled_env ? TR_OK : tr_frame_next(r, &e)) == TR_OK) {
        if (c->stalled_env) {
            e = c->stall;
            c->stalled_env = false;
        }
        switch (e.kind) {
        case TR_ENV_RESET:
        case TR_ENV_RESET_ACK: tr_session_on_control(node, p, &e); break;
        case TR_ENV_SEND:
        case TR_ENV_FORCED:
            if (refusing) {
                refuse_old_session(node, p, &e);
            } else if (deliver_in(node, c, &e) == STALLED) {
                c->stall = e; /* points into the frame, which stays in the buffer */
                c->stalled_env = true;
                atomic_fetch_add_explicit(&node->envelopes_in, n, memory_order_relaxed);
                atomic_fetch_add_explicit(&p->envelopes_in, n, memory_order_relaxed);
                return false;
            }
            break;
        case TR_ENV_MONITOR:
            if (!refusing)
                tr_node_on_monitor(node, p, &e);
            break;
        case TR_ENV_DEMONITOR:
            if (!refusing)
                tr_node_on_demonitor(node, p, &e);
            break;
        case TR_ENV_DOWN:
            if (!refusing)
                tr_node_on_down(node, p, &e);
            break;
        case TR_ENV_GOSSIP:
            if (!refusing)
                tr_gossip_on(node, p, &e);
            break;
        case TR_ENV_LEAVE: tr_member_on_leave(node, p); break;
        case TR_ENV_PING:
        case TR_ENV_PONG: tr_member_on_ping(node, p, &e); break;
        case TR_ENV_PG:
            if (!refusing)
                tr_pg_on_envelope(node, p, &e);
            break;
        default: break;
        }
        n++;
    }
    atomic_fetch_add_explicit(&node->envelopes_in, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->envelopes_in, n, memory_order_relaxed);
    if (rc == TR_EPROTO) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        tr_net_log(node, "%s sent a malformed envelope: the rest of its frame is dropped", p->name);
    }
    c->in_frame = false;
    return true;
}

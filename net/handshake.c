/* The handshake on one connection (docs/wire.md, "Handshake"):
 *
 *   initiator                          acceptor
 *   HELLO {version, name, incarnation, caps, challenge I}  ->
 *             <-  CHALLENGE {version, name, incarnation, caps, challenge A}
 *   PROOF {agent, HMAC(cookie, "I" transcript)}            ->
 *             <-  ACCEPT {agent, HMAC(cookie, "A" transcript)}   (or REFUSE)
 *
 * Nothing else is accepted before it completes. Until the initiator's
 * proof checks out the acceptor holds only the connection's fixed buffers,
 * does O(1) work per message, never dials anywhere and never waits: a wrong
 * proof is answered with one REFUSE on the same connection, which closes
 * once it is written. The service thread closes handshakes that pass their
 * deadline (handshake_timeout_ms). Runs under the node lock. */
#include <string.h>

#include "net/node_impl.h"

/* msgpack writer into a fixed buffer. */
typedef struct fixed_buf {
    uint8_t *p;
    size_t len, cap;
} fixed_buf;

static int fixed_write(void *data, const char *src, size_t len)
{
    fixed_buf *b = data;
    if (len > b->cap - b->len)
        return -1;
    memcpy(b->p + b->len, src, len);
    b->len += len;
    return 0;
}

/* Packs m into a free slot of c->hs_out: its frame length, or 0. */
static size_t pack_slot(tr_conn *c, int slot, const tr_hs_msg *m)
{
    fixed_buf b = {c->hs_out[slot], TR_FRAME_PREFIX, sizeof(c->hs_out[slot])};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, fixed_write);
    return tr_hs_pack(&pk, m) == TR_OK ? b.len : 0;
}

/* Sends m now, or after the write in flight (node lock held). */
static void send_locked(tr_conn *c, const tr_hs_msg *m)
{
    int slot = c->hs_slot ^ 1;
    size_t len = pack_slot(c, slot, m);
    if (len == 0 || c->hs_queued > 0) {
        tr_conn_close_locked(c, TR_EPROTO);
        return;
    }
    if (c->tx_busy) {
        c->hs_queued = len;
        return;
    }
    c->hs_slot = slot;
    c->tx_busy = true;
    tr_conn_write(c, (tr_frame_out){.buf = (char *)c->hs_out[slot], .len = len});
}

/* The capability bits this node offers. */
static uint64_t our_caps(const struct tr_node *node)
{
    return TR_HS_CAP_CLUSTER | (node->opts.hidden ? TR_HS_CAP_HIDDEN : 0);
}

void tr_hs_begin(tr_conn *c)
{
    if (tr_hs_random(c->my_chal, sizeof(c->my_chal)) != TR_OK) {
        tr_conn_close_locked(c, TR_ENOMEM);
        return;
    }
    if (!c->initiator)
        return; /* waits for HELLO */
    struct tr_node *node = c->node;
    tr_hs_msg m = {.kind = TR_HS_HELLO, .version = TR_WIRE_VERSION,
                   .name = {node->name, (uint32_t)strlen(node->name)},
                   .incarnation = node->incarnation, .caps = our_caps(node)};
    memcpy(m.challenge, c->my_chal, sizeof(m.challenge));
    send_locked(c, &m);
}

void tr_hs_refuse_locked(tr_conn *c, int reason)
{
    tr_hs_msg m = {.kind = TR_HS_REFUSE, .reason = reason};
    c->close_reason = reason;
    send_locked(c, &m);
    if (c->state != TR_CONN_CLOSED) {
        c->state = TR_CONN_CLOSING;
        c->tx_then_close = true;
    }
}

void tr_hs_on_written(tr_conn *c, int rv)
{
    struct tr_node *node = c->node;
    pthread_mutex_lock(&node->lock);
    tr_peer *p = c->peer;
    if (p == NULL) {
        c->tx_busy = false;
        if (rv == 0 && c->hs_queued > 0 && c->state != TR_CONN_CLOSED) {
            size_t len = c->hs_queued;
            c->hs_queued = 0;
            c->hs_slot ^= 1;
            c->tx_busy = true;
            tr_conn_write(c, (tr_frame_out){.buf = (char *)c->hs_out[c->hs_slot], .len = len});
        } else if (c->tx_then_close) {
            tr_conn_close_locked(c, c->close_reason); /* the REFUSE is out */
        }
    }
    pthread_mutex_unlock(&node->lock);
    if (p != NULL)
        tr_peer_written(p, c, rv); /* up: the peer's send side owns the writes */
}

/* The transcript both proofs cover, from this connection's point of view. */
static void transcript(tr_conn *c, tr_hs_transcript *t)
{
    struct tr_node *node = c->node;
    tr_wire_str me = {node->name, (uint32_t)strlen(node->name)};
    tr_wire_str them = {c->peer_name, (uint32_t)strlen(c->peer_name)};
    if (c->initiator) {
        *t = (tr_hs_transcript){c->my_chal, c->their_chal, me, them, node->incarnation, c->peer_inc};
    } else {
        *t = (tr_hs_transcript){c->their_chal, c->my_chal, them, me, c->peer_inc, node->incarnation};
    }
}

/* Checks the proof in m (made by the other side) with its agent id. */
static bool proof_ok(tr_conn *c, const tr_hs_msg *m)
{
    struct tr_node *node = c->node;
    tr_hs_transcript t;
    uint8_t want[TR_HS_MAC_BYTES];
    transcript(c, &t);
    return tr_hs_mac(node->cookie, node->cookie_len, !c->initiator, &t, m->agent, want) == TR_OK &&
           tr_hs_mac_equal(want, m->mac);
}

/* Our proof, into out->mac with our agent id. */
static bool prove(tr_conn *c, tr_hs_msg *out)
{
    struct tr_node *node = c->node;
    tr_hs_transcript t;
    transcript(c, &t);
    out->agent = node->agent.id;
    return tr_hs_mac(node->cookie, node->cookie_len, c->initiator, &t, out->agent, out->mac) == TR_OK;
}

static void learn_peer(tr_conn *c, const tr_hs_msg *m)
{
    memcpy(c->peer_name, m->name.ptr, m->name.len);
    c->peer_name[m->name.len] = '\0';
    c->peer_inc = m->incarnation;
    c->peer_caps = m->caps;
    memcpy(c->their_chal, m->challenge, sizeof(c->their_chal));
}

static void failed(tr_conn *c, int reason, const char *why)
{
    struct tr_node *node = c->node;
    atomic_fetch_add_explicit(&node->handshake_failures, 1, memory_order_relaxed);
    tr_net_log(node, "handshake %s %s failed: %s", c->initiator ? "with" : "from",
               c->peer_name[0] ? c->peer_name : "an unknown node", why);
    tr_conn_close_locked(c, reason);
}

/* Acceptor: HELLO arrived. */
static void on_hello(tr_conn *c, const tr_hs_msg *m)
{
    struct tr_node *node = c->node;
    learn_peer(c, m);
    if (m->version != TR_WIRE_VERSION) {
        tr_net_log(node, "refused %s: protocol version %u (ours %u)", c->peer_name, m->version,
                   TR_WIRE_VERSION);
        tr_hs_refuse_locked(c, TR_EPROTO);
        return;
    }
    if (strcmp(c->peer_name, node->name) == 0) {
        tr_net_log(node, "refused a node calling itself %s: that is this node's name", c->peer_name);
        tr_hs_refuse_locked(c, TR_ENAMETAKEN);
        return;
    }
    tr_hs_msg out = {.kind = TR_HS_CHALLENGE, .version = TR_WIRE_VERSION,
                     .name = {node->name, (uint32_t)strlen(node->name)},
                     .incarnation = node->incarnation, .caps = our_caps(node)};
    memcpy(out.challenge, c->my_chal, sizeof(out.challenge));
    c->state = TR_CONN_CHALLENGE_SENT;
    send_locked(c, &out);
}

/* Initiator: CHALLENGE arrived. */
static void on_challenge(tr_conn *c, const tr_hs_msg *m)
{
    struct tr_node *node = c->node;
    learn_peer(c, m);
    if (c->dial != NULL) {
        snprintf(c->dial->peer, sizeof(c->dial->peer), "%s", c->peer_name);
        c->dial->peer_inc = c->peer_inc;
    }
    if (m->version != TR_WIRE_VERSION) {
        failed(c, TR_EPROTO, "another protocol version");
        return;
    }
    int rc = tr_session_admit_locked(node, c);
    if (rc != TR_OK) {
        if (rc == TR_ENAMETAKEN)
            tr_net_log_peer(node, TR_LOG_ERROR, "not connecting to %s: %s", c->peer_name, tr_strerror(rc));
        tr_conn_close_locked(c, rc); /* TR_EEXIST: the other connection carries the session */
        return;
    }
    tr_hs_msg out = {.kind = TR_HS_PROOF};
    if (!prove(c, &out)) {
        failed(c, TR_ENOMEM, "libcrypto");
        return;
    }
    c->state = TR_CONN_PROOF_SENT;
    send_locked(c, &out);
}

/* Acceptor: PROOF arrived. */
static void on_proof(tr_conn *c, const tr_hs_msg *m)
{
    struct tr_node *node = c->node;
    if (!proof_ok(c, m)) {
        atomic_fetch_add_explicit(&node->refused, 1, memory_order_relaxed);
        tr_net_log(node, "refused %s: wrong cookie", c->peer_name);
        tr_hs_refuse_locked(c, TR_EREFUSED);
        return;
    }
    int rc = tr_session_admit_locked(node, c);
    if (rc != TR_OK) {
        if (rc == TR_ENAMETAKEN) {
            atomic_fetch_add_explicit(&node->refused, 1, memory_order_relaxed);
            tr_net_log(node, "refused %s: a node of that name is up under another incarnation",
                       c->peer_name);
        }
        tr_hs_refuse_locked(c, rc);
        return;
    }
    tr_hs_msg out = {.kind = TR_HS_ACCEPT};
    int slot = c->hs_slot ^ 1;
    size_t len = prove(c, &out) ? pack_slot(c, slot, &out) : 0;
    if (len == 0 || c->hs_queued > 0) {
        failed(c, TR_ENOMEM, "cannot pack ACCEPT");
        return;
    }
    c->peer_agent = m->agent;
    if (!tr_session_up_locked(node, c, &(tr_frame_out){.buf = (char *)c->hs_out[slot], .len = len}))
        tr_hs_refuse_locked(c, TR_EEXIST); /* its session is up on the other connection again */
}

/* Initiator: ACCEPT arrived. */
static void on_accept(tr_conn *c, const tr_hs_msg *m)
{
    struct tr_node *node = c->node;
    if (!proof_ok(c, m)) {
        atomic_fetch_add_explicit(&node->refused, 1, memory_order_relaxed);
        failed(c, TR_EREFUSED, "the peer could not prove it knows the cookie");
        return;
    }
    c->peer_agent = m->agent;
    if (!tr_session_up_locked(node, c, NULL))
        tr_conn_close_locked(c, TR_EEXIST); /* its session is up on the other connection again */
}

bool tr_hs_on_frame(tr_conn *c, const uint8_t *data, size_t len)
{
    struct tr_node *node = c->node;
    bool was_up = c->peer != NULL; /* set by this thread only (session up) */
    tr_hs_msg m;
    int rc = tr_hs_parse(data, len, &m);
    pthread_mutex_lock(&node->lock);
    if (c->state == TR_CONN_CLOSED || c->state == TR_CONN_CLOSING) {
        pthread_mutex_unlock(&node->lock);
        return false;
    }
    if (rc != TR_OK) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        failed(c, TR_EPROTO, "malformed handshake message");
    } else if (m.kind == TR_HS_REFUSE) {
        int reason = m.reason == TR_EPROTO || m.reason == TR_ENAMETAKEN || m.reason == TR_EEXIST
                         ? (int)m.reason
                         : TR_EREFUSED;
        if (reason != TR_EEXIST)
            tr_net_log_peer(node, TR_LOG_ERROR, "refused by %s: %s", c->peer_name[0] ? c->peer_name : "the peer",
                       tr_strerror(reason));
        tr_conn_close_locked(c, reason);
    } else if (c->state == TR_CONN_WAIT_HELLO && m.kind == TR_HS_HELLO) {
        on_hello(c, &m);
    } else if (c->state == TR_CONN_HELLO_SENT && m.kind == TR_HS_CHALLENGE) {
        on_challenge(c, &m);
    } else if (c->state == TR_CONN_CHALLENGE_SENT && m.kind == TR_HS_PROOF) {
        on_proof(c, &m);
    } else if (c->state == TR_CONN_PROOF_SENT && m.kind == TR_HS_ACCEPT) {
        on_accept(c, &m);
    } else {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        failed(c, TR_EPROTO, "handshake message out of order");
    }
    bool open = c->state != TR_CONN_CLOSED && c->state != TR_CONN_CLOSING;
    pthread_mutex_unlock(&node->lock);
    if (!was_up && c->peer != NULL) { /* the session came up: tell subscribers, then the mesh */
        tr_member_dispatch(node);
        tr_gossip_peer_up(node, c->peer);
    }
    return open;
}

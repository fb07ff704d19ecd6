/* The node: sockets, the receive loop, handshakes, heartbeats and node-down.
 *
 * Streams: each node has one pull socket listening on its URLs; towards each
 * peer it has one push socket dialling that peer. tr_node_connect opens a
 * push "dial" and sends hellos (header-only frames) carrying a random
 * dial_nonce; the peer learns our name, agent and listen URLs from them,
 * dials back and echoes the nonce, which is how our dial learns whose
 * stream it is. NNG redials broken streams by itself. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "actors/sched.h"
#include "actors/send.h"
#include "actors/table.h"
#include "net/node_impl.h"
#include "troupe/registry.h"

tr_peer *tr_node_peer(struct tr_node *node, uint32_t index)
{
    if (index == 0 || index > TR_NODE_MAX_PEERS)
        return NULL;
    return atomic_load_explicit(&node->peers[index], memory_order_acquire);
}

tr_peer *tr_node_peer_by_name(struct tr_node *node, const char *name, size_t len)
{
    pthread_mutex_lock(&node->lock);
    tr_peer *found = NULL;
    for (uint32_t i = node->npeers; i >= 1 && found == NULL; i--) {
        tr_peer *p = node->peers[i];
        if (!p->retired && strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            found = p;
    }
    pthread_mutex_unlock(&node->lock);
    return found;
}

/* ---- remote hooks ---- */

static int hook_deliver(void *vnode, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
                        int timeout_ms)
{
    struct tr_node *node = vnode;
    tr_peer *p = tr_node_peer(node, tr_ref_node(to));
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
                                                          : tr_peer_enqueue(p, sender, &e, forced, timeout_ms);
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
    pthread_mutex_lock(&p->lock); /* up and agent are written by the receive loop */
    bool up = p->up;
    out->id = ((uint64_t)p->index << TR_REF_NODE_SHIFT) | p->agent;
    pthread_mutex_unlock(&p->lock);
    return up ? TR_OK : TR_ENOTCONN;
}

static const char *hook_name(void *vnode) { return ((struct tr_node *)vnode)->name; }

static const tr_remote_ops node_ops = {
    .deliver = hook_deliver,
    .monitor = tr_node_monitor,
    .demonitor = tr_node_demonitor,
    .peer_agent = hook_peer_agent,
    .name = hook_name,
};

/* ---- inbound ---- */

/* Delivers one message envelope to a local actor. A full backpressure
 * mailbox stalls this loop (and so the TCP stream) until it drains. */
static void deliver_in(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
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
    tr_ref sender = {e->src != 0 ? ((uint64_t)p->index << TR_REF_NODE_SHIFT) | (e->src & REF_LOCAL_MASK) : 0};
    bool type_ok = forced ? (type == TR_MSG_REPLY || type == TR_MSG_ASK_TIMEOUT) : type >= TR_MSG_USER;
    if (!type_ok || tr_ref_is_remote(to)) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        tr_dead_letter_record(sys, to, sender, type, TR_EPROTO);
        return;
    }
    for (;;) {
        tr_mnode *n = tr_mnode_copy(type, e->payload, e->size);
        if (n == NULL) {
            tr_dead_letter_record(sys, to, sender, type, TR_ENOMEM);
            return;
        }
        n->msg.sender = sender;
        n->msg.corr = e->corr;
        int rc = tr_deliver(sys, NULL, to, n, forced, 100);
        if (rc != TR_EFULL)
            break;
        struct tr_actor *r;
        bool fail_fast = true;
        if (tr_table_acquire(&sys->table, to, false, &r) == TR_OK) {
            fail_fast = r->overflow != TR_OVERFLOW_BACKPRESSURE;
            tr_table_release(&sys->table, to);
        }
        if (fail_fast || atomic_load(&node->stopping)) {
            tr_dead_letter_record(sys, to, sender, type, TR_EFULL);
            break;
        }
        atomic_store(&node->rx_stalled, true); /* heartbeats wait in the stream too */
    }
    if (atomic_load_explicit(&node->rx_stalled, memory_order_relaxed)) {
        atomic_store(&node->rx_stalled, false);
        uint64_t now = tr_now_ms();
        for (uint32_t i = 1; i <= TR_NODE_MAX_PEERS; i++) {
            tr_peer *q = tr_node_peer(node, i);
            if (q == NULL)
                break;
            pthread_mutex_lock(&q->lock);
            q->last_rx_ms = now;
            pthread_mutex_unlock(&q->lock);
        }
    }
}

/* The URL to dial back a peer: one of its advertised URLs with the scheme
 * of the listener the frame came in on, a wildcard host replaced by the
 * address the connection came from. */
static bool dial_back_url(const tr_frame_header *h, nng_pipe pipe, char *out, size_t len)
{
    char scheme[32] = "";
    nng_listener l = nng_pipe_listener(pipe);
    char *lurl = NULL;
    if (nng_listener_id(l) > 0 && nng_listener_get_string(l, NNG_OPT_URL, &lurl) == 0) {
        const char *sep = strstr(lurl, "://");
        if (sep != NULL && (size_t)(sep - lurl) < sizeof(scheme))
            snprintf(scheme, sizeof(scheme), "%.*s", (int)(sep - lurl), lurl);
        nng_strfree(lurl);
    }
    for (uint32_t i = 0; i < h->nurls; i++) {
        char url[TR_WIRE_URL_MAX + 1];
        snprintf(url, sizeof(url), "%.*s", (int)h->urls[i].len, h->urls[i].ptr);
        const char *sep = strstr(url, "://");
        if (sep == NULL || (scheme[0] && (strlen(scheme) != (size_t)(sep - url) ||
                                          strncmp(url, scheme, strlen(scheme)) != 0)))
            continue;
        const char *host = sep + 3;
        bool wildcard = strncmp(host, "*:", 2) == 0 || strncmp(host, "0.0.0.0:", 8) == 0 ||
                        strncmp(host, ":", 1) == 0 || strncmp(host, "[::]:", 5) == 0;
        nng_sockaddr sa;
        if (wildcard && nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) == 0 &&
            sa.s_family == NNG_AF_INET) {
            char ip[INET_ADDRSTRLEN];
            struct in_addr a = {.s_addr = sa.s_in.sa_addr};
            inet_ntop(AF_INET, &a, ip, sizeof(ip));
            snprintf(out, len, "%.*s%s%s", (int)(sep + 3 - url), url, ip, strchr(host, ':') == host ? host : strrchr(host, ':'));
            return true;
        }
        snprintf(out, len, "%s", url);
        return true;
    }
    return false;
}

/* Sends the peer our pending RESET (lock held). */
static void send_reset_locked(struct tr_node *node, tr_peer *p)
{
    if (!p->reset_owed || !p->out.open)
        return;
    tr_envelope e = {.kind = TR_ENV_RESET, .corr = p->reset_id};
    tr_stream_control(node, &p->out, p->their_nonce, &e);
    p->last_tx_ms = tr_now_ms();
}

/* Marks a peer down (takes its lock; the caller must not hold it):
 * queued envelopes become dead letters, monitors fire, muted senders go.
 * owe_reset: we decided this on our own (silence, tr_node_disconnect), so
 * the peer must be told (a RESET now and at every heartbeat until it
 * acknowledges). */
static void peer_down(struct tr_node *node, tr_peer *p, bool owe_reset)
{
    pthread_mutex_lock(&p->lock);
    bool was_up = p->up;
    p->up = false;
    if (was_up)
        tr_peer_drop_queue_locked(p, TR_ENODEDOWN);
    if (was_up && owe_reset) {
        p->reset_owed = true;
        p->reset_id++;
        send_reset_locked(node, p);
    }
    pthread_mutex_unlock(&p->lock);
    if (!was_up)
        return;
    atomic_fetch_add_explicit(&node->node_downs, 1, memory_order_relaxed);
    tr_node_peer_down_monitors(node, p->index);
    tr_peer_release_muted(p);
}

/* Finds or creates the peer a valid header names (node lock held). */
static tr_peer *peer_for_header(struct tr_node *node, const tr_frame_header *h, tr_peer **retired)
{
    *retired = NULL;
    for (uint32_t i = node->npeers; i >= 1; i--) {
        tr_peer *p = node->peers[i];
        if (p->retired || strlen(p->name) != h->node.len || memcmp(p->name, h->node.ptr, h->node.len))
            continue;
        if (p->incarnation == h->incarnation)
            return p;
        p->retired = true; /* it restarted: its actors are gone */
        *retired = p;
        break;
    }
    if (node->npeers >= TR_NODE_MAX_PEERS)
        return NULL;
    tr_peer *p;
    if (tr_peer_create(node, &h->node, h->incarnation, &p) != TR_OK)
        return NULL;
    p->index = ++node->npeers;
    atomic_store_explicit(&node->peers[p->index], p, memory_order_release);
    return p;
}

/* Gives `p` an outgoing stream: the dial that reached it, or a new one. */
static void peer_attach_stream(struct tr_node *node, tr_peer *p, const tr_frame_header *h, nng_pipe pipe)
{
    tr_dial *adopted = NULL;
    for (int i = 0; i < TR_NODE_MAX_DIALS; i++) {
        tr_dial *d = &node->dials[i];
        if (d->in_use && d->result < 0 && h->echo_nonce != 0 && d->stream.nonce == h->echo_nonce)
            adopted = d;
    }
    pthread_mutex_lock(&p->lock);
    bool has = p->out.open;
    pthread_mutex_unlock(&p->lock);
    if (adopted != NULL) {
        adopted->peer = p->index;
        adopted->result = TR_OK;
        if (!has) {
            pthread_mutex_lock(&p->lock);
            p->out = adopted->stream;
            pthread_mutex_unlock(&p->lock);
        } else {
            tr_stream_close(&adopted->stream); /* both sides dialled: keep one */
        }
        adopted->stream.open = false;
        pthread_cond_broadcast(&node->cv);
        return;
    }
    if (has)
        return;
    tr_stream s = {0};
    if (!dial_back_url(h, pipe, s.url, sizeof(s.url)) || tr_stream_open(node, &s) != TR_OK)
        return;
    pthread_mutex_lock(&p->lock);
    p->out = s;
    pthread_mutex_unlock(&p->lock);
}

static void refuse(struct tr_node *node, const tr_frame_header *h, nng_pipe pipe, int reason);

static void handle_refusal(struct tr_node *node, tr_frame_reader *r, const tr_frame_header *h)
{
    tr_envelope e;
    if (tr_frame_next(r, &e) != TR_OK || e.kind != TR_ENV_REFUSE)
        return;
    pthread_mutex_lock(&node->lock);
    for (int i = 0; i < TR_NODE_MAX_DIALS; i++) {
        tr_dial *d = &node->dials[i];
        if (d->in_use && d->result < 0 && d->stream.nonce == h->echo_nonce) {
            d->result = e.value == TR_EPROTO ? TR_EPROTO : TR_EREFUSED;
            tr_stream_close(&d->stream);
            pthread_cond_broadcast(&node->cv);
        }
    }
    pthread_mutex_unlock(&node->lock);
}

/* The peer declared us down (a RESET with id `id`): unless we have done
 * so already for this reset or on our own, we declare it down too (monitors
 * fire, queued envelopes become dead letters), then acknowledge. The peer
 * stays down here until its first frame of the new session arrives. */
static void on_reset(struct tr_node *node, tr_peer *p, bool was_up, uint64_t id)
{
    pthread_mutex_lock(&p->lock);
    bool fresh = id != p->reset_seen;
    p->reset_seen = id;
    pthread_mutex_unlock(&p->lock);
    if (was_up && fresh)
        peer_down(node, p, false);
    pthread_mutex_lock(&p->lock);
    if (p->out.open) {
        tr_envelope ack = {.kind = TR_ENV_RESET_ACK, .corr = id};
        tr_stream_control(node, &p->out, p->their_nonce, &ack); /* lost: the next RESET asks again */
    }
    pthread_mutex_unlock(&p->lock);
}

/* A frame of the old session while we wait for the peer's RESET_ACK: its
 * messages are counted as dead letters (the peer's monitors report the
 * loss when it processes our RESET); monitor requests and DOWNs are
 * dropped (the peer fires its monitors on reset, ours fired already). */
static void refuse_old_session(struct tr_node *node, tr_peer *p, tr_frame_reader *r, const tr_envelope *first)
{
    tr_envelope e;
    uint64_t n = 0;
    int rc = TR_OK;
    bool use_first = first != NULL;
    while (use_first || (rc = tr_frame_next(r, &e)) == TR_OK) {
        if (use_first) {
            e = *first;
            use_first = false;
        }
        n++;
        if (e.kind != TR_ENV_SEND && e.kind != TR_ENV_FORCED)
            continue;
        tr_ref sender = {e.src != 0 ? ((uint64_t)p->index << TR_REF_NODE_SHIFT) | (e.src & REF_LOCAL_MASK) : 0};
        tr_ref to = {e.dst_name.len > 0 || tr_ref_is_remote((tr_ref){e.dst}) ? 0 : e.dst};
        uint32_t type = e.value < 0 || e.value > UINT32_MAX ? 0 : (uint32_t)e.value;
        tr_dead_letter_record(node->sys, to, sender, type, TR_ENODEDOWN);
    }
    atomic_fetch_add_explicit(&node->envelopes_in, n, memory_order_relaxed);
    if (rc == TR_EPROTO)
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
}

static void handle_frame(struct tr_node *node, nng_msg *m)
{
    size_t len = nng_msg_len(m);
    atomic_fetch_add_explicit(&node->frames_in, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&node->bytes_in, len, memory_order_relaxed);
    tr_frame_reader r;
    tr_frame_header h;
    tr_frame_reader_init(&r);
    int rc = tr_frame_open(&r, nng_msg_body(m), len, &h);
    if (rc != TR_OK) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        if (h.version != 0 && h.version != TR_WIRE_VERSION)
            nng_pipe_close(nng_msg_get_pipe(m)); /* another protocol version: hang up */
        tr_frame_reader_destroy(&r);
        return;
    }
    if (h.cookie_digest != node->cookie_digest) {
        if (r.count == 1 && h.echo_nonce != 0) {
            handle_refusal(node, &r, &h); /* the answer to one of our dials */
        } else {
            atomic_fetch_add_explicit(&node->refused, 1, memory_order_relaxed);
            refuse(node, &h, nng_msg_get_pipe(m), TR_EREFUSED);
        }
        tr_frame_reader_destroy(&r);
        return;
    }
    if (h.node.len == strlen(node->name) && memcmp(h.node.ptr, node->name, h.node.len) == 0 &&
        h.incarnation != node->incarnation) {
        atomic_fetch_add_explicit(&node->refused, 1, memory_order_relaxed); /* name clash */
        tr_frame_reader_destroy(&r);
        return;
    }
    /* a control frame (RESET, RESET_ACK) carries exactly one envelope */
    tr_envelope first;
    int first_rc = r.count == 1 ? tr_frame_next(&r, &first) : TR_ENOTFOUND;
    uint32_t control = first_rc == TR_OK && (first.kind == TR_ENV_RESET || first.kind == TR_ENV_RESET_ACK)
                           ? first.kind : 0;
    pthread_mutex_lock(&node->lock);
    tr_peer *retired;
    tr_peer *p = peer_for_header(node, &h, &retired);
    bool was_up = false, refused = false;
    if (p != NULL) {
        /* up before the stream is attached: a connect waiting for this
         * frame may use the peer as soon as it wakes */
        pthread_mutex_lock(&p->lock);
        was_up = p->up;
        if (control == TR_ENV_RESET_ACK && p->reset_owed && first.corr == p->reset_id)
            p->reset_owed = false; /* it has ended the old session too */
        if (control == TR_ENV_RESET && p->reset_owed && first.corr != p->reset_seen)
            p->reset_owed = false; /* both declared down: its new RESET ended its session */
        refused = p->reset_owed;
        if (!refused && control != TR_ENV_RESET) {
            p->up = true;
            p->last_rx_ms = tr_now_ms();
        }
        p->agent = h.agent;
        p->their_nonce = h.dial_nonce;
        pthread_mutex_unlock(&p->lock);
        peer_attach_stream(node, p, &h, nng_msg_get_pipe(m));
    }
    pthread_mutex_unlock(&node->lock);
    if (retired != NULL) {
        peer_down(node, retired, false);
        pthread_mutex_lock(&retired->lock);
        tr_stream_close(&retired->out);
        pthread_mutex_unlock(&retired->lock);
    }
    if (p == NULL) {
        tr_frame_reader_destroy(&r);
        return;
    }
    if (control == TR_ENV_RESET) {
        on_reset(node, p, was_up, first.corr);
        tr_frame_reader_destroy(&r);
        return;
    }
    if (refused) {
        refuse_old_session(node, p, &r, first_rc == TR_OK ? &first : NULL);
        tr_frame_reader_destroy(&r);
        return;
    }
    if (control == TR_ENV_RESET_ACK)
        first_rc = TR_ENOTFOUND; /* nothing more to do with it */
    pthread_mutex_lock(&p->lock);
    if (!was_up && p->out.open && tr_peer_idle_locked(p))
        tr_stream_hello(node, &p->out, p->their_nonce); /* tell it we are here */
    pthread_mutex_unlock(&p->lock);
    if (!was_up) {
        pthread_mutex_lock(&node->lock);
        pthread_cond_broadcast(&node->cv);
        pthread_mutex_unlock(&node->lock);
    }
    tr_envelope e;
    uint64_t n = 0;
    bool use_first = first_rc == TR_OK;
    if (first_rc == TR_EPROTO)
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
    while (use_first || (rc = tr_frame_next(&r, &e)) == TR_OK) {
        if (use_first) {
            e = first;
            use_first = false;
        }
        n++;
        switch (e.kind) {
        case TR_ENV_SEND:
        case TR_ENV_FORCED: deliver_in(node, p, &e); break;
        case TR_ENV_MONITOR: tr_node_on_monitor(node, p, &e); break;
        case TR_ENV_DEMONITOR: tr_node_on_demonitor(node, p, &e); break;
        case TR_ENV_DOWN: tr_node_on_down(node, p, &e); break;
        default: break;
        }
    }
    atomic_fetch_add_explicit(&node->envelopes_in, n, memory_order_relaxed);
    if (rc == TR_EPROTO)
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
    tr_frame_reader_destroy(&r);
}

/* ---- refusals: a one-frame answer on a short-lived stream ---- */

static void refuse(struct tr_node *node, const tr_frame_header *h, nng_pipe pipe, int reason)
{
    nng_pipe_close(pipe);
    tr_stream s = {0};
    if (!dial_back_url(h, pipe, s.url, sizeof(s.url)) || tr_stream_open(node, &s) != TR_OK)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    tr_frame_header mine;
    tr_node_header(node, s.nonce, h->dial_nonce, &mine);
    tr_envelope e = {.kind = TR_ENV_REFUSE, .value = reason};
    nng_msg *m = NULL;
    if (tr_wire_pack_header(&pk, &mine) == TR_OK && msgpack_pack_array(&pk, 1) == 0 &&
        tr_wire_pack_envelope(&pk, &e) == TR_OK && nng_msg_alloc(&m, sb.size) == 0) {
        memcpy(nng_msg_body(m), sb.data, sb.size);
        nng_socket_set_ms(s.sock, NNG_OPT_SENDTIMEO, 1000);
        if (nng_sendmsg(s.sock, m, 0) != 0)
            nng_msg_free(m);
        else
            nng_msleep(50); /* let the frame leave before the stream closes */
    }
    msgpack_sbuffer_destroy(&sb);
    tr_stream_close(&s);
}

/* Receives on rx_aio, which tr_node_stop stops (not by closing the socket:
 * see close_in_bounded). */
static void *rx_main(void *arg)
{
    struct tr_node *node = arg;
    for (;;) {
        nng_recv_aio(node->in, node->rx_aio);
        nng_aio_wait(node->rx_aio);
        int rv = nng_aio_result(node->rx_aio);
        if (rv != 0) {
            if (rv == NNG_ECLOSED || atomic_load(&node->stopping))
                break;
            continue;
        }
        nng_msg *m = nng_aio_get_msg(node->rx_aio);
        handle_frame(node, m);
        nng_msg_free(m);
    }
    return NULL;
}

/* NNG 1.5.2 (the one Debian 12 ships) can hang for good closing a socket
 * when a frame is arriving on one of its TCP pipes at that moment: the
 * transport's receive callback re-arms a read on an aio that the close has
 * just stopped, so the pipe never finishes stopping and nng_close waits on
 * it forever (as does NNG's reaper, for every socket closed afterwards).
 * Only the pull socket receives frames. A pull pipe reads its next frame
 * only while the socket has a receive waiting; with none (rx_aio stopped)
 * it parks one frame and stops reading. So tr_node_stop stops receiving
 * first, lets every live peer send once more (its heartbeat), which leaves
 * all pipes parked, and closes the socket last. What is left (a peer silent
 * that long whose frame lands during the close) is bounded: the close runs
 * on a helper thread and is waited for at most CLOSE_IN_WAIT_MS, after which
 * the socket and the helper are left behind rather than hanging the caller. */
#define CLOSE_IN_WAIT_MS 2000

typedef struct close_in_job {
    nng_socket sock;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool done;
    int refs; /* the helper and the waiter: the last one frees */
} close_in_job;

static void close_in_job_put(close_in_job *j)
{
    pthread_mutex_lock(&j->lock);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->lock);
    if (last) {
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->lock);
        free(j);
    }
}

static void *close_in_main(void *arg)
{
    close_in_job *j = arg;
    nng_close(j->sock);
    pthread_mutex_lock(&j->lock);
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->lock);
    close_in_job_put(j);
    return NULL;
}

static void close_in_bounded(nng_socket sock)
{
    close_in_job *j = calloc(1, sizeof(*j));
    pthread_t t;
    if (j == NULL) {
        nng_close(sock);
        return;
    }
    j->sock = sock;
    j->refs = 2;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cv, NULL);
    if (pthread_create(&t, NULL, close_in_main, j) != 0) {
        j->refs = 1;
        close_in_main(j); /* no thread to spare: close here */
        return;
    }
    pthread_detach(t);
    struct timespec deadline = tr_deadline_after(CLOSE_IN_WAIT_MS);
    pthread_mutex_lock(&j->lock);
    while (!j->done)
        if (!tr_cond_wait_until(&j->cv, &j->lock, CLOSE_IN_WAIT_MS, &deadline))
            break;
    pthread_mutex_unlock(&j->lock);
    close_in_job_put(j);
}

/* ---- heartbeats ---- */

static void tick_cb(void *arg)
{
    struct tr_node *node = arg;
    if (nng_aio_result(node->tick_aio) != 0 || atomic_load(&node->stopping))
        return;
    uint64_t now = tr_now_ms();
    bool stalled = atomic_load(&node->rx_stalled);
    for (uint32_t i = 1; i <= TR_NODE_MAX_PEERS; i++) {
        tr_peer *p = tr_node_peer(node, i);
        if (p == NULL)
            break;
        pthread_mutex_lock(&p->lock);
        /* the receive loop and senders stamp these after `now` was read:
         * a stamp later than now is no silence (unsigned now - stamp would
         * wrap and declare a busy peer down) */
        uint64_t rx_age = now > p->last_rx_ms ? now - p->last_rx_ms : 0;
        uint64_t tx_age = now > p->last_tx_ms ? now - p->last_tx_ms : 0;
        bool silent = p->up && !stalled && rx_age > node->opts.down_after_ms;
        if (p->reset_owed && !p->retired) {
            send_reset_locked(node, p); /* until it acknowledges */
        } else if (p->out.open && !p->retired && tr_peer_idle_locked(p) &&
                   tx_age >= node->opts.heartbeat_ms) {
            tr_stream_hello(node, &p->out, p->their_nonce);
            p->last_tx_ms = now;
        }
        pthread_mutex_unlock(&p->lock);
        if (silent)
            peer_down(node, p, true);
    }
    pthread_mutex_lock(&node->lock);
    for (int i = 0; i < TR_NODE_MAX_DIALS; i++) {
        tr_dial *d = &node->dials[i];
        if (d->in_use && d->result < 0 && d->stream.open && tr_stream_auth_failed(&d->stream)) {
            /* TLS: the peer's certificate or ours was rejected. The stream
             * is closed by tr_node_connect: nng_close must not run on an
             * NNG callback thread such as this one */
            d->result = TR_EREFUSED;
            pthread_cond_broadcast(&node->cv);
        } else if (d->in_use && d->result < 0 && d->stream.open) {
            tr_stream_hello(node, &d->stream, 0);
        }
    }
    pthread_mutex_unlock(&node->lock);
    nng_sleep_aio(node->opts.heartbeat_ms, node->tick_aio);
}

/* ---- public API ---- */

static bool name_valid(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > TR_WIRE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

static char *dup_or_null(const char *s) { return s != NULL ? strdup(s) : NULL; }

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && size < (1l << 20) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1)) != NULL) {
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        } else {
            buf[size] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* One NNG TLS configuration (server side for listeners, client side for
 * dialers) with our certificate and, when given, the CA peers must chain to. */
static int tls_config(struct tr_node *node, nng_tls_mode mode, nng_tls_config **out)
{
    if (nng_tls_config_alloc(out, mode) != 0)
        return TR_ENOMEM;
    int rv;
    if (node->tls_key != NULL) {
        char *cert = read_file(node->tls_cert), *key = read_file(node->tls_key);
        rv = cert != NULL && key != NULL ? nng_tls_config_own_cert(*out, cert, key, NULL) : NNG_ENOENT;
        free(cert);
        free(key);
    } else {
        rv = nng_tls_config_cert_key_file(*out, node->tls_cert, NULL);
    }
    if (rv == 0 && node->tls_ca != NULL)
        rv = nng_tls_config_ca_file(*out, node->tls_ca);
    if (rv == 0)
        rv = nng_tls_config_auth_mode(*out, node->tls_ca != NULL ? NNG_TLS_AUTH_MODE_REQUIRED
                                                                 : NNG_TLS_AUTH_MODE_NONE);
    return rv == 0 ? TR_OK : TR_EINVAL;
}

static int tls_setup(struct tr_node *node)
{
    if (node->tls_cert == NULL)
        return TR_OK;
    int rc = tls_config(node, NNG_TLS_MODE_SERVER, &node->tls);
    if (rc == TR_OK)
        rc = tls_config(node, NNG_TLS_MODE_CLIENT, &node->tls_client);
    return rc;
}

void tr_node_free_tls(struct tr_node *node);

int tr_node_start(tr_system *sys, const tr_node_opts *opts, tr_node **out)
{
    if (sys == NULL || opts == NULL || out == NULL || !name_valid(opts->name))
        return TR_EINVAL;
    if (tr_remote_node(sys) != NULL)
        return TR_EINVAL;
    struct tr_node *node = calloc(1, sizeof(*node));
    if (node == NULL)
        return TR_ENOMEM;
    node->sys = sys;
    node->opts = *opts;
    snprintf(node->name, sizeof(node->name), "%s", opts->name);
    node->opts.name = node->name;
    node->cookie_digest = tr_wire_digest(opts->cookie != NULL ? opts->cookie : "");
    node->opts.cookie = NULL;
    if (node->opts.heartbeat_ms == 0)
        node->opts.heartbeat_ms = 250;
    if (node->opts.down_after_ms == 0)
        node->opts.down_after_ms = 8 * node->opts.heartbeat_ms;
    if (node->opts.queue_capacity == 0)
        node->opts.queue_capacity = 65536;
    if (node->opts.max_frame_bytes == 0)
        node->opts.max_frame_bytes = 16u << 20;
    node->incarnation = ((uint64_t)nng_random() << 32) | nng_random();
    node->tls_cert = dup_or_null(opts->tls_cert_file);
    node->tls_key = dup_or_null(opts->tls_key_file);
    node->tls_ca = dup_or_null(opts->tls_ca_file);
    pthread_mutex_init(&node->lock, NULL);
    pthread_cond_init(&node->cv, NULL);
    int rc = tls_setup(node);
    if (rc == TR_OK && nng_pull0_open(&node->in) != 0)
        rc = TR_EADDR;
    if (rc == TR_OK) {
        nng_socket_set_size(node->in, NNG_OPT_RECVMAXSZ, node->opts.max_frame_bytes);
        rc = tr_node_agent_start(node);
        if (rc == TR_OK && (rc = tr_remote_attach(sys, &node_ops, node)) != TR_OK)
            tr_stop(sys, node->agent);
        if (rc != TR_OK)
            nng_close(node->in);
    }
    if (rc == TR_OK && nng_aio_alloc(&node->tick_aio, tick_cb, node) != 0)
        rc = TR_ENOMEM;
    if (rc == TR_OK && nng_aio_alloc(&node->rx_aio, NULL, NULL) != 0)
        rc = TR_ENOMEM;
    if (rc == TR_OK && pthread_create(&node->rx_thread, NULL, rx_main, node) != 0)
        rc = TR_ENOMEM;
    if (rc != TR_OK) {
        /* partial start: undo (rare; only resource exhaustion gets here) */
        tr_remote_detach(sys);
        tr_node_free_tls(node);
        free(node);
        return rc;
    }
    nng_sleep_aio(node->opts.heartbeat_ms, node->tick_aio);
    *out = node;
    return TR_OK;
}

void tr_node_free_tls(struct tr_node *node)
{
    if (node->tls != NULL)
        nng_tls_config_free(node->tls);
    if (node->tls_client != NULL)
        nng_tls_config_free(node->tls_client);
    free(node->tls_cert);
    free(node->tls_key);
    free(node->tls_ca);
}

void tr_node_stop(tr_node *node)
{
    if (node == NULL)
        return;
    atomic_store(&node->stopping, true);
    for (uint32_t i = 1; i <= TR_NODE_MAX_PEERS; i++) {
        tr_peer *p = tr_node_peer(node, i);
        if (p == NULL)
            break;
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->room_cv);
        pthread_mutex_unlock(&p->lock);
    }
    tr_remote_detach(node->sys);
    nng_aio_stop(node->tick_aio);
    nng_aio_free(node->tick_aio);
    nng_aio_stop(node->rx_aio); /* ends rx_main; the pull pipes park (see close_in_bounded) */
    pthread_join(node->rx_thread, NULL);
    nng_aio_free(node->rx_aio);
    uint64_t rx_stopped = tr_now_ms();
    for (uint32_t i = 1; i <= node->npeers; i++) {
        tr_peer *p = node->peers[i];
        peer_down(node, p, false);
        tr_peer_destroy(p);
    }
    for (int i = 0; i < TR_NODE_MAX_DIALS; i++)
        tr_stream_close(&node->dials[i].stream);
    tr_node_peer_down_monitors(node, 0); /* whatever is left */
    tr_stop(node->sys, node->agent);
    tr_await_exit(node->sys, node->agent, -1, NULL);
    while (node->rmons != NULL) {
        tr_rmon *m = node->rmons;
        node->rmons = m->next;
        free(m);
    }
    while (node->proxies != NULL) {
        tr_proxy_mon *m = node->proxies;
        node->proxies = m->next;
        free(m);
    }
    /* two heartbeats (at least 50 ms, at most 1 s) after the receive
     * stopped, live peers' pipes are parked */
    uint64_t quiet = 2u * node->opts.heartbeat_ms, spent = tr_now_ms() - rx_stopped;
    quiet = quiet < 50 ? 50 : quiet > 1000 ? 1000 : quiet;
    if (spent < quiet)
        nng_msleep((nng_duration)(quiet - spent));
    close_in_bounded(node->in); /* last: it may have to be left behind */
    tr_node_free_tls(node);
    pthread_cond_destroy(&node->cv);
    pthread_mutex_destroy(&node->lock);
    free(node);
}

const char *tr_node_name(const tr_node *node) { return node != NULL ? node->name : ""; }

static int nng_to_tr(int rv)
{
    switch (rv) {
    case 0: return TR_OK;
    case NNG_ENOMEM: return TR_ENOMEM;
    default: return TR_EADDR;
    }
}

int tr_node_listen(tr_node *node, const char *url, char *bound_url, size_t len)
{
    if (node == NULL || url == NULL || strlen(url) > TR_WIRE_URL_MAX - 8)
        return TR_EINVAL;
    pthread_mutex_lock(&node->lock);
    bool full = node->nlisten >= TR_NODE_MAX_LISTEN;
    pthread_mutex_unlock(&node->lock);
    if (full)
        return TR_ETOOBIG;
    nng_listener l;
    int rv = nng_listener_create(&l, node->in, url);
    if (rv == 0 && strncmp(url, "tls+", 4) == 0)
        rv = node->tls != NULL ? nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, node->tls) : NNG_EINVAL;
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0) {
        if (nng_listener_id(l) > 0)
            nng_listener_close(l);
        return nng_to_tr(rv);
    }
    char actual[TR_WIRE_URL_MAX + 1];
    snprintf(actual, sizeof(actual), "%s", url);
    int port = 0;
    const char *colon = strrchr(url, ':');
    if (strstr(url, "tcp://") != NULL && colon != NULL && strcmp(colon, ":0") == 0 &&
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
        snprintf(actual, sizeof(actual), "%.*s:%d", (int)(colon - url), url, port);
    pthread_mutex_lock(&node->lock);
    snprintf(node->listen_urls[node->nlisten++], TR_WIRE_URL_MAX + 1, "%s", actual);
    pthread_mutex_unlock(&node->lock);
    if (bound_url != NULL && len > 0)
        snprintf(bound_url, len, "%s", actual);
    return TR_OK;
}

/* True when peer `index` is up (node lock held; takes the peer's). */
static bool peer_up_locked(struct tr_node *node, uint32_t index)
{
    tr_peer *p = tr_node_peer(node, index);
    if (p == NULL)
        return false;
    pthread_mutex_lock(&p->lock);
    bool up = p->up;
    pthread_mutex_unlock(&p->lock);
    return up;
}

int tr_node_connect(tr_node *node, const char *url, int timeout_ms, char *peer_name, size_t len)
{
    if (node == NULL || url == NULL || strlen(url) > TR_WIRE_URL_MAX)
        return TR_EINVAL;
    if (tr_sched_current_worker() != NULL)
        return TR_ECONTEXT;
    pthread_mutex_lock(&node->lock);
    tr_dial *d = NULL;
    for (int i = 0; i < TR_NODE_MAX_DIALS && d == NULL; i++)
        if (!node->dials[i].in_use)
            d = &node->dials[i];
    if (node->nlisten == 0 || d == NULL) {
        pthread_mutex_unlock(&node->lock);
        return node->nlisten == 0 ? TR_EINVAL : TR_ETOOBIG;
    }
    memset(d, 0, sizeof(*d));
    snprintf(d->stream.url, sizeof(d->stream.url), "%s", url);
    int rc = tr_stream_open(node, &d->stream);
    if (rc != TR_OK) {
        pthread_mutex_unlock(&node->lock);
        return rc;
    }
    d->in_use = true;
    d->result = -1;
    tr_stream_hello(node, &d->stream, 0);
    struct timespec deadline = tr_deadline_after(timeout_ms);
    /* done once adopted and the peer is up (after a node-down, up waits
     * for the reset exchange: docs/wire.md) */
    while ((d->result < 0 || (d->result == TR_OK && !peer_up_locked(node, d->peer))) &&
           !atomic_load(&node->stopping))
        if (!tr_cond_wait_until(&node->cv, &node->lock, timeout_ms, &deadline))
            break;
    rc = d->result < 0 || (d->result == TR_OK && !peer_up_locked(node, d->peer)) ? TR_ETIMEDOUT : d->result;
    if (rc == TR_OK) {
        tr_peer *p = tr_node_peer(node, d->peer);
        if (peer_name != NULL && len > 0)
            snprintf(peer_name, len, "%s", p != NULL ? p->name : "");
    }
    if (d->result != TR_OK && d->result >= 0)
        tr_stream_close(&d->stream); /* refused (may be open still: TLS) */
    if (d->result >= 0)
        d->in_use = false; /* done; on a timeout the dial keeps trying */
    pthread_mutex_unlock(&node->lock);
    return rc;
}

bool tr_node_peer_up(tr_node *node, const char *peer_name)
{
    if (node == NULL || peer_name == NULL)
        return false;
    tr_peer *p = tr_node_peer_by_name(node, peer_name, strlen(peer_name));
    if (p == NULL)
        return false;
    pthread_mutex_lock(&p->lock);
    bool up = p->up;
    pthread_mutex_unlock(&p->lock);
    return up;
}

int tr_node_disconnect(tr_node *node, const char *peer_name)
{
    if (node == NULL || peer_name == NULL)
        return TR_EINVAL;
    tr_peer *p = tr_node_peer_by_name(node, peer_name, strlen(peer_name));
    if (p == NULL)
        return TR_ENOTFOUND;
    peer_down(node, p, true);
    return TR_OK;
}

int tr_node_of(tr_node *node, tr_ref ref, char *buf, size_t len)
{
    if (node == NULL || buf == NULL || len == 0)
        return TR_EINVAL;
    if (!tr_ref_is_remote(ref)) {
        buf[0] = '\0';
        return TR_OK;
    }
    tr_peer *p = tr_node_peer(node, tr_ref_node(ref));
    if (p == NULL)
        return TR_ENOTFOUND;
    snprintf(buf, len, "%s", p->name);
    return TR_OK;
}

void tr_node_stats_get(tr_node *node, tr_node_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (node == NULL)
        return;
    out->frames_out = atomic_load(&node->frames_out);
    out->frames_in = atomic_load(&node->frames_in);
    out->envelopes_out = atomic_load(&node->envelopes_out);
    out->envelopes_in = atomic_load(&node->envelopes_in);
    out->bytes_out = atomic_load(&node->bytes_out);
    out->bytes_in = atomic_load(&node->bytes_in);
    out->bad_frames = atomic_load(&node->bad_frames);
    out->refused = atomic_load(&node->refused);
    out->node_downs = atomic_load(&node->node_downs);
    out->queue_full = atomic_load(&node->queue_full);
    out->not_connected = atomic_load(&node->not_connected);
    for (uint32_t i = 1; i <= TR_NODE_MAX_PEERS; i++) {
        tr_peer *p = tr_node_peer(node, i);
        if (p == NULL)
            break;
        pthread_mutex_lock(&p->lock);
        out->peers_up += p->up;
        pthread_mutex_unlock(&p->lock);
    }
}

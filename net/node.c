/* The node's public API (troupe/node.h): start, stop, listen, connect,
 * disconnect, stats. How the parts fit: net/node_impl.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "net/node_impl.h"
#include "net/pg.h"

static char *dup_or_null(const char *s) { return s != NULL ? strdup(s) : NULL; }

static void node_free(struct tr_node *node)
{
    tr_tls_free(node);
    tr_dial_free_all(node);
    tr_member_free(node);
    pthread_mutex_destroy(&node->ev_lock);
    free(node->cookie);
    pthread_cond_destroy(&node->cv);
    pthread_mutex_destroy(&node->lock);
    free(node);
}

int tr_node_start(tr_system *sys, const tr_node_opts *opts, tr_node **out)
{
    if (sys == NULL || opts == NULL || out == NULL || opts->name == NULL ||
        !tr_node_name_valid(opts->name, strlen(opts->name)))
        return TR_EINVAL;
    if (tr_remote_node(sys) != NULL)
        return TR_EINVAL;
    tr_dial_sweep_graveyard();
    struct tr_node *node = calloc(1, sizeof(*node));
    if (node == NULL)
        return TR_ENOMEM;
    node->sys = sys;
    node->log_hostile = (tr_log_limiter)TR_LOG_LIMITER_INIT(5, 1);
    node->log_peers = (tr_log_limiter)TR_LOG_LIMITER_INIT(20, 5);
    node->opts = *opts;
    snprintf(node->name, sizeof(node->name), "%s", opts->name);
    node->opts.name = node->name;
    node->cookie = strdup(opts->cookie != NULL ? opts->cookie : "");
    node->cookie_len = node->cookie != NULL ? strlen(node->cookie) : 0;
    node->opts.cookie = NULL;
    if (node->opts.heartbeat_ms == 0)
        node->opts.heartbeat_ms = 250;
    if (node->opts.down_after_ms == 0)
        node->opts.down_after_ms = 8 * node->opts.heartbeat_ms;
    if (node->opts.queue_capacity == 0)
        node->opts.queue_capacity = 65536;
    if (node->opts.max_frame_bytes == 0)
        node->opts.max_frame_bytes = 16u << 20;
    if (node->opts.handshake_timeout_ms == 0)
        node->opts.handshake_timeout_ms = 5000;
    if (node->opts.forget_after_ms == 0)
        node->opts.forget_after_ms = 60000;
    if (node->opts.redial_max_ms == 0)
        node->opts.redial_max_ms = 2000;
    if (node->opts.gossip_ms == 0)
        node->opts.gossip_ms = 1000;
    if (!(node->opts.phi_threshold > 0)) /* 0, negative or NaN */
        node->opts.phi_threshold = 8;
    node->tls_cert = dup_or_null(opts->tls_cert_file);
    node->tls_key = dup_or_null(opts->tls_key_file);
    node->tls_ca = dup_or_null(opts->tls_ca_file);
    node->opts.tls_cert_file = node->opts.tls_key_file = node->opts.tls_ca_file = NULL;
    pthread_mutex_init(&node->lock, NULL);
    pthread_mutex_init(&node->ev_lock, NULL);
    pthread_cond_init(&node->cv, NULL);
    int rc = node->cookie == NULL ? TR_ENOMEM : tr_hs_random(&node->incarnation, sizeof(node->incarnation));
    if (rc == TR_OK)
        rc = tr_tls_setup(node);
    if (rc == TR_OK)
        rc = tr_node_agent_start(node);
    if (rc == TR_OK && (rc = tr_pg_start(node)) != TR_OK)
        tr_stop(sys, node->agent);
    if (rc == TR_OK && (rc = tr_remote_attach(sys, &tr_node_ops, node)) != TR_OK)
        tr_stop(sys, node->agent);
    if (rc == TR_OK && (rc = tr_service_start(node)) != TR_OK) {
        tr_remote_detach(sys);
        tr_stop(sys, node->agent);
    }
    if (rc != TR_OK) {
        tr_pg_stop(node);
        node_free(node);
        return rc;
    }
    *out = node;
    return TR_OK;
}

void tr_node_stop(tr_node *node)
{
    if (node == NULL)
        return;
    atomic_store(&node->stopping, true);
    tr_seeds_stop(node);
    for (uint32_t i = 1; i <= atomic_load(&node->npeers); i++) {
        tr_peer *p = tr_peer_pin(node, i);
        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->room_cv);
        pthread_mutex_unlock(&p->lock);
        tr_peer_unpin(p);
    }
    tr_remote_detach(node->sys);
    atomic_store(&node->detached, true); /* workers' watches are forgotten (conn.c, "Watching") */
    tr_service_stop(node);
    tr_listen_stop_all(node);
    tr_dial_stop_all(node);
    pthread_mutex_lock(&node->lock);
    for (tr_conn *c = node->conns; c != NULL; c = c->next)
        tr_conn_close_locked(c, TR_ENODEDOWN);
    pthread_mutex_unlock(&node->lock);
    tr_conn_reap(node, tr_now_ms()); /* peers on them go down: their monitors fire */
    for (uint32_t i = 1; i <= node->npeers; i++)
        if (node->peers[i] != NULL)
            tr_peer_down(node, node->peers[i], false, TR_ESHUTDOWN);
    tr_pg_stop(node); /* before the peers go: its actor may still be sending to them */
    tr_node_peer_down_monitors(node, 0); /* whatever is left */
    /* the agent forwards DOWNs to peers (monitors.c): it has ended before
     * they are freed (a DOWN it was forwarding read a freed peer: TSan) */
    tr_stop(node->sys, node->agent);
    tr_await_exit(node->sys, node->agent, -1, NULL);
    for (uint32_t i = 1; i <= node->npeers; i++)
        tr_peer_destroy(node->peers[i]);
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
    node_free(node);
}

const char *tr_node_name(const tr_node *node) { return node != NULL ? node->name : ""; }

int tr_node_listen(tr_node *node, const char *url, char *bound_url, size_t len)
{
    if (node == NULL || url == NULL || strlen(url) > TR_WIRE_URL_MAX - 8)
        return TR_EINVAL;
    return tr_listen_start(node, url, bound_url, len);
}

/* True when the peer called `name` is up (node lock held). */
static bool named_peer_up(struct tr_node *node, const char *name, const char **out)
{
    for (uint32_t i = node->npeers; i >= 1; i--) {
        tr_peer *p = node->peers[i];
        if (p == NULL || p->retired || strcmp(p->name, name) != 0)
            continue;
        pthread_mutex_lock(&p->lock);
        bool up = p->up;
        pthread_mutex_unlock(&p->lock);
        *out = p->name;
        return up;
    }
    return false;
}

static bool final_refusal(int result)
{
    return result == TR_EREFUSED || result == TR_EPROTO || result == TR_ENAMETAKEN || result == TR_EADDR;
}

int tr_node_connect(tr_node *node, const char *url, int timeout_ms, char *peer_name, size_t len)
{
    if (node == NULL || url == NULL || strlen(url) > TR_WIRE_URL_MAX)
        return TR_EINVAL;
    if (tr_sched_current_worker() != NULL)
        return TR_ECONTEXT;
    if (atomic_load(&node->leaving))
        return TR_ECLOSED;
    pthread_mutex_lock(&node->lock);
    int rc;
    tr_dial *d = tr_dial_get_locked(node, url, &rc);
    if (d == NULL) {
        pthread_mutex_unlock(&node->lock);
        return rc;
    }
    if (d->result != TR_OK)
        d->result = -1; /* a new attempt */
    tr_backoff_reset(&d->backoff);
    d->next_ms = 0;
    d->waiters++;
    d->wanted_ms = tr_now_ms();
    const char *name = NULL;
    if (d->peer[0] == '\0' || !named_peer_up(node, d->peer, &name))
        tr_dial_start_locked(node, d); /* connected already: nothing to dial */
    struct timespec deadline = tr_deadline_after(timeout_ms);
    for (;;) {
        if (final_refusal(d->result)) {
            rc = d->result;
            break;
        }
        if (d->peer[0] != '\0' && named_peer_up(node, d->peer, &name)) {
            rc = TR_OK;
            break;
        }
        if (atomic_load(&node->stopping) ||
            !tr_cond_wait_until(&node->cv, &node->lock, timeout_ms, &deadline)) {
            rc = TR_ETIMEDOUT; /* dialling continues */
            break;
        }
    }
    if (rc == TR_OK && peer_name != NULL && len > 0)
        snprintf(peer_name, len, "%s", name);
    d->waiters--; /* a refused record stays (not redialled) until the node stops */
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
    tr_peer_unpin(p);
    return up;
}

int tr_node_disconnect(tr_node *node, const char *peer_name)
{
    if (node == NULL || peer_name == NULL)
        return TR_EINVAL;
    tr_peer *p = tr_node_peer_by_name(node, peer_name, strlen(peer_name));
    if (p == NULL)
        return TR_ENOTFOUND;
    tr_net_log_peer(node, TR_LOG_WARN, "peer %s down: disconnected", p->name);
    tr_peer_down(node, p, true, TR_ECANCELLED);
    tr_peer_unpin(p);
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
    tr_peer *p = tr_peer_pin(node, tr_ref_node(ref));
    if (p == NULL)
        return TR_ENOTFOUND;
    snprintf(buf, len, "%s", p->name);
    tr_peer_unpin(p);
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
    out->handshake_failures = atomic_load(&node->handshake_failures);
    out->dials = atomic_load(&node->dials_made);
    for (uint32_t i = 1; i <= atomic_load(&node->npeers); i++) {
        tr_peer *p = tr_peer_pin(node, i);
        if (p == NULL)
            continue;
        out->members += !atomic_load(&p->retired);
        pthread_mutex_lock(&p->lock);
        out->peers_up += p->up;
        pthread_mutex_unlock(&p->lock);
        tr_peer_unpin(p);
    }
}

int tr_node_leave(tr_node *node, int timeout_ms)
{
    if (node == NULL)
        return TR_EINVAL;
    if (tr_sched_current_worker() != NULL)
        return TR_ECONTEXT;
    if (atomic_exchange(&node->leaving, true))
        return TR_OK; /* left already */
    tr_net_log_peer(node, TR_LOG_INFO, "this node leaves the cluster");
    /* no new dials or connections from here on (listen.c, conn.c); every
     * peer up is told, behind what is queued for it */
    pthread_mutex_lock(&node->lock);
    for (uint32_t i = 0; i < node->dials.len; i++)
        node->dials.at[i]->result = TR_ESHUTDOWN;
    for (uint32_t i = 1; i <= node->npeers; i++) {
        tr_peer *p = node->peers[i];
        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->lock);
        if (p->up && p->conn != NULL && (p->caps & TR_HS_CAP_CLUSTER)) {
            tr_envelope e = {.kind = TR_ENV_LEAVE};
            tr_peer_control_locked(p, &e);
            p->told_leave = p->conn;
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&node->lock);
    /* flushed: nothing queued or in flight on any link; then each peer
     * told closes the connection once it has read the LEAVE (member.c).
     * Closing first could lose the LEAVE: a socket closed with unread bytes
     * (the peer's heartbeats) sends a reset, and the peer's side drops what
     * it had not read yet. */
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : tr_now_ms() + (uint64_t)timeout_ms;
    int rc = TR_OK;
    for (;;) {
        bool busy = false, told_open = false;
        pthread_mutex_lock(&node->lock);
        for (uint32_t i = 1; i <= node->npeers && !busy; i++) {
            tr_peer *p = node->peers[i];
            if (p == NULL)
                continue;
            pthread_mutex_lock(&p->lock);
            busy = p->conn != NULL && p->up && !tr_peer_idle_locked(p);
            told_open |= p->conn != NULL && p->conn == p->told_leave;
            pthread_mutex_unlock(&p->lock);
        }
        pthread_mutex_unlock(&node->lock);
        if (!busy && !told_open)
            break;
        if (tr_now_ms() >= deadline) {
            if (busy)
                rc = TR_ETIMEDOUT; /* a peer that read nothing more is closed on anyway */
            break;
        }
        nng_msleep(1); /* waits for NNG to finish the writes: no event to wait on */
    }
    pthread_mutex_lock(&node->lock);
    for (tr_conn *c = node->conns; c != NULL; c = c->next)
        tr_conn_close_locked(c, TR_ESHUTDOWN);
    pthread_mutex_unlock(&node->lock);
    tr_conn_reap(node, tr_now_ms()); /* the sessions end here: NODE_DOWN with TR_ESHUTDOWN */
    return rc;
}

/* The node's service thread: every heartbeat interval it sends a
 * heartbeat (an empty frame, or once a second a PING whose PONG measures
 * the round trip) on every idle link, declares down the peers whose silence
 * has become unlikely for a live one (phi.h), repeats owed RESETs, forgets members (member.c) and every
 * gossip_ms sends the member list to one peer (gossip.c); every tick (at most
 * 50 ms, or when woken) it redials dial records, closes handshakes past
 * their deadline and frees closed connections; once a heartbeat interval
 * it trims the cache of free receive blocks (rx_block.c). It is the only thread that
 * waits on NNG (nng_aio_stop when freeing a connection): callbacks never do. */
#include "net/node_impl.h"

#define TICK_MAX_MS 50
#define PING_EVERY_MS 1000

double tr_peer_phi_locked(const tr_peer *p, uint64_t now)
{
    const struct tr_node *node = p->node;
    return p->up ? tr_phi_value(&p->phi, now, node->opts.down_after_ms, node->opts.heartbeat_ms / 4) : 0;
}

/* ours: this thread itself did not run for a long while (this process was
 * stopped, SIGSTOP, or starved): the silence it would see now is its own
 * doing, and judging it would declare the whole cluster down at once, then
 * end sessions the peers had already brought back. Every detector starts
 * over from now instead (peers that did go away meanwhile are found a
 * detection time later, or at once if their connection closed). */
static void heartbeats(struct tr_node *node, uint64_t now, bool ours)
{
    uint32_t npeers = atomic_load(&node->npeers);
    for (uint32_t i = 1; i <= npeers; i++) {
        tr_peer *p = tr_peer_pin(node, i);
        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->lock);
        /* the receive side and senders stamp these after `now` was read:
         * a stamp later than now is no silence (unsigned now - stamp would
         * wrap and declare a busy peer down) */
        uint64_t rx_age = now > p->last_rx_ms ? now - p->last_rx_ms : 0;
        uint64_t tx_age = now > p->last_tx_ms ? now - p->last_tx_ms : 0;
        if (ours && p->up)
            tr_phi_start(&p->phi, now, node->opts.heartbeat_ms);
        double phi = tr_peer_phi_locked(p, now);
        bool silent = phi >= node->opts.phi_threshold;
        if (p->reset_owed && !p->retired) {
            tr_envelope e = {.kind = TR_ENV_RESET, .corr = p->reset_id};
            if (tx_age >= node->opts.heartbeat_ms && tr_peer_idle_locked(p)) {
                tr_peer_control_locked(p, &e); /* until it acknowledges */
                p->last_tx_ms = now;
            }
        } else if (p->conn != NULL && !p->retired && tx_age >= node->opts.heartbeat_ms) {
            if ((p->caps & TR_HS_CAP_CLUSTER) && p->up && now - p->last_ping_ms >= PING_EVERY_MS &&
                tr_peer_idle_locked(p)) {
                tr_member_ping_locked(p);
                p->last_ping_ms = now;
            } else {
                tr_peer_control_locked(p, NULL);
            }
            p->last_tx_ms = now;
        }
        pthread_mutex_unlock(&p->lock);
        if (silent) {
            tr_net_log_peer(node, TR_LOG_WARN, "peer %s down: silent for %llu ms (phi %.1f)", p->name,
                            (unsigned long long)rx_age, phi);
            tr_peer_down(node, p, true, TR_ETIMEDOUT);
        }
        tr_peer_unpin(p);
    }
}

static void *service_main(void *arg)
{
    struct tr_node *node = arg;
    uint32_t tick = node->opts.heartbeat_ms < TICK_MAX_MS ? node->opts.heartbeat_ms : TICK_MAX_MS;
    uint64_t next_beat = tr_now_ms() + node->opts.heartbeat_ms;
    /* late by half the acceptable pause (two heartbeats at least): we paused */
    uint64_t self_pause = node->opts.down_after_ms / 2;
    if (self_pause < 2u * node->opts.heartbeat_ms)
        self_pause = 2u * node->opts.heartbeat_ms;
    pthread_mutex_lock(&node->lock);
    while (!atomic_load(&node->stopping)) {
        if (!node->service_wake) {
            struct timespec deadline = tr_deadline_after((int)tick);
            tr_cond_wait_until(&node->cv, &node->lock, (int)tick, &deadline);
        }
        node->service_wake = false;
        if (atomic_load(&node->stopping))
            break;
        uint64_t now = tr_now_ms();
        tr_dial_tick_locked(node, now);
        pthread_mutex_unlock(&node->lock);
        tr_conn_reap(node, now);
        tr_conn_watch_tick(node);
        if (now >= next_beat) {
            heartbeats(node, now, now - next_beat > self_pause);
            next_beat = now + node->opts.heartbeat_ms;
            pthread_mutex_lock(&node->lock);
            tr_member_tick_locked(node, now);
            pthread_mutex_unlock(&node->lock);
            tr_gossip_tick(node, now);
            tr_rx_block_trim();
        }
        pthread_mutex_lock(&node->lock);
    }
    pthread_mutex_unlock(&node->lock);
    return NULL;
}

void tr_service_wake_locked(struct tr_node *node)
{
    node->service_wake = true;
    pthread_cond_broadcast(&node->cv);
}

int tr_service_start(struct tr_node *node)
{
    return pthread_create(&node->service, NULL, service_main, node) == 0 ? TR_OK : TR_ENOMEM;
}

void tr_service_stop(struct tr_node *node)
{
    pthread_mutex_lock(&node->lock);
    pthread_cond_broadcast(&node->cv);
    pthread_mutex_unlock(&node->lock);
    pthread_join(node->service, NULL);
}

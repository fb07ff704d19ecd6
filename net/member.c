/* The membership view (troupe/node.h, "Membership"): every peer slot is a
 * member with a state (CONNECTING, UP, DOWN, LEFT), node events for
 * subscribers and internal hooks, and forgetting.
 *
 * Events: a peer's session flips up or down under its lock (session.c,
 * inbound.c); tr_member_set_locked records the state there and queues one
 * event per flip between up and not up, so each transition is queued once
 * and in the order it happened. tr_member_dispatch then delivers the queue
 * with no lock held, one thread at a time (whoever finds it idle drains
 * it), so subscribers and hooks see the events in queue order.
 *
 * Forgetting: a member left, or down (or never up) longer than
 * forget_after_ms, is forgotten: its dial records stop, it leaves the table
 * and its record is freed, at once or, while a thread still holds it (a
 * pin, tr_peer_pin, or a connection not freed yet), on a later tick; then
 * its index is free. So what a node holds is bounded by the members it
 * has now, not by how many have come and gone.
 *
 * Indexes: the node part of a reference is 12 bits, an index into the
 * table, and nothing in a reference tells one holder of an index from the
 * next (a tr_ref has no bit left for a creation number, as Erlang's pids
 * carry). So indexes are handed out in order, 1 to 4095, and only then
 * again, free ones oldest first: a reference to an actor of a forgotten
 * node finds no member at its index (TR_ENOTCONN, counted in not_connected
 * and as a dead letter) until 4094 other nodes have been admitted after
 * it was forgotten; only then may it reach the node that holds the index
 * next. Internal holders of an index (monitors, process groups) drop it
 * when its node goes down, before it can be forgotten. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "net/node_impl.h"

#define LEFT_FORGET_MS 5000     /* a member that left stays listed (as LEFT) this long at most */

void tr_member_set_locked(tr_peer *p, tr_member_state state, int reason)
{
    tr_member_state old = p->mstate;
    if (old == state)
        return;
    p->mstate = state;
    p->mreason = state == TR_MEMBER_UP ? 0 : reason;
    p->since_ms = tr_now_ms();
    bool up = state == TR_MEMBER_UP;
    if (up == (old == TR_MEMBER_UP))
        return; /* CONNECTING -> DOWN, DOWN -> LEFT: no transition of the session */
    struct tr_node *node = p->node;
    tr_member_ev *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        tr_net_log_peer(node, TR_LOG_ERROR, "node event of %s lost: out of memory", p->name);
        return;
    }
    snprintf(e->ev.name, sizeof(e->ev.name), "%s", p->name);
    e->ev.incarnation = p->incarnation;
    e->ev.hidden = p->hidden;
    e->ev.reason = up ? 0 : reason;
    e->up = up;
    pthread_mutex_lock(&node->ev_lock);
    if (node->ev_tail != NULL)
        node->ev_tail->next = e;
    else
        node->ev_head = e;
    node->ev_tail = e;
    pthread_mutex_unlock(&node->ev_lock);
}

/* Delivers one event to a subscriber; false when the subscriber is gone. */
static bool notify(struct tr_node *node, tr_ref actor, const tr_member_ev *e)
{
    tr_mnode *n = tr_mnode_copy(e->up ? TR_MSG_NODE_UP : TR_MSG_NODE_DOWN, &e->ev, sizeof(e->ev));
    if (n == NULL)
        return true; /* out of memory: tr_mnode_copy failing is counted nowhere else; keep it */
    int rc = tr_deliver(node->sys, NULL, actor, n, true, 0);
    return rc != TR_EDEAD && rc != TR_ENOTFOUND && rc != TR_ESTOPPING;
}

static void unsubscribe_locked(struct tr_node *node, tr_ref actor)
{
    for (uint32_t i = 0; i < node->nsubs; i++) {
        if (tr_ref_equal(node->subs[i].actor, actor)) {
            node->subs[i] = node->subs[--node->nsubs];
            return;
        }
    }
}

void tr_member_dispatch(struct tr_node *node)
{
    pthread_mutex_lock(&node->ev_lock);
    if (node->ev_draining) {
        pthread_mutex_unlock(&node->ev_lock);
        return; /* the draining thread sees what we queued before it stops */
    }
    node->ev_draining = true;
    node->ev_drainer = pthread_self();
    while (node->ev_head != NULL) {
        tr_member_ev *e = node->ev_head;
        node->ev_head = e->next;
        if (node->ev_head == NULL)
            node->ev_tail = NULL;
        uint32_t nhooks = node->nhooks, nsubs = node->nsubs;
        tr_member_hook_entry hooks[TR_MEMBER_HOOKS_MAX];
        memcpy(hooks, node->hooks, nhooks * sizeof(hooks[0]));
        tr_node_sub *subs = nsubs > 0 ? malloc(nsubs * sizeof(*subs)) : NULL;
        if (subs != NULL)
            memcpy(subs, node->subs, nsubs * sizeof(*subs));
        else
            nsubs = 0;
        pthread_mutex_unlock(&node->ev_lock);
        for (uint32_t i = 0; i < nhooks; i++)
            hooks[i].fn(hooks[i].arg, node, &e->ev, e->up);
        for (uint32_t i = 0; i < nsubs; i++) {
            if (e->ev.hidden && !(subs[i].flags & TR_NODE_EVENTS_HIDDEN))
                continue;
            if (!notify(node, subs[i].actor, e)) {
                pthread_mutex_lock(&node->ev_lock);
                unsubscribe_locked(node, subs[i].actor);
                pthread_mutex_unlock(&node->ev_lock);
            }
        }
        free(subs);
        free(e);
        pthread_mutex_lock(&node->ev_lock);
    }
    node->ev_draining = false;
    pthread_mutex_unlock(&node->ev_lock);
}

int tr_member_hook_add(struct tr_node *node, tr_member_hook fn, void *arg)
{
    if (node == NULL || fn == NULL)
        return TR_EINVAL;
    pthread_mutex_lock(&node->ev_lock);
    int rc = TR_ETOOBIG;
    if (node->nhooks < TR_MEMBER_HOOKS_MAX) {
        node->hooks[node->nhooks].fn = fn;
        node->hooks[node->nhooks].arg = arg;
        node->nhooks++;
        rc = TR_OK;
    }
    pthread_mutex_unlock(&node->ev_lock);
    return rc;
}

void tr_member_hook_remove(struct tr_node *node, tr_member_hook fn, void *arg)
{
    if (node == NULL)
        return;
    pthread_mutex_lock(&node->ev_lock);
    for (uint32_t i = 0; i < node->nhooks; i++) {
        if (node->hooks[i].fn == fn && node->hooks[i].arg == arg) {
            memmove(&node->hooks[i], &node->hooks[i + 1], (node->nhooks - i - 1) * sizeof(node->hooks[0]));
            node->nhooks--;
            break;
        }
    }
    /* a drain in progress may hold a copy: wait for it (unless it is ours) */
    while (node->ev_draining && !pthread_equal(node->ev_drainer, pthread_self())) {
        pthread_mutex_unlock(&node->ev_lock);
        nng_msleep(1);
        pthread_mutex_lock(&node->ev_lock);
    }
    pthread_mutex_unlock(&node->ev_lock);
}

int tr_node_subscribe(tr_node *node, tr_ref subscriber, unsigned flags)
{
    if (node == NULL || tr_ref_is_remote(subscriber) || subscriber.id == 0)
        return TR_EINVAL;
    pthread_mutex_lock(&node->ev_lock);
    int rc = TR_OK;
    uint32_t i = 0;
    while (i < node->nsubs && !tr_ref_equal(node->subs[i].actor, subscriber))
        i++;
    if (i == node->nsubs) {
        if (node->nsubs == node->subs_cap) {
            uint32_t cap = node->subs_cap ? 2 * node->subs_cap : 4;
            tr_node_sub *grown = realloc(node->subs, cap * sizeof(*grown));
            if (grown == NULL)
                rc = TR_ENOMEM;
            else {
                node->subs = grown;
                node->subs_cap = cap;
            }
        }
        if (rc == TR_OK)
            node->nsubs++;
    }
    if (rc == TR_OK)
        node->subs[i] = (tr_node_sub){subscriber, flags};
    pthread_mutex_unlock(&node->ev_lock);
    return rc;
}

int tr_node_unsubscribe(tr_node *node, tr_ref subscriber)
{
    if (node == NULL)
        return TR_EINVAL;
    pthread_mutex_lock(&node->ev_lock);
    uint32_t before = node->nsubs;
    unsubscribe_locked(node, subscriber);
    int rc = node->nsubs < before ? TR_OK : TR_ENOTFOUND;
    pthread_mutex_unlock(&node->ev_lock);
    return rc;
}

void tr_member_free(struct tr_node *node)
{
    while (node->ev_head != NULL) {
        tr_member_ev *e = node->ev_head;
        node->ev_head = e->next;
        free(e);
    }
    while (node->limbo != NULL) {
        tr_peer *p = node->limbo;
        node->limbo = p->limbo_next;
        tr_peer_destroy(p);
    }
    free(node->subs);
    tr_deque_free(&node->free_slots);
}

/* ---- leaving ---- */

void tr_member_on_leave(struct tr_node *node, tr_peer *p)
{
    pthread_mutex_lock(&node->lock);
    pthread_mutex_lock(&p->lock);
    p->left = true;
    pthread_mutex_unlock(&p->lock);
    tr_dial_forget_peer_locked(node, p->name);
    pthread_mutex_unlock(&node->lock);
    tr_net_log_peer(node, TR_LOG_INFO, "peer %s left", p->name);
    tr_peer_down(node, p, false, TR_ESHUTDOWN);
    /* the leaving node waits for us to close (net/node.c, tr_node_leave) */
    pthread_mutex_lock(&node->lock);
    pthread_mutex_lock(&p->lock);
    tr_conn *c = p->conn;
    pthread_mutex_unlock(&p->lock);
    if (c != NULL)
        tr_conn_close_locked(c, TR_ESHUTDOWN);
    pthread_mutex_unlock(&node->lock);
}

/* ---- round trips ---- */

void tr_member_ping_locked(tr_peer *p)
{
    tr_envelope e = {.kind = TR_ENV_PING, .corr = tr_now_ns() / 1000u};
    tr_peer_control_locked(p, &e);
}

void tr_member_on_ping(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    (void)node;
    pthread_mutex_lock(&p->lock);
    if (e->kind == TR_ENV_PING && !p->reset_owed) {
        tr_envelope pong = {.kind = TR_ENV_PONG, .corr = e->corr};
        tr_peer_control_locked(p, &pong);
    } else if (e->kind == TR_ENV_PONG) {
        uint64_t now = tr_now_ns() / 1000u; /* corr is our own clock's, echoed */
        if (e->corr <= now && now - e->corr < UINT32_MAX)
            p->rtt_us = (uint32_t)(now - e->corr);
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- the listing ---- */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const tr_member *)a)->name, ((const tr_member *)b)->name);
}

/* True for a slot that is a member: not an old incarnation, not forgotten. */
static bool listed(const tr_peer *p) { return p != NULL && !atomic_load(&p->retired); }

int tr_node_members(tr_node *node, tr_member **out, size_t *count)
{
    if (node == NULL || out == NULL || count == NULL)
        return TR_EINVAL;
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&node->lock);
    size_t n = 0;
    for (uint32_t i = 1; i <= node->npeers; i++)
        n += listed(node->peers[i]);
    tr_member *list = n > 0 ? calloc(n, sizeof(*list)) : NULL;
    if (n > 0 && list == NULL) {
        pthread_mutex_unlock(&node->lock);
        return TR_ENOMEM;
    }
    uint64_t now = tr_now_ms(), wall = wall_ms();
    size_t k = 0;
    for (uint32_t i = 1; i <= node->npeers && k < n; i++) {
        tr_peer *p = node->peers[i];
        if (!listed(p))
            continue;
        tr_member *m = &list[k++];
        snprintf(m->name, sizeof(m->name), "%s", p->name);
        m->incarnation = p->incarnation;
        m->hidden = p->hidden;
        m->nurls = p->nurls;
        for (uint32_t u = 0; u < p->nurls; u++)
            snprintf(m->urls[u], sizeof(m->urls[u]), "%s", p->urls[u]);
        m->frames_in = atomic_load_explicit(&p->frames_in, memory_order_relaxed);
        m->frames_out = atomic_load_explicit(&p->frames_out, memory_order_relaxed);
        m->bytes_in = atomic_load_explicit(&p->bytes_in, memory_order_relaxed);
        m->bytes_out = atomic_load_explicit(&p->bytes_out, memory_order_relaxed);
        m->envelopes_in = atomic_load_explicit(&p->envelopes_in, memory_order_relaxed);
        m->envelopes_out = atomic_load_explicit(&p->envelopes_out, memory_order_relaxed);
        pthread_mutex_lock(&p->lock);
        m->state = p->mstate;
        m->reason = p->mreason;
        m->rtt_us = p->rtt_us;
        m->phi = tr_peer_phi_locked(p, now);
        m->heard_ago_ms = p->last_rx_ms == 0 ? UINT64_MAX : now > p->last_rx_ms ? now - p->last_rx_ms : 0;
        uint64_t age = now > p->since_ms ? now - p->since_ms : 0;
        pthread_mutex_unlock(&p->lock);
        m->since_ms = wall > age ? wall - age : 0;
    }
    pthread_mutex_unlock(&node->lock);
    if (k > 1)
        qsort(list, k, sizeof(*list), by_name);
    *out = list;
    *count = k;
    return TR_OK;
}

void tr_node_members_free(tr_member *members) { free(members); }

/* ---- forgetting and index reuse ---- */

/* True when a connection not freed yet still points at p (node lock held):
 * its callbacks may use p until the service thread frees it. */
static bool held_by_conn_locked(struct tr_node *node, const tr_peer *p)
{
    for (const tr_conn *c = node->conns; c != NULL; c = c->next)
        if (c->peer == p)
            return true;
    return false;
}

/* Frees p (out of the table) unless a thread still holds it; its index is
 * free then. Returns false when p has to wait (node lock held). */
static bool try_free_locked(struct tr_node *node, tr_peer *p)
{
    /* sequentially consistent: after the table store (tr_peer_pin) */
    if (atomic_load(&node->peer_pins[p->index]) != 0 || held_by_conn_locked(node, p))
        return false;
    uint32_t index = p->index;
    tr_peer_destroy(p);
    if (tr_deque_push_back(&node->free_slots, index) != 0)
        tr_net_log_peer(node, TR_LOG_ERROR, "peer index %u lost: out of memory", index);
    return true;
}

/* Forgets p (node lock held; p has no connection): no more dials to it
 * (unless it is an old incarnation: its name lives on), out of the table,
 * freed at once or once no thread holds it (free_limbo_locked). */
static void forget_locked(struct tr_node *node, tr_peer *p)
{
    bool old_incarnation = atomic_load(&p->retired);
    pthread_mutex_lock(&p->lock);
    bool left = p->mstate == TR_MEMBER_LEFT;
    pthread_mutex_unlock(&p->lock);
    if (!old_incarnation) {
        tr_dial_forget_peer_locked(node, p->name);
        tr_net_log_peer(node, TR_LOG_INFO, "peer %s forgotten (%s)", p->name,
                        left ? "left" : "down too long");
    }
    atomic_store(&p->retired, true);
    atomic_store(&node->peers[p->index], NULL); /* sequentially consistent: see tr_peer_pin */
    if (!try_free_locked(node, p)) {
        p->limbo_next = node->limbo;
        node->limbo = p;
    }
}

/* Frees the forgotten records no thread holds any more (node lock held). */
static void free_limbo_locked(struct tr_node *node)
{
    for (tr_peer **pp = &node->limbo; *pp != NULL;) {
        tr_peer *p = *pp;
        tr_peer *next = p->limbo_next;
        if (try_free_locked(node, p))
            *pp = next;
        else
            pp = &p->limbo_next;
    }
}

/* The table is full and no index is free: forgets the member down (or
 * left) longest, whatever its age. */
static void make_room_locked(struct tr_node *node)
{
    tr_peer *oldest = NULL;
    uint64_t oldest_since = 0;
    for (uint32_t i = 1; i <= node->npeers; i++) {
        tr_peer *p = node->peers[i];
        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->lock);
        bool idle = !p->up && p->conn == NULL;
        uint64_t since = p->since_ms;
        pthread_mutex_unlock(&p->lock);
        if (idle && (oldest == NULL || since < oldest_since)) {
            oldest = p;
            oldest_since = since;
        }
    }
    if (oldest != NULL)
        forget_locked(node, oldest);
}

/* The index for a new member: one never handed out, else the one free
 * longest; 0 when none is free. */
static uint32_t take_index_locked(struct tr_node *node)
{
    if (node->npeers < TR_NODE_MAX_PEERS)
        return ++node->npeers;
    if (node->free_slots.len == 0)
        return 0;
    uint32_t index = tr_deque_front(&node->free_slots);
    tr_deque_pop_front(&node->free_slots);
    return index;
}

tr_peer *tr_member_new_peer_locked(struct tr_node *node, const char *name, uint64_t incarnation)
{
    if (node->npeers >= TR_NODE_MAX_PEERS && node->free_slots.len == 0)
        make_room_locked(node);
    tr_peer *p;
    if (node->npeers >= TR_NODE_MAX_PEERS && node->free_slots.len == 0)
        return NULL;
    if (tr_peer_create(node, name, incarnation, &p) != TR_OK)
        return NULL;
    p->mstate = TR_MEMBER_CONNECTING;
    p->since_ms = tr_now_ms();
    p->index = take_index_locked(node);
    atomic_store_explicit(&node->peers[p->index], p, memory_order_release);
    return p;
}

/* After a burst of departures (TRIM_AFTER members or more forgotten, and
 * none in this tick), hands the freed memory back to the system: the
 * connections' receive buffers (64 KiB each) and peer records were freed,
 * but glibc keeps freed memory of its per-thread arenas (NNG's threads
 * allocate too) until asked, so a server's RSS would stay at its peak of
 * clients. */
#define TRIM_AFTER 32
static void give_back_memory(struct tr_node *node, uint32_t forgot)
{
    node->forgotten_since_trim += forgot;
    if (forgot > 0 || node->forgotten_since_trim < TRIM_AFTER)
        return;
    node->forgotten_since_trim = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void tr_member_tick_locked(struct tr_node *node, uint64_t now)
{
    uint64_t forget = node->opts.forget_after_ms;
    uint64_t forget_left = forget < LEFT_FORGET_MS ? forget : LEFT_FORGET_MS;
    uint32_t forgot = 0;
    free_limbo_locked(node);
    for (uint32_t i = 1; i <= node->npeers; i++) {
        tr_peer *p = node->peers[i];
        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->lock);
        tr_member_state st = p->mstate;
        uint64_t age = now > p->since_ms ? now - p->since_ms : 0;
        tr_conn *conn = p->conn;
        bool up = p->up;
        pthread_mutex_unlock(&p->lock);
        bool due = atomic_load(&p->retired) ||
                   (st == TR_MEMBER_LEFT && age >= forget_left) ||
                   ((st == TR_MEMBER_DOWN || st == TR_MEMBER_CONNECTING) && age >= forget);
        if (!due && !up && !p->hidden && !p->left && p->nurls > 0 && !atomic_load(&p->retired) &&
            conn == NULL && (st == TR_MEMBER_DOWN || st == TR_MEMBER_CONNECTING))
            tr_gossip_dial_locked(node, p, false); /* a server member down: redialled with backoff */
        if (!due || up)
            continue;
        if (conn != NULL) {
            if (st != TR_MEMBER_CONNECTING)
                tr_conn_close_locked(conn, TR_ESHUTDOWN); /* a reset never answered: give up the link */
            continue;                                     /* forgotten once it is freed */
        }
        forget_locked(node, p);
        forgot++;
    }
    give_back_memory(node, forgot);
}

/* Listeners (accepting connections) and dial records (making them).
 *
 * A listener accepts every connection and hands it to the handshake (which
 * caps how many may be in handshake at once). A dial record is a URL this
 * node connects to: tr_node_connect or the mesh (gossip.c) creates it,
 * and the service thread redials it whenever its peer is not up and no
 * attempt is in progress (exponential backoff with jitter from 50 ms,
 * capped at redial_max_ms: backoff.c), until the peer refuses for good
 * (wrong cookie, protocol, name), leaves or is forgotten (member.c), and
 * for forget_after_ms after the peer was last up or waited for; then the
 * record is released. Records are allocated as needed (a mesh of hundreds
 * of servers has one for each), up to TR_NODE_MAX_DIALS: past it, the one
 * wanted least recently with nothing in flight is reused (its dialer is
 * freed late: see the graveyard below). A node that never listens works:
 * every connection is bidirectional.
 *
 * inproc:// has no stream transport in NNG 1.5.2: an inproc://name URL is
 * served on a Linux abstract socket private to this process's id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/node_impl.h"

#define REDIAL_MIN_MS 50

/* The URL NNG's stream API is given for `url`. */
static void resolve(const char *url, char *out, size_t len)
{
    if (strncmp(url, "inproc://", 9) == 0)
        snprintf(out, len, "abstract://troupe-%d-%s", (int)getpid(), url + 9);
    else
        snprintf(out, len, "%s", url);
}

static void accept_cb(void *arg);

int tr_listen_start(struct tr_node *node, const char *url, char *bound, size_t len)
{
    char real[TR_WIRE_URL_MAX + 64];
    resolve(url, real, sizeof(real));
    pthread_mutex_lock(&node->lock);
    if (node->nlisten >= TR_NODE_MAX_LISTEN) {
        pthread_mutex_unlock(&node->lock);
        return TR_ETOOBIG;
    }
    tr_listener *t = &node->listeners[node->nlisten];
    nng_stream_listener *l = NULL;
    int rc = nng_stream_listener_alloc(&l, real) == 0 ? TR_OK : TR_EADDR;
    if (rc == TR_OK)
        rc = tr_tls_apply_listener(node, l, url);
    if (rc == TR_OK && nng_stream_listener_listen(l) != 0)
        rc = TR_EADDR;
    if (rc == TR_OK && nng_aio_alloc(&t->aio, accept_cb, t) != 0)
        rc = TR_ENOMEM;
    if (rc != TR_OK) {
        if (l != NULL)
            nng_stream_listener_free(l);
        pthread_mutex_unlock(&node->lock);
        return rc;
    }
    t->l = l;
    t->node = node;
    node->nlisten++;
    char *actual = t->url;
    snprintf(actual, sizeof(t->url), "%s", url);
    int port = 0;
    const char *colon = strrchr(url, ':');
    if (strstr(url, "tcp://") != NULL && colon != NULL && strcmp(colon, ":0") == 0 &&
        nng_stream_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
        snprintf(actual, sizeof(t->url), "%.*s:%d", (int)(colon - url), url, port);
    if (bound != NULL && len > 0)
        snprintf(bound, len, "%s", actual);
    nng_stream_listener_accept(l, t->aio);
    pthread_mutex_unlock(&node->lock);
    return TR_OK;
}

static void accept_cb(void *arg)
{
    tr_listener *t = arg;
    struct tr_node *node = t->node;
    int rv = nng_aio_result(t->aio);
    if (rv == 0 && atomic_load(&node->stopping)) {
        /* accepted while the node stops: the stream is ours to close and free
         * (dropping it leaked the connection and its descriptor) */
        nng_stream *s = nng_aio_get_output(t->aio, 0);
        nng_stream_close(s);
        nng_stream_free(s);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || atomic_load(&node->stopping))
        return;
    if (rv == 0)
        tr_conn_start(node, nng_aio_get_output(t->aio, 0), false, NULL);
    nng_stream_listener_accept(t->l, t->aio);
}

void tr_listen_stop_all(struct tr_node *node)
{
    for (uint32_t i = 0; i < node->nlisten; i++) {
        tr_listener *t = &node->listeners[i];
        nng_stream_listener_close(t->l);
        nng_aio_stop(t->aio);
        nng_aio_free(t->aio);
        nng_stream_listener_free(t->l);
    }
    node->nlisten = 0;
}

/* ---- dials ---- */

/* A down mesh member gets a record of its own (to be redialled) only while
 * this many more could be made before the cap (tr_dial_room_locked). */
#define DIALS_KEPT_FREE 16

static void dial_cb(void *arg);
static void bury(nng_stream_dialer *dialer, nng_aio *aio);
static bool peer_up_by_name(struct tr_node *node, const char *name);

/* Nobody waits on d, no dial or handshake is in flight on it (so no
 * callback can touch it) and its peer is not up (node lock held). */
static bool idle(struct tr_node *node, const tr_dial *d)
{
    return d->waiters == 0 && !d->dialling && d->conn == NULL &&
           (d->peer[0] == '\0' || !peer_up_by_name(node, d->peer));
}

/* With every record taken, the one no longer wanted longest: nobody waits
 * on it, no dial or handshake is in flight on it (so no callback can touch
 * it), and its peer is not up (node lock held). */
static tr_dial *evictable(struct tr_node *node)
{
    tr_dial *best = NULL;
    for (uint32_t i = 0; i < node->dials.len; i++) {
        tr_dial *d = node->dials.at[i];
        if (!idle(node, d))
            continue;
        if (best == NULL || d->wanted_ms < best->wanted_ms)
            best = d;
    }
    return best;
}

tr_dial *tr_dial_find_locked(struct tr_node *node, const char *url)
{
    for (uint32_t i = 0; i < node->dials.len; i++)
        if (strcmp(node->dials.at[i]->url, url) == 0)
            return node->dials.at[i];
    return NULL;
}

bool tr_dial_room_locked(struct tr_node *node) { return node->dials.len + DIALS_KEPT_FREE <= TR_NODE_MAX_DIALS; }

void tr_dial_forget_peer_locked(struct tr_node *node, const char *name)
{
    for (uint32_t i = 0; i < node->dials.len; i++) {
        tr_dial *d = node->dials.at[i];
        if (strcmp(d->peer, name) == 0 && d->waiters == 0)
            d->result = TR_ESHUTDOWN;
    }
}

/* A new record, or with TR_NODE_MAX_DIALS taken the one reused (its
 * dialer buried), zeroed; NULL when none can be had (node lock held). */
static tr_dial *new_record(struct tr_node *node, int *rc)
{
    tr_dial *d;
    if (node->dials.len < TR_NODE_MAX_DIALS) {
        if (tr_vec_reserve(&node->dials, node->dials.len + 1) != 0 || (d = calloc(1, sizeof(*d))) == NULL) {
            *rc = TR_ENOMEM;
            return NULL;
        }
        node->dials.at[node->dials.len++] = d;
        return d;
    }
    if ((d = evictable(node)) == NULL) {
        *rc = TR_ETOOBIG;
        return NULL;
    }
    bury(d->dialer, d->aio); /* nothing in flight on it: see evictable */
    memset(d, 0, sizeof(*d));
    return d;
}

/* Takes record d out of the list and frees it (idle: see evictable). */
static void release(struct tr_node *node, uint32_t i)
{
    tr_dial *d = node->dials.at[i];
    if (d->dialer != NULL)
        bury(d->dialer, d->aio);
    free(d);
    tr_vec_remove_swap(&node->dials, i);
}

tr_dial *tr_dial_get_locked(struct tr_node *node, const char *url, int *rc)
{
    tr_dial *d = tr_dial_find_locked(node, url);
    if (d != NULL)
        return d;
    if ((d = new_record(node, rc)) == NULL)
        return NULL;
    char real[TR_WIRE_URL_MAX + 64];
    resolve(url, real, sizeof(real));
    *rc = nng_stream_dialer_alloc(&d->dialer, real) == 0 ? TR_OK : TR_EADDR;
    if (*rc == TR_OK)
        *rc = tr_tls_apply_dialer(node, d->dialer, url);
    if (*rc == TR_OK && nng_aio_alloc(&d->aio, dial_cb, d) != 0)
        *rc = TR_ENOMEM;
    if (*rc != TR_OK) {
        if (d->dialer != NULL)
            nng_stream_dialer_free(d->dialer);
        d->dialer = NULL;
        for (uint32_t i = 0; i < node->dials.len; i++)
            if (node->dials.at[i] == d)
                release(node, i);
        return NULL;
    }
    d->node = node;
    d->result = -1;
    d->wanted_ms = tr_now_ms();
    uint64_t seed = node->incarnation;
    for (const char *c = url; *c != '\0'; c++)
        seed = seed * 31 + (unsigned char)*c;
    tr_backoff_init(&d->backoff, REDIAL_MIN_MS, node->opts.redial_max_ms, seed);
    snprintf(d->url, sizeof(d->url), "%s", url);
    return d;
}

void tr_dial_start_locked(struct tr_node *node, tr_dial *d)
{
    if (d->dialling || d->conn != NULL || atomic_load(&node->stopping) || atomic_load(&node->leaving))
        return;
    d->dialling = true;
    atomic_fetch_add_explicit(&node->dials_made, 1, memory_order_relaxed);
    nng_stream_dialer_dial(d->dialer, d->aio);
}

static void retry_later(struct tr_node *node, tr_dial *d)
{
    d->next_ms = tr_now_ms() + tr_backoff_next(&d->backoff);
    pthread_cond_broadcast(&node->cv);
}

static void dial_cb(void *arg)
{
    tr_dial *d = arg;
    struct tr_node *node = d->node;
    int rv = nng_aio_result(d->aio);
    nng_stream *s = rv == 0 ? nng_aio_get_output(d->aio, 0) : NULL;
    pthread_mutex_lock(&node->lock);
    if (rv != 0 || atomic_load(&node->stopping)) {
        d->dialling = false;
        if (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH) {
            tr_net_log_peer(node, TR_LOG_ERROR, "dial %s: TLS handshake failed (%s)", d->url, nng_strerror(rv));
            d->result = TR_EREFUSED;
            pthread_cond_broadcast(&node->cv);
        } else {
            retry_later(node, d);
        }
        pthread_mutex_unlock(&node->lock);
        if (s != NULL) {
            nng_stream_close(s);
            nng_stream_free(s);
        }
        return;
    }
    pthread_mutex_unlock(&node->lock);
    /* `dialling` stays set until the connection takes the record (or
     * fails): the record cannot be evicted while this callback uses it */
    if (!tr_conn_start(node, s, true, d)) {
        pthread_mutex_lock(&node->lock);
        d->dialling = false;
        retry_later(node, d);
        pthread_mutex_unlock(&node->lock);
    }
}

/* Not redialled: refused for good, or the peer left or was forgotten. */
static bool fatal(int result)
{
    return result == TR_EREFUSED || result == TR_EPROTO || result == TR_ENAMETAKEN || result == TR_EADDR ||
           result == TR_ESHUTDOWN;
}

void tr_dial_done_locked(struct tr_node *node, tr_dial *d, tr_conn *c, int result)
{
    (void)c;
    d->conn = NULL;
    if (result == TR_OK) {
        d->result = TR_OK;
        tr_backoff_reset(&d->backoff);
        pthread_cond_broadcast(&node->cv);
    } else if (fatal(result)) {
        d->result = result;
        pthread_cond_broadcast(&node->cv);
    } else {
        retry_later(node, d); /* lost a race, or the link broke: the peer may be up through another */
    }
}

static bool peer_up_by_name(struct tr_node *node, const char *name)
{
    for (uint32_t i = node->npeers; i >= 1; i--) {
        tr_peer *p = node->peers[i];
        if (p == NULL || p->retired || strcmp(p->name, name) != 0)
            continue;
        pthread_mutex_lock(&p->lock);
        bool up = p->up || p->conn != NULL; /* a reset exchange in progress: no redial */
        pthread_mutex_unlock(&p->lock);
        return up;
    }
    return false;
}

void tr_dial_tick_locked(struct tr_node *node, uint64_t now)
{
    for (uint32_t i = node->dials.len; i-- > 0;) {
        tr_dial *d = node->dials.at[i];
        if (d->dialling || d->conn != NULL)
            continue;
        if (d->waiters > 0 || (!fatal(d->result) && d->peer[0] != '\0' && peer_up_by_name(node, d->peer))) {
            d->wanted_ms = now; /* connected, or someone waits: wanted */
            if (d->waiters == 0)
                continue;
        }
        if (now > d->wanted_ms && now - d->wanted_ms > node->opts.forget_after_ms) {
            release(node, i); /* a peer gone that long is not redialled (tr_node_connect again will) */
            continue;
        }
        if (fatal(d->result) || now < d->next_ms)
            continue;
        tr_dial_start_locked(node, d);
    }
}

/* NNG 1.5.2 frees a TCP dialer on its reaper thread when a stream the
 * dialer made is freed after the dialer (a reference count; TSan reports
 * the mutex destroyed there as racing with our last use). So a dialer is
 * closed at once but freed only DIALER_GRAVE_MS later, when the streams it
 * made are long reaped and the last reference is ours. The graveyard is
 * process-wide (nodes come and go) and swept at every node start and stop;
 * what the last stop leaves stays reachable until exit. */
#define DIALER_GRAVE_MS 2000

typedef struct grave {
    struct grave *next;
    nng_stream_dialer *dialer;
    nng_aio *aio;
    uint64_t buried_ms;
} grave;

static pthread_mutex_t graveyard_lock = PTHREAD_MUTEX_INITIALIZER;
static grave *graveyard;

void tr_dial_sweep_graveyard(void)
{
    uint64_t now = tr_now_ms();
    grave *due = NULL;
    pthread_mutex_lock(&graveyard_lock);
    for (grave **pp = &graveyard; *pp != NULL;) {
        grave *g = *pp;
        if (now - g->buried_ms >= DIALER_GRAVE_MS) {
            *pp = g->next;
            g->next = due;
            due = g;
        } else {
            pp = &g->next;
        }
    }
    pthread_mutex_unlock(&graveyard_lock);
    while (due != NULL) {
        grave *g = due;
        due = g->next;
        nng_aio_free(g->aio);
        nng_stream_dialer_free(g->dialer);
        free(g);
    }
}

/* Closes a dialer with no operation in flight and frees it later. */
static void bury(nng_stream_dialer *dialer, nng_aio *aio)
{
    nng_stream_dialer_close(dialer);
    nng_aio_stop(aio); /* nothing in flight: returns at once */
    grave *g = malloc(sizeof(*g));
    if (g == NULL) {
        nng_aio_free(aio);
        nng_stream_dialer_free(dialer);
        return;
    }
    *g = (grave){.dialer = dialer, .aio = aio, .buried_ms = tr_now_ms()};
    pthread_mutex_lock(&graveyard_lock);
    g->next = graveyard;
    graveyard = g;
    pthread_mutex_unlock(&graveyard_lock);
}

void tr_dial_stop_all(struct tr_node *node)
{
    for (uint32_t i = 0; i < node->dials.len; i++) {
        tr_dial *d = node->dials.at[i];
        if (d->dialer == NULL)
            continue;
        nng_stream_dialer_close(d->dialer);
        nng_aio_stop(d->aio); /* waits for a dial callback */
        bury(d->dialer, d->aio);
        d->dialer = NULL;
    }
    tr_dial_sweep_graveyard();
}

void tr_dial_free_all(struct tr_node *node)
{
    for (uint32_t i = 0; i < node->dials.len; i++)
        free(node->dials.at[i]);
    tr_vec_free(&node->dials);
}

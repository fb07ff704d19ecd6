/* The listener actor: accepts connections on an NNG stream listener and
 * spawns one connection actor per connection, as its child.
 *
 * Its children are temporary in OTP terms: a connection that ends or fails
 * is not restarted (a TCP connection cannot be), and the listener ending
 * (stopped, or failed) stops them all first. That is what a one-for-one
 * supervisor with temporary children would do; the listener is that
 * supervisor itself, so an accept needs no round trip to another actor. */
#include <stdlib.h>
#include <string.h>

#include "io/conn.h"

#define DEFAULT_MAX_CONNECTIONS 1024

typedef struct listener {
    tr_listener_config cfg; /* url points at url_copy */
    char *url_copy;
    tr_system *sys;
    tr_ref self;
    nng_stream_listener *l;
    nng_aio *accept;
    _Atomic uint32_t live;      /* connection actors alive */
    _Atomic bool stopping;      /* terminate began: the callback posts nothing */
    _Atomic bool accept_posted; /* an accepted stream waits for the actor */
} listener;

static void accept_done(void *arg)
{
    listener *L = arg;
    int rc = nng_aio_result(L->accept);
    if (atomic_load_explicit(&L->stopping, memory_order_acquire)) {
        if (rc == 0)
            nng_stream_free(nng_aio_get_output(L->accept, 0));
        return;
    }
    atomic_store_explicit(&L->accept_posted, rc == 0, memory_order_release);
    tr_io_post(L->sys, L->self, TR_LISTENER_ACCEPTED, rc, 0);
}

static void listener_free(listener *L)
{
    atomic_store_explicit(&L->stopping, true, memory_order_release);
    if (L->l != NULL)
        nng_stream_listener_close(L->l);
    if (L->accept != NULL) {
        nng_aio_stop(L->accept);
        /* accepted, posted, never handled */
        if (atomic_load_explicit(&L->accept_posted, memory_order_acquire))
            nng_stream_free(nng_aio_get_output(L->accept, 0));
        nng_aio_free(L->accept);
    }
    if (L->l != NULL)
        nng_stream_listener_free(L->l);
    free(L->url_copy);
    free(L);
}

static void start_connection(tr_ctx *self, listener *L, nng_stream *stream)
{
    if (atomic_load_explicit(&L->live, memory_order_relaxed) >= L->cfg.max_connections) {
        nng_stream_free(stream); /* over the limit: closed at once */
        return;
    }
    tr_sock *s = tr_sock_new(L->sys, L->cfg.conn, L->cfg.conn_arg, &L->cfg.sock, stream, &L->live);
    if (s == NULL) {
        nng_stream_free(stream);
        return;
    }
    tr_spawn_opts opts = L->cfg.conn_opts;
    opts.parent = tr_self(self);
    atomic_fetch_add_explicit(&L->live, 1, memory_order_relaxed);
    if (tr_spawn(L->sys, &tr_sock_behaviour, s, &opts, NULL) != TR_OK)
        tr_sock_discard(s); /* counted down there */
}

/* Binds cfg->url (cfg copied; TLS files loaded) into a new listener.
 * Returns as tr_listen; *out is set only on TR_OK. */
static int listener_open(tr_system *sys, const tr_listener_config *cfg, listener **out)
{
    if (cfg == NULL || cfg->url == NULL || cfg->conn == NULL || cfg->conn->handle == NULL ||
        cfg->sock.tls != NULL) /* a listener's TLS is cfg->tls */
        return TR_EINVAL;
    listener *L = calloc(1, sizeof(*L));
    if (L == NULL)
        return TR_ENOMEM;
    L->cfg = *cfg;
    L->sys = sys;
    L->url_copy = strdup(cfg->url);
    L->cfg.url = L->url_copy;
    if (L->cfg.max_connections == 0)
        L->cfg.max_connections = DEFAULT_MAX_CONNECTIONS;
    atomic_init(&L->live, 0);
    atomic_init(&L->stopping, false);
    atomic_init(&L->accept_posted, false);
    int rc = TR_OK;
    if (L->url_copy == NULL || nng_aio_alloc(&L->accept, accept_done, L) != 0)
        rc = TR_ENOMEM;
    else if (nng_stream_listener_alloc(&L->l, L->url_copy) != 0)
        rc = TR_EADDR;
    else if ((rc = tr_io_tls_listener(L->l, L->url_copy, cfg->tls)) == TR_OK &&
             nng_stream_listener_listen(L->l) != 0)
        rc = TR_EADDR;
    L->cfg.tls = NULL; /* loaded into the listener */
    if (rc != TR_OK) {
        listener_free(L);
        return rc;
    }
    *out = L;
    return TR_OK;
}

/* The bound TCP port, or 0 (not tcp). */
static int listener_port(listener *L)
{
    int port = 0;
    if (nng_stream_listener_get_int(L->l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        port = 0;
    return port;
}

static void listener_run(tr_ctx *self, void *state, listener *L)
{
    *(listener **)state = L;
    L->self = tr_self(self);
    nng_stream_listener_accept(L->l, L->accept);
}

/* tr_listen's: the listener was bound before the spawn. */
static int listener_init(tr_ctx *self, void *state, void *arg)
{
    listener_run(self, state, arg);
    return TR_OK;
}

/* tr_listener_behaviour's: binds in init, so each (re)start binds anew;
 * a failure to bind fails the actor (its supervisor decides). */
static int listener_bind_init(tr_ctx *self, void *state, void *arg)
{
    listener *L;
    int rc = listener_open(tr_ctx_system(self), arg, &L);
    if (rc != TR_OK)
        return rc;
    listener_run(self, state, L);
    return TR_OK;
}

static int listener_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    listener *L = *(listener **)state;
    if (msg->type == TR_LISTENER_PORT) {
        int port = listener_port(L);
        return tr_reply(self, msg, &port, sizeof(port));
    }
    if (msg->type != TR_LISTENER_ACCEPTED)
        return TR_OK;
    const tr_io_result *r = msg->data;
    if (r->nng_rc == NNG_ECLOSED)
        return TR_OK;
    if (r->nng_rc == 0) {
        atomic_store_explicit(&L->accept_posted, false, memory_order_relaxed);
        start_connection(self, L, nng_aio_get_output(L->accept, 0));
    }
    /* an accept error (the peer gave up, out of descriptors) ends one
     * accept, not the listener */
    nng_stream_listener_accept(L->l, L->accept);
    return TR_OK;
}

static void listener_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    listener *L = *(listener **)state;
    if (L != NULL) /* NULL: tr_listener_behaviour's bind failed */
        listener_free(L);
}

static const tr_behaviour listener_behaviour = {
    .init = listener_init,
    .handle = listener_handle,
    .terminate = listener_terminate,
    .state_size = sizeof(listener *),
};

const tr_behaviour tr_listener_behaviour = {
    .init = listener_bind_init,
    .handle = listener_handle,
    .terminate = listener_terminate,
    .state_size = sizeof(listener *),
};

int tr_listen(tr_system *sys, const tr_listener_config *cfg, const tr_spawn_opts *opts,
              tr_ref *out, int *port)
{
    if (sys == NULL)
        return TR_EINVAL;
    listener *L;
    int rc = listener_open(sys, cfg, &L);
    if (rc != TR_OK)
        return rc;
    if (port != NULL)
        *port = listener_port(L);
    rc = tr_spawn(sys, &listener_behaviour, L, opts, out);
    if (rc != TR_OK)
        listener_free(L); /* else its init took it: init always runs */
    return rc;
}

int tr_listener_port(tr_system *sys, tr_ref listener, int timeout_ms, int *port)
{
    if (sys == NULL || port == NULL)
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, listener, TR_LISTENER_PORT, NULL, 0, timeout_ms, &reply, &size);
    if (rc == TR_OK) {
        if (size == sizeof(*port))
            memcpy(port, reply, sizeof(*port));
        else
            rc = TR_EPROTO;
    }
    free(reply);
    return rc;
}

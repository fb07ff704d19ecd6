/* The observer's HTTP server: NNG's nng_http_server with one handler per
 * route (render.h makes the bodies). See include/troupe/observe.h.
 *
 * Lifetime: NNG calls the handlers on its own threads and frees them (and
 * their data) only when the server is torn down, which may finish after
 * nng_http_server_release returns. So the observer is reference counted:
 * one reference for the owner and one per registered handler, dropped by
 * that handler's data destructor; the last one frees it. tr_observe_stop
 * sets `stopping` (later requests get 503 and touch neither the system
 * nor the node) and waits until no request is being rendered, so once it
 * returns the caller may stop the node and destroy the system. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "observe/render.h"
#include "troupe/errors.h"
#include "troupe/observe.h"
#include "troupe/timer.h"

/* What a route answers: its body comes from render(). */
typedef struct tr_observe_route {
    const char *path;
    const char *content_type;
    void (*render)(tr_observer *obs, tr_textbuf *out);
} tr_observe_route;

/* A handler's data: which observer, which route, and the handler once the
 * server has it (tr_observe_stop takes it back). */
typedef struct tr_observe_binding {
    tr_observer *obs;
    const tr_observe_route *route;
    nng_http_handler *handler;
} tr_observe_binding;

static void render_metrics(tr_observer *obs, tr_textbuf *out);
static void render_overview(tr_observer *obs, tr_textbuf *out);
static void render_actors(tr_observer *obs, tr_textbuf *out);
static void render_index(tr_observer *obs, tr_textbuf *out);
static void render_app(tr_observer *obs, tr_textbuf *out);

static const tr_observe_route g_routes[] = {
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", render_metrics},
    {"/api/overview", "application/json", render_overview},
    {"/api/actors", "application/json", render_actors},
    {"/", "text/html; charset=utf-8", render_index},
    {"/app.js", "text/javascript; charset=utf-8", render_app},
};
#define TR_OBSERVE_ROUTES (sizeof(g_routes) / sizeof(g_routes[0]))

struct tr_observer {
    tr_system *sys;
    tr_node *node;
    nng_http_server *server;
    char url[128];
    tr_observe_binding binding[TR_OBSERVE_ROUTES];
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled while stopping: active drops to 0, refs to 1 */
    uint32_t active;     /* requests being rendered */
    uint32_t refs;       /* the owner + one per registered handler */
    bool stopping;
    _Atomic uint64_t scrapes; /* /metrics requests answered */
    /* /api/actors walks the whole actor table. Walks are serialised, and a
     * request that finds a walk begun after it arrived takes that walk's
     * answer: many requests at once cost one walk, never a stale answer. */
    pthread_mutex_t walk_lock;
    tr_textbuf walk;        /* the last walk's JSON */
    uint64_t walk_began_ns; /* when it began (CLOCK_MONOTONIC) */
};

static void render_metrics(tr_observer *obs, tr_textbuf *out)
{
    uint64_t n = atomic_fetch_add_explicit(&obs->scrapes, 1, memory_order_relaxed) + 1;
    tr_observe_render_prometheus(obs->sys, obs->node, n, out);
}

static void render_overview(tr_observer *obs, tr_textbuf *out)
{
    tr_observe_render_overview(obs->sys, obs->node, out);
}

static void render_actors(tr_observer *obs, tr_textbuf *out)
{
    uint64_t arrived = tr_now_ns();
    pthread_mutex_lock(&obs->walk_lock);
    if (obs->walk.len == 0 || obs->walk_began_ns < arrived) {
        tr_textbuf fresh = {0};
        uint64_t began = tr_now_ns();
        tr_observe_render_actors(obs->sys, &fresh);
        tr_textbuf_free(&obs->walk);
        if (!fresh.failed) {
            obs->walk = fresh;
            obs->walk_began_ns = began;
        } else {
            tr_textbuf_free(&fresh);
        }
    }
    if (obs->walk.len > 0)
        tr_textbuf_printf(out, "%s", obs->walk.data);
    else
        out->failed = true;
    pthread_mutex_unlock(&obs->walk_lock);
}

static void render_index(tr_observer *obs, tr_textbuf *out)
{
    (void)obs;
    tr_textbuf_printf(out, "%s", (const char *)tr_dashboard_index_html);
}

static void render_app(tr_observer *obs, tr_textbuf *out)
{
    (void)obs;
    tr_textbuf_printf(out, "%s", (const char *)tr_dashboard_app_js);
}

static void observer_unref(tr_observer *obs)
{
    pthread_mutex_lock(&obs->lock);
    bool last = --obs->refs == 0;
    if (obs->refs == 1 && obs->stopping) /* only the owner's is left: stop waits for it */
        pthread_cond_broadcast(&obs->idle);
    pthread_mutex_unlock(&obs->lock);
    if (last) {
        tr_textbuf_free(&obs->walk);
        pthread_mutex_destroy(&obs->walk_lock);
        pthread_mutex_destroy(&obs->lock);
        pthread_cond_destroy(&obs->idle);
        free(obs);
    }
}

static void binding_release(void *arg)
{
    observer_unref(((tr_observe_binding *)arg)->obs);
}

/* Begins a request: false once stopping (the caller answers 503). */
static bool request_begin(tr_observer *obs)
{
    pthread_mutex_lock(&obs->lock);
    bool ok = !obs->stopping;
    if (ok)
        obs->active++;
    pthread_mutex_unlock(&obs->lock);
    return ok;
}

static void request_end(tr_observer *obs)
{
    pthread_mutex_lock(&obs->lock);
    if (--obs->active == 0 && obs->stopping)
        pthread_cond_broadcast(&obs->idle);
    pthread_mutex_unlock(&obs->lock);
}

static void finish_error(nng_aio *aio, uint16_t status)
{
    nng_http_res *res = NULL;
    if (nng_http_res_alloc_error(&res, status) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM); /* NNG closes the connection */
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

/* Every route's NNG callback: render the body, answer 200 (or 503/500). */
static void on_request(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    tr_observe_binding *b = nng_http_handler_get_data(h);
    if (!request_begin(b->obs)) {
        finish_error(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
        return;
    }
    tr_textbuf body = {0};
    b->route->render(b->obs, &body);
    request_end(b->obs);

    nng_http_res *res = NULL;
    if (body.failed || nng_http_res_alloc(&res) != 0 ||
        nng_http_res_set_header(res, "Content-Type", b->route->content_type) != 0 ||
        nng_http_res_set_header(res, "Cache-Control", "no-store") != 0 ||
        nng_http_res_copy_data(res, body.data != NULL ? body.data : "", body.len) != 0) {
        if (res != NULL)
            nng_http_res_free(res);
        tr_textbuf_free(&body);
        finish_error(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR);
        return;
    }
    tr_textbuf_free(&body);
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

/* Fills obs->url from the address the server bound (port 0 resolved). */
static int bound_url(tr_observer *obs)
{
    nng_sockaddr sa;
    if (nng_http_server_get_addr(obs->server, &sa) != 0)
        return TR_EADDR;
    char host[INET6_ADDRSTRLEN];
    int n;
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host));
        n = snprintf(obs->url, sizeof(obs->url), "http://%s:%u", host, ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof(host));
        n = snprintf(obs->url, sizeof(obs->url), "http://[%s]:%u", host, ntohs(sa.s_in6.sa_port));
    } else {
        return TR_EADDR;
    }
    return n > 0 && (size_t)n < sizeof(obs->url) ? TR_OK : TR_EADDR;
}

/* Registers every route; a handler NNG accepted is released by NNG. */
static int add_routes(tr_observer *obs)
{
    for (size_t i = 0; i < TR_OBSERVE_ROUTES; i++) {
        obs->binding[i] = (tr_observe_binding){.obs = obs, .route = &g_routes[i]};
        nng_http_handler *h = NULL;
        if (nng_http_handler_alloc(&h, g_routes[i].path, on_request) != 0)
            return TR_ENOMEM;
        if (nng_http_handler_collect_body(h, true, 0) != 0 ||
            nng_http_handler_set_data(h, &obs->binding[i], binding_release) != 0) {
            nng_http_handler_free(h);
            return TR_ENOMEM;
        }
        pthread_mutex_lock(&obs->lock);
        obs->refs++; /* from here the handler's destructor drops it */
        pthread_mutex_unlock(&obs->lock);
        if (nng_http_server_add_handler(obs->server, h) != 0) {
            nng_http_handler_free(h); /* runs binding_release */
            return TR_EADDR;
        }
        obs->binding[i].handler = h;
    }
    return TR_OK;
}

int tr_observe_start(tr_system *sys, tr_node *node, const char *url, tr_observer **out)
{
    if (sys == NULL || url == NULL || out == NULL)
        return TR_EINVAL;
    nng_url *u = NULL;
    if (nng_url_parse(&u, url) != 0)
        return TR_EADDR;
    if (strcmp(u->u_scheme, "http") != 0) {
        nng_url_free(u);
        return TR_EADDR;
    }
    tr_observer *obs = calloc(1, sizeof(*obs));
    if (obs == NULL) {
        nng_url_free(u);
        return TR_ENOMEM;
    }
    obs->sys = sys;
    obs->node = node;
    obs->refs = 1;
    pthread_mutex_init(&obs->lock, NULL);
    pthread_cond_init(&obs->idle, NULL);
    pthread_mutex_init(&obs->walk_lock, NULL);

    int rc = nng_http_server_hold(&obs->server, u) == 0 ? TR_OK : TR_EADDR;
    nng_url_free(u);
    if (rc == TR_OK)
        rc = add_routes(obs);
    if (rc == TR_OK && nng_http_server_start(obs->server) != 0)
        rc = TR_EADDR;
    if (rc == TR_OK)
        rc = bound_url(obs);
    if (rc != TR_OK) {
        tr_observe_stop(obs);
        return rc;
    }
    *out = obs;
    return TR_OK;
}

int tr_observe_url(const tr_observer *obs, char *buf, size_t len)
{
    if (obs == NULL || buf == NULL)
        return TR_EINVAL;
    size_t n = strlen(obs->url);
    if (n >= len)
        return TR_ETOOBIG;
    memcpy(buf, obs->url, n + 1);
    return TR_OK;
}

void tr_observe_stop(tr_observer *obs)
{
    if (obs == NULL)
        return;
    pthread_mutex_lock(&obs->lock);
    obs->stopping = true;
    while (obs->active > 0)
        pthread_cond_wait(&obs->idle, &obs->lock);
    pthread_mutex_unlock(&obs->lock);
    /* Take our handlers back before letting go of the server, so that
     * nothing of the observer outlives this call. Left to the server, they
     * are freed when NNG reaps it, later, on NNG's thread (a program that
     * exits meanwhile leaks the observer: LeakSanitizer saw it in
     * stop_while_clients_keep_asking), and NNG 1.5.2 keeps a handler for
     * ever when a connection closes between finding the handler for a
     * request and calling it, which the server's own stop can cause. Once
     * taken back, a handler is found by no new request (a request that
     * reaches the server from now until it stops is answered 404), and a
     * request that had found it holds a reference until it is answered
     * (503, request_begin); the handler's destructor then drops its
     * reference to us. */
    bool all_back = true;
    for (size_t i = 0; i < TR_OBSERVE_ROUTES; i++) {
        nng_http_handler *h = obs->binding[i].handler;
        if (h == NULL)
            continue;
        if (nng_http_server_del_handler(obs->server, h) == 0)
            nng_http_handler_free(h); /* the server's reference, now ours */
        else
            all_back = false; /* cannot happen: we hold the server */
    }
    /* Release, not stop: the server may be shared (nng_http_server_hold
     * gives every holder of one address the same server); the last hold
     * shuts it down. */
    if (obs->server != NULL)
        nng_http_server_release(obs->server);
    /* Requests in flight end on their own (no client can hold them up):
     * wait for them, bounded only as a guard against a defect. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&obs->lock);
    while (all_back && obs->refs > 1)
        if (pthread_cond_timedwait(&obs->idle, &obs->lock, &until) != 0)
            break;
    pthread_mutex_unlock(&obs->lock);
    observer_unref(obs);
}

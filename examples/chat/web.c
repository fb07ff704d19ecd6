/* The browser client's server side (web.h): an NNG WebSocket stream
 * listener at /ws sharing NNG's HTTP server with a static handler for the
 * page at /. Each connection: a receive loop that splits lines, a send
 * queue drained one line at a time, and a member actor. NNG's callbacks and
 * the member's events (on workers) meet under the connection's mutex;
 * nothing here waits: posts to the member use timeout 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "web.h"

extern const unsigned char chat_web_page[];
extern const unsigned long chat_web_page_len;

typedef struct out_line {
    struct out_line *next;
    size_t n, off;
    char data[];
} out_line;

typedef struct web_conn {
    struct chat_web *w;
    struct web_conn *next;
    nng_stream *s;
    nng_aio *rx, *tx;
    pthread_mutex_t m;
    char in[WEB_MAX_INPUT];
    size_t in_n;
    char rxbuf[1024];
    out_line *head, *tail;
    uint32_t queued;
    bool sending, closed, close_after_send, logged;
    tr_ref member;
    chat_member_cfg mc; /* read by the member's init: lives as long as the connection */
} web_conn;

struct chat_web {
    tr_system *sys;
    tr_ref gateway;
    nng_stream_listener *listener;
    nng_http_server *http;
    nng_aio *accept;
    pthread_mutex_t m;
    web_conn *conns;
    uint32_t live;
    bool closing;
};

static void conn_close(web_conn *c);

static void send_next_locked(web_conn *c)
{
    if (c->sending || c->closed || c->head == NULL)
        return;
    out_line *o = c->head;
    nng_iov iov = {.iov_buf = o->data + o->off, .iov_len = o->n - o->off};
    nng_aio_set_iov(c->tx, 1, &iov);
    c->sending = true;
    nng_stream_send(c->s, c->tx);
}

/* Queues "kind\ttext\n" for the browser. */
static void enqueue(web_conn *c, const char *kind, const char *text)
{
    size_t lk = strlen(kind), lt = strlen(text);
    out_line *o = malloc(sizeof(*o) + lk + lt + 2);
    bool overflow = false;
    pthread_mutex_lock(&c->m);
    if (o == NULL || c->closed || c->queued >= WEB_MAX_QUEUE) {
        overflow = o != NULL && !c->closed;
        pthread_mutex_unlock(&c->m);
        free(o);
        if (overflow)
            conn_close(c); /* a browser this far behind is gone or hostile */
        return;
    }
    memcpy(o->data, kind, lk);
    o->data[lk] = '\t';
    memcpy(o->data + lk + 1, text, lt);
    o->data[lk + 1 + lt] = '\n';
    o->n = lk + lt + 2;
    o->off = 0;
    o->next = NULL;
    if (c->tail != NULL)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    c->queued++;
    send_next_locked(c);
    pthread_mutex_unlock(&c->m);
}

static void on_event(void *ctx, const chat_event *ev)
{
    web_conn *c = ctx;
    char line[CHAT_MAX_TEXT + 256];
    if (ev->kind == CHAT_EV_CONFIRMED)
        return; /* as in the terminal: only a line never confirmed is shown */
    chat_format_event(ev, line, sizeof(line));
    const char *kind = "notice";
    switch (ev->kind) {
    case CHAT_EV_LINE:
    case CHAT_EV_SENT: kind = "line"; break;
    case CHAT_EV_HISTORY: kind = "history"; break;
    case CHAT_EV_INFO: kind = "info"; break;
    case CHAT_EV_PRIV: kind = "priv"; break;
    case CHAT_EV_JOINED: kind = "joined"; break;
    case CHAT_EV_ERROR: kind = ev->fatal && ev->room[0] == '\0' ? "fatal" : "error"; break;
    default: break;
    }
    enqueue(c, kind, line);
    if (strcmp(kind, "fatal") == 0) { /* the member ends: close once it is said */
        pthread_mutex_lock(&c->m);
        c->close_after_send = true;
        bool idle = !c->sending && c->head == NULL;
        pthread_mutex_unlock(&c->m);
        if (idle)
            conn_close(c);
    }
}

static void tx_done(void *arg)
{
    web_conn *c = arg;
    int rv = nng_aio_result(c->tx);
    pthread_mutex_lock(&c->m);
    c->sending = false;
    bool close = rv != 0;
    if (rv == 0 && c->head != NULL) {
        out_line *o = c->head;
        o->off += nng_aio_count(c->tx);
        if (o->off >= o->n) {
            c->head = o->next;
            if (c->head == NULL)
                c->tail = NULL;
            c->queued--;
            free(o);
        }
        send_next_locked(c);
        close = c->close_after_send && c->head == NULL;
    }
    pthread_mutex_unlock(&c->m);
    if (close)
        conn_close(c);
}

static void handle_line(web_conn *c, char *line, size_t n)
{
    chat_web *w = c->w;
    if (c->logged) { /* only this callback sets it: no lock needed to read it here */
        if (chat_member_input(w->sys, c->member, line, n, 0) != TR_OK)
            enqueue(c, "error", "server busy: line not sent");
        return;
    }
    char nick[CHAT_MAX_NICK + 2] = "", room[CHAT_MAX_ROOM + 3] = "";
    if (n > 200 || sscanf(line, "LOGIN %33s %34s", nick, room) < 1 || !chat_valid_nick(nick) ||
        (room[0] != '\0' && !chat_valid_room(chat_room_name(room)))) {
        enqueue(c, "fatal", "log in with a nickname (1-32 of A-Z a-z 0-9 _ -) and a room");
        pthread_mutex_lock(&c->m);
        c->close_after_send = true;
        pthread_mutex_unlock(&c->m);
        return;
    }
    c->mc.gateway = w->gateway;
    const char *r = chat_room_name(room);
    memcpy(c->mc.nick, nick, strlen(nick) + 1); /* both checked: 1-32 bytes */
    memcpy(c->mc.room, r, strlen(r) + 1);
    c->mc.on_event = on_event;
    c->mc.ctx = c;
    tr_ref member;
    if (tr_spawn(w->sys, &chat_member_behaviour, &c->mc, NULL, &member) != TR_OK) {
        enqueue(c, "fatal", "server busy: try again");
        return;
    }
    pthread_mutex_lock(&c->m);
    c->member = member;
    c->logged = true;
    pthread_mutex_unlock(&c->m);
}

static void rx_done(void *arg)
{
    web_conn *c = arg;
    if (nng_aio_result(c->rx) != 0) {
        conn_close(c);
        return;
    }
    size_t got = nng_aio_count(c->rx);
    for (size_t i = 0; i < got; i++) {
        char ch = c->rxbuf[i];
        if (ch == '\n') {
            c->in[c->in_n] = '\0';
            handle_line(c, c->in, c->in_n);
            c->in_n = 0;
        } else if (c->in_n + 1 < sizeof(c->in)) {
            c->in[c->in_n++] = ch;
        } else {
            conn_close(c); /* a line longer than any chat line: not a chat client */
            return;
        }
    }
    pthread_mutex_lock(&c->m);
    bool closed = c->closed;
    pthread_mutex_unlock(&c->m);
    if (!closed) {
        nng_iov iov = {.iov_buf = c->rxbuf, .iov_len = sizeof(c->rxbuf)};
        nng_aio_set_iov(c->rx, 1, &iov);
        nng_stream_recv(c->s, c->rx);
    }
}

static void conn_close(web_conn *c)
{
    pthread_mutex_lock(&c->m);
    if (c->closed) {
        pthread_mutex_unlock(&c->m);
        return;
    }
    c->closed = true;
    bool logged = c->logged;
    tr_ref member = c->member;
    pthread_mutex_unlock(&c->m);
    nng_stream_close(c->s); /* pending receives and sends end with an error */
    if (logged && chat_member_leave(c->w->sys, member, 0) != TR_OK)
        tr_kill(c->w->sys, member); /* its session sees it end and leaves for it */
    pthread_mutex_lock(&c->w->m);
    c->w->live--;
    pthread_mutex_unlock(&c->w->m);
}

/* A closed connection whose member has ended can go (called with w->m held,
 * never from the connection's own callbacks). */
static bool reclaimable(chat_web *w, web_conn *c)
{
    pthread_mutex_lock(&c->m);
    bool done = c->closed && !c->sending;
    bool logged = c->logged;
    tr_ref member = c->member;
    pthread_mutex_unlock(&c->m);
    return done && (!logged || tr_actor_state_of(w->sys, member) == TR_STATE_DEAD);
}

static void conn_free(web_conn *c)
{
    nng_aio_free(c->rx); /* waits for a callback in progress */
    nng_aio_free(c->tx);
    nng_stream_free(c->s);
    while (c->head != NULL) {
        out_line *o = c->head;
        c->head = o->next;
        free(o);
    }
    pthread_mutex_destroy(&c->m);
    free(c);
}

static void accepted(void *arg)
{
    chat_web *w = arg;
    if (nng_aio_result(w->accept) != 0)
        return; /* closing */
    nng_stream *s = nng_aio_get_output(w->accept, 0);
    pthread_mutex_lock(&w->m);
    /* reclaim connections that are over */
    for (web_conn **p = &w->conns; *p != NULL;) {
        if (reclaimable(w, *p)) {
            web_conn *dead = *p;
            *p = dead->next;
            conn_free(dead);
        } else {
            p = &(*p)->next;
        }
    }
    web_conn *c = NULL;
    if (!w->closing && w->live < WEB_MAX_CONNS && (c = calloc(1, sizeof(*c))) != NULL &&
        (nng_aio_alloc(&c->rx, rx_done, c) != 0 || nng_aio_alloc(&c->tx, tx_done, c) != 0)) {
        nng_aio_free(c->rx);
        free(c);
        c = NULL;
    }
    if (c == NULL) {
        nng_stream_close(s);
        nng_stream_free(s);
    } else {
        c->w = w;
        c->s = s;
        pthread_mutex_init(&c->m, NULL);
        c->next = w->conns;
        w->conns = c;
        w->live++;
        nng_iov iov = {.iov_buf = c->rxbuf, .iov_len = sizeof(c->rxbuf)};
        nng_aio_set_iov(c->rx, 1, &iov);
        nng_stream_recv(c->s, c->rx);
    }
    bool closing = w->closing;
    pthread_mutex_unlock(&w->m);
    if (!closing)
        nng_stream_listener_accept(w->listener, w->accept);
}

chat_web *chat_web_start(tr_system *sys, tr_ref gateway, const char *url, char *bound,
                         size_t bound_cap, char *err, size_t err_cap)
{
    nng_url *u = NULL;
    if (nng_url_parse(&u, url) != 0 || strcmp(u->u_scheme, "http") != 0) {
        snprintf(err, err_cap, "bad --web URL '%s' (expected http://HOST:PORT)", url);
        nng_url_free(u);
        return NULL;
    }
    chat_web *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        nng_url_free(u);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    w->sys = sys;
    w->gateway = gateway;
    pthread_mutex_init(&w->m, NULL);
    char ws[300], http[300];
    int rv;
    /* the WebSocket listener first: it binds (port 0 picks one); the page's
     * handler then joins the same HTTP server, found by its bound port */
    snprintf(ws, sizeof(ws), "ws://%s:%s/ws", u->u_hostname, u->u_port);
    int port = 0;
    if ((rv = nng_stream_listener_alloc(&w->listener, ws)) != 0 ||
        (rv = nng_stream_listener_listen(w->listener)) != 0 ||
        (rv = nng_stream_listener_get_int(w->listener, NNG_OPT_TCP_BOUND_PORT, &port)) != 0) {
        snprintf(err, err_cap, "cannot serve the web client on '%s': %s", url, nng_strerror(rv));
        goto fail;
    }
    snprintf(http, sizeof(http), "http://%s:%d", u->u_hostname, port);
    nng_url *hu = NULL;
    nng_http_handler *h = NULL;
    if ((rv = nng_url_parse(&hu, http)) != 0 || (rv = nng_http_server_hold(&w->http, hu)) != 0 ||
        (rv = nng_http_handler_alloc_static(&h, "/", chat_web_page, chat_web_page_len,
                                            "text/html; charset=utf-8")) != 0 ||
        (rv = nng_http_server_add_handler(w->http, h)) != 0 ||
        (rv = nng_http_server_start(w->http)) != 0) {
        if (h != NULL && w->http != NULL && rv != 0)
            nng_http_handler_free(h);
        nng_url_free(hu);
        snprintf(err, err_cap, "cannot serve the web page on '%s': %s", http, nng_strerror(rv));
        goto fail;
    }
    nng_url_free(hu);
    if ((rv = nng_aio_alloc(&w->accept, accepted, w)) != 0) {
        snprintf(err, err_cap, "out of memory");
        goto fail;
    }
    nng_stream_listener_accept(w->listener, w->accept);
    snprintf(bound, bound_cap, "%s/", http);
    nng_url_free(u);
    return w;
fail:
    nng_url_free(u);
    if (w->listener != NULL) {
        nng_stream_listener_close(w->listener);
        nng_stream_listener_free(w->listener);
    }
    if (w->http != NULL)
        nng_http_server_release(w->http);
    pthread_mutex_destroy(&w->m);
    free(w);
    return NULL;
}

void chat_web_close(chat_web *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->m);
    w->closing = true;
    pthread_mutex_unlock(&w->m);
    nng_stream_listener_close(w->listener);
    nng_aio_stop(w->accept);
    pthread_mutex_lock(&w->m);
    web_conn *list = w->conns;
    pthread_mutex_unlock(&w->m);
    for (web_conn *c = list; c != NULL; c = c->next)
        conn_close(c);
}

void chat_web_free(chat_web *w)
{
    if (w == NULL)
        return;
    while (w->conns != NULL) {
        web_conn *c = w->conns;
        w->conns = c->next;
        conn_free(c);
    }
    nng_aio_free(w->accept);
    nng_stream_listener_free(w->listener);
    nng_http_server_stop(w->http);
    nng_http_server_release(w->http);
    pthread_mutex_destroy(&w->m);
    free(w);
}

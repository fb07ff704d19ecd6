/* The gateway (one per server, registered as "chat") and the sessions it
 * starts.
 *
 * Servers: the gateway knows its own server and every server whose gateway
 * said CHAT_HELLO [name, directory ref]. troupe-chat's main introduces each
 * --peer with CHAT_PEER; the gateway then says HELLO to the peer, which
 * answers with its own HELLO the first time, so both learn each other. A
 * peer gateway is monitored: when its node goes down it stops counting for
 * placement (its rooms move to the next server by weight for new joins).
 *
 * Joining: a client's member actor sends CHAT_JOIN [nick, room] to the
 * gateway of the server it connected to. The gateway places the room by
 * rendezvous hashing over the servers it knows to be up (chat_place), and
 * starts a session (a child of the gateway) with the owning server's
 * directory. The session asks that directory for the room (CHAT_OPEN),
 * joins it, and from then on relays: client -> room (SAY, ACK, LEAVE) and
 * room -> client (JOINED, LINE, NOTICE, ERROR). So a client reaches every
 * room through any one server and only ever talks to that server.
 *
 * The session monitors both ends: client gone -> LEAVE to the room and
 * stop; room ended by a crash -> tell the client and join the restarted room
 * (up to CHAT_REJOIN_ATTEMPTS); room's node down -> a fatal CHAT_E_GONE to
 * the client. The client monitors the session and its gateway, so the death
 * of its own server reaches it as DOWN with TR_ENODEDOWN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"

typedef struct server_entry {
    char name[CHAT_MAX_SERVER + 1];
    tr_ref directory;
    tr_ref gateway; /* none for ourselves */
    uint64_t mon;
    bool up;
} server_entry;

typedef struct gateway_state {
    chat_gateway_cfg cfg;
    server_entry servers[CHAT_MAX_SERVERS];
    uint32_t n;
    bool own_directory;
    uint64_t dir_mon;
    chat_directory_cfg dir_cfg;
} gateway_state;

typedef struct session_arg {
    tr_ref client;
    tr_ref directory;
    char nick[CHAT_MAX_NICK + 1];
    char room[CHAT_MAX_ROOM + 1];
    char owner[CHAT_MAX_SERVER + 1];
} session_arg;

static int gateway_init(tr_ctx *self, void *state, void *arg)
{
    gateway_state *s = state;
    if (arg == NULL)
        return TR_EINVAL;
    s->cfg = *(const chat_gateway_cfg *)arg;
    if (tr_ref_is_none(s->cfg.directory)) {
        /* in our state: an arg must live until the child's init has run */
        s->dir_cfg.budget = s->cfg.budget;
        memcpy(s->dir_cfg.server, s->cfg.server, sizeof(s->dir_cfg.server));
        tr_spawn_opts opts = {.parent = tr_self(self), .name = "chat.rooms"};
        int rc = tr_spawn(tr_ctx_system(self), &chat_directory_behaviour, &s->dir_cfg, &opts,
                          &s->cfg.directory);
        if (rc != TR_OK)
            return rc;
        s->own_directory = true;
        rc = tr_monitor(tr_ctx_system(self), tr_self(self), s->cfg.directory, &s->dir_mon);
        if (rc != TR_OK)
            return rc;
    }
    if (s->cfg.register_fn != NULL) {
        int rc = s->cfg.register_fn(tr_ctx_system(self), "chat", tr_self(self));
        if (rc != TR_OK)
            return rc;
    }
    server_entry *me = &s->servers[s->n++];
    memcpy(me->name, s->cfg.server, sizeof(me->name));
    me->directory = s->cfg.directory;
    me->up = true;
    return TR_OK;
}

static int say_hello(tr_ctx *self, gateway_state *s, tr_ref to)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, s->cfg.server);
    if (chat_pack_ref(tr_ctx_system(self), &b.pk, s->cfg.directory) != TR_OK) {
        chat_buf_destroy(&b);
        return TR_EINVAL;
    }
    return chat_buf_send(self, to, CHAT_HELLO, &b);
}

static void on_hello(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    chat_in in;
    char name[CHAT_MAX_SERVER + 1];
    tr_ref dir;
    bool ok = chat_in_open(&in, msg->data, msg->size, 2) &&
              chat_obj_str(&in.items[0], name, sizeof(name)) &&
              chat_unpack_ref(tr_ctx_system(self), &in.items[1], &dir) == TR_OK;
    chat_in_close(&in);
    if (!ok || tr_ref_is_none(msg->sender) || strcmp(name, s->cfg.server) == 0)
        return;
    server_entry *e = NULL;
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->servers[i].name, name) == 0)
            e = &s->servers[i];
    if (e != NULL && e->up && tr_ref_equal(e->gateway, msg->sender) &&
        tr_ref_equal(e->directory, dir))
        return; /* known: no answer, or two gateways would greet each other forever */
    if (e == NULL) {
        if (s->n >= CHAT_MAX_SERVERS)
            return;
        e = &s->servers[s->n++];
        memset(e, 0, sizeof(*e));
        snprintf(e->name, sizeof(e->name), "%s", name);
    } else if (!tr_ref_is_none(e->gateway)) {
        tr_demonitor(tr_ctx_system(self), e->gateway, e->mon);
    }
    e->directory = dir;
    e->gateway = msg->sender;
    e->up = true;
    tr_monitor(tr_ctx_system(self), tr_self(self), e->gateway, &e->mon);
    say_hello(self, s, msg->sender);
}

static void on_join(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    chat_in in;
    session_arg a;
    memset(&a, 0, sizeof(a));
    bool ok = chat_in_open(&in, msg->data, msg->size, 2);
    bool nick_ok = ok && chat_obj_str(&in.items[0], a.nick, sizeof(a.nick)) && chat_valid_nick(a.nick);
    bool room_ok = ok && chat_obj_str(&in.items[1], a.room, sizeof(a.room)) && chat_valid_room(a.room);
    chat_in_close(&in);
    if (tr_ref_is_none(msg->sender))
        return;
    if (!nick_ok) {
        chat_send_error(self, msg->sender, CHAT_E_BAD_NICK,
                        "bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -", true);
        return;
    }
    if (!room_ok) {
        chat_send_error(self, msg->sender, CHAT_E_BAD_ROOM,
                        "bad room name: use 1-32 characters of A-Z a-z 0-9 _ . -", true);
        return;
    }
    const char *names[CHAT_MAX_SERVERS];
    uint32_t idx[CHAT_MAX_SERVERS];
    size_t n = 0;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->servers[i].up) {
            names[n] = s->servers[i].name;
            idx[n++] = i;
        }
    int best = chat_place(a.room, names, n); /* we are always up: n >= 1 */
    const server_entry *owner = &s->servers[idx[best]];
    a.client = msg->sender;
    a.directory = owner->directory;
    snprintf(a.owner, sizeof(a.owner), "%s", owner->name);

    session_arg *arg = malloc(sizeof(*arg));
    if (arg == NULL) {
        chat_send_error(self, msg->sender, CHAT_E_UNAVAILABLE, "server out of memory", true);
        return;
    }
    *arg = a;
    char name[80];
    snprintf(name, sizeof(name), "session:%s@%s", a.nick, a.room);
    tr_spawn_opts opts = {.parent = tr_self(self), .name = name};
    if (tr_spawn(tr_ctx_system(self), &chat_session_behaviour, arg, &opts, NULL) != TR_OK) {
        free(arg);
        chat_send_error(self, msg->sender, CHAT_E_UNAVAILABLE, "server cannot start a session",
                        true);
    }
}

static int gateway_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    gateway_state *s = state;
    switch (msg->type) {
    case CHAT_JOIN:
        on_join(self, s, msg);
        return TR_OK;
    case CHAT_HELLO:
        on_hello(self, s, msg);
        return TR_OK;
    case CHAT_PEER: {
        chat_in in;
        tr_ref peer;
        bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
                  chat_unpack_ref(tr_ctx_system(self), &in.items[0], &peer) == TR_OK;
        chat_in_close(&in);
        if (ok)
            say_hello(self, s, peer);
        return TR_OK;
    }
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        if (s->own_directory && tr_ref_equal(d->actor, s->cfg.directory) && d->monitor == s->dir_mon)
            return d->reason == TR_ESHUTDOWN ? TR_OK /* we are stopping too */
                   : d->reason != TR_OK ? d->reason : TR_EFAILED; /* restart us and it */
        for (uint32_t i = 0; i < s->n; i++)
            if (tr_ref_equal(s->servers[i].gateway, d->actor) && s->servers[i].mon == d->monitor)
                s->servers[i].up = false;
        return TR_OK;
    }
    case CHAT_STATS: {
        chat_buf b;
        chat_buf_init(&b);
        msgpack_pack_array(&b.pk, s->n);
        for (uint32_t i = 0; i < s->n; i++) {
            msgpack_pack_array(&b.pk, 2);
            chat_pack_str(&b.pk, s->servers[i].name);
            if (s->servers[i].up)
                msgpack_pack_true(&b.pk);
            else
                msgpack_pack_false(&b.pk);
        }
        tr_reply(self, msg, b.sb.data, b.sb.size);
        chat_buf_destroy(&b);
        return TR_OK;
    }
    default:
        return TR_OK;
    }
}

const tr_behaviour chat_gateway_behaviour = {
    .init = gateway_init,
    .handle = gateway_handle,
    .state_size = sizeof(gateway_state),
};

int chat_gateway_add_peer(tr_system *sys, tr_ref gateway, tr_ref peer_gateway, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    int rc = chat_pack_ref(sys, &b.pk, peer_gateway);
    if (rc != TR_OK) {
        chat_buf_destroy(&b);
        return rc;
    }
    return chat_buf_post(sys, gateway, CHAT_PEER, &b, timeout_ms);
}

/* ---- session ---- */

typedef struct session_state {
    session_arg a;
    tr_ref room;
    uint64_t room_mon, client_mon;
    uint64_t open_corr;
    uint32_t rejoins;
    bool joined;
} session_state;

static int open_room(tr_ctx *self, session_state *s)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, s->a.room);
    int rc = tr_ask(self, s->a.directory, CHAT_OPEN, b.sb.data, b.sb.size, CHAT_OPEN_TIMEOUT_MS,
                    &s->open_corr);
    chat_buf_destroy(&b);
    return rc;
}

static void session_fail(tr_ctx *self, session_state *s, int code, const char *text)
{
    chat_send_error(self, s->a.client, code, text, true);
    if (s->joined) {
        chat_buf b;
        chat_buf_init(&b);
        msgpack_pack_array(&b.pk, 0);
        chat_buf_send(self, s->room, CHAT_LEAVE, &b);
    }
    s->joined = false;
    tr_stop_self(self);
}

static int session_init(tr_ctx *self, void *state, void *arg)
{
    session_state *s = state;
    s->a = *(session_arg *)arg;
    free(arg); /* ours since the gateway spawned us */
    tr_system *sys = tr_ctx_system(self);
    if (tr_monitor(sys, tr_self(self), s->a.client, &s->client_mon) != TR_OK)
        return TR_EDEAD;
    if (open_room(self, s) != TR_OK) {
        char text[160];
        snprintf(text, sizeof(text), "room '%s' is unavailable: its server %s cannot be reached",
                 s->a.room, s->a.owner);
        session_fail(self, s, CHAT_E_UNAVAILABLE, text);
    }
    return TR_OK;
}

static void on_opened(tr_ctx *self, session_state *s, const tr_msg *msg)
{
    s->open_corr = 0;
    chat_in in;
    int64_t code = CHAT_E_PROTO;
    tr_ref room = TR_REF_NONE;
    if (chat_in_open(&in, msg->data, msg->size, 2) && chat_obj_i64(&in.items[0], &code) &&
        code == CHAT_OK && chat_unpack_ref(tr_ctx_system(self), &in.items[1], &room) != TR_OK)
        code = CHAT_E_PROTO;
    chat_in_close(&in);
    if (code != CHAT_OK) {
        char text[160];
        snprintf(text, sizeof(text), "cannot open room '%s' on server %s: %s", s->a.room,
                 s->a.owner, chat_error_name((int)code));
        session_fail(self, s, code == CHAT_E_BAD_ROOM ? CHAT_E_BAD_ROOM : CHAT_E_UNAVAILABLE, text);
        return;
    }
    s->room = room;
    tr_monitor(tr_ctx_system(self), tr_self(self), room, &s->room_mon);
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, s->a.nick);
    chat_buf_send(self, room, CHAT_JOIN, &b);
}

static void on_room_down(tr_ctx *self, session_state *s, int reason)
{
    s->joined = false;
    s->room = TR_REF_NONE;
    char text[200];
    if (reason == TR_ENODEDOWN || reason == TR_ENOTCONN) {
        snprintf(text, sizeof(text), "room '%s' is gone: its server %s went down", s->a.room,
                 s->a.owner);
        session_fail(self, s, CHAT_E_GONE, text);
        return;
    }
    if (++s->rejoins > CHAT_REJOIN_ATTEMPTS) {
        snprintf(text, sizeof(text), "room '%s' keeps crashing (%s); giving up", s->a.room,
                 tr_strerror(reason));
        session_fail(self, s, CHAT_E_GONE, text);
        return;
    }
    /* the room's supervisor restarts it: tell the client and join again */
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
    snprintf(text, sizeof(text), "room '%s' restarted (%s); history lost, rejoining", s->a.room,
             tr_strerror(reason));
    chat_pack_str(&b.pk, text);
    chat_buf_send(self, s->a.client, CHAT_NOTICE, &b);
    if (open_room(self, s) != TR_OK)
        session_fail(self, s, CHAT_E_GONE, "room unavailable after a restart");
}

static int session_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    session_state *s = state;
    bool from_room = !tr_ref_is_none(s->room) && tr_ref_equal(msg->sender, s->room);
    bool from_client = tr_ref_equal(msg->sender, s->a.client);
    switch (msg->type) {
    case TR_MSG_REPLY:
        if (msg->corr == s->open_corr)
            on_opened(self, s, msg);
        return TR_OK;
    case TR_MSG_ASK_TIMEOUT:
        if (msg->corr == s->open_corr) {
            char text[160];
            snprintf(text, sizeof(text), "room '%s' is unavailable: server %s did not answer",
                     s->a.room, s->a.owner);
            s->open_corr = 0;
            session_fail(self, s, CHAT_E_UNAVAILABLE, text);
        }
        return TR_OK;
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        if (tr_ref_equal(d->actor, s->a.client) && d->monitor == s->client_mon) {
            if (s->joined) {
                chat_buf b;
                chat_buf_init(&b);
                msgpack_pack_array(&b.pk, 0);
                chat_buf_send(self, s->room, CHAT_LEAVE, &b);
            }
            tr_stop_self(self);
        } else if (tr_ref_equal(d->actor, s->room) && d->monitor == s->room_mon) {
            on_room_down(self, s, d->reason);
        }
        return TR_OK;
    }
    case CHAT_JOINED:
        if (from_room) {
            s->joined = true;
            tr_send(self, s->a.client, msg->type, msg->data, msg->size);
        }
        return TR_OK;
    case CHAT_LINE:
    case CHAT_NOTICE:
        if (from_room)
            tr_send(self, s->a.client, msg->type, msg->data, msg->size);
        return TR_OK;
    case CHAT_ERROR:
        if (from_room) {
            tr_send(self, s->a.client, msg->type, msg->data, msg->size);
            chat_in in;
            int64_t code = 0;
            if (chat_in_open(&in, msg->data, msg->size, 1))
                chat_obj_i64(&in.items[0], &code);
            chat_in_close(&in);
            if (chat_error_fatal((int)code)) { /* the room dropped us: done */
                tr_demonitor(tr_ctx_system(self), s->room, s->room_mon);
                s->joined = false;
                tr_stop_self(self);
            }
        }
        return TR_OK;
    case CHAT_SAY:
    case CHAT_ACK:
        if (from_client && s->joined)
            tr_send(self, s->room, msg->type, msg->data, msg->size);
        return TR_OK;
    case CHAT_LEAVE:
        if (from_client) {
            if (s->joined)
                tr_send(self, s->room, CHAT_LEAVE, msg->data, msg->size);
            s->joined = false;
            tr_stop_self(self);
        }
        return TR_OK;
    default:
        return TR_OK;
    }
}

const tr_behaviour chat_session_behaviour = {
    .init = session_init,
    .handle = session_handle,
    .state_size = sizeof(session_state),
};

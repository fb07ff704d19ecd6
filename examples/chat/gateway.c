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
 * Clients: a client's member actor logs in (CHAT_LOGIN [nick]) at the
 * gateway of the server it connected to. Nicknames are unique across the
 * servers: each has a home server (rendezvous placement of "@nick"), whose
 * gateway keeps the registry of nicknames homed there (nicks.c). A task
 * (task.c) claims the nickname at its home; the gateway then records the
 * client (nickname, monitor, sessions) and says WELCOME. Everything a
 * client does afterwards is under that recorded nickname: the gateway never
 * takes a nickname from a client's message. When the servers up change, the
 * homes move, so every gateway claims its clients' nicknames again.
 *
 * Joining: CHAT_JOIN [room] from a logged-in client. The gateway places the
 * room by rendezvous hashing over the servers it knows to be up (chat_place),
 * and starts a session (a child of the gateway) with the owning server's
 * directory. The session asks that directory for the room (CHAT_OPEN),
 * joins it, and from then on relays: client -> room (SAY, ACK, LEAVE) and
 * room -> client (JOINED, LINE, NOTICE, ERROR, SAID). So a client reaches every
 * room through any one server and only ever talks to that server.
 *
 * Private lines: CHAT_PRIV [to, text] from a client; a task asks the home
 * of `to` where it is connected (CHAT_LOCATE), then that server's gateway
 * delivers it to its own client (CHAT_DELIVER) and the sender gets an echo.
 *
 * The session monitors both ends: client gone -> LEAVE to the room and
 * stop; room ended by a crash -> tell the client and join the restarted room
 * (up to CHAT_REJOIN_ATTEMPTS); room's node down -> a fatal CHAT_E_GONE for
 * that room to the client. The client monitors the session and its gateway, so the death
 * of its own server reaches it as DOWN with TR_ENODEDOWN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "nicks.h"
#include "task.h"

typedef struct server_entry {
    char name[CHAT_MAX_SERVER + 1];
    tr_ref directory;
    tr_ref gateway; /* none for ourselves */
    uint64_t mon;
    bool up;
} server_entry;

/* A client connected through this server. */
typedef struct client_entry {
    tr_ref ref;
    uint64_t mon;
    uint64_t key;   /* our id for it in nickname registries */
    char nick[CHAT_MAX_NICK + 1]; /* "" until the login claim succeeded */
    bool ready;
    tr_ref sessions[CHAT_MAX_JOINED];
    uint32_t nsessions;
} client_entry;

typedef struct gateway_state {
    chat_gateway_cfg cfg;
    server_entry servers[CHAT_MAX_SERVERS];
    uint32_t n;
    bool own_directory;
    uint64_t dir_mon;
    chat_directory_cfg dir_cfg;
    client_entry *clients;
    uint32_t nclients, capclients;
    uint64_t next_key;
    uint64_t pg_mon; /* our watch of CHAT_GATEWAYS_GROUP (0: no node, no group) */
    chat_nicks nicks; /* the nicknames whose home we are */
} gateway_state;

typedef struct session_arg {
    tr_ref client;
    tr_ref gateway;
    tr_ref directory;
    char nick[CHAT_MAX_NICK + 1];
    char room[CHAT_MAX_ROOM + 1];
    char owner[CHAT_MAX_SERVER + 1];
    int how; /* chat_join_how of the first join */
} session_arg;

static void servers_changed(tr_ctx *self, gateway_state *s);

static int gateway_init(tr_ctx *self, void *state, void *arg)
{
    gateway_state *s = state;
    if (arg == NULL)
        return TR_EINVAL;
    s->cfg = *(const chat_gateway_cfg *)arg;
    /* keys need only differ from a previous incarnation's: start at a random-ish place */
    s->next_key = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)s;
    if (tr_ref_is_none(s->cfg.directory)) {
        /* in our state: an arg must live until the child's init has run */
        s->dir_cfg.budget = s->cfg.budget;
        s->dir_cfg.store = s->cfg.store;
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
    /* With a node, the gateways find each other through a process group
     * (troupe/pg.h): each joins it and watches it, and greets every gateway
     * that appears there: a server that started, restarted, or is back after
     * a pause or a partition (pg sends a node's members again whenever its
     * session starts). Without a node (the unit tests) the calls fail and
     * gateways are introduced with CHAT_PEER only. */
    if (tr_pg_join(tr_ctx_system(self), CHAT_GATEWAYS_GROUP, tr_self(self)) == TR_OK &&
        tr_pg_monitor(tr_ctx_system(self), CHAT_GATEWAYS_GROUP, tr_self(self), &s->pg_mon) != TR_OK)
        s->pg_mon = 0;
    server_entry *me = &s->servers[s->n++];
    memcpy(me->name, s->cfg.server, sizeof(me->name));
    me->directory = s->cfg.directory;
    me->up = true;
    servers_changed(self, s);
    return TR_OK;
}

static void gateway_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    gateway_state *s = state;
    free(s->clients);
    chat_nicks_free(&s->nicks);
}

/* ---- servers and placement ---- */

/* The servers up, as a task sees them (our own gateway filled in). */
static uint32_t snapshot(tr_ctx *self, const gateway_state *s, chat_task_server *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!s->servers[i].up)
            continue;
        memcpy(out[n].name, s->servers[i].name, sizeof(out[n].name));
        out[n].gateway = i == 0 ? tr_self(self) : s->servers[i].gateway;
        out[n].directory = s->servers[i].directory;
        n++;
    }
    return n;
}

/* The server up with the highest weight for key (we are always up). */
static server_entry *place(gateway_state *s, const char *key)
{
    const char *names[CHAT_MAX_SERVERS];
    uint32_t idx[CHAT_MAX_SERVERS];
    size_t n = 0;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->servers[i].up) {
            names[n] = s->servers[i].name;
            idx[n++] = i;
        }
    return &s->servers[idx[chat_place(key, names, n)]];
}

/* Tells a nickname's home that our client holds it (CLAIM, no answer
 * wanted), or every server up that it no longer does (RELEASE: homes move
 * when the servers up change, and an earlier home may still hold it). */
static void tell_home(tr_ctx *self, gateway_state *s, uint32_t type, const char *nick, uint64_t key)
{
    char hk[CHAT_MAX_NICK + 2];
    chat_nick_key(nick, hk, sizeof(hk));
    server_entry *home = place(s, hk);
    if (type == CHAT_CLAIM && home == &s->servers[0]) {
        chat_nicks_claim(&s->nicks, nick, s->cfg.server, key);
        return;
    }
    if (type == CHAT_RELEASE)
        chat_nicks_release(&s->nicks, nick, s->cfg.server, key);
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 3);
    chat_pack_str(&b.pk, nick);
    chat_pack_str(&b.pk, s->cfg.server);
    msgpack_pack_uint64(&b.pk, key);
    for (uint32_t i = 1; i < s->n; i++) /* [0] is us */
        if (s->servers[i].up && (type == CHAT_RELEASE || &s->servers[i] == home))
            tr_send(self, s->servers[i].gateway, type, b.sb.data, b.sb.size);
    chat_buf_destroy(&b);
}

/* The servers up changed, so nickname homes may have moved: claim our
 * clients' nicknames at their homes again. */
static void reclaim_all(tr_ctx *self, gateway_state *s)
{
    for (uint32_t i = 0; i < s->nclients; i++)
        if (s->clients[i].ready)
            tell_home(self, s, CHAT_CLAIM, s->clients[i].nick, s->clients[i].key);
}

/* The servers up changed: tell our directory (it places replicas) and every
 * session of our clients (each follows its room to the server that hosts it
 * now), as [[server, directory ref]...]. */
static void servers_changed(tr_ctx *self, gateway_state *s)
{
    tr_system *sys = tr_ctx_system(self);
    chat_buf b;
    chat_buf_init(&b);
    uint32_t up = 0;
    for (uint32_t i = 0; i < s->n; i++)
        up += s->servers[i].up;
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_array(&b.pk, up);
    for (uint32_t i = 0; i < s->n; i++) {
        if (!s->servers[i].up)
            continue;
        msgpack_pack_array(&b.pk, 2);
        chat_pack_str(&b.pk, s->servers[i].name);
        if (chat_pack_ref(sys, &b.pk, s->servers[i].directory) != TR_OK)
            msgpack_pack_nil(&b.pk);
    }
    tr_send(self, s->cfg.directory, CHAT_SERVERS, b.sb.data, b.sb.size);
    for (uint32_t i = 0; i < s->nclients; i++)
        for (uint32_t k = 0; k < s->clients[i].nsessions; k++)
            tr_send(self, s->clients[i].sessions[k], CHAT_SERVERS, b.sb.data, b.sb.size);
    chat_buf_destroy(&b);
}

/* HELLO [name, directory, answer]: answer = true asks for a HELLO back. */
static int say_hello(tr_ctx *self, gateway_state *s, tr_ref to, bool answer)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 3);
    chat_pack_str(&b.pk, s->cfg.server);
    if (chat_pack_ref(tr_ctx_system(self), &b.pk, s->cfg.directory) != TR_OK) {
        chat_buf_destroy(&b);
        return TR_EINVAL;
    }
    if (answer)
        msgpack_pack_true(&b.pk);
    else
        msgpack_pack_false(&b.pk);
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
    /* an introduction (CHAT_PEER) asks for an answer; an answer does not */
    bool answer = in.n < 3 || (in.items[2].type == MSGPACK_OBJECT_BOOLEAN && in.items[2].via.boolean);
    chat_in_close(&in);
    if (!ok || tr_ref_is_none(msg->sender) || strcmp(name, s->cfg.server) == 0)
        return;
    server_entry *e = NULL;
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->servers[i].name, name) == 0)
            e = &s->servers[i];
    if (e != NULL && e->up && tr_ref_equal(e->gateway, msg->sender) &&
        tr_ref_equal(e->directory, dir)) {
        if (answer && in.n >= 3)
            say_hello(self, s, msg->sender, false); /* it counts us down: tell it we are here */
        return;
    }
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
    if (answer)
        say_hello(self, s, msg->sender, false);
    reclaim_all(self, s);
    servers_changed(self, s);
    if (s->cfg.on_peer != NULL)
        s->cfg.on_peer(e->name, true, NULL);
}

/* ---- clients ---- */

static client_entry *find_client(gateway_state *s, tr_ref ref)
{
    for (uint32_t i = 0; i < s->nclients; i++)
        if (tr_ref_equal(s->clients[i].ref, ref))
            return &s->clients[i];
    return NULL;
}

static client_entry *find_nick(gateway_state *s, const char *nick)
{
    for (uint32_t i = 0; i < s->nclients; i++)
        if (s->clients[i].ready && strcmp(s->clients[i].nick, nick) == 0)
            return &s->clients[i];
    return NULL;
}

static void remove_client(tr_ctx *self, gateway_state *s, client_entry *c)
{
    if (c->ready)
        tell_home(self, s, CHAT_RELEASE, c->nick, c->key);
    tr_demonitor(tr_ctx_system(self), c->ref, c->mon);
    *c = s->clients[--s->nclients];
}

/* A logged-in client, or NULL after telling the sender to log in first. */
static client_entry *ready_client(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    client_entry *c = find_client(s, msg->sender);
    if (c != NULL && c->ready)
        return c;
    if (!tr_ref_is_none(msg->sender))
        chat_send_error(self, msg->sender, CHAT_E_PROTO, "not logged in (CHAT_LOGIN first)", false);
    return NULL;
}

static void spawn_task(tr_ctx *self, gateway_state *s, chat_task_arg *a)
{
    a->gateway = tr_self(self);
    snprintf(a->server, sizeof(a->server), "%s", s->cfg.server);
    a->n = snapshot(self, s, a->servers);
    tr_spawn_opts opts = {.parent = tr_self(self), .name = "chat.task"};
    if (tr_spawn(tr_ctx_system(self), &chat_task_behaviour, a, &opts, NULL) != TR_OK) {
        chat_send_error(self, a->client, CHAT_E_UNAVAILABLE, "server busy: try again", false);
        if (a->kind == CHAT_PRIV && a->id != 0)
            chat_send_said(self, a->client, a->id, CHAT_E_UNAVAILABLE);
        free(a);
    }
}

static chat_task_arg *new_task(tr_ctx *self, uint32_t kind, tr_ref client)
{
    chat_task_arg *a = calloc(1, sizeof(*a));
    if (a == NULL)
        chat_send_error(self, client, CHAT_E_UNAVAILABLE, "server out of memory", false);
    else {
        a->kind = kind;
        a->client = client;
    }
    return a;
}

static void on_login(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    chat_in in;
    char nick[CHAT_MAX_NICK + 1];
    bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
              chat_obj_str(&in.items[0], nick, sizeof(nick)) && chat_valid_nick(nick);
    chat_in_close(&in);
    if (tr_ref_is_none(msg->sender))
        return;
    if (!ok) {
        chat_send_error(self, msg->sender, CHAT_E_BAD_NICK,
                        "bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -", true);
        return;
    }
    if (find_client(s, msg->sender) != NULL) {
        chat_send_error(self, msg->sender, CHAT_E_PROTO, "already logged in", false);
        return;
    }
    if (s->nclients >= CHAT_MAX_CLIENTS) {
        chat_send_error(self, msg->sender, CHAT_E_UNAVAILABLE, "server full: too many clients", true);
        return;
    }
    if (!CHAT_ARRAY_MAKE_SPACE(s->clients, s->nclients, s->capclients, 16)) {
        chat_send_error(self, msg->sender, CHAT_E_UNAVAILABLE, "server out of memory", true);
        return;
    }
    client_entry *c = &s->clients[s->nclients];
    memset(c, 0, sizeof(*c));
    c->ref = msg->sender;
    c->key = s->next_key++;
    if (tr_monitor(tr_ctx_system(self), tr_self(self), c->ref, &c->mon) != TR_OK)
        return; /* already gone */
    s->nclients++;
    chat_task_arg *a = new_task(self, CHAT_LOGIN, c->ref);
    if (a == NULL)
        return;
    a->key = c->key;
    snprintf(a->arg, sizeof(a->arg), "%s", nick);
    spawn_task(self, s, a);
}

/* A task's answer to a login or /nick claim: [code, client, old, new, key]. */
static void on_claimed(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    if (tr_ref_is_remote(msg->sender))
        return; /* only our own tasks say this */
    chat_in in;
    int64_t code = CHAT_E_PROTO;
    tr_ref client = TR_REF_NONE;
    uint64_t key = 0;
    char old[CHAT_MAX_NICK + 1] = "", nick[CHAT_MAX_NICK + 1] = "";
    bool ok = chat_in_open(&in, msg->data, msg->size, 5) && chat_obj_i64(&in.items[0], &code) &&
              chat_unpack_ref(tr_ctx_system(self), &in.items[1], &client) == TR_OK &&
              chat_obj_str(&in.items[2], old, sizeof(old)) &&
              chat_obj_str(&in.items[3], nick, sizeof(nick)) && chat_obj_u64(&in.items[4], &key);
    chat_in_close(&in);
    if (!ok)
        return;
    client_entry *c = find_client(s, client);
    bool login = old[0] == '\0';
    if (c == NULL || (login ? c->ready : strcmp(c->nick, old) != 0)) {
        if (code == CHAT_OK) /* the client went away or moved on meanwhile */
            tell_home(self, s, CHAT_RELEASE, nick, key);
        return;
    }
    char text[320];
    if (code != CHAT_OK) {
        if (code == CHAT_E_NICK_TAKEN)
            snprintf(text, sizeof(text), "nickname '%s' is taken (by someone on some server)", nick);
        else
            snprintf(text, sizeof(text), "cannot register nickname '%s': its home server did not answer",
                     nick);
        chat_send_error(self, client, login ? (int)code : CHAT_E_COMMAND, text, login);
        if (login) {
            tr_demonitor(tr_ctx_system(self), c->ref, c->mon);
            *c = s->clients[--s->nclients];
        }
        return;
    }
    snprintf(c->nick, sizeof(c->nick), "%s", nick);
    chat_buf b;
    chat_buf_init(&b);
    if (login) {
        c->ready = true;
        msgpack_pack_array(&b.pk, 2);
        chat_pack_str(&b.pk, s->cfg.server);
        chat_pack_str(&b.pk, nick);
        chat_buf_send(self, client, CHAT_WELCOME, &b);
        return;
    }
    tell_home(self, s, CHAT_RELEASE, old, c->key);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, old);
    chat_pack_str(&b.pk, nick);
    tr_send(self, client, CHAT_NICK, b.sb.data, b.sb.size);
    for (uint32_t i = 0; i < c->nsessions; i++)
        tr_send(self, c->sessions[i], CHAT_NICK, b.sb.data, b.sb.size);
    chat_buf_destroy(&b);
}

static void on_nick(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    client_entry *c = ready_client(self, s, msg);
    if (c == NULL)
        return;
    chat_in in;
    char nick[CHAT_MAX_NICK + 1];
    bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
              chat_obj_str(&in.items[0], nick, sizeof(nick)) && chat_valid_nick(nick);
    chat_in_close(&in);
    if (!ok) {
        chat_send_error(self, msg->sender, CHAT_E_COMMAND,
                        "bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -", false);
        return;
    }
    if (strcmp(nick, c->nick) == 0) {
        chat_send_info(self, msg->sender, "that is already your nickname");
        return;
    }
    chat_task_arg *a = new_task(self, CHAT_NICK, c->ref);
    if (a == NULL)
        return;
    a->key = c->key;
    snprintf(a->nick, sizeof(a->nick), "%s", c->nick);
    snprintf(a->arg, sizeof(a->arg), "%s", nick);
    spawn_task(self, s, a);
}

static void on_priv(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    client_entry *c = ready_client(self, s, msg);
    if (c == NULL)
        return;
    chat_in in;
    char to[CHAT_MAX_NICK + 1];
    chat_task_arg *a = NULL;
    uint64_t id = 0;
    int refused = CHAT_OK;
    bool ok = chat_in_open(&in, msg->data, msg->size, 2);
    if (ok && in.n >= 3)
        chat_obj_u64(&in.items[2], &id);
    if (!ok || !chat_obj_str(&in.items[0], to, sizeof(to)) || !chat_valid_nick(to) ||
        in.items[1].type != MSGPACK_OBJECT_STR) {
        chat_send_error(self, msg->sender, refused = CHAT_E_COMMAND, "usage: /msg NICK text", false);
    } else if (in.items[1].via.str.size > CHAT_MAX_LINE) {
        char text[320];
        snprintf(text, sizeof(text), "line too long (%u bytes, max %d): not sent",
                 in.items[1].via.str.size, CHAT_MAX_LINE);
        chat_send_error(self, msg->sender, refused = CHAT_E_TOO_LONG, text, false);
    } else if ((a = new_task(self, CHAT_PRIV, c->ref)) != NULL) {
        snprintf(a->nick, sizeof(a->nick), "%s", c->nick);
        snprintf(a->arg, sizeof(a->arg), "%s", to);
        chat_clean(in.items[1].via.str.ptr, in.items[1].via.str.size, a->text, sizeof(a->text),
                   NULL);
        a->id = id;
    } else {
        refused = CHAT_E_UNAVAILABLE; /* (new_task said why) */
    }
    chat_in_close(&in);
    if (refused != CHAT_OK && id != 0)
        chat_send_said(self, msg->sender, id, refused);
    if (a != NULL)
        spawn_task(self, s, a);
}

/* An ask from a task of any server: hand a private line to our client `to`. */
static void on_deliver(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    chat_in in;
    char to[CHAT_MAX_NICK + 1], from[CHAT_MAX_NICK + 1];
    int code = CHAT_E_NO_USER;
    if (chat_in_open(&in, msg->data, msg->size, 3) && chat_obj_str(&in.items[0], to, sizeof(to)) &&
        chat_obj_str(&in.items[1], from, sizeof(from)) && chat_valid_nick(from) &&
        in.items[2].type == MSGPACK_OBJECT_STR && in.items[2].via.str.size <= CHAT_MAX_TEXT) {
        client_entry *c = find_nick(s, to);
        if (c != NULL) {
            char text[CHAT_MAX_TEXT + 1];
            chat_clean(in.items[2].via.str.ptr, in.items[2].via.str.size, text, sizeof(text), NULL);
            chat_buf b;
            chat_buf_init(&b);
            msgpack_pack_array(&b.pk, 5);
            msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
            chat_pack_str(&b.pk, from);
            chat_pack_str(&b.pk, to);
            chat_pack_str(&b.pk, text);
            msgpack_pack_false(&b.pk);
            if (chat_buf_send(self, c->ref, CHAT_PRIV, &b) == TR_OK)
                code = CHAT_OK;
        }
    }
    chat_in_close(&in);
    chat_buf r;
    if (!chat_buf_open_answer(msg, &r, 1))
        return;
    msgpack_pack_int(&r.pk, code);
    chat_buf_reply(self, msg, &r);
}

/* The registry of the nicknames whose home we are: CLAIM, RELEASE, LOCATE. */
static void on_registry(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    chat_in in;
    char nick[CHAT_MAX_NICK + 1], server[CHAT_MAX_SERVER + 1] = "";
    uint64_t key = 0;
    uint32_t min = msg->type == CHAT_LOCATE ? 1 : 3;
    bool ok = chat_in_open(&in, msg->data, msg->size, min) &&
              chat_obj_str(&in.items[0], nick, sizeof(nick)) && chat_valid_nick(nick) &&
              (min == 1 || (chat_obj_str(&in.items[1], server, sizeof(server)) &&
                            chat_obj_u64(&in.items[2], &key)));
    chat_in_close(&in);
    int code = CHAT_E_PROTO;
    const char *where = NULL;
    if (ok && msg->type == CHAT_CLAIM) {
        code = chat_nicks_claim(&s->nicks, nick, server, key);
    } else if (ok && msg->type == CHAT_RELEASE) {
        chat_nicks_release(&s->nicks, nick, server, key);
        code = CHAT_OK;
    } else if (ok) {
        where = chat_nicks_locate(&s->nicks, nick);
        code = where != NULL ? CHAT_OK : CHAT_E_NO_USER;
    }
    chat_buf b;
    if (!chat_buf_open_answer(msg, &b, 2))
        return;
    msgpack_pack_int(&b.pk, code);
    chat_pack_str(&b.pk, where != NULL ? where : "");
    chat_buf_reply(self, msg, &b);
}

/* The room named in [room] (a leading '#' dropped). A bad name is refused
 * with a fatal error about that room, as typed: a join of it is over. */
static bool room_arg(tr_ctx *self, const tr_msg *msg, char *room)
{
    chat_in in;
    char typed[CHAT_MAX_ROOM + 2] = "";
    bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
              chat_obj_str(&in.items[0], typed, sizeof(typed));
    chat_in_close(&in);
    if (ok) {
        snprintf(room, CHAT_MAX_ROOM + 1, "%s", chat_room_name(typed));
        ok = chat_valid_room(room);
    }
    if (!ok)
        chat_send_room_error(self, msg->sender, CHAT_E_BAD_ROOM,
                             "bad room name: use 1-32 characters of A-Z a-z 0-9 _ . - (a leading # is optional)",
                             true, typed);
    return ok;
}

static void on_join(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    client_entry *c = ready_client(self, s, msg);
    session_arg a;
    memset(&a, 0, sizeof(a));
    if (c == NULL || !room_arg(self, msg, a.room))
        return;
    /* forget sessions that ended */
    for (uint32_t i = 0; i < c->nsessions;)
        if (tr_actor_state_of(tr_ctx_system(self), c->sessions[i]) == TR_STATE_DEAD)
            c->sessions[i] = c->sessions[--c->nsessions];
        else
            i++;
    if (c->nsessions >= CHAT_MAX_JOINED) {
        char text[320];
        snprintf(text, sizeof(text), "too many rooms (at most %d at once): /part one first",
                 CHAT_MAX_JOINED);
        chat_send_room_error(self, msg->sender, CHAT_E_TOO_MANY, text, false, a.room);
        return;
    }
    chat_in in;
    int64_t how = CHAT_JOIN_NEW;
    if (chat_in_open(&in, msg->data, msg->size, 2) && chat_obj_i64(&in.items[1], &how) &&
        how == CHAT_JOIN_BACK)
        a.how = CHAT_JOIN_BACK; /* a client can only say it came back; moves are ours */
    chat_in_close(&in);
    const server_entry *owner = place(s, a.room);
    a.client = msg->sender;
    a.gateway = tr_self(self);
    a.directory = owner->directory;
    snprintf(a.nick, sizeof(a.nick), "%s", c->nick);
    snprintf(a.owner, sizeof(a.owner), "%s", owner->name);

    session_arg *arg = malloc(sizeof(*arg));
    if (arg == NULL) {
        chat_send_room_error(self, msg->sender, CHAT_E_UNAVAILABLE, "server out of memory", true,
                             a.room);
        return;
    }
    *arg = a;
    char name[80];
    snprintf(name, sizeof(name), "session:%s@%s", a.nick, a.room);
    tr_spawn_opts opts = {.parent = tr_self(self), .name = name};
    tr_ref session;
    if (tr_spawn(tr_ctx_system(self), &chat_session_behaviour, arg, &opts, &session) != TR_OK) {
        free(arg);
        chat_send_room_error(self, msg->sender, CHAT_E_UNAVAILABLE,
                             "server cannot start a session", true, a.room);
        return;
    }
    c->sessions[c->nsessions++] = session;
}

static void on_query(tr_ctx *self, gateway_state *s, const tr_msg *msg)
{
    client_entry *c = ready_client(self, s, msg);
    char room[CHAT_MAX_ROOM + 1];
    if (c == NULL || (msg->type != CHAT_LIST && !room_arg(self, msg, room)))
        return;
    if (msg->type == CHAT_WHERE) {
        char text[CHAT_MAX_SERVERS * (CHAT_MAX_SERVER + 2) + 160];
        size_t used = (size_t)snprintf(text, sizeof(text),
                                       "#%s is hosted on server %s (rendezvous hashing over the servers up:",
                                       room, place(s, room)->name);
        for (uint32_t i = 0; i < s->n; i++)
            if (s->servers[i].up && used < sizeof(text))
                used += (size_t)snprintf(text + used, sizeof(text) - used, " %s",
                                         s->servers[i].name);
        if (used < sizeof(text))
            snprintf(text + used, sizeof(text) - used, ")");
        chat_send_info(self, msg->sender, text);
        return;
    }
    chat_task_arg *a = new_task(self, msg->type, c->ref);
    if (a == NULL)
        return;
    snprintf(a->nick, sizeof(a->nick), "%s", c->nick);
    if (msg->type == CHAT_WHO)
        snprintf(a->arg, sizeof(a->arg), "%s", room);
    spawn_task(self, s, a);
}

static int gateway_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    gateway_state *s = state;
    switch (msg->type) {
    case CHAT_LOGIN:
        on_login(self, s, msg);
        return TR_OK;
    case CHAT_CLAIMED:
        on_claimed(self, s, msg);
        return TR_OK;
    case CHAT_JOIN:
        on_join(self, s, msg);
        return TR_OK;
    case CHAT_NICK:
        on_nick(self, s, msg);
        return TR_OK;
    case CHAT_PRIV:
        on_priv(self, s, msg);
        return TR_OK;
    case CHAT_DELIVER:
        on_deliver(self, s, msg);
        return TR_OK;
    case CHAT_CLAIM:
    case CHAT_RELEASE:
    case CHAT_LOCATE:
        on_registry(self, s, msg);
        return TR_OK;
    case CHAT_WHO:
    case CHAT_LIST:
    case CHAT_WHERE:
        on_query(self, s, msg);
        return TR_OK;
    case CHAT_HELLO:
        on_hello(self, s, msg);
        return TR_OK;
    case TR_MSG_PG_JOINED: { /* gateways appeared: greet them (they answer) */
        const tr_pg_event *ev = msg->data;
        if (s->pg_mon == 0 || msg->size < sizeof(*ev) || ev->monitor != s->pg_mon)
            return TR_OK;
        for (uint32_t i = 0; i < ev->count && sizeof(*ev) + (i + 1) * sizeof(tr_ref) <= msg->size; i++)
            if (!tr_ref_equal(ev->members[i], tr_self(self)))
                say_hello(self, s, ev->members[i], true);
        return TR_OK;
    }
    case CHAT_SHUTDOWN: { /* from our own program: the server is stopping */
        if (tr_ref_is_remote(msg->sender))
            return TR_OK;
        chat_in in;
        char why[128] = "stopped by its operator";
        if (chat_in_open(&in, msg->data, msg->size, 1))
            chat_obj_str(&in.items[0], why, sizeof(why));
        chat_in_close(&in);
        char text[256];
        snprintf(text, sizeof(text), "server %s is shutting down (%s)", s->cfg.server, why);
        for (uint32_t i = 0; i < s->nclients; i++)
            chat_send_error(self, s->clients[i].ref, CHAT_E_GONE, text, true);
        if (msg->corr != 0)
            tr_reply(self, msg, NULL, 0);
        return TR_OK;
    }
    case CHAT_PEER: {
        chat_in in;
        tr_ref peer;
        bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
                  chat_unpack_ref(tr_ctx_system(self), &in.items[0], &peer) == TR_OK;
        chat_in_close(&in);
        if (ok)
            say_hello(self, s, peer, true);
        return TR_OK;
    }
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        if (s->own_directory && tr_ref_equal(d->actor, s->cfg.directory) && d->monitor == s->dir_mon)
            return d->reason == TR_ESHUTDOWN ? TR_OK /* we are stopping too */
                   : d->reason != TR_OK ? d->reason : TR_EFAILED; /* restart us and it */
        client_entry *c = find_client(s, d->actor);
        if (c != NULL && c->mon == d->monitor) {
            remove_client(self, s, c);
            return TR_OK;
        }
        for (uint32_t i = 0; i < s->n; i++)
            if (tr_ref_equal(s->servers[i].gateway, d->actor) && s->servers[i].mon == d->monitor &&
                s->servers[i].up) {
                s->servers[i].up = false;
                chat_nicks_drop_server(&s->nicks, s->servers[i].name);
                reclaim_all(self, s);
                servers_changed(self, s);
                if (s->cfg.on_peer != NULL)
                    s->cfg.on_peer(s->servers[i].name, false,
                                   d->reason == TR_ENODEDOWN ? "its node went down or is unreachable"
                                                             : tr_strerror(d->reason));
            }
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
        chat_buf_reply(self, msg, &b);
        return TR_OK;
    }
    default:
        return TR_OK;
    }
}

const tr_behaviour chat_gateway_behaviour = {
    .name = "chat.gateway",
    .init = gateway_init,
    .handle = gateway_handle,
    .terminate = gateway_terminate,
    .state_size = sizeof(gateway_state),
};

int chat_gateway_add_peer(tr_system *sys, tr_ref gateway, tr_ref peer_gateway, int timeout_ms)
{
    return chat_post_ref(sys, gateway, CHAT_PEER, peer_gateway, timeout_ms);
}

/* ---- session ---- */

#define SESSION_HELD 32

typedef struct session_state {
    session_arg a;
    tr_ref room;
    uint64_t room_mon, client_mon;
    uint64_t open_corr;
    uint32_t rejoins;
    bool joined;
    bool homeless;   /* the room's server went down: waiting for CHAT_SERVERS to place it */
    bool ever_joined; /* a move is a CHAT_JOIN_MOVED (else the first join's kind stays) */
    uint64_t homeless_since; /* a counter: the CHAT_TICK that ends the wait carries it */
    char lost_owner[CHAT_MAX_SERVER + 1];
    /* lines the client said while the room moved: sent once it is joined again */
    struct {
        void *data;
        size_t size;
    } held[SESSION_HELD];
    uint32_t nheld;
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

static void leave_room(tr_ctx *self, session_state *s, const char *reason)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, reason);
    chat_buf_send(self, s->room, CHAT_LEAVE, &b);
}

static void notice_client(tr_ctx *self, session_state *s, const char *text)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
    chat_pack_str(&b.pk, text);
    chat_buf_send(self, s->a.client, CHAT_NOTICE, &b);
}

static void session_fail(tr_ctx *self, session_state *s, int code, const char *text);
static void go_homeless(tr_ctx *self, session_state *s);

/* CHAT_SERVERS from our gateway: if the room is placed elsewhere now (its
 * server went down, or a server that wins it came up), follow it there: a
 * quiet LEAVE of the old copy, a notice to the client, and a JOIN as
 * CHAT_JOIN_MOVED at the new one (an OPEN in flight is superseded: its
 * reply no longer matches). */
static void on_servers(tr_ctx *self, session_state *s, const tr_msg *msg)
{
    chat_in in;
    const char *names[CHAT_MAX_SERVERS];
    char buf[CHAT_MAX_SERVERS][CHAT_MAX_SERVER + 1];
    tr_ref dirs[CHAT_MAX_SERVERS];
    size_t n = 0;
    if (chat_in_open(&in, msg->data, msg->size, 1) && in.items[0].type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object_array *list = &in.items[0].via.array;
        for (uint32_t i = 0; i < list->size && n < CHAT_MAX_SERVERS; i++) {
            const msgpack_object *e = &list->ptr[i];
            if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size >= 2 &&
                chat_obj_str(&e->via.array.ptr[0], buf[n], sizeof(buf[n])) &&
                chat_unpack_ref(tr_ctx_system(self), &e->via.array.ptr[1], &dirs[n]) == TR_OK) {
                names[n] = buf[n];
                n++;
            }
        }
    }
    chat_in_close(&in);
    int at = chat_place(s->a.room, names, n);
    if (at < 0 || (strcmp(names[at], s->a.owner) == 0 && tr_ref_equal(dirs[at], s->a.directory)))
        return; /* still where it was */
    if (s->homeless && strcmp(names[at], s->lost_owner) == 0 &&
        tr_ref_equal(dirs[at], s->a.directory))
        return; /* the server we lost, still counted up: wait for the next change */
    bool owner_gone = true; /* the room's server is no longer up (else: one that wins it came) */
    for (size_t i = 0; i < n && owner_gone; i++)
        owner_gone = strcmp(names[i], s->a.owner) != 0;
    char text[320];
    if (s->homeless)
        snprintf(text, sizeof(text), "#%s now runs on server %s (the next in rendezvous order)",
                 s->a.room, names[at]);
    else if (owner_gone && s->ever_joined)
        snprintf(text, sizeof(text),
                 "#%s: its server %s is down; it now runs on server %s (the next in rendezvous order)",
                 s->a.room, s->a.owner, names[at]);
    else
        snprintf(text, sizeof(text), "#%s moves to server %s (the servers up changed: it hosts the room now)",
                 s->a.room, names[at]);
    if (s->joined) { /* quietly: the others move too */
        chat_buf b;
        chat_buf_init(&b);
        msgpack_pack_array(&b.pk, 2);
        chat_pack_str(&b.pk, "");
        msgpack_pack_true(&b.pk);
        chat_buf_send(self, s->room, CHAT_LEAVE, &b);
    }
    if (!tr_ref_is_none(s->room))
        tr_demonitor(tr_ctx_system(self), s->room, s->room_mon);
    bool was_in = s->ever_joined;
    s->room = TR_REF_NONE;
    s->joined = false;
    s->homeless = false;
    snprintf(s->a.owner, sizeof(s->a.owner), "%s", names[at]);
    s->a.directory = dirs[at];
    if (was_in)
        s->a.how = CHAT_JOIN_MOVED;
    notice_client(self, s, text);
    int rc = open_room(self, s);
    if (rc == TR_ENOTCONN || rc == TR_ENODEDOWN) {
        go_homeless(self, s);
    } else if (rc != TR_OK) {
        snprintf(text, sizeof(text), "#%s is unavailable: its server %s cannot be reached",
                 s->a.room, s->a.owner);
        session_fail(self, s, CHAT_E_UNAVAILABLE, text);
    }
}

/* The room is lost for our client: a fatal error. The lines we held were
 * not sent; the client reports each of them (it waits for their CHAT_SAID). */
static void session_fail(tr_ctx *self, session_state *s, int code, const char *text)
{
    for (uint32_t i = 0; i < s->nheld; i++)
        free(s->held[i].data);
    s->nheld = 0;
    chat_send_room_error(self, s->a.client, code, text, true, s->a.room);
    if (s->joined)
        leave_room(self, s, "");
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
    int rc = open_room(self, s);
    if (rc == TR_ENOTCONN || rc == TR_ENODEDOWN) {
        go_homeless(self, s);
    } else if (rc != TR_OK) {
        char text[320];
        snprintf(text, sizeof(text), "#%s is unavailable: its server %s cannot be reached",
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
        char text[320];
        snprintf(text, sizeof(text), "cannot open #%s on server %s: %s", s->a.room,
                 s->a.owner, chat_error_name((int)code));
        session_fail(self, s, code == CHAT_E_BAD_ROOM ? CHAT_E_BAD_ROOM : CHAT_E_UNAVAILABLE, text);
        return;
    }
    s->room = room;
    tr_monitor(tr_ctx_system(self), tr_self(self), room, &s->room_mon);
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, s->a.nick);
    msgpack_pack_int(&b.pk, s->a.how);
    chat_buf_send(self, room, CHAT_JOIN, &b);
}

/* The room's server is down (its room's DOWN, or an OPEN that failed for
 * it): our gateway sees that server down too and says where the room goes
 * (CHAT_SERVERS); if it does not within CHAT_MOVE_WAIT_MS, give up. */
static void go_homeless(tr_ctx *self, session_state *s)
{
    s->joined = false;
    s->room = TR_REF_NONE;
    s->open_corr = 0;
    s->homeless = true;
    snprintf(s->lost_owner, sizeof(s->lost_owner), "%s", s->a.owner);
    char text[320];
    snprintf(text, sizeof(text), "#%s: its server %s is down; moving it to the next server",
             s->a.room, s->a.owner);
    notice_client(self, s, text);
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_uint64(&b.pk, ++s->homeless_since);
    tr_send_after(tr_ctx_system(self), tr_self(self), CHAT_TICK, b.sb.data, b.sb.size,
                  CHAT_MOVE_WAIT_MS, NULL);
    chat_buf_destroy(&b);
}

static void on_room_down(tr_ctx *self, session_state *s, int reason)
{
    s->joined = false;
    s->room = TR_REF_NONE;
    char text[320];
    if (reason == TR_ENODEDOWN || reason == TR_ENOTCONN) {
        go_homeless(self, s);
        return;
    }
    if (++s->rejoins > CHAT_REJOIN_ATTEMPTS) {
        snprintf(text, sizeof(text), "#%s keeps crashing (%s); giving up", s->a.room,
                 tr_strerror(reason));
        session_fail(self, s, CHAT_E_GONE, text);
        return;
    }
    /* the room's supervisor restarts it: tell the client and join again */
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
    snprintf(text, sizeof(text), "#%s restarted (%s); rejoining", s->a.room,
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
    case TR_MSG_ASK_FAILED: /* timed out, or the directory or its node ended */
        if (msg->corr == s->open_corr) {
            int why = tr_ask_failure(msg);
            if (why == TR_ENODEDOWN || why == TR_ENOTCONN) {
                go_homeless(self, s);
                return TR_OK;
            }
            char text[320];
            snprintf(text, sizeof(text), "#%s is unavailable: its server %s did not answer",
                     s->a.room, s->a.owner);
            s->open_corr = 0;
            session_fail(self, s, CHAT_E_UNAVAILABLE, text);
        }
        return TR_OK;
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        if (tr_ref_equal(d->actor, s->a.client) && d->monitor == s->client_mon) {
            if (s->joined) /* the room's own monitor says why (process or node gone) */
                leave_room(self, s, d->reason == TR_ENODEDOWN ? "its connection was lost" : "");
            tr_stop_self(self);
        } else if (tr_ref_equal(d->actor, s->room) && d->monitor == s->room_mon) {
            on_room_down(self, s, d->reason);
        }
        return TR_OK;
    }
    case CHAT_JOINED:
        if (from_room) {
            s->joined = true;
            s->ever_joined = true;
            s->a.how = CHAT_JOIN_NEW; /* a rejoin after a crash is announced again */
            tr_send(self, s->a.client, msg->type, msg->data, msg->size);
            for (uint32_t i = 0; i < s->nheld; i++) {
                tr_send(self, s->room, CHAT_SAY, s->held[i].data, s->held[i].size);
                free(s->held[i].data);
            }
            s->nheld = 0;
        }
        return TR_OK;
    case CHAT_SERVERS:
        if (tr_ref_equal(msg->sender, s->a.gateway))
            on_servers(self, s, msg);
        return TR_OK;
    case CHAT_TICK: { /* [n]: the wait of homeless period n is over */
        chat_in in;
        uint64_t n = 0;
        bool ok = chat_in_open(&in, msg->data, msg->size, 1) && chat_obj_u64(&in.items[0], &n) &&
                  tr_ref_is_none(msg->sender); /* our own timer's */
        chat_in_close(&in);
        if (ok && s->homeless && n == s->homeless_since) {
            char text[320];
            snprintf(text, sizeof(text), "#%s is gone: its server %s went down and no other took it",
                     s->a.room, s->lost_owner);
            session_fail(self, s, CHAT_E_GONE, text);
        }
        return TR_OK;
    }
    case CHAT_LINE:
    case CHAT_NOTICE:
    case CHAT_SAID:
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
        if (from_client && s->joined) {
            tr_send(self, s->room, msg->type, msg->data, msg->size);
        } else if (from_client && msg->type == CHAT_SAY) { /* moving: held until joined */
            void *copy = s->nheld < SESSION_HELD ? malloc(msg->size) : NULL;
            if (copy == NULL) /* the client sends it again once it is in (no CHAT_SAID) */
                return TR_OK;
            memcpy(copy, msg->data, msg->size);
            s->held[s->nheld].data = copy;
            s->held[s->nheld++].size = msg->size;
        }
        return TR_OK;
    case CHAT_NICK: { /* from our gateway only: the new nickname is registered */
        chat_in in;
        char nick[CHAT_MAX_NICK + 1];
        /* (chat_in_open first: chat_in_close needs it to have run) */
        bool ok = chat_in_open(&in, msg->data, msg->size, 2) &&
                  tr_ref_equal(msg->sender, s->a.gateway) &&
                  chat_obj_str(&in.items[1], nick, sizeof(nick)) && chat_valid_nick(nick);
        chat_in_close(&in);
        if (!ok)
            return TR_OK;
        snprintf(s->a.nick, sizeof(s->a.nick), "%s", nick);
        if (s->joined) {
            chat_buf b;
            chat_buf_init(&b);
            msgpack_pack_array(&b.pk, 1);
            chat_pack_str(&b.pk, nick);
            chat_buf_send(self, s->room, CHAT_NICK, &b);
        }
        return TR_OK;
    }
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

static void session_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    session_state *s = state;
    for (uint32_t i = 0; i < s->nheld; i++)
        free(s->held[i].data);
}

const tr_behaviour chat_session_behaviour = {
    .name = "chat.session",
    .init = session_init,
    .handle = session_handle,
    .terminate = session_terminate,
    .state_size = sizeof(session_state),
};

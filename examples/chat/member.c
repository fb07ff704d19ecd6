/* A client's own actor: logs in at its server's gateway with its nickname,
 * is in several rooms (one session each on the server) with a current room
 * for plain lines, runs the user's commands (commands.c), reports what
 * arrives to a callback, and acknowledges every CHAT_ACK_EVERY messages per
 * room (the room's measure of a slow client).
 *
 * It ends after /quit (reason TR_OK), or with TR_EUSER + a chat error code:
 * a fatal error about the login (nickname taken or invalid), its server lost
 * (CHAT_E_GONE), cut off for reading too slowly (CHAT_E_SLOW), or a room lost
 * when no room is left and either no room was ever joined (the first join
 * refused) or the room's server went down.
 *
 * Failover (cfg.failover): once logged in, losing the server (its node down,
 * its gateway ended, or it says it is shutting down) is not the end. The
 * member forgets its sessions but keeps its rooms, its current room and what
 * is typed for them, says CHAT_EV_LOST, and waits: the program finds a
 * server and posts CHAT_RECONNECT with that server's gateway. The member logs
 * in there with the same nickname (a refusal is another CHAT_EV_LOST: the
 * program tries again, elsewhere or later) and rejoins each room as
 * CHAT_JOIN_BACK; the rooms' history shows only the lines not seen yet
 * (the uids of the last lines shown are kept per room; a line seen already
 * is not shown again, live or as history).
 *
 * Confirmation: each line goes out with an id (CHAT_SAY [text, me, id]) and
 * waits, per room, until the room says CHAT_SAID (it and its replica hold
 * the line): CHAT_EV_CONFIRMED. Whenever the member is in a room again
 * (after a failover, a move of the room, a restart of the room) it sends
 * the lines still waiting again, with the same ids: the room takes each
 * once. If the room or the member is lost first, each such line is
 * reported, "not delivered to #room: text" (CHAT_E_UNDELIVERED).
 * A private line (/msg) goes with an id too and waits for its CHAT_SAID
 * (sent once the addressee's server handed it over, or it failed: then an
 * error says why); one still waiting when our server is lost is reported
 * (it may or may not have reached the addressee: it is not sent again).
 * /quit waits for what is still unconfirmed (at most CHAT_QUIT_WAIT_MS),
 * then reports what still is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"

#define HELD_LINES 16 /* lines typed for a room still being joined */
#define SEEN_LINES (2 * CHAT_HISTORY) /* uids of lines shown, per room */
#define PRIV_WAITING 16 /* private lines sent, not confirmed yet */

/* A line sent, not confirmed yet (CHAT_SAID). */
typedef struct sent_line {
    uint64_t id;
    char *text; /* malloc'd */
    bool me;
} sent_line;

typedef struct joined_room {
    char name[CHAT_MAX_ROOM + 1];
    tr_ref session;    /* none until JOINED arrived */
    uint64_t mon;
    uint64_t received; /* LINE + NOTICE since JOINED, acknowledged every CHAT_ACK_EVERY */
    bool joined;
    bool ever_joined;  /* the next JOINED is a rejoin */
    bool was_joined;   /* in it when the server was lost: rejoin as CHAT_JOIN_BACK */
    uint64_t seen[SEEN_LINES]; /* uids of the last lines shown (not shown again) */
    uint32_t seen_next;
    sent_line *unconfirmed; /* sent, waiting for CHAT_SAID (malloc'd, in order) */
    uint32_t nunconfirmed, capunconfirmed;
    char *held[HELD_LINES]; /* typed after /join, sent once joined (malloc'd) */
    bool held_me[HELD_LINES];
    uint32_t nheld;
} joined_room;

typedef struct member_state {
    chat_member_cfg cfg;
    char nick[CHAT_MAX_NICK + 1];
    char server[CHAT_MAX_SERVER + 1];
    uint64_t gw_mon;
    bool logged_in;
    bool ever_joined;
    bool leaving; /* /quit: the sessions' ends that follow are expected */
    bool lost;    /* failover: the server is lost, waiting for CHAT_RECONNECT */
    bool relogin; /* failover: LOGIN sent to the new gateway, no WELCOME yet */
    char lost_server[CHAT_MAX_SERVER + 1]; /* the server lost (for CHAT_EV_BACK) */
    joined_room rooms[CHAT_MAX_JOINED];
    uint32_t n;
    int current;  /* index into rooms, -1 = none */
    uint64_t next_id; /* the id of our next line (random start: unique across clients) */
    struct {
        uint64_t id;
        char to[CHAT_MAX_NICK + 1];
        char *text; /* malloc'd */
    } privs[PRIV_WAITING]; /* /msg sent, waiting for CHAT_SAID, in order */
    uint32_t nprivs;
    bool quitting; /* /quit waits for the lines still unconfirmed */
    char quit_reason[CHAT_MAX_LINE + 1];
} member_state;

static int64_t now_s(void) { return (int64_t)time(NULL); }

typedef struct joined_room joined_room;
static void send_line(tr_ctx *self, struct member_state *s, joined_room *r, const char *text, bool me);
static void send_say(tr_ctx *self, joined_room *r, const sent_line *l);

static void emit(member_state *s, chat_event *ev)
{
    uint32_t joined = 0;
    for (uint32_t i = 0; i < s->n; i++)
        joined += s->rooms[i].joined;
    ev->tagged = joined > 1;
    if (ev->room == NULL)
        ev->room = "";
    if (s->cfg.on_event != NULL)
        s->cfg.on_event(s->cfg.ctx, ev);
}

static void say_error(member_state *s, int code, const char *room, const char *text)
{
    chat_event ev = {.kind = CHAT_EV_ERROR, .ts = now_s(), .text = text, .room = room, .code = code};
    emit(s, &ev);
}

static void say_info(member_state *s, const char *text)
{
    chat_event ev = {.kind = CHAT_EV_INFO, .ts = now_s(), .text = text};
    emit(s, &ev);
}

static void report_undelivered(member_state *s, joined_room *r);
static void report_privs(member_state *s, const char *why);
static void leave_now(tr_ctx *self, member_state *s, const char *reason);

static void fatal(tr_ctx *self, member_state *s, int code, const char *room, const char *text)
{
    report_privs(s, "the client ends");
    for (uint32_t i = 0; i < s->n; i++) /* the member ends: these will never be confirmed */
        report_undelivered(s, &s->rooms[i]);
    chat_event ev = {.kind = CHAT_EV_ERROR, .ts = now_s(), .text = text, .room = room,
                     .code = code, .fatal = true};
    emit(s, &ev);
    s->leaving = true;
    tr_fail(self, TR_EUSER + code);
}

/* Our server is lost (text says how). Without failover, or before the
 * first login, that is the end (CHAT_E_GONE). With it: forget the sessions
 * (their server is gone), keep the rooms, say CHAT_EV_LOST and wait for
 * CHAT_RECONNECT. Also called when a re-login is refused. */
static void lose_server(tr_ctx *self, member_state *s, const char *text)
{
    char why[CHAT_MAX_SERVER + 32];
    snprintf(why, sizeof(why), "server %s was lost", s->server[0] ? s->server : "?");
    report_privs(s, why);
    if (s->quitting) { /* nothing will be confirmed now */
        leave_now(self, s, s->quit_reason);
        return;
    }
    if (!s->cfg.failover || !s->logged_in) {
        fatal(self, s, CHAT_E_GONE, "", text);
        return;
    }
    tr_system *sys = tr_ctx_system(self);
    tr_demonitor(sys, s->cfg.gateway, s->gw_mon); /* may have fired already: harmless */
    s->gw_mon = 0;
    if (!s->lost) {
        snprintf(s->lost_server, sizeof(s->lost_server), "%s", s->server);
        for (uint32_t i = 0; i < s->n; i++) {
            struct joined_room *r = &s->rooms[i];
            if (!tr_ref_is_none(r->session))
                tr_demonitor(sys, r->session, r->mon);
            r->was_joined = r->joined;
            r->session = TR_REF_NONE;
            r->joined = false;
            r->received = 0;
        }
    }
    s->lost = true;
    s->relogin = false;
    chat_event ev = {.kind = CHAT_EV_LOST, .ts = now_s(), .text = text, .nick = s->server};
    emit(s, &ev);
}

static joined_room *find_name(member_state *s, const char *name)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->rooms[i].name, name) == 0)
            return &s->rooms[i];
    return NULL;
}

static joined_room *find_session(member_state *s, tr_ref session)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->rooms[i].joined && tr_ref_equal(s->rooms[i].session, session))
            return &s->rooms[i];
    return NULL;
}

static joined_room *current(member_state *s)
{
    return s->current >= 0 && s->rooms[s->current].joined ? &s->rooms[s->current] : NULL;
}

/* FNV-1a of a line as shown (nick, text, /me): its key when it came
 * without a uid. */
static uint64_t line_hash(const char *nick, const char *text, bool me)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = nick; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    h = (h ^ (me ? 1u : 2u)) * 1099511628211ULL;
    for (const char *p = text; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h;
}

static void remember(joined_room *r, uint64_t key)
{
    r->seen[r->seen_next++ % SEEN_LINES] = key;
}

static bool seen_before(const joined_room *r, uint64_t key)
{
    uint32_t n = r->seen_next < SEEN_LINES ? r->seen_next : SEEN_LINES;
    for (uint32_t i = 0; i < n; i++)
        if (r->seen[i] == key)
            return true;
    return false;
}

/* Each line of r still waiting for its confirmation, as an error: it will
 * not be delivered (the room or the member is lost). Forgets them. */
static void report_undelivered(member_state *s, joined_room *r)
{
    for (uint32_t k = 0; k < r->nunconfirmed; k++) {
        char text[CHAT_MAX_TEXT + CHAT_MAX_ROOM + 64];
        snprintf(text, sizeof(text), "not delivered to #%s: %s%s", r->name,
                 r->unconfirmed[k].me ? "/me " : "", r->unconfirmed[k].text);
        say_error(s, CHAT_E_UNDELIVERED, r->name, text);
        free(r->unconfirmed[k].text);
    }
    r->nunconfirmed = 0;
    for (uint32_t k = 0; k < r->nheld; k++) { /* typed while (re)joining: never sent */
        char text[CHAT_MAX_TEXT + CHAT_MAX_ROOM + 64];
        snprintf(text, sizeof(text), "not delivered to #%s: %s%s", r->name,
                 r->held_me[k] ? "/me " : "", r->held[k]);
        say_error(s, CHAT_E_UNDELIVERED, r->name, text);
        free(r->held[k]);
    }
    r->nheld = 0;
}

/* Each private line still waiting for its CHAT_SAID, as an error (why: what
 * happened); forgets them. They are not sent again: the addressee may
 * have it. */
static void report_privs(member_state *s, const char *why)
{
    for (uint32_t k = 0; k < s->nprivs; k++) {
        char text[CHAT_MAX_TEXT + 2 * CHAT_MAX_NICK + CHAT_MAX_SERVER + 160];
        snprintf(text, sizeof(text), "not confirmed (%s before %s's server answered; it may not "
                 "have been delivered): /msg %s %s", why, s->privs[k].to, s->privs[k].to,
                 s->privs[k].text);
        say_error(s, CHAT_E_UNDELIVERED, "", text);
        free(s->privs[k].text);
    }
    s->nprivs = 0;
}

/* Forgets a room (after /part, or when it was lost); the current room
 * becomes the most recently joined one left. Lines held for it are dropped
 * and the user is told. */
static void drop_room(tr_ctx *self, member_state *s, joined_room *r)
{
    if (!tr_ref_is_none(r->session))
        tr_demonitor(tr_ctx_system(self), r->session, r->mon);
    if (r->nheld > 0) {
        char text[128];
        snprintf(text, sizeof(text), "%u line(s) typed for #%s not sent: not in it", r->nheld,
                 r->name);
        say_error(s, CHAT_E_NOT_MEMBER, r->name, text);
    }
    for (uint32_t k = 0; k < r->nheld; k++)
        free(r->held[k]);
    r->nheld = 0;
    for (uint32_t k = 0; k < r->nunconfirmed; k++)
        free(r->unconfirmed[k].text);
    free(r->unconfirmed);
    uint32_t i = (uint32_t)(r - s->rooms);
    memmove(&s->rooms[i], &s->rooms[i + 1], (s->n - i - 1) * sizeof(*r));
    s->n--;
    s->current = -1;
    for (uint32_t k = 0; k < s->n; k++)
        if (s->rooms[k].joined)
            s->current = (int)k;
}

/* A room was lost (fatal error or its session ended). Ends the member when
 * nothing is left to talk in and this was the first join or a server loss. */
static void room_lost(tr_ctx *self, member_state *s, joined_room *r, int code, const char *text)
{
    char room[CHAT_MAX_ROOM + 1];
    snprintf(room, sizeof(room), "%s", r->name);
    report_undelivered(s, r);
    drop_room(self, s, r);
    if (code == CHAT_E_SLOW || (s->n == 0 && (!s->ever_joined || code == CHAT_E_GONE))) {
        fatal(self, s, code, room, text);
        return;
    }
    chat_event ev = {.kind = CHAT_EV_ERROR, .ts = now_s(), .text = text, .room = room,
                     .code = code, .fatal = true};
    emit(s, &ev);
}

static int send_strs(tr_ctx *self, tr_ref to, uint32_t type, const char *a, const char *b)
{
    chat_buf buf;
    chat_buf_init(&buf);
    msgpack_pack_array(&buf.pk, b != NULL ? 2 : a != NULL ? 1 : 0);
    if (a != NULL)
        chat_pack_str(&buf.pk, a);
    if (b != NULL)
        chat_pack_str(&buf.pk, b);
    return chat_buf_send(self, to, type, &buf);
}

static int member_init(tr_ctx *self, void *state, void *arg)
{
    member_state *s = state;
    if (arg == NULL)
        return TR_EINVAL;
    s->cfg = *(const chat_member_cfg *)arg;
    s->current = -1;
    snprintf(s->nick, sizeof(s->nick), "%s", s->cfg.nick);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    s->next_id = chat_hrw_weight(s->nick, "") ^ ((uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec) ^
                 ((uint64_t)(uintptr_t)s << 16);
    tr_system *sys = tr_ctx_system(self);
    if (tr_monitor(sys, tr_self(self), s->cfg.gateway, &s->gw_mon) != TR_OK)
        return TR_EDEAD;
    int rc = send_strs(self, s->cfg.gateway, CHAT_LOGIN, s->nick, NULL);
    if (rc != TR_OK) {
        char text[320];
        snprintf(text, sizeof(text), "cannot reach the server: %s", tr_strerror(rc));
        fatal(self, s, CHAT_E_GONE, "", text);
    }
    return TR_OK;
}

/* CHAT_JOIN [room, how] to our gateway. */
static void send_join(tr_ctx *self, member_state *s, const joined_room *r)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, r->name);
    msgpack_pack_int(&b.pk, r->was_joined ? CHAT_JOIN_BACK : CHAT_JOIN_NEW);
    chat_buf_send(self, s->cfg.gateway, CHAT_JOIN, &b);
}

static void join(tr_ctx *self, member_state *s, const char *name)
{
    joined_room *r = find_name(s, name);
    char text[320];
    if (r != NULL) {
        if (r->joined) {
            s->current = (int)(r - s->rooms);
            snprintf(text, sizeof(text), "#%s is now your current room", name);
        } else {
            snprintf(text, sizeof(text), "still joining #%s", name);
        }
        say_info(s, text);
        return;
    }
    if (s->n >= CHAT_MAX_JOINED) {
        snprintf(text, sizeof(text), "too many rooms (at most %d at once): /part one first",
                 CHAT_MAX_JOINED);
        say_error(s, CHAT_E_TOO_MANY, name, text);
        return;
    }
    r = &s->rooms[s->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    s->current = (int)(r - s->rooms); /* what is typed next is for it (held until joined) */
    if (!s->lost) /* else joined once logged in again */
        send_join(self, s, r);
}

static void count_and_ack(tr_ctx *self, member_state *s, joined_room *r)
{
    r->received++;
    if (s->cfg.no_ack || r->received % CHAT_ACK_EVERY != 0)
        return;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_uint64(&b.pk, r->received);
    chat_buf_send(self, r->session, CHAT_ACK, &b);
}

/* A line [ts, nick, text, me, uid] (live or history) as an event; *key is
 * its uid (or, without one, a hash of it). */
static bool line_event(const msgpack_object *items, uint32_t n, chat_event *ev, char *nick,
                       char *text, uint64_t *key)
{
    if (n < 3 || !chat_obj_i64(&items[0], &ev->ts) || !chat_obj_str(&items[1], nick, CHAT_MAX_NICK + 1) ||
        !chat_valid_nick(nick) || items[2].type != MSGPACK_OBJECT_STR ||
        items[2].via.str.size > CHAT_MAX_TEXT)
        return false;
    /* cleaned on display too: the server is not trusted with our terminal */
    chat_clean(items[2].via.str.ptr, items[2].via.str.size, text, CHAT_MAX_TEXT + 1, NULL);
    ev->nick = nick;
    ev->text = text;
    ev->me = n >= 4 && items[3].type == MSGPACK_OBJECT_BOOLEAN && items[3].via.boolean;
    if (n < 5 || !chat_obj_u64(&items[4], key) || *key == 0)
        *key = line_hash(nick, text, ev->me);
    return true;
}

static void on_joined(tr_ctx *self, member_state *s, const tr_msg *msg)
{
    chat_in in;
    char room[CHAT_MAX_ROOM + 1] = "", server[CHAT_MAX_SERVER + 1] = "";
    if (s->lost)
        return; /* from a session of the server we lost */
    if (!chat_in_open(&in, msg->data, msg->size, 4) || !chat_obj_str(&in.items[0], room, sizeof(room)) ||
        !chat_obj_str(&in.items[1], server, sizeof(server)) ||
        in.items[2].type != MSGPACK_OBJECT_ARRAY || in.items[3].type != MSGPACK_OBJECT_ARRAY) {
        chat_in_close(&in);
        return;
    }
    joined_room *r = find_session(s, msg->sender); /* a rejoin after a room restart */
    if (r == NULL) {
        r = find_name(s, room);
        if (r == NULL || r->joined) { /* not asked for (parted meanwhile): leave it */
            chat_in_close(&in);
            send_strs(self, msg->sender, CHAT_LEAVE, "", NULL);
            return;
        }
        r->session = msg->sender;
        tr_monitor(tr_ctx_system(self), tr_self(self), r->session, &r->mon);
    }
    bool again = r->ever_joined;
    r->joined = true;
    r->ever_joined = true;
    r->was_joined = false;
    r->received = 0;
    s->ever_joined = true;
    if (s->current < 0)
        s->current = (int)(r - s->rooms);
    const msgpack_object_array *hist = &in.items[3].via.array;
    for (uint32_t i = 0; i < hist->size; i++) {
        const msgpack_object *h = &hist->ptr[i];
        char nick[CHAT_MAX_NICK + 1], text[CHAT_MAX_TEXT + 1];
        chat_event ev = {.kind = CHAT_EV_HISTORY, .room = r->name};
        uint64_t key;
        if (h->type == MSGPACK_OBJECT_ARRAY &&
            line_event(h->via.array.ptr, h->via.array.size, &ev, nick, text, &key) &&
            !seen_before(r, key)) {
            remember(r, key);
            emit(s, &ev);
        }
    }
    char names[1024] = "";
    chat_append_nicks(names, sizeof(names), 0, &in.items[2].via.array, "");
    chat_event ev = {.kind = CHAT_EV_JOINED, .ts = now_s(), .nick = server, .text = names,
                     .room = r->name, .again = again};
    emit(s, &ev);
    chat_in_close(&in);
    if (again && r->nunconfirmed > 0) { /* not confirmed before: the room takes each once */
        char text[160];
        snprintf(text, sizeof(text), "#%s: sending again %u line(s) not confirmed before", r->name,
                 r->nunconfirmed);
        say_info(s, text);
        for (uint32_t k = 0; k < r->nunconfirmed; k++)
            send_say(self, r, &r->unconfirmed[k]);
    }
    for (uint32_t k = 0; k < r->nheld; k++) { /* typed while joining */
        send_line(self, s, r, r->held[k], r->held_me[k]);
        free(r->held[k]);
    }
    r->nheld = 0;
}

static void on_error(tr_ctx *self, member_state *s, const tr_msg *msg)
{
    chat_in in;
    int64_t code = CHAT_E_PROTO;
    char text[CHAT_MAX_TEXT + 1] = "error", room[CHAT_MAX_ROOM + 1] = "";
    bool is_fatal = false;
    if (chat_in_open(&in, msg->data, msg->size, 2)) {
        chat_obj_i64(&in.items[0], &code);
        if (in.items[1].type == MSGPACK_OBJECT_STR && in.items[1].via.str.size <= CHAT_MAX_LINE)
            chat_clean(in.items[1].via.str.ptr, in.items[1].via.str.size, text, sizeof(text), NULL);
        is_fatal = in.n >= 3 ? in.items[2].type == MSGPACK_OBJECT_BOOLEAN && in.items[2].via.boolean
                             : chat_error_fatal((int)code);
        if (in.n >= 4 && !chat_obj_str(&in.items[3], room, sizeof(room)))
            room[0] = '\0';
    }
    chat_in_close(&in);
    if (s->lost && !tr_ref_equal(msg->sender, s->cfg.gateway))
        return; /* from a session of the server we lost */
    joined_room *r = find_session(s, msg->sender);
    if (r == NULL && room[0] != '\0') {
        r = find_name(s, room);
        if (r != NULL && r->joined && !tr_ref_equal(r->session, msg->sender))
            r = NULL; /* about another (earlier) session of that room */
    }
    if (!is_fatal) {
        say_error(s, (int)code, r != NULL ? r->name : room, text);
        return;
    }
    if (r != NULL)
        room_lost(self, s, r, (int)code, text);
    else if (room[0] == '\0' && (s->lost || (code == CHAT_E_GONE && s->logged_in)))
        lose_server(self, s, text); /* a refused re-login, or our server is shutting down */
    else if (room[0] == '\0')
        fatal(self, s, (int)code, "", text); /* about us, not one room: the login */
    else
        say_error(s, (int)code, room, text);
}

static void on_priv(member_state *s, const tr_msg *msg)
{
    chat_in in;
    char from[CHAT_MAX_NICK + 1], to[CHAT_MAX_NICK + 1], text[CHAT_MAX_TEXT + 1];
    chat_event ev = {.kind = CHAT_EV_PRIV};
    if (chat_in_open(&in, msg->data, msg->size, 5) && chat_obj_i64(&in.items[0], &ev.ts) &&
        chat_obj_str(&in.items[1], from, sizeof(from)) && chat_valid_nick(from) &&
        chat_obj_str(&in.items[2], to, sizeof(to)) && chat_valid_nick(to) &&
        in.items[3].type == MSGPACK_OBJECT_STR && in.items[3].via.str.size <= CHAT_MAX_TEXT) {
        chat_clean(in.items[3].via.str.ptr, in.items[3].via.str.size, text, sizeof(text), NULL);
        ev.nick = from;
        ev.to = to;
        ev.text = text;
        ev.echo = in.items[4].type == MSGPACK_OBJECT_BOOLEAN && in.items[4].via.boolean;
        emit(s, &ev);
    }
    chat_in_close(&in);
}

static void on_info(member_state *s, const tr_msg *msg)
{
    chat_in in;
    if (chat_in_open(&in, msg->data, msg->size, 2) && in.items[1].type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object_array *lines = &in.items[1].via.array;
        for (uint32_t i = 0; i < lines->size; i++) {
            char text[CHAT_MAX_TEXT + 1];
            if (lines->ptr[i].type != MSGPACK_OBJECT_STR || lines->ptr[i].via.str.size > CHAT_MAX_LINE)
                continue;
            chat_clean(lines->ptr[i].via.str.ptr, lines->ptr[i].via.str.size, text, sizeof(text),
                       NULL);
            say_info(s, text);
        }
    }
    chat_in_close(&in);
}

/* Sends text ([text, me]) to the current room and shows it as sent; while
 * the current room is still being joined, the line waits for it. */
static void say(tr_ctx *self, member_state *s, const char *text, bool me)
{
    joined_room *r = s->current >= 0 ? &s->rooms[s->current] : NULL;
    if (r == NULL) {
        say_error(s, CHAT_E_COMMAND, "", "you are in no room (not sent): /join #room first");
        return;
    }
    if (!r->joined) {
        char *copy = r->nheld < HELD_LINES ? strdup(text) : NULL;
        if (copy == NULL) {
            char err[96];
            snprintf(err, sizeof(err), "still joining #%s: line not sent", r->name);
            say_error(s, CHAT_E_COMMAND, r->name, err);
            return;
        }
        r->held_me[r->nheld] = me;
        r->held[r->nheld++] = copy;
        return;
    }
    send_line(self, s, r, text, me);
}

/* CHAT_SAY [text, me, id] to the room's session. */
static void send_say(tr_ctx *self, joined_room *r, const sent_line *l)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 3);
    chat_pack_str(&b.pk, l->text);
    if (l->me)
        msgpack_pack_true(&b.pk);
    else
        msgpack_pack_false(&b.pk);
    msgpack_pack_uint64(&b.pk, l->id);
    chat_buf_send(self, r->session, CHAT_SAY, &b);
}

/* Sends a line to a joined room and shows it as sent; it waits for its
 * confirmation (at most CHAT_MEMBER_UNCONFIRMED per room). */
static void send_line(tr_ctx *self, member_state *s, joined_room *r, const char *text, bool me)
{
    char err[160];
    if (r->nunconfirmed == CHAT_MEMBER_UNCONFIRMED) {
        snprintf(err, sizeof(err), "not sent: %d lines in #%s still wait for the server's confirmation",
                 CHAT_MEMBER_UNCONFIRMED, r->name);
        say_error(s, CHAT_E_UNAVAILABLE, r->name, err);
        return;
    }
    if (!CHAT_ARRAY_MAKE_SPACE(r->unconfirmed, r->nunconfirmed, r->capunconfirmed, 4)) {
        say_error(s, CHAT_E_UNAVAILABLE, r->name, "not sent: out of memory");
        return;
    }
    sent_line l = {.id = ++s->next_id, .text = strdup(text), .me = me};
    if (l.text == NULL) {
        say_error(s, CHAT_E_UNAVAILABLE, r->name, "not sent: out of memory");
        return;
    }
    r->unconfirmed[r->nunconfirmed++] = l;
    send_say(self, r, &l);
    chat_event ev = {.kind = CHAT_EV_SENT, .ts = now_s(), .nick = s->nick, .text = text,
                     .room = r->name, .me = me};
    remember(r, chat_line_uid(r->name, l.id)); /* it may come back as history */
    emit(s, &ev);
}

/* CHAT_SAID [id, code] from a room's session: the line is confirmed (or
 * was refused: the room said why in a CHAT_ERROR); from our gateway or its
 * task: a private line was delivered (or refused, with an error). */
static void on_said(member_state *s, const tr_msg *msg)
{ /* (the caller ends a /quit that waited for this) */
    chat_in in;
    uint64_t id = 0;
    int64_t code = CHAT_OK;
    bool ok = chat_in_open(&in, msg->data, msg->size, 2) && chat_obj_u64(&in.items[0], &id) &&
              chat_obj_i64(&in.items[1], &code);
    chat_in_close(&in);
    if (!ok)
        return;
    for (uint32_t k = 0; k < s->nprivs; k++) /* a private line: delivered or refused (said) */
        if (s->privs[k].id == id) {
            free(s->privs[k].text);
            memmove(&s->privs[k], &s->privs[k + 1], (s->nprivs - k - 1) * sizeof(s->privs[0]));
            s->nprivs--;
            return;
        }
    joined_room *r = find_session(s, msg->sender);
    if (r == NULL)
        return;
    for (uint32_t k = 0; k < r->nunconfirmed; k++) {
        sent_line *l = &r->unconfirmed[k];
        if (l->id != id)
            continue;
        if (code == CHAT_OK) {
            chat_event ev = {.kind = CHAT_EV_CONFIRMED, .ts = now_s(), .nick = s->nick,
                             .text = l->text, .room = r->name, .me = l->me};
            emit(s, &ev);
        }
        free(l->text);
        memmove(l, l + 1, (r->nunconfirmed - k - 1) * sizeof(*l));
        r->nunconfirmed--;
        return;
    }
}

static uint32_t waiting_lines(const member_state *s)
{
    uint32_t n = s->nprivs;
    for (uint32_t i = 0; i < s->n; i++)
        n += s->rooms[i].nunconfirmed + s->rooms[i].nheld;
    return n;
}

/* Leaves every room and ends; what is still unconfirmed is reported. */
static void leave_now(tr_ctx *self, member_state *s, const char *reason)
{
    report_privs(s, "you quit");
    for (uint32_t i = 0; i < s->n; i++) {
        report_undelivered(s, &s->rooms[i]);
        if (s->rooms[i].joined)
            send_strs(self, s->rooms[i].session, CHAT_LEAVE, reason, NULL);
    }
    s->leaving = true;
    tr_stop_self(self); /* after the queued messages, which may include the
                         * DOWNs of the sessions we ended */
}

/* /quit: at once, or once the lines still waiting for their confirmation
 * have it (at most CHAT_QUIT_WAIT_MS: then they are reported). */
static void quit(tr_ctx *self, member_state *s, const char *reason)
{
    if (s->quitting)
        return;
    if (s->lost || waiting_lines(s) == 0) {
        leave_now(self, s, reason);
        return;
    }
    s->quitting = true;
    snprintf(s->quit_reason, sizeof(s->quit_reason), "%s", reason);
    tr_send_after(tr_ctx_system(self), tr_self(self), CHAT_TICK, NULL, 0, CHAT_QUIT_WAIT_MS, NULL);
}

static void part(tr_ctx *self, member_state *s, const char *name, const char *reason)
{
    joined_room *r = name[0] != '\0' ? find_name(s, name) : current(s);
    char text[CHAT_MAX_LINE + 64];
    if (r == NULL) {
        if (name[0] != '\0')
            snprintf(text, sizeof(text), "you are not in #%s", name);
        else
            snprintf(text, sizeof(text), "you are in no room");
        say_error(s, CHAT_E_COMMAND, name, text);
        return;
    }
    if (!r->joined && s->lost) { /* nothing to tell: no session */
        char room[CHAT_MAX_ROOM + 1];
        snprintf(room, sizeof(room), "%s", r->name);
        chat_event ev = {.kind = CHAT_EV_PARTED, .ts = now_s(), .room = room, .text = reason};
        emit(s, &ev);
        drop_room(self, s, r);
        return;
    }
    if (!r->joined) {
        snprintf(text, sizeof(text), "still joining #%s: /part it once you are in", r->name);
        say_error(s, CHAT_E_COMMAND, r->name, text);
        return;
    }
    send_strs(self, r->session, CHAT_LEAVE, reason, NULL);
    char room[CHAT_MAX_ROOM + 1];
    snprintf(room, sizeof(room), "%s", r->name);
    chat_event ev = {.kind = CHAT_EV_PARTED, .ts = now_s(), .room = room, .text = reason};
    emit(s, &ev); /* still tagged as it was */
    drop_room(self, s, r);
    if (current(s) != NULL) {
        snprintf(text, sizeof(text), "your current room is #%s", current(s)->name);
        say_info(s, text);
    }
}

/* CHAT_PRIV [to, text, id] to our gateway; it waits for its CHAT_SAID. */
static void send_priv(tr_ctx *self, member_state *s, const char *to, const char *text)
{
    char *copy = s->nprivs < PRIV_WAITING ? strdup(text) : NULL;
    if (copy == NULL) {
        char err[128];
        snprintf(err, sizeof(err), "not sent: %d private lines still wait for their delivery",
                 PRIV_WAITING);
        say_error(s, CHAT_E_UNAVAILABLE, "", err);
        return;
    }
    uint64_t id = ++s->next_id;
    s->privs[s->nprivs].id = id;
    s->privs[s->nprivs].text = copy;
    snprintf(s->privs[s->nprivs].to, sizeof(s->privs[0].to), "%.*s", CHAT_MAX_NICK, to);
    s->nprivs++;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 3);
    chat_pack_str(&b.pk, to);
    chat_pack_str(&b.pk, text);
    msgpack_pack_uint64(&b.pk, id);
    chat_buf_send(self, s->cfg.gateway, CHAT_PRIV, &b);
}

/* One line the user typed: cleaned, then a command or a line for the current room. */
static void on_input(tr_ctx *self, member_state *s, const char *raw, size_t n)
{
    char text[320];
    if (n > CHAT_MAX_LINE) {
        snprintf(text, sizeof(text), "line too long (%zu bytes, max %d): not sent", n,
                 CHAT_MAX_LINE);
        say_error(s, CHAT_E_TOO_LONG, "", text);
        return;
    }
    if (chat_blank(raw, n))
        return;
    char line[CHAT_MAX_TEXT + 1];
    chat_clean_report rep;
    size_t len = chat_clean(raw, n, line, sizeof(line), &rep);
    char what[160];
    chat_clean_describe(&rep, what, sizeof(what));
    if (what[0] != '\0') {
        snprintf(text, sizeof(text), "your line had %s", what);
        say_error(s, CHAT_E_INPUT, "", text);
    }
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] == '/' && p[1] != '/') /* a command: trailing blanks do not count */
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
    chat_cmd cmd;
    chat_parse_command(line, &cmd);
    if (s->lost && (cmd.kind == CHAT_CMD_NICK || cmd.kind == CHAT_CMD_MSG ||
                    cmd.kind == CHAT_CMD_WHO || cmd.kind == CHAT_CMD_LIST ||
                    cmd.kind == CHAT_CMD_WHERE)) {
        say_error(s, CHAT_E_COMMAND, "", "not connected (reconnecting to a server): try again in a moment");
        return;
    }
    switch (cmd.kind) {
    case CHAT_CMD_SAY:
        say(self, s, cmd.text, false);
        return;
    case CHAT_CMD_ME:
        say(self, s, cmd.text, true);
        return;
    case CHAT_CMD_JOIN:
        join(self, s, cmd.arg);
        return;
    case CHAT_CMD_PART:
        part(self, s, cmd.arg, cmd.text);
        return;
    case CHAT_CMD_NICK:
        send_strs(self, s->cfg.gateway, CHAT_NICK, cmd.arg, NULL);
        return;
    case CHAT_CMD_MSG:
        send_priv(self, s, cmd.arg, cmd.text);
        return;
    case CHAT_CMD_WHO: {
        joined_room *r = current(s);
        if (cmd.arg[0] == '\0' && r == NULL) {
            say_error(s, CHAT_E_COMMAND, "", "usage: /who #room (you are in no room)");
            return;
        }
        send_strs(self, s->cfg.gateway, CHAT_WHO, cmd.arg[0] ? cmd.arg : r->name, NULL);
        return;
    }
    case CHAT_CMD_LIST:
        send_strs(self, s->cfg.gateway, CHAT_LIST, NULL, NULL);
        return;
    case CHAT_CMD_WHERE:
        send_strs(self, s->cfg.gateway, CHAT_WHERE, cmd.arg, NULL);
        return;
    case CHAT_CMD_HELP:
        for (int i = 0; chat_help_lines[i] != NULL; i++)
            say_info(s, chat_help_lines[i]);
        return;
    case CHAT_CMD_QUIT:
        quit(self, s, cmd.text);
        return;
    case CHAT_CMD_BAD: {
        char name[24];
        size_t k = 0;
        while (p[k] != '\0' && p[k] != ' ' && p[k] != '\t' && k + 1 < sizeof(name))
            k++;
        snprintf(name, sizeof(name), "%.*s", (int)k, p);
        if (strncmp(cmd.text, "unknown", 7) == 0)
            snprintf(text, sizeof(text), "unknown command %s (not sent); /help lists the commands",
                     name);
        else
            snprintf(text, sizeof(text), "%s: %s", name, cmd.text);
        say_error(s, CHAT_E_COMMAND, "", text);
        return;
    }
    }
}

/* CHAT_RECONNECT [gateway ref]: log in there; [nil, why]: give up. */
static void on_reconnect(tr_ctx *self, member_state *s, const tr_msg *msg)
{
    chat_in in;
    tr_ref gw = TR_REF_NONE;
    char why[CHAT_MAX_TEXT + 1] = "could not reconnect to any server";
    bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
              chat_unpack_ref(tr_ctx_system(self), &in.items[0], &gw) == TR_OK;
    if (!ok && in.n >= 2 && in.items[1].type == MSGPACK_OBJECT_STR &&
        in.items[1].via.str.size <= CHAT_MAX_LINE)
        chat_clean(in.items[1].via.str.ptr, in.items[1].via.str.size, why, sizeof(why), NULL);
    chat_in_close(&in);
    if (!ok) {
        fatal(self, s, CHAT_E_GONE, "", why);
        return;
    }
    tr_demonitor(tr_ctx_system(self), s->cfg.gateway, s->gw_mon);
    s->cfg.gateway = gw;
    if (tr_monitor(tr_ctx_system(self), tr_self(self), gw, &s->gw_mon) != TR_OK ||
        send_strs(self, gw, CHAT_LOGIN, s->nick, NULL) != TR_OK) {
        s->gw_mon = 0;
        lose_server(self, s, "the server we reconnected to went away at once");
        return;
    }
    s->relogin = true;
}

static int member_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    member_state *s = state;
    bool outside = tr_ref_is_none(msg->sender); /* posted by our own program */
    if (s->leaving && msg->type != TR_MSG_DOWN)
        return TR_OK;
    switch (msg->type) {
    case CHAT_WELCOME: {
        chat_in in;
        char server[CHAT_MAX_SERVER + 1] = "", nick[CHAT_MAX_NICK + 1] = "";
        /* (chat_in_open first: chat_in_close needs it to have run) */
        bool ok = chat_in_open(&in, msg->data, msg->size, 2) &&
                  tr_ref_equal(msg->sender, s->cfg.gateway) &&
                  chat_obj_str(&in.items[0], server, sizeof(server)) &&
                  chat_obj_str(&in.items[1], nick, sizeof(nick)) && chat_valid_nick(nick);
        chat_in_close(&in);
        if (!ok || (s->logged_in && !s->relogin))
            return TR_OK;
        snprintf(s->server, sizeof(s->server), "%s", server);
        snprintf(s->nick, sizeof(s->nick), "%s", nick);
        if (s->relogin) { /* back after failover: rejoin every room */
            s->lost = s->relogin = false;
            chat_event ev = {.kind = CHAT_EV_BACK, .ts = now_s(), .nick = s->nick,
                             .text = s->server, .to = s->lost_server};
            emit(s, &ev);
            for (uint32_t i = 0; i < s->n; i++)
                send_join(self, s, &s->rooms[i]);
            return TR_OK;
        }
        s->logged_in = true;
        chat_event ev = {.kind = CHAT_EV_WELCOME, .ts = now_s(), .nick = s->nick, .text = s->server};
        emit(s, &ev);
        if (s->cfg.room[0] != '\0')
            join(self, s, chat_room_name(s->cfg.room));
        return TR_OK;
    }
    case CHAT_JOINED:
        on_joined(self, s, msg);
        return TR_OK;
    case CHAT_LINE: {
        joined_room *r = find_session(s, msg->sender);
        if (r == NULL)
            return TR_OK;
        chat_in in;
        char nick[CHAT_MAX_NICK + 1], text[CHAT_MAX_TEXT + 1];
        chat_event ev = {.kind = CHAT_EV_LINE, .room = r->name};
        uint64_t key;
        if (chat_in_open(&in, msg->data, msg->size, 3) &&
            line_event(in.items, in.n, &ev, nick, text, &key) && !seen_before(r, key)) {
            remember(r, key); /* (seen: shown already in another copy of the room) */
            emit(s, &ev);
        }
        chat_in_close(&in);
        count_and_ack(self, s, r);
        return TR_OK;
    }
    case CHAT_NOTICE: {
        joined_room *r = find_session(s, msg->sender);
        if (r == NULL && !tr_ref_equal(msg->sender, s->cfg.gateway))
            return TR_OK;
        chat_in in;
        int64_t ts;
        char text[CHAT_MAX_TEXT + 1];
        if (chat_in_open(&in, msg->data, msg->size, 2) && chat_obj_i64(&in.items[0], &ts) &&
            in.items[1].type == MSGPACK_OBJECT_STR && in.items[1].via.str.size <= CHAT_MAX_TEXT) {
            chat_clean(in.items[1].via.str.ptr, in.items[1].via.str.size, text, sizeof(text), NULL);
            chat_event ev = {.kind = CHAT_EV_NOTICE, .ts = ts, .text = text,
                             .room = r != NULL ? r->name : ""};
            emit(s, &ev);
        }
        chat_in_close(&in);
        if (r != NULL)
            count_and_ack(self, s, r);
        return TR_OK;
    }
    case CHAT_ERROR:
        on_error(self, s, msg);
        return TR_OK;
    case CHAT_SAID:
        on_said(s, msg);
        if (s->quitting && waiting_lines(s) == 0)
            leave_now(self, s, s->quit_reason);
        return TR_OK;
    case CHAT_TICK: /* our own timer: a /quit waited long enough */
        if (outside && s->quitting)
            leave_now(self, s, s->quit_reason);
        return TR_OK;
    case CHAT_PRIV:
        on_priv(s, msg);
        return TR_OK;
    case CHAT_INFO:
        on_info(s, msg);
        return TR_OK;
    case CHAT_NICK: { /* [old, new] from our gateway: registered */
        chat_in in;
        char old[CHAT_MAX_NICK + 1], nick[CHAT_MAX_NICK + 1];
        bool ok = chat_in_open(&in, msg->data, msg->size, 2) &&
                  tr_ref_equal(msg->sender, s->cfg.gateway) &&
                  chat_obj_str(&in.items[0], old, sizeof(old)) &&
                  chat_obj_str(&in.items[1], nick, sizeof(nick)) && chat_valid_nick(nick);
        chat_in_close(&in);
        if (ok) {
            snprintf(s->nick, sizeof(s->nick), "%s", nick);
            chat_event ev = {.kind = CHAT_EV_NICK, .ts = now_s(), .nick = s->nick, .text = old};
            emit(s, &ev);
        }
        return TR_OK;
    }
    case CHAT_INPUT:
        if (outside && !s->quitting) {
            chat_in in;
            if (chat_in_open(&in, msg->data, msg->size, 1) && in.items[0].type == MSGPACK_OBJECT_STR)
                on_input(self, s, in.items[0].via.str.ptr, in.items[0].via.str.size);
            chat_in_close(&in);
        }
        return TR_OK;
    case CHAT_SAY: /* from our own program: a line for the current room, never a command */
        if (outside && !s->quitting) {
            chat_in in;
            if (chat_in_open(&in, msg->data, msg->size, 1) && in.items[0].type == MSGPACK_OBJECT_STR) {
                size_t n = in.items[0].via.str.size;
                char text[CHAT_MAX_TEXT + 1];
                if (n > CHAT_MAX_LINE) {
                    char err[96];
                    snprintf(err, sizeof(err), "line too long (%zu bytes, max %d): not sent", n,
                             CHAT_MAX_LINE);
                    say_error(s, CHAT_E_TOO_LONG, "", err);
                } else {
                    chat_clean(in.items[0].via.str.ptr, n, text, sizeof(text), NULL);
                    say(self, s, text, false);
                }
            }
            chat_in_close(&in);
        }
        return TR_OK;
    case CHAT_LEAVE:
        if (outside)
            quit(self, s, "");
        return TR_OK;
    case CHAT_RECONNECT:
        if (outside && s->lost)
            on_reconnect(self, s, msg);
        return TR_OK;
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        if (s->leaving)
            return TR_OK;
        if (tr_ref_equal(d->actor, s->cfg.gateway) && d->monitor == s->gw_mon && s->gw_mon != 0) {
            char text[320];
            if (d->reason == TR_ENODEDOWN)
                snprintf(text, sizeof(text), "lost the connection to server %s (it went down or is unreachable)",
                         s->server[0] ? s->server : "?");
            else
                snprintf(text, sizeof(text), "server %s stopped its chat service (%s)",
                         s->server[0] ? s->server : "?", tr_strerror(d->reason));
            lose_server(self, s, text);
            return TR_OK;
        }
        for (uint32_t i = 0; i < s->n; i++) {
            joined_room *r = &s->rooms[i];
            if (!r->joined || !tr_ref_equal(d->actor, r->session) || d->monitor != r->mon)
                continue;
            char text[320];
            if (d->reason == TR_ENODEDOWN) {
                snprintf(text, sizeof(text), "lost the connection to server %s (it went down or is unreachable)",
                         s->server);
                lose_server(self, s, text);
            } else if (s->cfg.failover && d->reason != TR_OK) {
                /* sessions end abnormally when their server's chat service
                 * does (a session ends by itself with TR_OK) */
                snprintf(text, sizeof(text), "server %s ended our session in #%s (%s)", s->server,
                         r->name, tr_strerror(d->reason));
                lose_server(self, s, text);
            } else {
                snprintf(text, sizeof(text), "#%s: the server ended our session (%s)", r->name,
                         tr_strerror(d->reason));
                r->session = TR_REF_NONE; /* already down: nothing to demonitor */
                room_lost(self, s, r, CHAT_E_GONE, text);
            }
            break;
        }
        return TR_OK;
    }
    default:
        return TR_OK;
    }
}

static void member_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    member_state *s = state;
    for (uint32_t k = 0; k < s->nprivs; k++)
        free(s->privs[k].text);
    for (uint32_t i = 0; i < s->n; i++) {
        joined_room *r = &s->rooms[i];
        for (uint32_t k = 0; k < r->nheld; k++)
            free(r->held[k]);
        for (uint32_t k = 0; k < r->nunconfirmed; k++)
            free(r->unconfirmed[k].text);
        free(r->unconfirmed);
    }
}

const tr_behaviour chat_member_behaviour = {
    .name = "chat.member",
    .init = member_init,
    .handle = member_handle,
    .terminate = member_terminate,
    .state_size = sizeof(member_state),
};

int chat_member_say(tr_system *sys, tr_ref member, const char *text, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, text);
    return chat_buf_post(sys, member, CHAT_SAY, &b, timeout_ms);
}

int chat_member_input(tr_system *sys, tr_ref member, const char *line, size_t n, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_strn(&b.pk, line, n);
    return chat_buf_post(sys, member, CHAT_INPUT, &b, timeout_ms);
}

int chat_member_leave(tr_system *sys, tr_ref member, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 0);
    return chat_buf_post(sys, member, CHAT_LEAVE, &b, timeout_ms);
}

int chat_member_reconnect(tr_system *sys, tr_ref member, tr_ref gateway, int timeout_ms)
{
    return chat_post_ref(sys, member, CHAT_RECONNECT, gateway, timeout_ms);
}

int chat_member_give_up(tr_system *sys, tr_ref member, const char *why, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_nil(&b.pk);
    chat_pack_str(&b.pk, why);
    return chat_buf_post(sys, member, CHAT_RECONNECT, &b, timeout_ms);
}

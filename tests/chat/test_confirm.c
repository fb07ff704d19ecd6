/* End-to-end confirmation of lines (chat.h: CHAT_SAY's id, CHAT_SAID) and
 * history held by the next server without a store, in one process:
 * - a line is confirmed once the room's replica (the next server) holds it,
 *   in memory: the room started on that server after its host is gone has
 *   it as history, with no store anywhere;
 * - the member sends its unconfirmed lines again whenever it is in the room
 *   again (same ids), and reports the ones that will never be confirmed
 *   ("not delivered to #room: text") when the room is lost (a scripted
 *   stand-in plays gateway and session, so nothing is left to timing);
 * - a room takes a line sent twice with the same id once, and confirms both;
 * - two copies of a room running at once (servers disagree for a moment
 *   about who is up) show each other's lines live.
 * Synchronisation: the recorder, asks, tr_await_exit; never sleeps. */
#include "tests/chat/recorder.h"

/* The lines a directory would hand a starting copy of room (CHAT_FETCH),
 * as "nick|text;" in order, into out. */
static void fetch_lines(tr_system *sys, tr_ref dir, const char *room, char *out, size_t cap)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, room);
    void *reply = NULL;
    size_t n = 0;
    cr_assert_eq(tr_ask_wait(sys, dir, CHAT_FETCH, b.sb.data, b.sb.size, WAIT_MS, &reply, &n), TR_OK);
    chat_buf_destroy(&b);
    chat_in in;
    cr_assert(chat_in_open(&in, reply, n, 1));
    cr_assert_eq(in.items[0].type, MSGPACK_OBJECT_ARRAY);
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < in.items[0].via.array.size; i++) {
        const msgpack_object *l = &in.items[0].via.array.ptr[i];
        cr_assert(l->type == MSGPACK_OBJECT_ARRAY && l->via.array.size >= 6);
        const msgpack_object_str *nick = &l->via.array.ptr[3].via.str;
        const msgpack_object_str *text = &l->via.array.ptr[4].via.str;
        used += (size_t)snprintf(out + used, cap - used, "%.*s|%.*s;", (int)nick->size, nick->ptr,
                                 (int)text->size, text->ptr);
        cr_assert(used < cap);
    }
    chat_in_close(&in);
    free(reply);
}

Test(confirm, a_line_is_confirmed_once_the_next_server_holds_it_with_no_store)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b); /* no store on either */
    char on_a[32];
    room_owned_by("A", on_a, sizeof(on_a)); /* its replica: B, the only other server */
    rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    tr_ref alice = join_ok(sys, a, "alice", on_a, &ra);
    input(sys, alice, "kept by B");
    cr_assert(rec_wait(&ra, "CONFIRMED|alice|kept by B", 1));
    input(sys, alice, "/me also kept");
    cr_assert(rec_wait(&ra, "CONFIRMED|alice|/me also kept", 1));
    char held[512];
    fetch_lines(sys, b.dir, on_a, held, sizeof(held));
    cr_assert_str_eq(held, "alice|kept by B;alice|also kept;");

    /* A goes away (its gateway and its directory with the room): the room
     * starts on B, whose directory hands it what it holds */
    tr_kill(sys, a.gw);
    tr_kill(sys, a.dir);
    cr_assert(gateway_up_becomes(sys, b.gw, 1));
    join_ok(sys, b, "bob", on_a, &rb);
    cr_assert(rec_wait(&rb, "JOINED|B|", 1));
    cr_assert_eq(rec_count(&rb, "HISTORY|alice|kept by B"), 1);
    cr_assert_eq(rec_count(&rb, "HISTORY|alice|/me also kept"), 1);
    cr_assert_eq(rec_count(&ra, "ERROR|16|"), 0); /* nothing reported undelivered */
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
}

/* ---- a scripted gateway that is also the room's session ---- */

typedef struct script_state {
    rec *r;           /* what it got: "SAY|text|id" */
    tr_ref member;
    char room[CHAT_MAX_ROOM + 1];
    uint64_t ids[16]; /* ids of the SAYs, in order */
    int nids;
} script_state;

enum { SCRIPT_REJOIN = CHAT_TICK, SCRIPT_CONFIRM_ALL = CHAT_TICK + 0x1000, SCRIPT_LOSE_ROOM };

static int script_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    script_state *s = state;
    s->r = arg;
    return TR_OK;
}

static void script_joined(tr_ctx *self, script_state *s)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 4);
    chat_pack_str(&b.pk, s->room);
    chat_pack_str(&b.pk, "S");
    msgpack_pack_array(&b.pk, 0);
    msgpack_pack_array(&b.pk, 0);
    chat_buf_send(self, s->member, CHAT_JOINED, &b);
}

static int script_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    script_state *s = state;
    chat_in in;
    switch (msg->type) {
    case CHAT_LOGIN: {
        s->member = msg->sender;
        chat_buf b;
        chat_buf_init(&b);
        msgpack_pack_array(&b.pk, 2);
        chat_pack_str(&b.pk, "S");
        chat_pack_str(&b.pk, "alice");
        chat_buf_send(self, s->member, CHAT_WELCOME, &b);
        return TR_OK;
    }
    case CHAT_JOIN:
        if (chat_in_open(&in, msg->data, msg->size, 1))
            chat_obj_str(&in.items[0], s->room, sizeof(s->room));
        chat_in_close(&in);
        script_joined(self, s);
        return TR_OK;
    case CHAT_SAY: {
        char text[CHAT_MAX_TEXT + 1] = "", line[256];
        uint64_t id = 0;
        if (chat_in_open(&in, msg->data, msg->size, 3)) {
            chat_obj_str(&in.items[0], text, sizeof(text));
            chat_obj_u64(&in.items[2], &id);
        }
        chat_in_close(&in);
        if (s->nids < 16)
            s->ids[s->nids++] = id;
        snprintf(line, sizeof(line), "SAY|%.200s|%llu", text, (unsigned long long)id);
        chat_event ev = {.kind = CHAT_EV_NOTICE, .text = line};
        rec_event(s->r, &ev);
        return TR_OK;
    }
    case CHAT_PRIV: { /* [to, text, id] */
        char to[CHAT_MAX_NICK + 1] = "", text[200] = "", line[256];
        uint64_t id = 0;
        if (chat_in_open(&in, msg->data, msg->size, 3)) {
            chat_obj_str(&in.items[0], to, sizeof(to));
            chat_obj_str(&in.items[1], text, sizeof(text));
            chat_obj_u64(&in.items[2], &id);
        }
        chat_in_close(&in);
        if (s->nids < 16)
            s->ids[s->nids++] = id;
        snprintf(line, sizeof(line), "PRIV|%s|%s|%llu", to, text, (unsigned long long)id);
        chat_event ev = {.kind = CHAT_EV_NOTICE, .text = line};
        rec_event(s->r, &ev);
        return TR_OK;
    }
    case SCRIPT_REJOIN: /* the room moved (as the member sees it): JOINED again */
        script_joined(self, s);
        return TR_OK;
    case SCRIPT_CONFIRM_ALL:
        for (int i = 0; i < s->nids; i++) {
            chat_buf b;
            chat_buf_init(&b);
            msgpack_pack_array(&b.pk, 2);
            msgpack_pack_uint64(&b.pk, s->ids[i]);
            msgpack_pack_int(&b.pk, CHAT_OK);
            chat_buf_send(self, s->member, CHAT_SAID, &b);
        }
        s->nids = 0;
        chat_event ev = {.kind = CHAT_EV_NOTICE, .text = "CONFIRMATIONS-SENT"};
        rec_event(s->r, &ev); /* (the member has them queued before anything posted after) */
        return TR_OK;
    case SCRIPT_LOSE_ROOM:
        chat_send_room_error(self, s->member, CHAT_E_GONE, "the room is gone", true, s->room);
        return TR_OK;
    default:
        return TR_OK;
    }
}

static const tr_behaviour script_beh = {
    .init = script_init, .handle = script_handle, .state_size = sizeof(script_state)};

static void poke(tr_system *sys, tr_ref to, uint32_t type)
{
    cr_assert_eq(tr_post(sys, to, type, NULL, 0, WAIT_MS), TR_OK);
}

/* A member, alice, whose gateway (and room session) is the script. */
static tr_ref scripted_alice(tr_system *sys, rec *rm, rec *rs, tr_ref *gw)
{
    cr_assert_eq(tr_spawn(sys, &script_beh, rs, NULL, gw), TR_OK);
    chat_member_cfg mc = {.gateway = *gw, .on_event = rec_event, .ctx = rm};
    snprintf(mc.nick, sizeof(mc.nick), "alice");
    snprintf(mc.room, sizeof(mc.room), "lobby");
    tr_ref alice;
    cr_assert_eq(tr_spawn(sys, &chat_member_behaviour, keep(&mc, sizeof(mc)), NULL, &alice), TR_OK);
    cr_assert(rec_wait(rm, "JOINED|S|", 1));
    return alice;
}

Test(confirm, unconfirmed_lines_are_sent_again_with_their_ids_and_reported_when_lost)
{
    tr_system *sys = make_system(2);
    rec rm, rs;
    rec_init(&rm);
    rec_init(&rs);
    tr_ref gw;
    tr_ref alice = scripted_alice(sys, &rm, &rs, &gw);

    input(sys, alice, "one");
    input(sys, alice, "two");
    cr_assert(rec_wait(&rs, "NOTICE||SAY|two|", 1));
    char first[2][64];
    pthread_mutex_lock(&rs.m);
    for (int i = 0; i < 2; i++) /* "NOTICE||SAY|one|<id>" */
        snprintf(first[i], sizeof(first[i]), "%s", strrchr(rs.lines[i], '|') + 1);
    pthread_mutex_unlock(&rs.m);
    cr_assert_str_neq(first[0], first[1]);

    /* in the room again (a failover, a move): both go again, same ids, in order */
    poke(sys, gw, SCRIPT_REJOIN);
    cr_assert(rec_wait(&rm, "INFO||#lobby: sending again 2 line(s) not confirmed before", 1));
    cr_assert(rec_wait(&rs, "NOTICE||SAY|", 4));
    pthread_mutex_lock(&rs.m);
    cr_assert(strstr(rs.lines[2], "SAY|one|") && strcmp(strrchr(rs.lines[2], '|') + 1, first[0]) == 0);
    cr_assert(strstr(rs.lines[3], "SAY|two|") && strcmp(strrchr(rs.lines[3], '|') + 1, first[1]) == 0);
    pthread_mutex_unlock(&rs.m);

    /* confirmed: not sent again at the next rejoin */
    poke(sys, gw, SCRIPT_CONFIRM_ALL);
    cr_assert(rec_wait(&rm, "CONFIRMED|alice|one", 1));
    cr_assert(rec_wait(&rm, "CONFIRMED|alice|two", 1));
    input(sys, alice, "three");
    cr_assert(rec_wait(&rs, "NOTICE||SAY|three|", 1));
    poke(sys, gw, SCRIPT_REJOIN);
    cr_assert(rec_wait(&rm, "INFO||#lobby: sending again 1 line(s) not confirmed before", 1));
    cr_assert(rec_wait(&rs, "NOTICE||SAY|three|", 2));
    cr_assert_eq(rec_count(&rs, "NOTICE||SAY|one|"), 2);

    /* the room is lost before "three" is confirmed: it is reported, once */
    poke(sys, gw, SCRIPT_LOSE_ROOM);
    cr_assert_eq(exit_reason(sys, alice), TR_EUSER + CHAT_E_GONE);
    cr_assert_eq(rec_count(&rm, "ERROR|16|ok|not delivered to #lobby: three"), 1);
    cr_assert_eq(rec_count(&rm, "ERROR|16|"), 1);
    teardown(sys);
    rec_fini(&rm);
    rec_fini(&rs);
}

/* /msg waits for its CHAT_SAID too: one still waiting when the server is
 * lost is reported (not sent again: the addressee may have it). */
Test(confirm, a_private_line_not_confirmed_when_the_server_is_lost_is_reported)
{
    tr_system *sys = make_system(2);
    rec rm, rs;
    rec_init(&rm);
    rec_init(&rs);
    tr_ref gw;
    tr_ref alice = scripted_alice(sys, &rm, &rs, &gw);
    input(sys, alice, "/msg bob first");
    cr_assert(rec_wait(&rs, "NOTICE||PRIV|bob|first|", 1));
    poke(sys, gw, SCRIPT_CONFIRM_ALL);
    cr_assert(rec_wait(&rs, "NOTICE||CONFIRMATIONS-SENT", 1));
    input(sys, alice, "/msg bob second");
    cr_assert(rec_wait(&rs, "NOTICE||PRIV|bob|second|", 1));
    tr_kill(sys, gw); /* the server is lost before "second" is confirmed */
    cr_assert_eq(exit_reason(sys, alice), TR_EUSER + CHAT_E_GONE);
    cr_assert_eq(rec_count(&rm, "ERROR|16|ok|not confirmed (server S was lost before bob's server "
                                "answered; it may not have been delivered): /msg bob second"),
                 1);
    cr_assert_eq(rec_count(&rm, "ERROR|16|"), 1);
    teardown(sys);
    rec_fini(&rm);
    rec_fini(&rs);
}

/* /quit waits for the lines still unconfirmed: it ends once they are
 * confirmed (nothing reported), or after CHAT_QUIT_WAIT_MS with each one
 * reported. */
Test(confirm, quit_waits_for_unconfirmed_lines_then_reports_what_is_left)
{
    tr_system *sys = make_system(2);
    rec rm, rs, rm2, rs2;
    rec_init(&rm);
    rec_init(&rs);
    rec_init(&rm2);
    rec_init(&rs2);
    tr_ref gw, gw2;
    tr_ref alice = scripted_alice(sys, &rm, &rs, &gw);
    input(sys, alice, "last words");
    input(sys, alice, "/quit");
    cr_assert(rec_wait(&rs, "NOTICE||SAY|last words|", 1));
    cr_assert(tr_actor_state_of(sys, alice) != TR_STATE_DEAD); /* waiting */
    poke(sys, gw, SCRIPT_CONFIRM_ALL);
    cr_assert_eq(exit_reason(sys, alice), TR_OK);
    cr_assert_eq(rec_count(&rm, "CONFIRMED|alice|last words"), 1);
    cr_assert_eq(rec_count(&rm, "ERROR|"), 0);

    tr_ref alice2 = scripted_alice(sys, &rm2, &rs2, &gw2);
    input(sys, alice2, "never confirmed");
    input(sys, alice2, "/quit");
    cr_assert_eq(exit_reason(sys, alice2), TR_OK); /* after CHAT_QUIT_WAIT_MS */
    cr_assert_eq(rec_count(&rm2, "ERROR|16|ok|not delivered to #lobby: never confirmed"), 1);
    teardown(sys);
    rec_fini(&rm);
    rec_fini(&rs);
    rec_fini(&rm2);
    rec_fini(&rs2);
}

/* ---- a member talking to a room directly (no session, no client) ----
 * Posted CHAT_INPUT [text, id] from the test, it sends the room
 * CHAT_SAY [text, false, id]; what the room sends it is recorded:
 * "RAW-JOINED", "SAID|id|code", "LINE|nick|text". */

typedef struct raw_arg {
    tr_ref room;
    const char *nick;
    rec *r;
} raw_arg;

static int raw_init(tr_ctx *self, void *state, void *arg)
{
    *(raw_arg *)state = *(raw_arg *)arg;
    raw_arg *a = state;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, a->nick);
    return chat_buf_send(self, a->room, CHAT_JOIN, &b);
}

static int raw_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    raw_arg *a = state;
    chat_in in;
    char line[256] = "";
    if (msg->type == CHAT_INPUT) {
        if (chat_in_open(&in, msg->data, msg->size, 2) && in.items[0].type == MSGPACK_OBJECT_STR) {
            uint64_t id = 0;
            chat_obj_u64(&in.items[1], &id);
            chat_buf b;
            chat_buf_init(&b);
            msgpack_pack_array(&b.pk, 3);
            chat_pack_strn(&b.pk, in.items[0].via.str.ptr, in.items[0].via.str.size);
            msgpack_pack_false(&b.pk);
            msgpack_pack_uint64(&b.pk, id);
            chat_buf_send(self, a->room, CHAT_SAY, &b);
        }
        chat_in_close(&in);
        return TR_OK;
    }
    if (msg->type == CHAT_JOINED) {
        snprintf(line, sizeof(line), "RAW-JOINED");
    } else if (msg->type == CHAT_SAID) {
        uint64_t id = 0;
        int64_t code = -1;
        if (chat_in_open(&in, msg->data, msg->size, 2)) {
            chat_obj_u64(&in.items[0], &id);
            chat_obj_i64(&in.items[1], &code);
        }
        chat_in_close(&in);
        snprintf(line, sizeof(line), "SAID|%llu|%lld", (unsigned long long)id, (long long)code);
    } else if (msg->type == CHAT_LINE) {
        char nick[CHAT_MAX_NICK + 1] = "", text[200] = "";
        if (chat_in_open(&in, msg->data, msg->size, 3)) {
            chat_obj_str(&in.items[1], nick, sizeof(nick));
            chat_obj_str(&in.items[2], text, sizeof(text));
        }
        chat_in_close(&in);
        snprintf(line, sizeof(line), "LINE|%s|%s", nick, text);
    } else {
        return TR_OK;
    }
    chat_event ev = {.kind = CHAT_EV_NOTICE, .text = line};
    rec_event(a->r, &ev);
    return TR_OK;
}

static const tr_behaviour raw_beh = {
    .init = raw_init, .handle = raw_handle, .state_size = sizeof(raw_arg)};

static tr_ref raw_join(tr_system *sys, tr_ref room, const char *nick, rec *r)
{
    raw_arg a = {.room = room, .nick = nick, .r = r};
    tr_ref m;
    cr_assert_eq(tr_spawn(sys, &raw_beh, keep(&a, sizeof(a)), NULL, &m), TR_OK);
    cr_assert(rec_wait(r, "NOTICE||RAW-JOINED", 1));
    return m;
}

static void raw_say(tr_system *sys, tr_ref m, const char *text, uint64_t id)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, text);
    msgpack_pack_uint64(&b.pk, id);
    cr_assert_eq(chat_buf_post(sys, m, CHAT_INPUT, &b, WAIT_MS), TR_OK);
}

Test(confirm, a_line_sent_twice_with_one_id_is_taken_once_and_confirmed_twice)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0); /* alone: lines are confirmed at once */
    rec ra, rx;
    rec_init(&ra);
    rec_init(&rx);
    join_ok(sys, a, "alice", "lobby", &ra);
    tr_ref x = raw_join(sys, open_room(sys, a.dir, "lobby"), "xavier", &rx);
    raw_say(sys, x, "once", 42);
    raw_say(sys, x, "once", 42); /* again, as after a failover */
    raw_say(sys, x, "after", 43);
    cr_assert(rec_wait(&rx, "NOTICE||SAID|42|0", 2));
    cr_assert(rec_wait(&rx, "NOTICE||SAID|43|0", 1));
    cr_assert(rec_wait(&ra, "LINE|xavier|after", 1));
    cr_assert_eq(rec_count(&ra, "LINE|xavier|once"), 1);
    uint64_t st[4];
    room_stats(sys, open_room(sys, a.dir, "lobby"), st);
    cr_assert_eq(st[3], 2); /* lines taken */
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rx);
}

/* While servers disagree about who is up, a room may run on two of them
 * (here: the copy on B, opened directly, beside the room's own copy on A).
 * Each copy's lines reach the other copy's members live, once. */
Test(confirm, two_copies_of_a_room_show_each_other_their_lines_live)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    char on_a[32];
    room_owned_by("A", on_a, sizeof(on_a));
    rec ra, rx;
    rec_init(&ra);
    rec_init(&rx);
    tr_ref alice = join_ok(sys, a, "alice", on_a, &ra); /* in the copy on A */
    cr_assert(rec_wait(&ra, "JOINED|A|", 1));
    tr_ref stand_in = open_room(sys, b.dir, on_a);
    cr_assert(!tr_ref_equal(stand_in, open_room(sys, a.dir, on_a)));
    tr_ref x = raw_join(sys, stand_in, "xavier", &rx); /* in the copy on B */
    raw_say(sys, x, "from the copy on B", 7);
    cr_assert(rec_wait(&ra, "LINE|xavier|from the copy on B", 1));
    input(sys, alice, "from the copy on A");
    cr_assert(rec_wait(&rx, "NOTICE||LINE|alice|from the copy on A", 1));
    cr_assert(rec_wait(&ra, "CONFIRMED|alice|from the copy on A", 1));
    cr_assert(rec_wait(&rx, "NOTICE||SAID|7|0", 1));
    input(sys, alice, "again");
    cr_assert(rec_wait(&rx, "NOTICE||LINE|alice|again", 1));
    cr_assert_eq(rec_count(&ra, "LINE|xavier|from the copy on B"), 1);
    cr_assert_eq(rec_count(&rx, "NOTICE||LINE|alice|from the copy on A"), 1);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rx);
}

/* The chat core with local references: rooms, directory, gateways, sessions
 * and members all in one process (examples/chat/chat.h). The networked
 * program runs these same behaviours; tests/chat/e2e.sh checks it across
 * processes. Synchronisation: a recorder's condition variable, asks and
 * tr_await_exit, never sleeps. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/chat/recorder.h"

/* ---- placement ---- */

Test(chat, rendezvous_placement_is_stable_and_balanced)
{
    const char *three[] = {"A", "B", "C"};
    const char *two[] = {"A", "B"};
    int count[3] = {0};
    int moved = 0;
    for (int i = 0; i < 3000; i++) {
        char room[32];
        snprintf(room, sizeof(room), "room%d", i);
        int p3 = chat_place(room, three, 3);
        cr_assert(p3 >= 0 && p3 < 3);
        cr_assert_eq(p3, chat_place(room, three, 3));
        count[p3]++;
        int p2 = chat_place(room, two, 2);
        /* removing C moves only C's rooms */
        if (p3 != 2)
            cr_assert_eq(p2, p3, "%s moved from %s though only C left", room, three[p3]);
        else
            moved++;
    }
    for (int i = 0; i < 3; i++)
        cr_assert(count[i] > 800 && count[i] < 1200, "server %d got %d of 3000", i, count[i]);
    cr_assert_eq(moved, count[2]);
    /* order of the server list does not matter */
    const char *rev[] = {"C", "B", "A"};
    cr_assert_str_eq(rev[chat_place("lobby", rev, 3)], three[chat_place("lobby", three, 3)]);
    cr_assert_eq(chat_place("x", NULL, 0), -1);
}

Test(chat, names)
{
    cr_assert(chat_valid_nick("alice_1-x"));
    cr_assert_not(chat_valid_nick(""));
    cr_assert_not(chat_valid_nick("a b"));
    cr_assert_not(chat_valid_nick("0123456789012345678901234567890123"));
    cr_assert(chat_valid_room("lobby.dev-2"));
    cr_assert_not(chat_valid_room("a/b"));
}

/* ---- one room ---- */

Test(chat, every_line_reaches_every_other_member_once_in_order)
{
    tr_system *sys = make_system(2);
    /* a budget above everything sent: this burst is far faster than any
     * person, and the slow-member test covers the cut-off */
    server a = start_server(sys, "A", 512);
    rec ra, rb, rc;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rc);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    tr_ref bob = join_ok(sys, a, "bob", "lobby", &rb);
    join_ok(sys, a, "carol", "lobby", &rc);
    cr_assert(rec_wait(&ra, "NOTICE||carol joined", 1));
    cr_assert(rec_wait(&rb, "NOTICE||carol joined", 1));

    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        char line[64];
        snprintf(line, sizeof(line), "a%d", i);
        cr_assert_eq(chat_member_say(sys, alice, line, WAIT_MS), TR_OK);
        snprintf(line, sizeof(line), "b%d", i);
        cr_assert_eq(chat_member_say(sys, bob, line, WAIT_MS), TR_OK);
    }
    cr_assert(rec_wait(&rc, "LINE|", 2 * N));
    cr_assert(rec_wait(&ra, "LINE|bob|", N));
    cr_assert(rec_wait(&rb, "LINE|alice|", N));
    /* carol: each sender's lines exactly once, in sender order */
    rec *views[] = {&ra, &rb, &rc};
    for (int v = 0; v < 3; v++) {
        rec *r = views[v];
        int next_a = 0, next_b = 0;
        pthread_mutex_lock(&r->m);
        for (int i = 0; i < r->n; i++) {
            int k;
            if (sscanf(r->lines[i], "LINE|alice|a%d", &k) == 1)
                cr_assert_eq(k, next_a++, "view %d: a%d out of order", v, k);
            else if (sscanf(r->lines[i], "LINE|bob|b%d", &k) == 1)
                cr_assert_eq(k, next_b++, "view %d: b%d out of order", v, k);
        }
        pthread_mutex_unlock(&r->m);
        cr_assert_eq(next_a, v == 0 ? 0 : N, "view %d got %d of alice's lines", v, next_a);
        cr_assert_eq(next_b, v == 1 ? 0 : N, "view %d got %d of bob's lines", v, next_b);
    }
    cr_assert_eq(rec_count(&ra, "SENT|alice|"), N);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rc);
}

Test(chat, joiner_sees_the_last_20_lines_and_members)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra, rb, rd;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rd);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    join_ok(sys, a, "bob", "lobby", &rb);
    for (int i = 0; i < 25; i++) {
        char line[32];
        snprintf(line, sizeof(line), "h%d", i);
        chat_member_say(sys, alice, line, WAIT_MS);
    }
    cr_assert(rec_wait(&rb, "LINE|alice|", 25));
    join_ok(sys, a, "dave", "lobby", &rd);
    cr_assert_eq(rec_count(&rd, "HISTORY|"), CHAT_HISTORY);
    pthread_mutex_lock(&rd.m);
    cr_assert_str_eq(rd.lines[0], "WELCOME|dave|A");
    for (int i = 0; i < CHAT_HISTORY; i++) {
        char want[64];
        snprintf(want, sizeof(want), "HISTORY|alice|h%d", 25 - CHAT_HISTORY + i);
        cr_assert_str_eq(rd.lines[1 + i], want);
    }
    cr_assert_str_eq(rd.lines[1 + CHAT_HISTORY], "JOINED|A|alice, bob, dave");
    pthread_mutex_unlock(&rd.m);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rd);
}

Test(chat, taken_and_bad_nicknames_and_rooms_end_the_member)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra, rx;
    rec_init(&ra);
    rec_init(&rx);
    join_ok(sys, a, "alice", "lobby", &ra);

    /* nicknames are unique across rooms (and servers): refused at login */
    tr_ref dup = join(sys, a, "alice", "other", &rx, false);
    cr_assert_eq(exit_reason(sys, dup), TR_EUSER + CHAT_E_NICK_TAKEN);
    cr_assert_eq(rec_count(&rx, "ERROR|1|fatal|nickname 'alice' is taken (by someone on some server)"), 1);
    cr_assert_eq(rec_count(&rx, "WELCOME|"), 0);

    tr_ref bad = join(sys, a, "al ice", "lobby", &rx, false);
    cr_assert_eq(exit_reason(sys, bad), TR_EUSER + CHAT_E_BAD_NICK);
    bad = join(sys, a, "bob", "no/slash", &rx, false);
    cr_assert_eq(exit_reason(sys, bad), TR_EUSER + CHAT_E_BAD_ROOM);
    /* nobody else saw the failed joins */
    cr_assert_eq(rec_count(&ra, "NOTICE|"), 0);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rx);
}

Test(chat, over_long_lines_are_refused_not_fatal)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    join_ok(sys, a, "bob", "lobby", &rb);
    char big[CHAT_MAX_LINE + 2];
    memset(big, 'x', sizeof(big));
    big[CHAT_MAX_LINE + 1] = '\0'; /* 513 bytes */
    chat_member_say(sys, alice, big, WAIT_MS);
    cr_assert(rec_wait(&ra, "ERROR|4|ok|line too long (513 bytes, max 512)", 1));
    big[CHAT_MAX_LINE] = '\0'; /* 512 bytes pass */
    chat_member_say(sys, alice, big, WAIT_MS);
    chat_member_say(sys, alice, "after", WAIT_MS);
    cr_assert(rec_wait(&rb, "LINE|alice|after", 1));
    cr_assert_eq(rec_count(&rb, "LINE|alice|"), 2);
    cr_assert_eq(tr_actor_state_of(sys, alice) == TR_STATE_DEAD, false);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
}

/* ---- presence ---- */

Test(chat, leaving_and_dying_members_are_announced)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra, rb, rc;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rc);
    join_ok(sys, a, "alice", "lobby", &ra);
    tr_ref bob = join_ok(sys, a, "bob", "lobby", &rb);
    tr_ref carol = join_ok(sys, a, "carol", "lobby", &rc);

    cr_assert_eq(chat_member_leave(sys, bob, WAIT_MS), TR_OK);
    cr_assert_eq(exit_reason(sys, bob), TR_OK);
    cr_assert(rec_wait(&ra, "NOTICE||bob left", 1));

    /* carol's process "dies": its session sees the DOWN and leaves for it */
    tr_kill(sys, carol);
    cr_assert(rec_wait(&ra, "NOTICE||carol left", 1));
    tr_ref room = open_room(sys, a.dir, "lobby");
    uint64_t st[4];
    room_stats(sys, room, st);
    cr_assert_eq(st[0], 1);
    /* the nickname is free again */
    join_ok(sys, a, "carol", "lobby", &rc);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rc);
}

/* A member talking to the room directly (no session) that is killed: the
 * room's own monitor removes it. */
typedef struct probe_arg {
    tr_ref room;
    rec *r;
} probe_arg;

static int probe_init(tr_ctx *self, void *state, void *arg)
{
    *(probe_arg *)state = *(probe_arg *)arg;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, "probe");
    return chat_buf_send(self, ((probe_arg *)state)->room, CHAT_JOIN, &b);
}

static int probe_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    probe_arg *p = state;
    chat_event ev = {.kind = CHAT_EV_NOTICE, .text = msg->type == CHAT_JOINED ? "joined" : "other"};
    rec_event(p->r, &ev);
    return TR_OK;
}

static const tr_behaviour probe_beh = {
    .init = probe_init, .handle = probe_handle, .state_size = sizeof(probe_arg)};

Test(chat, room_monitors_members_directly)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra, rp;
    rec_init(&ra);
    rec_init(&rp);
    join_ok(sys, a, "alice", "lobby", &ra);
    probe_arg pa = {.room = open_room(sys, a.dir, "lobby"), .r = &rp};
    tr_ref probe;
    cr_assert_eq(tr_spawn(sys, &probe_beh, keep(&pa, sizeof(pa)), NULL, &probe), TR_OK);
    cr_assert(rec_wait(&rp, "NOTICE||joined", 1));
    cr_assert(rec_wait(&ra, "NOTICE||probe joined", 1));
    tr_kill(sys, probe);
    cr_assert(rec_wait(&ra, "NOTICE||probe left (connection lost)", 1));
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rp);
}

/* ---- backpressure ---- */

Test(chat, a_member_over_budget_is_cut_off_and_the_room_stays_bounded)
{
    enum { BUDGET = 16, LINES = 100 };
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", BUDGET);
    rec ra, rb, rs;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rs);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    join_ok(sys, a, "bob", "lobby", &rb);
    tr_ref slow = join(sys, a, "slow", "lobby", &rs, true); /* never acknowledges */
    cr_assert(rec_wait(&rs, "JOINED|", 1));
    cr_assert(rec_wait(&rb, "NOTICE||slow joined", 1));
    for (int i = 0; i < LINES; i++) {
        char line[32];
        snprintf(line, sizeof(line), "l%d", i);
        chat_member_say(sys, alice, line, WAIT_MS);
        cr_assert(rec_wait(&rb, "LINE|alice|", i + 1)); /* bob keeps up and acknowledges */
    }
    cr_assert_eq(exit_reason(sys, slow), TR_EUSER + CHAT_E_SLOW);
    cr_assert(rec_wait(&ra, "NOTICE||slow was disconnected (too slow)", 1));
    cr_assert_eq(rec_count(&rs, "ERROR|5|fatal|disconnected: 16 messages unread (budget 16)"), 1);
    /* the slow member got exactly its budget, nothing more was queued for it */
    cr_assert_eq(rec_count(&rs, "LINE|") + rec_count(&rs, "NOTICE|"), BUDGET);
    uint64_t st[4];
    room_stats(sys, open_room(sys, a.dir, "lobby"), st);
    cr_assert_eq(st[0], 2);       /* alice and bob */
    cr_assert_eq(st[1], CHAT_HISTORY);
    cr_assert_eq(st[2], 1);       /* one member cut off */
    cr_assert_eq(st[3], LINES);
    cr_assert_eq(rec_count(&rb, "LINE|alice|"), LINES);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rs);
}

/* ---- supervision ---- */

Test(chat, a_crashed_room_restarts_alone_and_members_rejoin)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec r1a, r1b, r2a, r2b;
    rec_init(&r1a);
    rec_init(&r1b);
    rec_init(&r2a);
    rec_init(&r2b);
    join_ok(sys, a, "alice", "one", &r1a);
    tr_ref bob1 = join_ok(sys, a, "bob", "one", &r1b);
    tr_ref carol = join_ok(sys, a, "carol", "two", &r2a); /* nicknames are unique */
    join_ok(sys, a, "dave", "two", &r2b);
    chat_member_say(sys, bob1, "before", WAIT_MS);
    cr_assert(rec_wait(&r1a, "LINE|bob|before", 1));

    tr_ref one = open_room(sys, a.dir, "one");
    tr_ref two = open_room(sys, a.dir, "two");
    cr_assert_eq(tr_kill(sys, one), TR_OK);
    /* both members of "one" are told and join the restarted room */
    cr_assert(rec_wait(&r1a, "NOTICE||#one restarted", 1));
    cr_assert(rec_wait(&r1a, "JOINED|", 2));
    cr_assert(rec_wait(&r1b, "JOINED|", 2));
    tr_ref one2 = open_room(sys, a.dir, "one");
    cr_assert_neq(one2.id, one.id);
    cr_assert(rec_wait(&r1a, "NOTICE||bob joined", 1) || rec_wait(&r1b, "NOTICE||alice joined", 1));
    chat_member_say(sys, bob1, "after", WAIT_MS);
    cr_assert(rec_wait(&r1a, "LINE|bob|after", 1));
    /* room "two" never noticed */
    cr_assert(tr_ref_equal(open_room(sys, a.dir, "two"), two));
    cr_assert_eq(rec_count(&r2a, "NOTICE||#"), 0);
    chat_member_say(sys, carol, "still here", WAIT_MS);
    cr_assert(rec_wait(&r2b, "LINE|carol|still here", 1));
    teardown(sys);
    rec_fini(&r1a);
    rec_fini(&r1b);
    rec_fini(&r2a);
    rec_fini(&r2b);
}

/* ---- several servers ---- */

Test(chat, rooms_are_placed_by_hashing_and_reached_through_any_server)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    server b = start_server(sys, "B", 0);
    cr_assert_eq(chat_gateway_add_peer(sys, a.gw, b.gw, WAIT_MS), TR_OK);
    cr_assert(gateway_up_becomes(sys, b.gw, 2));
    cr_assert(gateway_up_becomes(sys, a.gw, 2));

    char on_a[32], on_b[32];
    room_owned_by("A", on_a, sizeof(on_a));
    room_owned_by("B", on_b, sizeof(on_b));
    rec r1, r2, r3;
    rec_init(&r1);
    rec_init(&r2);
    rec_init(&r3);
    tr_ref alice = join_ok(sys, a, "alice", on_b, &r1); /* through A, room on B */
    join_ok(sys, b, "bob", on_b, &r2);                  /* through B */
    cr_assert(rec_wait(&r1, "JOINED|B|", 1));
    cr_assert(rec_wait(&r2, "JOINED|B|", 1));
    chat_member_say(sys, alice, "hi bob", WAIT_MS);
    cr_assert(rec_wait(&r2, "LINE|alice|hi bob", 1));
    join_ok(sys, b, "carol", on_a, &r3);
    cr_assert(rec_wait(&r3, "JOINED|A|", 1));

    /* server B's gateway ends: A stops placing rooms there */
    tr_kill(sys, b.gw);
    cr_assert_eq(exit_reason(sys, b.gw), TR_EKILLED);
    cr_assert(gateway_up_becomes(sys, a.gw, 1)); /* its DOWN may follow the exit */
    rec r4;
    rec_init(&r4);
    join_ok(sys, a, "eve", on_b, &r4); /* B's room, placed anew */
    cr_assert(rec_wait(&r4, "JOINED|A|", 1));
    teardown(sys);
    rec_fini(&r1);
    rec_fini(&r2);
    rec_fini(&r3);
    rec_fini(&r4);
}

/* A gateway with no directory of its own starts one as its child. */
Test(chat, gateway_starts_its_own_directory)
{
    tr_system *sys = make_system(2);
    chat_gateway_cfg gc = {.server = "solo"};
    tr_ref gw;
    cr_assert_eq(tr_spawn(sys, &chat_gateway_behaviour, keep(&gc, sizeof(gc)), NULL, &gw), TR_OK);
    rec r1, r2;
    rec_init(&r1);
    rec_init(&r2);
    server s = {.gw = gw};
    tr_ref alice = join_ok(sys, s, "alice", "lobby", &r1);
    join_ok(sys, s, "bob", "lobby", &r2);
    chat_member_say(sys, alice, "hello", WAIT_MS);
    cr_assert(rec_wait(&r2, "LINE|alice|hello", 1));
    cr_assert(rec_wait(&r1, "JOINED|solo|", 1));
    teardown(sys);
    rec_fini(&r1);
    rec_fini(&r2);
}

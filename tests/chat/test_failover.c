/* Failover with two local "servers" A and B in one process (the chat core:
 * member.c, the gateway's sessions, room.c): a member with failover whose
 * server's chat service ends waits, is handed another gateway, logs in
 * again and is back in its room, seeing only the lines it missed; a
 * session follows its room when the servers up change. The multi-process
 * versions (kill -9, SIGSTOP, a restart, history replicated on disk) are
 * failover.sh and rooms.sh. */
#include "tests/chat/recorder.h"

/* Lines a room has seen (its CHAT_STATS "lines" counter). */
static uint64_t room_lines(tr_system *sys, server s, const char *room)
{
    uint64_t st[4];
    room_stats(sys, open_room(sys, s.dir, room), st);
    return st[3];
}

/* Asks until the room has seen `want` lines (each answer is a fresh look). */
static bool room_lines_become(tr_system *sys, server s, const char *room, uint64_t want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (room_lines(sys, s, room) == want)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < WAIT_MS / 1000);
    return false;
}

Test(failover, a_member_reconnects_through_another_server_and_sees_what_it_missed)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    char on_b[32];
    room_owned_by("B", on_b, sizeof(on_b));
    rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    chat_member_cfg mc = {.gateway = a.gw, .on_event = rec_event, .ctx = &ra, .failover = true};
    snprintf(mc.nick, sizeof(mc.nick), "alice");
    snprintf(mc.room, sizeof(mc.room), "%s", on_b);
    tr_ref alice;
    cr_assert_eq(tr_spawn(sys, &chat_member_behaviour, keep(&mc, sizeof(mc)), NULL, &alice), TR_OK);
    cr_assert(rec_wait(&ra, "JOINED|B|", 1));
    tr_ref bob = join_ok(sys, b, "bob", on_b, &rb);
    input(sys, alice, "before");
    cr_assert(rec_wait(&rb, "LINE|alice|before", 1));

    /* A's chat service ends: alice is told and waits (her member lives on) */
    tr_kill(sys, a.gw);
    cr_assert(rec_wait(&ra, "LOST|", 1));
    cr_assert(rec_wait(&rb, "NOTICE||alice left", 1));
    cr_assert(gateway_up_becomes(sys, b.gw, 1)); /* B no longer holds A's nicknames */
    cr_assert(tr_actor_state_of(sys, alice) != TR_STATE_DEAD);
    input(sys, bob, "while-away");
    cr_assert(room_lines_become(sys, b, on_b, 2)); /* the room has it before alice is back */
    input(sys, alice, "typed-while-away"); /* waits for the room */

    /* handed B's gateway: logged in again, back in the room */
    cr_assert_eq(chat_member_reconnect(sys, alice, b.gw, WAIT_MS), TR_OK);
    cr_assert(rec_wait(&ra, "BACK|alice|B", 1));
    cr_assert(rec_wait(&ra, "JOINED|B|", 2));
    cr_assert(rec_wait(&rb, "NOTICE||alice is back", 1));
    cr_assert(rec_wait(&rb, "LINE|alice|typed-while-away", 1));
    /* the history shows what she missed, not what she had seen */
    cr_assert_eq(rec_count(&ra, "HISTORY|bob|while-away"), 1);
    cr_assert_eq(rec_count(&ra, "HISTORY|alice|before"), 0);
    input(sys, bob, "after");
    cr_assert(rec_wait(&ra, "LINE|bob|after", 1));
    cr_assert_eq(rec_count(&rb, "LINE|alice|before"), 1);

    /* giving up ends her with CHAT_E_GONE and the reason */
    tr_kill(sys, b.gw);
    cr_assert(rec_wait(&ra, "LOST|", 2));
    cr_assert_eq(chat_member_give_up(sys, alice, "no server left", WAIT_MS), TR_OK);
    cr_assert_eq(exit_reason(sys, alice), TR_EUSER + CHAT_E_GONE);
    cr_assert(rec_wait(&ra, "ERROR|7|fatal|no server left", 1));
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
}

/* Without failover, losing the server ends the member (CHAT_E_GONE), as
 * before (troupe-chat client --reconnect 0). */
Test(failover, without_failover_a_lost_server_ends_the_member)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra;
    rec_init(&ra);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    tr_kill(sys, a.gw);
    cr_assert_eq(exit_reason(sys, alice), TR_EUSER + CHAT_E_GONE);
    cr_assert_eq(rec_count(&ra, "LOST|"), 0);
    teardown(sys);
    rec_fini(&ra);
}

/* A session follows its room: when the server that hosts the room stops
 * counting (its gateway ended), the room is placed on the other server and
 * its members move there with their lines; nobody is told "joined". */
Test(failover, members_follow_their_room_to_the_next_server)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    char on_b[32];
    room_owned_by("B", on_b, sizeof(on_b));
    rec r1, r2;
    rec_init(&r1);
    rec_init(&r2);
    tr_ref alice = join_ok(sys, a, "alice", on_b, &r1); /* through A, room on B */
    join_ok(sys, a, "carol", on_b, &r2);
    cr_assert(rec_wait(&r1, "JOINED|B|", 1));
    cr_assert(rec_wait(&r1, "NOTICE||carol joined", 1));
    tr_kill(sys, b.gw); /* A stops counting B: the room is placed on A now */
    cr_assert(rec_wait(&r1, "JOINED|A|", 1));
    cr_assert(rec_wait(&r2, "JOINED|A|", 1));
    cr_assert(rec_wait(&r1, "NOTICE||#", 1)); /* "#room moves to server A, ..." */
    input(sys, alice, "on A now");
    cr_assert(rec_wait(&r2, "LINE|alice|on A now", 1));
    cr_assert_eq(room_lines(sys, a, on_b), 1);
    cr_assert_eq(rec_count(&r1, "NOTICE||carol joined"), 1); /* moves are quiet */
    teardown(sys);
    rec_fini(&r1);
    rec_fini(&r2);
}

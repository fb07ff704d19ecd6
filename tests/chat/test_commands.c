/* The user's commands (examples/chat/commands.c, run by member.c), with two
 * local "servers" A and B in one process: every command, case-insensitive
 * and trimmed; private lines reach only their addressee, across servers;
 * several rooms per client with a current room; unknown commands never
 * leave the client. */
#include "tests/chat/recorder.h"

/* Lines a room has seen (its CHAT_STATS "lines" counter). */
static uint64_t room_lines(tr_system *sys, server s, const char *room)
{
    uint64_t st[4];
    room_stats(sys, open_room(sys, s.dir, room), st);
    return st[3];
}

Test(commands, parse)
{
    chat_cmd c;
    chat_parse_command("hello /there", &c);
    cr_assert_eq(c.kind, CHAT_CMD_SAY);
    cr_assert_str_eq(c.text, "hello /there");
    chat_parse_command("//slash", &c);
    cr_assert_eq(c.kind, CHAT_CMD_SAY);
    cr_assert_str_eq(c.text, "/slash");
    chat_parse_command("  /JOIN   #Dev.2  ", &c);
    cr_assert_eq(c.kind, CHAT_CMD_JOIN);
    cr_assert_str_eq(c.arg, "Dev.2");
    chat_parse_command("/join", &c);
    cr_assert_eq(c.kind, CHAT_CMD_BAD);
    chat_parse_command("/join #no/slash", &c);
    cr_assert_eq(c.kind, CHAT_CMD_BAD);
    chat_parse_command("/Msg bob  psst, two words", &c);
    cr_assert_eq(c.kind, CHAT_CMD_MSG);
    cr_assert_str_eq(c.arg, "bob");
    cr_assert_str_eq(c.text, "psst, two words");
    chat_parse_command("/msg bob", &c);
    cr_assert_eq(c.kind, CHAT_CMD_BAD);
    chat_parse_command("/part #x going home", &c);
    cr_assert_eq(c.kind, CHAT_CMD_PART);
    cr_assert_str_eq(c.arg, "x");
    cr_assert_str_eq(c.text, "going home");
    chat_parse_command("/part", &c);
    cr_assert_eq(c.kind, CHAT_CMD_PART);
    cr_assert_str_eq(c.arg, "");
    chat_parse_command("/QUIT", &c);
    cr_assert_eq(c.kind, CHAT_CMD_QUIT);
    cr_assert_str_eq(c.text, "");
    chat_parse_command("/nick two words", &c);
    cr_assert_eq(c.kind, CHAT_CMD_BAD);
    chat_parse_command("/who", &c);
    cr_assert_eq(c.kind, CHAT_CMD_WHO);
    cr_assert_str_eq(c.arg, "");
    chat_parse_command("/where lobby", &c);
    cr_assert_eq(c.kind, CHAT_CMD_WHERE);
    cr_assert_str_eq(c.arg, "lobby");
    chat_parse_command("/foo bar", &c);
    cr_assert_eq(c.kind, CHAT_CMD_BAD);
    chat_parse_command("/me waves", &c);
    cr_assert_eq(c.kind, CHAT_CMD_ME);
    cr_assert_str_eq(c.text, "waves");
    for (const char *const *h = chat_help_lines; *h != NULL; h++)
        cr_assert(strlen(*h) < 100);
}

/* alice (A) and carol (A) share a room with bob (B); alice's private line to
 * bob reaches bob alone: not carol, not the room, not dave elsewhere on B. */
Test(commands, a_private_line_reaches_only_its_addressee)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    rec ra, rb, rc, rd;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rc);
    rec_init(&rd);
    char room[32];
    room_owned_by("A", room, sizeof(room));
    tr_ref alice = join_ok(sys, a, "alice", room, &ra);
    join_ok(sys, b, "bob", room, &rb);
    join_ok(sys, a, "carol", room, &rc);
    join_ok(sys, b, "dave", "elsewhere", &rd);

    input(sys, alice, "/MSG bob  psst, only you  ");
    cr_assert(rec_wait(&rb, "PRIV|alice|bob|psst, only you", 1));
    cr_assert(rec_wait(&ra, "PRIV|alice|bob|psst, only you|echo", 1));
    /* a room line after it: had the private line gone to the room, carol
     * would have it before this one (one sender, one receiver: in order) */
    input(sys, alice, "after");
    cr_assert(rec_wait(&rc, "LINE|alice|after", 1));
    cr_assert(rec_wait(&rb, "LINE|alice|after", 1));
    cr_assert_eq(rec_count(&rc, "PRIV|"), 0);
    cr_assert_eq(rec_count(&rd, "PRIV|"), 0);
    cr_assert_eq(rec_count(&rb, "LINE|alice|psst"), 0);
    cr_assert_eq(rec_count(&rb, "PRIV|"), 1);
    cr_assert_eq(room_lines(sys, a, room), 1); /* "after" only */

    /* the other way, to someone in no shared room, on another server */
    input(sys, alice, "/msg dave hi dave");
    cr_assert(rec_wait(&rd, "PRIV|alice|dave|hi dave", 1));
    /* nobody of that name: told, nothing sent */
    input(sys, alice, "/msg zed anyone?");
    cr_assert(rec_wait(&ra, "ERROR|11|ok|no such user 'zed' (not connected to any server): not sent", 1));
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rc);
    rec_fini(&rd);
}

Test(commands, several_rooms_with_a_current_room_and_part)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    rec ra, rb, rc;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rc);
    char on_a[32], on_b[32];
    room_owned_by("A", on_a, sizeof(on_a));
    room_owned_by("B", on_b, sizeof(on_b));
    char hash_a[40], hash_b[40];
    snprintf(hash_a, sizeof(hash_a), "#%s", on_a);
    snprintf(hash_b, sizeof(hash_b), "#%s", on_b);
    tr_ref alice = join_ok(sys, a, "alice", hash_a, &ra); /* '#' accepted */
    join_ok(sys, b, "bob", on_a, &rb);
    join_ok(sys, b, "carol", on_b, &rc);

    char cmd[64];
    snprintf(cmd, sizeof(cmd), "  /Join   %s  ", hash_b);
    input(sys, alice, cmd);
    cr_assert(rec_wait(&ra, "JOINED|B|carol, alice", 1));
    /* the current room is the one joined last */
    input(sys, alice, "to the second room");
    cr_assert(rec_wait(&rc, "LINE|alice|to the second room", 1));
    /* /join of a room we are in makes it current */
    snprintf(cmd, sizeof(cmd), "/join %s", on_a);
    input(sys, alice, cmd);
    cr_assert(rec_wait(&ra, "INFO||#", 1));
    input(sys, alice, "to the first room");
    cr_assert(rec_wait(&rb, "LINE|alice|to the first room", 1));
    cr_assert_eq(rec_count(&rb, "LINE|alice|to the second room"), 0);
    cr_assert_eq(rec_count(&rc, "LINE|alice|to the first room"), 0);
    /* /me */
    input(sys, alice, "/me waves");
    cr_assert(rec_wait(&rb, "LINE|alice|/me waves", 1));
    /* /part with a reason: the others are told; the other room becomes current */
    input(sys, alice, "/PART going elsewhere ");
    cr_assert(rec_wait(&rb, "NOTICE||alice left (going elsewhere)", 1));
    char want[64];
    snprintf(want, sizeof(want), "PARTED|%s|going elsewhere", on_a);
    cr_assert(rec_wait(&ra, want, 1));
    input(sys, alice, "still in the second");
    cr_assert(rec_wait(&rc, "LINE|alice|still in the second", 1));
    /* /part of a room we are not in */
    input(sys, alice, "/part #nowhere");
    cr_assert(rec_wait(&ra, "ERROR|13|ok|you are not in #nowhere", 1));
    /* a line typed right after /join waits for the join and goes to that room */
    rec rd;
    rec_init(&rd);
    join_ok(sys, b, "dave", "heldroom", &rd);
    input(sys, alice, "/join heldroom");
    input(sys, alice, "typed while joining");
    cr_assert(rec_wait(&rd, "LINE|alice|typed while joining", 1));
    cr_assert_eq(rec_count(&rc, "LINE|alice|typed while joining"), 0);
    /* /quit with a reason ends the member normally */
    input(sys, alice, "/quit  bye all  ");
    cr_assert(rec_wait(&rc, "NOTICE||alice left (bye all)", 1));
    cr_assert_eq(exit_reason(sys, alice), TR_OK);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rc);
    rec_fini(&rd);
}

Test(commands, nick_changes_are_unique_and_announced)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    rec ra, rb, rx;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rx);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    tr_ref bob = join_ok(sys, b, "bob", "lobby", &rb);
    input(sys, alice, "/nick bob");
    cr_assert(rec_wait(&ra, "ERROR|13|ok|nickname 'bob' is taken (by someone on some server)", 1));
    input(sys, alice, "/NICK al");
    cr_assert(rec_wait(&ra, "NICK|al|", 1));
    cr_assert(rec_wait(&rb, "NOTICE||alice is now known as al", 1));
    input(sys, alice, "renamed");
    cr_assert(rec_wait(&rb, "LINE|al|renamed", 1));
    /* private lines find the new nickname, not the old one */
    input(sys, bob, "/msg al hello al");
    cr_assert(rec_wait(&ra, "PRIV|bob|al|hello al", 1));
    input(sys, bob, "/msg alice hello?");
    cr_assert(rec_wait(&rb, "ERROR|11|", 1));
    /* the old nickname is free again, on either server */
    join_ok(sys, b, "alice", "lobby", &rx);
    cr_assert(rec_wait(&rb, "NOTICE||alice joined", 1));
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rx);
}

Test(commands, who_list_where_help_and_unknown_commands)
{
    tr_system *sys = make_system(2);
    server a, b;
    start_pair(sys, &a, &b);
    rec ra, rb, rc;
    rec_init(&ra);
    rec_init(&rb);
    rec_init(&rc);
    char on_a[32], on_b[32];
    room_owned_by("A", on_a, sizeof(on_a));
    room_owned_by("B", on_b, sizeof(on_b));
    tr_ref alice = join_ok(sys, a, "alice", on_a, &ra);
    join_ok(sys, b, "bob", on_a, &rb);
    join_ok(sys, a, "carol", on_b, &rc);

    char want[160];
    input(sys, alice, "/who");
    snprintf(want, sizeof(want), "INFO||#%s on server A, 2 here: alice, bob", on_a);
    cr_assert(rec_wait(&ra, want, 1));
    input(sys, alice, "/WHO #nosuchroom");
    cr_assert(rec_wait(&ra, "ERROR|12|ok|#nosuchroom: nobody there", 1));

    input(sys, alice, "/list");
    cr_assert(rec_wait(&ra, "INFO||2 rooms with members:", 1));
    snprintf(want, sizeof(want), "INFO||  #%-32s %5u members  on server A", on_a, 2u);
    cr_assert(rec_wait(&ra, want, 1));
    snprintf(want, sizeof(want), "INFO||  #%-32s %5u member   on server B", on_b, 1u);
    cr_assert(rec_wait(&ra, want, 1));

    snprintf(want, sizeof(want), "/where #%s", on_b);
    input(sys, alice, want);
    snprintf(want, sizeof(want), "INFO||#%s is hosted on server B (rendezvous hashing over the servers up: A B)",
             on_b);
    cr_assert(rec_wait(&ra, want, 1));

    input(sys, alice, "/help");
    cr_assert(rec_wait(&ra, "INFO||  /msg NICK text", 1));

    /* unknown commands are answered locally and never sent */
    input(sys, alice, "/foo bar");
    cr_assert(rec_wait(&ra, "ERROR|13|ok|unknown command /foo (not sent); /help lists the commands", 1));
    input(sys, alice, "/msg");
    cr_assert(rec_wait(&ra, "ERROR|13|ok|/msg: usage: /msg NICK text", 1));
    input(sys, alice, "after");
    cr_assert(rec_wait(&rb, "LINE|alice|after", 1));
    cr_assert_eq(rec_count(&rb, "LINE|"), 1);
    cr_assert_eq(room_lines(sys, a, on_a), 1);
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
    rec_fini(&rc);
}

/* A nickname's home moves when the servers up change; releasing it must
 * clear every registry that holds it, or the nickname stays taken on an
 * earlier home once the servers change back. */
/* Asks gw's registry where nick is (CHAT_LOCATE) until it says nowhere. */
static bool registry_forgets(tr_system *sys, tr_ref gw, const char *nick)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        chat_buf b;
        chat_buf_init(&b);
        msgpack_pack_array(&b.pk, 1);
        chat_pack_str(&b.pk, nick);
        void *reply = NULL;
        size_t n = 0;
        cr_assert_eq(tr_ask_wait(sys, gw, CHAT_LOCATE, b.sb.data, b.sb.size, WAIT_MS, &reply, &n), TR_OK);
        chat_buf_destroy(&b);
        chat_in in;
        int64_t code = -1;
        cr_assert(chat_in_open(&in, reply, n, 1) && chat_obj_i64(&in.items[0], &code));
        chat_in_close(&in);
        free(reply);
        if (code == CHAT_E_NO_USER)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < WAIT_MS / 1000);
    return false;
}

Test(commands, a_released_nickname_is_free_again_after_its_home_moved)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    server b = start_server(sys, "B", 0);
    const char *both[] = {"A", "B"};
    char nick[16], key[20];
    for (int i = 0;; i++) { /* a nickname whose home is B once B is up */
        snprintf(nick, sizeof(nick), "n%d", i);
        chat_nick_key(nick, key, sizeof(key));
        if (chat_place(key, both, 2) == 1)
            break;
    }
    rec r1, r2;
    rec_init(&r1);
    rec_init(&r2);
    tr_ref first = join_ok(sys, a, nick, "lobby", &r1); /* A alone: its home is A */
    cr_assert_eq(chat_gateway_add_peer(sys, a.gw, b.gw, WAIT_MS), TR_OK);
    cr_assert(gateway_up_becomes(sys, a.gw, 2)); /* now its home is B: claimed there too */
    input(sys, first, "/quit");
    cr_assert_eq(exit_reason(sys, first), TR_OK);
    /* its gateway hears of the exit after tr_await_exit returns (DOWNs fire
     * after awaiters wake): wait until A has released it */
    cr_assert(registry_forgets(sys, a.gw, nick));
    tr_kill(sys, b.gw); /* back to A alone: its home is A again */
    cr_assert(gateway_up_becomes(sys, a.gw, 1));
    join_ok(sys, a, nick, "lobby", &r2);
    cr_assert_eq(rec_count(&r2, "ERROR|"), 0);
    teardown(sys);
    rec_fini(&r1);
    rec_fini(&r2);
}

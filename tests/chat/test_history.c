/* Room history on disk (examples/chat/store.c, SQLite): lines written by
 * rooms survive the end of the whole system and come back, marked as
 * history, to whoever joins after a restart. */
#include <unistd.h>

#include "tests/chat/recorder.h"

typedef struct seen {
    char lines[64][96];
    int n;
} seen;

static void collect(void *ctx, const chat_stored_line *l)
{
    seen *s = ctx;
    cr_assert(l->ts > 0);
    if (s->n < 64)
        snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s|%s%s", l->nick, l->me ? "/me " : "",
                 l->text);
}

static bool append(chat_store *st, const char *room, uint64_t uid, int64_t at, const char *nick,
                   const char *text, bool me)
{
    chat_stored_line l = {.uid = uid, .at = at, .ts = at / 1000, .nick = nick, .text = text, .me = me};
    return chat_store_append(st, room, &l);
}

static void temp_db(char *dir, size_t cap, char *path, size_t pcap)
{
    snprintf(dir, cap, "/tmp/troupe-chat-history.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, pcap, "%s/A.sqlite3", dir);
}

static void remove_db(const char *dir, const char *path)
{
    char more[600];
    unlink(path);
    snprintf(more, sizeof(more), "%s-wal", path);
    unlink(more);
    snprintf(more, sizeof(more), "%s-shm", path);
    unlink(more);
    rmdir(dir);
}

Test(history, store_keeps_the_recent_lines_of_each_room_across_reopen)
{
    char dir[64], path[128], err[256];
    temp_db(dir, sizeof(dir), path, sizeof(path));
    chat_store *st = chat_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    for (int i = 0; i < 25; i++) {
        char text[32];
        snprintf(text, sizeof(text), "a%d", i);
        cr_assert(append(st, "one", 100 + (uint64_t)i, 1000000 + i, "alice", text, i == 24));
    }
    cr_assert(append(st, "two", 1, 2000000, "bob", "only line", false));
    chat_store_close(st); /* writes what is queued */

    st = chat_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    seen s = {.n = 0};
    cr_assert_eq(chat_store_recent(st, "one", CHAT_HISTORY, collect, &s), CHAT_HISTORY);
    for (int i = 0; i < CHAT_HISTORY - 1; i++) {
        char want[32];
        snprintf(want, sizeof(want), "alice|a%d", 25 - CHAT_HISTORY + i);
        cr_assert_str_eq(s.lines[i], want);
    }
    cr_assert_str_eq(s.lines[CHAT_HISTORY - 1], "alice|/me a24");
    s.n = 0;
    cr_assert_eq(chat_store_recent(st, "two", CHAT_HISTORY, collect, &s), 1);
    cr_assert_str_eq(s.lines[0], "bob|only line");
    s.n = 0;
    cr_assert_eq(chat_store_recent(st, "three", CHAT_HISTORY, collect, &s), 0);
    uint64_t written, lost;
    chat_store_counts(st, &written, &lost);
    cr_assert_eq(written, 0); /* this opening wrote nothing */
    chat_store_close(st);
    chat_store *bad = chat_store_open("/nonexistent-dir/x.sqlite3", err, sizeof(err));
    cr_assert_null(bad);
    cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
    remove_db(dir, path);
}

/* Copies of a room's history from several servers merge by appending: a
 * line stored twice (same uid) is kept once, and lines come back in the
 * order of `at`, whatever order they were written in. */
Test(history, lines_from_other_copies_merge_by_uid_in_time_order)
{
    char dir[64], path[128], err[256];
    temp_db(dir, sizeof(dir), path, sizeof(path));
    chat_store *st = chat_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    cr_assert(append(st, "r", 7, 3000, "carol", "third", false));
    cr_assert(append(st, "r", 5, 1000, "alice", "first", false));
    cr_assert(append(st, "r", 7, 3000, "carol", "third", false)); /* replicated back */
    cr_assert(append(st, "r", 6, 2000, "bob", "second", false));
    cr_assert(append(st, "other", 7, 1500, "dave", "same uid, other room", false));
    chat_store_close(st);
    st = chat_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    seen s = {.n = 0};
    cr_assert_eq(chat_store_recent(st, "r", CHAT_HISTORY, collect, &s), 3);
    cr_assert_str_eq(s.lines[0], "alice|first");
    cr_assert_str_eq(s.lines[1], "bob|second");
    cr_assert_str_eq(s.lines[2], "carol|third");
    s.n = 0;
    cr_assert_eq(chat_store_recent(st, "other", CHAT_HISTORY, collect, &s), 1);
    chat_store_close(st);
    remove_db(dir, path);
}

static server start_stored(tr_system *sys, chat_store *st)
{
    server s;
    chat_directory_cfg dc = {.server = "A", .store = st};
    cr_assert_eq(tr_spawn(sys, &chat_directory_behaviour, keep(&dc, sizeof(dc)), NULL, &s.dir), TR_OK);
    chat_gateway_cfg gc = {.server = "A", .directory = s.dir};
    cr_assert_eq(tr_spawn(sys, &chat_gateway_behaviour, keep(&gc, sizeof(gc)), NULL, &s.gw), TR_OK);
    return s;
}

Test(history, survives_a_restart_of_everything_and_is_marked)
{
    char dir[64], path[128], err[256];
    temp_db(dir, sizeof(dir), path, sizeof(path));
    chat_store *st = chat_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    tr_system *sys = make_system(2);
    server a = start_stored(sys, st);
    rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    tr_ref alice = join_ok(sys, a, "alice", "lobby", &ra);
    join_ok(sys, a, "bob", "lobby", &rb);
    input(sys, alice, "before the restart");
    input(sys, alice, "/me waves");
    cr_assert(rec_wait(&rb, "LINE|alice|/me waves", 1));
    teardown(sys); /* every actor ends */
    chat_store_close(st);
    rec_fini(&ra);
    rec_fini(&rb);

    st = chat_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    sys = make_system(2);
    a = start_stored(sys, st);
    rec rc;
    rec_init(&rc);
    join_ok(sys, a, "carol", "lobby", &rc);
    cr_assert_eq(rec_count(&rc, "HISTORY|"), 2);
    cr_assert_eq(rec_count(&rc, "HISTORY|alice|before the restart"), 1);
    cr_assert_eq(rec_count(&rc, "HISTORY|alice|/me waves"), 1);
    cr_assert_eq(rec_count(&rc, "LINE|"), 0);
    /* and the formatted line says so */
    chat_event ev = {.kind = CHAT_EV_HISTORY, .ts = 0, .nick = "alice", .text = "x"};
    char buf[128];
    chat_format_event(&ev, buf, sizeof(buf));
    cr_assert(strstr(buf, "] (history) <alice> x") != NULL, "%s", buf);
    teardown(sys);
    chat_store_close(st);
    rec_fini(&rc);
    remove_db(dir, path);
}

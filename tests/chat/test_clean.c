/* Line cleaning (examples/chat/clean.c) on every class of input, and end to
 * end through a member and a room: what reaches the others is clean, the
 * sender is told what was replaced, blank lines are not sent. */
#include "tests/chat/recorder.h"

#define FFFD "\xEF\xBF\xBD"

static const char *clean(const char *in, size_t n, chat_clean_report *r)
{
    static char out[4 * CHAT_MAX_LINE];
    chat_clean(in, n, out, sizeof(out), r);
    return out;
}

#define CLEAN(lit, r) clean(lit, sizeof(lit) - 1, r)

Test(clean, every_class_of_input)
{
    chat_clean_report r;
    cr_assert_str_eq(CLEAN("plain text, ünïcödé, 日本, 🎉", &r), "plain text, ünïcödé, 日本, 🎉");
    cr_assert_eq(r.nul + r.controls + r.bidi + r.invalid, 0);
    cr_assert_str_eq(CLEAN("a\tb", &r), "a\tb"); /* tab kept */
    cr_assert_str_eq(CLEAN("red\x1b[31m!", &r), "red" FFFD "[31m!"); /* C0: ESC */
    cr_assert_eq(r.controls, 1);
    cr_assert_str_eq(CLEAN("bell\a cr\r lf\n del\x7f", &r), "bell" FFFD " cr" FFFD " lf" FFFD " del" FFFD);
    cr_assert_eq(r.controls, 4);
    cr_assert_str_eq(CLEAN("csi\xc2\x9b" "2J", &r), "csi" FFFD "2J"); /* C1: CSI */
    cr_assert_eq(r.controls, 1);
    cr_assert_str_eq(CLEAN("\xe2\x80\xae" "evil" "\xe2\x81\xa6" "x\xe2\x80\x8f", &r),
                     FFFD "evil" FFFD "x" FFFD); /* RLO, LRI, RLM */
    cr_assert_eq(r.bidi, 3);
    cr_assert_str_eq(CLEAN("nul:\0:after", &r), "nul:" FFFD ":after");
    cr_assert_eq(r.nul, 1);
    /* invalid UTF-8: a stray continuation, an overlong '/', a surrogate, a
     * code point above U+10FFFF, a truncated sequence at the end, 0xFF */
    cr_assert_str_eq(CLEAN("a\x80" "b", &r), "a" FFFD "b");
    cr_assert_str_eq(CLEAN("\xc0\xaf", &r), FFFD FFFD);
    cr_assert_str_eq(CLEAN("\xed\xa0\x80", &r), FFFD FFFD FFFD);
    cr_assert_str_eq(CLEAN("\xf4\x90\x80\x80", &r), FFFD FFFD FFFD FFFD);
    cr_assert_str_eq(CLEAN("end\xe2\x82", &r), "end" FFFD FFFD);
    cr_assert_eq(r.invalid, 2);
    cr_assert_str_eq(CLEAN("\xff", &r), FFFD);
    /* the worst case fits in 3 bytes per input byte */
    char worst[CHAT_MAX_LINE], out[CHAT_MAX_TEXT + 1];
    memset(worst, 0x1b, sizeof(worst));
    cr_assert_eq(chat_clean(worst, sizeof(worst), out, sizeof(out), &r), (size_t)CHAT_MAX_TEXT);
    cr_assert_eq(r.controls, CHAT_MAX_LINE);
    /* a small buffer stops at a character boundary */
    cr_assert_eq(chat_clean("ab\x1b", 3, out, 5, NULL), 2u);
    cr_assert_str_eq(out, "ab");
    char what[160];
    chat_clean_report two = {.nul = 2, .bidi = 1};
    chat_clean_describe(&two, what, sizeof(what));
    cr_assert_str_eq(what, "2 NUL bytes, 1 bidi control replaced by U+FFFD");
    chat_clean_report none = {0};
    chat_clean_describe(&none, what, sizeof(what));
    cr_assert_str_eq(what, "");
    cr_assert(chat_blank("", 0));
    cr_assert(chat_blank(" \t  ", 4));
    cr_assert_not(chat_blank("  .", 3));
}

/* A member that talks to the room itself, skipping the member's cleaning. */
static void raw_say(tr_ctx *self, tr_ref room, const char *text, size_t n)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_strn(&b.pk, text, n);
    msgpack_pack_false(&b.pk);
    chat_buf_send(self, room, CHAT_SAY, &b);
}

static int raw_init(tr_ctx *self, void *state, void *arg)
{
    *(tr_ref *)state = *(tr_ref *)arg;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, "raw");
    return chat_buf_send(self, *(tr_ref *)state, CHAT_JOIN, &b);
}

static int raw_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    tr_ref room = *(tr_ref *)state;
    if (msg->type == CHAT_JOINED) {
        raw_say(self, room, "x\x1by\xc0", 4);
        raw_say(self, room, " \t ", 3);
        raw_say(self, room, "end", 3);
    }
    return TR_OK;
}

static const tr_behaviour raw_beh = {.init = raw_init, .handle = raw_handle, .state_size = sizeof(tr_ref)};

/* Through a member and a room: the others get the cleaned line; the sender
 * is told; blank lines go nowhere. */
Test(clean, end_to_end_through_a_room)
{
    tr_system *sys = make_system(2);
    server a = start_server(sys, "A", 0);
    rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    tr_ref alice = join_ok(sys, a, "alice", "#lobby", &ra);
    join_ok(sys, a, "bob", "lobby", &rb);

    static const char nul[] = "nul:\0:after";
    cr_assert_eq(chat_member_input(sys, alice, nul, sizeof(nul) - 1, WAIT_MS), TR_OK);
    cr_assert(rec_wait(&rb, "LINE|alice|nul:" FFFD ":after", 1));
    cr_assert(rec_wait(&ra, "ERROR|14|ok|your line had 1 NUL byte replaced by U+FFFD", 1));
    input(sys, alice, "tab\tkept \xc2\x9b" "2J \xe2\x80\xae" "txt \xff");
    cr_assert(rec_wait(&rb, "LINE|alice|tab\tkept " FFFD "2J " FFFD "txt " FFFD, 1));
    cr_assert(rec_wait(&ra, "ERROR|14|ok|your line had 1 control character, 1 bidi control, "
                            "1 invalid UTF-8 byte replaced by U+FFFD", 1));
    input(sys, alice, "    ");
    input(sys, alice, "\t");
    input(sys, alice, "");
    input(sys, alice, "last");
    cr_assert(rec_wait(&rb, "LINE|alice|last", 1));
    cr_assert_eq(rec_count(&rb, "LINE|"), 3);
    uint64_t st[4];
    room_stats(sys, open_room(sys, a.dir, "lobby"), st);
    cr_assert_eq(st[3], 3);
    /* a room does not trust its members: raw lines straight to the room
     * (no member cleaning) are cleaned there; a blank one is dropped */
    tr_ref room = open_room(sys, a.dir, "lobby");
    tr_ref raw;
    cr_assert_eq(tr_spawn(sys, &raw_beh, keep(&room, sizeof(room)), NULL, &raw), TR_OK);
    cr_assert(rec_wait(&rb, "LINE|raw|end", 1));
    cr_assert_eq(rec_count(&rb, "LINE|raw|"), 2);
    cr_assert(rec_wait(&rb, "LINE|raw|x" FFFD "y" FFFD, 1));
    teardown(sys);
    rec_fini(&ra);
    rec_fini(&rb);
}

/* Member lists (GOSSIP envelopes) from an authenticated peer that lies:
 * a hand-written client (tests/net/raw_peer.h) completes the handshake
 * offering the cluster capability, then sends lists that are malformed
 * (counts far past the bytes, nesting, bad names), a list naming a node
 * only at an inproc:// URL, and a well-formed one naming an unreachable
 * node. The malformed ones are counted in bad_frames and change nothing;
 * the well-formed one makes the node list and dial the named node. A
 * hidden peer's list is ignored. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/net/raw_peer.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_PING = TR_MSG_USER };

static latch got;

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == MSG_PING)
        latch_add(&got, 1);
    return TR_OK;
}
static const tr_behaviour echo = {.handle = echo_handle};

static void send_gossip(raw_peer *r, const void *payload, size_t size)
{
    tr_envelope e = {.kind = TR_ENV_GOSSIP, .payload = payload, .size = (uint32_t)size};
    raw_send_envelope(r->s, &e);
}

/* Everything sent before has been handled: a message to "echo" behind it. */
static void sync_with(raw_peer *r, int n)
{
    tr_envelope e = {.kind = TR_ENV_SEND, .dst_name = {"echo", 4}, .value = MSG_PING};
    raw_send_envelope(r->s, &e);
    cr_assert(latch_wait(&got, n, RAW_WAIT_MS), "the node still reads the connection");
}

/* A list of one entry [name, inc, [url]]. */
static size_t one_entry(char *buf, size_t cap, const char *name, const char *url)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str_with_body(&pk, name, strlen(name));
    msgpack_pack_uint64(&pk, 99);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, url, strlen(url));
    cr_assert_leq(sb.size, cap);
    memcpy(buf, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static bool listed(tr_node *node, const char *name, tr_member_state *state)
{
    tr_member *list = NULL;
    size_t n = 0;
    cr_assert_eq(tr_node_members(node, &list, &n), TR_OK);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) {
            found = true;
            *state = list[i].state;
        }
    tr_node_members_free(list);
    return found;
}

Test(gossip, lying_member_lists_are_counted_and_change_nothing)
{
    latch_init(&got);
    tr_system *sys = make_system(2);
    tr_node *node = NULL;
    tr_node_opts o = {.name = "g", .cookie = "secret", .heartbeat_ms = 50, .down_after_ms = 20000};
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    char url[128];
    cr_assert_eq(tr_node_listen(node, "tcp://127.0.0.1:0", url, sizeof(url)), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(sys, "echo", e), TR_OK);

    raw_peer r = {.s = raw_dial(url), .name = "liar", .inc = 3, .caps = TR_HS_CAP_CLUSTER};
    raw_handshake(&r, "secret");
    tr_node_stats before;
    tr_node_stats_get(node, &before);

    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};       /* 4 billion entries */
    static const uint8_t deep[] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x01}; /* nested 5 deep */
    static const uint8_t scalar[] = {0x2a};                                /* not a list */
    send_gossip(&r, huge, sizeof(huge));
    send_gossip(&r, deep, sizeof(deep));
    send_gossip(&r, scalar, sizeof(scalar));
    char buf[512];
    send_gossip(&r, buf, one_entry(buf, sizeof(buf), "bad name", "tcp://127.0.0.1:1"));
    send_gossip(&r, buf, one_entry(buf, sizeof(buf), "private", "inproc://x")); /* skipped, not an error */
    sync_with(&r, 1);
    tr_node_stats after;
    tr_node_stats_get(node, &after);
    cr_assert_eq(after.bad_frames - before.bad_frames, 4, "%llu bad frames",
                 (unsigned long long)(after.bad_frames - before.bad_frames));
    tr_member_state st;
    cr_assert_not(listed(node, "private", &st));
    cr_assert_eq(after.dials, before.dials, "nothing dialled");
    cr_assert(tr_node_peer_up(node, "liar"));

    /* a hidden peer's list is ignored */
    raw_peer h = {.s = raw_dial(url), .name = "client", .inc = 4, .caps = TR_HS_CAP_CLUSTER | TR_HS_CAP_HIDDEN};
    raw_handshake(&h, "secret");
    send_gossip(&h, buf, one_entry(buf, sizeof(buf), "ghost1", "tcp://127.0.0.1:1"));
    sync_with(&h, 2);
    cr_assert_not(listed(node, "ghost1", &st));

    /* a well-formed list from a server peer: the node is listed and dialled */
    send_gossip(&r, buf, one_entry(buf, sizeof(buf), "ghost2", "tcp://127.0.0.1:1"));
    sync_with(&r, 3);
    cr_assert(listed(node, "ghost2", &st));
    cr_assert_eq(st, TR_MEMBER_CONNECTING);
    tr_node_stats_get(node, &after);
    cr_assert_gt(after.dials, before.dials);

    nng_stream_free(r.s);
    nng_stream_free(h.s);
    tr_node_stop(node);
    tr_system_destroy(sys);
}

/* The names in the next member list node sends to r (frames of other
 * envelopes are skipped); returns how many, into names. */
static size_t next_list(raw_peer *r, char names[][64], size_t cap)
{
    static char frame[1 << 16];
    for (;;) {
        long len = raw_recv_frame(r->s, frame, sizeof(frame));
        cr_assert_gt(len, 0, "the node closed the connection");
        tr_frame_reader fr;
        tr_frame_reader_init(&fr);
        cr_assert_eq(tr_frame_open(&fr, frame, (size_t)len), TR_OK);
        tr_envelope e;
        size_t n = 0;
        bool found = false;
        while (!found && tr_frame_next(&fr, &e) == TR_OK) {
            if (e.kind != TR_ENV_GOSSIP)
                continue;
            found = true;
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            cr_assert_eq(msgpack_unpack_next(&u, e.payload, e.size, NULL), MSGPACK_UNPACK_SUCCESS);
            cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
            for (uint32_t i = 0; i < u.data.via.array.size && n < cap; i++, n++) {
                const msgpack_object *name = &u.data.via.array.ptr[i].via.array.ptr[0];
                snprintf(names[n], 64, "%.*s", (int)name->via.str.size, name->via.str.ptr);
            }
            msgpack_unpacked_destroy(&u);
        }
        tr_frame_reader_destroy(&fr);
        if (found)
            return n;
    }
}

static tr_node *server(tr_system *sys, const char *name, char *url, size_t len)
{
    tr_node *node = NULL;
    /* down_after 60 s: the hand-driven peer never answers a heartbeat */
    tr_node_opts o = {.name = name, .cookie = "secret", .gossip_ms = 600000, .down_after_ms = 60000};
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    cr_assert_eq(tr_node_listen(node, "tcp://127.0.0.1:0", url, len), TR_OK);
    return node;
}

/* Waits until `node` has `name` up (the wait only turns a hang into a failure). */
static void await_up(tr_node *node, const char *name)
{
    struct timespec pause = {.tv_nsec = 5 * 1000 * 1000};
    for (int i = 0; i < 6000 && !tr_node_peer_up(node, name); i++)
        nanosleep(&pause, NULL);
    cr_assert(tr_node_peer_up(node, name), "%s never came up", name);
}

Test(gossip, a_server_that_joins_late_is_sent_as_a_change_and_everyone_meets_it)
{
    tr_system *sg = make_system(1), *sm = make_system(1), *sn = make_system(1);
    char ug[128], um[128], un[128];
    /* no periodic exchange in this test (gossip_ms 10 min): only the lists
     * a session start sends */
    tr_node *g = server(sg, "g", ug, sizeof(ug)), *m = server(sm, "m", um, sizeof(um));
    cr_assert_eq(tr_node_connect(m, ug, RAW_WAIT_MS, NULL, 0), TR_OK);
    await_up(g, "m");

    /* a new server peer gets the whole list: g itself and m */
    raw_peer w = {.s = raw_dial(ug), .name = "watcher", .inc = 6, .caps = TR_HS_CAP_CLUSTER};
    raw_handshake(&w, "secret");
    char names[8][64];
    size_t n = next_list(&w, names, 8);
    cr_assert_eq(n, 2, "the full list names g and m: %zu entries", n);
    cr_assert_str_eq(names[0], "g");
    cr_assert_str_eq(names[1], "m");

    /* n joins late, through g only: the others get g and the change (n),
     * not the whole list again; m hears of n from g and meets it */
    tr_node *nn = server(sn, "n", un, sizeof(un));
    cr_assert_eq(tr_node_connect(nn, ug, RAW_WAIT_MS, NULL, 0), TR_OK);
    n = next_list(&w, names, 8);
    /* m dialled g, so g learns m's URLs from m's own list, which can reach
     * g after the watcher joined (a busy machine): that news is a change
     * list of its own, [g, m], before n's */
    while (n == 2 && strcmp(names[1], "m") == 0)
        n = next_list(&w, names, 8);
    cr_assert_eq(n, 2, "a change list: %zu entries", n);
    cr_assert_str_eq(names[0], "g");
    cr_assert_str_eq(names[1], "n");
    await_up(m, "n");
    await_up(nn, "m");

    nng_stream_close(w.s);
    nng_stream_free(w.s);
    tr_node_stop(nn);
    tr_node_stop(m);
    tr_node_stop(g);
    tr_system_destroy(sn);
    tr_system_destroy(sm);
    tr_system_destroy(sg);
}

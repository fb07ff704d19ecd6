/* Process groups in one process: the API's semantics on one node (join
 * twice, leave, a member that ends, subscriptions and their first event,
 * bad arguments), the decoder of PG payloads against hostile bytes, and
 * an authenticated hand-written peer (tests/net/raw_peer.h) whose PG
 * envelopes are applied, whose malformed ones are counted and dropped,
 * whose members go with its connection, and whose PG frame sent before
 * the handshake closes the connection. Cross-process behaviour:
 * test_pg_procs.c. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"
#include "net/pg.h"
#include "tests/net/pg_events.h"
#include "tests/net/raw_peer.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

static tr_node *start_node(tr_system *sys, const char *name, char *url, size_t len)
{
    tr_node_opts o = {.name = name, .cookie = "secret", .heartbeat_ms = 50, .down_after_ms = 20000};
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    if (url != NULL)
        cr_assert_eq(tr_node_listen(node, "tcp://127.0.0.1:0", url, len), TR_OK);
    return node;
}

static size_t members(tr_system *sys, const char *group, tr_ref *out, size_t cap)
{
    size_t n = 99;
    int rc = tr_pg_members(sys, group, out, cap, &n);
    cr_assert(rc == TR_OK || rc == TR_ETOOBIG, "members: %s", tr_strerror(rc));
    return n;
}

/* ---- one node ---- */

Test(pg, join_twice_leave_twice_and_an_ended_member_leaves_everything)
{
    events_reset();
    tr_system *sys = make_system(2);
    tr_ref a, b, sub;
    cr_assert_eq(tr_pg_join(sys, "g", TR_REF_NONE), TR_EINVAL);
    cr_assert_eq(tr_spawn(sys, &idle, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_pg_join(sys, "g", a), TR_ENOTCONN, "no node: no process groups");
    tr_node *node = start_node(sys, "solo", NULL, 0);
    cr_assert_eq(tr_spawn(sys, &idle, NULL, NULL, &b), TR_OK);
    cr_assert_eq(tr_spawn(sys, &recorder, NULL, NULL, &sub), TR_OK);

    uint64_t id = 0;
    cr_assert_eq(tr_pg_monitor(sys, "g", sub, &id), TR_OK);
    cr_assert(events_wait(1), "the first event describes the group");
    cr_assert_eq(ev_long(&evs.joined), 0, "an empty group");
    cr_assert_eq(ev_monitor(), id);

    cr_assert_eq(tr_pg_join(sys, "g", a), TR_OK);
    cr_assert_eq(tr_pg_join(sys, "g", a), TR_OK);
    cr_assert_eq(tr_pg_join(sys, "g", b), TR_OK);
    cr_assert_eq(tr_pg_join(sys, "other", a), TR_OK);
    tr_ref out[8];
    cr_assert_eq(members(sys, "g", out, 8), 3, "a twice, b once");
    cr_assert(tr_ref_equal(out[0], a) && tr_ref_equal(out[1], a) && tr_ref_equal(out[2], b));
    size_t n = 0;
    cr_assert_eq(tr_pg_members(sys, "g", out, 2, &n), TR_ETOOBIG);
    cr_assert_eq(n, 3);
    cr_assert_eq(tr_pg_local_members(sys, "g", out, 8, &n), TR_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(members(sys, "nobody-joined", out, 8), 0);
    char names[4][TR_PG_NAME_MAX + 1];
    cr_assert_eq(tr_pg_which_groups(sys, names, 4, &n), TR_OK);
    cr_assert_eq(n, 2);
    cr_assert((strcmp(names[0], "g") == 0 && strcmp(names[1], "other") == 0) ||
              (strcmp(names[1], "g") == 0 && strcmp(names[0], "other") == 0));
    cr_assert_eq(tr_pg_which_groups(sys, names, 1, &n), TR_ETOOBIG);
    cr_assert_eq(n, 2);

    cr_assert_eq(tr_pg_leave(sys, "g", a), TR_OK);
    cr_assert_eq(members(sys, "g", out, 8), 2, "one of a's joins left");
    cr_assert_eq(tr_pg_leave(sys, "g", a), TR_OK);
    cr_assert_eq(tr_pg_leave(sys, "g", a), TR_ENOTFOUND, "a has no join of g left");
    cr_assert_eq(members(sys, "g", out, 8), 1);
    cr_assert(tr_ref_equal(out[0], b));
    cr_assert_eq(members(sys, "other", out, 8), 1, "leaving g left other alone");

    /* b ends: it leaves g, with its exit reason */
    cr_assert_eq(tr_post(sys, b, MSG_STOP, NULL, 0, -1), TR_OK);
    cr_assert_eq(tr_await_exit(sys, b, WAIT_MS, NULL), TR_OK);
    cr_assert(events_wait(1 + 3 + 3), "3 joins and 3 leaves of g");
    cr_assert_eq(ev_long(&evs.joined), 3);
    cr_assert_eq(ev_long(&evs.left), 3);
    cr_assert_eq(ev_reason(), TR_EUSER + 1, "b's exit reason");
    cr_assert_eq(members(sys, "g", out, 8), 0);
    cr_assert_eq(tr_pg_join(sys, "g", b), TR_EDEAD);
    cr_assert(!ev_bad_size());

    cr_assert_eq(tr_pg_demonitor(sys, id), TR_OK);
    cr_assert_eq(tr_pg_demonitor(sys, id), TR_ENOTFOUND);
    cr_assert_eq(tr_pg_monitor(sys, "other", sub, &id), TR_OK);
    cr_assert(events_wait(8));
    cr_assert_eq(ev_long(&evs.joined), 4, "other's first event lists a");
    cr_assert_eq(ev_monitor(), id);
    tr_kill(sys, a);
    cr_assert(events_wait(9), "a's end is its leave of other");
    cr_assert_eq(ev_long(&evs.left), 4);
    cr_assert_eq(ev_reason(), TR_EKILLED);
    cr_assert_eq(members(sys, "other", out, 8), 0);
    cr_assert_eq(ev_long(&evs.events), 9, "exactly one event per change");
    tr_node_stop(node);
    tr_system_destroy(sys);
}

Test(pg, bad_arguments)
{
    tr_system *sys = make_system(1);
    tr_node *node = start_node(sys, "args", NULL, 0);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &idle, NULL, NULL, &a), TR_OK);
    char long_name[TR_PG_NAME_MAX + 2];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_eq(tr_pg_join(sys, long_name, a), TR_EINVAL, "256 bytes is too long");
    long_name[TR_PG_NAME_MAX] = '\0';
    cr_assert_eq(tr_pg_join(sys, long_name, a), TR_OK, "255 bytes is fine");
    cr_assert_eq(tr_pg_join(sys, "", a), TR_EINVAL);
    cr_assert_eq(tr_pg_join(sys, NULL, a), TR_EINVAL);
    cr_assert_eq(tr_pg_join(sys, "g", (tr_ref){(uint64_t)3 << TR_REF_NODE_SHIFT | 5}), TR_EINVAL,
                 "only local actors join");
    cr_assert_eq(tr_pg_monitor(sys, "g", (tr_ref){(uint64_t)3 << TR_REF_NODE_SHIFT | 5}, NULL), TR_EINVAL);
    size_t n;
    cr_assert_eq(tr_pg_members(sys, "g", NULL, 1, &n), TR_EINVAL);
    cr_assert_eq(tr_pg_members(sys, "g", NULL, 0, NULL), TR_EINVAL);
    cr_assert_eq(tr_pg_leave(sys, "g", a), TR_ENOTFOUND);
    tr_node_stop(node);
    cr_assert_eq(tr_pg_members(sys, "g", NULL, 0, &n), TR_ENOTCONN, "after the node stopped");
    tr_system_destroy(sys);
}

/* ---- the decoder ---- */

/* Packs [group, reason, ids] with raw msgpack calls (shapes the encoder
 * would never write are built by hand below). */
static size_t pack(char *buf, size_t cap, const char *group, int reason, const uint64_t *ids, uint32_t n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(tr_pg_pack(&pk, group, reason, ids, n), TR_OK);
    cr_assert(sb.size <= cap);
    memcpy(buf, sb.data, sb.size);
    size_t size = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return size;
}

static tr_pg_delta delta;

Test(pg, decoder_takes_what_the_encoder_writes)
{
    static uint64_t ids[TR_PG_IDS_MAX];
    for (uint32_t i = 0; i < TR_PG_IDS_MAX; i++)
        ids[i] = REF_LOCAL_MASK - i;
    static char buf[8192];
    size_t n = pack(buf, sizeof(buf), "room:#lobby", 0, ids, TR_PG_IDS_MAX);
    cr_assert_eq(tr_pg_decode(TR_PG_JOIN, buf, n, &delta), TR_OK);
    cr_assert_eq(delta.op, TR_PG_JOIN);
    cr_assert_str_eq(delta.group, "room:#lobby");
    cr_assert_eq(delta.count, TR_PG_IDS_MAX);
    cr_assert_eq(delta.ids[TR_PG_IDS_MAX - 1], ids[TR_PG_IDS_MAX - 1]);
    n = pack(buf, sizeof(buf), "g", TR_ENODEDOWN, ids, 1);
    cr_assert_eq(tr_pg_decode(TR_PG_LEAVE, buf, n, &delta), TR_OK);
    cr_assert_eq(delta.reason, TR_ENODEDOWN);
    n = pack(buf, sizeof(buf), "g", -5, ids, 1);
    cr_assert_eq(tr_pg_decode(TR_PG_LEAVE, buf, n, &delta), TR_OK);
    cr_assert_eq(delta.reason, -5);
    cr_assert_eq(tr_pg_decode(TR_PG_SYNC, NULL, 0, &delta), TR_OK);
    cr_assert_eq(delta.op, TR_PG_SYNC);
    cr_assert_eq(tr_pg_decode(TR_PG_DISCOVER, NULL, 0, &delta), TR_OK);
    cr_assert_eq(delta.op, TR_PG_DISCOVER);
}

Test(pg, decoder_refuses_hostile_payloads)
{
    static char buf[8192];
    uint64_t one = 7;
    size_t good = pack(buf, sizeof(buf), "g", 0, &one, 1);
    for (size_t cut = 0; cut < good; cut++)
        cr_assert_eq(tr_pg_decode(TR_PG_JOIN, buf, cut, &delta), TR_EPROTO, "truncated to %zu bytes", cut);
    buf[good] = (char)0xc0; /* a trailing nil */
    cr_assert_eq(tr_pg_decode(TR_PG_JOIN, buf, good + 1, &delta), TR_EPROTO, "trailing bytes");
    for (int64_t op = -1; op <= 6; op++)
        if (op != TR_PG_JOIN && op != TR_PG_LEAVE && op != TR_PG_SYNC && op != TR_PG_DISCOVER)
            cr_assert_eq(tr_pg_decode(op, buf, good, &delta), TR_EPROTO, "op %lld", (long long)op);
    cr_assert_eq(tr_pg_decode(TR_PG_SYNC, buf, good, &delta), TR_EPROTO, "SYNC carries nothing");
    cr_assert_eq(tr_pg_decode(TR_PG_DISCOVER, buf, good, &delta), TR_EPROTO, "DISCOVER carries nothing");

    struct {
        const char *why;
        const char *bytes;
        size_t len;
        int64_t op;
    } bad[] = {
        {"an array claiming 4 billion elements", "\xdd\xff\xff\xff\xff", 5, TR_PG_JOIN},
        {"ids claiming 4 billion", "\x93\xa1g\x00\xdd\xff\xff\xff\xff", 9, TR_PG_JOIN},
        {"a map, not an array", "\x81\xa1g\x00", 4, TR_PG_JOIN},
        {"two fields", "\x92\xa1g\x00", 4, TR_PG_JOIN},
        {"four fields", "\x94\xa1g\x00\x91\x07\xc0", 7, TR_PG_JOIN},
        {"an empty group", "\x93\xa0\x00\x91\x07", 5, TR_PG_JOIN},
        {"a group as bin", "\x93\xc4\x01g\x00\x91\x07", 7, TR_PG_JOIN},
        {"a NUL in the group", "\x93\xa2g\x00\x00\x91\x07", 7, TR_PG_JOIN},
        {"no ids", "\x93\xa1g\x00\x90", 5, TR_PG_JOIN},
        {"id 0", "\x93\xa1g\x00\x91\x00", 6, TR_PG_JOIN},
        {"a negative id", "\x93\xa1g\x00\x91\xff", 6, TR_PG_JOIN},
        {"an id with node bits", "\x93\xa1g\x00\x91\xcf\x00\x10\x00\x00\x00\x00\x00\x01", 14, TR_PG_JOIN},
        {"an id as a string", "\x93\xa1g\x00\x91\xa1x", 7, TR_PG_JOIN},
        {"ids nested deeper", "\x93\xa1g\x00\x91\x91\x07", 7, TR_PG_JOIN},
        {"a JOIN with a reason", "\x93\xa1g\x05\x91\x07", 6, TR_PG_JOIN},
        {"a reason past int", "\x93\xa1g\xce\x80\x00\x00\x00\x91\x07", 10, TR_PG_LEAVE},
        {"a reason as a float", "\x93\xa1g\xca\x00\x00\x00\x00\x91\x07", 10, TR_PG_LEAVE},
        {"nil", "\xc0", 1, TR_PG_JOIN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tr_pg_decode(bad[i].op, bad[i].bytes, bad[i].len, &delta), TR_EPROTO, "%s", bad[i].why);

    /* a group of 256 bytes, and 513 ids */
    char name[TR_PG_NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    size_t n = pack(buf, sizeof(buf), name, 0, &one, 1);
    cr_assert_eq(tr_pg_decode(TR_PG_JOIN, buf, n, &delta), TR_EPROTO, "a 256-byte group");
    static uint64_t ids[TR_PG_IDS_MAX + 1];
    for (uint32_t i = 0; i <= TR_PG_IDS_MAX; i++)
        ids[i] = i + 1;
    n = pack(buf, sizeof(buf), "g", 0, ids, TR_PG_IDS_MAX + 1);
    cr_assert_eq(tr_pg_decode(TR_PG_JOIN, buf, n, &delta), TR_EPROTO, "more ids than one envelope holds");

    /* random bytes and random mutations of a good payload: never a crash */
    unsigned seed = 14;
    for (int round = 0; round < 20000; round++) {
        size_t len = good;
        memcpy(buf, "\x93\xa1g\x00\x91\x07", 6);
        if (round % 2 == 0) {
            len = (size_t)(rand_r(&seed) % 64);
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)rand_r(&seed);
        } else {
            buf[rand_r(&seed) % good] = (char)rand_r(&seed);
        }
        int rc = tr_pg_decode(TR_PG_JOIN, buf, len, &delta);
        cr_assert(rc == TR_OK || rc == TR_EPROTO);
        if (rc == TR_OK)
            cr_assert(delta.count >= 1 && delta.count <= TR_PG_IDS_MAX && delta.group[0] != '\0');
    }
}

/* ---- an authenticated hand-written peer ---- */

/* One data frame holding one PG envelope (op, payload). */
static bool send_pg(nng_stream *s, int64_t op, const void *payload, size_t size)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    tr_envelope e = {.kind = TR_ENV_PG, .value = op, .payload = payload, .size = (uint32_t)size};
    cr_assert_eq(tr_wire_pack_envelope(&pk, &e), TR_OK);
    bool ok = raw_send_frame(s, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return ok;
}

Test(pg, a_peers_envelopes_are_applied_checked_and_go_with_its_connection)
{
    events_reset();
    tr_system *sys = make_system(2);
    char url[128];
    tr_node *node = start_node(sys, "t", url, sizeof(url));
    tr_ref sub;
    cr_assert_eq(tr_spawn(sys, &recorder, NULL, NULL, &sub), TR_OK);
    cr_assert_eq(tr_pg_monitor(sys, "g", sub, NULL), TR_OK);
    cr_assert(events_wait(1));

    /* before the handshake a PG frame is not a handshake message: closed, nothing applied */
    nng_stream *stranger = raw_dial(url);
    static char buf[8192];
    uint64_t ids[2] = {5, 6};
    size_t n = pack(buf, sizeof(buf), "g", 0, ids, 2);
    send_pg(stranger, TR_PG_JOIN, buf, n);
    cr_assert(raw_closed(stranger), "an unauthenticated PG frame closes the connection");
    nng_stream_free(stranger);

    raw_peer r = {.s = raw_dial(url), .name = "raw", .inc = 99};
    raw_handshake(&r, "secret");
    cr_assert(send_pg(r.s, TR_PG_JOIN, buf, n));
    cr_assert(events_wait(2));
    tr_ref out[4];
    cr_assert_eq(members(sys, "g", out, 4), 2);
    char where[64];
    cr_assert_eq(tr_node_of(node, out[0], where, sizeof(where)), TR_OK);
    cr_assert_str_eq(where, "raw");
    cr_assert_eq(out[0].id & REF_LOCAL_MASK, 5);

    tr_node_stats before;
    tr_node_stats_get(node, &before);
    static const struct {
        int64_t op;
        const char *bytes;
        size_t len;
    } hostile[] = {
        {TR_PG_JOIN, "\x93\xa1g\x00\xdd\xff\xff\xff\xff", 9},
        {TR_PG_JOIN, "\x93\xa1g\x00\x91\x00", 6},
        {TR_PG_LEAVE, "\x93\xa1g\x00\x91", 5},
        {9, "\x93\xa1g\x00\x91\x07", 6},
        {TR_PG_SYNC, "\xc0", 1},
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        cr_assert(send_pg(r.s, hostile[i].op, hostile[i].bytes, hostile[i].len));
    /* a good LEAVE behind them: once it is applied, they have been read */
    n = pack(buf, sizeof(buf), "g", TR_OK, ids, 1);
    cr_assert(send_pg(r.s, TR_PG_LEAVE, buf, n));
    cr_assert(events_wait(3));
    tr_node_stats after;
    tr_node_stats_get(node, &after);
    cr_assert_eq(after.bad_frames - before.bad_frames, 5, "each malformed envelope counted once");
    cr_assert_eq(after.peers_up, 1, "the connection stays up");
    cr_assert_eq(members(sys, "g", out, 4), 1);
    cr_assert_eq(out[0].id & REF_LOCAL_MASK, 6);
    cr_assert_eq(ev_long(&evs.left), 1);

    /* SYNC: forget what you know of my members */
    cr_assert(send_pg(r.s, TR_PG_SYNC, NULL, 0));
    cr_assert(events_wait(4));
    cr_assert_eq(members(sys, "g", out, 4), 0);
    cr_assert_eq(ev_reason(), TR_ENODEDOWN);

    /* its members go with its connection */
    n = pack(buf, sizeof(buf), "g", 0, ids, 2);
    cr_assert(send_pg(r.s, TR_PG_JOIN, buf, n));
    cr_assert(events_wait(5));
    cr_assert_eq(members(sys, "g", out, 4), 2);
    nng_stream_close(r.s);
    nng_stream_free(r.s);
    cr_assert(events_wait(6));
    cr_assert_eq(members(sys, "g", out, 4), 0);
    cr_assert_eq(ev_reason(), TR_ENODEDOWN);
    cr_assert_eq(ev_long(&evs.joined), 4);
    cr_assert_eq(ev_long(&evs.left), 4);
    cr_assert(!ev_bad_size());
    tr_node_stop(node);
    tr_system_destroy(sys);
}

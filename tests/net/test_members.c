/* Membership in one process (nodes on tcp loopback, one system each):
 * node events exactly once per transition, the member listing, the mesh
 * formed through one seed, hidden nodes kept out of it, a restarted node
 * re-admitted through another member, duplicate names refused, leaving,
 * forgetting. The multi-host versions (kill -9, SIGSTOP, partitions) are
 * in test_cluster.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/members.h"
#include "tests/support/system.h"
#include "troupe/inbox.h"
#include "troupe/troupe.h"

#define WAIT_MS 30000 /* generous: sanitizers on a loaded 2-core machine */
#define MAXN 5

typedef struct cluster {
    tr_system *sys[MAXN];
    tr_node *node[MAXN];
    tr_inbox *in[MAXN];
    char url[MAXN][128];
} cluster;

/* Starts node i called `name` (hidden: no listener) with an inbox
 * subscribed to its node events (hidden nodes' too). */
static void start(cluster *c, int i, const char *name, bool hidden, uint32_t forget_ms)
{
    c->sys[i] = make_system(2);
    tr_node_opts o = {.name = name, .cookie = "secret", .heartbeat_ms = 20, .down_after_ms = 10000,
                      .hidden = hidden, .forget_after_ms = forget_ms};
    cr_assert_eq(tr_node_start(c->sys[i], &o, &c->node[i]), TR_OK);
    if (!hidden)
        cr_assert_eq(tr_node_listen(c->node[i], "tcp://127.0.0.1:0", c->url[i], sizeof(c->url[i])), TR_OK);
    cr_assert_eq(tr_inbox_create(c->sys[i], 0, &c->in[i]), TR_OK);
    cr_assert_eq(tr_node_subscribe(c->node[i], tr_inbox_ref(c->in[i]), TR_NODE_EVENTS_HIDDEN), TR_OK);
}

static void stop(cluster *c, int i)
{
    tr_inbox_destroy(c->in[i]);
    tr_node_stop(c->node[i]);
    tr_system_destroy(c->sys[i]);
    c->in[i] = NULL;
    c->node[i] = NULL;
    c->sys[i] = NULL;
}

static void stop_all(cluster *c)
{
    for (int i = 0; i < MAXN; i++)
        if (c->sys[i] != NULL)
            stop(c, i);
}

static void connect_to(cluster *c, int from, int to)
{
    int rc = tr_node_connect(c->node[from], c->url[to], WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "connect: %s", tr_strerror(rc));
}

/* The next node event on node i: it must be `type` about `name`. */
static tr_node_event next_event(cluster *c, int i, uint32_t type, const char *name)
{
    tr_inbox_msg *m = NULL;
    int rc = tr_inbox_receive(c->in[i], 0, 0, WAIT_MS, &m);
    cr_assert_eq(rc, TR_OK, "node %d: no event (expected %s of %s)", i, type == TR_MSG_NODE_UP ? "UP" : "DOWN",
                 name);
    cr_assert(m->msg.type == type, "node %d: event %x, expected %x about %s", i, m->msg.type, type, name);
    cr_assert_eq(m->msg.size, sizeof(tr_node_event));
    tr_node_event ev;
    memcpy(&ev, m->msg.data, sizeof(ev));
    tr_inbox_msg_free(m);
    cr_assert_str_eq(ev.name, name);
    cr_assert_neq(ev.incarnation, 0);
    return ev;
}

/* No event arrives on node i within ms (absence: a slow machine cannot
 * make this fail wrongly). */
static void no_event(cluster *c, int i, int ms)
{
    tr_inbox_msg *m = NULL;
    int rc = tr_inbox_receive(c->in[i], 0, 0, ms, &m);
    if (rc == TR_OK) {
        const tr_node_event *ev = m->msg.data;
        cr_assert_fail("node %d: unexpected event %x about %s (reason %d)", i, m->msg.type, ev->name, ev->reason);
    }
    cr_assert_eq(rc, TR_ETIMEDOUT);
}

/* The member `name` on node i (fails if it is not listed). */
static tr_member member(cluster *c, int i, const char *name) { return member_of(c->node[i], name); }

static size_t member_count(cluster *c, int i)
{
    tr_member *list = NULL;
    size_t n = 0;
    cr_assert_eq(tr_node_members(c->node[i], &list, &n), TR_OK);
    tr_node_members_free(list);
    return n;
}

Test(members, events_and_listing_follow_a_session)
{
    cluster c = {0};
    start(&c, 0, "m0", false, 0);
    start(&c, 1, "m1", false, 0);
    connect_to(&c, 1, 0);
    tr_node_event up = next_event(&c, 0, TR_MSG_NODE_UP, "m1");
    cr_assert_eq(up.reason, 0);
    cr_assert_not(up.hidden);
    next_event(&c, 1, TR_MSG_NODE_UP, "m0");

    /* m1 tells m0 where it listens (gossip) right after the handshake */
    tr_member m = member(&c, 0, "m1");
    for (int i = 0; i < WAIT_MS / 10 && m.nurls == 0; i++) {
        usleep(10 * 1000);
        m = member(&c, 0, "m1");
    }
    cr_assert_eq(m.state, TR_MEMBER_UP);
    cr_assert_eq(m.incarnation, up.incarnation);
    cr_assert_not(m.hidden);
    cr_assert_gt(m.since_ms, 1700000000000ull, "since is wall-clock ms");
    cr_assert_eq(m.nurls, 1);
    cr_assert_str_eq(m.urls[0], c.url[1]);
    cr_assert_gt(m.frames_in, 0);
    cr_assert_gt(m.bytes_in, 0);
    tr_node_stats st;
    tr_node_stats_get(c.node[0], &st);
    cr_assert_eq(st.members, 1);

    /* a disconnect is a down (TR_ECANCELLED) then, after the reset
     * exchange, an up of the same incarnation: once each, on both sides */
    cr_assert_eq(tr_node_disconnect(c.node[0], "m1"), TR_OK);
    tr_node_event down = next_event(&c, 0, TR_MSG_NODE_DOWN, "m1");
    cr_assert_eq(down.reason, TR_ECANCELLED);
    cr_assert_eq(down.incarnation, up.incarnation);
    cr_assert_eq(next_event(&c, 1, TR_MSG_NODE_DOWN, "m0").reason, TR_ECANCELLED);
    cr_assert_eq(next_event(&c, 0, TR_MSG_NODE_UP, "m1").incarnation, up.incarnation);
    next_event(&c, 1, TR_MSG_NODE_UP, "m0");
    no_event(&c, 0, 200);
    no_event(&c, 1, 0);

    /* the peer stops: its connection closes, a down with TR_ENODEDOWN */
    stop(&c, 1);
    cr_assert_eq(next_event(&c, 0, TR_MSG_NODE_DOWN, "m1").reason, TR_ENODEDOWN);
    m = member(&c, 0, "m1");
    cr_assert_eq(m.state, TR_MEMBER_DOWN);
    cr_assert_eq(m.reason, TR_ENODEDOWN);
    stop_all(&c);
}

Test(members, unsubscribed_actors_get_nothing)
{
    cluster c = {0};
    start(&c, 0, "u0", false, 0);
    start(&c, 1, "u1", false, 0);
    cr_assert_eq(tr_node_unsubscribe(c.node[0], tr_inbox_ref(c.in[0])), TR_OK);
    cr_assert_eq(tr_node_unsubscribe(c.node[0], tr_inbox_ref(c.in[0])), TR_ENOTFOUND);
    connect_to(&c, 1, 0);
    next_event(&c, 1, TR_MSG_NODE_UP, "u0");
    no_event(&c, 0, 100);
    cr_assert_eq(tr_node_subscribe(c.node[0], (tr_ref){0}, 0), TR_EINVAL);
    stop_all(&c);
}

Test(members, mesh_forms_through_one_seed_and_hidden_nodes_stay_out)
{
    cluster c = {0};
    start(&c, 0, "s0", false, 0);
    start(&c, 1, "s1", false, 0);
    start(&c, 2, "s2", false, 0);
    start(&c, 3, "client3", true, 0);
    connect_to(&c, 1, 0);
    connect_to(&c, 2, 0);
    connect_to(&c, 3, 0);
    /* s1 and s2 only named s0: they find each other through its member list */
    next_event(&c, 1, TR_MSG_NODE_UP, "s0");
    next_event(&c, 1, TR_MSG_NODE_UP, "s2");
    next_event(&c, 2, TR_MSG_NODE_UP, "s0");
    next_event(&c, 2, TR_MSG_NODE_UP, "s1");
    tr_node_event hid = next_event(&c, 3, TR_MSG_NODE_UP, "s0");
    cr_assert_not(hid.hidden);
    cr_assert(tr_node_peer_up(c.node[1], "s2"));
    cr_assert(tr_node_peer_up(c.node[2], "s1"));
    /* the client is s0's member only, marked hidden; it knows only s0 */
    tr_member m = member(&c, 0, "client3");
    cr_assert(m.hidden);
    cr_assert_eq(m.state, TR_MEMBER_UP);
    cr_assert_eq(member_count(&c, 3), 1);
    /* a round of gossip later (s1 <-> s2 exchange lists every 1 s at most;
     * an ask round trip orders it): still no client on s1 or s2 */
    cr_assert_eq(member_count(&c, 1), 2);
    cr_assert_eq(member_count(&c, 2), 2);
    cr_assert_not(tr_node_peer_up(c.node[1], "client3"));
    tr_node_stats st;
    tr_node_stats_get(c.node[3], &st);
    cr_assert_eq(st.peers_up, 1, "a hidden node is not meshed");
    stop_all(&c);
}

/* The next NODE_UP of `name` on node i under an incarnation other than
 * `old`, passing over an UP then DOWN of `old` itself: a connection to the
 * old incarnation admitted before it stopped may still complete its
 * handshake (up at ACCEPT, a round trip after it was admitted) and go down
 * again; each of those transitions has its event. */
static uint64_t next_up_of_another_incarnation(cluster *c, int i, const char *name, uint64_t old)
{
    for (;;) {
        tr_inbox_msg *m = NULL;
        cr_assert_eq(tr_inbox_receive(c->in[i], 0, 0, WAIT_MS, &m), TR_OK, "node %d: no UP of the new %s", i, name);
        cr_assert(m->msg.type == TR_MSG_NODE_UP || m->msg.type == TR_MSG_NODE_DOWN);
        tr_node_event ev;
        memcpy(&ev, m->msg.data, sizeof(ev));
        bool up = m->msg.type == TR_MSG_NODE_UP;
        tr_inbox_msg_free(m);
        cr_assert_str_eq(ev.name, name);
        if (ev.incarnation == old)
            continue; /* the old incarnation's late session, up then down */
        cr_assert(up, "node %d: the new %s went down", i, name);
        return ev.incarnation;
    }
}

Test(members, a_restarted_node_is_readmitted_through_another_member)
{
    cluster c = {0};
    start(&c, 0, "r0", false, 0);
    start(&c, 1, "r1", false, 0);
    start(&c, 2, "r2", false, 0);
    connect_to(&c, 1, 0);
    connect_to(&c, 2, 0);
    next_event(&c, 0, TR_MSG_NODE_UP, "r1");
    uint64_t first = next_event(&c, 0, TR_MSG_NODE_UP, "r2").incarnation;
    next_event(&c, 1, TR_MSG_NODE_UP, "r0");
    next_event(&c, 1, TR_MSG_NODE_UP, "r2");
    stop(&c, 2);
    cr_assert_eq(next_event(&c, 0, TR_MSG_NODE_DOWN, "r2").incarnation, first);
    next_event(&c, 1, TR_MSG_NODE_DOWN, "r2");
    /* the new r2 (new incarnation, new port) names r1 only: r0 hears of it from r1 */
    start(&c, 2, "r2", false, 0);
    connect_to(&c, 2, 1);
    uint64_t second = next_up_of_another_incarnation(&c, 1, "r2", first);
    cr_assert_eq(next_up_of_another_incarnation(&c, 0, "r2", first), second);
    tr_member m = member(&c, 0, "r2");
    cr_assert_eq(m.incarnation, second);
    /* its own member list says where it listens now (it may come after the event) */
    for (int i = 0; i < WAIT_MS / 10 && strcmp(m.urls[0], c.url[2]) != 0; i++) {
        usleep(10 * 1000);
        m = member(&c, 0, "r2");
    }
    cr_assert_str_eq(m.urls[0], c.url[2]);
    stop_all(&c);
}

Test(members, a_second_node_of_a_live_name_is_refused)
{
    cluster c = {0};
    start(&c, 0, "d0", false, 0);
    start(&c, 1, "d1", false, 0);
    connect_to(&c, 1, 0);
    next_event(&c, 0, TR_MSG_NODE_UP, "d1");
    start(&c, 2, "d1", false, 0); /* the impostor */
    cr_assert_eq(tr_node_connect(c.node[2], c.url[0], WAIT_MS, NULL, 0), TR_ENAMETAKEN);
    no_event(&c, 0, 100);
    cr_assert(tr_node_peer_up(c.node[0], "d1"));
    cr_assert(tr_node_peer_up(c.node[1], "d0"));
    stop_all(&c);
}

Test(members, a_node_that_leaves_is_left_and_not_redialled)
{
    cluster c = {0};
    start(&c, 0, "l0", false, 0);
    start(&c, 1, "l1", false, 0);
    connect_to(&c, 1, 0); /* l1 has a dial record for l0: it would redial it */
    next_event(&c, 1, TR_MSG_NODE_UP, "l0");
    next_event(&c, 0, TR_MSG_NODE_UP, "l1");
    cr_assert_eq(tr_node_leave(c.node[0], WAIT_MS), TR_OK);
    tr_node_event ev = next_event(&c, 1, TR_MSG_NODE_DOWN, "l0");
    cr_assert_eq(ev.reason, TR_ESHUTDOWN);
    cr_assert_eq(next_event(&c, 0, TR_MSG_NODE_DOWN, "l1").reason, TR_ESHUTDOWN);
    tr_member m = member(&c, 1, "l0");
    cr_assert_eq(m.state, TR_MEMBER_LEFT, "l0 in l1's view: state %d, reason %d, %zu members", (int)m.state,
                 m.reason, member_count(&c, 1));
    cr_assert_eq(m.reason, TR_ESHUTDOWN);
    tr_node_stats before, after;
    tr_node_stats_get(c.node[1], &before);
    usleep(300 * 1000); /* six first backoff steps: a redial would have happened */
    tr_node_stats_get(c.node[1], &after);
    cr_assert_eq(after.dials, before.dials, "a left node is not redialled");
    no_event(&c, 1, 0);
    cr_assert_eq(tr_node_connect(c.node[0], c.url[1], 100, NULL, 0), TR_ECLOSED);
    stop_all(&c);
}

Test(members, down_members_are_forgotten_and_clients_never_dialled)
{
    cluster c = {0};
    start(&c, 0, "f0", false, 300);
    for (int round = 0; round < 3; round++) {
        char name[32];
        snprintf(name, sizeof(name), "client%d", round);
        start(&c, 1, name, true, 0);
        connect_to(&c, 1, 0);
        next_event(&c, 0, TR_MSG_NODE_UP, name);
        stop(&c, 1);
        next_event(&c, 0, TR_MSG_NODE_DOWN, name);
    }
    /* forgotten 300 ms after it went down: polled, with a generous deadline */
    for (int i = 0; i < WAIT_MS / 10 && member_count(&c, 0) > 0; i++)
        usleep(10 * 1000);
    cr_assert_eq(member_count(&c, 0), 0);
    tr_node_stats st;
    tr_node_stats_get(c.node[0], &st);
    cr_assert_eq(st.dials, 0, "a server never dials a client");
    cr_assert_eq(st.members, 0);
    stop_all(&c);
}

#define MSG_NOTE (TR_MSG_USER + 1)

/* A reference to an actor of a forgotten node reaches nobody, also once
 * another node has joined since: a send fails with TR_ENOTCONN (counted in
 * not_connected and as a dead letter), tr_node_of does not know it, and
 * the new node, at another index, gets only what is sent to it. (Indexes
 * come back only after all 4095 have been handed out: test_peer_table.c.) */
Test(members, a_reference_to_a_forgotten_node_reaches_nobody)
{
    cluster c = {0};
    start(&c, 0, "r0", false, 300);
    start(&c, 1, "gone", true, 0);
    cr_assert_eq(tr_register(c.sys[1], "box", tr_inbox_ref(c.in[1])), TR_OK);
    connect_to(&c, 1, 0);
    next_event(&c, 0, TR_MSG_NODE_UP, "gone");
    tr_ref stale;
    cr_assert_eq(tr_lookup(c.sys[0], "gone/box", WAIT_MS, &stale), TR_OK);
    cr_assert_eq(tr_post(c.sys[0], stale, MSG_NOTE, "old", 3, 0), TR_OK);
    tr_inbox_msg *m = NULL;
    cr_assert_eq(tr_inbox_receive(c.in[1], MSG_NOTE, 0, WAIT_MS, &m), TR_OK, "the reference works while its node is up");
    tr_inbox_msg_free(m);
    stop(&c, 1);
    next_event(&c, 0, TR_MSG_NODE_DOWN, "gone");
    for (int i = 0; i < WAIT_MS / 10 && member_count(&c, 0) > 0; i++)
        usleep(10 * 1000); /* forgotten 300 ms after it went down */
    cr_assert_eq(member_count(&c, 0), 0);

    start(&c, 1, "next", true, 0);
    cr_assert_eq(tr_register(c.sys[1], "box", tr_inbox_ref(c.in[1])), TR_OK);
    connect_to(&c, 1, 0);
    next_event(&c, 0, TR_MSG_NODE_UP, "next");
    tr_ref fresh;
    cr_assert_eq(tr_lookup(c.sys[0], "next/box", WAIT_MS, &fresh), TR_OK);
    cr_assert_neq(tr_ref_node(fresh), tr_ref_node(stale), "a new node takes a new index");
    tr_node_stats before, after;
    tr_node_stats_get(c.node[0], &before);
    cr_assert_eq(tr_post(c.sys[0], stale, MSG_NOTE, "stale", 5, 0), TR_ENOTCONN);
    tr_node_stats_get(c.node[0], &after);
    cr_assert_eq(after.not_connected, before.not_connected + 1);
    char name[64];
    cr_assert_eq(tr_node_of(c.node[0], stale, name, sizeof(name)), TR_ENOTFOUND);
    cr_assert_eq(tr_node_of(c.node[0], fresh, name, sizeof(name)), TR_OK);
    cr_assert_str_eq(name, "next");
    /* sent after the stale one, from the same thread: had that one reached
     * this node, it would come first */
    cr_assert_eq(tr_post(c.sys[0], fresh, MSG_NOTE, "fresh", 5, 0), TR_OK);
    cr_assert_eq(tr_inbox_receive(c.in[1], MSG_NOTE, 0, WAIT_MS, &m), TR_OK);
    cr_assert_eq(m->msg.size, 5);
    cr_assert_eq(memcmp(m->msg.data, "fresh", 5), 0);
    tr_inbox_msg_free(m);
    stop_all(&c);
}

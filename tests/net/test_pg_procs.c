/* Process groups across OS processes (tests/net/node_proc.c children and
 * this process's own node, over tcp on 127.0.0.1): members joined on any
 * node are seen, and usable, from every other; joins count, leaves remove
 * one join each; a member that ends leaves everywhere; SIGKILL of a node
 * removes its members from every other view at once; a restarted node's
 * members (joined before it connected) come back through the snapshot
 * exchanged when a session starts. Everything synchronises on pg events:
 * this node's subscriber, and the children's "pgcount" (woken by theirs). */
#include <criterion/criterion.h>

#include "tests/net/pg_events.h"
#include "tests/net/procs.h"

static child c1, c2;

/* Sends a command to a child and returns its answer after `answer`. */
static const char *cmd(child *c, const char *line, const char *answer)
{
    static char rest[256];
    cr_assert(child_say(c, line), "cannot write \"%s\"", line);
    cr_assert(child_expect(c, answer, rest, sizeof(rest), PROC_WAIT_MS), "no %s after \"%s\"", answer, line);
    return rest;
}

static size_t members_of(tr_system *sys, const char *group, tr_ref *out, size_t cap)
{
    size_t n = 0;
    int rc = tr_pg_members(sys, group, out, cap, &n);
    cr_assert(rc == TR_OK, "members: %s", tr_strerror(rc));
    return n;
}

/* How many of refs[0..n) live on the node called `name`. */
static int on_node(tr_node *node, const tr_ref *refs, size_t n, const char *name)
{
    int k = 0;
    char where[64];
    for (size_t i = 0; i < n; i++)
        k += tr_node_of(node, refs[i], where, sizeof(where)) == TR_OK && strcmp(where, name) == 0;
    return k;
}

static tr_ref subscribe(tr_system *sys, const char *group)
{
    tr_ref sub;
    cr_assert_eq(tr_spawn(sys, &recorder, NULL, NULL, &sub), TR_OK);
    cr_assert_eq(tr_pg_monitor(sys, group, sub, NULL), TR_OK);
    cr_assert(events_wait(1), "the subscription's first event");
    return sub;
}

Test(pg_procs, members_on_three_nodes_join_twice_leave_and_end)
{
    events_reset();
    char url1[256], url2[256], turl[256], line[300];
    proc_start(&c1, NULL, "c1", "tcp://127.0.0.1:0", NULL, url1, sizeof(url1));
    proc_start(&c2, NULL, "c2", "tcp://127.0.0.1:0", NULL, url2, sizeof(url2));
    tr_system *sys = make_system(2);
    tr_node *node = local_node(sys, "t", "tcp://127.0.0.1:0", 20000, turl, sizeof(turl));
    cr_assert_eq(tr_node_connect(node, url1, PROC_WAIT_MS, NULL, 0), TR_OK);
    cr_assert_eq(tr_node_connect(node, url2, PROC_WAIT_MS, NULL, 0), TR_OK);
    snprintf(line, sizeof(line), "connect %s", url2);
    cr_assert_str_eq(cmd(&c1, line, "CONNECTED"), "0");
    subscribe(sys, "g");

    cr_assert_str_eq(cmd(&c1, "pgspawn a g", "PGJOINED"), "0");
    cr_assert_str_eq(cmd(&c1, "pgjoin a g", "PGJOINED"), "0", "a joins twice");
    cr_assert_str_eq(cmd(&c2, "pgspawn b g", "PGJOINED"), "0");
    cr_assert(events_wait_members(3, 0), "three joins seen here: %ld", ev_long(&evs.joined));
    tr_ref m[8];
    cr_assert_eq(members_of(sys, "g", m, 8), 3);
    cr_assert_eq(on_node(node, m, 3, "c1"), 2);
    cr_assert_eq(on_node(node, m, 3, "c2"), 1);
    for (size_t i = 0; i < 3; i++) /* the references work */
        echo_round_trip(sys, m[i]);

    /* a member here is seen there */
    tr_ref x;
    cr_assert_eq(tr_spawn(sys, &idle, NULL, NULL, &x), TR_OK);
    cr_assert_eq(tr_pg_join(sys, "g", x), TR_OK);
    cr_assert_str_eq(cmd(&c2, "pgcount g 4", "PGCOUNT"), "4");
    cr_assert_str_eq(cmd(&c1, "pgcount g 4", "PGCOUNT"), "4");

    /* leaves: one join each, then not a member */
    cr_assert_str_eq(cmd(&c1, "pgleave a g", "PGLEFT"), "0");
    cr_assert(events_wait_members(4, 1));
    cr_assert_eq(members_of(sys, "g", m, 8), 3);
    cr_assert_str_eq(cmd(&c2, "pgcount g 3", "PGCOUNT"), "3");
    cr_assert_str_eq(cmd(&c1, "pgleave a g", "PGLEFT"), "0");
    snprintf(line, sizeof(line), "%d", TR_ENOTFOUND);
    cr_assert_str_eq(cmd(&c1, "pgleave a g", "PGLEFT"), line, "a left twice: not a member");
    cr_assert(events_wait_members(4, 2));

    /* b ends: it leaves everywhere, with its reason */
    cr_assert_str_eq(cmd(&c2, "pgkill b", "PGKILLED"), "0");
    cr_assert(events_wait_members(4, 3));
    cr_assert_eq(ev_reason(), TR_EKILLED);
    cr_assert_eq(members_of(sys, "g", m, 8), 1);
    cr_assert(tr_ref_equal(m[0], x));
    cr_assert_str_eq(cmd(&c1, "pgcount g 1", "PGCOUNT"), "1");
    cr_assert_str_eq(cmd(&c2, "pgcount g 1", "PGCOUNT"), "1");

    cr_assert_eq(child_stop(&c1, PROC_WAIT_MS, NULL, NULL), 0, "c1 exits cleanly");
    cr_assert_eq(child_stop(&c2, PROC_WAIT_MS, NULL, NULL), 0, "c2 exits cleanly");
    tr_node_stop(node);
    tr_system_destroy(sys);
    cr_assert_eq(ev_long(&evs.joined), 4, "each join seen once");
    cr_assert_eq(ev_long(&evs.left), 3, "each leave seen once");
    cr_assert(!ev_bad_size());
}

Test(pg_procs, sigkill_removes_a_nodes_members_and_a_restart_brings_them_back)
{
    events_reset();
    char url1[256], url2[256], turl[256], line[300];
    proc_start(&c1, NULL, "c1", "tcp://127.0.0.1:0", NULL, url1, sizeof(url1));
    proc_start(&c2, NULL, "c2", "tcp://127.0.0.1:0", NULL, url2, sizeof(url2));
    tr_system *sys = make_system(2);
    tr_node *node = local_node(sys, "t", "tcp://127.0.0.1:0", 20000, turl, sizeof(turl));
    subscribe(sys, "g");
    tr_ref x; /* joined before any peer is connected: they learn it from our snapshot */
    cr_assert_eq(tr_spawn(sys, &idle, NULL, NULL, &x), TR_OK);
    cr_assert_eq(tr_pg_join(sys, "g", x), TR_OK);
    cr_assert_eq(tr_node_connect(node, url1, PROC_WAIT_MS, NULL, 0), TR_OK);
    cr_assert_eq(tr_node_connect(node, url2, PROC_WAIT_MS, NULL, 0), TR_OK);
    snprintf(line, sizeof(line), "connect %s", url2);
    cr_assert_str_eq(cmd(&c1, line, "CONNECTED"), "0");
    cr_assert_str_eq(cmd(&c1, "pgspawn a g", "PGJOINED"), "0");
    cr_assert_str_eq(cmd(&c1, "pgspawn a2 g", "PGJOINED"), "0");
    cr_assert(events_wait_members(3, 0));
    cr_assert_str_eq(cmd(&c2, "pgcount g 3", "PGCOUNT"), "3");

    child_kill(&c1); /* SIGKILL: its connections close, nothing said */
    cr_assert(events_wait_members(3, 2), "c1's two members left: %ld", ev_long(&evs.left));
    cr_assert_eq(ev_reason(), TR_ENODEDOWN);
    tr_ref m[8];
    cr_assert_eq(members_of(sys, "g", m, 8), 1);
    cr_assert_str_eq(cmd(&c2, "pgcount g 1", "PGCOUNT"), "1", "gone from c2's view too");

    /* c1 again (a new incarnation), its member joined before it connects */
    proc_start(&c1, NULL, "c1", "tcp://127.0.0.1:0", NULL, url1, sizeof(url1));
    cr_assert_str_eq(cmd(&c1, "pgspawn a g", "PGJOINED"), "0");
    cr_assert_eq(tr_node_connect(node, url1, PROC_WAIT_MS, NULL, 0), TR_OK);
    cr_assert(events_wait_members(4, 2), "the restarted node's member, by its snapshot");
    cr_assert_eq(members_of(sys, "g", m, 8), 2);
    cr_assert_eq(on_node(node, m, 2, "c1"), 1);
    echo_round_trip(sys, m[1]);
    cr_assert_str_eq(cmd(&c1, "pgcount g 2", "PGCOUNT"), "2", "and ours, by ours");
    snprintf(line, sizeof(line), "connect %s", url2);
    cr_assert_str_eq(cmd(&c1, line, "CONNECTED"), "0");
    cr_assert_str_eq(cmd(&c2, "pgcount g 2", "PGCOUNT"), "2");
    cr_assert_str_eq(cmd(&c1, "pgcount g 2", "PGCOUNT"), "2", "c2 has none to add");

    cr_assert_eq(child_stop(&c1, PROC_WAIT_MS, NULL, NULL), 0);
    cr_assert_eq(child_stop(&c2, PROC_WAIT_MS, NULL, NULL), 0);
    tr_node_stop(node);
    tr_system_destroy(sys);
    cr_assert_eq(ev_long(&evs.joined), 4, "each join seen once");
    cr_assert(!ev_bad_size());
}

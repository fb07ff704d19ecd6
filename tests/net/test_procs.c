/* Nodes in separate OS processes over tcp on 127.0.0.1: this test process
 * runs one node, tests/net/node_proc.c the other(s). Remote send, ask and
 * monitors both ways; SIGKILL of the other process is one node-down per
 * monitor; a restarted process on the same URL is a new node that works;
 * a backpressure flood where every message is accounted for. Ports are
 * chosen by the kernel (tcp://127.0.0.1:0), so parallel runs never collide;
 * everything synchronises on messages, monitors and the child's output. */
#include <criterion/criterion.h>

#include "tests/net/procs.h"

static child c1;

Test(procs, send_ask_and_monitors_both_ways_over_tcp)
{
    latches_init();
    char url[256], purl[256];
    proc_start(&c1, NULL, "c1", "tcp://127.0.0.1:0", NULL, url, sizeof(url));
    cr_assert(strncmp(url, "tcp://127.0.0.1:", 16) == 0 && strcmp(url, "tcp://127.0.0.1:0") != 0,
              "bound url %s", url);
    tr_system *sys = make_system(2);
    tr_node *node = local_node(sys, "p", "tcp://127.0.0.1:0", 20000, purl, sizeof(purl));
    char peer[64];
    int rc = tr_node_connect(node, url, PROC_WAIT_MS, peer, sizeof(peer));
    cr_assert_eq(rc, TR_OK, "connect %s: %s", url, tr_strerror(rc));
    cr_assert_str_eq(peer, "c1");

    tr_ref echo, victim, watch;
    cr_assert_eq(tr_lookup(sys, "c1/echo", PROC_WAIT_MS, &echo), TR_OK);
    cr_assert_eq(tr_lookup(sys, "c1/victim", PROC_WAIT_MS, &victim), TR_OK);
    cr_assert_eq(tr_lookup(sys, "c1/watch", PROC_WAIT_MS, &watch), TR_OK);
    cr_assert_eq(tr_lookup(sys, "c1/nobody", PROC_WAIT_MS, &watch), TR_ENOTFOUND);
    cr_assert_eq(tr_lookup(sys, "c1/watch", PROC_WAIT_MS, &watch), TR_OK);
    cr_assert(tr_ref_is_remote(echo));

    /* ask from an outside thread, payload intact */
    char big[4096];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    void *reply = NULL;
    size_t size = 0;
    cr_assert_eq(tr_ask_wait(sys, echo, MSG_ECHO, big, sizeof(big), PROC_WAIT_MS, &reply, &size), TR_OK);
    cr_assert_eq(size, sizeof(big));
    cr_assert(memcmp(reply, big, sizeof(big)) == 0);
    free(reply);

    /* actor to remote actor and back: the remote side answers msg->sender */
    tr_ref pg;
    cr_assert_eq(tr_spawn(sys, &pinger, NULL, NULL, &pg), TR_OK);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(tr_post(sys, pg, MSG_GO, &echo, sizeof(echo), -1), TR_OK);
    cr_assert(latch_wait(&pongs, 100, PROC_WAIT_MS), "pongs: %ld", latch_get(&pongs));

    /* our watcher monitors the remote victim, which then crashes */
    tr_ref w;
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    cr_assert_eq(tr_post(sys, w, MSG_GO, &victim, sizeof(victim), -1), TR_OK);
    cr_assert(latch_wait(&watching, 1, PROC_WAIT_MS));
    cr_assert_eq(tr_post(sys, victim, MSG_CRASH, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&downs, 1, PROC_WAIT_MS));
    cr_assert(atomic_load(&down_type_ok));
    cr_assert_eq(atomic_load(&down_reason), TR_EUSER + 7);
    cr_assert_eq(atomic_load(&down_actor), victim.id);
    cr_assert_eq(atomic_load(&down_monitor), atomic_load(&watch_monitor));

    /* the remote watch actor monitors our "mortal", which we kill */
    tr_ref mortal;
    cr_assert_eq(tr_spawn(sys, &asks_watch, NULL, NULL, &mortal), TR_OK);
    cr_assert_eq(tr_post(sys, mortal, MSG_GO, &watch, sizeof(watch), -1), TR_OK);
    char rest[64];
    cr_assert(child_expect(&c1, "WATCHING", NULL, 0, PROC_WAIT_MS));
    cr_assert_eq(tr_kill(sys, mortal), TR_OK);
    cr_assert(child_expect(&c1, "DOWN", rest, sizeof(rest), PROC_WAIT_MS));
    cr_assert_eq(atoi(rest), TR_EKILLED, "remote DOWN reason %s", rest);

    tr_node_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.bad_frames, 0);
    cr_assert_eq(st.node_downs, 0);
    cr_assert_eq(st.peers_up, 1);
    int extra = -1;
    cr_assert_eq(child_stop(&c1, PROC_WAIT_MS, "DOWN", &extra), 0, "c1 exits cleanly");
    cr_assert_eq(extra, 0, "the remote monitor fired once");
    tr_node_stop(node);
    tr_system_destroy(sys);
    cr_assert_eq(latch_get(&downs), 1, "exactly one DOWN");
}

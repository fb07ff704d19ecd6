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
    LOOKUP(sys, "c1/echo", &echo);
    LOOKUP(sys, "c1/victim", &victim);
    LOOKUP(sys, "c1/watch", &watch);
    cr_assert_eq(tr_lookup(sys, "c1/nobody", PROC_WAIT_MS, &watch), TR_ENOTFOUND);
    LOOKUP(sys, "c1/watch", &watch);
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

/* SIGKILL of the other process: each monitor of its actors gets one normal
 * DOWN with TR_ENODEDOWN, sends fail (counted); a fresh process on the same
 * URL is a new node (new incarnation): old references stay dead, new ones
 * work. The heartbeat timeout is short here only (it is what is tested),
 * yet 50 heartbeat periods: a loaded machine must not end the link before
 * the deliberate kill. */
Test(procs, sigkill_is_one_node_down_per_monitor_and_a_restart_is_a_new_node)
{
    latches_init();
    char url[256], url2[256], purl[256];
    proc_start(&c1, NULL, "c1", "tcp://127.0.0.1:0", NULL, url, sizeof(url));
    tr_system *sys = make_system(2);
    tr_node *node = local_node(sys, "p", "tcp://127.0.0.1:0", 5000, purl, sizeof(purl));
    int rc = tr_node_connect(node, url, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "connect %s: %s", url, tr_strerror(rc));
    tr_ref echo, victim, w[3];
    LOOKUP(sys, "c1/echo", &echo);
    LOOKUP(sys, "c1/victim", &victim);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w[i]), TR_OK);
        tr_ref target = i == 0 ? victim : echo;
        cr_assert_eq(tr_post(sys, w[i], MSG_GO, &target, sizeof(target), -1), TR_OK);
    }
    cr_assert(latch_wait(&watching, 3, PROC_WAIT_MS));
    echo_round_trip(sys, echo); /* the MONITOR envelopes have arrived */

    child_kill(&c1);
    cr_assert(latch_wait(&downs, 3, PROC_WAIT_MS), "downs: %ld", latch_get(&downs));
    cr_assert(atomic_load(&down_type_ok));
    cr_assert_eq(atomic_load(&down_reason), TR_ENODEDOWN);
    cr_assert(!tr_node_peer_up(node, "c1"));
    tr_metrics before, after;
    tr_metrics_get(sys, &before);
    cr_assert_eq(tr_post(sys, echo, MSG_PING, NULL, 0, 0), TR_ENOTCONN);
    tr_metrics_get(sys, &after);
    cr_assert_eq(after.dead_letters, before.dead_letters + 1, "the failed send is counted");
    tr_node_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.node_downs, 1);

    /* a new process, same name, same URL */
    proc_start(&c1, NULL, "c1", url, NULL, url2, sizeof(url2));
    cr_assert_str_eq(url2, url);
    rc = tr_node_connect(node, url, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "reconnect %s: %s", url, tr_strerror(rc));
    cr_assert(tr_node_peer_up(node, "c1"));
    tr_ref echo2;
    LOOKUP(sys, "c1/echo", &echo2);
    cr_assert_neq(echo2.id, echo.id, "a new incarnation is a new node");
    echo_round_trip(sys, echo2);
    tr_ref pg;
    cr_assert_eq(tr_spawn(sys, &pinger, NULL, NULL, &pg), TR_OK);
    cr_assert_eq(tr_post(sys, pg, MSG_GO, &echo2, sizeof(echo2), -1), TR_OK);
    cr_assert(latch_wait(&pongs, 1, PROC_WAIT_MS));
    cr_assert_eq(tr_post(sys, echo, MSG_PING, NULL, 0, 0), TR_ENOTCONN, "old references stay dead");

    /* every watcher's mailbox is drained past any late duplicate */
    for (int i = 0; i < 3; i++) {
        tr_stop(sys, w[i]);
        cr_assert_eq(tr_await_exit(sys, w[i], PROC_WAIT_MS, NULL), TR_OK);
    }
    cr_assert_eq(latch_get(&downs), 3, "exactly one DOWN per monitor");
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.node_downs, 1);
    cr_assert_eq(st.bad_frames, 0);
    cr_assert_eq(child_stop(&c1, PROC_WAIT_MS, NULL, NULL), 0, "c1 exits cleanly");
    tr_node_stop(node);
    tr_system_destroy(sys);
}

/* ---- a backpressure flood ---- */

enum { FLOOD_TOTAL = 20000, FLOOD_CHUNK = 100, POSTS = 4000 };

typedef struct flooder {
    tr_ref sink;
    uint64_t seq, ok, full, other;
} flooder;

static latch flood_done;
static flooder flood_result;

/* MSG_GO(ref) sets the sink; each MSG_GO sends a chunk with tr_send (an
 * actor facing a full peer queue is muted, or gets TR_EFULL past twice the
 * bound), then re-posts MSG_GO to itself until FLOOD_TOTAL were tried. */
static int flooder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    flooder *f = state;
    if (msg->type != MSG_GO)
        return TR_OK;
    if (msg->size == sizeof(tr_ref))
        memcpy(&f->sink, msg->data, sizeof(tr_ref));
    for (int i = 0; i < FLOOD_CHUNK && f->seq < FLOOD_TOTAL; i++) {
        flood_msg m = {.source = 1, .seq = ++f->seq};
        int rc = tr_send(self, f->sink, MSG_FLOOD, &m, sizeof(m));
        rc == TR_OK ? f->ok++ : rc == TR_EFULL ? f->full++ : f->other++;
    }
    if (f->seq < FLOOD_TOTAL) {
        cr_assert_eq(tr_send(self, tr_self(self), MSG_GO, NULL, 0), TR_OK);
    } else {
        flood_result = *f;
        latch_add(&flood_done, 1);
    }
    return TR_OK;
}
static const tr_behaviour flooder_b = {.handle = flooder_handle, .state_size = sizeof(flooder)};

/* An actor and an outside thread flood a remote sink through a 64-envelope
 * peer queue under the backpressure policy, while the sink's 64-slot
 * mailbox stalls the remote receive loop. Every message is accounted for:
 * tried = delivered + refused (TR_EFULL) + dead letters on either node. */
Test(procs, backpressure_flood_accounts_for_every_message)
{
    latches_init();
    latch_init(&flood_done);
    char url[256], purl[256];
    proc_start(&c1, NULL, "c1", "tcp://127.0.0.1:0", NULL, url, sizeof(url));
    tr_system *sys = make_system(2);
    tr_node_opts o = {.name = "p", .cookie = "secret", .heartbeat_ms = 100, .down_after_ms = 20000,
                      .queue_capacity = 64, .overflow = TR_OVERFLOW_BACKPRESSURE};
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    cr_assert_eq(tr_node_listen(node, "tcp://127.0.0.1:0", purl, sizeof(purl)), TR_OK);
    int rc = tr_node_connect(node, url, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "connect %s: %s", url, tr_strerror(rc));
    tr_ref sink, f;
    LOOKUP(sys, "c1/sink", &sink);
    cr_assert_eq(tr_spawn(sys, &flooder_b, NULL, NULL, &f), TR_OK);
    cr_assert_eq(tr_post(sys, f, MSG_GO, &sink, sizeof(sink), -1), TR_OK);

    /* the outside thread: half the posts wait for room, half do not */
    uint64_t post_ok = 0, post_full = 0, post_other = 0;
    for (int i = 0; i < POSTS; i++) {
        flood_msg m = {.source = 2, .seq = (uint64_t)i + 1};
        rc = tr_post(sys, sink, MSG_FLOOD, &m, sizeof(m), i % 2 ? 0 : PROC_WAIT_MS);
        rc == TR_OK ? post_ok++ : rc == TR_EFULL ? post_full++ : post_other++;
    }
    cr_assert(latch_wait(&flood_done, 1, 4 * PROC_WAIT_MS), "the flooder finished");

    /* the count request travels behind every flood message on the stream */
    sink_report rep;
    void *reply = NULL;
    size_t size = 0;
    /* an outside ask does not wait for room in the peer queue: while the
     * flood's tail fills it, a post that waits for room (the sink ignores
     * MSG_PING) lets it drain first */
    for (int tries = 0; tries < 100; tries++) {
        rc = tr_ask_wait(sys, sink, MSG_COUNT, NULL, 0, 2 * PROC_WAIT_MS, &reply, &size);
        if (rc != TR_EFULL)
            break;
        cr_assert_eq(tr_post(sys, sink, MSG_PING, NULL, 0, PROC_WAIT_MS), TR_OK);
    }
    cr_assert_eq(rc, TR_OK, "count: %s", tr_strerror(rc));
    cr_assert_eq(size, sizeof(rep));
    memcpy(&rep, reply, sizeof(rep));
    free(reply);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    tr_node_stats st;
    tr_node_stats_get(node, &st);
    flooder fr = flood_result;
    cr_log_info("flooder ok %lu full %lu; posts ok %lu full %lu; delivered %lu + %lu; dead letters %lu + %lu; "
                "queue_full %lu",
                (unsigned long)fr.ok, (unsigned long)fr.full, (unsigned long)post_ok, (unsigned long)post_full,
                (unsigned long)rep.count[1], (unsigned long)rep.count[2], (unsigned long)m.dead_letters,
                (unsigned long)rep.dead_letters, (unsigned long)st.queue_full);
    cr_assert_eq(fr.other, 0);
    cr_assert_eq(post_other, 0);
    cr_assert_eq(fr.ok + fr.full, FLOOD_TOTAL);
    uint64_t tried = FLOOD_TOTAL + POSTS;
    uint64_t accounted = rep.count[1] + rep.count[2] + fr.full + post_full + m.dead_letters + rep.dead_letters;
    cr_assert_eq(tried, accounted, "tried %lu, accounted %lu", (unsigned long)tried, (unsigned long)accounted);
    cr_assert_eq(rep.count[0] + rep.count[3], 0);
    cr_assert_eq(rep.disorder, 0, "per-sender order kept");
    cr_assert_gt(st.queue_full, 0, "the 64-envelope queue filled: backpressure was exercised");
    cr_assert_eq(st.node_downs, 0);
    cr_assert_eq(child_stop(&c1, PROC_WAIT_MS, NULL, NULL), 0, "c1 exits cleanly");
    tr_node_stop(node);
    tr_system_destroy(sys);
}

/* Peers that come and go while a node keeps sending to them.
 *
 * chat_e2e's rare segmentation fault (issue 20) was server A crashing on a
 * heartbeat: tick_cb -> tr_stream_hello -> nng_sendmsg -> push0 send ->
 * nni_list_remove of a freed pipe (core dump, default build, load ~15).
 * NNG 1.5.2's push0 re-adds a pipe to its ready list when a send completes
 * after the pipe closed (push0_send_cb -> push0_pipe_ready after
 * push0_pipe_close), the pipe is freed, and the next send on that socket
 * takes it off the list. In e2e the peers that vanish are the short-lived
 * clients of the "clear errors" phase and the killed server B.
 *
 * This program is that reproduction: one node keeps heartbeating (5 ms) and
 * sending to peers that connect and disappear, many times over; the node
 * must stay up, see every peer that went go down, and stop cleanly. On
 * net/ as of issue 20 (NNG push/pull sockets) it crashed about one run in
 * six (150 peers, core: tick_cb -> tr_stream_hello -> nng_sendmsg ->
 * push0 send -> freed pipe). Version 2 (issue 13: nng_stream, no push0)
 * runs it as the ctest net_churn; it also checks that dial records are
 * reused (the hub dials 150 distinct URLs, TR_NODE_MAX_DIALS is 64).
 *   usage: troupe_churn [rounds]     exit 0 = survived, 1 = a check failed */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "troupe/troupe.h"

#define WAIT_MS 10000
#define BATCH 30

enum { MSG_PING = TR_MSG_USER };

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "churn: FAIL: " __VA_ARGS__);                                         \
            fprintf(stderr, "\n");                                                                \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

static atomic_long pings;
static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_PING)
        atomic_fetch_add(&pings, 1);
    return TR_OK;
}
static const tr_behaviour sink_beh = {.handle = sink_handle};

/* Until the hub has seen n peers go down (a counter polled with a deadline:
 * the silence it waits for is the thing measured, no message marks it). */
static void wait_downs(tr_node *hub, uint64_t n)
{
    tr_node_stats st;
    for (int tries = 0; tries < 3000; tries++) {
        tr_node_stats_get(hub, &st);
        if (st.node_downs >= n)
            break;
        usleep(10000);
    }
    CHECK(st.node_downs == n, "%llu of %llu vanished peers seen down", (unsigned long long)st.node_downs,
          (unsigned long long)n);
}

static tr_system *system_of(uint32_t workers)
{
    tr_system *sys = NULL;
    tr_config cfg = {.workers = workers};
    CHECK(tr_system_create(&cfg, &sys) == TR_OK, "system create");
    return sys;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 150;
    tr_system *hub_sys = system_of(2);
    tr_node_opts ho = {.name = "hub", .cookie = "secret", .heartbeat_ms = 5, .down_after_ms = 200};
    tr_node *hub;
    CHECK(tr_node_start(hub_sys, &ho, &hub) == TR_OK, "hub start");
    char hub_url[128];
    CHECK(tr_node_listen(hub, "tcp://127.0.0.1:0", hub_url, sizeof(hub_url)) == TR_OK, "hub listen");

    long sent = 0;
    for (int round = 0; round < rounds; round++) {
        tr_system *sys = system_of(1);
        char name[32];
        snprintf(name, sizeof(name), "leaf%d", round);
        tr_node_opts lo = {.name = name, .cookie = "secret", .heartbeat_ms = 5, .down_after_ms = 200};
        tr_node *leaf;
        CHECK(tr_node_start(sys, &lo, &leaf) == TR_OK, "round %d: leaf start", round);
        char url[128];
        CHECK(tr_node_listen(leaf, "tcp://127.0.0.1:0", url, sizeof(url)) == TR_OK, "round %d: listen", round);
        tr_ref sink;
        CHECK(tr_spawn(sys, &sink_beh, NULL, NULL, &sink) == TR_OK, "round %d: spawn", round);
        CHECK(tr_register(sys, "sink", sink) == TR_OK, "round %d: register", round);
        int rc = tr_node_connect(hub, url, WAIT_MS, NULL, 0);
        CHECK(rc == TR_OK, "round %d: connect: %s", round, tr_strerror(rc));

        /* the hub sends to the leaf, then the leaf vanishes mid-traffic */
        char path[64];
        snprintf(path, sizeof(path), "%s/sink", name);
        tr_ref remote;
        rc = tr_lookup(hub_sys, path, WAIT_MS, &remote);
        CHECK(rc == TR_OK, "round %d: lookup: %s", round, tr_strerror(rc));
        for (int i = 0; i < 20; i++)
            if (tr_post(hub_sys, remote, MSG_PING, NULL, 0, 0) == TR_OK)
                sent++;
        tr_node_stop(leaf);
        tr_system_destroy(sys);
        /* every BATCH leaves, until those gone are seen down (200 ms of
         * silence each): the hub never knows more than BATCH peers at once */
        if ((round + 1) % BATCH == 0 || round + 1 == rounds)
            wait_downs(hub, (uint64_t)round + 1);
    }
    CHECK(atomic_load(&pings) <= sent, "%ld pings handled, %ld sent", atomic_load(&pings), sent);
    tr_node_stop(hub);
    tr_system_destroy(hub_sys);
    printf("churn: %d peers came and went; the hub survived (%ld of %ld pings handled)\n", rounds,
           atomic_load(&pings), sent);
    return 0;
}

/* Two nodes in two processes: node b runs a registered echo server; node a
 * calls it 1000 times, monitors it, kills b's process with SIGKILL and gets
 * the DOWN with reason TR_ENODEDOWN. Erlang version: docs/erlang/nodes.erl.
 * Shows a node from the command line (tr_node_start_args: --node, --cookie,
 * --listen, --connect), a lookup that waits for the node and the name
 * (tr_lookup_wait), remote calls from main (tr_call), a remote monitor
 * received by main's inbox. Run (examples/nodes/run.sh does it and checks):
 *     nodes --node b --cookie c --listen ipc:///tmp/b &
 *     nodes --node a --cookie c --connect ipc:///tmp/b $! */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "nodes: failed: %s\n", #c); exit(1); } } while (0)

enum { ECHO = TR_MSG_USER };

TR_HANDLER(echo, void, int64_t) { return tr_reply_value(self, msg, *value); }
static const tr_route routes[] = {TR_ON(ECHO, echo)};
static const tr_behaviour echo_beh = {TR_ROUTES(routes), .name = "echo"};

int main(int argc, char **argv) {
    tr_system *sys;
    tr_ref echo;
    CHECK(tr_system_create(NULL, &sys) == TR_OK && tr_node_start_args(sys, &argc, argv, NULL) == TR_OK);
    if (argc == 1) { /* node b: a registered echo server, until it is killed */
        CHECK(tr_spawn(sys, &echo_beh, NULL, NULL, &echo) == TR_OK && tr_register(sys, "echo", echo) == TR_OK);
        return tr_await_exit(sys, echo, -1, NULL);
    }
    tr_inbox *in; /* node a, argv[1] is b's process id; main receives through an inbox */
    CHECK(tr_inbox_create(sys, 0, &in) == TR_OK && tr_lookup_wait(sys, "b/echo", 30000, &echo) == TR_OK);
    for (int64_t i = 1, r; i <= 1000; i++)
        CHECK(tr_call(sys, echo, ECHO, &i, sizeof(i), &r, sizeof(r), 5000) == TR_OK && r == i);
    CHECK(tr_monitor(sys, tr_inbox_ref(in), echo, NULL) == TR_OK && kill(atoi(argv[1]), SIGKILL) == 0);
    tr_down down;
    CHECK(tr_inbox_receive_value(in, TR_MSG_DOWN, 30000, &down) == TR_OK && down.reason == TR_ENODEDOWN);
    printf("down: %s\n", tr_strerror(down.reason));
    tr_system_destroy(sys); /* stops the node, destroys the inbox */
    return 0;
}

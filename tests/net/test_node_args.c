/* A node from the command line and the environment (tr_node_start_args),
 * a lookup that waits for its node and name (tr_lookup_wait), and a system
 * that stops the node it still runs when it is destroyed. In-process nodes
 * over inproc. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 30000

enum { MSG_ECHO = TR_MSG_USER };

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    return tr_reply(self, msg, msg->data, msg->size);
}
static const tr_behaviour echo = {.handle = echo_handle, .name = "echo"};

static int argc_of(char **argv)
{
    int n = 0;
    while (argv[n] != NULL)
        n++;
    return n;
}

Test(node_args, takes_its_options_and_leaves_the_programs_arguments_in_order)
{
    tr_system *sys = make_system(2);
    char *argv[] = {"prog", "keep1", "--node", "na1", "--cookie=c", "-x", "--listen", "inproc://node-args-1",
                    "--nodes", "--heartbeat-ms=50", "--", "--node", "z", NULL};
    int argc = argc_of(argv);
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start_args(sys, &argc, argv, &node), TR_OK);
    cr_assert_str_eq(tr_node_name(node), "na1");
    char *want[] = {"prog", "keep1", "-x", "--nodes", "--node", "z"};
    cr_assert_eq(argc, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq(argv[i], want[i], "argv[%d]", i);
    cr_assert_null(argv[6]);
    /* the node listens where it was told: a second one can connect to it */
    tr_system *other = make_system(2);
    tr_node_opts o = {.name = "na1-peer", .cookie = "c"};
    tr_node *peer;
    cr_assert_eq(tr_node_start(other, &o, &peer), TR_OK);
    cr_assert_eq(tr_node_connect(peer, "inproc://node-args-1", WAIT_MS, NULL, 0), TR_OK);
    /* neither node is stopped by hand: tr_system_destroy stops it */
    tr_system_destroy(other);
    tr_system_destroy(sys);
}

Test(node_args, reads_the_environment_for_what_argv_does_not_say)
{
    setenv("TROUPE_NODE", "from-env", 1);
    setenv("TROUPE_LISTEN", "inproc://node-args-env", 1);
    tr_system *sys = make_system(2);
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start_args(sys, NULL, NULL, &node), TR_OK);
    cr_assert_str_eq(tr_node_name(node), "from-env");
    tr_node_stop(node);

    char *argv[] = {"prog", "--node=from-argv", NULL};
    int argc = 2;
    cr_assert_eq(tr_node_start_args(sys, &argc, argv, &node), TR_OK, "argv wins, the environment fills in");
    cr_assert_str_eq(tr_node_name(node), "from-argv");
    cr_assert_eq(argc, 1);
    tr_system *other = make_system(2);
    tr_node_opts o = {.name = "env-peer"};
    tr_node *peer;
    cr_assert_eq(tr_node_start(other, &o, &peer), TR_OK);
    char name[64];
    cr_assert_eq(tr_node_connect(peer, "inproc://node-args-env", WAIT_MS, name, sizeof(name)), TR_OK);
    cr_assert_str_eq(name, "from-argv", "TROUPE_LISTEN was used");
    tr_system_destroy(other);
    tr_system_destroy(sys);
    unsetenv("TROUPE_NODE");
    unsetenv("TROUPE_LISTEN");
}

/* Each bad command line is TR_EINVAL (or the node's own error), leaves
 * argv as it was and leaves no node behind: a good start works after it. */
Test(node_args, refuses_bad_options_clearly_and_leaves_no_node)
{
    tr_system *sys = make_system(2);
    char *urls[24] = {"prog", "--node", "many"};
    for (int i = 0; i < 9; i++) {
        urls[3 + 2 * i] = "--listen";
        urls[4 + 2 * i] = "inproc://node-args-many";
    }
    struct {
        char *argv[8];
        int rc;
    } cases[] = {
        {{"prog", "keep", NULL}, TR_EINVAL},                                /* no name */
        {{"prog", "--node", NULL}, TR_EINVAL},                              /* no value */
        {{"prog", "--node", "n", "--heartbeat-ms=abc", NULL}, TR_EINVAL},   /* not a number */
        {{"prog", "--node", "n", "--down-after-ms", "-5", NULL}, TR_EINVAL},
        {{"prog", "--node", "bad/name", NULL}, TR_EINVAL},                  /* tr_node_start's */
        {{"prog", "--node", "n", "--listen", "bogus://x", NULL}, TR_EADDR}, /* tr_node_listen's */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int argc = argc_of(cases[c].argv);
        char *before[8];
        memcpy(before, cases[c].argv, sizeof(before));
        tr_node *node = NULL;
        cr_assert_eq(tr_node_start_args(sys, &argc, cases[c].argv, &node), cases[c].rc, "case %zu", c);
        cr_assert_eq(argc, argc_of(before), "case %zu: argc unchanged", c);
        cr_assert(memcmp(before, cases[c].argv, sizeof(before)) == 0, "case %zu: argv unchanged", c);
        cr_assert_null(node);
    }
    int argc = 21;
    cr_assert_eq(tr_node_start_args(sys, &argc, urls, NULL), TR_EINVAL, "9 --listen");
    char *good[] = {"prog", "--node", "good", NULL}, *again[] = {"prog", "--node", "again", NULL};
    argc = 3;
    tr_node *node;
    cr_assert_eq(tr_node_start_args(sys, &argc, good, &node), TR_OK, "no node was left running");
    argc = 3;
    cr_assert_eq(tr_node_start_args(sys, &argc, again, NULL), TR_EINVAL, "one node per system");
    tr_system_destroy(sys);
}

/* ---- --connect in the background, and tr_lookup_wait ---- */

static void *start_server(void *arg)
{
    (void)arg;
    tr_system *sys = make_system(2);
    char *argv[] = {"server", "--node", "nb", "--cookie", "s", "--listen", "inproc://node-args-late", NULL};
    int argc = 7;
    cr_assert_eq(tr_node_start_args(sys, &argc, argv, NULL), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(sys, "svc", e), TR_OK);
    return sys;
}

Test(node_args, connect_dials_in_the_background_and_lookup_wait_waits_for_node_and_name)
{
    tr_system *sys = make_system(2);
    char *argv[] = {"client", "--node", "na", "--cookie", "s", "--connect", "inproc://node-args-late", NULL};
    int argc = 7;
    cr_assert_eq(tr_node_start_args(sys, &argc, argv, NULL), TR_OK, "nobody listens yet: not an error");
    tr_ref svc;
    cr_assert_eq(tr_lookup(sys, "nb/svc", WAIT_MS, &svc), TR_ENOTCONN, "the server is not up yet");
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, start_server, NULL), 0);
    /* the node comes up, then the name is registered: both waited for */
    cr_assert_eq(tr_lookup_wait(sys, "nb/svc", WAIT_MS, &svc), TR_OK);
    cr_assert(tr_ref_is_remote(svc));
    int64_t v = 42, r = 0;
    cr_assert_eq(tr_call(sys, svc, MSG_ECHO, &v, sizeof(v), &r, sizeof(r), WAIT_MS), TR_OK);
    cr_assert_eq(r, 42);
    void *server;
    cr_assert_eq(pthread_join(t, &server), 0);

    /* what never comes: the last answer once the time is up (a remote
     * answer needs a round trip: 2 s is plenty even under TSan, and a
     * timeout before any answer would show as TR_ETIMEDOUT) */
    cr_assert_eq(tr_lookup_wait(sys, "nb/nobody", 2000, &svc), TR_ENOTFOUND);
    cr_assert_eq(tr_lookup_wait(sys, "zz/svc", 50, &svc), TR_ENOTCONN);
    cr_assert_eq(tr_lookup_wait(sys, "nolocal", 0, &svc), TR_ENOTFOUND);
    cr_assert_eq(tr_lookup_wait(sys, "", 50, &svc), TR_EINVAL);

    /* destroying the server's system stops its node: our monitor of svc
     * fires with TR_ENODEDOWN */
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    cr_assert_eq(tr_monitor(sys, tr_inbox_ref(in), svc, NULL), TR_OK);
    cr_assert_eq(tr_call(sys, svc, MSG_ECHO, &v, sizeof(v), &r, sizeof(r), WAIT_MS), TR_OK,
                 "the MONITOR envelope is there before the node goes");
    tr_system_destroy(server);
    tr_down d;
    cr_assert_eq(tr_inbox_receive_value(in, TR_MSG_DOWN, WAIT_MS, &d), TR_OK);
    cr_assert_eq(d.reason, TR_ENODEDOWN, "reason %s", tr_strerror(d.reason));
    tr_system_destroy(sys); /* and the inbox with it */
}

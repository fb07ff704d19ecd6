/* Links: abnormal exits propagate both ways with the same reason, trapping
 * actors get TR_MSG_EXIT instead (normal exits too), unlink cuts the link,
 * linking to the dead signals at once, and every signal arrives exactly once.
 *
 * "Nothing happened" is checked without sleeping: a partner's exit signal is
 * queued before the ending actor's DOWN goes out, and an actor acts on
 * pending signals before its next message, so once a watcher has the DOWN
 * an ask to the partner answers only if the signal did not kill it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_FAIL = TR_MSG_USER, MSG_QUIT, MSG_COUNTS };

#define MAX_EXITS 4096
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static tr_exit_signal exits[MAX_EXITS];
static int nexits;
static latch exit_latch, down_latch;

static void reset(void)
{
    pthread_mutex_lock(&log_lock);
    nexits = 0;
    pthread_mutex_unlock(&log_lock);
    latch_init(&exit_latch);
    latch_init(&down_latch);
}

typedef struct node {
    long exits, downs;
} node;

static int node_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    if (arg != NULL)
        tr_trap_exits(self, true);
    return TR_OK;
}

static int node_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    node *n = state;
    switch (msg->type) {
    case MSG_FAIL: return *(const int *)msg->data;
    case MSG_QUIT: tr_stop_self(self); return TR_OK;
    case MSG_COUNTS: {
        long c[2] = {n->exits, n->downs};
        return tr_reply(self, msg, c, sizeof(c));
    }
    case TR_MSG_EXIT: {
        cr_assert_eq(msg->size, sizeof(tr_exit_signal));
        const tr_exit_signal *x = msg->data;
        cr_assert_eq(x->from.id, msg->sender.id);
        n->exits++;
        pthread_mutex_lock(&log_lock);
        if (nexits < MAX_EXITS)
            exits[nexits++] = *x;
        pthread_mutex_unlock(&log_lock);
        latch_add(&exit_latch, 1);
        return TR_OK;
    }
    case TR_MSG_DOWN:
        n->downs++;
        latch_add(&down_latch, 1);
        return TR_OK;
    default: return TR_OK;
    }
}

static const tr_behaviour node_beh = {.init = node_init, .handle = node_handle, .state_size = sizeof(node)};
static int trap_on = 1;

static tr_ref spawn_node(tr_system *sys, bool trap)
{
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &node_beh, trap ? &trap_on : NULL, NULL, &r), TR_OK);
    return r;
}

static void fail(tr_system *sys, tr_ref r, int reason)
{
    cr_assert_eq(tr_post(sys, r, MSG_FAIL, &reason, sizeof(reason), -1), TR_OK);
}

static int exit_reason(tr_system *sys, tr_ref r)
{
    int reason = -1;
    cr_assert_eq(tr_await_exit(sys, r, 10000, &reason), TR_OK);
    return reason;
}

/* True when `r` answers an ask (it is alive and handling messages). */
static bool answers(tr_system *sys, tr_ref r, long counts[2])
{
    void *reply = NULL;
    size_t n = 0;
    if (tr_ask_wait(sys, r, MSG_COUNTS, NULL, 0, 2000, &reply, &n) != TR_OK)
        return false;
    cr_assert_eq(n, 2 * sizeof(long));
    if (counts != NULL)
        memcpy(counts, reply, n);
    free(reply);
    return true;
}

/* Watches `r` (before it ends: a monitor taken after the end fires at once,
 * without waiting for the link signals). */
static long watch(tr_system *sys, tr_ref watcher, tr_ref r)
{
    long before = latch_get(&down_latch);
    cr_assert_eq(tr_monitor(sys, watcher, r, NULL), TR_OK);
    return before + 1;
}

/* Waits for that DOWN: every exit signal `r` sent is queued by then. */
static void await_down(long target) { cr_assert(latch_wait(&down_latch, target, 10000)); }

Test(links, abnormal_exit_ends_the_partner_with_the_same_reason)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref a = spawn_node(sys, false), b = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, a, b), TR_OK);
    fail(sys, a, TR_EUSER + 3);
    cr_assert_eq(exit_reason(sys, a), TR_EUSER + 3);
    cr_assert_eq(exit_reason(sys, b), TR_EUSER + 3);
    /* and the other way round */
    tr_ref c = spawn_node(sys, false), d = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, c, d), TR_OK);
    fail(sys, d, TR_EUSER + 4);
    cr_assert_eq(exit_reason(sys, c), TR_EUSER + 4);
    tr_system_destroy(sys);
}

Test(links, a_chain_fails_as_one)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref r[6];
    for (int i = 0; i < 6; i++) {
        r[i] = spawn_node(sys, false);
        if (i > 0)
            cr_assert_eq(tr_link(sys, r[i - 1], r[i]), TR_OK);
    }
    fail(sys, r[3], TR_EUSER + 8);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(exit_reason(sys, r[i]), TR_EUSER + 8, "actor %d", i);
    tr_system_destroy(sys);
}

Test(links, killed_stays_killed_and_shutdown_propagates)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref a = spawn_node(sys, false), b = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, a, b), TR_OK);
    cr_assert_eq(tr_kill(sys, a), TR_OK);
    cr_assert_eq(exit_reason(sys, b), TR_EKILLED);
    tr_ref c = spawn_node(sys, false), d = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, c, d), TR_OK);
    cr_assert_eq(tr_stop(sys, c), TR_OK);
    cr_assert_eq(exit_reason(sys, d), TR_ESHUTDOWN, "shutdown is abnormal, as in Erlang");
    tr_system_destroy(sys);
}

Test(links, a_trapping_partner_gets_exit_messages_for_normal_and_abnormal_exits)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref t = spawn_node(sys, true);
    tr_ref a = spawn_node(sys, false), b = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, t, a), TR_OK);
    cr_assert_eq(tr_link(sys, b, t), TR_OK);
    cr_assert_eq(tr_link(sys, b, t), TR_OK); /* idempotent */
    cr_assert_eq(tr_post(sys, a, MSG_QUIT, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&exit_latch, 1, 10000));
    fail(sys, b, TR_EUSER + 5);
    cr_assert(latch_wait(&exit_latch, 2, 10000));
    pthread_mutex_lock(&log_lock);
    cr_assert_eq(nexits, 2);
    cr_assert_eq(exits[0].from.id, a.id);
    cr_assert_eq(exits[0].reason, TR_OK);
    cr_assert_eq(exits[1].from.id, b.id);
    cr_assert_eq(exits[1].reason, TR_EUSER + 5);
    pthread_mutex_unlock(&log_lock);
    long counts[2];
    cr_assert(answers(sys, t, counts), "the trapping actor lives on");
    cr_assert(answers(sys, t, counts));
    cr_assert_eq(counts[0], 2, "one signal per link, linking twice is one link");
    tr_system_destroy(sys);
}

Test(links, a_normal_exit_leaves_a_non_trapping_partner_alone)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref w = spawn_node(sys, false); /* watcher */
    tr_ref a = spawn_node(sys, false), b = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, a, b), TR_OK);
    long down = watch(sys, w, a);
    cr_assert_eq(tr_post(sys, a, MSG_QUIT, NULL, 0, -1), TR_OK);
    await_down(down);
    cr_assert(answers(sys, b, NULL));
    cr_assert_eq(tr_unlink(sys, a, b), TR_ENOTFOUND, "the link ended with a");
    tr_system_destroy(sys);
}

Test(links, unlink_cuts_the_link_both_ways)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref w = spawn_node(sys, false);
    tr_ref a = spawn_node(sys, false), b = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, a, b), TR_OK);
    cr_assert_eq(tr_unlink(sys, b, a), TR_OK);
    cr_assert_eq(tr_unlink(sys, a, b), TR_ENOTFOUND);
    long down = watch(sys, w, a);
    fail(sys, a, TR_EUSER + 1);
    await_down(down);
    cr_assert(answers(sys, b, NULL), "b was unlinked before a failed");
    cr_assert_eq(tr_link(sys, a, a), TR_EINVAL);
    cr_assert_eq(tr_link(sys, a, TR_REF_NONE), TR_EINVAL);
    tr_system_destroy(sys);
}

Test(links, linking_to_the_dead_signals_at_once_with_the_remembered_reason)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref dead = spawn_node(sys, false), quit = spawn_node(sys, false);
    fail(sys, dead, TR_EUSER + 7);
    cr_assert_eq(exit_reason(sys, dead), TR_EUSER + 7);
    cr_assert_eq(tr_post(sys, quit, MSG_QUIT, NULL, 0, -1), TR_OK);
    cr_assert_eq(exit_reason(sys, quit), TR_OK);

    tr_ref t = spawn_node(sys, true);
    cr_assert_eq(tr_link(sys, dead, t), TR_OK);
    cr_assert(latch_wait(&exit_latch, 1, 10000));
    pthread_mutex_lock(&log_lock);
    cr_assert_eq(exits[0].from.id, dead.id);
    cr_assert_eq(exits[0].reason, TR_EUSER + 7);
    pthread_mutex_unlock(&log_lock);

    tr_ref b = spawn_node(sys, false);
    cr_assert_eq(tr_link(sys, b, quit), TR_OK); /* the signal is queued on return */
    cr_assert(answers(sys, b, NULL), "a normal exit does not kill");
    cr_assert_eq(tr_link(sys, b, dead), TR_OK);
    cr_assert_eq(exit_reason(sys, b), TR_EUSER + 7);
    cr_assert_eq(tr_link(sys, dead, quit), TR_EDEAD, "both ended");
    tr_system_destroy(sys);
}

/* Actors fail while the trapping actor links to them: each one's signal
 * arrives exactly once, whether the link saw it alive, ending or dead. */
Test(links, every_exit_signal_arrives_exactly_once_under_races)
{
    reset();
    enum { N = 600 };
    tr_system *sys = make_system(2);
    tr_ref t = spawn_node(sys, true);
    static tr_ref xs[N];
    for (int i = 0; i < N; i++) {
        xs[i] = spawn_node(sys, false);
        /* watched first, so its DOWN follows its link signal */
        cr_assert_eq(tr_monitor(sys, t, xs[i], NULL), TR_OK);
        if (i % 3 != 0)
            fail(sys, xs[i], TR_EUSER + 2); /* races with the link below */
        cr_assert_eq(tr_link(sys, t, xs[i]), TR_OK);
        if (i % 3 == 0) /* the same link again, before it fails: still one link */
            cr_assert_eq(tr_link(sys, xs[i], t), TR_OK);
        if (i % 3 == 0)
            fail(sys, xs[i], TR_EUSER + 2);
    }
    cr_assert(latch_wait(&down_latch, N, 20000), "every DOWN: every signal is queued");
    long counts[2];
    cr_assert(answers(sys, t, counts)); /* t has taken every pending signal */
    cr_assert(answers(sys, t, counts)); /* ... and handled the EXITs they became */
    cr_assert_eq(counts[0], N, "%ld exit signals", counts[0]);
    cr_assert_eq(counts[1], N, "%ld DOWNs", counts[1]);
    pthread_mutex_lock(&log_lock);
    static bool seen[N];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < nexits; i++) {
        cr_assert_eq(exits[i].reason, TR_EUSER + 2);
        int j;
        for (j = 0; j < N && xs[j].id != exits[i].from.id; j++)
            ;
        cr_assert_lt(j, N);
        cr_assert_not(seen[j], "actor %d signalled twice", j);
        seen[j] = true;
    }
    pthread_mutex_unlock(&log_lock);
    tr_system_destroy(sys);
}

/* Failures at scale: thousands of crashes under a supervisor leave no actor
 * or memory behind; every accepted message is either handled or reported as
 * a dead letter; tr_fail; cancelling deep and wide trees. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_FAIL = TR_MSG_USER, MSG_JOB, MSG_ACK };

static latch starts;

static int crashy_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    latch_add(&starts, 1);
    return TR_OK;
}

/* ---- a ledger counts acknowledgements ---- */
static atomic_long acked;
static int ledger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_ACK)
        atomic_fetch_add(&acked, 1);
    return TR_OK;
}
static const tr_behaviour ledger = {.handle = ledger_handle};
static tr_ref ledger_ref;

static int crashy_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_FAIL) {
        tr_fail(self, TR_EUSER + 4);
        return TR_OK;
    }
    if (msg->type == MSG_JOB) {
        long seq = *(const long *)msg->data;
        int rc = tr_send(self, ledger_ref, MSG_ACK, &seq, sizeof(seq));
        if (rc != TR_OK)
            return rc;
        if (seq % 97 == 0)
            return TR_EUSER + 5; /* crash right after acknowledging */
    }
    return TR_OK;
}
static const tr_behaviour crashy = {.init = crashy_init, .handle = crashy_handle};

static tr_ref start_sup(tr_system *sys, uint32_t capacity)
{
    tr_child_spec spec = {.id = "w", .beh = &crashy, .restart = TR_PERMANENT,
                          .opts = {.mailbox_capacity = capacity}};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 100000, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    return sup;
}

Test(crashes, thousands_of_crashes_leave_nothing_behind)
{
    latch_init(&starts);
    tr_system *sys = make_system(2);
    tr_ref sup = start_sup(sys, 0);
    cr_assert(latch_wait(&starts, 1, 10000));
    tr_ref first = TR_REF_NONE;
    for (int i = 0; i < 2000; i++) {
        tr_ref w;
        cr_assert_eq(tr_supervisor_child(sys, sup, "w", 10000, &w), TR_OK);
        if (i == 0)
            first = w;
        cr_assert_eq(tr_post(sys, w, MSG_FAIL, NULL, 0, -1), TR_OK);
        cr_assert(latch_wait(&starts, 2 + i, 10000), "restart %d did not happen", i);
        int reason;
        cr_assert_eq(tr_await_exit(sys, w, 10000, &reason), TR_OK);
        cr_assert_eq(reason, TR_EUSER + 4, "tr_fail sets the exit reason");
    }
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_alive, 2, "the supervisor and its one child");
    cr_assert_eq(tr_actor_state_of(sys, first), TR_STATE_DEAD);
    cr_assert_eq(tr_stop(sys, sup), TR_OK);
    cr_assert_eq(tr_await_exit(sys, sup, 10000, NULL), TR_OK);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_alive, 0);
    tr_system_destroy(sys); /* ASan / valgrind: nothing leaked */
}

Test(crashes, every_accepted_message_is_handled_or_a_dead_letter)
{
    latch_init(&starts);
    atomic_store(&acked, 0);
    tr_system *sys = make_system(2);
    cr_assert_eq(tr_spawn(sys, &ledger, NULL, NULL, &ledger_ref), TR_OK);
    tr_ref sup = start_sup(sys, 64);
    cr_assert(latch_wait(&starts, 1, 10000));
    tr_metrics before;
    tr_metrics_get(sys, &before);
    long accepted = 0, refused = 0;
    tr_ref w = TR_REF_NONE;
    for (long seq = 1; seq <= 5000; seq++) {
        int rc;
        /* a crashed worker refuses (TR_EDEAD / TR_ESTOPPING): look it up again */
        while ((rc = tr_post(sys, w, MSG_JOB, &seq, sizeof(seq), -1)) != TR_OK) {
            cr_assert(rc == TR_EDEAD || rc == TR_ESTOPPING, "post: %s", tr_strerror(rc));
            refused++;
            while (tr_supervisor_child(sys, sup, "w", 10000, &w) != TR_OK)
                ; /* between crash and restart there is no worker */
        }
        accepted++;
    }
    /* drain: stop everything, then count */
    cr_assert_eq(tr_stop(sys, sup), TR_OK);
    cr_assert_eq(tr_await_exit(sys, sup, 30000, NULL), TR_OK);
    cr_assert_eq(tr_stop(sys, ledger_ref), TR_OK);
    cr_assert_eq(tr_await_exit(sys, ledger_ref, 30000, NULL), TR_OK);
    tr_metrics after;
    tr_metrics_get(sys, &after);
    uint64_t lost = after.dead_letters - before.dead_letters - (uint64_t)refused;
    if ((uint64_t)atomic_load(&acked) + lost != (uint64_t)accepted) {
        tr_dead_letter log[TR_DEAD_LETTER_LOG];
        size_t n = tr_dead_letters_recent(sys, log, TR_DEAD_LETTER_LOG);
        for (size_t i = n > 10 ? n - 10 : 0; i < n; i++)
            fprintf(stderr, "dead letter type %u reason %s to %llx\n", log[i].type, tr_strerror(log[i].reason), (unsigned long long)log[i].to.id);
    }
    cr_assert_eq((uint64_t)atomic_load(&acked) + lost, (uint64_t)accepted,
                 "acked %ld + dead letters %llu != accepted %ld", atomic_load(&acked),
                 (unsigned long long)lost, accepted);
    cr_assert_gt(latch_get(&starts), 10, "the worker crashed and restarted");
    tr_system_destroy(sys);
}

/* ---- cancelling trees: every terminate runs once, children before parents ---- */

typedef struct tree_node {
    long parent; /* index of the parent node, -1 for the root */
    long seq;    /* order of its terminate, -1 until it ran */
    int terminations;
} tree_node;
static tree_node *nodes;
static atomic_long nnodes, term_seq;

typedef struct tree_state {
    long index;
} tree_state;

/* arg packs parent index (+1) << 16 | depth << 8 | width */
static const tr_behaviour tree;

static int tree_init(tr_ctx *self, void *state, void *arg)
{
    tree_state *st = state;
    uintptr_t packed = (uintptr_t)arg;
    unsigned depth = (unsigned)((packed >> 8) & 0xff), width = (unsigned)(packed & 0xff);
    st->index = atomic_fetch_add(&nnodes, 1);
    nodes[st->index].parent = (long)(packed >> 16) - 1;
    for (unsigned i = 0; depth > 0 && i < width; i++) {
        tr_spawn_opts o = {.parent = tr_self(self)};
        uintptr_t child = ((uintptr_t)(st->index + 1) << 16) | ((depth - 1) << 8) | width;
        int rc = tr_spawn(tr_ctx_system(self), &tree, (void *)child, &o, NULL);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int tree_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static void tree_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)reason;
    tree_state *st = state;
    nodes[st->index].seq = atomic_fetch_add(&term_seq, 1);
    nodes[st->index].terminations++;
}

static const tr_behaviour tree = {.init = tree_init, .handle = tree_handle, .terminate = tree_terminate,
                                  .state_size = sizeof(tree_state)};

static void cancel_tree(unsigned depth, unsigned width, long expected)
{
    nodes = calloc((size_t)expected, sizeof(*nodes));
    cr_assert_not_null(nodes);
    atomic_store(&nnodes, 0);
    atomic_store(&term_seq, 0);
    tr_system *sys = make_system(2);
    tr_ref root;
    /* a long drain deadline: under TSan on a loaded 2-core machine stopping
     * 100k actors can take longer than the default 5 s, and the deadline
     * kill would then turn the graceful stop asserted below into TR_EKILLED */
    tr_spawn_opts ro = {.drain_timeout_ms = 60000};
    cr_assert_eq(tr_spawn(sys, &tree, (void *)(uintptr_t)((depth << 8) | width), &ro, &root), TR_OK);
    /* wait until the whole tree exists: spawned counts every node */
    tr_metrics m;
    do {
        tr_metrics_get(sys, &m);
        sched_yield();
    } while (m.actors_alive < (uint64_t)expected);
    cr_assert_eq(tr_stop(sys, root), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, root, 60000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ESHUTDOWN);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_alive, 0);
    cr_assert_eq(atomic_load(&nnodes), expected);
    for (long i = 0; i < expected; i++) {
        cr_assert_eq(nodes[i].terminations, 1, "node %ld terminated %d times", i, nodes[i].terminations);
        if (nodes[i].parent >= 0)
            cr_assert_gt(nodes[nodes[i].parent].seq, nodes[i].seq, "parent of %ld ended first", i);
    }
    tr_system_destroy(sys);
    free(nodes);
}

Test(crashes, cancel_tree_depth_3_width_10) { cancel_tree(3, 10, 1 + 10 + 100 + 1000); }

Test(crashes, cancel_tree_with_100k_leaves) { cancel_tree(5, 10, 1 + 10 + 100 + 1000 + 10000 + 100000); }

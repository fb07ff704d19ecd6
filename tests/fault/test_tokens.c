/* Cancellation token trees: cancelling a token stops exactly the actors bound
 * to it and below it, each once, gracefully, with TR_ECANCELLED. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_WORK = TR_MSG_USER, MSG_PING };

/* 1 root + 10 + 100 + 1000: depth 3 below the root, width 10 */
#define WIDTH 10
#define NODES (1 + WIDTH + WIDTH * WIDTH + WIDTH * WIDTH * WIDTH)

static _Atomic int ends[NODES];
static _Atomic int reasons[NODES];
static _Atomic int handled[NODES];
static _Atomic long cancelled_msgs;
static latch end_latch, cancel_latch;

static void reset(void)
{
    for (int i = 0; i < NODES; i++) {
        atomic_store(&ends[i], 0);
        atomic_store(&reasons[i], -1);
        atomic_store(&handled[i], 0);
    }
    atomic_store(&cancelled_msgs, 0);
    latch_init(&end_latch);
    latch_init(&cancel_latch);
}

typedef struct leaf {
    intptr_t index;
} leaf;

static int leaf_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    ((leaf *)state)->index = (intptr_t)arg;
    return TR_OK;
}

static int leaf_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    leaf *l = state;
    if (msg->type == MSG_WORK)
        atomic_fetch_add(&handled[l->index], 1);
    if (msg->type == MSG_PING)
        return tr_reply(self, msg, NULL, 0);
    if (msg->type == TR_MSG_CANCELLED) {
        cr_assert_eq(msg->size, sizeof(tr_token *));
        atomic_fetch_add(&cancelled_msgs, 1);
        latch_add(&cancel_latch, 1);
    }
    return TR_OK;
}

static void leaf_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    leaf *l = state;
    atomic_store(&reasons[l->index], reason);
    atomic_fetch_add(&ends[l->index], 1);
    latch_add(&end_latch, 1);
}

static const tr_behaviour leaf_beh = {
    .init = leaf_init, .handle = leaf_handle, .terminate = leaf_terminate, .state_size = sizeof(leaf)};

static tr_ref spawn_leaf(tr_system *sys, intptr_t index)
{
    tr_ref r;
    tr_spawn_opts o = {.mailbox_capacity = 64};
    cr_assert_eq(tr_spawn(sys, &leaf_beh, (void *)index, &o, &r), TR_OK);
    return r;
}

static int parent_of(int i) { return (i - 1) / WIDTH; } /* breadth-first numbering */

static bool in_subtree(int i, int top)
{
    while (i > top)
        i = parent_of(i);
    return i == top;
}

/* True if `r` is alive and was not told to stop: an actor acts on its
 * signals before its next message, so after a round trip its state shows
 * any cancel signalled before the ask. */
static bool alive_and_well(tr_system *sys, tr_ref r)
{
    void *reply = NULL;
    size_t n;
    if (tr_ask_wait(sys, r, MSG_PING, NULL, 0, 10000, &reply, &n) != TR_OK)
        return false;
    free(reply);
    tr_actor_state st = tr_actor_state_of(sys, r);
    return st != TR_STATE_STOPPING && st != TR_STATE_DEAD;
}

Test(tokens, tree_of_1111_cancel_middle_then_root)
{
    reset();
    tr_system *sys = make_system(2);
    static tr_token *tok[NODES];
    static tr_ref act[NODES];
    for (int i = 0; i < NODES; i++) {
        cr_assert_eq(tr_token_create(sys, i == 0 ? NULL : tok[parent_of(i)], &tok[i]), TR_OK);
        act[i] = spawn_leaf(sys, i);
        cr_assert_eq(tr_token_bind(tok[i], act[i]), TR_OK);
    }
    const int mid = 4; /* the 4th child of the root: 1 + 10 + 100 nodes */
    tr_token_cancel(tok[mid]);
    cr_assert(latch_wait(&end_latch, 111, 20000));
    for (int i = 0; i < NODES; i++) {
        bool inside = in_subtree(i, mid);
        cr_assert_eq(tr_token_is_cancelled(tok[i]), inside, "token %d", i);
        if (inside) {
            cr_assert_eq(tr_await_exit(sys, act[i], 10000, NULL), TR_OK);
            int reason = atomic_load(&reasons[i]); /* as terminate saw it */
            cr_assert_eq(reason, TR_ECANCELLED, "actor %d: %s", i, tr_strerror(reason));
        } else {
            cr_assert(alive_and_well(sys, act[i]), "actor %d outside the subtree", i);
        }
    }
    cr_assert_eq(latch_get(&end_latch), 111);

    tr_token_cancel(tok[0]);
    tr_token_cancel(tok[0]); /* idempotent */
    tr_token_cancel(tok[mid]);
    cr_assert(latch_wait(&end_latch, NODES, 20000));
    for (int i = 0; i < NODES; i++) {
        cr_assert_eq(tr_await_exit(sys, act[i], 10000, NULL), TR_OK);
        cr_assert(tr_token_is_cancelled(tok[i]));
    }
    tr_system_destroy(sys);
    for (int i = 0; i < NODES; i++) {
        cr_assert_eq(atomic_load(&ends[i]), 1, "terminate ran once for %d", i);
        cr_assert_eq(atomic_load(&reasons[i]), TR_ECANCELLED);
    }
    for (int i = 0; i < NODES; i++) /* parents first: children keep them alive */
        tr_token_destroy(tok[i]);
}

Test(tokens, a_cancelled_actor_stops_gracefully_after_its_queued_messages)
{
    reset();
    tr_system *sys = make_system(1);
    tr_token *t;
    cr_assert_eq(tr_token_create(sys, NULL, &t), TR_OK);
    tr_ref a = spawn_leaf(sys, 0);
    cr_assert_eq(tr_token_bind(t, a), TR_OK);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(tr_post(sys, a, MSG_WORK, NULL, 0, -1), TR_OK);
    tr_token_cancel(t);
    int reason;
    cr_assert_eq(tr_await_exit(sys, a, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ECANCELLED);
    cr_assert_eq(atomic_load(&handled[0]), 20, "queued messages are handled first");
    tr_token_destroy(t);
    tr_system_destroy(sys);
}

Test(tokens, late_children_binds_and_watchers)
{
    reset();
    tr_system *sys = make_system(2);
    tr_token *root, *child, *late;
    cr_assert_eq(tr_token_create(sys, NULL, &root), TR_OK);
    cr_assert_eq(tr_token_create(sys, root, &child), TR_OK);
    tr_ref w = spawn_leaf(sys, 1), w2 = spawn_leaf(sys, 2);
    cr_assert_eq(tr_token_watch(child, w), TR_OK);
    cr_assert_not(tr_token_is_cancelled(child));

    tr_token_cancel(root);
    cr_assert(tr_token_is_cancelled(child));
    cr_assert(latch_wait(&cancel_latch, 1, 10000), "the watcher is told");
    cr_assert(alive_and_well(sys, w), "a watcher is not stopped");

    cr_assert_eq(tr_token_create(sys, child, &late), TR_OK);
    cr_assert(tr_token_is_cancelled(late), "born cancelled under a cancelled parent");
    cr_assert_eq(tr_token_watch(late, w2), TR_OK);
    cr_assert(latch_wait(&cancel_latch, 2, 10000), "watching a cancelled token tells at once");

    tr_ref b = spawn_leaf(sys, 3);
    cr_assert_eq(tr_token_bind(late, b), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, b, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ECANCELLED, "binding to a cancelled token stops at once");
    cr_assert_eq(tr_token_bind(late, b), TR_EDEAD);
    cr_assert_eq(tr_token_bind(NULL, w), TR_EINVAL);
    cr_assert_eq(tr_token_bind(root, TR_REF_NONE), TR_EINVAL);
    tr_token_cancel(NULL);

    /* references: the parent outlives its last reference while a child holds it */
    tr_token *extra = tr_token_retain(root);
    tr_token_destroy(root);
    tr_token_destroy(extra);
    tr_token_destroy(child);
    cr_assert(tr_token_is_cancelled(late));
    tr_token_destroy(late);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&cancelled_msgs), 2);
}

/* Binding races with cancelling from another thread: every bind either
 * lands before the cancel or sees it, so every actor ends cancelled, once. */
typedef struct race {
    tr_token *root;
    latch *go;
} race;

static void *canceller(void *arg)
{
    race *r = arg;
    latch_wait(r->go, 1, 10000);
    tr_token_cancel(r->root);
    return NULL;
}

Test(tokens, bind_racing_with_cancel_stops_every_actor_once)
{
    reset();
    enum { N = 400 };
    tr_system *sys = make_system(2);
    tr_token *root, *kids[WIDTH];
    cr_assert_eq(tr_token_create(sys, NULL, &root), TR_OK);
    for (int i = 0; i < WIDTH; i++)
        cr_assert_eq(tr_token_create(sys, root, &kids[i]), TR_OK);
    latch go;
    latch_init(&go);
    race r = {.root = root, .go = &go};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, canceller, &r), 0);
    static tr_ref act[N];
    for (int i = 0; i < N; i++) {
        act[i] = spawn_leaf(sys, i);
        cr_assert_eq(tr_token_bind(kids[i % WIDTH], act[i]), TR_OK);
        if (i == N / 2)
            latch_add(&go, 1);
    }
    pthread_join(th, NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tr_await_exit(sys, act[i], 10000, NULL), TR_OK);
        int reason = atomic_load(&reasons[i]); /* slots are reused: the exit cache may have moved on */
        cr_assert_eq(reason, TR_ECANCELLED, "actor %d: %s", i, tr_strerror(reason));
    }
    tr_system_destroy(sys);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&ends[i]), 1);
    tr_token_destroy(root);
    for (int i = 0; i < WIDTH; i++)
        tr_token_destroy(kids[i]);
    latch_fini(&go);
}

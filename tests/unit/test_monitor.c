/* Monitors: exactly one DOWN per monitor, with the exit reason, after the
 * actor is dead; already-dead targets; demonitor; races with the end. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_WORK = TR_MSG_USER, MSG_FAIL };

#define MAX_DOWNS 4096
static pthread_mutex_t downs_lock = PTHREAD_MUTEX_INITIALIZER;
static tr_down downs[MAX_DOWNS];
static int ndowns;
static atomic_int saw_alive_target;
static latch down_latch;

static void downs_reset(void)
{
    pthread_mutex_lock(&downs_lock);
    ndowns = 0;
    pthread_mutex_unlock(&downs_lock);
    atomic_store(&saw_alive_target, 0);
    latch_init(&down_latch);
}

static int watcher_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != TR_MSG_DOWN)
        return TR_OK;
    cr_assert_eq(msg->size, sizeof(tr_down));
    tr_down d = *(const tr_down *)msg->data;
    if (tr_actor_state_of(tr_ctx_system(self), d.actor) != TR_STATE_DEAD)
        atomic_fetch_add(&saw_alive_target, 1);
    pthread_mutex_lock(&downs_lock);
    if (ndowns < MAX_DOWNS)
        downs[ndowns++] = d;
    pthread_mutex_unlock(&downs_lock);
    latch_add(&down_latch, 1);
    return TR_OK;
}
static const tr_behaviour watcher = {.handle = watcher_handle};

static int target_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    return msg->type == MSG_FAIL ? TR_EUSER + 3 : TR_OK;
}
static const tr_behaviour target = {.handle = target_handle};

static int count_downs(uint64_t monitor)
{
    int n = 0;
    pthread_mutex_lock(&downs_lock);
    for (int i = 0; i < ndowns; i++)
        n += downs[i].monitor == monitor;
    pthread_mutex_unlock(&downs_lock);
    return n;
}

Test(monitor, down_once_with_reason_after_death)
{
    downs_reset();
    tr_system *sys = make_system(2);
    tr_ref w, t1, t2;
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &t1), TR_OK);
    cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &t2), TR_OK);
    uint64_t m1, m2;
    cr_assert_eq(tr_monitor(sys, w, t1, &m1), TR_OK);
    cr_assert_eq(tr_monitor(sys, w, t2, &m2), TR_OK);
    cr_assert_neq(m1, m2);
    cr_assert_eq(tr_stop(sys, t1), TR_OK);
    cr_assert_eq(tr_post(sys, t2, MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&down_latch, 2, 10000));
    cr_assert_eq(count_downs(m1), 1);
    cr_assert_eq(count_downs(m2), 1);
    for (int i = 0; i < 2; i++) {
        if (downs[i].monitor == m1) {
            cr_assert_eq(downs[i].actor.id, t1.id);
            cr_assert_eq(downs[i].reason, TR_ESHUTDOWN);
        } else {
            cr_assert_eq(downs[i].actor.id, t2.id);
            cr_assert_eq(downs[i].reason, TR_EUSER + 3);
        }
    }
    cr_assert_eq(atomic_load(&saw_alive_target), 0, "DOWN arrived before the end");
    tr_system_destroy(sys);
    cr_assert_eq(ndowns, 2, "no duplicate DOWN during shutdown");
}

Test(monitor, dead_target_fires_at_once_and_demonitor_cancels)
{
    downs_reset();
    tr_system *sys = make_system(2);
    tr_ref w, gone, quiet, later;
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &gone), TR_OK);
    cr_assert_eq(tr_kill(sys, gone), TR_OK);
    cr_assert_eq(tr_await_exit(sys, gone, 10000, NULL), TR_OK);
    uint64_t m_gone, m_quiet, m_later;
    cr_assert_eq(tr_monitor(sys, w, gone, &m_gone), TR_OK);
    cr_assert(latch_wait(&down_latch, 1, 10000));
    cr_assert_eq(count_downs(m_gone), 1);
    cr_assert_eq(downs[0].reason, TR_EKILLED, "reason remembered after the end");

    cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &quiet), TR_OK);
    cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &later), TR_OK);
    cr_assert_eq(tr_monitor(sys, w, quiet, &m_quiet), TR_OK);
    cr_assert_eq(tr_monitor(sys, w, later, &m_later), TR_OK);
    cr_assert_eq(tr_demonitor(sys, quiet, m_quiet), TR_OK);
    cr_assert_eq(tr_demonitor(sys, quiet, m_quiet), TR_ENOTFOUND);
    cr_assert_eq(tr_stop(sys, quiet), TR_OK);
    cr_assert_eq(tr_await_exit(sys, quiet, 10000, NULL), TR_OK);
    cr_assert_eq(tr_stop(sys, later), TR_OK); /* the sentinel: its DOWN comes after */
    cr_assert(latch_wait(&down_latch, 2, 10000));
    cr_assert_eq(count_downs(m_later), 1);
    cr_assert_eq(count_downs(m_quiet), 0, "a removed monitor never fires");
    tr_system_destroy(sys);
}

Test(monitor, monitors_racing_with_the_end_fire_exactly_once)
{
    downs_reset();
    tr_system *sys = make_system(2);
    tr_ref w;
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    static uint64_t ids[500];
    for (int i = 0; i < 500; i++) {
        tr_ref t;
        cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &t), TR_OK);
        cr_assert_eq(tr_stop(sys, t), TR_OK); /* ends while we add the monitor */
        cr_assert_eq(tr_monitor(sys, w, t, &ids[i]), TR_OK);
    }
    cr_assert(latch_wait(&down_latch, 500, 30000), "only %ld DOWNs", latch_get(&down_latch));
    for (int i = 0; i < 500; i++)
        cr_assert_eq(count_downs(ids[i]), 1, "monitor %d fired %d times", i, count_downs(ids[i]));
    tr_system_destroy(sys);
    cr_assert_eq(ndowns, 500);
}

/* The same race when the targets end nested in their parent's turn (a
 * stopping parent runs its idle children's stops itself, and a plain actor
 * ends without its lock unless a monitor made it an extension): each
 * monitor still fires exactly once, and the children are counted dead
 * once the parent's end is reported. */
Test(monitor, monitors_racing_with_nested_ends_fire_exactly_once)
{
    downs_reset();
    tr_system *sys = make_system(2);
    tr_ref w, parent;
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    static uint64_t ids[300];
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &parent), TR_OK);
        tr_spawn_opts o = {.parent = parent};
        static tr_ref kids[100];
        for (int i = 0; i < 100; i++)
            cr_assert_eq(tr_spawn(sys, &target, NULL, &o, &kids[i]), TR_OK);
        cr_assert_eq(tr_stop(sys, parent), TR_OK); /* the children end while we monitor them */
        for (int i = 0; i < 100; i++)
            cr_assert_eq(tr_monitor(sys, w, kids[i], &ids[round * 100 + i]), TR_OK);
        cr_assert_eq(tr_await_exit(sys, parent, 30000, NULL), TR_OK);
        tr_metrics m;
        tr_metrics_get(sys, &m);
        cr_assert_eq(m.actors_alive, 1, "only the watcher is left, not %llu",
                     (unsigned long long)m.actors_alive);
    }
    cr_assert(latch_wait(&down_latch, 300, 30000), "only %ld DOWNs", latch_get(&down_latch));
    for (int i = 0; i < 300; i++)
        cr_assert_eq(count_downs(ids[i]), 1, "monitor %d fired %d times", i, count_downs(ids[i]));
    tr_system_destroy(sys);
    cr_assert_eq(ndowns, 300);
}

Test(monitor, bad_arguments)
{
    tr_system *sys = make_system(1);
    tr_ref t, w;
    cr_assert_eq(tr_spawn(sys, &target, NULL, NULL, &t), TR_OK);
    cr_assert_eq(tr_monitor(sys, TR_REF_NONE, t, NULL), TR_EINVAL);
    cr_assert_eq(tr_monitor(NULL, t, t, NULL), TR_EINVAL);
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    cr_assert_eq(tr_stop(sys, w), TR_OK);
    cr_assert_eq(tr_await_exit(sys, w, 10000, NULL), TR_OK);
    cr_assert_eq(tr_monitor(sys, w, t, NULL), TR_EDEAD, "the watcher is gone");
    cr_assert_eq(tr_demonitor(sys, t, 12345), TR_ENOTFOUND);
    tr_system_destroy(sys);
}

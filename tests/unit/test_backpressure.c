/* Bounded mailboxes and the three overflow policies; backpressure muting,
 * its deadlock freedom (A<->B and a ring of three) and prompt unmuting. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "actors/system_impl.h" /* post_waiters: a poster is waiting for room */
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_DATA = TR_MSG_USER, MSG_FLOOD, MSG_PROBE, MSG_HOLD };

/* ---- a sink counts what it receives ---- */

static atomic_long sink_count;
static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    atomic_fetch_add(&sink_count, 1);
    return TR_OK;
}
static const tr_behaviour sink = {.handle = sink_handle};

/* ---- a flooder sends N messages to a target within one handler call ---- */

typedef struct flood_req {
    tr_ref to;
    int n;
} flood_req;
static int flood_results[64];
static latch flood_done;

static int flooder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != MSG_FLOOD)
        return TR_OK;
    const flood_req *req = msg->data;
    for (int i = 0; i < req->n; i++)
        flood_results[i] = tr_send(self, req->to, MSG_DATA, &i, sizeof(i));
    latch_add(&flood_done, 1);
    return TR_OK;
}
static const tr_behaviour flooder = {.handle = flooder_handle};

/* One worker: the receiver cannot run while the flooder's handler runs, so
 * exactly `capacity` messages fit. */
static void flood_on_one_worker(tr_overflow policy, int *accepted, long *received, uint64_t *dead)
{
    atomic_store(&sink_count, 0);
    latch_init(&flood_done);
    tr_system *sys = make_system(1);
    tr_ref r, f;
    tr_spawn_opts ro = {.mailbox_capacity = 4, .overflow = policy};
    cr_assert_eq(tr_spawn(sys, &sink, NULL, &ro, &r), TR_OK);
    cr_assert_eq(tr_spawn(sys, &flooder, NULL, NULL, &f), TR_OK);
    flood_req req = {.to = r, .n = 10};
    cr_assert_eq(tr_post(sys, f, MSG_FLOOD, &req, sizeof(req), 0), TR_OK);
    cr_assert(latch_wait(&flood_done, 1, 10000));
    *accepted = 0;
    for (int i = 0; i < 10; i++)
        *accepted += flood_results[i] == TR_OK;
    /* a round trip through the sink proves it has handled what came before */
    cr_assert_eq(tr_stop(sys, r), TR_OK);
    cr_assert_eq(tr_await_exit(sys, r, 10000, NULL), TR_OK);
    *received = atomic_load(&sink_count);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    *dead = m.dead_letters;
    tr_system_destroy(sys);
}

Test(overflow, fail_fast_returns_efull_and_keeps_nothing)
{
    int accepted;
    long received;
    uint64_t dead;
    flood_on_one_worker(TR_OVERFLOW_FAIL, &accepted, &received, &dead);
    cr_assert_eq(accepted, 4);
    for (int i = 4; i < 10; i++)
        cr_assert_eq(flood_results[i], TR_EFULL);
    cr_assert_eq(received, 4);
    cr_assert_eq(dead, 0, "a refused send is reported to the sender, not a dead letter");
}

Test(overflow, drop_counts_dead_letters)
{
    int accepted;
    long received;
    uint64_t dead;
    flood_on_one_worker(TR_OVERFLOW_DROP, &accepted, &received, &dead);
    cr_assert_eq(accepted, 10, "drop policy: the send itself succeeds");
    cr_assert_eq(received, 4);
    cr_assert_eq(dead, 6);
}

Test(overflow, backpressure_keeps_every_message)
{
    int accepted;
    long received;
    uint64_t dead;
    flood_on_one_worker(TR_OVERFLOW_BACKPRESSURE, &accepted, &received, &dead);
    cr_assert_eq(accepted, 10);
    cr_assert_eq(received, 10, "nothing lost: the sender is muted instead");
    cr_assert_eq(dead, 0);
}

/* ---- outside threads: non-blocking EFULL, timed wait, blocking until room ---- */

static latch hold_release, hold_entered;
static int holder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_HOLD) {
        /* test-only: occupy the single worker so the mailbox cannot drain */
        latch_add(&hold_entered, 1);
        latch_wait(&hold_release, 1, 30000);
    }
    atomic_fetch_add(&sink_count, 1);
    return TR_OK;
}
static const tr_behaviour holder = {.handle = holder_handle};

typedef struct poster_arg {
    tr_system *sys;
    tr_ref to;
    int rc;
    atomic_bool returned;
    bool returned_after_release; /* hold_release was already given when tr_post returned */
} poster_arg;
static void *blocking_poster(void *p)
{
    poster_arg *a = p;
    a->rc = tr_post(a->sys, a->to, MSG_DATA, NULL, 0, -1);
    a->returned_after_release = latch_get(&hold_release) > 0;
    atomic_store(&a->returned, true);
    return NULL;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

Test(overflow, outside_sender_blocks_with_timeout_or_gets_efull)
{
    atomic_store(&sink_count, 0);
    latch_init(&hold_release);
    latch_init(&hold_entered);
    tr_system *sys = make_system(1);
    tr_ref r;
    tr_spawn_opts ro = {.mailbox_capacity = 4};
    cr_assert_eq(tr_spawn(sys, &holder, NULL, &ro, &r), TR_OK);
    cr_assert_eq(tr_post(sys, r, MSG_HOLD, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&hold_entered, 1, 10000));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tr_post(sys, r, MSG_DATA, NULL, 0, 0), TR_OK);
    cr_assert_eq(tr_post(sys, r, MSG_DATA, NULL, 0, 0), TR_EFULL, "non-blocking");
    /* the timed post waits its whole timeout (a lower bound: never early) */
    int64_t t0 = mono_ns();
    cr_assert_eq(tr_post(sys, r, MSG_DATA, NULL, 0, 20), TR_EFULL, "timed out");
    int64_t waited_us = (mono_ns() - t0) / 1000;
    cr_assert_geq(waited_us, 20000, "a post with a 20 ms timeout gave up after %lld us", (long long)waited_us);

    /* the blocking poster is seen waiting for room (post_waiters) before the
     * holder lets the mailbox drain, and returns only after that */
    pthread_t t;
    poster_arg arg = {.sys = sys, .to = r, .rc = -1};
    pthread_create(&t, NULL, blocking_poster, &arg);
    int64_t t1 = mono_ns();
    while (atomic_load(&sys->post_waiters) == 0) {
        cr_assert(!atomic_load(&arg.returned), "tr_post(-1) into a full mailbox returned %s without waiting",
                  tr_strerror(arg.rc));
        cr_assert_lt(mono_ns() - t1, 30000000000LL, "the poster neither waited nor returned in 30 s");
        sched_yield();
    }
    latch_add(&hold_release, 1); /* the worker drains; the blocked poster gets room */
    pthread_join(t, NULL);
    cr_assert_eq(arg.rc, TR_OK);
    cr_assert(arg.returned_after_release, "the blocking post returned before the mailbox had room");
    cr_assert_eq(tr_stop(sys, r), TR_OK);
    cr_assert_eq(tr_await_exit(sys, r, 10000, NULL), TR_OK);
    cr_assert_eq(atomic_load(&sink_count), 1 + 4 + 1);
    tr_system_destroy(sys);
}

/* ---- muting: a muted sender does not run until the receiver drains ---- */

static atomic_long drained_by_receiver;
static int counting_receiver(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    atomic_fetch_add(&drained_by_receiver, 1);
    return TR_OK;
}
static const tr_behaviour receiver = {.handle = counting_receiver};

static long seen_at_probe = -1;
static latch probe_done;
static int mute_sender_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_FLOOD) {
        const flood_req *req = msg->data;
        for (int i = 0; i < req->n; i++)
            cr_assert_eq(tr_send(self, req->to, MSG_DATA, &i, sizeof(i)), TR_OK);
    } else if (msg->type == MSG_PROBE) {
        seen_at_probe = atomic_load(&drained_by_receiver);
        latch_add(&probe_done, 1);
    }
    return TR_OK;
}
static const tr_behaviour mute_sender = {.handle = mute_sender_handle};

Test(backpressure, muted_sender_waits_for_receiver_to_drain)
{
    atomic_store(&drained_by_receiver, 0);
    latch_init(&probe_done);
    tr_system *sys = make_system(2);
    tr_ref r, s;
    tr_spawn_opts ro = {.mailbox_capacity = 8, .low_watermark = 4};
    cr_assert_eq(tr_spawn(sys, &receiver, NULL, &ro, &r), TR_OK);
    cr_assert_eq(tr_spawn(sys, &mute_sender, NULL, NULL, &s), TR_OK);
    /* queue the flood and, behind it, a probe for the sender */
    flood_req req = {.to = r, .n = 64};
    cr_assert_eq(tr_post(sys, s, MSG_FLOOD, &req, sizeof(req), 0), TR_OK);
    cr_assert_eq(tr_post(sys, s, MSG_PROBE, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&probe_done, 1, 10000));
    /* when the sender ran again, the receiver had drained to its low
     * watermark: at most 4 of the 64 messages were still queued */
    cr_assert_geq(seen_at_probe, 64 - 4, "sender ran while muted (receiver had %ld)", seen_at_probe);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_geq(m.mutes, 1);
    cr_assert_eq(m.dead_letters, 0);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&drained_by_receiver), 64);
}

/* ---- no deadlock: actors flooding each other's full mailboxes ---- */

#define FLOOD_TOTAL 20000
typedef struct peer_state {
    tr_ref next;
    long sent, received;
} peer_state;
static latch peers_done;
static atomic_int order_errors;

static int peer_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    peer_state *p = state;
    if (msg->type == MSG_FLOOD) {
        p->next = *(const tr_ref *)msg->data;
    } else if (msg->type == MSG_DATA) {
        long seq = *(const long *)msg->data;
        if (seq != p->received)
            atomic_fetch_add(&order_errors, 1); /* per-sender FIFO broken */
        p->received++;
        if (p->received == FLOOD_TOTAL)
            latch_add(&peers_done, 1);
    }
    if (tr_ref_is_none(p->next))
        return TR_OK; /* data raced ahead of our own start message */
    /* keep flooding: every turn sends a burst well past the receiver's capacity */
    for (int i = 0; i < 40 && p->sent < FLOOD_TOTAL; i++) {
        int rc = tr_send(self, p->next, MSG_DATA, &p->sent, sizeof(p->sent));
        cr_assert_eq(rc, TR_OK, "send failed: %s", tr_strerror(rc));
        p->sent++;
    }
    return TR_OK;
}
static const tr_behaviour peer = {.handle = peer_handle, .state_size = sizeof(peer_state)};

static void flood_ring(int n)
{
    latch_init(&peers_done);
    atomic_store(&order_errors, 0);
    tr_system *sys = make_system(2);
    tr_ref refs[3];
    tr_spawn_opts o = {.mailbox_capacity = 16};
    for (int i = 0; i < n; i++)
        cr_assert_eq(tr_spawn(sys, &peer, NULL, &o, &refs[i]), TR_OK);
    for (int i = 0; i < n; i++)
        cr_assert_eq(tr_post(sys, refs[i], MSG_FLOOD, &refs[(i + 1) % n], sizeof(tr_ref), -1), TR_OK);
    cr_assert(latch_wait(&peers_done, n, 60000), "flood stalled: %ld of %d peers done",
              latch_get(&peers_done), n);
    cr_assert_eq(atomic_load(&order_errors), 0);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.dead_letters, 0);
    tr_system_destroy(sys);
}

Test(backpressure, two_actors_flooding_each_other_both_finish) { flood_ring(2); }

Test(backpressure, ring_of_three_flooding_finishes) { flood_ring(3); }

/* Timers: one-shot and periodic delivery, cancel, many timers at once,
 * timers owned by an actor, periodic timers to dead actors, bad arguments,
 * and the monotonic clock they run on (tr_now_ns, tr_now_ms).
 *
 * Synchronisation: the test thread waits on latches bumped by actors. "Never
 * delivered" is checked with a sentinel timer armed to the same actor with a
 * later deadline: the timer thread fires in deadline order and delivers into
 * one FIFO mailbox, so once the sentinel is handled, anything due before it
 * has been handled too. No test sleeps; no test asserts an upper bound on
 * latency. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_TICK = TR_MSG_USER, MSG_SENTINEL, MSG_STOP, MSG_OTHER };

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- a counting receiver: counts ticks, snapshots the count at each sentinel ---- */

#define MAX_SENTINELS 8

typedef struct counter {
    atomic_long ticks;          /* MSG_TICK handled */
    atomic_long others;         /* MSG_OTHER handled */
    atomic_long bad;            /* unexpected message or payload */
    atomic_llong last_tick_ns;  /* arrival time of the latest tick */
    atomic_long sentinels;      /* sentinels handled */
    long ticks_at_sentinel[MAX_SENTINELS];
    long others_at_sentinel[MAX_SENTINELS];
    uint32_t expect_payload;    /* every tick carries this uint32_t (0 = no payload check) */
    latch tick_latch;           /* +1 per tick */
    latch sentinel_latch;       /* +1 per sentinel */
} counter;

static void counter_init(counter *c)
{
    memset(c, 0, sizeof(*c));
    latch_init(&c->tick_latch);
    latch_init(&c->sentinel_latch);
}

static void counter_fini(counter *c)
{
    latch_fini(&c->tick_latch);
    latch_fini(&c->sentinel_latch);
}

typedef struct counter_state {
    counter *c;
} counter_state;

static int counter_init_cb(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    ((counter_state *)state)->c = arg;
    return TR_OK;
}

static int counter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    counter *c = ((counter_state *)state)->c;
    switch (msg->type) {
    case MSG_TICK:
        if (c->expect_payload != 0 &&
            (msg->size != sizeof(uint32_t) || *(const uint32_t *)msg->data != c->expect_payload))
            atomic_fetch_add(&c->bad, 1);
        if (!tr_ref_is_none(msg->sender) || msg->corr != 0)
            atomic_fetch_add(&c->bad, 1); /* timer messages come from nobody */
        atomic_store(&c->last_tick_ns, now_ns());
        atomic_fetch_add(&c->ticks, 1);
        latch_add(&c->tick_latch, 1);
        break;
    case MSG_OTHER:
        atomic_fetch_add(&c->others, 1);
        break;
    case MSG_SENTINEL: {
        long i = atomic_load(&c->sentinels);
        if (i < MAX_SENTINELS) {
            c->ticks_at_sentinel[i] = atomic_load(&c->ticks);
            c->others_at_sentinel[i] = atomic_load(&c->others);
        }
        atomic_fetch_add(&c->sentinels, 1);
        latch_add(&c->sentinel_latch, 1);
        break;
    }
    case MSG_STOP:
        tr_stop_self(self);
        break;
    default:
        atomic_fetch_add(&c->bad, 1);
    }
    return TR_OK;
}

static const tr_behaviour counter_beh = {
    .init = counter_init_cb,
    .handle = counter_handle,
    .state_size = sizeof(counter_state),
};

static tr_ref spawn_counter(tr_system *sys, counter *c)
{
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &counter_beh, c, NULL, &r), TR_OK);
    return r;
}

/* Arms a sentinel `delay_ms` from now and waits until sentinel number n
 * (1-based) has been handled. */
static void sentinel_round(tr_system *sys, tr_ref to, counter *c, uint32_t delay_ms, long n)
{
    cr_assert_eq(tr_send_after(sys, to, MSG_SENTINEL, NULL, 0, delay_ms, NULL), TR_OK);
    cr_assert(latch_wait(&c->sentinel_latch, n, WAIT_MS), "sentinel %ld never arrived", n);
}

/* ---- one-shot ---- */

Test(timers, send_after_delivers_exactly_once)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    c.expect_payload = 0xC0FFEEu;
    tr_ref r = spawn_counter(sys, &c);

    uint32_t payload = 0xC0FFEEu;
    tr_timer t = {0};
    cr_assert_eq(tr_send_after(sys, r, MSG_TICK, &payload, sizeof(payload), 10, &t), TR_OK);
    cr_assert_neq(t.id, 0, "a timer handle was written");
    payload = 0; /* the payload was copied at arming time */

    cr_assert(latch_wait(&c.tick_latch, 1, WAIT_MS), "the timer never fired");
    /* a sentinel due well after the timer: a second delivery would precede it */
    sentinel_round(sys, r, &c, 40, 1);
    cr_assert_eq(c.ticks_at_sentinel[0], 1, "a one-shot timer fired %ld times", c.ticks_at_sentinel[0]);
    cr_assert_eq(atomic_load(&c.bad), 0, "wrong payload, sender or corr on the timer message");

    /* it already fired: cancelling is a clean not-found, twice */
    cr_assert_eq(tr_timer_cancel(sys, t), TR_ENOTFOUND);
    cr_assert_eq(tr_timer_cancel(sys, t), TR_ENOTFOUND);

    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&c.ticks), 1);
    counter_fini(&c);
}

/* Spins (well under 1 ms, no sleeping) until CLOCK_MONOTONIC is at least
 * 0.9 ms into its current millisecond, and returns that time. */
static int64_t late_in_millisecond(void)
{
    int64_t t;
    while ((t = now_ns()) % 1000000LL < 900000LL)
        ;
    return t;
}

/* Timers never fire early: the message arrives no sooner than delay_ms after
 * tr_send_after was called, measured on CLOCK_MONOTONIC (the clock the timer
 * thread uses). Each timer is armed late in a millisecond, the worst case for
 * a deadline computed from a clock truncated to whole milliseconds. */
Test(timers, send_after_never_fires_before_its_delay)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    tr_ref r = spawn_counter(sys, &c);

    const uint32_t delays[] = {1, 2, 3, 5, 7, 4, 6, 2, 3, 5, 8, 1};
    const int rounds = (int)(sizeof(delays) / sizeof(delays[0]));
    int early = 0;
    int64_t worst = INT64_MAX;
    for (int i = 0; i < rounds; i++) {
        int64_t t0 = late_in_millisecond();
        cr_assert_eq(tr_send_after(sys, r, MSG_TICK, NULL, 0, delays[i], NULL), TR_OK);
        cr_assert(latch_wait(&c.tick_latch, i + 1, WAIT_MS), "timer %d never fired", i);
        int64_t elapsed = atomic_load(&c.last_tick_ns) - t0;
        int64_t margin = elapsed - (int64_t)delays[i] * 1000000LL;
        if (margin < 0) {
            early++;
            if (margin < worst)
                worst = margin;
        }
    }
    cr_expect_eq(early, 0, "%d of %d one-shot timers fired before their delay (worst: %lld us early)",
                 early, rounds, (long long)(early ? -worst / 1000 : 0));
    tr_system_destroy(sys);
    counter_fini(&c);
}

/* tr_timer_cancel's answer is the fact tested: TR_OK means the timer had not
 * fired and never will; TR_ENOTFOUND means it had fired (delivered exactly
 * once). A stall between arming and cancelling longer than the delay (a
 * loaded machine) turns the first case into the second, never into a
 * failure; a sentinel due after the timer shows what was delivered. */
static void expect_cancel_outcome(int rc, long ticks, long others, long want_others, const char *what)
{
    if (rc == TR_OK) {
        cr_assert_eq(ticks, 0, "%s: cancelled with TR_OK, then delivered %ld times", what, ticks);
    } else {
        cr_assert_eq(rc, TR_ENOTFOUND, "%s: cancel returned %s", what, tr_strerror(rc));
        cr_log_info("%s: the timer fired before the cancel (a stall of over its delay)", what);
        cr_assert_eq(ticks, 1, "%s: fired before the cancel, delivered %ld times", what, ticks);
    }
    cr_assert_eq(others, want_others, "%s: the neighbour of a cancelled timer was lost", what);
}

Test(timers, cancel_before_firing_means_never_delivered)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    tr_ref r = spawn_counter(sys, &c);

    tr_timer t;
    cr_assert_eq(tr_send_after(sys, r, MSG_TICK, NULL, 0, 100, &t), TR_OK);
    int rc = tr_timer_cancel(sys, t);
    cr_assert_eq(tr_timer_cancel(sys, t), TR_ENOTFOUND, "a cancelled or fired timer is gone");

    /* due after the cancelled one would have fired */
    sentinel_round(sys, r, &c, 150, 1);
    expect_cancel_outcome(rc, c.ticks_at_sentinel[0], 0, 0, "one timer");

    /* cancelling one timer leaves its neighbours alone */
    long ticks_before = c.ticks_at_sentinel[0];
    tr_timer a, b;
    cr_assert_eq(tr_send_after(sys, r, MSG_TICK, NULL, 0, 100, &a), TR_OK);
    cr_assert_eq(tr_send_after(sys, r, MSG_OTHER, NULL, 0, 100, &b), TR_OK);
    cr_assert_neq(a.id, b.id);
    rc = tr_timer_cancel(sys, a);
    sentinel_round(sys, r, &c, 150, 2);
    expect_cancel_outcome(rc, c.ticks_at_sentinel[1] - ticks_before, c.others_at_sentinel[1], 1, "neighbours");
    cr_assert_eq(tr_timer_cancel(sys, b), TR_ENOTFOUND);

    /* a handle that never existed */
    cr_assert_eq(tr_timer_cancel(sys, (tr_timer){0}), TR_ENOTFOUND);
    tr_system_destroy(sys);
    counter_fini(&c);
}

/* ---- periodic ---- */

Test(timers, send_interval_repeats_until_cancelled)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    c.expect_payload = 77;
    tr_ref r = spawn_counter(sys, &c);

    uint32_t payload = 77;
    tr_timer t;
    cr_assert_eq(tr_send_interval(sys, r, MSG_TICK, &payload, sizeof(payload), 2, &t), TR_OK);
    cr_assert(latch_wait(&c.tick_latch, 5, WAIT_MS), "only %ld ticks arrived", latch_get(&c.tick_latch));
    cr_assert_eq(tr_timer_cancel(sys, t), TR_OK, "a running interval cancels with TR_OK");
    cr_assert_eq(tr_timer_cancel(sys, t), TR_ENOTFOUND);

    /* ticks fired before the cancel may still be queued: the first sentinel
     * flushes them, the second one comes several periods later */
    sentinel_round(sys, r, &c, 10, 1);
    long settled = c.ticks_at_sentinel[0];
    cr_assert_geq(settled, 5);
    sentinel_round(sys, r, &c, 20, 2);
    cr_assert_eq(c.ticks_at_sentinel[1], settled, "ticks continued after cancel: %ld -> %ld", settled,
                 c.ticks_at_sentinel[1]);
    cr_assert_eq(atomic_load(&c.bad), 0);
    tr_system_destroy(sys);
    counter_fini(&c);
}

/* ---- many timers ---- */

#define MANY 5000

typedef struct many_state {
    unsigned char seen[MANY];
    atomic_long bad;
    latch got;
} many_state;

static int many_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    many_state *m = *(many_state **)state;
    if (msg->type == MSG_STOP) {
        tr_stop_self(self);
        return TR_OK;
    }
    if (msg->type != MSG_TICK || msg->size != sizeof(uint32_t)) {
        atomic_fetch_add(&m->bad, 1);
        return TR_OK;
    }
    uint32_t i = *(const uint32_t *)msg->data;
    if (i >= MANY) {
        atomic_fetch_add(&m->bad, 1);
        return TR_OK;
    }
    if (m->seen[i] < 255)
        m->seen[i]++; /* only this actor writes; read after it is dead */
    latch_add(&m->got, 1);
    return TR_OK;
}

static int many_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(many_state **)state = arg;
    return TR_OK;
}

static const tr_behaviour many_beh = {
    .init = many_init,
    .handle = many_handle,
    .state_size = sizeof(many_state *),
};

Test(timers, five_thousand_random_timers_each_delivered_once)
{
    tr_system *sys = make_system(2);
    many_state *m = calloc(1, sizeof(*m));
    cr_assert_not_null(m);
    latch_init(&m->got);
    /* room for every timer at once: an overflow would be a lost tick, not a bug */
    tr_spawn_opts o = {.mailbox_capacity = 2 * MANY};
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &many_beh, m, &o, &r), TR_OK);

    unsigned seed = 12345;
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t delay = 1 + (uint32_t)(rand_r(&seed) % 50);
        cr_assert_eq(tr_send_after(sys, r, MSG_TICK, &i, sizeof(i), delay, NULL), TR_OK);
    }
    cr_assert(latch_wait(&m->got, MANY, WAIT_MS), "only %ld of %d timers arrived", latch_get(&m->got), MANY);

    /* a stop due after every timer: anything still pending arrives first;
     * the bitmap is read once the receiver is dead (its writes happen
     * before its exit is reported) */
    cr_assert_eq(tr_send_after(sys, r, MSG_STOP, NULL, 0, 60, NULL), TR_OK);
    int reason = -1;
    cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, &reason), TR_OK);
    cr_assert_eq(reason, TR_OK);

    int missing = 0, dup = 0;
    for (uint32_t i = 0; i < MANY; i++) {
        if (m->seen[i] == 0)
            missing++;
        else if (m->seen[i] > 1)
            dup++;
    }
    cr_assert_eq(missing, 0, "%d timers never delivered", missing);
    cr_assert_eq(dup, 0, "%d timers delivered more than once", dup);
    cr_assert_eq(atomic_load(&m->bad), 0);
    cr_assert_eq(latch_get(&m->got), MANY);
    tr_system_destroy(sys);
    latch_fini(&m->got);
    free(m);
}

/* ---- a timer owned by an actor dies with it ---- */

typedef struct owner_shared {
    tr_ref target;
    tr_timer timer;
    atomic_int armed_rc;
    latch armed;
} owner_shared;

static int owner_init(tr_ctx *self, void *state, void *arg)
{
    owner_shared *s = arg;
    *(owner_shared **)state = s;
    int rc = tr_send_interval(tr_ctx_system(self), s->target, MSG_TICK, NULL, 0, 2, &s->timer);
    atomic_store(&s->armed_rc, rc);
    latch_add(&s->armed, 1);
    return TR_OK;
}

static int owner_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_STOP)
        tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour owner_beh = {
    .init = owner_init,
    .handle = owner_handle,
    .state_size = sizeof(owner_shared *),
};

Test(timers, timer_created_in_callback_is_cancelled_when_owner_dies)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    tr_ref target = spawn_counter(sys, &c);

    owner_shared s = {.target = target};
    latch_init(&s.armed);
    tr_ref owner;
    cr_assert_eq(tr_spawn(sys, &owner_beh, &s, NULL, &owner), TR_OK);
    cr_assert(latch_wait(&s.armed, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&s.armed_rc), TR_OK);
    cr_assert(latch_wait(&c.tick_latch, 3, WAIT_MS), "the owner's interval never ticked");

    cr_assert_eq(tr_post(sys, owner, MSG_STOP, NULL, 0, 0), TR_OK);
    int reason = -1;
    cr_assert_eq(tr_await_exit(sys, owner, WAIT_MS, &reason), TR_OK);
    cr_assert_eq(reason, TR_OK);

    sentinel_round(sys, target, &c, 10, 1); /* flushes ticks fired before the owner died */
    long settled = c.ticks_at_sentinel[0];
    cr_assert_geq(settled, 3);
    sentinel_round(sys, target, &c, 20, 2); /* ten more periods */
    cr_assert_eq(c.ticks_at_sentinel[1], settled, "the dead owner's interval kept ticking: %ld -> %ld",
                 settled, c.ticks_at_sentinel[1]);
    /* and the runtime already cancelled it */
    cr_assert_eq(tr_timer_cancel(sys, s.timer), TR_ENOTFOUND);

    tr_system_destroy(sys);
    latch_fini(&s.armed);
    counter_fini(&c);
}

/* A timer armed from the test thread belongs to nobody: the death of an
 * unrelated actor does not cancel it. */
Test(timers, timer_armed_outside_any_actor_survives_actor_deaths)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    tr_ref target = spawn_counter(sys, &c);

    owner_shared s = {.target = target};
    latch_init(&s.armed);
    tr_ref other;
    cr_assert_eq(tr_spawn(sys, &owner_beh, &s, NULL, &other), TR_OK);
    cr_assert(latch_wait(&s.armed, 1, WAIT_MS));

    tr_timer mine;
    cr_assert_eq(tr_send_after(sys, target, MSG_OTHER, NULL, 0, 40, &mine), TR_OK);
    cr_assert_eq(tr_post(sys, other, MSG_STOP, NULL, 0, 0), TR_OK);
    cr_assert_eq(tr_await_exit(sys, other, WAIT_MS, NULL), TR_OK);
    sentinel_round(sys, target, &c, 80, 1);
    cr_assert_eq(c.others_at_sentinel[0], 1, "a timer armed outside any actor was cancelled");

    tr_system_destroy(sys);
    latch_fini(&s.armed);
    counter_fini(&c);
}

/* ---- periodic timer whose target dies ---- */

static int count_dead_letters(tr_system *sys, tr_ref to, uint32_t type)
{
    tr_dead_letter log[TR_DEAD_LETTER_LOG];
    size_t n = tr_dead_letters_recent(sys, log, TR_DEAD_LETTER_LOG);
    int hits = 0;
    for (size_t i = 0; i < n; i++)
        if (tr_ref_equal(log[i].to, to) && log[i].type == type)
            hits++;
    return hits;
}

Test(timers, interval_to_dead_actor_stops_and_is_a_dead_letter)
{
    tr_system *sys = make_system(2);
    counter victim_c, witness_c;
    counter_init(&victim_c);
    counter_init(&witness_c);
    tr_ref victim = spawn_counter(sys, &victim_c);
    tr_ref witness = spawn_counter(sys, &witness_c);

    tr_timer t;
    cr_assert_eq(tr_send_interval(sys, victim, MSG_TICK, NULL, 0, 2, &t), TR_OK);
    cr_assert(latch_wait(&victim_c.tick_latch, 2, WAIT_MS));
    cr_assert_eq(tr_stop(sys, victim), TR_OK);
    cr_assert_eq(tr_await_exit(sys, victim, WAIT_MS, NULL), TR_OK);

    /* the interval's next tick (due within one period) precedes this sentinel */
    sentinel_round(sys, witness, &witness_c, 20, 1);
    tr_metrics m1;
    tr_metrics_get(sys, &m1);
    cr_assert_geq(m1.dead_letters, 1, "the tick to a dead actor was not counted");
    cr_assert_geq(count_dead_letters(sys, victim, MSG_TICK), 1, "no dead letter logged for the tick");
    /* the runtime removed the timer */
    cr_assert_eq(tr_timer_cancel(sys, t), TR_ENOTFOUND, "the interval to a dead actor is still armed");

    /* and nothing more piles up: ten more periods, no new dead letters */
    sentinel_round(sys, witness, &witness_c, 20, 2);
    tr_metrics m2;
    tr_metrics_get(sys, &m2);
    cr_assert_eq(m2.dead_letters, m1.dead_letters, "dead letters kept growing: %llu -> %llu",
                 (unsigned long long)m1.dead_letters, (unsigned long long)m2.dead_letters);

    tr_system_destroy(sys);
    counter_fini(&victim_c);
    counter_fini(&witness_c);
}

/* An interval armed at an already-dead reference: one dead letter, then gone. */
Test(timers, interval_armed_at_dead_ref_fires_once_into_dead_letters)
{
    tr_system *sys = make_system(2);
    counter victim_c, witness_c;
    counter_init(&victim_c);
    counter_init(&witness_c);
    tr_ref victim = spawn_counter(sys, &victim_c);
    tr_ref witness = spawn_counter(sys, &witness_c);
    cr_assert_eq(tr_kill(sys, victim), TR_OK);
    cr_assert_eq(tr_await_exit(sys, victim, WAIT_MS, NULL), TR_OK);

    tr_metrics m0;
    tr_metrics_get(sys, &m0);
    tr_timer t;
    cr_assert_eq(tr_send_interval(sys, victim, MSG_TICK, NULL, 0, 1, &t), TR_OK,
                 "arming is not refused: the target is only checked when the timer fires");
    sentinel_round(sys, witness, &witness_c, 30, 1);
    tr_metrics m1;
    tr_metrics_get(sys, &m1);
    cr_assert_eq(m1.dead_letters, m0.dead_letters + 1,
                 "an interval to a dead actor must stop at its first tick (dead letters %llu -> %llu)",
                 (unsigned long long)m0.dead_letters, (unsigned long long)m1.dead_letters);
    cr_assert_eq(count_dead_letters(sys, victim, MSG_TICK), 1);
    cr_assert_eq(tr_timer_cancel(sys, t), TR_ENOTFOUND);
    cr_assert_eq(atomic_load(&victim_c.ticks), 0);

    tr_system_destroy(sys);
    counter_fini(&victim_c);
    counter_fini(&witness_c);
}

/* ---- timer messages respect the mailbox bound ---- */

enum { MSG_BLOCK = MSG_OTHER + 1 };

typedef struct gated {
    latch entered;     /* the actor is inside its MSG_BLOCK handler */
    latch gate;        /* released by the test */
    atomic_long handled_timer_msgs;
    atomic_long at_sentinel;
    latch sentinel;
} gated;

static int gated_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(gated **)state = arg;
    return TR_OK;
}

static int gated_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    gated *g = *(gated **)state;
    switch (msg->type) {
    case MSG_BLOCK: /* hold this actor (and one worker) until the test opens the gate */
        latch_add(&g->entered, 1);
        latch_wait(&g->gate, 1, WAIT_MS);
        break;
    case MSG_SENTINEL:
        atomic_store(&g->at_sentinel, atomic_load(&g->handled_timer_msgs));
        latch_add(&g->sentinel, 1);
        break;
    default:
        atomic_fetch_add(&g->handled_timer_msgs, 1);
    }
    return TR_OK;
}

static const tr_behaviour gated_beh = {
    .init = gated_init,
    .handle = gated_handle,
    .state_size = sizeof(gated *),
};

static int count_dead_letters_reason(tr_system *sys, tr_ref to, int reason)
{
    tr_dead_letter log[TR_DEAD_LETTER_LOG];
    size_t n = tr_dead_letters_recent(sys, log, TR_DEAD_LETTER_LOG);
    int hits = 0;
    for (size_t i = 0; i < n; i++)
        if (tr_ref_equal(log[i].to, to) && log[i].reason == reason)
            hits++;
    return hits;
}

Test(timers, timer_into_full_mailbox_is_a_dead_letter_and_interval_survives)
{
    tr_system *sys = make_system(2);
    gated g;
    memset(&g, 0, sizeof(g));
    latch_init(&g.entered);
    latch_init(&g.gate);
    latch_init(&g.sentinel);
    counter witness_c;
    counter_init(&witness_c);
    tr_ref witness = spawn_counter(sys, &witness_c);

    tr_spawn_opts o = {.mailbox_capacity = 2};
    tr_ref full;
    cr_assert_eq(tr_spawn(sys, &gated_beh, &g, &o, &full), TR_OK);
    cr_assert_eq(tr_post(sys, full, MSG_BLOCK, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&g.entered, 1, WAIT_MS));
    /* `full` is now busy with an empty mailbox that holds two messages */

    tr_timer interval;
    for (uint32_t d = 1; d <= 5; d++)
        cr_assert_eq(tr_send_after(sys, full, MSG_TICK, NULL, 0, d, NULL), TR_OK);
    cr_assert_eq(tr_send_interval(sys, full, MSG_OTHER, NULL, 0, 2, &interval), TR_OK);
    /* five one-shots and at least one interval tick fire before this */
    sentinel_round(sys, witness, &witness_c, 30, 1);

    int efull = count_dead_letters_reason(sys, full, TR_EFULL);
    cr_assert_geq(efull, 4, "6+ timer messages into a 2-slot mailbox, only %d dead letters (TR_EFULL)", efull);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_geq(m.dead_letters, 4);
    /* a full mailbox does not end an interval: only cancel or death does */
    cr_assert_eq(tr_timer_cancel(sys, interval), TR_OK, "the interval stopped on a full mailbox");

    latch_add(&g.gate, 1);
    /* an outside post waits for room, and queues behind the kept messages */
    cr_assert_eq(tr_post(sys, full, MSG_SENTINEL, NULL, 0, WAIT_MS), TR_OK);
    cr_assert(latch_wait(&g.sentinel, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&g.at_sentinel), 2, "the mailbox bound was not respected: %ld timer messages kept",
                 atomic_load(&g.at_sentinel));

    tr_system_destroy(sys);
    latch_fini(&g.entered);
    latch_fini(&g.gate);
    latch_fini(&g.sentinel);
    counter_fini(&witness_c);
}

/* ---- arguments ---- */

Test(timers, invalid_arguments)
{
    tr_system *sys = make_system(2);
    counter c;
    counter_init(&c);
    tr_ref r = spawn_counter(sys, &c);
    tr_timer t = {.id = 0xdeadbeef};
    uint32_t x = 1;

    cr_assert_eq(tr_send_interval(sys, r, MSG_TICK, NULL, 0, 0, &t), TR_EINVAL, "period 0");
    cr_assert_eq(t.id, 0xdeadbeef, "a refused timer writes no handle");
    cr_assert_eq(tr_send_after(sys, r, TR_MSG_USER - 1, NULL, 0, 5, &t), TR_EINVAL, "reserved type");
    cr_assert_eq(tr_send_after(sys, r, TR_MSG_REPLY, NULL, 0, 5, &t), TR_EINVAL, "reserved type");
    cr_assert_eq(tr_send_interval(sys, r, TR_MSG_ASK_TIMEOUT, NULL, 0, 5, &t), TR_EINVAL, "reserved type");
    cr_assert_eq(tr_send_after(NULL, r, MSG_TICK, &x, sizeof(x), 5, &t), TR_EINVAL, "NULL system");
    cr_assert_eq(tr_send_interval(NULL, r, MSG_TICK, &x, sizeof(x), 5, &t), TR_EINVAL, "NULL system");
    cr_assert_eq(tr_send_after(sys, r, MSG_TICK, NULL, 4, 5, &t), TR_EINVAL, "NULL data with a size");
    cr_assert_eq(tr_timer_cancel(NULL, t), TR_EINVAL, "NULL system");
    cr_assert_eq(t.id, 0xdeadbeef);

    /* none of the refused timers exists: nothing arrives before the sentinel */
    sentinel_round(sys, r, &c, 20, 1);
    cr_assert_eq(c.ticks_at_sentinel[0], 0);

    /* a NULL handle pointer is allowed */
    cr_assert_eq(tr_send_after(sys, r, MSG_TICK, NULL, 0, 1, NULL), TR_OK);
    cr_assert(latch_wait(&c.tick_latch, 1, WAIT_MS));
    tr_system_destroy(sys);
    counter_fini(&c);
}

/* ---- the monotonic clock ---- */

/* tr_now_ns and tr_now_ms read one clock, CLOCK_MONOTONIC: each reading lies
 * between the readings of CLOCK_MONOTONIC taken around it, in its unit, and
 * successive readings never go back. */
Test(timers, now_ns_and_now_ms_read_the_monotonic_clock)
{
    uint64_t prev_ns = 0, prev_ms = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t before = (uint64_t)now_ns();
        uint64_t ns = tr_now_ns();
        uint64_t ms = tr_now_ms();
        uint64_t after = (uint64_t)now_ns();
        cr_assert(before <= ns && ns <= after, "tr_now_ns %llu outside [%llu, %llu]",
                  (unsigned long long)ns, (unsigned long long)before, (unsigned long long)after);
        cr_assert(ns / 1000000u <= ms && ms <= after / 1000000u,
                  "tr_now_ms %llu outside [%llu, %llu]", (unsigned long long)ms,
                  (unsigned long long)(ns / 1000000u), (unsigned long long)(after / 1000000u));
        cr_assert(ns >= prev_ns && ms >= prev_ms, "the clock went back");
        prev_ns = ns;
        prev_ms = ms;
    }
}

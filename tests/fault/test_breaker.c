/* The circuit breaker under a seeded fault injector. The target's answer
 * to its kth request (ok, an error reply, or silence) is a hash of (seed,
 * k); the test drives calls one at a time from outside, runs a model of the
 * breaker beside it (closed / open / half-open, threshold, one trial), and
 * checks every call's outcome and the exact list of state changes the
 * subscriber saw. Ordering, not timing: while the model says "open" the
 * test waits for the subscriber's half-open event before the trial. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fates.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000
#define MAX_EVENTS 256

enum { MSG_REQ = TR_MSG_USER };
/* 4% silent, 41% error replies */
static enum fate fate(uint64_t seed, uint64_t k) { return fate_of(seed, k, 4, 45); }

typedef struct target_cfg {
    uint64_t seed;
    atomic_long requests;
} target_cfg;

static int target_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(target_cfg **)state = arg;
    return TR_OK;
}

static int target_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    target_cfg *c = *(target_cfg **)state;
    long k = atomic_fetch_add(&c->requests, 1);
    enum fate f = fate(c->seed, (uint64_t)k);
    if (f == FATE_SILENT)
        return TR_OK;
    return tr_reply(self, msg, f == FATE_OK ? "ok" : "err", f == FATE_OK ? 2 : 3);
}

static const tr_behaviour target = {
    .init = target_init, .handle = target_handle, .state_size = sizeof(target_cfg *)};

static bool reply_is_any(const void *reply, size_t size, void *ctx)
{
    (void)reply;
    (void)size;
    (void)ctx;
    return true;
}

static bool reply_is_error(const void *reply, size_t size, void *ctx)
{
    (void)ctx;
    return size == 3 && memcmp(reply, "err", 3) == 0;
}

/* The subscriber: logs every state change. */
typedef struct sub_log {
    pthread_mutex_t m;
    tr_breaker_event ev[MAX_EVENTS];
    int n;
    latch count;
} sub_log;

static int sub_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(sub_log **)state = arg;
    return TR_OK;
}

static int sub_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    sub_log *l = *(sub_log **)state;
    if (msg->type == TR_MSG_BREAKER_STATE && msg->size == sizeof(tr_breaker_event)) {
        pthread_mutex_lock(&l->m);
        if (l->n < MAX_EVENTS)
            memcpy(&l->ev[l->n++], msg->data, sizeof(tr_breaker_event));
        pthread_mutex_unlock(&l->m);
        latch_add(&l->count, 1);
    }
    return TR_OK;
}

static const tr_behaviour subscriber = {
    .init = sub_init, .handle = sub_handle, .state_size = sizeof(sub_log *)};

/* Starts a breaker under `cfg` with a subscriber logging into *log. */
static tr_ref start_watched(tr_system *sys, const tr_breaker_config *cfg, sub_log *log)
{
    tr_ref b, s;
    cr_assert_eq(tr_breaker_start(sys, cfg, NULL, &b), TR_OK);
    log->n = 0;
    pthread_mutex_init(&log->m, NULL);
    latch_init(&log->count);
    cr_assert_eq(tr_spawn(sys, &subscriber, log, NULL, &s), TR_OK);
    cr_assert_eq(tr_breaker_subscribe(sys, b, s), TR_OK);
    return b;
}

/* The model of the breaker the test predicts with. */
typedef struct model {
    tr_breaker_state state;
    uint32_t failures, threshold;
    tr_breaker_state ev_from[MAX_EVENTS], ev_to[MAX_EVENTS];
    int nev;
} model;

static void model_move(model *m, tr_breaker_state to)
{
    m->ev_from[m->nev] = m->state;
    m->ev_to[m->nev++] = to;
    m->state = to;
    if (to != TR_BREAKER_OPEN)
        m->failures = 0;
}

static void run_seed(uint64_t seed)
{
    tr_system *sys = make_system(2);
    target_cfg tc = {.seed = seed};
    tr_ref t, b;
    cr_assert_eq(tr_spawn(sys, &target, &tc, NULL, &t), TR_OK);
    tr_breaker_config cfg = {.target = t, .failure_threshold = 3, .reset_timeout_ms = 5,
                             .call_timeout_ms = 300, .reply_failed = reply_is_error};
    sub_log log;
    b = start_watched(sys, &cfg, &log);

    model m = {.state = TR_BREAKER_CLOSED, .threshold = 3};
    uint64_t k = 0; /* requests that reached the target */
    int opens = 0;
    for (int call = 0; call < 60; call++) {
        if (m.state == TR_BREAKER_OPEN) {
            /* the reset timeout turns it half-open: wait for that event
             * (fail-fast while open: open_refuses_calls_without_reaching_the_target) */
            cr_assert(latch_wait(&log.count, m.nev + 1, WAIT_MS));
            model_move(&m, TR_BREAKER_HALF_OPEN);
            cr_assert_eq(atomic_load(&tc.requests), (long)k, "nothing reached the target while open");
            continue;
        }
        enum fate f = fate(seed, k++);
        int expect = f == FATE_OK ? TR_OK : f == FATE_ERROR ? TR_EFAILED : TR_ETIMEDOUT;
        tr_outcome o;
        void *reply = NULL;
        cr_assert_eq(tr_breaker_call_wait(sys, b, MSG_REQ, "q", 1, WAIT_MS, &o, &reply), TR_OK);
        cr_assert_eq(o.status, expect, "seed %llu call %d: %s", (unsigned long long)seed, call,
                     tr_strerror(o.status));
        cr_assert_eq(o.attempts, 1);
        if (f != FATE_SILENT)
            cr_assert(reply != NULL && memcmp(reply, f == FATE_OK ? "ok" : "err", o.reply_size) == 0);
        free(reply);
        if (m.state == TR_BREAKER_HALF_OPEN) {
            model_move(&m, f == FATE_OK ? TR_BREAKER_CLOSED : TR_BREAKER_OPEN);
        } else if (f == FATE_OK) {
            m.failures = 0;
        } else if (++m.failures >= m.threshold) {
            model_move(&m, TR_BREAKER_OPEN);
        }
        if (m.state == TR_BREAKER_OPEN)
            opens++;
        /* the breaker publishes before it answers: its events are in */
        cr_assert(latch_wait(&log.count, m.nev, WAIT_MS));
    }
    cr_assert_gt(opens, 0, "seed %llu never opened the breaker: pick another", (unsigned long long)seed);
    cr_assert_eq(latch_get(&log.count), m.nev, "no state change beyond the model's");
    pthread_mutex_lock(&log.m);
    for (int i = 0; i < m.nev; i++) {
        cr_assert_eq(log.ev[i].from, m.ev_from[i], "seed %llu event %d", (unsigned long long)seed, i);
        cr_assert_eq(log.ev[i].to, m.ev_to[i], "seed %llu event %d", (unsigned long long)seed, i);
        cr_assert(tr_ref_equal(log.ev[i].breaker, b));
        if (log.ev[i].to == TR_BREAKER_OPEN && log.ev[i].from == TR_BREAKER_CLOSED)
            cr_assert_eq(log.ev[i].failures, 3);
    }
    pthread_mutex_unlock(&log.m);
    tr_system_destroy(sys);
    latch_fini(&log.count);
    pthread_mutex_destroy(&log.m);
}

Test(breaker, transitions_follow_the_seeded_faults)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        run_seed(seed);
}

Test(breaker, open_refuses_calls_without_reaching_the_target)
{
    cr_assert_str_eq(tr_strerror(TR_EOPEN), "circuit breaker open: call refused without trying");
    tr_system *sys = make_system(2);
    tr_breaker_config none = {0};
    tr_ref t, b;
    cr_assert_eq(tr_breaker_start(sys, &none, NULL, &b), TR_EINVAL, "a target is required");

    /* every reply is judged a failure; a seed whose first two are replies */
    target_cfg tc = {.seed = 1};
    while (fate(tc.seed, 0) == FATE_SILENT || fate(tc.seed, 1) == FATE_SILENT)
        tc.seed++;
    cr_assert_eq(tr_spawn(sys, &target, &tc, NULL, &t), TR_OK);
    tr_breaker_config cfg = {.target = t, .failure_threshold = 2, .reset_timeout_ms = 600000,
                             .reply_failed = reply_is_any};
    sub_log log;
    b = start_watched(sys, &cfg, &log);
    tr_outcome o;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tr_breaker_call_wait(sys, b, MSG_REQ, "q", 1, WAIT_MS, &o, NULL), TR_OK);
        cr_assert_eq(o.status, TR_EFAILED);
    }
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(tr_breaker_call_wait(sys, b, MSG_REQ, "q", 1, WAIT_MS, &o, NULL), TR_OK);
        cr_assert_eq(o.status, TR_EOPEN);
        cr_assert_eq(o.attempts, 0);
    }
    cr_assert_eq(atomic_load(&tc.requests), 2, "the open breaker never called the target");
    cr_assert(latch_wait(&log.count, 1, WAIT_MS));
    cr_assert_eq(log.ev[0].from, TR_BREAKER_CLOSED);
    cr_assert_eq(log.ev[0].to, TR_BREAKER_OPEN);
    cr_assert_eq(log.ev[0].failures, 2);
    tr_system_destroy(sys);
    latch_fini(&log.count);
    pthread_mutex_destroy(&log.m);
}

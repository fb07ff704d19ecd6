/* tr_retry_ask under a seeded fault injector: a flaky target whose answer
 * to its kth request (ok, an error reply, or silence) is a hash of (seed,
 * k), so the test computes from the same seed how many attempts the retry
 * makes and what it returns, and checks exactly that. Also: the full-jitter
 * backoff's bounds and determinism, the deadline, a dead target. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "tests/support/fates.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

enum { MSG_REQ = TR_MSG_USER, MSG_GO };
/* The injector: silent_pct% silent, error replies up to 50% */
static enum fate fate(uint64_t seed, uint64_t k, int silent_pct)
{
    return fate_of(seed, k, (unsigned)silent_pct, 50);
}

typedef struct flaky_cfg {
    uint64_t seed;
    int silent_pct;
    atomic_long requests;
} flaky_cfg;

static int flaky_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(flaky_cfg **)state = arg;
    return TR_OK;
}

/* Replies "ok:<k>" or "err:<k>", or nothing. */
static int flaky_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    flaky_cfg *c = *(flaky_cfg **)state;
    long k = atomic_fetch_add(&c->requests, 1);
    enum fate f = fate(c->seed, (uint64_t)k, c->silent_pct);
    if (f == FATE_SILENT)
        return TR_OK;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%s:%ld", f == FATE_OK ? "ok" : "err", k);
    return tr_reply(self, msg, buf, (size_t)n);
}

static const tr_behaviour flaky = {
    .init = flaky_init, .handle = flaky_handle, .state_size = sizeof(flaky_cfg *)};

static bool reply_is_error(const void *reply, size_t size, void *ctx)
{
    (void)ctx;
    return size >= 4 && memcmp(reply, "err:", 4) == 0;
}

/* The client: one tr_retry_ask on MSG_GO, records the outcome. */
typedef struct client_cfg {
    tr_ref target;
    tr_retry_policy policy;
    uint64_t corr;
    atomic_int status, attempts, got_timeout, corr_ok;
    char reply[32];
    latch done;
} client_cfg;

static int client_init(tr_ctx *self, void *state, void *arg)
{
    client_cfg *c = arg;
    *(client_cfg **)state = c;
    return tr_retry_ask(self, c->target, MSG_REQ, "q", 1, &c->policy, &c->corr);
}

static int client_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    client_cfg *c = *(client_cfg **)state;
    if (msg->type == TR_MSG_ASK_TIMEOUT) {
        atomic_store(&c->got_timeout, 1);
        latch_add(&c->done, 1);
    } else if (msg->type == TR_MSG_REPLY) {
        tr_outcome o;
        const void *bytes;
        atomic_store(&c->corr_ok, msg->corr == c->corr);
        if (tr_outcome_parse(msg, &o, &bytes) == TR_OK) {
            atomic_store(&c->status, o.status);
            atomic_store(&c->attempts, (int)o.attempts);
            if (o.reply_size > 0 && o.reply_size < sizeof(c->reply)) {
                memcpy(c->reply, bytes, o.reply_size);
                c->reply[o.reply_size] = '\0';
            }
        } else {
            atomic_store(&c->status, -1);
        }
        latch_add(&c->done, 1);
    }
    return TR_OK;
}

static const tr_behaviour client = {
    .init = client_init, .handle = client_handle, .state_size = sizeof(client_cfg *)};

static void run_client(tr_system *sys, client_cfg *c)
{
    latch_init(&c->done);
    atomic_store(&c->status, -2);
    tr_ref cl;
    cr_assert_eq(tr_spawn(sys, &client, c, NULL, &cl), TR_OK);
    cr_assert(latch_wait(&c->done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&c->got_timeout), 0, "the retrier answered");
    cr_assert(atomic_load(&c->corr_ok));
}

/* Across seeds: the retry stops at the first good reply, or after
 * max_attempts failures, exactly as the injector's sequence says. */
Test(retry, attempts_follow_the_seeded_faults)
{
    tr_system *sys = make_system(2);
    for (uint64_t seed = 1; seed <= 12; seed++) {
        flaky_cfg fc = {.seed = seed, .silent_pct = 10};
        tr_ref t;
        cr_assert_eq(tr_spawn(sys, &flaky, &fc, NULL, &t), TR_OK);
        client_cfg c = {.target = t,
                        .policy = {.max_attempts = 4, .attempt_timeout_ms = 300, .base_delay_ms = 2,
                                   .max_delay_ms = 10, .seed = seed, .reply_failed = reply_is_error}};
        /* the model: the first k in 0..3 whose fate is ok */
        int expect_attempts = 4, expect_status = TR_OK;
        enum fate last = FATE_OK;
        for (int k = 0; k < 4; k++) {
            last = fate(seed, (uint64_t)k, 10);
            if (last == FATE_OK) {
                expect_attempts = k + 1;
                break;
            }
        }
        if (last != FATE_OK)
            expect_status = last == FATE_SILENT ? TR_ETIMEDOUT : TR_EFAILED;
        run_client(sys, &c);
        cr_assert_eq(atomic_load(&c.attempts), expect_attempts, "seed %llu",
                     (unsigned long long)seed);
        cr_assert_eq(atomic_load(&c.status), expect_status, "seed %llu: %s",
                     (unsigned long long)seed, tr_strerror(atomic_load(&c.status)));
        if (expect_status != TR_ETIMEDOUT) {
            char want[32];
            snprintf(want, sizeof(want), "%s:%d", expect_status == TR_OK ? "ok" : "err",
                     expect_attempts - 1);
            cr_assert_str_eq(c.reply, want);
        }
        cr_assert_eq(atomic_load(&fc.requests), expect_attempts, "no attempt beyond the outcome");
        tr_kill(sys, t);
        tr_await_exit(sys, t, -1, NULL);
        latch_fini(&c.done);
    }
    tr_system_destroy(sys);
}

Test(retry, a_dead_target_exhausts_the_attempts_with_its_error)
{
    tr_system *sys = make_system(2);
    flaky_cfg fc = {.seed = 1};
    tr_ref t;
    cr_assert_eq(tr_spawn(sys, &flaky, &fc, NULL, &t), TR_OK);
    tr_kill(sys, t);
    tr_await_exit(sys, t, -1, NULL);
    client_cfg c = {.target = t, .policy = {.max_attempts = 3, .base_delay_ms = 1, .max_delay_ms = 2}};
    run_client(sys, &c);
    cr_assert_eq(atomic_load(&c.status), TR_EDEAD);
    cr_assert_eq(atomic_load(&c.attempts), 3);
    tr_system_destroy(sys);
    latch_fini(&c.done);
}

/* A target that never answers and a deadline shorter than the attempts:
 * the retry ends with TR_ETIMEDOUT before its attempts run out. */
Test(retry, the_deadline_ends_it_before_the_attempts_run_out)
{
    tr_system *sys = make_system(2);
    flaky_cfg fc = {.seed = 1, .silent_pct = 100};
    tr_ref t;
    cr_assert_eq(tr_spawn(sys, &flaky, &fc, NULL, &t), TR_OK);
    client_cfg c = {.target = t,
                    .policy = {.max_attempts = 1000, .attempt_timeout_ms = 20, .base_delay_ms = 1,
                               .max_delay_ms = 5, .deadline_ms = 200}};
    run_client(sys, &c);
    cr_assert_eq(atomic_load(&c.status), TR_ETIMEDOUT);
    cr_assert_lt(atomic_load(&c.attempts), 1000);
    cr_assert_geq(atomic_load(&c.attempts), 1);
    tr_system_destroy(sys);
    latch_fini(&c.done);
}

Test(retry, full_jitter_stays_under_the_capped_exponential_and_replays_by_seed)
{
    uint64_t a = 42, b = 42;
    uint32_t max_seen[12] = {0};
    for (int round = 0; round < 200; round++) {
        for (uint32_t attempt = 1; attempt <= 12; attempt++) {
            uint32_t cap = 10u << (attempt - 1);
            if (cap > 1000)
                cap = 1000;
            uint32_t d = tr_backoff_full_jitter(10, 1000, attempt, &a);
            cr_assert_leq(d, cap, "attempt %u: %u > %u", attempt, d, cap);
            cr_assert_eq(d, tr_backoff_full_jitter(10, 1000, attempt, &b), "same seed, same delay");
            if (d > max_seen[attempt - 1])
                max_seen[attempt - 1] = d;
        }
    }
    /* the spread grows with the attempt (200 draws nearly reach each cap) */
    cr_assert_gt(max_seen[5], max_seen[0]);
    cr_assert_gt(max_seen[11], 500);
    cr_assert_eq(tr_backoff_full_jitter(10, 1000, 0, &a), 0);
}

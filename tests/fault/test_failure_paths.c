/* Supervisors on the failure paths, scenario by scenario against OTP's
 * supervisor (issue 15): escalation with a child that does not stop, start
 * order, start failures, stopping siblings, reaching the intensity, a
 * supervisor's own stop, a huge intensity, a cancelled transient child.
 * Only the API that existed before the issue is used, so each test also
 * shows the old behaviour failing. Logs: an uppercase letter when a child's
 * init begins, lowercase when it returns TR_OK; the end log gets the
 * child's letter in terminate. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "tests/support/latch.h"
#include "tests/support/order_log.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_FAIL = TR_MSG_USER, MSG_SLOW };

/* How one child behaves; its arg. */
typedef struct kid_cfg {
    char letter;
    int init_ms;         /* init sleeps this long */
    int fail_init_from;  /* init fails from its nth run on (1 = every run); 0 = never */
    atomic_int inits;    /* init runs so far */
    atomic_int slow_done; /* MSG_SLOW handled */
    atomic_int last_reason;
} kid_cfg;

static order_log start_log = ORDER_LOG_INIT, end_log = ORDER_LOG_INIT;
static latch init_ends, slow_started;

static void reset(void)
{
    order_log_clear(&start_log);
    order_log_clear(&end_log);
    latch_init(&init_ends);
    latch_init(&slow_started);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int kid_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    kid_cfg *c = arg;
    *(kid_cfg **)state = c;
    order_log_add(&start_log, (char)(c->letter - 'a' + 'A'));
    int run = atomic_fetch_add(&c->inits, 1) + 1;
    if (c->init_ms > 0)
        sleep_ms(c->init_ms);
    if (c->fail_init_from > 0 && run >= c->fail_init_from)
        return TR_EUSER + 3;
    order_log_add(&start_log, c->letter);
    latch_add(&init_ends, 1);
    return TR_OK;
}

static int kid_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    kid_cfg *c = *(kid_cfg **)state;
    if (msg->type == MSG_FAIL)
        return TR_EUSER + 9;
    if (msg->type == MSG_SLOW) {
        latch_add(&slow_started, 1);
        sleep_ms(*(const int *)msg->data);
        atomic_fetch_add(&c->slow_done, 1);
    }
    return TR_OK;
}

static void kid_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    kid_cfg *c = *(kid_cfg **)state;
    atomic_store(&c->last_reason, reason);
    order_log_add(&end_log, c->letter);
}

static const tr_behaviour kid = {.init = kid_init, .handle = kid_handle,
                                 .terminate = kid_terminate, .state_size = sizeof(kid_cfg *)};

static kid_cfg cfgs[3];

static void specs3(tr_child_spec out[3])
{
    for (int i = 0; i < 3; i++) {
        memset(&cfgs[i], 0, sizeof(cfgs[i]));
        cfgs[i].letter = (char)('a' + i);
        static char ids[3][2] = {"a", "b", "c"};
        out[i] = (tr_child_spec){.id = ids[i], .beh = &kid, .arg = &cfgs[i],
                                 .restart = TR_PERMANENT,
                                 .opts = {.mailbox_capacity = 4096}};
    }
}

static void log_is(order_log *log, const char *want)
{
    char got[ORDER_LOG_MAX];
    order_log_get(log, got);
    cr_assert_str_eq(got, want);
}

static tr_ref child_ref(tr_system *sys, tr_ref sup, const char *id)
{
    tr_ref r;
    cr_assert_eq(tr_supervisor_child(sys, sup, id, 10000, &r), TR_OK, "child %s", id);
    return r;
}

/* Queues n MSG_SLOW of ms each on `to` and waits until the first began. */
static void give_slow_work(tr_system *sys, tr_ref to, int n, int ms)
{
    long before = latch_get(&slow_started);
    for (int i = 0; i < n; i++)
        cr_assert_eq(tr_post(sys, to, MSG_SLOW, &ms, sizeof(ms), -1), TR_OK);
    cr_assert(latch_wait(&slow_started, before + 1, 10000));
}

/* 1. A nested supervisor reaching its intensity while a child has 10 s of
 * queued work: OTP kills that child at its shutdown time (200 ms) and the
 * parent restarts the nested supervisor. */
Test(failure_paths, escalation_kills_a_busy_child_at_its_shutdown_time)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec inner_specs[3];
    specs3(inner_specs);
    inner_specs[2].shutdown_ms = 200; /* c: the busy one, last started, stopped first */
    tr_sup_flags inner_flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 0, .period_ms = 60000};
    tr_sup_spec *inner;
    cr_assert_eq(tr_sup_spec_create(&inner_flags, inner_specs, 3, &inner), TR_OK);
    tr_child_spec mid = {.id = "inner", .beh = &tr_supervisor_behaviour, .arg = inner,
                         .restart = TR_PERMANENT, .is_supervisor = true};
    tr_sup_flags outer_flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000};
    tr_ref outer;
    cr_assert_eq(tr_supervisor_start(sys, &outer_flags, &mid, 1, NULL, &outer), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    tr_ref in1 = child_ref(sys, outer, "inner");
    tr_ref c = child_ref(sys, in1, "c");
    give_slow_work(sys, c, 400, 25);
    cr_assert_eq(tr_post(sys, child_ref(sys, in1, "a"), MSG_FAIL, NULL, 0, -1), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, c, 60000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EKILLED, "killed at its shutdown time, got %s", tr_strerror(reason));
    cr_assert_lt(atomic_load(&cfgs[2].slow_done), 400, "it did not drain its 10 s of work");
    cr_assert_eq(tr_await_exit(sys, in1, 60000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY);
    cr_assert(latch_wait(&init_ends, 6, 10000), "the outer supervisor restarted the inner one");
    tr_system_destroy(sys);
    tr_sup_spec_destroy(inner);
}

/* 2. OTP starts a child only after the previous child's init returned, at
 * the start and in every group restart. */
Test(failure_paths, inits_run_one_at_a_time_in_list_order)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    for (int i = 0; i < 3; i++)
        cfgs[i].init_ms = 20;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ALL, .intensity = 100, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    char want[ORDER_LOG_MAX] = "AaBbCc";
    log_is(&start_log, want);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(tr_post(sys, child_ref(sys, sup, i % 2 ? "b" : "c"), MSG_FAIL, NULL, 0, -1),
                     TR_OK);
        cr_assert(latch_wait(&init_ends, 3 * (i + 2), 10000));
        strcat(want, "AaBbCc");
        log_is(&start_log, want);
    }
    tr_system_destroy(sys);
}

/* 3. start_link returns the first init's error, starts nothing after it,
 * does not retry, and stops what it started (last first). */
Test(failure_paths, a_failing_init_fails_the_start_and_starts_nothing_after_it)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    cfgs[1].fail_init_from = 1;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup;
    int rc = tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup);
    cr_assert_eq(rc, TR_EUSER + 3, "the init's reason, got %s", tr_strerror(rc));
    log_is(&start_log, "AaB");
    log_is(&end_log, "ba"); /* b failed, then a was stopped: before the call returned */
    cr_assert_eq(atomic_load(&cfgs[1].inits), 1, "not retried");
    cr_assert_eq(atomic_load(&cfgs[2].inits), 0, "c never started");
    tr_system_destroy(sys);
}

/* 3b. A group restart whose init fails stops what it restarted and tries
 * again (each try counts as a restart); the children after the failing one
 * are not started. */
Test(failure_paths, a_failing_init_in_a_group_restart_starts_nothing_after_it)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    cfgs[1].fail_init_from = 2; /* b starts once, then never again */
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ALL, .intensity = 3, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "a"), MSG_FAIL, NULL, 0, -1), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY);
    /* restart 1 (a's crash), 2 and 3 (b's failed inits); the 4th is over budget */
    log_is(&start_log, "AaBbCcAaBAaBAaB");
    tr_system_destroy(sys);
}

/* 4. One-for-all stops the siblings one at a time, last started first, each
 * within its shutdown: c (busy) has ended before b is asked to stop. */
Test(failure_paths, group_restart_stops_siblings_one_at_a_time_last_first)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ALL, .intensity = 10, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    give_slow_work(sys, child_ref(sys, sup, "c"), 8, 30);
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "a"), MSG_FAIL, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&init_ends, 6, 10000));
    log_is(&end_log, "acb");
    cr_assert_eq(atomic_load(&cfgs[2].slow_done), 8, "c drained within its shutdown");
    log_is(&start_log, "AaBbCcAaBbCc");
    tr_system_destroy(sys);
}

/* 5. Reaching the intensity: the others are stopped last first, each within
 * its shutdown (c, busy for 10 s, is killed at 200 ms), then the supervisor
 * fails. */
Test(failure_paths, reaching_intensity_stops_the_others_last_first_within_shutdown)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    specs[2].shutdown_ms = 200;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 0, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    give_slow_work(sys, child_ref(sys, sup, "c"), 400, 25);
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "b"), MSG_FAIL, NULL, 0, -1), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 60000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY);
    log_is(&end_log, "bca");
    cr_assert_eq(atomic_load(&cfgs[2].last_reason), TR_EKILLED);
    cr_assert_lt(atomic_load(&cfgs[2].slow_done), 400);
    cr_assert_eq(atomic_load(&cfgs[0].last_reason), TR_ESHUTDOWN);
    tr_system_destroy(sys);
}

/* 6. A top-level supervisor's stop waits for its children's shutdowns
 * (5.4 s of draining here) instead of a 5 s deadline of its own. A worker
 * each: the supervisor takes its stop at once while the children drain. */
Test(failure_paths, a_supervisor_stop_waits_for_its_childrens_shutdowns, .timeout = 120)
{
    reset();
    tr_system *sys = make_system(4);
    tr_child_spec specs[3];
    specs3(specs);
    for (int i = 0; i < 3; i++)
        specs[i].shutdown_ms = 30000;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    int ms = 90;
    for (int i = 0; i < 3; i++) {
        tr_ref k = child_ref(sys, sup, (const char[]){(char)('a' + i), 0});
        for (int j = 0; j < 60; j++)
            cr_assert_eq(tr_post(sys, k, MSG_SLOW, &ms, sizeof(ms), -1), TR_OK);
    }
    cr_assert_eq(tr_stop(sys, sup), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 60000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ESHUTDOWN, "got %s", tr_strerror(reason));
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(atomic_load(&cfgs[i].last_reason), TR_ESHUTDOWN, "child %d", i);
        cr_assert_eq(atomic_load(&cfgs[i].slow_done), 60, "child %d drained", i);
    }
    log_is(&end_log, "cba");
    tr_system_destroy(sys);
}

/* 7. The restart history costs memory per restart in the period, not per
 * allowed restart: a huge intensity starts and works. */
Test(failure_paths, a_huge_intensity_just_works)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = UINT32_MAX - 1,
                          .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 1, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 1, 10000));
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(tr_post(sys, child_ref(sys, sup, "a"), MSG_FAIL, NULL, 0, -1), TR_OK);
        cr_assert(latch_wait(&init_ends, 2 + i, 10000), "restart %d", i);
    }
    cr_assert_neq(tr_actor_state_of(sys, sup), TR_STATE_DEAD);
    tr_system_destroy(sys);
}

/* 8. A token cancellation is an ordered shutdown: a transient child stopped
 * by its token is not restarted (decided so: README, supervisor.h). */
Test(failure_paths, a_cancelled_transient_child_is_not_restarted)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    specs[0].restart = TR_TRANSIENT;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 1, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 1, 10000));
    tr_ref a = child_ref(sys, sup, "a");
    tr_token *tok;
    cr_assert_eq(tr_token_create(sys, NULL, &tok), TR_OK);
    cr_assert_eq(tr_token_bind(tok, a), TR_OK);
    tr_token_cancel(tok);
    int reason;
    cr_assert_eq(tr_await_exit(sys, a, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ECANCELLED);
    /* until the supervisor has handled a's DOWN, it may still report a */
    tr_ref now;
    int rc;
    while ((rc = tr_supervisor_child(sys, sup, "a", 10000, &now)) == TR_OK && now.id == a.id)
        ;
    cr_assert_eq(rc, TR_ENOTFOUND, "not restarted");
    cr_assert_eq(atomic_load(&cfgs[0].inits), 1);
    tr_token_destroy(tok);
    tr_system_destroy(sys);
}

/* A linked actor's abnormal exit: a supervisor traps it (as OTP's do),
 * stops its children in order, each within its shutdown, then fails with
 * that reason, instead of the runtime stopping them all at once. */
static int crash_now(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_EUSER + 7;
}
static const tr_behaviour crasher = {.handle = crash_now};

Test(failure_paths, a_linked_crash_stops_the_children_in_order_first)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs);
    specs[2].shutdown_ms = 200;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup, buddy;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&init_ends, 3, 10000));
    cr_assert_eq(tr_spawn(sys, &crasher, NULL, NULL, &buddy), TR_OK);
    cr_assert_eq(tr_link(sys, sup, buddy), TR_OK);
    give_slow_work(sys, child_ref(sys, sup, "c"), 400, 25);
    cr_assert_eq(tr_post(sys, buddy, MSG_FAIL, NULL, 0, -1), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 60000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EUSER + 7, "the linked actor's reason, got %s", tr_strerror(reason));
    log_is(&end_log, "cba");
    cr_assert_eq(atomic_load(&cfgs[2].last_reason), TR_EKILLED);
    cr_assert_lt(atomic_load(&cfgs[2].slow_done), 400);
    tr_system_destroy(sys);
}

/* Supervisor strategies, restart types, intensity and escalation: each
 * strategy restarts exactly the right children, in list order. One worker
 * makes start order observable (inits run in spawn order). */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "tests/support/latch.h"
#include "tests/support/order_log.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_FAIL = TR_MSG_USER, MSG_QUIT };

static order_log start_log = ORDER_LOG_INIT, end_log = ORDER_LOG_INIT;
static latch starts, ends;

static void log_reset(void)
{
    order_log_clear(&start_log);
    order_log_clear(&end_log);
    latch_init(&starts);
    latch_init(&ends);
}

static int child_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state;
    order_log_add(&start_log, *(const char *)arg);
    latch_add(&starts, 1);
    return TR_OK;
}

static int child_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_FAIL)
        return TR_EUSER + 9;
    if (msg->type == MSG_QUIT)
        tr_stop_self(self);
    return TR_OK;
}

static void child_terminate(tr_ctx *self, void *state, int reason)
{
    (void)reason;
    char name[8];
    tr_actor_name(tr_ctx_system(self), tr_self(self), name, sizeof(name));
    (void)state;
    order_log_add(&end_log, name[0]);
    latch_add(&ends, 1);
}

static const tr_behaviour child = {.init = child_init, .handle = child_handle, .terminate = child_terminate};

static char ids[3][2] = {"a", "b", "c"};

static void specs3(tr_child_spec out[3], tr_restart restart)
{
    for (int i = 0; i < 3; i++)
        out[i] = (tr_child_spec){.id = ids[i], .beh = &child, .arg = ids[i], .restart = restart};
}

static tr_ref child_ref(tr_system *sys, tr_ref sup, const char *id)
{
    tr_ref r;
    cr_assert_eq(tr_supervisor_child(sys, sup, id, 10000, &r), TR_OK, "child %s", id);
    return r;
}

static void log_is(order_log *log, const char *want)
{
    char got[ORDER_LOG_MAX];
    order_log_get(log, got);
    cr_assert_str_eq(got, want);
}

static tr_ref start3(tr_system *sys, tr_strategy strategy, tr_restart restart)
{
    tr_child_spec specs[3];
    specs3(specs, restart);
    tr_sup_flags flags = {.strategy = strategy, .intensity = 10, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&starts, 3, 10000));
    log_is(&start_log, "abc");
    return sup;
}

Test(strategies, one_for_one_restarts_only_the_failed_child)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref sup = start3(sys, TR_ONE_FOR_ONE, TR_PERMANENT);
    tr_ref a = child_ref(sys, sup, "a"), b = child_ref(sys, sup, "b"), c = child_ref(sys, sup, "c");
    cr_assert_eq(tr_post(sys, b, MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&starts, 4, 10000));
    log_is(&start_log, "abcb");
    cr_assert_eq(child_ref(sys, sup, "a").id, a.id);
    cr_assert_neq(child_ref(sys, sup, "b").id, b.id);
    cr_assert_eq(child_ref(sys, sup, "c").id, c.id);
    cr_assert_eq(tr_actor_state_of(sys, b), TR_STATE_DEAD);
    tr_system_destroy(sys);
}

Test(strategies, one_for_all_restarts_everyone_in_order)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref sup = start3(sys, TR_ONE_FOR_ALL, TR_PERMANENT);
    tr_ref a = child_ref(sys, sup, "a"), c = child_ref(sys, sup, "c");
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "b"), MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&starts, 6, 10000));
    log_is(&start_log, "abcabc");
    cr_assert_eq(latch_get(&ends), 3);
    int reason;
    cr_assert_eq(tr_await_exit(sys, a, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ESHUTDOWN, "siblings are stopped, not failed");
    cr_assert_eq(tr_await_exit(sys, c, 10000, NULL), TR_OK);
    tr_system_destroy(sys);
}

Test(strategies, rest_for_one_restarts_the_failed_and_later_children)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref sup = start3(sys, TR_REST_FOR_ONE, TR_PERMANENT);
    tr_ref a = child_ref(sys, sup, "a"), c = child_ref(sys, sup, "c");
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "b"), MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&starts, 5, 10000));
    log_is(&start_log, "abcbc");
    cr_assert_eq(child_ref(sys, sup, "a").id, a.id, "earlier children are untouched");
    cr_assert_neq(child_ref(sys, sup, "c").id, c.id);
    tr_system_destroy(sys);
}

Test(strategies, transient_restarts_only_after_abnormal_exit_temporary_never)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_child_spec specs[3];
    specs3(specs, TR_TRANSIENT);
    specs[2].restart = TR_TEMPORARY;
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&starts, 3, 10000));
    tr_ref a = child_ref(sys, sup, "a"), b = child_ref(sys, sup, "b"), c = child_ref(sys, sup, "c");
    cr_assert_eq(tr_post(sys, a, MSG_QUIT, NULL, 0, 0), TR_OK); /* normal exit */
    cr_assert_eq(tr_post(sys, c, MSG_FAIL, NULL, 0, 0), TR_OK); /* temporary */
    cr_assert_eq(tr_await_exit(sys, a, 10000, NULL), TR_OK);
    cr_assert_eq(tr_await_exit(sys, c, 10000, NULL), TR_OK);
    cr_assert_eq(tr_post(sys, b, MSG_FAIL, NULL, 0, 0), TR_OK); /* abnormal: restarted */
    cr_assert(latch_wait(&starts, 4, 10000));
    /* a round trip through the supervisor: it has handled every DOWN by now */
    tr_ref r;
    cr_assert_eq(tr_supervisor_child(sys, sup, "a", 10000, &r), TR_ENOTFOUND);
    cr_assert_eq(tr_supervisor_child(sys, sup, "c", 10000, &r), TR_ENOTFOUND);
    cr_assert_neq(child_ref(sys, sup, "b").id, b.id);
    log_is(&start_log, "abcb");
    tr_system_destroy(sys);
}

Test(strategies, intensity_exceeded_stops_children_and_escalates)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_child_spec specs[3];
    specs3(specs, TR_PERMANENT);
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 2, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&starts, 3, 10000));
    for (int i = 0; i < 3; i++) {
        tr_ref b;
        if (tr_supervisor_child(sys, sup, "b", 10000, &b) != TR_OK)
            break;
        cr_assert_eq(tr_post(sys, b, MSG_FAIL, NULL, 0, 0), TR_OK);
        if (i < 2)
            cr_assert(latch_wait(&starts, 4 + i, 10000));
    }
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY, "got %s", tr_strerror(reason));
    cr_assert_eq(latch_get(&starts), 5, "two restarts allowed, the third escalates");
    cr_assert_eq(latch_get(&ends), 5, "every child ended: 3 crashes of b, then a and c");
    tr_system_destroy(sys);
}

Test(strategies, stop_ends_children_one_by_one_in_reverse_start_order)
{
    log_reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[3];
    specs3(specs, TR_PERMANENT);
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&starts, 3, 10000));
    cr_assert_eq(tr_stop(sys, sup), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ESHUTDOWN);
    log_is(&end_log, "cba");
    cr_assert_eq(latch_get(&starts), 3, "nothing restarted during shutdown");
    tr_system_destroy(sys);
}

/* ---- escalation one level up: an outer supervisor restarts the inner one ---- */

Test(strategies, exceeded_inner_supervisor_is_restarted_by_outer)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_child_spec leaf = {.id = "a", .beh = &child, .arg = ids[0], .restart = TR_PERMANENT};
    tr_sup_flags inner_flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 0, .period_ms = 60000};
    tr_sup_spec *inner;
    cr_assert_eq(tr_sup_spec_create(&inner_flags, &leaf, 1, &inner), TR_OK);
    tr_child_spec mid = {.id = "inner", .beh = &tr_supervisor_behaviour, .arg = inner,
                         .restart = TR_PERMANENT, .is_supervisor = true};
    tr_sup_flags outer_flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000};
    tr_ref outer;
    cr_assert_eq(tr_supervisor_start(sys, &outer_flags, &mid, 1, NULL, &outer), TR_OK);
    cr_assert(latch_wait(&starts, 1, 10000));
    tr_ref in1 = child_ref(sys, outer, "inner");
    tr_ref a = child_ref(sys, in1, "a");
    cr_assert_eq(tr_post(sys, a, MSG_FAIL, NULL, 0, 0), TR_OK); /* inner allows no restart */
    int reason;
    cr_assert_eq(tr_await_exit(sys, in1, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY);
    cr_assert(latch_wait(&starts, 2, 10000), "the outer supervisor restarted the inner one");
    tr_ref in2 = child_ref(sys, outer, "inner");
    cr_assert_neq(in2.id, in1.id);
    cr_assert_neq(child_ref(sys, in2, "a").id, a.id);
    log_is(&start_log, "aa");
    tr_system_destroy(sys);
    tr_sup_spec_destroy(inner);
}

Test(strategies, bad_specs_are_refused)
{
    tr_system *sys = make_system(1);
    tr_child_spec specs[3];
    specs3(specs, TR_PERMANENT);
    tr_sup_flags flags = {0};
    tr_ref sup;
    specs[1].id = "a";
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_EINVAL, "duplicate id");
    specs3(specs, TR_PERMANENT);
    specs[0].beh = NULL;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_EINVAL);
    specs3(specs, TR_PERMANENT);
    specs[2].restart = (tr_restart)9;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_EINVAL);
    flags.strategy = (tr_strategy)7;
    specs3(specs, TR_PERMANENT);
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 3, NULL, &sup), TR_EINVAL);
    cr_assert_eq(tr_supervisor_start(NULL, &flags, specs, 3, NULL, &sup), TR_EINVAL);
    tr_system_destroy(sys);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Backoff waits at least half the nominal delay (jitter is 50%..100%), and
 * the delay doubles for each quick restart. Timers never fire early, so the
 * lower bounds are exact; no upper bound is asserted. */
Test(strategies, backoff_delays_restarts_exponentially)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_child_spec spec = {.id = "a", .beh = &child, .arg = ids[0], .backoff_initial_ms = 100,
                          .backoff_max_ms = 5000};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&starts, 1, 10000));
    uint64_t t0 = mono_ms();
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "a"), MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&starts, 2, 10000));
    uint64_t first = mono_ms() - t0;
    cr_assert_geq(first, 50, "first restart after %llu ms", (unsigned long long)first);
    uint64_t t1 = mono_ms();
    cr_assert_eq(tr_post(sys, child_ref(sys, sup, "a"), MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&starts, 3, 10000));
    uint64_t second = mono_ms() - t1;
    cr_assert_geq(second, 100, "second restart after %llu ms", (unsigned long long)second);
    log_is(&start_log, "aaa");
    tr_system_destroy(sys);
}

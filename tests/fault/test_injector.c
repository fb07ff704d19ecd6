/* The fault injector: rules fire where they say, and the same seed injects
 * the same faults (the log replays exactly), whatever the interleaving. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_STEP = TR_MSG_USER };

static latch progress; /* bumped by each start and each handled step */

static int step_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    latch_add(&progress, 1);
    return TR_OK;
}
static int step_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    latch_add(&progress, 1);
    return TR_OK;
}
static const tr_behaviour stepper = {.init = step_init, .handle = step_handle};

/* Feeds `steps` messages one at a time: each is either handled or kills the
 * current start (which the supervisor replaces), so the run is the same
 * sequence of decisions every time. Returns the printed fault log. */
static char *run_plan(uint64_t seed, const tr_fault_rule *rule, int steps, uint64_t *faults)
{
    latch_init(&progress);
    tr_fault_plan *plan;
    cr_assert_eq(tr_fault_plan_create(seed, &plan), TR_OK);
    const tr_behaviour *wrapped = tr_fault_wrap(plan, "stepper", &stepper, rule);
    cr_assert_not_null(wrapped);
    tr_system *sys = make_system(2);
    tr_child_spec spec = {.id = "s", .beh = wrapped, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 100000, .period_ms = 60000};
    tr_ref sup;
    /* like start_link, a start whose first init fails returns that failure
     * (an injected one here) with nothing left running: start again */
    int rc;
    while ((rc = tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup)) != TR_OK)
        cr_assert_geq(rc, TR_EUSER, "an injected init failure, not %s", tr_strerror(rc));
    for (int i = 0; i < steps; i++) {
        long before = latch_get(&progress);
        tr_ref s;
        while (tr_supervisor_child(sys, sup, "s", 10000, &s) != TR_OK)
            ;
        if (tr_post(sys, s, MSG_STEP, NULL, 0, -1) != TR_OK) {
            i--; /* it was mid-restart: send this step again */
            continue;
        }
        /* handled (+1), or a failure followed by a restart (+1 from init) */
        cr_assert(latch_wait(&progress, before + 1, 10000), "step %d stalled", i);
    }
    *faults = tr_fault_count(plan);
    tr_system_destroy(sys);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    tr_fault_log_print(plan, f);
    fclose(f);
    tr_fault_plan_destroy(plan);
    return text;
}

Test(injector, same_seed_replays_the_same_faults)
{
    tr_fault_rule rule = {.fail_probability = 0.05};
    uint64_t f1, f2, f3;
    char *a = run_plan(42, &rule, 400, &f1);
    char *b = run_plan(42, &rule, 400, &f2);
    char *c = run_plan(43, &rule, 400, &f3);
    cr_assert_gt(f1, 5, "p=0.05 over 400 messages injects faults (%llu)", (unsigned long long)f1);
    cr_assert_eq(f1, f2);
    cr_assert_str_eq(a, b, "the log replays exactly");
    cr_assert_str_neq(a, c, "another seed, other faults");
    cr_assert(strstr(a, "seed 42") != NULL);
    free(a);
    free(b);
    free(c);
}

Test(injector, init_and_nth_message_rules)
{
    tr_fault_rule rule = {.fail_init_first = 2, .fail_at_message = 3};
    uint64_t faults;
    char *log = run_plan(7, &rule, 10, &faults);
    /* starts 1 and 2 fail in init; each later start fails on its 3rd message:
     * 10 steps = 2+fail, 2+fail, 2+fail, 1 handled -> 3 nth failures */
    cr_assert(strstr(log, "stepper start 1 message 0: init failure") != NULL, "%s", log);
    cr_assert(strstr(log, "stepper start 2 message 0: init failure") != NULL, "%s", log);
    cr_assert(strstr(log, "stepper start 3 message 3: nth-message failure") != NULL, "%s", log);
    cr_assert_eq(faults, 5, "%s", log);
    free(log);
}

Test(injector, bad_arguments)
{
    tr_fault_plan *plan;
    cr_assert_eq(tr_fault_plan_create(1, NULL), TR_EINVAL);
    cr_assert_eq(tr_fault_plan_create(1, &plan), TR_OK);
    tr_fault_rule rule = {0};
    cr_assert_null(tr_fault_wrap(plan, NULL, &stepper, &rule));
    cr_assert_null(tr_fault_wrap(plan, "x", NULL, &rule));
    cr_assert_null(tr_fault_wrap(plan, "x", &stepper, NULL));
    tr_fault_plan_destroy(plan);
    tr_fault_plan_destroy(NULL);
}

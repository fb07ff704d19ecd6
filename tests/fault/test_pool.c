/* simple_one_for_one pools: children started at run time from one template,
 * each with its own arg; restarts by restart type with the same arg, within
 * the intensity budget; terminate_child; reverse-order shutdown; starting a
 * child from an actor. One worker keeps start order observable. */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/order_log.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_FAIL = TR_MSG_USER, MSG_QUIT, MSG_GO };

static order_log start_log = ORDER_LOG_INIT, end_log = ORDER_LOG_INIT;
static latch starts, ends;
static char args[] = "abcdefghijklmnopqrstuvwxyz";

static void log_reset(void)
{
    order_log_clear(&start_log);
    order_log_clear(&end_log);
    latch_init(&starts);
    latch_init(&ends);
}

static void log_is(order_log *log, const char *want)
{
    char got[ORDER_LOG_MAX];
    order_log_get(log, got);
    cr_assert_str_eq(got, want);
}

typedef struct kid {
    char c;
} kid;

static int kid_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    ((kid *)state)->c = *(const char *)arg;
    order_log_add(&start_log, *(const char *)arg);
    latch_add(&starts, 1);
    return TR_OK;
}

static int kid_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_FAIL)
        return TR_EUSER + 1;
    if (msg->type == MSG_QUIT)
        tr_stop_self(self);
    return TR_OK;
}

static void kid_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)reason;
    order_log_add(&end_log, ((kid *)state)->c);
    latch_add(&ends, 1);
}

static const tr_behaviour kid_beh = {.init = kid_init, .handle = kid_handle,
                                     .terminate = kid_terminate, .state_size = sizeof(kid)};

static tr_ref start_pool(tr_system *sys, tr_restart restart, uint32_t intensity)
{
    tr_child_spec tmpl = {.id = "worker", .beh = &kid_beh, .restart = restart};
    tr_sup_flags flags = {.strategy = TR_SIMPLE_ONE_FOR_ONE, .intensity = intensity, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &tmpl, 1, NULL, &sup), TR_OK);
    return sup;
}

static size_t children(tr_system *sys, tr_ref sup, tr_ref *out, size_t max)
{
    size_t n = 0;
    cr_assert_eq(tr_supervisor_children(sys, sup, 10000, out, max, &n), TR_OK);
    return n;
}

Test(pool, children_start_with_their_arg_and_restart_with_the_same_arg)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref sup = start_pool(sys, TR_PERMANENT, 10);
    cr_assert_eq(children(sys, sup, NULL, 0), 0, "a pool starts empty");
    tr_ref kids[10];
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tr_supervisor_start_child(sys, sup, &args[i], 10000, &kids[i]), TR_OK);
    cr_assert(latch_wait(&starts, 10, 10000));
    log_is(&start_log, "abcdefghij");
    tr_ref now[16];
    cr_assert_eq(children(sys, sup, now, 16), 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(now[i].id, kids[i].id, "start order");

    cr_assert_eq(tr_post(sys, kids[3], MSG_FAIL, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&starts, 11, 10000));
    log_is(&start_log, "abcdefghijd");
    cr_assert_eq(children(sys, sup, now, 16), 10);
    cr_assert_neq(now[3].id, kids[3].id, "restarted in its place, as a new actor");
    cr_assert_eq(now[4].id, kids[4].id, "the others are untouched");
    tr_system_destroy(sys);
}

Test(pool, terminate_child_stops_it_for_good)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref sup = start_pool(sys, TR_PERMANENT, 10);
    tr_ref kids[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tr_supervisor_start_child(sys, sup, &args[i], 10000, &kids[i]), TR_OK);
    cr_assert_eq(tr_supervisor_terminate_child(sys, sup, kids[1], 10000), TR_OK);
    cr_assert_eq(tr_actor_state_of(sys, kids[1]), TR_STATE_DEAD, "ended when the call returns");
    cr_assert_eq(tr_supervisor_terminate_child(sys, sup, kids[1], 10000), TR_ENOTFOUND);
    cr_assert_eq(tr_supervisor_terminate_child(sys, sup, sup, 10000), TR_ENOTFOUND);
    tr_ref now[4];
    cr_assert_eq(children(sys, sup, now, 4), 2, "not restarted, forgotten");
    cr_assert_eq(now[0].id, kids[0].id);
    cr_assert_eq(now[1].id, kids[2].id);
    cr_assert_eq(latch_get(&starts), 3);
    log_is(&end_log, "b");
    tr_system_destroy(sys);
}

Test(pool, transient_and_temporary_children)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref tsup = start_pool(sys, TR_TRANSIENT, 10), xsup = start_pool(sys, TR_TEMPORARY, 10);
    tr_ref t1, t2, x1;
    cr_assert_eq(tr_supervisor_start_child(sys, tsup, &args[0], 10000, &t1), TR_OK);
    cr_assert_eq(tr_supervisor_start_child(sys, tsup, &args[1], 10000, &t2), TR_OK);
    cr_assert_eq(tr_supervisor_start_child(sys, xsup, &args[2], 10000, &x1), TR_OK);
    cr_assert(latch_wait(&starts, 3, 10000));
    cr_assert_eq(tr_post(sys, t1, MSG_QUIT, NULL, 0, -1), TR_OK); /* normal: gone */
    cr_assert_eq(tr_post(sys, x1, MSG_FAIL, NULL, 0, -1), TR_OK); /* temporary: gone */
    cr_assert_eq(tr_await_exit(sys, t1, 10000, NULL), TR_OK);
    cr_assert_eq(tr_await_exit(sys, x1, 10000, NULL), TR_OK);
    cr_assert_eq(tr_post(sys, t2, MSG_FAIL, NULL, 0, -1), TR_OK); /* abnormal: back */
    cr_assert(latch_wait(&starts, 4, 10000));
    tr_ref now[4];
    cr_assert_eq(children(sys, tsup, now, 4), 1); /* a round trip: every DOWN handled */
    cr_assert_neq(now[0].id, t2.id);
    cr_assert_eq(children(sys, xsup, NULL, 0), 0);
    log_is(&start_log, "abcb");
    tr_system_destroy(sys);
}

Test(pool, too_many_restarts_escalate)
{
    log_reset();
    tr_system *sys = make_system(1);
    tr_ref sup = start_pool(sys, TR_PERMANENT, 2);
    tr_ref k[2];
    cr_assert_eq(tr_supervisor_start_child(sys, sup, &args[0], 10000, &k[0]), TR_OK);
    cr_assert_eq(tr_supervisor_start_child(sys, sup, &args[1], 10000, &k[1]), TR_OK);
    for (int i = 0; i < 3; i++) {
        tr_ref now[2];
        if (tr_supervisor_children(sys, sup, 10000, now, 2, NULL) != TR_OK)
            break;
        cr_assert_eq(tr_post(sys, now[0], MSG_FAIL, NULL, 0, -1), TR_OK);
        if (i < 2)
            cr_assert(latch_wait(&starts, 3 + i, 10000));
    }
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY, "got %s", tr_strerror(reason));
    cr_assert_eq(latch_get(&starts), 4, "two restarts, the third escalates");
    cr_assert_eq(latch_get(&ends), 4, "three crashes, then the other child stopped");
    tr_system_destroy(sys);
}

Test(pool, shutdown_stops_children_last_started_first)
{
    log_reset();
    tr_system *sys = make_system(2);
    tr_ref sup = start_pool(sys, TR_PERMANENT, 10);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(tr_supervisor_start_child(sys, sup, &args[i], 10000, NULL), TR_OK);
    cr_assert(latch_wait(&starts, 6, 10000));
    cr_assert_eq(tr_stop(sys, sup), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 10000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ESHUTDOWN);
    log_is(&end_log, "fedcba");
    cr_assert_eq(latch_get(&starts), 6, "nothing restarted during shutdown");
    tr_system_destroy(sys);
}

/* ---- from an actor: the async request and its reply ---- */

static tr_ref pool_sup, started_child;
static int started_rc = -1;
static latch replied;

static int starter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    uint64_t *corr = state;
    if (msg->type == MSG_GO)
        return tr_supervisor_start_child_async(self, pool_sup, &args[25], 10000, corr);
    if (msg->type == TR_MSG_REPLY && msg->corr == *corr) {
        cr_assert_eq(msg->size, sizeof(tr_sup_started));
        const tr_sup_started *r = msg->data;
        started_rc = r->rc;
        started_child = r->child;
        latch_add(&replied, 1);
    }
    return TR_OK;
}

static const tr_behaviour starter = {.handle = starter_handle, .state_size = sizeof(uint64_t)};

Test(pool, an_actor_starts_a_child_without_blocking)
{
    log_reset();
    latch_init(&replied);
    tr_system *sys = make_system(2);
    pool_sup = start_pool(sys, TR_PERMANENT, 10);
    tr_ref s;
    cr_assert_eq(tr_spawn(sys, &starter, NULL, NULL, &s), TR_OK);
    cr_assert_eq(tr_post(sys, s, MSG_GO, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&replied, 1, 10000));
    cr_assert_eq(started_rc, TR_OK);
    tr_ref now[2];
    cr_assert_eq(children(sys, pool_sup, now, 2), 1);
    cr_assert_eq(now[0].id, started_child.id);
    cr_assert(latch_wait(&starts, 1, 10000));
    log_is(&start_log, "z");
    tr_system_destroy(sys);
}

Test(pool, misuse_is_refused)
{
    tr_system *sys = make_system(1);
    tr_child_spec two[2] = {{.id = "a", .beh = &kid_beh, .arg = &args[0]},
                            {.id = "b", .beh = &kid_beh, .arg = &args[1]}};
    tr_sup_flags pool = {.strategy = TR_SIMPLE_ONE_FOR_ONE};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &pool, two, 2, NULL, &sup), TR_EINVAL, "one template only");
    cr_assert_eq(tr_supervisor_start(sys, &pool, two, 0, NULL, &sup), TR_EINVAL);
    tr_sup_flags ofo = {.strategy = TR_ONE_FOR_ONE};
    log_reset();
    cr_assert_eq(tr_supervisor_start(sys, &ofo, two, 2, NULL, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_start_child(sys, sup, &args[2], 10000, NULL), TR_EINVAL,
                 "static supervisors take no run-time children");
    tr_system_destroy(sys);
}

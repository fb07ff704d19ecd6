/* The blocking pool: blocking actors and tr_blocking_run keep the workers
 * free, results arrive as messages with their ownership rules, the pool is
 * bounded, shrinks when idle, shows in tr_metrics, and shutdown waits for
 * (or abandons past its deadline) a running call.
 *
 * Blocking functions and handlers wait on latches the test thread opens, so
 * every fact asserted is an ordering ("the fast actor handled all 1,000
 * messages while both blocking handlers were still inside their call"),
 * never a duration. Handlers never assert: they record and bump latches. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

enum { MSG_BLOCK = TR_MSG_USER, MSG_TICK, MSG_RUN, MSG_RESULT, MSG_FAIL };

/* A gate the blocking code waits on: `entered` counts arrivals, `open`
 * releases them. */
typedef struct gate {
    latch entered;
    latch open;
    latch left;
} gate;

static void gate_init(gate *g)
{
    latch_init(&g->entered);
    latch_init(&g->open);
    latch_init(&g->left);
}

static void gate_fini(gate *g)
{
    latch_fini(&g->entered);
    latch_fini(&g->open);
    latch_fini(&g->left);
}

static void gate_pass(gate *g)
{
    latch_add(&g->entered, 1);
    latch_wait(&g->open, 1, 60000);
    latch_add(&g->left, 1);
}

/* ---- a blocking actor: its handler waits at the gate ---- */

static int blocker_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(gate **)state = arg;
    return TR_OK;
}

static int blocker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    if (msg->type == MSG_BLOCK)
        gate_pass(*(gate **)state);
    else if (msg->type == MSG_FAIL)
        return TR_EUSER + 7;
    return TR_OK;
}

static const tr_behaviour blocker = {
    .init = blocker_init, .handle = blocker_handle, .state_size = sizeof(gate *)};

/* ---- a fast actor: counts ticks, and records the gate's state at the
 * last one ---- */

typedef struct fast_cfg {
    gate *g;
    long total;
    atomic_long handled;
    atomic_long left_at_last; /* gate->left when the last tick was handled */
    latch done;
} fast_cfg;

static int fast_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(fast_cfg **)state = arg;
    return TR_OK;
}

static int fast_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    fast_cfg *c = *(fast_cfg **)state;
    if (msg->type == MSG_TICK && atomic_fetch_add(&c->handled, 1) + 1 == c->total) {
        atomic_store(&c->left_at_last, latch_get(&c->g->left));
        latch_add(&c->done, 1);
    }
    return TR_OK;
}

static const tr_behaviour fast = {
    .init = fast_init, .handle = fast_handle, .state_size = sizeof(fast_cfg *)};

Test(blocking, blocking_actors_leave_both_workers_free)
{
    tr_system *sys = make_system(2);
    gate g;
    gate_init(&g);
    tr_spawn_opts bopts = {.blocking = true};
    tr_ref b1, b2, f;
    cr_assert_eq(tr_spawn(sys, &blocker, &g, &bopts, &b1), TR_OK);
    cr_assert_eq(tr_spawn(sys, &blocker, &g, &bopts, &b2), TR_OK);
    cr_assert_eq(tr_post(sys, b1, MSG_BLOCK, NULL, 0, -1), TR_OK);
    cr_assert_eq(tr_post(sys, b2, MSG_BLOCK, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&g.entered, 2, WAIT_MS), "both blocking handlers are running");

    /* two handlers block, as many as there are workers: a fast actor on
     * the workers still handles every message */
    fast_cfg fc = {.g = &g, .total = 1000};
    latch_init(&fc.done);
    cr_assert_eq(tr_spawn(sys, &fast, &fc, NULL, &f), TR_OK);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(tr_post(sys, f, MSG_TICK, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&fc.done, 1, WAIT_MS), "the fast actor handled its 1,000 messages");
    cr_assert_eq(atomic_load(&fc.left_at_last), 0, "while both blocking handlers were still blocked");

    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_geq(m.blocking_threads, 2);
    latch_add(&g.open, 1);
    cr_assert(latch_wait(&g.left, 2, WAIT_MS));
    tr_system_destroy(sys);
    latch_fini(&fc.done);
    gate_fini(&g);
}

/* ---- a blocking actor is an actor: monitors, links, supervision,
 * backpressure ---- */

typedef struct watcher_cfg {
    atomic_int reason;
    latch down;
} watcher_cfg;

static int watcher_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(watcher_cfg **)state = arg;
    return TR_OK;
}

static int watcher_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    watcher_cfg *c = *(watcher_cfg **)state;
    if (msg->type == TR_MSG_DOWN) {
        atomic_store(&c->reason, ((const tr_down *)msg->data)->reason);
        latch_add(&c->down, 1);
    }
    return TR_OK;
}

static const tr_behaviour watcher = {
    .init = watcher_init, .handle = watcher_handle, .state_size = sizeof(watcher_cfg *)};

Test(blocking, a_failing_blocking_actor_fires_its_monitor_and_is_restarted)
{
    tr_system *sys = make_system(2);
    gate g;
    gate_init(&g);
    latch_add(&g.open, 1); /* nothing waits here */
    tr_child_spec spec = {.id = "db", .beh = &blocker, .arg = &g, .opts = {.blocking = true}};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000};
    tr_ref sup, child, again;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_child(sys, sup, "db", WAIT_MS, &child), TR_OK);

    watcher_cfg wc = {0};
    latch_init(&wc.down);
    tr_ref w;
    cr_assert_eq(tr_spawn(sys, &watcher, &wc, NULL, &w), TR_OK);
    cr_assert_eq(tr_monitor(sys, w, child, NULL), TR_OK);
    cr_assert_eq(tr_post(sys, child, MSG_FAIL, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&wc.down, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&wc.reason), TR_EUSER + 7);

    /* the supervisor restarts it (a new reference), still blocking-capable */
    for (;;) {
        cr_assert_eq(tr_supervisor_child(sys, sup, "db", WAIT_MS, &again), TR_OK);
        if (!tr_ref_is_none(again) && !tr_ref_equal(again, child))
            break;
    }
    cr_assert_eq(tr_post(sys, again, MSG_BLOCK, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&g.left, 1, WAIT_MS), "the restarted child handles messages");
    tr_system_destroy(sys);
    latch_fini(&wc.down);
    gate_fini(&g);
}

/* A fast sender floods a blocking actor with a small mailbox: it is muted,
 * nothing is lost, and the order is kept. */
typedef struct sink_cfg {
    long expected, next;
    atomic_long bad_order;
    latch done;
} sink_cfg;

static int sink_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(sink_cfg **)state = arg;
    return TR_OK;
}

static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    sink_cfg *c = *(sink_cfg **)state;
    long v = *(const long *)msg->data;
    if (v != c->next)
        atomic_fetch_add(&c->bad_order, 1);
    c->next = v + 1;
    if (c->next == c->expected)
        latch_add(&c->done, 1);
    return TR_OK;
}

static const tr_behaviour sink = {
    .init = sink_init, .handle = sink_handle, .state_size = sizeof(sink_cfg *)};

typedef struct flood_cfg {
    tr_ref to;
    long n;
} flood_cfg;

static int flood_init(tr_ctx *self, void *state, void *arg)
{
    *(flood_cfg **)state = arg;
    return tr_send(self, tr_self(self), MSG_RUN, NULL, 0);
}

static int flood_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)msg;
    flood_cfg *c = *(flood_cfg **)state;
    for (long i = 0; i < c->n; i++) {
        int rc = tr_send(self, c->to, MSG_TICK, &i, sizeof(i));
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static const tr_behaviour flood = {
    .init = flood_init, .handle = flood_handle, .state_size = sizeof(flood_cfg *)};

Test(blocking, backpressure_mutes_a_sender_to_a_blocking_actor_without_loss)
{
    tr_system *sys = make_system(2);
    sink_cfg sc = {.expected = 20000};
    latch_init(&sc.done);
    tr_spawn_opts sopts = {.blocking = true, .mailbox_capacity = 8};
    tr_ref s, fl;
    cr_assert_eq(tr_spawn(sys, &sink, &sc, &sopts, &s), TR_OK);
    flood_cfg fc = {.to = s, .n = sc.expected};
    cr_assert_eq(tr_spawn(sys, &flood, &fc, NULL, &fl), TR_OK);
    cr_assert(latch_wait(&sc.done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&sc.bad_order), 0);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_gt(m.mutes, 0, "the sender was muted by the 8-message mailbox");
    cr_assert_eq(m.dead_letters, 0);
    tr_system_destroy(sys);
    latch_fini(&sc.done);
}

/* ---- tr_blocking_run ---- */

static void *nothing(void *arg) { return arg; }

typedef struct call_cfg {
    gate *g;
    int calls;             /* how many to start in init */
    bool keep;             /* tr_blocking_keep the result */
    atomic_int results;
    atomic_int bad;        /* a result with the wrong corr or value */
    atomic_int drops;      /* drop function runs */
    atomic_int kept_value; /* value taken by tr_blocking_keep */
    uint64_t ids[16];
    latch got;
    latch dropped;
} call_cfg;

/* the call's arg: the config pointer followed by an int input */
typedef struct call_arg {
    call_cfg *cfg;
    int input;
} call_arg;

static void drop_result(void *arg, void *value)
{
    call_arg *a = arg;
    call_cfg *c = a->cfg;
    free(value);
    free(a);
    atomic_fetch_add(&c->drops, 1);
    latch_add(&c->dropped, 1);
}

static void *slow_double_arg(void *arg)
{
    call_arg *a = arg;
    if (a->cfg->g != NULL)
        gate_pass(a->cfg->g);
    int *v = malloc(sizeof(int));
    *v = 2 * a->input;
    return v;
}

static int caller_init(tr_ctx *self, void *state, void *arg)
{
    call_cfg *c = arg;
    *(call_cfg **)state = c;
    for (int i = 0; i < c->calls; i++) {
        call_arg *a = malloc(sizeof(*a));
        *a = (call_arg){.cfg = c, .input = i};
        int rc = tr_blocking_run(self, slow_double_arg, a, drop_result, MSG_RESULT, &c->ids[i]);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int caller_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    call_cfg *c = *(call_cfg **)state;
    if (msg->type != MSG_RESULT)
        return TR_OK;
    const tr_blocking_result *r = msg->data;
    const call_arg *a = r->arg;
    if (msg->size != sizeof(*r) || a->cfg != c || msg->corr != c->ids[a->input] ||
        *(int *)r->value != 2 * a->input)
        atomic_fetch_add(&c->bad, 1);
    if (c->keep) {
        int *v = tr_blocking_keep(msg);
        atomic_store(&c->kept_value, *v);
        free(v);
        free(r->arg);
    }
    atomic_fetch_add(&c->results, 1);
    latch_add(&c->got, 1);
    return TR_OK;
}

static const tr_behaviour caller = {
    .init = caller_init, .handle = caller_handle, .state_size = sizeof(call_cfg *)};

static void call_cfg_init(call_cfg *c, gate *g, int calls, bool keep)
{
    *c = (call_cfg){.g = g, .calls = calls, .keep = keep};
    latch_init(&c->got);
    latch_init(&c->dropped);
}

static void call_cfg_fini(call_cfg *c)
{
    latch_fini(&c->got);
    latch_fini(&c->dropped);
}

Test(blocking, results_arrive_as_messages_and_are_dropped_after_their_handler)
{
    tr_system *sys = make_system(2);
    call_cfg c;
    call_cfg_init(&c, NULL, 8, false);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &caller, &c, NULL, &a), TR_OK);
    cr_assert(latch_wait(&c.got, 8, WAIT_MS));
    cr_assert(latch_wait(&c.dropped, 8, WAIT_MS), "drop ran after each handler");
    cr_assert_eq(atomic_load(&c.bad), 0);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.blocking_calls, 8);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&c.drops), 8, "exactly once each");
    call_cfg_fini(&c);
}

Test(blocking, keep_takes_the_result_from_the_drop_function)
{
    tr_system *sys = make_system(2);
    call_cfg c;
    call_cfg_init(&c, NULL, 1, true);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &caller, &c, NULL, &a), TR_OK);
    cr_assert(latch_wait(&c.got, 1, WAIT_MS));
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&c.bad), 0);
    cr_assert_eq(atomic_load(&c.kept_value), 0);
    cr_assert_eq(atomic_load(&c.drops), 0, "a kept result is not dropped");
    call_cfg_fini(&c);
}

/* Looks at the metrics until `done` holds (a state we wait for, with a
 * short pause between looks), or fails after WAIT_MS. */
static bool wait_metrics(tr_system *sys, tr_metrics *m, bool (*done)(const tr_metrics *))
{
    latch never;
    latch_init(&never);
    bool ok = false;
    for (int i = 0; i < WAIT_MS && !ok; i++) {
        tr_metrics_get(sys, m);
        ok = done(m);
        if (!ok)
            latch_wait(&never, 1, 1);
    }
    latch_fini(&never);
    return ok;
}

static bool queued_is_3(const tr_metrics *m) { return m->blocking_queued == 3; }
static bool no_threads(const tr_metrics *m) { return m->blocking_threads == 0; }

Test(blocking, the_pool_stops_at_its_bound_queues_the_rest_and_shrinks_when_idle)
{
    tr_system *sys = NULL;
    tr_config cfg = {.workers = 2, .blocking_threads_max = 2, .blocking_keep_alive_ms = 20};
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    gate g;
    gate_init(&g);
    call_cfg c;
    call_cfg_init(&c, &g, 5, false);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &caller, &c, NULL, &a), TR_OK);
    cr_assert(latch_wait(&g.entered, 2, WAIT_MS));
    tr_metrics m;
    /* the caller queues its 5 calls in init, before any can finish: the
     * three beyond the bound wait */
    cr_assert(wait_metrics(sys, &m, queued_is_3), "the three calls beyond the bound wait");
    cr_assert_eq(m.blocking_threads, 2, "never beyond the bound");
    cr_assert_eq(latch_get(&g.entered), 2);
    latch_add(&g.open, 1);
    cr_assert(latch_wait(&c.got, 5, WAIT_MS));
    cr_assert_eq(atomic_load(&c.bad), 0);
    /* idle for the keep-alive, both threads exit (a state we wait for, not
     * a duration we assert) */
    cr_assert(wait_metrics(sys, &m, no_threads));
    /* and it grows again on demand */
    call_cfg c2;
    call_cfg_init(&c2, NULL, 1, false);
    cr_assert_eq(tr_spawn(sys, &caller, &c2, NULL, &a), TR_OK);
    cr_assert(latch_wait(&c2.got, 1, WAIT_MS));
    tr_system_destroy(sys);
    call_cfg_fini(&c);
    call_cfg_fini(&c2);
    gate_fini(&g);
}

/* ---- shutdown ---- */

/* Opens the gate once the caller's terminate has run, i.e. once shutdown
 * is under way. */
typedef struct opener {
    gate *g;
    latch *terminated;
} opener;

static void *open_after_terminate(void *arg)
{
    opener *o = arg;
    latch_wait(o->terminated, 1, 60000);
    latch_add(&o->g->open, 1);
    return NULL;
}

static latch caller_terminated;

static void caller_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)state;
    (void)reason;
    latch_add(&caller_terminated, 1);
}

static const tr_behaviour terminating_caller = {.init = caller_init,
                                                .handle = caller_handle,
                                                .terminate = caller_terminate,
                                                .state_size = sizeof(call_cfg *)};

Test(blocking, shutdown_waits_for_a_running_call)
{
    tr_system *sys = make_system(2);
    latch_init(&caller_terminated);
    gate g;
    gate_init(&g);
    call_cfg c;
    call_cfg_init(&c, &g, 1, false);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &terminating_caller, &c, NULL, &a), TR_OK);
    cr_assert(latch_wait(&g.entered, 1, WAIT_MS));
    opener o = {.g = &g, .terminated = &caller_terminated};
    pthread_t t;
    pthread_create(&t, NULL, open_after_terminate, &o);
    tr_system_destroy(sys); /* the caller ends, then the call is let go */
    cr_assert_eq(latch_get(&g.left), 1, "destroy returned after the call finished");
    cr_assert_eq(atomic_load(&c.drops), 1, "its undeliverable result was dropped");
    cr_assert_eq(atomic_load(&c.results), 0);
    pthread_join(t, NULL);
    call_cfg_fini(&c);
    gate_fini(&g);
    latch_fini(&caller_terminated);
}

Test(blocking, shutdown_abandons_a_call_still_running_at_its_deadline)
{
    tr_system *sys = NULL;
    tr_config cfg = {.workers = 2, .shutdown_timeout_ms = 50};
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    /* static: the abandoned thread touches them after this test returns */
    static gate g;
    gate_init(&g);
    static call_cfg c;
    call_cfg_init(&c, &g, 1, false);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &caller, &c, NULL, &a), TR_OK);
    cr_assert(latch_wait(&g.entered, 1, WAIT_MS));
    tr_system_destroy(sys); /* returns although the call still blocks */
    cr_assert_eq(latch_get(&g.left), 0);
    latch_add(&g.open, 1);
    cr_assert(latch_wait(&c.dropped, 1, WAIT_MS), "the abandoned call's result is dropped");
    cr_assert_eq(atomic_load(&c.results), 0);
    /* the abandoned thread frees the pool after the drop: the latches stay */
}

Test(blocking, bad_arguments)
{
    cr_assert_eq(tr_blocking_run(NULL, nothing, NULL, NULL, MSG_RESULT, NULL), TR_EINVAL);
    cr_assert_null(tr_blocking_keep(NULL));
}

/* Out of memory: every allocation of spawn, send, ask, timers, supervisors,
 * node start and system create fails in turn (tests/support/failalloc.h, the
 * SQLite way: fail the 1st, then the 2nd, ... until the call needs no more).
 * Each call returns TR_OK or TR_ENOMEM, never crashes, never returns
 * TR_ENOMEM without a failed allocation, and leaves no trace when it fails:
 * no actor, no message, no timer; a moved buffer is freed. The ASan flavour's
 * LeakSanitizer shows nothing leaked on any path. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/failalloc.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000
#define MAX_STEPS 2000 /* no call here makes that many allocations */

enum { MSG_DATA = TR_MSG_USER, MSG_GET, MSG_GO_SEND, MSG_GO_SEND_MOVE, MSG_GO_ASK, MSG_Q, MSG_SENTINEL, MSG_TICK };

static latch sentinel;

/* A payload larger than a message node's inline buffer: sending it
 * allocates a node and a copy. */
typedef struct big {
    char bytes[512];
} big;

static big big_payload(char fill)
{
    big b;
    memset(b.bytes, fill, sizeof(b.bytes));
    return b;
}

/* ---- a sink: counts intact payloads, answers MSG_GET with the count ---- */

typedef struct sink_state {
    long good, bad;
} sink_state;

static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    sink_state *s = state;
    switch (msg->type) {
    case MSG_DATA: {
        big want = big_payload('d');
        if (msg->size == sizeof(big) && memcmp(msg->data, &want, sizeof(big)) == 0)
            s->good++;
        else
            s->bad++;
        return TR_OK;
    }
    case MSG_GET: {
        long counts[2] = {s->good, s->bad};
        return tr_reply(self, msg, counts, sizeof(counts));
    }
    case MSG_Q: {
        big b = big_payload('r');
        return tr_reply(self, msg, &b, sizeof(b));
    }
    case MSG_SENTINEL: latch_add(&sentinel, 1); return TR_OK;
    default: return TR_OK;
    }
}
static const tr_behaviour sink_beh = {.handle = sink_handle, .state_size = sizeof(sink_state)};

/* The sink's counts of intact and damaged payloads. */
static void sink_counts(tr_system *sys, tr_ref sink, long *good, long *bad)
{
    void *reply = NULL;
    size_t n = 0;
    cr_assert_eq(tr_ask_wait(sys, sink, MSG_GET, NULL, 0, WAIT_MS, &reply, &n), TR_OK);
    cr_assert_eq(n, 2 * sizeof(long));
    long counts[2];
    memcpy(counts, reply, sizeof(counts));
    free(reply);
    *good = counts[0];
    *bad = counts[1];
}

static uint64_t actors_alive(tr_system *sys)
{
    static tr_metrics m; /* large: off the stack */
    tr_metrics_get(sys, &m);
    return m.actors_alive;
}

/* One outcome of a call made with its nth allocation failing: TR_OK or
 * TR_ENOMEM, the latter only when an allocation did fail. Returns true
 * when the armed failure happened (so the next step is worth trying). */
static bool check_outcome(const char *what, long nth, int rc, bool fired, int *enomems)
{
    cr_assert(rc == TR_OK || rc == TR_ENOMEM, "%s, allocation %ld failing: %s", what, nth, tr_strerror(rc));
    if (rc == TR_ENOMEM) {
        cr_assert(fired, "%s returned TR_ENOMEM though no allocation failed", what);
        (*enomems)++;
    }
    return fired;
}

/* Every sweep must have met at least one TR_ENOMEM and ended with a call
 * that needed no more allocations than were allowed. */
static void check_sweep(const char *what, long steps, int enomems)
{
    cr_assert_lt(steps, MAX_STEPS, "%s never completed without a failure", what);
    cr_assert_gt(enomems, 0, "%s never reported TR_ENOMEM in %ld steps", what, steps);
    cr_log_info("%s: %ld allocation points, %d returned TR_ENOMEM", what, steps - 1, enomems);
}

Test(nomem, system_create)
{
    int enomems = 0;
    long nth;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_system *sys = (tr_system *)0x1;
        tr_config cfg = {.workers = 2};
        failalloc_arm(nth);
        int rc = tr_system_create(&cfg, &sys);
        bool fired = failalloc_disarm();
        check_outcome("tr_system_create", nth, rc, fired, &enomems);
        if (rc == TR_OK)
            tr_system_destroy(sys);
        else
            cr_assert_eq(sys, (tr_system *)0x1, "a failed create wrote *out");
        if (!fired)
            break;
    }
    check_sweep("tr_system_create", nth, enomems);
}

Test(nomem, spawn_named_actor)
{
    tr_system *sys = make_system(2);
    uint64_t base = actors_alive(sys);
    int enomems = 0;
    long nth;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        char name[32];
        snprintf(name, sizeof(name), "nomem-%ld", nth);
        tr_spawn_opts o = {.name = name};
        tr_ref r = TR_REF_NONE;
        failalloc_arm(nth);
        int rc = tr_spawn(sys, &sink_beh, NULL, &o, &r);
        bool fired = failalloc_disarm();
        check_outcome("tr_spawn", nth, rc, fired, &enomems);
        if (rc == TR_OK) {
            char got[32];
            cr_assert_eq(tr_actor_name(sys, r, got, sizeof(got)), TR_OK);
            cr_assert_str_eq(got, name);
            cr_assert_eq(tr_stop(sys, r), TR_OK);
            cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, NULL), TR_OK);
        } else {
            cr_assert(tr_ref_is_none(r), "a failed spawn wrote a reference");
        }
        cr_assert_eq(actors_alive(sys), base, "a failed spawn left an actor behind");
        if (!fired)
            break;
    }
    check_sweep("tr_spawn", nth, enomems);
    tr_system_destroy(sys);
}

Test(nomem, post_from_outside)
{
    tr_system *sys = make_system(2);
    tr_ref sink;
    cr_assert_eq(tr_spawn(sys, &sink_beh, NULL, NULL, &sink), TR_OK);
    big b = big_payload('d');
    int enomems = 0;
    long nth, ok = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        failalloc_arm(nth);
        int rc = tr_post(sys, sink, MSG_DATA, &b, sizeof(b), -1);
        bool fired = failalloc_disarm();
        check_outcome("tr_post", nth, rc, fired, &enomems);
        ok += rc == TR_OK;
        if (!fired)
            break;
    }
    check_sweep("tr_post", nth, enomems);
    long good, bad;
    sink_counts(sys, sink, &good, &bad);
    cr_assert_eq(good, ok, "%ld posts accepted, %ld delivered", ok, good);
    cr_assert_eq(bad, 0);
    tr_system_destroy(sys);
}

/* A moved buffer belongs to Troupe from the call on: freed on every error. */
static atomic_int moved_freed;
static void moved_free(void *p)
{
    atomic_fetch_add(&moved_freed, 1);
    free(p);
}

Test(nomem, post_move_frees_the_buffer_on_enomem)
{
    tr_system *sys = make_system(2);
    tr_ref sink;
    cr_assert_eq(tr_spawn(sys, &sink_beh, NULL, NULL, &sink), TR_OK);
    int enomems = 0;
    long nth, ok = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        big *b = malloc(sizeof(*b));
        cr_assert_not_null(b);
        *b = big_payload('d');
        int freed_before = atomic_load(&moved_freed);
        failalloc_arm(nth);
        int rc = tr_post_move(sys, sink, MSG_DATA, b, sizeof(*b), moved_free, -1);
        bool fired = failalloc_disarm();
        check_outcome("tr_post_move", nth, rc, fired, &enomems);
        if (rc == TR_ENOMEM)
            cr_assert_eq(atomic_load(&moved_freed), freed_before + 1, "a refused moved buffer was not freed");
        ok += rc == TR_OK;
        if (!fired)
            break;
    }
    check_sweep("tr_post_move", nth, enomems);
    long good, bad;
    sink_counts(sys, sink, &good, &bad);
    cr_assert_eq(good, ok);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&moved_freed), nth, "every moved buffer freed exactly once (%d of %ld)",
                 atomic_load(&moved_freed), nth);
}

/* ---- from inside an actor: tr_send, tr_send_move, tr_ask ---- */

typedef struct driver {
    tr_ref sink;
    long nth;
    int rc;
    bool fired;
    uint64_t corr;
    latch done;
    atomic_int replies;
    latch answered;
} driver;

static int driver_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(driver **)state = arg;
    return TR_OK;
}

static int driver_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    driver *d = *(driver **)state;
    switch (msg->type) {
    case MSG_GO_SEND: {
        big b = big_payload('d');
        failalloc_arm(d->nth);
        d->rc = tr_send(self, d->sink, MSG_DATA, &b, sizeof(b));
        d->fired = failalloc_disarm();
        latch_add(&d->done, 1);
        return TR_OK;
    }
    case MSG_GO_SEND_MOVE: {
        big *b = malloc(sizeof(*b));
        if (b == NULL)
            return TR_ENOMEM;
        *b = big_payload('d');
        failalloc_arm(d->nth);
        d->rc = tr_send_move(self, d->sink, MSG_DATA, b, sizeof(*b), moved_free);
        d->fired = failalloc_disarm();
        latch_add(&d->done, 1);
        return TR_OK;
    }
    case MSG_GO_ASK:
        failalloc_arm(d->nth);
        d->rc = tr_ask(self, d->sink, MSG_Q, NULL, 0, WAIT_MS, &d->corr);
        d->fired = failalloc_disarm();
        latch_add(&d->done, 1);
        return TR_OK;
    case TR_MSG_REPLY: {
        big want = big_payload('r');
        if (msg->size == sizeof(want) && memcmp(msg->data, &want, sizeof(want)) == 0 && msg->corr == d->corr)
            atomic_fetch_add(&d->replies, 1);
        latch_add(&d->answered, 1);
        return TR_OK;
    }
    case TR_MSG_ASK_TIMEOUT:
        latch_add(&d->answered, 1);
        return TR_OK;
    default: return TR_OK;
    }
}
static const tr_behaviour driver_beh = {.init = driver_init, .handle = driver_handle,
                                        .state_size = sizeof(driver *)};

/* Runs the driver's `go` call with allocation 1, 2, ... failing; returns
 * the calls that succeeded. */
static long sweep_in_actor(tr_system *sys, driver *d, tr_ref drv, uint32_t go, const char *what)
{
    int enomems = 0;
    long nth, ok = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        d->nth = nth;
        int freed_before = atomic_load(&moved_freed);
        long answered_before = latch_get(&d->answered);
        cr_assert_eq(tr_post(sys, drv, go, NULL, 0, -1), TR_OK);
        cr_assert(latch_wait(&d->done, nth, WAIT_MS));
        check_outcome(what, nth, d->rc, d->fired, &enomems);
        if (go == MSG_GO_SEND_MOVE && d->rc == TR_ENOMEM)
            cr_assert_eq(atomic_load(&moved_freed), freed_before + 1, "a refused moved buffer was not freed");
        if (go == MSG_GO_ASK && d->rc == TR_OK) /* the reply (or timeout) of this ask before the next */
            cr_assert(latch_wait(&d->answered, answered_before + 1, WAIT_MS));
        ok += d->rc == TR_OK;
        if (!d->fired)
            break;
    }
    check_sweep(what, nth, enomems);
    return ok;
}

static tr_ref start_driver(tr_system *sys, driver *d)
{
    memset(d, 0, sizeof(*d));
    latch_init(&d->done);
    latch_init(&d->answered);
    cr_assert_eq(tr_spawn(sys, &sink_beh, NULL, NULL, &d->sink), TR_OK);
    tr_ref drv;
    cr_assert_eq(tr_spawn(sys, &driver_beh, d, NULL, &drv), TR_OK);
    return drv;
}

Test(nomem, send_from_an_actor)
{
    tr_system *sys = make_system(2);
    driver d;
    tr_ref drv = start_driver(sys, &d);
    long ok = sweep_in_actor(sys, &d, drv, MSG_GO_SEND, "tr_send");
    long good, bad;
    sink_counts(sys, d.sink, &good, &bad);
    cr_assert_eq(good, ok, "%ld sends accepted, %ld delivered", ok, good);
    cr_assert_eq(bad, 0);
    tr_system_destroy(sys);
}

Test(nomem, send_move_frees_the_buffer_on_enomem)
{
    atomic_store(&moved_freed, 0);
    tr_system *sys = make_system(2);
    driver d;
    tr_ref drv = start_driver(sys, &d);
    long ok = sweep_in_actor(sys, &d, drv, MSG_GO_SEND_MOVE, "tr_send_move");
    long good, bad;
    sink_counts(sys, d.sink, &good, &bad);
    cr_assert_eq(good, ok);
    long sent = latch_get(&d.done);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&moved_freed), sent, "every moved buffer freed exactly once (%d of %ld)",
                 atomic_load(&moved_freed), sent);
}

Test(nomem, ask_from_an_actor)
{
    tr_system *sys = make_system(2);
    driver d;
    tr_ref drv = start_driver(sys, &d);
    long ok = sweep_in_actor(sys, &d, drv, MSG_GO_ASK, "tr_ask");
    cr_assert_eq(atomic_load(&d.replies), ok, "%ld asks accepted, %d answered", ok, atomic_load(&d.replies));
    tr_system_destroy(sys);
}

Test(nomem, ask_wait_from_outside)
{
    tr_system *sys = make_system(2);
    tr_ref sink;
    cr_assert_eq(tr_spawn(sys, &sink_beh, NULL, NULL, &sink), TR_OK);
    int enomems = 0;
    long nth;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        void *reply = NULL;
        size_t n = 0;
        failalloc_arm(nth);
        int rc = tr_ask_wait(sys, sink, MSG_Q, NULL, 0, WAIT_MS, &reply, &n);
        bool fired = failalloc_disarm();
        check_outcome("tr_ask_wait", nth, rc, fired, &enomems);
        if (rc == TR_OK) {
            big want = big_payload('r');
            cr_assert_eq(n, sizeof(want));
            cr_assert_eq(memcmp(reply, &want, sizeof(want)), 0);
            free(reply);
        } else {
            cr_assert_null(reply, "a failed ask handed out a reply");
        }
        if (!fired)
            break;
    }
    check_sweep("tr_ask_wait", nth, enomems);
    tr_system_destroy(sys);
}

Test(nomem, timers)
{
    tr_system *sys = make_system(2);
    tr_ref sink;
    cr_assert_eq(tr_spawn(sys, &sink_beh, NULL, NULL, &sink), TR_OK);
    big b = big_payload('d');
    int enomems = 0;
    long nth, ok = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_timer t = {.id = 0xdead};
        failalloc_arm(nth);
        int rc = tr_send_after(sys, sink, MSG_DATA, &b, sizeof(b), 1, &t);
        bool fired = failalloc_disarm();
        check_outcome("tr_send_after", nth, rc, fired, &enomems);
        if (rc == TR_OK)
            ok++;
        else
            cr_assert_eq(t.id, 0xdead, "a refused timer wrote a handle");
        if (!fired)
            break;
    }
    check_sweep("tr_send_after", nth, enomems);

    /* intervals: a refused one never fires, an accepted one is cancelled */
    enomems = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_timer t = {.id = 0xdead};
        failalloc_arm(nth);
        int rc = tr_send_interval(sys, sink, MSG_TICK, &b, sizeof(b), 60000, &t);
        bool fired = failalloc_disarm();
        check_outcome("tr_send_interval", nth, rc, fired, &enomems);
        if (rc == TR_OK)
            cr_assert_eq(tr_timer_cancel(sys, t), TR_OK);
        else
            cr_assert_eq(t.id, 0xdead, "a refused interval wrote a handle");
        if (!fired)
            break;
    }
    check_sweep("tr_send_interval", nth, enomems);

    /* every accepted one-shot (due in 1 ms) arrives before a sentinel due
     * 50 ms after the last of them was armed */
    latch_init(&sentinel);
    cr_assert_eq(tr_send_after(sys, sink, MSG_SENTINEL, NULL, 0, 50, NULL), TR_OK);
    cr_assert(latch_wait(&sentinel, 1, WAIT_MS));
    long good, bad;
    sink_counts(sys, sink, &good, &bad);
    cr_assert_eq(good, ok, "%ld timers armed, %ld delivered", ok, good);
    cr_assert_eq(bad, 0);
    latch_fini(&sentinel);
    tr_system_destroy(sys);
}

/* ---- supervisors ---- */

static int child_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    return TR_OK;
}
static const tr_behaviour child_beh = {.init = child_init, .handle = sink_handle,
                                       .state_size = sizeof(sink_state)};

Test(nomem, supervisor_start)
{
    tr_system *sys = make_system(2);
    uint64_t base = actors_alive(sys);
    tr_child_spec specs[2] = {
        {.id = "first", .beh = &child_beh, .restart = TR_PERMANENT},
        {.id = "second", .beh = &child_beh, .restart = TR_TRANSIENT},
    };
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 3, .period_ms = 5000};
    int enomems = 0;
    long nth;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_ref sup = TR_REF_NONE;
        failalloc_arm(nth);
        int rc = tr_supervisor_start(sys, &flags, specs, 2, NULL, &sup);
        bool fired = failalloc_disarm();
        check_outcome("tr_supervisor_start", nth, rc, fired, &enomems);
        if (rc == TR_OK) {
            tr_ref c;
            cr_assert_eq(tr_supervisor_child(sys, sup, "second", WAIT_MS, &c), TR_OK);
            cr_assert_eq(tr_stop(sys, sup), TR_OK);
            cr_assert_eq(tr_await_exit(sys, sup, WAIT_MS, NULL), TR_OK);
        } else {
            cr_assert(tr_ref_is_none(sup), "a failed start wrote a reference");
        }
        /* a supervisor stops its children before it ends */
        cr_assert_eq(actors_alive(sys), base, "a supervisor start left actors behind");
        if (!fired)
            break;
    }
    check_sweep("tr_supervisor_start", nth, enomems);
    tr_system_destroy(sys);
}

/* ---- node start ---- */

Test(nomem, node_start)
{
    tr_system *sys = make_system(2);
    int enomems = 0;
    long nth;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_node_opts o = {.name = "nomem", .cookie = "secret"};
        tr_node *node = NULL;
        failalloc_arm(nth);
        int rc = tr_node_start(sys, &o, &node);
        bool fired = failalloc_disarm();
        check_outcome("tr_node_start", nth, rc, fired, &enomems);
        if (rc == TR_OK) {
            cr_assert_str_eq(tr_node_name(node), "nomem");
            tr_node_stop(node);
        } else {
            cr_assert_null(node, "a failed start handed out a node");
        }
        if (!fired)
            break;
    }
    check_sweep("tr_node_start", nth, enomems);
    /* and the system can still start a node (the failed ones left no claim) */
    tr_node_opts o = {.name = "after", .cookie = "secret"};
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    tr_node_stop(node);
    tr_system_destroy(sys);
}

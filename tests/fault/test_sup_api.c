/* The supervisor API beyond the failure paths (issue 15): stable child
 * names across restarts, restart_child / delete_child, which_children and
 * count_children from outside and from an actor, inspection, the
 * asynchronous start from an actor, a pool child whose init fails, and a
 * 10k-child pool stopping last-first. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_FAIL = TR_MSG_USER, MSG_GO, MSG_QUIT };

static latch inits, replies;
static atomic_int bad_inits;

typedef struct worker {
    int handled;
    int fail_init; /* copied from the arg: init fails with TR_EUSER + 1 */
} worker;

static int worker_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    worker *w = state;
    w->fail_init = arg != NULL && *(const int *)arg;
    if (w->fail_init) {
        atomic_fetch_add(&bad_inits, 1);
        return TR_EUSER + 1;
    }
    latch_add(&inits, 1);
    return TR_OK;
}

static int worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    worker *w = state;
    if (msg->type == MSG_FAIL)
        return TR_EUSER + 2;
    if (msg->type == MSG_QUIT)
        tr_stop_self(self);
    w->handled++;
    return TR_OK;
}

static size_t worker_inspect(tr_ctx *self, void *state, char *buf, size_t cap)
{
    (void)self;
    return (size_t)snprintf(buf, cap, "handled=%d", ((worker *)state)->handled);
}

static const tr_behaviour worker_beh = {.init = worker_init, .handle = worker_handle,
                                        .inspect = worker_inspect, .state_size = sizeof(worker)};

static void reset(void)
{
    latch_init(&inits);
    latch_init(&replies);
    atomic_store(&bad_inits, 0);
}

Test(sup_api, a_named_child_keeps_its_name_across_restarts)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec spec = {.id = "db", .name = "the-db", .beh = &worker_beh};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup, first, again;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert_eq(tr_whereis(sys, "the-db", &first), TR_OK, "registered before start returns");
    cr_assert_eq(tr_lookup(sys, "the-db", 1000, &again), TR_OK);
    cr_assert_eq(again.id, first.id);
    for (int i = 0; i < 5; i++) {
        tr_ref cur;
        cr_assert_eq(tr_whereis(sys, "the-db", &cur), TR_OK);
        cr_assert_eq(tr_post(sys, cur, MSG_FAIL, NULL, 0, -1), TR_OK);
        cr_assert(latch_wait(&inits, 2 + i, 10000));
        /* registered before its init ran: the name gives the new incarnation */
        tr_ref next;
        cr_assert_eq(tr_whereis(sys, "the-db", &next), TR_OK);
        cr_assert_neq(next.id, cur.id);
        cr_assert_neq(tr_actor_state_of(sys, next), TR_STATE_DEAD);
    }
    /* a name taken by another live actor fails the start */
    tr_ref squatter;
    cr_assert_eq(tr_spawn(sys, &worker_beh, NULL, NULL, &squatter), TR_OK);
    cr_assert_eq(tr_register(sys, "taken", squatter), TR_OK);
    tr_child_spec clash = {.id = "x", .name = "taken", .beh = &worker_beh};
    tr_ref sup2;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &clash, 1, NULL, &sup2), TR_EEXIST);
    tr_system_destroy(sys);
}

Test(sup_api, terminate_restart_and_delete_a_static_child)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec specs[2] = {{.id = "a", .beh = &worker_beh}, {.id = "b", .beh = &worker_beh}};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup, a, a2;
    cr_assert_eq(tr_supervisor_start(sys, &flags, specs, 2, NULL, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_child(sys, sup, "a", 10000, &a), TR_OK);
    cr_assert_eq(tr_supervisor_restart_child(sys, sup, "a", 10000, NULL), TR_EEXIST, "running");
    cr_assert_eq(tr_supervisor_delete_child(sys, sup, "a", 10000), TR_EEXIST, "running");
    cr_assert_eq(tr_supervisor_terminate_child(sys, sup, a, 10000), TR_OK);
    tr_sup_child_info info[4];
    size_t n = 0;
    cr_assert_eq(tr_supervisor_which_children(sys, sup, 10000, info, 4, &n), TR_OK);
    cr_assert_eq(n, 2, "a terminated static child keeps its spec");
    cr_assert_str_eq(info[0].id, "a");
    cr_assert_eq(info[0].status, TR_CHILD_STOPPED);
    cr_assert(tr_ref_is_none(info[0].ref));
    cr_assert_eq(info[1].status, TR_CHILD_RUNNING);
    cr_assert_eq(tr_supervisor_restart_child(sys, sup, "a", 10000, &a2), TR_OK);
    cr_assert_neq(a2.id, a.id);
    cr_assert_neq(tr_actor_state_of(sys, a2), TR_STATE_DEAD, "started when the call returns");
    cr_assert_eq(tr_supervisor_terminate_child(sys, sup, a2, 10000), TR_OK);
    cr_assert_eq(tr_supervisor_delete_child(sys, sup, "a", 10000), TR_OK);
    cr_assert_eq(tr_supervisor_delete_child(sys, sup, "a", 10000), TR_ENOTFOUND);
    cr_assert_eq(tr_supervisor_restart_child(sys, sup, "a", 10000, NULL), TR_ENOTFOUND);
    tr_sup_counts c;
    cr_assert_eq(tr_supervisor_count_children(sys, sup, 10000, &c), TR_OK);
    cr_assert_eq(c.specs, 1);
    cr_assert_eq(c.active, 1);
    cr_assert_eq(c.workers, 1);
    cr_assert_eq(c.supervisors, 0);
    tr_system_destroy(sys);
}

Test(sup_api, which_children_reports_restarts)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec spec = {.id = "w", .beh = &worker_beh};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 60000};
    tr_ref sup, w;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr_supervisor_child(sys, sup, "w", 10000, &w), TR_OK);
        cr_assert_eq(tr_post(sys, w, MSG_FAIL, NULL, 0, -1), TR_OK);
        cr_assert(latch_wait(&inits, 2 + i, 10000));
    }
    tr_sup_child_info info;
    size_t n;
    do /* the third restart is counted once the supervisor has the PONG */
        cr_assert_eq(tr_supervisor_which_children(sys, sup, 10000, &info, 1, &n), TR_OK);
    while (info.status != TR_CHILD_RUNNING);
    cr_assert_eq(n, 1);
    cr_assert_eq(info.restarts, 3);
    char text[TR_INSPECT_MAX];
    cr_assert_eq(tr_inspect(sys, sup, 10000, text, sizeof(text)), TR_OK);
    cr_assert(strstr(text, "strategy=one_for_one") != NULL, "%s", text);
    cr_assert(strstr(text, "restarts=3") != NULL, "%s", text);
    cr_assert(strstr(text, "w running") != NULL, "%s", text);
    tr_system_destroy(sys);
}

Test(sup_api, inspect_any_actor)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref w, plain;
    cr_assert_eq(tr_spawn(sys, &worker_beh, NULL, NULL, &w), TR_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tr_post(sys, w, MSG_GO, NULL, 0, -1), TR_OK);
    char text[64];
    cr_assert_eq(tr_inspect(sys, w, 10000, text, sizeof(text)), TR_OK);
    cr_assert_str_eq(text, "handled=3", "the inspection comes after the queued messages");
    char tiny[4];
    cr_assert_eq(tr_inspect(sys, w, 10000, tiny, sizeof(tiny)), TR_OK);
    cr_assert_str_eq(tiny, "han", "truncated, NUL-terminated");
    static const tr_behaviour no_inspect = {.handle = worker_handle, .state_size = sizeof(worker)};
    cr_assert_eq(tr_spawn(sys, &no_inspect, NULL, NULL, &plain), TR_OK);
    cr_assert_eq(tr_inspect(sys, plain, 10000, text, sizeof(text)), TR_OK);
    cr_assert_str_eq(text, "");
    cr_assert_eq(tr_inspect(sys, w, 10000, NULL, 4), TR_EINVAL);
    tr_stop(sys, w);
    cr_assert_eq(tr_await_exit(sys, w, 10000, NULL), TR_OK);
    cr_assert_eq(tr_inspect(sys, w, 10000, text, sizeof(text)), TR_EDEAD);
    tr_system_destroy(sys);
}

/* ---- from an actor: start a supervisor, then ask it, without blocking ---- */

typedef struct asker {
    uint64_t start_corr, which_corr, count_corr, inspect_corr;
    tr_ref sup;
} asker;

static int start_rc = -1, inspect_ok = 0;
static size_t which_n = 0;
static tr_sup_counts counts;

static int asker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    asker *a = state;
    if (msg->type == MSG_GO) {
        tr_child_spec specs[2] = {{.id = "x", .beh = &worker_beh}, {.id = "y", .beh = &worker_beh}};
        tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE};
        tr_spawn_opts o = {.parent = tr_self(self)};
        return tr_supervisor_start_async(self, &flags, specs, 2, &o, 10000, &a->sup,
                                         &a->start_corr);
    }
    if (msg->type != TR_MSG_REPLY)
        return TR_OK;
    if (msg->corr == a->start_corr) {
        start_rc = *(const int *)msg->data;
        int rc = tr_supervisor_which_children_async(self, a->sup, 10000, &a->which_corr);
        if (rc == TR_OK)
            rc = tr_supervisor_count_children_async(self, a->sup, 10000, &a->count_corr);
        if (rc == TR_OK)
            rc = tr_inspect_async(self, a->sup, 10000, &a->inspect_corr);
        return rc;
    }
    if (msg->corr == a->which_corr) {
        which_n = msg->size / sizeof(tr_sup_child_info);
        const tr_sup_child_info *info = msg->data;
        if (which_n != 2 || strcmp(info[1].id, "y") != 0 || info[1].status != TR_CHILD_RUNNING)
            which_n = 99;
    } else if (msg->corr == a->count_corr) {
        memcpy(&counts, msg->data, sizeof(counts));
    } else if (msg->corr == a->inspect_corr) {
        inspect_ok = strstr(msg->data, "phase=running") != NULL;
    }
    latch_add(&replies, 1);
    return TR_OK;
}

static const tr_behaviour asker_beh = {.handle = asker_handle, .state_size = sizeof(asker)};

Test(sup_api, an_actor_starts_and_queries_a_supervisor_without_blocking)
{
    reset();
    tr_system *sys = make_system(2);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &asker_beh, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_post(sys, a, MSG_GO, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&replies, 3, 10000));
    cr_assert_eq(start_rc, TR_OK);
    cr_assert_eq(latch_get(&inits), 2, "both inits had returned when the reply came");
    cr_assert_eq(which_n, 2);
    cr_assert_eq(counts.specs, 2);
    cr_assert_eq(counts.active, 2);
    cr_assert(inspect_ok);
    tr_system_destroy(sys);
}

/* ---- pools ---- */

Test(sup_api, a_pool_child_whose_init_fails_is_not_kept)
{
    reset();
    tr_system *sys = make_system(2);
    tr_child_spec tmpl = {.id = "p", .beh = &worker_beh, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_SIMPLE_ONE_FOR_ONE, .intensity = 1, .period_ms = 60000};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &tmpl, 1, NULL, &sup), TR_OK);
    static int yes = 1;
    for (int i = 0; i < 5; i++) /* not retried, not counted against the intensity */
        cr_assert_eq(tr_supervisor_start_child(sys, sup, &yes, 10000, NULL), TR_EUSER + 1);
    cr_assert_eq(atomic_load(&bad_inits), 5);
    tr_ref ok;
    cr_assert_eq(tr_supervisor_start_child(sys, sup, NULL, 10000, &ok), TR_OK);
    size_t n;
    cr_assert_eq(tr_supervisor_children(sys, sup, 10000, NULL, 0, &n), TR_OK);
    cr_assert_eq(n, 1);
    tr_system_destroy(sys);
}

Test(sup_api, a_10k_pool_with_removals_stops_last_first, .timeout = 240)
{
    reset();
    enum { N = 10000 };
    tr_system *sys = make_system(2);
    tr_child_spec tmpl = {.id = "p", .beh = &worker_beh, .restart = TR_TEMPORARY};
    tr_sup_flags flags = {.strategy = TR_SIMPLE_ONE_FOR_ONE};
    tr_ref sup;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &tmpl, 1, NULL, &sup), TR_OK);
    tr_ref *kids = malloc(N * sizeof(*kids));
    for (int i = 0; i < N; i++)
        cr_assert_eq(tr_supervisor_start_child(sys, sup, NULL, 10000, &kids[i]), TR_OK);
    /* every third child ends on its own (temporary: forgotten) */
    for (int i = 0; i < N; i += 3)
        cr_assert_eq(tr_post(sys, kids[i], MSG_QUIT, NULL, 0, -1), TR_OK);
    for (int i = 0; i < N; i += 3)
        cr_assert_eq(tr_await_exit(sys, kids[i], 10000, NULL), TR_OK);
    size_t n;
    do
        cr_assert_eq(tr_supervisor_children(sys, sup, 10000, NULL, 0, &n), TR_OK);
    while (n != N - (N + 2) / 3);
    tr_ref *now = malloc(N * sizeof(*now));
    cr_assert_eq(tr_supervisor_children(sys, sup, 10000, now, N, &n), TR_OK);
    for (size_t i = 0, j = 1; i < n; i++, j += (j % 3 == 1) ? 1 : 2)
        cr_assert_eq(now[i].id, kids[j].id, "start order kept at %zu", i);
    cr_assert_eq(tr_stop(sys, sup), TR_OK);
    int reason;
    cr_assert_eq(tr_await_exit(sys, sup, 120000, &reason), TR_OK);
    cr_assert_eq(reason, TR_ESHUTDOWN);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_alive, 0);
    free(now);
    free(kids);
    tr_system_destroy(sys);
}

/* Spawn groups: the concurrency limit, result collection, failures, the
 * notify actor, waiting with a timeout, destroy, and the wrong-thread rule.
 *
 * Handlers never assert: they record into shared structs and bump latches;
 * the test thread asserts. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_WORK = TR_MSG_USER, MSG_LINGER, MSG_SENTINEL, MSG_TRY_WAIT };

/* ---- concurrency limit ---- */

static atomic_int running;  /* members between init and terminate */
static atomic_int max_seen; /* highest value of `running` observed */
static atomic_int inits, terms;

static int limited_init(tr_ctx *self, void *state, void *arg)
{
    (void)state, (void)arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int prev = atomic_load(&max_seen);
    while (now > prev && !atomic_compare_exchange_weak(&max_seen, &prev, now))
        ;
    atomic_fetch_add(&inits, 1);
    /* stay alive for a couple of milliseconds so members overlap */
    return tr_send_after(tr_ctx_system(self), tr_self(self), MSG_LINGER, NULL, 0, 2, NULL);
}

static int limited_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_LINGER)
        tr_stop_self(self);
    return TR_OK;
}

static void limited_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&terms, 1);
}

static const tr_behaviour limited_beh = {
    .init = limited_init,
    .handle = limited_handle,
    .terminate = limited_terminate,
};

Test(group, max_concurrency_is_respected)
{
    atomic_store(&running, 0);
    atomic_store(&max_seen, 0);
    atomic_store(&inits, 0);
    atomic_store(&terms, 0);
    tr_system *sys = make_system(2);
    tr_group *g = NULL;
    cr_assert_eq(tr_group_create(sys, 3, TR_REF_NONE, &g), TR_OK);
    cr_assert_not_null(g);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(tr_group_spawn(g, &limited_beh, NULL, NULL), TR_OK);
    size_t added = 0, ended = 0, failed = 0;
    tr_group_counts(g, &added, NULL, NULL);
    cr_assert_eq(added, 50, "spawns beyond the limit are queued, not refused");

    cr_assert_eq(tr_group_wait(g, WAIT_MS), TR_OK);
    cr_assert_leq(atomic_load(&max_seen), 3, "%d members ran at once with a limit of 3", atomic_load(&max_seen));
    cr_assert_geq(atomic_load(&max_seen), 1);
    cr_assert_eq(atomic_load(&inits), 50);
    cr_assert_eq(atomic_load(&terms), 50, "every member's terminate ran before its slot was freed");
    cr_assert_eq(atomic_load(&running), 0);
    tr_group_counts(g, &added, &ended, &failed);
    cr_assert_eq(added, 50);
    cr_assert_eq(ended, 50);
    cr_assert_eq(failed, 0);

    tr_group_destroy(g);
    tr_system_destroy(sys);
}

/* ---- results ---- */

#define NRES 50

/* arg encodes (index << 2) | mode */
enum { MODE_OK = 0, MODE_FAIL_INIT = 1, MODE_FAIL_HANDLE = 2 };

typedef struct member_state {
    int64_t index;
    int mode;
} member_state;

static int64_t value_of(int64_t i) { return i * 1000 + 7; }

static int member_init(tr_ctx *self, void *state, void *arg)
{
    member_state *s = state;
    uintptr_t a = (uintptr_t)arg;
    s->index = (int64_t)(a >> 2);
    s->mode = (int)(a & 3);
    tr_set_result(self, value_of(s->index)); /* recorded even when the member fails */
    if (s->mode == MODE_FAIL_INIT)
        return TR_EUSER + 1;
    return tr_send(self, tr_self(self), MSG_WORK, NULL, 0);
}

static int member_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    member_state *s = state;
    if (msg->type != MSG_WORK)
        return TR_OK;
    if (s->mode == MODE_FAIL_HANDLE)
        return TR_EUSER + 1;
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour member_beh = {
    .init = member_init,
    .handle = member_handle,
    .state_size = sizeof(member_state),
};

static void *member_arg(int i, int mode) { return (void *)(((uintptr_t)i << 2) | (uintptr_t)mode); }

Test(group, results_are_collected)
{
    tr_system *sys = make_system(2);
    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 4, TR_REF_NONE, &g), TR_OK);
    for (int i = 0; i < NRES; i++)
        cr_assert_eq(tr_group_spawn(g, &member_beh, member_arg(i, MODE_OK), NULL), TR_OK);
    cr_assert_eq(tr_group_wait(g, WAIT_MS), TR_OK);

    tr_group_result res[NRES + 5];
    memset(res, 0, sizeof(res));
    cr_assert_eq(tr_group_results(g, 0, res, NRES + 5), NRES);
    int seen[NRES] = {0};
    for (int k = 0; k < NRES; k++) {
        cr_assert_eq(res[k].status, TR_OK, "result %d: status %d", k, res[k].status);
        cr_assert(!tr_ref_is_none(res[k].member));
        cr_assert_eq(tr_actor_state_of(sys, res[k].member), TR_STATE_DEAD);
        int64_t i = (res[k].value - 7) / 1000;
        cr_assert(i >= 0 && i < NRES && value_of(i) == res[k].value, "unexpected value %lld",
                  (long long)res[k].value);
        seen[i]++;
        for (int j = 0; j < k; j++)
            cr_assert(!tr_ref_equal(res[j].member, res[k].member), "two results for one member");
    }
    for (int i = 0; i < NRES; i++)
        cr_assert_eq(seen[i], 1, "member %d reported %d results", i, seen[i]);

    /* paging: from/max */
    tr_group_result page[10];
    cr_assert_eq(tr_group_results(g, 45, page, 10), 5);
    for (int k = 0; k < 5; k++)
        cr_assert(tr_ref_equal(page[k].member, res[45 + k].member));
    cr_assert_eq(tr_group_results(g, 10, page, 3), 3);
    cr_assert(tr_ref_equal(page[0].member, res[10].member));
    cr_assert_eq(tr_group_results(g, NRES, page, 10), 0);
    cr_assert_eq(tr_group_results(g, 0, NULL, 10), 0);

    size_t added, ended, failed;
    tr_group_counts(g, &added, &ended, &failed);
    cr_assert_eq(added, NRES);
    cr_assert_eq(ended, NRES);
    cr_assert_eq(failed, 0);
    tr_group_destroy(g);
    tr_system_destroy(sys);
}

Test(group, failing_members_report_their_status)
{
    tr_system *sys = make_system(2);
    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 3, TR_REF_NONE, &g), TR_OK);
    int expected_failed = 0;
    for (int i = 0; i < 30; i++) {
        int mode = i % 3; /* ok, fail in init, fail in handle */
        if (mode != MODE_OK)
            expected_failed++;
        cr_assert_eq(tr_group_spawn(g, &member_beh, member_arg(i, mode), NULL), TR_OK);
    }
    cr_assert_eq(tr_group_wait(g, WAIT_MS), TR_OK);

    tr_group_result res[30];
    cr_assert_eq(tr_group_results(g, 0, res, 30), 30);
    int failed_seen = 0;
    for (int k = 0; k < 30; k++) {
        int64_t i = (res[k].value - 7) / 1000;
        cr_assert(i >= 0 && i < 30 && value_of(i) == res[k].value, "unexpected value %lld",
                  (long long)res[k].value);
        int want = i % 3 == MODE_OK ? TR_OK : TR_EUSER + 1;
        cr_assert_eq(res[k].status, want, "member %lld (mode %lld): status %d, want %d", (long long)i,
                     (long long)(i % 3), res[k].status, want);
        if (res[k].status != TR_OK)
            failed_seen++;
    }
    size_t added, ended, failed;
    tr_group_counts(g, &added, &ended, &failed);
    cr_assert_eq(added, 30);
    cr_assert_eq(ended, 30);
    cr_assert_eq(failed, (size_t)expected_failed, "failed count %zu, want %d", failed, expected_failed);
    cr_assert_eq(failed_seen, expected_failed);
    /* NULL outputs are allowed */
    tr_group_counts(g, NULL, NULL, NULL);
    tr_group_destroy(g);
    tr_system_destroy(sys);
}

/* ---- the notify actor ---- */

typedef struct notify_log {
    tr_group_result got[NRES];
    atomic_int n, bad, at_sentinel;
    latch done;
    latch sentinel;
} notify_log;

static int notify_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(notify_log **)state = arg;
    return TR_OK;
}

static int notify_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    notify_log *l = *(notify_log **)state;
    if (msg->type == TR_MSG_GROUP_DONE) {
        int k = atomic_load(&l->n);
        if (msg->size != sizeof(tr_group_result) || msg->data == NULL || k >= NRES) {
            atomic_fetch_add(&l->bad, 1);
        } else {
            memcpy(&l->got[k], msg->data, sizeof(tr_group_result));
            atomic_store(&l->n, k + 1);
        }
        latch_add(&l->done, 1);
    } else if (msg->type == MSG_SENTINEL) {
        atomic_store(&l->at_sentinel, atomic_load(&l->n));
        latch_add(&l->sentinel, 1);
    } else {
        atomic_fetch_add(&l->bad, 1);
    }
    return TR_OK;
}

static const tr_behaviour notify_beh = {
    .init = notify_init,
    .handle = notify_handle,
    .state_size = sizeof(notify_log *),
};

Test(group, notify_actor_gets_one_group_done_per_member)
{
    tr_system *sys = make_system(2);
    notify_log *l = calloc(1, sizeof(*l));
    cr_assert_not_null(l);
    latch_init(&l->done);
    latch_init(&l->sentinel);
    tr_ref notify;
    cr_assert_eq(tr_spawn(sys, &notify_beh, l, NULL, &notify), TR_OK);

    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 5, notify, &g), TR_OK);
    for (int i = 0; i < NRES; i++)
        cr_assert_eq(tr_group_spawn(g, &member_beh, member_arg(i, i % 5 == 0 ? MODE_FAIL_HANDLE : MODE_OK), NULL),
                     TR_OK);
    cr_assert_eq(tr_group_wait(g, WAIT_MS), TR_OK);
    cr_assert(latch_wait(&l->done, NRES, WAIT_MS), "only %ld GROUP_DONE messages", latch_get(&l->done));
    /* every notification was queued before tr_group_wait returned: a later
     * message proves no extra one is pending */
    cr_assert_eq(tr_post(sys, notify, MSG_SENTINEL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&l->sentinel, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&l->at_sentinel), NRES);
    cr_assert_eq(atomic_load(&l->bad), 0, "a GROUP_DONE with a wrong size or an unexpected message");

    tr_group_result res[NRES];
    cr_assert_eq(tr_group_results(g, 0, res, NRES), NRES);
    int matched[NRES] = {0};
    for (int k = 0; k < NRES; k++) {
        const tr_group_result *n = &l->got[k];
        int hits = 0;
        for (int j = 0; j < NRES; j++) {
            if (tr_ref_equal(res[j].member, n->member)) {
                hits++;
                matched[j]++;
                cr_assert_eq(n->status, res[j].status);
                cr_assert_eq(n->value, res[j].value);
            }
        }
        cr_assert_eq(hits, 1, "notification %d names no (or several) members", k);
        int64_t i = (n->value - 7) / 1000;
        cr_assert_eq(n->status, i % 5 == 0 ? TR_EUSER + 1 : TR_OK);
    }
    for (int j = 0; j < NRES; j++)
        cr_assert_eq(matched[j], 1, "member result %d notified %d times", j, matched[j]);

    tr_group_destroy(g);
    tr_system_destroy(sys);
    latch_fini(&l->done);
    latch_fini(&l->sentinel);
    free(l);
}

/* ---- waiting with a timeout, destroy kills the stragglers ---- */

typedef struct forever_log {
    tr_ref self;
    atomic_int inits, terms, reason;
    latch started;
} forever_log;

static int forever_init(tr_ctx *self, void *state, void *arg)
{
    forever_log *l = arg;
    *(forever_log **)state = l;
    if (atomic_fetch_add(&l->inits, 1) == 0)
        l->self = tr_self(self);
    latch_add(&l->started, 1);
    return TR_OK;
}

static int forever_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK; /* never stops by itself */
}

static void forever_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    forever_log *l = *(forever_log **)state;
    atomic_store(&l->reason, reason);
    atomic_fetch_add(&l->terms, 1);
}

static const tr_behaviour forever_beh = {
    .init = forever_init,
    .handle = forever_handle,
    .terminate = forever_terminate,
    .state_size = sizeof(forever_log *),
};

Test(group, wait_times_out_then_destroy_kills_members)
{
    tr_system *sys = make_system(2);
    forever_log l;
    memset(&l, 0, sizeof(l));
    atomic_store(&l.reason, -1);
    latch_init(&l.started);

    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 1, TR_REF_NONE, &g), TR_OK);
    cr_assert_eq(tr_group_spawn(g, &forever_beh, &l, NULL), TR_OK);
    cr_assert_eq(tr_group_spawn(g, &forever_beh, &l, NULL), TR_OK); /* queued behind the first */
    cr_assert(latch_wait(&l.started, 1, WAIT_MS));

    cr_assert_eq(tr_group_wait(g, 30), TR_ETIMEDOUT);
    cr_assert_eq(tr_group_wait(g, 0), TR_ETIMEDOUT);
    size_t added, ended, failed;
    tr_group_counts(g, &added, &ended, &failed);
    cr_assert_eq(added, 2);
    cr_assert_eq(ended, 0);
    cr_assert_eq(atomic_load(&l.inits), 1, "the queued member started while the slot was taken");

    tr_ref member = l.self;
    tr_group_destroy(g); /* kills the running member, drops the queued one, waits */
    cr_assert_eq(atomic_load(&l.terms), 1);
    cr_assert_eq(atomic_load(&l.reason), TR_EKILLED);
    cr_assert_eq(atomic_load(&l.inits), 1, "a dropped spawn must never start");
    cr_assert_eq(tr_actor_state_of(sys, member), TR_STATE_DEAD);

    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&l.inits), 1);
    latch_fini(&l.started);
}

Test(group, wait_on_empty_group_and_bad_arguments)
{
    tr_system *sys = make_system(2);
    tr_group *g = NULL;
    cr_assert_eq(tr_group_create(sys, 0, TR_REF_NONE, &g), TR_EINVAL);
    cr_assert_eq(tr_group_create(NULL, 2, TR_REF_NONE, &g), TR_EINVAL);
    cr_assert_eq(tr_group_create(sys, 2, TR_REF_NONE, NULL), TR_EINVAL);
    cr_assert_eq(tr_group_create(sys, 2, TR_REF_NONE, &g), TR_OK);
    cr_assert_eq(tr_group_wait(g, 0), TR_OK, "nothing added: nothing to wait for");
    cr_assert_eq(tr_group_wait(g, -1), TR_OK);
    cr_assert_eq(tr_group_wait(NULL, 0), TR_EINVAL);
    cr_assert_eq(tr_group_spawn(g, NULL, NULL, NULL), TR_EINVAL);
    tr_behaviour no_handle = {0};
    cr_assert_eq(tr_group_spawn(g, &no_handle, NULL, NULL), TR_EINVAL);
    size_t added = 9;
    tr_group_counts(g, &added, NULL, NULL);
    cr_assert_eq(added, 0, "refused spawns are not counted");
    tr_group_destroy(g);
    tr_group_destroy(NULL);
    tr_system_destroy(sys);
}

/* ---- tr_group_wait on a worker thread ---- */

typedef struct waiter_log {
    tr_group *g;
    atomic_int rc_wait, rc_forever;
    latch done;
} waiter_log;

static int waiter_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(waiter_log **)state = arg;
    return TR_OK;
}

static int waiter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    waiter_log *l = *(waiter_log **)state;
    if (msg->type == MSG_TRY_WAIT) {
        atomic_store(&l->rc_wait, tr_group_wait(l->g, 10));
        atomic_store(&l->rc_forever, tr_group_wait(l->g, -1)); /* must not block either */
        latch_add(&l->done, 1);
    }
    return TR_OK;
}

static const tr_behaviour waiter_beh = {
    .init = waiter_init,
    .handle = waiter_handle,
    .state_size = sizeof(waiter_log *),
};

Test(group, wait_from_handler_is_econtext)
{
    tr_system *sys = make_system(2);
    waiter_log l;
    memset(&l, 0, sizeof(l));
    atomic_store(&l.rc_wait, -1);
    atomic_store(&l.rc_forever, -1);
    latch_init(&l.done);
    cr_assert_eq(tr_group_create(sys, 2, TR_REF_NONE, &l.g), TR_OK);
    forever_log fl;
    memset(&fl, 0, sizeof(fl));
    latch_init(&fl.started);
    cr_assert_eq(tr_group_spawn(l.g, &forever_beh, &fl, NULL), TR_OK); /* the group has work pending */

    tr_ref w;
    cr_assert_eq(tr_spawn(sys, &waiter_beh, &l, NULL, &w), TR_OK);
    cr_assert_eq(tr_post(sys, w, MSG_TRY_WAIT, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&l.done, 1, WAIT_MS), "tr_group_wait blocked a worker");
    cr_assert_eq(atomic_load(&l.rc_wait), TR_ECONTEXT);
    cr_assert_eq(atomic_load(&l.rc_forever), TR_ECONTEXT);

    tr_group_destroy(l.g);
    tr_system_destroy(sys);
    latch_fini(&l.done);
    latch_fini(&fl.started);
}

/* Asks that fail fast (gen_server:call's monitor): an ask ends at once with
 * the callee's exit reason when the callee fails while handling it, dies
 * with it queued or owed (handled, answer deferred), or is already dead;
 * TR_EDROPPED when a drop-policy mailbox discards it; the timeout only when
 * the callee lives on without answering. Every wait here is far longer than
 * the test may take (ASK_MS): a failure that waited for the timeout would
 * show up as TR_ETIMEDOUT, not as slowness. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000
#define ASK_MS 600000 /* ten minutes: never reached by a passing test */

enum { MSG_FAIL = TR_MSG_USER, MSG_DEFER, MSG_ANSWER, MSG_ECHO, MSG_STOP, MSG_ASK_IT };
enum { E_BOOM = TR_EUSER + 3 };

/* ---- the callee ---- */

typedef struct callee {
    latch got;      /* asks received */
    tr_msg owed[4]; /* deferred asks (sender and corr only) */
    int nowed;
} callee;

static int callee_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(callee **)state = arg;
    return TR_OK;
}

static int callee_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    callee *c = *(callee **)state;
    int rc = TR_OK;
    switch (msg->type) {
    case MSG_FAIL: rc = E_BOOM; break;                      /* fails while handling the ask */
    case MSG_ECHO: tr_reply(self, msg, msg->data, msg->size); break;
    case MSG_DEFER:                                          /* answers later, maybe never */
        if (c->nowed < 4) {
            c->owed[c->nowed] = *msg;
            c->owed[c->nowed].data = NULL;
            c->owed[c->nowed++].size = 0;
        }
        break;
    case MSG_ANSWER:                                         /* answers what it deferred */
        for (int i = 0; i < c->nowed; i++)
            tr_reply(self, &c->owed[i], "late", 4);
        c->nowed = 0;
        break;
    case MSG_STOP: tr_stop_self(self); break;
    }
    latch_add(&c->got, 1);
    return rc;
}

static const tr_behaviour callee_beh = {
    .init = callee_init, .handle = callee_handle, .state_size = sizeof(callee *)};

static tr_ref spawn_callee(tr_system *sys, callee *c)
{
    memset(c, 0, sizeof(*c));
    latch_init(&c->got);
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &callee_beh, c, NULL, &r), TR_OK);
    return r;
}

/* ---- from an outside thread ---- */

Test(ask_fails_fast, callee_failing_on_the_ask_returns_its_reason)
{
    tr_system *sys = make_system(2);
    callee c;
    tr_ref r = spawn_callee(sys, &c);
    void *reply = NULL;
    int rc = tr_ask_wait(sys, r, MSG_FAIL, NULL, 0, ASK_MS, &reply, NULL);
    cr_assert_eq(rc, E_BOOM, "got %d %s", rc, tr_strerror(rc));
    cr_assert_null(reply);
    tr_system_destroy(sys);
}

Test(ask_fails_fast, callee_already_dead_returns_edead)
{
    tr_system *sys = make_system(2);
    callee c;
    tr_ref r = spawn_callee(sys, &c);
    cr_assert_eq(tr_kill(sys, r), TR_OK);
    cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, NULL), TR_OK);
    cr_assert_eq(tr_ask_wait(sys, r, MSG_ECHO, "x", 1, ASK_MS, NULL, NULL), TR_EDEAD);
    tr_system_destroy(sys);
}

Test(ask_fails_fast, the_timeout_still_ends_an_unanswered_ask)
{
    tr_system *sys = make_system(2);
    callee c;
    tr_ref r = spawn_callee(sys, &c);
    cr_assert_eq(tr_ask_wait(sys, r, MSG_DEFER, NULL, 0, 50, NULL, NULL), TR_ETIMEDOUT);
    cr_assert_eq(tr_actor_state_of(sys, r) == TR_STATE_DEAD, false, "the callee lives on");
    tr_system_destroy(sys);
}

/* ---- from an actor: tr_ask and TR_MSG_ASK_FAILED ---- */

typedef struct asker {
    tr_ref callee;
    uint32_t type;   /* what to ask */
    latch done;      /* +1 per REPLY or ASK_FAILED */
    _Atomic int failures, replies, reason, send_rc;
} asker;

static int asker_init(tr_ctx *self, void *state, void *arg)
{
    asker *k = arg;
    *(asker **)state = k;
    int rc = tr_ask(self, k->callee, k->type, NULL, 0, ASK_MS, NULL);
    atomic_store(&k->send_rc, rc);
    if (rc != TR_OK)
        latch_add(&k->done, 1);
    return TR_OK;
}

static int asker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    asker *k = *(asker **)state;
    if (msg->type == TR_MSG_ASK_FAILED) {
        atomic_fetch_add(&k->failures, 1);
        atomic_store(&k->reason, tr_ask_failure(msg));
    } else if (msg->type == TR_MSG_REPLY) {
        atomic_fetch_add(&k->replies, 1);
    } else {
        return TR_OK;
    }
    latch_add(&k->done, 1);
    return TR_OK;
}

static const tr_behaviour asker_beh = {
    .init = asker_init, .handle = asker_handle, .state_size = sizeof(asker *)};

static tr_ref spawn_asker(tr_system *sys, asker *k, tr_ref to, uint32_t type)
{
    memset(k, 0, sizeof(*k));
    latch_init(&k->done);
    k->callee = to;
    k->type = type;
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &asker_beh, k, NULL, &r), TR_OK);
    return r;
}

Test(ask_fails_fast, a_killed_callee_fails_the_ask_it_deferred)
{
    tr_system *sys = make_system(2);
    callee c;
    asker k;
    tr_ref r = spawn_callee(sys, &c);
    spawn_asker(sys, &k, r, MSG_DEFER);
    cr_assert(latch_wait(&c.got, 1, WAIT_MS), "the callee got the ask");
    cr_assert_eq(tr_kill(sys, r), TR_OK);
    cr_assert(latch_wait(&k.done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&k.failures), 1);
    cr_assert_eq(atomic_load(&k.reason), TR_EKILLED, "got %s", tr_strerror(atomic_load(&k.reason)));
    tr_system_destroy(sys);
}

Test(ask_fails_fast, a_deferred_answer_is_one_reply_and_no_failure)
{
    tr_system *sys = make_system(2);
    callee c;
    asker k;
    tr_ref r = spawn_callee(sys, &c);
    spawn_asker(sys, &k, r, MSG_DEFER);
    cr_assert(latch_wait(&c.got, 1, WAIT_MS));
    cr_assert_eq(tr_post(sys, r, MSG_ANSWER, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&k.done, 1, WAIT_MS));
    /* the answered ask is no longer owed: failing now tells the asker nothing */
    cr_assert_eq(tr_post(sys, r, MSG_FAIL, NULL, 0, -1), TR_OK);
    cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, NULL), TR_OK);
    /* a DOWN of the asker's own monitor on the callee comes after anything
     * the callee's end sends it */
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&k.replies), 1);
    cr_assert_eq(atomic_load(&k.failures), 0);
}

Test(ask_fails_fast, a_normal_stop_fails_owed_asks_with_edead)
{
    tr_system *sys = make_system(2);
    callee c;
    asker k;
    tr_ref r = spawn_callee(sys, &c);
    spawn_asker(sys, &k, r, MSG_DEFER);
    cr_assert(latch_wait(&c.got, 1, WAIT_MS));
    cr_assert_eq(tr_post(sys, r, MSG_STOP, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&k.done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&k.failures), 1);
    cr_assert_eq(atomic_load(&k.reason), TR_EDEAD);
    tr_system_destroy(sys);
}

Test(ask_fails_fast, an_ask_queued_behind_a_failure_fails_with_its_reason)
{
    tr_system *sys = make_system(2);
    callee c;
    asker k;
    tr_ref r = spawn_callee(sys, &c);
    /* the failure is queued first; the ask either finds the callee closed
     * (the send fails at once) or queued behind the failure (dropped with it) */
    cr_assert_eq(tr_post(sys, r, MSG_FAIL, NULL, 0, -1), TR_OK);
    spawn_asker(sys, &k, r, MSG_ECHO);
    cr_assert(latch_wait(&k.done, 1, WAIT_MS));
    int send_rc = atomic_load(&k.send_rc);
    if (send_rc == TR_OK) {
        cr_assert_eq(atomic_load(&k.failures) + atomic_load(&k.replies), 1);
        if (atomic_load(&k.failures) == 1)
            cr_assert_eq(atomic_load(&k.reason), E_BOOM);
    } else {
        cr_assert(send_rc == TR_EDEAD || send_rc == TR_ESTOPPING, "%s", tr_strerror(send_rc));
    }
    tr_system_destroy(sys);
}

/* ---- a drop-policy mailbox ---- */

static latch gate;

static int gated_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    latch_wait(&gate, 1, WAIT_MS); /* holds one worker until the test opens it */
    return TR_OK;
}

static int gated_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static const tr_behaviour gated_beh = {.init = gated_init, .handle = gated_handle};

Test(ask_fails_fast, an_ask_a_full_drop_mailbox_discards_fails_with_edropped)
{
    latch_init(&gate);
    tr_system *sys = make_system(2);
    tr_spawn_opts o = {.mailbox_capacity = 1, .overflow = TR_OVERFLOW_DROP};
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &gated_beh, NULL, &o, &r), TR_OK);
    cr_assert_eq(tr_post(sys, r, MSG_ECHO, NULL, 0, 0), TR_OK); /* fills it */
    asker k;
    spawn_asker(sys, &k, r, MSG_ECHO);
    cr_assert(latch_wait(&k.done, 1, WAIT_MS));
    latch_add(&gate, 1);
    cr_assert_eq(atomic_load(&k.send_rc), TR_OK, "a dropped send still returns TR_OK");
    cr_assert_eq(atomic_load(&k.failures), 1);
    cr_assert_eq(atomic_load(&k.reason), TR_EDROPPED);
    tr_system_destroy(sys);
}

Test(ask_fails_fast, ask_failure_reads_only_failures)
{
    tr_msg m = {.type = TR_MSG_REPLY};
    cr_assert_eq(tr_ask_failure(&m), TR_EINVAL);
    m.type = TR_MSG_ASK_FAILED;
    cr_assert_eq(tr_ask_failure(&m), TR_ETIMEDOUT, "the timer's notice has no payload");
    cr_assert_eq(tr_ask_failure(NULL), TR_EINVAL);
}

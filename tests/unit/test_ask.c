/* Request/reply: tr_ask from an actor (reply, timeout, late reply), tr_reply
 * rules, tr_ask_wait from an outside thread, many asks in flight at once.
 *
 * Handlers never assert (they run on worker threads): they record what they
 * saw in shared structs and bump latches; the test thread asserts. "Exactly
 * once" is checked with a sentinel timer due after anything that could still
 * arrive (timers fire in deadline order into one FIFO mailbox). */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_Q = TR_MSG_USER, MSG_GO, MSG_DONE, MSG_SENTINEL, MSG_PLAIN, MSG_FLUSH_REQ, MSG_FLUSH };

/* ---- replier: answers MSG_Q with 2 * the request's int64 ---- */

typedef struct replier_cfg {
    bool silent;       /* keep the request, answer only on MSG_GO */
    bool reply_twice;  /* answer every ask twice */
    atomic_int asks;   /* MSG_Q handled */
    atomic_int first_rc, second_rc, late_rc, done_rc;
    atomic_int plain_rc, timer_rc;
    tr_msg stored;     /* silent mode: the request, without its payload */
    latch got_ask;
    latch checked;     /* +1 per MSG_PLAIN / timer message checked */
} replier_cfg;

static void replier_cfg_init(replier_cfg *c)
{
    memset(c, 0, sizeof(*c));
    atomic_store(&c->first_rc, -1);
    atomic_store(&c->second_rc, -1);
    atomic_store(&c->late_rc, -1);
    atomic_store(&c->done_rc, -1);
    atomic_store(&c->plain_rc, -1);
    atomic_store(&c->timer_rc, -1);
    latch_init(&c->got_ask);
    latch_init(&c->checked);
}

static void replier_cfg_fini(replier_cfg *c)
{
    latch_fini(&c->got_ask);
    latch_fini(&c->checked);
}

static int replier_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(replier_cfg **)state = arg;
    return TR_OK;
}

static int replier_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    replier_cfg *c = *(replier_cfg **)state;
    int64_t v = 0;
    switch (msg->type) {
    case MSG_Q:
        if (msg->size == sizeof(v))
            memcpy(&v, msg->data, sizeof(v));
        v *= 2;
        atomic_fetch_add(&c->asks, 1);
        if (c->silent) {
            c->stored = *msg; /* sender and corr are all tr_reply needs */
            c->stored.data = NULL;
            c->stored.size = 0;
        } else {
            atomic_store(&c->first_rc, tr_reply(self, msg, &v, sizeof(v)));
            if (c->reply_twice)
                atomic_store(&c->second_rc, tr_reply(self, msg, &v, sizeof(v)));
        }
        latch_add(&c->got_ask, 1);
        break;
    case MSG_GO: /* silent mode: the asker has timed out, answer now */
        v = 4242;
        atomic_store(&c->late_rc, tr_reply(self, &c->stored, &v, sizeof(v)));
        /* after the late reply in the asker's FIFO mailbox */
        atomic_store(&c->done_rc, tr_send(self, msg->sender, MSG_DONE, NULL, 0));
        break;
    case MSG_PLAIN: /* not an ask: tr_reply must refuse it */
        atomic_store(&c->plain_rc, tr_reply(self, msg, &v, sizeof(v)));
        latch_add(&c->checked, 1);
        break;
    case MSG_SENTINEL: /* a timer message is not an ask either */
        atomic_store(&c->timer_rc, tr_reply(self, msg, &v, sizeof(v)));
        latch_add(&c->checked, 1);
        break;
    case MSG_FLUSH_REQ: { /* FIFO marker back to the asker named in the payload */
        tr_ref to;
        memcpy(&to, msg->data, sizeof(to));
        tr_send(self, to, MSG_FLUSH, NULL, 0);
        break;
    }
    default:
        break;
    }
    return TR_OK;
}

static const tr_behaviour replier_beh = {
    .init = replier_init,
    .handle = replier_handle,
    .state_size = sizeof(replier_cfg *),
};

/* ---- asker: asks `target` once in init and records what comes back ---- */

typedef struct ask_log {
    /* set by the test before spawning */
    tr_ref target;
    uint32_t timeout_ms;
    int64_t value;
    bool go_on_timeout;     /* send MSG_GO to the target when the timeout arrives */
    /* written by the asker */
    atomic_int ask_rc;
    uint64_t corr;          /* what tr_ask wrote */
    atomic_int replies, timeouts, others;
    uint64_t reply_corr, timeout_corr;
    tr_ref reply_sender;
    size_t reply_size;
    int64_t reply_value;
    int replies_at_sentinel, timeouts_at_sentinel;
    latch asked;            /* init ran its tr_ask */
    latch answered;         /* a reply or a timeout arrived */
    latch done;             /* MSG_DONE arrived */
    latch sentinel;         /* MSG_SENTINEL arrived */
} ask_log;

static void ask_log_init(ask_log *l, tr_ref target, uint32_t timeout_ms, int64_t value)
{
    memset(l, 0, sizeof(*l));
    l->target = target;
    l->timeout_ms = timeout_ms;
    l->value = value;
    atomic_store(&l->ask_rc, -1);
    latch_init(&l->asked);
    latch_init(&l->answered);
    latch_init(&l->done);
    latch_init(&l->sentinel);
}

static void ask_log_fini(ask_log *l)
{
    latch_fini(&l->asked);
    latch_fini(&l->answered);
    latch_fini(&l->done);
    latch_fini(&l->sentinel);
}

static int asker_init(tr_ctx *self, void *state, void *arg)
{
    ask_log *l = arg;
    *(ask_log **)state = l;
    atomic_store(&l->ask_rc, tr_ask(self, l->target, MSG_Q, &l->value, sizeof(l->value), l->timeout_ms,
                                    &l->corr));
    latch_add(&l->asked, 1);
    return TR_OK;
}

static int asker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    ask_log *l = *(ask_log **)state;
    switch (msg->type) {
    case TR_MSG_REPLY:
        l->reply_corr = msg->corr;
        l->reply_sender = msg->sender;
        l->reply_size = msg->size;
        if (msg->size == sizeof(int64_t))
            memcpy(&l->reply_value, msg->data, sizeof(int64_t));
        atomic_fetch_add(&l->replies, 1);
        latch_add(&l->answered, 1);
        break;
    case TR_MSG_ASK_TIMEOUT:
        l->timeout_corr = msg->corr;
        atomic_fetch_add(&l->timeouts, 1);
        if (l->go_on_timeout)
            tr_send(self, l->target, MSG_GO, NULL, 0);
        latch_add(&l->answered, 1);
        break;
    case MSG_DONE:
        latch_add(&l->done, 1);
        break;
    case MSG_SENTINEL:
        l->replies_at_sentinel = atomic_load(&l->replies);
        l->timeouts_at_sentinel = atomic_load(&l->timeouts);
        latch_add(&l->sentinel, 1);
        break;
    default:
        atomic_fetch_add(&l->others, 1);
    }
    return TR_OK;
}

static const tr_behaviour asker_beh = {
    .init = asker_init,
    .handle = asker_handle,
    .state_size = sizeof(ask_log *),
};

static bool dead_letter_logged(tr_system *sys, tr_ref to, tr_ref sender, uint32_t type)
{
    tr_dead_letter log[TR_DEAD_LETTER_LOG];
    size_t n = tr_dead_letters_recent(sys, log, TR_DEAD_LETTER_LOG);
    for (size_t i = 0; i < n; i++)
        if (tr_ref_equal(log[i].to, to) && tr_ref_equal(log[i].sender, sender) && log[i].type == type)
            return true;
    return false;
}

/* ---- tr_ask from an actor ---- */

Test(ask, ask_from_actor_gets_matching_reply_exactly_once)
{
    tr_system *sys = make_system(2);
    replier_cfg rc;
    replier_cfg_init(&rc);
    rc.reply_twice = true; /* the second reply must never reach the asker */
    tr_ref replier;
    cr_assert_eq(tr_spawn(sys, &replier_beh, &rc, NULL, &replier), TR_OK);

    ask_log l;
    ask_log_init(&l, replier, 2000, 21); /* the timeout only matters if the reply is lost (or 2 s late) */
    tr_ref asker;
    cr_assert_eq(tr_spawn(sys, &asker_beh, &l, NULL, &asker), TR_OK);
    cr_assert(latch_wait(&l.asked, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&l.ask_rc), TR_OK);
    cr_assert_neq(l.corr, 0, "tr_ask wrote a correlation id");

    cr_assert(latch_wait(&l.answered, 1, WAIT_MS), "no reply and no timeout");
    cr_assert_eq(atomic_load(&l.replies), 1, "expected a reply, got a timeout");
    cr_assert_eq(l.reply_corr, l.corr, "reply corr %llu != ask corr %llu", (unsigned long long)l.reply_corr,
                 (unsigned long long)l.corr);
    cr_assert(tr_ref_equal(l.reply_sender, replier), "the reply comes from the replier");
    cr_assert_eq(l.reply_size, sizeof(int64_t));
    cr_assert_eq(l.reply_value, 42);
    cr_assert_eq(atomic_load(&rc.first_rc), TR_OK);
    cr_assert_eq(atomic_load(&rc.second_rc), TR_OK, "a reply to a live asker is accepted for delivery");

    /* past the ask's timeout: neither the duplicate reply nor the (cancelled)
     * timeout may arrive */
    cr_assert_eq(tr_send_after(sys, asker, MSG_SENTINEL, NULL, 0, 2100, NULL), TR_OK);
    cr_assert(latch_wait(&l.sentinel, 1, WAIT_MS));
    cr_assert_eq(l.replies_at_sentinel, 1, "the asker saw %d replies", l.replies_at_sentinel);
    cr_assert_eq(l.timeouts_at_sentinel, 0, "a timeout arrived after the reply");
    cr_assert(dead_letter_logged(sys, asker, replier, TR_MSG_REPLY), "the duplicate reply is a dead letter");
    cr_assert_eq(atomic_load(&l.others), 0);

    tr_system_destroy(sys);
    ask_log_fini(&l);
    replier_cfg_fini(&rc);
}

Test(ask, ask_to_silent_actor_times_out_exactly_once)
{
    tr_system *sys = make_system(2);
    replier_cfg rc;
    replier_cfg_init(&rc);
    rc.silent = true;
    tr_ref replier;
    cr_assert_eq(tr_spawn(sys, &replier_beh, &rc, NULL, &replier), TR_OK);

    ask_log l;
    ask_log_init(&l, replier, 20, 1);
    tr_ref asker;
    cr_assert_eq(tr_spawn(sys, &asker_beh, &l, NULL, &asker), TR_OK);
    cr_assert(latch_wait(&l.asked, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&l.ask_rc), TR_OK);
    cr_assert(latch_wait(&l.answered, 1, WAIT_MS), "the timeout never came");
    cr_assert(latch_wait(&rc.got_ask, 1, WAIT_MS), "the request was not delivered");
    cr_assert_eq(atomic_load(&l.timeouts), 1);
    cr_assert_eq(l.timeout_corr, l.corr, "timeout corr %llu != ask corr %llu",
                 (unsigned long long)l.timeout_corr, (unsigned long long)l.corr);
    cr_assert_eq(rc.stored.corr, l.corr, "the request carries the ask's corr");
    cr_assert(tr_ref_equal(rc.stored.sender, asker));

    cr_assert_eq(tr_send_after(sys, asker, MSG_SENTINEL, NULL, 0, 50, NULL), TR_OK);
    cr_assert(latch_wait(&l.sentinel, 1, WAIT_MS));
    cr_assert_eq(l.timeouts_at_sentinel, 1, "%d timeouts for one ask", l.timeouts_at_sentinel);
    cr_assert_eq(l.replies_at_sentinel, 0);

    tr_system_destroy(sys);
    ask_log_fini(&l);
    replier_cfg_fini(&rc);
}

Test(ask, late_reply_is_discarded_and_counted_as_dead_letter)
{
    tr_system *sys = make_system(2);
    replier_cfg rc;
    replier_cfg_init(&rc);
    rc.silent = true; /* answers only when the asker says GO, after its timeout */
    tr_ref replier;
    cr_assert_eq(tr_spawn(sys, &replier_beh, &rc, NULL, &replier), TR_OK);

    ask_log l;
    ask_log_init(&l, replier, 20, 5);
    l.go_on_timeout = true;
    tr_metrics before;
    tr_metrics_get(sys, &before);
    tr_ref asker;
    cr_assert_eq(tr_spawn(sys, &asker_beh, &l, NULL, &asker), TR_OK);
    cr_assert(latch_wait(&l.asked, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&l.ask_rc), TR_OK);

    /* DONE is sent right after the late reply, so it is handled after it */
    cr_assert(latch_wait(&l.done, 1, WAIT_MS), "the replier never answered");
    cr_assert_eq(atomic_load(&rc.late_rc), TR_OK, "the asker is alive: the late reply is sent");
    cr_assert_eq(atomic_load(&rc.done_rc), TR_OK);
    cr_assert_eq(atomic_load(&l.timeouts), 1);
    cr_assert_eq(l.timeout_corr, l.corr);
    cr_assert_eq(atomic_load(&l.replies), 0, "a reply after the timeout reached handle()");

    tr_metrics after;
    tr_metrics_get(sys, &after);
    cr_assert_gt(after.dead_letters, before.dead_letters, "the late reply was not counted as a dead letter");
    cr_assert(dead_letter_logged(sys, asker, replier, TR_MSG_REPLY), "no dead-letter entry for the late reply");

    tr_system_destroy(sys);
    ask_log_fini(&l);
    replier_cfg_fini(&rc);
}

/* An actor's tr_ask to a dead actor fails at once and leaves no timeout behind. */

typedef struct barrier_state {
    latch *l;
} barrier_state;

static int barrier_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    ((barrier_state *)state)->l = arg;
    return TR_OK;
}

static int barrier_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)msg;
    latch_add(((barrier_state *)state)->l, 1);
    return TR_OK;
}

static const tr_behaviour barrier_beh = {
    .init = barrier_init,
    .handle = barrier_handle,
    .state_size = sizeof(barrier_state),
};

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static const tr_behaviour idle_beh = {.handle = idle_handle};

/* Returns the reference of an actor that has fully ended. Needs a system with
 * ONE worker: tr_await_exit can return while the dying actor's worker is still
 * retiring its table slot (see test_metrics.c,
 * post_right_after_await_exit_is_edead); a message handled by another actor on
 * the same single worker afterwards proves that turn is over. */
static tr_ref fully_dead_ref(tr_system *sys)
{
    cr_assert_eq(tr_system_workers(sys), 1);
    tr_ref dead;
    cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &dead), TR_OK);
    cr_assert_eq(tr_stop(sys, dead), TR_OK);
    cr_assert_eq(tr_await_exit(sys, dead, WAIT_MS, NULL), TR_OK);
    latch l;
    latch_init(&l);
    tr_ref b;
    cr_assert_eq(tr_spawn(sys, &barrier_beh, &l, NULL, &b), TR_OK);
    cr_assert_eq(tr_post(sys, b, MSG_PLAIN, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&l, 1, WAIT_MS));
    cr_assert_eq(tr_kill(sys, b), TR_OK);
    cr_assert_eq(tr_await_exit(sys, b, WAIT_MS, NULL), TR_OK);
    latch_fini(&l);
    return dead;
}

Test(ask, ask_from_actor_to_dead_actor_fails_without_timeout)
{
    tr_system *sys = make_system(1);
    tr_ref dead = fully_dead_ref(sys);

    ask_log l;
    ask_log_init(&l, dead, 20, 1);
    tr_ref asker;
    cr_assert_eq(tr_spawn(sys, &asker_beh, &l, NULL, &asker), TR_OK);
    cr_assert(latch_wait(&l.asked, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&l.ask_rc), TR_EDEAD);
    /* the failed ask's timeout timer must be gone */
    cr_assert_eq(tr_send_after(sys, asker, MSG_SENTINEL, NULL, 0, 60, NULL), TR_OK);
    cr_assert(latch_wait(&l.sentinel, 1, WAIT_MS));
    cr_assert_eq(l.timeouts_at_sentinel, 0, "a failed ask still produced a timeout");
    cr_assert_eq(l.replies_at_sentinel, 0);

    tr_system_destroy(sys);
    ask_log_fini(&l);
}

/* ---- tr_reply rules ---- */

typedef struct poster_args {
    tr_ref to;
} poster_args;

static int poster_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    const poster_args *a = arg;
    return tr_send(self, a->to, MSG_PLAIN, NULL, 0); /* has a sender, but is no ask */
}

static const tr_behaviour poster_beh = {.init = poster_init, .handle = idle_handle};

Test(ask, reply_to_non_ask_message_is_einval)
{
    tr_system *sys = make_system(2);
    replier_cfg rc;
    replier_cfg_init(&rc);
    tr_ref replier;
    cr_assert_eq(tr_spawn(sys, &replier_beh, &rc, NULL, &replier), TR_OK);

    /* posted from outside: no sender, no corr */
    cr_assert_eq(tr_post(sys, replier, MSG_PLAIN, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&rc.checked, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&rc.plain_rc), TR_EINVAL);

    /* sent by an actor: a sender but no corr */
    atomic_store(&rc.plain_rc, -1);
    poster_args pa = {.to = replier};
    tr_ref poster;
    cr_assert_eq(tr_spawn(sys, &poster_beh, &pa, NULL, &poster), TR_OK);
    cr_assert(latch_wait(&rc.checked, 2, WAIT_MS));
    cr_assert_eq(atomic_load(&rc.plain_rc), TR_EINVAL);

    /* a timer message */
    cr_assert_eq(tr_send_after(sys, replier, MSG_SENTINEL, NULL, 0, 1, NULL), TR_OK);
    cr_assert(latch_wait(&rc.checked, 3, WAIT_MS));
    cr_assert_eq(atomic_load(&rc.timer_rc), TR_EINVAL);

    /* the same replier answers a real ask */
    void *reply = NULL;
    size_t size = 0;
    int64_t q = 8;
    cr_assert_eq(tr_ask_wait(sys, replier, MSG_Q, &q, sizeof(q), WAIT_MS, &reply, &size), TR_OK);
    cr_assert_eq(atomic_load(&rc.first_rc), TR_OK);
    free(reply);

    tr_system_destroy(sys);
    replier_cfg_fini(&rc);
}

/* ---- tr_ask_wait from an outside thread ---- */

Test(ask, ask_wait_returns_reply_payload)
{
    tr_system *sys = make_system(2);
    replier_cfg rc;
    replier_cfg_init(&rc);
    tr_ref replier;
    cr_assert_eq(tr_spawn(sys, &replier_beh, &rc, NULL, &replier), TR_OK);

    for (int64_t q = -3; q <= 3; q++) {
        void *reply = NULL;
        size_t size = 0;
        cr_assert_eq(tr_ask_wait(sys, replier, MSG_Q, &q, sizeof(q), WAIT_MS, &reply, &size), TR_OK);
        cr_assert_not_null(reply);
        cr_assert_eq(size, sizeof(int64_t));
        int64_t v;
        memcpy(&v, reply, sizeof(v));
        cr_assert_eq(v, 2 * q, "asked %lld, got %lld", (long long)q, (long long)v);
        free(reply);
    }
    cr_assert_eq(atomic_load(&rc.asks), 7);

    /* reply and reply_size may be NULL: the reply is freed for us */
    int64_t q = 1;
    cr_assert_eq(tr_ask_wait(sys, replier, MSG_Q, &q, sizeof(q), WAIT_MS, NULL, NULL), TR_OK);
    cr_assert_eq(atomic_load(&rc.asks), 8);

    tr_system_destroy(sys);
    replier_cfg_fini(&rc);
}

Test(ask, ask_wait_to_dead_ref_is_edead)
{
    tr_system *sys = make_system(1);
    tr_ref dead = fully_dead_ref(sys);
    void *reply = NULL;
    size_t size = 0;
    int64_t q = 1;
    cr_assert_eq(tr_ask_wait(sys, dead, MSG_Q, &q, sizeof(q), WAIT_MS, &reply, &size), TR_EDEAD);
    cr_assert_eq(tr_ask_wait(sys, TR_REF_NONE, MSG_Q, &q, sizeof(q), WAIT_MS, &reply, &size), TR_EDEAD);
    tr_system_destroy(sys);
}

Test(ask, ask_wait_times_out_against_silent_actor)
{
    tr_system *sys = make_system(2);
    replier_cfg rc;
    replier_cfg_init(&rc);
    rc.silent = true;
    tr_ref replier;
    cr_assert_eq(tr_spawn(sys, &replier_beh, &rc, NULL, &replier), TR_OK);

    void *reply = NULL;
    size_t size = 0;
    int64_t q = 1;
    cr_assert_eq(tr_ask_wait(sys, replier, MSG_Q, &q, sizeof(q), 30, &reply, &size), TR_ETIMEDOUT);
    cr_assert(latch_wait(&rc.got_ask, 1, WAIT_MS), "the request was never delivered");
    cr_assert_eq(atomic_load(&rc.asks), 1);
    cr_assert_neq(tr_actor_state_of(sys, replier), TR_STATE_DEAD, "the silent actor is unaffected");

    tr_system_destroy(sys);
    replier_cfg_fini(&rc);
}

/* ---- argument and context errors ---- */

typedef struct ctx_probe {
    atomic_int ask_wait_rc, ask_rc, reply_null_rc;
    latch done;
} ctx_probe;

static int ctx_probe_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    ctx_probe *p = arg;
    int64_t q = 1;
    atomic_store(&p->ask_wait_rc, tr_ask_wait(tr_ctx_system(self), tr_self(self), MSG_Q, &q, sizeof(q), 10,
                                              NULL, NULL));
    atomic_store(&p->ask_rc, tr_ask(self, tr_self(self), TR_MSG_REPLY, NULL, 0, 10, NULL));
    atomic_store(&p->reply_null_rc, tr_reply(self, NULL, NULL, 0));
    latch_add(&p->done, 1);
    return TR_OK;
}

static const tr_behaviour ctx_probe_beh = {.init = ctx_probe_init, .handle = idle_handle};

Test(ask, invalid_arguments_and_wrong_context)
{
    tr_system *sys = make_system(2);
    ctx_probe p;
    memset(&p, 0, sizeof(p));
    latch_init(&p.done);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &ctx_probe_beh, &p, NULL, &a), TR_OK);
    cr_assert(latch_wait(&p.done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&p.ask_wait_rc), TR_ECONTEXT, "tr_ask_wait must refuse worker threads");
    cr_assert_eq(atomic_load(&p.ask_rc), TR_EINVAL, "reserved type");
    cr_assert_eq(atomic_load(&p.reply_null_rc), TR_EINVAL);

    int64_t q = 1;
    cr_assert_eq(tr_ask_wait(NULL, a, MSG_Q, &q, sizeof(q), 10, NULL, NULL), TR_EINVAL);
    cr_assert_eq(tr_ask_wait(sys, a, TR_MSG_USER - 1, &q, sizeof(q), 10, NULL, NULL), TR_EINVAL);
    cr_assert_eq(tr_ask_wait(sys, a, MSG_Q, NULL, 8, 10, NULL, NULL), TR_EINVAL);
    cr_assert_eq(tr_ask(NULL, a, MSG_Q, NULL, 0, 10, NULL), TR_EINVAL);
    tr_system_destroy(sys);
    latch_fini(&p.done);
}

/* ---- many asks in flight ---- */

#define BULK 1000
#define REPLIERS 4

typedef struct bulk {
    tr_ref repliers[REPLIERS];
    atomic_int ask_failures;
    uint64_t corr[BULK];
    int count[BULK];
    atomic_int timeouts, strays;
    latch replies;
    latch flushes;
} bulk;

static int bulk_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(bulk **)state = arg;
    return TR_OK;
}

static int bulk_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    bulk *b = *(bulk **)state;
    switch (msg->type) {
    case MSG_GO:
        for (int64_t i = 0; i < BULK; i++) {
            int rc = tr_ask(self, b->repliers[i % REPLIERS], MSG_Q, &i, sizeof(i), WAIT_MS, &b->corr[i]);
            if (rc != TR_OK)
                atomic_fetch_add(&b->ask_failures, 1);
        }
        break;
    case TR_MSG_REPLY: {
        int64_t v = -1;
        if (msg->size == sizeof(v))
            memcpy(&v, msg->data, sizeof(v));
        int64_t i = v / 2;
        if (v < 0 || v % 2 != 0 || i >= BULK || b->corr[i] != msg->corr ||
            !tr_ref_equal(msg->sender, b->repliers[i % REPLIERS])) {
            atomic_fetch_add(&b->strays, 1);
        } else {
            b->count[i]++;
        }
        latch_add(&b->replies, 1);
        break;
    }
    case TR_MSG_ASK_TIMEOUT:
        atomic_fetch_add(&b->timeouts, 1);
        break;
    case MSG_FLUSH:
        latch_add(&b->flushes, 1);
        break;
    default:
        atomic_fetch_add(&b->strays, 1);
    }
    return TR_OK;
}

static const tr_behaviour bulk_beh = {
    .init = bulk_init,
    .handle = bulk_handle,
    .state_size = sizeof(bulk *),
};

Test(ask, thousand_concurrent_asks_each_answered_once)
{
    tr_system *sys = make_system(2);
    replier_cfg rc[REPLIERS];
    bulk *b = calloc(1, sizeof(*b));
    cr_assert_not_null(b);
    latch_init(&b->replies);
    latch_init(&b->flushes);
    for (int i = 0; i < REPLIERS; i++) {
        replier_cfg_init(&rc[i]);
        cr_assert_eq(tr_spawn(sys, &replier_beh, &rc[i], NULL, &b->repliers[i]), TR_OK);
    }
    tr_ref asker;
    cr_assert_eq(tr_spawn(sys, &bulk_beh, b, NULL, &asker), TR_OK);
    cr_assert_eq(tr_post(sys, asker, MSG_GO, NULL, 0, 0), TR_OK);

    cr_assert(latch_wait(&b->replies, BULK, WAIT_MS), "only %ld of %d replies", latch_get(&b->replies), BULK);
    /* a marker from every replier, behind anything it sent before */
    for (int i = 0; i < REPLIERS; i++)
        cr_assert_eq(tr_post(sys, b->repliers[i], MSG_FLUSH_REQ, &asker, sizeof(asker), 0), TR_OK);
    cr_assert(latch_wait(&b->flushes, REPLIERS, WAIT_MS));

    cr_assert_eq(atomic_load(&b->ask_failures), 0);
    cr_assert_eq(atomic_load(&b->strays), 0, "replies with a wrong corr, sender or payload");
    cr_assert_eq(atomic_load(&b->timeouts), 0);
    cr_assert_eq(latch_get(&b->replies), BULK, "extra replies arrived");
    int total_asks = 0;
    for (int i = 0; i < REPLIERS; i++)
        total_asks += atomic_load(&rc[i].asks);
    cr_assert_eq(total_asks, BULK);
    for (int i = 0; i < BULK; i++)
        cr_assert_eq(b->count[i], 1, "ask %d answered %d times", i, b->count[i]);
    /* correlation ids are distinct */
    for (int i = 1; i < BULK; i++)
        for (int j = 0; j < i; j++)
            cr_assert_neq(b->corr[i], b->corr[j]);

    tr_system_destroy(sys);
    for (int i = 0; i < REPLIERS; i++)
        replier_cfg_fini(&rc[i]);
    latch_fini(&b->replies);
    latch_fini(&b->flushes);
    free(b);
}

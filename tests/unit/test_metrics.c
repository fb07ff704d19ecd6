/* Metrics and dead letters: message and spawn counters, alive count, the
 * dead-letter counter and log, tr_strerror, worker parking.
 *
 * Handlers never assert: they record and bump latches; the test thread
 * asserts. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_PING = TR_MSG_USER, MSG_PONG, MSG_START, MSG_COUNT, MSG_POKE };

static uint64_t sum_messages(const tr_metrics *m)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < m->workers; i++)
        n += m->worker[i].messages;
    return n;
}

static uint64_t sum_parks(const tr_metrics *m)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < m->workers; i++)
        n += m->worker[i].parks;
    return n;
}

/* ---- ping-pong ---- */

static int ponger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    uint64_t *pongs = state;
    if (msg->type == MSG_PING) {
        (*pongs)++;
        return tr_send(self, msg->sender, MSG_PONG, msg->data, msg->size);
    }
    if (msg->type == MSG_COUNT)
        return tr_reply(self, msg, pongs, sizeof(*pongs));
    return TR_OK;
}

static const tr_behaviour ponger = {.handle = ponger_handle, .state_size = sizeof(uint64_t)};

typedef struct pinger_state {
    tr_ref partner;
    uint64_t rounds;
} pinger_state;

static int pinger_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(pinger_state *)state = *(const pinger_state *)arg;
    return TR_OK;
}

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    pinger_state *s = state;
    uint64_t round = 0;
    if (msg->type == MSG_PONG) {
        memcpy(&round, msg->data, sizeof(round));
        if (round == s->rounds) {
            tr_stop_self(self);
            return TR_OK;
        }
    } else if (msg->type != MSG_START) {
        return TR_OK;
    }
    round++;
    return tr_send(self, s->partner, MSG_PING, &round, sizeof(round));
}

static const tr_behaviour pinger = {
    .init = pinger_init,
    .handle = pinger_handle,
    .state_size = sizeof(pinger_state),
};

#define ROUNDS 2000

Test(metrics, pingpong_counts_messages_spawns_and_alive)
{
    tr_system *sys = make_system(2);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.workers, 2);
    cr_assert_eq(tr_system_workers(sys), 2);
    cr_assert_eq(m.actors_spawned, 0);
    cr_assert_eq(m.actors_alive, 0);
    cr_assert_eq(sum_messages(&m), 0);
    cr_assert_eq(m.dead_letters, 0);

    tr_ref pong, ping;
    cr_assert_eq(tr_spawn(sys, &ponger, NULL, NULL, &pong), TR_OK);
    pinger_state args = {.partner = pong, .rounds = ROUNDS};
    cr_assert_eq(tr_spawn(sys, &pinger, &args, NULL, &ping), TR_OK);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_spawned, 2);
    cr_assert_eq(m.actors_alive, 2);

    cr_assert_eq(tr_post(sys, ping, MSG_START, NULL, 0, 0), TR_OK);
    int reason = -1;
    cr_assert_eq(tr_await_exit(sys, ping, WAIT_MS, &reason), TR_OK);
    cr_assert_eq(reason, TR_OK);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_alive, 1, "the pinger is dead, the ponger alive");

    /* the ponger answered every ping (tr_ask_wait spawns a helper actor) */
    void *reply = NULL;
    size_t size = 0;
    cr_assert_eq(tr_ask_wait(sys, pong, MSG_COUNT, NULL, 0, WAIT_MS, &reply, &size), TR_OK);
    cr_assert_eq(size, sizeof(uint64_t));
    uint64_t pongs;
    memcpy(&pongs, reply, sizeof(pongs));
    free(reply);
    cr_assert_eq(pongs, ROUNDS);

    tr_metrics_get(sys, &m);
    /* 2 * ROUNDS + 4 were handled (start, pings, pongs, the ask, the
     * inbox's request to make it and its reply); the snapshot may miss a
     * turn still being accounted, never more than a batch (64) per actor */
    cr_assert_geq(sum_messages(&m), ROUNDS, "workers handled only %llu messages",
                  (unsigned long long)sum_messages(&m));
    cr_assert_leq(sum_messages(&m), 2 * ROUNDS + 4);
    cr_assert_eq(m.actors_spawned, 3, "ponger, pinger and tr_ask_wait's inbox");
    cr_assert_eq(m.actors_alive, 1);
    uint64_t turns = 0;
    for (uint32_t i = 0; i < m.workers; i++)
        turns += m.worker[i].turns;
    cr_assert_geq(turns, 1);

    cr_assert_eq(tr_stop(sys, pong), TR_OK);
    cr_assert_eq(tr_await_exit(sys, pong, WAIT_MS, NULL), TR_OK);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_alive, 0, "%llu actors still alive", (unsigned long long)m.actors_alive);
    cr_assert_eq(m.actors_spawned, 3);
    cr_assert_eq(m.dead_letters, 0, "a clean ping-pong loses nothing");
    tr_system_destroy(sys);
}

/* ---- dead letters ---- */

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static const tr_behaviour idle_beh = {.handle = idle_handle};

static int latch_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)msg;
    latch_add(*(latch **)state, 1);
    return TR_OK;
}

static int latch_init_cb(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(latch **)state = arg;
    return TR_OK;
}

static const tr_behaviour latch_beh = {.init = latch_init_cb, .handle = latch_handle, .state_size = sizeof(latch *)};

/* An actor that has fully ended. Needs a ONE-worker system: tr_await_exit may
 * return while the dying actor's worker is still retiring its table slot (see
 * post_right_after_await_exit_is_edead below); a message handled afterwards by
 * another actor on the same single worker proves that turn is over. */
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
    cr_assert_eq(tr_spawn(sys, &latch_beh, &l, NULL, &b), TR_OK);
    cr_assert_eq(tr_post(sys, b, MSG_POKE, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&l, 1, WAIT_MS));
    cr_assert_eq(tr_kill(sys, b), TR_OK);
    cr_assert_eq(tr_await_exit(sys, b, WAIT_MS, NULL), TR_OK);
    latch_fini(&l);
    return dead;
}

Test(metrics, send_to_dead_actor_is_counted_and_logged)
{
    tr_system *sys = make_system(1);
    tr_ref dead = fully_dead_ref(sys);
    tr_metrics before;
    tr_metrics_get(sys, &before);

    cr_assert_eq(tr_post(sys, dead, MSG_POKE, "x", 1, 0), TR_EDEAD);
    tr_metrics after;
    tr_metrics_get(sys, &after);
    cr_assert_eq(after.dead_letters, before.dead_letters + 1);

    tr_dead_letter log[TR_DEAD_LETTER_LOG];
    size_t n = tr_dead_letters_recent(sys, log, TR_DEAD_LETTER_LOG);
    cr_assert_geq(n, 1);
    const tr_dead_letter *last = &log[n - 1]; /* oldest first: the newest is last */
    cr_assert(tr_ref_equal(last->to, dead), "the entry names the dead receiver");
    cr_assert_eq(last->type, MSG_POKE);
    cr_assert_eq(last->reason, TR_EDEAD);
    cr_assert(tr_ref_is_none(last->sender), "posted from outside: no sender");
    cr_assert_eq(tr_dead_letters_recent(sys, log, 0), 0);
    cr_assert_eq(tr_dead_letters_recent(sys, NULL, 4), 0);
    cr_assert_eq(tr_dead_letters_recent(NULL, log, 4), 0);
    tr_system_destroy(sys);
}

/* From an actor: tr_send to a dead actor, with the sender recorded. */

typedef struct sender_probe {
    tr_ref to;
    tr_ref self;
    atomic_int rc;
    latch done;
} sender_probe;

static int sender_probe_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    sender_probe *p = arg;
    p->self = tr_self(self);
    atomic_store(&p->rc, tr_send(self, p->to, MSG_PING, NULL, 0));
    latch_add(&p->done, 1);
    return TR_OK;
}

static const tr_behaviour sender_probe_beh = {.init = sender_probe_init, .handle = idle_handle};

Test(metrics, actor_send_to_dead_actor_logs_sender)
{
    tr_system *sys = make_system(1);
    tr_ref dead = fully_dead_ref(sys);
    sender_probe p = {.to = dead};
    atomic_store(&p.rc, -1);
    latch_init(&p.done);
    tr_ref s;
    cr_assert_eq(tr_spawn(sys, &sender_probe_beh, &p, NULL, &s), TR_OK);
    cr_assert(latch_wait(&p.done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&p.rc), TR_EDEAD);

    tr_dead_letter last;
    cr_assert_eq(tr_dead_letters_recent(sys, &last, 1), 1);
    cr_assert(tr_ref_equal(last.to, dead));
    cr_assert(tr_ref_equal(last.sender, s), "the sending actor is recorded");
    cr_assert_eq(last.type, MSG_PING);
    cr_assert_eq(last.reason, TR_EDEAD);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.dead_letters, 1);
    tr_system_destroy(sys);
    latch_fini(&p.done);
}

Test(metrics, dead_letter_log_keeps_the_most_recent_in_order)
{
    tr_system *sys = make_system(1);
    tr_ref dead = fully_dead_ref(sys);
    const int total = TR_DEAD_LETTER_LOG + 72;
    for (int i = 0; i < total; i++)
        cr_assert_eq(tr_post(sys, dead, (uint32_t)(TR_MSG_USER + i), NULL, 0, 0), TR_EDEAD);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.dead_letters, (uint64_t)total);

    tr_dead_letter log[TR_DEAD_LETTER_LOG + 10];
    size_t n = tr_dead_letters_recent(sys, log, TR_DEAD_LETTER_LOG + 10);
    cr_assert_eq(n, TR_DEAD_LETTER_LOG, "the log keeps the last %d", TR_DEAD_LETTER_LOG);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(log[i].type, (uint32_t)(TR_MSG_USER + total - TR_DEAD_LETTER_LOG + (int)i),
                     "entry %zu out of order", i);
    /* asking for fewer returns the newest ones, still oldest first */
    n = tr_dead_letters_recent(sys, log, 3);
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(log[i].type, (uint32_t)(TR_MSG_USER + total - 3 + i));
    tr_system_destroy(sys);
}

/* tr_await_exit reports the actor dead; a send right after it must then see a
 * dead actor (TR_EDEAD), not one that is still stopping. Repeated, because
 * the window is a race with the dying actor's worker. */

static int stop_on_poke(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state, (void)msg;
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour stop_on_poke_beh = {.handle = stop_on_poke};

Test(metrics, post_right_after_await_exit_is_edead)
{
    tr_system *sys = make_system(2);
    const int rounds = 300;
    int stopping = 0, other = 0;
    for (int i = 0; i < rounds; i++) {
        tr_ref r;
        cr_assert_eq(tr_spawn(sys, &stop_on_poke_beh, NULL, NULL, &r), TR_OK);
        cr_assert_eq(tr_post(sys, r, MSG_POKE, NULL, 0, 0), TR_OK);
        int reason = -1;
        cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, &reason), TR_OK);
        cr_assert_eq(reason, TR_OK);
        cr_assert_eq(tr_actor_state_of(sys, r), TR_STATE_DEAD);
        int rc = tr_post(sys, r, MSG_POKE, NULL, 0, 0);
        if (rc == TR_ESTOPPING)
            stopping++;
        else if (rc != TR_EDEAD)
            other++;
    }
    cr_expect_eq(other, 0);
    cr_expect_eq(stopping, 0,
                 "%d of %d sends to an actor that tr_await_exit reported dead returned TR_ESTOPPING", stopping,
                 rounds);
    tr_system_destroy(sys);
}

/* Short-lived actors: each one's first turn (init) ends with an empty
 * mailbox, then a message wakes it and it stops. Every one is counted as
 * spawned, none stays alive, nothing is lost. Under TSan this also exercises
 * the hand-over between the worker that parks an actor as idle and the one
 * that runs its last turn (see end_turn in actors/actor.c). */

static latch short_inits;

static int short_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    latch_add(&short_inits, 1);
    return TR_OK;
}

static const tr_behaviour short_beh = {.init = short_init, .handle = stop_on_poke};

Test(metrics, many_short_lived_actors_are_all_accounted)
{
    latch_init(&short_inits);
    tr_system *sys = make_system(2);
    enum { N = 300 };
    tr_ref refs[N];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tr_spawn(sys, &short_beh, NULL, NULL, &refs[i]), TR_OK);
        cr_assert(latch_wait(&short_inits, i + 1, WAIT_MS));
        cr_assert_eq(tr_post(sys, refs[i], MSG_POKE, NULL, 0, 0), TR_OK);
    }
    /* (exit reasons are not checked: slots are reused and only the latest
     * end per slot is remembered) */
    for (int i = 0; i < N; i++)
        cr_assert_eq(tr_await_exit(sys, refs[i], WAIT_MS, NULL), TR_OK);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.actors_spawned, N);
    cr_assert_eq(m.actors_alive, 0);
    cr_assert_eq(m.dead_letters, 0, "a message to a live actor was lost");
    tr_system_destroy(sys);
    latch_fini(&short_inits);
}

/* ---- tr_strerror ---- */

Test(metrics, strerror_is_distinct_and_never_empty)
{
    const char *msgs[TR_EINTENSITY + 1];
    for (int e = TR_OK; e <= TR_EINTENSITY; e++) {
        msgs[e] = tr_strerror(e);
        cr_assert_not_null(msgs[e], "code %d", e);
        cr_assert_neq(msgs[e][0], '\0', "code %d has an empty message", e);
        for (int k = 0; k < e; k++)
            cr_assert_str_neq(msgs[k], msgs[e], "codes %d and %d share \"%s\"", k, e, msgs[e]);
    }
    const char *user = tr_strerror(TR_EUSER + 5);
    cr_assert_not_null(user);
    cr_assert_neq(user[0], '\0');
    const char *neg = tr_strerror(-77);
    cr_assert_not_null(neg);
    cr_assert_neq(neg[0], '\0');
    const char *gap = tr_strerror(TR_EINTENSITY + 1);
    cr_assert_not_null(gap);
    cr_assert_neq(gap[0], '\0');
    /* application codes are not mistaken for runtime ones */
    for (int e = TR_OK; e <= TR_EINTENSITY; e++)
        cr_assert_str_neq(user, msgs[e]);
}

/* ---- parking ---- */

Test(metrics, workers_park_when_idle)
{
    tr_system *sys = make_system(2);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    uint64_t parks0 = sum_parks(&m);

    /* some work: at least one worker that was (or will be) parked runs it */
    latch l;
    latch_init(&l);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &latch_beh, &l, NULL, &a), TR_OK);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tr_post(sys, a, MSG_POKE, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&l, 10, WAIT_MS));
    cr_assert_eq(tr_stop(sys, a), TR_OK);
    cr_assert_eq(tr_await_exit(sys, a, WAIT_MS, NULL), TR_OK);

    /* no event says "a worker parked": poll, 1 ms apart, for at most 5 s */
    uint64_t parks = parks0;
    for (int i = 0; i < 5000 && parks <= parks0; i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000L};
        nanosleep(&ts, NULL);
        tr_metrics_get(sys, &m);
        parks = sum_parks(&m);
    }
    cr_assert_gt(parks, parks0, "no worker parked after the work ended (parks stayed at %llu)",
                 (unsigned long long)parks0);
    cr_assert_eq(m.actors_alive, 0);
    tr_system_destroy(sys);
    latch_fini(&l);
}

Test(metrics, null_arguments_are_ignored)
{
    tr_metrics m;
    memset(&m, 0xab, sizeof(m));
    tr_metrics_get(NULL, &m); /* must not crash */
    tr_system *sys = make_system(1);
    tr_metrics_get(sys, NULL);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.workers, 1);
    for (uint32_t i = m.workers; i < TR_METRICS_MAX_WORKERS; i++)
        cr_assert_eq(m.worker[i].messages, 0, "unused worker slots are zeroed");
    tr_system_destroy(sys);
}

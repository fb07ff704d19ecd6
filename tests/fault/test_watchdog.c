/* The per-message deadline watchdog: a handler that runs past its deadline
 * is reported (stderr, metrics) while it still runs, and the actor fails
 * with TR_EDEADLINE once it returns; a supervisor restarts it fresh.
 *
 * The slow handler stands for real work: it keeps "working" until the
 * watchdog has counted the overrun (bounded by 10 s), so nothing here waits
 * on a sleep for synchronisation. Timing asserts are lower bounds only, and
 * the deadlines (1 s) are far above what a fast handler takes even when a
 * loaded machine stalls a worker mid-handler (10x slowdown of TSan included). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_SLOW = TR_MSG_USER, MSG_COUNT, MSG_GET };

static tr_system *the_sys;
static latch starts;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t overruns(tr_system *sys)
{
    static tr_metrics m; /* large: keep it off worker stacks */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    tr_metrics_get(sys, &m);
    uint64_t n = m.deadline_overruns;
    pthread_mutex_unlock(&lock);
    return n;
}

typedef struct worker {
    long count;
} worker;

static int worker_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    latch_add(&starts, 1);
    return TR_OK;
}

static int worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    worker *w = state;
    switch (msg->type) {
    case MSG_SLOW: { /* work until the watchdog noticed (or 10 s) */
        uint64_t before = *(const uint64_t *)msg->data, t0 = mono_ms();
        while (overruns(the_sys) == before && mono_ms() - t0 < 10000) {
            struct timespec ts = {.tv_nsec = 1000000};
            nanosleep(&ts, NULL);
        }
        return TR_OK; /* returns normally: the watchdog turns it into a failure */
    }
    case MSG_COUNT: w->count++; return TR_OK;
    case MSG_GET: return tr_reply(self, msg, &w->count, sizeof(w->count));
    default: return TR_OK;
    }
}

static const tr_behaviour worker_beh = {.init = worker_init, .handle = worker_handle,
                                        .state_size = sizeof(worker)};

static long get_count(tr_system *sys, tr_ref r)
{
    void *reply;
    size_t n;
    cr_assert_eq(tr_ask_wait(sys, r, MSG_GET, NULL, 0, 10000, &reply, &n), TR_OK);
    long c;
    memcpy(&c, reply, sizeof(c));
    free(reply);
    return c;
}

static void post_slow(tr_system *sys, tr_ref r)
{
    uint64_t before = overruns(sys);
    cr_assert_eq(tr_post(sys, r, MSG_SLOW, &before, sizeof(before), -1), TR_OK);
}

/* Captures what the runtime writes to stderr into a temporary file. */
typedef struct capture {
    int saved;
    FILE *file;
} capture;

static capture capture_stderr(void)
{
    capture c = {.file = tmpfile()};
    cr_assert_not_null(c.file);
    fflush(stderr);
    c.saved = dup(STDERR_FILENO);
    dup2(fileno(c.file), STDERR_FILENO);
    return c;
}

static void capture_end(capture *c, char *buf, size_t len)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    rewind(c->file);
    size_t n = fread(buf, 1, len - 1, c->file);
    buf[n] = '\0';
    fclose(c->file);
}

Test(watchdog, an_overrunning_handler_is_reported_and_fails_with_edeadline)
{
    latch_init(&starts);
    tr_system *sys = the_sys = make_system(2);
    tr_spawn_opts o = {.name = "slowpoke", .handler_deadline_ms = 1000};
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &worker_beh, NULL, &o, &a), TR_OK);
    cr_assert_eq(tr_post(sys, a, MSG_COUNT, NULL, 0, -1), TR_OK);
    cr_assert_eq(get_count(sys, a), 1, "fast handlers pass");

    capture cap = capture_stderr();
    uint64_t t0 = mono_ms();
    post_slow(sys, a);
    int reason;
    int rc = tr_await_exit(sys, a, 20000, &reason);
    uint64_t took = mono_ms() - t0;
    char out[1024];
    capture_end(&cap, out, sizeof(out));

    cr_assert_eq(rc, TR_OK);
    cr_assert_eq(reason, TR_EDEADLINE, "got %s", tr_strerror(reason));
    cr_assert_geq(took, 1000, "failed after %llu ms, before its deadline", (unsigned long long)took);
    cr_assert_eq(overruns(sys), 1);
    cr_assert(strstr(out, "slowpoke") != NULL, "warning names the actor: [%s]", out);
    cr_assert(strstr(out, "deadline") != NULL, "[%s]", out);
    /* two lines: the watchdog's warning, then the crash report (actors/crash.c) */
    char *second = strchr(out, '\n') + 1;
    cr_assert_eq(strchr(second, '\n'), out + strlen(out) - 1, "two lines: [%s]", out);
    cr_assert(strstr(second, "[crash]") != NULL, "[%s]", out);
    tr_system_destroy(sys);
}

Test(watchdog, a_supervised_child_is_restarted_with_fresh_state)
{
    latch_init(&starts);
    tr_system *sys = the_sys = make_system(2);
    tr_child_spec spec = {.id = "w", .beh = &worker_beh, .restart = TR_PERMANENT,
                          .opts = {.handler_deadline_ms = 1000}};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000};
    tr_ref sup, w1, w2;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert(latch_wait(&starts, 1, 10000));
    cr_assert_eq(tr_supervisor_child(sys, sup, "w", 10000, &w1), TR_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tr_post(sys, w1, MSG_COUNT, NULL, 0, -1), TR_OK);
    cr_assert_eq(get_count(sys, w1), 3);

    capture cap = capture_stderr(); /* keep the expected warning out of the test log */
    post_slow(sys, w1);
    int reason;
    int rc = tr_await_exit(sys, w1, 20000, &reason);
    bool restarted = latch_wait(&starts, 2, 10000);
    char out[1024];
    capture_end(&cap, out, sizeof(out));
    cr_assert_eq(rc, TR_OK);
    cr_assert_eq(reason, TR_EDEADLINE);
    cr_assert(restarted);
    cr_assert_eq(tr_supervisor_child(sys, sup, "w", 10000, &w2), TR_OK);
    cr_assert_neq(w2.id, w1.id);
    cr_assert_eq(get_count(sys, w2), 0, "fresh state after the restart");
    tr_system_destroy(sys);
}

Test(watchdog, handlers_within_their_deadline_and_unwatched_actors_never_trip)
{
    latch_init(&starts);
    tr_system *sys = the_sys = make_system(2);
    tr_spawn_opts watched = {.handler_deadline_ms = 5000};
    tr_ref a, b;
    cr_assert_eq(tr_spawn(sys, &worker_beh, NULL, &watched, &a), TR_OK);
    cr_assert_eq(tr_spawn(sys, &worker_beh, NULL, NULL, &b), TR_OK);
    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(tr_post(sys, a, MSG_COUNT, NULL, 0, -1), TR_OK);
        cr_assert_eq(tr_post(sys, b, MSG_COUNT, NULL, 0, -1), TR_OK);
    }
    cr_assert_eq(get_count(sys, a), 2000);
    cr_assert_eq(get_count(sys, b), 2000);
    cr_assert_eq(overruns(sys), 0);
    cr_assert_eq(tr_actor_state_of(sys, a) == TR_STATE_DEAD, false);
    tr_system_destroy(sys);
}

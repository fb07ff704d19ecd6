/* bench_blocking: the cost of handing work to the blocking pool. Prints,
 * never asserts.
 *
 *   bench_blocking [calls]      (default 200000)
 *
 * Figures, one line each (RESULT <bench> <size> <ms>, as troupe_savina):
 *   - blocking_rtt: one actor runs `calls` empty tr_blocking_run calls one
 *     after another (each waits for the previous result): the round trip
 *     worker -> pool thread -> result message -> worker;
 *   - blocking_rtt8: the same with 8 calls in flight at once;
 *   - message_rtt: for scale, a ping-pong round trip between two actors.
 * Each checks its count of results: a lost or duplicated message changes it
 * (the run then fails). Print `uptime` beside the figures: the machine is
 * shared. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <troupe/troupe.h>

enum { MSG_RESULT = TR_MSG_USER, MSG_PING, MSG_PONG };

typedef struct run {
    long target;      /* results to collect */
    long in_flight;   /* calls kept running at once */
    long started, done;
    atomic_int finished;
    tr_ref peer;      /* message_rtt: the ponger */
} run;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *empty(void *arg) { return arg; }

static int start_one(tr_ctx *self, run *r)
{
    r->started++;
    return tr_blocking_run(self, empty, NULL, NULL, MSG_RESULT, NULL);
}

static int caller_init(tr_ctx *self, void *state, void *arg)
{
    run *r = arg;
    *(run **)state = r;
    for (long i = 0; i < r->in_flight && r->started < r->target; i++) {
        int rc = start_one(self, r);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int caller_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    run *r = *(run **)state;
    if (msg->type != MSG_RESULT)
        return TR_OK;
    r->done++;
    if (r->started < r->target)
        return start_one(self, r);
    if (r->done == r->target) {
        atomic_store(&r->finished, 1);
        tr_stop_self(self);
    }
    return TR_OK;
}

static const tr_behaviour caller = {
    .init = caller_init, .handle = caller_handle, .state_size = sizeof(run *)};

static int ponger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    return tr_send(self, msg->sender, MSG_PONG, NULL, 0);
}

static const tr_behaviour ponger = {.handle = ponger_handle};

static int pinger_init(tr_ctx *self, void *state, void *arg)
{
    run *r = arg;
    *(run **)state = r;
    r->started = 1;
    return tr_send(self, r->peer, MSG_PING, NULL, 0);
}

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    run *r = *(run **)state;
    (void)msg;
    r->done++;
    if (r->started < r->target) {
        r->started++;
        return tr_send(self, r->peer, MSG_PING, NULL, 0);
    }
    atomic_store(&r->finished, 1);
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour pinger = {
    .init = pinger_init, .handle = pinger_handle, .state_size = sizeof(run *)};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_blocking: %s: %s\n", what, tr_strerror(rc));
    exit(1);
}

static void report(const char *name, run *r, double ms)
{
    if (r->done != r->target) {
        fprintf(stderr, "bench_blocking: %s: %ld results, expected %ld\n", name, r->done, r->target);
        exit(1);
    }
    printf("RESULT %s %ld %.3f\n", name, r->target, ms);
    printf("METRIC %s ns_per_round_trip %.0f\n", name, ms * 1e6 / (double)r->target);
}

static void run_calls(tr_system *sys, const char *name, long calls, long in_flight)
{
    run r = {.target = calls, .in_flight = in_flight};
    tr_ref a;
    double t0 = now_ms();
    int rc = tr_spawn(sys, &caller, &r, NULL, &a);
    if (rc != TR_OK)
        die("spawn", rc);
    tr_await_exit(sys, a, -1, NULL);
    report(name, &r, now_ms() - t0);
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 200000;
    if (calls <= 0)
        calls = 1;
    tr_system *sys;
    int rc = tr_system_create(NULL, &sys);
    if (rc != TR_OK)
        die("system", rc);
    run_calls(sys, "blocking_rtt", calls, 1);
    run_calls(sys, "blocking_rtt8", calls, 8);

    run r = {.target = calls};
    tr_ref p, q;
    if ((rc = tr_spawn(sys, &ponger, NULL, NULL, &q)) != TR_OK)
        die("spawn", rc);
    r.peer = q;
    double t0 = now_ms();
    if ((rc = tr_spawn(sys, &pinger, &r, NULL, &p)) != TR_OK)
        die("spawn", rc);
    tr_await_exit(sys, p, -1, NULL);
    report("message_rtt", &r, now_ms() - t0);

    tr_metrics m;
    tr_metrics_get(sys, &m);
    printf("METRIC blocking_pool threads %llu calls %llu\n", (unsigned long long)m.blocking_threads,
           (unsigned long long)m.blocking_calls);
    tr_system_destroy(sys);
    return 0;
}

/* troupe_savina: the Savina subset, SkyNet and the runtime-cost benchmarks on
 * Troupe. The same work, with the same parameters, is done by the peers in
 * bench/peers/ (CAF in C++, Erlang); bench/run.sh runs all three.
 *
 *   troupe_savina <bench> [--scale S] [--seconds S]
 *
 * benches (default sizes; --scale multiplies the message / actor counts):
 *   pingpong    2 actors, 40,000 round trips
 *   counting    producer sends 1,000,000 increments to a counter, then asks it
 *   threadring  100 actors in a ring, a token passed 100,000 hops
 *   chameneos   100 chameneos, a mall, 200,000 meetings
 *   fjthrput    fork-join throughput: 60 actors x 10,000 messages
 *   fjcreate    fork-join create: 40,000 actors, one message each
 *   big         120 actors, each sends 20,000 pings to random peers (pong each)
 *   skynet      1,111,111 actors: 10 children per node over 6 levels; leaves
 *               answer their number, parents sum (sum 499999500000)
 *   idle        10,000 idle actors; CPU time over --seconds (default 10)
 *   spawn       spawn 1,000,000 actors from the main thread; each runs (adds its
 *               index to a sum) and ends: time, peak RSS, B/actor
 *   spawnmsg    a driver actor spawns 1,000,000 actors (512 in flight) and sends
 *               each its index; each replies with it and ends; the driver sums
 *   cancel      build a 1->100->100->100 tree (1,010,101 actors), stop the root
 *   mem         1,000,000 idle actors alive at once (--scale 10: 10M): resident
 *               memory growth per actor (VmRSS), then stop them all
 *
 * Output (machine-readable, one per line):
 *   RESULT <bench> <size> <ms>        ms = wall time of the measured part
 *                                     (idle: CPU ms used in the window)
 *   METRIC <bench> <name> <value>     extra figures
 *   WINDOW <start_s> <end_s>          with TROUPE_BENCH_WINDOW=1 (spawn, cancel,
 *                                     fjcreate), on stderr: the measured part in
 *                                     CLOCK_MONOTONIC seconds, for
 *                                     `perf record -k mono` + `perf report --time`
 * Every bench also prints METRIC <bench> threads <workers>.
 * Each bench checks its result before the system is torn down, with a check a
 * lost or duplicated message (or actor) would change (sums over payload
 * values, counts taken while the system still runs); a wrong result prints
 * CHECK FAILED and exits 1. The timed part excludes tr_system_create/destroy.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

enum {
    MSG_GO = TR_MSG_USER,
    MSG_NEXT,
    MSG_PING,
    MSG_PONG,
    MSG_INC,
    MSG_GET,
    MSG_RESULT,
    MSG_SET_NEXT,
    MSG_TOKEN,
    MSG_MEET,
    MSG_CHANGE,
    MSG_EXIT,
    MSG_COUNT,
    MSG_WORK,
};

/* ---- helpers ---- */

static double g_scale = 1.0;
static double g_seconds = 10.0;
static int g_failed;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The measured part [t0, t0 + ms) of a bench, for profiling it alone. */
static void window(double t0, double ms)
{
    if (getenv("TROUPE_BENCH_WINDOW") != NULL)
        fprintf(stderr, "WINDOW %.6f %.6f\n", t0 / 1e3, (t0 + ms) / 1e3);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "troupe_savina: %s: %s\n", what, tr_strerror(rc));
    exit(1);
}

#define CHECK_RC(expr)                                                                         \
    do {                                                                                       \
        int rc_ = (expr);                                                                      \
        if (rc_ != TR_OK)                                                                      \
            die(#expr, rc_);                                                                   \
    } while (0)

static uint64_t scaled(uint64_t base)
{
    double v = (double)base * g_scale + 0.5;
    return v < 1.0 ? 1 : (uint64_t)v;
}

static void check(const char *bench, const char *what, uint64_t got, uint64_t want)
{
    if (got != want) {
        printf("CHECK FAILED %s: %s = %llu, expected %llu\n", bench, what,
               (unsigned long long)got, (unsigned long long)want);
        g_failed = 1;
    }
}

static void result(const char *bench, uint64_t size, double ms)
{
    printf("RESULT %s %llu %.3f\n", bench, (unsigned long long)size, ms);
}

static void metric(const char *bench, const char *name, double v)
{
    printf("METRIC %s %s %.3f\n", bench, name, v);
}

static const char *g_bench = "?";

/* The system with its defaults (one worker per core); prints its worker count. */
static tr_system *make_system(void)
{
    tr_system *sys;
    CHECK_RC(tr_system_create(NULL, &sys));
    tr_metrics m;
    tr_metrics_get(sys, &m);
    metric(g_bench, "threads", (double)m.workers);
    return sys;
}

/* Before teardown: nothing sent in the benchmark became a dead letter. */
static void check_no_dead_letters(const char *bench, tr_system *sys)
{
    tr_metrics m;
    tr_metrics_get(sys, &m);
    check(bench, "dead letters", m.dead_letters, 0);
    metric(bench, "mutes", (double)m.mutes);
}

/* A counter an outside thread can block on (one waiter). */
typedef struct counter {
    _Atomic uint64_t n;
    _Atomic uint64_t want;
    _Atomic int waiting;
    pthread_mutex_t lock;
    pthread_cond_t cv;
} counter;

static counter g_done;

static void counter_reset(counter *c)
{
    atomic_store(&c->n, 0);
    atomic_store(&c->want, 0);
    atomic_store(&c->waiting, 0);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void counter_add(counter *c)
{
    uint64_t v = atomic_fetch_add(&c->n, 1) + 1;
    if (atomic_load(&c->waiting) && v >= atomic_load(&c->want)) {
        pthread_mutex_lock(&c->lock);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->lock);
    }
}

static void counter_wait(counter *c, uint64_t want)
{
    if (atomic_load(&c->n) >= want)
        return;
    pthread_mutex_lock(&c->lock);
    atomic_store(&c->want, want);
    atomic_store(&c->waiting, 1);
    while (atomic_load(&c->n) < want)
        pthread_cond_wait(&c->cv, &c->lock);
    atomic_store(&c->waiting, 0);
    pthread_mutex_unlock(&c->lock);
}

/* Savina's performComputation: sin(theta)^2. */
static volatile double g_sink;
static void compute(double theta)
{
    double s = sin(theta);
    g_sink = s * s;
}

static uint64_t get_u64(const tr_msg *m)
{
    uint64_t v = 0;
    if (m->size >= sizeof(v))
        memcpy(&v, m->data, sizeof(v));
    return v;
}

/* How many messages a driver actor sends per turn before queueing itself a
 * MSG_NEXT: it keeps the sends inside the mailbox bound (backpressure). */
#define CHUNK 256u

/* ---- pingpong ---- */

/* The pinger sends n, n-1, ..., 1; the ponger sums what it gets and echoes it;
 * the pinger checks every echo is the value it sent last. A lost message
 * hangs the run; a duplicated or reordered one changes the sum or an echo. */
static _Atomic uint64_t g_count;
static uint64_t g_pp_sum, g_pp_bad_echoes;

typedef struct pp_state {
    tr_ref partner;
    uint64_t left;
} pp_state;

static int pinger_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    pp_state *s = state;
    *s = *(pp_state *)arg;
    return TR_OK;
}

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    pp_state *s = state;
    if (msg->type == MSG_PONG) {
        if (get_u64(msg) != s->left)
            g_pp_bad_echoes++;
        if (--s->left == 0) {
            tr_stop_self(self);
            return TR_OK;
        }
    }
    return tr_send(self, s->partner, MSG_PING, &s->left, sizeof(s->left));
}

static int ponger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    uint64_t *sum = state;
    *sum += get_u64(msg);
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    if (msg->type == MSG_GET) {
        g_pp_sum = *sum;
        counter_add(&g_done);
        return TR_OK;
    }
    return tr_send(self, msg->sender, MSG_PONG, msg->data, msg->size);
}

static const tr_behaviour pinger_b = {
    .init = pinger_init, .handle = pinger_handle, .state_size = sizeof(pp_state)};
static const tr_behaviour ponger_b = {.handle = ponger_handle, .state_size = sizeof(uint64_t)};

static void bench_pingpong(void)
{
    uint64_t n = scaled(40000);
    tr_system *sys = make_system();
    double t0 = now_ms();
    tr_ref pong, ping;
    CHECK_RC(tr_spawn(sys, &ponger_b, NULL, NULL, &pong));
    pp_state a = {.partner = pong, .left = n};
    CHECK_RC(tr_spawn(sys, &pinger_b, &a, NULL, &ping));
    CHECK_RC(tr_post(sys, ping, MSG_GO, NULL, 0, -1));
    int reason;
    CHECK_RC(tr_await_exit(sys, ping, -1, &reason));
    double ms = now_ms() - t0;
    CHECK_RC(tr_post(sys, pong, MSG_GET, NULL, 0, -1)); /* after the last ping */
    counter_wait(&g_done, 1);
    check("pingpong", "pings", atomic_load(&g_count) - 1, n);
    check("pingpong", "sum of ping values", g_pp_sum, n * (n + 1) / 2);
    check("pingpong", "echoes not matching the ping", g_pp_bad_echoes, 0);
    check_no_dead_letters("pingpong", sys);
    tr_system_destroy(sys);
    result("pingpong", n, ms);
    metric("pingpong", "msgs_per_s", 2.0 * (double)n / (ms / 1e3));
}

/* ---- counting ---- */

typedef struct producer_state {
    tr_ref counter;
    uint64_t left;
} producer_state;

static uint64_t g_counted;

static int counter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    uint64_t *count = state;
    if (msg->type == MSG_INC) {
        (*count)++;
        return TR_OK;
    }
    if (msg->type == MSG_GET)
        return tr_send(self, msg->sender, MSG_RESULT, count, sizeof(*count));
    return TR_OK;
}

static int producer_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(producer_state *)state = *(producer_state *)arg;
    return TR_OK;
}

static int producer_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    producer_state *s = state;
    if (msg->type == MSG_RESULT) {
        g_counted = get_u64(msg);
        counter_add(&g_done);
        tr_stop_self(self);
        return TR_OK;
    }
    unsigned k = s->left < CHUNK ? (unsigned)s->left : CHUNK;
    for (unsigned i = 0; i < k; i++) {
        int rc = tr_send(self, s->counter, MSG_INC, NULL, 0);
        if (rc != TR_OK)
            return rc;
    }
    s->left -= k;
    if (s->left == 0)
        return tr_send(self, s->counter, MSG_GET, NULL, 0);
    return tr_send(self, tr_self(self), MSG_NEXT, NULL, 0);
}

static const tr_behaviour counter_b = {.handle = counter_handle, .state_size = sizeof(uint64_t)};
static const tr_behaviour producer_b = {
    .init = producer_init, .handle = producer_handle, .state_size = sizeof(producer_state)};

static void bench_counting(void)
{
    uint64_t n = scaled(1000000);
    tr_system *sys = make_system();
    double t0 = now_ms();
    tr_ref c, p;
    CHECK_RC(tr_spawn(sys, &counter_b, NULL, NULL, &c));
    producer_state a = {.counter = c, .left = n};
    CHECK_RC(tr_spawn(sys, &producer_b, &a, NULL, &p));
    CHECK_RC(tr_post(sys, p, MSG_GO, NULL, 0, -1));
    counter_wait(&g_done, 1);
    double ms = now_ms() - t0;
    check("counting", "count", g_counted, n);
    check_no_dead_letters("counting", sys);
    tr_system_destroy(sys);
    result("counting", n, ms);
    metric("counting", "msgs_per_s", (double)n / (ms / 1e3));
}

/* ---- threadring ---- */

static int ring_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    tr_ref *next = state;
    if (msg->type == MSG_SET_NEXT) {
        memcpy(next, msg->data, sizeof(*next));
        return TR_OK;
    }
    uint64_t hops = get_u64(msg);
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    if (hops == 0) {
        counter_add(&g_done);
        return TR_OK;
    }
    hops--;
    return tr_send(self, *next, MSG_TOKEN, &hops, sizeof(hops));
}

static const tr_behaviour ring_b = {.handle = ring_handle, .state_size = sizeof(tr_ref)};

static void bench_threadring(void)
{
    const unsigned nactors = 100;
    uint64_t hops = scaled(100000);
    tr_ref refs[100];
    tr_system *sys = make_system();
    double t0 = now_ms();
    for (unsigned i = 0; i < nactors; i++)
        CHECK_RC(tr_spawn(sys, &ring_b, NULL, NULL, &refs[i]));
    for (unsigned i = 0; i < nactors; i++)
        CHECK_RC(tr_post(sys, refs[i], MSG_SET_NEXT, &refs[(i + 1) % nactors], sizeof(tr_ref), -1));
    CHECK_RC(tr_post(sys, refs[0], MSG_TOKEN, &hops, sizeof(hops), -1));
    counter_wait(&g_done, 1);
    double ms = now_ms() - t0;
    check("threadring", "token receptions", atomic_load(&g_count), hops + 1);
    check_no_dead_letters("threadring", sys);
    tr_system_destroy(sys);
    result("threadring", hops, ms);
    metric("threadring", "msgs_per_s", (double)hops / (ms / 1e3));
}

/* ---- chameneos ---- */

enum { RED, YELLOW, BLUE, FADED };

static int complement(int a, int b)
{
    if (a == b)
        return a;
    return 3 - a - b; /* the third colour */
}

typedef struct meet_msg {
    int color;
    tr_ref who;
} meet_msg;

typedef struct mall_state {
    uint64_t left, sum;
    unsigned faded, nchameneos;
    tr_ref waiting;
    meet_msg waiting_msg;
} mall_state;

typedef struct cham_state {
    tr_ref mall;
    int color;
    uint64_t meetings;
} cham_state;

static uint64_t g_meetings_sum;

typedef struct mall_args {
    uint64_t meetings;
    unsigned nchameneos;
} mall_args;

static int mall_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    mall_state *s = state;
    const mall_args *a = arg;
    s->left = a->meetings;
    s->nchameneos = a->nchameneos;
    return TR_OK;
}

static int mall_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    mall_state *s = state;
    if (msg->type == MSG_MEET) {
        meet_msg m;
        memcpy(&m, msg->data, sizeof(m));
        if (s->left > 0) {
            if (tr_ref_is_none(s->waiting)) {
                s->waiting = m.who;
                return TR_OK;
            }
            s->left--;
            tr_ref w = s->waiting;
            s->waiting = TR_REF_NONE;
            return tr_send(self, w, MSG_MEET, &m, sizeof(m));
        }
        return tr_send(self, m.who, MSG_EXIT, NULL, 0);
    }
    if (msg->type == MSG_COUNT) {
        s->sum += get_u64(msg);
        if (++s->faded == s->nchameneos) {
            g_meetings_sum = s->sum;
            counter_add(&g_done);
            tr_stop_self(self);
        }
    }
    return TR_OK;
}

typedef struct cham_args {
    tr_ref mall;
    int color;
} cham_args;

static int cham_init(tr_ctx *self, void *state, void *arg)
{
    cham_state *s = state;
    const cham_args *a = arg;
    s->mall = a->mall;
    s->color = a->color;
    meet_msg m = {.color = s->color, .who = tr_self(self)};
    return tr_send(self, s->mall, MSG_MEET, &m, sizeof(m));
}

static int cham_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    cham_state *s = state;
    if (msg->type == MSG_MEET) {
        meet_msg other;
        memcpy(&other, msg->data, sizeof(other));
        s->color = complement(s->color, other.color);
        s->meetings++;
        meet_msg change = {.color = s->color, .who = tr_self(self)};
        int rc = tr_send(self, other.who, MSG_CHANGE, &change, sizeof(change));
        if (rc != TR_OK)
            return rc;
    } else if (msg->type == MSG_CHANGE) {
        meet_msg other;
        memcpy(&other, msg->data, sizeof(other));
        s->color = other.color;
        s->meetings++;
    } else if (msg->type == MSG_EXIT) {
        s->color = FADED;
        tr_stop_self(self);
        return tr_send(self, s->mall, MSG_COUNT, &s->meetings, sizeof(s->meetings));
    } else {
        return TR_OK;
    }
    meet_msg m = {.color = s->color, .who = tr_self(self)};
    return tr_send(self, s->mall, MSG_MEET, &m, sizeof(m));
}

static const tr_behaviour mall_b = {
    .init = mall_init, .handle = mall_handle, .state_size = sizeof(mall_state)};
static const tr_behaviour cham_b = {
    .init = cham_init, .handle = cham_handle, .state_size = sizeof(cham_state)};

static void bench_chameneos(void)
{
    enum { NCHAM = 100 };
    uint64_t meetings = scaled(200000);
    cham_args args[NCHAM];
    tr_system *sys = make_system();
    double t0 = now_ms();
    tr_ref mall;
    mall_args ma = {.meetings = meetings, .nchameneos = NCHAM};
    CHECK_RC(tr_spawn(sys, &mall_b, &ma, NULL, &mall));
    for (unsigned i = 0; i < NCHAM; i++) {
        args[i] = (cham_args){.mall = mall, .color = (int)(i % 3)};
        CHECK_RC(tr_spawn(sys, &cham_b, &args[i], NULL, NULL));
    }
    counter_wait(&g_done, 1);
    double ms = now_ms() - t0;
    check("chameneos", "sum of meetings", g_meetings_sum, 2 * meetings);
    tr_system_destroy(sys);
    result("chameneos", meetings, ms);
}

/* ---- fork-join throughput ---- */

static uint64_t g_fj_msgs;
static tr_ref *g_workers;
static unsigned g_nworkers;

/* Each worker sums the round numbers it is sent (0 .. msgs-1) and reports the
 * sum when it has had msgs messages: a lost message hangs the run, a
 * duplicated one ends the worker early with a different sum. */
typedef struct fjt_state {
    uint64_t got, sum;
} fjt_state;

static int fjt_worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    fjt_state *s = state;
    if (msg->type != MSG_WORK)
        return TR_OK;
    compute(37.2);
    s->sum += get_u64(msg);
    if (++s->got == g_fj_msgs) {
        atomic_fetch_add_explicit(&g_count, s->sum, memory_order_relaxed);
        counter_add(&g_done);
        tr_stop_self(self);
    }
    return TR_OK;
}

static int fjt_driver_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)msg;
    uint64_t *sent = state; /* rounds sent: one message to every worker per round */
    unsigned rounds = CHUNK / g_nworkers > 0 ? CHUNK / g_nworkers : 1;
    for (unsigned r = 0; r < rounds && *sent < g_fj_msgs; r++, (*sent)++)
        for (unsigned i = 0; i < g_nworkers; i++) {
            int rc = tr_send(self, g_workers[i], MSG_WORK, sent, sizeof(*sent));
            if (rc != TR_OK)
                return rc;
        }
    if (*sent < g_fj_msgs)
        return tr_send(self, tr_self(self), MSG_NEXT, NULL, 0);
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour fjt_worker_b = {.handle = fjt_worker_handle,
                                          .state_size = sizeof(fjt_state)};
static const tr_behaviour fjt_driver_b = {.handle = fjt_driver_handle,
                                          .state_size = sizeof(uint64_t)};

static void bench_fjthrput(void)
{
    g_nworkers = 60;
    g_fj_msgs = scaled(10000);
    tr_ref refs[60];
    g_workers = refs;
    tr_system *sys = make_system();
    double t0 = now_ms();
    for (unsigned i = 0; i < g_nworkers; i++)
        CHECK_RC(tr_spawn(sys, &fjt_worker_b, NULL, NULL, &refs[i]));
    tr_ref driver;
    CHECK_RC(tr_spawn(sys, &fjt_driver_b, NULL, NULL, &driver));
    CHECK_RC(tr_post(sys, driver, MSG_GO, NULL, 0, -1));
    counter_wait(&g_done, g_nworkers);
    double ms = now_ms() - t0;
    uint64_t total = g_fj_msgs * g_nworkers;
    check("fjthrput", "sum of round numbers", atomic_load(&g_count),
          g_nworkers * (g_fj_msgs * (g_fj_msgs - 1) / 2));
    check_no_dead_letters("fjthrput", sys);
    tr_system_destroy(sys);
    result("fjthrput", g_fj_msgs, ms);
    metric("fjthrput", "msgs_per_s", (double)total / (ms / 1e3));
}

/* ---- fork-join create ---- */

static int fjc_worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != MSG_WORK)
        return TR_OK;
    compute(37.2);
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    tr_stop_self(self);
    return TR_OK;
}

static void fjc_worker_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    counter_add(&g_done);
}

static const tr_behaviour fjc_worker_b = {.handle = fjc_worker_handle,
                                          .terminate = fjc_worker_terminate};

static int fjc_driver_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)msg;
    uint64_t *left = state;
    if (msg->type == MSG_GO)
        *left = get_u64(msg);
    unsigned k = *left < CHUNK ? (unsigned)*left : CHUNK;
    for (unsigned i = 0; i < k; i++) {
        tr_ref w;
        int rc = tr_spawn(tr_ctx_system(self), &fjc_worker_b, NULL, NULL, &w);
        if (rc == TR_OK)
            rc = tr_send(self, w, MSG_WORK, NULL, 0);
        if (rc != TR_OK)
            return rc;
    }
    *left -= k;
    if (*left > 0)
        return tr_send(self, tr_self(self), MSG_NEXT, NULL, 0);
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour fjc_driver_b = {.handle = fjc_driver_handle,
                                          .state_size = sizeof(uint64_t)};

static void bench_fjcreate(void)
{
    uint64_t n = scaled(40000);
    tr_system *sys = make_system();
    double t0 = now_ms();
    tr_ref driver;
    CHECK_RC(tr_spawn(sys, &fjc_driver_b, NULL, NULL, &driver));
    CHECK_RC(tr_post(sys, driver, MSG_GO, &n, sizeof(n), -1));
    counter_wait(&g_done, n);
    double ms = now_ms() - t0;
    window(t0, ms);
    check("fjcreate", "workers run", atomic_load(&g_count), n);
    check_no_dead_letters("fjcreate", sys);
    tr_system_destroy(sys);
    result("fjcreate", n, ms);
    metric("fjcreate", "actors_per_s", (double)n / (ms / 1e3));
}

/* ---- big ---- */

static uint64_t g_big_pings;

typedef struct big_state {
    uint64_t rng;
    uint64_t pongs;
    uint64_t pings_seen;
} big_state;

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int big_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    big_state *s = state;
    s->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)arg * 0xBF58476D1CE4E5B9ull;
    if (s->rng == 0)
        s->rng = 1;
    return TR_OK;
}

static int big_ping_random(tr_ctx *self, big_state *s)
{
    tr_ref to = g_workers[xorshift(&s->rng) % g_nworkers];
    return tr_send(self, to, MSG_PING, NULL, 0);
}

static int big_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    big_state *s = state;
    switch (msg->type) {
    case MSG_PING:
        s->pings_seen++;
        return tr_send(self, msg->sender, MSG_PONG, NULL, 0);
    case MSG_PONG:
        if (++s->pongs == g_big_pings) {
            counter_add(&g_done);
            return TR_OK;
        }
        return big_ping_random(self, s);
    case MSG_GO:
        return big_ping_random(self, s);
    case MSG_GET: /* after the run: report the pings handled, counted in state */
        atomic_fetch_add_explicit(&g_count, s->pings_seen, memory_order_relaxed);
        counter_add(&g_done);
        return TR_OK;
    }
    return TR_OK;
}

static const tr_behaviour big_b = {
    .init = big_init, .handle = big_handle, .state_size = sizeof(big_state)};

static void bench_big(void)
{
    g_nworkers = 120;
    g_big_pings = scaled(20000);
    tr_ref refs[120];
    g_workers = refs;
    tr_system *sys = make_system();
    double t0 = now_ms();
    for (unsigned i = 0; i < g_nworkers; i++)
        CHECK_RC(tr_spawn(sys, &big_b, (void *)(uintptr_t)(i + 1), NULL, &refs[i]));
    for (unsigned i = 0; i < g_nworkers; i++)
        CHECK_RC(tr_post(sys, refs[i], MSG_GO, NULL, 0, -1));
    counter_wait(&g_done, g_nworkers);
    double ms = now_ms() - t0;
    for (unsigned i = 0; i < g_nworkers; i++)
        CHECK_RC(tr_post(sys, refs[i], MSG_GET, NULL, 0, -1));
    counter_wait(&g_done, 2 * (uint64_t)g_nworkers);
    uint64_t total = g_big_pings * g_nworkers;
    check("big", "pings handled", atomic_load(&g_count), total);
    check_no_dead_letters("big", sys);
    tr_system_destroy(sys);
    result("big", g_big_pings, ms);
    metric("big", "msgs_per_s", 2.0 * (double)total / (ms / 1e3));
}

/* ---- skynet ---- */

typedef struct sky_args {
    uint64_t num, size;
    tr_ref parent;
} sky_args;

typedef struct sky_state {
    tr_ref parent;
    uint64_t sum;
    unsigned got;
} sky_state;

static uint64_t g_sky_sum;
static const tr_behaviour sky_b;

static int sky_init(tr_ctx *self, void *state, void *arg)
{
    sky_state *s = state;
    sky_args a = *(sky_args *)arg;
    free(arg);
    s->parent = a.parent;
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    if (a.size == 1) {
        tr_stop_self(self);
        return tr_send(self, a.parent, MSG_RESULT, &a.num, sizeof(a.num));
    }
    uint64_t sub = a.size / 10;
    for (uint64_t i = 0; i < 10; i++) {
        sky_args *c = malloc(sizeof(*c));
        if (c == NULL)
            return TR_ENOMEM;
        *c = (sky_args){.num = a.num + i * sub, .size = sub, .parent = tr_self(self)};
        int rc = tr_spawn(tr_ctx_system(self), &sky_b, c, NULL, NULL);
        if (rc != TR_OK) {
            free(c);
            return rc;
        }
    }
    return TR_OK;
}

static int sky_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    sky_state *s = state;
    if (msg->type != MSG_RESULT)
        return TR_OK;
    s->sum += get_u64(msg);
    if (++s->got < 10)
        return TR_OK;
    tr_stop_self(self);
    if (tr_ref_is_none(s->parent)) {
        g_sky_sum = s->sum;
        counter_add(&g_done);
        return TR_OK;
    }
    return tr_send(self, s->parent, MSG_RESULT, &s->sum, sizeof(s->sum));
}

static const tr_behaviour sky_b = {
    .init = sky_init, .handle = sky_handle, .state_size = sizeof(sky_state)};

static unsigned sky_levels(void)
{
    long l = lround(6.0 + log10(g_scale));
    return l < 1 ? 1 : (unsigned)l;
}

static void bench_skynet(void)
{
    unsigned levels = sky_levels();
    uint64_t leaves = 1, actors = 0;
    for (unsigned i = 0; i < levels; i++) {
        actors += leaves;
        leaves *= 10;
    }
    actors += leaves;
    tr_system *sys = make_system();
    double t0 = now_ms();
    sky_args *a = malloc(sizeof(*a));
    if (a == NULL)
        die("malloc", TR_ENOMEM);
    *a = (sky_args){.num = 0, .size = leaves, .parent = TR_REF_NONE};
    CHECK_RC(tr_spawn(sys, &sky_b, a, NULL, NULL));
    counter_wait(&g_done, 1);
    double ms = now_ms() - t0;
    printf("skynet sum %llu\n", (unsigned long long)g_sky_sum);
    check("skynet", "sum", g_sky_sum, leaves * (leaves - 1) / 2);
    check("skynet", "actors", atomic_load(&g_count), actors);
    check_no_dead_letters("skynet", sys);
    tr_system_destroy(sys);
    result("skynet", leaves, ms);
    metric("skynet", "actors", (double)actors);
}

/* ---- idle ---- */

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int idle_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    counter_add(&g_done);
    return TR_OK;
}

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static const tr_behaviour idle_b = {.init = idle_init, .handle = idle_handle};

static void bench_idle(void)
{
    const uint64_t n = 10000;
    tr_system *sys = make_system();
    for (uint64_t i = 0; i < n; i++)
        CHECK_RC(tr_spawn(sys, &idle_b, NULL, NULL, NULL));
    counter_wait(&g_done, n);
    nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL); /* settle */
    tr_metrics m;
    tr_metrics_get(sys, &m);
    uint64_t alive = m.actors_alive;
    double c0 = cpu_ms(), t0 = now_ms();
    double secs = g_seconds;
    struct timespec ts = {.tv_sec = (time_t)secs,
                          .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    double cpu = cpu_ms() - c0, wall = now_ms() - t0;
    tr_system_destroy(sys);
    check("idle", "actors alive", alive, n);
    double pct = 100.0 * cpu / wall;
    result("idle", n, cpu);
    metric("idle", "wall_ms", wall);
    metric("idle", "pct_core", pct);
    printf("idle: %.3f%% of one core (target < 1%%: %s)\n", pct, pct < 1.0 ? "met" : "NOT met");
}

/* ---- spawn + complete ---- */

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Each actor adds its index to a sum as it runs, then ends; the count of ends
 * (terminate) and the sum are checked while the system still runs. */
static _Atomic uint64_t g_index_sum;

static int exit_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    atomic_fetch_add_explicit(&g_index_sum, (uint64_t)(uintptr_t)arg, memory_order_relaxed);
    tr_stop_self(self);
    return TR_OK;
}

static void exit_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    counter_add(&g_done);
}

static const tr_behaviour exit_b = {
    .init = exit_init, .handle = idle_handle, .terminate = exit_terminate};

static void bench_spawn(void)
{
    uint64_t n = scaled(1000000);
    tr_system *sys = make_system();
    long rss0 = maxrss_kb();
    double t0 = now_ms();
    for (uint64_t i = 0; i < n; i++)
        CHECK_RC(tr_spawn(sys, &exit_b, (void *)(uintptr_t)i, NULL, NULL));
    counter_wait(&g_done, n);
    double ms = now_ms() - t0;
    window(t0, ms);
    long rss1 = maxrss_kb();
    check("spawn", "actors ended", atomic_load(&g_done.n), n);
    check("spawn", "sum of the actors' indices", atomic_load(&g_index_sum), n * (n - 1) / 2);
    tr_system_destroy(sys);
    result("spawn", n, ms);
    metric("spawn", "ns_per_actor", ms * 1e6 / (double)n);
    metric("spawn", "peak_rss_mb", (double)rss1 / 1024.0);
    metric("spawn", "bytes_per_actor", (double)(rss1 - rss0) * 1024.0 / (double)n);
}

/* ---- spawn, one message each, reply ---- */

/* The driver keeps SPAWN_WINDOW actors in flight: it spawns that many, sends
 * each its index, and spawns one more per reply (credit-based flow control,
 * so the replies never overrun its bounded mailbox); each actor replies with
 * its index and ends; the driver sums the replies. */
#define SPAWN_WINDOW 512u

typedef struct smsg_driver {
    uint64_t n, spawned, replies, sum;
} smsg_driver;

static uint64_t g_smsg_sum, g_smsg_replies;

static int smsg_worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != MSG_WORK)
        return TR_OK;
    tr_stop_self(self);
    return tr_send(self, msg->sender, MSG_RESULT, msg->data, msg->size);
}

static const tr_behaviour smsg_worker_b = {.handle = smsg_worker_handle};

static int smsg_spawn_one(tr_ctx *self, smsg_driver *d)
{
    tr_ref w;
    int rc = tr_spawn(tr_ctx_system(self), &smsg_worker_b, NULL, NULL, &w);
    if (rc == TR_OK)
        rc = tr_send(self, w, MSG_WORK, &d->spawned, sizeof(d->spawned));
    d->spawned++;
    return rc;
}

static int smsg_driver_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    smsg_driver *d = state;
    if (msg->type == MSG_GO) {
        d->n = get_u64(msg);
        for (unsigned k = 0; k < SPAWN_WINDOW && d->spawned < d->n; k++) {
            int rc = smsg_spawn_one(self, d);
            if (rc != TR_OK)
                return rc;
        }
        return TR_OK;
    }
    if (msg->type != MSG_RESULT)
        return TR_OK;
    d->sum += get_u64(msg);
    if (++d->replies == d->n) {
        g_smsg_sum = d->sum;
        g_smsg_replies = d->replies;
        counter_add(&g_done);
        return TR_OK;
    }
    return d->spawned < d->n ? smsg_spawn_one(self, d) : TR_OK;
}

static const tr_behaviour smsg_driver_b = {.handle = smsg_driver_handle,
                                           .state_size = sizeof(smsg_driver)};

static void bench_spawnmsg(void)
{
    uint64_t n = scaled(1000000);
    tr_system *sys = make_system();
    long rss0 = maxrss_kb();
    double t0 = now_ms();
    tr_ref driver;
    CHECK_RC(tr_spawn(sys, &smsg_driver_b, NULL, NULL, &driver));
    CHECK_RC(tr_post(sys, driver, MSG_GO, &n, sizeof(n), -1));
    counter_wait(&g_done, 1);
    double ms = now_ms() - t0;
    window(t0, ms);
    long rss1 = maxrss_kb();
    check("spawnmsg", "replies", g_smsg_replies, n);
    check("spawnmsg", "sum of the replies", g_smsg_sum, n * (n - 1) / 2);
    check_no_dead_letters("spawnmsg", sys);
    tr_system_destroy(sys);
    result("spawnmsg", n, ms);
    metric("spawnmsg", "ns_per_actor", ms * 1e6 / (double)n);
    metric("spawnmsg", "peak_rss_mb", (double)rss1 / 1024.0);
    metric("spawnmsg", "bytes_per_actor", (double)(rss1 - rss0) * 1024.0 / (double)n);
}

/* ---- cancel a tree ---- */

/* Counted by every actor of the tree, on both workers: one cache line per
 * thread, so the count does not bounce a line between the cores on every
 * start and end (the CAF peer counts the same way). */
#define SHARDS 16
typedef struct sharded {
    struct {
        _Alignas(64) _Atomic uint64_t n;
    } s[SHARDS];
} sharded;

static _Atomic unsigned g_shard_next;
static _Thread_local unsigned tls_shard_plus1;

static void sharded_add(sharded *c)
{
    if (tls_shard_plus1 == 0)
        tls_shard_plus1 = atomic_fetch_add(&g_shard_next, 1) % SHARDS + 1;
    atomic_fetch_add_explicit(&c->s[tls_shard_plus1 - 1].n, 1, memory_order_relaxed);
}

static uint64_t sharded_sum(sharded *c)
{
    uint64_t n = 0;
    for (int i = 0; i < SHARDS; i++)
        n += atomic_load(&c->s[i].n);
    return n;
}

static sharded g_started, g_ended;

static const tr_behaviour tree_b;

static int tree_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    uintptr_t packed = (uintptr_t)arg;
    unsigned depth = (unsigned)(packed >> 24), width = (unsigned)(packed & 0xffffff);
    sharded_add(&g_started);
    if (depth == 0)
        return TR_OK;
    tr_spawn_opts o = {.parent = tr_self(self)};
    void *child = (void *)(((uintptr_t)(depth - 1) << 24) | width);
    for (unsigned i = 0; i < width; i++) {
        int rc = tr_spawn(tr_ctx_system(self), &tree_b, child, &o, NULL);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static void tree_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    sharded_add(&g_ended);
}

static const tr_behaviour tree_b = {
    .init = tree_init, .handle = idle_handle, .terminate = tree_terminate};

static void bench_cancel(void)
{
    unsigned w = (unsigned)lround(100.0 * cbrt(g_scale));
    if (w < 2)
        w = 2;
    uint64_t expected = 1 + w + (uint64_t)w * w + (uint64_t)w * w * w;
    tr_system *sys = make_system();
    long rss0 = maxrss_kb();
    double b0 = now_ms();
    tr_spawn_opts o = {.drain_timeout_ms = 600000};
    tr_ref root;
    CHECK_RC(tr_spawn(sys, &tree_b, (void *)(((uintptr_t)3 << 24) | w), &o, &root));
    while (sharded_sum(&g_started) < expected)
        nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
    double build_ms = now_ms() - b0;
    long rss1 = maxrss_kb();
    check("cancel", "actors started", sharded_sum(&g_started), expected);
    check("cancel", "actors ended before the cancel", sharded_sum(&g_ended), 0);
    double t0 = now_ms(), c0 = cpu_ms();
    CHECK_RC(tr_stop(sys, root));
    int reason;
    CHECK_RC(tr_await_exit(sys, root, -1, &reason));
    double ms = now_ms() - t0, cpu = cpu_ms() - c0;
    window(t0, ms);
    /* the root ends last (children first): every terminate has run by now,
     * and the system still runs, so a partial stop shows here */
    check("cancel", "actors ended by the cancel", sharded_sum(&g_ended), expected);
    tr_system_destroy(sys);
    result("cancel", expected, ms);
    metric("cancel", "ns_per_actor", ms * 1e6 / (double)expected);
    metric("cancel", "cpu_ms", cpu); /* both workers (and the idle main thread) */
    metric("cancel", "build_ms", build_ms);
    metric("cancel", "bytes_per_actor", (double)(rss1 - rss0) * 1024.0 / (double)expected);
}

/* ---- memory per idle actor ---- */

/* Resident memory now (VmRSS), in bytes. */
static double rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static sharded g_mem_ended;

static void mem_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    sharded_add(&g_mem_ended);
}

static const tr_behaviour mem_b = {
    .init = idle_init, .handle = idle_handle, .terminate = mem_terminate};

static void bench_mem(void)
{
    uint64_t n = scaled(1000000);
    tr_system *sys = make_system();
    double rss0 = rss_bytes();
    double t0 = now_ms();
    for (uint64_t i = 0; i < n; i++)
        CHECK_RC(tr_spawn(sys, &mem_b, NULL, NULL, NULL));
    counter_wait(&g_done, n);
    double ms = now_ms() - t0;
    nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL); /* settle */
    double rss1 = rss_bytes();
    tr_metrics m;
    tr_metrics_get(sys, &m);
    check("mem", "actors alive", m.actors_alive, n);
    check("mem", "actors ended while idle", sharded_sum(&g_mem_ended), 0);
    tr_system_destroy(sys); /* stops them all */
    check("mem", "actors ended by the teardown", sharded_sum(&g_mem_ended), n);
    result("mem", n, ms);
    metric("mem", "bytes_per_actor", (rss1 - rss0) / (double)n);
    metric("mem", "rss_mb", rss1 / 1048576.0);
    metric("mem", "peak_rss_mb", (double)maxrss_kb() / 1024.0);
}

/* ---- main ---- */

static const struct {
    const char *name;
    void (*run)(void);
} benches[] = {
    {"pingpong", bench_pingpong}, {"counting", bench_counting}, {"threadring", bench_threadring},
    {"chameneos", bench_chameneos}, {"fjthrput", bench_fjthrput}, {"fjcreate", bench_fjcreate},
    {"big", bench_big},           {"skynet", bench_skynet},     {"idle", bench_idle},
    {"spawn", bench_spawn},       {"spawnmsg", bench_spawnmsg}, {"cancel", bench_cancel},
    {"mem", bench_mem},
};

static void usage(void)
{
    fprintf(stderr, "usage: troupe_savina <bench> [--scale S] [--seconds S]\nbenches:");
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
        fprintf(stderr, " %s", benches[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--scale") == 0)
            g_scale = strtod(argv[++i], NULL);
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            g_seconds = strtod(argv[++i], NULL);
        else
            usage();
    }
    if (!(g_scale > 0.0) || !(g_seconds > 0.0))
        usage();
    counter_reset(&g_done);
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
        if (strcmp(argv[1], benches[i].name) == 0) {
            g_bench = benches[i].name;
            benches[i].run();
            fflush(stdout);
            return g_failed ? 1 : 0;
        }
    usage();
    return 2;
}

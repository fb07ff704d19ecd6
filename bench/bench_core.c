/* bench_core: core figures of the Troupe runtime. Prints, never asserts.
 *
 *   bench_core [scale]     scale multiplies every count (default 1; 0.1 = quick)
 *
 * Figures, one line each:
 *   - spawn+exit of N actors from the main thread, all at once and with at
 *     most N/10 alive at a time: time, ns/actor, peak RSS delta per actor;
 *   - N actors all alive at once: spawn time and resident bytes per actor
 *     (the honest memory figure), then the time to stop them all;
 *   - ping-pong round trips between two actors (all workers, and 1 worker);
 *   - fan-out: a few source actors flood 1000 receivers, on all workers.
 *
 * Every case runs in its own forked process, so each peak-RSS figure starts
 * from a fresh heap, and a crash or hang (watchdog alarm) in one case is
 * reported without taking the others down. The exit status is nonzero only
 * if a case failed to run (error, crash, timeout), never because of a figure.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

enum { MSG_GO = TR_MSG_USER, MSG_PING, MSG_PONG, MSG_NEXT, MSG_DATA, MSG_STOP };

/* ---- helpers ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Peak resident set of this process so far, in bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024u;
}

/* Current resident set, in bytes (0 if /proc is unavailable). */
static uint64_t current_rss(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double per(uint64_t bytes_before, uint64_t bytes_after, uint64_t n)
{
    return bytes_after > bytes_before ? (double)(bytes_after - bytes_before) / (double)n : 0.0;
}

/* "1M", "100k" or the plain number. */
static const char *fmt_count(uint64_t n, char *buf, size_t len)
{
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(buf, len, "%lluM", (unsigned long long)(n / 1000000));
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(buf, len, "%lluk", (unsigned long long)(n / 1000));
    else
        snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, tr_strerror(rc));
    fflush(stdout);
    _exit(1);
}

static tr_system *make_system(uint32_t workers)
{
    tr_config cfg = {.workers = workers};
    tr_system *sys;
    int rc = tr_system_create(&cfg, &sys);
    if (rc != TR_OK)
        die("tr_system_create", rc);
    return sys;
}

/* Waits until the runtime itself counts no live actor (terminate runs just
 * before an actor is unlinked and freed, so this is a short tail). */
static void wait_none_alive(tr_system *sys)
{
    static tr_metrics m; /* large: keep it off the stack */
    for (;;) {
        tr_metrics_get(sys, &m);
        if (m.actors_alive == 0)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
    }
}

/* A counter that a waiting thread can block on: actors bump it from their
 * callbacks (one atomic add), and only when a waiter is registered and its
 * target is reached does the bumping thread take the lock to signal. */
typedef struct counter {
    _Atomic uint64_t n;
    _Atomic uint64_t want;
    _Atomic int waiting;
    pthread_mutex_t lock;
    pthread_cond_t cv;
} counter;

static void counter_init(counter *c)
{
    atomic_init(&c->n, 0);
    atomic_init(&c->want, 0);
    atomic_init(&c->waiting, 0);
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

static uint64_t counter_get(counter *c) { return atomic_load(&c->n); }

/* Blocks until the counter reaches `want`. One waiter at a time. */
static void counter_wait(counter *c, uint64_t want)
{
    if (atomic_load(&c->n) >= want)
        return;
    pthread_mutex_lock(&c->lock);
    atomic_store(&c->want, want);
    atomic_store(&c->waiting, 1); /* then re-read n: a bump after this signals us */
    while (atomic_load(&c->n) < want)
        pthread_cond_wait(&c->cv, &c->lock);
    atomic_store(&c->waiting, 0);
    pthread_mutex_unlock(&c->lock);
}

/* Each case runs in a fresh child process, so these start from zero. */
static counter g_started, g_ended;

static void counters_init(void)
{
    counter_init(&g_started);
    counter_init(&g_ended);
}

/* ---- spawn + exit ---- */

/* No state at all: the smallest actor there is. */
static int exit_init(tr_ctx *self, void *state, void *arg)
{
    (void)state, (void)arg;
    tr_stop_self(self); /* ends right after init, mailbox empty */
    return TR_OK;
}

static int noop_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static void count_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    counter_add(&g_ended);
}

static const tr_behaviour exit_at_once = {
    .init = exit_init,
    .handle = noop_handle,
    .terminate = count_terminate,
};

typedef struct bench_params {
    double scale;
    uint64_t actors;       /* spawn cases */
    uint64_t rounds;       /* ping-pong round trips */
    uint32_t fan_receivers, fan_sources;
    uint64_t fan_per_receiver;
} bench_params;

/* Spawns n self-stopping actors, keeping at most `window` alive. */
static void spawn_exit(uint64_t n, uint64_t window)
{
    counters_init();
    tr_system *sys = make_system(0);
    uint64_t rss0 = peak_rss();
    uint64_t max_alive = 0; /* as seen from here, just before each spawn */
    double t0 = now_ms();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t alive = i - counter_get(&g_ended);
        if (window < n && alive >= window) {
            counter_wait(&g_ended, i - window / 2); /* let half the window drain */
            alive = i - counter_get(&g_ended);
        }
        if (alive + 1 > max_alive)
            max_alive = alive + 1;
        int rc = tr_spawn(sys, &exit_at_once, NULL, NULL, NULL);
        if (rc != TR_OK)
            die("tr_spawn", rc);
    }
    counter_wait(&g_ended, n);
    wait_none_alive(sys);
    double ms = now_ms() - t0;
    uint64_t rss1 = peak_rss();

    char cbuf[32], wbuf[32];
    fmt_count(n, cbuf, sizeof cbuf);
    if (window < n)
        printf("spawn+exit %s actors, <=%s alive: %.1f ms (%.0f ns/actor), peak RSS delta %.0f "
               "B/actor (max %llu alive)\n",
               cbuf, fmt_count(window, wbuf, sizeof wbuf), ms, ms * 1e6 / (double)n,
               per(rss0, rss1, n), (unsigned long long)max_alive);
    else
        printf("spawn+exit %s actors: %.1f ms (%.0f ns/actor), peak RSS delta %.0f B/actor "
               "(max %llu alive)\n",
               cbuf, ms, ms * 1e6 / (double)n, per(rss0, rss1, n),
               (unsigned long long)max_alive);
    tr_system_destroy(sys);
}

static void case_spawn_exit_all(const bench_params *p) { spawn_exit(p->actors, p->actors); }

static void case_spawn_exit_window(const bench_params *p)
{
    uint64_t window = p->actors / 10 < 1000 ? 1000 : p->actors / 10;
    spawn_exit(p->actors, window);
}

/* ---- all alive at once ---- */

static int idle_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    counter_add(&g_started);
    return TR_OK;
}

static int stop_on_message(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state, (void)msg;
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour idle_until_told = {
    .init = idle_init,
    .handle = stop_on_message,
    .terminate = count_terminate,
};

static void case_all_alive(const bench_params *p)
{
    uint64_t n = p->actors;
    counters_init();
    tr_ref *refs = malloc(n * sizeof(*refs));
    if (refs == NULL)
        die("malloc", TR_ENOMEM);
    memset(refs, 0, n * sizeof(*refs)); /* resident before the baseline */
    tr_system *sys = make_system(0);
    uint64_t cur0 = current_rss(), peak0 = peak_rss();

    double t0 = now_ms();
    for (uint64_t i = 0; i < n; i++) {
        int rc = tr_spawn(sys, &idle_until_told, NULL, NULL, &refs[i]);
        if (rc != TR_OK)
            die("tr_spawn", rc);
    }
    counter_wait(&g_started, n); /* every init has run: all materialised */
    double spawn_ms = now_ms() - t0;
    uint64_t cur1 = current_rss(), peak1 = peak_rss();

    tr_metrics m;
    tr_metrics_get(sys, &m);
    uint64_t alive = m.actors_alive;

    double t1 = now_ms();
    for (uint64_t i = 0; i < n; i++) {
        int rc = tr_post(sys, refs[i], MSG_STOP, NULL, 0, -1);
        if (rc != TR_OK)
            die("tr_post", rc);
    }
    counter_wait(&g_ended, n);
    wait_none_alive(sys);
    double stop_ms = now_ms() - t1;

    char cbuf[32];
    fmt_count(n, cbuf, sizeof cbuf);
    printf("all %s actors alive: spawn %.1f ms (%.0f ns/actor), RSS delta %.0f B/actor "
           "(peak delta %.0f B/actor, %llu alive)\n",
           cbuf, spawn_ms, spawn_ms * 1e6 / (double)n, per(cur0, cur1, n), per(peak0, peak1, n),
           (unsigned long long)alive);
    printf("stop %s idle actors (one message each): %.1f ms (%.0f ns/actor)\n", cbuf, stop_ms,
           stop_ms * 1e6 / (double)n);
    tr_system_destroy(sys);
    free(refs);
}

/* ---- ping-pong ---- */

typedef struct pinger_state {
    tr_ref partner;
    uint64_t left;
} pinger_state;

typedef struct pinger_args {
    tr_ref partner;
    uint64_t rounds;
} pinger_args;

static int pinger_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    pinger_state *s = state;
    const pinger_args *a = arg;
    s->partner = a->partner;
    s->left = a->rounds;
    return TR_OK;
}

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    pinger_state *s = state;
    if (msg->type == MSG_PONG && --s->left == 0) {
        tr_stop_self(self);
        return TR_OK;
    }
    if (msg->type != MSG_PONG && msg->type != MSG_GO)
        return TR_OK;
    return tr_send(self, s->partner, MSG_PING, &s->left, sizeof(s->left));
}

static int ponger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != MSG_PING)
        return TR_OK;
    return tr_send(self, msg->sender, MSG_PONG, msg->data, msg->size);
}

static const tr_behaviour pinger = {
    .init = pinger_init,
    .handle = pinger_handle,
    .state_size = sizeof(pinger_state),
};

static const tr_behaviour ponger = {.handle = ponger_handle};

static void ping_pong(uint64_t rounds, uint32_t workers)
{
    tr_system *sys = make_system(workers);
    tr_ref pong, ping;
    int rc = tr_spawn(sys, &ponger, NULL, NULL, &pong);
    if (rc != TR_OK)
        die("tr_spawn", rc);
    pinger_args args = {.partner = pong, .rounds = rounds};
    if ((rc = tr_spawn(sys, &pinger, &args, NULL, &ping)) != TR_OK)
        die("tr_spawn", rc);

    double t0 = now_ms();
    if ((rc = tr_post(sys, ping, MSG_GO, NULL, 0, -1)) != TR_OK)
        die("tr_post", rc);
    int reason;
    if ((rc = tr_await_exit(sys, ping, -1, &reason)) != TR_OK)
        die("tr_await_exit", rc);
    double ms = now_ms() - t0;
    if (reason != TR_OK)
        die("pinger exit reason", reason);

    char cbuf[32];
    double rts = (double)rounds / (ms / 1e3);
    printf("ping-pong %s round trips, %u worker%s: %.1f ms, %.0f round trips/s (%.0f msgs/s, "
           "%.0f ns/round trip)\n",
           fmt_count(rounds, cbuf, sizeof cbuf), tr_system_workers(sys),
           tr_system_workers(sys) == 1 ? "" : "s", ms, rts, 2 * rts, ms * 1e6 / (double)rounds);
    tr_system_destroy(sys);
}

static void case_ping_pong(const bench_params *p) { ping_pong(p->rounds, 0); }

static void case_ping_pong_1(const bench_params *p) { ping_pong(p->rounds, 1); }

/* ---- fan-out ---- */

static uint64_t g_fan_per_receiver;

typedef struct receiver_state {
    uint64_t got;
} receiver_state;

static int receiver_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    receiver_state *s = state;
    if (msg->type == MSG_DATA && ++s->got == g_fan_per_receiver)
        counter_add(&g_ended); /* this receiver has everything */
    return TR_OK;
}

static const tr_behaviour receiver = {
    .handle = receiver_handle,
    .state_size = sizeof(receiver_state),
};

/* A source sends one message to every receiver per turn, then queues itself
 * a MSG_NEXT, so the workers interleave sources and receivers. */
typedef struct source_args {
    const tr_ref *receivers;
    uint32_t nreceivers;
    uint64_t rounds;
} source_args;

typedef struct source_state {
    source_args a;
    uint64_t done;
} source_state;

static int source_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    source_state *s = state;
    s->a = *(const source_args *)arg;
    return TR_OK;
}

static int source_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    source_state *s = state;
    if (msg->type != MSG_GO && msg->type != MSG_NEXT)
        return TR_OK;
    for (uint32_t i = 0; i < s->a.nreceivers; i++) {
        int rc = tr_send(self, s->a.receivers[i], MSG_DATA, &s->done, sizeof(s->done));
        if (rc != TR_OK)
            return rc;
    }
    if (++s->done < s->a.rounds)
        return tr_send(self, tr_self(self), MSG_NEXT, NULL, 0);
    return TR_OK;
}

static const tr_behaviour source = {
    .init = source_init,
    .handle = source_handle,
    .state_size = sizeof(source_state),
};

static void case_fan_out(const bench_params *p)
{
    counters_init();
    uint32_t nr = p->fan_receivers, ns = p->fan_sources;
    uint64_t rounds = (p->fan_per_receiver + ns - 1) / ns; /* per source */
    g_fan_per_receiver = rounds * ns;
    uint64_t total = g_fan_per_receiver * nr;

    tr_system *sys = make_system(0);
    tr_ref *receivers = calloc(nr, sizeof(*receivers));
    tr_ref *sources = calloc(ns, sizeof(*sources));
    if (receivers == NULL || sources == NULL)
        die("calloc", TR_ENOMEM);
    for (uint32_t i = 0; i < nr; i++) {
        int rc = tr_spawn(sys, &receiver, NULL, NULL, &receivers[i]);
        if (rc != TR_OK)
            die("tr_spawn", rc);
    }
    source_args args = {.receivers = receivers, .nreceivers = nr, .rounds = rounds};
    for (uint32_t i = 0; i < ns; i++) {
        int rc = tr_spawn(sys, &source, &args, NULL, &sources[i]);
        if (rc != TR_OK)
            die("tr_spawn", rc);
    }

    double t0 = now_ms();
    for (uint32_t i = 0; i < ns; i++) {
        int rc = tr_post(sys, sources[i], MSG_GO, NULL, 0, -1);
        if (rc != TR_OK)
            die("tr_post", rc);
    }
    counter_wait(&g_ended, nr);
    double ms = now_ms() - t0;

    tr_metrics m;
    tr_metrics_get(sys, &m);
    char cbuf[32], tbuf[32];
    printf("fan-out %u sources -> %u actors x %s msgs (%s msgs), %u workers: %.1f ms, %.0f msgs/s "
           "(%llu mutes, %llu dead letters)\n",
           ns, nr, fmt_count(g_fan_per_receiver, cbuf, sizeof cbuf),
           fmt_count(total, tbuf, sizeof tbuf), tr_system_workers(sys), ms,
           (double)total / (ms / 1e3), (unsigned long long)m.mutes,
           (unsigned long long)m.dead_letters);
    tr_system_destroy(sys); /* stops the idle receivers and finished sources */
    free(receivers);
    free(sources);
}

/* ---- idle cost: CPU burnt by the runtime with 10k idle actors ---- */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void case_idle(const bench_params *p)
{
    (void)p;
    tr_system *sys = make_system(0);
    for (int i = 0; i < 10000; i++) {
        int rc = tr_spawn(sys, &idle_until_told, NULL, NULL, NULL);
        if (rc != TR_OK)
            die("spawn idle actor", rc);
    }
    /* wait until every worker has parked once: the spawns are handled */
    for (;;) {
        tr_metrics m;
        tr_metrics_get(sys, &m);
        uint64_t turns = 0;
        for (uint32_t i = 0; i < m.workers; i++)
            turns += m.worker[i].turns;
        if (turns >= 10000)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct timespec settle = {0, 100000000};
    nanosleep(&settle, NULL);
    double cpu0 = cpu_seconds(), t0 = now_ms();
    struct timespec idle = {2, 0};
    nanosleep(&idle, NULL);
    double cpu = cpu_seconds() - cpu0, wall = (now_ms() - t0) / 1e3;
    printf("idle cost, 10k idle actors over %.1f s: %.3f ms CPU (%.4f%% of one core)\n", wall,
           cpu * 1e3, 100.0 * cpu / wall);
    tr_system_destroy(sys);
}

/* ---- driver ---- */

typedef struct bench_case {
    const char *name;
    void (*run)(const bench_params *);
} bench_case;

/* Runs one case in a child process with a watchdog; false if it failed. */
static int run_case(const bench_case *c, const bench_params *p, unsigned timeout_s)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) { /* no fork: run in-process (peak RSS then accumulates) */
        c->run(p);
        return 1;
    }
    if (pid == 0) {
        alarm(timeout_s);
        c->run(p);
        fflush(stdout);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        printf("%s: FAILED: %s (signal %d)\n", c->name,
               sig == SIGALRM ? "timed out" : strsignal(sig), sig);
        return 0;
    }
    if (WEXITSTATUS(status) != 0) {
        printf("%s: FAILED (exit status %d)\n", c->name, WEXITSTATUS(status));
        return 0;
    }
    return 1;
}

static uint64_t scaled(double base, double scale, uint64_t min)
{
    double v = base * scale;
    return v < (double)min ? min : (uint64_t)(v + 0.5);
}

int main(int argc, char **argv)
{
    double scale = 1.0;
    if (argc > 1) {
        char *end;
        scale = strtod(argv[1], &end);
        if (*end != '\0' || !(scale > 0.0) || scale > 100.0) {
            fprintf(stderr, "usage: bench_core [scale in (0, 100], default 1]\n");
            return 2;
        }
    }
    bench_params p = {
        .scale = scale,
        .actors = scaled(1e6, scale, 1000),
        .rounds = scaled(1e6, scale, 1000),
        .fan_receivers = 1000,
        .fan_sources = 4,
        .fan_per_receiver = scaled(2000, scale, 8),
    };

    /* Created and destroyed before any fork: no thread survives into it. */
    tr_system *sys = make_system(0);
    printf("workers: %u (online cores: %ld), scale %g\n", tr_system_workers(sys),
           sysconf(_SC_NPROCESSORS_ONLN), scale);
    tr_system_destroy(sys);

    static const bench_case cases[] = {
        {"spawn+exit", case_spawn_exit_all},
        {"spawn+exit windowed", case_spawn_exit_window},
        {"all alive", case_all_alive},
        {"ping-pong", case_ping_pong},
        {"ping-pong 1 worker", case_ping_pong_1},
        {"fan-out", case_fan_out},
        {"idle", case_idle},
    };
    unsigned timeout_s = 60 + (unsigned)(120.0 * scale);
    int ok = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ok &= run_case(&cases[i], &p, timeout_s);
    return ok ? 0 : 1;
}

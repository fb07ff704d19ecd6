/* bench_supervisor: cancelling big actor trees and restarting crashed
 * children. Prints, never asserts.
 *
 *   bench_supervisor [scale [cases]]   scale multiplies every count (default 1;
 *                                      0.05 = quick); cases: comma-separated
 *                                      subset of cancel,suptree,restart,
 *                                      restart2,pool (default all)
 *
 * Figures:
 *   - cancel a tree of ~1M plain actors (root -> 100 -> 100 -> 100 =
 *     1,010,101 at scale 1; the width is 100 * cbrt(scale)): the tree builds
 *     itself (each node spawns its children in init), then the time from
 *     tr_stop(root) until tr_await_exit(root) returns, per actor, and the
 *     peak RSS of the process;
 *   - the same with a supervisor at the root: 1000 children each with 1000
 *     plain-actor children (1,001,001 actors; both widths are
 *     1000 * sqrt(scale)). A supervisor stops its children one at a time,
 *     last started first, so this is 1000 sequential subtree stops;
 *   - restart latency of a crashed child under a one-for-one supervisor:
 *     N (10000 at scale 1) times, post a "fail" message to the current child
 *     and wait until the replacement's init has run; median, p99 and max;
 *   - restart to next message (the figure bench/supervisor.sh sets beside
 *     Erlang/OTP's): a driver actor sends "fail" to the child, the new
 *     incarnation's init tells the driver, the driver pings it and times
 *     the pong: crash to the restarted child handling its next message.
 *     N times, one crash per millisecond at most (a 1 ms timer between
 *     rounds), so the restart history (1 s period) stays short;
 *   - shutdown of a pool of 10000 (x scale) children: tr_stop of the
 *     simple-one-for-one supervisor until tr_await_exit returns.
 *
 * The roots are given a 60 s drain deadline (the default is 5 s) so that the
 * cancel figure is always a graceful stop, never a deadline kill; the exit
 * reason is printed to show it.
 *
 * Every case runs in its own forked process with a watchdog alarm, so each
 * peak-RSS figure starts from a fresh heap and a crash or hang is reported
 * without taking the others down. The exit status is nonzero only if a case
 * failed to run (error, crash, timeout), never because of a figure.
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

enum { MSG_FAIL = TR_MSG_USER };

#define ROOT_DRAIN_MS 60000u
#define REF_LINE "Tokio reference: 108 ms for 1M tasks; target < 50 ms"

/* ---- helpers ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Peak resident set of this process so far, in bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024u;
}

static double per(uint64_t bytes_before, uint64_t bytes_after, uint64_t n)
{
    return bytes_after > bytes_before ? (double)(bytes_after - bytes_before) / (double)n : 0.0;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_supervisor: %s: %s\n", what, tr_strerror(rc));
    fflush(stdout);
    _exit(1);
}

static tr_system *make_system(uint32_t workers)
{
    /* no crash reports: thousands of crashes are the point here, and the
     * Erlang peer switches its logger off too */
    tr_config cfg = {.workers = workers, .quiet_crashes = true};
    tr_system *sys;
    int rc = tr_system_create(&cfg, &sys);
    if (rc != TR_OK)
        die("tr_system_create", rc);
    return sys;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* "1,010,101" */
static const char *fmt_thousands(uint64_t n, char *buf, size_t len)
{
    char tmp[32];
    int digits = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < digits && o + 2 < len; i++) {
        if (i > 0 && (digits - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

/* ---- self-building trees ---- */

/* Each case runs in a fresh child process, so these start from zero. */
static _Atomic uint64_t g_started, g_ended;
static _Atomic int g_spawn_error; /* first spawn failure inside an init */

/* arg packs depth << 24 | width: a node with depth > 0 spawns `width`
 * children of depth - 1 in its init, as children of itself. No state. */
static const tr_behaviour tree_node;

static void *tree_arg(unsigned depth, unsigned width)
{
    return (void *)(((uintptr_t)depth << 24) | (uintptr_t)width);
}

static int tree_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    uintptr_t packed = (uintptr_t)arg;
    unsigned depth = (unsigned)(packed >> 24), width = (unsigned)(packed & 0xffffff);
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    if (depth == 0)
        return TR_OK;
    tr_spawn_opts o = {.parent = tr_self(self)};
    void *child = tree_arg(depth - 1, width);
    for (unsigned i = 0; i < width; i++) {
        int rc = tr_spawn(tr_ctx_system(self), &tree_node, child, &o, NULL);
        if (rc != TR_OK) {
            int none = 0;
            atomic_compare_exchange_strong(&g_spawn_error, &none, rc);
            return rc;
        }
    }
    return TR_OK;
}

static int tree_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}

static void tree_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    atomic_fetch_add_explicit(&g_ended, 1, memory_order_relaxed);
}

static const tr_behaviour tree_node = {
    .init = tree_init,
    .handle = tree_handle,
    .terminate = tree_terminate,
};

/* Waits until every init has run and the runtime counts `expected` live
 * actors. Returns the build time in ms. */
static double wait_built(tr_system *sys, uint64_t expected, double t0)
{
    static tr_metrics m; /* large: keep it off the stack */
    for (;;) {
        int err = atomic_load(&g_spawn_error);
        if (err != 0)
            die("tr_spawn inside init", err);
        tr_metrics_get(sys, &m);
        if (atomic_load(&g_started) >= expected && m.actors_alive >= expected)
            break;
        sleep_us(200);
    }
    double ms = now_ms() - t0;
    if (m.actors_alive != expected || atomic_load(&g_started) != expected)
        printf("  WARNING: built %llu inits, %llu alive, expected %llu\n",
               (unsigned long long)atomic_load(&g_started),
               (unsigned long long)m.actors_alive, (unsigned long long)expected);
    return ms;
}

/* Stops `root`, waits for it, prints the figure and the end-of-run counts. */
static void cancel_and_report(tr_system *sys, tr_ref root, uint64_t expected, double build_ms,
                              uint64_t rss0, const char *what)
{
    uint64_t rss_built = peak_rss();
    double t0 = now_ms();
    int rc = tr_stop(sys, root);
    if (rc != TR_OK)
        die("tr_stop", rc);
    int reason = 0;
    if ((rc = tr_await_exit(sys, root, -1, &reason)) != TR_OK)
        die("tr_await_exit", rc);
    double ms = now_ms() - t0;

    tr_metrics m;
    tr_metrics_get(sys, &m);
    uint64_t ended = atomic_load(&g_ended);
    uint64_t peak = peak_rss();

    char nbuf[32];
    fmt_thousands(expected, nbuf, sizeof nbuf);
    printf("cancel %s (%s actors): %.1f ms (%.0f ns/actor), root exit reason %s\n", what, nbuf,
           ms, ms * 1e6 / (double)expected, tr_strerror(reason));
    printf("  build %.1f ms (%.0f ns/actor); peak RSS %.1f MB (%.0f B/actor over the empty "
           "system; %.1f MB when built)\n",
           build_ms, build_ms * 1e6 / (double)expected, (double)peak / 1048576.0,
           per(rss0, peak, expected), (double)rss_built / 1048576.0);
    printf("  after: %llu alive, %llu terminates run (expected 0 and %llu)%s\n",
           (unsigned long long)m.actors_alive, (unsigned long long)ended,
           (unsigned long long)expected,
           m.actors_alive == 0 && ended == expected ? "" : "  <-- WRONG COUNTS");
    printf("  " REF_LINE "\n");
}

typedef struct bench_params {
    double scale;
    unsigned tree_width;   /* plain tree: root -> w -> w -> w */
    unsigned sup_children; /* supervisor tree: sup -> c -> g */
    unsigned sup_grandchildren;
    uint64_t restarts;
    uint64_t pool;
} bench_params;

static void case_cancel_tree(const bench_params *p)
{
    uint64_t w = p->tree_width;
    uint64_t expected = 1 + w + w * w + w * w * w;
    tr_system *sys = make_system(0);
    uint64_t rss0 = peak_rss();
    tr_spawn_opts o = {.drain_timeout_ms = ROOT_DRAIN_MS};
    tr_ref root;
    double t0 = now_ms();
    int rc = tr_spawn(sys, &tree_node, tree_arg(3, p->tree_width), &o, &root);
    if (rc != TR_OK)
        die("tr_spawn root", rc);
    double build_ms = wait_built(sys, expected, t0);
    char what[64];
    snprintf(what, sizeof what, "tree 1->%u->%u->%u", p->tree_width, p->tree_width,
             p->tree_width);
    cancel_and_report(sys, root, expected, build_ms, rss0, what);
    tr_system_destroy(sys);
}

static void case_cancel_sup_tree(const bench_params *p)
{
    uint64_t c = p->sup_children, g = p->sup_grandchildren;
    uint64_t expected = 1 + c + c * g;
    tr_child_spec *specs = calloc(c, sizeof(*specs));
    char (*ids)[24] = calloc(c, sizeof(*ids));
    if (specs == NULL || ids == NULL)
        die("calloc", TR_ENOMEM);
    for (uint64_t i = 0; i < c; i++) {
        snprintf(ids[i], sizeof ids[i], "c%llu", (unsigned long long)i);
        specs[i] = (tr_child_spec){.id = ids[i],
                                   .beh = &tree_node,
                                   .arg = tree_arg(1, p->sup_grandchildren),
                                   .restart = TR_PERMANENT};
    }
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 10, .period_ms = 5000};

    tr_system *sys = make_system(0);
    uint64_t rss0 = peak_rss();
    tr_spawn_opts o = {.drain_timeout_ms = ROOT_DRAIN_MS};
    tr_ref sup;
    double t0 = now_ms();
    int rc = tr_supervisor_start(sys, &flags, specs, c, &o, &sup);
    if (rc != TR_OK)
        die("tr_supervisor_start", rc);
    atomic_fetch_add(&g_started, 1); /* the supervisor's init is not ours to count */
    double build_ms = wait_built(sys, expected, t0);
    atomic_fetch_add(&g_ended, 1);   /* nor its terminate: counted by its exit */
    char what[96];
    snprintf(what, sizeof what, "supervisor tree sup->%u->%u", p->sup_children,
             p->sup_grandchildren);
    cancel_and_report(sys, sup, expected, build_ms, rss0, what);
    tr_system_destroy(sys);
    free(specs);
    free(ids);
}

/* ---- restart latency ---- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static _Atomic uint64_t g_generation; /* inits run so far */
static tr_ref g_child;                /* the latest child, under g_lock */

static int crashy_init(tr_ctx *self, void *state, void *arg)
{
    (void)state, (void)arg;
    pthread_mutex_lock(&g_lock);
    g_child = tr_self(self);
    atomic_fetch_add(&g_generation, 1);
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_lock);
    return TR_OK;
}

static int crashy_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    return msg->type == MSG_FAIL ? TR_EUSER + 1 : TR_OK;
}

static const tr_behaviour crashy = {.init = crashy_init, .handle = crashy_handle};

/* Waits until the generation passes `gen`; returns the current child. */
static tr_ref wait_generation(uint64_t gen)
{
    pthread_mutex_lock(&g_lock);
    while (atomic_load(&g_generation) <= gen)
        pthread_cond_wait(&g_cv, &g_lock);
    tr_ref r = g_child;
    pthread_mutex_unlock(&g_lock);
    return r;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct_us(const uint64_t *sorted, size_t n, double q)
{
    double exact = q * (double)n;
    size_t rank = (size_t)exact;
    if ((double)rank < exact)
        rank++; /* ceil, without libm */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1e3;
}

static double median_us(const uint64_t *v, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof(*tmp));
    if (tmp == NULL)
        die("malloc", TR_ENOMEM);
    memcpy(tmp, v, n * sizeof(*tmp));
    qsort(tmp, n, sizeof(*tmp), cmp_u64);
    double m = pct_us(tmp, n, 0.5);
    free(tmp);
    return m;
}

static void case_restart_latency(const bench_params *p)
{
    size_t n = (size_t)p->restarts;
    uint64_t *lat = malloc(n * sizeof(*lat));
    if (lat == NULL)
        die("malloc", TR_ENOMEM);
    tr_system *sys = make_system(0);
    tr_child_spec spec = {.id = "w", .beh = &crashy, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 1000000, .period_ms = 60000};
    tr_ref sup;
    int rc = tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup);
    if (rc != TR_OK)
        die("tr_supervisor_start", rc);
    tr_ref child = wait_generation(0);
    tr_ref looked_up;
    if ((rc = tr_supervisor_child(sys, sup, "w", 10000, &looked_up)) != TR_OK)
        die("tr_supervisor_child", rc);
    if (!tr_ref_equal(looked_up, child))
        printf("  WARNING: tr_supervisor_child disagrees with the child's own tr_self\n");

    double wall0 = now_ms();
    for (size_t i = 0; i < n; i++) {
        uint64_t gen = atomic_load(&g_generation);
        uint64_t t0 = now_ns();
        if ((rc = tr_post(sys, child, MSG_FAIL, NULL, 0, -1)) != TR_OK)
            die("tr_post fail", rc);
        child = wait_generation(gen);
        lat[i] = now_ns() - t0;
    }
    double wall = now_ms() - wall0;

    int sup_state = tr_actor_state_of(sys, sup);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    uint64_t alive = m.actors_alive;
    rc = tr_stop(sys, sup);
    int reason = -1;
    if (rc == TR_OK)
        rc = tr_await_exit(sys, sup, 30000, &reason);
    tr_metrics_get(sys, &m);

    size_t tenth = n / 10 > 0 ? n / 10 : 1;
    double first = median_us(lat, tenth), last = median_us(lat + n - tenth, tenth);
    qsort(lat, n, sizeof(*lat), cmp_u64);
    printf("restart latency, one-for-one, %zu crashes (fail message -> new child's init), "
           "%u workers: median %.1f us, p99 %.1f us, max %.1f us (min %.1f us; %.0f "
           "restarts/s)\n",
           n, tr_system_workers(sys), pct_us(lat, n, 0.5), pct_us(lat, n, 0.99),
           (double)lat[n - 1] / 1e3, (double)lat[0] / 1e3, (double)n / (wall / 1e3));
    printf("  median of the first %zu: %.1f us, of the last %zu: %.1f us\n", tenth, first, tenth,
           last);
    printf("  after: %llu alive (expected 2), supervisor %s; stop: %s, exit reason %s, %llu "
           "alive after\n",
           (unsigned long long)alive, sup_state == TR_STATE_DEAD ? "DEAD" : "alive",
           tr_strerror(rc), reason < 0 ? "-" : tr_strerror(reason),
           (unsigned long long)m.actors_alive);
    tr_system_destroy(sys);
    free(lat);
}

/* ---- restart to next message, driven by an actor ---- */

enum { MSG_STARTED = TR_MSG_USER + 10, MSG_PING, MSG_PONG, MSG_NEXT };

static tr_ref g_driver;

static int echo_init(tr_ctx *self, void *state, void *arg)
{
    (void)state, (void)arg;
    tr_ref me = tr_self(self);
    return tr_send(self, g_driver, MSG_STARTED, &me, sizeof(me));
}

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_FAIL)
        return TR_EUSER + 1;
    if (msg->type == MSG_PING)
        return tr_send(self, g_driver, MSG_PONG, NULL, 0);
    return TR_OK;
}

static const tr_behaviour echo_child = {.init = echo_init, .handle = echo_handle};

typedef struct driver {
    tr_ref child;
    uint64_t t0;
    size_t done, n;
    uint64_t *lat;
    bool started;
} driver;

static pthread_mutex_t d_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t d_cv = PTHREAD_COND_INITIALIZER;
static bool d_finished;

static int crash_child(tr_ctx *self, driver *d)
{
    d->t0 = now_ns();
    return tr_send(self, d->child, MSG_FAIL, NULL, 0);
}

static int driver_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    driver *d = *(driver **)state;
    switch (msg->type) {
    case MSG_STARTED:
        memcpy(&d->child, msg->data, sizeof(d->child));
        if (!d->started) { /* the first incarnation: begin */
            d->started = true;
            return crash_child(self, d);
        }
        return tr_send(self, d->child, MSG_PING, NULL, 0);
    case MSG_PONG:
        d->lat[d->done++] = now_ns() - d->t0;
        if (d->done < d->n) /* pace: at most one crash per millisecond */
            return tr_send_after(tr_ctx_system(self), tr_self(self), MSG_NEXT, NULL, 0, 1, NULL);
        pthread_mutex_lock(&d_lock);
        d_finished = true;
        pthread_cond_signal(&d_cv);
        pthread_mutex_unlock(&d_lock);
        return TR_OK;
    case MSG_NEXT: return crash_child(self, d);
    default: return TR_OK;
    }
}

static int driver_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(driver **)state = arg;
    return TR_OK;
}

static const tr_behaviour driver_beh = {.init = driver_init, .handle = driver_handle,
                                        .state_size = sizeof(driver *)};

static void case_restart_next_message(const bench_params *p)
{
    driver d = {.n = (size_t)p->restarts};
    d.lat = malloc(d.n * sizeof(*d.lat));
    if (d.lat == NULL)
        die("malloc", TR_ENOMEM);
    tr_system *sys = make_system(0);
    int rc = tr_spawn(sys, &driver_beh, &d, NULL, &g_driver);
    if (rc != TR_OK)
        die("tr_spawn driver", rc);
    tr_child_spec spec = {.id = "w", .beh = &echo_child, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 100000, .period_ms = 1000};
    tr_ref sup;
    double wall0 = now_ms();
    if ((rc = tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup)) != TR_OK)
        die("tr_supervisor_start", rc);
    pthread_mutex_lock(&d_lock);
    while (!d_finished)
        pthread_cond_wait(&d_cv, &d_lock);
    pthread_mutex_unlock(&d_lock);
    double wall = now_ms() - wall0;
    qsort(d.lat, d.n, sizeof(*d.lat), cmp_u64);
    printf("restart to next message, one-for-one, %zu crashes paced 1/ms (crash -> restarted "
           "child handles a ping), %u workers: median %.1f us, p99 %.1f us, max %.1f us "
           "(%.1f s)\n",
           d.n, tr_system_workers(sys), pct_us(d.lat, d.n, 0.5), pct_us(d.lat, d.n, 0.99),
           (double)d.lat[d.n - 1] / 1e3, wall / 1e3);
    printf("RESULT restart_next_message median_us %.1f p99_us %.1f n %zu\n",
           pct_us(d.lat, d.n, 0.5), pct_us(d.lat, d.n, 0.99), d.n);
    tr_system_destroy(sys);
    free(d.lat);
}

/* ---- shutdown of a 10k pool ---- */

static _Atomic uint64_t g_pool_ended;

static void pooled_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    atomic_fetch_add_explicit(&g_pool_ended, 1, memory_order_relaxed);
}

static const tr_behaviour pooled = {.handle = tree_handle, .terminate = pooled_terminate};

static void case_pool_shutdown(const bench_params *p)
{
    size_t n = (size_t)p->pool;
    tr_system *sys = make_system(0);
    tr_child_spec tmpl = {.id = "p", .beh = &pooled, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_SIMPLE_ONE_FOR_ONE};
    tr_ref sup;
    int rc = tr_supervisor_start(sys, &flags, &tmpl, 1, NULL, &sup);
    if (rc != TR_OK)
        die("tr_supervisor_start", rc);
    double s0 = now_ms();
    for (size_t i = 0; i < n; i++)
        if ((rc = tr_supervisor_start_child(sys, sup, NULL, 10000, NULL)) != TR_OK)
            die("tr_supervisor_start_child", rc);
    double start_ms = now_ms() - s0;
    double t0 = now_ms();
    tr_stop(sys, sup);
    int reason = -1;
    rc = tr_await_exit(sys, sup, 120000, &reason);
    double ms = now_ms() - t0;
    uint64_t ended = atomic_load(&g_pool_ended);
    printf("pool of %zu children: started one by one in %.1f ms; shutdown (tr_stop -> exit, "
           "last started first) %.1f ms (%.2f us/child), reason %s, %llu terminates%s\n",
           n, start_ms, ms, ms * 1e3 / (double)n, tr_strerror(reason), (unsigned long long)ended,
           rc == TR_OK && ended == n ? "" : "  CHECK FAILED");
    printf("RESULT pool_shutdown ms %.1f n %zu\n", ms, n);
    tr_system_destroy(sys);
    if (rc != TR_OK || ended != n)
        _exit(1);
}

/* ---- driver ---- */

typedef struct bench_case {
    const char *key; /* for the cases argument */
    const char *name;
    void (*run)(const bench_params *);
} bench_case;

/* Whether `key` is in the comma-separated list (NULL = every case). */
static bool selected(const char *only, const char *key)
{
    if (only == NULL)
        return true;
    size_t len = strlen(key);
    for (const char *at = only; (at = strstr(at, key)) != NULL; at += len)
        if ((at == only || at[-1] == ',') && (at[len] == '\0' || at[len] == ','))
            return true;
    return false;
}

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

/* x^(1/k) for x > 0 by bisection (no libm needed). */
static double root_k(double x, int k)
{
    double lo = 0.0, hi = x > 1.0 ? x : 1.0;
    for (int i = 0; i < 200; i++) {
        double mid = (lo + hi) / 2, v = 1.0;
        for (int j = 0; j < k; j++)
            v *= mid;
        if (v < x)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

static unsigned scaled_width(double base, double root_of_scale, unsigned min)
{
    double v = base * root_of_scale + 0.5;
    return v < (double)min ? min : (unsigned)v;
}

int main(int argc, char **argv)
{
    double scale = 1.0;
    if (argc > 1) {
        char *end;
        scale = strtod(argv[1], &end);
        if (*end != '\0' || !(scale > 0.0) || scale > 100.0) {
            fprintf(stderr, "usage: bench_supervisor [scale in (0, 100], default 1]\n");
            return 2;
        }
    }
    double restarts = 10000.0 * scale;
    bench_params p = {
        .scale = scale,
        .tree_width = scaled_width(100, root_k(scale, 3), 2),
        .sup_children = scaled_width(1000, root_k(scale, 2), 2),
        .sup_grandchildren = scaled_width(1000, root_k(scale, 2), 2),
        .restarts = restarts < 100.0 ? 100 : (uint64_t)(restarts + 0.5),
        .pool = restarts < 100.0 ? 100 : (uint64_t)(restarts + 0.5),
    };
    const char *only = argc > 2 ? argv[2] : NULL;

    /* Created and destroyed before any fork: no thread survives into it. */
    tr_system *sys = make_system(0);
    printf("workers: %u (online cores: %ld), scale %g\n", tr_system_workers(sys),
           sysconf(_SC_NPROCESSORS_ONLN), scale);
    tr_system_destroy(sys);

    static const bench_case cases[] = {
        {"cancel", "cancel tree", case_cancel_tree},
        {"suptree", "cancel supervisor tree", case_cancel_sup_tree},
        {"restart", "restart latency", case_restart_latency},
        {"restart2", "restart to next message", case_restart_next_message},
        {"pool", "pool shutdown", case_pool_shutdown},
    };
    unsigned timeout_s = 60 + (unsigned)(120.0 * scale);
    int ok = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (selected(only, cases[i].key))
            ok &= run_case(&cases[i], &p, timeout_s);
    return ok ? 0 : 1;
}

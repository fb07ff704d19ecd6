/* Stand-in for the subset of Criterion the tests use, for the TSan build.
 *
 * Why: Criterion runs each test in a sandboxed child whose shared "arena" is
 * mapped at an address ThreadSanitizer reserves for itself, so no Criterion
 * binary can start under TSan (Criterion issue #274). For the TSan build,
 * tests/CMakeLists.txt puts this folder first on the include path instead of
 * linking Criterion, and the same test sources run under this main.
 *
 * Like Criterion, each test runs in a fresh process (fork of a parent that
 * starts no thread), so one test's settings, globals and leftovers never
 * reach the next; the parent enforces Test(..., .timeout = seconds) by
 * killing the test's process group, and counts a crash, a timeout or a
 * nonzero exit (TSan's 66 included) as a failure. A fatal assertion on the
 * test's own thread ends the test by longjmp, as Criterion does; on any other
 * thread it reports the failure and ends the test process with exit(1), never
 * a longjmp across threads. A skipped test exits 77; when some test skipped
 * and none failed, the run ends by printing "TROUPE-SKIP: ", which ctest turns
 * into "Skipped" (tests/support/skip.h).
 *
 * Options starting with '-' (Criterion's -j1 --verbose=0) are ignored; another
 * argument selects the tests whose "suite::name" contains it. */
#ifndef TROUPE_INPROCESS_CRITERION_H
#define TROUPE_INPROCESS_CRITERION_H
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Test(suite, name, .timeout = s, .init = f, .fini = g, .disabled = true):
 * the options this stand-in honours, as Criterion does (init and fini run in
 * the test's process, before and after it; a disabled test is skipped). The
 * first member takes the 0 the Test macro puts before the caller's
 * designated initializers, so none of them overrides another. */
struct fc_opts {
    int fc_positional;
    double timeout; /* seconds; 0 = none (ctest's TIMEOUT still applies) */
    void (*init)(void);
    void (*fini)(void);
    bool disabled;
};

typedef void (*fc_fn)(void);
static struct {
    const char *name;
    fc_fn fn;
    struct fc_opts opts;
} fc_tests[256];
static int fc_ntests;
static jmp_buf fc_jmp;
static pthread_t fc_test_thread;
static atomic_int fc_failed_now;
static int fc_skipped_now;

enum { FC_EXIT_PASS = 0, FC_EXIT_FAIL = 1, FC_EXIT_SKIP = 77 };

static inline void fc_register(const char *name, fc_fn fn, struct fc_opts opts)
{
    if (fc_ntests == (int)(sizeof(fc_tests) / sizeof(fc_tests[0]))) {
        fprintf(stderr, "criterion stand-in: more than %d tests in one file\n", fc_ntests);
        abort();
    }
    fc_tests[fc_ntests].name = name;
    fc_tests[fc_ntests].fn = fn;
    fc_tests[fc_ntests++].opts = opts;
}

__attribute__((format(printf, 5, 6)))
static inline void fc_fail(int fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n[----]   ", file, line, expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    atomic_store(&fc_failed_now, 1);
    if (!fatal)
        return;
    if (pthread_equal(pthread_self(), fc_test_thread))
        longjmp(fc_jmp, 1);
    /* Another thread of the test: no jump to the test's stack from here. */
    fprintf(stderr, "[----] (fatal assertion off the test's thread: the test process ends, failed)\n");
    fflush(stderr);
    exit(FC_EXIT_FAIL);
}

#define Test(suite, name, ...)                                                                   \
    static void suite##_##name(void);                                                         \
    __attribute__((constructor)) static void fc_reg_##suite##_##name(void)                   \
    { fc_register(#suite "::" #name, suite##_##name, (struct fc_opts){0, __VA_ARGS__}); }     \
    static void suite##_##name(void)

#define FC_CHECK(fatal, cond, expr, ...)                                                      \
    do { if (!(cond)) fc_fail(fatal, __FILE__, __LINE__, expr, " " __VA_ARGS__); } while (0)
#define cr_assert(c, ...) FC_CHECK(1, (c), #c, __VA_ARGS__)
#define cr_assert_eq(a, b, ...) FC_CHECK(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) FC_CHECK(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) FC_CHECK(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) FC_CHECK(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) FC_CHECK(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) FC_CHECK(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_not_null(a, ...) FC_CHECK(1, (a) != NULL, #a " != NULL", __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) FC_CHECK(1, strcmp((a), (b)) != 0, #a " != " #b, __VA_ARGS__)
#define cr_assert_not(c, ...) FC_CHECK(1, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_null(a, ...) FC_CHECK(1, (a) == NULL, #a " == NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) FC_CHECK(1, strcmp((a), (b)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_fail(...) FC_CHECK(1, 0, "cr_assert_fail", __VA_ARGS__)
/* Ends the current test as skipped (not failed), with a reason. Only from the
 * test's own thread. */
#define cr_skip_test(...)                                                                     \
    do { fprintf(stderr, "[SKIP] " __VA_ARGS__); fprintf(stderr, "\n"); fc_skipped_now = 1;   \
         longjmp(fc_jmp, 1); } while (0)
#define cr_log_info(...) (fprintf(stderr, "[INFO] " __VA_ARGS__), fprintf(stderr, "\n"))
#define cr_expect_eq(a, b, ...) FC_CHECK(0, (a) == (b), #a " == " #b, __VA_ARGS__)

/* TSan sleeps a second at exit by default to let other threads finish; a
 * test has joined its threads (tr_system_destroy) by then, and with a process
 * per test that second would be paid by every test. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "atexit_sleep_ms=0"; }

/* In the test's process: runs test i and exits with its verdict. */
static inline void fc_child(int i)
{
    setpgid(0, 0); /* the parent's timeout kills the whole group (node programs too) */
    fc_test_thread = pthread_self();
    if (setjmp(fc_jmp) == 0) {
        if (fc_tests[i].opts.init != NULL)
            fc_tests[i].opts.init();
        fc_tests[i].fn();
    }
    if (fc_tests[i].opts.fini != NULL && setjmp(fc_jmp) == 0)
        fc_tests[i].opts.fini();
    fflush(stdout);
    fflush(stderr);
    exit(atomic_load(&fc_failed_now) ? FC_EXIT_FAIL : fc_skipped_now ? FC_EXIT_SKIP : FC_EXIT_PASS);
}

static inline double fc_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* In the parent: runs test i in a fresh process; returns its FC_EXIT_ verdict. */
static inline int fc_run_one(int i)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("criterion stand-in: fork");
        return FC_EXIT_FAIL;
    }
    if (pid == 0)
        fc_child(i);
    setpgid(pid, pid); /* also here: no race with the child's own call */
    double timeout = fc_tests[i].opts.timeout, start = fc_now();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, timeout > 0 ? WNOHANG : 0);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            perror("criterion stand-in: waitpid");
            return FC_EXIT_FAIL;
        }
        if (timeout > 0 && fc_now() - start > timeout) {
            fprintf(stderr, "[----] %s: timed out after %.1f s (.timeout)\n", fc_tests[i].name, timeout);
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return FC_EXIT_FAIL;
        }
        if (timeout > 0)
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    kill(-pid, SIGKILL); /* anything the test left running in its group */
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "[----] %s: crashed (signal %d)\n", fc_tests[i].name, WTERMSIG(status));
        return FC_EXIT_FAIL;
    }
    int code = WEXITSTATUS(status);
    if (code == FC_EXIT_PASS || code == FC_EXIT_SKIP)
        return code;
    if (code != FC_EXIT_FAIL)
        fprintf(stderr, "[----] %s: the test process exited %d\n", fc_tests[i].name, code);
    return FC_EXIT_FAIL;
}

int main(int argc, char **argv)
{
    int failed = 0, skipped = 0, run = 0;
    const char *filter = NULL;
    for (int k = 1; k < argc; k++)
        if (argv[k][0] != '-')
            filter = argv[k];
    for (int i = 0; i < fc_ntests; i++) {
        if (filter != NULL && strstr(fc_tests[i].name, filter) == NULL)
            continue;
        run++;
        if (fc_tests[i].opts.disabled) {
            fprintf(stderr, "[SKIP] %s: Test is disabled\n", fc_tests[i].name);
            skipped++;
            continue;
        }
        fprintf(stderr, "[RUN ] %s\n", fc_tests[i].name);
        double start = fc_now();
        int verdict = fc_run_one(i);
        fprintf(stderr, "[%s] %s: (%.2fs)\n",
                verdict == FC_EXIT_PASS ? "PASS" : verdict == FC_EXIT_SKIP ? "SKIP" : "FAIL", fc_tests[i].name,
                fc_now() - start);
        failed += verdict == FC_EXIT_FAIL;
        skipped += verdict == FC_EXIT_SKIP;
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Skipped: %d | Failing: %d\n", run,
            run - failed - skipped, skipped, failed);
    if (skipped > 0 && failed == 0)
        fprintf(stderr, "TROUPE-SKIP: %d of %d tests skipped\n", skipped, run);
    return failed != 0;
}
#endif

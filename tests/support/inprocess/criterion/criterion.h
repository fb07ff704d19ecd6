/* In-process stand-in for the subset of Criterion the tests use.
 *
 * Why: Criterion runs each test in a sandboxed child whose shared "arena" is
 * mapped at an address ThreadSanitizer reserves for itself, so no Criterion
 * binary can start under TSan (Criterion issue #274). For the TSan build,
 * tests/CMakeLists.txt puts this folder first on the include path instead of
 * linking Criterion: the same test sources run one after another in one
 * process. Options starting with '-' (Criterion's -j1 --verbose=0) are
 * ignored; another argument selects tests whose name contains it. */
#ifndef TROUPE_INPROCESS_CRITERION_H
#define TROUPE_INPROCESS_CRITERION_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*fc_fn)(void);
static struct { const char *name; fc_fn fn; } fc_tests[256];
static int fc_ntests;
static jmp_buf fc_jmp;
static int fc_failed_now;
static int fc_skipped_now;

static inline void fc_register(const char *name, fc_fn fn) { fc_tests[fc_ntests].name = name; fc_tests[fc_ntests++].fn = fn; }

__attribute__((format(printf, 5, 6)))
static inline void fc_fail(int fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n[----]   ", file, line, expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fc_failed_now = 1;
    if (fatal)
        longjmp(fc_jmp, 1);
}

#define Test(suite, name, ...)                                                                   \
    static void suite##_##name(void);                                                         \
    __attribute__((constructor)) static void fc_reg_##suite##_##name(void)                   \
    { fc_register(#suite "::" #name, suite##_##name); }                                       \
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
/* Ends the current test as skipped (not failed), with a reason. */
#define cr_skip_test(...)                                                                     \
    do { fprintf(stderr, "[SKIP] " __VA_ARGS__); fprintf(stderr, "\n"); fc_skipped_now = 1;   \
         longjmp(fc_jmp, 1); } while (0)
#define cr_log_info(...) (fprintf(stderr, "[INFO] " __VA_ARGS__), fprintf(stderr, "\n"))
#define cr_expect_eq(a, b, ...) FC_CHECK(0, (a) == (b), #a " == " #b, __VA_ARGS__)

int main(int argc, char **argv)
{
    volatile int failed = 0, run = 0;
    for (volatile int i = 0; i < fc_ntests; i++) {
        const char *filter = NULL;
        for (int k = 1; k < argc; k++)
            if (argv[k][0] != '-')
                filter = argv[k];
        if (filter != NULL && strstr(fc_tests[i].name, filter) == NULL)
            continue;
        run++;
        fc_failed_now = 0;
        fc_skipped_now = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        fprintf(stderr, "[RUN ] %s\n", fc_tests[i].name);
        if (setjmp(fc_jmp) == 0)
            fc_tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        fprintf(stderr, "[%s] %s: (%.2fs)\n", fc_failed_now ? "FAIL" : fc_skipped_now ? "SKIP" : "PASS",
                fc_tests[i].name, s);
        failed += fc_failed_now;
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d\n", run, run - failed, failed);
    return failed != 0;
}
#endif

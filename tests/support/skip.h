/* Test support: skipping a test that cannot run here, which is a failure
 * under CI.
 *
 * A test that lacks a tool, a privilege or a build feature calls
 * tr_test_skip("reason", ...) instead of cr_skip_test. Outside CI it skips
 * with the reason; at the end, a binary in which some test skipped and none
 * failed prints "TROUPE-SKIP: " (the report hook below, or the in-process
 * stand-in's main), which ctest's SKIP_REGULAR_EXPRESSION (tests/CMakeLists.txt)
 * turns into "Skipped", so scripts/test.sh lists it apart from the passes.
 * A binary with a failure does not print it: ctest would let the skip hide
 * the failure. When the CI environment
 * variable is set (anything but "", "0" or "false"), it fails with the
 * reason instead: CI installs everything the tests need (scripts/deps.sh),
 * so a skip there means a test that tested nothing.
 * Shell tests use tests/support/skip.sh the same way.
 * Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_SKIP_H
#define TROUPE_TEST_SKIP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when running under CI (CI set and not "", "0" or "false"). */
static inline bool tr_test_under_ci(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && ci[0] != '\0' && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
}

/* Skips the current test with a printf-style reason (first argument a string
 * literal), or fails it with that reason under CI. */
#define tr_test_skip(...)                                                                     \
    do {                                                                                      \
        if (tr_test_under_ci())                                                               \
            cr_assert(0, "a skip is a failure under CI: " __VA_ARGS__);                       \
        cr_skip_test(__VA_ARGS__);                                                            \
    } while (0)

#ifndef TROUPE_INPROCESS_CRITERION_H
/* After the whole run (Criterion's runner process): marks the binary skipped
 * for ctest when a test skipped and none failed or crashed. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    if (stats->tests_skipped > 0 && stats->tests_failed == 0 && stats->tests_crashed == 0)
        fprintf(stderr, "TROUPE-SKIP: %zu of %zu tests skipped\n", stats->tests_skipped, stats->nb_tests);
}
#endif

#endif

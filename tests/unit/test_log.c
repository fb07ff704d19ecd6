/* The logging hook: the replaceable log function, the level threshold, line
 * formatting, the default stderr line, and the token-bucket limiter, alone
 * and under concurrent use. Every test sets the function and level it needs
 * (the TSan build runs all tests in one process). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actors/log_impl.h"
#include "troupe/troupe.h"

/* A log function that keeps the last line and counts calls. */
typedef struct capture {
    _Atomic long calls;
    tr_log_level level;
    char subsystem[32];
    char line[TR_LOG_LINE_MAX];
} capture;

static void capture_fn(void *user, tr_log_level level, const char *subsystem, const char *line)
{
    capture *c = user;
    c->level = level;
    snprintf(c->subsystem, sizeof(c->subsystem), "%s", subsystem);
    snprintf(c->line, sizeof(c->line), "%s", line);
    atomic_fetch_add(&c->calls, 1);
}

static void count_fn(void *user, tr_log_level level, const char *subsystem, const char *line)
{
    (void)level, (void)subsystem, (void)line;
    atomic_fetch_add((_Atomic long *)user, 1);
}

static void restore_default(void)
{
    tr_set_log_fn(NULL, NULL);
    tr_set_log_level(TR_LOG_WARN);
}

Test(log, line_reaches_the_function_formatted)
{
    static capture c;
    tr_set_log_fn(capture_fn, &c);
    tr_set_log_level(TR_LOG_INFO);
    tr_log(TR_LOG_WARN, "net", "peer %s down after %d ms\n", "b@host", 42);
    cr_assert_eq(atomic_load(&c.calls), 1);
    cr_assert_eq(c.level, TR_LOG_WARN);
    cr_assert_str_eq(c.subsystem, "net");
    cr_assert_str_eq(c.line, "peer b@host down after 42 ms"); /* newline dropped */
    tr_log(TR_LOG_INFO, NULL, "x");
    cr_assert_str_eq(c.subsystem, "app");
    restore_default();
}

Test(log, threshold_filters_and_off_silences)
{
    static capture c;
    tr_set_log_fn(capture_fn, &c);
    tr_set_log_level(TR_LOG_WARN);
    cr_assert_eq(tr_log_level_get(), TR_LOG_WARN);
    cr_assert(tr_log_enabled(TR_LOG_ERROR));
    cr_assert(tr_log_enabled(TR_LOG_WARN));
    cr_assert_not(tr_log_enabled(TR_LOG_INFO));
    tr_log(TR_LOG_DEBUG, "t", "debug");
    tr_log(TR_LOG_INFO, "t", "info");
    cr_assert_eq(atomic_load(&c.calls), 0);
    tr_log(TR_LOG_ERROR, "t", "error");
    cr_assert_eq(atomic_load(&c.calls), 1);

    tr_set_log_level(TR_LOG_OFF);
    cr_assert_not(tr_log_enabled(TR_LOG_ERROR));
    tr_log(TR_LOG_ERROR, "t", "error");
    cr_assert_eq(atomic_load(&c.calls), 1);

    tr_set_log_level(TR_LOG_DEBUG);
    tr_log(TR_LOG_DEBUG, "t", "debug");
    cr_assert_eq(atomic_load(&c.calls), 2);
    tr_log(TR_LOG_OFF, "t", "a line at level OFF is never emitted");
    cr_assert_eq(atomic_load(&c.calls), 2);
    restore_default();
}

Test(log, long_line_is_cut_with_an_ellipsis)
{
    static capture c;
    static char big[3 * TR_LOG_LINE_MAX];
    memset(big, 'x', sizeof(big) - 1);
    tr_set_log_fn(capture_fn, &c);
    tr_set_log_level(TR_LOG_WARN);
    tr_log(TR_LOG_ERROR, "t", "%s", big);
    size_t len = strlen(c.line);
    cr_assert_eq(len, TR_LOG_LINE_MAX - 1);
    cr_assert_str_eq(c.line + len - 3, "...");
    restore_default();
}

/* The default function writes one stamped line on stderr. */
Test(log, default_writes_one_line_on_stderr)
{
    restore_default();
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    cr_assert_geq(saved, 0);
    dup2(fileno(tmp), 2);
    tr_log(TR_LOG_ERROR, "crash", "actor %d failed", 7);
    tr_log(TR_LOG_INFO, "crash", "below the threshold");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    char buf[512] = {0};
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
    fclose(tmp);
    cr_assert_gt(n, 0);
    cr_assert_not_null(strstr(buf, " troupe error [crash] actor 7 failed\n"), "got: %s", buf);
    cr_assert_null(strstr(buf, "below the threshold"));
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "one line only: %s", buf);
    cr_assert_eq(buf[4], '-'); /* starts with the date */
}

/* ---- the limiter ---- */

Test(log, bucket_lets_a_burst_through_then_refills_at_its_rate)
{
    tr_log_limiter lim = TR_LOG_LIMITER_INIT(3, 2); /* 3 at once, then 2 a second */
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        cr_assert(tr_log_limiter_take(&lim, t), "token %d of the burst", i);
    cr_assert_not(tr_log_limiter_take(&lim, t));
    cr_assert_not(tr_log_limiter_take(&lim, t + 499)); /* not yet half a second */
    cr_assert(tr_log_limiter_take(&lim, t + 500));
    cr_assert_not(tr_log_limiter_take(&lim, t + 500));
    /* Partial credit is kept: 250 ms + 250 ms make the next token. */
    cr_assert_not(tr_log_limiter_take(&lim, t + 750));
    cr_assert(tr_log_limiter_take(&lim, t + 1000));
    /* A long quiet spell refills to the burst, no more. */
    t += 3600 * 1000;
    for (int i = 0; i < 3; i++)
        cr_assert(tr_log_limiter_take(&lim, t));
    cr_assert_not(tr_log_limiter_take(&lim, t));
}

Test(log, zero_rate_never_refills)
{
    tr_log_limiter lim = TR_LOG_LIMITER_INIT(1, 0);
    cr_assert(tr_log_limiter_take(&lim, 5));
    cr_assert_not(tr_log_limiter_take(&lim, 5 + 3600 * 1000));
}

Test(log, suppressed_lines_are_counted_and_reported)
{
    static capture c;
    tr_set_log_fn(capture_fn, &c);
    tr_set_log_level(TR_LOG_WARN);
    static tr_log_limiter lim = TR_LOG_LIMITER_INIT(2, 0);
    cr_assert(tr_log_limited(&lim, TR_LOG_WARN, "net", "refused %d", 1));
    cr_assert(tr_log_limited(&lim, TR_LOG_WARN, "net", "refused %d", 2));
    for (int i = 3; i <= 5; i++)
        cr_assert_not(tr_log_limited(&lim, TR_LOG_WARN, "net", "refused %d", i));
    /* Below the threshold: neither emitted nor counted. */
    cr_assert_not(tr_log_limited(&lim, TR_LOG_DEBUG, "net", "quiet"));
    cr_assert_eq(atomic_load(&c.calls), 2);
    cr_assert_eq(atomic_load(&lim.suppressed), 3);

    atomic_store(&lim.bucket, 0); /* as if refilled */
    cr_assert(tr_log_limited(&lim, TR_LOG_WARN, "net", "refused %d", 6));
    cr_assert_str_eq(c.line, "refused 6 (3 similar lines suppressed)");
    cr_assert_eq(atomic_load(&lim.suppressed), 0);
    restore_default();
}

/* ---- concurrency ---- */

enum { THREADS = 4, LINES = 2000 };

static void *log_lines(void *arg)
{
    (void)arg;
    for (int i = 0; i < LINES; i++)
        tr_log(TR_LOG_ERROR, "t", "line %d", i);
    return NULL;
}

/* Lines logged while the function is swapped all reach one of the two
 * functions, and once tr_set_log_fn returns the previous one gets no more. */
Test(log, swapping_the_function_under_load_loses_nothing)
{
    static _Atomic long a, b;
    tr_set_log_level(TR_LOG_WARN);
    tr_set_log_fn(count_fn, (void *)&a);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, log_lines, NULL);
    while (atomic_load(&a) < 10)
        sched_yield();
    tr_set_log_fn(count_fn, (void *)&b);
    long a_at_swap = atomic_load(&a);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&a), a_at_swap, "the old function ran after the swap returned");
    cr_assert_eq(atomic_load(&a) + atomic_load(&b), THREADS * LINES);
    restore_default();
}

static tr_log_limiter shared_limiter = TR_LOG_LIMITER_INIT(10, 0);
static _Atomic long limited_emitted;

static void *log_limited_lines(void *arg)
{
    (void)arg;
    for (int i = 0; i < LINES; i++)
        if (tr_log_limited(&shared_limiter, TR_LOG_ERROR, "t", "line %d", i))
            atomic_fetch_add(&limited_emitted, 1);
    return NULL;
}

/* Many threads through one limiter: exactly the burst passes, every other
 * line is counted as suppressed. */
Test(log, one_limiter_shared_by_threads_counts_exactly)
{
    static _Atomic long seen;
    tr_set_log_level(TR_LOG_WARN);
    tr_set_log_fn(count_fn, (void *)&seen);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, log_limited_lines, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&limited_emitted), 10);
    cr_assert_eq(atomic_load(&seen), 10);
    cr_assert_eq(atomic_load(&shared_limiter.suppressed), THREADS * LINES - 10);
    restore_default();
}

/* The macro declares a limiter per call site (burst 5). */
Test(log, macro_limits_its_call_site)
{
    static _Atomic long seen;
    tr_set_log_level(TR_LOG_WARN);
    tr_set_log_fn(count_fn, (void *)&seen);
    for (int i = 0; i < 50; i++)
        TR_LOG_LIMITED(TR_LOG_ERROR, "t", "line %d", i);
    cr_assert_geq(atomic_load(&seen), 5);
    cr_assert_lt(atomic_load(&seen), 50);
    restore_default();
}

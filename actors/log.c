/* The logging hook: one replaceable log function, one level threshold, and
 * token-bucket limiters for lines a stranger could trigger.
 *
 * The function and its user pointer change together under a read-write lock
 * (written by hand: two pointers must be swapped as a pair, and a caller of
 * tr_set_log_fn must know the previous function is no longer running before
 * it frees its user data; logging is never on a hot path). The threshold and
 * the limiters are C11 atomics, so a line below the threshold costs one
 * relaxed load. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "actors/log_impl.h"
#include "troupe/timer.h"

#define LEVEL_UNSET (-1)

static _Atomic int log_level = LEVEL_UNSET;
static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_INITIALIZER;
static tr_log_fn log_fn;   /* NULL = default (stderr); under log_lock */
static void *log_user;     /* under log_lock */

const char *tr_log_level_name(tr_log_level level)
{
    switch (level) {
    case TR_LOG_OFF: return "off";
    case TR_LOG_ERROR: return "error";
    case TR_LOG_WARN: return "warn";
    case TR_LOG_INFO: return "info";
    case TR_LOG_DEBUG: return "debug";
    }
    return "?";
}

/* The starting threshold: TROUPE_LOG names a level, else TR_LOG_WARN. */
static int level_from_env(void)
{
    const char *v = getenv("TROUPE_LOG");
    if (v != NULL)
        for (int l = TR_LOG_OFF; l <= TR_LOG_DEBUG; l++)
            if (strcasecmp(v, tr_log_level_name((tr_log_level)l)) == 0)
                return l;
    return TR_LOG_WARN;
}

tr_log_level tr_log_level_get(void)
{
    int l = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (l == LEVEL_UNSET) {
        int expected = LEVEL_UNSET;
        int fresh = level_from_env();
        /* A concurrent tr_set_log_level wins over the environment. */
        if (atomic_compare_exchange_strong(&log_level, &expected, fresh))
            l = fresh;
        else
            l = expected;
    }
    return (tr_log_level)l;
}

void tr_set_log_level(tr_log_level max)
{
    if ((int)max < TR_LOG_OFF)
        max = TR_LOG_OFF;
    if ((int)max > TR_LOG_DEBUG)
        max = TR_LOG_DEBUG;
    atomic_store_explicit(&log_level, (int)max, memory_order_relaxed);
}

bool tr_log_enabled(tr_log_level level)
{
    return level != TR_LOG_OFF && (int)level <= (int)tr_log_level_get();
}

void tr_set_log_fn(tr_log_fn fn, void *user)
{
    pthread_rwlock_wrlock(&log_lock);
    log_fn = fn;
    log_user = fn != NULL ? user : NULL;
    pthread_rwlock_unlock(&log_lock);
}

/* The default log function: "<UTC time> troupe <level> [<subsystem>] <line>"
 * on stderr in one write, so concurrent lines do not interleave. */
static void log_to_stderr(tr_log_level level, const char *subsystem, const char *line)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char out[TR_LOG_LINE_MAX + 96];
    int n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ troupe %s [%s] %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, tr_log_level_name(level), subsystem, line);
    if (n > 0)
        fwrite(out, 1, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1, stderr);
}

/* Formats fmt into one line (cut with "..." when too long, trailing
 * newlines dropped), appends `suffix`, and hands it to the log function. */
static void emit(tr_log_level level, const char *subsystem, const char *suffix, const char *fmt,
                 va_list ap)
{
    char line[TR_LOG_LINE_MAX];
    size_t room = sizeof(line) - strlen(suffix);
    int n = vsnprintf(line, room, fmt, ap);
    size_t len;
    if (n < 0) {
        len = (size_t)snprintf(line, room, "(bad log format: %s)", fmt);
        if (len >= room)
            len = room - 1;
    } else if ((size_t)n >= room) {
        len = room - 1;
        memcpy(line + len - 3, "...", 3);
    } else {
        len = (size_t)n;
    }
    while (len > 0 && line[len - 1] == '\n')
        len--;
    memcpy(line + len, suffix, strlen(suffix) + 1);
    if (subsystem == NULL)
        subsystem = "app";

    pthread_rwlock_rdlock(&log_lock);
    if (log_fn != NULL)
        log_fn(log_user, level, subsystem, line);
    else
        log_to_stderr(level, subsystem, line);
    pthread_rwlock_unlock(&log_lock);
}

void tr_log(tr_log_level level, const char *subsystem, const char *fmt, ...)
{
    if (!tr_log_enabled(level) || fmt == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, subsystem, "", fmt, ap);
    va_end(ap);
}

/* ---- the token bucket ----
 * One 64-bit word, changed by compare-and-swap: bits 0..15 tokens, bit 16
 * "initialised" (a zeroed limiter starts full), bits 17..63 the time in
 * milliseconds up to which refills have been credited. */
#define TOKENS_MASK 0xffffull
#define INIT_BIT (1ull << 16)
#define TIME_SHIFT 17

bool tr_log_limiter_take(tr_log_limiter *lim, uint64_t now_ms)
{
    uint64_t burst = lim->burst > TOKENS_MASK ? TOKENS_MASK : lim->burst;
    uint64_t old = atomic_load_explicit(&lim->bucket, memory_order_relaxed);
    for (;;) {
        uint64_t tokens, credited;
        if (!(old & INIT_BIT)) {
            tokens = burst;
            credited = now_ms;
        } else {
            tokens = old & TOKENS_MASK;
            credited = old >> TIME_SHIFT;
            if (now_ms > credited && lim->per_second > 0) {
                uint64_t add = (now_ms - credited) * lim->per_second / 1000;
                if (tokens + add >= burst) {
                    tokens = burst;
                    credited = now_ms;
                } else if (add > 0) {
                    tokens += add;
                    credited += add * 1000 / lim->per_second; /* keep the remainder */
                }
            }
        }
        bool take = tokens > 0;
        uint64_t next = (credited << TIME_SHIFT) | INIT_BIT | (tokens - (take ? 1 : 0));
        if (next == old ||
            atomic_compare_exchange_weak_explicit(&lim->bucket, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return take;
    }
}

bool tr_log_limited(tr_log_limiter *lim, tr_log_level level, const char *subsystem,
                    const char *fmt, ...)
{
    if (lim == NULL || fmt == NULL || !tr_log_enabled(level))
        return false;
    if (!tr_log_limiter_take(lim, tr_now_ms())) {
        atomic_fetch_add_explicit(&lim->suppressed, 1, memory_order_relaxed);
        return false;
    }
    char suffix[64] = "";
    uint64_t dropped = atomic_exchange_explicit(&lim->suppressed, 0, memory_order_relaxed);
    if (dropped > 0)
        snprintf(suffix, sizeof(suffix), " (%llu similar lines suppressed)",
                 (unsigned long long)dropped);
    va_list ap;
    va_start(ap, fmt);
    emit(level, subsystem, suffix, fmt, ap);
    va_end(ap);
    return true;
}

/* Troupe logging hook: every line the runtime writes (crash reports, peer
 * up/down, refused connections) goes through one function the application
 * may replace, filtered by one level.
 *
 * Default: lines at TR_LOG_WARN and more severe go to stderr, one line each:
 *     2026-12-02T18:55:01.123Z troupe error [crash] actor 'acct-3' ...
 * The environment variable TROUPE_LOG (off, error, warn, info, debug) sets
 * the starting level; tr_set_log_level overrides it.
 *
 * Thread safety: every function here may be called from any thread at any
 * time, including from workers and from inside a log function. */
#ifndef TROUPE_LOG_H
#define TROUPE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Severity, most severe first. A line is emitted when its level <= the
 * level set with tr_set_log_level. TR_LOG_OFF as that level silences all. */
typedef enum tr_log_level {
    TR_LOG_OFF = 0,   /* only as a threshold: emit nothing */
    TR_LOG_ERROR = 1, /* something failed: crash reports, refused peers */
    TR_LOG_WARN = 2,  /* something is wrong but handled: a node went down */
    TR_LOG_INFO = 3,  /* notable events: a peer connected */
    TR_LOG_DEBUG = 4  /* detail for troubleshooting */
} tr_log_level;

/* A log function. `subsystem` is a short static name ("crash", "net",
 * "supervisor", or the application's); `line` is one formatted line without
 * a trailing newline. Both are valid only during the call. The function may
 * run on any thread, concurrently with itself, so it must be thread-safe; it
 * must not call tr_set_log_fn. */
typedef void (*tr_log_fn)(void *user, tr_log_level level, const char *subsystem,
                          const char *line);

/* Sends every later line to fn(user, ...); fn NULL restores the default
 * (stderr). When this returns, no thread is still inside the previous
 * function, so its `user` may be freed. */
TR_API void tr_set_log_fn(tr_log_fn fn, void *user);

/* Emits lines at `max` and more severe, drops the rest (TR_LOG_OFF: none). */
TR_API void tr_set_log_level(tr_log_level max);

/* The current threshold (the last tr_set_log_level, else TROUPE_LOG, else
 * TR_LOG_WARN). */
TR_API tr_log_level tr_log_level_get(void);

/* True when a line at `level` would be emitted: check it before costly
 * formatting work. */
TR_API bool tr_log_enabled(tr_log_level level);

/* Formats one line printf-style and hands it to the log function when
 * `level` passes the threshold. Lines longer than TR_LOG_LINE_MAX - 1 bytes
 * are cut and end in "...". A trailing newline in fmt is dropped. */
#define TR_LOG_LINE_MAX 1024
TR_API void tr_log(tr_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The lowercase name of a level ("error", "warn", ...; "off"). */
TR_API const char *tr_log_level_name(tr_log_level level);

/* ---- rate-limited lines ----
 * For lines a stranger could trigger (a refused connection, a malformed
 * frame): a token bucket per call site lets `burst` lines through at once and
 * then `per_second` lines a second; the rest are counted, and the next line
 * that passes ends with "(N similar lines suppressed)".
 *
 * Use one limiter per call site, statically initialised:
 *     static tr_log_limiter lim = TR_LOG_LIMITER_INIT(5, 1);
 *     tr_log_limited(&lim, TR_LOG_WARN, "net", "refused %s: %s", addr, why);
 * or the TR_LOG_LIMITED macro, which declares it for you. */
#ifdef __cplusplus
typedef uint64_t tr_log_atomic_u64; /* same size; C++ callers only pass a pointer */
#else
typedef _Atomic uint64_t tr_log_atomic_u64;
#endif
typedef struct tr_log_limiter {
    tr_log_atomic_u64 bucket;     /* internal: tokens and refill time, packed */
    tr_log_atomic_u64 suppressed; /* lines dropped since the last one emitted */
    uint32_t burst;               /* bucket size (lines let through at once) */
    uint32_t per_second;          /* refill rate; 0 = never refills */
} tr_log_limiter;

#define TR_LOG_LIMITER_INIT(burst_, per_second_) \
    { 0, 0, (burst_), (per_second_) }

/* Like tr_log, through `lim`'s bucket. Returns true if the line was emitted,
 * false if it was below the threshold or suppressed (only suppressed lines
 * are counted). */
TR_API bool tr_log_limited(tr_log_limiter *lim, tr_log_level level, const char *subsystem,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A rate-limited line with a limiter of its own (burst 5, then 1 a second)
 * declared at the call site. */
#define TR_LOG_LIMITED(level, subsystem, ...)                                    \
    do {                                                                         \
        static tr_log_limiter tr_log_site_ = TR_LOG_LIMITER_INIT(5, 1);          \
        (void)tr_log_limited(&tr_log_site_, (level), (subsystem), __VA_ARGS__);  \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif

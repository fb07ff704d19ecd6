/* Retrying an ask with exponential backoff and full jitter (Akka's
 * RetrySupport, the AWS architecture blog's "full jitter").
 *
 * tr_retry_ask asks `to` and, when the ask times out, cannot be sent, or
 * the reply is judged a failure, asks again after a random delay drawn
 * uniformly from [0, min(max_delay, base_delay * 2^(n-1))] after the nth
 * attempt, until an attempt succeeds, max_attempts were made, or the next
 * attempt would start past the deadline. The caller gets exactly one
 * TR_MSG_REPLY carrying a tr_outcome (outcome.h) with the first good reply
 * or the last failure.
 *
 * The attempts are made by a short-lived child actor of the caller (so
 * they end with the caller); the caller never blocks. Only idempotent
 * requests should be retried: an attempt that timed out may still have
 * been handled. */
#ifndef TROUPE_RETRY_H
#define TROUPE_RETRY_H

#include "troupe/actor.h"
#include "troupe/outcome.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zero-initialise and set what you need. */
typedef struct tr_retry_policy {
    uint32_t max_attempts;       /* 0 = 3 */
    uint32_t attempt_timeout_ms; /* each ask's timeout; 0 = 1000 */
    uint32_t base_delay_ms;      /* backoff after the first failure, at most; 0 = 50 */
    uint32_t max_delay_ms;       /* cap on any backoff; 0 = 5000 */
    uint32_t deadline_ms;        /* from the call; no attempt starts after it; 0 = none */
    uint64_t seed;               /* jitter seed (same seed, same delays); 0 = from the clock */
    /* Optional: returns true when a reply means failure (retry it). Runs on
     * a worker, inside the retrying actor. */
    bool (*reply_failed)(const void *reply, size_t size, void *ctx);
    void *ctx;
} tr_retry_policy;

/* From a callback: asks `to` (type, a copy of data[0..size)) under
 * `policy` (copied; NULL = defaults). Writes the correlation id of the
 * coming outcome reply to *corr (may be NULL). If the retrying actor itself
 * dies, the caller gets TR_MSG_ASK_TIMEOUT with that id instead. Returns
 * TR_OK, TR_EINVAL, TR_ENOMEM, or a spawn error. */
TR_API int tr_retry_ask(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size,
                        const tr_retry_policy *policy, uint64_t *corr);

/* The full-jitter backoff after attempt `attempt` (1-based): uniform in
 * [0, min(max_delay_ms, base_delay_ms * 2^(attempt-1))], drawn from the
 * generator state *rng (advanced). Exposed for tests and for users who
 * schedule their own retries. */
TR_API uint32_t tr_backoff_full_jitter(uint32_t base_delay_ms, uint32_t max_delay_ms,
                                       uint32_t attempt, uint64_t *rng);

#ifdef __cplusplus
}
#endif
#endif

/* A circuit breaker actor (Akka's CircuitBreaker, Nygard's "Release It!").
 *
 * It stands in front of one target actor. Calls go through it
 * (tr_breaker_call) as asks with the breaker's call timeout:
 *  - closed: calls pass; failure_threshold consecutive failures (a timeout,
 *    a send error, or a reply judged a failure) open it; a success resets
 *    the count;
 *  - open: every call fails at once with TR_EOPEN, without touching the
 *    target; after reset_timeout_ms it turns half-open;
 *  - half-open: the first call passes as the one trial, others fail with
 *    TR_EOPEN meanwhile; the trial's success closes the breaker, its
 *    failure opens it again for another reset_timeout_ms.
 * Each caller gets one TR_MSG_REPLY carrying a tr_outcome (outcome.h).
 * Subscribers receive TR_MSG_BREAKER_STATE (data: tr_breaker_event) on
 * every state change, delivered past their mailbox bound (at most three
 * changes per reset timeout). */
#ifndef TROUPE_BREAKER_H
#define TROUPE_BREAKER_H

#include "troupe/actor.h"
#include "troupe/outcome.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_breaker_state {
    TR_BREAKER_CLOSED = 0,
    TR_BREAKER_OPEN = 1,
    TR_BREAKER_HALF_OPEN = 2
} tr_breaker_state;

/* Message to subscribers: a state change. */
#define TR_MSG_BREAKER_STATE (TR_MSG_SERVICE + 0x200u)

typedef struct tr_breaker_event {
    tr_ref breaker;
    tr_breaker_state from, to;
    uint32_t failures; /* consecutive failures when it opened; else 0 */
} tr_breaker_event;

/* Zero-initialise and set what you need. */
typedef struct tr_breaker_config {
    tr_ref target;              /* required */
    uint32_t failure_threshold; /* 0 = 5 */
    uint32_t reset_timeout_ms;  /* 0 = 10000 */
    uint32_t call_timeout_ms;   /* 0 = 1000 */
    /* Optional: returns true when a reply means failure. Runs inside the
     * breaker, on a worker. */
    bool (*reply_failed)(const void *reply, size_t size, void *ctx);
    void *ctx;
} tr_breaker_config;

/* Spawns a breaker for cfg->target (cfg is copied; `opts` as for tr_spawn,
 * may be NULL). Returns as tr_spawn, or TR_EINVAL without a target. */
TR_API int tr_breaker_start(tr_system *sys, const tr_breaker_config *cfg, const tr_spawn_opts *opts,
                            tr_ref *out);

/* From a callback: calls the breaker's target through it with a copy of
 * data[0..size) tagged `type` (>= TR_MSG_USER). The outcome arrives as a
 * TR_MSG_REPLY whose corr is written to *corr, or TR_MSG_ASK_TIMEOUT after
 * timeout_ms if the breaker itself does not answer (choose it above the
 * breaker's call timeout). Returns as tr_ask. */
TR_API int tr_breaker_call(tr_ctx *self, tr_ref breaker, uint32_t type, const void *data,
                           size_t size, uint32_t timeout_ms, uint64_t *corr);

/* From an outside thread: the same, waiting for the outcome. On TR_OK
 * *outcome is filled and *reply (malloc'd, caller frees; may be NULL when
 * the reply is empty) holds the reply bytes; pass reply NULL to discard
 * them. Returns TR_OK (look at outcome->status), TR_ETIMEDOUT, TR_ECONTEXT
 * on a worker thread, or a send error. */
TR_API int tr_breaker_call_wait(tr_system *sys, tr_ref breaker, uint32_t type, const void *data,
                                size_t size, int timeout_ms, tr_outcome *outcome, void **reply);

/* Makes `subscriber` receive TR_MSG_BREAKER_STATE for each state change
 * from now on (a dead subscriber is dropped). Returns as tr_post. */
TR_API int tr_breaker_subscribe(tr_system *sys, tr_ref breaker, tr_ref subscriber);

#ifdef __cplusplus
}
#endif
#endif

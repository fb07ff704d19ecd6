/* The outcome of a guarded call (retry.h, breaker.h).
 *
 * A retried ask and a call through a circuit breaker both answer the caller
 * with one TR_MSG_REPLY (msg->corr as returned by the call) whose payload is
 * a tr_outcome header followed by the target's reply bytes, if any. Read it
 * with tr_outcome_parse, which checks the sizes. */
#ifndef TROUPE_OUTCOME_H
#define TROUPE_OUTCOME_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_outcome {
    /* TR_OK: the target replied (its bytes follow). Otherwise why not:
     * TR_ETIMEDOUT (no reply in time, or the retry deadline passed),
     * TR_EOPEN (a circuit breaker refused the call), TR_EFAILED (the target
     * replied, but the reply was judged a failure; its bytes follow), or the
     * error of the last send (TR_EDEAD, TR_EFULL...). */
    int32_t status;
    uint32_t attempts;   /* asks made to the target (0 when refused at once) */
    uint32_t reply_size; /* reply bytes following this header */
    uint32_t reserved;
} tr_outcome;

/* Reads an outcome from a TR_MSG_REPLY: writes the header to *out and points
 * *reply at the reply bytes (NULL when there are none). Returns TR_OK, or
 * TR_EPROTO when the message is not a well-formed outcome. The bytes live
 * as long as the message. */
TR_API int tr_outcome_parse(const tr_msg *msg, tr_outcome *out, const void **reply);

#ifdef __cplusplus
}
#endif
#endif

/* Internal to resilience/: the service tags of the retry and breaker
 * actors, and the one way both answer a caller (a tr_outcome reply). */
#ifndef TROUPE_RESILIENCE_OUTCOME_H
#define TROUPE_RESILIENCE_OUTCOME_H

#include "troupe/actor.h"
#include "troupe/outcome.h"

enum {
    TR_BREAKER_CALL = TR_MSG_SERVICE + 0x201u,      /* ask; data: call_header + bytes */
    TR_BREAKER_SUBSCRIBE = TR_MSG_SERVICE + 0x202u, /* data: tr_ref */
    TR_BREAKER_RESET = TR_MSG_SERVICE + 0x203u,     /* to itself: reset timeout passed */
    TR_RETRY_START = TR_MSG_SERVICE + 0x210u,       /* ask from the caller: begin */
    TR_RETRY_AGAIN = TR_MSG_SERVICE + 0x211u,       /* to itself: the backoff passed */
};

/* What a guarded call keeps of the caller's ask to answer it later: the
 * fields tr_reply reads (sender, corr, type). */
static inline tr_msg tr_outcome_request(const tr_msg *ask)
{
    return (tr_msg){.type = ask->type, .sender = ask->sender, .corr = ask->corr};
}

/* Replies to `request` with a tr_outcome header and reply[0..size).
 * Returns as tr_reply. */
int tr_outcome_reply(tr_ctx *self, const tr_msg *request, int status, uint32_t attempts,
                     const void *reply, size_t size);

#endif

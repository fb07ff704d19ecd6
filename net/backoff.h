/* Redial delays: exponential backoff with jitter, capped ("equal jitter":
 * each delay is half the current step plus a random part of the other
 * half, so nodes that lost the same peer at the same moment do not redial
 * it in lockstep, and a flapping peer is not hammered). */
#ifndef TROUPE_NET_BACKOFF_H
#define TROUPE_NET_BACKOFF_H

#include <stdint.h>

typedef struct tr_backoff {
    uint32_t min_ms, max_ms; /* first step, cap */
    uint32_t step_ms;        /* the current step: min_ms doubling up to max_ms */
    uint64_t rng;            /* xorshift state (never 0) */
} tr_backoff;

/* Starts a backoff from min_ms, capped at max_ms; seed: any value
 * (different per record: the jitter of two records differs). */
void tr_backoff_init(tr_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed);

/* The delay before the next attempt (in [step/2, step]), then doubles the
 * step up to the cap. */
uint32_t tr_backoff_next(tr_backoff *b);

/* Back to the first step (the peer was reached). */
void tr_backoff_reset(tr_backoff *b);

#endif

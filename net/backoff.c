/* See backoff.h. Written by hand: twenty lines, no library offers it. */
#include "net/backoff.h"

void tr_backoff_init(tr_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed)
{
    b->min_ms = min_ms > 0 ? min_ms : 1;
    b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
    b->step_ms = b->min_ms;
    b->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

uint32_t tr_backoff_next(tr_backoff *b)
{
    uint32_t step = b->step_ms;
    uint32_t half = step / 2;
    uint32_t delay = half + (uint32_t)(xorshift(&b->rng) % (uint64_t)(step - half + 1));
    b->step_ms = step > b->max_ms / 2 ? b->max_ms : step * 2;
    return delay;
}

void tr_backoff_reset(tr_backoff *b) { b->step_ms = b->min_ms; }

/* Test support: a seeded fault injector for request/reply targets. The fate
 * of a target's kth request (k from 0) is a hash of (seed, k), not a shared
 * random stream, so a test can compute from the seed what the target will
 * do and check a retry or a circuit breaker against that model, however
 * the workers interleave. */
#ifndef TROUPE_TEST_FATES_H
#define TROUPE_TEST_FATES_H

#include <stdint.h>

enum fate { FATE_OK = 0, FATE_ERROR = 1, FATE_SILENT = 2 };

/* Out of 100: below silent_pct the request gets no reply, below fail_below
 * an error reply, else a good one. */
static inline enum fate fate_of(uint64_t seed, uint64_t k, unsigned silent_pct, unsigned fail_below)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * (k + 1); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    unsigned roll = (unsigned)(z % 100);
    return roll < silent_pct ? FATE_SILENT : roll < fail_below ? FATE_ERROR : FATE_OK;
}

#endif

/* The runtime's one small pseudo-random generator, for choices that only
 * need to differ from call to call (a steal victim, a restart's jitter), not
 * to be unpredictable: a 64-bit linear congruential step (Knuth's MMIX
 * constants, as in PCG's state step) whose high bits are returned. The state
 * is a plain uint64_t owned by one thread; any seed is valid. Never for
 * anything a peer could exploit: crypto comes from a library. */
#ifndef TROUPE_DS_RNG_H
#define TROUPE_DS_RNG_H

#include <stdint.h>

/* Steps `*state` and returns 31 random bits (its high bits: the low bits
 * of an LCG repeat with short periods). */
static inline uint32_t tr_rng_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

#endif

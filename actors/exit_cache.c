/* The exit reasons of recently ended actors (exit_cache.h).
 *
 * A seqlock per entry, the ref doubling as the sequence: 0 while the reason
 * is being written. Release/acquire fences instead of seq_cst stores keep
 * the put (once per actor end) cheap. Best effort: two actors ending at once
 * on the same entry may leave either one's entry. */
#include "actors/exit_cache.h"

#include <stddef.h>

static size_t entry_of(tr_ref ref) { return (ref.id & 0xffffffffu) % TR_EXIT_CACHE; }

void tr_exit_cache_put(tr_exit_cache *c, tr_ref ref, int reason)
{
    size_t i = entry_of(ref);
    atomic_store_explicit(&c->ref[i], 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&c->reason[i], reason, memory_order_relaxed);
    atomic_store_explicit(&c->ref[i], ref.id, memory_order_release);
}

bool tr_exit_cache_get(tr_exit_cache *c, tr_ref ref, int *reason)
{
    size_t i = entry_of(ref);
    if (atomic_load_explicit(&c->ref[i], memory_order_acquire) != ref.id)
        return false;
    int r = atomic_load_explicit(&c->reason[i], memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&c->ref[i], memory_order_relaxed) != ref.id)
        return false; /* overwritten while we read */
    *reason = r;
    return true;
}

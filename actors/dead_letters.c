/* The dead-letter count, log and watcher (dead_letters.h). */
#include "actors/dead_letters.h"

#include "actors/send.h"
#include "actors/system_impl.h"

void tr_dead_letters_init(tr_dead_letters *dl) { pthread_mutex_init(&dl->lock, NULL); }

void tr_dead_letters_fini(tr_dead_letters *dl) { pthread_mutex_destroy(&dl->lock); }

void tr_dead_letter_record(tr_system *sys, tr_ref to, tr_ref sender, uint32_t type, int reason)
{
    atomic_fetch_add_explicit(&sys->dead_letters.count, 1, memory_order_relaxed);
    size_t slot = reason > 0 && reason < TR_METRICS_REASONS ? (size_t)reason : 0;
    atomic_fetch_add_explicit(&sys->dead_letters.by_reason[slot], 1, memory_order_relaxed);
    pthread_mutex_lock(&sys->dead_letters.lock);
    sys->dead_letters.log[sys->dead_letters.next++ % TR_DEAD_LETTER_LOG] =
        (tr_dead_letter){.to = to, .sender = sender, .type = type, .reason = reason};
    pthread_mutex_unlock(&sys->dead_letters.lock);
    uint64_t watcher = atomic_load_explicit(&sys->dead_letters.watcher, memory_order_acquire);
    if (watcher != 0 && watcher != to.id) { /* never about itself: no loops */
        tr_dead_letter d = {.to = to, .sender = sender, .type = type, .reason = reason};
        tr_mnode *n = tr_mnode_copy(TR_MSG_DEAD_LETTER, &d, sizeof(d));
        if (n != NULL)
            tr_deliver(sys, NULL, (tr_ref){watcher}, n, false, 0);
    }
}

int tr_dead_letter_watch(tr_system *sys, tr_ref watcher)
{
    if (sys == NULL)
        return TR_EINVAL;
    atomic_store_explicit(&sys->dead_letters.watcher, watcher.id, memory_order_release);
    return TR_OK;
}

size_t tr_dead_letters_recent(tr_system *sys, tr_dead_letter *out, size_t max)
{
    if (sys == NULL || out == NULL)
        return 0;
    pthread_mutex_lock(&sys->dead_letters.lock);
    uint64_t end = sys->dead_letters.next;
    uint64_t kept = end < TR_DEAD_LETTER_LOG ? end : TR_DEAD_LETTER_LOG;
    if (max > kept)
        max = (size_t)kept;
    for (size_t i = 0; i < max; i++)
        out[i] = sys->dead_letters.log[(end - max + i) % TR_DEAD_LETTER_LOG];
    pthread_mutex_unlock(&sys->dead_letters.lock);
    return max;
}

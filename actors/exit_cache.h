/* Why recently ended actors ended: a fixed table of their exit reasons,
 * indexed by the slot part of their reference, so that whoever asks just
 * after an actor ended (tr_await_exit, a monitor or link made on a dead
 * reference, a send that finds the slot retired) still learns the reason.
 * A newer end in the same place overwrites an older one; no lock (a reader
 * that races with the overwrite sees "not remembered"). */
#ifndef TROUPE_ACTORS_EXIT_CACHE_H
#define TROUPE_ACTORS_EXIT_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "troupe/actor.h"

#define TR_EXIT_CACHE 1024

/* Zeroed memory is an empty cache (tr_system is). */
typedef struct tr_exit_cache {
    _Atomic uint64_t ref[TR_EXIT_CACHE]; /* ref.id, 0 = empty */
    _Atomic int reason[TR_EXIT_CACHE];
} tr_exit_cache;

/* Remembers why `ref` ended. Any thread (lifecycle.c, once per end). */
void tr_exit_cache_put(tr_exit_cache *c, tr_ref ref, int reason);

/* Looks up why `ref` ended into *reason; false when it is no longer
 * remembered. Any thread. */
bool tr_exit_cache_get(tr_exit_cache *c, tr_ref ref, int *reason);

#endif

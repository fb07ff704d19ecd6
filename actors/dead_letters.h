/* Dead letters: every message that could not be delivered is counted by
 * reason, kept in a small log and, when a watcher is set, sent to it
 * (tr_dead_letter_watch, like Akka's dead-letter listener). The runtime's
 * part, tr_system.dead_letters; the public side is in troupe/metrics.h. */
#ifndef TROUPE_ACTORS_DEAD_LETTERS_H
#define TROUPE_ACTORS_DEAD_LETTERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "troupe/metrics.h"

typedef struct tr_dead_letters {
    _Alignas(64) _Atomic uint64_t count;
    _Atomic uint64_t by_reason[TR_METRICS_REASONS]; /* see tr_metrics */
    _Atomic uint64_t watcher; /* tr_ref.id of the dead-letter watcher, 0 = none */
    pthread_mutex_t lock;     /* guards log and next */
    tr_dead_letter log[TR_DEAD_LETTER_LOG];
    uint64_t next;
} tr_dead_letters;

/* Makes an empty log; tr_dead_letters_fini frees its lock. */
void tr_dead_letters_init(tr_dead_letters *dl);
void tr_dead_letters_fini(tr_dead_letters *dl);

/* Records a dead letter (counted, logged, sent to the watcher). Any thread. */
void tr_dead_letter_record(tr_system *sys, tr_ref to, tr_ref sender, uint32_t type, int reason);

#endif

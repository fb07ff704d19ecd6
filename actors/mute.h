/* Backpressure's mute set: the senders held back until one receiver (an
 * actor's mailbox, actors/send.c, or a peer's send queue, net/peer.c) has
 * room again. One set serves both, as Pony's sched/mutemap.c does: a hash
 * set of references (ds/refmap.h), so a flood from thousands of senders
 * costs O(1) per mute instead of a scan of the list.
 *
 * A sender is in at most one place per receiver and is muted once for it
 * (its mute_count); releasing the set unmutes each sender once. The set
 * has no lock of its own: its receiver's lock guards it (the actor's stripe
 * lock, the peer's lock), and tr_muteset_take hands its content to a caller
 * who unmutes outside that lock. */
#ifndef TROUPE_ACTORS_MUTE_H
#define TROUPE_ACTORS_MUTE_H

#include <pthread.h>
#include <stdbool.h>

#include "ds/refmap.h"
#include "troupe/actor.h"

typedef struct tr_muteset {
    tr_refmap senders; /* ref.id -> a non-NULL marker */
} tr_muteset;

/* Adds `sender` (a local reference). Returns TR_OK, TR_EEXIST when it is
 * in the set already, or TR_ENOMEM (the set is unchanged). */
int tr_muteset_add(tr_muteset *s, tr_ref sender);

/* Removes `sender` if present. */
void tr_muteset_remove(tr_muteset *s, tr_ref sender);

/* Whether the set is empty. */
static inline bool tr_muteset_empty(const tr_muteset *s) { return s->senders.n == 0; }

/* Moves the whole set out (s is left empty): the caller releases it with
 * tr_muteset_release, after dropping the lock that guards s. */
tr_muteset tr_muteset_take(tr_muteset *s);

/* Unmutes every sender of a taken set (tr_actor_unmute, once each; ended
 * senders are skipped) and frees it. Any thread, no lock held. */
void tr_muteset_release(tr_system *sys, tr_muteset *taken);

/* Frees the set without unmuting anyone (its receiver is being freed). */
void tr_muteset_free(tr_muteset *s);

/* One wait for room, for outside threads that post to a full receiver:
 * waits on cv (m held) until has_room(arg) says TR_OK, fails with its error,
 * or timeout_ms passes (then TR_EFULL, unless room came just in time).
 * has_room returns TR_OK (room), TR_EFULL (wait on) or another error (stop
 * waiting with it). timeout_ms < 0 waits for ever. */
int tr_wait_for_room(pthread_cond_t *cv, pthread_mutex_t *m, int timeout_ms,
                     int (*has_room)(void *arg), void *arg);

#endif

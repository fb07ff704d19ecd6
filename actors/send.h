/* The one delivery path every message takes (sends, posts, replies, timers). */
#ifndef TROUPE_ACTORS_SEND_H
#define TROUPE_ACTORS_SEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/actor_impl.h"
#include "actors/mute.h"
#include "actors/table.h"

/* The backpressure part of an actor's extension (actors/ext.h): the senders
 * muted on it until it drains, guarded by its stripe lock. */
typedef struct tr_muted_senders {
    tr_muteset set;
    _Atomic uint32_t any; /* 1 while set may be non-empty: read without the lock */
} tr_muted_senders;

/* Frees what a tr_muted_senders holds (its extension is being freed). */
void tr_muted_senders_fini(void *part);

/* Delivers node `n` to `to` and consumes it in every case.
 * sender: the running actor that sends (muted by backpressure), or NULL.
 * forced: skip the bound and the OPEN check (runtime messages whose number
 *         is bounded by their cause: ask replies and timeouts).
 * timeout_ms: for an outside sender facing a full backpressure mailbox,
 *         how long to wait for room (negative = forever, 0 = not at all).
 * Returns TR_OK or the error of tr_send/tr_post; undeliverable messages are
 * recorded as dead letters. */
int tr_deliver(tr_system *sys, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
               int timeout_ms);

/* Drops the holds this thread keeps (see tr_deliver and
 * tr_deliver_keep_hold). A worker calls it before it parks or exits. */
void tr_deliver_turn_end(void);

/* Drops the holds this thread keeps on `self` (an actor ending on this
 * thread), so that its memory goes with its end, not when the worker
 * next parks. */
void tr_deliver_forget(tr_table *t, tr_ref self);

/* At the start of a turn of the actor `self` of table `t`: when this thread
 * keeps a hold on `self` (one of the receivers of the previous turn's sends,
 * or an actor whose turn ended here lately), hands that hold over to the
 * turn and returns true (the caller then takes no hold of its own);
 * otherwise returns false. The other receivers' holds stay. */
bool tr_deliver_adopt_hold(tr_table *t, tr_ref self);

/* At the end of a turn of `a` (reference `self`, table `t`): keeps the
 * turn's hold on `a` instead of releasing it, dropping the one kept before,
 * so that a send to `a` or a turn of `a` soon after on this thread needs no
 * new hold. */
void tr_deliver_keep_hold(tr_table *t, tr_ref self, struct tr_actor *a);

#endif

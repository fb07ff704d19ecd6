/* The one delivery path every message takes (sends, posts, replies, timers). */
#ifndef TROUPE_ACTORS_SEND_H
#define TROUPE_ACTORS_SEND_H

#include <stdbool.h>

#include "actors/actor_impl.h"
#include "actors/table.h"

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

/* Drops the hold on the last receiver that a running actor's sends keep
 * (see tr_deliver). A worker calls it before it parks or exits. */
void tr_deliver_turn_end(void);

/* At the start of a turn of the actor `self` of table `t`: when the last
 * receiver still held by this thread (see tr_deliver) is `self`, as when an
 * actor sent to the one that runs next on its worker, hands that hold over
 * to the turn and returns true (the caller then takes no hold of its own);
 * otherwise drops the held receiver, if any, and returns false. */
bool tr_deliver_adopt_hold(tr_table *t, tr_ref self);

#endif

/* Stopping actors: graceful drain, abort after a failure, kill; children
 * first; terminate exactly once; the end notifications.
 *
 * A stop never blocks a worker. The stopping actor signals its children and
 * keeps taking turns: each turn it handles (drain) or drops (abort, kill) its
 * queued messages and checks whether its children are gone; a child's end
 * signals the parent (TR_SIG_CHILD) so it re-checks. When both are done it
 * finishes: terminate runs, owned timers and asks are cancelled, muted
 * senders are released, the parent, group and waiters are told, and the
 * table slot is retired. A drain deadline (a timer that sends TR_SIG_KILL) is
 * armed only by the actor where the stop started; descendants are bounded by
 * that deadline because a kill propagates down. */
#ifndef TROUPE_ACTORS_LIFECYCLE_H
#define TROUPE_ACTORS_LIFECYCLE_H

#include <stdbool.h>

#include "actors/actor_impl.h"

/* Starts (or escalates) stopping `a` with `reason` and `mode` (TR_STOP_*).
 * from_parent: an ancestor owns the deadline. Owner thread only. */
void tr_lifecycle_begin(struct tr_actor *a, int reason, int mode, bool from_parent);

/* Consumes pending signals (stop, kill, child exit): those in a->signals
 * and the bits in `pending` (handed over by a parent that claimed `a`).
 * Owner thread only. */
void tr_lifecycle_take_signals(struct tr_actor *a, uint32_t pending);

/* Finishes a stopping actor whose children are gone and whose mailbox is
 * drained (or dropped). `held`: the caller's turn holds `a` in the table;
 * on true that hold is consumed. Returns true if it is now dead (and must
 * not be touched again: it may be freed). Otherwise the actor stays
 * stopping, no longer open to user messages. Owner thread only. */
bool tr_lifecycle_try_finish(struct tr_actor *a, bool held);

/* Stops `ref` gracefully with exit reason TR_ECANCELLED (a cancelled token).
 * Any thread. Returns TR_OK, TR_EDEAD or TR_EINVAL. */
int tr_lifecycle_cancel(tr_system *sys, tr_ref ref);

/* Signals every top-level actor with `bits` (system shutdown). */
void tr_lifecycle_signal_top_level(tr_system *sys, uint32_t bits);

#endif

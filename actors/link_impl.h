/* Link bookkeeping used by the actor lifecycle (see troupe/link.h). */
#ifndef TROUPE_ACTORS_LINK_IMPL_H
#define TROUPE_ACTORS_LINK_IMPL_H

#include <stdint.h>

#include "actors/actor_impl.h"
#include "troupe/link.h"

/* An actor's links and the exit signals waiting for it, in its extension,
 * guarded by its stripe lock. */
typedef TR_VEC(tr_exit_signal) tr_exit_signal_vec;
typedef struct tr_link_set {
    tr_ref_vec peers;
    tr_exit_signal_vec pending; /* arrived, not yet acted on by the owner */
} tr_link_set;

/* The links part of an actor's extension (actors/ext.h): a tr_link_set *,
 * NULL until the first link. fini frees the set (its extension is being
 * freed). */
void tr_link_ext_fini(void *part);

/* Partners taken off an ending actor, to signal once it is dead. */
typedef tr_ref_vec tr_link_list;

/* Takes `a`'s links (the caller owns the list) after tr_monitor_close_locked
 * has marked it ended, so a later tr_link signals at once. Owner thread
 * only, with a's stripe lock held. */
tr_link_list tr_link_close_locked(struct tr_actor *a);

/* Sends `dead`'s exit signal to every partner still linked to it, and frees
 * the list. Call after the reference is retired. */
void tr_link_fire(tr_system *sys, tr_ref dead, int reason, tr_link_list *list);

/* Acts on the pending exit signals (TR_SIG_EXIT): a trapping actor gets a
 * TR_MSG_EXIT each, others fail with an abnormal reason. Owner thread only. */
void tr_link_take_exits(struct tr_actor *a);

#endif

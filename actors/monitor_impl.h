/* Monitor bookkeeping used by the actor lifecycle. */
#ifndef TROUPE_ACTORS_MONITOR_IMPL_H
#define TROUPE_ACTORS_MONITOR_IMPL_H

#include <stdint.h>

#include "actors/actor_impl.h"

typedef struct tr_watch {
    uint64_t id;
    tr_ref watcher;
} tr_watch;

/* The monitors part of an actor's extension (actors/ext.h): those watching
 * it, guarded by its stripe lock. */
typedef TR_VEC(tr_watch) tr_watch_vec;

/* Frees what a tr_watch_vec holds (its extension is being freed). */
void tr_monitor_ext_fini(void *part);

/* Monitors taken off an ending actor, to fire once it is dead. */
typedef tr_watch_vec tr_watch_list;

/* A new monitor id, unique in `sys` and never 0 (tr_monitor, the monitor
 * an ask keeps on a remote callee). Any thread. */
uint64_t tr_monitor_new_id(tr_system *sys);

/* Closes `a`'s monitor list (later tr_monitor calls fire at once) and
 * returns its monitors, which the caller now owns. Owner thread only, with
 * a's stripe lock (tr_actor_stripe) held. */
tr_watch_list tr_monitor_close_locked(struct tr_actor *a);

/* Sends one TR_MSG_DOWN per monitor in `list` and frees it. */
void tr_monitor_fire(tr_system *sys, tr_ref dead, int reason, tr_watch_list *list);

#endif

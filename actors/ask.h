/* Request/reply bookkeeping: each actor keeps its pending asks (correlation
 * id and timeout timer) so that exactly one of reply or timeout reaches it. */
#ifndef TROUPE_ACTORS_ASK_H
#define TROUPE_ACTORS_ASK_H

#include <stdbool.h>

#include "actors/actor_impl.h"

/* Filters a message before handle(): replies and timeouts are matched with
 * a pending ask (which they complete); a late or unknown one is recorded as
 * a dead letter and false is returned. Other messages pass. Owner only. */
bool tr_ask_accept(struct tr_actor *a, tr_mnode *m);

/* Cancels every pending ask's timer (the actor is ending). Owner only. */
void tr_ask_cancel_all(struct tr_actor *a);

#endif

/* Requests the runtime answers on an actor's behalf, between two of its
 * messages (after init has returned): an inspection (tr_inspect) and a ping
 * (a supervisor learning that a child's init has returned). */
#ifndef TROUPE_ACTORS_PROBE_H
#define TROUPE_ACTORS_PROBE_H

#include <stdbool.h>

#include "actors/actor_impl.h"
#include "mailbox/msg.h"

/* Message types from here up are answered by the runtime, never handed to
 * handle() (dispatch in actor.c tests this one bound; probe.c). */
#define TR_MSG_RUNTIME_FIRST 0xffffff00u
#define TR_MSG_PING (TR_MSG_RUNTIME_FIRST + 1u) /* answered with TR_MSG_PONG to the sender */
/* The answer to a ping (an ordinary message: it reaches handle()). */
#define TR_MSG_PONG (TR_MSG_SERVICE + 0x300u)

/* Answers request `m` (type >= TR_MSG_RUNTIME_FIRST) for actor `a` on its
 * worker. Does not free `m`. */
void tr_runtime_answer(struct tr_actor *a, tr_mnode *m);

/* From a callback: sends a ping to `to`, past its mailbox bound (one per
 * start). Its TR_MSG_PONG comes back once `to` has run its init and
 * reached the ping. Returns as tr_send. */
int tr_ping(tr_ctx *self, tr_ref to);

#endif

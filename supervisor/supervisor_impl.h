/* The requests a supervisor answers (supervisor.c) and its clients send
 * (supervisor.c, pool.c). Service tags: never seen by applications. */
#ifndef TROUPE_SUPERVISOR_SUPERVISOR_IMPL_H
#define TROUPE_SUPERVISOR_SUPERVISOR_IMPL_H

#include "troupe/actor.h"

enum {
    TR_SUP_WHICH_CHILD = TR_MSG_SERVICE + 1,     /* data: id\0; reply: tr_ref or empty */
    TR_SUP_RESTART = TR_MSG_SERVICE + 2,         /* to itself after a backoff; data: child seq */
    TR_SUP_START_CHILD = TR_MSG_SERVICE + 3,     /* data: void *arg; reply: tr_sup_started */
    TR_SUP_TERMINATE_CHILD = TR_MSG_SERVICE + 4, /* data: tr_ref; reply: int rc */
    TR_SUP_WHICH_CHILDREN = TR_MSG_SERVICE + 5,  /* reply: tr_ref[] in start order */
};

#endif

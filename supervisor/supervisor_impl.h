/* The requests a supervisor answers (supervisor.c) and its clients send
 * (client.c). Service tags: never seen by applications. */
#ifndef TROUPE_SUPERVISOR_SUPERVISOR_IMPL_H
#define TROUPE_SUPERVISOR_SUPERVISOR_IMPL_H

#include "troupe/supervisor.h"

enum {
    TR_SUP_WHICH_CHILD = TR_MSG_SERVICE + 1,     /* data: id\0; reply: tr_ref or empty */
    TR_SUP_RESTART = TR_MSG_SERVICE + 2,         /* to itself after a backoff; data: sup_timer_ref */
    TR_SUP_START_CHILD = TR_MSG_SERVICE + 3,     /* data: void *arg; reply: tr_sup_started */
    TR_SUP_TERMINATE_CHILD = TR_MSG_SERVICE + 4, /* data: tr_ref; reply: int rc */
    TR_SUP_WHICH_CHILDREN = TR_MSG_SERVICE + 5,  /* reply: tr_ref[] in start order */
    /* Sent once the supervisor's start is over. An ask gets an int reply
     * (TR_OK or the failing init's reason); a plain message (a parent
     * supervisor, the start waiter) gets a TR_MSG_PONG on success only:
     * a failure shows as the supervisor's DOWN. */
    TR_SUP_AWAIT_STARTED = TR_MSG_SERVICE + 6,
    TR_SUP_RESTART_CHILD = TR_MSG_SERVICE + 7,   /* data: id\0; reply: tr_sup_started */
    TR_SUP_DELETE_CHILD = TR_MSG_SERVICE + 8,    /* data: id\0; reply: int rc */
    TR_SUP_CHILD_INFO = TR_MSG_SERVICE + 9,      /* reply: tr_sup_child_info[] in start order */
    TR_SUP_COUNT_CHILDREN = TR_MSG_SERVICE + 10, /* reply: tr_sup_counts */
};

/* Spawns a supervisor from a copy of the specs (owned by it); its start
 * goes on alone (client.c waits for it). opts->drain_timeout_ms 0 = none. */
int tr_sup_spawn(tr_system *sys, const tr_sup_flags *flags, const tr_child_spec *specs, size_t n,
                 const tr_spawn_opts *opts, tr_ref *out);

#endif

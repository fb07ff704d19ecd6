/* Internal timer service: a timing wheel (wheel.c) driven by one thread.
 * Timers either deliver a message or kill an actor (drain deadlines). */
#ifndef TROUPE_ACTORS_TIMERS_H
#define TROUPE_ACTORS_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/vec.h"
#include "troupe/actor.h"

enum tr_timer_action {
    TR_TIMER_SEND = 0,   /* deliver a message, respecting the mailbox bound */
    TR_TIMER_NOTIFY = 1, /* deliver a runtime message past the bound (ask timeouts) */
    TR_TIMER_KILL = 2,   /* kill the target (a drain deadline passed) */
    TR_TIMER_WATCHDOG = 3 /* a handler overran its deadline (watchdog.c); data: start ms */
};

typedef struct tr_timer_spec {
    enum tr_timer_action action;
    tr_ref target;
    uint32_t type;
    uint64_t corr;
    const void *data; /* copied */
    size_t size;
    uint32_t delay_ms;
    uint32_t period_ms; /* 0 = one-shot */
} tr_timer_spec;

/* Starts the timer thread. Returns TR_OK or TR_ENOMEM. */
/* The timers part of an actor's extension (actors/ext.h): what its end
 * cancels. Owner thread only. */
typedef struct tr_owned_timers {
    TR_VEC(uint64_t) ids; /* timers its callbacks started (timer.c) */
    uint64_t deadline;    /* its drain deadline's timer (lifecycle.c), 0 = none */
} tr_owned_timers;

/* Frees what a tr_owned_timers holds (its extension is being freed). */
void tr_owned_timers_fini(void *part);

int tr_timers_start(tr_system *sys);

/* Stops the timer thread and frees every timer (pending ones never fire). */
void tr_timers_stop(tr_system *sys);

/* Arms a timer; writes its id to *id. Returns TR_OK, TR_ENOMEM or TR_ECLOSED. */
int tr_timers_add(tr_system *sys, const tr_timer_spec *spec, uint64_t *id);

/* Cancels timer `id`. Returns TR_OK if it was pending, else TR_ENOTFOUND. */
int tr_timers_cancel(tr_system *sys, uint64_t id);

/* True while timer `id` is pending. */
bool tr_timers_pending(tr_system *sys, uint64_t id);

#endif

/* The per-message deadline watchdog (tr_spawn_opts.handler_deadline_ms).
 *
 * Before each handle() of an actor with a deadline, a one-shot timer is armed
 * on the timer wheel (no thread per actor); the worker cancels it when the
 * handler returns. If it fires first, the timer thread prints one warning
 * line naming the actor and the elapsed time and counts the overrun; the
 * worker then finds its cancel too late and fails the actor with
 * TR_EDEADLINE. Timers fire under the timer lock, so a cancel that returns
 * "not found" means the warning has been printed and counted. */
#ifndef TROUPE_ACTORS_WATCHDOG_H
#define TROUPE_ACTORS_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor_impl.h"

/* Arms the watchdog for one handler call of `a`. Returns the timer id, or 0
 * when it could not be armed (then the call is simply not watched). Owner. */
uint64_t tr_watchdog_arm(struct tr_actor *a);

/* Disarms it after the handler returned; true if the deadline had passed. */
bool tr_watchdog_disarm(struct tr_actor *a, uint64_t id);

/* The timer fired: warn on stderr and count. `data` is the start time (ms).
 * Timer thread. */
void tr_watchdog_fire(tr_system *sys, tr_ref target, const void *data, size_t size);

#endif

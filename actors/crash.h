/* Crash reports (crash.c). */
#ifndef TROUPE_ACTORS_CRASH_H
#define TROUPE_ACTORS_CRASH_H

#include "actors/actor_impl.h"

/* Logs that `a` (the running actor, owner thread) fails with `reason`
 * (nonzero) while handling `msg`, or in init when msg is NULL. Nothing when
 * the system was created with quiet_crashes or errors are not logged. */
void tr_crash_report(struct tr_actor *a, const tr_msg *msg, int reason);

/* Whether `sys` logs crash reports (not created with quiet_crashes, and
 * errors are logged): the supervisor's half asks it too. */
bool tr_crash_reports_on(tr_system *sys);

#endif

/* The seam between the runtime and supervisor/ (supervisors, their client
 * calls, cancellation tokens): the one runtime header supervisor/ includes
 * besides the public ones, as actors/remote.h is net/'s. What supervisor/
 * uses of the runtime is declared in the headers included below, and
 * nothing else of them is its to use:
 *   tr_actor_current, struct tr_actor's sys (actors/actor_impl.h): whether a
 *     call runs in an actor (client.c), the system of a supervisor
 *     (supervisor.c's escalation count);
 *   tr_ping, TR_MSG_PONG (actors/probe.h): a child's init has returned
 *     (supervisor.c, client.c);
 *   tr_crash_reports_on (actors/crash.h): whether to log a supervisor report;
 *   tr_inspect_set_supervisor_behaviour (actors/inspect.h): what
 *     tr_actor_info.supervisor stands for;
 *   tr_metrics_supervisor_restart, tr_metrics_supervisor_escalation
 *     (actors/metrics.h): the restart and escalation counters;
 *   tr_lifecycle_cancel (actors/lifecycle.h): stopping an actor bound to a
 *     cancelled token (token.c);
 *   tr_deliver (actors/send.h), tr_mnode_copy (mailbox/msg.h) and
 *     tr_dead_letter_record (actors/dead_letters.h): a token's
 *     TR_MSG_CANCELLED, past the mailbox bound, or its loss (token.c);
 *   tr_group_binding_ops, tr_group_set_binding (actors/group_impl.h): a
 *     group's members bound to a token (token.c, tr_group_bind).
 * Besides these, supervisor/ uses the data structures of ds/ (below every
 * part, like the public headers) and its own supervisor_impl.h. */
#ifndef TROUPE_ACTORS_SUPERVISION_H
#define TROUPE_ACTORS_SUPERVISION_H

#include "actors/actor_impl.h"
#include "actors/crash.h"
#include "actors/dead_letters.h"
#include "actors/group_impl.h"
#include "actors/inspect.h"
#include "actors/lifecycle.h"
#include "actors/metrics.h"
#include "actors/probe.h"
#include "actors/send.h"
#include "mailbox/msg.h"

#endif

/* The runtime side of tr_actors_list (inspect.c; public side in
 * troupe/inspect.h). */
#ifndef TROUPE_ACTORS_INSPECT_H
#define TROUPE_ACTORS_INSPECT_H

#include "troupe/actor.h"

/* Names the behaviour that tr_actor_info.supervisor stands for. The
 * supervisor registers its own at load time (supervisor.c), so that nothing
 * under actors/ refers to the layer above it. */
void tr_inspect_set_supervisor_behaviour(const tr_behaviour *beh);

#endif

/* An actor's extension: what features keep for some actors only, allocated
 * on first use (tr_actor_ext_get) so that a plain actor stays small.
 *
 * Each feature owns its part: the part's type and the function that frees
 * what it holds are the feature's (declared in its header), and the
 * feature registers the part in the table of actors/ext.c. tr_actor_destroy
 * frees an extension through that table (tr_actor_ext_free), knowing none
 * of the features. A new part: a field here, a row there. */
#ifndef TROUPE_ACTORS_EXT_H
#define TROUPE_ACTORS_EXT_H

#include <stdatomic.h>
#include <stdint.h>

#include "actors/actor_impl.h"
#include "actors/ask.h"
#include "actors/group_impl.h"
#include "actors/link_impl.h"
#include "actors/monitor_impl.h"
#include "actors/send.h"
#include "actors/timers.h"

struct tr_actor_ext {
    char *name;               /* the spawn name, or NULL (actor.c) */
    tr_muted_senders muted;   /* backpressure (send.c; stripe lock) */
    tr_ask_ext ask;           /* asks sent and owed (ask.c; owner only) */
    tr_owned_timers timers;   /* timers its end cancels (timer.c, lifecycle.c) */
    tr_group_ext group;       /* spawn group and result (group.c, lifecycle.c) */
    tr_watch_vec watches;     /* monitors watching it (monitor.c; stripe lock) */
    struct tr_link_set *links; /* links, pending exit signals (link.c; stripe lock) */
    /* a supervisor's restarts so far (tr_metrics_supervisor_restart: its
     * owner writes, tr_actors_list reads; actors/metrics.c) */
    _Atomic uint32_t restarts;
};

/* A zeroed extension, or NULL on ENOMEM. */
tr_actor_ext *tr_actor_ext_new(void);

/* Frees `ext` and what each part holds (its fini, in the table). */
void tr_actor_ext_free(tr_actor_ext *ext);

/* Frees the name part (actor.c). */
void tr_actor_name_fini(void *part);

#endif

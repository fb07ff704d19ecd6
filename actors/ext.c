/* The registry of an actor's extension parts (actors/ext.h). */
#include "actors/ext.h"

#include <stddef.h>
#include <stdlib.h>

/* One part of tr_actor_ext: where it is, and what frees what it holds
 * (NULL: it holds nothing of its own). */
typedef struct ext_part {
    size_t offset;
    void (*fini)(void *part);
} ext_part;

/* Every part, in field order. Registered here, statically: no constructor,
 * no registration at run time. */
static const ext_part parts[] = {
    {offsetof(tr_actor_ext, name), tr_actor_name_fini},
    {offsetof(tr_actor_ext, muted), tr_muted_senders_fini},
    {offsetof(tr_actor_ext, ask), tr_ask_ext_fini},
    {offsetof(tr_actor_ext, timers), tr_owned_timers_fini},
    {offsetof(tr_actor_ext, group), NULL}, /* handed over at the actor's end */
    {offsetof(tr_actor_ext, watches), tr_monitor_ext_fini},
    {offsetof(tr_actor_ext, links), tr_link_ext_fini},
    {offsetof(tr_actor_ext, restarts), NULL},
};

tr_actor_ext *tr_actor_ext_new(void) { return calloc(1, sizeof(tr_actor_ext)); }

void tr_actor_ext_free(tr_actor_ext *ext)
{
    if (ext == NULL)
        return;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (parts[i].fini != NULL)
            parts[i].fini((char *)ext + parts[i].offset);
    free(ext);
}

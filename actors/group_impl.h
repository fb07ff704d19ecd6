/* Spawn-group hook called when a member ends. */
#ifndef TROUPE_ACTORS_GROUP_IMPL_H
#define TROUPE_ACTORS_GROUP_IMPL_H

#include <stdint.h>

#include "troupe/group.h"

/* The spawn-group part of an actor's extension (actors/ext.h): written by
 * the owner, handed to the group (or freed) when the actor ends
 * (lifecycle.c), so its extension holds nothing to free. */
typedef struct tr_group_ext {
    tr_group *of; /* the group the actor was spawned in, or NULL */
    int64_t result;
    void *result_ptr; /* tr_set_result_ptr, handed to the group at the end */
    void (*result_free)(void *);
} tr_group_ext;

/* Records a member's end, frees its slot and starts a queued spawn. */
void tr_group_member_done(tr_group *g, tr_ref member, int status, int64_t value, void *ptr,
                          void (*free_fn)(void *));

#endif

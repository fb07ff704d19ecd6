/* Spawn-group hook called when a member ends. */
#ifndef TROUPE_ACTORS_GROUP_IMPL_H
#define TROUPE_ACTORS_GROUP_IMPL_H

#include "troupe/group.h"

/* Records a member's end, frees its slot and starts a queued spawn. */
void tr_group_member_done(tr_group *g, tr_ref member, int status, int64_t value, void *ptr,
                          void (*free_fn)(void *));

#endif

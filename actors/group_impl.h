/* Spawn-group hook called when a member ends. */
#ifndef TROUPE_ACTORS_GROUP_IMPL_H
#define TROUPE_ACTORS_GROUP_IMPL_H

#include <stdbool.h>
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

/* What a group's members can be bound to, so that the group knows nothing
 * of it: a cancellation token (tr_group_bind, supervisor/token.c). Called
 * with the group's lock held. */
typedef struct tr_group_binding_ops {
    /* binds a member (running when bound, or started later) */
    int (*bind)(void *ctx, tr_ref member);
    /* true once cancelled: queued spawns are then dropped as TR_ECANCELLED */
    bool (*cancelled)(void *ctx);
    /* the group is freed: drops what it held of ctx */
    void (*release)(void *ctx);
} tr_group_binding_ops;

/* Binds `g` to (ops, ctx): its running members at once, later ones as they
 * start. Returns TR_OK (g now holds ctx until it is freed) or TR_EEXIST
 * (one binding per group; ctx is not taken). */
int tr_group_set_binding(tr_group *g, const tr_group_binding_ops *ops, void *ctx);

/* Records a member's end, frees its slot and starts a queued spawn. */
void tr_group_member_done(tr_group *g, tr_ref member, int status, int64_t value, void *ptr,
                          void (*free_fn)(void *));

#endif

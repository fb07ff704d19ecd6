/* Spawn groups: slot-limited spawning with result collection (the JoinSet /
 * TaskCollector pattern). At most `max_concurrency` members run at once;
 * further spawns wait in FIFO order for a free slot without blocking the
 * caller. Each member's end is recorded as a tr_group_result. */
#ifndef TROUPE_GROUP_H
#define TROUPE_GROUP_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_group tr_group;

/* How one member ended. */
typedef struct tr_group_result {
    tr_ref member;  /* the member's reference (now dead) */
    int status;     /* its exit reason: TR_OK for a normal stop, else the error */
    int64_t value;  /* what it set with tr_set_result (0 if nothing) */
    void *ptr;      /* what it set with tr_set_result_ptr (NULL if nothing): owned by
                     * the group until tr_group_take, valid until then or until
                     * tr_group_destroy (which frees what was not taken) */
} tr_group_result;

/* Creates a group allowing max_concurrency (>0) live members. If `notify` is
 * not TR_REF_NONE, every member's end is also sent to it as a
 * TR_MSG_GROUP_DONE message whose data is a tr_group_result. The caller owns
 * *out and frees it with tr_group_destroy. */
TR_API int tr_group_create(tr_system *sys, uint32_t max_concurrency, tr_ref notify,
                           tr_group **out);

/* Adds a member: spawns it now if a slot is free, else queues the spawn.
 * opts->parent is honoured (opts and its name are copied). `arg` is handed
 * to the member's init when it starts, so a queued spawn's arg must stay
 * valid until the member's init has taken it, or until the spawn is dropped
 * (tr_group_destroy, a cancelled token): a group whose members all take the
 * same long-lived arg, or args the group's owner frees after tr_group_wait,
 * is safe. Never blocks. Returns TR_OK, TR_EINVAL, TR_ENOMEM, TR_ECLOSED
 * (being destroyed) or TR_ECANCELLED (its token is cancelled). A queued
 * spawn that later fails is recorded as a result with that error as
 * status. */
TR_API int tr_group_spawn(tr_group *group, const tr_behaviour *beh, void *arg,
                          const tr_spawn_opts *opts);

/* Blocks the calling outside thread until every member added so far has
 * ended, or timeout_ms passes (negative = forever). Returns TR_OK,
 * TR_ETIMEDOUT or TR_ECONTEXT (on a worker thread). */
TR_API int tr_group_wait(tr_group *group, int timeout_ms);

/* Copies up to `max` results, in completion order, starting at index `from`.
 * Returns how many were copied. */
TR_API size_t tr_group_results(tr_group *group, size_t from, tr_group_result *out, size_t max);

/* Counts: members added, ended, and ended with a nonzero status. */
TR_API void tr_group_counts(tr_group *group, size_t *added, size_t *ended, size_t *failed);

/* From a member's callback: records the value reported in its result. */
TR_API void tr_set_result(tr_ctx *self, int64_t value);

/* From a member's callback: a result that does not fit in an int64. The
 * group takes `ptr` when the member ends (with free_fn, which frees it if
 * nobody takes it); setting another frees the previous one. An actor that
 * is not a group member frees it when it ends. */
TR_API void tr_set_result_ptr(tr_ctx *self, void *ptr, void (*free_fn)(void *));

/* Takes the pointer of result `index` (completion order, as
 * tr_group_results): the caller now owns it and frees it. NULL when there is
 * none or it was taken. */
TR_API void *tr_group_take(tr_group *group, size_t index);

/* Binds the group to `tok` (one token per group; a reference is kept until
 * tr_group_destroy): every member, running or started later, is bound to it,
 * so cancelling it stops them with TR_ECANCELLED, and the spawns still
 * queued then are dropped, each recorded (and notified) as a result with
 * status TR_ECANCELLED; later tr_group_spawn calls return TR_ECANCELLED.
 * Returns TR_OK, TR_EINVAL or TR_EEXIST (already bound). */
typedef struct tr_token tr_token;
TR_API int tr_group_bind(tr_group *group, tr_token *tok);

/* Kills members still running, drops queued spawns and frees the group
 * (result pointers not taken included). From an outside thread it waits for
 * the members to end first; from an actor (the group's owner, say) it
 * returns at once and the group is freed when its last member has ended:
 * it must not be used after this call either way. NULL is ignored. */
TR_API void tr_group_destroy(tr_group *group);

#ifdef __cplusplus
}
#endif
#endif

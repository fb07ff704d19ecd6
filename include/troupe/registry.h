/* Names: find actors by name, locally or on another node ("node/name").
 * A name is released when its actor ends (lookups never return a dead
 * actor's reference) or with tr_unregister. */
#ifndef TROUPE_REGISTRY_H
#define TROUPE_REGISTRY_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_NAME_MAX 64 /* bytes including the NUL */

/* Registers `ref` (a local, live actor) under `name` ([^/]{1,63}, copied).
 * Returns TR_OK, TR_EINVAL (bad name, remote ref), TR_EDEAD, TR_EEXIST
 * (taken by a live actor) or TR_ENOMEM. */
TR_API int tr_register(tr_system *sys, const char *name, tr_ref ref);

/* Removes `name`. Returns TR_OK or TR_ENOTFOUND. */
TR_API int tr_unregister(tr_system *sys, const char *name);

/* Local lookup, never blocks (any thread, actors included). Returns TR_OK
 * (*out set), TR_ENOTFOUND or TR_EINVAL. */
TR_API int tr_whereis(tr_system *sys, const char *name, tr_ref *out);

/* Looks up "name" locally or "node/name" on a connected node, waiting up to
 * timeout_ms for the remote answer. Outside threads only (TR_ECONTEXT on a
 * worker: actors use tr_lookup_async). Returns TR_OK, TR_ENOTFOUND,
 * TR_ENOTCONN, TR_ETIMEDOUT or TR_EINVAL. */
TR_API int tr_lookup(tr_system *sys, const char *path, int timeout_ms, tr_ref *out);

/* tr_lookup that waits for the name to exist: while the node is not
 * connected (yet) or the name not registered (yet), it asks again, after
 * 10 ms, then 20, 40, up to every 100 ms, until timeout_ms (negative =
 * forever) has passed. For a program that dialled a node in the
 * background (tr_node_start_args --connect) and needs a service there
 * that may still be starting. Outside threads only. Returns TR_OK (*out
 * set), the last answer when the time is up (TR_ENOTCONN: the node never
 * came up; TR_ENOTFOUND: the name was never registered), TR_ETIMEDOUT
 * when no answer came in time at all (an ask to a slow node), TR_EINVAL
 * or TR_ECONTEXT. */
TR_API int tr_lookup_wait(tr_system *sys, const char *path, int timeout_ms, tr_ref *out);

/* From an actor: asks for "node/name" (or "name"). A TR_MSG_REPLY with
 * msg->corr == *corr follows (read it with tr_lookup_reply), or a
 * TR_MSG_ASK_TIMEOUT after timeout_ms. Returns TR_OK, TR_ENOTCONN,
 * TR_EINVAL or a send error. */
TR_API int tr_lookup_async(tr_ctx *self, const char *path, uint32_t timeout_ms, uint64_t *corr);

/* Reads the reply to tr_lookup_async. Returns TR_OK (*out set),
 * TR_ENOTFOUND, or TR_EPROTO when `reply` is not a lookup reply. */
TR_API int tr_lookup_reply(tr_system *sys, const tr_msg *reply, tr_ref *out);

/* Message type of lookups sent to a node's agent (runtime service range). */
#define TR_MSG_LOOKUP (TR_MSG_SERVICE + 0x100u)

#ifdef __cplusplus
}
#endif
#endif

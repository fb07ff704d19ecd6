/* Cancellation tokens: a tree of flags for plain actors (no supervisor
 * needed), in the spirit of Go's context and .NET's CancellationToken.
 *
 * Cancelling a token cancels it and its whole subtree, once: later cancels
 * do nothing. Actors bound to a cancelled token (or to any token below it)
 * stop gracefully with exit reason TR_ECANCELLED: their children stop first,
 * queued messages are handled, terminate runs once. Watchers get one
 * TR_MSG_CANCELLED message instead and decide for themselves.
 *
 * Ownership: tr_token_create returns a token holding one reference, owned by
 * the caller. tr_token_retain adds a reference, tr_token_destroy drops one;
 * the token is freed when the last is dropped. A child token holds a
 * reference on its parent, so a parent may be destroyed before its children.
 * Destroying does not cancel: bound actors simply stay running. A token must
 * not be cancelled after its system is destroyed (create and cancel belong
 * to the system's lifetime; destroying afterwards is fine). All functions
 * may be called from any thread, including actor callbacks. */
#ifndef TROUPE_TOKEN_H
#define TROUPE_TOKEN_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_token tr_token;

/* Creates a token, a child of `parent` (or a root when parent is NULL). A
 * child of a cancelled parent is born cancelled. On TR_OK *out holds one
 * reference owned by the caller. Returns TR_OK, TR_EINVAL or TR_ENOMEM. */
TR_API int tr_token_create(tr_system *sys, tr_token *parent, tr_token **out);

/* Cancels `tok` and every token below it: bound actors are stopped with
 * TR_ECANCELLED, watchers get TR_MSG_CANCELLED. Idempotent; never blocks on
 * the actors (they end asynchronously: use tr_await_exit or monitors).
 * NULL is ignored. */
TR_API void tr_token_cancel(tr_token *tok);

/* True once `tok` (or an ancestor, through it) has been cancelled. */
TR_API bool tr_token_is_cancelled(const tr_token *tok);

/* Adds a reference to `tok` (released with tr_token_destroy). Returns tok. */
TR_API tr_token *tr_token_retain(tr_token *tok);

/* Drops one reference; the last one frees the token. NULL is ignored. */
TR_API void tr_token_destroy(tr_token *tok);

/* Binds `actor` to `tok`: when tok or an ancestor is cancelled, the actor is
 * stopped with TR_ECANCELLED. Binding to a cancelled token stops it at once.
 * An actor may be bound to several tokens. Returns TR_OK, TR_EINVAL,
 * TR_ENOMEM, or TR_EDEAD when the actor has already ended. */
TR_API int tr_token_bind(tr_token *tok, tr_ref actor);

/* Makes `actor` receive one TR_MSG_CANCELLED when `tok` (or an ancestor) is
 * cancelled, instead of being stopped; its data is the tr_token * that was
 * watched (an identity to compare, not to dereference: it may be destroyed
 * by then). Sent at once if already cancelled. Returns as tr_token_bind. */
TR_API int tr_token_watch(tr_token *tok, tr_ref actor);

#ifdef __cplusplus
}
#endif
#endif

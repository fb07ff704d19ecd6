/* Request/reply bookkeeping.
 *
 * Asker side: each actor keeps its pending asks (correlation id, timeout
 * timer, and for a remote callee a monitor) so that exactly one of reply or
 * failure reaches it.
 *
 * Callee side, so that an ask fails at once when its callee ends (what
 * gen_server:call's monitor gives Erlang), without a monitor per ask: an ask
 * that is handled without a reply is remembered as owed (a few asks a
 * callee answers later); when the callee ends, each owed ask, and each ask
 * still queued or arriving too late, is answered with TR_MSG_ASK_FAILED
 * carrying the callee's exit reason. A remote callee whose node goes down
 * is covered by the asker's monitor. */
#ifndef TROUPE_ACTORS_ASK_H
#define TROUPE_ACTORS_ASK_H

#include <stdbool.h>

#include "actors/actor_impl.h"
#include "ds/vec.h"

/* An ask this actor sent and waits for. */
typedef struct tr_pending_ask {
    uint64_t corr;
    uint64_t timer;
    uint64_t monitor; /* of a remote callee (its node may go down); 0 = none */
    tr_ref callee;
} tr_pending_ask;

/* An ask this actor handled without replying yet. */
typedef struct tr_owed_ask {
    tr_ref asker;
    uint64_t corr;
} tr_owed_ask;

/* The asks part of an actor's extension (actors/ext.h). Owner thread only. */
typedef struct tr_ask_ext {
    TR_VEC(tr_pending_ask) pending;
    TR_VEC(tr_owed_ask) owed; /* asks handled, not yet replied to */
    uint64_t next_corr;
    uint32_t nmonitored; /* pending asks holding a monitor */
    uint32_t owed_next;
} tr_ask_ext;

/* Frees what a tr_ask_ext holds (its extension is being freed). */
void tr_ask_ext_fini(void *part);

/* Filters a message before handle() (the caller may skip it for types
 * above TR_MSG_DOWN): replies and failures are matched with
 * a pending ask (which they complete); a DOWN of an ask's monitor becomes
 * that ask's failure. Returns the node to hand to handle() (m, or a node
 * that replaced it, m then freed), or NULL when the message is consumed (a
 * late or unknown reply, recorded as a dead letter). Owner only. */
tr_mnode *tr_ask_accept(struct tr_actor *a, tr_mnode *m);

/* True for an ask: a user message carrying a correlation id and a sender. */
static inline bool tr_msg_is_ask(const tr_msg *msg)
{
    return msg->corr != 0 && msg->type >= TR_MSG_USER && !tr_ref_is_none(msg->sender);
}

/* The reply from *from to `request`, a copy of data[0..size), in *out for
 * the caller to deliver (tr_reply, tr_inbox_reply). Returns TR_OK,
 * TR_EINVAL when request is NULL or not an ask (or data is NULL with a
 * size), TR_ENOMEM. Inline: every reply passes here. */
static inline int tr_reply_node(const tr_ref *from, const tr_msg *request, const void *data, size_t size,
                                tr_mnode **out)
{
    if (request == NULL || request->corr == 0 || tr_ref_is_none(request->sender) ||
        request->type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_mnode *n = tr_mnode_copy(TR_MSG_REPLY, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    n->msg.sender = *from; /* read after the copy, as the caller would */
    n->msg.corr = request->corr;
    *out = n;
    return TR_OK;
}

/* The ask being handled on this thread, until replied to (corr 0: none). */
typedef struct tr_open_ask {
    uint64_t corr;
    uint64_t sender;
} tr_open_ask;
extern _Thread_local tr_open_ask tr_tls_open_ask;

/* Around handle(msg) of an ask (a user message with a correlation id):
 * after it, an ask not replied to during the call is remembered as owed by
 * `a`. Owner only. Inline: every ask a callee handles passes here. */
void tr_ask_owe(struct tr_actor *a, const tr_msg *msg);
static inline void tr_ask_handling(const tr_msg *msg)
{
    tr_tls_open_ask = (tr_open_ask){.corr = msg->corr, .sender = msg->sender.id};
}
static inline void tr_ask_handled(struct tr_actor *a, const tr_msg *msg)
{
    if (__builtin_expect(tr_tls_open_ask.corr != 0, 0))
        tr_ask_owe(a, msg);
}

/* Ask `msg`, addressed to `callee`, will never be handled: its asker gets
 * TR_MSG_ASK_FAILED with `reason` (TR_OK is sent as TR_EDEAD). Nothing for
 * other messages. Any thread. */
void tr_ask_lost(tr_system *sys, tr_ref callee, const tr_msg *msg, int reason);

/* The actor is ending: cancels its own pending asks (timers, monitors).
 * Owner only. */
void tr_ask_cancel_all(struct tr_actor *a);

/* The actor has ended with `reason`: its owed asks fail with it. Call after
 * its DOWNs are sent, so that a watcher (its supervisor) hears of the end
 * before its askers do. Owner only. */
void tr_ask_fail_owed(struct tr_actor *a, int reason);

#endif

/* Process groups across the nodes of a cluster (Erlang's pg): an actor
 * joins a named group on its own node, and every node connected to that
 * one sees it among the group's members. Not to be confused with spawn
 * groups (group.h), which limit and collect local spawns.
 *
 *   tr_pg_join(sys, "room:#lobby", tr_self(self));        any thread or actor
 *   tr_ref m[64]; size_t n;
 *   tr_pg_members(sys, "room:#lobby", m, 64, &n);         local and remote refs
 *   for (size_t i = 0; i < n && i < 64; i++) tr_send(self, m[i], MSG_LINE, ...);
 *
 * Semantics, as pg's:
 *  - Only an actor of this node can be joined here; it may join a group
 *    several times (then it is a member that many times, and each
 *    tr_pg_leave removes one) and any number of groups.
 *  - A member that ends is removed from its groups on every node.
 *  - Members of a node that goes down (connection lost, silence, stop) are
 *    removed from every other node's view at once; when it is up again its
 *    members come back (each node sends its whole local membership to a
 *    peer whenever their session starts, then every change as it happens).
 *  - Views are eventually consistent: a join is visible here when
 *    tr_pg_join returns and on a peer once the change has crossed the
 *    connection (changes from one node arrive in the order they were made).
 *  - Groups need no creation: a group exists while it has members.
 *
 * Subscriptions (pg's monitor/monitor_scope): tr_pg_monitor makes a local
 * actor receive TR_MSG_PG_JOINED and TR_MSG_PG_LEFT (data: tr_pg_event)
 * for one group or every group. These pass the subscriber's mailbox bound
 * (like TR_MSG_DOWN) and arrive in the order the changes were applied here.
 *
 * Every call needs a running node on `sys` (node.h): without one they
 * return TR_ENOTCONN. Wire messages and their checks: docs/wire.md ("Process
 * groups"). */
#ifndef TROUPE_PG_H
#define TROUPE_PG_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_PG_NAME_MAX 255 /* bytes of a group name (any bytes but NUL), at least 1 */

#define TR_MSG_PG_JOINED (TR_MSG_SERVICE + 0x500u) /* data: tr_pg_event */
#define TR_MSG_PG_LEFT (TR_MSG_SERVICE + 0x501u)   /* data: tr_pg_event */

/* The payload of TR_MSG_PG_JOINED and TR_MSG_PG_LEFT: `count` members of
 * `group` joined or left (a member joined twice is listed twice). The
 * first message of a subscription to one group is a JOINED listing its
 * members at that moment (count may be 0); a subscription to every group
 * starts with one JOINED per group that has members. */
typedef struct tr_pg_event {
    uint64_t monitor;                  /* the id tr_pg_monitor returned */
    int reason;                        /* LEFT: TR_OK (tr_pg_leave), the member's exit
                                        * reason when it ended (TR_OK for a normal stop),
                                        * or TR_ENODEDOWN (its node went down); JOINED: 0 */
    uint32_t count;                    /* entries in members */
    char group[TR_PG_NAME_MAX + 1];    /* NUL-terminated */
    tr_ref members[];                  /* local or remote references */
} tr_pg_event;

/* Adds `member` (an actor of this node) to `group` once more. It leaves by
 * tr_pg_leave or when it ends. Any thread, never blocks. Returns TR_OK,
 * TR_EINVAL (bad group name, a remote or empty reference), TR_EDEAD (the
 * actor has ended), TR_ENOMEM or TR_ENOTCONN (no node runs). */
TR_API int tr_pg_join(tr_system *sys, const char *group, tr_ref member);

/* Removes one of `member`'s joins of `group`. Returns TR_OK, TR_ENOTFOUND
 * (it is not a member), TR_EINVAL or TR_ENOTCONN. */
TR_API int tr_pg_leave(tr_system *sys, const char *group, tr_ref member);

/* Copies the members of `group` on every node this node sees up (its own
 * first) to out[0..cap) and writes their number to *count (a member joined
 * twice counts twice). Returns TR_OK, TR_ETOOBIG when *count > cap (out
 * holds the first cap), TR_EINVAL or TR_ENOTCONN. An unknown group has no
 * members (TR_OK, *count 0). */
TR_API int tr_pg_members(tr_system *sys, const char *group, tr_ref *out, size_t cap, size_t *count);

/* The same for the members on this node only (pg's get_local_members). */
TR_API int tr_pg_local_members(tr_system *sys, const char *group, tr_ref *out, size_t cap,
                               size_t *count);

/* Copies the names of the groups that have members (on this node or a
 * peer up) to names[0..cap) and writes their number to *count (pg's
 * which_groups). Returns TR_OK, TR_ETOOBIG when *count > cap (names holds
 * cap of them), TR_EINVAL or TR_ENOTCONN. */
TR_API int tr_pg_which_groups(tr_system *sys, char (*names)[TR_PG_NAME_MAX + 1], size_t cap, size_t *count);

/* Subscribes local actor `subscriber` to the changes of `group` (NULL: of
 * every group) until it ends or tr_pg_demonitor(*id). Its first message(s)
 * describe the members at that moment (tr_pg_event). Writes the
 * subscription's id to *id (may be NULL). Returns TR_OK, TR_EINVAL, TR_EDEAD,
 * TR_ENOMEM or TR_ENOTCONN. */
TR_API int tr_pg_monitor(tr_system *sys, const char *group, tr_ref subscriber, uint64_t *id);

/* Ends a subscription. Returns TR_OK, TR_ENOTFOUND or TR_ENOTCONN. */
TR_API int tr_pg_demonitor(tr_system *sys, uint64_t id);

#ifdef __cplusplus
}
#endif
#endif

/* The seam between the runtime and the node (net/): references whose node
 * bits are set are handed to the node through these hooks. Without a
 * running node such references are unreachable (TR_ENOTCONN).
 *
 * It is also the one runtime header net/ includes (besides the public
 * ones): what the node calls in the runtime is declared here or in the
 * headers included below, and nothing else is its to use:
 *   tr_deliver (actors/send.h): delivery of what a peer sent;
 *   tr_dead_letter_record (actors/dead_letters.h): what it cannot deliver;
 *   tr_sched_current_worker (actors/sched.h): whether a call runs on a worker;
 *   tr_deadline_after, tr_cond_wait_until (actors/clock.h): timed waits;
 *   tr_mnode_copy, tr_mnode_move, tr_mnode_free (mailbox/msg.h): messages. */
#ifndef TROUPE_ACTORS_REMOTE_H
#define TROUPE_ACTORS_REMOTE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "actors/actor_impl.h"
#include "actors/clock.h"
#include "actors/dead_letters.h"
#include "actors/sched.h"
#include "actors/send.h"
#include "mailbox/msg.h"

struct tr_worker;

typedef struct tr_remote_ops {
    /* Takes node `n` for remote `to` in every case; returns as tr_deliver.
     * n's payload may be borrowed from the sender (free_fn NULL: tr_send,
     * tr_post): it is packed or copied before the hook returns, never kept. */
    int (*deliver)(void *node, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
                   int timeout_ms);
    /* Starts monitor `id` of remote `target` for local `watcher`; the node
     * sends exactly one TR_MSG_DOWN later. */
    void (*monitor)(void *node, tr_ref watcher, tr_ref target, uint64_t id);
    /* Removes monitor `id` if it has not fired: TR_OK or TR_ENOTFOUND. */
    int (*demonitor)(void *node, tr_ref target, uint64_t id);
    /* The agent actor of peer `node_name` (answers name lookups), or
     * TR_ENOTCONN; TR_ENOTFOUND-free: a known peer always has one. */
    int (*peer_agent)(void *node, const char *node_name, tr_ref *out);
    /* This node's name. */
    const char *(*name)(void *node);
    /* Writes what peer `peer` has queued, unless a write is in flight
     * (the end of a turn that deferred it: tr_remote_flush_later). */
    void (*flush)(void *node, uint32_t peer);
    /* Worker `token` waits for an answer from peer `peer`: the worker
     * reads that peer's connection itself (poll) until it unwatches, so
     * the answer costs no hand-off between NNG's threads. Returns the
     * watch, or NULL (no tcp/ipc connection up to the peer, or another
     * worker watches it). A worker holds at most one. */
    void *(*watch)(void *node, uint32_t peer, const void *token);
    /* Reads what arrived on the watched connection, if anything, and
     * delivers it on the calling worker: 1 delivered, 0 nothing yet, -1
     * the watch is over (released: do not unwatch it). */
    int (*poll)(void *node, void *watch, const void *token);
    /* Ends the watch (the connection is read by NNG's callback again). */
    void (*unwatch)(void *node, void *watch, const void *token);
    /* Stops and frees the node (tr_node_stop): tr_system_destroy calls it
     * for a node still attached. */
    void (*stop)(void *node);
} tr_remote_ops;

/* The runtime's side of the seam (tr_system.remote). */
typedef struct tr_remote_seam {
    pthread_mutex_t lock; /* serialises attach and detach */
    _Atomic(void *) node; /* NULL: no node */
    const tr_remote_ops *ops;
    _Atomic uint32_t users; /* threads inside a hook: detach waits for 0 */
    _Atomic uint64_t epoch; /* attachments so far: a watch is of the node attached in its epoch */
} tr_remote_seam;

/* Installs (node != NULL) or removes the node. Removing waits until no
 * thread is inside a hook. Returns TR_OK, or TR_EINVAL if one is installed. */
int tr_remote_attach(tr_system *sys, const tr_remote_ops *ops, void *node);
void tr_remote_detach(tr_system *sys);

/* Called by the node when a send queued for peer `peer` could be written
 * now: on a worker of `sys` the write waits for the end of the running
 * turn (the worker then calls ops->flush), so the turn's remote sends
 * leave in one frame and the worker writes it itself, Erlang's way.
 * Returns false (the caller writes now) off a worker of `sys`, or when
 * the worker already defers TR_WORKER_FLUSH_MAX other peers. */
bool tr_remote_flush_later(tr_system *sys, uint32_t peer);

/* Worker threads, at the end of a turn and before parking: writes what
 * the turn deferred (tr_remote_flush_later). */
void tr_remote_turn_end(struct tr_worker *w);

/* Watching the connection of the peer the worker wrote to last
 * (tr_remote_ops watch): tr_remote_watch starts it (ending a watch of
 * another peer), tr_remote_poll reads what arrived (true: work was
 * delivered, to this worker's queue), tr_remote_unwatch ends it. A watch
 * of a node detached since is forgotten without being touched. Worker
 * threads only, each on its own tr_worker. */
void tr_remote_watch(struct tr_worker *w);
bool tr_remote_poll(struct tr_worker *w);
void tr_remote_unwatch(struct tr_worker *w);

/* The node attached to `sys`, or NULL. */
void *tr_remote_node(tr_system *sys);

/* Stops the node still attached to `sys`, if any (tr_system_destroy). */
void tr_remote_stop(tr_system *sys);

/* The attached node, held for a call outside the hooks (process groups):
 * tr_remote_detach waits until tr_remote_leave. NULL when none is attached
 * (then do not call tr_remote_leave). */
void *tr_remote_enter(tr_system *sys);
void tr_remote_leave(tr_system *sys);

/* Routing for remote references (called by tr_deliver, tr_monitor...). */
int tr_remote_deliver(tr_system *sys, struct tr_actor *sender, tr_ref to, tr_mnode *n, bool forced,
                      int timeout_ms);
void tr_remote_monitor(tr_system *sys, tr_ref watcher, tr_ref target, uint64_t id);
int tr_remote_demonitor(tr_system *sys, tr_ref target, uint64_t id);

/* The agent of peer `node_name`: TR_OK, TR_ENOTCONN (no node or unknown
 * peer), or TR_ENOTFOUND when node_name is this node's own name. */
int tr_remote_peer_agent(tr_system *sys, const char *node_name, tr_ref *out);

/* Backpressure on something that is not an actor (a peer's send queue):
 * tr_actor_mute makes `sender` stop being scheduled after its current turn
 * and returns true, or returns false when it must not be muted (it is under
 * pressure itself, or stopping); each true is undone by one tr_actor_unmute. */
bool tr_actor_mute(struct tr_actor *sender);
void tr_actor_unmute(tr_system *sys, tr_ref sender);

/* True when local actor `to` exists and its overflow policy is
 * TR_OVERFLOW_BACKPRESSURE: a frame for it that met a full mailbox waits
 * (the receive stalls) instead of becoming a dead letter. */
bool tr_actor_backpressures(tr_system *sys, tr_ref to);

/* Sends one TR_MSG_DOWN to local `watcher` (actors/monitor.c): the node
 * reports remote monitors through it. */
void tr_monitor_send_down(tr_system *sys, tr_ref watcher, tr_ref dead, uint64_t id, int reason);

#endif

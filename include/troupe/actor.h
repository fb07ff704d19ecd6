/* Troupe actors: the runtime, spawning, messages, ask/reply and lifecycle.
 *
 * Ownership rules in one place:
 *  - tr_system is created by tr_system_create and owned by the caller until
 *    tr_system_destroy.
 *  - An actor's state (behaviour.state_size bytes, zeroed) is owned by the
 *    runtime and freed after terminate() returns.
 *  - tr_send/tr_post copy the payload; tr_send_move/tr_post_move take the
 *    buffer and always free it with the given function, whether or not the
 *    message is delivered.
 *  - A tr_msg passed to handle() and its data live until handle() returns.
 *  - tr_ref is a plain value: copy it freely, it never dangles.
 */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/errors.h"
#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_system tr_system;
/* The running actor, handed to every behaviour callback. Valid only inside it. */
typedef struct tr_actor tr_ctx;

/* A reference to an actor: node, generation and slot index. A reference to
 * a dead actor stays safe to use; operations on it return TR_EDEAD. Layout
 * of id: bits 52..63 node (0 = this node, else a peer, see node.h), bits
 * 25..51 generation, bits 0..24 slot index + 1. */
typedef struct tr_ref {
    uint64_t id; /* 0 means "no actor" */
} tr_ref;

#define TR_REF_NODE_SHIFT 52
/* The node part of a reference: 0 for actors of this system. */
static inline uint32_t tr_ref_node(tr_ref r) { return (uint32_t)(r.id >> TR_REF_NODE_SHIFT); }
/* True for a reference to an actor on another node. */
static inline bool tr_ref_is_remote(tr_ref r) { return tr_ref_node(r) != 0; }

/* Writes `ref` as "<node.slot.generation>" (Erlang's pid style; node 0 is
 * this node) into buf, NUL-terminated and cut to len. Returns buf. */
TR_API char *tr_ref_format(tr_ref ref, char *buf, size_t len);
#define TR_REF_FORMAT_MAX 32 /* room for any formatted reference */

#define TR_REF_NONE ((tr_ref){0})
static inline bool tr_ref_is_none(tr_ref r) { return r.id == 0; }
static inline bool tr_ref_equal(tr_ref a, tr_ref b) { return a.id == b.id; }

/* Message types below TR_MSG_USER are reserved for the runtime. */
enum {
    TR_MSG_REPLY = 1,        /* reply to tr_ask; msg->corr matches the ask */
    TR_MSG_ASK_FAILED = 2,   /* tr_ask ended without a reply (timeout, the callee ended or
                              * its node went down); msg->corr matches; tr_ask_failure says why */
    TR_MSG_ASK_TIMEOUT = TR_MSG_ASK_FAILED, /* its former name */
    TR_MSG_GROUP_DONE = 3,   /* a spawn-group member ended; data is a tr_group_result */
    TR_MSG_DOWN = 4,         /* a monitored actor ended; data is a tr_down (monitor.h) */
    TR_MSG_DEAD_LETTER = 5,  /* to the dead-letter watcher; data is a tr_dead_letter (metrics.h) */
    TR_MSG_EXIT = 6,         /* a linked actor ended and we trap exits; data is a tr_exit_signal (link.h) */
    TR_MSG_CANCELLED = 7,    /* a watched token was cancelled; data is the tr_token * (token.h) */
    TR_MSG_USER = 256,       /* first type tag free for applications */
    TR_MSG_SERVICE = 0xffff0000u, /* tags from here up are used by runtime services
                                   * (supervisors): applications use 256..0xfffeffff */
    TR_MSG_INSPECT = 0xffffff00u  /* an inspection request, answered by the runtime (tr_inspect) */
};

/* A received message. Read-only; valid until handle() returns. */
typedef struct tr_msg {
    uint32_t type;     /* type tag chosen by the sender */
    tr_ref sender;     /* TR_REF_NONE when posted from outside any actor */
    uint64_t corr;     /* correlation id of an ask, its reply or timeout; else 0 */
    const void *data;  /* payload bytes (NULL when size is 0) */
    size_t size;
} tr_msg;

/* What an actor does. The struct must outlive every actor spawned from it
 * (normally it is a static const). handle is required, the rest optional. */
typedef struct tr_behaviour {
    /* Runs first, on a worker, before any message. Nonzero = the actor fails
     * with that reason (terminate still runs). `arg` is tr_spawn's arg. */
    int (*init)(tr_ctx *self, void *state, void *arg);
    /* Handles one message. Return 0, or a nonzero reason to fail the actor. */
    int (*handle)(tr_ctx *self, void *state, const tr_msg *msg);
    /* Runs exactly once when the actor ends, with the exit reason (TR_OK for
     * a normal stop). Release what the state owns here. */
    void (*terminate)(tr_ctx *self, void *state, int reason);
    size_t state_size; /* bytes of zeroed state allocated with the actor */
    /* Optional. Set it to stop your own children on a graceful stop (e.g. in
     * reverse start order, as supervisors do): the runtime then does not
     * signal them, calls stopping() once, and ends the actor when its
     * children are gone and its mailbox is drained. Kills and failures still
     * stop every child at once. */
    void (*stopping)(tr_ctx *self, void *state);
    /* Optional: a name for the behaviour, shown in crash reports. */
    const char *name;
    /* Typed messages (typed.h): the route table tr_route_handle reads, set
     * with TR_ROUTES(table). */
    const struct tr_route *routes;
    size_t nroutes;
    /* Optional, for debugging (OTP's format_status): writes a readable
     * description of the state to buf (cap bytes; the runtime truncates and
     * NUL-terminates) and returns the length it wanted to write, as
     * snprintf does. Runs on the actor's worker between two messages when
     * someone calls tr_inspect; it must not change the state. */
    size_t (*inspect)(tr_ctx *self, void *state, char *buf, size_t cap);
} tr_behaviour;

/* What a sender experiences when a mailbox is full. */
typedef enum tr_overflow {
    /* Default. A sending actor's message is kept and the sender is muted (not
     * scheduled) until the receiver drains below its low watermark; a sender
     * whose own mailbox is full is never muted, so floods cannot deadlock.
     * An outside thread blocks in tr_post up to its timeout. */
    TR_OVERFLOW_BACKPRESSURE = 0,
    TR_OVERFLOW_FAIL = 1, /* the send returns TR_EFULL, nothing is queued */
    TR_OVERFLOW_DROP = 2  /* the message becomes a counted dead letter; send returns TR_OK */
} tr_overflow;

/* Per-actor spawn options. Zero-initialise and set what you need. */
typedef struct tr_spawn_opts {
    uint32_t mailbox_capacity;  /* 0 = the system default (1024) */
    uint32_t low_watermark;     /* muted senders resume at or below this; 0 = capacity/2 */
    tr_overflow overflow;       /* TR_OVERFLOW_BACKPRESSURE by default */
    const char *name;           /* optional, copied; shown by tr_actor_name */
    tr_ref parent;              /* TR_REF_NONE = top level (stopped by system shutdown) */
    uint32_t drain_timeout_ms;  /* graceful-stop deadline; 0 = 5000 ms */
    /* Per-message watchdog; 0 = none. A handle() call running longer than
     * this is logged (log.h: TR_LOG_WARN, one line naming the actor and the elapsed
     * time) and counted (tr_metrics.deadline_overruns); once it returns,
     * the actor fails with TR_EDEADLINE, so a supervisor restarts it with
     * fresh state. C code cannot be preempted: a handler that never returns
     * keeps its worker forever, the watchdog only makes that visible. Costs
     * one timer arm and cancel per message. */
    uint32_t handler_deadline_ms;
    /* Run this actor's callbacks on the blocking pool (blocking.h) instead
     * of a worker: they may block (file I/O, a database client). Everything
     * else is as for any actor. */
    bool blocking;
} tr_spawn_opts;

/* Runtime configuration. Zero-initialise and set what you need. */
typedef struct tr_config {
    uint32_t workers;             /* worker threads; 0 = number of online cores */
    uint32_t batch;               /* messages per actor turn before yielding; 0 = 64 */
    uint32_t mailbox_capacity;    /* default mailbox bound; 0 = 1024 */
    uint32_t shutdown_timeout_ms; /* drain deadline used by tr_system_destroy; 0 = 5000 */
    /* A failing actor logs one crash report (log.h, TR_LOG_ERROR, subsystem
     * "crash"): its name and reference, behaviour, the message it was
     * handling and the reason; its supervisor logs what it does about it
     * (subsystem "supervisor"). true turns both off for this system. */
    bool quiet_crashes;
    /* Serve this system's /metrics and dashboard on this URL from creation
     * to destruction (observe.h: tr_observe_start without a node), e.g.
     * "http://127.0.0.1:9464"; copied. NULL = the environment variable
     * TROUPE_OBSERVE if set (a failure to serve it is then only logged),
     * else off. A bad or busy URL given here fails tr_system_create with
     * TR_EADDR. */
    const char *observe_url;
    uint32_t blocking_threads_max;   /* blocking pool bound (blocking.h); 0 = 512 */
    uint32_t blocking_keep_alive_ms; /* an idle blocking thread exits after this; 0 = 10000 */
} tr_config;

/* Lifecycle of an actor, as seen from outside. */
typedef enum tr_actor_state {
    TR_STATE_CREATED = 0,  /* spawned, init has not run yet */
    TR_STATE_RUNNING = 1,  /* a callback is executing on a worker right now */
    TR_STATE_WAITING = 2,  /* alive, idle or queued, or muted by backpressure */
    TR_STATE_STOPPING = 3, /* stop requested: children stopping, mailbox draining */
    TR_STATE_DEAD = 4      /* terminated; its reference is stale */
} tr_actor_state;

/* ---- system ---- */

/* Creates a runtime and starts its worker and timer threads. `cfg` may be
 * NULL for defaults. On success *out owns the system. Returns TR_OK,
 * TR_EINVAL or TR_ENOMEM. */
TR_API int tr_system_create(const tr_config *cfg, tr_system **out);

/* Graceful shutdown, then frees the system: stops its node if one still
 * runs (tr_node_stop: peers see it go down), destroys the inboxes still
 * open (tr_inbox_destroy: no thread may be using them any more), stops
 * every actor (children before parents) giving each the shutdown drain
 * deadline, waits for all workers and the timer thread to exit, frees all
 * memory. Must not be called from an actor. NULL is ignored. */
TR_API void tr_system_destroy(tr_system *sys);

/* Number of worker threads the system runs. */
TR_API uint32_t tr_system_workers(const tr_system *sys);

/* ---- actors ---- */

/* Spawns an actor running `beh`; init(arg) runs first on a worker. `opts`
 * may be NULL. `arg` stays owned by the caller (init may take it over).
 * Writes the new reference to *out (may be NULL). Returns TR_OK, TR_EINVAL,
 * TR_ENOMEM, TR_ECLOSED (system shutting down), or TR_EDEAD/TR_ESTOPPING
 * when the requested parent is gone or stopping. */
TR_API int tr_spawn(tr_system *sys, const tr_behaviour *beh, void *arg,
                    const tr_spawn_opts *opts, tr_ref *out);

/* The calling actor's own reference. */
TR_API tr_ref tr_self(const tr_ctx *self);
/* The behaviour the calling actor runs. */
TR_API const tr_behaviour *tr_ctx_behaviour(const tr_ctx *self);
/* The system the calling actor runs in. */
TR_API tr_system *tr_ctx_system(const tr_ctx *self);

/* Requests a graceful stop: children stop first (deepest first), the actor
 * then handles what is already in its mailbox and ends with TR_ESHUTDOWN.
 * While it drains, new messages are refused with TR_ESTOPPING; one with
 * nothing left to drain ends at once, and a message that reaches it while
 * its terminate runs becomes a dead letter. If the drain deadline passes,
 * the subtree is killed. Returns TR_OK or TR_EDEAD. Never blocks. */
TR_API int tr_stop(tr_system *sys, tr_ref ref);

/* Kills an actor and its subtree: pending messages become dead letters,
 * terminate runs with TR_EKILLED. Returns TR_OK or TR_EDEAD. Never blocks. */
TR_API int tr_kill(tr_system *sys, tr_ref ref);

/* Called from a callback: the actor stops normally (reason TR_OK) after the
 * current callback returns, handling its queued messages first. */
TR_API void tr_stop_self(tr_ctx *self);

/* Called from a callback: the actor fails with `reason` (nonzero) once the
 * callback returns, exactly as if the callback had returned it. */
TR_API void tr_fail(tr_ctx *self, int reason);

/* Current lifecycle state of `ref`; TR_STATE_DEAD for stale references. */
TR_API tr_actor_state tr_actor_state_of(tr_system *sys, tr_ref ref);

/* Copies the actor's name (or "") into buf, NUL-terminated. Returns TR_OK,
 * TR_EDEAD or TR_EINVAL. */
TR_API int tr_actor_name(tr_system *sys, tr_ref ref, char *buf, size_t len);

/* Blocks the calling outside thread until `ref` is dead or timeout_ms passes
 * (negative = forever). Writes the exit reason to *reason when known (it is
 * TR_EDEAD when the actor ended so long ago that its reason is no
 * longer remembered; the last ends per slot are kept). Returns TR_OK,
 * TR_ETIMEDOUT, or TR_ECONTEXT when called on a worker thread. */
TR_API int tr_await_exit(tr_system *sys, tr_ref ref, int timeout_ms, int *reason);

/* ---- messages ---- */

/* From a callback: sends a copy of data[0..size) to `to` with tag `type`.
 * Never blocks. Returns TR_OK, TR_EDEAD (counted as a dead letter),
 * TR_ESTOPPING, TR_EFULL (fail-fast receiver), TR_EINVAL or TR_ENOMEM.
 * Against a full backpressure mailbox it returns TR_OK, keeps the message and
 * mutes the caller after this callback. */
TR_API int tr_send(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size);

/* As tr_send, but moves `buf` into the message instead of copying it.
 * Ownership passes to Troupe in every case: free_fn(buf) runs once the
 * message is handled or dropped, or before an error is returned. */
TR_API int tr_send_move(tr_ctx *self, tr_ref to, uint32_t type, void *buf, size_t size,
                        void (*free_fn)(void *));

/* From an outside (non-actor) thread: sends a copy of the payload. Against a
 * full backpressure mailbox it waits up to timeout_ms (negative = forever,
 * 0 = do not wait) for room, then returns TR_EFULL. On a worker thread it
 * never waits. Other returns as tr_send, plus TR_ECLOSED. */
TR_API int tr_post(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                   int timeout_ms);

/* As tr_post, moving `buf` (freed by Troupe in every case, see tr_send_move). */
TR_API int tr_post_move(tr_system *sys, tr_ref to, uint32_t type, void *buf, size_t size,
                        void (*free_fn)(void *), int timeout_ms);

/* Inside handle(): takes ownership of a moved payload's buffer so it outlives
 * the message. Returns the buffer (the caller must free it with the function
 * the sender gave, normally free) or NULL when the payload was copied. */
TR_API void *tr_msg_take(const tr_msg *msg);

/* ---- request / reply ---- */

/* From a callback: sends a request and returns at once. Exactly one of two
 * messages later reaches the caller with msg->corr == *corr: TR_MSG_REPLY
 * carrying the reply, or TR_MSG_ASK_FAILED, whose reason (tr_ask_failure)
 * is TR_ETIMEDOUT after timeout_ms, or, at once, the callee's exit reason
 * when it ends before replying (TR_EDEAD for a normal end), TR_ENODEDOWN
 * when a remote callee's node goes down, TR_EDROPPED when a drop-policy
 * mailbox discards the ask (gen_server:call's monitor, see actors/ask.h).
 * A reply that comes after the failure is discarded and counted as a dead
 * letter. Returns as tr_send (TR_EDEAD: the callee is already dead). */
TR_API int tr_ask(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size,
                  uint32_t timeout_ms, uint64_t *corr);

/* The reason of a TR_MSG_ASK_FAILED message (see tr_ask); TR_EINVAL for any
 * other message. */
TR_API int tr_ask_failure(const tr_msg *msg);

/* From handle(): replies to `request` (a message sent with tr_ask). The reply
 * is copied. Returns TR_OK, TR_EINVAL when the request was not an ask, or
 * TR_EDEAD when the asker is gone (counted as a dead letter). */
TR_API int tr_reply(tr_ctx *self, const tr_msg *request, const void *data, size_t size);

/* From an outside thread: asks and blocks until the reply or timeout_ms.
 * On TR_OK *reply (malloc'd, caller frees with free) and *reply_size hold the
 * reply. Returns TR_OK, TR_ETIMEDOUT, the callee's exit reason when it ends
 * before replying (as tr_ask), TR_ECONTEXT on a worker thread, or a send
 * error (TR_EDEAD: the callee is already dead). */
TR_API int tr_ask_wait(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                       int timeout_ms, void **reply, size_t *reply_size);

/* From an outside thread: tr_ask_wait for fixed-size values, the usual
 * client call: sends request[0..request_size) and copies the reply into
 * reply[0..reply_size). Returns as tr_ask_wait, plus TR_EPROTO when the
 * reply is not exactly reply_size bytes. */
TR_API int tr_call(tr_system *sys, tr_ref to, uint32_t type, const void *request,
                   size_t request_size, void *reply, size_t reply_size, int timeout_ms);

/* ---- inspection ---- */

#define TR_INSPECT_MAX 4096 /* bytes of an inspection, NUL included */

/* From an outside thread: asks actor `ref` to describe its state (its
 * behaviour's inspect callback, or "" without one), like OTP's
 * sys:get_state. The runtime answers between two of its messages, after
 * init. Copies the text, truncated and NUL-terminated, to buf. Returns
 * TR_OK, TR_EINVAL, TR_ETIMEDOUT, the actor's exit reason when it ends
 * first (as tr_ask_wait), TR_ECONTEXT on a worker, or a send error. */
TR_API int tr_inspect(tr_system *sys, tr_ref ref, int timeout_ms, char *buf, size_t cap);

/* From a callback: the same request without blocking. A TR_MSG_REPLY with
 * msg->corr == *corr carries the NUL-terminated text, or a
 * TR_MSG_ASK_FAILED follows. Returns as tr_ask. */
TR_API int tr_inspect_async(tr_ctx *self, tr_ref ref, uint32_t timeout_ms, uint64_t *corr);

#ifdef __cplusplus
}
#endif
#endif

/* Blocking work off the workers: a separate, bounded thread pool.
 *
 * Troupe runs one worker per core and a handler must never block one (a
 * blocked worker stalls every actor queued on it). Work that blocks (file
 * I/O, a database client, a blocking library) goes to the blocking pool
 * instead, in one of two ways, as with Tokio's spawn_blocking, Erlang's
 * dirty schedulers or Akka's dedicated dispatchers:
 *
 *  - one call: tr_blocking_run(self, fn, arg, ...) runs fn(arg) on a pool
 *    thread and delivers its result to the caller as a message;
 *  - a whole actor: spawn it with tr_spawn_opts.blocking = true. Its turns
 *    run on pool threads, so its callbacks may block; its mailbox,
 *    backpressure, supervision, monitors and links are those of any actor.
 *
 * The pool starts empty, grows a thread at a time while work is queued and
 * no thread is idle, up to tr_config.blocking_threads_max (default 512),
 * and a thread idle for tr_config.blocking_keep_alive_ms (default 10 s)
 * exits. Work beyond the bound waits in a FIFO queue; tr_metrics shows the
 * pool's threads, idle threads and queue. tr_system_destroy waits for
 * running blocking calls up to the shutdown deadline (Tokio's
 * shutdown_timeout); calls still running then are abandoned (their threads
 * finish on their own and drop the result), calls not yet started are
 * dropped. */
#ifndef TROUPE_BLOCKING_H
#define TROUPE_BLOCKING_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A blocking function: runs on a pool thread, returns a value handed to the
 * caller in the result message. It must not touch the calling actor's
 * state (the actor keeps running meanwhile). */
typedef void *(*tr_blocking_fn)(void *arg);

/* Cleanup for a result: receives the call's arg and fn's return value
 * (NULL when fn never ran). */
typedef void (*tr_blocking_drop_fn)(void *arg, void *value);

/* The payload of a result message (msg->data; msg->corr is the call's id). */
typedef struct tr_blocking_result {
    void *arg;   /* the arg given to tr_blocking_run */
    void *value; /* what fn returned */
} tr_blocking_result;

/* From a callback: queues fn(arg) on the blocking pool and returns at once.
 * When fn returns, the caller receives a message of type `reply_type` (>=
 * TR_MSG_USER) whose data is a tr_blocking_result and whose corr is the id
 * written to *call_id (may be NULL). The result is delivered past the
 * caller's mailbox bound (it is owed, as an ask's reply is); if the caller
 * has ended by then it is a counted dead letter.
 *
 * Ownership: with drop == NULL, the handler of the result owns arg and
 * value. With a drop function, the result message owns them: drop(arg,
 * value) runs once the message is gone (after its handler returns, or when
 * it cannot be delivered, or with value NULL when fn never ran because the
 * system shut down first), unless the handler calls tr_blocking_keep.
 * Returns TR_OK, TR_EINVAL, TR_ENOMEM, or TR_ECLOSED (system shutting
 * down); on an error nothing was queued and drop is not called. */
TR_API int tr_blocking_run(tr_ctx *self, tr_blocking_fn fn, void *arg, tr_blocking_drop_fn drop,
                           uint32_t reply_type, uint64_t *call_id);

/* Inside the handler of a result message: takes arg and value from it, so
 * that its drop function does not run; returns the value. NULL for other
 * messages. */
TR_API void *tr_blocking_keep(const tr_msg *msg);

#ifdef __cplusplus
}
#endif
#endif

/* Inboxes: how a thread that is not an actor (main, a test, a foreign
 * event loop) takes part in message passing, like Akka's Inbox or the
 * Erlang shell. An inbox has a reference: actors send to it and reply to
 * its asks, it can monitor and link (exit signals arrive as TR_MSG_EXIT
 * messages), and own spawn groups (TR_MSG_GROUP_DONE). Its thread receives
 * with a timeout, optionally only one message type or one ask's answer.
 *
 *     tr_inbox *in;
 *     tr_inbox_create(sys, 0, &in);
 *     tr_monitor(sys, tr_inbox_ref(in), worker, NULL);
 *     tr_inbox_msg *m;
 *     if (tr_inbox_receive(in, TR_MSG_DOWN, 0, 5000, &m) == TR_OK) { ... ; tr_inbox_msg_free(m); }
 *     tr_inbox_destroy(in);
 *
 * Behind it is a small actor that moves what it receives into a queue the
 * owning thread reads. Any thread may use an inbox, one receiver at a time
 * is the intended use; receiving on a worker thread is refused (it would
 * block the worker). */
#ifndef TROUPE_INBOX_H
#define TROUPE_INBOX_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_inbox tr_inbox;

/* A received message: msg.data points into the same allocation. Free with
 * tr_inbox_msg_free. */
typedef struct tr_inbox_msg {
    tr_msg msg;
} tr_inbox_msg;

/* Creates an inbox holding up to `capacity` received messages not yet
 * taken (0 = 1024). *out is the caller's until tr_inbox_destroy or
 * tr_system_destroy. When it is full, further application messages become
 * dead letters (reason TR_EFULL); runtime messages (replies, failures,
 * DOWN, EXIT, GROUP_DONE), bounded by their causes, are always kept.
 * Returns TR_OK, TR_EINVAL, TR_ENOMEM or TR_ECLOSED. */
TR_API int tr_inbox_create(tr_system *sys, uint32_t capacity, tr_inbox **out);

/* The inbox's reference: send to it, monitor or link with it, notify it. */
TR_API tr_ref tr_inbox_ref(const tr_inbox *in);

/* Sends a copy of the payload to `to` with the inbox as sender (so `to`
 * can answer it), waiting up to timeout_ms for room as tr_post does.
 * Returns as tr_post. */
TR_API int tr_inbox_send(tr_inbox *in, tr_ref to, uint32_t type, const void *data, size_t size,
                         int timeout_ms);

/* Asks `to` on the inbox's behalf and returns without waiting: the answer,
 * TR_MSG_REPLY or TR_MSG_ASK_FAILED with msg.corr == *corr, arrives in the
 * inbox (receive it with tr_inbox_receive(in, 0, *corr, ...)). Like tr_ask,
 * the ask fails at once when `to` ends before answering. Returns TR_OK or
 * a send error (then nothing arrives); TR_ECONTEXT on a worker thread. */
TR_API int tr_inbox_ask(tr_inbox *in, tr_ref to, uint32_t type, const void *data, size_t size,
                        uint32_t timeout_ms, uint64_t *corr);

/* Answers `request`, an ask the inbox received (its msg), with a copy of
 * data[0..size). Returns as tr_reply. */
TR_API int tr_inbox_reply(tr_inbox *in, const tr_msg *request, const void *data, size_t size);

/* Takes the oldest message matching `type` (0 = any type) and `corr`
 * (0 = any), waiting up to timeout_ms (negative = forever, 0 = do not
 * wait). Messages that do not match stay queued, in order. On TR_OK *out
 * owns the message. Returns TR_OK, TR_ETIMEDOUT, TR_EDEAD (the inbox's
 * actor was stopped or killed, by system shutdown say: nothing more will
 * arrive), TR_EINVAL or TR_ECONTEXT (on a worker thread). */
TR_API int tr_inbox_receive(tr_inbox *in, uint32_t type, uint64_t corr, int timeout_ms,
                            tr_inbox_msg **out);

/* Frees a received message. NULL is ignored. */
TR_API void tr_inbox_msg_free(tr_inbox_msg *m);

/* Receives as tr_inbox_receive, copies the payload into out[0..size) and
 * frees the message: for messages of one fixed size (a tr_down, a
 * tr_exit_signal, an application struct). The caller owns `out`. Returns
 * as tr_inbox_receive, plus TR_EPROTO when the message taken is not
 * exactly `size` bytes (it is consumed and freed all the same). */
TR_API int tr_inbox_receive_read(tr_inbox *in, uint32_t type, uint64_t corr, int timeout_ms,
                                 void *out, size_t size);

/* The usual form: the oldest message of `type` into the variable *out.
 *     tr_down down;
 *     if (tr_inbox_receive_value(in, TR_MSG_DOWN, 5000, &down) == TR_OK) ... down.reason ...
 */
#define tr_inbox_receive_value(in, type, timeout_ms, out) \
    tr_inbox_receive_read((in), (type), 0, (timeout_ms), (out), sizeof(*(out)))

/* Stops the inbox's actor (monitors of it fire with TR_ESHUTDOWN; asks it
 * received and did not answer fail), drops what was not received and frees
 * the inbox. Call from an outside thread; tr_system_destroy destroys the
 * inboxes still open (as the Erlang shell's mailbox goes with its node).
 * NULL is ignored. */
TR_API void tr_inbox_destroy(tr_inbox *in);

#ifdef __cplusplus
}
#endif
#endif

/* Typed messages: a behaviour whose handle is a table of routes, one per
 * message type, each with the payload size it expects and a handler that
 * receives the payload as a typed, aligned value. A message of the wrong
 * size is refused before any handler sees it (logged, rate-limited; counted
 * as a dead letter with TR_EPROTO; an ask fails with TR_EPROTO), so handlers
 * never check sizes or copy into aligned locals. The payload stays bytes on
 * the wire: use fixed-size structs between processes of one build, and
 * msgpack (pack.h) between different machines.
 *
 *     typedef struct account { int64_t balance; } account;
 *     TR_HANDLER(on_deposit, account, int64_t) {
 *         state->balance += *value;
 *         return tr_reply_value(self, msg, state->balance);
 *     }
 *     TR_HANDLER_EMPTY(on_balance, account) { return tr_reply_value(self, msg, state->balance); }
 *     static const tr_route account_routes[] = {
 *         TR_ON(MSG_DEPOSIT, on_deposit), TR_ON(MSG_BALANCE, on_balance)};
 *     static const tr_behaviour account_beh = {TR_ROUTES(account_routes),
 *                                              .state_size = sizeof(account)};
 */
#ifndef TROUPE_TYPED_H
#define TROUPE_TYPED_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A route's handler: `value` points at an aligned copy of the payload
 * (NULL for an empty one), valid during the call. Returns as handle(). */
typedef int (*tr_route_fn)(tr_ctx *self, void *state, const tr_msg *msg, const void *value);

typedef struct tr_route {
    uint32_t type; /* the message type it handles */
    size_t size;   /* the exact payload size it accepts, or TR_SIZE_ANY */
    tr_route_fn fn;
} tr_route;

#define TR_SIZE_ANY ((size_t)-1) /* any size: the handler reads msg->data itself */

/* The handle() of a routed behaviour (set by TR_ROUTES): finds the route of
 * msg->type in tr_ctx_behaviour(self)->routes and calls it. A message with
 * no route is ignored (an application type is logged and counted as a dead
 * letter with TR_ENOTFOUND; an ask fails with it). */
TR_API int tr_route_handle(tr_ctx *self, void *state, const tr_msg *msg);

/* In a tr_behaviour initialiser: route messages through `table` (an array). */
#define TR_ROUTES(table) \
    .handle = tr_route_handle, .routes = (table), .nroutes = sizeof(table) / sizeof((table)[0])

#define TR_UNUSED_ __attribute__((unused))

/* Defines handler `name` for payloads of type T on state of type State; the
 * body that follows sees `self`, `state` (State *), `msg` and `value`
 * (const T *). */
#define TR_HANDLER(name, State, T)                                                                 \
    static int name##_typed(tr_ctx *self TR_UNUSED_, State *state TR_UNUSED_,                      \
                            const tr_msg *msg TR_UNUSED_, const T *value TR_UNUSED_);              \
    enum { name##_size = sizeof(T) };                                                              \
    static int name(tr_ctx *self, void *state, const tr_msg *msg, const void *value)               \
    {                                                                                              \
        return name##_typed(self, (State *)state, msg, (const T *)value);                          \
    }                                                                                              \
    static int name##_typed(tr_ctx *self TR_UNUSED_, State *state TR_UNUSED_,                      \
                            const tr_msg *msg TR_UNUSED_, const T *value TR_UNUSED_)

/* The same for messages without payload (size 0): no `value`. */
#define TR_HANDLER_EMPTY(name, State)                                                              \
    static int name##_typed(tr_ctx *self TR_UNUSED_, State *state TR_UNUSED_,                      \
                            const tr_msg *msg TR_UNUSED_);                                         \
    enum { name##_size = 0 };                                                                      \
    static int name(tr_ctx *self, void *state, const tr_msg *msg, const void *value)               \
    {                                                                                              \
        (void)value;                                                                               \
        return name##_typed(self, (State *)state, msg);                                            \
    }                                                                                              \
    static int name##_typed(tr_ctx *self TR_UNUSED_, State *state TR_UNUSED_,                      \
                            const tr_msg *msg TR_UNUSED_)

/* A route entry for a handler defined with TR_HANDLER / TR_HANDLER_EMPTY. */
#define TR_ON(type_, name) {(type_), (size_t)name##_size, name}

/* Sending values: a copy of `v` (any expression, lvalue or not) as the
 * payload. Return as tr_reply / tr_send / tr_post. */
#define tr_reply_value(self, request, v) \
    tr_reply((self), (request), &(__typeof__(v)){(v)}, sizeof(v))
#define tr_send_value(self, to, type, v) \
    tr_send((self), (to), (type), &(__typeof__(v)){(v)}, sizeof(v))
#define tr_post_value(sys, to, type, v, timeout_ms) \
    tr_post((sys), (to), (type), &(__typeof__(v)){(v)}, sizeof(v), (timeout_ms))

/* Reading a value from a message (a reply, say): copies the payload into
 * *out when it is exactly sizeof(*out) bytes. Returns TR_OK or TR_EPROTO. */
#define tr_msg_value(msg, out) tr_msg_read((msg), (out), sizeof(*(out)))
TR_API int tr_msg_read(const tr_msg *msg, void *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif

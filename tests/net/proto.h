/* Messages between the cross-process net tests and tests/net/node_proc.c. */
#ifndef TROUPE_TEST_NET_PROTO_H
#define TROUPE_TEST_NET_PROTO_H

#include <stdint.h>

#include "troupe/actor.h"

enum {
    MSG_ECHO = TR_MSG_USER + 100, /* ask: the reply is the same bytes */
    MSG_PING,                     /* the node answers MSG_PONG to the sender */
    MSG_PONG,
    MSG_CRASH,                    /* "victim" fails with TR_EUSER + 7 */
    MSG_WATCH,                    /* "watch" monitors the sender */
    MSG_FLOOD,                    /* "sink" counts a flood_msg */
    MSG_COUNT,                    /* ask "sink": the reply is a sink_report */
    MSG_GO,                       /* test-internal */
    MSG_EVQ                       /* ask node_proc's "nodeev": the reply is the ev_subject named */
};

/* What node_proc's "nodeev" actor has seen of one node's events. */
typedef struct ev_subject {
    char name[64];
    uint32_t ups, downs;
    char last;           /* 'U', 'D' or 0 (none yet) */
    int last_reason;
    uint64_t last_inc;
} ev_subject;

#define SINK_SOURCES 4

/* One flood message: 64 bytes on the wire as payload. */
typedef struct flood_msg {
    uint32_t source; /* < SINK_SOURCES */
    uint32_t pad0;
    uint64_t seq;    /* grows per source */
    char pad[48];
} flood_msg;

/* The sink's answer to MSG_COUNT. */
typedef struct sink_report {
    uint64_t count[SINK_SOURCES];    /* messages received per source */
    uint64_t last_seq[SINK_SOURCES];
    uint64_t disorder;               /* a sequence number that did not grow */
    uint64_t dead_letters;           /* tr_metrics.dead_letters of the sink's node */
} sink_report;

/* The "echo" actor's handler, shared by node_proc and the in-process TLS
 * test: MSG_ECHO is answered with the same bytes, MSG_PING with a MSG_PONG
 * of the same bytes to the sender. */
static inline int proto_echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_ECHO)
        tr_reply(self, msg, msg->data, msg->size);
    else if (msg->type == MSG_PING)
        tr_send(self, msg->sender, MSG_PONG, msg->data, msg->size);
    return TR_OK;
}

#endif

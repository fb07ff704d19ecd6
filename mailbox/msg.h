/* Message nodes: what travels through a mailbox.
 *
 * A node carries the public tr_msg view plus the intrusive queue link and the
 * payload's ownership. Payloads up to TR_MSG_INLINE bytes are copied into the
 * node itself (one allocation per message); larger copied payloads get their
 * own buffer, and moved payloads keep the sender's buffer and free function. */
#ifndef TROUPE_MAILBOX_MSG_H
#define TROUPE_MAILBOX_MSG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/mpscq.h"
#include "troupe/actor.h"

#define TR_MSG_INLINE 64


/* Message kinds. Only user messages exist so far; runtime control travels as
 * actor signals (actors/actor_impl.h). Supervision messages will add kinds. */
enum tr_mnode_kind {
    TR_MNODE_USER = 0, /* delivered to the behaviour's handle() */
};

typedef struct tr_mnode {
    tr_mlink link; /* the mailbox queue's (ds/mpscq.h) */
    tr_msg msg;              /* public view; msg.data points at inline or heap bytes */
    void (*free_fn)(void *); /* frees msg.data when the payload is not inline */
    uint16_t kind;           /* enum tr_mnode_kind */
    uint16_t taken;          /* tr_msg_take moved the payload out */
    uint16_t shared;         /* the payload lies in a buffer shared with other nodes */
    uint16_t pad;
    unsigned char inline_buf[TR_MSG_INLINE];
} tr_mnode;

/* Allocates a node holding a copy of data[0..size). NULL on ENOMEM. */
tr_mnode *tr_mnode_copy(uint32_t type, const void *data, size_t size);

/* Allocates a node that takes `buf` (freed with free_fn). On ENOMEM frees
 * buf itself and returns NULL. */
tr_mnode *tr_mnode_move(uint32_t type, void *buf, size_t size, void (*free_fn)(void *));

/* Allocates a node whose payload stays where it is, in a buffer other
 * nodes share (a receive block of the node's connection): `release(data)`
 * is called when the node is freed. tr_msg_take gives a copy of such a
 * payload. On ENOMEM calls release(data) itself and returns NULL. */
tr_mnode *tr_mnode_share(uint32_t type, const void *data, size_t size, void (*release)(void *));

/* Frees the node and its payload (unless the payload was taken). */
void tr_mnode_free(tr_mnode *node);

/* The node that carries `msg` (msg must come from a node). */
static inline tr_mnode *tr_mnode_of(const tr_msg *msg)
{
    return (tr_mnode *)((char *)msg - offsetof(tr_mnode, msg));
}

#endif

/* Message node allocation, from the node pool (mem/pool.h): nodes are
 * freed on the receiver's worker, and with plain malloc that cross-thread
 * traffic made glibc grow and trim its heaps on every burst of sends. */
#include "mailbox/msg.h"

#include "mem/pool.h"

#include <stdlib.h>
#include <string.h>

static tr_pool mnode_pool = TR_POOL_INIT(sizeof(tr_mnode));

static tr_mnode *mnode_alloc(uint32_t type)
{
    tr_mnode *n = tr_pool_alloc(&mnode_pool);
    if (n == NULL)
        return NULL;
    atomic_store_explicit(&n->link.next, NULL, memory_order_relaxed);
    n->msg.type = type;
    n->msg.sender = TR_REF_NONE;
    n->msg.corr = 0;
    n->msg.data = NULL;
    n->msg.size = 0;
    n->free_fn = NULL;
    n->kind = TR_MNODE_USER;
    n->taken = 0;
    n->shared = 0;
    n->pad = 0;
    return n;
}

tr_mnode *tr_mnode_copy(uint32_t type, const void *data, size_t size)
{
    tr_mnode *n = mnode_alloc(type);
    if (n == NULL)
        return NULL;
    if (size == 0)
        return n;
    if (size <= TR_MSG_INLINE) {
        memcpy(n->inline_buf, data, size);
        n->msg.data = n->inline_buf;
    } else {
        void *copy = malloc(size);
        if (copy == NULL) {
            tr_pool_free(&mnode_pool, n);
            return NULL;
        }
        memcpy(copy, data, size);
        n->msg.data = copy;
        n->free_fn = free;
    }
    n->msg.size = size;
    return n;
}

tr_mnode *tr_mnode_move(uint32_t type, void *buf, size_t size, void (*free_fn)(void *))
{
    tr_mnode *n = mnode_alloc(type);
    if (n == NULL) {
        if (buf != NULL && free_fn != NULL)
            free_fn(buf);
        return NULL;
    }
    n->msg.data = buf;
    n->msg.size = size;
    n->free_fn = free_fn;
    return n;
}

tr_mnode *tr_mnode_share(uint32_t type, const void *data, size_t size, void (*release)(void *))
{
    tr_mnode *n = tr_mnode_move(type, (void *)data, size, release);
    if (n != NULL)
        n->shared = 1;
    return n;
}

void tr_mnode_free(tr_mnode *n)
{
    if (n->free_fn != NULL && !n->taken && n->msg.data != NULL)
        n->free_fn((void *)n->msg.data);
    tr_pool_free(&mnode_pool, n);
}

void *tr_msg_take(const tr_msg *msg)
{
    if (msg == NULL)
        return NULL;
    tr_mnode *n = tr_mnode_of(msg);
    if (n->free_fn == NULL || n->taken)
        return NULL;
    if (n->shared) { /* other nodes' payloads share its buffer: a copy of its own */
        void *copy = malloc(msg->size);
        if (copy != NULL)
            memcpy(copy, msg->data, msg->size);
        return copy;
    }
    n->taken = 1;
    return (void *)msg->data;
}

/* Vyukov's intrusive MPSC queue with a stub node, plus a count for the bound.
 * Producers: link->next = NULL; prev = exchange(in, link); prev->next = link.
 * Between the exchange and the store the chain is briefly broken; the consumer
 * then sees "empty" although count > 0, and simply tries again later. */
#include "mailbox/mailbox.h"

#include <stddef.h>

void tr_mailbox_init(tr_mailbox *mb)
{
    atomic_store_explicit(&mb->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&mb->in, &mb->stub, memory_order_relaxed);
    atomic_store_explicit(&mb->count, 0, memory_order_relaxed);
    mb->pad = 0;
    mb->out = &mb->stub;
}

static void mailbox_link(tr_mailbox *mb, tr_mlink *link)
{
    atomic_store_explicit(&link->next, NULL, memory_order_relaxed);
    tr_mlink *prev = atomic_exchange_explicit(&mb->in, link, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, link, memory_order_release);
}

void tr_mailbox_push(tr_mailbox *mb, tr_mnode *node)
{
    mailbox_link(mb, &node->link);
}

static tr_mnode *mailbox_taken(tr_mailbox *mb, tr_mlink *link)
{
    atomic_fetch_sub_explicit(&mb->count, 1, memory_order_seq_cst);
    return (tr_mnode *)((char *)link - offsetof(tr_mnode, link));
}

tr_mnode *tr_mailbox_pop(tr_mailbox *mb)
{
    tr_mlink *out = mb->out;
    tr_mlink *next = atomic_load_explicit(&out->next, memory_order_acquire);
    if (out == &mb->stub) {
        if (next == NULL)
            return NULL;
        mb->out = next;
        out = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        mb->out = next;
        return mailbox_taken(mb, out);
    }
    if (out != atomic_load_explicit(&mb->in, memory_order_acquire))
        return NULL; /* a producer is mid-push */
    mailbox_link(mb, &mb->stub);
    next = atomic_load_explicit(&out->next, memory_order_acquire);
    if (next != NULL) {
        mb->out = next;
        return mailbox_taken(mb, out);
    }
    return NULL;
}

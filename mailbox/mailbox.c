/* Vyukov's intrusive MPSC queue with a stub node, plus counts for the bound.
 * Producers: link->next = NULL; prev = exchange(in, link); prev->next = link.
 * Between the exchange and the store the chain is briefly broken; the consumer
 * then sees "empty" although the count is positive, and simply tries again
 * later. */
#include "mailbox/mailbox.h"

#include <stddef.h>

void tr_mailbox_init(tr_mailbox_tail *t, tr_mailbox_head *h)
{
    atomic_store_explicit(&h->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->in, &h->stub, memory_order_relaxed);
    atomic_store_explicit(&t->pushed, 0, memory_order_relaxed);
    atomic_store_explicit(&t->popped_seen, 0, memory_order_relaxed);
    atomic_store_explicit(&h->popped, 0, memory_order_relaxed);
    h->out = &h->stub;
}

static void mailbox_link(tr_mailbox_tail *t, tr_mlink *link)
{
    atomic_store_explicit(&link->next, NULL, memory_order_relaxed);
    tr_mlink *prev = atomic_exchange_explicit(&t->in, link, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, link, memory_order_release);
}

void tr_mailbox_push(tr_mailbox_tail *t, tr_mnode *node)
{
    mailbox_link(t, &node->link);
}

/* One more node taken: a plain store, only this thread writes `popped`
 * (release: a producer that reads it has seen the pushes it counts). */
static tr_mnode *mailbox_taken(tr_mailbox_head *h, tr_mlink *link)
{
    uint32_t p = atomic_load_explicit(&h->popped, memory_order_relaxed);
    atomic_store_explicit(&h->popped, p + 1, memory_order_release);
    return (tr_mnode *)((char *)link - offsetof(tr_mnode, link));
}

tr_mnode *tr_mailbox_pop(tr_mailbox_tail *t, tr_mailbox_head *h)
{
    tr_mlink *out = h->out;
    tr_mlink *next = atomic_load_explicit(&out->next, memory_order_acquire);
    if (out == &h->stub) {
        if (next == NULL)
            return NULL;
        h->out = next;
        out = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        h->out = next;
        return mailbox_taken(h, out);
    }
    if (out != atomic_load_explicit(&t->in, memory_order_acquire))
        return NULL; /* a producer is mid-push */
    mailbox_link(t, &h->stub);
    next = atomic_load_explicit(&out->next, memory_order_acquire);
    if (next != NULL) {
        h->out = next;
        return mailbox_taken(h, out);
    }
    return NULL;
}

/* The bounded mailbox: the runtime's MPSC queue (ds/mpscq.h) plus the counts
 * for the bound (see mailbox.h). */
#include "mailbox/mailbox.h"

#include "ds/container.h"

void tr_mailbox_init(tr_mailbox_tail *t, tr_mailbox_head *h)
{
    tr_mpscq_init(&t->in, &h->out, &h->stub);
    atomic_store_explicit(&t->pushed, 0, memory_order_relaxed);
    atomic_store_explicit(&t->popped_seen, 0, memory_order_relaxed);
    atomic_store_explicit(&h->popped, 0, memory_order_relaxed);
}

tr_mnode *tr_mailbox_pop(tr_mailbox_tail *t, tr_mailbox_head *h)
{
    tr_mlink *link = tr_mpscq_pop(&t->in, &h->out, &h->stub);
    if (link == NULL)
        return NULL;
    /* one more node taken: a plain store, only this thread writes `popped`
     * (release: a producer that reads it has seen the pushes it counts) */
    uint32_t p = atomic_load_explicit(&h->popped, memory_order_relaxed);
    atomic_store_explicit(&h->popped, p + 1, memory_order_release);
    return TR_CONTAINER_OF(link, tr_mnode, link);
}

/* A parent's children array; see children.h. */
#include "actors/children.h"

#include <stdlib.h>

#include "actors/actor_impl.h"
#include "ds/vec.h"

int tr_children_add(struct tr_actor *p, struct tr_actor *child)
{
    tr_children *c = &p->children;
    uint32_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
    /* the count is atomic (see children.h): only the growth is tr_vec's */
    if (n == c->cap && tr_vec_grow(&c->at, &c->cap, sizeof(*c->at), n + 1) != 0)
        return TR_ENOMEM;
    c->at[n] = child;
    child->child_index = n;
    atomic_store_explicit(&c->n, n + 1, memory_order_seq_cst);
    return TR_OK;
}

void tr_children_remove(struct tr_actor *p, struct tr_actor *child)
{
    tr_children *c = &p->children;
    uint32_t n = atomic_load_explicit(&c->n, memory_order_relaxed) - 1;
    struct tr_actor *last = c->at[n];
    c->at[child->child_index] = last;
    last->child_index = child->child_index;
    atomic_store_explicit(&c->n, n, memory_order_release);
}

void tr_children_free(tr_children *c)
{
    free(c->at);
    c->at = NULL;
    c->cap = 0;
}

/* A parent's children: an array of actor pointers in the parent, each child
 * knowing its index, so adding and removing are O(1) (a removed child's
 * place takes the last one) and a stopping parent reads its children from
 * consecutive memory, prefetching ahead, instead of following one pointer
 * per child through cold lines.
 *
 * Everything here runs under the parent's stripe lock, except the count,
 * which the parent's own worker may read without it (tr_children_count):
 * once the parent is stopping no child is added (see spawn_link in
 * actor.c), so for that reader the count only falls. */
#ifndef TROUPE_ACTORS_CHILDREN_H
#define TROUPE_ACTORS_CHILDREN_H

#include <stdatomic.h>
#include <stdint.h>

struct tr_actor;

typedef struct tr_children {
    struct tr_actor **at; /* at[0..n): the children; malloc'd, grows, never shrinks */
    uint32_t cap;
    _Atomic uint32_t n;
} tr_children;

/* The number of children, with memory order `order` (relaxed for a hint,
 * acquire or seq_cst for the lifecycle's handshakes). Any thread. */
static inline uint32_t tr_children_count(const tr_children *c, memory_order order)
{
    return atomic_load_explicit(&c->n, order);
}

/* Appends `child` to p's children (p's stripe lock held) and records its
 * index in it. The new count is stored with seq_cst order (spawn_link's
 * handshake). Returns TR_OK or TR_ENOMEM (nothing changed). */
int tr_children_add(struct tr_actor *p, struct tr_actor *child);

/* Removes `child` from p's children (p's stripe lock held): the last child
 * takes its place. */
void tr_children_remove(struct tr_actor *p, struct tr_actor *child);

/* Frees the array (the actor is being freed). */
void tr_children_free(tr_children *c);

#endif

/* The runtime's one intrusive doubly linked list (NNG's nni_list): a node
 * embedded in each element, O(1) append and removal of any element. A zeroed
 * list is empty; a zeroed node is in no list. Reach the element from its
 * node with TR_CONTAINER_OF (ds/container.h). No locking: the owner guards
 * it. */
#ifndef TROUPE_DS_LIST_H
#define TROUPE_DS_LIST_H

#include <stddef.h>

#include "ds/container.h"

typedef struct tr_list_node {
    struct tr_list_node *prev, *next;
} tr_list_node;

typedef struct tr_list {
    tr_list_node *first, *last;
} tr_list;

/* Appends node `n` (in no list) at the end of `l`. */
static inline void tr_list_append(tr_list *l, tr_list_node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last != NULL)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

/* Removes node `n` from `l` (it must be in it); n is left in no list. */
static inline void tr_list_remove(tr_list *l, tr_list_node *n)
{
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->prev = n->next = NULL;
}

#endif

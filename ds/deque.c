/* Growth of the runtime's double-ended queue (deque.h). */
#include <string.h>

#include "ds/deque.h"

int tr_deque_grow(void *at_field, uint32_t *head, uint32_t len, uint32_t *cap, size_t elem_size)
{
    uint32_t ncap = *cap != 0 ? 2 * *cap : 8;
    if (ncap <= *cap || (elem_size != 0 && ncap > SIZE_MAX / elem_size))
        return -1;
    /* at_field points at a T *: copied through memcpy, not read as a char *
     * (as in vec.c) */
    char *items;
    memcpy(&items, at_field, sizeof(items));
    char *grown = malloc((size_t)ncap * elem_size);
    if (grown == NULL)
        return -1;
    /* in order: at[head, cap), then the part that wrapped round to at[0] */
    uint32_t tail = *cap - *head;
    uint32_t first = len < tail ? len : tail;
    if (first > 0)
        memcpy(grown, items + (size_t)*head * elem_size, (size_t)first * elem_size);
    if (len > first)
        memcpy(grown + (size_t)first * elem_size, items, (size_t)(len - first) * elem_size);
    free(items);
    memcpy(at_field, &grown, sizeof(grown));
    *head = 0;
    *cap = ncap;
    return 0;
}

/* Growth of the chat's growable arrays (chat.h, "growable arrays"). The
 * runtime has its own (ds/vec.h), but the chat is an example of the public
 * API and includes nothing else from the runtime. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

bool chat_array_grow(void *items_field, uint32_t *cap, size_t elem_size, uint32_t first_cap)
{
    uint32_t ncap = *cap != 0 ? *cap * 2 : first_cap;
    if (ncap <= *cap || (elem_size != 0 && ncap > SIZE_MAX / elem_size))
        return false;
    /* items_field points at a T *: copied through memcpy, not read as a
     * void *, so no pointer is accessed through an lvalue of another type */
    void *items;
    memcpy(&items, items_field, sizeof(items));
    void *grown = realloc(items, (size_t)ncap * elem_size);
    if (grown == NULL)
        return false;
    memcpy(items_field, &grown, sizeof(grown));
    *cap = ncap;
    return true;
}

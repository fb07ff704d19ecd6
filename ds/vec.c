/* Growth of the runtime's growable array (vec.h). */
#include <string.h>

#include "ds/vec.h"

int tr_vec_grow(void *at_field, uint32_t *cap, size_t elem_size, uint32_t need)
{
    uint32_t ncap = *cap != 0 ? *cap : 4;
    while (ncap < need) {
        if (ncap > UINT32_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (elem_size != 0 && ncap > SIZE_MAX / elem_size)
        return -1;
    /* at_field points at a T *: copied through memcpy, not read as a void *,
     * so no pointer is accessed through an lvalue of another type */
    void *items;
    memcpy(&items, at_field, sizeof(items));
    void *grown = realloc(items, (size_t)ncap * elem_size);
    if (grown == NULL)
        return -1;
    memcpy(at_field, &grown, sizeof(grown));
    *cap = ncap;
    return 0;
}

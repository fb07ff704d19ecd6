/* The struct that holds an intrusive member (NNG's and Linux's container_of),
 * written once for every intrusive link of the runtime. */
#ifndef TROUPE_DS_CONTAINER_H
#define TROUPE_DS_CONTAINER_H

#include <stddef.h>

/* The `type` whose field `member` is at `ptr` (a pointer to that field). */
#define TR_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif

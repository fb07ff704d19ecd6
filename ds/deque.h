/* The runtime's one growable double-ended queue (beside the growable array,
 * ds/vec.h): a ring of T taken from the front, added to at the back or at
 * the front, grown by doubling. Declare one with TR_DEQUE(T); a zeroed one
 * is empty and owns nothing. (actors/ring.h is another thing: the bounded
 * lock-free MPSC ring of the scheduler.)
 *
 *   TR_DEQUE(uint32_t) q = {0};
 *   if (tr_deque_push_back(&q, x) != 0) ...      (out of memory: q is unchanged)
 *   while (q.len > 0) { use(tr_deque_front(&q)); tr_deque_pop_front(&q); }
 *   tr_deque_free(&q);
 *
 * The macros evaluate their deque argument more than once: pass a plain
 * address (&p->ready), nothing with side effects. No locking: whoever owns
 * the deque guards it. Why by hand: a dozen lines, and the libraries Troupe
 * depends on (NNG, msgpack-c) export none. */
#ifndef TROUPE_DS_DEQUE_H
#define TROUPE_DS_DEQUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A deque of T: its len elements are at[head], at[(head + 1) % cap], ... */
#define TR_DEQUE(T)                                                                                \
    struct {                                                                                       \
        T *at;                                                                                     \
        uint32_t head, len, cap;                                                                   \
    }

/* Doubles (from 8) the storage whose pointer is at `at_field` (a T **),
 * moving its len elements in order to the start (head 0). Returns 0, or -1
 * when out of memory (the deque untouched). Use the push macros. */
int tr_deque_grow(void *at_field, uint32_t *head, uint32_t len, uint32_t *cap, size_t elem_size);

/* Room for one more element: 0, or -1 when out of memory. */
#define tr_deque_room(q)                                                                           \
    ((q)->len < (q)->cap                                                                           \
         ? 0                                                                                       \
         : tr_deque_grow(&(q)->at, &(q)->head, (q)->len, &(q)->cap, sizeof(*(q)->at)))

/* Adds one element (an expression of type T) at the back / at the front.
 * 0, or -1 when out of memory (q unchanged). */
#define tr_deque_push_back(q, ...)                                                                 \
    (tr_deque_room(q) == 0                                                                         \
         ? ((q)->at[((q)->head + (q)->len) % (q)->cap] = (__VA_ARGS__), (q)->len++, 0)             \
         : -1)
#define tr_deque_push_front(q, ...)                                                                \
    (tr_deque_room(q) == 0 ? ((q)->head = ((q)->head + (q)->cap - 1) % (q)->cap,                   \
                              (q)->at[(q)->head] = (__VA_ARGS__), (q)->len++, 0)                   \
                           : -1)

/* The first element (len > 0), an lvalue; removing it. */
#define tr_deque_front(q) ((q)->at[(q)->head])
#define tr_deque_pop_front(q) ((void)((q)->head = ((q)->head + 1) % (q)->cap, (q)->len--))

/* Frees the storage and leaves an empty deque. */
#define tr_deque_free(q)                                                                           \
    ((void)(free((q)->at), (q)->at = NULL, (q)->head = (q)->len = (q)->cap = 0))

#endif

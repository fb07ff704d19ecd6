/* The runtime's one growable array (where Pony has ds/stack.h and NNG
 * nni_list): a typed pointer, a length and a capacity, grown by doubling.
 * Declare one with TR_VEC(T), typedef'd when it is passed around or taken
 * whole; a zeroed one is empty and owns nothing.
 *
 *   typedef TR_VEC(tr_ref) tr_ref_vec;
 *   tr_ref_vec v = {0};
 *   if (tr_vec_push(&v, r) != 0) ...            (out of memory: v is unchanged)
 *   for (uint32_t i = 0; i < v.len; i++) use(v.at[i]);
 *   tr_vec_free(&v);
 *
 * The macros evaluate their vector argument more than once: pass a plain
 * address (&s->peers), nothing with side effects. No locking: whoever owns
 * the vector guards it. Why by hand: a growable array is a dozen lines, and
 * the libraries Troupe depends on (NNG, msgpack-c) export none. */
#ifndef TROUPE_DS_VEC_H
#define TROUPE_DS_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A growable array of T: at[0, len) in use, room for cap. */
#define TR_VEC(T)                                                                                  \
    struct {                                                                                       \
        T *at;                                                                                     \
        uint32_t len, cap;                                                                         \
    }

/* Grows the array whose pointer is at `at_field` (a T **) to hold at least
 * `need` elements of elem_size bytes: doubles, from 4. Returns 0, or -1 when
 * out of memory (the array untouched). Use tr_vec_reserve. */
int tr_vec_grow(void *at_field, uint32_t *cap, size_t elem_size, uint32_t need);

/* Makes room for `need` elements in all. 0, or -1 when out of memory (v
 * unchanged). */
#define tr_vec_reserve(v, need)                                                                    \
    ((need) <= (v)->cap ? 0 : tr_vec_grow(&(v)->at, &(v)->cap, sizeof(*(v)->at), (need)))

/* Appends one element (an expression of type T, a compound literal too).
 * 0, or -1 when out of memory (v unchanged). */
#define tr_vec_push(v, ...)                                                                        \
    (tr_vec_reserve((v), (v)->len + 1) == 0 ? ((v)->at[(v)->len++] = (__VA_ARGS__), 0) : -1)

/* Removes element i (< len) by moving the last one into its place: O(1),
 * for vectors whose order does not matter. */
#define tr_vec_remove_swap(v, i) ((void)((v)->at[(i)] = (v)->at[--(v)->len]))

/* Frees the storage and leaves an empty vector. */
#define tr_vec_free(v) ((void)(free((v)->at), (v)->at = NULL, (v)->len = (v)->cap = 0))

#endif

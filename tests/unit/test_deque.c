/* The runtime's double-ended queue (ds/deque.h) against a plain array
 * model: pushes at both ends and pops from the front keep the order,
 * including across growth while the elements wrap round the storage. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "ds/deque.h"
#include "ds/rng.h"

#define MODEL 4096

Test(deque, random_pushes_and_pops_match_a_model)
{
    static uint32_t model[2 * MODEL]; /* model[lo, hi): the deque, front first */
    uint32_t lo = MODEL, hi = MODEL;
    TR_DEQUE(uint32_t) q = {0};
    uint64_t rng = 42;
    for (uint32_t op = 0; op < 100000; op++) {
        uint32_t r = tr_rng_next(&rng) % 8;
        if (r < 3 && hi < 2 * MODEL) {
            cr_assert_eq(tr_deque_push_back(&q, op), 0);
            model[hi++] = op;
        } else if (r < 5 && lo > 0) {
            cr_assert_eq(tr_deque_push_front(&q, op), 0);
            model[--lo] = op;
        } else if (hi > lo) {
            cr_assert_eq(tr_deque_front(&q), model[lo], "op %u", op);
            tr_deque_pop_front(&q);
            lo++;
        }
        if (hi == lo) /* empty: start the model over in the middle */
            lo = hi = MODEL;
        cr_assert_eq(q.len, hi - lo);
        cr_assert_leq(q.len, q.cap);
    }
    for (; hi > lo; lo++) {
        cr_assert_eq(tr_deque_front(&q), model[lo]);
        tr_deque_pop_front(&q);
    }
    cr_assert_eq(q.len, 0);
    tr_deque_free(&q);
    cr_assert_null(q.at);
    cr_assert_eq(q.cap, 0);
}

Test(deque, growth_keeps_the_order_of_a_wrapped_deque)
{
    TR_DEQUE(uint64_t) q = {0};
    for (uint64_t i = 0; i < 8; i++)
        cr_assert_eq(tr_deque_push_back(&q, i), 0);
    cr_assert_eq(q.cap, 8);
    for (int i = 0; i < 5; i++)
        tr_deque_pop_front(&q); /* 5 6 7, head at 5 */
    for (uint64_t i = 8; i < 13; i++)
        cr_assert_eq(tr_deque_push_back(&q, i), 0); /* wraps: 8..12 at 0..4 */
    cr_assert_eq(q.cap, 8);
    cr_assert_eq(tr_deque_push_front(&q, 4), 0); /* full: grows, then goes in front */
    cr_assert_eq(q.cap, 16);
    cr_assert_eq(q.len, 9);
    for (uint64_t i = 4; i < 13; i++) {
        cr_assert_eq(tr_deque_front(&q), i);
        tr_deque_pop_front(&q);
    }
    cr_assert_eq(q.len, 0);
    tr_deque_free(&q);
}

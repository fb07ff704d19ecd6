/* The supervisor's reference map (supervisor/refmap.c) against a plain
 * array model: random puts and deletes keep every lookup right, including
 * across growth and the backward shifts of deletion in long probe runs. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "ds/refmap.h"

#define KEYS 4096

Test(refmap, random_operations_match_a_model)
{
    static void *model[KEYS];
    tr_refmap m = {0};
    uint64_t rng = 12345;
    size_t live = 0;
    for (int op = 0; op < 200000; op++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = (size_t)(rng >> 33) % KEYS;
        /* keys clustered like reference ids: same generation, near slots */
        uint64_t key = ((uint64_t)7 << 25) | (k + 1);
        if ((rng >> 20) % 3 != 0) {
            void *v = (void *)(uintptr_t)(op + 1);
            cr_assert_eq(tr_refmap_put(&m, key, v), 0);
            live += model[k] == NULL;
            model[k] = v;
        } else {
            tr_refmap_del(&m, key);
            live -= model[k] != NULL;
            model[k] = NULL;
        }
        if (op % 997 == 0)
            for (size_t i = 0; i < KEYS; i++)
                cr_assert_eq(tr_refmap_get(&m, ((uint64_t)7 << 25) | (i + 1)), model[i], "key %zu", i);
        cr_assert_eq(m.n, live);
    }
    for (size_t i = 0; i < KEYS; i++)
        tr_refmap_del(&m, ((uint64_t)7 << 25) | (i + 1));
    cr_assert_eq(m.n, 0);
    cr_assert_null(tr_refmap_get(&m, 1));
    tr_refmap_free(&m);
    cr_assert_null(tr_refmap_get(&m, 1), "a freed map is empty, not dangling");
}

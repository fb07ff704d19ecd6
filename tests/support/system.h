/* Test support: a system with a given number of workers, or a failed test.
 * Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_SYSTEM_H
#define TROUPE_TEST_SYSTEM_H

#include "troupe/troupe.h"

static inline tr_system *make_system(uint32_t workers)
{
    tr_system *sys = NULL;
    tr_config cfg = {.workers = workers};
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    return sys;
}

#endif

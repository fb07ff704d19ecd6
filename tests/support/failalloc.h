/* Test support: allocation-failure injection.
 *
 * A test binary linked with tests/support/failalloc.c and
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup
 * (tests/CMakeLists.txt does it for every test_nomem*.c) sends every
 * allocation that Troupe's code and the test make through these wrappers.
 * Failures are armed per thread, so a worker's unrelated allocation never
 * takes the one meant for the call under test. NNG's and libc's own
 * allocations are not wrapped. */
#ifndef TROUPE_TEST_FAILALLOC_H
#define TROUPE_TEST_FAILALLOC_H

#include <stdbool.h>

/* Makes the calling thread's nth allocation from now (1-based) fail, once. */
void failalloc_arm(long nth);

/* Disarms the calling thread; returns true if the armed failure happened. */
bool failalloc_disarm(void);

#endif

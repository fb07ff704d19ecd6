/* Allocation-failure injection through the linker's --wrap (see failalloc.h).
 * Each wrapper counts down the calling thread's armed allocation and
 * returns NULL (errno ENOMEM) when it reaches zero. */
#include "tests/support/failalloc.h"

#include <errno.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);

static _Thread_local long countdown; /* 0 = disarmed */
static _Thread_local bool fired;

void failalloc_arm(long nth)
{
    countdown = nth;
    fired = false;
}

bool failalloc_disarm(void)
{
    countdown = 0;
    return fired;
}

/* True when this allocation is the armed one. */
static bool fail_now(void)
{
    if (countdown == 0 || --countdown != 0)
        return false;
    fired = true;
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t count, size_t n) { return fail_now() ? NULL : __real_calloc(count, n); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) { return fail_now() ? NULL : __real_aligned_alloc(align, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }

/* The client side of run-time children: start, terminate and list children
 * by asking the supervisor (supervisor.c answers in its own handler). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supervisor/supervisor_impl.h"
#include "troupe/supervisor.h"

int tr_supervisor_start_child(tr_system *sys, tr_ref sup, void *arg, int timeout_ms, tr_ref *out)
{
    if (sys == NULL)
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, sup, TR_SUP_START_CHILD, &arg, sizeof(arg), timeout_ms, &reply, &size);
    if (rc != TR_OK)
        return rc;
    tr_sup_started r = {.rc = TR_EINVAL};
    if (size == sizeof(r))
        memcpy(&r, reply, sizeof(r));
    free(reply);
    if (r.rc == TR_OK && out != NULL)
        *out = r.child;
    return r.rc;
}

int tr_supervisor_start_child_async(tr_ctx *self, tr_ref sup, void *arg, uint32_t timeout_ms,
                                    uint64_t *corr)
{
    return tr_ask(self, sup, TR_SUP_START_CHILD, &arg, sizeof(arg), timeout_ms, corr);
}

/* Milliseconds left of a budget that started at `start` (negative = forever). */
static int remaining(int timeout_ms, struct timespec start)
{
    if (timeout_ms < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long spent = (now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L;
    return spent >= timeout_ms ? 0 : timeout_ms - (int)spent;
}

int tr_supervisor_terminate_child(tr_system *sys, tr_ref sup, tr_ref child, int timeout_ms)
{
    if (sys == NULL)
        return TR_EINVAL;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, sup, TR_SUP_TERMINATE_CHILD, &child, sizeof(child), timeout_ms,
                         &reply, &size);
    if (rc != TR_OK)
        return rc;
    rc = TR_EINVAL;
    if (size == sizeof(rc))
        memcpy(&rc, reply, sizeof(rc));
    free(reply);
    if (rc != TR_OK)
        return rc;
    /* the supervisor has stopped it and will not restart it: wait for the end */
    return tr_await_exit(sys, child, remaining(timeout_ms, start), NULL);
}

int tr_supervisor_children(tr_system *sys, tr_ref sup, int timeout_ms, tr_ref *out, size_t max,
                           size_t *count)
{
    if (sys == NULL || (out == NULL && max > 0))
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, sup, TR_SUP_WHICH_CHILDREN, NULL, 0, timeout_ms, &reply, &size);
    if (rc != TR_OK)
        return rc;
    size_t n = size / sizeof(tr_ref);
    if (out != NULL)
        memcpy(out, reply, (n < max ? n : max) * sizeof(tr_ref));
    if (count != NULL)
        *count = n;
    free(reply);
    return TR_OK;
}

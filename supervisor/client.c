/* The client side of supervisors: starting one and waiting for its start,
 * and every request (start, restart, delete, terminate and list children),
 * each an ask the supervisor answers in its own handler (supervisor.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/supervision.h"
#include "supervisor/supervisor_impl.h"
#include "troupe/monitor.h"
#include "troupe/supervisor.h"
#include "troupe/timer.h"

/* ---- starting a supervisor ---- */

/* An outside thread waiting for a supervisor's start, through a small actor
 * that watches it: its TR_MSG_PONG is success, its DOWN the failure's reason
 * (a killed supervisor cannot leave the thread waiting). */
typedef struct start_wait {
    uint64_t monitor; /* the waiter's monitor on the supervisor */
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
    int rc;
    tr_ref sup;
} start_wait;

static void start_wait_done(tr_ctx *self, start_wait **slot, int rc, bool watching)
{
    start_wait *w = *slot;
    if (w == NULL)
        return;
    if (watching) /* its DOWN would reach a dead waiter: a dead letter */
        tr_demonitor(tr_ctx_system(self), w->sup, w->monitor);
    *slot = NULL; /* w lives on the waiting thread's stack: not touched after this */
    pthread_mutex_lock(&w->m);
    w->done = true;
    w->rc = rc;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

static int start_waiter_init(tr_ctx *self, void *state, void *arg)
{
    start_wait **slot = state;
    *slot = arg;
    tr_ref sup = (*slot)->sup;
    int rc = tr_monitor(tr_ctx_system(self), tr_self(self), sup, &(*slot)->monitor);
    if (rc != TR_OK) {
        start_wait_done(self, slot, rc, false);
        tr_stop_self(self);
        return TR_OK;
    }
    /* refused only by a supervisor that is ending: its DOWN follows */
    tr_send(self, sup, TR_SUP_AWAIT_STARTED, NULL, 0);
    return TR_OK;
}

static int start_waiter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    if (msg->type == TR_MSG_PONG)
        start_wait_done(self, state, TR_OK, true);
    else if (msg->type == TR_MSG_DOWN && msg->size == sizeof(tr_down))
        start_wait_done(self, state, ((const tr_down *)msg->data)->reason, false);
    else
        return TR_OK;
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour start_waiter = {.init = start_waiter_init,
                                          .handle = start_waiter_handle,
                                          .state_size = sizeof(start_wait *)};

/* Blocks until `sup` has started (TR_OK) or has failed (its reason), and
 * until the waiter actor has ended: a started supervisor leaves nothing
 * behind (tr_actors_list and actors_alive count its tree only). */
static int await_start(tr_system *sys, tr_ref sup)
{
    start_wait w = {.sup = sup};
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.c, NULL);
    tr_ref waiter;
    int rc = tr_spawn(sys, &start_waiter, &w, NULL, &waiter);
    if (rc == TR_OK) {
        pthread_mutex_lock(&w.m);
        while (!w.done)
            pthread_cond_wait(&w.c, &w.m);
        pthread_mutex_unlock(&w.m);
        rc = w.rc;
        /* it stops itself right after telling us */
        tr_await_exit(sys, waiter, -1, NULL);
    }
    pthread_cond_destroy(&w.c);
    pthread_mutex_destroy(&w.m);
    return rc;
}

int tr_supervisor_start(tr_system *sys, const tr_sup_flags *flags, const tr_child_spec *specs,
                        size_t n, const tr_spawn_opts *opts, tr_ref *out)
{
    tr_ref sup;
    int rc = tr_sup_spawn(sys, flags, specs, n, opts, &sup);
    if (rc != TR_OK)
        return rc;
    if (tr_actor_current() == NULL) { /* an outside thread: wait, as start_link does */
        rc = await_start(sys, sup);
        if (rc != TR_OK) {
            tr_kill(sys, sup); /* no waiter (out of memory): do not leave it behind */
            tr_await_exit(sys, sup, -1, NULL); /* its started children are stopped */
            return rc;
        }
    }
    if (out != NULL)
        *out = sup;
    return TR_OK;
}

int tr_supervisor_start_async(tr_ctx *self, const tr_sup_flags *flags, const tr_child_spec *specs,
                              size_t n, const tr_spawn_opts *opts, uint32_t timeout_ms,
                              tr_ref *out, uint64_t *corr)
{
    if (self == NULL)
        return TR_EINVAL;
    tr_ref sup;
    int rc = tr_sup_spawn(tr_ctx_system(self), flags, specs, n, opts, &sup);
    if (rc != TR_OK)
        return rc;
    rc = tr_ask(self, sup, TR_SUP_AWAIT_STARTED, NULL, 0, timeout_ms, corr);
    if (rc != TR_OK) {
        tr_kill(tr_ctx_system(self), sup);
        return rc;
    }
    if (out != NULL)
        *out = sup;
    return TR_OK;
}

/* ---- requests ---- */

/* Asks `sup` and copies a reply of exactly `size` bytes to out. */
static int ask_fixed(tr_system *sys, tr_ref sup, uint32_t type, const void *data, size_t len,
                     int timeout_ms, void *out, size_t size)
{
    if (sys == NULL)
        return TR_EINVAL;
    void *reply = NULL;
    size_t got = 0;
    int rc = tr_ask_wait(sys, sup, type, data, len, timeout_ms, &reply, &got);
    if (rc != TR_OK)
        return rc;
    rc = got == size ? TR_OK : TR_EPROTO;
    if (rc == TR_OK)
        memcpy(out, reply, size);
    free(reply);
    return rc;
}

int tr_supervisor_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms, tr_ref *child)
{
    if (sys == NULL || id == NULL || child == NULL)
        return TR_EINVAL;
    int rc = ask_fixed(sys, sup, TR_SUP_WHICH_CHILD, id, strlen(id) + 1, timeout_ms, child,
                       sizeof(*child));
    return rc == TR_EPROTO ? TR_ENOTFOUND : rc; /* an empty reply: no such running child */
}

int tr_supervisor_restart_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms,
                                tr_ref *out)
{
    if (id == NULL)
        return TR_EINVAL;
    tr_sup_started r = {.rc = TR_EINVAL};
    int rc = ask_fixed(sys, sup, TR_SUP_RESTART_CHILD, id, strlen(id) + 1, timeout_ms, &r,
                       sizeof(r));
    if (rc != TR_OK)
        return rc;
    if (r.rc == TR_OK && out != NULL)
        *out = r.child;
    return r.rc;
}

int tr_supervisor_delete_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms)
{
    if (id == NULL)
        return TR_EINVAL;
    int r = TR_EINVAL;
    int rc = ask_fixed(sys, sup, TR_SUP_DELETE_CHILD, id, strlen(id) + 1, timeout_ms, &r, sizeof(r));
    return rc != TR_OK ? rc : r;
}

int tr_supervisor_restart_child_async(tr_ctx *self, tr_ref sup, const char *id,
                                      uint32_t timeout_ms, uint64_t *corr)
{
    if (id == NULL)
        return TR_EINVAL;
    return tr_ask(self, sup, TR_SUP_RESTART_CHILD, id, strlen(id) + 1, timeout_ms, corr);
}

int tr_supervisor_delete_child_async(tr_ctx *self, tr_ref sup, const char *id,
                                     uint32_t timeout_ms, uint64_t *corr)
{
    if (id == NULL)
        return TR_EINVAL;
    return tr_ask(self, sup, TR_SUP_DELETE_CHILD, id, strlen(id) + 1, timeout_ms, corr);
}

/* Asks `sup` for an array of elem_size-byte items: copies up to `max` of
 * them to out (may be NULL when max is 0) and their number to *count. */
static int ask_array(tr_system *sys, tr_ref sup, uint32_t type, int timeout_ms, void *out,
                     size_t elem_size, size_t max, size_t *count)
{
    if (sys == NULL || (out == NULL && max > 0))
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, sup, type, NULL, 0, timeout_ms, &reply, &size);
    if (rc != TR_OK)
        return rc;
    size_t n = size / elem_size;
    if (out != NULL)
        memcpy(out, reply, (n < max ? n : max) * elem_size);
    if (count != NULL)
        *count = n;
    free(reply);
    return TR_OK;
}

int tr_supervisor_which_children(tr_system *sys, tr_ref sup, int timeout_ms,
                                 tr_sup_child_info *out, size_t max, size_t *count)
{
    return ask_array(sys, sup, TR_SUP_CHILD_INFO, timeout_ms, out, sizeof(*out), max, count);
}

int tr_supervisor_count_children(tr_system *sys, tr_ref sup, int timeout_ms, tr_sup_counts *out)
{
    if (out == NULL)
        return TR_EINVAL;
    return ask_fixed(sys, sup, TR_SUP_COUNT_CHILDREN, NULL, 0, timeout_ms, out, sizeof(*out));
}

int tr_supervisor_which_children_async(tr_ctx *self, tr_ref sup, uint32_t timeout_ms,
                                       uint64_t *corr)
{
    return tr_ask(self, sup, TR_SUP_CHILD_INFO, NULL, 0, timeout_ms, corr);
}

int tr_supervisor_count_children_async(tr_ctx *self, tr_ref sup, uint32_t timeout_ms,
                                       uint64_t *corr)
{
    return tr_ask(self, sup, TR_SUP_COUNT_CHILDREN, NULL, 0, timeout_ms, corr);
}

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
static int remaining(int timeout_ms, uint64_t start_ms)
{
    if (timeout_ms < 0)
        return -1;
    uint64_t spent = tr_now_ms() - start_ms;
    return spent >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)spent;
}

int tr_supervisor_terminate_child(tr_system *sys, tr_ref sup, tr_ref child, int timeout_ms)
{
    if (sys == NULL)
        return TR_EINVAL;
    uint64_t start = tr_now_ms();
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
    return ask_array(sys, sup, TR_SUP_WHICH_CHILDREN, timeout_ms, out, sizeof(*out), max, count);
}

/* The runtime object: creation, graceful shutdown, waiting for exits. The
 * public tr_system_create is observe/autostart.c: this runtime plus the
 * observer the configuration asks for (actors/attachment.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/attachment.h"
#include "actors/blocking.h"
#include "actors/census.h"
#include "actors/clock.h"
#include "actors/dead_letters.h"
#include "actors/exit_cache.h"
#include "actors/inbox_impl.h"
#include "actors/lifecycle.h"
#include "actors/registry.h"
#include "actors/remote.h"
#include "actors/sched.h"
#include "actors/system_impl.h"
#include "actors/table.h"
#include "actors/timers.h"

static void config_defaults(tr_config *c)
{
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (uint32_t)n : 1;
    }
    if (c->batch == 0)
        c->batch = 64;
    if (c->mailbox_capacity == 0)
        c->mailbox_capacity = 1024;
    if (c->shutdown_timeout_ms == 0)
        c->shutdown_timeout_ms = 5000;
}

int tr_system_create_runtime(const tr_config *cfg, tr_system **out)
{
    if (out == NULL)
        return TR_EINVAL;
    tr_config c = cfg != NULL ? *cfg : (tr_config){0};
    c.observe_url = NULL; /* observe/autostart.c's; the caller's string is not kept */
    config_defaults(&c);
    if (c.workers > 1024 || c.mailbox_capacity > (1u << 30))
        return TR_EINVAL;
    /* cache-line aligned: some members are (system_impl.h) */
    size_t bytes = (sizeof(tr_system) + 63) & ~(size_t)63;
    tr_system *sys = aligned_alloc(64, bytes);
    if (sys == NULL)
        return TR_ENOMEM;
    memset(sys, 0, bytes);
    sys->cfg = c;
    tr_table_init(&sys->table, tr_actor_destroy);
    tr_ring_init(&sys->sched.inject_ring);
    tr_mpscq_init(&sys->sched.inject_in, &sys->sched.inject_out, &sys->sched.inject_stub);
    pthread_mutex_init(&sys->sched.park_lock, NULL);
    pthread_cond_init(&sys->sched.park_cv, NULL);
    for (int i = 0; i < TR_STRIPES; i++)
        pthread_mutex_init(&sys->stripes[i].m, NULL);
    pthread_mutex_init(&sys->root_lock, NULL);
    pthread_mutex_init(&sys->event_lock, NULL);
    pthread_cond_init(&sys->event_cv, NULL);
    tr_dead_letters_init(&sys->dead_letters);
    pthread_mutex_init(&sys->remote.lock, NULL);
    tr_names_init(&sys->names);
    tr_inbox_list_init(&sys->inboxes);
    int rc = tr_blocking_pool_start(sys);
    if (rc == TR_OK && (rc = tr_timers_start(sys)) == TR_OK && (rc = tr_sched_start(sys)) != TR_OK)
        tr_timers_stop(sys);
    if (rc != TR_OK) {
        struct timespec now = tr_deadline_after(0);
        tr_blocking_pool_stop(sys, &now); /* empty: frees it */
        tr_table_fini(&sys->table);
        free(sys);
        return rc;
    }
    *out = sys;
    return TR_OK;
}

void tr_system_attach(tr_system *sys, void *object, void (*detach)(void *object))
{
    sys->attached = object;
    sys->detach = detach;
}

void *tr_system_attached(const tr_system *sys) { return sys->attached; }

uint32_t tr_system_workers(const tr_system *sys) { return sys != NULL ? sys->sched.nworkers : 0; }

tr_table *tr_system_table(tr_system *sys) { return &sys->table; }

void tr_system_broadcast(tr_system *sys)
{
    pthread_mutex_lock(&sys->event_lock);
    pthread_cond_broadcast(&sys->event_cv);
    pthread_mutex_unlock(&sys->event_lock);
}

/* Waits until no actor is alive; false if timeout_ms (>= 0) passed first. */
static bool wait_all_dead(tr_system *sys, int timeout_ms)
{
    struct timespec deadline = tr_deadline_after(timeout_ms);
    bool ok = true;
    pthread_mutex_lock(&sys->event_lock);
    atomic_fetch_add_explicit(&sys->event_waiters, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&sys->dead_waiters, 1, memory_order_seq_cst);
    while (tr_census_alive(sys) > 0) {
        if (!tr_cond_wait_until(&sys->event_cv, &sys->event_lock, timeout_ms, &deadline)) {
            ok = tr_census_alive(sys) == 0;
            break;
        }
    }
    atomic_fetch_sub_explicit(&sys->dead_waiters, 1, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&sys->event_waiters, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->event_lock);
    return ok;
}

void tr_system_destroy(tr_system *sys)
{
    if (sys == NULL)
        return;
    if (sys->detach != NULL)
        sys->detach(sys->attached); /* first: it reads the system (the observer) */
    /* what the application left open: the node (peers see it go down,
     * remote monitors fire), then the inboxes (their actors stop) */
    tr_remote_stop(sys);
    tr_inboxes_destroy(sys);
    /* one deadline for actors and blocking calls alike */
    struct timespec deadline = tr_deadline_after((int)sys->cfg.shutdown_timeout_ms);
    pthread_mutex_lock(&sys->root_lock);
    atomic_store_explicit(&sys->closing, true, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->root_lock);
    tr_system_broadcast(sys); /* outside threads blocked in tr_post give up */
    /* the system owns the deadline: a graceful stop, then kill what is left */
    tr_lifecycle_signal_top_level(sys, TR_SIG_STOP | TR_SIG_FROM_PARENT);
    if (!wait_all_dead(sys, (int)sys->cfg.shutdown_timeout_ms)) {
        tr_lifecycle_signal_top_level(sys, TR_SIG_KILL);
        wait_all_dead(sys, -1);
    }
    tr_blocking_pool_stop(sys, &deadline); /* running calls get what is left of it */
    tr_timers_stop(sys);
    tr_sched_stop(sys);
    tr_table_fini(&sys->table);
    pthread_mutex_destroy(&sys->sched.park_lock);
    pthread_cond_destroy(&sys->sched.park_cv);
    for (int i = 0; i < TR_STRIPES; i++)
        pthread_mutex_destroy(&sys->stripes[i].m);
    pthread_mutex_destroy(&sys->root_lock);
    pthread_mutex_destroy(&sys->event_lock);
    pthread_cond_destroy(&sys->event_cv);
    tr_dead_letters_fini(&sys->dead_letters);
    tr_names_fini(&sys->names);
    pthread_mutex_destroy(&sys->remote.lock);
    tr_inbox_list_fini(&sys->inboxes);
    free(sys);
}

int tr_await_exit(tr_system *sys, tr_ref ref, int timeout_ms, int *reason)
{
    if (sys == NULL)
        return TR_EINVAL;
    if (tr_actor_current() != NULL)
        return TR_ECONTEXT;
    tr_exit_waiter w = {.ref = ref, .reason = TR_EDEAD};
    struct timespec deadline = tr_deadline_after(timeout_ms);
    int rc = TR_OK;
    pthread_mutex_lock(&sys->event_lock);
    atomic_fetch_add_explicit(&sys->event_waiters, 1, memory_order_seq_cst);
    w.next = sys->exit_waiters;
    sys->exit_waiters = &w;
    atomic_fetch_or_explicit(&sys->exit_waiter_mask, tr_exit_waiter_bit(ref), memory_order_seq_cst);
    /* registered first, then look: an end after this point will find us */
    struct tr_actor *a;
    if (tr_table_acquire(&sys->table, ref, false, &a) != TR_OK) {
        w.done = true;
        tr_exit_cache_get(&sys->exits, ref, &w.reason);
    } else {
        tr_table_release(&sys->table, ref);
    }
    while (!w.done) {
        if (!tr_cond_wait_until(&sys->event_cv, &sys->event_lock, timeout_ms, &deadline)) {
            rc = w.done ? TR_OK : TR_ETIMEDOUT;
            break;
        }
    }
    for (tr_exit_waiter **p = &sys->exit_waiters; *p != NULL; p = &(*p)->next) {
        if (*p == &w) {
            *p = w.next;
            break;
        }
    }
    uint64_t mask = 0;
    for (tr_exit_waiter *o = sys->exit_waiters; o != NULL; o = o->next)
        mask |= tr_exit_waiter_bit(o->ref);
    atomic_store_explicit(&sys->exit_waiter_mask, mask, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&sys->event_waiters, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->event_lock);
    if (reason != NULL)
        *reason = w.reason;
    return rc;
}

/* Spawn groups: a counting semaphore over spawns plus a result log.
 * Members are ordinary actors whose extension points at the group; their
 * end (lifecycle.c) calls tr_group_member_done, which frees the slot and
 * starts the oldest queued spawn. Nothing here blocks a worker: only
 * tr_group_wait and tr_group_destroy wait, and they refuse worker threads. */
#include <stdlib.h>
#include <string.h>

#include "actors/actor_impl.h"
#include "actors/clock.h"
#include "actors/ext.h"
#include "actors/group_impl.h"
#include "actors/send.h"

typedef struct group_pending {
    struct group_pending *next;
    const tr_behaviour *beh;
    void *arg;
    tr_spawn_opts opts;
    char *name;
} group_pending;

/* A member's result, and what frees its ptr (NULL: none, or taken). */
typedef struct kept_result {
    tr_group_result r;
    void (*free_fn)(void *);
} kept_result;

struct tr_group {
    tr_system *sys;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    uint32_t max, running;
    tr_ref notify;
    size_t added, ended, failed;
    TR_VEC(kept_result) results;
    group_pending *head, *tail;
    tr_ref *members; /* running members, at most max */
    /* what members are bound to (tr_group_bind: a token), or NULL */
    const tr_group_binding_ops *binding;
    void *bound; /* its context, released when the group is freed */
    bool destroying;
    bool orphaned; /* destroyed by its owner actor: the last member's end frees it */
};

int tr_group_create(tr_system *sys, uint32_t max_concurrency, tr_ref notify, tr_group **out)
{
    if (sys == NULL || max_concurrency == 0 || out == NULL)
        return TR_EINVAL;
    tr_group *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->members = calloc(max_concurrency, sizeof(tr_ref))) == NULL) {
        free(g);
        return TR_ENOMEM;
    }
    g->sys = sys;
    g->max = max_concurrency;
    g->notify = notify;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cv, NULL);
    *out = g;
    return TR_OK;
}

static void record_result(tr_group *g, tr_group_result r, void (*free_fn)(void *))
{
    kept_result k = {.r = r, .free_fn = r.ptr != NULL ? free_fn : NULL};
    if (tr_vec_push(&g->results, k) != 0 && r.ptr != NULL && free_fn != NULL) {
        free_fn(r.ptr); /* no room to keep it: its result is lost anyway */
        r.ptr = NULL;
    }
    g->ended++;
    if (r.status != TR_OK)
        g->failed++;
    if (!tr_ref_is_none(g->notify)) {
        tr_mnode *n = tr_mnode_copy(TR_MSG_GROUP_DONE, &r, sizeof(r));
        if (n != NULL)
            tr_deliver(g->sys, NULL, g->notify, n, true, 0);
    }
    pthread_cond_broadcast(&g->cv);
}

/* Spawns a member now; the group lock is held and a slot is free. */
static int start_member(tr_group *g, const tr_behaviour *beh, void *arg, const tr_spawn_opts *opts)
{
    tr_ref ref;
    int rc = tr_actor_spawn(g->sys, beh, arg, opts, g, &ref);
    if (rc == TR_OK) {
        g->members[g->running++] = ref;
        if (g->binding != NULL)
            g->binding->bind(g->bound, ref); /* TR_EDEAD if it has ended already: fine */
    }
    return rc;
}

/* Starts queued spawns while slots are free. Group lock held. */
static bool cancelled(const tr_group *g)
{
    return g->binding != NULL && g->binding->cancelled(g->bound);
}

/* Its binding (token) was cancelled: queued spawns end as TR_ECANCELLED, unstarted.
 * Group lock held. */
static void drop_pending(tr_group *g)
{
    while (g->head != NULL) {
        group_pending *p = g->head;
        g->head = p->next;
        record_result(g, (tr_group_result){.member = TR_REF_NONE, .status = TR_ECANCELLED}, NULL);
        free(p->name);
        free(p);
    }
    g->tail = NULL;
}

static void start_pending(tr_group *g)
{
    if (cancelled(g)) {
        drop_pending(g);
        return;
    }
    while (g->head != NULL && g->running < g->max && !g->destroying) {
        group_pending *p = g->head;
        g->head = p->next;
        if (g->head == NULL)
            g->tail = NULL;
        int rc = start_member(g, p->beh, p->arg, &p->opts);
        if (rc != TR_OK)
            record_result(g, (tr_group_result){.member = TR_REF_NONE, .status = rc}, NULL);
        free(p->name);
        free(p);
    }
}

static void group_free(tr_group *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->lock);
    if (g->binding != NULL)
        g->binding->release(g->bound);
    for (uint32_t i = 0; i < g->results.len; i++) {
        kept_result *k = &g->results.at[i];
        if (k->r.ptr != NULL && k->free_fn != NULL)
            k->free_fn(k->r.ptr);
    }
    tr_vec_free(&g->results);
    free(g->members);
    free(g);
}

void tr_group_member_done(tr_group *g, tr_ref member, int status, int64_t value, void *ptr,
                          void (*free_fn)(void *))
{
    pthread_mutex_lock(&g->lock);
    for (uint32_t i = 0; i < g->running; i++) {
        if (tr_ref_equal(g->members[i], member)) {
            g->members[i] = g->members[--g->running];
            break;
        }
    }
    record_result(g, (tr_group_result){.member = member, .status = status, .value = value, .ptr = ptr},
                  free_fn);
    start_pending(g);
    bool last = g->orphaned && g->ended >= g->added;
    pthread_mutex_unlock(&g->lock);
    if (last)
        group_free(g); /* its owner destroyed it; nothing else refers to it now */
}

int tr_group_spawn(tr_group *g, const tr_behaviour *beh, void *arg, const tr_spawn_opts *opts)
{
    if (g == NULL || beh == NULL || beh->handle == NULL)
        return TR_EINVAL;
    int rc = TR_OK;
    pthread_mutex_lock(&g->lock);
    if (g->destroying) {
        rc = TR_ECLOSED;
    } else if (cancelled(g)) {
        rc = TR_ECANCELLED;
    } else if (g->running < g->max && g->head == NULL) {
        rc = start_member(g, beh, arg, opts);
    } else {
        group_pending *p = calloc(1, sizeof(*p));
        if (p != NULL && opts != NULL) {
            p->opts = *opts;
            if (opts->name != NULL && (p->name = strdup(opts->name)) == NULL) {
                free(p);
                p = NULL;
            }
            p->opts.name = p != NULL ? p->name : NULL;
        }
        if (p == NULL) {
            rc = TR_ENOMEM;
        } else {
            p->beh = beh;
            p->arg = arg;
            if (g->tail != NULL)
                g->tail->next = p;
            else
                g->head = p;
            g->tail = p;
        }
    }
    if (rc == TR_OK)
        g->added++;
    pthread_mutex_unlock(&g->lock);
    return rc;
}

int tr_group_wait(tr_group *g, int timeout_ms)
{
    if (g == NULL)
        return TR_EINVAL;
    if (tr_actor_current() != NULL)
        return TR_ECONTEXT;
    struct timespec deadline = tr_deadline_after(timeout_ms);
    int rc = TR_OK;
    pthread_mutex_lock(&g->lock);
    while (g->ended < g->added) {
        if (!tr_cond_wait_until(&g->cv, &g->lock, timeout_ms, &deadline)) {
            rc = g->ended < g->added ? TR_ETIMEDOUT : TR_OK;
            break;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

size_t tr_group_results(tr_group *g, size_t from, tr_group_result *out, size_t max)
{
    if (g == NULL || out == NULL)
        return 0;
    pthread_mutex_lock(&g->lock);
    size_t n = 0;
    for (size_t i = from; i < g->results.len && n < max; i++)
        out[n++] = g->results.at[i].r;
    pthread_mutex_unlock(&g->lock);
    return n;
}

void tr_group_counts(tr_group *g, size_t *added, size_t *ended, size_t *failed)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    if (added != NULL)
        *added = g->added;
    if (ended != NULL)
        *ended = g->ended;
    if (failed != NULL)
        *failed = g->failed;
    pthread_mutex_unlock(&g->lock);
}

void tr_set_result(tr_ctx *self, int64_t value)
{
    tr_actor_ext *ext = self != NULL ? tr_actor_ext_get(self) : NULL;
    if (ext != NULL)
        ext->group.result = value;
}

void tr_set_result_ptr(tr_ctx *self, void *ptr, void (*free_fn)(void *))
{
    tr_actor_ext *ext = self != NULL ? tr_actor_ext_get(self) : NULL;
    if (ext == NULL) {
        if (ptr != NULL && free_fn != NULL)
            free_fn(ptr);
        return;
    }
    if (ext->group.result_ptr != NULL && ext->group.result_free != NULL)
        ext->group.result_free(ext->group.result_ptr);
    ext->group.result_ptr = ptr;
    ext->group.result_free = free_fn;
}

void *tr_group_take(tr_group *g, size_t index)
{
    if (g == NULL)
        return NULL;
    pthread_mutex_lock(&g->lock);
    void *p = NULL;
    if (index < g->results.len) {
        p = g->results.at[index].r.ptr;
        g->results.at[index].r.ptr = NULL;
        g->results.at[index].free_fn = NULL;
    }
    pthread_mutex_unlock(&g->lock);
    return p;
}

int tr_group_set_binding(tr_group *g, const tr_group_binding_ops *ops, void *ctx)
{
    pthread_mutex_lock(&g->lock);
    int rc = TR_OK;
    if (g->binding != NULL) {
        rc = TR_EEXIST;
    } else {
        g->binding = ops;
        g->bound = ctx;
        for (uint32_t i = 0; i < g->running; i++)
            ops->bind(ctx, g->members[i]);
        if (g->running == 0)
            start_pending(g); /* nothing running ends to drop the queue */
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

void tr_group_destroy(tr_group *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    g->destroying = true;
    while (g->head != NULL) { /* queued spawns never start */
        group_pending *p = g->head;
        g->head = p->next;
        free(p->name);
        free(p);
        g->added--;
    }
    g->tail = NULL;
    for (uint32_t i = 0; i < g->running; i++)
        tr_kill(g->sys, g->members[i]);
    if (tr_actor_current() != NULL && g->ended < g->added) {
        /* its owner actor: no waiting on a worker; the last member frees it */
        g->orphaned = true;
        pthread_mutex_unlock(&g->lock);
        return;
    }
    while (g->ended < g->added)
        pthread_cond_wait(&g->cv, &g->lock);
    pthread_mutex_unlock(&g->lock);
    group_free(g);
}

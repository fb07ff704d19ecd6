/* tr_actors_list: a read-only snapshot of the actor tree (inspect.h).
 *
 * One pass over the table (tr_table_foreach_live holds each actor while we
 * read it) records each actor's own figures and, under its stripe lock,
 * the refs of its children: a child in that array is alive and cannot be
 * freed while the lock is held. A child's `parent` pointer is not followed,
 * since nothing keeps the parent alive once the child has unlinked itself.
 * Afterwards each (parent, child) pair fills in the child's `parent`. */
#include <stdlib.h>
#include <string.h>

#include "actors/ext.h"
#include "actors/inspect.h"
#include "actors/table.h"
#include "troupe/inspect.h"

/* Set once, at load time (see inspect.h). */
static const tr_behaviour *g_supervisor_behaviour;

void tr_inspect_set_supervisor_behaviour(const tr_behaviour *beh) { g_supervisor_behaviour = beh; }

typedef struct edge {
    uint64_t parent, child; /* tr_ref ids */
} edge;

typedef struct walk {
    tr_actor_info *out;
    size_t max, listed, live;
    bool supervisors_only;
    TR_VEC(edge) edges;
} walk;

static void visit(struct tr_actor *a, void *arg)
{
    walk *w = arg;
    bool supervisor = g_supervisor_behaviour != NULL && a->beh == g_supervisor_behaviour;
    if (w->supervisors_only && !supervisor)
        return;
    w->live++;
    if (w->listed == w->max)
        return;
    tr_actor_info *info = &w->out[w->listed++];
    memset(info, 0, sizeof(*info));
    info->ref = a->self;
    info->parent = TR_REF_NONE;
    info->state = (tr_actor_state)atomic_load_explicit(&a->lifecycle, memory_order_relaxed);
    info->queued = tr_actor_queued(a);
    info->capacity = a->capacity;
    /* a mailbox growing while it waits to run holds more than its last turn saw */
    uint32_t peak = atomic_load_explicit(&a->mailbox_peak, memory_order_relaxed);
    info->mailbox_peak = peak > info->queued ? peak : info->queued;
    info->supervisor = supervisor;
    if (a->beh->name != NULL) {
        strncpy(info->behaviour, a->beh->name, TR_INSPECT_NAME - 1);
        info->behaviour[TR_INSPECT_NAME - 1] = '\0';
    }
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext != NULL && ext->name != NULL) {
        strncpy(info->name, ext->name, TR_INSPECT_NAME - 1);
        info->name[TR_INSPECT_NAME - 1] = '\0';
    }
    if (ext != NULL)
        info->restarts = atomic_load_explicit(&ext->restarts, memory_order_relaxed);

    pthread_mutex_t *m = tr_actor_stripe(a->sys, a);
    pthread_mutex_lock(m);
    uint32_t n = tr_children_count(&a->children, memory_order_relaxed);
    info->children = n;
    for (uint32_t i = 0; i < n; i++) {
        if (tr_vec_push(&w->edges, (edge){a->self.id, a->children.at[i]->self.id}) != 0)
            break; /* parents stay unresolved; the figures are still right */
    }
    pthread_mutex_unlock(m);
}

static int by_ref(const void *x, const void *y)
{
    uint64_t a = ((const tr_actor_info *)x)->ref.id, b = ((const tr_actor_info *)y)->ref.id;
    return a < b ? -1 : a > b;
}

static size_t list(tr_system *sys, tr_actor_info *out, size_t max, bool supervisors_only)
{
    if (sys == NULL || out == NULL)
        return 0;
    walk w = {.out = out, .max = max, .supervisors_only = supervisors_only};
    tr_table_foreach_live(tr_system_table(sys), visit, &w);
    /* Resolve parents by binary search over the listed actors by ref. */
    qsort(out, w.listed, sizeof(*out), by_ref);
    for (uint32_t i = 0; i < w.edges.len; i++) {
        tr_actor_info key = {.ref = {w.edges.at[i].child}};
        tr_actor_info *child = bsearch(&key, out, w.listed, sizeof(*out), by_ref);
        if (child != NULL)
            child->parent = (tr_ref){w.edges.at[i].parent};
    }
    tr_vec_free(&w.edges);
    return w.live;
}

size_t tr_actors_list(tr_system *sys, tr_actor_info *out, size_t max)
{
    return list(sys, out, max, false);
}

size_t tr_supervisors_list(tr_system *sys, tr_actor_info *out, size_t max)
{
    return list(sys, out, max, true);
}

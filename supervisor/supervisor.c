/* Supervisors: an ordinary actor whose state is its child list. Children are
 * spawned as its children and monitored; every decision is taken in the
 * supervisor's own handler when a TR_MSG_DOWN arrives, so nothing here needs
 * a lock or blocks a worker. A group restart (one-for-all, rest-for-one)
 * stops the affected children from last to first, counts their DOWNs, and
 * restarts the group in list order once all are gone. A graceful stop of the
 * supervisor stops its children one at a time, last started first, each with
 * its own shutdown deadline (tr_behaviour.stopping).
 *
 * A simple-one-for-one supervisor (a pool) starts with no children and
 * appends one per TR_SUP_START_CHILD request, all from its single spec with
 * their own arg; a child it will not restart is removed from the list, so
 * the list stays in start order for the reverse-order shutdown. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/crash.h"
#include "troupe/log.h"
#include "troupe/monitor.h"
#include "troupe/timer.h"
#include "troupe/supervisor.h"
#include "supervisor/supervisor_impl.h"

struct tr_sup_spec {
    tr_sup_flags flags; /* defaults filled in */
    size_t n;
    tr_child_spec *specs; /* ids owned */
    bool owned; /* made by tr_supervisor_start: freed with its supervisor */
};

typedef struct sup_child {
    const tr_child_spec *spec; /* in the tr_sup_spec */
    void *arg;                 /* init's arg: the spec's, or a pool child's own */
    uint64_t seq;              /* names it in a delayed restart (pools move entries) */
    tr_ref ref;
    uint64_t monitor;
    bool running;
    bool stopping; /* stopped by us as part of a group restart */
    bool removed;  /* a temporary child that ended */
    bool delayed;  /* a backoff timer will restart it */
    bool terminating; /* tr_supervisor_terminate_child: do not restart */
    uint32_t quick_restarts; /* restarts since it last ran long enough */
    uint64_t started_ms;
} sup_child;

typedef struct sup_state {
    tr_sup_spec *spec;
    tr_sup_flags flags;
    sup_child *kids;
    size_t n, cap;
    uint64_t next_seq;
    bool pool; /* TR_SIMPLE_ONE_FOR_ONE */
    uint64_t *restarts; /* times (ms) of recent restarts, oldest first */
    size_t nrestarts;
    bool shutting_down; /* stopping children one by one, last started first */
    bool group;         /* a group restart is waiting for stops */
    size_t group_from;
    size_t pending_stops;
    uint64_t rng; /* jitter for backoff */
} sup_state;

static uint64_t sup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int start_child(tr_ctx *self, sup_child *k)
{
    tr_spawn_opts o = k->spec->opts;
    o.parent = tr_self(self);
    if (o.name == NULL)
        o.name = k->spec->id;
    uint32_t shutdown = k->spec->shutdown_ms;
    if (shutdown == 0)
        shutdown = k->spec->is_supervisor ? TR_SHUTDOWN_INFINITY : 5000;
    o.drain_timeout_ms = shutdown;
    int rc = tr_spawn(tr_ctx_system(self), k->spec->beh, k->arg, &o, &k->ref);
    if (rc != TR_OK)
        return rc;
    rc = tr_monitor(tr_ctx_system(self), tr_self(self), k->ref, &k->monitor);
    if (rc != TR_OK)
        return rc;
    k->running = true;
    k->stopping = false;
    k->delayed = false;
    k->started_ms = sup_now_ms();
    return TR_OK;
}

/* One-for-one restart, after the child's backoff if it has one. */
static int restart_child(tr_ctx *self, sup_state *st, size_t i)
{
    sup_child *k = &st->kids[i];
    uint32_t initial = k->spec->backoff_initial_ms, max = k->spec->backoff_max_ms;
    if (initial == 0)
        return start_child(self, k);
    if (max < initial)
        max = initial;
    if (sup_now_ms() - k->started_ms > max)
        k->quick_restarts = 0; /* it ran long enough: start over */
    uint64_t delay = initial;
    for (uint32_t n = 0; n < k->quick_restarts && delay < max; n++)
        delay *= 2;
    if (delay > max)
        delay = max;
    k->quick_restarts++;
    st->rng = st->rng * 6364136223846793005ull + 1442695040888963407ull;
    delay = delay / 2 + (delay / 2) * ((st->rng >> 33) % 1001) / 1000; /* jitter: 50%..100% */
    k->delayed = true;
    return tr_send_after(tr_ctx_system(self), tr_self(self), TR_SUP_RESTART, &k->seq, sizeof(k->seq),
                         (uint32_t)delay, NULL);
}

/* Stops a child by its shutdown spec (its DOWN comes later). */
static void signal_stop(tr_ctx *self, sup_child *k)
{
    tr_system *sys = tr_ctx_system(self);
    if (k->spec->brutal_kill)
        tr_kill(sys, k->ref);
    else
        tr_stop(sys, k->ref);
}

static void stop_child(tr_ctx *self, sup_child *k)
{
    signal_stop(self, k);
    k->stopping = true;
}

/* Records a restart; false when that exceeds the intensity budget. */
static bool restart_allowed(sup_state *st)
{
    uint64_t now = sup_now_ms();
    size_t kept = 0;
    for (size_t i = 0; i < st->nrestarts; i++)
        if (now - st->restarts[i] < st->flags.period_ms)
            st->restarts[kept++] = st->restarts[i];
    st->nrestarts = kept;
    if (st->nrestarts + 1 > st->flags.intensity)
        return false;
    st->restarts[st->nrestarts++] = now;
    return true;
}

static bool wants_restart(const sup_child *k, int reason)
{
    switch (k->spec->restart) {
    case TR_PERMANENT: return true;
    case TR_TRANSIENT: return reason != TR_OK && reason != TR_ESHUTDOWN;
    default: return false;
    }
}

/* All stops of a group restart are in: start the group again, in order. */
static int finish_group(tr_ctx *self, sup_state *st)
{
    st->group = false;
    for (size_t j = st->group_from; j < st->n; j++) {
        sup_child *k = &st->kids[j];
        if (k->running || k->removed)
            continue;
        if (k->spec->restart == TR_TEMPORARY) {
            k->removed = true;
            continue;
        }
        int rc = start_child(self, k);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* Child i failed (or must be restarted): stop the rest of its group. */
static int restart_group(tr_ctx *self, sup_state *st, size_t from)
{
    if (!st->group || from < st->group_from)
        st->group_from = from;
    st->group = true;
    for (size_t j = st->n; j-- > st->group_from;) { /* last started stops first */
        sup_child *k = &st->kids[j];
        if (k->running && !k->stopping) {
            stop_child(self, k);
            st->pending_stops++;
        }
    }
    return st->pending_stops == 0 ? finish_group(self, st) : TR_OK;
}

/* Graceful shutdown: stop the last running child; its DOWN stops the next. */
static void stop_next_child(tr_ctx *self, sup_state *st)
{
    for (size_t j = st->n; j-- > 0;) {
        sup_child *k = &st->kids[j];
        if (k->running) {
            if (!k->stopping)
                stop_child(self, k);
            return;
        }
    }
}

static void sup_stopping(tr_ctx *self, void *state)
{
    sup_state *st = state;
    st->shutting_down = true;
    stop_next_child(self, st);
}

/* A pool child that will not come back leaves the list (order kept). */
static void forget_child(sup_state *st, size_t i)
{
    memmove(&st->kids[i], &st->kids[i + 1], (st->n - i - 1) * sizeof(*st->kids));
    st->n--;
}

/* The supervisor's half of a crash report (the child's half is logged by
 * the runtime as it fails, actors/crash.c): what this supervisor does about
 * a child that ended abnormally. */
static void report_action(tr_ctx *self, const sup_state *st, const sup_child *k,
                          const tr_down *d, const char *action)
{
    if (d->reason == TR_OK || d->reason == TR_ESHUTDOWN || !tr_crash_reports_on(tr_ctx_system(self)))
        return;
    char me[TR_REF_FORMAT_MAX], child[TR_REF_FORMAT_MAX], name[64];
    tr_actor_name(tr_ctx_system(self), tr_self(self), name, sizeof(name));
    tr_log(TR_LOG_ERROR, "supervisor",
           "supervisor '%s' %s: child '%s' %s ended with reason %d '%s': %s (%zu of %u restarts "
           "in %u ms used)",
           name, tr_ref_format(tr_self(self), me, sizeof(me)), k->spec->id,
           tr_ref_format(d->actor, child, sizeof(child)), d->reason, tr_strerror(d->reason),
           action, st->nrestarts, st->flags.intensity, st->flags.period_ms);
}

static int on_down(tr_ctx *self, sup_state *st, const tr_down *d)
{
    size_t i;
    for (i = 0; i < st->n; i++)
        if (st->kids[i].running && tr_ref_equal(st->kids[i].ref, d->actor) &&
            st->kids[i].monitor == d->monitor)
            break;
    if (i == st->n)
        return TR_OK; /* not (or no longer) one of ours */
    sup_child *k = &st->kids[i];
    k->running = false;
    if (st->shutting_down) { /* no restarts: on to the next child */
        k->stopping = false;
        if (st->pool)
            forget_child(st, i);
        stop_next_child(self, st);
        return TR_OK;
    }
    if (k->terminating) { /* tr_supervisor_terminate_child: ends for good */
        k->terminating = false;
        k->removed = true;
        bool group_member = k->stopping;
        k->stopping = false;
        if (st->pool)
            forget_child(st, i);
        if (group_member && --st->pending_stops == 0 && st->group)
            return finish_group(self, st);
        return TR_OK;
    }
    if (k->stopping) { /* part of a group restart we started */
        k->stopping = false;
        if (--st->pending_stops == 0 && st->group)
            return finish_group(self, st);
        return TR_OK;
    }
    if (!wants_restart(k, d->reason)) {
        report_action(self, st, k, d, "not restarted (temporary child)");
        if (k->spec->restart == TR_TEMPORARY)
            k->removed = true;
        if (st->pool)
            forget_child(st, i);
        return TR_OK;
    }
    if (!restart_allowed(st)) {
        report_action(self, st, k, d,
                      "restart intensity exceeded: the supervisor gives up and fails");
        return TR_EINTENSITY; /* escalate: we fail, our children are stopped */
    }
    report_action(self, st, k, d,
                  st->flags.strategy == TR_ONE_FOR_ALL    ? "restarting all children"
                  : st->flags.strategy == TR_REST_FOR_ONE ? "restarting it and the children after it"
                                                          : "restarting it");
    switch (st->flags.strategy) {
    case TR_ONE_FOR_ALL: return restart_group(self, st, 0);
    case TR_REST_FOR_ONE: return restart_group(self, st, i);
    default: return st->group && i >= st->group_from ? TR_OK : restart_child(self, st, i);
    }
}

static int which_child(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    const char *id = msg->data;
    if (msg->size == 0 || id[msg->size - 1] != '\0')
        return tr_reply(self, msg, NULL, 0);
    for (size_t i = 0; i < st->n; i++)
        if (st->kids[i].running && strcmp(st->kids[i].spec->id, id) == 0)
            return tr_reply(self, msg, &st->kids[i].ref, sizeof(tr_ref));
    return tr_reply(self, msg, NULL, 0);
}

/* A pool grows by one child from its template; replies a tr_sup_started. */
static int start_pool_child(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_sup_started r = {.rc = TR_EINVAL};
    if (!st->pool || msg->size != sizeof(void *))
        return tr_reply(self, msg, &r, sizeof(r));
    if (st->n == st->cap) {
        size_t cap = st->cap * 2;
        sup_child *grown = realloc(st->kids, cap * sizeof(*grown));
        if (grown == NULL) {
            r.rc = TR_ENOMEM;
            return tr_reply(self, msg, &r, sizeof(r));
        }
        st->kids = grown;
        st->cap = cap;
    }
    sup_child *k = &st->kids[st->n];
    *k = (sup_child){.spec = &st->spec->specs[0], .seq = st->next_seq++};
    memcpy(&k->arg, msg->data, sizeof(void *));
    r.rc = start_child(self, k);
    if (r.rc == TR_OK) {
        st->n++;
        r.child = k->ref;
    } else if (k->running || !tr_ref_is_none(k->ref)) {
        tr_kill(tr_ctx_system(self), k->ref); /* spawned but not watched: do not leak it */
    }
    return tr_reply(self, msg, &r, sizeof(r));
}

static int terminate_child(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    int rc = TR_ENOTFOUND;
    tr_ref ref;
    if (msg->size == sizeof(ref)) {
        memcpy(&ref, msg->data, sizeof(ref));
        for (size_t i = 0; i < st->n; i++) {
            sup_child *k = &st->kids[i];
            if (k->running && tr_ref_equal(k->ref, ref) && !k->terminating) {
                k->terminating = true;
                if (!k->stopping) /* else a group restart is stopping it already */
                    signal_stop(self, k);
                rc = TR_OK;
                break;
            }
        }
    }
    return tr_reply(self, msg, &rc, sizeof(rc));
}

static int which_children(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_ref *refs = malloc((st->n > 0 ? st->n : 1) * sizeof(*refs));
    if (refs == NULL)
        return tr_reply(self, msg, NULL, 0);
    size_t m = 0;
    for (size_t i = 0; i < st->n; i++)
        if (st->kids[i].running)
            refs[m++] = st->kids[i].ref;
    int rc = tr_reply(self, msg, refs, m * sizeof(*refs));
    free(refs);
    return rc;
}

static int sup_init(tr_ctx *self, void *state, void *arg)
{
    sup_state *st = state;
    st->spec = arg;
    st->flags = st->spec->flags;
    st->rng = tr_self(self).id * 0x9e3779b97f4a7c15ull + 1;
    st->pool = st->flags.strategy == TR_SIMPLE_ONE_FOR_ONE;
    st->n = st->pool ? 0 : st->spec->n; /* a pool starts empty */
    st->cap = st->n > 4 ? st->n : 4;
    st->next_seq = st->n;
    st->kids = calloc(st->cap, sizeof(*st->kids));
    st->restarts = malloc(((size_t)st->flags.intensity + 1) * sizeof(*st->restarts));
    if (st->kids == NULL || st->restarts == NULL) {
        st->n = 0;
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < st->n; i++) {
        st->kids[i].spec = &st->spec->specs[i];
        st->kids[i].arg = st->spec->specs[i].arg;
        st->kids[i].seq = i;
        int rc = start_child(self, &st->kids[i]);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int sup_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    sup_state *st = state;
    if (msg->type == TR_MSG_DOWN && msg->size == sizeof(tr_down))
        return on_down(self, st, msg->data);
    if (msg->type == TR_SUP_WHICH_CHILD)
        return which_child(self, st, msg);
    if (msg->type == TR_SUP_START_CHILD)
        return start_pool_child(self, st, msg);
    if (msg->type == TR_SUP_TERMINATE_CHILD)
        return terminate_child(self, st, msg);
    if (msg->type == TR_SUP_WHICH_CHILDREN)
        return which_children(self, st, msg);
    if (msg->type == TR_SUP_RESTART && msg->size == sizeof(uint64_t)) {
        uint64_t seq = *(const uint64_t *)msg->data;
        for (size_t i = 0; i < st->n; i++) {
            sup_child *k = &st->kids[i];
            if (k->seq == seq && k->delayed && !k->running && !st->shutting_down)
                return start_child(self, k);
        }
    }
    return TR_OK;
}

static void sup_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)reason;
    sup_state *st = state;
    free(st->kids);
    free(st->restarts);
    if (st->spec != NULL && st->spec->owned)
        tr_sup_spec_destroy(st->spec);
}

const tr_behaviour tr_supervisor_behaviour = {
    .init = sup_init,
    .handle = sup_handle,
    .terminate = sup_terminate,
    .state_size = sizeof(sup_state),
    .stopping = sup_stopping,
    .name = "supervisor",
};

void tr_sup_spec_destroy(tr_sup_spec *spec)
{
    if (spec == NULL)
        return;
    for (size_t i = 0; i < spec->n; i++)
        free((char *)spec->specs[i].id);
    free(spec->specs);
    free(spec);
}

int tr_sup_spec_create(const tr_sup_flags *flags, const tr_child_spec *specs, size_t n,
                       tr_sup_spec **out)
{
    if (flags == NULL || out == NULL || (n > 0 && specs == NULL) || n > 100000 ||
        (unsigned)flags->strategy > TR_SIMPLE_ONE_FOR_ONE ||
        (flags->strategy == TR_SIMPLE_ONE_FOR_ONE && n != 1))
        return TR_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (specs[i].id == NULL || specs[i].beh == NULL || specs[i].beh->handle == NULL ||
            (unsigned)specs[i].restart > TR_TEMPORARY)
            return TR_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[i].id, specs[j].id) == 0)
                return TR_EINVAL;
    }
    tr_sup_spec *spec = calloc(1, sizeof(*spec));
    if (spec == NULL || (spec->specs = calloc(n > 0 ? n : 1, sizeof(*spec->specs))) == NULL) {
        free(spec);
        return TR_ENOMEM;
    }
    spec->flags = *flags;
    if (spec->flags.period_ms == 0)
        spec->flags.period_ms = 5000;
    if (spec->flags.intensity == 0 && flags->period_ms == 0)
        spec->flags.intensity = 1; /* Erlang's default: 1 restart in 5 s */
    for (size_t i = 0; i < n; i++) {
        spec->specs[i] = specs[i];
        spec->specs[i].opts.name = NULL; /* names default to the id */
        if ((spec->specs[i].id = strdup(specs[i].id)) == NULL) {
            spec->n = i;
            tr_sup_spec_destroy(spec);
            return TR_ENOMEM;
        }
    }
    spec->n = n;
    *out = spec;
    return TR_OK;
}

int tr_supervisor_start(tr_system *sys, const tr_sup_flags *flags, const tr_child_spec *specs,
                        size_t n, const tr_spawn_opts *opts, tr_ref *out)
{
    if (sys == NULL)
        return TR_EINVAL;
    tr_sup_spec *spec;
    int rc = tr_sup_spec_create(flags, specs, n, &spec);
    if (rc != TR_OK)
        return rc;
    spec->owned = true;
    rc = tr_spawn(sys, &tr_supervisor_behaviour, spec, opts, out);
    if (rc != TR_OK)
        tr_sup_spec_destroy(spec); /* init never ran: the spec is still ours */
    return rc;
}

int tr_supervisor_child(tr_system *sys, tr_ref sup, const char *id, int timeout_ms, tr_ref *child)
{
    if (sys == NULL || id == NULL || child == NULL)
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, sup, TR_SUP_WHICH_CHILD, id, strlen(id) + 1, timeout_ms, &reply, &size);
    if (rc != TR_OK)
        return rc;
    if (size != sizeof(tr_ref)) {
        free(reply);
        return TR_ENOTFOUND;
    }
    memcpy(child, reply, sizeof(*child));
    free(reply);
    return TR_OK;
}

/* Supervisors: an ordinary actor whose state is its children. Every decision
 * is taken in the supervisor's own handler (a DOWN, a child's PONG, a
 * request), so nothing here needs a lock or blocks a worker.
 *
 * Like OTP's supervisor, which is one process blocking on each start and
 * each stop, a supervisor has at most one child in flight (`current`): the
 * child being started (spawned, pinged; its init has not returned yet) or
 * being stopped for a group restart or a shutdown. What to do next is
 * decided by advance() from the phase:
 *   STARTING     initial start: the next spec in list order;
 *   RUNNING      the next child due for a restart or a requested start, or a
 *                pending group restart;
 *   GROUP_STOP   a group restart (one-for-all, rest-for-one) stops its
 *                members one at a time, last started first;
 *   GROUP_START  ... then starts them one at a time in list order;
 *   SHUTDOWN     a graceful stop, or a failure (restart intensity, the
 *                initial start): children stop one at a time, last started
 *                first; a failing supervisor then fails with its reason.
 * A child stopped by its supervisor is stopped with tr_stop, so it arms its
 * own drain deadline (its shutdown time, the drain_timeout_ms it was spawned
 * with) and is killed when that passes; brutal_kill children are killed.
 * The runtime never stops a supervisor's children on its behalf except in a
 * kill: a graceful stop goes through tr_behaviour.stopping, a linked actor's
 * abnormal exit is trapped, and a failure is only declared once the children
 * are gone.
 *
 * Children are nodes of a list in start order (static children in spec
 * order; a pool appends) with a map from the live incarnation's reference
 * to its node, so a DOWN, a terminate and a pool child's removal are O(1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/supervision.h"
#include "ds/list.h"
#include "ds/refmap.h"
#include "ds/rng.h"
#include "ds/vec.h"
#include "supervisor/supervisor_impl.h"
#include "troupe/link.h"
#include "troupe/log.h"
#include "troupe/monitor.h"
#include "troupe/registry.h"
#include "troupe/supervisor.h"
#include "troupe/timer.h"

struct tr_sup_spec {
    tr_sup_flags flags; /* defaults filled in */
    size_t n;
    tr_child_spec *specs; /* ids and names owned */
    bool owned; /* made by tr_supervisor_start: freed with its supervisor */
};

/* ---- the child state machine ---- */

typedef enum child_state {
    CHILD_IDLE,     /* no incarnation, nothing due: not started yet, terminated, ended for good */
    CHILD_DUE,      /* to be started when its turn comes (in the due queue) */
    CHILD_BACKOFF,  /* to be queued when its backoff timer fires */
    CHILD_GROUPED,  /* down, to be started again with its group (group restart) */
    CHILD_STARTING, /* spawned and watched; its init (a supervisor: its start) not over */
    CHILD_RUNNING,  /* started and watched */
    CHILD_STOPPING, /* stopped by us, not to be restarted; its DOWN is awaited */
    CHILD_CYCLING,  /* stopped by us for a group restart; its DOWN is awaited */
    CHILD_STATES
} child_state;

#define S(x) (1u << CHILD_##x)
/* allowed[from] = the states a child may move to from `from`: every state
 * change goes through child_move, which checks this table. */
static const unsigned allowed[CHILD_STATES] = {
    [CHILD_IDLE] = S(DUE) | S(STARTING),
    [CHILD_DUE] = S(STARTING) | S(GROUPED) | S(IDLE),
    [CHILD_BACKOFF] = S(DUE) | S(GROUPED) | S(IDLE),
    [CHILD_GROUPED] = S(STARTING) | S(IDLE),
    [CHILD_STARTING] = S(RUNNING) | S(STOPPING) | S(CYCLING) | S(IDLE) | S(DUE) | S(BACKOFF) |
                       S(GROUPED),
    [CHILD_RUNNING] = S(STOPPING) | S(CYCLING) | S(IDLE) | S(DUE) | S(BACKOFF) | S(GROUPED),
    [CHILD_STOPPING] = S(IDLE),
    [CHILD_CYCLING] = S(GROUPED) | S(STOPPING) | S(IDLE),
};
#undef S

static const char *const state_names[CHILD_STATES] = {
    "idle", "due", "backoff", "grouped", "starting", "running", "stopping", "cycling"};

/* Who waits for a child's start: an asker (tr_reply) or nobody (corr 0). */
typedef struct sup_reply {
    tr_ref to;
    uint64_t corr;
    uint32_t type; /* the request's type, for tr_reply */
} sup_reply;

typedef struct sup_child {
    tr_list_node in_order;                 /* sup_state.kids: start order */
    tr_list_node in_due;                   /* sup_state.due (CHILD_DUE only) */
    const tr_child_spec *spec;             /* in the tr_sup_spec */
    void *arg;                             /* init's arg: the spec's, or a pool child's own */
    size_t index;                          /* position in the start order at insertion */
    uint64_t incarnation;                  /* bumped at each spawn; names backoff timers */
    tr_ref ref;                            /* live incarnation (STARTING..CYCLING) */
    child_state state;
    int start_error;                       /* overrides the DOWN reason of a failed start */
    uint32_t restarts;
    uint32_t quick_restarts; /* backoff: restarts since it last ran long enough */
    uint64_t started_ms;
    sup_reply waiter; /* a start_child / restart_child asker */
} sup_child;

typedef enum sup_phase {
    PHASE_STARTING,
    PHASE_RUNNING,
    PHASE_GROUP_STOP,
    PHASE_GROUP_START,
    PHASE_SHUTDOWN
} sup_phase;

static const char *const phase_names[] = {"starting", "running", "group-stop", "group-start",
                                          "shutdown"};

/* Restart times within the last period, coalesced per millisecond: at most
 * period_ms entries whatever the intensity (OTP keeps one per restart). */
typedef struct restart_log {
    struct stamp {
        uint64_t ms;
        uint64_t n;
    } *e;
    size_t head, len, cap;
    uint64_t total; /* restarts in the window */
} restart_log;

typedef struct sup_state {
    tr_sup_spec *spec;
    tr_sup_flags flags;
    bool pool; /* TR_SIMPLE_ONE_FOR_ONE */
    tr_list kids; /* sup_child.in_order, in start order */
    size_t nkids;
    size_t next_index;
    tr_list due; /* sup_child.in_due: the children to start, oldest first */
    tr_refmap live;      /* ref.id -> child, for each live incarnation */
    sup_child *current;  /* the child being started or stopped, if any */
    sup_child *cursor;   /* STARTING / GROUP_START: the next candidate in list order */
    sup_phase phase;
    size_t group_from;   /* GROUP_*: the first member's index */
    bool group_pending;  /* a group restart waits for the current work */
    size_t pending_from;
    int fail_reason;     /* SHUTDOWN: fail with this once the children are gone (0: graceful) */
    int start_result;    /* the initial start's outcome, once it is over */
    TR_VEC(sup_reply) start_waiters;
    restart_log restarts;
    uint64_t restarts_total;
    uint64_t rng; /* jitter for backoff (ds/rng.h) */
} sup_state;

/* One line through the logging hook (troupe/log.h), like OTP's supervisor
 * reports: which supervisor, which child, what happened, what it does. */
static void sup_log(tr_ctx *self, tr_log_level level, const sup_child *k, const char *what,
                    int reason, const char *action)
{
    if (!tr_log_enabled(level))
        return;
    char name[TR_NAME_MAX];
    if (tr_actor_name(tr_ctx_system(self), tr_self(self), name, sizeof(name)) != TR_OK ||
        name[0] == '\0')
        snprintf(name, sizeof(name), "%llx", (unsigned long long)tr_self(self).id);
    if (k != NULL)
        tr_log(level, "supervisor", "supervisor '%s': child '%s' %s (%s): %s", name,
               k->spec->id, what, tr_strerror(reason), action);
    else
        tr_log(level, "supervisor", "supervisor '%s': %s (%s): %s", name, what,
               tr_strerror(reason), action);
}

/* The supervisor's half of a crash report (the child's half is logged by
 * the runtime as it fails, actors/crash.c): what this supervisor does about
 * a child that ended abnormally, with its restart budget. */
static void report_action(tr_ctx *self, const sup_state *st, const sup_child *k, tr_ref child,
                          int reason, const char *action)
{
    if (reason == TR_OK || reason == TR_ESHUTDOWN || reason == TR_ECANCELLED ||
        !tr_crash_reports_on(tr_ctx_system(self)))
        return;
    char me[TR_REF_FORMAT_MAX], ref[TR_REF_FORMAT_MAX], name[TR_NAME_MAX];
    if (tr_actor_name(tr_ctx_system(self), tr_self(self), name, sizeof(name)) != TR_OK)
        name[0] = '\0';
    tr_log(TR_LOG_ERROR, "supervisor",
           "supervisor '%s' %s: child '%s' %s ended with reason %d '%s': %s (%llu of %u restarts "
           "in %u ms used)",
           name, tr_ref_format(tr_self(self), me, sizeof(me)), k->spec->id,
           tr_ref_format(child, ref, sizeof(ref)), reason, tr_strerror(reason), action,
           (unsigned long long)st->restarts.total, st->flags.intensity, st->flags.period_ms);
}

static bool is_live(child_state s)
{
    return s == CHILD_STARTING || s == CHILD_RUNNING || s == CHILD_STOPPING || s == CHILD_CYCLING;
}

/* The child of a start-order node (NULL for NULL), and its neighbours. */
static sup_child *kid_of(tr_list_node *n)
{
    return n != NULL ? TR_CONTAINER_OF(n, sup_child, in_order) : NULL;
}
static sup_child *first_kid(const sup_state *st) { return kid_of(st->kids.first); }
static sup_child *last_kid(const sup_state *st) { return kid_of(st->kids.last); }
static sup_child *next_kid(const sup_child *k) { return kid_of(k->in_order.next); }
static sup_child *prev_kid(const sup_child *k) { return kid_of(k->in_order.prev); }

/* The one place a child changes state: checks the transition, keeps the due
 * queue in step (a child is in it exactly while CHILD_DUE). */
static void child_move(sup_state *st, sup_child *k, child_state to)
{
    if (!(allowed[k->state] & (1u << to))) {
        fprintf(stderr, "troupe: supervisor: bad child transition %s -> %s\n",
                state_names[k->state], state_names[to]);
        abort();
    }
    if (k->state == CHILD_DUE)
        tr_list_remove(&st->due, &k->in_due);
    k->state = to;
    if (to == CHILD_DUE)
        tr_list_append(&st->due, &k->in_due);
}

/* ---- children list ---- */

static sup_child *child_add(sup_state *st, const tr_child_spec *spec, void *arg)
{
    sup_child *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    k->spec = spec;
    k->arg = arg;
    k->index = st->next_index++;
    k->state = CHILD_IDLE;
    tr_list_append(&st->kids, &k->in_order);
    st->nkids++;
    return k;
}

/* Removes and frees a child without a live incarnation. O(1). */
static void child_forget(sup_state *st, sup_child *k)
{
    if (k->state == CHILD_DUE)
        tr_list_remove(&st->due, &k->in_due);
    if (st->cursor == k)
        st->cursor = next_kid(k);
    tr_list_remove(&st->kids, &k->in_order);
    st->nkids--;
    free(k);
}

static sup_child *child_by_id(sup_state *st, const char *id)
{
    for (sup_child *k = first_kid(st); k != NULL; k = next_kid(k))
        if (strcmp(k->spec->id, id) == 0)
            return k;
    return NULL;
}

/* ---- replies ---- */

static void reply_to(tr_ctx *self, const sup_reply *w, const void *data, size_t size)
{
    if (w->corr == 0)
        return;
    tr_msg req = {.type = w->type, .sender = w->to, .corr = w->corr};
    tr_reply(self, &req, data, size);
}

static sup_reply reply_of(const tr_msg *msg)
{
    return (sup_reply){.to = msg->sender, .corr = msg->corr, .type = msg->type};
}

/* Tells a start_child / restart_child asker how its start went. */
static void answer_start(tr_ctx *self, sup_child *k, int rc)
{
    if (k->waiter.corr == 0)
        return;
    tr_sup_started r = {.rc = rc, .child = rc == TR_OK ? k->ref : TR_REF_NONE};
    reply_to(self, &k->waiter, &r, sizeof(r));
    k->waiter = (sup_reply){0};
}

/* The initial start is over: tell everyone who waits for it. A plain
 * waiter (a parent supervisor, the start waiter) hears of success only. */
static void answer_start_waiters(tr_ctx *self, sup_state *st, int rc)
{
    st->start_result = rc;
    for (uint32_t i = 0; i < st->start_waiters.len; i++) {
        sup_reply *w = &st->start_waiters.at[i];
        if (w->corr != 0)
            reply_to(self, w, &rc, sizeof(rc));
        else if (rc == TR_OK)
            tr_send(self, w->to, TR_MSG_PONG, NULL, 0);
    }
    tr_vec_free(&st->start_waiters);
}

/* ---- restart intensity ---- */

/* Records a restart; false when that exceeds the intensity budget. Both
 * are counted in the system's metrics (tr_metrics.supervisor_*). */
static bool restart_allowed(tr_ctx *self, sup_state *st)
{
    restart_log *l = &st->restarts;
    uint64_t now = tr_now_ms();
    while (l->len > 0 && now - l->e[l->head].ms >= st->flags.period_ms) {
        l->total -= l->e[l->head].n;
        l->head = (l->head + 1) % l->cap;
        l->len--;
    }
    if (l->total + 1 > st->flags.intensity) {
        tr_metrics_supervisor_escalation(self->sys);
        return false;
    }
    l->total++;
    st->restarts_total++;
    tr_metrics_supervisor_restart(self);
    if (l->len > 0) {
        struct stamp *last = &l->e[(l->head + l->len - 1) % l->cap];
        if (last->ms == now) {
            last->n++;
            return true;
        }
    }
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct stamp *grown = malloc(cap * sizeof(*grown));
        if (grown == NULL) { /* keep counting in the newest stamp: a bit longer memory */
            l->e[(l->head + l->len - 1) % l->cap].n++;
            return true;
        }
        for (size_t i = 0; i < l->len; i++)
            grown[i] = l->e[(l->head + i) % l->cap];
        free(l->e);
        l->e = grown;
        l->cap = cap;
        l->head = 0;
    }
    l->e[(l->head + l->len) % l->cap] = (struct stamp){.ms = now, .n = 1};
    l->len++;
    return true;
}

/* TR_ESHUTDOWN and TR_ECANCELLED are ordered shutdowns: normal for a
 * transient child (a cancelled token means "stop", not "crashed"). */
static bool wants_restart(const sup_child *k, int reason)
{
    switch (k->spec->restart) {
    case TR_PERMANENT: return true;
    case TR_TRANSIENT: return reason != TR_OK && reason != TR_ESHUTDOWN && reason != TR_ECANCELLED;
    default: return false;
    }
}

/* ---- starting and stopping one child ---- */

static uint32_t shutdown_of(const tr_child_spec *spec)
{
    if (spec->shutdown_ms != 0)
        return spec->shutdown_ms;
    return spec->is_supervisor || spec->beh == &tr_supervisor_behaviour ? TR_SHUTDOWN_INFINITY
                                                                         : 5000;
}

/* Spawns k, watches it, names it and asks to hear when its start is over.
 * On failure k is left without an incarnation and the error is returned. */
static int spawn_child(tr_ctx *self, sup_state *st, sup_child *k)
{
    tr_system *sys = tr_ctx_system(self);
    const tr_child_spec *spec = k->spec;
    tr_ref taken;
    if (spec->name != NULL && tr_whereis(sys, spec->name, &taken) == TR_OK)
        return TR_EEXIST;
    tr_spawn_opts o = spec->opts;
    o.parent = tr_self(self);
    o.name = spec->name != NULL ? spec->name : spec->id;
    o.drain_timeout_ms = shutdown_of(spec);
    tr_ref ref;
    int rc = tr_spawn(sys, spec->beh, k->arg, &o, &ref);
    if (rc != TR_OK)
        return rc;
    if ((rc = tr_monitor(sys, tr_self(self), ref, NULL)) != TR_OK ||
        tr_refmap_put(&st->live, ref.id, k) != 0) {
        tr_kill(sys, ref); /* not watched: do not leave it behind */
        return rc != TR_OK ? rc : TR_ENOMEM;
    }
    k->ref = ref;
    k->incarnation++;
    k->start_error = TR_OK;
    k->started_ms = tr_now_ms();
    if (spec->name != NULL && (rc = tr_register(sys, spec->name, ref)) != TR_OK) {
        k->start_error = rc; /* lost a race for the name: its DOWN fails the start */
        tr_kill(sys, ref);
        return TR_OK;
    }
    /* a child supervisor answers once its own children have started */
    if (spec->beh == &tr_supervisor_behaviour)
        rc = tr_send(self, ref, TR_SUP_AWAIT_STARTED, NULL, 0);
    else
        rc = tr_ping(self, ref);
    if (rc != TR_OK) {
        k->start_error = rc;
        tr_kill(sys, ref);
    }
    return TR_OK;
}

static void signal_stop(tr_ctx *self, sup_child *k)
{
    tr_system *sys = tr_ctx_system(self);
    if (k->spec->brutal_kill)
        tr_kill(sys, k->ref);
    else
        tr_stop(sys, k->ref); /* the child arms its own deadline: its shutdown time */
}

/* The child's next restart: queued at once, or after its backoff. */
static void schedule_restart(tr_ctx *self, sup_state *st, sup_child *k)
{
    uint32_t initial = k->spec->backoff_initial_ms, max = k->spec->backoff_max_ms;
    if (initial == 0) {
        child_move(st, k, CHILD_DUE);
        return;
    }
    if (max < initial)
        max = initial;
    if (tr_now_ms() - k->started_ms > max)
        k->quick_restarts = 0; /* it ran long enough: start over */
    uint64_t delay = initial;
    for (uint32_t n = 0; n < k->quick_restarts && delay < max; n++)
        delay *= 2;
    if (delay > max)
        delay = max;
    k->quick_restarts++;
    delay = delay / 2 + (delay / 2) * (tr_rng_next(&st->rng) % 1001) / 1000; /* jitter: 50%..100% */
    /* the node outlives the timer: a BACKOFF child is only freed in a
     * shutdown, where TR_SUP_RESTART is ignored */
    struct {
        sup_child *k;
        uint64_t incarnation;
    } t = {k, k->incarnation};
    if (tr_send_after(tr_ctx_system(self), tr_self(self), TR_SUP_RESTART, &t, sizeof(t),
                      (uint32_t)delay, NULL) == TR_OK)
        child_move(st, k, CHILD_BACKOFF);
    else
        child_move(st, k, CHILD_DUE); /* no timer: restart at once rather than never */
}

/* ---- phases ---- */

static void enter_shutdown(tr_ctx *self, sup_state *st, int reason)
{
    if (st->phase == PHASE_SHUTDOWN) {
        if (st->fail_reason == TR_OK)
            st->fail_reason = reason;
        return;
    }
    if (st->phase == PHASE_STARTING)
        answer_start_waiters(self, st, reason != TR_OK ? reason : TR_ESHUTDOWN);
    st->phase = PHASE_SHUTDOWN;
    st->fail_reason = reason;
    st->group_pending = false;
    st->cursor = NULL;
    if (st->current != NULL && st->current->state == CHILD_STARTING)
        st->current = NULL; /* its start is abandoned: it is stopped in turn */
    for (sup_child *k = first_kid(st), *next; k != NULL; k = next) {
        next = next_kid(k);
        switch (k->state) {
        case CHILD_DUE:
        case CHILD_BACKOFF:
        case CHILD_GROUPED:
            answer_start(self, k, TR_ESTOPPING);
            child_move(st, k, CHILD_IDLE);
            if (st->pool)
                child_forget(st, k);
            break;
        case CHILD_CYCLING: child_move(st, k, CHILD_STOPPING); break;
        default: break;
        }
    }
}

/* A group restart from index `from` (one-for-all: 0): after the current work. */
static void request_group(sup_state *st, size_t from)
{
    if (!st->group_pending || from < st->pending_from)
        st->pending_from = from;
    st->group_pending = true;
}

/* The restart intensity is reached (OTP's shutdown on reached_max_restart_intensity):
 * k stays down (a pool forgets it), the other children stop, then the supervisor
 * fails with TR_EINTENSITY. */
static void give_up(tr_ctx *self, sup_state *st, sup_child *k)
{
    child_move(st, k, CHILD_IDLE);
    if (st->pool)
        child_forget(st, k);
    enter_shutdown(self, st, TR_EINTENSITY);
}

/* A start failed (init error, spawn error, lost name): what that means
 * depends on why the child was being started. k has no incarnation. */
static void start_failed(tr_ctx *self, sup_state *st, sup_child *k, int reason)
{
    if (st->current == k)
        st->current = NULL;
    switch (st->phase) {
    case PHASE_STARTING: /* start_link: return the error, start nothing after it */
        sup_log(self, TR_LOG_ERROR, k, "failed to start", reason,
                "start aborted, the children before it stopped");
        child_move(st, k, CHILD_IDLE);
        enter_shutdown(self, st, reason);
        return;
    case PHASE_SHUTDOWN:
        answer_start(self, k, TR_ESTOPPING);
        child_move(st, k, CHILD_IDLE);
        if (st->pool || k->spec->restart == TR_TEMPORARY)
            child_forget(st, k);
        return;
    default: break;
    }
    if (k->waiter.corr != 0) {
        /* a requested start (start_child, restart_child): the asker gets the
         * error, the child is not kept, nothing is retried */
        answer_start(self, k, reason);
        child_move(st, k, CHILD_IDLE);
        if (st->pool)
            child_forget(st, k);
        return;
    }
    if (k->spec->restart == TR_TEMPORARY) {
        child_move(st, k, CHILD_IDLE);
        child_forget(st, k);
        return;
    }
    /* a restart that failed: OTP's try_again, which counts as a restart */
    sup_log(self, TR_LOG_WARN, k, "failed to restart", reason, "trying again");
    if (!restart_allowed(self, st)) {
        sup_log(self, TR_LOG_ERROR, NULL, "reached its restart intensity", reason,
                "stopping its children, then failing");
        give_up(self, st, k);
        return;
    }
    k->restarts++;
    if (st->phase == PHASE_GROUP_START) {
        child_move(st, k, CHILD_GROUPED);
        st->phase = PHASE_GROUP_STOP; /* stop what this attempt started, then again */
        return;
    }
    schedule_restart(self, st, k);
}

/* Starts k (its state: IDLE, DUE or GROUPED) as the current child. */
static void begin_start(tr_ctx *self, sup_state *st, sup_child *k)
{
    int rc = spawn_child(self, st, k);
    if (rc != TR_OK) {
        child_move(st, k, CHILD_STARTING); /* a start that failed at once */
        start_failed(self, st, k, rc);
        return;
    }
    child_move(st, k, CHILD_STARTING);
    st->current = k;
}

/* The last live, not yet stopped child at or after `from` in list order. */
static sup_child *last_to_stop(sup_state *st, size_t from)
{
    for (sup_child *k = last_kid(st); k != NULL && k->index >= from; k = prev_kid(k))
        if (k->state == CHILD_RUNNING || k->state == CHILD_STARTING)
            return k;
    return NULL;
}

/* STARTING / GROUP_START: the first child from the cursor on that is in
 * `state`, the cursor moved past it; NULL (cursor unchanged) when none is. */
static sup_child *cursor_take(sup_state *st, child_state state)
{
    sup_child *k = st->cursor;
    while (k != NULL && k->state != state)
        k = next_kid(k);
    if (k != NULL)
        st->cursor = next_kid(k);
    return k;
}

/* Does the next piece of work while no child is in flight. Returns the
 * reason to fail with once a failing shutdown is over, else TR_OK. */
static int advance(tr_ctx *self, sup_state *st)
{
    while (st->current == NULL) {
        switch (st->phase) {
        case PHASE_STARTING: {
            sup_child *k = cursor_take(st, CHILD_IDLE);
            if (k == NULL) {
                st->phase = PHASE_RUNNING;
                answer_start_waiters(self, st, TR_OK);
                continue;
            }
            begin_start(self, st, k);
            continue;
        }
        case PHASE_RUNNING:
            if (st->group_pending) {
                st->group_pending = false;
                st->group_from = st->pending_from;
                st->phase = PHASE_GROUP_STOP;
                continue;
            }
            if (st->due.first == NULL)
                return TR_OK;
            begin_start(self, st, TR_CONTAINER_OF(st->due.first, sup_child, in_due));
            continue;
        case PHASE_GROUP_STOP: {
            sup_child *k = last_to_stop(st, st->group_from);
            if (k != NULL) {
                child_move(st, k, CHILD_CYCLING);
                signal_stop(self, k);
                st->current = k;
                continue;
            }
            /* every member is down: those due or backing off join the group */
            for (sup_child *m = first_kid(st); m != NULL; m = next_kid(m))
                if (m->index >= st->group_from &&
                    (m->state == CHILD_DUE || m->state == CHILD_BACKOFF))
                    child_move(st, m, CHILD_GROUPED);
            st->phase = PHASE_GROUP_START;
            st->cursor = first_kid(st);
            continue;
        }
        case PHASE_GROUP_START: {
            sup_child *k = cursor_take(st, CHILD_GROUPED);
            if (k == NULL) {
                st->phase = PHASE_RUNNING;
                st->cursor = NULL;
                continue;
            }
            begin_start(self, st, k);
            continue;
        }
        case PHASE_SHUTDOWN: {
            sup_child *k = last_to_stop(st, 0);
            if (k != NULL) {
                child_move(st, k, CHILD_STOPPING);
                signal_stop(self, k);
                st->current = k;
                continue;
            }
            if (st->live.n > 0)
                return TR_OK; /* terminate_child stops still in flight */
            return st->fail_reason;
        }
        }
    }
    return TR_OK;
}

/* ---- events ---- */

/* The child's start is over (its PONG). */
static void child_started(tr_ctx *self, sup_state *st, sup_child *k)
{
    child_move(st, k, CHILD_RUNNING);
    answer_start(self, k, TR_OK);
    if (st->current == k)
        st->current = NULL;
}

/* A live child ended with `reason`. */
static void child_down(tr_ctx *self, sup_state *st, sup_child *k, int reason)
{
    tr_ref ended = k->ref;
    tr_refmap_del(&st->live, k->ref.id);
    k->ref = TR_REF_NONE;
    if (st->current == k)
        st->current = NULL;
    switch (k->state) {
    case CHILD_STARTING:
        start_failed(self, st, k, k->start_error != TR_OK ? k->start_error : reason);
        return;
    case CHILD_STOPPING: /* stopped by us: ends for good */
        child_move(st, k, CHILD_IDLE);
        if (st->pool || k->spec->restart == TR_TEMPORARY)
            child_forget(st, k);
        return;
    case CHILD_CYCLING:
        if (k->spec->restart == TR_TEMPORARY) { /* OTP: not restarted with the group */
            child_move(st, k, CHILD_IDLE);
            child_forget(st, k);
        } else {
            child_move(st, k, CHILD_GROUPED);
        }
        return;
    default: break; /* RUNNING: it ended on its own */
    }
    if (st->phase == PHASE_SHUTDOWN) {
        child_move(st, k, CHILD_IDLE);
        if (st->pool || k->spec->restart == TR_TEMPORARY)
            child_forget(st, k);
        return;
    }
    if (st->phase == PHASE_GROUP_STOP && k->index >= st->group_from) {
        /* a member about to be stopped ended first: restarted with the group */
        child_move(st, k, k->spec->restart == TR_TEMPORARY ? CHILD_IDLE : CHILD_GROUPED);
        if (k->spec->restart == TR_TEMPORARY)
            child_forget(st, k);
        return;
    }
    if (!wants_restart(k, reason)) {
        report_action(self, st, k, ended, reason,
                      k->spec->restart == TR_TEMPORARY ? "not restarted (temporary child)"
                                                       : "not restarted");
        child_move(st, k, CHILD_IDLE);
        if (st->pool || k->spec->restart == TR_TEMPORARY)
            child_forget(st, k); /* OTP forgets temporary children */
        return;
    }
    if (!restart_allowed(self, st)) {
        report_action(self, st, k, ended, reason,
                      "restart intensity exceeded: the supervisor stops its other children, "
                      "then fails");
        give_up(self, st, k);
        return;
    }
    k->restarts++;
    report_action(self, st, k, ended, reason,
                  st->flags.strategy == TR_ONE_FOR_ALL    ? "restarting all children"
                  : st->flags.strategy == TR_REST_FOR_ONE ? "restarting it and the children after it"
                                                          : "restarting it");
    switch (st->flags.strategy) {
    case TR_ONE_FOR_ALL:
    case TR_REST_FOR_ONE:
        child_move(st, k, CHILD_GROUPED);
        request_group(st, st->flags.strategy == TR_ONE_FOR_ALL ? 0 : k->index);
        return;
    default: schedule_restart(self, st, k); return;
    }
}

static int on_down(tr_ctx *self, sup_state *st, const tr_down *d)
{
    sup_child *k = tr_refmap_get(&st->live, d->actor.id);
    if (k == NULL)
        return TR_OK; /* not (or no longer) one of ours */
    child_down(self, st, k, d->reason);
    return advance(self, st);
}

static int on_pong(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    sup_child *k = tr_refmap_get(&st->live, msg->sender.id);
    if (k != NULL && k->state == CHILD_STARTING) {
        child_started(self, st, k);
        return advance(self, st);
    }
    return TR_OK; /* a start abandoned by a stop */
}

static int on_backoff_timer(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    struct {
        sup_child *k;
        uint64_t incarnation;
    } t;
    if (msg->size != sizeof(t) || st->phase == PHASE_SHUTDOWN)
        return TR_OK; /* in a shutdown the node may be gone */
    memcpy(&t, msg->data, sizeof(t));
    if (t.k->state != CHILD_BACKOFF || t.k->incarnation != t.incarnation)
        return TR_OK;
    child_move(st, t.k, CHILD_DUE);
    return advance(self, st);
}

/* ---- requests ---- */

static int which_child(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    const char *id = msg->data;
    if (msg->size == 0 || id[msg->size - 1] != '\0')
        return tr_reply(self, msg, NULL, 0);
    for (sup_child *k = first_kid(st); k != NULL; k = next_kid(k))
        if ((k->state == CHILD_RUNNING || k->state == CHILD_STARTING) &&
            strcmp(k->spec->id, id) == 0)
            return tr_reply(self, msg, &k->ref, sizeof(tr_ref));
    return tr_reply(self, msg, NULL, 0);
}

/* A pool grows by one child from its template, started in turn. */
static int start_pool_child(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_sup_started r = {.rc = TR_EINVAL};
    if (!st->pool || msg->size != sizeof(void *))
        return tr_reply(self, msg, &r, sizeof(r));
    if (st->phase == PHASE_SHUTDOWN) {
        r.rc = TR_ESTOPPING;
        return tr_reply(self, msg, &r, sizeof(r));
    }
    void *arg;
    memcpy(&arg, msg->data, sizeof(arg));
    sup_child *k = child_add(st, &st->spec->specs[0], arg);
    if (k == NULL) {
        r.rc = TR_ENOMEM;
        return tr_reply(self, msg, &r, sizeof(r));
    }
    k->waiter = reply_of(msg);
    child_move(st, k, CHILD_DUE);
    return advance(self, st);
}

static int restart_child_request(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_sup_started r = {.rc = TR_EINVAL};
    const char *id = msg->data;
    if (st->pool || msg->size == 0 || id[msg->size - 1] != '\0')
        return tr_reply(self, msg, &r, sizeof(r));
    sup_child *k = child_by_id(st, id);
    if (st->phase == PHASE_SHUTDOWN)
        r.rc = TR_ESTOPPING;
    else if (k == NULL)
        r.rc = TR_ENOTFOUND;
    else if (k->state != CHILD_IDLE)
        r.rc = TR_EEXIST;
    else
        r.rc = TR_OK;
    if (r.rc != TR_OK)
        return tr_reply(self, msg, &r, sizeof(r));
    k->waiter = reply_of(msg);
    child_move(st, k, CHILD_DUE);
    return advance(self, st);
}

static int delete_child_request(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    int rc = TR_EINVAL;
    const char *id = msg->data;
    if (!st->pool && msg->size > 0 && id[msg->size - 1] == '\0') {
        sup_child *k = child_by_id(st, id);
        if (k == NULL)
            rc = TR_ENOTFOUND;
        else if (k->state != CHILD_IDLE)
            rc = TR_EEXIST;
        else {
            child_forget(st, k);
            rc = TR_OK;
        }
    }
    return tr_reply(self, msg, &rc, sizeof(rc));
}

static int terminate_child(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    int rc = TR_ENOTFOUND;
    tr_ref ref;
    if (msg->size == sizeof(ref)) {
        memcpy(&ref, msg->data, sizeof(ref));
        sup_child *k = tr_refmap_get(&st->live, ref.id);
        if (k != NULL && k->state != CHILD_STOPPING) {
            if (k->state != CHILD_CYCLING) /* else a group restart is stopping it already */
                signal_stop(self, k);
            if (k->state == CHILD_STARTING) {
                answer_start(self, k, TR_ESHUTDOWN);
                if (st->current == k)
                    st->current = NULL; /* its start is abandoned */
            }
            child_move(st, k, CHILD_STOPPING);
            rc = TR_OK;
        }
    }
    int sent = tr_reply(self, msg, &rc, sizeof(rc));
    int adv = advance(self, st);
    return adv != TR_OK ? adv : sent;
}

static int which_children(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_ref *refs = malloc((st->nkids > 0 ? st->nkids : 1) * sizeof(*refs));
    if (refs == NULL)
        return tr_reply(self, msg, NULL, 0);
    size_t m = 0;
    for (sup_child *k = first_kid(st); k != NULL; k = next_kid(k))
        if (k->state == CHILD_RUNNING || k->state == CHILD_STARTING)
            refs[m++] = k->ref;
    int rc = tr_reply(self, msg, refs, m * sizeof(*refs));
    free(refs);
    return rc;
}

static tr_child_status status_of(child_state s)
{
    switch (s) {
    case CHILD_RUNNING: return TR_CHILD_RUNNING;
    case CHILD_STARTING: return TR_CHILD_STARTING;
    case CHILD_DUE:
    case CHILD_BACKOFF:
    case CHILD_GROUPED:
    case CHILD_CYCLING: return TR_CHILD_RESTARTING;
    case CHILD_STOPPING: return TR_CHILD_STOPPING;
    default: return TR_CHILD_STOPPED;
    }
}

static bool spec_is_supervisor(const tr_child_spec *spec)
{
    return spec->is_supervisor || spec->beh == &tr_supervisor_behaviour;
}

static int child_info(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_sup_child_info *out = calloc(st->nkids > 0 ? st->nkids : 1, sizeof(*out));
    if (out == NULL)
        return TR_OK; /* no reply: the asker times out */
    size_t m = 0;
    for (sup_child *k = first_kid(st); k != NULL; k = next_kid(k), m++) {
        snprintf(out[m].id, sizeof(out[m].id), "%s", k->spec->id);
        out[m].ref = k->ref;
        out[m].status = status_of(k->state);
        out[m].is_supervisor = spec_is_supervisor(k->spec);
        out[m].restarts = k->restarts;
    }
    int rc = tr_reply(self, msg, out, m * sizeof(*out));
    free(out);
    return rc;
}

static int count_children(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    tr_sup_counts c = {0};
    for (sup_child *k = first_kid(st); k != NULL; k = next_kid(k)) {
        c.specs++;
        c.active += is_live(k->state) && k->state != CHILD_STOPPING;
        if (spec_is_supervisor(k->spec))
            c.supervisors++;
        else
            c.workers++;
    }
    return tr_reply(self, msg, &c, sizeof(c));
}

static int await_started(tr_ctx *self, sup_state *st, const tr_msg *msg)
{
    sup_reply w = reply_of(msg);
    if (st->phase == PHASE_STARTING) {
        /* out of memory: cannot keep the promise, fail loudly */
        return tr_vec_push(&st->start_waiters, w) == 0 ? TR_OK : TR_ENOMEM;
    }
    if (w.corr != 0)
        reply_to(self, &w, &st->start_result, sizeof(st->start_result));
    else if (st->start_result == TR_OK)
        tr_send(self, w.to, TR_MSG_PONG, NULL, 0);
    return TR_OK;
}

/* ---- behaviour ---- */

static int sup_init(tr_ctx *self, void *state, void *arg)
{
    sup_state *st = state;
    st->spec = arg;
    st->flags = st->spec->flags;
    st->rng = tr_self(self).id * 0x9e3779b97f4a7c15ull + 1;
    st->pool = st->flags.strategy == TR_SIMPLE_ONE_FOR_ONE;
    st->phase = PHASE_STARTING;
    if (!st->pool) /* a pool starts empty */
        for (size_t i = 0; i < st->spec->n; i++)
            if (child_add(st, &st->spec->specs[i], st->spec->specs[i].arg) == NULL)
                return TR_ENOMEM;
    st->cursor = first_kid(st);
    /* as OTP's supervisors do: an abnormal exit of a linked actor makes us
     * stop our children in order and then fail with its reason, instead of
     * failing at once (the runtime would then stop them all together) */
    tr_trap_exits(self, true);
    return advance(self, st);
}

static int on_exit_signal(tr_ctx *self, sup_state *st, const tr_exit_signal *x)
{
    if (x->reason == TR_OK)
        return TR_OK; /* a normal exit of a linked actor does not concern us */
    sup_log(self, TR_LOG_ERROR, NULL, "a linked actor ended", x->reason,
            "stopping its children, then ending with that reason");
    enter_shutdown(self, st, x->reason);
    return advance(self, st);
}

static int sup_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    sup_state *st = state;
    switch (msg->type) {
    case TR_MSG_DOWN:
        return msg->size == sizeof(tr_down) ? on_down(self, st, msg->data) : TR_OK;
    case TR_MSG_PONG: return on_pong(self, st, msg);
    case TR_MSG_EXIT:
        return msg->size == sizeof(tr_exit_signal) ? on_exit_signal(self, st, msg->data) : TR_OK;
    case TR_SUP_RESTART: return on_backoff_timer(self, st, msg);
    case TR_SUP_WHICH_CHILD: return which_child(self, st, msg);
    case TR_SUP_START_CHILD: return start_pool_child(self, st, msg);
    case TR_SUP_TERMINATE_CHILD: return terminate_child(self, st, msg);
    case TR_SUP_WHICH_CHILDREN: return which_children(self, st, msg);
    case TR_SUP_AWAIT_STARTED: return await_started(self, st, msg);
    case TR_SUP_RESTART_CHILD: return restart_child_request(self, st, msg);
    case TR_SUP_DELETE_CHILD: return delete_child_request(self, st, msg);
    case TR_SUP_CHILD_INFO: return child_info(self, st, msg);
    case TR_SUP_COUNT_CHILDREN: return count_children(self, st, msg);
    default: return TR_OK;
    }
}

/* A graceful stop (tr_stop, a parent, system shutdown): the children go
 * one at a time, last started first; the runtime ends us when they are
 * gone and the mailbox is drained. */
static void sup_stopping(tr_ctx *self, void *state)
{
    sup_state *st = state;
    enter_shutdown(self, st, TR_OK);
    advance(self, st);
}

static void sup_terminate(tr_ctx *self, void *state, int reason)
{
    sup_state *st = state;
    if (st->phase == PHASE_STARTING) /* killed during its start */
        answer_start_waiters(self, st, reason != TR_OK ? reason : TR_ESHUTDOWN);
    for (sup_child *k = first_kid(st), *next; k != NULL; k = next) {
        next = next_kid(k);
        free(k);
    }
    tr_refmap_free(&st->live);
    free(st->restarts.e);
    tr_vec_free(&st->start_waiters);
    if (st->spec != NULL && st->spec->owned)
        tr_sup_spec_destroy(st->spec);
}

static const char *strategy_name(tr_strategy s)
{
    static const char *const names[] = {"one_for_one", "one_for_all", "rest_for_one",
                                        "simple_one_for_one"};
    return (unsigned)s <= TR_SIMPLE_ONE_FOR_ONE ? names[s] : "?";
}

/* tr_inspect: the strategy, phase, restart budget and each child. */
static size_t sup_inspect(tr_ctx *self, void *state, char *buf, size_t cap)
{
    (void)self;
    sup_state *st = state;
    size_t len = (size_t)snprintf(buf, cap,
                                  "strategy=%s phase=%s children=%zu restarts=%llu "
                                  "in_period=%llu intensity=%u period_ms=%u\n",
                                  strategy_name(st->flags.strategy), phase_names[st->phase],
                                  st->nkids, (unsigned long long)st->restarts_total,
                                  (unsigned long long)st->restarts.total, st->flags.intensity,
                                  st->flags.period_ms);
    for (sup_child *k = first_kid(st); k != NULL && len < cap; k = next_kid(k))
        len += (size_t)snprintf(buf + len, cap - len, "%s %s ref=%llu restarts=%u\n",
                                k->spec->id, state_names[k->state],
                                (unsigned long long)k->ref.id, k->restarts);
    return len;
}

const tr_behaviour tr_supervisor_behaviour = {
    .init = sup_init,
    .handle = sup_handle,
    .terminate = sup_terminate,
    .state_size = sizeof(sup_state),
    .stopping = sup_stopping,
    .inspect = sup_inspect,
    .name = "supervisor",
};

/* tr_actors_list marks the actors running this behaviour (actors/inspect.h). */
__attribute__((constructor)) static void register_with_inspect(void)
{
    tr_inspect_set_supervisor_behaviour(&tr_supervisor_behaviour);
}

/* ---- specs ---- */

void tr_sup_spec_destroy(tr_sup_spec *spec)
{
    if (spec == NULL)
        return;
    for (size_t i = 0; i < spec->n; i++) {
        free((char *)spec->specs[i].id);
        free((char *)spec->specs[i].name);
    }
    free(spec->specs);
    free(spec);
}

static bool spec_valid(const tr_child_spec *s, bool pool)
{
    return s->id != NULL && strnlen(s->id, TR_SUP_ID_MAX) < TR_SUP_ID_MAX && s->beh != NULL &&
           s->beh->handle != NULL && (unsigned)s->restart <= TR_TEMPORARY &&
           (s->name == NULL || (!pool && strnlen(s->name, TR_NAME_MAX) < TR_NAME_MAX &&
                                s->name[0] != '\0' && strchr(s->name, '/') == NULL));
}

int tr_sup_spec_create(const tr_sup_flags *flags, const tr_child_spec *specs, size_t n,
                       tr_sup_spec **out)
{
    if (flags == NULL || out == NULL || (n > 0 && specs == NULL) || n > 100000 ||
        (unsigned)flags->strategy > TR_SIMPLE_ONE_FOR_ONE ||
        (flags->strategy == TR_SIMPLE_ONE_FOR_ONE && n != 1))
        return TR_EINVAL;
    bool pool = flags->strategy == TR_SIMPLE_ONE_FOR_ONE;
    for (size_t i = 0; i < n; i++) {
        if (!spec_valid(&specs[i], pool))
            return TR_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[i].id, specs[j].id) == 0 ||
                (specs[i].name != NULL && specs[j].name != NULL &&
                 strcmp(specs[i].name, specs[j].name) == 0))
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
        spec->specs[i].name = NULL;
        spec->n = i + 1;
        if ((spec->specs[i].id = strdup(specs[i].id)) == NULL ||
            (specs[i].name != NULL && (spec->specs[i].name = strdup(specs[i].name)) == NULL)) {
            tr_sup_spec_destroy(spec);
            return TR_ENOMEM;
        }
    }
    spec->n = n;
    *out = spec;
    return TR_OK;
}

/* Spawns a supervisor from a fresh owned spec; its start goes on alone. */
int tr_sup_spawn(tr_system *sys, const tr_sup_flags *flags, const tr_child_spec *specs, size_t n,
                 const tr_spawn_opts *opts, tr_ref *out)
{
    if (sys == NULL || out == NULL)
        return TR_EINVAL;
    tr_sup_spec *spec;
    int rc = tr_sup_spec_create(flags, specs, n, &spec);
    if (rc != TR_OK)
        return rc;
    spec->owned = true;
    tr_spawn_opts o = opts != NULL ? *opts : (tr_spawn_opts){0};
    if (o.drain_timeout_ms == 0)
        o.drain_timeout_ms = TR_SHUTDOWN_INFINITY; /* OTP: a supervisor waits for its children */
    rc = tr_spawn(sys, &tr_supervisor_behaviour, spec, &o, out);
    if (rc != TR_OK)
        tr_sup_spec_destroy(spec); /* init never ran: the spec is still ours */
    return rc;
}

/* Timers: one thread drives a hierarchical timing wheel (wheel.c).
 *
 * Why not NNG's timers: NNG 1.5 keeps its timer list sorted (O(n) insert)
 * and each nng_aio is a separate heap object with its own locking; Troupe
 * arms a timer for every ask and periodic tick, so it needs O(1) insert and
 * cancel. Entries are allocated once and recycled through a free list;
 * a handle is (generation << 32 | index + 1), so cancelling a timer that
 * already fired is a clean TR_ENOTFOUND, never a use-after-free.
 * Timers fire under the service lock: delivery never blocks (it only
 * queues and wakes), so holding it is short and keeps cancel exact. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/dead_letters.h"
#include "actors/ext.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/timers.h"
#include "actors/watchdog.h"
#include "actors/wheel.h"
#include "troupe/timer.h"

typedef struct tr_tentry {
    tr_wheel_entry link;
    uint32_t index, gen;
    bool active;
    enum tr_timer_action action;
    tr_ref target;
    uint32_t type;
    uint64_t corr;
    void *data;
    size_t size;
    uint32_t period_ms;
    struct tr_tentry *next_free;
} tr_tentry;

typedef struct tr_timers {
    tr_system *sys;
    pthread_mutex_t lock;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    tr_wheel wheel;
    TR_VEC(tr_tentry *) entries; /* by index; never shrinks */
    tr_tentry *free_list;
    uint64_t sleep_until; /* when the thread wakes by itself; UINT64_MAX = never */
    bool stop;
    pthread_t thread;
} tr_timers;

static uint64_t entry_id(const tr_tentry *e) { return ((uint64_t)e->gen << 32) | (e->index + 1); }

static tr_tentry *entry_lookup(tr_timers *t, uint64_t id)
{
    uint32_t index = (uint32_t)(id & 0xffffffffu) - 1;
    if (id == 0 || index >= t->entries.len)
        return NULL;
    tr_tentry *e = t->entries.at[index];
    return e->active && e->gen == (uint32_t)(id >> 32) ? e : NULL;
}

static tr_tentry *entry_alloc(tr_timers *t)
{
    tr_tentry *e = t->free_list;
    if (e != NULL) {
        t->free_list = e->next_free;
        return e;
    }
    if (tr_vec_reserve(&t->entries, t->entries.len + 1) != 0)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->index = t->entries.len;
    (void)tr_vec_push(&t->entries, e); /* reserved */
    tr_wheel_entry_init(&e->link);
    return e;
}

static void entry_release(tr_timers *t, tr_tentry *e)
{
    free(e->data);
    e->data = NULL;
    e->active = false;
    e->gen++;
    e->next_free = t->free_list;
    t->free_list = e;
}

/* Delivers one expiry; returns false when a periodic timer must end. */
static bool entry_fire(tr_timers *t, tr_tentry *e)
{
    tr_system *sys = t->sys;
    if (e->action == TR_TIMER_KILL) {
        tr_kill(sys, e->target);
        return false;
    }
    if (e->action == TR_TIMER_WATCHDOG) {
        tr_watchdog_fire(sys, e->target, e->data, e->size);
        return false;
    }
    tr_mnode *n = tr_mnode_copy(e->type, e->data, e->size);
    if (n == NULL) {
        tr_dead_letter_record(sys, e->target, TR_REF_NONE, e->type, TR_ENOMEM);
        return true;
    }
    n->msg.corr = e->corr;
    int rc = tr_deliver(sys, NULL, e->target, n, e->action == TR_TIMER_NOTIFY, 0);
    if (rc == TR_EFULL) /* a tick into a full mailbox is lost, and counted */
        tr_dead_letter_record(sys, e->target, TR_REF_NONE, e->type, TR_EFULL);
    return rc != TR_EDEAD && rc != TR_ESTOPPING;
}

static void timers_wait(tr_timers *t, uint64_t until)
{
    t->sleep_until = until;
    if (until == UINT64_MAX) {
        pthread_cond_wait(&t->cv, &t->lock);
    } else {
        struct timespec ts = {.tv_sec = (time_t)(until / 1000), .tv_nsec = (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&t->cv, &t->lock, &ts);
    }
    t->sleep_until = 0;
}

static void *timers_main(void *arg)
{
    tr_timers *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        uint64_t now = tr_now_ms();
        tr_wheel_entry *due = tr_wheel_advance(&t->wheel, now);
        while (due != NULL) {
            tr_wheel_entry *next = due->next;
            tr_tentry *e = (tr_tentry *)due;
            if (entry_fire(t, e) && e->period_ms > 0) {
                uint64_t at = e->link.deadline + e->period_ms;
                tr_wheel_insert(&t->wheel, &e->link, at > now ? at : now + e->period_ms);
            } else {
                entry_release(t, e);
            }
            due = next;
        }
        uint64_t next = tr_wheel_next_expiry(&t->wheel);
        if (next > now)
            timers_wait(t, next);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int tr_timers_start(tr_system *sys)
{
    tr_timers *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return TR_ENOMEM;
    t->sys = sys;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &attr);
    pthread_condattr_destroy(&attr);
    tr_wheel_init(&t->wheel, tr_now_ms());
    if (pthread_create(&t->thread, NULL, timers_main, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return TR_ENOMEM;
    }
    sys->timers = t;
    return TR_OK;
}

void tr_timers_stop(tr_system *sys)
{
    tr_timers *t = sys->timers;
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    for (uint32_t i = 0; i < t->entries.len; i++) {
        free(t->entries.at[i]->data);
        free(t->entries.at[i]);
    }
    tr_vec_free(&t->entries);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->lock);
    free(t);
    sys->timers = NULL;
}

int tr_timers_add(tr_system *sys, const tr_timer_spec *spec, uint64_t *id)
{
    tr_timers *t = sys->timers;
    void *copy = NULL;
    if (spec->size > 0) {
        if ((copy = malloc(spec->size)) == NULL)
            return TR_ENOMEM;
        memcpy(copy, spec->data, spec->size);
    }
    pthread_mutex_lock(&t->lock);
    if (t->stop) {
        pthread_mutex_unlock(&t->lock);
        free(copy);
        return TR_ECLOSED;
    }
    tr_tentry *e = entry_alloc(t);
    if (e == NULL) {
        pthread_mutex_unlock(&t->lock);
        free(copy);
        return TR_ENOMEM;
    }
    e->active = true;
    e->action = spec->action;
    e->target = spec->target;
    e->type = spec->type;
    e->corr = spec->corr;
    e->data = copy;
    e->size = spec->size;
    e->period_ms = spec->period_ms;
    /* +1: tr_now_ms truncates, so the current millisecond may be almost over */
    uint64_t at = tr_now_ms() + spec->delay_ms + 1;
    tr_wheel_insert(&t->wheel, &e->link, at);
    if (at < t->sleep_until) /* the thread sleeps past this deadline: wake it */
        pthread_cond_signal(&t->cv);
    *id = entry_id(e);
    pthread_mutex_unlock(&t->lock);
    return TR_OK;
}

int tr_timers_cancel(tr_system *sys, uint64_t id)
{
    tr_timers *t = sys->timers;
    pthread_mutex_lock(&t->lock);
    tr_tentry *e = entry_lookup(t, id);
    if (e != NULL) {
        tr_wheel_remove(&t->wheel, &e->link);
        entry_release(t, e);
    }
    pthread_mutex_unlock(&t->lock);
    return e != NULL ? TR_OK : TR_ENOTFOUND;
}

bool tr_timers_pending(tr_system *sys, uint64_t id)
{
    tr_timers *t = sys->timers;
    pthread_mutex_lock(&t->lock);
    bool pending = entry_lookup(t, id) != NULL;
    pthread_mutex_unlock(&t->lock);
    return pending;
}

/* ---- public API ---- */

void tr_owned_timers_fini(void *part)
{
    tr_owned_timers *timers = part;
    tr_vec_free(&timers->ids);
}

/* Remembers a timer created inside a callback so it dies with its actor;
 * ids of timers that ended are pruned when the list fills up. */
static void own_timer(tr_system *sys, uint64_t id)
{
    struct tr_actor *a = tr_actor_current();
    if (a == NULL || a->sys != sys)
        return;
    tr_actor_ext *ext = tr_actor_ext_get(a);
    if (ext == NULL)
        return;
    if (ext->timers.ids.len == ext->timers.ids.cap) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < ext->timers.ids.len; i++)
            if (tr_timers_pending(sys, ext->timers.ids.at[i]))
                ext->timers.ids.at[kept++] = ext->timers.ids.at[i];
        ext->timers.ids.len = kept;
    }
    (void)tr_vec_push(&ext->timers.ids, id); /* out of memory: it is not cancelled with the actor */
}

static int timer_start(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                       uint32_t delay_ms, uint32_t period_ms, tr_timer *out)
{
    if (sys == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_timer_spec spec = {.action = TR_TIMER_SEND, .target = to, .type = type, .data = data,
                          .size = size, .delay_ms = delay_ms, .period_ms = period_ms};
    uint64_t id;
    int rc = tr_timers_add(sys, &spec, &id);
    if (rc != TR_OK)
        return rc;
    own_timer(sys, id);
    if (out != NULL)
        out->id = id;
    return TR_OK;
}

int tr_send_after(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                  uint32_t delay_ms, tr_timer *out)
{
    return timer_start(sys, to, type, data, size, delay_ms, 0, out);
}

int tr_send_interval(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                     uint32_t period_ms, tr_timer *out)
{
    if (period_ms == 0)
        return TR_EINVAL;
    return timer_start(sys, to, type, data, size, period_ms, period_ms, out);
}

int tr_timer_cancel(tr_system *sys, tr_timer timer)
{
    if (sys == NULL)
        return TR_EINVAL;
    return tr_timers_cancel(sys, timer.id);
}

/* Test support: a process-group subscriber (tr_pg_monitor) that records
 * what it hears, and waits on it. Include after criterion.h. */
#ifndef TROUPE_TESTS_NET_PG_EVENTS_H
#define TROUPE_TESTS_NET_PG_EVENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "troupe/troupe.h"

#define WAIT_MS 30000 /* only turns a hang into a failure */

enum { MSG_STOP = TR_MSG_USER + 50 }; /* makes idle (below) fail with TR_EUSER + 1 */

typedef struct event_log {
    pthread_mutex_t m;
    pthread_cond_t c;
    long joined, left, events; /* members listed in JOINED / LEFT events; events */
    int last_reason;
    uint64_t last_monitor;
    bool bad_size;
} event_log;

static event_log evs;

static inline void events_reset(void)
{
    pthread_mutex_init(&evs.m, NULL);
    pthread_cond_init(&evs.c, NULL);
    evs.joined = evs.left = evs.events = 0;
    evs.last_reason = -1;
    evs.bad_size = false;
}

static inline int recorder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type != TR_MSG_PG_JOINED && msg->type != TR_MSG_PG_LEFT)
        return msg->type == MSG_STOP ? TR_EUSER : TR_OK;
    const tr_pg_event *ev = msg->data;
    pthread_mutex_lock(&evs.m);
    if (msg->size < sizeof(*ev) || msg->size != sizeof(*ev) + ev->count * sizeof(tr_ref))
        evs.bad_size = true;
    else if (msg->type == TR_MSG_PG_JOINED)
        evs.joined += ev->count;
    else
        evs.left += ev->count;
    evs.last_reason = ev->reason;
    evs.last_monitor = ev->monitor;
    evs.events++;
    pthread_cond_broadcast(&evs.c);
    pthread_mutex_unlock(&evs.m);
    return TR_OK;
}
static const tr_behaviour recorder = {.handle = recorder_handle};

/* Waits until the subscriber has heard `events` events. */
static inline bool events_wait(long events)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&evs.m);
    while (evs.events < events && pthread_cond_timedwait(&evs.c, &evs.m, &ts) == 0) {
    }
    bool ok = evs.events >= events;
    pthread_mutex_unlock(&evs.m);
    return ok;
}

/* Reads of the log under its lock (the recorder may still be writing). */
static inline long ev_long(const long *field)
{
    pthread_mutex_lock(&evs.m);
    long v = *field;
    pthread_mutex_unlock(&evs.m);
    return v;
}

static inline int ev_reason(void)
{
    pthread_mutex_lock(&evs.m);
    int v = evs.last_reason;
    pthread_mutex_unlock(&evs.m);
    return v;
}

static inline uint64_t ev_monitor(void)
{
    pthread_mutex_lock(&evs.m);
    uint64_t v = evs.last_monitor;
    pthread_mutex_unlock(&evs.m);
    return v;
}

static inline bool ev_bad_size(void)
{
    pthread_mutex_lock(&evs.m);
    bool v = evs.bad_size;
    pthread_mutex_unlock(&evs.m);
    return v;
}

/* Waits until the subscriber has heard of `joined` joins and `left` leaves. */
static inline bool events_wait_members(long joined, long left)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&evs.m);
    while ((evs.joined < joined || evs.left < left) && pthread_cond_timedwait(&evs.c, &evs.m, &ts) == 0) {
    }
    bool ok = evs.joined >= joined && evs.left >= left;
    pthread_mutex_unlock(&evs.m);
    return ok;
}

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    return msg->type == MSG_STOP ? TR_EUSER + 1 : TR_OK;
}
static const tr_behaviour idle = {.handle = idle_handle};

#endif

/* The chat tests' shared helpers: a recorder of what members report (every
 * event as one "KIND|nick|text" line), local "servers" (a directory and a
 * gateway), joining, asks to rooms. Synchronisation: the recorder's
 * condition variable, asks and tr_await_exit, never sleeps. Static: each
 * test binary includes it once. */
#ifndef TROUPE_TESTS_CHAT_RECORDER_H
#define TROUPE_TESTS_CHAT_RECORDER_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples/chat/chat.h"
#include "tests/support/system.h"

#define WAIT_MS 10000

/* ---- a recorder: every event a member reports, as "KIND|nick|text" ---- */

#define REC_MAX 4096
typedef struct rec {
    pthread_mutex_t m;
    pthread_cond_t c;
    char *lines[REC_MAX];
    int n;
} rec;

static inline void rec_init(rec *r)
{
    pthread_mutex_init(&r->m, NULL);
    pthread_cond_init(&r->c, NULL);
    r->n = 0;
}

static inline void rec_fini(rec *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->lines[i]);
    pthread_cond_destroy(&r->c);
    pthread_mutex_destroy(&r->m);
}

static inline const char *kind_name(chat_event_kind k)
{
    static const char *names[] = {"JOINED", "HISTORY", "LINE",   "NOTICE", "ERROR", "SENT",
                                  "WELCOME", "INFO",  "PRIV", "PARTED", "NICK",  "LOST",
                                  "BACK", "CONFIRMED"};
    return names[k];
}

static inline void rec_event(void *ctx, const chat_event *ev)
{
    rec *r = ctx;
    char buf[1024];
    if (ev->kind == CHAT_EV_ERROR)
        snprintf(buf, sizeof(buf), "ERROR|%d|%s|%s", ev->code, ev->fatal ? "fatal" : "ok", ev->text);
    else if (ev->kind == CHAT_EV_PRIV)
        snprintf(buf, sizeof(buf), "PRIV|%s|%s|%s%s", ev->nick, ev->to, ev->text,
                 ev->echo ? "|echo" : "");
    else if (ev->kind == CHAT_EV_PARTED)
        snprintf(buf, sizeof(buf), "PARTED|%s|%s", ev->room, ev->text ? ev->text : "");
    else if (ev->kind == CHAT_EV_SENT || ev->kind == CHAT_EV_LINE || ev->kind == CHAT_EV_HISTORY ||
             ev->kind == CHAT_EV_CONFIRMED)
        snprintf(buf, sizeof(buf), "%s|%s|%s%s", kind_name(ev->kind), ev->nick, ev->me ? "/me " : "",
                 ev->text);
    else
        snprintf(buf, sizeof(buf), "%s|%s|%s", kind_name(ev->kind), ev->nick ? ev->nick : "",
                 ev->text ? ev->text : "");
    pthread_mutex_lock(&r->m);
    if (r->n < REC_MAX)
        r->lines[r->n++] = strdup(buf);
    pthread_cond_broadcast(&r->c);
    pthread_mutex_unlock(&r->m);
}

static inline int rec_count_locked(rec *r, const char *prefix)
{
    int k = 0;
    for (int i = 0; i < r->n; i++)
        if (strncmp(r->lines[i], prefix, strlen(prefix)) == 0)
            k++;
    return k;
}

static inline int rec_count(rec *r, const char *prefix)
{
    pthread_mutex_lock(&r->m);
    int k = rec_count_locked(r, prefix);
    pthread_mutex_unlock(&r->m);
    return k;
}

/* Waits until at least `want` lines start with prefix. */
static inline bool rec_wait(rec *r, const char *prefix, int want)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    bool ok = true;
    pthread_mutex_lock(&r->m);
    while (rec_count_locked(r, prefix) < want)
        if (pthread_cond_timedwait(&r->c, &r->m, &ts) != 0) {
            ok = rec_count_locked(r, prefix) >= want;
            break;
        }
    pthread_mutex_unlock(&r->m);
    return ok;
}

/* Spawn arguments must stay valid until init has run (on a worker, later):
 * the tests keep them until the system is gone. */
static void *kept[256];
static int nkept;

static inline void *keep(const void *p, size_t n)
{
    cr_assert(nkept < 256);
    void *c = malloc(n);
    memcpy(c, p, n);
    return kept[nkept++] = c;
}

static inline void teardown(tr_system *sys)
{
    tr_system_destroy(sys);
    while (nkept > 0)
        free(kept[--nkept]);
}

/* ---- a local "server": a directory and a gateway ---- */

typedef struct server {
    tr_ref dir, gw;
} server;

static inline server start_server(tr_system *sys, const char *name, uint32_t budget)
{
    server s;
    chat_directory_cfg dc = {.budget = budget};
    snprintf(dc.server, sizeof(dc.server), "%s", name);
    cr_assert_eq(tr_spawn(sys, &chat_directory_behaviour, keep(&dc, sizeof(dc)), NULL, &s.dir), TR_OK);
    chat_gateway_cfg gc = {.directory = s.dir};
    snprintf(gc.server, sizeof(gc.server), "%s", name);
    cr_assert_eq(tr_spawn(sys, &chat_gateway_behaviour, keep(&gc, sizeof(gc)), NULL, &s.gw), TR_OK);
    return s;
}

static inline tr_ref join(tr_system *sys, server s, const char *nick, const char *room, rec *r, bool no_ack)
{
    chat_member_cfg mc = {.gateway = s.gw, .on_event = rec_event, .ctx = r, .no_ack = no_ack};
    snprintf(mc.nick, sizeof(mc.nick), "%s", nick);
    snprintf(mc.room, sizeof(mc.room), "%s", room);
    tr_ref m;
    cr_assert_eq(tr_spawn(sys, &chat_member_behaviour, keep(&mc, sizeof(mc)), NULL, &m), TR_OK);
    return m;
}

static inline tr_ref join_ok(tr_system *sys, server s, const char *nick, const char *room, rec *r)
{
    int before = rec_count(r, "JOINED|");
    tr_ref m = join(sys, s, nick, room, r, false);
    if (!rec_wait(r, "JOINED|", before + 1)) {
        char seen[2048] = "";
        size_t used = 0;
        pthread_mutex_lock(&r->m);
        for (int i = 0; i < r->n && used + 2 < sizeof(seen); i++)
            used += (size_t)snprintf(seen + used, sizeof(seen) - used, "%s; ", r->lines[i]);
        pthread_mutex_unlock(&r->m);
        cr_assert(false, "%s did not join %s; it saw: %s", nick, room, seen);
    }
    return m;
}

/* Room reference through the directory's CHAT_OPEN ask. */
static inline tr_ref open_room(tr_system *sys, tr_ref dir, const char *room)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, room);
    void *reply = NULL;
    size_t n = 0;
    cr_assert_eq(tr_ask_wait(sys, dir, CHAT_OPEN, b.sb.data, b.sb.size, WAIT_MS, &reply, &n), TR_OK);
    chat_buf_destroy(&b);
    chat_in in;
    int64_t code = -1;
    tr_ref ref = TR_REF_NONE;
    cr_assert(chat_in_open(&in, reply, n, 2));
    cr_assert(chat_obj_i64(&in.items[0], &code));
    cr_assert_eq(code, CHAT_OK);
    cr_assert_eq(chat_unpack_ref(sys, &in.items[1], &ref), TR_OK);
    chat_in_close(&in);
    free(reply);
    return ref;
}

/* [members, history, kicked, lines] of a room. */
static inline void room_stats(tr_system *sys, tr_ref room, uint64_t out[4])
{
    void *reply = NULL;
    size_t n = 0;
    cr_assert_eq(tr_ask_wait(sys, room, CHAT_STATS, NULL, 0, WAIT_MS, &reply, &n), TR_OK);
    chat_in in;
    cr_assert(chat_in_open(&in, reply, n, 4));
    for (int i = 0; i < 4; i++)
        cr_assert(chat_obj_u64(&in.items[i], &out[i]));
    chat_in_close(&in);
    free(reply);
}

static inline int exit_reason(tr_system *sys, tr_ref m)
{
    int reason = -1;
    cr_assert_eq(tr_await_exit(sys, m, WAIT_MS, &reason), TR_OK);
    return reason;
}

static inline int gateway_up_count(tr_system *sys, tr_ref gw)
{
    void *reply = NULL;
    size_t n = 0;
    cr_assert_eq(tr_ask_wait(sys, gw, CHAT_STATS, NULL, 0, WAIT_MS, &reply, &n), TR_OK);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, reply, n, NULL), MSGPACK_UNPACK_SUCCESS);
    int up = 0;
    for (uint32_t i = 0; i < u.data.via.array.size; i++)
        up += u.data.via.array.ptr[i].via.array.ptr[1].via.boolean;
    msgpack_unpacked_destroy(&u);
    free(reply);
    return up;
}

/* Asks until the gateway counts `want` servers up (each answer is a fresh
 * look at its state; the deadline only turns a hang into a failure). */
static inline bool gateway_up_becomes(tr_system *sys, tr_ref gw, int want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (gateway_up_count(sys, gw) == want)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < WAIT_MS / 1000);
    return false;
}

/* A room name that rendezvous placement puts on `owner` among A and B. */
static inline void room_owned_by(const char *owner, char *out, size_t cap)
{
    const char *names[] = {"A", "B"};
    for (int i = 0;; i++) {
        snprintf(out, cap, "room%d", i);
        if (strcmp(names[chat_place(out, names, 2)], owner) == 0)
            return;
    }
}

/* Two local servers A and B that know each other. */
static inline void start_pair(tr_system *sys, server *a, server *b)
{
    *a = start_server(sys, "A", 0);
    *b = start_server(sys, "B", 0);
    cr_assert_eq(chat_gateway_add_peer(sys, a->gw, b->gw, WAIT_MS), TR_OK);
    cr_assert(gateway_up_becomes(sys, b->gw, 2));
    cr_assert(gateway_up_becomes(sys, a->gw, 2));
}

/* A line as a user types it (a command or text). */
static inline void input(tr_system *sys, tr_ref m, const char *line)
{
    cr_assert_eq(chat_member_input(sys, m, line, strlen(line), WAIT_MS), TR_OK);
}

#endif

/* The load run (load.h). Lines are "L <sender> <seq> <sent-ns>"; each
 * receiver keeps the last sequence number seen from every member of its
 * room, so a lost, duplicated or reordered line is counted where it shows. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load.h"

#define HIST_STEP_US 100                /* latency buckets of 0.1 ms */
#define HIST_BUCKETS (20 * 1000 * 10)   /* up to 20 s, then the last bucket */

typedef struct load_client {
    uint32_t idx, room;
    tr_ref member;
    int64_t *last;            /* per member position in the room: last seq seen */
    uint64_t seq;             /* lines said (the sending thread's) */
    atomic_uint_fast64_t delivered, duplicated, reordered, errors, confirmed;
    atomic_bool joined;
} load_client;

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    uint32_t joined;
    atomic_uint_fast64_t *hist, *confirm_hist; /* latency buckets: delivery, confirmation */
    uint32_t rooms, per_room;
} g = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};

static void on_event(void *ctx, const chat_event *ev)
{
    load_client *c = ctx;
    if (ev->kind == CHAT_EV_JOINED) {
        atomic_store(&c->joined, true);
        pthread_mutex_lock(&g.m);
        g.joined++;
        pthread_cond_broadcast(&g.c);
        pthread_mutex_unlock(&g.m);
        return;
    }
    if (ev->kind == CHAT_EV_ERROR) {
        atomic_fetch_add(&c->errors, 1);
        fprintf(stderr, "troupe-chat: load: client %u: %s\n", c->idx, ev->text);
        return;
    }
    unsigned sender;
    uint64_t seq;
    int64_t sent;
    if (ev->kind == CHAT_EV_CONFIRMED) {
        if (sscanf(ev->text, "L %u %" SCNu64 " %" SCNd64, &sender, &seq, &sent) != 3 ||
            sender != c->idx) {
            atomic_fetch_add(&c->errors, 1);
            return;
        }
        atomic_fetch_add_explicit(&c->confirmed, 1, memory_order_relaxed);
        int64_t us = ((int64_t)tr_now_ns() - sent) / 1000;
        size_t b = us < 0 ? 0 : (size_t)(us / HIST_STEP_US);
        atomic_fetch_add_explicit(&g.confirm_hist[b < HIST_BUCKETS ? b : HIST_BUCKETS - 1], 1,
                                  memory_order_relaxed);
        return;
    }
    if (ev->kind != CHAT_EV_LINE)
        return;
    if (sscanf(ev->text, "L %u %" SCNu64 " %" SCNd64, &sender, &seq, &sent) != 3 ||
        sender % g.rooms != c->room) {
        atomic_fetch_add(&c->errors, 1);
        return;
    }
    int64_t *last = &c->last[sender / g.rooms];
    if ((int64_t)seq == *last + 1) {
        atomic_fetch_add_explicit(&c->delivered, 1, memory_order_relaxed);
        int64_t us = ((int64_t)tr_now_ns() - sent) / 1000;
        size_t b = us < 0 ? 0 : (size_t)(us / HIST_STEP_US);
        atomic_fetch_add_explicit(&g.hist[b < HIST_BUCKETS ? b : HIST_BUCKETS - 1], 1,
                                  memory_order_relaxed);
    } else if ((int64_t)seq <= *last) {
        atomic_fetch_add(&c->duplicated, 1);
    } else {
        atomic_fetch_add(&c->reordered, 1); /* a gap: some line went missing or came late */
    }
    if ((int64_t)seq > *last)
        *last = (int64_t)seq;
}

static double percentile_ms(atomic_uint_fast64_t *hist, uint64_t total, double p)
{
    uint64_t want = (uint64_t)(p * (double)total), seen = 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += atomic_load(&hist[b]);
        if (seen > want)
            return (double)(b + 1) * HIST_STEP_US / 1000.0;
    }
    return (double)HIST_BUCKETS * HIST_STEP_US / 1000.0;
}

static uint64_t sum(load_client *cl, uint32_t n, size_t offset)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < n; i++)
        t += atomic_load((atomic_uint_fast64_t *)((char *)&cl[i] + offset));
    return t;
}

static void sleep_until(int64_t t_ns)
{
    int64_t d = t_ns - (int64_t)tr_now_ns();
    if (d > 0)
        nanosleep(&(struct timespec){d / 1000000000, d % 1000000000}, NULL);
}

int chat_load_run(tr_system *sys, const chat_load_cfg *cfg, chat_load_result *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t n = cfg->clients, rooms = cfg->rooms ? cfg->rooms : 1;
    g.rooms = rooms;
    g.per_room = (n + rooms - 1) / rooms;
    g.joined = 0;
    g.hist = calloc(HIST_BUCKETS, sizeof(*g.hist));
    g.confirm_hist = calloc(HIST_BUCKETS, sizeof(*g.confirm_hist));
    load_client *cl = calloc(n, sizeof(*cl));
    chat_member_cfg *mc = calloc(n, sizeof(*mc)); /* read by each member's init: kept to the end */
    int64_t *last = malloc((size_t)n * g.per_room * sizeof(*last));
    if (g.hist == NULL || g.confirm_hist == NULL || cl == NULL || mc == NULL || last == NULL) {
        fprintf(stderr, "troupe-chat: load: out of memory\n");
        free(g.hist);
        free(g.confirm_hist);
        free(cl);
        free(mc);
        free(last);
        return 1;
    }
    for (size_t i = 0; i < (size_t)n * g.per_room; i++)
        last[i] = -1;

    int64_t t0 = (int64_t)tr_now_ns();
    for (uint32_t i = 0; i < n; i++) {
        cl[i].idx = i;
        cl[i].room = i % rooms;
        cl[i].last = &last[(size_t)i * g.per_room];
        mc[i].gateway = cfg->gateways[i % cfg->ngateways];
        snprintf(mc[i].nick, sizeof(mc[i].nick), "load%u", i);
        snprintf(mc[i].room, sizeof(mc[i].room), "load%u", i % rooms);
        mc[i].on_event = on_event;
        mc[i].ctx = &cl[i];
        if (tr_spawn(sys, &chat_member_behaviour, &mc[i], NULL, &cl[i].member) != TR_OK) {
            fprintf(stderr, "troupe-chat: load: cannot start client %u\n", i);
            n = i;
            break;
        }
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&g.m);
    while (g.joined < n && pthread_cond_timedwait(&g.c, &g.m, &until) == 0) {
    }
    uint32_t joined = g.joined;
    pthread_mutex_unlock(&g.m);
    out->join_s = (double)((int64_t)tr_now_ns() - t0) / 1e9;
    int code = 0;
    if (joined < n) {
        fprintf(stderr, "troupe-chat: load: only %u of %u clients joined within 60 s\n", joined, n);
        code = 1;
    } else {
        /* pacing: every client says a line every 1/rate s, spread evenly */
        int64_t period = (int64_t)(1e9 / (cfg->rate > 0 ? cfg->rate : 1));
        int64_t start = (int64_t)tr_now_ns(), end = start + (int64_t)(cfg->seconds * 1e9);
        uint64_t members_of_room[1024] = {0};
        for (uint32_t i = 0; i < n; i++)
            members_of_room[cl[i].room % 1024]++;
        for (uint64_t k = 0;; k++) {
            uint32_t i = (uint32_t)(k % n);
            int64_t at = start + (int64_t)(k / n) * period + (int64_t)i * period / n;
            if (at >= end)
                break;
            sleep_until(at);
            char text[96];
            snprintf(text, sizeof(text), "L %u %" PRIu64 " %" PRId64, i, cl[i].seq, (int64_t)tr_now_ns());
            if (chat_member_say(sys, cl[i].member, text, 10000) == TR_OK) {
                cl[i].seq++;
                out->sent++;
                out->expected += members_of_room[cl[i].room % 1024] - 1;
            }
        }
        /* wait (up to 30 s) for every delivery due and every confirmation */
        int64_t deadline = (int64_t)tr_now_ns() + 30 * (int64_t)1000000000;
        while ((sum(cl, n, offsetof(load_client, delivered)) < out->expected ||
                sum(cl, n, offsetof(load_client, confirmed)) < out->sent) &&
               (int64_t)tr_now_ns() < deadline)
            nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
        out->talk_s = (double)((int64_t)tr_now_ns() - start) / 1e9;
    }
    out->delivered = sum(cl, n, offsetof(load_client, delivered));
    out->duplicated = sum(cl, n, offsetof(load_client, duplicated));
    out->reordered = sum(cl, n, offsetof(load_client, reordered));
    out->errors = sum(cl, n, offsetof(load_client, errors));
    out->confirmed = sum(cl, n, offsetof(load_client, confirmed));
    if (out->delivered > 0) {
        out->p50_ms = percentile_ms(g.hist, out->delivered, 0.50);
        out->p99_ms = percentile_ms(g.hist, out->delivered, 0.99);
        out->max_ms = percentile_ms(g.hist, out->delivered, 1.0 - 1e-12);
    }
    if (out->confirmed > 0) {
        out->confirm_p50_ms = percentile_ms(g.confirm_hist, out->confirmed, 0.50);
        out->confirm_p99_ms = percentile_ms(g.confirm_hist, out->confirmed, 0.99);
    }
    if (out->delivered != out->expected || out->duplicated || out->reordered || out->errors ||
        out->confirmed != out->sent)
        code = 1;
    for (uint32_t i = 0; i < n; i++)
        chat_member_leave(sys, cl[i].member, 10000);
    for (uint32_t i = 0; i < n; i++)
        tr_await_exit(sys, cl[i].member, 10000, NULL);
    free(g.hist);
    free(g.confirm_hist);
    free(cl);
    free(mc);
    free(last);
    return code;
}

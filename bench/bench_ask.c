/* askping: one actor asks another N times in sequence (ask, reply, next
 * ask) and checks that the replies add up, so a lost or duplicated reply
 * changes the result. It measures the request/reply round trip: tr_ask's
 * bookkeeping (pending ask, timeout timer), the callee's (owed replies), and
 * two deliveries. Prints "RESULT askping N ms" (bench/ab.sh reads it).
 *
 *   bench_ask [askping] [N]   (default 200000; the name is for bench/ab.sh) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "troupe/troupe.h"

enum { MSG_START = TR_MSG_USER, MSG_Q };

typedef struct asker {
    tr_ref callee;
    uint64_t left, sum, failures;
} asker;

static int replier_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    uint64_t v;
    memcpy(&v, msg->data, sizeof(v));
    v *= 2;
    return tr_reply(self, msg, &v, sizeof(v));
}

static int ask_next(tr_ctx *self, asker *s)
{
    if (s->left == 0) {
        tr_stop_self(self);
        return TR_OK;
    }
    uint64_t v = s->left--;
    return tr_ask(self, s->callee, MSG_Q, &v, sizeof(v), 60000, NULL);
}

static int asker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    asker *s = state;
    if (msg->type == TR_MSG_REPLY) {
        uint64_t v;
        memcpy(&v, msg->data, sizeof(v));
        s->sum += v;
    } else if (msg->type != MSG_START) {
        s->failures++;
    }
    return ask_next(self, s);
}

static asker g_result;

static int asker_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(asker *)state = *(asker *)arg;
    return TR_OK;
}

static void asker_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)reason;
    g_result = *(asker *)state;
}

static const tr_behaviour replier = {.handle = replier_handle};
static const tr_behaviour asker_beh = {.init = asker_init, .handle = asker_handle,
                                       .terminate = asker_terminate, .state_size = sizeof(asker)};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    int i = argc > 1 && strcmp(argv[1], "askping") == 0 ? 2 : 1;
    uint64_t n = argc > i ? strtoull(argv[i], NULL, 10) : 200000;
    tr_system *sys;
    tr_config cfg = {.workers = 2};
    if (tr_system_create(&cfg, &sys) != TR_OK)
        return 1;
    tr_ref r, a;
    tr_spawn(sys, &replier, NULL, NULL, &r);
    asker init = {.callee = r, .left = n};
    tr_spawn(sys, &asker_beh, &init, NULL, &a);
    double t0 = now_ms();
    tr_post(sys, a, MSG_START, NULL, 0, -1);
    tr_await_exit(sys, a, -1, NULL);
    double ms = now_ms() - t0;
    tr_system_destroy(sys);
    uint64_t want = n * (n + 1); /* 2 * (1 + ... + n) */
    if (g_result.sum != want || g_result.failures != 0) {
        printf("CHECK FAILED askping: sum %llu (want %llu), %llu failures\n",
               (unsigned long long)g_result.sum, (unsigned long long)want,
               (unsigned long long)g_result.failures);
        return 1;
    }
    printf("RESULT askping %llu %.3f\n", (unsigned long long)n, ms);
    return 0;
}

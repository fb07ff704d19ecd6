/* Randomized soak: a supervision tree of several hundred actors doing
 * message work while a seeded fault plan crashes and slows them.
 *
 *   troupe_soak [seed] [max_faults] [max_seconds]
 *
 * Prints faults injected, restarts, escalations, messages sent / handled /
 * dead-lettered, and the invariants checked; exits non-zero if one fails.
 * Re-run with the printed seed to replay the same fault decisions. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "troupe/troupe.h"

enum { MSG_WORK = TR_MSG_USER, MSG_ACK };
#define SUBS 10
#define WORKERS 30

static atomic_long worker_starts, worker_ends, sub_starts, acks, work_dead_letters;

static int worker_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    atomic_fetch_add(&worker_starts, 1);
    return TR_OK;
}

static tr_ref ledger;
static int worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != MSG_WORK)
        return TR_OK;
    uint64_t x = *(const uint64_t *)msg->data, acc = 0;
    for (int i = 0; i < 200; i++) /* a little real work */
        acc = acc * 6364136223846793005ull + x + (uint64_t)i;
    return tr_send(self, ledger, MSG_ACK, &acc, sizeof(acc));
}

static void worker_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    atomic_fetch_add(&worker_ends, 1);
}

static const tr_behaviour worker = {.init = worker_init, .handle = worker_handle, .terminate = worker_terminate};

static int ledger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_ACK)
        atomic_fetch_add(&acks, 1);
    else if (msg->type == TR_MSG_DEAD_LETTER && ((const tr_dead_letter *)msg->data)->type == MSG_WORK)
        atomic_fetch_add(&work_dead_letters, 1);
    return TR_OK;
}
static const tr_behaviour ledger_beh = {.handle = ledger_handle};

/* sub-supervisors are counted to see escalations (their restarts) */
static tr_behaviour counted_sup;
static int counted_sup_init(tr_ctx *self, void *state, void *arg)
{
    atomic_fetch_add(&sub_starts, 1);
    return tr_supervisor_behaviour.init(self, state, arg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(const char *what, int ok)
{
    printf("  invariant %-58s %s\n", what, ok ? "held" : "VIOLATED");
    return ok;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : (uint64_t)time(NULL);
    uint64_t max_faults = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
    double max_seconds = argc > 3 ? atof(argv[3]) : 10.0;
    if (max_faults == 0 || max_seconds <= 0) {
        fprintf(stderr, "usage: troupe_soak [seed] [max_faults > 0] [max_seconds > 0]\n");
        return 2;
    }
    printf("soak: seed %llu, up to %llu faults or %.0f s\n", (unsigned long long)seed,
           (unsigned long long)max_faults, max_seconds);

    tr_system *sys;
    if (tr_system_create(NULL, &sys) != TR_OK)
        return 1;
    tr_fault_plan *plan;
    tr_fault_plan_create(seed, &plan);
    tr_fault_rule rule = {.fail_probability = 0.002, .slow_probability = 0.0005, .slow_ms = 1};
    const tr_behaviour *faulty = tr_fault_wrap(plan, "worker", &worker, &rule);

    counted_sup = tr_supervisor_behaviour;
    counted_sup.init = counted_sup_init;
    tr_child_spec workers[WORKERS];
    char names[WORKERS][8];
    for (int i = 0; i < WORKERS; i++) {
        snprintf(names[i], sizeof(names[i]), "w%d", i);
        workers[i] = (tr_child_spec){.id = names[i], .beh = faulty, .restart = TR_PERMANENT};
    }
    tr_sup_spec *sub_specs[3];
    for (int s = 0; s < 3; s++) {
        tr_sup_flags f = {.strategy = (tr_strategy)s, .intensity = 20, .period_ms = 1000};
        tr_sup_spec_create(&f, workers, WORKERS, &sub_specs[s]);
    }
    tr_child_spec subs[SUBS];
    char sub_names[SUBS][8];
    for (int s = 0; s < SUBS; s++) {
        snprintf(sub_names[s], sizeof(sub_names[s]), "sub%d", s);
        subs[s] = (tr_child_spec){.id = sub_names[s], .beh = &counted_sup, .arg = sub_specs[s % 3],
                                  .restart = TR_PERMANENT, .is_supervisor = true};
    }
    tr_spawn_opts ledger_opts = {.mailbox_capacity = 1u << 24}; /* sees every dead letter */
    tr_spawn(sys, &ledger_beh, NULL, &ledger_opts, &ledger);
    tr_dead_letter_watch(sys, ledger);
    tr_sup_flags top_flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 1000000, .period_ms = 1000};
    tr_ref top;
    if (tr_supervisor_start(sys, &top_flags, subs, SUBS, NULL, &top) != TR_OK)
        return 1;

    tr_metrics m0;
    tr_metrics_get(sys, &m0);
    tr_ref refs[SUBS][WORKERS] = {{{0}}};
    long accepted = 0, refused = 0;
    double start = now_s();
    uint64_t x = seed;
    while (tr_fault_count(plan) < max_faults && now_s() - start < max_seconds) {
        for (int s = 0; s < SUBS; s++) {
            for (int w = 0; w < WORKERS; w++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                int rc = tr_post(sys, refs[s][w], MSG_WORK, &x, sizeof(x), 1000);
                if (rc == TR_OK) {
                    accepted++;
                    continue;
                }
                if (rc != TR_EFULL)
                    refused++; /* counted as a dead letter by the runtime */
                /* look the worker up again (it or its supervisor restarted) */
                tr_ref sub;
                if (tr_supervisor_child(sys, top, sub_names[s], 1000, &sub) != TR_OK ||
                    tr_supervisor_child(sys, sub, names[w], 1000, &refs[s][w]) != TR_OK)
                    refs[s][w] = TR_REF_NONE;
            }
        }
    }
    double elapsed = now_s() - start;
    tr_stop(sys, top);
    tr_await_exit(sys, top, -1, NULL);
    tr_stop(sys, ledger); /* drains the acks and dead-letter notices first */
    tr_await_exit(sys, ledger, -1, NULL);
    tr_metrics m1;
    tr_metrics_get(sys, &m1);
    (void)m0;
    uint64_t dead = (uint64_t)atomic_load(&work_dead_letters) - (uint64_t)refused;
    uint64_t crashed_on = tr_fault_failures(plan); /* handled, and failed on */

    printf("ran %.1f s: %llu faults injected, %ld worker restarts, %ld sub-supervisor restarts (escalations)\n",
           elapsed, (unsigned long long)tr_fault_count(plan), atomic_load(&worker_starts) - SUBS * WORKERS,
           atomic_load(&sub_starts) - SUBS);
    printf("messages: %ld sent, %ld handled, %llu failed on by injection, %llu dead-lettered after "
           "acceptance, %ld refused (dead target, reported to the sender)\n",
           accepted, atomic_load(&acks), (unsigned long long)crashed_on, (unsigned long long)dead, refused);
    int ok = 1;
    ok &= check("sent == handled + failed on + dead-lettered",
                (uint64_t)accepted == (uint64_t)atomic_load(&acks) + crashed_on + dead);
    ok &= check("every worker start ended exactly once (terminate count)",
                atomic_load(&worker_starts) == atomic_load(&worker_ends));
    ok &= check("no actor left alive after the tree stopped", m1.actors_alive == 0);
    ok &= check("faults were injected", tr_fault_count(plan) > 0);
    tr_system_destroy(sys);
    if (!ok) /* the log has every fault; the seed replays them */
        tr_fault_log_print(plan, stderr);
    for (int s = 0; s < 3; s++)
        tr_sup_spec_destroy(sub_specs[s]);
    tr_fault_plan_destroy(plan);
    printf("soak: %s (replay with: troupe_soak %llu %llu %.0f)\n", ok ? "all invariants held" : "FAILED",
           (unsigned long long)seed, (unsigned long long)max_faults, max_seconds);
    return ok ? 0 : 1;
}

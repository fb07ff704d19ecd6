/* core_rtt: the machine's cross-core round trip, without Troupe. Two threads
 * pinned to CPUs 0 and 1 hand one cache line back and forth; the time per
 * round trip is what every message between two workers pays at least. On a
 * VM it can change from one run to the next (where the host puts the two
 * virtual CPUs), which shows up as bimodal times in the message-heavy
 * benchmarks. Prints one figure per trial.
 *
 *   core_rtt [trials]     (default 5; each 2,000,000 round trips) */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUND_TRIPS 2000000L

static _Alignas(64) _Atomic long g_flag;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
}

/* Answers each odd value with the next even one. */
static void *answer(void *arg)
{
    (void)arg;
    pin(1);
    for (long i = 0; i < ROUND_TRIPS; i++) {
        while (atomic_load_explicit(&g_flag, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&g_flag, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static double trial(void)
{
    atomic_store(&g_flag, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, answer, NULL) != 0) {
        perror("pthread_create");
        exit(1);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < ROUND_TRIPS; i++) {
        atomic_store_explicit(&g_flag, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&g_flag, memory_order_acquire) != 2 * i + 2)
            ;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / ROUND_TRIPS;
}

int main(int argc, char **argv)
{
    int trials = argc > 1 ? atoi(argv[1]) : 5;
    pin(0);
    for (int i = 0; i < trials; i++)
        printf("core_rtt %.1f ns per round trip (CPU 0 <-> CPU 1)\n", trial());
    return 0;
}

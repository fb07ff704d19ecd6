/* Fan-out / fan-in: a coordinator splits a job over worker actors and sums
 * their answers. The job: count the primes below LIMIT.
 *
 * What it shows:
 *   - an actor spawning children (opts.parent = tr_self(self)) from its init;
 *   - tr_ask from inside an actor: each request gets exactly one answer back,
 *     TR_MSG_REPLY or TR_MSG_ASK_TIMEOUT, matched by msg->corr;
 *   - tr_reply on the worker side;
 *   - ending with an exit reason: the coordinator stops normally (TR_OK) when
 *     the total is right and fails with an application code when it is not,
 *     and main reads that reason with tr_await_exit;
 *   - stopping a parent stops its children first: nobody stops the workers
 *     by hand;
 *   - a spawn group (tr_group_*): the same job as one-shot tasks, at most two
 *     running at a time, results collected with tr_group_results.
 *
 * Build and run: build/default/examples/fanout [workers 1..64]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

#define LIMIT 300000u      /* count the primes in [0, LIMIT) */
#define MAX_WORKERS 64
#define ASK_TIMEOUT_MS 5000 /* generous: the whole job takes milliseconds */

/* Message type tags: anything from TR_MSG_USER up is ours. */
enum { MSG_COUNT = TR_MSG_USER };

/* Application exit reasons start at TR_EUSER. */
enum { EXIT_WRONG_TOTAL = TR_EUSER, EXIT_NO_ANSWER };

/* One slice of the job: the half-open range [lo, hi). Sent by value. */
typedef struct slice {
    uint32_t lo, hi;
} slice;

/* Deliberately plain trial division: this is the "work". */
static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

static uint64_t count_primes(slice s)
{
    uint64_t n = 0;
    for (uint32_t i = s.lo; i < s.hi; i++)
        n += (uint64_t)is_prime(i);
    return n;
}

/* The reference answer, by a different method (sieve of Eratosthenes). */
static uint64_t count_primes_serial(uint32_t limit)
{
    unsigned char *composite = calloc(limit, 1);
    if (composite == NULL)
        return 0;
    uint64_t n = 0;
    for (uint32_t i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        n++;
        for (uint64_t j = (uint64_t)i * i; j < limit; j += i)
            composite[j] = 1;
    }
    free(composite);
    return n;
}

/* Slice i of `parts` equal slices of [0, limit). */
static slice slice_of(uint32_t i, uint32_t parts, uint32_t limit)
{
    return (slice){.lo = (uint32_t)((uint64_t)limit * i / parts),
                   .hi = (uint32_t)((uint64_t)limit * (i + 1) / parts)};
}

/* ---- the worker: answers each MSG_COUNT ask with the count for its slice ---- */

static int worker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state; /* stateless: everything it needs is in the request */
    if (msg->type != MSG_COUNT || msg->size != sizeof(slice))
        return TR_OK; /* ignore what we do not understand */
    slice s;
    memcpy(&s, msg->data, sizeof(s)); /* msg->data may not be aligned for us */
    uint64_t n = count_primes(s);
    /* tr_reply routes the answer to the asker with the ask's corr */
    return tr_reply(self, msg, &n, sizeof(n));
}

static const tr_behaviour worker = {
    .handle = worker_handle, /* no init, no terminate, no state */
};

/* ---- the coordinator: fan out in init, fan in in handle ---- */

typedef struct coord_args {
    uint32_t workers;
    uint32_t limit;
} coord_args;

typedef struct coord_state {
    uint32_t workers, limit;
    uint32_t answered;             /* replies received so far */
    uint64_t total;                /* sum of the replies */
    uint64_t corr[MAX_WORKERS];    /* correlation id of each worker's ask */
    int done[MAX_WORKERS];         /* that worker has answered */
} coord_state;

static int coord_init(tr_ctx *self, void *state, void *arg)
{
    coord_state *s = state; /* zeroed by the runtime */
    const coord_args *a = arg;
    s->workers = a->workers;
    s->limit = a->limit;

    tr_system *sys = tr_ctx_system(self);
    /* Children: they are stopped before us when we stop, and cannot outlive us. */
    tr_spawn_opts opts = {.parent = tr_self(self)};
    for (uint32_t i = 0; i < s->workers; i++) {
        tr_ref w;
        int rc = tr_spawn(sys, &worker, NULL, &opts, &w);
        if (rc != TR_OK)
            return rc; /* the coordinator fails with that reason */

        /* Fan out. tr_ask returns at once; the answer arrives later as a
         * message whose corr equals s->corr[i]. */
        slice sl = slice_of(i, s->workers, s->limit);
        rc = tr_ask(self, w, MSG_COUNT, &sl, sizeof(sl), ASK_TIMEOUT_MS, &s->corr[i]);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* Which of our asks does this corr belong to? */
static int find_ask(const coord_state *s, uint64_t corr)
{
    for (uint32_t i = 0; i < s->workers; i++)
        if (s->corr[i] == corr && !s->done[i])
            return (int)i;
    return -1;
}

static int coord_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    coord_state *s = state;
    if (msg->type == TR_MSG_ASK_TIMEOUT) {
        /* A worker did not answer in time: give up with our own reason. */
        fprintf(stderr, "coordinator: ask %llu timed out\n", (unsigned long long)msg->corr);
        return EXIT_NO_ANSWER;
    }
    if (msg->type != TR_MSG_REPLY)
        return TR_OK;

    /* Fan in. */
    int i = find_ask(s, msg->corr);
    if (i < 0 || msg->size != sizeof(uint64_t))
        return TR_OK; /* not one of ours */
    uint64_t n;
    memcpy(&n, msg->data, sizeof(n));
    s->done[i] = 1;
    s->answered++;
    s->total += n;
    if (s->answered < s->workers)
        return TR_OK; /* wait for the others */

    uint64_t expected = count_primes_serial(s->limit);
    printf("coordinator: %u workers counted %llu primes below %u (serial sieve: %llu)\n",
           s->workers, (unsigned long long)s->total, s->limit, (unsigned long long)expected);
    if (s->total != expected)
        return EXIT_WRONG_TOTAL; /* fail: main sees this exit reason */
    /* Done. Stopping also stops our children (the workers), first. */
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour coordinator = {
    .init = coord_init,
    .handle = coord_handle,
    .state_size = sizeof(coord_state),
};

/* ---- the same job as a spawn group of one-shot tasks ---- */

/* A task does its slice in init, records the answer as its group result and
 * stops: it never needs a message. `arg` (its slice) must stay valid until
 * init runs, which for a queued spawn can be later: main keeps them. */
static int task_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    tr_set_result(self, (int64_t)count_primes(*(const slice *)arg));
    tr_stop_self(self);
    return TR_OK;
}

static int task_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK; /* handle is required even if no message ever comes */
}

static const tr_behaviour task = {
    .init = task_init,
    .handle = task_handle,
};

/* Runs `parts` tasks, at most 2 at a time, and returns the sum of their
 * results, or -1 if any failed. */
static int64_t run_group(tr_system *sys, uint32_t parts, uint32_t limit)
{
    slice slices[MAX_WORKERS];
    tr_group_result results[MAX_WORKERS];
    tr_group *g;
    if (tr_group_create(sys, 2, TR_REF_NONE, &g) != TR_OK)
        return -1;
    int64_t total = 0;
    for (uint32_t i = 0; i < parts; i++) {
        slices[i] = slice_of(i, parts, limit);
        /* never blocks: beyond 2 running, the spawn is queued */
        if (tr_group_spawn(g, &task, &slices[i], NULL) != TR_OK)
            total = -1;
    }
    if (tr_group_wait(g, ASK_TIMEOUT_MS) != TR_OK)
        total = -1;
    size_t n = tr_group_results(g, 0, results, parts);
    if (n != parts)
        total = -1;
    for (size_t i = 0; i < n && total >= 0; i++) {
        if (results[i].status != TR_OK)
            total = -1;
        else
            total += results[i].value;
    }
    tr_group_destroy(g); /* all ended already: just frees it */
    return total;
}

int main(int argc, char **argv)
{
    long workers = argc > 1 ? strtol(argv[1], NULL, 10) : 8;
    if (workers < 1 || workers > MAX_WORKERS) {
        fprintf(stderr, "usage: fanout [workers 1..%d]\n", MAX_WORKERS);
        return 2;
    }

    tr_system *sys;
    int rc = tr_system_create(NULL, &sys); /* one worker thread per core */
    if (rc != TR_OK) {
        fprintf(stderr, "fanout: create system: %s\n", tr_strerror(rc));
        return 1;
    }

    /* The args are read by init on a worker; they live on main's stack,
     * which outlives the coordinator because we wait for it below. */
    coord_args args = {.workers = (uint32_t)workers, .limit = LIMIT};
    tr_spawn_opts opts = {.name = "coordinator"};
    tr_ref coord;
    rc = tr_spawn(sys, &coordinator, &args, &opts, &coord);
    if (rc != TR_OK) {
        fprintf(stderr, "fanout: spawn coordinator: %s\n", tr_strerror(rc));
        tr_system_destroy(sys);
        return 1;
    }

    int reason = TR_EFAILED;
    rc = tr_await_exit(sys, coord, 10000, &reason);
    int ok = rc == TR_OK && reason == TR_OK;
    if (!ok)
        fprintf(stderr, "fanout: coordinator: %s (exit reason: %s)\n", tr_strerror(rc),
                tr_strerror(reason));

    int64_t group_total = run_group(sys, (uint32_t)workers, LIMIT);
    printf("spawn group: %ld tasks, 2 at a time, counted %lld primes\n", workers,
           (long long)group_total);
    if (group_total < 0 || (uint64_t)group_total != count_primes_serial(LIMIT))
        ok = 0;

    tr_system_destroy(sys); /* nothing left running; joins the threads */
    return ok ? 0 : 1;
}

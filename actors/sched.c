/* Work-stealing scheduler; see sched.h for the protocol. */
#include "actors/sched.h"

#include <sched.h>
#include <stddef.h>
#include <stdlib.h>

#include "actors/blocking.h"
#include "actors/clock.h"
#include "actors/remote.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/table.h"
#include "ds/rng.h"
#include "mem/pool.h"

static _Thread_local tr_worker *tls_worker;

/* Adds to one of w's statistics counters. Only w itself writes them (others
 * only read, tr_metrics_get), so a relaxed load and store do, without the
 * locked read-modify-write a fetch_add costs on every turn. */
static void stat_add(_Atomic uint64_t *counter, uint64_t v)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

tr_worker *tr_sched_current_worker(void) { return tls_worker; }

/* Any thread, no lock: one CAS into the ring, or, when it is full or the
 * list holds actors, one exchange onto the list, whose length goes up
 * first, so that a worker that finds the list momentarily broken (a push
 * half done) sees work and does not park. Either way the push is a seq_cst
 * read-modify-write that inject_has_work sees (the parking protocol: see
 * notify_one). Going to the list while it holds actors keeps the queue
 * first in, first out (inject_collect takes the ring first): a deep backlog,
 * such as a tree of spawns overflowing the workers' queues, runs oldest
 * first, as with the list alone (mixing the two ends kept more of skynet's
 * actors alive at once, and it ran ~10% slower). Returns false when the
 * actor went onto the list. */
static bool inject_push(tr_system *sys, struct tr_actor *a)
{
    if (atomic_load_explicit(&sys->sched.inject_len, memory_order_relaxed) == 0 &&
        tr_ring_push(&sys->sched.inject_ring, a))
        return true;
    atomic_fetch_add_explicit(&sys->sched.inject_len, 1, memory_order_seq_cst);
    tr_mpscq_push(&sys->sched.inject_in, &a->inject_link);
    return false;
}

/* Whether the injection queue holds actors (pushed, or being pushed). */
static bool inject_has_work(tr_system *sys)
{
    return tr_ring_len(&sys->sched.inject_ring) > 0 ||
           atomic_load_explicit(&sys->sched.inject_len, memory_order_seq_cst) > 0;
}

/* The consumer side of the list (inject_popping held): the MPSC queue's pop
 * (ds/mpscq.h). NULL when empty or a push is half done. The caller lowers
 * inject_len once for all it took (one write to a line that every outside
 * submitter writes, not one per actor); until then the length overstates,
 * which only makes a worker look again instead of parking. */
static struct tr_actor *inject_take(tr_system *sys)
{
    tr_mlink *link = tr_mpscq_pop(&sys->sched.inject_in, &sys->sched.inject_out, &sys->sched.inject_stub);
    return link != NULL ? tr_actor_of_link(link) : NULL;
}

/* Takes up to `want` actors (inject_popping held) into got[]: from the ring,
 * then from the list. While the list holds actors nothing new enters the
 * ring (inject_push), so the ring's are the older ones and the ring drains
 * first; neither starves. Returns how many. */
static size_t inject_collect(tr_system *sys, void **got, size_t want)
{
    size_t n = tr_ring_pop_many(&sys->sched.inject_ring, got, want);
    size_t listed = 0;
    struct tr_actor *a;
    while (n < want && (a = inject_take(sys)) != NULL) {
        got[n++] = a;
        listed++;
    }
    if (listed > 0)
        atomic_fetch_sub_explicit(&sys->sched.inject_len, listed, memory_order_seq_cst);
    return n;
}

/* Pops one actor for worker w and moves up to INJECT_BATCH more onto its
 * local queue, so outside work enters in batches. One popper at a time;
 * a worker that finds another popping looks elsewhere. */
#define INJECT_BATCH 16

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Takes the popper role. Another worker holding it is done within a batch
 * (a few cache misses): wait for it, reading only the flag's line, rather
 * than loop through stealing and parking, which touch the lines that
 * submitters write and keep the CPU from them. */
#define INJECT_LOCK_SPINS 50
#define INJECT_LINK_SPINS 100

static bool inject_lock(tr_system *sys)
{
    for (int i = 0; i < 2 * INJECT_LOCK_SPINS; i++) {
        if (!atomic_load_explicit(&sys->sched.inject_popping, memory_order_relaxed)) {
            if (!atomic_exchange_explicit(&sys->sched.inject_popping, true, memory_order_acquire))
                return true;
        }
        if (i == INJECT_LOCK_SPINS)
            sched_yield(); /* more threads than cores: the submitter may want this one */
        else
            cpu_relax();
    }
    return false;
}

static struct tr_actor *inject_pop(tr_worker *w, size_t batch)
{
    tr_system *sys = w->sys;
    if (!inject_has_work(sys))
        return NULL;
    if (!inject_lock(sys))
        return NULL;
    void *got[INJECT_BATCH + 1];
    size_t room = TR_RUNQ_CAP - tr_runq_len(&w->runq);
    size_t want = 1 + (batch < room ? batch : room);
    size_t n = inject_collect(sys, got, want);
    /* seen but not published yet: a submitter is between its claim and its
     * publication, a few instructions, unless it was preempted there */
    for (int i = 0; n == 0 && i < INJECT_LINK_SPINS && inject_has_work(sys); i++) {
        cpu_relax();
        n = inject_collect(sys, got, want);
    }
    atomic_store_explicit(&sys->sched.inject_popping, false, memory_order_release);
    if (n == 0) {
        if (inject_has_work(sys))
            sched_yield(); /* the submitter was preempted mid-push: let it run */
        return NULL;
    }
    /* their lines come from the submitting core: ask for all of them now,
     * in parallel, rather than one miss at a time as each runs */
    struct tr_actor *as[INJECT_BATCH + 1];
    for (size_t i = 0; i < n; i++) {
        as[i] = got[i];
        __builtin_prefetch(got[i], 1);
        __builtin_prefetch((char *)got[i] + 64, 1);
        __builtin_prefetch((char *)got[i] + 128, 1);
    }
    for (size_t i = 1; i < n; i++)
        tr_table_prefetch(&sys->table, as[i]->self);
    if (n > 1) /* fits: only this worker pushes, and want left room */
        tr_runq_push_many(&w->runq, as + 1, n - 1);
    return as[0];
}

/* Hands one wake token to a parked worker, if any is parked and no woken
 * worker is still searching (the throttle of Tokio's scheduler): a searcher
 * will find this work, and when it does, it wakes the next worker if it was
 * the last searcher (found_work). So a burst of submissions wakes workers
 * one at a time instead of the submitter paying a wake-up per item.
 *
 * No lost wake-up: the work is published (seq_cst) before `searching` is
 * read here, and a searcher giving up raises `sleepers`, then lowers
 * `searching`, then looks for work (park). If we saw it searching, its look
 * comes after our publication; if not, we see it among the sleepers. */
static void notify_one(tr_system *sys)
{
    /* orders the caller's publication (a run queue push is a release store)
     * before the loads below */
    tr_fence_seq_cst();
    if (atomic_load_explicit(&sys->sched.searching, memory_order_seq_cst) > 0 ||
        atomic_load_explicit(&sys->sched.sleepers, memory_order_seq_cst) == 0)
        return;
    pthread_mutex_lock(&sys->sched.park_lock);
    if (sys->sched.wake_tokens < atomic_load_explicit(&sys->sched.sleepers, memory_order_relaxed)) {
        sys->sched.wake_tokens++;
        atomic_fetch_add_explicit(&sys->sched.searching, 1, memory_order_seq_cst);
        pthread_cond_signal(&sys->sched.park_cv);
    }
    pthread_mutex_unlock(&sys->sched.park_lock);
}

/* A searching worker found work: it stops searching, and if it was the last
 * searcher, wakes another worker, since there may be more work. */
static void found_work(tr_worker *w)
{
    if (!w->searching)
        return;
    w->searching = false;
    if (atomic_fetch_sub_explicit(&w->sys->sched.searching, 1, memory_order_seq_cst) == 1)
        notify_one(w->sys);
}

void tr_sched_submit(tr_system *sys, struct tr_actor *a)
{
    if (__builtin_expect(a->blocking, 0)) {
        tr_blocking_submit_actor(sys, a); /* its turns run on the blocking pool */
        return;
    }
    tr_worker *w = tls_worker;
    if (w != NULL && w->sys == sys) {
        if (!tr_runq_push(&w->runq, a)) {
            inject_push(sys, a);
            notify_one(sys);
            return;
        }
        /* A single queued actor will be picked up by this worker as soon as
         * the current turn ends; wake a sleeper only when there is more work
         * than that, so ping-pong pairs do not bounce between cores. */
        if (tr_runq_len(&w->runq) > 1)
            notify_one(sys);
        return;
    }
    /* An outside thread whose actor went onto the list (the ring is full,
     * or the list already holds a backlog) is submitting faster than the
     * workers run what it submits. With more threads than cores it may
     * share a core with a worker, and the backlog keeps growing: cold actors (a
     * cache miss per line when they run), fresh memory (page faults, and
     * malloc, as the actor pool has nothing freed to hand back). So it
     * offers its core (sched_yield: a no-op when nothing else is runnable
     * there), which keeps spawn's backlog within the ring. It never waits:
     * the actor is queued already. */
    bool ringed = inject_push(sys, a);
    notify_one(sys);
    if (!ringed)
        sched_yield();
}

void tr_sched_requeue(tr_system *sys, struct tr_actor *a)
{
    tr_worker *w = tls_worker;
    if (w != NULL && w->sys == sys && tr_runq_push(&w->runq, a))
        return;
    tr_sched_submit(sys, a);
}

/* A thief leaves a lone queued actor to its worker, which is running a turn
 * and will take it next: this is what keeps a producer and its consumer
 * (or a ping-pong pair) on one core instead of bouncing their messages
 * between caches. A second queued actor is stealable, and its submission
 * wakes a parked worker (tr_sched_submit). */
#define STEAL_MIN 2u

/* The valve on that rule: a worker that parks while another worker's queue
 * holds actors it may not steal waits at most PATIENCE_MS, and then steals
 * even a lone actor. So two busy actors that only requeue themselves (which
 * wakes nobody), or an actor queued behind a long turn, wait at most that
 * long for the idle core; a pair that talks a lot is split at most once per
 * PATIENCE_MS and comes back together when the receiver next goes idle. A
 * worker parks without a deadline when every queue is empty, so an idle
 * system still uses no CPU. */
#define PATIENCE_MS 1

/* A worker that parks while the object pools hold more free memory than
 * they keep when idle (mem/pool.h: ending a million actors fills them)
 * wakes after this long without work and gives the excess back to malloc,
 * a step at a time, stopping when work arrives. Not sooner: a worker that
 * runs dry for a moment in the middle of a burst must not spend it in
 * free(). */
#define TRIM_AFTER_MS 20

/* Whether self has work it may take now: the injection queue, its own
 * queue, or a queue it may steal from. *beside is set when another worker's
 * queue holds actors at all (lone ones included: see PATIENCE_MS). */
static bool sched_has_work(tr_worker *self, bool *beside)
{
    tr_system *sys = self->sys;
    *beside = false;
    if (inject_has_work(sys))
        return true;
    for (uint32_t i = 0; i < sys->sched.nworkers; i++) {
        tr_worker *w = &sys->sched.workers[i];
        size_t len = tr_runq_len(&w->runq);
        if (len >= (w == self ? 1u : STEAL_MIN))
            return true;
        if (w != self && len > 0)
            *beside = true;
    }
    return false;
}

static struct tr_actor *steal(tr_worker *w)
{
    tr_system *sys = w->sys;
    uint32_t n = sys->sched.nworkers;
    if (n < 2)
        return NULL;
    uint32_t min = w->patient ? 1u : STEAL_MIN;
    w->patient = false;
    uint32_t start = tr_rng_next(&w->rng) % n;
    for (uint32_t i = 0; i < n; i++) {
        tr_worker *victim = &sys->sched.workers[(start + i) % n];
        if (victim == w || tr_runq_len(&victim->runq) < min)
            continue;
        size_t got = tr_runq_steal_half(&victim->runq, &w->runq);
        if (got > 0) {
            stat_add(&w->steals, got);
            return tr_runq_pop(&w->runq);
        }
    }
    return NULL;
}

static struct tr_actor *next_actor(tr_worker *w)
{
    struct tr_actor *a;
    if (++w->tick % 61 == 0 && (a = inject_pop(w, 0)) != NULL)
        return a; /* fairness check: one actor, the local queue is busy */
    if ((a = tr_runq_pop(&w->runq)) != NULL)
        return a;
    if ((a = inject_pop(w, INJECT_BATCH)) != NULL)
        return a;
    return steal(w);
}

static void park(tr_worker *w)
{
    tr_system *sys = w->sys;
    /* NNG reads the connection again; not under park_lock: what the read
     * taken back holds is delivered (tr_sched_submit takes it) */
    tr_remote_unwatch(w);
    if (w->nflush > 0) /* sent on this thread outside a turn */
        tr_remote_turn_end(w);
    tr_deliver_turn_end(); /* a sleeping worker keeps no actor alive */
    tr_table_flush_thread(&sys->table); /* idle workers strand no free slots */
    bool beside_work;
    pthread_mutex_lock(&sys->sched.park_lock);
    atomic_fetch_add_explicit(&sys->sched.sleepers, 1, memory_order_seq_cst);
    if (w->searching) { /* after raising sleepers: see notify_one */
        w->searching = false;
        atomic_fetch_sub_explicit(&sys->sched.searching, 1, memory_order_seq_cst);
    }
    if (sched_has_work(w, &beside_work) ||
        atomic_load_explicit(&sys->sched.workers_exit, memory_order_seq_cst)) {
        atomic_fetch_sub_explicit(&sys->sched.sleepers, 1, memory_order_seq_cst);
        pthread_mutex_unlock(&sys->sched.park_lock);
        return;
    }
    stat_add(&w->parks, 1);
    /* with the pools holding more than they keep when idle, wait at most
     * TRIM_AFTER_MS, then trim (see TRIM_AFTER_MS) */
    uint32_t wait_ms = beside_work ? PATIENCE_MS : tr_pool_over_idle() ? TRIM_AFTER_MS : 0;
    struct timespec deadline;
    if (wait_ms > 0)
        deadline = tr_deadline_after(wait_ms);
    bool trim = false;
    while (sys->sched.wake_tokens == 0 && !atomic_load_explicit(&sys->sched.workers_exit, memory_order_seq_cst)) {
        if (wait_ms == 0) {
            pthread_cond_wait(&sys->sched.park_cv, &sys->sched.park_lock);
        } else if (!tr_cond_wait_until(&sys->sched.park_cv, &sys->sched.park_lock, (int)wait_ms, &deadline)) {
            if (beside_work)
                w->patient = true; /* see PATIENCE_MS */
            else
                trim = true;
            break;
        }
    }
    if (sys->sched.wake_tokens > 0) {
        sys->sched.wake_tokens--;
        w->searching = true; /* notify_one counted us in `searching` */
    }
    atomic_fetch_sub_explicit(&sys->sched.sleepers, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->sched.park_lock);
    while (trim && tr_pool_trim() && !sched_has_work(w, &beside_work))
        ;
}

/* A worker whose turn wrote to another node expects the answer within a
 * network round trip. Parked, it would cost a futex wake-up per message
 * and, on a virtual machine, the wake-up of an idle virtual CPU: instead
 * it keeps looking for work for up to REMOTE_SPIN_NS, yielding its core
 * between looks (to the NNG threads that bring the answer, when they
 * share it), as Erlang's schedulers busy-wait before they sleep. It counts
 * as searching meanwhile (no other worker is woken for work it will take;
 * found_work wakes one if more comes). Only systems with a node attached
 * ever spin: tr_remote_turn_end sets remote_until_ns.
 *
 * Meanwhile it watches the connection of the peer it wrote to last and
 * reads the answer itself (tr_remote_poll): NNG's poller thread completes
 * the read, and no task-queue thread has to wake up to hand it over. It
 * keeps the watch, polling between turns, until it parks. */
#define REMOTE_SPIN_NS 100000

static struct tr_actor *await_remote(tr_worker *w)
{
    tr_system *sys = w->sys;
    uint64_t until = w->remote_until_ns;
    w->remote_until_ns = 0;
    w->watch_idle = 0;
    if (!w->searching) {
        w->searching = true;
        atomic_fetch_add_explicit(&sys->sched.searching, 1, memory_order_seq_cst);
    }
    struct tr_actor *a;
    tr_remote_watch(w);
    do {
        sched_yield();
        if (w->watch != NULL)
            tr_remote_poll(w);
        if ((a = next_actor(w)) != NULL)
            return a;
    } while (tr_now_ns() < until && !atomic_load_explicit(&sys->sched.workers_exit, memory_order_relaxed));
    return NULL; /* parks: park() lowers `searching` after raising `sleepers` */
}

/* A worker that watches polls between its turns, since nobody else reads
 * the watched connection. One that keeps finding local work and nothing on
 * the connection lets go after WATCH_IDLE_MAX polls in a row (NNG's
 * callback reads it again): the poll costs a few atomic operations a turn,
 * which a worker busy with local actors should not pay for long. It
 * watches again the next time it waits for an answer with nothing else to
 * do (await_remote). */
#define WATCH_IDLE_MAX 64

static void poll_between_turns(tr_worker *w)
{
    if (tr_remote_poll(w))
        w->watch_idle = 0;
    else if (++w->watch_idle >= WATCH_IDLE_MAX)
        tr_remote_unwatch(w);
}

void tr_sched_expect_remote(tr_worker *w)
{
    w->remote_until_ns = tr_now_ns() + REMOTE_SPIN_NS;
}

static void *worker_main(void *arg)
{
    tr_worker *w = arg;
    tls_worker = w;
    tr_table_bind_thread(&w->sys->table);
    uint32_t batch = w->sys->cfg.batch;
    while (!atomic_load_explicit(&w->sys->sched.workers_exit, memory_order_acquire)) {
        if (__builtin_expect(w->watch != NULL, 0))
            poll_between_turns(w); /* the watched connection is read by no one else */
        struct tr_actor *a = next_actor(w);
        if (a == NULL && !w->searching) {
            /* Out of work. With more threads than cores, the thread that
             * submits our work (an outside spawner, say) may be waiting for
             * this core: offer it once and look again, rather than park at
             * once and have the submitter pay a futex wake-up and us a
             * sleep for the next actor (a no-op when nothing else is
             * runnable here). A woken searcher parks at once instead: while
             * it searches nobody else is woken (notify_one), so it must not
             * linger. */
            sched_yield();
            a = next_actor(w);
        }
        if (a == NULL && w->remote_until_ns != 0)
            a = await_remote(w);
        if (a == NULL) {
            park(w);
            continue;
        }
        found_work(w);
        uint64_t handled = 0;
        tr_actor_run(a, batch, &handled);
        if (w->nflush > 0) /* the turn's remote sends */
            tr_remote_turn_end(w);
        stat_add(&w->messages, handled);
        stat_add(&w->turns, 1);
    }
    tr_remote_unwatch(w);
    tr_deliver_turn_end();
    tr_table_unbind_thread(&w->sys->table);
    tls_worker = NULL;
    return NULL;
}

int tr_sched_start(tr_system *sys)
{
    uint32_t n = sys->cfg.workers;
    sys->sched.workers = calloc(n, sizeof(*sys->sched.workers));
    if (sys->sched.workers == NULL)
        return TR_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        tr_worker *w = &sys->sched.workers[i];
        tr_runq_init(&w->runq);
        w->sys = sys;
        w->index = i;
        w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
    }
    sys->sched.nworkers = n; /* workers read it from their first steal on */
    for (uint32_t i = 0; i < n; i++) {
        if (pthread_create(&sys->sched.workers[i].thread, NULL, worker_main, &sys->sched.workers[i]) != 0) {
            sys->sched.nworkers = i; /* not yet read: the started workers only park */
            tr_sched_stop(sys);
            return TR_ENOMEM;
        }
    }
    return TR_OK;
}

void tr_sched_stop(tr_system *sys)
{
    pthread_mutex_lock(&sys->sched.park_lock);
    atomic_store_explicit(&sys->sched.workers_exit, true, memory_order_seq_cst);
    pthread_cond_broadcast(&sys->sched.park_cv);
    pthread_mutex_unlock(&sys->sched.park_lock);
    for (uint32_t i = 0; i < sys->sched.nworkers; i++)
        pthread_join(sys->sched.workers[i].thread, NULL);
    free(sys->sched.workers);
    sys->sched.workers = NULL;
    sys->sched.nworkers = 0;
}

/* The blocking pool: bounded, elastic threads for work that may block.
 *
 * Modelled on Tokio's blocking pool (runtime/blocking/pool.rs): one lock,
 * one queue, threads spawned on demand while no thread is idle, up to a
 * bound, each exiting after a keep-alive without work. Blocking work is
 * slow by definition (a system call at least), so a mutex and a condition
 * variable cost nothing that matters here, and keep the pool simple enough
 * to check by reading; the workers' lock-free machinery stays theirs.
 *
 * Shutdown (tr_blocking_pool_stop) may have to leave a thread stuck in a
 * user function: the pool is then freed by its last thread (`refs`), and a
 * thread whose pool was abandoned (sys == NULL) drops its result and exits
 * without touching the system. */
#include "actors/blocking.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "actors/actor_impl.h"
#include "actors/clock.h"
#include "actors/dead_letters.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/table.h"
#include "troupe/blocking.h"

#define DEFAULT_THREADS_MAX 512       /* Tokio's default */
#define DEFAULT_KEEP_ALIVE_MS 10000   /* Tokio's default */

/* One tr_blocking_run call; also the payload of its result message. */
typedef struct blocking_call {
    tr_blocking_result result; /* first: the message's data points here */
    tr_mlink link;
    tr_blocking_fn fn;
    tr_blocking_drop_fn drop;
    tr_ref caller;
    uint32_t reply_type;
    uint64_t id;
    bool kept; /* tr_blocking_keep took arg and value */
} blocking_call;

/* A FIFO of links, under the pool lock (which orders it: relaxed atomics). */
typedef struct link_fifo {
    tr_mlink *head, *tail;
    uint64_t len;
} link_fifo;

typedef struct pool_thread {
    pthread_t tid;
    struct tr_blocking_pool *pool;
    struct pool_thread *next; /* on `exited`, waiting to be joined */
} pool_thread;

struct tr_blocking_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_cv; /* idle threads wait for work */
    pthread_cond_t done_cv; /* tr_blocking_pool_stop waits for threads */
    tr_system *sys;         /* NULL once stop abandoned the stuck threads */
    link_fifo actors;       /* turns of blocking actors, through inject_link */
    link_fifo calls;        /* tr_blocking_run calls */
    bool actors_first;      /* which queue the next thread looks at first */
    bool closing;
    uint32_t max, keep_alive_ms;
    uint32_t threads; /* alive */
    uint32_t idle;    /* waiting for work */
    uint32_t in_call; /* inside a call's fn: the only threads stop may abandon */
    uint32_t refs;    /* alive threads, plus one for the system until stop */
    pool_thread *exited;
    uint64_t next_id;
    uint64_t calls_run;
};

static void fifo_push(link_fifo *q, tr_mlink *l)
{
    atomic_store_explicit(&l->next, NULL, memory_order_relaxed);
    if (q->tail != NULL)
        atomic_store_explicit(&q->tail->next, l, memory_order_relaxed);
    else
        q->head = l;
    q->tail = l;
    q->len++;
}

static tr_mlink *fifo_pop(link_fifo *q)
{
    tr_mlink *l = q->head;
    if (l == NULL)
        return NULL;
    q->head = atomic_load_explicit(&l->next, memory_order_relaxed);
    if (q->head == NULL)
        q->tail = NULL;
    q->len--;
    return l;
}

static blocking_call *call_of_link(tr_mlink *l)
{
    return TR_CONTAINER_OF(l, blocking_call, link);
}

/* Frees a call; its drop function runs unless the handler kept the result.
 * Also the free function of the result message. */
static void call_release(void *buf)
{
    blocking_call *c = buf;
    if (!c->kept && c->drop != NULL)
        c->drop(c->result.arg, c->result.value);
    free(c);
}

/* Sends a finished call's result to its caller, past the mailbox bound. */
static void call_deliver(tr_system *sys, blocking_call *c)
{
    tr_ref caller = c->caller;
    uint32_t type = c->reply_type;
    uint64_t id = c->id;
    tr_mnode *n = tr_mnode_move(type, c, sizeof(c->result), call_release);
    if (n == NULL) { /* c was released: the loss is reported */
        tr_dead_letter_record(sys, caller, TR_REF_NONE, type, TR_ENOMEM);
        return;
    }
    n->msg.corr = id;
    tr_deliver(sys, NULL, caller, n, true, 0);
}

/* After a task, on a pool thread: drops what the thread keeps of the
 * system (holds on actors, cached table slots) so that an idle thread
 * strands nothing. */
static void after_task(tr_system *sys)
{
    tr_deliver_turn_end();
    tr_table_flush_thread(&sys->table);
}

/* Takes the next task (lock held): *actor or *call. Alternates between the
 * queues so that neither kind starves the other. */
static bool take_task(tr_blocking_pool *p, struct tr_actor **actor, blocking_call **call)
{
    link_fifo *first = p->actors_first ? &p->actors : &p->calls;
    link_fifo *second = p->actors_first ? &p->calls : &p->actors;
    tr_mlink *l = fifo_pop(first);
    link_fifo *from = first;
    if (l == NULL) {
        l = fifo_pop(second);
        from = second;
    }
    if (l == NULL)
        return false;
    p->actors_first = !p->actors_first;
    *actor = from == &p->actors ? tr_actor_of_link(l) : NULL;
    *call = from == &p->calls ? call_of_link(l) : NULL;
    return true;
}

static void *pool_thread_main(void *arg);

/* Joins the threads that exited for lack of work (lock held: they no
 * longer need it, so the join only waits for their last instructions). */
static void reap_exited(tr_blocking_pool *p)
{
    while (p->exited != NULL) {
        pool_thread *t = p->exited;
        p->exited = t->next;
        pthread_join(t->tid, NULL);
        free(t);
    }
}

/* Starts one more thread (lock held). False when none could be started. */
static bool spawn_thread(tr_blocking_pool *p)
{
    reap_exited(p);
    pool_thread *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return false;
    t->pool = p;
    /* the new thread needs the lock before it can exit: t->tid is written
     * before anyone reads it */
    if (pthread_create(&t->tid, NULL, pool_thread_main, t) != 0) {
        free(t);
        return false;
    }
    p->threads++;
    p->refs++;
    return true;
}

/* Makes sure a thread will take the task about to be queued (lock held):
 * wakes an idle one, or starts one while under the bound. Returns false
 * only when no thread exists and none could be started. */
static bool wake_or_grow(tr_blocking_pool *p)
{
    uint64_t queued = p->actors.len + p->calls.len + 1;
    if (queued <= p->idle) {
        pthread_cond_signal(&p->work_cv);
        return true;
    }
    if (p->threads < p->max && spawn_thread(p))
        return true;
    if (p->idle > 0)
        pthread_cond_signal(&p->work_cv);
    return p->threads > 0; /* else: a busy thread takes it next */
}

/* A thread's last step (lock held, released here). */
static void thread_exit(tr_blocking_pool *p, pool_thread *self)
{
    p->threads--;
    bool last = --p->refs == 0;
    if (p->sys != NULL) {
        self->next = p->exited; /* joined by the next spawn or by stop */
        p->exited = self;
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->lock);
        return;
    }
    /* abandoned by stop: nobody joins us */
    pthread_detach(pthread_self());
    free(self);
    pthread_mutex_unlock(&p->lock);
    if (last) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->work_cv);
        pthread_cond_destroy(&p->done_cv);
        free(p);
    }
}

static void *pool_thread_main(void *arg)
{
    pool_thread *self = arg;
    tr_blocking_pool *p = self->pool;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct tr_actor *actor;
        blocking_call *call;
        if (take_task(p, &actor, &call)) {
            tr_system *sys = p->sys;
            if (actor != NULL) {
                pthread_mutex_unlock(&p->lock);
                uint64_t handled;
                tr_actor_run(actor, sys->cfg.batch, &handled);
                after_task(sys);
                pthread_mutex_lock(&p->lock);
                continue;
            }
            p->in_call++;
            pthread_mutex_unlock(&p->lock);
            call->result.value = call->fn(call->result.arg);
            pthread_mutex_lock(&p->lock);
            p->in_call--;
            p->calls_run++;
            if (p->sys == NULL) { /* abandoned while fn ran */
                pthread_mutex_unlock(&p->lock);
                call_release(call);
                pthread_mutex_lock(&p->lock);
                break;
            }
            pthread_mutex_unlock(&p->lock); /* stop waits for us: sys stays */
            call_deliver(sys, call);
            after_task(sys);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        if (p->closing)
            break;
        struct timespec deadline = tr_deadline_after((int)p->keep_alive_ms);
        p->idle++;
        int rc = pthread_cond_timedwait(&p->work_cv, &p->lock, &deadline);
        p->idle--;
        if (rc == ETIMEDOUT && p->actors.len + p->calls.len == 0)
            break; /* idle for the keep-alive: shrink */
    }
    thread_exit(p, self);
    return NULL;
}

int tr_blocking_pool_start(tr_system *sys)
{
    tr_blocking_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return TR_ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->sys = sys;
    p->max = sys->cfg.blocking_threads_max != 0 ? sys->cfg.blocking_threads_max
                                                : DEFAULT_THREADS_MAX;
    p->keep_alive_ms = sys->cfg.blocking_keep_alive_ms != 0 ? sys->cfg.blocking_keep_alive_ms
                                                            : DEFAULT_KEEP_ALIVE_MS;
    p->refs = 1;
    sys->blocking = p;
    return TR_OK;
}

void tr_blocking_pool_stop(tr_system *sys, const struct timespec *deadline)
{
    tr_blocking_pool *p = sys->blocking;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    tr_mlink *dropped = p->calls.head; /* never started: dropped below */
    p->calls = (link_fifo){0};
    pthread_cond_broadcast(&p->work_cv);
    bool abandon = false;
    while (p->threads > 0) {
        bool late = false;
        if (p->threads > p->in_call) /* a turn or a delivery: short, wait it out */
            pthread_cond_wait(&p->done_cv, &p->lock);
        else if (pthread_cond_timedwait(&p->done_cv, &p->lock, deadline) == ETIMEDOUT)
            late = true;
        if (late && p->threads > 0 && p->threads == p->in_call) {
            abandon = true;
            break;
        }
    }
    if (abandon)
        p->sys = NULL; /* the threads still in fn exit on their own */
    reap_exited(p);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    sys->blocking = NULL;
    while (dropped != NULL) {
        blocking_call *c = call_of_link(dropped);
        dropped = atomic_load_explicit(&dropped->next, memory_order_relaxed);
        tr_dead_letter_record(sys, c->caller, TR_REF_NONE, c->reply_type, TR_ECLOSED);
        call_release(c);
    }
    if (last) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->work_cv);
        pthread_cond_destroy(&p->done_cv);
        free(p);
    }
}

void tr_blocking_submit_actor(tr_system *sys, struct tr_actor *a)
{
    tr_blocking_pool *p = sys->blocking;
    pthread_mutex_lock(&p->lock);
    /* queued even when no thread could be started: the next submission or
     * a busy thread takes it (a turn cannot be refused) */
    (void)wake_or_grow(p);
    fifo_push(&p->actors, &a->inject_link);
    pthread_mutex_unlock(&p->lock);
}

void tr_blocking_pool_metrics(tr_system *sys, uint64_t *threads, uint64_t *idle, uint64_t *queued,
                              uint64_t *calls_run)
{
    tr_blocking_pool *p = sys->blocking;
    *threads = *idle = *queued = *calls_run = 0;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    *threads = p->threads;
    *idle = p->idle;
    *queued = p->actors.len + p->calls.len;
    *calls_run = p->calls_run;
    pthread_mutex_unlock(&p->lock);
}

/* ---- public calls ---- */

int tr_blocking_run(tr_ctx *self, tr_blocking_fn fn, void *arg, tr_blocking_drop_fn drop,
                    uint32_t reply_type, uint64_t *call_id)
{
    if (self == NULL || fn == NULL || reply_type < TR_MSG_USER)
        return TR_EINVAL;
    tr_blocking_pool *p = self->sys->blocking;
    blocking_call *c = malloc(sizeof(*c));
    if (c == NULL)
        return TR_ENOMEM;
    *c = (blocking_call){.result = {.arg = arg}, .fn = fn, .drop = drop, .caller = self->self,
                         .reply_type = reply_type};
    int rc = TR_OK;
    pthread_mutex_lock(&p->lock);
    if (p->closing)
        rc = TR_ECLOSED;
    else if (!wake_or_grow(p))
        rc = TR_ENOMEM;
    if (rc == TR_OK) {
        c->id = ++p->next_id;
        fifo_push(&p->calls, &c->link);
        if (call_id != NULL)
            *call_id = c->id;
    }
    pthread_mutex_unlock(&p->lock);
    if (rc != TR_OK)
        free(c);
    return rc;
}

void *tr_blocking_keep(const tr_msg *msg)
{
    if (msg == NULL || msg->data == NULL || tr_mnode_of(msg)->free_fn != call_release)
        return NULL;
    blocking_call *c = (blocking_call *)msg->data;
    c->kept = true;
    return c->result.value;
}

/* Fixed-size object pools with per-thread magazine caches; see pool.h.
 *
 * The design is Bonwick's magazine layer (Bonwick & Adams, "Magazines and
 * Vmem", USENIX 2001). A magazine is an array of up to TR_POOL_BATCH free
 * object pointers. Each thread has, per pool, a `cur` magazine (allocations
 * pop from it, frees push to it) and a `spare` that is always either full or
 * empty. When `cur` runs dry or fills up it is swapped with `spare` if that
 * helps; only otherwise does the thread visit the depot, which trades whole
 * magazines (full for empty or the reverse) under a mutex. The spare gives a
 * magazine of hysteresis, so a thread alternating allocations and frees
 * around a boundary never touches the depot.
 *
 * Free objects are never written to or read from while cached (the pointers
 * live in the magazine), so handing an object from the thread that freed it
 * to the one that allocates it costs no cache miss inside the allocator. */
#include "mailbox/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define EMPTY_MAGAZINES_KEPT 64

typedef struct magazine {
    struct magazine *next; /* depot lists */
    unsigned n;
    void *objs[TR_POOL_BATCH];
} magazine;

typedef struct depot {
    pthread_mutex_t lock;
    _Atomic size_t size; /* object size, set by the first allocation */
    size_t idle_bytes, busy_bytes; /* bounds; 0 = the defaults (pool.h) */
    size_t max_full;     /* full magazines kept at most: busy_bytes worth */
    size_t idle_full;    /* full magazines kept after a trim: idle_bytes worth */
    _Atomic bool over_idle; /* nfull > idle_full: tr_pool_trim has work */
    magazine *full, *empty;
    size_t nfull, nempty;
} depot;

typedef struct thread_cache {
    magazine *cur[TR_POOL_COUNT];
    magazine *spare[TR_POOL_COUNT]; /* NULL, empty or full */
    bool registered; /* the thread-exit destructor will flush this cache */
} thread_cache;

/* Two workers ending actors visit the depot every TR_POOL_BATCH frees each,
 * for a few instructions: a lock that spins briefly before it sleeps keeps
 * a collision from costing a futex sleep and wake (glibc's adaptive mutex). */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define DEPOT_LOCK_INIT PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#else
#define DEPOT_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
#endif

static depot g_depots[TR_POOL_COUNT] = {
    {.lock = DEPOT_LOCK_INIT},
    {.lock = DEPOT_LOCK_INIT},
};
_Static_assert(TR_POOL_COUNT == 2, "initialise every depot above");

static _Thread_local thread_cache tls_cache;
static pthread_key_t g_exit_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_have_key;

static size_t obj_size(tr_pool_id id)
{
    return atomic_load_explicit(&g_depots[id].size, memory_order_relaxed);
}

/* Frees the objects a magazine holds back to malloc; it is left empty. */
static void magazine_drain(magazine *m, size_t size)
{
    for (unsigned i = 0; i < m->n; i++) {
        POOL_UNPOISON(m->objs[i], size);
        free(m->objs[i]);
    }
    m->n = 0;
}

/* Keeps an empty magazine in the depot (d->lock held), or frees it when
 * enough are kept already. */
static void depot_keep_empty(depot *d, magazine *m)
{
    if (d->nempty >= EMPTY_MAGAZINES_KEPT) {
        free(m);
        return;
    }
    m->next = d->empty;
    d->empty = m;
    d->nempty++;
}

/* Keeps a full magazine in the depot (d->lock held) unless it holds its
 * busy share already; returns whether it did. */
static bool depot_store_full(depot *d, magazine *m)
{
    if (d->nfull >= d->max_full)
        return false;
    m->next = d->full;
    d->full = m;
    if (++d->nfull > d->idle_full)
        atomic_store_explicit(&d->over_idle, true, memory_order_relaxed);
    return true;
}

/* Stores a full magazine in the depot. When the depot already holds its
 * share, the objects go back to malloc and the magazine is kept empty. */
static void depot_put_full(tr_pool_id id, magazine *m)
{
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    bool stored = depot_store_full(d, m);
    pthread_mutex_unlock(&d->lock);
    if (stored)
        return;
    magazine_drain(m, obj_size(id));
    pthread_mutex_lock(&d->lock);
    depot_keep_empty(d, m);
    pthread_mutex_unlock(&d->lock);
}

/* Thread exit: full magazines go to the depot, other objects to malloc. */
static void cache_flush(void *arg)
{
    thread_cache *c = arg;
    c->registered = false;
    for (int i = 0; i < TR_POOL_COUNT; i++) {
        tr_pool_id id = (tr_pool_id)i;
        magazine *ms[2] = {c->cur[id], c->spare[id]};
        c->cur[id] = c->spare[id] = NULL;
        for (int k = 0; k < 2; k++) {
            magazine *m = ms[k];
            if (m == NULL)
                continue;
            if (m->n == TR_POOL_BATCH) {
                depot_put_full(id, m);
                continue;
            }
            magazine_drain(m, obj_size(id));
            pthread_mutex_lock(&g_depots[id].lock);
            depot_keep_empty(&g_depots[id], m);
            pthread_mutex_unlock(&g_depots[id].lock);
        }
    }
}

/* fork() while another thread holds a depot lock must not leave the child
 * with a lock nobody will release. */
static void fork_prepare(void)
{
    for (int id = 0; id < TR_POOL_COUNT; id++)
        pthread_mutex_lock(&g_depots[id].lock);
}

static void fork_release(void)
{
    for (int id = TR_POOL_COUNT - 1; id >= 0; id--)
        pthread_mutex_unlock(&g_depots[id].lock);
}

static void pool_once(void)
{
    g_have_key = pthread_key_create(&g_exit_key, cache_flush) == 0;
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

/* The calling thread's cache, or NULL when it cannot be flushed at thread
 * exit (then the caller uses malloc directly). */
static thread_cache *my_cache(void)
{
    thread_cache *c = &tls_cache;
    if (c->registered)
        return c;
    pthread_once(&g_once, pool_once);
    if (!g_have_key || pthread_setspecific(g_exit_key, c) != 0)
        return NULL;
    c->registered = true;
    return c;
}

/* Turns the byte bounds into magazine counts (d->lock held, size known). */
static void set_bounds(depot *d, size_t size)
{
    size_t idle = d->idle_bytes != 0 ? d->idle_bytes : TR_POOL_DEPOT_BYTES;
    size_t busy = d->busy_bytes != 0 ? d->busy_bytes : TR_POOL_DEPOT_BUSY_BYTES;
    d->idle_full = idle / (TR_POOL_BATCH * size);
    d->max_full = busy / (TR_POOL_BATCH * size);
    if (d->max_full < d->idle_full)
        d->max_full = d->idle_full;
    atomic_store_explicit(&d->over_idle, d->nfull > d->idle_full, memory_order_relaxed);
}

static void set_size(depot *d, size_t size)
{
    if (atomic_load_explicit(&d->size, memory_order_relaxed) != 0)
        return;
    set_bounds(d, size);
    atomic_store_explicit(&d->size, size, memory_order_relaxed);
}

void tr_pool_set_depot_bytes(tr_pool_id id, size_t idle_bytes, size_t busy_bytes)
{
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    d->idle_bytes = idle_bytes;
    d->busy_bytes = busy_bytes;
    size_t size = atomic_load_explicit(&d->size, memory_order_relaxed);
    if (size != 0)
        set_bounds(d, size);
    pthread_mutex_unlock(&d->lock);
}

/* Magazines freed per tr_pool_trim call: a few hundred microseconds of
 * free(), so an idle worker that gets work meanwhile is not held up long. */
#define TRIM_STEP 16

bool tr_pool_over_idle(void)
{
    for (int i = 0; i < TR_POOL_COUNT; i++)
        if (atomic_load_explicit(&g_depots[i].over_idle, memory_order_relaxed))
            return true;
    return false;
}

bool tr_pool_trim(void)
{
    bool more = false;
    for (int i = 0; i < TR_POOL_COUNT; i++) {
        depot *d = &g_depots[i];
        if (!atomic_load_explicit(&d->over_idle, memory_order_relaxed))
            continue;
        magazine *taken = NULL;
        pthread_mutex_lock(&d->lock);
        for (int k = 0; k < TRIM_STEP && d->nfull > d->idle_full; k++) {
            magazine *m = d->full;
            d->full = m->next;
            d->nfull--;
            m->next = taken;
            taken = m;
        }
        bool over = d->nfull > d->idle_full;
        atomic_store_explicit(&d->over_idle, over, memory_order_relaxed);
        pthread_mutex_unlock(&d->lock);
        more |= over;
        size_t size = obj_size((tr_pool_id)i);
        for (magazine *m = taken; m != NULL; m = m->next)
            magazine_drain(m, size);
        pthread_mutex_lock(&d->lock);
        while (taken != NULL) {
            magazine *m = taken;
            taken = m->next;
            depot_keep_empty(d, m);
        }
        pthread_mutex_unlock(&d->lock);
    }
    return more;
}

/* Slow path of an allocation: `cur` is empty or missing. Loads a full
 * magazine (the spare or one from the depot); false when there is none. */
static bool refill(thread_cache *c, tr_pool_id id, size_t size)
{
    magazine *s = c->spare[id];
    if (s != NULL && s->n > 0) {
        c->spare[id] = c->cur[id];
        c->cur[id] = s;
        return true;
    }
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    set_size(d, size);
    magazine *full = d->full;
    if (full != NULL) {
        d->full = full->next;
        d->nfull--;
        /* keep one empty magazine as the spare, give back a second one */
        if (c->cur[id] != NULL) {
            if (c->spare[id] == NULL)
                c->spare[id] = c->cur[id];
            else
                depot_keep_empty(d, c->cur[id]);
        }
        c->cur[id] = full;
    }
    pthread_mutex_unlock(&d->lock);
    return full != NULL;
}

void *tr_pool_alloc(tr_pool_id id, size_t size)
{
    thread_cache *c = my_cache();
    if (c == NULL) {
        depot *d = &g_depots[id];
        pthread_mutex_lock(&d->lock);
        set_size(d, size); /* another thread may free the object into the pool */
        pthread_mutex_unlock(&d->lock);
        return malloc(size);
    }
    magazine *m = c->cur[id];
    if ((m == NULL || m->n == 0) && !refill(c, id, size))
        return malloc(size);
    m = c->cur[id];
    void *obj = m->objs[--m->n];
    POOL_UNPOISON(obj, size);
    return obj;
}

/* Slow path of a free: `cur` is full or missing. Makes room in `cur`;
 * false on ENOMEM (no magazine to be had). */
static bool make_room(thread_cache *c, tr_pool_id id)
{
    magazine *s = c->spare[id];
    if (s != NULL && s->n == 0) {
        c->spare[id] = c->cur[id];
        c->cur[id] = s;
        return true;
    }
    /* One visit to the depot: the full spare goes in (if there is room) and
     * an empty magazine comes out. */
    depot *d = &g_depots[id];
    magazine *e = NULL;
    pthread_mutex_lock(&d->lock);
    if (s != NULL && depot_store_full(d, s))
        s = NULL;
    if (s == NULL && d->empty != NULL) {
        e = d->empty;
        d->empty = e->next;
        d->nempty--;
    }
    pthread_mutex_unlock(&d->lock);
    if (s != NULL) { /* the depot is full: its objects go back to malloc */
        magazine_drain(s, obj_size(id));
        e = s;
    } else if (e == NULL) {
        e = malloc(sizeof(*e));
    }
    if (e != NULL)
        e->n = 0;
    c->spare[id] = c->cur[id];
    c->cur[id] = e;
    return e != NULL;
}

void tr_pool_free(tr_pool_id id, void *obj)
{
    if (obj == NULL)
        return;
    thread_cache *c = my_cache();
    magazine *m = c != NULL ? c->cur[id] : NULL;
    if (c == NULL || ((m == NULL || m->n == TR_POOL_BATCH) && !make_room(c, id))) {
        free(obj);
        return;
    }
    m = c->cur[id];
    POOL_POISON(obj, obj_size(id));
    m->objs[m->n++] = obj;
}

/* A depot field read under its lock (tests, diagnostics). */
static size_t read_locked(tr_pool_id id, const size_t *field)
{
    pthread_mutex_lock(&g_depots[id].lock);
    size_t n = *field;
    pthread_mutex_unlock(&g_depots[id].lock);
    return n;
}

size_t tr_pool_depot_batches(tr_pool_id id) { return read_locked(id, &g_depots[id].nfull); }

size_t tr_pool_depot_max(tr_pool_id id) { return read_locked(id, &g_depots[id].max_full); }

size_t tr_pool_depot_idle_max(tr_pool_id id) { return read_locked(id, &g_depots[id].idle_full); }

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
#include "mem/pool.h"

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

typedef struct tr_pool_magazine {
    struct tr_pool_magazine *next; /* depot lists */
    unsigned n;
    void *objs[TR_POOL_BATCH];
} magazine;

/* A pool's depot is the tr_pool itself (its lock, bounds and lists). */
typedef tr_pool depot;

typedef struct thread_cache {
    magazine *cur[TR_POOL_MAX];
    magazine *spare[TR_POOL_MAX]; /* NULL, empty or full */
    bool registered; /* the thread-exit destructor will flush this cache */
} thread_cache;

/* The pools in use, by slot: a pool takes the next slot on its first use.
 * Slots are never given back (pools are static objects). */
static pthread_mutex_t g_pools_lock = PTHREAD_MUTEX_INITIALIZER;
static tr_pool *g_pools[TR_POOL_MAX];
static _Atomic uint32_t g_npools;

static _Thread_local thread_cache tls_cache;
static pthread_key_t g_exit_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_have_key;

/* The registered pools: g_pools[0, n). */
static uint32_t pools_registered(void)
{
    return atomic_load_explicit(&g_npools, memory_order_acquire);
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
static void depot_put_full(depot *d, magazine *m)
{
    pthread_mutex_lock(&d->lock);
    bool stored = depot_store_full(d, m);
    pthread_mutex_unlock(&d->lock);
    if (stored)
        return;
    magazine_drain(m, d->size);
    pthread_mutex_lock(&d->lock);
    depot_keep_empty(d, m);
    pthread_mutex_unlock(&d->lock);
}

/* Thread exit: full magazines go to the depot, other objects to malloc. */
static void cache_flush(void *arg)
{
    thread_cache *c = arg;
    c->registered = false;
    uint32_t n = pools_registered();
    for (uint32_t slot = 0; slot < n; slot++) {
        depot *d = g_pools[slot];
        magazine *ms[2] = {c->cur[slot], c->spare[slot]};
        c->cur[slot] = c->spare[slot] = NULL;
        for (int k = 0; k < 2; k++) {
            magazine *m = ms[k];
            if (m == NULL)
                continue;
            if (m->n == TR_POOL_BATCH) {
                depot_put_full(d, m);
                continue;
            }
            magazine_drain(m, d->size);
            pthread_mutex_lock(&d->lock);
            depot_keep_empty(d, m);
            pthread_mutex_unlock(&d->lock);
        }
    }
}

/* fork() while another thread holds a depot lock must not leave the child
 * with a lock nobody will release. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&g_pools_lock);
    uint32_t n = pools_registered();
    for (uint32_t slot = 0; slot < n; slot++)
        pthread_mutex_lock(&g_pools[slot]->lock);
}

static void fork_release(void)
{
    uint32_t n = pools_registered();
    for (uint32_t slot = n; slot-- > 0;)
        pthread_mutex_unlock(&g_pools[slot]->lock);
    pthread_mutex_unlock(&g_pools_lock);
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

/* Gives `pool` a slot on its first use; TR_POOL_MAX when every slot is
 * taken (that pool then hands out plain malloc). Returns the slot. */
static uint32_t pool_register(tr_pool *pool)
{
    pthread_once(&g_once, pool_once);
    pthread_mutex_lock(&g_pools_lock);
    uint32_t slot = atomic_load_explicit(&pool->slot, memory_order_relaxed);
    if (slot == 0) {
        uint32_t n = atomic_load_explicit(&g_npools, memory_order_relaxed);
        if (n < TR_POOL_MAX) {
            pthread_mutex_lock(&pool->lock);
            set_bounds(pool, pool->size);
            pthread_mutex_unlock(&pool->lock);
            g_pools[n] = pool;
            atomic_store_explicit(&g_npools, n + 1, memory_order_release);
        }
        slot = n + 1;
        atomic_store_explicit(&pool->slot, slot, memory_order_release);
    }
    pthread_mutex_unlock(&g_pools_lock);
    return slot - 1;
}

/* The pool's slot in the thread caches (< TR_POOL_MAX), or TR_POOL_MAX for
 * a pool beyond them. */
static inline uint32_t pool_slot(tr_pool *pool)
{
    uint32_t slot = atomic_load_explicit(&pool->slot, memory_order_acquire);
    if (__builtin_expect(slot != 0, 1))
        return slot - 1; /* at most TR_POOL_MAX (see pool_register) */
    return pool_register(pool);
}

void tr_pool_set_depot_bytes(tr_pool *pool, size_t idle_bytes, size_t busy_bytes)
{
    pthread_mutex_lock(&pool->lock);
    pool->idle_bytes = idle_bytes;
    pool->busy_bytes = busy_bytes;
    set_bounds(pool, pool->size);
    pthread_mutex_unlock(&pool->lock);
}

/* Magazines freed per tr_pool_trim call: a few hundred microseconds of
 * free(), so an idle worker that gets work meanwhile is not held up long. */
#define TRIM_STEP 16

bool tr_pool_over_idle(void)
{
    uint32_t n = pools_registered();
    for (uint32_t slot = 0; slot < n; slot++)
        if (atomic_load_explicit(&g_pools[slot]->over_idle, memory_order_relaxed))
            return true;
    return false;
}

bool tr_pool_trim(void)
{
    bool more = false;
    uint32_t n = pools_registered();
    for (uint32_t slot = 0; slot < n; slot++) {
        depot *d = g_pools[slot];
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
        for (magazine *m = taken; m != NULL; m = m->next)
            magazine_drain(m, d->size);
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
static bool refill(thread_cache *c, depot *d, uint32_t id)
{
    magazine *s = c->spare[id];
    if (s != NULL && s->n > 0) {
        c->spare[id] = c->cur[id];
        c->cur[id] = s;
        return true;
    }
    pthread_mutex_lock(&d->lock);
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

/* An allocation that cannot pop from the thread's current magazine: the
 * pool or the thread is not registered yet, or `cur` is empty or missing.
 * Out of line, so that the fast path below saves no registers. */
static __attribute__((noinline)) void *alloc_slow(tr_pool *pool)
{
    uint32_t id = pool_slot(pool);
    thread_cache *c = my_cache();
    if (c == NULL || id == TR_POOL_MAX)
        return malloc(pool->size);
    magazine *m = c->cur[id];
    if ((m == NULL || m->n == 0) && !refill(c, pool, id))
        return malloc(pool->size);
    m = c->cur[id];
    void *obj = m->objs[--m->n];
    POOL_UNPOISON(obj, pool->size);
    return obj;
}

void *tr_pool_alloc(tr_pool *pool)
{
    /* slot - 1 wraps for an unregistered pool (0): then the slow path */
    uint32_t id = atomic_load_explicit(&pool->slot, memory_order_acquire) - 1;
    thread_cache *c = &tls_cache;
    magazine *m;
    if (__builtin_expect(id < TR_POOL_MAX && c->registered && (m = c->cur[id]) != NULL &&
                             m->n > 0,
                         1)) {
        void *obj = m->objs[--m->n];
        POOL_UNPOISON(obj, pool->size);
        return obj;
    }
    return alloc_slow(pool);
}

/* Slow path of a free: `cur` is full or missing. Makes room in `cur`;
 * false on ENOMEM (no magazine to be had). */
static bool make_room(thread_cache *c, depot *d, uint32_t id)
{
    magazine *s = c->spare[id];
    if (s != NULL && s->n == 0) {
        c->spare[id] = c->cur[id];
        c->cur[id] = s;
        return true;
    }
    /* One visit to the depot: the full spare goes in (if there is room) and
     * an empty magazine comes out. */
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
        magazine_drain(s, d->size);
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

/* A free that cannot push onto the thread's current magazine (see
 * alloc_slow). */
static __attribute__((noinline)) void free_slow(tr_pool *pool, void *obj)
{
    uint32_t id = pool_slot(pool);
    thread_cache *c = id < TR_POOL_MAX ? my_cache() : NULL;
    magazine *m = c != NULL ? c->cur[id] : NULL;
    if (c == NULL || ((m == NULL || m->n == TR_POOL_BATCH) && !make_room(c, pool, id))) {
        free(obj);
        return;
    }
    m = c->cur[id];
    POOL_POISON(obj, pool->size);
    m->objs[m->n++] = obj;
}

void tr_pool_free(tr_pool *pool, void *obj)
{
    if (obj == NULL)
        return;
    uint32_t id = atomic_load_explicit(&pool->slot, memory_order_acquire) - 1;
    thread_cache *c = &tls_cache;
    magazine *m;
    if (__builtin_expect(id < TR_POOL_MAX && c->registered && (m = c->cur[id]) != NULL &&
                             m->n < TR_POOL_BATCH,
                         1)) {
        POOL_POISON(obj, pool->size);
        m->objs[m->n++] = obj;
        return;
    }
    free_slow(pool, obj);
}

/* A depot field read under its lock (tests, diagnostics). */
static size_t read_locked(tr_pool *pool, const size_t *field)
{
    pthread_mutex_lock(&pool->lock);
    size_t n = *field;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

size_t tr_pool_depot_batches(tr_pool *pool) { return read_locked(pool, &pool->nfull); }

size_t tr_pool_depot_max(tr_pool *pool) { return read_locked(pool, &pool->max_full); }

size_t tr_pool_depot_idle_max(tr_pool *pool) { return read_locked(pool, &pool->idle_full); }

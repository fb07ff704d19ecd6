/* Fixed-size object pools with per-thread caches; see pool.h.
 *
 * A free object's first word links it into a list. Per thread and pool there
 * are two lists, `cur` (0..BATCH objects, allocations and frees happen here)
 * and `spare` (empty or exactly BATCH objects). A free into a full `cur`
 * moves `cur` to `spare`, sending the old spare to the depot; an allocation
 * from an empty `cur` takes `spare`, else a batch from the depot, else
 * mallocs. The two lists give a batch of hysteresis, so a thread that
 * alternates allocating and freeing around a batch boundary never touches
 * the depot. */
#include "mailbox/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/* Under ASan all of a free object but its link word is poisoned: LeakSanitizer
 * does not follow pointers stored in poisoned memory, and would report every
 * cached object behind the first of a list as leaked. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n)                                                                      \
    ASAN_POISON_MEMORY_REGION((char *)(p) + sizeof(free_obj), (n) - sizeof(free_obj))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The smallest object size the depot array is dimensioned for. */
#define POOL_MIN_OBJ 64u
#define DEPOT_SLOTS (TR_POOL_DEPOT_BYTES / (TR_POOL_BATCH * POOL_MIN_OBJ))

typedef struct free_obj {
    struct free_obj *next;
} free_obj;

typedef struct obj_list {
    free_obj *head;
    unsigned n;
} obj_list;

typedef struct depot {
    pthread_mutex_t lock;
    _Atomic size_t size; /* object size, set by the first allocation */
    size_t nbatches, max_batches;
    free_obj *batches[DEPOT_SLOTS]; /* each a list of exactly TR_POOL_BATCH */
} depot;

typedef struct thread_cache {
    obj_list cur[TR_POOL_COUNT];
    obj_list spare[TR_POOL_COUNT];
    bool registered; /* the thread-exit destructor will flush this cache */
} thread_cache;

static depot g_depots[TR_POOL_COUNT] = {
    {.lock = PTHREAD_MUTEX_INITIALIZER},
    {.lock = PTHREAD_MUTEX_INITIALIZER},
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

/* Frees every object of a list back to malloc. */
static void list_release(free_obj *o, size_t size)
{
    while (o != NULL) {
        POOL_UNPOISON(o, size);
        free_obj *next = o->next;
        free(o);
        o = next;
    }
}

/* Stores a full batch in the depot, or frees it when the depot is full. */
static void depot_put(tr_pool_id id, free_obj *batch)
{
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    if (d->nbatches < d->max_batches) {
        d->batches[d->nbatches++] = batch;
        batch = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    list_release(batch, obj_size(id));
}

/* Takes a full batch from the depot into `l` (which is empty). */
static bool depot_take(tr_pool_id id, obj_list *l)
{
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    bool got = d->nbatches > 0;
    if (got) {
        l->head = d->batches[--d->nbatches];
        l->n = TR_POOL_BATCH;
    }
    pthread_mutex_unlock(&d->lock);
    return got;
}

/* Thread exit: hand the cache to the depot (partial lists go to malloc). */
static void cache_flush(void *arg)
{
    thread_cache *c = arg;
    c->registered = false;
    for (int id = 0; id < TR_POOL_COUNT; id++) {
        if (c->spare[id].head != NULL)
            depot_put((tr_pool_id)id, c->spare[id].head);
        if (c->cur[id].n == TR_POOL_BATCH)
            depot_put((tr_pool_id)id, c->cur[id].head);
        else
            list_release(c->cur[id].head, obj_size((tr_pool_id)id));
        c->spare[id] = (obj_list){0};
        c->cur[id] = (obj_list){0};
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

static void set_size(tr_pool_id id, size_t size)
{
    depot *d = &g_depots[id];
    if (atomic_load_explicit(&d->size, memory_order_relaxed) == size)
        return;
    pthread_mutex_lock(&d->lock);
    if (atomic_load_explicit(&d->size, memory_order_relaxed) == 0) {
        size_t per_batch = TR_POOL_BATCH * (size < POOL_MIN_OBJ ? POOL_MIN_OBJ : size);
        d->max_batches = TR_POOL_DEPOT_BYTES / per_batch;
        atomic_store_explicit(&d->size, size, memory_order_relaxed);
    }
    pthread_mutex_unlock(&d->lock);
}

void *tr_pool_alloc(tr_pool_id id, size_t size)
{
    if (size < sizeof(free_obj))
        size = sizeof(free_obj);
    thread_cache *c = my_cache();
    if (c == NULL)
        return malloc(size);
    obj_list *l = &c->cur[id];
    if (l->head == NULL) {
        if (c->spare[id].head != NULL) {
            *l = c->spare[id];
            c->spare[id] = (obj_list){0};
        } else if (!depot_take(id, l)) {
            set_size(id, size);
            return malloc(size);
        }
    }
    free_obj *o = l->head;
    POOL_UNPOISON(o, size);
    l->head = o->next;
    l->n--;
    return o;
}

void tr_pool_free(tr_pool_id id, void *obj)
{
    if (obj == NULL)
        return;
    thread_cache *c = my_cache();
    if (c == NULL) {
        free(obj);
        return;
    }
    obj_list *l = &c->cur[id];
    if (l->n == TR_POOL_BATCH) {
        if (c->spare[id].head != NULL)
            depot_put(id, c->spare[id].head);
        c->spare[id] = *l;
        *l = (obj_list){0};
    }
    free_obj *o = obj;
    o->next = l->head;
    l->head = o;
    l->n++;
    POOL_POISON(o, obj_size(id));
}

size_t tr_pool_depot_batches(tr_pool_id id)
{
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    size_t n = d->nbatches;
    pthread_mutex_unlock(&d->lock);
    return n;
}

size_t tr_pool_depot_max(tr_pool_id id)
{
    depot *d = &g_depots[id];
    pthread_mutex_lock(&d->lock);
    size_t n = d->max_batches;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* Generation-checked actor table; see table.h for the protocol. */
#include "actors/table.h"

#include <stdlib.h>

#define SLOT_LIVE (1ull << 31)
#define SLOT_OPEN (1ull << 30)
#define SLOT_HOLDS_MASK ((1ull << 30) - 1)
#define SLOT_GEN(w) ((uint32_t)((w) >> 32))
/* A reference packs (node, generation, index + 1): see tr_ref in actor.h. */
#define REF_INDEX_BITS 25
#define REF_GEN_BITS 27
#define REF_GEN_MASK ((1u << REF_GEN_BITS) - 1)

/* A worker's free-index cache (tr_table_bind_thread). */
typedef struct slot_cache {
    tr_table *table;
    uint32_t n;
    uint32_t idx[TR_TABLE_CACHE];
} slot_cache;

static _Thread_local slot_cache tls_slots;

static uint32_t ref_index(tr_ref ref) { return (uint32_t)(ref.id & ((1u << REF_INDEX_BITS) - 1)) - 1; }
static uint32_t ref_gen(tr_ref ref) { return (uint32_t)(ref.id >> REF_INDEX_BITS) & REF_GEN_MASK; }

static tr_slot *table_slot(tr_table *t, uint32_t index)
{
    uint32_t page = index >> TR_TABLE_PAGE_BITS;
    if (page >= TR_TABLE_MAX_PAGES)
        return NULL;
    tr_slot *p = atomic_load_explicit(&t->pages[page], memory_order_acquire);
    return p == NULL ? NULL : &p[index & (TR_TABLE_PAGE_SLOTS - 1)];
}

int tr_table_init(tr_table *t, void (*destroy)(struct tr_actor *))
{
    for (size_t i = 0; i < TR_TABLE_MAX_PAGES; i++)
        atomic_init(&t->pages[i], NULL);
    pthread_mutex_init(&t->lock, NULL);
    t->free_list = NULL;
    t->free_count = t->free_cap = 0;
    t->next_unused = 0;
    t->destroy = destroy;
    return TR_OK;
}

void tr_table_fini(tr_table *t)
{
    for (size_t i = 0; i < TR_TABLE_MAX_PAGES; i++)
        free(atomic_load_explicit(&t->pages[i], memory_order_relaxed));
    free(t->free_list);
    pthread_mutex_destroy(&t->lock);
}

/* Takes a free index, allocating a page when the unused range reaches one. */
static int table_take_index(tr_table *t, uint32_t *index)
{
    if (t->free_count > 0) {
        *index = t->free_list[--t->free_count];
        return TR_OK;
    }
    uint32_t i = t->next_unused;
    uint32_t page = i >> TR_TABLE_PAGE_BITS;
    if (page >= TR_TABLE_MAX_PAGES)
        return TR_ETOOBIG;
    if (atomic_load_explicit(&t->pages[page], memory_order_relaxed) == NULL) {
        tr_slot *p = calloc(TR_TABLE_PAGE_SLOTS, sizeof(*p));
        if (p == NULL)
            return TR_ENOMEM;
        for (uint32_t k = 0; k < TR_TABLE_PAGE_SLOTS; k++)
            atomic_init(&p[k].word, 1ull << 32); /* generation 1: ids are never 0 */
        atomic_store_explicit(&t->pages[page], p, memory_order_release);
    }
    t->next_unused = i + 1;
    *index = i;
    return TR_OK;
}

/* Refills an empty cache with up to half its size of free indices. */
static void cache_refill(tr_table *t, slot_cache *c)
{
    pthread_mutex_lock(&t->lock);
    while (c->n < TR_TABLE_CACHE / 2 && t->free_count > 0)
        c->idx[c->n++] = t->free_list[--t->free_count];
    pthread_mutex_unlock(&t->lock);
}

int tr_table_insert(tr_table *t, struct tr_actor *actor, tr_ref *out)
{
    uint32_t index;
    int rc = TR_OK;
    slot_cache *c = &tls_slots;
    if (c->table == t && c->n == 0)
        cache_refill(t, c);
    if (c->table == t && c->n > 0) {
        index = c->idx[--c->n];
    } else {
        pthread_mutex_lock(&t->lock);
        rc = table_take_index(t, &index);
        pthread_mutex_unlock(&t->lock);
    }
    if (rc != TR_OK)
        return rc;
    tr_slot *s = table_slot(t, index);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    atomic_store_explicit(&s->actor, actor, memory_order_relaxed);
    /* seq_cst: a spawn then checks sys->closing, and shutdown sets closing
     * before walking the table (tr_table_foreach_live) */
    atomic_store_explicit(&s->word, (w & ~SLOT_HOLDS_MASK) | SLOT_LIVE | SLOT_OPEN,
                          memory_order_seq_cst);
    out->id = ((uint64_t)SLOT_GEN(w) << REF_INDEX_BITS) | (uint64_t)(index + 1);
    return TR_OK;
}

int tr_table_acquire(tr_table *t, tr_ref ref, bool need_open, struct tr_actor **out)
{
    if (ref.id == 0 || tr_ref_is_remote(ref))
        return TR_EDEAD;
    tr_slot *s = table_slot(t, ref_index(ref));
    if (s == NULL)
        return TR_EDEAD;
    uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
    for (;;) {
        if (SLOT_GEN(w) != ref_gen(ref) || !(w & SLOT_LIVE))
            return TR_EDEAD;
        if (need_open && !(w & SLOT_OPEN))
            return TR_ESTOPPING;
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, w + 1, memory_order_seq_cst,
                                                  memory_order_acquire))
            break;
    }
    *out = atomic_load_explicit(&s->actor, memory_order_relaxed);
    return TR_OK;
}

/* Puts a free index on the shared list (t->lock held). */
static void table_push_free(tr_table *t, uint32_t index)
{
    if (t->free_count == t->free_cap) {
        uint32_t cap = t->free_cap ? t->free_cap * 2 : 1024;
        uint32_t *grown = realloc(t->free_list, cap * sizeof(*grown));
        if (grown == NULL)
            return; /* leak the index rather than fail: it is 4 bytes */
        t->free_list = grown;
        t->free_cap = cap;
    }
    t->free_list[t->free_count++] = index;
}

/* Moves the last `k` cached indices to the shared list. */
static void table_give_back(tr_table *t, slot_cache *c, uint32_t k)
{
    pthread_mutex_lock(&t->lock);
    for (; k > 0 && c->n > 0; k--)
        table_push_free(t, c->idx[--c->n]);
    pthread_mutex_unlock(&t->lock);
}

void tr_table_bind_thread(tr_table *t)
{
    tls_slots.table = t;
    tls_slots.n = 0;
}

void tr_table_flush_thread(tr_table *t)
{
    if (tls_slots.table == t && tls_slots.n > 0)
        table_give_back(t, &tls_slots, TR_TABLE_CACHE);
}

void tr_table_unbind_thread(tr_table *t)
{
    if (tls_slots.table != t)
        return;
    table_give_back(t, &tls_slots, TR_TABLE_CACHE);
    tls_slots.table = NULL;
}

/* Destroys the actor and recycles the slot under the next generation. */
static void table_reclaim(tr_table *t, tr_slot *s, uint32_t index, uint64_t w)
{
    struct tr_actor *a = atomic_load_explicit(&s->actor, memory_order_relaxed);
    atomic_store_explicit(&s->actor, NULL, memory_order_relaxed);
    t->destroy(a);
    uint32_t gen = (SLOT_GEN(w) + 1) & REF_GEN_MASK;
    if (gen == 0)
        gen = 1;
    atomic_store_explicit(&s->word, (uint64_t)gen << 32, memory_order_release);
    slot_cache *c = &tls_slots;
    if (c->table == t) {
        if (c->n == TR_TABLE_CACHE)
            table_give_back(t, c, TR_TABLE_CACHE / 2);
        c->idx[c->n++] = index;
        return;
    }
    pthread_mutex_lock(&t->lock);
    table_push_free(t, index);
    pthread_mutex_unlock(&t->lock);
}

void tr_table_hold(tr_table *t, tr_ref ref)
{
    tr_slot *s = table_slot(t, ref_index(ref));
    atomic_fetch_add_explicit(&s->word, 1, memory_order_acquire);
}

void tr_table_release(tr_table *t, tr_ref ref)
{
    uint32_t index = ref_index(ref);
    tr_slot *s = table_slot(t, index);
    uint64_t old = atomic_fetch_sub_explicit(&s->word, 1, memory_order_acq_rel);
    if ((old & SLOT_HOLDS_MASK) == 1 && !(old & SLOT_LIVE))
        table_reclaim(t, s, index, old);
}

void tr_table_close(tr_table *t, tr_ref ref)
{
    tr_slot *s = table_slot(t, ref_index(ref));
    atomic_fetch_and_explicit(&s->word, ~SLOT_OPEN, memory_order_acq_rel);
}

void tr_table_kill(tr_table *t, tr_ref ref)
{
    uint32_t index = ref_index(ref);
    tr_slot *s = table_slot(t, index);
    uint64_t old = atomic_fetch_and_explicit(&s->word, ~(SLOT_LIVE | SLOT_OPEN), memory_order_seq_cst);
    if ((old & SLOT_HOLDS_MASK) == 0)
        table_reclaim(t, s, index, old);
}

void tr_table_foreach_live(tr_table *t, void (*fn)(struct tr_actor *, void *), void *ctx)
{
    pthread_mutex_lock(&t->lock);
    uint32_t end = t->next_unused;
    pthread_mutex_unlock(&t->lock);
    for (uint32_t index = 0; index < end; index++) {
        tr_slot *s = table_slot(t, index);
        uint64_t w = atomic_load_explicit(&s->word, memory_order_seq_cst);
        for (;;) {
            if (!(w & SLOT_LIVE))
                break;
            if (atomic_compare_exchange_weak_explicit(&s->word, &w, w + 1, memory_order_seq_cst,
                                                      memory_order_seq_cst)) {
                fn(atomic_load_explicit(&s->actor, memory_order_relaxed), ctx);
                tr_ref ref = {((uint64_t)SLOT_GEN(w) << REF_INDEX_BITS) | (uint64_t)(index + 1)};
                tr_table_release(t, ref);
                break;
            }
        }
    }
}

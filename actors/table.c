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
    atomic_init(&t->free_head, 0);
    atomic_init(&t->next_unused, 0);
    t->destroy = destroy;
    return TR_OK;
}

void tr_table_fini(tr_table *t)
{
    for (size_t i = 0; i < TR_TABLE_MAX_PAGES; i++)
        free(atomic_load_explicit(&t->pages[i], memory_order_relaxed));
    pthread_mutex_destroy(&t->lock);
}

/* A free slot's actor field holds the next free index + 1 (0 ends the stack). */
static uint32_t free_link(tr_slot *s)
{
    return (uint32_t)(uintptr_t)atomic_load_explicit(&s->actor, memory_order_relaxed);
}

static void set_free_link(tr_slot *s, uint32_t next)
{
    atomic_store_explicit(&s->actor, (struct tr_actor *)(uintptr_t)next, memory_order_relaxed);
}

/* Pushes idx[0..k) (k >= 1) on the free stack with one CAS. */
static void free_push(tr_table *t, const uint32_t *idx, uint32_t k)
{
    for (uint32_t i = 0; i + 1 < k; i++)
        set_free_link(table_slot(t, idx[i]), idx[i + 1] + 1);
    tr_slot *last = table_slot(t, idx[k - 1]);
    uint64_t h = atomic_load_explicit(&t->free_head, memory_order_relaxed);
    uint64_t nh;
    do {
        set_free_link(last, (uint32_t)h);
        nh = (((h >> 32) + 1) << 32) | (uint64_t)(idx[0] + 1);
    } while (!atomic_compare_exchange_weak_explicit(&t->free_head, &h, nh, memory_order_release,
                                                    memory_order_relaxed));
}

/* Pops a free index; false when the stack is empty. The link read may be
 * stale (the slot was taken meanwhile), but then the tag changed and the
 * CAS fails. */
static bool free_pop(tr_table *t, uint32_t *index)
{
    uint64_t h = atomic_load_explicit(&t->free_head, memory_order_acquire);
    for (;;) {
        uint32_t top = (uint32_t)h;
        if (top == 0)
            return false;
        uint64_t nh = (((h >> 32) + 1) << 32) | (uint64_t)free_link(table_slot(t, top - 1));
        if (atomic_compare_exchange_weak_explicit(&t->free_head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire)) {
            *index = top - 1;
            return true;
        }
    }
}

/* Takes a free index, else a never used one, allocating its page if needed. */
static int table_take_index(tr_table *t, uint32_t *index)
{
    if (free_pop(t, index))
        return TR_OK;
    uint32_t i = atomic_load_explicit(&t->next_unused, memory_order_relaxed);
    do {
        if ((i >> TR_TABLE_PAGE_BITS) >= TR_TABLE_MAX_PAGES)
            return TR_ETOOBIG;
        /* seq_cst: tr_table_foreach_live must see this index (see insert) */
    } while (!atomic_compare_exchange_weak_explicit(&t->next_unused, &i, i + 1,
                                                    memory_order_seq_cst, memory_order_relaxed));
    uint32_t page = i >> TR_TABLE_PAGE_BITS;
    int rc = TR_OK;
    if (atomic_load_explicit(&t->pages[page], memory_order_acquire) == NULL) {
        pthread_mutex_lock(&t->lock);
        if (atomic_load_explicit(&t->pages[page], memory_order_relaxed) == NULL) {
            tr_slot *p = calloc(TR_TABLE_PAGE_SLOTS, sizeof(*p));
            if (p == NULL) {
                rc = TR_ENOMEM; /* index i is lost; a later one retries the page */
            } else {
                for (uint32_t k = 0; k < TR_TABLE_PAGE_SLOTS; k++)
                    atomic_init(&p[k].word, 1ull << 32); /* generation 1: ids are never 0 */
                atomic_store_explicit(&t->pages[page], p, memory_order_release);
            }
        }
        pthread_mutex_unlock(&t->lock);
    }
    *index = i;
    return rc;
}

/* Refills an empty cache with up to half its size of free indices. */
static void cache_refill(tr_table *t, slot_cache *c)
{
    uint32_t index;
    while (c->n < TR_TABLE_CACHE / 2 && free_pop(t, &index))
        c->idx[c->n++] = index;
}

int tr_table_insert(tr_table *t, struct tr_actor *actor, tr_ref *out)
{
    uint32_t index;
    int rc = TR_OK;
    slot_cache *c = &tls_slots;
    if (c->table == t && c->n == 0)
        cache_refill(t, c);
    if (c->table == t && c->n > 0)
        index = c->idx[--c->n];
    else
        rc = table_take_index(t, &index);
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

int tr_table_check(tr_table *t, tr_ref ref, bool need_open)
{
    tr_slot *s = table_slot(t, ref_index(ref));
    uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
    if (SLOT_GEN(w) != ref_gen(ref) || !(w & SLOT_LIVE))
        return TR_EDEAD;
    if (need_open && !(w & SLOT_OPEN))
        return TR_ESTOPPING;
    return TR_OK;
}

/* Moves the last `k` cached indices to the shared stack. */
static void table_give_back(tr_table *t, slot_cache *c, uint32_t k)
{
    if (k > c->n)
        k = c->n;
    if (k == 0)
        return;
    c->n -= k;
    free_push(t, &c->idx[c->n], k);
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
    free_push(t, &index, 1);
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
    uint32_t end = atomic_load_explicit(&t->next_unused, memory_order_seq_cst);
    for (uint32_t index = 0; index < end; index++) {
        tr_slot *s = table_slot(t, index);
        if (s == NULL)
            continue; /* past the last page, or its allocation failed */
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

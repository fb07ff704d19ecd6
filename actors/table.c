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

/* A thread's free-index cache: indices in idx[], plus a chain of free
 * slots taken off the shared stack in one piece and not yet handed out
 * (chain = first index + 1, 0 = none). Workers bind it to their table
 * (tr_table_bind_thread); any other thread binds it to the last table it
 * inserted into, through the registry below. */
typedef struct slot_cache {
    _Atomic(tr_table *) table; /* cleared by tr_table_fini of that table */
    bool worker;               /* bound by tr_table_bind_thread */
    bool registered;           /* an outside thread's cache, in g_caches */
    uint32_t n;
    uint32_t chain;
    struct slot_cache *prev, *next; /* g_caches */
    uint32_t idx[TR_TABLE_CACHE];
} slot_cache;

static _Thread_local slot_cache tls_slots;

/* Outside threads' caches: a table being finalised unbinds those bound to
 * it, and a thread exiting returns its indices to its table, both under
 * g_caches_lock, so neither strands slots nor touches a freed table. */
static pthread_mutex_t g_caches_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_cache *g_caches;
static pthread_key_t g_exit_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_have_key;

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

/* The slot of an index known to be handed out (its page exists). */
static tr_slot *slot_at(tr_table *t, uint32_t index)
{
    tr_slot *p = atomic_load_explicit(&t->pages[index >> TR_TABLE_PAGE_BITS], memory_order_acquire);
    return &p[index & (TR_TABLE_PAGE_SLOTS - 1)];
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
    /* outside threads' caches bound to t forget it: a table created later
     * at the same address must not take their indices for its own */
    pthread_mutex_lock(&g_caches_lock);
    for (slot_cache *c = g_caches; c != NULL; c = c->next)
        if (atomic_load_explicit(&c->table, memory_order_relaxed) == t)
            atomic_store_explicit(&c->table, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&g_caches_lock);
    for (size_t i = 0; i < TR_TABLE_MAX_PAGES; i++)
        free(atomic_load_explicit(&t->pages[i], memory_order_relaxed));
    pthread_mutex_destroy(&t->lock);
}

/* The free stack is a stack of chains: a batch of indices freed together
 * is pushed, and later taken, with one CAS. A free slot's actor field holds
 * two links: the low 32 bits the next index + 1 in its chain (0 ends the
 * chain), the high 32 bits, on a chain's first slot only, the first index
 * + 1 of the next chain on the stack (0 ends the stack). */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "free links need 64-bit pointers");

static uint64_t free_link(tr_slot *s)
{
    return (uint64_t)(uintptr_t)atomic_load_explicit(&s->actor, memory_order_relaxed);
}

static void set_free_link(tr_slot *s, uint32_t next_in_chain, uint32_t next_chain)
{
    uint64_t v = (uint64_t)next_chain << 32 | next_in_chain;
    atomic_store_explicit(&s->actor, (struct tr_actor *)(uintptr_t)v, memory_order_relaxed);
}

/* Pushes the chain starting at index `first` (linked already; its first
 * slot's chain link is `second` + 1, or 0) with one CAS. */
static void free_push_chain(tr_table *t, uint32_t first, uint32_t second_plus1)
{
    tr_slot *s = slot_at(t, first);
    uint64_t h = atomic_load_explicit(&t->free_head, memory_order_relaxed);
    uint64_t nh;
    do {
        set_free_link(s, second_plus1, (uint32_t)h);
        nh = (((h >> 32) + 1) << 32) | (uint64_t)(first + 1);
    } while (!atomic_compare_exchange_weak_explicit(&t->free_head, &h, nh, memory_order_release,
                                                    memory_order_relaxed));
}

/* Pushes idx[0..k) (k >= 1) on the free stack as one chain. */
static void free_push(tr_table *t, const uint32_t *idx, uint32_t k)
{
    for (uint32_t i = 1; i < k; i++)
        set_free_link(slot_at(t, idx[i]), i + 1 < k ? idx[i + 1] + 1 : 0, 0);
    free_push_chain(t, idx[0], k > 1 ? idx[1] + 1 : 0);
}

/* Pops a whole chain; returns its first index + 1, or 0 when the stack is
 * empty. The link read may be stale (the slot was taken meanwhile), but
 * then the tag changed and the CAS fails. */
static uint32_t free_pop_chain(tr_table *t)
{
    uint64_t h = atomic_load_explicit(&t->free_head, memory_order_acquire);
    for (;;) {
        uint32_t top = (uint32_t)h;
        if (top == 0)
            return 0;
        uint64_t nh = (((h >> 32) + 1) << 32) | (free_link(slot_at(t, top - 1)) >> 32);
        if (atomic_compare_exchange_weak_explicit(&t->free_head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire))
            return top;
    }
}

/* Makes sure the page holding `index` exists. TR_OK or TR_ENOMEM. */
static int table_page(tr_table *t, uint32_t index)
{
    uint32_t page = index >> TR_TABLE_PAGE_BITS;
    if (atomic_load_explicit(&t->pages[page], memory_order_acquire) != NULL)
        return TR_OK;
    int rc = TR_OK;
    pthread_mutex_lock(&t->lock);
    if (atomic_load_explicit(&t->pages[page], memory_order_relaxed) == NULL) {
        tr_slot *p = calloc(TR_TABLE_PAGE_SLOTS, sizeof(*p));
        if (p == NULL) {
            rc = TR_ENOMEM;
        } else {
            for (uint32_t k = 0; k < TR_TABLE_PAGE_SLOTS; k++)
                atomic_init(&p[k].word, 1ull << 32); /* generation 1: ids are never 0 */
            atomic_store_explicit(&t->pages[page], p, memory_order_release);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Takes up to `want` (>= 1) never used indices, all in one page, with one
 * CAS: *first and the count taken (0 with TR_ETOOBIG or TR_ENOMEM in *rc;
 * on ENOMEM the indices are lost and a later call retries the page). */
static uint32_t table_take_unused(tr_table *t, uint32_t want, uint32_t *first, int *rc)
{
    uint32_t i = atomic_load_explicit(&t->next_unused, memory_order_relaxed);
    uint32_t k;
    do {
        if ((i >> TR_TABLE_PAGE_BITS) >= TR_TABLE_MAX_PAGES) {
            *rc = TR_ETOOBIG;
            return 0;
        }
        uint32_t room = TR_TABLE_PAGE_SLOTS - (i & (TR_TABLE_PAGE_SLOTS - 1));
        k = want < room ? want : room;
        /* seq_cst: tr_table_foreach_live must see these indices (see insert) */
    } while (!atomic_compare_exchange_weak_explicit(&t->next_unused, &i, i + k,
                                                    memory_order_seq_cst, memory_order_relaxed));
    if ((*rc = table_page(t, i)) != TR_OK)
        return 0;
    *first = i;
    return k;
}

/* Takes one index from the cache `c` (bound to t), refilling it with a
 * chain off the free stack or a run of never used indices if empty. */
static int cache_take(tr_table *t, slot_cache *c, uint32_t *index)
{
    if (c->n > 0) {
        *index = c->idx[--c->n];
        return TR_OK;
    }
    if (c->chain == 0 && (c->chain = free_pop_chain(t)) == 0) {
        uint32_t first;
        int rc;
        uint32_t k = table_take_unused(t, TR_TABLE_CACHE / 2, &first, &rc);
        if (k == 0)
            return rc;
        for (uint32_t j = 0; j < k; j++)
            c->idx[j] = first + k - 1 - j; /* handed out in increasing order */
        c->n = k - 1;
        *index = first;
        return TR_OK;
    }
    uint32_t i = c->chain - 1;
    c->chain = (uint32_t)free_link(slot_at(t, i));
    if (c->chain != 0) /* the next insert writes it: fetch its line meanwhile */
        __builtin_prefetch(slot_at(t, c->chain - 1), 1);
    *index = i;
    return TR_OK;
}

/* Returns every index cached in `c` to the shared free stack. */
static void cache_give_back_all(tr_table *t, slot_cache *c)
{
    if (c->chain != 0) {
        uint32_t first = c->chain - 1;
        free_push_chain(t, first, (uint32_t)free_link(slot_at(t, first)));
        c->chain = 0;
    }
    if (c->n > 0) {
        free_push(t, c->idx, c->n);
        c->n = 0;
    }
}

/* Thread exit of an outside thread: its indices go back to its table. */
static void cache_exit(void *arg)
{
    slot_cache *c = arg;
    pthread_mutex_lock(&g_caches_lock);
    tr_table *t = atomic_load_explicit(&c->table, memory_order_relaxed);
    if (t != NULL)
        cache_give_back_all(t, c);
    atomic_store_explicit(&c->table, NULL, memory_order_relaxed);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g_caches = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->registered = false;
    pthread_mutex_unlock(&g_caches_lock);
}

/* fork() while another thread holds g_caches_lock must not leave the
 * child with a lock nobody will release. */
static void caches_fork_prepare(void) { pthread_mutex_lock(&g_caches_lock); }
static void caches_fork_release(void) { pthread_mutex_unlock(&g_caches_lock); }

static void caches_once(void)
{
    g_have_key = pthread_key_create(&g_exit_key, cache_exit) == 0;
    pthread_atfork(caches_fork_prepare, caches_fork_release, caches_fork_release);
}

/* Binds an outside thread's cache to `t`, first returning what it holds
 * for another table. False when the thread cannot be registered (then it
 * inserts uncached). */
static bool cache_bind_outside(tr_table *t, slot_cache *c)
{
    pthread_once(&g_once, caches_once);
    if (!g_have_key)
        return false;
    pthread_mutex_lock(&g_caches_lock);
    if (!c->registered) {
        if (pthread_setspecific(g_exit_key, c) != 0) {
            pthread_mutex_unlock(&g_caches_lock);
            return false;
        }
        c->registered = true;
        c->prev = NULL;
        c->next = g_caches;
        if (g_caches != NULL)
            g_caches->prev = c;
        g_caches = c;
    }
    tr_table *old = atomic_load_explicit(&c->table, memory_order_relaxed);
    if (old != NULL)
        cache_give_back_all(old, c); /* alive: its fini would have unbound us */
    c->n = 0;
    c->chain = 0;
    atomic_store_explicit(&c->table, t, memory_order_relaxed);
    pthread_mutex_unlock(&g_caches_lock);
    return true;
}

int tr_table_insert(tr_table *t, struct tr_actor *actor, tr_ref *out)
{
    uint32_t index;
    int rc;
    slot_cache *c = &tls_slots;
    if (atomic_load_explicit(&c->table, memory_order_relaxed) == t ||
        (!c->worker && cache_bind_outside(t, c))) {
        rc = cache_take(t, c, &index);
    } else {
        /* a worker of another system, or no registration: one index */
        uint32_t head = free_pop_chain(t);
        if (head != 0) {
            index = head - 1;
            uint32_t rest = (uint32_t)free_link(slot_at(t, index));
            if (rest != 0) /* the rest of the chain goes back */
                free_push_chain(t, rest - 1, (uint32_t)free_link(slot_at(t, rest - 1)));
            rc = TR_OK;
        } else {
            int err = TR_OK;
            rc = table_take_unused(t, 1, &index, &err) == 1 ? TR_OK : err;
        }
    }
    if (rc != TR_OK)
        return rc;
    tr_slot *s = slot_at(t, index);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    atomic_store_explicit(&s->actor, actor, memory_order_relaxed);
    /* seq_cst: a spawn then checks sys->closing, and shutdown sets closing
     * before walking the table (tr_table_foreach_live) */
    atomic_store_explicit(&s->word, (w & ~SLOT_HOLDS_MASK) | SLOT_LIVE | SLOT_OPEN,
                          memory_order_seq_cst);
    out->id = ((uint64_t)SLOT_GEN(w) << REF_INDEX_BITS) | (uint64_t)(index + 1);
    return TR_OK;
}

/* What slot word `w` says of `ref`: TR_OK while its actor is LIVE (and
 * OPEN, with need_open), else TR_EDEAD or TR_ESTOPPING. */
static int word_state(uint64_t w, tr_ref ref, bool need_open)
{
    if (SLOT_GEN(w) != ref_gen(ref) || !(w & SLOT_LIVE))
        return TR_EDEAD;
    if (need_open && !(w & SLOT_OPEN))
        return TR_ESTOPPING;
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
        int rc = word_state(w, ref, need_open);
        if (rc != TR_OK)
            return rc;
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
    return word_state(atomic_load_explicit(&s->word, memory_order_acquire), ref, need_open);
}

void tr_table_bind_thread(tr_table *t)
{
    atomic_store_explicit(&tls_slots.table, t, memory_order_relaxed);
    tls_slots.worker = true;
    tls_slots.n = 0;
    tls_slots.chain = 0;
}

void tr_table_flush_thread(tr_table *t)
{
    if (atomic_load_explicit(&tls_slots.table, memory_order_relaxed) == t)
        cache_give_back_all(t, &tls_slots);
}

void tr_table_unbind_thread(tr_table *t)
{
    if (atomic_load_explicit(&tls_slots.table, memory_order_relaxed) != t)
        return;
    cache_give_back_all(t, &tls_slots);
    atomic_store_explicit(&tls_slots.table, NULL, memory_order_relaxed);
    tls_slots.worker = false;
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
    if (atomic_load_explicit(&c->table, memory_order_relaxed) == t) {
        if (c->n == TR_TABLE_CACHE) { /* the older half goes back as one chain */
            free_push(t, c->idx, TR_TABLE_CACHE / 2);
            c->n -= TR_TABLE_CACHE / 2;
            for (uint32_t i = 0; i < c->n; i++)
                c->idx[i] = c->idx[i + TR_TABLE_CACHE / 2];
        }
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

void tr_table_prefetch(tr_table *t, tr_ref ref) { __builtin_prefetch(slot_at(t, ref_index(ref)), 1); }

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

bool tr_table_retire(tr_table *t, tr_ref ref, bool held)
{
    tr_slot *s = table_slot(t, ref_index(ref));
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed), nw;
    bool alone;
    do {
        uint64_t others = (w & SLOT_HOLDS_MASK) - (held ? 1 : 0);
        alone = others == 0;
        /* alone: no hold left; else exactly one of the holds is ours */
        nw = (w & ~(SLOT_LIVE | SLOT_OPEN | SLOT_HOLDS_MASK)) | (alone ? 0 : others + 1);
    } while (!atomic_compare_exchange_weak_explicit(&s->word, &w, nw, memory_order_seq_cst,
                                                    memory_order_relaxed));
    return alone;
}

void tr_table_reclaim(tr_table *t, tr_ref ref)
{
    uint32_t index = ref_index(ref);
    tr_slot *s = table_slot(t, index);
    table_reclaim(t, s, index, atomic_load_explicit(&s->word, memory_order_relaxed));
}

bool tr_table_retired(tr_table *t, tr_ref ref)
{
    tr_slot *s = table_slot(t, ref_index(ref));
    return word_state(atomic_load_explicit(&s->word, memory_order_seq_cst), ref, false) != TR_OK;
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

uint32_t tr_table_count_free(tr_table *t)
{
    uint32_t n = 0;
    for (uint32_t c = (uint32_t)atomic_load_explicit(&t->free_head, memory_order_acquire); c != 0;
         c = (uint32_t)(free_link(slot_at(t, c - 1)) >> 32))
        for (uint32_t i = c; i != 0; i = (uint32_t)free_link(slot_at(t, i - 1)))
            n++;
    slot_cache *mine = &tls_slots;
    if (atomic_load_explicit(&mine->table, memory_order_relaxed) == t) {
        n += mine->n;
        for (uint32_t i = mine->chain; i != 0; i = (uint32_t)free_link(slot_at(t, i - 1)))
            n++;
    }
    return n;
}

uint32_t tr_table_count_used(tr_table *t)
{
    return atomic_load_explicit(&t->next_unused, memory_order_seq_cst);
}

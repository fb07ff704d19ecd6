/* Receive blocks: an authenticated connection reads into a block of
 * TR_RX_BLOCK bytes, and a message delivered from it keeps its payload
 * there instead of copying it into a buffer of its own (a memcpy, a malloc
 * on the receiving thread and a free on the receiver's worker per message:
 * most of the receive side's own work for a 4 KiB message). The message
 * holds a reference to the block; its release (tr_rx_block_release, the
 * payload's free function) finds the block from the payload's address,
 * since blocks are aligned to their size. Erlang's distribution does the
 * same with refc binaries: a large binary received stays a reference into
 * the buffer it arrived in.
 *
 * The connection owns a large count of references at once (TR_RX_BIAS)
 * and hands them out one per message without an atomic operation; the
 * message's release is the only atomic step per message. A block nobody
 * holds any more goes to a small process-wide cache (TR_RX_CACHE blocks),
 * so a connection whose receivers lag behind it (which pins the blocks
 * they still read from) does not map and fault in a new one each time: a
 * 4 KiB flood into a receiver with a deep mailbox pins tens of blocks at
 * once, and with 32 cached instead of 64 it ran at about the speed of the
 * copying receive path it replaced. Once a heartbeat interval a node's
 * service thread frees the blocks no one took from the cache meanwhile,
 * down to TR_RX_CACHE_IDLE. Not under AddressSanitizer: there
 * every block is freed, so a use of a payload after its block went is
 * reported.
 *
 * What it costs: a message pins its whole block until it is freed, as a
 * sub-binary pins its binary in Erlang. Mailboxes are bounded, so the
 * memory pinned is bounded by the messages queued (at worst a block per
 * queued message from a different block). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "net/node_impl.h"

/* References the connection holds on the block it reads into: messages
 * taken from it never reach this many. */
#define TR_RX_BIAS ((uint64_t)1 << 40)

#if defined(__SANITIZE_ADDRESS__)
#define TR_RX_CACHE 0
#else
#define TR_RX_CACHE 64 /* 16 MiB */
#endif
#define TR_RX_CACHE_IDLE 0 /* an idle node keeps none */

static struct {
    pthread_mutex_t lock;
    unsigned n;
    unsigned low; /* the fewest cached since the last trim: low blocks were not needed */
    tr_rx_block *free[TR_RX_CACHE + 1];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A block's memory. Outside AddressSanitizer it is mapped on its own, not
 * taken from malloc: a 256 KiB block aligned to its size is above glibc's
 * mmap threshold only until the first one is freed (the threshold then
 * rises past it), after which memalign carves blocks out of the arenas,
 * and the slack around each one stays behind as fragments there when a
 * burst of connections has come and gone (bench_cluster: +0.6 MB of
 * resident memory after 10,000 clients). Mapped, a freed block goes back
 * to the system whole. Under ASan, malloc: its use-after-free reports. */
static void *block_alloc(void)
{
#if TR_RX_CACHE > 0
    size_t span = 2 * (size_t)TR_RX_BLOCK;
    uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint8_t *b = (uint8_t *)(((uintptr_t)m + TR_RX_BLOCK - 1) & ~(uintptr_t)(TR_RX_BLOCK - 1));
    if (b > m)
        munmap(m, (size_t)(b - m));
    if (b + TR_RX_BLOCK < m + span)
        munmap(b + TR_RX_BLOCK, (size_t)(m + span - (b + TR_RX_BLOCK)));
    return b;
#else
    void *mem = NULL;
    return posix_memalign(&mem, TR_RX_BLOCK, TR_RX_BLOCK) == 0 ? mem : NULL;
#endif
}

static void block_free(void *b)
{
#if TR_RX_CACHE > 0
    if (b != NULL)
        munmap(b, TR_RX_BLOCK);
#else
    free(b);
#endif
}

static tr_rx_block *block_of(const void *payload)
{
    return (tr_rx_block *)((uintptr_t)payload & ~(uintptr_t)(TR_RX_BLOCK - 1));
}

static void block_put(tr_rx_block *b)
{
#if TR_RX_CACHE > 0
    pthread_mutex_lock(&cache.lock);
    if (cache.n < TR_RX_CACHE) {
        cache.free[cache.n++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&cache.lock);
#endif
    block_free(b);
}

static tr_rx_block *block_get(void)
{
    tr_rx_block *b = NULL;
    pthread_mutex_lock(&cache.lock);
    if (cache.n > 0)
        b = cache.free[--cache.n];
    if (cache.n < cache.low)
        cache.low = cache.n;
    pthread_mutex_unlock(&cache.lock);
    if (b == NULL && (b = block_alloc()) == NULL)
        return NULL;
    atomic_init(&b->refs, TR_RX_BIAS);
    return b;
}

static void drop(tr_rx_block *b, uint64_t refs)
{
    if (atomic_fetch_sub_explicit(&b->refs, refs, memory_order_acq_rel) == refs)
        block_put(b);
}

void tr_rx_block_release(void *payload) { drop(block_of(payload), 1); }

uint8_t *tr_rx_block_data(tr_rx_block *b) { return (uint8_t *)b + TR_RX_BLOCK_HEAD; }

bool tr_rx_block_unshared(tr_rx_blocks *rb)
{
    if (rb->cur == NULL)
        return false;
    uint64_t refs = atomic_load_explicit(&rb->cur->refs, memory_order_acquire);
    if (refs != TR_RX_BIAS - rb->given)
        return false; /* some message still holds it */
    atomic_store_explicit(&rb->cur->refs, TR_RX_BIAS, memory_order_relaxed);
    rb->given = 0;
    return true;
}

void tr_rx_block_switch_out(tr_rx_blocks *rb)
{
    if (rb->cur != NULL)
        drop(rb->cur, TR_RX_BIAS - rb->given);
    rb->cur = NULL;
    rb->given = 0;
}

uint8_t *tr_rx_block_switch(tr_rx_blocks *rb, const uint8_t *keep, size_t len)
{
    tr_rx_block *b = block_get();
    if (b == NULL)
        return NULL;
    uint8_t *data = tr_rx_block_data(b);
    if (len > 0)
        memcpy(data, keep, len); /* before the old block can go */
    tr_rx_block_switch_out(rb);
    rb->cur = b;
    return data;
}

void tr_rx_blocks_free(tr_rx_blocks *rb) { tr_rx_block_switch_out(rb); }

void tr_rx_block_trim(void)
{
    tr_rx_block *extra[TR_RX_CACHE + 1];
    unsigned n = 0;
    pthread_mutex_lock(&cache.lock);
    while (cache.low > TR_RX_CACHE_IDLE && cache.n > TR_RX_CACHE_IDLE) {
        extra[n++] = cache.free[--cache.n];
        cache.low--;
    }
    cache.low = cache.n;
    pthread_mutex_unlock(&cache.lock);
    while (n > 0)
        block_free(extra[--n]);
}

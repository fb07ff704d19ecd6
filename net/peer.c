/* The send side of one peer: a bounded queue of envelopes packed straight
 * into a frame buffer (the batch), one frame written at a time on the
 * peer's connection. While a frame is in flight new envelopes coalesce
 * into the batch; a batch past TR_BATCH_BYTES is closed into a queue of
 * ready frames; when the write completes the next ready frame (or else the
 * batch) goes at once. An idle link is written by the sender itself (no
 * thread hop): an actor's sends wait for the end of its turn
 * (tr_remote_flush_later) and leave in one frame, which the worker writes;
 * an outside thread writes at once. A write the socket takes whole
 * completes right there (tr_conn_write_now), so a trickle costs no NNG
 * thread at all; only a write that finds the socket buffer full completes
 * on NNG's threads, and frames coalesce behind it (batching under load).
 * A closed batch is written from the buffer it was packed in (no copy);
 * buffers are recycled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "net/node_impl.h"

/* The batch buffer's msgpack writer: grows geometrically. */
static int buf_write(void *data, const char *src, size_t len)
{
    tr_peer *p = data;
    if (len > p->cap - p->len) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap - p->len < len)
            cap *= 2;
        char *grown = realloc(p->buf, cap);
        if (grown == NULL)
            return -1;
        p->buf = grown;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, src, len);
    p->len += len;
    return 0;
}

/* The frame's bytes in one buffer, its parts spliced in (for decoding):
 * f->buf itself when it has none; NULL when out of memory. */
static char *frame_flat(const tr_frame_out *f)
{
    if (f->nparts == 0)
        return f->buf;
    char *flat = malloc(f->len + f->parts_len);
    if (flat == NULL)
        return NULL;
    size_t from = 0, to = 0;
    for (uint32_t i = 0; i < f->nparts; i++) {
        memcpy(flat + to, f->buf + from, f->parts[i].at - from);
        to += f->parts[i].at - from;
        from = f->parts[i].at;
        memcpy(flat + to, f->parts[i].data, f->parts[i].size);
        to += f->parts[i].size;
    }
    memcpy(flat + to, f->buf + from, f->len - from);
    return flat;
}

/* Records every envelope of an unsent frame as a dead letter. */
static void frame_lost(tr_peer *p, const tr_frame_out *f, int reason)
{
    if (f->count == 0 || f->len <= TR_FRAME_PREFIX)
        return;
    char *flat = frame_flat(f);
    if (flat == NULL) { /* out of memory: the losses are counted, without their details */
        for (uint32_t i = 0; i < f->count; i++)
            tr_dead_letter_record(p->node->sys, TR_REF_NONE, TR_REF_NONE, 0, reason);
        return;
    }
    tr_frame_reader r;
    tr_frame_reader_init(&r);
    if (tr_frame_open(&r, flat + TR_FRAME_PREFIX, f->len + f->parts_len - TR_FRAME_PREFIX) == TR_OK) {
        tr_envelope e;
        while (tr_frame_next(&r, &e) == TR_OK) {
            if (e.kind != TR_ENV_SEND && e.kind != TR_ENV_FORCED)
                continue;
            tr_dead_letter_record(p->node->sys, tr_ref_make(p->index, e.dst), (tr_ref){e.src},
                                  (uint32_t)e.value, reason);
        }
    }
    tr_frame_reader_destroy(&r);
    if (flat != f->buf)
        free(flat);
}

/* No envelope, no part in the batch (its buffer is someone else's concern). */
static void batch_clear(tr_peer *p)
{
    p->batch_count = 0;
    p->parts.len = 0;
    p->parts_len = 0;
    p->batch_bytes = 0;
}

/* Starts a batch: the length prefix (filled when written) and the array. */
static bool batch_open(tr_peer *p)
{
    if (p->buf == NULL && p->spare != NULL) {
        p->buf = p->spare;
        p->cap = p->spare_cap;
        p->spare = NULL;
    }
    msgpack_packer_init(&p->pk, p, buf_write);
    static const char prefix[TR_FRAME_PREFIX] = {0};
    p->len = 0;
    if (buf_write(p, prefix, sizeof(prefix)) != 0 || tr_wire_begin_envelopes(&p->pk) != TR_OK) {
        p->len = 0;
        return false;
    }
    p->batch_marker = TR_FRAME_PREFIX;
    batch_clear(p);
    return true;
}

/* Closes the batch into a frame that takes its buffer and its parts. */
static tr_frame_out batch_close(tr_peer *p)
{
    tr_wire_patch_count(p->buf + p->batch_marker, p->batch_count);
    tr_frame_out f = {p->buf, p->len, p->batch_count, true, NULL, 0, 0, p->batch_bytes};
    if (p->parts.len > 0) {
        f.parts = p->parts.at;
        f.nparts = p->parts.len;
        f.parts_len = p->parts_len;
        p->parts = (tr_frame_parts){0}; /* the frame's now */
    }
    p->buf = NULL;
    p->cap = p->len = 0;
    batch_clear(p);
    return f;
}

static void frame_free(tr_peer *p, tr_frame_out *f)
{
    tr_frame_drop_parts(f);
    if (!f->owned)
        return;
    if (p->spare == NULL && f->len <= 2 * TR_BATCH_BYTES) {
        p->spare = f->buf; /* reused by the next batch */
        p->spare_cap = f->len; /* at least: realloc knows the rest */
    } else {
        free(f->buf);
    }
    f->buf = NULL;
}

/* f's envelopes leave the queue (written or lost). */
static void frame_done(tr_peer *p, const tr_frame_out *f)
{
    p->pending -= f->count;
    p->pending_bytes -= f->bytes;
}

/* Queues a closed frame behind the others; out of memory, its envelopes
 * become dead letters. */
static void ready_add(tr_peer *p, tr_frame_out f)
{
    if (tr_deque_push_back(&p->ready, f) == 0)
        return;
    frame_lost(p, &f, TR_ENOMEM);
    frame_done(p, &f);
    frame_free(p, &f);
}

void tr_peer_push_front_locked(tr_peer *p, tr_frame_out f)
{
    if (tr_deque_push_front(&p->ready, f) != 0)
        frame_free(p, &f);
}

/* Whether the queue drained enough to release the senders it muted and
 * the outside threads waiting for room (lock held). */
static bool release_due_locked(const tr_peer *p)
{
    return p->pending <= p->node->opts.queue_capacity / 2 && p->pending_bytes <= TR_QUEUE_BYTES / 2 &&
           (!tr_muteset_empty(&p->muted) || p->room_waiters > 0);
}

/* Whether the queue is at its bound: queue_capacity envelopes, or for a
 * backpressure queue also TR_QUEUE_BYTES (lock held). */
static bool full_locked(const tr_peer *p)
{
    return p->pending >= p->node->opts.queue_capacity ||
           (p->node->opts.overflow == TR_OVERFLOW_BACKPRESSURE && p->pending_bytes >= TR_QUEUE_BYTES);
}

void tr_peer_written(tr_peer *p, tr_conn *c, int rv)
{
    pthread_mutex_lock(&p->lock);
    tr_frame_out f = c->tx;
    c->tx = (tr_frame_out){0};
    if (rv != 0)
        frame_lost(p, &f, TR_ENODEDOWN);
    frame_done(p, &f);
    frame_free(p, &f);
    if (p->conn == c) {
        p->sending = false;
        if (!atomic_load(&p->node->stopping))
            tr_peer_flush_locked(p);
    }
    bool release = release_due_locked(p);
    pthread_mutex_unlock(&p->lock);
    if (release)
        tr_peer_release_muted(p);
}

void tr_peer_flush(tr_peer *p)
{
    pthread_mutex_lock(&p->lock);
    tr_peer_flush_locked(p);
    bool release = release_due_locked(p);
    pthread_mutex_unlock(&p->lock);
    if (release)
        tr_peer_release_muted(p);
}

int tr_peer_create(struct tr_node *node, const char *name, uint64_t incarnation, tr_peer **out)
{
    tr_peer *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return TR_ENOMEM;
    p->node = node;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->incarnation = incarnation;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->room_cv, NULL);
    *out = p;
    return TR_OK;
}

void tr_peer_destroy(tr_peer *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    tr_peer_drop_queue_locked(p, TR_ENODEDOWN);
    pthread_mutex_unlock(&p->lock);
    tr_peer_release_muted(p);
    tr_muteset_free(&p->muted);
    tr_vec_free(&p->parts);
    free(p->buf);
    free(p->spare);
    tr_deque_free(&p->ready);
    pthread_cond_destroy(&p->room_cv);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

bool tr_peer_idle_locked(const tr_peer *p)
{
    return !p->sending && p->len == 0 && p->ready.len == 0;
}

void tr_peer_flush_locked(tr_peer *p)
{
    struct tr_node *node = p->node;
    while (!p->sending && p->conn != NULL) {
        tr_frame_out f;
        if (p->ready.len > 0) {
            f = tr_deque_front(&p->ready);
            tr_deque_pop_front(&p->ready);
        } else if (p->len > 0) {
            f = batch_close(p);
        } else {
            return;
        }
        p->sending = true;
        p->last_tx_ms = tr_now_ms();
        atomic_fetch_add_explicit(&node->frames_out, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&node->envelopes_out, f.count, memory_order_relaxed);
        atomic_fetch_add_explicit(&node->bytes_out, f.len + f.parts_len, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->frames_out, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->envelopes_out, f.count, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bytes_out, f.len + f.parts_len, memory_order_relaxed);
        if (!tr_conn_write_now(p->conn, f))
            return; /* completion: tr_peer_written on an NNG thread */
        frame_done(p, &f); /* written whole, here */
        frame_free(p, &f);
        p->sending = false;
    }
}

void tr_peer_control_locked(tr_peer *p, const tr_envelope *e)
{
    if (p->conn == NULL)
        return;
    if (e == NULL) { /* heartbeat: an empty frame, only on an idle link */
        if (!tr_peer_idle_locked(p) || !batch_open(p))
            return;
        tr_peer_flush_locked(p);
        return;
    }
    /* travels alone: the batch so far goes first, then a frame of its own */
    if (p->len > 0)
        ready_add(p, batch_close(p));
    if (!batch_open(p))
        return;
    if (tr_wire_pack_envelope(&p->pk, e) != TR_OK) {
        p->len = 0;
        return;
    }
    p->batch_count = 1;
    tr_frame_out f = batch_close(p);
    f.count = 0; /* not a message: nothing to count or to record as lost */
    ready_add(p, f);
    tr_peer_flush_locked(p);
}

void tr_peer_drop_queue_locked(tr_peer *p, int reason)
{
    if (p->len > 0) {
        tr_wire_patch_count(p->buf + p->batch_marker, p->batch_count);
        tr_frame_out f = {.buf = p->buf, .len = p->len, .count = p->batch_count, .parts = p->parts.at,
                          .nparts = p->parts.len, .parts_len = p->parts_len};
        frame_lost(p, &f, reason);
        for (uint32_t i = 0; i < p->parts.len; i++)
            p->parts.at[i].free_fn(p->parts.at[i].data);
        p->pending -= p->batch_count;
        p->pending_bytes -= p->batch_bytes;
        p->len = 0;
        batch_clear(p);
    }
    for (; p->ready.len > 0; tr_deque_pop_front(&p->ready)) {
        tr_frame_out *f = &tr_deque_front(&p->ready);
        frame_lost(p, f, reason);
        frame_done(p, f);
        frame_free(p, f);
    }
    /* a frame in flight is not cancelled (a partial write would break the
     * stream): the peer receives it and, refusing the old session, counts it */
}

void tr_peer_release_muted(tr_peer *p)
{
    pthread_mutex_lock(&p->lock);
    tr_muteset taken = tr_muteset_take(&p->muted);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->lock);
    tr_muteset_release(p->node->sys, &taken);
}

static void mute_on_peer(tr_peer *p, struct tr_actor *sender)
{
    /* already muted on this queue, or no memory: the message is kept either way */
    if (tr_muteset_add(&p->muted, sender->self) != TR_OK)
        return;
    if (!tr_actor_mute(sender)) /* under pressure itself, or stopping */
        tr_muteset_remove(&p->muted, sender->self);
}

/* Whether the queue has room (tr_wait_for_room's test, lock held). */
static int queue_has_room(void *arg)
{
    tr_peer *p = arg;
    if (!full_locked(p))
        return TR_OK;
    return !p->up || atomic_load(&p->node->stopping) ? TR_ENOTCONN : TR_EFULL;
}

/* Waits (outside thread, lock held) for room. TR_OK or TR_EFULL/TR_ENOTCONN. */
static int wait_room_locked(tr_peer *p, int timeout_ms)
{
    p->room_waiters++;
    int rc = tr_wait_for_room(&p->room_cv, &p->lock, timeout_ms, queue_has_room, p);
    p->room_waiters--;
    return rc;
}

int tr_peer_enqueue(tr_peer *p, struct tr_actor *sender, const tr_envelope *e, bool forced,
                    int timeout_ms, tr_mnode *n)
{
    struct tr_node *node = p->node;
    uint32_t cap = node->opts.queue_capacity;
    pthread_mutex_lock(&p->lock);
    if (!p->up || p->conn == NULL || p->retired) {
        pthread_mutex_unlock(&p->lock);
        atomic_fetch_add_explicit(&node->not_connected, 1, memory_order_relaxed);
        return TR_ENOTCONN;
    }
    if (!forced && full_locked(p)) {
        atomic_fetch_add_explicit(&node->queue_full, 1, memory_order_relaxed);
        int rc = TR_OK;
        switch (node->opts.overflow) {
        case TR_OVERFLOW_DROP: rc = TR_EDROPPED; break;
        case TR_OVERFLOW_FAIL: rc = TR_EFULL; break;
        default:
            if (sender != NULL) {
                /* as for a mailbox: keep the message, mute the sender; a
                 * sender that cannot be muted gets TR_EFULL past twice the bound */
                if (p->pending >= 2 * cap)
                    rc = TR_EFULL;
                else
                    mute_on_peer(p, sender);
            } else if (timeout_ms == 0 || tr_sched_current_worker() != NULL) {
                rc = TR_EFULL;
            } else {
                rc = wait_room_locked(p, timeout_ms);
            }
        }
        if (rc != TR_OK || !p->up || p->conn == NULL) {
            pthread_mutex_unlock(&p->lock);
            return rc != TR_OK ? rc : TR_ENOTCONN;
        }
    }
    if (p->len == 0 && !batch_open(p)) {
        pthread_mutex_unlock(&p->lock);
        return TR_ENOMEM;
    }
    /* a large payload its message node owns is written from there */
    bool by_ref = n != NULL && e->size >= TR_SG_MIN && n->free_fn != NULL && !n->taken && !n->shared &&
                  tr_vec_reserve(&p->parts, p->parts.len + 1) == 0;
    size_t before = p->len;
    if ((by_ref ? tr_wire_pack_envelope_head(&p->pk, e) : tr_wire_pack_envelope(&p->pk, e)) != TR_OK) {
        p->len = before; /* a partly packed envelope is cut off */
        if (p->batch_count == 0)
            p->len = 0;
        pthread_mutex_unlock(&p->lock);
        return TR_ENOMEM;
    }
    if (by_ref) {
        void (*free_fn)(void *) = n->free_fn;
        p->parts.at[p->parts.len++] = (tr_frame_part){p->len, tr_msg_take(&n->msg), e->size, free_fn};
        p->parts_len += e->size;
    }
    size_t added = p->len - before + (by_ref ? e->size : 0);
    p->batch_bytes += added;
    p->pending_bytes += added;
    p->batch_count++;
    p->pending++;
    if (p->len + p->parts_len >= TR_BATCH_BYTES) {
        ready_add(p, batch_close(p)); /* the next envelope starts a new batch */
        tr_peer_flush_locked(p);      /* no-op while a write is in flight */
    } else if (!p->sending && !tr_remote_flush_later(node->sys, p->index)) {
        tr_peer_flush_locked(p);      /* an outside thread: now */
    }
    bool release = release_due_locked(p);
    pthread_mutex_unlock(&p->lock);
    if (release)
        tr_peer_release_muted(p);
    return TR_OK;
}

/* The send side of one peer: a bounded queue of envelopes packed straight
 * into a frame buffer (the batch), one frame in flight at a time. While a
 * frame is in flight new envelopes coalesce into the batch; a batch past
 * TR_BATCH_BYTES is closed into a queue of ready frames; when the send
 * completes the next ready frame (or else the batch) goes at once. So a
 * trickle is sent one envelope per frame with no added latency and a flood
 * is sent in large frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "actors/sched.h"
#include "net/node_impl.h"

static int append_cb(void *data, const char *buf, size_t len)
{
    return nng_msg_append((nng_msg *)data, buf, len) == 0 ? 0 : -1;
}

void tr_node_header(struct tr_node *node, uint64_t dial_nonce, uint64_t echo, tr_frame_header *h)
{
    memset(h, 0, sizeof(*h));
    h->version = TR_WIRE_VERSION;
    h->node = (tr_wire_str){node->name, (uint32_t)strlen(node->name)};
    h->incarnation = node->incarnation;
    h->cookie_digest = node->cookie_digest;
    h->agent = node->agent.id;
    h->dial_nonce = dial_nonce;
    h->echo_nonce = echo;
    h->nurls = node->nlisten;
    for (uint32_t i = 0; i < node->nlisten; i++)
        h->urls[i] = (tr_wire_str){node->listen_urls[i], (uint32_t)strlen(node->listen_urls[i])};
}

/* A new frame: header, then the envelope array whose count is patched at
 * flush (the marker is the last 5 bytes written here). */
static nng_msg *frame_new(struct tr_node *node, uint64_t dial_nonce, uint64_t echo,
                          msgpack_packer *pk, size_t reserve)
{
    nng_msg *m;
    if (nng_msg_alloc(&m, 0) != 0)
        return NULL;
    if (reserve > 0)
        nng_msg_reserve(m, reserve);
    msgpack_packer_init(pk, m, append_cb);
    tr_frame_header h;
    tr_node_header(node, dial_nonce, echo, &h);
    if (tr_wire_pack_header(pk, &h) != TR_OK || tr_wire_begin_envelopes(pk) != TR_OK) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

/* The batch buffer's msgpack writer: grows geometrically (nng_msg_append
 * reallocates to the exact size, which made a growing frame quadratic). */
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

/* Records every envelope of an unsent frame as a dead letter. */
static void frame_lost(tr_peer *p, const void *data, size_t len, uint32_t count, int reason)
{
    tr_frame_reader r;
    tr_frame_header h;
    tr_frame_reader_init(&r);
    if (count > 0 && tr_frame_open(&r, data, len, &h) == TR_OK) {
        tr_envelope e;
        while (tr_frame_next(&r, &e) == TR_OK) {
            if (e.kind != TR_ENV_SEND && e.kind != TR_ENV_FORCED)
                continue;
            tr_ref to = {((uint64_t)p->index << TR_REF_NODE_SHIFT) | e.dst};
            tr_dead_letter_record(p->node->sys, to, (tr_ref){e.src}, (uint32_t)e.value, reason);
        }
    }
    tr_frame_reader_destroy(&r);
}

/* Closes the batch: patches its count and copies it into a new nng_msg
 * (NULL when out of memory: the envelopes become dead letters). */
static nng_msg *batch_close(tr_peer *p)
{
    tr_wire_patch_count(p->buf + p->batch_marker, p->batch_count);
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, p->len) == 0) {
        memcpy(nng_msg_body(m), p->buf, p->len);
    } else {
        frame_lost(p, p->buf, p->len, p->batch_count, TR_ENOMEM);
        p->pending -= p->batch_count;
        m = NULL;
    }
    p->len = 0;
    return m;
}

/* Moves the full batch to the ready queue (a frame is in flight). */
static void batch_to_ready(tr_peer *p)
{
    uint32_t count = p->batch_count;
    if (p->nready == p->ready_cap) {
        uint32_t cap = p->ready_cap ? 2 * p->ready_cap : 8;
        struct tr_frame_out *grown = malloc(cap * sizeof(*grown));
        if (grown == NULL)
            return; /* the batch keeps growing; retried at the next envelope */
        for (uint32_t i = 0; i < p->nready; i++)
            grown[i] = p->ready[(p->ready_head + i) % p->ready_cap];
        free(p->ready);
        p->ready = grown;
        p->ready_head = 0;
        p->ready_cap = cap;
    }
    nng_msg *m = batch_close(p);
    p->batch_count = 0;
    if (m != NULL)
        p->ready[(p->ready_head + p->nready++) % p->ready_cap] = (struct tr_frame_out){m, count};
}

static void send_cb(void *arg)
{
    tr_peer *p = arg;
    int rv = nng_aio_result(p->send_aio);
    pthread_mutex_lock(&p->lock);
    if (rv != 0) {
        nng_msg *m = nng_aio_get_msg(p->send_aio);
        if (m != NULL) {
            frame_lost(p, nng_msg_body(m), nng_msg_len(m), p->inflight, TR_ENODEDOWN);
            nng_msg_free(m);
        }
    }
    p->pending -= p->inflight;
    p->inflight = 0;
    p->sending = false;
    if (p->up && p->out.open && !atomic_load(&p->node->stopping))
        tr_peer_flush_locked(p);
    uint32_t cap = p->node->opts.queue_capacity;
    bool release = p->pending <= cap / 2 && (p->nmuted > 0 || p->room_waiters > 0);
    pthread_mutex_unlock(&p->lock);
    if (release)
        tr_peer_release_muted(p);
}

int tr_peer_create(struct tr_node *node, const tr_wire_str *name, uint64_t incarnation,
                   tr_peer **out)
{
    tr_peer *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return TR_ENOMEM;
    if (nng_aio_alloc(&p->send_aio, send_cb, p) != 0) {
        free(p);
        return TR_ENOMEM;
    }
    p->node = node;
    memcpy(p->name, name->ptr, name->len);
    p->name[name->len] = '\0';
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
    nng_aio_stop(p->send_aio); /* waits for send_cb */
    nng_aio_free(p->send_aio);
    tr_stream_close(&p->out);
    pthread_mutex_lock(&p->lock);
    tr_peer_drop_queue_locked(p, TR_ENODEDOWN);
    pthread_mutex_unlock(&p->lock);
    tr_peer_release_muted(p);
    free(p->muted);
    free(p->buf);
    free(p->ready);
    pthread_cond_destroy(&p->room_cv);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

bool tr_peer_idle_locked(const tr_peer *p)
{
    return !p->sending && p->len == 0 && p->nready == 0;
}

void tr_peer_flush_locked(tr_peer *p)
{
    if (p->sending || !p->out.open)
        return;
    nng_msg *m = NULL;
    uint32_t count = 0;
    if (p->nready > 0) {
        m = p->ready[p->ready_head].m;
        count = p->ready[p->ready_head].count;
        p->ready_head = (p->ready_head + 1) % p->ready_cap;
        p->nready--;
    } else if (p->len > 0) {
        count = p->batch_count;
        m = batch_close(p);
        p->batch_count = 0;
    }
    if (m == NULL)
        return;
    p->inflight = count;
    p->sending = true;
    p->last_tx_ms = tr_now_ms();
    struct tr_node *node = p->node;
    atomic_fetch_add_explicit(&node->frames_out, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&node->envelopes_out, count, memory_order_relaxed);
    atomic_fetch_add_explicit(&node->bytes_out, nng_msg_len(m), memory_order_relaxed);
    nng_aio_set_msg(p->send_aio, m);
    nng_send_aio(p->out.sock, p->send_aio); /* completion runs send_cb on an NNG thread */
}

void tr_peer_drop_queue_locked(tr_peer *p, int reason)
{
    if (p->len > 0) {
        tr_wire_patch_count(p->buf + p->batch_marker, p->batch_count);
        frame_lost(p, p->buf, p->len, p->batch_count, reason);
        p->pending -= p->batch_count;
        p->len = 0;
        p->batch_count = 0;
    }
    for (; p->nready > 0; p->nready--) {
        struct tr_frame_out *f = &p->ready[p->ready_head];
        frame_lost(p, nng_msg_body(f->m), nng_msg_len(f->m), f->count, reason);
        nng_msg_free(f->m);
        p->pending -= f->count;
        p->ready_head = (p->ready_head + 1) % p->ready_cap;
    }
    if (p->sending)
        nng_aio_cancel(p->send_aio); /* send_cb records the frame as lost */
}

void tr_peer_release_muted(tr_peer *p)
{
    pthread_mutex_lock(&p->lock);
    tr_ref *list = p->muted;
    uint32_t n = p->nmuted;
    p->muted = NULL;
    p->nmuted = p->muted_cap = 0;
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->lock);
    for (uint32_t i = 0; i < n; i++)
        tr_actor_unmute(p->node->sys, list[i]);
    free(list);
}

static void mute_on_peer(tr_peer *p, struct tr_actor *sender)
{
    for (uint32_t i = 0; i < p->nmuted; i++)
        if (tr_ref_equal(p->muted[i], sender->self))
            return; /* already muted on this queue */
    if (p->nmuted == p->muted_cap) {
        uint32_t cap = p->muted_cap ? p->muted_cap * 2 : 8;
        tr_ref *grown = realloc(p->muted, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        p->muted = grown;
        p->muted_cap = cap;
    }
    if (tr_actor_mute(sender))
        p->muted[p->nmuted++] = sender->self;
}

/* Waits (outside thread, lock held) for room. TR_OK or TR_EFULL/TR_ENOTCONN. */
static int wait_room_locked(tr_peer *p, int timeout_ms)
{
    struct timespec deadline = tr_deadline_after(timeout_ms);
    uint32_t cap = p->node->opts.queue_capacity;
    while (p->pending >= cap) {
        if (!p->up || atomic_load(&p->node->stopping))
            return TR_ENOTCONN;
        p->room_waiters++;
        bool woken = tr_cond_wait_until(&p->room_cv, &p->lock, timeout_ms, &deadline);
        p->room_waiters--;
        if (!woken)
            return p->pending >= cap ? TR_EFULL : TR_OK;
    }
    return TR_OK;
}

int tr_peer_enqueue(tr_peer *p, struct tr_actor *sender, const tr_envelope *e, bool forced,
                    int timeout_ms)
{
    struct tr_node *node = p->node;
    uint32_t cap = node->opts.queue_capacity;
    pthread_mutex_lock(&p->lock);
    if (!p->up || !p->out.open || p->retired) {
        pthread_mutex_unlock(&p->lock);
        atomic_fetch_add_explicit(&node->not_connected, 1, memory_order_relaxed);
        return TR_ENOTCONN;
    }
    if (!forced && p->pending >= cap) {
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
        if (rc != TR_OK) {
            pthread_mutex_unlock(&p->lock);
            return rc;
        }
    }
    if (p->len == 0) {
        msgpack_packer_init(&p->pk, p, buf_write);
        tr_frame_header h;
        tr_node_header(node, p->out.nonce, p->their_nonce, &h);
        if (tr_wire_pack_header(&p->pk, &h) != TR_OK || tr_wire_begin_envelopes(&p->pk) != TR_OK) {
            p->len = 0;
            pthread_mutex_unlock(&p->lock);
            return TR_ENOMEM;
        }
        p->batch_marker = p->len - 5;
    }
    size_t before = p->len;
    if (tr_wire_pack_envelope(&p->pk, e) != TR_OK) {
        p->len = before; /* a partly packed envelope is cut off */
        if (p->batch_count == 0)
            p->len = 0;
        pthread_mutex_unlock(&p->lock);
        return TR_ENOMEM;
    }
    p->batch_count++;
    p->pending++;
    if (!p->sending)
        tr_peer_flush_locked(p);
    else if (p->len >= TR_BATCH_BYTES)
        batch_to_ready(p);
    pthread_mutex_unlock(&p->lock);
    return TR_OK;
}

/* ---- streams ---- */

static uint64_t random_u64(void)
{
    uint32_t a = nng_random(), b = nng_random();
    return ((uint64_t)a << 32) | b | 1u;
}

int tr_stream_open(struct tr_node *node, tr_stream *s)
{
    if (nng_push0_open(&s->sock) != 0)
        return TR_ENOMEM;
    nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 1000);
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 0);
    nng_dialer d;
    int rv = nng_dialer_create(&d, s->sock, s->url);
    if (rv == 0 && strncmp(s->url, "tls+", 4) == 0) {
        rv = node->tls_client != NULL ? nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, node->tls_client)
                                      : NNG_EINVAL;
        char host[TR_WIRE_URL_MAX + 1];
        const char *h = strstr(s->url, "://");
        if (rv == 0 && h != NULL && sscanf(h + 3, "%255[^:/]", host) == 1)
            nng_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, host); /* checked against the cert */
    }
    if (rv == 0)
        rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        nng_close(s->sock);
        return TR_EADDR;
    }
    s->dialer = d;
    s->nonce = random_u64();
    s->open = true;
    return TR_OK;
}

void tr_stream_close(tr_stream *s)
{
    if (!s->open)
        return;
    s->open = false;
    nng_close(s->sock);
}

void tr_stream_hello(struct tr_node *node, tr_stream *s, uint64_t echo)
{
    tr_stream_control(node, s, echo, NULL);
}

void tr_stream_control(struct tr_node *node, tr_stream *s, uint64_t echo, const tr_envelope *e)
{
    msgpack_packer pk;
    nng_msg *m = frame_new(node, s->nonce, echo, &pk, 0);
    if (m == NULL)
        return;
    size_t marker = nng_msg_len(m) - 5;
    if (e != NULL && tr_wire_pack_envelope(&pk, e) != TR_OK) {
        nng_msg_free(m);
        return;
    }
    tr_wire_patch_count((char *)nng_msg_body(m) + marker, e != NULL ? 1 : 0);
    if (nng_sendmsg(s->sock, m, NNG_FLAG_NONBLOCK) != 0)
        nng_msg_free(m);
    else
        atomic_fetch_add_explicit(&node->frames_out, 1, memory_order_relaxed);
}

/* One connection to another node: an nng_stream (tcp, ipc, tls+tcp)
 * carrying length-prefixed frames (docs/wire.md, "Frames").
 *
 * Reading: every frame is a 4-byte big-endian length and that many bytes.
 * The length is checked before anything is allocated: a connection still
 * in its handshake reads into a fixed buffer of TR_FRAME_PREFIX +
 * TR_HS_FRAME_MAX bytes and anything longer closes it; an authenticated
 * one reads into a 64 KiB buffer, grown to the frame's size only for a
 * frame of at most max_frame_bytes; a longer one is counted and skipped.
 * The receive callback hands frames to the handshake or to inbound.c, which
 * delivers straight into mailboxes; a full backpressure mailbox stalls the
 * connection (no read is armed, so TCP pushes back on the sender) and a
 * 1 ms timer retries.
 *
 * Writing: one write in flight per stream (NNG may complete a write
 * partially; a second write queued behind it would interleave). During the
 * handshake the connection writes its own messages; once up, the peer's
 * send side (peer.c) does. A write the socket takes at once completes on
 * the writing thread (tr_conn_write_now): NNG would otherwise hand its
 * completion to one of its task threads, a thread wake-up per frame.
 *
 * Watching: a worker that wrote to a peer and waits for its answer reads
 * the peer's connection itself (tr_conn_watch, tr_conn_poll) instead of
 * leaving it to NNG's callback, which costs a hop to an NNG task-queue
 * thread per read (every aio with a callback completes there; one without
 * is completed on the poller thread, a condition variable broadcast). The
 * read is armed on poll_aio, which has no callback, and the watcher checks
 * it for completion between turns and while it spins for the answer. One
 * thread holds the read at a time (rx_state): the one processing what it
 * read re-arms it, on poll_aio while a worker watches, on rx_aio otherwise;
 * the watcher takes a completed POLL read with a compare-and-swap, and so
 * does whoever ends the watch (the watcher before it parks, or the service
 * thread when the watcher has not polled for a tick: a long turn), which
 * cancels the read and re-arms it with its callback. What the watcher read
 * it delivers onto its own run queue and leaves the read HELD: it re-arms
 * at its next poll, after the turn that answers, so the answer's write
 * does not wait behind the arming's two system calls (whoever ends the
 * watch re-arms a HELD read the same way). tcp and ipc only (a
 * TLS stream keeps its callback read), and only once authenticated.
 *
 * Lifetime: callbacks never block and never free; tr_conn_close marks the
 * connection closed and closes the stream, the service thread frees it
 * once no worker holds it (watch_refs; after tr_node_stop detached the
 * node from its system, no worker can reach it any more). */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"

static void rx_cb(void *arg);
static void rx_done(tr_conn *c, nng_aio *aio, bool hold);
static void tx_cb(void *arg);
static void retry_cb(void *arg);

void tr_put_len(uint8_t *p, uint32_t len)
{
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

static uint32_t get_len(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void conn_free(tr_conn *c)
{
    nng_aio_free(c->rx_aio);
    nng_aio_free(c->tx_aio);
    nng_aio_free(c->retry_aio);
    nng_aio_free(c->now_aio);
    nng_aio_free(c->poll_aio);
    pthread_mutex_destroy(&c->rx_lock);
    if (c->stream != NULL)
        nng_stream_free(c->stream);
    tr_frame_drop_parts(&c->tx);
    if (c->tx.owned)
        free(c->tx.buf);
    tr_frame_reader_destroy(&c->reader);
    if (c->blocks.cur == NULL)
        free(c->rbuf);
    tr_rx_blocks_free(&c->blocks);
    free(c);
}

bool tr_conn_start(struct tr_node *node, nng_stream *stream, bool initiator, tr_dial *dial)
{
    tr_conn *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        pthread_mutex_init(&c->rx_lock, NULL);
        c->node = node;
        c->stream = stream;
        c->initiator = initiator;
        c->rcap = TR_FRAME_PREFIX + TR_HS_FRAME_MAX;
        c->rbuf = malloc(c->rcap);
        tr_frame_reader_init(&c->reader);
        if (c->rbuf == NULL || nng_aio_alloc(&c->rx_aio, rx_cb, c) != 0 ||
            nng_aio_alloc(&c->tx_aio, tx_cb, c) != 0 || nng_aio_alloc(&c->retry_aio, retry_cb, c) != 0) {
            c->stream = NULL;
            conn_free(c);
            c = NULL;
        }
    }
    pthread_mutex_lock(&node->lock);
    bool closing = atomic_load(&node->stopping) || atomic_load(&node->leaving);
    if (c == NULL || closing || node->handshakes >= TR_NODE_MAX_HANDSHAKES) {
        bool full = c != NULL && !closing;
        pthread_mutex_unlock(&node->lock);
        atomic_fetch_add_explicit(&node->handshake_failures, 1, memory_order_relaxed);
        if (full)
            tr_net_log(node, "connection closed at once: %d handshakes in progress already",
                       TR_NODE_MAX_HANDSHAKES);
        if (c != NULL) {
            c->stream = NULL;
            conn_free(c);
        }
        nng_stream_close(stream);
        nng_stream_free(stream);
        return false;
    }
    nng_stream_set_bool(stream, NNG_OPT_TCP_NODELAY, true); /* not TCP: no effect */
    /* tcp and ipc streams write in the caller's thread; a TLS stream
     * (it answers TLS_VERIFIED) takes bytes into its records and writes
     * them later, so a write to it cannot be taken back: callbacks only */
    bool tls;
    if (nng_stream_get_bool(stream, NNG_OPT_TLS_VERIFIED, &tls) == NNG_ENOTSUP &&
        (nng_aio_alloc(&c->now_aio, NULL, NULL) != 0 || nng_aio_alloc(&c->poll_aio, NULL, NULL) != 0)) {
        nng_aio_free(c->now_aio);
        c->now_aio = c->poll_aio = NULL; /* callbacks only */
    }
    c->state = initiator ? TR_CONN_HELLO_SENT : TR_CONN_WAIT_HELLO;
    c->deadline_ms = tr_now_ms() + node->opts.handshake_timeout_ms;
    c->in_handshake = true;
    c->dial = dial;
    if (dial != NULL) {
        dial->conn = c;
        dial->dialling = false; /* the connection holds the record now */
    }
    node->handshakes++;
    c->next = node->conns;
    node->conns = c;
    tr_hs_begin(c);
    if (c->state != TR_CONN_CLOSED)
        tr_conn_read(c); /* under the lock: once it is released c may be closed and freed */
    pthread_mutex_unlock(&node->lock);
    return true;
}

/* The bytes the frame starting at rpos needs (its prefix included), once
 * its prefix is in and its length is acceptable; else 0. */
static size_t frame_need(const tr_conn *c)
{
    if (c->skip > 0 || c->rlen - c->rpos < TR_FRAME_PREFIX)
        return 0;
    uint32_t len = get_len(c->rbuf + c->rpos);
    uint32_t limit = c->peer != NULL ? c->node->opts.max_frame_bytes : TR_HS_FRAME_MAX;
    return len == 0 || len > limit ? 0 : TR_FRAME_PREFIX + (size_t)len;
}

/* Moves the unread bytes to the start of rbuf. */
static void rx_compact(tr_conn *c)
{
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
}

/* The unread bytes move to the start of a block of their own (a spare or
 * a new one); a malloc'd buffer read into before is freed. */
static bool rx_to_block(tr_conn *c)
{
    bool plain = c->blocks.cur == NULL;
    uint8_t *data = tr_rx_block_switch(&c->blocks, c->rbuf + c->rpos, c->rlen - c->rpos);
    if (data == NULL)
        return false;
    if (plain)
        free(c->rbuf);
    c->rbuf = data;
    c->rcap = TR_RX_CHUNK;
    c->rlen -= c->rpos;
    c->rpos = 0;
    return true;
}

/* A frame of `need` bytes, longer than a block, is read into a malloc'd
 * buffer of its size (it was checked against max_frame_bytes); its
 * payloads are copied out of it. */
static bool rx_to_plain(tr_conn *c, size_t need)
{
    if (c->blocks.cur != NULL) {
        uint8_t *big = malloc(need);
        if (big == NULL)
            return false;
        memcpy(big, c->rbuf + c->rpos, c->rlen - c->rpos);
        tr_rx_block_switch_out(&c->blocks);
        c->rbuf = big;
        c->rlen -= c->rpos;
        c->rpos = 0;
    } else {
        rx_compact(c);
        uint8_t *grown = realloc(c->rbuf, need);
        if (grown == NULL)
            return false;
        c->rbuf = grown;
    }
    c->rcap = need;
    return true;
}

/* Room behind the unread bytes for the next read, and for the whole frame
 * at rpos. Reading never writes over the bytes of a block that messages
 * still hold: their payloads are there. False: out of memory. */
static bool rx_room(tr_conn *c)
{
    size_t need = frame_need(c);
    if (c->peer == NULL) { /* handshake: the fixed buffer, compacted */
        if (c->rpos > 0)
            rx_compact(c);
        return true;
    }
    if (need > TR_RX_CHUNK)
        return need <= c->rcap - c->rpos || rx_to_plain(c, need);
    if (c->blocks.cur == NULL) /* just authenticated, or a long frame is done */
        return rx_to_block(c);
    bool fits = c->rpos + need <= c->rcap && c->rcap - c->rlen >= TR_RX_MIN_READ;
    if (c->rpos == c->rlen && c->rpos > 0 && tr_rx_block_unshared(&c->blocks)) {
        c->rpos = c->rlen = 0; /* all read, all let go: from the start again */
        return true;
    }
    if (fits)
        return true;
    if (tr_rx_block_unshared(&c->blocks)) {
        rx_compact(c);
        return true;
    }
    return rx_to_block(c);
}

/* rx_state's low bits: who holds the read (see "Watching" above). */
enum { TR_RX_IDLE = 0, TR_RX_CB = 1, TR_RX_POLL = 2, TR_RX_HELD = 3, TR_RX_MODE = 3 };

void tr_conn_read(tr_conn *c)
{
    if (!rx_room(c)) {
        tr_conn_close(c, TR_ENOMEM);
        return;
    }
    nng_iov iov = {.iov_buf = c->rbuf + c->rlen, .iov_len = c->rcap - c->rlen};
    pthread_mutex_lock(&c->rx_lock);
    bool poll = c->poll_aio != NULL && c->peer != NULL &&
                atomic_load_explicit(&c->watcher, memory_order_relaxed) != NULL;
    nng_aio *aio = poll ? c->poll_aio : c->rx_aio;
    nng_aio_set_iov(aio, 1, &iov);
    atomic_store_explicit(&c->rx_arming, true, memory_order_relaxed);
    if (!poll)
        atomic_store_explicit(&c->rx_state, TR_RX_CB, memory_order_relaxed); /* rx_cb may run at once */
    nng_stream_recv(c->stream, aio);
    /* POLL only now: nng_stream_recv reset the aio's count and result (the
     * completion hint, rx_poll_done), so a poll that sees POLL cannot
     * mistake the previous read's completion for this one's */
    if (poll)
        atomic_store_explicit(&c->rx_state, (++c->rx_gen << 2) | TR_RX_POLL, memory_order_release);
    atomic_store_explicit(&c->rx_arming, false, memory_order_release);
    pthread_mutex_unlock(&c->rx_lock);
}

/* The receiving thread arms its next read right after it delivered, and
 * NNG takes the connection's lock for it (a read attempt and the poller's
 * arming, a few microseconds): an actor woken by that delivery that
 * answers at once found the lock taken and slept on it about every other
 * message of a ping-pong (a futex sleep and wake-up on the answer's path).
 * A writer waits that out spinning instead. */
static void wait_rx_arming(tr_conn *c)
{
    for (int i = 0; atomic_load_explicit(&c->rx_arming, memory_order_acquire); i++) {
        if (i >= 2000)
            sched_yield(); /* the arming thread may wait for this core */
    }
}

static tr_conn_state conn_state(tr_conn *c)
{
    pthread_mutex_lock(&c->node->lock);
    tr_conn_state s = c->state;
    pthread_mutex_unlock(&c->node->lock);
    return s;
}

/* Handles every complete frame in the buffer, then arms the next read
 * (unless the connection stalled or closed), or with `hold` leaves that to
 * the watcher (TR_RX_HELD). */
static void process(tr_conn *c, bool hold)
{
    struct tr_node *node = c->node;
    bool up = c->peer != NULL; /* set by this thread's handshake or before the read */
    for (;;) {
        if (c->skip > 0) {
            size_t take = c->rlen - c->rpos < c->skip ? c->rlen - c->rpos : (size_t)c->skip;
            c->rpos += take;
            c->skip -= take;
            if (c->skip > 0)
                break;
            continue;
        }
        size_t avail = c->rlen - c->rpos;
        if (avail < TR_FRAME_PREFIX)
            break;
        uint32_t len = get_len(c->rbuf + c->rpos);
        uint32_t limit = up ? node->opts.max_frame_bytes : TR_HS_FRAME_MAX;
        if (len == 0 || len > limit) {
            atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
            if (!up) {
                atomic_fetch_add_explicit(&node->handshake_failures, 1, memory_order_relaxed);
                tr_net_log(node, "handshake failed: a %u-byte frame (at most %u)", len, TR_HS_FRAME_MAX);
                tr_conn_close(c, TR_EPROTO);
                return;
            }
            tr_net_log(node, "%s sent a %u-byte frame (max_frame_bytes %u): skipped", c->peer->name, len,
                       limit);
            c->skip = len;
            c->rpos += TR_FRAME_PREFIX;
            continue;
        }
        if (avail < TR_FRAME_PREFIX + (size_t)len)
            break; /* the rest of it: tr_conn_read makes room */
        const uint8_t *frame = c->rbuf + c->rpos + TR_FRAME_PREFIX;
        if (up) {
            if (!tr_inbound_frame(c, frame, len)) {
                c->stalled = true;
                nng_sleep_aio(1, c->retry_aio);
                return;
            }
        } else {
            if (!tr_hs_on_frame(c, frame, len))
                return; /* closed */
            up = c->peer != NULL;
        }
        c->rpos += TR_FRAME_PREFIX + len;
    }
    tr_conn_state s = conn_state(c);
    if (s == TR_CONN_CLOSED || s == TR_CONN_CLOSING)
        return;
    if (hold) { /* the watcher re-arms after the turn it delivered to */
        atomic_store_explicit(&c->rx_state, TR_RX_HELD, memory_order_release);
        return;
    }
    tr_conn_read(c);
}

static void rx_cb(void *arg)
{
    tr_conn *c = arg;
    atomic_store_explicit(&c->rx_state, TR_RX_IDLE, memory_order_relaxed);
    rx_done(c, c->rx_aio, false);
}

/* A read on `aio` (rx_aio or poll_aio) completed: its bytes are processed
 * and the next read armed, or the connection closes. */
static void rx_done(tr_conn *c, nng_aio *aio, bool hold)
{
    int rv = nng_aio_result(aio);
    if (rv != 0) {
        tr_conn_close(c, rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH ? TR_EREFUSED : TR_ENODEDOWN);
        return;
    }
    size_t n = nng_aio_count(aio);
    if (n == 0) { /* no progress: the stream is done */
        tr_conn_close(c, TR_ENODEDOWN);
        return;
    }
    c->rlen += n;
    if (c->peer != NULL) {
        atomic_fetch_add_explicit(&c->node->bytes_in, n, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->peer->bytes_in, n, memory_order_relaxed);
    }
    process(c, hold);
}

static void retry_cb(void *arg)
{
    tr_conn *c = arg;
    if (nng_aio_result(c->retry_aio) != 0 || atomic_load(&c->node->stopping)) {
        tr_conn_close(c, TR_ENODEDOWN);
        return;
    }
    c->stalled = false;
    process(c, false);
}

/* Takes the read from state *s (IDLE: this thread holds it now); false,
 * with *s updated, when someone else took it or it was re-armed since. */
static bool rx_claim(tr_conn *c, uint32_t *s)
{
    return atomic_compare_exchange_strong_explicit(&c->rx_state, s, TR_RX_IDLE, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* Whether poll_aio, armed, has completed: a hint, never the synchronisation
 * (nng_aio_wait is). NNG 1.6 has nng_aio_busy. NNG 1.5 has not: there,
 * nng_stream_recv resets the aio's count and result before it returns
 * (nni_aio_begin) and the completion sets them (a read of nothing is an
 * error), so either being set means it completed. NNG documents them as
 * meaningful only once the aio completed, hence a hint: a hint missed only
 * leaves the read to whoever ends the watch (rx_take_back), and a hint
 * seen is followed by nng_aio_wait, which returns once the completion is
 * done (it orders the poller's readv into our buffer before our reads). */
static bool rx_poll_done(nng_aio *aio)
{
#if NNG_MAJOR_VERSION > 1 || NNG_MINOR_VERSION >= 6
    return !nng_aio_busy(aio);
#else
    return nng_aio_count(aio) > 0 || nng_aio_result(aio) != 0;
#endif
}

tr_conn *tr_conn_watch(struct tr_node *node, uint32_t peer, const void *token)
{
    tr_peer *p = tr_peer_pin(node, peer);
    if (p == NULL)
        return NULL;
    pthread_mutex_lock(&p->lock);
    tr_conn *c = p->conn; /* current: the reap clears it (under p->lock) before it frees c */
    if (c != NULL && c->poll_aio != NULL && !atomic_load(&c->closed)) {
        pthread_mutex_lock(&c->rx_lock);
        if (atomic_load_explicit(&c->watcher, memory_order_relaxed) == NULL) {
            /* the read armed now completes as usual; its re-arm is a POLL read */
            atomic_store_explicit(&c->watcher, token, memory_order_relaxed);
            atomic_fetch_add(&c->watch_refs, 1);
        } else {
            pthread_mutex_unlock(&c->rx_lock);
            c = NULL;
        }
        if (c != NULL)
            pthread_mutex_unlock(&c->rx_lock);
    } else {
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    tr_peer_unpin(p);
    return c;
}

/* Nobody watches c any more (its watcher was cleared under rx_lock): a
 * HELD read is re-armed, and with `armed` a POLL read armed is taken back;
 * both are re-armed with the callback. Otherwise whoever holds the read
 * re-arms it, and sees no watcher. A HELD read is re-armed by anyone who
 * finds it (an old watcher whose watch was taken back, a new watcher's
 * poll): only the watcher that processed it leaves it so, and it always
 * polls or unwatches again. */
static void rx_take_back(tr_conn *c, bool armed)
{
    uint32_t s = atomic_load_explicit(&c->rx_state, memory_order_acquire);
    if (s == TR_RX_HELD) { /* processed, the re-arm left to the watcher */
        if (rx_claim(c, &s) && !atomic_load(&c->closed))
            tr_conn_read(c);
        return;
    }
    if (!armed || (s & TR_RX_MODE) != TR_RX_POLL || !rx_claim(c, &s))
        return;
    nng_aio_cancel(c->poll_aio);
    nng_aio_wait(c->poll_aio); /* no callback: at once, or once a racing completion is done */
    if (nng_aio_result(c->poll_aio) == NNG_ECANCELED && !atomic_load(&c->closed))
        tr_conn_read(c);
    else
        rx_done(c, c->poll_aio, false); /* bytes read, or an error (closes it) */
}

/* Drops one hold on c; the last one of a closed connection lets the
 * service thread free it (c is not touched after the decrement: it may be
 * freed at once; closed later: its reap runs in a tick at most). */
static void watch_release(tr_conn *c)
{
    struct tr_node *node = c->node;
    bool closed = atomic_load(&c->closed);
    if (atomic_fetch_sub(&c->watch_refs, 1) == 1 && closed) {
        pthread_mutex_lock(&node->lock);
        tr_service_wake_locked(node);
        pthread_mutex_unlock(&node->lock);
    }
}

void tr_conn_unwatch(tr_conn *c, const void *token)
{
    pthread_mutex_lock(&c->rx_lock);
    bool mine = atomic_load_explicit(&c->watcher, memory_order_relaxed) == token;
    if (mine)
        atomic_store_explicit(&c->watcher, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&c->rx_lock);
    /* not ours any more (taken back meanwhile): a read this watcher left
     * HELD after the take-back looked is still ours to re-arm */
    rx_take_back(c, mine);
    watch_release(c);
}

int tr_conn_poll(tr_conn *c, const void *token)
{
    if (atomic_load_explicit(&c->watcher, memory_order_relaxed) != token ||
        atomic_load_explicit(&c->closed, memory_order_relaxed)) {
        tr_conn_unwatch(c, token); /* closed, or taken back by the service thread */
        return -1;
    }
    atomic_store_explicit(&c->watch_polls, atomic_load_explicit(&c->watch_polls, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    uint32_t s = atomic_load_explicit(&c->rx_state, memory_order_acquire);
    if (s == TR_RX_HELD) { /* what the last poll read is handled: read on */
        if (rx_claim(c, &s))
            tr_conn_read(c);
        s = atomic_load_explicit(&c->rx_state, memory_order_acquire);
    }
    if ((s & TR_RX_MODE) != TR_RX_POLL || !rx_poll_done(c->poll_aio))
        return 0;
    /* the hint was this arming's (the generation did not move): take it */
    if (!rx_claim(c, &s))
        return 0;
    nng_aio_wait(c->poll_aio);
    atomic_fetch_add_explicit(&c->node->watched_reads, 1, memory_order_relaxed);
    /* delivers on this worker; the next read is armed by the next poll,
     * after the turn that answers (its write goes out first: arming costs
     * a read attempt and the poller's arming, two system calls) */
    rx_done(c, c->poll_aio, true);
    return 1;
}

#define TR_WATCH_TICK_MAX 16 /* watchers taken back per tick (more: the next tick) */

void tr_conn_watch_tick(struct tr_node *node)
{
    tr_conn *stale[TR_WATCH_TICK_MAX];
    uint32_t n = 0;
    pthread_mutex_lock(&node->lock);
    for (tr_conn *c = node->conns; c != NULL && n < TR_WATCH_TICK_MAX; c = c->next) {
        if (c->state == TR_CONN_CLOSED || atomic_load_explicit(&c->watcher, memory_order_relaxed) == NULL)
            continue;
        uint32_t polls = atomic_load_explicit(&c->watch_polls, memory_order_relaxed);
        if (polls != c->watch_seen) {
            c->watch_seen = polls;
            continue;
        }
        atomic_fetch_add(&c->watch_refs, 1); /* listed: not freed before watch_release */
        stale[n++] = c;
    }
    pthread_mutex_unlock(&node->lock);
    for (uint32_t i = 0; i < n; i++) {
        tr_conn *c = stale[i];
        pthread_mutex_lock(&c->rx_lock);
        atomic_store_explicit(&c->watcher, NULL, memory_order_relaxed); /* its next poll says so */
        pthread_mutex_unlock(&c->rx_lock);
        rx_take_back(c, true);
        watch_release(c);
    }
}

/* One iov of a frame's segment of `len` bytes at p, which starts at wire
 * offset *pos, if any of it lies past `off`. Returns how many (0 or 1). */
static unsigned segment_iov(nng_iov *iov, char *p, size_t len, size_t *pos, size_t off)
{
    size_t start = *pos;
    *pos += len;
    if (len == 0 || *pos <= off)
        return 0;
    size_t skip = off > start ? off - start : 0;
    *iov = (nng_iov){.iov_buf = p + skip, .iov_len = len - skip};
    return 1;
}

unsigned tr_frame_iov(const tr_frame_out *f, size_t off, nng_iov *iov)
{
    unsigned n = 0;
    size_t from = 0, pos = 0;
    for (uint32_t i = 0; i <= f->nparts && n < TR_FRAME_IOV; i++) {
        size_t to = i < f->nparts ? f->parts[i].at : f->len;
        n += segment_iov(&iov[n], f->buf + from, to - from, &pos, off);
        if (i < f->nparts && n < TR_FRAME_IOV)
            n += segment_iov(&iov[n], f->parts[i].data, f->parts[i].size, &pos, off);
        from = to;
    }
    return n;
}

void tr_frame_drop_parts(tr_frame_out *f)
{
    for (uint32_t i = 0; i < f->nparts; i++)
        f->parts[i].free_fn(f->parts[i].data);
    free(f->parts);
    f->parts = NULL;
    f->nparts = 0;
    f->parts_len = 0;
}

/* The frame's length on the wire, its length prefix included. */
static size_t frame_bytes(const tr_frame_out *f) { return f->len + f->parts_len; }

static void tx_start(tr_conn *c)
{
    nng_iov iov[TR_FRAME_IOV];
    nng_aio_set_iov(c->tx_aio, tr_frame_iov(&c->tx, c->tx_off, iov), iov);
    nng_stream_send(c->stream, c->tx_aio);
}

void tr_conn_write(tr_conn *c, tr_frame_out f)
{
    tr_put_len((uint8_t *)f.buf, (uint32_t)(frame_bytes(&f) - TR_FRAME_PREFIX));
    c->tx = f;
    c->tx_off = 0;
    tx_start(c);
}

bool tr_conn_write_now(tr_conn *c, tr_frame_out f)
{
    tr_put_len((uint8_t *)f.buf, (uint32_t)(frame_bytes(&f) - TR_FRAME_PREFIX));
    c->tx = f;
    c->tx_off = 0;
    wait_rx_arming(c);
    while (c->now_aio != NULL && c->tx_off < frame_bytes(&f)) {
        nng_iov iov[TR_FRAME_IOV];
        nng_aio_set_iov(c->now_aio, tr_frame_iov(&f, c->tx_off, iov), iov);
        nng_stream_send(c->stream, c->now_aio);
        /* Still queued: the socket buffer is full. Take it back (a queued
         * write has written nothing: NNG completes it at its first bytes)
         * unless the poller completed it meanwhile; either way it is done
         * once nng_aio_wait returns, at once (no callback to wait for). */
        nng_aio_cancel(c->now_aio);
        nng_aio_wait(c->now_aio);
        if (nng_aio_result(c->now_aio) != 0 || nng_aio_count(c->now_aio) == 0)
            break; /* the rest through tx_aio: an error shows there too */
        c->tx_off += nng_aio_count(c->now_aio);
    }
    if (c->now_aio != NULL && c->tx_off == frame_bytes(&f)) {
        c->tx = (tr_frame_out){0};
        return true;
    }
    tx_start(c);
    return false;
}

static void tx_cb(void *arg)
{
    tr_conn *c = arg;
    int rv = nng_aio_result(c->tx_aio);
    if (rv == 0) {
        c->tx_off += nng_aio_count(c->tx_aio);
        if (c->tx_off < frame_bytes(&c->tx)) { /* a partial write: the rest */
            tx_start(c);
            return;
        }
    }
    if (rv != 0)
        tr_conn_close(c, rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH ? TR_EREFUSED : TR_ENODEDOWN);
    tr_hs_on_written(c, rv); /* hands over to the peer once up */
}

void tr_conn_handshake_over_locked(tr_conn *c, int result)
{
    struct tr_node *node = c->node;
    if (c->in_handshake) {
        c->in_handshake = false;
        node->handshakes--;
    }
    if (c->dial != NULL) {
        tr_dial *d = c->dial;
        c->dial = NULL;
        tr_dial_done_locked(node, d, c, result);
    }
}

void tr_conn_close_locked(tr_conn *c, int reason)
{
    struct tr_node *node = c->node;
    if (c->state == TR_CONN_CLOSED)
        return;
    c->state = TR_CONN_CLOSED;
    atomic_store(&c->closed, true);
    c->close_reason = reason;
    tr_conn_handshake_over_locked(c, reason);
    nng_stream_close(c->stream); /* pending I/O completes with an error */
    tr_service_wake_locked(node);
}

void tr_conn_close(tr_conn *c, int reason)
{
    struct tr_node *node = c->node;
    pthread_mutex_lock(&node->lock);
    bool was_open = c->state != TR_CONN_CLOSED;
    tr_conn_close_locked(c, reason);
    pthread_mutex_unlock(&node->lock);
    if (was_open && c->peer != NULL)
        tr_session_conn_lost(node, c);
}

void tr_conn_reap(struct tr_node *node, uint64_t now)
{
    tr_conn *dead = NULL;
    pthread_mutex_lock(&node->lock);
    for (tr_conn **pp = &node->conns; *pp != NULL;) {
        tr_conn *c = *pp;
        if (c->state != TR_CONN_CLOSED && c->in_handshake && now > c->deadline_ms) {
            atomic_fetch_add_explicit(&node->handshake_failures, 1, memory_order_relaxed);
            tr_net_log(node, "handshake %s %s timed out", c->initiator ? "with" : "from",
                       c->peer_name[0] ? c->peer_name : "an unknown node");
            tr_conn_close_locked(c, TR_ETIMEDOUT);
        }
        if (c->state == TR_CONN_CLOSED) {
            *pp = c->next;
            c->next = dead;
            dead = c;
            if (c->peer != NULL)
                tr_peer_pin_locked(c->peer); /* out of node->conns: member.c would free it */
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&node->lock);
    while (dead != NULL) {
        tr_conn *c = dead;
        dead = c->next;
        if (c->peer != NULL)
            tr_session_conn_lost(node, c); /* closed with the node lock held */
        /* after it: no new watch (c is no longer its peer's conn) */
        if (atomic_load(&c->watch_refs) > 0 && !atomic_load(&node->detached)) {
            pthread_mutex_lock(&node->lock); /* a worker holds it: a later reap */
            c->next = node->conns;
            node->conns = c;
            pthread_mutex_unlock(&node->lock);
            tr_peer_unpin(c->peer);
            continue;
        }
        nng_aio_stop(c->rx_aio);
        nng_aio_stop(c->retry_aio);
        nng_aio_stop(c->tx_aio);
        if (c->now_aio != NULL)
            nng_aio_stop(c->now_aio);
        if (c->poll_aio != NULL)
            nng_aio_stop(c->poll_aio);
        tr_peer *p = c->peer;
        conn_free(c);
        tr_peer_unpin(p);
    }
}
